//! `genesys-sim`: a fake Genesys Cloud (login and Platform API) on loopback HTTP or HTTPS,
//! for the tests and the demo of `genesys-export`.
//!
//! This module owns the public surface: [`SimConfig`], [`Sim`] (start, inspect, advance its
//! clock, stop) and [`Stats`]. The work is split into `http` (the socket, one thread per
//! connection), `api` (endpoints, auth, the rate limit and faults in front of them), `data`
//! (the generated organisation and the matching rules), `jobs` (the asynchronous jobs'
//! records, states and cursors), `ratelimit` (the sliding window), `faults` (which fault a
//! request gets), `auth` (tokens and Basic credentials), `tls` (the certificates made at start
//! for HTTPS, [`TlsCert`]), `rng` (the seeded generator) and `samples` (fixed records shaped
//! like published ones, mixed in with [`SimConfig::samples`]). `proxy` is a CONNECT proxy to put
//! in front of it ([`ConnectProxy`]).
//! Data generation is deterministic from `SimConfig::seed`; fault draws and arrivals depend
//! on the order of requests, and job states on the number of status polls or on time.
//! Everything that depends on time reads one clock, which [`Sim::advance`] moves forward.
//!
//! Every response carries `ININ-Correlation-Id` (also the ErrorBody `contextId`) and `Date`
//! (the simulator's clock plus `SimConfig::date_offset_secs`). Responses
//! of the API endpoints (`/api/v2/...`, not `/oauth/token`) also carry
//! `inin-ratelimit-count` (requests counted in the sliding window, this one included),
//! `inin-ratelimit-allowed` and `inin-ratelimit-reset` (whole seconds until the oldest
//! counted request leaves the window, at least 1): those of `SimConfig::rate_limit`, or
//! 300 per 60 s, advertised but not enforced, without one. Past an enforced limit the answer
//! is 429 `too.many.requests.retry.after` with `Retry-After` = `inin-ratelimit-reset`,
//! before any fault is drawn. Faults sit in front of authentication and the handlers, like
//! a load balancer; on the wire they look like:
//!
//! - `Revoke`: the presented token is revoked for good; 401 `bad.credentials`.
//! - `RateLimit`: 429 ErrorBody `too.many.requests.retry.after`, `Retry-After` only if given.
//! - `Status(n)`: status n with a JSON ErrorBody. `Forbidden`: 403 `missing.permissions`,
//!   its message naming the endpoint's permission (as do the `*_forbidden` refusals).
//! - `Html(n)`: status n, `Content-Type: text/html`, an nginx-style error page.
//! - `Reset`: the request is read, then the socket is shut down with no byte written (a FIN:
//!   std cannot set `SO_LINGER` 0, so the client sees end of stream, not ECONNRESET).
//! - `Truncate`: the handler runs for real, then a 200 head with the full Content-Length and
//!   half of the body are written and the socket is shut down.
//! - `BadJson`: the handler runs for real, then a complete 200 `application/json` response
//!   whose body is half the real one plus junk.
//! - `EmptyArray` / `Blank`: the handler runs for real, then a 200 `application/json` whose
//!   body is `[]` / only whitespace.
//! - `HitsWithoutConversations`: a details query's real 200 page without its `conversations`
//!   key (`totalHits` kept). Elsewhere the real reply goes out and no fault is counted.
//! - `MissingId`: the real 200 page of a details query, job results or conversations by id,
//!   with `conversationId` removed from its first conversation. Elsewhere, or on a page
//!   without conversations, the real reply goes out and no fault is counted.
//! - `Echo(n)`: status n with an ErrorBody whose message repeats the presented bearer token
//!   in clear; on `/oauth/token`, an `{error, description, error_description}` body whose
//!   descriptions repeat the client secret decoded from the Basic header (`error` is
//!   `server_error` for a 5xx, `invalid_client` otherwise).
//!
//! Conversations by id (`GET /api/v2/analytics/conversations/details?id=A,B,...`) answer
//! `{"conversations": [...]}` with those that exist at the data's present, rendered as the
//! details query renders them; unknown ids are absent, and more than `max_ids_per_request`
//! ids get 400 `bad.request`. The data's present (`SimConfig::now`, moved by
//! [`Sim::set_now`]) lets one organisation be exported night after night while conversations
//! in progress end.
//!
//! Name lookups by id — queues (`/api/v2/routing/queues`), users (`/api/v2/users`) and
//! wrap-up codes (`/api/v2/routing/wrapupcodes`) — answer `…EntityListing` pages of the org's
//! entities (deleted queues and system wrap-up codes such as `ININ-WRAP-UP-TIMEOUT` are never
//! listed), or 403 `missing.permissions` when `queues_forbidden`, `users_forbidden` or
//! `wrapup_codes_forbidden` says so.
//!
//! The analytics jobs API (`/api/v2/analytics/conversations/details/jobs...`) sits behind
//! the same API faults. A job is fulfilled after `job_polls_to_fulfil` status polls, or once
//! `job_fulfil_after` has passed since its submission; every status carries
//! `expirationDate` = submission + `job_lifetime`, past which the job is EXPIRED. Its own
//! lifecycle faults ([`JobFaults`]) end chosen jobs FAILED or CANCELLED, expire them after
//! some results pages, or keep them QUEUED/PENDING for ever. Errors of the jobs API:
//!
//! - Submit: 400 `bad.request` for an invalid body, an interval longer than
//!   `job_max_interval` ("The interval may not be longer than 31 days.") or a `paging` field.
//! - Status, results and delete of an unknown or deleted job: 404 `not.found` "Job ID not
//!   found".
//! - Results: 400 `bad.request` "pageSize must be at most N" (or another
//!   [`PageSizeWording`]) above `job_max_page_size`;
//!   "Job ID is not fulfilled (state S)" before FULFILLED (and after FAILED or CANCELLED);
//!   "Invalid cursor 'C'" or "Cursor 'C' does not belong to job ID"; "Pagination may not
//!   exceed N results. ..." for a page reaching past `job_result_cap`. An EXPIRED job
//!   answers 400 `analytics.job.expired`.

mod api;
mod auth;
mod data;
mod faults;
mod filter;
mod http;
mod jobs;
mod proxy;
mod ratelimit;
mod rng;
mod samples;
mod tls;

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use time::macros::datetime;
use time::OffsetDateTime;

pub use auth::ExpiresIn;
pub use faults::{Fault, Faults};
pub use jobs::{JobFaults, PageSizeWording};
pub use proxy::{ConnectProxy, ProxyConfig};
pub use ratelimit::RateLimit;
pub use tls::TlsCert;

use api::State;
use http::{Reply, Request, Server};

/// Everything that shapes a simulator run.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub seed: u64,
    /// How many conversations to generate.
    pub conversations: usize,
    /// `conversationStart` values fall in `[start, end)`.
    pub start: OffsetDateTime,
    pub end: OffsetDateTime,
    /// Share of conversations with no `conversationEnd`, started within the hour before `end`.
    pub ongoing_fraction: f64,
    /// Number of queues.
    pub queues: usize,
    /// How many of the queues are deleted: referenced by conversations, missing from lookups.
    pub deleted_queues: usize,
    /// A token older than this gets 401.
    pub token_lifetime: Duration,
    /// What a grant announces in `expires_in`; by default ceil(`token_lifetime` seconds), at
    /// least 1. The validity check keeps using `token_lifetime`.
    pub token_expires_in: ExpiresIn,
    pub client_id: String,
    pub client_secret: String,
    /// A details query with a larger `paging.pageSize` gets 400.
    pub max_page_size: u32,
    /// `pageNumber * pageSize` above this gets 400 "Pagination may not exceed N results.".
    pub result_cap: u64,
    /// `totalHits` is the true count times (1 ± up to this fraction).
    pub total_hits_noise: f64,
    /// Share of conversations the details query's internal result list holds twice in a row.
    /// `totalHits` counts the list with its duplicates; each page is cut from the list and
    /// de-duplicated within itself, so a page can be shorter than `pageSize` while later
    /// pages hold more, and a conversation can appear on two consecutive pages.
    pub duplicate_hits: f64,
    /// The details query answers 403 `missing.permissions`.
    pub details_forbidden: bool,
    /// The queue lookup answers 403 `missing.permissions`.
    pub queues_forbidden: bool,
    /// The jobs API, its availability included, answers 403 `missing.permissions` while the
    /// details query answers (a role whose permission covers the query only).
    pub jobs_forbidden: bool,
    /// Every response's `Date` header is this many seconds ahead of the simulator's clock
    /// (negative: behind), as a server whose clock differs from the client's.
    pub date_offset_secs: i64,
    /// The user lookup (`GET /api/v2/users`) answers 403 `missing.permissions`.
    pub users_forbidden: bool,
    /// The wrap-up code lookup (`GET /api/v2/routing/wrapupcodes`) answers 403
    /// `missing.permissions`.
    pub wrapup_codes_forbidden: bool,
    /// After each 200 details page, this many new finished conversations starting inside the
    /// queried interval are added (data arriving while a client pages).
    pub arrivals_per_page: usize,
    /// Added before every response; requests in flight wait out their latency side by side.
    pub latency: Duration,
    /// A sliding-window limit over the API endpoints (not `/oauth/token`): a request arriving
    /// when `allowed` requests were admitted within the last `window` gets 429
    /// `too.many.requests.retry.after` with `Retry-After` = `inin-ratelimit-reset`. Refused
    /// requests are not counted and draw no fault. None advertises 300 per 60 s in the
    /// headers and refuses nothing.
    pub rate_limit: Option<RateLimit>,
    /// Faults for the API endpoints (`/api/v2/...`).
    pub faults: Faults,
    /// Faults for the token endpoint (`/oauth/token`); `Revoke` is ignored there.
    pub token_faults: Faults,
    /// A job whose interval is longer than this gets 400 at submission.
    pub job_max_interval: Duration,
    /// Status polls that answer QUEUED (the first) or PENDING before the next poll answers
    /// the job's terminal state (FULFILLED unless `job_faults` says otherwise). 0 fulfils a
    /// job at its first poll. Ignored when `job_fulfil_after` is set.
    pub job_polls_to_fulfil: u64,
    /// When set, a job answers QUEUED (first poll), then PENDING, and reaches its terminal
    /// state once this long has passed since its submission, however often it is polled.
    pub job_fulfil_after: Option<Duration>,
    /// A job's `expirationDate` is its submission time plus this; past it the job is EXPIRED
    /// (unless it is stuck): its status says so and its results answer 400
    /// `analytics.job.expired`.
    pub job_lifetime: Duration,
    /// A results request with a larger `pageSize` gets 400 `bad.request`, worded as
    /// `job_page_size_wording` says.
    pub job_max_page_size: u32,
    pub job_page_size_wording: PageSizeWording,
    /// A results page reaching past this many results gets 400 "Pagination may not exceed N
    /// results.".
    pub job_result_cap: u64,
    /// The data lake's `dataAvailabilityDate`: jobs return only conversations that started
    /// before it. The default is the default `end`, so everything is available; set it
    /// explicitly when changing `end`.
    pub data_availability: OffsetDateTime,
    /// Lifecycle faults of the jobs API.
    pub job_faults: JobFaults,
    /// The data's present: a conversation that starts at or after it does not exist yet (no
    /// query, job or by-id request returns it), and one whose end lies after it is served in
    /// progress (without `conversationEnd`). [`Sim::set_now`] moves it, so the same
    /// organisation can be exported night after night with the data moving on. None: every
    /// conversation as generated.
    pub now: Option<OffsetDateTime>,
    /// A by-id request (`GET .../details?id=...`) with more ids gets 400 `bad.request`.
    pub max_ids_per_request: usize,
    /// Serve HTTPS with this certificate (made at start, with its CA: [`Sim::ca_pem`]) at
    /// `https://localhost:PORT`; None serves plain HTTP.
    pub tls: Option<TlsCert>,
    /// Mix in a fixed set of sample records shaped like ones real orgs published (and the
    /// queues, users and wrap-up codes they name), moved by whole days into `[start, end)`:
    /// an agent who never answered with a wrap-up timeout, six queue legs and five blind
    /// transfers on web messaging, a 2016-era record without end, metrics or divisions (two
    /// fractional digits, redacted ids), an outbound call, an IVR-only call, a leg in progress
    /// and names that are formulas. Generated records and ids stay as the seed makes them.
    pub samples: bool,
}

/// Jobs expire this long after submission by default; the real retention is not documented.
const DEFAULT_JOB_LIFETIME_SECS: u64 = 3600;
/// Jobs accept intervals up to this long by default, like a filtered details query.
const DEFAULT_JOB_MAX_INTERVAL_DAYS: u64 = 31;

impl Default for SimConfig {
    fn default() -> SimConfig {
        let end = datetime!(2026-11-03 00:00 UTC);
        SimConfig {
            seed: 1,
            conversations: 2000,
            start: datetime!(2026-11-01 00:00 UTC),
            end,
            ongoing_fraction: 0.02,
            queues: 12,
            deleted_queues: 2,
            token_lifetime: Duration::from_secs(3600),
            token_expires_in: ExpiresIn::Lifetime,
            client_id: "sim-client".to_string(),
            client_secret: "sim-secret".to_string(),
            max_page_size: 100,
            result_cap: 100_000,
            total_hits_noise: 0.0,
            duplicate_hits: 0.0,
            details_forbidden: false,
            queues_forbidden: false,
            jobs_forbidden: false,
            date_offset_secs: 0,
            users_forbidden: false,
            wrapup_codes_forbidden: false,
            arrivals_per_page: 0,
            latency: Duration::ZERO,
            rate_limit: None,
            faults: Faults::default(),
            token_faults: Faults::default(),
            job_max_interval: Duration::from_secs(DEFAULT_JOB_MAX_INTERVAL_DAYS * 86_400),
            job_polls_to_fulfil: 2,
            job_fulfil_after: None,
            job_lifetime: Duration::from_secs(DEFAULT_JOB_LIFETIME_SECS),
            job_max_page_size: 1000,
            job_page_size_wording: PageSizeWording::AtMost,
            job_result_cap: 400_000,
            data_availability: end,
            job_faults: JobFaults::default(),
            now: None,
            max_ids_per_request: 100,
            tls: None,
            samples: false,
        }
    }
}

/// Counters for assertions in tests. Request counters count every request that reached the
/// endpoint, including ones answered by an injected fault.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Requests to `/oauth/token`.
    pub token_requests: u64,
    /// Successful token grants.
    pub tokens_issued: u64,
    /// Requests to the details query.
    pub details_requests: u64,
    /// Requests to the by-id endpoint (`GET .../details?id=...`), refused ones included.
    pub by_id_requests: u64,
    /// The most ids a by-id request carried, refused ones included.
    pub max_ids_per_request: u64,
    /// Requests to `/api/v2/routing/queues` and `/api/v2/routing/queues/{id}`.
    pub queue_requests: u64,
    /// Requests to `/api/v2/users`.
    pub user_requests: u64,
    /// Requests to `/api/v2/routing/wrapupcodes`.
    pub wrapup_code_requests: u64,
    /// Requests to any `/api/v2/...` path.
    pub api_requests: u64,
    /// 401s caused by a token older than the configured lifetime.
    pub expired_token_rejections: u64,
    /// Faults injected on either fault family.
    pub faults_injected: u64,
    /// 429s from `SimConfig::rate_limit` (injected 429 faults count in `faults_injected`).
    pub rate_limited: u64,
    /// The highest `pageNumber` of a details query that passed validation.
    pub max_page_number: u64,
    /// Jobs accepted (202); the next job's number is this plus one.
    pub job_submits: u64,
    /// Job status polls the handler answered with 200; each one advanced the job. Like
    /// `job_result_pages`, this includes answers a `Truncate` or `BadJson` fault then damaged.
    pub job_polls: u64,
    /// Requests to a job's results, refused and faulted ones included.
    pub job_result_requests: u64,
    /// Job results pages the handler answered with 200.
    pub job_result_pages: u64,
    /// Jobs deleted (204).
    pub job_deletes: u64,
    /// Requests to the jobs availability endpoint.
    pub availability_requests: u64,
    /// The largest results `pageSize` that was accepted.
    pub max_job_page_size: u64,
    /// Jobs submitted and not deleted.
    pub jobs_live: u64,
    /// Requests being answered right now, latency included.
    pub in_flight: u64,
    /// The most requests that were being answered at once.
    pub max_in_flight: u64,
    /// TCP connections accepted, whether or not a request came over them.
    pub connections: u64,
    /// TLS handshakes completed (none when serving plain HTTP).
    pub tls_handshakes: u64,
}

/// What every connection thread shares. The state's lock is held only while a request is
/// answered, never while its latency is waited out, so requests in flight overlap.
struct Shared {
    latency: Duration,
    state: Mutex<State>,
    /// Requests between arrival and answer (latency included), and the most at once.
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
    /// The latest arrival time handed to the state.
    latest: Mutex<Instant>,
    /// Set when the simulator is dropped; wakes every request still waiting out its latency.
    stopping: Mutex<bool>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock must not take every later request down with it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Answers one request after the configured latency.
    fn answer(&self, req: &Request) -> Reply {
        let now_in_flight = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight
            .fetch_max(now_in_flight, Ordering::SeqCst);
        // A request is judged (its token among the rest) as it arrives; the latency is the
        // time its answer takes to come back.
        let arrival = Instant::now();
        self.pause();
        let reply = {
            let mut state = self.lock();
            // Under the lock, so the state sees time only move forward.
            let mut latest = self.latest.lock().unwrap_or_else(|e| e.into_inner());
            *latest = (*latest).max(arrival);
            state.handle(req, *latest)
        };
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        reply
    }

    /// Waits out the latency, or less if the simulator is being dropped.
    fn pause(&self) {
        let Some(deadline) = Instant::now().checked_add(self.latency) else {
            return;
        };
        let mut stopping = self.stopping.lock().unwrap_or_else(|e| e.into_inner());
        while !*stopping {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            stopping = match self.wake.wait_timeout(stopping, left) {
                Ok((guard, _)) => guard,
                Err(e) => e.into_inner().0,
            };
        }
    }

    fn stop(&self) {
        *self.stopping.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.wake.notify_all();
    }
}

/// A running simulator. Dropping it stops accepting and closes open connections.
pub struct Sim {
    shared: Arc<Shared>,
    server: Server,
    /// The PEM certificate of the CA that issues the HTTPS certificates.
    ca_pem: Option<String>,
}

impl Sim {
    /// Binds `127.0.0.1:0` and serves on background threads; panics if it cannot bind.
    pub fn start(cfg: SimConfig) -> Sim {
        Sim::start_on(cfg, "127.0.0.1:0").expect("failed to start genesys-sim on 127.0.0.1:0")
    }

    /// Binds `addr` and serves on background threads; returns once the socket accepts.
    pub fn start_on(cfg: SimConfig, addr: &str) -> io::Result<Sim> {
        let tls = cfg.tls.map(tls::Tls::new).transpose()?;
        let listener = TcpListener::bind(addr)?;
        let shared = Arc::new(Shared {
            latency: cfg.latency,
            state: Mutex::new(State::new(cfg, Instant::now(), OffsetDateTime::now_utc())),
            in_flight: AtomicU64::new(0),
            max_in_flight: AtomicU64::new(0),
            latest: Mutex::new(Instant::now()),
            stopping: Mutex::new(false),
            wake: Condvar::new(),
        });
        let handler_shared = Arc::clone(&shared);
        let handler = Arc::new(move |req: &Request| handler_shared.answer(req));
        let (config, ca_pem) = match tls {
            Some(tls) => (Some(tls.config), Some(tls.ca_pem)),
            None => (None, None),
        };
        let server = Server::start(listener, handler, config)?;
        Ok(Sim {
            shared,
            server,
            ca_pem,
        })
    }

    /// The base URL, serving both the login endpoint and the API: `http://127.0.0.1:PORT`,
    /// or `https://localhost:PORT` when serving HTTPS.
    pub fn url(&self) -> String {
        let addr = self.server.local_addr();
        if self.ca_pem.is_some() {
            return format!("https://localhost:{}", addr.port());
        }
        match addr {
            SocketAddr::V4(a) if a.ip().is_unspecified() => {
                format!("http://127.0.0.1:{}", a.port())
            }
            SocketAddr::V6(a) if a.ip().is_unspecified() => format!("http://[::1]:{}", a.port()),
            other => format!("http://{other}"),
        }
    }

    /// Ids with `conversationStart` in `[from, to)`, ordered by (start, id), including
    /// conversations that arrived while paging and ongoing ones.
    pub fn ground_truth(&self, from: OffsetDateTime, to: OffsetDateTime) -> Vec<String> {
        self.ids_where(from, to, |_, _| true)
    }

    /// Like [`Sim::ground_truth`] but only conversations that have a `conversationEnd`, which
    /// is what an export with a `conversationEnd exists` filter should produce.
    pub fn ended_ids(&self, from: OffsetDateTime, to: OffsetDateTime) -> Vec<String> {
        self.ids_where(from, to, |c, _| c.end_ms.is_some())
    }

    /// Like [`Sim::ground_truth`] but only conversations in progress at the data's present
    /// ([`SimConfig::now`]): started, and not ended by then.
    pub fn in_progress_ids(&self, from: OffsetDateTime, to: OffsetDateTime) -> Vec<String> {
        let state = self.shared.lock();
        state
            .data
            .starting_in(data::to_ms(from), data::to_ms(to))
            .filter(|(c, _)| state.data.in_progress(c))
            .map(|(c, _)| c.id.clone())
            .collect()
    }

    /// Like [`Sim::ground_truth`] but only the conversations that pass `filters`, an object
    /// with `segmentFilters` and/or `conversationFilters` as a query body carries them,
    /// evaluated as the details query and jobs do. Panics on filters the API would refuse.
    pub fn filtered_ids(
        &self,
        from: OffsetDateTime,
        to: OffsetDateTime,
        filters: &serde_json::Value,
    ) -> Vec<String> {
        let object = filters.as_object().expect("filters are a JSON object");
        let filters = filter::Filters::parse(object).expect("filters the API accepts");
        let state = self.shared.lock();
        state
            .data
            .starting_in(data::to_ms(from), data::to_ms(to))
            .filter(|(c, _)| filters.matches(&state.data.render(c)))
            .map(|(c, _)| c.id.clone())
            .collect()
    }

    /// Moves the data's present ([`SimConfig::now`]): conversations that end before it are
    /// served ended from now on, and those that start before it exist.
    pub fn set_now(&self, now: OffsetDateTime) {
        let mut state = self.shared.lock();
        state.cfg.now = Some(now);
        state.data.now_ms = Some(data::to_ms(now));
    }

    /// The agents' user ids, in generation order.
    pub fn user_ids(&self) -> Vec<String> {
        self.shared.lock().data.user_ids()
    }

    /// The divisions' ids.
    pub fn division_ids(&self) -> Vec<String> {
        (0..3).map(|i| data::division(i).0.to_string()).collect()
    }

    /// Like [`Sim::ground_truth`] but only the conversations generated at start.
    pub fn initial_ids(&self, from: OffsetDateTime, to: OffsetDateTime) -> Vec<String> {
        self.ids_where(from, to, |_, initial| initial)
    }

    fn ids_where(
        &self,
        from: OffsetDateTime,
        to: OffsetDateTime,
        keep: impl Fn(&data::Conversation, bool) -> bool,
    ) -> Vec<String> {
        let state = self.shared.lock();
        state
            .data
            .starting_in(data::to_ms(from), data::to_ms(to))
            .filter(|(c, initial)| keep(c, *initial))
            .map(|(c, _)| c.id.clone())
            .collect()
    }

    /// The exact JSON object the details query returns for this conversation.
    pub fn conversation(&self, id: &str) -> Option<serde_json::Value> {
        let state = self.shared.lock();
        state.data.get(id).map(|c| state.data.render(c))
    }

    /// The exact JSON object a job's results return for this conversation: the query's JSON
    /// plus `attributes` on the customer participant of most conversations.
    pub fn job_conversation(&self, id: &str) -> Option<serde_json::Value> {
        let state = self.shared.lock();
        state.data.get(id).map(|c| state.data.render_job(c))
    }

    /// The ids a job for `[from, to)` without filters returns, in its result order (by id):
    /// lifetime overlap, only conversations that started before the data-availability date.
    pub fn job_ids(&self, from: OffsetDateTime, to: OffsetDateTime) -> Vec<String> {
        let state = self.shared.lock();
        let rule = data::JobMatch {
            from_ms: data::to_ms(from),
            to_ms: data::to_ms(to),
            filter: data::EndFilter::Any,
            start_of_day: false,
            available_before_ms: data::to_ms(state.cfg.data_availability),
        };
        let slots = state.data.job_matches(&rule);
        slots
            .into_iter()
            .map(|slot| state.data.at(slot).id.clone())
            .collect()
    }

    /// Like [`Sim::ground_truth`] but only conversations that started before the
    /// data-availability date, which is what an export through jobs can see.
    pub fn available_ids(&self, from: OffsetDateTime, to: OffsetDateTime) -> Vec<String> {
        let available = self.shared.lock().cfg.data_availability;
        self.ground_truth(from, to.min(available))
    }

    /// Moves the data-availability date; later job submissions, results pages and
    /// availability requests use the new one.
    pub fn set_data_availability(&self, available: OffsetDateTime) {
        self.shared.lock().cfg.data_availability = available;
    }

    /// Replaces the API faults; `Faults::script` keeps counting from the first API request
    /// ([`Stats::api_requests`] without a rate limit).
    pub fn set_faults(&self, faults: Faults) {
        self.shared.lock().cfg.faults = faults;
    }

    /// Replaces the job lifecycle faults; job numbers keep counting from the first job.
    pub fn set_job_faults(&self, faults: JobFaults) {
        self.shared.lock().set_job_faults(faults);
    }

    /// How many conversations exist now, arrivals included.
    pub fn conversation_count(&self) -> usize {
        self.shared.lock().data.len()
    }

    /// The queue's name, or None for a deleted or unknown queue.
    pub fn queue_name(&self, id: &str) -> Option<String> {
        let state = self.shared.lock();
        state
            .data
            .queue(id)
            .filter(|q| !q.deleted)
            .map(|q| q.name.clone())
    }

    /// The name of a user of the org, as the user lookup gives it.
    pub fn user_name(&self, id: &str) -> Option<String> {
        self.shared.lock().data.user_name(id).map(str::to_string)
    }

    /// The name of a wrap-up code of the org, as the wrap-up code lookup gives it; None for
    /// an unknown id and for system codes such as `ININ-WRAP-UP-TIMEOUT`.
    pub fn wrapup_code_name(&self, id: &str) -> Option<String> {
        let state = self.shared.lock();
        let name = state
            .data
            .wrapup_code_names()
            .find(|(code, _)| *code == id)
            .map(|(_, name)| name.to_string());
        name
    }

    /// Every queue id, deleted ones included, in generation order.
    pub fn queue_ids(&self) -> Vec<String> {
        self.shared
            .lock()
            .data
            .queues
            .iter()
            .map(|q| q.id.clone())
            .collect()
    }

    /// The ids of the deleted queues.
    pub fn deleted_queue_ids(&self) -> Vec<String> {
        let state = self.shared.lock();
        state
            .data
            .queues
            .iter()
            .filter(|q| q.deleted)
            .map(|q| q.id.clone())
            .collect()
    }

    /// Every access token handed out, in order of issue.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.shared.lock().tokens.issued().to_vec()
    }

    /// Moves the simulator's clocks forward by `by`, as if that much time had passed: token
    /// ages, job fulfilment and expiry, job dates and the rate-limit window all follow, so
    /// tests pass time without sleeping.
    pub fn advance(&self, by: Duration) {
        self.shared.lock().advance(by);
    }

    /// The CA certificate (PEM) that issued the HTTPS certificate, as `--ca-file` reads it;
    /// None when serving plain HTTP. With [`TlsCert::OtherCa`] it is not the issuer.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    pub fn stats(&self) -> Stats {
        let mut stats = self.shared.lock().stats.clone();
        stats.in_flight = self.shared.in_flight.load(Ordering::SeqCst);
        stats.max_in_flight = self.shared.max_in_flight.load(Ordering::SeqCst);
        let counts = self.server.counts();
        stats.connections = counts.accepted.load(Ordering::SeqCst);
        stats.tls_handshakes = counts.handshakes.load(Ordering::SeqCst);
        stats
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        // Requests still waiting out their latency are released; then the server's own Drop
        // stops accepting and shuts open connections down.
        self.shared.stop();
    }
}
