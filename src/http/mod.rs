//! The HTTP client: the only module tree that uses `ureq`, and the one loop that sleeps and
//! retries.
//!
//! `Client::call` (`call.rs`) sends a request, turns whatever happened into a
//! `retry::Outcome`, and asks `retry::decide` what next: return the checked body, sleep and
//! resend, fetch a new token and replay the same request, or give up with an exit code. Before
//! every API request the token's expiry is checked against the skew margin
//! (`auth::Token::is_fresh`); the token exchange goes through the same loop, so a 429 or 503
//! from the login host is survived like any other.
//!
//! A 2xx counts only once its body is a JSON object of the expected shape and passes the
//! caller's check; anything else is retried like a truncated body, never taken as "no data".
//! A refusal becomes an `api::Refusal` (data, rendered only for the user). Every text that came
//! from a server is scrubbed of the client secret and the tokens before it is shown
//! (`scrub.rs`).
//!
//! The parts: `agent.rs` (base URLs as the client parses them, routes, TLS, one agent per
//! host, sending one request and reading its reply within the body caps), `gate.rs` (the
//! pacer's gate and the token slot: no lock is held across the network or a sleep),
//! `tunnel.rs` (the CONNECT step through a proxy), `spool.rs` (job-result bodies in unlinked
//! temporary files), `scrub.rs` (secrets out of every server text), `call.rs` (the retry
//! loop). This module holds the `Client` and its public calls; nothing outside `http/`
//! imports `ureq`.

mod agent;
mod call;
mod gate;
mod resolve;
mod scrub;
mod spare;
mod spool;
mod tunnel;

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Result;
use serde::de::DeserializeOwned;
use serde::Serialize;
use time::OffsetDateTime;

use crate::api::{self, TokenResponse};
use crate::auth::{self, Credentials, Token};
use crate::pace::RateHeaders;
use crate::proxy::Route;
use crate::report::{HttpStats, Log};
use crate::retry::{Attempt, Decision, Endpoint, Policy};

pub use agent::{check_base, routes, Routes};
pub use call::pause;
pub use spare::Recycled;
pub use spool::Held;

use agent::{agent, load_roots, Reply};
use call::parse_checked;
use gate::{Gate, Tokens};
use scrub::Redactor;
use spool::Receive;

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
    /// The current token and how many were obtained; one caller fetches a new one while the
    /// others wait for it, and no lock is held while it is fetched.
    tokens: Tokens,
    /// Counters, the jitter draw and the secrets to scrub: short critical sections only.
    shared: Mutex<Shared>,
    /// When the next API request may leave.
    gate: Gate,
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
            tokens: Tokens::default(),
            shared: Mutex::new(shared),
            gate: Gate::new(settings.parallel, Instant::now()),
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
        self.tokens.lifetime()
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
            let failed = self.transport_failure(endpoint, &e);
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

    /// `GET path` with a body of any size: held in memory while small, spooled to an unlinked
    /// temporary file beyond (`Held`); the reply counts once `check`, reading it, accepts it,
    /// and what `check` returns comes back with it (a spool rewound).
    pub fn get_spooled<C>(
        &self,
        path: &str,
        check: &dyn Fn(&mut Held) -> Result<C, String>,
    ) -> Result<(Held, C)> {
        let accept = |reply: Reply| {
            if reply.is_html {
                return Err("an HTML page".to_string());
            }
            let mut held = match reply.spool {
                Some(mut spool) => {
                    spool.rewind().map_err(|e| e.to_string())?;
                    Held::Spooled(spool)
                }
                None => Held::Text(String::from_utf8(reply.body).map_err(|e| {
                    let at = e.utf8_error().valid_up_to();
                    format!("unreadable JSON (not UTF-8 at byte {at})")
                })?),
            };
            let checked = check(&mut held)?;
            if let Held::Spooled(spool) = &mut held {
                spool.rewind().map_err(|e| e.to_string())?;
            }
            Ok((held, checked))
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

    /// `POST path` with a JSON body; the reply counts once `read` makes something of its body
    /// (an HTML page never counts).
    pub fn post_read<T>(
        &self,
        path: &str,
        body: &impl Serialize,
        read: &dyn Fn(Vec<u8>) -> Result<T, String>,
    ) -> Result<T> {
        let bytes = serde_json::to_vec(body)?;
        let body = Body {
            content_type: "application/json",
            bytes: &bytes,
        };
        let accept = |reply: Reply| match reply.is_html {
            true => Err("an HTML page".to_string()),
            false => read(reply.body),
        };
        self.call(
            Endpoint::Api,
            Method::Post,
            path,
            Some(body),
            Receive::InMemory,
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
        let read = |bytes: Vec<u8>| {
            let value: T = api::parse_object(&bytes)?;
            check(&value).map(|()| value)
        };
        self.post_read(path, body, &read)
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

    /// The `Authorization` value for the next API request and its token's generation,
    /// refreshing the token first when it is missing or about to expire.
    fn bearer(&self) -> Result<(String, u64)> {
        self.tokens.bearer(&Instant::now, &|| self.fetch_token())
    }

    /// A new token from the login host, through the retry loop; counted, and added to the
    /// secrets scrubbed from every server text.
    fn fetch_token(&self) -> Result<Token> {
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
        Ok(Token::new(
            reply.access_token,
            auth::lifetime(reply.expires_in),
            Instant::now(),
        ))
    }
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

    /// A client of loopback bases that nothing listens on, for the tests of every part.
    pub(super) fn client() -> Client {
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

    /// A reply of `status` with `body`, as `agent::read_body` leaves it.
    pub(super) fn reply(status: u16, is_html: bool, body: &[u8]) -> Reply {
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
}
