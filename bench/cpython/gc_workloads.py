"""The gc suite's workloads in CPython (BENCHMARKS.md), printing JSON rows.

dead-rings, live-graph, live-graph-touched, chain-cycle (ns per object of
one gc.collect()), alloc-tracked (ns to create a tracked object), auto and
auto-kept (10,000,000 objects with automatic collection on: total time,
share of time in collections and longest pause, from gc.callbacks).
Nodes are instances of a __slots__ class with one reference, as coil's
one-pointer nodes. COIL_BENCH_PROFILE=quick uses 2,000,000 objects for
auto/auto-kept.
"""

import gc
import json
import os
import sys
import time

N = 1_000_000
RING = 10


class Node:
    __slots__ = ("next", "__weakref__")

    def __init__(self):
        self.next = None


def row(workload, metric, value):
    print(json.dumps({"suite": "gc", "workload": workload, "impl": "cpython",
                      "metric": metric, "value": value}), flush=True)


def rings(n, k):
    heads = []
    for _ in range(n // k):
        first = Node()
        prev = first
        for _ in range(k - 1):
            x = Node()
            prev.next = x
            prev = x
        prev.next = first
        heads.append(first)
    return heads


def best(f, reps=3):
    return min(f() for _ in range(reps))


def dead(k):
    def once():
        rings(N, k)
        t = time.perf_counter_ns()
        gc.collect()
        return (time.perf_counter_ns() - t) / N
    return best(once)


def main():
    quick = os.environ.get("COIL_BENCH_PROFILE") == "quick"
    gc.disable()
    gc.collect()
    row("dead-rings", "ns_per_op", dead(RING))
    row("chain-cycle", "ns_per_op", dead(N))
    heads = rings(N, RING)
    gc.collect()

    def live():
        t = time.perf_counter_ns()
        gc.collect()
        return (time.perf_counter_ns() - t) / N
    row("live-graph", "ns_per_op", best(live))

    def touched():
        for h in heads:
            x = h  # noqa: F841 (a new reference, dropped)
        return live()
    row("live-graph-touched", "ns_per_op", best(touched))
    del heads
    gc.collect()

    def alloc():
        keep = []
        t = time.perf_counter_ns()
        for _ in range(N):
            keep.append(Node())
        return (time.perf_counter_ns() - t) / N
    row("alloc-tracked", "ns_per_op", best(alloc))

    n = 2_000_000 if quick else 10_000_000
    pauses = []
    start = [0]

    def cb(phase, info):
        if phase == "start":
            start[0] = time.perf_counter_ns()
        else:
            pauses.append(time.perf_counter_ns() - start[0])
    gc.callbacks.append(cb)
    gc.enable()

    pauses.clear()
    t = time.perf_counter_ns()
    for _ in range(n):
        a = Node()
        a.next = a
    total = time.perf_counter_ns() - t
    del a
    row("auto", "total_ms", total / 1e6)
    row("auto", "gc_pct", 100.0 * sum(pauses) / total)

    pauses.clear()
    kept = []
    t = time.perf_counter_ns()
    for _ in range(n):
        kept.append(Node())
    total = time.perf_counter_ns() - t
    row("auto-kept", "total_ms", total / 1e6)
    row("auto-kept", "gc_pct", 100.0 * sum(pauses) / total)
    row("auto-kept", "longest_pause_ms", max(pauses, default=0) / 1e6)
    gc.callbacks.remove(cb)
    del kept


if __name__ == "__main__":
    sys.exit(main())
