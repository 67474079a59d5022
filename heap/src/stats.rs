//! Heap statistics, the figures of CPython's `sys._debugmallocstats()`.

use std::fmt;

use crate::geometry::{
    ARENA_SIZE, NB_SMALL_SIZE_CLASSES, POOL_HEADER_SIZE, POOL_SIZE, SMALL_REQUEST_THRESHOLD,
    blocks_per_pool,
};

/// Figures for one size class.
///
/// # Examples
/// ```
/// let heap = coil_heap::Heap::new();
/// let layout = std::alloc::Layout::new::<[u64; 8]>();
/// let p = heap.alloc(layout).unwrap();
/// let c = &heap.stats().classes[3];
/// assert_eq!((c.size, c.pools, c.blocks_in_use), (64, 1, 1));
/// # unsafe { heap.dealloc(p, layout) };
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClassStats {
    /// Block size of this class in bytes.
    pub size: usize,
    /// Pools serving this class.
    pub pools: usize,
    /// Blocks handed out and not yet freed.
    pub blocks_in_use: usize,
    /// Free blocks in this class's pools (free list plus never carved).
    pub blocks_free: usize,
}

impl ClassStats {
    /// Bytes in blocks in use (`blocks_in_use * size`).
    pub fn bytes_in_use(&self) -> usize {
        self.blocks_in_use * self.size
    }
}

/// A snapshot of a heap's figures, as `sys._debugmallocstats()` prints them. Its
/// `Display` is a readable table.
///
/// # Examples
/// ```
/// let heap = coil_heap::Heap::new();
/// let s = heap.stats();
/// assert_eq!(s.arenas_in_use, 0);
/// println!("{s}");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Per size class (index `i` serves `16 * (i + 1)` bytes).
    pub classes: [ClassStats; NB_SMALL_SIZE_CLASSES],
    /// Arenas mapped over the heap's life.
    pub arenas_allocated: usize,
    /// Arenas given back to the OS.
    pub arenas_freed: usize,
    /// Arenas mapped now (including the reserve).
    pub arenas_in_use: usize,
    /// Most arenas mapped at one time.
    pub arenas_highwater: usize,
    /// Empty arenas kept mapped for reuse.
    pub arenas_reserved: usize,
    /// Pools not serving any class (free or never used) in mapped arenas.
    pub pools_free: usize,
    /// Blocks above the small-object threshold, served by the system allocator
    /// (counted for `Heap` only; the global allocator does not count them).
    pub large_blocks: usize,
    /// Bytes in those blocks.
    pub large_bytes: usize,
    /// Heaps summed into this snapshot.
    pub heaps: usize,
}

impl Stats {
    /// Small blocks in use.
    pub fn blocks_in_use(&self) -> usize {
        self.classes.iter().map(|c| c.blocks_in_use).sum()
    }
    /// Bytes in small blocks in use.
    pub fn bytes_in_use(&self) -> usize {
        self.classes.iter().map(ClassStats::bytes_in_use).sum()
    }
    /// Pools serving some class.
    pub fn pools_in_use(&self) -> usize {
        self.classes.iter().map(|c| c.pools).sum()
    }
    /// Bytes of arena address space mapped.
    pub fn arena_bytes(&self) -> usize {
        self.arenas_in_use * ARENA_SIZE
    }
    /// Bytes in free blocks of used pools.
    pub fn bytes_free_in_pools(&self) -> usize {
        self.classes.iter().map(|c| c.blocks_free * c.size).sum()
    }
    /// Bytes in used pools that can never hold a block: pool headers and the tail
    /// after the last whole block (`sys._debugmallocstats`'s "wasted" line).
    pub fn bytes_wasted(&self) -> usize {
        self.classes
            .iter()
            .enumerate()
            .map(|(i, c)| c.pools * (POOL_SIZE - blocks_per_pool(i) * c.size.max(16)))
            .sum()
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Small block threshold = {SMALL_REQUEST_THRESHOLD}, in {NB_SMALL_SIZE_CLASSES} size classes."
        )?;
        writeln!(f)?;
        writeln!(f, "class   size   num pools   blocks in use  avail blocks")?;
        writeln!(f, "-----   ----   ---------   -------------  ------------")?;
        for (i, c) in self.classes.iter().enumerate() {
            if c.pools == 0 {
                continue;
            }
            writeln!(
                f,
                "{i:5} {:6} {:11} {:15} {:13}",
                c.size, c.pools, c.blocks_in_use, c.blocks_free
            )?;
        }
        writeln!(f)?;
        let line = |f: &mut fmt::Formatter<'_>, k: &str, v: usize| writeln!(f, "{k:<40} = {v:>15}");
        line(f, "# heaps", self.heaps)?;
        line(f, "# arenas allocated total", self.arenas_allocated)?;
        line(f, "# arenas reclaimed", self.arenas_freed)?;
        line(f, "# arenas highwater mark", self.arenas_highwater)?;
        line(f, "# arenas allocated current", self.arenas_in_use)?;
        line(f, "# arenas kept in reserve", self.arenas_reserved)?;
        line(
            f,
            &format!("{} arenas * {ARENA_SIZE} bytes/arena", self.arenas_in_use),
            self.arena_bytes(),
        )?;
        writeln!(f)?;
        line(f, "# bytes in allocated blocks", self.bytes_in_use())?;
        line(f, "# bytes in available blocks", self.bytes_free_in_pools())?;
        line(
            f,
            &format!("{} unused pools * {POOL_SIZE} bytes", self.pools_free),
            self.pools_free * POOL_SIZE,
        )?;
        line(
            f,
            "# bytes lost to pool headers",
            self.pools_in_use() * POOL_HEADER_SIZE,
        )?;
        line(
            f,
            "# bytes lost to quantization",
            self.bytes_wasted() - self.pools_in_use() * POOL_HEADER_SIZE,
        )?;
        line(
            f,
            "# bytes lost to arena headers",
            self.arenas_in_use * POOL_SIZE,
        )?;
        line(f, "# large blocks (system allocator)", self.large_blocks)?;
        line(f, "# bytes in large blocks", self.large_bytes)?;
        Ok(())
    }
}
