//! `coil-shm`: shared memory between processes.
#![doc(test(attr(deny(warnings), allow(dead_code, unused_variables))))]

mod error;
pub mod pod;
pub mod ring;
mod robust_lock;
pub mod segment;
pub mod shareable_list;
mod sys;
pub mod tracker;
pub mod value;

pub use error::{Errno, Error, Result};
pub use pod::{AtomicPod, Pod};
pub use ring::{
    MpmcOptions, MpmcReceiver, MpmcRing, MpmcSender, SpscOptions, SpscReceiver, SpscRing,
    SpscSender,
};
pub use segment::{MAX_NAME_LEN, SharedMemory, ShmOptions, unlink, validate_name};
pub use shareable_list::{Item, ShareableList};
pub use value::{LockGuard, SharedArray, SharedValue};
