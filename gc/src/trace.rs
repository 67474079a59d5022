//! [`Trace`]: how the collector sees the references a value holds (CPython's
//! `tp_traverse`), the [`Visitor`] it is given, and the impls for std types.
//!
//! The collector never scans memory: it learns an object's outgoing
//! references only by calling [`Trace::trace`] on its value, which calls
//! [`Visitor::visit`] once for each [`Gc`] the value holds (and
//! [`Visitor::visit_weak`] for each [`Weak`]). Everything the collector
//! decides follows from those calls, so the rules below are what keeps it
//! right. Breaking one of them is never undefined behaviour — handles check
//! that their value is alive — but it changes *what* is collected.

use core::{
    cell::{Cell, OnceCell, RefCell},
    marker::PhantomData,
    ptr::NonNull,
};
use std::{
    collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet, LinkedList, VecDeque},
    hash::BuildHasher,
};

use crate::{
    gc::{Gc, Object, Weak},
    head::{self, COLLECTING, GEN_MASK, GEN_SHIFT, GcHead, MARK, REFS_MASK, REFS_MAX, UNREACHABLE},
};

/// A value whose `Gc` references the collector can enumerate (CPython's
/// `tp_traverse`). Implement it with `#[derive(Trace)]`.
///
/// # Safety
///
/// An implementation promises, for every value of the type:
///
/// 1. `trace` calls [`Visitor::visit`] exactly once for each `Gc` the value
///    *owns* (that dropping the value would drop), directly or through owned
///    containers. Visiting a `Gc` it does not own, or one twice, can make the
///    collector drop the values of objects that are still in use: their
///    handles then panic on access (never a use-after-free). Forgetting one
///    only makes the collector keep a cycle alive (a leak).
/// 2. `trace` does not create, clone, drop or mutate any `Gc` or `Weak`, and
///    does not panic: it runs in the middle of a collection (a panic aborts
///    the process there).
/// 3. `MAY_CONTAIN_GC` is `false` only if no value of the type can ever own a
///    `Gc` (then its objects are never tracked, like CPython's untracked
///    atomic containers). When in doubt leave the default, `true`.
/// 4. Values reached through shared ownership (`std::rc::Rc`, `Arc`) are not
///    owned by one object; the impls here treat them as leaves, so a cycle
///    through them is not collected.
///
/// `#[derive(Trace)]` satisfies 1–3 for any struct or enum whose fields do.
///
/// # Examples
///
/// ```
/// use coil_gc::{Gc, Trace, Visitor};
/// use std::cell::RefCell;
///
/// struct Pair {
///     left: RefCell<Option<Gc<Pair>>>,
///     label: String,
/// }
/// // SAFETY: visits the one `Gc` the value owns; the String holds none.
/// unsafe impl Trace for Pair {
///     fn trace(&self, v: &mut Visitor<'_>) {
///         self.left.trace(v);
///     }
/// }
/// let a = Gc::new(Pair { left: RefCell::new(None), label: "a".into() });
/// *a.left.borrow_mut() = Some(a.clone()); // a self-loop
/// drop(a);
/// assert_eq!(coil_gc::collect(2).unwrap(), 1);
/// ```
pub unsafe trait Trace {
    /// Whether a value of this type can own a `Gc` (decided at compile time).
    /// Objects of types where this is `false` are never tracked.
    const MAY_CONTAIN_GC: bool = true;

    /// Calls `v.visit` for each `Gc` (and `v.visit_weak` for each `Weak`) the
    /// value owns.
    fn trace(&self, v: &mut Visitor<'_>);
}

/// What a visitor does with each reference (private: the collector's phases
/// plus a user callback).
pub(crate) enum Op<'a> {
    /// `subtract_refs` (check_garbage): decrement the gc_refs of targets
    /// marked COLLECTING by `update_refs`.
    Subtract,
    /// `subtract_refs` of a generation collection: members are the objects
    /// of space `space` with generation `<= max_gen`; their gc_refs is
    /// initialised from the strong count on first touch.
    SubtractFused { space: u32, max_gen: u32 },
    /// `move_unreachable`'s `visit_reachable`: targets are reachable.
    Reach { young: *mut GcHead },
    /// `subtract_refs` of an increment: as `SubtractFused` with
    /// `max_gen = 0`, and an old target of space `space` (generation 1 or
    /// 2) joins the increment (appended to `inc`, relabelled generation 0,
    /// counted in `taken`) on first touch.
    SubtractPull {
        space: u32,
        inc: *mut GcHead,
        taken: &'a mut usize,
    },
    /// Mark collected targets and push them on a work list.
    Mark(&'a mut Vec<NonNull<GcHead>>),
    /// `handle_weakrefs`: cancel callbacks of weak handles held by garbage.
    CancelWeak,
    /// A user callback for each strong reference.
    Each(&'a mut dyn FnMut(NonNull<GcHead>)),
}

/// The visitor [`Trace::trace`] reports references to. Made by the
/// collector (and by [`Object::referents`]); user code only passes it on.
///
/// # Examples
///
/// ```
/// use coil_gc::Gc;
/// let leaf = Gc::new(1u8);
/// let holder = Gc::new(vec![leaf.clone(), leaf.clone()]);
/// // `Vec<Gc<u8>>::trace` called visit twice:
/// assert_eq!(Gc::to_object(&holder).referents().len(), 2);
/// ```
pub struct Visitor<'a> {
    pub(crate) op: Op<'a>,
}

impl core::fmt::Debug for Visitor<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Visitor")
    }
}

impl<'a> Visitor<'a> {
    pub(crate) fn new(op: Op<'a>) -> Self {
        Visitor { op }
    }

    /// Reports one strong reference.
    ///
    /// # Examples
    ///
    /// See [`Trace`].
    #[inline(always)]
    pub fn visit<T: Trace + 'static>(&mut self, gc: &Gc<T>) {
        let h = Gc::head_ptr(gc);
        if !T::MAY_CONTAIN_GC {
            // Never tracked: only a user callback cares.
            if let Op::Each(f) = &mut self.op {
                f(h);
            }
            return;
        }
        self.visit_head(h);
    }

    /// Reports one strong reference given as a type-erased [`Object`].
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_gc::{Gc, Object, Trace, Visitor};
    /// struct Holder(Object);
    /// // SAFETY: visits the one handle it owns.
    /// unsafe impl Trace for Holder {
    ///     fn trace(&self, v: &mut Visitor<'_>) { v.visit_object(&self.0) }
    /// }
    /// let h = Gc::new(Holder(Gc::to_object(&Gc::new(1))));
    /// assert_eq!(Gc::to_object(&h).referents().len(), 1);
    /// ```
    #[inline]
    pub fn visit_object(&mut self, obj: &Object) {
        self.visit_head(obj.head());
    }

    #[inline(always)]
    pub(crate) fn visit_head(&mut self, h: NonNull<GcHead>) {
        match &mut self.op {
            Op::Subtract => {
                // SAFETY: `h` is the head of a live box: the visited handle
                // keeps it allocated (Trace rule 1).
                unsafe {
                    let b = head::bits(h);
                    if b & COLLECTING != 0 {
                        let refs = b & REFS_MASK;
                        if refs != 0 && refs != REFS_MAX {
                            head::set_bits(h, b - 1);
                        }
                    }
                }
            }
            Op::SubtractFused { space, max_gen } => {
                // SAFETY: as above.
                unsafe {
                    let b = head::bits(h);
                    if b & COLLECTING != 0 {
                        let refs = b & REFS_MASK;
                        if refs != 0 && refs != REFS_MAX {
                            head::set_bits(h, b - 1);
                        }
                    } else if (*h.as_ptr()).space.get() == *space
                        && (b >> GEN_SHIFT) & 3 <= *max_gen
                    {
                        let refs = head::init_refs(h);
                        let refs = if refs == REFS_MAX { refs } else { refs - 1 };
                        head::set_bits(h, b | COLLECTING | refs);
                    }
                }
            }
            Op::Reach { young } => {
                // SAFETY: as above; `young` is the sentinel of the list being
                // scanned by move_unreachable.
                unsafe {
                    let b = head::bits(h);
                    if b & COLLECTING == 0 {
                        return;
                    }
                    if b & UNREACHABLE != 0 {
                        // Tentatively unreachable but referenced from a
                        // reachable object: back to young, to be scanned.
                        head::list_move(h.as_ptr(), *young);
                        head::set_bits(h, (b & !(UNREACHABLE | REFS_MASK)) | 1);
                    } else if b & REFS_MASK == 0 {
                        // Not scanned yet: reachable after all.
                        head::set_bits(h, b | 1);
                    }
                }
            }
            Op::SubtractPull { space, inc, taken } => {
                // SAFETY: as above; `inc` is the sentinel of the increment
                // being walked (appending puts the target behind the walk),
                // and a target of this space with generation 1 or 2 is in
                // one of its old lists.
                unsafe {
                    let b = head::bits(h);
                    if b & COLLECTING != 0 {
                        let refs = b & REFS_MASK;
                        if refs != 0 && refs != REFS_MAX {
                            head::set_bits(h, b - 1);
                        }
                    } else if (*h.as_ptr()).space.get() == *space {
                        let g = (b >> GEN_SHIFT) & 3;
                        if g == 3 {
                            return;
                        }
                        if g != 0 {
                            head::list_move(h.as_ptr(), *inc);
                            **taken += 1;
                        }
                        let refs = head::init_refs(h);
                        let refs = if refs == REFS_MAX { refs } else { refs - 1 };
                        head::set_bits(h, (b & !GEN_MASK) | COLLECTING | refs);
                    }
                }
            }
            Op::Mark(stack) => {
                // SAFETY: as above.
                unsafe {
                    let b = head::bits(h);
                    if b & COLLECTING != 0 && b & MARK == 0 {
                        head::set_bits(h, b | MARK);
                        stack.push(h);
                    }
                }
            }
            Op::CancelWeak => {}
            Op::Each(f) => f(h),
        }
    }

    /// Reports one weak reference (the collector cancels the callback of a
    /// weak handle held by garbage, as CPython does for a weakref that is
    /// itself trash).
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_gc::{Gc, Trace, Visitor, Weak};
    /// struct Observer(Weak<u8>);
    /// // SAFETY: owns no Gc; reports its weak handle.
    /// unsafe impl Trace for Observer {
    ///     fn trace(&self, v: &mut Visitor<'_>) { v.visit_weak(&self.0) }
    /// }
    /// let target = Gc::new(1u8);
    /// let _o = Gc::new(Observer(Gc::downgrade(&target)));
    /// ```
    #[inline]
    pub fn visit_weak<T: Trace + 'static>(&mut self, w: &Weak<T>) {
        if let Op::CancelWeak = self.op {
            w.cancel_callback();
        }
    }
}

/// The dyn-compatible face of [`Trace`] (which has an associated const and
/// so cannot be a trait object): every `Trace` type implements it, and
/// `Box<dyn TraceDyn>` traces its content. For your own trait objects, make
/// `TraceDyn` a supertrait and forward `Trace` for the `dyn` type.
///
/// # Examples
///
/// ```
/// use coil_gc::{Gc, Trace, TraceDyn, Visitor};
/// use std::cell::RefCell;
///
/// trait Shape: TraceDyn {
///     fn area(&self) -> f64;
/// }
/// // SAFETY: forwards to the value's own Trace impl.
/// unsafe impl Trace for dyn Shape {
///     fn trace(&self, v: &mut Visitor<'_>) { self.trace_dyn(v) }
/// }
/// #[derive(Trace)]
/// struct Square(f64, RefCell<Option<Gc<Holder>>>);
/// impl Shape for Square { fn area(&self) -> f64 { self.0 * self.0 } }
/// #[derive(Trace)]
/// struct Holder(Box<dyn Shape>);
///
/// let h = Gc::new(Holder(Box::new(Square(2.0, RefCell::new(None)))));
/// assert_eq!(h.0.area(), 4.0);
/// assert_eq!(Gc::to_object(&h).referents().len(), 0);
/// ```
pub trait TraceDyn {
    /// Calls [`Trace::trace`] on the value.
    fn trace_dyn(&self, v: &mut Visitor<'_>);
}

impl<T: Trace> TraceDyn for T {
    #[inline]
    fn trace_dyn(&self, v: &mut Visitor<'_>) {
        self.trace(v);
    }
}

// SAFETY: forwards to the concrete value's impl.
unsafe impl Trace for dyn TraceDyn {
    fn trace(&self, v: &mut Visitor<'_>) {
        self.trace_dyn(v);
    }
}

// ----------------------------------------------------------------------
// Leaves: types that can hold no Gc.
// ----------------------------------------------------------------------

macro_rules! leaf {
    ($($t:ty),* $(,)?) => {$(
        // SAFETY: the type owns no Gc (rule 3).
        unsafe impl Trace for $t {
            const MAY_CONTAIN_GC: bool = false;
            #[inline(always)]
            fn trace(&self, _: &mut Visitor<'_>) {}
        }
    )*};
}

leaf!(
    (),
    bool,
    char,
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64,
    str,
    String,
    std::ffi::OsString,
    std::ffi::CString,
    std::path::PathBuf,
    core::num::NonZeroUsize,
    core::num::NonZeroU64,
    core::num::NonZeroU32,
    core::time::Duration,
    std::time::Instant,
    std::time::SystemTime,
    core::sync::atomic::AtomicBool,
    core::sync::atomic::AtomicUsize,
    core::sync::atomic::AtomicIsize,
    core::sync::atomic::AtomicU64,
    core::sync::atomic::AtomicI64,
    core::sync::atomic::AtomicU32,
    core::sync::atomic::AtomicI32,
    std::fs::File,
    core::any::TypeId,
);

// SAFETY: a reference owns nothing (rule 1: only owned Gc's are visited).
unsafe impl<T: ?Sized> Trace for &'static T {
    const MAY_CONTAIN_GC: bool = false;
    fn trace(&self, _: &mut Visitor<'_>) {}
}

// SAFETY: PhantomData owns no value.
unsafe impl<T: ?Sized> Trace for PhantomData<T> {
    const MAY_CONTAIN_GC: bool = false;
    fn trace(&self, _: &mut Visitor<'_>) {}
}

// SAFETY: rule 4: shared ownership is a leaf (cycles through it leak).
unsafe impl<T: ?Sized> Trace for std::rc::Rc<T> {
    const MAY_CONTAIN_GC: bool = false;
    fn trace(&self, _: &mut Visitor<'_>) {}
}
// SAFETY: rule 4.
unsafe impl<T: ?Sized> Trace for std::sync::Arc<T> {
    const MAY_CONTAIN_GC: bool = false;
    fn trace(&self, _: &mut Visitor<'_>) {}
}
// SAFETY: rule 4.
unsafe impl<T, A: coil_refcount::allocator_api2::alloc::Allocator, C: coil_refcount::Counter> Trace
    for coil_refcount::Strong<T, A, C>
{
    const MAY_CONTAIN_GC: bool = false;
    fn trace(&self, _: &mut Visitor<'_>) {}
}
// SAFETY: weak std handles own no value.
unsafe impl<T: ?Sized> Trace for std::rc::Weak<T> {
    const MAY_CONTAIN_GC: bool = false;
    fn trace(&self, _: &mut Visitor<'_>) {}
}

// ----------------------------------------------------------------------
// The handles themselves.
// ----------------------------------------------------------------------

// SAFETY: a Gc owns exactly one strong reference: itself.
unsafe impl<T: Trace + 'static> Trace for Gc<T> {
    #[inline(always)]
    fn trace(&self, v: &mut Visitor<'_>) {
        v.visit(self);
    }
}

// SAFETY: a Weak owns no strong reference; it is reported as weak.
unsafe impl<T: Trace + 'static> Trace for Weak<T> {
    #[inline]
    fn trace(&self, v: &mut Visitor<'_>) {
        v.visit_weak(self);
    }
}

// SAFETY: an Object owns exactly one strong reference.
unsafe impl Trace for Object {
    #[inline]
    fn trace(&self, v: &mut Visitor<'_>) {
        v.visit_object(self);
    }
}

// ----------------------------------------------------------------------
// Containers: trace each owned element.
// ----------------------------------------------------------------------

// SAFETY: owns its pointee.
unsafe impl<T: Trace + ?Sized> Trace for Box<T> {
    const MAY_CONTAIN_GC: bool = T::MAY_CONTAIN_GC;
    #[inline]
    fn trace(&self, v: &mut Visitor<'_>) {
        (**self).trace(v);
    }
}

// SAFETY: owns its elements.
unsafe impl<T: Trace> Trace for [T] {
    const MAY_CONTAIN_GC: bool = T::MAY_CONTAIN_GC;
    #[inline]
    fn trace(&self, v: &mut Visitor<'_>) {
        if T::MAY_CONTAIN_GC {
            for x in self {
                x.trace(v);
            }
        }
    }
}

// SAFETY: owns its elements.
unsafe impl<T: Trace, const N: usize> Trace for [T; N] {
    const MAY_CONTAIN_GC: bool = T::MAY_CONTAIN_GC;
    #[inline]
    fn trace(&self, v: &mut Visitor<'_>) {
        self.as_slice().trace(v);
    }
}

// SAFETY: owns its elements.
unsafe impl<T: Trace> Trace for Vec<T> {
    const MAY_CONTAIN_GC: bool = T::MAY_CONTAIN_GC;
    #[inline]
    fn trace(&self, v: &mut Visitor<'_>) {
        self.as_slice().trace(v);
    }
}

macro_rules! iter_container {
    ($($t:ident),*) => {$(
        // SAFETY: owns its elements.
        unsafe impl<T: Trace> Trace for $t<T> {
            const MAY_CONTAIN_GC: bool = T::MAY_CONTAIN_GC;
            #[inline]
            fn trace(&self, v: &mut Visitor<'_>) {
                if T::MAY_CONTAIN_GC {
                    for x in self {
                        x.trace(v);
                    }
                }
            }
        }
    )*};
}
iter_container!(VecDeque, LinkedList, BTreeSet, BinaryHeap);

// SAFETY: owns its elements.
unsafe impl<T: Trace, S: BuildHasher> Trace for HashSet<T, S> {
    const MAY_CONTAIN_GC: bool = T::MAY_CONTAIN_GC;
    fn trace(&self, v: &mut Visitor<'_>) {
        if T::MAY_CONTAIN_GC {
            for x in self {
                x.trace(v);
            }
        }
    }
}

// SAFETY: owns its keys and values.
unsafe impl<K: Trace, V: Trace, S: BuildHasher> Trace for HashMap<K, V, S> {
    const MAY_CONTAIN_GC: bool = K::MAY_CONTAIN_GC || V::MAY_CONTAIN_GC;
    fn trace(&self, v: &mut Visitor<'_>) {
        if Self::MAY_CONTAIN_GC {
            for (k, x) in self {
                k.trace(v);
                x.trace(v);
            }
        }
    }
}

// SAFETY: owns its keys and values.
unsafe impl<K: Trace, V: Trace> Trace for BTreeMap<K, V> {
    const MAY_CONTAIN_GC: bool = K::MAY_CONTAIN_GC || V::MAY_CONTAIN_GC;
    fn trace(&self, v: &mut Visitor<'_>) {
        if Self::MAY_CONTAIN_GC {
            for (k, x) in self {
                k.trace(v);
                x.trace(v);
            }
        }
    }
}

// SAFETY: owns its content.
unsafe impl<T: Trace> Trace for Option<T> {
    const MAY_CONTAIN_GC: bool = T::MAY_CONTAIN_GC;
    #[inline]
    fn trace(&self, v: &mut Visitor<'_>) {
        if let Some(x) = self {
            x.trace(v);
        }
    }
}

// SAFETY: owns its content.
unsafe impl<T: Trace, E: Trace> Trace for Result<T, E> {
    const MAY_CONTAIN_GC: bool = T::MAY_CONTAIN_GC || E::MAY_CONTAIN_GC;
    fn trace(&self, v: &mut Visitor<'_>) {
        match self {
            Ok(x) => x.trace(v),
            Err(e) => e.trace(v),
        }
    }
}

// SAFETY: owns its content. A RefCell that is mutably borrowed while a
// collection runs (the collection was triggered inside the borrow) hides its
// references for that collection: as rule 1 says, that only keeps objects
// alive, and both phases of the collection see the same borrow state because
// no user code runs between them.
unsafe impl<T: Trace + ?Sized> Trace for RefCell<T> {
    const MAY_CONTAIN_GC: bool = T::MAY_CONTAIN_GC;
    #[inline]
    fn trace(&self, v: &mut Visitor<'_>) {
        if T::MAY_CONTAIN_GC {
            if let Ok(x) = self.try_borrow() {
                x.trace(v);
            }
        }
    }
}

// SAFETY: owns its content; it is taken out and put back (no user code runs:
// `T::default` for the types that can hold a Gc is `None`/empty containers).
unsafe impl<T: Trace + Default> Trace for Cell<T> {
    const MAY_CONTAIN_GC: bool = T::MAY_CONTAIN_GC;
    #[inline]
    fn trace(&self, v: &mut Visitor<'_>) {
        if T::MAY_CONTAIN_GC {
            let x = self.take();
            x.trace(v);
            self.set(x);
        }
    }
}

// SAFETY: owns its content once set.
unsafe impl<T: Trace> Trace for OnceCell<T> {
    const MAY_CONTAIN_GC: bool = T::MAY_CONTAIN_GC;
    fn trace(&self, v: &mut Visitor<'_>) {
        if let Some(x) = self.get() {
            x.trace(v);
        }
    }
}

macro_rules! tuple {
    ($($n:tt $t:ident),+) => {
        // SAFETY: owns its fields.
        unsafe impl<$($t: Trace),+> Trace for ($($t,)+) {
            const MAY_CONTAIN_GC: bool = false $(|| $t::MAY_CONTAIN_GC)+;
            #[inline]
            fn trace(&self, v: &mut Visitor<'_>) {
                $(self.$n.trace(v);)+
            }
        }
    };
}
tuple!(0 A);
tuple!(0 A, 1 B);
tuple!(0 A, 1 B, 2 C);
tuple!(0 A, 1 B, 2 C, 3 D);
tuple!(0 A, 1 B, 2 C, 3 D, 4 E);
tuple!(0 A, 1 B, 2 C, 3 D, 4 E, 5 F);
tuple!(0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G);
tuple!(0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaf_types_are_known_at_compile_time() {
        const {
            assert!(!<Vec<u8> as Trace>::MAY_CONTAIN_GC);
            assert!(!<HashMap<String, (i32, f64)> as Trace>::MAY_CONTAIN_GC);
            assert!(!<Option<Box<[u64]>> as Trace>::MAY_CONTAIN_GC);
            assert!(<Vec<Gc<u8>> as Trace>::MAY_CONTAIN_GC);
            assert!(<RefCell<Option<Gc<()>>> as Trace>::MAY_CONTAIN_GC);
            assert!(<(u8, Gc<u8>) as Trace>::MAY_CONTAIN_GC);
            assert!(!<std::rc::Rc<Gc<u8>> as Trace>::MAY_CONTAIN_GC);
        }
    }
}
