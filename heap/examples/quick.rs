//! Quick ns/op measurement of alloc+free and churn: Heap, GlobalHeap, System (glibc).
//! `cargo run --release -p coil-heap --example quick`

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::time::Instant;

use coil_heap::{GlobalHeap, Heap};

fn time(name: &str, n: usize, f: impl FnOnce()) {
    let t = Instant::now();
    f();
    println!(
        "{name:40} {:8.2} ns/op",
        t.elapsed().as_nanos() as f64 / n as f64
    );
}

fn xorshift(s: &mut u64) -> u64 {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    *s
}

fn churn<A: Fn(Layout) -> *mut u8, D: Fn(*mut u8, Layout)>(name: &str, a: A, d: D) {
    let live = 1_000_000;
    let ops = 2_000_000;
    let mut s = 88172645463325252u64;
    let mut v: Vec<(*mut u8, Layout)> = (0..live)
        .map(|_| {
            let l = Layout::from_size_align((xorshift(&mut s) % 505 + 8) as usize, 8).unwrap();
            (a(l), l)
        })
        .collect();
    time(name, ops, || {
        for _ in 0..ops {
            let i = (xorshift(&mut s) % live as u64) as usize;
            let (p, l) = v[i];
            d(p, l);
            let l = Layout::from_size_align((xorshift(&mut s) % 505 + 8) as usize, 8).unwrap();
            v[i] = (a(l), l);
        }
    });
    for (p, l) in v {
        d(p, l);
    }
}

fn main() {
    let n = 20_000_000;
    for size in [16usize, 64, 256, 512] {
        let l = Layout::from_size_align(size, 8).unwrap();
        let heap = Heap::new();
        time(&format!("alloc-free-{size} heap"), n, || {
            for _ in 0..n {
                let p = heap.alloc(black_box(l)).unwrap();
                // SAFETY: pointers come from the matching allocator with the same layout.
                unsafe { heap.dealloc(black_box(p), l) };
            }
        });
        time(&format!("alloc-free-{size} global"), n, || {
            for _ in 0..n {
                // SAFETY: pointers come from the matching allocator with the same layout.
                let p = unsafe { GlobalHeap.alloc(black_box(l)) };
                // SAFETY: pointers come from the matching allocator with the same layout.
                unsafe { GlobalHeap.dealloc(black_box(p), l) };
            }
        });
        time(&format!("alloc-free-{size} glibc"), n, || {
            for _ in 0..n {
                // SAFETY: pointers come from the matching allocator with the same layout.
                let p = unsafe { System.alloc(black_box(l)) };
                // SAFETY: pointers come from the matching allocator with the same layout.
                unsafe { System.dealloc(black_box(p), l) };
            }
        });
    }
    let heap = Heap::new();
    churn(
        "churn-live heap",
        |l| heap.alloc(l).unwrap().as_ptr(),
        // SAFETY: pointers come from the matching allocator with the same layout.
        |p, l| unsafe { heap.dealloc(std::ptr::NonNull::new_unchecked(p), l) },
    );
    churn(
        "churn-live global",
        // SAFETY: pointers come from the matching allocator with the same layout.
        |l| unsafe { GlobalHeap.alloc(l) },
        // SAFETY: pointers come from the matching allocator with the same layout.
        |p, l| unsafe { GlobalHeap.dealloc(p, l) },
    );
    churn(
        "churn-live glibc",
        // SAFETY: pointers come from the matching allocator with the same layout.
        |l| unsafe { System.alloc(l) },
        // SAFETY: pointers come from the matching allocator with the same layout.
        |p, l| unsafe { System.dealloc(p, l) },
    );
}
