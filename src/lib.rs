//! # coil
//!
//! CPython's memory-management and concurrency model, rebuilt in Rust as a
//! workspace of crates that can be used one at a time or together. This facade
//! re-exports each crate behind a feature of the same name (all on by default):
//!
//! - [`heap`]: the arena/pool/block small-object allocator (pymalloc), stats and
//!   tracemalloc-style tracing.
//! - [`refcount`]: counted references, weak references with callbacks, immortal
//!   objects, destruction that never overflows the stack.
//! - [`gc`]: the generational cycle collector and the `gc` module surface.
//! - [`threads`]: the global interpreter lock and Python's threading and queue
//!   toolkit.
//! - [`shm`]: named and anonymous shared memory, shared values, rings.
//! - [`procs`]: processes, pipes, queues and pools across processes.

#[cfg(feature = "heap")]
#[doc(inline)]
pub use coil_heap as heap;

#[cfg(feature = "refcount")]
#[doc(inline)]
pub use coil_refcount as refcount;

#[cfg(feature = "gc")]
#[doc(inline)]
pub use coil_gc as gc;

#[cfg(feature = "threads")]
#[doc(inline)]
pub use coil_threads as threads;

#[cfg(feature = "shm")]
#[doc(inline)]
pub use coil_shm as shm;

#[cfg(feature = "procs")]
#[doc(inline)]
pub use coil_procs as procs;
