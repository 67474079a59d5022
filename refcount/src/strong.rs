//! Strong handles: [`Strong<T, A, C>`], seen by users as [`Rc`](crate::Rc)
//! (single thread, `C = Local`) and [`Arc`](crate::Arc) (thread-safe,
//! `C = Atomic`).
//!
//! A strong handle is one pointer to an [`RcBox<(), T, A>`](crate::raw::RcBox)
//! (no prefix). Clone and drop touch only the header's strong count; when the
//! count reaches zero the box goes to [`trashcan::destroy`](crate::trashcan::destroy), which bounds the
//! recursion of nested destructions.
//!
//! # Invariants
//!
//! 1. A live `Strong` owns one strong reference of its box (none is owned by
//!    handles of an immortal box: its count is never written).
//! 2. The value is initialised while any `Strong` exists.
//! 3. `&mut T` is handed out only when the handle is the only handle of any
//!    kind (`get_mut`), so no other reference to the value can exist.

use core::{
    borrow::Borrow,
    cmp::Ordering,
    fmt,
    hash::{Hash, Hasher},
    marker::PhantomData,
    mem::ManuallyDrop,
    ops::Deref,
    ptr::{self, NonNull},
};

use allocator_api2::alloc::Allocator;

use crate::{
    DefaultAlloc,
    counter::{Atomic, Counter, Local},
    error::Error,
    header::{Flags, Header, IMMORTAL_COUNT},
    raw::RcBox,
    weak::Weak,
};

/// A strong counted handle, generic over the allocator `A` and the counting
/// discipline `C`. Use it through the aliases [`Rc`](crate::Rc) and
/// [`Arc`](crate::Arc).
///
/// Formatting, comparison and hashing go to the value, as for std `Rc`.
///
/// # Examples
///
/// ```
/// use coil_refcount::Rc;
///
/// let a = Rc::new(vec![1, 2, 3]);
/// let b = a.clone();
/// assert_eq!(Rc::strong_count(&a), 2);
/// assert_eq!(*b, [1, 2, 3]);
/// assert!(Rc::ptr_eq(&a, &b));
/// ```
pub struct Strong<T, A: Allocator = DefaultAlloc, C: Counter = Local> {
    ptr: NonNull<RcBox<(), T, A>>,
    _marker: PhantomData<(RcBox<(), T, A>, C)>,
}

// SAFETY: an `Atomic` box counts with atomic operations and its value is
// shared (`T: Sync`) and may be dropped on any thread (`T: Send`); the
// allocator is used by whichever thread frees (`A: Send + Sync`).
unsafe impl<T: Send + Sync, A: Allocator + Send + Sync> Send for Strong<T, A, Atomic> {}
// SAFETY: as above.
unsafe impl<T: Send + Sync, A: Allocator + Send + Sync> Sync for Strong<T, A, Atomic> {}

impl<T, C: Counter> Strong<T, DefaultAlloc, C> {
    /// A new box holding `value` in the default allocator.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::Rc;
    /// assert_eq!(*Rc::new(5), 5);
    /// ```
    #[inline]
    pub fn new(value: T) -> Self {
        Self::new_in(value, DefaultAlloc::default())
    }

    /// Rebuilds a handle from [`into_raw`](Strong::into_raw) (default
    /// allocator; see [`from_raw_in`](Strong::from_raw_in) for others).
    ///
    /// # Safety
    ///
    /// - `ptr` was returned by `into_raw` of a handle with exactly the same `T`
    ///   and discipline `C`, in the default allocator (a pointer to any other
    ///   memory — a `Box`, a std `Rc`, a stack value — is undefined behaviour);
    /// - each `into_raw` is matched by at most one `from_raw` (the pointer
    ///   carries one strong reference).
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::Rc;
    /// let p = Rc::into_raw(Rc::new(4));
    /// // SAFETY: `p` came from `Rc::into_raw` of the same type.
    /// let a = unsafe { Rc::from_raw(p) };
    /// assert_eq!(*a, 4);
    /// ```
    pub unsafe fn from_raw(ptr: *const T) -> Self {
        // SAFETY: forwarded contract.
        unsafe { Self::from_raw_in(ptr) }
    }

    /// A new immortal box (PEP 683): clone and drop never write its count and
    /// it is never freed (its value is never dropped).
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::Rc;
    /// let none = Rc::new_immortal("None");
    /// let c = none.clone();
    /// assert!(Rc::is_immortal(&c));
    /// ```
    pub fn new_immortal(value: T) -> Self {
        let this = Self::new(value);
        Self::make_immortal(&this);
        this
    }
}

impl<T, A: Allocator, C: Counter> Strong<T, A, C> {
    /// A new box holding `value`, allocated in `alloc` (any
    /// `allocator_api2` allocator, e.g. a `&coil_heap::Heap`). Aborts through
    /// `handle_alloc_error` when the allocator fails; see
    /// [`try_new_in`](Self::try_new_in).
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::Rc;
    /// use allocator_api2::alloc::Global;
    /// let a = Rc::new_in(1u8, Global);
    /// assert_eq!(*a, 1);
    /// ```
    #[inline]
    pub fn new_in(value: T, alloc: A) -> Self {
        let ptr = RcBox::allocate((), value, alloc, C::BOX_FLAGS);
        Strong {
            ptr,
            _marker: PhantomData,
        }
    }

    /// Like [`new_in`](Self::new_in), but reports allocation failure.
    ///
    /// # Errors
    ///
    /// [`Error::AllocFailed`] if the allocator cannot provide the box (the
    /// value is dropped).
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::Rc;
    /// use allocator_api2::alloc::Global;
    /// let a = Rc::try_new_in(1u8, Global).unwrap();
    /// assert_eq!(*a, 1);
    /// ```
    pub fn try_new_in(value: T, alloc: A) -> Result<Self, Error> {
        match RcBox::try_allocate((), value, alloc, C::BOX_FLAGS) {
            Ok(ptr) => Ok(Strong {
                ptr,
                _marker: PhantomData,
            }),
            Err((e, ..)) => Err(e),
        }
    }

    #[inline(always)]
    fn h(&self) -> &Header {
        // SAFETY: invariant 1: our strong reference keeps the box allocated.
        unsafe { RcBox::header(self.ptr).as_ref() }
    }

    /// The header of the box (counts, flags, callbacks).
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::Rc;
    /// let a = Rc::new(());
    /// assert_eq!(Rc::header(&a).strong(), 1);
    /// ```
    #[inline]
    pub fn header(this: &Self) -> &Header {
        this.h()
    }

    /// The header flags of the box.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::{Flags, Rc};
    /// assert_eq!(Rc::flags(&Rc::new(0)), Flags::empty());
    /// ```
    pub fn flags(this: &Self) -> Flags {
        this.h().flags()
    }

    /// The number of strong handles.
    ///
    /// Unlike CPython's `sys.getrefcount(obj)`, the count does not include a
    /// temporary reference for the call's argument: where CPython prints 2 for
    /// an object held by one variable, this returns 1. For an immortal box it
    /// returns the pinned immortal count (a huge number, as CPython 3.12 does).
    ///
    /// # Examples
    ///
    /// The seed's `a = [1, 2, 3]` / `b = a` / `c = a` / `del b` / `del c`
    /// (CPython prints 2, 3, 4, 3, 2):
    ///
    /// ```
    /// use coil_refcount::Rc;
    /// let a = Rc::new(vec![1, 2, 3]);
    /// assert_eq!(Rc::strong_count(&a), 1);
    /// let b = a.clone();
    /// assert_eq!(Rc::strong_count(&a), 2);
    /// let c = a.clone();
    /// assert_eq!(Rc::strong_count(&a), 3);
    /// drop(b);
    /// assert_eq!(Rc::strong_count(&a), 2);
    /// drop(c);
    /// assert_eq!(Rc::strong_count(&a), 1);
    /// ```
    #[inline]
    pub fn strong_count(this: &Self) -> usize {
        this.h().strong()
    }

    /// The number of [`Weak`] handles (including those inside
    /// [`WeakRef`](crate::WeakRef)s).
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::Rc;
    /// let a = Rc::new(());
    /// let w = Rc::downgrade(&a);
    /// assert_eq!(Rc::weak_count(&a), 1);
    /// drop(w);
    /// assert_eq!(Rc::weak_count(&a), 0);
    /// ```
    #[inline]
    pub fn weak_count(this: &Self) -> usize {
        this.h().weak() - 1
    }

    /// Whether the box is immortal.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::Rc;
    /// assert!(!Rc::is_immortal(&Rc::new(1)));
    /// ```
    #[inline]
    pub fn is_immortal(this: &Self) -> bool {
        this.h().is_immortal()
    }

    /// Makes the box immortal (PEP 683): from now on clone and drop of strong
    /// handles only read the count, and the box is never freed — the value is
    /// leaked on purpose, like `Box::leak`. Irreversible.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::Rc;
    /// let a = Rc::new(String::from("interned"));
    /// Rc::make_immortal(&a);
    /// let before = Rc::strong_count(&a);
    /// let b = a.clone();
    /// drop(b);
    /// assert_eq!(Rc::strong_count(&a), before);
    /// ```
    pub fn make_immortal(this: &Self) {
        let h = this.h();
        // SAFETY: the box is alive (we hold a handle); the immortal count keeps
        // invariant 1 of the header; under Local we are the only thread.
        unsafe {
            C::set_strong(h, IMMORTAL_COUNT);
            C::insert_flags(h, Flags::IMMORTAL);
        }
        #[cfg(miri)]
        miri_immortals::keep(this.ptr.cast());
    }

    /// Creates a [`Weak`] handle to the box.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::Rc;
    /// let a = Rc::new(3);
    /// let w = Rc::downgrade(&a);
    /// assert_eq!(*w.upgrade().unwrap(), 3);
    /// ```
    pub fn downgrade(this: &Self) -> Weak<T, A, C> {
        // SAFETY: the box is alive; Local: this thread only.
        unsafe { C::inc_weak(this.h()) };
        // SAFETY: we just took a weak reference for the new handle.
        unsafe { Weak::from_box(this.ptr) }
    }

    /// Whether two handles point at the same box.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::Rc;
    /// let a = Rc::new(1);
    /// assert!(Rc::ptr_eq(&a, &a.clone()));
    /// assert!(!Rc::ptr_eq(&a, &Rc::new(1)));
    /// ```
    #[inline]
    pub fn ptr_eq(this: &Self, other: &Self) -> bool {
        this.ptr == other.ptr
    }

    /// A pointer to the value (stays valid while a strong handle lives).
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::Rc;
    /// let a = Rc::new(8);
    /// assert_eq!(unsafe { *Rc::as_ptr(&a) }, 8);
    /// ```
    #[inline]
    pub fn as_ptr(this: &Self) -> *const T {
        // SAFETY: live box.
        unsafe { RcBox::value(this.ptr).as_ptr() }
    }

    /// The allocator the box lives in.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::Rc;
    /// let a = Rc::new(1);
    /// let _alloc: &coil_refcount::DefaultAlloc = Rc::allocator(&a);
    /// ```
    pub fn allocator(this: &Self) -> &A {
        // SAFETY: live box; the borrow is tied to `this`, which keeps it live.
        unsafe { RcBox::allocator(this.ptr) }
    }

    /// Consumes the handle, returning a pointer to the value; the strong
    /// reference is kept by the pointer until [`from_raw`](Self::from_raw).
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::Rc;
    /// let p = Rc::into_raw(Rc::new(4));
    /// // SAFETY: `p` came from `Rc::into_raw` of the same type.
    /// let a = unsafe { Rc::from_raw(p) };
    /// assert_eq!(*a, 4);
    /// ```
    pub fn into_raw(this: Self) -> *const T {
        let p = Self::as_ptr(&this);
        core::mem::forget(this);
        p
    }

    /// Rebuilds a handle from [`into_raw`](Self::into_raw), for a box in any
    /// allocator `A` (the allocator is found in the box).
    ///
    /// # Safety
    ///
    /// - `ptr` was returned by `into_raw` of a `Strong<T, A, C>` with exactly
    ///   the same `T`, `A` and `C` (a pointer to any other memory — a `Box`, a
    ///   std `Rc`, a stack value — is undefined behaviour);
    /// - each `into_raw` is matched by at most one `from_raw_in` (the pointer
    ///   carries one strong reference).
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::Rc;
    /// use allocator_api2::alloc::Global;
    /// let p = Rc::into_raw(Rc::new_in(4, Global));
    /// // SAFETY: `p` came from `Rc::into_raw` of the same types.
    /// let a = unsafe { Rc::<i32, Global>::from_raw_in(p) };
    /// assert_eq!(*a, 4);
    /// ```
    pub unsafe fn from_raw_in(ptr: *const T) -> Self {
        // SAFETY: contract: `ptr` is the value of a live box of these types.
        let b = unsafe { RcBox::from_value(NonNull::new_unchecked(ptr.cast_mut())) };
        Strong {
            ptr: b,
            _marker: PhantomData,
        }
    }

    /// # Safety
    /// The caller transfers one strong reference of the live box `ptr`.
    pub(crate) unsafe fn from_box(ptr: NonNull<RcBox<(), T, A>>) -> Self {
        Strong {
            ptr,
            _marker: PhantomData,
        }
    }

    /// Adds a strong reference to the box behind a raw pointer (CPython's
    /// `Py_INCREF`).
    ///
    /// # Safety
    ///
    /// `ptr` came from [`into_raw`](Self::into_raw) of the same types and the
    /// box is still alive.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::Rc;
    /// let p = Rc::into_raw(Rc::new(1));
    /// // SAFETY: `p` is live and from `into_raw`; each reference is taken back.
    /// unsafe {
    ///     Rc::<i32>::increment_strong_count(p);
    ///     let a = Rc::from_raw(p);
    ///     assert_eq!(Rc::strong_count(&a), 2);
    ///     drop(Rc::from_raw(p));
    /// }
    /// ```
    pub unsafe fn increment_strong_count(ptr: *const T) {
        // SAFETY: forwarded contract.
        let this = ManuallyDrop::new(unsafe { Self::from_raw_in(ptr) });
        // SAFETY: live box; Local: this thread only.
        unsafe { C::inc_strong(this.h()) };
    }

    /// A mutable reference to the value if this is the only handle of any kind
    /// (no other strong, no weak); `None` otherwise, and always for immortal
    /// boxes.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::Rc;
    /// let mut a = Rc::new(1);
    /// *Rc::get_mut(&mut a).unwrap() += 1;
    /// let b = a.clone();
    /// assert!(Rc::get_mut(&mut a).is_none());
    /// drop(b);
    /// assert_eq!(*a, 2);
    /// ```
    pub fn get_mut(this: &mut Self) -> Option<&mut T> {
        // SAFETY: we hold a strong handle; Local: this thread only.
        if unsafe { C::is_unique(this.h()) } {
            // SAFETY: invariant 3: no other handle exists, and `&mut self`
            // excludes other borrows through this one.
            Some(unsafe { &mut *RcBox::value(this.ptr).as_ptr() })
        } else {
            None
        }
    }

    /// Consumes the handle and returns the value if it was the only strong
    /// handle; otherwise gives the handle back. Weak handles then see the
    /// object as dead and its weak callbacks run.
    ///
    /// # Errors
    ///
    /// Returns `Err(this)` if other strong handles exist or the box is
    /// immortal.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::Rc;
    /// let a = Rc::new(String::from("x"));
    /// let b = a.clone();
    /// let a = Rc::try_unwrap(a).unwrap_err();
    /// drop(b);
    /// assert_eq!(Rc::try_unwrap(a).unwrap(), "x");
    /// ```
    pub fn try_unwrap(this: Self) -> Result<T, Self> {
        let h = this.h();
        if h.is_immortal() || h.strong() != 1 {
            return Err(this);
        }
        // Claim the last strong reference.
        if !take_last::<C>(h) {
            return Err(this);
        }
        let this = ManuallyDrop::new(this);
        // SAFETY: the box stays allocated: the implicit weak reference is
        // released only below.
        let h = unsafe { RcBox::header(this.ptr).as_ref() };
        // SAFETY: we own the object exclusively now; the value is initialised
        // (invariant 2) and is moved out exactly once: the VALUE_DROPPED flag
        // set right after keeps `drop_value` from touching it.
        unsafe {
            let value = ptr::read(RcBox::value(this.ptr).as_ptr());
            C::insert_flags(h, Flags::WEAK_CLEARED | Flags::VALUE_DROPPED);
            if h.flags().contains(Flags::HAS_WEAK_CALLBACKS) {
                h.take_callbacks().run();
            }
            RcBox::release_weak::<C>(this.ptr);
            Ok(value)
        }
    }

    /// Clone-on-write: a mutable reference to the value, cloning it into a new
    /// box first if other handles (strong or weak) exist, or if immortal.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::Rc;
    /// let mut a = Rc::new(vec![1]);
    /// let b = a.clone();
    /// Rc::make_mut(&mut a).push(2);
    /// assert_eq!(*a, [1, 2]);
    /// assert_eq!(*b, [1]);
    /// ```
    pub fn make_mut(this: &mut Self) -> &mut T
    where
        T: Clone,
        A: Clone,
    {
        // SAFETY: we hold a strong handle; Local: this thread only.
        if !unsafe { C::is_unique(this.h()) } {
            let fresh = Self::new_in((**this).clone(), Self::allocator(this).clone());
            *this = fresh;
        }
        // SAFETY: unique now (the fresh box has one strong, no weak handle).
        unsafe { &mut *RcBox::value(this.ptr).as_ptr() }
    }

    #[inline(never)]
    fn drop_slow(&mut self) {
        // SAFETY: the strong count reached zero in `drop`: this handle hands the
        // box's destruction over, and it runs exactly once.
        unsafe { RcBox::dispose::<C>(self.ptr) };
    }
}

/// Takes the last strong reference (1 → 0) of a box, if it is the last.
fn take_last<C: Counter>(h: &Header) -> bool {
    if C::BOX_FLAGS.contains(Flags::ATOMIC) {
        h.take_last_atomic()
    } else {
        // SAFETY: a Local box is touched by this thread only; strong == 1 was
        // checked by the caller and nobody else can change it concurrently.
        unsafe { h.set_strong_local(0) };
        true
    }
}

impl<T, A: Allocator, C: Counter> Clone for Strong<T, A, C> {
    #[inline]
    fn clone(&self) -> Self {
        // SAFETY: the box is alive (we hold a handle); Local: this thread only.
        unsafe { C::inc_strong(self.h()) };
        Strong {
            ptr: self.ptr,
            _marker: PhantomData,
        }
    }
}

impl<T, A: Allocator, C: Counter> Drop for Strong<T, A, C> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: we give up the strong reference we own (invariant 1).
        if unsafe { C::dec_strong(self.h()) } {
            self.drop_slow();
        }
    }
}

impl<T, A: Allocator, C: Counter> Deref for Strong<T, A, C> {
    type Target = T;
    #[inline(always)]
    fn deref(&self) -> &T {
        // SAFETY: invariant 2: initialised while we exist; only shared borrows
        // can coexist with this one (invariant 3).
        unsafe { RcBox::value(self.ptr).as_ref() }
    }
}

impl<T, A: Allocator, C: Counter> AsRef<T> for Strong<T, A, C> {
    fn as_ref(&self) -> &T {
        self
    }
}

impl<T, A: Allocator, C: Counter> Borrow<T> for Strong<T, A, C> {
    fn borrow(&self) -> &T {
        self
    }
}

impl<T: fmt::Display, A: Allocator, C: Counter> fmt::Display for Strong<T, A, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

impl<T: fmt::Debug, A: Allocator, C: Counter> fmt::Debug for Strong<T, A, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T, A: Allocator, C: Counter> fmt::Pointer for Strong<T, A, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Pointer::fmt(&Self::as_ptr(self), f)
    }
}

impl<T: PartialEq, A: Allocator, C: Counter> PartialEq for Strong<T, A, C> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T: Eq, A: Allocator, C: Counter> Eq for Strong<T, A, C> {}

impl<T: PartialOrd, A: Allocator, C: Counter> PartialOrd for Strong<T, A, C> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        (**self).partial_cmp(&**other)
    }
}

impl<T: Ord, A: Allocator, C: Counter> Ord for Strong<T, A, C> {
    fn cmp(&self, other: &Self) -> Ordering {
        (**self).cmp(&**other)
    }
}

impl<T: Hash, A: Allocator, C: Counter> Hash for Strong<T, A, C> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (**self).hash(state)
    }
}

impl<T: Default, C: Counter> Default for Strong<T, DefaultAlloc, C> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T, C: Counter> From<T> for Strong<T, DefaultAlloc, C> {
    fn from(value: T) -> Self {
        Self::new(value)
    }
}

/// The number of strong handles to `obj` — `sys.getrefcount` translated.
///
/// CPython's `sys.getrefcount(a)` counts the temporary reference held by its
/// own argument, so it prints one more than the number of names bound to the
/// object. Passing `&obj` here creates no reference, so the result is exactly
/// the number of strong handles: subtract one from the seed documents' numbers.
///
/// # Examples
///
/// ```
/// use coil_refcount::{Rc, getrefcount};
/// let a: Rc<Vec<i32>> = Rc::new(vec![]); // CPython: getrefcount(a) == 2
/// assert_eq!(getrefcount(&a), 1);
/// let b = a.clone(); // CPython: 3
/// assert_eq!(getrefcount(&a), 2);
/// # drop(b);
/// ```
pub fn getrefcount<T, A: Allocator, C: Counter>(obj: &Strong<T, A, C>) -> usize {
    Strong::strong_count(obj)
}

/// Under miri, immortal boxes are recorded in a static list so the leak
/// checker sees them as reachable (they are leaked on purpose, like CPython's
/// immortal objects, which live until the process ends).
#[cfg(miri)]
mod miri_immortals {
    use std::sync::Mutex;

    struct Kept(#[allow(dead_code)] core::ptr::NonNull<()>);
    // SAFETY: the pointer is never dereferenced; it only keeps the box reachable.
    unsafe impl Send for Kept {}

    static KEPT: Mutex<Vec<Kept>> = Mutex::new(Vec::new());

    pub(super) fn keep(p: core::ptr::NonNull<()>) {
        KEPT.lock().unwrap_or_else(|e| e.into_inner()).push(Kept(p));
    }
}
