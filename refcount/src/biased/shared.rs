//! The prefix of a [`Brc`](super::Brc) box: the owner thread and the shared
//! count, and the state transitions of the shared count.
//!
//! ```text
//!   Shared (#[repr(C)], 16 bytes on 64-bit targets)
//!  +0   owner   AtomicUsize   owner thread id; 0 = no owner (merged)
//!  +8   word    AtomicIsize   (count << 2) | state, state ∈ {DEFAULT, QUEUED, MERGED}
//! ```
//!
//! The local count is the [`Header`]'s strong count, right after the prefix.
//! Let `q` be 1 while the box sits in (or is about to be handed to) its
//! owner's pending queue, else 0. Then at every moment
//!
//! ```text
//!   live strong handles = local + count − q
//! ```
//!
//! (a handle may be counted in either field, whichever thread made it; only
//! the sum matters). The queue "holds" one reference: the non-owner drop that
//! queued the box did not subtract its own, so the box cannot die while it
//! waits in a queue.
//!
//! # Invariants
//!
//! 1. State moves only DEFAULT → QUEUED → MERGED or DEFAULT → MERGED, never
//!    back; a box is queued at most once (only from DEFAULT with count 0).
//! 2. In DEFAULT, `count >= 0`; in QUEUED it may be negative (handles made by
//!    the owner dropped elsewhere); in MERGED, `local == 0` and
//!    `count = handles + q >= 0`.
//! 3. `owner` moves only from a thread id to 0, and is set to 0 before the
//!    state becomes MERGED (after that the box may be freed by any thread).
//! 4. Exactly one thread performs the transition to "dead": the owner whose
//!    local count reached 0 with the word at 0, or whoever produced the word
//!    `MERGED` (count 0) with its compare-and-swap.

use core::sync::atomic::{AtomicIsize, AtomicUsize, Ordering, fence};

use crate::header::Header;

/// State bits of the shared word: the owner still counts locally.
const DEFAULT: isize = 0;
/// State bits: the box waits in its owner's queue (which holds a reference).
const QUEUED: isize = 1;
/// State bits: the local count was merged in; the word is the whole count.
const MERGED: isize = 2;
/// Mask of the state bits.
const STATE: isize = 3;
/// Shift of the count above the state bits.
const SHIFT: u32 = 2;
/// One shared reference.
const ONE: isize = 1 << SHIFT;
/// A shared word at or above this aborts (count overflow, as std).
const MAX_WORD: isize = isize::MAX >> 1;

/// What a non-owner decrement left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dec {
    /// Other references remain.
    Alive,
    /// The count would have gone below zero: the box is now QUEUED and the
    /// caller's reference belongs to the queue; hand the box to its owner.
    Queue,
    /// The count reached zero in MERGED state: the caller destroys the box.
    Dead,
}

/// The `Brc` prefix. See the [module documentation](self).
#[repr(C)]
#[derive(Debug)]
pub(crate) struct Shared {
    owner: AtomicUsize,
    word: AtomicIsize,
}

#[cold]
#[inline(never)]
fn overflow() -> ! {
    std::process::abort()
}

impl Shared {
    /// A box owned by thread `id` (its first handle is counted locally).
    pub(crate) const fn owned(id: usize) -> Self {
        Shared {
            owner: AtomicUsize::new(id),
            word: AtomicIsize::new(DEFAULT),
        }
    }

    /// A box without owner: one shared reference, already MERGED (the local
    /// count must be set to 0 before the box is shared).
    pub(crate) const fn unowned() -> Self {
        Shared {
            owner: AtomicUsize::new(0),
            word: AtomicIsize::new(ONE | MERGED),
        }
    }

    /// The owner thread id (0: none).
    #[inline(always)]
    pub(crate) fn owner(&self) -> usize {
        self.owner.load(Ordering::Relaxed)
    }

    /// The shared count (may be negative while QUEUED).
    pub(crate) fn count(&self) -> isize {
        self.word.load(Ordering::Relaxed) >> SHIFT
    }

    /// Whether the state is QUEUED.
    pub(crate) fn is_queued(&self) -> bool {
        self.word.load(Ordering::Relaxed) & STATE == QUEUED
    }

    /// Whether the state is MERGED.
    pub(crate) fn is_merged(&self) -> bool {
        self.word.load(Ordering::Relaxed) & STATE == MERGED
    }

    /// A non-owner clone: one atomic add. Aborts on overflow.
    #[inline(always)]
    pub(crate) fn inc(&self) {
        if self.word.fetch_add(ONE, Ordering::Relaxed) > MAX_WORD {
            overflow();
        }
    }

    /// A non-owner drop (CPython's `_Py_DecRefShared`): in DEFAULT at count 0
    /// the box becomes QUEUED and keeps the caller's reference; otherwise one
    /// reference is subtracted. After [`Dec::Dead`] an acquire fence has run.
    #[inline]
    pub(crate) fn dec(&self) -> Dec {
        let mut cur = self.word.load(Ordering::Relaxed);
        loop {
            let (new, out) = if cur == DEFAULT {
                (QUEUED, Dec::Queue)
            } else {
                let n = cur - ONE;
                (n, if n == MERGED { Dec::Dead } else { Dec::Alive })
            };
            match self
                .word
                .compare_exchange_weak(cur, new, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => {
                    if out == Dec::Dead {
                        fence(Ordering::Acquire);
                    }
                    return out;
                }
                Err(now) => cur = now,
            }
        }
    }

    /// The owner's local count reached zero: give up ownership. Returns `true`
    /// when the object is dead (no reference is left anywhere) and the caller
    /// must destroy it.
    ///
    /// # Safety
    ///
    /// Called by the owner thread, right after its local decrement reached 0.
    pub(crate) unsafe fn give_up(&self) -> bool {
        let mut cur = self.word.load(Ordering::Acquire);
        if cur == DEFAULT {
            // Nothing shared, nothing queued: the caller's was the last handle.
            return true;
        }
        // Invariant 3: no owner before MERGED.
        self.owner.store(0, Ordering::Relaxed);
        loop {
            let new = (cur & !STATE) | MERGED;
            match self
                .word
                .compare_exchange_weak(cur, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return new == MERGED,
                Err(now) => cur = now,
            }
        }
    }

    /// Merges the local count into the shared word (CPython's
    /// `_Py_ExplicitMergeRefcount`): `total = count + local + extra`, local and
    /// owner become 0, the word becomes `total | MERGED`. Returns `total`; at 0
    /// the caller must destroy the box (an acquire fence has run).
    ///
    /// # Safety
    ///
    /// `h` is the header right after this prefix, and the caller is the only
    /// thread that can touch the local count: the owner itself, or — after the
    /// owner left the registry, which the caller observed under the registry
    /// lock — the thread holding the queue's reference.
    pub(crate) unsafe fn merge(&self, h: &Header, extra: isize) -> isize {
        let local = h.strong() as isize;
        // SAFETY: the caller is the only thread touching the local count.
        unsafe { h.set_strong_owner(0) };
        // Invariant 3: owner and local are settled before MERGED is visible.
        self.owner.store(0, Ordering::Relaxed);
        let mut cur = self.word.load(Ordering::Relaxed);
        loop {
            let total = (cur >> SHIFT) + local + extra;
            debug_assert!(total >= 0, "biased count below zero");
            let new = (total << SHIFT) | MERGED;
            match self
                .word
                .compare_exchange_weak(cur, new, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return total,
                Err(now) => cur = now,
            }
        }
    }
}
