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
//! reported to `Control::checkpoint` before the next one is written, save details pages that
//! came quickly (up to `query::MAX_GROUP` within `query::SAVE_EVERY`), which share one commit.

use std::time::Duration;

use anyhow::Result;
use serde_json::value::RawValue;
use time::OffsetDateTime;

use crate::api::{
    DetailsPage, DetailsQuery, JobQuery, JobStatus, Lookup, NameListing, RefusalKind, ResultsPage,
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
pub use plan::{end_filter, Mode, Plan, Position, Resume, Route};
pub use query::{GROUP_BYTES, MIN_SPLIT, RESULT_CAP};
pub use route::split_point;
pub use write::Wanted;

use crate::record::Parsed;

/// Names a details page sent ahead, until its reply is collected or forgotten.
pub type Ticket = u64;

/// Where pages, jobs and queue names come from.
pub trait Source {
    /// Starts fetching a details page; several may be in flight at once and finish in any
    /// order. The reply is kept until `collect_page` or `forget_page` names the ticket.
    fn send_page(&mut self, ticket: Ticket, query: DetailsQuery);
    /// Waits for the reply to a page sent with `send_page`. `Refused::PagingCap`: the query
    /// will not page this far.
    fn collect_page(&mut self, ticket: Ticket) -> Reply<DetailsPage>;
    /// Drops a page sent with `send_page` whose reply is no longer wanted.
    fn forget_page(&mut self, ticket: Ticket);
    /// Whether the reply to a page sent with `send_page` has arrived, so that `collect_page`
    /// would not wait. A source may always say no.
    fn page_ready(&mut self, _ticket: Ticket) -> bool {
        false
    }
    /// How many requests may be in flight at once (`--parallel`).
    fn parallel(&self) -> u32;
    /// Keeps a details page fetched already, to answer the next `send_page` of the same
    /// query instead of fetching it again. A source may ignore it.
    fn keep_page(&mut self, _query: DetailsQuery, _page: DetailsPage) {}
    /// Submits a job; returns its id. `Refused::IntervalTooLong`: the job's interval is.
    fn submit_job(&mut self, query: &JobQuery) -> Reply<String>;
    /// A job's status; `None` when the job no longer exists.
    fn job_status(&mut self, job_id: &str) -> Result<Option<JobStatus>>;
    /// A page of a job's results: its conversations, readable one at a time, and the cursor
    /// of the next page (`None`: the last). `Refused::PagingCap`: more results than the API
    /// pages through; `Refused::PageSize`: a smaller page; any other refusal: the cursor is
    /// no longer accepted. A source that parses each conversation to check it adds it to
    /// `wanted` on that parse and hands it back with the rows (`Rows::wanted`).
    fn job_results(&mut self, page: &ResultsPage, wanted: Wanted) -> Reply<JobPage>;
    fn delete_job(&mut self, job_id: &str) -> Result<()>;
    /// These conversations by id (at most `api::MAX_IDS_PER_REQUEST`), as the API has them
    /// now: those it no longer returns are absent. `Refused::TooManyIds`: ask for fewer at
    /// once.
    fn conversations(&mut self, ids: &[String]) -> Reply<Vec<Box<RawValue>>>;
    /// Page `page` of the names of these queues, users or wrap-up codes (at most 100 ids).
    /// `Refused::Forbidden` when the client may not read them; `Refused::TooManyIds`: ask
    /// for fewer at once.
    fn names(&mut self, lookup: Lookup, ids: &[String], page: u32) -> Reply<NameListing>;
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

/// What a refused `Source` call means for the driver, as the adapter read it from the
/// refusal and the request it made. The driver decides from this, never from a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// The details query or job results will not page this far.
    PagingCap,
    /// The job results page size is too large; the largest size the API states, if any.
    PageSize { ceiling: Option<u32> },
    /// The job's interval is longer than the API accepts.
    IntervalTooLong,
    /// Too many ids in one request (by id, or a name lookup): ask for fewer at once.
    TooManyIds,
    /// The OAuth client's role lacks the permission the call needs.
    Forbidden,
    /// The resource (a job, its cursor) no longer exists or has expired.
    Gone,
    /// Any other refusal.
    Other,
}

impl From<RefusalKind> for Refused {
    /// What a refusal means by its status, code and message alone; the adapter refines it
    /// with the request it made (several ids at once, a 403).
    fn from(kind: RefusalKind) -> Refused {
        match kind {
            RefusalKind::PagingCap => Refused::PagingCap,
            RefusalKind::PageSize { ceiling } => Refused::PageSize { ceiling },
            RefusalKind::IntervalTooLong => Refused::IntervalTooLong,
            RefusalKind::Gone => Refused::Gone,
            RefusalKind::TooManyIds | RefusalKind::Other => Refused::Other,
        }
    }
}

/// A `Source` call that failed: what the refusal means when the API refused it (`None`: no
/// refusal, e.g. the network or retries ran out), and the error to report to the user.
#[derive(Debug)]
pub struct SourceError {
    pub refused: Option<Refused>,
    pub error: anyhow::Error,
}

/// The reply to a `Source` call whose refusals the driver acts on.
pub type Reply<T> = std::result::Result<T, SourceError>;

impl SourceError {
    /// A failure the driver does not act on but reports.
    pub fn failed(error: anyhow::Error) -> SourceError {
        SourceError {
            refused: None,
            error,
        }
    }

    pub fn refused(refused: Refused, error: anyhow::Error) -> SourceError {
        SourceError {
            refused: Some(refused),
            error,
        }
    }
}

impl From<anyhow::Error> for SourceError {
    fn from(error: anyhow::Error) -> SourceError {
        SourceError::failed(error)
    }
}

impl From<SourceError> for anyhow::Error {
    fn from(e: SourceError) -> anyhow::Error {
        e.error
    }
}

/// The conversations of one reply, read one at a time, as often as needed: the reply may be
/// spooled to disk rather than held in memory.
pub trait Rows {
    /// Hands every conversation to `each`, in the reply's order.
    fn each(&mut self, each: &mut dyn FnMut(&str) -> Result<()>) -> Result<()>;

    /// The conversations read already, when the reply is held in memory.
    fn parsed(&self) -> Option<&Parsed> {
        None
    }

    /// The ids the rows need named, when the source collected them as it checked the reply.
    fn wanted(&mut self) -> Option<Wanted> {
        None
    }
}

impl Rows for Parsed {
    fn each(&mut self, each: &mut dyn FnMut(&str) -> Result<()>) -> Result<()> {
        self.heads().iter().try_for_each(|view| match view.raw {
            Some(raw) => each(raw),
            None => Err(anyhow::anyhow!(
                "the reply's conversations were read without their text"
            )),
        })
    }

    fn parsed(&self) -> Option<&Parsed> {
        Some(self)
    }
}

/// A page of a job's results.
pub struct JobPage {
    pub rows: Box<dyn Rows>,
    /// The next page's cursor; `None` on the last page.
    pub cursor: Option<String>,
}
