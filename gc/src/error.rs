//! The crate's error type.

use core::fmt;

/// Errors of the `gc` surface. Each corresponds to the exception CPython's
/// `gc` module raises for the same misuse.
///
/// # Examples
///
/// ```
/// use coil_gc::Error;
/// assert_eq!(coil_gc::collect(3), Err(Error::InvalidGeneration(3)));
/// assert_eq!(Error::InvalidGeneration(3).to_string(), "invalid generation 3 (expected 0, 1 or 2)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A generation outside `0..=2` (CPython: `ValueError: invalid generation`).
    InvalidGeneration(usize),
    /// The operation cannot run while a collection is in progress (for
    /// example replacing the collector from a finalizer).
    Collecting,
    /// A callback id that is not registered (CPython: `ValueError` from
    /// `gc.callbacks.remove`).
    UnknownCallback(u64),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidGeneration(g) => {
                write!(f, "invalid generation {g} (expected 0, 1 or 2)")
            }
            Error::Collecting => f.write_str("a collection is in progress"),
            Error::UnknownCallback(id) => write!(f, "no gc callback with id {id}"),
        }
    }
}

impl std::error::Error for Error {}
