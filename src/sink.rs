//! Where rows go: the output formats over any target.
//!
//! `Sink` writes CSV rows or JSON Lines to any `Target` and makes them durable on `commit`
//! (flush, then fsync for files). It counts the bytes that reach the target and keeps a
//! running digest of them, so a saved state can record exactly which bytes it covers. The
//! output file's life (creation, resume, publishing) is `target.rs`'s; `parse_ids_at` reads rows
//! back for it.

use std::fs::File;
use std::io::{self, BufRead, BufWriter, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use serde_json::value::RawValue;

use crate::api::{Conversation, Lookup};
use crate::columns::{Column, IdsOf, NameOf};
use crate::exit::output;
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

/// One conversation as the driver hands it to a writer: its reply text, the record parsed
/// from it, the chosen columns and attributes, and the names of ids looked up so far.
pub struct Record<'a> {
    pub raw: &'a RawValue,
    pub conversation: &'a Conversation,
    pub columns: &'a [&'static Column],
    pub attributes: &'a [String],
    pub name_of: NameOf<'a>,
}

/// Where the driver writes conversations: one file (`Sink`) or the tables of a dataset
/// (`dataset::Tables`). Whatever it writes becomes durable on `commit`, and `marks` says what
/// the commits so far cover, one `Mark` per file, the file ids are read back from first.
pub trait Writer {
    /// Writes the headers of a new output.
    fn begin(&mut self, columns: &[&'static Column], attributes: &[String]) -> Result<()>;
    /// The name lookups the rows need (ids the driver resolves before a page is written).
    fn lookups(&self, columns: &[&'static Column]) -> Vec<(Lookup, IdsOf)>;
    /// Writes one conversation.
    fn write(&mut self, record: &Record) -> Result<()>;
    /// Flushes everything written so far and syncs it to storage.
    fn commit(&mut self) -> Result<()>;
    /// The length of the file ids are read back from, committed or not.
    fn position(&self) -> u64;
    /// What the commits so far cover, one mark per file.
    fn marks(&self) -> Vec<Mark>;
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

    fn write(&mut self, record: &Record) -> Result<()> {
        match self.format {
            Format::Csv => {
                let row = rows::flatten(
                    record.conversation,
                    record.columns,
                    record.name_of,
                    record.attributes,
                );
                self.write_row(&row)
            }
            Format::Jsonl => self.write_json(record.raw),
        }
    }

    fn commit(&mut self) -> Result<()> {
        Sink::commit(self)
    }

    fn position(&self) -> u64 {
        Sink::position(self)
    }

    fn marks(&self) -> Vec<Mark> {
        vec![self.mark()]
    }
}

/// A running 64-bit FNV-1a digest of bytes: cheap, streaming, and enough to notice a file
/// that changed under a saved state (it guards against accidents, not adversaries).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Digest(pub u64);

impl Default for Digest {
    fn default() -> Digest {
        Digest(0xcbf2_9ce4_8422_2325)
    }
}

impl Digest {
    pub fn update(&mut self, bytes: &[u8]) {
        let mut hash = self.0;
        for &b in bytes {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = hash;
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

/// A writer of one format over a target.
pub struct Sink<W: Target> {
    out: BufWriter<Counting<W>>,
    format: Format,
    /// What the target is, for error messages: a path or "stdout".
    name: String,
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
        let counting = Counting {
            inner: target,
            written: start.len,
            digest: start.digest,
        };
        Sink {
            out: BufWriter::with_capacity(64 * 1024, counting),
            format,
            name: name.into(),
        }
    }

    /// The length of the output so far, committed or not.
    pub fn position(&self) -> u64 {
        let buffered = self.out.buffer().len() as u64;
        self.out.get_ref().written.saturating_add(buffered)
    }

    /// The output that reached the target so far: after `commit`, all of it.
    pub fn mark(&self) -> Mark {
        let counting = self.out.get_ref();
        Mark {
            len: counting.written,
            digest: counting.digest,
        }
    }

    /// Writes the CSV header row; JSON Lines has none.
    pub fn header(&mut self, columns: &[&str]) -> Result<()> {
        if self.format == Format::Csv {
            self.write_record(columns)?;
        }
        Ok(())
    }

    /// Writes one conversation's CSV row.
    pub fn write_row(&mut self, row: &Row) -> Result<()> {
        self.write_record(&row.fields())
    }

    /// Writes one conversation's original JSON as a line.
    pub fn write_json(&mut self, raw: &RawValue) -> Result<()> {
        self.write_json_line(raw)
            .with_context(|| output(format!("cannot write to {}", self.name)))
    }

    /// Writes one CSV record of these cells (a row of a dataset's table).
    pub fn write_cells(&mut self, cells: &[String]) -> Result<()> {
        self.write_record(cells)
    }

    fn write_record<T: AsRef<[u8]>>(&mut self, fields: &[T]) -> Result<()> {
        // A csv::Writer borrowed per record: it quotes into our buffer and keeps no state.
        let mut w = csv::WriterBuilder::new()
            .buffer_capacity(1024)
            .from_writer(&mut self.out);
        w.write_record(fields)
            .and_then(|()| w.flush().map_err(csv::Error::from))
            .map_err(csv_error)
            .with_context(|| output(format!("cannot write to {}", self.name)))
    }

    fn write_json_line(&mut self, raw: &RawValue) -> Result<()> {
        let text = raw.get();
        // JSON strings cannot hold a raw newline, so one here is whitespace between tokens:
        // re-serialize compactly to keep one conversation per line.
        if text.contains(['\n', '\r']) {
            let value: serde_json::Value = serde_json::from_str(text)?;
            serde_json::to_writer(&mut self.out, &value)?;
        } else {
            self.out.write_all(text.as_bytes())?;
        }
        self.out.write_all(b"\n")?;
        Ok(())
    }

    /// Flushes everything written so far and syncs it to storage.
    pub fn commit(&mut self) -> Result<()> {
        self.out
            .flush()
            .and_then(|()| self.out.get_mut().inner.sync())
            .with_context(|| output(format!("cannot write to {}", self.name)))
    }

    /// Commits and returns the target.
    pub fn finish(mut self) -> Result<W> {
        self.commit()?;
        let name = self.name;
        self.out
            .into_inner()
            .map(|counting| counting.inner)
            .map_err(|e| e.into_error())
            .with_context(|| output(format!("cannot write to {name}")))
    }
}

fn csv_error(e: csv::Error) -> anyhow::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(io) => io.into(),
        other => anyhow::anyhow!("csv: {other:?}"),
    }
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
    use super::*;

    /// The ids in rows written by a sink, for tests elsewhere.
    pub(crate) fn ids_in(bytes: &[u8], format: Format) -> Vec<String> {
        let mut ids = Vec::new();
        parse_ids_at(bytes, format, 0, |id| ids.push(id)).unwrap();
        ids
    }

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_string()).unwrap()
    }

    #[test]
    fn jsonl_keeps_the_original_text_one_per_line() {
        let mut sink = Sink::new(Vec::new(), Format::Jsonl, "memory");
        sink.header(&["a"]).unwrap();
        sink.write_json(&raw(r#"{"b":1,"a":[2.50,"x"]}"#)).unwrap();
        sink.write_json(&raw("{\n  \"c\": \"line\\nbreak\"\n}"))
            .unwrap();
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
        sink.write_json(&raw(r#"{"conversationId":"j1","x":1}"#))
            .unwrap();
        sink.write_json(&raw(r#"{"conversationId":"j2"}"#)).unwrap();
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
