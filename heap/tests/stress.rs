//! Multi-thread stress of the global allocator: threads pass blocks around a ring (so
//! most frees are cross-thread), exit with blocks still alive elsewhere, and new
//! threads adopt their heaps. `COIL_STRESS=1` runs longer.

use std::sync::mpsc;
use std::thread;

use coil_heap::GlobalHeap;

#[global_allocator]
static A: GlobalHeap = GlobalHeap;

fn rounds() -> usize {
    if cfg!(miri) {
        3
    } else if std::env::var_os("COIL_STRESS").is_some() {
        2000
    } else {
        100
    }
}

/// A block tagged with who made it, checked by whoever frees it.
struct Obj {
    tag: u64,
    data: Vec<u64>,
}

impl Obj {
    fn new(tag: u64, len: usize) -> Obj {
        Obj {
            tag,
            data: vec![tag; len],
        }
    }
    fn check(&self) {
        assert!(
            self.data.iter().all(|&x| x == self.tag),
            "block contents changed"
        );
    }
}

#[test]
fn ring_of_threads_with_cross_thread_frees() {
    let n = 4;
    let rounds = rounds();
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..n).map(|_| mpsc::channel::<Vec<Obj>>()).unzip();
    let mut handles = Vec::new();
    for (i, rx) in rxs.into_iter().enumerate() {
        let tx = txs[(i + 1) % n].clone();
        handles.push(thread::spawn(move || {
            let mut kept: Vec<Obj> = Vec::new();
            for r in 0..rounds {
                let batch: Vec<Obj> = (0..if cfg!(miri) { 10 } else { 50 })
                    .map(|k| Obj::new((i * 1_000_000 + r * 100 + k) as u64, (k * 7 + r) % 70))
                    .collect();
                if tx.send(batch).is_err() {
                    break;
                }
                if let Ok(got) = rx.recv() {
                    for (k, o) in got.into_iter().enumerate() {
                        o.check();
                        if k % 5 == 0 {
                            kept.push(o); // outlives this round; freed at thread exit or later
                        }
                    }
                }
                if kept.len() > 500 {
                    kept.drain(..250).for_each(|o| o.check());
                }
            }
            kept
        }));
    }
    drop(txs);
    let survivors: Vec<Vec<Obj>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    // Every thread has exited; their blocks are alive here and freed from this thread.
    for v in &survivors {
        v.iter().for_each(Obj::check);
    }
    drop(survivors);
    // New threads adopt the abandoned heaps and drain the remote frees.
    let again: Vec<_> = (0..n)
        .map(|t| {
            thread::spawn(move || {
                (0..if cfg!(miri) { 20 } else { 1000 })
                    .map(|k| Obj::new((t * k) as u64, 3))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for h in again {
        h.join().unwrap().iter().for_each(Obj::check);
    }
    let s = GlobalHeap::stats();
    assert!(s.heaps >= 1);
    GlobalHeap::trim();
}

#[test]
fn thread_local_destructors_may_allocate_after_the_heap_is_abandoned() {
    struct AllocOnDrop;
    impl Drop for AllocOnDrop {
        fn drop(&mut self) {
            let v: Vec<String> = (0..100).map(|i| i.to_string()).collect();
            assert_eq!(v[99], "99");
        }
    }
    thread_local! {
        static LATE: std::cell::RefCell<Option<AllocOnDrop>> = const { std::cell::RefCell::new(None) };
    }
    for _ in 0..if cfg!(miri) { 1 } else { 8 } {
        thread::spawn(|| {
            // Registered before the thread's first allocation, so this destructor runs
            // after the heap's exit guard (destructors run in reverse order).
            LATE.with(|l| *l.borrow_mut() = Some(AllocOnDrop));
            let early = vec![1u8; 100];
            drop(early);
        })
        .join()
        .unwrap();
    }
}
