//! Thread ids, the registry of live owner threads and their pending queues.
//!
//! Every thread that creates a [`Brc`](super::Brc) gets a never-reused id
//! (from a global counter) cached in a const-initialised thread-local, and an
//! [`Inbox`] entered in the global registry under that id. Non-owner drops
//! that would take a shared count below zero hand the box to the owner's
//! inbox; the owner merges its inbox at thread exit, on
//! [`merge_pending`], and every [`MERGE_EVERY`]-th `Brc::new` on that thread.
//!
//! ```text
//!   REGISTRY: Mutex<BTreeMap<id, Arc<Inbox>>>      (slow paths only)
//!   per thread: ID (const Cell) · NEWS (const Cell) · REG (Registration, has Drop)
//! ```
//!
//! # Invariants
//!
//! 1. The thread-local `ID` is [`UNREGISTERED`] until the thread registers,
//!    then its id, then [`EXITED`] from the moment its registration is being
//!    destroyed. Neither sentinel is ever a box's owner, so a thread compares
//!    equal to a box's owner only while it is that owner and registered.
//! 2. A thread is in the registry from before its first box exists until its
//!    thread-exit destructor removes it; it sets `ID` to `EXITED` first, so
//!    it never touches a local count again after leaving the registry.
//! 3. Boxes are pushed into an inbox only while the registry lock is held
//!    and the owner is in the registry; the exiting owner removes itself
//!    under the same lock and drains its inbox afterwards, so every pushed
//!    box is merged exactly once. A box whose owner is not registered is
//!    merged by the thread that queued it, after taking the registry lock
//!    (which orders the owner's last local-count writes before that merge).

use core::{
    cell::{Cell, OnceCell},
    ptr::NonNull,
    sync::atomic::{AtomicBool, AtomicUsize, Ordering},
};
use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, MutexGuard},
};

/// `ID` of a thread that has not created a `Brc` yet.
pub(crate) const UNREGISTERED: usize = usize::MAX;
/// `ID` of a thread whose registration is gone (thread exit): its new boxes
/// are created without owner.
pub(crate) const EXITED: usize = usize::MAX - 1;

/// Every this many `Brc::new` on a thread, the thread merges its inbox if
/// anything is pending.
pub const MERGE_EVERY: u32 = 64;

/// Merges one queued box and destroys it if no reference is left. The box's
/// type is erased, as in the trashcan's work list.
pub(crate) type MergeFn = unsafe fn(NonNull<()>);

/// A box handed to its owner, with the routine that merges it.
pub(crate) struct Queued {
    pub(crate) ptr: NonNull<()>,
    pub(crate) merge: MergeFn,
}

// SAFETY: queued boxes are `Brc` boxes, whose values are `Send + Sync` (the
// bounds of `Brc`'s `Send`); the entry carries the queue's reference to the
// owner thread, which merges it.
unsafe impl Send for Queued {}

#[derive(Default)]
struct Inbox {
    items: Mutex<Vec<Queued>>,
    pending: AtomicBool,
}

struct Registration {
    id: usize,
    inbox: Arc<Inbox>,
}

static NEXT_ID: AtomicUsize = AtomicUsize::new(1);
static REGISTRY: Mutex<BTreeMap<usize, Arc<Inbox>>> = Mutex::new(BTreeMap::new());

thread_local! {
    static ID: Cell<usize> = const { Cell::new(UNREGISTERED) };
    static NEWS: Cell<u32> = const { Cell::new(0) };
    static REG: OnceCell<Registration> = const { OnceCell::new() };
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The data under these locks stays consistent at every unlock (a push or
    // a removal), so a poisoned lock is still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Drop for Registration {
    fn drop(&mut self) {
        // Invariant 2: stop counting locally before leaving the registry.
        ID.with(|c| c.set(EXITED));
        lock(&REGISTRY).remove(&self.id);
        // Invariant 3: nobody can push any more; merge what was pushed.
        drain(&self.inbox);
    }
}

/// This thread's id for the owner test (a sentinel when it owns nothing).
#[inline(always)]
pub(crate) fn current() -> usize {
    ID.with(Cell::get)
}

/// The owner for a box created now on this thread: this thread's id
/// (registering it first), or 0 when the thread is exiting. Every
/// [`MERGE_EVERY`]-th call merges this thread's pending boxes.
#[inline]
pub(crate) fn owner_for_new() -> usize {
    let id = current();
    if id < EXITED {
        let n = NEWS.with(|c| {
            let n = c.get().wrapping_add(1);
            c.set(n);
            n
        });
        if n % MERGE_EVERY == 0 {
            merge_if_pending();
        }
        return id;
    }
    if id == EXITED { 0 } else { register() }
}

#[cold]
#[inline(never)]
fn register() -> usize {
    let got = REG.try_with(|r| {
        r.get_or_init(|| {
            let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
            if id >= EXITED {
                // 2^64 − 2 threads: ids would repeat. Unreachable in practice.
                std::process::abort();
            }
            let inbox = Arc::new(Inbox::default());
            lock(&REGISTRY).insert(id, inbox.clone());
            Registration { id, inbox }
        })
        .id
    });
    match got {
        Ok(id) => {
            ID.with(|c| c.set(id));
            id
        }
        Err(_) => {
            // The registration's thread-local is gone: the thread is exiting.
            ID.with(|c| c.set(EXITED));
            0
        }
    }
}

/// Hands a box whose shared count went below zero to its owner `owner`, or —
/// if the owner has exited — merges it here (invariant 3).
///
/// # Safety
///
/// `q` carries the queue's reference of a QUEUED box owned by `owner`, and
/// `q.merge` is its merge routine.
#[cold]
#[inline(never)]
pub(crate) unsafe fn hand_over(q: Queued, owner: usize) {
    let map = lock(&REGISTRY);
    if let Some(inbox) = map.get(&owner) {
        lock(&inbox.items).push(q);
        inbox.pending.store(true, Ordering::Release);
        return;
    }
    // The owner left the registry before we took the lock: its last writes
    // to the local count happen-before this point, and it will not write
    // again (invariant 2). Merge with the lock released: the merge may run
    // destructors, which may drop other `Brc`s.
    drop(map);
    // SAFETY: forwarded contract; we hold the queue's reference.
    unsafe { (q.merge)(q.ptr) };
}

/// Merges this thread's pending boxes if any (the amortised check).
#[cold]
#[inline(never)]
fn merge_if_pending() {
    let _ = REG.try_with(|r| {
        if let Some(r) = r.get() {
            if r.inbox.pending.load(Ordering::Relaxed) {
                drain(&r.inbox);
            }
        }
    });
}

/// The boxes taken out of an inbox and not merged yet; if a destructor run
/// by a merge panics, the rest go back into the inbox (nothing is lost).
struct Taken<'a>(&'a Inbox, Vec<Queued>);

impl Drop for Taken<'_> {
    fn drop(&mut self) {
        if !self.1.is_empty() {
            lock(&self.0.items).append(&mut self.1);
            self.0.pending.store(true, Ordering::Relaxed);
        }
    }
}

/// Merges every box waiting in `inbox`; returns how many.
fn drain(inbox: &Inbox) -> usize {
    let items = {
        let mut l = lock(&inbox.items);
        inbox.pending.store(false, Ordering::Relaxed);
        core::mem::take(&mut *l)
    };
    let n = items.len();
    let mut rest = Taken(inbox, items);
    while let Some(q) = rest.1.pop() {
        // SAFETY: invariant 3: each pushed box is popped exactly once, by its
        // owner (this thread), with the queue's reference.
        unsafe { (q.merge)(q.ptr) };
    }
    n
}

/// Merges the boxes that other threads handed to this thread (their last
/// shared references went while this thread still counted the boxes
/// locally), freeing those that are now dead. Returns how many boxes were
/// merged.
///
/// This happens anyway at thread exit and every [`MERGE_EVERY`]-th
/// `Brc::new` on this thread; call it to reclaim such memory at a point of
/// your choosing (a queued box's memory is reclaimed when its owner next
/// merges — a bounded delay, not a leak).
///
/// # Panics
///
/// If the destructor of a merged object panics, the panic propagates after
/// that object's memory is released; the boxes not merged yet stay queued
/// for the next merge.
///
/// # Examples
///
/// ```
/// use coil_refcount::biased::{Brc, merge_pending};
/// let a = Brc::new(String::from("made here"));
/// // The only handle, dropped on another thread: the object waits for us.
/// std::thread::spawn(move || drop(a)).join().unwrap();
/// assert_eq!(merge_pending(), 1); // merged and freed now
/// assert_eq!(merge_pending(), 0);
/// ```
pub fn merge_pending() -> usize {
    REG.try_with(|r| r.get().map_or(0, |r| drain(&r.inbox)))
        .unwrap_or(0)
}
