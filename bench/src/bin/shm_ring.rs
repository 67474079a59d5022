//! Latency and throughput harness of the shm suite: round-trip percentiles
//! (`shm/ring-roundtrip`: `p50_us`, `p99_us`) and stream rates
//! (`shm/ring-throughput-64b`: `msgs_per_s`, also `coil-batch`, the same ring
//! fed by `send_many` in groups of 32; `shm/ring-throughput-1mib`:
//! `mb_per_s`) for coil's rings, a raw pipe and in-process memcpy, as JSON rows.
//!
//! Each transport talks to one forked child (see `coil_bench::shm`); samples
//! are taken after a warm-up; each stream rate is the median of `REPS` timed
//! streams over one link. `COIL_BENCH_PROFILE=full` takes 10x the samples.

use std::{hint::black_box, time::Instant};

use coil_bench::{
    row::Row,
    shm::{Kind, Link, Role, marker, payload},
};

const MIB: usize = 1 << 20;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn roundtrip(kind: Kind, samples: usize) {
    let mut link = Link::spawn(kind, Role::Echo, 64);
    let msg = payload(64);
    for _ in 0..samples / 10 {
        link.send(&msg);
        black_box(link.recv());
    }
    let mut t = Vec::with_capacity(samples);
    for _ in 0..samples {
        let s = Instant::now();
        link.send(&msg);
        black_box(link.recv());
        t.push(s.elapsed().as_secs_f64() * 1e6);
    }
    t.sort_by(f64::total_cmp);
    Row::new(
        "shm",
        "ring-roundtrip",
        kind.name(),
        "p50_us",
        percentile(&t, 0.5),
    )
    .print();
    Row::new(
        "shm",
        "ring-roundtrip",
        kind.name(),
        "p99_us",
        percentile(&t, 0.99),
    )
    .print();
}

/// Timed repetitions of a stream; the median is reported. One stream of the
/// quick profile lasts tens of milliseconds, so a single one can land on a
/// scheduler hiccup of the (virtual) machine: the median of several is the
/// transport's rate, not the hiccup's.
const REPS: usize = 5;

/// Seconds to push `n` messages of `len` bytes into a sink child: the median
/// of [`REPS`] timed streams over one link, after a warm-up stream.
fn stream(kind: Kind, len: usize, n: usize) -> f64 {
    let mut link = Link::spawn(kind, Role::Sink, len);
    let (msg, mark) = (payload(len), marker(len));
    link.send_n(&msg, n / 10);
    link.send(&mark);
    link.recv_ack();
    let mut secs: Vec<f64> = (0..REPS)
        .map(|_| {
            let s = Instant::now();
            link.send_n(&msg, n - 1);
            link.send(&mark);
            link.recv_ack();
            s.elapsed().as_secs_f64()
        })
        .collect();
    secs.sort_by(f64::total_cmp);
    secs[REPS / 2]
}

fn main() {
    // An optional argument keeps only the workloads whose name contains it.
    let only = std::env::args().nth(1).unwrap_or_default();
    let want = |w: &str| w.contains(only.as_str());
    let scale = if std::env::var("COIL_BENCH_PROFILE").as_deref() == Ok("full") {
        10
    } else {
        1
    };
    for kind in [Kind::CoilSpsc, Kind::CoilMpmc, Kind::Pipe] {
        if want("ring-roundtrip") {
            roundtrip(kind, 20_000 * scale);
        }
    }
    for kind in [Kind::CoilSpsc, Kind::CoilBatch, Kind::CoilMpmc, Kind::Pipe] {
        if !want("ring-throughput-64b") {
            continue;
        }
        let n = 200_000 * scale;
        let secs = stream(kind, 64, n);
        Row::new(
            "shm",
            "ring-throughput-64b",
            kind.name(),
            "msgs_per_s",
            n as f64 / secs,
        )
        .print();
    }
    if !want("ring-throughput-1mib") {
        return;
    }
    let n = 100 * scale;
    let secs = stream(Kind::CoilSpsc, MIB, n);
    Row::new(
        "shm",
        "ring-throughput-1mib",
        "coil",
        "mb_per_s",
        n as f64 / secs,
    )
    .print();
    let (src, mut dst) = (payload(MIB), vec![0u8; MIB]);
    dst.copy_from_slice(&src);
    let mut reps: Vec<f64> = (0..REPS)
        .map(|_| {
            let s = Instant::now();
            for _ in 0..n {
                dst.copy_from_slice(black_box(&src));
                black_box(&dst);
            }
            s.elapsed().as_secs_f64()
        })
        .collect();
    reps.sort_by(f64::total_cmp);
    let secs = reps[REPS / 2];
    Row::new(
        "shm",
        "ring-throughput-1mib",
        "memcpy",
        "mb_per_s",
        n as f64 / secs,
    )
    .print();
}
