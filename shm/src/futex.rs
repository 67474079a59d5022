//! Cross-process futex waits on a 32-bit word in shared memory: the sleeping
//! half of every blocking wait in coil-shm, public so higher crates (coil-procs)
//! block the same way instead of carrying their own system calls.
//!
//! The word must live in a `MAP_SHARED` mapping (a [`SharedMemory`] segment, an
//! anonymous shared mapping, or anything else mapped shared). The calls leave out
//! `FUTEX_PRIVATE_FLAG`, so the kernel keys the wait by the backing page and a
//! waker in one process reaches a sleeper in another even though each maps the
//! page at its own address. On a private mapping they still work, within one
//! process.
//!
//! The protocol is the usual one: a waker changes the word *before* calling
//! [`wake`]/[`wake_all`]; a sleeper reads the word, decides to sleep, and passes
//! what it read to [`wait`], which returns at once if the word has changed since.
//! No wake-up is lost, and spurious returns are allowed: callers loop.
//!
//! [`SharedMemory`]: crate::SharedMemory
//!
//! # Examples
//!
//! ```
//! use std::{sync::atomic::{AtomicU32, Ordering}, time::Duration};
//! use coil_shm::futex;
//!
//! let word = AtomicU32::new(0);
//! // The word is not 1, so this returns at once.
//! futex::wait(&word, 1, Some(Duration::from_millis(10)));
//! word.store(1, Ordering::Release);
//! futex::wake_all(&word); // nobody sleeps: a no-op
//! ```

use std::{
    sync::atomic::AtomicU32,
    time::{Duration, Instant},
};

use crate::sys;

/// Sleeps while `*word == expected`, for at most `timeout` (`None`: until woken).
/// Returns on a wake-up, a timeout, a signal, or at once if the word differs;
/// callers re-check their condition in a loop.
#[inline]
pub fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
    sys::futex_wait(word, expected, timeout);
}

/// Like [`wait`], with an absolute deadline instead of a relative timeout.
pub fn wait_until(word: &AtomicU32, expected: u32, deadline: Option<Instant>) {
    let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
    if timeout == Some(Duration::ZERO) {
        return;
    }
    sys::futex_wait(word, expected, timeout);
}

/// Wakes up to `n` sleepers on `word`, in any process.
#[inline]
pub fn wake(word: &AtomicU32, n: u32) {
    sys::futex_wake(word, n);
}

/// Wakes every sleeper on `word`, in any process.
#[inline]
pub fn wake_all(word: &AtomicU32) {
    sys::futex_wake(word, u32::MAX);
}

#[cfg(test)]
mod tests {
    use std::{
        sync::{
            Arc,
            atomic::{AtomicU32, Ordering},
        },
        thread,
        time::Duration,
    };

    use super::*;

    #[test]
    fn a_changed_word_returns_at_once_and_a_wake_ends_a_sleep() {
        let word = Arc::new(AtomicU32::new(0));
        wait(&word, 7, None); // differs: must not block
        let w = Arc::clone(&word);
        let sleeper = thread::spawn(move || {
            while w.load(Ordering::Acquire) == 0 {
                wait(&w, 0, None);
            }
            w.load(Ordering::Acquire)
        });
        thread::sleep(Duration::from_millis(20));
        word.store(5, Ordering::Release);
        wake_all(&word);
        assert_eq!(sleeper.join().unwrap(), 5);
    }

    #[test]
    fn a_past_deadline_does_not_sleep() {
        let word = AtomicU32::new(0);
        wait_until(&word, 0, Some(Instant::now() - Duration::from_millis(1)));
        wait(&word, 0, Some(Duration::from_millis(1)));
        assert_eq!(word.load(Ordering::Relaxed), 0);
    }
}
