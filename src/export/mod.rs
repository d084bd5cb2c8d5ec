//! The export driver: windows → pages → conversations → sink, generic over a `Source`.
//!
//! Two routes fetch a window's conversations: the synchronous details query, paged by page
//! number (`query.rs`), and an asynchronous job: submit, poll, page the results by cursor,
//! delete (`jobs.rs`). The plan sends the part of the range before the split point to jobs, in
//! pieces of up to 31 days whatever `--window` says, and the rest to the query in `--window`
//! windows; `auto` puts the split point at the data lake's availability date when jobs would
//! export that part faster than the query (`route.rs`: `split_point`, `RouteCost`), else at
//! the start. Before the range, the `--pending` ledger's conversations are followed up by id
//! (`follow_up.rs`). Every route commits through `driver.rs`, in window order only, under the
//! same exactly-once rules:
//! - a window keeps a conversation only if its `conversationStart` lies inside the window
//!   (both APIs also return conversations of adjacent windows that overlap it), and
//! - within a top-level window an id is written once, however often shifting pages, split
//!   windows or resubmitted jobs repeat it.
//!
//! Runs in memory in unit tests (`fake.rs`) and against the real API through the adapter in
//! `genesys.rs`; it imports neither the HTTP client nor the state file. Memory is one page
//! plus the current window's id set; every page is committed (flushed and synced) and
//! reported to `Control::checkpoint` before the next one is requested.

use std::time::Duration;

use anyhow::Result;
use serde_json::value::RawValue;
use time::OffsetDateTime;

use crate::api::{
    DetailsPage, DetailsQuery, JobQuery, JobStatus, NameListing, QueueListing, ResultsPage,
};

mod driver;
#[cfg(test)]
mod fake;
mod follow_up;
mod jobs;
mod names;
mod plan;
mod query;
mod route;
mod write;

pub use driver::{run, Control};
pub use follow_up::{FollowUp, PendingLedger};
pub use jobs::{AheadJob, JobCursor, JOB_PAGE_SIZE_MAX};
pub use plan::{Mode, Plan, Position, Resume, Route};
pub use query::{MIN_SPLIT, RESULT_CAP};
pub use route::split_point;

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
