//! The handles: [`Gc<T>`] (strong), [`Weak<T>`] and the type-erased
//! [`Object`].
//!
//! A `Gc<T>` is one pointer to a coil-refcount box whose prefix is the gc
//! head (see `head.rs`). Clone and drop count as `Rc` does; when the count
//! reaches zero the object leaves its generation list at once and is
//! destroyed through coil-refcount's trashcan (constant stack depth, however
//! long the chain). Only cycles wait for the collector.
//!
//! # Invariants
//!
//! 1. A live `Gc`/`Object` owns one strong reference, so its box is allocated.
//! 2. The value is initialised until `VALUE_DROPPED` is set; it is set by
//!    the count path (count zero) or by the collector's `delete_garbage`,
//!    never while a `&T` handed out by [`Gc::deref`] can be live, *provided*
//!    every `Trace` impl keeps its rule 1. `deref` checks the flag, so a
//!    handle that a `Drop` impl smuggled out of a dying cycle panics
//!    instead of reading a dropped value.
//! 3. An object is unlinked from its generation list before its value
//!    starts to drop, so no collection ever traces a value being dropped.

use core::{any::TypeId, fmt, marker::PhantomData, ops::Deref, ptr::NonNull};
use std::{panic::AssertUnwindSafe, rc::Rc};

use coil_refcount::{Flags, Local, raw::RcBox, trashcan};

use crate::{
    Finalize, Space,
    head::{self, GcHead, HAS_CALLBACKS, OWNED, UNREACHABLE, VTable},
    space::SpaceState,
    trace::{Op, Trace, Visitor},
    weakrefs::{self, CallbackCell},
};

/// The allocator gc boxes live in (coil-heap's global heap).
pub(crate) type Alloc = coil_refcount::DefaultAlloc;
/// The box of a `Gc<T>`.
pub(crate) type GcBox<T> = RcBox<GcHead, T, Alloc>;

struct VT<T>(PhantomData<T>);

impl<T: Trace + 'static> VT<T> {
    const PLAIN: VTable = VTable {
        trace: trace_fn::<T>,
        drop_value: drop_fn::<T>,
        release: release_fn::<T>,
        destroy: destroy_fn::<T>,
        finalize: None,
        legacy: false,
        type_id: TypeId::of::<T>,
        type_name: core::any::type_name::<T>,
    };
}

impl<T: Trace + Finalize + 'static> VT<T> {
    const FINALIZED: VTable = VTable {
        finalize: Some(finalize_fn::<T>),
        ..VT::<T>::PLAIN
    };
    const LEGACY: VTable = VTable {
        finalize: Some(finalize_fn::<T>),
        legacy: true,
        ..VT::<T>::PLAIN
    };
}

unsafe fn trace_fn<T: Trace + 'static>(h: NonNull<GcHead>, v: &mut Visitor<'_>) {
    // SAFETY: the collector traces only listed objects, whose values are
    // initialised (invariant 3).
    unsafe { GcBox::<T>::value(h.cast()).as_ref() }.trace(v);
}

unsafe fn drop_fn<T: Trace + 'static>(h: NonNull<GcHead>) -> bool {
    // SAFETY: the collector owns the dying object (OWNED); no `&T` is live.
    unsafe { GcBox::<T>::drop_value::<Local>(h.cast()) }
}

unsafe fn release_fn<T: Trace + 'static>(h: NonNull<GcHead>) {
    // SAFETY: strong count is zero and the value dropped: the implicit weak
    // reference is given up once.
    unsafe { GcBox::<T>::release_weak::<Local>(h.cast()) };
}

unsafe fn destroy_fn<T: Trace + 'static>(p: NonNull<()>) {
    let h = p.cast::<GcHead>();
    // SAFETY: the count reached zero and the object was untracked by
    // `drop_slow`; weak callbacks run before the value drops.
    unsafe {
        if head::bits(h) & HAS_CALLBACKS != 0 {
            head::header(h).insert_flags_local(Flags::WEAK_CLEARED);
            weakrefs::run(weakrefs::take(h));
        }
        GcBox::<T>::destroy::<Local>(p.cast());
    }
}

unsafe fn finalize_fn<T: Trace + Finalize + 'static>(h: NonNull<GcHead>) {
    // SAFETY: finalizers run only on objects whose value is initialised.
    unsafe { GcBox::<T>::value(h.cast()).as_ref() }.finalize();
}

/// Runs a finalizer with panics caught (reported by the panic hook).
///
/// # Safety
///
/// `h` is a live object with an initialised value and `finalize` is its
/// vtable's finalizer.
pub(crate) unsafe fn run_finalizer(h: NonNull<GcHead>, f: unsafe fn(NonNull<GcHead>)) {
    // SAFETY: forwarded.
    let _ = std::panic::catch_unwind(AssertUnwindSafe(|| unsafe { f(h) }));
}

/// The count of an object reached zero: finalize (PEP 442), untrack, destroy.
///
/// # Safety
///
/// The caller performed the decrement that reached zero on the live object `h`.
#[cold]
#[inline(never)]
pub(crate) unsafe fn drop_slow(h: NonNull<GcHead>) {
    // SAFETY: the box is allocated (its memory outlives the count).
    unsafe {
        if head::bits(h) & (OWNED | UNREACHABLE) != 0 {
            // The collector is deleting this object and drops it itself.
            return;
        }
        let hdr = head::header(h);
        let vt = (*h.as_ptr()).vtable;
        if let Some(fin) = vt.finalize {
            let flags = hdr.flags();
            if !flags.intersects(Flags::FINALIZED | Flags::VALUE_DROPPED) {
                // PEP 442: finalize once with a temporary reference; the
                // object is resurrected if it gained another one.
                hdr.set_strong_local(1);
                hdr.insert_flags_local(Flags::FINALIZED);
                run_finalizer(h, fin);
                if !hdr.dec_strong_local() {
                    return;
                }
            }
        }
        untrack(h);
        trashcan::destroy(h.cast(), vt.destroy);
    }
}

/// Removes a tracked object from its list (and its space's counts).
///
/// # Safety
///
/// `h` is a live object of this thread.
#[inline]
pub(crate) unsafe fn untrack(h: NonNull<GcHead>) {
    // SAFETY: caller; a tracked object's list outlives its membership
    // (spaces detach their objects when dropped).
    unsafe {
        let node = h.as_ptr();
        if !(*node).next.get().is_null() {
            head::list_remove(node);
            head::header(h).remove_flags_local(Flags::TRACKED);
        }
    }
}

#[cold]
#[inline(never)]
fn dropped_value() -> ! {
    panic!(
        "coil-gc: this object's value was already dropped by the collector \
         (a handle escaped a dead cycle through a Drop impl; use Gc::try_get)"
    )
}

/// A strong handle to a value in a collected object space.
///
/// `Gc::new(x)` allocates `x` in this thread's default space; a `T` that can
/// hold other `Gc`s ([`Trace::MAY_CONTAIN_GC`]) is *tracked*, so the cycle
/// collector can find it in a cycle. Clone and drop count references like
/// `Rc`: when the last handle goes the value drops at once, deterministically,
/// even if the collector is disabled. The handle is `!Send`.
///
/// Dereferencing checks that the value is alive: a handle whose object was
/// destroyed in a collected cycle while a `Drop` impl kept a copy panics
/// ([`Gc::try_get`] returns `None` instead).
///
/// # Examples
///
/// ```
/// use coil_gc::{Gc, Trace};
/// use std::cell::RefCell;
///
/// #[derive(Trace)]
/// struct List(RefCell<Vec<Gc<List>>>);
///
/// let a = Gc::new(List(RefCell::new(vec![])));
/// let b = Gc::new(List(RefCell::new(vec![])));
/// a.0.borrow_mut().push(b.clone()); // a.append(b)
/// b.0.borrow_mut().push(a.clone()); // b.append(a)
/// drop((a, b));
/// assert_eq!(coil_gc::collect(2).unwrap(), 2);
/// ```
pub struct Gc<T: Trace + 'static> {
    ptr: NonNull<GcBox<T>>,
    _marker: PhantomData<GcBox<T>>,
}

impl<T: Trace + 'static> Gc<T> {
    /// Allocates `value` in this thread's default space.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = coil_gc::Gc::new(5);
    /// assert_eq!(*a, 5);
    /// ```
    #[inline]
    pub fn new(value: T) -> Self {
        Space::with_default(|s| Gc::new_in(s, value))
    }

    /// Allocates `value` in `space`.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_gc::{Gc, Space};
    /// let space = Space::new();
    /// let a = Gc::new_in(&space, vec![Gc::new_in(&space, 1)]);
    /// assert!(space.is_tracked(&Gc::to_object(&a)));
    /// ```
    #[inline]
    pub fn new_in(space: &Space, value: T) -> Self {
        Self::alloc(space.state(), value, &VT::<T>::PLAIN)
    }

    #[inline(always)]
    fn alloc(sp: &SpaceState, value: T, vt: &'static VTable) -> Self {
        const { assert!(GcBox::<T>::HEADER_OFFSET == head::HEADER_OFFSET) };
        let tracked = T::MAY_CONTAIN_GC && sp.is_usable();
        let flags = if tracked {
            Flags::TRACKED
        } else {
            Flags::empty()
        };
        let id = if tracked { sp.id } else { 0 };
        let b = GcBox::<T>::allocate(GcHead::new(vt, id), value, Alloc::default(), flags);
        if tracked {
            // SAFETY: a fresh box, not in any list.
            unsafe { sp.track_new(b.cast()) };
        }
        Gc {
            ptr: b,
            _marker: PhantomData,
        }
    }

    /// Allocates `value` with a PEP 442 finalizer in the default space.
    ///
    /// # Examples
    ///
    /// See [`Finalize`].
    pub fn new_finalized(value: T) -> Self
    where
        T: Finalize,
    {
        Space::with_default(|s| Gc::new_finalized_in(s, value))
    }

    /// Allocates `value` with a PEP 442 finalizer in `space`.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_gc::{Finalize, Gc, Space};
    /// struct Loud;
    /// // SAFETY: holds no Gc.
    /// unsafe impl coil_gc::Trace for Loud { fn trace(&self, _: &mut coil_gc::Visitor<'_>) {} }
    /// impl Finalize for Loud { fn finalize(&self) { println!("deleted"); } }
    /// let s = Space::new();
    /// drop(Gc::new_finalized_in(&s, Loud)); // prints "deleted"
    /// ```
    pub fn new_finalized_in(space: &Space, value: T) -> Self
    where
        T: Finalize,
    {
        Self::alloc(space.state(), value, &VT::<T>::FINALIZED)
    }

    /// Allocates `value` with a *legacy* finalizer (CPython's `tp_del`): a
    /// cycle that contains it, or is reachable from it, is uncollectable and
    /// goes to `garbage` instead of being freed. Alone (not in a cycle) it
    /// finalizes and dies by its count as usual.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_gc::{Finalize, Gc, Space, Trace};
    /// use std::cell::RefCell;
    /// #[derive(Trace)]
    /// struct Old(RefCell<Option<Gc<Old>>>);
    /// impl Finalize for Old { fn finalize(&self) {} }
    /// let s = Space::new();
    /// let a = Gc::new_legacy_in(&s, Old(RefCell::new(None)));
    /// *a.0.borrow_mut() = Some(a.clone());
    /// drop(a);
    /// assert_eq!(s.collect(2).unwrap(), 1);
    /// assert_eq!(s.garbage().len(), 1);
    /// ```
    pub fn new_legacy_in(space: &Space, value: T) -> Self
    where
        T: Finalize,
    {
        Self::alloc(space.state(), value, &VT::<T>::LEGACY)
    }

    #[inline(always)]
    pub(crate) fn head_ptr(this: &Self) -> NonNull<GcHead> {
        this.ptr.cast()
    }

    #[inline(always)]
    fn hdr(&self) -> &coil_refcount::Header {
        // SAFETY: invariant 1.
        unsafe { GcBox::<T>::header(self.ptr).as_ref() }
    }

    /// The value, or `None` if the collector already dropped it (only
    /// possible for a handle that escaped a dead cycle through a `Drop` impl).
    ///
    /// # Examples
    ///
    /// ```
    /// let a = coil_gc::Gc::new(1);
    /// assert_eq!(coil_gc::Gc::try_get(&a), Some(&1));
    /// ```
    #[inline]
    pub fn try_get(this: &Self) -> Option<&T> {
        if this.hdr().flags().contains(Flags::VALUE_DROPPED) {
            None
        } else {
            // SAFETY: invariant 2: initialised while the flag is clear.
            Some(unsafe { GcBox::<T>::value(this.ptr).as_ref() })
        }
    }

    /// Whether the two handles point at the same object.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_gc::Gc;
    /// let a = Gc::new(1);
    /// assert!(Gc::ptr_eq(&a, &a.clone()));
    /// assert!(!Gc::ptr_eq(&a, &Gc::new(1)));
    /// ```
    #[inline]
    pub fn ptr_eq(this: &Self, other: &Self) -> bool {
        this.ptr == other.ptr
    }

    /// Number of strong handles (`sys.getrefcount` minus its own argument).
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_gc::Gc;
    /// let a = Gc::new(vec![1, 2, 3]);
    /// let b = a.clone();
    /// assert_eq!(Gc::strong_count(&a), 2);
    /// ```
    #[inline]
    pub fn strong_count(this: &Self) -> usize {
        this.hdr().strong()
    }

    /// Number of [`Weak`] handles.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_gc::Gc;
    /// let a = Gc::new(1);
    /// let _w = Gc::downgrade(&a);
    /// assert_eq!(Gc::weak_count(&a), 1);
    /// ```
    #[inline]
    pub fn weak_count(this: &Self) -> usize {
        this.hdr().weak().saturating_sub(1)
    }

    /// A weak handle.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_gc::Gc;
    /// let a = Gc::new(1);
    /// let w = Gc::downgrade(&a);
    /// assert_eq!(*w.upgrade().unwrap(), 1);
    /// drop(a);
    /// assert!(w.upgrade().is_none());
    /// ```
    pub fn downgrade(this: &Self) -> Weak<T> {
        // SAFETY: live box, this thread.
        unsafe { this.hdr().inc_weak_local() };
        Weak {
            ptr: Some(this.ptr),
            cb: None,
        }
    }

    /// A raw pointer to the value.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = coil_gc::Gc::new(3);
    /// assert_eq!(unsafe { *coil_gc::Gc::as_ptr(&a) }, 3);
    /// ```
    pub fn as_ptr(this: &Self) -> *const T {
        // SAFETY: invariant 1.
        unsafe { GcBox::<T>::value(this.ptr).as_ptr() }
    }

    /// A type-erased strong handle to the same object.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_gc::Gc;
    /// let a = Gc::new(String::from("x"));
    /// let o = Gc::to_object(&a);
    /// assert!(Gc::ptr_eq(&o.downcast::<String>().unwrap(), &a));
    /// ```
    pub fn to_object(this: &Self) -> Object {
        // SAFETY: live box, this thread; the new handle owns the reference.
        unsafe { this.hdr().inc_strong_local() };
        Object {
            head: this.ptr.cast(),
        }
    }

    /// Whether the collector tracks this object (`gc.is_tracked`).
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_gc::Gc;
    /// assert!(!Gc::is_tracked(&Gc::new(1)));
    /// assert!(Gc::is_tracked(&Gc::new(vec![Gc::new(1)])));
    /// ```
    pub fn is_tracked(this: &Self) -> bool {
        this.hdr().flags().contains(Flags::TRACKED)
    }

    /// Whether the object's finalizer has run (`gc.is_finalized`).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!coil_gc::Gc::is_finalized(&coil_gc::Gc::new(1)));
    /// ```
    pub fn is_finalized(this: &Self) -> bool {
        this.hdr().flags().contains(Flags::FINALIZED)
    }
}

impl<T: Trace + 'static> Clone for Gc<T> {
    #[inline(always)]
    fn clone(&self) -> Self {
        // SAFETY: live box (invariant 1), this thread only.
        unsafe { self.hdr().inc_strong_local() };
        Gc {
            ptr: self.ptr,
            _marker: PhantomData,
        }
    }
}

impl<T: Trace + 'static> Drop for Gc<T> {
    #[inline(always)]
    fn drop(&mut self) {
        // SAFETY: we give up the reference we own (invariant 1).
        if unsafe { self.hdr().dec_strong_local() } {
            // SAFETY: this decrement reached zero.
            unsafe { drop_slow(self.ptr.cast()) };
        } else if T::MAY_CONTAIN_GC {
            // SAFETY: still alive (count > 0), this thread.
            unsafe { head::note_decref(self.ptr.cast()) };
        }
    }
}

impl<T: Trace + 'static> Deref for Gc<T> {
    type Target = T;
    #[inline(always)]
    fn deref(&self) -> &T {
        match Gc::try_get(self) {
            Some(v) => v,
            None => dropped_value(),
        }
    }
}

impl<T: Trace + 'static + fmt::Debug> fmt::Debug for Gc<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match Gc::try_get(self) {
            Some(v) => fmt::Debug::fmt(v, f),
            None => f.write_str("<dropped>"),
        }
    }
}

impl<T: Trace + 'static + fmt::Display> fmt::Display for Gc<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

impl<T: Trace + 'static + PartialEq> PartialEq for Gc<T> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T: Trace + 'static + Default> Default for Gc<T> {
    fn default() -> Self {
        Gc::new(T::default())
    }
}

/// A weak handle to a gc object, optionally with a callback
/// (`weakref.ref(obj, callback)`).
///
/// It does not keep the value alive. When the object dies — by its count,
/// or in a collected cycle (CPython's `handle_weakrefs`) — every weak handle
/// is cleared first, and then the callback of each weak handle that is still
/// alive runs once (newest first). A weak handle owned by garbage is garbage
/// too: its callback does not run. Dropping the handle cancels its callback.
///
/// # Examples
///
/// ```
/// use coil_gc::{Gc, Weak};
/// use std::{cell::Cell, rc::Rc};
///
/// let fired = Rc::new(Cell::new(false));
/// let f = fired.clone();
/// let a = Gc::new(1);
/// let w = Weak::with_callback(&a, move || f.set(true));
/// drop(a);
/// assert!(fired.get());
/// assert!(w.upgrade().is_none());
/// ```
pub struct Weak<T: Trace + 'static> {
    ptr: Option<NonNull<GcBox<T>>>,
    cb: Option<Rc<CallbackCell>>,
}

impl<T: Trace + 'static> Weak<T> {
    /// A weak handle that points nowhere.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(coil_gc::Weak::<u8>::new().upgrade().is_none());
    /// ```
    pub const fn new() -> Self {
        Weak {
            ptr: None,
            cb: None,
        }
    }

    /// A weak handle to `target` whose `callback` runs when the target dies,
    /// if this handle is still alive then.
    ///
    /// # Examples
    ///
    /// See [`Weak`].
    pub fn with_callback(target: &Gc<T>, callback: impl FnOnce() + 'static) -> Self {
        let mut w = Gc::downgrade(target);
        // SAFETY: live object of this thread.
        w.cb = Some(unsafe { weakrefs::register(Gc::head_ptr(target), Box::new(callback)) });
        w
    }

    /// A strong handle if the object is still alive (and not being collected).
    ///
    /// # Examples
    ///
    /// See [`Gc::downgrade`].
    pub fn upgrade(&self) -> Option<Gc<T>> {
        let p = self.ptr?;
        // SAFETY: our weak reference keeps the box allocated; this thread.
        if unsafe { GcBox::<T>::header(p).as_ref().upgrade_local() } {
            Some(Gc {
                ptr: p,
                _marker: PhantomData,
            })
        } else {
            None
        }
    }

    /// Whether the object is alive (an upgrade would succeed).
    ///
    /// # Examples
    ///
    /// ```
    /// let a = coil_gc::Gc::new(1);
    /// let w = coil_gc::Gc::downgrade(&a);
    /// assert!(w.is_alive());
    /// ```
    pub fn is_alive(&self) -> bool {
        // SAFETY: as in `upgrade`.
        self.ptr
            .is_some_and(|p| unsafe { GcBox::<T>::header(p).as_ref().is_alive() })
    }

    /// Whether this handle's callback has neither run nor been cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = coil_gc::Gc::new(1);
    /// let w = coil_gc::Weak::with_callback(&a, || {});
    /// assert!(w.callback_pending());
    /// drop(a);
    /// assert!(!w.callback_pending());
    /// ```
    pub fn callback_pending(&self) -> bool {
        self.cb.as_ref().is_some_and(|c| c.pending())
    }

    pub(crate) fn cancel_callback(&self) {
        if let Some(c) = &self.cb {
            c.cancel();
        }
    }
}

impl<T: Trace + 'static> Default for Weak<T> {
    fn default() -> Self {
        Weak::new()
    }
}

impl<T: Trace + 'static> Clone for Weak<T> {
    /// Clones the weak reference (not the callback).
    fn clone(&self) -> Self {
        if let Some(p) = self.ptr {
            // SAFETY: our weak reference keeps the box allocated.
            unsafe { GcBox::<T>::header(p).as_ref().inc_weak_local() };
        }
        Weak {
            ptr: self.ptr,
            cb: None,
        }
    }
}

impl<T: Trace + 'static> Drop for Weak<T> {
    fn drop(&mut self) {
        self.cancel_callback();
        if let Some(p) = self.ptr {
            // SAFETY: we give up the weak reference we own.
            unsafe { GcBox::<T>::release_weak::<Local>(p) };
        }
    }
}

impl<T: Trace + 'static> fmt::Debug for Weak<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "(Weak alive={})", self.is_alive())
    }
}

/// A type-erased strong handle to any gc object: what `get_objects`,
/// `get_referrers`, `get_referents` and `garbage` return.
///
/// # Examples
///
/// ```
/// use coil_gc::Gc;
/// let a = Gc::new(vec![Gc::new(1u32)]);
/// let o = Gc::to_object(&a);
/// assert!(o.type_name().contains("Vec"));
/// assert!(o.downcast::<u8>().is_none());
/// assert_eq!(o.referents()[0].downcast::<u32>().map(|g| *g), Some(1));
/// ```
pub struct Object {
    head: NonNull<GcHead>,
}

impl Object {
    /// Takes a new strong reference of the live object `head`.
    ///
    /// # Safety
    /// `head` is a live object of this thread with an initialised value.
    pub(crate) unsafe fn new_ref(head: NonNull<GcHead>) -> Self {
        // SAFETY: caller.
        unsafe { head::header(head).inc_strong_local() };
        Object { head }
    }

    pub(crate) fn head(&self) -> NonNull<GcHead> {
        self.head
    }

    fn vt(&self) -> &'static VTable {
        // SAFETY: live box.
        unsafe { (*self.head.as_ptr()).vtable }
    }

    /// The value's type name.
    ///
    /// # Examples
    ///
    /// See [`Object`].
    pub fn type_name(&self) -> &'static str {
        (self.vt().type_name)()
    }

    /// A typed handle, if the value is a `T`.
    ///
    /// # Examples
    ///
    /// See [`Object`].
    pub fn downcast<T: Trace + 'static>(&self) -> Option<Gc<T>> {
        if (self.vt().type_id)() != TypeId::of::<T>() {
            return None;
        }
        // SAFETY: same TypeId, so the box is a GcBox<T>; new reference.
        unsafe { head::header(self.head).inc_strong_local() };
        Some(Gc {
            ptr: self.head.cast(),
            _marker: PhantomData,
        })
    }

    /// The objects this one refers to (`gc.get_referents`), as its `Trace`
    /// impl reports them. Empty if the value was dropped.
    ///
    /// # Examples
    ///
    /// See [`Object`].
    pub fn referents(&self) -> Vec<Object> {
        let mut out = Vec::new();
        if self.is_dropped() {
            return out;
        }
        let mut f = |h: NonNull<GcHead>| {
            // SAFETY: a visited handle keeps `h` alive; we take our own ref.
            out.push(unsafe { Object::new_ref(h) });
        };
        let mut v = Visitor::new(Op::Each(&mut f));
        // SAFETY: live object, initialised value.
        unsafe { (self.vt().trace)(self.head, &mut v) };
        out
    }

    fn is_dropped(&self) -> bool {
        // SAFETY: live box.
        unsafe { head::header(self.head) }
            .flags()
            .contains(Flags::VALUE_DROPPED)
    }

    /// Whether both handles point at the same object.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = coil_gc::Gc::new(1);
    /// assert!(coil_gc::Gc::to_object(&a).ptr_eq(&coil_gc::Gc::to_object(&a)));
    /// ```
    pub fn ptr_eq(&self, other: &Object) -> bool {
        self.head == other.head
    }

    /// The address of the object (stable while it lives), as `id()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = coil_gc::Gc::new(1);
    /// assert_ne!(coil_gc::Gc::to_object(&a).id(), 0);
    /// ```
    pub fn id(&self) -> usize {
        self.head.as_ptr() as usize
    }

    /// Number of strong handles.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = coil_gc::Gc::new(1);
    /// assert_eq!(coil_gc::Gc::to_object(&a).strong_count(), 2);
    /// ```
    pub fn strong_count(&self) -> usize {
        // SAFETY: live box.
        unsafe { head::header(self.head) }.strong()
    }

    /// Whether the collector tracks the object.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!coil_gc::Gc::to_object(&coil_gc::Gc::new(1)).is_tracked());
    /// ```
    pub fn is_tracked(&self) -> bool {
        // SAFETY: live box.
        unsafe { head::header(self.head) }
            .flags()
            .contains(Flags::TRACKED)
    }

    /// Whether the object's finalizer has run.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!coil_gc::Gc::to_object(&coil_gc::Gc::new(1)).is_finalized());
    /// ```
    pub fn is_finalized(&self) -> bool {
        // SAFETY: live box.
        unsafe { head::header(self.head) }
            .flags()
            .contains(Flags::FINALIZED)
    }
}

impl Clone for Object {
    fn clone(&self) -> Self {
        // SAFETY: live box, this thread.
        unsafe { Object::new_ref(self.head) }
    }
}

impl Drop for Object {
    fn drop(&mut self) {
        // SAFETY: we give up the reference we own.
        unsafe {
            if head::header(self.head).dec_strong_local() {
                drop_slow(self.head);
            } else {
                head::note_decref(self.head);
            }
        }
    }
}

impl fmt::Debug for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} object at {:#x}>", self.type_name(), self.id())
    }
}
