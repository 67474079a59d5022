//! The seed documents' code cells about threads, reproduced.
#![cfg(not(coil_loom))]

use std::sync::{Arc, Mutex};

use coil_threads::{Gil, Local, Queue, Thread};

/// Seed 000, "Example: Multithreading": a `task()` printing "Task is
/// running", run on a thread that is started and joined.
#[test]
fn seed_000_multithreading() {
    let out = Arc::new(Mutex::new(Vec::<String>::new()));
    let o2 = out.clone();
    let task = move || {
        let line = "Task is running".to_string();
        println!("{line}");
        o2.lock().unwrap().push(line);
    };
    let thread = Thread::new(task);
    thread.start().unwrap();
    thread.join(None).unwrap();
    assert_eq!(*out.lock().unwrap(), vec!["Task is running".to_string()]);
    assert!(!thread.is_alive());
}

/// Seed 000 again, the way an interpreter runs it: the thread runs holding
/// the GIL, as every Python thread does.
#[test]
fn seed_000_under_a_gil() {
    let gil = Gil::new();
    let out = Arc::new(Mutex::new(String::new()));
    let o2 = out.clone();
    let thread = Thread::with_gil(&gil, move |g| {
        g.checkpoint();
        *o2.lock().unwrap() = "Task is running".into();
    });
    thread.start().unwrap();
    thread.join(None).unwrap();
    assert_eq!(*out.lock().unwrap(), "Task is running");
    assert_eq!(gil.stats().acquisitions, 1);
}

/// Seed 001, "Use Thread-local Data" and "Minimize Shared Data": each thread
/// keeps its own `threading.local` value and hands results over through a
/// thread-safe `queue.Queue`.
#[test]
fn seed_001_local_and_queue() {
    let local = Arc::new(Local::new(|| 0u64));
    let q = Arc::new(Queue::new(0));
    let ts: Vec<Thread> = (1..=3u64)
        .map(|k| {
            let (local, q) = (local.clone(), q.clone());
            Thread::new(move || {
                for _ in 0..k {
                    local.with(|v| *v += k).unwrap();
                }
                q.put(local.with(|v| *v).unwrap()).unwrap();
            })
        })
        .collect();
    for t in &ts {
        t.start().unwrap();
    }
    for t in &ts {
        t.join(None).unwrap();
    }
    let mut got: Vec<u64> = (0..3).map(|_| q.get().unwrap()).collect();
    got.sort();
    assert_eq!(got, vec![1, 4, 9]);
    // The main thread's own value was never touched.
    assert_eq!(local.with(|v| *v).unwrap(), 0);
}
