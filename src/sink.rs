//! Where rows go: the output formats over any target.
//!
//! `Sink` writes CSV rows or JSON Lines to any `Target` and makes them durable on `commit`
//! (flush, then fsync for files). It counts the bytes that reach the target and keeps a
//! running digest of them, so a saved state can record exactly which bytes it covers. The
//! output file's life (creation, resume, publishing) is `target.rs`'s; `parse_ids_at` reads rows
//! back for it.

use std::fs::File;
use std::io::{self, BufRead, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::api::Lookup;
use crate::columns::{Column, IdsOf, NameOf};
pub use crate::digest::Digest;
use crate::exit::output;
use crate::formula::Formulas;
use crate::json::{equal_in, exactly_equal_in, word, ONES};
use crate::record::{Reading, View};
use crate::results::{is_blank, Strings};
use crate::rows::{self, Row};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Jsonl,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    Stdout,
    File(PathBuf),
}

/// Something rows can be written to and made durable.
pub trait Target: Write {
    /// Pushes written bytes to stable storage (a no-op where that means nothing).
    fn sync(&mut self) -> io::Result<()>;
}

impl Target for File {
    fn sync(&mut self) -> io::Result<()> {
        self.sync_data()
    }
}

impl Target for io::Stdout {
    fn sync(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Target for Vec<u8> {
    fn sync(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// One conversation as the driver hands it to a writer: the record (with its reply text), the
/// chosen columns and attributes, and the names of ids looked up so far.
pub struct Record<'a> {
    pub conversation: View<'a>,
    pub columns: &'a [&'static Column],
    pub attributes: &'a [String],
    pub name_of: NameOf<'a>,
    /// The export's zone (`--tz`), for the local-time columns.
    pub zone: &'a crate::tz::Zone,
    /// Whether free-text cells are guarded against spreadsheet formulas.
    pub formulas: Formulas,
}

/// Where the driver writes conversations: one file (`Sink`) or the tables of a dataset
/// (`dataset::Tables`). Whatever it writes becomes durable on `commit`, and `marks` says what
/// the commits so far cover, one `Mark` per file, the file ids are read back from first.
pub trait Writer {
    /// Writes the headers of a new output.
    fn begin(&mut self, columns: &[&'static Column], attributes: &[String]) -> Result<()>;
    /// The name lookups the rows need (ids the driver resolves before a page is written).
    fn lookups(&self, columns: &[&'static Column]) -> Vec<(Lookup, IdsOf)>;
    /// How much of each conversation the rows read (the columns and attribute columns
    /// given): all of it, unless said otherwise.
    fn reading(&self, _columns: &[&'static Column], _attributes: &[String]) -> Reading {
        Reading::Whole
    }
    /// Writes one conversation.
    fn write(&mut self, record: &Record) -> Result<()>;
    /// Flushes everything written so far and syncs it to storage.
    fn commit(&mut self) -> Result<()>;
    /// The length of the file ids are read back from, committed or not.
    fn position(&self) -> u64;
    /// The bytes rendered and held in memory, not handed to a file yet.
    fn held(&self) -> usize;
    /// What the commits so far cover, one mark per file.
    fn marks(&self) -> Vec<Mark>;
    /// The files a commit may sync: one per mark.
    fn files(&self) -> usize {
        self.marks().len()
    }
}

impl<W: Target> Writer for Sink<W> {
    fn begin(&mut self, columns: &[&'static Column], attributes: &[String]) -> Result<()> {
        self.header(&rows::header(columns, attributes))
    }

    fn lookups(&self, columns: &[&'static Column]) -> Vec<(Lookup, IdsOf)> {
        match self.format {
            Format::Csv => columns.iter().filter_map(|c| c.lookup()).collect(),
            Format::Jsonl => Vec::new(),
        }
    }

    fn reading(&self, columns: &[&'static Column], attributes: &[String]) -> Reading {
        reading(self.format, columns, attributes)
    }

    fn write(&mut self, record: &Record) -> Result<()> {
        match self.format {
            Format::Csv => {
                let row = rows::flatten_in(
                    record.conversation,
                    record.columns,
                    record.name_of,
                    record.attributes,
                    record.formulas,
                    record.zone,
                );
                self.write_row(&row)
            }
            Format::Jsonl => match record.conversation.raw {
                Some(raw) => self.write_json(raw),
                None => Err(anyhow::anyhow!(
                    "conversation {} has no JSON text",
                    record.conversation.conversation_id
                )),
            },
        }
    }

    fn commit(&mut self) -> Result<()> {
        Sink::commit(self)
    }

    fn position(&self) -> u64 {
        Sink::position(self)
    }

    fn held(&self) -> usize {
        self.pending.len()
    }

    fn marks(&self) -> Vec<Mark> {
        vec![self.mark()]
    }
}

/// How much of each conversation a file of `format` with `columns` and `attributes` (its
/// attribute columns) reads: JSON Lines its text and place (`Conversation::read_place`); CSV
/// its strict fields, unless a column reads a lenient one or a participant attribute.
pub fn reading(format: Format, columns: &[&'static Column], attributes: &[String]) -> Reading {
    match format {
        Format::Jsonl => Reading::Places,
        Format::Csv if columns.iter().any(|c| c.lenient) || !attributes.is_empty() => {
            Reading::Whole
        }
        Format::Csv => Reading::Shape,
    }
}

/// How much output a commit covers, and the digest of those bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mark {
    pub len: u64,
    pub digest: Digest,
}

/// Counts and digests the bytes that reach the target, so the sink knows its file offset.
struct Counting<W> {
    inner: W,
    written: u64,
    digest: Digest,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        let done = buf.get(..n).unwrap_or_default();
        self.digest.update(done);
        self.written = self.written.saturating_add(done.len() as u64);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The most bytes a sink holds before handing them to its target: a page is written in one
/// write when it fits (a details page always does), in writes of about this size otherwise (a
/// job results page of 1 000 conversations, about 3 MB as JSON Lines, in two).
pub const PENDING_MAX: usize = 2 * 1024 * 1024;

/// A writer of one format over a target. Rows are rendered into one buffer and reach the
/// target in one write on `commit` (or once the buffer passes `PENDING_MAX`).
pub struct Sink<W: Target> {
    out: Counting<W>,
    /// Rendered rows not handed to the target yet.
    pending: Vec<u8>,
    /// The pending bytes past which they are handed to the target before the commit.
    spill_at: usize,
    /// The length of the output at its last sync in this run, if any.
    synced: Option<u64>,
    format: Format,
    /// What the target is, for error messages: a path or "stdout".
    name: String,
}

/// Whether `text` holds a CR or LF: tested 32 bytes at a time without stopping early inside
/// a block, which the compiler turns into vector compares.
fn has_line_break(text: &str) -> bool {
    let is_break = |b: &u8| u8::from(*b == b'\n') | u8::from(*b == b'\r');
    let mut blocks = text.as_bytes().chunks_exact(32);
    let found = blocks
        .by_ref()
        .any(|block| block.iter().fold(0, |any, b| any | is_break(b)) != 0);
    found || blocks.remainder().iter().any(|b| is_break(b) != 0)
}

/// Appends the JSON value `text` without the whitespace between its tokens. Strings (escapes
/// and all), numbers and the order of keys are copied byte for byte: nothing is parsed again,
/// so a 17-digit float keeps its last digit and keys keep the server's order.
pub fn compact_json(text: &str, out: &mut Vec<u8>) {
    let mut strings = Strings::default();
    for &b in text.as_bytes() {
        if strings.step(b) || !is_blank(b) {
            out.push(b);
        }
    }
}

impl<W: Target> Sink<W> {
    pub fn new(target: W, format: Format, name: impl Into<String>) -> Sink<W> {
        let start = Mark {
            len: 0,
            digest: Digest::default(),
        };
        Sink::at(target, start, format, name)
    }

    /// A sink over a target that already holds the bytes `start` covers (a resumed export).
    pub fn at(target: W, start: Mark, format: Format, name: impl Into<String>) -> Sink<W> {
        Sink {
            out: Counting {
                inner: target,
                written: start.len,
                digest: start.digest,
            },
            pending: Vec::new(),
            spill_at: PENDING_MAX,
            synced: None,
            format,
            name: name.into(),
        }
    }

    /// The sink hands its pending bytes to the target once they pass `bytes` (at most
    /// `PENDING_MAX`) rather than `PENDING_MAX`: a writer of several files keeps what they
    /// hold together small, so that its pages are grouped by count and time, not by bytes.
    pub fn spilling_at(mut self, bytes: usize) -> Sink<W> {
        self.spill_at = bytes.min(PENDING_MAX);
        self
    }

    /// The length of the output so far, committed or not.
    pub fn position(&self) -> u64 {
        let pending = self.pending.len() as u64;
        self.out.written.saturating_add(pending)
    }

    /// The output that reached the target so far: after `commit`, all of it.
    pub fn mark(&self) -> Mark {
        Mark {
            len: self.out.written,
            digest: self.out.digest,
        }
    }

    /// Writes the CSV header row; JSON Lines has none.
    pub fn header(&mut self, columns: &[&str]) -> Result<()> {
        if self.format == Format::Csv {
            csv_record(&mut self.pending, columns.iter().copied());
            self.spill()?;
        }
        Ok(())
    }

    /// Writes one conversation's CSV row.
    pub fn write_row(&mut self, row: &Row) -> Result<()> {
        csv_record(&mut self.pending, row.cells.iter().map(String::as_str));
        self.spill()
    }

    /// Writes one CSV record rendered already (a row of a dataset's table, `CsvRow`).
    pub fn write_record(&mut self, record: &CsvRow) -> Result<()> {
        self.pending.extend_from_slice(record.bytes());
        self.spill()
    }

    /// Writes one conversation's original JSON as a line.
    pub fn write_json(&mut self, text: &str) -> Result<()> {
        // JSON strings cannot hold a raw newline, so one here is whitespace between tokens (a
        // gateway that indents): it is removed, the tokens kept byte for byte, so that each
        // conversation stays one line.
        if has_line_break(text) {
            compact_json(text, &mut self.pending);
        } else {
            self.pending.extend_from_slice(text.as_bytes());
        }
        self.pending.push(b'\n');
        self.spill()
    }

    /// Hands the pending bytes to the target once they pass its threshold (`PENDING_MAX`
    /// unless `spilling_at` said less).
    fn spill(&mut self) -> Result<()> {
        if self.pending.len() < self.spill_at {
            return Ok(());
        }
        self.hand_over()
    }

    /// Hands the pending bytes to the target in one write.
    fn hand_over(&mut self) -> Result<()> {
        let written = self.out.write_all(&self.pending);
        self.pending.clear();
        written.with_context(|| output(format!("cannot write to {}", self.name)))
    }

    /// Writes everything rendered so far and syncs it to storage; a file with nothing new
    /// since its last sync in this run (a table no row went to) is not synced again.
    pub fn commit(&mut self) -> Result<()> {
        if !self.pending.is_empty() {
            self.hand_over()?;
        }
        if self.synced == Some(self.out.written) {
            return Ok(());
        }
        self.out
            .flush()
            .and_then(|()| self.out.inner.sync())
            .with_context(|| output(format!("cannot write to {}", self.name)))?;
        self.synced = Some(self.out.written);
        Ok(())
    }

    /// Commits and returns the target.
    pub fn finish(mut self) -> Result<W> {
        self.commit()?;
        Ok(self.out.inner)
    }
}

/// Appends one CSV record to `out`, byte for byte as the csv crate's default writer does:
/// a field is quoted when it holds a comma, a quote, CR or LF, a quote is doubled, a record
/// that would be empty is written `""`, and the record ends with LF.
pub fn csv_record<'a>(out: &mut Vec<u8>, fields: impl IntoIterator<Item = &'a str>) {
    let start = out.len();
    for (i, field) in fields.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_field(out, field.as_bytes());
    }
    end_record(out, start);
}

/// Appends one CSV field: quoted, its quotes doubled, when it holds a comma, a quote, CR or
/// LF; as it is otherwise.
fn push_field(out: &mut Vec<u8>, bytes: &[u8]) {
    if !needs_quotes(bytes) {
        out.extend_from_slice(bytes);
        return;
    }
    out.push(b'"');
    for &b in bytes {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    out.push(b'"');
}

/// Ends the record that began at `start` of `out`: `""` when it would be empty, then LF.
fn end_record(out: &mut Vec<u8>, start: usize) {
    if out.len() == start {
        out.extend_from_slice(b"\"\"");
    }
    out.push(b'\n');
}

/// One CSV record rendered field by field straight into its buffer, byte for byte what
/// `csv_record` writes for the same fields, without a string per field: the fields are
/// appended as they are, then one pass over the record finds whether any needs quotes (a
/// quote, CR or LF anywhere, or a comma beyond the separators); only then is the record
/// written again from its fields, each quoted where it must be.
#[derive(Default)]
pub struct CsvRow {
    bytes: Vec<u8>,
    /// Where each field begins in `bytes`.
    starts: Vec<usize>,
    /// The fields as rendered, while a record that needs quotes is written again.
    raw: Vec<u8>,
}

impl CsvRow {
    /// Starts a new record.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.starts.clear();
    }

    /// Appends the field that `render` appends to the buffer it is given (it appends only).
    pub fn field(&mut self, render: impl FnOnce(&mut Vec<u8>)) {
        if !self.starts.is_empty() {
            self.bytes.push(b',');
        }
        self.starts.push(self.bytes.len());
        render(&mut self.bytes);
    }

    /// Ends the record (`csv_record`'s ending), its fields quoted where they must be.
    pub fn end(&mut self) {
        let (commas, quotes_or_breaks) = specials(&self.bytes);
        if quotes_or_breaks || commas >= self.starts.len().max(1) {
            self.quote();
        }
        end_record(&mut self.bytes, 0);
    }

    /// Writes the record again from its fields as rendered, each through `push_field`.
    fn quote(&mut self) {
        std::mem::swap(&mut self.bytes, &mut self.raw);
        self.bytes.clear();
        let ends = self
            .starts
            .iter()
            .skip(1)
            .map(|next| next.saturating_sub(1));
        let ends = ends.chain(std::iter::once(self.raw.len()));
        for (i, (&start, end)) in self.starts.iter().zip(ends).enumerate() {
            if i > 0 {
                self.bytes.push(b',');
            }
            push_field(
                &mut self.bytes,
                self.raw.get(start..end).unwrap_or_default(),
            );
        }
    }

    /// The record so far, its ending included once `end` was called.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// The commas of `bytes`, and whether it holds a quote, CR or LF: tested eight bytes at a
/// time (`json::exactly_equal_in`), the last word padded with zeros (`json::word`).
fn specials(bytes: &[u8]) -> (usize, bool) {
    let mut words = bytes.chunks_exact(8);
    let (mut commas, mut others) = (0usize, 0u64);
    let mut test = |x: u64| {
        // One flag a comma, at most eight: their sum gathered in the top byte by a multiply
        // (a count of ones would be a loop on CPUs without the instruction).
        let flags = exactly_equal_in(x, b',') >> 7;
        commas = commas.saturating_add((flags.wrapping_mul(ONES) >> 56) as usize);
        others |=
            exactly_equal_in(x, b'"') | exactly_equal_in(x, b'\r') | exactly_equal_in(x, b'\n');
    };
    for w in words.by_ref() {
        test(word(w, 0));
    }
    test(word(words.remainder(), 0));
    (commas, others != 0)
}

/// Whether a CSV field holds a comma, a quote, CR or LF: tested eight bytes at a time
/// (`json::equal_in`).
fn needs_quotes(bytes: &[u8]) -> bool {
    let special = |b: &u8| matches!(b, b',' | b'"' | b'\r' | b'\n');
    let mut words = bytes.chunks_exact(8);
    let found = words.by_ref().any(|w| {
        let x = word(w, 0);
        equal_in(x, b',') | equal_in(x, b'"') | equal_in(x, b'\r') | equal_in(x, b'\n') != 0
    });
    found || words.remainder().iter().any(special)
}

/// Reads back the conversation ids of rows in the output format, one at a time, in constant
/// memory beyond the ids themselves; `each` gets every id, read from CSV column `id_column`
/// (0-based; where `rows::id_column` puts `conversation_id`). A row that does not parse is an
/// error naming what is wrong.
pub fn parse_ids_at(
    reader: impl BufRead,
    format: Format,
    id_column: usize,
    mut each: impl FnMut(String),
) -> Result<(), String> {
    match format {
        Format::Csv => {
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(false)
                .from_reader(reader);
            let mut record = csv::StringRecord::new();
            loop {
                match reader.read_record(&mut record) {
                    Ok(false) => return Ok(()),
                    Ok(true) => match record.get(id_column) {
                        Some(id) if !id.is_empty() => each(id.to_string()),
                        _ => return Err("a row without a conversation id".to_string()),
                    },
                    Err(e) => return Err(format!("a row that does not parse ({e})")),
                }
            }
        }
        Format::Jsonl => {
            #[derive(serde::Deserialize)]
            struct Id {
                #[serde(rename = "conversationId")]
                id: String,
            }
            let mut reader = reader;
            let mut line = Vec::new();
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) => return Ok(()),
                    Ok(_) => {}
                    Err(e) => return Err(format!("a read error ({e})")),
                }
                if line.last() != Some(&b'\n') {
                    return Err("a line cut short".to_string());
                }
                match serde_json::from_slice::<Id>(&line) {
                    Ok(Id { id }) if !id.is_empty() => each(id),
                    _ => return Err("a line that is not a conversation".to_string()),
                }
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {

    #[test]
    fn a_line_break_is_found_wherever_it_lies() {
        for len in [0, 1, 31, 32, 33, 64, 100] {
            let plain = "x".repeat(len);
            assert!(!has_line_break(&plain));
            for at in 0..len {
                for b in ["\n", "\r"] {
                    let mut text = plain.clone();
                    text.replace_range(at..at + 1, b);
                    assert!(has_line_break(&text), "{len} {at}");
                }
            }
        }
    }

    #[test]
    fn an_indented_record_is_compacted_without_reading_its_numbers_or_keys_again() {
        let indented = "{\n  \"zeta\": 92.09935760498047,\n  \"alpha\" : [ 1 , 2.50 ],\r\n\t\"note\": \"line\\nbreak \\\" { still text }\",\n  \"name\": \"Zoë  Ångström\"\n}";
        let mut out = Vec::new();
        compact_json(indented, &mut out);
        let want = "{\"zeta\":92.09935760498047,\"alpha\":[1,2.50],\"note\":\"line\\nbreak \\\" { still text }\",\"name\":\"Zoë  Ångström\"}";
        assert_eq!(String::from_utf8(out).unwrap(), want);
        // Written as one line, byte for byte.
        let mut sink = Sink::new(Vec::new(), Format::Jsonl, "memory");
        sink.write_json(indented).unwrap();
        assert_eq!(sink.finish().unwrap(), format!("{want}\n").into_bytes());
    }
    use super::*;

    /// The ids in rows written by a sink, for tests elsewhere.
    pub(crate) fn ids_in(bytes: &[u8], format: Format) -> Vec<String> {
        let mut ids = Vec::new();
        parse_ids_at(bytes, format, 0, |id| ids.push(id)).unwrap();
        ids
    }

    #[test]
    fn jsonl_keeps_the_original_text_one_per_line() {
        let mut sink = Sink::new(Vec::new(), Format::Jsonl, "memory");
        sink.header(&["a"]).unwrap();
        sink.write_json(r#"{"b":1,"a":[2.50,"x"]}"#).unwrap();
        sink.write_json("{\n  \"c\": \"line\\nbreak\"\n}").unwrap();
        let out = String::from_utf8(sink.finish().unwrap()).unwrap();
        assert_eq!(
            out,
            "{\"b\":1,\"a\":[2.50,\"x\"]}\n{\"c\":\"line\\nbreak\"}\n"
        );
    }

    #[test]
    fn csv_writes_header_then_rows() {
        let mut sink = Sink::new(Vec::new(), Format::Csv, "memory");
        sink.header(&crate::columns::DEFAULT).unwrap();
        let row: Row = ["c-1", "", "", "", "", "", "a,b", "", "", "", "", ""]
            .into_iter()
            .collect();
        sink.write_row(&row).unwrap();
        let out = String::from_utf8(sink.finish().unwrap()).unwrap();
        let mut lines = out.lines();
        assert_eq!(lines.next().unwrap(), crate::columns::DEFAULT.join(","));
        assert_eq!(lines.next().unwrap(), "c-1,,,,,,\"a,b\",,,,,");
        assert!(lines.next().is_none());
    }

    #[test]
    fn ids_are_read_back_from_both_formats() {
        let row = |id: &str| -> Row { [id, "a,\"b\"\nc"].into_iter().collect() };
        let mut sink = Sink::new(Vec::new(), Format::Csv, "memory");
        sink.header(&["id", "x"]).unwrap();
        sink.commit().unwrap();
        let start = sink.position();
        sink.write_row(&row("x1")).unwrap();
        sink.write_row(&row("x2")).unwrap();
        let end = sink.position();
        let bytes = sink.finish().unwrap();
        assert_eq!(end, bytes.len() as u64);
        assert_eq!(ids_in(&bytes[start as usize..], Format::Csv), ["x1", "x2"]);
        let mut second = Vec::new();
        parse_ids_at(&bytes[start as usize..], Format::Csv, 1, |id| {
            second.push(id)
        })
        .unwrap();
        assert_eq!(second, ["a,\"b\"\nc", "a,\"b\"\nc"]);

        let start = Mark {
            len: 10,
            digest: Digest::default(),
        };
        let mut sink = Sink::at(Vec::new(), start, Format::Jsonl, "memory");
        sink.write_json(r#"{"conversationId":"j1","x":1}"#).unwrap();
        sink.write_json(r#"{"conversationId":"j2"}"#).unwrap();
        assert_eq!(sink.position(), 10 + 54);
        let bytes = sink.finish().unwrap();
        assert_eq!(ids_in(&bytes, Format::Jsonl), ["j1", "j2"]);
    }

    #[test]
    fn rows_that_do_not_parse_back_are_refused() {
        let bad = |bytes: &[u8], format| parse_ids_at(bytes, format, 0, |_| ()).unwrap_err();
        assert!(bad(b"{\"conversationId\":\"a\"}", Format::Jsonl).contains("cut short"));
        assert!(bad(b"[1]\n", Format::Jsonl).contains("not a conversation"));
        assert!(bad(b"{}\n", Format::Jsonl).contains("not a conversation"));
        assert!(bad(b",x\n", Format::Csv).contains("without a conversation id"));
        assert!(bad(b"a,b\nc\n", Format::Csv).contains("does not parse"));
    }

    #[test]
    fn prop_specials_are_found_as_a_byte_at_a_time_search_finds_them() {
        let alphabet = [
            b',',
            b'"',
            b'\r',
            b'\n',
            b'a',
            0,
            0x2c ^ 0x80,
            0xff,
            0x7f,
            b'+',
        ];
        crate::prop::run(|rng| {
            let bytes: Vec<u8> = (0..rng.below(40)).map(|_| *rng.pick(&alphabet)).collect();
            let commas = bytes.iter().filter(|b| **b == b',').count();
            let others = bytes.iter().any(|b| matches!(b, b'"' | b'\r' | b'\n'));
            assert_eq!(specials(&bytes), (commas, others), "{bytes:?}");
        });
    }

    #[test]
    fn prop_csv_records_are_those_of_the_csv_crate_byte_for_byte() {
        let pieces = [
            "", ",", "\"", "\r", "\n", "\r\n", " ", "a", "ü", "#", "'", "\t", ";",
        ];
        crate::prop::run(|rng| {
            let records: Vec<Vec<String>> = (0..rng.below(4))
                .map(|_| {
                    (0..rng.below(5))
                        .map(|_| match rng.below(3) {
                            0 => rng.any_text(),
                            _ => (0..rng.below(4)).map(|_| *rng.pick(&pieces)).collect(),
                        })
                        .collect()
                })
                .collect();
            let mut ours = Vec::new();
            let mut theirs = Vec::new();
            let mut in_place = Vec::new();
            let mut row = CsvRow::default();
            for record in &records {
                csv_record(&mut ours, record.iter().map(String::as_str));
                row.clear();
                for field in record {
                    row.field(|out| out.extend_from_slice(field.as_bytes()));
                }
                row.end();
                in_place.extend_from_slice(row.bytes());
                let mut w = csv::Writer::from_writer(&mut theirs);
                w.write_record(record).unwrap();
                w.flush().unwrap();
            }
            assert_eq!(ours, theirs, "{records:?}");
            assert_eq!(in_place, theirs, "{records:?}");
        });
    }

    #[test]
    fn a_page_reaches_the_target_in_one_write_on_commit_and_is_synced_once() {
        /// A target that records the size of every write, and counts its syncs.
        #[derive(Default)]
        struct Writes(Vec<usize>, usize);
        impl Write for Writes {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                self.0.push(buf.len());
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        impl Target for Writes {
            fn sync(&mut self) -> io::Result<()> {
                self.1 += 1;
                Ok(())
            }
        }
        let mut sink = Sink::new(Writes::default(), Format::Jsonl, "memory");
        // A first commit syncs, even with nothing written in this run.
        sink.commit().unwrap();
        for _ in 0..100 {
            sink.write_json(r#"{"conversationId":"j1"}"#).unwrap();
        }
        assert_eq!(sink.mark().len, 0);
        sink.commit().unwrap();
        sink.commit().unwrap();
        let line = r#"{"conversationId":"j1"}"#.len() + 1;
        assert_eq!(sink.mark().len, 100 * line as u64);
        // Past PENDING_MAX the pending bytes are handed over before the commit.
        let big = format!(r#"{{"conversationId":"{}"}}"#, "x".repeat(PENDING_MAX));
        sink.write_json(&big).unwrap();
        sink.write_json(r#"{"conversationId":"j2"}"#).unwrap();
        sink.commit().unwrap();
        // Synced at the first commit and at each commit that brought bytes; a commit with
        // nothing new since (the second above, and `finish`) is not synced again.
        let target = sink.finish().unwrap();
        assert_eq!(target.0, [100 * line, big.len() + 1, line]);
        assert_eq!(target.1, 3);
    }

    #[test]
    fn prop_a_field_needs_quotes_when_a_byte_at_a_time_search_says_so() {
        crate::prop::run(|rng| {
            let len = rng.below(30) as usize;
            let field: Vec<u8> = (0..len)
                .map(|_| *rng.pick(b",\"\r\na\x2d\x0c\x2b\x0b\x8d\xac"))
                .collect();
            let want = field
                .iter()
                .any(|b| matches!(b, b',' | b'"' | b'\r' | b'\n'));
            assert_eq!(needs_quotes(&field), want, "{field:?}");
        });
    }

    #[test]
    fn the_digest_covers_exactly_the_bytes_written() {
        let mut sink = Sink::new(Vec::new(), Format::Csv, "memory");
        sink.header(&["a", "b"]).unwrap();
        sink.commit().unwrap();
        let mark = sink.mark();
        let bytes = sink.finish().unwrap();
        let mut digest = Digest::default();
        digest.update(&bytes);
        assert_eq!(
            mark,
            Mark {
                len: bytes.len() as u64,
                digest
            }
        );
        let mut other = Digest::default();
        other.update(b"a,c\n");
        assert_ne!(other, digest);
    }
}
