//! The gc head: the prefix coil-gc puts in front of coil-refcount's header,
//! the type-erased operations of an object, and the intrusive generation lists.
//!
//! ```text
//!   RcBox<GcHead, T, Alloc>  (#[repr(C)], coil-refcount's box)
//!   +0   next    *mut GcHead        generation-list links (null: untracked)
//!   +8   prev    *mut GcHead
//!   +16  vtable  &'static VTable    trace / drop / free / finalize of T
//!   +24  bits    u32                the collector's per-object state
//!   +28  space   u32                id of the space tracking it (0: none)
//!   +32  Header  strong | weak | flags        (coil-refcount, 16 bytes)
//!   +48  value: T                 (a 16-byte value: one 64-byte block)
//! ```
//!
//! The `bits` word holds what CPython keeps in `_gc_prev`'s low bits and
//! `gc_refs`; it sits in the same cache line as the links, so the hot loops
//! of a collection touch one line per object:
//!
//! ```text
//!   bit 31  COLLECTING     in the generations being collected right now
//!   bit 30  UNREACHABLE    in the tentatively-unreachable list
//!   bit 29  HAS_CALLBACKS  weak callbacks are registered (weakrefs.rs)
//!   bit 28  OWNED          the collector decided this object dies and will
//!                          drop its value: a count reaching zero leaves it alone
//!   bit 27  MARK           scratch mark (legacy-finalizer reachability)
//!   bits 25-26  generation 0, 1, 2, or 3 (frozen) — which list holds it
//!   bit 24  DIRTY          a strong reference to it was dropped since a
//!                          collection last examined it (see `note_decref`)
//!   bits 0..24  gc_refs    strong count minus internal references, saturating
//! ```
//!
//! # Invariants
//!
//! 1. The header sits exactly [`HEADER_OFFSET`] bytes after the head, whatever
//!    `T` is (checked at compile time in `Gc::new_in`).
//! 2. A tracked object is in exactly one list (a generation, the permanent
//!    generation, or a collector's private list); an untracked one has null
//!    links. Lists are circular, doubly linked, through sentinel heads that
//!    live at stable addresses in the space.
//! 3. `COLLECTING` and `UNREACHABLE` are set only inside a collection and are
//!    clear on every object when no collection runs.
//! 4. `gc_refs` saturates at [`REFS_MAX`]: a saturated object is never
//!    decremented, so it is treated as reachable (a possible leak of an object
//!    with over 16 million internal references, never a premature free).
//! 6. The generation bits and the space id of a tracked object name the list
//!    it is in; `gc_refs` is 0 outside collections. A collection of
//!    generation `g` of space `s` treats exactly the objects with space `s`
//!    and generation `<= g` as members, which lets `subtract_refs` initialise
//!    `gc_refs` on first touch (no separate `update_refs` pass).
//! 5. Only the thread that owns the space touches any of this (handles are
//!    `!Send`), so plain loads and stores are used throughout.

use core::{
    any::TypeId,
    cell::Cell,
    ptr::{self, NonNull},
};

use coil_refcount::Header;

use crate::trace::Visitor;

/// Byte offset of the refcount header from the gc head.
pub(crate) const HEADER_OFFSET: usize = core::mem::size_of::<GcHead>();

pub(crate) const COLLECTING: u32 = 1 << 31;
pub(crate) const UNREACHABLE: u32 = 1 << 30;
pub(crate) const HAS_CALLBACKS: u32 = 1 << 29;
pub(crate) const OWNED: u32 = 1 << 28;
pub(crate) const MARK: u32 = 1 << 27;
pub(crate) const GEN_SHIFT: u32 = 25;
pub(crate) const GEN_MASK: u32 = 3 << GEN_SHIFT;
pub(crate) const DIRTY: u32 = 1 << 24;
pub(crate) const REFS_MAX: u32 = (1 << 24) - 1;
pub(crate) const REFS_MASK: u32 = REFS_MAX;

/// Type-erased operations on one object type.
pub(crate) struct VTable {
    /// Visits the object's references (the value must be alive).
    pub(crate) trace: unsafe fn(NonNull<GcHead>, &mut Visitor<'_>),
    /// Drops the value in place (memory stays); false if already dropped.
    pub(crate) drop_value: unsafe fn(NonNull<GcHead>) -> bool,
    /// Gives up the implicit weak reference (frees when no `Weak` remains).
    pub(crate) release: unsafe fn(NonNull<GcHead>),
    /// The count-reached-zero destruction, for the trashcan.
    pub(crate) destroy: unsafe fn(NonNull<()>),
    /// The PEP 442 finalizer, if the object was created with one.
    pub(crate) finalize: Option<unsafe fn(NonNull<GcHead>)>,
    /// A legacy finalizer: a cycle holding it is uncollectable (`garbage`).
    pub(crate) legacy: bool,
    /// `TypeId` of the value, for `Object::downcast`.
    pub(crate) type_id: fn() -> TypeId,
    /// Name of the value type, for `Debug`.
    pub(crate) type_name: fn() -> &'static str,
}

/// The prefix of every gc box (and the sentinel of every list).
#[repr(C)]
pub(crate) struct GcHead {
    pub(crate) next: Cell<*mut GcHead>,
    pub(crate) prev: Cell<*mut GcHead>,
    pub(crate) vtable: &'static VTable,
    pub(crate) bits: Cell<u32>,
    pub(crate) space: Cell<u32>,
}

unsafe fn no_trace(_: NonNull<GcHead>, _: &mut Visitor<'_>) {}
unsafe fn no_drop(_: NonNull<GcHead>) -> bool {
    false
}
unsafe fn no_release(_: NonNull<GcHead>) {}
unsafe fn no_destroy(_: NonNull<()>) {}
fn sentinel_name() -> &'static str {
    "<list head>"
}

/// The vtable of list sentinels (never called).
pub(crate) static SENTINEL_VTABLE: VTable = VTable {
    trace: no_trace,
    drop_value: no_drop,
    release: no_release,
    destroy: no_destroy,
    finalize: None,
    legacy: false,
    type_id: TypeId::of::<()>,
    type_name: sentinel_name,
};

impl GcHead {
    /// A head with null links (an untracked object, or a sentinel before
    /// [`list_init`]).
    pub(crate) const fn new(vtable: &'static VTable, space: u32) -> Self {
        GcHead {
            next: Cell::new(ptr::null_mut()),
            prev: Cell::new(ptr::null_mut()),
            vtable,
            bits: Cell::new(0),
            space: Cell::new(space),
        }
    }
}

/// The refcount header of an object.
///
/// # Safety
///
/// `h` is the head of a live gc box (not a sentinel).
#[inline(always)]
pub(crate) unsafe fn header<'a>(h: NonNull<GcHead>) -> &'a Header {
    // SAFETY: invariant 1: the header follows the head in the same box.
    unsafe { h.byte_add(HEADER_OFFSET).cast::<Header>().as_ref() }
}

/// The gc bits of an object.
///
/// # Safety
///
/// `h` is the head of a live gc box.
#[inline(always)]
pub(crate) unsafe fn bits(h: NonNull<GcHead>) -> u32 {
    // SAFETY: live box; single-thread access (invariant 5).
    unsafe { (*h.as_ptr()).bits.get() }
}

/// Overwrites the gc bits of an object.
///
/// # Safety
///
/// As [`bits`].
#[inline(always)]
pub(crate) unsafe fn set_bits(h: NonNull<GcHead>, b: u32) {
    // SAFETY: live box; single-thread access (invariant 5).
    unsafe { (*h.as_ptr()).bits.set(b) };
}

thread_local! {
    static DECREF_EPOCH: Cell<u64> = const { Cell::new(0) };
}

/// The thread's decref epoch: bumped each time an object that a collection
/// examined (or that is new) loses a strong reference for the first time
/// since. A garbage cycle can only form when a member loses a reference, so
/// if the epoch has not moved since a collection of generation `g` started,
/// generations `0..=g` cannot hold new garbage (`Space::may_have_garbage`).
pub(crate) fn decref_epoch() -> u64 {
    DECREF_EPOCH.try_with(Cell::get).unwrap_or(u64::MAX)
}

/// Notes that `h` lost a strong reference (it is still alive).
///
/// # Safety
///
/// `h` is a live gc object of this thread.
#[inline(always)]
pub(crate) unsafe fn note_decref(h: NonNull<GcHead>) {
    // SAFETY: caller.
    let b = unsafe { bits(h) };
    if b & DIRTY == 0 {
        // SAFETY: caller.
        unsafe { mark_dirty(h, b) };
    }
}

#[cold]
#[inline(never)]
unsafe fn mark_dirty(h: NonNull<GcHead>, b: u32) {
    // SAFETY: caller.
    unsafe { set_bits(h, b | DIRTY) };
    let _ = DECREF_EPOCH.try_with(|e| e.set(e.get() + 1));
}

/// gc_refs from the strong count (saturating at [`REFS_MAX`]; at least 1
/// for a member that is being visited, since the visitor's edge counts).
///
/// # Safety
///
/// As [`bits`].
#[inline(always)]
pub(crate) unsafe fn init_refs(h: NonNull<GcHead>) -> u32 {
    // SAFETY: caller.
    let strong = unsafe { header(h) }.strong();
    if strong >= REFS_MAX as usize {
        REFS_MAX
    } else {
        strong as u32
    }
}

/// Resets an object's bits to "in generation `gen`, not collecting",
/// keeping only `HAS_CALLBACKS`.
///
/// # Safety
///
/// As [`bits`].
#[inline(always)]
pub(crate) unsafe fn set_gen(h: NonNull<GcHead>, gen_: u32) {
    // SAFETY: caller.
    unsafe { set_bits(h, (bits(h) & HAS_CALLBACKS) | (gen_ << GEN_SHIFT)) };
}

/// Initialises a list sentinel: an empty circular list.
///
/// # Safety
///
/// `head` is a sentinel at a stable address.
pub(crate) unsafe fn list_init(head: *mut GcHead) {
    // SAFETY: caller.
    unsafe {
        (*head).next.set(head);
        (*head).prev.set(head);
    }
}

/// Whether a list is empty.
///
/// # Safety
///
/// `head` is an initialised sentinel.
#[inline]
pub(crate) unsafe fn list_is_empty(head: *const GcHead) -> bool {
    // SAFETY: caller.
    unsafe { ptr::eq((*head).next.get(), head) }
}

/// Appends `node` (unlinked) at the tail of `head`'s list.
///
/// # Safety
///
/// `head` is an initialised sentinel; `node` is a live head not in any list.
#[inline(always)]
pub(crate) unsafe fn list_append(node: *mut GcHead, head: *mut GcHead) {
    // SAFETY: caller: both are valid heads of this thread.
    unsafe {
        let last = (*head).prev.get();
        (*node).prev.set(last);
        (*node).next.set(head);
        (*last).next.set(node);
        (*head).prev.set(node);
    }
}

/// Unlinks `node` from its list and nulls its links.
///
/// # Safety
///
/// `node` is in a list.
#[inline(always)]
pub(crate) unsafe fn list_remove(node: *mut GcHead) {
    // SAFETY: caller: the neighbours are valid list members or sentinels.
    unsafe {
        let prev = (*node).prev.get();
        let next = (*node).next.get();
        (*prev).next.set(next);
        (*next).prev.set(prev);
        (*node).next.set(ptr::null_mut());
        (*node).prev.set(ptr::null_mut());
    }
}

/// Moves `node` from its list to the tail of `head`'s list.
///
/// # Safety
///
/// `node` is in a list; `head` is an initialised sentinel of another list.
#[inline(always)]
pub(crate) unsafe fn list_move(node: *mut GcHead, head: *mut GcHead) {
    // SAFETY: caller.
    unsafe {
        let prev = (*node).prev.get();
        let next = (*node).next.get();
        (*prev).next.set(next);
        (*next).prev.set(prev);
        list_append(node, head);
    }
}

/// Moves every node of `from` to the tail of `to` (O(1)); `from` becomes empty.
///
/// # Safety
///
/// Both are initialised sentinels of different lists.
pub(crate) unsafe fn list_merge(from: *mut GcHead, to: *mut GcHead) {
    // SAFETY: caller.
    unsafe {
        if list_is_empty(from) {
            return;
        }
        let to_tail = (*to).prev.get();
        let from_head = (*from).next.get();
        let from_tail = (*from).prev.get();
        (*to_tail).next.set(from_head);
        (*from_head).prev.set(to_tail);
        (*to).prev.set(from_tail);
        (*from_tail).next.set(to);
        list_init(from);
    }
}

/// Moves the nodes of `from` that come before `stop` (a node of `from`, or
/// `from` itself for all of them) to the tail of `to`, in O(1).
///
/// # Safety
///
/// Both are initialised sentinels of different lists; `stop` is `from` or
/// one of its nodes.
pub(crate) unsafe fn list_splice_front(from: *mut GcHead, stop: *mut GcHead, to: *mut GcHead) {
    // SAFETY: caller.
    unsafe {
        let first = (*from).next.get();
        if first == stop {
            return;
        }
        let last = (*stop).prev.get();
        // Unlink [first, last] from `from`.
        (*from).next.set(stop);
        (*stop).prev.set(from);
        // Append it to `to`.
        let to_tail = (*to).prev.get();
        (*to_tail).next.set(first);
        (*first).prev.set(to_tail);
        (*last).next.set(to);
        (*to).prev.set(last);
    }
}

/// Moves the nodes `first ..= last` (consecutive, in one list) to the tail
/// of `to`, in O(1).
///
/// # Safety
///
/// `first` and `last` are nodes of one list, `last` at or after `first`;
/// `to` is an initialised sentinel of another list.
pub(crate) unsafe fn list_splice_range(first: *mut GcHead, last: *mut GcHead, to: *mut GcHead) {
    // SAFETY: caller.
    unsafe {
        let before = (*first).prev.get();
        let after = (*last).next.get();
        (*before).next.set(after);
        (*after).prev.set(before);
        let to_tail = (*to).prev.get();
        (*to_tail).next.set(first);
        (*first).prev.set(to_tail);
        (*last).next.set(to);
        (*to).prev.set(last);
    }
}

/// Number of nodes in a list (walks it).
///
/// # Safety
///
/// `head` is an initialised sentinel.
pub(crate) unsafe fn list_len(head: *const GcHead) -> usize {
    let mut n = 0;
    // SAFETY: caller; every node of the list is live.
    unsafe {
        let mut p = (*head).next.get();
        while !ptr::eq(p, head) {
            n += 1;
            p = (*p).next.get();
        }
    }
    n
}
