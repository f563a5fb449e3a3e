//! A seeded PRNG for randomized tests: the seed comes from
#![allow(
    clippy::cast_possible_truncation,
    reason = "random test values: truncation only changes which value is drawn"
)]
//! `ENVD_TEST_SEED` or the clock, and tests print it when they fail.

/// xorshift64*: small, fast, reproducible.
#[derive(Debug, Clone)]
pub struct Rng {
    seed: u64,
    state: u64,
}

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            state: seed.max(1),
        }
    }

    /// `ENVD_TEST_SEED` if set, else from the clock; printed either way.
    pub fn from_env() -> Self {
        let seed = std::env::var("ENVD_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            });
        eprintln!("seed {seed} (rerun with ENVD_TEST_SEED={seed})");
        Self::new(seed)
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Shuffles `items` in place.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}
