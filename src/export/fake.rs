//! An in-memory `Source` with the API's semantics (paging, interval overlap, jobs, by-id
//! requests, name lookups), and the helpers the driver's unit tests share. Test builds only.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use anyhow::Result;
use serde_json::value::RawValue;
use time::macros::datetime;
use time::OffsetDateTime;

use super::*;
use crate::api::{
    self, DetailsPage, DetailsQuery, JobQuery, JobState, JobStatus, Lookup, NameListing,
    QueryFilters, Queue, Refusal, ResultsPage,
};
use crate::report::{ExportStats, Log};
use crate::sink::{Digest, Format, Mark, Sink};
use crate::window;

/// An in-memory API: conversations as (id, start, end), paged like the real one, with the
/// real interval semantics (overlap, within the start days the interval touches).
pub struct Fake {
    pub conversations: Vec<(String, OffsetDateTime, OffsetDateTime)>,
    pub queue_lookups: Vec<Vec<String>>,
    pub queues_forbidden: bool,
    /// Reported instead of the true hit count, to force splits.
    pub inflate_hits: u64,
    pub queries: Vec<String>,
    /// Jobs submitted: (interval, results pages served, lost).
    pub jobs: Vec<(String, usize, bool)>,
    /// The largest job results page accepted.
    pub job_page_ceiling: u32,
    /// Job numbers (1-based) that fail instead of being fulfilled.
    pub failing_jobs: Vec<usize>,
    /// (job number, pages): that job expires after serving that many pages.
    pub expiring_job: Option<(usize, usize)>,
    pub deleted_jobs: usize,
    /// Each conversation is listed twice and pages are de-duplicated: short pages mid-window.
    pub short_pages: bool,
    /// Replies of pages sent and not yet collected (computed when sent).
    pub sent_pages: HashMap<Ticket, Reply<DetailsPage>>,
    /// The most pages sent and not yet collected at once.
    pub in_flight_max: usize,
    pub parallel: u32,
    /// Conversations still to arrive: one starts in the queried window each time a page
    /// of it is sent.
    pub arrivals: usize,
    /// Job numbers (1-based) that stay QUEUED for ever.
    pub stuck_jobs: Vec<usize>,
    /// The fake clock: it moves only when the driver waits.
    pub clock: OffsetDateTime,
    /// A job whose interval is longer than this is refused at submission.
    pub job_max_interval: Option<Duration>,
    /// A job answers QUEUED to this many polls before its terminal state.
    pub polls_to_fulfil: usize,
    /// Status polls each job (by number) has answered.
    pub job_polls: Vec<usize>,
    /// Ids of the jobs deleted: gone from then on.
    pub deleted: HashSet<String>,
    /// Submission calls (1-based, refused ones included) refused as if the API were busy.
    pub refused_submits: Vec<usize>,
    pub submit_calls: usize,
    /// The data lake's availability date.
    pub available: OffsetDateTime,
    /// The most jobs submitted and not deleted at once.
    pub live_max: usize,
    /// The API's present: a conversation ending after it is served in progress.
    pub present: Option<OffsetDateTime>,
    /// The ids of each by-id request.
    pub by_id_calls: Vec<Vec<String>>,
    /// A by-id request of more ids than this is refused.
    pub max_ids: Option<usize>,
    /// User and wrap-up code lookups, in order.
    pub name_lookups: Vec<(Lookup, Vec<String>)>,
    /// Replies to the next by-id requests, served as they are instead of the truth.
    pub by_id_replies: std::collections::VecDeque<Vec<Box<RawValue>>>,
    /// A user lookup of more ids than this is refused with 414.
    pub name_max_ids: Option<usize>,
    /// User lookups are refused with this status.
    pub users_refused: Option<u16>,
    /// The user listing is paged this many a page.
    pub name_page_size: Option<usize>,
    /// Every details page is served as page 1.
    pub ignore_page_number: bool,
    /// A details query matching more conversations than this is refused (400, past the cap).
    pub result_cap: Option<u64>,
    /// Every details query is refused with 503.
    pub details_broken: bool,
    /// A page sent has arrived at once, as from a server without latency.
    pub pages_ready: bool,
    /// How far the clock moves as each details page is sent: a server's latency.
    pub latency: Duration,
}

/// A refusal as the adapter hands it over, for a request to `url`, read as the adapter reads
/// a request for one id.
pub fn refusal(status: u16, code: &str, message: &str, url: &str) -> SourceError {
    let refusal = Refusal {
        status,
        method: "GET",
        url: url.to_string(),
        code: Some(code.to_string()),
        message: Some(message.to_string()),
        correlation_id: None,
        html: false,
    };
    SourceError::refused(Refused::from(refusal.kind()), anyhow::Error::new(refusal))
}

/// A reply's conversations read as the real source reads them: one that has not the expected
/// shape fails the call.
fn parsed(texts: Vec<Box<RawValue>>) -> Reply<Parsed> {
    Parsed::new(texts).map_err(|e| SourceError::failed(anyhow::anyhow!(e)))
}

pub fn render(id: &str, s: OffsetDateTime, e: OffsetDateTime) -> Box<RawValue> {
    render_seen(id, s, Some(e))
}

/// A conversation as the API shows it; without an end while it is in progress.
pub fn render_seen(id: &str, s: OffsetDateTime, e: Option<OffsetDateTime>) -> Box<RawValue> {
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

pub fn bounds(interval: &str) -> (OffsetDateTime, OffsetDateTime) {
    let (a, b) = interval.split_once('/').unwrap();
    (
        window::parse_api_timestamp(a).unwrap(),
        window::parse_api_timestamp(b).unwrap(),
    )
}

pub fn job_number(id: &str) -> usize {
    id.trim_start_matches("job-").parse().unwrap()
}

impl Fake {
    pub fn new(conversations: &[(&str, OffsetDateTime, OffsetDateTime)]) -> Fake {
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
            by_id_replies: Default::default(),
            name_max_ids: None,
            users_refused: None,
            name_page_size: None,
            ignore_page_number: false,
            result_cap: None,
            details_broken: false,
            pages_ready: false,
            latency: Duration::ZERO,
        }
    }
}

impl Fake {
    /// The page as the API would serve it now, with the real interval semantics.
    pub fn details_page(&mut self, query: &DetailsQuery) -> Reply<DetailsPage> {
        self.queries.push(query.interval.clone());
        let (a, b) = bounds(&query.interval);
        let first_day = a.date();
        let last_day = (b - time::Duration::nanoseconds(1)).date();
        let matching: Vec<_> = self
            .conversations
            .iter()
            .filter(|(_, s, e)| *s < b && *e > a && s.date() >= first_day && s.date() <= last_day)
            .collect();
        // With short pages every conversation is listed twice and each page is
        // de-duplicated, as an index with duplicate entries would serve it.
        let copies = if self.short_pages { 2 } else { 1 };
        let matching: Vec<_> = matching
            .into_iter()
            .flat_map(|c| std::iter::repeat_n(c, copies))
            .collect();
        let url = "https://api.x/api/v2/analytics/conversations/details/query";
        if self
            .result_cap
            .is_some_and(|cap| matching.len() as u64 > cap)
        {
            let message = "Pagination may not exceed 300 results.";
            return Err(refusal(400, "bad.request", message, url));
        }
        if self.details_broken {
            return Err(refusal(503, "service.unavailable", "Down", url));
        }
        let size = query.paging.page_size as usize;
        let number = if self.ignore_page_number {
            1
        } else {
            query.paging.page_number as usize
        };
        let skip = (number - 1) * size;
        let mut page: Vec<&(String, OffsetDateTime, OffsetDateTime)> =
            matching.iter().skip(skip).take(size).copied().collect();
        page.dedup_by(|x, y| x.0 == y.0);
        let page: Vec<Box<RawValue>> = page
            .into_iter()
            .map(|(id, s, e)| self.shown(id, *s, *e))
            .collect();
        Ok(DetailsPage {
            conversations: parsed(page)?,
            total_hits: Some(matching.len() as u64 + self.inflate_hits),
        })
    }

    /// A conversation as the API serves it at its present.
    pub fn shown(&self, id: &str, s: OffsetDateTime, e: OffsetDateTime) -> Box<RawValue> {
        if self.present.is_none_or(|now| e <= now) {
            render(id, s, e)
        } else {
            render_seen(id, s, None)
        }
    }

    /// Jobs submitted and not deleted.
    pub fn live(&self) -> usize {
        self.jobs.len() - self.deleted.len()
    }

    /// While `arrivals` last, a new conversation starts in the queried window each time a
    /// page of it is sent: the window changes while its pages are in flight.
    pub fn arrive(&mut self, interval: &str) {
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

/// Page `page` of `all`, `size` entities a page, with the page count a paging server reports.
pub fn page_of(all: NameListing, page: u32, size: usize) -> NameListing {
    let count = all.entities.len().div_ceil(size).max(1);
    let skip = (page as usize - 1) * size;
    NameListing {
        entities: all.entities.into_iter().skip(skip).take(size).collect(),
        page_count: Some(count as u64),
    }
}

/// A one-page listing of the `ids` that `name` names, as a bulk lookup replies.
pub fn listing(ids: &[String], name: impl Fn(&str) -> Option<String>) -> NameListing {
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
    fn conversations(&mut self, ids: &[String]) -> Reply<Vec<Box<RawValue>>> {
        self.by_id_calls.push(ids.to_vec());
        if self.max_ids.is_some_and(|max| ids.len() > max) {
            let url = format!("https://api.x{}", api::by_id_path(ids));
            let e = refusal(400, "bad.request", "Too many ids", &url);
            return Err(SourceError::refused(Refused::TooManyIds, e.error));
        }
        if let Some(reply) = self.by_id_replies.pop_front() {
            return Ok(reply);
        }
        Ok(self
            .conversations
            .iter()
            .filter(|(id, _, _)| ids.contains(id))
            .map(|(id, s, e)| self.shown(id, *s, *e))
            .collect())
    }

    fn names(&mut self, lookup: Lookup, ids: &[String], page: u32) -> Reply<NameListing> {
        let url = format!("https://api.x{}", lookup.page_path(ids, page));
        match lookup {
            Lookup::Queues => self.queue_lookups.push(ids.to_vec()),
            _ => self.name_lookups.push((lookup, ids.to_vec())),
        }
        let forbidden = match lookup {
            Lookup::Queues => self.queues_forbidden,
            Lookup::Users => false,
            Lookup::WrapUpCodes => true,
        };
        if forbidden {
            let e = refusal(403, "missing.permissions", "Missing permission", &url);
            return Err(SourceError::refused(Refused::Forbidden, e.error));
        }
        if lookup == Lookup::Users {
            if let Some(status) = self.users_refused {
                return Err(refusal(status, "server.error", "It broke", &url));
            }
            if self.name_max_ids.is_some_and(|max| ids.len() > max) {
                let e = refusal(414, "uri.too.long", "URI Too Long", &url);
                return Err(SourceError::refused(Refused::TooManyIds, e.error));
            }
        }
        let all = match lookup {
            Lookup::Queues => listing(ids, |id| (id == "q1").then(|| "Sales, \"EU\"".to_string())),
            _ => listing(ids, |id| Some(format!("User {id}"))),
        };
        Ok(match self.name_page_size {
            Some(size) if lookup == Lookup::Users => page_of(all, page, size),
            _ => all,
        })
    }

    fn send_page(&mut self, ticket: Ticket, query: DetailsQuery) {
        self.clock += self.latency;
        let reply = self.details_page(&query);
        self.sent_pages.insert(ticket, reply);
        self.in_flight_max = self.in_flight_max.max(self.sent_pages.len());
        self.arrive(&query.interval);
    }

    fn collect_page(&mut self, ticket: Ticket) -> Reply<DetailsPage> {
        self.sent_pages
            .remove(&ticket)
            .expect("a page is collected once, after it was sent")
    }

    fn forget_page(&mut self, ticket: Ticket) {
        self.sent_pages.remove(&ticket);
    }

    fn page_ready(&mut self, ticket: Ticket) -> bool {
        self.pages_ready && self.sent_pages.contains_key(&ticket)
    }

    fn parallel(&self) -> u32 {
        self.parallel
    }

    fn submit_job(&mut self, query: &JobQuery) -> Reply<String> {
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

    fn job_results(&mut self, page: &ResultsPage, _: Wanted) -> Reply<JobPage> {
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
            rows: Box::new(parsed(conversations)?),
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

pub fn plan(format: Format, window_secs: u64, page_size: u32) -> Plan {
    let from = datetime!(2026-11-01 00:00 UTC);
    Plan {
        from,
        to: datetime!(2026-11-03 00:00 UTC),
        zone: crate::tz::UTC.clone(),
        window: Duration::from_secs(window_secs),
        page_size,
        ended_only: false,
        filters: QueryFilters::default(),
        format,
        columns: crate::columns::default_columns(),
        attributes: Vec::new(),
        formulas: crate::formula::Formulas::Guarded,
        split_at: from,
        job_poll: Duration::from_secs(1),
        job_timeout: Duration::from_secs(3600),
    }
}

/// The plan with jobs for windows before `split_at`.
pub fn jobs_plan(format: Format, window_secs: u64, split_at: OffsetDateTime) -> Plan {
    Plan {
        split_at,
        ..plan(format, window_secs, 2)
    }
}

pub const QUIET: Log = Log::QUIET;

pub fn export(fake: &mut Fake, plan: &Plan) -> (String, ExportStats) {
    let mut sink = Sink::new(Vec::new(), plan.format, "memory");
    let control = Control {
        checkpoint: &mut |_, _| Ok(()),
        stop: &|| None,
        pending: None,
    };
    let stats = run(fake, &mut sink, plan, None, control, &QUIET).unwrap();
    (String::from_utf8(sink.finish().unwrap()).unwrap(), stats)
}

pub fn ids_of_csv(csv: &str) -> Vec<String> {
    csv.lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().to_string())
        .collect()
}

pub fn sample() -> Fake {
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

/// Runs the export, "crashing" at the `crash_at`-th checkpoint, and returns the output
/// cut back to what that checkpoint covered, with its position.
pub fn jobs_fake() -> Fake {
    let mut fake = sample();
    fake.job_page_ceiling = 1;
    fake
}

/// A run against `fake`, which lives on across crashes like the real API.
pub fn crash(
    fake: &mut Fake,
    plan: &Plan,
    resume: Option<(Vec<u8>, Box<Position>)>,
    crash_at: usize,
) -> Result<Vec<u8>, (Vec<u8>, Box<Position>)> {
    let (bytes, resume) = match resume {
        Some((bytes, position)) => {
            let written =
                crate::sink::tests::ids_in(&bytes[position.window_offset as usize..], plan.format)
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
        let mark = marks[0];
        n += 1;
        last = Some((p.clone(), mark.len));
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

/// Conversations from August to November, two of them crossing the edges of 31-day jobs.
pub fn spread() -> Fake {
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
pub fn spread_plan(format: Format) -> Plan {
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
pub fn spread_ids(fake: &Fake, plan: &Plan) -> Vec<String> {
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
