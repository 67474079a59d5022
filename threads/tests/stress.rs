//! Stress tests: many threads doing random operations on the GIL and the
//! primitives, checking invariants that a race would break. Bounded in time:
//! `COIL_STRESS=1` multiplies the iterations by 20.
#![cfg(not(coil_loom))]

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use coil_threads::{
    Barrier, BoundedSemaphore, Condition, Error, Event, Gil, LifoQueue, Lock, PriorityQueue, Queue,
    RLock, Semaphore, SwitchPolicy, Thread,
};

fn scale(n: usize) -> usize {
    if std::env::var_os("COIL_STRESS").is_some() {
        n * 20
    } else {
        n
    }
}

/// A tiny xorshift generator: deterministic per thread, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn gil_random_ops_keep_mutual_exclusion() {
    for policy in [SwitchPolicy::Interval, SwitchPolicy::IoPriority] {
        let gil = Gil::with_policy(policy);
        gil.set_switch_interval(Duration::from_micros(50)).unwrap();
        let inside = Arc::new(AtomicUsize::new(0));
        let total = Arc::new(AtomicU64::new(0));
        let allows = Arc::new(AtomicU64::new(0));
        let iters = scale(2000);
        let threads: Vec<Thread> = (0..6u64)
            .map(|seed| {
                let (gil2, inside, total, allows) =
                    (gil.clone(), inside.clone(), total.clone(), allows.clone());
                let t = Thread::new(move || {
                    let mut rng = Rng(seed * 7919 + 1);
                    for _ in 0..iters {
                        let r = rng.next() % 10;
                        let mut g = if r == 0 {
                            match gil2.acquire_timeout(Duration::from_micros(20)) {
                                Ok(g) => g,
                                Err(e) => {
                                    assert_eq!(e, Error::Timeout);
                                    continue;
                                }
                            }
                        } else {
                            gil2.acquire().unwrap()
                        };
                        assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0);
                        let v = total.load(Ordering::Relaxed);
                        total.store(v + 1, Ordering::Relaxed);
                        inside.fetch_sub(1, Ordering::SeqCst);
                        match r {
                            1..=3 => g.checkpoint(),
                            4 => {
                                g.allow_threads(std::thread::yield_now);
                                allows.fetch_add(1, Ordering::Relaxed);
                            }
                            _ => {}
                        }
                        assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0);
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                });
                t.start().unwrap();
                t
            })
            .collect();
        for t in threads {
            t.join(None).unwrap();
        }
        assert!(!gil.is_locked());
        let st = gil.stats();
        // Every taking of the GIL is counted once: acquire, the return from
        // allow_threads, and the re-acquisition after a forced switch.
        let expected =
            total.load(Ordering::Relaxed) + allows.load(Ordering::Relaxed) + st.forced_switches;
        assert_eq!(st.acquisitions, expected);
    }
}

#[test]
fn primitives_under_gil_random_ops() {
    let gil = Gil::new();
    gil.set_switch_interval(Duration::from_micros(100)).unwrap();
    let lock = Arc::new(Lock::new());
    let rlock = Arc::new(RLock::new());
    let sem = Arc::new(Semaphore::new(2));
    let bsem = Arc::new(BoundedSemaphore::new(3));
    let cond = Arc::new(Condition::new());
    let event = Arc::new(Event::new());
    let counter = Arc::new(AtomicU64::new(0));
    let iters = scale(300);
    let threads: Vec<Thread> = (0..5u64)
        .map(|seed| {
            let (lock, rlock, sem, bsem, cond, event, counter) = (
                lock.clone(),
                rlock.clone(),
                sem.clone(),
                bsem.clone(),
                cond.clone(),
                event.clone(),
                counter.clone(),
            );
            let t = Thread::with_gil(&gil, move |g| {
                let mut rng = Rng(seed * 104_729 + 3);
                for _ in 0..iters {
                    g.checkpoint();
                    match rng.next() % 7 {
                        0 => {
                            lock.acquire();
                            let v = counter.load(Ordering::Relaxed);
                            g.allow_threads(std::thread::yield_now);
                            counter.store(v + 1, Ordering::Relaxed);
                            lock.release().unwrap();
                        }
                        1 => rlock.with(|| rlock.with(|| ())),
                        2 => {
                            if sem.acquire_timeout(Duration::from_millis(50)).is_ok() {
                                sem.release(1);
                            }
                        }
                        3 => {
                            bsem.acquire();
                            bsem.release(1).unwrap();
                        }
                        4 => {
                            cond.acquire();
                            let _ = cond.wait(Some(Duration::from_micros(100)));
                            cond.notify_all().unwrap();
                            cond.release().unwrap();
                        }
                        5 => {
                            event.set();
                            event.wait(None).unwrap();
                        }
                        _ => {
                            assert_eq!(rlock.release(), Err(Error::NotOwner));
                        }
                    }
                }
            });
            t.start().unwrap();
            t
        })
        .collect();
    for t in threads {
        t.join(None).unwrap();
    }
    assert!(!lock.locked());
    assert!(!rlock.locked());
    assert_eq!(sem.value(), 2);
    assert_eq!(bsem.value(), 3);
    assert_eq!(bsem.release(1), Err(Error::BoundedOverRelease));
    assert!(!gil.is_locked());
}

#[test]
fn queues_lose_nothing() {
    let n = scale(20_000) as u64;
    let q = Arc::new(Queue::new(16));
    let sum = Arc::new(AtomicU64::new(0));
    let producers: Vec<_> = (0..3)
        .map(|p| {
            let q = q.clone();
            std::thread::spawn(move || {
                for i in 0..n {
                    q.put(p * n + i).unwrap();
                }
            })
        })
        .collect();
    let consumers: Vec<_> = (0..3)
        .map(|_| {
            let (q, sum) = (q.clone(), sum.clone());
            std::thread::spawn(move || {
                loop {
                    match q.get() {
                        Ok(v) => {
                            sum.fetch_add(v, Ordering::Relaxed);
                            q.task_done().unwrap();
                        }
                        Err(e) => {
                            assert_eq!(e, Error::ShutDown);
                            return;
                        }
                    }
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    q.join();
    q.shutdown(false);
    for c in consumers {
        c.join().unwrap();
    }
    let m = 3 * n;
    assert_eq!(sum.load(Ordering::Relaxed), m * (m - 1) / 2);
    assert_eq!(q.task_done(), Err(Error::TooManyTaskDone));
}

#[test]
fn locked_queues_lose_nothing() {
    let n = scale(5_000) as u64;
    let l = Arc::new(LifoQueue::new(8));
    let p = Arc::new(PriorityQueue::new(8));
    let (l2, p2) = (l.clone(), p.clone());
    let prod = std::thread::spawn(move || {
        for i in 0..n {
            l2.put(i).unwrap();
            p2.put(i).unwrap();
        }
    });
    let (mut sl, mut sp) = (0, 0);
    for _ in 0..n {
        sl += l.get().unwrap();
        sp += p.get().unwrap();
    }
    prod.join().unwrap();
    assert_eq!(sl, n * (n - 1) / 2);
    assert_eq!(sp, sl);
}

#[test]
fn barrier_many_rounds() {
    let rounds = scale(200);
    let b = Arc::new(Barrier::new(4).unwrap());
    let hs: Vec<_> = (0..4)
        .map(|_| {
            let b = b.clone();
            std::thread::spawn(move || {
                let mut firsts = 0;
                for _ in 0..rounds {
                    if b.wait(None).unwrap() == 0 {
                        firsts += 1;
                    }
                }
                firsts
            })
        })
        .collect();
    let total: usize = hs.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(total, rounds);
}
