//! The crate's error type.

use std::fmt;

/// What can go wrong in a fallible heap call.
///
/// # Examples
/// ```
/// let err = coil_heap::trace::take_snapshot().unwrap_err();
/// assert_eq!(err, coil_heap::Error::NotTracing);
/// println!("{err}"); // "the heap must be tracing memory allocations (call trace::start)"
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The OS or the system allocator refused memory (Python's `MemoryError`).
    OutOfMemory {
        /// Bytes asked for.
        size: usize,
    },
    /// A size or alignment that no layout can hold (size rounded up to the alignment
    /// overflows `isize::MAX`, or the alignment is not a power of two).
    InvalidLayout {
        /// Bytes asked for.
        size: usize,
        /// Alignment asked for.
        align: usize,
    },
    /// A tracing call that needs tracing on while it is off (Python's `RuntimeError:
    /// the tracemalloc module must be tracing memory allocations`).
    NotTracing,
    /// A tracing argument out of range (Python's `ValueError`), such as 0 frames.
    InvalidTraceArgument(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::OutOfMemory { size } => write!(f, "out of memory allocating {size} bytes"),
            Error::InvalidLayout { size, align } => {
                write!(f, "invalid layout: size {size} with alignment {align}")
            }
            Error::NotTracing => {
                write!(
                    f,
                    "the heap must be tracing memory allocations (call trace::start)"
                )
            }
            Error::InvalidTraceArgument(what) => write!(f, "invalid tracing argument: {what}"),
        }
    }
}

impl std::error::Error for Error {}
