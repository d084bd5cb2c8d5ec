//! The export's locks: one run per export (`FILE.lock`) and per ledger (`PATH.lock`).
//!
//! `flock` through `File::try_lock`, non-blocking: an overlapping cron run fails loudly at
//! once instead of queueing behind the first. The lock file holds the owner's process id, for
//! the message a second run prints, and is unlinked while still held when the run ends; a run
//! that opened the old file notices its inode is gone and opens again. Owns no other file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::exit::{output, usage};

/// An exclusive lock on one export, held while the run lives. The lock file holds the owner's
/// process id, for the message a second run prints; it is removed when the run ends.
pub struct Lock {
    path: PathBuf,
    _file: File,
}

impl Lock {
    /// Takes the lock at `path`, or fails at once naming the process that holds it and what
    /// it is `doing` ("exporting to FILE").
    pub fn take(path: &Path, doing: &str) -> Result<Lock> {
        let cannot = || output(format!("cannot lock {}", path.display()));
        // A lock file unlinked by a finishing run between our open and our lock is not the
        // lock any more: open again (a few rounds are plenty; each needs a finishing run).
        for _ in 0..8 {
            let mut file = crate::disk::open_private(
                path,
                OpenOptions::new().read(true).write(true).create(true),
            )
            .with_context(cannot)?;
            #[cfg(windows)]
            let locked = crate::sys_windows::try_lock(&file);
            #[cfg(not(windows))]
            let locked = file.try_lock();
            match locked {
                Ok(()) => {}
                Err(fs::TryLockError::WouldBlock) => {
                    let holder = fs::read_to_string(path)
                        .ok()
                        .and_then(|text| text.trim().parse::<u32>().ok())
                        .map_or_else(
                            || "another process".to_string(),
                            |pid| format!("process {pid}"),
                        );
                    return Err(usage(format!(
                        "another genesys-export ({holder}) is already {doing}: wait for it to finish, or stop it; the same command then resumes"
                    )));
                }
                Err(fs::TryLockError::Error(e)) => return Err(e).with_context(cannot),
            }
            if !is_same_file(&file, path) {
                continue;
            }
            let mut note = || -> io::Result<()> {
                file.set_len(0)?;
                writeln!(file, "{}", std::process::id())
            };
            note().with_context(cannot)?;
            return Ok(Lock {
                path: path.to_path_buf(),
                _file: file,
            });
        }
        Err(usage(format!(
            "{} keeps being replaced: another genesys-export keeps starting and finishing ({doing})",
            path.display()
        )))
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Unlinked while still held: a run that opened it meanwhile sees a stale file and
        // opens again.
        let _ = fs::remove_file(&self.path);
    }
}

/// Whether `file` is the file now at `path`.
fn is_same_file(file: &File, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (file.metadata(), fs::metadata(path)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }
    #[cfg(windows)]
    {
        use crate::sys_windows::identity;
        match (
            identity(file),
            File::open(path).and_then(|now| identity(&now)),
        ) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
    }
    #[cfg(not(any(unix, windows)))]
    {
        let _ = (file, path);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_export_is_refused_and_the_first_is_released() {
        let dir = std::env::temp_dir().join(format!("ge-lock-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let out = dir.join("c.csv");
        let lock_path = dir.join("c.csv.lock");
        let doing = format!("exporting to {}", out.display());
        let first = Lock::take(&lock_path, &doing).unwrap();
        let err = Lock::take(&lock_path, &doing).err().unwrap();
        let msg = format!("{err:#}");
        assert!(
            msg.contains(&format!("process {}", std::process::id())),
            "{msg}"
        );
        assert_eq!(crate::exit::code_of(&err), crate::exit::Code::Usage);
        drop(first);
        assert!(!lock_path.exists());
        let again = Lock::take(&lock_path, &doing).unwrap();
        drop(again);
        fs::remove_dir_all(&dir).unwrap();
    }
}
