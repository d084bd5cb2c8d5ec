//! The running digest a saved state records of each output file: pure, no I/O.

/// The bytes a digest takes at a time.
pub const BLOCK: usize = 32;

/// A running 64-bit digest of bytes: cheap, streaming, and enough to notice a file that
/// changed under a saved state (it guards against accidents, not adversaries). Bytes are
/// taken 32 at a time: the block's four words are mixed together by multiplies that do not
/// wait for one another, then into the hash by one multiply and a rotation, so a block costs
/// about what one word would; the bytes of a block not yet complete wait in `tail`. Each step
/// is one-to-one in the hash and in each word, so a change to one block always reaches the
/// result. The digest of some bytes is the same however they are split between `update`s,
/// and its whole state is what a saved state records, so a resumed run continues it without
/// reading the file again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Digest {
    /// The blocks mixed in so far.
    pub hash: u64,
    /// The bytes after the last whole block (the rest is zero).
    pub tail: [u8; BLOCK],
    /// How many bytes `tail` holds: the length digested, modulo `BLOCK`.
    pub tail_len: u8,
}

impl Default for Digest {
    fn default() -> Digest {
        Digest {
            hash: 0xcbf2_9ce4_8422_2325,
            tail: [0; BLOCK],
            tail_len: 0,
        }
    }
}

impl Digest {
    fn mix(hash: u64, block: &[u8]) -> u64 {
        let mut words = [0u64; 4];
        for (word, bytes) in words.iter_mut().zip(block.chunks_exact(8)) {
            let mut le = [0; 8];
            le.copy_from_slice(bytes);
            *word = u64::from_le_bytes(le);
        }
        let [a, b, c, d] = words;
        let block = a
            ^ b.wrapping_mul(0xc2b2_ae3d_27d4_eb4f)
            ^ c.rotate_left(21).wrapping_mul(0x1656_67b1_9e37_79f9)
            ^ d.rotate_left(43).wrapping_mul(0xd6e8_feb8_6659_fd93);
        (hash ^ block)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(29)
    }

    pub fn update(&mut self, mut bytes: &[u8]) {
        if self.tail_len != 0 {
            let held = usize::from(self.tail_len);
            let wanted = BLOCK.saturating_sub(held).min(bytes.len());
            let (head, rest) = bytes.split_at(wanted);
            if let Some(to) = self.tail.get_mut(held..held.saturating_add(wanted)) {
                to.copy_from_slice(head);
            }
            bytes = rest;
            // At most `BLOCK` bytes: a byte holds the count.
            self.tail_len = self.tail_len.saturating_add(wanted as u8);
            if usize::from(self.tail_len) < BLOCK {
                return;
            }
            self.hash = Digest::mix(self.hash, &self.tail);
            self.tail = [0; BLOCK];
            self.tail_len = 0;
        }
        let mut blocks = bytes.chunks_exact(BLOCK);
        let mut hash = self.hash;
        for block in blocks.by_ref() {
            hash = Digest::mix(hash, block);
        }
        self.hash = hash;
        let rest = blocks.remainder();
        if let Some(to) = self.tail.get_mut(..rest.len()) {
            to.copy_from_slice(rest);
            self.tail_len = rest.len() as u8; // fewer than `BLOCK`
        }
    }

    /// Whether this is a state `update` can reach: fewer than `BLOCK` bytes waiting, and
    /// nothing in `tail` past them (a check on a digest read from a file).
    pub fn is_valid(&self) -> bool {
        self.tail
            .get(usize::from(self.tail_len)..)
            .is_some_and(|after| after.iter().all(|b| *b == 0))
            && usize::from(self.tail_len) < BLOCK
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
            let len = rng.below(200) as usize;
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
            assert_eq!(usize::from(whole.tail_len), len % BLOCK);
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
