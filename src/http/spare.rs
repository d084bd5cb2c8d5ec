//! Reply buffers kept for the next reply: a body is read into memory mapped and touched
//! already, over its old bytes, not into a fresh mapping each of whose pages faults in and is
//! zeroed first. A few are kept, the largest first, within a byte budget, so memory stays
//! what the replies in flight hold.

use std::sync::Mutex;

/// Buffers kept at most: as many as details replies are in flight by default.
const KEPT: usize = 4;
/// Their bytes at most, unless one alone is larger (a held page of job results).
const KEPT_BYTES: usize = 4 * 1024 * 1024;

static SPARE: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// The largest buffer kept, still holding its bytes (to be overwritten, not zeroed again),
/// where there is one; else an empty one.
pub(super) fn take() -> Vec<u8> {
    let taken = SPARE
        .lock()
        .ok()
        .and_then(|mut kept| match kept.is_empty() {
            true => None,
            false => Some(kept.remove(0)),
        });
    taken.unwrap_or_default()
}

/// Keeps `buffer` for a later reply, if it is among the largest that fit (`keep`).
pub(super) fn give_back(buffer: Vec<u8>) {
    if let Ok(mut kept) = SPARE.lock() {
        keep(&mut kept, buffer);
    }
}

/// Adds `buffer` to `kept` (largest first), then lets the smallest go while more than `KEPT`
/// are kept or more than one holding over `KEPT_BYTES` together.
fn keep(kept: &mut Vec<Vec<u8>>, buffer: Vec<u8>) {
    if buffer.capacity() == 0 {
        return;
    }
    let at = kept.partition_point(|k| k.capacity() >= buffer.capacity());
    kept.insert(at, buffer);
    let bytes = |kept: &[Vec<u8>]| {
        kept.iter()
            .map(Vec::capacity)
            .fold(0, usize::saturating_add)
    };
    while kept.len() > KEPT || (kept.len() > 1 && bytes(kept) > KEPT_BYTES) {
        kept.pop();
    }
}

/// A reply's body whose buffer is given back (`give_back`) when it is dropped.
pub struct Recycled(pub Vec<u8>);

impl AsRef<[u8]> for Recycled {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Recycled {
    fn drop(&mut self) {
        give_back(std::mem::take(&mut self.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_buffers_are_kept_within_their_count_and_bytes() {
        let sizes = |kept: &[Vec<u8>]| kept.iter().map(Vec::capacity).collect::<Vec<_>>();
        let mut kept = Vec::new();
        keep(&mut kept, Vec::new());
        assert!(kept.is_empty());
        for size in [300, 100, 500, 200, 400] {
            keep(&mut kept, Vec::with_capacity(size << 10));
        }
        assert_eq!(sizes(&kept), [500 << 10, 400 << 10, 300 << 10, 200 << 10]);
        // A page of job results alone is over the bytes: it is kept, alone.
        keep(&mut kept, Vec::with_capacity(3 << 20));
        assert_eq!(sizes(&kept), [3 << 20, 500 << 10, 400 << 10]);
        keep(&mut kept, Vec::with_capacity(5 << 20));
        assert_eq!(sizes(&kept), [5 << 20]);
        keep(&mut kept, Vec::with_capacity(1 << 20));
        assert_eq!(sizes(&kept), [5 << 20]);
    }
}
