//! `GlobalHeap`: the thread-safe face, usable as `#[global_allocator]`.
//!
//! ```text
//!   thread A                thread B                  registry (spin lock, cold paths only)
//!   CURRENT -> HeapBox A    CURRENT -> HeapBox B      ALL: every HeapBox ever made
//!              core (A only)           core (B only)  ABANDONED: heaps of exited threads
//!              remote <--- B frees a block of A's pool (lock-free push)
//! ```
//!
//! * **Per-thread heaps.** Each thread's first small allocation attaches a heap: an
//!   abandoned one if any (adoption), else a new one. Allocation and same-thread frees
//!   touch only that heap: no atomics, no locks.
//! * **Cross-thread frees.** A free goes into the freeing thread's free cache without
//!   looking at the block's pool (the fast path is the same for local and remote
//!   blocks), and a cached block of another heap may be handed out again by this
//!   thread. When the cache overflows (and at `trim` and thread exit), each block goes
//!   back to its pool if this heap owns it, else onto its owner's `remote` list (one
//!   CAS, no global lock). The owner drains that list in its allocation slow path and
//!   in `trim`.
//! * **Thread exit.** A thread-local guard's destructor takes in the heap's remote
//!   frees, sends its cached blocks home and puts it on the abandoned list (its reserve
//!   and resident pools stay, so the thread that adopts it starts warm; `trim()` gives
//!   them back); its live blocks stay valid, other threads may keep
//!   freeing them (remote pushes), and the next new thread adopts the heap.
//!   Allocations made after the guard ran (by later thread-local destructors) are served
//!   under the registry lock from an abandoned heap.
//! * **fork().** Handlers installed with `pthread_atfork` when the first heap attaches:
//!   *prepare* takes the registry lock (and the tracing lock), *parent* releases them,
//!   *child* marks the heaps of every other thread of the parent as orphaned and
//!   releases the locks. In the child, blocks of orphaned heaps stay valid and may be
//!   read, written and freed (frees go to the remote list, which nobody drains); their
//!   memory is not reused in the child. Orphans are never adopted, because their
//!   thread may have been in the middle of an allocation when the parent forked.
//!
//! # Invariants
//!
//! 1. `CURRENT` is null (no heap yet), `DEAD` (guard ran) or a heap in state `OWNED`
//!    whose engine only this thread touches.
//! 2. A heap on `ABANDONED` is in state `ABANDONED` and its engine is touched only under
//!    the registry lock.
//! 3. Heaps are never freed; `ALL` only grows (by the number of threads alive at once).

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

use crate::core_heap::{CoreHeap, HeapBox};
use crate::geometry::size_class;
use crate::heap::{is_small, large_layout};
use crate::pool::pool_of;
use crate::stats::Stats;
use crate::{sys, trace};

const OWNED: u8 = 0;
const ABANDONED: u8 = 1;
const ORPHANED: u8 = 2;

/// The thread-safe allocator: per-thread pymalloc heaps with lock-free cross-thread
/// frees. Install it for a whole program with `#[global_allocator]`.
///
/// # Examples
/// ```
/// use coil_heap::GlobalHeap;
///
/// #[global_allocator]
/// static A: GlobalHeap = GlobalHeap;
///
/// let words: Vec<String> = (0..100).map(|i| i.to_string()).collect();
/// assert_eq!(words[42], "42");
/// assert!(GlobalHeap::stats().blocks_in_use() >= 100);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct GlobalHeap;

thread_local! {
    static CURRENT: Cell<*mut HeapBox> = const { Cell::new(ptr::null_mut()) };
    static EXIT: ExitGuard = const { ExitGuard };
}

static LOCK: AtomicBool = AtomicBool::new(false);
static ALL: AtomicPtr<HeapBox> = AtomicPtr::new(ptr::null_mut());
static ABANDONED_LIST: AtomicPtr<HeapBox> = AtomicPtr::new(ptr::null_mut());
static FORK_HOOKS: AtomicBool = AtomicBool::new(false);

fn dead() -> *mut HeapBox {
    ptr::without_provenance_mut(1)
}

#[inline(always)]
fn is_real(h: *mut HeapBox) -> bool {
    h as usize > 1
}

fn lock() {
    while LOCK
        .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        std::hint::spin_loop();
        std::thread::yield_now();
    }
}

fn unlock() {
    LOCK.store(false, Ordering::Release);
}

/// Runs at thread exit: gives the thread's heap to the abandoned list.
struct ExitGuard;

impl Drop for ExitGuard {
    fn drop(&mut self) {
        let h = CURRENT.with(|c| c.replace(dead()));
        if is_real(h) {
            lock();
            // SAFETY: `h` was this thread's heap (invariant 1); from now on it is only
            // touched under the lock (invariant 2).
            unsafe {
                let core = &mut *(*h).core.get();
                core.flush(&(*h).remote);
                (*h).state.store(ABANDONED, Ordering::Relaxed);
                *(*h).abandoned_next.get() = ABANDONED_LIST.load(Ordering::Relaxed);
            }
            ABANDONED_LIST.store(h, Ordering::Relaxed);
            unlock();
        }
    }
}

/// Attaches a heap to this thread (adopting an abandoned one if any); null on OOM.
#[cold]
#[inline(never)]
fn attach() -> *mut HeapBox {
    install_fork_hooks();
    lock();
    let mut h = ABANDONED_LIST.load(Ordering::Relaxed);
    if h.is_null() {
        h = HeapBox::create();
        if !h.is_null() {
            // SAFETY: a fresh heap, linked under the lock.
            unsafe { *(*h).all_next.get() = ALL.load(Ordering::Relaxed) };
            ALL.store(h, Ordering::Relaxed);
        }
    } else {
        // SAFETY: abandoned heaps are only touched under the lock (invariant 2).
        ABANDONED_LIST.store(unsafe { *(*h).abandoned_next.get() }, Ordering::Relaxed);
    }
    if !h.is_null() {
        // SAFETY: `h` is live (invariant 3).
        unsafe { (*h).state.store(OWNED, Ordering::Relaxed) };
    }
    unlock();
    if !h.is_null() {
        CURRENT.with(|c| c.set(h));
        // Registers the exit guard's destructor (std uses __cxa_thread_atexit_impl).
        let _ = EXIT.try_with(|_| ());
    }
    h
}

/// Serves a small allocation when this thread has no heap of its own.
#[cold]
#[inline(never)]
fn alloc_small_cold(class: usize) -> *mut u8 {
    let h = CURRENT.with(|c| c.get());
    if h.is_null() {
        let h = attach();
        if h.is_null() {
            return ptr::null_mut();
        }
        // SAFETY: just attached to this thread (invariant 1).
        return unsafe { (*(*h).core.get()).alloc_small(class, &(*h).remote) };
    }
    // The thread is past its exit guard: borrow an abandoned heap under the lock.
    lock();
    let mut h = ABANDONED_LIST.load(Ordering::Relaxed);
    if h.is_null() {
        h = HeapBox::create();
        if !h.is_null() {
            // SAFETY: a fresh heap, linked under the lock.
            unsafe {
                (*h).state.store(ABANDONED, Ordering::Relaxed);
                *(*h).all_next.get() = ALL.load(Ordering::Relaxed);
            }
            ALL.store(h, Ordering::Relaxed);
            ABANDONED_LIST.store(h, Ordering::Relaxed);
        }
    }
    let p = if h.is_null() {
        ptr::null_mut()
    } else {
        // SAFETY: abandoned heaps are touched only under the lock, which we hold.
        unsafe { (*(*h).core.get()).alloc_small(class, &(*h).remote) }
    };
    unlock();
    p
}

#[inline(always)]
fn alloc_small(class: usize) -> *mut u8 {
    let h = CURRENT.with(|c| c.get());
    if is_real(h) {
        // SAFETY: this thread's own heap (invariant 1).
        unsafe { (*(*h).core.get()).alloc_small(class, &(*h).remote) }
    } else {
        alloc_small_cold(class)
    }
}

/// # Safety
/// `p` is a live small block of class `class` from the global allocator.
#[inline(always)]
unsafe fn dealloc_small(p: *mut u8, class: usize) {
    let h = CURRENT.with(|c| c.get());
    #[cfg(debug_assertions)]
    // SAFETY: the check validates the arena before reading it.
    unsafe {
        crate::checks::check_small_dealloc(p, class, h, false)
    };
    if is_real(h) {
        // SAFETY: our own heap (invariant 1); the block goes into its free cache
        // whichever heap owns it (core_heap invariant 5).
        unsafe {
            let core = &mut *(*h).core.get();
            #[cfg(debug_assertions)]
            assert!(
                !core.cache_contains(class, p),
                "coil-heap: double free of {p:p}"
            );
            core.dealloc_small(p, class);
        }
    } else {
        // SAFETY: no heap on this thread: hand the block to its owner, which is never
        // freed; `owner` is stable while the block is live (pool invariant 3).
        unsafe { HeapBox::push_remote((*pool_of(p)).owner, p) };
    }
}

// SAFETY: small blocks come from pools sized and aligned for the layout (16-byte
// aligned, class size >= size); others from the system allocator with the same layout.
// Blocks stay valid until freed, whichever thread frees them.
unsafe impl GlobalAlloc for GlobalHeap {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = if is_small(layout) {
            alloc_small(size_class(layout.size()))
        } else {
            // SAFETY: large_layout has a non-zero size.
            unsafe { sys::sys_alloc(large_layout(layout)) }
        };
        if trace::active() && !p.is_null() {
            trace::on_alloc_untracked(p, layout.size());
        }
        p
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = if is_small(layout) {
            let p = alloc_small(size_class(layout.size()));
            if !p.is_null() {
                // SAFETY: a fresh block of at least layout.size() bytes.
                unsafe { p.write_bytes(0, layout.size()) };
            }
            p
        } else {
            // SAFETY: large_layout has a non-zero size.
            unsafe { sys::sys_alloc_zeroed(large_layout(layout)) }
        };
        if trace::active() && !p.is_null() {
            trace::on_alloc_untracked(p, layout.size());
        }
        p
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if trace::active() {
            trace::on_free(ptr);
        }
        if is_small(layout) {
            // SAFETY: a live small block of ours (GlobalAlloc contract).
            unsafe { dealloc_small(ptr, size_class(layout.size())) };
        } else {
            // SAFETY: a live system block with this layout (GlobalAlloc contract).
            unsafe { sys::sys_dealloc(ptr, large_layout(layout)) };
        }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Ok(new) = Layout::from_size_align(new_size, layout.align()) else {
            return ptr::null_mut();
        };
        let (small_old, small_new) = (is_small(layout), is_small(new));
        if small_old && small_new && size_class(layout.size()) == size_class(new_size) {
            if trace::active() {
                trace::on_free(ptr);
                trace::on_alloc_untracked(ptr, new_size);
            }
            return ptr;
        }
        if !small_old && !small_new && layout.size() != 0 && new_size != 0 {
            // SAFETY: a live system block (contract); new_size non-zero, layout valid.
            let q = unsafe { sys::sys_realloc(ptr, layout, new_size) };
            if trace::active() && !q.is_null() {
                trace::on_free(ptr);
                trace::on_alloc_untracked(q, new_size);
            }
            return q;
        }
        // SAFETY: `new` is a valid layout.
        let q = unsafe { self.alloc(new) };
        if !q.is_null() {
            // SAFETY: both live and distinct; copy what both hold, then free the old.
            unsafe {
                ptr::copy_nonoverlapping(ptr, q, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        q
    }
}

impl GlobalHeap {
    /// Figures for the calling thread's heap plus every abandoned heap (heaps of
    /// threads that exited). Other live threads' heaps are not read: their owners
    /// change them without locks.
    ///
    /// # Examples
    /// ```
    /// use coil_heap::GlobalHeap;
    /// use std::alloc::{GlobalAlloc, Layout};
    /// let l = Layout::new::<u64>();
    /// let p = unsafe { GlobalHeap.alloc(l) };
    /// assert!(GlobalHeap::stats().blocks_in_use() >= 1);
    /// unsafe { GlobalHeap.dealloc(p, l) };
    /// ```
    pub fn stats() -> Stats {
        let mut s = Stats::default();
        let h = CURRENT.with(|c| c.get());
        if is_real(h) {
            // SAFETY: our own heap (invariant 1); add_stats only reads.
            unsafe { (*(*h).core.get()).add_stats(&mut s) };
            s.heaps += 1;
        }
        for_each_abandoned(|core| {
            core.add_stats(&mut s);
            s.heaps += 1;
        });
        s
    }

    /// Gives cached memory back to the OS from the calling thread's heap and every
    /// abandoned heap (after taking in their cross-thread frees). Returns bytes released.
    ///
    /// # Examples
    /// ```
    /// use coil_heap::GlobalHeap;
    /// let released: usize = GlobalHeap::trim();
    /// # let _ = released;
    /// ```
    pub fn trim() -> usize {
        let mut released = 0;
        let h = CURRENT.with(|c| c.get());
        if is_real(h) {
            // SAFETY: our own heap (invariant 1).
            released += unsafe { (*(*h).core.get()).trim(&(*h).remote) };
        }
        for_each_abandoned_mut(|core, remote| released += core.trim(remote));
        released
    }

    /// Whether `ptr` is inside a pool of one of the global allocator's heaps.
    ///
    /// # Examples
    /// ```
    /// use coil_heap::GlobalHeap;
    /// use std::alloc::{GlobalAlloc, Layout};
    /// let p = unsafe { GlobalHeap.alloc(Layout::new::<u32>()) };
    /// assert!(GlobalHeap::owns(p));
    /// unsafe { GlobalHeap.dealloc(p, Layout::new::<u32>()) };
    /// ```
    pub fn owns(ptr: *const u8) -> bool {
        match crate::core_heap::owner_of(ptr) {
            None => false,
            Some(o) => {
                let mut found = false;
                lock();
                let mut h = ALL.load(Ordering::Relaxed);
                while !h.is_null() {
                    found |= h.cast_const() == o;
                    // SAFETY: heaps are never freed; `all_next` is read under the lock.
                    h = unsafe { *(*h).all_next.get() };
                }
                unlock();
                found
            }
        }
    }
}

fn for_each_abandoned(mut f: impl FnMut(&CoreHeap)) {
    lock();
    let mut h = ABANDONED_LIST.load(Ordering::Relaxed);
    while !h.is_null() {
        // SAFETY: abandoned heaps are touched only under the lock (invariant 2).
        unsafe {
            f(&*(*h).core.get());
            h = *(*h).abandoned_next.get();
        }
    }
    unlock();
}

fn for_each_abandoned_mut(mut f: impl FnMut(&mut CoreHeap, &AtomicPtr<u8>)) {
    lock();
    let mut h = ABANDONED_LIST.load(Ordering::Relaxed);
    while !h.is_null() {
        // SAFETY: abandoned heaps are touched only under the lock (invariant 2).
        unsafe {
            f(&mut *(*h).core.get(), &(*h).remote);
            h = *(*h).abandoned_next.get();
        }
    }
    unlock();
}

fn install_fork_hooks() {
    #[cfg(not(miri))]
    if !FORK_HOOKS.swap(true, Ordering::AcqRel) {
        sys::at_fork(fork_prepare, fork_parent, fork_child);
    }
    #[cfg(miri)]
    FORK_HOOKS.store(true, Ordering::Relaxed);
}

#[cfg(not(miri))]
unsafe extern "C" fn fork_prepare() {
    trace::fork_lock();
    lock();
}

#[cfg(not(miri))]
unsafe extern "C" fn fork_parent() {
    unlock();
    trace::fork_unlock();
}

#[cfg(not(miri))]
unsafe extern "C" fn fork_child() {
    // Only the forking thread survives: every other owned heap may be mid-update.
    let me = CURRENT.with(|c| c.get());
    let mut h = ALL.load(Ordering::Relaxed);
    while !h.is_null() {
        // SAFETY: heaps are never freed; we hold the lock (taken in prepare).
        unsafe {
            if h != me && (*h).state.load(Ordering::Relaxed) == OWNED {
                (*h).state.store(ORPHANED, Ordering::Relaxed);
            }
            h = *(*h).all_next.get();
        }
    }
    unlock();
    trace::fork_unlock();
}
