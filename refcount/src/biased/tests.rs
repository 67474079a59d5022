//! Tests of every path of `Brc`: owner, non-owner, queue, merge, owner exit,
//! drops during thread-local destruction, a multi-thread stress test and a
//! long chain.

use std::{
    cell::RefCell,
    sync::{
        Arc as StdArc,
        atomic::{AtomicUsize, Ordering},
        mpsc,
    },
    thread,
};

use super::{Brc, MERGE_EVERY, merge_pending};

/// Counts its drops in a shared counter.
struct Counted(StdArc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counter() -> StdArc<AtomicUsize> {
    StdArc::new(AtomicUsize::new(0))
}

fn drops(c: &StdArc<AtomicUsize>) -> usize {
    c.load(Ordering::SeqCst)
}

/// The local/shared split of a handle's box, for white-box assertions.
fn split<T>(b: &Brc<T>) -> (usize, isize, bool, bool) {
    let (s, h) = b.parts();
    (h.strong(), s.count(), s.is_queued(), s.is_merged())
}

#[test]
fn biased_owner_counts_locally() {
    let c = counter();
    let a = Brc::new(Counted(c.clone()));
    assert!(Brc::is_owned_here(&a));
    let b = a.clone();
    let d = b.clone();
    assert_eq!(split(&a), (3, 0, false, false));
    assert_eq!(Brc::strong_count(&a), 3);
    drop(b);
    drop(d);
    assert_eq!(split(&a), (1, 0, false, false));
    assert_eq!(drops(&c), 0);
    drop(a);
    assert_eq!(drops(&c), 1);
}

#[test]
fn biased_non_owner_counts_shared() {
    let c = counter();
    let a = Brc::new(Counted(c.clone()));
    thread::scope(|s| {
        s.spawn(|| {
            assert!(!Brc::is_owned_here(&a));
            let b = a.clone();
            let d = b.clone();
            assert_eq!(split(&a), (1, 2, false, false));
            drop(b);
            drop(d);
            assert_eq!(split(&a), (1, 0, false, false));
        });
    });
    assert_eq!(drops(&c), 0);
    drop(a);
    assert_eq!(drops(&c), 1);
}

#[test]
fn biased_drop_elsewhere_queues_until_owner_merges() {
    let c = counter();
    let a = Brc::new(Counted(c.clone()));
    let b = a.clone();
    // A locally counted handle dropped on another thread: the shared count
    // would go below zero, so the box is queued to its owner.
    thread::spawn(move || drop(b)).join().unwrap();
    assert_eq!(split(&a), (2, 0, true, false));
    assert_eq!(Brc::strong_count(&a), 1);
    assert_eq!(merge_pending(), 1);
    assert_eq!(split(&a), (0, 1, false, true));
    assert!(!Brc::is_owned_here(&a));
    assert_eq!(merge_pending(), 0);
    assert_eq!(drops(&c), 0);
    // Merged: the owner thread now counts atomically too.
    let d = a.clone();
    assert_eq!(split(&a), (0, 2, false, true));
    drop(d);
    drop(a);
    assert_eq!(drops(&c), 1);
}

#[test]
fn biased_only_handle_dropped_elsewhere_is_reclaimed_at_merge() {
    let c = counter();
    let a = Brc::new(Counted(c.clone()));
    thread::spawn(move || drop(a)).join().unwrap();
    // Bounded delay, not a leak: the object waits for its owner.
    assert_eq!(drops(&c), 0);
    assert_eq!(merge_pending(), 1);
    assert_eq!(drops(&c), 1);
}

#[test]
fn biased_amortised_merge_on_new() {
    let c = counter();
    let a = Brc::new(Counted(c.clone()));
    thread::spawn(move || drop(a)).join().unwrap();
    assert_eq!(drops(&c), 0);
    let news: Vec<_> = (0..MERGE_EVERY).map(Brc::new).collect();
    assert_eq!(drops(&c), 1);
    assert_eq!(merge_pending(), 0);
    drop(news);
}

#[test]
fn biased_queued_then_more_drops_elsewhere() {
    let c = counter();
    let a = Brc::new(Counted(c.clone()));
    let (b, d) = (a.clone(), a.clone());
    thread::spawn(move || {
        drop(b); // queues (shared 0 → QUEUED)
        drop(d); // QUEUED: subtracts, goes negative
    })
    .join()
    .unwrap();
    assert_eq!(split(&a), (3, -1, true, false));
    assert_eq!(Brc::strong_count(&a), 1);
    drop(a); // local 2: still alive until the merge
    assert_eq!(drops(&c), 0);
    assert_eq!(merge_pending(), 1);
    assert_eq!(drops(&c), 1);
}

#[test]
fn biased_owner_gives_up_with_shared_handles() {
    let c = counter();
    let a = Brc::new(Counted(c.clone()));
    let b = thread::scope(|s| s.spawn(|| a.clone()).join().unwrap());
    assert_eq!(split(&a), (1, 1, false, false));
    drop(a); // local reaches 0 with a shared reference left: MERGED
    assert_eq!(split(&b), (0, 1, false, true));
    assert!(!Brc::is_owned_here(&b));
    assert_eq!(drops(&c), 0);
    drop(b); // non-owner path now, even on the former owner thread
    assert_eq!(drops(&c), 1);
}

#[test]
fn biased_owner_drops_handles_made_elsewhere() {
    let c = counter();
    let a = Brc::new(Counted(c.clone()));
    let (b, d) = thread::scope(|s| s.spawn(|| (a.clone(), a.clone())).join().unwrap());
    drop(b); // owner path: local 1 → 0, gives up, shared 2
    assert!(Brc::is_merged(&a));
    drop(d);
    assert_eq!(drops(&c), 0);
    drop(a);
    assert_eq!(drops(&c), 1);
}

#[test]
fn biased_owner_exit_with_handles_alive_elsewhere() {
    let c = counter();
    let c2 = c.clone();
    let b = thread::spawn(move || {
        let a = Brc::new(Counted(c2));
        a.clone()
    })
    .join()
    .unwrap();
    // The owner exited; its remaining local count (1) is `b`.
    assert_eq!(split(&b), (1, 0, false, false));
    let d = b.clone();
    drop(d);
    assert_eq!(drops(&c), 0);
    drop(b); // shared 0 → QUEUED → owner gone → merged and freed here
    assert_eq!(drops(&c), 1);
    assert_eq!(merge_pending(), 0);
}

#[test]
fn biased_owner_exit_drains_its_queue() {
    let c = counter();
    let c2 = c.clone();
    let seen = thread::spawn(move || {
        let a = Brc::new(Counted(c2.clone()));
        thread::spawn(move || drop(a)).join().unwrap();
        drops(&c2) // still queued here
    })
    .join()
    .unwrap();
    assert_eq!(seen, 0);
    assert_eq!(drops(&c), 1); // merged at the owner's exit
}

thread_local! {
    static HELD: RefCell<Vec<Brc<Counted>>> = const { RefCell::new(Vec::new()) };
}

/// Runs at thread-local destruction: drops what `HELD` had, then creates and
/// drops new boxes (owned by no thread if the registration is already gone).
struct LateDropper(StdArc<AtomicUsize>, Vec<Brc<Counted>>);

impl Drop for LateDropper {
    fn drop(&mut self) {
        self.1.clear();
        let x = Brc::new(Counted(self.0.clone()));
        let y = x.clone();
        drop(x);
        drop(y);
    }
}

thread_local! {
    static LATE: RefCell<Option<LateDropper>> = const { RefCell::new(None) };
}

#[test]
fn biased_drops_during_thread_local_destruction() {
    let c = counter();
    let from_main = Brc::new(Counted(c.clone()));
    let keep = from_main.clone();
    let c2 = c.clone();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        // Registers this thread before the thread-locals below exist, so its
        // registration is destroyed after them or before them depending on
        // the platform's order: both orders must work.
        let own = Brc::new(Counted(c2.clone()));
        let own2 = own.clone();
        tx.send(own2).unwrap();
        HELD.with(|h| h.borrow_mut().push(own.clone()));
        LATE.with(|l| {
            *l.borrow_mut() = Some(LateDropper(c2.clone(), vec![own, from_main]));
        });
    })
    .join()
    .unwrap();
    // 1 box made in the late dropper; `own` lives on in `rx`.
    assert_eq!(drops(&c), 1);
    let own2 = rx.recv().unwrap();
    assert_eq!(Brc::strong_count(&own2), 1);
    drop(own2);
    assert_eq!(drops(&c), 2);
    assert_eq!(Brc::strong_count(&keep), 1);
    // `from_main` was counted locally here and dropped there: queued to us.
    drop(keep);
    assert_eq!(drops(&c), 2);
    assert_eq!(merge_pending(), 1);
    assert_eq!(drops(&c), 3);
}

#[test]
fn biased_new_on_exiting_thread_is_unowned() {
    struct MakeLate(StdArc<AtomicUsize>, mpsc::Sender<Brc<Counted>>);
    impl Drop for MakeLate {
        fn drop(&mut self) {
            let _ = self.1.send(Brc::new(Counted(self.0.clone())));
        }
    }
    thread_local! {
        static MK: RefCell<Option<MakeLate>> = const { RefCell::new(None) };
    }
    let c = counter();
    let (tx, rx) = mpsc::channel();
    let c2 = c.clone();
    thread::spawn(move || {
        MK.with(|m| *m.borrow_mut() = Some(MakeLate(c2, tx)));
    })
    .join()
    .unwrap();
    let b = rx.recv().unwrap();
    // The thread never registered before its thread-locals went away, or
    // registered during their destruction: either way the object lives and
    // dies once.
    let d = b.clone();
    drop(b);
    assert_eq!(drops(&c), 0);
    drop(d);
    assert_eq!(drops(&c), 1);
}

/// A small deterministic generator for the stress test.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

#[test]
fn biased_stress_clone_send_drop_across_threads() {
    const THREADS: usize = 4;
    let steps = if cfg!(miri) {
        150
    } else if std::env::var_os("COIL_STRESS").is_some() {
        200_000
    } else {
        20_000
    };
    let c = counter();
    let made = StdArc::new(AtomicUsize::new(0));
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..THREADS)
        .map(|_| mpsc::channel::<Brc<Counted>>())
        .unzip();
    // `thread::spawn` + `join`, not `thread::scope`: a scope may end before
    // its threads' thread-local destructors (where owners merge their queues)
    // have run; `join` waits for them.
    let workers: Vec<_> = rxs
        .into_iter()
        .enumerate()
        .map(|(i, rx)| {
            let txs = txs.clone();
            let (c, made) = (c.clone(), made.clone());
            thread::spawn(move || {
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1));
                let mut held: Vec<Brc<Counted>> = Vec::new();
                for _ in 0..steps {
                    while let Ok(h) = rx.try_recv() {
                        held.push(h);
                    }
                    match rng.below(6) {
                        0 => {
                            held.push(Brc::new(Counted(c.clone())));
                            made.fetch_add(1, Ordering::SeqCst);
                        }
                        1 | 2 if !held.is_empty() => {
                            let k = rng.below(held.len());
                            held.push(held[k].clone());
                        }
                        3 if !held.is_empty() => {
                            let k = rng.below(held.len());
                            let h = held.swap_remove(k);
                            if let Err(e) = txs[rng.below(THREADS)].send(h) {
                                drop(e.0);
                            }
                        }
                        4 | 5 if !held.is_empty() => {
                            let k = rng.below(held.len());
                            drop(held.swap_remove(k));
                        }
                        _ => {}
                    }
                    if held.len() > 64 {
                        held.truncate(32);
                    }
                }
                drop(held);
                drop(txs);
                // Handles still in flight to this thread are dropped with `rx`.
            })
        })
        .collect();
    drop(txs);
    for w in workers {
        w.join().unwrap();
    }
    // Every owner has exited and drained its queue; every object died once.
    assert_eq!(drops(&c), made.load(Ordering::SeqCst));
}

#[test]
fn biased_long_chain_drops_without_recursion() {
    struct Node(#[allow(dead_code)] Option<Brc<Node>>);
    let n = if cfg!(miri) { 1_000 } else { 1_000_000 };
    let mut head = Brc::new(Node(None));
    for _ in 0..n {
        head = Brc::new(Node(Some(head)));
    }
    drop(head);
}

#[test]
fn biased_long_chain_dropped_on_another_thread() {
    struct Node(#[allow(dead_code)] Option<Brc<Node>>);
    let n = if cfg!(miri) { 500 } else { 100_000 };
    let mut head = Brc::new(Node(None));
    for _ in 0..n {
        head = Brc::new(Node(Some(head)));
    }
    // Every link is queued to this thread in turn as the merges cascade.
    thread::spawn(move || drop(head)).join().unwrap();
    let mut merged = 0;
    loop {
        let m = merge_pending();
        if m == 0 {
            break;
        }
        merged += m;
    }
    assert_eq!(merged, 1);
}

#[test]
fn biased_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Brc<String>>();
}

#[test]
fn biased_try_new_in_reports_alloc_failure() {
    use allocator_api2::alloc::{AllocError, Allocator};
    use core::{alloc::Layout, ptr::NonNull};
    struct Refuse;
    // SAFETY: never hands out memory, so it has nothing to deallocate.
    unsafe impl Allocator for Refuse {
        fn allocate(&self, _: Layout) -> Result<NonNull<[u8]>, AllocError> {
            Err(AllocError)
        }
        unsafe fn deallocate(&self, _: NonNull<u8>, _: Layout) {
            unreachable!("nothing was allocated")
        }
    }
    let c = counter();
    let Err(e) = Brc::try_new_in(Counted(c.clone()), Refuse) else {
        panic!("the allocator refuses")
    };
    assert!(matches!(e, crate::Error::AllocFailed { .. }));
    assert_eq!(drops(&c), 1); // the value was dropped, not leaked
}

#[test]
fn biased_formatting_and_comparison_go_to_the_value() {
    use std::collections::HashSet;
    let a = Brc::new(String::from("x"));
    let b = Brc::new(String::from("x"));
    assert_eq!(a, b);
    assert!(!Brc::ptr_eq(&a, &b));
    assert_eq!(format!("{a} {b:?}"), "x \"x\"");
    let set: HashSet<_> = [a.clone(), b].into_iter().collect();
    assert_eq!(set.len(), 1);
    assert_eq!(&*Brc::<String>::default(), "");
}

#[test]
fn biased_panicking_destructor_during_merge_loses_nothing() {
    struct Bomb;
    impl Drop for Bomb {
        fn drop(&mut self) {
            panic!("destructor panics");
        }
    }
    let c = counter();
    let a = Brc::new(Counted(c.clone()));
    let bomb = Brc::new(Bomb);
    let b = Brc::new(Counted(c.clone()));
    // Queued in the order a, bomb, b; merged newest first: b, bomb, a.
    thread::spawn(move || {
        drop(a);
        drop(bomb);
        drop(b);
    })
    .join()
    .unwrap();
    let r = std::panic::catch_unwind(merge_pending);
    assert!(r.is_err());
    assert_eq!(drops(&c), 1); // `b` merged before the bomb
    assert_eq!(merge_pending(), 1); // `a` was put back and merges now
    assert_eq!(drops(&c), 2);
}
