#!/usr/bin/env python3
# coil-bench: pythonmalloc
"""The heap suite in CPython: alloc-free-<size> and churn-live, in ns per op.

Objects are `bytes` of the workload's size (CPython adds its 33-byte object
header, so `bytes(16)` asks the allocator for 49 bytes). Times include the
interpreter's own work for the loop and the call: that is what a Python program
pays per object. `cargo xtask cpython` runs this file twice, under the default
pymalloc and under PYTHONMALLOC=malloc, and labels the rows itself.
"""

import json
import os
import random
import time

SIZES = [16, 32, 64, 128, 256, 512]
LIVE = 1_000_000
QUICK = os.environ.get("COIL_BENCH_PROFILE", "quick") != "full"
REPEAT = 2 if QUICK else 7
STEPS = 500_000 if QUICK else 2_000_000


def row(workload, value):
    print(json.dumps({"suite": "heap", "workload": workload, "impl": "cpython",
                      "metric": "ns_per_op", "value": value}), flush=True)


def best_ns_per_op(run, ops):
    best = float("inf")
    for _ in range(REPEAT):
        t0 = time.perf_counter_ns()
        run()
        best = min(best, (time.perf_counter_ns() - t0) / ops)
    return best


def alloc_free(size):
    n = STEPS
    steps = range(n)

    def run(make=bytes, size=size, steps=steps):
        for _ in steps:
            make(size)

    return best_ns_per_op(run, n)


def churn_live():
    rng = random.Random(42)
    live = [bytes(rng.randint(8, 512)) for _ in range(LIVE)]
    n = STEPS
    idx = [rng.randrange(LIVE) for _ in range(n)]
    sizes = [rng.randint(8, 512) for _ in range(n)]
    pairs = list(zip(idx, sizes))

    def run(make=bytes, live=live, pairs=pairs):
        for i, s in pairs:
            live[i] = make(s)

    return best_ns_per_op(run, n)


def main():
    for size in SIZES:
        row(f"alloc-free-{size}", alloc_free(size))
    row("churn-live", churn_live())


if __name__ == "__main__":
    main()
