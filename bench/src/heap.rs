//! The heap suite's workloads, shared by `benches/heap.rs` (criterion) and
//! `src/bin/heap_rss.rs` (resident memory).
//!
//! Every allocator is driven through [`RawAlloc`], a two-method face over
//! `GlobalAlloc` and over coil's unsynchronized `Heap`; the workload functions
//! are generic over it, so each allocator gets its own monomorphized loop and
//! none pays for dynamic dispatch. No allocator is installed as the process's
//! global allocator: the benches' own bookkeeping (the slot vectors) uses the
//! system allocator for every implementation alike.
//!
//! # Invariants
//!
//! - A pointer stored in a [`Churn`] or [`ThreadsChurn`] slot is a live
//!   allocation of that workload's allocator, with the layout
//!   `(slot size, ALIGN)`, and is freed exactly once: by the step that replaces
//!   it or by the workload's `Drop`.
//! - [`ThreadsChurn`] only takes allocators that are `Sync` and free blocks
//!   allocated by another thread (every `GlobalAlloc` does).

use std::{
    alloc::{GlobalAlloc, Layout, System},
    hint::black_box,
    ptr::{self, NonNull},
    sync::{Barrier, Mutex},
    thread,
    time::{Duration, Instant},
};

use crate::rng::Rng;

/// The object sizes of `alloc-free-<size>`.
pub const ALLOC_FREE_SIZES: [usize; 6] = [16, 32, 64, 128, 256, 512];
/// Live objects in `churn-live` (and in total, over both threads, in `churn-threads`).
pub const CHURN_LIVE: usize = 1_000_000;
/// Smallest object of the churn workloads.
pub const CHURN_MIN: usize = 8;
/// Largest object of the churn workloads.
pub const CHURN_MAX: usize = 512;
/// Alignment of every churn object.
pub const ALIGN: usize = 8;
/// Steps each thread runs on one live set before the two threads swap sets in
/// `churn-threads`.
pub const ROUND: u64 = 4096;

/// An allocator as the workloads see it.
pub trait RawAlloc {
    /// The implementation's name in the report: `coil`, `glibc`, ...
    fn name(&self) -> &'static str;

    /// Allocates a block for `layout`; null when out of memory.
    ///
    /// # Safety
    ///
    /// `layout` has a non-zero size.
    unsafe fn alloc(&self, layout: Layout) -> *mut u8;

    /// Frees a block.
    ///
    /// # Safety
    ///
    /// `ptr` came from [`RawAlloc::alloc`] of this allocator with this `layout`
    /// and is not used afterwards.
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout);

    /// Gives free memory back to the OS where the allocator offers a call for
    /// it, and says whether it did.
    fn trim(&self) -> bool {
        false
    }
}

/// A `GlobalAlloc` peer, called through its `GlobalAlloc` methods, with the
/// call it offers to give free memory back to the OS, if any.
#[derive(Debug)]
pub struct Global<A> {
    name: &'static str,
    alloc: A,
    trim: Option<fn()>,
}

impl<A: GlobalAlloc> Global<A> {
    /// Wraps `alloc` under the report name `name`, with `trim` as its call
    /// to return free memory to the OS.
    pub const fn new(name: &'static str, alloc: A, trim: Option<fn()>) -> Self {
        Global { name, alloc, trim }
    }
}

impl<A: GlobalAlloc> RawAlloc for Global<A> {
    fn name(&self) -> &'static str {
        self.name
    }

    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller guarantees a non-zero size, GlobalAlloc's only
        // requirement on `alloc`.
        unsafe { self.alloc.alloc(layout) }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller guarantees `ptr` came from this allocator with
        // `layout` and is freed once.
        unsafe { self.alloc.dealloc(ptr, layout) }
    }

    fn trim(&self) -> bool {
        self.trim.map(|f| f()).is_some()
    }
}

/// glibc's `malloc_trim(0)`: releases free memory at the top of the heap and
/// whole free pages inside it.
fn glibc_trim() {
    unsafe extern "C" {
        fn malloc_trim(pad: usize) -> i32;
    }
    // SAFETY: malloc_trim only releases free memory of glibc's heap; it has no
    // preconditions.
    unsafe { malloc_trim(0) };
}

/// mimalloc's `mi_collect(true)`: frees what it caches and purges free pages.
fn mimalloc_trim() {
    // SAFETY: mi_collect has no preconditions; `force` makes it purge now.
    unsafe { libmimalloc_sys::mi_collect(true) };
}

/// jemalloc's `arena.<all>.purge` mallctl: purges unused dirty pages of every
/// arena.
fn jemalloc_trim() {
    const PURGE_ALL: &[u8] = b"arena.4096.purge\0"; // 4096 = MALLCTL_ARENAS_ALL
    // SAFETY: the name is NUL-terminated; a purge takes no old or new value,
    // so all value pointers are null and the length 0.
    unsafe {
        tikv_jemalloc_sys::mallctl(
            PURGE_ALL.as_ptr().cast(),
            ptr::null_mut(),
            ptr::null_mut(),
            ptr::null_mut(),
            0,
        )
    };
}

/// coil's unsynchronized heap (`coil_heap::Heap`), through its inherent methods.
#[derive(Debug, Default)]
pub struct CoilHeap(pub coil_heap::Heap);

impl RawAlloc for CoilHeap {
    fn name(&self) -> &'static str {
        "coil"
    }

    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.0.alloc(layout).map_or(ptr::null_mut(), |p| p.as_ptr())
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        debug_assert!(!ptr.is_null());
        // SAFETY: the caller guarantees `ptr` came from `alloc` of this heap
        // with `layout` (so it is non-null) and is freed once.
        unsafe { self.0.dealloc(NonNull::new_unchecked(ptr), layout) }
    }

    fn trim(&self) -> bool {
        self.0.trim();
        true
    }
}

/// coil's unsynchronized heap behind a `std::sync::Mutex`, the way a runtime
/// shares one heap under a GIL: every call takes the lock. Only in
/// `churn-threads`, where the plain `Heap` cannot take cross-thread frees.
#[derive(Debug, Default)]
pub struct CoilLocked(pub Mutex<coil_heap::Heap>);

impl CoilLocked {
    fn heap(&self) -> std::sync::MutexGuard<'_, coil_heap::Heap> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl RawAlloc for CoilLocked {
    fn name(&self) -> &'static str {
        "coil-locked"
    }

    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.heap()
            .alloc(layout)
            .map_or(ptr::null_mut(), |p| p.as_ptr())
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        debug_assert!(!ptr.is_null());
        // SAFETY: the caller guarantees `ptr` came from `alloc` of this heap
        // with `layout` (so it is non-null) and is freed once; the lock makes
        // this thread the heap's only user for the call.
        unsafe { self.heap().dealloc(NonNull::new_unchecked(ptr), layout) }
    }

    fn trim(&self) -> bool {
        self.heap().trim();
        true
    }
}

/// coil's thread-safe global allocator (`coil_heap::GlobalHeap`), through its
/// `GlobalAlloc` methods, with `GlobalHeap::trim` as its trim call.
#[derive(Debug, Default)]
pub struct CoilGlobal;

impl RawAlloc for CoilGlobal {
    fn name(&self) -> &'static str {
        "coil-global"
    }

    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller guarantees a non-zero size.
        unsafe { GlobalAlloc::alloc(&coil_heap::GlobalHeap, layout) }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller guarantees `ptr` came from `alloc` with `layout`
        // and is freed once.
        unsafe { GlobalAlloc::dealloc(&coil_heap::GlobalHeap, ptr, layout) }
    }

    fn trim(&self) -> bool {
        coil_heap::GlobalHeap::trim();
        true
    }
}

/// glibc's malloc, through `std::alloc::System`.
pub const GLIBC: Global<System> = Global::new("glibc", System, Some(glibc_trim));
/// mimalloc, through `mimalloc::MiMalloc`.
pub const MIMALLOC: Global<mimalloc::MiMalloc> =
    Global::new("mimalloc", mimalloc::MiMalloc, Some(mimalloc_trim));
/// jemalloc, through `tikv_jemallocator::Jemalloc`.
pub const JEMALLOC: Global<tikv_jemallocator::Jemalloc> =
    Global::new("jemalloc", tikv_jemallocator::Jemalloc, Some(jemalloc_trim));

/// Something that runs a workload on one allocator; see [`each_impl`].
pub trait Visit {
    /// Runs on `alloc`.
    fn visit<A: RawAlloc>(&mut self, alloc: &A);
}

/// Something that runs a workload on one thread-safe allocator; see
/// [`each_shared_impl`].
pub trait VisitShared {
    /// Runs on `alloc`.
    fn visit<A: RawAlloc + Sync>(&mut self, alloc: &A);
}

/// Calls `v` with every implementation, coil's first, in report order.
pub fn each_impl(v: &mut impl Visit) {
    v.visit(&CoilHeap::default());
    v.visit(&CoilGlobal);
    v.visit(&GLIBC);
    v.visit(&MIMALLOC);
    v.visit(&JEMALLOC);
}

/// Calls `v` with every thread-safe implementation, coil's first.
pub fn each_shared_impl(v: &mut impl VisitShared) {
    v.visit(&CoilGlobal);
    v.visit(&CoilLocked::default());
    v.visit(&GLIBC);
    v.visit(&MIMALLOC);
    v.visit(&JEMALLOC);
}

/// The names [`each_impl`] visits, in order.
pub fn impl_names() -> Vec<&'static str> {
    struct Names(Vec<&'static str>);
    impl Visit for Names {
        fn visit<A: RawAlloc>(&mut self, alloc: &A) {
            self.0.push(alloc.name());
        }
    }
    let mut names = Names(Vec::new());
    each_impl(&mut names);
    names.0
}

/// A churn layout: `size` bytes aligned to [`ALIGN`].
#[inline]
fn churn_layout(size: usize) -> Layout {
    debug_assert!((CHURN_MIN..=CHURN_MAX).contains(&size));
    // SAFETY: ALIGN is a power of two and size <= CHURN_MAX is far below
    // isize::MAX rounded to ALIGN.
    unsafe { Layout::from_size_align_unchecked(size, ALIGN) }
}

/// Allocates for `layout` or panics with the allocator's name (the workloads
/// never run near memory exhaustion).
///
/// # Safety
///
/// `layout` has a non-zero size.
#[inline]
unsafe fn must_alloc<A: RawAlloc>(a: &A, layout: Layout) -> *mut u8 {
    // SAFETY: forwarded from the caller.
    let p = unsafe { a.alloc(layout) };
    assert!(!p.is_null(), "{}: out of memory for {layout:?}", a.name());
    p
}

/// One `alloc-free-<size>` operation: allocate `layout` and free it at once.
///
/// # Examples
///
/// ```
/// use std::alloc::Layout;
/// use coil_bench::heap::{alloc_free, GLIBC};
/// alloc_free(&GLIBC, Layout::from_size_align(64, 8).unwrap());
/// ```
#[inline]
pub fn alloc_free<A: RawAlloc>(a: &A, layout: Layout) {
    assert!(layout.size() > 0);
    // SAFETY: the size is non-zero (checked above).
    let p = unsafe { must_alloc(a, layout) };
    let p = black_box(p);
    // SAFETY: `p` came from `a` with `layout` and is freed once.
    unsafe { a.dealloc(p, layout) };
}

/// One object of a churn workload.
#[derive(Debug, Clone, Copy)]
struct Slot {
    ptr: *mut u8,
    size: u32,
}

/// Allocates one churn object of random size, writing its first and last byte
/// as a program initialising an object would.
#[inline]
fn churn_object<A: RawAlloc>(a: &A, rng: &mut Rng) -> Slot {
    let size = rng.between(CHURN_MIN as u64, CHURN_MAX as u64) as usize;
    // SAFETY: size >= CHURN_MIN > 0.
    let ptr = unsafe { must_alloc(a, churn_layout(size)) };
    // SAFETY: the block holds `size` bytes, so offsets 0 and size - 1 are in it.
    unsafe {
        ptr.write(size as u8);
        ptr.add(size - 1).write(0);
    }
    Slot {
        ptr,
        size: size as u32,
    }
}

/// Frees one churn object.
///
/// # Safety
///
/// `slot` holds a live allocation of `a` (the module invariant) that is not
/// used afterwards.
#[inline]
unsafe fn free_object<A: RawAlloc>(a: &A, slot: Slot) {
    // SAFETY: forwarded from the caller; the layout is the one it was made with.
    unsafe { a.dealloc(slot.ptr, churn_layout(slot.size as usize)) };
}

/// `churn-live`: a live set of objects of random size 8..=512; each
/// [`Churn::step`] frees a random one and allocates a new one in its place.
///
/// # Examples
///
/// ```
/// use coil_bench::heap::{Churn, GLIBC};
/// let mut churn = Churn::new(&GLIBC, 1000, 1);
/// for _ in 0..10_000 {
///     churn.step();
/// }
/// assert_eq!(churn.live(), 1000);
/// ```
pub struct Churn<'a, A: RawAlloc> {
    alloc: &'a A,
    slots: Vec<Slot>,
    rng: Rng,
}

impl<'a, A: RawAlloc> Churn<'a, A> {
    /// Allocates `live` objects (at least one) from `alloc`.
    pub fn new(alloc: &'a A, live: usize, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let slots = (0..live.max(1))
            .map(|_| churn_object(alloc, &mut rng))
            .collect();
        Churn { alloc, slots, rng }
    }

    /// Frees a random object and allocates a new one of random size.
    #[inline]
    pub fn step(&mut self) {
        let i = self.rng.below(self.slots.len() as u64) as usize;
        let fresh = churn_object(self.alloc, &mut self.rng);
        let old = std::mem::replace(&mut self.slots[i], fresh);
        // SAFETY: `old` was a live allocation of `self.alloc` stored in the
        // slot; it left the slot above, so it is freed exactly once.
        unsafe { free_object(self.alloc, old) };
    }

    /// The number of live objects.
    pub fn live(&self) -> usize {
        self.slots.len()
    }
}

impl<A: RawAlloc> Drop for Churn<'_, A> {
    fn drop(&mut self) {
        for slot in self.slots.drain(..) {
            // SAFETY: every slot holds a live allocation of `self.alloc`,
            // drained so it is freed once.
            unsafe { free_object(self.alloc, slot) };
        }
    }
}

/// One thread's live set in `churn-threads`.
struct LiveSet(Vec<Slot>);

// SAFETY: the raw pointers are allocations of a `Sync` allocator that frees
// blocks from any thread (ThreadsChurn's bound); a LiveSet is only touched by
// the thread holding its mutex.
unsafe impl Send for LiveSet {}

/// `churn-threads`: two threads, each churning its own live set of
/// `live / 2` objects; after every [`ROUND`] steps the threads swap live sets,
/// so about half of all frees are of blocks the other thread allocated.
///
/// # Examples
///
/// ```
/// use coil_bench::heap::{ThreadsChurn, GLIBC};
/// let mut churn = ThreadsChurn::new(&GLIBC, 2000, 1);
/// let took = churn.run(10_000);
/// assert!(took.as_nanos() > 0);
/// ```
pub struct ThreadsChurn<'a, A: RawAlloc + Sync> {
    alloc: &'a A,
    sets: [Mutex<LiveSet>; 2],
    seed: u64,
}

impl<'a, A: RawAlloc + Sync> ThreadsChurn<'a, A> {
    /// Allocates `live` objects in two live sets.
    pub fn new(alloc: &'a A, live: usize, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let mut set = || {
            let n = (live / 2).max(1);
            Mutex::new(LiveSet(
                (0..n).map(|_| churn_object(alloc, &mut rng)).collect(),
            ))
        };
        let sets = [set(), set()];
        ThreadsChurn { alloc, sets, seed }
    }

    /// Runs `ops` steps on each of the two threads at once and returns the
    /// wall time of the slower thread, from a common start (thread start-up
    /// is not timed).
    pub fn run(&mut self, ops: u64) -> Duration {
        self.seed = self.seed.wrapping_add(1);
        let start = Barrier::new(2);
        let swap = Barrier::new(2);
        let rounds = ops.div_ceil(ROUND);
        let (alloc, sets, seed) = (self.alloc, &self.sets, self.seed);
        let took = thread::scope(|s| {
            let workers: Vec<_> = (0..2usize)
                .map(|t| {
                    let (start, swap) = (&start, &swap);
                    s.spawn(move || {
                        let mut rng = Rng::new(seed.wrapping_mul(31).wrapping_add(t as u64));
                        start.wait();
                        let t0 = Instant::now();
                        let mut left = ops;
                        for r in 0..rounds {
                            let n = left.min(ROUND);
                            left -= n;
                            {
                                let mut set = sets[(t + r as usize) % 2].lock().unwrap();
                                let len = set.0.len() as u64;
                                for _ in 0..n {
                                    let i = rng.below(len) as usize;
                                    let fresh = churn_object(alloc, &mut rng);
                                    let old = std::mem::replace(&mut set.0[i], fresh);
                                    // SAFETY: `old` left its slot, so this is
                                    // its one free; `alloc` frees blocks of
                                    // any thread (module invariant).
                                    unsafe { free_object(alloc, old) };
                                }
                            }
                            swap.wait();
                        }
                        t0.elapsed()
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().unwrap())
                .max()
                .unwrap_or_default()
        });
        black_box(&self.sets);
        took
    }
}

impl<A: RawAlloc + Sync> Drop for ThreadsChurn<'_, A> {
    fn drop(&mut self) {
        for set in &mut self.sets {
            let set = set.get_mut().unwrap_or_else(|e| e.into_inner());
            for slot in set.0.drain(..) {
                // SAFETY: every slot holds a live allocation of `self.alloc`,
                // drained so it is freed once.
                unsafe { free_object(self.alloc, slot) };
            }
        }
    }
}

/// The figures of one `rss-after-free` run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RssFigures {
    /// RSS before anything was allocated (the slot vector is already touched).
    pub baseline: u64,
    /// RSS with all objects live.
    pub full: u64,
    /// RSS right after the frees returned.
    pub after_free: u64,
    /// RSS after the allocator's trim call, if it has one.
    pub after_trim: Option<u64>,
}

/// How `rss-after-free` picks the objects it frees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreeOrder {
    /// A random 90 % (`rss-after-free`).
    Random,
    /// The oldest 90 %, in allocation order (`rss-after-free-ordered`).
    Oldest,
}

/// Objects of `rss-after-free`.
pub const RSS_OBJECTS: usize = 2_000_000;
/// Object size of `rss-after-free`.
pub const RSS_SIZE: usize = 64;

/// Allocates `count` objects of [`RSS_SIZE`] bytes (each written), frees 90 %
/// of them in `order`, and reads the RSS along the way; `rss` is the reader
/// (normally [`crate::proc::resident_bytes`]). Frees the rest before
/// returning.
pub fn rss_after_free<A: RawAlloc>(
    a: &A,
    count: usize,
    order: FreeOrder,
    seed: u64,
    rss: impl Fn() -> u64,
) -> RssFigures {
    let layout = Layout::from_size_align(RSS_SIZE, ALIGN).expect("valid layout");
    let mut ptrs: Vec<*mut u8> = vec![ptr::null_mut(); count];
    // Touch the vectors first so their pages are in the baseline.
    let mut order_idx: Vec<usize> = (0..count).collect();
    black_box(&mut ptrs);
    let baseline = rss();
    for p in ptrs.iter_mut() {
        // SAFETY: RSS_SIZE > 0.
        let q = unsafe { must_alloc(a, layout) };
        // SAFETY: the block holds RSS_SIZE bytes.
        unsafe { q.write_bytes(0xa5, RSS_SIZE) };
        *p = q;
    }
    let full = rss();
    if order == FreeOrder::Random {
        Rng::new(seed).shuffle(&mut order_idx);
    }
    let freed = count - count / 10;
    for &i in &order_idx[..freed] {
        // SAFETY: ptrs[i] is a live allocation of `a` with `layout`; it is
        // nulled so the final loop skips it.
        unsafe { a.dealloc(ptrs[i], layout) };
        ptrs[i] = ptr::null_mut();
    }
    let after_free = rss();
    let after_trim = a.trim().then(&rss);
    for p in ptrs.into_iter().filter(|p| !p.is_null()) {
        // SAFETY: the remaining non-null pointers are live allocations of `a`.
        unsafe { a.dealloc(p, layout) };
    }
    RssFigures {
        baseline,
        full,
        after_free,
        after_trim,
    }
}
