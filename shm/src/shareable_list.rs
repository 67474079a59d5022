//! `ShareableList`: a fixed-length list of small Python-like values in one
//! segment (Python's `multiprocessing.shared_memory.ShareableList`).
//!
//! # Layout
//!
//! ```text
//! 0          64                          64 + 24*count
//! +----------+---------------------------+-------------------------------+
//! | header   | slot table: count x Slot  | data: slot 0 | slot 1 | ...    |
//! +----------+---------------------------+-------------------------------+
//! header = magic u64 | count u64 | data_len u64 | robust lock
//! Slot   = tag u32 | len u32 | offset u64 | capacity u64
//! ```
//!
//! As in Python, the length of the list and the capacity of each slot are fixed
//! when the list is created: each slot holds 8 bytes, or the initial item's
//! encoded length rounded up to 8 if larger (or more, with
//! [`ShareableList::create_with_capacity`]). Any item that fits a slot may be
//! written there later, whatever its type; a larger one is
//! [`Error::ValueTooLarge`].
//!
//! # Invariants
//!
//! 1. `offset` and `capacity` of every slot are written once by the creator
//!    before `magic` is published and never change; every slot's data range
//!    lies inside the segment (checked again by `open`).
//! 2. `tag` and `len` and the data bytes change only under the robust lock.
//!    A writer that dies mid-update can leave one slot torn; the next locker
//!    sees the owner death, resets every slot that fails validation to
//!    `None`, and marks the lock consistent.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::{
    error::{Error, Result},
    robust_lock::{Acquired, RawRobustLock},
    segment::{SharedMemory, ShmOptions},
    value::wait_magic,
};

const MAGIC: u64 = 0x636f_696c_6c69_7374; // "coillist"
const TABLE: usize = 64;

const TAG_NONE: u32 = 0;
const TAG_INT: u32 = 1;
const TAG_FLOAT: u32 = 2;
const TAG_BOOL: u32 = 3;
const TAG_STR: u32 = 4;
const TAG_BYTES: u32 = 5;

#[repr(C)]
struct Header {
    magic: AtomicU64,
    count: u64,
    data_len: u64,
    lock: RawRobustLock,
}

const _: () = assert!(size_of::<Header>() <= TABLE);

#[repr(C)]
#[derive(Clone, Copy)]
struct Slot {
    tag: u32,
    len: u32,
    offset: u64,
    capacity: u64,
}

/// One element of a [`ShareableList`].
///
/// # Examples
///
/// ```
/// use coil_shm::Item;
/// assert_eq!(Item::from("hi"), Item::Str("hi".into()));
/// assert_eq!(Item::from(3i64), Item::Int(3));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// Python's `None`.
    None,
    /// A 64-bit integer.
    Int(i64),
    /// A 64-bit float.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A UTF-8 string.
    Str(String),
    /// Raw bytes.
    Bytes(Vec<u8>),
}

impl From<i64> for Item {
    fn from(v: i64) -> Self {
        Item::Int(v)
    }
}
impl From<f64> for Item {
    fn from(v: f64) -> Self {
        Item::Float(v)
    }
}
impl From<bool> for Item {
    fn from(v: bool) -> Self {
        Item::Bool(v)
    }
}
impl From<&str> for Item {
    fn from(v: &str) -> Self {
        Item::Str(v.to_owned())
    }
}
impl From<&[u8]> for Item {
    fn from(v: &[u8]) -> Self {
        Item::Bytes(v.to_vec())
    }
}

impl Item {
    fn encode(&self) -> (u32, std::borrow::Cow<'_, [u8]>) {
        use std::borrow::Cow::{Borrowed, Owned};
        match self {
            Item::None => (TAG_NONE, Borrowed(&[])),
            Item::Int(v) => (TAG_INT, Owned(v.to_le_bytes().to_vec())),
            Item::Float(v) => (TAG_FLOAT, Owned(v.to_le_bytes().to_vec())),
            Item::Bool(v) => (TAG_BOOL, Owned(vec![*v as u8])),
            Item::Str(s) => (TAG_STR, Borrowed(s.as_bytes())),
            Item::Bytes(b) => (TAG_BYTES, Borrowed(b)),
        }
    }

    fn decode(tag: u32, bytes: &[u8]) -> Option<Item> {
        let n8 = || <[u8; 8]>::try_from(bytes).ok();
        Some(match tag {
            TAG_NONE => Item::None,
            TAG_INT => Item::Int(i64::from_le_bytes(n8()?)),
            TAG_FLOAT => Item::Float(f64::from_le_bytes(n8()?)),
            TAG_BOOL if bytes.len() == 1 => Item::Bool(bytes[0] != 0),
            TAG_STR => Item::Str(String::from_utf8(bytes.to_vec()).ok()?),
            TAG_BYTES => Item::Bytes(bytes.to_vec()),
            _ => return None,
        })
    }
}

/// A fixed-length list of [`Item`]s in shared memory, readable and writable
/// from several processes; every access takes the list's robust lock.
///
/// # Examples
///
/// ```
/// use coil_shm::{Item, ShareableList};
///
/// let name = format!("coil-doc-sl-{}", std::process::id());
/// let a = ShareableList::create(&name, &[Item::from("howdy"), Item::from(42i64), Item::None])?;
/// let b = ShareableList::open(&name)?;
/// b.set(1, Item::Float(2.5))?;
/// assert_eq!(a.get(1)?, Item::Float(2.5));
/// assert_eq!(a.to_vec()?, vec!["howdy".into(), Item::Float(2.5), Item::None]);
/// a.segment().unlink()?;
/// # Ok::<(), coil_shm::Error>(())
/// ```
#[derive(Debug)]
pub struct ShareableList {
    seg: SharedMemory,
    count: usize,
}

fn slot_cap(len: usize, min: usize) -> usize {
    len.max(min).max(8).div_ceil(8) * 8
}

impl ShareableList {
    /// Create a named list holding `items` (mode 0600, tracked).
    ///
    /// # Errors
    ///
    /// As [`SharedMemory::create`]; an empty list is [`Error::InvalidSize`]
    /// (Python allows it, but a segment cannot be empty here — use one `None`).
    ///
    /// # Examples
    ///
    /// ```
    /// let name = format!("coil-doc-slc-{}", std::process::id());
    /// let l = coil_shm::ShareableList::create(&name, &[1i64.into(), true.into()])?;
    /// assert_eq!(l.len(), 2);
    /// l.segment().unlink()?;
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn create(name: &str, items: &[Item]) -> Result<Self> {
        Self::create_with_capacity(name, items, 8)
    }

    /// Create a named list whose every slot holds at least `capacity` bytes,
    /// so longer strings and bytes can be written later.
    ///
    /// # Errors
    ///
    /// As [`create`](Self::create).
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_shm::{Item, ShareableList};
    /// let name = format!("coil-doc-slcc-{}", std::process::id());
    /// let l = ShareableList::create_with_capacity(&name, &[Item::None], 64)?;
    /// l.set(0, Item::from("a string that is longer than eight bytes"))?;
    /// assert_eq!(l.slot_capacity(0)?, 64);
    /// l.segment().unlink()?;
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn create_with_capacity(name: &str, items: &[Item], capacity: usize) -> Result<Self> {
        let size = Self::size_for(items, capacity)?;
        let seg = SharedMemory::create_with(name, size, &ShmOptions::new())?;
        Self::init(seg, items, capacity)
    }

    /// A list in an anonymous segment, shared with children forked later.
    ///
    /// # Errors
    ///
    /// As [`create`](Self::create).
    ///
    /// # Examples
    ///
    /// ```
    /// let l = coil_shm::ShareableList::anonymous(&[coil_shm::Item::Int(1)])?;
    /// assert_eq!(l.get(0)?, coil_shm::Item::Int(1));
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn anonymous(items: &[Item]) -> Result<Self> {
        let seg = SharedMemory::anonymous(Self::size_for(items, 8)?)?;
        Self::init(seg, items, 8)
    }

    fn size_for(items: &[Item], capacity: usize) -> Result<usize> {
        if items.is_empty() {
            return Err(Error::InvalidSize {
                size: 0,
                reason: "a ShareableList needs at least one item",
            });
        }
        let mut total = TABLE + items.len() * size_of::<Slot>();
        for it in items {
            let n = it.encode().1.len();
            if n > u32::MAX as usize {
                return Err(Error::ValueTooLarge {
                    len: n,
                    capacity: u32::MAX as usize,
                });
            }
            total = total
                .checked_add(slot_cap(n, capacity))
                .ok_or(Error::InvalidSize {
                    size: usize::MAX,
                    reason: "list too large",
                })?;
        }
        Ok(total)
    }

    fn init(seg: SharedMemory, items: &[Item], capacity: usize) -> Result<Self> {
        let base = seg.as_ptr();
        let data_start = TABLE + items.len() * size_of::<Slot>();
        let mut off = data_start;
        // SAFETY: the segment was sized by `size_for` for exactly this header,
        // table and data; nobody reads it before `magic` is published.
        unsafe {
            let h = base as *mut Header;
            (&raw mut (*h).count).write(items.len() as u64);
            (&raw mut (*h).data_len).write((seg.len() - data_start) as u64);
            RawRobustLock::init(&raw mut (*h).lock)?;
            for (i, it) in items.iter().enumerate() {
                let (tag, bytes) = it.encode();
                let cap = slot_cap(bytes.len(), capacity);
                let s = Slot {
                    tag,
                    len: bytes.len() as u32,
                    offset: off as u64,
                    capacity: cap as u64,
                };
                (base.add(TABLE) as *mut Slot).add(i).write(s);
                std::ptr::copy_nonoverlapping(bytes.as_ptr(), base.add(off), bytes.len());
                off += cap;
            }
            (*h).magic.store(MAGIC, Ordering::Release);
        }
        Ok(Self {
            seg,
            count: items.len(),
        })
    }

    /// Attach to a named list.
    ///
    /// # Errors
    ///
    /// As [`SharedMemory::open`]; [`Error::Incompatible`] if the segment holds
    /// something else or its table points outside the segment.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(coil_shm::ShareableList::open("coil-doc-no-such-list").is_err());
    /// ```
    pub fn open(name: &str) -> Result<Self> {
        let seg = SharedMemory::open(name)?;
        if seg.len() < TABLE {
            return Err(Error::Incompatible("segment too small for a ShareableList"));
        }
        // SAFETY: the segment holds at least the header; magic is atomic.
        let h = unsafe { &*(seg.as_ptr() as *const Header) };
        wait_magic(&h.magic, MAGIC)?;
        let count = usize::try_from(h.count).map_err(|_| Error::Incompatible("bad count"))?;
        let table_end = count
            .checked_mul(size_of::<Slot>())
            .and_then(|t| t.checked_add(TABLE))
            .filter(|&e| e <= seg.len())
            .ok_or(Error::Incompatible("slot table outside the segment"))?;
        let this = Self { seg, count };
        for i in 0..count {
            let s = this.slot(i);
            let end = s.offset.checked_add(s.capacity);
            if (s.offset as usize) < table_end || end.is_none_or(|e| e > this.seg.len() as u64) {
                return Err(Error::Incompatible("slot data outside the segment"));
            }
        }
        Ok(this)
    }

    fn header(&self) -> &Header {
        // SAFETY: published header at offset 0 (invariant 1).
        unsafe { &*(self.seg.as_ptr() as *const Header) }
    }

    fn slot_ptr(&self, i: usize) -> *mut Slot {
        debug_assert!(i < self.count);
        // SAFETY: i < count and the table lies inside the segment (checked by
        // `open`, built by `init`).
        unsafe { (self.seg.as_ptr().add(TABLE) as *mut Slot).add(i) }
    }

    fn slot(&self, i: usize) -> Slot {
        // SAFETY: valid slot pointer; read as a copy (tag/len may only change
        // under the lock, which callers of data-dependent reads hold).
        unsafe { self.slot_ptr(i).read_volatile() }
    }

    fn read_slot(&self, i: usize) -> Option<Item> {
        let s = self.slot(i);
        if s.len as u64 > s.capacity {
            return None;
        }
        let mut buf = vec![0u8; s.len as usize];
        self.seg.read_at(s.offset as usize, &mut buf).ok()?;
        Item::decode(s.tag, &buf)
    }

    /// Take the lock; after an owner death, reset torn slots and recover.
    fn locked(&self) -> Result<ListLock<'_>> {
        let lock = &self.header().lock;
        if lock.lock()? == Acquired::OwnerDied {
            for i in 0..self.count {
                if self.read_slot(i).is_none() {
                    // SAFETY: we hold the lock; only tag and len change.
                    unsafe {
                        let p = self.slot_ptr(i);
                        (&raw mut (*p).tag).write_volatile(TAG_NONE);
                        (&raw mut (*p).len).write_volatile(0);
                    }
                }
            }
            lock.make_consistent();
        }
        Ok(ListLock(lock))
    }

    fn check(&self, i: usize) -> Result<()> {
        if i >= self.count {
            Err(Error::OutOfBounds {
                index: i,
                len: self.count,
            })
        } else {
            Ok(())
        }
    }

    /// The number of items (fixed at creation).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(coil_shm::ShareableList::anonymous(&[coil_shm::Item::None, 1i64.into()])?.len(), 2);
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.count
    }

    /// Always `false`: lists have at least one slot.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!coil_shm::ShareableList::anonymous(&[coil_shm::Item::None])?.is_empty());
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The byte capacity of slot `i`.
    ///
    /// # Errors
    ///
    /// [`Error::OutOfBounds`].
    ///
    /// # Examples
    ///
    /// ```
    /// let l = coil_shm::ShareableList::anonymous(&["0123456789".into()])?;
    /// assert_eq!(l.slot_capacity(0)?, 16);
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn slot_capacity(&self, i: usize) -> Result<usize> {
        self.check(i)?;
        Ok(self.slot(i).capacity as usize)
    }

    /// Item `i`.
    ///
    /// # Errors
    ///
    /// [`Error::OutOfBounds`]; [`Error::LockUnrecoverable`] or
    /// [`Error::WouldDeadlock`] from the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = coil_shm::ShareableList::anonymous(&[true.into()])?;
    /// assert_eq!(l.get(0)?, coil_shm::Item::Bool(true));
    /// assert!(l.get(1).is_err());
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn get(&self, i: usize) -> Result<Item> {
        self.check(i)?;
        let _g = self.locked()?;
        Ok(self.read_slot(i).unwrap_or(Item::None))
    }

    /// Replace item `i` with `item`, of any type, if it fits the slot.
    ///
    /// # Errors
    ///
    /// [`Error::OutOfBounds`]; [`Error::ValueTooLarge`] if the encoded item is
    /// longer than the slot's capacity; lock errors as [`get`](Self::get).
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_shm::{Error, Item};
    /// let l = coil_shm::ShareableList::anonymous(&[Item::Int(0)])?;
    /// l.set(0, "eight b!".into())?;
    /// assert!(matches!(l.set(0, "nine byte".into()), Err(Error::ValueTooLarge { len: 9, capacity: 8 })));
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn set(&self, i: usize, item: Item) -> Result<()> {
        self.check(i)?;
        let (tag, bytes) = item.encode();
        let s = self.slot(i);
        if bytes.len() as u64 > s.capacity {
            return Err(Error::ValueTooLarge {
                len: bytes.len(),
                capacity: s.capacity as usize,
            });
        }
        let _g = self.locked()?;
        self.seg.write_at(s.offset as usize, &bytes)?;
        // SAFETY: we hold the lock; the slot pointer is valid.
        unsafe {
            let p = self.slot_ptr(i);
            (&raw mut (*p).tag).write_volatile(tag);
            (&raw mut (*p).len).write_volatile(bytes.len() as u32);
        }
        Ok(())
    }

    /// All items, read under one lock.
    ///
    /// # Errors
    ///
    /// Lock errors as [`get`](Self::get).
    ///
    /// # Examples
    ///
    /// ```
    /// let l = coil_shm::ShareableList::anonymous(&[1i64.into(), 2.0f64.into()])?;
    /// assert_eq!(l.to_vec()?.len(), 2);
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn to_vec(&self) -> Result<Vec<Item>> {
        let _g = self.locked()?;
        Ok((0..self.count)
            .map(|i| self.read_slot(i).unwrap_or(Item::None))
            .collect())
    }

    /// The position of the first item equal to `item` (Python's `index`).
    ///
    /// # Errors
    ///
    /// Lock errors as [`get`](Self::get).
    ///
    /// # Examples
    ///
    /// ```
    /// let l = coil_shm::ShareableList::anonymous(&[1i64.into(), 2i64.into()])?;
    /// assert_eq!(l.index(&2i64.into())?, Some(1));
    /// assert_eq!(l.index(&3i64.into())?, None);
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn index(&self, item: &Item) -> Result<Option<usize>> {
        Ok(self.to_vec()?.iter().position(|x| x == item))
    }

    /// How many items equal `item` (Python's `count`).
    ///
    /// # Errors
    ///
    /// Lock errors as [`get`](Self::get).
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_shm::Item;
    /// let l = coil_shm::ShareableList::anonymous(&[Item::None, Item::None, 1i64.into()])?;
    /// assert_eq!(l.count(&Item::None)?, 2);
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn count(&self, item: &Item) -> Result<usize> {
        Ok(self.to_vec()?.iter().filter(|x| *x == item).count())
    }

    /// The segment holding the list.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = coil_shm::ShareableList::anonymous(&[coil_shm::Item::None])?;
    /// assert!(l.segment().name().is_none());
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn segment(&self) -> &SharedMemory {
        &self.seg
    }
}

struct ListLock<'a>(&'a RawRobustLock);

impl Drop for ListLock<'_> {
    fn drop(&mut self) {
        self.0.unlock();
    }
}
