#!/usr/bin/env python3
"""The threads suite in CPython: `convoy` and `two-cpu-threads`.

- convoy: one CPU-bound thread runs a pure-Python loop (it holds the GIL and
  drops it only on request, every switch interval); a second thread sleeps
  1 ms (`time.sleep` releases the GIL), then needs the GIL for a short task.
  Its wait is the time from the end of the requested sleep to running Python
  code again (includes the OS's oversleep, typically tens of µs); rows
  wait_p50_us, wait_p99_us, wait_max_us, samples.
- two-cpu-threads: the same CPU-bound work done by one thread, then split
  over two threads; time_ratio = two threads' wall time / one thread's.
"""

import json
import os
import sys
import threading
import time

QUICK = os.environ.get("COIL_BENCH_PROFILE", "quick") != "full"
RUN_S = 1.5 if QUICK else 5.0
UNITS = 500_000 if QUICK else 4_000_000
REPS = 3 if QUICK else 5


def row(workload, metric, value):
    print(json.dumps({"suite": "threads", "workload": workload, "impl": "cpython",
                      "metric": metric, "value": value}), flush=True)


def short_task():
    x = 7
    for _ in range(200):
        x = (x * 6364136223846793005 + 1) & 0xFFFFFFFFFFFFFFFF
    return x


def convoy():
    stop = False

    def holder():
        x = 1
        while not stop:
            x = (x * 6364136223846793005 + 1) & 0xFFFFFFFFFFFFFFFF

    t = threading.Thread(target=holder)
    t.start()
    waits = []
    end = time.perf_counter() + RUN_S
    while time.perf_counter() < end:
        target = time.perf_counter() + 0.001
        time.sleep(0.001)
        waits.append(time.perf_counter() - target)
        short_task()
    stop = True
    t.join()
    waits.sort()
    n = len(waits)

    def q(p):
        return waits[min(n - 1, round((n - 1) * p))] * 1e6

    row("convoy", "wait_p50_us", q(0.5))
    row("convoy", "wait_p99_us", q(0.99))
    row("convoy", "wait_max_us", q(1.0))
    row("convoy", "samples", n)


def work(units):
    x = units
    for _ in range(units):
        x = (x * 6364136223846793005 + 1) & 0xFFFFFFFFFFFFFFFF
    return x


def one_thread():
    t0 = time.perf_counter()
    work(UNITS)
    work(UNITS)
    return time.perf_counter() - t0


def two_threads():
    t0 = time.perf_counter()
    t = threading.Thread(target=work, args=(UNITS,))
    t.start()
    work(UNITS)
    t.join()
    return time.perf_counter() - t0


def main():
    print(f"switch interval {sys.getswitchinterval()} s, threads not pinned",
          file=sys.stderr)
    convoy()
    one = min(one_thread() for _ in range(REPS))
    two = min(two_threads() for _ in range(REPS))
    row("two-cpu-threads", "time_ratio", two / one)


if __name__ == "__main__":
    main()
