//! The operating-system layer: every raw system call of the crate goes through here.
//!
//! Invariants and contracts:
//!
//! 1. Futex words are `AtomicU32`s that live in shared mappings. The futex calls
//!    use `FUTEX_WAIT`/`FUTEX_WAKE` *without* `FUTEX_PRIVATE_FLAG`, so the kernel
//!    keys them by the physical page and a waiter in one process is woken by a
//!    waker in another even though each maps the page at its own address.
//! 2. `my_pid` caches `getpid()` in a process-global atomic that a
//!    `pthread_atfork` child handler resets, so a forked child never reports its
//!    parent's pid.
//! 3. The asymmetric barrier pair ([`light_barrier`], [`heavy_barrier`]) orders a
//!    store before a later load across processes, like a `SeqCst` fence on
//!    both sides, but costs the frequent side (a ring publishing a message)
//!    nothing: it is a compiler fence once this process has registered with
//!    `membarrier(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED)`, and a real
//!    `SeqCst` fence until then (or forever, if the kernel refuses). The rare
//!    side (a waiter about to sleep) calls
//!    `membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)`, which runs a full barrier
//!    on every CPU currently running a registered process; threads not running
//!    passed a context switch, itself a full barrier. Registration is per
//!    process (per address space): it is redone after `fork`, keyed by pid.
//! 4. `pid_alive` treats a zombie (killed but not yet reaped) as dead, because a
//!    zombie will never finish a ring operation; a pid that was reused by an
//!    unrelated process reads as alive (a limit shared with every pid-based
//!    scheme, written down in the ring docs).

use std::{
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    sync::{
        Once,
        atomic::{AtomicU32, Ordering, compiler_fence, fence},
    },
    time::Duration,
};

use nix::errno::Errno;

static PID: AtomicU32 = AtomicU32::new(0);
static ATFORK: Once = Once::new();

extern "C" fn reset_pid_in_child() {
    PID.store(0, Ordering::Relaxed);
}

/// The calling process's pid, cached; correct in forked children.
pub(crate) fn my_pid() -> u32 {
    let p = PID.load(Ordering::Relaxed);
    if p != 0 {
        return p;
    }
    ATFORK.call_once(|| {
        // SAFETY: registering a handler that only stores to an atomic, which is
        // async-signal-safe and valid in a freshly forked child.
        unsafe {
            libc::pthread_atfork(None, None, Some(reset_pid_in_child));
        }
    });
    let p = std::process::id();
    PID.store(p, Ordering::Relaxed);
    p
}

/// Refresh the cached pid in a fork child handler; returns it.
pub(crate) fn reset_pid_after_fork() -> u32 {
    // SAFETY: getpid is async-signal-safe and always succeeds.
    let p = unsafe { libc::getpid() } as u32;
    PID.store(p, Ordering::Relaxed);
    p
}

/// Seconds on the system's monotonic clock (the same clock in every
/// process of the machine); async-signal-safe (fork handlers call it).
pub(crate) fn monotonic_secs() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64
}

/// Whether `pid` names a live process that is not a zombie.
pub(crate) fn pid_alive(pid: u32) -> bool {
    if pid == 0 {
        return false;
    }
    if pid == my_pid() {
        return true;
    }
    // SAFETY: kill with signal 0 only checks for existence and permission.
    let r = unsafe { libc::kill(pid as libc::pid_t, 0) };
    if r != 0 && Errno::last() == Errno::ESRCH {
        return false;
    }
    // Exists (or exists but belongs to someone else: EPERM). Rule out zombies.
    match std::fs::read(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            // The state letter follows the last ')' (the command may contain ')').
            match stat.iter().rposition(|&b| b == b')') {
                Some(i) => !matches!(stat.get(i + 2), Some(b'Z') | Some(b'X')),
                None => true,
            }
        }
        Err(_) => r == 0 || Errno::last() == Errno::EPERM,
    }
}

/// The pid whose address space is registered for global expedited
/// membarriers; `u32::MAX` once the kernel refused (then fences stay real).
static MEMBARRIER_PID: AtomicU32 = AtomicU32::new(MEMBARRIER_NOT_YET);
const MEMBARRIER_REFUSED: u32 = u32::MAX;
/// Before the first registration attempt (no pid and not 0, which `PID`
/// holds while unknown).
const MEMBARRIER_NOT_YET: u32 = u32::MAX - 1;
// From linux/membarrier.h (not all libc versions export them).
const MEMBARRIER_CMD_GLOBAL_EXPEDITED: libc::c_int = 1 << 1;
const MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED: libc::c_int = 1 << 2;

fn membarrier(cmd: libc::c_int) -> bool {
    // SAFETY: membarrier takes two integers and touches no user memory.
    unsafe {
        libc::syscall(
            libc::SYS_membarrier,
            cmd,
            0 as libc::c_uint,
            0 as libc::c_int,
        ) == 0
    }
}

/// The frequent half of the asymmetric barrier: orders this thread's earlier
/// stores before its later loads against a peer that runs [`heavy_barrier`].
#[inline(always)]
pub(crate) fn light_barrier() {
    // Matches only once this very process has registered: `PID` is 0 until
    // first use and after a fork, and `MEMBARRIER_PID` is never 0.
    if MEMBARRIER_PID.load(Ordering::Relaxed) == PID.load(Ordering::Relaxed) {
        compiler_fence(Ordering::SeqCst);
    } else {
        light_barrier_slow();
    }
}

#[cold]
#[inline(never)]
fn light_barrier_slow() {
    fence(Ordering::SeqCst);
    if MEMBARRIER_PID.load(Ordering::Relaxed) != MEMBARRIER_REFUSED {
        register_membarrier();
    }
}

fn register_membarrier() {
    let me = my_pid();
    let v = if membarrier(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) {
        me
    } else {
        MEMBARRIER_REFUSED
    };
    MEMBARRIER_PID.store(v, Ordering::Relaxed);
}

/// The rare half of the asymmetric barrier. Returns `false` if the kernel
/// refused it; the caller then cannot rely on it against peers that use
/// [`light_barrier`] and must bound its sleep.
pub(crate) fn heavy_barrier() -> bool {
    fence(Ordering::SeqCst);
    let ok = membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED);
    fence(Ordering::SeqCst);
    ok
}

/// The CPU this thread runs on, if the system says.
pub(crate) fn current_cpu() -> Option<u32> {
    // SAFETY: sched_getcpu has no preconditions.
    let c = unsafe { libc::sched_getcpu() };
    u32::try_from(c).ok()
}

/// Give the CPU to another runnable thread, if any.
pub(crate) fn yield_now() {
    // SAFETY: sched_yield has no preconditions.
    unsafe { libc::sched_yield() };
}

/// Sleep while `*word == expected`, at most `timeout`. Spurious returns happen;
/// callers loop.
pub(crate) fn futex_wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
    let ts;
    let tsp = match timeout {
        Some(d) => {
            ts = libc::timespec {
                tv_sec: d.as_secs().min(i64::MAX as u64) as libc::time_t,
                tv_nsec: d.subsec_nanos() as libc::c_long,
            };
            &ts as *const libc::timespec
        }
        None => std::ptr::null(),
    };
    // SAFETY: `word` is a valid, aligned u32 for the duration of the call; the
    // kernel only reads it. A relative timeout pointer is valid or null.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            tsp,
            std::ptr::null::<u32>(),
            0u32,
        );
    }
}

/// Wake up to `n` waiters sleeping on `word`, in any process.
pub(crate) fn futex_wake(word: &AtomicU32, n: u32) {
    // SAFETY: `word` is a valid, aligned u32; FUTEX_WAKE does not touch memory.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE,
            n.min(i32::MAX as u32) as libc::c_int,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0u32,
        );
    }
}

/// An anonymous memory file (`memfd_create`), shared with forked children
/// through a `MAP_SHARED` mapping.
pub(crate) fn memfd(len: usize) -> Result<OwnedFd, Errno> {
    // SAFETY: the name is a valid NUL-terminated string; the returned fd is
    // checked before being wrapped.
    let fd = unsafe { libc::memfd_create(c"coil-shm-anonymous".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: `fd` was just returned by memfd_create and is owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    nix::unistd::ftruncate(&fd, len as libc::off_t)?;
    Ok(fd)
}

/// The size of the object behind `fd`.
pub(crate) fn fd_len(fd: &OwnedFd) -> Result<usize, Errno> {
    let st = nix::sys::stat::fstat(fd.as_raw_fd())?;
    Ok(st.st_size as usize)
}

/// The permission bits of the object behind `fd`.
pub(crate) fn fd_mode(fd: &OwnedFd) -> Result<u32, Errno> {
    let st = nix::sys::stat::fstat(fd.as_raw_fd())?;
    Ok(st.st_mode & 0o7777)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn light_barrier_registers_this_process_and_again_after_fork() {
        light_barrier();
        let reg = MEMBARRIER_PID.load(Ordering::Relaxed);
        assert!(reg == my_pid() || reg == MEMBARRIER_REFUSED, "reg {reg}");
        if reg == MEMBARRIER_REFUSED {
            return; // the kernel or a seccomp filter refuses membarrier
        }
        assert!(heavy_barrier());
        // SAFETY: the child only does atomics, one system call and `_exit`.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            let me = reset_pid_after_fork();
            let before = MEMBARRIER_PID.load(Ordering::Relaxed);
            light_barrier();
            let after = MEMBARRIER_PID.load(Ordering::Relaxed);
            let ok = before != me && after == me && heavy_barrier();
            // SAFETY: leave the child without running the test harness.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        let mut st = 0;
        // SAFETY: reaping our own child.
        unsafe { libc::waitpid(pid, &mut st, 0) };
        assert!(
            libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0,
            "child status {st}"
        );
    }
}
