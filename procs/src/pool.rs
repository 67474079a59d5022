//! [`Pool`]: N worker processes running one function fixed when the pool
//! starts, fed tasks as `serde` data — `multiprocessing.Pool`, with a dead
//! worker turned into a typed error instead of a hang.
//!
//! # Model
//!
//! ```text
//!  caller threads ──Submit(chunks)──▶ dispatcher thread ──socketpair──▶ worker 1
//!        ▲          (crossbeam + wake pipe)   │   ▲        ...          worker N
//!        └──────── results per call ◀─────────┘   └── result frames ◀──┘
//! ```
//!
//! The caller encodes tasks straight into *chunks* (`chunksize` tasks each,
//! in the wire format of the `chunk` module) and hands them over every few
//! thousand tasks, so workers start while it encodes the rest; the
//! dispatcher thread owns one duplex socket per worker, deals the chunks out
//! round the workers — up to `prefetch` outstanding at each, but only two
//! once a worker holds a few hundred tasks, so a few big chunks spread over
//! every worker — and routes every result frame back to the call it belongs
//! to. `map` decodes each chunk's results straight into its output as soon
//! as the chunks before it are in. It knows at every moment which chunks each
//! worker holds, so:
//!
//! - a worker that dies (end of stream on its socket) is reaped and replaced;
//!   the chunk it was running — each worker publishes the id of its current
//!   chunk in a word of shared memory before it starts it — fails with
//!   [`Error::WorkerDied`] for each of its tasks; its other chunks, received
//!   but not answered, go back to the front of the queue and run on another
//!   worker (a task the dead worker had finished without reporting yet thus
//!   runs twice: delivery is at least once for those, exactly once for the
//!   rest);
//! - `maxtasksperchild` retires a worker after that many chunks (as CPython,
//!   which counts a chunk as one task) and starts a fresh one;
//! - nothing waits on a dead process: the dispatcher sleeps in one `poll` over
//!   every worker socket and its wake pipe.
//!
//! Batching makes small tasks cheap: the dispatcher writes all the chunks it
//! hands a worker in one system call, and a worker answers a whole batch with
//! one write, flushing whenever it has no more input.
//!
//! Workers are forked from the dispatcher thread with the rules of
//! [`crate::Process`] (see the fork-safety notes there), as daemon children:
//! they die with the pool's dispatcher thread and with the program.

use std::{
    collections::{HashMap, VecDeque},
    marker::PhantomData,
    os::fd::{AsRawFd, OwnedFd},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use coil_shm::SharedValue;
use crossbeam_channel::{Receiver, Sender, unbounded};
use nix::fcntl::OFlag;
use serde::{Serialize, de::DeserializeOwned};

use crate::{
    chunk,
    error::{Error, Result},
    pipe::{Connection, Pipe},
    process::Process,
};

/// Default chunks outstanding per worker.
const PREFETCH: usize = 64;
/// A worker holding two chunks or more takes another only while it holds
/// fewer tasks than this: many small chunks batch, big ones balance.
const PREFETCH_TASKS: usize = 256;

/// A worker sends its answers at once when they reach this many bytes, even
/// with more input waiting.
const FLUSH_BYTES: usize = 16 * 1024;

/// Tasks gathered by `submit` before they go to the dispatcher, so workers
/// start on the first chunks while the caller encodes the rest.
const SUBMIT_TASKS: usize = 4096;

/// A whole result frame of a one-task chunk, or that task's error.
type Outcome = std::result::Result<Vec<u8>, Error>;
/// The results of one chunk: its first task index, its task count, and the
/// worker's whole result frame (or the one error of every task in it).
type Batch = (usize, usize, std::result::Result<Vec<u8>, Error>);
type Sink = Sender<Batch>;
/// Runs a task frame, writing the result frame; false for a frame without
/// a header.
type WorkFn = Arc<dyn Fn(&[u8], &mut Vec<u8>) -> bool + Send + Sync>;

/// Split a batch into per-task results.
fn unpack<R: DeserializeOwned>(b: Batch, out: &mut VecDeque<(usize, Result<R>)>) {
    let (first, count, r) = b;
    match r {
        Ok(frame) => out.extend((first..).zip(chunk::Results::new(&frame, count))),
        Err(e) => out.extend((first..first + count).map(|i| (i, Err(e.clone())))),
    }
}

/// How a pool is built.
///
/// # Examples
///
/// ```
/// let o = coil_procs::PoolOptions::new().processes(2).maxtasksperchild(Some(10));
/// assert_eq!(o.get_processes(), 2);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct PoolOptions {
    processes: usize,
    maxtasksperchild: Option<usize>,
    prefetch: usize,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl PoolOptions {
    /// As many workers as CPUs, workers never retired, 64 chunks prefetched
    /// per worker.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(coil_procs::PoolOptions::new().get_processes() >= 1);
    /// ```
    pub fn new() -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            processes: cpus,
            maxtasksperchild: None,
            prefetch: PREFETCH,
        }
    }
    /// Number of workers (0 means the number of CPUs).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(coil_procs::PoolOptions::new().processes(3).get_processes(), 3);
    /// ```
    pub fn processes(mut self, n: usize) -> Self {
        self.processes = if n == 0 { Self::new().processes } else { n };
        self
    }
    /// Retire and replace a worker after this many chunks (`None`: never).
    ///
    /// # Examples
    ///
    /// ```
    /// let o = coil_procs::PoolOptions::new().maxtasksperchild(Some(100));
    /// assert_eq!(o.get_processes(), coil_procs::PoolOptions::new().get_processes());
    /// ```
    pub fn maxtasksperchild(mut self, n: Option<usize>) -> Self {
        self.maxtasksperchild = n.map(|n| n.max(1));
        self
    }
    /// Chunks handed to one worker ahead of its answers (at least 1). Larger
    /// values amortise system calls; a dying worker sends back all but one of
    /// them to be re-run. A worker holding two chunks or more takes another
    /// only while it holds fewer than 256 tasks, whatever this says.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = coil_procs::Pool::with_options(&coil_procs::PoolOptions::new().processes(1).prefetch(8), |x: u8| x)?;
    /// assert_eq!(pool.map([1u8])?, [1]);
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn prefetch(mut self, n: usize) -> Self {
        self.prefetch = n.max(1);
        self
    }
    /// The number of workers.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(coil_procs::PoolOptions::new().processes(1).get_processes(), 1);
    /// ```
    pub fn get_processes(&self) -> usize {
        self.processes
    }
}

/// One chunk of encoded tasks on its way to a worker.
struct Chunk {
    id: u64,
    /// Frame body: id u64, count u32, then count × (len u32, bytes).
    frame: Vec<u8>,
    first: usize,
    count: usize,
    sink: Sink,
}

enum Cmd {
    Submit(Vec<Chunk>),
    Pids(Sender<Vec<i32>>),
    Terminate,
}

struct Shared {
    tx: Mutex<Option<Sender<Cmd>>>,
    wake: OwnedFd,
    next_chunk: AtomicU64,
    closed: AtomicBool,
}

impl Shared {
    fn send(&self, cmd: Cmd) -> Result<()> {
        let guard = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        let tx = guard.as_ref().ok_or(Error::Closed)?;
        tx.send(cmd).map_err(|_| Error::Closed)?;
        // SAFETY: one byte from a live buffer to our non-blocking wake pipe; a
        // full pipe (EAGAIN) already guarantees a wake-up.
        unsafe { libc::write(self.wake.as_raw_fd(), [1u8].as_ptr().cast(), 1) };
        Ok(())
    }
}

/// A pool of worker processes, as `multiprocessing.Pool`.
///
/// The worker function is fixed when the pool starts; tasks (`T`) and
/// results (`R`) are `serde` data. Dropping the pool terminates it.
///
/// # Examples
///
/// ```
/// use coil_procs::Pool;
///
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// let mut pool = Pool::new(2, square)?;
/// assert_eq!(pool.map(1..=4)?, [1, 4, 9, 16]);
/// let r = pool.apply_async(7)?;
/// assert_eq!(r.get(None)?, 49);
/// pool.close();
/// pool.join()?;
/// # Ok::<(), coil_procs::Error>(())
/// ```
pub struct Pool<T, R> {
    shared: Arc<Shared>,
    dispatcher: Option<JoinHandle<()>>,
    processes: usize,
    _t: PhantomData<fn(T) -> R>,
}

impl<T, R> std::fmt::Debug for Pool<T, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("processes", &self.processes)
            .finish_non_exhaustive()
    }
}

impl<T: Serialize + DeserializeOwned, R: Serialize + DeserializeOwned> Pool<T, R> {
    /// A pool of `processes` workers (0: one per CPU) running `f`.
    ///
    /// # Errors
    ///
    /// [`Error::Os`] if the wake pipe or the dispatcher thread cannot be made.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = coil_procs::Pool::new(1, |s: String| s.len())?;
    /// assert_eq!(pool.map(vec!["ab".to_string()])?, [2]);
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn new<F>(processes: usize, f: F) -> Result<Self>
    where
        F: Fn(T) -> R + Send + Sync + 'static,
    {
        Self::with_options(&PoolOptions::new().processes(processes), f)
    }

    /// A pool built with `opts`, running `f`.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_procs::{Pool, PoolOptions};
    /// let pool = Pool::with_options(&PoolOptions::new().processes(1).maxtasksperchild(Some(2)), |x: u8| x + 1)?;
    /// assert_eq!(pool.map(0..5u8)?, [1, 2, 3, 4, 5]);
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn with_options<F>(opts: &PoolOptions, f: F) -> Result<Self>
    where
        F: Fn(T) -> R + Send + Sync + 'static,
    {
        let work: WorkFn =
            Arc::new(move |frame: &[u8], out: &mut Vec<u8>| chunk::run(&f, frame, out));
        let (wake_r, wake_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
        let (tx, rx) = unbounded();
        let shared = Arc::new(Shared {
            tx: Mutex::new(Some(tx)),
            wake: wake_w,
            next_chunk: AtomicU64::new(0),
            closed: AtomicBool::new(false),
        });
        let wake_w = shared.wake.as_raw_fd();
        let opts = *opts;
        // The dispatcher is built on its own thread: it owns `Process`
        // handles, which stay on the thread that made them.
        let dispatcher = std::thread::Builder::new()
            .name("coil-pool".into())
            .spawn(move || {
                Dispatcher {
                    rx,
                    wake: wake_r,
                    wake_w,
                    work,
                    opts,
                    workers: Vec::new(),
                    pending: VecDeque::new(),
                    inflight: HashMap::new(),
                    next_worker: 0,
                    terminating: false,
                    disconnected: false,
                }
                .run()
            })
            .map_err(|e| {
                Error::Os(nix::errno::Errno::from_raw(
                    e.raw_os_error().unwrap_or(libc::EAGAIN),
                ))
            })?;
        Ok(Self {
            shared,
            dispatcher: Some(dispatcher),
            processes: opts.processes,
            _t: PhantomData,
        })
    }

    /// The number of workers.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = coil_procs::Pool::new(2, |x: u8| x)?;
    /// assert_eq!(pool.processes(), 2);
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn processes(&self) -> usize {
        self.processes
    }

    /// The pids of the current workers (they change as workers die or retire).
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] after [`close`](Self::close).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = coil_procs::Pool::new(2, |x: u8| x)?;
    /// pool.map([1u8])?;
    /// assert_eq!(pool.worker_pids()?.len(), 2);
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn worker_pids(&self) -> Result<Vec<i32>> {
        let (tx, rx) = unbounded();
        self.shared.send(Cmd::Pids(tx))?;
        rx.recv().map_err(|_| Error::Closed)
    }

    fn default_chunksize(&self, n: usize) -> usize {
        // CPython's rule: about four chunks per worker.
        let per = self.processes * 4;
        (n / per + usize::from(n % per != 0)).max(1)
    }

    /// Encode and submit; results arrive on the returned receiver, one
    /// [`Batch`] per chunk. Each task is encoded straight into its chunk's
    /// frame, and chunks go to the dispatcher every [`SUBMIT_TASKS`] tasks,
    /// so the workers start while the rest is being encoded. If a task
    /// fails to encode, the chunks before it may already be running (their
    /// results are dropped).
    fn submit<I: Iterator<Item = T>>(
        &self,
        items: I,
        chunksize: usize,
    ) -> Result<(usize, Receiver<Batch>)> {
        if self.shared.closed.load(Ordering::SeqCst) {
            return Err(Error::Closed);
        }
        let (sink, results) = unbounded();
        let chunksize = chunksize.max(1);
        let mut chunks = Vec::new();
        let mut batched = 0;
        let mut items = items.peekable();
        let mut n = 0;
        while items.peek().is_some() {
            let id = self.shared.next_chunk.fetch_add(1, Ordering::Relaxed);
            let mut frame = Vec::with_capacity(chunk::HEAD + chunksize.min(1 << 16) * 4);
            chunk::begin(&mut frame, id);
            let first = n;
            let count = chunk::push_tasks(&mut frame, items.by_ref(), chunksize)?;
            n += count;
            chunk::finish(&mut frame, count);
            chunks.push(Chunk {
                id,
                frame,
                first,
                count,
                sink: sink.clone(),
            });
            batched += count;
            if batched >= SUBMIT_TASKS {
                self.shared.send(Cmd::Submit(std::mem::take(&mut chunks)))?;
                batched = 0;
            }
        }
        if !chunks.is_empty() {
            self.shared.send(Cmd::Submit(chunks))?;
        }
        Ok((n, results))
    }

    /// Apply the function to every item, in order, and collect the results
    /// (Python's `map`, with its default chunk size: about four chunks per
    /// worker). The items are taken from the iterator at once.
    ///
    /// # Errors
    ///
    /// The first failed task's error: [`Error::WorkerDied`],
    /// [`Error::TaskPanicked`], [`Error::Decode`], [`Error::Terminated`];
    /// [`Error::Closed`] after [`close`](Self::close); [`Error::Encode`].
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = coil_procs::Pool::new(2, |x: i32| -x)?;
    /// assert_eq!(pool.map([1, 2, 3])?, [-1, -2, -3]);
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn map<I: IntoIterator<Item = T>>(&self, items: I) -> Result<Vec<R>> {
        let items = items.into_iter();
        match items.size_hint() {
            // A known length: no need to gather the items first (a wrong
            // hint would only change the chunk size).
            (lo, Some(hi)) if lo == hi => {
                let cs = self.default_chunksize(lo);
                self.map_in_order(items, cs)
            }
            _ => {
                let items: Vec<T> = items.collect();
                let cs = self.default_chunksize(items.len());
                self.map_in_order(items.into_iter(), cs)
            }
        }
    }

    /// [`map`](Self::map) with an explicit chunk size.
    ///
    /// # Errors
    ///
    /// As [`map`](Self::map).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = coil_procs::Pool::new(2, |x: u32| x * 10)?;
    /// assert_eq!(pool.map_chunked(0..4u32, 1)?, [0, 10, 20, 30]);
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn map_chunked<I: IntoIterator<Item = T>>(
        &self,
        items: I,
        chunksize: usize,
    ) -> Result<Vec<R>> {
        self.map_in_order(items.into_iter(), chunksize)
    }

    /// Submit, then decode each chunk's results straight into the output as
    /// soon as every chunk before it is in; chunks that arrive early wait,
    /// undecoded, in a small map. The first failure in task order ends the
    /// call (later chunks still run; their results are dropped).
    fn map_in_order<I: Iterator<Item = T>>(&self, items: I, chunksize: usize) -> Result<Vec<R>> {
        let chunksize = chunksize.max(1);
        let (n, rx) = self.submit(items, chunksize)?;
        let mut out = Vec::with_capacity(n);
        // Chunks that arrived before the one wanted next, by position after
        // it (every chunk but the last holds `chunksize` tasks, so a chunk's
        // position is its first task / chunksize).
        let mut early: VecDeque<Option<Batch>> = VecDeque::new();
        while out.len() < n {
            let (_, count, r) = match early.pop_front() {
                Some(Some(b)) => b,
                held => {
                    if held.is_some() {
                        // An empty slot: the wanted chunk is not in yet.
                        early.push_front(None);
                    }
                    let b = rx.recv().map_err(|_| Error::Terminated)?;
                    let Some(ahead) = b.0.checked_sub(out.len()).map(|d| d / chunksize) else {
                        continue; // never: each chunk is answered once
                    };
                    if ahead > 0 {
                        if early.len() <= ahead {
                            early.resize_with(ahead + 1, || None);
                        }
                        early[ahead] = Some(b);
                        continue;
                    }
                    if !early.is_empty() {
                        early.pop_front();
                    }
                    b
                }
            };
            let frame = r?;
            for r in chunk::Results::new(&frame, count) {
                out.push(r?);
            }
        }
        Ok(out)
    }

    /// Python's `starmap`: Rust functions take one argument, so a pool whose
    /// function takes a tuple maps over tuples; this is [`map`](Self::map).
    ///
    /// # Errors
    ///
    /// As [`map`](Self::map).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = coil_procs::Pool::new(2, |(a, b): (u32, u32)| a.pow(b))?;
    /// assert_eq!(pool.starmap([(2, 3), (3, 2)])?, [8, 9]);
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn starmap<I: IntoIterator<Item = T>>(&self, items: I) -> Result<Vec<R>> {
        self.map(items)
    }

    /// Results in order, one `Result` per task, as they become available
    /// (Python's `imap`).
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] after [`close`](Self::close); [`Error::Encode`]. Each
    /// item carries its task's own error.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = coil_procs::Pool::new(2, |x: u8| x * 2)?;
    /// let v: Vec<u8> = pool.imap(0..3u8, 1)?.collect::<Result<_, _>>()?;
    /// assert_eq!(v, [0, 2, 4]);
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn imap<I: IntoIterator<Item = T>>(&self, items: I, chunksize: usize) -> Result<Imap<R>> {
        let (n, rx) = self.submit(items.into_iter(), chunksize)?;
        Ok(Imap {
            rx,
            n,
            next: 0,
            early: HashMap::new(),
            buf: VecDeque::new(),
        })
    }

    /// Results in completion order, each with nothing to tell which task it
    /// was but its value (Python's `imap_unordered`).
    ///
    /// # Errors
    ///
    /// As [`imap`](Self::imap).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = coil_procs::Pool::new(2, |x: u8| x * 2)?;
    /// let mut v: Vec<u8> = pool.imap_unordered(0..3u8, 1)?.collect::<Result<_, _>>()?;
    /// v.sort();
    /// assert_eq!(v, [0, 2, 4]);
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn imap_unordered<I: IntoIterator<Item = T>>(
        &self,
        items: I,
        chunksize: usize,
    ) -> Result<ImapUnordered<R>> {
        let (n, rx) = self.submit(items.into_iter(), chunksize)?;
        Ok(ImapUnordered {
            rx,
            left: n,
            buf: VecDeque::new(),
        })
    }

    /// Run one task in the background (Python's `apply_async`).
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] after [`close`](Self::close); [`Error::Encode`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let pool = coil_procs::Pool::new(1, |x: u64| x + 1)?;
    /// let r = pool.apply_async(41)?;
    /// assert_eq!(r.get(Some(Duration::from_secs(30)))?, 42);
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn apply_async(&self, item: T) -> Result<AsyncResult<R>> {
        let (_, rx) = self.submit(std::iter::once(item), 1)?;
        Ok(AsyncResult {
            rx,
            done: Mutex::new(None),
            _r: PhantomData,
        })
    }

    /// Python's `apply`: [`apply_async`](Self::apply_async) and wait.
    ///
    /// # Errors
    ///
    /// As [`AsyncResult::get`].
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = coil_procs::Pool::new(1, |x: u64| x * 3)?;
    /// assert_eq!(pool.apply(5)?, 15);
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn apply(&self, item: T) -> Result<R> {
        self.apply_async(item)?.get(None)
    }

    /// Accept no more tasks; the workers exit once the submitted ones are
    /// done.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = coil_procs::Pool::new(1, |x: u8| x)?;
    /// pool.close();
    /// assert_eq!(pool.map([1]), Err(coil_procs::Error::Closed));
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn close(&self) {
        self.shared.closed.store(true, Ordering::SeqCst);
        // Dropping the command sender tells the dispatcher: finish and exit.
        self.shared
            .tx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        // SAFETY: one byte to the non-blocking wake pipe.
        unsafe { libc::write(self.shared.wake.as_raw_fd(), [1u8].as_ptr().cast(), 1) };
    }

    /// Wait for the workers to finish every submitted task and exit. Closes
    /// the pool first if it was not closed (CPython requires `close` first).
    ///
    /// # Errors
    ///
    /// None today; the `Result` leaves room for failures of the wait.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut pool = coil_procs::Pool::new(2, |x: u8| x)?;
    /// let r = pool.apply_async(1)?;
    /// pool.close();
    /// pool.join()?;
    /// assert_eq!(r.get(None)?, 1);
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn join(&mut self) -> Result<()> {
        self.close();
        if let Some(h) = self.dispatcher.take() {
            let _ = h.join();
        }
        Ok(())
    }

    /// Kill the workers now; unfinished tasks fail with
    /// [`Error::Terminated`].
    ///
    /// # Examples
    ///
    /// ```
    /// let mut pool = coil_procs::Pool::new(1, |x: u64| {
    ///     std::thread::sleep(std::time::Duration::from_secs(x));
    ///     x
    /// })?;
    /// let r = pool.apply_async(60)?;
    /// pool.terminate();
    /// assert_eq!(r.get(None), Err(coil_procs::Error::Terminated));
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn terminate(&mut self) {
        let _ = self.shared.send(Cmd::Terminate);
        self.close();
        if let Some(h) = self.dispatcher.take() {
            let _ = h.join();
        }
    }
}

impl<T, R> Drop for Pool<T, R> {
    fn drop(&mut self) {
        if let Some(h) = self.dispatcher.take() {
            let guard = self
                .shared
                .tx
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            if let Some(tx) = guard {
                let _ = tx.send(Cmd::Terminate);
            }
            // SAFETY: one byte to the non-blocking wake pipe.
            unsafe { libc::write(self.shared.wake.as_raw_fd(), [1u8].as_ptr().cast(), 1) };
            let _ = h.join();
        }
    }
}

/// Ordered results of [`Pool::imap`].
///
/// # Examples
///
/// ```
/// let pool = coil_procs::Pool::new(1, |x: u8| x)?;
/// let mut it = pool.imap([5u8], 1)?;
/// assert_eq!(it.next(), Some(Ok(5)));
/// assert_eq!(it.next(), None);
/// # Ok::<(), coil_procs::Error>(())
/// ```
pub struct Imap<R> {
    rx: Receiver<Batch>,
    n: usize,
    next: usize,
    early: HashMap<usize, Result<R>>,
    buf: VecDeque<(usize, Result<R>)>,
}

impl<R> std::fmt::Debug for Imap<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Imap")
            .field("n", &self.n)
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

impl<R: DeserializeOwned> Iterator for Imap<R> {
    type Item = Result<R>;
    fn next(&mut self) -> Option<Result<R>> {
        if self.next >= self.n {
            return None;
        }
        let o = loop {
            if let Some(o) = self.early.remove(&self.next) {
                break o;
            }
            if let Some((i, o)) = self.buf.pop_front() {
                if i == self.next {
                    break o;
                }
                self.early.insert(i, o);
                continue;
            }
            match self.rx.recv() {
                Ok(b) => unpack(b, &mut self.buf),
                Err(_) => break Err(Error::Terminated),
            }
        };
        self.next += 1;
        Some(o)
    }
}

/// Unordered results of [`Pool::imap_unordered`].
///
/// # Examples
///
/// ```
/// let pool = coil_procs::Pool::new(1, |x: u8| x)?;
/// assert_eq!(pool.imap_unordered([5u8], 1)?.count(), 1);
/// # Ok::<(), coil_procs::Error>(())
/// ```
pub struct ImapUnordered<R> {
    rx: Receiver<Batch>,
    left: usize,
    buf: VecDeque<(usize, Result<R>)>,
}

impl<R> std::fmt::Debug for ImapUnordered<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImapUnordered")
            .field("left", &self.left)
            .finish_non_exhaustive()
    }
}

impl<R: DeserializeOwned> Iterator for ImapUnordered<R> {
    type Item = Result<R>;
    fn next(&mut self) -> Option<Result<R>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        while self.buf.is_empty() {
            match self.rx.recv() {
                Ok(b) => unpack(b, &mut self.buf),
                Err(_) => return Some(Err(Error::Terminated)),
            }
        }
        let (_, o) = self.buf.pop_front()?;
        Some(o)
    }
}

/// The pending result of [`Pool::apply_async`].
///
/// # Examples
///
/// ```
/// let pool = coil_procs::Pool::new(1, |x: u8| x)?;
/// let r = pool.apply_async(3)?;
/// r.wait(None);
/// assert!(r.ready());
/// assert!(r.successful()?);
/// assert_eq!(r.get(None)?, 3);
/// # Ok::<(), coil_procs::Error>(())
/// ```
#[derive(Debug)]
pub struct AsyncResult<R> {
    rx: Receiver<Batch>,
    done: Mutex<Option<Outcome>>,
    _r: PhantomData<fn() -> R>,
}

impl<R: DeserializeOwned> AsyncResult<R> {
    /// The one result in the result frame of a one-task chunk.
    fn decode(frame: &[u8]) -> Result<R> {
        chunk::Results::new(frame, 1)
            .next()
            .unwrap_or(Err(Error::Terminated))
    }

    fn fetch(&self, timeout: Option<Duration>) -> Option<Outcome> {
        let mut done = self.done.lock().unwrap_or_else(|e| e.into_inner());
        if done.is_none() {
            let r = match timeout {
                None => self.rx.recv().ok(),
                Some(t) => match self.rx.recv_timeout(t) {
                    Ok(v) => Some(v),
                    Err(crossbeam_channel::RecvTimeoutError::Timeout) => return None,
                    Err(crossbeam_channel::RecvTimeoutError::Disconnected) => None,
                },
            };
            *done = Some(r.map_or(Err(Error::Terminated), |(_, _, frame)| frame));
        }
        done.clone()
    }

    /// The result, waiting at most `timeout` (`None`: until it is there).
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if not ready in time; the task's error
    /// ([`Error::WorkerDied`], [`Error::TaskPanicked`], [`Error::Terminated`],
    /// [`Error::Decode`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let pool = coil_procs::Pool::new(1, |x: u64| {
    ///     std::thread::sleep(Duration::from_millis(x));
    ///     x
    /// })?;
    /// let r = pool.apply_async(200)?;
    /// assert_eq!(r.get(Some(Duration::from_millis(1))), Err(coil_procs::Error::Timeout));
    /// assert_eq!(r.get(None)?, 200);
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn get(&self, timeout: Option<Duration>) -> Result<R> {
        match self.fetch(timeout) {
            None => Err(Error::Timeout),
            Some(o) => o.and_then(|frame| Self::decode(&frame)),
        }
    }

    /// Wait at most `timeout` for the result to be ready.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = coil_procs::Pool::new(1, |x: u8| x)?;
    /// let r = pool.apply_async(1)?;
    /// r.wait(None);
    /// assert!(r.ready());
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn wait(&self, timeout: Option<Duration>) {
        let _ = self.fetch(timeout);
    }

    /// Whether the result is ready.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = coil_procs::Pool::new(1, |x: u8| x)?;
    /// let r = pool.apply_async(1)?;
    /// r.wait(None);
    /// assert!(r.ready());
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn ready(&self) -> bool {
        self.fetch(Some(Duration::ZERO)).is_some()
    }

    /// Whether the task completed without error.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if it is not ready (Python's `ValueError`).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = coil_procs::Pool::new(1, |x: u8| if x == 0 { panic!("zero") } else { x })?;
    /// let r = pool.apply_async(0)?;
    /// r.wait(None);
    /// assert!(!r.successful()?);
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn successful(&self) -> Result<bool> {
        match self.fetch(Some(Duration::ZERO)) {
            None => Err(Error::Timeout),
            Some(o) => Ok(o.and_then(|frame| Self::decode(&frame)).is_ok()),
        }
    }
}

/// "No chunk" in a worker's `current` word.
const IDLE: u64 = u64::MAX;

struct Worker {
    proc: Process,
    conn: Connection,
    /// The chunk the worker is running now (shared memory; `IDLE` between
    /// chunks), so its death fails exactly that chunk.
    current: SharedValue<u64>,
    outstanding: VecDeque<u64>,
    /// Tasks in the chunks of `outstanding`.
    held: usize,
    sent: usize,
}

struct Inflight {
    first: usize,
    count: usize,
    sink: Sink,
    /// Kept to re-send if the worker holding it dies.
    frame: Vec<u8>,
}

struct Dispatcher {
    rx: Receiver<Cmd>,
    wake: OwnedFd,
    wake_w: i32,
    work: WorkFn,
    opts: PoolOptions,
    workers: Vec<Worker>,
    pending: VecDeque<Chunk>,
    inflight: HashMap<u64, Inflight>,
    /// Where the next round of [`assign`](Self::assign) starts.
    next_worker: usize,
    terminating: bool,
    disconnected: bool,
}

/// The worker process's loop; returns the exit code.
fn worker_main(mut conn: Connection, current: &AtomicU64, work: WorkFn, max: Option<usize>) -> i32 {
    let mut done = 0usize;
    let mut out = Vec::new();
    loop {
        // Answer many small chunks with one write: flush when no input is
        // waiting, or once the answers are big enough that sending them now
        // (so the dispatcher deals this worker its next chunk while it runs
        // the queued one) beats batching.
        if conn.has_pending()
            && (conn.pending_len() >= FLUSH_BYTES
                || (!conn.frame_buffered() && !conn.poll(Some(Duration::ZERO)).unwrap_or(true)))
            && conn.flush().is_err()
        {
            return 0;
        }
        let frame = match conn.next_frame(None) {
            Ok(Some(f)) => f,
            _ => return 0, // the pool closed our socket or is gone
        };
        let Some((id, _)) = chunk::head(frame) else {
            return 3;
        };
        current.store(id, Ordering::SeqCst);
        if !work(frame, &mut out) {
            return 3;
        }
        conn.push_frame(&[&out]);
        if out.capacity() > 4 << 20 {
            out = Vec::new();
        }
        current.store(IDLE, Ordering::SeqCst);
        done += 1;
        if max.is_some_and(|m| done >= m) {
            let _ = conn.flush();
            return 0;
        }
    }
}

impl Dispatcher {
    fn spawn_worker(&mut self) -> Result<()> {
        let (mine, theirs) = Pipe::socketpair()?;
        // Descriptors the child must not keep: other workers' sockets (or
        // their end-of-stream would never come) and the wake pipe.
        let mut close: Vec<i32> = self.workers.iter().map(|w| w.conn.as_raw_fd()).collect();
        close.push(mine.as_raw_fd());
        close.push(self.wake.as_raw_fd());
        close.push(self.wake_w);
        let work = self.work.clone();
        let max = self.opts.maxtasksperchild;
        let current = SharedValue::anonymous(IDLE)?;
        let addr = current.atomic() as *const AtomicU64 as usize;
        let mut proc = Process::with_code(move || {
            for fd in close {
                // SAFETY: closing descriptors this child inherited and never uses.
                unsafe { libc::close(fd) };
            }
            // SAFETY: `addr` points into the shared mapping of `current`, which
            // the child inherits at the same address; the child never drops
            // its copy of the dispatcher (it leaves with `_exit`), so the
            // mapping outlives this reference.
            let cur = unsafe { &*(addr as *const AtomicU64) };
            worker_main(theirs, cur, work, max)
        })
        .name("PoolWorker")
        .daemon(true);
        proc.start()?;
        self.workers.push(Worker {
            proc,
            conn: mine,
            current,
            outstanding: VecDeque::new(),
            held: 0,
            sent: 0,
        });
        Ok(())
    }

    fn fail_chunk(&mut self, id: u64, err: &Error) {
        if let Some(c) = self.inflight.remove(&id) {
            let _ = c.sink.send((c.first, c.count, Err(err.clone())));
        }
    }

    /// Hand pending chunks out one at a time, round the workers, so a few
    /// big chunks spread over every worker. A worker takes more while it
    /// holds fewer than two chunks (one to run, one queued: no idle gap
    /// between them) or fewer than [`PREFETCH_TASKS`] tasks, up to
    /// `prefetch` chunks; the rest wait here and go to whichever worker
    /// answers first.
    fn assign(&mut self) {
        let nw = self.workers.len();
        let mut stalled = 0;
        let mut wi = self.next_worker;
        while stalled < nw && !self.pending.is_empty() {
            wi %= nw;
            let w = &mut self.workers[wi];
            wi += 1;
            let room = w.outstanding.len() < self.opts.prefetch
                && (w.outstanding.len() < 2 || w.held < PREFETCH_TASKS)
                && self.opts.maxtasksperchild.is_none_or(|m| w.sent < m);
            if !room {
                stalled += 1;
                continue;
            }
            stalled = 0;
            let Some(c) = self.pending.pop_front() else {
                break;
            };
            w.conn.push_frame(&[&c.frame]);
            w.outstanding.push_back(c.id);
            w.sent += 1;
            w.held += c.count;
            self.inflight.insert(
                c.id,
                Inflight {
                    first: c.first,
                    count: c.count,
                    sink: c.sink,
                    frame: c.frame,
                },
            );
        }
        self.next_worker = wi;
    }

    fn handle_result(&mut self, wi: usize, frame: Vec<u8>) {
        let Some((id, _)) = chunk::head(&frame) else {
            return;
        };
        let w = &mut self.workers[wi];
        if w.outstanding.front() == Some(&id) {
            w.outstanding.pop_front();
        } else {
            w.outstanding.retain(|&x| x != id);
        }
        let Some(c) = self.inflight.remove(&id) else {
            return;
        };
        w.held = w.held.saturating_sub(c.count);
        // The caller splits the frame: one channel message per chunk.
        // The count is always the chunk's own: a short frame (never from a
        // sound worker) reads as decode errors for its missing tasks.
        let _ = c.sink.send((c.first, c.count, Ok(frame)));
    }

    /// A worker's socket reached end of stream: reap it, settle its chunks,
    /// replace it.
    fn retire(&mut self, wi: usize) {
        let mut w = self.workers.swap_remove(wi);
        let _ = w.proc.join(Some(Duration::from_secs(5)));
        if w.proc.is_alive() {
            let _ = w.proc.kill();
            let _ = w.proc.join(None);
        }
        let pid = w.proc.pid().unwrap_or(0);
        let code = w.proc.exit_code().unwrap_or(0);
        let running = w.current.atomic().load(Ordering::SeqCst);
        if running != IDLE && w.outstanding.contains(&running) {
            w.outstanding.retain(|&id| id != running);
            self.fail_chunk(
                running,
                &Error::WorkerDied {
                    pid,
                    exit_code: code,
                },
            );
        }
        // The rest were received but not answered: run them elsewhere.
        while let Some(id) = w.outstanding.pop_back() {
            if let Some(c) = self.inflight.remove(&id) {
                self.pending.push_front(Chunk {
                    id,
                    frame: c.frame,
                    first: c.first,
                    count: c.count,
                    sink: c.sink,
                });
            }
        }
    }

    fn terminate(&mut self) {
        self.terminating = true;
        for w in &mut self.workers {
            let _ = w.proc.kill();
        }
        for mut w in self.workers.drain(..) {
            let _ = w.proc.join(None);
        }
        let ids: Vec<u64> = self.inflight.keys().copied().collect();
        for id in ids {
            self.fail_chunk(id, &Error::Terminated);
        }
        for c in self.pending.drain(..) {
            let _ = c.sink.send((c.first, c.count, Err(Error::Terminated)));
        }
    }

    fn drain_commands(&mut self) {
        let mut buf = [0u8; 64];
        // SAFETY: reading into a stack buffer from our non-blocking pipe.
        while unsafe { libc::read(self.wake.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) } > 0 {
        }
        loop {
            match self.rx.try_recv() {
                Ok(Cmd::Submit(chunks)) => self.pending.extend(chunks),
                Ok(Cmd::Pids(tx)) => {
                    let _ = tx.send(self.workers.iter().filter_map(|w| w.proc.pid()).collect());
                }
                Ok(Cmd::Terminate) => {
                    self.terminate();
                    return;
                }
                Err(crossbeam_channel::TryRecvError::Empty) => return,
                Err(crossbeam_channel::TryRecvError::Disconnected) => {
                    self.disconnected = true;
                    return;
                }
            }
        }
    }

    fn run(&mut self) {
        let mut spawn_failures = 0u32;
        while self.workers.len() < self.opts.processes {
            if self.spawn_worker().is_err() {
                break;
            }
        }
        loop {
            self.drain_commands();
            if self.terminating {
                return;
            }
            let idle = self.pending.is_empty() && self.inflight.is_empty();
            if self.disconnected && idle {
                // Closed and done: dropping the sockets ends the workers.
                for mut w in self.workers.drain(..) {
                    drop(w.conn);
                    let _ = w.proc.join(None);
                }
                return;
            }
            while self.workers.len() < self.opts.processes && !(self.disconnected && idle) {
                if self.spawn_worker().is_err() {
                    spawn_failures += 1;
                    if spawn_failures > 100 {
                        // Cannot make workers at all: fail everything.
                        self.terminate();
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                    break;
                }
            }
            self.assign();
            let mut dead = Vec::new();
            for (i, w) in self.workers.iter_mut().enumerate() {
                // Never block on a worker: what does not fit now waits for POLLOUT.
                if w.conn.try_flush().is_err() {
                    dead.push(i);
                }
            }
            let mut fds: Vec<libc::pollfd> = vec![libc::pollfd {
                fd: self.wake.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            }];
            fds.extend(self.workers.iter().map(|w| {
                let events = if w.conn.has_pending() {
                    libc::POLLIN | libc::POLLOUT
                } else {
                    libc::POLLIN
                };
                libc::pollfd {
                    fd: w.conn.as_raw_fd(),
                    events,
                    revents: 0,
                }
            }));
            if dead.is_empty() {
                // SAFETY: a valid array of pollfds.
                let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 1000) };
                if r < 0 {
                    continue;
                }
            }
            for (i, p) in fds.iter().enumerate().skip(1) {
                if p.revents & !libc::POLLOUT == 0 && !dead.contains(&(i - 1)) {
                    continue;
                }
                let wi = i - 1;
                loop {
                    let w = &mut self.workers[wi];
                    match w.conn.next_frame(Some(Instant::now())) {
                        Ok(Some(f)) => {
                            let f = f.to_vec();
                            self.handle_result(wi, f);
                        }
                        Ok(None) => break,
                        Err(_) => {
                            if !dead.contains(&wi) {
                                dead.push(wi);
                            }
                            break;
                        }
                    }
                }
            }
            // Retired workers whose quota is used up and answered.
            for (i, w) in self.workers.iter().enumerate() {
                if self.opts.maxtasksperchild.is_some_and(|m| w.sent >= m)
                    && w.outstanding.is_empty()
                    && !dead.contains(&i)
                {
                    dead.push(i);
                }
            }
            dead.sort_unstable();
            for wi in dead.into_iter().rev() {
                self.retire(wi);
            }
        }
    }
}
