//! `coil-shm`: shared memory between processes.
#![doc(test(attr(deny(warnings))))]

mod error;
pub mod segment;
mod sys;
pub mod tracker;

pub use error::{Errno, Error, Result};
pub use segment::{MAX_NAME_LEN, SharedMemory, ShmOptions, unlink, validate_name};
