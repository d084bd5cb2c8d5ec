//! `genesys-export check`: a server's setup checked without exporting.
//!
//! The shell (`main.rs`) resolves the hosts, connects to each, obtains a token and makes the
//! cheapest request of each permission an export needs, through the client and retry policy
//! an export uses. What happened comes here as plain data ([`Observed`]), and [`verdict`]
//! turns it into one line per check and the exit code: the code an export would end with, 0
//! when it would work. A missing queue permission or a refused jobs availability is a warning
//! (the export runs without queue names, or with `--mode query`). Pure: the server's `Date`
//! header and this machine's clock when the reply arrived are inputs, so every rule is a
//! table test.

use std::fmt;
use std::time::Duration;

use time::OffsetDateTime;

use crate::exit::{code_of, Code};
use crate::pace::{RateHeaders, ADVISORY_ALLOWED, ADVISORY_WINDOW};
use crate::retry::parse_http_date;
use crate::times::format_duration;

/// The permission the export cannot run without.
pub const DETAIL_PERMISSION: &str = "analytics:conversationDetail:view";
/// The permission behind the `queue_names` column.
pub const QUEUE_PERMISSION: &str = "routing:queue:view";
/// A clock further than this from the server's is a warning: the token's expiry and the time
/// words (`today`, `now`) are read on this machine's clock.
pub const MAX_CLOCK_OFFSET: Duration = Duration::from_secs(60);
/// Less than this share (percent) of the rate-limit window left is a warning.
const LOW_HEADROOM_PERCENT: u64 = 10;

/// How a check went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    Ok,
    Warn,
    Fail,
}

/// One line of the report: its mark, then what was checked and what was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub mark: Mark,
    pub text: String,
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = match self.mark {
            Mark::Ok => "ok",
            Mark::Warn => "warn",
            Mark::Fail => "FAIL",
        };
        write!(f, "{mark:<4} {}", self.text)
    }
}

/// How one step went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probe<T> {
    /// Not tried: a step it needs failed.
    Skipped,
    Passed(T),
    /// Failed for good, once the retry policy was done: the exit code the error carries and
    /// the error as shown (its server texts already scrubbed of secrets).
    Failed {
        code: Code,
        problem: String,
    },
}

impl<T> Probe<T> {
    /// The outcome of a step that was tried.
    pub fn of(result: anyhow::Result<T>) -> Probe<T> {
        match result {
            Ok(value) => Probe::Passed(value),
            Err(e) => Probe::Failed {
                code: code_of(&e),
                problem: format!("{e:#}"),
            },
        }
    }

    pub fn passed(&self) -> bool {
        matches!(self, Probe::Passed(_))
    }
}

/// Where the requests go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hosts {
    /// The region named by `--region` or the environment, if any.
    pub region: Option<String>,
    pub login_base: String,
    pub api_base: String,
}

/// What the last reply from the API host carried beside its body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastReply {
    /// Its `Date` header, as sent.
    pub date: Option<String>,
    /// This machine's clock when it arrived.
    pub received: OffsetDateTime,
    pub rate: Option<RateHeaders>,
}

/// Everything the shell found, step by step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    /// The hosts, or why the region names none.
    pub hosts: Result<Hosts, String>,
    pub login_host: Probe<()>,
    pub api_host: Probe<()>,
    /// The token's lifetime.
    pub token: Probe<Duration>,
    pub details: Probe<()>,
    pub queues: Probe<()>,
    pub availability: Probe<()>,
    /// None when no reply came from the API host.
    pub last_reply: Option<LastReply>,
}

impl Observed {
    /// Only the hosts known: every step still to be tried.
    pub fn new(hosts: Result<Hosts, String>) -> Observed {
        Observed {
            hosts,
            login_host: Probe::Skipped,
            api_host: Probe::Skipped,
            token: Probe::Skipped,
            details: Probe::Skipped,
            queues: Probe::Skipped,
            availability: Probe::Skipped,
            last_reply: None,
        }
    }
}

/// The lines of the report in order, and the exit code: that of the first failed check, else
/// success.
struct Report {
    lines: Vec<Line>,
    code: Option<Code>,
}

impl Report {
    fn push(&mut self, mark: Mark, text: String) {
        self.lines.push(Line { mark, text });
    }

    fn fail(&mut self, code: Code, text: String) {
        self.code.get_or_insert(code);
        self.push(Mark::Fail, text);
    }

    /// A step whose only news is that it worked or failed.
    fn step<T>(&mut self, probe: &Probe<T>, what: &str, passed: impl FnOnce(&T) -> String) {
        match probe {
            Probe::Skipped => {}
            Probe::Passed(value) => self.push(Mark::Ok, format!("{what}: {}", passed(value))),
            Probe::Failed { code, problem } => self.fail(*code, format!("{what}: {problem}")),
        }
    }
}

/// The report's lines and the exit code.
pub fn verdict(observed: &Observed) -> (Vec<Line>, Code) {
    let mut report = Report {
        lines: Vec::new(),
        code: None,
    };
    match &observed.hosts {
        Ok(hosts) => {
            let what = match &hosts.region {
                Some(region) => format!("region {region}"),
                None => "hosts".to_string(),
            };
            report.push(
                Mark::Ok,
                format!("{what}: login {}, API {}", hosts.login_base, hosts.api_base),
            );
        }
        Err(why) => report.fail(Code::Auth, format!("region: {why}")),
    }
    let reached = |_: &()| "connected".to_string();
    report.step(&observed.login_host, "login host", reached);
    report.step(&observed.api_host, "API host", reached);
    report.step(&observed.token, "token", |lifetime| {
        format!("obtained, token lifetime {}", format_duration(*lifetime))
    });
    details(&mut report, &observed.details);
    queues(&mut report, &observed.queues);
    availability(&mut report, &observed.availability);
    if let Some(reply) = &observed.last_reply {
        let (mark, text) = clock(reply.date.as_deref(), reply.received);
        report.push(mark, text);
        let (mark, text) = headroom(reply.rate);
        report.push(mark, text);
    }
    (report.lines, report.code.unwrap_or(Code::Success))
}

fn details(report: &mut Report, probe: &Probe<()>) {
    let what = format!("permission {DETAIL_PERMISSION}");
    match probe {
        Probe::Failed {
            code: Code::Forbidden,
            ..
        } => report.fail(
            Code::Forbidden,
            format!("{what}: the details query was refused (HTTP 403): the export cannot run without it; give it to the OAuth client's role"),
        ),
        _ => report.step(probe, &what, |_| {
            "a details query of one conversation over one minute answered".to_string()
        }),
    }
}

fn queues(report: &mut Report, probe: &Probe<()>) {
    let what = format!("permission {QUEUE_PERMISSION}");
    match probe {
        Probe::Failed {
            code: Code::Forbidden,
            ..
        } => report.push(
            Mark::Warn,
            format!("{what}: the queue lookup was refused (HTTP 403): the export runs, with queue_names empty; give it to the OAuth client's role for the names"),
        ),
        _ => report.step(probe, &what, |_| "a queue lookup answered".to_string()),
    }
}

fn availability(report: &mut Report, probe: &Probe<()>) {
    let what = "jobs availability";
    match probe {
        Probe::Failed {
            code: Code::Forbidden,
            ..
        } => report.push(
            Mark::Warn,
            format!("{what}: refused (HTTP 403): --mode auto and --mode jobs would stop with exit 4; export with --mode query"),
        ),
        _ => report.step(probe, what, |_| {
            "answered: --mode auto can use analytics jobs".to_string()
        }),
    }
}

/// This machine's clock against the server's `Date` header. The header has whole seconds and
/// is cut, not rounded: the server's time lies within the second after it, so the middle of
/// that second is compared.
fn clock(date: Option<&str>, received: OffsetDateTime) -> (Mark, String) {
    let Some(date) = date else {
        return (
            Mark::Warn,
            "clock: the API sent no Date header to compare this machine's clock with".to_string(),
        );
    };
    let Some(server) = parse_http_date(date) else {
        return (
            Mark::Warn,
            "clock: the API's Date header is not an HTTP date; this machine's clock is not compared".to_string(),
        );
    };
    // Both lie within the calendar's ±9999 years: the difference fits, in milliseconds too.
    let ms = (server - received).whole_milliseconds().saturating_add(500);
    // Rounded to the nearest second (integer division cuts toward zero).
    let rounded = if ms >= 0 {
        ms.saturating_add(500) / 1000
    } else {
        ms.saturating_sub(500) / 1000
    };
    let offset = i64::try_from(rounded).unwrap_or(i64::MAX);
    let size = Duration::from_secs(offset.unsigned_abs());
    let shown = if size.is_zero() {
        "0s".to_string()
    } else {
        format_duration(size)
    };
    let side = if offset > 0 { "behind" } else { "ahead of" };
    if size > MAX_CLOCK_OFFSET {
        return (
            Mark::Warn,
            format!("clock: this machine's clock is {shown} {side} the API's (its Date header): token expiry and time windows depend on it; synchronise it (NTP)"),
        );
    }
    (
        Mark::Ok,
        format!(
            "clock: offset {shown} from the API's (its Date header), within {}",
            format_duration(MAX_CLOCK_OFFSET)
        ),
    )
}

/// What the rate-limit headers leave of the window.
fn headroom(rate: Option<RateHeaders>) -> (Mark, String) {
    let Some(rate) = rate else {
        return (
            Mark::Warn,
            format!(
                "rate limit: the API sent no inin-ratelimit-* headers; the export paces itself at {ADVISORY_ALLOWED} requests per {}",
                format_duration(ADVISORY_WINDOW)
            ),
        );
    };
    let left = rate.allowed.saturating_sub(rate.count);
    let text = format!(
        "rate limit: {left} of {} requests left in the window (resets in {})",
        rate.allowed,
        format_duration(rate.reset)
    );
    if u64::from(left) * 100 < u64::from(rate.allowed) * LOW_HEADROOM_PERCENT {
        return (
            Mark::Warn,
            format!("{text}: other clients of the org are using most of it, and the export will wait for its share"),
        );
    }
    (Mark::Ok, text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const RECEIVED: OffsetDateTime = datetime!(2026-11-26 13:45:10.250 UTC);
    const DATE: &str = "Thu, 26 Nov 2026 13:45:10 GMT";

    fn hosts() -> Hosts {
        Hosts {
            region: Some("eu-west-1".into()),
            login_base: "https://login.mypurecloud.ie".into(),
            api_base: "https://api.mypurecloud.ie".into(),
        }
    }

    fn rate(count: u32, allowed: u32) -> Option<RateHeaders> {
        Some(RateHeaders {
            count,
            allowed,
            reset: Duration::from_secs(60),
        })
    }

    /// Every step passed, the clocks agree, the window is nearly unused.
    fn all_good() -> Observed {
        Observed {
            hosts: Ok(hosts()),
            login_host: Probe::Passed(()),
            api_host: Probe::Passed(()),
            token: Probe::Passed(Duration::from_secs(86_399)),
            details: Probe::Passed(()),
            queues: Probe::Passed(()),
            availability: Probe::Passed(()),
            last_reply: Some(LastReply {
                date: Some(DATE.into()),
                received: RECEIVED,
                rate: rate(3, 300),
            }),
        }
    }

    fn failed<T>(code: Code, problem: &str) -> Probe<T> {
        Probe::Failed {
            code,
            problem: problem.into(),
        }
    }

    fn forbidden<T>() -> Probe<T> {
        failed(Code::Forbidden, "permission denied for GET …: HTTP 403")
    }

    fn with_reply(
        date: Option<&str>,
        received: OffsetDateTime,
        rate: Option<RateHeaders>,
    ) -> Observed {
        Observed {
            last_reply: Some(LastReply {
                date: date.map(str::to_string),
                received,
                rate,
            }),
            ..all_good()
        }
    }

    /// The report's lines as shown, and its exit code.
    fn shown(observed: &Observed) -> (Vec<String>, Code) {
        let (lines, code) = verdict(observed);
        (lines.iter().map(Line::to_string).collect(), code)
    }

    /// `observed` gives `code`, and a line starting with `start` that holds every one of
    /// `holds`; every other line is `ok`.
    #[track_caller]
    fn check(observed: Observed, code: Code, start: &str, holds: &[&str]) {
        let (lines, got) = shown(&observed);
        assert_eq!(got, code, "{lines:#?}");
        let line = lines
            .iter()
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("no line starts with {start:?}: {lines:#?}"));
        for want in holds {
            assert!(line.contains(want), "{line:?} lacks {want:?}");
        }
        for other in lines.iter().filter(|l| *l != line) {
            assert!(other.starts_with("ok   "), "{other:?} in {lines:#?}");
        }
    }

    #[test]
    fn every_check_passing_is_one_ok_line_each_and_success() {
        let (lines, code) = shown(&all_good());
        assert_eq!(code, Code::Success);
        assert_eq!(
            lines,
            [
                "ok   region eu-west-1: login https://login.mypurecloud.ie, API https://api.mypurecloud.ie",
                "ok   login host: connected",
                "ok   API host: connected",
                "ok   token: obtained, token lifetime 23h59m59s",
                "ok   permission analytics:conversationDetail:view: a details query of one conversation over one minute answered",
                "ok   permission routing:queue:view: a queue lookup answered",
                "ok   jobs availability: answered: --mode auto can use analytics jobs",
                "ok   clock: offset 0s from the API's (its Date header), within 1m",
                "ok   rate limit: 297 of 300 requests left in the window (resets in 1m)",
            ]
        );
    }

    #[test]
    #[rustfmt::skip]
    fn each_outcome_gives_its_line_and_exit_code() {
        let o = all_good;
        check(Observed { details: forbidden(), ..o() }, Code::Forbidden, "FAIL permission analytics:conversationDetail:view", &["HTTP 403", "cannot run"]);
        check(Observed { details: failed(Code::GaveUp, "gave up on POST …"), ..o() }, Code::GaveUp, "FAIL permission analytics:conversationDetail:view", &["gave up on POST"]);
        check(Observed { queues: forbidden(), ..o() }, Code::Success, "warn permission routing:queue:view", &["HTTP 403", "queue_names empty"]);
        check(Observed { queues: failed(Code::Other, "HTTP 400"), ..o() }, Code::Other, "FAIL permission routing:queue:view", &["HTTP 400"]);
        check(Observed { availability: forbidden(), ..o() }, Code::Success, "warn jobs availability", &["--mode query", "--mode auto"]);
        check(Observed { availability: failed(Code::GaveUp, "gave up"), ..o() }, Code::GaveUp, "FAIL jobs availability", &["gave up"]);
        check(Observed { token: failed(Code::Auth, "authentication rejected"), details: Probe::Skipped, queues: Probe::Skipped, availability: Probe::Skipped, last_reply: None, ..o() }, Code::Auth, "FAIL token", &["authentication rejected"]);
        check(Observed { login_host: failed(Code::Other, "cannot talk to https://login…: TLS failed"), token: Probe::Skipped, details: Probe::Skipped, queues: Probe::Skipped, availability: Probe::Skipped, last_reply: None, ..o() }, Code::Other, "FAIL login host", &["TLS failed"]);
        check(Observed { api_host: failed(Code::GaveUp, "gave up on GET"), details: Probe::Skipped, queues: Probe::Skipped, availability: Probe::Skipped, last_reply: None, ..o() }, Code::GaveUp, "FAIL API host", &["gave up on GET"]);
        check(Observed::new(Err("unknown region 'eu-west-9'".into())), Code::Auth, "FAIL region", &["eu-west-9"]);
        check(Observed { hosts: Ok(Hosts { region: None, ..hosts() }), ..o() }, Code::Success, "ok   hosts: login https://login.", &["API https://api."]);
    }

    #[test]
    #[rustfmt::skip]
    fn the_clock_is_compared_with_the_date_header() {
        let at = |received| with_reply(Some(DATE), received, rate(3, 300));
        // The server's second runs from 13:45:10.000 to .999: its middle is compared.
        check(at(datetime!(2026-11-26 13:45:10.999 UTC)), Code::Success, "ok   clock", &["offset 0s"]);
        check(at(datetime!(2026-11-26 13:45:09.400 UTC)), Code::Success, "ok   clock", &["offset 1s"]);
        check(at(datetime!(2026-11-26 13:46:10.250 UTC)), Code::Success, "ok   clock", &["offset 1m"]);
        check(at(datetime!(2026-11-26 13:46:11.250 UTC)), Code::Success, "warn clock", &["1m1s ahead of the API's", "NTP"]);
        check(at(datetime!(2026-11-26 13:35:10.250 UTC)), Code::Success, "warn clock", &["10m behind the API's", "token expiry"]);
        check(at(datetime!(2026-11-27 13:45:10.250 UTC)), Code::Success, "warn clock", &["1d ahead"]);
        check(with_reply(None, RECEIVED, rate(3, 300)), Code::Success, "warn clock", &["no Date header"]);
        check(with_reply(Some("yesterday"), RECEIVED, rate(3, 300)), Code::Success, "warn clock", &["not an HTTP date"]);
    }

    #[test]
    #[rustfmt::skip]
    fn the_rate_limit_headroom_comes_from_the_headers() {
        let with = |rate| with_reply(Some(DATE), RECEIVED, rate);
        check(with(rate(270, 300)), Code::Success, "ok   rate limit", &["30 of 300 requests left"]);
        check(with(rate(271, 300)), Code::Success, "warn rate limit", &["29 of 300 requests left", "other clients"]);
        check(with(rate(301, 300)), Code::Success, "warn rate limit", &["0 of 300 requests left"]);
        check(with(rate(0, 1)), Code::Success, "ok   rate limit", &["1 of 1 requests left"]);
        check(with(None), Code::Success, "warn rate limit", &["no inin-ratelimit-* headers", "300 requests per 1m"]);
    }

    #[test]
    fn no_reply_from_the_api_shows_neither_clock_nor_rate_limit() {
        let observed = Observed {
            details: Probe::Skipped,
            queues: Probe::Skipped,
            availability: Probe::Skipped,
            last_reply: None,
            ..all_good()
        };
        let (lines, code) = shown(&observed);
        assert_eq!(code, Code::Success);
        assert_eq!(lines.len(), 4, "{lines:#?}");
    }

    #[test]
    fn the_first_failure_sets_the_exit_code() {
        let observed = Observed {
            details: forbidden(),
            queues: failed(Code::GaveUp, "gave up"),
            ..all_good()
        };
        let (lines, code) = shown(&observed);
        assert_eq!(code, Code::Forbidden, "{lines:#?}");
        assert_eq!(lines.iter().filter(|l| l.starts_with("FAIL")).count(), 2);
    }

    #[test]
    fn a_failed_step_becomes_its_code_and_its_text() {
        let probe = Probe::<()>::of(Err(crate::exit::failure(Code::Auth, "refused")));
        assert_eq!(probe, failed(Code::Auth, "refused"));
        assert_eq!(Probe::of(Ok(7)), Probe::Passed(7));
        assert!(!Probe::<()>::Skipped.passed());
    }
}
