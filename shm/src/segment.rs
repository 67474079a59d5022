//! `SharedMemory`: a named POSIX shared-memory segment or an anonymous one,
//! mapped read-write and shared.
//!
//! # Model
//!
//! CPython's `multiprocessing.shared_memory.SharedMemory` model, kept on purpose:
//!
//! * `create` makes a new segment (exclusively: an existing name is an error)
//!   and `open` attaches to an existing one by name.
//! * Dropping a handle *unmaps* it and closes its descriptor (Python's `close()`);
//!   it never removes the name. Removing the name is [`SharedMemory::unlink`],
//!   called once by whoever owns the segment — Python's `unlink()`. A handle can
//!   opt into unlink-on-drop with [`SharedMemory::set_unlink_on_drop`].
//! * What a process tree creates and never unlinks is unlinked by the resource
//!   tracker ([`crate::tracker`]) when the tree ends, even after `SIGKILL`.
//!   [`ShmOptions::track`] turns that off per segment.
//!
//! Segments are created with mode `0600` (owner only) unless
//! [`ShmOptions::mode`] says otherwise.
//!
//! # Invariants
//!
//! 1. `map` is a `MAP_SHARED` read-write mapping of `len` bytes of the object
//!    behind `fd`; `len > 0`.
//! 2. The mapping stays valid until the handle drops (or `resize` replaces it,
//!    which needs `&mut self`, so no borrow of the old mapping survives).
//! 3. Other processes may write the bytes at any time, so safe accessors copy
//!    (`read_at`/`write_at`); borrowing the bytes as a slice is `unsafe`.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use memmap2::{MmapOptions, MmapRaw};
use nix::{errno::Errno, fcntl::OFlag, sys::stat::Mode};

use crate::{
    error::{Error, Result},
    sys, tracker,
};

/// The longest name accepted, in bytes, not counting the leading `/`.
///
/// Linux allows `NAME_MAX` (255) bytes; one is kept back so every valid name
/// fits a resource-tracker record.
pub const MAX_NAME_LEN: usize = 254;

/// How a named segment is created.
///
/// # Examples
///
/// ```
/// use coil_shm::{SharedMemory, ShmOptions};
///
/// let name = format!("coil-doc-opts-{}", std::process::id());
/// let seg = SharedMemory::create_with(&name, 4096, &ShmOptions::new().mode(0o640))?;
/// assert_eq!(seg.mode()?, 0o640);
/// seg.unlink()?;
/// # Ok::<(), coil_shm::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShmOptions {
    mode: u32,
    track: bool,
}

impl Default for ShmOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl ShmOptions {
    /// Mode `0600`, tracked.
    ///
    /// # Examples
    ///
    /// ```
    /// let o = coil_shm::ShmOptions::new();
    /// assert_eq!(o.get_mode(), 0o600);
    /// ```
    pub const fn new() -> Self {
        Self {
            mode: 0o600,
            track: true,
        }
    }

    /// The permission bits of a created segment (the umask still applies).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(coil_shm::ShmOptions::new().mode(0o644).get_mode(), 0o644);
    /// ```
    pub const fn mode(mut self, mode: u32) -> Self {
        self.mode = mode & 0o777;
        self
    }

    /// Whether the resource tracker unlinks the segment if nobody does.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!coil_shm::ShmOptions::new().track(false).is_tracked());
    /// ```
    pub const fn track(mut self, track: bool) -> Self {
        self.track = track;
        self
    }

    /// The mode set.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(coil_shm::ShmOptions::default().get_mode(), 0o600);
    /// ```
    pub const fn get_mode(&self) -> u32 {
        self.mode
    }

    /// Whether tracking is on.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(coil_shm::ShmOptions::default().is_tracked());
    /// ```
    pub const fn is_tracked(&self) -> bool {
        self.track
    }
}

/// Check a name and return it with exactly one leading `/`.
///
/// A portable name is 1 to [`MAX_NAME_LEN`] characters from the POSIX portable
/// filename set (`A-Z a-z 0-9 . _ -`), not `.` or `..`, optionally preceded by
/// one `/`.
///
/// # Errors
///
/// [`Error::InvalidName`] saying what is wrong.
///
/// # Examples
///
/// ```
/// assert_eq!(coil_shm::validate_name("jobs")?, "/jobs");
/// assert_eq!(coil_shm::validate_name("/jobs")?, "/jobs");
/// assert!(coil_shm::validate_name("a/b").is_err());
/// # Ok::<(), coil_shm::Error>(())
/// ```
pub fn validate_name(name: &str) -> Result<String> {
    let bad = |reason| Error::InvalidName {
        name: name.to_owned(),
        reason,
    };
    let bare = name.strip_prefix('/').unwrap_or(name);
    if bare.is_empty() {
        return Err(bad("empty"));
    }
    if bare.len() > MAX_NAME_LEN {
        return Err(bad("longer than 254 bytes"));
    }
    if bare.contains('/') {
        return Err(bad("contains '/' after the leading one"));
    }
    if bare == "." || bare == ".." {
        return Err(bad("'.' and '..' are not names"));
    }
    if !bare
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(bad("only A-Z a-z 0-9 . _ - are portable"));
    }
    Ok(format!("/{bare}"))
}

fn check_size(size: usize) -> Result<()> {
    if size == 0 {
        return Err(Error::InvalidSize {
            size,
            reason: "a segment cannot be empty",
        });
    }
    if size > isize::MAX as usize {
        return Err(Error::InvalidSize {
            size,
            reason: "larger than the address space",
        });
    }
    Ok(())
}

fn map_open_err(e: Errno, name: &str) -> Error {
    match e {
        Errno::EEXIST => Error::AlreadyExists(name.to_owned()),
        Errno::ENOENT => Error::NotFound(name.to_owned()),
        Errno::EACCES | Errno::EPERM => Error::PermissionDenied(name.to_owned()),
        Errno::ENAMETOOLONG => Error::InvalidName {
            name: name.to_owned(),
            reason: "too long for this system",
        },
        e => Error::Os(e),
    }
}

fn map_fd(fd: &OwnedFd, len: usize) -> Result<MmapRaw> {
    MmapOptions::new()
        .len(len)
        .map_raw(std::os::fd::AsRawFd::as_raw_fd(fd))
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ENOMEM) {
                Error::InvalidSize {
                    size: len,
                    reason: "the system cannot map that much",
                }
            } else {
                Error::from(e)
            }
        })
}

/// A mapped shared-memory segment, named or anonymous.
///
/// Dropping it unmaps without unlinking (Python's `close()`), unless
/// [`set_unlink_on_drop`](Self::set_unlink_on_drop) was called.
///
/// # Examples
///
/// ```
/// use coil_shm::SharedMemory;
///
/// let name = format!("coil-doc-seg-{}", std::process::id());
/// let a = SharedMemory::create(&name, 4096)?;
/// a.write_at(0, b"hello")?;
/// let b = SharedMemory::open(&name)?;
/// let mut buf = [0u8; 5];
/// b.read_at(0, &mut buf)?;
/// assert_eq!(&buf, b"hello");
/// a.unlink()?;
/// # Ok::<(), coil_shm::Error>(())
/// ```
#[derive(Debug)]
pub struct SharedMemory {
    name: Option<String>,
    fd: OwnedFd,
    map: MmapRaw,
    unlink_on_drop: bool,
    /// Whether this handle told the tracker about the name (then unlinking
    /// through it tells the tracker to forget it).
    tracked: std::sync::atomic::AtomicBool,
}

impl SharedMemory {
    /// Create a new named segment of `size` bytes, mode `0600`, tracked.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`], [`Error::InvalidSize`] (0, or more than the system
    /// allows), [`Error::AlreadyExists`], [`Error::PermissionDenied`],
    /// [`Error::Os`].
    ///
    /// # Examples
    ///
    /// ```
    /// let name = format!("coil-doc-create-{}", std::process::id());
    /// let seg = coil_shm::SharedMemory::create(&name, 100)?;
    /// assert_eq!(seg.len(), 100);
    /// assert!(coil_shm::SharedMemory::create(&name, 100).is_err());
    /// seg.unlink()?;
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn create(name: &str, size: usize) -> Result<Self> {
        Self::create_with(name, size, &ShmOptions::new())
    }

    /// [`create`](Self::create) with explicit options.
    ///
    /// # Errors
    ///
    /// As [`create`](Self::create).
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_shm::{SharedMemory, ShmOptions};
    /// let name = format!("coil-doc-cw-{}", std::process::id());
    /// let seg = SharedMemory::create_with(&name, 64, &ShmOptions::new().track(false))?;
    /// seg.unlink()?;
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn create_with(name: &str, size: usize, opts: &ShmOptions) -> Result<Self> {
        let full = validate_name(name)?;
        check_size(size)?;
        if size > i64::MAX as usize {
            return Err(Error::InvalidSize {
                size,
                reason: "larger than a file can be",
            });
        }
        let fd = nix::sys::mman::shm_open(
            full.as_str(),
            OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_RDWR,
            Mode::from_bits_truncate(opts.mode as _),
        )
        .map_err(|e| map_open_err(e, name))?;
        let undo = |err: Error| {
            let _ = nix::sys::mman::shm_unlink(full.as_str());
            err
        };
        // shm_open applies the umask; set the asked mode exactly.
        nix::sys::stat::fchmod(
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            Mode::from_bits_truncate(opts.mode as _),
        )
        .map_err(|e| undo(Error::Os(e)))?;
        if let Err(e) = nix::unistd::ftruncate(&fd, size as libc::off_t) {
            return Err(undo(match e {
                Errno::EFBIG | Errno::EINVAL | Errno::ENOSPC => Error::InvalidSize {
                    size,
                    reason: "more than the system allows",
                },
                e => Error::Os(e),
            }));
        }
        let map = map_fd(&fd, size).map_err(undo)?;
        if opts.track {
            tracker::register(&full);
        }
        Ok(Self {
            name: Some(full),
            fd,
            map,
            unlink_on_drop: false,
            tracked: opts.track.into(),
        })
    }

    /// Attach to an existing named segment, mapping all of it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`], [`Error::NotFound`], [`Error::PermissionDenied`],
    /// [`Error::InvalidSize`] if the segment is empty, [`Error::Os`].
    ///
    /// # Examples
    ///
    /// ```
    /// let err = coil_shm::SharedMemory::open("coil-doc-surely-missing").unwrap_err();
    /// assert!(matches!(err, coil_shm::Error::NotFound(_)));
    /// ```
    pub fn open(name: &str) -> Result<Self> {
        Self::open_inner(name, None)
    }

    /// Attach to an existing named segment, mapping its first `len` bytes.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open), plus [`Error::InvalidSize`] if `len` is 0 or
    /// larger than the segment.
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_shm::{Error, SharedMemory};
    /// let name = format!("coil-doc-view-{}", std::process::id());
    /// let seg = SharedMemory::create(&name, 4096)?;
    /// assert_eq!(SharedMemory::open_view(&name, 100)?.len(), 100);
    /// assert!(matches!(SharedMemory::open_view(&name, 8192), Err(Error::InvalidSize { .. })));
    /// seg.unlink()?;
    /// # Ok::<(), Error>(())
    /// ```
    pub fn open_view(name: &str, len: usize) -> Result<Self> {
        check_size(len)?;
        Self::open_inner(name, Some(len))
    }

    fn open_inner(name: &str, view: Option<usize>) -> Result<Self> {
        let full = validate_name(name)?;
        let fd = nix::sys::mman::shm_open(full.as_str(), OFlag::O_RDWR, Mode::empty())
            .map_err(|e| map_open_err(e, name))?;
        let actual = sys::fd_len(&fd)?;
        let len = match view {
            Some(v) if v > actual => {
                return Err(Error::InvalidSize {
                    size: v,
                    reason: "larger than the segment",
                });
            }
            Some(v) => v,
            None => actual,
        };
        if len == 0 {
            return Err(Error::InvalidSize {
                size: 0,
                reason: "the segment is empty",
            });
        }
        let map = map_fd(&fd, len)?;
        Ok(Self {
            name: Some(full),
            fd,
            map,
            unlink_on_drop: false,
            // Another process may have created it tracked: tell the tracker on unlink.
            tracked: true.into(),
        })
    }

    /// Open `name` if it exists, else create it with `size` bytes. Returns the
    /// handle and whether this call created it.
    ///
    /// # Errors
    ///
    /// As [`create`](Self::create) and [`open`](Self::open); an existing segment
    /// smaller than `size` is [`Error::InvalidSize`].
    ///
    /// # Examples
    ///
    /// ```
    /// use coil_shm::SharedMemory;
    /// let name = format!("coil-doc-coo-{}", std::process::id());
    /// let (a, created) = SharedMemory::create_or_open(&name, 64)?;
    /// assert!(created);
    /// let (_b, created) = SharedMemory::create_or_open(&name, 64)?;
    /// assert!(!created);
    /// a.unlink()?;
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn create_or_open(name: &str, size: usize) -> Result<(Self, bool)> {
        loop {
            match Self::create(name, size) {
                Ok(s) => return Ok((s, true)),
                Err(Error::AlreadyExists(_)) => {}
                Err(e) => return Err(e),
            }
            match Self::open_view(name, size) {
                Ok(s) => return Ok((s, false)),
                // Unlinked in between: try creating again.
                Err(Error::NotFound(_)) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// A new anonymous segment (a `memfd`), shared with children forked after
    /// this call and never visible by name.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSize`] for 0 or more than the system allows, [`Error::Os`].
    ///
    /// # Examples
    ///
    /// ```
    /// let seg = coil_shm::SharedMemory::anonymous(4096)?;
    /// assert_eq!(seg.name(), None);
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn anonymous(size: usize) -> Result<Self> {
        check_size(size)?;
        if size > i64::MAX as usize {
            return Err(Error::InvalidSize {
                size,
                reason: "larger than a file can be",
            });
        }
        let fd = sys::memfd(size).map_err(|e| match e {
            Errno::EFBIG | Errno::EINVAL | Errno::ENOSPC => Error::InvalidSize {
                size,
                reason: "more than the system allows",
            },
            e => Error::Os(e),
        })?;
        let map = map_fd(&fd, size)?;
        Ok(Self {
            name: None,
            fd,
            map,
            unlink_on_drop: false,
            tracked: false.into(),
        })
    }

    /// The name without its leading `/` (as Python's `.name`), or `None` for an
    /// anonymous segment.
    ///
    /// # Examples
    ///
    /// ```
    /// let name = format!("coil-doc-name-{}", std::process::id());
    /// let seg = coil_shm::SharedMemory::create(&name, 8)?;
    /// assert_eq!(seg.name(), Some(name.as_str()));
    /// seg.unlink()?;
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref().map(|n| &n[1..])
    }

    /// The mapped length in bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(coil_shm::SharedMemory::anonymous(10)?.len(), 10);
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Always `false`: a segment is never empty.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!coil_shm::SharedMemory::anonymous(1)?.is_empty());
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.map.len() == 0
    }

    /// The start of the mapping. Valid for `len()` bytes while `self` lives
    /// and is not resized; other processes may write through it concurrently.
    ///
    /// # Examples
    ///
    /// ```
    /// let seg = coil_shm::SharedMemory::anonymous(8)?;
    /// assert!(!seg.as_ptr().is_null());
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn as_ptr(&self) -> *mut u8 {
        self.map.as_mut_ptr()
    }

    /// The bytes as a shared slice.
    ///
    /// # Safety
    ///
    /// * No process (this one included) may write the bytes while the slice
    ///   lives, unless the caller accepts reading torn values and never relies
    ///   on two reads agreeing (Rust's aliasing rules treat such writes as data
    ///   races; prefer [`read_at`](Self::read_at)).
    ///
    /// # Examples
    ///
    /// ```
    /// let seg = coil_shm::SharedMemory::anonymous(4)?;
    /// // SAFETY: nobody else writes this fresh anonymous segment.
    /// assert_eq!(unsafe { seg.as_slice() }, &[0, 0, 0, 0]);
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub unsafe fn as_slice(&self) -> &[u8] {
        // SAFETY: the mapping is valid for len bytes (invariant 1); the caller
        // upholds the no-concurrent-writer contract.
        unsafe { std::slice::from_raw_parts(self.as_ptr(), self.len()) }
    }

    /// The bytes as an exclusive slice.
    ///
    /// # Safety
    ///
    /// * No other process may read or write the bytes while the slice lives
    ///   (use a lock, or a protocol such as the rings of this crate).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut seg = coil_shm::SharedMemory::anonymous(4)?;
    /// // SAFETY: nobody else maps this fresh anonymous segment.
    /// unsafe { seg.as_mut_slice()[0] = 7 };
    /// let mut b = [0u8; 1];
    /// seg.read_at(0, &mut b)?;
    /// assert_eq!(b[0], 7);
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub unsafe fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: valid for len bytes (invariant 1); `&mut self` excludes other
        // users in this process and the caller excludes other processes.
        unsafe { std::slice::from_raw_parts_mut(self.as_ptr(), self.len()) }
    }

    fn range(&self, offset: usize, n: usize) -> Result<()> {
        match offset.checked_add(n) {
            Some(end) if end <= self.len() => Ok(()),
            _ => Err(Error::OutOfBounds {
                index: offset.saturating_add(n),
                len: self.len(),
            }),
        }
    }

    /// Copy `buf.len()` bytes from `offset` into `buf`.
    ///
    /// Concurrent writers in other processes may make the copy torn; it is
    /// never undefined behaviour for the caller's own memory.
    ///
    /// # Errors
    ///
    /// [`Error::OutOfBounds`] if the range ends past `len()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let seg = coil_shm::SharedMemory::anonymous(4)?;
    /// let mut b = [1u8; 8];
    /// assert!(seg.read_at(0, &mut b).is_err());
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn read_at(&self, offset: usize, buf: &mut [u8]) -> Result<()> {
        self.range(offset, buf.len())?;
        // SAFETY: the range was checked against the mapping; `buf` is private
        // memory and cannot overlap a shared mapping.
        unsafe {
            std::ptr::copy_nonoverlapping(self.as_ptr().add(offset), buf.as_mut_ptr(), buf.len())
        };
        Ok(())
    }

    /// Copy `data` into the segment at `offset`.
    ///
    /// # Errors
    ///
    /// [`Error::OutOfBounds`] if the range ends past `len()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let seg = coil_shm::SharedMemory::anonymous(4)?;
    /// seg.write_at(2, b"ab")?;
    /// assert!(seg.write_at(3, b"ab").is_err());
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn write_at(&self, offset: usize, data: &[u8]) -> Result<()> {
        self.range(offset, data.len())?;
        // SAFETY: the range was checked against the mapping, which is writable
        // and shared; `data` is private and cannot overlap it.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), self.as_ptr().add(offset), data.len())
        };
        Ok(())
    }

    /// Remove the name so no new process can open it (Python's `unlink()`).
    /// Existing mappings, this one included, stay valid. Also tells the
    /// resource tracker the segment needs no cleanup.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] if already unlinked, [`Error::Unsupported`] for an
    /// anonymous segment, [`Error::Os`].
    ///
    /// # Examples
    ///
    /// ```
    /// let name = format!("coil-doc-unlink-{}", std::process::id());
    /// let seg = coil_shm::SharedMemory::create(&name, 8)?;
    /// seg.unlink()?;
    /// assert!(seg.unlink().is_err());
    /// assert!(coil_shm::SharedMemory::open(&name).is_err());
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn unlink(&self) -> Result<()> {
        let Some(full) = &self.name else {
            return Err(Error::Unsupported(
                "an anonymous segment has no name to unlink",
            ));
        };
        unlink_name(
            full,
            self.tracked.load(std::sync::atomic::Ordering::Relaxed),
        )
    }

    /// Unlink the name when this handle drops (in the process that drops it).
    ///
    /// # Examples
    ///
    /// ```
    /// let name = format!("coil-doc-uod-{}", std::process::id());
    /// let mut seg = coil_shm::SharedMemory::create(&name, 8)?;
    /// seg.set_unlink_on_drop(true);
    /// drop(seg);
    /// assert!(coil_shm::SharedMemory::open(&name).is_err());
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn set_unlink_on_drop(&mut self, yes: bool) {
        self.unlink_on_drop = yes;
    }

    /// Stop the resource tracker from unlinking this segment at tree end.
    ///
    /// # Examples
    ///
    /// ```
    /// let name = format!("coil-doc-untrack-{}", std::process::id());
    /// let seg = coil_shm::SharedMemory::create(&name, 8)?;
    /// seg.untrack();
    /// seg.unlink()?;
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn untrack(&self) {
        if let Some(full) = &self.name {
            if self
                .tracked
                .swap(false, std::sync::atomic::Ordering::Relaxed)
            {
                tracker::unregister(full);
            }
        }
    }

    /// The permission bits of the segment.
    ///
    /// # Errors
    ///
    /// [`Error::Os`] if `fstat` fails.
    ///
    /// # Examples
    ///
    /// ```
    /// let name = format!("coil-doc-mode-{}", std::process::id());
    /// let seg = coil_shm::SharedMemory::create(&name, 8)?;
    /// assert_eq!(seg.mode()?, 0o600);
    /// seg.unlink()?;
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn mode(&self) -> Result<u32> {
        Ok(sys::fd_mode(&self.fd)?)
    }

    /// The size of the underlying object now (another process may have
    /// resized it since this handle mapped it).
    ///
    /// # Errors
    ///
    /// [`Error::Os`] if `fstat` fails.
    ///
    /// # Examples
    ///
    /// ```
    /// let seg = coil_shm::SharedMemory::anonymous(100)?;
    /// assert_eq!(seg.object_len()?, 100);
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn object_len(&self) -> Result<usize> {
        Ok(sys::fd_len(&self.fd)?)
    }

    /// Change the size of the segment and remap this handle to it.
    ///
    /// Other handles keep their old mapping: after growth they see only the
    /// old prefix until they reopen; after shrinking, touching their mapping
    /// past the new end raises `SIGBUS`, so shrink only what nobody maps.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSize`] for 0 or more than the system allows,
    /// [`Error::Os`].
    ///
    /// # Examples
    ///
    /// ```
    /// let mut seg = coil_shm::SharedMemory::anonymous(100)?;
    /// seg.write_at(0, b"keep")?;
    /// seg.resize(1 << 20)?;
    /// let mut b = [0u8; 4];
    /// seg.read_at(0, &mut b)?;
    /// assert_eq!(&b, b"keep");
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn resize(&mut self, new_len: usize) -> Result<()> {
        check_size(new_len)?;
        if new_len > i64::MAX as usize {
            return Err(Error::InvalidSize {
                size: new_len,
                reason: "larger than a file can be",
            });
        }
        nix::unistd::ftruncate(&self.fd, new_len as libc::off_t).map_err(|e| match e {
            Errno::EFBIG | Errno::EINVAL | Errno::ENOSPC => Error::InvalidSize {
                size: new_len,
                reason: "more than the system allows",
            },
            e => Error::Os(e),
        })?;
        self.map = map_fd(&self.fd, new_len)?;
        Ok(())
    }

    /// The file descriptor of the segment (to pass to another process).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::fd::AsRawFd;
    /// let seg = coil_shm::SharedMemory::anonymous(8)?;
    /// assert!(seg.fd().as_raw_fd() >= 0);
    /// # Ok::<(), coil_shm::Error>(())
    /// ```
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Unlink a named segment by name (Python's `shm.unlink()` without a handle).
///
/// # Errors
///
/// [`Error::InvalidName`], [`Error::NotFound`], [`Error::PermissionDenied`],
/// [`Error::Os`].
///
/// # Examples
///
/// ```
/// let name = format!("coil-doc-ul-{}", std::process::id());
/// drop(coil_shm::SharedMemory::create(&name, 8)?);
/// coil_shm::unlink(&name)?;
/// assert!(coil_shm::unlink(&name).is_err());
/// # Ok::<(), coil_shm::Error>(())
/// ```
pub fn unlink(name: &str) -> Result<()> {
    unlink_name(&validate_name(name)?, true)
}

fn unlink_name(full: &str, tracked: bool) -> Result<()> {
    let r = nix::sys::mman::shm_unlink(full).map_err(|e| map_open_err(e, &full[1..]));
    if tracked {
        tracker::unregister(full);
    }
    r
}

impl Drop for SharedMemory {
    fn drop(&mut self) {
        if self.unlink_on_drop {
            if let Some(full) = &self.name {
                let _ = unlink_name(
                    full,
                    self.tracked.load(std::sync::atomic::Ordering::Relaxed),
                );
            }
        }
    }
}
