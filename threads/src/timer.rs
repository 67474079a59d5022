//! `Timer`: Python's `threading.Timer` — run a function after a delay,
//! unless cancelled first. A thread waits on an [`Event`] with a timeout;
//! `cancel` sets the event.

use std::{sync::Arc, time::Duration};

use crate::{
    error::{Error, Result},
    event::Event,
    gil::Gil,
    thread::Thread,
};

/// Runs a function after `interval`, on its own thread, unless cancelled
/// (`threading.Timer`).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use std::sync::{Arc, atomic::{AtomicBool, Ordering}};
/// let fired = Arc::new(AtomicBool::new(false));
/// let f2 = fired.clone();
/// let t = coil_threads::Timer::new(Duration::from_millis(1), move || f2.store(true, Ordering::SeqCst));
/// t.start().unwrap();
/// t.thread().join(None).unwrap();
/// assert!(fired.load(Ordering::SeqCst));
/// ```
#[derive(Debug, Clone)]
pub struct Timer {
    thread: Thread,
    cancelled: Arc<Event>,
}

impl Timer {
    /// A timer that will call `f` `interval` after [`start`](Self::start).
    ///
    /// # Examples
    ///
    /// ```
    /// let t = coil_threads::Timer::new(std::time::Duration::from_secs(60), || ());
    /// t.cancel();
    /// ```
    pub fn new(interval: Duration, f: impl FnOnce() + Send + 'static) -> Timer {
        let cancelled = Arc::new(Event::new());
        let c2 = cancelled.clone();
        let thread = Thread::new(move || {
            if c2.wait(Some(interval)) == Err(Error::Timeout) {
                f();
            }
        });
        Timer { thread, cancelled }
    }

    /// A timer whose function runs holding `gil`.
    ///
    /// # Examples
    ///
    /// ```
    /// let gil = coil_threads::Gil::new();
    /// let t = coil_threads::Timer::with_gil(&gil, std::time::Duration::ZERO, |g| g.checkpoint());
    /// t.start().unwrap();
    /// t.thread().join(None).unwrap();
    /// ```
    pub fn with_gil(
        gil: &Gil,
        interval: Duration,
        f: impl FnOnce(&mut crate::GilGuard<'_>) + Send + 'static,
    ) -> Timer {
        let gil = gil.clone();
        Timer::new(interval, move || {
            // A timer thread holds no GIL: acquiring cannot fail.
            if let Ok(mut g) = gil.acquire() {
                f(&mut g);
            }
        })
    }

    /// Starts the countdown.
    ///
    /// # Errors
    ///
    /// [`Error::AlreadyStarted`] on a second call, [`Error::SpawnFailed`].
    ///
    /// # Examples
    ///
    /// ```
    /// let t = coil_threads::Timer::new(std::time::Duration::ZERO, || ());
    /// t.start().unwrap();
    /// assert!(t.start().is_err());
    /// ```
    pub fn start(&self) -> Result<()> {
        self.thread.start()
    }

    /// Stops the timer if its function has not started yet.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = coil_threads::Timer::new(std::time::Duration::from_secs(60), || unreachable!());
    /// t.start().unwrap();
    /// t.cancel();
    /// t.thread().join(None).unwrap();
    /// ```
    pub fn cancel(&self) {
        self.cancelled.set();
    }

    /// The timer's thread (to join it, name it, ...).
    ///
    /// # Examples
    ///
    /// ```
    /// let t = coil_threads::Timer::new(std::time::Duration::ZERO, || ());
    /// assert!(!t.thread().is_alive());
    /// ```
    pub fn thread(&self) -> &Thread {
        &self.thread
    }
}

#[cfg(all(test, not(coil_loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[test]
    fn cancel_prevents_call() {
        let fired = Arc::new(AtomicBool::new(false));
        let f2 = fired.clone();
        let t = Timer::new(Duration::from_secs(30), move || {
            f2.store(true, Ordering::SeqCst)
        });
        t.start().unwrap();
        t.cancel();
        t.thread().join(None).unwrap();
        assert!(!fired.load(Ordering::SeqCst));
    }

    #[test]
    fn fires_after_interval() {
        let fired = Arc::new(AtomicBool::new(false));
        let f2 = fired.clone();
        let t = Timer::new(Duration::from_millis(2), move || {
            f2.store(true, Ordering::SeqCst)
        });
        t.start().unwrap();
        t.thread().join(None).unwrap();
        assert!(fired.load(Ordering::SeqCst));
    }
}
