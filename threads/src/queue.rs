//! Python's `queue` module: [`Queue`], [`LifoQueue`], [`PriorityQueue`] and
//! [`SimpleQueue`], with `maxsize`, blocking and non-blocking `put`/`get`
//! with timeouts, `task_done`/`join`, and Python 3.13's `shutdown`.
//!
//! # Two engines
//!
//! - The FIFO [`Queue`] and [`SimpleQueue`] sit on a crossbeam channel
//!   (bounded when `maxsize > 0`). The fast path of `put`/`get` is the
//!   channel's lock-free `try_send`/`try_recv` plus one relaxed load of the
//!   shutdown flag and one counter bump for `task_done` bookkeeping; a call
//!   that must wait spins briefly (crossbeam's `Backoff`), then releases the
//!   GIL and blocks in a `select` over the data channel and a *stop* channel
//!   whose only sender is dropped by `shutdown`, which wakes every blocked
//!   caller at once.
//! - [`LifoQueue`] and [`PriorityQueue`] keep their items in a `Vec` or a
//!   binary heap under one mutex with `not_empty`/`not_full` condition
//!   variables — CPython's own design, built on this crate's `primitive`
//!   shim, and the engine the loom model checks.
//!
//! # Counting tasks
//!
//! `unfinished` goes up before an item enters the queue (so a `task_done`
//! that follows its `get` can never underflow it) and back down if the put
//! fails; `task_done` decrements it and wakes `join` waiters at zero, under
//! the `done` mutex so that no wake-up is lost.

use std::{
    cmp::Reverse,
    collections::BinaryHeap,
    fmt,
    time::{Duration, Instant},
};

use crossbeam_channel::{Receiver, Select, Sender, TryRecvError, TrySendError};
use crossbeam_utils::{Backoff, CachePadded};

use crate::{
    error::{Error, Result},
    gil,
    primitive::{self, AtomicU8, AtomicUsize, Condvar, Mutex, Ordering},
};

/// A `put` that failed, with the item handed back.
///
/// # Examples
///
/// ```
/// use coil_threads::{Error, Queue};
/// let q = Queue::new(1);
/// q.put(1).unwrap();
/// let r = q.put_nowait(2).unwrap_err();
/// assert_eq!((r.error, r.item), (Error::Full, 2));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejected<T> {
    /// Why: [`Error::Full`], [`Error::Timeout`] or [`Error::ShutDown`].
    pub error: Error,
    /// The item that was not put.
    pub item: T,
}

impl<T> fmt::Display for Rejected<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "put rejected: {}", self.error)
    }
}

impl<T: fmt::Debug> std::error::Error for Rejected<T> {}

const OPEN: u8 = 0;
const SHUT: u8 = 1;

/// Task accounting and shutdown state shared by every queue kind.
struct Tasks {
    unfinished: CachePadded<AtomicUsize>,
    shut: AtomicU8,
    done: Mutex<()>,
    done_cv: Condvar,
}

impl Tasks {
    fn new() -> Self {
        Tasks {
            unfinished: CachePadded::new(AtomicUsize::new(0)),
            shut: AtomicU8::new(OPEN),
            done: Mutex::new(()),
            done_cv: Condvar::new(),
        }
    }

    #[inline]
    fn is_shut(&self) -> bool {
        self.shut.load(Ordering::Acquire) != OPEN
    }

    #[inline]
    fn add(&self) {
        self.unfinished.fetch_add(1, Ordering::Relaxed);
    }

    fn sub(&self, n: usize) {
        if n == 0 {
            return;
        }
        let mut cur = self.unfinished.load(Ordering::Relaxed);
        loop {
            let next = cur.saturating_sub(n);
            match self.unfinished.compare_exchange_weak(
                cur,
                next,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    if next == 0 {
                        self.wake_joiners();
                    }
                    return;
                }
                Err(c) => cur = c,
            }
        }
    }

    fn wake_joiners(&self) {
        let g = primitive::lock(&self.done);
        self.done_cv.notify_all();
        drop(g);
    }

    fn task_done(&self) -> Result<()> {
        let mut cur = self.unfinished.load(Ordering::Relaxed);
        loop {
            if cur == 0 {
                return Err(Error::TooManyTaskDone);
            }
            match self.unfinished.compare_exchange_weak(
                cur,
                cur - 1,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    if cur == 1 {
                        self.wake_joiners();
                    }
                    return Ok(());
                }
                Err(c) => cur = c,
            }
        }
    }

    fn join(&self) {
        if self.unfinished.load(Ordering::Acquire) == 0 {
            return;
        }
        gil::release_while(|| {
            let mut g = primitive::lock(&self.done);
            while self.unfinished.load(Ordering::Acquire) != 0 {
                g = primitive::wait_until(&self.done_cv, g, None).0;
            }
        });
    }
}

/// A first-in, first-out queue, `queue.Queue`, safe to share between
/// threads. `maxsize == 0` means unbounded.
///
/// # Examples
///
/// ```
/// use coil_threads::Queue;
///
/// let q = Queue::new(0);
/// std::thread::scope(|s| {
///     s.spawn(|| {
///         while let Ok(item) = q.get() {
///             println!("working on {item}");
///             q.task_done().unwrap();
///         }
///     });
///     for item in 0..5 {
///         q.put(item).unwrap();
///     }
///     q.join(); // every item processed
///     q.shutdown(false); // the worker's get() now fails with ShutDown
/// });
/// ```
pub struct Queue<T> {
    tx: Sender<T>,
    rx: Receiver<T>,
    maxsize: usize,
    tasks: Tasks,
    stop_tx: Mutex<Option<Sender<()>>>,
    stop_rx: Receiver<()>,
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("maxsize", &self.maxsize)
            .field("qsize", &self.qsize())
            .field("is_shutdown", &self.is_shutdown())
            .finish()
    }
}

impl<T> Queue<T> {
    /// A queue holding at most `maxsize` items (`0`: unbounded).
    ///
    /// # Examples
    ///
    /// ```
    /// let q: coil_threads::Queue<u8> = coil_threads::Queue::new(8);
    /// assert_eq!(q.maxsize(), 8);
    /// ```
    pub fn new(maxsize: usize) -> Self {
        let (tx, rx) = if maxsize == 0 {
            crossbeam_channel::unbounded()
        } else {
            crossbeam_channel::bounded(maxsize)
        };
        let (stop_tx, stop_rx) = crossbeam_channel::bounded(0);
        Queue {
            tx,
            rx,
            maxsize,
            tasks: Tasks::new(),
            stop_tx: Mutex::new(Some(stop_tx)),
            stop_rx,
        }
    }

    /// The capacity given at creation (`0`: unbounded).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(coil_threads::Queue::<u8>::new(0).maxsize(), 0);
    /// ```
    pub fn maxsize(&self) -> usize {
        self.maxsize
    }

    /// Puts an item, blocking while the queue is full.
    ///
    /// # Errors
    ///
    /// [`Error::ShutDown`] (with the item) if the queue is or becomes shut
    /// down.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = coil_threads::Queue::new(0);
    /// q.put("a").unwrap();
    /// assert_eq!(q.get(), Ok("a"));
    /// ```
    #[inline]
    pub fn put(&self, item: T) -> Result<(), Rejected<T>> {
        self.put_until(item, true, None)
    }

    /// Puts an item if there is room now (`put_nowait`).
    ///
    /// # Errors
    ///
    /// [`Error::Full`] or [`Error::ShutDown`], with the item.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_threads::{Error, Queue};
    /// let q = Queue::new(1);
    /// q.put_nowait(1).unwrap();
    /// assert_eq!(q.put_nowait(2).unwrap_err().error, Error::Full);
    /// ```
    pub fn put_nowait(&self, item: T) -> Result<(), Rejected<T>> {
        self.put_until(item, false, None)
    }

    /// Puts an item, waiting at most `timeout` for room.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] (Python raises `queue.Full`) or
    /// [`Error::ShutDown`], with the item.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use coil_threads::{Error, Queue};
    /// let q = Queue::new(1);
    /// q.put(1).unwrap();
    /// let r = q.put_timeout(2, Duration::from_millis(1)).unwrap_err();
    /// assert_eq!(r.error, Error::Timeout);
    /// ```
    pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), Rejected<T>> {
        self.put_until(item, true, primitive::deadline(Some(timeout)))
    }

    #[inline]
    fn put_until(
        &self,
        item: T,
        block: bool,
        deadline: Option<Instant>,
    ) -> Result<(), Rejected<T>> {
        if self.tasks.is_shut() {
            return Err(Rejected {
                error: Error::ShutDown,
                item,
            });
        }
        self.tasks.add();
        let item = match self.tx.try_send(item) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Full(item)) | Err(TrySendError::Disconnected(item)) => item,
        };
        let r = if block {
            self.put_slow(item, deadline)
        } else {
            Err(Rejected {
                error: Error::Full,
                item,
            })
        };
        if r.is_err() {
            self.tasks.sub(1);
        }
        r
    }

    #[cold]
    fn put_slow(&self, mut item: T, deadline: Option<Instant>) -> Result<(), Rejected<T>> {
        let backoff = Backoff::new();
        while !backoff.is_completed() {
            backoff.snooze();
            match self.tx.try_send(item) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Full(i)) | Err(TrySendError::Disconnected(i)) => item = i,
            }
            if self.tasks.is_shut() {
                return Err(Rejected {
                    error: Error::ShutDown,
                    item,
                });
            }
        }
        gil::release_while(move || {
            loop {
                if self.tasks.is_shut() {
                    return Err(Rejected {
                        error: Error::ShutDown,
                        item,
                    });
                }
                let mut sel = Select::new();
                let send = sel.send(&self.tx);
                let stop = sel.recv(&self.stop_rx);
                let op = match deadline {
                    None => sel.select(),
                    Some(d) => match sel.select_deadline(d) {
                        Ok(op) => op,
                        Err(_) => {
                            return Err(Rejected {
                                error: Error::Timeout,
                                item,
                            });
                        }
                    },
                };
                if op.index() == send {
                    match op.send(&self.tx, item) {
                        Ok(()) => return Ok(()),
                        Err(e) => item = e.into_inner(),
                    }
                } else {
                    debug_assert_eq!(op.index(), stop);
                    let _ = op.recv(&self.stop_rx);
                }
            }
        })
    }

    /// Removes and returns the oldest item, blocking while the queue is
    /// empty.
    ///
    /// # Errors
    ///
    /// [`Error::ShutDown`] once the queue is shut down and empty (at once
    /// after an immediate shutdown).
    ///
    /// # Examples
    ///
    /// ```
    /// let q = coil_threads::Queue::new(2);
    /// q.put(1).unwrap();
    /// q.put(2).unwrap();
    /// assert_eq!((q.get(), q.get()), (Ok(1), Ok(2)));
    /// ```
    #[inline]
    pub fn get(&self) -> Result<T> {
        self.get_until(true, None)
    }

    /// Removes the oldest item if there is one (`get_nowait`).
    ///
    /// # Errors
    ///
    /// [`Error::Empty`], or [`Error::ShutDown`] if shut down and empty.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_threads::{Error, Queue};
    /// assert_eq!(Queue::<u8>::new(0).get_nowait(), Err(Error::Empty));
    /// ```
    pub fn get_nowait(&self) -> Result<T> {
        self.get_until(false, None)
    }

    /// Removes the oldest item, waiting at most `timeout` for one.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] (Python raises `queue.Empty`), or
    /// [`Error::ShutDown`] if shut down and empty.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use coil_threads::{Error, Queue};
    /// let q = Queue::<u8>::new(0);
    /// assert_eq!(q.get_timeout(Duration::from_millis(1)), Err(Error::Timeout));
    /// ```
    pub fn get_timeout(&self, timeout: Duration) -> Result<T> {
        self.get_until(true, primitive::deadline(Some(timeout)))
    }

    #[inline]
    fn get_until(&self, block: bool, deadline: Option<Instant>) -> Result<T> {
        match self.rx.try_recv() {
            Ok(v) => Ok(v),
            Err(_) if self.tasks.is_shut() => Err(Error::ShutDown),
            Err(_) if !block => Err(Error::Empty),
            Err(_) => self.get_slow(deadline),
        }
    }

    #[cold]
    fn get_slow(&self, deadline: Option<Instant>) -> Result<T> {
        let backoff = Backoff::new();
        while !backoff.is_completed() {
            backoff.snooze();
            if let Ok(v) = self.rx.try_recv() {
                return Ok(v);
            }
            if self.tasks.is_shut() {
                return Err(Error::ShutDown);
            }
        }
        gil::release_while(|| {
            loop {
                match self.rx.try_recv() {
                    Ok(v) => return Ok(v),
                    Err(TryRecvError::Empty) | Err(TryRecvError::Disconnected) => {}
                }
                if self.tasks.is_shut() {
                    return Err(Error::ShutDown);
                }
                let mut sel = Select::new();
                let data = sel.recv(&self.rx);
                let stop = sel.recv(&self.stop_rx);
                let op = match deadline {
                    None => sel.select(),
                    Some(d) => match sel.select_deadline(d) {
                        Ok(op) => op,
                        Err(_) => return Err(Error::Timeout),
                    },
                };
                if op.index() == data {
                    if let Ok(v) = op.recv(&self.rx) {
                        return Ok(v);
                    }
                } else {
                    debug_assert_eq!(op.index(), stop);
                    let _ = op.recv(&self.stop_rx);
                }
            }
        })
    }

    /// Marks one item taken by `get` as processed.
    ///
    /// # Errors
    ///
    /// [`Error::TooManyTaskDone`] if called more times than items were put
    /// (`ValueError: task_done() called too many times`).
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_threads::{Error, Queue};
    /// let q = Queue::new(0);
    /// q.put(()).unwrap();
    /// q.get().unwrap();
    /// q.task_done().unwrap();
    /// assert_eq!(q.task_done(), Err(Error::TooManyTaskDone));
    /// ```
    pub fn task_done(&self) -> Result<()> {
        self.tasks.task_done()
    }

    /// Blocks until every item put has been marked done (GIL released while
    /// waiting).
    ///
    /// # Examples
    ///
    /// ```
    /// let q = coil_threads::Queue::<u8>::new(0);
    /// q.join(); // nothing outstanding: returns at once
    /// ```
    pub fn join(&self) {
        self.tasks.join();
    }

    /// The number of items in the queue now.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = coil_threads::Queue::new(0);
    /// q.put(1).unwrap();
    /// assert_eq!(q.qsize(), 1);
    /// ```
    pub fn qsize(&self) -> usize {
        self.rx.len()
    }

    /// Whether the queue is empty now.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(coil_threads::Queue::<u8>::new(0).empty());
    /// ```
    pub fn empty(&self) -> bool {
        self.rx.is_empty()
    }

    /// Whether the queue is full now (never, when unbounded).
    ///
    /// # Examples
    ///
    /// ```
    /// let q = coil_threads::Queue::new(1);
    /// q.put(1).unwrap();
    /// assert!(q.full());
    /// ```
    pub fn full(&self) -> bool {
        self.maxsize > 0 && self.rx.len() >= self.maxsize
    }

    /// Shuts the queue down (Python 3.13): later and blocked `put`s fail
    /// with [`Error::ShutDown`]; `get`s drain what is left, then fail. With
    /// `immediate`, what is left is discarded at once, counted as done for
    /// `join`, and `get`s fail at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_threads::{Error, Queue};
    /// let q = Queue::new(0);
    /// q.put(1).unwrap();
    /// q.shutdown(false);
    /// assert_eq!(q.put(2).unwrap_err().error, Error::ShutDown);
    /// assert_eq!(q.get(), Ok(1));
    /// assert_eq!(q.get(), Err(Error::ShutDown));
    /// ```
    pub fn shutdown(&self, immediate: bool) {
        self.tasks.shut.store(SHUT, Ordering::Release);
        drop(primitive::lock(&self.stop_tx).take());
        if immediate {
            let mut n = 0;
            while self.rx.try_recv().is_ok() {
                n += 1;
            }
            self.tasks.sub(n);
            self.tasks.wake_joiners();
        }
    }

    /// Whether [`shutdown`](Self::shutdown) was called.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = coil_threads::Queue::<u8>::new(0);
    /// q.shutdown(true);
    /// assert!(q.is_shutdown());
    /// ```
    pub fn is_shutdown(&self) -> bool {
        self.tasks.is_shut()
    }
}

/// An unbounded FIFO queue without task tracking, `queue.SimpleQueue`:
/// `put` never blocks.
///
/// # Examples
///
/// ```
/// let q = coil_threads::SimpleQueue::new();
/// q.put(1);
/// assert_eq!(q.get(), 1);
/// ```
pub struct SimpleQueue<T> {
    tx: Sender<T>,
    rx: Receiver<T>,
}

impl<T> fmt::Debug for SimpleQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimpleQueue")
            .field("qsize", &self.qsize())
            .finish()
    }
}

impl<T> Default for SimpleQueue<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> SimpleQueue<T> {
    /// A new, empty queue.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(coil_threads::SimpleQueue::<u8>::new().empty());
    /// ```
    pub fn new() -> Self {
        let (tx, rx) = crossbeam_channel::unbounded();
        SimpleQueue { tx, rx }
    }

    /// Appends an item; never blocks.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = coil_threads::SimpleQueue::new();
    /// q.put('x');
    /// assert_eq!(q.qsize(), 1);
    /// ```
    pub fn put(&self, item: T) {
        // The receiver lives in `self`, so the channel is never disconnected.
        let _ = self.tx.send(item);
    }

    /// Removes the oldest item, blocking (GIL released) until there is one.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = coil_threads::SimpleQueue::new();
    /// q.put(5);
    /// assert_eq!(q.get(), 5);
    /// ```
    pub fn get(&self) -> T {
        if let Ok(v) = self.rx.try_recv() {
            return v;
        }
        gil::release_while(|| {
            loop {
                // The sender lives in `self`: `recv` can only return an item.
                if let Ok(v) = self.rx.recv() {
                    return v;
                }
            }
        })
    }

    /// Removes the oldest item if there is one.
    ///
    /// # Errors
    ///
    /// [`Error::Empty`] if there is none.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_threads::{Error, SimpleQueue};
    /// assert_eq!(SimpleQueue::<u8>::new().get_nowait(), Err(Error::Empty));
    /// ```
    pub fn get_nowait(&self) -> Result<T> {
        self.rx.try_recv().map_err(|_| Error::Empty)
    }

    /// Removes the oldest item, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if none arrived in time.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use coil_threads::{Error, SimpleQueue};
    /// let q = SimpleQueue::<u8>::new();
    /// assert_eq!(q.get_timeout(Duration::from_millis(1)), Err(Error::Timeout));
    /// ```
    pub fn get_timeout(&self, timeout: Duration) -> Result<T> {
        if let Ok(v) = self.rx.try_recv() {
            return Ok(v);
        }
        gil::release_while(|| self.rx.recv_timeout(timeout).map_err(|_| Error::Timeout))
    }

    /// The number of items now.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(coil_threads::SimpleQueue::<u8>::new().qsize(), 0);
    /// ```
    pub fn qsize(&self) -> usize {
        self.rx.len()
    }

    /// Whether the queue is empty now.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(coil_threads::SimpleQueue::<u8>::new().empty());
    /// ```
    pub fn empty(&self) -> bool {
        self.rx.is_empty()
    }
}

/// How a mutex-based queue orders its items.
trait Store<T>: Default {
    fn push(&mut self, item: T);
    fn pop(&mut self) -> Option<T>;
    fn len(&self) -> usize;
    fn clear(&mut self) -> usize {
        let mut n = 0;
        while self.pop().is_some() {
            n += 1;
        }
        n
    }
}

/// Last in, first out.
struct Stack<T>(Vec<T>);

impl<T> Default for Stack<T> {
    fn default() -> Self {
        Stack(Vec::new())
    }
}

impl<T> Store<T> for Stack<T> {
    fn push(&mut self, item: T) {
        self.0.push(item);
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// Smallest first, as Python's `heapq`.
struct MinHeap<T>(BinaryHeap<Reverse<T>>);

impl<T: Ord> Default for MinHeap<T> {
    fn default() -> Self {
        MinHeap(BinaryHeap::new())
    }
}

impl<T: Ord> Store<T> for MinHeap<T> {
    fn push(&mut self, item: T) {
        self.0.push(Reverse(item));
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop().map(|Reverse(t)| t)
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

struct Locked<T, S: Store<T>> {
    items: Mutex<(S, bool)>,
    not_empty: Condvar,
    not_full: Condvar,
    maxsize: usize,
    tasks: Tasks,
    _t: std::marker::PhantomData<fn(T) -> T>,
}

impl<T, S: Store<T>> Locked<T, S> {
    fn new(maxsize: usize) -> Self {
        Locked {
            items: Mutex::new((S::default(), false)),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            maxsize,
            tasks: Tasks::new(),
            _t: std::marker::PhantomData,
        }
    }

    fn has_room(&self, s: &S) -> bool {
        self.maxsize == 0 || s.len() < self.maxsize
    }

    fn put(&self, item: T, block: bool, deadline: Option<Instant>) -> Result<(), Rejected<T>> {
        let g = primitive::lock(&self.items);
        if !g.1 && self.has_room(&g.0) {
            self.push_locked(g, item);
            return Ok(());
        }
        if g.1 || !block {
            let error = if g.1 { Error::ShutDown } else { Error::Full };
            return Err(Rejected { error, item });
        }
        drop(g);
        gil::release_while(move || {
            let mut g = primitive::lock(&self.items);
            loop {
                if g.1 {
                    return Err(Rejected {
                        error: Error::ShutDown,
                        item,
                    });
                }
                if self.has_room(&g.0) {
                    self.push_locked(g, item);
                    return Ok(());
                }
                let (g2, late) = primitive::wait_until(&self.not_full, g, deadline);
                g = g2;
                if late && !g.1 && !self.has_room(&g.0) {
                    return Err(Rejected {
                        error: Error::Timeout,
                        item,
                    });
                }
            }
        })
    }

    fn push_locked(&self, mut g: primitive::MutexGuard<'_, (S, bool)>, item: T) {
        self.tasks.add();
        g.0.push(item);
        drop(g);
        self.not_empty.notify_one();
    }

    fn get(&self, block: bool, deadline: Option<Instant>) -> Result<T> {
        let mut g = primitive::lock(&self.items);
        if let Some(v) = g.0.pop() {
            drop(g);
            self.not_full.notify_one();
            return Ok(v);
        }
        if g.1 {
            return Err(Error::ShutDown);
        }
        if !block {
            return Err(Error::Empty);
        }
        drop(g);
        gil::release_while(|| {
            let mut g = primitive::lock(&self.items);
            loop {
                if let Some(v) = g.0.pop() {
                    drop(g);
                    self.not_full.notify_one();
                    return Ok(v);
                }
                if g.1 {
                    return Err(Error::ShutDown);
                }
                let (g2, late) = primitive::wait_until(&self.not_empty, g, deadline);
                g = g2;
                if late && g.0.len() == 0 && !g.1 {
                    return Err(Error::Timeout);
                }
            }
        })
    }

    fn shutdown(&self, immediate: bool) {
        let mut g = primitive::lock(&self.items);
        g.1 = true;
        let n = if immediate { g.0.clear() } else { 0 };
        drop(g);
        self.not_empty.notify_all();
        self.not_full.notify_all();
        if immediate {
            self.tasks.sub(n);
            self.tasks.wake_joiners();
        }
    }

    fn qsize(&self) -> usize {
        primitive::lock(&self.items).0.len()
    }
}

macro_rules! locked_queue {
    ($(#[$doc:meta])* $name:ident, $store:ident, $($bound:tt)*) => {
        $(#[$doc])*
        pub struct $name<T: $($bound)*> {
            inner: Locked<T, $store<T>>,
        }

        impl<T: $($bound)*> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("maxsize", &self.inner.maxsize)
                    .field("qsize", &self.qsize())
                    .finish()
            }
        }

        impl<T: $($bound)*> $name<T> {
            /// A queue holding at most `maxsize` items (`0`: unbounded).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let q = coil_threads::", stringify!($name), "::<u32>::new(4);")]
            /// assert_eq!(q.maxsize(), 4);
            /// ```
            pub fn new(maxsize: usize) -> Self {
                $name { inner: Locked::new(maxsize) }
            }

            /// The capacity given at creation (`0`: unbounded).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("assert_eq!(coil_threads::", stringify!($name), "::<u32>::new(0).maxsize(), 0);")]
            /// ```
            pub fn maxsize(&self) -> usize {
                self.inner.maxsize
            }

            /// Puts an item, blocking (GIL released) while the queue is full.
            ///
            /// # Errors
            ///
            /// [`Error::ShutDown`], with the item, if the queue is or
            /// becomes shut down.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let q = coil_threads::", stringify!($name), "::new(0);")]
            /// q.put(1).unwrap();
            /// assert_eq!(q.get(), Ok(1));
            /// ```
            pub fn put(&self, item: T) -> Result<(), Rejected<T>> {
                self.inner.put(item, true, None)
            }

            /// Puts an item if there is room now.
            ///
            /// # Errors
            ///
            /// [`Error::Full`] or [`Error::ShutDown`], with the item.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let q = coil_threads::", stringify!($name), "::new(1);")]
            /// q.put_nowait(1).unwrap();
            /// assert!(q.put_nowait(2).is_err());
            /// ```
            pub fn put_nowait(&self, item: T) -> Result<(), Rejected<T>> {
                self.inner.put(item, false, None)
            }

            /// Puts an item, waiting at most `timeout` for room.
            ///
            /// # Errors
            ///
            /// [`Error::Timeout`] or [`Error::ShutDown`], with the item.
            ///
            /// # Examples
            ///
            /// ```
            /// use std::time::Duration;
            #[doc = concat!("let q = coil_threads::", stringify!($name), "::new(1);")]
            /// q.put(1).unwrap();
            /// assert!(q.put_timeout(2, Duration::from_millis(1)).is_err());
            /// ```
            pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), Rejected<T>> {
                self.inner.put(item, true, primitive::deadline(Some(timeout)))
            }

            /// Removes the next item, blocking (GIL released) while empty.
            ///
            /// # Errors
            ///
            /// [`Error::ShutDown`] once shut down and empty.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let q = coil_threads::", stringify!($name), "::new(0);")]
            /// q.put(7).unwrap();
            /// assert_eq!(q.get(), Ok(7));
            /// ```
            pub fn get(&self) -> Result<T> {
                self.inner.get(true, None)
            }

            /// Removes the next item if there is one.
            ///
            /// # Errors
            ///
            /// [`Error::Empty`], or [`Error::ShutDown`] if shut down and
            /// empty.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let q = coil_threads::", stringify!($name), "::<u8>::new(0);")]
            /// assert_eq!(q.get_nowait(), Err(coil_threads::Error::Empty));
            /// ```
            pub fn get_nowait(&self) -> Result<T> {
                self.inner.get(false, None)
            }

            /// Removes the next item, waiting at most `timeout`.
            ///
            /// # Errors
            ///
            /// [`Error::Timeout`], or [`Error::ShutDown`] if shut down and
            /// empty.
            ///
            /// # Examples
            ///
            /// ```
            /// use std::time::Duration;
            #[doc = concat!("let q = coil_threads::", stringify!($name), "::<u8>::new(0);")]
            /// assert_eq!(q.get_timeout(Duration::from_millis(1)), Err(coil_threads::Error::Timeout));
            /// ```
            pub fn get_timeout(&self, timeout: Duration) -> Result<T> {
                self.inner.get(true, primitive::deadline(Some(timeout)))
            }

            /// Marks one item taken by `get` as processed.
            ///
            /// # Errors
            ///
            /// [`Error::TooManyTaskDone`] if called more often than items
            /// were put.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let q = coil_threads::", stringify!($name), "::<u8>::new(0);")]
            /// assert_eq!(q.task_done(), Err(coil_threads::Error::TooManyTaskDone));
            /// ```
            pub fn task_done(&self) -> Result<()> {
                self.inner.tasks.task_done()
            }

            /// Blocks (GIL released) until every item put is marked done.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("coil_threads::", stringify!($name), "::<u8>::new(0).join();")]
            /// ```
            pub fn join(&self) {
                self.inner.tasks.join();
            }

            /// The number of items now.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("assert_eq!(coil_threads::", stringify!($name), "::<u8>::new(0).qsize(), 0);")]
            /// ```
            pub fn qsize(&self) -> usize {
                self.inner.qsize()
            }

            /// Whether the queue is empty now.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("assert!(coil_threads::", stringify!($name), "::<u8>::new(0).empty());")]
            /// ```
            pub fn empty(&self) -> bool {
                self.qsize() == 0
            }

            /// Whether the queue is full now (never, when unbounded).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("assert!(!coil_threads::", stringify!($name), "::<u8>::new(0).full());")]
            /// ```
            pub fn full(&self) -> bool {
                self.inner.maxsize > 0 && self.qsize() >= self.inner.maxsize
            }

            /// Shuts the queue down (Python 3.13); see [`Queue::shutdown`].
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let q = coil_threads::", stringify!($name), "::new(0);")]
            /// q.put(1).unwrap();
            /// q.shutdown(true);
            /// assert_eq!(q.get(), Err(coil_threads::Error::ShutDown));
            /// ```
            pub fn shutdown(&self, immediate: bool) {
                self.inner.shutdown(immediate);
            }

            /// Whether the queue was shut down.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("assert!(!coil_threads::", stringify!($name), "::<u8>::new(0).is_shutdown());")]
            /// ```
            pub fn is_shutdown(&self) -> bool {
                primitive::lock(&self.inner.items).1
            }
        }
    };
}

locked_queue!(
    /// A last-in, first-out queue, `queue.LifoQueue`.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = coil_threads::LifoQueue::new(0);
    /// q.put(1).unwrap();
    /// q.put(2).unwrap();
    /// assert_eq!(q.get(), Ok(2));
    /// ```
    LifoQueue, Stack, Sized
);

locked_queue!(
    /// A queue that returns its smallest item first, `queue.PriorityQueue`
    /// (use `(priority, data)` tuples as in Python).
    ///
    /// # Examples
    ///
    /// ```
    /// let q = coil_threads::PriorityQueue::new(0);
    /// q.put((2, "b")).unwrap();
    /// q.put((1, "a")).unwrap();
    /// assert_eq!(q.get(), Ok((1, "a")));
    /// ```
    PriorityQueue, MinHeap, Ord
);

#[cfg(all(test, not(coil_loom)))]
mod tests {
    use super::*;

    #[test]
    fn fifo_order_and_sizes() {
        let q = Queue::new(3);
        assert!(q.empty());
        for i in 0..3 {
            q.put(i).unwrap();
        }
        assert!(q.full());
        assert_eq!(q.qsize(), 3);
        assert_eq!(q.put_nowait(9).unwrap_err().error, Error::Full);
        assert_eq!(
            q.put_timeout(9, Duration::from_millis(1)).unwrap_err(),
            Rejected {
                error: Error::Timeout,
                item: 9
            }
        );
        assert_eq!((q.get(), q.get(), q.get()), (Ok(0), Ok(1), Ok(2)));
        assert_eq!(q.get_nowait(), Err(Error::Empty));
        assert_eq!(q.get_timeout(Duration::from_millis(1)), Err(Error::Timeout));
        // The failed puts were not counted as tasks.
        for _ in 0..3 {
            q.task_done().unwrap();
        }
        assert_eq!(q.task_done(), Err(Error::TooManyTaskDone));
    }

    #[test]
    fn shutdown_wakes_blocked_callers() {
        let q = Queue::<u32>::new(1);
        let full = Queue::new(1);
        full.put(0).unwrap();
        std::thread::scope(|s| {
            let g = s.spawn(|| q.get());
            let p = s.spawn(|| full.put(1).map_err(|r| r.error));
            std::thread::sleep(Duration::from_millis(5));
            q.shutdown(false);
            full.shutdown(false);
            assert_eq!(g.join().unwrap(), Err(Error::ShutDown));
            assert_eq!(p.join().unwrap(), Err(Error::ShutDown));
        });
        // Non-immediate: the item left in `full` is still there to get.
        assert_eq!(full.get(), Ok(0));
        assert_eq!(full.get(), Err(Error::ShutDown));
    }

    #[test]
    fn immediate_shutdown_releases_join() {
        let q = Queue::new(0);
        for i in 0..10 {
            q.put(i).unwrap();
        }
        std::thread::scope(|s| {
            let j = s.spawn(|| q.join());
            std::thread::sleep(Duration::from_millis(2));
            q.shutdown(true);
            j.join().unwrap();
        });
        assert_eq!(q.qsize(), 0);
        assert_eq!(q.get(), Err(Error::ShutDown));
        assert_eq!(q.get_nowait(), Err(Error::ShutDown));
    }

    #[test]
    fn join_waits_for_task_done() {
        let q = Queue::new(0);
        let done = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            s.spawn(|| {
                while let Ok(_v) = q.get() {
                    done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    q.task_done().unwrap();
                }
            });
            for i in 0..100 {
                q.put(i).unwrap();
            }
            q.join();
            assert_eq!(done.load(std::sync::atomic::Ordering::SeqCst), 100);
            q.shutdown(false);
        });
    }

    #[test]
    fn lifo_and_priority() {
        let l = LifoQueue::new(2);
        l.put(1).unwrap();
        l.put(2).unwrap();
        assert!(l.full());
        assert_eq!(l.put_nowait(3).unwrap_err().error, Error::Full);
        assert_eq!(
            l.put_timeout(3, Duration::from_millis(1))
                .unwrap_err()
                .error,
            Error::Timeout
        );
        assert_eq!((l.get(), l.get()), (Ok(2), Ok(1)));
        assert_eq!(l.get_timeout(Duration::from_millis(1)), Err(Error::Timeout));
        l.task_done().unwrap();
        l.task_done().unwrap();
        assert_eq!(l.task_done(), Err(Error::TooManyTaskDone));

        let p = PriorityQueue::new(0);
        for v in [5, 1, 4, 2, 3] {
            p.put(v).unwrap();
        }
        let out: Vec<_> = (0..5).map(|_| p.get().unwrap()).collect();
        assert_eq!(out, vec![1, 2, 3, 4, 5]);
        p.put(1).unwrap();
        p.shutdown(false);
        assert_eq!(p.put(2).unwrap_err().error, Error::ShutDown);
        assert_eq!(p.get(), Ok(1));
        assert_eq!(p.get(), Err(Error::ShutDown));
    }

    #[test]
    fn simple_queue() {
        let q = SimpleQueue::new();
        assert_eq!(q.get_nowait(), Err(Error::Empty));
        assert_eq!(q.get_timeout(Duration::from_millis(1)), Err(Error::Timeout));
        std::thread::scope(|s| {
            s.spawn(|| {
                for i in 0..100 {
                    q.put(i);
                }
            });
            for i in 0..100 {
                assert_eq!(q.get(), i);
            }
        });
        assert!(q.empty());
    }

    #[test]
    fn queue_waits_release_the_gil() {
        let gil = crate::Gil::new();
        let q = Queue::new(1);
        std::thread::scope(|s| {
            let _g = gil.acquire().unwrap();
            s.spawn(|| {
                let _g = gil.acquire().unwrap();
                q.put(1).unwrap();
            });
            assert_eq!(q.get(), Ok(1));
            assert!(gil.is_held_by_current());
        });
    }
}
