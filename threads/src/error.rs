//! The crate's one error type.
//!
//! Every misuse that CPython reports with an exception is a value of [`Error`]
//! here; the docs of each variant name the Python exception it stands for.

use std::fmt;

/// Everything that can go wrong in `coil-threads`.
///
/// Misuse of a primitive is reported as one of these values, never as a
/// panic, undefined behaviour or a hang.
///
/// # Examples
///
/// ```
/// use coil_threads::{Error, Lock};
///
/// let lock = Lock::new();
/// assert_eq!(lock.release(), Err(Error::NotHeld));
/// assert_eq!(Error::NotHeld.to_string(), "release of an unlocked lock");
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Error {
    /// A lock, or the GIL, was released while nobody held it
    /// (`RuntimeError: release unlocked lock`).
    NotHeld,
    /// An `RLock` or `Condition` was used by a thread that does not own it
    /// (`RuntimeError: cannot release un-acquired lock`).
    NotOwner,
    /// The calling thread already holds a GIL; acquiring one again would
    /// deadlock.
    AlreadyHeld,
    /// A `BoundedSemaphore` was released more times than it was acquired
    /// (`ValueError: Semaphore released too many times`).
    BoundedOverRelease,
    /// The barrier is broken, by `abort`, a timeout, a panicking action, or
    /// `reset` while threads waited (`threading.BrokenBarrierError`).
    BrokenBarrier,
    /// A blocking call gave up after its timeout (the `False` result of
    /// `acquire(timeout=...)`, `queue.Empty`/`queue.Full` after a timeout,
    /// a `join` whose thread is still alive).
    Timeout,
    /// A non-blocking `get` found the queue empty (`queue.Empty`).
    Empty,
    /// A non-blocking `put` found the queue full (`queue.Full`).
    Full,
    /// The queue was shut down (`queue.ShutDown`, Python 3.13).
    ShutDown,
    /// `task_done` was called more times than items were put
    /// (`ValueError: task_done() called too many times`).
    TooManyTaskDone,
    /// A thread tried to join itself (`RuntimeError: cannot join current
    /// thread`).
    JoinSelf,
    /// `start` was called twice on the same thread object
    /// (`RuntimeError: threads can only be started once`).
    AlreadyStarted,
    /// `join` was called on a thread that was never started.
    NotStarted,
    /// The operating system refused to start a thread.
    SpawnFailed,
    /// A negative, zero or non-finite value where a positive one is needed
    /// (`ValueError`), e.g. a zero switch interval or zero barrier parties.
    InvalidArgument,
    /// A `local` value was accessed again while it was already borrowed by
    /// the same thread.
    LocalBorrowed,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Error::NotHeld => "release of an unlocked lock",
            Error::NotOwner => "lock used by a thread that does not own it",
            Error::AlreadyHeld => "the calling thread already holds a GIL",
            Error::BoundedOverRelease => "bounded semaphore released too many times",
            Error::BrokenBarrier => "the barrier is broken",
            Error::Timeout => "the operation timed out",
            Error::Empty => "the queue is empty",
            Error::Full => "the queue is full",
            Error::ShutDown => "the queue is shut down",
            Error::TooManyTaskDone => "task_done() called too many times",
            Error::JoinSelf => "cannot join the current thread",
            Error::AlreadyStarted => "threads can only be started once",
            Error::NotStarted => "cannot join a thread before it is started",
            Error::SpawnFailed => "the operating system could not start a thread",
            Error::InvalidArgument => "invalid argument (must be positive and finite)",
            Error::LocalBorrowed => "thread-local value is already borrowed by this thread",
        };
        f.write_str(s)
    }
}

impl std::error::Error for Error {}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
