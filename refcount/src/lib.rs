//! `coil-refcount`: counted references with weak callbacks, finalizers,
//! immortal objects and destruction that never overflows the stack.
//!
//! # The problem
//!
//! Reference counting is CPython's primary memory-management mechanism: an
//! object is freed the moment its last reference goes, destruction is
//! deterministic, `sys.getrefcount` shows the count, and `weakref` lets code
//! observe objects without keeping them alive — with callbacks when they die
//! and `finalize` hooks. Rust's `Rc` and `Arc` give the counting but not the
//! rest: no weak callbacks, no finalize hooks, no immortal objects, no control
//! over where the box lives and no room for a collector's header in front of
//! it; and dropping a long chain of `Rc`s recurses once per link until the
//! stack overflows (a 1,000,000-long chain is enough).
//!
//! # The model
//!
//! Every handle type points at one kind of box, [`raw::RcBox`]:
//!
//! ```text
//!   [ prefix P ][ Header: strong | weak | flags ][ value T ][ allocator A ]
//! ```
//!
//! The [`Header`] (16 bytes, as small as std's) is defined once and used by
//! every handle; the prefix is
//! empty for this crate's handles and holds a cycle collector's links when
//! coil-gc builds its `Gc<T>` on the same box (as CPython puts `PyGC_Head`
//! before `PyObject`). Counting comes in two disciplines, [`Local`] (plain
//! loads and stores, the cost of std `Rc`) and [`Atomic`] (atomic operations,
//! the cost of std `Arc`); the handle types are generic over the discipline:
//! [`Rc`] and [`Arc`] are the same [`Strong`] type with `Local` and `Atomic`.
//!
//! - **Weak references and callbacks.** [`Weak`] upgrades while the object
//!   lives. [`Weak::with_callback`] returns a [`WeakRef`] whose callback runs
//!   when the object dies if the `WeakRef` is still alive (newest first, as in
//!   CPython). [`finalize()`] registers a hook that runs once, at death or at an
//!   explicit [`Finalizer::call`]. [`WeakValueMap`] drops entries whose
//!   value died.
//! - **Immortal objects (PEP 683).** [`Rc::make_immortal`] pins the count in
//!   an immortal range: clone and drop compare and return without writing the
//!   count — no cache-line write, no contention for shared `Arc`s — and the box
//!   is never freed.
//! - **Bounded destruction (the trashcan).** A box whose count reaches zero is
//!   destroyed through [`trashcan::destroy`]: below [`trashcan::LIMIT`] nested
//!   destructions it is destroyed at once, deeper it goes on a per-thread work
//!   list that the outermost destruction drains. Chains and trees of any
//!   depth drop in constant stack.
//! - **Allocators.** Boxes live in the default allocator ([`DefaultAlloc`]) or
//!   in any `allocator_api2` allocator (`Rc::new_in`); the allocator is kept
//!   in the box, so a box can free itself from the work list.
//!
//! # Modules
//!
//! - [`header`]: the header, its flags and the count operations.
//! - [`raw`]: the box layout and low-level steps (allocate, drop the value,
//!   free) that a collector composes into its own handles.
//! - [`strong`], [`weak`]: the handles. [`finalize`](mod@finalize),
//!   [`callbacks`]: hooks run at death. [`weak_map`]: `WeakValueDictionary`.
//! - [`trashcan`]: deferred destruction. [`counter`]: the two disciplines.
//! - [`sync`]: the thread-safe names (`Arc`, `sync::Weak`, ...).
//! - [`biased`]: [`Brc`](biased::Brc), a thread-safe handle with biased
//!   reference counting (PEP 703): the owner thread counts without atomic
//!   instructions, other threads atomically.
//!
//! # Examples
//!
//! The reference counts of the seed documents (CPython prints one more,
//! because `sys.getrefcount` holds its argument — see [`getrefcount`]):
//!
//! ```
//! use coil_refcount::{Rc, getrefcount};
//!
//! let a = Rc::new(vec![1, 2, 3]);
//! assert_eq!(getrefcount(&a), 1); // CPython: 2
//! let b = a.clone();
//! assert_eq!(getrefcount(&a), 2); // CPython: 3
//! drop(b);
//! assert_eq!(getrefcount(&a), 1); // CPython: 2
//! ```
//!
//! A million-long chain drops without recursion:
//!
//! ```
//! use coil_refcount::Rc;
//! struct Node(Option<Rc<Node>>);
//! let mut head = Rc::new(Node(None));
//! let n = if cfg!(miri) { 1_000 } else { 1_000_000 };
//! for _ in 0..n {
//!     head = Rc::new(Node(Some(head)));
//! }
//! drop(head); // std::rc::Rc would overflow the stack here
//! ```
//!
//! # Misuse
//!
//! - Count overflow (more than 2^62 strong handles on 64-bit targets, or
//!   2^31 weak handles; only reachable by leaking handles with `mem::forget`)
//!   aborts the process, as std does.
//! - [`Rc::from_raw`] is `unsafe`: the pointer must come from
//!   [`Rc::into_raw`] of the same type; anything else is undefined behaviour.
//! - A weak callback or finalizer that panics during the object's death is
//!   caught: the panic hook prints it, the other callbacks run, the counts
//!   stay right and the box is freed. (A panic in [`Finalizer::call`]
//!   propagates to its caller.)

#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

pub mod biased;
pub mod callbacks;
pub mod counter;
pub mod error;
pub mod finalize;
pub mod header;
pub mod raw;
pub mod strong;
pub mod trashcan;
pub mod weak;
pub mod weak_map;

/// The allocator API the boxes are generic over (re-exported so users can
/// name `allocator_api2::alloc::Global` and implement `Allocator`).
pub use allocator_api2;

pub use crate::{
    counter::{Atomic, CallbackFor, Counter, Local},
    error::Error,
    finalize::{Finalizer, finalize},
    header::{Flags, Header, IMMORTAL_COUNT, IMMORTAL_THRESHOLD, MAX_MORTAL},
    strong::{Strong, getrefcount},
    weak::{Weak, WeakRef},
    weak_map::WeakValueMap,
};

/// The allocator boxes live in unless another is given with `new_in`:
/// coil-heap's thread-safe global heap (per-thread pymalloc-style pools, frees
/// from other threads handled without a global lock). To use the system
/// allocator instead, pass `allocator_api2::alloc::Global` to `new_in`.
///
/// # Examples
///
/// ```
/// use coil_refcount::{DefaultAlloc, Rc};
/// let a: Rc<u8, DefaultAlloc> = Rc::new(1);
/// assert_eq!(*a, 1);
/// ```
pub type DefaultAlloc = coil_heap::GlobalHeap;

/// The single-thread strong handle (`Strong<T, A, Local>`): clone and drop
/// cost what std `Rc`'s do.
///
/// # Examples
///
/// ```
/// use coil_refcount::Rc;
/// let a = Rc::new(1);
/// assert_eq!(*a.clone(), 1);
/// ```
pub type Rc<T, A = DefaultAlloc> = Strong<T, A, Local>;

/// The thread-safe strong handle (`Strong<T, A, Atomic>`), with the same
/// features as [`Rc`]: weak handles, callbacks, finalizers, immortality and
/// bounded destruction (each thread drains its own work list).
///
/// # Examples
///
/// ```
/// use coil_refcount::Arc;
/// let a = Arc::new(1);
/// let b = a.clone();
/// std::thread::spawn(move || assert_eq!(*b, 1)).join().unwrap();
/// assert_eq!(Arc::strong_count(&a), 1);
/// ```
pub type Arc<T, A = DefaultAlloc> = Strong<T, A, Atomic>;

/// Thread-safe names: [`Arc`], [`sync::Weak`](Weak), [`sync::WeakRef`](WeakRef)
/// and [`sync::Finalizer`](Finalizer).
pub mod sync {
    use crate::{Atomic, DefaultAlloc};

    pub use crate::Arc;

    /// The weak handle of an [`Arc`].
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::{Arc, sync::Weak};
    /// let a = Arc::new(1);
    /// let w: Weak<i32> = Arc::downgrade(&a);
    /// assert!(w.upgrade().is_some());
    /// ```
    pub type Weak<T, A = DefaultAlloc> = crate::Weak<T, A, Atomic>;

    /// A weak handle with a callback on an [`Arc`] (the callback is `Send`).
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::{Arc, sync::{Weak, WeakRef}};
    /// let a = Arc::new(1);
    /// let w: WeakRef<i32> = Weak::with_callback(&a, || {});
    /// assert!(w.is_alive());
    /// ```
    pub type WeakRef<T, A = DefaultAlloc> = crate::WeakRef<T, A, Atomic>;

    /// The finalizer handle of an [`Arc`].
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::{Arc, finalize, sync::Finalizer};
    /// let a = Arc::new(1);
    /// let f: Finalizer = finalize(&a, || {});
    /// assert!(f.alive());
    /// ```
    pub type Finalizer = crate::Finalizer<Atomic>;
}
