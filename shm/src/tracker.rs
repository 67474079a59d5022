//! The resource tracker: named segments that a process tree created and
//! never unlinked are unlinked when that tree ends — after a normal exit, a
//! panic, or `SIGKILL` of every process in it.
//!
//! # How it works
//!
//! At the first tracked [`SharedMemory::create`](crate::SharedMemory::create)
//! the process makes a `SOCK_SEQPACKET` socket pair and double-forks a small
//! tracker process that keeps one end; the other end stays in the creating
//! process (close-on-exec) and is inherited by every child it forks, so the
//! whole process tree shares one tracker. Each tracked create sends
//! `R<name>`, each unlink sends `U<name>`; one packet per message, so
//! messages from many processes never interleave. When the last process of
//! the tree holding the socket exits — however it exits — the kernel closes
//! its end, the tracker's `recv` returns 0 (end of file), and the tracker
//! unlinks every name still registered and exits.
//!
//! This is CPython's `resource_tracker` model (a separate process told about
//! every segment through a pipe), with two differences: the tracker is
//! double-forked (reparented to init, so it never becomes the creator's
//! zombie or answers its `waitpid(-1)`) with raw `clone` calls that skip the
//! `pthread_atfork` handlers (so it never counts as holding a ring end), and
//! it does only async-signal-safe
//! work — raw `recv`, `shm_unlink`, `_exit` over a table allocated before the
//! fork — so starting it from a multi-threaded program is safe.
//!
//! # Limits
//!
//! * A program that `exec`s does not pass the socket on (close-on-exec), so a
//!   process started that way is not part of the tree.
//! * The tracker remembers at most [`MAX_TRACKED`] names at a time; names
//!   beyond that are not tracked.
//! * Opt out per segment with [`ShmOptions::track`](crate::ShmOptions::track)
//!   or [`SharedMemory::untrack`](crate::SharedMemory::untrack).
//!
//! # Invariants
//!
//! 1. `SOCK` holds the tree's socket end (or -1 before the first use); it is
//!    only written once, under `START`.
//! 2. The tracker touches no memory allocated after the fork and calls no
//!    function that takes a lock.

use std::{
    os::fd::RawFd,
    sync::{
        Mutex,
        atomic::{AtomicI32, AtomicU32, Ordering},
    },
};

/// How many names the tracker remembers at once.
pub const MAX_TRACKED: usize = 4096;
const RECORD: usize = 256; // 1 NUL-terminated name of at most 255 bytes incl. '/'

static SOCK: AtomicI32 = AtomicI32::new(-1);
static PID: AtomicU32 = AtomicU32::new(0);
static START: Mutex<()> = Mutex::new(());

/// The pid of this process tree's tracker, if it was started.
///
/// # Examples
///
/// ```
/// let name = format!("coil-doc-tracker-{}", std::process::id());
/// let seg = coil_shm::SharedMemory::create(&name, 8)?; // starts the tracker
/// assert!(coil_shm::tracker::pid().is_some());
/// seg.unlink()?;
/// # Ok::<(), coil_shm::Error>(())
/// ```
pub fn pid() -> Option<u32> {
    match PID.load(Ordering::Acquire) {
        0 => None,
        p => Some(p),
    }
}

fn send(op: u8, name: &str) {
    let fd = socket();
    if fd < 0 || name.len() >= RECORD {
        return;
    }
    let mut rec = [0u8; RECORD];
    rec[0] = op;
    rec[1..1 + name.len()].copy_from_slice(name.as_bytes());
    // SAFETY: sending from a valid buffer; MSG_NOSIGNAL keeps a dead tracker
    // from raising SIGPIPE. A failed send only means the name is not tracked.
    unsafe {
        libc::send(fd, rec.as_ptr().cast(), 1 + name.len(), libc::MSG_NOSIGNAL);
    }
}

/// Track `name` (with its leading '/').
pub(crate) fn register(name: &str) {
    send(b'R', name);
}

/// Stop tracking `name`.
pub(crate) fn unregister(name: &str) {
    if SOCK.load(Ordering::Acquire) >= 0 {
        send(b'U', name);
    }
}

fn socket() -> RawFd {
    let fd = SOCK.load(Ordering::Acquire);
    if fd >= 0 {
        return fd;
    }
    let _g = START.lock().unwrap_or_else(|e| e.into_inner());
    let fd = SOCK.load(Ordering::Acquire);
    if fd >= 0 {
        return fd;
    }
    match start() {
        Some((fd, pid)) => {
            PID.store(pid, Ordering::Release);
            SOCK.store(fd, Ordering::Release);
            fd
        }
        None => -1,
    }
}

/// Start the tracker; returns our socket end and the tracker's pid.
fn start() -> Option<(RawFd, u32)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: valid out-array of two fds.
    let r = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if r != 0 {
        return None;
    }
    let (ours, theirs) = (fds[0], fds[1]);
    // A pipe to learn the tracker's pid from the intermediate child.
    let mut pp = [0 as RawFd; 2];
    // SAFETY: valid out-array.
    if unsafe { libc::pipe2(pp.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        // SAFETY: closing fds we own.
        unsafe {
            libc::close(ours);
            libc::close(theirs);
        }
        return None;
    }
    // The tracker's table, allocated before the fork (invariant 2).
    let mut table = vec![0u8; MAX_TRACKED * RECORD];
    // SAFETY: a raw fork; the child only calls async-signal-safe functions
    // (setsid, fork, write, _exit, and `tracker_main`, which promises the same).
    let mid = unsafe { raw_fork() };
    if mid < 0 {
        // SAFETY: closing fds we own.
        unsafe {
            libc::close(ours);
            libc::close(theirs);
            libc::close(pp[0]);
            libc::close(pp[1]);
        }
        return None;
    }
    if mid == 0 {
        // SAFETY: async-signal-safe calls only; `_exit` never returns.
        unsafe {
            libc::setsid();
            let t = raw_fork();
            if t == 0 {
                tracker_main(theirs, &mut table);
            }
            let pid = t as u32;
            libc::write(pp[1], (&raw const pid).cast(), 4);
            libc::_exit(0);
        }
    }
    let mut pid = 0u32;
    // SAFETY: closing our copies of the child's ends; waiting for our own child.
    unsafe {
        libc::close(theirs);
        libc::close(pp[1]);
        libc::read(pp[0], (&raw mut pid).cast(), 4);
        libc::close(pp[0]);
        let mut st = 0;
        libc::waitpid(mid, &mut st, 0);
    }
    drop(table);
    if pid == 0 || pid == u32::MAX {
        // SAFETY: closing our fd.
        unsafe { libc::close(ours) };
        return None;
    }
    Some((ours, pid))
}

/// `fork` without the `pthread_atfork` handlers: the tracker must not be
/// counted as a holder of the process's ring handles (see `ring::core`), and
/// needs none of the libc state those handlers repair.
///
/// # Safety
///
/// The child may only make raw, async-signal-safe calls and must `_exit`.
unsafe fn raw_fork() -> libc::pid_t {
    // SAFETY: clone with only SIGCHLD is fork without the handlers.
    unsafe {
        libc::syscall(libc::SYS_clone, libc::SIGCHLD as libc::c_long, 0, 0, 0, 0) as libc::pid_t
    }
}

/// The tracker process. Never returns.
///
/// # Safety
///
/// Must run in a freshly forked child; uses only async-signal-safe calls.
unsafe fn tracker_main(sock: RawFd, table: &mut [u8]) -> ! {
    // SAFETY: only async-signal-safe libc calls on fds and the pre-allocated
    // table; the process ends with `_exit`.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        // Hold nothing of the tree but our socket end: an inherited pipe end
        // would keep someone else from seeing end of file.
        let max = libc::sysconf(libc::_SC_OPEN_MAX).clamp(256, 1 << 16) as RawFd;
        for fd in 0..max {
            if fd != sock {
                libc::close(fd);
            }
        }
        let mut rec = [0u8; RECORD];
        loop {
            let n = libc::recv(sock, rec.as_mut_ptr().cast(), RECORD, 0);
            if n == 0 {
                break;
            }
            if n < 0 {
                if *libc::__errno_location() == libc::EINTR {
                    continue;
                }
                break;
            }
            let n = n as usize;
            if n < 2 {
                continue;
            }
            let name = &rec[1..n];
            match rec[0] {
                b'R' => {
                    if let Some(slot) = table.chunks_exact_mut(RECORD).find(|s| s[0] == 0) {
                        slot[..name.len()].copy_from_slice(name);
                        slot[name.len()] = 0;
                    }
                }
                b'U' => {
                    if let Some(slot) = table
                        .chunks_exact_mut(RECORD)
                        .find(|s| s[0] != 0 && &s[..name.len()] == name && s[name.len()] == 0)
                    {
                        slot[0] = 0;
                    }
                }
                _ => {}
            }
        }
        for slot in table.chunks_exact(RECORD) {
            if slot[0] != 0 {
                libc::shm_unlink(slot.as_ptr().cast());
            }
        }
        libc::_exit(0);
    }
}
