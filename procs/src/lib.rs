//! `coil-procs`: processes, pipes, queues and pools across processes.
#![doc(test(attr(deny(warnings))))]

pub mod error;
mod fork;
pub mod process;
pub mod spawn;

pub use error::{Error, Result};
pub use process::Process;
pub use spawn::spawn_main;
