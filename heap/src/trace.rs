//! Tracing (placeholder; the full tracemalloc face follows).

use std::panic::Location;
use std::sync::atomic::{AtomicBool, Ordering};

static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Whether tracing is on: one relaxed load, the only cost on the fast path.
#[inline(always)]
pub(crate) fn active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

/// Records an allocation with its call site.
#[cold]
pub(crate) fn on_alloc(p: *mut u8, size: usize, site: &'static Location<'static>) {
    let _ = (p, size, site);
}

/// Records an allocation with no `#[track_caller]` site (the global allocator).
#[cold]
pub(crate) fn on_alloc_untracked(p: *mut u8, size: usize) {
    let _ = (p, size);
}

/// Records a free.
#[cold]
pub(crate) fn on_free(p: *mut u8) {
    let _ = p;
}

pub(crate) fn fork_lock() {}
pub(crate) fn fork_unlock() {}
