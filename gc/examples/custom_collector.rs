//! A custom collector written with the public API only: a "budget"
//! collector that collects the young generation at every threshold, and
//! everything once the time spent collecting falls below a target share of
//! the run (so a program that allocates a large live structure pays at most
//! about `max_share` of its time in full collections).
//!
//! `cargo run -p coil-gc --example custom_collector`

use std::{cell::RefCell, time::Instant};

use coil_gc::{Collector, Gc, Space, Trace};

/// Collects generation 0 at every threshold; a full collection only when
/// the collector's share of the elapsed time is under `max_share`.
struct Budget {
    start: Instant,
    max_share: f64,
    full: usize,
    young: usize,
}

impl Collector for Budget {
    fn name(&self) -> &'static str {
        "budget"
    }

    fn on_threshold(&mut self, space: &Space) -> Option<usize> {
        let spent = space.pause_stats().total.as_secs_f64();
        let elapsed = self.start.elapsed().as_secs_f64();
        let (_, c1, _) = space.get_count();
        if c1 > space.get_threshold().1 && spent < self.max_share * elapsed {
            Some(2)
        } else {
            Some(0)
        }
    }

    fn collect(&mut self, space: &Space, generation: usize) -> usize {
        if generation == 2 {
            self.full += 1;
        } else {
            self.young += 1;
        }
        space.run_collection(generation)
    }
}

#[derive(Trace)]
struct Node {
    next: RefCell<Option<Gc<Node>>>,
}

fn main() {
    let space = Space::with_collector(Box::new(Budget {
        start: Instant::now(),
        max_share: 0.05,
        full: 0,
        young: 0,
    }));
    assert_eq!(space.collector_name(), "budget");
    // Garbage cycles, collected automatically...
    for _ in 0..100_000 {
        let a = Gc::new_in(
            &space,
            Node {
                next: RefCell::new(None),
            },
        );
        let b = Gc::new_in(
            &space,
            Node {
                next: RefCell::new(Some(a.clone())),
            },
        );
        *a.next.borrow_mut() = Some(b);
    }
    // ...and a live list that grows.
    let live = Gc::new_in(&space, RefCell::new(Vec::new()));
    for _ in 0..100_000 {
        live.borrow_mut().push(Gc::new_in(
            &space,
            Node {
                next: RefCell::new(None),
            },
        ));
    }
    let stats = space.get_stats();
    let freed: usize = stats.iter().map(|s| s.collected).sum();
    let pauses = space.pause_stats();
    println!(
        "collections per generation: {:?}; freed {freed} objects; {:?} in {} collections (longest {:?})",
        stats.map(|s| s.collections),
        pauses.total,
        pauses.collections,
        pauses.longest
    );
    assert!(
        freed > 150_000,
        "the young collections freed the garbage cycles"
    );
    drop(live);
    space.collect(2).unwrap();
}
