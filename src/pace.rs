//! The pacing policy: when the next request may leave, and how many may be in flight.
//!
//! A pure state machine, like `retry::decide`: the driver tells the [`Pacer`] when a request
//! left ([`Pacer::started`]) and how it came back ([`Pacer::finished`], with the
//! `inin-ratelimit-*` headers read by [`parse_rate_headers`]), and asks it before each new
//! request ([`Pacer::next_start`]). Every instant comes in as a parameter; nothing here reads a
//! clock or sleeps, so the whole policy is tested with virtual time.
//!
//! Two limits apply, and a request leaves only when both allow it:
//!
//! - **Rate.** The API counts requests per token in a window (`allowed` per window, 300 a
//!   minute on the real API) and answers 429 past it. Requests leave evenly spaced, one every
//!   `window × stretch ÷ share`, where `share` is `allowed` less the requests of other clients
//!   seen in the window: never faster than `allowed` per window. The stretch starts at 5 %
//!   to spare, grows on a 429 and shrinks back slowly on the other replies, so a network that
//!   delivers requests less evenly than they left costs few 429s. The window is the longest
//!   `inin-ratelimit-reset` seen (the first reply of a fresh window reports the whole of it).
//!   When other clients are seen in the window, the requests the server still grants before
//!   it frees up, `allowed − count − (our requests in flight, perhaps not yet counted)`, are
//!   spread evenly over `reset` as well. A full window of our own requests needs no such
//!   care: the spacing already keeps it within the limit, and `reset`, in whole seconds, is
//!   too coarse to pace a window of a second by.
//! - **One header decides little.** A window a single reply claims is trusted only up to the
//!   documented rate's spacing (300 a minute) until a second reply confirms it (its window
//!   ends where the first said, give or take [`WINDOW_TOLERANCE`]); a reply whose window ends
//!   well before the one believed, while that one still runs, shows the claim was wrong and
//!   replaces it. So one absurd `inin-ratelimit-reset` costs nothing, and a server that keeps
//!   saying it is believed, bounded by [`MAX_RESET`]. [`Pacer::holding_back`] says when the
//!   rate kept is far below what the requests in flight could carry, for one log line.
//! - **Concurrency.** The in-flight limit moves between 1 and `--parallel` by additive
//!   increase and multiplicative decrease: each reply that is not a 429 adds `1/limit`, a 429
//!   halves it, and no request leaves before the 429's `Retry-After`. It starts at 1: one
//!   request at a time until the first reply has told the limits.
//!
//! Every request that leaves, a retry included, is reported to `started` and its reply to
//! `finished`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::retry::MAX_RETRY_AFTER;

/// The largest `inin-ratelimit-allowed` taken as given; a larger one is read as this. The
/// real API allows 300 a minute; past ten thousand a window the pacing no longer binds, and
/// the replies remembered to tell our requests from other clients' stay a few hundred KiB.
pub const MAX_ALLOWED: u32 = 10_000;
/// The longest `inin-ratelimit-reset` taken as given; a longer one is read as this. Genesys
/// counts per minute; an hour leaves room for any coarser limit without letting one absurd
/// header stall the run for days.
pub const MAX_RESET: Duration = Duration::from_secs(3600);
/// The shortest window assumed: `inin-ratelimit-reset` is in whole seconds, rounded up, so a
/// window of a second or less reads as 1 (and a reply at its very end as 0).
pub const MIN_WINDOW: Duration = Duration::from_secs(1);
/// The limit assumed until a reply carries the headers (and for good if none ever does): the
/// documented 300 requests per minute per token.
pub const ADVISORY_ALLOWED: u32 = 300;
/// The window of [`ADVISORY_ALLOWED`].
pub const ADVISORY_WINDOW: Duration = Duration::from_secs(60);
/// How long no request leaves after a 429 that gives neither `Retry-After` nor
/// `inin-ratelimit-reset`: the finest grain either header has.
pub const DEFAULT_HOLD: Duration = Duration::from_secs(1);
/// Requests are spaced by `window / allowed` stretched by at least this ratio (5 % slower than
/// the limit). Requests evenly spaced at exactly the limit meet a sliding window edge to the
/// nanosecond, and the network does not keep spacing that exact; 5 % absorbs a jitter of a
/// twentieth of the spacing and keeps above 95 % of the allowed rate.
pub const MIN_STRETCH: f64 = 1.05;
/// A 429 stretches the spacing by this ratio (once per hold): the requests reach the server
/// less evenly than they left (latencies vary), so the margin above was too thin. Small, so
/// that the rate stays close to the limit; the hold after the 429 already relieves the server.
pub const STRETCH_ON_429: f64 = 1.15;
/// Each reply that is not a 429 takes this much off the stretch, back down to
/// [`MIN_STRETCH`]: a 429's stretch is undone over 300 or more replies, so a margin that is
/// too thin for the network costs about one 429 in that many requests, well under 1 %.
pub const STRETCH_RECOVERY: f64 = 0.0005;
/// The most the spacing is stretched: a quarter of the allowed rate, whatever the 429s say
/// (the hold after each 429 slows the run further if the server insists).
pub const MAX_STRETCH: f64 = 4.0;
/// How far apart the ends of one window, as two replies report them, may lie and still be the
/// same window: `reset` is rounded up to whole seconds, and the replies travelled apart.
pub const WINDOW_TOLERANCE: Duration = Duration::from_secs(2);
/// A spacing at least this long holds the run far below what requests in flight carry (a
/// tenth of the documented rate or less): [`Pacer::holding_back`] says so.
pub const SLOW_SPACING: Duration = Duration::from_secs(2);
/// Replies remembered to count our own requests in the server's window: our share is at most
/// `MAX_ALLOWED` a window, plus the requests in flight.
const MAX_REMEMBERED: usize = 2 * MAX_ALLOWED as usize;

/// The `inin-ratelimit-*` headers of one reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateHeaders {
    /// Requests counted in the current window, this one included (one past `allowed` on a 429).
    pub count: u32,
    /// The most requests the window admits; at least 1, at most [`MAX_ALLOWED`].
    pub allowed: u32,
    /// Time until the window frees up (whole seconds), at most [`MAX_RESET`].
    pub reset: Duration,
}

/// Reads the three `inin-ratelimit-*` header values. All three must be present and be whole
/// numbers (spaces around them are ignored); `allowed` must not be 0. A value past its bound
/// is clamped: `count` to `u32::MAX`, `allowed` to [`MAX_ALLOWED`], `reset` to [`MAX_RESET`].
/// Anything else yields `None`, and the pacer keeps what it knew.
pub fn parse_rate_headers(
    count: Option<&str>,
    allowed: Option<&str>,
    reset: Option<&str>,
) -> Option<RateHeaders> {
    let count = whole_number(count?)?;
    let allowed = whole_number(allowed?)?;
    let reset = whole_number(reset?)?;
    if allowed == 0 {
        return None;
    }
    Some(RateHeaders {
        count: u32::try_from(count).unwrap_or(u32::MAX),
        allowed: u32::try_from(allowed)
            .unwrap_or(MAX_ALLOWED)
            .min(MAX_ALLOWED),
        reset: Duration::from_secs(reset).min(MAX_RESET),
    })
}

/// Digits only; a number past `u64` (digits only, so merely huge) reads as `u64::MAX`.
fn whole_number(text: &str) -> Option<u64> {
    let text = text.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(text.parse().unwrap_or(u64::MAX))
}

/// Whether a new request may leave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// Now.
    Now,
    /// Not before this instant (always later than the `now` asked about): the rate budget or a
    /// 429's `Retry-After`. Ask again then.
    At(Instant),
    /// Only once a request in flight has finished: the in-flight limit is reached.
    WhenOneFinishes,
}

/// How a request came back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Feedback {
    /// The reply's `inin-ratelimit-*` headers, if it had them all.
    pub rate: Option<RateHeaders>,
    /// The reply was a 429.
    pub rate_limited: bool,
    /// The 429's `Retry-After`, parsed (`retry::parse_retry_after`).
    pub retry_after: Option<Duration>,
}

/// Figures of a pacing that holds the run back ([`Pacer::holding_back`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slow {
    pub allowed: u32,
    pub window: Duration,
    /// One request leaves every this long.
    pub spacing: Duration,
    /// `--parallel`.
    pub max_in_flight: u32,
}

/// The pacing state of one run (one token).
#[derive(Clone, Debug)]
pub struct Pacer {
    /// `--parallel`: the in-flight limit never exceeds it.
    max_in_flight: u32,
    /// The additive-increase, multiplicative-decrease in-flight limit, in `[1, max_in_flight]`.
    limit: f64,
    /// How much slower than `allowed` per window requests leave, in
    /// `[MIN_STRETCH, MAX_STRETCH]`: up on a 429, slowly back down on each other reply.
    stretch: f64,
    /// The server's `allowed` per window, or [`ADVISORY_ALLOWED`] until a reply told it.
    allowed: u32,
    /// The window: the longest `reset` seen, or [`ADVISORY_WINDOW`] until a reply told it.
    window: Duration,
    /// When the window of the reply that set `window` ends, as it said.
    window_end: Instant,
    /// Whether a second reply confirmed `window` (its window ended where the first said).
    confirmed: bool,
    /// The longest window confirmed so far: an unconfirmed claim is trusted up to it.
    trusted: Duration,
    /// Whether `allowed` and `window` come from a reply.
    learned: bool,
    /// Requests of other clients in the window, at the last reply with headers (a lower bound).
    others: u32,
    /// The spacing that spreads what the server still grants over `reset`, while other clients
    /// share the window; zero otherwise.
    spread: Duration,
    /// When the last request left.
    last_start: Option<Instant>,
    /// No request leaves before this: a 429's `Retry-After`, or the spread budget.
    not_before: Instant,
    /// The end of the last 429's hold: a 429 that comes back before it answers a request that
    /// left before the first 429 was known, so it slows nothing down further.
    held_until: Option<Instant>,
    /// Requests started and not finished.
    outstanding: u32,
    /// When our replies of the last `window` came back, oldest first.
    replies: VecDeque<Instant>,
}

impl Pacer {
    /// A pacer for at most `max_in_flight` requests at once (0 is read as 1).
    pub fn new(max_in_flight: u32, now: Instant) -> Pacer {
        Pacer {
            max_in_flight: max_in_flight.max(1),
            limit: 1.0,
            stretch: MIN_STRETCH,
            allowed: ADVISORY_ALLOWED,
            window: ADVISORY_WINDOW,
            window_end: now,
            confirmed: false,
            trusted: Duration::ZERO,
            learned: false,
            others: 0,
            spread: Duration::ZERO,
            last_start: None,
            not_before: now,
            held_until: None,
            outstanding: 0,
            replies: VecDeque::new(),
        }
    }

    /// Whether a new request may leave at `now`, with `in_flight` requests under way.
    pub fn next_start(&self, now: Instant, in_flight: u32) -> Start {
        if in_flight >= self.in_flight_limit() {
            return Start::WhenOneFinishes;
        }
        let mut earliest = self.not_before;
        if let Some(last) = self.last_start {
            earliest = earliest.max(later(last, self.spacing()));
        }
        if earliest > now {
            Start::At(earliest)
        } else {
            Start::Now
        }
    }

    /// A request left at `now`.
    pub fn started(&mut self, now: Instant) {
        self.last_start = Some(self.last_start.map_or(now, |last| last.max(now)));
        self.outstanding = self.outstanding.saturating_add(1);
    }

    /// A request came back at `now`.
    pub fn finished(&mut self, now: Instant, feedback: Feedback) {
        self.outstanding = self.outstanding.saturating_sub(1);
        self.replies.push_back(now);
        if self.replies.len() > MAX_REMEMBERED {
            self.replies.pop_front();
        }
        if let Some(rate) = feedback.rate {
            self.learn(now, rate);
        }
        self.forget_replies_before(now);
        if feedback.rate_limited {
            let hold = feedback
                .retry_after
                .or(feedback.rate.map(|rate| rate.reset))
                .unwrap_or(DEFAULT_HOLD)
                .min(MAX_RETRY_AFTER);
            let until = later(now, hold);
            if self.held_until.is_none_or(|held| now >= held) {
                self.limit = (self.limit / 2.0).max(1.0);
                self.stretch = (self.stretch * STRETCH_ON_429).min(MAX_STRETCH);
            }
            self.held_until = Some(self.held_until.map_or(until, |held| held.max(until)));
            self.not_before = self.not_before.max(until);
        } else {
            let max = f64::from(self.max_in_flight);
            self.limit = (self.limit + 1.0 / self.limit).min(max);
            self.stretch = (self.stretch - STRETCH_RECOVERY).max(MIN_STRETCH);
        }
    }

    /// The in-flight limit now, in `[1, max_in_flight]`.
    pub fn in_flight_limit(&self) -> u32 {
        // `as` saturates, and `limit` stays within [1, max_in_flight] anyway.
        (self.limit as u32).clamp(1, self.max_in_flight)
    }

    /// The time between two requests leaving, at the rate the last reply allows.
    pub fn spacing(&self) -> Duration {
        let share = self.allowed.saturating_sub(self.others).max(1);
        let window = self.paced_window();
        // At most MAX_RESET × MAX_STRETCH: no overflow, and the fallback is never taken.
        let seconds = window.as_secs_f64() * self.stretch / f64::from(share);
        let even = Duration::try_from_secs_f64(seconds).unwrap_or(window);
        even.max(self.spread)
    }

    /// The window the spacing is worked out from: the one learned once confirmed; before, at
    /// most the longest confirmed one or the window that paces `allowed` at the documented
    /// rate, whichever is longer.
    fn paced_window(&self) -> Duration {
        if self.confirmed || !self.learned {
            return self.window;
        }
        let advisory = ADVISORY_WINDOW
            .saturating_mul(self.allowed)
            .checked_div(ADVISORY_ALLOWED)
            .unwrap_or(ADVISORY_WINDOW);
        self.window.min(self.trusted.max(advisory))
    }

    /// When the spacing holds the run far below what the requests in flight carry (one
    /// request every [`SLOW_SPACING`] or slower): the figures for the one line that says so.
    pub fn holding_back(&self) -> Option<Slow> {
        let spacing = self.spacing();
        (spacing >= SLOW_SPACING).then_some(Slow {
            allowed: self.allowed,
            window: self.paced_window(),
            spacing,
            max_in_flight: self.max_in_flight,
        })
    }

    /// Takes in a reply's `reset`: a first claim, a claim that a reply contradicts (its window
    /// ends well before the believed one, which still runs), a confirmation, or a longer claim.
    fn learn_window(&mut self, now: Instant, reset: Duration) {
        let end = later(now, reset);
        let believed = self.window_end;
        let contradicted = later(end, WINDOW_TOLERANCE) < believed && now < believed;
        if !self.learned || contradicted {
            self.window = reset;
            self.window_end = end;
            self.confirmed = false;
            return;
        }
        if end <= later(believed, WINDOW_TOLERANCE) && now < believed {
            self.confirmed = true;
            self.trusted = self.trusted.max(self.window);
        }
        if reset > self.window {
            self.window = reset;
            self.window_end = end;
            self.confirmed = false;
        } else if end > self.window_end {
            self.window_end = end;
        }
    }

    /// Takes in a reply's headers: the limit, the window, and how full the server's window is
    /// with requests that are not ours.
    fn learn(&mut self, now: Instant, rate: RateHeaders) {
        self.allowed = rate.allowed.clamp(1, MAX_ALLOWED);
        self.learn_window(now, rate.reset.clamp(MIN_WINDOW, MAX_RESET));
        self.learned = true;
        self.forget_replies_before(now);
        // Every request of ours the server counted in the window came back within it or is
        // still in flight: that many of `count` may be ours, the rest are other clients'.
        let ours = u32::try_from(self.replies.len())
            .unwrap_or(u32::MAX)
            .saturating_add(self.outstanding);
        self.others = rate.count.saturating_sub(ours);
        if self.others == 0 {
            // Our own spacing keeps the window within the limit; a full window is our doing.
            self.spread = Duration::ZERO;
            return;
        }
        let grants = self
            .allowed
            .saturating_sub(rate.count)
            .saturating_sub(self.outstanding);
        let left = rate.reset.min(self.paced_window());
        self.spread = left.checked_div(grants.saturating_add(1)).unwrap_or(left);
        self.not_before = self.not_before.max(later(now, self.spread));
    }

    /// Drops the replies that came back a whole window before `now`.
    fn forget_replies_before(&mut self, now: Instant) {
        let Some(edge) = now.checked_sub(self.window) else {
            return;
        };
        while self.replies.front().is_some_and(|&at| at <= edge) {
            self.replies.pop_front();
        }
    }
}

/// `at + wait`, or `at` if that instant is past what the clock can hold (it never is with the
/// bounded waits above).
fn later(at: Instant, wait: Duration) -> Instant {
    at.checked_add(wait).unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prop::{self, Rng};

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// One row of the header table: the three values as sent, and `count/allowed/reset` as
    /// read, or `none`.
    #[track_caller]
    fn check_headers(count: Option<&str>, allowed: Option<&str>, reset: Option<&str>, want: &str) {
        let got = match parse_rate_headers(count, allowed, reset) {
            Some(h) => format!("{}/{}/{}s", h.count, h.allowed, h.reset.as_secs()),
            None => "none".to_string(),
        };
        assert_eq!(got, want, "{count:?} {allowed:?} {reset:?}");
    }

    #[test]
    #[rustfmt::skip]
    fn header_table() {
        check_headers(Some("1"), Some("5"), Some("1"), "1/5/1s");
        check_headers(Some(" 7 "), Some("300"), Some(" 61 "), "7/300/61s");
        // A 429's count is one past the limit; a reply at the window's very end resets in 0 s.
        check_headers(Some("6"), Some("5"), Some("1"), "6/5/1s");
        check_headers(Some("0"), Some("5"), Some("0"), "0/5/0s");
        // All three or nothing.
        check_headers(None, Some("5"), Some("1"), "none");
        check_headers(Some("1"), None, Some("1"), "none");
        check_headers(Some("1"), Some("5"), None, "none");
        // A limit of nothing per window is no limit the pacer can follow.
        check_headers(Some("1"), Some("0"), Some("1"), "none");
        // Whole numbers only.
        check_headers(Some("-1"), Some("5"), Some("1"), "none");
        check_headers(Some("+1"), Some("5"), Some("1"), "none");
        check_headers(Some("1"), Some("1.5"), Some("1"), "none");
        check_headers(Some("1"), Some("1e3"), Some("1"), "none");
        check_headers(Some("1"), Some("0x10"), Some("1"), "none");
        check_headers(Some("1"), Some("5"), Some(""), "none");
        check_headers(Some("1"), Some("5"), Some("1 s"), "none");
        check_headers(Some("1"), Some("5"), Some("1٣"), "none");
        // Absurd values are clamped.
        check_headers(Some("99999999999999999999999"), Some("5"), Some("1"), "4294967295/5/1s");
        check_headers(Some("1"), Some("4294967296"), Some("1"), "1/10000/1s");
        check_headers(Some("1"), Some("10001"), Some("1"), "1/10000/1s");
        check_headers(Some("1"), Some("5"), Some("86400"), "1/5/3600s");
        check_headers(Some("1"), Some("5"), Some("99999999999999999999999"), "1/5/3600s");
    }

    /// One event of a decision row: `s<ms>` a request left; `f<ms>` one came back, `x<ms>` one
    /// came back 429; either may carry `:count/allowed/reset` headers and `~secs` Retry-After.
    fn apply(pacer: &mut Pacer, t0: Instant, event: &str) {
        let (kind, rest) = event.split_at(1);
        let (rest, retry_after) = match rest.split_once('~') {
            Some((rest, secs)) => (rest, Some(Duration::from_secs(secs.parse().unwrap()))),
            None => (rest, None),
        };
        let (at, rate) = match rest.split_once(':') {
            Some((at, headers)) => {
                let v: Vec<&str> = headers.split('/').collect();
                let rate = parse_rate_headers(Some(v[0]), Some(v[1]), Some(v[2]));
                (at, Some(rate.unwrap()))
            }
            None => (rest, None),
        };
        let at = t0 + ms(at.parse().unwrap());
        let feedback = |rate_limited| Feedback {
            rate,
            rate_limited,
            retry_after,
        };
        match kind {
            "s" => pacer.started(at),
            "f" => pacer.finished(at, feedback(false)),
            "x" => pacer.finished(at, feedback(true)),
            _ => panic!("unknown event {event}"),
        }
    }

    /// One row of the decision table: `--parallel`, the events so far, then the question (at
    /// `now_ms`, with `in_flight` under way) and the answer: `now`, `at <ms>` or `one`.
    #[track_caller]
    fn check(parallel: u32, events: &str, now_ms: u64, in_flight: u32, want: &str) {
        let t0 = Instant::now();
        let mut pacer = Pacer::new(parallel, t0);
        for event in events.split_whitespace() {
            apply(&mut pacer, t0, event);
        }
        let got = match pacer.next_start(t0 + ms(now_ms), in_flight) {
            Start::Now => "now".to_string(),
            Start::At(at) => format!("at {}", (at - t0).as_millis()),
            Start::WhenOneFinishes => "one".to_string(),
        };
        assert_eq!(
            got, want,
            "--parallel {parallel}: {events} | {now_ms} {in_flight}"
        );
    }

    #[test]
    #[rustfmt::skip]
    fn decision_table() {
        // One request at a time until the first reply.
        check(4, "", 0, 0, "now");
        check(4, "s0", 0, 1, "one");
        check(4, "s0", 5000, 1, "one");
        // Without headers, the documented 300 a minute: one every 210 ms (5 % to spare).
        check(4, "s0 f100", 100, 0, "at 210");
        check(4, "s0 f400", 400, 1, "now");
        // The headers tell the limit: 5 a second is one every 210 ms too.
        check(4, "s0 f400:1/5/1", 400, 0, "now");
        check(4, "s0 f100:1/5/1", 100, 0, "at 210");
        check(4, "s0 f100:1/50/1", 100, 0, "now");
        check(4, "s0 f10:1/50/1", 10, 0, "at 21");
        // The window is the longest reset seen; a reset of 0 is a window of a second.
        check(4, "s0 f100:1/300/60", 100, 0, "at 210");
        check(4, "s0 f100:1/300/30", 100, 0, "at 105");
        check(4, "s0 f100:1/300/30 s105 f200:2/300/60", 200, 0, "at 315");
        check(4, "s0 f100:1/300/60 s210 f300:2/300/59", 300, 0, "at 420");
        check(4, "s0 f100:1/5/0", 100, 0, "at 210");
        // One absurd reset (86400, read as 3600) paces no slower than 300 a minute until a
        // second reply confirms it, and a reply that contradicts it corrects it for good.
        check(4, "s0 f100:1/300/86400", 100, 0, "at 210");
        check(4, "s0 f100:1/300/86400 s210 f300:2/300/59", 300, 0, "at 416");
        check(4, "s0 f100:1/300/86400 s210 f300:2/300/59 s420 f500:3/300/59", 500, 0, "at 626");
        // A server that keeps saying it is believed, within MAX_RESET.
        check(4, "s0 f100:1/300/3600 s210 f300:2/300/3600", 300, 0, "at 12810");
        // Our requests in flight may not be counted yet; a full window of ours is no alarm.
        check(4, "s0 s210 f400:2/5/1", 400, 1, "at 420");
        check(4, "s0 s210 s420 f400:3/5/1", 400, 1, "at 630");
        check(4, "s0 f1 s210 s420 s630 s840 f900:5/5/1", 900, 1, "at 1050");
        // Additive increase: 1, 2, 2.5, 2.9, 3.24, 3.55, 3.83, 4 after each success; never past
        // --parallel.
        check(4, "s0 f1", 300, 1, "now");
        check(4, "s0 f1", 300, 2, "one");
        check(4, "s0 f1 s1 f2 s2 f3 s3 f4", 300, 2, "now");
        check(4, "s0 f1 s1 f2 s2 f3 s3 f4", 300, 3, "one");
        check(4, "s0 f1 s1 f2 s2 f3 s3 f4 s4 f5 s5 f6", 300, 3, "one");
        check(4, "s0 f1 s1 f2 s2 f3 s3 f4 s4 f5 s5 f6 s6 f7", 300, 3, "now");
        check(1, "s0 f1 s1 f2 s2 f3 s3 f4 s4 f5", 300, 1, "one");
        check(0, "s0 f1 s1 f2", 300, 1, "one");
        // A 429 halves the limit and holds every start until its Retry-After, else its reset,
        // else a second.
        check(4, "s0 f1 s1 f2 s2 f3 s3 f4 x5", 5000, 1, "one");
        check(4, "s0 f1 s1 f2 s2 f3 s3 f4 x5", 5000, 0, "now");
        // 429s answering requests that left before the first one came back are one event.
        check(4, "s0 f1 s1 f2 s2 f3 s3 f4 s4 f5 s5 f6 s6 f7 x8 x9", 5000, 1, "now");
        check(4, "s0 f1 s1 f2 s2 f3 s3 f4 s4 f5 s5 f6 s6 f7 x8 x2000", 5000, 1, "one");
        check(4, "s0 x400:6/5/1~2", 400, 0, "at 2400");
        check(4, "s0 s10 s20 s30 s40 s50 x400:6/5/3", 400, 0, "at 3400");
        check(4, "s0 x400", 400, 0, "at 1400");
        check(4, "s0 x100~0", 100, 0, "at 241");
        check(4, "s0 x400~999999999", 400, 0, "at 86400400");
        // Other clients in the window: our share is what they leave, and what the server still
        // grants is spread over its reset.
        check(4, "s0 f400:4/5/1", 400, 0, "at 900");
        check(4, "s0 f400:5/5/1", 400, 0, "at 1400");
        check(4, "s0 f400:5/5/1 s1400 f1800:1/5/1", 1800, 0, "now");
        check(4, "s0 f400:5/5/1 s1400 f1500:1/5/1", 1500, 0, "at 1610");
    }

    #[test]
    fn spacing_follows_the_limit_and_the_share() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new(4, t0);
        assert_eq!(pacer.spacing(), ms(210));
        assert_eq!(pacer.in_flight_limit(), 1);
        let headers = |count, allowed, reset| Feedback {
            rate: Some(RateHeaders {
                count,
                allowed,
                reset: Duration::from_secs(reset),
            }),
            ..Feedback::default()
        };
        pacer.started(t0);
        pacer.finished(t0 + ms(400), headers(1, 180, 61));
        // One reply alone paces no slower than the documented 300 a minute.
        assert_eq!(pacer.spacing().as_micros(), 210_000);
        // Three requests of other clients in a window of 180: ours is the rest.
        pacer.started(t0 + ms(400));
        pacer.finished(t0 + ms(800), headers(5, 180, 61));
        assert_eq!(pacer.spacing().as_micros(), 361_864);
        assert_eq!(pacer.in_flight_limit(), 2);
        // A 429 stretches the spacing by 15 %; 315 replies later it is back.
        let mut at = t0 + ms(800);
        pacer.started(at);
        pacer.finished(
            at,
            Feedback {
                rate_limited: true,
                ..headers(1, 180, 61)
            },
        );
        assert_eq!(pacer.spacing().as_micros(), 409_208);
        for _ in 0..314 {
            at += ms(1000);
            pacer.started(at);
            pacer.finished(at, headers(1, 180, 61));
        }
        assert!(pacer.spacing().as_micros() > 355_833);
        at += ms(1000);
        pacer.started(at);
        pacer.finished(at, headers(1, 180, 61));
        assert_eq!(pacer.spacing().as_micros(), 355_833);
    }

    /// Feedback with the three headers as a reply carries them.
    fn said(count: &str, allowed: &str, reset: &str) -> Feedback {
        Feedback {
            rate: parse_rate_headers(Some(count), Some(allowed), Some(reset)),
            ..Feedback::default()
        }
    }

    #[test]
    fn one_absurd_reset_neither_slows_the_run_nor_sticks() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new(4, t0);
        pacer.started(t0);
        pacer.finished(t0 + ms(100), said("1", "300", "86400"));
        assert_eq!(pacer.spacing(), ms(210));
        assert_eq!(pacer.holding_back(), None);
        pacer.started(t0 + ms(210));
        pacer.finished(t0 + ms(300), said("2", "300", "60"));
        assert_eq!(pacer.window, Duration::from_secs(60));
        assert_eq!(pacer.spacing(), ms(210));
        // The replies that follow agree with the corrected window: it stays.
        for n in 3..50u32 {
            let at = t0 + ms(u64::from(n) * 210);
            pacer.started(at);
            pacer.finished(at + ms(90), said(&n.to_string(), "300", "59"));
        }
        assert_eq!(pacer.spacing(), ms(210));
        assert_eq!(pacer.holding_back(), None);
    }

    #[test]
    fn a_slow_limit_the_server_keeps_saying_is_kept_and_told() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new(4, t0);
        pacer.started(t0);
        pacer.finished(t0 + ms(100), said("1", "300", "3600"));
        pacer.started(t0 + ms(210));
        pacer.finished(t0 + ms(300), said("2", "300", "3600"));
        assert_eq!(pacer.spacing(), ms(12_600));
        assert_eq!(
            pacer.holding_back(),
            Some(Slow {
                allowed: 300,
                window: Duration::from_secs(3600),
                spacing: ms(12_600),
                max_in_flight: 4,
            })
        );
    }

    #[test]
    fn prop_headers_never_panic_and_stay_bounded() {
        prop::run(|rng| {
            let value = |rng: &mut Rng| match rng.below(4) {
                0 => None,
                1 => Some(rng.huge().to_string()),
                2 => Some(rng.number_text()),
                _ => Some(rng.any_text()),
            };
            let (count, allowed, reset) = (value(rng), value(rng), value(rng));
            let got = parse_rate_headers(count.as_deref(), allowed.as_deref(), reset.as_deref());
            if let Some(h) = got {
                assert!((1..=MAX_ALLOWED).contains(&h.allowed), "{h:?}");
                assert!(h.reset <= MAX_RESET, "{h:?}");
            }
        });
    }

    #[test]
    fn prop_pacer_never_panics_and_never_answers_in_the_past() {
        prop::run(|rng| {
            let parallel = rng.below(6) as u32;
            let t0 = Instant::now();
            let mut now = t0;
            let mut pacer = Pacer::new(parallel, now);
            let mut in_flight = 0u32;
            for _ in 0..rng.below(60) {
                // Time moves forward by nothing, a little, or (rarely) days.
                let step = match rng.below(8) {
                    0 => Duration::ZERO,
                    1 => Duration::from_secs(rng.below(7 * 86_400)),
                    _ => ms(rng.below(2000)),
                };
                now = later(now, step);
                match rng.below(3) {
                    0 => {
                        pacer.started(now);
                        in_flight = in_flight.saturating_add(1);
                    }
                    1 => {
                        let rate = match rng.below(3) {
                            0 => None,
                            1 => Some(RateHeaders {
                                count: rng.huge() as u32,
                                allowed: rng.huge() as u32,
                                reset: Duration::from_secs(rng.huge()),
                            }),
                            _ => parse_rate_headers(
                                Some(&rng.below(12).to_string()),
                                Some(&rng.huge().to_string()),
                                Some(&rng.any_text()),
                            ),
                        };
                        let feedback = Feedback {
                            rate,
                            rate_limited: rng.below(3) == 0,
                            retry_after: (rng.below(2) == 0)
                                .then(|| Duration::from_secs(rng.huge())),
                        };
                        pacer.finished(now, feedback);
                        in_flight = in_flight.saturating_sub(1);
                    }
                    _ => {}
                }
                let asked = in_flight
                    .saturating_add(rng.below(3) as u32)
                    .saturating_sub(1);
                // Never faster than `allowed` per window, whatever the replies said, once a
                // second reply confirmed the window; one reply alone imposes no more than
                // the documented rate's spacing.
                let paced = pacer.paced_window();
                let fastest = paced.checked_div(pacer.allowed).unwrap();
                assert!(paced <= pacer.window, "{pacer:?}");
                if pacer.confirmed {
                    assert_eq!(paced, pacer.window, "{pacer:?}");
                }
                assert!(pacer.spacing() >= fastest, "{pacer:?}");
                let limit = pacer.in_flight_limit();
                assert!((1..=parallel.max(1)).contains(&limit), "limit {limit}");
                match pacer.next_start(now, asked) {
                    Start::Now => {}
                    Start::At(at) => {
                        assert!(at > now, "an answer in the past");
                        let wait = at - now;
                        assert!(wait <= MAX_RETRY_AFTER, "an absurd wait: {wait:?}");
                    }
                    Start::WhenOneFinishes => assert!(asked >= limit, "{asked} < {limit}"),
                }
            }
        });
    }

    /// When the server counts a request: on arrival (the real API), or when it answers, after
    /// the latency (the simulator).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Counted {
        OnArrival,
        OnAnswer,
    }

    /// The simulator's sliding window (`tests/sim/src/ratelimit.rs`): at most `allowed`
    /// admitted in any `window`; a refused request is not counted; `reset` is the whole seconds,
    /// rounded up and at least 1, until the oldest admitted request leaves.
    struct SlidingWindow {
        allowed: u64,
        window: Duration,
        admitted: VecDeque<Instant>,
    }

    /// The server's answer to one request: `(count, allowed, reset_secs, refused)`.
    type Verdict = (u64, u64, u64, bool);

    impl SlidingWindow {
        fn arrive(&mut self, now: Instant) -> Verdict {
            while let Some(&oldest) = self.admitted.front() {
                if now.saturating_duration_since(oldest) >= self.window {
                    self.admitted.pop_front();
                } else {
                    break;
                }
            }
            let held = self.admitted.len() as u64;
            let refused = held >= self.allowed;
            if !refused {
                self.admitted.push_back(now);
            }
            let oldest = self.admitted.front().copied().unwrap_or(now);
            let left = self.window.saturating_sub(now - oldest);
            let reset = (left.as_secs() + u64::from(left.subsec_nanos() > 0)).max(1);
            (held + 1, self.allowed, reset, refused)
        }
    }

    /// A simulated run: `parallel` workers against `allowed` per `window_ms`, each request
    /// answered after a latency drawn from `latency_ms`, until `successes` requests succeeded;
    /// `others_ms`, if set, is the period at which another client of the same org sends.
    #[derive(Clone, Copy)]
    struct Run {
        allowed: u64,
        window_ms: u64,
        latency_ms: (u64, u64),
        parallel: u32,
        counted: Counted,
        others_ms: Option<u64>,
        successes: u32,
        /// The `reset` the first reply says instead of the server's, if set.
        first_reset: Option<u64>,
    }

    #[derive(Debug)]
    struct Figures {
        sent: u32,
        refused: u32,
        /// Successes per second of virtual time.
        rate: f64,
        /// The share of our requests answered 429.
        refused_share: f64,
        /// The most requests in flight at once.
        peak_in_flight: usize,
    }

    /// Drives a `Pacer` through a run, virtual time jumping from event to event: a start the
    /// pacer allows, a reply, another client's request.
    fn simulate(run: &Run) -> Figures {
        let mut run = *run;
        let mut rng = Rng::new(prop::DEFAULT_SEED);
        let t0 = Instant::now();
        let mut now = t0;
        let mut pacer = Pacer::new(run.parallel, now);
        let mut server = SlidingWindow {
            allowed: run.allowed,
            window: ms(run.window_ms),
            admitted: VecDeque::new(),
        };
        // Requests in flight: when each is answered, and its verdict if already counted.
        let mut flights: Vec<(Instant, Option<Verdict>)> = Vec::new();
        let mut next_other = run.others_ms.map(|period| t0 + ms(period / 2));
        let (mut sent, mut refused, mut done, mut peak_in_flight) = (0u32, 0u32, 0u32, 0);
        while done < run.successes {
            assert!(
                sent < run.successes.saturating_mul(2),
                "the run does not converge"
            );
            let wake = loop {
                match pacer.next_start(now, flights.len() as u32) {
                    Start::Now => {
                        pacer.started(now);
                        sent += 1;
                        let (low, high) = run.latency_ms;
                        let latency = ms(low + rng.below(high - low + 1));
                        let verdict =
                            (run.counted == Counted::OnArrival).then(|| server.arrive(now));
                        flights.push((now + latency, verdict));
                        peak_in_flight = peak_in_flight.max(flights.len());
                        assert!(flights.len() <= run.parallel as usize);
                    }
                    Start::At(at) => {
                        assert!(at > now);
                        break Some(at);
                    }
                    Start::WhenOneFinishes => {
                        assert!(!flights.is_empty(), "waiting for nothing");
                        break None;
                    }
                }
            };
            let reply = flights.iter().map(|f| f.0).min();
            now = [wake, reply, next_other]
                .into_iter()
                .flatten()
                .min()
                .unwrap();
            if let (Some(at), Some(period)) = (next_other, run.others_ms) {
                if at == now {
                    server.arrive(now);
                    next_other = Some(now + ms(period));
                }
            }
            while let Some(i) = flights.iter().position(|f| f.0 == now) {
                let (_, verdict) = flights.swap_remove(i);
                let (count, allowed, mut reset, was_refused) =
                    verdict.unwrap_or_else(|| server.arrive(now));
                if let Some(first) = run.first_reset.take_if(|_| done + refused == 0) {
                    reset = first;
                }
                let feedback = Feedback {
                    rate: parse_rate_headers(
                        Some(&count.to_string()),
                        Some(&allowed.to_string()),
                        Some(&reset.to_string()),
                    ),
                    rate_limited: was_refused,
                    retry_after: was_refused.then(|| Duration::from_secs(reset)),
                };
                pacer.finished(now, feedback);
                if was_refused {
                    refused += 1;
                } else {
                    done += 1;
                }
            }
        }
        let elapsed = (now - t0).as_secs_f64();
        Figures {
            sent,
            refused,
            rate: f64::from(done) / elapsed,
            refused_share: f64::from(refused) / f64::from(sent),
            peak_in_flight,
        }
    }

    /// The bench's profile: 5 a second, 400 ms a request, four in flight.
    fn bench_profile() -> Run {
        Run {
            allowed: 5,
            window_ms: 1000,
            latency_ms: (400, 400),
            parallel: 4,
            counted: Counted::OnAnswer,
            others_ms: None,
            successes: 3000,
            first_reset: None,
        }
    }

    #[test]
    fn simulated_run_at_the_bench_profile_keeps_the_rate_and_few_429s() {
        for counted in [Counted::OnAnswer, Counted::OnArrival] {
            let figures = simulate(&Run {
                counted,
                ..bench_profile()
            });
            println!("5/s, 400 ms, --parallel 4, counted {counted:?}: {figures:?}");
            assert!(figures.sent >= 3000, "{figures:?}");
            assert!(figures.refused_share <= 0.01, "{figures:?}");
            assert!(figures.rate >= 0.9 * 5.0, "{figures:?}");
            assert!(figures.rate <= 5.0, "{figures:?}");
        }
    }

    #[test]
    fn simulated_run_one_at_a_time_is_bounded_by_the_latency() {
        let figures = simulate(&Run {
            parallel: 1,
            ..bench_profile()
        });
        println!("5/s, 400 ms, --parallel 1: {figures:?}");
        assert!(figures.rate <= 1.0 / 0.4 + 1e-9, "{figures:?}");
        assert!(figures.rate >= 0.99 / 0.4, "{figures:?}");
        assert_eq!(figures.refused, 0, "{figures:?}");
        assert_eq!(figures.peak_in_flight, 1, "{figures:?}");
    }

    #[test]
    fn simulated_run_at_the_real_api_limit() {
        // 300 a minute, detail pages taking 700 ms.
        let figures = simulate(&Run {
            allowed: 300,
            window_ms: 60_000,
            latency_ms: (700, 700),
            ..bench_profile()
        });
        println!("300/min, 700 ms, --parallel 4: {figures:?}");
        assert!(figures.refused_share <= 0.01, "{figures:?}");
        assert!(figures.rate >= 0.9 * 5.0, "{figures:?}");
    }

    /// Latencies that vary reach the server less evenly than the requests left: the counted
    /// requests bunch up, and the stretch has to grow past its 5 %.
    #[test]
    fn simulated_run_with_jittery_latency() {
        for counted in [Counted::OnAnswer, Counted::OnArrival] {
            let figures = simulate(&Run {
                latency_ms: (300, 500),
                counted,
                ..bench_profile()
            });
            println!("5/s, 300-500 ms, --parallel 4, counted {counted:?}: {figures:?}");
            assert!(figures.refused_share <= 0.01, "{figures:?}");
            assert!(figures.rate >= 0.75 * 5.0, "{figures:?}");
        }
    }

    /// The first reply alone says the window is a day: the run keeps its rate.
    #[test]
    fn simulated_run_after_one_absurd_reset() {
        let figures = simulate(&Run {
            first_reset: Some(86_400),
            ..bench_profile()
        });
        println!("5/s, 400 ms, --parallel 4, first reset 86400: {figures:?}");
        assert!(figures.refused_share <= 0.01, "{figures:?}");
        assert!(figures.rate >= 0.9 * 5.0, "{figures:?}");
    }

    #[test]
    fn simulated_run_beside_another_client() {
        // Another integration of the org sends two a second.
        let figures = simulate(&Run {
            others_ms: Some(500),
            ..bench_profile()
        });
        println!("5/s shared with 2/s, 400 ms, --parallel 4: {figures:?}");
        // The other client keeps its share; the spread over whole-second resets costs us half
        // of what it leaves.
        assert!(figures.refused_share <= 0.01, "{figures:?}");
        assert!(figures.rate >= 0.4 * 3.0, "{figures:?}");
    }
}
