//! The incremental collector (`Incremental`): the behaviours the
//! generational collector is tested for — cycles freed, reachable objects
//! intact, finalizers run once, resurrection, weak callbacks — plus what
//! is particular to increments: old garbage is found by automatic
//! increments alone (no full collection), a garbage cycle larger than the
//! step budget is freed whole (the closure), a quiet live structure is not
//! taken in with dirty seeds, and an increment is bounded by its budget.
//! Sizes shrink under miri.

use std::{
    cell::{Cell, RefCell},
    rc::Rc,
};

use coil_gc::{Finalize, Gc, Incremental, Seeds, Space, Trace, Weak};

/// A node with one optional edge and a drop counter.
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

impl Finalize for Node {
    fn finalize(&self) {}
}

fn node(s: &Space, d: &Rc<Cell<usize>>) -> Gc<Node> {
    Gc::new_in(
        s,
        Node {
            next: RefCell::new(None),
            drops: d.clone(),
        },
    )
}

fn incremental(budget: usize) -> Space {
    Space::with_collector(Box::new(Incremental::new().with_budget(budget)))
}

/// A ring of `n` nodes; returns its first node.
fn ring(s: &Space, d: &Rc<Cell<usize>>, n: usize) -> Gc<Node> {
    let first = node(s, d);
    let mut prev = first.clone();
    for _ in 1..n {
        let x = node(s, d);
        *prev.next.borrow_mut() = Some(x.clone());
        prev = x;
    }
    *prev.next.borrow_mut() = Some(first.clone());
    first
}

fn scale(n: usize) -> usize {
    if cfg!(miri) { n / 50 } else { n }
}

#[test]
fn young_cycle_freed_by_one_increment() {
    let s = incremental(10);
    s.disable();
    let d = Rc::new(Cell::new(0));
    drop(ring(&s, &d, 5));
    assert_eq!(s.collect(0).unwrap(), 5);
    assert_eq!(d.get(), 5);
    // Reported as a generation-1 collection.
    assert_eq!(s.get_stats()[1].collections, 1);
    assert_eq!(s.get_stats()[1].collected, 5);
}

#[test]
fn reachable_objects_survive_increments_intact() {
    let s = incremental(3);
    s.disable();
    let d = Rc::new(Cell::new(0));
    let held = ring(&s, &d, 20);
    for _ in 0..30 {
        assert_eq!(s.collect(1).unwrap(), 0);
    }
    assert_eq!(d.get(), 0);
    // Walk the ring: every edge as built.
    let mut x = held.clone();
    for _ in 0..20 {
        let n = x.next.borrow().clone().expect("edge intact");
        x = n;
    }
    assert!(Gc::ptr_eq(&x, &held));
    drop(x);
    drop(held);
    // Found within two passes of 20 old objects at 3 steps an increment
    // (and the closure's work paid back).
    for _ in 0..60 {
        s.collect(1).unwrap();
    }
    assert_eq!(d.get(), 20);
    assert_eq!(s.tracked_count(), 0);
}

#[test]
fn old_garbage_found_by_automatic_increments_alone() {
    let s = incremental(50);
    s.set_threshold(scale(100), 10, 10);
    let d = Rc::new(Cell::new(0));
    // Live old objects, and old rings that become garbage later.
    let live: Vec<_> = (0..scale(2000)).map(|_| node(&s, &d)).collect();
    let rings: Vec<_> = (0..10).map(|_| ring(&s, &d, 7)).collect();
    s.collect(2).unwrap();
    assert_eq!(d.get(), 0);
    drop(rings);
    let full_before = s.get_stats()[2].collections;
    let filler = Rc::new(Cell::new(0));
    // Two passes over ~2070 old objects at 50 steps per 100 allocations.
    for _ in 0..scale(10_000) {
        drop(node(&s, &filler));
    }
    assert_eq!(d.get(), 70, "every old ring freed");
    assert_eq!(
        s.get_stats()[2].collections,
        full_before,
        "no full collection"
    );
    assert!(s.get_stats()[1].collections > 0);
    drop(live);
}

#[test]
fn cycle_larger_than_the_budget_is_freed_whole() {
    let s = incremental(1);
    s.disable();
    let d = Rc::new(Cell::new(0));
    let n = scale(10_000);
    let first = ring(&s, &d, n);
    s.collect(2).unwrap();
    drop(first);
    // One step takes in the dirty first node; the closure brings the rest.
    let mut found = 0;
    for _ in 0..3 {
        found += s.collect(1).unwrap();
    }
    assert_eq!(found, n);
    assert_eq!(d.get(), n);
}

/// A list that counts how often the collector traces it.
struct Counted {
    items: RefCell<Vec<Gc<Node>>>,
    traces: Rc<Cell<usize>>,
}

// SAFETY: visits every `Gc` the value owns (the items).
unsafe impl Trace for Counted {
    fn trace(&self, v: &mut coil_gc::Visitor<'_>) {
        self.traces.set(self.traces.get() + 1);
        self.items.trace(v);
    }
}

#[test]
fn quiet_live_structure_is_not_taken_in() {
    // A live list nobody drops references into: with dirty seeds the
    // increments never trace it; with all seeds they do (and free nothing).
    for seeds in [Seeds::Dirty, Seeds::All] {
        let s = Space::with_collector(Box::new(
            Incremental::new().with_budget(10_000).with_seeds(seeds),
        ));
        s.disable();
        let d = Rc::new(Cell::new(0));
        let traces = Rc::new(Cell::new(0));
        let list = Gc::new_in(
            &s,
            Counted {
                items: RefCell::new(Vec::new()),
                traces: traces.clone(),
            },
        );
        for _ in 0..scale(1000) {
            list.items.borrow_mut().push(node(&s, &d));
        }
        s.collect(2).unwrap();
        traces.set(0);
        for _ in 0..4 {
            assert_eq!(s.collect(1).unwrap(), 0);
        }
        assert_eq!(d.get(), 0);
        assert_eq!(list.items.borrow().len(), scale(1000));
        if seeds == Seeds::Dirty {
            assert_eq!(traces.get(), 0, "quiet list traced");
            assert_eq!(s.collector_name(), "incremental");
        } else {
            assert!(traces.get() > 0, "all seeds: the list is taken in");
            assert_eq!(s.collector_name(), "incremental-all");
        }
        // Once it loses a reference, it is taken in.
        drop(list.clone());
        for _ in 0..2 {
            s.collect(1).unwrap();
        }
        assert!(traces.get() > 0);
    }
}

#[test]
fn finalizers_run_once_and_resurrection_survives() {
    thread_local! {
        static SAVED: RefCell<Option<Gc<Phoenix>>> = const { RefCell::new(None) };
    }
    #[derive(Trace)]
    struct Phoenix {
        me: RefCell<Option<Gc<Phoenix>>>,
        #[trace(skip)]
        runs: Rc<Cell<usize>>,
        #[trace(skip)]
        drops: Rc<Cell<usize>>,
    }
    impl Finalize for Phoenix {
        fn finalize(&self) {
            self.runs.set(self.runs.get() + 1);
            // Resurrect: a new strong reference from outside the garbage.
            let me = self.me.borrow().clone();
            SAVED.with(|s| *s.borrow_mut() = me);
        }
    }
    impl Drop for Phoenix {
        fn drop(&mut self) {
            self.drops.set(self.drops.get() + 1);
        }
    }
    let s = incremental(4);
    s.disable();
    let runs = Rc::new(Cell::new(0));
    let drops = Rc::new(Cell::new(0));
    let p = Gc::new_finalized_in(
        &s,
        Phoenix {
            me: RefCell::new(None),
            runs: runs.clone(),
            drops: drops.clone(),
        },
    );
    *p.me.borrow_mut() = Some(p.clone());
    s.collect(2).unwrap();
    drop(p);
    // Resurrected: nothing is left unreachable once the finalizer ran.
    assert_eq!(s.collect(1).unwrap(), 0);
    assert_eq!(runs.get(), 1);
    assert_eq!(drops.get(), 0, "resurrected: not freed");
    let back = SAVED.with(|s| s.borrow_mut().take()).expect("resurrected");
    assert!(Gc::is_finalized(&back));
    drop(back);
    // Garbage again: freed this time, the finalizer does not run twice.
    for _ in 0..4 {
        s.collect(1).unwrap();
    }
    assert_eq!(runs.get(), 1);
    assert_eq!(drops.get(), 1);
}

#[test]
fn finalized_node_cycle_freed() {
    let s = incremental(2);
    s.disable();
    let d = Rc::new(Cell::new(0));
    let a = Gc::new_finalized_in(
        &s,
        Node {
            next: RefCell::new(None),
            drops: d.clone(),
        },
    );
    let b = node(&s, &d);
    *a.next.borrow_mut() = Some(b.clone());
    *b.next.borrow_mut() = Some(a.clone());
    drop((a, b));
    assert_eq!(s.collect(1).unwrap(), 2);
    assert_eq!(d.get(), 2);
}

#[test]
fn weak_references_cleared_and_surviving_callbacks_run() {
    let s = incremental(2);
    s.disable();
    let d = Rc::new(Cell::new(0));
    let fired = Rc::new(Cell::new(0));
    let a = ring(&s, &d, 3);
    s.collect(2).unwrap(); // old
    let f = fired.clone();
    let w = Weak::with_callback(&a, move || f.set(f.get() + 1));
    let plain = Gc::downgrade(&a);
    drop(a);
    let mut found = 0;
    for _ in 0..4 {
        found += s.collect(1).unwrap();
    }
    assert_eq!(found, 3);
    assert_eq!(fired.get(), 1);
    assert!(plain.upgrade().is_none());
    assert!(!w.is_alive());
}

#[test]
fn full_collection_still_available() {
    let s = incremental(1);
    s.disable();
    let d = Rc::new(Cell::new(0));
    for _ in 0..5 {
        drop(ring(&s, &d, 4));
    }
    assert_eq!(s.collect(2).unwrap(), 20);
    assert_eq!(s.get_stats()[2].collections, 1);
    assert!(s.collect(3).is_err());
}

#[test]
fn no_new_pass_until_something_loses_a_reference() {
    let s = Space::new();
    s.disable();
    let d = Rc::new(Cell::new(0));
    let keep: Vec<_> = (0..10).map(|_| node(&s, &d)).collect();
    s.collect(2).unwrap(); // all old and clean; a pass starts
    // The pass steps over the ten objects...
    let first = s.run_increment(100, Seeds::Dirty);
    assert_eq!((first.stepped, first.taken), (10, 0));
    // ...and with no decref since, no new pass starts: nothing to step.
    let idle = s.run_increment(100, Seeds::Dirty);
    assert_eq!((idle.stepped, idle.pass_done), (0, false));
    // All seeds always start a new pass.
    let all = s.run_increment(100, Seeds::All);
    assert!(all.pass_done);
    assert_eq!((all.stepped, all.taken), (10, 10));
    // A decref starts a new pass, which takes the dirty object in.
    drop(keep[3].clone());
    let next = s.run_increment(100, Seeds::Dirty);
    assert!(next.pass_done);
    assert_eq!((next.stepped, next.taken), (10, 1));
    assert_eq!(d.get(), 0);
    drop(keep);
    assert_eq!(d.get(), 10);
}
