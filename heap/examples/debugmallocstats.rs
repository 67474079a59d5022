//! Prints a heap's statistics table, as `sys._debugmallocstats()` does.
//! `cargo run -p coil-heap --example debugmallocstats`

use std::alloc::Layout;

use coil_heap::Heap;

fn main() {
    let heap = Heap::new();
    let mut blocks = Vec::new();
    for size in [8usize, 24, 64, 64, 100, 256, 512, 4096] {
        let l = Layout::from_size_align(size, 8).expect("layout");
        for _ in 0..1000 {
            blocks.push((heap.alloc(l).expect("out of memory"), l));
        }
    }
    let mut kept = Vec::new();
    for (i, (p, l)) in blocks.into_iter().enumerate() {
        if i % 2 == 0 {
            // SAFETY: each block is live with its layout and freed once.
            unsafe { heap.dealloc(p, l) };
        } else {
            kept.push((p, l));
        }
    }
    println!("{}", heap.stats());
    for (p, l) in kept {
        // SAFETY: as above.
        unsafe { heap.dealloc(p, l) };
    }
}
