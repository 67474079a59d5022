//! `Lock`: Python's `threading.Lock`, a non-reentrant lock that any thread
//! may release.
//!
//! A `bool` under a mutex with a condition variable for the waiters. A
//! blocked `acquire` releases the calling thread's GIL while it waits.

use std::time::{Duration, Instant};

use crate::{
    error::{Error, Result},
    gil,
    primitive::{self, Condvar, Mutex},
};

/// A plain lock, `threading.Lock`: not reentrant, not owned — a thread other
/// than the one that acquired it may release it (the hand-over pattern).
///
/// Blocking calls release the GIL of the calling thread while they wait.
///
/// # Examples
///
/// ```
/// use coil_threads::Lock;
///
/// let lock = Lock::new();
/// lock.acquire();
/// assert!(lock.locked());
/// assert!(!lock.try_acquire());
/// // Any thread may release it.
/// std::thread::scope(|s| { s.spawn(|| lock.release().unwrap()); });
/// assert!(!lock.locked());
/// ```
#[derive(Debug, Default)]
pub struct Lock {
    locked: Mutex<bool>,
    cv: Condvar,
}

impl Lock {
    /// A new, unlocked lock.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!coil_threads::Lock::new().locked());
    /// ```
    pub fn new() -> Self {
        Lock {
            locked: Mutex::new(false),
            cv: Condvar::new(),
        }
    }

    /// Acquires the lock, blocking as long as needed (`acquire()`).
    ///
    /// # Examples
    ///
    /// ```
    /// let l = coil_threads::Lock::new();
    /// l.acquire();
    /// l.release().unwrap();
    /// ```
    pub fn acquire(&self) {
        // Cannot time out without a deadline.
        let _ = self.acquire_until(None);
    }

    /// Acquires the lock without blocking (`acquire(blocking=False)`);
    /// returns whether it was acquired.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = coil_threads::Lock::new();
    /// assert!(l.try_acquire());
    /// assert!(!l.try_acquire());
    /// ```
    pub fn try_acquire(&self) -> bool {
        let mut g = primitive::lock(&self.locked);
        if *g {
            false
        } else {
            *g = true;
            true
        }
    }

    /// Acquires the lock, waiting at most `timeout` (`acquire(timeout=t)`).
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if the lock stayed held (Python returns `False`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use coil_threads::{Error, Lock};
    /// let l = Lock::new();
    /// l.acquire_timeout(Duration::from_millis(1)).unwrap();
    /// assert_eq!(l.acquire_timeout(Duration::from_millis(1)), Err(Error::Timeout));
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<()> {
        self.acquire_until(primitive::deadline(Some(timeout)))
    }

    pub(crate) fn acquire_until(&self, deadline: Option<Instant>) -> Result<()> {
        if self.try_acquire() {
            return Ok(());
        }
        gil::release_while(|| {
            let mut g = primitive::lock(&self.locked);
            loop {
                if !*g {
                    *g = true;
                    return Ok(());
                }
                let (g2, late) = primitive::wait_until(&self.cv, g, deadline);
                g = g2;
                if late && *g {
                    return Err(Error::Timeout);
                }
            }
        })
    }

    /// Releases the lock; any thread may call it.
    ///
    /// # Errors
    ///
    /// [`Error::NotHeld`] if the lock is not locked (`RuntimeError: release
    /// unlocked lock`).
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_threads::{Error, Lock};
    /// let l = Lock::new();
    /// assert_eq!(l.release(), Err(Error::NotHeld));
    /// ```
    pub fn release(&self) -> Result<()> {
        let mut g = primitive::lock(&self.locked);
        if !*g {
            return Err(Error::NotHeld);
        }
        *g = false;
        drop(g);
        self.cv.notify_one();
        Ok(())
    }

    /// Whether the lock is held right now (`locked()`).
    ///
    /// # Examples
    ///
    /// ```
    /// let l = coil_threads::Lock::new();
    /// assert!(!l.locked());
    /// ```
    pub fn locked(&self) -> bool {
        *primitive::lock(&self.locked)
    }

    /// Runs `f` holding the lock (`with lock:`), releasing it afterwards,
    /// also if `f` panics.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = coil_threads::Lock::new();
    /// assert_eq!(l.with(|| 3), 3);
    /// assert!(!l.locked());
    /// ```
    pub fn with<R>(&self, f: impl FnOnce() -> R) -> R {
        struct Unlock<'a>(&'a Lock);
        impl Drop for Unlock<'_> {
            fn drop(&mut self) {
                // The lock is held by this scope; a concurrent foreign
                // release is the caller's bug and leaves nothing to undo.
                let _ = self.0.release();
            }
        }
        self.acquire();
        let _u = Unlock(self);
        f()
    }
}

#[cfg(all(test, not(coil_loom)))]
mod tests {
    use super::*;

    #[test]
    fn release_unlocked_is_error() {
        let l = Lock::new();
        assert_eq!(l.release(), Err(Error::NotHeld));
        l.acquire();
        l.release().unwrap();
        assert_eq!(l.release(), Err(Error::NotHeld));
    }

    #[test]
    fn timeout_result() {
        let l = Lock::new();
        l.acquire();
        assert_eq!(
            l.acquire_timeout(Duration::from_millis(5)),
            Err(Error::Timeout)
        );
        assert!(l.locked());
    }

    #[test]
    fn other_thread_releases_and_wakes() {
        let l = Lock::new();
        l.acquire();
        std::thread::scope(|s| {
            let h = s.spawn(|| {
                l.acquire();
                true
            });
            std::thread::sleep(Duration::from_millis(5));
            l.release().unwrap();
            assert!(h.join().unwrap());
        });
        assert!(l.locked());
    }

    #[test]
    fn waits_release_the_gil() {
        let gil = crate::Gil::new();
        let l = Lock::new();
        l.acquire();
        std::thread::scope(|s| {
            let _g = gil.acquire().unwrap();
            // The releaser needs the GIL we hold; our blocked acquire must
            // release it or this deadlocks.
            s.spawn(|| {
                let _g = gil.acquire().unwrap();
                l.release().unwrap();
            });
            l.acquire();
            assert!(gil.is_held_by_current());
        });
    }
}
