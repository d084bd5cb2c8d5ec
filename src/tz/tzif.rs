//! TZif files (RFC 8536, versions 1 to 4): bytes in, a table of offsets and a footer rule out.
//!
//! Pure and distrustful: every count in a header is checked against the bytes that follow it
//! before anything is allocated, every index against its table, every offset against what
//! `UtcOffset` holds, transitions must ascend strictly, and a file cut short, with bytes past
//! its end or with a malformed footer is refused with a short phrase the caller prefixes with
//! the zone and the path. A version 2 or later file is read from its 64-bit block (the 32-bit
//! one is skipped, as RFC 8536 advises) and its footer (the POSIX TZ string for instants past
//! the table). Leap-second tables (the `right/` zones) are refused: their transition times
//! count leap seconds, which the export's UTC does not.

use time::UtcOffset;

use super::posix::{self, Rule};
use super::Error;

/// What a TZif file says: the offset before its first transition, its transitions (Unix
/// seconds, strictly ascending, each with the offset from then on) and its footer rule.
#[derive(Debug)]
pub struct Parsed {
    pub initial: UtcOffset,
    pub transitions: Vec<(i64, UtcOffset)>,
    pub rule: Option<Rule>,
}

const HEADER: usize = 44;
const CUT: Error = "is cut short (a damaged zone file: reinstall the tzdata package)";
const TRAILING: Error = "has bytes past its end (a damaged zone file: reinstall tzdata)";

/// The six counts of a header.
struct Counts {
    isut: usize,
    isstd: usize,
    leap: usize,
    time: usize,
    types: usize,
    chars: usize,
}

impl Counts {
    /// The length of the data block these counts describe, with times of `time_size` bytes.
    fn block_len(&self, time_size: usize) -> Option<usize> {
        let times = self.time.checked_mul(time_size)?.checked_add(self.time)?;
        let types = self.types.checked_mul(6)?;
        let leaps = self.leap.checked_mul(time_size + 4)?;
        times
            .checked_add(types)?
            .checked_add(self.chars)?
            .checked_add(leaps)?
            .checked_add(self.isstd)?
            .checked_add(self.isut)
    }
}

/// Parses a TZif file.
pub fn parse(bytes: &[u8]) -> Result<Parsed, Error> {
    let (version, counts) = header(bytes)?;
    let v1_end = counts
        .block_len(4)
        .and_then(|len| len.checked_add(HEADER))
        .ok_or(CUT)?;
    if version == 0 {
        let block = bytes.get(HEADER..v1_end).ok_or(CUT)?;
        if bytes.len() != v1_end {
            return Err(TRAILING);
        }
        return data_block(block, &counts, 4);
    }
    let rest = bytes.get(v1_end..).ok_or(CUT)?;
    let (second, counts) = header(rest)?;
    if second != version {
        return Err("has two headers of different versions");
    }
    let end = counts
        .block_len(8)
        .and_then(|len| len.checked_add(HEADER))
        .ok_or(CUT)?;
    let block = rest.get(HEADER..end).ok_or(CUT)?;
    let mut parsed = data_block(block, &counts, 8)?;
    parsed.rule = footer(rest.get(end..).ok_or(CUT)?)?;
    Ok(parsed)
}

/// The version (0 for version 1, else the ASCII digit) and the counts, checked against each
/// other.
fn header(bytes: &[u8]) -> Result<(u8, Counts), Error> {
    let header = bytes.get(..HEADER).ok_or(CUT)?;
    if &header[..4] != b"TZif" {
        return Err("is not a TZif file (no TZif magic at its start)");
    }
    let version = header[4];
    if !matches!(version, 0 | b'2'..=b'4') {
        return Err("is a TZif file of an unknown version");
    }
    let count = |i: usize| {
        let at = 20 + 4 * i;
        let word = [header[at], header[at + 1], header[at + 2], header[at + 3]];
        usize::try_from(u32::from_be_bytes(word)).map_err(|_| CUT)
    };
    let counts = Counts {
        isut: count(0)?,
        isstd: count(1)?,
        leap: count(2)?,
        time: count(3)?,
        types: count(4)?,
        chars: count(5)?,
    };
    if counts.types == 0 || counts.chars == 0 {
        return Err("has no local time type or no abbreviation");
    }
    if ![0, counts.types].contains(&counts.isut) || ![0, counts.types].contains(&counts.isstd) {
        return Err("has indicator counts that do not match its local time types");
    }
    if counts.leap != 0 {
        return Err("holds leap seconds (a right/ zone): name the zone without right/");
    }
    Ok((version, counts))
}

/// Reads a data block of exactly the length the counts give.
fn data_block(block: &[u8], counts: &Counts, time_size: usize) -> Result<Parsed, Error> {
    let mut r = Reader { bytes: block };
    let mut times = Vec::with_capacity(counts.time);
    for _ in 0..counts.time {
        times.push(r.int(time_size)?);
    }
    if times.windows(2).any(|pair| pair[0] >= pair[1]) {
        return Err("has transitions out of order");
    }
    let indices = r.take(counts.time)?;
    let mut types = Vec::with_capacity(counts.types);
    let mut designations = Vec::with_capacity(counts.types);
    for _ in 0..counts.types {
        let offset = i32::try_from(r.int(4)?).map_err(|_| CUT)?;
        let offset = UtcOffset::from_whole_seconds(offset)
            .map_err(|_| "has an offset beyond 25:59:59 from UTC")?;
        let [is_dst, designation] = [r.take(1)?[0], r.take(1)?[0]];
        if is_dst > 1 {
            return Err("has a daylight-saving flag that is neither 0 nor 1");
        }
        types.push(offset);
        designations.push(usize::from(designation));
    }
    let chars = r.take(counts.chars)?;
    if designations
        .iter()
        .any(|at| !chars.get(*at..).is_some_and(|s| s.contains(&0)))
    {
        return Err("has an abbreviation index outside its abbreviations");
    }
    let is_std = r.take(counts.isstd)?;
    let is_ut = r.take(counts.isut)?;
    if is_std.iter().chain(is_ut).any(|flag| *flag > 1) {
        return Err("has an indicator that is neither 0 nor 1");
    }
    let mut transitions = Vec::with_capacity(counts.time);
    for (at, index) in times.into_iter().zip(indices) {
        let offset = types
            .get(usize::from(*index))
            .ok_or("has a transition to a local time type it does not have")?;
        transitions.push((at, *offset));
    }
    Ok(Parsed {
        initial: types[0],
        transitions,
        rule: None,
    })
}

/// The footer: a newline, a POSIX TZ string (perhaps empty), a newline, and nothing after.
fn footer(bytes: &[u8]) -> Result<Option<Rule>, Error> {
    const BAD: Error = "has a footer that is not one line between newlines";
    let inner = bytes
        .strip_prefix(b"\n")
        .and_then(|b| b.strip_suffix(b"\n"))
        .ok_or(BAD)?;
    if inner.contains(&b'\n') {
        return Err(TRAILING);
    }
    if inner.is_empty() {
        return Ok(None);
    }
    let text = std::str::from_utf8(inner).map_err(|_| BAD)?;
    posix::parse(text).map(Some)
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        if n > self.bytes.len() {
            return Err(CUT);
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    /// A big-endian two's-complement integer of 4 or 8 bytes.
    fn int(&mut self, size: usize) -> Result<i64, Error> {
        let bytes = self.take(size)?;
        let mut word = [0u8; 8];
        if size == 4 {
            word[4..].copy_from_slice(bytes);
            Ok(i64::from(i32::from_be_bytes([
                word[4], word[5], word[6], word[7],
            ])))
        } else {
            word.copy_from_slice(bytes);
            Ok(i64::from_be_bytes(word))
        }
    }
}

/// Sample files for the zone's own tests.
#[cfg(test)]
pub(super) use tests::sample;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prop;
    use time::macros::offset;

    /// A TZif file of `version` (0, b'2', b'3') with these transitions (instant, type index),
    /// types (offset in seconds, daylight-saving) and footer. Version 2 and later files carry
    /// a minimal version 1 block, as `zic -b slim` writes.
    pub fn build(
        version: u8,
        transitions: &[(i64, u8)],
        types: &[(i32, bool)],
        footer: &str,
    ) -> Vec<u8> {
        let header = |times: usize, types: usize| {
            let mut h = b"TZif".to_vec();
            h.push(version);
            h.extend([0; 15]);
            for count in [types, types, 0, times, types, 4] {
                h.extend(u32::try_from(count).unwrap().to_be_bytes());
            }
            h
        };
        let block = |time_size: usize, transitions: &[(i64, u8)], types: &[(i32, bool)]| {
            let mut b = Vec::new();
            for (at, _) in transitions {
                b.extend(&at.to_be_bytes()[8 - time_size..]);
            }
            b.extend(transitions.iter().map(|(_, i)| *i));
            for (offset, dst) in types {
                b.extend(offset.to_be_bytes());
                b.extend([u8::from(*dst), 0]);
            }
            b.extend(b"ABC\0");
            b.extend(types.iter().map(|_| 0));
            b.extend(types.iter().map(|_| 0));
            b
        };
        if version == 0 {
            let mut file = header(transitions.len(), types.len());
            file.extend(block(4, transitions, types));
            return file;
        }
        let mut file = header(0, 1);
        file.extend(block(4, &[], &types[..1]));
        file.extend(header(transitions.len(), types.len()));
        file.extend(block(8, transitions, types));
        file.extend(format!("\n{footer}\n").bytes());
        file
    }

    /// Paris-like: CET until 1996, then the EU rule from the footer.
    pub fn sample(version: u8) -> Vec<u8> {
        build(
            version,
            &[(-1_000_000_000, 1), (796_179_600, 2), (811_904_400, 1)],
            &[(561, false), (3600, false), (7200, true)],
            "CET-1CEST,M3.5.0,M10.5.0/3",
        )
    }

    #[test]
    fn reads_every_version() {
        for version in [0, b'2', b'3', b'4'] {
            let parsed = parse(&sample(version)).unwrap();
            assert_eq!(parsed.initial, UtcOffset::from_whole_seconds(561).unwrap());
            assert_eq!(
                parsed.transitions,
                [
                    (-1_000_000_000, offset!(+1)),
                    (796_179_600, offset!(+2)),
                    (811_904_400, offset!(+1))
                ]
            );
            assert_eq!(parsed.rule.is_some(), version != 0, "{version}");
        }
        let empty_footer = build(b'2', &[], &[(0, false)], "");
        assert!(parse(&empty_footer).unwrap().rule.is_none());
    }

    #[test]
    #[rustfmt::skip]
    fn malformed_files_are_refused_with_what_is_wrong() {
        let good = sample(b'2');
        let v1_len = HEADER + 6 + 4 + 1 + 1;
        let set_count = |file: &mut Vec<u8>, header_at: usize, i: usize, n: u32| {
            let at = header_at + 20 + 4 * i;
            file[at..at + 4].copy_from_slice(&n.to_be_bytes());
        };
        let mut cases: Vec<(Vec<u8>, &str)> = vec![
            (b"TZiX".to_vec(), "cut short"),
            (good[..good.len() - 1].to_vec(), "footer"),
            (good[..100].to_vec(), "cut short"),
            ([&good[..], b"x"].concat(), "footer"),
            ([&good[..], b"\n"].concat(), "bytes past its end"),
            ([b"TZiX", &good[4..]].concat(), "not a TZif file"),
            ([b"TZif9", &good[5..]].concat(), "unknown version"),
            (build(b'2', &[(0, 0)], &[(0, false)], "CET"), "offset"),
            (build(b'2', &[(5, 0), (5, 0)], &[(0, false)], ""), "out of order"),
            (build(b'2', &[(5, 1)], &[(0, false)], ""), "local time type"),
            (build(b'2', &[], &[(93_600, false)], ""), "25:59:59"),
            (build(b'2', &[], &[(i32::MIN, false)], ""), "25:59:59"),
            (build(0, &[(5, 0)], &[(0, false)], "")[..60].to_vec(), "cut short"),
            ([&build(0, &[], &[(0, false)], "")[..], b"\n\n"].concat(), "bytes past its end"),
        ];
        let mut mismatched = good.clone();
        mismatched[v1_len + 4] = b'3';
        cases.push((mismatched, "different versions"));
        let counts = [(4, 0, "no local time type"), (0, 7, "indicator counts"), (2, 1, "leap seconds"), (3, u32::MAX, "cut short")];
        for (field, n, want) in counts {
            let mut file = good.clone();
            set_count(&mut file, v1_len, field, n);
            cases.push((file, want));
        }
        let mut flag = good.clone();
        flag[v1_len + HEADER + 3 * 9 + 4] = 2; // the first type's daylight-saving flag
        cases.push((flag, "daylight-saving flag"));
        let mut designation = good.clone();
        designation[v1_len + HEADER + 3 * 9 + 5] = 4;
        cases.push((designation, "abbreviation index"));
        for (file, want) in cases {
            let got = parse(&file).unwrap_err();
            assert!(got.contains(want), "want {want:?}, got {got:?}");
        }
    }

    #[test]
    fn prop_damaged_files_are_errors_never_panics() {
        let samples = [sample(0), sample(b'2'), sample(b'3')];
        prop::run(|rng| {
            let sample = rng.pick(&samples);
            let damaged = rng.damaged_bytes(sample);
            if let Ok(parsed) = parse(&damaged) {
                assert!(parsed.transitions.windows(2).all(|p| p[0].0 < p[1].0));
            }
        });
    }
}
