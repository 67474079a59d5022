//! `RLock`: Python's `threading.RLock`, a reentrant lock with an owner.
//!
//! The owner's id and the recursion depth live under a mutex; waiters sleep
//! on a condition variable, with the GIL released.

use std::time::{Duration, Instant};

use crate::{
    error::{Error, Result},
    gil,
    primitive::{self, Condvar, Mutex, ThreadId},
};

#[derive(Debug, Default)]
struct State {
    owner: Option<ThreadId>,
    count: usize,
}

/// A reentrant lock, `threading.RLock`: the owning thread may acquire it
/// again; it is free once released as many times as acquired. Only the owner
/// may release it.
///
/// # Examples
///
/// ```
/// use coil_threads::{Error, RLock};
///
/// let r = RLock::new();
/// r.acquire();
/// r.acquire(); // reentrant
/// r.release().unwrap();
/// assert!(r.is_owned());
/// r.release().unwrap();
/// assert_eq!(r.release(), Err(Error::NotOwner));
/// ```
#[derive(Debug, Default)]
pub struct RLock {
    state: Mutex<State>,
    cv: Condvar,
}

impl RLock {
    /// A new, free reentrant lock.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!coil_threads::RLock::new().is_owned());
    /// ```
    pub fn new() -> Self {
        RLock {
            state: Mutex::new(State::default()),
            cv: Condvar::new(),
        }
    }

    /// Acquires the lock (again, if the caller owns it), blocking as long as
    /// needed.
    ///
    /// # Examples
    ///
    /// ```
    /// let r = coil_threads::RLock::new();
    /// r.acquire();
    /// r.release().unwrap();
    /// ```
    pub fn acquire(&self) {
        // Cannot time out without a deadline.
        let _ = self.acquire_n_until(1, None);
    }

    /// Acquires without blocking; returns whether it was acquired.
    ///
    /// # Examples
    ///
    /// ```
    /// let r = coil_threads::RLock::new();
    /// assert!(r.try_acquire());
    /// assert!(r.try_acquire());
    /// ```
    pub fn try_acquire(&self) -> bool {
        let me = primitive::current_id();
        let mut s = primitive::lock(&self.state);
        match s.owner {
            None => {
                s.owner = Some(me);
                s.count = 1;
                true
            }
            Some(o) if o == me => {
                s.count += 1;
                true
            }
            Some(_) => false,
        }
    }

    /// Acquires, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if another thread kept it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let r = coil_threads::RLock::new();
    /// r.acquire_timeout(Duration::from_millis(1)).unwrap();
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<()> {
        self.acquire_n_until(1, primitive::deadline(Some(timeout)))
    }

    fn acquire_n_until(&self, n: usize, deadline: Option<Instant>) -> Result<()> {
        let me = primitive::current_id();
        {
            let mut s = primitive::lock(&self.state);
            match s.owner {
                None => {
                    s.owner = Some(me);
                    s.count = n;
                    return Ok(());
                }
                Some(o) if o == me => {
                    s.count += n;
                    return Ok(());
                }
                Some(_) => {}
            }
        }
        gil::release_while(|| {
            let mut s = primitive::lock(&self.state);
            loop {
                if s.owner.is_none() {
                    s.owner = Some(me);
                    s.count = n;
                    return Ok(());
                }
                let (s2, late) = primitive::wait_until(&self.cv, s, deadline);
                s = s2;
                if late && s.owner.is_some() {
                    return Err(Error::Timeout);
                }
            }
        })
    }

    /// Releases one level of ownership.
    ///
    /// # Errors
    ///
    /// [`Error::NotOwner`] if the calling thread does not own the lock
    /// (`RuntimeError: cannot release un-acquired lock`).
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_threads::{Error, RLock};
    /// assert_eq!(RLock::new().release(), Err(Error::NotOwner));
    /// ```
    pub fn release(&self) -> Result<()> {
        let me = primitive::current_id();
        let mut s = primitive::lock(&self.state);
        if s.owner != Some(me) {
            return Err(Error::NotOwner);
        }
        s.count -= 1;
        if s.count == 0 {
            s.owner = None;
            drop(s);
            self.cv.notify_one();
        }
        Ok(())
    }

    /// Whether the calling thread owns the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let r = coil_threads::RLock::new();
    /// r.acquire();
    /// assert!(r.is_owned());
    /// ```
    pub fn is_owned(&self) -> bool {
        primitive::lock(&self.state).owner == Some(primitive::current_id())
    }

    /// Whether some thread owns the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!coil_threads::RLock::new().locked());
    /// ```
    pub fn locked(&self) -> bool {
        primitive::lock(&self.state).owner.is_some()
    }

    /// Runs `f` holding the lock, releasing it afterwards (also on panic).
    ///
    /// # Examples
    ///
    /// ```
    /// let r = coil_threads::RLock::new();
    /// assert_eq!(r.with(|| r.with(|| 1)), 1);
    /// assert!(!r.locked());
    /// ```
    pub fn with<R>(&self, f: impl FnOnce() -> R) -> R {
        struct Unlock<'a>(&'a RLock);
        impl Drop for Unlock<'_> {
            fn drop(&mut self) {
                // Acquired by this scope on this thread: cannot fail.
                let _ = self.0.release();
            }
        }
        self.acquire();
        let _u = Unlock(self);
        f()
    }

    /// Releases every level; returns the depth (for `Condition`).
    pub(crate) fn release_all(&self) -> Result<usize> {
        let me = primitive::current_id();
        let mut s = primitive::lock(&self.state);
        if s.owner != Some(me) {
            return Err(Error::NotOwner);
        }
        let n = s.count;
        s.count = 0;
        s.owner = None;
        drop(s);
        self.cv.notify_one();
        Ok(n)
    }

    /// Re-acquires `n` levels (for `Condition`).
    pub(crate) fn acquire_n(&self, n: usize) {
        // Cannot time out without a deadline.
        let _ = self.acquire_n_until(n, None);
    }
}

#[cfg(all(test, not(coil_loom)))]
mod tests {
    use super::*;

    #[test]
    fn non_owner_release_is_error() {
        let r = RLock::new();
        r.acquire();
        std::thread::scope(|s| {
            assert_eq!(
                s.spawn(|| r.release()).join().unwrap(),
                Err(Error::NotOwner)
            );
            assert!(!s.spawn(|| r.try_acquire()).join().unwrap());
            assert_eq!(
                s.spawn(|| r.acquire_timeout(Duration::from_millis(5)))
                    .join()
                    .unwrap(),
                Err(Error::Timeout)
            );
        });
        r.release().unwrap();
        assert_eq!(r.release(), Err(Error::NotOwner));
    }

    #[test]
    fn depth_counts() {
        let r = RLock::new();
        for _ in 0..5 {
            r.acquire();
        }
        assert_eq!(r.release_all(), Ok(5));
        assert!(!r.locked());
        r.acquire_n(3);
        for _ in 0..3 {
            r.release().unwrap();
        }
        assert!(!r.locked());
    }
}
