//! Large job-result bodies in unlinked temporary files, so memory stays flat whatever a page's
//! size. It creates only files it unlinks at once, in the temporary directory, and never
//! touches the export's own files.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

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
    /// A held text's buffer serves the next page (`spare_buffer`), unless the one kept
    /// already is larger.
    fn drop(&mut self) {
        if let Held::Text(text) = self {
            let buffer = std::mem::take(text).into_bytes();
            if let Ok(mut spare) = SPARE_BUFFER.lock() {
                if spare
                    .as_ref()
                    .is_none_or(|kept| kept.capacity() < buffer.capacity())
                {
                    *spare = Some(buffer);
                }
            }
        }
    }
}

/// The buffer of the last held page written, for the next page read (`spare_buffer`): a page
/// of results is read into memory mapped and touched already, not into a fresh mapping each
/// of whose pages faults in. One is kept: while a page is written the next is read.
static SPARE_BUFFER: Mutex<Option<Vec<u8>>> = Mutex::new(None);

/// The last held page's buffer, still holding its bytes (to be overwritten, not zeroed
/// again), where there is one; else an empty one.
pub(super) fn spare_buffer() -> Vec<u8> {
    let spare = SPARE_BUFFER.lock().ok().and_then(|mut spare| spare.take());
    spare.unwrap_or_default()
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
