//! Large job-result bodies in unlinked temporary files, so memory stays flat whatever a page's
//! size. It creates only files it unlinks at once, in the temporary directory, and never
//! touches the export's own files.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::sync::atomic::{AtomicU64, Ordering};

/// Where a 2xx body goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Receive {
    InMemory,
    /// Into memory while small, to a `Spool` beyond: for replies whose size the API decides
    /// (job results).
    Spooled,
}

/// A body asked for spooled, once read: its text, held in memory while it is small (at most
/// `agent::HELD_BYTES`), or its spool.
pub enum Held {
    Text(String),
    Spooled(Spool),
}

impl Drop for Held {
    /// A held text's buffer serves a later reply (`spare::give_back`).
    fn drop(&mut self) {
        if let Held::Text(text) = self {
            super::spare::give_back(std::mem::take(text).into_bytes());
        }
    }
}

/// A reply body in an unlinked temporary file (mode 0600; it holds phone numbers): memory
/// stays flat whatever the page size, and the body can be read more than once. The file has
/// no name from the moment it is created, and is gone when the spool is dropped.
pub struct Spool {
    file: File,
}

impl Spool {
    pub(super) fn new() -> std::io::Result<Spool> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir();
        loop {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let path = dir.join(format!("genesys-export-{}-{n}.spool", std::process::id()));
            let mut options = OpenOptions::new();
            options.read(true).write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            match options.open(&path) {
                Ok(file) => {
                    std::fs::remove_file(&path)?;
                    return Ok(Spool { file });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Back to the first byte.
    pub fn rewind(&mut self) -> std::io::Result<()> {
        self.file.seek(SeekFrom::Start(0)).map(drop)
    }
}

impl Read for Spool {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.file.read(buf)
    }
}

impl Write for Spool {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}
