//! The `--pending` ledger's file: where it lives, its lock, reading and checking it, rewriting
//! it atomically after every change, and its protocol with the run that uses it.
//!
//! `main` opens it ([`PendingFile::open`]), the output's life (`target.rs`) tells it how the
//! run starts and when it has published, and the driver reaches it only through
//! `export::PendingLedger`. A ledger that cannot be used (another command family, another
//! format version, damaged, too large, not a regular file) is refused with exit 2 and left as
//! it was, bytes and mode; the pure rules (what an entry is, merging, handing, ageing) live in
//! the parent module.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use time::OffsetDateTime;

use super::{Handed, Ledger};
use crate::exit::{output, usage, usage_context};
use crate::export::PendingLedger;
use crate::lock::Lock;
use crate::own_files::{partial_path, RunFiles};
use crate::report::Log;

/// How the ledger at `ledger` names the run writing `output` with its state at `state`, or
/// the usage error saying why it cannot.
fn run_name(ledger: &Path, output: &Path, state: &Path) -> Result<Handed> {
    // Made absolute against the current directory: a later run may start elsewhere.
    let absolute =
        |path: &Path| std::path::absolute(path).map_err(|e| format!("{}: {e}", path.display()));
    absolute(output)
        .and_then(|output| Handed::of(&output, &absolute(state)?))
        .map_err(|why| {
            usage(format!(
                "--pending {} cannot name this export: {why}; choose another --output or --state",
                ledger.display()
            ))
        })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// It resumes a saved state.
    Resumes,
    /// `--restart` removed its saved state.
    Restarts,
    /// There was no saved state.
    Afresh,
}

/// The `--pending` ledger of a run, locked (`PATH.lock`) for the whole run so that two runs
/// sharing it never rewrite it at once, and rewritten atomically after every change.
///
/// The follow-ups the run writes are handed to it (its output and state named in their
/// entries) once the state covering them is saved, and removed after it publishes `FILE`.
pub struct PendingFile {
    path: PathBuf,
    ledger: Ledger,
    /// Entries dropped for their age when the ledger was opened.
    aged: u64,
    /// The run the follow-ups written are handed to.
    run: Handed,
    _lock: Lock,
}

impl PendingFile {
    /// Takes the ledger's lock, reads and checks it (an absent ledger is an empty one; one
    /// of another command family, another format version or inconsistent is a usage error and
    /// nothing is touched), and drops the entries whose conversation started more than
    /// `max_age` before `now`, one warning line each. `run` names this run in the ledger
    /// ([`FileTarget::run_name`]).
    pub fn open(
        path: &Path,
        run: &RunFiles,
        fingerprint: &str,
        max_age: std::time::Duration,
        now: OffsetDateTime,
        log: &Log,
    ) -> Result<PendingFile> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        if !dir.is_dir() {
            return Err(usage(format!(
                "the directory of --pending {} does not exist: create it or name another ledger",
                path.display()
            )));
        }
        let run = run_name(path, &run.output, &run.state)?;
        let doing = format!("using the ledger {}", path.display());
        let lock = Lock::take(&crate::disk::with_suffix(path, ".lock"), &doing)?;
        crate::disk::remove_stale_temporaries(path)?;
        let mut ledger = load(path, fingerprint)?;
        let old = ledger.age(max_age, now);
        for entry in &old {
            log.warn(&format!(
                "conversation {} (started {}) is still not ended after --pending-max-age {}: dropped from {}",
                entry.id,
                entry.start,
                crate::times::format_duration(max_age),
                path.display()
            ));
        }
        if !old.is_empty() {
            save(path, &ledger)?;
        }
        Ok(PendingFile {
            path: path.to_path_buf(),
            ledger,
            aged: old.len() as u64,
            run,
            _lock: lock,
        })
    }

    /// Starts this run's use of the ledger (as `start` says) and settles the entries handed
    /// to runs: see [`Ledger::settle_handed`].
    /// A run has published when neither its state nor its `FILE.partial` exists (the state is
    /// removed just before the publish, so a crash between the two leaves the partial, which
    /// a re-run writes afresh), unless it is this run and `--restart` just removed its state;
    /// whether `FILE` exists says nothing, as published files are moved and deleted.
    pub fn begin(&mut self, start: Start, log: &Log) -> Result<()> {
        let run = &self.run;
        let gone = |path: &Path| {
            let found = fs::symlink_metadata(path);
            matches!(found, Err(e) if e.kind() == io::ErrorKind::NotFound)
        };
        let restarted = start == Start::Restarts;
        let resumes = start == Start::Resumes;
        let settled = self.ledger.settle_handed(run, resumes, |h| {
            !(restarted && h.state == run.state)
                && gone(Path::new(&h.state))
                && gone(&partial_path(Path::new(&h.output)))
        });
        if settled.published > 0 {
            log.info(&format!(
                "{} follow-ups written by exports published since removed from {}",
                settled.published,
                self.path.display()
            ));
        }
        if settled.released > 0 {
            log.info(&format!(
                "{} follow-ups written by an earlier run of this export are due again: it starts over",
                settled.released
            ));
        }
        if settled.published > 0 || settled.released > 0 {
            save(&self.path, &self.ledger)?;
        }
        Ok(())
    }

    /// How many conversations the ledger still follows up.
    pub fn still_pending(&self) -> u64 {
        self.ledger.pending() as u64
    }

    /// How many entries were dropped for their age when the ledger was opened.
    pub fn aged(&self) -> u64 {
        self.aged
    }

    /// Removes the follow-ups handed to this run, once it has published its output.
    pub fn published(&mut self) -> Result<()> {
        if self.ledger.remove_handed(&self.run.state) > 0 {
            save(&self.path, &self.ledger)?;
        }
        Ok(())
    }
}

impl PendingLedger for PendingFile {
    fn due(&self) -> Vec<String> {
        self.ledger.due()
    }

    fn record(&mut self, found: &[(String, OffsetDateTime)]) -> Result<()> {
        let added = self
            .ledger
            .merge(found, OffsetDateTime::now_utc())
            .map_err(|why| anyhow::anyhow!("{}: {why}", self.path.display()))?;
        if added > 0 {
            save(&self.path, &self.ledger)?;
        }
        Ok(())
    }

    fn settle(&mut self, written: &[String], gone: &[String]) -> Result<()> {
        let handed = self.ledger.hand(written, &self.run);
        let changed = handed + self.ledger.remove(gone);
        if changed > 0 {
            save(&self.path, &self.ledger)?;
        }
        Ok(())
    }
}

/// Reads the ledger of conversations in progress at `path` for the command family
/// `fingerprint`; an empty one if there is none yet. A ledger of another command family, of
/// another format version, or inconsistent in any field is a usage error naming the file;
/// nothing is touched.
pub fn load(path: &Path, fingerprint: &str) -> Result<Ledger> {
    let shown = path.display();
    let refused = |why: &str| {
        usage(format!(
            "--pending {shown} cannot be used ({why}): repair or remove it (its conversations are then not followed up), or name another ledger"
        ))
    };
    let text = match crate::disk::read_private(path, super::MAX_BYTES) {
        Ok(None) => return Ok(Ledger::new(fingerprint)),
        Ok(Some(text)) => text,
        Err(crate::disk::ReadFailure::NotAFile) => return Err(refused("it is not a regular file")),
        Err(crate::disk::ReadFailure::Io(e)) => {
            return Err(e).with_context(|| usage_context(format!("cannot read --pending {shown}")))
        }
    };
    let ledger = Ledger::parse(&text).map_err(|why| refused(&why))?;
    if ledger.fingerprint != fingerprint {
        return Err(usage(format!(
            "--pending {shown} belongs to another command family ({}); this command is ({fingerprint}): a ledger is shared only by exports of the same organisation, client, format and columns; name another ledger",
            ledger.fingerprint
        )));
    }
    Ok(ledger)
}

/// Writes the ledger atomically, like the state.
pub fn save(path: &Path, ledger: &Ledger) -> Result<()> {
    crate::disk::write_atomically(path, ledger.to_text().into_bytes(), "ledger-write")
        .with_context(|| output(format!("cannot save the ledger {}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_opening_the_ledger_removes_only_what_was_published_and_takes_back_its_own() {
        let dir = std::env::temp_dir().join(format!("ge-handed-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let run = |name: &str| {
            let output = dir.join(format!("{name}.csv"));
            Handed::of(&output, &crate::state::default_path(&output)).unwrap()
        };
        let touch = |path: &str| fs::write(path, "x").unwrap();
        // `a` died between the removal of its state and the publish: its partial is left.
        touch(&format!("{}.partial", run("a").output));
        // `b` published, and its FILE is still there; `m` published and it was moved away.
        touch(&run("b").output);
        // `c` can still resume.
        touch(&run("c").state);
        let fp = "api=x client=c format=csv columns=a";
        let mut ledger = Ledger::new(fp);
        let now = OffsetDateTime::now_utc();
        let ids = ["a", "b", "c", "d", "m", "own"].map(String::from);
        let found: Vec<(String, OffsetDateTime)> = ids.iter().map(|id| (id.clone(), now)).collect();
        ledger.merge(&found, now).unwrap();
        for id in ["a", "b", "c", "m", "own"] {
            ledger.hand(&[id.to_string()], &run(id));
        }
        let path = dir.join("pending.json");
        save(&path, &ledger).unwrap();
        let own = dir.join("own.csv");
        let max_age = std::time::Duration::from_secs(86_400);
        let own_run = RunFiles::of(&own, None);
        let mut pending =
            PendingFile::open(&path, &own_run, fp, max_age, now, &Log::QUIET).unwrap();
        pending.begin(Start::Restarts, &Log::QUIET).unwrap();
        assert_eq!(pending.due(), ["d", "own"]);
        let saved = load(&path, fp).unwrap();
        assert_eq!(saved, pending.ledger);
        let kept: Vec<&str> = saved.entries.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(kept, ["a", "c", "d", "own"]);
        // Its follow-ups written are handed to it, then leave once it has published.
        pending.settle(&["own".into()], &["d".into()]).unwrap();
        assert!(pending.due().is_empty());
        pending.published().unwrap();
        let saved = load(&path, fp).unwrap();
        let kept: Vec<&str> = saved.entries.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(kept, ["a", "c"]);
        drop(pending);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_ledger_is_saved_private_and_read_back_for_its_command_family_only() {
        let dir = std::env::temp_dir().join(format!("ge-ledger-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("pending.json");
        let fp = "api=https://x client=c format=csv columns=a";
        // None yet: an empty ledger, and nothing created.
        assert_eq!(load(&path, fp).unwrap(), Ledger::new(fp));
        assert!(!path.exists());
        let mut ledger = Ledger::new(fp);
        let start = time::macros::datetime!(2026-11-01 23:00 UTC);
        ledger
            .merge(&[("c-1".into(), start)], start + time::Duration::hours(1))
            .unwrap();
        save(&path, &ledger).unwrap();
        assert_eq!(load(&path, fp).unwrap(), ledger);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let refused = |path: &Path, fp: &str, why: &str| {
            let err = load(path, fp).unwrap_err();
            assert_eq!(crate::exit::code_of(&err), crate::exit::Code::Usage);
            let msg = format!("{err:#}");
            assert!(msg.contains(why), "{msg}");
        };
        refused(
            &path,
            "api=https://y client=c format=csv columns=a",
            "another command family",
        );
        refused(&dir, fp, "not a regular file");
        // A refused ledger keeps its bytes and its mode.
        #[cfg(unix)]
        let keeps = |path: &Path, bytes: &[u8], fp: &str, why: &str| {
            use std::os::unix::fs::PermissionsExt;
            fs::write(path, bytes).unwrap();
            fs::set_permissions(path, fs::Permissions::from_mode(0o644)).unwrap();
            refused(path, fp, why);
            assert_eq!(fs::read(path).unwrap(), bytes);
            let mode = fs::metadata(path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o644, "{why}");
        };
        #[cfg(unix)]
        {
            keeps(&path, b"{", fp, "not a ledger");
            let other = Ledger::new("api=https://y client=c format=csv columns=a").to_text();
            keeps(&path, other.as_bytes(), fp, "another command family");
            let big = vec![b' '; usize::try_from(crate::pending::MAX_BYTES).unwrap() + 2];
            keeps(&path, &big, fp, "too large");
        }
        fs::write(&path, "{").unwrap();
        refused(&path, fp, "not a ledger");
        fs::remove_dir_all(&dir).unwrap();
    }
}
