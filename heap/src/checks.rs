//! Debug-build checks of pointers handed to `dealloc`/`realloc`: foreign pointers,
//! wrong layouts, blocks of another heap, double frees. Each failure is a panic with a
//! message that names the pointer and the mistake. Release builds skip them (the
//! contract of `dealloc` makes those calls undefined behaviour there).

#[cfg(debug_assertions)]
use crate::{
    arena::pool_index,
    core_heap::HeapBox,
    pool::{self, pool_of},
};

/// Checks a small block about to be freed.
///
/// # Safety
/// None beyond reading memory of live arenas, which this function verifies first.
#[cfg(debug_assertions)]
pub(crate) unsafe fn check_small_dealloc(
    p: *mut u8,
    class: usize,
    me: *const HeapBox,
    must_be_mine: bool,
) {
    assert!(
        crate::arena_map::contains(p as usize),
        "coil-heap: dealloc of {p:p}: not a block of coil-heap (a foreign pointer, a \
         pointer from another allocator, or a block of a heap that was dropped)"
    );
    let pool = pool_of(p);
    assert!(
        pool_index(pool) != 0,
        "coil-heap: dealloc of {p:p}: not a block (points into an arena header)"
    );
    // SAFETY: the arena holding `pool` is live (checked above), so its header is
    // readable; `owner` is stable while a block of the pool is live.
    unsafe {
        let owner = (*pool).owner;
        if must_be_mine {
            assert!(
                owner == me,
                "coil-heap: dealloc of {p:p} on a Heap that did not allocate it"
            );
        }
        pool::check_block(pool, p, class, owner == me);
    }
}
