//! What the user sees on stderr: progress lines, warnings, the final summary.
//!
//! stdout is reserved for data (`--output -`), so everything here goes to stderr. `--quiet`
//! silences all but errors, which `main` prints. Messages never contain a secret or a token:
//! nothing that holds one implements `Display`.

use std::time::Duration;

use crate::times::format_duration;
use crate::retry::Cause;

#[derive(Clone, Copy, Debug)]
pub struct Log {
    pub quiet: bool,
}

impl Log {
    pub fn info(&self, message: &str) {
        if !self.quiet {
            eprintln!("{message}");
        }
    }

    pub fn warn(&self, message: &str) {
        if !self.quiet {
            eprintln!("warning: {message}");
        }
    }
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
        self.retries[cause as usize] += 1;
    }

    pub fn total_retries(&self) -> u64 {
        self.retries.iter().sum()
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
    format!(
        "done: {} conversations, {} windows, {} pages, {} requests, {} token refreshes, retries {}, waited {}, elapsed {}{costs}",
        export.conversations,
        export.windows,
        export.pages,
        http.requests,
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
            token_requests: 4,
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
            "done: 2000 conversations, 2 windows, 22 pages, 120 requests, 3 token refreshes, \
retries 3 (429: 1, 5xx: 2), waited 2.5s, elapsed 1m15s; requests per 1000 conversations: \
query 20.0, jobs 2.0"
        );
        assert_eq!(HttpStats::default().retries_by_cause(), "0");
    }
}
