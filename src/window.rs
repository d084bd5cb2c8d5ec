//! Time windows: the range `[from, to)` cut into half-open windows, each one details query.
//!
//! Pure: no clock, no I/O. Windows start at `from` and step by the window length; the last one
//! is cut short at `to`. A window decides which conversations it owns: those whose
//! `conversationStart` lies inside it. The API returns more than that (every conversation that
//! started on a UTC day the interval touches and overlaps it), so ownership is what makes
//! adjacent windows exactly-once. No input can make anything here panic: a zero step yields
//! the whole range as one window, and every sum is checked.

use std::time::Duration;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// The longest interval the details query accepts without filters.
pub const MAX_INTERVAL_NO_FILTER: Duration = Duration::from_secs(7 * 24 * 3600);
/// The longest interval the details query accepts with a filter.
pub const MAX_INTERVAL_WITH_FILTER: Duration = Duration::from_secs(31 * 24 * 3600);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub start: OffsetDateTime,
    pub end: OffsetDateTime,
}

impl Window {
    /// The `interval` field of a details query: `start/end` in UTC with milliseconds.
    pub fn interval(&self) -> String {
        format!("{}/{}", api_timestamp(self.start), api_timestamp(self.end))
    }

    /// Whether this window owns a conversation that started at `start`.
    pub fn owns(&self, start: OffsetDateTime) -> bool {
        self.start <= start && start < self.end
    }
}

/// Iterates the windows of `[from, to)` of length `step` (the last may be shorter). A zero
/// step, which validated arguments never give, is taken as no cut: one window.
pub fn split(from: OffsetDateTime, to: OffsetDateTime, step: Duration) -> Windows {
    Windows {
        next: from,
        to,
        step,
    }
}

/// The number of windows `split` yields, for progress reports.
pub fn count(from: OffsetDateTime, to: OffsetDateTime, step: Duration) -> u64 {
    if to <= from {
        return 0;
    }
    let span = (to - from).unsigned_abs().as_nanos();
    let windows = span.checked_div(step.as_nanos()).map_or(1, |whole| {
        whole + u128::from(!span.is_multiple_of(step.as_nanos()))
    });
    u64::try_from(windows).unwrap_or(u64::MAX)
}

pub struct Windows {
    next: OffsetDateTime,
    to: OffsetDateTime,
    step: Duration,
}

impl Iterator for Windows {
    type Item = Window;

    fn next(&mut self) -> Option<Window> {
        if self.next >= self.to {
            return None;
        }
        let start = self.next;
        // A step past what `time` can add, or past the calendar, reaches `to` in one window;
        // so does a zero step.
        let end = time::Duration::try_from(self.step)
            .ok()
            .filter(|step| step.is_positive())
            .and_then(|step| start.checked_add(step))
            .map_or(self.to, |end| end.min(self.to));
        self.next = end;
        Some(Window { start, end })
    }
}

/// A UTC timestamp as the API writes them: `2026-11-01T00:00:00.000Z`.
pub fn api_timestamp(t: OffsetDateTime) -> String {
    // Every time here is in UTC already (parsed as such or derived from one); a value that has
    // no UTC form in the calendar is shown as it is rather than panicking.
    let t = t.checked_to_offset(time::UtcOffset::UTC).unwrap_or(t);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// Parses a timestamp from the API (RFC 3339), in UTC; `None` for one the calendar cannot
/// hold in UTC.
pub fn parse_api_timestamp(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339)
        .ok()?
        .checked_to_offset(time::UtcOffset::UTC)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const HOUR: Duration = Duration::from_secs(3600);
    const DAY: Duration = Duration::from_secs(86_400);

    fn intervals(from: OffsetDateTime, to: OffsetDateTime, step: Duration) -> Vec<String> {
        split(from, to, step).map(|w| w.interval()).collect()
    }

    /// The windows of `[from, to)` by `step`, as intervals, are `want`.
    fn check(from: OffsetDateTime, to: OffsetDateTime, step: Duration, want: &[&str]) {
        assert_eq!(intervals(from, to, step), want);
        assert_eq!(count(from, to, step), want.len() as u64);
    }

    #[test]
    fn splits_evenly_unevenly_across_month_year_and_leap_day_and_in_utc() {
        let d = |s: &str| OffsetDateTime::parse(s, &Rfc3339).unwrap();
        #[rustfmt::skip]
        let rows: [(&str, &str, Duration, &[&str]); 5] = [
            ("2026-11-01T00:00:00Z", "2026-11-03T00:00:00Z", DAY,
                &["2026-11-01T00:00:00.000Z/2026-11-02T00:00:00.000Z", "2026-11-02T00:00:00.000Z/2026-11-03T00:00:00.000Z"]),
            ("2026-11-01T00:00:00Z", "2026-11-01T02:30:00Z", HOUR,
                &["2026-11-01T00:00:00.000Z/2026-11-01T01:00:00.000Z", "2026-11-01T01:00:00.000Z/2026-11-01T02:00:00.000Z", "2026-11-01T02:00:00.000Z/2026-11-01T02:30:00.000Z"]),
            ("2026-12-30T00:00:00Z", "2027-01-02T00:00:00Z", DAY,
                &["2026-12-30T00:00:00.000Z/2026-12-31T00:00:00.000Z", "2026-12-31T00:00:00.000Z/2027-01-01T00:00:00.000Z", "2027-01-01T00:00:00.000Z/2027-01-02T00:00:00.000Z"]),
            ("2028-02-28T00:00:00Z", "2028-03-01T00:00:00Z", DAY,
                &["2028-02-28T00:00:00.000Z/2028-02-29T00:00:00.000Z", "2028-02-29T00:00:00.000Z/2028-03-01T00:00:00.000Z"]),
            ("2026-11-01T06:00:00+02:00", "2026-11-01T08:00:00+02:00", HOUR,
                &["2026-11-01T04:00:00.000Z/2026-11-01T05:00:00.000Z", "2026-11-01T05:00:00.000Z/2026-11-01T06:00:00.000Z"]),
        ];
        for (from, to, step, want) in rows {
            check(d(from), d(to), step, want);
        }
    }

    #[test]
    fn windows_tile_the_range_without_gaps() {
        let from = datetime!(2026-11-01 00:00:00.250 UTC);
        let to = datetime!(2026-11-09 13:17 UTC);
        let step = Duration::from_secs(7 * 3600 + 13);
        let windows: Vec<Window> = split(from, to, step).collect();
        assert_eq!(windows.first().unwrap().start, from);
        assert_eq!(windows.last().unwrap().end, to);
        for pair in windows.windows(2) {
            assert_eq!(pair[0].end, pair[1].start);
        }
        assert_eq!(windows.len() as u64, count(from, to, step));
    }

    #[test]
    fn empty_range_yields_nothing() {
        let t = datetime!(2026-11-01 00:00 UTC);
        assert_eq!(split(t, t, HOUR).count(), 0);
        assert_eq!(count(t, t, HOUR), 0);
    }

    #[test]
    fn ownership_is_half_open() {
        let w = Window {
            start: datetime!(2026-11-01 00:00 UTC),
            end: datetime!(2026-11-02 00:00 UTC),
        };
        assert!(w.owns(datetime!(2026-11-01 00:00 UTC)));
        assert!(w.owns(datetime!(2026-11-01 23:59:59.999 UTC)));
        assert!(!w.owns(datetime!(2026-11-02 00:00 UTC)));
        assert!(!w.owns(datetime!(2026-10-31 23:59:59.999 UTC)));
    }

    /// A zero step made `split` loop for ever on empty windows (or assert): it is one window.
    #[test]
    fn zero_step_yields_the_whole_range_once() {
        let from = datetime!(2026-11-01 00:00 UTC);
        let to = datetime!(2026-11-03 00:00 UTC);
        let windows: Vec<Window> = split(from, to, Duration::ZERO).collect();
        assert_eq!(
            windows,
            [Window {
                start: from,
                end: to
            }]
        );
        assert_eq!(count(from, to, Duration::ZERO), 1);
    }

    #[test]
    fn steps_past_the_calendar_yield_one_window() {
        let from = datetime!(2026-11-01 00:00 UTC);
        let to = datetime!(2026-11-03 00:00 UTC);
        for step in [
            Duration::MAX,
            Duration::from_secs(u64::MAX / 2),
            Duration::from_secs(400 * 365 * 86_400 * 100),
        ] {
            let windows: Vec<Window> = split(from, to, step).collect();
            assert_eq!(
                windows,
                [Window {
                    start: from,
                    end: to
                }],
                "{step:?}"
            );
            assert_eq!(count(from, to, step), 1, "{step:?}");
        }
    }

    #[test]
    fn api_timestamps_round_trip() {
        let t = parse_api_timestamp("2026-11-01T09:12:03.512Z").unwrap();
        assert_eq!(api_timestamp(t), "2026-11-01T09:12:03.512Z");
        assert!(parse_api_timestamp("yesterday").is_none());
        let t = parse_api_timestamp("2026-11-01T09:12:03.5129+02:00").unwrap();
        assert_eq!(api_timestamp(t), "2026-11-01T07:12:03.512Z");
        assert_eq!(
            api_timestamp(datetime!(0001-01-01 00:00 UTC)),
            "0001-01-01T00:00:00.000Z"
        );
    }
}
