//! `allocator_api2::alloc::Allocator` for `&Heap` and `GlobalHeap`, so
//! `allocator_api2`/`hashbrown` collections can live in the heap (feature
//! `allocator-api2`, on by default).

use std::alloc::{GlobalAlloc, Layout};
use std::ptr::NonNull;

use allocator_api2::alloc::{AllocError, Allocator};

use crate::{GlobalHeap, Heap};

// SAFETY: blocks stay valid until deallocated or until the `Heap` is dropped, which the
// `&Heap` borrow prevents while the allocator (and any collection holding it) lives;
// `Heap` handles every layout (zero sizes included) and frees by layout.
unsafe impl Allocator for &Heap {
    #[inline]
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        let p = Heap::alloc(self, layout).ok_or(AllocError)?;
        Ok(NonNull::slice_from_raw_parts(p, layout.size()))
    }

    #[inline]
    fn allocate_zeroed(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        let p = Heap::alloc_zeroed(self, layout).ok_or(AllocError)?;
        Ok(NonNull::slice_from_raw_parts(p, layout.size()))
    }

    #[inline]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: the Allocator contract: `ptr` is live in this heap with `layout`.
        unsafe { Heap::dealloc(self, ptr, layout) }
    }

    unsafe fn grow(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        // SAFETY: the Allocator contract on `ptr`/`old`.
        unsafe { resize(self, ptr, old, new) }
    }

    unsafe fn shrink(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        // SAFETY: the Allocator contract on `ptr`/`old`.
        unsafe { resize(self, ptr, old, new) }
    }
}

/// # Safety
/// `ptr` is live in `heap` with `old`.
unsafe fn resize(
    heap: &Heap,
    ptr: NonNull<u8>,
    old: Layout,
    new: Layout,
) -> Result<NonNull<[u8]>, AllocError> {
    let q = if new.align() == old.align() {
        // SAFETY: per the caller.
        unsafe { heap.realloc(ptr, old, new.size()) }.ok_or(AllocError)?
    } else {
        let q = heap.alloc(new).ok_or(AllocError)?;
        // SAFETY: distinct live blocks; copy what both hold, then free the old one.
        unsafe {
            q.as_ptr()
                .copy_from_nonoverlapping(ptr.as_ptr(), old.size().min(new.size()));
            heap.dealloc(ptr, old);
        }
        q
    };
    Ok(NonNull::slice_from_raw_parts(q, new.size()))
}

// SAFETY: global blocks stay valid until deallocated, from any thread; zero sizes are
// served by a real block and freed by layout like every other.
unsafe impl Allocator for GlobalHeap {
    #[inline]
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        // SAFETY: GlobalHeap accepts every layout, zero sizes included.
        let p = NonNull::new(unsafe { GlobalAlloc::alloc(self, layout) }).ok_or(AllocError)?;
        Ok(NonNull::slice_from_raw_parts(p, layout.size()))
    }

    #[inline]
    fn allocate_zeroed(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        // SAFETY: as above.
        let p =
            NonNull::new(unsafe { GlobalAlloc::alloc_zeroed(self, layout) }).ok_or(AllocError)?;
        Ok(NonNull::slice_from_raw_parts(p, layout.size()))
    }

    #[inline]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: the Allocator contract.
        unsafe { GlobalAlloc::dealloc(self, ptr.as_ptr(), layout) }
    }

    unsafe fn grow(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        // SAFETY: the Allocator contract on `ptr`/`old`.
        unsafe { global_resize(ptr, old, new) }
    }

    unsafe fn shrink(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        // SAFETY: the Allocator contract on `ptr`/`old`.
        unsafe { global_resize(ptr, old, new) }
    }
}

/// # Safety
/// `ptr` is live in the global heap with `old`.
unsafe fn global_resize(
    ptr: NonNull<u8>,
    old: Layout,
    new: Layout,
) -> Result<NonNull<[u8]>, AllocError> {
    let q = if new.align() == old.align() {
        // SAFETY: per the caller; `new` is a valid layout with the same alignment.
        unsafe { GlobalAlloc::realloc(&GlobalHeap, ptr.as_ptr(), old, new.size()) }
    } else {
        // SAFETY: a valid layout.
        let q = unsafe { GlobalAlloc::alloc(&GlobalHeap, new) };
        if !q.is_null() {
            // SAFETY: distinct live blocks; copy then free the old one.
            unsafe {
                q.copy_from_nonoverlapping(ptr.as_ptr(), old.size().min(new.size()));
                GlobalAlloc::dealloc(&GlobalHeap, ptr.as_ptr(), old);
            }
        }
        q
    };
    let q = NonNull::new(q).ok_or(AllocError)?;
    Ok(NonNull::slice_from_raw_parts(q, new.size()))
}
