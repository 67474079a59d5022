//! A stress test in the manner of mimalloc's `test-stress.c`: worker threads allocate
//! objects of random sizes, keep some, free some, and swap others through a shared
//! transfer array so that many frees happen on another thread; workers are replaced
//! every round (their heaps are abandoned and adopted). Every object carries a
//! checksum that is verified when it is freed.
//!
//! `cargo run --release -p coil-heap --example stress -- [threads] [rounds]`

use std::sync::atomic::{AtomicPtr, Ordering};
use std::thread;

use coil_heap::GlobalHeap;

#[global_allocator]
static A: GlobalHeap = GlobalHeap;

const TRANSFERS: usize = 1000;
static TRANSFER: [AtomicPtr<Vec<u64>>; TRANSFERS] =
    [const { AtomicPtr::new(std::ptr::null_mut()) }; TRANSFERS];

fn rand(s: &mut u64) -> u64 {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    *s
}

#[allow(clippy::box_collection)] // the box is the object passed between threads
fn make(s: &mut u64) -> Box<Vec<u64>> {
    let len = match rand(s) % 100 {
        0 => (rand(s) % 10_000) as usize, // a few large ones
        1..=9 => (rand(s) % 500) as usize,
        _ => (rand(s) % 60) as usize,
    };
    let tag = rand(s);
    Box::new(vec![tag; len])
}

fn check(v: &[u64]) {
    if let Some(&t) = v.first() {
        assert!(v.iter().all(|&x| x == t), "object corrupted");
    }
}

fn worker(seed: u64, iters: usize) {
    let mut s = seed | 1;
    let mut kept: Vec<Box<Vec<u64>>> = Vec::new();
    for _ in 0..iters {
        match rand(&mut s) % 4 {
            0 | 1 => kept.push(make(&mut s)),
            2 if !kept.is_empty() => {
                let i = (rand(&mut s) as usize) % kept.len();
                let o = kept.swap_remove(i);
                check(&o);
            }
            _ => {
                let slot = &TRANSFER[(rand(&mut s) as usize) % TRANSFERS];
                let mine = Box::into_raw(make(&mut s));
                let theirs = slot.swap(mine, Ordering::AcqRel);
                if !theirs.is_null() {
                    // SAFETY: every pointer in TRANSFER came from Box::into_raw and is
                    // owned by whoever swaps it out.
                    let o = unsafe { Box::from_raw(theirs) };
                    check(&o);
                }
            }
        }
    }
    // Half the kept objects die with the thread, half leak into the transfer array.
    for (i, o) in kept.into_iter().enumerate() {
        if i % 2 == 0 {
            let slot = &TRANSFER[i % TRANSFERS];
            let theirs = slot.swap(Box::into_raw(o), Ordering::AcqRel);
            if !theirs.is_null() {
                // SAFETY: as above.
                drop(unsafe { Box::from_raw(theirs) });
            }
        }
    }
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let threads = args.first().copied().unwrap_or(4);
    let rounds = args.get(1).copied().unwrap_or(20);
    let start = std::time::Instant::now();
    for r in 0..rounds {
        let hs: Vec<_> = (0..threads)
            .map(|t| thread::spawn(move || worker((r * 1000 + t + 1) as u64 * 0x9E37_79B9, 20_000)))
            .collect();
        for h in hs {
            h.join().expect("worker panicked");
        }
    }
    for slot in &TRANSFER {
        let p = slot.swap(std::ptr::null_mut(), Ordering::AcqRel);
        if !p.is_null() {
            // SAFETY: as above.
            drop(unsafe { Box::from_raw(p) });
        }
    }
    let released = GlobalHeap::trim();
    println!(
        "{threads} threads x {rounds} rounds in {:?}; trim released {} KiB",
        start.elapsed(),
        released / 1024
    );
    println!("{}", GlobalHeap::stats());
}
