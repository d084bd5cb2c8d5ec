//! A set of conversation ids, compact for the ids Genesys Cloud gives: pure, no I/O.
//!
//! A window's id set (the conversations it wrote, so that none is written twice) holds every
//! id of a top-level window, a hundred thousand for a busy week through jobs. Held as
//! `String`s each costs about 70 bytes (the string's heap block and the set's slot); a
//! conversation id is a UUID, here kept as the 16 bytes it spells. An id that is not a UUID
//! in canonical form (lower-case hex, hyphens at 8, 13, 18 and 23) is kept as text, so that
//! two ids are the same exactly when their text is.

use std::collections::HashSet;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdSet {
    uuids: HashSet<u128>,
    others: HashSet<Box<str>>,
}

impl IdSet {
    pub fn new() -> IdSet {
        IdSet::default()
    }

    /// Adds `id`; whether it was new.
    pub fn insert(&mut self, id: &str) -> bool {
        match canonical_uuid(id) {
            Some(n) => self.uuids.insert(n),
            None if self.others.contains(id) => false,
            None => self.others.insert(id.into()),
        }
    }

    pub fn contains(&self, id: &str) -> bool {
        match canonical_uuid(id) {
            Some(n) => self.uuids.contains(&n),
            None => self.others.contains(id),
        }
    }

    pub fn len(&self) -> usize {
        self.uuids.len().saturating_add(self.others.len())
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Empties the set, giving its memory back.
    pub fn clear(&mut self) {
        *self = IdSet::new();
    }
}

impl<S: AsRef<str>> FromIterator<S> for IdSet {
    fn from_iter<I: IntoIterator<Item = S>>(ids: I) -> IdSet {
        let mut set = IdSet::new();
        for id in ids {
            set.insert(id.as_ref());
        }
        set
    }
}

/// The number a UUID in canonical form spells; `None` for any other text.
fn canonical_uuid(id: &str) -> Option<u128> {
    let bytes: &[u8; 36] = id.as_bytes().try_into().ok()?;
    if HYPHENS.iter().any(|&i| bytes[i] != b'-') {
        return None;
    }
    let mut n: u128 = 0;
    let mut bad = 0u8;
    for (i, &b) in bytes.iter().enumerate() {
        if HYPHENS.contains(&i) {
            continue;
        }
        let digit = HEX[usize::from(b)];
        bad |= digit;
        n = (n << 4) | u128::from(digit & 0x0f);
    }
    (bad & 0x80 == 0).then_some(n)
}

/// Where a canonical UUID has its hyphens.
const HYPHENS: [usize; 4] = [8, 13, 18, 23];

/// Each byte's value as a lower-case hex digit; 0x80 for any other byte.
const HEX: [u8; 256] = {
    let mut table = [0x80u8; 256];
    let mut i = 0;
    while i < 16 {
        table[b"0123456789abcdef"[i] as usize] = i as u8;
        i += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_and_other_ids_are_the_same_exactly_when_their_text_is() {
        let mut set = IdSet::new();
        let id = "5a000000-0000-4000-8000-00000000000f";
        assert!(set.insert(id));
        assert!(!set.insert(id));
        assert!(set.contains(id));
        // The same digits in capitals, or without hyphens, are other ids.
        for other in [
            "5A000000-0000-4000-8000-00000000000F",
            "5a000000000040008000-00000000000f----",
            "5a000000-0000-4000-8000-00000000000",
            "g00",
            "",
        ] {
            assert!(!set.contains(other), "{other}");
            assert!(set.insert(other), "{other}");
            assert!(set.contains(other), "{other}");
        }
        assert_eq!(set.len(), 6);
        assert_eq!(
            canonical_uuid(id),
            Some(0x5a00_0000_0000_4000_8000_0000_0000_000f)
        );
        assert_eq!(canonical_uuid("5a000000-0000-4000-8000-00000000000g"), None);
        assert_eq!(canonical_uuid("5a000000-0000-4000-8000+00000000000f"), None);
        assert_eq!(canonical_uuid("5a0000000-000-4000-8000-00000000000f"), None);
        set.clear();
        assert!(set.is_empty() && !set.contains(id));
    }

    /// Whatever the ids, the set answers as a set of their texts does.
    #[test]
    fn prop_the_set_answers_as_a_set_of_texts() {
        crate::prop::run(|rng| {
            let mut ours = IdSet::new();
            let mut texts = HashSet::new();
            for _ in 0..rng.below(30) {
                let mut id: Vec<u8> = b"0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0".to_vec();
                for _ in 0..rng.below(3) {
                    let at = rng.below(id.len() as u64) as usize;
                    id[at] = *rng.pick(b"0aAf-9g");
                }
                if rng.below(4) == 0 {
                    id.truncate(rng.below(40) as usize);
                }
                let id = String::from_utf8(id).unwrap();
                assert_eq!(ours.contains(&id), texts.contains(&id), "{id}");
                assert_eq!(ours.insert(&id), texts.insert(id.clone()), "{id}");
            }
            assert_eq!(ours.len(), texts.len());
        });
    }
}
