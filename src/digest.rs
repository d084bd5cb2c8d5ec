//! The running digest a saved state records of each output file: pure, no I/O.

/// A running 64-bit digest of bytes: cheap, streaming, and enough to notice a file that
/// changed under a saved state (it guards against accidents, not adversaries). Bytes are
/// taken eight at a time, each word mixed in by one multiply and a rotation; the bytes of a
/// word not yet complete wait in `tail`. The digest of some bytes is the same however they
/// are split between `update`s, and its whole state is what a saved state records, so a
/// resumed run continues it without reading the file again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Digest {
    /// The words mixed in so far.
    pub hash: u64,
    /// The bytes after the last whole word, little-endian (the rest is zero).
    pub tail: u64,
    /// How many bytes `tail` holds: the length digested, modulo 8.
    pub tail_len: u8,
}

impl Default for Digest {
    fn default() -> Digest {
        Digest {
            hash: 0xcbf2_9ce4_8422_2325,
            tail: 0,
            tail_len: 0,
        }
    }
}

impl Digest {
    fn mix(hash: u64, word: u64) -> u64 {
        (hash ^ word)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(29)
    }

    pub fn update(&mut self, mut bytes: &[u8]) {
        while self.tail_len != 0 {
            let Some((&b, rest)) = bytes.split_first() else {
                return;
            };
            bytes = rest;
            self.tail |= u64::from(b) << (8 * u32::from(self.tail_len));
            self.tail_len += 1;
            if self.tail_len == 8 {
                self.hash = Digest::mix(self.hash, self.tail);
                self.tail = 0;
                self.tail_len = 0;
            }
        }
        let mut words = bytes.chunks_exact(8);
        let mut hash = self.hash;
        for word in words.by_ref() {
            let mut le = [0; 8];
            le.copy_from_slice(word);
            hash = Digest::mix(hash, u64::from_le_bytes(le));
        }
        self.hash = hash;
        for &b in words.remainder() {
            self.tail |= u64::from(b) << (8 * u32::from(self.tail_len));
            self.tail_len += 1;
        }
    }

    /// Whether this is a state `update` can reach: fewer than 8 bytes waiting, and nothing in
    /// `tail` past them (a check on a digest read from a file).
    pub fn is_valid(&self) -> bool {
        self.tail_len < 8 && self.tail.checked_shr(8 * u32::from(self.tail_len)) == Some(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The digest of some bytes is the same however they are split between updates, it is a
    /// state `is_valid` accepts, and changing one byte or the length changes it.
    #[test]
    fn prop_the_digest_is_the_same_however_the_bytes_are_split() {
        crate::prop::run(|rng| {
            let len = rng.below(100) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| rng.below(256) as u8).collect();
            let mut whole = Digest::default();
            whole.update(&bytes);
            let mut pieces = Digest::default();
            let mut rest = bytes.as_slice();
            while !rest.is_empty() {
                let cut = (rng.below(rest.len() as u64) + 1) as usize;
                let (piece, after) = rest.split_at(cut);
                pieces.update(piece);
                pieces.update(&[]);
                rest = after;
            }
            assert_eq!(whole, pieces);
            assert!(whole.is_valid());
            assert_eq!(usize::from(whole.tail_len), len % 8);
            let mut changed = bytes.clone();
            if let Some(b) = changed.get_mut(rng.below(len.max(1) as u64) as usize) {
                *b ^= 1 << rng.below(8);
                let mut other = Digest::default();
                other.update(&changed);
                assert_ne!(other, whole);
            }
            let mut longer = whole;
            longer.update(&[0]);
            assert_ne!(longer, whole);
        });
    }
}
