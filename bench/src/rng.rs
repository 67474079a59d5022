//! A small, fast, seeded random generator for workloads (wyrand).
//!
//! Benchmarks need random sizes and indices that cost the same for every
//! implementation and do not dominate a 5 ns operation; wyrand is one multiply
//! per number and has a 2^64 period, more than enough for workload shuffling.

/// A seeded wyrand generator. Not for cryptography.
///
/// # Examples
///
/// ```
/// use coil_bench::rng::Rng;
/// let mut rng = Rng::new(7);
/// let x = rng.below(10);
/// assert!(x < 10);
/// assert_eq!(Rng::new(7).below(10), x); // same seed, same sequence
/// ```
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator whose sequence is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0xa076_1d64_78bd_642f);
        let t = u128::from(self.0) * u128::from(self.0 ^ 0xe703_7ed1_a0b4_28db);
        ((t >> 64) as u64) ^ (t as u64)
    }

    /// A number in `0..n` (multiply-shift; the bias is below 2^-32 for the
    /// sizes used here). Returns 0 when `n` is 0.
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A number in `lo..=hi`.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut rng = coil_bench::rng::Rng::new(1);
    /// for _ in 0..100 {
    ///     let s = rng.between(8, 512);
    ///     assert!((8..=512).contains(&s));
    /// }
    /// ```
    #[inline]
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// Shuffles `items` in place (Fisher–Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut rng = Rng::new(3);
        let mut seen = [false; 7];
        for _ in 0..1000 {
            let x = rng.below(7) as usize;
            seen[x] = true;
        }
        assert!(seen.iter().all(|&s| s));
    }

    #[test]
    fn shuffle_is_a_permutation() {
        let mut v: Vec<u32> = (0..100).collect();
        Rng::new(5).shuffle(&mut v);
        assert_ne!(v, (0..100).collect::<Vec<_>>());
        v.sort_unstable();
        assert_eq!(v, (0..100).collect::<Vec<_>>());
    }
}
