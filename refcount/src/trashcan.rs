//! Deferred destruction (CPython's "trashcan"): destruction never recurses
//! deeper than [`LIMIT`] boxes, whatever the shape of the data.
//!
//! Dropping the last handle to the head of a linked list drops the head's
//! value, which drops the last handle to the next node, and so on: with plain
//! recursion a 1,000,000-long chain overflows the stack (std `Rc` does). Here
//! every box destruction goes through [`destroy`]:
//!
//! ```text
//!  destroy(box, f)
//!    depth < LIMIT ?──yes──► depth += 1; f(box); depth -= 1
//!        │                         (f may call destroy again, one level down)
//!        no                  depth back at 0 and work list non-empty?
//!        ▼                         └──► pop and run entries until it is empty
//!    push (box, f) on this thread's work list and return
//! ```
//!
//! Stack use is bounded by `LIMIT` nested destructions; total work stays
//! linear, because every box is destroyed exactly once, either in place or
//! from the work list by the outermost `destroy` of the thread. Entries are
//! type-erased (`ptr`, `fn`), so a higher crate (coil-gc) pushes its own boxes
//! with its own destruction routine onto the same list.
//!
//! # Invariants
//!
//! 1. `DEPTH` is the number of `destroy` frames (plus a draining loop) on this
//!    thread's stack; a guard restores it if a destructor panics.
//! 2. The work list is non-empty only while `DEPTH > 0`, except after a panic
//!    unwound through the outermost frame; the next outermost `destroy` drains
//!    those entries.
//! 3. An entry is a box whose strong count reached zero and that nothing else
//!    will destroy; it is run exactly once.
//! 4. During thread exit, after the work list's thread-local is gone, `destroy`
//!    runs `f` directly (recursion is possible only there).

use core::{
    cell::{Cell, RefCell},
    ptr::NonNull,
};

/// Nested destructions allowed before boxes are deferred (CPython 3.11's
/// `_PyTrash_UNWIND_LEVEL` is 50 too).
pub const LIMIT: usize = 50;

/// A type-erased destruction routine: destroys the box at the pointer.
pub type DestroyFn = unsafe fn(NonNull<()>);

thread_local! {
    static DEPTH: Cell<usize> = const { Cell::new(0) };
    static PENDING: Cell<usize> = const { Cell::new(0) };
    static LIST: RefCell<Vec<(NonNull<()>, DestroyFn)>> = const { RefCell::new(Vec::new()) };
}

struct DepthGuard(usize);

impl Drop for DepthGuard {
    #[inline]
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(self.0));
    }
}

/// Destroys a box now, or defers it to this thread's work list when
/// [`LIMIT`] destructions are already nested below; the outermost `destroy`
/// drains the list before returning.
///
/// # Safety
///
/// - `f(ptr)` must be sound to call exactly once, at any later point on this
///   thread (in practice: the box's strong count reached zero and the caller
///   hands its destruction over).
/// - `f` must not unwind except by a destructor panic of the value it drops.
///
/// # Examples
///
/// ```
/// use core::ptr::NonNull;
/// use coil_refcount::trashcan;
///
/// unsafe fn free_u64(p: NonNull<()>) {
///     // SAFETY: `p` came from Box::into_raw below.
///     drop(unsafe { Box::from_raw(p.cast::<u64>().as_ptr()) });
/// }
/// let p = NonNull::from(Box::leak(Box::new(7u64))).cast::<()>();
/// // SAFETY: `free_u64` is the matching routine and runs once.
/// unsafe { trashcan::destroy(p, free_u64) };
/// assert_eq!(trashcan::pending(), 0);
/// ```
#[inline]
pub unsafe fn destroy(ptr: NonNull<()>, f: DestroyFn) {
    let d = DEPTH.with(Cell::get);
    if d >= LIMIT {
        // SAFETY: forwarded contract.
        unsafe { defer(ptr, f) };
        return;
    }
    DEPTH.with(|c| c.set(d + 1));
    let guard = DepthGuard(d);
    // SAFETY: forwarded contract.
    unsafe { f(ptr) };
    drop(guard);
    if d == 0 && PENDING.with(Cell::get) != 0 {
        drain();
    }
}

#[cold]
#[inline(never)]
unsafe fn defer(ptr: NonNull<()>, f: DestroyFn) {
    let pushed = LIST
        .try_with(|l| match l.try_borrow_mut() {
            Ok(mut l) => {
                l.push((ptr, f));
                true
            }
            Err(_) => false,
        })
        .unwrap_or(false);
    if pushed {
        PENDING.with(|p| p.set(p.get() + 1));
    } else {
        // Invariant 4: the list is gone (thread exit); destroy in place.
        // SAFETY: forwarded contract.
        unsafe { f(ptr) };
    }
}

#[cold]
#[inline(never)]
fn drain() {
    let outer = DEPTH.with(Cell::get);
    DEPTH.with(|c| c.set(outer + 1));
    let _guard = DepthGuard(outer);
    loop {
        let next = LIST
            .try_with(|l| l.try_borrow_mut().ok().and_then(|mut l| l.pop()))
            .ok()
            .flatten();
        let Some((ptr, f)) = next else { break };
        PENDING.with(|p| p.set(p.get() - 1));
        // SAFETY: invariant 3: the entry was pushed by `destroy` under its
        // contract and is popped (run) exactly once.
        unsafe { f(ptr) };
    }
}

/// Runs every deferred destruction of this thread now (normally the
/// outermost [`destroy`] does it; this is for a caller that wants the work
/// list empty at a point of its choosing, e.g. after catching a panic).
///
/// # Examples
///
/// ```
/// coil_refcount::trashcan::flush();
/// assert_eq!(coil_refcount::trashcan::pending(), 0);
/// ```
pub fn flush() {
    if PENDING.with(Cell::get) != 0 {
        drain();
    }
}

/// Current nesting depth of destructions on this thread.
///
/// # Examples
///
/// ```
/// assert_eq!(coil_refcount::trashcan::depth(), 0);
/// ```
pub fn depth() -> usize {
    DEPTH.with(Cell::get)
}

/// Number of boxes waiting in this thread's work list.
///
/// # Examples
///
/// ```
/// assert_eq!(coil_refcount::trashcan::pending(), 0);
/// ```
pub fn pending() -> usize {
    PENDING.with(Cell::get)
}
