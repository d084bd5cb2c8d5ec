//! The HTTP client: the only module that uses `ureq`, and the one loop that sleeps and retries.
//!
//! `Client::call` sends a request, turns whatever happened into a `retry::Outcome`, and asks
//! `retry::decide` what next: return the checked body, sleep and resend, fetch a new token and
//! replay the same request, or give up with an exit code. Before every API request the token's
//! expiry is checked against the skew margin (`auth::Token::is_fresh`); the token exchange goes
//! through the same loop, so a 429 or 503 from the login host is survived like any other.
//!
//! A 2xx counts only once its body is a JSON object of the expected shape and passes the
//! caller's check; anything else is retried like a truncated body, never taken as "no data".
//! A refusal becomes an `api::Refusal` (data, rendered only for the user). Every text that came
//! from a server is scrubbed of the client secret and the tokens before it is shown.
//!
//! Statuses are data here, not errors (`http_status_as_error(false)`), so 429 and 5xx reach
//! the policy with their headers. Redirects are not followed: a redirect would carry the
//! credentials to a host the user did not name.
//!
//! Base URLs are parsed here with the parser the client itself uses (`ureq::http::Uri`), and
//! the loopback rule applies to the host that parse yields: the one connected to. Each base
//! (login and API) has its own agent and its own `proxy::Route`, so a loopback login is never
//! sent through the API's proxy. A proxy is reached through `Tunnel`, the CONNECT step of this
//! module's connector chain: ureq reads no proxy variable, and a proxy's refusal comes back
//! typed (`ProxyRefused`) with its status, never as text to search.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;
use time::OffsetDateTime;

use crate::api::{self, AuthErrorBody, ErrorBody, Refusal, TokenResponse};
use crate::auth::{self, Credentials, Token};
use crate::exit::{failure, output, usage, usage_context, Code};
use crate::pace::{self, Feedback, Pacer, RateHeaders, Start};
use crate::proxy::{self, Route};
use crate::report::{Event, HttpStats, Log};
use crate::retry::{self, Attempt, Cause, Decision, Endpoint, GiveUp, Outcome, Policy};
use crate::times::format_duration;
use crate::urls;

/// A success body larger than this is refused (a details page of 100 conversations is a few
/// hundred kilobytes).
const MAX_BODY_BYTES: u64 = 256 * 1024 * 1024;
/// Error bodies are read only this far: enough for a message, not for an HTML page.
const MAX_ERROR_BODY_BYTES: u64 = 64 * 1024;
/// Connecting should take seconds; a longer wait means the host is unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Settings {
    /// API requests in flight at once, at most (`--parallel`).
    pub parallel: u32,
    pub api_base: String,
    pub login_base: String,
    pub timeout: Duration,
    pub ca_file: Option<PathBuf>,
    pub policy: Policy,
    pub routes: Routes,
}

/// How each host is reached: directly or through a proxy, the login host and the API host
/// decided apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Routes {
    pub api: Route,
    pub login: Route,
}

/// The routes to the two bases under the environment `env`, decided on the hosts the client
/// connects to. An error is one line naming the proxy variable at fault.
pub fn routes(
    api_base: &str,
    login_base: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Routes, String> {
    let route = |flag: &str, base: &str| {
        let origin = origin(flag, base)?;
        let scheme = if origin.https { "https" } else { "http" };
        proxy::route(env, scheme, &origin.host, origin.port)
    };
    Ok(Routes {
        api: route("--api-base", api_base)?,
        login: route("--login-base", login_base)?,
    })
}

/// Validates the base URL given as `flag` and returns it without trailing slashes: the plain
/// form `urls::check_base` asks for, then parsed as the client parses it, and `https://`, or
/// `http://` only when the host that parse yields is loopback.
pub fn check_base(flag: &str, url: &str) -> Result<String, String> {
    let url = urls::check_base(flag, url)?;
    let origin = origin(flag, &url)?;
    if !origin.https && !proxy::is_loopback_host(&origin.host) {
        return Err(format!(
            "{flag} uses plain http:// to {}: credentials and tokens would travel unencrypted; use https:// (http:// is allowed only to loopback)",
            origin.host
        ));
    }
    Ok(url)
}

/// Where a base URL connects, as `ureq` parses it.
#[derive(Debug, PartialEq, Eq)]
struct Origin {
    https: bool,
    /// A name or an address, IPv6 in brackets as the URL holds it.
    host: String,
    port: u16,
}

/// Parses a base URL with the client's own parser. Refused: anything it cannot parse, a scheme
/// other than http and https, a user name, a query (an `@` after `?` or `#` is not a user
/// name: `http://host?@127.0.0.1` connects to `host`).
fn origin(flag: &str, url: &str) -> Result<Origin, String> {
    let uri: ureq::http::Uri = url
        .parse()
        .map_err(|_| format!("{flag} is not a URL the HTTP client can parse: give a base URL such as https://api.mypurecloud.ie"))?;
    let https = match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err(format!("{flag} must start with https://")),
    };
    let Some(authority) = uri.authority() else {
        return Err(format!(
            "{flag} has no host: give a URL such as https://api.mypurecloud.ie"
        ));
    };
    if authority.as_str().contains('@') {
        return Err(format!(
            "{flag} must not hold a user name (user@): the client id and secret travel in a header, not in the URL"
        ));
    }
    if uri.query().is_some() || url.contains('#') {
        return Err(format!(
            "{flag} must not hold a query (?) or a fragment (#): give the base URL only"
        ));
    }
    let host = authority.host();
    if host.is_empty() {
        return Err(format!(
            "{flag} has no host: give a URL such as https://api.mypurecloud.ie"
        ));
    }
    let port = match authority.port_u16() {
        Some(port) => port,
        None if https => 443,
        None => 80,
    };
    Ok(Origin {
        https,
        host: host.to_string(),
        port,
    })
}

/// The HTTP methods the API is called with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Delete,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Delete => "DELETE",
        }
    }
}

/// A request body and its content type.
struct Body<'a> {
    content_type: &'static str,
    bytes: &'a [u8],
}

pub struct Client {
    /// The agent for the API host and the one for the login host: each connects as its route
    /// says.
    api_agent: ureq::Agent,
    login_agent: ureq::Agent,
    routes: Routes,
    api_base: String,
    login_base: String,
    credentials: Credentials,
    policy: Policy,
    log: Log,
    /// The current token and how many were obtained: held while one is fetched, so requests
    /// in flight on other threads wait for it instead of each fetching their own.
    token: Mutex<TokenSlot>,
    /// Counters, the jitter draw and the secrets to scrub: short critical sections only.
    shared: Mutex<Shared>,
    /// When the next API request may leave: `pace::Pacer` under a lock, and the requests in
    /// flight.
    gate: Mutex<(Pacer, u32)>,
    gate_changed: Condvar,
}

/// The token in use; `generation` counts the tokens obtained, so a 401 on a request sent with
/// an older token does not throw away the one another thread just fetched.
#[derive(Default)]
struct TokenSlot {
    token: Option<Token>,
    generation: u64,
}

struct Shared {
    stats: HttpStats,
    jitter: Jitter,
    redactor: Redactor,
    /// What the last reply from the API host said beside its body.
    seen: Option<Seen>,
}

/// What a reply from the API host said beside its body, for `check`: its `Date` header, this
/// machine's clock when the reply arrived, and its rate-limit headers.
#[derive(Clone, Debug)]
pub struct Seen {
    pub date: Option<String>,
    pub received: OffsetDateTime,
    pub rate: Option<RateHeaders>,
}

/// A complete response.
struct Reply {
    status: u16,
    /// The body of a 2xx when it was asked for spooled; `body` is then empty.
    spool: Option<Spool>,
    rate: Option<RateHeaders>,
    retry_after: Option<String>,
    correlation_id: Option<String>,
    /// The `Date` header.
    date: Option<String>,
    is_html: bool,
    body: Vec<u8>,
}

impl Client {
    pub fn new(settings: Settings, credentials: Credentials, log: Log) -> Result<Client> {
        let mut tls = ureq::tls::TlsConfig::builder();
        if let Some(path) = &settings.ca_file {
            tls = tls.root_certs(load_roots(path)?);
        }
        let tls = tls.build();
        let mut redactor = Redactor::new(&credentials);
        for route in [&settings.routes.api, &settings.routes.login] {
            if let Route::Via(proxy) = route {
                if let Some((_, password)) = proxy.credentials() {
                    redactor.add(password);
                }
                if let Some(authorization) = proxy.authorization() {
                    redactor.add(authorization.trim_start_matches("Basic "));
                }
            }
        }
        let shared = Shared {
            stats: HttpStats::default(),
            jitter: Jitter::seeded(),
            redactor,
            seen: None,
        };
        Ok(Client {
            api_agent: agent(&settings, &tls, &settings.routes.api)?,
            login_agent: agent(&settings, &tls, &settings.routes.login)?,
            routes: settings.routes,
            api_base: settings.api_base,
            login_base: settings.login_base,
            credentials,
            policy: settings.policy,
            log,
            token: Mutex::new(TokenSlot::default()),
            shared: Mutex::new(shared),
            gate: Mutex::new((Pacer::new(settings.parallel, Instant::now()), 0)),
            gate_changed: Condvar::new(),
        })
    }

    /// Obtains the first token, so bad credentials fail before any output exists.
    pub fn authenticate(&self) -> Result<()> {
        self.bearer().map(drop)
    }

    /// The agent for `endpoint`'s host: each host has its own route (direct or a proxy).
    fn agent(&self, endpoint: Endpoint) -> &ureq::Agent {
        match endpoint {
            Endpoint::Token => &self.login_agent,
            Endpoint::Api => &self.api_agent,
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> HttpStats {
        self.shared().stats.clone()
    }

    /// What the last reply from the API host (a refusal too) said beside its body.
    pub fn last_seen(&self) -> Option<Seen> {
        self.shared().seen.clone()
    }

    /// The lifetime of the token in use, once one was obtained.
    pub fn token_lifetime(&self) -> Option<Duration> {
        let slot = self.token.lock().unwrap_or_else(PoisonError::into_inner);
        slot.token.as_ref().map(Token::lifetime)
    }

    /// Connects to `endpoint`'s host (proxy, TLS handshake) with one `GET /` that carries no
    /// credentials; any HTTP status proves the connection. Network faults are retried under
    /// the policy, and a final failure is the error an export would end with.
    pub fn reach(&self, endpoint: Endpoint) -> Result<()> {
        let url = format!("{}/", self.base(endpoint));
        let mut attempt = Attempt::default();
        loop {
            let sent = ureq::http::Request::builder()
                .method(Method::Get.name())
                .uri(&url)
                .body(ureq::SendBody::none())
                .map_err(ureq::Error::from)
                .and_then(|request| self.agent(endpoint).run(request));
            let e = match sent {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            let (outcome, hint, problem) = classify(&e);
            let failed = Failed {
                outcome,
                problem: self.scrub(&problem),
                refusal: None,
                hint,
            };
            match self.decide(endpoint, &mut attempt, &failed.outcome) {
                Decision::Retry { wait, cause } => {
                    self.retry_after(
                        &mut attempt,
                        Method::Get,
                        &url,
                        wait,
                        cause,
                        &failed.problem,
                    )?;
                }
                // Only a status asks for a new token, and any status is a success here.
                Decision::RefreshToken => return Ok(()),
                Decision::GiveUp(reason) => {
                    return Err(self.give_up(reason, endpoint, Method::Get, &url, failed, &attempt))
                }
            }
        }
    }

    /// The shared part; a thread that panicked while holding it left plain counters behind,
    /// which stay usable.
    fn shared(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `GET path`; the reply counts once `check` accepts it.
    pub fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        check: &dyn Fn(&T) -> Result<(), String>,
    ) -> Result<T> {
        let accept = |reply: Reply| parse_checked(Method::Get, &reply, check);
        self.call(
            Endpoint::Api,
            Method::Get,
            path,
            None,
            Receive::InMemory,
            &accept,
        )
    }

    /// `GET path` with the body spooled to an unlinked temporary file instead of memory; the
    /// reply counts once `check`, reading the spool, accepts it, and what `check` returns
    /// comes back with the spool (rewound).
    pub fn get_spooled<C>(
        &self,
        path: &str,
        check: &dyn Fn(&mut Spool) -> Result<C, String>,
    ) -> Result<(Spool, C)> {
        let accept = |reply: Reply| {
            if reply.is_html {
                return Err("an HTML page".to_string());
            }
            let mut spool = reply.spool.ok_or("no body")?;
            spool.rewind().map_err(|e| e.to_string())?;
            let checked = check(&mut spool)?;
            spool.rewind().map_err(|e| e.to_string())?;
            Ok((spool, checked))
        };
        self.call(
            Endpoint::Api,
            Method::Get,
            path,
            None,
            Receive::Spooled,
            &accept,
        )
    }

    /// `POST path` with a JSON body; the reply counts once `check` accepts it.
    pub fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
        check: &dyn Fn(&T) -> Result<(), String>,
    ) -> Result<T> {
        let bytes = serde_json::to_vec(body)?;
        let body = Body {
            content_type: "application/json",
            bytes: &bytes,
        };
        let accept = |reply: Reply| parse_checked(Method::Post, &reply, check);
        self.call(
            Endpoint::Api,
            Method::Post,
            path,
            Some(body),
            Receive::InMemory,
            &accept,
        )
    }

    /// `DELETE path`; any 2xx will do, whatever its body.
    pub fn delete(&self, path: &str) -> Result<()> {
        let accept = |reply: Reply| {
            let ignore = |_: &serde::de::IgnoredAny| Ok(());
            parse_checked(Method::Delete, &reply, &ignore)
        };
        self.call(
            Endpoint::Api,
            Method::Delete,
            path,
            None,
            Receive::InMemory,
            &accept,
        )
        .map(drop)
    }

    /// A text that came from a server, with the client secret and every token of this run
    /// replaced: safe to show.
    pub fn scrub(&self, text: &str) -> String {
        self.shared().redactor.scrub(text)
    }

    /// The `Authorization` value for the next API request, refreshing the token first when it
    /// is missing or about to expire.
    fn bearer(&self) -> Result<(String, u64)> {
        let mut slot = self.token.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if let Some(token) = slot.token.as_ref().filter(|t| t.is_fresh(now)) {
            return Ok((token.bearer_authorization(), slot.generation));
        }
        let form = Body {
            content_type: "application/x-www-form-urlencoded",
            bytes: b"grant_type=client_credentials",
        };
        let accept = |reply: Reply| parse_checked(Method::Post, &reply, &TokenResponse::check);
        let reply: TokenResponse = self.call(
            Endpoint::Token,
            Method::Post,
            api::TOKEN_PATH,
            Some(form),
            Receive::InMemory,
            &accept,
        )?;
        {
            let mut shared = self.shared();
            shared.stats.tokens = shared.stats.tokens.saturating_add(1);
            shared.redactor.add(&reply.access_token);
        }
        let token = Token::new(
            reply.access_token,
            auth::lifetime(reply.expires_in),
            Instant::now(),
        );
        let header = token.bearer_authorization();
        slot.token = Some(token);
        slot.generation = slot.generation.saturating_add(1);
        Ok((header, slot.generation))
    }

    /// Waits until the pacer lets an API request leave, then counts it in flight. A signal
    /// ends the wait.
    fn enter_gate(&self) -> Result<()> {
        // Short waits, so that a signal is noticed while the gate is closed.
        const STEP: Duration = Duration::from_millis(50);
        let mut gate = self.gate.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(reason) = crate::signal::stop_reason() {
                return Err(failure(Code::Interrupted, reason));
            }
            let now = Instant::now();
            let wait = match gate.0.next_start(now, gate.1) {
                Start::Now => {
                    gate.0.started(now);
                    gate.1 = gate.1.saturating_add(1);
                    return Ok(());
                }
                Start::At(at) => {
                    // A hold longer than the wait budget left (a 429 asking for hours) would
                    // only end in giving up: give up now, as the policy does.
                    let hold = at.saturating_duration_since(now);
                    let left = self
                        .policy
                        .max_total_wait
                        .saturating_sub(self.stats().waited);
                    if hold > left {
                        return Err(failure(
                            Code::GaveUp,
                            format!(
                                "gave up: the API asks for a pause of {} before the next request, more than the {} left of the --max-wait budget",
                                format_duration(hold),
                                format_duration(left)
                            ),
                        ));
                    }
                    hold.min(STEP)
                }
                Start::WhenOneFinishes => STEP,
            };
            gate = self
                .gate_changed
                .wait_timeout(gate, wait)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Counts a request out of flight and tells the pacer what its reply said.
    fn leave_gate(&self, reply: Option<&Reply>) {
        let feedback = reply.map_or_else(Feedback::default, |reply| Feedback {
            rate: reply.rate,
            rate_limited: reply.status == 429,
            retry_after: reply
                .retry_after
                .as_deref()
                .and_then(|v| retry::parse_retry_after(v, OffsetDateTime::now_utc())),
        });
        let mut gate = self.gate.lock().unwrap_or_else(PoisonError::into_inner);
        gate.1 = gate.1.saturating_sub(1);
        gate.0.finished(Instant::now(), feedback);
        self.gate_changed.notify_all();
    }

    /// Forgets the token a 401 refused, unless a newer one has replaced it meanwhile.
    fn refused_token(&self, generation: u64) {
        let mut slot = self.token.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.generation == generation {
            slot.token = None;
        }
    }

    /// Sends one request under the retry policy and returns what `accept` makes of a 2xx.
    fn call<T>(
        &self,
        endpoint: Endpoint,
        method: Method,
        path: &str,
        body: Option<Body>,
        receive: Receive,
        accept: &dyn Fn(Reply) -> Result<T, String>,
    ) -> Result<T> {
        let url = format!("{}{path}", self.base(endpoint));
        let mut attempt = Attempt::default();
        loop {
            let spool = match receive {
                Receive::InMemory => None,
                Receive::Spooled => Some(Spool::new().with_context(|| {
                    output(format!(
                        "cannot create a temporary file in {} for a reply",
                        std::env::temp_dir().display()
                    ))
                })?),
            };
            let (sent, generation) = self.exchange(endpoint, method, &url, body.as_ref(), spool)?;
            let failed = match self.judge(endpoint, method, &url, sent, accept) {
                Ok(value) => return Ok(value),
                Err(failed) => failed,
            };
            match self.decide(endpoint, &mut attempt, &failed.outcome) {
                Decision::Retry { wait, cause } => {
                    self.retry_after(&mut attempt, method, path, wait, cause, &failed.problem)?;
                }
                Decision::RefreshToken => {
                    attempt.token_replays = attempt.token_replays.saturating_add(1);
                    self.refused_token(generation);
                    let message = format!(
                        "token refused ({}); fetching a new one and replaying {} {path}",
                        failed.problem,
                        method.name()
                    );
                    self.log.emit(
                        Event::info(message)
                            .with("token_replay", attempt.token_replays)
                            .with("method", method.name())
                            .with("path", path),
                    );
                }
                Decision::GiveUp(reason) => {
                    return Err(self.give_up(reason, endpoint, method, &url, failed, &attempt))
                }
            }
        }
    }

    /// Counts a retry of `method target`, logs it with its cause and sleeps `wait`.
    fn retry_after(
        &self,
        attempt: &mut Attempt,
        method: Method,
        target: &str,
        wait: Duration,
        cause: Cause,
        problem: &str,
    ) -> Result<()> {
        attempt.retries = attempt.retries.saturating_add(1);
        let message = format!(
            "retry {}/{} of {} {target} in {}: {problem}",
            attempt.retries,
            self.policy.max_retries,
            method.name(),
            format_duration(wait),
        );
        self.log.emit(
            Event::info(message)
                .with("retry", attempt.retries)
                .with("max_retries", self.policy.max_retries)
                .with("method", method.name())
                .with("path", target)
                .with("cause", cause.label())
                .seconds("wait_seconds", wait),
        );
        pause(wait)
    }

    /// One exchange: through the pacer's gate (API requests), with a fresh token once it
    /// leaves, counted. Returns what came back and the generation of the token sent.
    fn exchange(
        &self,
        endpoint: Endpoint,
        method: Method,
        url: &str,
        body: Option<&Body>,
        spool: Option<Spool>,
    ) -> Result<(Result<Reply, ureq::Error>, u64)> {
        // The gate first: a request may wait there, and its token must be fresh when it
        // leaves, not when it began to wait.
        if endpoint == Endpoint::Api {
            self.enter_gate()?;
        }
        let (authorization, generation) = match endpoint {
            Endpoint::Token => (self.credentials.basic_authorization(), 0),
            Endpoint::Api => match self.bearer() {
                Ok(bearer) => bearer,
                Err(e) => {
                    self.leave_gate(None);
                    return Err(e);
                }
            },
        };
        {
            let mut shared = self.shared();
            shared.stats.requests = shared.stats.requests.saturating_add(1);
            if endpoint == Endpoint::Token {
                shared.stats.token_requests = shared.stats.token_requests.saturating_add(1);
            }
        }
        let sent = self.send(endpoint, method, url, &authorization, body, spool);
        if endpoint == Endpoint::Api {
            self.leave_gate(sent.as_ref().ok());
            if let Ok(reply) = &sent {
                self.shared().seen = Some(Seen {
                    date: reply.date.clone(),
                    received: OffsetDateTime::now_utc(),
                    rate: reply.rate,
                });
            }
        }
        Ok((sent, generation))
    }

    /// The checked value of a reply, or what went wrong, for the policy and the user.
    fn judge<T>(
        &self,
        endpoint: Endpoint,
        method: Method,
        url: &str,
        sent: Result<Reply, ureq::Error>,
        accept: &dyn Fn(Reply) -> Result<T, String>,
    ) -> Result<T, Failed> {
        match sent {
            Ok(reply) if (200..300).contains(&reply.status) => {
                let status = reply.status;
                accept(reply).map_err(|why| Failed {
                    outcome: Outcome::BadBody,
                    problem: format!("HTTP {status} with {}", self.scrub(&why)),
                    refusal: None,
                    hint: FatalHint::None,
                })
            }
            Ok(reply) => {
                let refusal = self.refusal(endpoint, method, url, &reply);
                let retry_after = reply
                    .retry_after
                    .as_deref()
                    .and_then(|v| retry::parse_retry_after(v, OffsetDateTime::now_utc()));
                Err(Failed {
                    outcome: Outcome::Status {
                        status: reply.status,
                        retry_after,
                    },
                    problem: refusal.status_line(),
                    refusal: Some(Box::new(refusal)),
                    hint: FatalHint::None,
                })
            }
            Err(e) => {
                let (outcome, hint, mut problem) = classify(&e);
                if let Route::Via(proxy) = self.route(endpoint) {
                    problem = format!(
                        "{problem} (through the proxy {} from {})",
                        proxy.shown(),
                        proxy.variable
                    );
                }
                Err(Failed {
                    outcome,
                    problem: self.scrub(&problem),
                    refusal: None,
                    hint,
                })
            }
        }
    }

    /// Asks the policy what follows `outcome`, counting the retry and its wait run-wide.
    fn decide(&self, endpoint: Endpoint, attempt: &mut Attempt, outcome: &Outcome) -> Decision {
        let mut shared = self.shared();
        attempt.waited = shared.stats.waited;
        let jitter = shared.jitter.next();
        let decision = retry::decide(&self.policy, endpoint, attempt, outcome, jitter);
        match decision {
            Decision::Retry { wait, cause } => {
                shared.stats.count_retry(cause);
                shared.stats.waited = shared.stats.waited.saturating_add(wait);
            }
            Decision::RefreshToken => shared.stats.count_retry(retry::Cause::TokenRejected),
            Decision::GiveUp(_) => {}
        }
        decision
    }

    /// How an endpoint's host is reached.
    fn route(&self, endpoint: Endpoint) -> &Route {
        match endpoint {
            Endpoint::Token => &self.routes.login,
            Endpoint::Api => &self.routes.api,
        }
    }

    /// The base URL of an endpoint's host.
    fn base(&self, endpoint: Endpoint) -> &str {
        match endpoint {
            Endpoint::Token => &self.login_base,
            Endpoint::Api => &self.api_base,
        }
    }

    /// Sends one request and reads the whole response.
    fn send(
        &self,
        endpoint: Endpoint,
        method: Method,
        url: &str,
        authorization: &str,
        body: Option<&Body>,
        spool: Option<Spool>,
    ) -> Result<Reply, ureq::Error> {
        let request = ureq::http::Request::builder()
            .method(method.name())
            .uri(url)
            .header("Authorization", authorization)
            .header("Accept", "application/json");
        let agent = self.agent(endpoint);
        let mut response = match body {
            Some(body) => agent.run(
                request
                    .header("Content-Type", body.content_type)
                    .body(body.bytes)?,
            )?,
            None => agent.run(request.body(ureq::SendBody::none())?)?,
        };
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let status = response.status().as_u16();
        let rate = pace::parse_rate_headers(
            header("inin-ratelimit-count").as_deref(),
            header("inin-ratelimit-allowed").as_deref(),
            header("inin-ratelimit-reset").as_deref(),
        );
        let retry_after = header("retry-after");
        let correlation_id = header("inin-correlation-id");
        let date = header("date");
        let is_html = header("content-type").is_some_and(|v| v.contains("html"));
        let limit = if (200..300).contains(&status) {
            MAX_BODY_BYTES
        } else {
            MAX_ERROR_BODY_BYTES
        };
        let reader = response.body_mut().with_config().limit(limit);
        let (body, spool) = match spool {
            Some(mut spool) if (200..300).contains(&status) => {
                // Large writes: a page of results reaches the spool in a few system calls.
                let mut out = std::io::BufWriter::with_capacity(SPOOL_WRITE_BYTES, &mut spool);
                std::io::copy(&mut reader.reader(), &mut out)?;
                out.flush()?;
                drop(out);
                (Vec::new(), Some(spool))
            }
            _ => match reader.read_to_vec() {
                Ok(body) => (body, None),
                // An error page longer than we care to read is still an error page.
                Err(ureq::Error::BodyExceedsLimit(_)) if status >= 300 => (Vec::new(), None),
                Err(e) => return Err(e),
            },
        };
        Ok(Reply {
            status,
            spool,
            rate,
            retry_after,
            correlation_id,
            date,
            is_html,
            body,
        })
    }

    /// An error reply as data, its server-given texts scrubbed.
    fn refusal(&self, endpoint: Endpoint, method: Method, url: &str, reply: &Reply) -> Refusal {
        let (code, message) = if reply.is_html {
            (None, None)
        } else if endpoint == Endpoint::Token {
            let body: AuthErrorBody = serde_json::from_slice(&reply.body).unwrap_or_default();
            (body.error, body.error_description.or(body.description))
        } else {
            let body: ErrorBody = serde_json::from_slice(&reply.body).unwrap_or_default();
            (body.code, body.message)
        };
        Refusal {
            status: reply.status,
            method: method.name(),
            url: url.to_string(),
            code: code.map(|c| self.scrub(&c)),
            message: message.map(|m| self.scrub(&m)),
            correlation_id: reply.correlation_id.as_deref().map(|c| self.scrub(c)),
            html: reply.is_html,
        }
    }

    /// The error that ends a request the policy gave up on.
    fn give_up(
        &self,
        reason: GiveUp,
        endpoint: Endpoint,
        method: Method,
        url: &str,
        failed: Failed,
        attempt: &Attempt,
    ) -> anyhow::Error {
        let Failed {
            problem,
            refusal,
            hint,
            ..
        } = failed;
        let base = self.base(endpoint);
        let request = format!("{} {url}", method.name());
        match reason {
            GiveUp::Auth if endpoint == Endpoint::Token => failure(
                Code::Auth,
                format!(
                    "authentication rejected by {}: {problem}; check GENESYSCLOUD_OAUTHCLIENT_ID and GENESYSCLOUD_OAUTHCLIENT_SECRET, and that GENESYSCLOUD_REGION is the region of the org that owns the OAuth client",
                    self.login_base
                ),
            ),
            GiveUp::Auth => failure(
                Code::Auth,
                format!(
                    "the API refused {} fresh tokens in a row for {request}: {problem}; the OAuth client may have been deleted or disabled, or its IP allow-list excludes this host",
                    attempt.token_replays.saturating_add(1)
                ),
            ),
            GiveUp::Forbidden => failure(
                Code::Forbidden,
                format!("permission denied for {request}: {problem}"),
            ),
            GiveUp::Client(_) => match refusal {
                Some(refusal) => anyhow::Error::new(*refusal),
                None => anyhow::anyhow!("the API refused {request}: {problem}"),
            },
            GiveUp::Fatal => match (hint, self.route(endpoint)) {
                (FatalHint::ProxyAuth, Route::Via(proxy)) => anyhow::anyhow!(
                    "proxy {} refused the credentials (HTTP 407) for {base}: check the user and password in {}",
                    proxy.shown(),
                    proxy.variable
                ),
                _ => anyhow::anyhow!(
                    "cannot talk to {base}: {problem}{}",
                    match hint {
                        FatalHint::Tls => "; if a proxy inspects TLS, pass its CA certificate with --ca-file",
                        FatalHint::ProxyAuth | FatalHint::None => "",
                    }
                ),
            },
            GiveUp::RetriesExhausted(_) => failure(
                Code::GaveUp,
                format!(
                    "gave up on {request} after {} retries (--max-retries): {problem}",
                    attempt.retries
                ),
            ),
            GiveUp::BudgetExhausted { wait, .. } => {
                let left = self.policy.max_total_wait.saturating_sub(self.stats().waited);
                let when = time::Duration::try_from(wait)
                    .ok()
                    .and_then(|wait| OffsetDateTime::now_utc().checked_add(wait))
                    .map_or_else(|| "much later".to_string(), crate::window::api_timestamp);
                failure(
                    Code::GaveUp,
                    format!(
                        "gave up on {request}: the next retry needs a wait of {} but only {} of the --max-wait budget is left ({problem}); try again after {when}",
                        format_duration(wait),
                        format_duration(left),
                    ),
                )
            }
        }
    }
}

/// Parses and checks a 2xx body. A DELETE needs no body; anything else must be a JSON object
/// that `check` accepts.
fn parse_checked<T: DeserializeOwned>(
    method: Method,
    reply: &Reply,
    check: &dyn Fn(&T) -> Result<(), String>,
) -> Result<T, String> {
    if reply.is_html {
        return Err("an HTML page".to_string());
    }
    let value: T = if method == Method::Delete {
        serde_json::from_slice(b"null").map_err(|e| e.to_string())?
    } else {
        api::parse_object(&reply.body)?
    };
    check(&value)?;
    Ok(value)
}

/// Sleeps before a retry, in short steps so that SIGINT/SIGTERM stop the run promptly; no
/// page is half-written while sleeping, so the saved state is exact.
pub fn pause(wait: Duration) -> Result<()> {
    const STEP: Duration = Duration::from_millis(50);
    let started = Instant::now();
    loop {
        if let Some(signal) = crate::signal::received() {
            return Err(failure(
                Code::Interrupted,
                format!(
                    "interrupted by {} while waiting",
                    crate::signal::name(signal)
                ),
            ));
        }
        let left = wait.saturating_sub(started.elapsed());
        if left.is_zero() {
            return Ok(());
        }
        thread::sleep(left.min(STEP));
    }
}

/// The size of the writes that spool a reply.
const SPOOL_WRITE_BYTES: usize = 1024 * 1024;

/// Where a 2xx body goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Receive {
    InMemory,
    /// To a `Spool`: for replies whose size the API decides (job results).
    Spooled,
}

/// A reply body in an unlinked temporary file (mode 0600; it holds phone numbers): memory
/// stays flat whatever the page size, and the body can be read more than once. The file has
/// no name from the moment it is created, and is gone when the spool is dropped.
pub struct Spool {
    file: File,
}

impl Spool {
    fn new() -> std::io::Result<Spool> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir();
        loop {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let path = dir.join(format!("genesys-export-{}-{n}.spool", std::process::id()));
            let mut options = OpenOptions::new();
            options.read(true).write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            match options.open(&path) {
                Ok(file) => {
                    std::fs::remove_file(&path)?;
                    return Ok(Spool { file });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Back to the first byte.
    pub fn rewind(&mut self) -> std::io::Result<()> {
        self.file.seek(SeekFrom::Start(0)).map(drop)
    }
}

impl Read for Spool {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.file.read(buf)
    }
}

impl Write for Spool {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// What went wrong with one exchange: the policy's view, the user's, and the data behind it.
struct Failed {
    outcome: Outcome,
    /// One line for the log and the error.
    problem: String,
    refusal: Option<Box<Refusal>>,
    hint: FatalHint,
}

/// Why a failure is final, for the hint in its message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FatalHint {
    /// TLS failed: a TLS-inspecting proxy needs its CA in --ca-file.
    Tls,
    /// The proxy answered 407: its user or password is wrong or missing.
    ProxyAuth,
    None,
}

/// Maps a transport error to the policy's view of it, with a hint for final ones and the
/// problem in words.
///
/// A TLS failure is final: an unknown issuer, an expired certificate, a name mismatch or a
/// server that does not speak TLS stay so however often the request is sent again.
fn classify(e: &ureq::Error) -> (Outcome, FatalHint, String) {
    if let Some(tls) = tls_failure(e) {
        return (Outcome::Fatal, FatalHint::Tls, format!("TLS failed: {tls}"));
    }
    if let Some(refused) = proxy_refusal(e) {
        // A gateway error from the proxy is its trouble reaching the host, which passes; any
        // other refusal is its policy or its credentials, which a retry does not change.
        let (outcome, hint) = match refused.status {
            407 => (Outcome::Fatal, FatalHint::ProxyAuth),
            500..=599 => (Outcome::Network, FatalHint::None),
            _ => (Outcome::Fatal, FatalHint::None),
        };
        return (outcome, hint, refused.to_string());
    }
    let outcome = match e {
        ureq::Error::BadUri(_)
        | ureq::Error::InvalidProxyUrl
        | ureq::Error::Http(_)
        | ureq::Error::RedirectFailed
        | ureq::Error::TooManyRedirects => Outcome::Fatal,
        _ => Outcome::Network,
    };
    (outcome, FatalHint::None, e.to_string())
}

/// The TLS error behind a transport error, if TLS is what failed: ureq's own TLS variants, or
/// a rustls error anywhere in the chain (a failed handshake reaches ureq as an I/O error
/// wrapping it). The chain is walked through `source` and through the error an I/O error
/// carries (`io::Error::get_ref`; its `source` skips that error). Only the type decides,
/// never the text.
fn tls_failure(e: &ureq::Error) -> Option<&(dyn std::error::Error + 'static)> {
    // A chain is a handful of links; the bound only guards against a cycle.
    const MAX_LINKS: usize = 16;
    let mut link: Option<&(dyn std::error::Error + 'static)> = Some(e);
    for _ in 0..MAX_LINKS {
        let error = link?;
        match error.downcast_ref::<ureq::Error>() {
            Some(ureq::Error::Tls(_) | ureq::Error::Pem(_) | ureq::Error::Rustls(_)) => {
                return Some(error)
            }
            Some(ureq::Error::Io(io)) => {
                link = io
                    .get_ref()
                    .map(|inner| inner as &(dyn std::error::Error + 'static));
                continue;
            }
            _ => {}
        }
        if downcast_as(ureq::Error::Rustls, error).is_some() {
            return Some(error);
        }
        link = match error.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => error.source(),
        };
    }
    None
}

/// `error` as the type `wrap` takes. ureq does not re-export rustls, and the binary names no
/// TLS crate of its own: the rustls error type is named through ureq's variant that wraps it.
fn downcast_as<'a, T: std::error::Error + 'static>(
    _wrap: fn(T) -> ureq::Error,
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    error.downcast_ref::<T>()
}

/// The agent for one host: statuses as data, no redirects, the run's timeouts and TLS roots,
/// and the connector chain `Tunnel` → TCP → rustls. The proxy, if the route has one, is the
/// only one: ureq's own reading of the environment is replaced.
fn agent(settings: &Settings, tls: &ureq::tls::TlsConfig, route: &Route) -> Result<ureq::Agent> {
    use ureq::unversioned::resolver::DefaultResolver;
    use ureq::unversioned::transport::{Connector, RustlsConnector, TcpConnector};
    let (proxy, authorization) = match route {
        Route::Direct => (None, None),
        Route::Via(proxy) => {
            let host = match proxy.host.contains(':') {
                true => format!("[{}]", proxy.host),
                false => proxy.host.clone(),
            };
            let built = ureq::Proxy::builder(ureq::ProxyProtocol::Http)
                .host(&host)
                .port(proxy.port)
                .build()
                .map_err(|_| {
                    usage(format!(
                        "{} names a proxy the HTTP client cannot use: {}",
                        proxy.variable,
                        proxy.shown()
                    ))
                })?;
            (Some(built), proxy.authorization())
        }
    };
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(settings.timeout))
        .timeout_connect(Some(CONNECT_TIMEOUT.min(settings.timeout)))
        .user_agent(format!("genesys-export/{}", env!("CARGO_PKG_VERSION")))
        .tls_config(tls.clone())
        .proxy(proxy)
        .build();
    let connector = Tunnel { authorization }
        .chain(TcpConnector::default())
        .chain(RustlsConnector::default());
    Ok(ureq::Agent::with_parts(
        config,
        connector,
        DefaultResolver::default(),
    ))
}

/// The CONNECT step: when the agent has a proxy, opens a TCP connection to it, asks it for a
/// tunnel to the target's host and port (the proxy resolves the name) with the
/// `Proxy-Authorization` the URL's credentials make, and hands the tunnel on for TLS. A reply
/// other than 2xx is `ProxyRefused`, typed. Without a proxy it does nothing and TCP connects
/// directly.
struct Tunnel {
    /// `Basic …` for the proxy, when its URL had credentials.
    authorization: Option<String>,
}

impl std::fmt::Debug for Tunnel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tunnel").finish_non_exhaustive()
    }
}

/// The most a proxy's reply to CONNECT may hold before its blank line.
const MAX_CONNECT_REPLY_BYTES: usize = 16 * 1024;

impl ureq::unversioned::transport::Connector<()> for Tunnel {
    type Out = Box<dyn ureq::unversioned::transport::Transport>;

    fn connect(
        &self,
        details: &ureq::unversioned::transport::ConnectionDetails,
        _chained: Option<()>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        use ureq::unversioned::transport::{
            ConnectionDetails, Connector, TcpConnector, Transport, TransportAdapter,
        };
        let Some(proxy) = details.config.proxy() else {
            return Ok(None);
        };
        let addrs = details
            .resolver
            .resolve(proxy.uri(), details.config, details.timeout)?;
        let to_proxy = ConnectionDetails {
            uri: proxy.uri(),
            addrs,
            config: details.config,
            request_level: details.request_level,
            resolver: details.resolver,
            now: details.now,
            timeout: details.timeout,
            current_time: details.current_time.clone(),
            run_connector: details.run_connector.clone(),
            register_shutdown: details.register_shutdown.clone(),
        };
        let Some(tcp) = Connector::<()>::connect(&TcpConnector::default(), &to_proxy, None)? else {
            return Err(ureq::Error::ConnectionFailed);
        };
        let mut io = TransportAdapter::new(tcp.boxed(), details.current_time.clone());
        io.set_timeout(details.timeout);
        let target = details.uri;
        let host = target.host().ok_or(ureq::Error::ConnectionFailed)?;
        let port = target
            .port_u16()
            .unwrap_or_else(|| match target.scheme_str() {
                Some("http") => 80,
                _ => 443,
            });
        let mut request = format!("CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n");
        if let Some(authorization) = &self.authorization {
            request.push_str(&format!("Proxy-Authorization: {authorization}\r\n"));
        }
        request.push_str("\r\n");
        io.write_all(request.as_bytes())?;
        // The reply, byte by byte up to its blank line: what follows belongs to the tunnel.
        let mut reply = Vec::new();
        while !reply.ends_with(b"\r\n\r\n") {
            if reply.len() >= MAX_CONNECT_REPLY_BYTES {
                return Err(ureq::Error::Io(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "the proxy's reply to CONNECT has no end",
                )));
            }
            let mut byte = [0u8];
            if io.read(&mut byte)? == 0 {
                return Err(ureq::Error::Io(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the proxy closed the connection before answering CONNECT",
                )));
            }
            reply.push(byte[0]);
        }
        let status = connect_status(&reply).ok_or_else(|| {
            ureq::Error::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "the proxy's reply to CONNECT is not HTTP",
            ))
        })?;
        if !(200..300).contains(&status) {
            return Err(ureq::Error::Other(Box::new(ProxyRefused { status })));
        }
        Ok(Some(io.into_inner()))
    }
}

/// The status of a reply's first line, `HTTP/1.x NNN …`.
fn connect_status(reply: &[u8]) -> Option<u16> {
    let line = reply.split(|b| *b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut words = line.split_whitespace();
    words.next().filter(|w| w.starts_with("HTTP/1."))?;
    let status = words.next()?;
    (status.len() == 3)
        .then(|| status.parse::<u16>().ok())
        .flatten()
        .filter(|s| (100..600).contains(s))
}

/// A proxy's refusal to open a tunnel, with the status it answered CONNECT with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ProxyRefused {
    status: u16,
}

impl std::fmt::Display for ProxyRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the proxy answered CONNECT with HTTP {}", self.status)
    }
}

impl std::error::Error for ProxyRefused {}

/// The proxy's refusal behind a transport error, found by type.
fn proxy_refusal(e: &ureq::Error) -> Option<ProxyRefused> {
    match e {
        ureq::Error::Other(inner) => inner.downcast_ref::<ProxyRefused>().copied(),
        ureq::Error::Io(io) => io
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<ProxyRefused>())
            .copied(),
        _ => None,
    }
}

/// Secrets that must never be shown: the client secret (plain and inside the Basic header)
/// and every token this run obtained.
struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    fn new(credentials: &Credentials) -> Redactor {
        let mut redactor = Redactor {
            secrets: Vec::new(),
        };
        redactor.add(credentials.secret());
        let basic = credentials.basic_authorization();
        redactor.add(basic.trim_start_matches("Basic "));
        redactor
    }

    fn add(&mut self, secret: &str) {
        if !secret.is_empty() && !self.secrets.iter().any(|s| s == secret) {
            self.secrets.push(secret.to_string());
        }
    }

    /// `text` without secrets, on one line (a server's newlines and escapes become spaces).
    fn scrub(&self, text: &str) -> String {
        let mut out = api::one_line(text);
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), "<redacted>");
            }
        }
        out
    }
}

/// Reads a PEM bundle of CA certificates for `--ca-file`.
fn load_roots(path: &PathBuf) -> Result<ureq::tls::RootCerts> {
    let pem = std::fs::read(path)
        .with_context(|| usage_context(format!("cannot read --ca-file {}", path.display())))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        if let Ok(ureq::tls::PemItem::Certificate(cert)) = item {
            certs.push(cert);
        }
    }
    if certs.is_empty() {
        return Err(usage(format!(
            "--ca-file {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        )));
    }
    Ok(ureq::tls::RootCerts::new_with_certs(&certs))
}

/// A small xorshift generator for backoff jitter; seeded from the clock and process id so that
/// many exporters started by the same cron minute do not retry in step.
struct Jitter(u64);

impl Jitter {
    fn seeded() -> Jitter {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Jitter((nanos ^ (u64::from(std::process::id()) << 32)) | 1)
    }

    /// A uniform draw from `[0, 1)`.
    fn next(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> Client {
        let settings = Settings {
            parallel: 1,
            api_base: "http://127.0.0.1:9".into(),
            login_base: "http://127.0.0.1:9".into(),
            timeout: Duration::from_secs(1),
            ca_file: None,
            policy: Policy::default(),
            routes: Routes {
                api: Route::Direct,
                login: Route::Direct,
            },
        };
        let credentials = Credentials::new("id-1".into(), "s3cret-value".into());
        Client::new(settings, credentials, Log::QUIET).unwrap()
    }

    fn reply(status: u16, is_html: bool, body: &[u8]) -> Reply {
        Reply {
            status,
            spool: None,
            rate: None,
            retry_after: None,
            correlation_id: Some("abc-123".into()),
            date: None,
            is_html,
            body: body.to_vec(),
        }
    }

    #[test]
    fn jitter_spreads_over_the_unit_interval() {
        let mut j = Jitter(12345);
        let draws: Vec<f64> = (0..10_000).map(|_| j.next()).collect();
        assert!(draws.iter().all(|x| (0.0..1.0).contains(x)));
        let low = draws.iter().filter(|x| **x < 0.1).count();
        let high = draws.iter().filter(|x| **x >= 0.9).count();
        // Uniform: about a tenth in each end; a stuck or biased generator fails this.
        assert!((800..1200).contains(&low), "{low}");
        assert!((800..1200).contains(&high), "{high}");
    }

    #[test]
    fn refusals_keep_code_message_and_correlation_id_as_data() {
        let c = client();
        let url = "http://127.0.0.1:9/api/v2/x?pageSize=10000";
        let body = br#"{"message":"Pagination may not exceed 100000 results.","code":"bad.request","status":400}"#;
        let r = c.refusal(Endpoint::Api, Method::Post, url, &reply(400, false, body));
        assert_eq!(r.code.as_deref(), Some("bad.request"));
        assert_eq!(
            r.status_line(),
            "HTTP 400 bad.request: Pagination may not exceed 100000 results [ININ-Correlation-Id abc-123]"
        );
        assert_eq!(
            r.to_string(),
            format!("the API refused POST {url}: {}", r.status_line())
        );
        let body = br#"{"error":"invalid_client","error_description":"authentication failed"}"#;
        let r = c.refusal(Endpoint::Token, Method::Post, url, &reply(400, false, body));
        assert_eq!(
            r.status_line(),
            "HTTP 400 invalid_client: authentication failed [ININ-Correlation-Id abc-123]"
        );
        let r = c.refusal(
            Endpoint::Api,
            Method::Get,
            url,
            &reply(502, true, b"<html>"),
        );
        assert!(r.status_line().starts_with("HTTP 502 (an HTML error page)"));
    }

    #[test]
    fn server_texts_are_scrubbed_of_the_secret_and_tokens() {
        let c = client();
        c.shared().redactor.add("tok-9f8e");
        let basic = Credentials::new("id-1".into(), "s3cret-value".into()).basic_authorization();
        let body = format!(
            r#"{{"message":"bad secret s3cret-value for token tok-9f8e ({basic})","code":"x"}}"#
        );
        let r = c.refusal(
            Endpoint::Api,
            Method::Get,
            "u",
            &reply(400, false, body.as_bytes()),
        );
        let shown = r.to_string();
        assert!(!shown.contains("s3cret-value"), "{shown}");
        assert!(!shown.contains("tok-9f8e"), "{shown}");
        assert!(
            !shown.contains(basic.trim_start_matches("Basic ")),
            "{shown}"
        );
        assert!(shown.contains("<redacted>"), "{shown}");
    }

    #[test]
    fn tls_failures_wrapped_as_io_errors_were_retried_as_network_errors() {
        use std::io::{Error as IoError, ErrorKind};
        let check = |e: ureq::Error, outcome: Outcome, hint: FatalHint| {
            let (got_outcome, got_hint, _) = classify(&e);
            assert_eq!((got_outcome, got_hint), (outcome, hint), "{e:?}");
        };
        let tls = || ureq::Error::Tls("Rustls invalid dns name error");
        check(tls(), Outcome::Fatal, FatalHint::Tls);
        check(
            ureq::Error::Io(IoError::new(ErrorKind::InvalidData, tls())),
            Outcome::Fatal,
            FatalHint::Tls,
        );
        check(
            ureq::Error::Io(IoError::other(IoError::other(tls()))),
            Outcome::Fatal,
            FatalHint::Tls,
        );
        // The text never decides: only the type of what is wrapped does.
        check(
            ureq::Error::Io(IoError::new(
                ErrorKind::InvalidData,
                "invalid peer certificate: UnknownIssuer",
            )),
            Outcome::Network,
            FatalHint::None,
        );
        check(
            ureq::Error::Io(IoError::new(ErrorKind::ConnectionReset, "reset")),
            Outcome::Network,
            FatalHint::None,
        );
        check(
            ureq::Error::Io(IoError::from(ErrorKind::UnexpectedEof)),
            Outcome::Network,
            FatalHint::None,
        );
        check(ureq::Error::HostNotFound, Outcome::Network, FatalHint::None);
        check(
            ureq::Error::BadUri("x".into()),
            Outcome::Fatal,
            FatalHint::None,
        );
    }

    #[track_caller]
    fn check_url(url: &str, want: Result<&str, &str>) {
        urls::check_row(check_base, url, want);
    }

    #[test]
    #[rustfmt::skip]
    fn base_urls_and_the_loopback_rule_on_the_host_connected() {
        check_url("https://api.mypurecloud.ie/", Ok("https://api.mypurecloud.ie"));
        check_url("https://gw.example.com:8443/genesys", Ok("https://gw.example.com:8443/genesys"));
        check_url("HTTPS://api.mypurecloud.ie", Ok("HTTPS://api.mypurecloud.ie"));
        check_url("http://127.0.0.1:1", Ok("http://127.0.0.1:1"));
        check_url("http://localhost", Ok("http://localhost"));
        check_url("http://LocalHost:8080", Ok("http://LocalHost:8080"));
        check_url("http://[::1]:8080/x", Ok("http://[::1]:8080/x"));
        check_url("http://127.8.0.1", Ok("http://127.8.0.1"));
        check_url("http://10.0.0.1", Err("only to loopback"));
        check_url("http://localhost.evil.com", Err("only to loopback"));
        check_url("http://127.0.0.1.nip.io", Err("only to loopback"));
        check_url("http://[::2]", Err("only to loopback"));
        check_url("http://host?@127.0.0.1", Err("query"));
        check_url("http://host#@127.0.0.1", Err("fragment"));
        check_url("http://host/?@127.0.0.1", Err("query"));
        check_url("http://host\\@127.0.0.1", Err("backslash"));
        check_url("http://user@127.0.0.1", Err("user name"));
        check_url("http://127.0.0.1@host", Err("user name"));
        check_url("http://host%40127.0.0.1", Err("neither a name nor an address"));
    }

    /// `http://host?@127.0.0.1` connects to `host`, not to the loopback address after the `@`:
    /// the client's own parse, with no help from the written-form rules, names the host that
    /// is connected and refuses the query, the fragment and a user name.
    #[test]
    fn base_url_with_query_or_fragment_before_at_sends_the_secret_to_another_host() {
        for url in [
            "http://host?@127.0.0.1",
            "http://host/?@127.0.0.1",
            "http://host#@127.0.0.1",
            "http://host/#@127.0.0.1",
            "http://user@127.0.0.1",
            "http://user:pw@127.0.0.1/",
        ] {
            assert!(origin("--login-base", url).is_err(), "{url}");
        }
        let at = |url: &str| origin("f", url).map(|o| (o.https, o.host, o.port));
        assert_eq!(
            at("http://127.0.0.1:8080/a"),
            Ok((false, "127.0.0.1".into(), 8080))
        );
        assert_eq!(at("http://[::1]"), Ok((false, "[::1]".into(), 80)));
        assert_eq!(
            at("https://api.example.com"),
            Ok((true, "api.example.com".into(), 443))
        );
        assert_eq!(at("http://host/@127.0.0.1"), Ok((false, "host".into(), 80)));
        assert!(check_base("f", "http://host/@127.0.0.1").is_err());
    }

    #[test]
    fn a_loopback_login_never_takes_the_api_proxy() {
        let env = |name: &str| (name == "HTTPS_PROXY").then(|| "http://u:pw@p:3128".to_string());
        let got = routes_of("https://api.example.com", "http://127.0.0.1:9", &env);
        assert!(matches!(&got.api, Route::Via(p) if p.shown() == "http://p:3128"));
        assert_eq!(got.login, Route::Direct);
        let got = routes_of("https://api.example.com", "https://login.example.com", &env);
        assert!(matches!(got.login, Route::Via(_)));
        let env = |name: &str| (name == "HTTPS_PROXY").then(|| "socks5://p".to_string());
        let err = routes("https://127.0.0.1:9", "http://127.0.0.1:9", &env).unwrap_err();
        assert!(err.starts_with("HTTPS_PROXY is not a proxy URL"), "{err}");
    }

    fn routes_of(api: &str, login: &str, env: &dyn Fn(&str) -> Option<String>) -> Routes {
        routes(api, login, env).unwrap()
    }

    #[test]
    #[rustfmt::skip]
    fn connect_replies() {
        let check = |reply: &str, want: Option<u16>| assert_eq!(connect_status(reply.as_bytes()), want, "{reply:?}");
        check("HTTP/1.1 200 Connection established\r\n\r\n", Some(200));
        check("HTTP/1.0 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n", Some(407));
        check("HTTP/1.1 502\r\n\r\n", Some(502));
        check("HTTP/2 200\r\n\r\n", None);
        check("SSH-2.0-OpenSSH\r\n\r\n", None);
        check("HTTP/1.1 2000 x\r\n\r\n", None);
        check("HTTP/1.1 +20 x\r\n\r\n", None);
        check("", None);
    }

    #[test]
    fn proxy_refusals_are_classified_by_type() {
        let check = |e: ureq::Error, outcome: Outcome, hint: FatalHint| {
            let (got_outcome, got_hint, _) = classify(&e);
            assert_eq!((got_outcome, got_hint), (outcome, hint), "{e:?}");
        };
        let refused = |status| ureq::Error::Other(Box::new(ProxyRefused { status }));
        check(refused(407), Outcome::Fatal, FatalHint::ProxyAuth);
        check(refused(403), Outcome::Fatal, FatalHint::None);
        check(refused(502), Outcome::Network, FatalHint::None);
        check(refused(503), Outcome::Network, FatalHint::None);
        // The text never decides: ureq's own CONNECT failure names a 407 only in words.
        check(
            ureq::Error::ConnectProxyFailed("proxy server responded 407/407".into()),
            Outcome::Network,
            FatalHint::None,
        );
        check(
            ureq::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)),
            Outcome::Network,
            FatalHint::None,
        );
    }

    #[test]
    fn a_2xx_must_be_an_object_that_passes_its_check() {
        let check = |p: &api::DetailsPage| p.check(true);
        let parse = |body: &[u8]| parse_checked(Method::Post, &reply(200, false, body), &check);
        assert!(parse(br#"{"totalHits":0}"#).is_ok());
        assert!(parse(br#"{"conversations":[{"conversationId":"a","conversationStart":"2026-11-01T00:00:00Z"}],"totalHits":1}"#).is_ok());
        for (body, why) in [
            (&b"[]"[..], "not a JSON object"),
            (b"  \n", "empty body"),
            (b"", "empty body"),
            (br#"{"totalHits":3}"#, "carries no conversations"),
            (
                br#"{"conversations":[{"conversationStart":"2026-11-01T00:00:00Z"}]}"#,
                "no conversationId",
            ),
            (
                br#"{"conversations":[{"conversationId":"a"}]}"#,
                "conversationStart",
            ),
            (br#"{"conversations":[7]}"#, "not of the expected shape"),
            (br#"{"conversations":[{"conversationId":"a","conversationStart":"2026-11-01T00:00:00Z","participants":1}]}"#, "not of the expected shape"),
            (br#"{"conversations":{"a":1}}"#, "unreadable JSON"),
        ] {
            let err = parse(body).unwrap_err();
            assert!(err.contains(why), "{body:?}: {err}");
        }
        let html = parse_checked(Method::Post, &reply(200, true, b"{}"), &check);
        assert_eq!(html.unwrap_err(), "an HTML page");
    }
}
