//! The crate's error type.

use core::fmt;

/// Errors of `coil-refcount`.
///
/// Most operations cannot fail: misuse that std answers with `Option` or
/// `Result<T, Self>` (e.g. [`Rc::try_unwrap`](crate::Rc::try_unwrap) on a
/// shared box) is answered the same way here. This enum covers the rest.
///
/// # Examples
///
/// ```
/// use coil_refcount::Error;
/// let e = Error::AllocFailed { size: 48, align: 8 };
/// assert_eq!(e.to_string(), "allocation of a 48-byte box (align 8) failed");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The allocator could not provide memory for a box (CPython's
    /// `MemoryError`).
    AllocFailed {
        /// Size of the requested box in bytes.
        size: usize,
        /// Alignment of the requested box.
        align: usize,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::AllocFailed { size, align } => {
                write!(f, "allocation of a {size}-byte box (align {align}) failed")
            }
        }
    }
}

impl std::error::Error for Error {}
