//! The object header: one definition shared by every handle type.
//!
//! ```text
//!            Header (#[repr(C)], 16 bytes on 64-bit targets — as std's RcBox)
//!  +0   strong     AtomicUsize   strong handles; >= IMMORTAL_THRESHOLD means immortal
//!  +8   weak       AtomicU32     weak handles + 1 while strong > 0 (the std scheme)
//!  +12  flags      AtomicU32     Flags: IMMORTAL, VALUE_DROPPED, WEAK_CLEARED, ...
//! ```
//!
//! The header is as small as std's (a box of one pointer is 24 bytes and
//! lands in a 32-byte block, never straddling a cache line). The weak-callback
//! list does not live in the header: objects with callbacks are rare, so their
//! lists sit in a side table keyed by header address (see
//! [`crate::callbacks`]), consulted only when `HAS_WEAK_CALLBACKS` is set —
//! the same trade CPython makes for objects without `tp_weaklistoffset`.
//!
//! The counts are atomics so that one header type serves both counting
//! disciplines. The single-thread discipline ([`Local`](crate::Local)) reads and
//! writes them with plain loads and stores through [`AtomicUsize::as_ptr`]; the
//! thread-safe one ([`Atomic`](crate::Atomic)) uses atomic read-modify-write
//! operations. A box is used by one discipline only for its whole life, so the
//! two never race on the same word. The biased handle
//! ([`Brc`](crate::biased::Brc)) uses the strong count as its owner thread's
//! local count, written with relaxed loads and stores (`*_owner` methods):
//! atomic accesses, because other threads may read it, but no locked
//! instruction.
//!
//! # Immortality (PEP 683)
//!
//! An immortal box stores [`IMMORTAL_COUNT`] in `strong` and carries
//! [`Flags::IMMORTAL`]. Every strong increment and decrement first tests for
//! immortality and returns *without writing* when the box is immortal. The
//! single-thread discipline compares the count against [`MAX_MORTAL`] (the
//! same single compare that std's overflow check costs). The thread-safe one
//! tests the `IMMORTAL` flag instead: counting never writes the flags word, so
//! its load need not wait for a preceding locked add to the count (clone then
//! drop), and the mortal path is std's `lock xadd` plus overflow check. The
//! immortal value sits in the middle of the range `[IMMORTAL_THRESHOLD,
//! usize::MAX]`, so that thread-safe handles that raced with
//! [`make_immortal`](crate::strong::Strong::make_immortal) and wrote anyway move
//! it by a few units without ever leaving the range.
//!
//! # Invariants
//!
//! 1. `strong < MAX_MORTAL` (mortal) or `strong >= IMMORTAL_THRESHOLD`
//!    (immortal). A single-thread increment reaching `MAX_MORTAL` aborts the
//!    process, as std does on overflow; a thread-safe one, which tests only the
//!    sign of the result (std's check), aborts at the latest one increment
//!    past `IMMORTAL_THRESHOLD`. Both take 2^62 increments to reach.
//! 2. `weak >= 1` while `strong > 0`; the box memory is freed exactly when
//!    `weak` reaches zero, and never for an immortal box.
//! 3. `VALUE_DROPPED` is set before the value's destructor starts and never
//!    cleared; the value is dropped at most once.
//! 4. `HAS_WEAK_CALLBACKS` is set exactly while the side table holds a
//!    callback list for this header (both change under the table's lock); the
//!    list is taken before the memory is freed, so a new box at the same
//!    address never inherits it.
//! 5. `weak < 2^31` (a weak-count overflow aborts).

use core::{
    ptr,
    sync::atomic::{AtomicU32, AtomicUsize, Ordering},
};

use crate::callbacks::{self, CallbackList, Node};

bitflags::bitflags! {
    /// The flag set of a [`Header`].
    ///
    /// `TRACKED` and `FINALIZED` are never set by this crate; they are reserved
    /// for a cycle collector built on the same box (coil-gc).
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::{Flags, Rc};
    ///
    /// let a = Rc::new(1);
    /// assert!(!Rc::flags(&a).contains(Flags::IMMORTAL));
    /// Rc::make_immortal(&a);
    /// assert!(Rc::flags(&a).contains(Flags::IMMORTAL));
    /// ```
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct Flags: u32 {
        /// The strong count is pinned: clone and drop never write it and the box
        /// is never freed (PEP 683).
        const IMMORTAL = 1;
        /// The value's destructor has run (or is running); the memory may still
        /// be allocated.
        const VALUE_DROPPED = 1 << 1;
        /// Weak handles can no longer upgrade, even if `strong > 0` (a collector
        /// clears weak references to unreachable objects before dropping them).
        const WEAK_CLEARED = 1 << 2;
        /// At least one weak callback or finalizer was registered.
        const HAS_WEAK_CALLBACKS = 1 << 3;
        /// Reserved for coil-gc: the finalizer has run (PEP 442).
        const FINALIZED = 1 << 4;
        /// Reserved for coil-gc: the object is in a generation list.
        const TRACKED = 1 << 5;
        /// The box is owned by thread-safe handles ([`Atomic`](crate::Atomic)).
        const ATOMIC = 1 << 6;
    }
}

/// Counts at or above this value are immortal.
pub const IMMORTAL_THRESHOLD: usize = 1 << (usize::BITS - 1);
/// The count stored in an immortal box (the middle of the immortal range).
pub const IMMORTAL_COUNT: usize = IMMORTAL_THRESHOLD + (IMMORTAL_THRESHOLD >> 1);
/// A mortal count that reaches this value aborts the process (count overflow).
pub const MAX_MORTAL: usize = 1 << (usize::BITS - 2);

/// The counted-box header: strong count, weak count and flags. See the [module documentation](self) for the layout and invariants.
///
/// Handles reach it through [`RcBox::header`](crate::raw::RcBox::header);
/// introspection methods are safe, writes are `unsafe` and belong to the
/// handle implementations (this crate's, or a collector's).
///
/// # Examples
///
/// ```
/// use coil_refcount::Rc;
///
/// let a = Rc::new("x");
/// let b = a.clone();
/// let h = Rc::header(&a);
/// assert_eq!(h.strong(), 2);
/// assert_eq!(h.weak(), 1); // the implicit weak held by the strong handles
/// drop(b);
/// assert_eq!(h.strong(), 1);
/// ```
#[repr(C)]
#[derive(Debug)]
pub struct Header {
    strong: AtomicUsize,
    weak: AtomicU32,
    flags: AtomicU32,
}

#[cold]
#[inline(never)]
fn overflow() -> ! {
    // Count overflow cannot be recovered from: continuing would free a live
    // object. std aborts here too.
    std::process::abort()
}

/// The rare branch of [`Header::inc_strong_atomic`]: the old count was in
/// the immortal range. Either `make_immortal` raced with the increment (the
/// count sits near [`IMMORTAL_COUNT`]: harmless) or a mortal count has just
/// overflowed past [`IMMORTAL_THRESHOLD`] (it sits right above it: abort).
#[cold]
#[inline(never)]
fn inc_strong_atomic_rare(strong: &AtomicUsize) {
    if strong.load(Ordering::Relaxed) < IMMORTAL_THRESHOLD + (IMMORTAL_THRESHOLD >> 2) {
        overflow();
    }
}

/// Marks the branch it sits in as rare (stable stand-in for a branch hint:
/// the call site of a cold function gets a low branch weight, then the empty
/// body is inlined away).
#[cold]
#[inline(always)]
fn cold_path() {}

/// `b`, with the hint that it is usually false.
#[inline(always)]
fn unlikely(b: bool) -> bool {
    if b {
        cold_path();
    }
    b
}

impl Header {
    /// A header with one strong handle, the implicit weak reference and `flags`.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::{Flags, Header};
    ///
    /// let h = Header::new(Flags::empty());
    /// assert_eq!((h.strong(), h.weak()), (1, 1));
    /// ```
    pub const fn new(flags: Flags) -> Self {
        Header {
            strong: AtomicUsize::new(1),
            weak: AtomicU32::new(1),
            flags: AtomicU32::new(flags.bits()),
        }
    }

    /// The raw strong count ([`IMMORTAL_COUNT`]-ish for immortal boxes).
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::{Flags, Header};
    /// assert_eq!(Header::new(Flags::empty()).strong(), 1);
    /// ```
    #[inline]
    pub fn strong(&self) -> usize {
        self.strong.load(Ordering::Relaxed)
    }

    /// The raw weak count (weak handles, plus one while any strong handle lives).
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::{Flags, Header};
    /// assert_eq!(Header::new(Flags::empty()).weak(), 1);
    /// ```
    #[inline]
    pub fn weak(&self) -> usize {
        match self.weak.load(Ordering::Relaxed) {
            // Locked by a uniqueness check, which succeeds only from 1.
            WEAK_LOCKED => 1,
            w => w as usize,
        }
    }

    /// The raw weak word with `Acquire` ordering (for the destruction fast
    /// path: a value of 1 means no weak handle exists, and the loads after it
    /// see everything former weak holders did).
    #[inline]
    pub(crate) fn weak_raw_acquire(&self) -> u32 {
        self.weak.load(Ordering::Acquire)
    }

    /// The current flags.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::{Flags, Header};
    /// assert_eq!(Header::new(Flags::TRACKED).flags(), Flags::TRACKED);
    /// ```
    #[inline]
    pub fn flags(&self) -> Flags {
        Flags::from_bits_retain(self.flags.load(Ordering::Relaxed))
    }

    /// Whether the strong count is in the immortal range.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::{Flags, Header};
    /// assert!(!Header::new(Flags::empty()).is_immortal());
    /// ```
    #[inline]
    pub fn is_immortal(&self) -> bool {
        self.strong() >= IMMORTAL_THRESHOLD
    }

    /// Whether weak handles may still upgrade: `strong > 0` and neither
    /// `VALUE_DROPPED` nor `WEAK_CLEARED` is set.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::{Flags, Header};
    /// assert!(Header::new(Flags::empty()).is_alive());
    /// assert!(!Header::new(Flags::WEAK_CLEARED).is_alive());
    /// ```
    #[inline]
    pub fn is_alive(&self) -> bool {
        self.strong() != 0
            && !self
                .flags()
                .intersects(Flags::VALUE_DROPPED | Flags::WEAK_CLEARED)
    }

    /// Checks the header invariants 1, 2 and 5 of the [module
    /// documentation](self) and panics with the broken one. Called on slow
    /// paths when built with `--cfg coil_debug_full`; callable by any crate
    /// that manipulates headers directly.
    ///
    /// # Panics
    ///
    /// If an invariant is broken (a bug in a handle implementation).
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::Rc;
    /// Rc::header(&Rc::new(1)).check_invariants();
    /// ```
    pub fn check_invariants(&self) {
        let (s, w) = (self.strong(), self.weak.load(Ordering::Relaxed));
        assert!(
            !(MAX_MORTAL..IMMORTAL_THRESHOLD).contains(&s),
            "invariant 1: strong count {s:#x} overflowed"
        );
        assert!(s == 0 || w >= 1, "invariant 2: strong {s} with weak {w}");
        assert!(
            w < MAX_WEAK || w == WEAK_LOCKED,
            "invariant 5: weak count {w:#x} overflowed"
        );
        if s >= IMMORTAL_THRESHOLD {
            assert!(
                self.flags().contains(Flags::IMMORTAL),
                "immortal count without IMMORTAL flag"
            );
        }
    }

    // ------------------------------------------------------------------
    // Single-thread discipline: plain loads and stores.
    // ------------------------------------------------------------------

    /// Adds one strong reference with plain (non-atomic) accesses; no write at
    /// all when the box is immortal. Aborts on overflow.
    ///
    /// # Safety
    ///
    /// - No other thread accesses this header concurrently (the box is owned by
    ///   single-thread handles).
    /// - The caller owns a strong reference or otherwise knows `strong > 0`.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::{Flags, Header};
    /// let h = Header::new(Flags::empty());
    /// // SAFETY: `h` is local to this thread and alive.
    /// unsafe { h.inc_strong_local() };
    /// assert_eq!(h.strong(), 2);
    /// ```
    #[inline(always)]
    pub unsafe fn inc_strong_local(&self) {
        let p = self.strong.as_ptr();
        // SAFETY: no concurrent access (caller's contract).
        let c = unsafe { *p };
        if c >= MAX_MORTAL - 1 {
            if c >= IMMORTAL_THRESHOLD {
                return;
            }
            overflow();
        }
        // SAFETY: as above.
        unsafe { *p = c + 1 };
    }

    /// Removes one strong reference with plain accesses; returns `true` when the
    /// count reached zero (the caller must then destroy the object). Immortal
    /// boxes are not written and never reach zero.
    ///
    /// # Safety
    ///
    /// - No concurrent access (single-thread box).
    /// - The caller gives up a strong reference it owned.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::{Flags, Header};
    /// let h = Header::new(Flags::empty());
    /// // SAFETY: local header; we give up the one strong reference.
    /// assert!(unsafe { h.dec_strong_local() });
    /// ```
    #[inline(always)]
    pub unsafe fn dec_strong_local(&self) -> bool {
        let p = self.strong.as_ptr();
        // SAFETY: no concurrent access (caller's contract).
        let c = unsafe { *p };
        // One compare covers both the common case (2..MAX_MORTAL) and sends
        // 1 (last reference) and the immortal range to the branch below.
        if c.wrapping_sub(2) < MAX_MORTAL - 2 {
            // SAFETY: as above.
            unsafe { *p = c - 1 };
            return false;
        }
        if c >= IMMORTAL_THRESHOLD {
            return false;
        }
        debug_assert_eq!(c, 1, "strong count underflow");
        // SAFETY: as above.
        unsafe { *p = 0 };
        true
    }

    /// Adds one weak reference (plain accesses). Aborts on overflow.
    ///
    /// # Safety
    ///
    /// No concurrent access; the box memory is allocated (`weak > 0`).
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::{Flags, Header};
    /// let h = Header::new(Flags::empty());
    /// // SAFETY: local header.
    /// unsafe { h.inc_weak_local() };
    /// assert_eq!(h.weak(), 2);
    /// ```
    #[inline]
    pub unsafe fn inc_weak_local(&self) {
        let p = self.weak.as_ptr();
        // SAFETY: no concurrent access.
        let c = unsafe { *p };
        if c >= MAX_WEAK {
            overflow();
        }
        // SAFETY: as above.
        unsafe { *p = c + 1 };
    }

    /// Removes one weak reference; `true` when the weak count reached zero (the
    /// caller must free the memory).
    ///
    /// # Safety
    ///
    /// No concurrent access; the caller gives up a weak reference it owned.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::{Flags, Header};
    /// let h = Header::new(Flags::empty());
    /// // SAFETY: local header; gives up the implicit weak reference.
    /// assert!(unsafe { h.dec_weak_local() });
    /// ```
    #[inline]
    pub unsafe fn dec_weak_local(&self) -> bool {
        let p = self.weak.as_ptr();
        // SAFETY: no concurrent access.
        let c = unsafe { *p };
        debug_assert!(c > 0, "weak count underflow");
        // SAFETY: as above.
        unsafe { *p = c - 1 };
        c == 1
    }

    /// Upgrades a weak reference: adds a strong reference if the object is
    /// alive ([`is_alive`](Self::is_alive)) and returns whether it did.
    ///
    /// # Safety
    ///
    /// No concurrent access; the box memory is allocated.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::{Flags, Header};
    /// let h = Header::new(Flags::empty());
    /// // SAFETY: local header.
    /// assert!(unsafe { h.upgrade_local() });
    /// assert_eq!(h.strong(), 2);
    /// ```
    #[inline]
    pub unsafe fn upgrade_local(&self) -> bool {
        if !self.is_alive() {
            return false;
        }
        // SAFETY: strong > 0 was just checked; no concurrent access.
        unsafe { self.inc_strong_local() };
        true
    }

    /// Overwrites the strong count (plain store). Used to make a box immortal,
    /// or by a collector that restores counts.
    ///
    /// # Safety
    ///
    /// No concurrent access; the new count must keep invariant 1 and match the
    /// handles that exist.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::{Flags, Header, IMMORTAL_COUNT};
    /// let h = Header::new(Flags::empty());
    /// // SAFETY: local header, nobody else counts it.
    /// unsafe { h.set_strong_local(IMMORTAL_COUNT) };
    /// assert!(h.is_immortal());
    /// ```
    #[inline]
    pub unsafe fn set_strong_local(&self, count: usize) {
        // SAFETY: no concurrent access.
        unsafe { *self.strong.as_ptr() = count };
    }

    /// Sets `flags` with a plain read-modify-write.
    ///
    /// # Safety
    ///
    /// No concurrent access to the header.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::{Flags, Header};
    /// let h = Header::new(Flags::empty());
    /// // SAFETY: local header.
    /// unsafe { h.insert_flags_local(Flags::TRACKED) };
    /// assert!(h.flags().contains(Flags::TRACKED));
    /// ```
    #[inline]
    pub unsafe fn insert_flags_local(&self, flags: Flags) {
        // SAFETY: no concurrent access.
        unsafe { *self.flags.as_ptr() |= flags.bits() };
    }

    /// Clears `flags` with a plain read-modify-write.
    ///
    /// # Safety
    ///
    /// No concurrent access to the header.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::{Flags, Header};
    /// let h = Header::new(Flags::TRACKED);
    /// // SAFETY: local header.
    /// unsafe { h.remove_flags_local(Flags::TRACKED) };
    /// assert!(h.flags().is_empty());
    /// ```
    #[inline]
    pub unsafe fn remove_flags_local(&self, flags: Flags) {
        // SAFETY: no concurrent access.
        unsafe { *self.flags.as_ptr() &= !flags.bits() };
    }

    // ------------------------------------------------------------------
    // Biased discipline (the owner thread of a `Brc`): relaxed loads and
    // stores, no read-modify-write. Other threads may read the count at any
    // time (introspection, a merge after the owner exited), so the accesses
    // are atomic — a relaxed load or store compiles to a plain `mov`.
    // ------------------------------------------------------------------

    /// Adds one strong reference with a relaxed load and store (no locked
    /// instruction). Aborts on overflow.
    ///
    /// # Safety
    ///
    /// Only one thread writes the strong count of this header for as long as
    /// it uses this method (the owner of a [`Brc`](crate::biased::Brc)).
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::{Flags, Header};
    /// let h = Header::new(Flags::ATOMIC);
    /// // SAFETY: this thread is the only writer.
    /// unsafe { h.inc_strong_owner() };
    /// assert_eq!(h.strong(), 2);
    /// ```
    #[inline(always)]
    pub unsafe fn inc_strong_owner(&self) {
        let c = self.strong.load(Ordering::Relaxed);
        if unlikely(c >= MAX_MORTAL - 1) {
            overflow();
        }
        self.strong.store(c + 1, Ordering::Relaxed);
    }

    /// Removes one strong reference with a relaxed load and store; `true` when
    /// the count reached zero.
    ///
    /// # Safety
    ///
    /// As [`inc_strong_owner`](Self::inc_strong_owner); the caller gives up a
    /// strong reference counted here (the count is above zero).
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::{Flags, Header};
    /// let h = Header::new(Flags::ATOMIC);
    /// // SAFETY: this thread is the only writer; gives up the one reference.
    /// assert!(unsafe { h.dec_strong_owner() });
    /// ```
    #[inline(always)]
    pub unsafe fn dec_strong_owner(&self) -> bool {
        let c = self.strong.load(Ordering::Relaxed);
        debug_assert!(c > 0, "strong count underflow");
        self.strong.store(c.wrapping_sub(1), Ordering::Relaxed);
        c == 1
    }

    /// Overwrites the strong count with a relaxed store.
    ///
    /// # Safety
    ///
    /// As [`inc_strong_owner`](Self::inc_strong_owner); the new count must
    /// match the handles it stands for.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::{Flags, Header};
    /// let h = Header::new(Flags::ATOMIC);
    /// // SAFETY: this thread is the only writer.
    /// unsafe { h.set_strong_owner(0) };
    /// assert_eq!(h.strong(), 0);
    /// ```
    #[inline]
    pub unsafe fn set_strong_owner(&self, count: usize) {
        self.strong.store(count, Ordering::Relaxed);
    }

    // ------------------------------------------------------------------
    // Thread-safe discipline: atomic read-modify-write.
    // ------------------------------------------------------------------

    /// Adds one strong reference atomically; no write when immortal. Aborts on
    /// overflow.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::{Flags, Header};
    /// let h = Header::new(Flags::ATOMIC);
    /// h.inc_strong_atomic();
    /// assert_eq!(h.strong(), 2);
    /// ```
    #[inline(always)]
    pub fn inc_strong_atomic(&self) {
        // The immortality test reads the flags word, not the count: a load of
        // the count would have to wait for the previous locked add to it (the
        // clone-then-drop pattern), while the flags word, which counting never
        // writes, can be read ahead. The mortal path is then std's: one
        // `lock inc` and a test of the result's sign (the old value is not
        // needed, so no `lock xadd`).
        if unlikely(self.flags.load(Ordering::Relaxed) & Flags::IMMORTAL.bits() != 0) {
            return;
        }
        let old = self.strong.fetch_add(1, Ordering::Relaxed);
        if unlikely(old > isize::MAX as usize) {
            inc_strong_atomic_rare(&self.strong);
        }
    }

    /// Removes one strong reference atomically; `true` when the count reached
    /// zero, after an acquire fence (the caller then owns the object
    /// exclusively and must destroy it). Immortal boxes are not written.
    ///
    /// # Safety
    ///
    /// The caller gives up a strong reference it owned.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::{Flags, Header};
    /// let h = Header::new(Flags::ATOMIC);
    /// // SAFETY: gives up the one strong reference.
    /// assert!(unsafe { h.dec_strong_atomic() });
    /// ```
    #[inline(always)]
    pub unsafe fn dec_strong_atomic(&self) -> bool {
        // The flags word, as in `inc_strong_atomic`.
        if unlikely(self.flags.load(Ordering::Relaxed) & Flags::IMMORTAL.bits() != 0) {
            return false;
        }
        if self.strong.fetch_sub(1, Ordering::Release) != 1 {
            return false;
        }
        core::sync::atomic::fence(Ordering::Acquire);
        true
    }

    /// Adds one weak reference atomically. Waits while the weak count is locked
    /// by a uniqueness check (`get_mut` on another thread). Aborts on overflow.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::{Flags, Header};
    /// let h = Header::new(Flags::ATOMIC);
    /// h.inc_weak_atomic();
    /// assert_eq!(h.weak(), 2);
    /// ```
    #[inline]
    pub fn inc_weak_atomic(&self) {
        let mut cur = self.weak.load(Ordering::Relaxed);
        loop {
            if cur == WEAK_LOCKED {
                core::hint::spin_loop();
                cur = self.weak.load(Ordering::Relaxed);
                continue;
            }
            if cur >= MAX_WEAK {
                overflow();
            }
            match self.weak.compare_exchange_weak(
                cur,
                cur + 1,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(now) => cur = now,
            }
        }
    }

    /// Removes one weak reference atomically; `true` (after an acquire fence)
    /// when the weak count reached zero and the caller must free the memory.
    ///
    /// # Safety
    ///
    /// The caller gives up a weak reference it owned.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::{Flags, Header};
    /// let h = Header::new(Flags::ATOMIC);
    /// // SAFETY: gives up the implicit weak reference.
    /// assert!(unsafe { h.dec_weak_atomic() });
    /// ```
    #[inline]
    pub unsafe fn dec_weak_atomic(&self) -> bool {
        if self.weak.fetch_sub(1, Ordering::Release) != 1 {
            return false;
        }
        core::sync::atomic::fence(Ordering::Acquire);
        true
    }

    /// Upgrades a weak reference atomically: adds a strong reference unless the
    /// count is zero or the weak references were cleared.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::{Flags, Header};
    /// let h = Header::new(Flags::ATOMIC);
    /// assert!(h.upgrade_atomic());
    /// assert_eq!(h.strong(), 2);
    /// ```
    #[inline]
    pub fn upgrade_atomic(&self) -> bool {
        let mut cur = self.strong.load(Ordering::Relaxed);
        loop {
            if cur == 0
                || self
                    .flags()
                    .intersects(Flags::VALUE_DROPPED | Flags::WEAK_CLEARED)
            {
                return false;
            }
            if cur >= IMMORTAL_THRESHOLD {
                return true;
            }
            if cur >= MAX_MORTAL - 1 {
                overflow();
            }
            match self.strong.compare_exchange_weak(
                cur,
                cur + 1,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => cur = now,
            }
        }
    }

    /// Whether the caller's strong handle is the only handle of any kind
    /// (`strong == 1`, no weak handles), checked atomically in the std manner:
    /// the weak count is locked while the strong count is read.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::{Flags, Header};
    /// let h = Header::new(Flags::ATOMIC);
    /// assert!(h.is_unique_atomic());
    /// h.inc_weak_atomic();
    /// assert!(!h.is_unique_atomic());
    /// ```
    pub fn is_unique_atomic(&self) -> bool {
        if self
            .weak
            .compare_exchange(1, WEAK_LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        let unique = self.strong.load(Ordering::Acquire) == 1;
        self.weak.store(1, Ordering::Release);
        unique
    }

    /// Takes the last strong reference atomically (1 → 0); `true` (after an
    /// acquire fence) if the count was exactly 1. Used by `try_unwrap`.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::{Flags, Header};
    /// let h = Header::new(Flags::ATOMIC);
    /// h.inc_strong_atomic();
    /// assert!(!h.take_last_atomic());
    /// ```
    pub fn take_last_atomic(&self) -> bool {
        if self
            .strong
            .compare_exchange(1, 0, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        core::sync::atomic::fence(Ordering::Acquire);
        true
    }

    /// Overwrites the strong count atomically (used by `make_immortal`).
    ///
    /// # Safety
    ///
    /// The new count must keep invariant 1 and match the handles that exist (or
    /// be [`IMMORTAL_COUNT`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::{Flags, Header, IMMORTAL_COUNT};
    /// let h = Header::new(Flags::ATOMIC);
    /// // SAFETY: the header becomes immortal; nothing will free it.
    /// unsafe { h.set_strong_atomic(IMMORTAL_COUNT) };
    /// assert!(h.is_immortal());
    /// ```
    pub unsafe fn set_strong_atomic(&self, count: usize) {
        self.strong.store(count, Ordering::Release);
    }

    /// Sets `flags` atomically.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::{Flags, Header};
    /// let h = Header::new(Flags::ATOMIC);
    /// h.insert_flags_atomic(Flags::IMMORTAL);
    /// assert!(h.flags().contains(Flags::IMMORTAL));
    /// ```
    #[inline]
    pub fn insert_flags_atomic(&self, flags: Flags) {
        self.flags.fetch_or(flags.bits(), Ordering::AcqRel);
    }

    /// Clears `flags` atomically.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::{Flags, Header};
    /// let h = Header::new(Flags::TRACKED);
    /// h.remove_flags_atomic(Flags::TRACKED);
    /// assert!(h.flags().is_empty());
    /// ```
    #[inline]
    pub fn remove_flags_atomic(&self, flags: Flags) {
        self.flags.fetch_and(!flags.bits(), Ordering::AcqRel);
    }

    // ------------------------------------------------------------------
    // Weak-callback list.
    // ------------------------------------------------------------------

    /// Pushes a callback node at the head of the list (newest first) and sets
    /// `HAS_WEAK_CALLBACKS`. Safe for concurrent pushes.
    ///
    /// # Safety
    ///
    /// `node` came from [`Node`]'s allocator, is not in any list, and its list
    /// reference is handed to this header.
    pub(crate) unsafe fn push_callback(&self, node: ptr::NonNull<Node>) {
        // SAFETY: forwarded contract.
        unsafe { callbacks::push(self, node) }
    }

    /// Takes the whole weak-callback list (newest first), leaving it empty.
    /// The callbacks have not run; [`CallbackList::run`] runs them,
    /// dropping the list discards them.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::{Rc, Weak};
    ///
    /// let a = Rc::new(1);
    /// let w = Weak::with_callback(&a, || {});
    /// let list = Rc::header(&a).take_callbacks();
    /// assert_eq!(list.len(), 1);
    /// drop(list); // discarded: the callback will not run
    /// drop(a);
    /// assert!(!w.is_alive());
    /// ```
    pub fn take_callbacks(&self) -> CallbackList {
        if !self.flags().contains(Flags::HAS_WEAK_CALLBACKS) {
            return CallbackList::empty();
        }
        callbacks::take(self)
    }
}

/// Weak-count value meaning "locked by a uniqueness check".
const WEAK_LOCKED: u32 = u32::MAX;
/// A weak count that reaches this value aborts (invariant 5).
const MAX_WEAK: u32 = 1 << 31;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn immortal_counts_are_not_written() {
        let h = Header::new(Flags::empty());
        // SAFETY: local header in this test.
        unsafe {
            h.set_strong_local(IMMORTAL_COUNT);
            h.insert_flags_local(Flags::IMMORTAL);
            h.inc_strong_local();
            assert_eq!(h.strong(), IMMORTAL_COUNT);
            assert!(!h.dec_strong_local());
            assert_eq!(h.strong(), IMMORTAL_COUNT);
            assert!(!h.dec_strong_atomic());
        }
        h.inc_strong_atomic();
        assert_eq!(h.strong(), IMMORTAL_COUNT);
        assert!(h.upgrade_atomic());
        assert_eq!(h.strong(), IMMORTAL_COUNT);
    }

    #[test]
    fn local_counts_step_and_report_zero() {
        let h = Header::new(Flags::empty());
        // SAFETY: local header in this test.
        unsafe {
            h.inc_strong_local();
            h.inc_strong_local();
            assert_eq!(h.strong(), 3);
            assert!(!h.dec_strong_local());
            assert!(!h.dec_strong_local());
            assert!(h.dec_strong_local());
            assert_eq!(h.strong(), 0);
            assert!(!h.upgrade_local());
        }
    }

    #[test]
    fn cleared_weak_refs_cannot_upgrade() {
        let h = Header::new(Flags::empty());
        h.insert_flags_atomic(Flags::WEAK_CLEARED);
        assert!(!h.upgrade_atomic());
        // SAFETY: local header in this test.
        assert!(!unsafe { h.upgrade_local() });
        assert_eq!(h.strong(), 1);
    }

    #[test]
    fn header_is_as_small_as_std() {
        assert_eq!(
            core::mem::size_of::<Header>(),
            core::mem::size_of::<usize>() + 8
        );
    }
}
