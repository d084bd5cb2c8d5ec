//! Property tests' tools: a small seeded generator and a runner that prints the failing seed.
//!
//! `run(property)` calls `property` with a fresh `Rng` `cases()` times. Each case has its own
//! seed, derived from `GENESYS_EXPORT_PROP_SEED` (a fixed default, so `make test` is
//! repeatable); a failing case prints its seed and the command line that replays it alone.
//! `GENESYS_EXPORT_PROP_CASES` sets the number of cases (500 by default, enough to stay fast;
//! `make fuzz` asks for many more). The generator is splitmix64: tiny, fast, and good enough to
//! draw test inputs. The text helpers lean towards the values that break parsers: edges of
//! `u64`, units next to digits, control characters, multi-byte and invisible characters.

use std::panic::{self, AssertUnwindSafe};

/// Cases per property when `GENESYS_EXPORT_PROP_CASES` is not set.
pub const DEFAULT_CASES: u64 = 500;
/// The base seed when `GENESYS_EXPORT_PROP_SEED` is not set.
pub const DEFAULT_SEED: u64 = 0x5eed_6e5e_0e4b_0001;

/// The number of cases each property runs: `GENESYS_EXPORT_PROP_CASES`, or `DEFAULT_CASES`.
pub fn cases() -> u64 {
    env_u64("GENESYS_EXPORT_PROP_CASES").unwrap_or(DEFAULT_CASES)
}

fn env_u64(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    let value = value.trim();
    match value.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => value.parse().ok(),
    }
}

/// Runs `property` on `cases()` generators, case `i` seeded with the base seed plus `i`. On a
/// failure, prints the case's seed and how to replay it, then fails the test.
pub fn run(mut property: impl FnMut(&mut Rng)) {
    let base = env_u64("GENESYS_EXPORT_PROP_SEED").unwrap_or(DEFAULT_SEED);
    for i in 0..cases() {
        let seed = base.wrapping_add(i);
        let mut rng = Rng::new(seed);
        if let Err(cause) = panic::catch_unwind(AssertUnwindSafe(|| property(&mut rng))) {
            eprintln!(
                "property failed in case {i} with seed {seed:#x}; replay it with \
                 GENESYS_EXPORT_PROP_SEED={seed:#x} GENESYS_EXPORT_PROP_CASES=1"
            );
            panic::resume_unwind(cause);
        }
    }
}

/// A splitmix64 generator.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `[0, n)`; 0 when `n` is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// One of `items`, which must not be empty.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        let i = self.below(items.len() as u64) as usize;
        &items[i]
    }

    /// A `u64` that is often an edge: 0, 1, near a power of two, near `u64::MAX`.
    pub fn huge(&mut self) -> u64 {
        match self.below(4) {
            0 => *self.pick(&[0, 1, 59, 60, 3600, 86_400, u64::MAX - 1, u64::MAX]),
            1 => {
                let power = 1u64 << self.below(64);
                power.wrapping_add(self.below(3)).wrapping_sub(1)
            }
            2 => self.below(1_000_000),
            _ => self.next_u64(),
        }
    }

    /// Printable ASCII, up to `max_len` characters.
    pub fn ascii(&mut self, max_len: usize) -> String {
        let len = self.below(max_len as u64 + 1);
        (0..len)
            .map(|_| char::from(b' ' + self.below(95) as u8))
            .collect()
    }

    /// Any Unicode, leaning on control, invisible, right-to-left and multi-byte characters.
    pub fn unicode(&mut self, max_len: usize) -> String {
        const NASTY: [char; 14] = [
            '\0',
            '\n',
            '\r',
            '\t',
            '\u{7f}',
            '\u{85}',
            '\u{200b}',
            '\u{202e}',
            '\u{feff}',
            'é',
            '日',
            'µ',
            '🎉',
            '\u{10ffff}',
        ];
        let len = self.below(max_len as u64 + 1);
        (0..len)
            .map(|_| match self.below(3) {
                0 => *self.pick(&NASTY),
                1 => char::from(self.below(128) as u8),
                _ => char::from_u32(self.below(0x11_0000) as u32).unwrap_or('\u{fffd}'),
            })
            .collect()
    }

    /// A number as text: an edge of `u64`, past it, negative, fractional or in exponent form.
    pub fn number_text(&mut self) -> String {
        match self.below(4) {
            0 => self.huge().to_string(),
            1 => format!("{}{}", self.huge(), self.below(100)),
            2 => format!("-{}", self.huge()),
            _ => self
                .pick(&["1.5", "1e30", "0x10", "+1", "", "00000000000000000000001"])
                .to_string(),
        }
    }

    /// Digits and units run together, as in `1h30m`, sometimes malformed.
    pub fn duration_text(&mut self) -> String {
        const UNITS: [&str; 12] = ["ms", "s", "m", "h", "d", "", "µs", "x", " ", "-", ".", "S"];
        let parts = 1 + self.below(4);
        let mut out = String::new();
        for _ in 0..parts {
            out.push_str(&self.number_text());
            let unit = *self.pick(&UNITS);
            out.push_str(unit);
        }
        out
    }

    /// A JSON value of a random type, leaning on the shapes that confuse typed parsers.
    pub fn json_value(&mut self, depth: u32) -> serde_json::Value {
        use serde_json::{json, Value};
        match self.below(if depth == 0 { 5 } else { 7 }) {
            0 => Value::Null,
            1 => Value::Bool(self.below(2) == 0),
            2 => json!(self.huge()),
            3 => match self.below(3) {
                0 => json!(-(self.below(1_000_000) as i64)),
                1 => json!(1.5e300),
                _ => json!(0.25),
            },
            4 => Value::String(self.any_text()),
            5 => Value::Array(
                (0..self.below(3))
                    .map(|_| self.json_value(depth - 1))
                    .collect(),
            ),
            _ => Value::Object(
                (0..self.below(3))
                    .map(|_| (self.ascii(6), self.json_value(depth - 1)))
                    .collect(),
            ),
        }
    }

    /// `sample` (JSON text) damaged the ways a proxy or a broken server damages replies:
    /// cut short, one value replaced by one of another type, a field dropped, or noise.
    pub fn mutated_json(&mut self, sample: &str) -> String {
        let Ok(mut value) = serde_json::from_str::<serde_json::Value>(sample) else {
            return sample.to_string();
        };
        match self.below(5) {
            0 => {
                let cut = self.below(sample.len() as u64 + 1) as usize;
                let cut = (0..=cut)
                    .rev()
                    .find(|i| sample.is_char_boundary(*i))
                    .unwrap_or(0);
                sample[..cut].to_string()
            }
            1 | 2 => {
                let replacement = self.json_value(2);
                let shallow = self.below(2) == 0;
                replace_random_node(self, &mut value, replacement, shallow);
                value.to_string()
            }
            3 => {
                drop_random_field(self, &mut value);
                value.to_string()
            }
            _ => format!("{}{}", sample, self.unicode(4)),
        }
    }

    /// A saved file's text (`sample`, JSON) damaged: one case in three a few bytes flipped,
    /// dropped or inserted, as a disk or an editor damages it; else as `mutated_json`.
    pub fn damaged_file(&mut self, sample: &str) -> String {
        if self.below(3) != 0 {
            return self.mutated_json(sample);
        }
        let mut bytes = sample.as_bytes().to_vec();
        for _ in 0..=self.below(4) {
            let i = self.below(bytes.len() as u64) as usize;
            match self.below(3) {
                0 => bytes[i] = self.below(256) as u8,
                1 => {
                    bytes.remove(i);
                }
                _ => bytes.insert(i, *self.pick(b"0123456789\"{}[],:-")),
            }
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// A binary file (`sample`) damaged: cut short, bytes flipped, dropped or inserted, or a
    /// big-endian 32-bit word (a count, an offset, a time) overwritten with an edge value.
    pub fn damaged_bytes(&mut self, sample: &[u8]) -> Vec<u8> {
        let mut bytes = sample.to_vec();
        for _ in 0..=self.below(3) {
            let i = self.below(bytes.len() as u64 + 1) as usize;
            match self.below(5) {
                0 => bytes.truncate(i),
                1 if i < bytes.len() => bytes[i] = self.below(256) as u8,
                2 if i < bytes.len() => {
                    bytes.remove(i);
                }
                3 => bytes.insert(i, self.below(256) as u8),
                _ => {
                    const EDGES: [u32; 8] = [
                        0,
                        1,
                        2,
                        0x7fff_ffff,
                        0x8000_0000,
                        0xffff_ffff,
                        93_600,
                        0x00ff_ffff,
                    ];
                    let word = self.pick(&EDGES).to_be_bytes();
                    let at = i.min(bytes.len().saturating_sub(4));
                    for (k, b) in word.iter().enumerate() {
                        if let Some(slot) = bytes.get_mut(at + k) {
                            *slot = *b;
                        }
                    }
                }
            }
        }
        bytes
    }

    /// Any of the kinds above.
    pub fn any_text(&mut self) -> String {
        match self.below(4) {
            0 => self.ascii(40),
            1 => self.unicode(20),
            2 => self.number_text(),
            _ => self.duration_text(),
        }
    }
}

/// Walks to a random node of `value` and replaces it (or, with `shallow`, a direct child).
fn replace_random_node(
    rng: &mut Rng,
    value: &mut serde_json::Value,
    replacement: serde_json::Value,
    shallow: bool,
) {
    let mut node = value;
    loop {
        let children = match node {
            serde_json::Value::Array(items) => items.len(),
            serde_json::Value::Object(map) => map.len(),
            _ => 0,
        };
        if children == 0 || (rng.below(3) == 0 && !shallow) {
            *node = replacement;
            return;
        }
        let i = rng.below(children as u64) as usize;
        let next = match node {
            serde_json::Value::Array(items) => items.get_mut(i),
            serde_json::Value::Object(map) => map.values_mut().nth(i),
            _ => None,
        };
        match next {
            Some(next) if !shallow => node = next,
            Some(next) => {
                *next = replacement;
                return;
            }
            None => return,
        }
    }
}

/// Removes one field of a random object in `value`.
fn drop_random_field(rng: &mut Rng, value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) if !map.is_empty() => {
            let i = rng.below(map.len() as u64) as usize;
            if rng.below(2) == 0 {
                if let Some(key) = map.keys().nth(i).cloned() {
                    map.remove(&key);
                }
            } else if let Some(child) = map.values_mut().nth(i) {
                drop_random_field(rng, child);
            }
        }
        serde_json::Value::Array(items) if !items.is_empty() => {
            let i = rng.below(items.len() as u64) as usize;
            if let Some(child) = items.get_mut(i) {
                drop_random_field(rng, child);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_values() {
        let draw = |seed| {
            let mut rng = Rng::new(seed);
            (0..50).map(|_| rng.any_text()).collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
    }

    #[test]
    fn below_stays_below() {
        let mut rng = Rng::new(1);
        for n in [1, 2, 3, 1000, u64::MAX] {
            for _ in 0..100 {
                assert!(rng.below(n) < n);
            }
        }
        assert_eq!(rng.below(0), 0);
    }

    #[test]
    fn a_failing_property_fails_the_test() {
        let caught = panic::catch_unwind(|| run(|_| panic!("the property fails")));
        assert!(caught.is_err());
    }
}
