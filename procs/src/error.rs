//! The one error type of `coil-procs`.
//!
//! Every fallible operation returns [`Error`]; each variant names the bad
//! input or the failed condition, and each function lists under `# Errors`
//! which variants it returns. The CPython exception each variant stands for is
//! given so code ported from `multiprocessing` knows what to match on.

use std::fmt;

pub use nix::errno::Errno;

/// The error of every `coil-procs` operation.
///
/// # Examples
///
/// ```
/// use coil_procs::{Error, Process};
///
/// let mut p = Process::new(|| {});
/// assert_eq!(p.join(None), Err(Error::NotStarted));
/// assert!(Error::NotStarted.to_string().contains("not started"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A system call failed (`OSError`).
    Os(Errno),
    /// An error from the shared-memory layer (`coil-shm`).
    Shm(coil_shm::Error),
    /// `join`, `terminate` or `kill` on a process that was never started
    /// (`AssertionError: can only join a started process`).
    NotStarted,
    /// `start` on a process that was already started (`AssertionError`).
    AlreadyStarted,
    /// `spawn` named an entry point that was never registered
    /// (`AttributeError` when unpickling the target, in CPython).
    UnknownEntryPoint(String),
    /// A blocking operation ran out of time (`TimeoutError`, `queue.Empty`
    /// after a timed `get`).
    Timeout,
    /// A non-blocking `get` found nothing (`queue.Empty`).
    Empty,
    /// A non-blocking or timed `put` found no room (`queue.Full`).
    Full,
    /// The other end of a pipe was closed or its process died (`EOFError`,
    /// `BrokenPipeError`).
    Disconnected,
    /// The queue, pipe end or pool was closed by this process
    /// (`ValueError: Queue is closed`, `ValueError: Pool not running`).
    Closed,
    /// A message is larger than the channel accepts (`ValueError`).
    MessageTooLarge {
        /// The message length in bytes.
        len: usize,
        /// The largest length accepted.
        max: usize,
    },
    /// A message could not be encoded (`PicklingError`).
    Encode(String),
    /// A message could not be decoded as the requested type: the other end
    /// sent another type, or the bytes are corrupt (`UnpicklingError`).
    Decode(String),
    /// A pool worker died while it held the task; the task did not complete
    /// (`BrokenProcessPool`).
    WorkerDied {
        /// The pid of the worker that died.
        pid: i32,
        /// Its exit code (negative signal number if it was killed).
        exit_code: i32,
    },
    /// The pool's worker function panicked on this task; the message is the
    /// panic payload (the exception re-raised by `AsyncResult.get`).
    TaskPanicked(String),
    /// The pool was terminated before the task completed.
    Terminated,
    /// `task_done` was called more times than values were put
    /// (`ValueError: task_done() called too many times`).
    TaskDoneTooManyTimes,
    /// The operation does not apply to this object (for example a name for
    /// a queue on the pipe transport); the message says why.
    Unsupported(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Os(e) => write!(f, "system call failed: {e}"),
            Error::Shm(e) => write!(f, "shared memory: {e}"),
            Error::NotStarted => f.write_str("process not started"),
            Error::AlreadyStarted => f.write_str("process already started"),
            Error::UnknownEntryPoint(n) => write!(f, "no spawn entry point registered under {n:?}"),
            Error::Timeout => f.write_str("timed out"),
            Error::Empty => f.write_str("queue is empty"),
            Error::Full => f.write_str("queue is full"),
            Error::Disconnected => f.write_str("the other end is closed or dead"),
            Error::Closed => f.write_str("closed"),
            Error::MessageTooLarge { len, max } => {
                write!(
                    f,
                    "message of {len} bytes is larger than the limit of {max} bytes"
                )
            }
            Error::Encode(m) => write!(f, "could not encode message: {m}"),
            Error::Decode(m) => write!(f, "could not decode message: {m}"),
            Error::WorkerDied { pid, exit_code } => {
                write!(
                    f,
                    "pool worker {pid} died (exit code {exit_code}) while holding the task"
                )
            }
            Error::TaskPanicked(m) => write!(f, "task panicked: {m}"),
            Error::Terminated => f.write_str("pool terminated"),
            Error::TaskDoneTooManyTimes => f.write_str("task_done() called too many times"),
            Error::Unsupported(m) => write!(f, "unsupported: {m}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<Errno> for Error {
    fn from(e: Errno) -> Self {
        Error::Os(e)
    }
}

impl From<coil_shm::Error> for Error {
    fn from(e: coil_shm::Error) -> Self {
        match e {
            coil_shm::Error::Timeout => Error::Timeout,
            e => Error::Shm(e),
        }
    }
}

/// `Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
