//! The one place in coil that calls `fork(2)`, and the child's side of it.
//!
//! # What is safe in the child
//!
//! After `fork` in a multi-threaded parent only the forking thread exists in
//! the child; every lock another thread held at that instant stays held
//! forever, and POSIX only promises async-signal-safe functions. coil's
//! contract is therefore narrow: the child runs *your closure* and then leaves
//! with `_exit`, never returning into the parent's code, never running
//! `atexit` handlers or destructors of the parent's statics. Within the
//! closure, what is safe is what the locks it touches allow:
//!
//! - **Allocation** is safe with glibc's malloc (it resets its arena locks in
//!   the child through its own fork handlers) and with coil-heap's global
//!   allocator (it registers `pthread_atfork` hooks that take and release its
//!   locks around the fork).
//! - **`print!`/`eprintln!`**: [`fork_run`] takes the locks of `stdout` and
//!   `stderr` before forking and releases them on both sides afterwards, so the
//!   child never inherits a stream lock held by another thread, and it flushes
//!   `stdout` first so buffered output is not printed twice.
//! - **coil-procs' own state** (the daemon-children registry) is locked across
//!   the fork in the same way and emptied in the child: a child owns none of
//!   its parent's children.
//! - Anything else (a `std::sync::Mutex` of yours that another thread may hold,
//!   a thread pool, an async runtime) is the caller's to judge. Programs that
//!   cannot give that guarantee use the `spawn` start method instead
//!   ([`crate::spawn`]), which re-executes the binary.
//!
//! # Invariants
//!
//! 1. The child never returns from [`fork_run`]: it calls `_exit`.
//! 2. A panic in the closure is caught at the child's top frame; besides what
//!    the panic hook printed, one line naming the process and the panic goes
//!    straight to fd 2; the exit code is 1.
//! 3. A daemon child asks the kernel for `SIGKILL` when the forking *thread*
//!    exits (`PR_SET_PDEATHSIG`), then re-checks its parent pid to close the
//!    race with a parent that died before the `prctl`.

use std::{
    io::Write,
    panic::{AssertUnwindSafe, catch_unwind},
    sync::{Mutex, MutexGuard, Once},
};

use nix::unistd::{ForkResult, Pid};

use crate::error::Result;

/// Pids of this process's daemon children that have not been reaped yet.
static DAEMONS: Mutex<Vec<i32>> = Mutex::new(Vec::new());
static ATEXIT: Once = Once::new();

fn daemons() -> MutexGuard<'static, Vec<i32>> {
    DAEMONS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Forget a daemon child (it was reaped).
pub(crate) fn forget_daemon(pid: i32) {
    daemons().retain(|&p| p != pid);
}

/// Remember a daemon child so it is killed when this process exits.
pub(crate) fn remember_daemon(pid: i32) {
    ATEXIT.call_once(|| {
        // SAFETY: `kill_daemons` is an `extern "C" fn()` that never unwinds.
        unsafe { libc::atexit(kill_daemons) };
    });
    daemons().push(pid);
}

extern "C" fn kill_daemons() {
    let pids = std::mem::take(&mut *daemons());
    for pid in pids {
        // SAFETY: plain system calls on a pid this process forked and has not
        // reaped (reaping removes it from the registry), so it is not reused.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, std::ptr::null_mut(), 0);
        }
    }
}

/// Ask the kernel to kill this (child) process when its parent thread exits.
/// Returns false if the parent is already gone.
pub(crate) fn set_parent_death_signal(parent: i32) -> bool {
    // SAFETY: prctl with integer arguments; async-signal-safe.
    unsafe {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    // SAFETY: getppid has no preconditions.
    unsafe { libc::getppid() == parent }
}

/// Leave the child process at once, without `atexit` handlers or destructors.
pub(crate) fn exit_child(code: i32) -> ! {
    let _ = std::io::stdout().flush();
    // SAFETY: _exit has no preconditions and does not return.
    unsafe { libc::_exit(code) }
}

/// The text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

/// Write one line naming the process and its panic straight to fd 2 (the
/// panic hook's output may be captured, e.g. by the test harness).
pub(crate) fn report_panic(name: &str, payload: &(dyn std::any::Any + Send)) {
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    let line = format!(
        "coil-procs: process {name} (pid {pid}) panicked: {}\n",
        panic_message(payload)
    );
    // SAFETY: writing an initialised buffer to fd 2; a failed write is ignored.
    unsafe { libc::write(2, line.as_ptr().cast(), line.len()) };
}

/// Fork; in the child run `f` and `_exit` with its code (1 on panic). Returns
/// the child's pid in the parent.
///
/// `daemon` children are registered for killing at exit and ask for
/// `PR_SET_PDEATHSIG`.
pub(crate) fn fork_run<F: FnOnce() -> i32>(name: &str, daemon: bool, f: F) -> Result<Pid> {
    // Fork hooks: hold every lock the child may need so none is inherited in a
    // held state from another thread.
    let out = std::io::stdout();
    let err = std::io::stderr();
    let mut out_guard = out.lock();
    let err_guard = err.lock();
    let _ = out_guard.flush();
    let mut registry = daemons();
    // SAFETY: getpid has no preconditions.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the child only runs `f` and then `_exit`s (invariant 1); the
    // locks it could need were taken above and are released on both sides.
    match unsafe { nix::unistd::fork() }? {
        ForkResult::Child => {
            registry.clear();
            drop(registry);
            drop(err_guard);
            drop(out_guard);
            if daemon && !set_parent_death_signal(parent) {
                exit_child(1);
            }
            match catch_unwind(AssertUnwindSafe(f)) {
                Ok(code) => exit_child(code),
                Err(payload) => {
                    report_panic(name, &*payload);
                    exit_child(1)
                }
            }
        }
        ForkResult::Parent { child } => {
            drop(registry);
            drop(err_guard);
            drop(out_guard);
            if daemon {
                remember_daemon(child.as_raw());
            }
            Ok(child)
        }
    }
}
