//! `coil-heap`: CPython's small-object allocator (pymalloc) for Rust.
//!
//! # The problem
//!
//! Interpreters allocate and free enormous numbers of small objects: an integer, a
//! tuple, a frame, a dict entry. A general-purpose `malloc` pays for generality on every
//! call (size lookups, bin searches, locks or atomics, per-block headers), and memory it
//! has once taken is rarely given back. CPython answered with pymalloc: a private heap
//! for requests of at most 512 bytes, cut into fixed-size blocks with no header, served
//! from a per-size-class free list in a handful of instructions, with memory that goes
//! back to the OS as soon as a whole arena is empty.
//!
//! # The model
//!
//! ```text
//!   OS --mmap--> arena (1 MiB) --cut into--> pools (16 KiB, one size class)
//!                                               \--> blocks (16..512 B, no header)
//! ```
//!
//! * **Size classes** are spaced by 16 bytes: 16, 32, ..., 512 (32 classes). The class
//!   of a request is `(size - 1) >> 4`.
//! * **Pools** hold blocks of one class. Free blocks form a list threaded through the
//!   blocks themselves; blocks never used yet are carved lazily from the pool's end, so
//!   a fresh pool touches one page at a time. The pool header sits at the pool's start,
//!   and pools are aligned to their size, so the header of any block is `ptr & !(16K-1)`.
//! * **Arenas** come from `mmap`, aligned to their size. Each heap keeps its arenas
//!   with free pools sorted fullest first, so new pools come from nearly full arenas and
//!   the others drain; an arena that empties goes back to the OS, except for a reserve
//!   of four kept mapped to absorb batch churn (grown up to 64 for a heap that maps
//!   arenas again right after unmapping some; `trim` resets it). Free pools are taken
//!   lowest address first, so a batch freed and allocated again keeps address order.
//! * **A free cache** of up to 64 freed pointers per class sits in front of the pools
//!   (like a thread cache): a free under churn then touches neither the block nor its
//!   pool header, which is where most of the time went otherwise.
//! * **Large requests** (above 512 bytes, or aligned above 16) go to the system
//!   allocator.
//!
//! [`geometry`] holds every number and why it was chosen.
//!
//! # The faces
//!
//! * [`Heap`]: an unsynchronized heap (`Send`, `!Sync`) owned by one thread or guarded
//!   by a GIL. The fastest path: no atomics, no thread-locals.
//! * [`GlobalHeap`]: a `GlobalAlloc` for `#[global_allocator]`: one heap per thread,
//!   frees from other threads pushed on the owner's lock-free remote list, heaps of
//!   exited threads adopted by new ones, `pthread_atfork` hooks that keep the child of a
//!   `fork()` consistent. See the `global` module docs.
//! * `allocator_api2::alloc::Allocator` for `&Heap` and `GlobalHeap` (feature
//!   `allocator-api2`, on by default): `allocator_api2`/`hashbrown` collections can live
//!   in the heap.
//! * [`Stats`]: the figures of `sys._debugmallocstats()` as a struct and a table.
//! * [`trace`]: `tracemalloc`: start/stop, current and peak traced memory, snapshots,
//!   statistics by call site, comparisons, filters.
//!
//! # Bad input
//!
//! | input | what it gets |
//! |---|---|
//! | zero-size layout | a real, unique 16-byte block (zero size with a big alignment: a system block of one alignment unit); free it with the same layout |
//! | alignment above 16, up to any power of two | the system allocator (`posix_memalign`) |
//! | size near `isize::MAX` | `None` / null (`try_alloc`: [`Error::OutOfMemory`]) |
//! | `realloc` to a size that cannot form a layout | `None` (`try_realloc`: [`Error::InvalidLayout`]); the old block stays live |
//! | OOM (mmap or malloc fails) | `None` / null, never an abort inside the heap |
//! | double free, foreign pointer, wrong layout, interior pointer, block of another `Heap` | debug builds: a panic naming the pointer and the mistake; release builds: undefined behaviour, as for every allocator (the `# Safety` contract of `dealloc`) |
//!
//! # Modules
//!
//! `geometry` (constants) · `sys` (mmap/munmap/madvise, system allocator, fork hooks) ·
//! `arena` (arena header, pool slots) · `pool` (pool header, free list, carving) ·
//! `core_heap` (the engine: free cache, used pools, arena ordering, reserve, remote
//! frees) · `heap` ([`Heap`]) · `global` ([`GlobalHeap`]) · `arena_map` (which addresses
//! are arenas: debug checks, `owns`) · `checks` (debug checks) · `stats` · [`trace`] ·
//! `error`.
//!
//! # Examples
//!
//! An unsynchronized heap:
//!
//! ```
//! use std::alloc::Layout;
//! use coil_heap::Heap;
//!
//! let heap = Heap::new();
//! let layout = Layout::new::<[u64; 8]>();
//! let blocks: Vec<_> = (0..1000).map(|_| heap.alloc(layout).unwrap()).collect();
//! let stats = heap.stats();
//! assert_eq!(stats.classes[3].blocks_in_use, 1000); // the 64-byte class
//! println!("{stats}");
//! for p in blocks {
//!     unsafe { heap.dealloc(p, layout) };
//! }
//! heap.trim(); // give everything back to the OS
//! assert_eq!(heap.stats().arenas_in_use, 0);
//! ```
//!
//! The whole program on the heap:
//!
//! ```
//! #[global_allocator]
//! static A: coil_heap::GlobalHeap = coil_heap::GlobalHeap;
//!
//! let words: Vec<String> = (0..100).map(|i| format!("w{i}")).collect();
//! std::thread::spawn(move || drop(words)).join().unwrap(); // freed by another thread
//! ```
#![cfg_attr(miri, allow(dead_code))]

#[cfg(feature = "allocator-api2")]
mod alloc_api;
mod arena;
mod arena_map;
mod checks;
mod core_heap;
mod error;
pub mod geometry;
mod global;
mod heap;
mod pool;
mod stats;
pub mod sys;
pub mod trace;

pub use error::Error;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
pub use global::GlobalHeap;
pub use heap::Heap;
pub use stats::{ClassStats, Stats};
