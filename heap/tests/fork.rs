//! fork() with live blocks in several threads: the child can read, free and allocate,
//! start threads, and trace; nothing deadlocks. Each case forks its own child.

use std::sync::{Arc, Barrier, mpsc};
use std::thread;

use coil_heap::GlobalHeap;

#[global_allocator]
static A: GlobalHeap = GlobalHeap;

/// Runs `child` in a forked child process and asserts it exits with status 0.
fn in_child(child: impl FnOnce() -> bool) {
    // SAFETY: the child only runs `child` and then `_exit`s.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(child)).unwrap_or(false);
        // SAFETY: leaving the child without running the parent's atexit handlers.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(rc, pid);
    assert!(libc::WIFEXITED(status), "child died: status {status}");
    assert_eq!(libc::WEXITSTATUS(status), 0, "child reported failure");
}

#[test]
#[cfg_attr(miri, ignore = "miri does not support fork")]
fn fork_with_live_blocks_in_several_threads() {
    let threads = 3;
    let barrier = Arc::new(Barrier::new(threads + 1));
    let (tx, rx) = mpsc::channel::<Vec<Box<[u64; 6]>>>();
    let stop = Arc::new(Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (barrier, stop, tx) = (barrier.clone(), stop.clone(), tx.clone());
            thread::spawn(move || {
                let mine: Vec<Box<[u64; 6]>> = (0..2000)
                    .map(|i| Box::new([t as u64 * 10_000 + i; 6]))
                    .collect();
                tx.send(mine).unwrap();
                // Keep allocating while the main thread forks.
                let churn: Vec<String> = (0..500).map(|i| i.to_string()).collect();
                barrier.wait();
                stop.wait();
                churn.len()
            })
        })
        .collect();
    drop(tx);
    let batches: Vec<Vec<Box<[u64; 6]>>> = (0..threads).map(|_| rx.recv().unwrap()).collect();
    barrier.wait();
    in_child(move || {
        // Blocks of every parent thread are intact and can be freed here.
        let mut seen = [false; 3];
        for batch in &batches {
            let t = (batch[0][0] / 10_000) as usize;
            seen[t] = true;
            for (i, b) in batch.iter().enumerate() {
                if b.iter().any(|&x| x != t as u64 * 10_000 + i as u64) {
                    return false;
                }
            }
        }
        drop(batches);
        // Allocation still works, including new threads and cross-thread frees.
        let v: Vec<Box<u32>> = (0..10_000).map(Box::new).collect();
        let h = thread::spawn(move || v.iter().map(|b| **b as u64).sum::<u64>());
        let sum = h.join().unwrap();
        coil_heap::trace::start(1).unwrap();
        let s: String = (0..100).map(|i| i.to_string()).collect();
        coil_heap::trace::stop();
        GlobalHeap::trim();
        seen == [true; 3]
            && sum == (0..10_000u64).sum::<u64>()
            && !s.is_empty()
            && GlobalHeap::stats().heaps >= 1
    });
    stop.wait();
    for h in handles {
        assert_eq!(h.join().unwrap(), 500);
    }
}
