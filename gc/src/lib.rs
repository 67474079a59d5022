//! `coil-gc`: CPython's generational cycle collector for Rust, with the
//! whole `gc` module surface and a pluggable [`Collector`] API.
//!
//! # The problem
//!
//! Reference counting frees an object the moment its last reference goes —
//! except when objects refer to each other. `a.append(b); b.append(a)`
//! leaves two lists that keep each other alive forever. CPython answers
//! with a cycle collector that runs alongside the counts: container objects
//! are *tracked* in generations; every so many allocations it looks for
//! groups of objects referenced only from inside the group, and frees them,
//! after clearing weak references and running finalizers safely.
//!
//! # The model
//!
//! [`Gc<T>`] is a counted handle on a coil-refcount box whose prefix is the
//! gc head (two list links, a vtable and the space), as CPython puts
//! `PyGC_Head` in front of `PyObject`. Clone and drop count; the last drop
//! destroys the value at once (through coil-refcount's trashcan, so a
//! 10,000,000-long chain drops in constant stack). A value tells the
//! collector what it refers to through [`Trace`] (`#[derive(Trace)]`); a type
//! that can hold no `Gc` is known at compile time
//! ([`Trace::MAY_CONTAIN_GC`]) and never tracked.
//!
//! One thing is added to CPython's algorithm: a garbage cycle can only form
//! when one of its members loses a strong reference, so each drop that
//! leaves an object alive marks it (once per collection) and bumps a
//! per-thread epoch; an automatic collection whose generations saw no such
//! drop since they were last collected is skipped
//! ([`Space::may_have_garbage`]). A program that only builds live data pays
//! nothing for automatic collection (CPython 3.11 spends about three
//! quarters of such a run in collections).
//!
//! A [`Space`] owns the generations (0, 1, 2 and the permanent one),
//! thresholds (700, 10, 10), counts, statistics, `garbage`, callbacks,
//! debug flags and the collector. Each thread has a default space, so
//! `Gc::new(x)` is one line; a runtime can own its own spaces.
//!
//! The collector is a policy ([`Collector`]) chosen per space:
//! [`Generational`] (CPython 3.11, the default), [`Incremental`] (CPython
//! 3.14's young generation plus an old generation scanned in bounded
//! increments, for short pauses) or [`FullCollector`] (stop-the-world).
//! The incremental collector uses the same marks per object: an increment
//! takes in only the objects that lost a reference since they were last
//! examined, and the old objects they reach; a garbage structure always
//! has such a member, so a large live structure nobody drops references
//! into is stepped over in bounded slices and never traced (and once a
//! pass found nothing dirty, the next waits for a decref), while every
//! collection still runs and looks at the young generation.
//!
//! A collection (`collect.rs`, CPython's phase names) copies each object's
//! strong count into `gc_refs`, subtracts the references that come from
//! inside the collected generations (`subtract_refs`, via `Trace`), and
//! moves everything not reachable from an object with `gc_refs > 0` aside
//! (`move_unreachable`, iterative). Then, for the unreachable objects: legacy
//! finalizers make their cycles uncollectable (`garbage`); weak references
//! are cleared and the callbacks of surviving weak handles run
//! (`handle_weakrefs`); each PEP 442 finalizer runs once ever
//! (`finalize_garbage`); objects a finalizer resurrected survive with all
//! they reach (`check_garbage`); the rest have their values dropped and
//! their memory freed (`delete_garbage`) — an object's memory is freed only
//! once its count is zero, so a `Drop` that looks at another dying object
//! finds valid memory, and [`Gc::try_get`] tells whether its value is still
//! there (plain deref panics instead of reading a dropped value).
//!
//! # Modules
//!
//! - [`trace`]: `Trace`, `Visitor`, impls for std types.
//! - `gc` ([`Gc`], [`Weak`], [`Object`]), [`finalize`] ([`Finalize`]),
//!   `weakrefs` (weak callbacks).
//! - [`space`]: `Space`, the whole `gc` module surface.
//! - `collect`: the algorithm (full and incremental). [`collector`]: the
//!   `Collector` trait, [`Generational`], [`Incremental`] and
//!   [`FullCollector`].
//! - [`debug`], [`stats`], [`error`].
//!
//! # Examples
//!
//! Seed 002: two lists that refer to each other are freed by `gc.collect()`.
//!
//! ```
//! use coil_gc::{Gc, Trace};
//! use std::cell::RefCell;
//!
//! #[derive(Trace, Default)]
//! struct List(RefCell<Vec<Gc<List>>>);
//!
//! let a = Gc::new(List::default());
//! let b = Gc::new(List::default());
//! a.0.borrow_mut().push(b.clone());
//! b.0.borrow_mut().push(a.clone());
//! drop((a, b));
//! assert_eq!(coil_gc::collect(2).unwrap(), 2);
//! assert_eq!(coil_gc::get_threshold(), (700, 10, 10));
//! ```
//!
//! # Misuse
//!
//! - `collect(3)`: [`Error::InvalidGeneration`].
//! - A `Trace` impl that forgets a reference: the cycle through it is never
//!   collected (a leak). One that reports a reference it does not own
//!   breaks the unsafe contract (see [`Trace`]); derive it instead.
//! - A panic in a finalizer, weak callback, gc callback or `Drop` during a
//!   collection is reported by the panic hook and the collection goes on
//!   with all counts intact.
//! - Dropping a [`Space`] collects it, then detaches the survivors (they
//!   become plain counted objects).

#![deny(missing_docs)]

extern crate self as coil_gc;

#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

mod collect;
pub mod collector;
pub mod debug;
pub mod error;
pub mod finalize;
mod gc;
mod head;
pub mod space;
pub mod stats;
pub mod trace;
mod weakrefs;

#[cfg(feature = "derive")]
pub use coil_gc_derive::Trace;

pub use crate::{
    collector::{Collector, FullCollector, Generational, Incremental, Seeds},
    debug::DebugFlags,
    error::Error,
    finalize::Finalize,
    gc::{Gc, Object, Weak},
    space::{DEFAULT_THRESHOLDS, Space},
    stats::{CallbackInfo, GenStats, Increment, PauseStats, Phase},
    trace::{Trace, TraceDyn, Visitor},
};

/// `gc.collect(generation)` on this thread's default space.
///
/// # Errors
///
/// [`Error::InvalidGeneration`] if `generation > 2`.
///
/// # Examples
///
/// ```
/// assert_eq!(coil_gc::collect(3), Err(coil_gc::Error::InvalidGeneration(3)));
/// assert!(coil_gc::collect(2).is_ok());
/// ```
pub fn collect(generation: usize) -> Result<usize, Error> {
    Space::with_default(|s| s.collect(generation))
}

/// `gc.enable()` on the default space.
///
/// # Examples
///
/// ```
/// coil_gc::disable();
/// assert!(!coil_gc::is_enabled());
/// coil_gc::enable();
/// assert!(coil_gc::is_enabled());
/// ```
pub fn enable() {
    Space::with_default(Space::enable)
}

/// `gc.disable()` on the default space.
///
/// # Examples
///
/// See [`enable`].
pub fn disable() {
    Space::with_default(Space::disable)
}

/// `gc.isenabled()` on the default space.
///
/// # Examples
///
/// See [`enable`].
pub fn is_enabled() -> bool {
    Space::with_default(Space::is_enabled)
}

/// `gc.get_count()` on the default space.
///
/// # Examples
///
/// ```
/// coil_gc::collect(0).unwrap();
/// assert_eq!(coil_gc::get_count().0, 0);
/// ```
pub fn get_count() -> (usize, usize, usize) {
    Space::with_default(Space::get_count)
}

/// `gc.get_threshold()` on the default space.
///
/// # Examples
///
/// ```
/// assert_eq!(coil_gc::get_threshold(), (700, 10, 10));
/// ```
pub fn get_threshold() -> (usize, usize, usize) {
    Space::with_default(Space::get_threshold)
}

/// `gc.set_threshold(t0, t1, t2)` on the default space.
///
/// # Examples
///
/// ```
/// coil_gc::set_threshold(800, 10, 10);
/// assert_eq!(coil_gc::get_threshold().0, 800);
/// coil_gc::set_threshold(700, 10, 10);
/// ```
pub fn set_threshold(t0: usize, t1: usize, t2: usize) {
    Space::with_default(|s| s.set_threshold(t0, t1, t2))
}

/// `gc.get_stats()` on the default space.
///
/// # Examples
///
/// See [`GenStats`].
pub fn get_stats() -> [GenStats; 3] {
    Space::with_default(Space::get_stats)
}

/// `gc.get_objects(generation)` on the default space.
///
/// # Errors
///
/// [`Error::InvalidGeneration`] for a generation above 2.
///
/// # Examples
///
/// ```
/// assert!(coil_gc::get_objects(None).is_ok());
/// assert!(coil_gc::get_objects(Some(5)).is_err());
/// ```
pub fn get_objects(generation: Option<usize>) -> Result<Vec<Object>, Error> {
    Space::with_default(|s| s.get_objects(generation))
}

/// `gc.get_referrers(*objs)` on the default space.
///
/// # Examples
///
/// ```
/// use coil_gc::Gc;
/// let leaf = Gc::new(1u8);
/// let _holder = Gc::new(vec![leaf.clone()]);
/// assert_eq!(coil_gc::get_referrers(&[Gc::to_object(&leaf)]).len(), 1);
/// ```
pub fn get_referrers(objs: &[Object]) -> Vec<Object> {
    Space::with_default(|s| s.get_referrers(objs))
}

/// `gc.get_referents(*objs)`.
///
/// # Examples
///
/// ```
/// use coil_gc::Gc;
/// let a = Gc::new((Gc::new(1u8), 2u8));
/// assert_eq!(coil_gc::get_referents(&[Gc::to_object(&a)]).len(), 1);
/// ```
pub fn get_referents(objs: &[Object]) -> Vec<Object> {
    objs.iter().flat_map(Object::referents).collect()
}

/// `gc.is_tracked(obj)`.
///
/// # Examples
///
/// ```
/// assert!(!coil_gc::is_tracked(&coil_gc::Gc::to_object(&coil_gc::Gc::new(1))));
/// ```
pub fn is_tracked(obj: &Object) -> bool {
    obj.is_tracked()
}

/// `gc.is_finalized(obj)`.
///
/// # Examples
///
/// ```
/// assert!(!coil_gc::is_finalized(&coil_gc::Gc::to_object(&coil_gc::Gc::new(1))));
/// ```
pub fn is_finalized(obj: &Object) -> bool {
    obj.is_finalized()
}

/// `gc.freeze()` on the default space.
///
/// # Examples
///
/// ```
/// coil_gc::freeze();
/// coil_gc::unfreeze();
/// assert_eq!(coil_gc::get_freeze_count(), 0);
/// ```
pub fn freeze() {
    Space::with_default(Space::freeze)
}

/// `gc.unfreeze()` on the default space.
///
/// # Examples
///
/// See [`freeze`].
pub fn unfreeze() {
    Space::with_default(Space::unfreeze)
}

/// `gc.get_freeze_count()` on the default space.
///
/// # Examples
///
/// See [`freeze`].
pub fn get_freeze_count() -> usize {
    Space::with_default(Space::get_freeze_count)
}

/// `gc.callbacks.append(f)` on the default space; returns the id.
///
/// # Examples
///
/// See [`CallbackInfo`].
pub fn add_callback(f: impl Fn(Phase, &CallbackInfo) + 'static) -> u64 {
    Space::with_default(|s| s.add_callback(f))
}

/// `gc.callbacks.remove(f)` on the default space.
///
/// # Errors
///
/// [`Error::UnknownCallback`] if `id` is not registered.
///
/// # Examples
///
/// ```
/// assert!(coil_gc::remove_callback(u64::MAX).is_err());
/// ```
pub fn remove_callback(id: u64) -> Result<(), Error> {
    Space::with_default(|s| s.remove_callback(id))
}

/// `gc.garbage` of the default space.
///
/// # Examples
///
/// ```
/// let _ = coil_gc::garbage();
/// ```
pub fn garbage() -> Vec<Object> {
    Space::with_default(Space::garbage)
}

/// `gc.set_debug(flags)` on the default space.
///
/// # Examples
///
/// See [`DebugFlags`].
pub fn set_debug(flags: DebugFlags) {
    Space::with_default(|s| s.set_debug(flags))
}

/// `gc.get_debug()` on the default space.
///
/// # Examples
///
/// See [`DebugFlags`].
pub fn get_debug() -> DebugFlags {
    Space::with_default(Space::get_debug)
}
