//! The raw layer as a cycle collector uses it: a handle type with a prefix
//! header, a dead two-object cycle collected by "hold memory, clear weak
//! references, drop every value, run callbacks, release", prefix/header/value
//! pointer conversions, and the trashcan with a foreign destroy routine.

use std::{
    cell::{Cell, RefCell},
    ptr::NonNull,
    rc::Rc as StdRc,
};

use coil_refcount::{
    Flags, Local, allocator_api2::alloc::Global, callbacks::Registration, raw::RcBox, trashcan,
};

/// A stand-in for coil-gc's `PyGC_Head`-like prefix.
struct GcHead {
    tag: u32,
}

type B<T> = RcBox<GcHead, T, Global>;

/// A minimal collector-style strong handle.
struct Gc<T> {
    ptr: NonNull<B<T>>,
}

impl<T> Gc<T> {
    fn new(tag: u32, v: T) -> Self {
        Gc {
            ptr: B::allocate(GcHead { tag }, v, Global, Flags::TRACKED),
        }
    }
    fn header(&self) -> &coil_refcount::Header {
        // SAFETY: we hold a strong reference.
        unsafe { B::header(self.ptr).as_ref() }
    }
}

impl<T> Clone for Gc<T> {
    fn clone(&self) -> Self {
        // SAFETY: live box, this thread only.
        unsafe { self.header().inc_strong_local() };
        Gc { ptr: self.ptr }
    }
}

impl<T> Drop for Gc<T> {
    fn drop(&mut self) {
        // SAFETY: we give up our strong reference; when it was the last one the
        // box goes to the trashcan with the crate's own destroy routine.
        unsafe {
            if self.header().dec_strong_local() {
                trashcan::destroy(self.ptr.cast(), B::<T>::destroy_erased::<Local>);
            }
        }
    }
}

struct Node {
    next: RefCell<Option<Gc<Node>>>,
    drops: StdRc<Cell<usize>>,
}

impl Drop for Node {
    fn drop(&mut self) {
        self.drops.set(self.drops.get() + 1);
    }
}

#[test]
fn pointer_conversions_round_trip() {
    let g = Gc::new(7, 42u64);
    // SAFETY: live box.
    unsafe {
        let h = B::<u64>::header(g.ptr);
        let v = B::<u64>::value(g.ptr);
        let p = B::<u64>::prefix(g.ptr);
        assert_eq!(B::<u64>::from_header(h), g.ptr);
        assert_eq!(B::<u64>::from_value(v), g.ptr);
        assert_eq!(B::<u64>::from_prefix(p), g.ptr);
        assert_eq!((*p.as_ptr()).tag, 7);
        assert_eq!(*v.as_ptr(), 42);
        assert_eq!(
            h.cast::<u8>().as_ptr().offset_from(p.cast::<u8>().as_ptr()) as usize,
            B::<u64>::HEADER_OFFSET
        );
    }
    assert!(g.header().flags().contains(Flags::TRACKED));
}

#[test]
fn a_dead_cycle_is_collected_in_separate_steps() {
    let drops = StdRc::new(Cell::new(0));
    let a = Gc::new(
        1,
        Node {
            next: RefCell::new(None),
            drops: drops.clone(),
        },
    );
    let b = Gc::new(
        2,
        Node {
            next: RefCell::new(Some(a.clone())),
            drops: drops.clone(),
        },
    );
    // SAFETY: live box of `a`.
    unsafe { *(*B::<Node>::value(a.ptr).as_ptr()).next.borrow_mut() = Some(b.clone()) };

    // A weak reference (raw: one weak count) and a callback on `a`.
    // SAFETY: live box, this thread only.
    unsafe { a.header().inc_weak_local() };
    let fired = StdRc::new(Cell::new(false));
    let f = fired.clone();
    // SAFETY: live single-thread box.
    let reg = unsafe { Registration::new(a.header(), Box::new(move || f.set(true))) };

    let (pa, pb) = (a.ptr, b.ptr);
    drop(a);
    drop(b);
    assert_eq!(drops.get(), 0, "the cycle keeps itself alive");

    // "Collect": the collector decided both are unreachable.
    let dead = [pa, pb];
    // SAFETY: both boxes are alive (the cycle holds them); this thread only.
    unsafe {
        // 1. hold the memory of every dead object
        for &p in &dead {
            B::<Node>::header(p).as_ref().inc_strong_local();
        }
        // 2. clear weak references first, taking the callbacks aside
        let mut lists = Vec::new();
        for &p in &dead {
            let h = B::<Node>::header(p).as_ref();
            h.insert_flags_local(Flags::WEAK_CLEARED);
            lists.push(h.take_callbacks());
        }
        assert!(
            !B::<Node>::header(pa).as_ref().upgrade_local(),
            "weak refs see it dead"
        );
        // 3. drop every value; memory stays valid while destructors run
        for &p in &dead {
            assert!(B::<Node>::drop_value::<Local>(p));
        }
        assert_eq!(drops.get(), 2);
        // 4. callbacks of surviving weak references
        for l in lists {
            l.run();
        }
        assert!(fired.get());
        // 5. release the held references: values are already dropped, so this
        //    only frees memory (pa is kept by the raw weak reference)
        for &p in &dead {
            if B::<Node>::header(p).as_ref().dec_strong_local() {
                B::<Node>::destroy::<Local>(p);
            }
        }
        assert_eq!(drops.get(), 2, "no value is dropped twice");
        assert_eq!(B::<Node>::header(pa).as_ref().strong(), 0);
        // 6. the raw weak reference goes: the memory of `a` is freed
        assert!(B::<Node>::release_weak::<Local>(pa));
    }
    drop(reg);
}

#[test]
fn foreign_destroy_routines_share_the_work_list() {
    thread_local! { static RAN: Cell<usize> = const { Cell::new(0) }; }
    unsafe fn count(p: NonNull<()>) {
        RAN.with(|r| r.set(r.get() + 1));
        // SAFETY: `p` is a leaked Box<u8> (below).
        drop(unsafe { Box::from_raw(p.cast::<u8>().as_ptr()) });
    }
    /// A destroy routine that destroys three more boxes from inside.
    unsafe fn nest(_: NonNull<()>) {
        for _ in 0..3 {
            let b = NonNull::from(Box::leak(Box::new(0u8))).cast::<()>();
            // SAFETY: `count` frees exactly the box it is given.
            unsafe { trashcan::destroy(b, count) };
        }
    }
    let b = NonNull::from(Box::leak(Box::new(1u8))).cast::<()>();
    // SAFETY: `count` frees the box.
    unsafe { trashcan::destroy(b, count) };
    assert_eq!(RAN.with(Cell::get), 1);
    // SAFETY: `nest` never dereferences its (dangling) pointer.
    unsafe { trashcan::destroy(NonNull::dangling(), nest) };
    assert_eq!(RAN.with(Cell::get), 4);
    assert_eq!(trashcan::pending(), 0);
}
