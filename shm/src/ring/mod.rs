//! Rings in shared memory: [`MpmcRing`] (fixed-size slots, any number of
//! producers and consumers, survives the death of any of them mid-operation)
//! and [`SpscRing`] (one producer, one consumer, variable-length messages of
//! any size streamed through a byte buffer).
//!
//! Both block by spinning briefly and then sleeping on a futex that works
//! across processes; both detect that the other side is gone (closed, every
//! handle dropped, or its process dead) and report [`Error::Disconnected`]
//! instead of waiting forever. See `core` for the shared control block.
//!
//! [`Error::Disconnected`]: crate::Error::Disconnected

pub(crate) mod core;
pub mod mpmc;
pub mod spsc;

pub use mpmc::{MpmcOptions, MpmcReceiver, MpmcRing, MpmcSender};
pub use spsc::{SpscOptions, SpscReceiver, SpscRing, SpscSender};
