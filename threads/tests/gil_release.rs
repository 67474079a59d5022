//! Every blocking call releases the calling thread's GIL while it waits.
//!
//! Each test holds a GIL on the main thread and blocks in one primitive; the
//! only thing that can unblock it is a second thread that must first take
//! the same GIL. If the blocking call kept the GIL, the test would deadlock
//! (the harness would hang rather than pass), so each wait also has a
//! generous timeout that turns a deadlock into a failed assertion.
#![cfg(not(coil_loom))]

use std::{sync::Arc, time::Duration};

use coil_threads::{
    Barrier, BoundedSemaphore, Condition, Event, Gil, LifoQueue, Lock, PriorityQueue, Queue, RLock,
    Semaphore, SimpleQueue, SwitchPolicy, Thread,
};

const LONG: Duration = Duration::from_secs(20);

/// Runs `unblock` on a thread that first needs `gil`, while the current
/// thread holds `gil` and runs `block`; checks `block`'s result and that the
/// GIL is held again afterwards.
fn check<T: Send + 'static>(
    policy: SwitchPolicy,
    unblock: impl FnOnce() + Send + 'static,
    block: impl FnOnce() -> T,
    ok: impl FnOnce(&T) -> bool,
) {
    let gil = Gil::with_policy(policy);
    let g = gil.acquire().unwrap();
    let helper = Thread::with_gil(&gil, move |_g| unblock());
    helper.start().unwrap();
    let r = block();
    assert!(ok(&r), "the blocking call did not succeed");
    assert!(gil.is_held_by_current());
    drop(g);
    helper.join(Some(LONG)).unwrap();
}

fn both(f: impl Fn(SwitchPolicy)) {
    f(SwitchPolicy::Interval);
    f(SwitchPolicy::IoPriority);
}

#[test]
fn lock_and_rlock() {
    both(|p| {
        let l = Arc::new(Lock::new());
        l.acquire();
        let l2 = l.clone();
        check(
            p,
            move || l2.release().unwrap(),
            || l.acquire_timeout(LONG),
            |r| r.is_ok(),
        );
    });
    both(|p| {
        let r = Arc::new(RLock::new());
        let (r2, held) = (r.clone(), Arc::new(Event::new()));
        let (h2, go) = (held.clone(), Arc::new(Event::new()));
        let go2 = go.clone();
        // A plain thread owns the RLock until the GIL-needing helper says so.
        let owner = std::thread::spawn(move || {
            r2.acquire();
            h2.set();
            go2.wait(None).unwrap();
            r2.release().unwrap();
        });
        held.wait(None).unwrap();
        check(
            p,
            move || go.set(),
            || r.acquire_timeout(LONG),
            |x| x.is_ok(),
        );
        owner.join().unwrap();
    });
}

#[test]
fn semaphores_event_condition() {
    both(|p| {
        let s = Arc::new(Semaphore::new(0));
        let s2 = s.clone();
        check(
            p,
            move || s2.release(1),
            || s.acquire_timeout(LONG),
            |r| r.is_ok(),
        );
    });
    both(|p| {
        let s = Arc::new(BoundedSemaphore::new(1));
        s.acquire();
        let s2 = s.clone();
        check(
            p,
            move || s2.release(1).unwrap(),
            || s.acquire_timeout(LONG),
            |r| r.is_ok(),
        );
    });
    both(|p| {
        let e = Arc::new(Event::new());
        let e2 = e.clone();
        check(p, move || e2.set(), || e.wait(Some(LONG)), |r| r.is_ok());
    });
    both(|p| {
        let c = Arc::new(Condition::new());
        let flag = Arc::new(Event::new());
        let (c2, f2) = (c.clone(), flag.clone());
        c.acquire();
        check(
            p,
            move || {
                c2.acquire();
                f2.set();
                c2.notify_all().unwrap();
                c2.release().unwrap();
            },
            || c.wait_for(|| flag.is_set(), Some(LONG)),
            |r| r.is_ok(),
        );
        c.release().unwrap();
    });
}

#[test]
fn barrier_and_join() {
    both(|p| {
        let b = Arc::new(Barrier::new(2).unwrap());
        let b2 = b.clone();
        check(
            p,
            move || {
                b2.wait(Some(LONG)).unwrap();
            },
            || b.wait(Some(LONG)),
            |r| r.is_ok(),
        );
    });
    both(|p| {
        let gate = Arc::new(Event::new());
        let g2 = gate.clone();
        let t = Thread::new(move || g2.wait(None).unwrap());
        t.start().unwrap();
        check(p, move || gate.set(), || t.join(Some(LONG)), |r| r.is_ok());
    });
}

#[test]
fn queues() {
    both(|p| {
        let q = Arc::new(Queue::new(1));
        let q2 = q.clone();
        check(
            p,
            move || q2.put(5).unwrap(),
            || q.get_timeout(LONG),
            |r| *r == Ok(5),
        );
    });
    both(|p| {
        let q = Arc::new(Queue::new(1));
        q.put(1).unwrap();
        let q2 = q.clone();
        check(
            p,
            move || {
                q2.get().unwrap();
            },
            || q.put_timeout(2, LONG).is_ok(),
            |r| *r,
        );
    });
    both(|p| {
        let q = Arc::new(Queue::new(0));
        q.put(1).unwrap();
        q.get().unwrap();
        let q2 = q.clone();
        check(p, move || q2.task_done().unwrap(), || q.join(), |_| true);
    });
    both(|p| {
        let q = Arc::new(LifoQueue::new(0));
        let q2 = q.clone();
        check(
            p,
            move || q2.put(3).unwrap(),
            || q.get_timeout(LONG),
            |r| *r == Ok(3),
        );
    });
    both(|p| {
        let q = Arc::new(PriorityQueue::new(0));
        let q2 = q.clone();
        check(
            p,
            move || q2.put(4).unwrap(),
            || q.get_timeout(LONG),
            |r| *r == Ok(4),
        );
    });
    both(|p| {
        let q = Arc::new(SimpleQueue::new());
        let q2 = q.clone();
        check(
            p,
            move || q2.put(6),
            || q.get_timeout(LONG),
            |r| *r == Ok(6),
        );
    });
}
