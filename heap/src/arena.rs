//! Arenas: `ARENA_SIZE` bytes from the OS, aligned to their size, cut into pools.
//!
//! ```text
//!   arena                                         usable list (one per heap),
//!   +--------------+--------+--------+---+        sorted by nfreepools ascending:
//!   | Arena header | pool 1 | pool 2 |...|        fullest first, so the others drain
//!   | (slot 0)     |        |        |   |          and can go back to the OS
//!   +--------------+--------+--------+---+
//! ```
//!
//! # Invariants
//!
//! 1. The header lives in slot 0 of its own arena; pools are slots `1..=POOLS_PER_ARENA`.
//!    Only the header's first page is touched, so slot 0 costs one resident page.
//! 2. `nfreepools` = the bits set in `freed` (carved pools that are free again) +
//!    never-carved pools (`POOLS_PER_ARENA + 1 - next_fresh`). A pool is taken from
//!    `freed` lowest index first, so a batch of pools freed and taken again is laid
//!    out in address order whatever order it was freed in (a stack handed them out in
//!    reverse, and streaming over a batch laid out backwards pool by pool runs at
//!    half speed).
//! 3. An arena is in exactly one of: its heap's usable list (`0 < nfreepools <
//!    POOLS_PER_ARENA`, or a fresh arena being carved), no list (full: `nfreepools == 0`),
//!    the reserve list (empty: `nfreepools == POOLS_PER_ARENA`). It is always on the
//!    heap's list of all arenas.
//! 4. Bit `i` of `dirty` is set when pool `i` is in `freed` and may still hold
//!    resident pages; `trim` decommits those pages and clears the bit.

use std::ptr;

use crate::geometry::{ARENA_SIZE, POOL_SIZE, POOLS_PER_ARENA};
use crate::pool::Pool;

/// An arena header, in slot 0 of its arena.
#[repr(C)]
pub(crate) struct Arena {
    /// Next arena in the usable or reserve list.
    pub next: *mut Arena,
    /// Previous arena in the usable list.
    pub prev: *mut Arena,
    /// Next arena in the heap's list of all arenas.
    pub all_next: *mut Arena,
    /// Previous arena in the heap's list of all arenas.
    pub all_prev: *mut Arena,
    /// Pools not in use (freed or never carved).
    pub nfreepools: u32,
    /// Index of the first never-carved pool.
    pub next_fresh: u32,
    /// Carved pools that are free again (bit per pool index).
    pub freed: u64,
    /// Freed pools that may still be resident (bit per pool index).
    pub dirty: u64,
}

const _: () = assert!(std::mem::size_of::<Arena>() <= 4096 && POOLS_PER_ARENA < 64);

/// The arena that holds `p` (address masking, with the arena's exposed provenance as
/// in `pool::pool_of`).
#[inline(always)]
pub(crate) fn arena_of<T>(p: *mut T) -> *mut Arena {
    ptr::with_exposed_provenance_mut(p.addr() & !(ARENA_SIZE - 1))
}

/// Pool slot `idx` of `arena`.
#[inline(always)]
pub(crate) fn pool_at(arena: *mut Arena, idx: usize) -> *mut Pool {
    arena.cast::<u8>().wrapping_add(idx * POOL_SIZE).cast()
}

/// Index of the pool slot at `pool`.
#[inline(always)]
pub(crate) fn pool_index(pool: *mut Pool) -> usize {
    (pool as usize & (ARENA_SIZE - 1)) / POOL_SIZE
}

/// Writes a fresh header into a new mapping.
///
/// # Safety
/// `base` is a fresh arena mapping from `sys::map_arena`.
pub(crate) unsafe fn init(base: *mut u8) -> *mut Arena {
    let a = base.cast::<Arena>();
    // SAFETY: the mapping is ours and the header fits in slot 0.
    unsafe {
        a.write(Arena {
            next: ptr::null_mut(),
            prev: ptr::null_mut(),
            all_next: ptr::null_mut(),
            all_prev: ptr::null_mut(),
            nfreepools: POOLS_PER_ARENA as u32,
            next_fresh: 1,
            freed: 0,
            dirty: 0,
        })
    };
    a
}

/// Takes a pool out of `arena` (the lowest freed one first, else the next fresh one); null if
/// the arena is full.
///
/// # Safety
/// `arena` is a live arena accessed by its owner only.
pub(crate) unsafe fn take_pool(arena: *mut Arena) -> *mut Pool {
    // SAFETY: owner-only access to a live header (caller); indices stay in range by
    // invariant 2.
    unsafe {
        let a = &mut *arena;
        let idx = if a.freed != 0 {
            let idx = a.freed.trailing_zeros() as usize;
            a.freed &= a.freed - 1;
            idx
        } else if (a.next_fresh as usize) <= POOLS_PER_ARENA {
            a.next_fresh += 1;
            a.next_fresh as usize - 1
        } else {
            return ptr::null_mut();
        };
        a.dirty &= !(1u64 << idx);
        a.nfreepools -= 1;
        pool_at(arena, idx)
    }
}

/// Puts an empty pool back among its arena's freed pools.
///
/// # Safety
/// `pool` is an empty pool of a live arena, no longer linked anywhere.
pub(crate) unsafe fn give_pool(pool: *mut Pool) {
    let arena = arena_of(pool);
    let idx = pool_index(pool);
    // SAFETY: owner-only access to a live header (caller).
    unsafe {
        let a = &mut *arena;
        a.freed |= 1u64 << idx;
        a.nfreepools += 1;
        a.dirty |= 1u64 << idx;
    }
}

/// Returns the pages of every dirty free pool of `arena` to the OS; bytes released.
///
/// # Safety
/// `arena` is a live arena accessed by its owner only.
pub(crate) unsafe fn decommit_free_pools(arena: *mut Arena) -> usize {
    // SAFETY: owner-only access (caller); dirty pools hold no data (invariant 4).
    unsafe {
        let mut dirty = (*arena).dirty;
        let mut released = 0;
        while dirty != 0 {
            let idx = dirty.trailing_zeros() as usize;
            dirty &= dirty - 1;
            crate::sys::decommit(pool_at(arena, idx).cast(), POOL_SIZE);
            released += POOL_SIZE;
        }
        (*arena).dirty = 0;
        released
    }
}
