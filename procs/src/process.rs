//! [`Process`]: a child process running a closure (fork) or a registered
//! entry point (spawn), with Python's `multiprocessing.Process` surface.
//!
//! # Waiting without busy-waiting
//!
//! Right after the child exists the parent opens a *pidfd* for it
//! (`pidfd_open`, Linux 5.3+). A pidfd becomes readable when the process
//! exits, so `join(timeout)` is one `poll(2)` with the timeout followed by one
//! `waitpid` that reaps. On kernels without pidfds, `join` falls back to
//! `waitpid(WNOHANG)` polling with exponential backoff (50 µs doubling up to
//! 5 ms), which needs no `SIGCHLD` handler and so never steals signals from
//! the program. Nothing spins.
//!
//! A pid is only signalled while the child is unreaped (a zombie keeps its
//! pid), so `terminate`/`kill` can never hit an unrelated process that reused
//! the pid.

use std::{
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

use nix::{
    errno::Errno,
    sys::{
        signal::Signal,
        wait::{WaitPidFlag, WaitStatus, waitpid},
    },
    unistd::Pid,
};

use crate::{
    error::{Error, Result},
    fork, spawn,
};

static COUNTER: AtomicU64 = AtomicU64::new(1);

enum Target {
    Fork(Box<dyn FnOnce() -> i32>),
    Spawn { entry: String, args: Vec<u8> },
    Started,
}

/// A child process, in the manner of `multiprocessing.Process`.
///
/// Build it with [`Process::new`] (a closure run in a forked child) or
/// [`Process::spawn`] (a registered entry point run in a re-executed copy of
/// the binary), set a [`name`](Self::name) and [`daemon`](Self::daemon) flag,
/// [`start`](Self::start) it, then [`join`](Self::join) it.
///
/// Exit codes follow Python: the code the child exited with, 1 if it
/// panicked (its message goes to stderr), and the negative signal number if a
/// signal ended it (`-9` after [`kill`](Self::kill)).
///
/// # Examples
///
/// ```
/// use coil_procs::Process;
///
/// let mut p = Process::with_code(|| 7).name("worker");
/// p.start()?;
/// p.join(None)?;
/// assert_eq!(p.exit_code(), Some(7));
/// assert_eq!(p.get_name(), "worker");
/// # Ok::<(), coil_procs::Error>(())
/// ```
pub struct Process {
    target: Target,
    name: String,
    daemon: bool,
    pid: Option<Pid>,
    pidfd: Option<OwnedFd>,
    exit: Option<i32>,
}

impl std::fmt::Debug for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Process")
            .field("name", &self.name)
            .field("daemon", &self.daemon)
            .field("pid", &self.pid.map(Pid::as_raw))
            .field("exit_code", &self.exit)
            .finish()
    }
}

fn default_name() -> String {
    format!("Process-{}", COUNTER.fetch_add(1, Ordering::Relaxed))
}

fn pidfd_open(pid: Pid) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: the kernel just gave us this fd; nobody else owns it.
    Some(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Wait for `fd` to become readable, at most `timeout` (None = forever).
/// Returns whether it is readable.
pub(crate) fn poll_readable(fd: i32, timeout: Option<Duration>) -> Result<bool> {
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        let ms = match deadline {
            None => -1,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                // Round up so a short timeout still sleeps.
                left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32
            }
        };
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd on the stack.
        let r = unsafe { libc::poll(&mut p, 1, ms) };
        if r < 0 {
            let e = Errno::last();
            if e == Errno::EINTR {
                continue;
            }
            return Err(e.into());
        }
        if r > 0 {
            return Ok(true);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(false);
        }
    }
}

fn status_code(s: WaitStatus) -> Option<i32> {
    match s {
        WaitStatus::Exited(_, c) => Some(c),
        WaitStatus::Signaled(_, sig, _) => Some(-(sig as i32)),
        _ => None,
    }
}

impl Process {
    /// A process that will run `f` in a forked child and exit with code 0
    /// (1 if `f` panics).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut p = coil_procs::Process::new(|| println!("hello from the child"));
    /// p.start()?;
    /// p.join(None)?;
    /// assert_eq!(p.exit_code(), Some(0));
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn new<F: FnOnce() + 'static>(f: F) -> Self {
        Self::with_code(move || {
            f();
            0
        })
    }

    /// A process that will run `f` in a forked child and exit with the code
    /// `f` returns (Python's `sys.exit(code)` at the end of the target).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut p = coil_procs::Process::with_code(|| 3);
    /// p.start()?;
    /// p.join(None)?;
    /// assert_eq!(p.exit_code(), Some(3));
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn with_code<F: FnOnce() -> i32 + 'static>(f: F) -> Self {
        Self {
            target: Target::Fork(Box::new(f)),
            name: default_name(),
            daemon: false,
            pid: None,
            pidfd: None,
            exit: None,
        }
    }

    /// A process that re-executes the current binary into the entry point
    /// registered as `entry` (see [`crate::spawn`]), passing `arg`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownEntryPoint`] if no entry point of that name is
    /// registered in this process; [`Error::Encode`] if `arg` cannot be
    /// encoded; [`Error::MessageTooLarge`] past
    /// [`spawn::MAX_ARG`] bytes of encoded argument.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_procs::{Error, Process};
    /// let err = Process::spawn("no-such-entry", &()).unwrap_err();
    /// assert_eq!(err, Error::UnknownEntryPoint("no-such-entry".into()));
    /// ```
    pub fn spawn<A: serde::Serialize>(entry: &str, arg: &A) -> Result<Self> {
        if !spawn::is_registered(entry) {
            return Err(Error::UnknownEntryPoint(entry.to_owned()));
        }
        let args = postcard::to_stdvec(arg).map_err(|e| Error::Encode(e.to_string()))?;
        if args.len() > spawn::MAX_ARG {
            return Err(Error::MessageTooLarge {
                len: args.len(),
                max: spawn::MAX_ARG,
            });
        }
        Ok(Self {
            target: Target::Spawn {
                entry: entry.to_owned(),
                args,
            },
            name: default_name(),
            daemon: false,
            pid: None,
            pidfd: None,
            exit: None,
        })
    }

    /// Set the name (default `Process-N`, N counting up from 1 per parent).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(coil_procs::Process::new(|| {}).name("w0").get_name(), "w0");
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Make this a daemon child: it is killed when this process exits
    /// (normally, through `exit`/return from `main`, by an `atexit` handler)
    /// and when the *thread* that started it exits or dies, even by `SIGKILL`
    /// (`PR_SET_PDEATHSIG`). Start daemon children from a long-lived thread.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = coil_procs::Process::new(|| {}).daemon(true);
    /// assert!(p.is_daemon());
    /// ```
    pub fn daemon(mut self, daemon: bool) -> Self {
        self.daemon = daemon;
        self
    }

    /// The name.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(coil_procs::Process::new(|| {}).get_name().starts_with("Process-"));
    /// ```
    pub fn get_name(&self) -> &str {
        &self.name
    }

    /// Whether this is a daemon child.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!coil_procs::Process::new(|| {}).is_daemon());
    /// ```
    pub fn is_daemon(&self) -> bool {
        self.daemon
    }

    /// The child's pid once started (Python's `pid`, `None` before `start`).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut p = coil_procs::Process::new(|| {});
    /// assert_eq!(p.pid(), None);
    /// p.start()?;
    /// assert!(p.pid().unwrap() > 0);
    /// p.join(None)?;
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn pid(&self) -> Option<i32> {
        self.pid.map(Pid::as_raw)
    }

    /// Start the child.
    ///
    /// # Errors
    ///
    /// [`Error::AlreadyStarted`] the second time; [`Error::Os`] if `fork` (or
    /// for spawn, `exec`) fails.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut p = coil_procs::Process::new(|| {});
    /// p.start()?;
    /// assert_eq!(p.start(), Err(coil_procs::Error::AlreadyStarted));
    /// p.join(None)?;
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn start(&mut self) -> Result<()> {
        let pid = match std::mem::replace(&mut self.target, Target::Started) {
            Target::Started => return Err(Error::AlreadyStarted),
            Target::Fork(f) => fork::fork_run(&self.name, self.daemon, f)?,
            Target::Spawn { entry, args } => spawn::start(&entry, &args, self.daemon)?,
        };
        self.pid = Some(pid);
        self.pidfd = pidfd_open(pid);
        Ok(())
    }

    fn reaped(&mut self, code: i32) {
        self.exit = Some(code);
        self.pidfd = None;
        if let (true, Some(p)) = (self.daemon, self.pid) {
            fork::forget_daemon(p.as_raw());
        }
    }

    /// Reap the child if it has exited; returns its exit code if so.
    fn try_reap(&mut self) -> Result<Option<i32>> {
        if let Some(c) = self.exit {
            return Ok(Some(c));
        }
        let Some(pid) = self.pid else {
            return Err(Error::NotStarted);
        };
        loop {
            match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => return Ok(None),
                Ok(s) => {
                    if let Some(c) = status_code(s) {
                        self.reaped(c);
                        return Ok(Some(c));
                    }
                }
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Wait for the child to exit, at most `timeout` (`None`: forever).
    /// Returns `Ok` also when the timeout passed with the child still running
    /// (as Python; check [`is_alive`](Self::is_alive) or
    /// [`exit_code`](Self::exit_code)).
    ///
    /// # Errors
    ///
    /// [`Error::NotStarted`] if [`start`](Self::start) was never called;
    /// [`Error::Os`] if the child was reaped by someone else (`ECHILD`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let mut p = coil_procs::Process::new(|| std::thread::sleep(Duration::from_secs(5)));
    /// p.start()?;
    /// p.join(Some(Duration::from_millis(10)))?;
    /// assert!(p.is_alive());
    /// p.kill()?;
    /// p.join(None)?;
    /// assert_eq!(p.exit_code(), Some(-9));
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn join(&mut self, timeout: Option<Duration>) -> Result<()> {
        if self.try_reap()?.is_some() {
            return Ok(());
        }
        let deadline = timeout.map(|t| Instant::now() + t);
        if let Some(fd) = &self.pidfd {
            if poll_readable(fd.as_raw_fd(), timeout)? {
                // Readable pidfd: the child has exited; reaping cannot block.
                let pid = self.pid.expect("started");
                loop {
                    match waitpid(pid, None) {
                        Ok(s) => {
                            if let Some(c) = status_code(s) {
                                self.reaped(c);
                                return Ok(());
                            }
                        }
                        Err(Errno::EINTR) => continue,
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            return Ok(());
        }
        let mut nap = Duration::from_micros(50);
        loop {
            if self.try_reap()?.is_some() {
                return Ok(());
            }
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return Ok(());
            }
            let sleep = deadline.map_or(nap, |d| nap.min(d - now));
            std::thread::sleep(sleep);
            nap = (nap * 2).min(Duration::from_millis(5));
        }
    }

    /// The exit code once the child has exited (`None` while it runs or
    /// before it starts): its exit status, 1 after a panic, or the negative
    /// number of the signal that ended it.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut p = coil_procs::Process::new(|| panic!("boom"));
    /// p.start()?;
    /// p.join(None)?;
    /// assert_eq!(p.exit_code(), Some(1));
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn exit_code(&mut self) -> Option<i32> {
        self.try_reap().ok().flatten()
    }

    /// Whether the child was started and has not exited.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut p = coil_procs::Process::new(|| {});
    /// assert!(!p.is_alive());
    /// p.start()?;
    /// p.join(None)?;
    /// assert!(!p.is_alive());
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn is_alive(&mut self) -> bool {
        self.pid.is_some() && matches!(self.try_reap(), Ok(None))
    }

    fn signal(&mut self, sig: Signal) -> Result<()> {
        if self.try_reap()?.is_some() {
            return Ok(());
        }
        let pid = self.pid.ok_or(Error::NotStarted)?;
        // The child is unreaped, so the pid is still ours.
        match nix::sys::signal::kill(pid, sig) {
            Ok(()) | Err(Errno::ESRCH) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Send `SIGTERM` (Python's `terminate`). No effect once the child has
    /// exited.
    ///
    /// # Errors
    ///
    /// [`Error::NotStarted`] before [`start`](Self::start).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut p = coil_procs::Process::new(|| std::thread::sleep(std::time::Duration::from_secs(5)));
    /// p.start()?;
    /// p.terminate()?;
    /// p.join(None)?;
    /// assert_eq!(p.exit_code(), Some(-15));
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn terminate(&mut self) -> Result<()> {
        self.signal(Signal::SIGTERM)
    }

    /// Send `SIGKILL` (Python's `kill`). No effect once the child has exited.
    ///
    /// # Errors
    ///
    /// [`Error::NotStarted`] before [`start`](Self::start).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut p = coil_procs::Process::new(|| std::thread::sleep(std::time::Duration::from_secs(5)));
    /// p.start()?;
    /// p.kill()?;
    /// p.join(None)?;
    /// assert_eq!(p.exit_code(), Some(-9));
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn kill(&mut self) -> Result<()> {
        self.signal(Signal::SIGKILL)
    }
}
