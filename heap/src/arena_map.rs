//! A process-wide map of live arenas: given any address, is it inside an arena of
//! coil-heap? Used by debug builds to catch foreign pointers with a clear panic, and by
//! [`crate::Heap::owns`] / [`crate::GlobalHeap::owns`].
//!
//! A two-level radix tree over the arena number (`address >> ARENA_SHIFT`, 48-bit
//! address space), like CPython's `arena_map`: a static root of pointers to leaves, a
//! leaf is a bitmap with one bit per arena. Leaves are allocated once from the system
//! and never freed.
//!
//! # Invariants
//!
//! 1. A bit is set exactly while its arena is mapped and owned by some heap (set after
//!    `map_arena`, cleared before `unmap_arena`).
//! 2. Root entries only go from null to a leaf, never back, so a reader that sees a leaf
//!    may use it forever.
//! 3. Addresses beyond 48 bits are not tracked (Linux maps below 2^47 unless asked):
//!    `insert` reports false for them and `contains` says false.

use std::alloc::Layout;
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use crate::geometry::ARENA_SHIFT;

const ADDRESS_BITS: u32 = 48;
const ARENA_BITS: u32 = ADDRESS_BITS - ARENA_SHIFT;
const LEAF_BITS: u32 = ARENA_BITS / 2;
const ROOT_BITS: u32 = ARENA_BITS - LEAF_BITS;
const LEAF_WORDS: usize = (1 << LEAF_BITS) / 64;

type Leaf = [AtomicU64; LEAF_WORDS];

static ROOT: [AtomicPtr<Leaf>; 1 << ROOT_BITS] =
    [const { AtomicPtr::new(ptr::null_mut()) }; 1 << ROOT_BITS];

fn split(addr: usize) -> Option<(usize, usize, u64)> {
    let n = addr >> ARENA_SHIFT;
    if n >> ARENA_BITS != 0 {
        return None;
    }
    let root = n >> LEAF_BITS;
    let bit = n & ((1 << LEAF_BITS) - 1);
    Some((root, bit / 64, 1u64 << (bit % 64)))
}

fn leaf(root: usize, create: bool) -> *mut Leaf {
    let slot = &ROOT[root];
    let l = slot.load(Ordering::Acquire);
    if !l.is_null() || !create {
        return l;
    }
    let layout = Layout::new::<Leaf>();
    // SAFETY: the layout is non-zero; all-zero bytes are valid AtomicU64s.
    let fresh = unsafe { crate::sys::sys_alloc_zeroed(layout) }.cast::<Leaf>();
    if fresh.is_null() {
        return fresh;
    }
    match slot.compare_exchange(ptr::null_mut(), fresh, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => fresh,
        Err(existing) => {
            // SAFETY: `fresh` was allocated above with `layout` and never published.
            unsafe { crate::sys::sys_dealloc(fresh.cast(), layout) };
            existing
        }
    }
}

/// Marks the arena at `base` live. Returns false if the map could not record it (a
/// leaf could not be allocated); the arena still works, debug checks skip it.
pub(crate) fn insert(base: *mut u8) -> bool {
    let Some((root, word, mask)) = split(base as usize) else {
        return false;
    };
    let l = leaf(root, true);
    if l.is_null() {
        return false;
    }
    // SAFETY: leaves are never freed (invariant 2).
    unsafe { (*l)[word].fetch_or(mask, Ordering::Release) };
    true
}

/// Marks the arena at `base` gone.
pub(crate) fn remove(base: *mut u8) {
    if let Some((root, word, mask)) = split(base as usize) {
        let l = leaf(root, false);
        if !l.is_null() {
            // SAFETY: leaves are never freed (invariant 2).
            unsafe { (*l)[word].fetch_and(!mask, Ordering::Release) };
        }
    }
}

/// Whether `addr` lies in a live arena.
pub(crate) fn contains(addr: usize) -> bool {
    let Some((root, word, mask)) = split(addr) else {
        return false;
    };
    let l = leaf(root, false);
    if l.is_null() {
        return false;
    }
    // SAFETY: leaves are never freed (invariant 2).
    unsafe { (*l)[word].load(Ordering::Acquire) & mask != 0 }
}
