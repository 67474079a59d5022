//! `coil-threads`: a global interpreter lock with CPython's modern semantics,
//! and Python's `threading` and `queue` toolkit on top.
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
    ExceptHook, ExceptHookArgs, Thread, active_count, current_thread, enumerate, get_native_id,
    join_non_daemon, main_thread, set_excepthook, spawn,
};
pub use timer::Timer;
