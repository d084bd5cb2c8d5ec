//! The output file's life, from the first check to the published `FILE`.
//!
//! An export to `FILE` takes an exclusive lock (`FILE.lock`, held for the whole run, so two
//! runs of one export never write the same files), writes its rows to `FILE.partial` (mode
//! 0600: it holds phone numbers), records its progress in `FILE.state` after every committed
//! page, and moves `FILE.partial` to `FILE` only when the whole range is done, never over an
//! existing file unless `--force`.
//!
//! A saved state is believed only once it fits: the same command (fingerprint), positions
//! inside the plan, a `FILE.partial` at least as long as the state covers whose covered bytes
//! have the recorded digest, and rows that read back. Anything else exits 2, names the file and
//! offers `--restart`, and touches nothing. All of this happens before the first request.

use std::fs;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use time::OffsetDateTime;

use crate::exit::{output, usage};
use crate::export::{self, Control, PendingLedger, Plan, Position, Resume, Source};
use crate::ids::IdSet;
use crate::lock::Lock;
use crate::pending::file::{PendingFile, Start};
use crate::report::{ExportStats, Log};
use crate::sink::{self, Mark, Output, Sink};
use crate::state::{self, State};

/// An export to a file, prepared and locked.
pub struct FileTarget {
    path: PathBuf,
    partial: PathBuf,
    /// What is written at `path`: one file, or a dataset directory.
    layout: Layout,
    state_path: PathBuf,
    fingerprint: String,
    saved: Option<Saved>,
    /// Whether `--restart` removed a saved state: the run had not published.
    restarted: bool,
    _lock: Lock,
}

/// What an export writes at its path.
pub enum Layout {
    /// One file (`--output FILE`).
    File,
    /// A dataset directory (`--tables DIR`), with what its manifest records of the run.
    Dataset(crate::dataset::Run),
}

impl Layout {
    /// The files a state covers: `FILE.partial`, or each table of `DIR.partial/`, the one
    /// ids are read back from first.
    fn files(&self, partial: &Path) -> Vec<PathBuf> {
        match self {
            Layout::File => vec![partial.to_path_buf()],
            Layout::Dataset(_) => crate::dataset::files(partial),
        }
    }
}

/// A saved state that passed every check, and what it resumes.
struct Saved {
    split_at: OffsetDateTime,
    position: Position,
    /// What it covers of each file, in `Layout::files` order.
    marks: Vec<Mark>,
    written: IdSet,
}

pub use crate::own_files::partial_path;

/// Checks the output path before anything is sent: its directory exists, whatever is at the
/// path is a regular file (a device, a FIFO or a symbolic link is never replaced, `--force` or
/// not: `-o -` streams), and, without `--force`, nothing is.
pub fn preflight(out: &Output, force: bool) -> Result<()> {
    let Output::File(path) = out else {
        return Ok(());
    };
    crate::partial::check_parent(path, "--output")?;
    match fs::symlink_metadata(path) {
        Err(_) => Ok(()),
        Ok(meta) => match not_replaceable(&meta) {
            Some(what) => Err(usage(format!(
                "--output {} is {what}, which is never replaced: give a file name, or -o - to write to stdout",
                path.display()
            ))),
            None if !force => Err(usage(format!(
                "{} already exists: pass --force to replace it, or choose another --output",
                path.display()
            ))),
            None => Ok(()),
        },
    }
}

/// What the existing entry `meta` is when it is not a regular file the export may replace.
pub fn not_replaceable(meta: &fs::Metadata) -> Option<&'static str> {
    let kind = meta.file_type();
    if kind.is_file() {
        None
    } else if kind.is_dir() {
        Some("a directory")
    } else if crate::disk::is_link(meta) {
        Some("a symbolic link")
    } else {
        Some("not a regular file (a device, a FIFO or a socket)")
    }
}

impl FileTarget {
    /// Takes the export's lock, then reads (or, with `restart`, removes) a saved state and
    /// checks it against the command and `FILE.partial`. `plan` is the command's plan; the
    /// saved state brings its own split point.
    pub fn prepare(
        path: &Path,
        state_path: Option<&Path>,
        restart: bool,
        fingerprint: String,
        plan: &Plan,
        layout: Layout,
    ) -> Result<FileTarget> {
        let state_path = state_path.map_or_else(|| state::default_path(path), Path::to_path_buf);
        let doing = format!("exporting to {}", path.display());
        let lock = Lock::take(&crate::disk::with_suffix(path, ".lock"), &doing)?;
        crate::disk::remove_stale_temporaries(&state_path)?;
        let restarted = restart && fs::symlink_metadata(&state_path).is_ok();
        if restart {
            state::remove(&state_path)?;
        }
        let partial = partial_path(path);
        let saved = match state::load(&state_path)? {
            Some(saved) => Some(check_saved(
                &saved,
                &state_path,
                &layout.files(&partial),
                &fingerprint,
                plan,
            )?),
            None => None,
        };
        Ok(FileTarget {
            path: path.to_path_buf(),
            partial,
            layout,
            state_path,
            fingerprint,
            saved,
            restarted,
            _lock: lock,
        })
    }

    /// Where the saved run handed jobs over to the query, if this run resumes one.
    pub fn saved_split_at(&self) -> Option<OffsetDateTime> {
        self.saved.as_ref().map(|saved| saved.split_at)
    }

    /// Runs (or resumes) the export into `FILE.partial`, saving the state after every page,
    /// and publishes `FILE` when the range is done.
    pub fn export<S: Source>(
        mut self,
        source: &mut S,
        plan: &Plan,
        force: bool,
        mut pending: Option<&mut PendingFile>,
        log: &Log,
    ) -> Result<ExportStats> {
        if let Some(pending) = pending.as_deref_mut() {
            let start = match (&self.saved, self.restarted) {
                (Some(_), _) => Start::Resumes,
                (None, true) => Start::Restarts,
                (None, false) => Start::Afresh,
            };
            pending.begin(start, log)?;
        }
        let resume = self.saved.take().map(|saved| {
            log.info(&format!(
                "resuming from {} ({} bytes of {} kept)",
                self.state_path.display(),
                saved.marks.iter().map(|m| m.len).sum::<u64>(),
                self.partial.display()
            ));
            let resume = Resume {
                position: saved.position,
                written: saved.written,
            };
            (saved.marks, resume)
        });
        let mut stats = self.write(source, plan, resume, pending.as_deref_mut(), log)?;
        // The state goes first: a crash between the two leaves a complete FILE.partial and no
        // state, which a re-run simply redoes, never a FILE beside a stale state.
        state::remove(&self.state_path)?;
        match self.layout {
            Layout::File => {
                // A manifest left beside FILE describes the file this run replaces, never this.
                state::remove_named(&crate::manifest::path(&self.path), "the stale manifest")?;
                publish(&self.partial, &self.path, force)?
            }
            Layout::Dataset(_) => crate::dataset::publish(&self.partial, &self.path, force)?,
        }
        log.info(&format!("wrote {}", self.path.display()));
        // The follow-ups handed to this run leave the ledger only now: a crash before the
        // rewrite (or a rewrite that fails) leaves them handed to a run whose state and
        // partial are gone, which the next run to open the ledger removes.
        crate::crash::reach("published", || {});
        if let Some(pending) = pending.as_deref_mut() {
            if let Err(e) = pending.published() {
                log.warn(&format!(
                    "{e:#}: the follow-ups in {} stay in the ledger until the next run removes them",
                    self.path.display()
                ));
            }
        }
        if let (Some(counts), Some(pending)) = (stats.follow_ups.as_mut(), pending) {
            counts.pending = pending.still_pending();
            counts.dropped = counts.dropped.saturating_add(pending.aged());
        }
        Ok(stats)
    }

    /// A run's failure `e`, saying where its rows are and that the same command resumes it.
    fn resumable(&self, e: anyhow::Error) -> anyhow::Error {
        crate::exit::failure(
            crate::exit::code_of(&e),
            format!(
                "{e:#}; the rows so far are in {} and running the same command again resumes the export",
                self.partial.display()
            ),
        )
    }

    /// Writes the partial output (created, or cut back to what `resume` covers) through the
    /// driver, saving the state after every commit, and completes it.
    fn write<S: Source>(
        &self,
        source: &mut S,
        plan: &Plan,
        resume: Option<(Vec<Mark>, Resume)>,
        pending: Option<&mut PendingFile>,
        log: &Log,
    ) -> Result<ExportStats> {
        let (marks, resume) = resume.map_or((None, None), |(m, r)| (Some(m), Some(r)));
        let files = self.layout.files(&self.partial);
        let names: Vec<String> = files.iter().map(|f| crate::dataset::file_name(f)).collect();
        // The first save makes the state's name durable; with a ledger, whose entries are
        // settled once a save names them handled, so does every save (`state::save`).
        let (mut durable, ledger) = (true, pending.is_some());
        let mut checkpoint = |position: &Position, marks: &[Mark]| {
            let first = marks.first().copied().unwrap_or_default();
            let mut saved = State::new(position, first, &self.fingerprint, plan.split_at);
            if let Layout::Dataset(_) = self.layout {
                saved = saved.with_tables(&names, marks);
            }
            let durable = std::mem::replace(&mut durable, ledger);
            state::save(&self.state_path, &saved, durable)
        };
        let control = Control {
            checkpoint: &mut checkpoint,
            stop: &crate::signal::stop_reason,
            pending: pending.map(|p| p as &mut dyn PendingLedger),
        };
        let failed = |e| self.resumable(e);
        match &self.layout {
            Layout::File => {
                let mark = marks.and_then(|m| m.first().copied());
                let file = match mark {
                    Some(mark) => crate::partial::reopen_partial(&self.partial, mark.len)?,
                    None => crate::partial::create_partial(&self.partial)?,
                };
                let name = self.partial.display().to_string();
                let mut sink = Sink::at(file, mark.unwrap_or_default(), plan.format, name);
                let stats =
                    export::run(source, &mut sink, plan, resume, control, log).map_err(failed)?;
                sink.finish()?;
                Ok(stats)
            }
            Layout::Dataset(run) => {
                let mut tables =
                    crate::dataset::open(&self.partial, marks.as_deref(), &plan.columns)?;
                let stats =
                    export::run(source, &mut tables, plan, resume, control, log).map_err(failed)?;
                crate::dataset::finish(tables, &self.partial, plan, run, &stats)?;
                Ok(stats)
            }
        }
    }
}

/// Runs the export to stdout: nothing to lock, resume or publish.
pub fn export_to_stdout<S: Source>(source: &mut S, plan: &Plan, log: &Log) -> Result<ExportStats> {
    let mut sink = Sink::new(io::stdout(), plan.format, "stdout");
    let control = Control {
        checkpoint: &mut |_, _| Ok(()),
        stop: &crate::signal::stop_reason,
        pending: None,
    };
    let stats = export::run(source, &mut sink, plan, None, control, log)?;
    sink.finish()?;
    Ok(stats)
}

/// How a run that uses a ledger begins.
/// Checks a saved state against the command, its plan and the partial files it covers
/// (`files`: `FILE.partial`, or a dataset's tables), and reads back the ids of the window in
/// progress from the first.
fn check_saved(
    saved: &State,
    state_path: &Path,
    files: &[PathBuf],
    fingerprint: &str,
    plan: &Plan,
) -> Result<Saved> {
    let start_over = state::start_over(state_path);
    if saved.fingerprint != fingerprint {
        return Err(usage(format!(
            "{} belongs to a different export ({}); this command is ({fingerprint}): run the original command to resume it, or {start_over}",
            state_path.display(),
            saved.fingerprint
        )));
    }
    let damaged = |why: String| state::damaged(state_path, &why);
    let split_at = saved.split_at(plan).map_err(damaged)?;
    let plan = Plan {
        split_at,
        ..plan.clone()
    };
    let position = saved.position(&plan).map_err(damaged)?;
    let marks = match files {
        [_] => vec![saved.mark().map_err(damaged)?],
        _ => {
            let names: Vec<String> = files.iter().map(|f| crate::dataset::file_name(f)).collect();
            saved.table_marks(&names).map_err(damaged)?
        }
    };
    let mut opened = Vec::with_capacity(files.len());
    for (partial, mark) in files.iter().zip(&marks) {
        opened.push(crate::partial::check_file(partial, *mark, state_path)?);
    }
    let (Some(file), Some(mark)) = (opened.into_iter().next(), marks.first()) else {
        return Err(damaged("it covers no file".to_string()));
    };
    let mut file = file;
    let mut written = IdSet::new();
    file.seek(SeekFrom::Start(position.window_offset))?;
    let window_rows = mark.len.saturating_sub(position.window_offset);
    let reader = BufReader::new(file.take(window_rows));
    let id_column = crate::rows::id_column(&plan.columns);
    let partial = files.first().map_or(Path::new(""), PathBuf::as_path);
    sink::parse_ids_at(reader, plan.format, id_column, |id| {
        written.insert(&id);
    })
    .map_err(|why| {
        crate::partial::mismatch(partial, state_path, &format!("its last window holds {why}"))
    })?;
    Ok(Saved {
        split_at,
        position,
        marks,
        written,
    })
}

/// Moves the finished `FILE.partial` to `FILE`. Without `force`, an existing `FILE` (one that
/// appeared during the run) is left alone and the export stays in `FILE.partial`.
fn publish(partial: &Path, path: &Path, force: bool) -> Result<()> {
    // A directory, a device, a FIFO or a symbolic link that appeared at `FILE` during the run
    // is left alone (rename would replace the entry, never write through it, but a device
    // node replaced by a regular file is still damage).
    if let Some(what) = fs::symlink_metadata(path)
        .ok()
        .and_then(|meta| not_replaceable(&meta))
    {
        return Err(crate::exit::failure(
            crate::exit::Code::Output,
            format!(
                "{} is now {what}, which is never replaced; the complete export is in {}",
                path.display(),
                partial.display()
            ),
        ));
    }
    let result = if force {
        fs::rename(partial, path)
    } else {
        // A hard link fails if the name is taken, so no window exists in which another file
        // could be replaced; filesystems without links fall back to check-then-rename.
        match fs::hard_link(partial, path) {
            Ok(()) => fs::remove_file(partial),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(e),
            Err(_) if fs::symlink_metadata(path).is_ok() => {
                Err(io::ErrorKind::AlreadyExists.into())
            }
            Err(_) => fs::rename(partial, path),
        }
    };
    result
        .and_then(|()| crate::disk::sync_dir(path))
        .with_context(|| {
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

    #[test]
    fn partial_name() {
        assert_eq!(
            partial_path(Path::new("/tmp/x/out.csv")),
            PathBuf::from("/tmp/x/out.csv.partial")
        );
    }
}
