//! `weakref.finalize`: a hook that runs once, when the object dies or when
//! called explicitly, whichever comes first.
//!
//! A [`Finalizer`] is a node in the object's callback list (see
//! [`crate::callbacks`]) without a weak handle. Unlike a
//! [`WeakRef`](crate::WeakRef), dropping the `Finalizer` does *not* cancel
//! it: CPython keeps every live `finalize` object in a registry, so the hook
//! fires even if the program dropped its reference. Cancel with
//! [`detach`](Finalizer::detach).
//!
//! CPython also runs the finalizers still alive at interpreter exit
//! (`atexit = True`); a Rust program has no such point, so a finalizer whose
//! object outlives the program simply never runs.
//!
//! # Invariants
//!
//! 1. A `Finalizer` is a [`Registration`] (which owns one reference of its
//!    node; the object's list owns the other until the object dies), typed by
//!    the box's counting discipline so that only an `Atomic` one crosses
//!    threads.

use core::{fmt, marker::PhantomData};

use allocator_api2::alloc::Allocator;

use crate::{
    callbacks::Registration,
    counter::{Atomic, CallbackFor, Counter, Local},
    strong::Strong,
};

/// The handle of a finalizer registered by [`finalize`].
///
/// # Examples
///
/// ```
/// use std::{cell::Cell, rc::Rc as StdRc};
/// use coil_refcount::{Rc, finalize};
///
/// let closed = StdRc::new(Cell::new(false));
/// let file = Rc::new("handle");
/// let c = closed.clone();
/// let fin = finalize(&file, move || c.set(true));
/// assert!(fin.alive());
/// drop(file);
/// assert!(closed.get());
/// assert!(!fin.alive());
/// ```
pub struct Finalizer<C: Counter = Local> {
    reg: Registration,
    _marker: PhantomData<C>,
}

// SAFETY: the node is shared through atomics only, and a finalizer of an
// Atomic box holds a `Send` closure (`CallbackFor<Atomic>`).
unsafe impl Send for Finalizer<Atomic> {}
// SAFETY: as above.
unsafe impl Sync for Finalizer<Atomic> {}

/// Registers `f` to run once when `obj` dies (CPython's
/// `weakref.finalize(obj, f)`), or earlier through [`Finalizer::call`].
/// Runs newest first together with the object's weak callbacks; a panic in
/// `f` during the object's death is caught like a weak callback's.
///
/// # Examples
///
/// See [`Finalizer`].
pub fn finalize<T, A: Allocator, C: Counter, F: CallbackFor<C>>(
    obj: &Strong<T, A, C>,
    f: F,
) -> Finalizer<C> {
    // SAFETY: `obj` keeps the box, and so its header, alive; a closure that
    // is not `Send` only comes with a `Local` box (`CallbackFor<Local>`), and
    // `Finalizer<Local>` is neither `Send` nor `Sync`.
    let reg = unsafe { Registration::new(Strong::header(obj), f.into_box()) };
    Finalizer {
        reg,
        _marker: PhantomData,
    }
}

impl<C: Counter> Finalizer<C> {
    /// Whether the hook has neither run nor been detached (CPython's `alive`).
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::{Rc, finalize};
    /// let a = Rc::new(1);
    /// let f = finalize(&a, || {});
    /// assert!(f.alive());
    /// ```
    pub fn alive(&self) -> bool {
        self.reg.is_pending()
    }

    /// Cancels the hook; returns whether it was still alive (CPython's
    /// `detach()`, which returns `None` when dead).
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::{Rc, finalize};
    /// let a = Rc::new(1);
    /// let f = finalize(&a, || panic!("never runs"));
    /// assert!(f.detach());
    /// assert!(!f.detach());
    /// drop(a);
    /// ```
    pub fn detach(&self) -> bool {
        self.reg.cancel()
    }

    /// Runs the hook now if it is still alive; returns whether it ran
    /// (CPython's `__call__`). It will not run again at the object's death. A
    /// panic in the hook propagates to the caller here.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc as StdRc};
    /// use coil_refcount::{Rc, finalize};
    /// let n = StdRc::new(Cell::new(0));
    /// let a = Rc::new(1);
    /// let m = n.clone();
    /// let f = finalize(&a, move || m.set(m.get() + 1));
    /// assert!(f.call());
    /// assert!(!f.call());
    /// drop(a);
    /// assert_eq!(n.get(), 1);
    /// ```
    pub fn call(&self) -> bool {
        self.reg.call()
    }
}

impl<C: Counter> fmt::Debug for Finalizer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Finalizer")
            .field("alive", &self.alive())
            .finish()
    }
}
