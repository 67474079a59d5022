#!/usr/bin/env python3
"""The threads suite in CPython: `queue` and `gil-uncontended`, in ns per op.

- queue: one producer thread puts ints into a `queue.Queue(maxsize=1024)`,
  the main thread gets them; ns per message (the coil bench's shape).
- gil-uncontended: `threading.Lock` acquire + release with no other thread,
  the closest thing Python code has to taking the GIL; ns per pair.
"""

import json
import os
import queue
import threading
import time

QUICK = os.environ.get("COIL_BENCH_PROFILE", "quick") != "full"
REPEAT = 2 if QUICK else 5
MSGS = 200_000 if QUICK else 1_000_000
LOCK_OPS = 1_000_000 if QUICK else 5_000_000


def row(workload, metric, value):
    print(json.dumps({"suite": "threads", "workload": workload, "impl": "cpython",
                      "metric": metric, "value": value}), flush=True)


def queue_run(n):
    q = queue.Queue(maxsize=1024)

    def produce():
        put = q.put
        for i in range(n):
            put(i)

    t0 = time.perf_counter_ns()
    t = threading.Thread(target=produce)
    t.start()
    get = q.get
    total = 0
    for _ in range(n):
        total += get()
    t.join()
    return (time.perf_counter_ns() - t0) / n


def lock_run(n):
    lock = threading.Lock()
    acquire, release = lock.acquire, lock.release
    t0 = time.perf_counter_ns()
    for _ in range(n):
        acquire()
        release()
    return (time.perf_counter_ns() - t0) / n


def main():
    q = min(queue_run(MSGS) for _ in range(REPEAT))
    row("queue", "ns_per_op", q)
    row("gil-uncontended", "ns_per_op", min(lock_run(LOCK_OPS) for _ in range(REPEAT)))


if __name__ == "__main__":
    main()
