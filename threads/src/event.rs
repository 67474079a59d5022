//! `Event`: Python's `threading.Event`, a flag threads can wait for.
//!
//! The flag is an atomic (so `is_set` is one load) mirrored under a mutex
//! that waiters sleep on, with the GIL released.

use std::time::Duration;

use crate::{
    error::{Error, Result},
    gil,
    primitive::{self, AtomicBool, Condvar, Mutex, Ordering},
};

/// A flag that threads can wait for, `threading.Event`.
///
/// # Examples
///
/// ```
/// use coil_threads::Event;
/// let e = Event::new();
/// std::thread::scope(|s| {
///     s.spawn(|| e.set());
///     e.wait(None).unwrap();
/// });
/// assert!(e.is_set());
/// ```
#[derive(Debug, Default)]
pub struct Event {
    flag: AtomicBool,
    lock: Mutex<bool>,
    cv: Condvar,
}

impl Event {
    /// A new event, not set.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!coil_threads::Event::new().is_set());
    /// ```
    pub fn new() -> Self {
        Event {
            flag: AtomicBool::new(false),
            lock: Mutex::new(false),
            cv: Condvar::new(),
        }
    }

    /// Whether the flag is set.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = coil_threads::Event::new();
    /// e.set();
    /// assert!(e.is_set());
    /// ```
    pub fn is_set(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }

    /// Sets the flag and wakes every waiter.
    ///
    /// # Examples
    ///
    /// ```
    /// coil_threads::Event::new().set();
    /// ```
    pub fn set(&self) {
        let mut g = primitive::lock(&self.lock);
        *g = true;
        self.flag.store(true, Ordering::Release);
        drop(g);
        self.cv.notify_all();
    }

    /// Clears the flag.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = coil_threads::Event::new();
    /// e.set();
    /// e.clear();
    /// assert!(!e.is_set());
    /// ```
    pub fn clear(&self) {
        let mut g = primitive::lock(&self.lock);
        *g = false;
        self.flag.store(false, Ordering::Release);
    }

    /// Waits until the flag is set, for at most `timeout` (`None`: forever).
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if the flag was still clear at the deadline
    /// (Python returns `False`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use coil_threads::{Error, Event};
    /// let e = Event::new();
    /// assert_eq!(e.wait(Some(Duration::from_millis(1))), Err(Error::Timeout));
    /// ```
    pub fn wait(&self, timeout: Option<Duration>) -> Result<()> {
        if self.is_set() {
            return Ok(());
        }
        let deadline = primitive::deadline(timeout);
        gil::release_while(|| {
            let mut g = primitive::lock(&self.lock);
            loop {
                if *g {
                    return Ok(());
                }
                let (g2, late) = primitive::wait_until(&self.cv, g, deadline);
                g = g2;
                if late && !*g {
                    return Err(Error::Timeout);
                }
            }
        })
    }
}

#[cfg(all(test, not(coil_loom)))]
mod tests {
    use super::*;

    #[test]
    fn set_clear_wait() {
        let e = Event::new();
        assert_eq!(e.wait(Some(Duration::from_millis(2))), Err(Error::Timeout));
        e.set();
        e.wait(Some(Duration::from_millis(2))).unwrap();
        e.wait(None).unwrap();
        e.clear();
        assert_eq!(e.wait(Some(Duration::ZERO)), Err(Error::Timeout));
    }

    #[test]
    fn wakes_all() {
        let e = Event::new();
        std::thread::scope(|s| {
            let hs: Vec<_> = (0..4).map(|_| s.spawn(|| e.wait(None))).collect();
            std::thread::sleep(Duration::from_millis(5));
            e.set();
            for h in hs {
                assert_eq!(h.join().unwrap(), Ok(()));
            }
        });
    }
}
