//! `Local`: Python's `threading.local` — one value per thread, made on
//! first use, dropped when the thread ends.
//!
//! Each `Local` has a process-unique key; each thread keeps a map from key
//! to its value in a std thread-local, so a thread's values are dropped by
//! that thread's own thread-local destructor when it exits. Dropping a
//! `Local` drops the calling thread's value at once; other threads' values
//! go when those threads end.

use std::{
    any::Any,
    cell::RefCell,
    collections::HashMap,
    fmt,
    rc::Rc,
    sync::atomic::{AtomicU64, Ordering},
};

use crate::error::{Error, Result};

type Slot = Rc<RefCell<Box<dyn Any>>>;

thread_local! {
    static SLOTS: RefCell<HashMap<u64, Slot>> = RefCell::new(HashMap::new());
}

static NEXT_KEY: AtomicU64 = AtomicU64::new(1);

/// Per-thread data, `threading.local`: each thread sees its own value,
/// created by `init` on that thread's first access.
///
/// # Examples
///
/// ```
/// use coil_threads::Local;
/// let count = Local::new(|| 0u32);
/// count.with(|c| *c += 1).unwrap();
/// std::thread::scope(|s| {
///     s.spawn(|| assert_eq!(count.with(|c| *c).unwrap(), 0)); // its own value
/// });
/// assert_eq!(count.with(|c| *c).unwrap(), 1);
/// ```
pub struct Local<T: 'static> {
    key: u64,
    init: Box<dyn Fn() -> T + Send + Sync>,
}

impl<T: 'static> fmt::Debug for Local<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Local").field("key", &self.key).finish()
    }
}

impl<T: 'static> Local<T> {
    /// A new thread-local slot whose per-thread values start as `init()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = coil_threads::Local::new(Vec::<u8>::new);
    /// assert!(l.with(|v| v.is_empty()).unwrap());
    /// ```
    pub fn new(init: impl Fn() -> T + Send + Sync + 'static) -> Self {
        Local {
            key: NEXT_KEY.fetch_add(1, Ordering::Relaxed),
            init: Box::new(init),
        }
    }

    fn slot(&self) -> Slot {
        if let Some(s) = SLOTS.with(|m| m.borrow().get(&self.key).cloned()) {
            return s;
        }
        // `init` runs with no borrow of the map held, so it may use other
        // `Local`s.
        let v: Box<dyn Any> = Box::new((self.init)());
        let s: Slot = Rc::new(RefCell::new(v));
        SLOTS.with(|m| {
            m.borrow_mut()
                .entry(self.key)
                .or_insert_with(|| s.clone())
                .clone()
        })
    }

    /// Calls `f` with the calling thread's value.
    ///
    /// # Errors
    ///
    /// [`Error::LocalBorrowed`] if `f` (or a caller up the stack) is
    /// already inside `with` on this same `Local` on this thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_threads::{Error, Local};
    /// let l = Local::new(|| 1);
    /// assert_eq!(l.with(|v| l.with(|w| *w + *v)).unwrap(), Err(Error::LocalBorrowed));
    /// ```
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> Result<R> {
        let slot = self.slot();
        let mut b = slot.try_borrow_mut().map_err(|_| Error::LocalBorrowed)?;
        match b.downcast_mut::<T>() {
            Some(v) => Ok(f(v)),
            // Keys are unique per `Local` and the slot was made from `init`.
            None => Err(Error::LocalBorrowed),
        }
    }

    /// Replaces the calling thread's value, returning the old one if there
    /// was one.
    ///
    /// # Errors
    ///
    /// [`Error::LocalBorrowed`] while the value is borrowed by `with`.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = coil_threads::Local::new(|| 1);
    /// l.set(5).unwrap();
    /// assert_eq!(l.with(|v| *v).unwrap(), 5);
    /// ```
    pub fn set(&self, value: T) -> Result<()> {
        self.with(|v| *v = value)
    }
}

impl<T: 'static> Drop for Local<T> {
    fn drop(&mut self) {
        let key = self.key;
        let old = SLOTS
            .try_with(|m| m.try_borrow_mut().ok().and_then(|mut m| m.remove(&key)))
            .ok()
            .flatten();
        drop(old);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, atomic::AtomicUsize};

    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn values_dropped_when_thread_ends() {
        let drops = Arc::new(AtomicUsize::new(0));
        let d2 = drops.clone();
        let l = Arc::new(Local::new(move || Counted(d2.clone())));
        let mut ts = Vec::new();
        for _ in 0..3 {
            let l = l.clone();
            let t = crate::spawn(move || {
                l.with(|_| ()).unwrap();
            })
            .unwrap();
            ts.push(t);
        }
        for t in ts {
            t.join(None).unwrap();
        }
        assert_eq!(drops.load(Ordering::SeqCst), 3);
        l.with(|_| ()).unwrap();
        drop(l);
        assert_eq!(drops.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn independent_locals() {
        let a = Local::new(|| 1);
        let b = Local::new(|| 2);
        assert_eq!(a.with(|x| b.with(|y| *x + *y)).unwrap(), Ok(3));
        assert_eq!(
            a.with(|_| a.with(|_| ())).unwrap(),
            Err(Error::LocalBorrowed)
        );
    }
}
