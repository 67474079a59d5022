//! Quick ns/op measurement of alloc+free, churn and RSS: `Heap`, `GlobalHeap`, System
//! (glibc). Each timing is the minimum over many short repetitions, so it survives a
//! loaded machine. `HEAP_ONLY=1` skips the peers.
//! `cargo run --release -p coil-heap --example quick`

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::ptr::NonNull;
use std::time::Instant;

use coil_heap::{GlobalHeap, Heap};

/// Minimum ns/op of `reps` runs of `f(ops)`.
fn best(reps: usize, ops: usize, mut f: impl FnMut(usize)) -> f64 {
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            f(ops);
            t.elapsed().as_nanos() as f64 / ops as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn xorshift(s: &mut u64) -> u64 {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    *s
}

fn churn(name: &str, a: impl Fn(Layout) -> *mut u8, d: impl Fn(*mut u8, Layout)) {
    let live = 1_000_000;
    let mut s = 88172645463325252u64;
    let size =
        |s: &mut u64| Layout::from_size_align((xorshift(s) % 505 + 8) as usize, 8).expect("layout");
    let mut v: Vec<(*mut u8, Layout)> = (0..live)
        .map(|_| {
            let l = size(&mut s);
            (a(l), l)
        })
        .collect();
    let ns = best(15, 200_000, |ops| {
        for _ in 0..ops {
            let i = (xorshift(&mut s) % live as u64) as usize;
            let (p, l) = v[i];
            d(p, l);
            let l = size(&mut s);
            v[i] = (a(l), l);
        }
    });
    println!("{name:40} {ns:8.2} ns/op");
    for (p, l) in v {
        d(p, l);
    }
}

/// rss-after-free (random 90 %) and rss-after-free-ordered (oldest 90 %) on a `Heap`.
fn rss(ordered: bool) {
    let n = 2_000_000;
    let l = Layout::new::<[u8; 64]>();
    let mut v: Vec<NonNull<u8>> = Vec::with_capacity(n);
    v.resize(n, NonNull::dangling());
    v.clear();
    let heap = Heap::new();
    let rss = || coil_heap::sys::resident_bytes().unwrap_or(0);
    let r0 = rss();
    for i in 0..n {
        let p = heap.alloc(l).expect("out of memory");
        // SAFETY: a fresh 64-byte block.
        unsafe { p.as_ptr().write_bytes(i as u8, 64) };
        v.push(p);
    }
    let r1 = rss();
    let mut s = 0x1234_5678_9abc_def1u64;
    if !ordered {
        for i in (1..n).rev() {
            v.swap(i, (xorshift(&mut s) % (i as u64 + 1)) as usize);
        }
    }
    let freed = n * 9 / 10;
    for p in v.drain(..freed) {
        // SAFETY: a live block with its layout.
        unsafe { heap.dealloc(p, l) };
    }
    let r2 = rss();
    heap.trim();
    let r3 = rss();
    let fb = (freed * 64) as f64;
    println!(
        "rss-after-free{:8} heap: {:.1} B/object; returned {:.0}% at free, {:.0}% after trim",
        if ordered { "-ordered" } else { "" },
        (r1 - r0) as f64 / n as f64,
        r1.saturating_sub(r2) as f64 / fb * 100.0,
        r1.saturating_sub(r3) as f64 / fb * 100.0,
    );
    for p in v {
        // SAFETY: a live block with its layout.
        unsafe { heap.dealloc(p, l) };
    }
}

/// churn-threads: two threads churn two live sets of 250,000 objects each, swapping
/// sets every 10,000 steps, so about half the frees are of the other thread's blocks.
/// Returns ns per step per thread (best of 5).
fn churn_threads<A: GlobalAlloc + Sync>(a: &A) -> f64 {
    use std::sync::{Barrier, Mutex};
    let per = 250_000;
    let mut s = 7u64;
    let fill = |s: &mut u64| -> Vec<(usize, Layout)> {
        (0..per)
            .map(|_| {
                let l = Layout::from_size_align((xorshift(s) % 505 + 8) as usize, 8).unwrap();
                // SAFETY: a valid layout.
                (unsafe { a.alloc(l) } as usize, l)
            })
            .collect()
    };
    let sets = [Mutex::new(fill(&mut s)), Mutex::new(fill(&mut s))];
    let rounds = 20;
    let step = 10_000;
    let mut best = f64::INFINITY;
    for rep in 0..5u64 {
        let barrier = Barrier::new(2);
        let took = std::thread::scope(|sc| {
            let hs: Vec<_> = (0..2usize)
                .map(|t| {
                    let (sets, barrier) = (&sets, &barrier);
                    sc.spawn(move || {
                        let mut s = rep * 17 + t as u64 + 1;
                        barrier.wait();
                        let t0 = Instant::now();
                        for r in 0..rounds {
                            let mut set = sets[(t + r) % 2].lock().unwrap();
                            for _ in 0..step {
                                let i = (xorshift(&mut s) % per as u64) as usize;
                                let (p, l) = set[i];
                                let nl = Layout::from_size_align(
                                    (xorshift(&mut s) % 505 + 8) as usize,
                                    8,
                                )
                                .unwrap();
                                // SAFETY: `p` is live with `l`; `nl` is valid.
                                unsafe {
                                    a.dealloc(p as *mut u8, l);
                                    set[i] = (a.alloc(nl) as usize, nl);
                                }
                            }
                            drop(set);
                            barrier.wait();
                        }
                        t0.elapsed()
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).max().unwrap()
        });
        best = best.min(took.as_nanos() as f64 / (rounds * step) as f64);
    }
    for set in sets {
        for (p, l) in set.into_inner().unwrap() {
            // SAFETY: live blocks with their layouts.
            unsafe { a.dealloc(p as *mut u8, l) };
        }
    }
    best
}

fn main() {
    let heap_only = std::env::var_os("HEAP_ONLY").is_some();
    rss(true);
    rss(false);
    let (reps, ops) = (40, 1_000_000);
    for size in [16usize, 64, 256, 512] {
        let l = Layout::from_size_align(size, 8).expect("layout");
        let heap = Heap::new();
        let h = best(reps, ops, |n| {
            for _ in 0..n {
                let p = heap.alloc(black_box(l)).expect("out of memory");
                // SAFETY: the block just allocated, with its layout.
                unsafe { heap.dealloc(black_box(p), l) };
            }
        });
        println!("{:40} {h:8.2} ns/op", format!("alloc-free-{size} heap"));
        if heap_only {
            continue;
        }
        let g = best(reps, ops, |n| {
            for _ in 0..n {
                // SAFETY: a valid layout; the block is freed with it at once.
                unsafe {
                    let p = GlobalHeap.alloc(black_box(l));
                    GlobalHeap.dealloc(black_box(p), l);
                }
            }
        });
        let s = best(reps, ops, |n| {
            for _ in 0..n {
                // SAFETY: as above.
                unsafe {
                    let p = System.alloc(black_box(l));
                    System.dealloc(black_box(p), l);
                }
            }
        });
        println!("{:40} {g:8.2} ns/op", format!("alloc-free-{size} global"));
        println!("{:40} {s:8.2} ns/op", format!("alloc-free-{size} glibc"));
    }
    let heap = Heap::new();
    churn(
        "churn-live heap",
        |l| heap.alloc(l).expect("out of memory").as_ptr(),
        // SAFETY: pointers come from `heap` with the same layout.
        |p, l| unsafe { heap.dealloc(NonNull::new_unchecked(p), l) },
    );
    if heap_only {
        return;
    }
    churn(
        "churn-live global",
        // SAFETY: a valid layout.
        |l| unsafe { GlobalHeap.alloc(l) },
        // SAFETY: pointers come from GlobalHeap with the same layout.
        |p, l| unsafe { GlobalHeap.dealloc(p, l) },
    );
    churn(
        "churn-live glibc",
        // SAFETY: a valid layout.
        |l| unsafe { System.alloc(l) },
        // SAFETY: pointers come from System with the same layout.
        |p, l| unsafe { System.dealloc(p, l) },
    );
    println!(
        "{:40} {:8.2} ns/op",
        "churn-threads global",
        churn_threads(&GlobalHeap)
    );
    println!(
        "{:40} {:8.2} ns/op",
        "churn-threads glibc",
        churn_threads(&System)
    );
}
