//! The record transports under a [`Queue`](crate::Queue): channels that move
//! whole records of bounded size between any number of processes, each record
//! taken by exactly one receiver, *atomically* — a process killed during a
//! send or a receive either moved its record or did not, and never leaves a
//! half record for another process to trip on.
//!
//! - [`Transport::Pipe`]: an `AF_UNIX` `SOCK_SEQPACKET` socketpair. Senders
//!   write records to one end and receivers read them from the other; the
//!   kernel keeps record boundaries and each `send`/`recv` is one system call,
//!   so atomicity comes from the kernel. Records are at most 64 KiB (they must
//!   fit the socket's send buffer).
//! - [`Transport::Ring`]: a `coil-shm` multi-producer multi-consumer ring in
//!   shared memory; a slot carries one record and is recovered by the
//!   survivors when the process writing or reading it dies (see
//!   `coil_shm::ring::mpmc`). No system call while neither side sleeps.
//!
//! Messages larger than one record are cut into records by the queue (see
//! `queue.rs`), which serialises writers and readers with robust locks.

use std::{
    os::fd::{AsRawFd, OwnedFd},
    time::{Duration, Instant},
};

use coil_shm::{MpmcOptions, MpmcReceiver, MpmcRing, MpmcSender};
use nix::{
    errno::Errno,
    sys::socket::{AddressFamily, SockFlag, SockType, socketpair},
};

use crate::error::{Error, Result};

/// How long a ring end spins before it sleeps.
const RING_SPIN: Duration = Duration::from_micros(50);

/// Largest record on the pipe transport.
const PIPE_RECORD: usize = 64 * 1024;

/// A channel of bounded, atomically moved records.
#[derive(Debug)]
pub(crate) enum Transport {
    /// Seqpacket socketpair: (send end, receive end, largest record).
    Pipe {
        tx: OwnedFd,
        rx: OwnedFd,
        record: usize,
    },
    /// Shared-memory ring: (send end, receive end, largest record).
    Ring {
        tx: MpmcSender,
        rx: MpmcReceiver,
        record: usize,
    },
}

fn wait_fd(fd: i32, events: i16, deadline: Option<Instant>) -> Result<bool> {
    loop {
        let ms = match deadline {
            None => -1,
            Some(d) => d
                .saturating_duration_since(Instant::now())
                .as_micros()
                .div_ceil(1000)
                .min(i32::MAX as u128) as i32,
        };
        let mut p = libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        // SAFETY: one valid pollfd on the stack.
        let r = unsafe { libc::poll(&mut p, 1, ms) };
        if r < 0 {
            match Errno::last() {
                Errno::EINTR => continue,
                e => return Err(e.into()),
            }
        }
        if r > 0 {
            return Ok(true);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(false);
        }
    }
}

impl Transport {
    /// A seqpacket socketpair transport.
    pub(crate) fn pipe() -> Result<Self> {
        let (tx, rx) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )?;
        let mut sndbuf: libc::c_int = 0;
        let mut len = size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: getsockopt into a c_int with its length.
        let r = unsafe {
            libc::getsockopt(
                tx.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_SNDBUF,
                (&raw mut sndbuf).cast(),
                &mut len,
            )
        };
        let record = if r == 0 && sndbuf > 4096 {
            PIPE_RECORD.min(sndbuf as usize / 2)
        } else {
            2048
        };
        Ok(Transport::Pipe { tx, rx, record })
    }

    /// A shared-memory ring transport of `slots` records of `record` bytes,
    /// anonymous or under `name`.
    pub(crate) fn ring(slots: usize, record: usize, name: Option<&str>) -> Result<Self> {
        let opts = MpmcOptions::new()
            .slots(slots)
            .slot_size(record)
            .spin(RING_SPIN);
        let ring = match name {
            None => MpmcRing::anonymous(&opts)?,
            Some(n) => MpmcRing::create(n, &opts)?,
        };
        Self::ring_ends(ring)
    }

    /// The ring transport over the named ring `name`.
    pub(crate) fn open_ring(name: &str) -> Result<Self> {
        Self::ring_ends(MpmcRing::open(name)?)
    }

    fn ring_ends(ring: MpmcRing) -> Result<Self> {
        Ok(Transport::Ring {
            tx: ring.sender()?,
            rx: ring.receiver()?,
            record: ring.max_message(),
        })
    }

    /// The largest record.
    pub(crate) fn record(&self) -> usize {
        match self {
            Transport::Pipe { record, .. } => *record,
            Transport::Ring { record, .. } => *record,
        }
    }

    /// Send one record, waiting for room until `deadline`. Returns false on
    /// timeout (nothing sent).
    pub(crate) fn send(&self, rec: &[u8], deadline: Option<Instant>) -> Result<bool> {
        match self {
            Transport::Pipe { tx, .. } => loop {
                // SAFETY: sending an initialised buffer; MSG_NOSIGNAL avoids SIGPIPE.
                let n = unsafe {
                    libc::send(
                        tx.as_raw_fd(),
                        rec.as_ptr().cast(),
                        rec.len(),
                        libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                    )
                };
                if n >= 0 {
                    return Ok(true);
                }
                match Errno::last() {
                    Errno::EINTR => {}
                    Errno::EAGAIN => {
                        if !wait_fd(tx.as_raw_fd(), libc::POLLOUT, deadline)? {
                            return Ok(false);
                        }
                    }
                    Errno::EPIPE | Errno::ECONNRESET => return Err(Error::Disconnected),
                    e => return Err(e.into()),
                }
            },
            Transport::Ring { tx, .. } => {
                let r = match deadline {
                    None => tx.send(rec),
                    Some(d) => tx.send_timeout(rec, d.saturating_duration_since(Instant::now())),
                };
                match r {
                    Ok(()) => Ok(true),
                    Err(coil_shm::Error::Timeout | coil_shm::Error::Full) => Ok(false),
                    Err(coil_shm::Error::Disconnected) => Err(Error::Disconnected),
                    Err(e) => Err(e.into()),
                }
            }
        }
    }

    /// Receive one record into `out`, waiting until `deadline`. Returns false
    /// on timeout.
    pub(crate) fn recv(&self, out: &mut Vec<u8>, deadline: Option<Instant>) -> Result<bool> {
        match self {
            Transport::Pipe { rx, record, .. } => {
                out.clear();
                out.reserve(*record);
                loop {
                    // SAFETY: receiving into the reserved capacity of `out`.
                    let n = unsafe {
                        libc::recv(
                            rx.as_raw_fd(),
                            out.as_mut_ptr().cast(),
                            out.capacity(),
                            libc::MSG_DONTWAIT,
                        )
                    };
                    if n > 0 {
                        // SAFETY: the kernel initialised n bytes.
                        unsafe { out.set_len(n as usize) };
                        return Ok(true);
                    }
                    if n == 0 {
                        return Err(Error::Disconnected);
                    }
                    match Errno::last() {
                        Errno::EINTR => {}
                        Errno::EAGAIN => {
                            if !wait_fd(rx.as_raw_fd(), libc::POLLIN, deadline)? {
                                return Ok(false);
                            }
                        }
                        Errno::ECONNRESET => return Err(Error::Disconnected),
                        e => return Err(e.into()),
                    }
                }
            }
            Transport::Ring { rx, .. } => {
                let r = match deadline {
                    None => rx.recv_into(out),
                    Some(d) => {
                        let left = d.saturating_duration_since(Instant::now());
                        if left.is_zero() {
                            match rx.try_recv() {
                                Ok(v) => {
                                    *out = v;
                                    Ok(())
                                }
                                Err(e) => Err(e),
                            }
                        } else {
                            rx.recv_timeout(left).map(|v| *out = v)
                        }
                    }
                };
                match r {
                    Ok(()) => Ok(true),
                    Err(coil_shm::Error::Timeout | coil_shm::Error::Empty) => Ok(false),
                    Err(coil_shm::Error::Disconnected) => Err(Error::Disconnected),
                    Err(e) => Err(e.into()),
                }
            }
        }
    }
}
