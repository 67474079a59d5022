//! `SharedValue<T>` and `SharedArray<T>`: plain data in a segment, guarded by a
//! robust process-shared lock (Python's `multiprocessing.Value` / `Array`,
//! plus recovery when a lock holder dies).
//!
//! # Layout
//!
//! ```text
//! offset 0                                            data_offset(T)
//! +-------+-----------+------------+-----+------+------+----------------------+
//! | magic | elem_size | elem_align | len | kind | lock | T, T, T, ... (len)   |
//! +-------+-----------+------------+-----+------+------+----------------------+
//!   u64     u64         u64          u64   u64    pthread_mutex_t
//! ```
//!
//! `data_offset` is the header size rounded up to `max(64, align_of::<T>())`,
//! so the data starts on its own cache line and every element is aligned.
//!
//! # Invariants
//!
//! 1. The creator writes every header field, initialises the lock and the
//!    data, and only then stores `magic` with `Release`; an opener waits for
//!    `magic` with `Acquire` and checks `elem_size`, `elem_align`, `len` and
//!    `kind` against its `T` before touching anything else.
//! 2. The segment is at least `data_offset + len * size_of::<T>()` bytes.
//! 3. Non-atomic access to the data happens only under the lock (guards,
//!    `get`, `set`); [`SharedValue::atomic`] / [`SharedArray::atomic`] give
//!    atomic access that needs no lock. Mixing the two on the same element is
//!    allowed by the hardware but is the caller's protocol to get right.

use std::{
    marker::PhantomData,
    ops::{Deref, DerefMut},
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

use crate::{
    error::{Error, Result},
    pod::{AtomicPod, Pod},
    robust_lock::{Acquired, RawRobustLock},
    segment::{SharedMemory, ShmOptions},
};

const MAGIC: u64 = 0x636f_696c_7661_6c31; // "coilval1"
const KIND_VALUE: u64 = 1;
const KIND_ARRAY: u64 = 2;

#[repr(C)]
struct Header {
    magic: AtomicU64,
    elem_size: u64,
    elem_align: u64,
    len: u64,
    kind: u64,
    lock: RawRobustLock,
}

fn data_offset<T>() -> usize {
    let a = align_of::<T>().max(64);
    size_of::<Header>().div_ceil(a) * a
}

fn total_size<T>(len: usize) -> Result<usize> {
    len.checked_mul(size_of::<T>())
        .and_then(|b| b.checked_add(data_offset::<T>()))
        .ok_or(Error::InvalidSize {
            size: len,
            reason: "array too large",
        })
}

/// Wait for a segment's creator to publish its header.
pub(crate) fn wait_magic(magic: &AtomicU64, want: u64) -> Result<()> {
    let start = Instant::now();
    loop {
        let m = magic.load(Ordering::Acquire);
        if m == want {
            return Ok(());
        }
        if m != 0 {
            return Err(Error::Incompatible("the segment holds another structure"));
        }
        if start.elapsed() > Duration::from_secs(1) {
            return Err(Error::Incompatible("the segment was never initialised"));
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// The segment plus typed access; shared by value and array.
#[derive(Debug)]
struct Block<T> {
    seg: SharedMemory,
    len: usize,
    _t: PhantomData<T>,
}

impl<T: Pod> Block<T> {
    fn init(seg: SharedMemory, kind: u64, init: &[T]) -> Result<Self> {
        debug_assert!(seg.len() >= total_size::<T>(init.len())?);
        let h = seg.as_ptr() as *mut Header;
        // SAFETY: the fresh segment is at least header + data long (debug-asserted
        // above, guaranteed by the callers' sizing), page-aligned, and nobody else
        // reads it before `magic` is published (invariant 1).
        unsafe {
            (&raw mut (*h).elem_size).write(size_of::<T>() as u64);
            (&raw mut (*h).elem_align).write(align_of::<T>() as u64);
            (&raw mut (*h).len).write(init.len() as u64);
            (&raw mut (*h).kind).write(kind);
            RawRobustLock::init(&raw mut (*h).lock)?;
            let data = seg.as_ptr().add(data_offset::<T>()) as *mut T;
            std::ptr::copy_nonoverlapping(init.as_ptr(), data, init.len());
            (*h).magic.store(MAGIC, Ordering::Release);
        }
        Ok(Self {
            seg,
            len: init.len(),
            _t: PhantomData,
        })
    }

    fn attach(seg: SharedMemory, kind: u64) -> Result<Self> {
        if seg.len() < data_offset::<T>() {
            return Err(Error::Incompatible("segment too small for a header"));
        }
        let h = seg.as_ptr() as *const Header;
        // SAFETY: the segment holds at least a header (checked); magic is an atomic.
        wait_magic(unsafe { &(*h).magic }, MAGIC)?;
        // SAFETY: magic was published with Release after the header was written.
        let (size, align, len, k) =
            unsafe { ((*h).elem_size, (*h).elem_align, (*h).len, (*h).kind) };
        if k != kind {
            return Err(Error::Incompatible(
                "a SharedValue opened as a SharedArray or the reverse",
            ));
        }
        if size != size_of::<T>() as u64 || align != align_of::<T>() as u64 {
            return Err(Error::Incompatible(
                "the element type differs in size or alignment",
            ));
        }
        let len = usize::try_from(len).map_err(|_| Error::Incompatible("length overflows"))?;
        if total_size::<T>(len)? > seg.len() {
            return Err(Error::Incompatible(
                "the segment is shorter than its header says",
            ));
        }
        Ok(Self {
            seg,
            len,
            _t: PhantomData,
        })
    }

    fn header(&self) -> &Header {
        // SAFETY: invariant 1 (initialised header at offset 0); the header is
        // only read through shared references and the lock's own cell.
        unsafe { &*(self.seg.as_ptr() as *const Header) }
    }

    fn data(&self) -> *mut T {
        // SAFETY: data_offset is inside the segment (invariant 2).
        unsafe { self.seg.as_ptr().add(data_offset::<T>()) as *mut T }
    }

    fn guard<U: ?Sized>(&self, how: Acquired, data: *mut U) -> LockGuard<'_, U> {
        LockGuard {
            lock: &self.header().lock,
            data,
            owner_died: how == Acquired::OwnerDied,
            _p: PhantomData,
        }
    }

    fn lock_slice(&self) -> Result<LockGuard<'_, [T]>> {
        let how = self.header().lock.lock()?;
        Ok(self.guard(
            how,
            std::ptr::slice_from_raw_parts_mut(self.data(), self.len),
        ))
    }

    fn lock_slice_timeout(&self, t: Duration) -> Result<LockGuard<'_, [T]>> {
        let how = self.header().lock.lock_timeout(t)?;
        Ok(self.guard(
            how,
            std::ptr::slice_from_raw_parts_mut(self.data(), self.len),
        ))
    }

    /// Lock for a one-shot get/set: an owner death is recovered on the spot,
    /// since a Pod element is valid whatever bytes it holds.
    fn lock_recovering(&self) -> Result<LockGuard<'_, [T]>> {
        let mut g = self.lock_slice()?;
        if g.owner_died() {
            g.mark_consistent();
        }
        Ok(g)
    }

    fn get(&self, i: usize) -> Result<T> {
        if i >= self.len {
            return Err(Error::OutOfBounds {
                index: i,
                len: self.len,
            });
        }
        let g = self.lock_recovering()?;
        Ok(g[i])
    }

    fn set(&self, i: usize, v: T) -> Result<()> {
        if i >= self.len {
            return Err(Error::OutOfBounds {
                index: i,
                len: self.len,
            });
        }
        let mut g = self.lock_recovering()?;
        g[i] = v;
        Ok(())
    }

    fn atomic(&self, i: usize) -> Result<&T::Atomic>
    where
        T: AtomicPod,
    {
        if i >= self.len {
            return Err(Error::OutOfBounds {
                index: i,
                len: self.len,
            });
        }
        // SAFETY: in bounds; `T::Atomic` has T's size and alignment (AtomicPod
        // contract) and atomics may alias shared memory written by others.
        Ok(unsafe { &*(self.data().add(i) as *const T::Atomic) })
    }
}

/// Exclusive access to shared data while the robust lock is held.
///
/// If the previous holder died holding the lock, [`owner_died`](Self::owner_died)
/// is `true`: the data may be half-updated. Check or repair it, then call
/// [`mark_consistent`](Self::mark_consistent). Dropping the guard *without*
/// doing so leaves the lock permanently unusable: every later lock attempt, in
/// every process, returns [`Error::LockUnrecoverable`] (POSIX robust-mutex
/// semantics: nobody silently builds on inconsistent data).
///
/// # Examples
///
/// ```
/// let v = coil_shm::SharedValue::anonymous(5u32)?;
/// {
///     let mut g = v.lock()?;
///     assert!(!g.owner_died());
///     *g += 1;
/// }
/// assert_eq!(v.get()?, 6);
/// # Ok::<(), coil_shm::Error>(())
/// ```
#[must_use = "the lock is released when the guard drops"]
pub struct LockGuard<'a, T: ?Sized> {
    lock: &'a RawRobustLock,
    data: *mut T,
    owner_died: bool,
    _p: PhantomData<&'a mut T>,
}

impl<T: ?Sized> LockGuard<'_, T> {
    /// Whether the previous holder died holding the lock (`EOWNERDEAD`) and
    /// nobody has marked the data consistent yet.
    ///
    /// # Examples
    ///
    /// ```
    /// let v = coil_shm::SharedValue::anonymous(0u8)?;
    /// assert!(!v.lock()?.owner_died());
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn owner_died(&self) -> bool {
        self.owner_died
    }

    /// Declare the data consistent again after an owner death, so the lock
    /// stays usable after this guard drops. A no-op otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// let v = coil_shm::SharedValue::anonymous(0u8)?;
    /// let mut g = v.lock()?;
    /// g.mark_consistent();
    /// assert!(!g.owner_died());
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn mark_consistent(&mut self) {
        if self.owner_died {
            self.lock.make_consistent();
            self.owner_died = false;
        }
    }
}

impl<T: ?Sized> Deref for LockGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the lock is held, so no lock-respecting writer runs (module
        // invariant 3); the pointer is in bounds of the live mapping.
        unsafe { &*self.data }
    }
}

impl<T: ?Sized> DerefMut for LockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this the only reference.
        unsafe { &mut *self.data }
    }
}

impl<T: ?Sized> Drop for LockGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.unlock();
    }
}

impl<T: ?Sized + std::fmt::Debug> std::fmt::Debug for LockGuard<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockGuard")
            .field("data", &&**self)
            .field("owner_died", &self.owner_died)
            .finish()
    }
}

/// One `T` in shared memory with a robust lock (Python's `multiprocessing.Value`).
///
/// # Examples
///
/// ```
/// use coil_shm::SharedValue;
///
/// let name = format!("coil-doc-value-{}", std::process::id());
/// let a = SharedValue::create(&name, 1.5f64)?;
/// let b = SharedValue::<f64>::open(&name)?;
/// b.set(2.5)?;
/// assert_eq!(a.get()?, 2.5);
/// a.segment().unlink()?;
/// # Ok::<(), coil_shm::Error>(())
/// ```
#[derive(Debug)]
pub struct SharedValue<T>(Block<T>);

impl<T: Pod> SharedValue<T> {
    /// Create a named shared value holding `init` (mode 0600, tracked).
    ///
    /// # Errors
    ///
    /// As [`SharedMemory::create`], and [`Error::Os`] if the lock cannot be
    /// initialised.
    ///
    /// # Examples
    ///
    /// ```
    /// let name = format!("coil-doc-vc-{}", std::process::id());
    /// let v = coil_shm::SharedValue::create(&name, 7i64)?;
    /// assert_eq!(v.get()?, 7);
    /// v.segment().unlink()?;
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn create(name: &str, init: T) -> Result<Self> {
        Self::create_with(name, init, &ShmOptions::new())
    }

    /// [`create`](Self::create) with options.
    ///
    /// # Errors
    ///
    /// As [`create`](Self::create).
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_shm::{SharedValue, ShmOptions};
    /// let name = format!("coil-doc-vcw-{}", std::process::id());
    /// let v = SharedValue::create_with(&name, 7u8, &ShmOptions::new().mode(0o640))?;
    /// assert_eq!(v.segment().mode()?, 0o640);
    /// v.segment().unlink()?;
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn create_with(name: &str, init: T, opts: &ShmOptions) -> Result<Self> {
        let seg = SharedMemory::create_with(name, total_size::<T>(1)?, opts)?;
        match Block::init(seg, KIND_VALUE, &[init]) {
            Ok(b) => Ok(Self(b)),
            Err(e) => Err(e),
        }
    }

    /// A value in an anonymous segment, shared with children forked later.
    ///
    /// # Errors
    ///
    /// As [`SharedMemory::anonymous`].
    ///
    /// # Examples
    ///
    /// ```
    /// let v = coil_shm::SharedValue::anonymous([0u16; 4])?;
    /// assert_eq!(v.get()?, [0; 4]);
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn anonymous(init: T) -> Result<Self> {
        let seg = SharedMemory::anonymous(total_size::<T>(1)?)?;
        Block::init(seg, KIND_VALUE, &[init]).map(Self)
    }

    /// Attach to a named shared value created with the same `T`.
    ///
    /// # Errors
    ///
    /// As [`SharedMemory::open`]; [`Error::Incompatible`] if the segment holds
    /// something else or another element type.
    ///
    /// # Examples
    ///
    /// ```
    /// let name = format!("coil-doc-vo-{}", std::process::id());
    /// let v = coil_shm::SharedValue::create(&name, 1u32)?;
    /// assert!(coil_shm::SharedValue::<u64>::open(&name).is_err());
    /// v.segment().unlink()?;
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn open(name: &str) -> Result<Self> {
        Block::attach(SharedMemory::open(name)?, KIND_VALUE).map(Self)
    }

    /// Read the value under the lock. An owner death is recovered silently
    /// (a `Pod` value is valid whatever its bytes); use [`lock`](Self::lock) to
    /// decide yourself.
    ///
    /// # Errors
    ///
    /// [`Error::LockUnrecoverable`], [`Error::WouldDeadlock`] if this thread
    /// holds the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(coil_shm::SharedValue::anonymous(3u8)?.get()?, 3);
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn get(&self) -> Result<T> {
        self.0.get(0)
    }

    /// Write the value under the lock (recovering an owner death as `get`).
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get).
    ///
    /// # Examples
    ///
    /// ```
    /// let v = coil_shm::SharedValue::anonymous(3u8)?;
    /// v.set(4)?;
    /// assert_eq!(v.get()?, 4);
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn set(&self, v: T) -> Result<()> {
        self.0.set(0, v)
    }

    /// Take the lock, blocking.
    ///
    /// # Errors
    ///
    /// [`Error::LockUnrecoverable`] after an unrepaired owner death,
    /// [`Error::WouldDeadlock`] if this thread already holds it.
    ///
    /// # Examples
    ///
    /// ```
    /// let v = coil_shm::SharedValue::anonymous(1u64)?;
    /// *v.lock()? *= 10;
    /// assert_eq!(v.get()?, 10);
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn lock(&self) -> Result<LockGuard<'_, T>> {
        let how = self.0.header().lock.lock()?;
        Ok(self.0.guard(how, self.0.data()))
    }

    /// Take the lock if it is free now.
    ///
    /// # Errors
    ///
    /// As [`lock`](Self::lock).
    ///
    /// # Examples
    ///
    /// ```
    /// let v = coil_shm::SharedValue::anonymous(1u64)?;
    /// assert!(v.try_lock()?.is_some());
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn try_lock(&self) -> Result<Option<LockGuard<'_, T>>> {
        Ok(self
            .0
            .header()
            .lock
            .try_lock()?
            .map(|how| self.0.guard(how, self.0.data())))
    }

    /// Take the lock, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`], and as [`lock`](Self::lock).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let v = coil_shm::SharedValue::anonymous(1u64)?;
    /// assert!(v.lock_timeout(Duration::from_millis(10)).is_ok());
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn lock_timeout(&self, timeout: Duration) -> Result<LockGuard<'_, T>> {
        let how = self.0.header().lock.lock_timeout(timeout)?;
        Ok(self.0.guard(how, self.0.data()))
    }

    /// The value as an atomic, usable in place without the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::Ordering;
    /// let v = coil_shm::SharedValue::anonymous(0u64)?;
    /// v.atomic().fetch_add(5, Ordering::SeqCst);
    /// assert_eq!(v.get()?, 5);
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn atomic(&self) -> &T::Atomic
    where
        T: AtomicPod,
    {
        match self.0.atomic(0) {
            Ok(a) => a,
            Err(_) => unreachable!("a SharedValue always has element 0"),
        }
    }

    /// The segment holding the value (for its name, `unlink`, …).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(coil_shm::SharedValue::anonymous(0u8)?.segment().name().is_none());
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn segment(&self) -> &SharedMemory {
        &self.0.seg
    }
}

/// A fixed-length array of `T` in shared memory with one robust lock
/// (Python's `multiprocessing.Array`).
///
/// # Examples
///
/// ```
/// use coil_shm::{Error, SharedArray};
///
/// let a = SharedArray::anonymous(&[1i32, 2, 3])?;
/// a.set(1, 20)?;
/// assert_eq!(a.to_vec()?, vec![1, 20, 3]);
/// assert!(matches!(a.get(3), Err(Error::OutOfBounds { index: 3, len: 3 })));
/// # Ok::<(), coil_shm::Error>(())
/// ```
#[derive(Debug)]
pub struct SharedArray<T>(Block<T>);

impl<T: Pod> SharedArray<T> {
    /// Create a named array holding a copy of `init` (mode 0600, tracked).
    ///
    /// # Errors
    ///
    /// As [`SharedMemory::create`]; an empty `init` is [`Error::InvalidSize`].
    ///
    /// # Examples
    ///
    /// ```
    /// let name = format!("coil-doc-ac-{}", std::process::id());
    /// let a = coil_shm::SharedArray::create(&name, &[0u8; 16])?;
    /// assert_eq!(a.len(), 16);
    /// a.segment().unlink()?;
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn create(name: &str, init: &[T]) -> Result<Self> {
        Self::create_with(name, init, &ShmOptions::new())
    }

    /// [`create`](Self::create) with options.
    ///
    /// # Errors
    ///
    /// As [`create`](Self::create).
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_shm::{SharedArray, ShmOptions};
    /// let name = format!("coil-doc-acw-{}", std::process::id());
    /// let a = SharedArray::create_with(&name, &[1u8], &ShmOptions::new().track(false))?;
    /// a.segment().unlink()?;
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn create_with(name: &str, init: &[T], opts: &ShmOptions) -> Result<Self> {
        if init.is_empty() {
            return Err(Error::InvalidSize {
                size: 0,
                reason: "an array cannot be empty",
            });
        }
        let seg = SharedMemory::create_with(name, total_size::<T>(init.len())?, opts)?;
        Block::init(seg, KIND_ARRAY, init).map(Self)
    }

    /// An array in an anonymous segment, shared with children forked later.
    ///
    /// # Errors
    ///
    /// As [`create`](Self::create).
    ///
    /// # Examples
    ///
    /// ```
    /// let a = coil_shm::SharedArray::anonymous(&[0.0f32; 8])?;
    /// assert_eq!(a.len(), 8);
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn anonymous(init: &[T]) -> Result<Self> {
        if init.is_empty() {
            return Err(Error::InvalidSize {
                size: 0,
                reason: "an array cannot be empty",
            });
        }
        let seg = SharedMemory::anonymous(total_size::<T>(init.len())?)?;
        Block::init(seg, KIND_ARRAY, init).map(Self)
    }

    /// Attach to a named array created with the same `T`.
    ///
    /// # Errors
    ///
    /// As [`SharedValue::open`].
    ///
    /// # Examples
    ///
    /// ```
    /// let name = format!("coil-doc-ao-{}", std::process::id());
    /// let a = coil_shm::SharedArray::create(&name, &[5u32, 6])?;
    /// let b = coil_shm::SharedArray::<u32>::open(&name)?;
    /// assert_eq!(b.get(1)?, 6);
    /// a.segment().unlink()?;
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn open(name: &str) -> Result<Self> {
        Block::attach(SharedMemory::open(name)?, KIND_ARRAY).map(Self)
    }

    /// The number of elements.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(coil_shm::SharedArray::anonymous(&[1u8, 2])?.len(), 2);
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.0.len
    }

    /// Always `false`: arrays have at least one element.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!coil_shm::SharedArray::anonymous(&[1u8])?.is_empty());
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.0.len == 0
    }

    /// Element `i`, read under the lock (owner deaths recovered as
    /// [`SharedValue::get`]).
    ///
    /// # Errors
    ///
    /// [`Error::OutOfBounds`]; as [`SharedValue::get`].
    ///
    /// # Examples
    ///
    /// ```
    /// let a = coil_shm::SharedArray::anonymous(&[9u8])?;
    /// assert_eq!(a.get(0)?, 9);
    /// assert!(a.get(1).is_err());
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn get(&self, i: usize) -> Result<T> {
        self.0.get(i)
    }

    /// Write element `i` under the lock.
    ///
    /// # Errors
    ///
    /// [`Error::OutOfBounds`]; as [`SharedValue::get`].
    ///
    /// # Examples
    ///
    /// ```
    /// let a = coil_shm::SharedArray::anonymous(&[9u8])?;
    /// a.set(0, 1)?;
    /// assert!(a.set(1, 1).is_err());
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn set(&self, i: usize, v: T) -> Result<()> {
        self.0.set(i, v)
    }

    /// A copy of all elements, taken under the lock.
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(coil_shm::SharedArray::anonymous(&[1u8, 2])?.to_vec()?, vec![1, 2]);
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn to_vec(&self) -> Result<Vec<T>> {
        Ok(self.0.lock_recovering()?.to_vec())
    }

    /// Take the lock; the guard derefs to `[T]`.
    ///
    /// # Errors
    ///
    /// As [`SharedValue::lock`].
    ///
    /// # Examples
    ///
    /// ```
    /// let a = coil_shm::SharedArray::anonymous(&[1u32, 2, 3])?;
    /// a.lock()?.reverse();
    /// assert_eq!(a.to_vec()?, vec![3, 2, 1]);
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn lock(&self) -> Result<LockGuard<'_, [T]>> {
        self.0.lock_slice()
    }

    /// Take the lock, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`]; as [`SharedValue::lock`].
    ///
    /// # Examples
    ///
    /// ```
    /// let a = coil_shm::SharedArray::anonymous(&[1u32])?;
    /// let g = a.lock_timeout(std::time::Duration::from_millis(5))?;
    /// assert_eq!(g.len(), 1);
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn lock_timeout(&self, timeout: Duration) -> Result<LockGuard<'_, [T]>> {
        self.0.lock_slice_timeout(timeout)
    }

    /// Element `i` as an atomic, usable in place without the lock.
    ///
    /// # Errors
    ///
    /// [`Error::OutOfBounds`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::Ordering;
    /// let a = coil_shm::SharedArray::anonymous(&[0u32; 4])?;
    /// a.atomic(2)?.store(7, Ordering::Release);
    /// assert_eq!(a.get(2)?, 7);
    /// assert!(a.atomic(4).is_err());
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn atomic(&self, i: usize) -> Result<&T::Atomic>
    where
        T: AtomicPod,
    {
        self.0.atomic(i)
    }

    /// The segment holding the array.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(coil_shm::SharedArray::anonymous(&[0u8])?.segment().len() > 0);
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn segment(&self) -> &SharedMemory {
        &self.0.seg
    }
}
