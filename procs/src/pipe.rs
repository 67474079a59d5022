//! [`Pipe`]: two connected ends carrying framed messages between processes,
//! Python's `multiprocessing.Pipe`.
//!
//! # Wire format
//!
//! A duplex pipe is two `pipe(2)`s, one per direction, a one-way pipe one;
//! all are close-on-exec. Every message is a frame: a 4-byte
//! little-endian length, then that many bytes (postcard for typed messages,
//! anything for raw ones). A frame is written with one `writev` when the
//! kernel takes it whole, and read through a 64 KiB buffer so that a stream
//! of small messages costs about one `read` per buffer, not per message.
//!
//! # Invariants
//!
//! 1. `rbuf[rpos..]` holds received bytes not yet consumed; a frame is only
//!    consumed whole, so a `recv` that times out halfway leaves the partial
//!    frame in the buffer and the next `recv` completes it: timeouts never
//!    lose or split a message.
//! 2. A frame longer than the end's `max_message` is skipped whole (read and
//!    dropped) and reported as [`Error::MessageTooLarge`], so the connection
//!    stays in step.
//! 3. End of stream (`read` returns 0, `ECONNRESET`, `EPIPE`) is
//!    [`Error::Disconnected`]: the other end was closed or its process died.

use std::{
    os::fd::{AsRawFd, OwnedFd, RawFd},
    time::{Duration, Instant},
};

use nix::{
    errno::Errno,
    fcntl::OFlag,
    sys::socket::{AddressFamily, SockFlag, SockType, socketpair},
};
use serde::{Serialize, de::DeserializeOwned};

use crate::{
    codec,
    error::{Error, Result},
    process::poll_readable,
};

/// Default largest message, in bytes (256 MiB).
pub const DEFAULT_MAX_MESSAGE: usize = 256 << 20;
/// Hard upper bound of a message on a pipe (the frame length is 32 bits).
pub const MAX_FRAME: usize = u32::MAX as usize - 1;

const READ_CHUNK: usize = 64 * 1024;

/// Constructor of connected [`Connection`] pairs, as `multiprocessing.Pipe`.
///
/// # Examples
///
/// ```
/// use coil_procs::{Pipe, Process};
///
/// let (mut parent, mut child) = Pipe::new(true)?;
/// let mut p = Process::new(move || {
///     let n: u64 = child.recv().unwrap();
///     child.send(&(n * 2)).unwrap();
/// });
/// p.start()?;
/// parent.send(&21u64)?;
/// assert_eq!(parent.recv::<u64>()?, 42);
/// p.join(None)?;
/// # Ok::<(), coil_procs::Error>(())
/// ```
#[derive(Debug)]
pub struct Pipe;

impl Pipe {
    /// Make a connected pair. With `duplex`, both ends send and receive (a
    /// socketpair); without, the first end only receives and the second only
    /// sends (a pipe), as in Python.
    ///
    /// # Errors
    ///
    /// [`Error::Os`] if the system is out of descriptors.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut r, mut w) = coil_procs::Pipe::new(false)?;
    /// w.send_bytes(b"raw")?;
    /// assert_eq!(r.recv_bytes()?, b"raw");
    /// assert_eq!(r.send_bytes(b"x"), Err(coil_procs::Error::Closed));
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    #[allow(clippy::new_ret_no_self)]
    pub fn new(duplex: bool) -> Result<(Connection, Connection)> {
        if duplex {
            // Two pipes, one per direction: a pipe wakes its reader faster
            // than a stream socket (about 3x on the round-trip benchmark).
            let (r1, w1) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
            let (r2, w2) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
            let mut a = Connection::new(r1, true, true, false);
            a.wfd = Some(w2);
            let mut b = Connection::new(r2, true, true, false);
            b.wfd = Some(w1);
            Ok((a, b))
        } else {
            let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
            Ok((
                Connection::new(r, true, false, false),
                Connection::new(w, false, true, false),
            ))
        }
    }

    /// A duplex pair over one `AF_UNIX` stream socketpair (the pool's
    /// worker links: they need non-blocking sends on a blocking socket).
    pub(crate) fn socketpair() -> Result<(Connection, Connection)> {
        let (a, b) = socketpair(
            AddressFamily::Unix,
            SockType::Stream,
            None,
            SockFlag::SOCK_CLOEXEC,
        )?;
        Ok((
            Connection::new(a, true, true, true),
            Connection::new(b, true, true, true),
        ))
    }
}

/// One end of a [`Pipe`] (Python's `Connection`).
///
/// Typed messages ([`send`](Self::send)/[`recv`](Self::recv)) and raw ones
/// ([`send_bytes`](Self::send_bytes)/[`recv_bytes`](Self::recv_bytes)) share
/// one framing, so a raw message can be read as a typed one and vice versa.
/// An end moves into a forked child with the closure that uses it; dropping it
/// closes it.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let (mut a, mut b) = coil_procs::Pipe::new(true)?;
/// assert!(!b.poll(Some(Duration::ZERO))?);
/// a.send(&vec!["x".to_string()])?;
/// assert!(b.poll(None)?);
/// assert_eq!(b.recv::<Vec<String>>()?, ["x"]);
/// drop(a);
/// assert_eq!(b.recv::<u8>(), Err(coil_procs::Error::Disconnected));
/// # Ok::<(), coil_procs::Error>(())
/// ```
#[derive(Debug)]
pub struct Connection {
    /// The socket, or the read end of a pipe.
    fd: OwnedFd,
    /// The write end, for a duplex pair made of two pipes.
    wfd: Option<OwnedFd>,
    readable: bool,
    writable: bool,
    socket: bool,
    max_message: usize,
    rbuf: Vec<u8>,
    rpos: usize,
    wbuf: Vec<u8>,
}

fn deadline_of(timeout: Option<Duration>) -> Option<Instant> {
    timeout.map(|t| Instant::now() + t)
}

fn left(deadline: Option<Instant>) -> Option<Duration> {
    deadline.map(|d| d.saturating_duration_since(Instant::now()))
}

impl Connection {
    fn new(fd: OwnedFd, readable: bool, writable: bool, socket: bool) -> Self {
        Self {
            fd,
            wfd: None,
            readable,
            writable,
            socket,
            max_message: DEFAULT_MAX_MESSAGE,
            rbuf: Vec::new(),
            rpos: 0,
            wbuf: Vec::new(),
        }
    }

    /// Set the largest message this end sends or accepts (at most
    /// [`MAX_FRAME`]; larger values are clamped).
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut a, _b) = coil_procs::Pipe::new(true)?;
    /// a.set_max_message(4);
    /// assert_eq!(a.max_message(), 4);
    /// assert_eq!(a.send_bytes(b"12345"), Err(coil_procs::Error::MessageTooLarge { len: 5, max: 4 }));
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn set_max_message(&mut self, max: usize) {
        self.max_message = max.min(MAX_FRAME);
    }

    /// The largest message this end sends or accepts.
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, _b) = coil_procs::Pipe::new(true)?;
    /// assert_eq!(a.max_message(), coil_procs::pipe::DEFAULT_MAX_MESSAGE);
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn max_message(&self) -> usize {
        self.max_message
    }

    /// Whether this end can receive.
    ///
    /// # Examples
    ///
    /// ```
    /// let (r, w) = coil_procs::Pipe::new(false)?;
    /// assert!(r.readable() && !w.readable());
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn readable(&self) -> bool {
        self.readable
    }

    /// Whether this end can send.
    ///
    /// # Examples
    ///
    /// ```
    /// let (r, w) = coil_procs::Pipe::new(false)?;
    /// assert!(w.writable() && !r.writable());
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn writable(&self) -> bool {
        self.writable
    }

    /// Send one value of any `serde` type.
    ///
    /// # Errors
    ///
    /// [`Error::Encode`]; [`Error::MessageTooLarge`] past
    /// [`max_message`](Self::max_message) (nothing is sent);
    /// [`Error::Disconnected`] if the other end is closed or dead;
    /// [`Error::Closed`] on the receiving end of a one-way pipe.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut a, mut b) = coil_procs::Pipe::new(true)?;
    /// a.send(&("id", 7u32))?;
    /// assert_eq!(b.recv::<(String, u32)>()?, ("id".to_string(), 7));
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn send<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<()> {
        if !self.writable {
            return Err(Error::Closed);
        }
        let mut buf = std::mem::take(&mut self.wbuf);
        buf.clear();
        buf.extend_from_slice(&[0; 4]);
        let r = codec::encode_into(&mut buf, v).and_then(|()| {
            let len = buf.len() - 4;
            self.check_len(len)?;
            buf[..4].copy_from_slice(&(len as u32).to_le_bytes());
            self.write_all(&buf, &[])
        });
        if buf.capacity() <= 1 << 20 {
            self.wbuf = buf;
        }
        r
    }

    /// Send raw bytes as one message.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send), less [`Error::Encode`].
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut a, mut b) = coil_procs::Pipe::new(true)?;
    /// a.send_bytes(&[1, 2, 3])?;
    /// assert_eq!(b.recv_bytes()?, [1, 2, 3]);
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn send_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        if !self.writable {
            return Err(Error::Closed);
        }
        self.check_len(bytes.len())?;
        let head = (bytes.len() as u32).to_le_bytes();
        self.write_all(&head, bytes)
    }

    fn check_len(&self, len: usize) -> Result<()> {
        if len > self.max_message {
            return Err(Error::MessageTooLarge {
                len,
                max: self.max_message,
            });
        }
        Ok(())
    }

    /// Write `a` then `b`, all of it, blocking.
    fn write_all(&mut self, mut a: &[u8], mut b: &[u8]) -> Result<()> {
        while !a.is_empty() || !b.is_empty() {
            let iov = [
                libc::iovec {
                    iov_base: a.as_ptr() as *mut _,
                    iov_len: a.len(),
                },
                libc::iovec {
                    iov_base: b.as_ptr() as *mut _,
                    iov_len: b.len(),
                },
            ];
            let n = if self.socket {
                // SAFETY: a zeroed msghdr with our two iovecs, which outlive the
                // call; MSG_NOSIGNAL turns a dead peer into EPIPE, not SIGPIPE.
                unsafe {
                    let mut m: libc::msghdr = std::mem::zeroed();
                    m.msg_iov = iov.as_ptr() as *mut _;
                    m.msg_iovlen = 2;
                    libc::sendmsg(self.fd.as_raw_fd(), &m, libc::MSG_NOSIGNAL)
                }
            } else {
                let fd = self.wfd.as_ref().unwrap_or(&self.fd).as_raw_fd();
                // SAFETY: two valid iovecs over live slices.
                unsafe { libc::writev(fd, iov.as_ptr(), 2) }
            };
            if n < 0 {
                match Errno::last() {
                    Errno::EINTR => continue,
                    Errno::EPIPE | Errno::ECONNRESET => return Err(Error::Disconnected),
                    e => return Err(e.into()),
                }
            }
            let mut n = n as usize;
            let k = n.min(a.len());
            a = &a[k..];
            n -= k;
            b = &b[n..];
        }
        Ok(())
    }

    /// Read more bytes into the buffer, waiting until `deadline`. Returns
    /// false on timeout.
    fn fill(&mut self, want: usize, deadline: Option<Instant>) -> Result<bool> {
        if self.rpos > 0 && self.rpos == self.rbuf.len() {
            self.rbuf.clear();
            self.rpos = 0;
        } else if self.rpos > READ_CHUNK {
            self.rbuf.drain(..self.rpos);
            self.rpos = 0;
        }
        if deadline.is_some() && !poll_readable(self.fd.as_raw_fd(), left(deadline))? {
            return Ok(false);
        }
        let room = want.max(READ_CHUNK);
        self.rbuf.reserve(room);
        let len = self.rbuf.len();
        loop {
            // SAFETY: reading into the reserved, unused capacity of rbuf.
            let n = unsafe {
                libc::read(
                    self.fd.as_raw_fd(),
                    self.rbuf.as_mut_ptr().add(len).cast(),
                    self.rbuf.capacity() - len,
                )
            };
            if n < 0 {
                match Errno::last() {
                    Errno::EINTR => continue,
                    Errno::ECONNRESET => return Err(Error::Disconnected),
                    e => return Err(e.into()),
                }
            }
            if n == 0 {
                return Err(Error::Disconnected);
            }
            // SAFETY: the kernel initialised n more bytes.
            unsafe { self.rbuf.set_len(len + n as usize) };
            return Ok(true);
        }
    }

    /// The next whole frame's payload range in `rbuf`, reading as needed.
    fn frame(&mut self, deadline: Option<Instant>) -> Result<Option<(usize, usize)>> {
        if !self.readable {
            return Err(Error::Closed);
        }
        loop {
            let have = self.rbuf.len() - self.rpos;
            if have >= 4 {
                let mut h = [0u8; 4];
                h.copy_from_slice(&self.rbuf[self.rpos..self.rpos + 4]);
                let len = u32::from_le_bytes(h) as usize;
                if len > self.max_message {
                    self.skip_frame(len, deadline)?;
                    return Err(Error::MessageTooLarge {
                        len,
                        max: self.max_message,
                    });
                }
                if have >= 4 + len {
                    let start = self.rpos + 4;
                    self.rpos = start + len;
                    return Ok(Some((start, start + len)));
                }
                if !self.fill(4 + len - have, deadline)? {
                    return Ok(None);
                }
            } else if !self.fill(4, deadline)? {
                return Ok(None);
            }
        }
    }

    fn skip_frame(&mut self, len: usize, deadline: Option<Instant>) -> Result<()> {
        let mut remaining = 4 + len;
        loop {
            let have = self.rbuf.len() - self.rpos;
            let k = have.min(remaining);
            self.rpos += k;
            remaining -= k;
            if remaining == 0 {
                return Ok(());
            }
            // Keep the deadline loose here: the frame is already arriving.
            let _ = deadline;
            self.fill(remaining.min(READ_CHUNK), None)?;
        }
    }

    /// Receive one message as raw bytes, blocking.
    ///
    /// # Errors
    ///
    /// [`Error::Disconnected`] once the other end is closed (or dead) and every
    /// message it sent has been read; [`Error::MessageTooLarge`] for a frame
    /// past [`max_message`](Self::max_message) (it is skipped);
    /// [`Error::Closed`] on the sending end of a one-way pipe.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut a, mut b) = coil_procs::Pipe::new(true)?;
    /// b.send_bytes(b"hi")?;
    /// assert_eq!(a.recv_bytes()?, b"hi");
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn recv_bytes(&mut self) -> Result<Vec<u8>> {
        let (s, e) = self.frame(None)?.expect("no deadline");
        Ok(self.rbuf[s..e].to_vec())
    }

    /// Receive one message as raw bytes, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`]; as [`recv_bytes`](Self::recv_bytes).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let (mut a, _b) = coil_procs::Pipe::new(true)?;
    /// assert_eq!(a.recv_bytes_timeout(Duration::from_millis(1)), Err(coil_procs::Error::Timeout));
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn recv_bytes_timeout(&mut self, timeout: Duration) -> Result<Vec<u8>> {
        match self.frame(deadline_of(Some(timeout)))? {
            Some((s, e)) => Ok(self.rbuf[s..e].to_vec()),
            None => Err(Error::Timeout),
        }
    }

    /// Receive one value, blocking.
    ///
    /// # Errors
    ///
    /// [`Error::Decode`] if the message is not a `T` (it is consumed); as
    /// [`recv_bytes`](Self::recv_bytes).
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut a, mut b) = coil_procs::Pipe::new(true)?;
    /// a.send(&"text")?;
    /// assert!(matches!(b.recv::<u64>(), Err(coil_procs::Error::Decode(_))));
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn recv<T: DeserializeOwned>(&mut self) -> Result<T> {
        let (s, e) = self.frame(None)?.expect("no deadline");
        codec::decode(&self.rbuf[s..e])
    }

    /// Receive one value, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`]; as [`recv`](Self::recv).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let (mut a, mut b) = coil_procs::Pipe::new(true)?;
    /// a.send(&5u8)?;
    /// assert_eq!(b.recv_timeout::<u8>(Duration::from_secs(1))?, 5);
    /// assert_eq!(b.recv_timeout::<u8>(Duration::ZERO), Err(coil_procs::Error::Timeout));
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn recv_timeout<T: DeserializeOwned>(&mut self, timeout: Duration) -> Result<T> {
        match self.frame(deadline_of(Some(timeout)))? {
            Some((s, e)) => codec::decode(&self.rbuf[s..e]),
            None => Err(Error::Timeout),
        }
    }

    /// Whether there is data to read (part or all of a message, or the end
    /// of the stream), waiting at most `timeout` (`None`: until there is).
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] on the sending end of a one-way pipe.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let (mut a, mut b) = coil_procs::Pipe::new(true)?;
    /// assert!(!a.poll(Some(Duration::from_millis(1)))?);
    /// b.send(&1u8)?;
    /// assert!(a.poll(Some(Duration::from_secs(1)))?);
    /// # Ok::<(), coil_procs::Error>(())
    /// ```
    pub fn poll(&mut self, timeout: Option<Duration>) -> Result<bool> {
        if !self.readable {
            return Err(Error::Closed);
        }
        if self.rbuf.len() > self.rpos {
            return Ok(true);
        }
        poll_readable(self.fd.as_raw_fd(), timeout)
    }
}

/// Crate-private batching used by the pool: frames are appended to a write
/// buffer and flushed with one system call; frames are read in place.
impl Connection {
    /// Append one frame to the write buffer (sent by [`flush`](Self::flush)).
    pub(crate) fn push_frame(&mut self, parts: &[&[u8]]) {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        self.wbuf.extend_from_slice(&(len as u32).to_le_bytes());
        for p in parts {
            self.wbuf.extend_from_slice(p);
        }
    }

    /// Whether frames are waiting in the write buffer.
    pub(crate) fn has_pending(&self) -> bool {
        !self.wbuf.is_empty()
    }

    /// Bytes waiting in the write buffer.
    pub(crate) fn pending_len(&self) -> usize {
        self.wbuf.len()
    }

    /// Write the whole write buffer.
    pub(crate) fn flush(&mut self) -> Result<()> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        let buf = std::mem::take(&mut self.wbuf);
        let r = self.write_all(&buf, &[]);
        self.wbuf = buf;
        self.wbuf.clear();
        if self.wbuf.capacity() > 4 << 20 {
            self.wbuf = Vec::new();
        }
        r
    }

    /// Write as much of the write buffer as the socket takes now, without
    /// blocking. Returns whether it is all written.
    pub(crate) fn try_flush(&mut self) -> Result<bool> {
        let mut off = 0;
        while off < self.wbuf.len() {
            let rest = &self.wbuf[off..];
            // SAFETY: sending an initialised buffer without blocking; the pool
            // only uses this on socketpair ends.
            let n = unsafe {
                libc::send(
                    self.fd.as_raw_fd(),
                    rest.as_ptr().cast(),
                    rest.len(),
                    libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                )
            };
            if n < 0 {
                match Errno::last() {
                    Errno::EINTR => continue,
                    Errno::EAGAIN => break,
                    Errno::EPIPE | Errno::ECONNRESET => return Err(Error::Disconnected),
                    e => return Err(e.into()),
                }
            }
            off += n as usize;
        }
        self.wbuf.drain(..off);
        Ok(self.wbuf.is_empty())
    }

    /// Whether a whole frame is already buffered.
    pub(crate) fn frame_buffered(&self) -> bool {
        let have = self.rbuf.len() - self.rpos;
        if have < 4 {
            return false;
        }
        let mut h = [0u8; 4];
        h.copy_from_slice(&self.rbuf[self.rpos..self.rpos + 4]);
        have >= 4 + u32::from_le_bytes(h) as usize
    }

    /// The next frame, in place: blocking (`deadline` None) or until
    /// `deadline` (`Ok(None)` on timeout).
    pub(crate) fn next_frame(&mut self, deadline: Option<Instant>) -> Result<Option<&[u8]>> {
        Ok(self.frame(deadline)?.map(|(s, e)| &self.rbuf[s..e]))
    }
}

/// The descriptor to `poll` for reading (the socket, or the read end).
impl AsRawFd for Connection {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
