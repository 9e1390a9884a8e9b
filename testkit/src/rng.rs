//! A tiny deterministic PRNG for randomized tests that must replay the same way on
//! every run and every target.

/// xorshift64 (Marsaglia, 2003): 64 bits of state, period 2⁶⁴ − 1. The seed must
/// not be zero (zero stays zero).
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 pseudo-random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn replays_and_stays_below() {
        let mut a = Rng(1);
        let mut b = Rng(1);
        // The first xorshift64 output of seed 1.
        assert_eq!(a.next_u64(), 0x4082_2041);
        b.next_u64();
        for n in [1, 2, 7, 254] {
            let x = a.below(n);
            assert_eq!(x, b.below(n));
            assert!(x < n);
        }
        assert_eq!(a.below(0), 0);
    }
}
