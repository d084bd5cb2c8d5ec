//! The Genesys Cloud endpoints: routing, authentication, fault application and handlers.
//!
//! This module owns [`State`], everything behind the simulator's mutex, and
//! [`State::handle`], which turns one parsed request into a [`Reply`]. The order is that of a
//! real deployment: a fault layer in front (like a load balancer or rate limiter), then
//! authentication, then permissions, then request validation, then the handler. It never
//! touches sockets, sleeps or reads a clock; `http` writes the reply, `lib` adds latency and
//! passes the time in. The asynchronous jobs endpoints keep their records in `jobs`.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use time::format_description::well_known::{Iso8601, Rfc3339};
use time::OffsetDateTime;

use crate::auth::{self, TokenCheck, TokenStore};
use crate::data::{self, Conversation, Dataset, EndFilter, GenParams, JobMatch, Queue, DAY_MS};
use crate::faults::{self, Fault};
use crate::filter::Filters;
use crate::http::{self, Reply, Request, Response};
use crate::jobs::{self, Fulfilment, JobFaults, JobState, JobStore, Lifecycle};
use crate::ratelimit::{Verdict, Window};
use crate::rng::{mix, Rng};
use crate::{SimConfig, Stats};

pub const TOKEN_PATH: &str = "/oauth/token";
pub const DETAILS_QUERY_PATH: &str = "/api/v2/analytics/conversations/details/query";
pub const BY_ID_PATH: &str = "/api/v2/analytics/conversations/details";
pub const QUEUES_PATH: &str = "/api/v2/routing/queues";
pub const USERS_PATH: &str = "/api/v2/users";
pub const WRAPUP_CODES_PATH: &str = "/api/v2/routing/wrapupcodes";
pub const JOBS_PATH: &str = "/api/v2/analytics/conversations/details/jobs";
pub const JOBS_AVAILABILITY_PATH: &str =
    "/api/v2/analytics/conversations/details/jobs/availability";
const API_PREFIX: &str = "/api/v2/";
const JSON: &str = "application/json";

/// Interval limits from the "Detail record queries" page.
const MAX_INTERVAL_UNFILTERED_DAYS: i64 = 7;
const MAX_INTERVAL_FILTERED_DAYS: i64 = 31;
const DEFAULT_PAGE_SIZE: u64 = 25;
/// Ids per queue lookup; the reference says to keep it at or below 100.
const MAX_QUEUE_IDS: usize = 100;
const MAX_QUEUE_PAGE_SIZE: u64 = 500;
/// The results `pageSize` when the client sends none (or the ceiling, if that is lower).
const DEFAULT_JOB_PAGE_SIZE: u64 = 100;

/// Stream names for `Rng::derive`, distinct from those in `data`.
const STREAM_FAULTS: u64 = 11;
const STREAM_TOKENS: u64 = 12;
const STREAM_CORRELATION: u64 = 13;
const STREAM_JOBS: u64 = 14;
/// Mixed into the seed to choose the conversations `duplicate_hits` lists twice.
const DUPLICATE_SALT: u64 = 15;

/// Which family of endpoints a path belongs to; faults and counters are per family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Endpoint {
    Token,
    Details,
    /// `GET .../details?id=A,B,...`: conversations by id.
    ById,
    Queues,
    QueueById,
    /// `GET /api/v2/users`.
    Users,
    /// `GET /api/v2/routing/wrapupcodes`.
    WrapUpCodes,
    /// `POST .../details/jobs`.
    JobSubmit,
    /// `GET` or `DELETE .../details/jobs/{jobId}`.
    Job,
    /// `GET .../details/jobs/{jobId}/results`.
    JobResults,
    /// `GET .../details/jobs/availability`.
    JobAvailability,
    OtherApi,
    Unknown,
}

fn classify(path: &str) -> Endpoint {
    match path {
        TOKEN_PATH => Endpoint::Token,
        DETAILS_QUERY_PATH => Endpoint::Details,
        BY_ID_PATH => Endpoint::ById,
        QUEUES_PATH => Endpoint::Queues,
        USERS_PATH => Endpoint::Users,
        WRAPUP_CODES_PATH => Endpoint::WrapUpCodes,
        JOBS_PATH => Endpoint::JobSubmit,
        // Matched before the `{jobId}` pattern, which would otherwise capture it.
        JOBS_AVAILABILITY_PATH => Endpoint::JobAvailability,
        p if p.starts_with(QUEUES_PATH) && p[QUEUES_PATH.len()..].starts_with('/') => {
            let rest = &p[QUEUES_PATH.len() + 1..];
            if !rest.is_empty() && !rest.contains('/') {
                Endpoint::QueueById
            } else {
                Endpoint::OtherApi
            }
        }
        p => match job_path(p) {
            Some((_, true)) => Endpoint::JobResults,
            Some((_, false)) => Endpoint::Job,
            None if p.starts_with(API_PREFIX) => Endpoint::OtherApi,
            None => Endpoint::Unknown,
        },
    }
}

/// Splits `.../jobs/{jobId}` and `.../jobs/{jobId}/results` into the raw (still
/// percent-encoded) job id and whether it is the results path.
fn job_path(path: &str) -> Option<(&str, bool)> {
    let rest = path.strip_prefix(JOBS_PATH)?.strip_prefix('/')?;
    let (id, results) = match rest.split_once('/') {
        Some((id, "results")) => (id, true),
        Some(_) => return None,
        None => (rest, false),
    };
    (!id.is_empty()).then_some((id, results))
}

/// Everything the simulator knows, guarded by one mutex in `lib`.
pub struct State {
    pub cfg: SimConfig,
    pub data: Dataset,
    pub tokens: TokenStore,
    pub stats: Stats,
    jobs: JobStore,
    /// The wall-clock time at `instant_start`, for the dates of job statuses.
    wall_start_ms: i64,
    instant_start: Instant,
    fault_rng: Rng,
    correlation_rng: Rng,
    /// Requests seen so far by each fault family, for `Faults::script`.
    api_fault_count: u64,
    token_fault_count: u64,
    /// The rate limit's window over the API endpoints.
    rate_window: Window,
    /// Added to every request's arrival time; see `advance`.
    clock_offset: Duration,
    /// Whether each conversation passes a set of filters, by the filters' key and the id:
    /// a filtered window is evaluated once, not once a page.
    filter_cache: HashMap<String, HashMap<String, bool>>,
}

impl State {
    /// Generates the dataset `cfg` describes. `now` and `wall_now` are the same moment on the
    /// monotonic and the wall clock.
    pub fn new(cfg: SimConfig, now: Instant, wall_now: OffsetDateTime) -> State {
        let seed = cfg.seed;
        let rate_window = Window::new(cfg.rate_limit);
        let mut data = Dataset::generate(&GenParams {
            seed,
            conversations: cfg.conversations,
            start_ms: data::to_ms(cfg.start),
            end_ms: data::to_ms(cfg.end),
            ongoing_fraction: cfg.ongoing_fraction,
            queues: cfg.queues,
            deleted_queues: cfg.deleted_queues,
            samples: cfg.samples,
        });
        data.now_ms = cfg.now.map(data::to_ms);
        State {
            cfg,
            data,
            tokens: TokenStore::new(Rng::derive(seed, STREAM_TOKENS)),
            stats: Stats::default(),
            jobs: JobStore::new(Rng::derive(seed, STREAM_JOBS)),
            wall_start_ms: data::to_ms(wall_now),
            instant_start: now,
            fault_rng: Rng::derive(seed, STREAM_FAULTS),
            correlation_rng: Rng::derive(seed, STREAM_CORRELATION),
            api_fault_count: 0,
            token_fault_count: 0,
            rate_window,
            clock_offset: Duration::ZERO,
            filter_cache: HashMap::new(),
        }
    }

    /// Replaces the job lifecycle faults; they apply to polls and pages from now on.
    pub fn set_job_faults(&mut self, faults: JobFaults) {
        self.cfg.job_faults = faults;
    }

    /// Milliseconds since the epoch on the wall clock at `at`.
    fn wall_ms(&self, at: Instant) -> i64 {
        let elapsed = at.saturating_duration_since(self.instant_start);
        let elapsed_ms = i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX);
        self.wall_start_ms.saturating_add(elapsed_ms)
    }

    /// Moves the simulator's clocks forward: token ages, job timers, job dates and the
    /// rate-limit window all see `by` more time than has really passed.
    pub fn advance(&mut self, by: Duration) {
        self.clock_offset = self.clock_offset.saturating_add(by);
    }

    /// Answers one request arriving at `now` (before `advance` is applied).
    pub fn handle(&mut self, req: &Request, now: Instant) -> Reply {
        let now = now.checked_add(self.clock_offset).unwrap_or(now);
        let endpoint = classify(&req.path);
        match endpoint {
            Endpoint::Token => self.stats.token_requests += 1,
            Endpoint::Unknown => {}
            _ => self.stats.api_requests += 1,
        }
        match endpoint {
            Endpoint::Details => self.stats.details_requests += 1,
            Endpoint::ById => self.stats.by_id_requests += 1,
            Endpoint::Queues | Endpoint::QueueById => self.stats.queue_requests += 1,
            Endpoint::Users => self.stats.user_requests += 1,
            Endpoint::WrapUpCodes => self.stats.wrapup_code_requests += 1,
            Endpoint::JobResults => self.stats.job_result_requests += 1,
            Endpoint::JobAvailability => self.stats.availability_requests += 1,
            _ => {}
        }
        let ctx = self.correlation_rng.uuid();
        let verdict = match endpoint {
            Endpoint::Token | Endpoint::Unknown => None,
            _ => Some(self.rate_window.arrive(now)),
        };
        let reply = match verdict {
            // The limiter sits in front of everything else, faults included.
            Some(verdict) if verdict.refused => {
                self.stats.rate_limited += 1;
                let retry_after = verdict.reset_secs.to_string();
                Reply::Full(too_many_requests(Some(&retry_after), &ctx))
            }
            _ => self.faulted_or_routed(endpoint, req, now, &ctx),
        };
        let date_ms = self
            .wall_ms(now)
            .saturating_add(self.cfg.date_offset_secs.saturating_mul(1000));
        decorate(reply, &ctx, verdict, &data::http_date(date_ms))
    }

    /// Draws the request's fault and applies it, or answers the request for real.
    fn faulted_or_routed(
        &mut self,
        endpoint: Endpoint,
        req: &Request,
        now: Instant,
        ctx: &str,
    ) -> Reply {
        let fault = match endpoint {
            Endpoint::Token => {
                self.token_fault_count += 1;
                faults::choose(
                    &self.cfg.token_faults,
                    self.token_fault_count,
                    &mut self.fault_rng,
                )
                // Revoking needs a bearer token; the token endpoint has none.
                .filter(|f| *f != Fault::Revoke)
            }
            Endpoint::Unknown => None,
            _ => {
                self.api_fault_count += 1;
                faults::choose(&self.cfg.faults, self.api_fault_count, &mut self.fault_rng)
            }
        };
        match fault {
            Some(fault) => self.apply_fault(fault, endpoint, req, now, ctx),
            None => Reply::Full(self.route(endpoint, req, now, ctx)),
        }
    }

    fn apply_fault(
        &mut self,
        fault: Fault,
        endpoint: Endpoint,
        req: &Request,
        now: Instant,
        ctx: &str,
    ) -> Reply {
        let reply = match &fault {
            Fault::Revoke => {
                let Some(token) = auth::bearer_token(req.header("authorization")) else {
                    // Nothing to revoke: the request goes on and fails authentication anyway.
                    return Reply::Full(self.route(endpoint, req, now, ctx));
                };
                self.tokens.revoke(token);
                Reply::Full(bad_credentials(ctx))
            }
            Fault::RateLimit { retry_after } => {
                Reply::Full(too_many_requests(retry_after.as_deref(), ctx))
            }
            Fault::Status(status) => {
                let (code, message) = status_code_and_message(*status);
                Reply::Full(error_response(*status, code, message, ctx))
            }
            Fault::Html(status) => Reply::Full(Response::new(
                *status,
                "text/html",
                faults::html_page(*status),
            )),
            Fault::Reset => Reply::Reset,
            Fault::Forbidden => Reply::Full(forbidden(permission(endpoint), ctx)),
            Fault::Truncate | Fault::BadJson | Fault::EmptyArray | Fault::Blank => {
                // The work is done for real (the server side does not know the network
                // failed), then the answer is damaged on its way out.
                let mut response = self.route(endpoint, req, now, ctx);
                response.status = 200;
                match fault {
                    Fault::Truncate => return self.injected(Reply::Truncated(response)),
                    Fault::BadJson => response.body = faults::garble(&response.body),
                    Fault::EmptyArray => response = Response::new(200, JSON, b"[]".to_vec()),
                    _ => response = Response::new(200, JSON, faults::BLANK_BODY.to_vec()),
                }
                Reply::Full(response)
            }
            Fault::HitsWithoutConversations | Fault::MissingId => {
                let mut response = self.route(endpoint, req, now, ctx);
                let applies = match fault {
                    Fault::HitsWithoutConversations => endpoint == Endpoint::Details,
                    _ => matches!(
                        endpoint,
                        Endpoint::Details | Endpoint::JobResults | Endpoint::ById
                    ),
                };
                let damaged = applies
                    && response.status == 200
                    && edit_json(&mut response, |body| match fault {
                        Fault::HitsWithoutConversations => body.remove("conversations").is_some(),
                        _ => body
                            .get_mut("conversations")
                            .and_then(|c| c.get_mut(0))
                            .and_then(Value::as_object_mut)
                            .is_some_and(|c| c.remove("conversationId").is_some()),
                    });
                if !damaged {
                    // Nothing to damage: the real reply goes out and no fault is counted.
                    return Reply::Full(response);
                }
                Reply::Full(response)
            }
            Fault::Echo(status) => Reply::Full(echo(*status, endpoint, req, ctx)),
            Fault::Bomb { inflated } => Reply::Full(
                Response::new(200, JSON, faults::gzip_bomb(*inflated))
                    .with_header("Content-Encoding", "gzip"),
            ),
        };
        self.injected(reply)
    }

    /// Counts an injected fault and passes its reply through.
    fn injected(&mut self, reply: Reply) -> Reply {
        self.stats.faults_injected += 1;
        reply
    }

    fn route(&mut self, endpoint: Endpoint, req: &Request, now: Instant, ctx: &str) -> Response {
        let allowed_methods: &[&str] = match endpoint {
            Endpoint::Token | Endpoint::Details | Endpoint::JobSubmit => &["POST"],
            Endpoint::Queues
            | Endpoint::QueueById
            | Endpoint::Users
            | Endpoint::WrapUpCodes
            | Endpoint::JobResults
            | Endpoint::ById
            | Endpoint::JobAvailability => &["GET"],
            Endpoint::Job => &["GET", "DELETE"],
            Endpoint::OtherApi | Endpoint::Unknown => {
                let message = format!("No resource matches {} {}", req.method, req.path);
                return error_response(404, "not.found", &message, ctx);
            }
        };
        if !allowed_methods.contains(&req.method.as_str()) {
            let message = format!(
                "HTTP method {} is not supported by this resource",
                req.method
            );
            return error_response(405, "method.not.allowed", &message, ctx)
                .with_header("Allow", &allowed_methods.join(", "));
        }
        if endpoint == Endpoint::Token {
            return self.token(req, now);
        }
        if let Err(response) = self.authenticate(req, now, ctx) {
            return response;
        }
        let jobs_endpoint = matches!(
            endpoint,
            Endpoint::JobSubmit | Endpoint::Job | Endpoint::JobResults | Endpoint::JobAvailability
        );
        // Jobs need the same permission as the details query.
        if jobs_endpoint && (self.cfg.details_forbidden || self.cfg.jobs_forbidden) {
            return forbidden(permission(endpoint), ctx);
        }
        match endpoint {
            Endpoint::Details => self.details_query(req, ctx),
            Endpoint::ById => self.by_id(req, ctx),
            Endpoint::Queues => self.queue_list(req, ctx),
            Endpoint::Users => self.user_list(req, ctx),
            Endpoint::WrapUpCodes => self.wrapup_code_list(req, ctx),
            Endpoint::JobSubmit => self.job_submit(req, now, ctx),
            Endpoint::Job if req.method == "DELETE" => self.job_delete(req, ctx),
            Endpoint::Job => self.job_status(req, now, ctx),
            Endpoint::JobResults => self.job_results(req, now, ctx),
            Endpoint::JobAvailability => self.job_availability(),
            _ => self.queue_by_id(req, ctx),
        }
    }

    /// `POST /oauth/token` with the client-credentials grant.
    fn token(&mut self, req: &Request, now: Instant) -> Response {
        let credentials = auth::basic_credentials(req.header("authorization"));
        let valid = credentials.is_some_and(|(id, secret)| {
            id == self.cfg.client_id && secret == self.cfg.client_secret
        });
        if !valid {
            return oauth_error("invalid_client", "authentication failed");
        }
        let form_content = req.header("content-type").is_some_and(|ct| {
            ct.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
        if !form_content {
            return oauth_error(
                "invalid_request",
                "content type must be application/x-www-form-urlencoded",
            );
        }
        let form = http::parse_query(&String::from_utf8_lossy(&req.body));
        let grant = form
            .iter()
            .find(|(name, _)| name == "grant_type")
            .map(|(_, v)| v.as_str());
        if grant != Some("client_credentials") {
            return oauth_error("unsupported_grant_type", "grant type is not supported");
        }
        let token = self.tokens.issue(now);
        self.stats.tokens_issued += 1;
        let mut body = json!({ "access_token": token, "token_type": "bearer" });
        if let Some(secs) = self.cfg.token_expires_in.announce(self.cfg.token_lifetime) {
            body["expires_in"] = json!(secs);
        }
        Response::json(200, &body)
    }

    fn authenticate(&mut self, req: &Request, now: Instant, ctx: &str) -> Result<(), Response> {
        let Some(token) = auth::bearer_token(req.header("authorization")) else {
            let message = "No authentication bearer token specified in authorization header.";
            return Err(error_response(401, "authentication.required", message, ctx));
        };
        match self.tokens.check(token, now, self.cfg.token_lifetime) {
            TokenCheck::Valid => Ok(()),
            TokenCheck::Expired => {
                self.stats.expired_token_rejections += 1;
                Err(bad_credentials(ctx))
            }
            TokenCheck::Unknown | TokenCheck::Revoked => Err(bad_credentials(ctx)),
        }
    }

    /// `POST /api/v2/analytics/conversations/details/query`.
    fn details_query(&mut self, req: &Request, ctx: &str) -> Response {
        if self.cfg.details_forbidden {
            return forbidden(permission(Endpoint::Details), ctx);
        }
        let query =
            match parse_details_query(&req.body, self.cfg.max_page_size, self.cfg.result_cap) {
                Ok(query) => query,
                Err(message) => return error_response(400, "bad.request", &message, ctx),
            };
        self.stats.max_page_number = self.stats.max_page_number.max(query.page_number);
        let mut matches = self
            .data
            .matching(query.from_ms, query.to_ms, query.end_filter);
        if !query.filters.is_empty() {
            let passes = self.filter_cache.entry(query.filters.key()).or_default();
            matches.retain(|c| {
                *passes
                    .entry(c.id.clone())
                    .or_insert_with(|| query.filters.matches(&self.data.render(c)))
            });
        }
        let listed = self.listed(matches, query.descending);
        let true_hits = listed.len() as u64;
        let cap = self.cfg.result_cap;
        if self.cfg.faults.cap_whole_result && true_hits > cap {
            let message = format!("Pagination may not exceed {cap} results. Consider paging through the data using smaller intervals.");
            return error_response(400, "bad.request", &message, ctx);
        }
        let page_number = if self.cfg.faults.ignore_page_number {
            1
        } else {
            query.page_number
        };
        let skip = usize::try_from((page_number - 1) * query.page_size).unwrap_or(usize::MAX);
        let mut on_page: HashSet<&str> = HashSet::new();
        let page: Vec<Value> = listed
            .iter()
            .skip(skip)
            .take(query.page_size as usize)
            .filter(|c| on_page.insert(c.id.as_str()))
            .map(|c| self.data.render(c))
            .collect();
        let total_hits = noisy_total(
            true_hits,
            self.cfg.total_hits_noise,
            self.cfg.seed,
            query.from_ms,
            query.to_ms,
        );
        let body = if page.is_empty() {
            json!({ "totalHits": total_hits })
        } else {
            json!({ "conversations": page, "totalHits": total_hits })
        };
        if self.cfg.arrivals_per_page > 0 {
            self.data
                .add_arrivals(query.from_ms, query.to_ms, self.cfg.arrivals_per_page);
        }
        if self.cfg.faults.indent_pages {
            let text = serde_json::to_vec_pretty(&body).expect("a json value always serializes");
            return Response::new(200, "application/json", text);
        }
        Response::json(200, &body)
    }

    /// `GET /api/v2/analytics/conversations/details?id=A,B,...` (also `id=A&id=B`): the
    /// conversations asked for that exist, as the details query renders them now, in the
    /// order asked; unknown ids (and those not started yet) are simply absent. More than
    /// `max_ids_per_request` ids, or none, is a 400.
    fn by_id(&mut self, req: &Request, ctx: &str) -> Response {
        if self.cfg.details_forbidden {
            return forbidden(permission(Endpoint::Details), ctx);
        }
        let ids: Vec<&str> = req
            .query_all("id")
            .into_iter()
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect();
        self.stats.max_ids_per_request = self.stats.max_ids_per_request.max(ids.len() as u64);
        if ids.is_empty() {
            return error_response(400, "bad.request", "At least one id is required.", ctx);
        }
        if ids.len() > self.cfg.max_ids_per_request {
            let message = format!(
                "The number of ids may not exceed {}.",
                self.cfg.max_ids_per_request
            );
            return error_response(400, "bad.request", &message, ctx);
        }
        if self.stats.by_id_requests <= self.cfg.faults.by_id_empty {
            return Response::json(200, &json!({}));
        }
        let mut listed = HashSet::new();
        let conversations: Vec<Value> = ids
            .iter()
            .filter(|id| listed.insert(**id))
            .filter_map(|id| self.data.get(id))
            .filter(|c| self.data.exists(c))
            .map(|c| self.data.render(c))
            .collect();
        Response::json(200, &json!({ "conversations": conversations }))
    }

    /// The details query's internal result list, in the requested order: every match, and a
    /// `duplicate_hits` share of them listed twice in a row, as an index holding duplicate
    /// entries would. Which conversations repeat depends on the seed and the conversation
    /// only, so the list is the same for every page of a window.
    fn listed<'a>(
        &self,
        matches: Vec<&'a Conversation>,
        descending: bool,
    ) -> Vec<&'a Conversation> {
        let share = self.cfg.duplicate_hits;
        let salt = mix(self.cfg.seed ^ DUPLICATE_SALT);
        let mut listed = Vec::with_capacity(matches.len());
        for c in matches {
            listed.push(c);
            if share > 0.0 && unit(mix(c.seed ^ salt)) < share {
                listed.push(c);
            }
        }
        if descending {
            listed.reverse();
        }
        listed
    }

    /// `GET /api/v2/routing/queues?id=..&id=..`, or a search by `name`.
    fn queue_list(&mut self, req: &Request, ctx: &str) -> Response {
        if self.cfg.queues_forbidden {
            return forbidden(permission(Endpoint::Queues), ctx);
        }
        let queues = self
            .data
            .queues
            .iter()
            .filter(|q| !q.deleted)
            .map(|q| (q.id.as_str(), q.name.as_str(), queue_json(q)))
            .collect();
        named_listing(req, ctx, QUEUES_PATH, queues, true, (None, None))
    }

    /// `GET /api/v2/users?id=..&id=..` (`state` is accepted and ignored: every simulated user
    /// is active).
    fn user_list(&mut self, req: &Request, ctx: &str) -> Response {
        if self.cfg.users_forbidden {
            return forbidden("directory:user:view", ctx);
        }
        let users = self
            .data
            .agents
            .iter()
            .map(|a| {
                let entity = json!({
                    "id": a.id,
                    "name": a.name,
                    "state": "active",
                    "username": format!("{}@example.com", &a.id[..8]),
                    "selfUri": format!("{USERS_PATH}/{}", a.id),
                });
                (a.id.as_str(), a.name.as_str(), entity)
            })
            .collect();
        let faults = &self.cfg.faults;
        let paging = (faults.listing_page_size, faults.listing_max_ids);
        named_listing(req, ctx, USERS_PATH, users, false, paging)
    }

    /// `GET /api/v2/routing/wrapupcodes?id=..&id=..`.
    fn wrapup_code_list(&mut self, req: &Request, ctx: &str) -> Response {
        if self.cfg.wrapup_codes_forbidden {
            return forbidden("routing:wrapupCode:view", ctx);
        }
        let codes = self
            .data
            .wrapup_code_names()
            .map(|(id, name)| {
                let entity = json!({
                    "id": id,
                    "name": name,
                    "dateCreated": "2024-01-15T09:00:00.000Z",
                    "selfUri": format!("{WRAPUP_CODES_PATH}/{id}"),
                });
                (id, name, entity)
            })
            .collect();
        let faults = &self.cfg.faults;
        let paging = (faults.listing_page_size, faults.listing_max_ids);
        named_listing(req, ctx, WRAPUP_CODES_PATH, codes, false, paging)
    }

    /// `GET /api/v2/routing/queues/{queueId}`.
    fn queue_by_id(&mut self, req: &Request, ctx: &str) -> Response {
        if self.cfg.queues_forbidden {
            return forbidden(permission(Endpoint::Queues), ctx);
        }
        let id = http::percent_decode(&req.path[QUEUES_PATH.len() + 1..]);
        match self.data.queue(&id).filter(|q| !q.deleted) {
            Some(queue) => Response::json(200, &queue_json(queue)),
            None => error_response(404, "not.found", &format!("Queue {id} not found"), ctx),
        }
    }
}

/// The jobs endpoints.
impl State {
    /// `POST /api/v2/analytics/conversations/details/jobs`.
    fn job_submit(&mut self, req: &Request, now: Instant, ctx: &str) -> Response {
        let max_interval_ms = self.cfg.job_max_interval.as_millis() as i64;
        let query = match parse_job_query(&req.body, max_interval_ms) {
            Ok(query) => query,
            Err(message) => return error_response(400, "bad.request", &message, ctx),
        };
        let rule = JobMatch {
            from_ms: query.from_ms,
            to_ms: query.to_ms,
            filter: query.end_filter,
            start_of_day: query.start_of_day,
            available_before_ms: data::to_ms(self.cfg.data_availability),
        };
        let mut slots = self.data.job_matches(&rule);
        if !query.filters.is_empty() {
            let data = &self.data;
            slots.retain(|&slot| query.filters.matches(&data.render(data.at(slot))));
        }
        if let Some(limit) = query.limit {
            slots.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        }
        let job_id = self.jobs.submit(slots, now).id.clone();
        self.stats.job_submits += 1;
        self.stats.jobs_live = self.jobs.live();
        Response::json(202, &json!({ "jobId": job_id }))
    }

    /// `GET /api/v2/analytics/conversations/details/jobs/{jobId}`: one status poll.
    fn job_status(&mut self, req: &Request, now: Instant, ctx: &str) -> Response {
        let id = job_id(req);
        let rules = lifecycle(&self.cfg);
        let Some(job) = self.jobs.get_mut(&id) else {
            return job_not_found(&id, ctx);
        };
        job.poll(&rules, now);
        let (number, state, submitted_at, fulfilled_at) =
            (job.number, job.state, job.submitted_at, job.fulfilled_at);
        self.stats.job_polls += 1;
        let submitted_ms = self.wall_ms(submitted_at);
        let mut body = Map::new();
        body.insert("state".into(), json!(state.name()));
        if state == JobState::Failed {
            let message = format!("Simulated failure of job {number}");
            body.insert("errorMessage".into(), json!(message));
        }
        body.insert(
            "submissionDate".into(),
            json!(data::format_ms(submitted_ms)),
        );
        if let Some(at) = fulfilled_at {
            let completed = data::format_ms(self.wall_ms(at));
            body.insert("completionDate".into(), json!(completed));
        }
        let lifetime_ms = i64::try_from(self.cfg.job_lifetime.as_millis()).unwrap_or(i64::MAX);
        let expires = data::format_ms(submitted_ms.saturating_add(lifetime_ms));
        body.insert("expirationDate".into(), json!(expires));
        Response::json(200, &Value::Object(body))
    }

    /// `DELETE /api/v2/analytics/conversations/details/jobs/{jobId}`.
    fn job_delete(&mut self, req: &Request, ctx: &str) -> Response {
        let id = job_id(req);
        if !self.jobs.remove(&id) {
            return job_not_found(&id, ctx);
        }
        self.stats.job_deletes += 1;
        self.stats.jobs_live = self.jobs.live();
        Response {
            status: 204,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// `GET /api/v2/analytics/conversations/details/jobs/{jobId}/results?cursor=..&pageSize=..`.
    fn job_results(&mut self, req: &Request, now: Instant, ctx: &str) -> Response {
        let id = job_id(req);
        let seed = self.cfg.seed;
        let max_page_size = u64::from(self.cfg.job_max_page_size);
        let result_cap = self.cfg.job_result_cap;
        let rules = lifecycle(&self.cfg);
        let Some(job) = self.jobs.get_mut(&id) else {
            return job_not_found(&id, ctx);
        };
        job.expire_if_due(&rules, now);
        let bad_request = |message: &str| error_response(400, "bad.request", message, ctx);
        let page_size = match req.query_first("pageSize") {
            None => DEFAULT_JOB_PAGE_SIZE.min(max_page_size),
            Some(text) => match text.parse::<u64>() {
                Ok(n) if n > max_page_size => {
                    return bad_request(&self.cfg.job_page_size_wording.message(max_page_size))
                }
                Ok(n) if n >= 1 => n,
                _ => {
                    let message = format!("pageSize must be a positive integer, got '{text}'");
                    return bad_request(&message);
                }
            },
        };
        match job.state {
            JobState::Fulfilled => {}
            JobState::Expired => {
                let message = format!(
                    "Job {id} has expired and its results are no longer available. Submit the job again."
                );
                return error_response(400, "analytics.job.expired", &message, ctx);
            }
            state => {
                let state = state.name();
                return bad_request(&format!("Job {id} is not fulfilled (state {state})"));
            }
        }
        let offset = match req.query_first("cursor").filter(|c| !c.is_empty()) {
            None => 0,
            Some(cursor) => match jobs::decode_cursor(seed, cursor) {
                Some((number, offset)) if number == job.number => offset,
                Some(_) => {
                    return bad_request(&format!("Cursor '{cursor}' does not belong to job {id}"))
                }
                None => return bad_request(&format!("Invalid cursor '{cursor}'")),
            },
        };
        let total = job.slots.len() as u64;
        if offset > total {
            return bad_request(&format!("Cursor does not belong to job {id}"));
        }
        let end = offset + page_size.min(total - offset);
        // Only a page that would reach past the cap is refused, so a job with at most
        // `result_cap` results can always be read to the end.
        if end > result_cap {
            return bad_request(&format!(
                "Pagination may not exceed {result_cap} results. Consider submitting jobs for smaller intervals."
            ));
        }
        let conversations: Vec<Value> = job.slots[offset as usize..end as usize]
            .iter()
            .map(|&slot| self.data.render_job(self.data.at(slot)))
            .collect();
        let mut body = Map::new();
        body.insert("conversations".into(), Value::Array(conversations));
        if end < total {
            let cursor = jobs::encode_cursor(seed, job.number, end);
            body.insert("cursor".into(), json!(cursor));
        }
        let available = data::format_ms(data::to_ms(self.cfg.data_availability));
        body.insert("dataAvailabilityDate".into(), json!(available));
        job.page_served(&self.cfg.job_faults);
        self.stats.job_result_pages += 1;
        self.stats.max_job_page_size = self.stats.max_job_page_size.max(page_size);
        Response::json(200, &Value::Object(body))
    }

    /// `GET /api/v2/analytics/conversations/details/jobs/availability`.
    fn job_availability(&self) -> Response {
        let available = data::format_ms(data::to_ms(self.cfg.data_availability));
        Response::json(200, &json!({ "dataAvailabilityDate": available }))
    }
}

/// The rules of every job's life under `cfg`.
fn lifecycle(cfg: &SimConfig) -> Lifecycle<'_> {
    Lifecycle {
        fulfilment: match cfg.job_fulfil_after {
            Some(delay) => Fulfilment::After(delay),
            None => Fulfilment::Polls(cfg.job_polls_to_fulfil),
        },
        lifetime: cfg.job_lifetime,
        faults: &cfg.job_faults,
    }
}

/// The decoded `{jobId}` of a jobs path that `classify` accepted.
fn job_id(req: &Request) -> String {
    let raw = job_path(&req.path).map_or("", |(id, _)| id);
    http::percent_decode(raw)
}

fn job_not_found(id: &str, ctx: &str) -> Response {
    error_response(404, "not.found", &format!("Job {id} not found"), ctx)
}

/// Whether an entity named `name` is found by a search for `search` (lower case): `*` at the
/// start or end anchors the other end, else the name must contain the text.
fn name_matches(name: &str, search: &str) -> bool {
    let name = name.to_lowercase();
    match (search.strip_prefix('*'), search.strip_suffix('*')) {
        (Some(rest), Some(_)) => name.contains(rest.trim_end_matches('*')),
        (Some(rest), None) => name.ends_with(rest),
        (None, Some(rest)) => name.starts_with(rest),
        (None, None) => name.contains(search),
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters, for the paging URIs.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A validated AsyncConversationQuery.
#[derive(Clone, Debug, PartialEq)]
pub struct JobQuery {
    pub from_ms: i64,
    pub to_ms: i64,
    pub end_filter: EndFilter,
    /// Every segment and conversation filter.
    pub filters: Filters,
    /// `startOfDayIntervalMatching`.
    pub start_of_day: bool,
    /// At most this many results.
    pub limit: Option<u64>,
}

/// Validates an AsyncConversationQuery body; the error is the API's 400 message.
pub fn parse_job_query(body: &[u8], max_interval_ms: i64) -> Result<JobQuery, String> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| format!("Unable to parse the request body as JSON: {e}"))?;
    let Some(object) = value.as_object() else {
        return Err("The request body must be a JSON object.".to_string());
    };
    let interval = match object.get("interval") {
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err("interval must be a string of the form start/end.".to_string()),
        None => return Err("interval is required.".to_string()),
    };
    let (from_ms, to_ms) = parse_interval(interval)?;
    if to_ms - from_ms > max_interval_ms {
        let limit = if max_interval_ms % DAY_MS == 0 {
            format!("{} days", max_interval_ms / DAY_MS)
        } else {
            format!("{max_interval_ms} milliseconds")
        };
        return Err(format!("The interval may not be longer than {limit}."));
    }
    if object.get("paging").is_some_and(|p| !p.is_null()) {
        return Err(
            "paging is not supported by jobs; page through the results with cursor and pageSize."
                .to_string(),
        );
    }
    match object.get("order") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if ["asc", "desc", "unordered"].contains(&s.as_str()) => {}
        Some(other) => {
            return Err(format!(
                "order must be one of asc, desc, unordered; got {other}."
            ))
        }
    }
    match object.get("orderBy") {
        None | Some(Value::Null) | Some(Value::String(_)) => {}
        Some(other) => return Err(format!("orderBy must be a string, got {other}.")),
    }
    let limit = match object.get("limit") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64() {
            Some(n) if n >= 1 => Some(n),
            _ => return Err(format!("limit must be a positive integer, got {v}.")),
        },
    };
    let start_of_day = match object.get("startOfDayIntervalMatching") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(format!(
                "startOfDayIntervalMatching must be a boolean, got {other}."
            ))
        }
    };
    Ok(JobQuery {
        from_ms,
        to_ms,
        end_filter: end_filter(object.get("conversationFilters")),
        filters: Filters::parse(object)?,
        start_of_day,
        limit,
    })
}

/// A validated details query.
#[derive(Clone, Debug, PartialEq)]
pub struct DetailsQuery {
    pub from_ms: i64,
    pub to_ms: i64,
    pub descending: bool,
    pub page_size: u64,
    pub page_number: u64,
    pub end_filter: EndFilter,
    /// Every segment and conversation filter.
    pub filters: Filters,
}

/// Validates a ConversationQuery body; the error is the API's 400 message.
pub fn parse_details_query(
    body: &[u8],
    max_page_size: u32,
    result_cap: u64,
) -> Result<DetailsQuery, String> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| format!("Unable to parse the request body as JSON: {e}"))?;
    let Some(object) = value.as_object() else {
        return Err("The request body must be a JSON object.".to_string());
    };
    let interval = match object.get("interval") {
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err("interval must be a string of the form start/end.".to_string()),
        None => return Err("interval is required.".to_string()),
    };
    let (from_ms, to_ms) = parse_interval(interval)?;
    let has_filters = [
        "conversationFilters",
        "segmentFilters",
        "evaluationFilters",
        "surveyFilters",
        "resolutionFilters",
    ]
    .iter()
    .any(|name| {
        object
            .get(*name)
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
    });
    let max_days = if has_filters {
        MAX_INTERVAL_FILTERED_DAYS
    } else {
        MAX_INTERVAL_UNFILTERED_DAYS
    };
    if to_ms - from_ms > max_days * DAY_MS {
        let why = if has_filters {
            ""
        } else {
            " when no filter is supplied"
        };
        return Err(format!(
            "The interval may not be longer than {max_days} days{why}."
        ));
    }
    let descending = match object.get("order") {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) if s == "asc" || s == "unordered" => false,
        Some(Value::String(s)) if s == "desc" => true,
        Some(other) => {
            return Err(format!(
                "order must be one of asc, desc, unordered; got {other}."
            ))
        }
    };
    let paging = object.get("paging").cloned().unwrap_or(Value::Null);
    let page_size = paging_number(&paging, "pageSize", DEFAULT_PAGE_SIZE)?;
    let page_number = paging_number(&paging, "pageNumber", 1)?;
    if page_size < 1 || page_size > u64::from(max_page_size) {
        return Err(format!(
            "paging.pageSize must be between 1 and {max_page_size}, got {page_size}."
        ));
    }
    if page_number < 1 {
        return Err(format!(
            "paging.pageNumber must be at least 1, got {page_number}."
        ));
    }
    if page_number.saturating_mul(page_size) > result_cap {
        return Err(format!(
            "Pagination may not exceed {result_cap} results. Consider paging through the data using smaller intervals."
        ));
    }
    Ok(DetailsQuery {
        from_ms,
        to_ms,
        descending,
        page_size,
        page_number,
        end_filter: end_filter(object.get("conversationFilters")),
        filters: Filters::parse(object)?,
    })
}

/// Parses `start/end`, each ISO-8601 with `Z` or an offset.
fn parse_interval(interval: &str) -> Result<(i64, i64), String> {
    let bad = || {
        format!("Invalid interval '{interval}': expected ISO-8601 start/end with a UTC offset, e.g. 2024-05-01T00:00:00.000Z/2024-05-02T00:00:00.000Z.")
    };
    let (start, end) = interval.split_once('/').ok_or_else(bad)?;
    let parse = |s: &str| {
        OffsetDateTime::parse(s, &Rfc3339)
            .or_else(|_| OffsetDateTime::parse(s, &Iso8601::DEFAULT))
            .map(data::to_ms)
            .map_err(|_| bad())
    };
    let (from_ms, to_ms) = (parse(start)?, parse(end)?);
    if from_ms >= to_ms {
        return Err(format!(
            "Invalid interval '{interval}': the start must be before the end."
        ));
    }
    Ok((from_ms, to_ms))
}

fn paging_number(paging: &Value, name: &str, default: u64) -> Result<u64, String> {
    match paging.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => match v.as_i64() {
            Some(n) => Ok(n.max(0) as u64),
            None => Err(format!("paging.{name} must be an integer, got {v}.")),
        },
    }
}

/// Finds `conversationEnd exists` / `notExists` predicates anywhere in the conversation
/// filters (top-level predicates and clauses). Other predicates are ignored.
fn end_filter(filters: Option<&Value>) -> EndFilter {
    let mut result = EndFilter::Any;
    let filters = filters
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    for filter in filters {
        let clauses = filter
            .get("clauses")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let groups = std::iter::once(filter).chain(clauses.iter());
        for group in groups {
            let predicates = group
                .get("predicates")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            for predicate in predicates {
                if predicate.get("dimension").and_then(Value::as_str) != Some("conversationEnd") {
                    continue;
                }
                match predicate.get("operator").and_then(Value::as_str) {
                    Some("exists") => result = EndFilter::Ended,
                    Some("notExists") => result = EndFilter::Ongoing,
                    _ => {}
                }
            }
        }
    }
    result
}

fn query_number(
    req: &Request,
    name: &str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, String> {
    match req.query_first(name) {
        None => Ok(default),
        Some(text) => match text.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(format!(
                "{name} must be an integer between {min} and {max}, got '{text}'."
            )),
        },
    }
}

/// Maps a hash onto [0, 1).
fn unit(hash: u64) -> f64 {
    (hash >> 11) as f64 / (1u64 << 53) as f64
}

/// Approximates a hit count the way the real API does: off by up to `noise` of the truth,
/// but stable for the same interval and count.
fn noisy_total(true_hits: u64, noise: f64, seed: u64, from_ms: i64, to_ms: i64) -> u64 {
    if noise <= 0.0 || true_hits == 0 {
        return true_hits;
    }
    let hash = mix(seed ^ mix(from_ms as u64) ^ mix(to_ms as u64).rotate_left(17) ^ true_hits);
    let u = unit(hash) * 2.0 - 1.0;
    (true_hits as f64 * (1.0 + u * noise)).round().max(0.0) as u64
}

/// One page of an entity listing (`…EntityListing`) of `(id, name, entity)`s: filtered by
/// the `id` parameters when there are any (at most `MAX_QUEUE_IDS`), with `by_name` by the
/// `name` search too (`name` matches any entity whose name contains it, ignoring case, or
/// with `*` at either end the entities whose name starts or ends with the rest), sorted by
/// name (`sortOrder=desc` reverses it), paged by `pageSize` and `pageNumber`. `paging`: a
/// page size imposed whatever `pageSize` asks for, and the most ids taken before a 414.
fn named_listing(
    req: &Request,
    ctx: &str,
    path: &str,
    all: Vec<(&str, &str, Value)>,
    by_name: bool,
    paging: (Option<u64>, Option<usize>),
) -> Response {
    let ids: Vec<&str> = req
        .query_all("id")
        .into_iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect();
    if paging.1.is_some_and(|max| ids.len() > max) {
        return error_response(414, "uri.too.long", "URI Too Long", ctx);
    }
    if ids.len() > MAX_QUEUE_IDS {
        let message = format!(
            "A maximum of {MAX_QUEUE_IDS} ids may be requested, got {}.",
            ids.len()
        );
        return error_response(400, "bad.request", &message, ctx);
    }
    let name = req.query_first("name").filter(|_| by_name);
    let search = name.map(str::to_lowercase);
    let page_size = match query_number(req, "pageSize", DEFAULT_PAGE_SIZE, 1, MAX_QUEUE_PAGE_SIZE) {
        Ok(n) => paging.0.unwrap_or(n),
        Err(message) => return error_response(400, "bad.request", &message, ctx),
    };
    let page_number = match query_number(req, "pageNumber", 1, 1, u64::MAX) {
        Ok(n) => n,
        Err(message) => return error_response(400, "bad.request", &message, ctx),
    };
    let mut found: Vec<(&str, &str, Value)> = all
        .into_iter()
        .filter(|(id, _, _)| ids.is_empty() || ids.contains(id))
        .filter(|(_, n, _)| search.as_ref().is_none_or(|s| name_matches(n, s)))
        .collect();
    found.sort_by(|a, b| a.1.cmp(b.1));
    if req
        .query_first("sortOrder")
        .is_some_and(|s| s.eq_ignore_ascii_case("desc"))
    {
        found.reverse();
    }
    let total = found.len() as u64;
    let entities: Vec<Value> = found
        .into_iter()
        .skip(((page_number - 1).saturating_mul(page_size)) as usize)
        .take(page_size as usize)
        .map(|(_, _, entity)| entity)
        .collect();
    let mut params: String = ids.iter().map(|id| format!("&id={id}")).collect();
    if let Some(name) = name {
        params.push_str(&format!("&name={}", percent_encode(name)));
    }
    let uri = |n: u64| format!("{path}?pageSize={page_size}&pageNumber={n}{params}");
    let page_count = total.div_ceil(page_size);
    let mut body = json!({
        "entities": entities,
        "pageSize": page_size,
        "pageNumber": page_number,
        "total": total,
        "pageCount": page_count,
        "firstUri": uri(1),
        "selfUri": uri(page_number),
        "lastUri": uri(page_count.max(1)),
    });
    if page_number < page_count {
        body["nextUri"] = json!(uri(page_number + 1));
    }
    if page_number > 1 {
        body["previousUri"] = json!(uri(page_number - 1));
    }
    Response::json(200, &body)
}

fn queue_json(queue: &Queue) -> Value {
    let (division_id, division_name) = data::division(queue.division);
    json!({
        "id": queue.id,
        "name": queue.name,
        "division": {
            "id": division_id,
            "name": division_name,
            "selfUri": format!("/api/v2/authorization/divisions/{division_id}"),
        },
        "description": "",
        "dateCreated": "2024-01-15T09:00:00.000Z",
        "dateModified": "2025-06-01T12:00:00.000Z",
        "memberCount": 8,
        "selfUri": format!("{QUEUES_PATH}/{}", queue.id),
    })
}

/// The standard Genesys ErrorBody.
pub fn error_response(status: u16, code: &str, message: &str, ctx: &str) -> Response {
    let body = json!({
        "message": message,
        "code": code,
        "status": status,
        "contextId": ctx,
        "details": [],
        "errors": [],
    });
    Response::json(status, &body)
}

/// 429 `too.many.requests.retry.after`, with this `Retry-After` value if any.
fn too_many_requests(retry_after: Option<&str>, ctx: &str) -> Response {
    let secs = retry_after.unwrap_or("1");
    let message = format!("Rate limit exceeded the maximum. Retry the request in [{secs}] seconds");
    let response = error_response(429, "too.many.requests.retry.after", &message, ctx);
    match retry_after {
        Some(value) => response.with_header("Retry-After", value),
        None => response,
    }
}

/// Adds the headers Genesys responses carry: the correlation id and `Date` on every one, and
/// the rate-limit window's numbers on the API endpoints' (`verdict`).
fn decorate(reply: Reply, ctx: &str, verdict: Option<Verdict>, date: &str) -> Reply {
    let add = |mut response: Response| {
        response = response
            .with_header("ININ-Correlation-Id", ctx)
            .with_header("Date", date);
        if let Some(v) = verdict {
            response = response
                .with_header("inin-ratelimit-count", &v.count.to_string())
                .with_header("inin-ratelimit-allowed", &v.allowed.to_string())
                .with_header("inin-ratelimit-reset", &v.reset_secs.to_string());
        }
        response
    };
    match reply {
        Reply::Full(response) => Reply::Full(add(response)),
        Reply::Truncated(response) => Reply::Truncated(add(response)),
        Reply::Reset => Reply::Reset,
    }
}

fn bad_credentials(ctx: &str) -> Response {
    error_response(401, "bad.credentials", "Invalid login credentials.", ctx)
}

/// 403 `missing.permissions`, the message naming the permission, as the real API's does.
fn forbidden(permission: &str, ctx: &str) -> Response {
    let message = format!(
        "You are not authorized to perform the requested action. Missing permission(s): {permission}"
    );
    error_response(403, "missing.permissions", &message, ctx)
}

/// The permission an endpoint needs.
fn permission(endpoint: Endpoint) -> &'static str {
    match endpoint {
        Endpoint::Queues | Endpoint::QueueById => "routing:queue:view",
        _ => "analytics:conversationDetail:view",
    }
}

/// Applies `edit` to a JSON object body and re-serializes it; false (and the body untouched)
/// when the body is not a JSON object or `edit` changed nothing.
fn edit_json(response: &mut Response, edit: impl FnOnce(&mut Map<String, Value>) -> bool) -> bool {
    let Ok(Value::Object(mut body)) = serde_json::from_slice::<Value>(&response.body) else {
        return false;
    };
    if !edit(&mut body) {
        return false;
    }
    *response = Response::json(response.status, &Value::Object(body));
    true
}

/// An `Echo` fault: an error body that repeats the presented credential in clear, as a server
/// that copies request headers into its error texts would.
fn echo(status: u16, endpoint: Endpoint, req: &Request, ctx: &str) -> Response {
    let authorization = req.header("authorization");
    if endpoint == Endpoint::Token {
        let (id, secret) = auth::basic_credentials(authorization).unwrap_or_default();
        let error = if status >= 500 {
            "server_error"
        } else {
            "invalid_client"
        };
        let description = format!("authentication failed for client '{id}' with secret '{secret}'");
        let body =
            json!({ "error": error, "description": description, "error_description": description });
        return Response::json(status, &body);
    }
    let token = auth::bearer_token(authorization).unwrap_or_default();
    let (code, message) = status_code_and_message(status);
    let message = format!("{message} Request authorization: Bearer {token}");
    error_response(status, code, &message, ctx)
}

/// The token endpoint's error shape, always with status 400.
fn oauth_error(error: &str, description: &str) -> Response {
    let body =
        json!({ "error": error, "description": description, "error_description": description });
    Response::json(400, &body)
}

fn status_code_and_message(status: u16) -> (&'static str, &'static str) {
    match status {
        400 => (
            "bad.request",
            "The request could not be understood by the server due to malformed syntax.",
        ),
        401 => ("bad.credentials", "Invalid login credentials."),
        403 => (
            "missing.permissions",
            "You are not authorized to perform the requested action.",
        ),
        404 => ("not.found", "The requested resource was not found."),
        408 => ("request.timeout", "The request timed out."),
        429 => ("too.many.requests", "Rate limit exceeded the maximum."),
        500 => (
            "internal.server.error",
            "The server encountered an unexpected condition.",
        ),
        501 => (
            "not.implemented",
            "The server does not support this operation.",
        ),
        502 => (
            "bad.gateway",
            "The server received an invalid response from an upstream server.",
        ),
        503 => (
            "service.unavailable",
            "The service is currently unavailable.",
        ),
        504 => (
            "gateway.timeout",
            "The server did not receive a timely response from an upstream server.",
        ),
        _ => ("error", "An error occurred."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::{Faults, RateLimit};

    /// A small simulator state at a fixed origin of both clocks.
    fn state(cfg: SimConfig) -> (State, Instant) {
        let t0 = Instant::now();
        let cfg = SimConfig {
            conversations: 300,
            ..cfg
        };
        (
            State::new(cfg, t0, time::macros::datetime!(2026-11-05 08:00 UTC)),
            t0,
        )
    }

    fn request(method: &str, target: &str, authorization: &str, body: &[u8]) -> Request {
        let (path, query) = match target.split_once('?') {
            Some((path, query)) => (path.to_string(), http::parse_query(query)),
            None => (target.to_string(), Vec::new()),
        };
        Request {
            method: method.to_string(),
            path,
            query,
            headers: vec![("authorization".to_string(), authorization.to_string())],
            body: body.to_vec(),
        }
    }

    fn full(reply: Reply) -> Response {
        match reply {
            Reply::Full(response) => response,
            other => panic!("expected a full reply, got {other:?}"),
        }
    }

    fn body(response: &Response) -> Value {
        serde_json::from_slice(&response.body).unwrap()
    }

    /// "sim-client:sim-secret" in base64.
    const BASIC: &str = "Basic c2ltLWNsaWVudDpzaW0tc2VjcmV0";

    /// Grants a token at `now`.
    fn grant(state: &mut State, now: Instant) -> String {
        let mut req = request("POST", TOKEN_PATH, BASIC, b"grant_type=client_credentials");
        let form = "application/x-www-form-urlencoded".to_string();
        req.headers.push(("content-type".to_string(), form));
        let response = full(state.handle(&req, now));
        assert_eq!(response.status, 200);
        body(&response)["access_token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn details_body(page_size: u64, page_number: u64) -> Vec<u8> {
        json!({
            "interval": "2026-11-01T10:00:00.000Z/2026-11-01T16:00:00.000Z",
            "paging": { "pageSize": page_size, "pageNumber": page_number },
        })
        .to_string()
        .into_bytes()
    }

    fn details(state: &mut State, token: &str, page: u64, now: Instant) -> Response {
        let bearer = format!("Bearer {token}");
        let req = request("POST", DETAILS_QUERY_PATH, &bearer, &details_body(10, page));
        full(state.handle(&req, now))
    }

    #[test]
    fn by_id_serves_what_exists_now_and_refuses_too_many_ids() {
        let (mut state, t0) = state(SimConfig {
            max_ids_per_request: 3,
            ..SimConfig::default()
        });
        let token = format!("Bearer {}", grant(&mut state, t0));
        // A conversation that ends after the present chosen below, and one that starts after.
        let all: Vec<Conversation> = state
            .data
            .starting_in(i64::MIN, i64::MAX)
            .map(|(c, _)| c.clone())
            .collect();
        let late = all.iter().find(|c| c.end_ms.is_some()).unwrap().clone();
        let now = late.start_ms + 1;
        let future = all.iter().find(|c| c.start_ms > now).unwrap().clone();
        state.data.now_ms = Some(now);
        let mut ask = |ids: &str| {
            full(state.handle(
                &request("GET", &format!("{BY_ID_PATH}?id={ids}"), &token, b""),
                t0,
            ))
        };
        let reply = ask(&format!("{},unknown,{}", late.id, future.id));
        assert_eq!(reply.status, 200);
        let conversations = body(&reply)["conversations"].as_array().unwrap().clone();
        assert_eq!(conversations.len(), 1);
        assert_eq!(conversations[0]["conversationId"], json!(late.id));
        assert!(conversations[0].get("conversationEnd").is_none());
        assert_eq!(ask("a,b,c,d").status, 400);
        assert_eq!(ask("").status, 400);
        // The data moves on: the conversation has ended, the later one exists.
        state.data.now_ms = Some(future.start_ms.max(late.end_ms.unwrap()) + 1);
        let reply = full(state.handle(
            &request(
                "GET",
                &format!("{BY_ID_PATH}?id={}&id={}", late.id, future.id),
                &token,
                b"",
            ),
            t0,
        ));
        let conversations = body(&reply)["conversations"].as_array().unwrap().clone();
        assert_eq!(conversations.len(), 2);
        assert!(conversations[0]["conversationEnd"].is_string());
        assert_eq!(state.stats.by_id_requests, 4);
        assert_eq!(state.stats.max_ids_per_request, 4);
    }

    /// Pages a window through and returns each page's ids and the `totalHits` of the first.
    fn all_pages(state: &mut State, token: &str, now: Instant) -> (Vec<Vec<String>>, u64) {
        let mut pages = Vec::new();
        let mut total_hits = 0;
        for page in 1.. {
            let response = body(&details(state, token, page, now));
            if page == 1 {
                total_hits = response["totalHits"].as_u64().unwrap();
            }
            let Some(conversations) = response.get("conversations") else {
                assert_eq!(response, json!({ "totalHits": total_hits }));
                break;
            };
            let ids = conversations.as_array().unwrap().iter();
            pages.push(
                ids.map(|c| c["conversationId"].as_str().unwrap().to_string())
                    .collect(),
            );
        }
        (pages, total_hits)
    }

    #[test]
    fn duplicate_hits_shorten_pages_that_are_not_the_last() {
        let (mut plain, t0) = state(SimConfig::default());
        let token = grant(&mut plain, t0);
        let (plain_pages, plain_hits) = all_pages(&mut plain, &token, t0);
        let (mut doubled, t0) = state(SimConfig {
            duplicate_hits: 0.3,
            ..SimConfig::default()
        });
        let token = grant(&mut doubled, t0);
        let (pages, total_hits) = all_pages(&mut doubled, &token, t0);
        let unique: Vec<String> = plain_pages.concat();
        assert_eq!(plain_hits, unique.len() as u64);
        // totalHits counts the duplicates; the pages hold each conversation at least once.
        assert!(
            total_hits > plain_hits + plain_hits / 10,
            "{total_hits} vs {plain_hits}"
        );
        // The pages are cut from a list of totalHits entries.
        assert_eq!(pages.len() as u64, total_hits.div_ceil(10));
        let mut served = pages.concat();
        served.dedup();
        assert_eq!(served, unique, "every conversation, in order");
        let (last, inner) = pages.split_last().unwrap();
        assert!(
            inner.iter().any(|p| p.len() < 10),
            "a short page before the end"
        );
        assert!(!last.is_empty());
        for page in &pages {
            let distinct: HashSet<&String> = page.iter().collect();
            assert_eq!(distinct.len(), page.len(), "no repeat within a page");
        }
    }

    fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
        let found = response
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name));
        found.map(|(_, v)| v.as_str())
    }

    #[test]
    fn rate_limit_refuses_api_requests_past_the_window() {
        let (mut state, t0) = state(SimConfig {
            rate_limit: Some(RateLimit {
                allowed: 2,
                window: Duration::from_secs(1),
            }),
            ..SimConfig::default()
        });
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        // The token endpoint is neither limited nor counted, and carries no window numbers.
        let token = grant(&mut state, at(0));
        let token_again = grant(&mut state, at(1));
        assert_ne!(token, token_again);
        let mut seen = Vec::new();
        for ms in [0, 100, 200, 300, 999, 1000, 1001, 1100, 2500] {
            let response = details(&mut state, &token, 1, at(ms));
            let numbers = [
                "inin-ratelimit-count",
                "inin-ratelimit-allowed",
                "inin-ratelimit-reset",
            ]
            .map(|name| header(&response, name).unwrap().to_string());
            if response.status == 429 {
                assert_eq!(body(&response)["code"], "too.many.requests.retry.after");
                assert_eq!(header(&response, "Retry-After"), Some(numbers[2].as_str()));
            }
            seen.push(format!(
                "{ms}: {} {}/{} reset {}",
                response.status, numbers[0], numbers[1], numbers[2]
            ));
        }
        let want = [
            "0: 200 1/2 reset 1",
            "100: 200 2/2 reset 1",
            "200: 429 3/2 reset 1",
            "300: 429 3/2 reset 1",
            "999: 429 3/2 reset 1",
            "1000: 200 2/2 reset 1",
            "1001: 429 3/2 reset 1",
            "1100: 200 2/2 reset 1",
            "2500: 200 1/2 reset 1",
        ];
        assert_eq!(seen, want);
        assert_eq!(state.stats.rate_limited, 4);
        assert_eq!(state.stats.faults_injected, 0);
        assert_eq!(state.stats.details_requests, 9);
    }

    #[test]
    fn token_replies_carry_no_rate_limit_headers() {
        let (mut state, t0) = state(SimConfig::default());
        let mut req = request("POST", TOKEN_PATH, BASIC, b"grant_type=client_credentials");
        let form = "application/x-www-form-urlencoded".to_string();
        req.headers.push(("content-type".to_string(), form));
        let response = full(state.handle(&req, t0));
        assert!(header(&response, "ININ-Correlation-Id").is_some());
        assert!(header(&response, "inin-ratelimit-count").is_none());
        let token = body(&response)["access_token"]
            .as_str()
            .unwrap()
            .to_string();
        let response = details(&mut state, &token, 1, t0);
        assert_eq!(header(&response, "inin-ratelimit-allowed"), Some("10000"));
        assert_eq!(header(&response, "inin-ratelimit-count"), Some("1"));
        assert_eq!(header(&response, "inin-ratelimit-reset"), Some("1"));
    }

    #[test]
    fn every_reply_carries_a_date_with_the_configured_offset() {
        for (offset, want) in [
            (0, "Thu, 05 Nov 2026 08:00:00 GMT"),
            (600, "Thu, 05 Nov 2026 08:10:00 GMT"),
            (-86_400, "Wed, 04 Nov 2026 08:00:00 GMT"),
        ] {
            let (mut state, t0) = state(SimConfig {
                date_offset_secs: offset,
                ..SimConfig::default()
            });
            let token = grant(&mut state, t0);
            let response = details(&mut state, &token, 1, t0);
            assert_eq!(header(&response, "Date"), Some(want), "{offset}");
            let unknown = full(state.handle(&request("GET", "/", "", b""), t0));
            assert_eq!(header(&unknown, "Date"), Some(want), "{offset}");
        }
    }

    #[test]
    fn a_queue_search_by_name_pages_in_either_order_and_keeps_the_name_in_its_links() {
        let (mut state, t0) = state(SimConfig::default());
        let bearer = format!("Bearer {}", grant(&mut state, t0));
        let mut page = |target: &str| {
            body(&full(
                state.handle(&request("GET", target, &bearer, b""), t0),
            ))
        };
        let first = page("/api/v2/routing/queues?name=BILLING*&pageSize=1&sortOrder=desc");
        assert_eq!(first["entities"][0]["name"], "Billing Escalations");
        assert_eq!(first["pageCount"], 2);
        assert!(first.get("previousUri").is_none(), "{first}");
        let next = first["nextUri"].as_str().unwrap();
        assert!(next.ends_with("pageNumber=2&name=BILLING%2A"), "{next}");
        let second = page(&format!("{next}&sortOrder=desc"));
        assert_eq!(second["entities"][0]["name"], "Billing");
        assert!(second.get("nextUri").is_none(), "{second}");
        assert!(second["previousUri"].is_string(), "{second}");
        // Users have no name search: the parameter is ignored.
        let users = page("/api/v2/users?name=nobody&pageSize=1");
        assert_eq!(users["entities"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn a_denied_permission_is_a_403_naming_it_on_its_endpoints_only() {
        /// `path` answers `status`, a 403 naming `permission`.
        fn check(cfg: SimConfig, method: &str, path: &str, status: u16, permission: &str) {
            let (mut state, t0) = state(cfg);
            let bearer = format!("Bearer {}", grant(&mut state, t0));
            let query = details_body(1, 1);
            let payload: &[u8] = if method == "POST" { &query } else { b"" };
            let response = full(state.handle(&request(method, path, &bearer, payload), t0));
            assert_eq!(response.status, status, "{path}");
            if status == 403 {
                let error = body(&response);
                assert_eq!(error["code"], "missing.permissions");
                let message = error["message"].as_str().unwrap();
                assert!(message.contains(permission), "{message}");
            }
        }
        let queues = "/api/v2/routing/queues?pageSize=1";
        let denied = |details, queues, jobs| SimConfig {
            details_forbidden: details,
            queues_forbidden: queues,
            jobs_forbidden: jobs,
            ..SimConfig::default()
        };
        let detail = "analytics:conversationDetail:view";
        check(
            denied(true, false, false),
            "POST",
            DETAILS_QUERY_PATH,
            403,
            detail,
        );
        check(
            denied(true, false, false),
            "GET",
            JOBS_AVAILABILITY_PATH,
            403,
            detail,
        );
        check(denied(true, false, false), "GET", queues, 200, "");
        check(
            denied(false, true, false),
            "GET",
            queues,
            403,
            "routing:queue:view",
        );
        check(
            denied(false, true, false),
            "POST",
            DETAILS_QUERY_PATH,
            200,
            "",
        );
        check(
            denied(false, false, true),
            "GET",
            JOBS_AVAILABILITY_PATH,
            403,
            detail,
        );
        check(
            denied(false, false, true),
            "POST",
            DETAILS_QUERY_PATH,
            200,
            "",
        );
        check(denied(false, false, true), "GET", queues, 200, "");
    }

    #[test]
    fn advance_moves_every_clock() {
        let (mut state, t0) = state(SimConfig {
            token_lifetime: Duration::from_secs(10),
            ..SimConfig::default()
        });
        let token = grant(&mut state, t0);
        assert_eq!(details(&mut state, &token, 1, t0).status, 200);
        state.advance(Duration::from_secs(10));
        assert_eq!(details(&mut state, &token, 1, t0).status, 401);
        assert_eq!(state.stats.expired_token_rejections, 1);
    }

    #[test]
    fn expiration_dates_stay_printable_for_any_lifetime() {
        let (mut state, t0) = state(SimConfig {
            job_lifetime: Duration::MAX,
            ..SimConfig::default()
        });
        let bearer = format!("Bearer {}", grant(&mut state, t0));
        let query = br#"{"interval":"2026-11-01T00:00:00Z/2026-11-02T00:00:00Z"}"#;
        let submitted = full(state.handle(&request("POST", JOBS_PATH, &bearer, query), t0));
        let job_id = body(&submitted)["jobId"].as_str().unwrap().to_string();
        let status_path = format!("{JOBS_PATH}/{job_id}");
        let status = full(state.handle(&request("GET", &status_path, &bearer, b""), t0));
        assert_eq!(body(&status)["expirationDate"], "9999-12-31T23:59:59.999Z");
        assert_eq!(body(&status)["submissionDate"], "2026-11-05T08:00:00.000Z");
    }

    #[test]
    fn echo_repeats_the_presented_credential() {
        let req = request("POST", TOKEN_PATH, BASIC, b"");
        let token_reply = body(&echo(401, Endpoint::Token, &req, "ctx"));
        assert_eq!(token_reply["error"], "invalid_client");
        assert!(token_reply["description"]
            .as_str()
            .unwrap()
            .contains("'sim-secret'"));
        let server = body(&echo(502, Endpoint::Token, &req, "ctx"));
        assert_eq!(server["error"], "server_error");
        let req = request("GET", QUEUES_PATH, "Bearer tok-123", b"");
        let response = echo(503, Endpoint::Queues, &req, "ctx");
        assert_eq!(response.status, 503);
        let api_reply = body(&response);
        assert_eq!(api_reply["code"], "service.unavailable");
        assert!(api_reply["message"]
            .as_str()
            .unwrap()
            .ends_with("Bearer tok-123"));
    }

    #[test]
    fn edit_json_changes_only_objects_it_edits() {
        let mut response = Response::json(200, &json!({ "a": 1, "conversations": [] }));
        assert!(edit_json(&mut response, |b| b
            .remove("conversations")
            .is_some()));
        assert_eq!(body(&response), json!({ "a": 1 }));
        assert!(!edit_json(&mut response, |b| b
            .remove("conversations")
            .is_some()));
        let mut array = Response::json(200, &json!([1]));
        assert!(!edit_json(&mut array, |_| true));
        assert_eq!(array.body, b"[1]");
    }

    #[test]
    fn malformed_faults_damage_what_they_apply_to() {
        fn check(fault: Fault, endpoint_target: &str, damaged: bool) {
            let faults = Faults {
                script: vec![(1, fault.clone())],
                ..Faults::default()
            };
            let (mut state, t0) = state(SimConfig {
                faults,
                ..SimConfig::default()
            });
            let token = grant(&mut state, t0);
            let bearer = format!("Bearer {token}");
            let (method, body) = match endpoint_target {
                DETAILS_QUERY_PATH => ("POST", details_body(10, 1)),
                _ => ("GET", Vec::new()),
            };
            let req = request(method, endpoint_target, &bearer, &body);
            let response = full(state.handle(&req, t0));
            assert_eq!(response.status, 200, "{fault:?} {endpoint_target}");
            let injected = state.stats.faults_injected;
            assert_eq!(injected, u64::from(damaged), "{fault:?} {endpoint_target}");
        }
        check(Fault::EmptyArray, DETAILS_QUERY_PATH, true);
        check(Fault::EmptyArray, QUEUES_PATH, true);
        check(Fault::Blank, JOBS_AVAILABILITY_PATH, true);
        check(Fault::HitsWithoutConversations, DETAILS_QUERY_PATH, true);
        check(Fault::HitsWithoutConversations, QUEUES_PATH, false);
        check(Fault::MissingId, DETAILS_QUERY_PATH, true);
        check(Fault::MissingId, JOBS_AVAILABILITY_PATH, false);
    }

    fn query(body: Value) -> Result<DetailsQuery, String> {
        parse_details_query(body.to_string().as_bytes(), 100, 100_000)
    }

    #[test]
    fn defaults_and_filters() {
        let q = query(json!({ "interval": "2026-11-01T00:00:00.000Z/2026-11-01T01:00:00.000Z" }))
            .unwrap();
        assert_eq!((q.page_size, q.page_number, q.descending), (25, 1, false));
        assert_eq!(q.end_filter, EndFilter::Any);
        assert_eq!(q.to_ms - q.from_ms, 3_600_000);
        let q = query(json!({
            "interval": "2026-11-01T02:00:00+02:00/2026-11-01T01:00:00Z",
            "order": "desc",
            "paging": { "pageSize": 100, "pageNumber": 3 },
            "conversationFilters": [{ "type": "and", "predicates": [
                { "type": "dimension", "dimension": "conversationEnd", "operator": "exists" } ] }],
        }))
        .unwrap();
        assert_eq!((q.page_size, q.page_number, q.descending), (100, 3, true));
        assert_eq!(q.end_filter, EndFilter::Ended);
        assert_eq!(q.to_ms - q.from_ms, 3_600_000);
        let q = query(json!({
            "interval": "2026-11-01T00:00:00Z/2026-11-02T00:00:00Z",
            "conversationFilters": [{ "type": "or", "clauses": [{ "type": "and", "predicates": [
                { "dimension": "conversationEnd", "operator": "notExists" } ] }] }],
        }))
        .unwrap();
        assert_eq!(q.end_filter, EndFilter::Ongoing);
    }

    /// A request body where `DAY` stands for the interval of 1 November 2026, `WEEK` for 7
    /// days from then, `MONTH` for 31 days and `MONTH_1S` for 31 days and a second.
    fn with_day(body: &str) -> Vec<u8> {
        body.replace("DAY", r#""2026-11-01T00:00:00Z/2026-11-02T00:00:00Z""#)
            .replace("WEEK", r#""2026-11-01T00:00:00Z/2026-11-08T00:00:00Z""#)
            .replace("MONTH_1S", r#""2026-11-01T00:00:00Z/2026-12-02T00:00:01Z""#)
            .replace("MONTH", r#""2026-11-01T00:00:00Z/2026-12-02T00:00:00Z""#)
            .into_bytes()
    }

    #[test]
    fn validation_failures_are_400_messages() {
        fn check(body: &str, accepted: bool) {
            let got = parse_details_query(&with_day(body), 100, 100_000);
            assert_eq!(got.is_ok(), accepted, "{body}: {got:?}");
        }
        let refused = |body| check(body, false);
        refused("{not json");
        refused("{}");
        refused(r#"{ "interval": 5 }"#);
        refused(r#"{ "interval": "2026-11-01T00:00:00Z" }"#);
        refused(r#"{ "interval": "2026-11-01T00:00:00/2026-11-02T00:00:00" }"#);
        refused(r#"{ "interval": "2026-11-02T00:00:00Z/2026-11-01T00:00:00Z" }"#);
        refused(r#"{ "interval": "2026-11-01T00:00:00Z/2026-11-01T00:00:00Z" }"#);
        refused(r#"{ "interval": "2026-11-01T00:00:00Z/2026-11-08T00:00:01Z" }"#);
        refused(r#"{ "interval": MONTH_1S, "segmentFilters": [{ "type": "and" }] }"#);
        refused(r#"{ "interval": DAY, "order": "sideways" }"#);
        refused(r#"{ "interval": DAY, "paging": { "pageSize": 101 } }"#);
        refused(r#"{ "interval": DAY, "paging": { "pageSize": 0 } }"#);
        refused(r#"{ "interval": DAY, "paging": { "pageNumber": 0 } }"#);
        refused(r#"{ "interval": DAY, "paging": { "pageSize": "ten" } }"#);
        // Exactly 7 days without filters and 31 days with filters are allowed.
        let accepted = |body| check(body, true);
        accepted(r#"{ "interval": WEEK }"#);
        accepted(r#"{ "interval": MONTH, "segmentFilters": [{ "type": "and" }] }"#);
    }

    #[test]
    fn pagination_cap_uses_the_configured_number() {
        let body = json!({ "interval": "2026-11-01T00:00:00Z/2026-11-02T00:00:00Z", "paging": { "pageSize": 100, "pageNumber": 1000 } });
        assert!(query(body).is_ok());
        let body = json!({ "interval": "2026-11-01T00:00:00Z/2026-11-02T00:00:00Z", "paging": { "pageSize": 100, "pageNumber": 1001 } });
        let message = query(body).unwrap_err();
        assert!(
            message.starts_with("Pagination may not exceed 100000 results."),
            "{message}"
        );
        let body = json!({ "interval": "2026-11-01T00:00:00Z/2026-11-02T00:00:00Z", "paging": { "pageSize": 10, "pageNumber": 6 } });
        let message = parse_details_query(body.to_string().as_bytes(), 100, 50).unwrap_err();
        assert!(
            message.starts_with("Pagination may not exceed 50 results."),
            "{message}"
        );
    }

    fn job_query(body: Value) -> Result<JobQuery, String> {
        parse_job_query(body.to_string().as_bytes(), 31 * DAY_MS)
    }

    #[test]
    fn job_queries_are_validated() {
        let q =
            job_query(json!({ "interval": "2026-11-01T00:00:00Z/2026-12-02T00:00:00Z" })).unwrap();
        assert_eq!((q.start_of_day, q.limit), (false, None));
        assert_eq!(q.end_filter, EndFilter::Any);
        let q = job_query(json!({
            "interval": "2026-11-01T00:00:00.000Z/2026-11-02T00:00:00.000Z",
            "order": "desc",
            "orderBy": "conversationStart",
            "limit": 50,
            "startOfDayIntervalMatching": true,
            "paging": null,
            "segmentFilters": [],
            "conversationFilters": [{ "type": "and", "predicates": [
                { "type": "dimension", "dimension": "conversationEnd", "operator": "exists" } ] }],
        }))
        .unwrap();
        assert_eq!((q.start_of_day, q.limit), (true, Some(50)));
        assert_eq!(q.end_filter, EndFilter::Ended);
        let refused = |body: &str| {
            let got = parse_job_query(&with_day(body), 31 * DAY_MS);
            assert!(got.is_err(), "{body}: {got:?}");
        };
        refused("{}");
        refused(r#"{ "interval": "2026-11-02T00:00:00Z/2026-11-01T00:00:00Z" }"#);
        refused(r#"{ "interval": MONTH_1S }"#);
        refused(r#"{ "interval": DAY, "paging": { "pageSize": 10 } }"#);
        refused(r#"{ "interval": DAY, "order": "sideways" }"#);
        refused(r#"{ "interval": DAY, "orderBy": 3 }"#);
        refused(r#"{ "interval": DAY, "limit": 0 }"#);
        refused(r#"{ "interval": DAY, "limit": "ten" }"#);
        refused(r#"{ "interval": DAY, "startOfDayIntervalMatching": "yes" }"#);
        let interval = "2026-11-01T00:00:00Z/2026-11-02T00:00:00Z";
        let message = job_query(json!({ "interval": "2026-11-01T00:00:00Z/2026-12-03T00:00:00Z" }))
            .unwrap_err();
        assert_eq!(message, "The interval may not be longer than 31 days.");
        let message = parse_job_query(
            json!({ "interval": interval }).to_string().as_bytes(),
            3_600_000,
        )
        .unwrap_err();
        assert_eq!(
            message,
            "The interval may not be longer than 3600000 milliseconds."
        );
    }

    #[test]
    fn noisy_totals_stay_within_bounds() {
        assert_eq!(noisy_total(1000, 0.0, 1, 0, 1), 1000);
        for from in 0..200 {
            let n = noisy_total(1000, 0.1, 1, from, from + 10);
            assert!((900..=1100).contains(&n), "{n}");
        }
        assert_eq!(
            noisy_total(1000, 0.1, 1, 5, 9),
            noisy_total(1000, 0.1, 1, 5, 9)
        );
    }

    #[test]
    fn users_and_wrapup_codes_are_listed_by_id_or_refused() {
        let (mut state, t0) = state(SimConfig::default());
        let token = grant(&mut state, t0);
        let bearer = format!("Bearer {token}");
        let agents: Vec<(String, String)> = state
            .data
            .agents
            .iter()
            .map(|a| (a.id.clone(), a.name.clone()))
            .collect();
        let (code, code_name) = state
            .data
            .wrapup_code_names()
            .nth(2)
            .map(|(id, name)| (id.to_string(), name))
            .unwrap();
        let get = |state: &mut State, target: String| {
            full(state.handle(&request("GET", &target, &bearer, b""), t0))
        };
        let target = format!(
            "{USERS_PATH}?pageSize=3&pageNumber=1&state=any&id={}&id={}&id=unknown",
            agents[0].0, agents[5].0
        );
        let listing = body(&get(&mut state, target));
        let mut named: Vec<(&str, &str)> = listing["entities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| (u["id"].as_str().unwrap(), u["name"].as_str().unwrap()))
            .collect();
        named.sort_unstable();
        let mut want = vec![
            (agents[0].0.as_str(), agents[0].1.as_str()),
            (agents[5].0.as_str(), agents[5].1.as_str()),
        ];
        want.sort_unstable();
        assert_eq!(named, want);
        let listing = body(&get(&mut state, format!("{WRAPUP_CODES_PATH}?id={code}")));
        assert_eq!(listing["entities"][0]["id"], json!(code));
        assert_eq!(listing["entities"][0]["name"], json!(code_name));
        let all = body(&get(
            &mut state,
            format!("{WRAPUP_CODES_PATH}?pageSize=100"),
        ));
        assert_eq!(all["total"], json!(8));
        assert_eq!(state.stats.user_requests, 1);
        assert_eq!(state.stats.wrapup_code_requests, 2);
        state.cfg.users_forbidden = true;
        state.cfg.wrapup_codes_forbidden = true;
        assert_eq!(get(&mut state, USERS_PATH.to_string()).status, 403);
        assert_eq!(get(&mut state, WRAPUP_CODES_PATH.to_string()).status, 403);
    }

    #[test]
    fn paths_are_classified() {
        use Endpoint::*;
        fn check(path: &str, want: Endpoint) {
            assert_eq!(classify(path), want, "{path}");
        }
        let job = |suffix: &str, want| check(&format!("{JOBS_PATH}{suffix}"), want);
        check("/oauth/token", Token);
        check(DETAILS_QUERY_PATH, Details);
        check("/api/v2/routing/queues", Queues);
        check("/api/v2/routing/queues/abc", QueueById);
        check("/api/v2/routing/queues/abc/members", OtherApi);
        check("/api/v2/users", Users);
        check("/api/v2/users/abc", OtherApi);
        check("/api/v2/routing/wrapupcodes", WrapUpCodes);
        check("/favicon.ico", Unknown);
        job("", JobSubmit);
        job("/availability", JobAvailability);
        job("/abc", Job);
        job("/abc/results", JobResults);
        job("/", OtherApi);
        job("/abc/x", OtherApi);
        job("/results", Job);
        job("x", OtherApi);
    }
}
