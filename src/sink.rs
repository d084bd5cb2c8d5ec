//! Where rows go: the output formats, and the life of an output file.
//!
//! `Sink` writes CSV rows or JSON Lines to any `Target` and makes them durable on `commit`
//! (flush, then fsync for files). An export to a file is written to `FILE.partial`, created
//! with mode 0600 because it holds phone numbers, and `publish` moves it to `FILE` only when
//! the whole range is done, never over an existing file unless `--force`. This module and
//! nothing else creates or writes output files.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::value::RawValue;

use crate::exit::{output, usage};
use crate::rows::{Row, COLUMNS};

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

/// A writer of one format over a target.
pub struct Sink<W: Target> {
    out: BufWriter<W>,
    format: Format,
    /// What the target is, for error messages: a path or "stdout".
    name: String,
}

impl<W: Target> Sink<W> {
    pub fn new(target: W, format: Format, name: impl Into<String>) -> Sink<W> {
        Sink {
            out: BufWriter::with_capacity(64 * 1024, target),
            format,
            name: name.into(),
        }
    }

    /// Writes the CSV header row; JSON Lines has none.
    pub fn header(&mut self) -> Result<()> {
        if self.format == Format::Csv {
            self.write_record(&COLUMNS)?;
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

    fn write_record(&mut self, fields: &[&str; 12]) -> Result<()> {
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
            .and_then(|()| self.out.get_mut().sync())
            .with_context(|| output(format!("cannot write to {}", self.name)))
    }

    /// Commits and returns the target.
    pub fn finish(mut self) -> Result<W> {
        self.commit()?;
        let name = self.name;
        self.out
            .into_inner()
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
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_string()).unwrap()
    }

    #[test]
    fn jsonl_keeps_the_original_text_one_per_line() {
        let mut sink = Sink::new(Vec::new(), Format::Jsonl, "memory");
        sink.header().unwrap();
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
        sink.header().unwrap();
        let row = Row {
            conversation_id: "c-1".into(),
            queue_names: "a,b".into(),
            ..Row::default()
        };
        sink.write(&raw("{}"), Some(&row)).unwrap();
        let out = String::from_utf8(sink.finish().unwrap()).unwrap();
        let mut lines = out.lines();
        assert_eq!(lines.next().unwrap(), COLUMNS.join(","));
        assert_eq!(lines.next().unwrap(), "c-1,,,,,,\"a,b\",,,,,");
        assert!(lines.next().is_none());
    }

    #[test]
    fn partial_name() {
        assert_eq!(
            partial_path(Path::new("/tmp/x/out.csv")),
            PathBuf::from("/tmp/x/out.csv.partial")
        );
    }
}
