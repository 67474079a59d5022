//! The rest of this page is the project README; its examples are tested.
#![doc = include_str!("../README.md")]

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
