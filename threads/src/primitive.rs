//! The synchronization primitives every other module is built on: std's,
//! or loom's under `cfg(coil_loom)`.
//!
//! All atomics, mutexes, condition variables, `Arc`, parking and thread-local
//! storage come from here, so the loom models in `tests/loom.rs` exercise the
//! same code that ships. Where loom lacks something it is substituted here,
//! and the gap is written down:
//!
//! - a *timed* park (`park(Some(deadline))`) is a `yield_now` under loom: the
//!   model treats every timed wait as one whose timeout fires at once, the most
//!   hostile schedule for hand-off code; untimed parks are loom's real `park`,
//!   so a lost wake-up is a deadlock the model reports;
//! - loom's `Condvar::wait_timeout` never times out, so models only use
//!   untimed waits of the mutex/condvar based primitives.

#[cfg(not(coil_loom))]
pub(crate) use std::sync::{
    Arc, Condvar, Mutex, MutexGuard,
    atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering},
};

#[cfg(coil_loom)]
pub(crate) use loom::sync::{
    Arc, Condvar, Mutex, MutexGuard,
    atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering},
};

use std::time::Instant;

/// A handle that can wake a parked thread.
#[cfg(not(coil_loom))]
pub(crate) type Thread = std::thread::Thread;
/// A handle that can wake a parked thread.
#[cfg(coil_loom)]
pub(crate) type Thread = loom::thread::Thread;

/// The calling thread's handle.
pub(crate) fn current() -> Thread {
    #[cfg(not(coil_loom))]
    return std::thread::current();
    #[cfg(coil_loom)]
    return loom::thread::current();
}

/// Parks the calling thread until unparked, the deadline passes, or a
/// spurious wake-up; callers re-check their condition in a loop.
pub(crate) fn park(deadline: Option<Instant>) {
    #[cfg(not(coil_loom))]
    match deadline {
        None => std::thread::park(),
        Some(d) => {
            let now = Instant::now();
            if d > now {
                std::thread::park_timeout(d - now);
            }
        }
    }
    #[cfg(coil_loom)]
    match deadline {
        None => loom::thread::park(),
        Some(_) => loom::thread::yield_now(),
    }
}

/// One step of a spin-wait.
#[inline]
pub(crate) fn spin_loop() {
    #[cfg(not(coil_loom))]
    std::hint::spin_loop();
    #[cfg(coil_loom)]
    loom::hint::spin_loop();
}

/// Locks a mutex, ignoring poisoning: every state guarded in this crate is
/// kept consistent before any user code (which may panic) runs.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// Waits on a condition variable until notified or the deadline passes;
/// returns the guard and whether the deadline has passed.
pub(crate) fn wait_until<'a, T>(
    cv: &Condvar,
    g: MutexGuard<'a, T>,
    deadline: Option<Instant>,
) -> (MutexGuard<'a, T>, bool) {
    match deadline {
        None => match cv.wait(g) {
            Ok(g) => (g, false),
            Err(p) => (p.into_inner(), false),
        },
        Some(d) => {
            let now = Instant::now();
            if d <= now {
                return (g, true);
            }
            match cv.wait_timeout(g, d - now) {
                Ok((g, _)) => (g, Instant::now() >= d),
                Err(p) => {
                    let (g, _) = p.into_inner();
                    (g, Instant::now() >= d)
                }
            }
        }
    }
}

/// Turns an optional timeout into an optional deadline. A timeout too large
/// to represent is treated as "wait forever".
pub(crate) fn deadline(timeout: Option<std::time::Duration>) -> Option<Instant> {
    timeout.and_then(|t| Instant::now().checked_add(t))
}

/// A thread's identity, for owner checks.
#[cfg(not(coil_loom))]
pub(crate) type ThreadId = std::thread::ThreadId;
/// A thread's identity, for owner checks.
#[cfg(coil_loom)]
pub(crate) type ThreadId = loom::thread::ThreadId;

/// The calling thread's identity.
pub(crate) fn current_id() -> ThreadId {
    current().id()
}
