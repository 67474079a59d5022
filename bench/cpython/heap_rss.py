#!/usr/bin/env python3
# coil-bench: pythonmalloc
"""The heap suite's memory workloads in CPython: rss-after-free and
rss-after-free-ordered.

2,000,000 `bytes(31)` objects (31 bytes of data plus CPython's 33-byte header:
one 64-byte block each), then 90 % of them dropped, at random or the oldest
first. Each workload runs in a fresh child interpreter so RSS holds nothing of
the other. The figures mirror `bench/src/bin/heap_rss.rs`.
"""

import json
import random
import subprocess
import sys

COUNT = 2_000_000
MIB = 1024 * 1024


def rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def row(workload, metric, value):
    print(json.dumps({"suite": "heap", "workload": workload, "impl": "cpython",
                      "metric": metric, "value": value}), flush=True)


def child(order):
    objs = [None] * COUNT
    order_idx = list(range(COUNT))
    if order == "random":
        random.Random(7).shuffle(order_idx)
    base = rss()
    for i in range(COUNT):
        objs[i] = bytes(31)
    full = rss()
    freed = COUNT - COUNT // 10
    for i in order_idx[:freed]:
        objs[i] = None
    after = rss()
    used = full - base
    live = COUNT - freed
    if order == "random":
        w = "rss-after-free"
        row(w, "bytes_per_object", used / COUNT)
        row(w, "bytes_per_live_after_free", (after - base) / live)
        row(w, "rss_full_mib", used / MIB)
        row(w, "rss_after_mib", (after - base) / MIB)
    else:
        w = "rss-after-free-ordered"
        # RSS may grow by a page or two while nothing is returned: clamp at 0.
        row(w, "returned_pct", max(0.0, 100.0 * (full - after) / (used * freed / COUNT)))
        row(w, "rss_full_mib", used / MIB)
        row(w, "rss_after_mib", (after - base) / MIB)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(sys.argv[2])
        return
    for order in ["random", "oldest"]:
        out = subprocess.run([sys.executable, __file__, "--child", order],
                             check=True, stdout=subprocess.PIPE, text=True)
        sys.stdout.write(out.stdout)


if __name__ == "__main__":
    main()
