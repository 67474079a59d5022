//! `SharedValue` / `SharedArray`: cross-process locking, robust recovery,
//! atomics in place, bad input.

mod common;

use std::{
    sync::atomic::Ordering,
    time::{Duration, Instant},
};

use coil_shm::{Error, SharedArray, SharedValue};
use common::{fork_child, kill_and_reap, unique, wait};

fn stress() -> bool {
    std::env::var_os("COIL_STRESS").is_some()
}

#[test]
fn children_increment_under_lock_total_is_exact() {
    let v = SharedValue::anonymous(0u64).unwrap();
    let (kids, per) = if stress() { (8, 20_000) } else { (4, 2_000) };
    let pids: Vec<_> = (0..kids)
        .map(|_| {
            fork_child(|| {
                for _ in 0..per {
                    let mut g = v.lock().unwrap();
                    // A non-atomic read-modify-write with a yield in the middle:
                    // only the lock keeps it exact.
                    let x = *g;
                    std::hint::spin_loop();
                    *g = x + 1;
                }
                0
            })
        })
        .collect();
    for p in pids {
        assert_eq!(wait(p), 0);
    }
    assert_eq!(v.get().unwrap(), kids * per);
}

#[test]
fn atomics_in_place_across_processes() {
    let a = SharedArray::anonymous(&[0u32; 4]).unwrap();
    let pids: Vec<_> = (0..3)
        .map(|_| {
            fork_child(|| {
                for _ in 0..1000 {
                    a.atomic(3).unwrap().fetch_add(1, Ordering::SeqCst);
                }
                0
            })
        })
        .collect();
    for p in pids {
        assert_eq!(wait(p), 0);
    }
    assert_eq!(a.get(3).unwrap(), 3000);
    assert_eq!(a.to_vec().unwrap(), vec![0, 0, 0, 3000]);
}

/// A child takes the lock, flags that it holds it, and waits to be killed.
fn child_holding_lock(v: &SharedValue<u64>, flag: &SharedValue<u32>) -> libc::pid_t {
    let pid = fork_child(|| {
        let mut g = v.lock().unwrap();
        *g = 999; // half-done update
        flag.atomic().store(1, Ordering::SeqCst);
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    let start = Instant::now();
    while flag.atomic().load(Ordering::SeqCst) == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "child never took the lock"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    pid
}

#[test]
fn killed_lock_holder_is_reported_and_recoverable() {
    let v = SharedValue::anonymous(5u64).unwrap();
    let flag = SharedValue::anonymous(0u32).unwrap();
    let pid = child_holding_lock(&v, &flag);
    assert!(matches!(
        v.lock_timeout(Duration::from_millis(20)),
        Err(Error::Timeout)
    ));
    assert_eq!(kill_and_reap(pid), -libc::SIGKILL);
    {
        let mut g = v.lock().unwrap();
        assert!(g.owner_died(), "next locker must learn the holder died");
        assert_eq!(*g, 999, "the half-done update is visible for repair");
        *g = 5;
        g.mark_consistent();
    }
    let g = v.lock().unwrap();
    assert!(!g.owner_died());
    assert_eq!(*g, 5);
}

#[test]
fn unrepaired_owner_death_makes_lock_unrecoverable() {
    let v = SharedValue::anonymous(0u64).unwrap();
    let flag = SharedValue::anonymous(0u32).unwrap();
    let pid = child_holding_lock(&v, &flag);
    kill_and_reap(pid);
    {
        let g = v.lock().unwrap();
        assert!(g.owner_died());
        // dropped without mark_consistent
    }
    assert!(matches!(v.lock(), Err(Error::LockUnrecoverable)));
    assert!(matches!(v.get(), Err(Error::LockUnrecoverable)));
}

#[test]
fn get_set_recover_an_owner_death_on_their_own() {
    let v = SharedValue::anonymous(0u64).unwrap();
    let flag = SharedValue::anonymous(0u32).unwrap();
    let pid = child_holding_lock(&v, &flag);
    kill_and_reap(pid);
    assert_eq!(v.get().unwrap(), 999);
    v.set(1).unwrap();
    assert!(!v.lock().unwrap().owner_died());
}

#[test]
fn relocking_on_same_thread_is_an_error_not_a_hang() {
    let v = SharedValue::anonymous(0u8).unwrap();
    let _g = v.lock().unwrap();
    assert!(matches!(v.lock(), Err(Error::WouldDeadlock)));
    assert!(matches!(v.get(), Err(Error::WouldDeadlock)));
}

#[test]
fn named_value_and_array_across_processes() {
    let vn = unique("val");
    let an = unique("arr");
    let v = SharedValue::create(&vn, [0u8; 3]).unwrap();
    let a = SharedArray::create(&an, &[0i64; 10]).unwrap();
    let (vn2, an2) = (vn.clone(), an.clone());
    let pid = fork_child(move || {
        let v = SharedValue::<[u8; 3]>::open(&vn2).unwrap();
        let a = SharedArray::<i64>::open(&an2).unwrap();
        v.set([1, 2, 3]).unwrap();
        for i in 0..10 {
            a.set(i, -(i as i64)).unwrap();
        }
        0
    });
    assert_eq!(wait(pid), 0);
    assert_eq!(v.get().unwrap(), [1, 2, 3]);
    assert_eq!(
        a.to_vec().unwrap(),
        (0..10).map(|i| -i).collect::<Vec<i64>>()
    );
    v.segment().unlink().unwrap();
    a.segment().unlink().unwrap();
}

#[test]
fn bad_input_is_typed() {
    let an = unique("arrbad");
    let a = SharedArray::create(&an, &[0u32; 4]).unwrap();
    assert_eq!(
        a.get(4).unwrap_err(),
        Error::OutOfBounds { index: 4, len: 4 }
    );
    assert_eq!(
        a.set(usize::MAX, 1).unwrap_err(),
        Error::OutOfBounds {
            index: usize::MAX,
            len: 4
        }
    );
    assert!(matches!(a.atomic(9), Err(Error::OutOfBounds { .. })));
    assert!(matches!(
        SharedArray::<u64>::open(&an),
        Err(Error::Incompatible(_))
    ));
    assert!(matches!(
        SharedValue::<u32>::open(&an),
        Err(Error::Incompatible(_))
    ));
    assert!(matches!(
        SharedArray::<u8>::anonymous(&[]),
        Err(Error::InvalidSize { .. })
    ));
    assert!(matches!(
        SharedValue::<u8>::open(&unique("missing")),
        Err(Error::NotFound(_))
    ));
    // A plain segment that was never initialised as a value.
    let pn = unique("plain");
    let plain = coil_shm::SharedMemory::create(&pn, 4096).unwrap();
    assert!(matches!(
        SharedValue::<u8>::open(&pn),
        Err(Error::Incompatible(_))
    ));
    plain.unlink().unwrap();
    a.segment().unlink().unwrap();
}
