//! Counting disciplines: [`Local`] (plain loads and stores, one thread) and
//! [`Atomic`] (atomic read-modify-write, any thread).
//!
//! The handle types are generic over the discipline, so `Rc` and `Arc` share
//! one implementation of every feature ([`Rc`](crate::Rc) is
//! `Strong<T, A, Local>`, [`Arc`](crate::Arc) is `Strong<T, A, Atomic>`).
//! The trait is sealed: its methods forward to the [`Header`] operations of
//! the same name, whose safety contracts apply.

use crate::header::{Flags, Header};

mod sealed {
    pub trait Sealed {}
    pub trait CallbackSealed {}
}

/// A counting discipline (sealed): [`Local`] or [`Atomic`].
///
/// # Examples
///
/// ```
/// use coil_refcount::{Counter, Flags, Header, Local};
/// let h = Header::new(Flags::empty());
/// // SAFETY: a local header, this thread only.
/// unsafe { Local::inc_strong(&h) };
/// assert_eq!(h.strong(), 2);
/// ```
pub trait Counter: sealed::Sealed + Sized + 'static {
    /// Flags every box of this discipline carries from allocation.
    const BOX_FLAGS: Flags;

    /// [`Header::inc_strong_local`] / [`Header::inc_strong_atomic`].
    ///
    /// # Safety
    ///
    /// As the header method it forwards to.
    unsafe fn inc_strong(h: &Header);

    /// [`Header::dec_strong_local`] / [`Header::dec_strong_atomic`].
    ///
    /// # Safety
    ///
    /// As the header method it forwards to.
    unsafe fn dec_strong(h: &Header) -> bool;

    /// [`Header::inc_weak_local`] / [`Header::inc_weak_atomic`].
    ///
    /// # Safety
    ///
    /// As the header method it forwards to.
    unsafe fn inc_weak(h: &Header);

    /// [`Header::dec_weak_local`] / [`Header::dec_weak_atomic`].
    ///
    /// # Safety
    ///
    /// As the header method it forwards to.
    unsafe fn dec_weak(h: &Header) -> bool;

    /// [`Header::upgrade_local`] / [`Header::upgrade_atomic`].
    ///
    /// # Safety
    ///
    /// As the header method it forwards to.
    unsafe fn upgrade(h: &Header) -> bool;

    /// Whether the caller's strong handle is the only handle of any kind.
    ///
    /// # Safety
    ///
    /// The caller holds a strong handle; `Local`: this thread only.
    unsafe fn is_unique(h: &Header) -> bool;

    /// [`Header::set_strong_local`] / [`Header::set_strong_atomic`].
    ///
    /// # Safety
    ///
    /// As the header method it forwards to.
    unsafe fn set_strong(h: &Header, count: usize);

    /// [`Header::insert_flags_local`] / [`Header::insert_flags_atomic`].
    ///
    /// # Safety
    ///
    /// As the header method it forwards to.
    unsafe fn insert_flags(h: &Header, flags: Flags);
}

/// Single-thread counting: plain loads and stores, the cost of std `Rc`.
///
/// # Examples
///
/// ```
/// use coil_refcount::{Local, Strong};
/// let a: Strong<i32, coil_refcount::DefaultAlloc, Local> = Strong::new(1);
/// assert_eq!(*a, 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Local;

/// Thread-safe counting: atomic read-modify-write, the cost of std `Arc`.
///
/// # Examples
///
/// ```
/// use coil_refcount::{Atomic, Strong};
/// let a: Strong<i32, coil_refcount::DefaultAlloc, Atomic> = Strong::new(1);
/// assert_eq!(*a, 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Atomic;

impl sealed::Sealed for Local {}
impl sealed::Sealed for Atomic {}

impl Counter for Local {
    const BOX_FLAGS: Flags = Flags::empty();

    #[inline(always)]
    unsafe fn inc_strong(h: &Header) {
        // SAFETY: forwarded.
        unsafe { h.inc_strong_local() }
    }
    #[inline(always)]
    unsafe fn dec_strong(h: &Header) -> bool {
        // SAFETY: forwarded.
        unsafe { h.dec_strong_local() }
    }
    #[inline(always)]
    unsafe fn inc_weak(h: &Header) {
        // SAFETY: forwarded.
        unsafe { h.inc_weak_local() }
    }
    #[inline(always)]
    unsafe fn dec_weak(h: &Header) -> bool {
        // SAFETY: forwarded.
        unsafe { h.dec_weak_local() }
    }
    #[inline]
    unsafe fn upgrade(h: &Header) -> bool {
        // SAFETY: forwarded.
        unsafe { h.upgrade_local() }
    }
    #[inline]
    unsafe fn is_unique(h: &Header) -> bool {
        h.strong() == 1 && h.weak() == 1
    }
    #[inline]
    unsafe fn set_strong(h: &Header, count: usize) {
        // SAFETY: forwarded.
        unsafe { h.set_strong_local(count) }
    }
    #[inline]
    unsafe fn insert_flags(h: &Header, flags: Flags) {
        // SAFETY: forwarded.
        unsafe { h.insert_flags_local(flags) }
    }
}

impl Counter for Atomic {
    const BOX_FLAGS: Flags = Flags::ATOMIC;

    #[inline(always)]
    unsafe fn inc_strong(h: &Header) {
        h.inc_strong_atomic()
    }
    #[inline(always)]
    unsafe fn dec_strong(h: &Header) -> bool {
        // SAFETY: forwarded.
        unsafe { h.dec_strong_atomic() }
    }
    #[inline(always)]
    unsafe fn inc_weak(h: &Header) {
        h.inc_weak_atomic()
    }
    #[inline(always)]
    unsafe fn dec_weak(h: &Header) -> bool {
        // SAFETY: forwarded.
        unsafe { h.dec_weak_atomic() }
    }
    #[inline]
    unsafe fn upgrade(h: &Header) -> bool {
        h.upgrade_atomic()
    }
    #[inline]
    unsafe fn is_unique(h: &Header) -> bool {
        h.is_unique_atomic()
    }
    #[inline]
    unsafe fn set_strong(h: &Header, count: usize) {
        // SAFETY: forwarded.
        unsafe { h.set_strong_atomic(count) }
    }
    #[inline]
    unsafe fn insert_flags(h: &Header, flags: Flags) {
        h.insert_flags_atomic(flags)
    }
}

/// A callback acceptable to handles of discipline `C`: any `FnOnce() +
/// 'static` for [`Local`], and additionally `Send` for [`Atomic`] (the object
/// may die on another thread).
///
/// # Examples
///
/// ```
/// use coil_refcount::{Rc, Weak};
/// let a = Rc::new(1);
/// let local = std::rc::Rc::new(()); // not Send: fine for Rc callbacks
/// let _w = Weak::with_callback(&a, move || drop(local));
/// ```
pub trait CallbackFor<C: Counter>: sealed::CallbackSealed {
    /// Boxes the callback.
    fn into_box(self) -> Box<dyn FnOnce()>;
}

impl<F: FnOnce() + 'static> sealed::CallbackSealed for F {}

impl<F: FnOnce() + 'static> CallbackFor<Local> for F {
    fn into_box(self) -> Box<dyn FnOnce()> {
        Box::new(self)
    }
}

impl<F: FnOnce() + Send + 'static> CallbackFor<Atomic> for F {
    fn into_box(self) -> Box<dyn FnOnce()> {
        Box::new(self)
    }
}
