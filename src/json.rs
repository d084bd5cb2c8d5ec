//! A strict JSON reader over text held in memory, for the records read by the thousand
//! (`record`, the details envelope in `api`): it walks the text once, hands out strings
//! borrowed from it (owned only where they hold an escape) and the raw text of any value, and
//! checks the grammar of everything it passes over, skipped values included, as serde_json
//! does (RFC 8259: no trailing commas, no leading zeros, no control characters in strings,
//! at most `MAX_DEPTH` nested arrays and objects). What it reads is decided by its caller,
//! field by field, so a record is read without an intermediate tree or a visitor per value.
//!
//! One difference from serde_json: a `\u` escape of a lone surrogate reads as U+FFFD in a
//! string that is read, where serde_json refuses it (both accept it in a skipped string).
//! Pure: no I/O; every index is checked, nothing in the text can make it panic.

use std::borrow::Cow;

/// Arrays and objects nested deeper than this are refused (serde_json's own limit).
pub const MAX_DEPTH: u32 = 128;

/// Why a text was refused: what was expected, and the byte where it was not found.
pub type Result<T> = std::result::Result<T, String>;

/// The kind of the value that comes next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Object,
    Array,
    String,
    Number,
    Bool,
    Null,
}

/// A reader of one JSON text, at some byte of it.
pub struct Reader<'a> {
    text: &'a str,
    at: usize,
    depth: u32,
    /// The text was read whole and checked already: a skipped value is passed over by its
    /// brackets and quotes (`pass_over`), unchecked.
    checked: bool,
}

impl<'a> Reader<'a> {
    pub fn new(text: &'a str) -> Reader<'a> {
        Reader {
            text,
            at: 0,
            depth: 0,
            checked: false,
        }
    }

    /// A reader of a text that a `Reader::new` read whole and accepted already: what it
    /// reads it reads alike, and what it skips it passes over unchecked (`pass_over`).
    pub fn checked(text: &'a str) -> Reader<'a> {
        Reader {
            checked: true,
            ..Reader::new(text)
        }
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn byte(&self) -> Option<u8> {
        self.bytes().get(self.at).copied()
    }

    fn fail<T>(&self, expected: &str) -> Result<T> {
        match self.byte() {
            None => Err(format!("{expected}, but the text ends at byte {}", self.at)),
            Some(_) => Err(format!("{expected} at byte {}", self.at)),
        }
    }

    fn blank(&mut self) {
        while matches!(self.byte(), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.at += 1;
        }
    }

    /// Where the next value starts (after blanks).
    pub fn start(&mut self) -> usize {
        self.blank();
        self.at
    }

    /// The text from `start` (a `start()`) to where the reader is: a value's raw text.
    pub fn since(&self, start: usize) -> &'a str {
        self.text.get(start..self.at).unwrap_or_default()
    }

    /// The kind of the next value, without reading it.
    pub fn peek(&mut self) -> Result<Kind> {
        self.blank();
        match self.byte() {
            Some(b'{') => Ok(Kind::Object),
            Some(b'[') => Ok(Kind::Array),
            Some(b'"') => Ok(Kind::String),
            Some(b'-' | b'0'..=b'9') => Ok(Kind::Number),
            Some(b't' | b'f') => Ok(Kind::Bool),
            Some(b'n') => Ok(Kind::Null),
            _ => self.fail("expected a value"),
        }
    }

    fn word(&mut self, word: &str) -> Result<()> {
        let end = self.at.saturating_add(word.len());
        match self.bytes().get(self.at..end) {
            Some(found) if found == word.as_bytes() => {
                self.at = end;
                Ok(())
            }
            _ => self.fail(&format!("expected `{word}`")),
        }
    }

    /// Reads a `null` if one comes next: whether it did.
    pub fn null(&mut self) -> Result<bool> {
        match self.peek()? {
            Kind::Null => self.word("null").map(|()| true),
            _ => Ok(false),
        }
    }

    /// Reads `true` or `false`.
    pub fn boolean(&mut self) -> Result<bool> {
        self.blank();
        match self.byte() {
            Some(b't') => self.word("true").map(|()| true),
            Some(b'f') => self.word("false").map(|()| false),
            _ => self.fail("expected a boolean"),
        }
    }

    /// Reads a string: borrowed from the text, owned where it holds an escape.
    pub fn string(&mut self) -> Result<Cow<'a, str>> {
        self.blank();
        if self.byte() != Some(b'"') {
            return self.fail("expected a string");
        }
        self.at += 1;
        let first = self.at;
        let mut owned: Option<String> = None;
        loop {
            let stop = self.special()?;
            let run = self.text.get(self.at..stop).unwrap_or_default();
            self.at = stop;
            match self.byte() {
                Some(b'"') => {
                    self.at += 1;
                    return Ok(match owned {
                        Some(mut s) => {
                            s.push_str(run);
                            Cow::Owned(s)
                        }
                        None => Cow::Borrowed(self.text.get(first..stop).unwrap_or_default()),
                    });
                }
                _ => {
                    let s = owned.get_or_insert_with(String::new);
                    s.push_str(run);
                    let c = self.escape()?;
                    s.push(c);
                }
            }
        }
    }

    /// Passes over a string, checking it as `string` does.
    fn skip_string(&mut self) -> Result<()> {
        self.at += 1;
        loop {
            self.at = self.special()?;
            match self.byte() {
                Some(b'"') => {
                    self.at += 1;
                    return Ok(());
                }
                _ => {
                    self.escape()?;
                }
            }
        }
    }

    /// The first `"`, `\` or control character from here on (inside a string), eight bytes
    /// at a time; a control character, or the end of the text, is an error.
    fn special(&self) -> Result<usize> {
        let rest = self.bytes().get(self.at..).unwrap_or_default();
        let mut words = rest.chunks_exact(8);
        let mut i = self.at;
        for word in &mut words {
            let found = special_bytes(word);
            if found != 0 {
                return self.special_at(i + found.trailing_zeros() as usize / 8);
            }
            i += 8;
        }
        for &b in words.remainder() {
            if b == b'"' || b == b'\\' || b < 0x20 {
                return self.special_at(i);
            }
            i += 1;
        }
        Err(format!(
            "a string not closed before the text ends at byte {i}"
        ))
    }

    fn special_at(&self, i: usize) -> Result<usize> {
        match self.bytes().get(i) {
            Some(&b) if b < 0x20 => Err(format!("a control character in a string at byte {i}")),
            _ => Ok(i),
        }
    }

    /// Reads the escape at the reader (`\` first) as the character it stands for.
    fn escape(&mut self) -> Result<char> {
        let c = match self.bytes().get(self.at.saturating_add(1)) {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                self.at += 2;
                let unit = self.hex4()?;
                return Ok(self.unit(unit));
            }
            _ => return self.fail("expected a valid escape"),
        };
        self.at += 2;
        Ok(c)
    }

    /// The character a `\u` escape's UTF-16 unit stands for, with the low surrogate that
    /// follows a high one; a lone surrogate is U+FFFD.
    fn unit(&mut self, unit: u32) -> char {
        if (0xD800..0xDC00).contains(&unit) {
            let rest = self.bytes().get(self.at..self.at.saturating_add(2));
            if rest == Some(b"\\u") {
                let back = self.at;
                self.at += 2;
                match self.hex4() {
                    Ok(low) if (0xDC00..0xE000).contains(&low) => {
                        let c = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                        return char::from_u32(c).unwrap_or('\u{FFFD}');
                    }
                    _ => self.at = back,
                }
            }
        }
        char::from_u32(unit).unwrap_or('\u{FFFD}')
    }

    fn hex4(&mut self) -> Result<u32> {
        let digits = self.bytes().get(self.at..self.at.saturating_add(4));
        let value = digits.and_then(|d| {
            d.iter().try_fold(0u32, |n, &b| {
                let v = char::from(b).to_digit(16)?;
                Some(n * 16 + v)
            })
        });
        match value {
            Some(v) => {
                self.at += 4;
                Ok(v)
            }
            None => self.fail("expected four hex digits"),
        }
    }

    /// Reads a number: its text as written, checked against the grammar.
    pub fn number(&mut self) -> Result<&'a str> {
        self.blank();
        let start = self.at;
        if self.byte() == Some(b'-') {
            self.at += 1;
        }
        match self.byte() {
            Some(b'0') => self.at += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return self.fail("expected a number"),
        }
        if self.byte() == Some(b'.') {
            self.at += 1;
            self.some_digits()?;
        }
        if matches!(self.byte(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.byte(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            self.some_digits()?;
        }
        if matches!(self.byte(), Some(b'0'..=b'9')) {
            return self.fail("expected no digit after a leading zero");
        }
        Ok(self.since(start))
    }

    fn digits(&mut self) {
        while matches!(self.byte(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
    }

    fn some_digits(&mut self) -> Result<()> {
        if !matches!(self.byte(), Some(b'0'..=b'9')) {
            return self.fail("expected a digit");
        }
        self.digits();
        Ok(())
    }

    /// Passes over the next value, whatever it is, checking it.
    pub fn skip(&mut self) -> Result<()> {
        if self.checked {
            return self.pass_over();
        }
        match self.peek()? {
            Kind::Object => self.object(|r, _| r.skip()),
            Kind::Array => self.array(|r| r.skip()),
            Kind::String => self.skip_string(),
            Kind::Number => self.number().map(drop),
            Kind::Bool => self.boolean().map(drop),
            Kind::Null => self.word("null"),
        }
    }

    /// Passes over the value at the reader of a checked text: an object or array by counting
    /// its brackets outside strings, a string to its closing quote, anything else to the next
    /// delimiter. Each step moves on, so any text ends it, and nothing can panic; on a text not
    /// checked it may stop elsewhere than `skip` would.
    fn pass_over(&mut self) -> Result<()> {
        self.blank();
        match self.byte() {
            Some(b'"') => self.skip_string(),
            Some(b'{' | b'[') => {
                let mut open = 0usize;
                loop {
                    match self.byte() {
                        Some(b'{' | b'[') => open = open.saturating_add(1),
                        Some(b'}' | b']') => {
                            open = open.saturating_sub(1);
                            if open == 0 {
                                self.at += 1;
                                return Ok(());
                            }
                        }
                        Some(b'"') => {
                            self.skip_string()?;
                            continue;
                        }
                        Some(_) => {}
                        None => return self.fail("expected the end of a value"),
                    }
                    self.at += 1;
                }
            }
            Some(_) => {
                while !matches!(
                    self.byte(),
                    None | Some(b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t')
                ) {
                    self.at += 1;
                }
                Ok(())
            }
            None => self.fail("expected a value"),
        }
    }

    /// Reads an object, handing each key to `field`, which must read its value.
    pub fn object(
        &mut self,
        mut field: impl FnMut(&mut Reader<'a>, Cow<'a, str>) -> Result<()>,
    ) -> Result<()> {
        self.members(Kind::Object, b'}', |r| {
            let key = r.string()?;
            r.blank();
            if r.byte() != Some(b':') {
                return r.fail("expected `:`");
            }
            r.at += 1;
            field(r, key)
        })
    }

    /// Reads an array, calling `item` for each element, which must read it.
    pub fn array(&mut self, item: impl FnMut(&mut Reader<'a>) -> Result<()>) -> Result<()> {
        self.members(Kind::Array, b']', item)
    }

    /// Reads the object or array (`kind`, closed by `close`) at the reader, one level deeper,
    /// calling `member` for each of its members, separated by commas.
    fn members(
        &mut self,
        kind: Kind,
        close: u8,
        mut member: impl FnMut(&mut Reader<'a>) -> Result<()>,
    ) -> Result<()> {
        if self.peek()? != kind {
            return self.fail(match kind {
                Kind::Object => "expected an object",
                _ => "expected an array",
            });
        }
        if self.depth >= MAX_DEPTH {
            return self.fail("arrays and objects nested too deep");
        }
        self.depth += 1;
        self.at += 1;
        self.blank();
        let mut first = true;
        loop {
            match self.byte() {
                Some(b) if b == close => {
                    self.at += 1;
                    self.depth -= 1;
                    return Ok(());
                }
                Some(b',') if !first => self.at += 1,
                _ if first => {}
                _ => return self.fail(&format!("expected `,` or `{}`", char::from(close))),
            }
            first = false;
            member(self)?;
            self.blank();
        }
    }

    /// Checks that nothing but blanks follows.
    pub fn end(&mut self) -> Result<()> {
        self.blank();
        match self.byte() {
            None => Ok(()),
            Some(_) => self.fail("expected nothing more"),
        }
    }
}

/// The bytes of the eight-byte word `word` that are `"`, `\` or below 0x20, each flagged in
/// its high bit, the lowest flag exact (`equal_in`). A shorter `word` is read as
/// padded with spaces.
fn special_bytes(word: &[u8]) -> u64 {
    let x = self::word(word, b' ');
    equal_in(x, b'"') | equal_in(x, b'\\') | below_in(x, 0x20)
}

pub const ONES: u64 = u64::from_le_bytes([1; 8]);
const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);

/// The first eight bytes of `bytes` as a little-endian word, `pad` standing for any missing.
pub fn word(bytes: &[u8], pad: u8) -> u64 {
    let mut le = [pad; 8];
    match bytes.get(..8) {
        Some(bytes) => le.copy_from_slice(bytes),
        None => le.iter_mut().zip(bytes).for_each(|(to, from)| *to = *from),
    }
    u64::from_le_bytes(le)
}

/// The bytes of the word `x` equal to `b`, each flagged in its high bit: a byte equal to `b`
/// becomes zero, and a zero byte borrows. Not zero exactly when some byte equals `b`, and
/// its lowest flag is exact (flags above it may be false).
pub fn equal_in(x: u64, b: u8) -> u64 {
    let x = x ^ (ONES * u64::from(b));
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// The bytes of the word `x` equal to `b`, each flagged in its high bit, every flag exact
/// (so they can be counted): no carry crosses from one byte to the next.
pub fn exactly_equal_in(x: u64, b: u8) -> u64 {
    const LOWS: u64 = !HIGHS;
    let x = x ^ (ONES * u64::from(b));
    !(((x & LOWS).wrapping_add(LOWS)) | x | LOWS)
}

/// The bytes of the word `x` below `n` (at most 0x80), flagged as `equal_in` flags them.
pub fn below_in(x: u64, n: u8) -> u64 {
    x.wrapping_sub(ONES * u64::from(n)) & !x & HIGHS
}

/// The refusal of a field given twice where each may be given once.
pub fn duplicate(key: &str) -> String {
    format!("duplicate field `{key}`")
}

/// A whole number's text (as `Reader::number` gives it) as an `i64`; `None` for a fraction,
/// an exponent, a value out of range, or `-0` (which serde_json reads as a float).
pub fn integer(number: &str) -> Option<i64> {
    let (negative, digits) = match number.strip_prefix('-') {
        Some(digits) => (true, digits),
        None => (false, number),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if negative && digits.bytes().all(|b| b == b'0') {
        return None;
    }
    digits.bytes().try_fold(0i64, |n, b| {
        let d = i64::from(b - b'0');
        let n = n.checked_mul(10)?;
        match negative {
            true => n.checked_sub(d),
            false => n.checked_add(d),
        }
    })
}

/// A whole, non-negative number's text as a `u64`; `None` otherwise.
pub fn unsigned(number: &str) -> Option<u64> {
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    number.bytes().try_fold(0u64, |n, b| {
        n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skips(text: &str) -> Result<()> {
        let mut r = Reader::new(text);
        r.skip()?;
        r.end()
    }

    #[test]
    fn values_are_read_and_their_text_kept() {
        let text =
            r#" { "a" : [1, -2.5e+3, true, null, "x\"y\u00e9\ud83d\ude00"], "b\u0063": {} } "#;
        let mut r = Reader::new(text);
        let mut seen = Vec::new();
        r.object(|r, key| {
            let start = r.start();
            match key.as_ref() {
                "a" => r.array(|r| {
                    match r.peek()? {
                        Kind::Number => seen.push(r.number()?.to_string()),
                        Kind::Bool => seen.push(r.boolean()?.to_string()),
                        Kind::Null => seen.push(r.null()?.to_string()),
                        Kind::String => seen.push(r.string()?.into_owned()),
                        _ => r.skip()?,
                    }
                    Ok(())
                })?,
                _ => {
                    seen.push(key.into_owned());
                    r.skip()?;
                }
            }
            seen.push(r.since(start).to_string());
            Ok(())
        })
        .unwrap();
        r.end().unwrap();
        assert_eq!(
            seen,
            [
                "1",
                "-2.5e+3",
                "true",
                "true",
                "x\"yé😀",
                r#"[1, -2.5e+3, true, null, "x\"y\u00e9\ud83d\ude00"]"#,
                "bc",
                "{}"
            ]
        );
        let mut r = Reader::new(r#""plain" "lone \ud800 x""#);
        assert!(matches!(r.string().unwrap(), Cow::Borrowed("plain")));
        assert_eq!(r.string().unwrap(), "lone \u{FFFD} x");
    }

    #[test]
    fn the_grammar_is_serde_jsons() {
        for bad in [
            "",
            "{",
            "[1,]",
            "{\"a\":1,}",
            "01",
            "-",
            "1.",
            "1e",
            "+1",
            "[1 2]",
            "{\"a\" 1}",
            "{1:2}",
            "\"a\nb\"",
            "\"\\x\"",
            "\"\\u12g4\"",
            "tru",
            "nul",
            "[",
            "\"abc",
            "1 2",
            "{\"a\":}",
            ".5",
            "--1",
        ] {
            assert!(skips(bad).is_err(), "{bad:?}");
            assert!(serde_json::from_str::<serde::de::IgnoredAny>(bad).is_err());
        }
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(skips(&deep).is_err());
        let fine = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(skips(&fine).is_ok());
    }

    /// The reader accepts exactly the texts serde_json accepts, on damaged real replies.
    #[test]
    fn prop_the_reader_accepts_what_serde_json_accepts() {
        crate::prop::run(|rng| {
            let (_, sample) = *rng.pick(&crate::columns::sample::PUBLISHED);
            let text = rng.mutated_json(sample);
            let ours = skips(&text);
            let theirs = serde_json::from_str::<serde::de::IgnoredAny>(&text);
            assert_eq!(ours.is_ok(), theirs.is_ok(), "{text}: {ours:?} {theirs:?}");
        });
    }

    /// On a text a checking reader accepted, every value a checked reader passes over ends
    /// where the checking reader's skip ends it; on any other text it ends without a panic.
    #[test]
    fn prop_passing_over_a_checked_text_ends_where_skipping_ends() {
        crate::prop::run(|rng| {
            let (_, sample) = *rng.pick(&crate::columns::sample::PUBLISHED);
            let text = rng.mutated_json(sample);
            let ends = |mut r: Reader| -> Result<Vec<usize>> {
                let mut ends = Vec::new();
                r.object(|r, _| {
                    r.skip()?;
                    ends.push(r.at);
                    Ok(())
                })?;
                r.end()?;
                Ok(ends)
            };
            match ends(Reader::new(&text)) {
                Ok(checking) => assert_eq!(ends(Reader::checked(&text)), Ok(checking), "{text}"),
                Err(_) => drop(ends(Reader::checked(&text))),
            }
        });
    }

    #[test]
    fn prop_strings_read_as_serde_json_reads_them() {
        crate::prop::run(|rng| {
            let s = rng.unicode(12);
            let text = serde_json::to_string(&s).unwrap();
            let mut r = Reader::new(&text);
            assert_eq!(r.string().unwrap(), s.as_str());
            // And eight-byte words with special bytes anywhere.
            let word: Vec<u8> = (0..8)
                .map(|_| *rng.pick(b"a\"\\\x01 \x7f~\xc3\x9f"))
                .collect();
            let slow = word
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20);
            let fast = special_bytes(&word);
            let fast = (fast != 0).then(|| fast.trailing_zeros() as usize / 8);
            assert_eq!(fast, slow, "{word:?}");
        });
    }

    #[test]
    fn whole_numbers_read_within_their_range() {
        assert_eq!(integer("0"), Some(0));
        assert_eq!(integer("-0"), None);
        assert_eq!(integer("-9223372036854775808"), Some(i64::MIN));
        assert_eq!(integer("9223372036854775807"), Some(i64::MAX));
        assert_eq!(integer("9223372036854775808"), None);
        assert_eq!(integer("1.0"), None);
        assert_eq!(integer("1e3"), None);
        assert_eq!(unsigned("18446744073709551615"), Some(u64::MAX));
        assert_eq!(unsigned("18446744073709551616"), None);
        assert_eq!(unsigned("-1"), None);
    }
}
