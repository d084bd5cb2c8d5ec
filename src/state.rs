//! The resume state: where an export to a file stands, saved after every committed page.
//!
//! The state names the top-level window in progress, the stack of sub-windows it was split
//! into, the next page or job cursor, the jobs submitted ahead for later windows, and two
//! lengths of `FILE.partial`: where the top-level window's rows begin and where the committed
//! rows end, with a digest of the bytes up to there. Resuming checks the digest, cuts the file back to the second length (dropping rows
//! written after the last save) and re-reads the rows from the first length to rebuild the
//! window's id set, so nothing is written twice.
//!
//! Nothing in a state file is trusted: `State::position` checks every field against the
//! command's plan (positions inside the range, offsets inside the covered length) and refuses
//! anything inconsistent. The file is written atomically (a temporary file of its own, fsync,
//! rename, fsync of the directory) and holds no secret: only the command's shape, positions,
//! lengths and a digest.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::digest::BLOCK;
use crate::disk::{
    read_private, replace_atomically, sync_dir, with_suffix, write_atomically, ReadFailure,
};
use crate::exit::{output, usage, usage_context};
use crate::export::{self, AheadJob, FollowUp, JobCursor, Mode, Plan, Position, Route};
use crate::filters::Filters;
use crate::pending;
use crate::sink::{Digest, Mark};
use crate::window::{self, Window};

/// Bumped whenever the meaning of a saved field changes (3: jobs cover the lake part in
/// pieces of up to 31 days, whatever `--window` says, and jobs ahead are saved; 4: the
/// digests are `sink::Digest`'s word-at-a-time state, no longer FNV-1a; 5: the digest takes
/// 32 bytes at a time, and its state holds up to 31 waiting).
pub const VERSION: u32 = 5;
/// More jobs ahead than this in a state is not one of ours.
const MAX_SAVED_AHEAD: usize = 16;
/// A state file larger than this is not one of ours (real ones are a few hundred bytes).
const MAX_STATE_BYTES: u64 = 1024 * 1024;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
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
    /// The digest of those bytes (`sink::Digest`'s state), in hex.
    pub output_digest: String,
    /// Where jobs hand over to the query (the availability date the run started with).
    pub split_at: String,
    /// The job of the window in progress, if it goes through jobs.
    #[serde(default)]
    pub job: Option<SavedJob>,
    /// The job results page size the API accepted.
    pub job_page_size: u32,
    /// Jobs submitted ahead for later windows: reused when their window comes, deleted when
    /// no window to come is theirs.
    #[serde(default)]
    pub ahead: Vec<SavedAhead>,
    /// While the follow-up of a `--pending` ledger is in progress, how far it got; absent once
    /// it is done, or when the run has no ledger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_up: Option<SavedFollowUp>,
    /// A dataset's (`--tables`) other files, each with the length and digest covered; the
    /// output fields above are its `conversations.csv`. Absent for a single file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tables: Vec<SavedTable>,
}

/// One table file of a dataset, as far as a state covers it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedTable {
    pub file: String,
    pub len: u64,
    pub digest: String,
}

/// The follow-up of the ledger in progress: the ledger's ids are followed up in ascending
/// order, and every id up to `after` (none yet: absent) is handled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedFollowUp {
    #[serde(default)]
    pub after: Option<String>,
}

/// A job submitted ahead, with the window it was submitted for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedAhead {
    pub start: String,
    pub end: String,
    pub id: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedJob {
    pub id: String,
    pub cursor: Option<String>,
}

impl State {
    /// The state of an export at `position`, covering the output up to `mark`.
    pub fn new(
        position: &Position,
        mark: Mark,
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
            output_len: mark.len,
            output_digest: hex(mark.digest),
            split_at: window::api_timestamp(split_at),
            job: position.job.as_ref().map(|job| SavedJob {
                id: job.id.clone(),
                cursor: job.cursor.clone(),
            }),
            job_page_size: position.job_page_size,
            ahead: position
                .ahead
                .iter()
                .map(|a| {
                    let w = SavedWindow::from(&a.window);
                    SavedAhead {
                        start: w.start,
                        end: w.end,
                        id: a.id.clone(),
                    }
                })
                .collect(),
            follow_up: position.follow_up.as_ref().map(|f| SavedFollowUp {
                after: f.after.clone(),
            }),
            tables: Vec::new(),
        }
    }

    /// The state of a dataset: `marks` covers its files named `files`, the first the one ids
    /// are read back from (the output fields).
    pub fn with_tables(mut self, files: &[String], marks: &[Mark]) -> State {
        let mut files = files.iter().zip(marks);
        if let Some((_, first)) = files.next() {
            self.output_len = first.len;
            self.output_digest = hex(first.digest);
        }
        self.tables = files
            .map(|(file, mark)| SavedTable {
                file: file.clone(),
                len: mark.len,
                digest: hex(mark.digest),
            })
            .collect();
        self
    }

    /// What the state says of each of a dataset's files named `files` (in the order
    /// `with_tables` took them): they must be those it recorded.
    pub fn table_marks(&self, files: &[String]) -> Result<Vec<Mark>, String> {
        let saved: Vec<&str> = self.tables.iter().map(|t| t.file.as_str()).collect();
        if files
            .get(1..)
            .is_none_or(|rest| rest.iter().map(String::as_str).ne(saved.iter().copied()))
        {
            return Err(format!(
                "it records the files {} of a dataset",
                saved.join(", ")
            ));
        }
        let mut marks = vec![self.mark()?];
        for table in &self.tables {
            let digest = parse_hex(&table.digest, table.len)
                .ok_or("a table's digest is not a digest of its length in hex")?;
            marks.push(Mark {
                len: table.len,
                digest,
            });
        }
        Ok(marks)
    }

    /// What the state says of the output: its committed length and the digest of those bytes.
    pub fn mark(&self) -> Result<Mark, String> {
        let digest = parse_hex(&self.output_digest, self.output_len)
            .ok_or("output_digest is not a digest of output_len in hex")?;
        Ok(Mark {
            len: self.output_len,
            digest,
        })
    }

    /// Where jobs hand over to the query in the run this state belongs to; it must lie in
    /// the range.
    pub fn split_at(&self, plan: &Plan) -> Result<OffsetDateTime, String> {
        let at = window::parse_api_timestamp(&self.split_at).ok_or("split_at does not parse")?;
        if at < plan.from || at > plan.to {
            return Err("split_at lies outside the range".to_string());
        }
        Ok(at)
    }

    /// The position to resume from, checked against `plan` (whose `split_at` is the state's):
    /// the window index inside the range, the split windows inside that window and in order,
    /// the page and page size in the API's bounds, a job only on the jobs route, and the
    /// window's rows inside the covered output.
    pub fn position(&self, plan: &Plan) -> Result<Position, String> {
        self.check_bounds(plan)?;
        let stack = self.saved_stack(plan)?;
        let job = self.saved_job()?;
        let ahead = self.saved_ahead(plan)?;
        let follow_up = match &self.follow_up {
            None => None,
            Some(_) if self.top_index != 0 || !stack.is_empty() || !ahead.is_empty() => {
                return Err("a follow-up of the ledger after the range began".to_string());
            }
            Some(SavedFollowUp { after: Some(id) }) if !pending::valid_id(id) => {
                return Err("the follow-up of the ledger names an invalid id".to_string());
            }
            Some(saved) => Some(FollowUp {
                after: saved.after.clone(),
            }),
        };
        Ok(Position {
            follow_up,
            top_index: self.top_index,
            stack,
            next_page: self.next_page,
            job,
            ahead,
            job_page_size: self.job_page_size,
            window_offset: self.window_offset,
        })
    }

    /// The window index inside the range, the offsets inside the output, the page and the
    /// job page size in the API's bounds.
    fn check_bounds(&self, plan: &Plan) -> Result<(), String> {
        let count = plan.window_count();
        if self.top_index > count {
            return Err(format!(
                "top_index {} lies past the range's {count} windows",
                self.top_index
            ));
        }
        if self.window_offset > self.output_len {
            return Err("window_offset lies past output_len".to_string());
        }
        let page_cap = export::RESULT_CAP / u64::from(plan.page_size.max(1));
        if self.next_page == 0 || u64::from(self.next_page) > page_cap.saturating_add(1) {
            return Err(format!("next_page {} is out of bounds", self.next_page));
        }
        if !(1..=export::JOB_PAGE_SIZE_MAX).contains(&self.job_page_size) {
            return Err(format!(
                "job_page_size {} is out of bounds",
                self.job_page_size
            ));
        }
        Ok(())
    }

    /// The split windows of the window in progress, inside it and in order; a page or a job
    /// only with a window in progress, and each on its own route.
    fn saved_stack(&self, plan: &Plan) -> Result<Vec<Window>, String> {
        let stack = self
            .stack
            .iter()
            .map(SavedWindow::to_window)
            .collect::<Option<Vec<_>>>()
            .ok_or("a window does not parse")?;
        let top = usize::try_from(self.top_index)
            .ok()
            .and_then(|i| plan.windows().nth(i));
        match (&top, stack.is_empty()) {
            (_, true) if self.job.is_some() || self.next_page != 1 => {
                return Err("a page or job without a window in progress".to_string());
            }
            (None, false) => return Err("split windows past the last window".to_string()),
            _ => {}
        }
        if let Some((route, top)) = top.filter(|_| !stack.is_empty()) {
            check_stack(&stack, &top)?;
            if route == Route::Query && self.job.is_some() {
                return Err("a job in a window of the details query".to_string());
            }
            if route == Route::Jobs && self.next_page != 1 {
                return Err("a page number in a window of a job".to_string());
            }
        }
        Ok(stack)
    }

    /// The job being paged, if any: a non-empty id and cursor.
    fn saved_job(&self) -> Result<Option<JobCursor>, String> {
        match &self.job {
            Some(job) if job.id.trim().is_empty() => Err("an empty job id".to_string()),
            Some(job) if job.cursor.as_deref() == Some("") => {
                Err("an empty job cursor".to_string())
            }
            Some(job) => Ok(Some(JobCursor {
                id: job.id.clone(),
                cursor: job.cursor.clone(),
            })),
            None => Ok(None),
        }
    }

    /// The jobs submitted ahead: no more than are ever saved, each window inside the range.
    fn saved_ahead(&self, plan: &Plan) -> Result<Vec<AheadJob>, String> {
        if self.ahead.len() > MAX_SAVED_AHEAD {
            return Err(format!(
                "{} jobs ahead, more than ever saved",
                self.ahead.len()
            ));
        }
        let mut ahead = Vec::with_capacity(self.ahead.len());
        for saved in &self.ahead {
            let window = SavedWindow {
                start: saved.start.clone(),
                end: saved.end.clone(),
            }
            .to_window()
            .ok_or("a window of a job ahead does not parse")?;
            if window.start >= window.end || window.start < plan.from || window.end > plan.to {
                return Err(format!(
                    "the window {} of a job ahead lies outside the range",
                    window.interval()
                ));
            }
            if saved.id.trim().is_empty() {
                return Err("an empty job id".to_string());
            }
            ahead.push(AheadJob {
                window,
                id: saved.id.clone(),
            });
        }
        Ok(ahead)
    }
}

/// A digest as a state writes it: the hash in 16 hex digits, the tail (the bytes after the
/// last whole block) in 64, then the tail's length.
fn hex(digest: Digest) -> String {
    let mut text = format!("{:016x}", digest.hash);
    for b in digest.tail {
        text.push_str(&format!("{b:02x}"));
    }
    text + &digest.tail_len.to_string()
}

/// A digest written by `hex`, of `len` bytes: its tail must hold the bytes after the last
/// whole block of them.
fn parse_hex(text: &str, len: u64) -> Option<Digest> {
    let number = |range| {
        let digits = text.get(range)?;
        u64::from_str_radix(digits, 16).ok()
    };
    let tail_at = |i: usize| {
        let at = 16usize.checked_add(i.checked_mul(2)?)?;
        u8::try_from(number(at..at.checked_add(2)?)?).ok()
    };
    let mut tail = [0u8; BLOCK];
    for (i, b) in tail.iter_mut().enumerate() {
        *b = tail_at(i)?;
    }
    let digits = 16 + 2 * BLOCK;
    let digest = Digest {
        hash: number(0..16)?,
        tail,
        tail_len: text.get(digits..).and_then(|d| d.parse().ok())?,
    };
    // Written exactly as `hex` writes it: no sign, no leading zero, no upper case.
    let valid = hex(digest) == text
        && digest.is_valid()
        && u64::from(digest.tail_len) == len % BLOCK as u64;
    valid.then_some(digest)
}

/// Split windows lie inside their top-level window, are not empty, and are stacked with the
/// current (earliest) one last.
fn check_stack(stack: &[Window], top: &Window) -> Result<(), String> {
    for w in stack {
        if w.start >= w.end || w.start < top.start || w.end > top.end {
            return Err(format!(
                "window {} lies outside window {}",
                w.interval(),
                top.interval()
            ));
        }
    }
    for pair in stack.windows(2) {
        if pair[1].end > pair[0].start {
            return Err("split windows overlap or are out of order".to_string());
        }
    }
    Ok(())
}

/// The error for a state that cannot be believed: names the file and the way out.
pub fn damaged(path: &Path, what: &str) -> anyhow::Error {
    usage(format!(
        "{} cannot be resumed ({what}): {}",
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
#[serde(deny_unknown_fields)]
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

/// The fingerprint of everything that shapes an export's output: a readable line, so a
/// mismatch can be explained. Filters are those given (queues by id or name, canonical), and
/// appear only when there are some, so an unfiltered export's fingerprint is unchanged.
pub fn fingerprint(plan: &Plan, mode: Mode, api_base: &str, filters: &Filters) -> String {
    let filters = match filters.fingerprint() {
        text if text.is_empty() => text,
        text => format!(" filters: {text}"),
    };
    // Only beside another zone than UTC, so that states saved before `--tz` still resume.
    let zone = match plan.zone == crate::tz::UTC {
        true => String::new(),
        false => format!(" tz={}", plan.zone.fingerprint(plan.from, plan.to)),
    };
    // Rows written raw and rows guarded must not meet in one file; only beside raw ones, so
    // that states saved before the guard still resume.
    let formulas = match plan.formulas {
        crate::formula::Formulas::Guarded => "",
        crate::formula::Formulas::Raw => " formulas=raw",
    };
    format!(
        "from={} to={} window={}s format={} columns={} page-size={} ended-only={} mode={} api={}{}{zone}{formulas}",
        window::api_timestamp(plan.from),
        window::api_timestamp(plan.to),
        plan.window.as_secs_f64(),
        plan.format.name(),
        crate::rows::header(&plan.columns, &plan.attributes).join(","),
        plan.page_size,
        plan.ended_only,
        mode.name(),
        api_base,
        filters,
    )
}

/// `FILE.state`, the default state path for an export to `FILE`.
pub fn default_path(output: &Path) -> PathBuf {
    with_suffix(output, ".state")
}

/// Reads a saved state; `None` if there is none. Anything that is not a regular file is
/// refused without being opened for reading (a FIFO would hang the run); a state this build
/// cannot read, or one of another format version, is a usage error that names the way out.
pub fn load(path: &Path) -> Result<Option<State>> {
    let cannot_read = || usage_context(format!("cannot read the state file {}", path.display()));
    match read_private(path, MAX_STATE_BYTES) {
        Ok(None) => Ok(None),
        Ok(Some(text)) => parse(&text).map(Some).map_err(|why| damaged(path, &why)),
        Err(ReadFailure::NotAFile) => Err(damaged(path, "it is not a regular file")),
        Err(ReadFailure::Io(e)) => Err(e).with_context(cannot_read),
    }
}

/// Parses a state file's text; the error says what is wrong.
pub fn parse(text: &str) -> Result<State, String> {
    pending::check_version(
        text,
        MAX_STATE_BYTES,
        "state",
        VERSION,
        "it is too large to be a state file",
        "it is not a state file of this tool",
    )?;
    serde_json::from_str::<State>(text).map_err(|e| format!("it does not parse: {e}"))
}

/// Writes the state atomically: a reader (or a resumed run after a crash) sees the old state
/// or the new one, never a mix. The temporary file is this process's own, created exclusively
/// with mode 0600. The directory is synced when the save is to be `durable` (the first of a
/// run, whose name must last); otherwise a power cut may leave the state saved before the
/// last, which covers less of the synced output and is as valid: the resume cuts the rest off
/// and fetches it again.
pub fn save(path: &Path, state: &State, durable: bool) -> Result<()> {
    let text = serde_json::to_vec_pretty(state)?;
    let written = if durable {
        write_atomically(path, text, "state-write")
    } else {
        replace_atomically(path, text, "state-write")
    };
    written.with_context(|| output(format!("cannot save the state file {}", path.display())))?;
    crate::crash::reach("state-saved", || {});
    Ok(())
}

/// Removes the state once the export is complete.
pub fn remove(path: &Path) -> Result<()> {
    remove_named(path, "the state file")
}

/// Removes `path`, `what` in a message, durably (its directory synced); a missing file is
/// no error.
pub fn remove_named(path: &Path, what: &str) -> Result<()> {
    let cannot = || output(format!("cannot remove {what} {}", path.display()));
    match fs::remove_file(path) {
        Ok(()) => sync_dir(path).with_context(cannot),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(cannot),
    }
}

#[cfg(test)]
mod tests {
    use crate::digest::BLOCK;

    /// A digest of 4 567 bytes as a state writes it: hash 255, a tail of 23 bytes.
    const DIGEST: &str =
        "00000000000000ff0c0b0a000000000000000000000000000000000000000000000000000000000023";
    use super::*;
    use crate::api::QueryFilters;
    use crate::sink::Format;
    use std::time::Duration;
    use time::macros::datetime;

    fn shape(page_size: u32) -> String {
        let plan = Plan {
            page_size,
            to: datetime!(2026-11-08 00:00 UTC),
            attributes: vec!["account".into()],
            ..plan()
        };
        fingerprint(
            &plan,
            Mode::Query,
            "https://api.mypurecloud.ie",
            &Filters::default(),
        )
    }

    /// Jobs for the first day, the query for the second: 48 windows of an hour.
    fn plan() -> Plan {
        Plan {
            from: datetime!(2026-11-01 00:00 UTC),
            to: datetime!(2026-11-03 00:00 UTC),
            zone: crate::tz::UTC.clone(),
            window: Duration::from_secs(3600),
            page_size: 100,
            ended_only: false,
            filters: QueryFilters::default(),
            format: Format::Csv,
            columns: crate::columns::default_columns(),
            attributes: Vec::new(),
            formulas: crate::formula::Formulas::Guarded,
            split_at: datetime!(2026-11-02 00:00 UTC),
            job_poll: Duration::from_secs(1),
            job_timeout: Duration::from_secs(3600),
        }
    }

    /// A state in the middle of window 7 (a query window, after the day's one job window),
    /// split in two.
    fn saved() -> State {
        State {
            version: VERSION,
            fingerprint: shape(100),
            top_index: 7,
            stack: vec![
                SavedWindow {
                    start: "2026-11-02T06:30:00.000Z".into(),
                    end: "2026-11-02T07:00:00.000Z".into(),
                },
                SavedWindow {
                    start: "2026-11-02T06:00:00.000Z".into(),
                    end: "2026-11-02T06:30:00.000Z".into(),
                },
            ],
            next_page: 7,
            window_offset: 120,
            output_len: 4567,
            output_digest: DIGEST.into(),
            split_at: "2026-11-02T00:00:00.000Z".into(),
            job: None,
            job_page_size: 1000,
            ahead: Vec::new(),
            follow_up: None,
            tables: Vec::new(),
        }
    }

    #[test]
    fn fingerprint_names_every_part_and_changes_with_it() {
        assert_eq!(
            shape(100),
            format!(
                "from=2026-11-01T00:00:00.000Z to=2026-11-08T00:00:00.000Z window=3600s \
format=csv columns={},account page-size=100 ended-only=false mode=query \
api=https://api.mypurecloud.ie",
                crate::columns::DEFAULT.join(",")
            )
        );
        assert_ne!(shape(100), shape(50));
        let picked = Plan {
            columns: crate::columns::parse("conversation_id,t_talk").unwrap(),
            ..plan()
        };
        let picked = fingerprint(
            &picked,
            Mode::Query,
            "https://api.mypurecloud.ie",
            &Filters::default(),
        );
        assert!(
            picked.contains(" columns=conversation_id,t_talk "),
            "{picked}"
        );
    }

    /// UTC adds nothing (states saved before `--tz` still resume); another zone adds its
    /// name and the offsets over the range, so another zone or other rules change it.
    #[test]
    fn a_zone_other_than_utc_joins_the_fingerprint() {
        let with = |zone: crate::tz::Zone| {
            let plan = Plan { zone, ..plan() };
            fingerprint(&plan, Mode::Query, "https://api", &Filters::default())
        };
        let utc = with(crate::tz::UTC.clone());
        assert!(!utc.contains("tz="), "{utc}");
        let paris = with(
            crate::tz::Zone::from_posix("Europe/Paris", "CET-1CEST,M3.5.0,M10.5.0/3").unwrap(),
        );
        assert!(paris.ends_with(" tz=Europe/Paris +3600"), "{paris}");
        let fixed = with(crate::tz::Zone::fixed(time::macros::offset!(+05:30)));
        assert!(fixed.ends_with(" tz=+05:30 +19800"), "{fixed}");
        let other_rule = with(crate::tz::Zone::from_posix("Europe/Paris", "CET-2").unwrap());
        assert_ne!(paris, other_rule);
    }

    #[test]
    fn filters_join_the_fingerprint_only_when_given() {
        let with = |media: &[&str]| {
            let given = crate::filters::Given {
                media: media.iter().map(|m| m.to_string()).collect(),
                ..Default::default()
            };
            let filters = Filters::new(given, QueryFilters::default()).unwrap();
            fingerprint(&plan(), Mode::Query, "https://api", &filters)
        };
        assert!(!with(&[]).contains("filters"), "{}", with(&[]));
        assert!(with(&["voice"]).ends_with(" filters: queue=[] media=[voice] division=[] direction=[] user=[] segment-filters=[] conversation-filters=[]"));
        assert_eq!(with(&["voice", "chat"]), with(&["chat", "voice", "chat"]));
        assert_ne!(with(&["voice"]), with(&["chat"]));
    }

    #[test]
    fn state_round_trips_through_json_without_secrets() {
        let state = saved();
        let text = serde_json::to_string(&state).unwrap();
        assert!(!text.contains("secret") && !text.contains("token"));
        assert_eq!(parse(&text).unwrap(), state);
        let position = state.position(&plan()).unwrap();
        assert_eq!(position.stack.len(), 2);
        assert_eq!(position.next_page, 7);
        let mut tail = [0; BLOCK];
        tail[..3].copy_from_slice(&[0x0c, 0x0b, 0x0a]);
        let digest = Digest {
            hash: 255,
            tail,
            tail_len: 23,
        };
        assert_eq!(state.mark().unwrap().digest, digest);
    }

    /// A hand-edited state must be refused with a reason naming what is wrong.
    fn check_edit(edit: impl Fn(&mut State), why: &str) {
        let mut state = saved();
        edit(&mut state);
        let plan = plan();
        let err = state
            .split_at(&plan)
            .and_then(|_| state.mark())
            .and_then(|_| state.position(&plan))
            .expect_err(why);
        assert!(err.contains(why), "'{err}' lacks '{why}'");
    }

    #[test]
    fn hand_edited_states_are_refused() {
        check_edit(|s| s.top_index = 26, "lies past the range");
        check_edit(|s| s.top_index = 25, "split windows past the last window");
        check_edit(|s| s.top_index = 6, "lies outside window");
        check_edit(
            |s| s.stack[0].end = "2026-11-02T08:00:00.000Z".into(),
            "lies outside window",
        );
        check_edit(
            |s| s.stack[0].start = "2026-11-02T07:00:00.000Z".into(),
            "lies outside window",
        );
        check_edit(|s| s.stack.swap(0, 1), "out of order");
        check_edit(|s| s.stack[1].start = "yesterday".into(), "does not parse");
        check_edit(
            |s| s.window_offset = 4568,
            "window_offset lies past output_len",
        );
        check_edit(|s| s.next_page = 0, "next_page 0");
        check_edit(|s| s.next_page = 1002, "next_page 1002");
        check_edit(|s| s.job_page_size = 0, "job_page_size 0");
        check_edit(|s| s.job_page_size = 10_001, "job_page_size 10001");
        // A digest is the hash and the tail in hex, then the tail's length: the covered
        // length's, modulo 32, with nothing in the tail past it, written as `hex` writes it.
        let past_the_tail = format!("{}01{}", &DIGEST[..76], &DIGEST[78..]);
        let signed = format!("{}+c{}", &DIGEST[..16], &DIGEST[18..]);
        let upper = DIGEST.replace("ff", "FF");
        for bad in [
            "xyz",
            "ff",
            "00000000000000ff",
            &DIGEST.replace("23", "22"),
            &DIGEST.replace("23", "023"),
            &DIGEST.replace("23", "+23"),
            &DIGEST[..DIGEST.len() - 2],
            &past_the_tail,
            &signed,
            &upper,
        ] {
            check_edit(|s| s.output_digest = bad.into(), "output_digest");
        }
        check_edit(
            |s| s.split_at = "2027-01-01T00:00:00.000Z".into(),
            "outside the range",
        );
        check_edit(|s| s.split_at = "soon".into(), "split_at does not parse");
        let job = || {
            Some(SavedJob {
                id: "j-1".into(),
                cursor: None,
            })
        };
        check_edit(|s| s.job = job(), "a job in a window of the details query");
        check_edit(
            |s| {
                s.top_index = 3;
                s.stack.clear();
                s.job = job()
            },
            "without a window",
        );
        check_edit(
            |s| {
                s.top_index = 3;
                s.stack.truncate(0);
                s.next_page = 2
            },
            "without a window",
        );
        check_edit(
            |s| {
                s.top_index = 0;
                s.stack = vec![SavedWindow {
                    start: "2026-11-01T06:00:00.000Z".into(),
                    end: "2026-11-01T07:00:00.000Z".into(),
                }];
                s.job = Some(SavedJob {
                    id: " ".into(),
                    cursor: None,
                });
                s.next_page = 1;
            },
            "an empty job id",
        );
        let ahead = |start: &str, end: &str, id: &str| SavedAhead {
            start: start.into(),
            end: end.into(),
            id: id.into(),
        };
        let (day, next) = ("2026-11-01T00:00:00.000Z", "2026-11-02T00:00:00.000Z");
        check_edit(
            |s| s.ahead = vec![ahead(day, "2026-12-01T00:00:00.000Z", "j-2")],
            "a job ahead lies outside the range",
        );
        check_edit(
            |s| s.ahead = vec![ahead(next, day, "j-2")],
            "a job ahead lies outside the range",
        );
        check_edit(|s| s.ahead = vec![ahead(day, next, "")], "an empty job id");
        check_edit(
            |s| s.ahead = vec![ahead(day, "later", "j-2")],
            "a job ahead does not parse",
        );
        check_edit(
            |s| s.ahead = vec![ahead(day, next, "j-2"); 17],
            "17 jobs ahead",
        );
        let follow = |after: Option<&str>| {
            Some(SavedFollowUp {
                after: after.map(str::to_string),
            })
        };
        check_edit(
            |s| s.follow_up = follow(None),
            "a follow-up of the ledger after the range began",
        );
        check_edit(
            |s| {
                s.top_index = 0;
                s.stack.clear();
                s.next_page = 1;
                s.follow_up = follow(Some("a,b"));
            },
            "names an invalid id",
        );
    }

    #[test]
    fn a_follow_up_in_progress_round_trips_through_the_state() {
        let mut state = saved();
        state.top_index = 0;
        state.stack.clear();
        state.next_page = 1;
        state.follow_up = Some(SavedFollowUp {
            after: Some("c-0042".into()),
        });
        let text = serde_json::to_string(&state).unwrap();
        let position = parse(&text).unwrap().position(&plan()).unwrap();
        assert_eq!(position.follow_up.unwrap().after.as_deref(), Some("c-0042"));
        // A state without one reads as before.
        let none = serde_json::to_string(&saved()).unwrap();
        assert!(!none.contains("follow_up"));
    }

    #[test]
    fn jobs_ahead_round_trip_through_the_state() {
        let mut state = saved();
        state.ahead = vec![SavedAhead {
            start: "2026-11-01T00:00:00.000Z".into(),
            end: "2026-11-01T12:00:00.000Z".into(),
            id: "j-2".into(),
        }];
        let position = state.position(&plan()).unwrap();
        assert_eq!(position.ahead.len(), 1);
        assert_eq!(position.ahead[0].id, "j-2");
        let again = State::new(
            &position,
            state.mark().unwrap(),
            &state.fingerprint,
            datetime!(2026-11-02 00:00 UTC),
        );
        assert_eq!(again, state);
    }

    #[test]
    fn other_formats_and_strangers_are_refused() {
        let check = |text: &str, why: &str| {
            let err = parse(text).unwrap_err();
            assert!(err.contains(why), "{text}: '{err}' lacks '{why}'");
        };
        check("", "not a state file");
        check("[1,2]", "not a state file");
        check(
            r#"{"version":1}"#,
            "an older genesys-export, in state format 1",
        );
        check(
            r#"{"version":2}"#,
            "an older genesys-export, in state format 2",
        );
        check(
            r#"{"version":3}"#,
            "an older genesys-export, in state format 3",
        );
        check(
            r#"{"version":4}"#,
            "an older genesys-export, in state format 4",
        );
        check(
            r#"{"version":6}"#,
            "a newer genesys-export, in state format 6",
        );
        check(r#"{"version":5}"#, "does not parse");
        let mut text = serde_json::to_value(saved()).unwrap();
        text["surprise"] = serde_json::json!(1);
        check(&text.to_string(), "does not parse");
        check(&" ".repeat(2 * 1024 * 1024), "too large");
    }

    #[test]
    fn prop_corrupted_states_are_refused_or_resume_inside_the_plan() {
        let sample = serde_json::to_string_pretty(&saved()).unwrap();
        let plan = plan();
        crate::prop::run(|rng| {
            let text = rng.damaged_file(&sample);
            let Ok(state) = parse(&text) else { return };
            let (Ok(split_at), Ok(_)) = (state.split_at(&plan), state.mark()) else {
                return;
            };
            let plan = Plan {
                split_at,
                ..plan.clone()
            };
            if let Ok(position) = state.position(&plan) {
                assert!(position.top_index <= plan.window_count());
                assert!(position.window_offset <= state.output_len);
                assert!(position.next_page >= 1);
                let top = plan.windows().nth(position.top_index as usize);
                for w in &position.stack {
                    let (_, top) = top.expect("a stack implies a window in progress");
                    assert!(top.start <= w.start && w.end <= top.end && w.start < w.end);
                }
            }
        });
    }

    #[test]
    fn state_path_sits_beside_the_output() {
        assert_eq!(
            default_path(Path::new("out/c.csv")),
            PathBuf::from("out/c.csv.state")
        );
    }
}
