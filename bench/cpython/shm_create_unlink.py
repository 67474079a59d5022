"""shm/create-unlink in CPython: SharedMemory(create=True) + close() + unlink().

Prints one JSON row (ns per create+close+unlink, best of 5 batches), as coil's criterion group
`shm/create-unlink` measures SharedMemory::create + unlink + drop.
"""

import json
import os
import time
from multiprocessing import shared_memory

SIZE = 4096


def main():
    n = 20000 if os.environ.get("COIL_BENCH_PROFILE") == "full" else 2000
    name = "coil-bench-py-%d" % os.getpid()
    for _ in range(n // 10):  # warm-up (also starts the resource tracker)
        s = shared_memory.SharedMemory(name=name, create=True, size=SIZE)
        s.close()
        s.unlink()
    best = None
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(n):
            s = shared_memory.SharedMemory(name=name, create=True, size=SIZE)
            s.close()
            s.unlink()
        ns = (time.perf_counter() - t) / n * 1e9
        best = ns if best is None else min(best, ns)
    print(json.dumps({"suite": "shm", "workload": "create-unlink", "impl": "cpython",
                      "metric": "ns_per_op", "value": best}), flush=True)


if __name__ == "__main__":
    main()
