//! The [`Brc`] handle: clone and drop on the owner thread, on other threads,
//! and the slow paths (giving up ownership, queueing, merging).

use core::{
    borrow::Borrow,
    fmt,
    hash::{Hash, Hasher},
    marker::PhantomData,
    ops::Deref,
    ptr::NonNull,
};

use allocator_api2::alloc::Allocator;

use super::{
    registry::{self, Queued},
    shared::{Dec, Shared},
};
use crate::{
    DefaultAlloc,
    counter::{Atomic, Counter},
    error::Error,
    header::Header,
    raw::RcBox,
};

type BrcBox<T, A> = RcBox<Shared, T, A>;

/// A thread-safe strong handle with biased reference counting (PEP 703): the
/// thread that created the object counts with plain loads and stores, other
/// threads count atomically in a separate field, and the two are merged when
/// the owner lets go. See the [module documentation](super) for the model.
///
/// `Brc` has clone, drop, `Deref` and introspection; it has no weak handles,
/// callbacks or immortality — [`Arc`](crate::Arc) is the general thread-safe
/// handle with every feature. Destruction goes through the trashcan, so
/// chains of any length drop in constant stack.
///
/// # Examples
///
/// ```
/// use coil_refcount::biased::Brc;
///
/// let a = Brc::new(vec![1, 2, 3]);
/// let b = a.clone(); // owner thread: no atomic instruction
/// assert!(Brc::is_owned_here(&b));
/// let c = a.clone();
/// std::thread::spawn(move || {
///     assert!(!Brc::is_owned_here(&c));
///     let d = c.clone(); // another thread: one atomic add
///     assert_eq!(*d, [1, 2, 3]);
/// })
/// .join()
/// .unwrap();
/// assert_eq!(Brc::strong_count(&a), 2);
/// ```
pub struct Brc<T, A: Allocator = DefaultAlloc> {
    ptr: NonNull<BrcBox<T, A>>,
    _marker: PhantomData<BrcBox<T, A>>,
}

// SAFETY: the counts are touched by the owner thread (local) or atomically
// (shared), never both non-atomically (module invariants); the value is
// shared (`T: Sync`) and may be dropped on any thread (`T: Send`); the
// allocator is used by whichever thread frees (`A: Send + Sync`).
unsafe impl<T: Send + Sync, A: Allocator + Send + Sync> Send for Brc<T, A> {}
// SAFETY: as above.
unsafe impl<T: Send + Sync, A: Allocator + Send + Sync> Sync for Brc<T, A> {}

impl<T> Brc<T, DefaultAlloc> {
    /// A new object in the default allocator, owned by the current thread.
    /// Every [`MERGE_EVERY`](super::MERGE_EVERY)-th call on a thread first
    /// merges the thread's pending objects (which may run their destructors).
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::biased::Brc;
    /// assert_eq!(*Brc::new(5), 5);
    /// ```
    #[inline]
    pub fn new(value: T) -> Self {
        Self::new_in(value, DefaultAlloc::default())
    }
}

impl<T, A: Allocator> Brc<T, A> {
    /// A new object allocated in `alloc`, owned by the current thread (on a
    /// thread that is exiting, after its registration is gone: owned by no
    /// thread, counted atomically only). Aborts through `handle_alloc_error`
    /// when the allocator fails; see [`try_new_in`](Self::try_new_in).
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::biased::Brc;
    /// use allocator_api2::alloc::Global;
    /// assert_eq!(*Brc::new_in(1u8, Global), 1);
    /// ```
    #[inline]
    pub fn new_in(value: T, alloc: A) -> Self {
        match Self::try_new_in(value, alloc) {
            Ok(b) => b,
            Err(_) => allocator_api2::alloc::handle_alloc_error(BrcBox::<T, A>::LAYOUT),
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
    /// use coil_refcount::biased::Brc;
    /// use allocator_api2::alloc::Global;
    /// assert_eq!(*Brc::try_new_in(1u8, Global).unwrap(), 1);
    /// ```
    #[inline]
    pub fn try_new_in(value: T, alloc: A) -> Result<Self, Error> {
        let owner = registry::owner_for_new();
        let prefix = if owner == 0 {
            Shared::unowned()
        } else {
            Shared::owned(owner)
        };
        let ptr =
            BrcBox::try_allocate(prefix, value, alloc, Atomic::BOX_FLAGS).map_err(|(e, ..)| e)?;
        if owner == 0 {
            // SAFETY: a fresh box no other thread can see; its one reference
            // is counted in the shared word (`Shared::unowned`).
            unsafe { BrcBox::header(ptr).as_ref().set_strong_owner(0) };
        }
        Ok(Brc {
            ptr,
            _marker: PhantomData,
        })
    }

    #[inline(always)]
    pub(super) fn parts(&self) -> (&Shared, &Header) {
        // SAFETY: our strong reference keeps the box allocated.
        unsafe {
            (
                BrcBox::prefix(self.ptr).as_ref(),
                BrcBox::header(self.ptr).as_ref(),
            )
        }
    }

    /// The number of strong handles: local count plus shared count, minus the
    /// reference held by a pending queue entry. Exact when no other thread is
    /// cloning or dropping the object and no merge is pending for it (the
    /// owner can make sure with [`merge_pending`](super::merge_pending));
    /// otherwise a snapshot that may be off by the concurrent operations.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::biased::Brc;
    /// let a = Brc::new(());
    /// let b = a.clone();
    /// assert_eq!(Brc::strong_count(&a), 2);
    /// # drop(b);
    /// ```
    pub fn strong_count(this: &Self) -> usize {
        let (s, h) = this.parts();
        let q = isize::from(s.is_queued());
        (h.strong() as isize + s.count() - q).max(0) as usize
    }

    /// Whether the current thread owns the object (counts it without atomic
    /// instructions). The owner gives up ownership when its own count of the
    /// object reaches zero, or when it merges the object.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::biased::Brc;
    /// let a = Brc::new(1);
    /// assert!(Brc::is_owned_here(&a));
    /// std::thread::spawn(move || assert!(!Brc::is_owned_here(&a))).join().unwrap();
    /// ```
    pub fn is_owned_here(this: &Self) -> bool {
        this.parts().0.owner() == registry::current()
    }

    /// Whether the object has no owner any more (its counts were merged and
    /// every thread counts it atomically).
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::biased::Brc;
    /// let a = Brc::new(1);
    /// assert!(!Brc::is_merged(&a));
    /// ```
    pub fn is_merged(this: &Self) -> bool {
        this.parts().0.is_merged()
    }

    /// Whether two handles point at the same object.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::biased::Brc;
    /// let a = Brc::new(1);
    /// assert!(Brc::ptr_eq(&a, &a.clone()));
    /// assert!(!Brc::ptr_eq(&a, &Brc::new(1)));
    /// ```
    #[inline]
    pub fn ptr_eq(this: &Self, other: &Self) -> bool {
        this.ptr == other.ptr
    }

    /// A pointer to the value (valid while a handle lives).
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::biased::Brc;
    /// let a = Brc::new(8);
    /// // SAFETY: `a` keeps the value alive.
    /// assert_eq!(unsafe { *Brc::as_ptr(&a) }, 8);
    /// ```
    #[inline]
    pub fn as_ptr(this: &Self) -> *const T {
        // SAFETY: live box.
        unsafe { BrcBox::value(this.ptr).as_ptr() }
    }

    /// The owner's local count reached zero.
    #[cold]
    #[inline(never)]
    fn give_up(&mut self) {
        // SAFETY: we are the owner and just took the local count to zero.
        if unsafe { self.parts().0.give_up() } {
            // SAFETY: invariant 4 of `shared`: we performed the transition to
            // dead; the box is handed over exactly once.
            unsafe { BrcBox::dispose::<Atomic>(self.ptr) };
        }
    }

    /// A non-owner drop found nothing to subtract from: the box is QUEUED and
    /// our reference now belongs to the queue.
    #[cold]
    #[inline(never)]
    fn queue(&mut self) {
        let s = self.parts().0;
        let owner = s.owner();
        if owner == 0 {
            // The owner gave up ownership concurrently (it is merging into a
            // MERGED word): give the queue's reference back as a plain
            // decrement; the state is no longer DEFAULT, so it cannot queue.
            let d = s.dec();
            debug_assert_ne!(d, Dec::Queue);
            if d == Dec::Dead {
                // SAFETY: invariant 4 of `shared`: our decrement produced the
                // dead word.
                unsafe { BrcBox::dispose::<Atomic>(self.ptr) };
            }
            return;
        }
        let q = Queued {
            ptr: self.ptr.cast(),
            merge: merge_queued::<T, A>,
        };
        // SAFETY: `q` carries the queue's reference of this QUEUED box.
        unsafe { registry::hand_over(q, owner) };
    }

    /// A non-owner drop.
    #[inline]
    fn drop_shared(&mut self) {
        match self.parts().0.dec() {
            Dec::Alive => {}
            Dec::Queue => self.queue(),
            Dec::Dead => {
                // SAFETY: invariant 4 of `shared`: our decrement produced the
                // dead word; the box is handed over exactly once.
                unsafe { BrcBox::dispose::<Atomic>(self.ptr) };
            }
        }
    }
}

/// The merge routine of a queued `Brc<T, A>` box: merge with the queue's
/// reference given up, destroy at zero.
///
/// # Safety
///
/// `p` is a `BrcBox<T, A>` whose queue reference the caller holds, and the
/// caller may touch its local count (see [`Shared::merge`]).
unsafe fn merge_queued<T, A: Allocator>(p: NonNull<()>) {
    let b = p.cast::<BrcBox<T, A>>();
    // SAFETY: the queue's reference keeps the box allocated; the caller's
    // right to the local count is forwarded.
    let total = unsafe {
        BrcBox::prefix(b)
            .as_ref()
            .merge(BrcBox::header(b).as_ref(), -1)
    };
    if total == 0 {
        // SAFETY: invariant 4 of `shared`: this merge produced the dead word.
        unsafe { BrcBox::dispose::<Atomic>(b) };
    }
}

impl<T, A: Allocator> Clone for Brc<T, A> {
    #[inline]
    fn clone(&self) -> Self {
        let (s, h) = self.parts();
        if s.owner() == registry::current() {
            // SAFETY: we are the owner: the only writer of the local count.
            unsafe { h.inc_strong_owner() };
        } else {
            s.inc();
        }
        Brc {
            ptr: self.ptr,
            _marker: PhantomData,
        }
    }
}

impl<T, A: Allocator> Drop for Brc<T, A> {
    #[inline]
    fn drop(&mut self) {
        let (s, h) = self.parts();
        if s.owner() == registry::current() {
            // SAFETY: we are the owner: the only writer of the local count;
            // the count includes a reference for this handle (handles counted
            // in the shared word only ever take it down to zero, at which
            // point ownership is given up).
            if unsafe { h.dec_strong_owner() } {
                self.give_up();
            }
        } else {
            self.drop_shared();
        }
    }
}

impl<T, A: Allocator> Deref for Brc<T, A> {
    type Target = T;
    #[inline(always)]
    fn deref(&self) -> &T {
        // SAFETY: the value is initialised while a handle lives, and only
        // shared borrows of it are ever handed out.
        unsafe { BrcBox::value(self.ptr).as_ref() }
    }
}

impl<T, A: Allocator> AsRef<T> for Brc<T, A> {
    fn as_ref(&self) -> &T {
        self
    }
}

impl<T, A: Allocator> Borrow<T> for Brc<T, A> {
    fn borrow(&self) -> &T {
        self
    }
}

impl<T: fmt::Display, A: Allocator> fmt::Display for Brc<T, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

impl<T: fmt::Debug, A: Allocator> fmt::Debug for Brc<T, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: PartialEq, A: Allocator> PartialEq for Brc<T, A> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T: Eq, A: Allocator> Eq for Brc<T, A> {}

impl<T: Hash, A: Allocator> Hash for Brc<T, A> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (**self).hash(state)
    }
}

impl<T: Default> Default for Brc<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}
