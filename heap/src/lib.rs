//! `coil-heap`: CPython's arena/pool/block small-object allocator (pymalloc).
#![cfg_attr(miri, allow(dead_code))]

#[cfg(feature = "allocator-api2")]
mod alloc_api;
mod arena;
mod arena_map;
mod checks;
mod core_heap;
mod error;
pub mod geometry;
mod global;
mod heap;
mod pool;
mod stats;
pub mod sys;
pub mod trace;

pub use error::Error;
pub use global::GlobalHeap;
pub use heap::Heap;
pub use stats::{ClassStats, Stats};
