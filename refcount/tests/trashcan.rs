//! Destruction never recurses deeper than a constant: long chains and deep
//! trees drop without stack overflow, every value exactly once.
//!
//! Sizes: 10,000,000 in release builds; 1,000,000 in debug builds (the debug
//! build of 10M boxes takes too long for the suite budget); 2,000 under miri.
//! The drops run on a thread with a deliberately small stack (256 KiB) so that
//! any recursion proportional to the depth would fail.

use std::{
    cell::Cell,
    rc::Rc as StdRc,
    sync::atomic::{AtomicUsize, Ordering},
    thread,
};

use coil_refcount::{Arc, Rc, trashcan};

const N: usize = if cfg!(miri) {
    2_000
} else if cfg!(debug_assertions) {
    1_000_000
} else {
    10_000_000
};

fn small_stack<F: FnOnce() + Send + 'static>(f: F) {
    thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap();
}

struct Link {
    #[allow(dead_code)] // held only to be dropped
    next: Option<Rc<Link>>,
    drops: StdRc<Cell<usize>>,
}

impl Drop for Link {
    fn drop(&mut self) {
        self.drops.set(self.drops.get() + 1);
    }
}

#[test]
fn long_rc_chain_drops_in_constant_stack() {
    small_stack(|| {
        let drops = StdRc::new(Cell::new(0));
        let mut head = Rc::new(Link {
            next: None,
            drops: drops.clone(),
        });
        for _ in 1..N {
            head = Rc::new(Link {
                next: Some(head),
                drops: drops.clone(),
            });
        }
        drop(head);
        assert_eq!(drops.get(), N);
        assert_eq!(trashcan::pending(), 0);
        assert_eq!(trashcan::depth(), 0);
    });
}

struct Tree {
    #[allow(dead_code)] // held only to be dropped
    kids: Vec<Rc<Tree>>,
    drops: StdRc<Cell<usize>>,
}

impl Drop for Tree {
    fn drop(&mut self) {
        self.drops.set(self.drops.get() + 1);
    }
}

/// A tree N deep (a spine of N nodes; every fourth spine node also has a
/// leaf child, so the tree is not a plain list).
#[test]
fn deep_tree_drops_in_constant_stack() {
    small_stack(|| {
        let drops = StdRc::new(Cell::new(0));
        let leaf = |d: &StdRc<Cell<usize>>| {
            Rc::new(Tree {
                kids: Vec::new(),
                drops: d.clone(),
            })
        };
        let mut root = leaf(&drops);
        let mut nodes = 1;
        for depth in 1..N {
            let kids = if depth % 4 == 0 {
                nodes += 1;
                vec![leaf(&drops), root]
            } else {
                vec![root]
            };
            nodes += 1;
            root = Rc::new(Tree {
                kids,
                drops: drops.clone(),
            });
        }
        drop(root);
        assert_eq!(drops.get(), nodes);
        assert_eq!(trashcan::pending(), 0);
    });
}

struct ALink {
    #[allow(dead_code)] // held only to be dropped
    next: Option<Arc<ALink>>,
}

static ADROPS: AtomicUsize = AtomicUsize::new(0);

impl Drop for ALink {
    fn drop(&mut self) {
        ADROPS.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn long_arc_chain_dropped_on_another_thread() {
    let n = N / 4;
    let mut head = Arc::new(ALink { next: None });
    for _ in 1..n {
        head = Arc::new(ALink { next: Some(head) });
    }
    small_stack(move || drop(head));
    assert_eq!(ADROPS.load(Ordering::Relaxed), n);
}

/// A value whose destructor panics half-way down a chain: the panic reaches
/// the dropper, the depth counter is restored, and the rest of the chain is
/// destroyed by the next outermost destruction or by `flush`.
#[test]
fn panic_in_a_destructor_restores_the_depth() {
    struct Bomb(#[allow(dead_code)] Option<Rc<Bomb>>, bool);
    impl Drop for Bomb {
        fn drop(&mut self) {
            if self.1 {
                self.1 = false;
                panic!("destructor failure (expected by the test)");
            }
        }
    }
    let mut head = Rc::new(Bomb(None, false));
    for i in 0..200 {
        head = Rc::new(Bomb(Some(head), i == 100));
    }
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(head)));
    assert!(r.is_err());
    assert_eq!(trashcan::depth(), 0);
    trashcan::flush();
    assert_eq!(trashcan::pending(), 0);
}
