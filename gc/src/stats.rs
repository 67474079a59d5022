//! Per-generation statistics (`gc.get_stats()`) and the information given
//! to collection callbacks (`gc.callbacks`).

use core::time::Duration;

/// Statistics of one generation, as in `gc.get_stats()`.
///
/// # Examples
///
/// ```
/// let stats = coil_gc::get_stats();
/// assert_eq!(stats.len(), 3);
/// let total: usize = stats.iter().map(|s| s.collections).sum();
/// coil_gc::collect(2).unwrap();
/// assert_eq!(coil_gc::get_stats().iter().map(|s| s.collections).sum::<usize>(), total + 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GenStats {
    /// Collections of this generation (as the oldest collected).
    pub collections: usize,
    /// Objects found unreachable and freed by those collections.
    pub collected: usize,
    /// Objects found unreachable but not freed (legacy finalizers).
    pub uncollectable: usize,
}

/// Which side of a collection a callback is called on.
///
/// # Examples
///
/// ```
/// use coil_gc::Phase;
/// assert_ne!(Phase::Start, Phase::Stop);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// About to collect.
    Start,
    /// Finished collecting.
    Stop,
}

/// What a `gc.callbacks` callback receives besides the phase.
///
/// # Examples
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// let seen = Rc::new(RefCell::new(Vec::new()));
/// let s = seen.clone();
/// let id = coil_gc::add_callback(move |phase, info| s.borrow_mut().push((phase, info.generation)));
/// coil_gc::collect(1).unwrap();
/// coil_gc::remove_callback(id).unwrap();
/// assert_eq!(*seen.borrow(), [(coil_gc::Phase::Start, 1), (coil_gc::Phase::Stop, 1)]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CallbackInfo {
    /// The oldest generation being collected.
    pub generation: usize,
    /// Objects collected (0 at `Start`).
    pub collected: usize,
    /// Uncollectable objects found (0 at `Start`).
    pub uncollectable: usize,
}

/// Time spent collecting, for workloads that want the share of a run spent
/// in the collector and the longest pause.
///
/// # Examples
///
/// ```
/// let before = coil_gc::Space::with_default(|s| s.pause_stats());
/// coil_gc::collect(2).unwrap();
/// let after = coil_gc::Space::with_default(|s| s.pause_stats());
/// assert_eq!(after.collections, before.collections + 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PauseStats {
    /// Collections run (automatic and explicit).
    pub collections: u64,
    /// Total time in collections.
    pub total: Duration,
    /// The longest single collection.
    pub longest: Duration,
}

/// What one increment of the incremental collector did
/// ([`Space::run_increment`](crate::Space::run_increment)).
///
/// # Examples
///
/// ```
/// let s = coil_gc::Space::new();
/// let i = s.run_increment(10, coil_gc::Seeds::Dirty);
/// assert_eq!((i.found, i.stepped, i.taken), (0, 0, 0));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Increment {
    /// Unreachable objects found (collected plus uncollectable).
    pub found: usize,
    /// Pending old objects stepped over.
    pub stepped: usize,
    /// Old objects taken into the increment (seeds and closure).
    pub taken: usize,
    /// Whether this increment started a new pass over the old objects.
    pub pass_done: bool,
}
