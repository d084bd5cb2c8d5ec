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

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use time::OffsetDateTime;

use crate::exit::{output, usage, usage_context};
use crate::export::{self, Control, PendingLedger, Plan, Position, Resume, Source};
use crate::lock::Lock;
use crate::pending::file::{PendingFile, Start};
use crate::report::{ExportStats, Log};
use crate::sink::{self, Digest, Mark, Output, Sink};
use crate::state::{self, State};

/// An export to a file, prepared and locked.
pub struct FileTarget {
    path: PathBuf,
    partial: PathBuf,
    state_path: PathBuf,
    fingerprint: String,
    saved: Option<Saved>,
    /// Whether `--restart` removed a saved state: the run had not published.
    restarted: bool,
    _lock: Lock,
}

/// A saved state that passed every check, and what it resumes.
struct Saved {
    split_at: OffsetDateTime,
    position: Position,
    mark: Mark,
    written: HashSet<String>,
}

pub use crate::own_files::partial_path;

/// Checks the output path before anything is sent: its directory exists, whatever is at the
/// path is a regular file (a device, a FIFO or a symbolic link is never replaced, `--force` or
/// not: `-o -` streams), and, without `--force`, nothing is.
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
fn not_replaceable(meta: &fs::Metadata) -> Option<&'static str> {
    let kind = meta.file_type();
    if kind.is_file() {
        None
    } else if kind.is_dir() {
        Some("a directory")
    } else if kind.is_symlink() {
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
    ) -> Result<FileTarget> {
        let state_path = state_path.map_or_else(|| state::default_path(path), Path::to_path_buf);
        let doing = format!("exporting to {}", path.display());
        let lock = Lock::take(&state::with_suffix(path, ".lock"), &doing)?;
        state::remove_stale_temporaries(&state_path)?;
        let restarted = restart && fs::symlink_metadata(&state_path).is_ok();
        if restart {
            state::remove(&state_path)?;
        }
        let partial = partial_path(path);
        let saved = match state::load(&state_path)? {
            Some(saved) => Some(check_saved(
                &saved,
                &state_path,
                &partial,
                &fingerprint,
                plan,
            )?),
            None => None,
        };
        Ok(FileTarget {
            path: path.to_path_buf(),
            partial,
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
        self,
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
        let (file, start, resume) = match self.saved {
            Some(saved) => {
                let file = reopen_partial(&self.partial, saved.mark.len)?;
                log.info(&format!(
                    "resuming from {} ({} bytes of {} kept)",
                    self.state_path.display(),
                    saved.mark.len,
                    self.partial.display()
                ));
                let resume = Resume {
                    position: saved.position,
                    written: saved.written,
                };
                (file, saved.mark, Some(resume))
            }
            None => {
                let start = Mark {
                    len: 0,
                    digest: Digest::default(),
                };
                (create_partial(&self.partial)?, start, None)
            }
        };
        let name = self.partial.display().to_string();
        let mut sink = Sink::at(file, start, plan.format, name);
        let mut checkpoint = |position: &Position, mark: Mark| {
            let saved = State::new(position, mark, &self.fingerprint, plan.split_at);
            state::save(&self.state_path, &saved)
        };
        let control = Control {
            checkpoint: &mut checkpoint,
            stop: &crate::signal::stop_reason,
            pending: pending.as_deref_mut().map(|p| p as &mut dyn PendingLedger),
        };
        let mut stats = export::run(source, &mut sink, plan, resume, control, log).map_err(|e| {
            crate::exit::failure(
                crate::exit::code_of(&e),
                format!(
                    "{e:#}; the rows so far are in {} and running the same command again resumes the export",
                    self.partial.display()
                ),
            )
        })?;
        sink.finish()?;
        // The state goes first: a crash between the two leaves a complete FILE.partial and no
        // state, which a re-run simply redoes, never a FILE beside a stale state.
        state::remove(&self.state_path)?;
        // A manifest left beside FILE describes the file this run replaces, never this one.
        state::remove_named(&crate::manifest::path(&self.path), "the stale manifest")?;
        publish(&self.partial, &self.path, force)?;
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
/// Checks a saved state against the command, its plan and `FILE.partial`, and reads back the
/// ids of the window in progress.
fn check_saved(
    saved: &State,
    state_path: &Path,
    partial: &Path,
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
    let mark = saved.mark().map_err(damaged)?;
    let mismatch = |why: &str| {
        usage(format!(
            "{} does not match {} ({why}): it was changed outside genesys-export; {start_over}",
            partial.display(),
            state_path.display()
        ))
    };
    let mut file = match fs::symlink_metadata(partial) {
        Ok(meta) if meta.file_type().is_file() => {
            state::open_private(partial, OpenOptions::new().read(true)).with_context(|| {
                usage_context(format!("cannot read {} to resume", partial.display()))
            })?
        }
        Ok(_) => return Err(mismatch("it is not a regular file")),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(usage(format!(
                "{} records progress but {} is missing: {start_over}",
                state_path.display(),
                partial.display()
            )))
        }
        Err(e) => {
            return Err(e).with_context(|| {
                usage_context(format!("cannot read {} to resume", partial.display()))
            })
        }
    };
    let actual = file.metadata()?.len();
    if actual < mark.len {
        return Err(mismatch(&format!(
            "it holds {actual} bytes, fewer than the {} its state covers",
            mark.len
        )));
    }
    if digest_of(&mut file, mark.len)? != mark.digest {
        return Err(mismatch("the rows its state covers have changed"));
    }
    let mut written = HashSet::new();
    file.seek(SeekFrom::Start(position.window_offset))?;
    let window_rows = mark.len.saturating_sub(position.window_offset);
    let reader = BufReader::new(file.take(window_rows));
    let id_column = crate::rows::id_column(&plan.columns);
    sink::parse_ids_at(reader, plan.format, id_column, |id| {
        written.insert(id);
    })
    .map_err(|why| mismatch(&format!("its last window holds {why}")))?;
    Ok(Saved {
        split_at,
        position,
        mark,
        written,
    })
}

/// The digest of the first `len` bytes of `file`, read in constant memory.
fn digest_of(file: &mut File, len: u64) -> io::Result<Digest> {
    file.seek(SeekFrom::Start(0))?;
    let mut digest = Digest::default();
    let mut reader = file.take(len);
    let mut buf = vec![0; 64 * 1024];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            return Ok(digest);
        }
        digest.update(buf.get(..n).unwrap_or_default());
    }
}

/// Creates (or starts over) `FILE.partial`, readable by its owner only: whatever was at the
/// name (a stale partial, a symbolic link) is removed, not followed, and the file is created
/// afresh.
fn create_partial(partial: &Path) -> Result<File> {
    state::unlink(partial)
        .and_then(|()| {
            state::open_private(partial, OpenOptions::new().write(true).create_new(true))
        })
        .with_context(|| output(format!("cannot create {}", partial.display())))
}

/// Opens `FILE.partial` to resume an export whose state covers its first `len` bytes (checked
/// before): what was written after the last saved state is cut off.
fn reopen_partial(partial: &Path, len: u64) -> Result<File> {
    let mut file = state::open_private(partial, OpenOptions::new().write(true))
        .with_context(|| output(format!("cannot open {} to resume", partial.display())))?;
    let mut cut = || -> io::Result<()> {
        file.set_len(len)?;
        file.sync_data()?;
        file.seek(SeekFrom::Start(len))?;
        Ok(())
    };
    cut().with_context(|| output(format!("cannot truncate {}", partial.display())))?;
    Ok(file)
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
        .and_then(|()| state::sync_dir(path))
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
