//! The [`Collector`] trait — how a space decides when and how much to
//! collect — and the three collectors that ship: [`Generational`] (CPython
//! 3.11, the default), [`Incremental`] (CPython 3.14's young generation and
//! old generation scanned in bounded increments: short pauses) and
//! [`FullCollector`] (stop-the-world, every collection scans everything,
//! paced by the live heap size).
//!
//! A collector is a policy over the collection primitive
//! [`Space::run_collection`]: it is asked, each time generation 0's count
//! passes its threshold, which generation to collect
//! ([`Collector::on_threshold`]), and it performs explicit
//! [`Space::collect`] calls ([`Collector::collect`]). Everything it needs
//! to decide is public on [`Space`] (counts, thresholds, the long-lived
//! figures, the number of tracked objects, the pause statistics), so a new
//! collector is written outside this crate (see
//! `examples/custom_collector.rs`).

use crate::Space;

/// A collection policy for a [`Space`].
///
/// # Examples
///
/// A collector that only ever collects the young generation automatically:
///
/// ```
/// use coil_gc::{Collector, Space};
/// struct YoungOnly;
/// impl Collector for YoungOnly {
///     fn name(&self) -> &'static str { "young-only" }
///     fn on_threshold(&mut self, _space: &Space) -> Option<usize> { Some(0) }
/// }
/// let s = Space::with_collector(Box::new(YoungOnly));
/// assert_eq!(s.collector_name(), "young-only");
/// ```
pub trait Collector {
    /// A short name (shown by `Debug` and the benches).
    fn name(&self) -> &'static str;

    /// Called when generation 0's count exceeds its threshold while
    /// automatic collection is enabled; returns the oldest generation to
    /// collect now, or `None` to skip (generation 0's count then restarts
    /// from 0, so the question comes again a threshold later).
    fn on_threshold(&mut self, space: &Space) -> Option<usize>;

    /// Performs a collection requested by [`Space::collect`] (and by
    /// [`on_threshold`](Self::on_threshold)'s answer); returns the number of
    /// unreachable objects found. The default runs CPython's algorithm on
    /// generations `0..=generation`.
    fn collect(&mut self, space: &Space, generation: usize) -> usize {
        space.run_collection(generation)
    }
}

/// CPython 3.11's generational policy: collect the oldest generation whose
/// count exceeds its threshold, except that a full (generation 2)
/// collection also waits until the objects promoted to generation 2 since
/// the last full collection exceed a quarter of those that survived it (the
/// long-lived heuristic, which keeps the total work linear when a program
/// builds a large live structure). One addition to CPython: an automatic
/// collection is skipped when no object has lost a strong reference since
/// that generation was last collected ([`Space::may_have_garbage`]): it
/// could not find anything.
///
/// # Examples
///
/// ```
/// use coil_gc::{Generational, Space};
/// let s = Space::with_collector(Box::new(Generational::new()));
/// assert_eq!(s.collector_name(), "generational");
/// ```
#[derive(Debug, Clone, Default)]
pub struct Generational {
    _private: (),
}

impl Generational {
    /// The CPython 3.11 policy.
    ///
    /// # Examples
    ///
    /// See [`Generational`].
    pub fn new() -> Self {
        Generational { _private: () }
    }
}

impl Collector for Generational {
    fn name(&self) -> &'static str {
        "generational"
    }

    fn on_threshold(&mut self, space: &Space) -> Option<usize> {
        let (c0, c1, c2) = space.get_count();
        let (t0, t1, t2) = space.get_threshold();
        let (total, pending) = space.long_lived();
        let g = if c2 > t2 && pending >= total / 4 {
            2
        } else if c1 > t1 {
            1
        } else if c0 > t0 {
            0
        } else {
            return None;
        };
        // Nothing lost a reference since that generation was last
        // collected: the collection could not find garbage.
        space.may_have_garbage(g).then_some(g)
    }
}

/// CPython 3.14's incremental collector: every automatic collection is one
/// *increment* ([`Space::run_increment`]) — the young generation, plus a
/// bounded number of steps over the old objects not yet visited in the
/// current pass, plus the old objects the increment references
/// (transitively, so a garbage cycle is never cut in two). Survivors join
/// the visited old space; when every old object was visited a new pass
/// starts. A pause is therefore bounded by the young generation, the step
/// budget and the closure of the increment — not by the size of the heap —
/// and an old garbage cycle is found within two passes.
///
/// The seeds: by default ([`Seeds::Dirty`]) an object, young or old, is
/// taken in only if it lost a strong reference since a collection last
/// examined it (a garbage structure always has such a member: see
/// [`Seeds`]); the others move to the visited space untraced, and a new
/// pass over the old objects starts only once some object lost a reference
/// since the last one started (before that, no old object can be dirty).
/// With
/// [`Seeds::All`] every young object and every old one stepped over is
/// taken in, as in CPython 3.14: a large live structure is then traced
/// once per pass, in one increment.
///
/// `collect(0)` and `collect(1)` run one increment; `collect(2)` runs a
/// full collection (and starts a new pass).
///
/// # Examples
///
/// ```
/// use coil_gc::{Gc, Incremental, Space, Trace};
/// use std::cell::RefCell;
/// #[derive(Trace)]
/// struct N(RefCell<Option<Gc<N>>>);
/// let s = Space::with_collector(Box::new(Incremental::new()));
/// assert_eq!(s.collector_name(), "incremental");
/// let a = Gc::new_in(&s, N(RefCell::new(None)));
/// *a.0.borrow_mut() = Some(a.clone());
/// drop(a);
/// assert_eq!(s.collect(1).unwrap(), 1); // one increment frees the self-loop
/// ```
#[derive(Debug, Clone)]
pub struct Incremental {
    budget: Option<usize>,
    seeds: Seeds,
    /// Old-object work not yet spent (CPython 3.14's `work_to_do`): each
    /// increment earns one budget and spends what it stepped over and took
    /// in, so a large closure is paid back by later increments that only
    /// look at the young objects.
    credit: isize,
}

impl Default for Incremental {
    fn default() -> Self {
        Incremental::new()
    }
}

impl Incremental {
    /// Steps over `threshold0` old objects per increment (a pass over the
    /// old objects costs about one step per young allocation: a step is a
    /// memory access, so this is the collector's main cost when nothing is
    /// garbage), with [`Seeds::Dirty`].
    ///
    /// # Examples
    ///
    /// See [`Incremental`].
    pub fn new() -> Self {
        Incremental {
            budget: None,
            seeds: Seeds::Dirty,
            credit: 0,
        }
    }

    /// A fixed number of steps over old objects per increment (at least 1).
    ///
    /// # Examples
    ///
    /// ```
    /// let c = coil_gc::Incremental::new().with_budget(5000);
    /// assert_eq!(c.budget(), Some(5000));
    /// ```
    pub fn with_budget(mut self, steps: usize) -> Self {
        self.budget = Some(steps.max(1));
        self
    }

    /// Chooses the seeds (see [`Seeds`]).
    ///
    /// # Examples
    ///
    /// See [`Seeds`].
    pub fn with_seeds(mut self, seeds: Seeds) -> Self {
        self.seeds = seeds;
        self
    }

    /// The fixed step budget, or `None` for `threshold0`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(coil_gc::Incremental::new().budget(), None);
    /// ```
    pub fn budget(&self) -> Option<usize> {
        self.budget
    }

    /// The seeds.
    ///
    /// # Examples
    ///
    /// See [`Seeds`].
    pub fn seeds(&self) -> Seeds {
        self.seeds
    }
}

impl Collector for Incremental {
    fn name(&self) -> &'static str {
        match self.seeds {
            Seeds::Dirty => "incremental",
            Seeds::All => "incremental-all",
        }
    }

    fn on_threshold(&mut self, _space: &Space) -> Option<usize> {
        Some(1)
    }

    fn collect(&mut self, space: &Space, generation: usize) -> usize {
        if generation >= 2 {
            return space.run_collection(2);
        }
        let budget = self
            .budget
            .unwrap_or_else(|| space.get_threshold().0.max(1));
        let budget = isize::try_from(budget).unwrap_or(isize::MAX);
        // Unspent credit carries over, up to one more budget.
        self.credit = self
            .credit
            .saturating_add(budget)
            .min(budget.saturating_mul(2));
        let steps = usize::try_from(self.credit).unwrap_or(0);
        let inc = space.run_increment(steps, self.seeds);
        let spent = isize::try_from(inc.stepped.saturating_add(inc.taken)).unwrap_or(isize::MAX);
        self.credit = self.credit.saturating_sub(spent);
        inc.found
    }
}

/// A stop-the-world, non-generational collector: every collection, automatic
/// or explicit, scans every tracked object (all three generations). It runs
/// automatically once the tracked objects allocated since the last collection exceed
/// `max(threshold0, live × ratio)`, where `live` is what survived the last
/// one — so the work per allocated object stays constant however large the
/// live heap grows, and memory stays within `1 + ratio` of the live size.
///
/// # Examples
///
/// ```
/// use coil_gc::{FullCollector, Gc, Space, Trace};
/// use std::cell::RefCell;
/// #[derive(Trace)]
/// struct N(RefCell<Option<Gc<N>>>);
/// let s = Space::with_collector(Box::new(FullCollector::new()));
/// let a = Gc::new_in(&s, N(RefCell::new(None)));
/// *a.0.borrow_mut() = Some(a.clone());
/// drop(a);
/// assert_eq!(s.collect(0).unwrap(), 1); // any generation means "everything"
/// ```
#[derive(Debug, Clone)]
pub struct FullCollector {
    ratio: f64,
    live: usize,
    allocated: usize,
}

impl Default for FullCollector {
    fn default() -> Self {
        FullCollector::new()
    }
}

impl FullCollector {
    /// Collect when new objects exceed the live size (ratio 1.0).
    ///
    /// # Examples
    ///
    /// See [`FullCollector`].
    pub fn new() -> Self {
        FullCollector::with_ratio(1.0)
    }

    /// Collect when new objects exceed `ratio ×` the live size (a negative
    /// or NaN ratio counts as 0: collect at every threshold).
    ///
    /// # Examples
    ///
    /// ```
    /// let c = coil_gc::FullCollector::with_ratio(0.5);
    /// assert_eq!(c.ratio(), 0.5);
    /// ```
    pub fn with_ratio(ratio: f64) -> Self {
        let ratio = if ratio.is_nan() { 0.0 } else { ratio.max(0.0) };
        FullCollector {
            ratio,
            live: 0,
            allocated: 0,
        }
    }

    /// The growth ratio.
    ///
    /// # Examples
    ///
    /// See [`with_ratio`](Self::with_ratio).
    pub fn ratio(&self) -> f64 {
        self.ratio
    }
}

impl Collector for FullCollector {
    fn name(&self) -> &'static str {
        "full"
    }

    fn on_threshold(&mut self, space: &Space) -> Option<usize> {
        // Asked every threshold0 tracked allocations (declining restarts
        // the young count).
        self.allocated += space.get_count().0;
        let budget = (self.live as f64 * self.ratio) as usize;
        if self.allocated > budget.max(space.get_threshold().0) && space.may_have_garbage(2) {
            Some(2)
        } else {
            None
        }
    }

    fn collect(&mut self, space: &Space, _generation: usize) -> usize {
        let n = space.run_collection(2);
        self.live = space.long_lived().0;
        self.allocated = 0;
        n
    }
}

/// Which pending old objects an increment takes in as seeds.
///
/// # Examples
///
/// ```
/// use coil_gc::{Incremental, Seeds};
/// let c = Incremental::new().with_seeds(Seeds::All);
/// assert_eq!(c.seeds(), Seeds::All);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Seeds {
    /// Only objects that lost a strong reference since a collection last
    /// examined them (the others move to the visited space untraced). A
    /// garbage structure that no other garbage refers to became garbage
    /// when its last outside reference was dropped — a decref on one of
    /// its members, which marks it — and the increment that takes that
    /// member in frees the whole structure (the closure brings the rest);
    /// what it referred to loses references in turn. So nothing is missed,
    /// and a live structure nobody drops references into costs one list
    /// step per object and pass.
    #[default]
    Dirty,
    /// Every young object and every pending old object stepped over
    /// (CPython 3.14): a live structure is traced once per pass, however
    /// quiet it is.
    All,
}
