//! [`Queue`], [`SimpleQueue`] and [`JoinableQueue`]: many producers and
//! many consumers in many processes, Python's `multiprocessing` queues, built
//! so that a process killed at any moment of a `put` or `get` costs at most its
//! own message.
//!
//! # Records and messages
//!
//! A message (one postcard-encoded value) travels as one or more *records*
//! over a transport that moves each record atomically (a `SOCK_SEQPACKET`
//! socket or a `coil-shm` ring). Every record starts with a 16-byte header:
//!
//! ```text
//! +-------+-----+---------+---------+-----------+----------------+
//! | flags | pad | pid u32 | seq u32 | total u32 | data ...       |
//! +-------+-----+---------+---------+-----------+----------------+
//!   FIRST = 1, LAST = 2; a message of one record has both (and pid 0:
//!   only the records of a multi-record message need the writer's pid).
//! ```
//!
//! # Locks, and what a death costs
//!
//! Writers hold the queue's robust *write lock* for the whole of a message,
//! readers its robust *read lock* for the whole of a `get` (as CPython's
//! `_wlock`/`_rlock`), so the records of one message are contiguous in the
//! stream and are read by one reader. The locks are pthread robust mutexes in
//! shared memory (`coil_shm::SharedValue`): when a holder dies the next locker
//! is told (`EOWNERDEAD`), marks the lock consistent and carries on.
//!
//! - A writer killed before its first record: nothing was sent.
//! - A writer killed between records: the reader assembling its message sees,
//!   instead of the next record, either the `FIRST` record of another message
//!   (it drops the partial one) or nothing; then it takes the write lock
//!   itself — possible only if no writer is mid-message — checks the transport
//!   once more, and drops the partial message. Lost: the dead writer's own.
//! - A reader killed during a `get`: the records it had taken die with it; the
//!   next reader drops the orphaned continuation records (not `FIRST`, or not
//!   the `pid`/`seq` it is assembling). Lost: the message the dead reader was
//!   taking — its own.
//! - Each record itself moves atomically (kernel socket, or ring slot
//!   recovery), so no other message is ever lost, duplicated or torn, and no
//!   survivor waits for a dead process: every wait is on a robust lock, or on
//!   the transport with a re-check of the write lock every 20 ms while a
//!   message is half read.
//!
//! # Invariants
//!
//! 1. Records of one message are sent in order by one writer holding the write
//!    lock from `FIRST` to `LAST`; `seq` is taken under that lock.
//! 2. A reader returns a message only after `LAST` with exactly `total` bytes
//!    assembled from records carrying the `pid`/`seq` of its `FIRST`.
//! 3. `qsize` and the unfinished-task count are shared atomics; they are exact
//!    while nobody dies and may be off by the dead process's message after a
//!    death (as CPython's semaphore-based ones).

use std::{
    marker::PhantomData,
    ops::Deref,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use coil_shm::{SharedArray, SharedValue, futex};
use serde::{Serialize, de::DeserializeOwned};

use crate::{
    codec,
    error::{Error, Result},
    transport::Transport,
};

const FIRST: u8 = 1;
const LAST: u8 = 2;
const HEADER: usize = 16;
/// How often a reader holding a partial message re-checks its writer.
const RECHECK: Duration = Duration::from_millis(20);

/// Index of the count of messages put, in the shared counters. Puts and gets
/// count on separate cache lines (16 u32 apart), so a producer and a
/// consumer never write the same line; `qsize` is their difference.
const PUTS: usize = 0;
/// Index of the count of messages taken.
const GETS: usize = 16;
/// Index of the unfinished-task counter (JoinableQueue).
const UNFINISHED: usize = 32;
/// Index of the queue's message limit (read by [`Queue::open`]).
const MAX_MESSAGE: usize = 48;
/// Index of the joinable flag (read by [`Queue::open`]).
const JOINABLE: usize = 49;
/// Length of the shared counters.
const COUNTERS: usize = 64;
/// The shared-memory objects of a named queue: `<name><suffix>`.
const SUFFIXES: [&str; 4] = [".ring", ".wlock", ".rlock", ".meta"];

/// Which transport a queue uses.
///
/// # Examples
///
/// ```
/// use coil_procs::{QueueOptions, TransportKind};
/// let o = QueueOptions::new().transport(TransportKind::Pipe);
/// assert_eq!(o.get_transport(), TransportKind::Pipe);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportKind {
    /// A `SOCK_SEQPACKET` socketpair (kernel-atomic records of up to 64 KiB).
    Pipe,
    /// A `coil-shm` MPMC ring in shared memory (the default: faster).
    Ring,
}

/// How a queue is built: transport, sizes, limits.
///
/// # Examples
///
/// ```
/// use coil_procs::{Queue, QueueOptions};
/// let q: Queue<Vec<u8>> = Queue::with_options(&QueueOptions::new().max_message(1024))?;
/// assert!(matches!(q.put(&vec![0u8; 2000]), Err(coil_procs::Error::MessageTooLarge { .. })));
/// # Ok::<(), coil_procs::Error>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct QueueOptions {
    transport: TransportKind,
    max_message: usize,
    ring_slots: usize,
    ring_record: usize,
}

impl Default for QueueOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl QueueOptions {
    /// Ring transport, 1024 slots of 4 KiB, messages up to 256 MiB.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(coil_procs::QueueOptions::new().get_max_message(), 256 << 20);
    /// ```
    pub const fn new() -> Self {
        Self {
            transport: TransportKind::Ring,
            max_message: 256 << 20,
            ring_slots: 1024,
            ring_record: 4096,
        }
    }
    /// Choose the transport.
    ///
    /// # Examples
    ///
    /// ```
    /// let o = coil_procs::QueueOptions::new().transport(coil_procs::TransportKind::Pipe);
    /// assert_eq!(o.get_transport(), coil_procs::TransportKind::Pipe);
    /// ```
    pub const fn transport(mut self, t: TransportKind) -> Self {
        self.transport = t;
        self
    }
    /// The largest message (encoded bytes) a `put` accepts, at most
    /// `u32::MAX - 1`; larger puts get [`Error::MessageTooLarge`].
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(coil_procs::QueueOptions::new().max_message(10).get_max_message(), 10);
    /// ```
    pub const fn max_message(mut self, n: usize) -> Self {
        self.max_message = if n > u32::MAX as usize - 1 {
            u32::MAX as usize - 1
        } else {
            n
        };
        self
    }
    /// Ring geometry: number of slots and bytes per slot (record size,
    /// header included).
    ///
    /// # Examples
    ///
    /// ```
    /// let q: coil_procs::Queue<u8> = coil_procs::Queue::with_options(&coil_procs::QueueOptions::new().ring(64, 256))?;
    /// q.put(&1)?;
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub const fn ring(mut self, slots: usize, record: usize) -> Self {
        self.ring_slots = slots;
        self.ring_record = record;
        self
    }
    /// The transport chosen.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(coil_procs::QueueOptions::new().get_transport(), coil_procs::TransportKind::Ring);
    /// ```
    pub const fn get_transport(&self) -> TransportKind {
        self.transport
    }
    /// The message limit.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(coil_procs::QueueOptions::new().get_max_message() > 0);
    /// ```
    pub const fn get_max_message(&self) -> usize {
        self.max_message
    }
}

#[derive(Debug)]
struct Shared {
    transport: Transport,
    /// Write lock; its value is the next message sequence number.
    wlock: SharedValue<u64>,
    /// Read lock.
    rlock: SharedValue<u64>,
    /// PUTS, GETS and UNFINISHED as wrapping u32 atomics, then MAX_MESSAGE
    /// and JOINABLE (fixed when the queue is made).
    counters: SharedArray<u32>,
    max_message: usize,
    joinable: bool,
    /// For a queue made by [`Queue::create`]: its name and the pid of the
    /// process that made it, which removes the names when its last handle
    /// goes.
    owner: Option<(String, u32)>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Some((name, pid)) = &self.owner
            && std::process::id() == *pid
        {
            unlink_names(name);
        }
    }
}

/// Remove the names of a named queue's objects (those that exist).
fn unlink_names(name: &str) {
    for suffix in SUFFIXES {
        let _ = coil_shm::unlink(&format!("{name}{suffix}"));
    }
}

/// A multi-producer, multi-consumer queue between processes, as
/// `multiprocessing.Queue`.
///
/// Make it before forking and move a clone into each child; every process
/// may `put` and `get`. Values are any `serde` type, encoded with postcard.
/// `put` blocks while the transport is full (the ring holds 1024 records of
/// 4 KiB by default); `get` blocks while it is empty.
///
/// The ring transport registers each process that holds the queue (a
/// `coil-shm` ring has 64 endpoint entries, two per process), so a ring
/// queue serves up to 32 processes at once; the pipe transport has no such
/// limit.
///
/// # Examples
///
/// ```
/// use coil_procs::{Process, Queue};
///
/// let q: Queue<String> = Queue::new()?;
/// let q2 = q.clone();
/// let mut p = Process::new(move || q2.put(&"from the child".to_string()).unwrap());
/// p.start()?;
/// assert_eq!(q.get()?, "from the child");
/// p.join(None)?;
/// # Ok::<(), coil_procs::Error>(())
/// ```
#[derive(Debug)]
pub struct Queue<T> {
    shared: Arc<Shared>,
    closed: Arc<AtomicBool>,
    _t: PhantomData<fn(T) -> T>,
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            closed: self.closed.clone(),
            _t: PhantomData,
        }
    }
}

fn lock_until(
    v: &SharedValue<u64>,
    deadline: Option<Instant>,
) -> Result<Option<coil_shm::LockGuard<'_, u64>>> {
    let r = match deadline {
        None => v.lock(),
        Some(d) => {
            let left = d.saturating_duration_since(Instant::now());
            if left.is_zero() {
                match v.try_lock() {
                    Ok(Some(g)) => Ok(g),
                    Ok(None) => return Ok(None),
                    Err(e) => Err(e),
                }
            } else {
                v.lock_timeout(left)
            }
        }
    };
    match r {
        Ok(mut g) => {
            // The protocol repairs what a dead holder left (module docs).
            g.mark_consistent();
            Ok(Some(g))
        }
        Err(coil_shm::Error::Timeout) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

struct Partial {
    pid: u32,
    seq: u32,
    total: usize,
    data: Vec<u8>,
}

thread_local! {
    /// A reused buffer for encoding puts and receiving gets of this thread.
    static SCRATCH: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Run `f` with this thread's scratch buffer (cleared); the buffer is kept
/// for the next call unless it grew past 64 KiB. Re-entrant: a nested call
/// gets a fresh buffer.
fn with_scratch<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    let mut buf = SCRATCH.take();
    buf.clear();
    let r = f(&mut buf);
    if buf.capacity() <= 64 * 1024 {
        SCRATCH.set(buf);
    }
    r
}

fn header(rec: &[u8]) -> Option<(u8, u32, u32, usize)> {
    if rec.len() < HEADER {
        return None;
    }
    let w = |i: usize| u32::from_le_bytes([rec[i], rec[i + 1], rec[i + 2], rec[i + 3]]);
    Some((rec[0], w(4), w(8), w(12) as usize))
}

fn write_header(rec: &mut [u8], flags: u8, pid: u32, seq: u32, total: usize) {
    rec[0] = flags;
    rec[1..4].fill(0);
    rec[4..8].copy_from_slice(&pid.to_le_bytes());
    rec[8..12].copy_from_slice(&seq.to_le_bytes());
    rec[12..16].copy_from_slice(&(total as u32).to_le_bytes());
}

impl<T: Serialize + DeserializeOwned> Queue<T> {
    /// A queue with the default options (ring transport).
    ///
    /// # Errors
    ///
    /// [`Error::Os`]/[`Error::Shm`] if the system cannot give the shared
    /// memory or sockets.
    ///
    /// # Examples
    ///
    /// ```
    /// let q: coil_procs::Queue<u8> = coil_procs::Queue::new()?;
    /// q.put(&1)?;
    /// assert_eq!(q.get()?, 1);
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn new() -> Result<Self> {
        Self::with_options(&QueueOptions::new())
    }

    /// A queue with the given options.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new); [`Error::Shm`] for a ring geometry the ring
    /// refuses (fewer than 2 slots, records under 64 bytes are raised to 64).
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_procs::{Queue, QueueOptions, TransportKind};
    /// let q: Queue<u8> = Queue::with_options(&QueueOptions::new().transport(TransportKind::Pipe))?;
    /// q.put(&9)?;
    /// assert_eq!(q.get()?, 9);
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn with_options(opts: &QueueOptions) -> Result<Self> {
        Self::build(opts, false)
    }

    /// A queue other processes can open by `name` with [`open`](Self::open)
    /// — spawned ones too (see [`crate::spawn`]), which inherit nothing.
    /// The queue's objects live in shared memory named `<name>.ring`,
    /// `<name>.wlock`, `<name>.rlock` and `<name>.meta`; the names are
    /// removed when the last handle in the creating process goes (opened
    /// handles keep working), or by the resource tracker if the program
    /// dies first.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] for the pipe transport (a socketpair has no
    /// name); [`Error::Shm`] for a bad name (`coil_shm::Error::InvalidName`:
    /// only `A-Z a-z 0-9 . _ -`) or one already in use
    /// (`coil_shm::Error::AlreadyExists`); as [`with_options`](Self::with_options).
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_procs::{Queue, QueueOptions};
    /// let name = format!("doc-q-{}", std::process::id());
    /// let q: Queue<u32> = Queue::create(&name, &QueueOptions::new())?;
    /// let other: Queue<u32> = Queue::open(&name)?; // e.g. in a spawned child
    /// other.put(&5)?;
    /// assert_eq!(q.get()?, 5);
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn create(name: &str, opts: &QueueOptions) -> Result<Self> {
        Self::build_named(opts, false, Some(name))
    }

    /// Open the queue made under `name` by [`create`](Self::create) (or
    /// [`JoinableQueue::create`]: puts then count unfinished tasks too).
    /// The message limit is the creator's.
    ///
    /// # Errors
    ///
    /// [`Error::Shm`]: `coil_shm::Error::NotFound` if no such queue (or its
    /// creator is gone), `coil_shm::Error::Incompatible` if the name holds
    /// something else, `coil_shm::Error::CapacityExceeded` past the ring's
    /// 32 processes.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(coil_procs::Queue::<u8>::open("no-such-queue").is_err());
    /// ```
    pub fn open(name: &str) -> Result<Self> {
        let transport = Transport::open_ring(&format!("{name}.ring"))?;
        let counters = SharedArray::<u32>::open(&format!("{name}.meta"))?;
        let meta = |i| counters.atomic(i).map(|a| a.load(Ordering::SeqCst));
        let (max_message, joinable) = (meta(MAX_MESSAGE)?, meta(JOINABLE)?);
        let shared = Shared {
            transport,
            wlock: SharedValue::open(&format!("{name}.wlock"))?,
            rlock: SharedValue::open(&format!("{name}.rlock"))?,
            counters,
            max_message: max_message as usize,
            joinable: joinable != 0,
            owner: None,
        };
        Ok(Self {
            shared: Arc::new(shared),
            closed: Arc::new(AtomicBool::new(false)),
            _t: PhantomData,
        })
    }

    /// The name given to [`create`](Self::create), in the creating process.
    ///
    /// # Examples
    ///
    /// ```
    /// let q: coil_procs::Queue<u8> = coil_procs::Queue::new()?;
    /// assert_eq!(q.name(), None);
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.shared.owner.as_ref().map(|(n, _)| n.as_str())
    }

    fn build(opts: &QueueOptions, joinable: bool) -> Result<Self> {
        Self::build_named(opts, joinable, None)
    }

    fn build_named(opts: &QueueOptions, joinable: bool, name: Option<&str>) -> Result<Self> {
        let Some(name) = name else {
            return Self::assemble(opts, joinable, None);
        };
        if opts.transport == TransportKind::Pipe {
            return Err(Error::Unsupported(
                "a named queue needs the ring transport (a socketpair has no name)".into(),
            ));
        }
        coil_shm::validate_name(&format!("{name}.wlock"))?;
        // Refuse a name in use before making anything under it.
        for suffix in SUFFIXES {
            if coil_shm::SharedMemory::open(&format!("{name}{suffix}")).is_ok() {
                return Err(coil_shm::Error::AlreadyExists(format!("{name}{suffix}")).into());
            }
        }
        let r = Self::assemble(opts, joinable, Some(name));
        if r.is_err() {
            // What was made before the failure (not someone else's: checked above).
            unlink_names(name);
        }
        r
    }

    fn assemble(opts: &QueueOptions, joinable: bool, name: Option<&str>) -> Result<Self> {
        let mut meta = [0u32; COUNTERS];
        meta[MAX_MESSAGE] = opts.max_message as u32;
        meta[JOINABLE] = u32::from(joinable);
        let transport = match opts.transport {
            TransportKind::Pipe => Transport::pipe()?,
            TransportKind::Ring => {
                let ring = name.map(|n| format!("{n}.ring"));
                Transport::ring(opts.ring_slots, opts.ring_record.max(64), ring.as_deref())?
            }
        };
        let (wlock, rlock, counters) = match name {
            None => (
                SharedValue::anonymous(0)?,
                SharedValue::anonymous(0)?,
                SharedArray::anonymous(&meta)?,
            ),
            Some(n) => (
                SharedValue::create(&format!("{n}.wlock"), 0)?,
                SharedValue::create(&format!("{n}.rlock"), 0)?,
                SharedArray::create(&format!("{n}.meta"), &meta)?,
            ),
        };
        let shared = Shared {
            transport,
            wlock,
            rlock,
            counters,
            max_message: opts.max_message,
            joinable,
            owner: name.map(|n| (n.to_owned(), std::process::id())),
        };
        Ok(Self {
            shared: Arc::new(shared),
            closed: Arc::new(AtomicBool::new(false)),
            _t: PhantomData,
        })
    }

    fn counter(&self, i: usize) -> &std::sync::atomic::AtomicU32 {
        match self.shared.counters.atomic(i) {
            Ok(a) => a,
            Err(_) => unreachable!("every index is below COUNTERS"),
        }
    }

    /// Put `v`, blocking while the queue is full.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] after [`close`](Self::close) in this process;
    /// [`Error::MessageTooLarge`] if the encoded value exceeds the queue's
    /// `max_message` (nothing is sent); [`Error::Encode`].
    ///
    /// # Examples
    ///
    /// ```
    /// let q: coil_procs::Queue<Vec<u32>> = coil_procs::Queue::new()?;
    /// q.put(&vec![1, 2, 3])?;
    /// assert_eq!(q.get()?, [1, 2, 3]);
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn put(&self, v: &T) -> Result<()> {
        self.put_until(v, None)
    }

    /// Put `v`, waiting at most `timeout` for room (Python's
    /// `put(v, timeout=t)`). Once the first record of a message is sent the
    /// rest is sent whatever the time.
    ///
    /// # Errors
    ///
    /// [`Error::Full`] if there was no room in time; as [`put`](Self::put).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use coil_procs::{Queue, QueueOptions};
    /// let q: Queue<u8> = Queue::with_options(&QueueOptions::new().ring(2, 64))?;
    /// q.put(&1)?;
    /// q.put(&2)?;
    /// assert_eq!(q.put_timeout(&3, Duration::from_millis(5)), Err(coil_procs::Error::Full));
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn put_timeout(&self, v: &T, timeout: Duration) -> Result<()> {
        self.put_until(v, Some(Instant::now() + timeout))
    }

    /// Put `v` only if there is room now (Python's `put_nowait`).
    ///
    /// # Errors
    ///
    /// [`Error::Full`]; as [`put`](Self::put).
    ///
    /// # Examples
    ///
    /// ```
    /// let q: coil_procs::Queue<u8> = coil_procs::Queue::new()?;
    /// q.try_put(&1)?;
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn try_put(&self, v: &T) -> Result<()> {
        self.put_until(v, Some(Instant::now()))
    }

    /// Put raw bytes as one message, skipping the encoder (the fast way to
    /// move large binary payloads: serde encodes a `Vec<u8>` element by
    /// element). A typed reader sees the bytes as an encoded `T`.
    ///
    /// # Errors
    ///
    /// As [`put`](Self::put), less [`Error::Encode`].
    ///
    /// # Examples
    ///
    /// ```
    /// let q: coil_procs::Queue<u8> = coil_procs::Queue::new()?;
    /// q.put_bytes(&[1, 2, 3])?;
    /// assert_eq!(q.get_bytes()?, [1, 2, 3]);
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn put_bytes(&self, bytes: &[u8]) -> Result<()> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(Error::Closed);
        }
        if bytes.len() > self.shared.transport.record() - HEADER {
            return self.put_big(bytes);
        }
        with_scratch(|buf| {
            buf.resize(HEADER, 0);
            buf.extend_from_slice(bytes);
            self.put_raw(buf, None)
        })
    }

    /// Take the next message as raw bytes (no decoding).
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] after [`close`](Self::close).
    ///
    /// # Examples
    ///
    /// ```
    /// let q: coil_procs::Queue<u8> = coil_procs::Queue::new()?;
    /// q.put(&7)?;
    /// assert_eq!(q.get_bytes()?, [7]);
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn get_bytes(&self) -> Result<Vec<u8>> {
        self.get_bytes_until(None)
    }

    /// Take the next message as raw bytes, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`Error::Empty`] if nothing came in time; as
    /// [`get_bytes`](Self::get_bytes).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let q: coil_procs::Queue<u8> = coil_procs::Queue::new()?;
    /// assert_eq!(q.get_bytes_timeout(Duration::ZERO), Err(coil_procs::Error::Empty));
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn get_bytes_timeout(&self, timeout: Duration) -> Result<Vec<u8>> {
        self.get_bytes_until(Some(Instant::now() + timeout))
    }

    fn get_bytes_until(&self, deadline: Option<Instant>) -> Result<Vec<u8>> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(Error::Closed);
        }
        let mut bytes = Vec::new();
        let at = self.recv_message(deadline, &mut bytes)?;
        self.counter(GETS).fetch_add(1, Ordering::SeqCst);
        bytes.drain(..at);
        Ok(bytes)
    }

    fn put_until(&self, v: &T, deadline: Option<Instant>) -> Result<()> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(Error::Closed);
        }
        with_scratch(|buf| {
            buf.resize(HEADER, 0);
            codec::encode_into(buf, v)?;
            self.put_raw(buf, deadline)
        })
    }

    /// Send `buf` (HEADER bytes of room, then the message).
    fn put_raw(&self, buf: &mut [u8], deadline: Option<Instant>) -> Result<()> {
        let len = buf.len() - HEADER;
        self.put_counted(len, || {
            self.send_message(deadline, |t, seq, d| {
                if len <= t.record() - HEADER {
                    // One record: no pid needed to tie records together (and
                    // no getpid system call on the fast path).
                    write_header(buf, FIRST | LAST, 0, seq, len);
                    return t.send(buf, d);
                }
                Self::send_records(t, seq, &buf[HEADER..], d)
            })
        })
    }

    /// Send `data` as a message of several records, never copying it whole
    /// (for [`put_bytes`](Self::put_bytes) of big payloads).
    fn put_big(&self, data: &[u8]) -> Result<()> {
        self.put_counted(data.len(), || {
            self.send_message(None, |t, seq, d| Self::send_records(t, seq, data, d))
        })
    }

    /// Check the size, count the message, run `send`, uncount it on failure.
    fn put_counted(&self, len: usize, send: impl FnOnce() -> Result<()>) -> Result<()> {
        if len > self.shared.max_message {
            return Err(Error::MessageTooLarge {
                len,
                max: self.shared.max_message,
            });
        }
        // Count before sending, so a fast reader never sees the message
        // before its count (the count then covers in-flight messages).
        if self.shared.joinable {
            self.counter(UNFINISHED).fetch_add(1, Ordering::SeqCst);
        }
        self.counter(PUTS).fetch_add(1, Ordering::SeqCst);
        let r = send();
        if r.is_err() {
            self.counter(PUTS).fetch_sub(1, Ordering::SeqCst);
            if self.shared.joinable {
                self.task_done_inner().ok();
            }
        }
        r
    }

    /// Under the write lock, with the message's sequence number, run
    /// `send(transport, seq, deadline)`; false from it means no room in time.
    fn send_message(
        &self,
        deadline: Option<Instant>,
        send: impl FnOnce(&Transport, u32, Option<Instant>) -> Result<bool>,
    ) -> Result<()> {
        let Some(mut g) = lock_until(&self.shared.wlock, deadline)? else {
            return Err(Error::Full);
        };
        let seq = *g as u32;
        *g = g.wrapping_add(1);
        let sent = send(&self.shared.transport, seq, deadline)?;
        drop(g);
        if sent { Ok(()) } else { Err(Error::Full) }
    }

    /// Send `data` in records of the transport's size (the caller holds the
    /// write lock). Only the first record may time out; after it, the rest
    /// of the message is sent whatever the time.
    fn send_records(
        t: &Transport,
        seq: u32,
        data: &[u8],
        deadline: Option<Instant>,
    ) -> Result<bool> {
        let len = data.len();
        let room = t.record() - HEADER;
        let pid = std::process::id();
        let mut rec = vec![0u8; t.record()];
        let mut off = 0;
        while off < len {
            let n = room.min(len - off);
            let mut flags = if off == 0 { FIRST } else { 0 };
            if off + n == len {
                flags |= LAST;
            }
            write_header(&mut rec, flags, pid, seq, len);
            rec[HEADER..HEADER + n].copy_from_slice(&data[off..off + n]);
            let d = if off == 0 { deadline } else { None };
            if !t.send(&rec[..HEADER + n], d)? {
                return Ok(false);
            }
            off += n;
        }
        Ok(true)
    }

    /// Take the next value, blocking while the queue is empty.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] after [`close`](Self::close); [`Error::Decode`] if
    /// the message is not a `T` (it is consumed).
    ///
    /// # Examples
    ///
    /// ```
    /// let q: coil_procs::Queue<i64> = coil_procs::Queue::new()?;
    /// q.put(&-5)?;
    /// assert_eq!(q.get()?, -5);
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn get(&self) -> Result<T> {
        self.get_until(None)
    }

    /// Take the next value, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`Error::Empty`] if nothing came in time (Python's `queue.Empty`); as
    /// [`get`](Self::get).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let q: coil_procs::Queue<u8> = coil_procs::Queue::new()?;
    /// assert_eq!(q.get_timeout(Duration::from_millis(5)), Err(coil_procs::Error::Empty));
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn get_timeout(&self, timeout: Duration) -> Result<T> {
        self.get_until(Some(Instant::now() + timeout))
    }

    /// Take the next value if there is one now (Python's `get_nowait`).
    ///
    /// # Errors
    ///
    /// [`Error::Empty`]; as [`get`](Self::get).
    ///
    /// # Examples
    ///
    /// ```
    /// let q: coil_procs::Queue<u8> = coil_procs::Queue::new()?;
    /// assert_eq!(q.try_get(), Err(coil_procs::Error::Empty));
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn try_get(&self) -> Result<T> {
        self.get_until(Some(Instant::now()))
    }

    fn get_until(&self, deadline: Option<Instant>) -> Result<T> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(Error::Closed);
        }
        with_scratch(|rec| {
            let at = self.recv_message(deadline, rec)?;
            self.counter(GETS).fetch_add(1, Ordering::SeqCst);
            codec::decode(&rec[at..])
        })
    }

    /// Take the next message into `rec`; returns where in `rec` it starts.
    fn recv_message(&self, deadline: Option<Instant>, rec: &mut Vec<u8>) -> Result<usize> {
        let t = &self.shared.transport;
        let Some(_g) = lock_until(&self.shared.rlock, deadline)? else {
            return Err(Error::Empty);
        };
        let mut part: Option<Partial> = None;
        loop {
            let got = match &part {
                None => t.recv(rec, deadline)?,
                Some(_) => t.recv(rec, Some(Instant::now() + RECHECK))?,
            };
            if !got {
                if part.is_none() {
                    return Err(Error::Empty);
                }
                // Half a message and nothing more: is its writer still at it?
                let Some(w) = lock_until(&self.shared.wlock, Some(Instant::now()))? else {
                    continue;
                };
                // No writer is mid-message; anything already sent is queued.
                let more = t.recv(rec, Some(Instant::now()))?;
                drop(w);
                if !more {
                    part = None; // the dead writer's own message
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return Err(Error::Empty);
                    }
                    continue;
                }
            }
            let Some((flags, pid, seq, total)) = header(rec) else {
                continue;
            };
            let data = &rec[HEADER..];
            if flags & FIRST != 0 {
                if flags & LAST != 0 && data.len() == total {
                    return Ok(HEADER);
                }
                let mut d = Vec::with_capacity(total.min(self.shared.max_message));
                d.extend_from_slice(data);
                part = Some(Partial {
                    pid,
                    seq,
                    total,
                    data: d,
                });
            } else {
                match &mut part {
                    Some(p) if p.pid == pid && p.seq == seq => p.data.extend_from_slice(data),
                    _ => continue, // orphaned record of a dead reader's message
                }
            }
            if flags & LAST != 0 {
                let p = part.take().expect("assembling");
                if p.data.len() == p.total {
                    *rec = p.data;
                    return Ok(0);
                }
            }
        }
    }

    /// The same queue, seen as carrying `U` (for peers that agree on another
    /// type's encoding, or to read raw `Vec<u8>` payloads). A message that
    /// does not decode as `U` is [`Error::Decode`] to the reader.
    ///
    /// # Examples
    ///
    /// ```
    /// let q: coil_procs::Queue<u32> = coil_procs::Queue::new()?;
    /// let s: coil_procs::Queue<String> = q.retype();
    /// s.put(&"not a u32".to_string())?;
    /// assert!(matches!(q.get(), Err(coil_procs::Error::Decode(_))));
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn retype<U>(&self) -> Queue<U> {
        Queue {
            shared: self.shared.clone(),
            closed: self.closed.clone(),
            _t: PhantomData,
        }
    }

    /// The approximate number of queued messages (exact while no process
    /// dies during a `put`/`get`).
    ///
    /// # Examples
    ///
    /// ```
    /// let q: coil_procs::Queue<u8> = coil_procs::Queue::new()?;
    /// q.put(&1)?;
    /// assert_eq!(q.qsize(), 1);
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn qsize(&self) -> usize {
        // Gets first: a message counted as taken was counted as put before.
        let gets = self.counter(GETS).load(Ordering::SeqCst);
        let puts = self.counter(PUTS).load(Ordering::SeqCst);
        (puts.wrapping_sub(gets) as i32).max(0) as usize
    }

    /// Whether [`qsize`](Self::qsize) is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// let q: coil_procs::Queue<u8> = coil_procs::Queue::new()?;
    /// assert!(q.empty());
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn empty(&self) -> bool {
        self.qsize() == 0
    }

    /// Close this process's handle (and its clones): further `put`/`get` here
    /// are [`Error::Closed`]. Other processes are not affected, as in Python.
    ///
    /// # Examples
    ///
    /// ```
    /// let q: coil_procs::Queue<u8> = coil_procs::Queue::new()?;
    /// q.close();
    /// assert_eq!(q.put(&1), Err(coil_procs::Error::Closed));
    /// assert_eq!(q.get(), Err(coil_procs::Error::Closed));
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
    }

    /// Whether [`close`](Self::close) was called in this process.
    ///
    /// # Examples
    ///
    /// ```
    /// let q: coil_procs::Queue<u8> = coil_procs::Queue::new()?;
    /// assert!(!q.is_closed());
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    /// Python's `join_thread`: there is no feeder thread (a `put` has
    /// reached the transport when it returns), so this returns at once.
    ///
    /// # Examples
    ///
    /// ```
    /// let q: coil_procs::Queue<u8> = coil_procs::Queue::new()?;
    /// q.join_thread();
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn join_thread(&self) {}

    fn task_done_inner(&self) -> Result<()> {
        let c = self.counter(UNFINISHED);
        match c.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| v.checked_sub(1)) {
            Ok(1) => {
                futex::wake_all(c);
                Ok(())
            }
            Ok(_) => Ok(()),
            Err(_) => Err(Error::TaskDoneTooManyTimes),
        }
    }
}

/// A queue with only `put`, `get`, `empty` and `close`, as
/// `multiprocessing.SimpleQueue`. It shares [`Queue`]'s machinery (and its
/// crash guarantees); the type says which methods the program uses.
///
/// # Examples
///
/// ```
/// let q: coil_procs::SimpleQueue<u8> = coil_procs::SimpleQueue::new()?;
/// q.put(&3)?;
/// assert!(!q.empty());
/// assert_eq!(q.get()?, 3);
/// # Ok::<(), coil_procs::Error>(())
/// ```
#[derive(Debug)]
pub struct SimpleQueue<T>(Queue<T>);

impl<T> Clone for SimpleQueue<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T: Serialize + DeserializeOwned> SimpleQueue<T> {
    /// A simple queue with the default options.
    ///
    /// # Errors
    ///
    /// As [`Queue::new`].
    ///
    /// # Examples
    ///
    /// ```
    /// let q: coil_procs::SimpleQueue<String> = coil_procs::SimpleQueue::new()?;
    /// assert!(q.empty());
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn new() -> Result<Self> {
        Ok(Self(Queue::new()?))
    }
    /// A simple queue with the given options.
    ///
    /// # Errors
    ///
    /// As [`Queue::with_options`].
    ///
    /// # Examples
    ///
    /// ```
    /// let o = coil_procs::QueueOptions::new().transport(coil_procs::TransportKind::Pipe);
    /// let q: coil_procs::SimpleQueue<u8> = coil_procs::SimpleQueue::with_options(&o)?;
    /// assert!(q.empty());
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn with_options(opts: &QueueOptions) -> Result<Self> {
        Ok(Self(Queue::with_options(opts)?))
    }

    /// A simple queue other processes open by `name` with
    /// [`open`](Self::open) (see [`Queue::create`]).
    ///
    /// # Errors
    ///
    /// As [`Queue::create`].
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_procs::{QueueOptions, SimpleQueue};
    /// let name = format!("doc-sq-{}", std::process::id());
    /// let q: SimpleQueue<u8> = SimpleQueue::create(&name, &QueueOptions::new())?;
    /// SimpleQueue::<u8>::open(&name)?.put(&3)?;
    /// assert_eq!(q.get()?, 3);
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn create(name: &str, opts: &QueueOptions) -> Result<Self> {
        Ok(Self(Queue::create(name, opts)?))
    }

    /// Open the queue made under `name`.
    ///
    /// # Errors
    ///
    /// As [`Queue::open`].
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(coil_procs::SimpleQueue::<u8>::open("no-such-simple-queue").is_err());
    /// ```
    pub fn open(name: &str) -> Result<Self> {
        Ok(Self(Queue::open(name)?))
    }
    /// As [`Queue::put`].
    ///
    /// # Errors
    ///
    /// As [`Queue::put`].
    ///
    /// # Examples
    ///
    /// ```
    /// let q: coil_procs::SimpleQueue<u8> = coil_procs::SimpleQueue::new()?;
    /// q.put(&1)?;
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn put(&self, v: &T) -> Result<()> {
        self.0.put(v)
    }
    /// As [`Queue::get`].
    ///
    /// # Errors
    ///
    /// As [`Queue::get`].
    ///
    /// # Examples
    ///
    /// ```
    /// let q: coil_procs::SimpleQueue<u8> = coil_procs::SimpleQueue::new()?;
    /// q.put(&1)?;
    /// assert_eq!(q.get()?, 1);
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn get(&self) -> Result<T> {
        self.0.get()
    }
    /// As [`Queue::empty`].
    ///
    /// # Examples
    ///
    /// ```
    /// let q: coil_procs::SimpleQueue<u8> = coil_procs::SimpleQueue::new()?;
    /// assert!(q.empty());
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn empty(&self) -> bool {
        self.0.empty()
    }
    /// As [`Queue::close`].
    ///
    /// # Examples
    ///
    /// ```
    /// let q: coil_procs::SimpleQueue<u8> = coil_procs::SimpleQueue::new()?;
    /// q.close();
    /// assert_eq!(q.get(), Err(coil_procs::Error::Closed));
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn close(&self) {
        self.0.close()
    }
}

/// A [`Queue`] that also counts unfinished tasks, as
/// `multiprocessing.JoinableQueue`: every `put` adds one, every
/// [`task_done`](Self::task_done) removes one, and [`join`](Self::join) waits
/// for zero. It dereferences to [`Queue`] for the rest.
///
/// A consumer killed between `get` and `task_done` leaves its task unfinished
/// forever (as in Python); use [`join_timeout`](Self::join_timeout) where that
/// can happen.
///
/// # Examples
///
/// ```
/// use coil_procs::{JoinableQueue, Process};
///
/// let q: JoinableQueue<u32> = JoinableQueue::new()?;
/// let c = q.clone();
/// let mut p = Process::new(move || {
///     for _ in 0..3 {
///         c.get().unwrap();
///         c.task_done().unwrap();
///     }
/// });
/// p.start()?;
/// for i in 0..3 {
///     q.put(&i)?;
/// }
/// q.join()?;
/// p.join(None)?;
/// # Ok::<(), coil_procs::Error>(())
/// ```
#[derive(Debug)]
pub struct JoinableQueue<T>(Queue<T>);

impl<T> Clone for JoinableQueue<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T> Deref for JoinableQueue<T> {
    type Target = Queue<T>;
    fn deref(&self) -> &Queue<T> {
        &self.0
    }
}

impl<T: Serialize + DeserializeOwned> JoinableQueue<T> {
    /// A joinable queue with the default options.
    ///
    /// # Errors
    ///
    /// As [`Queue::new`].
    ///
    /// # Examples
    ///
    /// ```
    /// let q: coil_procs::JoinableQueue<u8> = coil_procs::JoinableQueue::new()?;
    /// assert_eq!(q.unfinished_tasks(), 0);
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn new() -> Result<Self> {
        Self::with_options(&QueueOptions::new())
    }
    /// A joinable queue with the given options.
    ///
    /// # Errors
    ///
    /// As [`Queue::with_options`].
    ///
    /// # Examples
    ///
    /// ```
    /// let o = coil_procs::QueueOptions::new().transport(coil_procs::TransportKind::Pipe);
    /// let q: coil_procs::JoinableQueue<u8> = coil_procs::JoinableQueue::with_options(&o)?;
    /// assert_eq!(q.unfinished_tasks(), 0);
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn with_options(opts: &QueueOptions) -> Result<Self> {
        Ok(Self(Queue::build(opts, true)?))
    }

    /// A joinable queue other processes open by `name` with
    /// [`open`](Self::open) (see [`Queue::create`]).
    ///
    /// # Errors
    ///
    /// As [`Queue::create`].
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_procs::{JoinableQueue, QueueOptions};
    /// let name = format!("doc-jq-{}", std::process::id());
    /// let q: JoinableQueue<u8> = JoinableQueue::create(&name, &QueueOptions::new())?;
    /// let other: JoinableQueue<u8> = JoinableQueue::open(&name)?;
    /// q.put(&1)?;
    /// assert_eq!(other.get()?, 1);
    /// other.task_done()?;
    /// q.join()?;
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn create(name: &str, opts: &QueueOptions) -> Result<Self> {
        Ok(Self(Queue::build_named(opts, true, Some(name))?))
    }

    /// Open the joinable queue made under `name`.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] if the queue under `name` is not joinable; as
    /// [`Queue::open`].
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_procs::{JoinableQueue, Queue, QueueOptions};
    /// let name = format!("doc-jq2-{}", std::process::id());
    /// let _q: Queue<u8> = Queue::create(&name, &QueueOptions::new())?;
    /// assert!(matches!(JoinableQueue::<u8>::open(&name), Err(coil_procs::Error::Unsupported(_))));
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn open(name: &str) -> Result<Self> {
        let q = Queue::open(name)?;
        if !q.shared.joinable {
            return Err(Error::Unsupported(format!(
                "queue {name:?} was not made joinable"
            )));
        }
        Ok(Self(q))
    }

    /// Mark one task taken with `get` as done.
    ///
    /// # Errors
    ///
    /// [`Error::TaskDoneTooManyTimes`] if there is no unfinished task
    /// (Python's `ValueError`).
    ///
    /// # Examples
    ///
    /// ```
    /// let q: coil_procs::JoinableQueue<u8> = coil_procs::JoinableQueue::new()?;
    /// assert_eq!(q.task_done(), Err(coil_procs::Error::TaskDoneTooManyTimes));
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn task_done(&self) -> Result<()> {
        self.0.task_done_inner()
    }

    /// The number of tasks put and not yet marked done.
    ///
    /// # Examples
    ///
    /// ```
    /// let q: coil_procs::JoinableQueue<u8> = coil_procs::JoinableQueue::new()?;
    /// q.put(&1)?;
    /// assert_eq!(q.unfinished_tasks(), 1);
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn unfinished_tasks(&self) -> usize {
        self.0.counter(UNFINISHED).load(Ordering::SeqCst) as usize
    }

    /// Wait until every task put has been marked done.
    ///
    /// # Errors
    ///
    /// None today; the `Result` leaves room for failures of the wait.
    ///
    /// # Examples
    ///
    /// ```
    /// let q: coil_procs::JoinableQueue<u8> = coil_procs::JoinableQueue::new()?;
    /// q.join()?; // nothing put: returns at once
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn join(&self) -> Result<()> {
        self.join_until(None)
    }

    /// Wait at most `timeout` until every task put has been marked done.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if tasks are still unfinished.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let q: coil_procs::JoinableQueue<u8> = coil_procs::JoinableQueue::new()?;
    /// q.put(&1)?;
    /// assert_eq!(q.join_timeout(Duration::from_millis(5)), Err(coil_procs::Error::Timeout));
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn join_timeout(&self, timeout: Duration) -> Result<()> {
        self.join_until(Some(Instant::now() + timeout))
    }

    fn join_until(&self, deadline: Option<Instant>) -> Result<()> {
        let c = self.0.counter(UNFINISHED);
        loop {
            let v = c.load(Ordering::SeqCst);
            if v == 0 {
                return Ok(());
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(Error::Timeout);
            }
            futex::wait_until(c, v, deadline);
        }
    }
}
