//! Property test: random object graphs with random external handles; after
//! `collect(2)` exactly the objects unreachable from the handles are freed,
//! and every reachable object is intact (its value alive, its edges as
//! built). One oracle function, driven by proptest here (and small enough
//! to run under miri with a fixed case).

use std::{
    cell::{Cell, RefCell},
    rc::Rc,
};

use coil_gc::{Finalize, Gc, Incremental, Space, Trace};
use proptest::prelude::*;

#[derive(Trace)]
struct Node {
    id: usize,
    edges: RefCell<Vec<Gc<Node>>>,
    #[trace(skip)]
    freed: Rc<RefCell<Vec<bool>>>,
    #[trace(skip)]
    finalized: Rc<Cell<usize>>,
}

impl Drop for Node {
    fn drop(&mut self) {
        if self.id == usize::MAX {
            return;
        }
        let mut f = self.freed.borrow_mut();
        assert!(!f[self.id], "node {} dropped twice", self.id);
        f[self.id] = true;
    }
}

impl Finalize for Node {
    fn finalize(&self) {
        self.finalized.set(self.finalized.get() + 1);
    }
}

/// How the space collects before the final `collect(2)`.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Mode {
    /// Explicit collections only.
    Explicit,
    /// The generational collector, automatically at tiny thresholds.
    Auto,
    /// The incremental collector, automatically at tiny thresholds and a
    /// budget of two old objects per increment.
    Incremental,
}

/// Builds the graph, keeps `handles`, collects, and checks the outcome.
fn check_graph(
    n: usize,
    edges: &[(usize, usize)],
    handles: &[usize],
    finalized: &[usize],
    young: bool,
    steps: &[u8],
    mode: Mode,
) {
    let s = if mode == Mode::Incremental {
        Space::with_collector(Box::new(Incremental::new().with_budget(2)))
    } else {
        Space::new()
    };
    let auto = mode != Mode::Explicit;
    if auto {
        // Automatic collection only (with the skip of collections that
        // could not find anything), at tiny thresholds.
        s.set_threshold(1, 1, 1);
    } else {
        s.disable();
    }
    let freed = Rc::new(RefCell::new(vec![false; n]));
    let fin = Rc::new(Cell::new(0));
    let nodes: Vec<Gc<Node>> = (0..n)
        .map(|id| {
            let v = Node {
                id,
                edges: RefCell::new(vec![]),
                freed: freed.clone(),
                finalized: fin.clone(),
            };
            if finalized.contains(&id) {
                Gc::new_finalized_in(&s, v)
            } else {
                Gc::new_in(&s, v)
            }
        })
        .collect();
    if young {
        // Age some of them: a young collection must treat older objects'
        // references as external.
        s.collect(0).unwrap();
    }
    for &(a, b) in edges {
        nodes[a].edges.borrow_mut().push(nodes[b].clone());
    }
    let kept: Vec<Gc<Node>> = handles.iter().map(|&h| nodes[h].clone()).collect();
    drop(nodes);
    // Model: reachability from the handles.
    let mut reach = vec![false; n];
    let mut stack: Vec<usize> = handles.to_vec();
    while let Some(x) = stack.pop() {
        if !reach[x] {
            reach[x] = true;
            stack.extend(edges.iter().filter(|e| e.0 == x).map(|e| e.1));
        }
    }
    if auto {
        // Allocation alone must get every unreachable node freed (the
        // incremental collector within two passes over the old objects).
        for _ in 0..200 {
            drop(Gc::new_in(
                &s,
                Node {
                    id: usize::MAX,
                    edges: RefCell::new(vec![]),
                    freed: Rc::new(RefCell::new(vec![])),
                    finalized: fin.clone(),
                },
            ));
        }
        let f = freed.borrow();
        for i in 0..n {
            assert_eq!(f[i], !reach[i], "auto: node {i}");
        }
    }
    // Young collections (and a freeze/unfreeze) never free a reachable node.
    for (i, &g) in steps.iter().enumerate() {
        if i == 1 {
            s.freeze();
            s.collect(2).unwrap();
            s.unfreeze();
        }
        s.collect(usize::from(g % 3)).unwrap();
        let f = freed.borrow();
        for i in 0..n {
            assert!(
                !(f[i] && reach[i]),
                "reachable node {i} freed by collect({})",
                g % 3
            );
        }
    }
    s.collect(2).unwrap();
    let f = freed.borrow().clone();
    for i in 0..n {
        assert_eq!(
            f[i], !reach[i],
            "node {i}: freed={} reachable={}",
            f[i], reach[i]
        );
    }
    // Reachable nodes are intact, with their edges as built.
    let mut seen = vec![false; n];
    let mut stack: Vec<Gc<Node>> = kept.clone();
    while let Some(x) = stack.pop() {
        if seen[x.id] {
            continue;
        }
        seen[x.id] = true;
        let want: Vec<usize> = edges.iter().filter(|e| e.0 == x.id).map(|e| e.1).collect();
        let got: Vec<usize> = x.edges.borrow().iter().map(|g| g.id).collect();
        assert_eq!(got, want);
        stack.extend(x.edges.borrow().iter().cloned());
    }
    assert_eq!(seen, reach);
    drop(stack);
    drop(kept);
    s.collect(2).unwrap();
    assert!(
        freed.borrow().iter().all(|&x| x),
        "everything freed at the end"
    );
    assert_eq!(s.tracked_count(), 0);
}

/// (nodes, edges, handles, nodes with finalizers, age them first, young
/// collections to run before the full one)
type Case = (
    usize,
    Vec<(usize, usize)>,
    Vec<usize>,
    Vec<usize>,
    bool,
    Vec<u8>,
);

fn graph() -> impl Strategy<Value = Case> {
    (1usize..24).prop_flat_map(|n| {
        (
            Just(n),
            prop::collection::vec((0..n, 0..n), 0..n * 3),
            prop::collection::vec(0..n, 0..4),
            prop::collection::vec(0..n, 0..3),
            any::<bool>(),
            prop::collection::vec(any::<u8>(), 0..4),
        )
    })
}

/// 256 cases; under miri 4, and no failure file (miri isolates the file
/// system).
fn config() -> ProptestConfig {
    if cfg!(miri) {
        ProptestConfig {
            cases: 4,
            failure_persistence: None,
            ..ProptestConfig::default()
        }
    } else {
        ProptestConfig::with_cases(256)
    }
}

proptest! {
    #![proptest_config(config())]
    #[test]
    fn collect_frees_exactly_the_unreachable((n, edges, handles, fin, young, steps) in graph()) {
        check_graph(n, &edges, &handles, &fin, young, &steps, Mode::Explicit);
    }

    #[test]
    fn automatic_collection_frees_exactly_the_unreachable((n, edges, handles, fin, young, steps) in graph()) {
        check_graph(n, &edges, &handles, &fin, young, &steps, Mode::Auto);
    }

    #[test]
    fn incremental_collection_frees_exactly_the_unreachable((n, edges, handles, fin, young, steps) in graph()) {
        check_graph(n, &edges, &handles, &fin, young, &steps, Mode::Incremental);
    }
}

#[test]
fn fixed_small_graph() {
    // Two rings, one held; a tail into the held ring; a self-loop.
    check_graph(
        7,
        &[(0, 1), (1, 2), (2, 0), (3, 4), (4, 3), (5, 0), (6, 6)],
        &[1],
        &[2, 4],
        true,
        &[0, 1, 0],
        Mode::Explicit,
    );
    check_graph(
        7,
        &[(0, 1), (1, 2), (2, 0), (3, 4), (4, 3), (5, 0), (6, 6)],
        &[1],
        &[2, 4],
        true,
        &[0, 1, 0],
        Mode::Auto,
    );
    check_graph(
        7,
        &[(0, 1), (1, 2), (2, 0), (3, 4), (4, 3), (5, 0), (6, 6)],
        &[1],
        &[2, 4],
        true,
        &[0, 1, 0],
        Mode::Incremental,
    );
}
