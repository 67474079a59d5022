//! Cross-process futex waits on a 32-bit word in shared memory.
//!
//! # Invariants
//!
//! 1. The word lives in a `MAP_SHARED` mapping, so the futex is keyed by the
//!    backing page, not by the address space: waiters and wakers in different
//!    processes meet (no `FUTEX_PRIVATE_FLAG`).
//! 2. `wait` only sleeps while the word still equals the value the caller
//!    read; a waker changes the word *before* `wake`, so no wake-up is lost.

use std::{
    sync::atomic::AtomicU32,
    time::{Duration, Instant},
};

/// Sleep while `*word == expected`, at most until `deadline` (`None`:
/// forever). Spurious returns are allowed; callers loop.
pub(crate) fn wait(word: &AtomicU32, expected: u32, deadline: Option<Instant>) {
    let ts = deadline.map(|d| {
        let left = d
            .saturating_duration_since(Instant::now())
            .min(Duration::from_secs(3600));
        libc::timespec {
            tv_sec: left.as_secs() as libc::time_t,
            tv_nsec: left.subsec_nanos() as libc::c_long,
        }
    });
    let tsp = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `word` is a live, aligned 32-bit atomic in a shared mapping
    // (invariant 1); the timespec, if any, outlives the call.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            tsp,
            std::ptr::null::<u32>(),
            0,
        );
    }
}

/// Wake every process sleeping on `word`.
pub(crate) fn wake_all(word: &AtomicU32) {
    // SAFETY: as in `wait`; FUTEX_WAKE only reads the address as a key.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE,
            i32::MAX,
            std::ptr::null::<u8>(),
            std::ptr::null::<u32>(),
            0,
        );
    }
}
