//! `coil-procs`: processes, pipes, queues and pools across processes.
#![doc(test(attr(deny(warnings))))]

mod codec;
pub mod error;
mod fork;
mod futex;
pub mod pipe;
pub mod pool;
pub mod process;
pub mod queue;
pub mod spawn;
mod transport;

pub use error::{Error, Result};
pub use pipe::{Connection, Pipe};
pub use pool::{AsyncResult, Imap, ImapUnordered, Pool, PoolOptions};
pub use process::Process;
pub use queue::{JoinableQueue, Queue, QueueOptions, SimpleQueue, TransportKind};
pub use spawn::spawn_main;
