//! The retry loop: one request sent under the policy, through the gate, with a fresh token,
//! its reply judged, and the policy's decision carried out.
//!
//! Every exchange, the token request's included, goes through `Client::call`; the only sleeps
//! are the policy's waits (`pause`, which a signal ends). What went wrong is kept as data
//! (`Failed`: the policy's outcome, the refusal, a hint) and rendered for the user only when
//! the policy gives up. Nothing here holds a lock while it waits.

use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;
use time::OffsetDateTime;

use super::agent::{classify, spool_failure, FatalHint, Reply, SpoolFailed};
use super::spool::{Receive, Spool};
use super::{Body, Client, Method, Seen};
use crate::api::{self, AuthErrorBody, ErrorBody, Refusal};
use crate::exit::{failure, output, Code};
use crate::pace::Feedback;
use crate::proxy::Route;
use crate::report::Event;
use crate::retry::{self, Attempt, Cause, Decision, Endpoint, GiveUp, Outcome};
use crate::times::format_duration;

impl Client {
    /// Sends one request under the retry policy and returns what `accept` makes of a 2xx.
    pub(super) fn call<T>(
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
                    self.tokens.refused(generation);
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
    pub(super) fn retry_after(
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
            let left = || {
                self.policy
                    .max_total_wait
                    .saturating_sub(self.stats().waited)
            };
            self.gate.enter(&left, &self.log)?;
        }
        let (authorization, generation) = match endpoint {
            Endpoint::Token => (self.credentials.basic_authorization(), 0),
            Endpoint::Api => match self.bearer() {
                Ok(bearer) => bearer,
                Err(e) => {
                    self.gate.leave(Feedback::default());
                    return Err(e);
                }
            },
        };
        self.count_request(endpoint);
        let sent = self.send(endpoint, method, url, &authorization, body, spool);
        if endpoint == Endpoint::Api {
            self.gate.leave(feedback(sent.as_ref().ok()));
            if let Ok(reply) = &sent {
                self.shared().seen = Some(Seen {
                    date: reply.date.clone(),
                    received: OffsetDateTime::now_utc(),
                    rate: reply.rate,
                });
            }
        }
        if let Some(failed) = sent.as_ref().err().and_then(spool_failure) {
            return Err(spool_full(method, url, failed));
        }
        Ok((sent, generation))
    }

    /// Counts a request sent, and a token request apart.
    fn count_request(&self, endpoint: Endpoint) {
        let mut shared = self.shared();
        shared.stats.requests = shared.stats.requests.saturating_add(1);
        if endpoint == Endpoint::Token {
            shared.stats.token_requests = shared.stats.token_requests.saturating_add(1);
        }
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
            Err(e) => Err(self.transport_failure(endpoint, &e)),
        }
    }

    /// A transport error as the policy and the user see it, naming the proxy when the host is
    /// reached through one (a dead proxy is the proxy's fault, not the host's).
    pub(super) fn transport_failure(&self, endpoint: Endpoint, e: &ureq::Error) -> Failed {
        let (outcome, hint, mut problem) = classify(e);
        if let Route::Via(proxy) = self.route(endpoint) {
            problem = format!(
                "{problem} (through the proxy {} from {})",
                proxy.shown(),
                proxy.variable
            );
        }
        Failed {
            outcome,
            problem: self.scrub(&problem),
            refusal: None,
            hint,
        }
    }

    /// Asks the policy what follows `outcome`, counting the retry and its wait run-wide.
    pub(super) fn decide(
        &self,
        endpoint: Endpoint,
        attempt: &mut Attempt,
        outcome: &Outcome,
    ) -> Decision {
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
    pub(super) fn route(&self, endpoint: Endpoint) -> &Route {
        match endpoint {
            Endpoint::Token => &self.routes.login,
            Endpoint::Api => &self.routes.api,
        }
    }

    /// The base URL of an endpoint's host.
    pub(super) fn base(&self, endpoint: Endpoint) -> &str {
        match endpoint {
            Endpoint::Token => &self.login_base,
            Endpoint::Api => &self.api_base,
        }
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
    pub(super) fn give_up(
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
            GiveUp::Fatal => self.fatal(endpoint, hint, &problem),
            GiveUp::RetriesExhausted(_) => failure(
                Code::GaveUp,
                format!(
                    "gave up on {request} after {} retries (--max-retries): {problem}",
                    attempt.retries
                ),
            ),
            GiveUp::BudgetExhausted { wait, .. } => self.out_of_budget(&request, wait, &problem),
        }
    }

    /// The error for a failure no retry changes: a proxy that refused its credentials, or a
    /// host that cannot be talked to, with the hint for TLS.
    fn fatal(&self, endpoint: Endpoint, hint: FatalHint, problem: &str) -> anyhow::Error {
        let base = self.base(endpoint);
        match (hint, self.route(endpoint)) {
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
        }
    }

    /// The error for a retry whose wait is more than the budget left.
    fn out_of_budget(&self, request: &str, wait: Duration, problem: &str) -> anyhow::Error {
        let left = self
            .policy
            .max_total_wait
            .saturating_sub(self.stats().waited);
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

/// The error that ends a run whose reply could not be written to its temporary file: a local
/// fault (exit 6) naming the directory, never retried.
fn spool_full(method: Method, url: &str, failed: &SpoolFailed) -> anyhow::Error {
    failure(
        Code::Output,
        format!(
            "cannot write a reply of {} {url} to a temporary file in {}: {failed}; free space there or set TMPDIR to a directory with room",
            method.name(),
            std::env::temp_dir().display(),
        ),
    )
}

/// What a reply tells the pacer: its rate-limit headers, whether it was a 429 and its
/// `Retry-After`. No reply (a transport error) tells nothing.
fn feedback(reply: Option<&Reply>) -> Feedback {
    reply.map_or_else(Feedback::default, |reply| Feedback {
        rate: reply.rate,
        rate_limited: reply.status == 429,
        retry_after: reply
            .retry_after
            .as_deref()
            .and_then(|v| retry::parse_retry_after(v, OffsetDateTime::now_utc())),
    })
}

/// Parses and checks a 2xx body. A DELETE needs no body; anything else must be a JSON object
/// that `check` accepts.
pub(super) fn parse_checked<T: DeserializeOwned>(
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

/// What went wrong with one exchange: the policy's view, the user's, and the data behind it.
pub(super) struct Failed {
    pub outcome: Outcome,
    /// One line for the log and the error.
    pub problem: String,
    pub refusal: Option<Box<Refusal>>,
    pub hint: FatalHint,
}

#[cfg(test)]
mod tests {
    use super::super::tests::{client, reply};
    use super::*;
    use crate::auth::Credentials;

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
    fn a_2xx_must_be_an_object_that_passes_its_check() {
        let parse = |body: &[u8]| {
            api::DetailsPage::read(body.to_vec(), true, crate::record::Reading::Places)
        };
        let empty = parse(br#"{"totalHits":0}"#).unwrap();
        assert_eq!(
            (empty.total_hits, empty.conversations.heads().is_empty()),
            (Some(0), true)
        );
        let record = r#"{"conversationId":"a","conversationStart":"2026-11-01T00:00:00Z"}"#;
        let page =
            parse(format!(r#"{{"conversations":[{record}],"totalHits":1}}"#).as_bytes()).unwrap();
        assert_eq!(page.total_hits, Some(1));
        let heads = page.conversations.heads();
        let raws: Vec<&str> = heads.iter().filter_map(|c| c.raw).collect();
        assert_eq!(raws, [record]);
        let ids: Vec<&str> = page
            .conversations
            .heads()
            .iter()
            .map(|c| c.conversation_id.as_ref())
            .collect();
        assert_eq!(ids, ["a"]);
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
        let check = |s: &api::JobSubmitted| s.check();
        let job = br#"{"jobId":"j-1"}"#;
        let html = parse_checked(Method::Post, &reply(200, true, job), &check);
        assert_eq!(html.unwrap_err(), "an HTML page");
        assert!(parse_checked(Method::Post, &reply(200, false, job), &check).is_ok());
    }
}
