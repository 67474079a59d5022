//! The threads suite: `threads/gil-uncontended`, `threads/gil-handoff` and
//! `threads/queue` (BENCHMARKS.md), each a criterion group with one function
//! per implementation. The convoy latency figures come from the harness
//! binary `src/bin/threads_convoy.rs`.
//!
//! - `gil-uncontended`: acquire + release with no other thread around; `coil`
//!   (`Gil::acquire` and dropping the guard), `std-mutex`, `parking-lot`.
//! - `gil-handoff`: two threads take turns, each turn needing the lock; one
//!   iteration is one round trip (two hand-offs). `coil`: each thread
//!   acquires the GIL, takes its turn, and releases once the other thread
//!   is queued (`GilGuard::has_waiters`), so every release is a direct
//!   hand-off; `std-mutex`: a `Mutex<u64>` turn counter and a `Condvar`, the
//!   classic ping-pong.
//! - `queue`: one producer thread puts `u64`s into a queue of capacity 1024,
//!   the measuring thread gets them; ns per message. `coil`
//!   (`coil_threads::Queue`), `crossbeam-channel` (`bounded(1024)`).

use std::{
    hint::black_box,
    sync::{
        Condvar, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use coil_threads::{Gil, Queue};
use criterion::{Criterion, criterion_group, criterion_main};

const QUEUE_CAP: usize = 1024;

fn gil_uncontended(c: &mut Criterion) {
    let mut group = c.benchmark_group("threads/gil-uncontended");
    let gil = Gil::new();
    group.bench_function("coil", |b| {
        b.iter(|| drop(black_box(&gil).acquire().expect("not held")))
    });
    let m = Mutex::new(0u64);
    group.bench_function("std-mutex", |b| {
        b.iter(|| drop(black_box(&m).lock().expect("not poisoned")))
    });
    let p = parking_lot::Mutex::new(0u64);
    group.bench_function("parking-lot", |b| b.iter(|| drop(black_box(&p).lock())));
    group.finish();
}

/// One player of the GIL ping-pong: take the GIL (a hand-off from the other
/// player), take a turn, and keep the GIL until the other player is queued
/// for it, so that every release is a direct hand-off to a waiter.
fn gil_player(gil: &Gil, turn: &AtomicU64, rounds: u64) {
    for _ in 0..rounds {
        let g = gil.acquire().expect("not held");
        turn.fetch_add(1, Ordering::Relaxed);
        // Spin, yielding now and then: on a loaded machine the other player
        // may need this CPU to get to its `acquire`.
        let mut spins = 0u32;
        while !g.has_waiters() && turn.load(Ordering::Relaxed) < 2 * rounds {
            spins = spins.wrapping_add(1);
            if spins % 64 == 0 {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
        drop(g);
    }
}

fn gil_pingpong(rounds: u64) -> Duration {
    let gil = Gil::new();
    let turn = AtomicU64::new(0);
    std::thread::scope(|s| {
        let start = Instant::now();
        let h = s.spawn(|| gil_player(&gil, &turn, rounds));
        gil_player(&gil, &turn, rounds);
        h.join().expect("player");
        start.elapsed()
    })
}

fn mutex_player(m: &Mutex<u64>, cv: &Condvar, me: u64, rounds: u64) {
    let mut g = m.lock().expect("not poisoned");
    for _ in 0..rounds {
        while *g % 2 != me {
            g = cv.wait(g).expect("not poisoned");
        }
        *g += 1;
        cv.notify_one();
    }
}

fn mutex_pingpong(rounds: u64) -> Duration {
    let m = Mutex::new(0u64);
    let cv = Condvar::new();
    std::thread::scope(|s| {
        let start = Instant::now();
        let h = s.spawn(|| mutex_player(&m, &cv, 1, rounds));
        mutex_player(&m, &cv, 0, rounds);
        h.join().expect("player");
        start.elapsed()
    })
}

fn gil_handoff(c: &mut Criterion) {
    let mut group = c.benchmark_group("threads/gil-handoff");
    group.bench_function("coil", |b| b.iter_custom(gil_pingpong));
    group.bench_function("std-mutex", |b| b.iter_custom(mutex_pingpong));
    group.finish();
}

fn coil_queue(n: u64) -> Duration {
    let q = Queue::new(QUEUE_CAP);
    std::thread::scope(|s| {
        let start = Instant::now();
        s.spawn(|| {
            for i in 0..n {
                q.put(i).expect("open");
            }
        });
        let mut sum = 0u64;
        for _ in 0..n {
            sum = sum.wrapping_add(q.get().expect("open"));
        }
        black_box(sum);
        start.elapsed()
    })
}

fn crossbeam_queue(n: u64) -> Duration {
    let (tx, rx) = crossbeam_channel::bounded(QUEUE_CAP);
    std::thread::scope(|s| {
        let start = Instant::now();
        s.spawn(move || {
            for i in 0..n {
                tx.send(i).expect("connected");
            }
        });
        let mut sum = 0u64;
        for _ in 0..n {
            sum = sum.wrapping_add(rx.recv().expect("connected"));
        }
        black_box(sum);
        start.elapsed()
    })
}

fn queue(c: &mut Criterion) {
    let mut group = c.benchmark_group("threads/queue");
    group.bench_function("coil", |b| b.iter_custom(coil_queue));
    group.bench_function("crossbeam-channel", |b| b.iter_custom(crossbeam_queue));
    group.finish();
}

criterion_group!(benches, gil_uncontended, gil_handoff, queue);
criterion_main!(benches);
