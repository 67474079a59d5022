//! The heap's geometry: every size that shapes arenas, pools and blocks, in one place.
//!
//! ```text
//!  arena (ARENA_SIZE, aligned to ARENA_SIZE, from mmap)
//!  +-----------+-----------+-----------+-----+-----------+
//!  | slot 0:   | pool 1    | pool 2    | ... | pool N    |   N = POOLS_PER_ARENA
//!  | arena     | (one size | (one size |     |           |
//!  | header    |  class)   |  class)   |     |           |
//!  +-----------+-----------+-----------+-----+-----------+
//!
//!  pool (POOL_SIZE, aligned to POOL_SIZE)
//!  +--------+-------+-------+-------+-- ... --+-------+------+
//!  | header | block | block | block |         | block | tail |
//!  +--------+-------+-------+-------+-- ... --+-------+------+
//!    POOL_HEADER_SIZE, then blocks of one size class, no per-block header
//! ```
//!
//! # Why these numbers
//!
//! * **`ALIGNMENT` = 16.** Every block is 16-byte aligned, which is what `malloc`
//!   promises on x86-64 and aarch64 and what Rust types up to `u128` need. Size classes
//!   are spaced by the alignment (16, 32, ..., 512), so the class of a size is one shift:
//!   `(size - 1) >> 4`; no lookup table is needed and none is faster. Layouts asking for
//!   more alignment go to the system allocator.
//! * **`SMALL_REQUEST_THRESHOLD` = 512.** CPython's threshold. Above it, the relative
//!   cost of a system `malloc` is small next to the work done with the memory, and a pool
//!   of 16 KiB would hold too few blocks (31 at 512 B) to amortise its header and its
//!   trips through the arena.
//! * **`POOL_SIZE` = 16 KiB.** CPython 3.10+ on 64-bit uses the same. The 48-byte header
//!   costs 0.3 % of a pool, so a 64-byte object costs 64.2 bytes resident (the goal is
//!   <= 66). Smaller pools (4 KiB) cost 1.2 % in headers and four times as many pool
//!   refills; bigger ones make empty pools rarer, which hurts giving memory back.
//! * **`ARENA_SIZE` = 1 MiB.** Big enough that `mmap`/`munmap` is rare (one call per
//!   16,000 64-byte objects), small enough that an arena empties when a program frees a
//!   generation of objects, so memory really goes back (the `rss-after-free-ordered`
//!   workload). Slot 0 holds the arena header; only its first page is ever touched, so
//!   the resident cost is 4 KiB per MiB (0.4 %).
//! * **`FREE_CACHE_SIZE` = 64.** A free pushes the pointer on a per-class stack
//!   without touching the block or its pool header; an allocation pops it. Under churn
//!   with a million live objects this removes two cache misses per free (the block and
//!   its pool header, both cold), which is what made the pool-only design 2x slower
//!   than jemalloc there. When the stack is full, the newer half goes back to its
//!   pools. 64 pointers x 32 classes = 16 KiB per heap.
//! * **`ARENA_RESERVE` = 4.** Empty arenas kept mapped (4 MiB) instead of returned at
//!   once: CPython 3.11 returns an arena the moment it empties, and under batch churn that
//!   costs it up to 50x the page faults of glibc. `trim()` returns the reserve too.
//! * **`ARENA_RESERVE_MAX` = 64.** A heap that frees a batch of arenas and then maps
//!   fresh ones (a collector freeing a million dead objects that the program then
//!   allocates again) pays an `munmap`, an `mmap` and 256 page faults per arena per
//!   round; unmapping 60 arenas was about 4 ns of the 20-25 ns per object that
//!   `coil-gc` spends freeing a dead cycle. So each fresh mapping that follows
//!   unmaps raises the reserve by the number unmapped, up to 64 arenas (64 MiB, the
//!   ceiling of glibc's dynamic trim threshold); `trim()` gives it all back and resets
//!   the reserve to 4. A program that frees once (`rss-after-free-ordered`) never
//!   maps again after unmapping, so it still gets its memory back at once.
//!
//! # Measured
//!
//! `examples/quick.rs` on a `Heap`, 2,000,000 x 64-byte objects, freeing the oldest
//! 90 % (`rss-after-free-ordered`), on the 2-vCPU development machine:
//!
//! | pool / arena | resident B per object | freed memory back at free | after `trim()` |
//! |---|---|---|---|
//! | 4 KiB / 256 KiB | 66.1 | 100 % | 100 % |
//! | 16 KiB / 512 KiB | 64.8 | 99 % | 100 % |
//! | **16 KiB / 1 MiB** | **64.5** | **96 %** | **100 %** |
//! | 64 KiB / 4 MiB | 64.1 | 79 % | 100 % |
//!
//! Alloc+free at once costs the same (about 1.9 ns, best of 40 runs) for every row;
//! without the free cache (pools only) it is 4.5 ns, with a cache of 16 or 256 the same
//! 1.9 ns. 16 KiB / 1 MiB keeps under 66 B per object with room to spare and gives
//! nearly everything back without a `trim()`; bigger arenas hold more in the reserve.
//! An arena has fewer than 64 pools (a `u64` marks its free pools that hold pages).
//!
//! Under `cfg(miri)` the geometry shrinks (64 KiB arenas, 4 KiB pools) so the
//! interpreter stays fast; every other constant derives from these.

/// log2 of [`ARENA_SIZE`].
#[cfg(not(miri))]
pub const ARENA_SHIFT: u32 = 20;
/// log2 of [`ARENA_SIZE`] (small geometry under miri).
#[cfg(miri)]
pub const ARENA_SHIFT: u32 = 16;

/// log2 of [`POOL_SIZE`].
#[cfg(not(miri))]
pub const POOL_SHIFT: u32 = 14;
/// log2 of [`POOL_SIZE`] (small geometry under miri).
#[cfg(miri)]
pub const POOL_SHIFT: u32 = 12;

/// Bytes in an arena; arenas are aligned to their size.
pub const ARENA_SIZE: usize = 1 << ARENA_SHIFT;
/// Bytes in a pool; pools are aligned to their size, so `ptr & !(POOL_SIZE - 1)` is
/// the header of the pool holding `ptr`.
pub const POOL_SIZE: usize = 1 << POOL_SHIFT;
/// Pools that serve blocks in one arena (slot 0 holds the arena header).
pub const POOLS_PER_ARENA: usize = ARENA_SIZE / POOL_SIZE - 1;

/// log2 of [`ALIGNMENT`].
pub const ALIGNMENT_SHIFT: u32 = 4;
/// Alignment of every block, and the spacing of size classes.
pub const ALIGNMENT: usize = 1 << ALIGNMENT_SHIFT;
/// Largest request served from pools; bigger ones go to the system allocator.
pub const SMALL_REQUEST_THRESHOLD: usize = 512;
/// Number of size classes: 16, 32, ..., 512 bytes.
pub const NB_SMALL_SIZE_CLASSES: usize = SMALL_REQUEST_THRESHOLD / ALIGNMENT;
/// Bytes at the start of each pool taken by its header (a multiple of [`ALIGNMENT`]).
pub const POOL_HEADER_SIZE: usize = 48;
/// Empty arenas kept mapped for reuse before further empty arenas go back to the OS.
pub const ARENA_RESERVE: usize = 4;
/// The most empty arenas a heap that churns in big batches keeps mapped (64 MiB; the
/// reserve grows from [`ARENA_RESERVE`] towards it only after the heap had to map
/// arenas again right after unmapping some, and `trim()` resets it).
pub const ARENA_RESERVE_MAX: usize = 64;

/// Freed blocks each heap keeps per size class in its free cache (a stack of
/// pointers) before handing half of them back to their pools.
#[cfg(not(miri))]
pub const FREE_CACHE_SIZE: usize = 64;
/// Free cache size under miri (small, so flushes are exercised).
#[cfg(miri)]
pub const FREE_CACHE_SIZE: usize = 4;

/// Size class index of a request of `size` bytes (`1..=SMALL_REQUEST_THRESHOLD`).
/// A zero size is served as one byte (class 0).
#[inline(always)]
pub const fn size_class(size: usize) -> usize {
    size.saturating_sub(1) >> ALIGNMENT_SHIFT
}

/// Block size of class `class`.
#[inline(always)]
pub const fn class_size(class: usize) -> usize {
    (class + 1) << ALIGNMENT_SHIFT
}

/// Blocks that fit in one pool of class `class`.
pub const fn blocks_per_pool(class: usize) -> usize {
    (POOL_SIZE - POOL_HEADER_SIZE) / class_size(class)
}

const _: () = assert!(POOL_HEADER_SIZE % ALIGNMENT == 0);
const _: () = assert!(POOLS_PER_ARENA >= 2 && POOLS_PER_ARENA <= u16::MAX as usize);
const _: () = assert!(blocks_per_pool(NB_SMALL_SIZE_CLASSES - 1) >= 2);
const _: () = assert!(SMALL_REQUEST_THRESHOLD % ALIGNMENT == 0);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_cover_every_small_size() {
        assert_eq!(size_class(0), 0);
        assert_eq!(size_class(1), 0);
        assert_eq!(size_class(16), 0);
        assert_eq!(size_class(17), 1);
        assert_eq!(
            size_class(SMALL_REQUEST_THRESHOLD),
            NB_SMALL_SIZE_CLASSES - 1
        );
        for size in 1..=SMALL_REQUEST_THRESHOLD {
            let c = size_class(size);
            assert!(class_size(c) >= size && class_size(c) - size < ALIGNMENT);
        }
    }
}
