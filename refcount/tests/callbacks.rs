//! Weak callbacks, finalizers and the weak-value map.

use std::{
    cell::{Cell, RefCell},
    rc::Rc as StdRc,
};

use coil_refcount::{Rc, Weak, WeakValueMap, finalize};

type Log = StdRc<RefCell<Vec<String>>>;

fn push(log: &Log, s: &str) -> impl FnOnce() + 'static {
    let log = log.clone();
    let s = s.to_string();
    move || log.borrow_mut().push(s)
}

#[test]
fn callbacks_run_newest_first_once_at_death() {
    let log = Log::default();
    let obj = Rc::new(0);
    let _a = Weak::with_callback(&obj, push(&log, "a"));
    let _b = Weak::with_callback(&obj, push(&log, "b"));
    let _f = finalize(&obj, push(&log, "fin"));
    let _c = Weak::with_callback(&obj, push(&log, "c"));
    let clone = obj.clone();
    drop(obj);
    assert!(log.borrow().is_empty(), "still alive through the clone");
    drop(clone);
    assert_eq!(*log.borrow(), ["c", "fin", "b", "a"]);
}

#[test]
fn callback_of_a_dropped_weak_ref_does_not_run() {
    let log = Log::default();
    let obj = Rc::new(0);
    let a = Weak::with_callback(&obj, push(&log, "a"));
    let _b = Weak::with_callback(&obj, push(&log, "b"));
    assert!(a.callback_pending());
    drop(a);
    drop(obj);
    assert_eq!(*log.borrow(), ["b"]);
}

#[test]
fn callback_sees_the_object_dead_but_its_weak_ref_alive() {
    let seen = StdRc::new(Cell::new(None));
    let obj = Rc::new(7);
    let w = Rc::downgrade(&obj);
    let s = seen.clone();
    let w2 = w.clone();
    let _r = Weak::with_callback(&obj, move || s.set(Some(w2.upgrade().is_some())));
    drop(obj);
    assert_eq!(
        seen.get(),
        Some(false),
        "weak handles cannot upgrade in callbacks"
    );
    assert!(!w.is_alive());
}

#[test]
fn panicking_callback_is_caught_counts_stay_right_box_freed() {
    let log = Log::default();
    let dropped = StdRc::new(Cell::new(false));
    struct D(StdRc<Cell<bool>>);
    impl Drop for D {
        fn drop(&mut self) {
            self.0.set(true);
        }
    }
    let obj = Rc::new(D(dropped.clone()));
    let watcher = Rc::downgrade(&obj);
    let _a = Weak::with_callback(&obj, push(&log, "older"));
    let _p = Weak::with_callback(&obj, || panic!("callback failure (expected by the test)"));
    let _b = Weak::with_callback(&obj, push(&log, "newer"));
    drop(obj);
    assert_eq!(*log.borrow(), ["newer", "older"], "the others still ran");
    assert!(dropped.get(), "the value was dropped");
    assert_eq!(watcher.strong_count(), 0);
    assert_eq!(watcher.weak_count(), 0);
    assert!(watcher.upgrade().is_none());
    // Dropping the last weak handles frees the box; miri checks no leak.
}

#[test]
fn finalizer_call_detach_alive() {
    let n = StdRc::new(Cell::new(0));
    let obj = Rc::new(());
    let m = n.clone();
    let f = finalize(&obj, move || m.set(m.get() + 1));
    assert!(f.alive());
    assert!(f.call());
    assert!(!f.alive());
    assert!(!f.call());
    assert!(!f.detach());
    drop(obj);
    assert_eq!(n.get(), 1, "runs once: explicit call, not again at death");

    let obj = Rc::new(());
    let m = n.clone();
    let f = finalize(&obj, move || m.set(m.get() + 10));
    assert!(f.detach());
    drop(obj);
    assert_eq!(n.get(), 1, "detached finalizers never run");
    drop(f);
}

#[test]
fn finalizer_still_runs_after_its_handle_is_dropped() {
    let n = StdRc::new(Cell::new(0));
    let obj = Rc::new(());
    let m = n.clone();
    drop(finalize(&obj, move || m.set(m.get() + 1)));
    drop(obj);
    assert_eq!(n.get(), 1);
}

#[test]
fn callback_may_drop_other_objects() {
    let log = Log::default();
    let other = Rc::new(());
    let _w = Weak::with_callback(&other, push(&log, "other died"));
    let obj = Rc::new(());
    let mut keep = Some(other);
    let _w2 = Weak::with_callback(&obj, move || drop(keep.take()));
    drop(obj);
    assert_eq!(*log.borrow(), ["other died"]);
}

#[test]
fn weak_value_map_drops_dead_entries() {
    let m = WeakValueMap::new();
    let a = Rc::new(String::from("a"));
    let b = Rc::new(String::from("b"));
    assert!(m.insert(1, &a).is_none());
    assert!(m.insert(2, &b).is_none());
    assert_eq!(m.len(), 2);
    assert_eq!(m.get(&1).as_deref().map(String::as_str), Some("a"));
    drop(a);
    assert_eq!(m.len(), 1);
    assert!(m.get(&1).is_none());
    assert!(!m.contains_key(&1));
    assert!(m.contains_key(&2));
    assert_eq!(m.keys(), [2]);
    // re-inserting a key with a new value and dropping the old one must keep
    // the new entry
    let b2 = Rc::new(String::from("b2"));
    assert_eq!(m.insert(2, &b2).as_deref().map(String::as_str), Some("b"));
    drop(b);
    assert_eq!(m.get(&2).as_deref().map(String::as_str), Some("b2"));
    assert_eq!(m.remove(&2).as_deref().map(String::as_str), Some("b2"));
    assert!(m.is_empty());
    let c = Rc::new(String::new());
    m.insert(3, &c);
    m.clear();
    assert!(m.is_empty());
}

#[test]
fn weak_value_map_entry_dies_while_map_is_busy() {
    // The value stored under key 1 owns the last handle of the value under
    // key 2; replacing key 1 drops both while `insert` holds the map.
    struct Holder(#[allow(dead_code)] Option<Rc<String>>);
    let m: WeakValueMap<u32, Holder> = WeakValueMap::new();
    let inner = Rc::new(String::from("inner"));
    let inner_map: WeakValueMap<u32, String> = WeakValueMap::new();
    inner_map.insert(2, &inner);
    let holder = Rc::new(Holder(Some(inner)));
    m.insert(1, &holder);
    drop(holder); // entry 1 dies, its value drops `inner`: entry 2 of inner_map dies
    assert!(m.is_empty());
    assert!(inner_map.is_empty());

    // Same map: key 1's value holds key 2's value.
    let m2: WeakValueMap<u32, Holder> = WeakValueMap::new();
    let leaf = Rc::new(Holder(None));
    let s = Rc::new(String::from("s"));
    let top = Rc::new(Holder(Some(s)));
    m2.insert(1, &top);
    m2.insert(2, &leaf);
    let replacement = Rc::new(Holder(None));
    drop(top);
    m2.insert(1, &replacement);
    assert_eq!(m2.len(), 2);
    drop(leaf);
    assert_eq!(m2.keys(), [1]);
}
