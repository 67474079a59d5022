//! Helpers shared by the integration tests: unique names, fork, wait.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A segment name unique to this process and call.
pub fn unique(tag: &str) -> String {
    format!(
        "coil-test-{tag}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Fork; the child runs `f` and `_exit`s with its return code (101 on panic).
/// The child only uses the already-set-up shared structures (glibc keeps malloc
/// usable after fork), never the test harness's locks.
pub fn fork_child(f: impl FnOnce() -> i32) -> libc::pid_t {
    // SAFETY: fork is called with no locks of ours held; the child only runs `f`
    // and then `_exit`s without returning into the test harness.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(101);
        // SAFETY: _exit ends the child without running the parent's atexit handlers.
        unsafe { libc::_exit(code) };
    }
    pid
}

/// Wait for `pid`; return its exit code, or `-signal` if a signal ended it.
pub fn wait(pid: libc::pid_t) -> i32 {
    let mut status = 0;
    // SAFETY: waiting for our own child with a valid status pointer.
    let r = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(r, pid, "waitpid failed");
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -libc::WTERMSIG(status)
    }
}

/// SIGKILL `pid` and reap it.
pub fn kill_and_reap(pid: libc::pid_t) -> i32 {
    // SAFETY: killing our own child.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    wait(pid)
}

/// Serialises the tests of one binary that hold ring ends across `fork`.
///
/// A forked child inherits every ring end alive in the process at that moment
/// (pipe semantics), including those of tests running in parallel threads; two
/// echo children could then each hold the other's sender and never see
/// `Disconnected`. Real programs avoid that the way they do with pipes (drop
/// what a child does not use); tests take this lock instead.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}
