//! The partial files of an export (`FILE.partial`, a dataset's tables): created afresh,
//! checked against the length and digest a saved state covers, and cut back to them.
//!
//! Shell: it opens files, always through `crate::disk::open_private`; what a state says and when
//! to resume are `state.rs`'s and `target.rs`'s.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use anyhow::{Context, Result};

use crate::exit::{output, usage, usage_context};
use crate::sink::{Digest, Mark};
use crate::state;

/// Checks that the directory an output `path` (given with `option`) goes into exists.
pub fn check_parent(path: &Path, option: &str) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(usage(format!(
            "output directory {} does not exist: create it or choose another {option}",
            dir.display()
        )));
    }
    Ok(())
}

/// Creates (or starts over) `FILE.partial`, readable by its owner only: whatever was at the
/// name (a stale partial, a symbolic link) is removed, not followed, and the file is created
/// afresh, its name made durable before a state can record its rows.
pub fn create_partial(partial: &Path) -> Result<File> {
    crate::disk::unlink(partial)
        .and_then(|()| {
            crate::disk::open_private(partial, OpenOptions::new().write(true).create_new(true))
        })
        .and_then(|file| crate::disk::sync_dir(partial).map(|()| file))
        .with_context(|| output(format!("cannot create {}", partial.display())))
}

/// Opens `FILE.partial` to resume an export whose state covers its first `len` bytes (checked
/// before): what was written after the last saved state is cut off.
pub fn reopen_partial(partial: &Path, len: u64) -> Result<File> {
    let mut file = crate::disk::open_private(partial, OpenOptions::new().write(true))
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

/// The error for a partial file that does not match its state.
pub fn mismatch(partial: &Path, state_path: &Path, why: &str) -> anyhow::Error {
    usage(format!(
        "{} does not match {} ({why}): it was changed outside genesys-export; {}",
        partial.display(),
        state_path.display(),
        state::start_over(state_path)
    ))
}

/// Opens a partial file a saved state covers up to `mark`, and checks it is a regular file
/// holding at least those bytes, with their digest.
pub fn check_file(partial: &Path, mark: Mark, state_path: &Path) -> Result<File> {
    let cannot = || usage_context(format!("cannot read {} to resume", partial.display()));
    let mut file = match fs::symlink_metadata(partial) {
        Ok(meta) if meta.file_type().is_file() => {
            crate::disk::open_private(partial, OpenOptions::new().read(true))
                .with_context(cannot)?
        }
        Ok(_) => return Err(mismatch(partial, state_path, "it is not a regular file")),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(usage(format!(
                "{} records progress but {} is missing: {}",
                state_path.display(),
                partial.display(),
                state::start_over(state_path)
            )))
        }
        Err(e) => return Err(e).with_context(cannot),
    };
    let actual = file.metadata()?.len();
    if actual < mark.len {
        let why = format!(
            "it holds {actual} bytes, fewer than the {} its state covers",
            mark.len
        );
        return Err(mismatch(partial, state_path, &why));
    }
    if digest_of(&mut file, mark.len)? != mark.digest {
        return Err(mismatch(
            partial,
            state_path,
            "the rows its state covers have changed",
        ));
    }
    Ok(file)
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
