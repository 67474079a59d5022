//! The `spawn` start method: re-execute the current binary into an entry
//! point registered by name.
//!
//! `fork` copies a running program, threads' locks and all; a program that
//! cannot vouch for the state of its other threads (see the fork-safety
//! notes in the crate docs) starts children by *spawning* instead: the child
//! is a fresh `exec` of `/proc/self/exe`, so it begins from `main` with a
//! clean address space. Two environment variables tell it what to run:
//! `COIL_PROCS_ENTRY` (the entry point's name) and `COIL_PROCS_ARG` (its
//! argument, postcard-encoded, hex).
//!
//! The program registers its entry points and calls [`spawn_main`] first
//! thing in `main`:
//!
//! ```no_run
//! fn worker(n: u32) -> i32 {
//!     println!("worker {n}");
//!     0
//! }
//!
//! fn main() -> Result<(), coil_procs::Error> {
//!     coil_procs::spawn::register("worker", worker);
//!     coil_procs::spawn_main(); // in a spawned child: runs `worker` and exits
//!     let mut p = coil_procs::Process::spawn("worker", &7u32)?;
//!     p.start()?;
//!     p.join(None)?;
//!     Ok(())
//! }
//! ```
//!
//! In the parent, [`Process::spawn`](crate::Process::spawn) checks the name
//! against the registry, so an unregistered name is
//! [`Error::UnknownEntryPoint`] before any
//! process starts. In the child a name it does not know (the registration
//! differs between runs) prints a message and exits with code 2; an argument
//! that does not decode as the entry's type does the same.
//!
//! [`Error::UnknownEntryPoint`]: crate::Error::UnknownEntryPoint

use std::{
    collections::BTreeMap,
    io::Write,
    os::unix::process::CommandExt,
    panic::{AssertUnwindSafe, catch_unwind},
    process::Command,
    sync::{Arc, Mutex},
};

use nix::{errno::Errno, unistd::Pid};
use serde::de::DeserializeOwned;

use crate::{
    error::{Error, Result},
    fork,
};

/// Largest encoded argument of a spawned entry point, in bytes (it travels in
/// an environment variable).
pub const MAX_ARG: usize = 64 * 1024;

const ENV_ENTRY: &str = "COIL_PROCS_ENTRY";
const ENV_ARG: &str = "COIL_PROCS_ARG";

type Entry = Arc<dyn Fn(&[u8]) -> std::result::Result<i32, String> + Send + Sync>;

static REGISTRY: Mutex<BTreeMap<String, Entry>> = Mutex::new(BTreeMap::new());

fn registry() -> std::sync::MutexGuard<'static, BTreeMap<String, Entry>> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

/// Register `f` as the entry point `name` (replacing any earlier one). The
/// child's exit code is what `f` returns (1 if it panics).
///
/// # Examples
///
/// ```
/// fn square(n: u64) -> i32 {
///     println!("{}", n * n);
///     0
/// }
/// coil_procs::spawn::register("square", square);
/// assert!(coil_procs::spawn::is_registered("square"));
/// ```
pub fn register<A: DeserializeOwned + 'static>(name: &str, f: fn(A) -> i32) {
    let entry: Entry = Arc::new(move |bytes: &[u8]| {
        let arg: A = postcard::from_bytes(bytes).map_err(|e| e.to_string())?;
        Ok(f(arg))
    });
    registry().insert(name.to_owned(), entry);
}

/// Whether an entry point of that name is registered in this process.
///
/// # Examples
///
/// ```
/// assert!(!coil_procs::spawn::is_registered("never-registered"));
/// ```
pub fn is_registered(name: &str) -> bool {
    registry().contains_key(name)
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// If this process is a spawned child, run its entry point and exit; else
/// return at once. Call it first thing in `main`, after registering the entry
/// points.
///
/// # Examples
///
/// ```
/// // Not a spawned child: returns and the program goes on.
/// coil_procs::spawn_main();
/// ```
pub fn spawn_main() {
    let Some(name) = std::env::var_os(ENV_ENTRY) else {
        return;
    };
    let arg = std::env::var(ENV_ARG).unwrap_or_default();
    // SAFETY: called first thing in `main` (documented contract), before the
    // program starts threads that could read the environment concurrently.
    unsafe {
        std::env::remove_var(ENV_ENTRY);
        std::env::remove_var(ENV_ARG);
    }
    let name = name.to_string_lossy().into_owned();
    let entry = registry().get(&name).cloned();
    let Some(entry) = entry else {
        eprintln!("coil-procs: {}", Error::UnknownEntryPoint(name));
        fork::exit_child(2);
    };
    let Some(bytes) = unhex(&arg) else {
        eprintln!(
            "coil-procs: {}",
            Error::Decode("spawn argument is not hex".into())
        );
        fork::exit_child(2);
    };
    let code = match catch_unwind(AssertUnwindSafe(|| entry(&bytes))) {
        Ok(Ok(c)) => c,
        Ok(Err(msg)) => {
            eprintln!("coil-procs: entry point {name:?}: {}", Error::Decode(msg));
            2
        }
        Err(payload) => {
            fork::report_panic(&name, &*payload);
            1
        }
    };
    let _ = std::io::stderr().flush();
    fork::exit_child(code)
}

/// Start `/proc/self/exe` into `entry` with the encoded `args`.
pub(crate) fn start(entry: &str, args: &[u8], daemon: bool) -> Result<Pid> {
    let mut cmd = Command::new("/proc/self/exe");
    if let Some(arg0) = std::env::args_os().next() {
        cmd.arg0(arg0);
    }
    cmd.env(ENV_ENTRY, entry).env(ENV_ARG, hex(args));
    if daemon {
        // SAFETY: getpid has no preconditions.
        let parent = unsafe { libc::getpid() };
        // SAFETY: the hook runs in the forked child before exec and only makes
        // async-signal-safe calls (prctl, getppid).
        unsafe {
            cmd.pre_exec(move || {
                if fork::set_parent_death_signal(parent) {
                    Ok(())
                } else {
                    Err(std::io::Error::from_raw_os_error(libc::ESRCH))
                }
            });
        }
    }
    let child = cmd.spawn().map_err(|e| Error::Os(errno_of(&e)))?;
    let pid = Pid::from_raw(child.id() as i32);
    // `Child` neither waits nor kills on drop; `Process` reaps the pid.
    drop(child);
    if daemon {
        fork::remember_daemon(pid.as_raw());
    }
    Ok(pid)
}

fn errno_of(e: &std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let b = vec![0u8, 1, 0xab, 0xff];
        assert_eq!(unhex(&hex(&b)), Some(b));
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex("zz"), None);
    }
}
