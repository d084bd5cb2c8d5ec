//! What to export and where an export stands: the `Plan` (range, windows, route per window,
//! format, columns) and the `Position` saved after every commit. Plain data: no requests,
//! no files.

use std::time::Duration;

use time::OffsetDateTime;

use super::follow_up::FollowUp;
use super::jobs::{AheadJob, JobCursor, JOB_MAX_INTERVAL, JOB_PAGE_SIZE_START};
use crate::api::QueryFilters;
use crate::columns::Column;
use crate::formula::Formulas;
use crate::ids::IdSet;
use crate::sink::Format;
use crate::tz::Zone;
use crate::window::{self, Window};

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
    /// The zone of local days (`--tz`): a `1d` query window is one local day.
    pub zone: Zone,
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
    /// Whether free-text CSV cells are guarded against formulas (`--no-formula-guard`: raw).
    pub formulas: Formulas,
    /// Windows before this instant go through jobs, the rest through the query.
    pub split_at: OffsetDateTime,
    /// The first interval between job status polls.
    pub job_poll: Duration,
    /// The longest a job may take from submission to fulfilled before it is submitted again.
    pub job_timeout: Duration,
}

impl Plan {
    /// The top-level windows in order, each with its route: the part before `split_at` in
    /// jobs of `JOB_MAX_INTERVAL` (whatever `--window` says), the rest in `--window` windows
    /// in the plan's zone (a `1d` window is a local day).
    pub fn windows(&self) -> impl Iterator<Item = (Route, Window)> + '_ {
        let split_at = self.split_at.clamp(self.from, self.to);
        let jobs = window::split(self.from, split_at, JOB_MAX_INTERVAL).map(|w| (Route::Jobs, w));
        let query =
            window::split_in(split_at, self.to, self.window, &self.zone).map(|w| (Route::Query, w));
        jobs.chain(query)
    }

    pub fn window_count(&self) -> u64 {
        let split_at = self.split_at.clamp(self.from, self.to);
        window::count(self.from, split_at, JOB_MAX_INTERVAL).saturating_add(window::count_in(
            split_at,
            self.to,
            self.window,
            &self.zone,
        ))
    }
}

/// Whether the queries carry the `conversationEnd` filter: with `--ended-only`, unless a
/// `--pending` ledger must see conversations in progress to record them. The one place
/// this rule lives.
pub fn end_filter(ended_only: bool, ledger: bool) -> bool {
    ended_only && !ledger
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
    pub written: IdSet,
}
