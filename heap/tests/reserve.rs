//! The reserve of empty arenas adapts: a heap that maps arenas again right after
//! unmapping some keeps more of them (up to `ARENA_RESERVE_MAX`), and `trim()`
//! gives them back and resets it. (Its own binary: the RSS test must not share a
//! process with these mappings.)

use std::alloc::Layout;
use std::ptr::NonNull;

use coil_heap::{Heap, geometry};

/// Allocates `n` 64-byte blocks and frees them all; returns the stats after the free.
fn round(heap: &Heap, n: usize) -> coil_heap::Stats {
    let l = Layout::new::<[u8; 64]>();
    let blocks: Vec<NonNull<u8>> = (0..n).map(|_| heap.alloc(l).unwrap()).collect();
    for p in blocks {
        // SAFETY: live blocks with their layout.
        unsafe { heap.dealloc(p, l) };
    }
    heap.stats()
}

#[test]
#[cfg_attr(miri, ignore = "maps dozens of arenas")]
fn a_heap_that_churns_in_batches_keeps_its_arenas_until_trim() {
    let per_arena = geometry::POOLS_PER_ARENA * geometry::blocks_per_pool(3);
    let arenas = 3 * geometry::ARENA_RESERVE;
    let n = arenas * per_arena;
    let heap = Heap::new();
    // First round: nothing says the heap churns; all but the reserve go back
    // (except the arenas of the class's current pool and of the cached blocks).
    let s1 = round(&heap, n);
    assert_eq!(s1.blocks_in_use(), 0);
    assert_eq!(s1.arenas_reserved, geometry::ARENA_RESERVE);
    assert!(
        s1.arenas_freed >= arenas - geometry::ARENA_RESERVE - 2,
        "{s1:?}"
    );
    // Second round maps again what the first unmapped: the reserve grows by
    // that much, and fewer of this round's arenas go back.
    let s2 = round(&heap, n);
    assert!(s2.arenas_reserved > s1.arenas_reserved, "{s2:?}");
    assert!(s2.arenas_freed - s1.arenas_freed < s1.arenas_freed);
    // Within a few rounds the heap reuses its reserve: a round maps and
    // unmaps nothing.
    let mut last = s2;
    let mut steady = false;
    for _ in 0..4 {
        let s = round(&heap, n);
        assert!(s.arenas_reserved <= geometry::ARENA_RESERVE_MAX);
        if s.arenas_allocated == last.arenas_allocated && s.arenas_freed == last.arenas_freed {
            steady = true;
            break;
        }
        last = s;
    }
    assert!(
        steady,
        "the reserve never absorbed a batch of {arenas} arenas: {last:?}"
    );
    let s3 = heap.stats();
    // trim gives everything back and resets the reserve to its base size.
    assert!(heap.trim() >= s3.arenas_reserved * geometry::ARENA_SIZE);
    assert_eq!(heap.stats().arenas_reserved, 0);
    let s4 = round(&heap, n);
    assert_eq!(s4.arenas_reserved, geometry::ARENA_RESERVE);
}

#[test]
#[cfg_attr(miri, ignore = "maps several arenas")]
fn a_batch_freed_in_order_is_handed_out_again_in_address_order() {
    let per_arena = geometry::POOLS_PER_ARENA * geometry::blocks_per_pool(3);
    let n = 2 * per_arena;
    let l = Layout::new::<[u8; 64]>();
    let heap = Heap::new();
    let first: Vec<NonNull<u8>> = (0..n).map(|_| heap.alloc(l).unwrap()).collect();
    for p in first {
        // SAFETY: live blocks with their layout.
        unsafe { heap.dealloc(p, l) };
    }
    // The emptied arenas are in the reserve; the next batch reuses them.
    let second: Vec<NonNull<u8>> = (0..n).map(|_| heap.alloc(l).unwrap()).collect();
    let (mut forward, mut backward) = (0, 0);
    for w in second.windows(2) {
        let (a, b) = (w[0].as_ptr() as usize, w[1].as_ptr() as usize);
        let same_arena = a / geometry::ARENA_SIZE == b / geometry::ARENA_SIZE;
        let new_pool = a / geometry::POOL_SIZE != b / geometry::POOL_SIZE;
        if same_arena && new_pool {
            if b > a {
                forward += 1;
            } else {
                backward += 1;
            }
        }
    }
    assert!(
        forward > geometry::POOLS_PER_ARENA,
        "{forward} pool steps forward"
    );
    assert_eq!(backward, 0, "pool steps backward within an arena");
    for p in second {
        // SAFETY: live blocks with their layout.
        unsafe { heap.dealloc(p, l) };
    }
}

#[test]
#[cfg_attr(miri, ignore = "maps dozens of arenas")]
fn an_abandoned_heap_keeps_only_the_base_reserve() {
    use coil_heap::GlobalHeap;
    use std::alloc::GlobalAlloc;
    let per_arena = geometry::POOLS_PER_ARENA * geometry::blocks_per_pool(3);
    let n = 3 * geometry::ARENA_RESERVE * per_arena;
    let grown = std::thread::spawn(move || {
        let l = Layout::new::<[u8; 64]>();
        for _ in 0..3 {
            // SAFETY: a non-zero layout; every block is freed with it.
            let blocks: Vec<*mut u8> = (0..n).map(|_| unsafe { GlobalHeap.alloc(l) }).collect();
            for p in blocks {
                assert!(!p.is_null());
                // SAFETY: live blocks of this heap with their layout.
                unsafe { GlobalHeap.dealloc(p, l) };
            }
        }
        GlobalHeap::stats().arenas_reserved
    })
    .join()
    .unwrap();
    assert!(grown > geometry::ARENA_RESERVE, "reserve of {grown} arenas");
    // The thread exited: its heap was abandoned with the base reserve only.
    let s = GlobalHeap::stats();
    assert!(
        s.arenas_reserved <= geometry::ARENA_RESERVE * s.heaps,
        "{} arenas kept by {} heaps",
        s.arenas_reserved,
        s.heaps
    );
}
