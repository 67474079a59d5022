//! Empty arenas really go back to the OS: allocate many 64-byte objects, free the
//! oldest 90 %, and check both the heap's own accounting and the process's RSS
//! (`/proc/self/statm`).

use std::alloc::Layout;
use std::ptr::NonNull;

use coil_heap::{Heap, geometry, sys};

#[test]
#[cfg_attr(miri, ignore = "reads /proc and maps hundreds of arenas")]
fn freeing_the_oldest_objects_returns_their_arenas() {
    let n = 400_000;
    let l = Layout::new::<[u8; 64]>();
    let mut blocks: Vec<NonNull<u8>> = Vec::with_capacity(n);
    // Touch the pointer vector first so it does not count as heap growth.
    blocks.resize(n, NonNull::dangling());
    blocks.clear();
    let heap = Heap::new();
    let rss0 = sys::resident_bytes().expect("statm");
    for i in 0..n {
        let p = heap.alloc(l).unwrap();
        // SAFETY: a fresh 64-byte block.
        unsafe { p.as_ptr().write_bytes(i as u8, 64) };
        blocks.push(p);
    }
    let rss1 = sys::resident_bytes().unwrap();
    let grown = rss1.saturating_sub(rss0);
    let per_object = grown as f64 / n as f64;
    assert!(
        per_object <= 70.0,
        "resident bytes per 64-byte object: {per_object:.1}"
    );
    let s1 = heap.stats();
    assert_eq!(s1.blocks_in_use(), n);
    assert_eq!(s1.classes[3].blocks_in_use, n);

    let freed = n * 9 / 10;
    for p in blocks.drain(..freed) {
        // SAFETY: live blocks with their layout.
        unsafe { heap.dealloc(p, l) };
    }
    let s2 = heap.stats();
    assert_eq!(s2.blocks_in_use(), n - freed);
    let per_arena = geometry::POOLS_PER_ARENA * geometry::blocks_per_pool(3);
    let needed = (n - freed).div_ceil(per_arena) + 1;
    assert!(
        s2.arenas_in_use <= needed + geometry::ARENA_RESERVE,
        "{} arenas mapped for {} live objects (need {needed} + reserve)",
        s2.arenas_in_use,
        n - freed
    );
    assert!(s2.arenas_freed >= s1.arenas_in_use - needed - geometry::ARENA_RESERVE);

    let released = heap.trim();
    let s3 = heap.stats();
    assert!(released >= s2.arenas_reserved * geometry::ARENA_SIZE);
    assert!(
        s3.arenas_in_use <= needed,
        "trim leaves only arenas with live blocks"
    );
    assert_eq!(s3.arenas_reserved, 0);
    let rss3 = sys::resident_bytes().unwrap();
    let freed_bytes = freed * 64;
    let returned = rss1.saturating_sub(rss3);
    assert!(
        returned as f64 >= 0.8 * freed_bytes as f64,
        "only {returned} of {freed_bytes} freed bytes went back to the OS"
    );
    // What is left is intact.
    for (i, p) in blocks.iter().enumerate() {
        // SAFETY: live blocks.
        assert_eq!(unsafe { *p.as_ptr().add(63) }, (freed + i) as u8);
    }
    for p in blocks {
        // SAFETY: live blocks with their layout.
        unsafe { heap.dealloc(p, l) };
    }
}
