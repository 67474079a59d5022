//! `Condition`: Python's `threading.Condition` over a [`Lock`] or an
//! [`RLock`].
//!
//! As in CPython, each waiter gets its own one-shot signal, queued in FIFO
//! order; `notify(n)` pops and fires the first `n`. `wait` releases the
//! underlying lock completely (every `RLock` level), sleeps on its signal
//! with the GIL released, and re-acquires the lock to the same depth.

use std::{collections::VecDeque, time::Duration, time::Instant};

use crate::{
    error::{Error, Result},
    gil,
    lock::Lock,
    primitive::{self, Arc, Condvar, Mutex},
    rlock::RLock,
};

/// The lock a [`Condition`] is built on: [`Lock`] or [`RLock`].
///
/// # Examples
///
/// ```
/// use coil_threads::{CondLock, Lock};
/// let l = Lock::new();
/// l.acquire();
/// assert!(l.is_held_here());
/// ```
pub trait CondLock: Send + Sync {
    /// Acquires the lock, blocking (with the GIL released while waiting).
    fn acquire_lock(&self);
    /// Releases one level of the lock.
    ///
    /// # Errors
    ///
    /// [`Error::NotHeld`] or [`Error::NotOwner`] when the caller may not.
    fn release_lock(&self) -> Result<()>;
    /// Whether the calling thread counts as holding the lock (for a plain
    /// `Lock`, as in CPython: whether it is locked at all).
    fn is_held_here(&self) -> bool;
    /// Releases completely; returns what `restore` needs.
    #[doc(hidden)]
    fn release_save(&self) -> Result<usize>;
    /// Re-acquires to the saved depth.
    #[doc(hidden)]
    fn acquire_restore(&self, saved: usize);
}

impl CondLock for Lock {
    fn acquire_lock(&self) {
        self.acquire();
    }
    fn release_lock(&self) -> Result<()> {
        self.release()
    }
    fn is_held_here(&self) -> bool {
        self.locked()
    }
    fn release_save(&self) -> Result<usize> {
        self.release()?;
        Ok(1)
    }
    fn acquire_restore(&self, _saved: usize) {
        self.acquire();
    }
}

impl CondLock for RLock {
    fn acquire_lock(&self) {
        self.acquire();
    }
    fn release_lock(&self) -> Result<()> {
        self.release()
    }
    fn is_held_here(&self) -> bool {
        self.is_owned()
    }
    fn release_save(&self) -> Result<usize> {
        self.release_all()
    }
    fn acquire_restore(&self, saved: usize) {
        self.acquire_n(saved);
    }
}

#[derive(Default)]
struct Signal {
    fired: Mutex<bool>,
    cv: Condvar,
}

impl Signal {
    fn fire(&self) {
        *primitive::lock(&self.fired) = true;
        self.cv.notify_one();
    }

    /// Waits for the signal; returns whether it fired.
    fn wait(&self, deadline: Option<Instant>) -> bool {
        let mut g = primitive::lock(&self.fired);
        loop {
            if *g {
                return true;
            }
            let (g2, late) = primitive::wait_until(&self.cv, g, deadline);
            g = g2;
            if late {
                return *g;
            }
        }
    }
}

/// A condition variable, `threading.Condition`: threads wait for a state
/// change announced by `notify` while holding the associated lock.
///
/// # Examples
///
/// ```
/// use coil_threads::Condition;
/// use std::sync::atomic::{AtomicBool, Ordering};
///
/// let cond = Condition::new();
/// let ready = AtomicBool::new(false);
/// std::thread::scope(|s| {
///     s.spawn(|| {
///         cond.acquire();
///         ready.store(true, Ordering::SeqCst);
///         cond.notify_all().unwrap();
///         cond.release().unwrap();
///     });
///     cond.acquire();
///     cond.wait_for(|| ready.load(Ordering::SeqCst), None).unwrap();
///     cond.release().unwrap();
/// });
/// ```
pub struct Condition<L: CondLock = RLock> {
    lock: L,
    waiters: Mutex<VecDeque<Arc<Signal>>>,
}

impl<L: CondLock> std::fmt::Debug for Condition<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Condition")
            .field("waiters", &primitive::lock(&self.waiters).len())
            .finish()
    }
}

impl Default for Condition<RLock> {
    fn default() -> Self {
        Condition::new()
    }
}

impl Condition<RLock> {
    /// A condition over a new [`RLock`] (Python's default).
    ///
    /// # Examples
    ///
    /// ```
    /// let c = coil_threads::Condition::new();
    /// c.acquire();
    /// c.notify(1).unwrap();
    /// c.release().unwrap();
    /// ```
    pub fn new() -> Self {
        Condition::with_lock(RLock::new())
    }
}

impl<L: CondLock> Condition<L> {
    /// A condition over the given lock.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_threads::{Condition, Lock};
    /// let c = Condition::with_lock(Lock::new());
    /// c.acquire();
    /// assert!(c.lock().locked());
    /// c.release().unwrap();
    /// ```
    pub fn with_lock(lock: L) -> Self {
        Condition {
            lock,
            waiters: Mutex::new(VecDeque::new()),
        }
    }

    /// The underlying lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = coil_threads::Condition::new();
    /// assert!(!c.lock().locked());
    /// ```
    pub fn lock(&self) -> &L {
        &self.lock
    }

    /// Acquires the underlying lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = coil_threads::Condition::new();
    /// c.acquire();
    /// c.release().unwrap();
    /// ```
    pub fn acquire(&self) {
        self.lock.acquire_lock();
    }

    /// Releases the underlying lock.
    ///
    /// # Errors
    ///
    /// What the underlying lock's release returns ([`Error::NotOwner`],
    /// [`Error::NotHeld`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let c = coil_threads::Condition::new();
    /// assert!(c.release().is_err());
    /// ```
    pub fn release(&self) -> Result<()> {
        self.lock.release_lock()
    }

    /// Waits until notified or until `timeout` passes. The lock must be
    /// held; it is released while waiting and held again on return, in
    /// every case.
    ///
    /// # Errors
    ///
    /// [`Error::NotOwner`] if the lock is not held (`RuntimeError: cannot
    /// wait on un-acquired lock`); [`Error::Timeout`] if not notified in
    /// time (Python returns `False`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use coil_threads::{Condition, Error};
    /// let c = Condition::new();
    /// assert_eq!(c.wait(None), Err(Error::NotOwner));
    /// c.acquire();
    /// assert_eq!(c.wait(Some(Duration::from_millis(1))), Err(Error::Timeout));
    /// c.release().unwrap();
    /// ```
    pub fn wait(&self, timeout: Option<Duration>) -> Result<()> {
        self.wait_until(primitive::deadline(timeout))
    }

    fn wait_until(&self, deadline: Option<Instant>) -> Result<()> {
        if !self.lock.is_held_here() {
            return Err(Error::NotOwner);
        }
        let me = Arc::new(Signal::default());
        primitive::lock(&self.waiters).push_back(Arc::clone(&me));
        let saved = match self.lock.release_save() {
            Ok(n) => n,
            Err(e) => {
                primitive::lock(&self.waiters).retain(|w| !Arc::ptr_eq(w, &me));
                return Err(e);
            }
        };
        let fired = gil::release_while(|| me.wait(deadline));
        let fired = fired || {
            // Timed out: leave the queue, unless a notify popped us meanwhile
            // (then it did fire, or is about to: count it as notified).
            let mut w = primitive::lock(&self.waiters);
            let before = w.len();
            w.retain(|x| !Arc::ptr_eq(x, &me));
            w.len() == before
        };
        self.lock.acquire_restore(saved);
        if fired { Ok(()) } else { Err(Error::Timeout) }
    }

    /// Waits until `pred()` is true, re-checking after each notification,
    /// for at most `timeout` in total (`wait_for`).
    ///
    /// # Errors
    ///
    /// [`Error::NotOwner`] if the lock is not held; [`Error::Timeout`] if
    /// the predicate was still false at the deadline.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = coil_threads::Condition::new();
    /// c.acquire();
    /// c.wait_for(|| true, None).unwrap();
    /// c.release().unwrap();
    /// ```
    pub fn wait_for(
        &self,
        mut pred: impl FnMut() -> bool,
        timeout: Option<Duration>,
    ) -> Result<()> {
        if !self.lock.is_held_here() {
            return Err(Error::NotOwner);
        }
        let deadline = primitive::deadline(timeout);
        loop {
            if pred() {
                return Ok(());
            }
            match self.wait_until(deadline) {
                Ok(()) => {}
                Err(Error::Timeout) => {
                    return if pred() { Ok(()) } else { Err(Error::Timeout) };
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Wakes up to `n` waiters, oldest first. The lock must be held.
    ///
    /// # Errors
    ///
    /// [`Error::NotOwner`] if the lock is not held (`RuntimeError: cannot
    /// notify on un-acquired lock`).
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_threads::{Condition, Error};
    /// let c = Condition::new();
    /// assert_eq!(c.notify(1), Err(Error::NotOwner));
    /// ```
    pub fn notify(&self, n: usize) -> Result<()> {
        if !self.lock.is_held_here() {
            return Err(Error::NotOwner);
        }
        let woken: Vec<Arc<Signal>> = {
            let mut w = primitive::lock(&self.waiters);
            let k = n.min(w.len());
            w.drain(..k).collect()
        };
        for s in woken {
            s.fire();
        }
        Ok(())
    }

    /// Wakes every waiter. The lock must be held.
    ///
    /// # Errors
    ///
    /// [`Error::NotOwner`] if the lock is not held.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = coil_threads::Condition::new();
    /// c.acquire();
    /// c.notify_all().unwrap();
    /// c.release().unwrap();
    /// ```
    pub fn notify_all(&self) -> Result<()> {
        self.notify(usize::MAX)
    }
}

#[cfg(all(test, not(coil_loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn misuse_without_lock() {
        let c = Condition::new();
        assert_eq!(c.wait(None), Err(Error::NotOwner));
        assert_eq!(c.wait_for(|| false, None), Err(Error::NotOwner));
        assert_eq!(c.notify(1), Err(Error::NotOwner));
        assert_eq!(c.notify_all(), Err(Error::NotOwner));
        let p = Condition::with_lock(Lock::new());
        assert_eq!(p.wait(None), Err(Error::NotOwner));
        assert_eq!(p.release(), Err(Error::NotHeld));
    }

    #[test]
    fn wait_timeout_keeps_lock() {
        let c = Condition::new();
        c.acquire();
        c.acquire();
        assert_eq!(c.wait(Some(Duration::from_millis(2))), Err(Error::Timeout));
        assert_eq!(
            c.wait_for(|| false, Some(Duration::from_millis(2))),
            Err(Error::Timeout)
        );
        assert!(c.lock().is_owned());
        c.release().unwrap();
        c.release().unwrap();
        assert!(!c.lock().locked());
    }

    #[test]
    fn producer_consumer() {
        let c = Condition::with_lock(Lock::new());
        let items = AtomicUsize::new(0);
        let n = 200;
        std::thread::scope(|s| {
            s.spawn(|| {
                for _ in 0..n {
                    c.acquire();
                    items.fetch_add(1, Ordering::SeqCst);
                    c.notify(1).unwrap();
                    c.release().unwrap();
                }
            });
            let mut got = 0;
            while got < n {
                c.acquire();
                c.wait_for(|| items.load(Ordering::SeqCst) > 0, None)
                    .unwrap();
                items.fetch_sub(1, Ordering::SeqCst);
                c.release().unwrap();
                got += 1;
            }
        });
        assert_eq!(items.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn notify_counts() {
        let c = Condition::new();
        let woke = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    c.acquire();
                    c.wait(None).unwrap();
                    woke.fetch_add(1, Ordering::SeqCst);
                    c.release().unwrap();
                });
            }
            // Wait until all three are queued.
            while primitive::lock(&c.waiters).len() < 3 {
                std::thread::yield_now();
            }
            c.acquire();
            c.notify(2).unwrap();
            c.release().unwrap();
            while woke.load(Ordering::SeqCst) < 2 {
                std::thread::yield_now();
            }
            assert_eq!(primitive::lock(&c.waiters).len(), 1);
            c.acquire();
            c.notify_all().unwrap();
            c.release().unwrap();
        });
        assert_eq!(woke.load(Ordering::SeqCst), 3);
    }
}
