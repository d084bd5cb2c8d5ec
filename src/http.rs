//! The HTTP client: the only module that uses `ureq`, and the one loop that sleeps and retries.
//!
//! `Client::call` sends a request, turns whatever happened into a `retry::Outcome`, and asks
//! `retry::decide` what next: return the parsed body, sleep and resend, fetch a new token and
//! replay the same request, or give up with an exit code. Before every API request the token's
//! expiry is checked against the skew margin (`auth::Token::is_fresh`); the token exchange goes
//! through the same loop, so a 429 or 503 from the login host is survived like any other.
//!
//! Statuses are data here, not errors (`http_status_as_error(false)`), so 429 and 5xx reach
//! the policy with their headers. Redirects are not followed: a redirect would carry the
//! credentials to a host the user did not name.

use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;
use time::OffsetDateTime;

use crate::api::{self, AuthErrorBody, ErrorBody, TokenResponse};
use crate::auth::{Credentials, Token};
use crate::exit::{failure, usage, usage_context, Code};
use crate::report::{HttpStats, Log};
use crate::retry::{self, Attempt, Decision, Endpoint, GiveUp, Outcome, Policy};
use crate::{times::format_duration, urls::is_loopback_url};

/// A success body larger than this is refused (a details page of 100 conversations is a few
/// hundred kilobytes).
const MAX_BODY_BYTES: u64 = 256 * 1024 * 1024;
/// Error bodies are read only this far: enough for a message, not for an HTML page.
const MAX_ERROR_BODY_BYTES: u64 = 64 * 1024;
/// Connecting should take seconds; a longer wait means the host is unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Settings {
    pub api_base: String,
    pub login_base: String,
    pub timeout: Duration,
    pub ca_file: Option<PathBuf>,
    pub policy: Policy,
}

pub struct Client {
    agent: ureq::Agent,
    api_base: String,
    login_base: String,
    credentials: Credentials,
    token: Option<Token>,
    policy: Policy,
    jitter: Jitter,
    log: Log,
    pub stats: HttpStats,
}

/// A complete response.
struct Reply {
    status: u16,
    retry_after: Option<String>,
    correlation_id: Option<String>,
    is_html: bool,
    body: Vec<u8>,
}

impl Client {
    pub fn new(settings: Settings, credentials: Credentials, log: Log) -> Result<Client> {
        let mut tls = ureq::tls::TlsConfig::builder();
        if let Some(path) = &settings.ca_file {
            tls = tls.root_certs(load_roots(path)?);
        }
        // Loopback (a simulator, a local gateway) never goes through the corporate proxy.
        let proxy = if is_loopback_url(&settings.api_base) && is_loopback_url(&settings.login_base)
        {
            None
        } else {
            ureq::Proxy::try_from_env()
        };
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(settings.timeout))
            .timeout_connect(Some(CONNECT_TIMEOUT.min(settings.timeout)))
            .user_agent(format!("genesys-export/{}", env!("CARGO_PKG_VERSION")))
            .tls_config(tls.build())
            .proxy(proxy)
            .build();
        Ok(Client {
            agent: config.new_agent(),
            api_base: settings.api_base,
            login_base: settings.login_base,
            credentials,
            token: None,
            policy: settings.policy,
            jitter: Jitter::seeded(),
            log,
            stats: HttpStats::default(),
        })
    }

    /// Obtains the first token, so bad credentials fail before any output exists.
    pub fn authenticate(&mut self) -> Result<()> {
        self.bearer().map(drop)
    }

    pub fn get_json<T: DeserializeOwned>(&mut self, path: &str) -> Result<T> {
        self.call(Endpoint::Api, "GET", path, None)
    }

    pub fn delete(&mut self, path: &str) -> Result<()> {
        self.call::<serde::de::IgnoredAny>(Endpoint::Api, "DELETE", path, None)
            .map(drop)
    }

    pub fn post_json<T: DeserializeOwned>(
        &mut self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T> {
        let body = serde_json::to_vec(body)?;
        self.call(Endpoint::Api, "POST", path, Some(&body))
    }

    /// The `Authorization` value for the next API request, refreshing the token first when it
    /// is missing or about to expire.
    fn bearer(&mut self) -> Result<String> {
        let now = Instant::now();
        if let Some(token) = self.token.as_ref().filter(|t| t.is_fresh(now)) {
            return Ok(token.bearer_authorization());
        }
        let form = b"grant_type=client_credentials";
        let reply: TokenResponse =
            self.call(Endpoint::Token, "POST", api::TOKEN_PATH, Some(form))?;
        self.stats.tokens += 1;
        let token = Token::new(
            reply.access_token,
            Duration::from_secs(reply.expires_in),
            Instant::now(),
        );
        let header = token.bearer_authorization();
        self.token = Some(token);
        Ok(header)
    }

    /// Sends one request under the retry policy and parses its JSON body.
    fn call<T: DeserializeOwned>(
        &mut self,
        endpoint: Endpoint,
        method: &'static str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<T> {
        let url = format!("{}{path}", self.base(endpoint));
        let mut attempt = Attempt::default();
        loop {
            let authorization = match endpoint {
                Endpoint::Token => self.credentials.basic_authorization(),
                Endpoint::Api => self.bearer()?,
            };
            self.stats.requests += 1;
            if endpoint == Endpoint::Token {
                self.stats.token_requests += 1;
            }
            let (outcome, problem) = match self.send(endpoint, method, &url, &authorization, body) {
                Ok(reply) if (200..300).contains(&reply.status) => {
                    // 202 and 204 may come without a body; it reads as JSON null.
                    let body: &[u8] = if reply.body.is_empty() && reply.status != 200 {
                        b"null"
                    } else {
                        &reply.body
                    };
                    match serde_json::from_slice::<T>(body) {
                        Ok(value) => return Ok(value),
                        Err(e) => (Outcome::BadBody, bad_body(&reply, &e)),
                    }
                }
                Ok(reply) => (
                    Outcome::Status {
                        status: reply.status,
                        retry_after: reply
                            .retry_after
                            .as_deref()
                            .and_then(|v| retry::parse_retry_after(v, OffsetDateTime::now_utc())),
                    },
                    describe_status(endpoint, &reply),
                ),
                Err(e) => (classify(&e), format!("{e}")),
            };
            attempt.waited = self.stats.waited;
            match retry::decide(
                &self.policy,
                endpoint,
                &attempt,
                &outcome,
                self.jitter.next(),
            ) {
                Decision::Retry { wait, cause } => {
                    attempt.retries += 1;
                    self.stats.count_retry(cause);
                    self.stats.waited += wait;
                    self.log.info(&format!(
                        "retry {}/{} of {method} {path} in {}: {problem}",
                        attempt.retries,
                        self.policy.max_retries,
                        format_duration(wait)
                    ));
                    pause(wait)?;
                }
                Decision::RefreshToken => {
                    attempt.token_replays += 1;
                    self.stats.count_retry(retry::Cause::TokenRejected);
                    self.token = None;
                    self.log.info(&format!(
                        "token refused ({problem}); fetching a new one and replaying {method} {path}"
                    ));
                }
                Decision::GiveUp(reason) => {
                    return Err(self.give_up(reason, endpoint, method, path, &problem, &attempt))
                }
            }
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
        method: &str,
        url: &str,
        authorization: &str,
        body: Option<&[u8]>,
    ) -> Result<Reply, ureq::Error> {
        let content_type = match endpoint {
            Endpoint::Token => "application/x-www-form-urlencoded",
            Endpoint::Api => "application/json",
        };
        let mut response = match (method, body) {
            ("DELETE", _) => self
                .agent
                .delete(url)
                .header("Authorization", authorization)
                .header("Accept", "application/json")
                .call()?,
            ("GET", _) => self
                .agent
                .get(url)
                .header("Authorization", authorization)
                .header("Accept", "application/json")
                .call()?,
            (_, body) => self
                .agent
                .post(url)
                .header("Authorization", authorization)
                .header("Accept", "application/json")
                .header("Content-Type", content_type)
                .send(body.unwrap_or_default())?,
        };
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let status = response.status().as_u16();
        let retry_after = header("retry-after");
        let correlation_id = header("inin-correlation-id");
        let is_html = header("content-type").is_some_and(|v| v.contains("html"));
        let limit = if (200..300).contains(&status) {
            MAX_BODY_BYTES
        } else {
            MAX_ERROR_BODY_BYTES
        };
        let body = match response.body_mut().with_config().limit(limit).read_to_vec() {
            Ok(body) => body,
            // An error page longer than we care to read is still an error page.
            Err(ureq::Error::BodyExceedsLimit(_)) if status >= 300 => Vec::new(),
            Err(e) => return Err(e),
        };
        Ok(Reply {
            status,
            retry_after,
            correlation_id,
            is_html,
            body,
        })
    }

    fn give_up(
        &self,
        reason: GiveUp,
        endpoint: Endpoint,
        method: &str,
        path: &str,
        problem: &str,
        attempt: &Attempt,
    ) -> anyhow::Error {
        let base = self.base(endpoint);
        let request = format!("{method} {base}{path}");
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
                    attempt.token_replays + 1
                ),
            ),
            GiveUp::Forbidden => failure(
                Code::Forbidden,
                format!("permission denied for {request}: {problem}"),
            ),
            GiveUp::Client(status) => anyhow::Error::new(Refused {
                status,
                detail: format!("the API refused {request}: {problem}"),
            }),
            GiveUp::Fatal => anyhow::anyhow!(
                "cannot talk to {base}: {problem}{}",
                if problem.contains("certificate") || problem.contains("Tls") || problem.contains("tls") {
                    "; if a proxy inspects TLS, pass its CA certificate with --ca-file"
                } else {
                    ""
                }
            ),
            GiveUp::RetriesExhausted(_) => failure(
                Code::GaveUp,
                format!(
                    "gave up on {request} after {} retries (--max-retries): {problem}",
                    attempt.retries
                ),
            ),
            GiveUp::BudgetExhausted { wait, .. } => {
                let left = self.policy.max_total_wait.saturating_sub(self.stats.waited);
                let at = OffsetDateTime::now_utc() + wait;
                failure(
                    Code::GaveUp,
                    format!(
                        "gave up on {request}: the next retry needs a wait of {} but only {} of the --max-wait budget is left ({problem}); try again after {}",
                        format_duration(wait),
                        format_duration(left),
                        crate::window::api_timestamp(at)
                    ),
                )
            }
        }
    }
}

/// A request the API refused for good with a 4xx (other than 401/403): the request is wrong.
#[derive(Debug)]
pub struct Refused {
    pub status: u16,
    /// One line: the request, the status, the API's code and message, the correlation id.
    pub detail: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail)
    }
}

impl std::error::Error for Refused {}

/// Sleeps before a retry, in short steps so that SIGINT/SIGTERM stop the run promptly; no
/// page is half-written while sleeping, so the saved state is exact.
pub fn pause(wait: Duration) -> Result<()> {
    const STEP: Duration = Duration::from_millis(50);
    let until = Instant::now() + wait;
    loop {
        if let Some(signal) = crate::signal::received() {
            return Err(failure(
                Code::Interrupted,
                format!(
                    "interrupted by {} while waiting to retry",
                    crate::signal::name(signal)
                ),
            ));
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        thread::sleep(left.min(STEP));
    }
}

/// Maps a transport error to the policy's view of it.
fn classify(e: &ureq::Error) -> Outcome {
    match e {
        ureq::Error::Tls(_)
        | ureq::Error::Pem(_)
        | ureq::Error::Rustls(_)
        | ureq::Error::BadUri(_)
        | ureq::Error::InvalidProxyUrl
        | ureq::Error::Http(_)
        | ureq::Error::RedirectFailed
        | ureq::Error::TooManyRedirects => Outcome::Fatal,
        _ => Outcome::Network,
    }
}

/// A one-line account of an error response: status, the API's code and message, correlation id.
fn describe_status(endpoint: Endpoint, reply: &Reply) -> String {
    let mut text = format!("HTTP {}", reply.status);
    if reply.is_html {
        text.push_str(" (an HTML error page)");
    } else if endpoint == Endpoint::Token {
        let body: AuthErrorBody = serde_json::from_slice(&reply.body).unwrap_or_default();
        if let Some(error) = body.error {
            text.push_str(&format!(" {error}"));
        }
        if let Some(d) = body.error_description.or(body.description) {
            text.push_str(&format!(" ({d})"));
        }
    } else {
        let body: ErrorBody = serde_json::from_slice(&reply.body).unwrap_or_default();
        if let Some(code) = body.code {
            text.push_str(&format!(" {code}"));
        }
        if let Some(message) = body.message {
            text.push_str(&format!(": {}", message.trim_end_matches('.')));
        }
    }
    if let Some(id) = &reply.correlation_id {
        text.push_str(&format!(" [ININ-Correlation-Id {id}]"));
    }
    text
}

fn bad_body(reply: &Reply, e: &serde_json::Error) -> String {
    let what = if reply.is_html {
        "an HTML page".to_string()
    } else {
        format!("unreadable JSON ({e})")
    };
    format!("HTTP {} with {what}", reply.status)
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

    #[test]
    fn jitter_stays_in_range() {
        let mut j = Jitter(12345);
        for _ in 0..10_000 {
            let x = j.next();
            assert!((0.0..1.0).contains(&x));
        }
    }

    #[test]
    fn error_descriptions_carry_code_message_and_correlation_id() {
        let reply = Reply {
            status: 400,
            retry_after: None,
            correlation_id: Some("abc-123".into()),
            is_html: false,
            body: br#"{"message":"Pagination may not exceed 100000 results.","code":"bad.request","status":400}"#.to_vec(),
        };
        assert_eq!(
            describe_status(Endpoint::Api, &reply),
            "HTTP 400 bad.request: Pagination may not exceed 100000 results [ININ-Correlation-Id abc-123]"
        );
        let reply = Reply {
            status: 400,
            retry_after: None,
            correlation_id: None,
            is_html: false,
            body: br#"{"error":"invalid_client","description":"authentication failed","error_description":"authentication failed"}"#.to_vec(),
        };
        assert_eq!(
            describe_status(Endpoint::Token, &reply),
            "HTTP 400 invalid_client (authentication failed)"
        );
        let reply = Reply {
            status: 502,
            retry_after: None,
            correlation_id: None,
            is_html: true,
            body: b"<html>Bad Gateway</html>".to_vec(),
        };
        assert_eq!(
            describe_status(Endpoint::Api, &reply),
            "HTTP 502 (an HTML error page)"
        );
    }
}
