//! Weak-reference callbacks (`weakref.ref(obj, callback)`) for gc objects.
//!
//! A callback is a [`CallbackCell`] shared by the [`Weak`](crate::Weak)
//! handle that registered it and by this thread's registry, keyed by the
//! object's address. The object carries the `HAS_CALLBACKS` bit so that
//! death looks the registry up only when there is something to find.
//!
//! - The object dies by its count: weak handles are cleared
//!   (`WEAK_CLEARED`) and the pending callbacks run, newest first.
//! - The object dies in a collection (`handle_weakrefs`): callbacks of weak
//!   handles that are themselves owned by garbage are cancelled first (the
//!   handle is trash too, as in CPython), then every unreachable object's
//!   weak handles are cleared, then the remaining callbacks run — before any
//!   finalizer, and while no value has been dropped.
//! - Dropping the `Weak` cancels its callback.
//!
//! Panics in callbacks are caught and reported by the panic hook; the other
//! callbacks still run.

use core::{cell::RefCell, ptr::NonNull};
use std::{collections::HashMap, panic::AssertUnwindSafe, rc::Rc};

use crate::head::{self, GcHead, HAS_CALLBACKS};

type Callback = Box<dyn FnOnce()>;

/// One registered callback; `None` once run or cancelled.
pub(crate) struct CallbackCell {
    f: RefCell<Option<Callback>>,
}

impl CallbackCell {
    /// Cancels the callback (drops it unrun).
    pub(crate) fn cancel(&self) {
        let f = self.f.borrow_mut().take();
        drop(f);
    }

    /// Whether the callback has neither run nor been cancelled.
    pub(crate) fn pending(&self) -> bool {
        self.f.borrow().is_some()
    }
}

thread_local! {
    static REGISTRY: RefCell<HashMap<usize, Vec<Rc<CallbackCell>>>> = RefCell::new(HashMap::new());
}

/// Registers `f` on the object `h`.
///
/// # Safety
///
/// `h` is a live gc object of this thread.
pub(crate) unsafe fn register(h: NonNull<GcHead>, f: Callback) -> Rc<CallbackCell> {
    let cell = Rc::new(CallbackCell {
        f: RefCell::new(Some(f)),
    });
    let c = cell.clone();
    REGISTRY.with(|r| {
        r.borrow_mut()
            .entry(h.as_ptr() as usize)
            .or_default()
            .push(c)
    });
    // SAFETY: live object (caller).
    unsafe { head::set_bits(h, head::bits(h) | HAS_CALLBACKS) };
    cell
}

/// Whether any callback is registered on this thread (a fast test that lets
/// a collection skip the cancel pass).
pub(crate) fn any_registered() -> bool {
    REGISTRY
        .try_with(|r| r.try_borrow().map(|m| !m.is_empty()).unwrap_or(true))
        .unwrap_or(false)
}

/// Takes the callbacks registered on `h` and clears its bit.
///
/// # Safety
///
/// `h` is a live gc object of this thread.
pub(crate) unsafe fn take(h: NonNull<GcHead>) -> Vec<Rc<CallbackCell>> {
    // SAFETY: live object (caller).
    unsafe { head::set_bits(h, head::bits(h) & !HAS_CALLBACKS) };
    REGISTRY
        .try_with(|r| r.borrow_mut().remove(&(h.as_ptr() as usize)))
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// Runs the pending callbacks, newest first; returns how many ran.
pub(crate) fn run(cells: Vec<Rc<CallbackCell>>) -> usize {
    let mut ran = 0;
    for c in cells.into_iter().rev() {
        let f = c.f.borrow_mut().take();
        if let Some(f) = f {
            ran += 1;
            // The panic hook has printed the panic; carry on (CPython prints
            // "Exception ignored in" and continues).
            let _ = std::panic::catch_unwind(AssertUnwindSafe(f));
        }
    }
    ran
}
