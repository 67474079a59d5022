//! The thread-safe handle: same features as `Rc`, and multi-thread stress.
//! Iterations scale up with `COIL_STRESS=1`.

use std::{
    sync::{
        Barrier,
        atomic::{AtomicUsize, Ordering},
    },
    thread,
};

use coil_refcount::{
    Arc, Flags, finalize,
    sync::{Weak, WeakRef},
};

fn iters(normal: usize) -> usize {
    if cfg!(miri) {
        normal / 100 + 1
    } else if std::env::var_os("COIL_STRESS").is_some() {
        normal * 50
    } else {
        normal
    }
}

struct Counted(&'static AtomicUsize);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn handles_are_send_and_sync() {
    assert_send_sync::<Arc<i32>>();
    assert_send_sync::<Weak<i32>>();
    assert_send_sync::<WeakRef<i32>>();
    assert_send_sync::<coil_refcount::sync::Finalizer>();
}

#[test]
fn arc_basics_match_rc() {
    static D: AtomicUsize = AtomicUsize::new(0);
    let mut a = Arc::new(1);
    *Arc::get_mut(&mut a).unwrap() = 2;
    let b = a.clone();
    assert!(Arc::get_mut(&mut a).is_none());
    assert_eq!(Arc::strong_count(&a), 2);
    let w = Arc::downgrade(&a);
    assert_eq!(Arc::weak_count(&a), 1);
    drop(b);
    assert!(Arc::get_mut(&mut a).is_none(), "weak handle exists");
    *Arc::make_mut(&mut a) += 1;
    assert_eq!(*a, 3);
    assert!(
        w.upgrade().is_none(),
        "make_mut replaced the box; the old one died"
    );
    drop(w);
    assert_eq!(Arc::try_unwrap(a).unwrap(), 3);

    let c = Arc::new(Counted(&D));
    let p = Arc::into_raw(c);
    // SAFETY: from `Arc::into_raw` of the same type.
    let c = unsafe { Arc::from_raw(p) };
    drop(c);
    assert_eq!(D.load(Ordering::SeqCst), 1);
}

#[test]
fn arc_immortal_is_not_written() {
    let a = Arc::new_immortal(5);
    assert!(Arc::flags(&a).contains(Flags::IMMORTAL | Flags::ATOMIC));
    let before = Arc::strong_count(&a);
    let b = a.clone();
    drop(b);
    assert_eq!(Arc::strong_count(&a), before);

    // A handle cloned while the box was mortal does not write either once
    // the box is immortal.
    let m = Arc::new(6);
    let early = m.clone();
    Arc::make_immortal(&m);
    let before = Arc::strong_count(&m);
    drop(early);
    drop(m.clone());
    assert_eq!(Arc::strong_count(&m), before);
}

#[test]
fn clone_drop_from_many_threads() {
    static D: AtomicUsize = AtomicUsize::new(0);
    let a = Arc::new(Counted(&D));
    let n = iters(20_000);
    thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..n {
                    let c = a.clone();
                    let w = Arc::downgrade(&c);
                    drop(w.upgrade());
                    drop(c);
                }
            });
        }
    });
    assert_eq!(Arc::strong_count(&a), 1);
    assert_eq!(Arc::weak_count(&a), 0);
    assert_eq!(D.load(Ordering::SeqCst), 0);
    drop(a);
    assert_eq!(D.load(Ordering::SeqCst), 1);
}

/// The last strong handle is dropped on one thread while another upgrades:
/// either the upgrade wins (and then drops last) or it fails; the value is
/// dropped exactly once either way, and the callback runs exactly once.
#[test]
fn upgrade_races_with_last_drop() {
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    let rounds = iters(2_000);
    for _ in 0..rounds {
        let a = Arc::new(Counted(&DROPS));
        let w = Arc::downgrade(&a);
        let r = Weak::with_callback(&a, || {
            CALLS.fetch_add(1, Ordering::SeqCst);
        });
        let barrier = Barrier::new(2);
        thread::scope(|s| {
            s.spawn(|| {
                barrier.wait();
                drop(w.upgrade());
            });
            barrier.wait();
            drop(a);
        });
        assert!(w.upgrade().is_none());
        drop(r);
    }
    assert_eq!(DROPS.load(Ordering::SeqCst), rounds);
    assert_eq!(CALLS.load(Ordering::SeqCst), rounds);
}

/// `Finalizer::call` on one thread races with the object's death on another:
/// the hook runs exactly once.
#[test]
fn finalizer_call_races_with_death() {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let rounds = iters(2_000);
    for _ in 0..rounds {
        let a = Arc::new(0u8);
        let f = finalize(&a, || {
            RUNS.fetch_add(1, Ordering::SeqCst);
        });
        let barrier = Barrier::new(2);
        thread::scope(|s| {
            s.spawn(|| {
                barrier.wait();
                f.call();
            });
            barrier.wait();
            drop(a);
        });
        assert!(!f.alive());
    }
    assert_eq!(RUNS.load(Ordering::SeqCst), rounds);
}

/// `get_mut` on one thread while another holds only a weak handle and tries
/// to upgrade: `get_mut` may succeed only when no other handle can reach the
/// value at the same time.
#[test]
fn get_mut_is_exclusive_against_upgrade() {
    let rounds = iters(2_000);
    for _ in 0..rounds {
        let mut a = Arc::new(0u64);
        let w = Arc::downgrade(&a);
        thread::scope(|s| {
            s.spawn(move || {
                if let Some(x) = w.upgrade() {
                    assert_eq!(*x % 2, 0);
                }
            });
            if let Some(m) = Arc::get_mut(&mut a) {
                *m += 1;
                *m += 1;
            }
        });
    }
}

#[test]
fn callbacks_registered_from_many_threads_all_run() {
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    let a = Arc::new(());
    let refs: Vec<WeakRef<()>> = thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    (0..25)
                        .map(|_| {
                            Weak::with_callback(&a, || {
                                CALLS.fetch_add(1, Ordering::SeqCst);
                            })
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(Arc::header(&a).take_callbacks().len(), 100);
    // The list was taken and dropped above (cancelled): register again.
    drop(refs);
    let refs: Vec<_> = (0..10)
        .map(|_| {
            Weak::with_callback(&a, || {
                CALLS.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    thread::spawn(move || drop(a)).join().unwrap();
    assert_eq!(CALLS.load(Ordering::SeqCst), 10);
    drop(refs);
}

/// A thread-safe count overflowing past the immortal threshold aborts the
/// process; an increment that raced with `make_immortal` (count already
/// immortal, flag not yet set) does not. Runs in a child process.
#[test]
#[cfg_attr(miri, ignore = "spawns a child process")]
fn arc_count_overflow_aborts_but_immortal_race_does_not() {
    if std::env::var_os("COIL_ARC_OVERFLOW_CHILD").is_some() {
        let r = Arc::new(0u8);
        // SAFETY: deliberately setting the count as `make_immortal` does
        // before it sets the flag; the value is leaked, never freed.
        unsafe { Arc::header(&r).set_strong_atomic(coil_refcount::IMMORTAL_COUNT) };
        std::mem::forget(r.clone());
        let a = Arc::new(0u8);
        // SAFETY: deliberately corrupting the count to reach the overflow
        // check; the process aborts before the count is used.
        unsafe { Arc::header(&a).set_strong_atomic(coil_refcount::IMMORTAL_THRESHOLD - 1) };
        std::mem::forget(a.clone());
        eprintln!("race survived");
        std::mem::forget(a.clone());
        unreachable!("clone past IMMORTAL_THRESHOLD must abort");
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "arc_count_overflow_aborts_but_immortal_race_does_not",
            "--nocapture",
        ])
        .env("COIL_ARC_OVERFLOW_CHILD", "1")
        .output()
        .unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        out.status.signal(),
        Some(6),
        "expected SIGABRT, got {:?}",
        out.status
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("race survived"));
}
