//! `Semaphore` and `BoundedSemaphore`: Python's counting semaphores.
//!
//! A counter under a mutex; waiters sleep on a condition variable with the
//! GIL released. The bounded flavour refuses a release above its start value.

use std::time::{Duration, Instant};

use crate::{
    error::{Error, Result},
    gil,
    primitive::{self, Condvar, Mutex},
};

/// A counting semaphore, `threading.Semaphore`.
///
/// # Examples
///
/// ```
/// use coil_threads::Semaphore;
/// let s = Semaphore::new(2);
/// s.acquire();
/// s.acquire();
/// assert!(!s.try_acquire());
/// s.release(1);
/// assert!(s.try_acquire());
/// ```
#[derive(Debug, Default)]
pub struct Semaphore {
    value: Mutex<usize>,
    cv: Condvar,
}

impl Semaphore {
    /// A semaphore with `value` permits.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(coil_threads::Semaphore::new(3).value(), 3);
    /// ```
    pub fn new(value: usize) -> Self {
        Semaphore {
            value: Mutex::new(value),
            cv: Condvar::new(),
        }
    }

    /// Takes a permit, blocking until one is free.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = coil_threads::Semaphore::new(1);
    /// s.acquire();
    /// assert_eq!(s.value(), 0);
    /// ```
    pub fn acquire(&self) {
        // Cannot time out without a deadline.
        let _ = self.acquire_until(None);
    }

    /// Takes a permit if one is free.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!coil_threads::Semaphore::new(0).try_acquire());
    /// ```
    pub fn try_acquire(&self) -> bool {
        let mut v = primitive::lock(&self.value);
        if *v > 0 {
            *v -= 1;
            true
        } else {
            false
        }
    }

    /// Takes a permit, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if none was freed in time.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use coil_threads::{Error, Semaphore};
    /// let s = Semaphore::new(0);
    /// assert_eq!(s.acquire_timeout(Duration::from_millis(1)), Err(Error::Timeout));
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<()> {
        self.acquire_until(primitive::deadline(Some(timeout)))
    }

    fn acquire_until(&self, deadline: Option<Instant>) -> Result<()> {
        if self.try_acquire() {
            return Ok(());
        }
        gil::release_while(|| {
            let mut v = primitive::lock(&self.value);
            loop {
                if *v > 0 {
                    *v -= 1;
                    return Ok(());
                }
                let (v2, late) = primitive::wait_until(&self.cv, v, deadline);
                v = v2;
                if late && *v == 0 {
                    return Err(Error::Timeout);
                }
            }
        })
    }

    /// Returns `n` permits, waking up to `n` waiters.
    ///
    /// # Examples
    ///
    /// ```
    /// let s = coil_threads::Semaphore::new(0);
    /// s.release(2);
    /// assert_eq!(s.value(), 2);
    /// ```
    pub fn release(&self, n: usize) {
        let mut v = primitive::lock(&self.value);
        *v = v.saturating_add(n);
        drop(v);
        for _ in 0..n.min(64) {
            self.cv.notify_one();
        }
        if n > 64 {
            self.cv.notify_all();
        }
    }

    fn release_bounded(&self, n: usize, bound: usize) -> Result<()> {
        let mut v = primitive::lock(&self.value);
        match v.checked_add(n) {
            Some(x) if x <= bound => *v = x,
            _ => return Err(Error::BoundedOverRelease),
        }
        drop(v);
        for _ in 0..n.min(64) {
            self.cv.notify_one();
        }
        if n > 64 {
            self.cv.notify_all();
        }
        Ok(())
    }

    /// The number of free permits right now.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(coil_threads::Semaphore::new(0).value(), 0);
    /// ```
    pub fn value(&self) -> usize {
        *primitive::lock(&self.value)
    }
}

/// A semaphore that refuses to be released above its initial value,
/// `threading.BoundedSemaphore`.
///
/// # Examples
///
/// ```
/// use coil_threads::{BoundedSemaphore, Error};
/// let s = BoundedSemaphore::new(1);
/// assert_eq!(s.release(1), Err(Error::BoundedOverRelease));
/// s.acquire();
/// s.release(1).unwrap();
/// ```
#[derive(Debug, Default)]
pub struct BoundedSemaphore {
    inner: Semaphore,
    bound: usize,
}

impl BoundedSemaphore {
    /// A bounded semaphore with `value` permits, which is also its bound.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(coil_threads::BoundedSemaphore::new(2).value(), 2);
    /// ```
    pub fn new(value: usize) -> Self {
        BoundedSemaphore {
            inner: Semaphore::new(value),
            bound: value,
        }
    }

    /// Takes a permit, blocking until one is free.
    ///
    /// # Examples
    ///
    /// ```
    /// coil_threads::BoundedSemaphore::new(1).acquire();
    /// ```
    pub fn acquire(&self) {
        self.inner.acquire();
    }

    /// Takes a permit if one is free.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(coil_threads::BoundedSemaphore::new(1).try_acquire());
    /// ```
    pub fn try_acquire(&self) -> bool {
        self.inner.try_acquire()
    }

    /// Takes a permit, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if none was freed in time.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let s = coil_threads::BoundedSemaphore::new(0);
    /// assert!(s.acquire_timeout(Duration::from_millis(1)).is_err());
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<()> {
        self.inner.acquire_timeout(timeout)
    }

    /// Returns `n` permits.
    ///
    /// # Errors
    ///
    /// [`Error::BoundedOverRelease`] if the value would exceed the initial
    /// one (`ValueError: Semaphore released too many times`); nothing is
    /// released then.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_threads::{BoundedSemaphore, Error};
    /// let s = BoundedSemaphore::new(2);
    /// s.acquire();
    /// assert_eq!(s.release(2), Err(Error::BoundedOverRelease));
    /// assert_eq!(s.value(), 1);
    /// ```
    pub fn release(&self, n: usize) -> Result<()> {
        self.inner.release_bounded(n, self.bound)
    }

    /// The number of free permits right now.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(coil_threads::BoundedSemaphore::new(4).value(), 4);
    /// ```
    pub fn value(&self) -> usize {
        self.inner.value()
    }
}

#[cfg(all(test, not(coil_loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn bounded_over_release() {
        let s = BoundedSemaphore::new(2);
        assert_eq!(s.release(1), Err(Error::BoundedOverRelease));
        s.acquire();
        s.acquire();
        assert_eq!(
            s.acquire_timeout(Duration::from_millis(2)),
            Err(Error::Timeout)
        );
        s.release(2).unwrap();
        assert_eq!(s.release(1), Err(Error::BoundedOverRelease));
        assert_eq!(s.value(), 2);
    }

    #[test]
    fn limits_concurrency() {
        let s = Semaphore::new(2);
        let inside = AtomicUsize::new(0);
        let max = AtomicUsize::new(0);
        std::thread::scope(|sc| {
            for _ in 0..6 {
                sc.spawn(|| {
                    for _ in 0..50 {
                        s.acquire();
                        let n = inside.fetch_add(1, Ordering::SeqCst) + 1;
                        max.fetch_max(n, Ordering::SeqCst);
                        std::thread::yield_now();
                        inside.fetch_sub(1, Ordering::SeqCst);
                        s.release(1);
                    }
                });
            }
        });
        assert!(max.load(Ordering::SeqCst) <= 2);
        assert_eq!(s.value(), 2);
    }
}
