//! `coil-threads`: a global interpreter lock with CPython's modern
//! semantics, and Python's `threading` and `queue` toolkit on top.
//!
//! # The problem
//!
//! An interpreter that lets many threads touch one object graph needs a rule
//! for who may touch it when. CPython's rule is the GIL: one thread at a
//! time runs bytecode, which is what lets reference counts stay plain,
//! non-atomic integers. A naive GIL — a mutex the running thread re-locks
//! after every few instructions — gives the *convoy effect*: the thread that
//! just released is still on the CPU and wins the lock again, so a thread
//! waiting to do a little I/O work starves for whole seconds. CPython 3.2's
//! "new GIL" fixed that with three rules, and this crate keeps all three:
//!
//! 1. a waiter that has waited one *switch interval* (5 ms by default,
//!    [`Gil::set_switch_interval`]) sets a *drop request*;
//! 2. the holder polls for it at cheap *checkpoints* (bytecode boundaries,
//!    [`GilGuard::checkpoint`]) and drops the GIL when asked;
//! 3. *forced switching*: the GIL is handed directly to the waiter, so the
//!    old holder cannot take it straight back.
//!
//! And it goes one step further: with [`SwitchPolicy::IoPriority`], a
//! thread coming back from blocking work (`allow_threads`, or any blocking
//! primitive here) asks for the GIL at once and goes first, instead of
//! waiting a whole interval — I/O threads get sub-millisecond latency while
//! CPU-bound threads still switch only once per interval.
//!
//! # The model
//!
//! - [`Gil`] is a value: several may exist (one per interpreter), and
//!   [`Gil::global`] is a process-wide default. Acquiring gives a
//!   [`GilGuard`], a `!Send` proof that the GIL is held; [`GilToken`] is its
//!   `Copy` form for signatures of other crates ("this needs the GIL").
//!   Uncontended acquire is one compare-and-swap and release one atomic
//!   decrement; a checkpoint is one relaxed load while nobody waits (while
//!   somebody does, the holder also reads the clock every 128 checkpoints
//!   and hands over by itself 250 µs after the interval ran out, should the
//!   waiter's timer wake-up come that late). Waiters spin briefly (a hand-off by
//!   spinning costs well under a microsecond, a futex wake-up about 40 µs
//!   across CPUs), then sleep. [`GilStats`] counts acquisitions, switches,
//!   forced switches, drop requests and wait/hold time.
//! - Every blocking call in the crate releases the calling thread's GIL
//!   while it waits, exactly as CPython's blocking calls do.
//! - [`Thread`] is `threading.Thread` (start, join with timeout, name,
//!   ident, native id, daemon, `is_alive`), optionally running holding a
//!   GIL ([`Thread::with_gil`]); with [`current_thread`], [`main_thread`],
//!   [`enumerate`], [`active_count`], [`set_excepthook`] and
//!   [`join_non_daemon`]. [`Local`] is `threading.local`.
//! - The primitives: [`Lock`] (any thread may release it), [`RLock`],
//!   [`Condition`], [`Semaphore`], [`BoundedSemaphore`], [`Event`],
//!   [`Barrier`] (action, abort, broken state) and [`Timer`] (cancel).
//! - The queues: [`Queue`], [`LifoQueue`], [`PriorityQueue`] and
//!   [`SimpleQueue`], with `maxsize`, timeouts, `task_done`/`join` and
//!   Python 3.13's `shutdown`. The FIFO queues ride on crossbeam-channel.
//!
//! Misuse is a typed [`Error`] — releasing an unlocked [`Lock`]
//! ([`Error::NotHeld`]), releasing an [`RLock`] from another thread or
//! waiting on a [`Condition`] without its lock ([`Error::NotOwner`]),
//! over-releasing a [`BoundedSemaphore`] ([`Error::BoundedOverRelease`]),
//! using a broken [`Barrier`] ([`Error::BrokenBarrier`]), calling
//! `task_done` too often ([`Error::TooManyTaskDone`]), joining the current
//! thread ([`Error::JoinSelf`]), acquiring a GIL twice
//! ([`Error::AlreadyHeld`]) — never undefined behaviour or a hang. Timeouts
//! are [`Error::Timeout`] where Python returns `False` or raises
//! `queue.Empty`/`queue.Full`.
//!
//! # Modules
//!
//! `gil` (the lock, its state word and invariants — read it first),
//! `thread`, `local`, `lock`, `rlock`, `condition`, `semaphore`, `event`,
//! `barrier`, `timer`, `queue`, `error`, and `primitive`, which supplies
//! std's or loom's atomics and parking so the loom models in `tests/loom.rs`
//! check the shipping code.
//!
//! # Examples
//!
//! Two CPU-bound threads share one GIL and take turns every interval; an
//! I/O-style wait releases it:
//!
//! ```
//! use std::sync::{Arc, atomic::{AtomicU64, Ordering}};
//! use coil_threads::{Gil, Queue, Thread};
//!
//! let gil = Gil::new();
//! let q = Arc::new(Queue::new(0));
//! let work = Arc::new(AtomicU64::new(0));
//! let threads: Vec<Thread> = (0..2)
//!     .map(|_| {
//!         let (q, work) = (q.clone(), work.clone());
//!         Thread::with_gil(&gil, move |g| {
//!             for _ in 0..10_000 {
//!                 work.fetch_add(1, Ordering::Relaxed);
//!                 g.checkpoint(); // a bytecode boundary
//!             }
//!             q.put("done").unwrap(); // would release the GIL if it blocked
//!         })
//!     })
//!     .collect();
//! for t in &threads { t.start().unwrap(); }
//! for t in &threads { t.join(None).unwrap(); }
//! assert_eq!((q.get(), q.get()), (Ok("done"), Ok("done")));
//! assert_eq!(work.load(Ordering::Relaxed), 20_000);
//! ```
//!
//! Seed 000's "Example: Multithreading":
//!
//! ```
//! fn task() {
//!     println!("Task is running");
//! }
//! let thread = coil_threads::Thread::new(task);
//! thread.start().unwrap();
//! thread.join(None).unwrap();
//! ```
#![doc(test(attr(deny(warnings))))]

mod barrier;
mod condition;
mod error;
mod event;
mod gil;
mod local;
mod lock;
mod primitive;
mod queue;
mod rlock;
mod semaphore;
mod thread;
mod timer;

pub use barrier::Barrier;
pub use condition::{CondLock, Condition};
pub use error::{Error, Result};
pub use event::Event;
pub use gil::{DEFAULT_SWITCH_INTERVAL, Gil, GilGuard, GilStats, GilToken, SwitchPolicy};
pub use local::Local;
pub use lock::Lock;
pub use queue::{LifoQueue, PriorityQueue, Queue, Rejected, SimpleQueue};
pub use rlock::RLock;
pub use semaphore::{BoundedSemaphore, Semaphore};
pub use thread::{
    ExceptHook, ExceptHookArgs, Thread, active_count, current_thread, enumerate, get_ident,
    get_native_id, join_non_daemon, main_thread, set_excepthook, spawn,
};
pub use timer::Timer;
