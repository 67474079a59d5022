//! Single-thread handles: counts, seeds, get_mut/make_mut/try_unwrap, raw
//! pointers, immortality, allocators, formatting and comparison by value.

use std::{
    cell::{Cell, RefCell},
    collections::hash_map::DefaultHasher,
    hash::{Hash, Hasher},
    rc::Rc as StdRc,
};

use allocator_api2::alloc::{AllocError, Allocator, Global, Layout};
use coil_refcount::{Error, Flags, Rc, Weak, getrefcount};

/// Counts drops of values tagged with a name.
#[derive(Clone, Default)]
struct Log(StdRc<RefCell<Vec<&'static str>>>);

impl Log {
    fn take(&self) -> Vec<&'static str> {
        std::mem::take(&mut *self.0.borrow_mut())
    }
}

struct Tracked(&'static str, Log);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.1.0.borrow_mut().push(self.0);
    }
}

/// Seed 004: `a = [1, 2, 3]`; getrefcount 2, `b = a` 3, `c = a` 4, `del b`
/// 3, `del c` 2, `del a` frees. CPython's numbers include the argument of the
/// call; ours do not, so each is one less.
#[test]
fn seed_004_getrefcount_sequence() {
    let log = Log::default();
    let a = Rc::new((vec![1, 2, 3], Tracked("list", log.clone())));
    assert_eq!(getrefcount(&a) + 1, 2);
    let b = a.clone();
    assert_eq!(getrefcount(&a) + 1, 3);
    let c = a.clone();
    assert_eq!(getrefcount(&a) + 1, 4);
    drop(b);
    assert_eq!(getrefcount(&a) + 1, 3);
    drop(c);
    assert_eq!(getrefcount(&a) + 1, 2);
    assert!(log.take().is_empty());
    drop(a);
    assert_eq!(log.take(), ["list"]);
}

/// Seed 002 / 000 ("Monitoring Memory Usage"): `a = []` → 2, `b = a` → 3.
#[test]
fn seed_002_empty_list_then_alias() {
    let a: Rc<Vec<i32>> = Rc::new(Vec::new());
    assert_eq!(getrefcount(&a) + 1, 2);
    let b = a.clone();
    assert_eq!(getrefcount(&a) + 1, 3);
    assert!(Rc::ptr_eq(&a, &b));
}

/// Seed 000: `obj1 = MyClass(10)`, `obj2 = obj1`, `del obj1`, `del obj2` —
/// deallocated at the last `del`, not before.
#[test]
fn seed_000_myclass_deallocated_at_last_del() {
    struct MyClass {
        value: i32,
        _t: Tracked,
    }
    let log = Log::default();
    let obj1 = Rc::new(MyClass {
        value: 10,
        _t: Tracked("MyClass", log.clone()),
    });
    let obj2 = obj1.clone();
    assert_eq!(Rc::strong_count(&obj1), 2);
    drop(obj1);
    assert_eq!(Rc::strong_count(&obj2), 1);
    assert_eq!(obj2.value, 10);
    assert!(log.take().is_empty());
    drop(obj2);
    assert_eq!(log.take(), ["MyClass"]);
}

#[test]
fn weak_upgrade_and_counts() {
    let a = Rc::new(5);
    let w = Rc::downgrade(&a);
    let w2 = w.clone();
    assert_eq!(Rc::weak_count(&a), 2);
    assert_eq!(w.strong_count(), 1);
    assert_eq!(w.weak_count(), 2);
    let up = w.upgrade().unwrap();
    assert_eq!(Rc::strong_count(&a), 2);
    drop(up);
    drop(a);
    assert!(w.upgrade().is_none());
    assert_eq!(w2.strong_count(), 0);
    assert_eq!(w2.weak_count(), 0);
    let empty: Weak<i32> = Weak::new();
    assert!(empty.upgrade().is_none());
    assert!(!empty.is_alive());
    assert!(Weak::<i32>::new().ptr_eq(&empty));
    drop(empty.clone());
}

#[test]
fn value_dropped_when_strong_goes_memory_when_weak_goes() {
    let log = Log::default();
    let a = Rc::new(Tracked("v", log.clone()));
    let w = Rc::downgrade(&a);
    drop(a);
    assert_eq!(log.take(), ["v"]);
    assert!(!w.is_alive());
    drop(w); // frees the memory (miri checks there is no leak or double free)
}

#[test]
fn get_mut_only_when_unique() {
    let mut a = Rc::new(1);
    *Rc::get_mut(&mut a).unwrap() = 2;
    let w = Rc::downgrade(&a);
    assert!(Rc::get_mut(&mut a).is_none(), "a weak handle exists");
    drop(w);
    let b = a.clone();
    assert!(Rc::get_mut(&mut a).is_none(), "a strong handle exists");
    drop(b);
    assert_eq!(*Rc::get_mut(&mut a).unwrap(), 2);
    Rc::make_immortal(&a);
    assert!(
        Rc::get_mut(&mut a).is_none(),
        "immortal boxes are never unique"
    );
}

#[test]
fn make_mut_clones_on_write() {
    let mut a = Rc::new(vec![1]);
    let b = a.clone();
    let w = Rc::downgrade(&a);
    Rc::make_mut(&mut a).push(2);
    assert_eq!(*a, [1, 2]);
    assert_eq!(*b, [1]);
    assert!(!Rc::ptr_eq(&a, &b));
    // the weak handle still points at the old box, which `b` keeps alive
    assert_eq!(*w.upgrade().unwrap(), [1]);
    let before = Rc::as_ptr(&a);
    Rc::make_mut(&mut a).push(3);
    assert_eq!(Rc::as_ptr(&a), before, "unique: no clone");
}

#[test]
fn try_unwrap_kills_weak_handles_and_runs_callbacks() {
    let ran = StdRc::new(Cell::new(0));
    let a = Rc::new(String::from("x"));
    let b = a.clone();
    let r = ran.clone();
    let wr = Weak::with_callback(&a, move || r.set(r.get() + 1));
    let a = Rc::try_unwrap(a).unwrap_err();
    assert_eq!(ran.get(), 0);
    drop(b);
    assert_eq!(Rc::try_unwrap(a).unwrap(), "x");
    assert_eq!(ran.get(), 1);
    assert!(wr.upgrade().is_none());
    let imm = Rc::new_immortal(1);
    assert!(Rc::try_unwrap(imm).is_err());
}

#[test]
fn into_raw_from_raw_round_trip() {
    let log = Log::default();
    let a = Rc::new(Tracked("raw", log.clone()));
    let b = a.clone();
    let p = Rc::into_raw(a);
    assert_eq!(Rc::strong_count(&b), 2);
    // SAFETY: `p` came from `Rc::into_raw` of the same type.
    let a = unsafe { Rc::from_raw(p) };
    assert!(Rc::ptr_eq(&a, &b));
    drop((a, b));
    assert_eq!(log.take(), ["raw"]);
}

#[test]
fn immortal_counts_are_never_written_and_never_freed() {
    let log = Log::default();
    let a = Rc::new(Tracked("immortal", log.clone()));
    let b = a.clone();
    Rc::make_immortal(&a);
    assert!(Rc::flags(&a).contains(Flags::IMMORTAL));
    let pinned = Rc::strong_count(&a);
    let clones: Vec<_> = (0..10).map(|_| a.clone()).collect();
    assert_eq!(Rc::strong_count(&a), pinned);
    drop(clones);
    drop(b);
    let w = Rc::downgrade(&a);
    drop(a);
    assert_eq!(Rc::strong_count(&w.upgrade().unwrap()), pinned);
    assert!(log.take().is_empty(), "immortal values are never dropped");
    // The box is leaked on purpose (under miri it is recorded in a static
    // list, so the leak checker sees it as reachable).
    drop(w);
}

/// Count overflow aborts the process, as std does. Runs in a child process
/// (this test binary re-run on this one test).
#[test]
#[cfg_attr(miri, ignore = "spawns a child process")]
fn count_overflow_aborts() {
    if std::env::var_os("COIL_OVERFLOW_CHILD").is_some() {
        let a = Rc::new(0u8);
        // SAFETY: deliberately corrupting the count to reach the overflow
        // check; the process aborts before the count is used.
        unsafe { Rc::header(&a).set_strong_local(coil_refcount::MAX_MORTAL - 1) };
        let _b = a.clone();
        unreachable!("clone past MAX_MORTAL must abort");
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "count_overflow_aborts", "--nocapture"])
        .env("COIL_OVERFLOW_CHILD", "1")
        .output()
        .unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        out.status.signal(),
        Some(6),
        "expected SIGABRT, got {:?}",
        out.status
    );
}

#[test]
fn formatting_comparison_hashing_by_value() {
    let a = Rc::new(3);
    let b = Rc::new(3);
    let c = Rc::new(4);
    assert_eq!(a, b);
    assert!(a < c);
    assert_eq!(a.cmp(&c), std::cmp::Ordering::Less);
    assert_eq!(format!("{a} {b:?}"), "3 3");
    let hash = |v: &dyn Fn(&mut DefaultHasher)| {
        let mut h = DefaultHasher::new();
        v(&mut h);
        h.finish()
    };
    assert_eq!(hash(&|h| a.hash(h)), hash(&|h| 3.hash(h)));
    assert_eq!(*Rc::<i32>::default(), 0);
    assert_eq!(*Rc::from(9), 9);
    assert!(format!("{a:p}").starts_with("0x"));
}

/// An allocator that fails on demand and counts its live blocks.
#[derive(Clone, Default)]
struct Counting {
    live: StdRc<Cell<isize>>,
    fail: bool,
}

// SAFETY: forwards to Global, which upholds the Allocator contract.
unsafe impl Allocator for Counting {
    fn allocate(&self, layout: Layout) -> Result<core::ptr::NonNull<[u8]>, AllocError> {
        if self.fail {
            return Err(AllocError);
        }
        self.live.set(self.live.get() + 1);
        Global.allocate(layout)
    }
    unsafe fn deallocate(&self, ptr: core::ptr::NonNull<u8>, layout: Layout) {
        self.live.set(self.live.get() - 1);
        // SAFETY: forwarded from our caller; allocated by Global above.
        unsafe { Global.deallocate(ptr, layout) }
    }
}

#[test]
fn custom_allocator_holds_and_frees_the_box() {
    let alloc = Counting::default();
    let a = Rc::new_in(String::from("in my heap"), alloc.clone());
    let w = Rc::downgrade(&a);
    assert_eq!(alloc.live.get(), 1);
    drop(a);
    assert_eq!(alloc.live.get(), 1, "the weak handle keeps the memory");
    drop(w);
    assert_eq!(alloc.live.get(), 0);
}

#[test]
fn values_without_drop_glue_free_at_once_unless_weak_or_callbacks() {
    // u64 has no drop glue: the last strong drop takes the direct-free path
    // only when no weak handle and no callback exist.
    let alloc = Counting::default();
    let a = Rc::new_in(7u64, alloc.clone());
    let b = a.clone();
    drop(a);
    assert_eq!(alloc.live.get(), 1);
    drop(b);
    assert_eq!(alloc.live.get(), 0, "freed by the last strong drop");

    let a = Rc::new_in(7u64, alloc.clone());
    let w = Rc::downgrade(&a);
    drop(a);
    assert!(w.upgrade().is_none(), "dead for weak handles");
    assert_eq!(alloc.live.get(), 1, "the weak handle keeps the memory");
    drop(w);
    assert_eq!(alloc.live.get(), 0);

    let fired = StdRc::new(Cell::new(false));
    let a = Rc::new_in(7u64, alloc.clone());
    let f = fired.clone();
    let r = Weak::with_callback(&a, move || f.set(true));
    drop(a);
    assert!(
        fired.get(),
        "callback ran although the value has no drop glue"
    );
    drop(r);
    assert_eq!(alloc.live.get(), 0);
}

#[test]
fn allocation_failure_is_a_typed_error() {
    let alloc = Counting {
        fail: true,
        ..Counting::default()
    };
    let err = Rc::try_new_in(1u64, alloc).unwrap_err();
    assert!(matches!(err, Error::AllocFailed { size, .. } if size > 8));
    assert!(err.to_string().contains("failed"));
}

#[test]
fn weak_ref_debug_and_ptr() {
    let a = Rc::new(1);
    let w = Weak::with_callback(&a, || {});
    assert_eq!(w.weak().as_ptr(), Rc::as_ptr(&a));
    assert!(format!("{w:?}").contains("callback_pending: true"));
}
