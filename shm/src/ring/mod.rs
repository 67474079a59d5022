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
//! # Handles across `fork`
//!
//! Ring ends behave like pipe ends. A sender or receiver alive when the
//! process forks is inherited by the child and counts as a live end until
//! the child drops it or dies — registered for the child before `fork`
//! returns, so there is no moment at which the ring looks abandoned. A child
//! that will not use an inherited end should drop it (or the parent should
//! create ends after forking), or the other side will wait for that child
//! instead of seeing [`Error::Disconnected`]. `exec` does not drop ends
//! (the pid lives on); processes started with `posix_spawn` (what
//! `std::process::Command` uses) inherit nothing. The ring objects
//! ([`MpmcRing`], [`SpscRing`]) are not ends and are free to share.
//!
//! [`Error::Disconnected`]: crate::Error::Disconnected

pub(crate) mod core;
pub mod mpmc;
pub mod spsc;

pub use mpmc::{MpmcOptions, MpmcReceiver, MpmcRing, MpmcSender};
pub use spsc::{SpscOptions, SpscReceiver, SpscRing, SpscSender};
