//! A tiny seeded pseudo-random generator (splitmix64) and the id formats built on it.
//!
//! The simulator must be reproducible from its seed, so it never touches an operating-system
//! source of randomness. This module owns the generator and the helpers that turn draws into
//! uuid-like ids and opaque tokens; it knows nothing about conversations or HTTP.

/// The golden-ratio increment of splitmix64.
const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// A splitmix64 generator: small, fast and good enough for test data.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    /// Derives an independent generator for a named purpose, so that adding draws to one
    /// stream (for example fault draws) never shifts another (for example data generation).
    pub fn derive(seed: u64, purpose: u64) -> Rng {
        Rng::new(mix(seed ^ mix(purpose.wrapping_add(GOLDEN_GAMMA))))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN_GAMMA);
        mix(self.state)
    }

    /// A uniform draw in [0, 1) with 53 bits of precision.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A uniform draw in [lo, hi); returns `lo` when the range is empty.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        let span = (hi - lo) as u64;
        // Multiply-shift maps a 64-bit draw onto the span with negligible bias.
        let offset = ((self.next_u64() as u128 * span as u128) >> 64) as u64;
        lo + offset as i64
    }

    /// A uniform index in [0, len); `len` must not be zero.
    pub fn index(&mut self, len: usize) -> usize {
        self.range(0, len as i64) as usize
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.next_f64() < p
    }

    /// A uuid-like id (version-4 layout, lowercase hex).
    pub fn uuid(&mut self) -> String {
        let hi = self.next_u64();
        let lo = self.next_u64();
        let hi = (hi & 0xffff_ffff_ffff_0fff) | 0x0000_0000_0000_4000;
        let lo = (lo & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            hi >> 32,
            (hi >> 16) & 0xffff,
            hi & 0xffff,
            lo >> 48,
            lo & 0xffff_ffff_ffff
        )
    }

    /// An opaque token of `len` characters from the URL-safe base64 alphabet.
    pub fn token(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        (0..len)
            .map(|_| ALPHABET[(self.next_u64() >> 58) as usize] as char)
            .collect()
    }
}

/// The splitmix64 output function; also used as a cheap hash of a 64-bit value.
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_gives_same_stream() {
        let mut a = Rng::new(42);
        let mut b = Rng::new(42);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        assert_ne!(Rng::derive(42, 1).next_u64(), Rng::derive(42, 2).next_u64());
    }

    #[test]
    fn range_and_f64_stay_in_bounds() {
        let mut rng = Rng::new(7);
        for _ in 0..10_000 {
            let x = rng.range(-5, 5);
            assert!((-5..5).contains(&x));
            let f = rng.next_f64();
            assert!((0.0..1.0).contains(&f));
        }
        assert_eq!(rng.range(3, 3), 3);
    }

    #[test]
    fn uuid_has_the_usual_shape() {
        let id = Rng::new(1).uuid();
        let parts: Vec<&str> = id.split('-').collect();
        let lens: Vec<usize> = parts.iter().map(|p| p.len()).collect();
        assert_eq!(lens, [8, 4, 4, 4, 12]);
        assert!(parts[2].starts_with('4'));
        assert_eq!(Rng::new(1).token(48).len(), 48);
    }
}
