#!/usr/bin/env python3
"""The procs suite in CPython's multiprocessing (fork start method).

Rows use the same units as the criterion groups of benches/procs.rs, so the
report can put them side by side:

- procs/fork-join: Process(target=noop).start() + join(), ns per process.
- procs/queue-small: a child puts ints on a multiprocessing.Queue, the parent
  gets them; ns per message (the criterion group's Throughput::Elements).
- procs/queue-1mib: the same with 1 MiB bytes objects; ns per message.
- procs/pipe-roundtrip: Pipe() ping-pong of an int with a child; ns per round trip.
- procs/pool-map: Pool(2).map over 100,000 trivial tasks; ns per task,
  chunksize 1 (`cpython`) and the default chunking (`cpython-default-chunks`).

Standard library only. Each figure is the best of a few repeats.
"""

import json
import multiprocessing as mp
import os
import time

QUICK = os.environ.get("COIL_BENCH_PROFILE", "quick") != "full"
REPEAT = 3 if QUICK else 7
SMALL = 20_000
BIG = 16
MIB = 1 << 20
TASKS = 100_000


def row(workload, impl, value):
    print(json.dumps({"suite": "procs", "workload": workload, "impl": impl,
                      "metric": "ns_per_op", "value": value}), flush=True)


def best(run, ops):
    b = float("inf")
    for _ in range(REPEAT):
        t0 = time.perf_counter_ns()
        run()
        b = min(b, (time.perf_counter_ns() - t0) / ops)
    return b


def noop():
    pass


def fork_join():
    n = 50 if QUICK else 200

    def run():
        for _ in range(n):
            p = mp.Process(target=noop)
            p.start()
            p.join()

    return best(run, n)


def producer(q, ctl, make):
    while True:
        n = ctl.recv()
        if n == 0:
            return
        msg = make()
        for i in range(n):
            q.put(msg if msg is not None else i)


def small_msg():
    return None


def big_msg():
    return bytes(MIB)


def queue(count, make):
    q = mp.Queue()
    ctl_r, ctl_w = mp.Pipe(duplex=False)
    p = mp.Process(target=producer, args=(q, ctl_r, make))
    p.start()

    def run():
        ctl_w.send(count)
        for _ in range(count):
            q.get()

    v = best(run, count)
    ctl_w.send(0)
    p.join()
    return v


def echo(conn):
    while True:
        x = conn.recv()
        if x == 0:
            return
        conn.send(x + 1)


def pipe_roundtrip():
    a, b = mp.Pipe()
    p = mp.Process(target=echo, args=(b,))
    p.start()
    n = 20_000 if QUICK else 100_000

    def run():
        for _ in range(n):
            a.send(1)
            a.recv()

    v = best(run, n)
    a.send(0)
    p.join()
    return v


def triple(x):
    return x * 3


def pool_map(chunksize):
    with mp.Pool(2) as pool:
        if chunksize is None:
            return best(lambda: pool.map(triple, range(TASKS)), TASKS)
        return best(lambda: pool.map(triple, range(TASKS), chunksize), TASKS)


def main():
    mp.set_start_method("fork")
    row("fork-join", "cpython", fork_join())
    row("queue-small", "cpython", queue(SMALL, small_msg))
    row("queue-1mib", "cpython", queue(BIG, big_msg))
    row("pipe-roundtrip", "cpython", pipe_roundtrip())
    row("pool-map", "cpython", pool_map(1))
    row("pool-map", "cpython-default-chunks", pool_map(None))


if __name__ == "__main__":
    main()
