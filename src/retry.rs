//! The retry policy: one pure function that decides, for every failed exchange, whether to wait
//! and retry, refresh the token and replay, or give up.
//!
//! Nothing here touches the network, the clock or a random source: the attempt counters, the
//! time already spent waiting and the jitter come in as plain values, so the whole policy is
//! tested as a table. The single loop that sleeps and re-sends lives in `http.rs`.
//!
//! What counts as spurious (worth a retry) follows cargo's `retry.rs` and the official Genesys
//! CLI: 429, the gateway-ish 5xx, and transport failures (refused, reset, timed out, a body cut
//! short). A 2xx whose JSON does not parse is treated as a transport failure too: behind a load
//! balancer it is nearly always a truncated or substituted body, not an API change.

use std::time::Duration;

/// Where a request was going; the token endpoint rejects bad credentials with a 4xx that must
/// never be retried, while the API answers 401 for a token that merely expired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Token,
    Api,
}

/// How an exchange went wrong, as far as the policy needs to know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A complete response with a non-success status. `retry_after` is the parsed header.
    Status {
        status: u16,
        retry_after: Option<Duration>,
    },
    /// A success status whose body did not parse (truncated, an HTML page, garbage).
    BadBody,
    /// No usable response: connection refused or reset, timeout, body cut short, DNS.
    Network,
    /// A failure no retry can fix, such as a TLS certificate the machine does not trust.
    Fatal,
}

/// Why a retry happened, for the log and the summary's per-cause counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Cause {
    RateLimited,
    ServerError,
    Network,
    BadBody,
    TokenRejected,
}

impl Cause {
    pub const ALL: [Cause; 5] = [
        Cause::RateLimited,
        Cause::ServerError,
        Cause::Network,
        Cause::BadBody,
        Cause::TokenRejected,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Cause::RateLimited => "429",
            Cause::ServerError => "5xx",
            Cause::Network => "network",
            Cause::BadBody => "bad body",
            Cause::TokenRejected => "401",
        }
    }
}

/// The knobs of the policy, filled from the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Retries allowed for one request (not counting token replays).
    pub max_retries: u32,
    /// First backoff step; step n is `initial_backoff * 2^n`, capped.
    pub initial_backoff: Duration,
    /// The largest single backoff (before jitter).
    pub max_backoff: Duration,
    /// The most the whole run may spend sleeping between retries.
    pub max_total_wait: Duration,
    /// Consecutive 401s on one request that are each answered by a token refresh. One more
    /// than this is a real authentication problem, not an expired token.
    pub max_token_replays: u32,
}

/// Retries of one request unless `--max-retries` says otherwise.
pub const DEFAULT_MAX_RETRIES: u32 = 10;
/// The first backoff step unless `--backoff` says otherwise.
pub const DEFAULT_BACKOFF: Duration = Duration::from_secs(1);
/// The run's wait budget unless `--max-wait` says otherwise: long enough to ride out a rolling
/// deploy or a minute of rate limiting many times over, short enough that a nightly job fails
/// before the next one starts.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(30 * 60);
/// The longest `Retry-After` taken as given; a longer one is read as this, which any budget
/// short of it refuses at once.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(86_400);

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            max_retries: DEFAULT_MAX_RETRIES,
            initial_backoff: DEFAULT_BACKOFF,
            // The official CLI caps at 60 s; past that a server is down rather than busy.
            max_backoff: Duration::from_secs(60),
            max_total_wait: DEFAULT_MAX_WAIT,
            // Random 401s do happen (a token revoked by an admin, a node that lost its session
            // cache); three fresh tokens refused in a row is not chance.
            max_token_replays: 3,
        }
    }
}

/// What has happened to the request so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Attempt {
    /// Retries already made for this request.
    pub retries: u32,
    /// Token refreshes already made for this request because of a 401.
    pub token_replays: u32,
    /// Sleep already spent by the whole run.
    pub waited: Duration,
}

/// Why the policy gave up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GiveUp {
    /// The credentials or the token are refused for good.
    Auth,
    /// 403: the OAuth client's role lacks a permission.
    Forbidden,
    /// Any other 4xx: the request itself is wrong; repeating it cannot help.
    Client(u16),
    /// A failure that no retry can fix (TLS trust, a malformed address).
    Fatal,
    /// The per-request retry count ran out.
    RetriesExhausted(Cause),
    /// Waiting longer would exceed the run's wait budget; `wait` is what the next retry needed.
    BudgetExhausted { cause: Cause, wait: Duration },
}

/// The policy's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Retry { wait: Duration, cause: Cause },
    RefreshToken,
    GiveUp(GiveUp),
}

/// Decides what to do after `outcome`. `jitter` is a uniform draw from `[0, 1)`.
pub fn decide(
    policy: &Policy,
    endpoint: Endpoint,
    attempt: &Attempt,
    outcome: &Outcome,
    jitter: f64,
) -> Decision {
    let (cause, retry_after) = match *outcome {
        Outcome::Fatal => return Decision::GiveUp(GiveUp::Fatal),
        Outcome::Network => (Cause::Network, None),
        Outcome::BadBody => (Cause::BadBody, None),
        Outcome::Status {
            status,
            retry_after,
        } => match (endpoint, status) {
            (_, 429) => (Cause::RateLimited, retry_after),
            // A request timeout and the gateway family are transient; 501 and 505 are not.
            (_, 408) => (Cause::Network, None),
            (_, 500..=599) if status != 501 && status != 505 => {
                // 503 may carry Retry-After as well.
                (Cause::ServerError, retry_after)
            }
            (Endpoint::Token, 400..=499) => return Decision::GiveUp(GiveUp::Auth),
            (Endpoint::Api, 401) => {
                return if attempt.token_replays < policy.max_token_replays {
                    Decision::RefreshToken
                } else {
                    Decision::GiveUp(GiveUp::Auth)
                };
            }
            (Endpoint::Api, 403) => return Decision::GiveUp(GiveUp::Forbidden),
            _ => return Decision::GiveUp(GiveUp::Client(status)),
        },
    };
    if attempt.retries >= policy.max_retries {
        return Decision::GiveUp(GiveUp::RetriesExhausted(cause));
    }
    let wait = match retry_after {
        Some(wait) => wait,
        None => backoff(policy, attempt.retries, jitter),
    };
    let left = policy.max_total_wait.saturating_sub(attempt.waited);
    if wait > left {
        return Decision::GiveUp(GiveUp::BudgetExhausted { cause, wait });
    }
    Decision::Retry { wait, cause }
}

/// Exponential backoff with full jitter: a uniform wait in `[0, min(max, initial * 2^n))`.
/// Full jitter spreads retries of many clients best (AWS architecture blog, "Exponential
/// Backoff And Jitter"); the run's wait budget bounds the total either way.
pub fn backoff(policy: &Policy, retries: u32, jitter: f64) -> Duration {
    let factor = 2u32.saturating_pow(retries.min(30));
    let ceiling = policy
        .initial_backoff
        .saturating_mul(factor)
        .min(policy.max_backoff);
    // Out-of-range jitter is clamped rather than trusted; NaN counts as no wait.
    let jitter = if jitter.is_nan() {
        0.0
    } else {
        jitter.clamp(0.0, 1.0)
    };
    ceiling.mul_f64(jitter)
}

/// Parses a `Retry-After` value: delay-seconds or an HTTP-date (RFC 9110 §10.2.3). A date in
/// the past means "now"; anything longer than `MAX_RETRY_AFTER` is read as that. Garbage yields
/// `None`, and the caller falls back to backoff.
pub fn parse_retry_after(value: &str, now: time::OffsetDateTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Digits only: the one failure left is a number past u64, which is past the maximum.
        let secs = value.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER));
    }
    let at = parse_http_date(value)?;
    // Both lie within the calendar's ±9999 years, so the difference cannot overflow; a negative
    // one (a date in the past) does not convert and means "now".
    let delta = Duration::try_from(at - now).unwrap_or(Duration::ZERO);
    Some(delta.min(MAX_RETRY_AFTER))
}

/// Parses an HTTP-date in its preferred format (IMF-fixdate, RFC 9110 §5.6.7), as
/// `Retry-After` and `Date` carry it: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn parse_http_date(value: &str) -> Option<time::OffsetDateTime> {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::PrimitiveDateTime::parse(value.trim(), format)
        .ok()
        .map(time::PrimitiveDateTime::assume_utc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prop;
    use time::macros::datetime;

    fn policy() -> Policy {
        Policy {
            max_retries: 3,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
            max_total_wait: Duration::from_secs(10),
            max_token_replays: 2,
        }
    }

    fn status(status: u16) -> Outcome {
        Outcome::Status {
            status,
            retry_after: None,
        }
    }

    /// A status with a `Retry-After` of `secs`.
    fn after(status: u16, secs: u64) -> Outcome {
        Outcome::Status {
            status,
            retry_after: Some(Duration::from_secs(secs)),
        }
    }

    fn attempt(retries: u32, token_replays: u32, waited_ms: u64) -> Attempt {
        Attempt {
            retries,
            token_replays,
            waited: Duration::from_millis(waited_ms),
        }
    }

    fn retry(ms: u64, cause: Cause) -> Decision {
        Decision::Retry {
            wait: Duration::from_millis(ms),
            cause,
        }
    }

    fn give_up(why: GiveUp) -> Decision {
        Decision::GiveUp(why)
    }

    fn over_budget(cause: Cause, ms: u64) -> Decision {
        give_up(GiveUp::BudgetExhausted {
            cause,
            wait: Duration::from_millis(ms),
        })
    }

    /// One row of the decision table, under `policy()`.
    #[track_caller]
    fn check(endpoint: Endpoint, attempt: Attempt, outcome: Outcome, jitter: f64, want: Decision) {
        let got = decide(&policy(), endpoint, &attempt, &outcome, jitter);
        assert_eq!(
            got, want,
            "{endpoint:?} {attempt:?} {outcome:?} jitter {jitter}"
        );
    }

    #[test]
    #[rustfmt::skip]
    fn decision_table() {
        use Cause::*;
        use Endpoint::{Api, Token};
        use GiveUp::{Auth, Client, Fatal, Forbidden, RetriesExhausted};
        // 429 honours Retry-After exactly, jitter or not.
        check(Api, attempt(0, 0, 0), after(429, 2), 0.5, retry(2000, RateLimited));
        check(Token, attempt(0, 0, 0), after(429, 1), 0.9, retry(1000, RateLimited));
        check(Api, attempt(0, 0, 0), after(503, 3), 0.5, retry(3000, ServerError));
        // 429 without Retry-After: full-jitter backoff, 100 ms * 2^n.
        check(Api, attempt(0, 0, 0), status(429), 0.5, retry(50, RateLimited));
        check(Api, attempt(2, 0, 0), status(429), 0.5, retry(200, RateLimited));
        // The backoff ceiling caps growth before jitter.
        check(Api, attempt(2, 0, 0), status(503), 0.99, retry(396, ServerError));
        check(Api, attempt(30, 0, 0), status(503), 1.0, give_up(RetriesExhausted(ServerError)));
        // Gateway errors, timeouts and broken bodies are retried.
        check(Api, attempt(0, 0, 0), status(500), 0.0, retry(0, ServerError));
        check(Api, attempt(1, 0, 0), status(502), 1.0, retry(200, ServerError));
        check(Api, attempt(0, 0, 0), status(504), 0.5, retry(50, ServerError));
        check(Api, attempt(0, 0, 0), status(408), 0.5, retry(50, Network));
        check(Api, attempt(0, 0, 0), Outcome::Network, 0.5, retry(50, Network));
        check(Api, attempt(0, 0, 0), Outcome::BadBody, 0.5, retry(50, BadBody));
        check(Token, attempt(0, 0, 0), status(503), 0.5, retry(50, ServerError));
        check(Token, attempt(0, 0, 0), Outcome::Network, 0.5, retry(50, Network));
        // 501 and 505 will not heal.
        check(Api, attempt(0, 0, 0), status(501), 0.5, give_up(Client(501)));
        check(Api, attempt(0, 0, 0), status(505), 0.5, give_up(Client(505)));
        // The retry count runs out.
        check(Api, attempt(3, 0, 0), status(502), 0.5, give_up(RetriesExhausted(ServerError)));
        check(Api, attempt(3, 0, 0), Outcome::Network, 0.5, give_up(RetriesExhausted(Network)));
        // A wait beyond the remaining budget gives up at once instead of sleeping.
        check(Api, attempt(0, 0, 9_000), after(429, 2), 0.5, over_budget(RateLimited, 2000));
        check(Api, attempt(0, 0, 8_000), after(429, 2), 0.5, retry(2000, RateLimited));
        check(Api, attempt(0, 0, 9_990), status(502), 1.0, over_budget(ServerError, 100));
        check(Api, attempt(0, 0, 99_000), Outcome::Network, 0.0, retry(0, Network));
        // 401 from the API: refresh and replay, a bounded number of times.
        check(Api, attempt(0, 0, 0), status(401), 0.5, Decision::RefreshToken);
        check(Api, attempt(2, 1, 0), status(401), 0.5, Decision::RefreshToken);
        check(Api, attempt(0, 2, 0), status(401), 0.5, give_up(Auth));
        // The token endpoint refusing the client is final, whatever the 4xx.
        check(Token, attempt(0, 0, 0), status(400), 0.5, give_up(Auth));
        check(Token, attempt(0, 0, 0), status(401), 0.5, give_up(Auth));
        check(Token, attempt(0, 0, 0), status(403), 0.5, give_up(Auth));
        // Permissions and bad requests stop the run.
        check(Api, attempt(0, 0, 0), status(403), 0.5, give_up(Forbidden));
        check(Api, attempt(0, 0, 0), status(400), 0.5, give_up(Client(400)));
        check(Api, attempt(0, 0, 0), status(404), 0.5, give_up(Client(404)));
        check(Api, attempt(0, 0, 0), Outcome::Fatal, 0.5, give_up(Fatal));
    }

    #[test]
    fn backoff_grows_then_caps_and_jitter_spans_the_range() {
        let p = policy();
        let ms = |n, j| backoff(&p, n, j).as_millis();
        assert_eq!(
            [ms(0, 1.0), ms(1, 1.0), ms(2, 1.0), ms(3, 1.0)],
            [100, 200, 400, 800]
        );
        assert_eq!(ms(4, 1.0), 1000);
        assert_eq!(ms(40, 1.0), 1000);
        assert_eq!(ms(3, 0.0), 0);
        assert_eq!(ms(3, 0.25), 200);
        // Out-of-range jitter is clamped rather than trusted.
        assert_eq!(ms(0, 7.0), 100);
        assert_eq!(ms(0, -1.0), 0);
        assert_eq!(ms(0, f64::NAN), 0);
    }

    #[track_caller]
    fn check_retry_after(value: &str, want: Option<u64>) {
        let now = datetime!(2026-11-26 12:00:00 UTC);
        let got = parse_retry_after(value, now).map(|d| d.as_secs());
        assert_eq!(got, want, "{value:?}");
    }

    #[test]
    fn retry_after_values() {
        check_retry_after("1", Some(1));
        check_retry_after(" 120 ", Some(120));
        check_retry_after("0", Some(0));
        check_retry_after("Thu, 26 Nov 2026 12:00:30 GMT", Some(30));
        check_retry_after("Thu, 26 Nov 2026 11:00:00 GMT", Some(0));
        check_retry_after("-1", None);
        check_retry_after("+1", None);
        check_retry_after("1.5", None);
        check_retry_after("soon", None);
        check_retry_after("", None);
        check_retry_after("Thu, 26 Nov 2026 12:00:30 PST", None);
    }

    /// `Retry-After: 1000000000000` overflowed the clock it was added to and aborted the run.
    #[test]
    fn huge_retry_after_is_clamped_instead_of_overflowing() {
        let day = Some(MAX_RETRY_AFTER.as_secs());
        check_retry_after("1000000000000", day);
        check_retry_after("18446744073709551615", day);
        check_retry_after("99999999999999999999999999999", day);
        check_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", day);
        check_retry_after("Mon, 01 Jan 0001 00:00:00 GMT", Some(0));
        // Whatever the budget, the policy then gives up rather than sleep for ever.
        let huge = parse_retry_after("1000000000000", datetime!(2026-11-26 12:00:00 UTC));
        let outcome = Outcome::Status {
            status: 429,
            retry_after: huge,
        };
        let got = decide(
            &Policy::default(),
            Endpoint::Api,
            &Attempt::default(),
            &outcome,
            0.5,
        );
        let want = over_budget(Cause::RateLimited, MAX_RETRY_AFTER.as_millis() as u64);
        assert_eq!(got, want);
    }

    #[test]
    fn prop_retry_after_never_panics_and_stays_in_range() {
        let now = datetime!(2026-11-26 12:00:00 UTC);
        prop::run(|rng| {
            let value = match rng.below(3) {
                0 => rng.number_text(),
                1 => format!(
                    "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
                    rng.pick(&["Mon", "Thu", "Xyz"]),
                    rng.below(40),
                    rng.pick(&["Jan", "Nov", "Feb", "Foo"]),
                    rng.pick(&["0000", "0001", "2026", "9999", "-9999", "99999", "1970"]),
                    rng.below(30),
                    rng.below(70),
                    rng.below(70),
                ),
                _ => rng.any_text(),
            };
            if let Some(wait) = parse_retry_after(&value, now) {
                assert!(wait <= MAX_RETRY_AFTER, "{value:?}: {wait:?}");
            }
        });
    }

    #[test]
    fn prop_decide_never_panics_and_never_waits_past_the_budget() {
        prop::run(|rng| {
            let policy = Policy {
                max_retries: rng.below(1001) as u32,
                initial_backoff: Duration::from_millis(rng.below(600_001)),
                max_backoff: Duration::from_secs(60),
                max_total_wait: Duration::from_secs(rng.below(7 * 86_400 + 1)),
                max_token_replays: 3,
            };
            let attempt = Attempt {
                retries: rng.huge() as u32,
                token_replays: rng.below(5) as u32,
                waited: Duration::from_secs(rng.huge()),
            };
            let outcome = match rng.below(4) {
                0 => Outcome::Network,
                1 => Outcome::BadBody,
                2 => Outcome::Fatal,
                _ => Outcome::Status {
                    status: rng.below(1000) as u16,
                    retry_after: (rng.below(2) == 0)
                        .then(|| Duration::from_secs(rng.huge()).min(MAX_RETRY_AFTER)),
                },
            };
            let jitter = *rng.pick(&[0.0, 0.5, 1.0, -1.0, 7.0, f64::NAN, f64::INFINITY]);
            let endpoint = *rng.pick(&[Endpoint::Api, Endpoint::Token]);
            if let Decision::Retry { wait, .. } =
                decide(&policy, endpoint, &attempt, &outcome, jitter)
            {
                let left = policy.max_total_wait.saturating_sub(attempt.waited);
                assert!(wait <= left, "{attempt:?} {wait:?}");
            }
        });
    }
}
