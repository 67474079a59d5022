//! Weak handles: [`Weak`] (like std's) and [`WeakRef`], a weak handle with a
//! callback (`weakref.ref(obj, callback)`).
//!
//! A `Weak` owns one weak reference of its box, which keeps the memory (not
//! the value) allocated. `Weak::new()` makes a handle that points nowhere: it
//! holds the sentinel address `usize::MAX`, which no box can have.
//!
//! A `WeakRef` is a `Weak` plus a node in the object's callback list (see
//! [`crate::callbacks`]). The callback runs once when the object dies, and
//! only if the `WeakRef` is still alive then: dropping the `WeakRef` first
//! cancels it. Callbacks of one object run newest first, as in CPython.
//!
//! # Invariants
//!
//! 1. A non-sentinel `Weak` owns one weak reference, so its box is allocated.
//! 2. A `WeakRef` owns one reference of its callback node.

use core::{fmt, marker::PhantomData, ptr::NonNull};

use allocator_api2::alloc::Allocator;

use crate::{
    DefaultAlloc,
    callbacks::Node,
    counter::{Atomic, CallbackFor, Counter, Local},
    header::Header,
    raw::RcBox,
    strong::Strong,
};

/// A weak handle: does not keep the value alive; [`upgrade`](Self::upgrade)
/// returns a strong handle while the object lives.
///
/// For single-thread boxes use it as `coil_refcount::Weak<T>`; for
/// thread-safe boxes as [`sync::Weak<T>`](crate::sync::Weak).
///
/// # Examples
///
/// ```
/// use coil_refcount::{Rc, Weak};
///
/// let a = Rc::new(5);
/// let w: Weak<i32> = Rc::downgrade(&a);
/// assert_eq!(w.upgrade().as_deref(), Some(&5));
/// drop(a);
/// assert!(w.upgrade().is_none());
/// ```
pub struct Weak<T, A: Allocator = DefaultAlloc, C: Counter = Local> {
    ptr: NonNull<RcBox<(), T, A>>,
    _marker: PhantomData<(RcBox<(), T, A>, C)>,
}

// SAFETY: as for `Strong<T, A, Atomic>`: atomic counts; the value may be
// dropped or reached on any thread through `upgrade`.
unsafe impl<T: Send + Sync, A: Allocator + Send + Sync> Send for Weak<T, A, Atomic> {}
// SAFETY: as above.
unsafe impl<T: Send + Sync, A: Allocator + Send + Sync> Sync for Weak<T, A, Atomic> {}

const SENTINEL: usize = usize::MAX;

impl<T, A: Allocator, C: Counter> Weak<T, A, C> {
    /// A weak handle that points nowhere and never upgrades.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::Weak;
    /// let w: Weak<u8> = Weak::new();
    /// assert!(w.upgrade().is_none());
    /// assert_eq!(w.strong_count(), 0);
    /// ```
    pub const fn new() -> Self {
        Weak {
            // SAFETY: usize::MAX is non-null.
            ptr: unsafe { NonNull::new_unchecked(core::ptr::without_provenance_mut(SENTINEL)) },
            _marker: PhantomData,
        }
    }

    /// # Safety
    /// The caller transfers one weak reference of the live box `ptr`.
    pub(crate) unsafe fn from_box(ptr: NonNull<RcBox<(), T, A>>) -> Self {
        Weak {
            ptr,
            _marker: PhantomData,
        }
    }

    fn header(&self) -> Option<&Header> {
        if self.ptr.as_ptr() as usize == SENTINEL {
            None
        } else {
            // SAFETY: invariant 1: our weak reference keeps the box allocated.
            Some(unsafe { RcBox::header(self.ptr).as_ref() })
        }
    }

    /// A strong handle if the object is still alive.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::Rc;
    /// let a = Rc::new(1);
    /// let w = Rc::downgrade(&a);
    /// assert!(w.upgrade().is_some());
    /// drop(a);
    /// assert!(w.upgrade().is_none());
    /// ```
    pub fn upgrade(&self) -> Option<Strong<T, A, C>> {
        let h = self.header()?;
        // SAFETY: the box is allocated; Local: this thread only.
        if unsafe { C::upgrade(h) } {
            // SAFETY: upgrade took a strong reference for the new handle.
            Some(unsafe { Strong::from_box(self.ptr) })
        } else {
            None
        }
    }

    /// Whether the object is alive (an upgrade would succeed now).
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::Rc;
    /// let a = Rc::new(1);
    /// let w = Rc::downgrade(&a);
    /// assert!(w.is_alive());
    /// drop(a);
    /// assert!(!w.is_alive());
    /// ```
    pub fn is_alive(&self) -> bool {
        self.header().is_some_and(Header::is_alive)
    }

    /// The number of strong handles (0 once the object died).
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::Rc;
    /// let a = Rc::new(1);
    /// let w = Rc::downgrade(&a);
    /// assert_eq!(w.strong_count(), 1);
    /// drop(a);
    /// assert_eq!(w.strong_count(), 0);
    /// ```
    pub fn strong_count(&self) -> usize {
        match self.header() {
            Some(h) if h.is_alive() => h.strong(),
            _ => 0,
        }
    }

    /// The number of weak handles (0 once the object died, as std reports).
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::Rc;
    /// let a = Rc::new(1);
    /// let w = Rc::downgrade(&a);
    /// let w2 = w.clone();
    /// assert_eq!(w.weak_count(), 2);
    /// drop(a);
    /// assert_eq!(w2.weak_count(), 0);
    /// ```
    pub fn weak_count(&self) -> usize {
        match self.header() {
            Some(h) if h.strong() > 0 => h.weak() - 1,
            _ => 0,
        }
    }

    /// A pointer to the value's place (dangling for `Weak::new()`); valid to
    /// compare, to dereference only while the object is alive.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::Rc;
    /// let a = Rc::new(1);
    /// assert_eq!(Rc::downgrade(&a).as_ptr(), Rc::as_ptr(&a));
    /// ```
    pub fn as_ptr(&self) -> *const T {
        if self.header().is_none() {
            return self.ptr.as_ptr().cast();
        }
        // SAFETY: allocated box (invariant 1); only the address is computed.
        unsafe { RcBox::value(self.ptr).as_ptr() }
    }

    /// Whether two weak handles point at the same box (or both nowhere).
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::Rc;
    /// let a = Rc::new(1);
    /// assert!(Rc::downgrade(&a).ptr_eq(&Rc::downgrade(&a)));
    /// ```
    pub fn ptr_eq(&self, other: &Self) -> bool {
        self.ptr == other.ptr
    }

    /// Registers `callback` on `obj` and returns the [`WeakRef`] that keeps it
    /// armed (CPython's `weakref.ref(obj, callback)`). The callback runs once,
    /// when the object dies, if the `WeakRef` is still alive then.
    ///
    /// Callbacks of one object run newest first. A callback that panics is
    /// caught (after the panic hook printed it, like CPython's "Exception
    /// ignored in" report): the remaining callbacks still run, the counts stay
    /// right and the box is still freed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{cell::RefCell, rc::Rc as StdRc};
    /// use coil_refcount::{Rc, Weak};
    ///
    /// let log = StdRc::new(RefCell::new(Vec::new()));
    /// let obj = Rc::new(());
    /// let (l1, l2) = (log.clone(), log.clone());
    /// let _first = Weak::with_callback(&obj, move || l1.borrow_mut().push("first"));
    /// let _second = Weak::with_callback(&obj, move || l2.borrow_mut().push("second"));
    /// drop(obj);
    /// assert_eq!(*log.borrow(), ["second", "first"]); // newest first
    /// ```
    pub fn with_callback<F: CallbackFor<C>>(
        obj: &Strong<T, A, C>,
        callback: F,
    ) -> WeakRef<T, A, C> {
        let node = Node::alloc(callback.into_box(), 2);
        // SAFETY: `obj` keeps the box alive; the node is fresh and its list
        // reference goes to the header.
        unsafe { Strong::header(obj).push_callback(node) };
        WeakRef {
            weak: Strong::downgrade(obj),
            node,
        }
    }
}

impl<T, A: Allocator, C: Counter> Default for Weak<T, A, C> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, A: Allocator, C: Counter> Clone for Weak<T, A, C> {
    fn clone(&self) -> Self {
        if let Some(h) = self.header() {
            // SAFETY: allocated box; Local: this thread only.
            unsafe { C::inc_weak(h) };
        }
        Weak {
            ptr: self.ptr,
            _marker: PhantomData,
        }
    }
}

impl<T, A: Allocator, C: Counter> Drop for Weak<T, A, C> {
    fn drop(&mut self) {
        if self.header().is_some() {
            // SAFETY: invariant 1: we give up the weak reference we own; if it
            // was the last one the value is gone already (the strong handles'
            // implicit weak reference is released only after the value).
            unsafe { RcBox::release_weak::<C>(self.ptr) };
        }
    }
}

impl<T, A: Allocator, C: Counter> fmt::Debug for Weak<T, A, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(Weak)")
    }
}

/// A weak handle with a callback: the result of
/// [`Weak::with_callback`]. Dropping it cancels the callback.
///
/// It is not `Clone` — like a CPython weakref object, it is one object;
/// share it behind an `Rc` if several owners need it.
///
/// # Examples
///
/// ```
/// use std::{cell::Cell, rc::Rc as StdRc};
/// use coil_refcount::{Rc, Weak};
///
/// let ran = StdRc::new(Cell::new(false));
/// let obj = Rc::new(1);
/// let r = ran.clone();
/// let w = Weak::with_callback(&obj, move || r.set(true));
/// drop(w); // cancelled: the handle died first
/// drop(obj);
/// assert!(!ran.get());
/// ```
pub struct WeakRef<T, A: Allocator = DefaultAlloc, C: Counter = Local> {
    weak: Weak<T, A, C>,
    node: NonNull<Node>,
}

// SAFETY: the node is shared through atomics only (state, refs); its closure
// is `Send` for Atomic boxes (`CallbackFor<Atomic>`), and the weak handle is
// Send/Sync under the same bounds.
unsafe impl<T: Send + Sync, A: Allocator + Send + Sync> Send for WeakRef<T, A, Atomic> {}
// SAFETY: as above; `&WeakRef` only reads the node's state.
unsafe impl<T: Send + Sync, A: Allocator + Send + Sync> Sync for WeakRef<T, A, Atomic> {}

impl<T, A: Allocator, C: Counter> WeakRef<T, A, C> {
    /// A strong handle if the object is still alive.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::{Rc, Weak};
    /// let a = Rc::new(2);
    /// let w = Weak::with_callback(&a, || {});
    /// assert_eq!(*w.upgrade().unwrap(), 2);
    /// ```
    pub fn upgrade(&self) -> Option<Strong<T, A, C>> {
        self.weak.upgrade()
    }

    /// Whether the object is alive.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::{Rc, Weak};
    /// let a = Rc::new(2);
    /// let w = Weak::with_callback(&a, || {});
    /// drop(a);
    /// assert!(!w.is_alive());
    /// ```
    pub fn is_alive(&self) -> bool {
        self.weak.is_alive()
    }

    /// Whether the callback has neither run nor been cancelled yet.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::{Rc, Weak};
    /// let a = Rc::new(2);
    /// let w = Weak::with_callback(&a, || {});
    /// assert!(w.callback_pending());
    /// drop(a);
    /// assert!(!w.callback_pending());
    /// ```
    pub fn callback_pending(&self) -> bool {
        // SAFETY: invariant 2: we own a reference of the node.
        unsafe { self.node.as_ref() }.is_pending()
    }

    /// The plain weak handle inside.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::{Rc, Weak};
    /// let a = Rc::new(2);
    /// let w = Weak::with_callback(&a, || {});
    /// assert_eq!(w.weak().strong_count(), 1);
    /// ```
    pub fn weak(&self) -> &Weak<T, A, C> {
        &self.weak
    }
}

impl<T, A: Allocator, C: Counter> Drop for WeakRef<T, A, C> {
    fn drop(&mut self) {
        // SAFETY: invariant 2; the handle's node reference is given up once.
        unsafe {
            self.node.as_ref().cancel();
            Node::release(self.node);
        }
    }
}

impl<T, A: Allocator, C: Counter> fmt::Debug for WeakRef<T, A, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeakRef")
            .field("alive", &self.is_alive())
            .field("callback_pending", &self.callback_pending())
            .finish()
    }
}
