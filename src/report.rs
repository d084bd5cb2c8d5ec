//! What the user sees on stderr: log lines, warnings, the progress line, the final summary.
//!
//! stdout is reserved for data (`--output -`), so everything here goes to stderr. Every line is
//! an `Event` (level, message, typed fields) rendered as text (`warning: …`, the format people
//! read) or as one JSON object per line (`--log-format json`, for log shippers): `text_line`
//! and `json_line` are pure, the time passed in. `--quiet` silences all but errors. On a
//! terminal, with text, a `Meter` turns the driver's `Progress` reports into one line redrawn
//! in place, erased before any other line and at the end. Messages never contain a secret or
//! a token: nothing that holds one implements `Display`. A line that cannot be written (stderr
//! on a full disk, a closed pipe) is dropped: the log is for people, the exit code tells the
//! truth.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;
use time::OffsetDateTime;

use crate::retry::Cause;
use crate::signal;
use crate::times::format_duration;
use crate::window::api_timestamp;

/// How lines on stderr are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// For people: `message`, `warning: message`, `error: message`.
    #[default]
    Text,
    /// One JSON object per line: `time`, `level`, `message` and the event's fields.
    Json,
}

impl LogFormat {
    /// The formats by the name `--log-format` takes.
    pub const NAMES: [(&'static str, LogFormat); 2] =
        [("text", LogFormat::Text), ("json", LogFormat::Json)];
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }

    /// What a text line starts with.
    fn prefix(self) -> &'static str {
        match self {
            Level::Info => "",
            Level::Warn => "warning: ",
            Level::Error => "error: ",
        }
    }
}

/// One line of the log: what a person reads (`message`) and what a machine indexes (`fields`,
/// numbers as numbers). Text shows the message only; it already says what the fields hold.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub level: Level,
    pub message: String,
    pub fields: Vec<(&'static str, Value)>,
}

/// The keys every JSON line starts with; a field of the same name is left out.
const RESERVED: [&str; 3] = ["time", "level", "message"];

impl Event {
    pub fn new(level: Level, message: impl Into<String>) -> Event {
        Event {
            level,
            message: message.into(),
            fields: Vec::new(),
        }
    }

    pub fn info(message: impl Into<String>) -> Event {
        Event::new(Level::Info, message)
    }

    pub fn warn(message: impl Into<String>) -> Event {
        Event::new(Level::Warn, message)
    }

    pub fn error(message: impl Into<String>) -> Event {
        Event::new(Level::Error, message)
    }

    /// Adds field `name`. A float that is not finite becomes `null`.
    pub fn with(mut self, name: &'static str, value: impl Into<Value>) -> Event {
        self.fields.push((name, value.into()));
        self
    }

    /// Adds `from` and `to`, the bounds of a window, as API timestamps.
    pub fn window(self, start: OffsetDateTime, end: OffsetDateTime) -> Event {
        self.with("from", api_timestamp(start))
            .with("to", api_timestamp(end))
    }

    /// Adds a duration field, in seconds.
    pub fn seconds(self, name: &'static str, d: Duration) -> Event {
        self.with(name, d.as_secs_f64())
    }
}

/// The event as a text line, without the newline: the format people read.
pub fn text_line(event: &Event) -> String {
    format!("{}{}", event.level.prefix(), event.message)
}

/// The event as one JSON object, without the newline, at `time`:
/// `{"time":"2026-11-26T15:04:05.123Z","level":"info","message":"…",…fields}`. Valid JSON for
/// any message: serde_json escapes quotes, backslashes and control characters.
pub fn json_line(event: &Event, time: OffsetDateTime) -> String {
    let mut out = String::from("{\"time\":");
    push_json(&mut out, &Value::String(api_timestamp(time)));
    out.push_str(",\"level\":");
    push_json(&mut out, &Value::String(event.level.name().to_string()));
    out.push_str(",\"message\":");
    push_json(&mut out, &Value::String(event.message.clone()));
    for (name, value) in &event.fields {
        if RESERVED.contains(name) {
            continue;
        }
        out.push(',');
        push_json(&mut out, &Value::String((*name).to_string()));
        out.push(':');
        push_json(&mut out, value);
    }
    out.push('}');
    out
}

fn push_json(out: &mut String, value: &Value) {
    // Serializing a `Value` cannot fail (its keys are strings); `null` keeps the line valid.
    out.push_str(&serde_json::to_string(value).unwrap_or_else(|_| "null".to_string()));
}

/// Where the export stands, as the driver reports it after every commit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Conversations written by this run.
    pub conversations: u64,
    /// Top-level windows done, those of an earlier run included.
    pub windows_done: u64,
    pub windows_total: u64,
}

/// The progress line is redrawn at most this often.
pub const REDRAW_EVERY: Duration = Duration::from_millis(250);

/// The progress line's state: when the first report came and how many windows were done then
/// (a resumed run starts part-way), the latest report, and when the line was last drawn. The
/// clock is passed in.
#[derive(Debug, Default)]
pub struct Meter {
    first: Option<(Instant, u64)>,
    latest: Progress,
    drawn: Option<Instant>,
}

impl Meter {
    /// Takes a report seen at `now`; returns the line to draw when one is due (the first
    /// report, then at most once per `REDRAW_EVERY`).
    pub fn update(&mut self, progress: Progress, now: Instant) -> Option<String> {
        self.first.get_or_insert((now, progress.windows_done));
        self.latest = progress;
        let due = self
            .drawn
            .is_none_or(|at| now.saturating_duration_since(at) >= REDRAW_EVERY);
        due.then(|| self.line(now))
    }

    /// The line for the latest report at `now`, due or not (drawn again below a log line).
    pub fn line(&mut self, now: Instant) -> String {
        self.drawn = Some(now);
        let (since, windows_then) = self.first.unwrap_or((now, self.latest.windows_done));
        let elapsed = now.saturating_duration_since(since);
        progress_line(&self.latest, windows_then, elapsed)
    }
}

/// `1234 conversations, windows 3/48, 120/s, about 4m10s left`: the rate once a second has
/// passed, the time left once a window was done in this run (estimated from the windows done
/// since `windows_then` and `elapsed`).
pub fn progress_line(progress: &Progress, windows_then: u64, elapsed: Duration) -> String {
    let mut line = format!(
        "{} conversations, windows {}/{}",
        progress.conversations, progress.windows_done, progress.windows_total
    );
    let secs = elapsed.as_secs_f64();
    if secs >= 1.0 {
        line.push_str(&format!(", {:.0}/s", progress.conversations as f64 / secs));
    }
    let done_here = progress.windows_done.saturating_sub(windows_then);
    let to_do = progress.windows_total.saturating_sub(progress.windows_done);
    if done_here > 0 && to_do > 0 && secs > 0.0 {
        let left = secs * to_do as f64 / done_here as f64;
        if let Ok(left) = Duration::try_from_secs_f64(left.ceil()) {
            line.push_str(&format!(", about {} left", format_duration(left)));
        }
    }
    line
}

/// Whether the progress line shows: asked for (no `--no-progress`, no `--quiet`), text, and
/// stderr a terminal (never under cron, systemd or a pipe).
pub fn shows_progress(wanted: bool, quiet: bool, format: LogFormat, terminal: bool) -> bool {
    wanted && !quiet && format == LogFormat::Text && terminal
}

/// Moves to the start of the line and clears it: the progress line is gone.
const ERASE: &str = "\r\x1b[K";

/// The progress line as it is on the terminal.
#[derive(Debug, Default)]
struct Screen {
    meter: Meter,
    /// Whether a progress line is on screen now.
    shown: bool,
    /// Set at the end of the run: nothing more is drawn.
    finished: bool,
}

/// Where log lines go: stderr, in the chosen format, with the progress line if there is one.
/// Cheap to clone; clones share the progress line.
#[derive(Clone, Debug)]
pub struct Log {
    quiet: bool,
    format: LogFormat,
    screen: Option<Arc<Mutex<Screen>>>,
}

impl Log {
    /// Errors only, as text: for tests.
    #[cfg(test)]
    pub const QUIET: Log = Log {
        quiet: true,
        format: LogFormat::Text,
        screen: None,
    };

    /// A log in `format`; with `quiet`, errors only. `progress`: whether to show the progress
    /// line, which happens only as `shows_progress` says, stderr checked here.
    pub fn new(quiet: bool, format: LogFormat, progress: bool) -> Log {
        let terminal = std::io::stderr().is_terminal();
        let screen = shows_progress(progress, quiet, format, terminal)
            .then(|| Arc::new(Mutex::new(Screen::default())));
        Log {
            quiet,
            format,
            screen,
        }
    }

    pub fn info(&self, message: &str) {
        self.emit(Event::info(message));
    }

    pub fn warn(&self, message: &str) {
        self.emit(Event::warn(message));
    }

    /// Writes one event (unless quiet and not an error), the progress line erased first and
    /// drawn again below it.
    pub fn emit(&self, event: Event) {
        if self.quiet && event.level != Level::Error {
            return;
        }
        let text = match self.format {
            LogFormat::Text => text_line(&event),
            LogFormat::Json => json_line(&event, OffsetDateTime::now_utc()),
        };
        let Some(screen) = &self.screen else {
            line(&mut std::io::stderr().lock(), "", &text);
            return;
        };
        let mut screen = screen.lock().unwrap_or_else(PoisonError::into_inner);
        let mut err = std::io::stderr().lock();
        if screen.shown {
            let _ = write!(err, "{ERASE}");
            line(&mut err, "", &text);
            let drawn = screen.meter.line(Instant::now());
            let _ = write!(err, "{drawn}\x1b[K");
        } else {
            line(&mut err, "", &text);
        }
        let _ = err.flush();
    }

    /// The driver's report after a commit: redraws the progress line when one is shown and
    /// due. Nothing without a terminal.
    pub fn progress(&self, progress: Progress) {
        let Some(screen) = &self.screen else {
            return;
        };
        let mut screen = screen.lock().unwrap_or_else(PoisonError::into_inner);
        if screen.finished {
            return;
        }
        if let Some(drawn) = screen.meter.update(progress, Instant::now()) {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r{drawn}\x1b[K");
            let _ = err.flush();
            screen.shown = true;
            signal::set_progress_shown(true);
        }
    }

    /// Erases the progress line for good: the run is over, its last lines follow.
    pub fn finish_progress(&self) {
        let Some(screen) = &self.screen else {
            return;
        };
        let mut screen = screen.lock().unwrap_or_else(PoisonError::into_inner);
        screen.finished = true;
        signal::set_progress_shown(false);
        if std::mem::take(&mut screen.shown) {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "{ERASE}");
            let _ = err.flush();
        }
    }
}

/// Writes one line, ignoring failure: a log line is never worth a crash or an exit code. The
/// line goes in one write, so that a pipe's reader (a log collector) gets it whole.
fn line(out: &mut dyn Write, prefix: &str, message: &str) {
    let _ = out.write_all(format!("{prefix}{message}\n").as_bytes());
}

/// Counters kept by the HTTP client.
#[derive(Clone, Debug, Default)]
pub struct HttpStats {
    /// Every request sent, tokens included, retries included.
    pub requests: u64,
    /// Requests to the token endpoint.
    pub token_requests: u64,
    /// Tokens obtained.
    pub tokens: u64,
    /// Retries by cause, indexed like `Cause::ALL`.
    pub retries: [u64; 5],
    /// Time spent sleeping before retries.
    pub waited: Duration,
}

impl HttpStats {
    pub fn count_retry(&mut self, cause: Cause) {
        if let Some(n) = self.retries.get_mut(cause as usize) {
            *n = n.saturating_add(1);
        }
    }

    pub fn total_retries(&self) -> u64 {
        self.retries.iter().fold(0, |sum, n| sum.saturating_add(*n))
    }

    /// `3 (429: 1, 5xx: 2)` or `0`.
    pub fn retries_by_cause(&self) -> String {
        let parts: Vec<String> = Cause::ALL
            .iter()
            .zip(self.retries)
            .filter(|(_, n)| *n > 0)
            .map(|(cause, n)| format!("{}: {n}", cause.label()))
            .collect();
        if parts.is_empty() {
            "0".to_string()
        } else {
            format!("{} ({})", self.total_retries(), parts.join(", "))
        }
    }
}

/// What one path (query or jobs) cost.
#[derive(Clone, Debug, Default)]
pub struct PathCost {
    pub conversations: u64,
    pub requests: u64,
}

/// Counters kept by the export loop.
#[derive(Clone, Debug, Default)]
pub struct ExportStats {
    pub query: PathCost,
    pub jobs: PathCost,
    pub conversations: u64,
    pub windows: u64,
    pub pages: u64,
    /// Conversations returned by a window that another window owns.
    pub outside_window: u64,
    /// Conversations returned twice within one window (pages shifting under new data).
    pub repeats: u64,
    /// The follow-up of a `--pending` ledger, when the run keeps one.
    pub follow_ups: Option<FollowUpCounts>,
}

/// What became of the conversations a `--pending` ledger recorded in progress.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FollowUpCounts {
    /// Ended, and written by this run.
    pub written: u64,
    /// In the ledger when the run ended.
    pub pending: u64,
    /// Dropped: too old, or no longer returned by the API.
    pub dropped: u64,
}

/// The final summary: the line people read, and every figure as a field.
pub fn summary(export: &ExportStats, http: &HttpStats, elapsed: Duration) -> Event {
    let costs = route_costs(export);
    let follow_ups = match &export.follow_ups {
        Some(f) => format!(
            "; follow-ups: {} written, {} still pending, {} dropped",
            f.written, f.pending, f.dropped
        ),
        None => String::new(),
    };
    let refreshes = http.tokens.saturating_sub(1);
    let message = format!(
        "done: {} conversations, {} windows, {} pages, {} requests ({} to the token endpoint), {} token refreshes, retries {}, waited {}, elapsed {}{costs}{follow_ups}",
        export.conversations,
        export.windows,
        export.pages,
        http.requests,
        http.token_requests,
        refreshes,
        http.retries_by_cause(),
        format_duration(http.waited),
        format_duration(elapsed),
    );
    let by_cause: serde_json::Map<String, Value> = Cause::ALL
        .iter()
        .zip(http.retries)
        .map(|(cause, n)| (cause.label().to_string(), Value::from(n)))
        .collect();
    summary_fields(Event::info(message), export, http, by_cause, elapsed)
}

/// The summary's requests per 1000 conversations on each route taken, as a message tail.
fn route_costs(export: &ExportStats) -> String {
    let costs: Vec<String> = [("query", &export.query), ("jobs", &export.jobs)]
        .into_iter()
        .filter(|(_, cost)| cost.requests > 0)
        .map(|(name, cost)| {
            let per_1000 = cost.requests as f64 * 1000.0 / cost.conversations.max(1) as f64;
            format!("{name} {per_1000:.1}")
        })
        .collect();
    if costs.is_empty() {
        String::new()
    } else {
        format!("; requests per 1000 conversations: {}", costs.join(", "))
    }
}

/// The summary's figures as typed fields of its event.
fn summary_fields(
    event: Event,
    export: &ExportStats,
    http: &HttpStats,
    by_cause: serde_json::Map<String, Value>,
    elapsed: Duration,
) -> Event {
    let refreshes = http.tokens.saturating_sub(1);
    let event = event
        .with("conversations", export.conversations)
        .with("windows", export.windows)
        .with("pages", export.pages)
        .with("requests", http.requests)
        .with("token_requests", http.token_requests)
        .with("token_refreshes", refreshes)
        .with("retries", http.total_retries())
        .with("retries_by_cause", by_cause)
        .seconds("waited_seconds", http.waited)
        .seconds("elapsed_seconds", elapsed)
        .with("query_conversations", export.query.conversations)
        .with("query_requests", export.query.requests)
        .with("jobs_conversations", export.jobs.conversations)
        .with("jobs_requests", export.jobs.requests)
        .with("outside_window", export.outside_window)
        .with("repeats", export.repeats);
    match &export.follow_ups {
        Some(f) => event
            .with("follow_ups_written", f.written)
            .with("follow_ups_pending", f.pending)
            .with("follow_ups_dropped", f.dropped),
        None => event,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prop;

    #[test]
    fn summary_names_every_figure() {
        let mut http = HttpStats {
            requests: 120,
            token_requests: 5,
            tokens: 4,
            ..HttpStats::default()
        };
        http.count_retry(Cause::RateLimited);
        http.count_retry(Cause::ServerError);
        http.count_retry(Cause::ServerError);
        http.waited = Duration::from_millis(2500);
        let export = ExportStats {
            conversations: 2000,
            windows: 2,
            pages: 22,
            query: PathCost {
                conversations: 500,
                requests: 10,
            },
            jobs: PathCost {
                conversations: 1500,
                requests: 3,
            },
            ..ExportStats::default()
        };
        assert_eq!(
            summary(&export, &http, Duration::from_secs(75)).message,
            "done: 2000 conversations, 2 windows, 22 pages, 120 requests (5 to the token endpoint), \
3 token refreshes, retries 3 (429: 1, 5xx: 2), waited 2.5s, elapsed 1m15s; requests per 1000 conversations: \
query 20.0, jobs 2.0"
        );
        assert_eq!(HttpStats::default().retries_by_cause(), "0");
        let line = json_line(&summary(&export, &http, Duration::from_secs(75)), at());
        let json: Value = serde_json::from_str(&line).unwrap();
        for (field, want) in [
            ("conversations", 2000),
            ("windows", 2),
            ("pages", 22),
            ("requests", 120),
            ("token_requests", 5),
            ("token_refreshes", 3),
            ("retries", 3),
            ("query_requests", 10),
            ("jobs_conversations", 1500),
        ] {
            assert_eq!(json[field].as_u64(), Some(want), "{field} in {line}");
        }
        assert_eq!(json["retries_by_cause"]["5xx"].as_u64(), Some(2), "{line}");
        assert_eq!(json["waited_seconds"].as_f64(), Some(2.5), "{line}");
        assert_eq!(json["elapsed_seconds"].as_f64(), Some(75.0), "{line}");
        assert_eq!(json["level"], "info");
        let nightly = ExportStats {
            follow_ups: Some(FollowUpCounts {
                written: 17,
                pending: 26,
                dropped: 1,
            }),
            ..export
        };
        assert!(summary(&nightly, &http, Duration::from_secs(75))
            .message
            .ends_with("jobs 2.0; follow-ups: 17 written, 26 still pending, 1 dropped"));
    }

    /// Writing to a closed pipe or a full disk fails; the line is dropped, not a panic.
    #[test]
    fn log_line_to_a_full_stderr_is_dropped_without_a_panic() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::Error::from_raw_os_error(28))
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
            }
        }
        line(&mut Full, "warning: ", "disk full");
        let mut out = Vec::new();
        line(&mut out, "warning: ", "kept");
        assert_eq!(out, b"warning: kept\n");
    }

    /// The instant every JSON line of these tests carries.
    fn at() -> OffsetDateTime {
        time::macros::datetime!(2026-11-26 15:04:05.123 UTC)
    }

    #[test]
    fn text_lines_are_todays_lines() {
        #[track_caller]
        fn check(event: Event, want: &str) {
            assert_eq!(text_line(&event), want);
        }
        check(Event::info("wrote out.csv"), "wrote out.csv");
        check(
            Event::warn("queue names are left empty"),
            "warning: queue names are left empty",
        );
        check(
            Event::error("bad --from").with("exit", 2),
            "error: bad --from",
        );
        check(
            Event::info("window a/b").with("conversations", 3),
            "window a/b",
        );
    }

    #[test]
    fn json_lines_carry_time_level_message_and_typed_fields() {
        #[track_caller]
        fn check(event: Event, want: &str) {
            assert_eq!(json_line(&event, at()), want);
        }
        let t = r#"{"time":"2026-11-26T15:04:05.123Z","#;
        check(
            Event::info("wrote out.csv"),
            &format!(r#"{t}"level":"info","message":"wrote out.csv"}}"#),
        );
        check(
            Event::warn("a \"quoted\" \\ line\n"),
            &format!(r#"{t}"level":"warn","message":"a \"quoted\" \\ line\n"}}"#),
        );
        check(
            Event::error("bad --from").with("exit", 2),
            &format!(r#"{t}"level":"error","message":"bad --from","exit":2}}"#),
        );
        let from = time::macros::datetime!(2026-11-01 00:00 UTC);
        let to = time::macros::datetime!(2026-11-01 02:00 UTC);
        check(
            Event::info("w")
                .window(from, to)
                .with("pages", 2u64)
                .seconds("wait_seconds", Duration::from_millis(1500)),
            &format!(
                r#"{t}"level":"info","message":"w","from":"2026-11-01T00:00:00.000Z","to":"2026-11-01T02:00:00.000Z","pages":2,"wait_seconds":1.5}}"#
            ),
        );
        // A field cannot shadow the three keys every line starts with; a float that is not
        // finite is null, never a bare NaN that no parser takes.
        check(
            Event::info("m")
                .with("level", "x")
                .with("message", 1)
                .with("time", 2),
            &format!(r#"{t}"level":"info","message":"m"}}"#),
        );
        check(
            Event::info("m")
                .with("rate", f64::NAN)
                .with("inf", f64::INFINITY),
            &format!(r#"{t}"level":"info","message":"m","rate":null,"inf":null}}"#),
        );
    }

    #[test]
    fn prop_any_message_is_one_json_line_that_reads_back_the_same() {
        // Texts that look like escapes or broken encodings, beside the generator's own.
        const TRICKY: [&str; 6] = [
            "\\ud800",
            "\\u0000",
            "\"}{\"",
            "\u{1b}[2K\r",
            "\u{fffd}\u{feff}",
            "\\",
        ];
        prop::run(|rng| {
            let mut message = rng.any_text();
            if rng.below(3) == 0 {
                let tricky = *rng.pick(&TRICKY);
                message.push_str(tricky);
                message.push_str(&rng.unicode(8));
            }
            let level = *rng.pick(&[Level::Info, Level::Warn, Level::Error]);
            let event = Event::new(level, message.clone())
                .with("note", rng.unicode(6))
                .with("n", rng.huge());
            let line = json_line(&event, at());
            assert!(!line.contains('\n'), "{line:?}");
            let json: Value =
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
            assert_eq!(json["message"].as_str(), Some(message.as_str()));
            assert_eq!(json["level"].as_str(), Some(level.name()));
            assert_eq!(json["time"].as_str(), Some("2026-11-26T15:04:05.123Z"));
            assert_eq!(json["n"].as_u64(), event.fields[1].1.as_u64());
            assert_eq!(text_line(&event), format!("{}{message}", level.prefix()));
        });
    }

    #[test]
    fn progress_line_shows_rate_and_time_left_once_known() {
        #[track_caller]
        fn check(
            conversations: u64,
            done: u64,
            total: u64,
            then: u64,
            elapsed_ms: u64,
            want: &str,
        ) {
            let progress = Progress {
                conversations,
                windows_done: done,
                windows_total: total,
            };
            assert_eq!(
                progress_line(&progress, then, Duration::from_millis(elapsed_ms)),
                want
            );
        }
        check(0, 0, 48, 0, 0, "0 conversations, windows 0/48");
        check(900, 0, 48, 0, 999, "900 conversations, windows 0/48");
        check(
            1200,
            0,
            48,
            0,
            10_000,
            "1200 conversations, windows 0/48, 120/s",
        );
        check(
            1200,
            3,
            48,
            0,
            10_000,
            "1200 conversations, windows 3/48, 120/s, about 2m30s left",
        );
        // A resumed run estimates from the windows it did itself.
        check(
            1200,
            13,
            48,
            10,
            10_000,
            "1200 conversations, windows 13/48, 120/s, about 1m57s left",
        );
        check(
            1200,
            10,
            48,
            10,
            10_000,
            "1200 conversations, windows 10/48, 120/s",
        );
        check(
            5000,
            48,
            48,
            0,
            10_000,
            "5000 conversations, windows 48/48, 500/s",
        );
        check(
            u64::MAX,
            1,
            u64::MAX,
            0,
            1000,
            &format!(
                "{} conversations, windows 1/{}, 18446744073709551616/s",
                u64::MAX,
                u64::MAX
            ),
        );
    }

    #[test]
    fn meter_draws_the_first_report_then_at_most_every_redraw_interval() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let report = |conversations, windows_done| Progress {
            conversations,
            windows_done,
            windows_total: 4,
        };
        let mut meter = Meter::default();
        assert_eq!(
            meter.update(report(0, 1), ms(0)).as_deref(),
            Some("0 conversations, windows 1/4")
        );
        assert_eq!(meter.update(report(100, 1), ms(100)), None);
        assert_eq!(meter.update(report(200, 1), ms(249)), None);
        assert_eq!(
            meter.update(report(300, 2), ms(250)).as_deref(),
            Some("300 conversations, windows 2/4, about 1s left")
        );
        assert_eq!(meter.update(report(400, 2), ms(400)), None);
        // Below a log line the latest report is drawn, due or not.
        assert_eq!(
            meter.line(ms(400)),
            "400 conversations, windows 2/4, about 1s left"
        );
        assert_eq!(
            meter.update(report(2000, 3), ms(2000)).as_deref(),
            Some("2000 conversations, windows 3/4, 1000/s, about 1s left")
        );
        // A clock that goes backwards draws nothing and does not panic.
        assert_eq!(meter.update(report(2000, 3), ms(10)), None);
    }

    #[test]
    fn progress_shows_only_on_a_terminal_with_text() {
        #[track_caller]
        fn check(wanted: bool, quiet: bool, format: LogFormat, terminal: bool, want: bool) {
            assert_eq!(shows_progress(wanted, quiet, format, terminal), want);
        }
        check(true, false, LogFormat::Text, true, true);
        check(true, false, LogFormat::Text, false, false);
        check(true, false, LogFormat::Json, true, false);
        check(false, false, LogFormat::Text, true, false);
        check(true, true, LogFormat::Text, true, false);
    }
}
