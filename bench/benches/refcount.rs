//! The refcount suite (issue 3): `refcount/clone-drop`,
//! `refcount/clone-drop-shared`, `refcount/drop-chain`, `refcount/alloc`.
//!
//! - `clone-drop`: clone a handle and drop the clone, ns per pair (32 pairs
//!   per criterion iteration, reported per pair); `coil`
//!   (single-thread `Rc`) vs `std-rc`, `coil-arc` vs `std-arc`, and
//!   `coil-immortal` / `coil-arc-immortal` (immortal box: no count writes).
//! - `clone-drop-shared`: the same on an `Arc` while a second thread clones
//!   and drops the same object in a loop (one cache line bounces between the
//!   two CPUs); ns per pair on the measuring thread. `coil-arc-immortal`
//!   shows what PEP 683 buys there.
//! - `coil-brc` in both groups: the biased handle (`coil_refcount::biased::Brc`,
//!   PEP 703) on the thread that owns the object (it counts without atomics);
//!   in `clone-drop-shared` the second thread is a non-owner (atomic count).
//! - `drop-chain`: drop a 1,000,000-long chain, ns per object. std `Rc`
//!   overflows the stack here, so it is measured by the harness binary
//!   `refcount_drop_chain` in a child process, not in this bench.
//! - `alloc`: create a box holding 16 bytes and drop it, ns per pair; `coil`
//!   (default allocator: coil-heap's `GlobalHeap`), `coil-system` (`Rc` in the
//!   system allocator), `std-rc` (global allocator = glibc).

use std::{
    hint::black_box,
    sync::{
        Barrier,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

/// Clone+drop pairs per criterion iteration in `clone-drop`. One pair is
/// about a nanosecond, close to criterion's own per-iteration overhead and
/// timer resolution; a batch of pairs per iteration (reported per pair through
/// `Throughput::Elements`) keeps the figure about the handles, not the loop.
const PAIRS: u64 = 32;

/// `PAIRS` clone+drop pairs of one handle; `black_box` keeps each clone real.
#[inline(always)]
fn pairs<H: Clone>(h: &H) {
    for _ in 0..PAIRS {
        drop(black_box(black_box(h).clone()));
    }
}

fn clone_drop(c: &mut Criterion) {
    let mut g = c.benchmark_group("refcount/clone-drop");
    g.throughput(Throughput::Elements(PAIRS));
    let coil = coil_refcount::Rc::new(1u64);
    g.bench_function("coil", |b| b.iter(|| pairs(&coil)));
    let std_rc = std::rc::Rc::new(1u64);
    g.bench_function("std-rc", |b| b.iter(|| pairs(&std_rc)));
    let coil_arc = coil_refcount::Arc::new(1u64);
    g.bench_function("coil-arc", |b| b.iter(|| pairs(&coil_arc)));
    let std_arc = std::sync::Arc::new(1u64);
    g.bench_function("std-arc", |b| b.iter(|| pairs(&std_arc)));
    let imm = coil_refcount::Rc::new_immortal(1u64);
    g.bench_function("coil-immortal", |b| b.iter(|| pairs(&imm)));
    let arc_imm = coil_refcount::Arc::new_immortal(1u64);
    g.bench_function("coil-arc-immortal", |b| b.iter(|| pairs(&arc_imm)));
    // Made on this thread, so this thread owns it: biased counting's fast path.
    let brc = coil_refcount::biased::Brc::new(1u64);
    g.bench_function("coil-brc", |b| b.iter(|| pairs(&brc)));
    g.finish();
}

/// Times `iters` clone+drop pairs of `h` on this thread while a second thread
/// does the same on a clone of `h` until told to stop.
fn shared<H: Clone + Send + 'static>(h: &H, iters: u64) -> Duration {
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let ready = std::sync::Arc::new(Barrier::new(2));
    let other = {
        let (h, stop, ready) = (h.clone(), stop.clone(), ready.clone());
        thread::spawn(move || {
            ready.wait();
            while !stop.load(Ordering::Relaxed) {
                for _ in 0..64 {
                    drop(black_box(black_box(&h).clone()));
                }
            }
        })
    };
    ready.wait();
    let start = Instant::now();
    for _ in 0..iters {
        drop(black_box(black_box(h).clone()));
    }
    let t = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    other.join().unwrap();
    t
}

fn clone_drop_shared(c: &mut Criterion) {
    let mut g = c.benchmark_group("refcount/clone-drop-shared");
    let coil_arc = coil_refcount::Arc::new(1u64);
    g.bench_function("coil-arc", |b| b.iter_custom(|n| shared(&coil_arc, n)));
    let std_arc = std::sync::Arc::new(1u64);
    g.bench_function("std-arc", |b| b.iter_custom(|n| shared(&std_arc, n)));
    let arc_imm = coil_refcount::Arc::new_immortal(1u64);
    g.bench_function("coil-arc-immortal", |b| {
        b.iter_custom(|n| shared(&arc_imm, n))
    });
    // The measuring thread owns it (counts locally); the other thread counts
    // in the shared word.
    let brc = coil_refcount::biased::Brc::new(1u64);
    g.bench_function("coil-brc", |b| b.iter_custom(|n| shared(&brc, n)));
    g.finish();
}

const CHAIN: usize = 1_000_000;

struct CoilLink(#[allow(dead_code)] Option<coil_refcount::Rc<CoilLink>>);
struct CoilArcLink(#[allow(dead_code)] Option<coil_refcount::Arc<CoilArcLink>>);

fn drop_chain(c: &mut Criterion) {
    let mut g = c.benchmark_group("refcount/drop-chain");
    g.throughput(Throughput::Elements(CHAIN as u64));
    g.sample_size(10);
    g.bench_function("coil", |b| {
        b.iter_batched(
            || {
                let mut head = coil_refcount::Rc::new(CoilLink(None));
                for _ in 1..CHAIN {
                    head = coil_refcount::Rc::new(CoilLink(Some(head)));
                }
                head
            },
            drop,
            BatchSize::PerIteration,
        )
    });
    g.bench_function("coil-arc", |b| {
        b.iter_batched(
            || {
                let mut head = coil_refcount::Arc::new(CoilArcLink(None));
                for _ in 1..CHAIN {
                    head = coil_refcount::Arc::new(CoilArcLink(Some(head)));
                }
                head
            },
            drop,
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn alloc(c: &mut Criterion) {
    let mut g = c.benchmark_group("refcount/alloc");
    g.bench_function("coil", |b| {
        b.iter(|| drop(black_box(coil_refcount::Rc::new(black_box([1u64, 2])))))
    });
    g.bench_function("coil-system", |b| {
        b.iter(|| {
            drop(black_box(coil_refcount::Rc::new_in(
                black_box([1u64, 2]),
                coil_refcount::allocator_api2::alloc::Global,
            )))
        })
    });
    g.bench_function("std-rc", |b| {
        b.iter(|| drop(black_box(std::rc::Rc::new(black_box([1u64, 2])))))
    });
    g.finish();
}

criterion_group!(benches, clone_drop, clone_drop_shared, drop_chain, alloc);
criterion_main!(benches);
