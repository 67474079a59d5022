//! `coil-procs`: processes, pipes, queues and pools across processes — the
//! model of Python's `multiprocessing`, built to survive crashes.
//!
//! # The problem
//!
//! CPU-bound work in CPython escapes the GIL by running in several processes,
//! each with its own memory, talking through pipes and queues
//! (`multiprocessing.Process`, `Pipe`, `Queue`, `Pool`). The model is right
//! but its implementation has failures users hit: a process killed while it
//! uses a `Queue` can corrupt it for everyone (the killed process may hold
//! the queue's lock or have written half a message), a `Pool` hangs forever
//! when a worker dies, and pickling caps throughput. Rust programs that want
//! the same model — workers isolated by the OS, killable at any moment — have
//! to assemble it from `fork`, sockets and shared memory themselves.
//!
//! # The model
//!
//! - A [`Process`] runs a closure in a forked child, or — with the *spawn*
//!   start method ([`spawn`]) — an entry point registered by name in a fresh
//!   `exec` of the current binary. Handles give the pid, `join` with a timeout
//!   (a pidfd in `poll`, no busy-waiting), the exit code (negative signal
//!   number for a signal, as Python), `terminate`, `kill`, names and daemon
//!   children that die with their parent.
//! - A [`Pipe`] makes two connected [`Connection`]s carrying framed messages
//!   of any `serde` type (postcard) or raw bytes, with timeouts, `poll`, and
//!   end-of-stream when the other side closes or dies.
//! - A [`Queue`] (and [`SimpleQueue`], [`JoinableQueue`]) carries messages
//!   between any number of producer and consumer processes over a transport
//!   that moves records atomically — a `coil-shm` ring in shared memory (the
//!   default) or a `SOCK_SEQPACKET` socket — with robust locks around
//!   multi-record messages, so **a process killed at any point of a `put` or
//!   `get` loses at most its own message, and no survivor waits for it**.
//!   Forked children share a queue made before the fork; spawned ones open
//!   one made with [`Queue::create`] by name ([`Queue::open`]).
//! - A [`Pool`] runs one function, fixed at start, in N workers; tasks and
//!   results are `serde` data. A dispatcher thread knows which chunk each
//!   worker is running, so **a worker that dies is replaced and the task it
//!   held fails with [`Error::WorkerDied`]**, never a hang. Tasks travel in
//!   chunks: one frame of postcard encodings back to back per chunk, one
//!   frame of results back, decoded in order straight into the output, so a
//!   trivial task costs a few nanoseconds of encoding and decoding plus its
//!   share of one round trip per chunk.
//!
//! Every bad input is a typed [`Error`]: a message over the limit
//! ([`Error::MessageTooLarge`]), a message of another type
//! ([`Error::Decode`]), a closed queue or pool ([`Error::Closed`]), `join` on
//! a process never started ([`Error::NotStarted`]), an unregistered spawn
//! entry point ([`Error::UnknownEntryPoint`]), a name for a queue on the pipe
//! transport ([`Error::Unsupported`]).
//!
//! # Fork safety
//!
//! After `fork` in a multi-threaded program only the forking thread exists in
//! the child, and any lock another thread held stays held. coil's children
//! run only the closure and leave with `_exit`. coil takes the locks of
//! `stdout`, `stderr` and its own registry across the fork so the child never
//! inherits them held; glibc's malloc and coil-heap's global allocator have
//! their own fork hooks, so allocation is safe in the child. Locks of your
//! own that other threads may hold are yours to judge; when in doubt, use
//! [`Process::spawn`]. Details in the `fork` module's notes.
//!
//! # Modules
//!
//! - [`process`] holds [`Process`]; `fork` (private) holds the only `fork(2)`
//!   call; [`spawn`]: the entry-point registry and [`spawn_main`].
//! - [`pipe`] holds [`Pipe`] and [`Connection`].
//! - [`queue`] holds [`Queue`], [`SimpleQueue`], [`JoinableQueue`] and
//!   [`QueueOptions`]; the record transports live in `transport` (private).
//! - [`pool`] holds [`Pool`], [`AsyncResult`], [`Imap`], [`ImapUnordered`];
//!   the chunk wire format lives in `chunk` (private), the message encoding
//!   in `codec` (private).
//! - [`error`] holds [`Error`].
//!
//! # Examples
//!
//! The seed's example — five workers started and joined (see
//! `examples/multiprocessing_example.rs`):
//!
//! ```
//! use coil_procs::Process;
//!
//! let mut workers: Vec<Process> = (0..5).map(|i| Process::new(move || println!("Worker: {i}"))).collect();
//! for w in &mut workers {
//!     w.start()?;
//! }
//! for w in &mut workers {
//!     w.join(None)?;
//!     assert_eq!(w.exit_code(), Some(0));
//! }
//! # Ok::<(), coil_procs::Error>(())
//! ```
//!
//! A queue between processes, surviving a killed consumer:
//!
//! ```
//! use coil_procs::{Process, Queue};
//!
//! let q: Queue<u64> = Queue::new()?;
//! let c = q.clone();
//! let mut victim = Process::new(move || loop {
//!     let _ = c.get();
//! });
//! victim.start()?;
//! victim.kill()?;
//! victim.join(None)?;
//! q.put(&7)?;
//! assert_eq!(q.get()?, 7);
//! # Ok::<(), coil_procs::Error>(())
//! ```
//!
//! A pool:
//!
//! ```
//! let pool = coil_procs::Pool::new(2, |x: u64| x * x)?;
//! assert_eq!(pool.map(0..4u64)?, [0, 1, 4, 9]);
//! # Ok::<(), coil_procs::Error>(())
//! ```
#![doc(test(attr(deny(warnings))))]

mod chunk;
mod codec;
pub mod error;
mod fork;
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
