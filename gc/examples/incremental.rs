//! The incremental collector against the generational one on a growing
//! live structure with some garbage: objects appended to one live list,
//! and every tenth allocation a small garbage ring. Prints, for each
//! collector, the number of collections, the time in collections and the
//! longest pause, and checks every ring was freed.
//!
//! `cargo run --release -p coil-gc --example incremental [objects]`

use std::{
    cell::{Cell, RefCell},
    rc::Rc,
    time::Instant,
};

use coil_gc::{Collector, Gc, Generational, Incremental, Space, Trace};

#[derive(Trace)]
struct Node {
    next: RefCell<Option<Gc<Node>>>,
    #[trace(skip)]
    drops: Rc<Cell<usize>>,
}

impl Drop for Node {
    fn drop(&mut self) {
        self.drops.set(self.drops.get() + 1);
    }
}

fn node(s: &Space, drops: &Rc<Cell<usize>>) -> Gc<Node> {
    Gc::new_in(
        s,
        Node {
            next: RefCell::new(None),
            drops: drops.clone(),
        },
    )
}

fn run(collector: Box<dyn Collector>, n: usize) {
    let s = Space::with_collector(collector);
    let drops = Rc::new(Cell::new(0));
    let list = Gc::new_in(&s, RefCell::new(Vec::new()));
    let t = Instant::now();
    let mut rings = 0;
    for i in 0..n {
        list.borrow_mut().push(node(&s, &drops));
        if i % 10 == 0 {
            // A garbage pair: a -> b -> a.
            let a = node(&s, &drops);
            let b = node(&s, &drops);
            *a.next.borrow_mut() = Some(b.clone());
            *b.next.borrow_mut() = Some(a);
            rings += 1;
        }
    }
    let total = t.elapsed();
    let p = s.pause_stats();
    // What automatic collection left behind is found by a full one.
    let before = drops.get();
    s.collect(2).expect("valid generation");
    println!(
        "{:>13}: {} collections, {:.1}% of {:.0} ms in collections, longest pause {:.3} ms; \
         {} of {} garbage objects freed automatically",
        s.collector_name(),
        p.collections,
        100.0 * p.total.as_secs_f64() / total.as_secs_f64(),
        total.as_secs_f64() * 1e3,
        p.longest.as_secs_f64() * 1e3,
        before,
        2 * rings,
    );
    assert_eq!(drops.get(), 2 * rings, "every ring freed");
    drop(list);
}

fn main() {
    let n = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    run(Box::new(Generational::new()), n);
    run(Box::new(Incremental::new()), n);
}
