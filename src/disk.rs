//! The export's own files on disk: opened never through a link and private to their owner
//! (mode 0600, or on Windows a DACL with the owner alone), read without changing their mode,
//! written atomically, their crashed temporaries removed, and renames made durable.
//!
//! Every file the export writes (the partial files, the state, the ledger, the locks, the
//! manifest) goes through here; what they hold is their modules' business.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::exit::output;

/// `O_NOFOLLOW` of the platform: `open` fails on a symbolic link in the last component of the
/// path instead of following it. The C headers' values, per platform (the shipped binary links
/// no crate that would name it); elsewhere 0, where the checks before each open still refuse a
/// symbolic link, without the guarantee against one planted in between.
#[cfg(unix)]
const O_NOFOLLOW: i32 = if cfg!(target_os = "linux") {
    if cfg!(any(
        target_arch = "arm",
        target_arch = "aarch64",
        target_arch = "powerpc",
        target_arch = "powerpc64"
    )) {
        0o100000
    } else {
        0o400000
    }
} else if cfg!(any(
    target_os = "macos",
    target_os = "ios",
    target_os = "freebsd",
    target_os = "openbsd",
    target_os = "netbsd",
    target_os = "dragonfly"
)) {
    0x100
} else {
    0
};

/// Opens one of the export's own files (output, partial, state, its temporary file, the lock)
/// as `options` say, never through a symbolic link at `path`, and leaves it readable and
/// writable by its owner only: created with mode 0600, and set to 0600 once open, whatever the
/// umask or the mode an existing file had. Callers create a new file with `create_new`, which
/// also refuses any file planted at the name. On Windows a reparse point (symbolic link,
/// junction) is what is refused, the file is opened with `FILE_FLAG_OPEN_REPARSE_POINT`, and
/// owner-only is a protected DACL with the owner alone in it.
pub fn open_private(path: &Path, options: &mut OpenOptions) -> io::Result<File> {
    if fs::symlink_metadata(path).is_ok_and(|meta| is_link(&meta)) {
        return Err(io::Error::other(A_LINK));
    }
    // Asked by name too: some file systems show a link to that query only.
    #[cfg(windows)]
    if crate::sys_windows::names_reparse_point(path) {
        return Err(io::Error::other(A_LINK));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let file = options.mode(0o600).custom_flags(O_NOFOLLOW).open(path)?;
        if !file.metadata()?.file_type().is_file() {
            return Err(io::Error::other("it is not a regular file"));
        }
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
        Ok(file)
    }
    #[cfg(windows)]
    {
        use crate::sys_windows::{self as sys, FILE_FLAG_OPEN_REPARSE_POINT};
        use std::os::windows::fs::OpenOptionsExt;
        let file = options
            .custom_flags(FILE_FLAG_OPEN_REPARSE_POINT)
            .open(path)?;
        let meta = file.metadata()?;
        if sys::is_reparse_point(&meta) {
            return Err(io::Error::other(A_LINK));
        }
        if !meta.file_type().is_file() {
            return Err(io::Error::other("it is not a regular file"));
        }
        // The DACL is set through a second handle with the right to change it, checked to
        // be the same file.
        let acl = OpenOptions::new()
            .access_mode(sys::READ_AND_WRITE_DAC)
            .custom_flags(FILE_FLAG_OPEN_REPARSE_POINT)
            .open(path)?;
        if sys::identity(&acl)? != sys::identity(&file)? {
            return Err(io::Error::other("it was replaced while being opened"));
        }
        sys::make_private(&acl)?;
        Ok(file)
    }
    #[cfg(not(any(unix, windows)))]
    {
        options.open(path)
    }
}

/// Why a link at one of the export's own names is refused.
const A_LINK: &str = if cfg!(windows) {
    "it is a symbolic link or a junction"
} else {
    "it is a symbolic link"
};

/// Whether the entry `meta` describes (from `symlink_metadata`) is a link the system would
/// follow: a symbolic link, and on Windows any reparse point (a junction too).
pub fn is_link(meta: &fs::Metadata) -> bool {
    #[cfg(windows)]
    if crate::sys_windows::is_reparse_point(meta) {
        return true;
    }
    meta.file_type().is_symlink()
}

/// Opens one of the export's own files for reading only, never through a symbolic link, and
/// leaves its mode as it was: a file refused after reading keeps its bytes and its mode.
fn open_to_read(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(O_NOFOLLOW);
    }
    #[cfg(windows)]
    {
        use std::os::windows::fs::OpenOptionsExt;
        options.custom_flags(crate::sys_windows::FILE_FLAG_OPEN_REPARSE_POINT);
    }
    let file = options.open(path)?;
    let meta = file.metadata()?;
    if is_link(&meta) {
        return Err(io::Error::other(A_LINK));
    }
    if !meta.file_type().is_file() {
        return Err(io::Error::other("it is not a regular file"));
    }
    Ok(file)
}

/// Removes whatever is at `path` (a file or a symbolic link, never what a link points to), so
/// that the name can be created afresh with `create_new`; a missing file is fine.
pub fn unlink(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        // A directory link (a junction, a directory symbolic link) on Windows is removed as
        // the empty directory it stands for; what it points to is left alone.
        #[cfg(windows)]
        Err(_)
            if fs::symlink_metadata(path).is_ok_and(|meta| {
                std::os::windows::fs::FileTypeExt::is_symlink_dir(&meta.file_type())
            }) =>
        {
            fs::remove_dir(path)
        }
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Why one of the export's own files could not be read.
pub(crate) enum ReadFailure {
    NotAFile,
    Io(io::Error),
}

/// Reads one of the export's own files (a state, a ledger) as text, at most `max` bytes and
/// one more (so that a larger file shows as too large); `None` if there is none. Anything that
/// is not a regular file is refused without being opened (a FIFO would hang the run).
pub(crate) fn read_private(path: &Path, max: u64) -> Result<Option<String>, ReadFailure> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ReadFailure::Io(e)),
        Ok(meta) if !meta.file_type().is_file() => return Err(ReadFailure::NotAFile),
        Ok(_) => {}
    }
    let mut bytes = Vec::new();
    open_to_read(path)
        .and_then(|file| file.take(max.saturating_add(1)).read_to_end(&mut bytes))
        .map_err(ReadFailure::Io)?;
    // Invalid UTF-8 reads as replacement characters, which no parser here accepts.
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

/// Writes `text` and a newline to `path` atomically, in one write: a temporary file of this
/// process's own beside it (created exclusively, mode 0600), fsync, rename, fsync of the
/// directory. The crash point `crash_point` leaves half a temporary file, as a power cut might.
pub(crate) fn write_atomically(path: &Path, text: Vec<u8>, crash_point: &str) -> io::Result<()> {
    replace_atomically(path, text, crash_point)?;
    sync_dir(path)
}

/// `write_atomically` without the fsync of the directory, for a file replaced again and
/// again whose name is already durable (the state after its first save): after a power cut
/// `path` holds the old text or the new, each complete, and either is a valid one.
pub(crate) fn replace_atomically(
    path: &Path,
    mut text: Vec<u8>,
    crash_point: &str,
) -> io::Result<()> {
    if !text.ends_with(b"\n") {
        text.push(b'\n');
    }
    let tmp = with_suffix(path, &format!(".{}.tmp", std::process::id()));
    // A temporary file left by a crash of a process with the same id is ours to replace;
    // anything planted at the name (a symbolic link) is removed, never followed.
    unlink(&tmp)?;
    let mut file = open_private(&tmp, OpenOptions::new().write(true).create_new(true))?;
    crate::crash::reach(crash_point, || {
        let _ = file.write_all(text.get(..text.len() / 2).unwrap_or_default());
        let _ = file.sync_data();
    });
    file.write_all(&text)?;
    file.sync_data()?;
    fs::rename(&tmp, path)
}

/// Removes temporary state files that crashed runs left beside `path`. Only while the
/// export's lock is held: then no other run is writing one.
pub fn remove_stale_temporaries(path: &Path) -> Result<()> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Ok(());
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let prefix = format!("{}.", name.to_string_lossy());
    let is_stale = |entry: &str| {
        entry
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(".tmp"))
            .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
    };
    let entries =
        fs::read_dir(dir).with_context(|| output(format!("cannot list {}", dir.display())))?;
    for entry in entries.flatten() {
        if is_stale(&entry.file_name().to_string_lossy()) {
            let stale = entry.path();
            fs::remove_file(&stale)
                .with_context(|| output(format!("cannot remove {}", stale.display())))?;
        }
    }
    Ok(())
}

/// Makes a rename or removal in `path`'s directory durable.
pub fn sync_dir(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        File::open(dir)?.sync_all()?;
    }
    let _ = path;
    Ok(())
}

/// `path` with `suffix` appended to its file name.
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}
