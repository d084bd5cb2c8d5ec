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
use crate::proxy::Route;
use crate::retry::{parse_http_date, Cause};
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

impl Mark {
    /// How a line starts.
    pub fn name(self) -> &'static str {
        match self {
            Mark::Ok => "ok",
            Mark::Warn => "warn",
            Mark::Fail => "FAIL",
        }
    }
}

/// One line of the report: its mark, which check it is (`token`, `rate limit`), then what was
/// checked and what was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub mark: Mark,
    pub check: String,
    pub text: String,
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:<4} {}", self.mark.name(), self.text)
    }
}

/// How one step went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probe<T> {
    /// Not tried: a step it needs failed.
    Skipped,
    Passed(T),
    /// Failed for good, once the retry policy was done: the exit code the error carries, the
    /// error as shown (its server texts already scrubbed of secrets), and when the policy gave
    /// up on retries of one cause, that cause.
    Failed {
        code: Code,
        problem: String,
        gave_up_on: Option<Cause>,
    },
}

impl<T> Probe<T> {
    /// The outcome of a step that was tried and retried for `retried_for` alone (see
    /// [`retried_for`]): a step that then gave up (exit 5) gave up on that cause.
    pub fn after(result: anyhow::Result<T>, retried_for: Option<Cause>) -> Probe<T> {
        match result {
            Ok(value) => Probe::Passed(value),
            Err(e) => {
                let code = code_of(&e);
                Probe::Failed {
                    code,
                    problem: format!("{e:#}"),
                    gave_up_on: retried_for.filter(|_| code == Code::GaveUp),
                }
            }
        }
    }

    pub fn passed(&self) -> bool {
        matches!(self, Probe::Passed(_))
    }

    /// Whether the step gave up on the API's rate limit (HTTP 429 until the retries ran out).
    pub fn rate_limited(&self) -> bool {
        matches!(
            self,
            Probe::Failed {
                gave_up_on: Some(Cause::RateLimited),
                ..
            }
        )
    }
}

/// The one cause of the retries a step made, from the client's retry counters (indexed like
/// `Cause::ALL`) before and after it; None when it made none, or made them for several causes.
pub fn retried_for(before: &[u64], after: &[u64]) -> Option<Cause> {
    let mut made = Cause::ALL
        .iter()
        .zip(after.iter().zip(before))
        .filter(|(_, (after, before))| after > before)
        .map(|(cause, _)| *cause);
    match (made.next(), made.next()) {
        (Some(cause), None) => Some(cause),
        _ => None,
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
    /// How the login host and the API host are reached: direct or through which proxy.
    pub login_route: Route,
    pub api_route: Route,
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
            login_route: Route::Direct,
            api_route: Route::Direct,
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
    fn push(&mut self, mark: Mark, check: &str, text: String) {
        self.lines.push(Line {
            mark,
            check: check.to_string(),
            text,
        });
    }

    fn fail(&mut self, code: Code, check: &str, text: String) {
        self.code.get_or_insert(code);
        self.push(Mark::Fail, check, text);
    }

    /// A step whose only news is that it worked or failed.
    fn step<T>(&mut self, probe: &Probe<T>, what: &str, passed: impl FnOnce(&T) -> String) {
        match probe {
            Probe::Skipped => {}
            Probe::Passed(value) => self.push(Mark::Ok, what, format!("{what}: {}", passed(value))),
            Probe::Failed { code, problem, .. } => {
                self.fail(*code, what, format!("{what}: {problem}"))
            }
        }
    }

    /// A permission step that cannot tell: it gave up on the rate limit, or was not tried
    /// after one that did. The permission is not to blame; the rate limit line says why.
    fn untold(&mut self, what: &str) {
        self.push(
            Mark::Warn,
            what,
            format!(
                "{what}: not known: the API's rate limit is exhausted (see the rate limit line)"
            ),
        );
    }

    /// Connecting to a host (`what`, at `base`) through `route`. A failure through a proxy
    /// names the host asked for first: the problem names the proxy, where it failed.
    fn host(&mut self, probe: &Probe<()>, what: &str, base: &str, route: &Route) {
        match (probe, route) {
            (Probe::Failed { code, problem, .. }, Route::Via(_)) => self.fail(
                *code,
                what,
                format!("{what}: {base} not reached: {problem}"),
            ),
            _ => self.step(probe, what, |_| "connected".to_string()),
        }
    }
}

/// The report's lines and the exit code.
pub fn verdict(observed: &Observed) -> (Vec<Line>, Code) {
    let mut report = Report {
        lines: Vec::new(),
        code: None,
    };
    hosts(&mut report, &observed.hosts);
    let (login_base, api_base) = match &observed.hosts {
        Ok(hosts) => (hosts.login_base.as_str(), hosts.api_base.as_str()),
        Err(_) => ("", ""),
    };
    report.host(
        &observed.login_host,
        "login host",
        login_base,
        &observed.login_route,
    );
    report.host(
        &observed.api_host,
        "API host",
        api_base,
        &observed.api_route,
    );
    report.step(&observed.token, "token", |lifetime| {
        format!("obtained, token lifetime {}", format_duration(*lifetime))
    });
    permissions(&mut report, observed);
    if let Some(reply) = &observed.last_reply {
        let (mark, text) = clock(reply.date.as_deref(), reply.received);
        report.push(mark, "clock", text);
    }
    rate_limit(&mut report, observed);
    (report.lines, report.code.unwrap_or(Code::Success))
}

/// The hosts the region (or the base URLs) gives, or why it gives none.
fn hosts(report: &mut Report, hosts: &Result<Hosts, String>) {
    match hosts {
        Ok(Hosts {
            region: Some(region),
            login_base,
            api_base,
        }) => report.push(
            Mark::Ok,
            "region",
            format!("region {region}: login {login_base}, API {api_base}"),
        ),
        Ok(Hosts {
            region: None,
            login_base,
            api_base,
        }) => report.push(
            Mark::Ok,
            "hosts",
            format!("hosts: login {login_base}, API {api_base}"),
        ),
        Err(why) => report.fail(Code::Auth, "region", format!("region: {why}")),
    }
}

/// The rate limit: exhausted when a step gave up on it, else the headroom the last reply's
/// headers leave.
fn rate_limit(report: &mut Report, observed: &Observed) {
    match rate_limited(observed) {
        Some(problem) => report.fail(
            Code::GaveUp,
            "rate limit",
            format!("rate limit: exhausted: the API answered HTTP 429 (too many requests) until the retries ran out ({problem}); an export now would wait on it and give up the same way: run it when the org's other clients leave room, or allow more waiting with --max-retries and --max-wait"),
        ),
        None => {
            if let Some(reply) = &observed.last_reply {
                let (mark, text) = headroom(reply.rate);
                report.push(mark, "rate limit", text);
            }
        }
    }
}

/// The problem of the first permission step that gave up on the rate limit, if one did.
fn rate_limited(observed: &Observed) -> Option<&str> {
    [&observed.details, &observed.queues, &observed.availability]
        .into_iter()
        .find_map(|probe| match probe {
            Probe::Failed {
                gave_up_on: Some(Cause::RateLimited),
                problem,
                ..
            } => Some(problem.as_str()),
            _ => None,
        })
}

/// How a permission step's outcome becomes its line.
type Judge = fn(&mut Report, &Probe<()>);

/// The three permission steps. Once one gave up on the rate limit, it and those not tried
/// after it say so instead of blaming their permission.
fn permissions(report: &mut Report, observed: &Observed) {
    let exhausted = rate_limited(observed).is_some();
    let steps: [(&Probe<()>, String, Judge); 3] = [
        (
            &observed.details,
            format!("permission {DETAIL_PERMISSION}"),
            details,
        ),
        (
            &observed.queues,
            format!("permission {QUEUE_PERMISSION}"),
            queues,
        ),
        (
            &observed.availability,
            "jobs availability".to_string(),
            availability,
        ),
    ];
    for (probe, what, judge) in steps {
        if exhausted && (probe.rate_limited() || *probe == Probe::Skipped) {
            report.untold(&what);
        } else {
            judge(report, probe);
        }
    }
}

fn details(report: &mut Report, probe: &Probe<()>) {
    let what = format!("permission {DETAIL_PERMISSION}");
    match probe {
        Probe::Failed {
            code: Code::Forbidden,
            ..
        } => report.fail(
            Code::Forbidden,
            &what,
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
            &what,
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
            what,
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
            login_route: Route::Direct,
            api_route: Route::Direct,
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

    /// The hosts reached and a token obtained, but no permission probed and no API reply.
    fn unprobed() -> Observed {
        Observed {
            details: Probe::Skipped,
            queues: Probe::Skipped,
            availability: Probe::Skipped,
            last_reply: None,
            ..all_good()
        }
    }

    fn failed<T>(code: Code, problem: &str) -> Probe<T> {
        Probe::Failed {
            code,
            problem: problem.into(),
            gave_up_on: None,
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
        for line in &lines {
            assert!(line.text.starts_with(&line.check), "{line:?}");
        }
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
        let (lines, code) = shown(&unprobed());
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

    fn rate_limited<T>() -> Probe<T> {
        Probe::Failed {
            code: Code::GaveUp,
            problem: "gave up on POST … after 2 retries (--max-retries): HTTP 429".into(),
            gave_up_on: Some(Cause::RateLimited),
        }
    }

    #[test]
    fn a_step_that_gave_up_on_429s_blames_the_rate_limit_not_the_permission() {
        let observed = Observed {
            details: rate_limited(),
            queues: Probe::Skipped,
            availability: Probe::Skipped,
            ..all_good()
        };
        let (lines, code) = shown(&observed);
        assert_eq!(code, Code::GaveUp, "{lines:#?}");
        let fails: Vec<&String> = lines.iter().filter(|l| l.starts_with("FAIL")).collect();
        assert_eq!(fails.len(), 1, "{lines:#?}");
        assert!(
            fails[0].starts_with("FAIL rate limit: exhausted"),
            "{}",
            fails[0]
        );
        assert!(
            fails[0].contains("HTTP 429") && fails[0].contains("--max-wait"),
            "{}",
            fails[0]
        );
        for what in [
            "permission analytics",
            "permission routing",
            "jobs availability",
        ] {
            let line = lines.iter().find(|l| l[5..].starts_with(what)).unwrap();
            assert!(
                line.starts_with("warn") && line.contains("rate limit is exhausted"),
                "{line}"
            );
            assert!(
                !line.contains("403") && !line.contains("--mode query"),
                "{line}"
            );
        }
        assert!(
            !lines.iter().any(|l| l.contains("requests left")),
            "{lines:#?}"
        );
        // A later step alone giving up on the rate limit leaves the earlier verdicts.
        let observed = Observed {
            queues: forbidden(),
            availability: rate_limited(),
            ..all_good()
        };
        let (lines, code) = shown(&observed);
        assert_eq!(code, Code::GaveUp, "{lines:#?}");
        assert!(
            lines[4].starts_with("ok   permission analytics"),
            "{lines:#?}"
        );
        assert!(lines[5].starts_with("warn permission routing") && lines[5].contains("403"));
        assert!(
            lines[6].starts_with("warn jobs availability: not known"),
            "{lines:#?}"
        );
        // Given up for another cause, the step keeps its own FAIL line.
        let observed = Observed {
            details: Probe::Failed {
                code: Code::GaveUp,
                problem: "gave up: HTTP 503".into(),
                gave_up_on: Some(Cause::ServerError),
            },
            ..all_good()
        };
        check(
            observed,
            Code::GaveUp,
            "FAIL permission analytics",
            &["HTTP 503"],
        );
    }

    #[test]
    fn the_cause_of_a_step_is_the_one_its_retries_were_for() {
        assert_eq!(
            retried_for(&[0, 0, 0, 0, 0], &[2, 0, 0, 0, 0]),
            Some(Cause::RateLimited)
        );
        assert_eq!(
            retried_for(&[5, 1, 0, 0, 0], &[5, 3, 0, 0, 0]),
            Some(Cause::ServerError)
        );
        assert_eq!(retried_for(&[0, 0, 0, 0, 0], &[1, 1, 0, 0, 0]), None);
        assert_eq!(retried_for(&[3, 0, 0, 0, 0], &[3, 0, 0, 0, 0]), None);
        assert_eq!(retried_for(&[], &[]), None);
    }

    #[test]
    fn a_host_not_reached_through_a_proxy_is_named_before_the_proxy() {
        let env = |name: &str| {
            (name == "HTTPS_PROXY").then(|| "http://user:pw@10.0.0.9:3128".to_string())
        };
        let route = crate::proxy::route(&env, "https", "login.mypurecloud.ie", 443).unwrap();
        assert!(matches!(route, Route::Via(_)));
        let observed = Observed {
            login_route: route.clone(),
            api_route: route,
            login_host: failed(Code::GaveUp, "gave up on GET https://login.mypurecloud.ie/ after 1 retries (--max-retries): io: Connection refused (through the proxy http://10.0.0.9:3128 from HTTPS_PROXY)"),
            api_host: failed(Code::GaveUp, "gave up on GET https://api.mypurecloud.ie/ after 1 retries (--max-retries): io: Connection refused (through the proxy http://10.0.0.9:3128 from HTTPS_PROXY)"),
            token: Probe::Skipped,
            ..unprobed()
        };
        let (lines, code) = shown(&observed);
        assert_eq!(code, Code::GaveUp);
        assert_eq!(
            lines[1],
            "FAIL login host: https://login.mypurecloud.ie not reached: gave up on GET https://login.mypurecloud.ie/ after 1 retries (--max-retries): io: Connection refused (through the proxy http://10.0.0.9:3128 from HTTPS_PROXY)"
        );
        assert!(
            lines[2].starts_with("FAIL API host: https://api.mypurecloud.ie not reached: gave up"),
            "{}",
            lines[2]
        );
        // Direct, the problem's URL is the host's: nothing is added.
        let direct = Observed {
            login_route: Route::Direct,
            ..observed
        };
        let (lines, _) = shown(&direct);
        assert!(
            lines[1].starts_with("FAIL login host: gave up on GET https://login."),
            "{}",
            lines[1]
        );
        assert!(!lines.iter().any(|l| l.contains("pw")), "{lines:#?}");
    }

    #[test]
    fn a_failed_step_becomes_its_code_and_its_text() {
        let probe = Probe::<()>::after(Err(crate::exit::failure(Code::Auth, "refused")), None);
        assert_eq!(probe, failed(Code::Auth, "refused"));
        assert_eq!(Probe::after(Ok(7), None), Probe::Passed(7));
        // The cause of the retries counts only for a step that gave up (exit 5).
        let rate = Some(Cause::RateLimited);
        let auth = Probe::<()>::after(Err(crate::exit::failure(Code::Auth, "refused")), rate);
        assert!(!auth.rate_limited());
        let gave_up = Probe::<()>::after(Err(crate::exit::failure(Code::GaveUp, "gave up")), rate);
        assert!(gave_up.rate_limited());
        assert!(!Probe::<()>::Skipped.passed());
    }
}
