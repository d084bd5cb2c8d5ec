//! The resume state: where an export to a file stands, saved after every committed page.
//!
//! The state names the top-level window in progress, the stack of sub-windows it was split
//! into, the next page, and two lengths of `FILE.partial`: where the top-level window's rows
//! begin and where the committed rows end. Resuming cuts the file back to the second length
//! (dropping rows written after the last save) and re-reads the rows from the first length to
//! rebuild the window's id set, so nothing is written twice.
//!
//! It is written atomically (temporary file, fsync, rename, fsync of the directory) and holds
//! no secret: only the command's shape, positions and lengths.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::exit::{output, usage, usage_context};
use crate::export::{JobCursor, Position};
use crate::window::{self, Window};

/// Bumped whenever the meaning of a saved field changes.
pub const VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    /// Everything that shapes the output, as text; a resume must match it exactly.
    pub fingerprint: String,
    /// Index of the top-level window in progress (or next to start when `stack` is empty).
    pub top_index: u64,
    /// Windows still to export within that top-level window; the last is in progress.
    pub stack: Vec<SavedWindow>,
    /// The next page of the window in progress.
    pub next_page: u32,
    /// Length of `FILE.partial` where the top-level window's rows begin.
    pub window_offset: u64,
    /// Length of `FILE.partial` covered by this state.
    pub output_len: u64,
    /// Where jobs hand over to the query (the availability date the run started with).
    pub split_at: String,
    /// The job of the window in progress, if it goes through jobs.
    #[serde(default)]
    pub job: Option<SavedJob>,
    /// The job results page size the API accepted.
    pub job_page_size: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedJob {
    pub id: String,
    pub cursor: Option<String>,
}

impl State {
    /// The state of an export at `position`, covering `output_len` bytes of the output.
    pub fn new(
        position: &Position,
        output_len: u64,
        fingerprint: &str,
        split_at: OffsetDateTime,
    ) -> State {
        State {
            version: VERSION,
            fingerprint: fingerprint.to_string(),
            top_index: position.top_index,
            stack: position.stack.iter().map(SavedWindow::from).collect(),
            next_page: position.next_page,
            window_offset: position.window_offset,
            output_len,
            split_at: window::api_timestamp(split_at),
            job: position.job.as_ref().map(|job| SavedJob {
                id: job.id.clone(),
                cursor: job.cursor.clone(),
            }),
            job_page_size: position.job_page_size,
        }
    }

    /// The position to resume from; `path` names the file in an error.
    pub fn position(&self, path: &Path) -> Result<Position> {
        let stack = self
            .stack
            .iter()
            .map(SavedWindow::to_window)
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| damaged(path, "a window does not parse"))?;
        Ok(Position {
            top_index: self.top_index,
            stack,
            next_page: self.next_page.max(1),
            job: self.job.as_ref().map(|job| JobCursor {
                id: job.id.clone(),
                cursor: job.cursor.clone(),
            }),
            job_page_size: self.job_page_size.max(1),
            window_offset: self.window_offset,
        })
    }

    /// Where jobs hand over to the query in the run this state belongs to.
    pub fn split_at(&self, path: &Path) -> Result<OffsetDateTime> {
        window::parse_api_timestamp(&self.split_at)
            .ok_or_else(|| damaged(path, "split_at does not parse"))
    }
}

fn damaged(path: &Path, what: &str) -> anyhow::Error {
    usage(format!(
        "{} is damaged ({what}): {}",
        path.display(),
        start_over(path)
    ))
}

/// The way out of a state that cannot be resumed, for error messages.
pub fn start_over(path: &Path) -> String {
    format!(
        "pass --restart to start the export over, or delete {}",
        path.display()
    )
}

/// A window as saved: RFC 3339 bounds, readable by a person looking at the file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedWindow {
    pub start: String,
    pub end: String,
}

impl From<&Window> for SavedWindow {
    fn from(w: &Window) -> SavedWindow {
        SavedWindow {
            start: window::api_timestamp(w.start),
            end: window::api_timestamp(w.end),
        }
    }
}

impl SavedWindow {
    pub fn to_window(&self) -> Option<Window> {
        Some(Window {
            start: window::parse_api_timestamp(&self.start)?,
            end: window::parse_api_timestamp(&self.end)?,
        })
    }
}

/// The parts of a command that decide what its output holds.
pub struct Shape<'a> {
    pub from: OffsetDateTime,
    pub to: OffsetDateTime,
    pub window: std::time::Duration,
    pub format: &'a str,
    pub columns: &'a [&'a str],
    pub page_size: u32,
    pub ended_only: bool,
    pub mode: &'a str,
    pub api_base: &'a str,
}

/// The fingerprint of a command's shape: a readable line, so a mismatch can be explained.
pub fn fingerprint(shape: &Shape) -> String {
    format!(
        "from={} to={} window={}s format={} columns={} page-size={} ended-only={} mode={} api={}",
        window::api_timestamp(shape.from),
        window::api_timestamp(shape.to),
        shape.window.as_secs_f64(),
        shape.format,
        shape.columns.join(","),
        shape.page_size,
        shape.ended_only,
        shape.mode,
        shape.api_base,
    )
}

/// `FILE.state`, the default state path for an export to `FILE`.
pub fn default_path(output: &Path) -> PathBuf {
    let mut name = output.as_os_str().to_owned();
    name.push(".state");
    PathBuf::from(name)
}

/// Reads a saved state; `None` if there is none. A state this build cannot read, or one of a
/// newer format, is a usage error that names the way out.
pub fn load(path: &Path) -> Result<Option<State>> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(e).with_context(|| {
                usage_context(format!("cannot read the state file {}", path.display()))
            })
        }
    };
    #[derive(Deserialize)]
    struct Versioned {
        version: u32,
    }
    let restart = start_over(path);
    let version = serde_json::from_str::<Versioned>(&text)
        .map_err(|_| {
            usage(format!(
                "{} is not a state file of this tool: {restart}",
                path.display()
            ))
        })?
        .version;
    if version > VERSION {
        return Err(usage(format!(
            "{} was written by a newer genesys-export (state version {version}, this one reads {VERSION}): use that version, or {restart}",
            path.display()
        )));
    }
    let state = serde_json::from_str::<State>(&text).map_err(|e| damaged(path, &e.to_string()))?;
    Ok(Some(state))
}

/// Writes the state atomically: a reader (or a resumed run after a crash) sees the old state
/// or the new one, never a mix.
pub fn save(path: &Path, state: &State) -> Result<()> {
    let tmp = {
        let mut name = path.as_os_str().to_owned();
        name.push(".tmp");
        PathBuf::from(name)
    };
    let text = serde_json::to_vec_pretty(state)?;
    let write = || -> io::Result<()> {
        let mut file = File::create(&tmp)?;
        crash_point::reach("state-write", || {
            // Half a state file on disk, as a power cut might leave it.
            let _ = file.write_all(&text[..text.len() / 2]);
            let _ = file.sync_data();
        });
        file.write_all(&text)?;
        file.write_all(b"\n")?;
        file.sync_data()?;
        fs::rename(&tmp, path)?;
        sync_dir(path)
    };
    write().with_context(|| output(format!("cannot save the state file {}", path.display())))?;
    crash_point::reach("state-saved", || {});
    Ok(())
}

/// Removes the state once the export is complete.
pub fn remove(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => sync_dir(path)
            .with_context(|| output(format!("cannot remove the state file {}", path.display()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e)
            .with_context(|| output(format!("cannot remove the state file {}", path.display()))),
    }
}

/// Makes a rename or removal in `path`'s directory durable.
fn sync_dir(path: &Path) -> io::Result<()> {
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

/// Deliberate crashes at named points, for the resume tests. Debug builds only: the release
/// binary contains none of this.
///
/// `GENESYS_EXPORT_CRASH_AT=point:n` aborts the process the n-th time `point` is reached
/// (`state-write`: half-way through writing the temporary state file; `state-saved`: right
/// after a state is saved; `page-written`: after a page is synced, before its state is saved).
pub mod crash_point {
    #[cfg(debug_assertions)]
    pub fn reach(point: &str, before_abort: impl FnOnce()) {
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNT: AtomicU64 = AtomicU64::new(0);
        let Ok(spec) = std::env::var("GENESYS_EXPORT_CRASH_AT") else {
            return;
        };
        let Some((name, n)) = spec.split_once(':') else {
            return;
        };
        if name != point {
            return;
        }
        let reached = COUNT.fetch_add(1, Ordering::SeqCst) + 1;
        if n.parse::<u64>() == Ok(reached) {
            before_abort();
            std::process::abort();
        }
    }

    #[cfg(not(debug_assertions))]
    pub fn reach(_point: &str, _before_abort: impl FnOnce()) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn shape(page_size: u32) -> String {
        fingerprint(&Shape {
            from: datetime!(2026-11-01 00:00 UTC),
            to: datetime!(2026-11-08 00:00 UTC),
            window: std::time::Duration::from_secs(3600),
            format: "csv",
            columns: &["a", "b"],
            page_size,
            ended_only: false,
            mode: "query",
            api_base: "https://api.mypurecloud.ie",
        })
    }

    #[test]
    fn fingerprint_names_every_part_and_changes_with_it() {
        assert_eq!(
            shape(100),
            "from=2026-11-01T00:00:00.000Z to=2026-11-08T00:00:00.000Z window=3600s format=csv \
columns=a,b page-size=100 ended-only=false mode=query api=https://api.mypurecloud.ie"
        );
        assert_ne!(shape(100), shape(50));
    }

    #[test]
    fn state_round_trips_through_json() {
        let w = Window {
            start: datetime!(2026-11-01 00:00 UTC),
            end: datetime!(2026-11-01 00:30 UTC),
        };
        let state = State {
            version: VERSION,
            fingerprint: shape(100),
            top_index: 3,
            stack: vec![SavedWindow::from(&w)],
            next_page: 7,
            window_offset: 120,
            output_len: 4567,
            split_at: "2026-11-05T00:00:00.000Z".into(),
            job: Some(SavedJob {
                id: "j-1".into(),
                cursor: Some("c/2".into()),
            }),
            job_page_size: 1000,
        };
        let text = serde_json::to_string(&state).unwrap();
        assert!(!text.contains("secret") && !text.contains("token"));
        let back: State = serde_json::from_str(&text).unwrap();
        assert_eq!(back, state);
        assert_eq!(back.stack[0].to_window(), Some(w));
    }

    #[test]
    fn state_path_sits_beside_the_output() {
        assert_eq!(
            default_path(Path::new("out/c.csv")),
            PathBuf::from("out/c.csv.state")
        );
    }
}
