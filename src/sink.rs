//! Where rows go: the output formats, and the life of an output file.
//!
//! `Sink` writes CSV rows or JSON Lines to any `Target` and makes them durable on `commit`
//! (flush, then fsync for files). An export to a file is written to `FILE.partial`, created
//! with mode 0600 because it holds phone numbers, and `publish` moves it to `FILE` only when
//! the whole range is done, never over an existing file unless `--force`. This module and
//! nothing else creates or writes output files.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::value::RawValue;

use crate::exit::{output, usage, usage_context};
use crate::rows::Row;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Jsonl,
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

/// Counts the bytes that reach the target, so the sink knows its file offset.
struct Counting<W> {
    inner: W,
    written: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
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
        Sink::at(target, 0, format, name)
    }

    /// A sink over a target that already holds `offset` bytes (a resumed export).
    pub fn at(target: W, offset: u64, format: Format, name: impl Into<String>) -> Sink<W> {
        let counting = Counting {
            inner: target,
            written: offset,
        };
        Sink {
            out: BufWriter::with_capacity(64 * 1024, counting),
            format,
            name: name.into(),
        }
    }

    /// The length of the output so far, committed or not.
    pub fn position(&self) -> u64 {
        self.out.get_ref().written + self.out.buffer().len() as u64
    }

    /// Writes the CSV header row; JSON Lines has none.
    pub fn header(&mut self, columns: &[&str]) -> Result<()> {
        if self.format == Format::Csv {
            self.write_record(columns)?;
        }
        Ok(())
    }

    /// Writes one conversation: its row for CSV, its original JSON for JSON Lines.
    pub fn write(&mut self, raw: &RawValue, row: Option<&Row>) -> Result<()> {
        match self.format {
            Format::Csv => {
                let row = row.expect("a CSV sink needs the flattened row");
                self.write_record(&row.fields())
            }
            Format::Jsonl => self
                .write_json_line(raw)
                .with_context(|| output(format!("cannot write to {}", self.name))),
        }
    }

    fn write_record(&mut self, fields: &[&str]) -> Result<()> {
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

/// `FILE.partial`, where an export to `FILE` is written until it is complete.
pub fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

/// Checks the output path before anything is sent: its directory exists and, without
/// `--force`, the file does not.
pub fn preflight(out: &Output, force: bool) -> Result<()> {
    let Output::File(path) = out else {
        return Ok(());
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(usage(format!(
            "output directory {} does not exist: create it or choose another --output",
            dir.display()
        )));
    }
    if path.is_dir() {
        return Err(usage(format!(
            "--output {} is a directory: give a file name",
            path.display()
        )));
    }
    if !force && path.exists() {
        return Err(usage(format!(
            "{} already exists: pass --force to replace it, or choose another --output",
            path.display()
        )));
    }
    Ok(())
}

/// Creates (or starts over) `FILE.partial`, readable by its owner only.
pub fn create_partial(path: &Path) -> Result<File> {
    let partial = partial_path(path);
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(&partial)
        .with_context(|| output(format!("cannot create {}", partial.display())))
}

/// Opens `FILE.partial` to resume an export whose state covers its first `len` bytes: what
/// was written after the last saved state is cut off.
pub fn reopen_partial(path: &Path, len: u64) -> Result<File> {
    let partial = partial_path(path);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&partial)
        .with_context(|| {
            usage_context(format!(
                "cannot open {} to resume: pass --restart to start over",
                partial.display()
            ))
        })?;
    let actual = file.metadata()?.len();
    if actual < len {
        return Err(usage(format!(
            "{} is shorter ({actual} bytes) than its state records ({len}): it was changed outside genesys-export; pass --restart to start over",
            partial.display()
        )));
    }
    let mut cut = || -> io::Result<()> {
        file.set_len(len)?;
        file.sync_data()?;
        file.seek(SeekFrom::Start(len))?;
        Ok(())
    };
    cut().with_context(|| output(format!("cannot truncate {}", partial.display())))?;
    Ok(file)
}

/// The conversation ids written in bytes `[from, to)` of `FILE.partial`: the rows of the
/// window a resumed export is in the middle of.
pub fn written_ids(path: &Path, from: u64, to: u64, format: Format) -> Result<Vec<String>> {
    let partial = partial_path(path);
    let mut file = File::open(&partial)
        .with_context(|| usage_context(format!("cannot read {} to resume", partial.display())))?;
    let mut bytes = vec![0; to.saturating_sub(from) as usize];
    file.seek(SeekFrom::Start(from))?;
    file.read_exact(&mut bytes)
        .with_context(|| usage_context(format!("cannot read {} to resume", partial.display())))?;
    parse_ids(&bytes, format)
}

/// The conversation ids of rows in the output format.
fn parse_ids(bytes: &[u8], format: Format) -> Result<Vec<String>> {
    let mut ids = Vec::new();
    match format {
        Format::Csv => {
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(false)
                .from_reader(bytes);
            for record in reader.records() {
                let record = record?;
                ids.push(record.get(0).unwrap_or_default().to_string());
            }
        }
        Format::Jsonl => {
            #[derive(serde::Deserialize)]
            struct Id {
                #[serde(rename = "conversationId")]
                id: String,
            }
            for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                ids.push(serde_json::from_slice::<Id>(line)?.id);
            }
        }
    }
    Ok(ids)
}

/// Moves the finished `FILE.partial` to `FILE`. Without `force`, an existing `FILE` (one that
/// appeared during the run) is left alone and the export stays in `FILE.partial`.
pub fn publish(path: &Path, force: bool) -> Result<()> {
    let partial = partial_path(path);
    let result = if force {
        fs::rename(&partial, path)
    } else {
        // A hard link fails if the name is taken, so no window exists in which another file
        // could be replaced; filesystems without links fall back to check-then-rename.
        match fs::hard_link(&partial, path) {
            Ok(()) => fs::remove_file(&partial),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(e),
            Err(_) if path.exists() => Err(io::ErrorKind::AlreadyExists.into()),
            Err(_) => fs::rename(&partial, path),
        }
    };
    result.with_context(|| {
        output(format!(
            "cannot move {} to {}; the complete export is in {}",
            partial.display(),
            path.display(),
            partial.display()
        ))
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The ids in rows written by a sink, for tests elsewhere.
    pub(crate) fn ids_in(bytes: &[u8], format: Format) -> Vec<String> {
        parse_ids(bytes, format).unwrap()
    }

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_string()).unwrap()
    }

    #[test]
    fn jsonl_keeps_the_original_text_one_per_line() {
        let mut sink = Sink::new(Vec::new(), Format::Jsonl, "memory");
        sink.header(&["a"]).unwrap();
        sink.write(&raw(r#"{"b":1,"a":[2.50,"x"]}"#), None).unwrap();
        sink.write(&raw("{\n  \"c\": \"line\\nbreak\"\n}"), None)
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
        sink.header(&crate::rows::COLUMNS).unwrap();
        let row = Row {
            conversation_id: "c-1".into(),
            queue_names: "a,b".into(),
            ..Row::default()
        };
        sink.write(&raw("{}"), Some(&row)).unwrap();
        let out = String::from_utf8(sink.finish().unwrap()).unwrap();
        let mut lines = out.lines();
        assert_eq!(lines.next().unwrap(), crate::rows::COLUMNS.join(","));
        assert_eq!(lines.next().unwrap(), "c-1,,,,,,\"a,b\",,,,,");
        assert!(lines.next().is_none());
    }

    #[test]
    fn ids_are_read_back_from_both_formats() {
        let row = |id: &str| Row {
            conversation_id: id.into(),
            queue_names: "a,\"b\"\nc".into(),
            ..Row::default()
        };
        let mut sink = Sink::new(Vec::new(), Format::Csv, "memory");
        sink.header(&["id", "x"]).unwrap();
        sink.commit().unwrap();
        let start = sink.position();
        sink.write(&raw("{}"), Some(&row("x1"))).unwrap();
        sink.write(&raw("{}"), Some(&row("x2"))).unwrap();
        let end = sink.position();
        let bytes = sink.finish().unwrap();
        assert_eq!(end, bytes.len() as u64);
        assert_eq!(
            parse_ids(&bytes[start as usize..], Format::Csv).unwrap(),
            ["x1", "x2"]
        );

        let mut sink = Sink::at(Vec::new(), 10, Format::Jsonl, "memory");
        sink.write(&raw(r#"{"conversationId":"j1","x":1}"#), None)
            .unwrap();
        sink.write(&raw(r#"{"conversationId":"j2"}"#), None)
            .unwrap();
        assert_eq!(sink.position(), 10 + 54);
        let bytes = sink.finish().unwrap();
        assert_eq!(parse_ids(&bytes, Format::Jsonl).unwrap(), ["j1", "j2"]);
    }

    #[test]
    fn partial_name() {
        assert_eq!(
            partial_path(Path::new("/tmp/x/out.csv")),
            PathBuf::from("/tmp/x/out.csv.partial")
        );
    }
}
