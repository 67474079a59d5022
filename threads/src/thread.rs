//! `Thread`: Python's `threading.Thread` on OS threads, optionally attached
//! to a [`Gil`], plus the module functions `current_thread`, `main_thread`,
//! `enumerate`, `active_count`, `excepthook` and `join_non_daemon`.
//!
//! A registry (a mutex-guarded map from ident to handle) holds every live
//! thread started here, the main thread, and "dummy" entries for foreign
//! threads that asked for `current_thread()` (removed again when they end,
//! by a thread-local guard). A started thread leaves the registry as its
//! target returns, before its `join` waiters are woken.
//!
//! This module is plain std code with no `unsafe` beyond one `gettid` call.

use std::{
    any::Any,
    cell::RefCell,
    collections::BTreeMap,
    fmt,
    sync::{
        Arc, Condvar, Mutex, OnceLock, RwLock,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use crate::{
    error::{Error, Result},
    gil::{self, Gil, GilGuard},
};

type Target = Box<dyn FnOnce() + Send + 'static>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    New,
    Running,
    Done,
}

struct Inner {
    name: Mutex<String>,
    ident: AtomicU64,
    native_id: AtomicU64,
    daemon: AtomicBool,
    phase: Mutex<Phase>,
    done: Condvar,
    target: Mutex<Option<Target>>,
    os: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// A thread of control, `threading.Thread`. Create it with a target, then
/// [`start`](Thread::start) it; the handle is cheap to clone.
///
/// # Examples
///
/// ```
/// use coil_threads::Thread;
///
/// // Seed 000: "Example: Multithreading"
/// fn task() {
///     println!("Task is running");
/// }
/// let thread = Thread::new(task);
/// thread.start().unwrap();
/// thread.join(None).unwrap();
/// assert!(!thread.is_alive());
/// ```
#[derive(Clone)]
pub struct Thread {
    inner: Arc<Inner>,
}

impl PartialEq for Thread {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for Thread {}

impl fmt::Debug for Thread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Thread")
            .field("name", &self.name())
            .field("ident", &self.ident())
            .field("daemon", &self.daemon())
            .field("alive", &self.is_alive())
            .finish()
    }
}

static NEXT_IDENT: AtomicU64 = AtomicU64::new(2);
static NEXT_NAME: AtomicU64 = AtomicU64::new(1);

struct Registry {
    active: Mutex<BTreeMap<u64, Thread>>,
    main: Thread,
}

fn registry() -> &'static Registry {
    static R: OnceLock<Registry> = OnceLock::new();
    R.get_or_init(|| {
        let main = Thread::bare("MainThread".to_string(), None);
        main.inner.ident.store(1, Ordering::Relaxed);
        main.inner
            .native_id
            .store(u64::from(std::process::id()), Ordering::Relaxed);
        *lock(&main.inner.phase) = Phase::Running;
        let mut active = BTreeMap::new();
        active.insert(1, main.clone());
        Registry {
            active: Mutex::new(active),
            main,
        }
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The OS thread id of the calling thread (`threading.get_native_id()`).
///
/// # Examples
///
/// ```
/// assert!(coil_threads::get_native_id() > 0);
/// ```
pub fn get_native_id() -> u64 {
    // SAFETY: `gettid` has no preconditions and cannot fail.
    let tid = unsafe { libc::gettid() };
    u64::try_from(tid).unwrap_or(0)
}

/// The calling thread's ident (`threading.get_ident()`): the same value as
/// `current_thread().ident()`, unique among live threads.
///
/// # Examples
///
/// ```
/// let here = coil_threads::get_ident();
/// assert_eq!(Some(here), coil_threads::current_thread().ident());
/// let t = coil_threads::spawn(move || assert_ne!(coil_threads::get_ident(), here)).unwrap();
/// t.join(None).unwrap();
/// ```
pub fn get_ident() -> u64 {
    current_thread().ident().unwrap_or(0)
}

/// Removes a foreign ("dummy") thread from the registry when it ends.
struct DummyGuard(u64);

impl Drop for DummyGuard {
    fn drop(&mut self) {
        if let Ok(mut a) = registry().active.lock() {
            a.remove(&self.0);
        }
    }
}

thread_local! {
    static ME: RefCell<Option<Thread>> = const { RefCell::new(None) };
    static DUMMY: RefCell<Option<DummyGuard>> = const { RefCell::new(None) };
}

/// The calling thread's handle (`threading.current_thread()`). For a thread
/// not started by this crate, a "Dummy-N" handle is made and registered
/// until that thread ends; the process's main thread is `MainThread`.
///
/// # Examples
///
/// ```
/// let t = coil_threads::Thread::new(|| {
///     assert_eq!(coil_threads::current_thread().name(), "worker");
/// }).with_name("worker");
/// t.start().unwrap();
/// t.join(None).unwrap();
/// ```
pub fn current_thread() -> Thread {
    if let Some(t) = ME.with(|m| m.borrow().clone()) {
        return t;
    }
    let r = registry();
    let t = if get_native_id() == u64::from(std::process::id()) {
        r.main.clone()
    } else {
        let n = NEXT_NAME.fetch_add(1, Ordering::Relaxed);
        let t = Thread::bare(format!("Dummy-{n}"), None);
        let ident = NEXT_IDENT.fetch_add(1, Ordering::Relaxed);
        t.inner.ident.store(ident, Ordering::Relaxed);
        t.inner.native_id.store(get_native_id(), Ordering::Relaxed);
        t.inner.daemon.store(true, Ordering::Relaxed);
        *lock(&t.inner.phase) = Phase::Running;
        lock(&r.active).insert(ident, t.clone());
        DUMMY.with(|d| *d.borrow_mut() = Some(DummyGuard(ident)));
        t
    };
    ME.with(|m| *m.borrow_mut() = Some(t.clone()));
    t
}

/// The main thread's handle (`threading.main_thread()`).
///
/// # Examples
///
/// ```
/// assert_eq!(coil_threads::main_thread().name(), "MainThread");
/// ```
pub fn main_thread() -> Thread {
    registry().main.clone()
}

/// Every live thread: the main thread, threads started here, and foreign
/// threads that called `current_thread()` (`threading.enumerate()`).
///
/// # Examples
///
/// ```
/// assert!(coil_threads::enumerate().contains(&coil_threads::main_thread()));
/// ```
pub fn enumerate() -> Vec<Thread> {
    lock(&registry().active).values().cloned().collect()
}

/// The number of live threads, `len(enumerate())` (`threading.active_count()`).
///
/// # Examples
///
/// ```
/// assert!(coil_threads::active_count() >= 1);
/// ```
pub fn active_count() -> usize {
    lock(&registry().active).len()
}

/// Joins every non-daemon thread started here, as the interpreter does at
/// exit (`threading._shutdown`); Rust does not wait for threads when `main`
/// returns, so call this last to get Python's behaviour.
///
/// # Examples
///
/// ```
/// let t = coil_threads::Thread::new(|| ());
/// t.start().unwrap();
/// coil_threads::join_non_daemon();
/// assert!(!t.is_alive());
/// ```
pub fn join_non_daemon() {
    loop {
        let me = current_thread();
        let pending: Vec<Thread> = enumerate()
            .into_iter()
            .filter(|t| !t.daemon() && *t != me && *t != registry().main)
            .collect();
        if pending.is_empty() {
            return;
        }
        for t in pending {
            // Not the current thread, and started (it is registered).
            let _ = t.join(None);
        }
    }
}

/// What [`set_excepthook`]'s hook is told about a thread whose target
/// panicked (`threading.ExceptHookArgs`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ExceptHookArgs {
    /// The panicking thread's name.
    pub thread_name: String,
    /// Its ident.
    pub ident: u64,
    /// The panic message, when it was a string.
    pub message: String,
}

type Hook = Arc<dyn Fn(&ExceptHookArgs) + Send + Sync>;

/// A hook for [`set_excepthook`].
pub type ExceptHook = Box<dyn Fn(&ExceptHookArgs) + Send + Sync>;

fn hook_slot() -> &'static RwLock<Option<Hook>> {
    static H: OnceLock<RwLock<Option<Hook>>> = OnceLock::new();
    H.get_or_init(|| RwLock::new(None))
}

/// Sets the hook called when a thread's target panics
/// (`threading.excepthook`); `None` restores the default, which prints
/// `Exception in thread NAME:` and the message to stderr.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// let seen = Arc::new(Mutex::new(String::new()));
/// let s2 = seen.clone();
/// coil_threads::set_excepthook(Some(Box::new(move |a: &coil_threads::ExceptHookArgs| {
///     *s2.lock().unwrap() = a.message.clone();
/// })));
/// let t = coil_threads::Thread::new(|| panic!("bad input"));
/// t.start().unwrap();
/// t.join(None).unwrap();
/// coil_threads::set_excepthook(None);
/// assert_eq!(*seen.lock().unwrap(), "bad input");
/// ```
pub fn set_excepthook(hook: Option<ExceptHook>) {
    let mut slot = hook_slot().write().unwrap_or_else(|p| p.into_inner());
    *slot = hook.map(Hook::from);
}

fn panic_message(p: &(dyn Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_string()
    }
}

fn report_panic(t: &Thread, p: &(dyn Any + Send)) {
    let args = ExceptHookArgs {
        thread_name: t.name(),
        ident: t.ident().unwrap_or(0),
        message: panic_message(p),
    };
    let hook = hook_slot()
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    match hook {
        Some(h) => h(&args),
        None => eprintln!(
            "Exception in thread {}:\n{}",
            args.thread_name, args.message
        ),
    }
}

impl Thread {
    fn bare(name: String, target: Option<Target>) -> Thread {
        Thread {
            inner: Arc::new(Inner {
                name: Mutex::new(name),
                ident: AtomicU64::new(0),
                native_id: AtomicU64::new(0),
                daemon: AtomicBool::new(false),
                phase: Mutex::new(Phase::New),
                done: Condvar::new(),
                target: Mutex::new(target),
                os: Mutex::new(None),
            }),
        }
    }

    /// A new, not yet started thread that will run `target`, named
    /// `Thread-N`. It inherits the daemon flag of the creating thread.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = coil_threads::Thread::new(|| ());
    /// assert!(t.name().starts_with("Thread-"));
    /// assert!(!t.is_alive());
    /// ```
    pub fn new(target: impl FnOnce() + Send + 'static) -> Thread {
        let n = NEXT_NAME.fetch_add(1, Ordering::Relaxed);
        let t = Thread::bare(format!("Thread-{n}"), Some(Box::new(target)));
        let parent = current_thread();
        let inherit = parent != registry().main && parent.daemon();
        t.inner.daemon.store(inherit, Ordering::Relaxed);
        t
    }

    /// A new thread whose `target` runs holding `gil` (acquired when the
    /// thread starts, released when the target returns).
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_threads::{Gil, Thread};
    /// let gil = Gil::new();
    /// let g2 = gil.clone();
    /// let t = Thread::with_gil(&gil, move |g| {
    ///     g.checkpoint();
    ///     assert!(g2.is_held_by_current());
    /// });
    /// t.start().unwrap();
    /// t.join(None).unwrap();
    /// ```
    pub fn with_gil(gil: &Gil, target: impl FnOnce(&mut GilGuard<'_>) + Send + 'static) -> Thread {
        let gil = gil.clone();
        Thread::new(move || {
            // A new thread holds no GIL: acquiring cannot fail.
            if let Ok(mut g) = gil.acquire() {
                target(&mut g);
            }
        })
    }

    /// Sets the name (builder style).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(coil_threads::Thread::new(|| ()).with_name("io").name(), "io");
    /// ```
    pub fn with_name(self, name: impl Into<String>) -> Thread {
        self.set_name(name);
        self
    }

    /// Sets the daemon flag (builder style); see [`set_daemon`](Self::set_daemon).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(coil_threads::Thread::new(|| ()).with_daemon(true).daemon());
    /// ```
    pub fn with_daemon(self, daemon: bool) -> Thread {
        // A thread that was never started accepts the flag.
        let _ = self.set_daemon(daemon);
        self
    }

    /// The thread's name.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = coil_threads::Thread::new(|| ());
    /// t.set_name("x");
    /// assert_eq!(t.name(), "x");
    /// ```
    pub fn name(&self) -> String {
        lock(&self.inner.name).clone()
    }

    /// Renames the thread (the OS thread name is set only at start).
    ///
    /// # Examples
    ///
    /// ```
    /// coil_threads::Thread::new(|| ()).set_name("renamed");
    /// ```
    pub fn set_name(&self, name: impl Into<String>) {
        *lock(&self.inner.name) = name.into();
    }

    /// Whether this is a daemon thread (not waited for by
    /// [`join_non_daemon`]).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!coil_threads::Thread::new(|| ()).daemon());
    /// ```
    pub fn daemon(&self) -> bool {
        self.inner.daemon.load(Ordering::Relaxed)
    }

    /// Sets the daemon flag.
    ///
    /// # Errors
    ///
    /// [`Error::AlreadyStarted`] once the thread was started (`RuntimeError:
    /// cannot set daemon status of active thread`).
    ///
    /// # Examples
    ///
    /// ```
    /// let t = coil_threads::Thread::new(|| ());
    /// t.set_daemon(true).unwrap();
    /// t.start().unwrap();
    /// assert!(t.set_daemon(false).is_err());
    /// ```
    pub fn set_daemon(&self, daemon: bool) -> Result<()> {
        let p = lock(&self.inner.phase);
        if *p != Phase::New {
            return Err(Error::AlreadyStarted);
        }
        self.inner.daemon.store(daemon, Ordering::Relaxed);
        Ok(())
    }

    /// The thread's identifier, unique among live threads; `None` before
    /// start (`ident`).
    ///
    /// # Examples
    ///
    /// ```
    /// let t = coil_threads::Thread::new(|| ());
    /// assert_eq!(t.ident(), None);
    /// t.start().unwrap();
    /// assert!(t.ident().is_some());
    /// ```
    pub fn ident(&self) -> Option<u64> {
        match self.inner.ident.load(Ordering::Acquire) {
            0 => None,
            v => Some(v),
        }
    }

    /// The OS thread id, once the thread runs (`native_id`).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(coil_threads::main_thread().native_id().is_some());
    /// ```
    pub fn native_id(&self) -> Option<u64> {
        match self.inner.native_id.load(Ordering::Acquire) {
            0 => None,
            v => Some(v),
        }
    }

    /// Whether the thread was started and its target has not returned.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(coil_threads::main_thread().is_alive());
    /// ```
    pub fn is_alive(&self) -> bool {
        *lock(&self.inner.phase) == Phase::Running
    }

    /// Starts the thread.
    ///
    /// # Errors
    ///
    /// [`Error::AlreadyStarted`] on a second call; [`Error::SpawnFailed`]
    /// if the OS refuses (the thread can then not be started again).
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_threads::{Error, Thread};
    /// let t = Thread::new(|| ());
    /// t.start().unwrap();
    /// assert_eq!(t.start(), Err(Error::AlreadyStarted));
    /// ```
    pub fn start(&self) -> Result<()> {
        let target = {
            let mut p = lock(&self.inner.phase);
            if *p != Phase::New {
                return Err(Error::AlreadyStarted);
            }
            let Some(target) = lock(&self.inner.target).take() else {
                return Err(Error::AlreadyStarted);
            };
            *p = Phase::Running;
            target
        };
        let ident = NEXT_IDENT.fetch_add(1, Ordering::Relaxed);
        self.inner.ident.store(ident, Ordering::Release);
        lock(&registry().active).insert(ident, self.clone());
        let me = self.clone();
        let spawned = std::thread::Builder::new()
            .name(self.name())
            .spawn(move || me.run(target));
        match spawned {
            Ok(h) => {
                *lock(&self.inner.os) = Some(h);
                Ok(())
            }
            Err(_) => {
                lock(&registry().active).remove(&ident);
                *lock(&self.inner.phase) = Phase::Done;
                self.inner.done.notify_all();
                Err(Error::SpawnFailed)
            }
        }
    }

    fn run(self, target: Target) {
        self.inner
            .native_id
            .store(get_native_id(), Ordering::Release);
        ME.with(|m| *m.borrow_mut() = Some(self.clone()));
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(target));
        if let Err(p) = r {
            report_panic(&self, &*p);
        }
        if let Some(id) = self.ident() {
            lock(&registry().active).remove(&id);
        }
        *lock(&self.inner.phase) = Phase::Done;
        self.inner.done.notify_all();
        ME.with(|m| m.borrow_mut().take());
    }

    /// Waits until the thread ends, for at most `timeout` (`None`: as long
    /// as needed, and then also until the OS thread has exited, so its
    /// thread-local values are dropped). The GIL is released while waiting.
    ///
    /// # Errors
    ///
    /// [`Error::JoinSelf`] when joining the current thread;
    /// [`Error::NotStarted`] before `start`; [`Error::Timeout`] if the
    /// thread is still alive at the deadline (Python returns and leaves
    /// `is_alive()` true).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use coil_threads::{Error, Thread, current_thread};
    /// assert_eq!(current_thread().join(None), Err(Error::JoinSelf));
    /// let t = Thread::new(|| std::thread::sleep(Duration::from_millis(50)));
    /// assert_eq!(t.join(None), Err(Error::NotStarted));
    /// t.start().unwrap();
    /// assert_eq!(t.join(Some(Duration::ZERO)), Err(Error::Timeout));
    /// t.join(None).unwrap();
    /// ```
    pub fn join(&self, timeout: Option<Duration>) -> Result<()> {
        if *self == current_thread() {
            return Err(Error::JoinSelf);
        }
        let deadline = timeout.and_then(|t| std::time::Instant::now().checked_add(t));
        let r = gil::release_while(|| {
            let mut p = lock(&self.inner.phase);
            loop {
                match *p {
                    Phase::New => return Err(Error::NotStarted),
                    Phase::Done => return Ok(()),
                    Phase::Running => {}
                }
                match deadline {
                    None => p = self.inner.done.wait(p).unwrap_or_else(|e| e.into_inner()),
                    Some(d) => {
                        let now = std::time::Instant::now();
                        if now >= d {
                            return Err(Error::Timeout);
                        }
                        p = self
                            .inner
                            .done
                            .wait_timeout(p, d - now)
                            .unwrap_or_else(|e| e.into_inner())
                            .0;
                    }
                }
            }
        });
        if r.is_ok() && timeout.is_none() {
            let h = lock(&self.inner.os).take();
            if let Some(h) = h {
                gil::release_while(|| {
                    // The target's panic was caught in `run`.
                    let _ = h.join();
                });
            }
        }
        r
    }
}

/// Creates and starts a thread running `target` (`Thread(target=f).start()`).
///
/// # Errors
///
/// [`Error::SpawnFailed`] if the OS refuses.
///
/// # Examples
///
/// ```
/// let t = coil_threads::spawn(|| ()).unwrap();
/// t.join(None).unwrap();
/// ```
pub fn spawn(target: impl FnOnce() + Send + 'static) -> Result<Thread> {
    let t = Thread::new(target);
    t.start()?;
    Ok(t)
}

#[cfg(all(test, not(coil_loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn start_join_and_registry() {
        let gate = Arc::new(crate::Event::new());
        let g2 = gate.clone();
        let t = Thread::new(move || g2.wait(None).unwrap()).with_name("gated");
        assert_eq!(t.join(None), Err(Error::NotStarted));
        t.start().unwrap();
        assert!(t.is_alive());
        assert!(enumerate().contains(&t));
        assert_eq!(t.join(Some(Duration::from_millis(1))), Err(Error::Timeout));
        assert!(t.is_alive());
        assert_eq!(t.start(), Err(Error::AlreadyStarted));
        gate.set();
        t.join(None).unwrap();
        assert!(!t.is_alive());
        assert!(!enumerate().contains(&t));
        assert!(t.native_id().is_some());
    }

    #[test]
    fn join_self_in_spawned_thread() {
        let out = Arc::new(Mutex::new(None));
        let o2 = out.clone();
        let t = Thread::new(move || {
            *o2.lock().unwrap() = Some(current_thread().join(None));
        });
        t.start().unwrap();
        t.join(None).unwrap();
        assert_eq!(*out.lock().unwrap(), Some(Err(Error::JoinSelf)));
    }

    #[test]
    fn gil_threads_take_turns() {
        let gil = Gil::new();
        gil.set_switch_interval(Duration::from_micros(100)).unwrap();
        let n = Arc::new(AtomicUsize::new(0));
        let ts: Vec<Thread> = (0..4)
            .map(|_| {
                let n = n.clone();
                Thread::with_gil(&gil, move |g| {
                    for _ in 0..1000 {
                        let v = n.load(Ordering::Relaxed);
                        n.store(v + 1, Ordering::Relaxed);
                        g.checkpoint();
                    }
                })
            })
            .collect();
        for t in &ts {
            t.start().unwrap();
        }
        for t in &ts {
            t.join(None).unwrap();
        }
        assert_eq!(n.load(Ordering::Relaxed), 4000);
    }

    #[test]
    fn foreign_thread_gets_dummy() {
        let name = std::thread::spawn(|| {
            let t = current_thread();
            assert!(enumerate().contains(&t));
            assert!(t.daemon());
            t.name()
        })
        .join()
        .unwrap();
        assert!(name.starts_with("Dummy-"));
    }

    #[test]
    fn daemon_flag_rules() {
        let t = Thread::new(|| ()).with_daemon(true);
        assert!(t.daemon());
        t.start().unwrap();
        assert_eq!(t.set_daemon(false), Err(Error::AlreadyStarted));
        t.join(None).unwrap();
    }
}
