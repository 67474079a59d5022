//! The single-producer single-consumer ring: a byte buffer carrying
//! variable-length messages of any size, streamed through it in chunks so a
//! message larger than the buffer still flows at memory speed.
//!
//! # Layout and framing
//!
//! ```text
//! control block | data[capacity]  (capacity a power of two, >= 64)
//! frame = header: u64 | payload[len] | pad to a multiple of 8
//! header = PUBLISHED (bit 63) | kind (bits 61-62) | lap tag (bits 40-60) | len (bits 0-39)
//! ```
//!
//! `tail` (written by the sender only) and `head` (written by the receiver
//! only) are byte positions that only grow. Frames start 8-aligned, so a
//! header never wraps around the end of the buffer; a payload may, and is
//! copied in two pieces. The lap tag of a header at position `p` is
//! `p / capacity` (its low 21 bits); a word is the header *of the frame at
//! `p`* only if it is marked published and carries `p`'s tag.
//!
//! # Publication in band
//!
//! A frame that fits the buffer (a *whole* frame) is published by the
//! `Release` store of its header, after its payload is written: the
//! receiver polls the header word at its own position, in the cache line it
//! must fetch for the payload anyway, and never reads the sender's `tail`
//! for it. The sender still stores `tail` after each frame (a line the
//! receiver no longer reads on its fast path, so the store stays in the
//! sender's cache): it is where a sender starts, and what a frame larger
//! than the buffer (a *stream* frame, kind `STREAM`) publishes chunk by
//! chunk ([`CHUNK`] bytes) while the receiver releases space chunk by
//! chunk, so the two copies overlap on two CPUs. The sender reads the
//! receiver's `head` only when its cached copy says the frame does not
//! fit, and the receiver stores `head` in batches (invariant 4): on the
//! fast path neither side reads a line the other writes per message, only
//! the frames themselves move between the CPUs.
//!
//! # Invariants
//!
//! 1. Only the (single) sender stores `tail`, only the receiver stores `head`;
//!    `head <= tail <= head + capacity`. Frames published past `tail` exist
//!    only between a header store and the `tail` store that follows it
//!    (or after a sender died between the two: invariant 8).
//! 2. Bytes in `tail..head + capacity` belong to the sender, bytes in
//!    `head..tail` (and published frames past `tail`) to the receiver; each
//!    side touches only its own bytes, except that the receiver reads (never
//!    writes) the header word at its own position with an atomic load, and
//!    the sender writes header words only with atomic stores.
//! 3. A sender that dies mid-frame leaves a partial frame. The receiver
//!    notices (the sender's pid is dead, checked while waiting), closes the
//!    ring and reports [`Error::Disconnected`]: nothing after that frame can
//!    be framed correctly, and an SPSC ring has no other sender to serve.
//!    Only a stream frame can be partial: a whole frame is published in
//!    one store. Likewise a receiver that dies inside a stream frame leaves
//!    `head` in its middle (it releases space chunk by chunk); the next
//!    receive finds `head` strictly inside the recorded bounds of the last
//!    stream frame (`Control::stream`), closes the ring and reports
//!    [`Error::Disconnected`] instead of waiting for a header that cannot
//!    come. A sender whose stream send fails after the frame's header is
//!    published (its receiver died or the ring closed) closes the ring too:
//!    the frame stays torn while the sender lives.
//! 4. The receiver releases space lazily: while the next frame is already
//!    published, it stores `head` only once `capacity / 8` bytes have
//!    gathered; it stores it at once when the next header is not published
//!    yet (it has read everything there is), before it waits, and on drop.
//!    So the sender, when the ring is full, refreshes its view of `head`
//!    once per batch rather than once per message, and the two sides do not
//!    trade the `head` line back and forth. The receiver's own position is
//!    `max(local, head)` (a handle inherited across `fork` whose parent went
//!    on consuming starts from the shared `head`). The cost: a receiver that
//!    is killed may leave up to `capacity / 8` bytes of frames it had
//!    already returned unreleased, and a receiver attached after it
//!    receives those frames again.
//! 5. A frame written in place ([`SpscSender::send_with`]) must not wrap, so
//!    its payload is one slice. When it would, the sender first publishes a
//!    `WRAP` header at the current position: "the rest of the buffer is
//!    padding", and the receiver skips to the start of the buffer.
//! 6. A receiver that keeps up with a fast sender would fetch each frame's
//!    cache lines the moment they are written, so the sender's next stores
//!    to them wait for the lines to come back: one cross-CPU transfer per
//!    message on the sender's critical path. So a receiver whose last
//!    receive found its message already there (it is in a stream), and
//!    which now finds the ring empty, pauses briefly (`SLIP_PAUSES`
//!    spin-loop hints, well under a microsecond to about one on a virtual
//!    machine) before it looks again, letting the sender write several
//!    frames undisturbed and then taking them in one sweep; measured about
//!    +30 % messages per second. If the pause finds nothing, the receiver
//!    leaves stream mode and waits as usual, so request/response traffic,
//!    where the reply is never already there, never pauses.
//! 7. *The word after a frame is clean.* Before a frame (whole, wrap or
//!    stream) becomes visible complete (its header, or for a stream frame
//!    the final `tail` store), the word at its end holds either zero or, when
//!    the frame ends exactly `capacity` past the `head` the sender knows, the
//!    header the sender wrote at that `head` a lap earlier, whose tag is one
//!    lap behind. The sender zeroes the word when it has 8 bytes to spare;
//!    it fills the ring exactly only when the known `head` is at or past the
//!    end of the last stream frame (`Control::stream`), so that `head` is a
//!    frame boundary with a header, not the middle of a streamed payload.
//!    Hence the receiver, arriving at the end of a frame, finds no stale
//!    word that looks like a header for its position: a payload byte
//!    pattern is never mistaken for a frame.
//! 8. A sender's starting point is `tail` plus any whole or wrap frames
//!    published past it (by a sender that died between a header store and
//!    its `tail` store); the slow paths walk those (invariant 7 ends the
//!    walk). A sender that died inside a stream frame (`tail` before the
//!    recorded end of the stream frame that was published) leaves a torn
//!    frame: the next sender closes the ring, as in invariant 3.

use std::{
    cell::Cell,
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
    value::wait_magic,
};

const MAGIC: u64 = 0x636f_696c_7370_7363; // "coilspsc"
/// A receiver that is behind releases space at least every
/// `capacity / RELEASE_BATCH` bytes (invariant 4).
const RELEASE_BATCH: u64 = 8;
/// Bytes published at a time while a message larger than the ring streams.
pub const CHUNK: usize = 64 * 1024;

/// Sizing and waiting policy of an [`SpscRing`].
///
/// # Examples
///
/// ```
/// let o = coil_shm::SpscOptions::new().capacity(1 << 16);
/// assert_eq!(o.get_capacity(), 1 << 16);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct SpscOptions {
    capacity: usize,
    max_message: usize,
    spin: Duration,
    shm: ShmOptions,
}

impl Default for SpscOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl SpscOptions {
    /// 1 MiB buffer, messages up to 1 GiB, 20 µs of spinning (3 µs busy, then yielding) before sleeping.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(coil_shm::SpscOptions::new().get_max_message(), 1 << 30);
    /// ```
    pub const fn new() -> Self {
        Self {
            capacity: 1 << 20,
            max_message: 1 << 30,
            spin: Duration::from_micros(20),
            shm: ShmOptions::new(),
        }
    }
    /// Buffer size in bytes (64 to 2^40, rounded up to a power of two).
    /// For a stream of small messages a buffer that fits the L1 data cache
    /// (16 KiB or less) is fastest: both CPUs keep every line of it close,
    /// and 64-byte messages measured about 1.8x the rate of a 64 KiB buffer.
    /// Large messages want room for a few of them (or stream through).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(coil_shm::SpscOptions::new().capacity(4096).get_capacity(), 4096);
    /// ```
    pub const fn capacity(mut self, n: usize) -> Self {
        self.capacity = n;
        self
    }
    /// Largest message accepted (a guard against bad lengths; messages may
    /// exceed the buffer). At most 2^40 - 1: creating a ring with a larger
    /// limit is [`Error::InvalidSize`].
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(coil_shm::SpscOptions::new().max_message(10).get_max_message(), 10);
    /// ```
    pub const fn max_message(mut self, n: usize) -> Self {
        self.max_message = n;
        self
    }
    /// How long a blocking call spins before it sleeps on the futex.
    ///
    /// # Examples
    ///
    /// ```
    /// let o = coil_shm::SpscOptions::new().spin(std::time::Duration::from_micros(5));
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
    /// let o = coil_shm::SpscOptions::new().shm(coil_shm::ShmOptions::new().track(false));
    /// ```
    pub const fn shm(mut self, shm: ShmOptions) -> Self {
        self.shm = shm;
        self
    }
    /// The capacity asked for.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(coil_shm::SpscOptions::new().get_capacity(), 1 << 20);
    /// ```
    pub const fn get_capacity(&self) -> usize {
        self.capacity
    }
    /// The message limit asked for.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(coil_shm::SpscOptions::new().get_max_message(), 1 << 30);
    /// ```
    pub const fn get_max_message(&self) -> usize {
        self.max_message
    }
}

fn data_offset() -> usize {
    size_of::<Control>().div_ceil(128) * 128
}

fn layout(capacity: usize, max_message: usize) -> Result<(u64, usize)> {
    if !(64..=1 << 40).contains(&capacity) {
        return Err(Error::InvalidSize {
            size: capacity,
            reason: "ring capacity must be 64 bytes to 2^40",
        });
    }
    if max_message == 0 {
        return Err(Error::InvalidSize {
            size: 0,
            reason: "the message limit must be at least 1",
        });
    }
    if max_message as u64 > LEN_MASK {
        return Err(Error::InvalidSize {
            size: max_message,
            reason: "the message limit must be below 2^40 (a frame header holds 40 bits of length)",
        });
    }
    let cap = capacity.next_power_of_two();
    Ok((cap as u64, data_offset() + cap))
}

fn frame_len(len: usize) -> u64 {
    8 + (len as u64).div_ceil(8) * 8
}

/// A frame found by the receiver's fast path.
#[derive(Debug, Clone, Copy)]
struct Frame {
    start: u64,
    len: usize,
    end: u64,
    /// The shared `head` when it was found.
    shared: u64,
}

/// How many spin-loop pauses a streaming receiver that caught up waits before
/// it looks again (invariant 6).
const SLIP_PAUSES: u32 = 16;

/// Set in every published header; a word without it is "nothing here yet".
const PUBLISHED: u64 = 1 << 63;
const KIND_SHIFT: u32 = 61;
const KIND_MASK: u64 = 3;
/// A complete frame that fits the buffer, published by its header.
const WHOLE: u64 = 0;
/// The rest of the buffer is padding (invariant 5); the length is unused.
const WRAP: u64 = 1;
/// A frame larger than the buffer, published through `tail` chunk by chunk.
const STREAM: u64 = 2;
const TAG_SHIFT: u32 = 40;
const TAG_MASK: u64 = (1 << 21) - 1;
/// The length field of a header; also the largest message limit.
const LEN_MASK: u64 = (1 << 40) - 1;

#[derive(Debug)]
struct Inner {
    seg: SharedMemory,
    cap: u64,
    /// `log2(cap)`: a position's lap is `pos >> shift`.
    shift: u32,
    max: usize,
    spin: Duration,
}

impl Inner {
    fn ctl(&self) -> &Control {
        // SAFETY: initialised control block at offset 0 (published by magic).
        unsafe { &*(self.seg.as_ptr() as *const Control) }
    }

    fn data(&self) -> *mut u8 {
        // SAFETY: the data area follows the control block inside the segment.
        unsafe { self.seg.as_ptr().add(data_offset()) }
    }

    /// Copy `src` into the buffer at stream position `pos` (wrapping).
    ///
    /// # Safety
    ///
    /// The `src.len()` bytes from `pos` must belong to the sender (invariant 2).
    unsafe fn put(&self, pos: u64, src: &[u8]) {
        let i = (pos & (self.cap - 1)) as usize;
        let first = src.len().min(self.cap as usize - i);
        // SAFETY: both pieces lie inside the data area; the caller owns them.
        unsafe {
            std::ptr::copy_nonoverlapping(src.as_ptr(), self.data().add(i), first);
            if first < src.len() {
                std::ptr::copy_nonoverlapping(
                    src.as_ptr().add(first),
                    self.data(),
                    src.len() - first,
                );
            }
        }
    }

    /// The header word at stream position `pos`.
    ///
    /// # Safety
    ///
    /// `pos` is 8-aligned (frames are). Every access to a header word while
    /// the other side may access it is atomic (invariant 2).
    #[inline]
    unsafe fn word(&self, pos: u64) -> &AtomicU64 {
        let i = (pos & (self.cap - 1)) as usize;
        // SAFETY: an 8-aligned word inside the data area (the capacity is a
        // power of two of at least 64, so it never wraps; the data area is
        // 128-aligned, so the word is aligned), mapped as long as `self`.
        unsafe { &*(self.data().add(i) as *const AtomicU64) }
    }

    /// The header of a frame of `kind` and `len` bytes at position `pos`.
    #[inline]
    fn header(&self, kind: u64, pos: u64, len: u64) -> u64 {
        PUBLISHED | kind << KIND_SHIFT | ((pos >> self.shift) & TAG_MASK) << TAG_SHIFT | len
    }

    /// `(kind, len)` of the frame published at `pos`, or `None` if the word
    /// there is not its header (zero, or a header a lap old: invariant 7).
    /// `Acquire`: a whole frame's payload is visible once this returns it.
    #[inline]
    fn published(&self, pos: u64) -> Option<(u64, u64)> {
        // SAFETY: frame positions are 8-aligned; the load is atomic.
        let h = unsafe { self.word(pos) }.load(Ordering::Acquire);
        let tag = (pos >> self.shift) & TAG_MASK;
        (h & PUBLISHED != 0 && (h >> TAG_SHIFT) & TAG_MASK == tag)
            .then_some(((h >> KIND_SHIFT) & KIND_MASK, h & LEN_MASK))
    }

    /// Copy `n` bytes at stream position `pos` to `dst`.
    ///
    /// # Safety
    ///
    /// The `n` bytes from `pos` must be published to the receiver, and `dst`
    /// valid for `n` writes.
    unsafe fn get(&self, pos: u64, dst: *mut u8, n: usize) {
        let i = (pos & (self.cap - 1)) as usize;
        let first = n.min(self.cap as usize - i);
        // SAFETY: as the contract says; both pieces lie inside the data area.
        unsafe {
            std::ptr::copy_nonoverlapping(self.data().add(i), dst, first);
            if first < n {
                std::ptr::copy_nonoverlapping(self.data(), dst.add(first), n - first);
            }
        }
    }
}

/// A single-producer single-consumer ring of variable-length messages.
///
/// # Examples
///
/// ```
/// use coil_shm::{SpscOptions, SpscRing};
///
/// let ring = SpscRing::anonymous(&SpscOptions::new().capacity(4096))?;
/// let (tx, rx) = (ring.sender()?, ring.receiver()?);
/// tx.send(b"short")?;
/// assert_eq!(rx.recv()?, b"short");
/// # Ok::<(), coil_shm::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct SpscRing {
    inner: Arc<Inner>,
}

impl SpscRing {
    fn init(seg: SharedMemory, cap: u64, opts: &SpscOptions) -> Self {
        let c = seg.as_ptr() as *mut Control;
        // SAFETY: fresh zeroed segment sized by `layout`; unread before magic.
        unsafe {
            (&raw mut (*c).kind).write(1);
            (&raw mut (*c).param_a).write(cap);
            (&raw mut (*c).param_b).write(opts.max_message as u64);
            (*c).magic.store(MAGIC, Ordering::Release);
        }
        Self {
            inner: Arc::new(Inner {
                seg,
                cap,
                shift: cap.trailing_zeros(),
                max: opts.max_message,
                spin: opts.spin,
            }),
        }
    }

    /// Create a named ring.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSize`] for a capacity outside 64..=2^40 or a
    /// message limit of 0 or above 2^40 - 1; as [`SharedMemory::create`].
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_shm::{SpscOptions, SpscRing};
    /// let name = format!("coil-doc-spsc-{}", std::process::id());
    /// let ring = SpscRing::create(&name, &SpscOptions::new().capacity(1024))?;
    /// let tx = SpscRing::open(&name)?.sender()?;
    /// tx.send(b"via name")?;
    /// assert_eq!(ring.receiver()?.recv()?, b"via name");
    /// ring.segment().unlink()?;
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn create(name: &str, opts: &SpscOptions) -> Result<Self> {
        let (cap, total) = layout(opts.capacity, opts.max_message)?;
        Ok(Self::init(
            SharedMemory::create_with(name, total, &opts.shm)?,
            cap,
            opts,
        ))
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
    /// let ring = coil_shm::SpscRing::anonymous(&coil_shm::SpscOptions::new().capacity(100))?;
    /// assert_eq!(ring.capacity(), 128);
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn anonymous(opts: &SpscOptions) -> Result<Self> {
        let (cap, total) = layout(opts.capacity, opts.max_message)?;
        Ok(Self::init(SharedMemory::anonymous(total)?, cap, opts))
    }

    /// Attach to a named ring.
    ///
    /// # Errors
    ///
    /// As [`SharedMemory::open`]; [`Error::Incompatible`] if it is not an SPSC ring.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(coil_shm::SpscRing::open("coil-doc-no-spsc").is_err());
    /// ```
    pub fn open(name: &str) -> Result<Self> {
        let seg = SharedMemory::open(name)?;
        if seg.len() < data_offset() {
            return Err(Error::Incompatible("segment too small for a ring"));
        }
        // SAFETY: at least a control block; magic is atomic.
        let c = unsafe { &*(seg.as_ptr() as *const Control) };
        wait_magic(&c.magic, MAGIC)?;
        let (cap, max) = (c.param_a, c.param_b as usize);
        let (cap2, total) = layout(cap as usize, max)?;
        if cap2 != cap || total > seg.len() {
            return Err(Error::Incompatible(
                "ring header does not match the segment",
            ));
        }
        Ok(Self {
            inner: Arc::new(Inner {
                seg,
                cap,
                shift: cap.trailing_zeros(),
                max,
                spin: SpscOptions::new().spin,
            }),
        })
    }

    /// The sending handle. Only one process may send at a time.
    ///
    /// # Errors
    ///
    /// [`Error::CapacityExceeded`] if a live sender is already registered.
    ///
    /// # Examples
    ///
    /// ```
    /// let ring = coil_shm::SpscRing::anonymous(&Default::default())?;
    /// let tx = ring.sender()?;
    /// assert!(ring.sender().is_err());
    /// drop(tx);
    /// assert!(ring.sender().is_ok());
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn sender(&self) -> Result<SpscSender> {
        let ctl = self.inner.ctl();
        if ctl.reap_dead()[SENDER] > 0 {
            return Err(Error::CapacityExceeded("an SPSC ring has one sender"));
        }
        let reg = Registration::new(ctl, SENDER)?;
        Ok(SpscSender {
            inner: self.inner.clone(),
            reg,
            head: Cell::new(ctl.head.0.load(Ordering::Acquire)),
            busy: Cell::new(false),
        })
    }

    /// The receiving handle. Only one process may receive at a time.
    ///
    /// # Errors
    ///
    /// [`Error::CapacityExceeded`] if a live receiver is already registered.
    ///
    /// # Examples
    ///
    /// ```
    /// let ring = coil_shm::SpscRing::anonymous(&Default::default())?;
    /// let _rx = ring.receiver()?;
    /// assert!(ring.receiver().is_err());
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn receiver(&self) -> Result<SpscReceiver> {
        let ctl = self.inner.ctl();
        if ctl.reap_dead()[RECEIVER] > 0 {
            return Err(Error::CapacityExceeded("an SPSC ring has one receiver"));
        }
        let reg = Registration::new(ctl, RECEIVER)?;
        Ok(SpscReceiver {
            inner: self.inner.clone(),
            reg,
            tail: Cell::new(0),
            head: Cell::new(0),
            scratch: Scratch::default(),
            streaming: Cell::new(false),
            busy: Cell::new(false),
        })
    }

    /// Buffer size in bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(coil_shm::SpscRing::anonymous(&Default::default())?.capacity(), 1 << 20);
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn capacity(&self) -> usize {
        self.inner.cap as usize
    }

    /// Close the ring for both sides (see [`MpmcRing::close`](crate::MpmcRing::close)).
    ///
    /// # Examples
    ///
    /// ```
    /// let ring = coil_shm::SpscRing::anonymous(&Default::default())?;
    /// let tx = ring.sender()?;
    /// ring.close();
    /// assert_eq!(tx.send(b"x"), Err(coil_shm::Error::Disconnected));
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
    /// let ring = coil_shm::SpscRing::anonymous(&Default::default())?;
    /// assert!(ring.segment().len() > ring.capacity());
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn segment(&self) -> &SharedMemory {
        &self.inner.seg
    }
}

/// The sending side of an [`SpscRing`].
///
/// # Examples
///
/// ```
/// let ring = coil_shm::SpscRing::anonymous(&coil_shm::SpscOptions::new().capacity(64))?;
/// let (tx, rx) = (ring.sender()?, ring.receiver()?);
/// tx.try_send(&[1; 40])?;
/// assert_eq!(tx.try_send(&[2; 40]), Err(coil_shm::Error::Full));
/// assert_eq!(rx.recv()?, vec![1; 40]);
/// # Ok::<(), coil_shm::Error>(())
/// ```
#[derive(Debug)]
pub struct SpscSender {
    inner: Arc<Inner>,
    reg: Registration,
    /// Last seen `head` (a hint; refreshed when space seems short).
    head: Cell<u64>,
    /// A `send_with` closure is writing a message in place.
    busy: Cell<bool>,
}

/// What a send called from inside a `send_with` closure gets.
const NESTED_SEND: Error =
    Error::Unsupported("a send from inside send_with's closure on the same sender");

impl SpscSender {
    /// Wait until `ok(head)` holds for the shared `head`; returns it (and
    /// caches it).
    fn wait_head(&self, w: Wait, ok: impl Fn(u64) -> bool) -> Result<u64> {
        let ctl = self.inner.ctl();
        if ok(self.head.get()) {
            return Ok(self.head.get());
        }
        let probe = || {
            let h = ctl.head.0.load(Ordering::Acquire);
            self.head.set(h);
            ok(h).then_some(h)
        };
        if let Some(h) = probe() {
            return Ok(h);
        }
        block(&ctl.space_sig.0, &ctl.data_sig.0, w, |scan| {
            if let Some(h) = probe() {
                return Some(Ok(h));
            }
            ctl.gone(RECEIVER, scan).then_some(Err(Error::Disconnected))
        })
    }

    /// Wait until `need` bytes from `pos` are free; returns the free count.
    fn room(&self, pos: u64, need: u64, w: Wait) -> Result<u64> {
        let cap = self.inner.cap;
        let h = self.wait_head(w, |h| h <= pos && pos - h <= cap && cap - (pos - h) >= need)?;
        Ok(cap - (pos - h))
    }

    /// Whether a frame of `frame <= cap` bytes may be written at `start`
    /// when the receiver has released everything before `head`: it fits,
    /// and the word after it can be made clean (invariant 7) — there are 8
    /// bytes to spare, or it fills the ring exactly and `head` is not inside
    /// a streamed payload.
    #[inline]
    fn fits(&self, start: u64, head: u64, frame: u64) -> bool {
        // A cached `head` may be behind by more than a lap (a new handle).
        if head > start || start - head > self.inner.cap {
            return false;
        }
        let free = self.inner.cap - (start - head);
        free >= frame + 8
            || (free == frame && head >= self.inner.ctl().stream.0[1].load(Ordering::Relaxed))
    }

    /// Wait until a frame of `frame <= cap` bytes may be written at `start`.
    fn room_for(&self, start: u64, frame: u64, w: Wait) -> Result<()> {
        self.wait_head(w, |h| self.fits(start, h, frame))?;
        Ok(())
    }

    /// Make the word after a frame of `frame` bytes at `start` clean
    /// (invariant 7): zero it when the cached `head` leaves 8 bytes to
    /// spare; otherwise the frame fills the ring exactly and the word holds
    /// the header at `head`, a lap old.
    ///
    /// # Safety
    ///
    /// [`fits`](Self::fits) held for the cached `head` (which only grows).
    #[inline]
    unsafe fn clean_after(&self, start: u64, frame: u64) {
        let inner = &*self.inner;
        if inner.cap - (start - self.head.get()) >= frame + 8 {
            // SAFETY: the 8 bytes after the frame are free, so ours
            // (invariant 2); 8-aligned.
            unsafe { inner.word(start + frame) }.store(0, Ordering::Relaxed);
        }
    }

    /// Where the next frame goes: `tail`, plus any frames a sender that
    /// died between a header store and its `tail` store published past it
    /// (invariant 8), which it adopts.
    ///
    /// # Errors
    ///
    /// [`Error::Disconnected`] (the ring is closed) if a sender died inside
    /// a stream frame; [`Error::Incompatible`] for a corrupt header.
    fn start(&self) -> Result<u64> {
        let inner = &*self.inner;
        let ctl = inner.ctl();
        let tail = ctl.tail.0.load(Ordering::Acquire);
        let [s0, s1] = [0, 1].map(|i| ctl.stream.0[i].load(Ordering::Acquire));
        if tail < s1 {
            if tail > s0 || inner.published(s0).is_some() {
                // A stream frame published and never finished: torn.
                ctl.close();
                return Err(Error::Disconnected);
            }
            // Its sender died before publishing it: nothing to undo.
            ctl.stream.0[1].store(tail, Ordering::Release);
        }
        let mut pos = tail;
        while let Some((kind, len)) = inner.published(pos) {
            pos += match kind {
                WHOLE if len as usize <= inner.max && frame_len(len as usize) <= inner.cap => {
                    frame_len(len as usize)
                }
                WRAP => inner.cap - (pos & (inner.cap - 1)),
                STREAM => {
                    ctl.close();
                    return Err(Error::Disconnected);
                }
                _ => {
                    ctl.close();
                    return Err(Error::Incompatible("corrupt frame header in ring"));
                }
            };
            if pos - tail > inner.cap {
                ctl.close();
                return Err(Error::Incompatible("corrupt frame header in ring"));
            }
        }
        if pos != tail {
            ctl.tail.0.store(pos, Ordering::Release);
        }
        Ok(pos)
    }

    fn send_wait(&self, msg: &[u8], timeout: Option<Duration>, try_only: bool) -> Result<()> {
        if self.busy.get() {
            return Err(NESTED_SEND);
        }
        let inner = &*self.inner;
        let ctl = inner.ctl();
        if msg.len() > inner.max {
            return Err(Error::MessageTooLarge {
                len: msg.len(),
                max: inner.max,
            });
        }
        self.reg.ensure(ctl)?;
        if ctl.gone(RECEIVER, false) {
            return Err(Error::Disconnected);
        }
        let start = self.start()?;
        if self.head.get() > start {
            self.head.set(ctl.head.0.load(Ordering::Acquire));
        }
        let frame = frame_len(msg.len());
        let w = Wait::new(inner.spin, timeout);
        if frame <= inner.cap {
            if try_only {
                let h = ctl.head.0.load(Ordering::Acquire);
                self.head.set(h);
                if !self.fits(start, h, frame) {
                    return Err(Error::Full);
                }
            } else {
                self.room_for(start, frame, w)?;
            }
            // SAFETY: `fits` holds for the cached head.
            let (end, header) = unsafe { self.write_frame(start, msg) };
            self.publish(start, header, end);
            return Ok(());
        }
        if try_only {
            return Err(Error::MessageTooLarge {
                len: msg.len(),
                max: inner.cap as usize - 8,
            });
        }
        self.stream(start, msg, w)
    }

    /// Stream a message whose frame is larger than the buffer through it.
    fn stream(&self, start: u64, msg: &[u8], w: Wait) -> Result<()> {
        let inner = &*self.inner;
        let ctl = inner.ctl();
        let end = start + frame_len(msg.len());
        // The whole buffer, so the receiver finds one frame in it.
        let free = self.room(start, inner.cap, w)? - 8;
        // Recorded before the header (invariants 7 and 8).
        ctl.stream.0[0].store(start, Ordering::Release);
        ctl.stream.0[1].store(end, Ordering::Release);
        let header = inner.header(STREAM, start, msg.len() as u64);
        // SAFETY: the buffer is free, so ours; atomic header store.
        unsafe { inner.word(start) }.store(header, Ordering::Release);
        // From here on the frame is published: a send that fails part way
        // (the receiver died or the ring was closed) leaves it torn while
        // this sender lives, and nothing after it could be framed, so the
        // ring is closed (a receiver attached later gets `Disconnected`
        // instead of waiting for the rest of the payload).
        let r = self.stream_body(start, end, msg, free);
        if r.is_err() {
            ctl.close();
        }
        r
    }

    /// The payload of a stream frame whose header is published at `start`.
    fn stream_body(&self, start: u64, end: u64, msg: &[u8], mut free: u64) -> Result<()> {
        let inner = &*self.inner;
        let ctl = inner.ctl();
        let nowait = Wait::new(inner.spin, None);
        let mut pos = start + 8;
        let mut rest = msg;
        while !rest.is_empty() {
            if free == 0 {
                free = self.room(pos, 1, nowait)?;
            }
            let n = rest.len().min(free as usize).min(CHUNK);
            // SAFETY: n <= free bytes from `pos` are ours.
            unsafe { inner.put(pos, &rest[..n]) };
            pos += n as u64;
            free -= n as u64;
            rest = &rest[n..];
            // The last payload bytes (at least one: the padding is under 8
            // bytes) wait for the final store, so `tail == end` always means
            // "complete, and the word after it clean".
            ctl.tail.0.store(pos.min(end - 8), Ordering::Release);
            ctl.data_sig.0.notify();
        }
        // The word after the frame must be clean before `tail` reaches the
        // end (invariant 7); the receiver frees the room as it reads (up to
        // `end - 8`, which leaves the 8 bytes needed).
        self.room(pos, end + 8 - pos, nowait)?;
        // SAFETY: the 8 bytes at `end` are free, so ours; 8-aligned.
        unsafe { inner.word(end) }.store(0, Ordering::Relaxed);
        ctl.tail.0.store(end, Ordering::Release);
        ctl.data_sig.0.notify();
        Ok(())
    }

    /// Send a message of any length up to the message limit, blocking while
    /// the ring is full. A message larger than the buffer is streamed through
    /// it as the receiver reads.
    ///
    /// # Errors
    ///
    /// [`Error::MessageTooLarge`] past the limit; [`Error::Disconnected`] if
    /// the ring is closed or the receiver is gone (dropped or dead);
    /// [`Error::Unsupported`] from inside a [`send_with`](Self::send_with)
    /// closure on this sender.
    ///
    /// # Examples
    ///
    /// ```
    /// let ring = coil_shm::SpscRing::anonymous(&coil_shm::SpscOptions::new().capacity(256))?;
    /// let (tx, rx) = (ring.sender()?, ring.receiver()?);
    /// let big = vec![7u8; 10_000]; // 40x the buffer
    /// let t = std::thread::spawn(move || rx.recv());
    /// tx.send(&big)?;
    /// assert_eq!(t.join().unwrap()?, big);
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn send(&self, msg: &[u8]) -> Result<()> {
        if self.send_now(msg) {
            return Ok(());
        }
        self.send_wait(msg, None, false)
    }

    /// The fast path of every send: if the receiver is there and the whole
    /// frame fits the space already known to be free, write it and publish
    /// it with one `Release` store of its header. `false` means "take the
    /// slow path" (which re-checks everything).
    #[inline]
    fn send_now(&self, msg: &[u8]) -> bool {
        let ctl = self.inner.ctl();
        if !self.reg.current() || self.busy.get() || ctl.gone(RECEIVER, false) {
            return false;
        }
        let start = ctl.tail.0.load(Ordering::Relaxed);
        if self.inner.published(start).is_some() {
            return false; // frames past `tail` to adopt (invariant 8)
        }
        match self.write_now(start, msg) {
            Some((end, header)) => {
                self.publish(start, header, end);
                true
            }
            None => false,
        }
    }

    /// Write `msg`'s frame at stream position `start` without publishing it,
    /// if it fits the space already known to be free; returns the frame's
    /// end and the header that publishes it.
    #[inline]
    fn write_now(&self, start: u64, msg: &[u8]) -> Option<(u64, u64)> {
        let inner = &*self.inner;
        let frame = frame_len(msg.len());
        if msg.len() > inner.max || frame > inner.cap || !self.fits(start, self.head.get(), frame) {
            return None;
        }
        // SAFETY: `fits` holds for the cached head.
        Some(unsafe { self.write_frame(start, msg) })
    }

    /// Write `msg`'s payload at `start` and clean the word after its frame;
    /// returns the frame's end and its header (not stored yet).
    ///
    /// # Safety
    ///
    /// [`fits`](Self::fits) holds for the cached `head` and a frame of
    /// `msg` (which is within the message limit) at `start`.
    #[inline]
    unsafe fn write_frame(&self, start: u64, msg: &[u8]) -> (u64, u64) {
        let inner = &*self.inner;
        let frame = frame_len(msg.len());
        // SAFETY: `frame` bytes from the 8-aligned `start` are free, so ours
        // (invariant 2); the payload follows the header inside the frame; the
        // caller's `fits` is what `clean_after` needs.
        unsafe {
            inner.put(start + 8, msg);
            self.clean_after(start, frame);
        }
        (start + frame, inner.header(WHOLE, start, msg.len() as u64))
    }

    /// Publish the frames written from `start` to `end` by storing the
    /// first one's `header` (any others already carry theirs), advance
    /// `tail`, and wake a sleeping receiver.
    #[inline]
    fn publish(&self, start: u64, header: u64, end: u64) {
        let ctl = self.inner.ctl();
        ctl.space_sig.0.note_cpu();
        // SAFETY: `start` is the 8-aligned start of a frame of ours; atomic.
        unsafe { self.inner.word(start) }.store(header, Ordering::Release);
        ctl.tail.0.store(end, Ordering::Release);
        ctl.data_sig.0.notify();
    }

    /// Send a message of `len` bytes written in place: `fill` gets the
    /// message's bytes inside the ring (zeroed or left over from earlier
    /// messages — it should write all of them) and the message is published
    /// when it returns, with `fill`'s result handed back. Nothing is copied.
    /// The frame is kept in one piece: when it would wrap around the end of
    /// the buffer, the rest of the buffer is skipped (and the call waits for
    /// that space too). If `fill` panics, nothing is sent.
    ///
    /// # Errors
    ///
    /// [`Error::MessageTooLarge`] past the message limit or if the frame
    /// cannot fit the buffer at once (use [`send`](Self::send) to stream
    /// it); [`Error::Disconnected`] as [`send`](Self::send);
    /// [`Error::Unsupported`] when called (like any send on this sender)
    /// from inside `fill`.
    ///
    /// # Examples
    ///
    /// ```
    /// let ring = coil_shm::SpscRing::anonymous(&Default::default())?;
    /// let (tx, rx) = (ring.sender()?, ring.receiver()?);
    /// let sum = tx.send_with(4, |buf| {
    ///     buf.copy_from_slice(&7u32.to_le_bytes());
    ///     7
    /// })?;
    /// assert_eq!(sum, 7);
    /// assert_eq!(rx.recv()?, 7u32.to_le_bytes());
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn send_with<R>(&self, len: usize, fill: impl FnOnce(&mut [u8]) -> R) -> Result<R> {
        if self.busy.get() {
            return Err(NESTED_SEND);
        }
        let inner = &*self.inner;
        let ctl = inner.ctl();
        if len > inner.max {
            return Err(Error::MessageTooLarge {
                len,
                max: inner.max,
            });
        }
        let frame = frame_len(len);
        if frame > inner.cap {
            return Err(Error::MessageTooLarge {
                len,
                max: inner.cap as usize - 8,
            });
        }
        self.reg.ensure(ctl)?;
        if ctl.gone(RECEIVER, false) {
            return Err(Error::Disconnected);
        }
        let mut start = self.start()?;
        if self.head.get() > start {
            self.head.set(ctl.head.0.load(Ordering::Acquire));
        }
        let wait = Wait::new(inner.spin, None);
        let i = start & (inner.cap - 1);
        if i + frame > inner.cap {
            // Pad to the end of the buffer and publish the padding alone: the
            // frame after it may need the space the padding frees as it is read.
            let pad = inner.cap - i;
            self.room_for(start, pad, wait)?;
            // SAFETY: `fits` holds for the padding as a frame.
            unsafe { self.clean_after(start, pad) };
            self.publish(start, inner.header(WRAP, start, 0), start + pad);
            start += pad;
        }
        self.room_for(start, frame, wait)?;
        /// Clears `busy` even if `fill` unwinds.
        struct Busy<'a>(&'a Cell<bool>);
        impl Drop for Busy<'_> {
            fn drop(&mut self) {
                self.0.set(false);
            }
        }
        self.busy.set(true);
        let guard = Busy(&self.busy);
        // SAFETY: `frame` bytes from `start` are free, so ours (invariant 2),
        // and do not wrap: `start` is at the buffer's start or the frame fit
        // before its end. A send from inside `fill` is refused (`busy`), so
        // nothing else writes there until we publish. `fits` held for the
        // cached head (`room_for`), as `clean_after` needs.
        let r = unsafe {
            self.clean_after(start, frame);
            let at = ((start + 8) & (inner.cap - 1)) as usize;
            fill(std::slice::from_raw_parts_mut(inner.data().add(at), len))
        };
        drop(guard);
        self.publish(start, inner.header(WHOLE, start, len as u64), start + frame);
        Ok(r)
    }

    /// Send several messages in order, publishing them together: every
    /// message that fits the space known to be free is written first and the
    /// whole group is made visible with one store (the first frame's
    /// header, stored last), so the receiver does not read the group's cache
    /// lines while the sender is still writing them. A message that does not fit waits (or streams) as in
    /// [`send`](Self::send), after everything before it has been published.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send), for the first message that fails; every
    /// message before it has been sent and none after it.
    ///
    /// # Examples
    ///
    /// ```
    /// let ring = coil_shm::SpscRing::anonymous(&Default::default())?;
    /// let (tx, rx) = (ring.sender()?, ring.receiver()?);
    /// tx.send_many(&[&b"one"[..], b"two", b"three"])?;
    /// assert_eq!(rx.recv()?, b"one");
    /// assert_eq!(rx.recv()?, b"two");
    /// assert_eq!(rx.recv()?, b"three");
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn send_many<M: AsRef<[u8]>>(&self, msgs: &[M]) -> Result<()> {
        if self.busy.get() {
            return Err(NESTED_SEND);
        }
        let ctl = self.inner.ctl();
        let mut i = 0;
        while i < msgs.len() {
            let start = ctl.tail.0.load(Ordering::Relaxed);
            if self.reg.current()
                && !ctl.gone(RECEIVER, false)
                && self.inner.published(start).is_none()
            {
                // The first frame's header is stored last: the receiver
                // reaches the others only through it, so it publishes all.
                let mut first = None;
                let mut end = start;
                while let Some(m) = msgs.get(i) {
                    let Some((e, header)) = self.write_now(end, m.as_ref()) else {
                        break;
                    };
                    if first.is_none() {
                        first = Some(header);
                    } else {
                        // SAFETY: the 8-aligned start of a frame of ours.
                        unsafe { self.inner.word(end) }.store(header, Ordering::Release);
                    }
                    end = e;
                    i += 1;
                }
                if let Some(header) = first {
                    self.publish(start, header, end);
                }
            }
            if let Some(m) = msgs.get(i) {
                self.send_wait(m.as_ref(), None, false)?;
                i += 1;
            }
        }
        Ok(())
    }

    /// Send, waiting at most `timeout` for the first piece of the message to
    /// fit. Once a message larger than the buffer has started to stream, the
    /// rest waits for the receiver regardless of the timeout (a half-sent
    /// frame cannot be withdrawn); it still ends with
    /// [`Error::Disconnected`] if the receiver dies.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`]; as [`send`](Self::send).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let ring = coil_shm::SpscRing::anonymous(&coil_shm::SpscOptions::new().capacity(64))?;
    /// let (tx, _rx) = (ring.sender()?, ring.receiver()?);
    /// tx.send(&[0; 50])?;
    /// assert_eq!(tx.send_timeout(&[0; 50], Duration::from_millis(5)), Err(coil_shm::Error::Timeout));
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn send_timeout(&self, msg: &[u8], timeout: Duration) -> Result<()> {
        self.send_wait(msg, Some(timeout), false)
    }

    /// Send only if the whole frame fits now.
    ///
    /// # Errors
    ///
    /// [`Error::Full`]; [`Error::MessageTooLarge`] if the frame can never fit
    /// the buffer at once (use [`send`](Self::send) to stream it); as
    /// [`send`](Self::send).
    ///
    /// # Examples
    ///
    /// ```
    /// let ring = coil_shm::SpscRing::anonymous(&coil_shm::SpscOptions::new().capacity(64))?;
    /// let (tx, _rx) = (ring.sender()?, ring.receiver()?);
    /// assert!(matches!(tx.try_send(&[0; 100]), Err(coil_shm::Error::MessageTooLarge { .. })));
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn try_send(&self, msg: &[u8]) -> Result<()> {
        self.send_wait(msg, Some(Duration::ZERO), true)
    }
}

impl Drop for SpscSender {
    fn drop(&mut self) {
        self.reg.release(self.inner.ctl());
    }
}

/// The receiving side of an [`SpscRing`].
///
/// # Examples
///
/// ```
/// let ring = coil_shm::SpscRing::anonymous(&Default::default())?;
/// let rx = ring.receiver()?;
/// ring.sender()?.send(b"bye")?; // sender dropped at once
/// assert_eq!(rx.recv()?, b"bye");
/// assert_eq!(rx.recv(), Err(coil_shm::Error::Disconnected));
/// # Ok::<(), coil_shm::Error>(())
/// ```
#[derive(Debug)]
pub struct SpscReceiver {
    inner: Arc<Inner>,
    reg: Registration,
    /// Last seen `tail` (read only while a stream frame is received).
    tail: Cell<u64>,
    /// How far this handle has consumed; ahead of the shared `head` while
    /// released space waits to be published in a batch (invariant 4).
    head: Cell<u64>,
    /// Where `recv_with` gathers a message that is not in one piece.
    scratch: Scratch,
    /// The last receive found its message without waiting (invariant 6).
    streaming: Cell<bool>,
    /// A `recv_with` closure is reading a message in place.
    busy: Cell<bool>,
}

/// What a receive called from inside a `recv_with` closure gets.
const NESTED: Error =
    Error::Unsupported("a receive from inside recv_with's closure on the same receiver");

/// A reusable buffer taken out while in use (so a nested call finds it empty
/// instead of panicking).
#[derive(Default)]
struct Scratch(Cell<Vec<u8>>);

impl std::fmt::Debug for Scratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Scratch")
    }
}

impl SpscReceiver {
    /// Wait until `need` bytes of a stream frame from `pos` are published
    /// through `tail`; returns the count. The sender vanishing now leaves a
    /// torn frame, so the ring is closed (invariant 3).
    fn stream_data(&self, pos: u64, need: u64, w: Wait) -> Result<u64> {
        let ctl = self.inner.ctl();
        // `tail` may still be short of `pos`: a stream header is seen in band
        // before its first chunk is published.
        let avail = |t: u64| t.saturating_sub(pos);
        if self.tail.get() >= pos && avail(self.tail.get()) >= need {
            return Ok(avail(self.tail.get()));
        }
        let probe = || {
            let t = ctl.tail.0.load(Ordering::Acquire);
            self.tail.set(t);
            (avail(t) >= need).then(|| avail(t))
        };
        if let Some(a) = probe() {
            return Ok(a);
        }
        block(&ctl.data_sig.0, &ctl.space_sig.0, w, |scan| {
            if let Some(a) = probe() {
                return Some(Ok(a));
            }
            if ctl.gone(SENDER, scan) {
                // Re-check: the sender may have published just before leaving.
                if let Some(a) = probe() {
                    return Some(Ok(a));
                }
                ctl.close();
                return Some(Err(Error::Disconnected));
            }
            None
        })
    }

    /// Wait until the frame at `pos` is published; returns its kind and length.
    fn header(&self, pos: u64, w: Wait) -> Result<(u64, u64)> {
        let inner = &*self.inner;
        let ctl = inner.ctl();
        if let Some(k) = inner.published(pos) {
            return Ok(k);
        }
        block(&ctl.data_sig.0, &ctl.space_sig.0, w, |scan| {
            if let Some(k) = inner.published(pos) {
                return Some(Ok(k));
            }
            if ctl.gone(SENDER, scan) {
                // Re-check: the sender may have published just before leaving.
                return Some(inner.published(pos).ok_or(Error::Disconnected));
            }
            None
        })
    }

    fn recv_wait(&self, out: &mut Vec<u8>, w: Wait) -> Result<()> {
        if self.busy.get() {
            return Err(NESTED);
        }
        let inner = &*self.inner;
        let ctl = inner.ctl();
        self.reg.ensure(ctl)?;
        self.release();
        let mut start = ctl.head.0.load(Ordering::Relaxed);
        self.head.set(start);
        // The end first: the sender records a new stream frame's start, then
        // its end (both Release), possibly right now. An end read with
        // Acquire brings the start stored before it, so the pair is never an
        // old start with a new end, which would put a live receiver's `head`
        // (the end of the last frame) "inside" a stream frame that never
        // held it. An old end is at most `start` here: no false alarm.
        let s1 = ctl.stream.0[1].load(Ordering::Acquire);
        let s0 = ctl.stream.0[0].load(Ordering::Acquire);
        if s0 < start && start < s1 {
            // A receiver died inside a stream frame (invariant 3).
            ctl.close();
            return Err(Error::Disconnected);
        }
        let (kind, len) = loop {
            let (kind, len) = self.header(start, w)?;
            if kind != WRAP {
                break (kind, len);
            }
            // Padding up to the end of the buffer (invariant 5).
            start += inner.cap - (start & (inner.cap - 1));
            ctl.head.0.store(start, Ordering::Release);
            self.head.set(start);
            ctl.space_sig.0.notify();
        };
        let frame = if len > inner.max as u64 {
            None
        } else {
            Some(frame_len(len as usize))
        };
        let Some(frame) = frame.filter(|&f| match kind {
            WHOLE => f <= inner.cap,
            STREAM => f > inner.cap,
            _ => false,
        }) else {
            ctl.close();
            return Err(Error::Incompatible("corrupt frame header in ring"));
        };
        let len = len as usize;
        let end = start + frame;
        out.clear();
        out.reserve(len);
        if kind == WHOLE {
            // SAFETY: the whole frame is published (its header was read with
            // `Acquire`); `out` has room for `len` bytes.
            unsafe {
                inner.get(start + 8, out.as_mut_ptr(), len);
                out.set_len(len);
            }
        } else {
            let mut pos = start + 8;
            let mut got = 0usize;
            let nowait = Wait::new(inner.spin, None);
            while got < len {
                let avail = self.stream_data(pos, 1, nowait)?;
                let n = (len - got).min(avail as usize).min(CHUNK);
                // SAFETY: n published bytes at `pos`; `out` has room for len bytes.
                unsafe {
                    inner.get(pos, out.as_mut_ptr().add(got), n);
                    out.set_len(got + n);
                }
                got += n;
                pos += n as u64;
                ctl.head.0.store(pos, Ordering::Release);
                self.head.set(pos);
                ctl.space_sig.0.notify();
            }
            // The sender stores `tail = end` once the word at `end` is clean.
            self.stream_data(pos, end - pos, nowait)?;
        }
        ctl.head.0.store(end, Ordering::Release);
        self.head.set(end);
        ctl.space_sig.0.notify();
        ctl.data_sig.0.note_cpu();
        Ok(())
    }

    /// Receive into `out` (cleared first), blocking while the ring is empty.
    ///
    /// # Errors
    ///
    /// [`Error::Disconnected`] when the ring is empty and closed or the
    /// sender is gone, or when the sender died mid-message;
    /// [`Error::Incompatible`] for a corrupt frame; [`Error::Unsupported`]
    /// from inside a [`recv_with`](Self::recv_with) closure on this receiver.
    ///
    /// # Examples
    ///
    /// ```
    /// let ring = coil_shm::SpscRing::anonymous(&Default::default())?;
    /// let (tx, rx) = (ring.sender()?, ring.receiver()?);
    /// tx.send(b"abc")?;
    /// let mut out = Vec::new();
    /// rx.recv_into(&mut out)?;
    /// assert_eq!(out, b"abc");
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn recv_into(&self, out: &mut Vec<u8>) -> Result<()> {
        if self.busy.get() {
            return Err(NESTED);
        }
        if self.recv_now(out) {
            return Ok(());
        }
        self.recv_wait(out, Wait::new(self.inner.spin, None))
    }

    /// The fast path of every receive: if a whole frame that fits the buffer
    /// is published, copy it out and release its space with one `Release`
    /// store. `false` means "take the slow path" (nothing was consumed).
    #[inline]
    fn recv_now(&self, out: &mut Vec<u8>) -> bool {
        let Some(f) = self.next_frame() else {
            return false;
        };
        out.clear();
        out.reserve(f.len);
        // SAFETY: the whole frame is published (invariant 2); `out` has room
        // for `len` bytes.
        unsafe {
            self.inner.get(f.start + 8, out.as_mut_ptr(), f.len);
            out.set_len(f.len);
        }
        self.consume(&f);
        true
    }

    /// [`peek_now`](Self::peek_now), but a receiver that is keeping up with
    /// a stream and finds it momentarily dry first lets the sender run ahead
    /// for a moment (invariant 6).
    #[inline]
    fn next_frame(&self) -> Option<Frame> {
        if let Some(f) = self.peek_now() {
            self.streaming.set(true);
            return Some(f);
        }
        if self.streaming.get() {
            for _ in 0..SLIP_PAUSES {
                std::hint::spin_loop();
            }
            if let Some(f) = self.peek_now() {
                return Some(f);
            }
            self.streaming.set(false);
        }
        None
    }

    /// Find the next whole frame that fits the buffer and is published,
    /// stepping over wrap markers; `None` means "take the slow path"
    /// (nothing was consumed but markers).
    #[inline]
    fn peek_now(&self) -> Option<Frame> {
        let inner = &*self.inner;
        let ctl = inner.ctl();
        if !self.reg.current() {
            return None;
        }
        let shared = ctl.head.0.load(Ordering::Relaxed);
        let mut start = self.head.get().max(shared);
        loop {
            let (kind, len) = inner.published(start)?;
            if kind == WRAP {
                // The rest of the buffer is padding (invariant 5).
                start += inner.cap - (start & (inner.cap - 1));
                self.head.set(start);
                continue;
            }
            if kind != WHOLE || len > inner.max as u64 {
                return None;
            }
            let frame = frame_len(len as usize);
            if frame > inner.cap {
                return None;
            }
            return Some(Frame {
                start,
                len: len as usize,
                end: start + frame,
                shared,
            });
        }
    }

    /// Mark the frame `f` (from `peek_now`) as read. Its space is released
    /// now if no frame after it is published yet (the receiver has read
    /// everything there is), else once a batch has gathered (invariant 4).
    #[inline]
    fn consume(&self, f: &Frame) {
        let ctl = self.inner.ctl();
        ctl.data_sig.0.note_cpu();
        self.head.set(f.end);
        if f.end - f.shared >= self.inner.cap / RELEASE_BATCH
            || self.inner.published(f.end).is_none()
        {
            ctl.head.0.store(f.end, Ordering::Release);
            ctl.space_sig.0.notify();
        }
    }

    /// Receive a message and hand it to `f` without copying it out of the
    /// ring when its bytes lie in one piece there (the common case); a
    /// message that wraps around the end of the buffer or streams through
    /// it is first gathered in a buffer the receiver keeps. The bytes stay
    /// reserved until `f` returns, so the sender cannot overwrite them; `f`
    /// should not hold on to the ring for long. If `f` panics the message
    /// still counts as received.
    ///
    /// # Errors
    ///
    /// As [`recv_into`](Self::recv_into); [`Error::Unsupported`] when called
    /// (like any receive on this receiver) from inside `f` while the message
    /// is read in place.
    ///
    /// # Examples
    ///
    /// ```
    /// let ring = coil_shm::SpscRing::anonymous(&Default::default())?;
    /// let (tx, rx) = (ring.sender()?, ring.receiver()?);
    /// tx.send(b"hello")?;
    /// let n = rx.recv_with(|bytes| bytes.iter().filter(|&&b| b == b'l').count())?;
    /// assert_eq!(n, 2);
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn recv_with<R>(&self, f: impl FnOnce(&[u8]) -> R) -> Result<R> {
        if self.busy.get() {
            return Err(NESTED);
        }
        if let Some(fr) = self.next_frame() {
            let i = (fr.start + 8) & (self.inner.cap - 1);
            if i as usize + fr.len <= self.inner.cap as usize {
                /// Consumes the frame even if `f` unwinds.
                struct Consume<'a>(&'a SpscReceiver, Frame);
                impl Drop for Consume<'_> {
                    fn drop(&mut self) {
                        self.0.busy.set(false);
                        self.0.consume(&self.1);
                    }
                }
                self.busy.set(true);
                let guard = Consume(self, fr);
                // SAFETY: the payload is published and lies in one piece
                // inside the data area; it is not released (so not
                // rewritten by the sender, invariant 2) until `guard` drops
                // after `f` has returned.
                let bytes = unsafe {
                    std::slice::from_raw_parts(self.inner.data().add(i as usize), guard.1.len)
                };
                return Ok(f(bytes));
            }
        }
        let mut buf = self.scratch.0.take();
        let r = self.recv_into(&mut buf);
        let out = r.map(|()| f(&buf));
        self.scratch.0.set(buf);
        out
    }

    /// Publish space consumed by this handle but not yet released.
    fn release(&self) {
        let ctl = self.inner.ctl();
        let mine = self.head.get();
        if mine > ctl.head.0.load(Ordering::Relaxed) {
            ctl.head.0.store(mine, Ordering::Release);
            ctl.space_sig.0.notify();
        }
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
    /// let ring = coil_shm::SpscRing::anonymous(&Default::default())?;
    /// let (tx, rx) = (ring.sender()?, ring.receiver()?);
    /// tx.send(b"")?;
    /// assert_eq!(rx.recv()?, b"");
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn recv(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.recv_into(&mut out)?;
        Ok(out)
    }

    /// Receive, waiting at most `timeout` for a message to start.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`]; as [`recv_into`](Self::recv_into).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let ring = coil_shm::SpscRing::anonymous(&Default::default())?;
    /// let (_tx, rx) = (ring.sender()?, ring.receiver()?);
    /// assert_eq!(rx.recv_timeout(Duration::from_millis(5)), Err(coil_shm::Error::Timeout));
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.recv_wait(&mut out, Wait::new(self.inner.spin, Some(timeout)))?;
        Ok(out)
    }

    /// Receive if a message has started arriving.
    ///
    /// # Errors
    ///
    /// [`Error::Empty`]; as [`recv_into`](Self::recv_into).
    ///
    /// # Examples
    ///
    /// ```
    /// let ring = coil_shm::SpscRing::anonymous(&Default::default())?;
    /// let (_tx, rx) = (ring.sender()?, ring.receiver()?);
    /// assert_eq!(rx.try_recv(), Err(coil_shm::Error::Empty));
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn try_recv(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        match self.recv_wait(&mut out, Wait::new(Duration::ZERO, Some(Duration::ZERO))) {
            Ok(()) => Ok(out),
            Err(Error::Timeout) => Err(Error::Empty),
            Err(e) => Err(e),
        }
    }
}

impl Drop for SpscReceiver {
    fn drop(&mut self) {
        if self.reg.current() {
            self.release();
        }
        self.reg.release(self.inner.ctl());
    }
}
