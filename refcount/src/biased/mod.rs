//! Biased reference counting (PEP 703): [`Brc<T, A>`](Brc), a thread-safe
//! handle whose owner thread counts without atomic instructions.
//!
//! # The problem
//!
//! A thread-safe count ([`Arc`](crate::Arc)) pays a locked read-modify-write
//! for every clone and drop, even when — as for most objects in a
//! free-threaded Python — only the thread that created the object ever
//! touches it. CPython 3.13's free-threaded build splits the count in two
//! (PEP 703, after Choi et al., "Biased reference counting", PACT 2018): the
//! owner thread counts in a local field with plain loads and stores, other
//! threads count atomically in a shared field, and the two are merged when
//! the owner lets go.
//!
//! # The model
//!
//! A `Brc` box is an ordinary [`RcBox`](crate::raw::RcBox) whose prefix is
//! the owner id and the shared word; the header's strong count is the local
//! count:
//!
//! ```text
//!   [ owner | shared = (count << 2) | state ][ Header: strong = local | weak | flags ][ T ][ A ]
//!     state: DEFAULT → QUEUED → MERGED, or DEFAULT → MERGED
//! ```
//!
//! - **Owner thread** (its thread-local id equals `owner`): clone and drop are
//!   one thread-local read, a compare and a relaxed load + store of `local`.
//!   When `local` reaches 0 the owner gives up ownership: `owner = 0`, the
//!   state becomes MERGED; if nothing was shared the object dies at once.
//! - **Other threads**: clone is one atomic add on `shared`; drop is a
//!   compare-and-swap loop. In MERGED state, reaching zero destroys. In
//!   DEFAULT state at count 0 the handle may have been made by the owner
//!   (counted locally): the count is not taken below zero; the state becomes
//!   QUEUED and the object is handed to the owner's queue, which keeps that
//!   reference until the owner merges it.
//! - **Merging** (`total = local + shared − 1`, `owner = 0`, state MERGED,
//!   destroyed when `total` is 0) happens when the owner calls
//!   [`merge_pending`], every [`MERGE_EVERY`]-th `Brc::new` on the owner
//!   thread, and when the owner thread exits (in its thread-local
//!   destructors: `JoinHandle::join` waits for them, the end of a
//!   `thread::scope` may not). If the owner has already
//!   exited, the dropping thread merges the object itself.
//! - Destruction goes through the crate's trashcan
//!   ([`RcBox::dispose`](crate::raw::RcBox::dispose)), so long chains of
//!   `Brc`s drop in constant stack.
//!
//! A queued object's memory is reclaimed when its owner next merges: a
//! bounded delay (the owner's next [`MERGE_EVERY`] allocations, an explicit
//! [`merge_pending`], or its exit), not a leak. An owner thread that neither
//! allocates `Brc`s nor exits (say, a main thread parked forever) keeps its
//! queued objects until it does; call [`merge_pending`] in such a thread's
//! loop. On the main thread, thread-locals are not destroyed at process exit,
//! so objects still queued there are not freed then (the process ends).
//!
//! # Cost
//!
//! Measured with `cargo bench -p coil-bench --bench refcount -- clone-drop`
//! (x86-64, 2 shared cores, ns per clone+drop pair, three quiet runs): on
//! the owner thread `Brc` takes 1.8–2.2 ns against 4.0–4.7 for std `Arc`
//! (about 0.45×) and 1.2–1.5 for std `Rc` — one thread-local read and one
//! compare more than `Rc`. With a second, non-owner thread cloning and
//! dropping the same object, the owner's pair takes 5.1–6.8 ns against
//! 6.9–25.7 for std `Arc`: the owner no longer contends with a locked
//! instruction, though the shared word still sits in the same cache line.
//!
//! # What `Brc` does not have
//!
//! No weak handles, callbacks, finalizers or immortality (they would need a
//! second biased count or a merged-only mode; [`Arc`](crate::Arc) has them
//! all), no `get_mut`/`try_unwrap`/`into_raw`. `strong_count` is exact only
//! when nothing runs concurrently and no merge is pending.
//!
//! # Misuse
//!
//! - Count overflow (2^62 handles counted on the owner thread, or 2^60 on
//!   others; only reachable by leaking handles with `mem::forget`) aborts the
//!   process, as std does.
//! - An allocator that fails gives [`Error::AllocFailed`](crate::Error) from
//!   [`Brc::try_new_in`] (the value is dropped); `new`/`new_in` abort through
//!   `handle_alloc_error`, as std does.
//!
//! # Invariants
//!
//! 1. The local count (`Header::strong`) is written only by the owner thread
//!    while it is registered, with relaxed loads and stores (never a plain
//!    non-atomic access: other threads may read it), and afterwards only by
//!    the single thread that merges the object (the exiting owner, or the
//!    thread holding the queue's reference after the owner left the
//!    registry, ordered by the registry lock).
//! 2. Thread ids are never reused, and a thread compares equal to a box's
//!    owner only while it is that owner and registered
//!    ([`registry`](self) invariant 1).
//! 3. The shared word obeys the [`shared`](self) invariants: live handles =
//!    local + count − (1 while queued); exactly one thread sees the object
//!    die and hands it to `dispose`.
//! 4. Each queued object is merged exactly once (registry invariant 3).
//!
//! # Examples
//!
//! ```
//! use coil_refcount::biased::{Brc, merge_pending};
//!
//! let config = Brc::new(String::from("shared config"));
//! let handles: Vec<_> = (0..4)
//!     .map(|_| {
//!         let c = config.clone(); // owner: no atomic instruction
//!         std::thread::spawn(move || c.len()) // dropped there: atomic
//!     })
//!     .collect();
//! for h in handles {
//!     assert_eq!(h.join().unwrap(), 13);
//! }
//! merge_pending();
//! assert_eq!(Brc::strong_count(&config), 1);
//! ```

mod handle;
mod registry;
mod shared;
#[cfg(test)]
mod tests;

pub use handle::Brc;
pub use registry::{MERGE_EVERY, merge_pending};
