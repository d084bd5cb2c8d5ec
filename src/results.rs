//! A page of job results read from a stream one conversation at a time.
//!
//! Pure: reads from any `BufRead`, touches no file. The page's envelope
//! (`{"conversations": [...], "cursor": "..."}`) is walked by a small scanner that finds
//! where each value ends (strings, escapes and nesting) without building anything; each
//! conversation's bytes are then parsed from memory by serde_json, which is several times
//! faster than serde_json reading the stream itself, and every value the scanner delimits is
//! checked by serde_json, so nothing malformed passes. Only the conversation in hand is held,
//! whatever the page size. It knows nothing of what a conversation holds (`record.rs`).

use std::io::BufRead;

use serde::de::IgnoredAny;
use serde_json::value::RawValue;

/// Why `read_results` stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadError<E> {
    /// The reply is not a page of results.
    Malformed(String),
    /// `each` failed.
    Stopped(E),
}

/// Reads a page of job results (`{"conversations": [...], "cursor": "..."}`; the last page
/// has no cursor) from `reader` one conversation at a time, handing each to `each`, and
/// returns the cursor. The reply must be a JSON object; `conversations` an array or absent
/// (`null`); `cursor` a non-empty string or absent (`null`).
pub fn read_results<E>(
    reader: impl std::io::Read,
    each: &mut dyn FnMut(&RawValue) -> Result<(), E>,
) -> Result<Option<String>, ReadError<E>> {
    let mut scanner = Scanner {
        reader: std::io::BufReader::with_capacity(64 * 1024, reader),
        value: Vec::new(),
    };
    let cursor = scanner.page(each)?;
    match cursor {
        Some(cursor) if cursor.is_empty() => Err(malformed("an empty cursor")),
        cursor => Ok(cursor),
    }
}

fn malformed<E>(why: &str) -> ReadError<E> {
    ReadError::Malformed(format!("unreadable JSON ({why})"))
}

struct Scanner<R> {
    reader: R,
    /// The value being delimited.
    value: Vec<u8>,
}

impl<R: BufRead> Scanner<R> {
    /// The whole page: `{`, its members, `}`, then nothing but whitespace.
    fn page<E>(
        &mut self,
        each: &mut dyn FnMut(&RawValue) -> Result<(), E>,
    ) -> Result<Option<String>, ReadError<E>> {
        let mut cursor = None;
        self.expect(b'{')?;
        if self.peek()? != Some(b'}') {
            loop {
                self.value()?;
                let key: String = self.parse()?;
                self.expect(b':')?;
                match key.as_str() {
                    "conversations" => self.conversations(each)?,
                    "cursor" => {
                        self.value()?;
                        cursor = self.parse()?;
                    }
                    _ => {
                        self.value()?;
                        self.parse::<IgnoredAny, E>()?;
                    }
                }
                if self.peek()? != Some(b',') {
                    break;
                }
                self.reader.consume(1);
            }
        }
        self.expect(b'}')?;
        match self.peek()? {
            None => Ok(cursor),
            Some(_) => Err(malformed("trailing characters")),
        }
    }

    /// The `conversations` value: `null`, or an array whose elements go to `each`.
    fn conversations<E>(
        &mut self,
        each: &mut dyn FnMut(&RawValue) -> Result<(), E>,
    ) -> Result<(), ReadError<E>> {
        if self.peek()? != Some(b'[') {
            self.value()?;
            return self.parse::<(), E>();
        }
        self.reader.consume(1);
        if self.peek()? == Some(b']') {
            self.reader.consume(1);
            return Ok(());
        }
        loop {
            self.value()?;
            let text = std::str::from_utf8(&self.value).map_err(|_| malformed("not UTF-8"))?;
            let raw: &RawValue =
                serde_json::from_str(text).map_err(|e| malformed(&e.to_string()))?;
            each(raw).map_err(ReadError::Stopped)?;
            match self.peek()? {
                Some(b',') => self.reader.consume(1),
                Some(b']') => {
                    self.reader.consume(1);
                    return Ok(());
                }
                _ => return Err(malformed("an array not closed")),
            }
        }
    }

    /// Parses the value just delimited.
    fn parse<T: serde::de::DeserializeOwned, E>(&self) -> Result<T, ReadError<E>> {
        serde_json::from_slice(&self.value).map_err(|e| malformed(&e.to_string()))
    }

    /// Skips whitespace and consumes `byte`.
    fn expect<E>(&mut self, byte: u8) -> Result<(), ReadError<E>> {
        if self.peek()? != Some(byte) {
            return Err(malformed(&format!("expected '{}'", byte as char)));
        }
        self.reader.consume(1);
        Ok(())
    }

    /// Skips whitespace and shows the next byte, if any.
    fn peek<E>(&mut self) -> Result<Option<u8>, ReadError<E>> {
        loop {
            let buf = self
                .reader
                .fill_buf()
                .map_err(|e| malformed(&e.to_string()))?;
            let Some(&first) = buf.first() else {
                return Ok(None);
            };
            let blank = buf.iter().take_while(|&&b| is_blank(b)).count();
            if blank == 0 {
                return Ok(Some(first));
            }
            self.reader.consume(blank);
        }
    }

    /// Copies the next value's bytes into `self.value`: a string to its closing quote, an
    /// object or array to its closing bracket, a literal or number up to a delimiter. What it
    /// copies is checked by serde_json afterwards.
    fn value<E>(&mut self) -> Result<(), ReadError<E>> {
        self.value.clear();
        let first = self.peek()?.ok_or_else(|| malformed("a value cut short"))?;
        let mut state = Extent::new(first);
        loop {
            let buf = self
                .reader
                .fill_buf()
                .map_err(|e| malformed(&e.to_string()))?;
            if buf.is_empty() {
                return match state.scalar {
                    true if !self.value.is_empty() => Ok(()),
                    _ => Err(malformed("a value cut short")),
                };
            }
            let (used, done) = state.scan(buf);
            self.value.extend_from_slice(buf.get(..used).unwrap_or(buf));
            self.reader.consume(used);
            if done {
                return Ok(());
            }
        }
    }
}

/// JSON's whitespace (not form feed, which `is_ascii_whitespace` counts).
pub fn is_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Where the bytes of a JSON text stand relative to its strings, taken one at a time.
#[derive(Clone, Copy, Debug, Default)]
pub struct Strings {
    inside: bool,
    escaped: bool,
}

impl Strings {
    /// Takes the next byte: whether it belongs to a string, its quotes included.
    pub fn step(&mut self, b: u8) -> bool {
        if self.inside {
            match b {
                _ if self.escaped => self.escaped = false,
                b'\\' => self.escaped = true,
                b'"' => self.inside = false,
                _ => {}
            }
            true
        } else {
            self.inside = b == b'"';
            self.inside
        }
    }

    /// Whether the last byte taken left a string open.
    pub fn inside(self) -> bool {
        self.inside
    }
}

/// Where a value ends, scanned a chunk at a time.
struct Extent {
    /// A literal or number: ends before a delimiter.
    scalar: bool,
    depth: u32,
    strings: Strings,
}

impl Extent {
    fn new(first: u8) -> Extent {
        Extent {
            scalar: !matches!(first, b'"' | b'{' | b'['),
            depth: 0,
            strings: Strings::default(),
        }
    }

    /// How many bytes of `chunk` belong to the value, and whether the value ends there.
    fn scan(&mut self, chunk: &[u8]) -> (usize, bool) {
        for (i, &b) in chunk.iter().enumerate() {
            if self.scalar {
                if matches!(b, b',' | b']' | b'}' | b':') || is_blank(b) {
                    return (i, true);
                }
                continue;
            }
            if self.strings.step(b) {
                // A string at the top level ends with its closing quote.
                if !self.strings.inside() && self.depth == 0 {
                    return (i + 1, true);
                }
                continue;
            }
            match b {
                b'{' | b'[' => self.depth = self.depth.saturating_add(1),
                b'}' | b']' => {
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 0 {
                        return (i + 1, true);
                    }
                }
                _ => {}
            }
        }
        (chunk.len(), false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ids handed over and the cursor, or why the read stopped, through `read_results`
    /// with a reader that hands out `chunk` bytes at a time.
    fn read(text: &str, chunk: usize) -> Result<(Vec<String>, Option<String>), ReadError<String>> {
        struct Trickle<'a>(&'a [u8], usize);
        impl std::io::Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = self.1.min(buf.len()).min(self.0.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut ids = Vec::new();
        let cursor = read_results(Trickle(text.as_bytes(), chunk), &mut |raw: &RawValue| {
            let v: serde_json::Value = serde_json::from_str(raw.get()).unwrap();
            match v.get("conversationId").and_then(|id| id.as_str()) {
                Some(id) => ids.push(id.to_string()),
                None => return Err("a conversation has no conversationId".to_string()),
            }
            Ok(())
        })?;
        Ok((ids, cursor))
    }

    /// What serde_json makes of the same text as a whole: the oracle.
    fn expected(text: &str) -> Option<(Vec<String>, Option<String>)> {
        let v: serde_json::Value = serde_json::from_str(text).ok()?;
        let page = v.as_object()?;
        let conversations = match page.get("conversations") {
            None | Some(serde_json::Value::Null) => Vec::new(),
            Some(serde_json::Value::Array(items)) => items.clone(),
            Some(_) => return None,
        };
        let cursor = match page.get("cursor") {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(_) => return None,
        };
        let ids = conversations
            .iter()
            .map(|c| c.get("conversationId")?.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()?;
        Some((ids, cursor))
    }

    #[test]
    fn job_results_are_read_one_conversation_at_a_time() {
        let c = |id: &str| {
            format!(r#"{{"conversationId":"{id}","conversationStart":"2026-11-01T00:00:00Z"}}"#)
        };
        let page = format!(
            " {{ \"dataAvailabilityDate\" : \"x\\\"}}\" , \"conversations\" : [ {} , {} ] ,\n\"cursor\":\"c2\", \"n\": -1.5e3 }}\n",
            c("a"),
            c("b\\\"]")
        );
        for chunk in [1, 2, 7, 1 << 20] {
            assert_eq!(
                read(&page, chunk),
                Ok((vec!["a".into(), "b\"]".into()], Some("c2".into()))),
                "{chunk}"
            );
        }
        assert_eq!(read(r#"{"conversations":[]}"#, 3), Ok((vec![], None)));
        assert_eq!(
            read(r#"{"conversations":null,"cursor":null}"#, 3),
            Ok((vec![], None))
        );
        assert_eq!(read("{}", 1), Ok((vec![], None)));
        for bad in [
            "[]",
            "",
            "  ",
            r#"{"conversations":{}}"#,
            r#"{"cursor":""}"#,
            r#"{"cursor":7}"#,
            r#"{"conversations":["#,
            r#"{"conversations":[{"conversationId":"a"},]}"#,
            r#"{"conversations":[{"conversationId":"a"}}"#,
            r#"{"conversations":[{"conversationId":"a"]}"#,
            r#"{"a":tru}"#,
            r#"{"a":1,}"#,
            r#"{"a" 1}"#,
            r#"{,}"#,
            "{} x",
            "{}}",
        ] {
            assert!(
                matches!(read(bad, 2), Err(ReadError::Malformed(_))),
                "{bad}"
            );
        }
        let stopped = read(
            &format!(
                r#"{{"conversations":[{},{{"conversationStart":"2026-11-01T00:00:00Z"}}]}}"#,
                c("a")
            ),
            5,
        );
        assert_eq!(
            stopped,
            Err(ReadError::Stopped(
                "a conversation has no conversationId".into()
            ))
        );
    }

    #[test]
    fn prop_the_scanner_reads_what_serde_json_reads() {
        const PAGE: &str = r#"{"conversations":[{"conversationId":"c-1","p":[{"s":"]}\"\\","n":[1,2.5e-3,true,null]}]},{"conversationId":"c-2"}],"cursor":"abc","x":{"y":[]}}"#;
        crate::prop::run(|rng| {
            let text = match rng.below(3) {
                0 => rng.json_value(3).to_string(),
                _ => rng.mutated_json(PAGE),
            };
            let chunk = 1 + rng.below(64) as usize;
            match (read(&text, chunk), expected(&text)) {
                (Ok(got), Some(want)) => assert_eq!(got, want, "{text}"),
                (Err(_), None) => {}
                (got, want) => panic!("{text:?}: read {got:?}, serde_json {want:?}"),
            }
        });
    }
}
