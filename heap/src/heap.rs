//! `Heap`: the unsynchronized face, owned by one thread (or guarded by a GIL).
//!
//! # Invariants
//!
//! 1. `hb` points to a `HeapBox` created by `Heap::try_new` and destroyed only by
//!    `Drop`; `Heap` is `Send` (the whole heap moves) but `!Sync`, so exactly one thread
//!    touches the engine at a time (core_heap invariant 1).
//! 2. A layout is *small* iff `size <= SMALL_REQUEST_THRESHOLD` and `align <=
//!    ALIGNMENT`; small layouts are served from pools, all others by the system
//!    allocator. `dealloc` and `realloc` decide from the layout alone, so the caller's
//!    layout (required to match by the `# Safety` contract) routes each block home.

use std::alloc::Layout;
use std::cell::Cell;
use std::marker::PhantomData;
use std::panic::Location;
use std::ptr::{self, NonNull};

use crate::core_heap::{CoreHeap, HeapBox};
use crate::geometry::{ALIGNMENT, SMALL_REQUEST_THRESHOLD, size_class};
use crate::stats::Stats;
use crate::{Error, sys, trace};

/// Whether `layout` is served from pools.
#[inline(always)]
pub(crate) fn is_small(layout: Layout) -> bool {
    layout.size() <= SMALL_REQUEST_THRESHOLD && layout.align() <= ALIGNMENT
}

/// The system layout for a large request (zero sizes become one alignment unit).
#[inline]
pub(crate) fn large_layout(layout: Layout) -> Layout {
    if layout.size() == 0 {
        // A power of two not above isize::MAX is a valid size for its own alignment.
        Layout::from_size_align(layout.align(), layout.align()).unwrap_or(layout)
    } else {
        layout
    }
}

/// An unsynchronized pymalloc-style heap: arenas from the OS, pools of one size
/// class, headerless blocks. `Send` but not `Sync`: one thread (or a GIL holder) uses it.
///
/// * Small layouts (size <= 512 B, align <= 16) come from pools; others from the system
///   allocator.
/// * A zero-size layout gets a real, unique 16-byte block (like `malloc(0)` in
///   CPython); free it with the same layout.
/// * Dropping the heap unmaps all its arenas: every small block it handed out dies with
///   it (large blocks are system blocks and must be freed before, or they leak).
///
/// # Examples
/// ```
/// use std::alloc::Layout;
/// use coil_heap::Heap;
///
/// let heap = Heap::new();
/// let layout = Layout::new::<[u8; 100]>();
/// let p = heap.alloc(layout).expect("out of memory");
/// unsafe {
///     p.as_ptr().write_bytes(7, 100);
///     let q = heap.realloc(p, layout, 200).unwrap();
///     assert_eq!(*q.as_ptr().add(99), 7);
///     heap.dealloc(q, Layout::from_size_align(200, 1).unwrap());
/// }
/// assert_eq!(heap.stats().blocks_in_use(), 0);
/// ```
pub struct Heap {
    hb: NonNull<HeapBox>,
    _not_sync: PhantomData<Cell<()>>,
}

// SAFETY: a Heap owns its HeapBox outright; moving it moves the whole heap to the new
// thread, and `!Sync` keeps it to one thread at a time (invariant 1).
unsafe impl Send for Heap {}

impl Default for Heap {
    fn default() -> Self {
        Heap::new()
    }
}

impl std::fmt::Debug for Heap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Heap").field("at", &self.hb).finish()
    }
}

impl Heap {
    /// A new empty heap. It maps no memory until the first small allocation.
    ///
    /// Aborts via `handle_alloc_error` if even the heap's 300-byte header cannot be
    /// allocated; use [`Heap::try_new`] to get an error instead.
    ///
    /// # Examples
    /// ```
    /// let heap = coil_heap::Heap::new();
    /// assert_eq!(heap.stats().arenas_in_use, 0);
    /// ```
    pub fn new() -> Heap {
        match Heap::try_new() {
            Ok(h) => h,
            Err(_) => std::alloc::handle_alloc_error(Layout::new::<HeapBox>()),
        }
    }

    /// A new empty heap.
    ///
    /// # Errors
    /// [`Error::OutOfMemory`] when the heap's header cannot be allocated.
    ///
    /// # Examples
    /// ```
    /// let heap = coil_heap::Heap::try_new()?;
    /// # Ok::<(), coil_heap::Error>(())
    /// ```
    pub fn try_new() -> Result<Heap, Error> {
        let hb = NonNull::new(HeapBox::create()).ok_or(Error::OutOfMemory {
            size: std::mem::size_of::<HeapBox>(),
        })?;
        Ok(Heap {
            hb,
            _not_sync: PhantomData,
        })
    }

    #[inline(always)]
    #[allow(clippy::mut_from_ref)] // the engine sits behind an UnsafeCell (invariant 1)
    fn core(&self) -> &mut CoreHeap {
        // SAFETY: invariant 1: only this thread reaches the engine, and no method keeps
        // this reference across a call that could re-enter the same heap.
        unsafe { &mut *(*self.hb.as_ptr()).core.get() }
    }

    #[inline(always)]
    fn boxed(&self) -> &HeapBox {
        // SAFETY: the box lives as long as self (invariant 1).
        unsafe { self.hb.as_ref() }
    }

    /// Allocates a block for `layout`; `None` when out of memory (never aborts).
    ///
    /// Zero sizes get a unique 16-byte block; alignments above 16 and sizes above
    /// 512 go to the system allocator, including alignments larger than a page.
    ///
    /// # Examples
    /// ```
    /// use std::alloc::Layout;
    /// let heap = coil_heap::Heap::new();
    /// let l = Layout::from_size_align(24, 8).unwrap();
    /// let p = heap.alloc(l).unwrap();
    /// assert_eq!(p.as_ptr() as usize % 16, 0);
    /// unsafe { heap.dealloc(p, l) };
    /// ```
    #[inline]
    #[track_caller]
    pub fn alloc(&self, layout: Layout) -> Option<NonNull<u8>> {
        let p = if is_small(layout) {
            self.core()
                .alloc_small(size_class(layout.size()), &self.boxed().remote)
        } else {
            self.alloc_large(layout, false)
        };
        if trace::active() && !p.is_null() {
            trace::on_alloc(p, layout.size(), Location::caller());
        }
        NonNull::new(p)
    }

    /// [`Heap::alloc`] with an error instead of `None`.
    ///
    /// # Errors
    /// [`Error::OutOfMemory`] when the OS refuses memory.
    ///
    /// # Examples
    /// ```
    /// use std::alloc::Layout;
    /// let heap = coil_heap::Heap::new();
    /// let p = heap.try_alloc(Layout::new::<u64>())?;
    /// unsafe { heap.dealloc(p, Layout::new::<u64>()) };
    /// # Ok::<(), coil_heap::Error>(())
    /// ```
    #[track_caller]
    pub fn try_alloc(&self, layout: Layout) -> Result<NonNull<u8>, Error> {
        self.alloc(layout).ok_or(Error::OutOfMemory {
            size: layout.size(),
        })
    }

    /// Allocates a zero-filled block; `None` when out of memory.
    ///
    /// # Examples
    /// ```
    /// use std::alloc::Layout;
    /// let heap = coil_heap::Heap::new();
    /// let l = Layout::new::<[u64; 4]>();
    /// let p = heap.alloc_zeroed(l).unwrap();
    /// assert_eq!(unsafe { *p.cast::<[u64; 4]>().as_ptr() }, [0; 4]);
    /// unsafe { heap.dealloc(p, l) };
    /// ```
    #[inline]
    #[track_caller]
    pub fn alloc_zeroed(&self, layout: Layout) -> Option<NonNull<u8>> {
        let p = if is_small(layout) {
            let p = self
                .core()
                .alloc_small(size_class(layout.size()), &self.boxed().remote);
            if !p.is_null() {
                // SAFETY: a fresh block of at least layout.size() bytes.
                unsafe { p.write_bytes(0, layout.size()) };
            }
            p
        } else {
            self.alloc_large(layout, true)
        };
        if trace::active() && !p.is_null() {
            trace::on_alloc(p, layout.size(), Location::caller());
        }
        NonNull::new(p)
    }

    #[cold]
    fn alloc_large(&self, layout: Layout, zeroed: bool) -> *mut u8 {
        let l = large_layout(layout);
        // SAFETY: `large_layout` has a non-zero size.
        let p = unsafe {
            if zeroed {
                sys::sys_alloc_zeroed(l)
            } else {
                sys::sys_alloc(l)
            }
        };
        if !p.is_null() {
            let c = self.core();
            c.large_count += 1;
            c.large_bytes += layout.size();
        }
        p
    }

    /// Frees a block.
    ///
    /// Debug builds check the pointer and panic with a clear message on a foreign
    /// pointer, a block of another heap, a wrong size class or a double free.
    ///
    /// # Safety
    /// `ptr` came from this heap's `alloc`/`alloc_zeroed`/`realloc` with `layout` (same
    /// size and alignment) and is not used afterwards. In release builds breaking this
    /// is undefined behaviour.
    ///
    /// # Examples
    /// ```
    /// use std::alloc::Layout;
    /// let heap = coil_heap::Heap::new();
    /// let p = heap.alloc(Layout::new::<u32>()).unwrap();
    /// unsafe { heap.dealloc(p, Layout::new::<u32>()) };
    /// ```
    #[inline]
    pub unsafe fn dealloc(&self, ptr: NonNull<u8>, layout: Layout) {
        let p = ptr.as_ptr();
        if trace::active() {
            trace::on_free(p);
        }
        if is_small(layout) {
            #[cfg(debug_assertions)]
            // SAFETY: the check validates the arena before reading it.
            unsafe {
                crate::checks::check_small_dealloc(
                    p,
                    size_class(layout.size()),
                    self.hb.as_ptr(),
                    true,
                )
            };
            let class = size_class(layout.size());
            #[cfg(debug_assertions)]
            assert!(
                !self.core().cache_contains(class, p),
                "coil-heap: double free of {p:p}"
            );
            // SAFETY: a live block of ours (caller).
            unsafe { self.core().dealloc_small(p, class) };
        } else {
            // SAFETY: a live system block with this layout (caller).
            unsafe { self.dealloc_large(p, layout) };
        }
    }

    #[cold]
    unsafe fn dealloc_large(&self, p: *mut u8, layout: Layout) {
        let c = self.core();
        c.large_count = c.large_count.saturating_sub(1);
        c.large_bytes = c.large_bytes.saturating_sub(layout.size());
        // SAFETY: allocated by `alloc_large` with `large_layout(layout)` (caller).
        unsafe { sys::sys_dealloc(p, large_layout(layout)) };
    }

    /// Resizes a block to `new_size` bytes (same alignment), moving it if needed; the
    /// first `min(old, new)` bytes are kept. `None` when out of memory or when
    /// `new_size` cannot form a layout; the old block is then untouched and still live.
    ///
    /// # Safety
    /// As [`Heap::dealloc`] for `ptr` and `old`. On success the old pointer is dead and
    /// the new block has layout `(new_size, old.align())`.
    ///
    /// # Examples
    /// ```
    /// use std::alloc::Layout;
    /// let heap = coil_heap::Heap::new();
    /// let old = Layout::from_size_align(8, 8).unwrap();
    /// let p = heap.alloc(old).unwrap();
    /// let q = unsafe { heap.realloc(p, old, 1000) }.unwrap();
    /// unsafe { heap.dealloc(q, Layout::from_size_align(1000, 8).unwrap()) };
    /// ```
    #[track_caller]
    pub unsafe fn realloc(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new_size: usize,
    ) -> Option<NonNull<u8>> {
        let new = Layout::from_size_align(new_size, old.align()).ok()?;
        if is_small(old) && is_small(new) && size_class(old.size()) == size_class(new_size) {
            if trace::active() {
                trace::on_free(ptr.as_ptr());
                trace::on_alloc(ptr.as_ptr(), new_size, Location::caller());
            }
            return Some(ptr);
        }
        if !is_small(old) && !is_small(new) && new_size != 0 && old.size() != 0 {
            // SAFETY: a live system block with `old` (caller); new_size is non-zero and
            // forms a valid layout with the alignment (checked above).
            let q = unsafe { sys::sys_realloc(ptr.as_ptr(), old, new_size) };
            let q = NonNull::new(q)?;
            let c = self.core();
            c.large_bytes = c.large_bytes.saturating_sub(old.size()) + new_size;
            if trace::active() {
                trace::on_free(ptr.as_ptr());
                trace::on_alloc(q.as_ptr(), new_size, Location::caller());
            }
            return Some(q);
        }
        let q = self.alloc(new)?;
        // SAFETY: both blocks are live and distinct; we copy what both hold.
        unsafe {
            ptr::copy_nonoverlapping(ptr.as_ptr(), q.as_ptr(), old.size().min(new_size));
            self.dealloc(ptr, old);
        }
        Some(q)
    }

    /// [`Heap::realloc`] with an error instead of `None`.
    ///
    /// # Errors
    /// [`Error::InvalidLayout`] when `new_size` with the old alignment cannot form a
    /// layout (it would exceed `isize::MAX`); [`Error::OutOfMemory`] when memory runs
    /// out. In both cases the old block is untouched and still live.
    ///
    /// # Safety
    /// As [`Heap::realloc`].
    ///
    /// # Examples
    /// ```
    /// use std::alloc::Layout;
    /// use coil_heap::{Error, Heap};
    /// let heap = Heap::new();
    /// let l = Layout::new::<u64>();
    /// let p = heap.alloc(l).unwrap();
    /// let err = unsafe { heap.try_realloc(p, l, usize::MAX) }.unwrap_err();
    /// assert!(matches!(err, Error::InvalidLayout { .. }));
    /// unsafe { heap.dealloc(p, l) };
    /// ```
    #[track_caller]
    pub unsafe fn try_realloc(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new_size: usize,
    ) -> Result<NonNull<u8>, Error> {
        if Layout::from_size_align(new_size, old.align()).is_err() {
            return Err(Error::InvalidLayout {
                size: new_size,
                align: old.align(),
            });
        }
        // SAFETY: per the caller.
        unsafe { self.realloc(ptr, old, new_size) }.ok_or(Error::OutOfMemory { size: new_size })
    }

    /// The heap's figures (as `sys._debugmallocstats()`).
    ///
    /// # Examples
    /// ```
    /// use std::alloc::Layout;
    /// let heap = coil_heap::Heap::new();
    /// let p = heap.alloc(Layout::new::<u8>()).unwrap();
    /// let s = heap.stats();
    /// assert_eq!((s.blocks_in_use(), s.arenas_in_use), (1, 1));
    /// # unsafe { heap.dealloc(p, Layout::new::<u8>()) };
    /// ```
    pub fn stats(&self) -> Stats {
        let mut s = Stats {
            heaps: 1,
            ..Stats::default()
        };
        self.core().add_stats(&mut s);
        s
    }

    /// Gives cached memory back to the OS: the reserve of empty arenas, a class's last
    /// empty pool, and the pages of free pools in arenas still in use. Returns the bytes
    /// released. Live blocks are untouched.
    ///
    /// # Examples
    /// ```
    /// use std::alloc::Layout;
    /// let heap = coil_heap::Heap::new();
    /// let p = heap.alloc(Layout::new::<u64>()).unwrap();
    /// unsafe { heap.dealloc(p, Layout::new::<u64>()) };
    /// assert!(heap.trim() > 0);
    /// assert_eq!(heap.stats().arenas_in_use, 0);
    /// ```
    pub fn trim(&self) -> usize {
        self.core().trim(&self.boxed().remote)
    }

    /// Validates the heap's internal invariants (list links, arena ordering, free-list
    /// bounds, counts) and panics naming the first one broken. It walks every pool and
    /// free list, so it is meant for tests and debugging.
    ///
    /// # Examples
    /// ```
    /// let heap = coil_heap::Heap::new();
    /// let p = heap.alloc(std::alloc::Layout::new::<u64>()).unwrap();
    /// heap.check_invariants();
    /// # unsafe { heap.dealloc(p, std::alloc::Layout::new::<u64>()) };
    /// ```
    pub fn check_invariants(&self) {
        self.core().check_invariants();
    }

    /// Whether `ptr` points into a pool of this heap (a small block it may have handed
    /// out). Never reads memory it does not own.
    ///
    /// # Examples
    /// ```
    /// use std::alloc::Layout;
    /// let heap = coil_heap::Heap::new();
    /// let p = heap.alloc(Layout::new::<u64>()).unwrap();
    /// assert!(heap.owns(p.as_ptr()));
    /// assert!(!heap.owns(&0u8 as *const u8));
    /// # unsafe { heap.dealloc(p, Layout::new::<u64>()) };
    /// ```
    pub fn owns(&self, ptr: *const u8) -> bool {
        crate::core_heap::owner_of(ptr) == Some(self.hb.as_ptr().cast_const())
    }
}

impl Drop for Heap {
    fn drop(&mut self) {
        // SAFETY: we own the box; by the docs no block of it is used after the drop.
        unsafe { HeapBox::destroy(self.hb.as_ptr()) };
    }
}
