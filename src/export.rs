//! The export loop: windows → pages → conversations → sink.
//!
//! Two paths fetch a window's conversations: the synchronous details query, paged by page
//! number, and an asynchronous job (submit, poll, page the results by cursor, delete). The
//! plan sends windows older than the data lake's availability date to jobs and the rest to
//! the query. Both paths feed the same exactly-once rules:
//! - a window keeps a conversation only if its `conversationStart` lies inside the window
//!   (both APIs also return conversations of adjacent windows that overlap it), and
//! - within a top-level window an id is written once, however often shifting pages, split
//!   windows or resubmitted jobs repeat it.
//!
//! Generic over a `Source`, so it runs in memory in unit tests and against `http::Client` for
//! real. Memory is one page plus the current window's id set; every page is committed (flushed
//! and synced) and reported to `Control::checkpoint` before the next one is requested.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use serde_json::value::RawValue;
use time::OffsetDateTime;

use crate::api::{
    self, Conversation, DetailsPage, DetailsQuery, JobQuery, JobResults, JobStatus, QueueListing,
};
use crate::exit::{code_of, failure, Code};
use crate::http::{self, Client, Refused};
use crate::report::{ExportStats, Log};
use crate::rows;
use crate::sink::{Format, Sink, Target};
use crate::window::{self, Window};

/// The details query refuses to page past this many results.
pub const RESULT_CAP: u64 = 100_000;
/// A window whose first page reports more hits than this is split in two before anything is
/// written. `totalHits` is approximate, so the margin below the cap is wide.
pub const SPLIT_THRESHOLD: u64 = 80_000;
/// Windows are not split below this length.
pub const MIN_SPLIT: Duration = Duration::from_secs(60);
/// The first job results page size tried. The API's ceiling is not documented: a refusal
/// steps down to the size it names (or half), and the accepted size is kept for the run.
pub const JOB_PAGE_SIZE_START: u32 = 10_000;
/// Halving a refused job results page size stops here (a size the API names is used as is).
pub const JOB_PAGE_SIZE_MIN: u32 = 100;
/// Submissions of one window's job before a run gives up on jobs that fail or expire.
pub const MAX_JOB_SUBMISSIONS: u32 = 4;
/// Polling of a job's status backs off from `Plan::job_poll` up to this interval.
pub const MAX_JOB_POLL: Duration = Duration::from_secs(30);

/// Where pages, jobs and queue names come from.
pub trait Source {
    fn details_page(&mut self, query: &DetailsQuery) -> Result<DetailsPage>;
    /// Submits a job; returns its id.
    fn submit_job(&mut self, query: &JobQuery) -> Result<String>;
    /// A job's status; `None` when the job no longer exists.
    fn job_status(&mut self, job_id: &str) -> Result<Option<JobStatus>>;
    fn job_results(
        &mut self,
        job_id: &str,
        page_size: u32,
        cursor: Option<&str>,
    ) -> Result<JobResults>;
    fn delete_job(&mut self, job_id: &str) -> Result<()>;
    /// The names of these queues (at most 100 ids). `None` when the client may not read queues.
    fn queues(&mut self, ids: &[String]) -> Result<Option<QueueListing>>;
    /// Waits between job polls (a signal cuts the wait short with an error).
    fn wait(&mut self, duration: Duration) -> Result<()>;
    /// Retries made so far (for the per-window report).
    fn retries(&self) -> u64;
    /// Requests sent so far (for the per-path cost in the summary).
    fn requests(&self) -> u64;
}

fn needs_detail_permission(e: anyhow::Error) -> anyhow::Error {
    if code_of(&e) == Code::Forbidden {
        e.context("the OAuth client's role needs analytics:conversationDetail:view")
    } else {
        e
    }
}

impl Source for Client {
    fn details_page(&mut self, query: &DetailsQuery) -> Result<DetailsPage> {
        self.post_json(api::DETAILS_QUERY_PATH, query)
            .map_err(needs_detail_permission)
    }

    fn submit_job(&mut self, query: &JobQuery) -> Result<String> {
        let submitted: api::JobSubmitted = self
            .post_json(api::JOBS_PATH, query)
            .map_err(needs_detail_permission)?;
        Ok(submitted.job_id)
    }

    fn job_status(&mut self, job_id: &str) -> Result<Option<JobStatus>> {
        match self.get_json(&api::job_path(job_id)) {
            Ok(status) => Ok(Some(status)),
            Err(e) if refused(&e).is_some_and(|r| r.status == 404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn job_results(
        &mut self,
        job_id: &str,
        page_size: u32,
        cursor: Option<&str>,
    ) -> Result<JobResults> {
        self.get_json(&api::job_results_path(job_id, page_size, cursor))
    }

    fn delete_job(&mut self, job_id: &str) -> Result<()> {
        self.delete(&api::job_path(job_id))
    }

    fn queues(&mut self, ids: &[String]) -> Result<Option<QueueListing>> {
        match self.get_json(&api::queue_lookup_path(ids)) {
            Ok(listing) => Ok(Some(listing)),
            Err(e) if code_of(&e) == Code::Forbidden => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn wait(&mut self, duration: Duration) -> Result<()> {
        http::pause(duration)
    }

    fn retries(&self) -> u64 {
        self.stats.total_retries()
    }

    fn requests(&self) -> u64 {
        self.stats.requests
    }
}

/// Which API fetches a window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    Query,
    Jobs,
}

/// What to export.
#[derive(Clone, Debug)]
pub struct Plan {
    pub from: OffsetDateTime,
    pub to: OffsetDateTime,
    pub window: Duration,
    pub page_size: u32,
    pub ended_only: bool,
    pub format: Format,
    /// Participant attributes to add as CSV columns.
    pub attributes: Vec<String>,
    /// Windows before this instant go through jobs, the rest through the query.
    pub split_at: OffsetDateTime,
    /// The first interval between job status polls.
    pub job_poll: Duration,
}

impl Plan {
    /// The top-level windows in order, each with its path.
    fn windows(&self) -> impl Iterator<Item = (Path, Window)> {
        let split_at = self.split_at.clamp(self.from, self.to);
        let jobs = window::split(self.from, split_at, self.window).map(|w| (Path::Jobs, w));
        let query = window::split(split_at, self.to, self.window).map(|w| (Path::Query, w));
        jobs.chain(query)
    }

    fn window_count(&self) -> u64 {
        let split_at = self.split_at.clamp(self.from, self.to);
        window::count(self.from, split_at, self.window)
            + window::count(split_at, self.to, self.window)
    }
}

/// A job in progress: its id and the cursor of the next results page (`None`: the first).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobCursor {
    pub id: String,
    pub cursor: Option<String>,
}

/// Where an export stands: enough to continue it after a crash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Position {
    /// Index of the top-level window in progress, or next to start when `stack` is empty.
    pub top_index: u64,
    /// Windows left within the top-level one (its halves after a split); the last is current.
    pub stack: Vec<Window>,
    /// The next page of the current window (query path).
    pub next_page: u32,
    /// The job of the current window and where its results stand (jobs path).
    pub job: Option<JobCursor>,
    /// The job results page size the API accepts, once found.
    pub job_page_size: u32,
    /// Output offset where the top-level window's rows begin.
    pub window_offset: u64,
}

/// A resumed export: where to go on from, and the ids its top-level window already wrote.
pub struct Resume {
    pub position: Position,
    pub written: Vec<String>,
}

/// The hooks through which the loop reports progress and learns it must stop.
pub struct Control<'a> {
    /// Called after every commit with the position and the output length it covers.
    pub checkpoint: &'a mut dyn FnMut(&Position, u64) -> Result<()>,
    /// `Some(reason)` once the run must stop at the next safe point.
    pub stop: &'a dyn Fn() -> Option<String>,
}

/// Runs the whole export into `sink`, from the start or from `resume`.
pub fn run<S: Source, W: Target>(
    source: &mut S,
    sink: &mut Sink<W>,
    plan: &Plan,
    resume: Option<Resume>,
    control: Control,
    log: &Log,
) -> Result<ExportStats> {
    let (position, seen) = match resume {
        Some(resume) => (resume.position, resume.written.into_iter().collect()),
        None => {
            sink.header(&rows::header(&plan.attributes))?;
            sink.commit()?;
            let position = Position {
                top_index: 0,
                stack: Vec::new(),
                next_page: 1,
                job: None,
                job_page_size: JOB_PAGE_SIZE_START,
                window_offset: sink.position(),
            };
            (position, HashSet::new())
        }
    };
    let mut x = Exporter {
        source,
        sink,
        plan,
        log,
        control,
        pos: position,
        seen,
        names: QueueNames::default(),
        stats: ExportStats::default(),
    };
    x.save()?;
    let total = plan.window_count();
    let start = x.pos.top_index as usize;
    for (index, (path, top)) in plan.windows().enumerate().skip(start) {
        x.pos.top_index = index as u64;
        if x.pos.stack.is_empty() {
            x.pos.stack.push(top);
            x.pos.next_page = 1;
            x.pos.job = None;
            x.pos.window_offset = x.sink.position();
            x.seen.clear();
        }
        while let Some(w) = x.pos.stack.last().copied() {
            let retries_before = x.source.retries();
            let requests_before = x.source.requests();
            let outcome = match path {
                Path::Query => x.query_window(&w)?,
                Path::Jobs => x.job_window(&w)?,
            };
            x.pos.stack.pop();
            x.pos.next_page = 1;
            x.pos.job = None;
            let requests = x.source.requests() - requests_before;
            let cost = match path {
                Path::Query => &mut x.stats.query,
                Path::Jobs => &mut x.stats.jobs,
            };
            cost.requests += requests;
            match outcome {
                Outcome::Done(counts) => {
                    cost.conversations += counts.conversations;
                    x.stats.windows += 1;
                    log.info(&format!(
                        "window {} [{}/{total}, {}]: {} conversations, {} pages, {} retries",
                        w.interval(),
                        index + 1,
                        match path {
                            Path::Query => "query",
                            Path::Jobs => "job",
                        },
                        counts.conversations,
                        counts.pages,
                        x.source.retries() - retries_before
                    ));
                }
                Outcome::Split(counts, reason) => {
                    cost.conversations += counts.conversations;
                    log.info(&format!(
                        "window {}: {reason}; splitting it in two",
                        w.interval()
                    ));
                    let (first, second) = halves(&w);
                    x.pos.stack.push(second);
                    x.pos.stack.push(first);
                }
            }
            if x.pos.stack.is_empty() {
                x.pos.top_index = index as u64 + 1;
            }
            x.save()?;
        }
    }
    Ok(x.stats)
}

#[derive(Default)]
struct WindowCounts {
    conversations: u64,
    pages: u64,
}

enum Outcome {
    Done(WindowCounts),
    /// The window holds more than the API pages through: export its halves instead. The
    /// counts are of what was written before that became clear.
    Split(WindowCounts, String),
}

/// How a job ended.
enum JobEnd {
    Fulfilled,
    /// FAILED, CANCELLED, EXPIRED, or gone: the state and the job's error message.
    Lost(String),
}

struct Exporter<'a, 'c, S: Source, W: Target> {
    source: &'a mut S,
    sink: &'a mut Sink<W>,
    plan: &'a Plan,
    log: &'a Log,
    control: Control<'c>,
    pos: Position,
    /// Ids written by the current top-level window (all its sub-windows included).
    seen: HashSet<String>,
    names: QueueNames,
    stats: ExportStats,
}

impl<S: Source, W: Target> Exporter<'_, '_, S, W> {
    /// Reports the position after a commit, then stops if asked to.
    fn save(&mut self) -> Result<()> {
        (self.control.checkpoint)(&self.pos, self.sink.position())?;
        if let Some(reason) = (self.control.stop)() {
            return Err(failure(Code::Interrupted, reason));
        }
        Ok(())
    }

    /// Exports window `w` through the details query, from page `pos.next_page` on.
    fn query_window(&mut self, w: &Window) -> Result<Outcome> {
        let splittable = w.end - w.start >= MIN_SPLIT * 2;
        let mut counts = WindowCounts::default();
        loop {
            let page_number = self.pos.next_page;
            let size = self.plan.page_size;
            if u64::from(page_number) * u64::from(size) > RESULT_CAP {
                let why = format!("more than {RESULT_CAP} conversations");
                return too_big(w, splittable, counts, why);
            }
            let query = DetailsQuery::page(w.interval(), size, page_number, self.plan.ended_only);
            let page = match self.source.details_page(&query) {
                Ok(page) => page,
                Err(e) if is_pagination_limit(&e) => {
                    let why = "the API refuses to page further".to_string();
                    return too_big(w, splittable, counts, why);
                }
                Err(e) => return Err(e),
            };
            counts.pages += 1;
            self.stats.pages += 1;
            let hits = page.total_hits.unwrap_or(0);
            if page_number == 1 && hits > SPLIT_THRESHOLD && splittable {
                return Ok(Outcome::Split(
                    counts,
                    format!("{hits} conversations reported"),
                ));
            }
            let raws = page.conversations.unwrap_or_default();
            let returned = raws.len();
            counts.conversations += self.write_page(w, raws)?;
            crate::state::crash_point::reach("page-written", || {});
            if returned < size as usize {
                return Ok(Outcome::Done(counts));
            }
            self.pos.next_page += 1;
            self.save()?;
        }
    }

    /// Exports window `w` through an asynchronous job: submit (or pick up the saved job),
    /// wait for it, page its results by cursor, delete it. A job that fails, is cancelled or
    /// expires, even half-way through its results, is submitted again; rows already written
    /// are skipped by the id set.
    fn job_window(&mut self, w: &Window) -> Result<Outcome> {
        let splittable = w.end - w.start >= MIN_SPLIT * 2;
        let mut counts = WindowCounts::default();
        let mut submissions = 0;
        loop {
            let job = match self.pos.job.clone() {
                Some(job) => job,
                None => {
                    submissions += 1;
                    let query = DetailsQuery::job(w.interval(), self.plan.ended_only);
                    let id = self.source.submit_job(&query)?;
                    self.log
                        .info(&format!("job {id} submitted for {}", w.interval()));
                    let job = JobCursor { id, cursor: None };
                    self.pos.job = Some(job.clone());
                    self.save()?;
                    job
                }
            };
            if let JobEnd::Lost(why) = self.await_job(&job.id)? {
                self.drop_job(&job.id, submissions, &why)?;
                continue;
            }
            // Page the results.
            let mut cursor = job.cursor;
            loop {
                let size = self.pos.job_page_size;
                let results = match self.source.job_results(&job.id, size, cursor.as_deref()) {
                    Ok(results) => results,
                    Err(e) => {
                        if is_pagination_limit(&e) {
                            self.delete_quietly(&job.id);
                            let why = "the job's results exceed what the API pages through";
                            return too_big(w, splittable, counts, why.into());
                        }
                        if let Some(next) = smaller_page_size(&e, size) {
                            self.log.info(&format!(
                                "job results page size {size} refused; using {next} from now on"
                            ));
                            self.pos.job_page_size = next;
                            continue;
                        }
                        if refused(&e).is_none() {
                            return Err(e);
                        }
                        // The cursor is no longer accepted: the job expired or was removed.
                        let why = match self.source.job_status(&job.id)? {
                            Some(status) if status.state == "FULFILLED" => return Err(e),
                            Some(status) => describe_job(&status),
                            None => "it no longer exists".to_string(),
                        };
                        self.drop_job(&job.id, submissions, &why)?;
                        break;
                    }
                };
                counts.pages += 1;
                self.stats.pages += 1;
                let raws = results.conversations.unwrap_or_default();
                counts.conversations += self.write_page(w, raws)?;
                crate::state::crash_point::reach("page-written", || {});
                let Some(next) = results.cursor else {
                    self.delete_quietly(&job.id);
                    return Ok(Outcome::Done(counts));
                };
                cursor = Some(next);
                self.pos.job = Some(JobCursor {
                    id: job.id.clone(),
                    cursor: cursor.clone(),
                });
                self.save()?;
            }
        }
    }

    /// Polls a job until it is fulfilled or lost, backing off between polls.
    fn await_job(&mut self, job_id: &str) -> Result<JobEnd> {
        let mut interval = self.plan.job_poll;
        let mut last_state = String::new();
        loop {
            let Some(status) = self.source.job_status(job_id)? else {
                return Ok(JobEnd::Lost("it no longer exists".into()));
            };
            if status.state != last_state {
                self.log.info(&format!("job {job_id}: {}", status.state));
                last_state.clone_from(&status.state);
            }
            match status.state.as_str() {
                "FULFILLED" => return Ok(JobEnd::Fulfilled),
                "QUEUED" | "PENDING" => {}
                _ => return Ok(JobEnd::Lost(describe_job(&status))),
            }
            self.source.wait(interval)?;
            interval = interval.mul_f64(1.5).min(MAX_JOB_POLL);
        }
    }

    /// Forgets a lost job so the window's job is submitted again, unless it has been
    /// submitted too often already.
    fn drop_job(&mut self, job_id: &str, submissions: u32, why: &str) -> Result<()> {
        self.delete_quietly(job_id);
        self.pos.job = None;
        if submissions >= MAX_JOB_SUBMISSIONS {
            return Err(failure(
                Code::GaveUp,
                format!("gave up on job {job_id} after {submissions} submissions: {why}"),
            ));
        }
        self.log.warn(&format!(
            "job {job_id} is lost ({why}); submitting it again, the {} conversations already written are skipped",
            self.seen.len()
        ));
        self.save()
    }

    /// Deletes a job that is no longer needed; a failure only costs the API some storage.
    fn delete_quietly(&mut self, job_id: &str) {
        if let Err(e) = self.source.delete_job(job_id) {
            if code_of(&e) == Code::Interrupted {
                return;
            }
            self.log
                .warn(&format!("could not delete job {job_id}: {e:#}"));
        }
    }

    /// Writes the conversations of a page that this window owns and has not written yet, then
    /// commits them. Returns how many were written.
    fn write_page(&mut self, w: &Window, raws: Vec<Box<RawValue>>) -> Result<u64> {
        let mut kept: Vec<(Box<RawValue>, Conversation)> = Vec::with_capacity(raws.len());
        for raw in raws {
            let conversation: Conversation = serde_json::from_str(raw.get()).context(
                "a conversation in the details response does not have the expected shape",
            )?;
            let start =
                window::parse_api_timestamp(&conversation.conversation_start).ok_or_else(|| {
                    anyhow!(
                        "conversation {} has an unreadable conversationStart '{}'",
                        conversation.conversation_id,
                        conversation.conversation_start
                    )
                })?;
            if !w.owns(start) {
                self.stats.outside_window += 1;
                continue;
            }
            if !self.seen.insert(conversation.conversation_id.clone()) {
                self.stats.repeats += 1;
                continue;
            }
            kept.push((raw, conversation));
        }
        if self.plan.format == Format::Csv {
            let ids = kept.iter().flat_map(|(_, c)| rows::queue_ids(c));
            self.names.resolve(self.source, ids, self.log)?;
        }
        for (raw, conversation) in &kept {
            let row = match self.plan.format {
                Format::Csv => Some(rows::flatten(
                    conversation,
                    |id| self.names.get(id),
                    &self.plan.attributes,
                )),
                Format::Jsonl => None,
            };
            self.sink.write(raw, row.as_ref())?;
        }
        self.sink.commit()?;
        self.stats.conversations += kept.len() as u64;
        Ok(kept.len() as u64)
    }
}

/// A window over the paging cap: split it, or fail if it is already as small as allowed.
fn too_big(w: &Window, splittable: bool, counts: WindowCounts, why: String) -> Result<Outcome> {
    if splittable {
        return Ok(Outcome::Split(counts, why));
    }
    Err(anyhow!(
        "window {} holds {why} even at {}s, the smallest window: narrow the export with --ended-only or contact Genesys about the volume",
        w.interval(),
        (w.end - w.start).whole_seconds()
    ))
}

fn refused(e: &anyhow::Error) -> Option<&Refused> {
    e.downcast_ref::<Refused>()
}

/// Whether the API refused a page because it lies past the paging cap.
fn is_pagination_limit(e: &anyhow::Error) -> bool {
    refused(e).is_some_and(|r| r.status == 400 && r.detail.contains("Pagination may not exceed"))
}

/// For a 400 that refuses the results page size `size`: the size to try next, the one the
/// message names as the most allowed ("… at most 1000") or else half.
fn smaller_page_size(e: &anyhow::Error, size: u32) -> Option<u32> {
    let r = refused(e).filter(|r| r.status == 400 && r.detail.contains("pageSize"))?;
    let named: Option<u32> = r
        .detail
        .split("at most ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok());
    let next = match named {
        // The API knows its ceiling best.
        Some(n) => n.max(1),
        None => (size / 2).max(JOB_PAGE_SIZE_MIN),
    };
    (next < size).then_some(next)
}

fn describe_job(status: &JobStatus) -> String {
    match &status.error_message {
        Some(message) => format!("{}: {message}", status.state),
        None => status.state.clone(),
    }
}

fn halves(w: &Window) -> (Window, Window) {
    let middle = w.start + (w.end - w.start) / 2;
    (
        Window {
            start: w.start,
            end: middle,
        },
        Window {
            start: middle,
            end: w.end,
        },
    )
}

/// Queue names, looked up in bulk once per queue and cached for the run.
#[derive(Default)]
struct QueueNames {
    /// `None` for a queue the lookup did not return (deleted, or in a division out of reach).
    names: HashMap<String, Option<String>>,
    forbidden: bool,
}

impl QueueNames {
    fn get(&self, id: &str) -> Option<String> {
        self.names.get(id).cloned().flatten()
    }

    fn resolve<'a, S: Source>(
        &mut self,
        source: &mut S,
        ids: impl Iterator<Item = &'a str>,
        log: &Log,
    ) -> Result<()> {
        if self.forbidden {
            return Ok(());
        }
        let mut unknown: Vec<String> = Vec::new();
        for id in ids {
            if !self.names.contains_key(id) && !unknown.iter().any(|u| u == id) {
                unknown.push(id.to_string());
            }
        }
        for chunk in unknown.chunks(api::MAX_QUEUE_IDS_PER_LOOKUP) {
            let Some(listing) = source.queues(chunk)? else {
                self.forbidden = true;
                log.warn(
                    "queue names are left empty: the OAuth client's role lacks routing:queue:view",
                );
                return Ok(());
            };
            for queue in listing.entities {
                self.names.insert(queue.id, queue.name);
            }
            let missing: Vec<&str> = chunk
                .iter()
                .filter(|id| !self.names.contains_key(id.as_str()))
                .map(String::as_str)
                .collect();
            if !missing.is_empty() {
                log.warn(&format!(
                    "queue names are left empty for {} queue(s) not found (deleted, or in a division the OAuth client cannot see): {}",
                    missing.len(),
                    missing.join(", ")
                ));
            }
            for id in missing {
                self.names.insert(id.to_string(), None);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Queue;
    use time::macros::datetime;

    /// An in-memory API: conversations as (id, start, end), paged like the real one, with the
    /// real interval semantics (overlap, within the start days the interval touches).
    struct Fake {
        conversations: Vec<(String, OffsetDateTime, OffsetDateTime)>,
        queue_lookups: Vec<Vec<String>>,
        queues_forbidden: bool,
        /// Reported instead of the true hit count, to force splits.
        inflate_hits: u64,
        queries: Vec<String>,
        /// Jobs submitted: (interval, results pages served, lost).
        jobs: Vec<(String, usize, bool)>,
        /// The largest job results page accepted.
        job_page_ceiling: u32,
        /// Job numbers (1-based) that fail instead of being fulfilled.
        failing_jobs: Vec<usize>,
        /// (job number, pages): that job expires after serving that many pages.
        expiring_job: Option<(usize, usize)>,
        deleted_jobs: usize,
    }

    fn render(id: &str, s: OffsetDateTime, e: OffsetDateTime) -> Box<RawValue> {
        let json = serde_json::json!({
            "conversationId": id,
            "conversationStart": window::api_timestamp(s),
            "conversationEnd": window::api_timestamp(e),
            "participants": [{"attributes": {"account": format!("A-{id}")},
                "sessions": [{"segments": [{"queueId": "q1"}, {"queueId": "q-gone"}]}]}],
        });
        RawValue::from_string(json.to_string()).unwrap()
    }

    fn bounds(interval: &str) -> (OffsetDateTime, OffsetDateTime) {
        let (a, b) = interval.split_once('/').unwrap();
        (
            window::parse_api_timestamp(a).unwrap(),
            window::parse_api_timestamp(b).unwrap(),
        )
    }

    fn job_number(id: &str) -> usize {
        id.trim_start_matches("job-").parse().unwrap()
    }

    impl Fake {
        fn new(conversations: &[(&str, OffsetDateTime, OffsetDateTime)]) -> Fake {
            Fake {
                conversations: conversations
                    .iter()
                    .map(|(id, s, e)| (id.to_string(), *s, *e))
                    .collect(),
                queue_lookups: Vec::new(),
                queues_forbidden: false,
                inflate_hits: 0,
                queries: Vec::new(),
                jobs: Vec::new(),
                job_page_ceiling: 3,
                failing_jobs: Vec::new(),
                expiring_job: None,
                deleted_jobs: 0,
            }
        }
    }

    impl Source for Fake {
        fn details_page(&mut self, query: &DetailsQuery) -> Result<DetailsPage> {
            self.queries.push(query.interval.clone());
            let (a, b) = bounds(&query.interval);
            let first_day = a.date();
            let last_day = (b - time::Duration::nanoseconds(1)).date();
            let matching: Vec<_> = self
                .conversations
                .iter()
                .filter(|(_, s, e)| {
                    *s < b && *e > a && s.date() >= first_day && s.date() <= last_day
                })
                .collect();
            let size = query.paging.page_size as usize;
            let skip = (query.paging.page_number as usize - 1) * size;
            let page: Vec<Box<RawValue>> = matching
                .iter()
                .skip(skip)
                .take(size)
                .map(|(id, s, e)| render(id, *s, *e))
                .collect();
            Ok(DetailsPage {
                conversations: if page.is_empty() { None } else { Some(page) },
                total_hits: Some(matching.len() as u64 + self.inflate_hits),
            })
        }

        fn queues(&mut self, ids: &[String]) -> Result<Option<QueueListing>> {
            self.queue_lookups.push(ids.to_vec());
            if self.queues_forbidden {
                return Ok(None);
            }
            let entities = ids
                .iter()
                .filter(|id| *id == "q1")
                .map(|id| Queue {
                    id: id.clone(),
                    name: Some("Sales, \"EU\"".into()),
                })
                .collect();
            Ok(Some(QueueListing { entities }))
        }

        fn submit_job(&mut self, query: &JobQuery) -> Result<String> {
            self.jobs.push((query.interval.clone(), 0, false));
            Ok(format!("job-{}", self.jobs.len()))
        }

        fn job_status(&mut self, job_id: &str) -> Result<Option<JobStatus>> {
            let n = job_number(job_id);
            let Some((_, _, lost)) = self.jobs.get(n - 1) else {
                return Ok(None);
            };
            let state = if self.failing_jobs.contains(&n) {
                "FAILED"
            } else if *lost {
                "EXPIRED"
            } else {
                "FULFILLED"
            };
            Ok(Some(JobStatus {
                state: state.into(),
                error_message: (state == "FAILED").then(|| "simulated".into()),
            }))
        }

        fn job_results(
            &mut self,
            job_id: &str,
            page_size: u32,
            cursor: Option<&str>,
        ) -> Result<JobResults> {
            if page_size > self.job_page_ceiling {
                return Err(anyhow::Error::new(Refused {
                    status: 400,
                    detail: format!(
                        "HTTP 400: pageSize must be at most {}",
                        self.job_page_ceiling
                    ),
                }));
            }
            let n = job_number(job_id);
            let (interval, pages, lost) = self.jobs[n - 1].clone();
            if lost || self.expiring_job == Some((n, pages)) {
                self.jobs[n - 1].2 = true;
                return Err(anyhow::Error::new(Refused {
                    status: 400,
                    detail: "HTTP 400 analytics.job.expired".into(),
                }));
            }
            self.jobs[n - 1].1 += 1;
            // Lifetime overlap, ordered by id, not by start.
            let (a, b) = bounds(&interval);
            let mut matching: Vec<_> = self
                .conversations
                .iter()
                .filter(|(_, s, e)| *s < b && *e > a)
                .collect();
            matching.sort_by(|x, y| x.0.cmp(&y.0));
            let offset: usize = cursor.map_or(0, |c| c.parse().unwrap());
            let end = (offset + page_size as usize).min(matching.len());
            let conversations = matching[offset..end]
                .iter()
                .map(|(id, s, e)| render(id, *s, *e))
                .collect();
            Ok(JobResults {
                conversations: Some(conversations),
                cursor: (end < matching.len()).then(|| end.to_string()),
            })
        }

        fn delete_job(&mut self, _job_id: &str) -> Result<()> {
            self.deleted_jobs += 1;
            Ok(())
        }

        fn wait(&mut self, _duration: Duration) -> Result<()> {
            Ok(())
        }

        fn retries(&self) -> u64 {
            0
        }

        fn requests(&self) -> u64 {
            (self.queries.len() + self.jobs.iter().map(|j| j.1 + 2).sum::<usize>()) as u64
        }
    }

    fn plan(format: Format, window_secs: u64, page_size: u32) -> Plan {
        let from = datetime!(2026-11-01 00:00 UTC);
        Plan {
            from,
            to: datetime!(2026-11-03 00:00 UTC),
            window: Duration::from_secs(window_secs),
            page_size,
            ended_only: false,
            format,
            attributes: Vec::new(),
            split_at: from,
            job_poll: Duration::ZERO,
        }
    }

    /// The plan with jobs for windows before `split_at`.
    fn jobs_plan(format: Format, window_secs: u64, split_at: OffsetDateTime) -> Plan {
        Plan {
            split_at,
            ..plan(format, window_secs, 2)
        }
    }

    const QUIET: Log = Log { quiet: true };

    fn export(fake: &mut Fake, plan: &Plan) -> (String, ExportStats) {
        let mut sink = Sink::new(Vec::new(), plan.format, "memory");
        let control = Control {
            checkpoint: &mut |_, _| Ok(()),
            stop: &|| None,
        };
        let stats = run(fake, &mut sink, plan, None, control, &QUIET).unwrap();
        (String::from_utf8(sink.finish().unwrap()).unwrap(), stats)
    }

    fn ids_of_csv(csv: &str) -> Vec<String> {
        csv.lines()
            .skip(1)
            .map(|l| l.split(',').next().unwrap().to_string())
            .collect()
    }

    fn sample() -> Fake {
        Fake::new(&[
            (
                "a",
                datetime!(2026-11-01 00:10 UTC),
                datetime!(2026-11-01 00:20 UTC),
            ),
            // Crosses the 01:00 window boundary: both windows see it, the first owns it.
            (
                "b",
                datetime!(2026-11-01 00:55 UTC),
                datetime!(2026-11-01 01:30 UTC),
            ),
            (
                "c",
                datetime!(2026-11-01 01:05 UTC),
                datetime!(2026-11-01 01:06 UTC),
            ),
            // Crosses midnight.
            (
                "d",
                datetime!(2026-11-01 23:50 UTC),
                datetime!(2026-11-02 00:40 UTC),
            ),
            (
                "e",
                datetime!(2026-11-02 12:00 UTC),
                datetime!(2026-11-02 12:01 UTC),
            ),
            // Outside the range.
            (
                "z",
                datetime!(2026-11-03 00:00 UTC),
                datetime!(2026-11-03 00:01 UTC),
            ),
        ])
    }

    #[test]
    fn each_conversation_once_across_windows_and_pages() {
        for (window_secs, page_size) in [(3600, 1), (3600, 2), (86_400, 2), (86_400, 100), (900, 3)]
        {
            let mut fake = sample();
            let (csv, stats) = export(&mut fake, &plan(Format::Csv, window_secs, page_size));
            assert_eq!(
                ids_of_csv(&csv),
                ["a", "b", "c", "d", "e"],
                "{window_secs} {page_size}"
            );
            assert_eq!(stats.conversations, 5);
        }
    }

    #[test]
    fn boundary_crossers_are_counted_outside_their_window() {
        let mut fake = sample();
        let (_, stats) = export(&mut fake, &plan(Format::Csv, 3600, 100));
        // b is seen again by the 01:00 window.
        assert_eq!(stats.outside_window, 1);
        assert_eq!(stats.windows, 48);
    }

    #[test]
    fn queue_names_are_looked_up_once_and_missing_ones_left_empty() {
        let mut fake = sample();
        let (csv, _) = export(&mut fake, &plan(Format::Csv, 3600, 100));
        assert_eq!(
            fake.queue_lookups,
            [vec!["q1".to_string(), "q-gone".to_string()]]
        );
        let first = csv.lines().nth(1).unwrap();
        assert!(first.contains(r#",q1;q-gone,"Sales, ""EU"";","#), "{first}");
    }

    #[test]
    fn forbidden_queue_lookup_leaves_names_empty_and_goes_on() {
        let mut fake = sample();
        fake.queues_forbidden = true;
        let (csv, stats) = export(&mut fake, &plan(Format::Csv, 3600, 100));
        assert_eq!(stats.conversations, 5);
        assert_eq!(fake.queue_lookups.len(), 1);
        assert!(csv.lines().nth(1).unwrap().contains(",q1;q-gone,;,"));
    }

    #[test]
    fn jsonl_writes_the_raw_records_and_skips_queue_lookups() {
        let mut fake = sample();
        let (out, _) = export(&mut fake, &plan(Format::Jsonl, 86_400, 100));
        let ids = crate::sink::tests::ids_in(out.as_bytes(), Format::Jsonl);
        assert_eq!(ids, ["a", "b", "c", "d", "e"]);
        assert!(fake.queue_lookups.is_empty());
    }

    #[test]
    fn a_window_over_the_threshold_is_split_before_writing() {
        let mut fake = sample();
        fake.inflate_hits = SPLIT_THRESHOLD + 1;
        let mut p = plan(Format::Csv, 86_400, 100);
        p.to = datetime!(2026-11-01 00:04 UTC);
        p.from = datetime!(2026-11-01 00:00 UTC);
        let (csv, stats) = export(&mut fake, &p);
        assert_eq!(ids_of_csv(&csv), Vec::<String>::new());
        // 4 min → 2 min halves → 1 min quarters (not split further).
        assert_eq!(stats.windows, 4);
        let mut fake = sample();
        fake.inflate_hits = SPLIT_THRESHOLD + 1;
        let (csv, _) = export(&mut fake, &plan(Format::Csv, 86_400, 100));
        assert_eq!(ids_of_csv(&csv), ["a", "b", "c", "d", "e"]);
    }

    /// Runs the export, "crashing" at the `crash_at`-th checkpoint, and returns the output
    /// cut back to what that checkpoint covered, with its position.
    fn jobs_fake() -> Fake {
        let mut fake = sample();
        fake.job_page_ceiling = 1;
        fake
    }

    /// A run against `fake`, which lives on across crashes like the real API.
    fn crash(
        fake: &mut Fake,
        plan: &Plan,
        resume: Option<(Vec<u8>, Position)>,
        crash_at: usize,
    ) -> Result<Vec<u8>, (Vec<u8>, Position)> {
        let (bytes, resume) = match resume {
            Some((bytes, position)) => {
                let written = crate::sink::tests::ids_in(
                    &bytes[position.window_offset as usize..],
                    plan.format,
                );
                (bytes, Some(Resume { position, written }))
            }
            None => (Vec::new(), None),
        };
        let offset = bytes.len() as u64;
        let mut sink = Sink::at(bytes, offset, plan.format, "memory");
        let mut n = 0;
        let mut last: Option<(Position, u64)> = None;
        let mut checkpoint = |p: &Position, len: u64| {
            n += 1;
            last = Some((p.clone(), len));
            if n == crash_at {
                anyhow::bail!("crash");
            }
            Ok(())
        };
        let control = Control {
            checkpoint: &mut checkpoint,
            stop: &|| None,
        };
        let result = run(fake, &mut sink, plan, resume, control, &QUIET);
        let mut bytes = sink.finish().unwrap();
        match result {
            Ok(_) => Ok(bytes),
            Err(_) => {
                let (position, len) = last.unwrap();
                bytes.truncate(len as usize);
                Err((bytes, position))
            }
        }
    }

    #[test]
    fn resuming_from_any_checkpoint_gives_the_same_bytes() {
        for format in [Format::Csv, Format::Jsonl] {
            let p = plan(format, 3600, 1);
            let whole = crash(&mut jobs_fake(), &p, None, usize::MAX).unwrap();
            let mut crashes = 0;
            for crash_at in 1..200 {
                let mut fake = jobs_fake();
                let mut attempt = crash(&mut fake, &p, None, crash_at);
                // Crash again, two checkpoints after each resume, until it completes.
                while let Err(saved) = attempt {
                    crashes += 1;
                    attempt = crash(&mut fake, &p, Some(saved), 2);
                }
                assert_eq!(
                    attempt.unwrap(),
                    whole,
                    "{format:?}, first crash at {crash_at}"
                );
            }
            assert!(crashes > 150);
        }
    }

    #[test]
    fn jobs_and_the_query_together_write_each_conversation_once() {
        let mut p = jobs_plan(Format::Csv, 3600, datetime!(2026-11-02 00:30 UTC));
        p.attributes = vec!["account".into()];
        let mut fake = sample();
        let (csv, stats) = export(&mut fake, &p);
        assert_eq!(ids_of_csv(&csv), ["a", "b", "c", "d", "e"]);
        // One job per window before the split point, each deleted after use.
        assert_eq!(fake.jobs.len(), 25);
        assert_eq!(fake.deleted_jobs, 25);
        assert_eq!(stats.jobs.conversations, 4);
        assert_eq!(stats.query.conversations, 1);
        // The results page size steps down to what the API accepts, once.
        assert!(csv.lines().next().unwrap().ends_with(",account"));
        assert!(csv.lines().nth(1).unwrap().ends_with(",A-a"));
    }

    #[test]
    fn failed_and_expired_jobs_are_resubmitted_without_repeats() {
        let p = jobs_plan(Format::Jsonl, 86_400, datetime!(2026-11-03 00:00 UTC));
        let mut fake = sample();
        fake.job_page_ceiling = 1;
        fake.failing_jobs = vec![1];
        // Job 2 (day one's second submission) expires after two pages.
        fake.expiring_job = Some((2, 2));
        let (out, _) = export(&mut fake, &p);
        let ids = crate::sink::tests::ids_in(out.as_bytes(), Format::Jsonl);
        // Job results come ordered by id; every id exactly once.
        assert_eq!(ids, ["a", "b", "c", "d", "e"]);
        assert_eq!(fake.jobs.len(), 4);
    }

    #[test]
    fn a_job_that_keeps_failing_gives_up() {
        let p = jobs_plan(Format::Csv, 86_400, datetime!(2026-11-03 00:00 UTC));
        let mut fake = sample();
        fake.failing_jobs = (1..=10).collect();
        let mut sink = Sink::new(Vec::new(), Format::Csv, "memory");
        let control = Control {
            checkpoint: &mut |_, _| Ok(()),
            stop: &|| None,
        };
        let err = run(&mut fake, &mut sink, &p, None, control, &QUIET).unwrap_err();
        assert_eq!(code_of(&err), Code::GaveUp);
        assert!(format!("{err}").contains("FAILED: simulated"), "{err}");
        assert_eq!(fake.jobs.len(), MAX_JOB_SUBMISSIONS as usize);
    }

    #[test]
    fn resuming_a_job_window_from_any_checkpoint_gives_the_same_bytes() {
        let p = jobs_plan(Format::Csv, 43_200, datetime!(2026-11-02 12:00 UTC));
        let whole = crash(&mut jobs_fake(), &p, None, usize::MAX).unwrap();
        for crash_at in 1..60 {
            let mut fake = jobs_fake();
            let mut attempt = crash(&mut fake, &p, None, crash_at);
            while let Err(saved) = attempt {
                attempt = crash(&mut fake, &p, Some(saved), 3);
            }
            assert_eq!(attempt.unwrap(), whole, "first crash at {crash_at}");
        }
    }

    #[test]
    fn a_smaller_page_size_is_derived_from_the_refusal() {
        let refusal = |detail: &str| {
            anyhow::Error::new(Refused {
                status: 400,
                detail: detail.into(),
            })
        };
        assert_eq!(
            smaller_page_size(&refusal("pageSize must be at most 1000"), 10_000),
            Some(1000)
        );
        assert_eq!(
            smaller_page_size(&refusal("invalid pageSize"), 10_000),
            Some(5000)
        );
        assert_eq!(
            smaller_page_size(&refusal("invalid pageSize"), 150),
            Some(100)
        );
        assert_eq!(smaller_page_size(&refusal("invalid pageSize"), 100), None);
        assert_eq!(
            smaller_page_size(&refusal("pageSize must be at most 3"), 10_000),
            Some(3)
        );
        assert_eq!(smaller_page_size(&refusal("something else"), 10_000), None);
    }

    #[test]
    fn a_stop_request_ends_the_run_after_a_checkpoint() {
        let mut fake = sample();
        let mut sink = Sink::new(Vec::new(), Format::Csv, "memory");
        let mut saves = 0;
        let mut checkpoint = |_: &Position, _| {
            saves += 1;
            Ok(())
        };
        let control = Control {
            checkpoint: &mut checkpoint,
            stop: &|| Some("interrupted by SIGTERM".to_string()),
        };
        let err = run(
            &mut fake,
            &mut sink,
            &plan(Format::Csv, 3600, 1),
            None,
            control,
            &QUIET,
        )
        .unwrap_err();
        assert_eq!(code_of(&err), Code::Interrupted);
        assert_eq!(saves, 1);
    }
}
