//! `coil-procs`: processes, pipes, queues and pools across processes.
#![doc(test(attr(deny(warnings))))]

mod codec;
pub mod error;
mod fork;
pub mod pipe;
pub mod process;
pub mod spawn;

pub use error::{Error, Result};
pub use pipe::{Connection, Pipe};
pub use process::Process;
pub use spawn::spawn_main;
