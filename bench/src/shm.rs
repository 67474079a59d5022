//! Workload code of the shm suite, shared by `benches/shm.rs` and the
//! `shm_ring` harness: links to a forked child over a coil ring or a raw
//! pipe, an echo child (round trips) and a sink child (throughput).
//!
//! A child is forked once per link and lives until the link drops; it only
//! runs the loop below and `_exit`s, so nothing of the harness runs in it.

use std::{
    fs::File,
    io::{Read, Write},
    os::fd::FromRawFd,
};

use coil_shm::{MpmcOptions, MpmcRing, SpscOptions, SpscRing};

/// Which transport a link uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Two `coil_shm::SpscRing`s (the `coil` rows).
    CoilSpsc,
    /// Two `coil_shm::SpscRing`s, streams sent in groups of [`BATCH`] with
    /// `SpscSender::send_many` (the `coil-batch` rows).
    CoilBatch,
    /// Two `coil_shm::MpmcRing`s (the `coil-mpmc` rows).
    CoilMpmc,
    /// Two `pipe(2)`s, one `write` and one `read_exact` per message (`pipe`).
    Pipe,
}

impl Kind {
    /// The implementation name used in rows and criterion functions.
    pub fn name(self) -> &'static str {
        match self {
            Kind::CoilSpsc => "coil",
            Kind::CoilBatch => "coil-batch",
            Kind::CoilMpmc => "coil-mpmc",
            Kind::Pipe => "pipe",
        }
    }
}

/// What the child does with each message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Send every message straight back.
    Echo,
    /// Swallow messages; answer one byte when a message starts with `0xFF`.
    Sink,
}

enum Tx {
    Spsc(coil_shm::SpscSender),
    Mpmc(coil_shm::MpmcSender),
    Pipe(File),
}

enum Rx {
    Spsc(coil_shm::SpscReceiver),
    Mpmc(coil_shm::MpmcReceiver),
    Pipe(File),
}

impl Tx {
    fn send(&mut self, m: &[u8]) -> bool {
        match self {
            Tx::Spsc(t) => t.send(m).is_ok(),
            Tx::Mpmc(t) => t.send(m).is_ok(),
            Tx::Pipe(f) => f.write_all(m).is_ok(),
        }
    }
}

impl Rx {
    /// Receive one message; a pipe message is `len` bytes.
    fn recv(&mut self, buf: &mut Vec<u8>, len: usize) -> bool {
        match self {
            Rx::Spsc(r) => r.recv_into(buf).is_ok(),
            Rx::Mpmc(r) => r.recv_into(buf).is_ok(),
            Rx::Pipe(f) => {
                buf.resize(len, 0);
                f.read_exact(buf).is_ok()
            }
        }
    }
}

fn pipe() -> (File, File) {
    let mut fds = [0; 2];
    // SAFETY: valid out-array; the fds are wrapped at once.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(r, 0, "pipe2 failed");
    // SAFETY: fresh fds owned by nobody else.
    unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) }
}

/// The parent's end of a link to a child.
pub struct Link {
    tx: Option<Tx>,
    rx: Rx,
    pid: libc::pid_t,
    len: usize,
    buf: Vec<u8>,
    batch: bool,
    /// The parent's CPU mask before the link pinned it (restored on drop).
    parent_mask: Option<libc::cpu_set_t>,
}

/// Messages per `send_many` call of a [`Kind::CoilBatch`] stream.
pub const BATCH: usize = 32;

impl Link {
    /// Fork a child playing `role` over `kind`, for messages of `len` bytes.
    pub fn spawn(kind: Kind, role: Role, len: usize) -> Link {
        enum Rings {
            Spsc(SpscRing, SpscRing),
            Mpmc(MpmcRing, MpmcRing),
            Pipe((File, File), (File, File)),
        }
        let rings = match kind {
            Kind::CoilSpsc | Kind::CoilBatch => {
                // Room for four messages, and at least 16 KiB: small
                // messages stream fastest through a buffer that stays in
                // both CPUs' L1 caches (measured: 64 B messages, 16 KiB
                // ring ~1.8x the rate of a 64 KiB one).
                let o = SpscOptions::new().capacity((4 * len).max(1 << 14));
                Rings::Spsc(
                    SpscRing::anonymous(&o).unwrap(),
                    SpscRing::anonymous(&o).unwrap(),
                )
            }
            Kind::CoilMpmc => {
                let o = MpmcOptions::new().slots(256).slot_size(len.max(8));
                Rings::Mpmc(
                    MpmcRing::anonymous(&o).unwrap(),
                    MpmcRing::anonymous(&o).unwrap(),
                )
            }
            Kind::Pipe => Rings::Pipe(pipe(), pipe()),
        };
        let cpus = two_cpus();
        // SAFETY: the child only runs `child_loop` over objects made above and
        // then `_exit`s.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            if let Some((_, cpu)) = cpus {
                pin_self(cpu);
            }
            let (rx, tx) = match &rings {
                Rings::Spsc(a, b) => (
                    Rx::Spsc(a.receiver().unwrap()),
                    Tx::Spsc(b.sender().unwrap()),
                ),
                Rings::Mpmc(a, b) => (
                    Rx::Mpmc(a.receiver().unwrap()),
                    Tx::Mpmc(b.sender().unwrap()),
                ),
                Rings::Pipe((r, _), (_, w)) => (
                    Rx::Pipe(r.try_clone().unwrap()),
                    Tx::Pipe(w.try_clone().unwrap()),
                ),
            };
            if let Rings::Pipe((_, w), (r, _)) = rings {
                drop((w, r)); // the parent's ends: EOF must reach the child
            }
            child_loop(role, rx, tx, len);
            // SAFETY: leave without running the parent's exit handlers.
            unsafe { libc::_exit(0) };
        }
        let (tx, rx) = match rings {
            Rings::Spsc(a, b) => (
                Tx::Spsc(a.sender().unwrap()),
                Rx::Spsc(b.receiver().unwrap()),
            ),
            Rings::Mpmc(a, b) => (
                Tx::Mpmc(a.sender().unwrap()),
                Rx::Mpmc(b.receiver().unwrap()),
            ),
            Rings::Pipe((_, w), (r, _)) => (Tx::Pipe(w), Rx::Pipe(r)),
        };
        Link {
            tx: Some(tx),
            rx,
            pid,
            len,
            buf: Vec::with_capacity(len),
            batch: kind == Kind::CoilBatch,
            parent_mask: cpus.map(|(cpu, _)| pin_self(cpu)),
        }
    }

    /// Send one message.
    pub fn send(&mut self, m: &[u8]) {
        assert!(self.tx.as_mut().is_some_and(|t| t.send(m)), "send failed");
    }

    /// Send `n` copies of `m`: in groups of [`BATCH`] published together for
    /// [`Kind::CoilBatch`], one by one otherwise.
    pub fn send_n(&mut self, m: &[u8], n: usize) {
        let Some(Tx::Spsc(t)) = self.tx.as_ref().filter(|_| self.batch) else {
            for _ in 0..n {
                self.send(m);
            }
            return;
        };
        let group = [m; BATCH];
        let mut left = n;
        while left > 0 {
            let k = left.min(BATCH);
            assert!(t.send_many(&group[..k]).is_ok(), "send failed");
            left -= k;
        }
    }

    /// Receive one message (of the link's length for pipes).
    pub fn recv(&mut self) -> &[u8] {
        let len = self.len;
        assert!(self.rx.recv(&mut self.buf, len), "recv failed");
        &self.buf
    }

    /// Receive a sink's one-byte acknowledgement.
    pub fn recv_ack(&mut self) {
        assert!(self.rx.recv(&mut self.buf, 1), "ack failed");
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        drop(self.tx.take()); // the child sees Disconnected / EOF and exits
        let mut st = 0;
        // SAFETY: reaping our own child.
        unsafe { libc::waitpid(self.pid, &mut st, 0) };
        if let Some(mask) = self.parent_mask.take() {
            // SAFETY: a valid mask for this thread (it was its own).
            unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &mask) };
        }
    }
}

/// Where a link's two processes run: two different CPUs the harness may use
/// (the first two of its affinity mask), so every transport is measured
/// between two CPUs rather than wherever the scheduler first puts the child
/// (a child started on the parent's CPU can share it for whole streams, which
/// measures time slices, not the transport). `None` with fewer than two CPUs,
/// or with `COIL_BENCH_NO_PIN` set: then nothing is pinned.
fn two_cpus() -> Option<(usize, usize)> {
    if std::env::var_os("COIL_BENCH_NO_PIN").is_some() {
        return None;
    }
    // SAFETY: a zeroed cpu_set_t is an empty set; the call fills it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, writable cpu_set_t of the size given.
    if unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) } != 0 {
        return None;
    }
    // SAFETY: CPU_ISSET only reads the set.
    let mut allowed =
        (0..libc::CPU_SETSIZE as usize).filter(|&c| unsafe { libc::CPU_ISSET(c, &set) });
    Some((allowed.next()?, allowed.next()?))
}

/// Pins the calling thread to `cpu`; returns its mask before.
fn pin_self(cpu: usize) -> libc::cpu_set_t {
    // SAFETY: zeroed cpu_set_t values are empty sets; the calls read and
    // write valid sets of the size given.
    unsafe {
        let mut old: libc::cpu_set_t = std::mem::zeroed();
        libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut old);
        let mut one: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut one);
        libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &one);
        old
    }
}

fn child_loop(role: Role, mut rx: Rx, mut tx: Tx, len: usize) {
    let mut buf = Vec::with_capacity(len);
    while rx.recv(&mut buf, len) {
        match role {
            Role::Echo => {
                if !tx.send(&buf) {
                    return;
                }
            }
            Role::Sink => {
                if buf.first() == Some(&0xFF) && !tx.send(&[1]) {
                    return;
                }
            }
        }
    }
}

/// A message of `len` bytes that a sink does not acknowledge.
pub fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// The message that asks a sink for an acknowledgement.
pub fn marker(len: usize) -> Vec<u8> {
    let mut m = payload(len);
    m[0] = 0xFF;
    m
}
