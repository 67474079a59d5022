//! The global allocator running ordinary std code: collections, strings, threads,
//! cross-thread frees and thread exit with live blocks.

use std::collections::HashMap;
use std::sync::mpsc;
use std::thread;

use coil_heap::GlobalHeap;

#[global_allocator]
static A: GlobalHeap = GlobalHeap;

/// `n`, or a small fraction of it under miri.
fn scaled(n: usize) -> usize {
    if cfg!(miri) { (n / 50).max(2) } else { n }
}

#[test]
fn collections_and_strings() {
    let mut m: HashMap<String, Vec<u32>> = HashMap::new();
    let n = scaled(5_000) as u32;
    for i in 0..n {
        m.entry(format!("key{}", i % (n / 10))).or_default().push(i);
    }
    assert_eq!(m.len(), n as usize / 10);
    assert_eq!(m["key7"].len(), 10);
    let total: u64 = m.values().flat_map(|v| v.iter()).map(|&x| x as u64).sum();
    assert_eq!(total, (0..n as u64).sum());
    let mut s = String::new();
    for i in 0..scaled(1000) {
        s.push_str(&i.to_string());
    }
    assert!(s.starts_with("0123456789"));
    assert!(GlobalHeap::owns(s.as_ptr()) || s.capacity() > 512);
}

#[test]
fn cross_thread_frees_and_exit_with_live_blocks() {
    let (tx, rx) = mpsc::channel::<Vec<Box<[u8; 48]>>>();
    let producer = thread::spawn(move || {
        for round in 0..20u8 {
            let batch: Vec<Box<[u8; 48]>> =
                (0..scaled(500)).map(|_| Box::new([round; 48])).collect();
            tx.send(batch).unwrap();
        }
        // Exits with its blocks still alive in the consumer.
    });
    let mut kept = Vec::new();
    for (round, batch) in rx.iter().enumerate() {
        assert!(batch.iter().all(|b| b[47] == round as u8));
        if round % 2 == 0 {
            kept.push(batch); // freed after the producer has exited
        } // odd rounds: freed here, cross-thread
    }
    producer.join().unwrap();
    assert_eq!(kept.len(), 10);
    for (i, batch) in kept.iter().enumerate() {
        assert!(batch.iter().all(|b| b[0] == (2 * i) as u8));
    }
    drop(kept);
    // A new thread adopts an abandoned heap and drains the remote frees.
    thread::spawn(|| {
        let n = scaled(10_000) as u64;
        let v: Vec<Box<u64>> = (0..n).map(Box::new).collect();
        assert_eq!(*v[n as usize - 1], n - 1);
    })
    .join()
    .unwrap();
    GlobalHeap::trim();
}

#[test]
fn many_threads_churn() {
    let handles: Vec<_> = (0..4)
        .map(|t| {
            thread::spawn(move || {
                let mut live: Vec<Vec<u8>> = Vec::new();
                for i in 0..scaled(20_000) {
                    let n = (i * 7 + t) % 300 + 1;
                    live.push(vec![t as u8; n]);
                    if live.len() > scaled(1000) {
                        let v = live.swap_remove((i * 13) % live.len());
                        assert!(v.iter().all(|&b| b == t as u8));
                    }
                }
                live
            })
        })
        .collect();
    let results: Vec<Vec<Vec<u8>>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    for (t, live) in results.iter().enumerate() {
        assert!(live.iter().all(|v| v.iter().all(|&b| b == t as u8)));
    }
}
