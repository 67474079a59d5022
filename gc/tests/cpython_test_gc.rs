//! Ports of CPython's `Lib/test/test_gc.py` (3.11) behaviours, in Rust terms.
//!
//! Provenance: the test names and what each checks follow CPython's test
//! suite (Python Software Foundation, PSF license); the code is written
//! anew for coil-gc. Python lists/dicts/instances become `Gc` values holding
//! `Vec`/`HashMap`/boxed trait objects; `__del__` becomes [`Finalize`];
//! every test asserts which objects were freed with drop counters, not only
//! that nothing crashed. Each test uses its own [`Space`] so counts are
//! exact. Sizes shrink under miri.

// Drop tokens are held only for their `Drop`.
#![allow(dead_code)]

use std::{
    cell::{Cell, RefCell},
    collections::HashMap,
    rc::Rc,
};

use coil_gc::{DebugFlags, Finalize, Gc, Object, Phase, Space, Trace, TraceDyn, Visitor, Weak};

/// Counts drops of the values that hold one.
#[derive(Clone, Default)]
struct Drops(Rc<Cell<usize>>);

impl Drops {
    fn token(&self) -> Token {
        Token(self.0.clone())
    }
    fn get(&self) -> usize {
        self.0.get()
    }
}

struct Token(Rc<Cell<usize>>);

impl Drop for Token {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// A Python-list-like node: a vector of references and a drop token.
#[derive(Trace)]
struct List {
    items: RefCell<Vec<Gc<List>>>,
    #[trace(skip)]
    _t: Token,
}

fn list(s: &Space, d: &Drops) -> Gc<List> {
    Gc::new_in(
        s,
        List {
            items: RefCell::new(Vec::new()),
            _t: d.token(),
        },
    )
}

fn append(a: &Gc<List>, b: &Gc<List>) {
    a.items.borrow_mut().push(b.clone());
}

#[test]
fn test_list() {
    // l = []; l.append(l); del l; gc.collect() == 1
    let s = Space::new();
    let d = Drops::default();
    let l = list(&s, &d);
    append(&l, &l);
    drop(l);
    assert_eq!(d.get(), 0);
    assert_eq!(s.collect(2).unwrap(), 1);
    assert_eq!(d.get(), 1);
}

#[derive(Trace)]
struct Dict {
    map: RefCell<HashMap<u32, Gc<Dict>>>,
    #[trace(skip)]
    _t: Token,
}

#[test]
fn test_dict() {
    // d = {}; d[1] = d; del d; gc.collect() == 1
    let s = Space::new();
    let drops = Drops::default();
    let d = Gc::new_in(
        &s,
        Dict {
            map: RefCell::new(HashMap::new()),
            _t: drops.token(),
        },
    );
    d.map.borrow_mut().insert(1, d.clone());
    drop(d);
    assert_eq!(s.collect(2).unwrap(), 1);
    assert_eq!(drops.get(), 1);
}

#[test]
fn test_tuple() {
    // l = []; t = (l,); l.append(t); del t, l; gc.collect() == 2
    #[derive(Trace)]
    struct ListT(RefCell<Vec<Gc<TupleL>>>, #[trace(skip)] Token);
    #[derive(Trace)]
    struct TupleL((Gc<ListT>,), #[trace(skip)] Token);
    let s = Space::new();
    let d = Drops::default();
    let l = Gc::new_in(&s, ListT(RefCell::new(vec![]), d.token()));
    let t = Gc::new_in(&s, TupleL((l.clone(),), d.token()));
    l.0.borrow_mut().push(t);
    drop(l);
    assert_eq!(d.get(), 0);
    assert_eq!(s.collect(2).unwrap(), 2);
    assert_eq!(d.get(), 2);
}

/// A "class instance" with a dynamic attribute: a boxed trait object.
trait Attr: TraceDyn {}
// SAFETY: forwards to the concrete value's Trace impl.
unsafe impl Trace for dyn Attr {
    fn trace(&self, v: &mut Visitor<'_>) {
        self.trace_dyn(v)
    }
}

#[derive(Trace)]
struct Instance {
    attr: RefCell<Option<Box<dyn Attr>>>,
    #[trace(skip)]
    _t: Token,
}
impl Attr for Gc<Instance> {}

#[test]
fn test_instance() {
    // class A: pass; a = A(); a.a = a; del a; gc.collect() == 1
    let s = Space::new();
    let d = Drops::default();
    let a = Gc::new_in(
        &s,
        Instance {
            attr: RefCell::new(None),
            _t: d.token(),
        },
    );
    *a.attr.borrow_mut() = Some(Box::new(a.clone()));
    drop(a);
    assert_eq!(s.collect(2).unwrap(), 1);
    assert_eq!(d.get(), 1);
}

#[test]
fn test_newinstance() {
    // Two instances through boxed trait objects: a.b = b; b.a = a.
    let s = Space::new();
    let d = Drops::default();
    let mk = || {
        Gc::new_in(
            &s,
            Instance {
                attr: RefCell::new(None),
                _t: d.token(),
            },
        )
    };
    let (a, b) = (mk(), mk());
    *a.attr.borrow_mut() = Some(Box::new(b.clone()));
    *b.attr.borrow_mut() = Some(Box::new(a.clone()));
    drop((a, b));
    assert_eq!(s.collect(2).unwrap(), 2);
    assert_eq!(d.get(), 2);
}

/// `__del__` recorder.
#[derive(Trace)]
struct Del {
    other: RefCell<Option<Gc<Del>>>,
    #[trace(skip)]
    log: Rc<RefCell<Vec<&'static str>>>,
    #[trace(skip)]
    name: &'static str,
    #[trace(skip)]
    _t: Token,
}

impl Finalize for Del {
    fn finalize(&self) {
        self.log.borrow_mut().push(self.name);
    }
}

#[test]
fn test_legacy_finalizer() {
    // A cycle holding an object with a legacy finalizer (tp_del) is
    // uncollectable: it goes to gc.garbage, nothing is freed.
    let s = Space::new();
    let d = Drops::default();
    let log = Rc::new(RefCell::new(vec![]));
    let a = Gc::new_legacy_in(
        &s,
        Del {
            other: RefCell::new(None),
            log: log.clone(),
            name: "a",
            _t: d.token(),
        },
    );
    let b = Gc::new_in(
        &s,
        Del {
            other: RefCell::new(Some(a.clone())),
            log: log.clone(),
            name: "b",
            _t: d.token(),
        },
    );
    *a.other.borrow_mut() = Some(b.clone());
    drop((a, b));
    assert_eq!(s.collect(2).unwrap(), 2);
    assert_eq!(d.get(), 0);
    let g = s.garbage();
    assert_eq!(g.len(), 2);
    assert_eq!(s.get_stats()[2].uncollectable, 2);
    assert!(log.borrow().is_empty());
    // Breaking the cycle by hand (as a program clearing gc.garbage would).
    let a = g
        .iter()
        .find_map(|o| o.downcast::<Del>().filter(|x| x.name == "a"))
        .unwrap();
    a.other.borrow_mut().take();
    drop(a);
    drop(g);
    drop(s.take_garbage());
    assert_eq!(d.get(), 2);
    // a's finalizer ran when its count reached zero.
    assert_eq!(*log.borrow(), ["a"]);
}

#[test]
fn test_saveall() {
    // With DEBUG_SAVEALL, unreachable objects go to gc.garbage instead of
    // being freed.
    let s = Space::new();
    let d = Drops::default();
    s.set_debug(DebugFlags::SAVEALL);
    let l = list(&s, &d);
    append(&l, &l);
    let id = Gc::to_object(&l).id();
    drop(l);
    assert_eq!(s.collect(2).unwrap(), 1);
    assert_eq!(d.get(), 0);
    let g = s.take_garbage();
    assert_eq!(g.len(), 1);
    assert_eq!(g[0].id(), id);
    s.set_debug(DebugFlags::empty());
    drop(g);
    assert_eq!(d.get(), 0, "still a cycle");
    assert_eq!(s.collect(2).unwrap(), 1);
    assert_eq!(d.get(), 1);
}

#[test]
fn test_del() {
    // A cycle of objects with __del__ (PEP 442) is collected; each
    // finalizer runs exactly once.
    let s = Space::new();
    let d = Drops::default();
    let log = Rc::new(RefCell::new(vec![]));
    let mk = |name| {
        Gc::new_finalized_in(
            &s,
            Del {
                other: RefCell::new(None),
                log: log.clone(),
                name,
                _t: d.token(),
            },
        )
    };
    let (a, b) = (mk("a"), mk("b"));
    *a.other.borrow_mut() = Some(b.clone());
    *b.other.borrow_mut() = Some(a.clone());
    drop((a, b));
    assert_eq!(s.collect(2).unwrap(), 2);
    assert_eq!(d.get(), 2);
    let mut l = log.borrow().clone();
    l.sort();
    assert_eq!(l, ["a", "b"]);
}

#[test]
fn test_seed_004_del_printing() {
    // Seed 004: obj1.other = obj2; obj2.other = obj1; del obj1, obj2;
    // gc.collect() prints "deleted" twice.
    test_del();
}

#[test]
fn test_seed_002_a_append_b() {
    // Seed 002: a = []; b = []; a.append(b); b.append(a); del a, b;
    // gc.collect() frees both.
    let s = Space::new();
    let d = Drops::default();
    let (a, b) = (list(&s, &d), list(&s, &d));
    append(&a, &b);
    append(&b, &a);
    assert_eq!(Gc::strong_count(&a), 2);
    drop((a, b));
    assert_eq!(d.get(), 0, "reference counting alone cannot free a cycle");
    assert_eq!(s.collect(2).unwrap(), 2);
    assert_eq!(d.get(), 2);
}

#[test]
fn test_seed_threshold_and_count() {
    // Seed: gc.get_threshold() == (700, 10, 10); gc.get_count() after
    // allocations.
    let s = Space::new();
    assert_eq!(s.get_threshold(), (700, 10, 10));
    let d = Drops::default();
    let keep: Vec<_> = (0..5).map(|_| list(&s, &d)).collect();
    assert_eq!(s.get_count(), (5, 0, 0));
    drop(keep);
    // coil counts tracked allocations only (CPython 3.11 also subtracts
    // deallocations): the objects are gone, the count waits for the next
    // collection, which finds an empty young generation.
    assert_eq!(d.get(), 5);
    assert_eq!(s.get_count(), (5, 0, 0));
    assert_eq!(s.collect(0).unwrap(), 0);
    assert_eq!(s.get_count(), (0, 1, 0));
}

#[test]
fn test_get_count() {
    let s = Space::new();
    let d = Drops::default();
    assert_eq!(s.collect(2).unwrap(), 0);
    assert_eq!(s.get_count(), (0, 0, 0));
    let a = list(&s, &d);
    assert_eq!(s.get_count(), (1, 0, 0));
    s.collect(0).unwrap();
    assert_eq!(s.get_count(), (0, 1, 0));
    s.collect(1).unwrap();
    assert_eq!(s.get_count(), (0, 0, 1));
    s.collect(2).unwrap();
    assert_eq!(s.get_count(), (0, 0, 0));
    drop(a);
    assert_eq!(d.get(), 1);
}

#[test]
fn test_collect_generations() {
    // Survivors move one generation up per collection.
    let s = Space::new();
    let d = Drops::default();
    let a = list(&s, &d);
    let o = Gc::to_object(&a);
    let in_gen = |g| s.get_objects(Some(g)).unwrap().iter().any(|x| x.ptr_eq(&o));
    assert!(in_gen(0));
    s.collect(0).unwrap();
    assert!(in_gen(1) && !in_gen(0));
    s.collect(1).unwrap();
    assert!(in_gen(2) && !in_gen(1));
    s.collect(2).unwrap();
    assert!(in_gen(2));
    assert_eq!(d.get(), 0);
}

#[test]
fn test_automatic_collection_on_allocation_counts() {
    // 700 allocations trigger a young collection which frees young cycles.
    let s = Space::new();
    let d = Drops::default();
    for _ in 0..2000 {
        let l = list(&s, &d);
        append(&l, &l);
    }
    let st = s.get_stats();
    assert!(st[0].collections >= 2, "{st:?}");
    assert!(d.get() >= 1400, "freed {}", d.get());
    s.collect(2).unwrap();
    assert_eq!(d.get(), 2000);
    // Disabled: no automatic collection, counts keep growing.
    s.disable();
    for _ in 0..1000 {
        let l = list(&s, &d);
        append(&l, &l);
    }
    assert_eq!(s.get_stats()[0].collections, st[0].collections);
    assert_eq!(s.get_count().0, 1000);
    assert_eq!(s.collect(2).unwrap(), 1000);
    assert_eq!(d.get(), 3000);
}

#[test]
fn test_trashcan() {
    // Deeply nested structures are destroyed by counts without
    // overflowing the stack.
    let s = Space::new();
    let d = Drops::default();
    let n = if cfg!(miri) { 200 } else { 1_000_000 };
    let mut head = list(&s, &d);
    for _ in 0..n {
        let next = list(&s, &d);
        append(&next, &head);
        head = next;
    }
    drop(head);
    assert_eq!(d.get(), n + 1);
    assert_eq!(s.tracked_count(), 0);
}

#[test]
fn test_boom() {
    // Drop impls that touch other dying objects (CPython's __getattr__
    // that deletes attributes during tp_clear) see valid memory: either the
    // value or "dropped", never freed memory.
    #[derive(Trace)]
    struct Boom {
        other: RefCell<Option<Gc<Boom>>>,
        #[trace(skip)]
        seen: Rc<RefCell<Vec<bool>>>,
        #[trace(skip)]
        _t: Token,
    }
    impl Drop for Boom {
        fn drop(&mut self) {
            if let Some(o) = self.other.borrow().as_ref() {
                let alive = Gc::try_get(o).is_some();
                if let Some(v) = Gc::try_get(o) {
                    // Mutate the other dying object.
                    v.other.borrow_mut().take();
                }
                self.seen.borrow_mut().push(alive);
            }
        }
    }
    let s = Space::new();
    let d = Drops::default();
    let seen = Rc::new(RefCell::new(vec![]));
    let mk = || {
        Gc::new_in(
            &s,
            Boom {
                other: RefCell::new(None),
                seen: seen.clone(),
                _t: d.token(),
            },
        )
    };
    let (a, b) = (mk(), mk());
    *a.other.borrow_mut() = Some(b.clone());
    *b.other.borrow_mut() = Some(a.clone());
    drop((a, b));
    assert_eq!(s.collect(2).unwrap(), 2);
    assert_eq!(d.get(), 2);
    // The first one dropped saw the other alive and cleared its link.
    assert_eq!(*seen.borrow(), [true]);
}

#[test]
fn test_boom2() {
    // Same with a longer ring whose Drop impls read their neighbours.
    #[derive(Trace)]
    struct Boom2 {
        next: RefCell<Option<Gc<Boom2>>>,
        #[trace(skip)]
        alive_seen: Rc<Cell<usize>>,
        #[trace(skip)]
        dead_seen: Rc<Cell<usize>>,
    }
    impl Drop for Boom2 {
        fn drop(&mut self) {
            if let Some(n) = self.next.borrow().as_ref() {
                match Gc::try_get(n) {
                    Some(_) => self.alive_seen.set(self.alive_seen.get() + 1),
                    None => self.dead_seen.set(self.dead_seen.get() + 1),
                }
            }
        }
    }
    let s = Space::new();
    let (alive, dead) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    let nodes: Vec<_> = (0..10)
        .map(|_| {
            Gc::new_in(
                &s,
                Boom2 {
                    next: RefCell::new(None),
                    alive_seen: alive.clone(),
                    dead_seen: dead.clone(),
                },
            )
        })
        .collect();
    for i in 0..10 {
        *nodes[i].next.borrow_mut() = Some(nodes[(i + 1) % 10].clone());
    }
    drop(nodes);
    assert_eq!(s.collect(2).unwrap(), 10);
    assert_eq!(alive.get() + dead.get(), 10);
    assert!(alive.get() >= 9);
}

#[test]
fn test_get_referents() {
    let s = Space::new();
    let d = Drops::default();
    let (a, b, c) = (list(&s, &d), list(&s, &d), list(&s, &d));
    append(&a, &b);
    append(&a, &c);
    let r = s.get_referents(&[Gc::to_object(&a)]);
    assert_eq!(r.len(), 2);
    assert!(r[0].ptr_eq(&Gc::to_object(&b)));
    assert!(r[1].ptr_eq(&Gc::to_object(&c)));
    assert!(s.get_referents(&[Gc::to_object(&b)]).is_empty());
    let back = s.get_referrers(&[Gc::to_object(&c)]);
    assert_eq!(back.len(), 1);
    assert!(back[0].ptr_eq(&Gc::to_object(&a)));
}

#[test]
fn test_is_tracked() {
    // Atomic values are never tracked; containers that can hold a Gc are.
    let s = Space::new();
    assert!(!Gc::is_tracked(&Gc::new_in(&s, 1)));
    assert!(!Gc::is_tracked(&Gc::new_in(&s, String::from("x"))));
    assert!(!Gc::is_tracked(&Gc::new_in(&s, vec![1u8, 2, 3])));
    assert!(!Gc::is_tracked(&Gc::new_in(&s, (1u8, 2.0f64))));
    let d = Drops::default();
    let l = list(&s, &d);
    assert!(Gc::is_tracked(&l));
    assert!(s.is_tracked(&Gc::to_object(&l)));
    assert_eq!(s.tracked_count(), 1);
}

#[test]
fn test_is_finalized() {
    let s = Space::new();
    let log = Rc::new(RefCell::new(vec![]));
    let d = Drops::default();
    let a = Gc::new_finalized_in(
        &s,
        Del {
            other: RefCell::new(None),
            log: log.clone(),
            name: "a",
            _t: d.token(),
        },
    );
    *a.other.borrow_mut() = Some(a.clone());
    let w = Gc::downgrade(&a);
    let o = Gc::to_object(&a);
    assert!(!o.is_finalized());
    drop(a);
    drop(o);
    s.collect(2).unwrap();
    assert!(w.upgrade().is_none());
    assert_eq!(*log.borrow(), ["a"]);
    assert_eq!(d.get(), 1);
}

#[test]
fn test_bug1055820b() {
    // A weak callback run during a collection must not see the cycle
    // objects: weak references to all of them are cleared before any
    // callback runs.
    let s = Space::new();
    let d = Drops::default();
    let (a, b) = (list(&s, &d), list(&s, &d));
    append(&a, &b);
    append(&b, &a);
    let wa = Rc::new(Gc::downgrade(&a));
    let wa2 = wa.clone();
    let seen = Rc::new(Cell::new(None));
    let seen2 = seen.clone();
    let wb = Weak::with_callback(&b, move || seen2.set(Some(wa2.upgrade().is_some())));
    drop((a, b));
    assert_eq!(s.collect(2).unwrap(), 2);
    assert_eq!(seen.get(), Some(false), "callback ran and saw a cleared");
    assert!(!wb.is_alive());
    assert_eq!(d.get(), 2);
}

#[test]
fn test_callback_of_garbage_weakref_does_not_run() {
    // A weak reference that is itself part of the garbage: its callback
    // must not run (CPython's handle_weakrefs "if wr is also trash, no").
    #[derive(Trace)]
    struct Holder {
        next: RefCell<Option<Gc<Holder>>>,
        weak: RefCell<Weak<Holder>>,
    }
    let s = Space::new();
    let fired = Rc::new(Cell::new(0));
    let a = Gc::new_in(
        &s,
        Holder {
            next: RefCell::new(None),
            weak: RefCell::new(Weak::new()),
        },
    );
    *a.next.borrow_mut() = Some(a.clone());
    let f = fired.clone();
    *a.weak.borrow_mut() = Weak::with_callback(&a, move || f.set(f.get() + 1));
    // A surviving weak handle with a callback does fire.
    let f = fired.clone();
    let outside = Weak::with_callback(&a, move || f.set(f.get() + 10));
    drop(a);
    assert_eq!(s.collect(2).unwrap(), 1);
    assert_eq!(fired.get(), 10);
    assert!(!outside.callback_pending());
}

#[test]
fn test_bug21435() {
    // A finalizer that triggers another collection while one runs: the
    // nested collect returns 0 and nothing breaks.
    #[derive(Trace)]
    struct Reenter {
        me: RefCell<Option<Gc<Reenter>>>,
        #[trace(skip)]
        space: Rc<Space>,
        #[trace(skip)]
        nested: Rc<Cell<Option<usize>>>,
    }
    impl Finalize for Reenter {
        fn finalize(&self) {
            self.nested.set(Some(self.space.collect(2).unwrap()));
        }
    }
    let s = Rc::new(Space::new());
    let nested = Rc::new(Cell::new(None));
    let a = Gc::new_finalized_in(
        &s,
        Reenter {
            me: RefCell::new(None),
            space: s.clone(),
            nested: nested.clone(),
        },
    );
    *a.me.borrow_mut() = Some(a.clone());
    drop(a);
    assert_eq!(s.collect(2).unwrap(), 1);
    assert_eq!(nested.get(), Some(0));
}

#[test]
fn test_get_stats() {
    let s = Space::new();
    let st = s.get_stats();
    assert_eq!(st.len(), 3);
    s.collect(0).unwrap();
    let st2 = s.get_stats();
    assert_eq!(st2[0].collections, st[0].collections + 1);
    assert_eq!(st2[1].collections, st[1].collections);
    s.collect(2).unwrap();
    let st3 = s.get_stats();
    assert_eq!(st3[2].collections, st[2].collections + 1);
    let d = Drops::default();
    let l = list(&s, &d);
    append(&l, &l);
    drop(l);
    s.collect(1).unwrap();
    assert_eq!(s.get_stats()[1].collected, 1);
    assert_eq!(s.get_stats()[1].uncollectable, 0);
}

#[test]
fn test_freeze() {
    let s = Space::new();
    let d = Drops::default();
    let l = list(&s, &d);
    append(&l, &l);
    s.freeze();
    assert_eq!(s.get_freeze_count(), 1);
    drop(l);
    // Frozen objects are ignored by collections.
    assert_eq!(s.collect(2).unwrap(), 0);
    assert_eq!(d.get(), 0);
    s.unfreeze();
    assert_eq!(s.get_freeze_count(), 0);
    assert_eq!(s.collect(2).unwrap(), 1);
    assert_eq!(d.get(), 1);
}

#[test]
fn test_get_objects() {
    let s = Space::new();
    let d = Drops::default();
    let a = list(&s, &d);
    let o = Gc::to_object(&a);
    let has = |g: Option<usize>| s.get_objects(g).unwrap().iter().any(|x| x.ptr_eq(&o));
    assert!(has(None) && has(Some(0)) && !has(Some(1)) && !has(Some(2)));
    s.collect(0).unwrap();
    assert!(has(None) && !has(Some(0)) && has(Some(1)));
}

#[test]
fn test_get_objects_arguments() {
    let s = Space::new();
    assert_eq!(
        s.get_objects(Some(3)).unwrap_err(),
        coil_gc::Error::InvalidGeneration(3)
    );
    assert_eq!(
        s.get_objects(Some(usize::MAX)).unwrap_err(),
        coil_gc::Error::InvalidGeneration(usize::MAX)
    );
    assert_eq!(s.collect(3), Err(coil_gc::Error::InvalidGeneration(3)));
    assert_eq!(
        coil_gc::collect(3),
        Err(coil_gc::Error::InvalidGeneration(3))
    );
}

/// A finalizer that resurrects its object into a global-ish slot.
#[derive(Trace)]
struct Lazarus {
    me: RefCell<Option<Gc<Lazarus>>>,
    child: RefCell<Option<Gc<List>>>,
    #[trace(skip)]
    slot: Rc<RefCell<Vec<Gc<Lazarus>>>>,
    #[trace(skip)]
    me_weak: RefCell<Option<Weak<Lazarus>>>,
    #[trace(skip)]
    finalized: Rc<Cell<usize>>,
    #[trace(skip)]
    _t: Token,
}

impl Finalize for Lazarus {
    fn finalize(&self) {
        self.finalized.set(self.finalized.get() + 1);
        // Resurrect: `me` is a handle to ourselves.
        if let Some(me) = self.me.borrow().as_ref() {
            self.slot.borrow_mut().push(me.clone());
        }
    }
}

fn lazarus(
    s: &Space,
    d: &Drops,
    slot: &Rc<RefCell<Vec<Gc<Lazarus>>>>,
    fin: &Rc<Cell<usize>>,
) -> Gc<Lazarus> {
    let a = Gc::new_finalized_in(
        s,
        Lazarus {
            me: RefCell::new(None),
            child: RefCell::new(None),
            slot: slot.clone(),
            me_weak: RefCell::new(None),
            finalized: fin.clone(),
            _t: d.token(),
        },
    );
    *a.me.borrow_mut() = Some(a.clone());
    *a.me_weak.borrow_mut() = Some(Gc::downgrade(&a));
    a
}

#[test]
fn test_resurrection_only_happens_once_per_object() {
    let s = Space::new();
    let d = Drops::default();
    let slot = Rc::new(RefCell::new(vec![]));
    let fin = Rc::new(Cell::new(0));
    let a = lazarus(&s, &d, &slot, &fin);
    drop(a);
    s.collect(2).unwrap();
    assert_eq!(fin.get(), 1);
    assert_eq!(d.get(), 0, "resurrected");
    assert_eq!(slot.borrow().len(), 1);
    // Let it go again: the finalizer does not run twice; it is freed.
    slot.borrow_mut().clear();
    s.collect(2).unwrap();
    assert_eq!(fin.get(), 1);
    assert_eq!(d.get(), 1);
}

#[test]
fn test_resurrection_is_transitive() {
    // Objects reachable from a resurrected object survive too.
    let s = Space::new();
    let d = Drops::default();
    let slot = Rc::new(RefCell::new(vec![]));
    let fin = Rc::new(Cell::new(0));
    let a = lazarus(&s, &d, &slot, &fin);
    let child = list(&s, &d);
    append(&child, &child);
    *a.child.borrow_mut() = Some(child.clone());
    let cw = Gc::downgrade(&child);
    drop((a, child));
    s.collect(2).unwrap();
    assert_eq!(d.get(), 0);
    let r = slot.borrow()[0].clone();
    let c = r.child.borrow().clone().unwrap();
    assert_eq!(c.items.borrow().len(), 1, "child intact");
    // Weak references were cleared by handle_weakrefs before finalization
    // (as in CPython), even though the objects were resurrected.
    assert!(cw.upgrade().is_none());
    drop((r, c));
    slot.borrow_mut().clear();
    assert_eq!(s.collect(2).unwrap(), 2);
    assert_eq!(d.get(), 2);
}

#[test]
fn test_resurrection_does_not_block_cleanup_of_other_objects() {
    let s = Space::new();
    let d = Drops::default();
    let slot = Rc::new(RefCell::new(vec![]));
    let fin = Rc::new(Cell::new(0));
    let a = lazarus(&s, &d, &slot, &fin);
    let other = list(&s, &d);
    append(&other, &other);
    drop((a, other));
    assert_eq!(s.collect(2).unwrap(), 1);
    assert_eq!(d.get(), 1, "the unrelated cycle is freed");
    assert_eq!(slot.borrow().len(), 1);
}

#[test]
fn test_finalizer_panic_is_reported_and_collection_continues() {
    #[derive(Trace)]
    struct Bad(RefCell<Option<Gc<Bad>>>, #[trace(skip)] Token);
    impl Finalize for Bad {
        fn finalize(&self) {
            panic!("boom in finalizer (expected by the test)");
        }
    }
    let s = Space::new();
    let d = Drops::default();
    let a = Gc::new_finalized_in(&s, Bad(RefCell::new(None), d.token()));
    *a.0.borrow_mut() = Some(a.clone());
    let l = list(&s, &d);
    append(&l, &l);
    drop((a, l));
    assert_eq!(s.collect(2).unwrap(), 2);
    assert_eq!(d.get(), 2);
    assert_eq!(s.tracked_count(), 0);
    assert_eq!(s.get_stats()[2].collected, 2);
}

#[test]
fn test_drop_panic_during_collection() {
    #[derive(Trace)]
    struct BadDrop(RefCell<Option<Gc<BadDrop>>>, #[trace(skip)] Token);
    impl Drop for BadDrop {
        fn drop(&mut self) {
            panic!("boom in drop (expected by the test)");
        }
    }
    let s = Space::new();
    let d = Drops::default();
    let a = Gc::new_in(&s, BadDrop(RefCell::new(None), d.token()));
    *a.0.borrow_mut() = Some(a.clone());
    drop(a);
    assert_eq!(s.collect(2).unwrap(), 1);
    assert_eq!(d.get(), 1, "fields dropped during unwinding");
    assert_eq!(s.tracked_count(), 0);
}

#[test]
fn test_drop_panics_do_not_stop_the_collection() {
    // Several dying objects panic in `Drop`: each is reported, the walk
    // goes on, and every object is freed.
    #[derive(Trace)]
    struct BadDrop(RefCell<Option<Gc<BadDrop>>>, #[trace(skip)] Token);
    impl Drop for BadDrop {
        fn drop(&mut self) {
            panic!("boom in drop (expected by the test)");
        }
    }
    let s = Space::new();
    let d = Drops::default();
    for _ in 0..3 {
        let a = Gc::new_in(&s, BadDrop(RefCell::new(None), d.token()));
        *a.0.borrow_mut() = Some(a.clone());
    }
    let a = Gc::new_in(&s, BadDrop(RefCell::new(None), d.token()));
    let b = Gc::new_in(&s, BadDrop(RefCell::new(Some(a.clone())), d.token()));
    *a.0.borrow_mut() = Some(b);
    drop(a);
    let keep = list(&s, &d);
    assert_eq!(s.collect(2).unwrap(), 5);
    assert_eq!(d.get(), 5);
    assert_eq!(s.tracked_count(), 1);
    drop(keep);
    assert_eq!(d.get(), 6);
    assert_eq!(s.tracked_count(), 0);
}

// ---- GCCallbackTests ----

#[test]
fn test_collect() {
    let s = Space::new();
    let log = Rc::new(RefCell::new(vec![]));
    let l2 = log.clone();
    let id = s.add_callback(move |p, i| l2.borrow_mut().push((p, i.generation, i.collected)));
    let d = Drops::default();
    let l = list(&s, &d);
    append(&l, &l);
    drop(l);
    s.collect(2).unwrap();
    assert_eq!(*log.borrow(), [(Phase::Start, 2, 0), (Phase::Stop, 2, 1)]);
    s.remove_callback(id).unwrap();
    s.collect(2).unwrap();
    assert_eq!(log.borrow().len(), 2);
    assert_eq!(
        s.remove_callback(id),
        Err(coil_gc::Error::UnknownCallback(id))
    );
}

#[test]
fn test_collect_generation() {
    let s = Space::new();
    let gens = Rc::new(RefCell::new(vec![]));
    let g2 = gens.clone();
    s.add_callback(move |p, i| {
        if p == Phase::Start {
            g2.borrow_mut().push(i.generation)
        }
    });
    s.collect(0).unwrap();
    s.collect(1).unwrap();
    s.collect(2).unwrap();
    assert_eq!(*gens.borrow(), [0, 1, 2]);
}

#[test]
fn test_collect_garbage() {
    // Uncollectable objects show in the stop callback's info.
    let s = Space::new();
    let d = Drops::default();
    let info = Rc::new(Cell::new(None));
    let i2 = info.clone();
    s.add_callback(move |p, i| {
        if p == Phase::Stop {
            i2.set(Some((i.collected, i.uncollectable)))
        }
    });
    let log = Rc::new(RefCell::new(vec![]));
    let a = Gc::new_legacy_in(
        &s,
        Del {
            other: RefCell::new(None),
            log,
            name: "a",
            _t: d.token(),
        },
    );
    *a.other.borrow_mut() = Some(a.clone());
    drop(a);
    s.collect(2).unwrap();
    assert_eq!(info.get(), Some((0, 1)));
    assert_eq!(s.garbage().len(), 1);
}

#[test]
fn test_callback_panic_is_reported() {
    let s = Space::new();
    let ran = Rc::new(Cell::new(0));
    s.add_callback(|_, _| panic!("boom in gc callback (expected by the test)"));
    let r = ran.clone();
    s.add_callback(move |_, _| r.set(r.get() + 1));
    let d = Drops::default();
    let l = list(&s, &d);
    append(&l, &l);
    drop(l);
    assert_eq!(s.collect(2).unwrap(), 1);
    assert_eq!(ran.get(), 2);
    assert_eq!(d.get(), 1);
}

// ---- Very deep structures ----

fn ring(s: &Space, d: &Drops, n: usize) {
    let first = list(s, d);
    let mut prev = first.clone();
    for _ in 1..n {
        let x = list(s, d);
        append(&prev, &x);
        prev = x;
    }
    append(&prev, &first);
}

#[test]
fn test_long_cycle() {
    // One long cycle: move_unreachable and delete_garbage are iterative.
    let n = if cfg!(miri) {
        100
    } else if cfg!(debug_assertions) {
        1_000_000
    } else {
        10_000_000
    };
    let s = Space::new();
    s.disable();
    let d = Drops::default();
    ring(&s, &d, n);
    assert_eq!(d.get(), 0);
    assert_eq!(s.collect(2).unwrap(), n);
    assert_eq!(d.get(), n);
    assert_eq!(s.tracked_count(), 0);
}

#[test]
fn test_deep_live_structure_survives() {
    // A deep chain held from outside: a full collection frees nothing and
    // keeps every link.
    let n = if cfg!(miri) { 100 } else { 200_000 };
    let s = Space::new();
    s.disable();
    let d = Drops::default();
    let head = list(&s, &d);
    let mut tail = head.clone();
    for _ in 0..n {
        let x = list(&s, &d);
        append(&tail, &x);
        tail = x;
    }
    drop(tail);
    assert_eq!(s.collect(2).unwrap(), 0);
    assert_eq!(d.get(), 0);
    // Walk it.
    let mut len = 0;
    let mut cur = head.clone();
    loop {
        let next = cur.items.borrow().first().cloned();
        match next {
            Some(n) => {
                cur = n;
                len += 1;
            }
            None => break,
        }
    }
    assert_eq!(len, n);
    drop((cur, head));
    assert_eq!(d.get(), n + 1);
}

#[test]
fn test_space_drop_collects_and_detaches() {
    let d = Drops::default();
    let survivor;
    {
        let s = Space::new();
        let l = list(&s, &d);
        append(&l, &l);
        drop(l);
        survivor = list(&s, &d);
        append(&survivor, &list(&s, &d));
    }
    assert_eq!(d.get(), 1, "the cycle was collected when the space went");
    assert!(!Gc::is_tracked(&survivor));
    drop(survivor);
    assert_eq!(d.get(), 3);
}

#[test]
fn test_object_downcast_and_garbage_handles() {
    let s = Space::new();
    let d = Drops::default();
    let l = list(&s, &d);
    let o: Object = Gc::to_object(&l);
    assert!(o.downcast::<List>().is_some());
    assert!(o.downcast::<Dict>().is_none());
    assert!(o.type_name().ends_with("List"));
}

#[test]
fn test_cross_space_references() {
    // References between spaces count as external: a cycle through two
    // spaces is not collected by either (a leak, never a premature free),
    // and each space's collection leaves the other's objects alone.
    let (s1, s2) = (Space::new(), Space::new());
    let d = Drops::default();
    let a = list(&s1, &d);
    let b = list(&s2, &d);
    append(&a, &b);
    append(&b, &a);
    let c = list(&s2, &d);
    append(&c, &c);
    drop((a, b, c));
    assert_eq!(s1.collect(2).unwrap(), 0);
    assert_eq!(s2.collect(0).unwrap(), 1, "only s2's own cycle");
    assert_eq!(s2.collect(2).unwrap(), 0);
    assert_eq!(d.get(), 1);
}
