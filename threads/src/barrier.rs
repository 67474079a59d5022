//! `Barrier`: Python's `threading.Barrier` — `parties` threads meet, one
//! runs the optional action, all go on together.
//!
//! Each round ("generation") has a shared outcome cell that its waiters
//! cloned on arrival: pending, passed or broken. A round that completes is
//! marked passed and a fresh round begins, so a slow waiter of an old round
//! can never be confused with the next one. `abort`, a timeout or a
//! panicking action mark the round broken and the barrier stays broken
//! until `reset`; `reset` while threads wait breaks only their round.

use std::time::Duration;

use crate::{
    error::{Error, Result},
    gil,
    primitive::{self, Arc, AtomicU8, Condvar, Mutex, Ordering},
};

const PENDING: u8 = 0;
const PASSED: u8 = 1;
const BROKEN: u8 = 2;

struct State {
    count: usize,
    broken: bool,
    round: Arc<AtomicU8>,
}

type Action = Box<dyn Fn() + Send + Sync>;

/// A meeting point for a fixed number of threads, `threading.Barrier`.
///
/// # Examples
///
/// ```
/// use coil_threads::Barrier;
/// let b = Barrier::new(3).unwrap();
/// let idx: Vec<usize> = std::thread::scope(|s| {
///     let hs: Vec<_> = (0..3).map(|_| s.spawn(|| b.wait(None).unwrap())).collect();
///     let mut v: Vec<usize> = hs.into_iter().map(|h| h.join().unwrap()).collect();
///     v.sort();
///     v
/// });
/// assert_eq!(idx, vec![0, 1, 2]);
/// ```
pub struct Barrier {
    parties: usize,
    action: Option<Action>,
    state: Mutex<State>,
    cv: Condvar,
}

impl std::fmt::Debug for Barrier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Barrier")
            .field("parties", &self.parties)
            .field("n_waiting", &self.n_waiting())
            .field("broken", &self.broken())
            .finish()
    }
}

impl Barrier {
    /// A barrier for `parties` threads.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if `parties` is zero (`ValueError`).
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_threads::{Barrier, Error};
    /// assert_eq!(Barrier::new(0).err(), Some(Error::InvalidArgument));
    /// assert_eq!(Barrier::new(1).unwrap().wait(None), Ok(0));
    /// ```
    pub fn new(parties: usize) -> Result<Self> {
        Self::build(parties, None)
    }

    /// A barrier whose `action` runs once per round, in the last thread to
    /// arrive, before any is released. The action runs without internal
    /// locks held, so it may use the barrier (`n_waiting`, `abort`, ...).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if `parties` is zero.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// static RUNS: AtomicUsize = AtomicUsize::new(0);
    /// let b = coil_threads::Barrier::with_action(1, || { RUNS.fetch_add(1, Ordering::SeqCst); }).unwrap();
    /// b.wait(None).unwrap();
    /// b.wait(None).unwrap();
    /// assert_eq!(RUNS.load(Ordering::SeqCst), 2);
    /// ```
    pub fn with_action(parties: usize, action: impl Fn() + Send + Sync + 'static) -> Result<Self> {
        Self::build(parties, Some(Box::new(action)))
    }

    fn build(parties: usize, action: Option<Action>) -> Result<Self> {
        if parties == 0 {
            return Err(Error::InvalidArgument);
        }
        Ok(Barrier {
            parties,
            action,
            state: Mutex::new(State {
                count: 0,
                broken: false,
                round: Arc::new(AtomicU8::new(PENDING)),
            }),
            cv: Condvar::new(),
        })
    }

    /// Waits until `parties` threads have called `wait`, for at most
    /// `timeout`. Returns this thread's arrival index, `0..parties`.
    ///
    /// # Errors
    ///
    /// [`Error::BrokenBarrier`] if the barrier is or becomes broken while
    /// waiting; [`Error::Timeout`] to the thread whose timeout expired (the
    /// barrier is then broken for the others, as in Python). A panicking
    /// action breaks the barrier and the panic continues in the thread that
    /// ran it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use coil_threads::{Barrier, Error};
    /// let b = Barrier::new(2).unwrap();
    /// assert_eq!(b.wait(Some(Duration::from_millis(1))), Err(Error::Timeout));
    /// assert_eq!(b.wait(None), Err(Error::BrokenBarrier));
    /// ```
    pub fn wait(&self, timeout: Option<Duration>) -> Result<usize> {
        let deadline = primitive::deadline(timeout);
        let mut s = primitive::lock(&self.state);
        if s.broken {
            return Err(Error::BrokenBarrier);
        }
        let index = s.count;
        s.count += 1;
        if s.count == self.parties {
            // Close this round and open the next before running the action,
            // so the action runs without the state mutex held (it may call
            // back into the barrier) and late arrivals join the next round.
            let round = std::mem::replace(&mut s.round, Arc::new(AtomicU8::new(PENDING)));
            s.count = 0;
            drop(s);
            if let Some(action) = &self.action {
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(action));
                if let Err(p) = r {
                    let mut s = primitive::lock(&self.state);
                    round.store(BROKEN, Ordering::Release);
                    Self::break_round(&mut s);
                    drop(s);
                    self.cv.notify_all();
                    std::panic::resume_unwind(p);
                }
            }
            // Under the mutex, so no waiter misses the change between its
            // check and its wait.
            let s = primitive::lock(&self.state);
            round.store(PASSED, Ordering::Release);
            drop(s);
            self.cv.notify_all();
            return Ok(index);
        }
        let round = Arc::clone(&s.round);
        drop(s);
        gil::release_while(|| {
            let mut s = primitive::lock(&self.state);
            loop {
                match round.load(Ordering::Acquire) {
                    PASSED => return Ok(index),
                    BROKEN => return Err(Error::BrokenBarrier),
                    _ => {}
                }
                let (s2, late) = primitive::wait_until(&self.cv, s, deadline);
                s = s2;
                if late && round.load(Ordering::Acquire) == PENDING {
                    Self::break_round(&mut s);
                    drop(s);
                    self.cv.notify_all();
                    return Err(Error::Timeout);
                }
            }
        })
    }

    fn break_round(s: &mut State) {
        s.broken = true;
        s.round.store(BROKEN, Ordering::Release);
        s.round = Arc::new(AtomicU8::new(PENDING));
        s.count = 0;
    }

    /// Puts the barrier into the broken state: current and future waiters
    /// get [`Error::BrokenBarrier`] until [`reset`](Self::reset).
    ///
    /// # Examples
    ///
    /// ```
    /// let b = coil_threads::Barrier::new(2).unwrap();
    /// b.abort();
    /// assert!(b.broken());
    /// ```
    pub fn abort(&self) {
        let mut s = primitive::lock(&self.state);
        Self::break_round(&mut s);
        drop(s);
        self.cv.notify_all();
    }

    /// Returns the barrier to its initial, unbroken state; threads waiting
    /// in the current round get [`Error::BrokenBarrier`].
    ///
    /// # Examples
    ///
    /// ```
    /// let b = coil_threads::Barrier::new(2).unwrap();
    /// b.abort();
    /// b.reset();
    /// assert!(!b.broken());
    /// ```
    pub fn reset(&self) {
        let mut s = primitive::lock(&self.state);
        if s.count > 0 {
            Self::break_round(&mut s);
        }
        s.broken = false;
        drop(s);
        self.cv.notify_all();
    }

    /// The number of threads required to pass.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(coil_threads::Barrier::new(4).unwrap().parties(), 4);
    /// ```
    pub fn parties(&self) -> usize {
        self.parties
    }

    /// The number of threads waiting in the current round.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(coil_threads::Barrier::new(4).unwrap().n_waiting(), 0);
    /// ```
    pub fn n_waiting(&self) -> usize {
        primitive::lock(&self.state).count
    }

    /// Whether the barrier is broken.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!coil_threads::Barrier::new(4).unwrap().broken());
    /// ```
    pub fn broken(&self) -> bool {
        primitive::lock(&self.state).broken
    }
}

#[cfg(all(test, not(coil_loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn rounds_and_action() {
        let runs = std::sync::Arc::new(AtomicUsize::new(0));
        let r2 = runs.clone();
        let b = Barrier::with_action(3, move || {
            r2.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    for _ in 0..20 {
                        b.wait(None).unwrap();
                    }
                });
            }
        });
        assert_eq!(runs.load(Ordering::SeqCst), 20);
        assert!(!b.broken());
    }

    #[test]
    fn abort_wakes_waiters_with_broken() {
        let b = Barrier::new(3).unwrap();
        std::thread::scope(|s| {
            let h = s.spawn(|| b.wait(None));
            while b.n_waiting() < 1 {
                std::thread::yield_now();
            }
            b.abort();
            assert_eq!(h.join().unwrap(), Err(Error::BrokenBarrier));
        });
        assert_eq!(b.wait(None), Err(Error::BrokenBarrier));
        b.reset();
        assert!(!b.broken());
    }

    #[test]
    fn reset_breaks_current_round_only() {
        let b = Barrier::new(2).unwrap();
        std::thread::scope(|s| {
            let h = s.spawn(|| b.wait(None));
            while b.n_waiting() < 1 {
                std::thread::yield_now();
            }
            b.reset();
            assert_eq!(h.join().unwrap(), Err(Error::BrokenBarrier));
            // Usable again.
            let h = s.spawn(|| b.wait(None));
            assert!(b.wait(None).is_ok());
            assert!(h.join().unwrap().is_ok());
        });
    }

    #[test]
    fn action_may_use_the_barrier() {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
        let s2 = seen.clone();
        let cell: std::sync::Arc<std::sync::OnceLock<std::sync::Weak<Barrier>>> =
            std::sync::Arc::default();
        let c2 = cell.clone();
        let b3 = std::sync::Arc::new(
            Barrier::with_action(2, move || {
                let b = c2.get().and_then(|w| w.upgrade()).unwrap();
                *s2.lock().unwrap() = Some((b.n_waiting(), b.broken()));
            })
            .unwrap(),
        );
        cell.set(std::sync::Arc::downgrade(&b3)).unwrap();
        std::thread::scope(|s| {
            let h = s.spawn(|| b3.wait(None));
            assert!(b3.wait(None).is_ok());
            assert!(h.join().unwrap().is_ok());
        });
        assert_eq!(*seen.lock().unwrap(), Some((0, false)));
    }

    #[test]
    fn panicking_action_breaks() {
        let b = Barrier::with_action(1, || panic!("action failed")).unwrap();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| b.wait(None)));
        assert!(r.is_err());
        assert!(b.broken());
        assert_eq!(b.wait(None), Err(Error::BrokenBarrier));
    }

    #[test]
    fn timeout_breaks_for_others() {
        let b = Barrier::new(3).unwrap();
        std::thread::scope(|s| {
            let h = s.spawn(|| b.wait(None));
            while b.n_waiting() < 1 {
                std::thread::yield_now();
            }
            assert_eq!(b.wait(Some(Duration::from_millis(2))), Err(Error::Timeout));
            assert_eq!(h.join().unwrap(), Err(Error::BrokenBarrier));
        });
    }
}
