//! What each bad input gets: zero sizes, huge alignments, sizes near `isize::MAX`,
//! double frees and foreign pointers (debug builds panic with a clear message), OOM.

use std::alloc::{GlobalAlloc, Layout};

use coil_heap::{Error, GlobalHeap, Heap};

#[test]
fn zero_size_layouts_get_unique_blocks() {
    let heap = Heap::new();
    let l = Layout::from_size_align(0, 1).unwrap();
    let a = heap.alloc(l).unwrap();
    let b = heap.alloc(l).unwrap();
    assert_ne!(a, b, "zero-size blocks are unique");
    assert_eq!(heap.stats().classes[0].blocks_in_use, 2);
    // Zero size with a big alignment goes to the system allocator.
    let big = Layout::from_size_align(0, 4096).unwrap();
    let c = heap.alloc(big).unwrap();
    assert_eq!(c.as_ptr() as usize % 4096, 0);
    // SAFETY: live blocks with their layouts.
    unsafe {
        heap.dealloc(a, l);
        heap.dealloc(b, l);
        heap.dealloc(c, big);
    }
    assert_eq!(heap.stats().blocks_in_use(), 0);
}

#[test]
fn alignments_larger_than_a_page() {
    let heap = Heap::new();
    for align_log in [5u32, 12, 16, 21] {
        let l = Layout::from_size_align(24, 1 << align_log).unwrap();
        let p = heap.alloc(l).unwrap();
        assert_eq!(p.as_ptr() as usize % l.align(), 0);
        // SAFETY: fresh block of 24 bytes.
        unsafe { p.as_ptr().write_bytes(1, 24) };
        // SAFETY: live block.
        let q = unsafe { heap.realloc(p, l, 5000) }.unwrap();
        assert_eq!(q.as_ptr() as usize % l.align(), 0);
        // SAFETY: realloc kept 24 bytes.
        assert_eq!(unsafe { *q.as_ptr().add(23) }, 1);
        // SAFETY: live block with its new layout.
        unsafe { heap.dealloc(q, Layout::from_size_align(5000, l.align()).unwrap()) };
    }
    let l = Layout::from_size_align(8, 1 << 14).unwrap();
    // SAFETY: valid layout.
    let p = unsafe { GlobalHeap.alloc(l) };
    assert!(!p.is_null() && p as usize % (1 << 14) == 0);
    // SAFETY: live block.
    unsafe { GlobalHeap.dealloc(p, l) };
}

#[test]
#[cfg_attr(
    miri,
    ignore = "miri reports the huge allocation as an error instead of null"
)]
fn sizes_near_isize_max_and_oom_return_none() {
    let heap = Heap::new();
    let huge = Layout::from_size_align(isize::MAX as usize - 15, 16).unwrap();
    assert!(heap.alloc(huge).is_none());
    assert!(heap.alloc_zeroed(huge).is_none());
    assert_eq!(
        heap.try_alloc(huge),
        Err(Error::OutOfMemory { size: huge.size() })
    );
    // SAFETY: valid layout; the global allocator reports OOM as null.
    assert!(unsafe { GlobalHeap.alloc(huge) }.is_null());
    let l = Layout::new::<u64>();
    let p = heap.alloc(l).unwrap();
    // A new size that cannot form a layout: None, and the old block is still live.
    // SAFETY: live block.
    assert!(unsafe { heap.realloc(p, l, usize::MAX - 3) }.is_none());
    // SAFETY: live block.
    assert!(unsafe { heap.realloc(p, l, isize::MAX as usize - 7) }.is_none());
    // SAFETY: live block; both calls fail and leave it live.
    unsafe {
        assert_eq!(
            heap.try_realloc(p, l, usize::MAX),
            Err(Error::InvalidLayout {
                size: usize::MAX,
                align: 8
            })
        );
        assert_eq!(
            heap.try_realloc(p, l, isize::MAX as usize - 7),
            Err(Error::OutOfMemory {
                size: isize::MAX as usize - 7
            })
        );
    }
    // SAFETY: still live after the failed reallocs.
    unsafe { heap.dealloc(p, l) };
    assert_eq!(heap.stats().blocks_in_use(), 0);
    assert!(
        Error::OutOfMemory { size: 1 }
            .to_string()
            .contains("out of memory")
    );
}

#[cfg(debug_assertions)]
mod debug_checks {
    use super::*;

    #[test]
    #[should_panic(expected = "double free")]
    fn double_free_panics() {
        let heap = Heap::new();
        let l = Layout::new::<[u8; 32]>();
        let keep = heap.alloc(l).unwrap();
        let p = heap.alloc(l).unwrap();
        // SAFETY: deliberately wrong: the second free is the bug under test; the debug
        // check panics before touching the heap.
        unsafe {
            heap.dealloc(p, l);
            heap.dealloc(p, l);
        }
        let _ = keep;
    }

    #[test]
    #[should_panic(expected = "not a block of coil-heap")]
    fn foreign_pointer_panics() {
        let heap = Heap::new();
        let mut local = [0u64; 4];
        let p = std::ptr::NonNull::new(local.as_mut_ptr().cast::<u8>()).unwrap();
        // SAFETY: deliberately wrong (the bug under test); the check panics first.
        unsafe { heap.dealloc(p, Layout::new::<[u64; 4]>()) };
    }

    #[test]
    #[should_panic(expected = "did not allocate it")]
    fn block_of_another_heap_panics() {
        let a = Heap::new();
        let b = Heap::new();
        let l = Layout::new::<u64>();
        let p = a.alloc(l).unwrap();
        // SAFETY: deliberately wrong (the bug under test); the check panics first.
        unsafe { b.dealloc(p, l) };
    }

    #[test]
    #[should_panic(expected = "size class")]
    fn wrong_layout_panics() {
        let heap = Heap::new();
        let p = heap.alloc(Layout::new::<[u8; 64]>()).unwrap();
        // SAFETY: deliberately wrong (the bug under test); the check panics first.
        unsafe { heap.dealloc(p, Layout::new::<[u8; 200]>()) };
    }

    #[test]
    #[should_panic(expected = "not the start of a block")]
    fn interior_pointer_panics() {
        let heap = Heap::new();
        let l = Layout::new::<[u8; 64]>();
        let p = heap.alloc(l).unwrap();
        let inner = std::ptr::NonNull::new(p.as_ptr().wrapping_add(16)).unwrap();
        // SAFETY: deliberately wrong (the bug under test); the check panics first.
        unsafe { heap.dealloc(inner, Layout::new::<[u8; 64]>()) };
    }

    #[test]
    #[should_panic(expected = "double free")]
    fn global_double_free_panics() {
        let l = Layout::new::<[u8; 48]>();
        // SAFETY: valid layout.
        let keep = unsafe { GlobalHeap.alloc(l) };
        // SAFETY: valid layout.
        let p = unsafe { GlobalHeap.alloc(l) };
        // SAFETY: deliberately wrong; the check panics before the second free.
        unsafe {
            GlobalHeap.dealloc(p, l);
            GlobalHeap.dealloc(p, l);
        }
        let _ = keep;
    }
}

/// Current virtual memory size of this process, from /proc/self/statm.
fn virtual_bytes() -> usize {
    let s = std::fs::read_to_string("/proc/self/statm").expect("statm");
    let pages: usize = s.split_whitespace().next().unwrap().parse().unwrap();
    pages * coil_heap::sys::page_size()
}

#[test]
#[cfg_attr(miri, ignore = "forks and limits the address space")]
fn mmap_failure_returns_none_and_the_heap_recovers() {
    // In a child: cap the address space, allocate until the heap reports OOM, free
    // everything, allocate again.
    // SAFETY: the child only runs the closure below and `_exit`s.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        let ok = std::panic::catch_unwind(|| {
            let limit = (virtual_bytes() + (48 << 20)) as libc::rlim_t;
            let rl = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            // SAFETY: plain syscall on our own process.
            assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &rl) }, 0);
            let heap = Heap::new();
            let l = Layout::new::<[u8; 256]>();
            let mut blocks = Vec::with_capacity(1 << 20);
            let mut hit_oom = false;
            for _ in 0..(1 << 20) {
                match heap.alloc(l) {
                    Some(p) => blocks.push(p),
                    None => {
                        hit_oom = true;
                        break;
                    }
                }
            }
            assert!(hit_oom, "48 MiB of address space must run out");
            assert!(heap.try_alloc(l).is_err());
            for p in blocks.drain(..) {
                // SAFETY: live blocks with their layout.
                unsafe { heap.dealloc(p, l) };
            }
            heap.trim();
            let p = heap.alloc(l).expect("memory is back after the frees");
            // SAFETY: live block.
            unsafe { heap.dealloc(p, l) };
        })
        .is_ok();
        // SAFETY: leave the child at once.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let mut status = 0;
    // SAFETY: our own child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "status {status}"
    );
}
