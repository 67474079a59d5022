//! `allocator_api2` collections living in a `Heap` and in the `GlobalHeap`.
#![cfg(feature = "allocator-api2")]

use allocator_api2::boxed::Box;
use allocator_api2::vec::Vec;
use coil_heap::{GlobalHeap, Heap};

#[test]
fn vec_and_box_in_a_heap() {
    let heap = Heap::new();
    {
        let mut v: Vec<u64, &Heap> = Vec::new_in(&heap);
        for i in 0..10_000 {
            v.push(i); // grows through small classes into the system range
        }
        assert_eq!(v.iter().sum::<u64>(), 49_995_000);
        v.truncate(10);
        v.shrink_to_fit();
        assert_eq!(v.len(), 10);
        let b = Box::new_in([7u8; 40], &heap);
        assert_eq!(heap.stats().blocks_in_use(), 2);
        assert_eq!(b[39], 7);
    }
    assert_eq!(heap.stats().blocks_in_use(), 0);
    assert_eq!(heap.stats().large_blocks, 0);
}

#[test]
fn vec_in_the_global_heap() {
    let mut v: Vec<String, GlobalHeap> = Vec::new_in(GlobalHeap);
    for i in 0..1000 {
        v.push(i.to_string());
    }
    assert_eq!(v[999], "999");
}
