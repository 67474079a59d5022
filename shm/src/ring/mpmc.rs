//! The multi-producer multi-consumer ring: fixed-size slots, each carrying one
//! message of up to `slot_size` bytes, with per-slot states that make the ring
//! survive the death of any producer or consumer mid-operation.
//!
//! # Slot states
//!
//! Each slot has one 64-bit state word: `seq` (40 bits: the position, modulo
//! 2^40, that the slot currently serves) | `phase` (2 bits) | `pid` (22 bits:
//! the process in the middle of an operation on it).
//!
//! ```text
//!   (p, EMPTY)  --producer CAS-->  (p, WRITING, pid)  --store-->  (p, FULL)
//!   (p, FULL)   --consumer CAS-->  (p, READING, pid)  --store-->  (p+cap, EMPTY)
//!   recovery:   (p, WRITING, dead) --CAS--> (p+cap, EMPTY)   message lost
//!               (p, READING, dead) --CAS--> (p+cap, EMPTY)   message lost
//! ```
//!
//! A producer claims position `p` by CAS on the *slot* (not on `tail`), so the
//! moment the claim is visible it names its owner; `tail` is then advanced by
//! CAS from `p` — by the claimer or by anyone who finds the slot already
//! claimed, so a producer that dies right after claiming cannot stall `tail`.
//! Consumers do the same with `head`. A process that dies between its claim
//! and its final store leaves the slot in `WRITING`/`READING` with its pid;
//! a blocked peer that finds that pid dead (checked every
//! `RECHECK`, 10 ms, while waiting) moves the slot on to the
//! next lap with one CAS from the exact state it saw, so concurrent recoverers
//! cannot both succeed. The only message lost is the one the dead process was
//! writing or reading.
//!
//! # Invariants
//!
//! 1. `tail` and `head` only ever advance, by CAS from a value whose slot was
//!    claimed (or recovered) at that position: `head <= tail <= head + cap`
//!    up to in-flight helpers.
//! 2. The slot at position `p` is `(p, EMPTY)` exactly when no producer has
//!    claimed `p`; only its claimer writes its `len` and payload, and only its
//!    consumer (after `FULL` is seen with `Acquire`) reads them.
//! 3. A pid in a state word is the pid of the claimer at claim time; a pid
//!    reused by an unrelated live process delays recovery until it exits
//!    (pid-based liveness cannot tell them apart).

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use super::core::{Control, RECEIVER, Registration, SENDER, Wait, block};
use crate::{
    error::{Error, Result},
    segment::{SharedMemory, ShmOptions},
    sys,
    value::wait_magic,
};

const MAGIC: u64 = 0x636f_696c_6d70_6d63; // "coilmpmc"
const SEQ_BITS: u32 = 40;
const SEQ_MASK: u64 = (1 << SEQ_BITS) - 1;
const PID_BITS: u32 = 22;
const PID_MASK: u64 = (1 << PID_BITS) - 1;

const EMPTY: u64 = 0;
const WRITING: u64 = 1;
const FULL: u64 = 2;
const READING: u64 = 3;

fn enc(seq: u64, phase: u64, pid: u32) -> u64 {
    ((seq & SEQ_MASK) << (64 - SEQ_BITS)) | (phase << PID_BITS) | (pid as u64 & PID_MASK)
}

fn dec(st: u64) -> (u64, u64, u32) {
    (
        st >> (64 - SEQ_BITS),
        (st >> PID_BITS) & 3,
        (st & PID_MASK) as u32,
    )
}

/// `seq - pos` as a signed distance in the 40-bit sequence space.
fn dist(seq: u64, pos: u64) -> i64 {
    let d = seq.wrapping_sub(pos) & SEQ_MASK;
    ((d << (64 - SEQ_BITS)) as i64) >> (64 - SEQ_BITS)
}

/// Sizing and waiting policy of an [`MpmcRing`].
///
/// # Examples
///
/// ```
/// let o = coil_shm::MpmcOptions::new().slots(8).slot_size(256);
/// assert_eq!(o.get_slots(), 8);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct MpmcOptions {
    slots: usize,
    slot_size: usize,
    spin: Duration,
    shm: ShmOptions,
}

impl Default for MpmcOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl MpmcOptions {
    /// 1024 slots of 1024 bytes, 20 µs of spinning (3 µs busy, then yielding) before sleeping.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(coil_shm::MpmcOptions::new().get_slot_size(), 1024);
    /// ```
    pub const fn new() -> Self {
        Self {
            slots: 1024,
            slot_size: 1024,
            spin: Duration::from_micros(20),
            shm: ShmOptions::new(),
        }
    }
    /// Number of slots (a power of two, 2 to 2^30; rounded up).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(coil_shm::MpmcOptions::new().slots(5).get_slots(), 5);
    /// ```
    pub const fn slots(mut self, n: usize) -> Self {
        self.slots = n;
        self
    }
    /// Largest message in bytes (1 to 2^30).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(coil_shm::MpmcOptions::new().slot_size(64).get_slot_size(), 64);
    /// ```
    pub const fn slot_size(mut self, n: usize) -> Self {
        self.slot_size = n;
        self
    }
    /// How long a blocking call spins before it sleeps on the futex.
    ///
    /// # Examples
    ///
    /// ```
    /// let o = coil_shm::MpmcOptions::new().spin(std::time::Duration::ZERO);
    /// ```
    pub const fn spin(mut self, d: Duration) -> Self {
        self.spin = d;
        self
    }
    /// Segment options (mode, tracking) for a named ring.
    ///
    /// # Examples
    ///
    /// ```
    /// let o = coil_shm::MpmcOptions::new().shm(coil_shm::ShmOptions::new().mode(0o640));
    /// ```
    pub const fn shm(mut self, shm: ShmOptions) -> Self {
        self.shm = shm;
        self
    }
    /// The slot count asked for.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(coil_shm::MpmcOptions::new().get_slots(), 1024);
    /// ```
    pub const fn get_slots(&self) -> usize {
        self.slots
    }
    /// The slot size asked for.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(coil_shm::MpmcOptions::new().get_slot_size(), 1024);
    /// ```
    pub const fn get_slot_size(&self) -> usize {
        self.slot_size
    }
}

#[derive(Debug)]
struct Inner {
    seg: SharedMemory,
    cap: u64,
    slot_size: usize,
    stride: usize,
    slots_off: usize,
    spin: Duration,
}

fn slots_offset() -> usize {
    size_of::<Control>().div_ceil(128) * 128
}

fn layout(slots: usize, slot_size: usize) -> Result<(u64, usize, usize)> {
    if slot_size == 0 || slot_size > 1 << 30 {
        return Err(Error::InvalidSize {
            size: slot_size,
            reason: "slot size must be 1 to 2^30 bytes",
        });
    }
    if !(2..=1 << 30).contains(&slots) {
        return Err(Error::InvalidSize {
            size: slots,
            reason: "slot count must be 2 to 2^30",
        });
    }
    let cap = slots.next_power_of_two();
    let stride = (16 + slot_size).div_ceil(64) * 64;
    let total = stride
        .checked_mul(cap)
        .and_then(|s| s.checked_add(slots_offset()))
        .ok_or(Error::InvalidSize {
            size: slots,
            reason: "ring too large",
        })?;
    Ok((cap as u64, stride, total))
}

impl Inner {
    fn ctl(&self) -> &Control {
        // SAFETY: the control block was initialised before magic was published
        // and lives at offset 0 for the life of the mapping.
        unsafe { &*(self.seg.as_ptr() as *const Control) }
    }

    fn slot(&self, pos: u64) -> (&AtomicU64, *mut u8) {
        let i = (pos & (self.cap - 1)) as usize;
        // SAFETY: i < cap and the segment holds cap slots of `stride` bytes at
        // `slots_off` (checked at create/open); the state word is 8-aligned.
        unsafe {
            let base = self.seg.as_ptr().add(self.slots_off + i * self.stride);
            (&*(base as *const AtomicU64), base.add(8))
        }
    }

    fn create(
        seg: SharedMemory,
        cap: u64,
        slot_size: usize,
        stride: usize,
        spin: Duration,
    ) -> Result<Arc<Self>> {
        let this = Self {
            seg,
            cap,
            slot_size,
            stride,
            slots_off: slots_offset(),
            spin,
        };
        let c = this.seg.as_ptr() as *mut Control;
        // SAFETY: fresh zeroed segment sized by `layout`; nobody reads it before magic.
        unsafe {
            (&raw mut (*c).kind).write(2);
            (&raw mut (*c).param_a).write(cap);
            (&raw mut (*c).param_b).write(slot_size as u64);
        }
        for p in 0..cap {
            this.slot(p).0.store(enc(p, EMPTY, 0), Ordering::Relaxed);
        }
        this.ctl().magic.store(MAGIC, Ordering::Release);
        Ok(Arc::new(this))
    }

    fn attach(seg: SharedMemory, spin: Duration) -> Result<Arc<Self>> {
        if seg.len() < slots_offset() {
            return Err(Error::Incompatible("segment too small for a ring"));
        }
        // SAFETY: at least a control block; magic is atomic.
        let c = unsafe { &*(seg.as_ptr() as *const Control) };
        wait_magic(&c.magic, MAGIC)?;
        let (cap, slot_size) = (c.param_a, c.param_b as usize);
        if !cap.is_power_of_two() {
            return Err(Error::Incompatible("corrupt ring header"));
        }
        let (cap2, stride, total) = layout(cap as usize, slot_size)?;
        if cap2 != cap || total > seg.len() {
            return Err(Error::Incompatible(
                "ring header does not match the segment",
            ));
        }
        Ok(Arc::new(Self {
            seg,
            cap,
            slot_size,
            stride,
            slots_off: slots_offset(),
            spin,
        }))
    }

    /// One attempt to send. `None` means full (or the slot ahead is busy).
    fn try_send(&self, msg: &[u8], scan: bool) -> Option<()> {
        let ctl = self.ctl();
        let me = sys::my_pid();
        loop {
            let pos = ctl.tail.0.load(Ordering::Acquire);
            let (state, payload) = self.slot(pos);
            let st = state.load(Ordering::Acquire);
            let (seq, phase, pid) = dec(st);
            let d = dist(seq, pos);
            if d == 0 && phase == EMPTY {
                if state
                    .compare_exchange(
                        st,
                        enc(pos, WRITING, me),
                        Ordering::AcqRel,
                        Ordering::Relaxed,
                    )
                    .is_err()
                {
                    continue;
                }
                let _ =
                    ctl.tail
                        .0
                        .compare_exchange(pos, pos + 1, Ordering::AcqRel, Ordering::Relaxed);
                // SAFETY: we own the slot in WRITING (invariant 2); the payload
                // area holds 8 + slot_size bytes and msg.len() <= slot_size.
                unsafe {
                    (payload as *mut u64).write(msg.len() as u64);
                    std::ptr::copy_nonoverlapping(msg.as_ptr(), payload.add(8), msg.len());
                }
                state.store(enc(pos, FULL, 0), Ordering::Release);
                ctl.data_sig.0.notify();
                ctl.space_sig.0.note_cpu();
                return Some(());
            } else if d == 0 {
                let _ =
                    ctl.tail
                        .0
                        .compare_exchange(pos, pos + 1, Ordering::AcqRel, Ordering::Relaxed);
            } else if d < 0 {
                // The slot still serves the previous lap: full, unless its
                // worker died.
                if scan && (phase == WRITING || phase == READING) && !sys::pid_alive(pid) {
                    let next = enc(seq.wrapping_add(self.cap), EMPTY, 0);
                    if state
                        .compare_exchange(st, next, Ordering::AcqRel, Ordering::Relaxed)
                        .is_ok()
                    {
                        ctl.space_sig.0.notify();
                    }
                    continue;
                }
                if ctl.tail.0.load(Ordering::Acquire) == pos {
                    return None;
                }
            }
            // d > 0: our view of tail is stale; reload.
        }
    }

    /// One attempt to receive into `out`. `None` means empty (or the slot at
    /// head is still being written).
    fn try_recv(&self, out: &mut Vec<u8>, scan: bool) -> Option<()> {
        let ctl = self.ctl();
        let me = sys::my_pid();
        loop {
            let pos = ctl.head.0.load(Ordering::Acquire);
            let (state, payload) = self.slot(pos);
            let st = state.load(Ordering::Acquire);
            let (seq, phase, pid) = dec(st);
            let d = dist(seq, pos);
            if d == 0 && phase == FULL {
                if state
                    .compare_exchange(
                        st,
                        enc(pos, READING, me),
                        Ordering::AcqRel,
                        Ordering::Relaxed,
                    )
                    .is_err()
                {
                    continue;
                }
                let _ =
                    ctl.head
                        .0
                        .compare_exchange(pos, pos + 1, Ordering::AcqRel, Ordering::Relaxed);
                // SAFETY: we own the slot in READING; its writer stored len and
                // payload before the Release store of FULL we acquired.
                unsafe {
                    let len = ((payload as *const u64).read() as usize).min(self.slot_size);
                    out.clear();
                    out.reserve(len);
                    std::ptr::copy_nonoverlapping(payload.add(8), out.as_mut_ptr(), len);
                    out.set_len(len);
                }
                state.store(enc(pos.wrapping_add(self.cap), EMPTY, 0), Ordering::Release);
                ctl.space_sig.0.notify();
                ctl.data_sig.0.note_cpu();
                return Some(());
            } else if d == 0 && phase == READING {
                let _ =
                    ctl.head
                        .0
                        .compare_exchange(pos, pos + 1, Ordering::AcqRel, Ordering::Relaxed);
            } else if d == 0 && phase == WRITING {
                if scan && !sys::pid_alive(pid) {
                    let next = enc(pos.wrapping_add(self.cap), EMPTY, 0);
                    if state
                        .compare_exchange(st, next, Ordering::AcqRel, Ordering::Relaxed)
                        .is_ok()
                    {
                        ctl.space_sig.0.notify();
                    }
                    continue;
                }
                return None;
            } else if d == 0 {
                // EMPTY at head: nothing was sent at this position yet.
                if ctl.head.0.load(Ordering::Acquire) == pos {
                    return None;
                }
            } else if d < 0 {
                // Previous lap still being read at this slot: empty here, unless
                // that reader died.
                if scan && phase == READING && !sys::pid_alive(pid) {
                    let next = enc(seq.wrapping_add(self.cap), EMPTY, 0);
                    if state
                        .compare_exchange(st, next, Ordering::AcqRel, Ordering::Relaxed)
                        .is_ok()
                    {
                        ctl.space_sig.0.notify();
                    }
                    continue;
                }
                if ctl.head.0.load(Ordering::Acquire) == pos {
                    return None;
                }
            } else {
                // Position consumed or recovered already: move head along.
                let _ =
                    ctl.head
                        .0
                        .compare_exchange(pos, pos + 1, Ordering::AcqRel, Ordering::Relaxed);
            }
        }
    }
}

/// A multi-producer multi-consumer ring of fixed-size slots in shared memory.
///
/// Create it (named or anonymous), then take [`sender`](Self::sender)s and
/// [`receiver`](Self::receiver)s in the processes that use them. Messages are
/// byte strings of up to `slot_size` bytes each.
///
/// # Examples
///
/// ```
/// use coil_shm::{MpmcOptions, MpmcRing};
///
/// let ring = MpmcRing::anonymous(&MpmcOptions::new().slots(16).slot_size(64))?;
/// let (tx, rx) = (ring.sender()?, ring.receiver()?);
/// tx.send(b"ping")?;
/// assert_eq!(rx.recv()?, b"ping");
/// # Ok::<(), coil_shm::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct MpmcRing {
    inner: Arc<Inner>,
}

impl MpmcRing {
    /// Create a named ring.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSize`] for slot counts outside 2..=2^30 or slot sizes
    /// outside 1..=2^30; as [`SharedMemory::create`].
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_shm::{MpmcOptions, MpmcRing};
    /// let name = format!("coil-doc-mpmc-{}", std::process::id());
    /// let ring = MpmcRing::create(&name, &MpmcOptions::new().slots(4).slot_size(8))?;
    /// let other = MpmcRing::open(&name)?;
    /// ring.sender()?.send(b"x")?;
    /// assert_eq!(other.receiver()?.recv()?, b"x");
    /// ring.segment().unlink()?;
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn create(name: &str, opts: &MpmcOptions) -> Result<Self> {
        let (cap, stride, total) = layout(opts.slots, opts.slot_size)?;
        let seg = SharedMemory::create_with(name, total, &opts.shm)?;
        Ok(Self {
            inner: Inner::create(seg, cap, opts.slot_size, stride, opts.spin)?,
        })
    }

    /// Create a ring in an anonymous segment, shared with children forked later.
    ///
    /// # Errors
    ///
    /// As [`create`](Self::create).
    ///
    /// # Examples
    ///
    /// ```
    /// let ring = coil_shm::MpmcRing::anonymous(&coil_shm::MpmcOptions::new().slots(2))?;
    /// assert_eq!(ring.capacity(), 2);
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn anonymous(opts: &MpmcOptions) -> Result<Self> {
        let (cap, stride, total) = layout(opts.slots, opts.slot_size)?;
        let seg = SharedMemory::anonymous(total)?;
        Ok(Self {
            inner: Inner::create(seg, cap, opts.slot_size, stride, opts.spin)?,
        })
    }

    /// Attach to a named ring.
    ///
    /// # Errors
    ///
    /// As [`SharedMemory::open`]; [`Error::Incompatible`] if it is not an MPMC ring.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(coil_shm::MpmcRing::open("coil-doc-no-ring").is_err());
    /// ```
    pub fn open(name: &str) -> Result<Self> {
        Ok(Self {
            inner: Inner::attach(SharedMemory::open(name)?, MpmcOptions::new().spin)?,
        })
    }

    /// A new sending handle registered for this process.
    ///
    /// # Errors
    ///
    /// [`Error::CapacityExceeded`] past 64 live handles.
    ///
    /// # Examples
    ///
    /// ```
    /// let ring = coil_shm::MpmcRing::anonymous(&Default::default())?;
    /// let _tx = ring.sender()?;
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn sender(&self) -> Result<MpmcSender> {
        let reg = Registration::new(self.inner.ctl(), SENDER)?;
        Ok(MpmcSender {
            inner: self.inner.clone(),
            reg,
        })
    }

    /// A new receiving handle registered for this process.
    ///
    /// # Errors
    ///
    /// [`Error::CapacityExceeded`] past 64 live handles.
    ///
    /// # Examples
    ///
    /// ```
    /// let ring = coil_shm::MpmcRing::anonymous(&Default::default())?;
    /// let _rx = ring.receiver()?;
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn receiver(&self) -> Result<MpmcReceiver> {
        let reg = Registration::new(self.inner.ctl(), RECEIVER)?;
        Ok(MpmcReceiver {
            inner: self.inner.clone(),
            reg,
        })
    }

    /// Number of slots (a power of two).
    ///
    /// # Examples
    ///
    /// ```
    /// let ring = coil_shm::MpmcRing::anonymous(&coil_shm::MpmcOptions::new().slots(5))?;
    /// assert_eq!(ring.capacity(), 8);
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn capacity(&self) -> usize {
        self.inner.cap as usize
    }

    /// Largest message in bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// let ring = coil_shm::MpmcRing::anonymous(&coil_shm::MpmcOptions::new().slot_size(100))?;
    /// assert_eq!(ring.max_message(), 100);
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn max_message(&self) -> usize {
        self.inner.slot_size
    }

    /// Messages sent and not yet received (approximate under concurrency).
    ///
    /// # Examples
    ///
    /// ```
    /// let ring = coil_shm::MpmcRing::anonymous(&Default::default())?;
    /// ring.sender()?.send(b"a")?;
    /// assert_eq!(ring.len(), 1);
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        let c = self.inner.ctl();
        let t = c.tail.0.load(Ordering::Acquire);
        let h = c.head.0.load(Ordering::Acquire);
        t.saturating_sub(h).min(self.inner.cap) as usize
    }

    /// Whether [`len`](Self::len) is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(coil_shm::MpmcRing::anonymous(&Default::default())?.is_empty());
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Close the ring for every process: sends fail with
    /// [`Error::Disconnected`]; receives drain what is left, then fail so too.
    ///
    /// # Examples
    ///
    /// ```
    /// let ring = coil_shm::MpmcRing::anonymous(&Default::default())?;
    /// let (tx, rx) = (ring.sender()?, ring.receiver()?);
    /// tx.send(b"last")?;
    /// ring.close();
    /// assert!(tx.send(b"more").is_err());
    /// assert_eq!(rx.recv()?, b"last");
    /// assert_eq!(rx.recv(), Err(coil_shm::Error::Disconnected));
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn close(&self) {
        self.inner.ctl().close();
    }

    /// The segment holding the ring.
    ///
    /// # Examples
    ///
    /// ```
    /// let ring = coil_shm::MpmcRing::anonymous(&Default::default())?;
    /// assert!(ring.segment().name().is_none());
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn segment(&self) -> &SharedMemory {
        &self.inner.seg
    }
}

/// The sending side of an [`MpmcRing`]; clone it for more producers.
///
/// # Examples
///
/// ```
/// let ring = coil_shm::MpmcRing::anonymous(&coil_shm::MpmcOptions::new().slots(2))?;
/// let tx = ring.sender()?;
/// let _rx = ring.receiver()?;
/// tx.try_send(b"1")?;
/// tx.try_send(b"2")?;
/// assert_eq!(tx.try_send(b"3"), Err(coil_shm::Error::Full));
/// # Ok::<(), coil_shm::Error>(())
/// ```
#[derive(Debug)]
pub struct MpmcSender {
    inner: Arc<Inner>,
    reg: Registration,
}

impl MpmcSender {
    fn check(&self, msg: &[u8]) -> Result<()> {
        if msg.len() > self.inner.slot_size {
            return Err(Error::MessageTooLarge {
                len: msg.len(),
                max: self.inner.slot_size,
            });
        }
        self.reg.ensure(self.inner.ctl())?;
        if self.inner.ctl().gone(RECEIVER, false) {
            return Err(Error::Disconnected);
        }
        Ok(())
    }

    fn send_wait(&self, msg: &[u8], timeout: Option<Duration>) -> Result<()> {
        self.check(msg)?;
        if self.inner.try_send(msg, false).is_some() {
            return Ok(());
        }
        let ctl = self.inner.ctl();
        block(
            &ctl.space_sig.0,
            &ctl.data_sig.0,
            Wait::new(self.inner.spin, timeout),
            |scan| {
                if ctl.gone(RECEIVER, scan) {
                    return Some(Err(Error::Disconnected));
                }
                self.inner.try_send(msg, scan).map(Ok)
            },
        )
    }

    /// Send, blocking while the ring is full.
    ///
    /// # Errors
    ///
    /// [`Error::MessageTooLarge`]; [`Error::Disconnected`] if the ring is
    /// closed or every receiver is gone (dropped or dead).
    ///
    /// # Examples
    ///
    /// ```
    /// let ring = coil_shm::MpmcRing::anonymous(&coil_shm::MpmcOptions::new().slot_size(4))?;
    /// let (tx, _rx) = (ring.sender()?, ring.receiver()?);
    /// assert!(tx.send(b"too long").is_err());
    /// tx.send(b"ok")?;
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn send(&self, msg: &[u8]) -> Result<()> {
        self.send_wait(msg, None)
    }

    /// Send, waiting at most `timeout` for room.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`]; as [`send`](Self::send).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let ring = coil_shm::MpmcRing::anonymous(&coil_shm::MpmcOptions::new().slots(2))?;
    /// let (tx, _rx) = (ring.sender()?, ring.receiver()?);
    /// tx.send(b"a")?;
    /// tx.send(b"b")?;
    /// assert_eq!(tx.send_timeout(b"c", Duration::from_millis(5)), Err(coil_shm::Error::Timeout));
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn send_timeout(&self, msg: &[u8], timeout: Duration) -> Result<()> {
        self.send_wait(msg, Some(timeout))
    }

    /// Send if there is room now.
    ///
    /// # Errors
    ///
    /// [`Error::Full`]; as [`send`](Self::send).
    ///
    /// # Examples
    ///
    /// ```
    /// let ring = coil_shm::MpmcRing::anonymous(&Default::default())?;
    /// let (tx, _rx) = (ring.sender()?, ring.receiver()?);
    /// tx.try_send(b"a")?;
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn try_send(&self, msg: &[u8]) -> Result<()> {
        self.check(msg)?;
        self.inner.try_send(msg, false).ok_or(Error::Full)
    }

    /// The ring this handle sends into.
    ///
    /// # Examples
    ///
    /// ```
    /// let ring = coil_shm::MpmcRing::anonymous(&Default::default())?;
    /// assert_eq!(ring.sender()?.ring().capacity(), 1024);
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn ring(&self) -> MpmcRing {
        MpmcRing {
            inner: self.inner.clone(),
        }
    }
}

impl Clone for MpmcSender {
    /// A new registration for the same ring.
    ///
    /// # Panics
    ///
    /// If the ring's 64-entry handle table is full; use
    /// [`MpmcRing::sender`] to get that as an error.
    fn clone(&self) -> Self {
        match self.ring().sender() {
            Ok(s) => s,
            Err(e) => panic!("cannot clone MpmcSender: {e}"),
        }
    }
}

impl Drop for MpmcSender {
    fn drop(&mut self) {
        self.reg.release(self.inner.ctl());
    }
}

/// The receiving side of an [`MpmcRing`].
///
/// # Examples
///
/// ```
/// let ring = coil_shm::MpmcRing::anonymous(&Default::default())?;
/// let (tx, rx) = (ring.sender()?, ring.receiver()?);
/// assert_eq!(rx.try_recv(), Err(coil_shm::Error::Empty));
/// tx.send(b"hi")?;
/// let mut buf = Vec::new();
/// rx.recv_into(&mut buf)?;
/// assert_eq!(buf, b"hi");
/// # Ok::<(), coil_shm::Error>(())
/// ```
#[derive(Debug)]
pub struct MpmcReceiver {
    inner: Arc<Inner>,
    reg: Registration,
}

impl MpmcReceiver {
    fn recv_wait(&self, out: &mut Vec<u8>, timeout: Option<Duration>) -> Result<()> {
        let ctl = self.inner.ctl();
        self.reg.ensure(ctl)?;
        if self.inner.try_recv(out, false).is_some() {
            return Ok(());
        }
        block(
            &ctl.data_sig.0,
            &ctl.space_sig.0,
            Wait::new(self.inner.spin, timeout),
            |scan| {
                if self.inner.try_recv(out, scan).is_some() {
                    return Some(Ok(()));
                }
                if ctl.gone(SENDER, scan) {
                    // Drain what was published before the last sender left.
                    return Some(self.inner.try_recv(out, true).ok_or(Error::Disconnected));
                }
                None
            },
        )
    }

    /// Receive into `out` (cleared first), blocking while the ring is empty.
    ///
    /// # Errors
    ///
    /// [`Error::Disconnected`] once the ring is empty and closed or every
    /// sender is gone (dropped or dead).
    ///
    /// # Examples
    ///
    /// ```
    /// let ring = coil_shm::MpmcRing::anonymous(&Default::default())?;
    /// let rx = ring.receiver()?;
    /// ring.sender()?.send(b"x")?; // the sender is dropped right away
    /// let mut out = Vec::new();
    /// rx.recv_into(&mut out)?;
    /// assert_eq!(rx.recv_into(&mut out), Err(coil_shm::Error::Disconnected));
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn recv_into(&self, out: &mut Vec<u8>) -> Result<()> {
        self.recv_wait(out, None)
    }

    /// Receive a message, blocking while the ring is empty.
    ///
    /// # Errors
    ///
    /// As [`recv_into`](Self::recv_into).
    ///
    /// # Examples
    ///
    /// ```
    /// let ring = coil_shm::MpmcRing::anonymous(&Default::default())?;
    /// let (tx, rx) = (ring.sender()?, ring.receiver()?);
    /// tx.send(b"hello")?;
    /// assert_eq!(rx.recv()?, b"hello");
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn recv(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.recv_wait(&mut out, None)?;
        Ok(out)
    }

    /// Receive, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`]; as [`recv_into`](Self::recv_into).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let ring = coil_shm::MpmcRing::anonymous(&Default::default())?;
    /// let (_tx, rx) = (ring.sender()?, ring.receiver()?);
    /// assert_eq!(rx.recv_timeout(Duration::from_millis(5)), Err(coil_shm::Error::Timeout));
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.recv_wait(&mut out, Some(timeout))?;
        Ok(out)
    }

    /// Receive if a message is there now.
    ///
    /// # Errors
    ///
    /// [`Error::Empty`]; [`Error::Disconnected`] if empty and every sender
    /// has left or the ring is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let ring = coil_shm::MpmcRing::anonymous(&Default::default())?;
    /// let (_tx, rx) = (ring.sender()?, ring.receiver()?);
    /// assert_eq!(rx.try_recv(), Err(coil_shm::Error::Empty));
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn try_recv(&self) -> Result<Vec<u8>> {
        let ctl = self.inner.ctl();
        self.reg.ensure(ctl)?;
        let mut out = Vec::new();
        if self.inner.try_recv(&mut out, false).is_some() {
            return Ok(out);
        }
        if ctl.gone(SENDER, false) {
            return self
                .inner
                .try_recv(&mut out, false)
                .map(|_| out)
                .ok_or(Error::Disconnected);
        }
        Err(Error::Empty)
    }

    /// The ring this handle receives from.
    ///
    /// # Examples
    ///
    /// ```
    /// let ring = coil_shm::MpmcRing::anonymous(&Default::default())?;
    /// assert!(ring.receiver()?.ring().is_empty());
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn ring(&self) -> MpmcRing {
        MpmcRing {
            inner: self.inner.clone(),
        }
    }
}

impl Clone for MpmcReceiver {
    /// A new registration for the same ring.
    ///
    /// # Panics
    ///
    /// If the ring's 64-entry handle table is full; use
    /// [`MpmcRing::receiver`] to get that as an error.
    fn clone(&self) -> Self {
        match self.ring().receiver() {
            Ok(s) => s,
            Err(e) => panic!("cannot clone MpmcReceiver: {e}"),
        }
    }
}

impl Drop for MpmcReceiver {
    fn drop(&mut self) {
        self.reg.release(self.inner.ctl());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_word_round_trips() {
        for (seq, phase, pid) in [
            (0, EMPTY, 0),
            (SEQ_MASK, READING, PID_MASK as u32),
            (12345, FULL, 77),
        ] {
            assert_eq!(dec(enc(seq, phase, pid)), (seq, phase, pid));
        }
    }

    #[test]
    fn distance_wraps_in_40_bits() {
        assert_eq!(dist(5, 3), 2);
        assert_eq!(dist(3, 5), -2);
        assert_eq!(dist(0, SEQ_MASK), 1);
        assert_eq!(dist(SEQ_MASK, 0), -1);
        assert_eq!(dist(1 << 20, (1u64 << 20) + (1 << 40)), 0);
    }

    #[test]
    fn bad_sizes_are_typed() {
        assert!(matches!(layout(1, 8), Err(Error::InvalidSize { .. })));
        assert!(matches!(layout(4, 0), Err(Error::InvalidSize { .. })));
        assert!(matches!(
            layout(4, (1 << 30) + 1),
            Err(Error::InvalidSize { .. })
        ));
        assert!(matches!(
            layout((1 << 30) + 1, 8),
            Err(Error::InvalidSize { .. })
        ));
    }
}
