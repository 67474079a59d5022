//! The global interpreter lock: CPython's "new GIL" (switch interval, drop
//! requests, forced switching), with a single-CAS fast path.
//!
//! # State word
//!
//! One `AtomicU32`, alone on its cache line (`CachePadded`), holds three bits:
//!
//! ```text
//!   bit 0  LOCKED  a thread holds the GIL
//!   bit 1  QUEUED  the waiter queue is non-empty (only changed under `queue`)
//!   bit 2  DROP    a waiter asks the holder to drop at its next checkpoint
//! ```
//!
//! - Uncontended acquire is one CAS `0 -> LOCKED` (what `std`'s futex mutex
//!   does); uncontended release is one `fetch_sub(LOCKED)` — a single
//!   locked instruction that cannot fail, cheaper than a CAS here — which
//!   leaves every other bit as it was. If the old value had any other bit
//!   set, the releaser goes on to the slow path, which takes the `queue`
//!   mutex and hands the GIL on. Any other bit also makes the acquire CAS
//!   fail and sends the caller to the slow path.
//! - `checkpoint()` is one relaxed load testing `DROP | QUEUED`. Only while
//!   somebody is queued does it count, and every `CHECK_EVERY`-th time
//!   compare the clock with `head_ask`, the moment the first waiter's
//!   interval runs out: a waiter's timer wake-up can come milliseconds late
//!   on a busy machine (the scheduler lets the running thread finish its
//!   slice), and the holder, running anyway, need not wait for it more
//!   than `HOLDER_GRACE`.
//!
//! # Invariants
//!
//! 1. `QUEUED` is set iff `queue` is non-empty; both change only while the
//!    `queue` mutex is held.
//! 2. A waiter announces itself under the mutex with one `fetch_or(QUEUED)`
//!    (a CAS loop could lose forever against a holder that releases and
//!    re-acquires in a tight loop). If the GIL was free and nobody else is
//!    queued it takes it at once; otherwise it enqueues. From then on every
//!    fast acquire fails and every release goes to the slow path (under the
//!    same mutex), which sees the waiter: no wake-up is lost.
//! 3. `LOCKED` is cleared only by a holder's `fetch_sub`. If that finds
//!    other bits set, the releaser takes the mutex and, if the queue is
//!    non-empty, sets `LOCKED` again on behalf of the first waiter — unless
//!    someone already did — pops it and sets its `granted` flag. So while
//!    the queue is non-empty and `LOCKED` is clear, a releaser is on its way
//!    to hand over, and a thread arriving under the mutex queues behind the
//!    others instead of taking the GIL. Nobody else can take the GIL in
//!    between, so the waiter that was asked for gets it (forced switching)
//!    and the old holder cannot take it straight back.
//! 4. A waiter that has waited one switch interval sets `DROP`; the holder
//!    also notices on its own that the first waiter's interval has run out
//!    (`head_ask`), so the switch waits at most `HOLDER_GRACE` for the
//!    waiter's timer wake-up. The holder's next `checkpoint()` then, under the mutex,
//!    hands the GIL (still `LOCKED`) to the head of the queue and queues
//!    itself at the back. A hand-off clears `DROP`; so does any slow path
//!    that finds the queue empty (the request was stale: its waiter timed
//!    out or was served) — and then the holder keeps the GIL.
//! 5. A waiter that gives up (timeout) removes itself under the mutex; if it
//!    finds it was granted meanwhile, it owns the GIL and returns success.
//! 6. The shared state of a `Gil` is never freed: it is allocated once and
//!    leaked (`&'static`), and when the last handle goes it is put in a pool
//!    for the next `Gil::new` — but only if it is unlocked and nobody waits;
//!    otherwise it stays as it is. So the raw pointer the holder keeps in the
//!    thread-local `CURRENT` is always valid, even if a guard is leaked with
//!    `mem::forget`; `release_while` also holds a handle while the GIL is
//!    released, so the state cannot be recycled under it.
//!
//! # Policies
//!
//! [`SwitchPolicy::Interval`] is CPython's: every waiter asks for a drop only
//! after waiting a full interval. [`SwitchPolicy::IoPriority`] goes further: a
//! thread coming back from [`GilGuard::allow_threads`] (or from any blocking
//! primitive of this crate) was doing I/O, so it queues ahead of ordinary
//! waiters (FIFO among such) and asks for a drop at once; CPU-bound threads switch only
//! every interval, so they lose no throughput.

use std::{
    cell::Cell,
    collections::VecDeque,
    fmt,
    marker::PhantomData,
    ptr,
    sync::OnceLock,
    time::{Duration, Instant},
};

use crossbeam_utils::CachePadded;

use crate::{
    error::{Error, Result},
    primitive::{self, Arc, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Mutex, Ordering, Thread},
};

/// Idle GIL states, reused by `Gil::new` (invariant 6).
#[cfg(not(coil_loom))]
fn pool() -> &'static std::sync::Mutex<Vec<&'static Shared>> {
    static POOL: std::sync::Mutex<Vec<&'static Shared>> = std::sync::Mutex::new(Vec::new());
    &POOL
}

const LOCKED: u32 = 1;
const QUEUED: u32 = 2;
const DROP: u32 = 4;

/// How long a queued waiter watches its `granted` flag before it parks,
/// first spinning, then yielding its CPU between looks. A futex wake-up
/// across CPUs costs about 40 µs here, so a waiter that is still watching
/// when the GIL comes saves that, and two threads passing the GIL back and
/// forth never sleep. Each look is one load; a waiter behind a CPU-bound
/// holder gives up after this long and parks.
#[cfg(not(coil_loom))]
const WATCH: Duration = Duration::from_micros(50);
/// Of `WATCH`, the part spent spinning before yielding starts.
#[cfg(not(coil_loom))]
const WATCH_SPIN: Duration = Duration::from_micros(5);

/// Compare-and-swap attempts on a free GIL before a waiter queues. Kept
/// short: a waiter that is not queued is invisible to a releasing holder,
/// which may take the GIL straight back (barging); once queued, the waiter
/// gets a direct hand-off.
#[cfg(not(coil_loom))]
const PRE_SPINS: u32 = 16;
#[cfg(coil_loom)]
const PRE_SPINS: u32 = 1;

/// Watches a waiter's `granted` flag for a while (`WATCH`); returns whether
/// it was set.
#[cfg(not(coil_loom))]
fn watch(granted: &AtomicU8) -> bool {
    let start = Instant::now();
    loop {
        for _ in 0..64 {
            if granted.load(Ordering::Acquire) != 0 {
                return true;
            }
            primitive::spin_loop();
        }
        let t = start.elapsed();
        if t >= WATCH {
            return false;
        }
        if t >= WATCH_SPIN {
            std::thread::yield_now();
        }
    }
}

/// Under loom every look is a scheduling point: one keeps the model small.
#[cfg(coil_loom)]
fn watch(granted: &AtomicU8) -> bool {
    primitive::spin_loop();
    granted.load(Ordering::Acquire) != 0
}

/// While somebody is queued, the holder reads the clock at every this many
/// checkpoints to see whether the first waiter's interval has run out.
/// Checkpoints come every few tens of nanoseconds in CPU-bound code, so
/// the request is noticed within microseconds of the interval's end; the
/// clock read (about 25 ns) costs a fraction of a percent.
const CHECK_EVERY: u32 = 128;

/// How late the first waiter's own drop request may be before the holder
/// hands over on its own. On an idle machine the waiter's timer wake-up
/// comes well within this, and it asks while it is running, so it takes
/// the GIL at once; the holder steps in only when that wake-up is late (a
/// busy machine), instead of running on for milliseconds more. It does not
/// step in earlier: a waiter that is not running yet would leave the GIL
/// idle until it is.
const HOLDER_GRACE: Duration = Duration::from_micros(250);

/// CPython's default switch interval (`sys.getswitchinterval()`).
pub const DEFAULT_SWITCH_INTERVAL: Duration = Duration::from_millis(5);

#[cfg(not(coil_loom))]
thread_local! {
    static CURRENT: Cell<*const Shared> = const { Cell::new(ptr::null()) };
}
#[cfg(coil_loom)]
loom::thread_local! {
    static CURRENT: Cell<*const Shared> = Cell::new(ptr::null());
}

#[inline]
fn current_ptr() -> *const Shared {
    CURRENT.with(|c| c.get())
}

#[inline]
fn set_current(p: *const Shared) {
    CURRENT.with(|c| c.set(p));
}

/// When a waiter asks the holder to drop the GIL.
///
/// # Examples
///
/// ```
/// use coil_threads::{Gil, SwitchPolicy};
///
/// let gil = Gil::with_policy(SwitchPolicy::IoPriority);
/// assert_eq!(gil.policy(), SwitchPolicy::IoPriority);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SwitchPolicy {
    /// CPython's: a waiter asks for a drop after one switch interval.
    #[default]
    Interval,
    /// A thread returning from `allow_threads` or a blocking primitive asks
    /// at once and goes first; others wait an interval as in `Interval`.
    IoPriority,
}

/// Counters of one GIL, as returned by [`Gil::stats`].
///
/// `hold_time` is only measured when timing is on ([`Gil::set_timing`]),
/// because it costs two clock reads per acquisition.
///
/// # Examples
///
/// ```
/// use coil_threads::Gil;
///
/// let gil = Gil::new();
/// gil.with(|_g| ()).unwrap();
/// assert_eq!(gil.stats().acquisitions, 1);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GilStats {
    /// Successful acquisitions, fast and slow.
    pub acquisitions: u64,
    /// Acquisitions that had to wait (slow path).
    pub contended: u64,
    /// Direct hand-offs from a releasing holder to a waiter.
    pub switches: u64,
    /// Hand-offs made at a `checkpoint()` because of a drop request.
    pub forced_switches: u64,
    /// Drop requests: set by waiters, or noticed by the holder when the
    /// first waiter's interval ran out.
    pub drop_requests: u64,
    /// Total time threads spent waiting in the slow path.
    pub wait_time: Duration,
    /// Total time the GIL was held (only while timing is on).
    pub hold_time: Duration,
}

struct Waiter {
    granted: AtomicU8,
    /// When its switch interval runs out, in nanoseconds since `epoch`
    /// (`u64::MAX`: never).
    ask_ns: u64,
    /// Queued ahead of ordinary waiters (I/O priority); FIFO among these.
    urgent: bool,
    thread: Thread,
}

#[derive(Default)]
struct Stats {
    acquisitions: AtomicU64,
    contended: AtomicU64,
    switches: AtomicU64,
    forced: AtomicU64,
    drops: AtomicU64,
    /// Drop requests the holder noticed itself (written by the holder).
    holder_drops: AtomicU64,
    wait_ns: AtomicU64,
    hold_ns: AtomicU64,
    acquired_at: AtomicU64,
}

pub(crate) struct Shared {
    state: CachePadded<AtomicU32>,
    queue: Mutex<VecDeque<Arc<Waiter>>>,
    /// `ask_ns` of the first queued waiter (`u64::MAX` if none), written
    /// under the `queue` mutex, read by the holder at checkpoints.
    head_ask: AtomicU64,
    interval_ns: AtomicU64,
    policy: AtomicU8,
    timing: AtomicU8,
    epoch: Instant,
    handles: AtomicUsize,
    stats: CachePadded<Stats>,
}

/// Adds one to a counter only the GIL holder writes: a load and a store, no
/// locked instruction.
#[inline]
fn bump_owned(c: &AtomicU64, by: u64) {
    c.store(
        c.load(Ordering::Relaxed).wrapping_add(by),
        Ordering::Relaxed,
    );
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Shared {
    fn new(policy: SwitchPolicy) -> Self {
        Shared {
            state: CachePadded::new(AtomicU32::new(0)),
            queue: Mutex::new(VecDeque::new()),
            head_ask: AtomicU64::new(u64::MAX),
            interval_ns: AtomicU64::new(nanos(DEFAULT_SWITCH_INTERVAL)),
            policy: AtomicU8::new(policy as u8),
            timing: AtomicU8::new(0),
            epoch: Instant::now(),
            handles: AtomicUsize::new(1),
            stats: CachePadded::new(Stats::default()),
        }
    }

    /// A state for a new `Gil`: a recycled one, or a new leaked one.
    fn obtain(policy: SwitchPolicy) -> &'static Shared {
        #[cfg(not(coil_loom))]
        {
            let recycled = pool().lock().ok().and_then(|mut p| p.pop());
            if let Some(s) = recycled {
                s.interval_ns
                    .store(nanos(DEFAULT_SWITCH_INTERVAL), Ordering::Relaxed);
                s.policy.store(policy as u8, Ordering::Relaxed);
                s.timing.store(0, Ordering::Relaxed);
                let st = &s.stats;
                for c in [
                    &st.acquisitions,
                    &st.contended,
                    &st.switches,
                    &st.forced,
                    &st.drops,
                    &st.holder_drops,
                    &st.wait_ns,
                    &st.hold_ns,
                    &st.acquired_at,
                ] {
                    c.store(0, Ordering::Relaxed);
                }
                s.handles.store(1, Ordering::Release);
                return s;
            }
        }
        Box::leak(Box::new(Shared::new(policy)))
    }

    /// The last handle went: recycle the state if it is idle.
    fn retire(&'static self) {
        #[cfg(not(coil_loom))]
        {
            let idle =
                self.state.load(Ordering::Acquire) == 0 && primitive::lock(&self.queue).is_empty();
            if idle {
                if let Ok(mut p) = pool().lock() {
                    p.push(self);
                }
            }
        }
    }

    fn policy(&self) -> SwitchPolicy {
        if self.policy.load(Ordering::Relaxed) == SwitchPolicy::IoPriority as u8 {
            SwitchPolicy::IoPriority
        } else {
            SwitchPolicy::Interval
        }
    }

    /// Tries the fast path once.
    #[inline]
    fn try_lock_fast(&self) -> bool {
        self.state
            .compare_exchange(0, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Bookkeeping once the calling thread owns the GIL: one plain
    /// increment (only the holder writes the counter); the clock is read
    /// out of line, only while timing is on.
    #[inline]
    fn on_acquired(&self) {
        bump_owned(&self.stats.acquisitions, 1);
        if self.timing.load(Ordering::Relaxed) != 0 {
            self.timed_acquired();
        }
    }

    #[cold]
    #[inline(never)]
    fn timed_acquired(&self) {
        let now = nanos(self.epoch.elapsed());
        self.stats.acquired_at.store(now, Ordering::Relaxed);
    }

    /// Bookkeeping just before the calling thread gives the GIL up: one
    /// load unless timing is on.
    #[inline]
    fn on_releasing(&self) {
        if self.timing.load(Ordering::Relaxed) != 0 {
            self.timed_releasing();
        }
    }

    #[cold]
    #[inline(never)]
    fn timed_releasing(&self) {
        let now = nanos(self.epoch.elapsed());
        let at = self.stats.acquired_at.load(Ordering::Relaxed);
        if at != 0 && now > at {
            bump_owned(&self.stats.hold_ns, now - at);
        }
    }

    /// Blocks until the calling thread owns the GIL, or the deadline passes.
    /// `io` marks a thread coming back from blocking work.
    #[cold]
    #[inline(never)]
    fn lock_slow(&self, io: bool, deadline: Option<Instant>) -> Result<()> {
        // Spin briefly: catches a holder that is just releasing.
        for _ in 0..PRE_SPINS {
            let s = self.state.load(Ordering::Relaxed);
            if s & (LOCKED | QUEUED) == 0
                && self
                    .state
                    .compare_exchange_weak(s, s | LOCKED, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                return Ok(());
            }
            primitive::spin_loop();
        }
        let start = Instant::now();
        let urgent = io && self.policy() == SwitchPolicy::IoPriority;
        let interval = Duration::from_nanos(self.interval_ns.load(Ordering::Relaxed));
        let ask_at = start.checked_add(interval);
        let me = Arc::new(Waiter {
            granted: AtomicU8::new(0),
            ask_ns: ask_at.map_or(u64::MAX, |a| nanos(a.duration_since(self.epoch))),
            urgent,
            thread: primitive::current(),
        });
        {
            let mut q = primitive::lock(&self.queue);
            // Announce ourselves with one unconditional `fetch_or`: a CAS
            // loop could lose forever against a holder that releases and
            // re-acquires in a tight loop. With `QUEUED` set, every fast
            // path (acquire and release) fails, so only threads holding the
            // queue mutex — us now — can change `LOCKED`.
            let urgent_bit = if urgent { DROP } else { 0 };
            let prev = self.state.fetch_or(QUEUED | urgent_bit, Ordering::AcqRel);
            if prev & LOCKED == 0 && q.is_empty() {
                // It was free and nobody waits: take it. (Free with waiters
                // queued means a releaser is on its way to hand the GIL to
                // the first of them, invariant 3: queue behind them.)
                // Withdraw our own drop request, not one set by another.
                let own_drop = urgent_bit & !prev;
                let mut cur = prev | QUEUED | urgent_bit;
                loop {
                    let next = (cur | LOCKED) & !own_drop & !QUEUED;
                    match self.state.compare_exchange_weak(
                        cur,
                        next,
                        Ordering::Acquire,
                        Ordering::Relaxed,
                    ) {
                        Ok(_) => return Ok(()),
                        Err(c) => cur = c,
                    }
                }
            }
            if urgent {
                self.stats.drops.fetch_add(1, Ordering::Relaxed);
                // Behind earlier urgent waiters, ahead of the others.
                let pos = q.iter().take_while(|w| w.urgent).count();
                q.insert(pos, Arc::clone(&me));
            } else {
                q.push_back(Arc::clone(&me));
            }
            self.note_head(&q);
        }
        self.stats.contended.fetch_add(1, Ordering::Relaxed);
        let mut requested = urgent;
        loop {
            if watch(&me.granted) {
                return self.waited(start);
            }
            let until = match (requested, ask_at, deadline) {
                (false, Some(a), Some(d)) => Some(a.min(d)),
                (false, Some(a), None) => Some(a),
                (_, _, d) => d,
            };
            primitive::park(until);
            if me.granted.load(Ordering::Acquire) != 0 {
                return self.waited(start);
            }
            let now = Instant::now();
            // An interval too long to represent as an instant never elapses.
            if !requested && ask_at.is_some_and(|a| now >= a) {
                requested = true;
                self.state.fetch_or(DROP, Ordering::Relaxed);
                self.stats.drops.fetch_add(1, Ordering::Relaxed);
            }
            if deadline.is_some_and(|d| now >= d) {
                let mut q = primitive::lock(&self.queue);
                if me.granted.load(Ordering::Acquire) != 0 {
                    drop(q);
                    return self.waited(start);
                }
                q.retain(|w| !Arc::ptr_eq(w, &me));
                self.note_head(&q);
                if q.is_empty() {
                    self.state.fetch_and(!QUEUED, Ordering::Relaxed);
                }
                return Err(Error::Timeout);
            }
        }
    }

    fn waited(&self, start: Instant) -> Result<()> {
        bump_owned(&self.stats.wait_ns, nanos(start.elapsed()));
        Ok(())
    }

    /// Releases the GIL held by the calling thread.
    #[inline]
    fn unlock(&self) {
        self.on_releasing();
        self.unlock_raw();
    }

    /// Pops the first waiter and grants it the GIL, which the caller holds
    /// (`LOCKED` set) on its behalf, under the queue mutex `q`. With nobody
    /// queued, clears a stale `DROP` and returns `false`: the caller keeps
    /// the GIL.
    fn hand_off(
        &self,
        mut q: primitive::MutexGuard<'_, VecDeque<Arc<Waiter>>>,
        forced: bool,
    ) -> bool {
        match q.pop_front() {
            Some(w) => {
                self.note_head(&q);
                let clear = if q.is_empty() { QUEUED | DROP } else { DROP };
                self.state.fetch_and(!clear, Ordering::Relaxed);
                bump_owned(&self.stats.switches, 1);
                if forced {
                    bump_owned(&self.stats.forced, 1);
                }
                w.granted.store(1, Ordering::Release);
                drop(q);
                w.thread.unpark();
                true
            }
            None => {
                self.state.fetch_and(!DROP, Ordering::Relaxed);
                false
            }
        }
    }

    /// The rest of a release whose `fetch_sub` found other bits set:
    /// `LOCKED` is already clear. Hands the GIL to the first waiter
    /// (invariant 3), or clears a stale `DROP` if nobody waits.
    #[cold]
    #[inline(never)]
    fn unlock_slow(&self) {
        let q = primitive::lock(&self.queue);
        if q.is_empty() {
            // Nobody waits, so any `DROP` is stale; the GIL stays free (or
            // with whoever took it since).
            self.state.fetch_and(!DROP, Ordering::Relaxed);
            return;
        }
        // Take `LOCKED` back on behalf of the first waiter, unless a thread
        // took the GIL while the queue was briefly empty: that holder's own
        // release will hand over.
        if self.state.fetch_or(LOCKED, Ordering::Acquire) & LOCKED == 0 {
            self.hand_off(q, false);
        }
    }

    /// Publishes when the first queued waiter's interval runs out; called
    /// under the `queue` mutex after every change to the queue.
    fn note_head(&self, q: &VecDeque<Arc<Waiter>>) {
        let at = q.front().map_or(u64::MAX, |w| w.ask_ns);
        self.head_ask.store(at, Ordering::Relaxed);
    }

    /// A checkpoint with somebody queued (every `CHECK_EVERY`-th one) or a
    /// drop request: hands over if a drop was requested or if the first
    /// waiter's interval ran out more than `HOLDER_GRACE` ago — the holder
    /// does not rely on that waiter's timer wake-up, which the scheduler
    /// may deliver late.
    #[inline(never)]
    fn checkpoint_slow(&self, state: u32) {
        if state & DROP == 0 {
            let due = self.head_ask.load(Ordering::Relaxed);
            let due = due.saturating_add(nanos(HOLDER_GRACE));
            if due == u64::MAX || nanos(self.epoch.elapsed()) < due {
                return;
            }
            bump_owned(&self.stats.holder_drops, 1);
        }
        self.yield_slow();
    }

    /// The holder honours a drop request: hand over, then queue again.
    #[cold]
    #[inline(never)]
    fn yield_slow(&self) {
        self.on_releasing();
        if self.hand_off(primitive::lock(&self.queue), true) {
            // Cannot time out without a deadline.
            let _ = self.lock_slow(false, None);
            self.on_acquired();
        } else if self.timing.load(Ordering::Relaxed) != 0 {
            // Nobody waits any more: the request was stale and is cleared;
            // the holder keeps the GIL, its hold time restarts.
            let now = nanos(self.epoch.elapsed());
            self.stats.acquired_at.store(now, Ordering::Relaxed);
        }
    }
}

/// A global interpreter lock.
///
/// Cloning a `Gil` gives another handle to the same lock. Several
/// independent GILs may exist (one per interpreter); [`Gil::global`] is the
/// process-wide default.
///
/// # Examples
///
/// ```
/// use coil_threads::Gil;
///
/// let gil = Gil::new();
/// let mut g = gil.acquire().unwrap();
/// g.checkpoint(); // a "bytecode boundary": cheap unless a waiter asked
/// let n = g.allow_threads(|| 6 * 7); // released around blocking work
/// assert_eq!(n, 42);
/// drop(g);
/// ```
pub struct Gil {
    shared: &'static Shared,
}

impl Clone for Gil {
    fn clone(&self) -> Self {
        Gil::from_shared(self.shared)
    }
}

impl Drop for Gil {
    fn drop(&mut self) {
        if self.shared.handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.retire();
        }
    }
}

impl fmt::Debug for Gil {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gil")
            .field("locked", &self.is_locked())
            .field("policy", &self.policy())
            .field("switch_interval", &self.switch_interval())
            .finish()
    }
}

impl Default for Gil {
    fn default() -> Self {
        Gil::new()
    }
}

impl PartialEq for Gil {
    fn eq(&self, other: &Self) -> bool {
        ptr::eq(self.shared, other.shared)
    }
}

impl Eq for Gil {}

impl Gil {
    /// A new, unlocked GIL with CPython's policy and a 5 ms switch interval.
    ///
    /// # Examples
    ///
    /// ```
    /// let gil = coil_threads::Gil::new();
    /// assert!(!gil.is_locked());
    /// ```
    pub fn new() -> Self {
        Gil::with_policy(SwitchPolicy::Interval)
    }

    /// A new, unlocked GIL with the given switch policy.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_threads::{Gil, SwitchPolicy};
    /// let gil = Gil::with_policy(SwitchPolicy::IoPriority);
    /// assert_eq!(gil.policy(), SwitchPolicy::IoPriority);
    /// ```
    pub fn with_policy(policy: SwitchPolicy) -> Self {
        Gil {
            shared: Shared::obtain(policy),
        }
    }

    /// A new handle to a live state.
    fn from_shared(shared: &'static Shared) -> Gil {
        shared.handles.fetch_add(1, Ordering::Relaxed);
        Gil { shared }
    }

    /// The process-wide default GIL, created on first use.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_threads::Gil;
    /// assert_eq!(Gil::global(), Gil::global());
    /// ```
    pub fn global() -> &'static Gil {
        static GLOBAL: OnceLock<Gil> = OnceLock::new();
        GLOBAL.get_or_init(Gil::new)
    }

    /// Acquires the GIL, blocking until it is handed over.
    ///
    /// # Errors
    ///
    /// [`Error::AlreadyHeld`] if the calling thread already holds a GIL (this
    /// one or another): acquiring again would deadlock.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_threads::{Error, Gil};
    /// let gil = Gil::new();
    /// let g = gil.acquire().unwrap();
    /// assert_eq!(gil.acquire().err(), Some(Error::AlreadyHeld));
    /// drop(g);
    /// ```
    #[inline]
    pub fn acquire(&self) -> Result<GilGuard<'_>> {
        if !current_ptr().is_null() {
            return Err(Error::AlreadyHeld);
        }
        let s = self.shared;
        if !s.try_lock_fast() {
            s.lock_slow(false, None)?;
        }
        Ok(self.enter())
    }

    /// Acquires the GIL if nobody holds it, without blocking.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if another thread holds it; [`Error::AlreadyHeld`]
    /// if the calling thread holds a GIL.
    ///
    /// # Examples
    ///
    /// ```
    /// let gil = coil_threads::Gil::new();
    /// assert!(gil.try_acquire().is_ok());
    /// ```
    pub fn try_acquire(&self) -> Result<GilGuard<'_>> {
        if !current_ptr().is_null() {
            return Err(Error::AlreadyHeld);
        }
        if self.shared.try_lock_fast() {
            Ok(self.enter())
        } else {
            Err(Error::Timeout)
        }
    }

    /// Acquires the GIL, giving up after `timeout`.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if it was not handed over in time;
    /// [`Error::AlreadyHeld`] if the calling thread holds a GIL.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let gil = coil_threads::Gil::new();
    /// let g = gil.acquire_timeout(Duration::from_millis(10)).unwrap();
    /// drop(g);
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<GilGuard<'_>> {
        if !current_ptr().is_null() {
            return Err(Error::AlreadyHeld);
        }
        let s = self.shared;
        if !s.try_lock_fast() {
            s.lock_slow(false, primitive::deadline(Some(timeout)))?;
        }
        Ok(self.enter())
    }

    #[inline]
    fn enter(&self) -> GilGuard<'_> {
        let s = self.shared;
        set_current(s as *const Shared);
        s.on_acquired();
        GilGuard {
            shared: s,
            ticks: 0,
            _not_send: PhantomData,
        }
    }

    /// Runs `f` holding the GIL (acquire, call, release).
    ///
    /// # Errors
    ///
    /// [`Error::AlreadyHeld`] if the calling thread holds a GIL.
    ///
    /// # Examples
    ///
    /// ```
    /// let gil = coil_threads::Gil::new();
    /// let v = gil.with(|g| { g.checkpoint(); 7 }).unwrap();
    /// assert_eq!(v, 7);
    /// ```
    pub fn with<R>(&self, f: impl FnOnce(&mut GilGuard<'_>) -> R) -> Result<R> {
        let mut g = self.acquire()?;
        Ok(f(&mut g))
    }

    /// Whether some thread holds this GIL right now (a snapshot).
    ///
    /// # Examples
    ///
    /// ```
    /// let gil = coil_threads::Gil::new();
    /// let g = gil.acquire().unwrap();
    /// assert!(gil.is_locked());
    /// drop(g);
    /// assert!(!gil.is_locked());
    /// ```
    pub fn is_locked(&self) -> bool {
        self.shared.state.load(Ordering::Relaxed) & LOCKED != 0
    }

    /// Whether the calling thread holds this GIL.
    ///
    /// # Examples
    ///
    /// ```
    /// let gil = coil_threads::Gil::new();
    /// assert!(!gil.is_held_by_current());
    /// gil.with(|_| assert!(gil.is_held_by_current())).unwrap();
    /// ```
    pub fn is_held_by_current(&self) -> bool {
        ptr::eq(current_ptr(), self.shared)
    }

    /// The switch interval (`sys.getswitchinterval()`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// assert_eq!(coil_threads::Gil::new().switch_interval(), Duration::from_millis(5));
    /// ```
    pub fn switch_interval(&self) -> Duration {
        Duration::from_nanos(self.shared.interval_ns.load(Ordering::Relaxed))
    }

    /// Sets the switch interval (`sys.setswitchinterval()`); waits already
    /// under way keep the interval they started with.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for a zero interval (CPython's
    /// `ValueError: switch interval must be strictly positive`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let gil = coil_threads::Gil::new();
    /// gil.set_switch_interval(Duration::from_millis(1)).unwrap();
    /// assert_eq!(gil.switch_interval(), Duration::from_millis(1));
    /// assert!(gil.set_switch_interval(Duration::ZERO).is_err());
    /// ```
    pub fn set_switch_interval(&self, interval: Duration) -> Result<()> {
        if interval.is_zero() {
            return Err(Error::InvalidArgument);
        }
        self.shared
            .interval_ns
            .store(nanos(interval), Ordering::Relaxed);
        Ok(())
    }

    /// The switch policy.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_threads::{Gil, SwitchPolicy};
    /// assert_eq!(Gil::new().policy(), SwitchPolicy::Interval);
    /// ```
    pub fn policy(&self) -> SwitchPolicy {
        self.shared.policy()
    }

    /// Changes the switch policy; it applies to waits that start afterwards.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_threads::{Gil, SwitchPolicy};
    /// let gil = Gil::new();
    /// gil.set_policy(SwitchPolicy::IoPriority);
    /// assert_eq!(gil.policy(), SwitchPolicy::IoPriority);
    /// ```
    pub fn set_policy(&self, policy: SwitchPolicy) {
        self.shared.policy.store(policy as u8, Ordering::Relaxed);
    }

    /// Turns hold-time measurement on or off (two clock reads per
    /// acquisition while on).
    ///
    /// # Examples
    ///
    /// ```
    /// let gil = coil_threads::Gil::new();
    /// gil.set_timing(true);
    /// gil.with(|_| std::thread::sleep(std::time::Duration::from_millis(1))).unwrap();
    /// assert!(gil.stats().hold_time > std::time::Duration::ZERO);
    /// ```
    pub fn set_timing(&self, on: bool) {
        self.shared.timing.store(u8::from(on), Ordering::Relaxed);
    }

    /// A snapshot of the counters. Counters written by the holder may lag
    /// by a few events when read by another thread while the GIL is busy.
    ///
    /// # Examples
    ///
    /// ```
    /// let gil = coil_threads::Gil::new();
    /// assert_eq!(gil.stats().switches, 0);
    /// ```
    pub fn stats(&self) -> GilStats {
        let s = &self.shared.stats;
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        GilStats {
            acquisitions: r(&s.acquisitions),
            contended: r(&s.contended),
            switches: r(&s.switches),
            forced_switches: r(&s.forced),
            drop_requests: r(&s.drops).wrapping_add(r(&s.holder_drops)),
            wait_time: Duration::from_nanos(r(&s.wait_ns)),
            hold_time: Duration::from_nanos(r(&s.hold_ns)),
        }
    }
}

/// Proof that the calling thread holds a GIL; releases it when dropped.
///
/// A `GilGuard` cannot leave its thread (`!Send`). Functions that need the
/// GIL take a [`GilToken`] (from [`GilGuard::token`]) or `&GilGuard`.
///
/// # Examples
///
/// ```
/// use coil_threads::{Gil, GilToken};
///
/// fn needs_gil(_py: GilToken<'_>) -> u32 { 1 }
///
/// let gil = Gil::new();
/// let g = gil.acquire().unwrap();
/// assert_eq!(needs_gil(g.token()), 1);
/// ```
pub struct GilGuard<'g> {
    shared: &'g Shared,
    /// Checkpoints seen while somebody was queued, to read the clock only
    /// every `CHECK_EVERY`-th time.
    ticks: u32,
    _not_send: PhantomData<*mut ()>,
}

impl fmt::Debug for GilGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GilGuard")
    }
}

impl Drop for GilGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        set_current(ptr::null());
        self.shared.unlock();
    }
}

/// Re-acquires the GIL when `allow_threads` ends, also on unwinding.
struct Reacquire<'a> {
    shared: &'a Shared,
}

impl Drop for Reacquire<'_> {
    fn drop(&mut self) {
        let s = self.shared;
        if !s.try_lock_fast() {
            // Cannot time out without a deadline.
            let _ = s.lock_slow(true, None);
        }
        set_current(s as *const Shared);
        s.on_acquired();
    }
}

impl<'g> GilGuard<'g> {
    /// A "bytecode boundary": if a waiter has asked for the GIL, hand it
    /// over and queue for it again; otherwise one relaxed load.
    ///
    /// # Examples
    ///
    /// ```
    /// let gil = coil_threads::Gil::new();
    /// let mut g = gil.acquire().unwrap();
    /// for _ in 0..1000 { g.checkpoint(); }
    /// ```
    #[inline]
    pub fn checkpoint(&mut self) {
        let s = self.shared.state.load(Ordering::Relaxed);
        if s & (DROP | QUEUED) != 0 {
            self.ticks = self.ticks.wrapping_add(1);
            if s & DROP != 0 || self.ticks % CHECK_EVERY == 0 {
                self.shared.checkpoint_slow(s);
            }
        }
    }

    /// Whether a waiter has asked the holder to drop the GIL.
    ///
    /// # Examples
    ///
    /// ```
    /// let gil = coil_threads::Gil::new();
    /// let g = gil.acquire().unwrap();
    /// assert!(!g.drop_requested());
    /// ```
    #[inline]
    pub fn drop_requested(&self) -> bool {
        self.shared.state.load(Ordering::Relaxed) & DROP != 0
    }

    /// Whether some thread is queued waiting for this GIL (a snapshot).
    ///
    /// # Examples
    ///
    /// ```
    /// let gil = coil_threads::Gil::new();
    /// let g = gil.acquire().unwrap();
    /// assert!(!g.has_waiters());
    /// ```
    #[inline]
    pub fn has_waiters(&self) -> bool {
        self.shared.state.load(Ordering::Relaxed) & QUEUED != 0
    }

    /// Releases the GIL, runs `f` (blocking work, I/O), and re-acquires it
    /// (`Py_BEGIN_ALLOW_THREADS` / `Py_END_ALLOW_THREADS`). The GIL is
    /// re-acquired even if `f` panics.
    ///
    /// # Examples
    ///
    /// ```
    /// let gil = coil_threads::Gil::new();
    /// let mut g = gil.acquire().unwrap();
    /// let other = std::thread::scope(|s| {
    ///     g.allow_threads(|| s.spawn(|| gil.with(|_| 5).unwrap()).join().unwrap())
    /// });
    /// assert_eq!(other, 5);
    /// ```
    pub fn allow_threads<R>(&mut self, f: impl FnOnce() -> R) -> R {
        let s = self.shared;
        s.on_releasing();
        set_current(ptr::null());
        s.unlock_raw();
        let _back = Reacquire { shared: s };
        f()
    }

    /// A copyable token proving the GIL is held, for APIs that require it.
    ///
    /// # Examples
    ///
    /// ```
    /// let gil = coil_threads::Gil::new();
    /// let g = gil.acquire().unwrap();
    /// let t = g.token();
    /// assert!(t.is_for(&gil));
    /// ```
    #[inline]
    pub fn token(&self) -> GilToken<'_> {
        GilToken {
            shared: self.shared as *const Shared,
            _life: PhantomData,
        }
    }
}

impl Shared {
    /// Release without the hold-time bookkeeping (already done).
    #[inline]
    fn unlock_raw(&self) {
        if self.state.fetch_sub(LOCKED, Ordering::Release) != LOCKED {
            self.unlock_slow();
        }
    }
}

/// A `Copy` proof that the GIL is held, borrowed from a [`GilGuard`]: the
/// `Python<'py>` of this crate. It is `!Send` and cannot outlive the guard.
///
/// # Examples
///
/// ```
/// use coil_threads::{Gil, GilToken};
/// struct Counter(std::cell::Cell<u64>);
/// impl Counter {
///     fn bump(&self, _py: GilToken<'_>) { self.0.set(self.0.get() + 1) }
/// }
/// let gil = Gil::new();
/// let c = Counter(std::cell::Cell::new(0));
/// gil.with(|g| c.bump(g.token())).unwrap();
/// assert_eq!(c.0.get(), 1);
/// ```
#[derive(Clone, Copy)]
pub struct GilToken<'py> {
    shared: *const Shared,
    _life: PhantomData<&'py GilGuard<'py>>,
}

impl fmt::Debug for GilToken<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GilToken")
    }
}

impl GilToken<'_> {
    /// Whether this token is for `gil`.
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, b) = (coil_threads::Gil::new(), coil_threads::Gil::new());
    /// let g = a.acquire().unwrap();
    /// assert!(g.token().is_for(&a) && !g.token().is_for(&b));
    /// ```
    pub fn is_for(&self, gil: &Gil) -> bool {
        ptr::eq(self.shared, gil.shared)
    }
}

/// Runs `f` with the calling thread's GIL released, if it holds one, and
/// re-acquires it afterwards as a thread coming back from blocking work.
/// Every blocking wait in this crate goes through here.
pub(crate) fn release_while<R>(f: impl FnOnce() -> R) -> R {
    let p = current_ptr();
    if p.is_null() {
        return f();
    }
    // SAFETY: `p` is non-null, so it was set from a `&'static Shared` by
    // this thread when it acquired that GIL; by invariant 6 no `Shared` is
    // ever freed, so the pointer is valid for `'static`.
    let s: &'static Shared = unsafe { &*p };
    // Keeps the state from being recycled while it is released.
    let _keep = Gil::from_shared(s);
    s.on_releasing();
    set_current(ptr::null());
    s.unlock_raw();
    let back = Reacquire { shared: s };
    let r = f();
    drop(back);
    r
}

/// Whether the calling thread holds some GIL.
#[cfg(test)]
pub(crate) fn holds_any() -> bool {
    !current_ptr().is_null()
}

#[cfg(all(test, not(coil_loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    #[test]
    fn fast_acquire_release() {
        let gil = Gil::new();
        for _ in 0..10 {
            let g = gil.acquire().unwrap();
            assert!(gil.is_locked());
            assert!(gil.is_held_by_current());
            drop(g);
        }
        assert!(!gil.is_locked());
        assert_eq!(gil.stats().acquisitions, 10);
        assert_eq!(gil.stats().contended, 0);
    }

    #[test]
    fn reacquire_is_error() {
        let a = Gil::new();
        let b = Gil::new();
        let _g = a.acquire().unwrap();
        assert_eq!(a.acquire().err(), Some(Error::AlreadyHeld));
        assert_eq!(b.acquire().err(), Some(Error::AlreadyHeld));
        assert_eq!(b.try_acquire().err(), Some(Error::AlreadyHeld));
    }

    #[test]
    fn acquire_timeout_times_out() {
        let gil = Gil::new();
        let g = gil.acquire().unwrap();
        std::thread::scope(|s| {
            let r = s
                .spawn(|| gil.acquire_timeout(Duration::from_millis(20)).err())
                .join()
                .unwrap();
            assert_eq!(r, Some(Error::Timeout));
            let r = s.spawn(|| gil.try_acquire().err()).join().unwrap();
            assert_eq!(r, Some(Error::Timeout));
        });
        drop(g);
        assert!(!gil.is_locked());
        // The queue is clean again: the fast path works.
        assert!(gil.try_acquire().is_ok());
    }

    #[test]
    fn drop_request_forces_switch() {
        let gil = Gil::new();
        gil.set_switch_interval(Duration::from_millis(1)).unwrap();
        let got = AtomicBool::new(false);
        std::thread::scope(|s| {
            let mut g = gil.acquire().unwrap();
            let h = s.spawn(|| {
                let _g = gil.acquire().unwrap();
                got.store(true, Ordering::SeqCst);
            });
            // Spin holding the GIL and checkpointing until the waiter got it.
            while !got.load(Ordering::SeqCst) {
                g.checkpoint();
                std::hint::spin_loop();
            }
            drop(g);
            h.join().unwrap();
        });
        let st = gil.stats();
        assert!(st.drop_requests >= 1);
        assert!(st.forced_switches >= 1);
        assert!(st.switches >= st.forced_switches);
    }

    #[test]
    fn io_priority_asks_at_once() {
        let gil = Gil::with_policy(SwitchPolicy::IoPriority);
        // A huge interval: only the I/O policy can get the waiter in.
        gil.set_switch_interval(Duration::from_secs(3600)).unwrap();
        let got = AtomicBool::new(false);
        let started = AtomicBool::new(false);
        let back = AtomicBool::new(false);
        std::thread::scope(|s| {
            let mut g = gil.acquire().unwrap();
            let h = s.spawn(|| {
                let mut g = gil.acquire().unwrap();
                started.store(true, Ordering::SeqCst);
                g.allow_threads(|| {
                    // Come back only once the CPU-bound thread holds it.
                    while !back.load(Ordering::SeqCst) {
                        std::thread::yield_now();
                    }
                });
                got.store(true, Ordering::SeqCst);
            });
            g.allow_threads(|| {
                while !started.load(Ordering::SeqCst) {
                    std::thread::yield_now();
                }
            });
            back.store(true, Ordering::SeqCst);
            while !got.load(Ordering::SeqCst) {
                g.checkpoint();
                std::hint::spin_loop();
            }
            drop(g);
            h.join().unwrap();
        });
        assert!(gil.stats().forced_switches >= 1);
    }

    #[test]
    fn stale_drop_request_keeps_gil() {
        let gil = Gil::new();
        gil.set_switch_interval(Duration::from_millis(1)).unwrap();
        let mut g = gil.acquire().unwrap();
        std::thread::scope(|s| {
            // Asks for a drop after 1 ms, then gives up at 30 ms, leaving
            // the request behind with nobody queued.
            let r = s
                .spawn(|| gil.acquire_timeout(Duration::from_millis(30)).err())
                .join()
                .unwrap();
            assert_eq!(r, Some(Error::Timeout));
        });
        assert!(g.drop_requested());
        g.checkpoint();
        // The stale request is cleared and the holder still holds the GIL.
        assert!(!g.drop_requested());
        assert!(gil.is_locked());
        assert!(gil.is_held_by_current());
        std::thread::scope(|s| {
            let r = s.spawn(|| gil.try_acquire().err()).join().unwrap();
            assert_eq!(r, Some(Error::Timeout));
        });
        drop(g);
        assert!(!gil.is_locked());
        assert!(gil.try_acquire().is_ok());
    }

    #[test]
    fn holder_notices_expired_interval() {
        let gil = Gil::new();
        // The waiter would ask only after an hour.
        gil.set_switch_interval(Duration::from_secs(3600)).unwrap();
        let got = AtomicBool::new(false);
        std::thread::scope(|s| {
            let mut g = gil.acquire().unwrap();
            let h = s.spawn(|| {
                let _g = gil.acquire().unwrap();
                got.store(true, Ordering::SeqCst);
            });
            while gil.shared.head_ask.load(Ordering::SeqCst) == u64::MAX {
                std::thread::yield_now();
            }
            // Pretend its interval has run out; the waiter itself never asks.
            gil.shared.head_ask.store(0, Ordering::SeqCst);
            while !got.load(Ordering::SeqCst) {
                g.checkpoint();
                std::hint::spin_loop();
            }
            drop(g);
            h.join().unwrap();
        });
        let st = &gil.shared.stats;
        assert_eq!(st.drops.load(Ordering::Relaxed), 0);
        assert!(st.holder_drops.load(Ordering::Relaxed) >= 1);
        assert!(gil.stats().forced_switches >= 1);
        assert!(gil.stats().drop_requests >= 1);
    }

    #[test]
    fn huge_interval_never_asks() {
        let gil = Gil::new();
        gil.set_switch_interval(Duration::MAX).unwrap();
        let g = gil.acquire().unwrap();
        std::thread::scope(|s| {
            let r = s
                .spawn(|| gil.acquire_timeout(Duration::from_millis(20)).err())
                .join()
                .unwrap();
            assert_eq!(r, Some(Error::Timeout));
        });
        assert!(!g.drop_requested());
        assert_eq!(gil.stats().drop_requests, 0);
    }

    #[test]
    fn allow_threads_reacquires_after_panic() {
        let gil = Gil::new();
        let mut g = gil.acquire().unwrap();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            g.allow_threads(|| panic!("boom"));
        }));
        assert!(r.is_err());
        assert!(gil.is_held_by_current());
        drop(g);
        assert!(!gil.is_locked());
    }

    #[test]
    fn release_while_releases() {
        let gil = Gil::new();
        let _g = gil.acquire().unwrap();
        let inner = release_while(|| {
            assert!(!holds_any());
            std::thread::scope(|s| s.spawn(|| gil.with(|_| 1).unwrap()).join().unwrap())
        });
        assert_eq!(inner, 1);
        assert!(gil.is_held_by_current());
    }

    #[test]
    fn dropped_handle_while_locked_is_safe() {
        let gil = Gil::new();
        let g2 = gil.clone();
        let g = g2.acquire().unwrap();
        drop(gil);
        drop(g);
        drop(g2);
    }

    #[test]
    fn many_threads_count_exactly() {
        let gil = Gil::new();
        gil.set_switch_interval(Duration::from_micros(200)).unwrap();
        let counter = std::sync::atomic::AtomicU64::new(0);
        let n = 4;
        let per = 2000;
        std::thread::scope(|s| {
            for _ in 0..n {
                s.spawn(|| {
                    for i in 0..per {
                        let mut g = gil.acquire().unwrap();
                        g.checkpoint();
                        if i % 7 == 0 {
                            g.allow_threads(std::thread::yield_now);
                        }
                        // Non-atomic read-modify-write under the GIL, with no
                        // bytecode boundary in between.
                        let v = counter.load(Ordering::Relaxed);
                        counter.store(v + 1, Ordering::Relaxed);
                        g.checkpoint();
                    }
                });
            }
        });
        assert_eq!(counter.load(Ordering::Relaxed), n * per);
        assert!(!gil.is_locked());
    }
}
