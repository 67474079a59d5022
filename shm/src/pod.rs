//! `Pod`: the types that may live in shared memory, and `AtomicPod`: those that
//! can also be used in place as atomics.
//!
//! Shared memory is read by other processes that may have been written by any
//! version of any program mapping the segment, and survives the death of a
//! writer half-way through a store. So a type stored there must be plain old
//! data: no pointers (an address means nothing in another process), no
//! destructor, and every bit pattern a valid value (a torn or foreign write
//! must never produce undefined behaviour on read).

/// Plain old data that may be stored in shared memory.
///
/// # Safety
///
/// Implement only for types that
///
/// 1. are `Copy` and have no `Drop` glue;
/// 2. contain no pointers, references or handles into private memory
///    (`Box`, `&T`, `Vec`, file descriptors as owners, …);
/// 3. are valid for **every** bit pattern of their size, including all zeros
///    and any mix of bytes from two different values (so `bool`, `char`, enums
///    and references are excluded; use `u8`, `u32` and integers instead);
/// 4. have a layout that does not depend on the process (`#[repr(C)]` or
///    `#[repr(transparent)]` for your own structs, with padding made explicit
///    as fields, since padding bytes are uninitialized).
///
/// # Examples
///
/// ```
/// use coil_shm::Pod;
///
/// #[derive(Clone, Copy)]
/// #[repr(C)]
/// struct Point { x: f64, y: f64 }
/// // SAFETY: two f64s, repr(C), no padding, any bits are a valid Point.
/// unsafe impl Pod for Point {}
/// ```
pub unsafe trait Pod: Copy + Send + Sync + 'static {}

macro_rules! pod {
    ($($t:ty),*) => {$(
        // SAFETY: a primitive number: no pointers, every bit pattern valid.
        unsafe impl Pod for $t {}
    )*};
}
pod!(
    u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, f32, f64
);

// SAFETY: an array of Pod has no padding between elements and every element is Pod.
unsafe impl<T: Pod, const N: usize> Pod for [T; N] {}

/// A [`Pod`] integer that can be used in place as an atomic, through
/// [`SharedValue::atomic`](crate::SharedValue::atomic) and
/// [`SharedArray::atomic`](crate::SharedArray::atomic).
///
/// # Safety
///
/// `Atomic` must have the same size and alignment as `Self` and be a
/// lock-free atomic wrapper of it (its operations work across processes).
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// fn bump<T: coil_shm::AtomicPod<Atomic = AtomicU64>>(a: &AtomicU64) {
///     a.fetch_add(1, Ordering::SeqCst);
/// }
/// ```
pub unsafe trait AtomicPod: Pod {
    /// The matching `std::sync::atomic` type.
    type Atomic: Send + Sync;
}

macro_rules! atomic_pod {
    ($($t:ty => $a:ty),*) => {$(
        // SAFETY: std's atomic of the same integer: same size and alignment
        // (asserted below), lock-free on every target coil supports.
        unsafe impl AtomicPod for $t { type Atomic = $a; }
        const _: () = assert!(
            size_of::<$t>() == size_of::<$a>() && align_of::<$t>() == align_of::<$a>()
        );
    )*};
}
use std::sync::atomic::{
    AtomicI8, AtomicI16, AtomicI32, AtomicI64, AtomicIsize, AtomicU8, AtomicU16, AtomicU32,
    AtomicU64, AtomicUsize,
};
atomic_pod!(u8 => AtomicU8, u16 => AtomicU16, u32 => AtomicU32, u64 => AtomicU64,
    usize => AtomicUsize, i8 => AtomicI8, i16 => AtomicI16, i32 => AtomicI32,
    i64 => AtomicI64, isize => AtomicIsize);
