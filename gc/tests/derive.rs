//! `#[derive(Trace)]`: structs (named, tuple, unit), enums, generics,
//! `#[trace(skip)]`, and the compile-time `MAY_CONTAIN_GC`.

// Skipped fields are held, not read.
#![allow(dead_code)]

use std::cell::RefCell;

use coil_gc::{Gc, Space, Trace};

#[derive(Trace)]
struct Named {
    a: Gc<u8>,
    b: Vec<Gc<u16>>,
    #[trace(skip)]
    _skipped: Option<Gc<u32>>,
}

#[derive(Trace)]
struct Tuple(Gc<u8>, #[trace(skip)] Gc<u8>, (u8, Gc<u8>));

#[derive(Trace)]
struct Unit;

#[derive(Trace)]
struct Plain {
    _x: u64,
    _s: String,
}

#[derive(Trace)]
enum Shape {
    Empty,
    One(Gc<u8>),
    Two {
        a: Gc<u8>,
        b: Gc<u8>,
    },
    #[trace(skip)]
    Hidden(Gc<u8>),
}

#[derive(Trace)]
struct Generic<T> {
    items: RefCell<Vec<T>>,
}

#[test]
fn derive_visits_exactly_the_traced_fields() {
    let s = Space::new();
    let x = || Gc::new_in(&s, 1u8);
    let n = Gc::new_in(
        &s,
        Named {
            a: x(),
            b: vec![Gc::new_in(&s, 2u16), Gc::new_in(&s, 3u16)],
            _skipped: Some(Gc::new_in(&s, 4u32)),
        },
    );
    assert_eq!(Gc::to_object(&n).referents().len(), 3);
    let t = Gc::new_in(&s, Tuple(x(), x(), (0, x())));
    assert_eq!(Gc::to_object(&t).referents().len(), 2);
    let shapes = [
        (Shape::Empty, 0),
        (Shape::One(x()), 1),
        (Shape::Two { a: x(), b: x() }, 2),
        (Shape::Hidden(x()), 0),
    ];
    for (shape, want) in shapes {
        let g = Gc::new_in(&s, shape);
        assert_eq!(Gc::to_object(&g).referents().len(), want);
    }
    let g = Gc::new_in(
        &s,
        Generic {
            items: RefCell::new(vec![x(), x()]),
        },
    );
    assert_eq!(Gc::to_object(&g).referents().len(), 2);
}

#[test]
fn may_contain_gc_is_computed_from_the_fields() {
    const {
        assert!(<Named as Trace>::MAY_CONTAIN_GC);
        assert!(!<Unit as Trace>::MAY_CONTAIN_GC);
        assert!(!<Plain as Trace>::MAY_CONTAIN_GC);
        assert!(<Shape as Trace>::MAY_CONTAIN_GC);
        assert!(!<Generic<u32> as Trace>::MAY_CONTAIN_GC);
        assert!(<Generic<Gc<u32>> as Trace>::MAY_CONTAIN_GC);
    }
    let s = Space::new();
    assert!(!Gc::is_tracked(&Gc::new_in(
        &s,
        Plain {
            _x: 1,
            _s: String::new()
        }
    )));
    assert!(Gc::is_tracked(&Gc::new_in(&s, Shape::Empty)));
}

/// `#[trace(crate = "...")]` names coil-gc by another path (as a program that
/// reaches it through the `coil` facade does); here through a local re-export.
mod renamed {
    pub mod reexport {
        pub use coil_gc::*;
    }
}

#[test]
fn the_crate_attribute_names_coil_gc_by_another_path() {
    #[derive(Trace, Default)]
    #[trace(crate = "renamed::reexport")]
    struct Node(RefCell<Option<Gc<Node>>>);

    const { assert!(<Node as Trace>::MAY_CONTAIN_GC) };
    let s = Space::new();
    let a = Gc::new_in(&s, Node::default());
    let b = Gc::new_in(&s, Node::default());
    *a.0.borrow_mut() = Some(b.clone());
    *b.0.borrow_mut() = Some(a.clone());
    assert_eq!(Gc::to_object(&a).referents().len(), 1);
    drop((a, b));
    assert_eq!(s.collect(2).unwrap(), 2);
}
