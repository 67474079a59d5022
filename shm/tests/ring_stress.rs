//! Heavy stress of the rings' claim/publish and sleep/wake protocols with
//! threads in one process (no fork, so many operations per second): tiny
//! rings that wrap constantly, more producers and consumers than CPUs, and
//! rings that never spin, so every wait goes through the futex and the
//! sleeper flag. Checked: every message arrives exactly once, intact, and in
//! each producer's order where a single consumer can see that order.
//! `COIL_STRESS=1` runs 20x the messages.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU8, Ordering},
    },
    thread,
    time::Duration,
};

use coil_shm::{Error, MpmcOptions, MpmcRing, SpscOptions, SpscRing};

fn scale(n: u32) -> u32 {
    if std::env::var_os("COIL_STRESS").is_some() {
        n * 20
    } else {
        n
    }
}

/// Message `n` of producer `p`: 12 bytes that check themselves.
fn msg(p: u32, n: u32) -> [u8; 12] {
    let mut m = [0u8; 12];
    m[..4].copy_from_slice(&p.to_le_bytes());
    m[4..8].copy_from_slice(&n.to_le_bytes());
    let sum = p.wrapping_mul(0x9e37_79b9) ^ n.rotate_left(7);
    m[8..].copy_from_slice(&sum.to_le_bytes());
    m
}

fn parse(m: &[u8]) -> (u32, u32) {
    assert_eq!(m.len(), 12, "torn length");
    let p = u32::from_le_bytes(m[..4].try_into().unwrap());
    let n = u32::from_le_bytes(m[4..8].try_into().unwrap());
    assert_eq!(m, &msg(p, n)[..], "torn body");
    (p, n)
}

/// `producers` threads send `per` messages each into `ring`, `consumers`
/// threads receive until every producer is gone; returns each consumer's
/// messages in arrival order.
fn run_mpmc(ring: &MpmcRing, producers: u32, consumers: usize, per: u32) -> Vec<Vec<(u32, u32)>> {
    let receivers: Vec<_> = (0..consumers).map(|_| ring.receiver().unwrap()).collect();
    let senders: Vec<_> = (0..producers).map(|_| ring.sender().unwrap()).collect();
    let readers: Vec<_> = receivers
        .into_iter()
        .map(|rx| {
            thread::spawn(move || {
                let mut got = Vec::new();
                let mut buf = Vec::new();
                loop {
                    match rx.recv_into(&mut buf) {
                        Ok(()) => got.push(parse(&buf)),
                        Err(Error::Disconnected) => return got,
                        Err(e) => panic!("recv: {e}"),
                    }
                }
            })
        })
        .collect();
    let writers: Vec<_> = senders
        .into_iter()
        .enumerate()
        .map(|(p, tx)| {
            thread::spawn(move || {
                for n in 0..per {
                    tx.send(&msg(p as u32, n)).unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    readers.into_iter().map(|r| r.join().unwrap()).collect()
}

fn assert_exactly_once(got: &[Vec<(u32, u32)>], producers: u32, per: u32) {
    let seen: Vec<AtomicU8> = (0..producers * per).map(|_| AtomicU8::new(0)).collect();
    for &(p, n) in got.iter().flatten() {
        assert!(p < producers && n < per, "unknown message ({p}, {n})");
        seen[(p * per + n) as usize].fetch_add(1, Ordering::Relaxed);
    }
    let bad = seen
        .iter()
        .position(|c| c.load(Ordering::Relaxed) != 1)
        .map(|i| (i as u32 / per, i as u32 % per));
    assert_eq!(bad, None, "a message was lost or duplicated");
}

#[test]
fn mpmc_two_slots_many_producers_one_consumer_keeps_each_producers_order() {
    let ring = MpmcRing::anonymous(&MpmcOptions::new().slots(2).slot_size(12)).unwrap();
    let (producers, per) = (4, scale(5_000));
    let got = run_mpmc(&ring, producers, 1, per);
    assert_exactly_once(&got, producers, per);
    let mut next = vec![0u32; producers as usize];
    for &(p, n) in &got[0] {
        assert_eq!(n, next[p as usize], "producer {p} out of order");
        next[p as usize] += 1;
    }
}

#[test]
fn mpmc_many_producers_many_consumers_exactly_once_with_threads() {
    let ring = MpmcRing::anonymous(&MpmcOptions::new().slots(4).slot_size(16)).unwrap();
    let (producers, consumers, per) = (3, 3, scale(5_000));
    let got = run_mpmc(&ring, producers, consumers, per);
    assert_exactly_once(&got, producers, per);
    // Each consumer sees each producer's messages in increasing order (a
    // consumer claims positions in increasing order, producers fill theirs
    // in order).
    for seq in &got {
        let mut last = vec![None::<u32>; producers as usize];
        for &(p, n) in seq {
            assert!(
                last[p as usize].is_none_or(|l| l < n),
                "order within a consumer"
            );
            last[p as usize] = Some(n);
        }
    }
}

#[test]
fn mpmc_without_spinning_every_wait_sleeps_and_is_woken() {
    // spin(0): each blocked send or receive goes straight to the futex, so
    // the sleeper flag, the barrier pair and the wake-ups carry every hand-off.
    let opts = MpmcOptions::new()
        .slots(2)
        .slot_size(12)
        .spin(Duration::ZERO);
    let ring = MpmcRing::anonymous(&opts).unwrap();
    let (producers, consumers, per) = (2, 2, scale(2_000));
    let got = run_mpmc(&ring, producers, consumers, per);
    assert_exactly_once(&got, producers, per);
}

#[test]
fn spsc_without_spinning_ping_pong_stays_in_step() {
    let opts = SpscOptions::new().capacity(64).spin(Duration::ZERO);
    let (a, b) = (
        SpscRing::anonymous(&opts).unwrap(),
        SpscRing::anonymous(&opts).unwrap(),
    );
    let (rx, tx) = (a.receiver().unwrap(), b.sender().unwrap());
    let echo = thread::spawn(move || {
        let mut buf = Vec::new();
        while rx.recv_into(&mut buf).is_ok() {
            tx.send(&buf).unwrap();
        }
    });
    let (tx, rx) = (a.sender().unwrap(), b.receiver().unwrap());
    let rounds = scale(3_000);
    for n in 0..rounds {
        // A second message in flight keeps the tiny ring full half the time.
        tx.send(&msg(0, 2 * n)).unwrap();
        tx.send(&msg(0, 2 * n + 1)).unwrap();
        assert_eq!(parse(&rx.recv().unwrap()), (0, 2 * n));
        assert_eq!(parse(&rx.recv().unwrap()), (0, 2 * n + 1));
    }
    drop(tx);
    echo.join().unwrap();
    // The echo thread dropped its sender on the way out.
    assert_eq!(rx.recv(), Err(Error::Disconnected));
}

#[test]
fn spsc_send_many_against_a_slow_reader_without_spinning() {
    let opts = SpscOptions::new().capacity(256).spin(Duration::ZERO);
    let ring = Arc::new(SpscRing::anonymous(&opts).unwrap());
    let (tx, rx) = (ring.sender().unwrap(), ring.receiver().unwrap());
    let per = scale(20_000);
    let reader = thread::spawn(move || {
        let mut n = 0u32;
        let mut buf = Vec::new();
        while rx.recv_into(&mut buf).is_ok() {
            assert_eq!(parse(&buf), (1, n));
            n += 1;
            if n % 1000 == 0 {
                thread::yield_now();
            }
        }
        n
    });
    let group: Vec<[u8; 12]> = (0..per).map(|n| msg(1, n)).collect();
    for chunk in group.chunks(37) {
        tx.send_many(chunk).unwrap();
    }
    drop(tx);
    assert_eq!(reader.join().unwrap(), per);
}
