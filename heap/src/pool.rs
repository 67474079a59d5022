//! Pools: one size class each, blocks without headers, a free list threaded through
//! the free blocks, and lazy carving of blocks never used yet.
//!
//! ```text
//!   pool (POOL_SIZE bytes, aligned to POOL_SIZE)
//!   +--------+------+------+------+------+------+- - - - - - - - - -+
//!   | Pool   | used | free | used | free | used |  never carved     |
//!   | header |      |  |   |      |  |   |      |                   |
//!   +--------+------+--|---+------+--|---+------+- - - - - - - - - -+
//!      free -----------+   <---------+     next_offset ^   max_offset ^
//! ```
//!
//! # States (as in obmalloc.c)
//!
//! * **used**: some blocks in use, some free; linked in its heap's `used[class]` list.
//! * **full**: every block in use (`free` is null and nothing left to carve); unlinked.
//! * **empty**: no block in use; back in its arena's free-pool stack (or kept at the
//!   head of `used[class]` when it is the class's only pool, so a program that
//!   allocates and frees one object in a loop never leaves the fast path).
//!
//! # Invariants
//!
//! 1. A pool linked in `used[class]` has a non-null `free`: the allocation fast path pops
//!    without checking. When a pop leaves `free` null, the next never-carved block (if
//!    any) becomes the free list, else the pool is full and is unlinked.
//! 2. `count` is the number of blocks handed out and not yet freed *to this pool*; a
//!    block on its heap's remote-free list still counts, so a pool with such a block is
//!    never reinitialised.
//! 3. `class` and `owner` are written only while the pool has no block in use; while a
//!    block is live they are stable and may be read by any thread holding the block.
//! 4. Every free-list entry lies in `[POOL_HEADER_SIZE, next_offset)`, at a multiple of
//!    the class size from `POOL_HEADER_SIZE`.

use crate::{
    core_heap::HeapBox,
    geometry::{POOL_HEADER_SIZE, POOL_SIZE, blocks_per_pool, class_size},
};

/// A pool header, at the start of every pool.
#[repr(C)]
pub(crate) struct Pool {
    /// Head of the in-block free list (each free block's first word is the next).
    pub free: *mut u8,
    /// Blocks in use.
    pub count: u32,
    /// Size class index.
    pub class: u32,
    /// Next pool in `used[class]`.
    pub next: *mut Pool,
    /// Previous pool in `used[class]`.
    pub prev: *mut Pool,
    /// Offset of the first never-carved block.
    pub next_offset: u32,
    /// Largest offset at which a whole block still fits.
    pub max_offset: u32,
    /// The heap that owns this pool.
    pub owner: *const HeapBox,
}

const _: () = assert!(std::mem::size_of::<Pool>() <= POOL_HEADER_SIZE);

/// The pool that holds `p` (address masking).
///
/// The result takes the arena's exposed provenance, not `p`'s: a user pointer may
/// carry a tag that covers only its block (a `Box` retag), and the header lies outside
/// it. Every arena's base pointer is exposed when the arena is mapped. At run time this
/// is a plain mask.
#[inline(always)]
pub(crate) fn pool_of(p: *mut u8) -> *mut Pool {
    std::ptr::with_exposed_provenance_mut(p.addr() & !(POOL_SIZE - 1))
}

/// A block pointer handed in by a user, re-derived from the arena's exposed
/// provenance so the heap's own later accesses (free-list links, reuse) do not depend
/// on the user's tag. A no-op at run time.
#[inline(always)]
pub(crate) fn block_ptr(p: *mut u8) -> *mut u8 {
    std::ptr::with_exposed_provenance_mut(p.addr())
}

/// Initialises `pool` for `class` with one free block (the first); the rest is carved
/// lazily.
///
/// # Safety
/// `pool` is a pool slot of a live arena, not linked anywhere, with no block in use.
pub(crate) unsafe fn init(pool: *mut Pool, class: usize, owner: *const HeapBox) {
    let size = class_size(class);
    let first = pool.cast::<u8>().wrapping_add(POOL_HEADER_SIZE);
    // SAFETY: the pool slot is ours (caller) and the header and first block fit in it.
    unsafe {
        first.cast::<*mut u8>().write(std::ptr::null_mut());
        pool.write(Pool {
            free: first,
            count: 0,
            class: class as u32,
            next: std::ptr::null_mut(),
            prev: std::ptr::null_mut(),
            next_offset: (POOL_HEADER_SIZE + size) as u32,
            max_offset: (POOL_SIZE - size) as u32,
            owner,
        });
    }
}

/// Carves the next never-used block as the new one-element free list. Returns false
/// when the pool has nothing left to carve (it is full).
///
/// # Safety
/// `pool` is an initialised pool with an empty free list, accessed by its owner only.
#[inline]
pub(crate) unsafe fn carve(pool: *mut Pool) -> bool {
    // SAFETY: owner-only access to an initialised header (caller).
    unsafe {
        let off = (*pool).next_offset;
        if off > (*pool).max_offset {
            return false;
        }
        let b = pool.cast::<u8>().wrapping_add(off as usize);
        b.cast::<*mut u8>().write(std::ptr::null_mut());
        (*pool).free = b;
        (*pool).next_offset = off + class_size((*pool).class as usize) as u32;
        true
    }
}

/// Blocks of this pool that are free (on the free list or never carved).
///
/// # Safety
/// `pool` is initialised and not being mutated.
pub(crate) unsafe fn free_blocks(pool: *const Pool) -> usize {
    // SAFETY: read-only access to an initialised header (caller).
    let (class, count) = unsafe { ((*pool).class as usize, (*pool).count as usize) };
    blocks_per_pool(class) - count
}

/// Debug check of a block being freed: panics with a clear message when `p` cannot be
/// a live block of `class` in `pool`. When `scan` is set (the caller owns the pool),
/// also checks the carving mark and walks the free list to catch a double free.
///
/// # Safety
/// `pool` is the header of a pool in a live arena.
#[cfg(debug_assertions)]
pub(crate) unsafe fn check_block(pool: *const Pool, p: *mut u8, class: usize, scan: bool) {
    // SAFETY: the header is readable (caller); class/next_offset are stable for live
    // blocks (invariant 3) and the free list is only walked by the owner (`scan`).
    unsafe {
        let off = p as usize - pool as usize;
        let pclass = (*pool).class as usize;
        assert!(
            off >= POOL_HEADER_SIZE,
            "coil-heap: dealloc of {p:p}: not a block (points into a pool header)"
        );
        assert!(
            pclass == class,
            "coil-heap: dealloc of {p:p} with a layout of size class {} B, but the block \
             belongs to the {} B class (wrong layout, or a double free after reuse)",
            class_size(class),
            class_size(pclass)
        );
        assert!(
            (off - POOL_HEADER_SIZE) % class_size(pclass) == 0,
            "coil-heap: dealloc of {p:p}: not the start of a block"
        );
        if scan {
            // `next_offset` changes as the owner carves: only the owner may read it.
            assert!(
                off < (*pool).next_offset as usize,
                "coil-heap: dealloc of {p:p}: this block was never allocated"
            );
            let mut q = (*pool).free;
            let mut steps = 0;
            while !q.is_null() && steps <= blocks_per_pool(pclass) {
                assert!(q != p, "coil-heap: double free of {p:p}");
                q = q.cast::<*mut u8>().read();
                steps += 1;
            }
        }
    }
}
