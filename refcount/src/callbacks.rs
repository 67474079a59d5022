//! Weak callbacks and finalizers: the per-object callback list.
//!
//! ```text
//!   TABLE (Mutex<HashMap<header address, list head>>)
//!     &Header ──► Node ──► Node ──► Node ──► null
//!                 newest                oldest
//!                   ▲
//!   WeakRef / Finalizer ───┘  (each node has two owners: the list and the handle)
//! ```
//!
//! The lists live in one process-wide side table rather than in every header:
//! objects with callbacks are rare, and a pointer per header would make every
//! box bigger. A header's `HAS_WEAK_CALLBACKS` flag says whether the table
//! holds a list for it; flag and entry change together under the table lock,
//! and the table is only touched when the flag is set (registration, death).
//!
//! A node holds one boxed `FnOnce()` and a three-state word:
//!
//! ```text
//!   PENDING ──(object dies: destroyer wins the CAS)──► TAKEN   (callback ran)
//!      │
//!      └────(WeakRef dropped / Finalizer::detach)────► CANCELLED (callback dropped)
//! ```
//!
//! Whoever moves the state out of `PENDING` takes the closure out of the node
//! and runs or drops it; that compare-and-swap is the only synchronisation the
//! closure slot needs, so a callback runs at most once even when a finalizer is
//! called on one thread while the object dies on another.
//!
//! # Invariants
//!
//! 1. `refs` counts the owners of the node (the list while the node is in a
//!    list or a [`CallbackList`], and the handle if any); the node is freed
//!    when it reaches zero.
//! 2. The closure slot is read or written only by the thread that won the
//!    transition out of `PENDING`.
//! 3. `next` is written only before the node is published in a list, or by the
//!    owner of a [`CallbackList`] (which owns every node in it).
//! 4. Callbacks run newest first, the order CPython's
//!    `PyObject_ClearWeakRefs` calls weak-reference callbacks.
//! 5. No user code (callback or closure drop) runs while the table lock is
//!    held.

use core::{
    cell::UnsafeCell,
    ptr::{self, NonNull},
    sync::atomic::{AtomicU8, AtomicUsize, Ordering},
};
use std::{
    collections::HashMap,
    panic::{AssertUnwindSafe, catch_unwind},
    sync::{Mutex, MutexGuard},
};

use crate::header::{Flags, Header};

/// A list head in the side table.
struct Head(*mut Node);

// SAFETY: a head is only read or written under the table lock; the nodes it
// leads to are shared through atomics (invariants 1–3).
unsafe impl Send for Head {}

type Table = HashMap<usize, Head>;

static TABLE: Mutex<Option<Table>> = Mutex::new(None);

fn table() -> MutexGuard<'static, Option<Table>> {
    // The lock is never held while user code runs (invariant 5), so a poisoned
    // lock can only come from an allocation failure inside HashMap; its data
    // is still consistent.
    TABLE.lock().unwrap_or_else(|e| e.into_inner())
}

fn key(h: &Header) -> usize {
    ptr::from_ref(h).addr()
}

/// Pushes `node` at the head of `h`'s list (newest first) and sets
/// `HAS_WEAK_CALLBACKS`.
///
/// # Safety
///
/// `node` came from [`Node::alloc`], is in no list, and its list reference is
/// handed to the table; `h` is the header of a live box.
pub(crate) unsafe fn push(h: &Header, node: NonNull<Node>) {
    let mut t = table();
    let head = t
        .get_or_insert_with(HashMap::new)
        .entry(key(h))
        .or_insert(Head(ptr::null_mut()));
    // SAFETY: the node is ours until published (invariant 3).
    unsafe { Node::set_next(node, head.0) };
    head.0 = node.as_ptr();
    h.insert_flags_atomic(Flags::HAS_WEAK_CALLBACKS);
}

/// Takes `h`'s whole list out of the table and clears `HAS_WEAK_CALLBACKS`.
pub(crate) fn take(h: &Header) -> CallbackList {
    let head = {
        let mut t = table();
        let head = t.as_mut().and_then(|t| t.remove(&key(h)));
        h.remove_flags_atomic(Flags::HAS_WEAK_CALLBACKS);
        head
    };
    match head {
        // SAFETY: removing the entry transferred the list to us.
        Some(Head(p)) => unsafe { CallbackList::from_head(p) },
        None => CallbackList::empty(),
    }
}

type Callback = Box<dyn FnOnce()>;

const PENDING: u8 = 0;
const TAKEN: u8 = 1;
const CANCELLED: u8 = 2;

/// One registered callback (private layout; see the module documentation).
pub struct Node {
    next: UnsafeCell<*mut Node>,
    state: AtomicU8,
    refs: AtomicUsize,
    callback: UnsafeCell<Option<Callback>>,
}

impl core::fmt::Debug for Node {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Node")
            .field("state", &self.state.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Node {
    /// Allocates a node with `refs` owners.
    pub(crate) fn alloc(callback: Callback, refs: usize) -> NonNull<Node> {
        let node = Box::new(Node {
            next: UnsafeCell::new(ptr::null_mut()),
            state: AtomicU8::new(PENDING),
            refs: AtomicUsize::new(refs),
            callback: UnsafeCell::new(Some(callback)),
        });
        NonNull::from(Box::leak(node))
    }

    /// # Safety
    /// The caller owns the node exclusively for list linking (invariant 3).
    pub(crate) unsafe fn set_next(node: NonNull<Node>, next: *mut Node) {
        // SAFETY: invariant 3, the caller's contract.
        unsafe { *(*node.as_ptr()).next.get() = next };
    }

    /// Moves the node out of `PENDING` into `to`; returns the closure if this
    /// call won.
    fn claim(&self, to: u8) -> Option<Callback> {
        if self
            .state
            .compare_exchange(PENDING, to, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            // SAFETY: invariant 2: we won the transition out of PENDING.
            unsafe { (*self.callback.get()).take() }
        } else {
            None
        }
    }

    /// Takes the callback out if it is still pending (state becomes `TAKEN`);
    /// the caller runs it.
    pub(crate) fn take(&self) -> Option<Callback> {
        self.claim(TAKEN)
    }

    /// Runs the callback if it is still pending. Returns `Some(true)` if it ran
    /// normally, `Some(false)` if it panicked (the panic is caught), `None` if
    /// it was not pending.
    pub(crate) fn fire(&self) -> Option<bool> {
        let cb = self.claim(TAKEN)?;
        Some(catch_unwind(AssertUnwindSafe(cb)).is_ok())
    }

    /// Cancels the callback if it is still pending; returns whether it was.
    pub(crate) fn cancel(&self) -> bool {
        match self.claim(CANCELLED) {
            Some(cb) => {
                drop(cb);
                true
            }
            None => false,
        }
    }

    /// Whether the callback is still pending.
    pub(crate) fn is_pending(&self) -> bool {
        self.state.load(Ordering::Acquire) == PENDING
    }

    /// Gives up one owner reference; frees the node on the last one.
    ///
    /// # Safety
    /// The caller owned one reference to `node` and does not use it afterwards.
    pub(crate) unsafe fn release(node: NonNull<Node>) {
        // SAFETY: the caller owns a reference, so the node is allocated.
        let n = unsafe { node.as_ref() };
        if n.refs.fetch_sub(1, Ordering::Release) == 1 {
            core::sync::atomic::fence(Ordering::Acquire);
            // SAFETY: last reference: nobody else can reach the node (inv. 1).
            drop(unsafe { Box::from_raw(node.as_ptr()) });
        }
    }
}

/// A list of callbacks taken from a dead (or dying) object's header, newest
/// first. [`run`](Self::run) calls the pending ones; dropping the list without
/// running it cancels them.
///
/// A collector uses it to decide itself when callbacks run (CPython's
/// `handle_weakrefs`); the handles of this crate run it when the strong count
/// reaches zero.
///
/// # Examples
///
/// ```
/// use std::{cell::Cell, rc::Rc as StdRc};
/// use coil_refcount::{Rc, Weak};
///
/// let log = StdRc::new(Cell::new(0));
/// let a = Rc::new(());
/// let l = log.clone();
/// let _w = Weak::with_callback(&a, move || l.set(l.get() + 1));
/// let list = Rc::header(&a).take_callbacks();
/// assert_eq!(list.run(), (1, 0)); // one ran, none panicked
/// assert_eq!(log.get(), 1);
/// drop(a); // the list was taken: nothing runs again
/// assert_eq!(log.get(), 1);
/// ```
#[derive(Debug)]
pub struct CallbackList {
    head: *mut Node,
}

impl CallbackList {
    pub(crate) const fn empty() -> Self {
        CallbackList {
            head: ptr::null_mut(),
        }
    }

    /// # Safety
    /// `head` is a list whose list references are transferred to the result.
    pub(crate) unsafe fn from_head(head: *mut Node) -> Self {
        CallbackList { head }
    }

    /// Number of nodes in the list (pending or not).
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::Rc;
    /// assert_eq!(Rc::header(&Rc::new(1)).take_callbacks().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        let mut n = 0;
        let mut p = self.head;
        while let Some(node) = NonNull::new(p) {
            n += 1;
            // SAFETY: we own every node of the list (invariant 1, 3).
            p = unsafe { *node.as_ref().next.get() };
        }
        n
    }

    /// Whether the list has no nodes.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::Rc;
    /// assert!(Rc::header(&Rc::new(1)).take_callbacks().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.head.is_null()
    }

    fn pop(&mut self) -> Option<NonNull<Node>> {
        let node = NonNull::new(self.head)?;
        // SAFETY: we own every node of the list.
        self.head = unsafe { *node.as_ref().next.get() };
        Some(node)
    }

    /// Runs every pending callback, newest first, and releases the nodes.
    /// A callback that panics is caught (the panic hook has already printed
    /// it, like CPython's "Exception ignored in" report) and the others still
    /// run. Returns `(ran, panicked)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::Rc;
    /// assert_eq!(Rc::header(&Rc::new(1)).take_callbacks().run(), (0, 0));
    /// ```
    pub fn run(mut self) -> (usize, usize) {
        let (mut ran, mut panicked) = (0, 0);
        while let Some(node) = self.pop() {
            // SAFETY: the list owns a reference to the node.
            match unsafe { node.as_ref() }.fire() {
                Some(true) => ran += 1,
                Some(false) => panicked += 1,
                None => {}
            }
            // SAFETY: the list's reference is given up after use.
            unsafe { Node::release(node) };
        }
        (ran, panicked)
    }
}

impl Drop for CallbackList {
    fn drop(&mut self) {
        while let Some(node) = self.pop() {
            // SAFETY: the list owns a reference to the node.
            unsafe { node.as_ref() }.cancel();
            // SAFETY: the list's reference is given up after use.
            unsafe { Node::release(node) };
        }
    }
}

/// A callback registered directly on a header: the building block of
/// [`WeakRef`](crate::WeakRef) and [`Finalizer`](crate::Finalizer), public for
/// a higher crate that builds its own weak handles on the same box (coil-gc).
///
/// The registration owns one reference of its node; dropping it does *not*
/// cancel the callback (call [`cancel`](Self::cancel) first for
/// `weakref.ref` semantics, as `WeakRef` does).
///
/// # Examples
///
/// ```
/// use std::{cell::Cell, rc::Rc as StdRc};
/// use coil_refcount::{Rc, callbacks::Registration};
///
/// let ran = StdRc::new(Cell::new(false));
/// let obj = Rc::new(1);
/// let r = ran.clone();
/// // SAFETY: `obj` is alive; it is a single-thread box, so a non-Send
/// // callback is fine.
/// let reg = unsafe { Registration::new(Rc::header(&obj), Box::new(move || r.set(true))) };
/// assert!(reg.is_pending());
/// drop(obj);
/// assert!(ran.get() && !reg.is_pending());
/// ```
#[derive(Debug)]
pub struct Registration {
    node: NonNull<Node>,
}

impl Registration {
    /// Registers `callback` on the object of header `h`; it runs once when the
    /// object dies (its list is run), unless cancelled or called before.
    ///
    /// # Safety
    ///
    /// - `h` is the header of a live box (a strong handle is held).
    /// - If `callback` is not `Send`, the box is a single-thread box whose
    ///   death happens on this thread, and the `Registration` stays on it.
    pub unsafe fn new(h: &Header, callback: Box<dyn FnOnce()>) -> Self {
        let node = Node::alloc(callback, 2);
        // SAFETY: fresh node; its list reference goes to the table (caller:
        // live header).
        unsafe { push(h, node) };
        Registration { node }
    }

    fn node(&self) -> &Node {
        // SAFETY: we own a reference of the node.
        unsafe { self.node.as_ref() }
    }

    /// Whether the callback has neither run nor been cancelled.
    ///
    /// # Examples
    ///
    /// See [`Registration`].
    pub fn is_pending(&self) -> bool {
        self.node().is_pending()
    }

    /// Cancels the callback (dropping the closure); returns whether it was
    /// pending.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::{Rc, callbacks::Registration};
    /// let obj = Rc::new(1);
    /// // SAFETY: live single-thread box.
    /// let reg = unsafe { Registration::new(Rc::header(&obj), Box::new(|| unreachable!())) };
    /// assert!(reg.cancel());
    /// drop(obj);
    /// ```
    pub fn cancel(&self) -> bool {
        self.node().cancel()
    }

    /// Runs the callback now if it is pending; returns whether it ran. A panic
    /// propagates to the caller.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::{Rc, callbacks::Registration};
    /// let obj = Rc::new(1);
    /// // SAFETY: live single-thread box.
    /// let reg = unsafe { Registration::new(Rc::header(&obj), Box::new(|| {})) };
    /// assert!(reg.call());
    /// assert!(!reg.call());
    /// ```
    pub fn call(&self) -> bool {
        match self.node().take() {
            Some(cb) => {
                cb();
                true
            }
            None => false,
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // SAFETY: our node reference is given up once.
        unsafe { Node::release(self.node) };
    }
}
