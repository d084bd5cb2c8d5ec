//! The dataset directory of `--tables DIR`: its table files, `schema.sql` and `manifest.json`.
//!
//! `Tables` is the writer the driver writes conversations to: one `Sink` per table (the
//! catalogue of `tables.rs` flattens each conversation into their rows), committed together,
//! with a mark per file for the state. The directory is built as `DIR.partial/` (mode 0700, its
//! files 0600), resumed by cutting every file back to what the state covers, completed with
//! `schema.sql` and `manifest.json`, and renamed to `DIR` only when the whole range is done, so
//! `DIR` is published whole or not at all. The lock, the state and the checks of a resume are
//! `target.rs`'s, shared with the single file.

use std::fs::{self, File};
use std::io::{self, BufReader};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use time::OffsetDateTime;

use crate::api::Lookup;
use crate::columns::{self, Column, IdsOf};
use crate::exit::{output, usage};
use crate::export::Plan;
use crate::report::ExportStats;
use crate::sink::{Format, Mark, Record, Sink, Target, Writer};
use crate::tables::{self, Flattener};

/// What the manifest records of the run beyond the plan: the one type every manifest shares.
pub use crate::manifest::Run;

/// The table files of a dataset being built in `partial`, in load order.
pub fn files(partial: &Path) -> Vec<PathBuf> {
    tables::IDS
        .iter()
        .map(|id| partial.join(id.file()))
        .collect()
}

/// The name of a file, as a state records it.
pub fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Checks `--tables DIR` before anything is sent: its parent directory exists, and whatever
/// is at `DIR` is a directory that `--force` may replace (a file or a symbolic link never is).
pub fn preflight(dir: &Path, force: bool) -> Result<()> {
    crate::partial::check_parent(dir, "--tables")?;
    match fs::symlink_metadata(dir) {
        Err(_) => Ok(()),
        Ok(meta) if !meta.file_type().is_dir() => Err(usage(format!(
            "--tables {} exists and is not a directory, which is never replaced: choose another --tables",
            dir.display()
        ))),
        Ok(_) if !force => Err(usage(format!(
            "{} already exists: pass --force to replace it, or choose another --tables",
            dir.display()
        ))),
        Ok(_) => Ok(()),
    }
}

/// The bytes a table's file holds in memory before they are handed to it: what the six
/// tables hold together stays under `export::GROUP_BYTES`, so the pages of a dataset are
/// committed (each table synced) in groups as large as a single file's, not one group per
/// megabyte rendered.
const TABLE_SPILL: usize = crate::export::GROUP_BYTES / 8;

/// The writer of a dataset's tables, one sink per table file in load order.
pub struct Tables<W: Target> {
    sinks: Vec<Sink<W>>,
    /// The rows (headers apart) each table holds so far.
    rows: Vec<u64>,
    /// The columns of `conversations.csv`.
    columns: Vec<&'static Column>,
    flattener: Flattener,
}

impl<W: Target> Tables<W> {
    /// A writer over `targets` (one per table, in load order, each already holding what its
    /// `start` mark covers, and that many rows), `conversations.csv` with
    /// `tables::conversation_columns(chosen)`.
    pub fn new(targets: Vec<(W, Mark, u64, String)>, chosen: &[&'static Column]) -> Tables<W> {
        let rows = targets.iter().map(|(_, _, rows, _)| *rows).collect();
        let sinks = targets
            .into_iter()
            .map(|(target, start, _, name)| {
                Sink::at(target, start, Format::Csv, name).spilling_at(TABLE_SPILL)
            })
            .collect();
        Tables {
            sinks,
            rows,
            columns: tables::conversation_columns(chosen),
            flattener: Flattener::default(),
        }
    }

    /// Commits every table and returns the targets.
    pub fn finish(self) -> Result<Vec<W>> {
        self.sinks.into_iter().map(Sink::finish).collect()
    }
}

impl<W: Target> Writer for Tables<W> {
    fn begin(&mut self, _: &[&'static Column], _: &[String]) -> Result<()> {
        let headers = tables::headers(&self.columns);
        for (sink, header) in self.sinks.iter_mut().zip(headers) {
            sink.header(&header)?;
        }
        Ok(())
    }

    fn lookups(&self, _: &[&'static Column]) -> Vec<(Lookup, IdsOf)> {
        vec![
            (Lookup::Queues, columns::queue_ids as IdsOf),
            (Lookup::Users, columns::user_ids),
            (Lookup::WrapUpCodes, columns::wrap_up_codes),
        ]
    }

    fn write(&mut self, record: &Record) -> Result<()> {
        let (sinks, rows) = (&mut self.sinks, &mut self.rows);
        self.flattener.rows(
            record.conversation,
            &self.columns,
            record.name_of,
            record.formulas,
            record.zone,
            &mut |id, record| match (sinks.get_mut(id.index()), rows.get_mut(id.index())) {
                (Some(sink), Some(rows)) => {
                    *rows = rows.saturating_add(1);
                    sink.write_record(record)
                }
                _ => Ok(()),
            },
        )
    }

    fn commit(&mut self) -> Result<()> {
        self.sinks.iter_mut().try_for_each(|sink| sink.commit())
    }

    fn held(&self) -> usize {
        self.sinks.iter().map(Writer::held).sum()
    }

    fn position(&self) -> u64 {
        self.sinks.first().map_or(0, |sink| sink.position())
    }

    fn marks(&self) -> Vec<Mark> {
        self.sinks.iter().map(|sink| sink.mark()).collect()
    }
}

/// Opens the dataset being built in `partial`: afresh (whatever was at the name removed, the
/// directory created with mode 0700), or, resuming, with every table cut back to its mark.
pub fn open(
    partial: &Path,
    marks: Option<&[Mark]>,
    chosen: &[&'static Column],
) -> Result<Tables<File>> {
    let paths = files(partial);
    let mut targets = Vec::with_capacity(paths.len());
    match marks {
        Some(marks) => {
            for (path, mark) in paths.iter().zip(marks) {
                let file = crate::partial::reopen_partial(path, mark.len)?;
                // The rows kept, counted once as a run resumes (its header apart).
                let rows = count_rows(path, mark.len)?.saturating_sub(1);
                targets.push((file, *mark, rows, path.display().to_string()));
            }
        }
        None => {
            create_dir(partial)
                .with_context(|| output(format!("cannot create {}", partial.display())))?;
            for path in &paths {
                let file = crate::partial::create_partial(path)?;
                targets.push((file, Mark::default(), 0, path.display().to_string()));
            }
        }
    }
    Ok(Tables::new(targets, chosen))
}

/// Creates `dir` afresh, readable by its owner only: a directory left by an earlier run is
/// removed with what it holds, anything else at the name unlinked (a link is not followed).
fn create_dir(dir: &Path) -> io::Result<()> {
    match fs::symlink_metadata(dir) {
        Ok(meta) if meta.file_type().is_dir() => fs::remove_dir_all(dir)?,
        Ok(_) => crate::disk::unlink(dir)?,
        Err(_) => {}
    }
    #[cfg_attr(not(unix), allow(unused_mut))]
    let mut builder = fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)?;
    crate::disk::sync_dir(dir)
}

/// Completes the dataset in `partial`: commits the tables, then writes `schema.sql` and
/// `manifest.json` (its row counts read back from the tables) and syncs the directory.
pub fn finish(
    tables: Tables<File>,
    partial: &Path,
    plan: &Plan,
    run: &Run,
    stats: &ExportStats,
) -> Result<()> {
    let columns = tables.columns.clone();
    let rows = tables.rows.clone();
    tables.finish()?;
    let manifest = manifest(partial, &rows, plan, run, stats)?;
    let text = serde_json::to_string_pretty(&manifest)?;
    let schema = tables::schema_sql(&columns);
    for (name, text) in [("schema.sql", schema), ("manifest.json", text + "\n")] {
        let path = partial.join(name);
        let mut file = crate::partial::create_partial(&path)?;
        io::Write::write_all(&mut file, text.as_bytes())
            .and_then(|()| file.sync_all())
            .with_context(|| output(format!("cannot write {}", path.display())))?;
    }
    crate::disk::sync_dir(&partial.join("manifest.json"))
        .with_context(|| output(format!("cannot write {}", partial.display())))
}

/// `manifest.json`: the manifest of a single file (`manifest::describe`, its conversations
/// read back from `conversations.csv`), with the rows of every table.
fn manifest(
    partial: &Path,
    counts: &[u64],
    plan: &Plan,
    run: &Run,
    stats: &ExportStats,
) -> Result<crate::manifest::Manifest> {
    let conversations = partial.join(tables::Id::Conversations.file());
    let seen = crate::manifest::read_back(&conversations, Format::Csv)?;
    let ended = OffsetDateTime::now_utc();
    let mut manifest = crate::manifest::describe(plan, run, stats, ended, &seen);
    manifest.rows = tables::IDS
        .iter()
        .zip(counts)
        .map(|(id, count)| (id.name().to_string(), *count))
        .collect();
    Ok(manifest)
}

/// The CSV records in the first `len` bytes of a table file, read in constant memory.
fn count_rows(path: &Path, len: u64) -> Result<u64> {
    let file =
        File::open(path).with_context(|| output(format!("cannot read {}", path.display())))?;
    let reader = BufReader::new(io::Read::take(file, len));
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(reader);
    let mut record = csv::ByteRecord::new();
    let mut rows = 0u64;
    while reader
        .read_byte_record(&mut record)
        .with_context(|| output(format!("cannot read {}", path.display())))?
    {
        rows = rows.saturating_add(1);
    }
    Ok(rows)
}

/// Moves the finished `DIR.partial` to `DIR`. Without `force` an existing `DIR` (one that
/// appeared during the run) is left alone and the dataset stays in `DIR.partial`; with it, the
/// old directory is moved aside, the new one moved in, and the old one removed.
pub fn publish(partial: &Path, dir: &Path, force: bool) -> Result<()> {
    let kept = || format!("the complete dataset is in {}", partial.display());
    let existing = fs::symlink_metadata(dir).ok();
    if let Some(meta) = &existing {
        if !meta.file_type().is_dir() || !force {
            let what = if meta.file_type().is_dir() {
                "exists"
            } else {
                "is now something other than a directory, which is never replaced"
            };
            return Err(crate::exit::failure(
                crate::exit::Code::Output,
                format!("{} {what}; {}", dir.display(), kept()),
            ));
        }
    }
    let aside = crate::disk::with_suffix(dir, &format!(".old-{}", std::process::id()));
    let moved = || -> io::Result<()> {
        if existing.is_some() {
            fs::rename(dir, &aside)?;
        }
        fs::rename(partial, dir)?;
        crate::disk::sync_dir(dir)?;
        if existing.is_some() {
            fs::remove_dir_all(&aside)?;
        }
        Ok(())
    };
    moved().with_context(|| {
        output(format!(
            "cannot move {} to {}; {}",
            partial.display(),
            dir.display(),
            kept()
        ))
    })
}
