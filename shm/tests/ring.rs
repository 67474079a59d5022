//! Rings across processes: round trips, many producers/consumers, timeouts,
//! disconnect detection, and peers SIGKILLed at random points.

mod common;

use std::time::{Duration, Instant};

use coil_shm::{Error, MpmcOptions, MpmcRing, SharedArray, SpscOptions, SpscRing};
use common::{fork_child, kill_and_reap, unique, wait};

fn stress() -> bool {
    std::env::var_os("COIL_STRESS").is_some()
}

/// A tiny xorshift for random kill points (no extra dependency).
struct Rng(u64);
impl Rng {
    fn new() -> Self {
        let t = Instant::now().elapsed().as_nanos() as u64 ^ (std::process::id() as u64) << 32;
        Rng(t | 1)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// A self-checking message: pid, counter, and a checksum of both.
fn msg(pid: u32, n: u32) -> [u8; 16] {
    let mut m = [0u8; 16];
    m[..4].copy_from_slice(&pid.to_le_bytes());
    m[4..8].copy_from_slice(&n.to_le_bytes());
    let sum = (pid as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ n as u64;
    m[8..].copy_from_slice(&sum.to_le_bytes());
    m
}

fn parse(m: &[u8]) -> (u32, u32) {
    assert_eq!(m.len(), 16, "torn message length");
    let pid = u32::from_le_bytes(m[..4].try_into().unwrap());
    let n = u32::from_le_bytes(m[4..8].try_into().unwrap());
    assert_eq!(m, &msg(pid, n)[..], "torn message body");
    (pid, n)
}

#[test]
fn mpmc_ping_pong_between_processes() {
    let _serial = common::serial();
    let a = MpmcRing::anonymous(&MpmcOptions::new().slots(4).slot_size(64)).unwrap();
    let b = MpmcRing::anonymous(&MpmcOptions::new().slots(4).slot_size(64)).unwrap();
    let pid = fork_child(|| {
        let (rx, tx) = (a.receiver().unwrap(), b.sender().unwrap());
        loop {
            match rx.recv() {
                Ok(m) => tx.send(&m).unwrap(),
                Err(Error::Disconnected) => return 0,
                Err(_) => return 1,
            }
        }
    });
    let (tx, rx) = (a.sender().unwrap(), b.receiver().unwrap());
    for i in 0..2000u32 {
        tx.send(&i.to_le_bytes()).unwrap();
        assert_eq!(rx.recv().unwrap(), i.to_le_bytes());
    }
    drop(tx); // the child's recv sees Disconnected and exits 0
    assert_eq!(wait(pid), 0);
}

#[test]
fn mpmc_many_producers_many_consumers_exactly_once() {
    let _serial = common::serial();
    let ring = MpmcRing::anonymous(&MpmcOptions::new().slots(8).slot_size(16)).unwrap();
    let (producers, consumers, per) = (3u32, 2usize, if stress() { 50_000u32 } else { 3_000 });
    // seen[p * per + n] counts deliveries of message n of producer p.
    let seen = SharedArray::anonymous(&vec![0u32; (producers * per) as usize]).unwrap();
    let done = SharedArray::anonymous(&[0u64; 1]).unwrap();
    let total = (producers * per) as u64;
    // The parent holds a sender end while it forks, as one keeps a pipe's write
    // end open until every writer has started: otherwise a first producer that
    // finishes before the next is forked leaves no sender, the consumers drain
    // the ring and see `Disconnected` (end of stream, by design), and the later
    // producers find no receiver.
    let keep_open = ring.sender().unwrap();
    let mut pids = Vec::new();
    for _ in 0..consumers {
        pids.push(fork_child(|| {
            let rx = ring.receiver().unwrap();
            while done
                .atomic(0)
                .unwrap()
                .load(std::sync::atomic::Ordering::SeqCst)
                < total
            {
                match rx.recv_timeout(Duration::from_millis(20)) {
                    Ok(m) => {
                        let (p, n) = parse(&m);
                        seen.atomic((p * per + n) as usize)
                            .unwrap()
                            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        done.atomic(0)
                            .unwrap()
                            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    Err(Error::Timeout) => {}
                    // Every producer is gone and the ring is empty: the other
                    // consumer holds whatever is left.
                    Err(Error::Disconnected) => return 0,
                    Err(_) => return 2,
                }
            }
            0
        }));
    }
    for p in 0..producers {
        let ring = &ring;
        pids.push(fork_child(move || {
            let tx = ring.sender().unwrap();
            for n in 0..per {
                tx.send(&msg(p, n)).unwrap();
            }
            0
        }));
    }
    drop(keep_open);
    for pid in pids {
        assert_eq!(wait(pid), 0);
    }
    let v = seen.to_vec().unwrap();
    assert!(v.iter().all(|&c| c == 1), "every message exactly once");
}

#[test]
fn mpmc_timeouts_and_bad_input() {
    let _serial = common::serial();
    let ring = MpmcRing::anonymous(&MpmcOptions::new().slots(2).slot_size(8)).unwrap();
    let (tx, rx) = (ring.sender().unwrap(), ring.receiver().unwrap());
    assert_eq!(
        rx.recv_timeout(Duration::from_millis(5)),
        Err(Error::Timeout)
    );
    assert_eq!(
        tx.send(&[0; 9]),
        Err(Error::MessageTooLarge { len: 9, max: 8 })
    );
    tx.send(b"1").unwrap();
    tx.send(b"2").unwrap();
    assert_eq!(tx.try_send(b"3"), Err(Error::Full));
    assert_eq!(
        tx.send_timeout(b"3", Duration::from_millis(5)),
        Err(Error::Timeout)
    );
    assert_eq!(rx.recv().unwrap(), b"1");
    assert_eq!(ring.len(), 1);
    assert!(matches!(
        MpmcRing::anonymous(&MpmcOptions::new().slots(1)),
        Err(Error::InvalidSize { .. })
    ));
    assert!(matches!(
        MpmcRing::anonymous(&MpmcOptions::new().slot_size(0)),
        Err(Error::InvalidSize { .. })
    ));
    let name = unique("mpmcbad");
    let s = SpscRing::create(&name, &SpscOptions::new().capacity(64)).unwrap();
    assert!(matches!(MpmcRing::open(&name), Err(Error::Incompatible(_))));
    s.segment().unlink().unwrap();
}

#[test]
fn mpmc_disconnect_when_peer_process_dies() {
    let _serial = common::serial();
    let ring = MpmcRing::anonymous(&MpmcOptions::new().slots(2).slot_size(8)).unwrap();
    // A receiver in a child that is killed: a blocked sender learns it.
    let ready = coil_shm::SharedValue::anonymous(0u32).unwrap();
    let pid = fork_child(|| {
        let _rx = ring.receiver().unwrap();
        ready.set(1).unwrap();
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    let tx = ring.sender().unwrap();
    while ready.get().unwrap() == 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    while tx.try_send(b"b").is_ok() {}
    kill_and_reap(pid);
    assert_eq!(tx.send(b"c"), Err(Error::Disconnected));
    drop(tx);
    // A sender in a child that is killed: a blocked receiver learns it.
    let ring = MpmcRing::anonymous(&MpmcOptions::new().slots(2).slot_size(8)).unwrap();
    let rx = ring.receiver().unwrap();
    let pid = fork_child(|| {
        let tx = ring.sender().unwrap();
        tx.send(b"hello").unwrap();
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    assert_eq!(rx.recv().unwrap(), b"hello");
    kill_and_reap(pid);
    assert_eq!(rx.recv(), Err(Error::Disconnected));
}

/// The crash test of the issue: producers and consumers are SIGKILLed at
/// random points, again and again; the survivor must never hang, never see a
/// torn or duplicated message, and must find every slot usable afterwards.
#[test]
fn mpmc_survives_peers_killed_at_random_points() {
    let _serial = common::serial();
    let rounds = if stress() { 300 } else { 25 };
    let ring = MpmcRing::anonymous(&MpmcOptions::new().slots(8).slot_size(16)).unwrap();
    let tx = ring.sender().unwrap();
    let rx = ring.receiver().unwrap();
    let mut rng = Rng::new();
    let me = std::process::id();
    let mut counter = 0u32;
    for round in 0..rounds {
        let victims: Vec<_> = (0..3)
            .map(|k| {
                let (tx, rx) = (&tx, &rx);
                fork_child(move || {
                    let me = std::process::id();
                    let mut n = 0u32;
                    loop {
                        // Victims both produce and consume, so they die in
                        // every phase of both operations.
                        if k % 2 == 0 || n % 3 != 0 {
                            let _ = tx.send_timeout(&msg(me, n), Duration::from_millis(50));
                        } else {
                            let _ = rx.recv_timeout(Duration::from_millis(50));
                        }
                        n = n.wrapping_add(1);
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_micros(rng.below(3000)));
        for v in victims {
            assert_eq!(kill_and_reap(v), -libc::SIGKILL);
        }
        // Drain: every message well-formed, per-producer counters increasing.
        let mut last = std::collections::HashMap::new();
        let start = Instant::now();
        while let Ok(m) = rx.recv_timeout(Duration::from_millis(30)) {
            let (p, n) = parse(&m);
            if let Some(prev) = last.insert(p, n) {
                assert!(n > prev, "round {round}: duplicate or reordered message");
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "round {round}: drain never ends"
            );
        }
        // Every slot usable: fill the ring completely, then read it back.
        for _ in 0..ring.capacity() {
            tx.send_timeout(&msg(me, counter), Duration::from_secs(5))
                .unwrap_or_else(|e| panic!("round {round}: ring wedged on send: {e}"));
            counter += 1;
        }
        for i in (counter - ring.capacity() as u32)..counter {
            let m = rx
                .recv_timeout(Duration::from_secs(5))
                .unwrap_or_else(|e| panic!("round {round}: wedged on recv: {e}"));
            assert_eq!(parse(&m), (me, i));
        }
    }
}

#[test]
fn spsc_round_trip_and_large_messages_between_processes() {
    let _serial = common::serial();
    let a = SpscRing::anonymous(&SpscOptions::new().capacity(4096)).unwrap();
    let b = SpscRing::anonymous(&SpscOptions::new().capacity(4096)).unwrap();
    let pid = fork_child(|| {
        let (rx, tx) = (a.receiver().unwrap(), b.sender().unwrap());
        let mut buf = Vec::new();
        loop {
            match rx.recv_into(&mut buf) {
                Ok(()) => tx.send(&buf).unwrap(),
                Err(Error::Disconnected) => return 0,
                Err(_) => return 1,
            }
        }
    });
    let (tx, rx) = (a.sender().unwrap(), b.receiver().unwrap());
    // Sizes around the wrap point and far beyond the buffer.
    for (i, len) in [
        0usize,
        1,
        7,
        8,
        9,
        100,
        4000,
        4088,
        4096,
        5000,
        100_000,
        1 << 20,
    ]
    .iter()
    .enumerate()
    {
        let m: Vec<u8> = (0..*len).map(|j| (j * 31 + i) as u8).collect();
        tx.send(&m).unwrap();
        assert_eq!(rx.recv().unwrap(), m, "len {len}");
    }
    drop(tx);
    assert_eq!(wait(pid), 0);
}

/// Message `i` of the varied stream: its length and bytes both derive from `i`.
fn varied(i: u32) -> Vec<u8> {
    let len = match i % 97 {
        0 => 3000 + (i as usize % 5000), // larger than the buffer: streamed
        n => (n as usize * 13 + i as usize) % 400,
    };
    (0..len)
        .map(|j| (j as u32).wrapping_mul(31).wrapping_add(i) as u8)
        .collect()
}

#[test]
fn spsc_stream_of_varied_sizes_arrives_in_order_and_intact() {
    let _serial = common::serial();
    let n: u32 = if stress() { 1_000_000 } else { 30_000 };
    // A small buffer: frames wrap, the ring fills, space is released in
    // batches, and some messages stream through it in pieces.
    let ring = SpscRing::anonymous(&SpscOptions::new().capacity(1024)).unwrap();
    let pid = fork_child(|| {
        let tx = ring.sender().unwrap();
        for i in 0..n {
            if tx.send(&varied(i)).is_err() {
                return 1;
            }
        }
        0
    });
    let rx = ring.receiver().unwrap();
    let mut buf = Vec::new();
    for i in 0..n {
        rx.recv_into(&mut buf).unwrap();
        assert!(buf == varied(i), "message {i} differs");
    }
    assert_eq!(rx.recv(), Err(Error::Disconnected));
    assert_eq!(wait(pid), 0);
}

#[test]
fn spsc_space_released_lazily_is_released_before_waiting_and_on_drop() {
    let _serial = common::serial();
    let ring = SpscRing::anonymous(&SpscOptions::new().capacity(1024)).unwrap();
    let tx = ring.sender().unwrap();
    // 64 frames of 16 bytes fill the buffer exactly.
    for i in 0..64u8 {
        tx.send(&[i; 8]).unwrap();
    }
    assert_eq!(tx.try_send(&[0; 8]), Err(Error::Full));
    let rx = ring.receiver().unwrap();
    for i in 0..3u8 {
        assert_eq!(rx.recv().unwrap(), [i; 8]);
    }
    // A receiver dropped mid-batch releases what it consumed: the next one
    // neither sees those messages again nor skips any.
    drop(rx);
    let rx = ring.receiver().unwrap();
    for i in 64..67u8 {
        tx.try_send(&[i; 8]).unwrap();
    }
    for i in 3..67u8 {
        assert_eq!(rx.recv().unwrap(), [i; 8]);
    }
    // Having read everything it knew of, the receiver has released it all.
    for i in 0..64u8 {
        tx.try_send(&[i; 8]).unwrap();
    }
    assert_eq!(tx.try_send(&[0; 8]), Err(Error::Full));
    assert_eq!(rx.recv().unwrap(), [0; 8]);
    assert_eq!(rx.try_recv().unwrap(), [1; 8]);
}

#[test]
fn spsc_send_many_keeps_order_waits_streams_and_stops_at_the_first_error() {
    let _serial = common::serial();
    let ring = SpscRing::anonymous(&SpscOptions::new().capacity(256).max_message(5000)).unwrap();
    let (tx, rx) = (ring.sender().unwrap(), ring.receiver().unwrap());
    // More than the buffer holds, one message larger than the buffer, and
    // then one over the message limit: the group before it arrives in order,
    // nothing after it.
    let mut msgs: Vec<Vec<u8>> = (0..100u32).map(varied).filter(|m| m.len() < 250).collect();
    msgs.insert(40, vec![9; 4000]);
    let sent = msgs.clone();
    msgs.push(vec![0; 5001]);
    msgs.push(vec![1; 3]);
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        while let Ok(m) = rx.recv() {
            got.push(m);
        }
        got
    });
    assert_eq!(
        tx.send_many(&msgs),
        Err(Error::MessageTooLarge {
            len: 5001,
            max: 5000
        })
    );
    drop(tx);
    assert!(
        reader.join().unwrap() == sent,
        "send_many delivered a different stream"
    );
}

#[test]
fn spsc_send_with_and_recv_with_work_in_place_across_the_wrap() {
    let _serial = common::serial();
    let ring = SpscRing::anonymous(&SpscOptions::new().capacity(256)).unwrap();
    let (tx, rx) = (ring.sender().unwrap(), ring.receiver().unwrap());
    let n = 3_000u32;
    let reader = std::thread::spawn(move || {
        for i in 0..n {
            let want = varied(i);
            // Alternate the two receive calls over the same stream.
            let same = if i % 2 == 0 {
                rx.recv_with(|b| b == &want[..]).unwrap()
            } else {
                rx.recv().unwrap() == want
            };
            assert!(same, "message {i} differs");
        }
        rx
    });
    for i in 0..n {
        let m = varied(i);
        if m.len() > 248 {
            tx.send(&m).unwrap(); // streamed: too large to write in place
        } else if i % 3 == 0 {
            tx.send(&m).unwrap(); // may wrap: recv_with gathers it
        } else {
            let len = tx
                .send_with(m.len(), |buf| {
                    buf.copy_from_slice(&m);
                    buf.len()
                })
                .unwrap();
            assert_eq!(len, m.len());
        }
    }
    let rx = reader.join().unwrap();
    assert_eq!(rx.try_recv(), Err(Error::Empty));
}

#[test]
fn spsc_send_with_and_recv_with_bad_input_and_panics() {
    let _serial = common::serial();
    let ring = SpscRing::anonymous(&SpscOptions::new().capacity(64).max_message(100)).unwrap();
    let (tx, rx) = (ring.sender().unwrap(), ring.receiver().unwrap());
    assert_eq!(
        tx.send_with(101, |_| ()),
        Err(Error::MessageTooLarge { len: 101, max: 100 })
    );
    assert_eq!(
        tx.send_with(57, |_| ()),
        Err(Error::MessageTooLarge { len: 57, max: 56 })
    );
    // A panicking writer sends nothing; a panicking reader consumes the message.
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        tx.send_with(4, |_| panic!("writer fails")).unwrap()
    }));
    assert!(r.is_err());
    assert_eq!(rx.try_recv(), Err(Error::Empty));
    // No send on the same sender from inside the closure.
    let nested = tx
        .send_with(3, |b| {
            b.copy_from_slice(b"out");
            (
                tx.send(b"in"),
                tx.send_many(&[b"in"]),
                tx.send_with(1, |_| ()),
            )
        })
        .unwrap();
    assert!(matches!(nested.0, Err(Error::Unsupported(_))));
    assert!(matches!(nested.1, Err(Error::Unsupported(_))));
    assert!(matches!(nested.2, Err(Error::Unsupported(_))));
    assert_eq!(rx.try_recv().unwrap(), b"out");
    assert_eq!(rx.try_recv(), Err(Error::Empty));
    tx.send(b"first").unwrap();
    tx.send(b"second").unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rx.recv_with(|_| panic!("reader fails")).unwrap()
    }));
    assert!(r.is_err());
    assert_eq!(rx.recv_with(|b| b.to_vec()).unwrap(), b"second");
    // No receive on the same receiver from inside the closure.
    tx.send(b"outer").unwrap();
    tx.send(b"inner").unwrap();
    let nested = rx
        .recv_with(|b| {
            assert_eq!(b, b"outer");
            (rx.try_recv(), rx.recv_with(|_| ()))
        })
        .unwrap();
    assert!(matches!(nested.0, Err(Error::Unsupported(_))));
    assert!(matches!(nested.1, Err(Error::Unsupported(_))));
    assert_eq!(rx.recv().unwrap(), b"inner");
    // Frames of 24 bytes from position 32: the second would wrap at 56, so
    // it follows 8 bytes of padding; and so on around the buffer.
    for i in 0..9u8 {
        tx.send_with(16, |b| b.fill(i)).unwrap();
        assert_eq!(rx.recv_with(|b| b.to_vec()).unwrap(), [i; 16]);
    }
    drop(rx);
    assert_eq!(tx.send_with(1, |_| ()), Err(Error::Disconnected));
}

#[test]
fn spsc_bad_input_and_limits() {
    let _serial = common::serial();
    assert!(matches!(
        SpscRing::anonymous(&SpscOptions::new().capacity(32)),
        Err(Error::InvalidSize { .. })
    ));
    assert!(matches!(
        SpscRing::anonymous(&SpscOptions::new().max_message(0)),
        Err(Error::InvalidSize { .. })
    ));
    let ring = SpscRing::anonymous(&SpscOptions::new().capacity(64).max_message(100)).unwrap();
    let (tx, rx) = (ring.sender().unwrap(), ring.receiver().unwrap());
    assert_eq!(
        tx.send(&[0; 101]),
        Err(Error::MessageTooLarge { len: 101, max: 100 })
    );
    assert!(matches!(ring.sender(), Err(Error::CapacityExceeded(_))));
    tx.send(&[1; 56]).unwrap();
    assert_eq!(tx.try_send(&[1; 1]), Err(Error::Full));
    assert_eq!(rx.try_recv().unwrap(), vec![1; 56]);
    assert_eq!(rx.try_recv(), Err(Error::Empty));
}

#[test]
fn spsc_sender_killed_mid_message_is_disconnect_not_hang() {
    let _serial = common::serial();
    let ring = SpscRing::anonymous(&SpscOptions::new().capacity(4096)).unwrap();
    let rx = ring.receiver().unwrap();
    let ready = coil_shm::SharedValue::anonymous(0u32).unwrap();
    let pid = fork_child(|| {
        let tx = ring.sender().unwrap();
        ready.set(1).unwrap();
        let big = vec![5u8; 1 << 20]; // streams: blocks mid-frame until read
        let _ = tx.send(&big);
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    while ready.get().unwrap() == 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(20));
    kill_and_reap(pid);
    assert_eq!(rx.recv(), Err(Error::Disconnected));
    assert_eq!(
        rx.recv(),
        Err(Error::Disconnected),
        "the ring stays closed after a torn frame"
    );
}

#[test]
fn spsc_receiver_killed_unblocks_sender() {
    let _serial = common::serial();
    let ring = SpscRing::anonymous(&SpscOptions::new().capacity(64)).unwrap();
    let ready = coil_shm::SharedValue::anonymous(0u32).unwrap();
    let pid = fork_child(|| {
        let _rx = ring.receiver().unwrap();
        ready.set(1).unwrap();
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    while ready.get().unwrap() == 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let tx = ring.sender().unwrap();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        kill_and_reap(pid)
    });
    let mut r = Ok(());
    for _ in 0..100 {
        r = tx.send(&[0; 40]);
        if r.is_err() {
            break;
        }
    }
    assert_eq!(r, Err(Error::Disconnected));
    assert_eq!(t.join().unwrap(), -libc::SIGKILL);
}

/// Pipe semantics across fork: an end inherited by a child counts as live
/// until the child drops it or dies.
#[test]
fn inherited_sender_counts_until_the_child_exits() {
    let _serial = common::serial();
    let ring = MpmcRing::anonymous(&MpmcOptions::new().slots(4).slot_size(8)).unwrap();
    let (tx, rx) = (ring.sender().unwrap(), ring.receiver().unwrap());
    let go = coil_shm::SharedValue::anonymous(0u32).unwrap();
    let pid = fork_child(|| {
        while go.get().unwrap() == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        0 // exits without dropping its inherited `tx`
    });
    drop(tx);
    assert_eq!(
        rx.recv_timeout(Duration::from_millis(30)),
        Err(Error::Timeout),
        "the child still holds a sender"
    );
    go.set(1).unwrap();
    assert_eq!(wait(pid), 0);
    assert_eq!(rx.recv(), Err(Error::Disconnected));
    assert_eq!(rx.try_recv(), Err(Error::Disconnected));
}

/// The resource tracker is forked without the fork handlers: starting it
/// while ring ends exist must not make it a holder of those ends.
#[test]
fn starting_the_tracker_does_not_hold_ring_ends() {
    let _serial = common::serial();
    let ring = MpmcRing::anonymous(&MpmcOptions::new().slots(4).slot_size(8)).unwrap();
    let (tx, rx) = (ring.sender().unwrap(), ring.receiver().unwrap());
    let seg = coil_shm::SharedMemory::create(&unique("trk"), 64).unwrap(); // may start the tracker
    seg.unlink().unwrap();
    tx.send(b"x").unwrap();
    drop(tx);
    assert_eq!(rx.recv().unwrap(), b"x");
    assert_eq!(rx.recv(), Err(Error::Disconnected));
}

/// Message `n` of sender `pid` in the SPSC crash test: 16 self-checking
/// bytes, then a body derived from `n`. Some are larger than the 1 KiB test
/// ring (streamed) and some fill it exactly.
fn spsc_msg(pid: u32, n: u32) -> Vec<u8> {
    let len = match n % 50 {
        7 => 3000,
        13 => 1016,
        k => 16 + (k as usize * 37) % 120,
    };
    let mut m = msg(pid, n).to_vec();
    m.extend((16..len).map(|j| (j as u32).wrapping_mul(31).wrapping_add(n) as u8));
    m
}

fn spsc_parse(m: &[u8]) -> (u32, u32) {
    assert!(m.len() >= 16, "torn message length {}", m.len());
    let (pid, n) = parse(&m[..16]);
    assert!(
        m == spsc_msg(pid, n),
        "torn message {n} (length {})",
        m.len()
    );
    (pid, n)
}

/// The SPSC crash test: a sender child (plain sends, groups, in-place
/// writes, streamed and ring-filling messages) is SIGKILLed at a random
/// point while the parent receives. The parent must get an unbroken prefix
/// of the child's messages, intact, then `Disconnected`; then a new sender
/// must find the ring usable (or closed, if the child died inside a streamed
/// message), across several laps of the buffer.
#[test]
fn spsc_sender_killed_at_random_points_never_tears_or_wedges() {
    let _serial = common::serial();
    let rounds = if stress() { 300 } else { 30 };
    let opts = SpscOptions::new().capacity(1024);
    let mut ring = SpscRing::anonymous(&opts).unwrap();
    let mut rx = ring.receiver().unwrap();
    let mut rng = Rng::new();
    let mut closed_rounds = 0;
    for round in 0..rounds {
        // Made before the fork, so a sender is registered throughout (the
        // child's inherited handle); the parent drops its own at once.
        let tx = ring.sender().unwrap();
        let pid = fork_child(|| {
            let me = std::process::id();
            let mut n = 0u32;
            loop {
                let r = match n % 5 {
                    0 => {
                        let group: Vec<_> = (n..n + 3).map(|k| spsc_msg(me, k)).collect();
                        n += 2;
                        tx.send_many(&group)
                    }
                    1 if spsc_msg(me, n).len() <= 1000 => {
                        let m = spsc_msg(me, n);
                        tx.send_with(m.len(), |b| b.copy_from_slice(&m))
                    }
                    _ => tx.send(&spsc_msg(me, n)),
                };
                if r.is_err() {
                    return 1;
                }
                n += 1;
            }
        });
        drop(tx);
        let delay = Duration::from_micros(rng.below(4000));
        let killer = std::thread::spawn(move || {
            std::thread::sleep(delay);
            kill_and_reap(pid)
        });
        let start = Instant::now();
        let mut next = 0u32;
        let mut buf = Vec::new();
        loop {
            match rx.recv_into(&mut buf) {
                Ok(()) => {
                    let (p, n) = spsc_parse(&buf);
                    assert_eq!(
                        (p, n),
                        (pid as u32, next),
                        "round {round}: lost or reordered"
                    );
                    next += 1;
                }
                Err(Error::Disconnected) => break,
                Err(e) => panic!("round {round}: recv: {e}"),
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "round {round}: the receive never ends"
            );
        }
        assert_eq!(killer.join().unwrap(), -libc::SIGKILL);
        // A new sender: the ring is usable for several laps, or closed.
        let me = std::process::id();
        let tx = ring.sender().unwrap();
        match tx.try_send(&spsc_msg(me, 0)) {
            Err(Error::Disconnected) => {
                closed_rounds += 1;
                drop((tx, rx));
                ring = SpscRing::anonymous(&opts).unwrap();
                rx = ring.receiver().unwrap();
                continue;
            }
            r => r.unwrap_or_else(|e| panic!("round {round}: wedged after the kill: {e}")),
        }
        assert_eq!(spsc_parse(&rx.recv().unwrap()), (me, 0));
        for k in 1..60u32 {
            if k % 50 == 7 {
                continue; // streaming needs a concurrent reader
            }
            tx.send_timeout(&spsc_msg(me, k), Duration::from_secs(5))
                .unwrap_or_else(|e| panic!("round {round}: wedged on send {k}: {e}"));
            let m = rx
                .recv_timeout(Duration::from_secs(5))
                .unwrap_or_else(|e| panic!("round {round}: wedged on recv {k}: {e}"));
            assert_eq!(spsc_parse(&m), (me, k), "round {round}");
        }
        assert_eq!(rx.try_recv(), Err(Error::Empty));
    }
    assert!(
        closed_rounds < rounds,
        "every round tore a streamed message"
    );
}

#[test]
fn spsc_frames_that_fill_the_ring_exactly_leave_no_stale_header() {
    let _serial = common::serial();
    let ring = SpscRing::anonymous(&SpscOptions::new().capacity(64)).unwrap();
    let (tx, rx) = (ring.sender().unwrap(), ring.receiver().unwrap());
    // Each 56-byte message fills the buffer exactly, so the word after it is
    // its own header: the receiver must not take it for the next frame.
    for lap in 0..10u8 {
        tx.try_send(&[lap; 56]).unwrap();
        assert_eq!(tx.try_send(&[0; 1]), Err(Error::Full));
        assert_eq!(rx.try_recv().unwrap(), vec![lap; 56]);
        assert_eq!(rx.try_recv(), Err(Error::Empty), "lap {lap}");
        // Shifted by a small frame, so exact fills land at other offsets.
        tx.try_send(&[lap; 3]).unwrap();
        assert_eq!(rx.try_recv().unwrap(), vec![lap; 3]);
    }
    // A group that ends by filling the buffer exactly.
    tx.send_many(&[&[1u8; 8][..], &[2; 8], &[3; 24]]).unwrap();
    assert_eq!(tx.try_send(&[0; 1]), Err(Error::Full));
    for (v, n) in [(1u8, 8), (2, 8), (3, 24)] {
        assert_eq!(rx.try_recv().unwrap(), vec![v; n]);
    }
    assert_eq!(rx.try_recv(), Err(Error::Empty));
    assert!(matches!(
        SpscRing::anonymous(&SpscOptions::new().max_message(1 << 40)),
        Err(Error::InvalidSize { .. })
    ));
}

/// The receiver side of the SPSC crash test: a receiving child is SIGKILLed
/// at a random point while the parent streams (whole frames only: a
/// receiver killed inside a streamed frame leaves its successor mid-frame).
/// The parent's send must end in `Disconnected`, not hang; a new receiver
/// then gets an unbroken, intact run of messages ending with the last one
/// sent (it may start with some the dead child had already taken: up to
/// capacity / 8 bytes it had not released), and the ring keeps working.
#[test]
fn spsc_receiver_killed_at_random_points_loses_nothing_it_had_not_taken() {
    let _serial = common::serial();
    let rounds = if stress() { 200 } else { 20 };
    let ring = SpscRing::anonymous(&SpscOptions::new().capacity(1024)).unwrap();
    let tx = ring.sender().unwrap();
    let me = std::process::id();
    let mut rng = Rng::new();
    // Whole frames only (see above): message numbers with a streamed size
    // are skipped.
    let whole = |k: u32| spsc_msg(me, k).len() <= 1000;
    let after = |k: u32| (k + 1..).find(|&j| whole(j)).unwrap();
    let mut n = 0u32; // the next message number to send
    for round in 0..rounds {
        let rx = ring.receiver().unwrap();
        let pid = fork_child(|| {
            let mut buf = Vec::new();
            while rx.recv_into(&mut buf).is_ok() {
                std::hint::black_box(&buf);
            }
            0
        });
        drop(rx);
        let delay = Duration::from_micros(rng.below(3000));
        let killer = std::thread::spawn(move || {
            std::thread::sleep(delay);
            kill_and_reap(pid)
        });
        let start = Instant::now();
        let mut last = None;
        loop {
            match tx.send(&spsc_msg(me, n)) {
                Ok(()) => last = Some(n),
                Err(Error::Disconnected) => break,
                Err(e) => panic!("round {round}: send: {e}"),
            }
            n = after(n);
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "round {round}: the send never ends"
            );
        }
        assert_eq!(killer.join().unwrap(), -libc::SIGKILL);
        let rx = ring.receiver().unwrap();
        let mut got = None;
        while let Ok(m) = rx.try_recv() {
            let (p, k) = spsc_parse(&m);
            assert_eq!(p, me);
            if let Some(prev) = got {
                assert_eq!(k, after(prev), "round {round}: lost, reordered or repeated");
            }
            got = Some(k);
        }
        if got.is_some() {
            assert_eq!(got, last, "round {round}: the newest messages were lost");
        }
        // Usable afterwards.
        let m = spsc_msg(me, n);
        n = after(n);
        tx.try_send(&m).unwrap();
        assert_eq!(rx.try_recv().unwrap(), m);
    }
}

#[test]
fn spsc_receiver_killed_inside_a_streamed_message_closes_the_ring() {
    let _serial = common::serial();
    // A message far larger than the buffer streams through it for several
    // milliseconds; the receiving child is killed meanwhile, leaving `head`
    // inside it. (If the child finishes first, the round is repeated.)
    let big = vec![7u8; 48 << 20];
    for _ in 0..8 {
        let ring = SpscRing::anonymous(&SpscOptions::new().capacity(4096)).unwrap();
        let tx = ring.sender().unwrap();
        let rx = ring.receiver().unwrap();
        let pid = fork_child(|| {
            let mut buf = Vec::new();
            while rx.recv_into(&mut buf).is_ok() {}
            0
        });
        drop(rx);
        let msg = big.clone();
        let sender = std::thread::spawn(move || (tx.send(&msg), tx));
        std::thread::sleep(Duration::from_millis(2));
        kill_and_reap(pid);
        let (r, _tx) = sender.join().unwrap();
        if r != Err(Error::Disconnected) {
            continue; // the child read it all before it died
        }
        // The next receiver (the sender still attached) must not wait for a
        // header inside the payload.
        let rx = ring.receiver().unwrap();
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(5)),
            Err(Error::Disconnected)
        );
        return;
    }
    panic!("the receiver never died inside the streamed message");
}
