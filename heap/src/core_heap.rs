//! The heap engine shared by both faces: per-class lists of used pools, the arena
//! lists, the reserve of empty arenas, and the remote-free list.
//!
//! ```text
//!   HeapBox (stable address; pools point back to it)
//!   +-- remote: AtomicPtr   blocks freed by other threads (Treiber stack, push-only;
//!   |                       the owner takes the whole list with one swap)
//!   +-- core: CoreHeap      owner-only
//!         cache[class]: [ptr; 64]                     freed blocks, reused first
//!         used[class] ---> pool <-> pool <-> pool     pools with a free block
//!         usable      ---> arena <-> arena ...        arenas with free pools, fullest first
//!         reserve     ---> arena -> arena             empty arenas kept mapped (<= reserve_cap)
//!         all         ---> every arena of this heap
//! ```
//!
//! # Read `alloc_small` and `dealloc_small` first
//!
//! They are the whole fast path: pop or push one pointer on the class's free cache,
//! else pop one block from the head pool's in-block free list. Everything else
//! (`flush_cache`, `pool_exhausted`, `pool_transition`, `alloc_slow`) is cold and runs
//! about once per half-cache or per pool's worth of blocks.
//!
//! # Invariants
//!
//! 1. `core` is touched only by the heap's owner: the thread that holds the `Heap`
//!    (which is `!Sync`), or the thread whose thread-local slot holds the `HeapBox`, or
//!    the global registry while it holds its lock for an abandoned heap.
//! 2. Pools in `used[class]` have a free block (pool invariant 1); the list head is
//!    where allocation happens.
//! 3. `usable` is sorted by `nfreepools` ascending (fullest first), as CPython's
//!    `usable_arenas`.
//! 4. A `HeapBox` is never moved; pools and other threads hold raw pointers to it. A
//!    heap used by the global allocator is never freed (abandoned heaps are adopted).
//! 5. `cache[class]` holds `n <= FREE_CACHE_SIZE` distinct blocks of `class`, freed by
//!    this heap's owner and not yet given back to their pools: their pools still count
//!    them in use. They may belong to other heaps (the global allocator frees without
//!    reading the pool header); such blocks are handed out again here, or go to their
//!    owner's remote list on overflow, `trim` and thread exit. Allocation pops from the
//!    cache first; `stats` counts this heap's own cached blocks as free.

use std::cell::UnsafeCell;
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU8, Ordering};

use crate::arena::{self, Arena, arena_of};
use crate::geometry::{
    ARENA_RESERVE, ARENA_RESERVE_MAX, ARENA_SIZE, FREE_CACHE_SIZE, NB_SMALL_SIZE_CLASSES,
    POOLS_PER_ARENA, blocks_per_pool, class_size,
};
use crate::pool::{self, Pool, block_ptr, pool_of};
use crate::stats::{ClassStats, Stats};
use crate::{arena_map, sys};

/// A heap at a stable address: the owner-only engine plus what other threads may touch.
pub(crate) struct HeapBox {
    /// Blocks freed by threads that do not own their pool (owner drains it).
    pub remote: AtomicPtr<u8>,
    /// Global registry state (see `global.rs`): owned, abandoned or orphaned by fork.
    pub state: AtomicU8,
    /// Next heap in the global registry's list of all heaps (under its lock).
    pub all_next: UnsafeCell<*mut HeapBox>,
    /// Next heap in the global registry's abandoned list (under its lock).
    pub abandoned_next: UnsafeCell<*mut HeapBox>,
    /// The engine (owner-only, invariant 1).
    pub core: UnsafeCell<CoreHeap>,
}

// SAFETY: `remote` and `state` are atomics; the registry fields are only touched under
// the registry lock; `core` only by the current owner (invariant 1), and ownership moves
// between threads only through the registry lock or by moving a `Heap` (Send).
unsafe impl Sync for HeapBox {}
// SAFETY: as above; nothing in a HeapBox is tied to the thread that made it.
unsafe impl Send for HeapBox {}

/// Freed blocks of one class waiting for reuse (invariant 5).
struct FreeCache {
    n: usize,
    slots: [*mut u8; FREE_CACHE_SIZE],
}

/// The owner-only part of a heap.
pub(crate) struct CoreHeap {
    cache: [FreeCache; NB_SMALL_SIZE_CLASSES],
    used: [*mut Pool; NB_SMALL_SIZE_CLASSES],
    usable: *mut Arena,
    reserve: *mut Arena,
    nreserve: usize,
    /// How many empty arenas the reserve may hold now: [`ARENA_RESERVE`], raised
    /// (up to [`ARENA_RESERVE_MAX`]) each time the heap maps a fresh arena after
    /// having unmapped some, back to [`ARENA_RESERVE`] on `trim`.
    reserve_cap: usize,
    /// Arenas unmapped since the last fresh mapping (the thrash signal).
    unmapped_since_map: usize,
    all: *mut Arena,
    me: *const HeapBox,
    arenas_allocated: usize,
    arenas_freed: usize,
    arenas_live: usize,
    arenas_highwater: usize,
    /// Large (system) blocks handed out through this heap and not yet freed.
    pub large_count: usize,
    /// Bytes in those large blocks.
    pub large_bytes: usize,
}

impl HeapBox {
    /// Allocates and initialises a heap; null on OOM.
    pub(crate) fn create() -> *mut HeapBox {
        let layout = std::alloc::Layout::new::<HeapBox>();
        // SAFETY: HeapBox has a non-zero size.
        let hb = unsafe { sys::sys_alloc(layout) }.cast::<HeapBox>();
        if hb.is_null() {
            return hb;
        }
        // SAFETY: fresh allocation of the right layout.
        unsafe {
            hb.write(HeapBox {
                remote: AtomicPtr::new(ptr::null_mut()),
                state: AtomicU8::new(0),
                all_next: UnsafeCell::new(ptr::null_mut()),
                abandoned_next: UnsafeCell::new(ptr::null_mut()),
                core: UnsafeCell::new(CoreHeap {
                    cache: [const {
                        FreeCache {
                            n: 0,
                            slots: [ptr::null_mut(); FREE_CACHE_SIZE],
                        }
                    }; NB_SMALL_SIZE_CLASSES],
                    used: [ptr::null_mut(); NB_SMALL_SIZE_CLASSES],
                    usable: ptr::null_mut(),
                    reserve: ptr::null_mut(),
                    nreserve: 0,
                    reserve_cap: ARENA_RESERVE,
                    unmapped_since_map: 0,
                    all: ptr::null_mut(),
                    me: hb,
                    arenas_allocated: 0,
                    arenas_freed: 0,
                    arenas_live: 0,
                    arenas_highwater: 0,
                    large_count: 0,
                    large_bytes: 0,
                }),
            })
        };
        hb
    }

    /// Releases every arena and the box itself.
    ///
    /// # Safety
    /// The caller owns `hb`, no other thread can reach it, and no block of it is used
    /// again.
    pub(crate) unsafe fn destroy(hb: *mut HeapBox) {
        // SAFETY: exclusive ownership (caller).
        unsafe {
            (*(*hb).core.get()).release_all();
            sys::sys_dealloc(hb.cast(), std::alloc::Layout::new::<HeapBox>());
        }
    }

    /// Pushes a block freed by a non-owner thread onto the remote list.
    ///
    /// # Safety
    /// `p` is a live block of a pool owned by `hb`, and is not used again.
    #[inline]
    pub(crate) unsafe fn push_remote(hb: *const HeapBox, p: *mut u8) {
        let p = block_ptr(p);
        // SAFETY: HeapBoxes are never freed while blocks of theirs are live (invariant 4).
        let remote = unsafe { &(*hb).remote };
        let mut head = remote.load(Ordering::Relaxed);
        loop {
            // SAFETY: the block is ours to overwrite: it was given up by the caller.
            unsafe { p.cast::<*mut u8>().write(head) };
            match remote.compare_exchange_weak(head, p, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => return,
                Err(h) => head = h,
            }
        }
    }
}

impl CoreHeap {
    /// Allocates a block of `class`; null on OOM.
    #[inline(always)]
    pub(crate) fn alloc_small(&mut self, class: usize, remote: &AtomicPtr<u8>) -> *mut u8 {
        let c = &mut self.cache[class];
        if c.n > 0 {
            c.n -= 1;
            // SAFETY: n <= FREE_CACHE_SIZE (invariant 5), so n - 1 is in bounds.
            return unsafe { *c.slots.get_unchecked(c.n) };
        }
        let pool = self.used[class];
        if !pool.is_null() {
            // SAFETY: pools in used[] are initialised, owned by us, and have a non-null
            // free list whose entries are free blocks of the pool (pool invariants 1, 4).
            unsafe {
                let b = (*pool).free;
                let next = b.cast::<*mut u8>().read();
                (*pool).free = next;
                (*pool).count += 1;
                if next.is_null() {
                    self.pool_exhausted(pool);
                }
                return b;
            }
        }
        self.alloc_slow(class, remote)
    }

    /// Frees a block of `class` into the free cache. The block may belong to another
    /// heap (the global allocator frees without looking at the pool header): it is then
    /// reused here, or sent to its owner's remote list when the cache overflows.
    ///
    /// # Safety
    /// `p` is a live block of `class` of some heap, and is not used by the caller again.
    #[inline(always)]
    pub(crate) unsafe fn dealloc_small(&mut self, p: *mut u8, class: usize) {
        let p = block_ptr(p);
        let c = &mut self.cache[class];
        if c.n < FREE_CACHE_SIZE {
            c.slots[c.n] = p;
            c.n += 1;
        } else {
            // SAFETY: per the caller.
            unsafe { self.flush_cache(class, p) };
        }
    }

    /// The free cache of `class` is full: give its newer half and `p` to their pools.
    #[cold]
    #[inline(never)]
    unsafe fn flush_cache(&mut self, class: usize, p: *mut u8) {
        let keep = FREE_CACHE_SIZE / 2;
        while self.cache[class].n > keep {
            let c = &mut self.cache[class];
            c.n -= 1;
            let b = c.slots[c.n];
            // SAFETY: cached blocks are live in their pools (invariant 5).
            unsafe { self.release_block(b) };
        }
        // SAFETY: per the caller.
        unsafe { self.release_block(p) };
    }

    /// Gives a block back to its pool if the pool is ours, else to its owner's remote
    /// list.
    ///
    /// # Safety
    /// `p` is a live block that no one else will use.
    #[inline]
    unsafe fn release_block(&mut self, p: *mut u8) {
        // SAFETY: the block is live, so its pool header and `owner` are stable (pool
        // invariant 3); owners are never freed while blocks of theirs live.
        unsafe {
            let owner = (*pool_of(p)).owner;
            if owner == self.me {
                self.dealloc_to_pool(p);
            } else {
                HeapBox::push_remote(owner, p);
            }
        }
    }

    /// Gives every cached block back to its pool.
    fn flush_all_caches(&mut self) {
        for class in 0..NB_SMALL_SIZE_CLASSES {
            while self.cache[class].n > 0 {
                let c = &mut self.cache[class];
                c.n -= 1;
                let b = c.slots[c.n];
                // SAFETY: cached blocks are live in their pools (invariant 5).
                unsafe { self.release_block(b) };
            }
        }
    }

    /// Whether `p` sits in the free cache of `class` (a debug double-free check).
    #[cfg(debug_assertions)]
    pub(crate) fn cache_contains(&self, class: usize, p: *mut u8) -> bool {
        let c = &self.cache[class];
        c.slots[..c.n].contains(&p)
    }

    /// Frees a block straight into its pool.
    ///
    /// # Safety
    /// `p` is a live block of a pool owned by this heap.
    #[inline]
    unsafe fn dealloc_to_pool(&mut self, p: *mut u8) {
        let p = block_ptr(p);
        let pool = pool_of(p);
        // SAFETY: the pool is ours and initialised since `p` is live in it (caller).
        unsafe {
            let old = (*pool).free;
            p.cast::<*mut u8>().write(old);
            (*pool).free = p;
            let count = (*pool).count - 1;
            (*pool).count = count;
            if old.is_null() || count == 0 {
                self.pool_transition(pool, old.is_null());
            }
        }
    }

    /// A pop emptied `pool`'s free list: carve a fresh block, or unlink the full pool.
    #[cold]
    #[inline(never)]
    unsafe fn pool_exhausted(&mut self, pool: *mut Pool) {
        // SAFETY: owner-only access to a pool of ours (caller).
        unsafe {
            if !pool::carve(pool) {
                self.unlink_used(pool);
            }
        }
    }

    /// A free made `pool` non-full (link it) and/or empty (give it back).
    #[cold]
    #[inline(never)]
    unsafe fn pool_transition(&mut self, pool: *mut Pool, was_full: bool) {
        // SAFETY: owner-only access to a pool of ours (caller).
        unsafe {
            let class = (*pool).class as usize;
            if was_full {
                self.link_used(pool, class);
            }
            if (*pool).count == 0 {
                if self.used[class] == pool && (*pool).next.is_null() {
                    return; // the class's only pool: keep it for the next allocation
                }
                self.unlink_used(pool);
                self.return_pool(pool);
            }
        }
    }

    unsafe fn link_used(&mut self, pool: *mut Pool, class: usize) {
        let head = self.used[class];
        // SAFETY: owner-only access to linked pools.
        unsafe {
            (*pool).next = head;
            (*pool).prev = ptr::null_mut();
            if !head.is_null() {
                (*head).prev = pool;
            }
        }
        self.used[class] = pool;
    }

    unsafe fn unlink_used(&mut self, pool: *mut Pool) {
        // SAFETY: `pool` is linked in used[class] (caller); owner-only access.
        unsafe {
            let (next, prev) = ((*pool).next, (*pool).prev);
            if prev.is_null() {
                self.used[(*pool).class as usize] = next;
            } else {
                (*prev).next = next;
            }
            if !next.is_null() {
                (*next).prev = prev;
            }
            (*pool).next = ptr::null_mut();
            (*pool).prev = ptr::null_mut();
        }
    }

    /// The slow path of `alloc_small`: remote frees, then a new pool.
    #[cold]
    #[inline(never)]
    fn alloc_slow(&mut self, class: usize, remote: &AtomicPtr<u8>) -> *mut u8 {
        #[cfg(coil_debug_full)]
        self.check_invariants();
        if !remote.load(Ordering::Relaxed).is_null() {
            self.drain_remote(remote);
            if !self.used[class].is_null() {
                return self.alloc_small(class, remote);
            }
        }
        let pool = self.new_pool();
        if pool.is_null() {
            return pool.cast();
        }
        // SAFETY: `new_pool` gave us an unlinked pool slot of a live arena of ours.
        unsafe {
            pool::init(pool, class, self.me);
            self.link_used(pool, class);
        }
        self.alloc_small(class, remote)
    }

    /// Frees every block on the remote list into its pool.
    pub(crate) fn drain_remote(&mut self, remote: &AtomicPtr<u8>) {
        let mut b = remote.swap(ptr::null_mut(), Ordering::Acquire);
        while !b.is_null() {
            // SAFETY: every entry was a live block of a pool of ours when pushed
            // (push_remote's contract); the Acquire swap makes the links visible.
            unsafe {
                let next = b.cast::<*mut u8>().read();
                self.dealloc_to_pool(b);
                b = next;
            }
        }
    }

    /// An unlinked pool slot: from the fullest usable arena, else the reserve, else a
    /// new arena. Null on OOM.
    fn new_pool(&mut self) -> *mut Pool {
        let mut a = self.usable;
        if a.is_null() {
            a = self.reserve;
            if a.is_null() {
                a = self.new_arena();
                if a.is_null() {
                    return ptr::null_mut();
                }
            } else {
                // SAFETY: reserve arenas are live and ours.
                self.reserve = unsafe { (*a).next };
                self.nreserve -= 1;
            }
            // SAFETY: `a` is live, ours, and on no usable/reserve list now.
            unsafe {
                (*a).next = ptr::null_mut();
                (*a).prev = ptr::null_mut();
            }
            self.usable = a;
        }
        // SAFETY: `a` is the head of our usable list (free pools > 0, invariant 3).
        unsafe {
            let pool = arena::take_pool(a);
            debug_assert!(!pool.is_null());
            if (*a).nfreepools == 0 {
                self.unlink_usable(a);
            }
            pool
        }
    }

    fn new_arena(&mut self) -> *mut Arena {
        let base = sys::map_arena();
        if base.is_null() {
            return ptr::null_mut();
        }
        if self.unmapped_since_map > 0 {
            // Mapping again what was just unmapped: this heap churns in batches
            // bigger than its reserve; keep that many more next time.
            self.reserve_cap = (self.reserve_cap + self.unmapped_since_map).min(ARENA_RESERVE_MAX);
            self.unmapped_since_map = 0;
        }
        arena_map::insert(base);
        // Block and header pointers are re-derived from this provenance (pool_of).
        let _ = base.expose_provenance();
        // SAFETY: a fresh mapping.
        let a = unsafe { arena::init(base) };
        // SAFETY: `a` is a fresh header; `self.all` holds live arenas of ours.
        unsafe {
            (*a).all_next = self.all;
            if !self.all.is_null() {
                (*self.all).all_prev = a;
            }
        }
        self.all = a;
        self.arenas_allocated += 1;
        self.arenas_live += 1;
        self.arenas_highwater = self.arenas_highwater.max(self.arenas_live);
        a
    }

    unsafe fn unlink_usable(&mut self, a: *mut Arena) {
        // SAFETY: `a` is on the usable list (caller).
        unsafe {
            let (next, prev) = ((*a).next, (*a).prev);
            if prev.is_null() {
                self.usable = next;
            } else {
                (*prev).next = next;
            }
            if !next.is_null() {
                (*next).prev = prev;
            }
            (*a).next = ptr::null_mut();
            (*a).prev = ptr::null_mut();
        }
    }

    /// Inserts `a` into the usable list keeping it sorted, searching from `after`
    /// (null: from the head).
    unsafe fn insert_usable(&mut self, a: *mut Arena, after: *mut Arena) {
        // SAFETY: `a` is on no list; all listed arenas are live and ours.
        unsafe {
            let nfree = (*a).nfreepools;
            let mut prev = after;
            let mut next = if after.is_null() {
                self.usable
            } else {
                (*after).next
            };
            while !next.is_null() && (*next).nfreepools < nfree {
                prev = next;
                next = (*next).next;
            }
            (*a).prev = prev;
            (*a).next = next;
            if prev.is_null() {
                self.usable = a;
            } else {
                (*prev).next = a;
            }
            if !next.is_null() {
                (*next).prev = a;
            }
        }
    }

    /// Gives an empty, unlinked pool back to its arena and re-sorts the arena.
    unsafe fn return_pool(&mut self, pool: *mut Pool) {
        let a = arena_of(pool);
        // SAFETY: the pool is empty and unlinked (caller); the arena is live and ours.
        unsafe {
            let was_full = (*a).nfreepools == 0;
            arena::give_pool(pool);
            let nfree = (*a).nfreepools as usize;
            if nfree == POOLS_PER_ARENA {
                if !was_full {
                    self.unlink_usable(a);
                }
                self.retire_arena(a);
            } else if was_full {
                self.insert_usable(a, ptr::null_mut());
            } else {
                let next = (*a).next;
                if !next.is_null() && (*next).nfreepools < (*a).nfreepools {
                    let prev = (*a).prev;
                    self.unlink_usable(a);
                    self.insert_usable(a, prev);
                }
            }
        }
    }

    /// An arena became empty: keep it in the reserve, or give it back to the OS.
    unsafe fn retire_arena(&mut self, a: *mut Arena) {
        if self.nreserve < self.reserve_cap {
            // SAFETY: `a` is live, ours, on no list.
            unsafe { (*a).next = self.reserve };
            self.reserve = a;
            self.nreserve += 1;
        } else {
            // SAFETY: as above; it holds no live block.
            unsafe { self.release_arena(a) };
            self.unmapped_since_map += 1;
        }
    }

    unsafe fn release_arena(&mut self, a: *mut Arena) {
        // SAFETY: `a` is live, ours, empty and on no usable/reserve list (caller).
        unsafe {
            let (next, prev) = ((*a).all_next, (*a).all_prev);
            if prev.is_null() {
                self.all = next;
            } else {
                (*prev).all_next = next;
            }
            if !next.is_null() {
                (*next).all_prev = prev;
            }
            arena_map::remove(a.cast());
            sys::unmap_arena(a.cast());
        }
        self.arenas_freed += 1;
        self.arenas_live -= 1;
    }

    /// Takes in remote frees and sends every cached block home (to its pool, or to its
    /// owner's remote list): what a heap does before it is abandoned. Keeps the base
    /// reserve ([`ARENA_RESERVE`] arenas; a grown one shrinks back, since no thread
    /// churns on this heap until one adopts it) and resident free pools, so a thread
    /// that replaces it starts warm.
    pub(crate) fn flush(&mut self, remote: &AtomicPtr<u8>) {
        self.drain_remote(remote);
        self.flush_all_caches();
        self.shrink_reserve(ARENA_RESERVE);
    }

    /// Unmaps reserve arenas until at most `keep` are left, and resets the reserve's
    /// size to its base. Returns the bytes released.
    fn shrink_reserve(&mut self, keep: usize) -> usize {
        self.reserve_cap = ARENA_RESERVE;
        self.unmapped_since_map = 0;
        let mut released = 0;
        while self.nreserve > keep {
            let a = self.reserve;
            // SAFETY: reserve arenas are live, ours and empty.
            unsafe {
                self.reserve = (*a).next;
                self.nreserve -= 1;
                released += ARENA_SIZE;
                self.release_arena(a);
            }
        }
        released
    }

    /// Gives cached memory back to the OS: kept-empty pools, reserve arenas, and the
    /// pages of free pools in partly used arenas. Returns the bytes released.
    pub(crate) fn trim(&mut self, remote: &AtomicPtr<u8>) -> usize {
        self.drain_remote(remote);
        self.flush_all_caches();
        #[cfg(coil_debug_full)]
        self.check_invariants();
        for class in 0..NB_SMALL_SIZE_CLASSES {
            let p = self.used[class];
            // SAFETY: pools in used[] are live and ours.
            unsafe {
                if !p.is_null() && (*p).count == 0 && (*p).next.is_null() {
                    self.unlink_used(p);
                    self.return_pool(p);
                }
            }
        }
        // The caller asks for memory back: all of the reserve goes.
        let mut released = self.shrink_reserve(0);
        let mut a = self.all;
        while !a.is_null() {
            // SAFETY: arenas on `all` are live and ours.
            unsafe {
                released += arena::decommit_free_pools(a);
                a = (*a).all_next;
            }
        }
        released
    }

    /// Unmaps every arena (the heap is going away).
    fn release_all(&mut self) {
        while !self.all.is_null() {
            let a = self.all;
            // SAFETY: arenas on `all` are live and ours; the caller gives up every block.
            unsafe {
                self.all = (*a).all_next;
                arena_map::remove(a.cast());
                sys::unmap_arena(a.cast());
            }
            self.arenas_freed += 1;
        }
        self.arenas_live = 0;
        for c in &mut self.cache {
            c.n = 0;
        }
        self.used = [ptr::null_mut(); NB_SMALL_SIZE_CLASSES];
        self.usable = ptr::null_mut();
        self.reserve = ptr::null_mut();
        self.nreserve = 0;
    }

    /// Validates the invariants of this module, of `pool` and of `arena`; panics with
    /// the broken one. Walks every list, so it is for tests and debugging; builds with
    /// `--cfg coil_debug_full` also run it on every allocation slow path and trim.
    pub(crate) fn check_invariants(&self) {
        for (class, c) in self.cache.iter().enumerate() {
            assert!(c.n <= FREE_CACHE_SIZE, "cache {class} overfull");
        }
        for (class, &head) in self.used.iter().enumerate() {
            let mut prev: *mut Pool = ptr::null_mut();
            let mut p = head;
            while !p.is_null() {
                // SAFETY: pools on used lists are live and ours (invariant 2).
                unsafe {
                    assert_eq!((*p).class as usize, class, "pool on the wrong used list");
                    assert_eq!((*p).owner, self.me, "pool of another heap on a used list");
                    assert!(!(*p).free.is_null(), "used pool without a free block");
                    assert_eq!((*p).prev, prev, "used list back link");
                    assert!((*p).count as usize <= blocks_per_pool(class));
                    let mut q = (*p).free;
                    let mut n = 0;
                    while !q.is_null() {
                        let off = q as usize - p as usize;
                        assert!(
                            off < (*p).next_offset as usize,
                            "free block past carving mark"
                        );
                        n += 1;
                        assert!(n <= blocks_per_pool(class), "free list cycle");
                        q = q.cast::<*mut u8>().read();
                    }
                    prev = p;
                    p = (*p).next;
                }
            }
        }
        let mut a = self.usable;
        let mut last = 0;
        let mut prev: *mut Arena = ptr::null_mut();
        while !a.is_null() {
            // SAFETY: arenas on the usable list are live and ours.
            unsafe {
                let nfree = (*a).nfreepools;
                assert!(nfree >= last, "usable arenas not sorted fullest first");
                assert!(nfree > 0 && (nfree as usize) < POOLS_PER_ARENA + 1);
                assert_eq!((*a).prev, prev, "usable list back link");
                last = nfree;
                prev = a;
                a = (*a).next;
            }
        }
        let mut a = self.all;
        let mut n = 0;
        while !a.is_null() {
            // SAFETY: arenas on `all` are live and ours.
            unsafe {
                let fresh = POOLS_PER_ARENA + 1 - (*a).next_fresh as usize;
                assert_eq!(
                    (*a).nfreepools as usize,
                    (*a).freed.count_ones() as usize + fresh,
                    "arena free-pool count"
                );
                n += 1;
                a = (*a).all_next;
            }
        }
        assert_eq!(n, self.arenas_live, "arena count");
        let mut r = self.reserve;
        let mut nr = 0;
        while !r.is_null() {
            // SAFETY: reserve arenas are live and ours.
            unsafe {
                assert_eq!(
                    (*r).nfreepools as usize,
                    POOLS_PER_ARENA,
                    "non-empty reserve arena"
                );
                r = (*r).next;
            }
            nr += 1;
        }
        assert_eq!(nr, self.nreserve, "reserve count");
        assert!(nr <= self.reserve_cap && self.reserve_cap <= ARENA_RESERVE_MAX);
    }

    /// Adds this heap's figures to `s`.
    pub(crate) fn add_stats(&self, s: &mut Stats) {
        s.arenas_allocated += self.arenas_allocated;
        s.arenas_freed += self.arenas_freed;
        s.arenas_in_use += self.arenas_live;
        s.arenas_highwater += self.arenas_highwater;
        s.arenas_reserved += self.nreserve;
        s.large_blocks += self.large_count;
        s.large_bytes += self.large_bytes;
        let mut a = self.all;
        while !a.is_null() {
            // SAFETY: arenas on `all` are live and ours; carved pools below
            // `next_fresh` that are not in `freed` are initialised.
            unsafe {
                s.pools_free += (*a).nfreepools as usize;
                for idx in 1..(*a).next_fresh as usize {
                    if (*a).freed & (1u64 << idx) != 0 {
                        continue;
                    }
                    let p = arena::pool_at(a, idx);
                    let class = (*p).class as usize;
                    let c: &mut ClassStats = &mut s.classes[class];
                    c.pools += 1;
                    c.blocks_in_use += (*p).count as usize;
                    c.blocks_free += pool::free_blocks(p);
                }
                a = (*a).all_next;
            }
        }
        for (class, c) in s.classes.iter_mut().enumerate() {
            let cache = &self.cache[class];
            for &b in &cache.slots[..cache.n] {
                // SAFETY: cached blocks are live (invariant 5); `owner` is stable.
                if unsafe { (*pool_of(b)).owner } == self.me {
                    c.blocks_in_use -= 1;
                    c.blocks_free += 1;
                }
            }
        }
        for (class, c) in s.classes.iter_mut().enumerate() {
            c.size = class_size(class);
            debug_assert!(c.blocks_in_use + c.blocks_free == c.pools * blocks_per_pool(class));
        }
    }
}

/// The heap owning the pool that holds `p`, if `p` is inside a live arena's pool.
pub(crate) fn owner_of(p: *const u8) -> Option<*const HeapBox> {
    let addr = p as usize;
    if !arena_map::contains(addr) || (addr & (ARENA_SIZE - 1)) < crate::geometry::POOL_SIZE {
        return None;
    }
    let pool = pool_of(p.cast_mut());
    // SAFETY: the arena is live (map invariant 1), so the header is readable.
    let owner = unsafe { (*pool).owner };
    if owner.is_null() { None } else { Some(owner) }
}
