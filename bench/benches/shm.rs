//! The shm suite: `shm/create-unlink`, `shm/ring-roundtrip`,
//! `shm/ring-throughput-64b`, `shm/ring-throughput-1mib`, `shm/bulk-bandwidth`
//! (workloads in BENCHMARKS.md).
//!
//! Implementations: `coil` (coil-shm: `SharedMemory`, or an `SpscRing` pair to
//! a forked child), `coil-batch` (the same `SpscRing`, a stream sent with
//! `send_many` in groups of 32), `coil-untracked` (a segment the resource tracker is not
//! told about), `coil-mpmc` (an `MpmcRing` pair), `pipe` (two raw `pipe(2)`s,
//! one `write` and one `read_exact` per message), `memcpy` (the same bytes
//! copied inside one process, the bandwidth ceiling). The child of a ring
//! workload is forked once per function and lives for all its iterations.

use std::{hint::black_box, time::Instant};

use coil_bench::shm::{Kind, Link, Role, marker, payload};
use coil_shm::{SharedMemory, ShmOptions};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const MIB: usize = 1 << 20;

fn create_unlink(c: &mut Criterion) {
    let mut g = c.benchmark_group("shm/create-unlink");
    let name = format!("coil-bench-cu-{}", std::process::id());
    g.bench_function("coil", |b| {
        b.iter(|| {
            let s = SharedMemory::create(&name, 4096).unwrap();
            s.unlink().unwrap();
            black_box(s.len())
        })
    });
    let untracked = ShmOptions::new().track(false);
    g.bench_function("coil-untracked", |b| {
        b.iter(|| {
            let s = SharedMemory::create_with(&name, 4096, &untracked).unwrap();
            s.unlink().unwrap();
            black_box(s.len())
        })
    });
    g.finish();
}

fn roundtrip(c: &mut Criterion) {
    let mut g = c.benchmark_group("shm/ring-roundtrip");
    let msg = payload(64);
    for kind in [Kind::CoilSpsc, Kind::CoilMpmc, Kind::Pipe] {
        let mut link = Link::spawn(kind, Role::Echo, 64);
        g.bench_function(kind.name(), |b| {
            b.iter(|| {
                link.send(&msg);
                black_box(link.recv().len())
            })
        });
    }
    g.finish();
}

/// One iteration = one message into a sink child; the batch ends with a
/// marker the child acknowledges, so every message is counted as received.
fn stream(c: &mut Criterion, group: &str, len: usize, kinds: &[Kind]) {
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(1));
    let (msg, mark) = (payload(len), marker(len));
    for &kind in kinds {
        let mut link = Link::spawn(kind, Role::Sink, len);
        g.bench_function(kind.name(), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                link.send_n(&msg, iters as usize - 1);
                link.send(&mark);
                link.recv_ack();
                start.elapsed()
            })
        });
    }
    if len >= MIB {
        let src = payload(len);
        let mut dst = vec![0u8; len];
        g.bench_function("memcpy", |b| {
            b.iter(|| {
                dst.copy_from_slice(black_box(&src));
                black_box(dst[len - 1])
            })
        });
    }
    g.finish();
}

fn throughput(c: &mut Criterion) {
    stream(
        c,
        "shm/ring-throughput-64b",
        64,
        &[Kind::CoilSpsc, Kind::CoilBatch, Kind::CoilMpmc, Kind::Pipe],
    );
    stream(c, "shm/ring-throughput-1mib", MIB, &[Kind::CoilSpsc]);
}

fn bulk_bandwidth(c: &mut Criterion) {
    let mut g = c.benchmark_group("shm/bulk-bandwidth");
    let len = 16 * MIB;
    g.throughput(Throughput::Bytes(len as u64));
    let src = payload(len);
    let seg = SharedMemory::anonymous(len).unwrap();
    seg.write_at(0, &src).unwrap(); // fault the pages in once
    g.bench_function("coil", |b| {
        b.iter(|| {
            seg.write_at(0, black_box(&src)).unwrap();
        })
    });
    let mut dst = vec![0u8; len];
    g.bench_function("memcpy", |b| {
        b.iter(|| {
            dst.copy_from_slice(black_box(&src));
            black_box(dst[len - 1])
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    create_unlink,
    roundtrip,
    throughput,
    bulk_bandwidth
);
criterion_main!(benches);
