//! Object spaces: [`Space`] owns the generations, the thresholds and
//! counts, the statistics, `garbage`, the callbacks and the collector.
//!
//! A space is a value, so a runtime can own one and share it under its own
//! lock (a GIL); [`Space::with_default`] gives each thread a default space,
//! which `Gc::new` uses. Objects reach their space only through the list
//! links of their generation; dropping a `Space` (the default one at thread
//! exit) runs a full collection and then *detaches* the survivors: they
//! become plain counted objects.
//!
//! # Invariants
//!
//! 1. `SpaceState` lives at a stable address (boxed) for as long as any
//!    object is tracked in it.
//! 2. Generation `i`'s `count` is: for 0, tracked allocations since the last
//!    collection of 0 (CPython 3.11 also subtracts deallocations; coil does
//!    not, so an object needs no pointer back to its space and the gc head
//!    stays at four words — a young collection triggered by objects that
//!    already died by their counts walks an almost empty list); for 1 and 2,
//!    collections of the generation below since their own last one.
//! 3. The space is used by one thread only (`Space` and handles are `!Send`).

use core::{
    cell::{Cell, RefCell},
    ptr::{self, NonNull},
};
use std::{collections::HashSet, rc::Rc, time::Instant};

use coil_refcount::Flags;

use crate::{
    CallbackInfo, Collector, DebugFlags, Error, GenStats, Generational, Increment, Object,
    PauseStats, Phase, Seeds, collect,
    head::{self, GcHead},
    trace::{Op, Visitor},
};

/// CPython 3.11's default thresholds.
pub const DEFAULT_THRESHOLDS: (usize, usize, usize) = (700, 10, 10);

type CallbackFn = Rc<dyn Fn(Phase, &CallbackInfo)>;

pub(crate) struct GenState {
    pub(crate) head: GcHead,
    pub(crate) threshold: Cell<usize>,
    pub(crate) count: Cell<usize>,
}

impl GenState {
    fn new(threshold: usize) -> Self {
        GenState {
            head: GcHead::new(&head::SENTINEL_VTABLE, 0),
            threshold: Cell::new(threshold),
            count: Cell::new(0),
        }
    }
}

pub(crate) struct SpaceState {
    /// Unique id, stored in each tracked object's head.
    pub(crate) id: u32,
    pub(crate) gens: [GenState; 3],
    pub(crate) permanent: GenState,
    enabled: Cell<bool>,
    pub(crate) collecting: Cell<bool>,
    usable: Cell<bool>,
    /// The decref epoch when a collection of generation >= g last started.
    pub(crate) epoch_at: [Cell<u64>; 3],
    /// The incremental collector's visited old space: generation 1 or 2
    /// (the other one is pending).
    pub(crate) visited_gen: Cell<u32>,
    /// The decref epoch when the incremental collector's current pass (or
    /// the last full collection) started; `u64::MAX`: unknown.
    pub(crate) pass_epoch: Cell<u64>,
    pub(crate) long_lived_total: Cell<usize>,
    pub(crate) long_lived_pending: Cell<usize>,
    stats: [Cell<GenStats>; 3],
    pub(crate) debug: Cell<DebugFlags>,
    pub(crate) garbage: RefCell<Vec<Object>>,
    callbacks: RefCell<Vec<(u64, CallbackFn)>>,
    next_callback: Cell<u64>,
    collector: RefCell<Option<Box<dyn Collector>>>,
    collector_name: Cell<&'static str>,
    pauses: Cell<PauseStats>,
}

impl SpaceState {
    fn boxed(collector: Box<dyn Collector>) -> NonNull<SpaceState> {
        let (t0, t1, t2) = DEFAULT_THRESHOLDS;
        let name = collector.name();
        static NEXT_ID: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(1);
        let id = NEXT_ID.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
        let epoch = head::decref_epoch();
        let st = Box::new(SpaceState {
            id,
            gens: [GenState::new(t0), GenState::new(t1), GenState::new(t2)],
            permanent: GenState::new(0),
            enabled: Cell::new(true),
            collecting: Cell::new(false),
            usable: Cell::new(true),
            epoch_at: [Cell::new(epoch), Cell::new(epoch), Cell::new(epoch)],
            visited_gen: Cell::new(1),
            pass_epoch: Cell::new(u64::MAX),
            long_lived_total: Cell::new(0),
            long_lived_pending: Cell::new(0),
            stats: Default::default(),
            debug: Cell::new(DebugFlags::empty()),
            garbage: RefCell::new(Vec::new()),
            callbacks: RefCell::new(Vec::new()),
            next_callback: Cell::new(1),
            collector: RefCell::new(Some(collector)),
            collector_name: Cell::new(name),
            pauses: Cell::new(PauseStats::default()),
        });
        let p = NonNull::from(Box::leak(st));
        // SAFETY: the sentinels now have their final addresses (invariant 1).
        unsafe {
            let st = p.as_ref();
            for g in &st.gens {
                head::list_init(ptr::from_ref(&g.head).cast_mut());
            }
            head::list_init(ptr::from_ref(&st.permanent.head).cast_mut());
        }
        p
    }

    #[inline(always)]
    pub(crate) fn gen_head(&self, g: usize) -> *mut GcHead {
        ptr::from_ref(&self.gens[g].head).cast_mut()
    }

    fn perm_head(&self) -> *mut GcHead {
        ptr::from_ref(&self.permanent.head).cast_mut()
    }

    #[inline(always)]
    pub(crate) fn is_usable(&self) -> bool {
        self.usable.get()
    }

    /// Links a new object into generation 0 and counts it; may collect.
    ///
    /// # Safety
    ///
    /// `h` is a fresh live object of this space's thread, in no list.
    #[inline(always)]
    pub(crate) unsafe fn track_new(&self, h: NonNull<GcHead>) {
        // SAFETY: caller; the sentinel is initialised (boxed()).
        unsafe { head::list_append(h.as_ptr(), self.gen_head(0)) };
        let g0 = &self.gens[0];
        let c = g0.count.get() + 1;
        g0.count.set(c);
        if c > g0.threshold.get() {
            self.on_threshold();
        }
    }

    pub(crate) fn generation_lens(&self) -> [usize; 3] {
        // SAFETY: initialised sentinels of live objects.
        core::array::from_fn(|g| unsafe { head::list_len(self.gen_head(g)) })
    }

    #[cold]
    #[inline(never)]
    fn on_threshold(&self) {
        if !self.enabled.get() || self.collecting.get() || self.gens[0].threshold.get() == 0 {
            return;
        }
        let view = Space {
            state: NonNull::from(self),
            owned: false,
        };
        let Some(mut c) = self.collector.borrow_mut().take() else {
            return;
        };
        match c.on_threshold(&view) {
            Some(g) => {
                c.collect(&view, g.min(2));
            }
            // Declined: the young count restarts, so the collector is asked
            // again after another threshold's worth of allocations.
            None => self.gens[0].count.set(0),
        }
        *self.collector.borrow_mut() = Some(c);
    }

    fn run_callbacks(&self, phase: Phase, info: &CallbackInfo) {
        if self.callbacks.borrow().is_empty() {
            return;
        }
        let cbs: Vec<CallbackFn> = self
            .callbacks
            .borrow()
            .iter()
            .map(|(_, f)| f.clone())
            .collect();
        for f in cbs {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(phase, info)));
        }
    }
}

/// An object space: the generations, thresholds, statistics, `garbage`,
/// callbacks and the collector of a set of objects — what CPython keeps in
/// its per-interpreter `gc` state.
///
/// Every function of CPython's `gc` module is a method here (and a free
/// function of the crate acting on the thread's default space).
///
/// # Examples
///
/// ```
/// use coil_gc::{Gc, Space, Trace};
/// use std::cell::RefCell;
///
/// #[derive(Trace)]
/// struct Node(RefCell<Option<Gc<Node>>>);
///
/// let space = Space::new();
/// let a = Gc::new_in(&space, Node(RefCell::new(None)));
/// *a.0.borrow_mut() = Some(a.clone());
/// assert_eq!(space.get_count().0, 1);
/// drop(a);
/// assert_eq!(space.collect(0).unwrap(), 1);
/// assert_eq!(space.get_stats()[0].collected, 1);
/// ```
pub struct Space {
    state: NonNull<SpaceState>,
    owned: bool,
}

thread_local! {
    static DEFAULT: Space = Space::new();
}

impl Default for Space {
    fn default() -> Self {
        Space::new()
    }
}

impl core::fmt::Debug for Space {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Space")
            .field("collector", &self.state().collector_name.get())
            .field("count", &self.get_count())
            .field("tracked", &self.tracked_count())
            .finish()
    }
}

impl Space {
    /// A new space with CPython's generational collector and thresholds.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = coil_gc::Space::new();
    /// assert_eq!(s.get_threshold(), (700, 10, 10));
    /// ```
    pub fn new() -> Self {
        Space::with_collector(Box::new(Generational::new()))
    }

    /// A new space collected by `collector`.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_gc::{FullCollector, Space};
    /// let s = Space::with_collector(Box::new(FullCollector::new()));
    /// assert_eq!(s.collector_name(), "full");
    /// ```
    pub fn with_collector(collector: Box<dyn Collector>) -> Self {
        Space {
            state: SpaceState::boxed(collector),
            owned: true,
        }
    }

    /// Runs `f` with this thread's default space (the one `Gc::new` uses).
    /// During thread exit, after the default space is gone, `f` gets a
    /// temporary space whose objects end up untracked.
    ///
    /// # Examples
    ///
    /// ```
    /// let n = coil_gc::Space::with_default(|s| s.get_count().0);
    /// let _a = coil_gc::Gc::new(vec![coil_gc::Gc::new(1)]);
    /// assert!(coil_gc::Space::with_default(|s| s.get_count().0) >= n);
    /// ```
    #[inline]
    pub fn with_default<R>(f: impl FnOnce(&Space) -> R) -> R {
        let mut f = Some(f);
        match DEFAULT.try_with(|s| (f.take().expect("called once"))(s)) {
            Ok(r) => r,
            Err(_) => {
                let tmp = Space::new();
                (f.take().expect("not called"))(&tmp)
            }
        }
    }

    #[inline(always)]
    pub(crate) fn state(&self) -> &SpaceState {
        // SAFETY: invariant 1: the state outlives the Space handle.
        unsafe { self.state.as_ref() }
    }

    /// The name of the space's collector.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(coil_gc::Space::new().collector_name(), "generational");
    /// ```
    pub fn collector_name(&self) -> &'static str {
        self.state().collector_name.get()
    }

    /// Replaces the collector.
    ///
    /// # Errors
    ///
    /// [`Error::Collecting`] when called during a collection.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_gc::{FullCollector, Space};
    /// let s = Space::new();
    /// s.set_collector(Box::new(FullCollector::new())).unwrap();
    /// assert_eq!(s.collector_name(), "full");
    /// ```
    pub fn set_collector(&self, collector: Box<dyn Collector>) -> Result<(), Error> {
        let st = self.state();
        if st.collecting.get() {
            return Err(Error::Collecting);
        }
        let mut slot = st
            .collector
            .try_borrow_mut()
            .map_err(|_| Error::Collecting)?;
        if slot.is_none() {
            return Err(Error::Collecting);
        }
        st.collector_name.set(collector.name());
        *slot = Some(collector);
        Ok(())
    }

    /// Runs a collection through the space's collector (`gc.collect`):
    /// generation `generation` and all younger ones. Returns the number of
    /// unreachable objects found (collected plus uncollectable). Returns
    /// `Ok(0)` when called while a collection is running (from a finalizer
    /// or a callback), as CPython does.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidGeneration`] if `generation > 2`.
    ///
    /// # Examples
    ///
    /// See [`Space`].
    pub fn collect(&self, generation: usize) -> Result<usize, Error> {
        if generation > 2 {
            return Err(Error::InvalidGeneration(generation));
        }
        let st = self.state();
        if st.collecting.get() {
            return Ok(0);
        }
        let taken = st
            .collector
            .try_borrow_mut()
            .ok()
            .and_then(|mut c| c.take());
        match taken {
            Some(mut c) => {
                let n = c.collect(self, generation);
                *st.collector.borrow_mut() = Some(c);
                Ok(n)
            }
            None => Ok(self.run_collection(generation)),
        }
    }

    /// The collection primitive collectors are built on: runs CPython's
    /// algorithm on generations `0..=generation` (merging them into
    /// `generation`, survivors moving one generation up), with the start
    /// and stop callbacks, statistics and debug output. Returns the number
    /// of unreachable objects found; 0 if a collection is already running.
    /// `generation` above 2 is treated as 2.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = coil_gc::Space::new();
    /// assert_eq!(s.run_collection(2), 0);
    /// ```
    pub fn run_collection(&self, generation: usize) -> usize {
        let generation = generation.min(2);
        // SAFETY: `timed` sets `collecting` and this thread owns the space.
        self.timed(generation, |st| unsafe {
            collect::collect_main(st, generation)
        })
        .map_or(0, |(n, ())| n)
    }

    /// The incremental collection primitive ([`Incremental`](crate::Incremental)
    /// is built on it): one increment. Its seeds are the young objects and
    /// up to `budget` of the old objects not yet visited in the current
    /// pass that `seeds` selects (with [`Seeds::Dirty`], those that lost a
    /// strong reference since a collection last examined them); every old
    /// object they reference joins them, transitively; the whole is
    /// collected as one unit. Survivors, and the objects stepped over
    /// without being taken in, join the visited old space; once every old
    /// object was visited, the next increment starts a new pass. Returns
    /// what the increment found and did (all zero if a collection is
    /// already running). An increment is reported to callbacks and
    /// statistics as a collection of generation 1.
    ///
    /// Old objects are kept in the lists of generations 1 and 2 (which one
    /// is "visited" alternates with each pass), so `get_objects(Some(1))`
    /// and `get_count` read differently under this collector.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_gc::{Gc, Seeds, Space, Trace};
    /// use std::cell::RefCell;
    /// #[derive(Trace)]
    /// struct N(RefCell<Option<Gc<N>>>);
    /// let s = Space::new();
    /// s.disable();
    /// let a = Gc::new_in(&s, N(RefCell::new(None)));
    /// s.collect(2).unwrap(); // `a` is old now
    /// *a.0.borrow_mut() = Some(a.clone());
    /// drop(a); // an old garbage self-loop; it lost a reference (dirty)
    /// assert_eq!(s.run_increment(100, Seeds::Dirty).found, 1);
    /// ```
    pub fn run_increment(&self, budget: usize, seeds: Seeds) -> Increment {
        // SAFETY: `timed` sets `collecting` and this thread owns the space.
        self.timed(1, |st| unsafe {
            collect::collect_increment(st, budget, seeds)
        })
        .map_or(Increment::default(), |(_, w)| w)
    }

    /// Runs `f` as one collection of `generation`: the `collecting` flag,
    /// start/stop callbacks, pause and per-generation statistics.
    fn timed<W>(
        &self,
        generation: usize,
        f: impl FnOnce(&SpaceState) -> (collect::Outcome, W),
    ) -> Option<(usize, W)> {
        let st = self.state();
        if st.collecting.get() {
            return None;
        }
        st.collecting.set(true);
        struct Reset<'a>(&'a Cell<bool>);
        impl Drop for Reset<'_> {
            fn drop(&mut self) {
                self.0.set(false);
            }
        }
        let _reset = Reset(&st.collecting);
        st.run_callbacks(
            Phase::Start,
            &CallbackInfo {
                generation,
                ..Default::default()
            },
        );
        let t0 = Instant::now();
        let (out, w) = f(st);
        let dt = t0.elapsed();
        let mut p = st.pauses.get();
        p.collections += 1;
        p.total += dt;
        p.longest = p.longest.max(dt);
        st.pauses.set(p);
        let s = &st.stats[generation];
        let mut v = s.get();
        v.collections += 1;
        v.collected += out.collected;
        v.uncollectable += out.uncollectable;
        s.set(v);
        st.run_callbacks(
            Phase::Stop,
            &CallbackInfo {
                generation,
                collected: out.collected,
                uncollectable: out.uncollectable,
            },
        );
        Some((out.collected + out.uncollectable, w))
    }

    /// Enables automatic collection (`gc.enable`).
    ///
    /// # Examples
    ///
    /// ```
    /// let s = coil_gc::Space::new();
    /// s.disable();
    /// assert!(!s.is_enabled());
    /// s.enable();
    /// assert!(s.is_enabled());
    /// ```
    pub fn enable(&self) {
        self.state().enabled.set(true);
    }

    /// Disables automatic collection (`gc.disable`); counts still drop
    /// acyclic objects at once, and `collect` still works.
    ///
    /// # Examples
    ///
    /// See [`enable`](Self::enable).
    pub fn disable(&self) {
        self.state().enabled.set(false);
    }

    /// Whether automatic collection is enabled (`gc.isenabled`).
    ///
    /// # Examples
    ///
    /// See [`enable`](Self::enable).
    pub fn is_enabled(&self) -> bool {
        self.state().enabled.get()
    }

    /// The collection counts (`gc.get_count`).
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_gc::{Gc, Space};
    /// let s = Space::new();
    /// let _a = Gc::new_in(&s, vec![Gc::new_in(&s, 1)]);
    /// assert_eq!(s.get_count(), (1, 0, 0));
    /// s.collect(0).unwrap();
    /// assert_eq!(s.get_count(), (0, 1, 0));
    /// ```
    pub fn get_count(&self) -> (usize, usize, usize) {
        let g = &self.state().gens;
        (g[0].count.get(), g[1].count.get(), g[2].count.get())
    }

    /// The thresholds (`gc.get_threshold`).
    ///
    /// # Examples
    ///
    /// See [`set_threshold`](Self::set_threshold).
    pub fn get_threshold(&self) -> (usize, usize, usize) {
        let g = &self.state().gens;
        (
            g[0].threshold.get(),
            g[1].threshold.get(),
            g[2].threshold.get(),
        )
    }

    /// Sets the thresholds (`gc.set_threshold`); a threshold 0 for
    /// generation 0 disables automatic collection.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = coil_gc::Space::new();
    /// s.set_threshold(1000, 15, 15);
    /// assert_eq!(s.get_threshold(), (1000, 15, 15));
    /// ```
    pub fn set_threshold(&self, t0: usize, t1: usize, t2: usize) {
        let g = &self.state().gens;
        g[0].threshold.set(t0);
        g[1].threshold.set(t1);
        g[2].threshold.set(t2);
    }

    /// Whether a collection of `generation` could find anything: `false`
    /// when no object of this thread has lost a strong reference since a
    /// collection of `generation` (or an older one) last started. A garbage
    /// cycle only forms when one of its members loses a reference, so a
    /// collector may skip such a collection: it would scan everything and
    /// free nothing (a program that only builds live structures, like
    /// `auto-kept`, then pays nothing for automatic collection).
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_gc::{Gc, Space};
    /// let s = Space::new();
    /// let keep: Vec<_> = (0..10).map(|_| Gc::new_in(&s, vec![Gc::new_in(&s, 1)])).collect();
    /// s.collect(2).unwrap();
    /// assert!(!s.may_have_garbage(2)); // nothing lost a reference since
    /// let a = keep[0].clone();
    /// drop(a); // keep[0] lost a reference
    /// assert!(s.may_have_garbage(0));
    /// ```
    pub fn may_have_garbage(&self, generation: usize) -> bool {
        let st = self.state();
        match st.epoch_at.get(generation) {
            Some(e) => e.get() != head::decref_epoch() || e.get() == u64::MAX,
            None => true,
        }
    }

    /// `(long_lived_total, long_lived_pending)`: objects that survived the
    /// last full collection, and objects moved to the oldest generation
    /// since (the long-lived heuristic compares them).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(coil_gc::Space::new().long_lived(), (0, 0));
    /// ```
    pub fn long_lived(&self) -> (usize, usize) {
        let st = self.state();
        (st.long_lived_total.get(), st.long_lived_pending.get())
    }

    /// Number of objects tracked in the space (all generations and frozen;
    /// walks the lists).
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_gc::{Gc, Space};
    /// let s = Space::new();
    /// let _a = Gc::new_in(&s, vec![Gc::new_in(&s, 1)]);
    /// assert_eq!(s.tracked_count(), 1);
    /// ```
    pub fn tracked_count(&self) -> usize {
        let st = self.state();
        // SAFETY: initialised sentinels of live objects.
        st.generation_lens().iter().sum::<usize>() + unsafe { head::list_len(st.perm_head()) }
    }

    /// Per-generation statistics (`gc.get_stats`).
    ///
    /// # Examples
    ///
    /// See [`GenStats`].
    pub fn get_stats(&self) -> [GenStats; 3] {
        let s = &self.state().stats;
        [s[0].get(), s[1].get(), s[2].get()]
    }

    /// Time spent in collections (count, total, longest pause).
    ///
    /// # Examples
    ///
    /// See [`PauseStats`].
    pub fn pause_stats(&self) -> PauseStats {
        self.state().pauses.get()
    }

    /// Sets the debug flags (`gc.set_debug`).
    ///
    /// # Examples
    ///
    /// See [`DebugFlags`].
    pub fn set_debug(&self, flags: DebugFlags) {
        self.state().debug.set(flags);
    }

    /// The debug flags (`gc.get_debug`).
    ///
    /// # Examples
    ///
    /// See [`DebugFlags`].
    pub fn get_debug(&self) -> DebugFlags {
        self.state().debug.get()
    }

    /// The objects tracked in one generation, or in all three for `None`
    /// (`gc.get_objects`); frozen objects are not included.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidGeneration`] for a generation above 2.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_gc::{Gc, Space};
    /// let s = Space::new();
    /// let a = Gc::new_in(&s, vec![Gc::new_in(&s, 1)]);
    /// let objs = s.get_objects(Some(0)).unwrap();
    /// assert!(objs[0].ptr_eq(&Gc::to_object(&a)));
    /// assert!(s.get_objects(Some(3)).is_err());
    /// ```
    pub fn get_objects(&self, generation: Option<usize>) -> Result<Vec<Object>, Error> {
        let st = self.state();
        let gens = match generation {
            None => 0..3,
            Some(g) if g <= 2 => g..g + 1,
            Some(g) => return Err(Error::InvalidGeneration(g)),
        };
        let mut out = Vec::new();
        for g in gens {
            // SAFETY: list nodes are live objects with initialised values.
            unsafe { for_each(st.gen_head(g), |h| out.push(Object::new_ref(h))) };
        }
        Ok(out)
    }

    /// The tracked objects that refer to any of `targets`
    /// (`gc.get_referrers`), found by tracing every tracked object.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_gc::{Gc, Space};
    /// let s = Space::new();
    /// let leaf = Gc::new_in(&s, 7u32);
    /// let holder = Gc::new_in(&s, vec![leaf.clone()]);
    /// let r = s.get_referrers(&[Gc::to_object(&leaf)]);
    /// assert_eq!(r.len(), 1);
    /// assert!(r[0].ptr_eq(&Gc::to_object(&holder)));
    /// ```
    pub fn get_referrers(&self, targets: &[Object]) -> Vec<Object> {
        let set: HashSet<usize> = targets.iter().map(Object::id).collect();
        let st = self.state();
        let mut out = Vec::new();
        for g in 0..3 {
            // SAFETY: list nodes are live with initialised values.
            unsafe {
                for_each(st.gen_head(g), |h| {
                    let mut hit = false;
                    let mut f = |t: NonNull<GcHead>| hit |= set.contains(&(t.as_ptr() as usize));
                    let mut v = Visitor::new(Op::Each(&mut f));
                    ((*h.as_ptr()).vtable.trace)(h, &mut v);
                    if hit {
                        out.push(Object::new_ref(h));
                    }
                })
            };
        }
        out
    }

    /// The objects directly referred to by `objs` (`gc.get_referents`).
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_gc::Gc;
    /// let a = Gc::new(vec![Gc::new(1u8), Gc::new(2u8)]);
    /// assert_eq!(coil_gc::Space::with_default(|s| s.get_referents(&[Gc::to_object(&a)])).len(), 2);
    /// ```
    pub fn get_referents(&self, objs: &[Object]) -> Vec<Object> {
        objs.iter().flat_map(Object::referents).collect()
    }

    /// Whether `obj` is tracked (`gc.is_tracked`).
    ///
    /// # Examples
    ///
    /// See [`Object::is_tracked`].
    pub fn is_tracked(&self, obj: &Object) -> bool {
        obj.is_tracked()
    }

    /// Whether `obj`'s finalizer has run (`gc.is_finalized`).
    ///
    /// # Examples
    ///
    /// See [`Object::is_finalized`].
    pub fn is_finalized(&self, obj: &Object) -> bool {
        obj.is_finalized()
    }

    /// Moves every tracked object to the permanent generation, which
    /// collections ignore (`gc.freeze`).
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_gc::{Gc, Space};
    /// let s = Space::new();
    /// let _a = Gc::new_in(&s, vec![Gc::new_in(&s, 1)]);
    /// s.freeze();
    /// assert_eq!(s.get_freeze_count(), 1);
    /// assert!(s.get_objects(None).unwrap().is_empty());
    /// s.unfreeze();
    /// assert_eq!(s.get_objects(Some(2)).unwrap().len(), 1);
    /// ```
    pub fn freeze(&self) {
        let st = self.state();
        for g in 0..3 {
            // SAFETY: initialised sentinels of this space; generation 3
            // (frozen) is never a member of a collection.
            unsafe {
                for_each(st.gen_head(g), |h| head::set_gen(h, 3));
                head::list_merge(st.gen_head(g), st.perm_head());
            }
            st.gens[g].count.set(0);
        }
    }

    /// Moves the permanent generation back into the oldest generation
    /// (`gc.unfreeze`).
    ///
    /// # Examples
    ///
    /// See [`freeze`](Self::freeze).
    pub fn unfreeze(&self) {
        let st = self.state();
        // SAFETY: initialised sentinels of this space.
        unsafe {
            // Dirty: frozen objects may have lost references no collection
            // has seen (the incremental collector takes dirty objects in).
            for_each(st.perm_head(), |h| {
                head::set_gen(h, 2);
                head::set_bits(h, head::bits(h) | head::DIRTY);
            });
            head::list_merge(st.perm_head(), st.gen_head(2));
        }
        // Frozen objects may carry decrefs no collection has seen.
        for e in &st.epoch_at {
            e.set(u64::MAX);
        }
        st.pass_epoch.set(u64::MAX);
    }

    /// Number of objects in the permanent generation (`gc.get_freeze_count`).
    ///
    /// # Examples
    ///
    /// See [`freeze`](Self::freeze).
    pub fn get_freeze_count(&self) -> usize {
        // SAFETY: initialised sentinel.
        unsafe { head::list_len(self.state().perm_head()) }
    }

    /// Registers a callback called before (`Phase::Start`) and after
    /// (`Phase::Stop`) each collection (`gc.callbacks.append`); returns its id.
    /// A panicking callback is reported by the panic hook and skipped.
    ///
    /// # Examples
    ///
    /// See [`CallbackInfo`].
    pub fn add_callback(&self, f: impl Fn(Phase, &CallbackInfo) + 'static) -> u64 {
        let st = self.state();
        let id = st.next_callback.get();
        st.next_callback.set(id + 1);
        st.callbacks.borrow_mut().push((id, Rc::new(f)));
        id
    }

    /// Removes a callback (`gc.callbacks.remove`).
    ///
    /// # Errors
    ///
    /// [`Error::UnknownCallback`] if `id` is not registered.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = coil_gc::Space::new();
    /// let id = s.add_callback(|_, _| {});
    /// assert!(s.remove_callback(id).is_ok());
    /// assert!(s.remove_callback(id).is_err());
    /// ```
    pub fn remove_callback(&self, id: u64) -> Result<(), Error> {
        let mut cbs = self.state().callbacks.borrow_mut();
        let i = cbs
            .iter()
            .position(|(i, _)| *i == id)
            .ok_or(Error::UnknownCallback(id))?;
        cbs.remove(i);
        Ok(())
    }

    /// The uncollectable objects found, and with `DebugFlags::SAVEALL` all
    /// unreachable ones (`gc.garbage`). The list holds strong handles;
    /// clear it with [`take_garbage`](Self::take_garbage).
    ///
    /// # Examples
    ///
    /// See [`Gc::new_legacy_in`](crate::Gc::new_legacy_in).
    pub fn garbage(&self) -> Vec<Object> {
        self.state().garbage.borrow().clone()
    }

    /// Empties `garbage` and returns its objects (`del gc.garbage[:]`).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(coil_gc::Space::new().take_garbage().is_empty());
    /// ```
    pub fn take_garbage(&self) -> Vec<Object> {
        core::mem::take(&mut *self.state().garbage.borrow_mut())
    }
}

/// Calls `f` for each node of a list (reading `next` before the call).
///
/// # Safety
///
/// `list` is an initialised sentinel; `f` does not unlink other nodes.
unsafe fn for_each(list: *mut GcHead, mut f: impl FnMut(NonNull<GcHead>)) {
    // SAFETY: caller.
    unsafe {
        let mut gc = (*list).next.get();
        while gc != list {
            let next = (*gc).next.get();
            f(NonNull::new_unchecked(gc));
            gc = next;
        }
    }
}

impl Drop for Space {
    fn drop(&mut self) {
        if !self.owned {
            return;
        }
        let st = self.state();
        if st.collecting.get() {
            // Dropped from inside its own collection: leak the state rather
            // than free lists that are being walked.
            return;
        }
        let _ = self.collect(2);
        st.usable.set(false);
        drop(self.take_garbage());
        st.callbacks.borrow_mut().clear();
        // Detach the survivors: they become plain counted objects.
        let lists: Vec<*mut GcHead> = (0..3)
            .map(|g| st.gen_head(g))
            .chain([st.perm_head()])
            .collect();
        for l in lists {
            // SAFETY: list nodes are live objects; unlinking them one by one
            // from the front keeps the list well-formed.
            unsafe {
                loop {
                    let gc = (*l).next.get();
                    if gc == l {
                        break;
                    }
                    head::list_remove(gc);
                    (*gc).space.set(0);
                    head::set_gen(NonNull::new_unchecked(gc), 0);
                    head::header(NonNull::new_unchecked(gc)).remove_flags_local(Flags::TRACKED);
                }
            }
        }
        drop(st.collector.borrow_mut().take());
        // SAFETY: no object refers to the state any more; allocated by boxed().
        drop(unsafe { Box::from_raw(self.state.as_ptr()) });
    }
}
