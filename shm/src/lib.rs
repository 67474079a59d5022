//! `coil-shm`: shared memory between processes that is safe by default,
//! cleans up after crashes, and moves data at memory speed.
//!
//! # The problem
//!
//! Python's `multiprocessing.shared_memory` gives processes a named block of
//! bytes, and `multiprocessing.Value`/`Array`/`Queue` build on pipes and
//! locks. Three things go wrong in practice: a segment whose creator dies is
//! leaked until reboot (or unlinked under the feet of a process still using
//! it), a lock whose holder is killed stays locked forever, and every message
//! is pickled and copied through a pipe. This crate gives Rust programs the
//! same model without those failures.
//!
//! # The model
//!
//! * A [`SharedMemory`] is a named POSIX segment (`shm_open` + `mmap`) or an
//!   anonymous one (a `memfd`, inherited across `fork`). Creation is exclusive,
//!   mode `0600` by default, and names are checked against the portable POSIX
//!   rules. Dropping a handle unmaps it; removing the name is
//!   [`SharedMemory::unlink`] — Python's `close()`/`unlink()` split, kept on
//!   purpose so one process can create and others attach.
//! * The [`tracker`] is a small process forked at the first tracked create; it
//!   unlinks whatever the process tree created and never unlinked once the
//!   whole tree is gone, even after `SIGKILL`.
//! * [`SharedValue`] and [`SharedArray`] put plain old data ([`Pod`]) in a
//!   segment next to a POSIX *robust* process-shared mutex: when a holder dies,
//!   the next locker is told ([`LockGuard::owner_died`]) and may repair the data
//!   and [`mark it consistent`](LockGuard::mark_consistent). Integers can also
//!   be used in place as atomics ([`AtomicPod`]).
//! * [`ShareableList`] is Python's fixed-length list of ints, floats, bools,
//!   `None`, strings and bytes in one segment.
//! * [`MpmcRing`] and [`SpscRing`] are message rings in shared memory. Blocking
//!   calls spin briefly, then sleep on a futex shared across processes; they
//!   time out on request and report [`Error::Disconnected`] when the other side
//!   is closed, dropped or dead. The MPMC ring keeps a per-slot state word that
//!   names the process working on it, so a producer or consumer killed in the
//!   middle of an operation costs at most its own message, never a wedged ring.
//!   Publishing a message costs no locked instruction and no system call
//!   while nobody sleeps: a waiter raises a flag and runs the expensive half
//!   of an asymmetric barrier (`membarrier`) before it sleeps, so the sender
//!   only reads the flag. The SPSC ring publishes each message in band (a
//!   tagged header the receiver polls in the message's own cache line, so
//!   neither side reads a line the other writes per message), sends groups with one
//!   publication ([`SpscSender::send_many`]) and moves messages without a
//!   copy ([`SpscSender::send_with`], [`SpscReceiver::recv_with`]).
//!
//! # Modules
//!
//! | module | holds |
//! |---|---|
//! | [`segment`] | `SharedMemory`, name validation, options |
//! | [`tracker`] | the resource tracker process |
//! | [`pod`] | the `Pod` and `AtomicPod` marker traits |
//! | [`value`] | `SharedValue`, `SharedArray`, `LockGuard` (robust lock inside) |
//! | [`shareable_list`] | `ShareableList` and `Item` |
//! | [`ring`] | `MpmcRing`, `SpscRing` and their senders and receivers |
//!
//! Every raw system call goes through a private `sys` module (futexes,
//! membarrier, pid liveness, memfd); every fallible call returns [`Error`], whose variants
//! name the bad input (`InvalidName`, `InvalidSize`, `OutOfBounds`,
//! `NotFound`, `AlreadyExists`, ...).
//!
//! # Examples
//!
//! A counter shared by forked children, exact under its lock:
//!
//! ```
//! use coil_shm::SharedValue;
//!
//! let total = SharedValue::anonymous(0u64)?;
//! // SAFETY (of the example): the child only touches `total` and exits.
//! let pid = unsafe { libc::fork() };
//! if pid == 0 {
//!     for _ in 0..1000 {
//!         *total.lock().unwrap() += 1;
//!     }
//!     unsafe { libc::_exit(0) };
//! }
//! for _ in 0..1000 {
//!     *total.lock()? += 1;
//! }
//! unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
//! assert_eq!(total.get()?, 2000);
//! # Ok::<(), coil_shm::Error>(())
//! ```
//!
//! Two processes talking through a named ring:
//!
//! ```
//! use coil_shm::{MpmcOptions, MpmcRing};
//!
//! let name = format!("coil-doc-lib-{}", std::process::id());
//! let ring = MpmcRing::create(&name, &MpmcOptions::new().slots(64).slot_size(256))?;
//! let tx = MpmcRing::open(&name)?.sender()?; // as another process would
//! let rx = ring.receiver()?;
//! tx.send(b"work item")?;
//! assert_eq!(rx.recv()?, b"work item");
//! ring.segment().unlink()?;
//! # Ok::<(), coil_shm::Error>(())
//! ```
//!
//! # Platform
//!
//! Linux (futexes, `memfd_create`, `membarrier` — optional: without it
//! senders fence every message and sleepers nap at most 1 ms —, `/proc` for
//! zombie detection, robust mutexes from glibc or musl).
#![doc(test(attr(deny(warnings), allow(dead_code, unused_variables))))]

mod error;
pub mod futex;
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

/// The README's examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
