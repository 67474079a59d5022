//! A quick timing run of the gc workloads of BENCHMARKS.md for coil alone
//! (the criterion suite in `bench/benches/gc.rs` compares the peers):
//! `cargo run --release -p coil-gc --example perf`.

use std::{cell::RefCell, time::Instant};

use coil_gc::{FullCollector, Gc, Space, Trace};

#[derive(Trace)]
struct Node {
    next: RefCell<Option<Gc<Node>>>,
}

fn rings(s: &Space, n: usize, k: usize) -> Vec<Gc<Node>> {
    let mut heads = Vec::with_capacity(n / k);
    for _ in 0..n / k {
        let first = Gc::new_in(
            s,
            Node {
                next: RefCell::new(None),
            },
        );
        let mut prev = first.clone();
        for _ in 1..k {
            let x = Gc::new_in(
                s,
                Node {
                    next: RefCell::new(None),
                },
            );
            *prev.next.borrow_mut() = Some(x.clone());
            prev = x;
        }
        *prev.next.borrow_mut() = Some(first.clone());
        heads.push(first);
    }
    heads
}

fn ns(t: Instant, n: usize) -> f64 {
    t.elapsed().as_nanos() as f64 / n as f64
}

fn main() {
    const N: usize = 1_000_000;
    let s = Space::new();
    s.disable();
    for _ in 0..3 {
        drop(rings(&s, N, 10));
        let t = Instant::now();
        let c = s.collect(2).unwrap();
        println!("dead-rings    {:6.1} ns/object ({c})", ns(t, N));
    }
    let heads = rings(&s, N, 10);
    for _ in 0..3 {
        let t = Instant::now();
        s.collect(2).unwrap();
        println!("live-graph    {:6.1} ns/object", ns(t, N));
    }
    let t = Instant::now();
    for _ in 0..100 {
        let _x = Gc::new_in(
            &s,
            Node {
                next: RefCell::new(None),
            },
        );
        s.collect(0).unwrap();
    }
    println!(
        "young-with-1M-old {:6.1} us/collection",
        t.elapsed().as_secs_f64() * 1e4
    );
    drop(heads);
    s.collect(2).unwrap();
    for _ in 0..3 {
        drop(rings(&s, N, N));
        let t = Instant::now();
        s.collect(2).unwrap();
        println!("chain-cycle   {:6.1} ns/object", ns(t, N));
    }
    let t = Instant::now();
    let mut v = Vec::with_capacity(N);
    for _ in 0..N {
        v.push(Gc::new_in(
            &s,
            Node {
                next: RefCell::new(None),
            },
        ));
    }
    println!("alloc-tracked {:6.1} ns/object", ns(t, N));
    drop(v);
    let t = Instant::now();
    let mut v = Vec::with_capacity(N);
    for _ in 0..N {
        v.push(std::rc::Rc::new(Node {
            next: RefCell::new(None),
        }));
    }
    println!("std-rc alloc  {:6.1} ns/object", ns(t, N));
    drop(v);

    for (name, sp) in [
        ("generational", Space::new()),
        (
            "full",
            Space::with_collector(Box::new(FullCollector::new())),
        ),
    ] {
        let n = 10_000_000;
        let t = Instant::now();
        for _ in 0..n {
            let a = Gc::new_in(
                &sp,
                Node {
                    next: RefCell::new(None),
                },
            );
            *a.next.borrow_mut() = Some(a.clone());
        }
        let p = sp.pause_stats();
        println!(
            "auto {name:12} {:6.1} ns/object, {:.1}% in gc, longest {:?}",
            ns(t, n),
            100.0 * p.total.as_secs_f64() / t.elapsed().as_secs_f64(),
            p.longest
        );
        drop(sp);
    }
    for (name, sp) in [
        ("generational", Space::new()),
        (
            "full",
            Space::with_collector(Box::new(FullCollector::new())),
        ),
    ] {
        let n = 10_000_000;
        let list = Gc::new_in(&sp, RefCell::new(Vec::<Gc<Node>>::new()));
        let t = Instant::now();
        for _ in 0..n {
            let a = Gc::new_in(
                &sp,
                Node {
                    next: RefCell::new(None),
                },
            );
            list.borrow_mut().push(a);
        }
        let el = t.elapsed();
        let p = sp.pause_stats();
        println!(
            "auto-kept {name:12} {:6.1} ns/object, {:.1}% in gc, longest {:?}, {} collections",
            ns(t, n),
            100.0 * p.total.as_secs_f64() / el.as_secs_f64(),
            p.longest,
            p.collections
        );
        sp.disable();
        drop(list);
        drop(sp);
    }
}
