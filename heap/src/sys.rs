//! The one door to the operating system: arena mappings, page release, system
//! allocations and fork hooks. Nothing else in the crate calls `libc` or
//! `std::alloc::System` directly. Public here: [`resident_bytes`] and [`page_size`],
//! which tests and benchmarks use to see what the heap gives back.
//!
//! # Invariants
//!
//! 1. `map_arena` returns either null or `ARENA_SIZE` bytes of readable, writable
//!    memory aligned to `ARENA_SIZE`, owned by the caller until `unmap_arena`.
//! 2. `decommit` only tells the OS that the pages' contents are no longer needed; the
//!    range stays mapped and reads back as zeros (Linux `MADV_DONTNEED` on private
//!    anonymous memory). Under miri it does nothing.
//! 3. Under `cfg(miri)` arenas come from `System` with an `ARENA_SIZE` alignment, so the
//!    interpreter can check every access; behaviour is otherwise the same.

use std::alloc::{GlobalAlloc, Layout, System};

use crate::geometry::ARENA_SIZE;

/// Maps one arena; null when the OS refuses.
#[cfg(not(miri))]
pub(crate) fn map_arena() -> *mut u8 {
    // SAFETY: an anonymous private mapping with no address hint has no preconditions.
    let first = unsafe { mmap(ARENA_SIZE) };
    if first.is_null() {
        return first;
    }
    if (first as usize) % ARENA_SIZE == 0 {
        return first;
    }
    // SAFETY: `first` is a mapping of ARENA_SIZE bytes made above.
    unsafe { munmap(first, ARENA_SIZE) };
    // Over-map by one arena and cut away the unaligned ends.
    // SAFETY: as above.
    let big = unsafe { mmap(2 * ARENA_SIZE) };
    if big.is_null() {
        return big;
    }
    let start = big as usize;
    let aligned = (start + ARENA_SIZE - 1) & !(ARENA_SIZE - 1);
    let head = aligned - start;
    let tail = ARENA_SIZE - head;
    if head > 0 {
        // SAFETY: [big, big + head) is the unaligned front of our own mapping.
        unsafe { munmap(big, head) };
    }
    if tail > 0 {
        // SAFETY: the tail past the aligned arena is the end of our own mapping.
        unsafe { munmap(big.wrapping_add(head + ARENA_SIZE), tail) };
    }
    big.wrapping_add(head)
}

/// Maps `len` bytes of anonymous memory; null on failure.
///
/// # Safety
/// None beyond the OS's: the result is a fresh private mapping.
#[cfg(not(miri))]
unsafe fn mmap(len: usize) -> *mut u8 {
    // SAFETY: anonymous private mapping, no fixed address: cannot clobber other memory.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        std::ptr::null_mut()
    } else {
        p.cast()
    }
}

/// Unmaps `[p, p + len)`.
///
/// # Safety
/// The range is part of a mapping made by this module and nothing refers to it again.
#[cfg(not(miri))]
unsafe fn munmap(p: *mut u8, len: usize) {
    // SAFETY: the caller owns the range.
    let rc = unsafe { libc::munmap(p.cast(), len) };
    debug_assert_eq!(rc, 0, "munmap failed");
}

/// Maps one arena (miri: from `System`, aligned to its size).
#[cfg(miri)]
pub(crate) fn map_arena() -> *mut u8 {
    // SAFETY: the layout has a non-zero size.
    unsafe { System.alloc(arena_layout()) }
}

#[cfg(miri)]
fn arena_layout() -> Layout {
    // ARENA_SIZE is a power of two and far below isize::MAX.
    match Layout::from_size_align(ARENA_SIZE, ARENA_SIZE) {
        Ok(l) => l,
        Err(_) => unreachable!(),
    }
}

/// Returns an arena to the OS.
///
/// # Safety
/// `arena` came from `map_arena` and no pointer into it is used again.
pub(crate) unsafe fn unmap_arena(arena: *mut u8) {
    #[cfg(not(miri))]
    // SAFETY: the caller gives up the whole arena mapping.
    unsafe {
        munmap(arena, ARENA_SIZE)
    };
    #[cfg(miri)]
    // SAFETY: allocated in map_arena with the same layout.
    unsafe {
        System.dealloc(arena, arena_layout())
    };
}

/// Gives the pages of `[p, p + len)` back to the OS while keeping the range mapped;
/// the contents read back as zeros. `p` and `len` are page-aligned.
///
/// # Safety
/// The range lies in an arena and holds no data anyone needs.
pub(crate) unsafe fn decommit(p: *mut u8, len: usize) {
    #[cfg(not(miri))]
    {
        // SAFETY: the caller owns the range and gives up its contents.
        let rc = unsafe { libc::madvise(p.cast(), len, libc::MADV_DONTNEED) };
        debug_assert_eq!(rc, 0, "madvise failed");
    }
    #[cfg(miri)]
    {
        let _ = (p, len);
    }
}

/// A system allocation (used for large and over-aligned requests and for metadata).
///
/// # Safety
/// `layout` has a non-zero size.
#[inline]
pub(crate) unsafe fn sys_alloc(layout: Layout) -> *mut u8 {
    // SAFETY: non-zero size per the caller.
    unsafe { System.alloc(layout) }
}

/// A zeroed system allocation.
///
/// # Safety
/// `layout` has a non-zero size.
#[inline]
pub(crate) unsafe fn sys_alloc_zeroed(layout: Layout) -> *mut u8 {
    // SAFETY: non-zero size per the caller.
    unsafe { System.alloc_zeroed(layout) }
}

/// Frees a system allocation.
///
/// # Safety
/// `p` came from `sys_alloc`/[`sys_alloc_zeroed`]/`sys_realloc` with `layout`.
#[inline]
pub(crate) unsafe fn sys_dealloc(p: *mut u8, layout: Layout) {
    // SAFETY: per the caller.
    unsafe { System.dealloc(p, layout) }
}

/// Resizes a system allocation.
///
/// # Safety
/// As `GlobalAlloc::realloc`: `p` is live with `layout`, `new_size` is non-zero and
/// rounds to a valid layout.
#[inline]
pub(crate) unsafe fn sys_realloc(p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
    // SAFETY: per the caller.
    unsafe { System.realloc(p, layout, new_size) }
}

/// Registers fork handlers (`pthread_atfork`): `prepare` runs in the parent before
/// `fork`, `parent` after it in the parent, `child` after it in the child.
#[cfg(not(miri))]
pub(crate) fn at_fork(
    prepare: unsafe extern "C" fn(),
    parent: unsafe extern "C" fn(),
    child: unsafe extern "C" fn(),
) {
    // SAFETY: the handlers are plain functions that live for the whole program.
    let rc = unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
    debug_assert_eq!(rc, 0, "pthread_atfork failed");
}

/// Resident set size of this process in bytes (from `/proc/self/statm`), if known.
///
/// # Examples
/// ```
/// # if cfg!(miri) { return; } // miri isolates the program from /proc
/// if let Some(rss) = coil_heap::sys::resident_bytes() {
///     assert!(rss > 0);
/// }
/// ```
pub fn resident_bytes() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = text.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_size())
}

/// The OS page size.
///
/// # Examples
/// ```
/// assert!(coil_heap::sys::page_size().is_power_of_two());
/// ```
pub fn page_size() -> usize {
    #[cfg(not(miri))]
    {
        // SAFETY: sysconf has no preconditions.
        let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if n > 0 { n as usize } else { 4096 }
    }
    #[cfg(miri)]
    {
        4096
    }
}
