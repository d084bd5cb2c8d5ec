//! The sliding-window rate limit in front of the API endpoints and the numbers behind the
//! `inin-ratelimit-*` headers.
//!
//! This module owns the window: the arrival times of the requests it admitted. It reads no
//! clock (`api` passes each arrival's instant in) and builds no response; `api` turns a
//! [`Verdict`] into headers or a 429.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// At most `allowed` requests in any `window`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub allowed: u32,
    pub window: Duration,
}

/// What the headers advertise when no limit is configured: a limit no test reaches, so that
/// a client pacing itself by the headers is not slowed down where no limit is being tested
/// (`SimConfig::rate_limit` sets a real one, such as Genesys's 300 requests a minute).
pub const ADVISORY: RateLimit = RateLimit {
    allowed: 10_000,
    window: Duration::from_secs(1),
};

/// The window's answer to one arrival.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// Requests counted in the window, this one included (one past `allowed` when refused).
    pub count: u64,
    pub allowed: u64,
    /// Whole seconds until the oldest counted request leaves the window, at least 1.
    pub reset_secs: u64,
    /// The request is over the limit: answer 429 with `Retry-After` = `reset_secs`.
    pub refused: bool,
}

/// The admitted requests of the last `window`. A refused request is not counted: it never
/// got past the limiter.
#[derive(Debug)]
pub struct Window {
    limit: RateLimit,
    /// Refuse past the limit; when false the window only feeds the headers.
    enforce: bool,
    admitted: VecDeque<Instant>,
}

impl Window {
    /// A window that refuses past `limit`, or, without one, only counts against
    /// [`ADVISORY`].
    pub fn new(limit: Option<RateLimit>) -> Window {
        Window {
            limit: limit.unwrap_or(ADVISORY),
            enforce: limit.is_some(),
            admitted: VecDeque::new(),
        }
    }

    /// Counts a request arriving at `now`, or refuses it.
    pub fn arrive(&mut self, now: Instant) -> Verdict {
        let window = self.limit.window;
        while let Some(&oldest) = self.admitted.front() {
            if now.saturating_duration_since(oldest) >= window {
                self.admitted.pop_front();
            } else {
                break;
            }
        }
        let allowed = u64::from(self.limit.allowed);
        let held = self.admitted.len() as u64;
        let refused = self.enforce && held >= allowed;
        if !refused {
            self.admitted.push_back(now);
        }
        let oldest = self.admitted.front().copied().unwrap_or(now);
        let left = window.saturating_sub(now.saturating_duration_since(oldest));
        let reset_secs = left
            .as_secs()
            .saturating_add(u64::from(left.subsec_nanos() > 0))
            .max(1);
        Verdict {
            count: held.saturating_add(1),
            allowed,
            reset_secs,
            refused,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One row: `LIMIT @ ARRIVALS => VERDICTS`. LIMIT is `allowed/window_ms` or `none`;
    /// ARRIVALS are milliseconds after t0; each verdict is `count:reset`, `!` for a refusal.
    fn check(row: &str) {
        let (limit, rest) = row.split_once(" @ ").unwrap();
        let (arrivals, want) = rest.split_once(" => ").unwrap();
        let limit = limit.split_once('/').map(|(allowed, window_ms)| RateLimit {
            allowed: allowed.parse().unwrap(),
            window: Duration::from_millis(window_ms.parse().unwrap()),
        });
        let mut window = Window::new(limit);
        let t0 = Instant::now();
        let got: Vec<String> = arrivals
            .split(' ')
            .map(|ms| {
                let v = window.arrive(t0 + Duration::from_millis(ms.parse().unwrap()));
                let mark = if v.refused { "!" } else { "" };
                format!("{}:{}{mark}", v.count, v.reset_secs)
            })
            .collect();
        assert_eq!(got.join(" "), want, "{row}");
    }

    #[test]
    fn the_window_slides_request_by_request() {
        // 3 per 2 s: a fourth within 2 s of the first is refused, until the first leaves.
        check("3/2000 @ 0 100 200 300 => 1:2 2:2 3:2 4:2!");
        check("3/2000 @ 0 100 200 1500 2000 => 1:2 2:2 3:2 4:1! 3:1");
        check("3/2000 @ 0 100 200 2100 2200 => 1:2 2:2 3:2 2:1 2:2");
        // A refused request is not counted: the window frees up on schedule.
        check("1/1000 @ 0 10 20 999 1000 => 1:1 2:1! 2:1! 2:1! 1:1");
        // Reset is rounded up to whole seconds, and at least 1.
        check("2/60000 @ 0 30500 => 1:60 2:30");
        check("2/500 @ 0 => 1:1");
        // Without a limit the advisory numbers are counted but nothing is refused.
        check("none @ 0 1 2 => 1:1 2:1 3:1");
    }

    #[test]
    fn advisory_window_never_refuses() {
        let mut window = Window::new(None);
        let t0 = Instant::now();
        for n in 1..=400u64 {
            let v = window.arrive(t0 + Duration::from_millis(n));
            assert!(!v.refused);
            assert_eq!((v.count, v.allowed), (n, 10_000));
        }
        let later = window.arrive(t0 + Duration::from_secs(2));
        assert_eq!(later.count, 1);
    }
}
