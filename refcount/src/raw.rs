//! The counted box and its low-level operations — the layer a collector
//! (coil-gc) builds its own handles on.
//!
//! # Layout
//!
//! ```text
//!   allocation start (aligned to max(align P, align Header, align T, align A))
//!   │
//!   ▼
//!   +--------------------+---------------------------+-----------+-----------+
//!   | prefix: P          | Header (16 bytes)         | value: T  | alloc: A  |
//!   | (gc links, gc_refs;| strong: usize             |           | (ZST for  |
//!   |  `()` for Rc/Arc)  | weak: u32 | flags: u32    |           |  global)  |
//!   +--------------------+---------------------------+-----------+-----------+
//!   ◄── PREFIX_OFFSET=0   ◄── HEADER_OFFSET            ◄── VALUE_OFFSET
//! ```
//!
//! `RcBox<P, T, A>` is `#[repr(C)]`, so the offsets are fixed by the field
//! order: the header follows the prefix exactly as CPython's `PyObject`
//! follows `PyGC_Head`, and the value follows the header. The allocator lives
//! at the end of the box (zero bytes for `Global`-like allocators), so a box
//! can always free itself — including from the deferred-destruction list,
//! where no handle is at hand.
//!
//! # Life cycle
//!
//! ```text
//!   allocate ──► alive (strong > 0)
//!                  │ strong reaches 0 (or a collector decides)
//!                  ▼
//!               run callbacks ─► drop_value (VALUE_DROPPED) ─► release_weak
//!                                                                │ weak reaches 0
//!                                                                ▼
//!                                                              free
//! ```
//!
//! "Value dropped" and "memory freed" are separate steps: a collector drops
//! the values of every member of a dead cycle first — each member's memory
//! stays valid while the others' destructors look at it — and frees the
//! memory afterwards. Weak handles see a box as dead from the moment
//! `WEAK_CLEARED` or `VALUE_DROPPED` is set, even if `strong > 0`.
//!
//! # Invariants
//!
//! 1. A box pointer handed out by [`RcBox::allocate`] stays valid until
//!    [`RcBox::free`]; the header is valid for that whole span.
//! 2. The value is initialised from `allocate` until `drop_value` (or a move
//!    out) sets `VALUE_DROPPED`; it is never read after that.
//! 3. `free` runs once, after the value was dropped or moved out, when no
//!    handle of any kind can reach the box.
//! 4. The `alloc` field is moved out only by `free`, which then deallocates
//!    the box with it.

use core::{
    alloc::Layout,
    marker::PhantomData,
    mem::{ManuallyDrop, offset_of},
    ptr::{self, NonNull},
};

use allocator_api2::alloc::Allocator;

use crate::{
    counter::Counter,
    error::Error,
    header::{Flags, Header},
};

/// A counted box: `[prefix P][Header][value T][allocator A]`, `#[repr(C)]`.
///
/// Only ever used through a `NonNull<RcBox<P, T, A>>`; all operations are
/// associated functions on that pointer. See the [module
/// documentation](self) for layout, life cycle and invariants.
///
/// # Examples
///
/// A collector-style handle built from the raw layer (prefix `u64`):
///
/// ```
/// use coil_refcount::{Flags, Local, raw::RcBox};
/// use allocator_api2::alloc::Global;
///
/// type B = RcBox<u64, String, Global>;
/// let b = B::allocate(7, String::from("v"), Global, Flags::empty());
/// // SAFETY: `b` is a live box from `allocate`, used on this thread only.
/// unsafe {
///     assert_eq!(*B::prefix(b).as_ptr(), 7);
///     assert_eq!(*B::value(b).as_ptr(), "v");
///     assert_eq!(B::from_header(B::header(b)), b);
///     // The last strong reference goes: callbacks, drop the value, release
///     // the implicit weak reference, free.
///     assert!(B::header(b).as_ref().dec_strong_local());
///     B::destroy::<Local>(b);
/// }
/// ```
#[repr(C)]
pub struct RcBox<P, T, A: Allocator> {
    prefix: P,
    header: Header,
    value: ManuallyDrop<T>,
    alloc: ManuallyDrop<A>,
}

impl<P, T, A: Allocator> RcBox<P, T, A> {
    /// Byte offset of the header from the start of the box.
    pub const HEADER_OFFSET: usize = offset_of!(Self, header);
    /// Byte offset of the value from the start of the box.
    pub const VALUE_OFFSET: usize = offset_of!(Self, value);
    /// The allocation layout of one box.
    pub const LAYOUT: Layout = Layout::new::<Self>();

    /// Allocates a box in `alloc` with one strong handle and the implicit weak
    /// reference; aborts through `handle_alloc_error` when memory runs out.
    ///
    /// # Examples
    ///
    /// See [`RcBox`].
    #[inline]
    pub fn allocate(prefix: P, value: T, alloc: A, flags: Flags) -> NonNull<Self> {
        match Self::try_allocate(prefix, value, alloc, flags) {
            Ok(p) => p,
            Err(_) => allocator_api2::alloc::handle_alloc_error(Self::LAYOUT),
        }
    }

    /// Like [`allocate`](Self::allocate), but returns the parts back with
    /// [`Error::AllocFailed`] when the allocator fails.
    ///
    /// # Errors
    ///
    /// [`Error::AllocFailed`] if `alloc` cannot provide the box.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::{Flags, Local, raw::RcBox};
    /// use allocator_api2::alloc::Global;
    ///
    /// let b = RcBox::<(), u8, Global>::try_allocate((), 1, Global, Flags::empty()).unwrap();
    /// // SAFETY: live box; we give up its only reference.
    /// unsafe {
    ///     assert!(RcBox::header(b).as_ref().dec_strong_local());
    ///     RcBox::destroy::<Local>(b);
    /// }
    /// ```
    #[allow(clippy::type_complexity)]
    #[inline]
    pub fn try_allocate(
        prefix: P,
        value: T,
        alloc: A,
        flags: Flags,
    ) -> Result<NonNull<Self>, (Error, P, T, A)> {
        let mem = match alloc.allocate(Self::LAYOUT) {
            Ok(m) => m.cast::<Self>(),
            Err(_) => {
                let e = Error::AllocFailed {
                    size: Self::LAYOUT.size(),
                    align: Self::LAYOUT.align(),
                };
                return Err((e, prefix, value, alloc));
            }
        };
        // SAFETY: `mem` is a fresh allocation of `LAYOUT`, suitably aligned.
        unsafe {
            mem.as_ptr().write(RcBox {
                prefix,
                header: Header::new(flags),
                value: ManuallyDrop::new(value),
                alloc: ManuallyDrop::new(alloc),
            })
        };
        Ok(mem)
    }

    /// The header of a box.
    ///
    /// # Safety
    ///
    /// `this` is a box from [`allocate`](Self::allocate) not yet freed.
    ///
    /// # Examples
    ///
    /// See [`RcBox`].
    #[inline(always)]
    pub unsafe fn header(this: NonNull<Self>) -> NonNull<Header> {
        // SAFETY: in-bounds field projection of a live box.
        unsafe { NonNull::new_unchecked(ptr::addr_of_mut!((*this.as_ptr()).header)) }
    }

    /// The prefix of a box.
    ///
    /// # Safety
    ///
    /// `this` is a live (not freed) box.
    ///
    /// # Examples
    ///
    /// See [`RcBox`].
    #[inline(always)]
    pub unsafe fn prefix(this: NonNull<Self>) -> NonNull<P> {
        // SAFETY: in-bounds field projection of a live box.
        unsafe { NonNull::new_unchecked(ptr::addr_of_mut!((*this.as_ptr()).prefix)) }
    }

    /// The value of a box. Reading through it is valid only while the value is
    /// initialised (invariant 2).
    ///
    /// # Safety
    ///
    /// `this` is a live (not freed) box.
    ///
    /// # Examples
    ///
    /// See [`RcBox`].
    #[inline(always)]
    pub unsafe fn value(this: NonNull<Self>) -> NonNull<T> {
        // SAFETY: in-bounds field projection; ManuallyDrop<T> is repr(transparent).
        unsafe { NonNull::new_unchecked(ptr::addr_of_mut!((*this.as_ptr()).value).cast::<T>()) }
    }

    /// The allocator stored in the box.
    ///
    /// # Safety
    ///
    /// `this` is a live (not freed) box, and the reference is not used after
    /// [`free`](Self::free).
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::Rc;
    /// let a = Rc::new(1);
    /// let _alloc = Rc::allocator(&a);
    /// ```
    #[inline]
    pub unsafe fn allocator<'a>(this: NonNull<Self>) -> &'a A {
        // SAFETY: the field is initialised until `free` (invariant 4).
        unsafe { &(*this.as_ptr()).alloc }
    }

    /// The box that holds this header.
    ///
    /// # Safety
    ///
    /// `header` is the header of a live `RcBox<P, T, A>` of exactly these
    /// type parameters.
    ///
    /// # Examples
    ///
    /// See [`RcBox`].
    #[inline(always)]
    pub unsafe fn from_header(header: NonNull<Header>) -> NonNull<Self> {
        // SAFETY: the header sits HEADER_OFFSET bytes into the box (repr(C)).
        unsafe { header.byte_sub(Self::HEADER_OFFSET).cast() }
    }

    /// The box that holds this value.
    ///
    /// # Safety
    ///
    /// `value` points at the value of a live `RcBox<P, T, A>` of exactly these
    /// type parameters, and carries the provenance of the whole box: it came
    /// from [`value`](Self::value), `Rc::as_ptr` or `Rc::into_raw` — not from a
    /// `&T` (a reference only covers the value, not the header before it).
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::{DefaultAlloc, Rc, raw::RcBox};
    /// use core::ptr::NonNull;
    ///
    /// let a = Rc::new(5);
    /// let v = NonNull::new(Rc::as_ptr(&a).cast_mut()).unwrap();
    /// // SAFETY: `v` is the value of a live Rc box.
    /// let b = unsafe { RcBox::<(), i32, DefaultAlloc>::from_value(v) };
    /// // SAFETY: live box.
    /// assert_eq!(unsafe { RcBox::header(b).as_ref().strong() }, 1);
    /// ```
    #[inline(always)]
    pub unsafe fn from_value(value: NonNull<T>) -> NonNull<Self> {
        // SAFETY: the value sits VALUE_OFFSET bytes into the box (repr(C)).
        unsafe { value.byte_sub(Self::VALUE_OFFSET).cast() }
    }

    /// The box that holds this prefix (the prefix is at offset 0).
    ///
    /// # Safety
    ///
    /// `prefix` points at the prefix of a live `RcBox<P, T, A>`.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::{Flags, Local, raw::RcBox};
    /// use allocator_api2::alloc::Global;
    /// type B = RcBox<u32, u8, Global>;
    /// let b = B::allocate(1, 2, Global, Flags::empty());
    /// // SAFETY: live box, used on this thread only.
    /// unsafe {
    ///     assert_eq!(B::from_prefix(B::prefix(b)), b);
    ///     assert!(B::header(b).as_ref().dec_strong_local());
    ///     B::destroy::<Local>(b);
    /// }
    /// ```
    #[inline(always)]
    pub unsafe fn from_prefix(prefix: NonNull<P>) -> NonNull<Self> {
        prefix.cast()
    }

    /// Marks the object dead for weak handles (`WEAK_CLEARED`), runs its
    /// pending weak callbacks (newest first, panics caught), then drops the
    /// value in place (`VALUE_DROPPED`) without freeing memory. Returns `false`
    /// and does nothing if the value was already dropped.
    ///
    /// # Safety
    ///
    /// - `this` is a live box whose value is not borrowed anywhere.
    /// - Under [`Local`](crate::Local), no other thread touches the header.
    /// - Nothing reads the value afterwards (handles that still exist must not
    ///   dereference it: a collector ensures this for dead cycles).
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::{Flags, Local, raw::RcBox};
    /// use allocator_api2::alloc::Global;
    /// type B = RcBox<(), Vec<u8>, Global>;
    /// let b = B::allocate((), vec![1], Global, Flags::empty());
    /// // SAFETY: live box, this thread only; the value is not used again.
    /// unsafe {
    ///     assert!(B::drop_value::<Local>(b));
    ///     assert!(!B::drop_value::<Local>(b));
    ///     // Strong count 1 remains; giving it up frees the memory only.
    ///     assert!(B::header(b).as_ref().dec_strong_local());
    ///     B::destroy::<Local>(b);
    /// }
    /// ```
    pub unsafe fn drop_value<C: Counter>(this: NonNull<Self>) -> bool {
        // SAFETY: live box (caller).
        let h = unsafe { Self::header(this).as_ref() };
        #[cfg(coil_debug_full)]
        h.check_invariants();
        if h.flags().contains(Flags::VALUE_DROPPED) {
            return false;
        }
        // Both flags at once (one write): weak handles stop upgrading before
        // the callbacks run, and the value can never be dropped twice.
        // SAFETY: forwarded (single-thread contract for Local).
        unsafe { C::insert_flags(h, Flags::WEAK_CLEARED | Flags::VALUE_DROPPED) };
        if h.flags().contains(Flags::HAS_WEAK_CALLBACKS) {
            h.take_callbacks().run();
        }
        // SAFETY: invariant 2: the value is initialised and unborrowed, and the
        // flag set above ensures it is dropped only once.
        unsafe { ptr::drop_in_place(Self::value(this).as_ptr()) };
        true
    }

    /// Gives up one weak reference; frees the box when it was the last one.
    /// Returns whether the box was freed.
    ///
    /// # Safety
    ///
    /// The caller owns a weak reference (or the implicit one of the strong
    /// handles, after the value was dropped or moved out), under the
    /// discipline `C` of the box.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::{Flags, Local, raw::RcBox};
    /// use allocator_api2::alloc::Global;
    /// type B = RcBox<(), u8, Global>;
    /// let b = B::allocate((), 1, Global, Flags::empty());
    /// // SAFETY: live box, this thread only.
    /// unsafe {
    ///     B::drop_value::<Local>(b);
    ///     B::header(b).as_ref().set_strong_local(0);
    ///     assert!(B::release_weak::<Local>(b)); // freed
    /// }
    /// ```
    #[inline]
    pub unsafe fn release_weak<C: Counter>(this: NonNull<Self>) -> bool {
        // SAFETY: the caller's weak reference keeps the box allocated.
        let last = unsafe { C::dec_weak(Self::header(this).as_ref()) };
        if last {
            // SAFETY: weak reached zero: no handle can reach the box; the
            // value was dropped (strong reached zero before the implicit weak
            // reference went).
            unsafe { Self::free(this) };
        }
        last
    }

    /// Frees the memory of a box whose value was dropped or moved out. Any
    /// callbacks still in its list are discarded (cancelled, not run).
    ///
    /// # Safety
    ///
    /// Invariant 3: the value is no longer initialised and no handle can reach
    /// the box; `free` was not called before.
    ///
    /// # Examples
    ///
    /// See [`release_weak`](Self::release_weak).
    #[inline]
    pub unsafe fn free(this: NonNull<Self>) {
        // SAFETY: live box until the deallocation below.
        let h = unsafe { Self::header(this).as_ref() };
        // The flag test is inline: the common box has no callbacks, and this
        // is the path every freed object takes (cycle collection frees
        // millions in a row).
        if h.flags().contains(Flags::HAS_WEAK_CALLBACKS) {
            drop(h.take_callbacks());
        }
        // SAFETY: invariant 4: moved out once, right before deallocation.
        let alloc = unsafe { ManuallyDrop::take(&mut (*this.as_ptr()).alloc) };
        // SAFETY: the box was allocated by this allocator with LAYOUT.
        unsafe { alloc.deallocate(this.cast(), Self::LAYOUT) };
    }

    /// The whole "strong count reached zero" sequence: run the callbacks, drop
    /// the value (unless already dropped), give up the implicit weak
    /// reference (freeing the box if no weak handle remains). Memory is
    /// released even if the value's destructor panics.
    ///
    /// # Safety
    ///
    /// The strong count of `this` reached zero (the caller performed the last
    /// decrement), or the caller otherwise owns the object exclusively and
    /// will not use it again. Under `Local`, this thread only.
    ///
    /// # Examples
    ///
    /// See [`RcBox`].
    pub unsafe fn destroy<C: Counter>(this: NonNull<Self>) {
        struct Release<P, T, A: Allocator, C: Counter>(NonNull<RcBox<P, T, A>>, PhantomData<C>);
        impl<P, T, A: Allocator, C: Counter> Drop for Release<P, T, A, C> {
            fn drop(&mut self) {
                // SAFETY: the implicit weak reference of the (now gone) strong
                // handles is given up exactly once, after the value is gone.
                unsafe { RcBox::release_weak::<C>(self.0) };
            }
        }
        let release = Release::<P, T, A, C>(this, PhantomData);
        // SAFETY: exclusive ownership of the dying object (caller).
        unsafe { Self::drop_value::<C>(this) };
        drop(release);
    }

    /// Disposes of a box whose strong count just reached zero: frees it at
    /// once when nothing can observe the value any more (the value has no drop
    /// glue, no weak handle exists and no flag beyond the discipline's own is
    /// set — so no callback, finalizer or collector state), otherwise destroys
    /// it through the [`trashcan`](crate::trashcan), which bounds the
    /// recursion of nested destructions. Every handle type of this crate ends
    /// a box's life here.
    ///
    /// # Safety
    ///
    /// The strong count of `this` reached zero and the caller hands the box's
    /// destruction over (it runs exactly once). Under `Local`, this thread
    /// only.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::{Flags, Local, raw::RcBox};
    /// use allocator_api2::alloc::Global;
    /// type B = RcBox<(), String, Global>;
    /// let b = B::allocate((), String::from("x"), Global, Flags::empty());
    /// // SAFETY: we give up the only strong reference, then hand the box over.
    /// unsafe {
    ///     assert!(B::header(b).as_ref().dec_strong_local());
    ///     B::dispose::<Local>(b);
    /// }
    /// ```
    #[inline]
    pub unsafe fn dispose<C: Counter>(this: NonNull<Self>) {
        if !core::mem::needs_drop::<T>() {
            // SAFETY: the caller's hand-over keeps the box allocated.
            let h = unsafe { Self::header(this).as_ref() };
            // With weak == 1 only the implicit weak reference is left: no weak
            // handle exists and none can be made (strong is 0), so nobody can
            // observe the flags or the value any more. Flags equal to the
            // discipline's own mean no callbacks, finalizer or collector
            // state. Then dropping the value is a no-op and the box can be
            // freed at once.
            if h.weak_raw_acquire() == 1 && h.flags() == C::BOX_FLAGS {
                // SAFETY: see above; `T` needs no drop, and the box is freed
                // exactly once (the caller's hand-over).
                unsafe { Self::free(this) };
                return;
            }
        }
        // SAFETY: the caller hands the destruction over; it runs exactly once.
        unsafe { crate::trashcan::destroy(this.cast(), Self::destroy_erased::<C>) };
    }

    /// [`destroy`](Self::destroy) as a type-erased [`DestroyFn`] for the
    /// [`trashcan`](crate::trashcan) work list.
    ///
    /// # Safety
    ///
    /// As [`destroy`](Self::destroy); `this` is a `NonNull<RcBox<P, T, A>>`.
    ///
    /// [`DestroyFn`]: crate::trashcan::DestroyFn
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::{Flags, Local, raw::RcBox, trashcan};
    /// use allocator_api2::alloc::Global;
    /// type B = RcBox<(), u8, Global>;
    /// let b = B::allocate((), 1, Global, Flags::empty());
    /// // SAFETY: we give up the only strong reference, then hand the box over.
    /// unsafe {
    ///     assert!(B::header(b).as_ref().dec_strong_local());
    ///     trashcan::destroy(b.cast(), B::destroy_erased::<Local>);
    /// }
    /// ```
    pub unsafe fn destroy_erased<C: Counter>(this: NonNull<()>) {
        // SAFETY: forwarded contract.
        unsafe { Self::destroy::<C>(this.cast()) }
    }
}
