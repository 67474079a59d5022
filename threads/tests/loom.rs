//! Loom models of the GIL hand-off and of the mutex-based queue engine.
//!
//! Run with `RUSTFLAGS="--cfg coil_loom" LOOM_MAX_PREEMPTIONS=2 cargo test
//! -p coil-threads --test loom --release`. Under `coil_loom` the crate's
//! `primitive` module swaps in loom's atomics, mutexes, condvars, parking and
//! thread-locals; a timed park becomes a `yield_now` (the timeout fires at
//! once, the most hostile schedule), so an untimed park that nobody ends is a
//! deadlock loom reports: a lost wake-up.
//!
//! The whole module is behind `cfg(coil_loom)` because loom's types panic
//! outside `loom::model`.
#![cfg(coil_loom)]

use std::time::Duration;

use coil_threads::{Error, Gil, LifoQueue};
use loom::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    thread,
};

/// A CPU-bound holder checkpoints; a waiter asks for a drop after its
/// interval; the holder must hand the GIL to the waiter (forced switch) and
/// get it back afterwards. A lost wake-up would be a deadlock.
#[test]
fn gil_drop_request_hands_over() {
    loom::model(|| {
        let gil = Gil::new();
        gil.set_switch_interval(Duration::from_nanos(1)).unwrap();
        let got = Arc::new(AtomicBool::new(false));
        let mut g = gil.acquire().unwrap();
        let t = {
            let gil = gil.clone();
            let got = got.clone();
            thread::spawn(move || {
                let _g = gil.acquire().unwrap();
                got.store(true, Ordering::SeqCst);
            })
        };
        while !got.load(Ordering::SeqCst) {
            g.checkpoint();
            thread::yield_now();
        }
        // The waiter ran while this thread "held" the GIL: only a forced
        // switch at a checkpoint can have let it in.
        assert!(gil.stats().forced_switches >= 1);
        assert!(gil.is_held_by_current());
        drop(g);
        t.join().unwrap();
        assert!(!gil.is_locked());
    });
}

/// Two waiters queue behind a holder that releases: both get the GIL, one
/// at a time, and the lock ends free.
#[test]
fn gil_release_wakes_every_waiter() {
    loom::model(|| {
        let gil = Gil::new();
        let inside = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicUsize::new(0));
        let g = gil.acquire().unwrap();
        let ts: Vec<_> = (0..2)
            .map(|_| {
                let gil = gil.clone();
                let inside = inside.clone();
                let done = done.clone();
                thread::spawn(move || {
                    let _g = gil.acquire().unwrap();
                    assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0);
                    inside.fetch_sub(1, Ordering::SeqCst);
                    done.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        drop(g);
        for t in ts {
            t.join().unwrap();
        }
        assert_eq!(done.load(Ordering::SeqCst), 2);
        assert!(!gil.is_locked());
    });
}

/// A waiter gives up (its deadline has passed at once) while the holder
/// releases: either it got the GIL or it left the queue cleanly, and the
/// GIL ends free either way.
#[test]
fn gil_timeout_races_release() {
    loom::model(|| {
        let gil = Gil::new();
        let g = gil.acquire().unwrap();
        let t = {
            let gil = gil.clone();
            thread::spawn(move || match gil.acquire_timeout(Duration::ZERO) {
                Ok(g) => {
                    drop(g);
                    true
                }
                Err(e) => {
                    assert_eq!(e, Error::Timeout);
                    false
                }
            })
        };
        drop(g);
        let _ = t.join().unwrap();
        assert!(!gil.is_locked());
        assert!(gil.try_acquire().is_ok());
    });
}

/// A holder releases while one waiter gives up at once and another blocks:
/// the release may find the queue emptied (or refilled) by the time it
/// takes the queue mutex. The blocking waiter always gets the GIL, nobody
/// ever shares it, and it ends free.
#[test]
fn gil_release_races_timeout_and_waiter() {
    loom::model(|| {
        let gil = Gil::new();
        let inside = Arc::new(AtomicUsize::new(0));
        let g = gil.acquire().unwrap();
        let spawn = |timed: bool| {
            let gil = gil.clone();
            let inside = inside.clone();
            thread::spawn(move || {
                let r = if timed {
                    gil.acquire_timeout(Duration::ZERO)
                } else {
                    gil.acquire()
                };
                match r {
                    Ok(_g) => {
                        assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0);
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                    Err(e) => assert!(timed && e == Error::Timeout),
                }
            })
        };
        let a = spawn(true);
        let b = spawn(false);
        drop(g);
        a.join().unwrap();
        b.join().unwrap();
        assert!(!gil.is_locked());
        assert!(gil.try_acquire().is_ok());
    });
}

/// Blocking put/get on a one-slot queue, with `task_done` and `join`: every
/// item arrives, in LIFO order within what was present, and `join` returns.
#[test]
fn queue_put_get_join() {
    loom::model(|| {
        let q = Arc::new(LifoQueue::new(1));
        let c = {
            let q = q.clone();
            thread::spawn(move || {
                let mut sum = 0;
                for _ in 0..2 {
                    sum += q.get().unwrap();
                    q.task_done().unwrap();
                }
                sum
            })
        };
        q.put(1).unwrap();
        q.put(2).unwrap();
        q.join();
        assert_eq!(c.join().unwrap(), 3);
        assert_eq!(q.task_done(), Err(Error::TooManyTaskDone));
    });
}

/// `shutdown` wakes a consumer blocked on an empty queue.
#[test]
fn queue_shutdown_wakes_getter() {
    loom::model(|| {
        let q = Arc::new(LifoQueue::<u8>::new(0));
        let c = {
            let q = q.clone();
            thread::spawn(move || q.get())
        };
        q.shutdown(false);
        assert_eq!(c.join().unwrap(), Err(Error::ShutDown));
    });
}

/// `Event::set` wakes a waiter that is about to sleep: no lost wake-up.
#[test]
fn event_set_wakes_waiter() {
    loom::model(|| {
        let e = Arc::new(coil_threads::Event::new());
        let t = {
            let e = e.clone();
            thread::spawn(move || e.wait(None))
        };
        e.set();
        assert_eq!(t.join().unwrap(), Ok(()));
    });
}

/// A `Condition` waiter re-checks its predicate under the lock and is woken
/// by `notify`, whichever runs first.
#[test]
fn condition_notify_wakes_wait_for() {
    loom::model(|| {
        let c = Arc::new(coil_threads::Condition::with_lock(coil_threads::Lock::new()));
        let ready = Arc::new(AtomicBool::new(false));
        let t = {
            let (c, ready) = (c.clone(), ready.clone());
            thread::spawn(move || {
                c.acquire();
                ready.store(true, Ordering::SeqCst);
                c.notify(1).unwrap();
                c.release().unwrap();
            })
        };
        c.acquire();
        c.wait_for(|| ready.load(Ordering::SeqCst), None).unwrap();
        c.release().unwrap();
        t.join().unwrap();
    });
}

/// A waiting thread that holds the GIL releases it, so the thread that
/// needs the GIL to set the event can run.
#[test]
fn blocking_wait_releases_gil() {
    loom::model(|| {
        let gil = Gil::new();
        let e = Arc::new(coil_threads::Event::new());
        let g = gil.acquire().unwrap();
        let t = {
            let (gil, e) = (gil.clone(), e.clone());
            thread::spawn(move || {
                let _g = gil.acquire().unwrap();
                e.set();
            })
        };
        e.wait(None).unwrap();
        assert!(gil.is_held_by_current());
        drop(g);
        t.join().unwrap();
    });
}
