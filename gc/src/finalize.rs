//! PEP 442 finalizers: [`Finalize`].

/// A finalizer (`__del__`, PEP 442): runs once before the object dies,
/// whether it dies by its count reaching zero or in a collected cycle, while
/// every object it can reach is still alive and valid. It may resurrect the
/// object (store a new handle somewhere); the object then lives on, and its
/// finalizer is never called again. Create such objects with
/// [`Gc::new_finalized`](crate::Gc::new_finalized).
///
/// A panic inside `finalize` is caught and reported (the panic hook prints
/// it, like CPython's "Exception ignored in"), and destruction continues.
///
/// # Examples
///
/// ```
/// use coil_gc::{Finalize, Gc, Trace};
/// use std::cell::{Cell, RefCell};
///
/// thread_local!(static DELETED: Cell<u32> = const { Cell::new(0) });
///
/// #[derive(Trace)]
/// struct MyObject { other: RefCell<Option<Gc<MyObject>>> }
/// impl Finalize for MyObject {
///     fn finalize(&self) { DELETED.with(|d| d.set(d.get() + 1)); }
/// }
/// let obj1 = Gc::new_finalized(MyObject { other: RefCell::new(None) });
/// let obj2 = Gc::new_finalized(MyObject { other: RefCell::new(Some(obj1.clone())) });
/// *obj1.other.borrow_mut() = Some(obj2.clone());
/// drop((obj1, obj2));
/// assert_eq!(coil_gc::collect(2).unwrap(), 2);
/// assert_eq!(DELETED.with(Cell::get), 2);
/// ```
pub trait Finalize {
    /// Called at most once, before the object's value is dropped.
    fn finalize(&self);
}
