//! The procs suite: `procs/fork-join`, `procs/queue-small`, `procs/queue-1mib`,
//! `procs/pipe-roundtrip`, `procs/pool-map` (workloads in BENCHMARKS.md).
//!
//! Implementations: `coil` (coil-procs with its defaults: the ring transport
//! for queues), `coil-pipe` (the queue's socket transport), `pipe` (a raw
//! `pipe(2)`: one `write` per message, a buffered reader), `ipc-channel`
//! (Servo's channels), `raw-fork` (`fork` + `_exit` + `waitpid`). Every
//! cross-process workload keeps one child alive for the whole function; an
//! iteration asks it (over a control pipe) for a batch of messages, so child
//! start-up is never timed.

use std::{
    hint::black_box,
    io::{BufReader, Read, Write},
    os::fd::AsRawFd,
    time::Duration,
};

use coil_procs::{Pipe, Pool, Process, Queue, QueueOptions, TransportKind};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// Messages per iteration in `queue-small`.
const SMALL: u64 = 20_000;
/// Messages per iteration in `queue-1mib`.
const BIG: u64 = 16;
const MIB: usize = 1 << 20;
/// Tasks per iteration in `pool-map`.
const TASKS: u64 = 100_000;

fn fork_join(c: &mut Criterion) {
    let mut g = c.benchmark_group("procs/fork-join");
    g.bench_function("coil", |b| {
        b.iter(|| {
            let mut p = Process::new(|| {});
            p.start().unwrap();
            p.join(None).unwrap();
            black_box(p.exit_code())
        })
    });
    g.bench_function("raw-fork", |b| {
        b.iter(|| {
            // SAFETY: the child only calls `_exit`.
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                // SAFETY: leaving the child at once.
                unsafe { libc::_exit(0) };
            }
            let mut status = 0;
            // SAFETY: reaping the child we just forked.
            unsafe { libc::waitpid(pid, &mut status, 0) };
            black_box(status)
        })
    });
    g.finish();
}

/// A child that, for each count received on the control pipe, sends that
/// many messages with `send`; it stops on 0 or when the pipe closes.
fn producer<F: FnMut(u64) + 'static>(mut send: F) -> (coil_procs::Connection, Process) {
    let (ctl_r, ctl_w) = Pipe::new(false).unwrap();
    let mut ctl_r = ctl_r;
    let mut p = Process::new(move || {
        while let Ok(n) = ctl_r.recv::<u64>() {
            if n == 0 {
                break;
            }
            send(n);
        }
    });
    p.start().unwrap();
    (ctl_w, p)
}

fn stop(mut ctl: coil_procs::Connection, mut p: Process) {
    let _ = ctl.send(&0u64);
    drop(ctl);
    p.join(Some(Duration::from_secs(10))).unwrap();
    let _ = p.kill();
    let _ = p.join(None);
}

fn queue_small(c: &mut Criterion) {
    let mut g = c.benchmark_group("procs/queue-small");
    g.throughput(Throughput::Elements(SMALL));
    for (name, kind) in [
        ("coil", TransportKind::Ring),
        ("coil-pipe", TransportKind::Pipe),
    ] {
        let q: Queue<u64> = Queue::with_options(&QueueOptions::new().transport(kind)).unwrap();
        let tx = q.clone();
        let (mut ctl, p) = producer(move |n| {
            for i in 0..n {
                tx.put(&i).unwrap();
            }
        });
        g.bench_function(name, |b| {
            b.iter(|| {
                ctl.send(&SMALL).unwrap();
                let mut s = 0;
                for _ in 0..SMALL {
                    s += q.get().unwrap();
                }
                black_box(s)
            })
        });
        stop(ctl, p);
    }
    {
        let (r, w) = nix::unistd::pipe().unwrap();
        let mut w = std::fs::File::from(w);
        let (mut ctl, p) = producer(move |n| {
            for i in 0..n {
                w.write_all(&i.to_le_bytes()).unwrap();
            }
        });
        let mut r = BufReader::with_capacity(64 * 1024, std::fs::File::from(r));
        g.bench_function("pipe", |b| {
            b.iter(|| {
                ctl.send(&SMALL).unwrap();
                let mut s = 0;
                let mut buf = [0u8; 8];
                for _ in 0..SMALL {
                    r.read_exact(&mut buf).unwrap();
                    s += u64::from_le_bytes(buf);
                }
                black_box(s)
            })
        });
        stop(ctl, p);
    }
    {
        let (tx, rx) = ipc_channel::ipc::channel::<u64>().unwrap();
        let (mut ctl, p) = producer(move |n| {
            for i in 0..n {
                tx.send(i).unwrap();
            }
        });
        g.bench_function("ipc-channel", |b| {
            b.iter(|| {
                ctl.send(&SMALL).unwrap();
                let mut s = 0;
                for _ in 0..SMALL {
                    s += rx.recv().unwrap();
                }
                black_box(s)
            })
        });
        stop(ctl, p);
    }
    g.finish();
}

fn queue_1mib(c: &mut Criterion) {
    let mut g = c.benchmark_group("procs/queue-1mib");
    g.throughput(Throughput::Elements(BIG));
    g.sample_size(10);
    for (name, kind) in [
        ("coil", TransportKind::Ring),
        ("coil-pipe", TransportKind::Pipe),
    ] {
        let q: Queue<Vec<u8>> = Queue::with_options(&QueueOptions::new().transport(kind)).unwrap();
        // Raw bytes: the workload moves 1 MiB binary messages (serde would
        // encode a Vec<u8> element by element; CPython pickles bytes whole).
        let tx = q.clone();
        let (mut ctl, p) = producer(move |n| {
            let msg = vec![7u8; MIB];
            for _ in 0..n {
                tx.put_bytes(&msg).unwrap();
            }
        });
        g.bench_function(name, |b| {
            b.iter(|| {
                ctl.send(&BIG).unwrap();
                let mut s = 0;
                for _ in 0..BIG {
                    s += q.get_bytes().unwrap().len();
                }
                black_box(s)
            })
        });
        stop(ctl, p);
    }
    {
        let (r, w) = nix::unistd::pipe().unwrap();
        let mut w = std::fs::File::from(w);
        let (mut ctl, p) = producer(move |n| {
            let msg = vec![7u8; MIB];
            for _ in 0..n {
                w.write_all(&(MIB as u64).to_le_bytes()).unwrap();
                w.write_all(&msg).unwrap();
            }
        });
        let mut r = std::fs::File::from(r);
        g.bench_function("pipe", |b| {
            b.iter(|| {
                ctl.send(&BIG).unwrap();
                let mut s = 0;
                for _ in 0..BIG {
                    let mut h = [0u8; 8];
                    r.read_exact(&mut h).unwrap();
                    let mut v = vec![0u8; u64::from_le_bytes(h) as usize];
                    r.read_exact(&mut v).unwrap();
                    s += v.len();
                }
                black_box(s)
            })
        });
        stop(ctl, p);
    }
    {
        let (tx, rx) = ipc_channel::ipc::bytes_channel().unwrap();
        let (mut ctl, p) = producer(move |n| {
            let msg = vec![7u8; MIB];
            for _ in 0..n {
                tx.send(&msg).unwrap();
            }
        });
        g.bench_function("ipc-channel", |b| {
            b.iter(|| {
                ctl.send(&BIG).unwrap();
                let mut s = 0;
                for _ in 0..BIG {
                    s += rx.recv().unwrap().len();
                }
                black_box(s)
            })
        });
        stop(ctl, p);
    }
    g.finish();
}

fn pipe_roundtrip(c: &mut Criterion) {
    let mut g = c.benchmark_group("procs/pipe-roundtrip");
    {
        let (mut a, mut b2) = Pipe::new(true).unwrap();
        let mut p = Process::new(move || {
            // Stop on 0: the child also holds a copy of the parent's end
            // (inherited through fork), so end-of-stream never comes.
            while let Ok(x) = b2.recv::<u64>() {
                if x == 0 || b2.send(&(x + 1)).is_err() {
                    break;
                }
            }
        });
        p.start().unwrap();
        g.bench_function("coil", |b| {
            b.iter(|| {
                a.send(&1u64).unwrap();
                black_box(a.recv::<u64>().unwrap())
            })
        });
        a.send(&0u64).unwrap();
        p.join(None).unwrap();
    }
    {
        let (r1, w1) = nix::unistd::pipe().unwrap();
        let (r2, w2) = nix::unistd::pipe().unwrap();
        let (mut r1, mut w1) = (std::fs::File::from(r1), std::fs::File::from(w1));
        let (mut r2, mut w2) = (std::fs::File::from(r2), std::fs::File::from(w2));
        let parent_ends = [w1.as_raw_fd(), r2.as_raw_fd()];
        let mut p = Process::new(move || {
            for fd in parent_ends {
                // SAFETY: closing the child's copies of the parent's ends.
                unsafe { libc::close(fd) };
            }
            let mut buf = [0u8; 8];
            while r1.read_exact(&mut buf).is_ok() {
                let x = u64::from_le_bytes(buf) + 1;
                if w2.write_all(&x.to_le_bytes()).is_err() {
                    break;
                }
            }
        });
        p.start().unwrap();
        // The parent keeps w1 (to the child) and r2 (from the child).
        let mut buf = [0u8; 8];
        g.bench_function("pipe", |b| {
            b.iter(|| {
                w1.write_all(&1u64.to_le_bytes()).unwrap();
                r2.read_exact(&mut buf).unwrap();
                black_box(u64::from_le_bytes(buf))
            })
        });
        drop(w1);
        p.join(None).unwrap();
        drop(r2);
    }
    {
        let (to_tx, to_rx) = ipc_channel::ipc::channel::<u64>().unwrap();
        let (back_tx, back_rx) = ipc_channel::ipc::channel::<u64>().unwrap();
        let mut p = Process::new(move || {
            while let Ok(x) = to_rx.recv() {
                if x == 0 || back_tx.send(x + 1).is_err() {
                    break;
                }
            }
        });
        p.start().unwrap();
        g.bench_function("ipc-channel", |b| {
            b.iter(|| {
                to_tx.send(1).unwrap();
                black_box(back_rx.recv().unwrap())
            })
        });
        to_tx.send(0).unwrap();
        p.join(None).unwrap();
    }
    g.finish();
}

/// `procs/pool-map`. Timed: one `map` of the 100,000 tasks `x * 3` (u64)
/// over a pool of 2 workers made once, before timing — the same as the
/// CPython script, which times `pool.map(triple, range(100_000))` on one
/// `Pool(2)`. Each timed call encodes the tasks, runs them in the workers
/// and decodes the results into a fresh `Vec` (CPython: a fresh list).
/// `coil`: chunksize 1 (CPython's `cpython` row: `chunksize=1`);
/// `coil-default-chunks`: `Pool::map`'s default, CPython's rule (about four
/// chunks per worker: 12,500 tasks here). Criterion reports the mean per
/// call; the CPython script reports the best of its repeats.
fn pool_map(c: &mut Criterion) {
    let mut g = c.benchmark_group("procs/pool-map");
    g.throughput(Throughput::Elements(TASKS));
    g.sample_size(10);
    let pool = Pool::new(2, |x: u64| x.wrapping_mul(3)).unwrap();
    g.bench_function("coil", |b| {
        b.iter(|| black_box(pool.map_chunked(0..TASKS, 1).unwrap().len()))
    });
    g.bench_function("coil-default-chunks", |b| {
        b.iter(|| black_box(pool.map(0..TASKS).unwrap().len()))
    });
    drop(pool);
    g.finish();
}

criterion_group!(
    benches,
    fork_join,
    queue_small,
    queue_1mib,
    pipe_roundtrip,
    pool_map
);
criterion_main!(benches);
