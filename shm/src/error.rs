//! The one error type of `coil-shm`.
//!
//! Every fallible operation returns [`Error`]; each variant names the bad input
//! or the failed condition, and the docs of each function list which variants it
//! can return. The CPython exception each variant corresponds to is given so a
//! reader porting Python code knows what to match on.

use std::fmt;

pub use nix::errno::Errno;

/// The error of every `coil-shm` operation.
///
/// # Examples
///
/// ```
/// use coil_shm::{Error, SharedMemory};
///
/// let err = SharedMemory::create("bad/name", 4096).unwrap_err();
/// assert!(matches!(err, Error::InvalidName { .. }));
/// assert!(err.to_string().contains("bad/name"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// `create` found a segment of that name already there (`FileExistsError`).
    AlreadyExists(String),
    /// `open` found no segment of that name (`FileNotFoundError`).
    NotFound(String),
    /// The name is not a portable POSIX shared-memory name (`ValueError`).
    InvalidName {
        /// The name as given.
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A size of zero, beyond what the system allows, or larger than the
    /// segment being attached (`ValueError`).
    InvalidSize {
        /// The size asked for.
        size: usize,
        /// Why it was refused.
        reason: &'static str,
    },
    /// An index or offset past the end (`IndexError`).
    OutOfBounds {
        /// The index or end offset asked for.
        index: usize,
        /// The length it had to stay below (or at, for an end offset).
        len: usize,
    },
    /// The caller may not open or create that segment (`PermissionError`).
    PermissionDenied(String),
    /// The segment exists but does not hold what was asked for: another
    /// structure, another element type, or a layout from another version.
    Incompatible(&'static str),
    /// The last holder of a robust lock died and nobody marked the data
    /// consistent, so the lock can never be taken again (`ENOTRECOVERABLE`).
    LockUnrecoverable,
    /// A message is larger than the ring can ever carry.
    MessageTooLarge {
        /// The message length.
        len: usize,
        /// The largest length the ring accepts.
        max: usize,
    },
    /// The calling thread already holds this lock; taking it again would hang.
    WouldDeadlock,
    /// A ring is full (non-blocking send only).
    Full,
    /// A ring is empty (non-blocking receive only).
    Empty,
    /// The other side of a ring is gone: closed, dropped or dead.
    Disconnected,
    /// A blocking operation ran out of time (`TimeoutError`).
    Timeout,
    /// A fixed-size table (ring endpoints, tracked names) is full.
    CapacityExceeded(&'static str),
    /// A value does not fit where it has to go (a `ShareableList` slot).
    ValueTooLarge {
        /// The encoded length of the value.
        len: usize,
        /// The capacity of the slot.
        capacity: usize,
    },
    /// The operation is not possible on this kind of segment (resizing an
    /// anonymous segment, for instance).
    Unsupported(&'static str),
    /// Any other failure of a system call, with its `errno` (`OSError`).
    Os(Errno),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::AlreadyExists(n) => write!(f, "shared memory segment {n:?} already exists"),
            Error::NotFound(n) => write!(f, "no shared memory segment named {n:?}"),
            Error::InvalidName { name, reason } => {
                write!(f, "invalid shared memory name {name:?}: {reason}")
            }
            Error::InvalidSize { size, reason } => write!(f, "invalid size {size}: {reason}"),
            Error::OutOfBounds { index, len } => {
                write!(f, "index {index} out of bounds for length {len}")
            }
            Error::PermissionDenied(n) => write!(f, "permission denied for segment {n:?}"),
            Error::Incompatible(why) => write!(f, "segment layout is incompatible: {why}"),
            Error::LockUnrecoverable => write!(
                f,
                "a lock holder died and the data was never marked consistent; the lock is unusable"
            ),
            Error::MessageTooLarge { len, max } => {
                write!(
                    f,
                    "message of {len} bytes exceeds the ring's limit of {max} bytes"
                )
            }
            Error::WouldDeadlock => write!(f, "this thread already holds the lock"),
            Error::Full => write!(f, "ring is full"),
            Error::Empty => write!(f, "ring is empty"),
            Error::Disconnected => write!(f, "the other side of the ring is gone"),
            Error::Timeout => write!(f, "operation timed out"),
            Error::CapacityExceeded(what) => write!(f, "capacity exceeded: {what}"),
            Error::ValueTooLarge { len, capacity } => {
                write!(
                    f,
                    "value of {len} bytes exceeds slot capacity of {capacity} bytes"
                )
            }
            Error::Unsupported(what) => write!(f, "unsupported: {what}"),
            Error::Os(e) => write!(f, "system call failed: {e}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<Errno> for Error {
    fn from(e: Errno) -> Self {
        Error::Os(e)
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Os(Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
    }
}

/// The result type of `coil-shm`.
pub type Result<T> = std::result::Result<T, Error>;
