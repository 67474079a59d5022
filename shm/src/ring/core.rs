//! What both rings share: the control block at the start of the segment, the
//! peer table that detects a dead or departed other side, and blocking waits
//! (spin briefly, then sleep on a cross-process futex).
//!
//! # Control block
//!
//! ```text
//! +--------------------------------------------------------------+ 0
//! | magic | kind | param_a | param_b | closed | counts | ever     |
//! | peers[64]: (role << 32 | pid), 0 = free                        |
//! +--------------------------------------------------------------+ (128-aligned)
//! | tail       (own 128-byte line)                                 |
//! | head       (own 128-byte line)                                 |
//! | data_sig   (seq, sleepers; own line) — receivers sleep here     |
//! | space_sig  (seq, sleepers; own line) — senders sleep here       |
//! | stream     (SPSC: bounds of the last streamed frame; own line)  |
//! +--------------------------------------------------------------+
//! ```
//!
//! Head, tail and the two signals each sit on their own 128-byte line (the
//! pair of 64-byte lines Intel's spatial prefetcher fetches together), so a
//! sender and a receiver on two CPUs do not bounce one line between them.
//!
//! # Waiting without lost wake-ups
//!
//! A waiter reads `sig.seq`, sets `sig.sleepers` to 1, runs the heavy half of
//! an asymmetric barrier (`membarrier`, see `sys`), retries its operation,
//! and only then sleeps with `FUTEX_WAIT(seq, old)`. A notifier publishes its
//! change, runs the light half (a compiler fence once its process is
//! registered, else a `SeqCst` fence) and reads `sleepers`; only if it is set
//! does it swap it to 0, increment `seq` and call `FUTEX_WAKE` for everyone.
//! The barrier pair forbids the one bad interleaving (the waiter's retry
//! misses the change *and* the notifier misses the flag), so either the retry
//! sees the change or the notifier wakes the waiter — before it sleeps (the
//! futex finds `seq` changed) or after. The common case, nobody asleep, costs
//! a notifier one plain load of a line it shares read-only: no locked
//! instruction and no store-buffer drain per message. One wake-up serves a
//! whole sleep, however many messages follow before the waiter runs. If the
//! kernel refuses `membarrier`, waiters cap each sleep at 1 ms instead. A
//! waiter that wakes from a timed-out sleep with `seq` unchanged goes back to
//! sleep without another barrier (see `block`).
//! Sleeps are also capped at [`RECHECK`], when the waiter checks its peers'
//! liveness.
//!
//! Before sleeping a waiter spins: [`PURE_SPIN`] (3 µs) of busy polling, which
//! catches a peer running on another CPU (a hand-off well under 1 µs), then
//! polling with `sched_yield` until the ring's spin budget (20 µs by default)
//! is spent. Yielding matters on a loaded machine: a waiter that busy-spins
//! its whole budget can keep the very peer it waits for off the CPU, which
//! measured as round trips of twice the budget; with yields they stay near a
//! pipe's. But a yield also hands the CPU to any unrelated process queued on
//! it, and the waiter then loses a whole time slice while its peer, running
//! on the other CPU, fills the ring and goes to sleep (measured: 64-byte
//! streams next to a CPU hog fell to 0.6-9 M messages/s). So each side
//! records in its signal (`Signal::cpu`) the CPU its thread last started a
//! wait on — any wait, on any ring: every operation copies that
//! thread-local value into the ring when it changed — and a waiter yields
//! only if its peer was last seen on its own CPU — at once, without the busy phase, since the peer cannot run
//! until it does — or, after the busy phase, when either CPU is unknown;
//! otherwise it polls busily for its whole budget (next to a CPU hog: about
//! +20 % messages per second, and round trips of two processes squeezed
//! onto one CPU about 1-2 µs instead of 10 µs).
//!
//! # Peers
//!
//! Each handle registers `(role, pid)` in a free entry of `peers` and clears
//! it on drop. Every handle a child inherits across `fork` counts as live
//! until the child drops it or dies — the semantics of pipe ends across
//! `fork`: a child that will not use an inherited end should drop it. To
//! leave no window in which the ring looks abandoned, the `pthread_atfork`
//! prepare handler registers an entry for the child *before* the fork,
//! under the parent's pid and marked pending, and the child handler claims
//! it with its own pid. A child killed before its first instruction never
//! claims it, and the parent's pid in it is alive, so the entry is stamped
//! with the monotonic second of the fork and a scan clears it once it has
//! been pending for `PENDING_GRACE_SECS` (a child not scheduled for that
//! long finds its entry gone and registers afresh). `counts`
//! holds the registered number per role, for a cheap check on every operation;
//! the slow path (before sleeping, and every `RECHECK`) scans the table,
//! clears entries whose process is dead, and so finds out that a side is gone
//! even after `SIGKILL`. `ever` records that a role was ever registered, so a
//! receiver waiting for a sender that has not attached yet is not told the
//! ring is disconnected.

use std::{
    cell::UnsafeCell,
    hint,
    sync::{
        Arc, Once,
        atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use crate::{
    error::{Error, Result},
    sys,
};

/// Entries in the peer table.
pub(crate) const MAX_PEERS: usize = 64;
/// The longest a blocked operation sleeps before re-checking peer liveness.
pub(crate) const RECHECK: Duration = Duration::from_millis(10);

pub(crate) const SENDER: usize = 0;
pub(crate) const RECEIVER: usize = 1;

/// A value on its own pair of cache lines.
#[repr(C, align(128))]
pub(crate) struct Padded<T>(pub(crate) T);

/// A futex word plus a flag set by anyone about to sleep on it.
#[repr(C)]
pub(crate) struct Signal {
    seq: AtomicU32,
    sleepers: AtomicU32,
    /// 1 + the CPU the side that waits on this signal last waited on
    /// (0: unknown), stored when it changes; see `block`.
    cpu: AtomicU32,
}

thread_local! {
    /// 1 + the CPU this thread last started a wait on (0: unknown).
    static LAST_CPU: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

impl Signal {
    /// Tell the peer where this side runs: called by every operation of the
    /// side that waits on this signal, it stores the CPU this thread last
    /// waited on if that changed (a thread-local read and a load otherwise).
    #[inline]
    pub(crate) fn note_cpu(&self) {
        let c = LAST_CPU.with(std::cell::Cell::get);
        if c != 0 && self.cpu.load(Ordering::Relaxed) != c {
            self.cpu.store(c, Ordering::Relaxed);
        }
    }

    /// Wake every sleeper after a change has been published.
    #[inline]
    pub(crate) fn notify(&self) {
        sys::light_barrier();
        if self.sleepers.load(Ordering::Relaxed) != 0 {
            self.wake();
        }
    }

    #[cold]
    fn wake(&self) {
        if self.sleepers.swap(0, Ordering::SeqCst) != 0 {
            self.seq.fetch_add(1, Ordering::SeqCst);
            sys::futex_wake(&self.seq, u32::MAX);
        }
    }
}

/// The longest sleep when the kernel refuses the heavy barrier.
const UNFENCED_NAP: Duration = Duration::from_millis(1);

/// The control block at offset 0 of every ring segment.
#[repr(C)]
pub(crate) struct Control {
    pub(crate) magic: AtomicU64,
    pub(crate) kind: u64,
    pub(crate) param_a: u64,
    pub(crate) param_b: u64,
    pub(crate) closed: AtomicU32,
    counts: [AtomicU32; 2],
    ever: [AtomicU32; 2],
    peers: [AtomicU64; MAX_PEERS],
    pub(crate) tail: Padded<AtomicU64>,
    pub(crate) head: Padded<AtomicU64>,
    pub(crate) data_sig: Padded<Signal>,
    pub(crate) space_sig: Padded<Signal>,
    /// SPSC only: `[start, end)` of the last frame streamed through the
    /// buffer (written by the sender before it publishes that frame; see
    /// `spsc`, invariants 7 and 8). Unused by MPMC rings.
    pub(crate) stream: Padded<[AtomicU64; 2]>,
}

/// Marks an entry made by a parent about to fork, for the child to claim.
/// It carries the parent's pid (the child's is not known yet) and, in the
/// bits from [`STAMP_SHIFT`], the monotonic second it was made: a child
/// killed before it ran its fork handler never claims it, and the parent
/// being alive says nothing about the child, so a scan treats an entry still
/// pending [`PENDING_GRACE_SECS`] after the fork as dead (a peer waiting on
/// that side then learns it is gone instead of waiting forever). A child
/// that was merely not scheduled for that long registers afresh.
const PENDING: u64 = 1 << 40;
/// Where a pending entry's stamp starts (23 bits: seconds, wrapping).
const STAMP_SHIFT: u32 = 41;
const STAMP_MASK: u64 = (1 << (64 - STAMP_SHIFT)) - 1;
/// How long a pending entry counts as live without being claimed.
const PENDING_GRACE_SECS: u64 = 2;

fn pending_entry(role: usize, parent: u32) -> u64 {
    entry(role, parent) | PENDING | ((sys::monotonic_secs() & STAMP_MASK) << STAMP_SHIFT)
}

/// Whether the pending entry `v` is older than the grace period.
fn pending_expired(v: u64) -> bool {
    let made = v >> STAMP_SHIFT;
    let age = sys::monotonic_secs().wrapping_sub(made) & STAMP_MASK;
    age >= PENDING_GRACE_SECS
}

fn entry(role: usize, pid: u32) -> u64 {
    ((role as u64 + 1) << 32) | pid as u64
}

impl Control {
    /// Register the calling process in `role`; returns the table index.
    pub(crate) fn register(&self, role: usize) -> Result<usize> {
        let me = sys::my_pid();
        if let Some(i) = self.try_register(role, me) {
            return Ok(i);
        }
        self.reap_dead();
        self.try_register(role, me).ok_or(Error::CapacityExceeded(
            "a ring has at most 64 registered handles",
        ))
    }

    /// Take a free entry for `(role, pid)` with atomics only (fork-safe).
    fn try_register(&self, role: usize, pid: u32) -> Option<usize> {
        self.try_register_raw(role, entry(role, pid))
    }

    fn try_register_raw(&self, role: usize, me: u64) -> Option<usize> {
        for (i, e) in self.peers.iter().enumerate() {
            if e.compare_exchange(0, me, Ordering::SeqCst, Ordering::Relaxed)
                .is_ok()
            {
                self.counts[role].fetch_add(1, Ordering::SeqCst);
                self.ever[role].store(1, Ordering::SeqCst);
                return Some(i);
            }
        }
        None
    }

    /// Turn entry `idx`, if it is still the pending entry of `(role, parent)`
    /// (whatever its stamp), into `to` (a child claiming its pending entry).
    /// Fails if a scan found it expired and cleared it (or reused the slot).
    fn claim(&self, idx: usize, role: usize, parent: u32, to: u64) -> bool {
        self.peers.get(idx).is_some_and(|e| {
            let v = e.load(Ordering::SeqCst);
            v & !(STAMP_MASK << STAMP_SHIFT) == entry(role, parent) | PENDING
                && e.compare_exchange(v, to, Ordering::SeqCst, Ordering::Relaxed)
                    .is_ok()
        })
    }

    /// Clear entry `idx` if it still holds `(role, pid)`.
    pub(crate) fn deregister(&self, idx: usize, role: usize, pid: u32) {
        if let Some(e) = self.peers.get(idx) {
            if e.compare_exchange(entry(role, pid), 0, Ordering::SeqCst, Ordering::Relaxed)
                .is_ok()
            {
                self.counts[role].fetch_sub(1, Ordering::SeqCst);
                self.space_sig.0.notify();
                self.data_sig.0.notify();
            }
        }
    }

    /// Clear the entries of dead processes; returns how many live ones each role has.
    pub(crate) fn reap_dead(&self) -> [usize; 2] {
        let mut live = [0; 2];
        for e in &self.peers {
            let v = e.load(Ordering::SeqCst);
            if v == 0 {
                continue;
            }
            let role = (((v >> 32) & 0xff) as usize).wrapping_sub(1);
            if role > 1 {
                continue;
            }
            let pending_dead = v & PENDING != 0 && pending_expired(v);
            if !pending_dead && sys::pid_alive(v as u32) {
                live[role] += 1;
            } else if e
                .compare_exchange(v, 0, Ordering::SeqCst, Ordering::Relaxed)
                .is_ok()
            {
                self.counts[role].fetch_sub(1, Ordering::SeqCst);
            }
        }
        live
    }

    /// Whether the side `role` is gone: the ring was closed, or every handle
    /// of that role has been dropped (or, with `scan`, its process died).
    pub(crate) fn gone(&self, role: usize, scan: bool) -> bool {
        if self.closed.load(Ordering::SeqCst) != 0 {
            return true;
        }
        if self.ever[role].load(Ordering::SeqCst) == 0 {
            return false;
        }
        if scan {
            self.reap_dead()[role] == 0
        } else {
            self.counts[role].load(Ordering::SeqCst) == 0
        }
    }

    /// Close the ring for everyone and wake every sleeper.
    pub(crate) fn close(&self) {
        self.closed.store(1, Ordering::SeqCst);
        self.data_sig.0.notify();
        self.space_sig.0.notify();
    }
}

/// The registration core shared with the fork handler.
#[derive(Debug)]
struct RegCore {
    ctl: *const Control,
    role: usize,
    idx: AtomicUsize,
    pid: AtomicU32,
    /// An entry made in `fork_prepare` for the child to claim.
    pending: AtomicUsize,
}

const NO_ENTRY: usize = usize::MAX;

// SAFETY: `ctl` points into a shared mapping that outlives the registration
// (the handle owning the registration also owns the mapping and releases the
// registration first); every field is accessed atomically.
unsafe impl Send for RegCore {}
// SAFETY: as above.
unsafe impl Sync for RegCore {}

/// Every live registration of this process, so a forked child can register
/// its inherited handles the moment it starts (pipe semantics: an end
/// inherited across `fork` counts until the child drops it or dies).
struct Live {
    lock: AtomicBool,
    regs: UnsafeCell<Vec<Arc<RegCore>>>,
}

// SAFETY: `regs` is only touched while `lock` is held (see `with_live`), or
// in the fork child handler, which inherits the lock taken by the prepare
// handler.
unsafe impl Sync for Live {}

static LIVE: Live = Live {
    lock: AtomicBool::new(false),
    regs: UnsafeCell::new(Vec::new()),
};
static FORK_HOOK: Once = Once::new();

fn live_lock() {
    while LIVE
        .lock
        .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        hint::spin_loop();
    }
}

fn live_unlock() {
    LIVE.lock.store(false, Ordering::Release);
}

fn with_live<R>(f: impl FnOnce(&mut Vec<Arc<RegCore>>) -> R) -> R {
    live_lock();
    // SAFETY: the lock is held, so this is the only reference to `regs`.
    let r = f(unsafe { &mut *LIVE.regs.get() });
    live_unlock();
    r
}

extern "C" fn fork_prepare() {
    live_lock();
    let parent = sys::my_pid();
    // SAFETY: the lock is held.
    let regs = unsafe { &*LIVE.regs.get() };
    for r in regs {
        // SAFETY: the mapping behind `ctl` lives as long as the registration.
        let ctl = unsafe { &*r.ctl };
        // Register the child's inherited end *before* the fork, under the
        // parent's pid, so no one sees the ring without it while the child
        // has not run yet; the child claims it with its own pid.
        let i = ctl
            .try_register_raw(r.role, pending_entry(r.role, parent))
            .unwrap_or(NO_ENTRY);
        r.pending.store(i, Ordering::Relaxed);
    }
}

extern "C" fn fork_parent() {
    // SAFETY: the prepare handler took the lock.
    let regs = unsafe { &*LIVE.regs.get() };
    for r in regs {
        r.pending.store(NO_ENTRY, Ordering::Relaxed);
    }
    live_unlock();
}

extern "C" fn fork_child() {
    let parent = sys::my_pid();
    let me = sys::reset_pid_after_fork();
    // SAFETY: the prepare handler took the lock before fork; the child is
    // single-threaded and owns it now.
    let regs = unsafe { &*LIVE.regs.get() };
    for r in regs {
        // SAFETY: the mapping behind `ctl` is inherited by the child and
        // still mapped (the owning handle exists in the child's copy).
        let ctl = unsafe { &*r.ctl };
        let p = r.pending.swap(NO_ENTRY, Ordering::Relaxed);
        let claimed = p != NO_ENTRY && ctl.claim(p, r.role, parent, entry(r.role, me));
        let idx = if claimed {
            Some(p)
        } else {
            ctl.try_register(r.role, me)
        };
        if let Some(i) = idx {
            r.idx.store(i, Ordering::Relaxed);
            r.pid.store(me, Ordering::Relaxed);
        }
    }
    live_unlock();
}

/// A handle's entry in the peer table: registered at creation, again in every
/// forked child (at fork time, or lazily if the table was full then), and
/// released on drop in the process that registered it.
#[derive(Debug)]
pub(crate) struct Registration {
    core: Arc<RegCore>,
}

impl Registration {
    pub(crate) fn new(ctl: &Control, role: usize) -> Result<Self> {
        FORK_HOOK.call_once(|| {
            // SAFETY: the handlers only take/release a spin lock and do atomic
            // operations on already-mapped memory.
            unsafe {
                libc::pthread_atfork(Some(fork_prepare), Some(fork_parent), Some(fork_child))
            };
        });
        let idx = ctl.register(role)?;
        let core = Arc::new(RegCore {
            ctl,
            role,
            idx: AtomicUsize::new(idx),
            pid: AtomicU32::new(sys::my_pid()),
            pending: AtomicUsize::new(NO_ENTRY),
        });
        with_live(|v| v.push(core.clone()));
        Ok(Self { core })
    }

    /// Whether this handle is registered for the calling process (it is,
    /// unless a fork found the peer table full; `ensure` fixes that).
    #[inline]
    pub(crate) fn current(&self) -> bool {
        self.core.pid.load(Ordering::Relaxed) == sys::my_pid()
    }

    /// Make sure this process is registered (after a fork whose handler found
    /// the table full, it is not yet).
    #[inline]
    pub(crate) fn ensure(&self, ctl: &Control) -> Result<()> {
        let me = sys::my_pid();
        if self.core.pid.load(Ordering::Relaxed) != me {
            let idx = ctl.register(self.core.role)?;
            self.core.idx.store(idx, Ordering::Relaxed);
            self.core.pid.store(me, Ordering::Relaxed);
        }
        Ok(())
    }

    pub(crate) fn release(&self, ctl: &Control) {
        with_live(|v| v.retain(|r| !Arc::ptr_eq(r, &self.core)));
        let pid = self.core.pid.load(Ordering::Relaxed);
        if pid == sys::my_pid() {
            ctl.deregister(self.core.idx.load(Ordering::Relaxed), self.core.role, pid);
        }
    }
}

/// How a blocking operation waits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Wait {
    pub(crate) spin: Duration,
    pub(crate) deadline: Option<Instant>,
}

impl Wait {
    pub(crate) fn new(spin: Duration, timeout: Option<Duration>) -> Self {
        Self {
            spin,
            deadline: timeout.map(|t| Instant::now() + t),
        }
    }
}

/// How long a waiter spins without yielding before it starts to
/// `sched_yield` between attempts.
pub(crate) const PURE_SPIN: Duration = Duration::from_micros(3);

/// Run `attempt` until it returns `Some`: spin for [`PURE_SPIN`], then keep
/// trying until `w.spin` has passed — with `sched_yield` between attempts
/// if the peer (whose waiters sleep on `peer`) last waited on this CPU, so
/// it gets the CPU — then sleep on `sig` between attempts. `attempt(scan)`
/// is told when to scan peer liveness (every [`RECHECK`] while sleeping).
pub(crate) fn block<R>(
    sig: &Signal,
    peer: &Signal,
    w: Wait,
    mut attempt: impl FnMut(bool) -> Option<Result<R>>,
) -> Result<R> {
    let start = Instant::now();
    let mut i = 0u32;
    let here = sys::current_cpu().map_or(0, |c| c + 1);
    LAST_CPU.with(|c| c.set(here));
    if sig.cpu.load(Ordering::Relaxed) != here {
        sig.cpu.store(here, Ordering::Relaxed);
    }
    let there = peer.cpu.load(Ordering::Relaxed);
    // The peer last waited on this CPU: it can only run once we let go, so
    // spinning first is pure waste. Unknown: spin briefly, then yield.
    let same_cpu = here != 0 && there == here;
    let may_yield = same_cpu || here == 0 || there == 0;
    let mut yielding = same_cpu;
    loop {
        if let Some(r) = attempt(false) {
            return r;
        }
        i += 1;
        if yielding || i % 16 == 0 {
            let now = Instant::now();
            let spun = now - start;
            if spun >= w.spin {
                break;
            }
            if w.deadline.is_some_and(|d| now >= d) {
                return Err(Error::Timeout);
            }
            yielding = same_cpu || (may_yield && spun >= PURE_SPIN);
        }
        if yielding {
            sys::yield_now();
        } else {
            hint::spin_loop();
        }
    }
    // The first scan waits one RECHECK: scanning reads /proc, far too slow
    // for the common case of a peer that is merely busy.
    let mut last_scan = start;
    // The `seq` seen by the last round that ran the heavy barrier.
    let mut barrier_seq = None;
    let mut fenced = false;
    loop {
        let seq = sig.seq.load(Ordering::SeqCst);
        sig.sleepers.store(1, Ordering::SeqCst);
        // A round that follows a sleep with `seq` unchanged skips the
        // barrier: a notifier that published after the last barrier either
        // saw the flag (its wake-up, which bumps `seq`, is still to come and
        // ends the next sleep) or found it swapped by another notifier whose
        // bump is still to come. So a long idle wait costs one `membarrier`,
        // not one per `RECHECK`.
        if barrier_seq != Some(seq) || !fenced {
            fenced = sys::heavy_barrier();
            barrier_seq = Some(seq);
        }
        let now = Instant::now();
        let expired = w.deadline.is_some_and(|d| now >= d);
        let scan = !expired && now - last_scan >= RECHECK;
        if scan {
            last_scan = now;
        }
        if let Some(r) = attempt(scan) {
            return r;
        }
        if expired {
            return Err(Error::Timeout);
        }
        let mut nap = if fenced { RECHECK } else { UNFENCED_NAP };
        if let Some(d) = w.deadline {
            nap = nap.min(d - now);
        }
        sys::futex_wait(&sig.seq, seq, Some(nap));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn control() -> Box<Control> {
        // SAFETY: every field of `Control` is an integer or an atomic
        // integer (in `Padded` wrappers), for which all-zero is valid: an
        // empty, unclosed control block.
        Box::new(unsafe { std::mem::zeroed() })
    }

    fn stamped(role: usize, pid: u32, secs_ago: u64) -> u64 {
        let made = sys::monotonic_secs().wrapping_sub(secs_ago) & STAMP_MASK;
        entry(role, pid) | PENDING | (made << STAMP_SHIFT)
    }

    #[test]
    fn a_pending_entry_counts_while_fresh_and_is_cleared_once_expired() {
        let ctl = control();
        let parent = sys::my_pid();
        // A fork's entry for its child, under the (live) parent's pid.
        let fresh = ctl.try_register_raw(1, stamped(1, parent, 0)).unwrap();
        assert_eq!(ctl.reap_dead(), [0, 1], "a fresh pending entry is live");
        assert!(!ctl.gone(1, true));
        // The child claims it whatever its stamp says.
        assert!(ctl.claim(fresh, 1, parent, entry(1, parent)));
        ctl.deregister(fresh, 1, parent);
        // A child killed before its fork handler ran: the entry outlives
        // the grace period and a scan clears it, though the parent lives.
        let stale = ctl
            .try_register_raw(1, stamped(1, parent, PENDING_GRACE_SECS + 1))
            .unwrap();
        assert_eq!(ctl.reap_dead(), [0, 0]);
        assert!(ctl.gone(1, false), "the count dropped with the entry");
        assert!(ctl.gone(1, true));
        // A child that runs after all finds its entry gone.
        assert!(!ctl.claim(stale, 1, parent, entry(1, parent)));
        // Another role's pending entry is not claimed by mistake.
        let other = ctl.try_register_raw(0, stamped(0, parent, 0)).unwrap();
        assert!(!ctl.claim(other, 1, parent, entry(1, parent)));
    }

    fn signal() -> Signal {
        Signal {
            seq: AtomicU32::new(0),
            sleepers: AtomicU32::new(0),
            cpu: AtomicU32::new(0),
        }
    }

    #[test]
    fn a_wait_records_its_cpu_and_operations_pass_it_on() {
        let (mine, peer, other) = (signal(), signal(), signal());
        let w = Wait::new(Duration::ZERO, Some(Duration::ZERO));
        // Not found at once: the wait records where it started.
        let mut first = true;
        let r: Result<()> = block(&mine, &peer, w, |_| {
            (!std::mem::take(&mut first)).then_some(Ok(()))
        });
        assert_eq!(r, Ok(()));
        let Some(cpu) = sys::current_cpu() else {
            return; // the system does not say; nothing is recorded
        };
        // A thread may migrate between the two calls; the record is the
        // CPU of one moment, so allow any CPU but require one.
        let seen = mine.cpu.load(Ordering::Relaxed);
        assert!(seen >= 1, "no CPU recorded (now on {cpu})");
        // Another ring's side of this thread learns it on its next operation.
        other.note_cpu();
        assert_eq!(other.cpu.load(Ordering::Relaxed), seen);
        assert_eq!(
            peer.cpu.load(Ordering::Relaxed),
            0,
            "the peer's record is the peer's"
        );
    }
}
