//! The export loop: windows → pages → conversations → sink.
//!
//! Two routes fetch a window's conversations: the synchronous details query, paged by page
//! number, and an asynchronous job (submit, poll, page the results by cursor, delete). The
//! plan sends the part of the range before the split point to jobs, in pieces of up to 31
//! days whatever `--window` says, and the rest to the query in `--window` windows; `auto`
//! puts the split point at the data lake's availability date when jobs would export that part
//! faster than the query (`split_point`, `RouteCost`), else at the start. Jobs for the pieces
//! that follow are submitted ahead and polled together with the current one, but rows are
//! committed in window order only. Both routes feed the same exactly-once rules:
//! - a window keeps a conversation only if its `conversationStart` lies inside the window
//!   (both APIs also return conversations of adjacent windows that overlap it), and
//! - within a top-level window an id is written once, however often shifting pages, split
//!   windows or resubmitted jobs repeat it.
//!
//! Generic over a `Source`, so it runs in memory in unit tests and against the real API
//! through the adapter in `genesys.rs`; it imports neither the HTTP client nor the state file.
//! Memory is one page plus the current window's id set; every page is committed (flushed and
//! synced) and reported to `Control::checkpoint` before the next one is requested.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use serde_json::value::RawValue;
use time::OffsetDateTime;

use crate::api::{
    self, DetailsPage, DetailsQuery, JobQuery, JobState, JobStatus, Lookup, NameListing,
    QueryFilters, QueueListing, Refusal, RefusalKind, ResultsPage,
};
use crate::columns::Column;
use crate::exit::{code_of, failure, Code};
use crate::record::Conversation;
use crate::report::{Event, ExportStats, FollowUpCounts, Log, Progress};
use crate::sink::{Format, Mark, Record, Writer};
use crate::window::{self, Window};

/// The details query refuses to page past this many results.
pub const RESULT_CAP: u64 = 100_000;
/// A window whose first page reports more hits than this is split in two before anything is
/// written. `totalHits` is approximate, so the margin below the cap is wide.
pub const SPLIT_THRESHOLD: u64 = 80_000;
/// Windows are not split below this length.
pub const MIN_SPLIT: Duration = Duration::from_secs(60);
/// The first job results page size tried: the size public bulk clients use and the API is
/// known to accept. A refusal steps down to the size it states (or half).
pub const JOB_PAGE_SIZE_START: u32 = 1000;
/// No job results page size above this is ever asked for or resumed with.
pub const JOB_PAGE_SIZE_MAX: u32 = 10_000;
/// Halving a refused job results page size stops here (a size the API names is used as is).
pub const JOB_PAGE_SIZE_MIN: u32 = 100;
/// Submissions of one window's job before a run gives up on jobs that fail or expire.
pub const MAX_JOB_SUBMISSIONS: u32 = 4;
/// Polling of a job's status backs off from `Plan::job_poll` up to this interval.
pub const MAX_JOB_POLL: Duration = Duration::from_secs(30);
/// The longest interval the jobs API accepts: the part of the range in the data lake is cut
/// into jobs this long (the last one shorter); a piece the API refuses is halved.
pub const JOB_MAX_INTERVAL: Duration = Duration::from_secs(31 * 86_400);
/// Jobs submitted ahead of the one being exported, at most. A submission ahead that is
/// refused, or that needed retries (429s), lowers the number for the rest of the run.
pub const MAX_JOBS_AHEAD: usize = 2;
/// Estimating the data lake's volume for `auto` asks one details query of one result per
/// piece of the lake part this long.
pub const ESTIMATE_PIECE: Duration = Duration::from_secs(7 * 86_400);
/// What `auto` expects a job to wait between submission and fulfilment. Jobs take tens of
/// seconds to minutes; with several submitted ahead the wait is paid about once.
pub const JOB_FULFIL_ESTIMATE: Duration = Duration::from_secs(30);
/// What `auto` expects one request to take per worker (real details pages take 0.5–1 s).
pub const REQUEST_SECS_ESTIMATE: f64 = 0.5;
/// The request rate `auto` expects the pacing to allow, whatever `--parallel` says.
pub const PACED_REQUESTS_PER_SEC: f64 = 5.0;

/// Names a details page sent ahead, until its reply is collected or forgotten.
pub type Ticket = u64;

/// Where pages, jobs and queue names come from.
pub trait Source {
    /// Starts fetching a details page; several may be in flight at once and finish in any
    /// order. The reply is kept until `collect_page` or `forget_page` names the ticket.
    fn send_page(&mut self, ticket: Ticket, query: DetailsQuery);
    /// Waits for the reply to a page sent with `send_page`.
    fn collect_page(&mut self, ticket: Ticket) -> Result<DetailsPage>;
    /// Drops a page sent with `send_page` whose reply is no longer wanted.
    fn forget_page(&mut self, ticket: Ticket);
    /// How many requests may be in flight at once (`--parallel`).
    fn parallel(&self) -> u32;
    /// Keeps a details page fetched already, to answer the next `send_page` of the same
    /// query instead of fetching it again. A source may ignore it.
    fn keep_page(&mut self, _query: DetailsQuery, _page: DetailsPage) {}
    /// Submits a job; returns its id.
    fn submit_job(&mut self, query: &JobQuery) -> Result<String>;
    /// A job's status; `None` when the job no longer exists.
    fn job_status(&mut self, job_id: &str) -> Result<Option<JobStatus>>;
    /// A page of a job's results: its conversations, readable one at a time, and the cursor
    /// of the next page (`None`: the last).
    fn job_results(&mut self, page: &ResultsPage) -> Result<JobPage>;
    fn delete_job(&mut self, job_id: &str) -> Result<()>;
    /// These conversations by id (at most `api::MAX_IDS_PER_REQUEST`), as the API has them
    /// now: those it no longer returns are absent. A refusal of `RefusalKind::TooManyIds`
    /// asks for fewer at once.
    fn conversations(&mut self, ids: &[String]) -> Result<Vec<Box<RawValue>>>;
    /// The names of these queues (at most 100 ids). `None` when the client may not read queues.
    fn queues(&mut self, ids: &[String]) -> Result<Option<QueueListing>>;
    /// The names of these users (at most 100 ids). `None` when the client may not read users.
    fn users(&mut self, ids: &[String]) -> Result<Option<NameListing>>;
    /// The names of these wrap-up codes (at most 100 ids). `None` when the client may not
    /// read wrap-up codes.
    fn wrap_up_codes(&mut self, ids: &[String]) -> Result<Option<NameListing>>;
    /// The data lake's `dataAvailabilityDate`: jobs can read conversations before it.
    fn availability(&mut self) -> Result<OffsetDateTime>;
    /// The current time (the API's clock as far as job expiry goes).
    fn now(&self) -> OffsetDateTime;
    /// Waits between job polls (a signal cuts the wait short with an error).
    fn wait(&mut self, duration: Duration) -> Result<()>;
    /// Retries made so far (for the per-window report).
    fn retries(&self) -> u64;
    /// Requests sent so far (for the per-route cost in the summary).
    fn requests(&self) -> u64;
}

/// The conversations of one reply, read one at a time, as often as needed: the reply may be
/// spooled to disk rather than held in memory.
pub trait Rows {
    /// Hands every conversation to `each`, in the reply's order.
    fn each(&mut self, each: &mut dyn FnMut(&RawValue) -> Result<()>) -> Result<()>;
}

impl Rows for Vec<Box<RawValue>> {
    fn each(&mut self, each: &mut dyn FnMut(&RawValue) -> Result<()>) -> Result<()> {
        self.iter().try_for_each(|raw| each(raw))
    }
}

/// A page of a job's results.
pub struct JobPage {
    pub rows: Box<dyn Rows>,
    /// The next page's cursor; `None` on the last page.
    pub cursor: Option<String>,
}

/// Which API fetches a window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Query,
    Jobs,
}

impl Route {
    pub fn name(self) -> &'static str {
        match self {
            Route::Query => "query",
            Route::Jobs => "job",
        }
    }
}

/// Which routes an export may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Auto,
    Query,
    Jobs,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Auto => "auto",
            Mode::Query => "query",
            Mode::Jobs => "jobs",
        }
    }
}

/// What to export.
#[derive(Clone, Debug)]
pub struct Plan {
    pub from: OffsetDateTime,
    pub to: OffsetDateTime,
    pub window: Duration,
    pub page_size: u32,
    pub ended_only: bool,
    /// Server-side filters besides `ended_only`, as sent (queue names resolved to ids).
    pub filters: QueryFilters,
    pub format: Format,
    /// The CSV columns, in order (the default twelve unless `--columns` says otherwise).
    pub columns: Vec<&'static Column>,
    /// Participant attributes to add as CSV columns.
    pub attributes: Vec<String>,
    /// Windows before this instant go through jobs, the rest through the query.
    pub split_at: OffsetDateTime,
    /// The first interval between job status polls.
    pub job_poll: Duration,
    /// The longest a job may take from submission to fulfilled before it is submitted again.
    pub job_timeout: Duration,
}

impl Plan {
    /// The top-level windows in order, each with its route: the part before `split_at` in
    /// jobs of `JOB_MAX_INTERVAL` (whatever `--window` says), the rest in `--window` windows.
    pub fn windows(&self) -> impl Iterator<Item = (Route, Window)> {
        let split_at = self.split_at.clamp(self.from, self.to);
        let jobs = window::split(self.from, split_at, JOB_MAX_INTERVAL).map(|w| (Route::Jobs, w));
        let query = window::split(split_at, self.to, self.window).map(|w| (Route::Query, w));
        jobs.chain(query)
    }

    pub fn window_count(&self) -> u64 {
        let split_at = self.split_at.clamp(self.from, self.to);
        window::count(self.from, split_at, JOB_MAX_INTERVAL).saturating_add(window::count(
            split_at,
            self.to,
            self.window,
        ))
    }
}

/// Where jobs hand over to the query: jobs for windows before it, the query from it on.
pub fn split_point<S: Source>(
    source: &mut S,
    mode: Mode,
    plan: &Plan,
    log: &Log,
) -> Result<OffsetDateTime> {
    if mode == Mode::Query {
        return Ok(plan.from);
    }
    // `auto` needs the volume as well as the availability date: the estimate's requests go
    // out first and are on the wire while the date is asked for.
    let estimate = if mode == Mode::Auto && plan.attributes.is_empty() {
        Some(Estimate::send(source, plan))
    } else {
        None
    };
    let available = match source.availability() {
        Ok(available) => available,
        Err(e) => {
            if let Some(estimate) = estimate {
                estimate.forget(source);
            }
            return Err(e);
        }
    };
    let shown = window::api_timestamp(available);
    if mode == Mode::Jobs {
        if available < plan.to {
            return Err(crate::exit::usage(format!(
                "--mode jobs: the data lake holds conversations only up to {shown}, before --to; end the range at or before {shown}, or use --mode auto (the details query exports the rest)"
            )));
        }
        return Ok(plan.to);
    }
    let split_at = available.clamp(plan.from, plan.to);
    let newer = if split_at < plan.to {
        ", the details query for the rest"
    } else {
        ""
    };
    if split_at == plan.from {
        if let Some(estimate) = estimate {
            estimate.forget(source);
        }
        log.info(&format!(
            "data lake available up to {shown}: nothing of the range is in it; the details query for every window"
        ));
        return Ok(plan.from);
    }
    let Some(estimate) = estimate else {
        // Only job results carry participant attributes: the query would leave them empty.
        log.info(&format!(
            "data lake available up to {shown}: jobs for that part, as only jobs carry the --attribute columns{newer}"
        ));
        return Ok(split_at);
    };
    let hits = estimate.collect(source, split_at)?;
    let cost = RouteCost::of(hits, plan.page_size, source.parallel());
    let lake = format!(
        "data lake available up to {shown}: about {hits} conversations before it, about {}s through the details query, {}s through jobs",
        cost.query_secs.round(),
        cost.jobs_secs.round()
    );
    if cost.jobs_faster() {
        log.info(&format!("{lake}: jobs for that part{newer}"));
        Ok(split_at)
    } else {
        log.info(&format!(
            "{lake}: the details query for every window, as it is faster"
        ));
        Ok(plan.from)
    }
}

/// How many conversations the range holds, as the details query reports them: one
/// one-result query per `ESTIMATE_PIECE` of the range, sent side by side. A range of one or
/// two query windows is estimated from those windows' first pages instead, kept for the
/// export should the query get the range: then the estimate costs nothing.
struct Estimate {
    pieces: Vec<(Ticket, DetailsQuery, Window)>,
}

impl Estimate {
    fn send<S: Source>(source: &mut S, plan: &Plan) -> Estimate {
        let few_windows = window::count(plan.from, plan.to, plan.window) <= 2;
        let (piece, size) = if few_windows {
            (plan.window, plan.page_size)
        } else {
            (ESTIMATE_PIECE, 1)
        };
        // Tickets from the top of the range: the export's own count up from 0.
        let pieces: Vec<(Ticket, DetailsQuery, Window)> = window::split(plan.from, plan.to, piece)
            .enumerate()
            .map(|(i, w)| {
                let query =
                    DetailsQuery::page(w.interval(), size, 1, plan.ended_only, &plan.filters);
                (Ticket::MAX - i as u64, query, w)
            })
            .collect();
        for (ticket, query, _) in &pieces {
            source.send_page(*ticket, query.clone());
        }
        Estimate { pieces }
    }

    /// The conversations before `until`: the pieces before it, and the share of the piece
    /// it cuts in proportion to the time before it. Whole first pages are kept for the export.
    fn collect<S: Source>(self, source: &mut S, until: OffsetDateTime) -> Result<u64> {
        let mut hits: u64 = 0;
        let mut failed = None;
        for (ticket, query, w) in self.pieces {
            if w.start >= until {
                source.forget_page(ticket);
                continue;
            }
            match source.collect_page(ticket) {
                Ok(page) => {
                    let piece = page.total_hits.unwrap_or(0);
                    let share = if w.end <= until {
                        piece
                    } else {
                        let part = (until - w.start).as_seconds_f64();
                        let whole = (w.end - w.start).as_seconds_f64().max(1.0);
                        (piece as f64 * (part / whole)).round() as u64
                    };
                    hits = hits.saturating_add(share);
                    if query.paging.page_size > 1 {
                        source.keep_page(query, page);
                    }
                }
                Err(e) => {
                    failed.get_or_insert(e);
                }
            }
        }
        match failed {
            Some(e) => Err(e.context("cannot estimate how many conversations the data lake holds")),
            None => Ok(hits),
        }
    }

    fn forget<S: Source>(self, source: &mut S) {
        for (ticket, _, _) in self.pieces {
            source.forget_page(ticket);
        }
    }
}

/// What `auto` expects each route to take for a part of the range holding `hits`
/// conversations: requests ÷ the expected rate, plus a job's expected wait for fulfilment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RouteCost {
    pub query_secs: f64,
    pub jobs_secs: f64,
}

impl RouteCost {
    /// The cost of `hits` conversations at details pages of `page_size` with `parallel`
    /// requests in flight; the rate is `parallel ÷ REQUEST_SECS_ESTIMATE`, paced to at most
    /// `PACED_REQUESTS_PER_SEC`. A job costs its submission, a few polls, its result pages
    /// of `JOB_PAGE_SIZE_START` and its deletion, after `JOB_FULFIL_ESTIMATE`.
    pub fn of(hits: u64, page_size: u32, parallel: u32) -> RouteCost {
        let rate = (f64::from(parallel.max(1)) / REQUEST_SECS_ESTIMATE).min(PACED_REQUESTS_PER_SEC);
        let query_pages = hits.div_ceil(u64::from(page_size.max(1))).max(1) as f64;
        let job_requests = hits.div_ceil(u64::from(JOB_PAGE_SIZE_START)) as f64 + 5.0;
        RouteCost {
            query_secs: query_pages / rate,
            jobs_secs: JOB_FULFIL_ESTIMATE.as_secs_f64() + job_requests / rate,
        }
    }

    pub fn jobs_faster(&self) -> bool {
        self.jobs_secs < self.query_secs
    }
}

/// A job in progress: its id and the cursor of the next results page (`None`: the first).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobCursor {
    pub id: String,
    pub cursor: Option<String>,
}

/// A job submitted ahead of its turn, for window `window`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AheadJob {
    pub window: Window,
    pub id: String,
}

/// The follow-up of the `--pending` ledger in progress: ids are followed up in ascending
/// order, and every id up to `after` (`None`: none yet) is handled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FollowUp {
    pub after: Option<String>,
}

/// Where an export stands: enough to continue it after a crash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Position {
    /// The follow-up of the ledger, while it is in progress: it comes before the range.
    pub follow_up: Option<FollowUp>,
    /// Index of the top-level window in progress, or next to start when `stack` is empty.
    pub top_index: u64,
    /// Windows left within the top-level one (its halves after a split); the last is current.
    pub stack: Vec<Window>,
    /// The next page of the current window (query route).
    pub next_page: u32,
    /// The job of the current window and where its results stand (jobs route).
    pub job: Option<JobCursor>,
    /// Jobs submitted ahead for windows exported later, in submission order.
    pub ahead: Vec<AheadJob>,
    /// The job results page size the API accepts, once found.
    pub job_page_size: u32,
    /// Output offset where the top-level window's rows begin.
    pub window_offset: u64,
}

impl Position {
    /// Before the first window: the follow-up `follow_up` first, if any, then the range from
    /// its first page, its rows to begin at output offset `window_offset`.
    pub fn start(follow_up: Option<FollowUp>, window_offset: u64) -> Position {
        Position {
            follow_up,
            top_index: 0,
            stack: Vec::new(),
            next_page: 1,
            job: None,
            ahead: Vec::new(),
            job_page_size: JOB_PAGE_SIZE_START,
            window_offset,
        }
    }
}

/// A resumed export: where to go on from, and the ids its top-level window already wrote.
pub struct Resume {
    pub position: Position,
    pub written: HashSet<String>,
}

/// The hooks through which the loop reports progress and learns it must stop.
pub struct Control<'a> {
    /// Called after every commit with the position and the output it covers (a mark per
    /// file the writer writes).
    pub checkpoint: &'a mut dyn FnMut(&Position, &[Mark]) -> Result<()>,
    /// `Some(reason)` once the run must stop at the next safe point.
    pub stop: &'a dyn Fn() -> Option<String>,
    /// The ledger of conversations in progress (`--pending`), if the run keeps one.
    pub pending: Option<&'a mut dyn PendingLedger>,
}

/// The ledger of conversations in progress, as the loop uses it. With a ledger, the range's
/// queries carry no `conversationEnd` filter: conversations in progress must be seen to be
/// recorded (`--ended-only` then leaves them out of the output itself).
pub trait PendingLedger {
    /// The ids due to a follow-up, in ascending order: those recorded, less those already
    /// handed to a run (written into an output not published yet). A resumed run's own
    /// handed follow-ups are in its partial already; a run that starts over gets them due
    /// again.
    fn due(&self) -> Vec<String>;
    /// Records conversations found in progress, as (id, start). Called after the page that
    /// found them is committed and before the state that covers it is saved, so a crash in
    /// between finds them again.
    fn record(&mut self, found: &[(String, OffsetDateTime)]) -> Result<()>;
    /// Settles follow-ups handled: `written` ended and are in the output (handed to this run
    /// until it publishes it), `gone` are no longer returned by the API (removed). Called only
    /// once the state that covers them is saved.
    fn settle(&mut self, written: &[String], gone: &[String]) -> Result<()>;
}

/// Runs the whole export into `sink`, from the start or from `resume`.
pub fn run<S: Source, W: Writer>(
    source: &mut S,
    sink: &mut W,
    plan: &Plan,
    resume: Option<Resume>,
    control: Control,
    log: &Log,
) -> Result<ExportStats> {
    let (position, seen) = match resume {
        Some(resume) => (resume.position, resume.written),
        None => {
            sink.begin(&plan.columns, &plan.attributes)?;
            sink.commit()?;
            let follow_up = control.pending.as_ref().map(|_| FollowUp { after: None });
            let position = Position::start(follow_up, sink.position());
            (position, HashSet::new())
        }
    };
    let mut exporter = Exporter {
        source,
        sink,
        plan,
        log,
        control,
        pos: position,
        seen,
        names: Names::default(),
        stats: ExportStats::default(),
        ahead: VecDeque::new(),
        next_ticket: 0,
        next_top: None,
        jobs: HashMap::new(),
        submissions: HashMap::new(),
        jobs_ahead: MAX_JOBS_AHEAD,
        found: Vec::new(),
        settled: None,
        followed: Vec::new(),
    };
    if exporter.control.pending.is_some() {
        exporter.stats.follow_ups = Some(FollowUpCounts::default());
    }
    exporter.save()?;
    if exporter.pos.follow_up.is_some() {
        exporter.follow_up()?;
    }
    let total = plan.window_count();
    let start = usize::try_from(exporter.pos.top_index).unwrap_or(usize::MAX);
    let mut windows = plan.windows().enumerate().skip(start).peekable();
    while let Some((index, (route, top))) = windows.next() {
        exporter.next_top = match windows.peek() {
            Some((_, (Route::Query, next))) => Some(*next),
            _ => None,
        };
        exporter.export_top_window(index as u64, total, route, top)?;
    }
    // Jobs ahead are released as the jobs part ends; none is left but by a damaged state.
    exporter.release_jobs_ahead(&[]);
    Ok(exporter.stats)
}

#[derive(Default)]
struct WindowCounts {
    conversations: u64,
    pages: u64,
}

/// How a window's export ended.
enum WindowEnd {
    Done(WindowCounts),
    /// The window holds more than the API pages through: export its halves instead. The
    /// counts are of what was written before that became clear.
    Split(WindowCounts, String),
}

/// How waiting for a job ended.
enum JobEnd {
    Fulfilled,
    /// FAILED, CANCELLED, EXPIRED, gone, or too slow: why.
    Lost(String),
}

/// A details page sent ahead of the one being committed.
struct Sent {
    interval: String,
    page: u32,
    ticket: Ticket,
}

struct Exporter<'a, 'c, S: Source, W: Writer> {
    source: &'a mut S,
    sink: &'a mut W,
    plan: &'a Plan,
    log: &'a Log,
    control: Control<'c>,
    pos: Position,
    /// Ids written by the current top-level window (all its sub-windows included).
    seen: HashSet<String>,
    names: Names,
    stats: ExportStats,
    /// Details pages in flight or arrived, not yet committed: the current window's next
    /// pages, and the first page of the window after it.
    ahead: VecDeque<Sent>,
    next_ticket: Ticket,
    /// The top-level window after the current one, if the details query fetches it.
    next_top: Option<Window>,
    /// What this run knows of the jobs it submitted or picked up, by id.
    jobs: HashMap<String, JobSeen>,
    /// Submissions so far per window interval (jobs ahead included), until the window is done.
    submissions: HashMap<String, u32>,
    /// How many jobs may be submitted ahead now (at most `MAX_JOBS_AHEAD`).
    jobs_ahead: usize,
    /// Conversations found in progress since the last save, for the ledger.
    found: Vec<(String, OffsetDateTime)>,
    /// Follow-ups handled since the last save (written, gone), settled in the ledger once
    /// the state covering them is saved.
    settled: Option<(Vec<String>, Vec<String>)>,
    /// Ids the follow-up wrote since it last looked.
    followed: Vec<String>,
}

/// What the run knows of a job: when it was submitted (or first seen, after a resume) and
/// the state its last poll reported.
#[derive(Clone, Copy)]
struct JobSeen {
    since: OffsetDateTime,
    state: Option<JobState>,
}

/// What one status poll found.
enum Polled {
    Fulfilled,
    Waiting,
    /// FAILED, CANCELLED, EXPIRED, gone, or too slow: why.
    Lost(String),
}

impl<S: Source, W: Writer> Exporter<'_, '_, S, W> {
    /// Reports the position after a commit (to the checkpoint, then to the log's progress
    /// line), then stops if asked to. Conversations found in progress are recorded in the
    /// ledger before the state moves past them, and follow-ups handled are removed from it
    /// only after.
    fn save(&mut self) -> Result<()> {
        if let Some(ledger) = self.control.pending.as_deref_mut() {
            if !self.found.is_empty() {
                ledger.record(&self.found)?;
            }
        }
        self.found.clear();
        (self.control.checkpoint)(&self.pos, &self.sink.marks())?;
        if let Some((written, gone)) = self.settled.take() {
            if let Some(ledger) = self.control.pending.as_deref_mut() {
                ledger.settle(&written, &gone)?;
            }
        }
        self.log.progress(Progress {
            conversations: self.stats.conversations,
            windows_done: self.pos.top_index,
            windows_total: self.plan.window_count(),
        });
        if let Some(reason) = (self.control.stop)() {
            return Err(failure(Code::Interrupted, reason));
        }
        Ok(())
    }

    /// The follow-up of the ledger, before the range: asks the API for the recorded ids in
    /// ascending order, in batches of `api::MAX_IDS_PER_REQUEST` (halved on each refusal of
    /// too many ids), writes those that have ended, and saves the state after each batch; the
    /// ledger settles a batch's written and gone ids only after that save. A resumed follow-up
    /// first settles the ids its output already holds (a crash may have come between the save
    /// and the ledger's rewrite), then goes on after the last id handled.
    fn follow_up(&mut self) -> Result<()> {
        let after = self.pos.follow_up.as_ref().and_then(|f| f.after.clone());
        let due = match self.control.pending.as_deref() {
            Some(ledger) => ledger.due(),
            None => Vec::new(),
        };
        let is_done = |id: &String| after.as_ref().is_some_and(|a| id <= a);
        let (done, todo): (Vec<String>, Vec<String>) = due.into_iter().partition(is_done);
        let written_before: Vec<String> = done
            .into_iter()
            .filter(|id| self.seen.contains(id))
            .collect();
        if !written_before.is_empty() {
            if let Some(ledger) = self.control.pending.as_deref_mut() {
                ledger.settle(&written_before, &[])?;
            }
        }
        if !todo.is_empty() {
            self.log.info(&format!(
                "following up {} conversations recorded in progress",
                todo.len()
            ));
        }
        let (mut written, mut still, mut gone) = (0u64, 0u64, 0u64);
        let mut batch = api::MAX_IDS_PER_REQUEST;
        let mut rest = todo.as_slice();
        while !rest.is_empty() {
            let ids = rest.get(..batch.min(rest.len())).unwrap_or(rest);
            let mut rows = match self.source.conversations(ids) {
                Ok(rows) => rows,
                Err(e) if Refusal::kind_of(&e) == Some(RefusalKind::TooManyIds) && batch > 1 => {
                    batch = (ids.len() / 2).max(1);
                    self.log.info(&format!(
                        "{} ids per request refused; asking for {batch} at once from now on",
                        ids.len()
                    ));
                    continue;
                }
                Err(e) => return Err(e),
            };
            let mut returned = HashSet::new();
            let mut in_progress = 0u64;
            rows.each(&mut |raw| {
                let conversation = parse_conversation(raw)?;
                if conversation.conversation_end.is_none() {
                    in_progress += 1;
                }
                returned.insert(conversation.conversation_id.into_owned());
                Ok(())
            })?;
            self.write_rows(None, &mut rows)?;
            crate::crash::reach("follow-up-written", || {});
            let batch_written = std::mem::take(&mut self.followed);
            let batch_gone: Vec<String> = ids
                .iter()
                .filter(|id| !returned.contains(*id))
                .cloned()
                .collect();
            for id in &batch_gone {
                self.log.warn(&format!(
                    "conversation {id} recorded in progress is no longer returned by the API (deleted, or out of the OAuth client's divisions): dropped from the ledger"
                ));
            }
            written = written.saturating_add(batch_written.len() as u64);
            still = still.saturating_add(in_progress);
            gone = gone.saturating_add(batch_gone.len() as u64);
            if let Some(counts) = self.stats.follow_ups.as_mut() {
                counts.written = counts.written.saturating_add(batch_written.len() as u64);
                counts.dropped = counts.dropped.saturating_add(batch_gone.len() as u64);
            }
            self.pos.follow_up = Some(FollowUp {
                after: ids.last().cloned(),
            });
            self.settled = Some((batch_written, batch_gone));
            self.save()?;
            rest = rest.get(ids.len()..).unwrap_or_default();
        }
        if !todo.is_empty() {
            self.log.info(&format!(
                "follow-up: {written} ended and written, {still} still in progress, {gone} no longer returned"
            ));
        }
        self.pos.follow_up = None;
        self.pos.window_offset = self.sink.position();
        self.seen.clear();
        self.save()
    }

    /// Exports top-level window `index` (of `total`), and the halves it splits into.
    fn export_top_window(
        &mut self,
        index: u64,
        total: u64,
        route: Route,
        top: Window,
    ) -> Result<()> {
        self.pos.top_index = index;
        if self.pos.stack.is_empty() {
            self.pos.stack.push(top);
            self.pos.next_page = 1;
            self.pos.job = None;
            self.pos.window_offset = self.sink.position();
            self.seen.clear();
        }
        while let Some(w) = self.pos.stack.last().copied() {
            let retries_before = self.source.retries();
            let requests_before = self.source.requests();
            let end = match route {
                Route::Query => self.query_window(&w)?,
                Route::Jobs => self.job_window(&w)?,
            };
            self.pos.stack.pop();
            self.pos.next_page = 1;
            self.pos.job = None;
            let requests = self.source.requests().saturating_sub(requests_before);
            let cost = match route {
                Route::Query => &mut self.stats.query,
                Route::Jobs => &mut self.stats.jobs,
            };
            cost.requests = cost.requests.saturating_add(requests);
            match end {
                WindowEnd::Done(counts) => {
                    cost.conversations = cost.conversations.saturating_add(counts.conversations);
                    self.stats.windows = self.stats.windows.saturating_add(1);
                    let retries = self.source.retries().saturating_sub(retries_before);
                    let message = format!(
                        "window {} [{}/{total}, {}]: {} conversations, {} pages, {retries} retries",
                        w.interval(),
                        index.saturating_add(1),
                        route.name(),
                        counts.conversations,
                        counts.pages,
                    );
                    self.log.emit(
                        Event::info(message)
                            .window(w.start, w.end)
                            .with("window", index.saturating_add(1))
                            .with("windows", total)
                            .with("route", route.name())
                            .with("conversations", counts.conversations)
                            .with("pages", counts.pages)
                            .with("retries", retries),
                    );
                }
                WindowEnd::Split(counts, reason) => {
                    cost.conversations = cost.conversations.saturating_add(counts.conversations);
                    let message = format!("window {}: {reason}; splitting it in two", w.interval());
                    self.log.emit(
                        Event::info(message)
                            .window(w.start, w.end)
                            .with("conversations", counts.conversations)
                            .with("pages", counts.pages),
                    );
                    let (first, second) = halves(&w);
                    self.pos.stack.push(second);
                    self.pos.stack.push(first);
                }
            }
            if self.pos.stack.is_empty() {
                self.pos.top_index = index.saturating_add(1);
            }
            if route == Route::Jobs {
                let keep = self.windows_to_come(MAX_JOBS_AHEAD.saturating_add(1));
                self.release_jobs_ahead(&keep);
            }
            self.save()?;
        }
        Ok(())
    }

    /// Exports window `w` through the details query, from page `pos.next_page` on. The window
    /// ends on a page without conversations, or on a short page once the rows returned so far
    /// reach `totalHits` (a page can come back short while more follow).
    ///
    /// The first page of a pass is fetched alone; its `totalHits` says how many pages follow,
    /// and those are sent ahead, several in flight, then committed strictly in page order, so
    /// the output is the one a one-at-a-time run writes. Pages fetched side by side may miss a
    /// conversation that moved from one page to the next between them, when the window
    /// changes meanwhile: every page reports `totalHits`, and a page that reports another
    /// count than the one the pages were planned from sends the window back to the first page
    /// fetched side by side, to be walked again one page at a time (the id set skips what was
    /// written).
    fn query_window(&mut self, w: &Window) -> Result<WindowEnd> {
        let splittable = w.end - w.start >= MIN_SPLIT * 2;
        let size = self.plan.page_size.max(1);
        let last_page = u32::try_from(RESULT_CAP / u64::from(size)).unwrap_or(u32::MAX);
        // Pages sent ahead of the one awaited: none at `--parallel 1`; else enough that every
        // worker has a page to fetch while replies wait to be committed in order.
        let lookahead = self.source.parallel().saturating_sub(1).saturating_mul(2) as usize;
        let interval = w.interval();
        let mut counts = WindowCounts::default();
        let mut confirming = false;
        let mut one_at_a_time = false;
        // Pages known to exist, from the latest `totalHits`, and the highest page sent.
        let mut known_last = self.pos.next_page;
        let mut sent_up_to = 0;
        // Where pages began to be fetched side by side, and the count they were planned from.
        let mut side_by_side: Option<(u32, u64)> = None;
        let mut planned_hits = 0;
        loop {
            let page_number = self.pos.next_page;
            if page_number > last_page {
                self.forget_ahead(&interval);
                let why = format!("more than {RESULT_CAP} conversations");
                return too_big(w, splittable, counts, why);
            }
            let ticket = self.take_sent(w, page_number);
            sent_up_to = sent_up_to.max(page_number);
            if !one_at_a_time {
                while sent_up_to < known_last.min(last_page) && self.sent_for(&interval) < lookahead
                {
                    sent_up_to += 1;
                    self.send(w, sent_up_to);
                    side_by_side.get_or_insert((page_number, planned_hits));
                }
                self.prefetch_next(w, sent_up_to >= known_last, lookahead);
            }
            let page = match self.source.collect_page(ticket) {
                Ok(page) => page,
                Err(e) if Refusal::kind_of(&e) == Some(RefusalKind::PagingCap) => {
                    self.forget_ahead(&interval);
                    let why = "the API refuses to page further".to_string();
                    return too_big(w, splittable, counts, why);
                }
                Err(e) => return Err(e),
            };
            counts.pages += 1;
            self.stats.pages = self.stats.pages.saturating_add(1);
            let hits = page.total_hits.unwrap_or(0);
            if page_number == 1 && hits > SPLIT_THRESHOLD && splittable {
                self.forget_ahead(&interval);
                return Ok(WindowEnd::Split(
                    counts,
                    format!("{hits} conversations reported"),
                ));
            }
            if let Some((from, planned)) = side_by_side.filter(|(_, planned)| *planned != hits) {
                self.log.info(&format!(
                    "window {interval} changed while its pages were fetched side by side ({planned} then {hits} conversations); walking it again from page {from}, one page at a time"
                ));
                self.forget_ahead(&interval);
                one_at_a_time = true;
                side_by_side = None;
                self.pos.next_page = from;
                continue;
            }
            planned_hits = hits;
            let pages_for_hits = hits.div_ceil(u64::from(size));
            known_last = known_last.max(u32::try_from(pages_for_hits).unwrap_or(u32::MAX));
            let raws = page.conversations.unwrap_or_default();
            let returned = raws.len() as u64;
            let mut raws = raws;
            counts.conversations += self.write_page(w, &mut raws)?;
            crate::crash::reach("page-written", || {});
            let before = u64::from(page_number.saturating_sub(1)) * u64::from(size);
            if returned == 0 && before < hits && !confirming {
                // Fewer rows than totalHits promised: the end, or a reply that lost its
                // conversations on the way. `totalHits` is approximate, so ask once more.
                confirming = true;
                continue;
            }
            let so_far = before.saturating_add(returned);
            if returned == 0 || (returned < u64::from(size) && so_far >= hits) {
                self.forget_ahead(&interval);
                return Ok(WindowEnd::Done(counts));
            }
            confirming = false;
            // A full last page: `totalHits` may be short of the truth; one more page will tell.
            known_last = known_last.max(page_number.saturating_add(1));
            self.pos.next_page = page_number.saturating_add(1);
            self.save()?;
        }
    }

    /// Sends page `page` of window `w` ahead.
    fn send(&mut self, w: &Window, page: u32) {
        let ticket = self.next_ticket;
        self.next_ticket = self.next_ticket.wrapping_add(1);
        let size = self.plan.page_size;
        let query = DetailsQuery::page(
            w.interval(),
            size,
            page,
            self.end_filter(),
            &self.plan.filters,
        );
        self.source.send_page(ticket, query);
        self.ahead.push_back(Sent {
            interval: w.interval(),
            page,
            ticket,
        });
    }

    /// The ticket of page `page` of window `w`: the one sent ahead, or a page sent now.
    fn take_sent(&mut self, w: &Window, page: u32) -> Ticket {
        let interval = w.interval();
        let found = self
            .ahead
            .iter()
            .position(|s| s.interval == interval && s.page == page);
        if let Some(sent) = found.and_then(|i| self.ahead.remove(i)) {
            return sent.ticket;
        }
        self.send(w, page);
        self.ahead.pop_back().map_or(0, |sent| sent.ticket)
    }

    /// How many pages of `interval` are sent ahead.
    fn sent_for(&self, interval: &str) -> usize {
        self.ahead.iter().filter(|s| s.interval == interval).count()
    }

    /// Forgets the pages of `interval` sent ahead: the window ended, split or starts over.
    fn forget_ahead(&mut self, interval: &str) {
        let source = &mut *self.source;
        self.ahead.retain(|s| {
            let keep = s.interval != interval;
            if !keep {
                source.forget_page(s.ticket);
            }
            keep
        });
    }

    /// Once every page of the current window is sent (`all_sent`), sends the first page of
    /// the window that comes next, so that it is there when the current one is done.
    fn prefetch_next(&mut self, current: &Window, all_sent: bool, lookahead: usize) {
        let next = match self.pos.stack.len() {
            0 | 1 => self.next_top,
            n => self.pos.stack.get(n - 2).copied(),
        };
        let Some(next) = next.filter(|n| n != current) else {
            return;
        };
        let interval = next.interval();
        if all_sent && self.ahead.len() < lookahead && self.sent_for(&interval) == 0 {
            self.send(&next, 1);
        }
    }

    /// Exports window `w` through an asynchronous job: pick up the saved job or the one
    /// submitted ahead for `w`, or submit one; submit jobs ahead for the windows that follow;
    /// wait for `w`'s job (polling those ahead in the same rounds); page its results by
    /// cursor; delete it. Rows are committed in window order only: a job ahead that is
    /// fulfilled first waits for its turn. A job that fails, is cancelled, expires or takes
    /// longer than `--job-timeout`, even half-way through its results, is submitted again;
    /// rows already written are skipped by the id set. A window whose job the API refuses as
    /// too long, or whose results exceed what it pages through, is split in two.
    fn job_window(&mut self, w: &Window) -> Result<WindowEnd> {
        let splittable = w.end - w.start >= MIN_SPLIT * 2;
        let interval = w.interval();
        let mut counts = WindowCounts::default();
        loop {
            let (job, picked) = match self.pos.job.clone() {
                Some(job) => (job, false),
                None => {
                    let id = match self.take_job_ahead(w) {
                        Some(id) => id,
                        None => match self.submit(w) {
                            Ok(id) => id,
                            Err(e)
                                if Refusal::kind_of(&e) == Some(RefusalKind::IntervalTooLong) =>
                            {
                                self.submissions.remove(&interval);
                                let why = "the API refuses a job this long";
                                return too_big(w, splittable, counts, why.into());
                            }
                            Err(e) => return Err(e),
                        },
                    };
                    let job = JobCursor { id, cursor: None };
                    self.pos.job = Some(job.clone());
                    (job, true)
                }
            };
            if self.submit_ahead()? || picked {
                self.save()?;
            }
            if let JobEnd::Lost(why) = self.await_job(&job.id)? {
                self.drop_job(&job.id, &interval, &why)?;
                continue;
            }
            // Page the results.
            let mut cursor = job.cursor;
            loop {
                let size = self.pos.job_page_size;
                let page = ResultsPage {
                    job_id: &job.id,
                    page_size: size,
                    cursor: cursor.as_deref(),
                };
                let mut results = match self.source.job_results(&page) {
                    Ok(results) => results,
                    Err(e) => match Refusal::kind_of(&e) {
                        Some(RefusalKind::PagingCap) => {
                            self.finish_job(&job.id, &interval);
                            let why = "the job's results exceed what the API pages through";
                            return too_big(w, splittable, counts, why.into());
                        }
                        Some(RefusalKind::PageSize { ceiling }) => {
                            let Some(next) = smaller_page_size(ceiling, size) else {
                                return Err(e);
                            };
                            self.log.info(&format!(
                                "job results page size {size} refused; using {next} from now on"
                            ));
                            self.pos.job_page_size = next;
                            continue;
                        }
                        Some(_) => {
                            // The cursor is no longer accepted: the job expired or was removed.
                            let why = match self.source.job_status(&job.id)? {
                                Some(status) if status.state == JobState::Fulfilled => {
                                    return Err(e)
                                }
                                Some(status) => describe_job(&status),
                                None => "it no longer exists".to_string(),
                            };
                            self.drop_job(&job.id, &interval, &why)?;
                            break;
                        }
                        None => return Err(e),
                    },
                };
                counts.pages += 1;
                self.stats.pages = self.stats.pages.saturating_add(1);
                counts.conversations += self.write_page(w, results.rows.as_mut())?;
                crate::crash::reach("page-written", || {});
                let Some(next) = results.cursor else {
                    self.finish_job(&job.id, &interval);
                    return Ok(WindowEnd::Done(counts));
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

    /// Submits the job of window `w`, counting the submission against the window.
    fn submit(&mut self, w: &Window) -> Result<String> {
        let interval = w.interval();
        let count = self.submissions.entry(interval.clone()).or_insert(0);
        *count = count.saturating_add(1);
        let query = JobQuery::new(interval.clone(), self.end_filter(), &self.plan.filters);
        let id = self.source.submit_job(&query)?;
        self.log.info(&format!("job {id} submitted for {interval}"));
        let seen = JobSeen {
            since: self.source.now(),
            state: None,
        };
        self.jobs.insert(id.clone(), seen);
        Ok(id)
    }

    /// The job submitted ahead for window `w`, taken off the list of jobs ahead.
    fn take_job_ahead(&mut self, w: &Window) -> Option<String> {
        let at = self.pos.ahead.iter().position(|a| a.window == *w)?;
        Some(self.pos.ahead.remove(at).id)
    }

    /// The windows still to export on the jobs route, in order, from the one in progress (or
    /// next to start), at most `n`.
    fn windows_to_come(&self, n: usize) -> Vec<Window> {
        let (skip, split) = match self.pos.stack.as_slice() {
            [] => (self.pos.top_index, &[][..]),
            stack => (self.pos.top_index.saturating_add(1), stack),
        };
        let tops = self
            .plan
            .windows()
            .skip(usize::try_from(skip).unwrap_or(usize::MAX))
            .take_while(|(route, _)| *route == Route::Jobs)
            .map(|(_, w)| w);
        split.iter().rev().copied().chain(tops).take(n).collect()
    }

    /// Submits jobs for the windows after the one in progress, up to `jobs_ahead` of them. A
    /// window whose job ahead was lost waits for its turn. A refused submission, or one that
    /// needed retries (a 429 among them), lowers the number of jobs ahead. Returns whether a
    /// job was submitted (the position changed).
    fn submit_ahead(&mut self) -> Result<bool> {
        let mut submitted = false;
        let next: Vec<Window> = self
            .windows_to_come(self.jobs_ahead.saturating_add(1))
            .into_iter()
            .skip(1)
            .collect();
        for w in next {
            let interval = w.interval();
            if self.pos.ahead.iter().any(|a| a.window == w)
                || self.submissions.contains_key(&interval)
            {
                continue;
            }
            let retries = self.source.retries();
            match self.submit(&w) {
                Ok(id) => {
                    self.pos.ahead.push(AheadJob { window: w, id });
                    submitted = true;
                    if self.source.retries() > retries && self.jobs_ahead > 1 {
                        self.lower_jobs_ahead(self.jobs_ahead - 1, "a submission needed retries");
                        break;
                    }
                }
                Err(e) if code_of(&e) == Code::Interrupted => return Err(e),
                Err(e) => {
                    self.submissions.remove(&interval);
                    self.lower_jobs_ahead(self.jobs_ahead.saturating_sub(1), &format!("{e:#}"));
                    break;
                }
            }
        }
        Ok(submitted)
    }

    fn lower_jobs_ahead(&mut self, to: usize, why: &str) {
        self.jobs_ahead = to;
        self.log.info(&format!(
            "jobs submitted ahead: at most {to} from now on ({why})"
        ));
    }

    /// Deletes the jobs ahead whose windows are not in `keep`: the jobs route is over, or a
    /// resumed state named jobs for other windows.
    fn release_jobs_ahead(&mut self, keep: &[Window]) {
        let (kept, stale) = std::mem::take(&mut self.pos.ahead)
            .into_iter()
            .partition(|a| keep.contains(&a.window));
        self.pos.ahead = kept;
        for job in stale {
            self.jobs.remove(&job.id);
            self.delete_quietly(&job.id);
        }
    }

    /// Waits until job `job_id` is fulfilled or lost, backing off between polling rounds;
    /// each round polls it and every job ahead not yet seen fulfilled, once. A job ahead
    /// found lost is deleted and submitted again when its turn comes.
    fn await_job(&mut self, job_id: &str) -> Result<JobEnd> {
        let mut interval = self.plan.job_poll;
        loop {
            match self.poll(job_id)? {
                Polled::Fulfilled => return Ok(JobEnd::Fulfilled),
                Polled::Lost(why) => return Ok(JobEnd::Lost(why)),
                Polled::Waiting => {}
            }
            for ahead in self.pos.ahead.clone() {
                if let Polled::Lost(why) = self.poll(&ahead.id)? {
                    self.pos.ahead.retain(|a| a.id != ahead.id);
                    self.jobs.remove(&ahead.id);
                    self.delete_quietly(&ahead.id);
                    self.log.warn(&format!(
                        "job {} submitted ahead for {} is lost ({why}); it is submitted again when its turn comes",
                        ahead.id,
                        ahead.window.interval()
                    ));
                }
            }
            self.source.wait(interval)?;
            interval = interval.mul_f64(1.5).min(MAX_JOB_POLL);
        }
    }

    /// One status poll of a job, unless it was already seen fulfilled. A job is lost once it
    /// fails, is cancelled or expires, once its `expirationDate` has passed, or once it has
    /// taken longer than `--job-timeout` since it was submitted (or first seen, on resume).
    fn poll(&mut self, job_id: &str) -> Result<Polled> {
        let now = self.source.now();
        let seen = *self.jobs.entry(job_id.to_string()).or_insert(JobSeen {
            since: now,
            state: None,
        });
        if seen.state == Some(JobState::Fulfilled) {
            return Ok(Polled::Fulfilled);
        }
        let Some(status) = self.source.job_status(job_id)? else {
            return Ok(Polled::Lost("it no longer exists".into()));
        };
        if seen.state != Some(status.state) {
            self.log
                .info(&format!("job {job_id}: {}", status.state.name()));
            if let Some(known) = self.jobs.get_mut(job_id) {
                known.state = Some(status.state);
            }
        }
        let now = self.source.now();
        match status.state {
            JobState::Fulfilled => return Ok(Polled::Fulfilled),
            JobState::Queued | JobState::Pending | JobState::Unknown => {}
            _ => return Ok(Polled::Lost(describe_job(&status))),
        }
        let expires = status
            .expiration_date
            .as_deref()
            .and_then(window::parse_api_timestamp);
        if expires.is_some_and(|at| at <= now) {
            return Ok(Polled::Lost(
                "its results expired before it was fulfilled".into(),
            ));
        }
        let waited = (now - seen.since).unsigned_abs();
        if waited >= self.plan.job_timeout {
            return Ok(Polled::Lost(format!(
                "not fulfilled after {} (--job-timeout)",
                crate::times::format_duration(waited)
            )));
        }
        Ok(Polled::Waiting)
    }

    /// Forgets a lost job so the window's job is submitted again, unless it has been
    /// submitted too often already.
    fn drop_job(&mut self, job_id: &str, interval: &str, why: &str) -> Result<()> {
        self.delete_quietly(job_id);
        self.jobs.remove(job_id);
        self.pos.job = None;
        let submissions = self.submissions.get(interval).copied().unwrap_or(0);
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

    /// Deletes a window's job once its results are written or no longer wanted.
    fn finish_job(&mut self, job_id: &str, interval: &str) {
        self.delete_quietly(job_id);
        self.jobs.remove(job_id);
        self.submissions.remove(interval);
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
    /// commits them. Returns how many were written. The page is read one conversation at a
    /// time (twice for CSV with name columns: once to look up the names the rows need, in
    /// bulk).
    fn write_page(&mut self, w: &Window, rows: &mut dyn Rows) -> Result<u64> {
        self.write_rows(Some(w), rows)
    }

    /// Whether the API filters out conversations in progress: with `--ended-only`, unless a
    /// ledger must see them to record them.
    fn end_filter(&self) -> bool {
        self.plan.ended_only && self.control.pending.is_none()
    }

    /// Writes the conversations of a reply, as `write_page` does for window `owner`; without
    /// an owner (the ledger's follow-up), those that have ended and are not written yet, their
    /// ids kept in `followed`. A conversation in progress found by a window is recorded for
    /// the ledger, and written unless `--ended-only`.
    fn write_rows(&mut self, owner: Option<&Window>, rows: &mut dyn Rows) -> Result<u64> {
        let lookups = self.sink.lookups(&self.plan.columns);
        if !lookups.is_empty() {
            let mut ids: Vec<Vec<String>> = vec![Vec::new(); lookups.len()];
            rows.each(&mut |raw| {
                let conversation = parse_conversation(raw)?;
                for ((lookup, ids_of), ids) in lookups.iter().zip(ids.iter_mut()) {
                    for id in ids_of(&conversation) {
                        if lookup.fixed_name(id).is_none() && !ids.iter().any(|known| known == id) {
                            ids.push(id.to_string());
                        }
                    }
                }
                Ok(())
            })?;
            for ((lookup, _), ids) in lookups.iter().zip(&ids) {
                self.names.resolve(self.source, *lookup, ids, self.log)?;
            }
        }
        let mut written: u64 = 0;
        rows.each(&mut |raw| {
            let conversation = parse_conversation(raw)?;
            let start = conversation.start().ok_or_else(|| {
                anyhow!(
                    "conversation {} has an unreadable conversationStart",
                    conversation.conversation_id
                )
            })?;
            let ended = conversation.ended();
            match owner {
                Some(w) if !w.owns(start) => {
                    self.stats.outside_window = self.stats.outside_window.saturating_add(1);
                    return Ok(());
                }
                None if !ended => return Ok(()),
                _ => {}
            }
            if self.seen.contains(conversation.conversation_id.as_ref()) {
                self.stats.repeats = self.stats.repeats.saturating_add(1);
                return Ok(());
            }
            if owner.is_some() && !ended && self.control.pending.is_some() {
                self.found
                    .push((conversation.conversation_id.to_string(), start));
                if self.plan.ended_only {
                    return Ok(());
                }
            }
            self.seen.insert(conversation.conversation_id.to_string());
            if owner.is_none() {
                self.followed.push(conversation.conversation_id.to_string());
            }
            self.sink.write(&Record {
                raw,
                conversation: &conversation,
                columns: &self.plan.columns,
                attributes: &self.plan.attributes,
                name_of: &|lookup, id| self.names.get(lookup, id),
            })?;
            written = written.saturating_add(1);
            Ok(())
        })?;
        self.sink.commit()?;
        self.stats.conversations = self.stats.conversations.saturating_add(written);
        Ok(written)
    }
}

/// A conversation of a checked reply (the check parsed it the same way before it counted).
fn parse_conversation(raw: &RawValue) -> Result<Conversation<'_>> {
    serde_json::from_str(raw.get())
        .context("a conversation in the reply does not have the expected shape")
}

/// A window over the paging cap: split it, or fail if it is already as small as allowed.
fn too_big(w: &Window, splittable: bool, counts: WindowCounts, why: String) -> Result<WindowEnd> {
    if splittable {
        return Ok(WindowEnd::Split(counts, why));
    }
    Err(anyhow!(
        "window {} holds {why} even at {}s, the smallest window: narrow the export with --ended-only or contact Genesys about the volume",
        w.interval(),
        (w.end - w.start).whole_seconds()
    ))
}

/// The job results page size to try after `size` was refused: the ceiling the refusal states,
/// or else half (not below `JOB_PAGE_SIZE_MIN`). `None` when there is nothing smaller to try.
fn smaller_page_size(ceiling: Option<u32>, size: u32) -> Option<u32> {
    let next = match ceiling {
        // The API knows its ceiling best.
        Some(n) => n.max(1),
        None => (size / 2).max(JOB_PAGE_SIZE_MIN),
    };
    (next < size).then_some(next)
}

fn describe_job(status: &JobStatus) -> String {
    match &status.error_message {
        Some(message) => format!("{}: {message}", status.state.name()),
        None => status.state.name().to_string(),
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

/// Names of queues, users and wrap-up codes, looked up in bulk once per id and cached for the
/// run.
#[derive(Default)]
struct Names {
    queues: NameCache,
    users: NameCache,
    wrap_up_codes: NameCache,
}

/// The names of one lookup.
#[derive(Default)]
struct NameCache {
    /// `None` for an id the lookup did not return (deleted, or in a division out of reach).
    names: HashMap<String, Option<String>>,
    forbidden: bool,
}

impl Names {
    fn cache(&self, lookup: Lookup) -> &NameCache {
        match lookup {
            Lookup::Queues => &self.queues,
            Lookup::Users => &self.users,
            Lookup::WrapUpCodes => &self.wrap_up_codes,
        }
    }

    fn get(&self, lookup: Lookup, id: &str) -> Option<String> {
        self.cache(lookup).names.get(id).cloned().flatten()
    }

    /// Looks up the names of the ids not known yet, at most 100 a request. A lookup the API
    /// refuses with 403 leaves this kind of name empty for the rest of the run, with one
    /// warning naming the permission.
    fn resolve<S: Source>(
        &mut self,
        source: &mut S,
        lookup: Lookup,
        ids: &[String],
        log: &Log,
    ) -> Result<()> {
        let cache = match lookup {
            Lookup::Queues => &mut self.queues,
            Lookup::Users => &mut self.users,
            Lookup::WrapUpCodes => &mut self.wrap_up_codes,
        };
        if cache.forbidden {
            return Ok(());
        }
        let mut unknown: Vec<String> = Vec::new();
        for id in ids {
            if !cache.names.contains_key(id) && !unknown.contains(id) {
                unknown.push(id.clone());
            }
        }
        let noun = lookup.noun();
        for chunk in unknown.chunks(api::MAX_QUEUE_IDS_PER_LOOKUP) {
            let listing = match lookup {
                Lookup::Queues => source.queues(chunk)?,
                Lookup::Users => source.users(chunk)?,
                Lookup::WrapUpCodes => source.wrap_up_codes(chunk)?,
            };
            let Some(listing) = listing else {
                cache.forbidden = true;
                log.warn(&format!(
                    "{noun} names are left empty: the OAuth client's role lacks {}",
                    lookup.permission()
                ));
                return Ok(());
            };
            for entity in listing.entities {
                cache.names.insert(entity.id, entity.name);
            }
            let missing: Vec<&str> = chunk
                .iter()
                .filter(|id| !cache.names.contains_key(id.as_str()))
                .map(String::as_str)
                .collect();
            if !missing.is_empty() {
                log.warn(&format!(
                    "{noun} names are left empty for {} {noun}(s) not found (deleted, or in a division the OAuth client cannot see): {}",
                    missing.len(),
                    missing.join(", ")
                ));
            }
            for id in missing {
                cache.names.insert(id.to_string(), None);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Queue;
    use crate::sink::{Digest, Sink};
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
        /// Each conversation is listed twice and pages are de-duplicated: short pages mid-window.
        short_pages: bool,
        /// Replies of pages sent and not yet collected (computed when sent).
        sent_pages: HashMap<Ticket, Result<DetailsPage>>,
        /// The most pages sent and not yet collected at once.
        in_flight_max: usize,
        parallel: u32,
        /// Conversations still to arrive: one starts in the queried window each time a page
        /// of it is sent.
        arrivals: usize,
        /// Job numbers (1-based) that stay QUEUED for ever.
        stuck_jobs: Vec<usize>,
        /// The fake clock: it moves only when the driver waits.
        clock: OffsetDateTime,
        /// A job whose interval is longer than this is refused at submission.
        job_max_interval: Option<Duration>,
        /// A job answers QUEUED to this many polls before its terminal state.
        polls_to_fulfil: usize,
        /// Status polls each job (by number) has answered.
        job_polls: Vec<usize>,
        /// Ids of the jobs deleted: gone from then on.
        deleted: HashSet<String>,
        /// Submission calls (1-based, refused ones included) refused as if the API were busy.
        refused_submits: Vec<usize>,
        submit_calls: usize,
        /// The data lake's availability date.
        available: OffsetDateTime,
        /// The most jobs submitted and not deleted at once.
        live_max: usize,
        /// The API's present: a conversation ending after it is served in progress.
        present: Option<OffsetDateTime>,
        /// The ids of each by-id request.
        by_id_calls: Vec<Vec<String>>,
        /// A by-id request of more ids than this is refused.
        max_ids: Option<usize>,
        /// User and wrap-up code lookups, in order.
        name_lookups: Vec<(Lookup, Vec<String>)>,
    }

    /// A refusal as the adapter hands it over, for a request to `url`.
    fn refusal(status: u16, code: &str, message: &str, url: &str) -> anyhow::Error {
        anyhow::Error::new(Refusal {
            status,
            method: "GET",
            url: url.to_string(),
            code: Some(code.to_string()),
            message: Some(message.to_string()),
            correlation_id: None,
            html: false,
        })
    }

    fn render(id: &str, s: OffsetDateTime, e: OffsetDateTime) -> Box<RawValue> {
        render_seen(id, s, Some(e))
    }

    /// A conversation as the API shows it; without an end while it is in progress.
    fn render_seen(id: &str, s: OffsetDateTime, e: Option<OffsetDateTime>) -> Box<RawValue> {
        let mut json = serde_json::json!({
            "conversationId": id,
            "conversationStart": window::api_timestamp(s),
            "participants": [{"attributes": {"account": format!("A-{id}")},
                "sessions": [{"segments": [{"queueId": "q1"}, {"queueId": "q-gone"}]}]},
                {"userId": format!("u-{id}"), "sessions": [{"metrics": [{"name": "tTalk", "value": 60_000}],
                    "segments": [{"wrapUpCode": "w1"}, {"wrapUpCode": "ININ-WRAP-UP-TIMEOUT"}]}]}],
        });
        if let Some(e) = e {
            json["conversationEnd"] = serde_json::json!(window::api_timestamp(e));
        }
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
                short_pages: false,
                sent_pages: HashMap::new(),
                in_flight_max: 0,
                parallel: 3,
                arrivals: 0,
                stuck_jobs: Vec::new(),
                clock: datetime!(2026-11-10 00:00 UTC),
                job_max_interval: None,
                polls_to_fulfil: 0,
                job_polls: Vec::new(),
                deleted: HashSet::new(),
                refused_submits: Vec::new(),
                submit_calls: 0,
                available: datetime!(2026-11-02 00:00 UTC),
                live_max: 0,
                present: None,
                by_id_calls: Vec::new(),
                max_ids: None,
                name_lookups: Vec::new(),
            }
        }
    }

    impl Fake {
        /// The page as the API would serve it now, with the real interval semantics.
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
            // With short pages every conversation is listed twice and each page is
            // de-duplicated, as an index with duplicate entries would serve it.
            let copies = if self.short_pages { 2 } else { 1 };
            let matching: Vec<_> = matching
                .into_iter()
                .flat_map(|c| std::iter::repeat_n(c, copies))
                .collect();
            let size = query.paging.page_size as usize;
            let skip = (query.paging.page_number as usize - 1) * size;
            let mut page: Vec<&(String, OffsetDateTime, OffsetDateTime)> =
                matching.iter().skip(skip).take(size).copied().collect();
            page.dedup_by(|x, y| x.0 == y.0);
            let page: Vec<Box<RawValue>> = page
                .into_iter()
                .map(|(id, s, e)| self.shown(id, *s, *e))
                .collect();
            Ok(DetailsPage {
                conversations: if page.is_empty() { None } else { Some(page) },
                total_hits: Some(matching.len() as u64 + self.inflate_hits),
            })
        }

        /// A conversation as the API serves it at its present.
        fn shown(&self, id: &str, s: OffsetDateTime, e: OffsetDateTime) -> Box<RawValue> {
            if self.present.is_none_or(|now| e <= now) {
                render(id, s, e)
            } else {
                render_seen(id, s, None)
            }
        }

        /// Jobs submitted and not deleted.
        fn live(&self) -> usize {
            self.jobs.len() - self.deleted.len()
        }

        /// While `arrivals` last, a new conversation starts in the queried window each time a
        /// page of it is sent: the window changes while its pages are in flight.
        fn arrive(&mut self, interval: &str) {
            if self.arrivals == 0 {
                return;
            }
            self.arrivals -= 1;
            let (a, _) = bounds(interval);
            let n = self.conversations.len();
            let start = a + time::Duration::seconds(7 * n as i64 % 3000);
            let id = format!("new-{n}");
            self.conversations
                .push((id, start, start + time::Duration::minutes(1)));
        }
    }

    /// A one-page listing of the `ids` that `name` names, as a bulk lookup replies.
    fn listing(ids: &[String], name: impl Fn(&str) -> Option<String>) -> NameListing {
        let entities = ids
            .iter()
            .filter_map(|id| {
                name(id).map(|name| Queue {
                    id: id.clone(),
                    name: Some(name),
                })
            })
            .collect();
        NameListing {
            entities,
            page_count: None,
        }
    }

    impl Source for Fake {
        fn conversations(&mut self, ids: &[String]) -> Result<Vec<Box<RawValue>>> {
            self.by_id_calls.push(ids.to_vec());
            if self.max_ids.is_some_and(|max| ids.len() > max) {
                let url = format!("https://api.x{}", api::by_id_path(ids));
                return Err(refusal(400, "bad.request", "Too many ids", &url));
            }
            Ok(self
                .conversations
                .iter()
                .filter(|(id, _, _)| ids.contains(id))
                .map(|(id, s, e)| self.shown(id, *s, *e))
                .collect())
        }

        fn queues(&mut self, ids: &[String]) -> Result<Option<QueueListing>> {
            self.queue_lookups.push(ids.to_vec());
            if self.queues_forbidden {
                return Ok(None);
            }
            let name = |id: &str| (id == "q1").then(|| "Sales, \"EU\"".to_string());
            Ok(Some(listing(ids, name)))
        }

        fn users(&mut self, ids: &[String]) -> Result<Option<NameListing>> {
            self.name_lookups.push((Lookup::Users, ids.to_vec()));
            Ok(Some(listing(ids, |id| Some(format!("User {id}")))))
        }

        fn wrap_up_codes(&mut self, ids: &[String]) -> Result<Option<NameListing>> {
            self.name_lookups.push((Lookup::WrapUpCodes, ids.to_vec()));
            Ok(None)
        }

        fn send_page(&mut self, ticket: Ticket, query: DetailsQuery) {
            let reply = self.details_page(&query);
            self.sent_pages.insert(ticket, reply);
            self.in_flight_max = self.in_flight_max.max(self.sent_pages.len());
            self.arrive(&query.interval);
        }

        fn collect_page(&mut self, ticket: Ticket) -> Result<DetailsPage> {
            self.sent_pages
                .remove(&ticket)
                .expect("a page is collected once, after it was sent")
        }

        fn forget_page(&mut self, ticket: Ticket) {
            self.sent_pages.remove(&ticket);
        }

        fn parallel(&self) -> u32 {
            self.parallel
        }

        fn submit_job(&mut self, query: &JobQuery) -> Result<String> {
            self.submit_calls += 1;
            let url = "https://api.x/api/v2/analytics/conversations/details/jobs";
            if self.refused_submits.contains(&self.submit_calls) {
                return Err(refusal(
                    400,
                    "bad.request",
                    "Too many jobs in progress",
                    url,
                ));
            }
            let (a, b) = bounds(&query.interval);
            if self
                .job_max_interval
                .is_some_and(|max| (b - a).unsigned_abs() > max)
            {
                let message = "The interval may not be longer than 31 days.";
                return Err(refusal(400, "bad.request", message, url));
            }
            self.jobs.push((query.interval.clone(), 0, false));
            self.job_polls.push(0);
            self.live_max = self.live_max.max(self.jobs.len() - self.deleted.len());
            Ok(format!("job-{}", self.jobs.len()))
        }

        fn job_status(&mut self, job_id: &str) -> Result<Option<JobStatus>> {
            let n = job_number(job_id);
            let Some((_, _, lost)) = self.jobs.get(n - 1) else {
                return Ok(None);
            };
            if self.deleted.contains(job_id) {
                return Ok(None);
            }
            self.job_polls[n - 1] += 1;
            let state = if self.job_polls[n - 1] <= self.polls_to_fulfil {
                JobState::Queued
            } else if self.failing_jobs.contains(&n) {
                JobState::Failed
            } else if self.stuck_jobs.contains(&n) {
                JobState::Queued
            } else if *lost {
                JobState::Expired
            } else {
                JobState::Fulfilled
            };
            Ok(Some(JobStatus {
                state,
                error_message: (state == JobState::Failed).then(|| "simulated".into()),
                expiration_date: None,
            }))
        }

        fn job_results(&mut self, page: &ResultsPage) -> Result<JobPage> {
            let (job_id, page_size, cursor) = (page.job_id, page.page_size, page.cursor);
            let url = page.path();
            if page_size > self.job_page_ceiling {
                let message = format!("pageSize must be at most {}", self.job_page_ceiling);
                return Err(refusal(400, "bad.request", &message, &url));
            }
            if self.deleted.contains(job_id) {
                return Err(refusal(404, "not.found", "Job ID not found", &url));
            }
            let n = job_number(job_id);
            let (interval, pages, lost) = self.jobs[n - 1].clone();
            if lost || self.expiring_job == Some((n, pages)) {
                self.jobs[n - 1].2 = true;
                return Err(refusal(
                    400,
                    "analytics.job.expired",
                    "The job has expired",
                    &url,
                ));
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
            let conversations: Vec<Box<RawValue>> = matching[offset..end]
                .iter()
                .map(|(id, s, e)| self.shown(id, *s, *e))
                .collect();
            Ok(JobPage {
                rows: Box::new(conversations),
                cursor: (end < matching.len()).then(|| end.to_string()),
            })
        }

        fn delete_job(&mut self, job_id: &str) -> Result<()> {
            self.deleted_jobs += 1;
            self.deleted.insert(job_id.to_string());
            Ok(())
        }

        fn availability(&mut self) -> Result<OffsetDateTime> {
            Ok(self.available)
        }

        fn now(&self) -> OffsetDateTime {
            self.clock
        }

        fn wait(&mut self, duration: Duration) -> Result<()> {
            self.clock += duration;
            Ok(())
        }

        fn retries(&self) -> u64 {
            0
        }

        fn requests(&self) -> u64 {
            let jobs = self.jobs.iter().map(|j| j.1 + 2).sum::<usize>();
            let polls = self.job_polls.iter().sum::<usize>();
            (self.queries.len() + jobs + polls) as u64
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
            filters: QueryFilters::default(),
            format,
            columns: crate::columns::default_columns(),
            attributes: Vec::new(),
            split_at: from,
            job_poll: Duration::from_secs(1),
            job_timeout: Duration::from_secs(3600),
        }
    }

    /// The plan with jobs for windows before `split_at`.
    fn jobs_plan(format: Format, window_secs: u64, split_at: OffsetDateTime) -> Plan {
        Plan {
            split_at,
            ..plan(format, window_secs, 2)
        }
    }

    const QUIET: Log = Log::QUIET;

    fn export(fake: &mut Fake, plan: &Plan) -> (String, ExportStats) {
        let mut sink = Sink::new(Vec::new(), plan.format, "memory");
        let control = Control {
            checkpoint: &mut |_, _| Ok(()),
            stop: &|| None,
            pending: None,
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
        let at = |s: &str| window::parse_api_timestamp(s).unwrap();
        let rows = [
            ("a", "2026-11-01T00:10:00Z", "2026-11-01T00:20:00Z"),
            // Crosses the 01:00 window boundary: both windows see it, the first owns it.
            ("b", "2026-11-01T00:55:00Z", "2026-11-01T01:30:00Z"),
            ("c", "2026-11-01T01:05:00Z", "2026-11-01T01:06:00Z"),
            // Crosses midnight.
            ("d", "2026-11-01T23:50:00Z", "2026-11-02T00:40:00Z"),
            ("e", "2026-11-02T12:00:00Z", "2026-11-02T12:01:00Z"),
            // Outside the range.
            ("z", "2026-11-03T00:00:00Z", "2026-11-03T00:01:00Z"),
        ];
        Fake::new(&rows.map(|(id, s, e)| (id, at(s), at(e))))
    }

    /// A ledger in memory that notes what the loop asks of it in `events`, beside the saves.
    struct MemLedger<'e> {
        ids: Vec<String>,
        events: &'e std::cell::RefCell<Vec<String>>,
    }

    impl PendingLedger for MemLedger<'_> {
        fn due(&self) -> Vec<String> {
            let mut ids = self.ids.clone();
            ids.sort();
            ids
        }

        fn record(&mut self, found: &[(String, OffsetDateTime)]) -> Result<()> {
            let ids: Vec<&str> = found.iter().map(|(id, _)| id.as_str()).collect();
            self.events.borrow_mut().push(format!("record {ids:?}"));
            for (id, _) in found {
                if !self.ids.contains(id) {
                    self.ids.push(id.clone());
                }
            }
            Ok(())
        }

        fn settle(&mut self, written: &[String], gone: &[String]) -> Result<()> {
            self.events
                .borrow_mut()
                .push(format!("settle {written:?} {gone:?}"));
            self.ids
                .retain(|id| !written.contains(id) && !gone.contains(id));
            Ok(())
        }
    }

    /// The sample, a conversation still in progress at the API's present (`f`), and two
    /// recorded by an earlier run: `old-1` has ended since, `old-2` has not.
    fn with_pending() -> Fake {
        let at = |s: &str| window::parse_api_timestamp(s).unwrap();
        let mut fake = sample();
        for (id, s, e) in [
            ("f", "2026-11-02T23:50:00Z", "2026-11-03T01:00:00Z"),
            ("old-1", "2026-10-31T23:00:00Z", "2026-10-31T23:30:00Z"),
            ("old-2", "2026-10-31T23:30:00Z", "2026-11-04T00:00:00Z"),
        ] {
            fake.conversations.push((id.to_string(), at(s), at(e)));
        }
        fake.present = Some(at("2026-11-03T00:05:00Z"));
        fake
    }

    /// Runs `plan` over `fake` with a ledger holding `ids`, from `resume`; returns the output,
    /// the ledger's ids at the end and the events (saves, records, settlements) in order.
    fn export_with_ledger(
        fake: &mut Fake,
        plan: &Plan,
        ids: &[&str],
        resume: Option<Resume>,
    ) -> (String, Vec<String>, Vec<String>) {
        let events = std::cell::RefCell::new(Vec::new());
        let mut ledger = MemLedger {
            ids: ids.iter().map(|id| id.to_string()).collect(),
            events: &events,
        };
        let mut sink = Sink::new(Vec::new(), plan.format, "memory");
        let mut checkpoint = |pos: &Position, _: &[Mark]| {
            events.borrow_mut().push(match &pos.follow_up {
                Some(f) => format!("save follow-up after {:?}", f.after),
                None => format!("save window {}", pos.top_index),
            });
            Ok(())
        };
        let control = Control {
            checkpoint: &mut checkpoint,
            stop: &|| None,
            pending: Some(&mut ledger),
        };
        run(fake, &mut sink, plan, resume, control, &QUIET).unwrap();
        let out = String::from_utf8(sink.finish().unwrap()).unwrap();
        (out, ledger.due(), events.into_inner())
    }

    #[test]
    fn a_ledger_is_followed_up_before_the_range_and_gains_what_is_in_progress() {
        for ended_only in [true, false] {
            let mut fake = with_pending();
            let plan = Plan {
                ended_only,
                ..plan(Format::Csv, 86_400, 100)
            };
            let (csv, due, events) =
                export_with_ledger(&mut fake, &plan, &["old-2", "gone", "old-1"], None);
            let mut want = vec!["old-1", "a", "b", "c", "d", "e"];
            if !ended_only {
                want.push("f");
                // Written as it is, without an end.
                assert!(csv
                    .lines()
                    .last()
                    .unwrap()
                    .starts_with("f,2026-11-02T23:50:00.000Z,,"));
            }
            assert_eq!(ids_of_csv(&csv), want, "ended_only {ended_only}");
            assert_eq!(due, ["f", "old-2"]);
            assert_eq!(fake.by_id_calls, [["gone", "old-1", "old-2"]]);
            assert_eq!(
                events[..4],
                [
                    "save follow-up after None",
                    "save follow-up after Some(\"old-2\")",
                    "settle [\"old-1\"] [\"gone\"]",
                    "save window 0",
                ]
            );
            // What was found in progress is recorded before the save that covers its page.
            let at = events.iter().position(|e| e == "record [\"f\"]").unwrap();
            assert_eq!(events[at + 1], "save window 2");
        }
    }

    #[test]
    fn a_resumed_follow_up_settles_what_its_output_holds_and_goes_on_after_it() {
        let mut fake = with_pending();
        let plan = Plan {
            ended_only: true,
            ..plan(Format::Csv, 86_400, 100)
        };
        // Killed after the state recorded `old-1`, before the ledger lost it.
        let resume = Resume {
            position: Position::start(
                Some(FollowUp {
                    after: Some("old-1".into()),
                }),
                0,
            ),
            written: HashSet::from(["old-1".to_string()]),
        };
        let (csv, due, events) =
            export_with_ledger(&mut fake, &plan, &["old-1", "old-2"], Some(resume));
        assert_eq!(events[1], "settle [\"old-1\"] []");
        assert_eq!(fake.by_id_calls, [["old-2"]]);
        assert_eq!(csv.lines().filter(|l| l.starts_with("old-")).count(), 0);
        assert_eq!(due, ["f", "old-2"]);
    }

    #[test]
    fn follow_up_batches_halve_on_a_refusal_of_too_many_ids() {
        let mut fake = with_pending();
        fake.conversations
            .retain(|(id, _, _)| !id.starts_with("old"));
        let plan = plan(Format::Jsonl, 86_400, 100);
        let ids: Vec<String> = (0..5).map(|i| format!("x-{i}")).collect();
        let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        fake.max_ids = Some(2);
        let (_, due, _) = export_with_ledger(&mut fake, &plan, &id_refs, None);
        let sizes: Vec<usize> = fake.by_id_calls.iter().map(Vec::len).collect();
        assert_eq!(sizes, [5, 2, 2, 1]);
        assert_eq!(due, ["f"]);
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
    fn name_columns_look_up_each_id_once_and_a_refused_lookup_leaves_names_empty() {
        let mut fake = sample();
        let mut p = plan(Format::Csv, 3600, 100);
        p.columns =
            crate::columns::parse("conversation_id,user_names,wrap_up_names,t_talk").unwrap();
        let (csv, stats) = export(&mut fake, &p);
        assert_eq!(stats.conversations, 5);
        assert!(fake.queue_lookups.is_empty(), "no queue column");
        let users: Vec<Vec<String>> = fake
            .name_lookups
            .iter()
            .filter(|(l, _)| *l == Lookup::Users)
            .map(|(_, ids)| ids.clone())
            .collect();
        // One lookup per page with users not seen yet; every user once.
        let mut looked_up: Vec<String> = users.concat();
        looked_up.sort();
        assert_eq!(looked_up, ["u-a", "u-b", "u-c", "u-d", "u-e"]);
        // The wrap-up lookup is refused once and never asked again; system codes never go.
        let wrap_ups: Vec<&Vec<String>> = fake
            .name_lookups
            .iter()
            .filter(|(l, _)| *l == Lookup::WrapUpCodes)
            .map(|(_, ids)| ids)
            .collect();
        assert_eq!(wrap_ups, [&vec!["w1".to_string()]]);
        let mut lines = csv.lines();
        assert_eq!(
            lines.next(),
            Some("conversation_id,user_names,wrap_up_names,t_talk")
        );
        assert_eq!(lines.next(), Some("a,User u-a,;ININ-WRAP-UP-TIMEOUT,60000"));
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
        resume: Option<(Vec<u8>, Box<Position>)>,
        crash_at: usize,
    ) -> Result<Vec<u8>, (Vec<u8>, Box<Position>)> {
        let (bytes, resume) = match resume {
            Some((bytes, position)) => {
                let written = crate::sink::tests::ids_in(
                    &bytes[position.window_offset as usize..],
                    plan.format,
                )
                .into_iter()
                .collect();
                let position = *position;
                (bytes, Some(Resume { position, written }))
            }
            None => (Vec::new(), None),
        };
        let mut digest = Digest::default();
        digest.update(&bytes);
        let start = Mark {
            len: bytes.len() as u64,
            digest,
        };
        let mut sink = Sink::at(bytes, start, plan.format, "memory");
        let mut n = 0;
        let mut last: Option<(Position, u64)> = None;
        let mut checkpoint = |p: &Position, marks: &[Mark]| {
            n += 1;
            last = Some((p.clone(), marks[0].len));
            if n == crash_at {
                anyhow::bail!("crash");
            }
            Ok(())
        };
        let control = Control {
            checkpoint: &mut checkpoint,
            stop: &|| None,
            pending: None,
        };
        let result = run(fake, &mut sink, plan, resume, control, &QUIET);
        let mut bytes = sink.finish().unwrap();
        match result {
            Ok(_) => Ok(bytes),
            Err(_) => {
                let (position, len) = last.unwrap();
                bytes.truncate(len as usize);
                Err((bytes, Box::new(position)))
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
        // One job for the whole part before the split point, whatever --window says, deleted
        // after use.
        assert_eq!(fake.jobs.len(), 1);
        assert_eq!(fake.deleted_jobs, 1);
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
        assert_eq!(fake.jobs.len(), 3);
    }

    /// Jobs that keep failing (`stuck`: never leave QUEUED) end the run with exit 5 once a
    /// window's job was submitted `MAX_JOB_SUBMISSIONS` times.
    fn check_gives_up(stuck: bool, why: &str) {
        let p = jobs_plan(Format::Csv, 86_400, datetime!(2026-11-03 00:00 UTC));
        let mut fake = sample();
        if stuck {
            fake.stuck_jobs = (1..=10).collect();
        } else {
            fake.failing_jobs = (1..=10).collect();
        }
        let mut sink = Sink::new(Vec::new(), Format::Csv, "memory");
        let control = Control {
            checkpoint: &mut |_, _| Ok(()),
            stop: &|| None,
            pending: None,
        };
        let err = run(&mut fake, &mut sink, &p, None, control, &QUIET).unwrap_err();
        assert_eq!(code_of(&err), Code::GaveUp);
        assert!(format!("{err}").contains(why), "{err}");
        assert_eq!(fake.jobs.len(), MAX_JOB_SUBMISSIONS as usize);
    }

    #[test]
    fn jobs_that_keep_failing_or_never_leave_queued_give_up_with_exit_5() {
        check_gives_up(false, "FAILED: simulated");
        check_gives_up(true, "--job-timeout");
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
    fn pages_in_flight_side_by_side_give_the_bytes_of_one_at_a_time() {
        for format in [Format::Csv, Format::Jsonl] {
            let p = plan(format, 86_400, 1);
            let mut one = sample();
            one.parallel = 1;
            let (alone, _) = export(&mut one, &p);
            let mut many = sample();
            many.parallel = 4;
            let (side_by_side, _) = export(&mut many, &p);
            assert_eq!(alone, side_by_side, "{format:?}");
            assert_eq!(one.in_flight_max, 1);
            // Pages ahead of the one committed, and the next window's first page.
            assert!(many.in_flight_max >= 3, "{}", many.in_flight_max);
        }
    }

    #[test]
    fn a_window_that_changes_while_its_pages_are_in_flight_is_walked_again() {
        // Pages fetched side by side can miss a conversation that moves from one page to the
        // next between them; every page's totalHits gives the change away.
        let mut fake = sample();
        fake.arrivals = 12;
        let p = plan(Format::Csv, 86_400, 1);
        let (csv, _) = export(&mut fake, &p);
        // Every page sent adds one: twelve arrived, and some pages were sent again.
        assert_eq!(fake.arrivals, 0);
        assert!(fake.queries.len() > 9 + 12, "{}", fake.queries.len());
        let ids = ids_of_csv(&csv);
        for id in ["a", "b", "c", "d", "e"] {
            assert_eq!(ids.iter().filter(|i| *i == id).count(), 1, "{id}: {ids:?}");
        }
        let distinct: HashSet<&String> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len(), "{ids:?}");
    }

    #[test]
    fn a_smaller_page_size_is_the_stated_ceiling_or_half() {
        let check = |ceiling, size, want| assert_eq!(smaller_page_size(ceiling, size), want);
        check(Some(1000), 10_000, Some(1000));
        check(Some(3), 10_000, Some(3));
        check(None, 10_000, Some(5000));
        check(None, 150, Some(100));
        check(None, 100, None);
        check(Some(1000), 1000, None);
    }

    #[test]
    fn a_job_stuck_in_queued_is_submitted_again_after_the_job_timeout() {
        let p = jobs_plan(Format::Csv, 86_400, datetime!(2026-11-03 00:00 UTC));
        let mut fake = sample();
        fake.stuck_jobs = vec![1];
        let (csv, _) = export(&mut fake, &p);
        assert_eq!(ids_of_csv(&csv), ["a", "b", "c", "d", "e"]);
        // The range's one job was stuck: submitted again.
        assert_eq!(fake.jobs.len(), 2);
        assert!(fake.clock >= datetime!(2026-11-10 01:00 UTC));
    }

    #[test]
    fn an_expired_job_halfway_through_does_not_shrink_the_page_size() {
        // Regression: any 400 on a results page was read as "page size too large", because
        // the rendered message holds the URL and the URL holds pageSize=.
        let p = jobs_plan(Format::Jsonl, 86_400, datetime!(2026-11-03 00:00 UTC));
        let mut fake = sample();
        fake.job_page_ceiling = 1000;
        fake.expiring_job = Some((1, 0));
        let mut sizes = Vec::new();
        let mut sink = Sink::new(Vec::new(), Format::Jsonl, "memory");
        let mut checkpoint = |p: &Position, _: &[Mark]| {
            sizes.push(p.job_page_size);
            Ok(())
        };
        let control = Control {
            checkpoint: &mut checkpoint,
            stop: &|| None,
            pending: None,
        };
        run(&mut fake, &mut sink, &p, None, control, &QUIET).unwrap();
        assert!(sizes.iter().all(|s| *s == JOB_PAGE_SIZE_START), "{sizes:?}");
    }

    #[test]
    fn a_short_page_ends_a_window_only_once_total_hits_are_reached() {
        // Regression: a short details page ended its window even when fewer rows than
        // totalHits had come back.
        let mut fake = sample();
        fake.short_pages = true;
        let (csv, _) = export(&mut fake, &plan(Format::Csv, 86_400, 2));
        assert_eq!(ids_of_csv(&csv), ["a", "b", "c", "d", "e"]);
    }

    /// Conversations from August to November, two of them crossing the edges of 31-day jobs.
    fn spread() -> Fake {
        let start = datetime!(2026-08-01 00:00 UTC);
        let mut rows: Vec<(String, OffsetDateTime, OffsetDateTime)> = (0..40)
            .map(|n| {
                let s = start + time::Duration::hours(55 * n + 3);
                let e = s + time::Duration::minutes(n * 7 % 300 + 1);
                (format!("s{n:02}"), s, e)
            })
            .collect();
        let at = |s: &str| window::parse_api_timestamp(s).unwrap();
        rows.push((
            "x1".into(),
            at("2026-08-31T23:50:00Z"),
            at("2026-09-01T00:30:00Z"),
        ));
        rows.push((
            "x2".into(),
            at("2026-10-02T23:55:00Z"),
            at("2026-10-03T01:00:00Z"),
        ));
        let borrowed: Vec<_> = rows.iter().map(|(i, s, e)| (i.as_str(), *s, *e)).collect();
        let mut fake = Fake::new(&borrowed);
        fake.polls_to_fulfil = 2;
        fake
    }

    /// August to November (94 days) through jobs only: four jobs of at most 31 days.
    fn spread_plan(format: Format) -> Plan {
        let from = datetime!(2026-08-01 00:00 UTC);
        let to = datetime!(2026-11-03 00:00 UTC);
        Plan {
            from,
            to,
            split_at: to,
            ..plan(format, 3600, 2)
        }
    }

    /// The ids `fake` holds that start in the plan's range, in the order jobs of
    /// `JOB_MAX_INTERVAL` write them (by id within each job).
    fn spread_ids(fake: &Fake, plan: &Plan) -> Vec<String> {
        let mut want = Vec::new();
        for (_, w) in plan.windows() {
            let mut ids: Vec<String> = fake
                .conversations
                .iter()
                .filter(|(_, s, _)| w.owns(*s))
                .map(|(id, _, _)| id.clone())
                .collect();
            ids.sort();
            want.extend(ids);
        }
        want
    }

    #[test]
    fn job_windows_span_the_lake_part_in_pieces_of_31_days_whatever_the_window() {
        let mut p = spread_plan(Format::Csv);
        p.split_at = datetime!(2026-11-02 00:00 UTC);
        let windows: Vec<(Route, String)> = p.windows().map(|(r, w)| (r, w.interval())).collect();
        assert_eq!(p.window_count(), 3 + 24);
        assert_eq!(windows.len(), 3 + 24);
        let check = |i: usize, route, interval: &str| {
            assert_eq!(windows[i], (route, interval.to_string()), "{i}")
        };
        check(
            0,
            Route::Jobs,
            "2026-08-01T00:00:00.000Z/2026-09-01T00:00:00.000Z",
        );
        check(
            1,
            Route::Jobs,
            "2026-09-01T00:00:00.000Z/2026-10-02T00:00:00.000Z",
        );
        check(
            2,
            Route::Jobs,
            "2026-10-02T00:00:00.000Z/2026-11-02T00:00:00.000Z",
        );
        check(
            3,
            Route::Query,
            "2026-11-02T00:00:00.000Z/2026-11-02T01:00:00.000Z",
        );
    }

    #[test]
    fn several_jobs_ahead_give_the_bytes_of_one_at_a_time() {
        for format in [Format::Csv, Format::Jsonl] {
            let p = spread_plan(format);
            let mut ahead = spread();
            let (pipelined, _) = export(&mut ahead, &p);
            // Refusing the first two submissions ahead lowers the jobs ahead to none.
            let mut alone = spread();
            alone.refused_submits = vec![2, 4];
            let (one_at_a_time, _) = export(&mut alone, &p);
            assert_eq!(pipelined, one_at_a_time, "{format:?}");
            let mut ids = crate::sink::tests::ids_in(pipelined.as_bytes(), format);
            ids.retain(|id| id != "conversation_id");
            assert_eq!(ids, spread_ids(&ahead, &p));
            assert_eq!(ahead.jobs.len(), 4, "one job per piece");
            assert_eq!(ahead.live_max, 1 + MAX_JOBS_AHEAD);
            assert_eq!(alone.live_max, 1);
            assert_eq!((ahead.live(), alone.live()), (0, 0), "every job deleted");
            // Jobs ahead were fulfilled while the first one was awaited: polled less.
            let polls = |f: &Fake| f.job_polls.iter().sum::<usize>();
            assert!(
                polls(&ahead) <= polls(&alone),
                "{} {}",
                polls(&ahead),
                polls(&alone)
            );
        }
    }

    #[test]
    fn lost_jobs_ahead_are_submitted_again_without_repeats() {
        let p = spread_plan(Format::Jsonl);
        let mut fake = spread();
        fake.job_page_ceiling = 2;
        // Job 2 (the second piece's, submitted ahead) fails while the first is awaited; job 3
        // (the third piece's) never leaves QUEUED; the first piece's job expires after two
        // pages.
        fake.failing_jobs = vec![2];
        fake.stuck_jobs = vec![3];
        fake.expiring_job = Some((1, 2));
        let (out, _) = export(&mut fake, &p);
        let ids = crate::sink::tests::ids_in(out.as_bytes(), Format::Jsonl);
        assert_eq!(ids, spread_ids(&fake, &p));
        assert_eq!(fake.live(), 0, "every job deleted");
        assert!(fake.jobs.len() >= 7, "{}", fake.jobs.len());
    }

    #[test]
    fn resuming_with_jobs_ahead_from_any_checkpoint_gives_the_same_bytes() {
        let p = spread_plan(Format::Csv);
        let mut fresh = spread();
        fresh.job_page_ceiling = 2;
        let whole = crash(&mut fresh, &p, None, usize::MAX).unwrap();
        let mut saw_ahead = false;
        for crash_at in 1..40 {
            let mut fake = spread();
            fake.job_page_ceiling = 2;
            let mut attempt = crash(&mut fake, &p, None, crash_at);
            while let Err(saved) = attempt {
                saw_ahead |= !saved.1.ahead.is_empty();
                attempt = crash(&mut fake, &p, Some(saved), 3);
            }
            assert_eq!(attempt.unwrap(), whole, "first crash at {crash_at}");
            // A resume reuses the saved jobs: at most the one submitted before a crash could
            // save it is left behind.
            assert!(
                fake.live() <= 1 + MAX_JOBS_AHEAD,
                "{crash_at}: {}",
                fake.live()
            );
        }
        assert!(saw_ahead);
    }

    #[test]
    fn a_job_the_api_refuses_as_too_long_is_halved() {
        let p = jobs_plan(Format::Csv, 3600, datetime!(2026-11-03 00:00 UTC));
        let mut fake = sample();
        fake.job_max_interval = Some(Duration::from_secs(12 * 3600));
        let (csv, _) = export(&mut fake, &p);
        assert_eq!(ids_of_csv(&csv), ["a", "b", "c", "d", "e"]);
        for (interval, _, _) in &fake.jobs {
            let (a, b) = bounds(interval);
            assert!(b - a <= time::Duration::hours(12), "{interval}");
        }
        assert_eq!(fake.live(), 0);
    }

    #[test]
    fn route_costs_favour_the_query_for_small_parts_and_jobs_for_large_ones() {
        let check = |hits: u64, page_size: u32, parallel: u32, jobs: bool| {
            let cost = RouteCost::of(hits, page_size, parallel);
            assert_eq!(
                cost.jobs_faster(),
                jobs,
                "{hits} {page_size} {parallel}: {cost:?}"
            );
        };
        check(0, 100, 4, false);
        check(700, 100, 4, false);
        check(5_000, 100, 4, false);
        check(15_000, 100, 4, false);
        check(20_000, 100, 4, true);
        check(1_000_000, 100, 4, true);
        // One request in flight: the query is slower, jobs win sooner.
        check(8_000, 100, 1, true);
        check(5_000, 100, 1, false);
        // Small details pages make the query dearer.
        check(5_000, 10, 4, true);
    }

    #[test]
    fn auto_sends_a_small_lake_part_to_the_query_and_a_large_one_to_jobs() {
        let p = plan(Format::Csv, 3600, 100);
        let mut small = sample();
        let split = split_point(&mut small, Mode::Auto, &p, &QUIET).unwrap();
        assert_eq!(split, p.from, "a small day goes to the query");
        assert!(small.sent_pages.is_empty());
        // A large week in the lake goes to jobs.
        let from = datetime!(2026-10-26 00:00 UTC);
        let rows: Vec<(String, OffsetDateTime)> = (0..25_000)
            .map(|n| (format!("c{n}"), from + time::Duration::seconds(n * 24)))
            .collect();
        let borrowed: Vec<_> = rows
            .iter()
            .map(|(id, s)| (id.as_str(), *s, *s + time::Duration::minutes(1)))
            .collect();
        let mut large = Fake::new(&borrowed);
        let week = Plan { from, ..p.clone() };
        let split = split_point(&mut large, Mode::Auto, &week, &QUIET).unwrap();
        assert_eq!(split, large.available);
        // One query of one result per week of the range (eight days: two), sent before the
        // availability date is known; the second piece lies past the lake and is forgotten.
        assert_eq!(large.queries.len(), 2);
        assert!(large.sent_pages.is_empty());
        // --mode query and --mode jobs stay as they are.
        assert_eq!(
            split_point(&mut large, Mode::Query, &week, &QUIET).unwrap(),
            from
        );
    }

    #[test]
    fn a_stop_request_ends_the_run_after_a_checkpoint() {
        let mut fake = sample();
        let mut sink = Sink::new(Vec::new(), Format::Csv, "memory");
        let mut saves = 0;
        let mut checkpoint = |_: &Position, _: &[Mark]| {
            saves += 1;
            Ok(())
        };
        let control = Control {
            checkpoint: &mut checkpoint,
            stop: &|| Some("interrupted by SIGTERM".to_string()),
            pending: None,
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
