//! [`WeakValueMap`]: CPython's `weakref.WeakValueDictionary`.
//!
//! Each entry holds a [`WeakRef`] whose callback removes the entry when the
//! value dies. If the value dies while the map itself is being modified (a
//! replaced value's destructor drops the last handle of another value, say),
//! the callback cannot borrow the map; it records the key in a pending list,
//! and the next operation on the map removes it first — the role of
//! `_pending_removals` in CPython's implementation.

use core::{borrow::Borrow, cell::RefCell, fmt, hash::Hash};
use std::{collections::HashMap, rc::Rc as StdRc, rc::Weak as StdWeak};

use crate::{DefaultAlloc, Rc, Weak, WeakRef};

struct Inner<K, V> {
    map: RefCell<HashMap<K, WeakRef<V, DefaultAlloc>>>,
    pending: RefCell<Vec<(K, usize)>>,
}

impl<K: Eq + Hash, V> Inner<K, V> {
    /// Removes `key` if its entry still refers to the dead box at `addr`.
    fn remove_dead(map: &mut HashMap<K, WeakRef<V>>, key: K, addr: usize) {
        let dead = map
            .get(&key)
            .is_some_and(|w| w.weak().as_ptr() as usize == addr && !w.is_alive());
        if dead {
            map.remove(&key);
        }
    }
}

/// A map from keys to weakly held values: an entry disappears when its value
/// dies (`weakref.WeakValueDictionary`).
///
/// # Examples
///
/// ```
/// use coil_refcount::{Rc, WeakValueMap};
///
/// let cache = WeakValueMap::new();
/// let big = Rc::new(vec![0u8; 1024]);
/// cache.insert("big", &big);
/// assert_eq!(cache.get("big").map(|v| v.len()), Some(1024));
/// drop(big); // the last strong handle: the entry goes with it
/// assert!(cache.get("big").is_none());
/// assert_eq!(cache.len(), 0);
/// ```
pub struct WeakValueMap<K, V> {
    inner: StdRc<Inner<K, V>>,
}

impl<K: Eq + Hash + Clone + 'static, V: 'static> Default for WeakValueMap<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Eq + Hash + Clone + 'static, V: 'static> WeakValueMap<K, V> {
    /// An empty map.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::WeakValueMap;
    /// let m: WeakValueMap<u32, String> = WeakValueMap::new();
    /// assert!(m.is_empty());
    /// ```
    pub fn new() -> Self {
        WeakValueMap {
            inner: StdRc::new(Inner {
                map: RefCell::new(HashMap::new()),
                pending: RefCell::new(Vec::new()),
            }),
        }
    }

    fn purge(&self, map: &mut HashMap<K, WeakRef<V>>) {
        let pending = core::mem::take(&mut *self.inner.pending.borrow_mut());
        for (k, addr) in pending {
            Inner::remove_dead(map, k, addr);
        }
    }

    /// Runs `f` on the map after applying pending removals. Values displaced by
    /// `f` are dropped after the borrow ends, so their destructors may touch
    /// this map again.
    fn with_map<R>(&self, f: impl FnOnce(&mut HashMap<K, WeakRef<V>>) -> R) -> R {
        let mut map = self.inner.map.borrow_mut();
        self.purge(&mut map);
        f(&mut map)
    }

    /// Inserts `value` weakly under `key`; returns the previous value if it
    /// was still alive.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::{Rc, WeakValueMap};
    /// let m = WeakValueMap::new();
    /// let (a, b) = (Rc::new(1), Rc::new(2));
    /// assert!(m.insert("k", &a).is_none());
    /// assert_eq!(m.insert("k", &b).as_deref(), Some(&1));
    /// ```
    pub fn insert(&self, key: K, value: &Rc<V>) -> Option<Rc<V>> {
        let cell = StdRc::downgrade(&self.inner);
        let k = key.clone();
        let addr = Rc::as_ptr(value) as usize;
        let entry = Weak::with_callback(value, move || {
            let Some(inner) = StdWeak::upgrade(&cell) else {
                return;
            };
            match inner.map.try_borrow_mut() {
                Ok(mut map) => Inner::remove_dead(&mut map, k, addr),
                Err(_) => inner.pending.borrow_mut().push((k, addr)),
            }
        });
        let old = self.with_map(|m| m.insert(key, entry));
        old.and_then(|w| w.upgrade())
    }

    /// The value under `key`, if it is present and alive.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::{Rc, WeakValueMap};
    /// let m = WeakValueMap::new();
    /// let a = Rc::new('a');
    /// m.insert(1, &a);
    /// assert_eq!(m.get(&1).as_deref(), Some(&'a'));
    /// assert!(m.get(&2).is_none());
    /// ```
    pub fn get<Q>(&self, key: &Q) -> Option<Rc<V>>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.with_map(|m| m.get(key).and_then(WeakRef::upgrade))
    }

    /// Whether `key` has a live value.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::{Rc, WeakValueMap};
    /// let m = WeakValueMap::new();
    /// let a = Rc::new(0);
    /// m.insert("a", &a);
    /// assert!(m.contains_key("a"));
    /// ```
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.with_map(|m| m.get(key).is_some_and(WeakRef::is_alive))
    }

    /// Removes `key`; returns its value if it was alive.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::{Rc, WeakValueMap};
    /// let m = WeakValueMap::new();
    /// let a = Rc::new(0);
    /// m.insert("a", &a);
    /// assert!(m.remove("a").is_some());
    /// assert!(m.is_empty());
    /// ```
    pub fn remove<Q>(&self, key: &Q) -> Option<Rc<V>>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        let old = self.with_map(|m| m.remove(key));
        old.and_then(|w| w.upgrade())
    }

    /// Number of entries (every entry's value is alive).
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::{Rc, WeakValueMap};
    /// let m = WeakValueMap::new();
    /// let a = Rc::new(0);
    /// m.insert(1, &a);
    /// m.insert(2, &a);
    /// assert_eq!(m.len(), 2);
    /// drop(a);
    /// assert_eq!(m.len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.with_map(|m| m.len())
    }

    /// Whether the map has no entries.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::WeakValueMap;
    /// assert!(WeakValueMap::<u8, u8>::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The keys of the live entries, in arbitrary order.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::{Rc, WeakValueMap};
    /// let m = WeakValueMap::new();
    /// let a = Rc::new(0);
    /// m.insert("x", &a);
    /// assert_eq!(m.keys(), ["x"]);
    /// ```
    pub fn keys(&self) -> Vec<K> {
        self.with_map(|m| m.keys().cloned().collect())
    }

    /// Removes every entry.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_refcount::{Rc, WeakValueMap};
    /// let m = WeakValueMap::new();
    /// let a = Rc::new(0);
    /// m.insert("x", &a);
    /// m.clear();
    /// assert!(m.is_empty());
    /// ```
    pub fn clear(&self) {
        let old = self.with_map(core::mem::take);
        drop(old);
    }
}

impl<K, V> fmt::Debug for WeakValueMap<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeakValueMap").finish_non_exhaustive()
    }
}
