//! What the user sees on stderr: progress lines, warnings, the final summary.
//!
//! stdout is reserved for data (`--output -`), so everything here goes to stderr. `--quiet`
//! silences all but errors, which `main` prints. Messages never contain a secret or a token:
//! nothing that holds one implements `Display`. A line that cannot be written (stderr on a full
//! disk, a closed pipe) is dropped: the log is for people, the exit code tells the truth.

use std::io::Write;
use std::time::Duration;

use crate::retry::Cause;
use crate::times::format_duration;

#[derive(Clone, Copy, Debug)]
pub struct Log {
    pub quiet: bool,
}

impl Log {
    pub fn info(&self, message: &str) {
        if !self.quiet {
            line(&mut std::io::stderr().lock(), "", message);
        }
    }

    pub fn warn(&self, message: &str) {
        if !self.quiet {
            line(&mut std::io::stderr().lock(), "warning: ", message);
        }
    }
}

/// Writes one line, ignoring failure: a log line is never worth a crash or an exit code.
fn line(out: &mut dyn Write, prefix: &str, message: &str) {
    let _ = writeln!(out, "{prefix}{message}");
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

/// The final summary line.
pub fn summary(export: &ExportStats, http: &HttpStats, elapsed: Duration) -> String {
    let mut costs = Vec::new();
    for (name, cost) in [("query", &export.query), ("jobs", &export.jobs)] {
        if cost.requests > 0 {
            costs.push(format!(
                "{name} {:.1}",
                cost.requests as f64 * 1000.0 / cost.conversations.max(1) as f64
            ));
        }
    }
    let costs = if costs.is_empty() {
        String::new()
    } else {
        format!("; requests per 1000 conversations: {}", costs.join(", "))
    };
    let follow_ups = match &export.follow_ups {
        Some(f) => format!(
            "; follow-ups: {} written, {} still pending, {} dropped",
            f.written, f.pending, f.dropped
        ),
        None => String::new(),
    };
    format!(
        "done: {} conversations, {} windows, {} pages, {} requests ({} to the token endpoint), {} token refreshes, retries {}, waited {}, elapsed {}{costs}{follow_ups}",
        export.conversations,
        export.windows,
        export.pages,
        http.requests,
        http.token_requests,
        http.tokens.saturating_sub(1),
        http.retries_by_cause(),
        format_duration(http.waited),
        format_duration(elapsed),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

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
            summary(&export, &http, Duration::from_secs(75)),
            "done: 2000 conversations, 2 windows, 22 pages, 120 requests (5 to the token endpoint), \
3 token refreshes, retries 3 (429: 1, 5xx: 2), waited 2.5s, elapsed 1m15s; requests per 1000 conversations: \
query 20.0, jobs 2.0"
        );
        assert_eq!(HttpStats::default().retries_by_cause(), "0");
        let nightly = ExportStats {
            follow_ups: Some(FollowUpCounts {
                written: 17,
                pending: 26,
                dropped: 1,
            }),
            ..export
        };
        assert!(summary(&nightly, &http, Duration::from_secs(75))
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
}
