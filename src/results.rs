//! A page of job results read from a stream one conversation at a time.
//!
//! Pure: reads from any `Read`, touches no file. The page's envelope
//! (`{"conversations": [...], "cursor": "..."}`) is walked by a small scanner; each value in
//! it is delimited and checked by serde_json in the buffer it was read into (a value cut
//! short by the buffer's end is parsed again once more is read). A conversation (an object)
//! is delimited by counting its brackets outside strings, without a parse: the one parse is
//! the reader's (`each`), which checks it whole; it is handed on as text borrowed from that
//! buffer. Only a buffer's worth is held, whatever the page size, and a value malformed early
//! is refused without reading on (an object that does not close within a buffer's worth is
//! delimited by serde_json instead). It knows nothing of what a conversation holds
//! (`record.rs`).

use serde::de::IgnoredAny;

use crate::json::{equal_in, Reader};
use serde_json::value::RawValue;

/// Why `read_results` stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadError<E> {
    /// The reply is not a page of results.
    Malformed(String),
    /// `each` failed.
    Stopped(E),
}

/// Where a conversation's text lies in a page: its first byte's offset, and its length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub at: u64,
    pub len: usize,
}

/// A page of job results as read: its cursor, and where each conversation lies in it, so
/// that the page can be read again without being scanned again (`read_spans`).
#[derive(Debug, PartialEq, Eq)]
pub struct Results {
    pub cursor: Option<String>,
    pub spans: Vec<Span>,
}

/// Reads a page of job results (`{"conversations": [...], "cursor": "..."}`; the last page
/// has no cursor) from `reader` one conversation at a time, handing each to `each`, and
/// returns the cursor and where the conversations lie. The reply must be a JSON object;
/// `conversations` an array or absent (`null`); `cursor` a non-empty string or absent
/// (`null`).
pub fn read_results<E>(
    reader: impl std::io::Read,
    each: &mut dyn FnMut(&str) -> Result<(), E>,
) -> Result<Results, ReadError<E>> {
    let mut scanner = Scanner {
        reader,
        buf: vec![0; CHUNK],
        start: 0,
        end: 0,
        eof: false,
        consumed: 0,
        spans: Vec::new(),
    };
    let cursor = scanner.page(each)?;
    match cursor {
        Some(cursor) if cursor.is_empty() => Err(malformed("an empty cursor")),
        cursor => Ok(Results {
            cursor,
            spans: scanner.spans,
        }),
    }
}

/// Reads a page of job results held in memory, as `read_results` reads one from a stream,
/// in one pass: `each` reads the conversation at the reader (and must read it whole), and
/// the spans are where each lies in `text`. Any refusal, of the page or of a conversation,
/// is the page's.
pub fn read_results_in<'a>(
    text: &'a str,
    each: &mut dyn FnMut(&mut Reader<'a>) -> Result<(), String>,
) -> Result<Results, String> {
    let mut reader = Reader::new(text);
    let (mut cursor, mut spans) = (None, Vec::new());
    let read = reader.object(|r, key| match key.as_ref() {
        "conversations" if r.null()? => Ok(()),
        "conversations" => r.array(|r| {
            let at = r.start();
            each(r)?;
            let len = r.since(at).len();
            spans.push(Span { at: at as u64, len });
            Ok(())
        }),
        "cursor" => {
            cursor = match r.null()? {
                true => None,
                false => Some(r.string()?.into_owned()),
            };
            Ok(())
        }
        _ => r.skip(),
    });
    read.and_then(|()| reader.end())
        .map_err(|e| format!("unreadable JSON ({e})"))?;
    match cursor {
        Some(cursor) if cursor.is_empty() => Err("unreadable JSON (an empty cursor)".to_string()),
        cursor => Ok(Results { cursor, spans }),
    }
}

/// Reads again the conversations of a page `read_results` read, from `reader` (the same
/// bytes, from their start), handing each to `each`: the texts at `spans`, checked as UTF-8
/// and nothing else.
pub fn read_spans<E>(
    reader: impl std::io::Read,
    spans: &[Span],
    each: &mut dyn FnMut(&str) -> Result<(), E>,
) -> Result<(), ReadError<E>> {
    let mut reader = std::io::BufReader::with_capacity(CHUNK, reader);
    let mut text = Vec::new();
    let mut at = 0u64;
    let short = |e: std::io::Error| malformed(&format!("the page no longer reads: {e}"));
    for span in spans {
        let gap = span
            .at
            .checked_sub(at)
            .ok_or_else(|| malformed("spans out of order"))?;
        let skipped = std::io::copy(
            &mut std::io::Read::take(&mut reader, gap),
            &mut std::io::sink(),
        );
        if skipped.map_err(short)? != gap {
            return Err(malformed("the page is shorter than its spans"));
        }
        text.resize(span.len, 0);
        std::io::Read::read_exact(&mut reader, &mut text).map_err(short)?;
        let text = std::str::from_utf8(&text).map_err(|e| malformed(&e.to_string()))?;
        each(text).map_err(ReadError::Stopped)?;
        at = span.at.saturating_add(span.len as u64);
    }
    Ok(())
}

/// What the scanner reads at a time; a value longer than what it holds grows it.
const CHUNK: usize = 128 * 1024;

fn malformed<E>(why: &str) -> ReadError<E> {
    ReadError::Malformed(format!("unreadable JSON ({why})"))
}

struct Scanner<R> {
    reader: R,
    /// The bytes read and not yet consumed are `buf[start..end]`.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The reader has nothing more.
    eof: bool,
    /// The bytes read and consumed before `buf[0]`.
    consumed: u64,
    /// Where each conversation handed on lies.
    spans: Vec<Span>,
}

impl<R: std::io::Read> Scanner<R> {
    /// The whole page: `{`, its members, `}`, then nothing but whitespace.
    fn page<E>(
        &mut self,
        each: &mut dyn FnMut(&str) -> Result<(), E>,
    ) -> Result<Option<String>, ReadError<E>> {
        let mut cursor = None;
        self.expect(b'{')?;
        if self.peek()? != Some(b'}') {
            loop {
                let key: String = self.parse()?;
                self.expect(b':')?;
                match key.as_str() {
                    "conversations" => self.conversations(each)?,
                    "cursor" => cursor = self.parse()?,
                    _ => {
                        self.parse::<IgnoredAny, E>()?;
                    }
                }
                if self.peek()? != Some(b',') {
                    break;
                }
                self.start += 1;
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
        each: &mut dyn FnMut(&str) -> Result<(), E>,
    ) -> Result<(), ReadError<E>> {
        if self.peek()? != Some(b'[') {
            return self.parse::<(), E>();
        }
        self.start += 1;
        if self.peek()? == Some(b']') {
            self.start += 1;
            return Ok(());
        }
        loop {
            self.element(each)?;
            match self.peek()? {
                Some(b',') => self.start += 1,
                Some(b']') => {
                    self.start += 1;
                    return Ok(());
                }
                _ => return Err(malformed("an array not closed")),
            }
        }
    }

    /// Hands the next element of the array to `each`: an object delimited by its brackets
    /// when it closes within a buffer's worth, any other value as serde_json delimits it.
    fn element<E>(
        &mut self,
        each: &mut dyn FnMut(&str) -> Result<(), E>,
    ) -> Result<(), ReadError<E>> {
        while self.peek()? == Some(b'{') {
            let held = self.buf.get(self.start..self.end).unwrap_or_default();
            match object_len(held) {
                Some(len) => {
                    let bytes = held.get(..len).unwrap_or_default();
                    let text = std::str::from_utf8(bytes)
                        .map_err(|e| malformed(&format!("invalid UTF-8 ({e})")))?;
                    // A refusal of text that is not JSON at all is the page's fault: told
                    // apart here, on the refusal alone, so that good text is parsed once.
                    each(text).map_err(|e| match serde_json::from_str::<IgnoredAny>(text) {
                        Err(syntax) => malformed(&syntax.to_string()),
                        Ok(_) => ReadError::Stopped(e),
                    })?;
                    self.spans.push(Span {
                        at: self.consumed.saturating_add(self.start as u64),
                        len,
                    });
                    self.start = self.start.saturating_add(len);
                    return Ok(());
                }
                None if self.eof => return Err(malformed("an object not closed")),
                None if held.len() >= CHUNK => break,
                None => self.fill()?,
            }
        }
        let at = self.consumed.saturating_add(self.start as u64);
        let len = self.value(|raw: &RawValue| {
            each(raw.get()).map_err(ReadError::Stopped)?;
            Ok(raw.get().len())
        })??;
        self.spans.push(Span { at, len });
        Ok(())
    }

    /// Parses the next value.
    fn parse<T: serde::de::DeserializeOwned, E>(&mut self) -> Result<T, ReadError<E>> {
        self.value(|raw: &RawValue| {
            serde_json::from_str(raw.get()).map_err(|e| malformed(&e.to_string()))
        })?
    }

    /// Delimits the next value with serde_json, which checks it, and hands it to `take`. A
    /// value cut short by the end of what is read so far is parsed again once more is read;
    /// so is one that ends there, as a number may go on.
    fn value<T, E>(&mut self, take: impl FnOnce(&RawValue) -> T) -> Result<T, ReadError<E>> {
        self.peek()?;
        loop {
            let text = self.buf.get(self.start..self.end).unwrap_or_default();
            let mut de = serde_json::Deserializer::from_slice(text);
            match <&RawValue as serde::Deserialize>::deserialize(&mut de) {
                Ok(raw) if self.eof || end_of(raw, text) < text.len() => {
                    let used = end_of(raw, text);
                    let taken = take(raw);
                    self.start = self.start.saturating_add(used);
                    return Ok(taken);
                }
                Err(e) if self.eof || !(e.is_eof() || error_at(text, &e) >= text.len()) => {
                    return Err(malformed(&e.to_string()))
                }
                _ => self.fill()?,
            }
        }
    }

    /// Skips whitespace and consumes `byte`.
    fn expect<E>(&mut self, byte: u8) -> Result<(), ReadError<E>> {
        if self.peek()? != Some(byte) {
            return Err(malformed(&format!("expected '{}'", byte as char)));
        }
        self.start += 1;
        Ok(())
    }

    /// Skips whitespace and shows the next byte, if any.
    fn peek<E>(&mut self) -> Result<Option<u8>, ReadError<E>> {
        loop {
            let held = self.buf.get(self.start..self.end).unwrap_or_default();
            let blank = held.iter().take_while(|&&b| is_blank(b)).count();
            self.start += blank;
            if let Some(&first) = held.get(blank) {
                return Ok(Some(first));
            }
            if self.eof {
                return Ok(None);
            }
            self.fill()?;
        }
    }

    /// Reads more after what is held, moving it to the front first and growing the buffer
    /// when it is full.
    fn fill<E>(&mut self) -> Result<(), ReadError<E>> {
        self.consumed = self.consumed.saturating_add(self.start as u64);
        self.buf.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
        if self.end == self.buf.len() {
            let grown = self.buf.len().saturating_mul(2);
            self.buf.resize(grown, 0);
        }
        let free = self.buf.get_mut(self.end..).unwrap_or_default();
        let n = loop {
            match self.reader.read(free) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(malformed(&e.to_string())),
            }
        };
        self.eof = n == 0;
        self.end += n;
        Ok(())
    }
}

/// The length of the object at the start of `text` (whose first byte is `{`): brackets are
/// counted outside strings until they balance. `None` when `text` ends first. Nothing else
/// is checked: the parse of the text that follows does that.
fn object_len(text: &[u8]) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = 0usize;
    while let Some(&b) = text.get(i) {
        match b {
            b'"' => {
                i = i
                    .saturating_add(1)
                    .saturating_add(string_len(text.get(i + 1..)?)?)
            }
            b'{' | b'[' => depth = depth.saturating_add(1),
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The length of the rest of a string up to its closing quote (excluded), `text` starting
/// after the opening one; `None` when `text` ends first.
fn string_len(text: &[u8]) -> Option<usize> {
    let mut i = 0usize;
    loop {
        i = quote_or_backslash(text, i)?;
        if text.get(i) == Some(&b'"') {
            return Some(i);
        }
        // An escape: the byte after the backslash is never the string's end.
        i = i.checked_add(2)?;
    }
}

/// The first `"` or `\` in `text` from `from` on, looked for eight bytes at a time
/// (`equal_in`).
fn quote_or_backslash(text: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(word) = text.get(i..i.checked_add(8)?) {
        let x = crate::json::word(word, 0);
        let found = equal_in(x, b'"') | equal_in(x, b'\\');
        if found != 0 {
            return i.checked_add(found.trailing_zeros() as usize / 8);
        }
        i += 8;
    }
    let at = text
        .get(i..)?
        .iter()
        .position(|&c| c == b'"' || c == b'\\')?;
    i.checked_add(at)
}

/// Where `raw`, borrowed from `text`, ends in it.
fn end_of(raw: &RawValue, text: &[u8]) -> usize {
    let at = (raw.get().as_ptr() as usize).saturating_sub(text.as_ptr() as usize);
    at.saturating_add(raw.get().len()).min(text.len())
}

/// Where in `text` serde_json stopped with `e` (its line and column, counted in bytes): at
/// the end, the value may only be cut short (`-`, `1.`), not malformed.
fn error_at(text: &[u8], e: &serde_json::Error) -> usize {
    let line_start = match e.line().checked_sub(2) {
        None => 0,
        Some(newlines) => text
            .iter()
            .enumerate()
            .filter(|&(_, &b)| b == b'\n')
            .nth(newlines)
            .map_or(text.len(), |(i, _)| i.saturating_add(1)),
    };
    line_start.saturating_add(e.column())
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
        let mut texts = Vec::new();
        let read = read_results(Trickle(text.as_bytes(), chunk), &mut |raw: &str| {
            keep(raw, &mut ids, &mut texts)
        })?;
        // Read again at its spans, the page gives the very texts the scan handed over.
        let mut again = Vec::new();
        let reread = read_spans(Trickle(text.as_bytes(), chunk), &read.spans, &mut |raw| {
            again.push(raw.to_string());
            Ok::<(), String>(())
        });
        assert_eq!((reread, again), (Ok(()), texts), "{text}");
        Ok((ids, read.cursor))
    }

    /// Keeps a conversation's id and text, as a reader of a page would.
    fn keep(raw: &str, ids: &mut Vec<String>, texts: &mut Vec<String>) -> Result<(), String> {
        let v: serde_json::Value = serde_json::from_str(raw).map_err(|e| e.to_string())?;
        match v.get("conversationId").and_then(|id| id.as_str()) {
            Some(id) => ids.push(id.to_string()),
            None => return Err("a conversation has no conversationId".to_string()),
        }
        texts.push(raw.to_string());
        Ok(())
    }

    /// `read`, of the page held in memory (`read_results_in`).
    fn read_in(text: &str) -> Result<(Vec<String>, Option<String>), String> {
        let mut ids = Vec::new();
        let mut texts = Vec::new();
        let read = read_results_in(text, &mut |r| {
            let at = r.start();
            r.skip()?;
            keep(r.since(at), &mut ids, &mut texts)
        })?;
        let again: Vec<String> = read
            .spans
            .iter()
            .map(|s| text[s.at as usize..][..s.len].to_string())
            .collect();
        assert_eq!(again, texts, "{text}");
        Ok((ids, read.cursor))
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
    fn a_conversation_longer_than_the_buffer_is_read_whole_and_malformed_text_stops_the_read() {
        let long = format!(
            r#"{{"conversationId":"long","note":"{}","n":12345}}"#,
            "x".repeat(3 * CHUNK)
        );
        let page = format!(r#"{{"conversations":[{long},{long}],"cursor":"c"}}"#);
        for chunk in [1000, 1 << 20] {
            assert_eq!(
                read(&page, chunk),
                Ok((vec!["long".into(), "long".into()], Some("c".into())))
            );
        }
        // A page malformed at its start is refused after one buffer, not read to its end.
        struct Counted<'a>(&'a mut usize);
        impl std::io::Read for Counted<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                // 64 MiB of spaces: a reader that read on to the end would take them all.
                let n = buf.len().min(1 << 20).min((64 << 20) - *self.0);
                buf[..n].fill(b' ');
                *self.0 += n;
                Ok(n)
            }
        }
        let mut read_bytes = 0;
        let mut reader = std::io::Read::chain(
            &b"{\"conversations\":[{\"a\":x"[..],
            Counted(&mut read_bytes),
        );
        let got = read_results(&mut reader, &mut |_| Ok::<(), String>(()));
        assert!(matches!(got, Err(ReadError::Malformed(_))), "{got:?}");
        assert!(read_bytes <= CHUNK, "{read_bytes}");
    }

    #[test]
    fn spans_that_the_page_does_not_hold_stop_the_read_again() {
        let text = br#"{"conversations":[{"a":1},{"b":2}]}"#;
        let spans = read_results(&text[..], &mut |_| Ok::<(), ()>(()))
            .unwrap()
            .spans;
        assert_eq!(spans, [Span { at: 18, len: 7 }, Span { at: 26, len: 7 }]);
        let read = |spans: &[Span], text: &[u8]| {
            let mut seen = Vec::new();
            let result = read_spans(text, spans, &mut |t| {
                seen.push(t.to_string());
                Ok::<(), ()>(())
            });
            (result.is_ok(), seen)
        };
        assert_eq!(
            read(&spans, text),
            (true, vec![r#"{"a":1}"#.into(), r#"{"b":2}"#.into()])
        );
        let backwards = [spans[1], spans[0]];
        assert_eq!(read(&backwards, text), (false, vec![r#"{"b":2}"#.into()]));
        assert_eq!(
            read(&spans, &text[..30]),
            (false, vec![r#"{"a":1}"#.into()])
        );
        assert_eq!(read(&spans, &text[..10]), (false, vec![]));
    }

    #[test]
    fn prop_quotes_and_backslashes_are_found_as_a_byte_at_a_time_search_finds_them() {
        crate::prop::run(|rng| {
            let len = rng.below(40) as usize;
            let text: Vec<u8> = (0..len)
                .map(|_| *rng.pick(&[b'"', b'\\', b'a', 0, 0x22 ^ 0x80, 0x5c ^ 1, 0xff]))
                .collect();
            let from = rng.below(len as u64 + 2) as usize;
            let want = text
                .get(from..)
                .and_then(|rest| rest.iter().position(|&c| c == b'"' || c == b'\\'))
                .map(|at| from + at);
            assert_eq!(
                quote_or_backslash(&text, from),
                want,
                "{text:?} from {from}"
            );
        });
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
            // Held in memory, the page reads the same in one pass.
            match (read_in(&text), expected(&text)) {
                (Ok(got), Some(want)) => assert_eq!(got, want, "{text}"),
                (Err(_), None) => {}
                (got, want) => panic!("{text:?}: read in memory {got:?}, serde_json {want:?}"),
            }
        });
    }
}
