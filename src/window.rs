//! Time windows: the range `[from, to)` cut into half-open windows, each one details query.
//!
//! Pure: no clock, no I/O. Windows start at `from` and step by the window length; the last one
//! is cut short at `to`. In a zone (`split_in`), a one-day step is a local day, 23 or 25 hours
//! long on the days the offset changes. A window decides which conversations it owns: those
//! whose `conversationStart` lies inside it. The API returns more than that (every
//! conversation that started on a UTC day the interval touches and overlaps it), so ownership
//! is what makes adjacent windows exactly-once. No input can make anything here panic: a zero
//! step yields the whole range as one window, and every sum is checked.

use std::time::Duration;
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, PrimitiveDateTime};

use crate::tz::{self, Zone};

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

    /// Whether this window owns a conversation that started at `start`. Every instant the
    /// export compares is in UTC, where the calendar date and time order them as the instants
    /// do, without the conversion to UTC that comparing `OffsetDateTime`s makes each time.
    pub fn owns(&self, start: OffsetDateTime) -> bool {
        let utc = |t: OffsetDateTime| t.offset().is_utc().then(|| (t.date(), t.time()));
        match (utc(self.start), utc(start), utc(self.end)) {
            (Some(from), Some(at), Some(to)) => from <= at && at < to,
            _ => self.start <= start && start < self.end,
        }
    }
}

/// One day: in a zone of more than one offset, a window of this length is a local day.
pub const DAY: Duration = Duration::from_secs(86_400);

/// Iterates the windows of `[from, to)` of length `step` (the last may be shorter). A zero
/// step, which validated arguments never give, is taken as no cut: one window.
pub fn split(from: OffsetDateTime, to: OffsetDateTime, step: Duration) -> Windows<'static> {
    split_in(from, to, step, &tz::UTC)
}

/// The windows of `[from, to)` in a zone (`--tz`). A step of one day is a local day: the
/// windows start at `from` and at the same local time on each day after it (local midnights
/// when `from` is one), so a day that a change of offset shortens or lengthens is one window
/// of 23 or 25 hours, and a day the zone skips is no window at all. Any other step is a fixed
/// length from `from`. In a zone of one offset (UTC, `+05:30`) both are `split`.
pub fn split_in(
    from: OffsetDateTime,
    to: OffsetDateTime,
    step: Duration,
    zone: &Zone,
) -> Windows<'_> {
    let first = zone
        .to_local(from)
        .map(|local| PrimitiveDateTime::new(local.date(), local.time()));
    let days = match first {
        Some(first) if step == DAY && zone.fixed_offset().is_none() => Some(LocalDays {
            zone,
            first,
            count: 0,
        }),
        _ => None,
    };
    Windows {
        next: from,
        to,
        step,
        days,
    }
}

/// The number of windows `split` yields, for progress reports.
pub fn count(from: OffsetDateTime, to: OffsetDateTime, step: Duration) -> u64 {
    count_in(from, to, step, &tz::UTC)
}

/// The number of windows `split_in` yields.
pub fn count_in(from: OffsetDateTime, to: OffsetDateTime, step: Duration, zone: &Zone) -> u64 {
    let windows = split_in(from, to, step, zone);
    match windows.days {
        // Local days have no closed form: they are counted, one a day of the range.
        Some(_) => windows.count() as u64,
        None => fixed_count(from, to, step),
    }
}

/// The number of windows of a fixed length.
fn fixed_count(from: OffsetDateTime, to: OffsetDateTime, step: Duration) -> u64 {
    if to <= from {
        return 0;
    }
    let span = (to - from).unsigned_abs().as_nanos();
    let windows = span.checked_div(step.as_nanos()).map_or(1, |whole| {
        whole + u128::from(!span.is_multiple_of(step.as_nanos()))
    });
    u64::try_from(windows).unwrap_or(u64::MAX)
}

pub struct Windows<'z> {
    next: OffsetDateTime,
    to: OffsetDateTime,
    step: Duration,
    days: Option<LocalDays<'z>>,
}

/// Local days from the local time `first`; `count` of them are behind.
struct LocalDays<'z> {
    zone: &'z Zone,
    first: PrimitiveDateTime,
    count: i64,
}

impl LocalDays<'_> {
    /// The start of the first local day after `start` that starts later than it, or `None`
    /// past the calendar. A day the zone skips starts when the next one does, so it is passed.
    fn end_after(&mut self, start: OffsetDateTime) -> Option<OffsetDateTime> {
        loop {
            // Each day's start lies at least a day after the one before, less the offsets'
            // span: the loop ends within a few days, or at the calendar's end.
            self.count = self.count.checked_add(1)?;
            let wall = self.first.checked_add(time::Duration::days(self.count))?;
            let end = self.zone.local_to_utc(wall).ok()?;
            if end > start {
                return Some(end);
            }
        }
    }
}

impl Iterator for Windows<'_> {
    type Item = Window;

    fn next(&mut self) -> Option<Window> {
        if self.next >= self.to {
            return None;
        }
        let start = self.next;
        let end = match &mut self.days {
            Some(days) => days.end_after(start),
            // A step past what `time` can add, or past the calendar, reaches `to` in one
            // window; so does a zero step.
            None => time::Duration::try_from(self.step)
                .ok()
                .filter(|step| step.is_positive())
                .and_then(|step| start.checked_add(step)),
        };
        let end = end.map_or(self.to, |end| end.min(self.to));
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
    use crate::prop;
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

    /// The EU rule (Paris): 2026-03-29 lasts 23 hours, 2026-10-25 25 hours.
    fn paris() -> Zone {
        Zone::from_posix("Europe/Paris", "CET-1CEST,M3.5.0,M10.5.0/3").unwrap()
    }

    fn check_in(
        zone: &Zone,
        from: OffsetDateTime,
        to: OffsetDateTime,
        step: Duration,
        want: &[&str],
    ) {
        let got: Vec<String> = split_in(from, to, step, zone)
            .map(|w| w.interval())
            .collect();
        assert_eq!(got, want);
        assert_eq!(count_in(from, to, step, zone), want.len() as u64);
    }

    #[test]
    #[rustfmt::skip]
    fn a_day_window_is_a_local_day_of_23_or_25_hours() {
        let paris = paris();
        check_in(&paris, datetime!(2026-03-27 23:00 UTC), datetime!(2026-03-30 22:00 UTC), DAY, &[
            "2026-03-27T23:00:00.000Z/2026-03-28T23:00:00.000Z",
            "2026-03-28T23:00:00.000Z/2026-03-29T22:00:00.000Z",
            "2026-03-29T22:00:00.000Z/2026-03-30T22:00:00.000Z",
        ]);
        check_in(&paris, datetime!(2026-10-24 22:00 UTC), datetime!(2026-10-26 23:00 UTC), DAY, &[
            "2026-10-24T22:00:00.000Z/2026-10-25T23:00:00.000Z",
            "2026-10-25T23:00:00.000Z/2026-10-26T23:00:00.000Z",
        ]);
        // From 06:00 local, windows run from 06:00 to 06:00, and the last is cut at `to`.
        check_in(&paris, datetime!(2026-03-28 05:00 UTC), datetime!(2026-03-30 12:00 UTC), DAY, &[
            "2026-03-28T05:00:00.000Z/2026-03-29T04:00:00.000Z",
            "2026-03-29T04:00:00.000Z/2026-03-30T04:00:00.000Z",
            "2026-03-30T04:00:00.000Z/2026-03-30T12:00:00.000Z",
        ]);
        // Other lengths stay fixed, from the local start of the range.
        check_in(&paris, datetime!(2026-03-28 23:00 UTC), datetime!(2026-03-29 22:00 UTC), 6 * HOUR, &[
            "2026-03-28T23:00:00.000Z/2026-03-29T05:00:00.000Z",
            "2026-03-29T05:00:00.000Z/2026-03-29T11:00:00.000Z",
            "2026-03-29T11:00:00.000Z/2026-03-29T17:00:00.000Z",
            "2026-03-29T17:00:00.000Z/2026-03-29T22:00:00.000Z",
        ]);
        // In a zone of one offset a day is 24 hours from `from`.
        let india = Zone::fixed(time::macros::offset!(+05:30));
        check_in(&india, datetime!(2026-10-31 18:30 UTC), datetime!(2026-11-02 18:30 UTC), DAY, &[
            "2026-10-31T18:30:00.000Z/2026-11-01T18:30:00.000Z",
            "2026-11-01T18:30:00.000Z/2026-11-02T18:30:00.000Z",
        ]);
    }

    /// Reads /usr/share/zoneinfo/Pacific/Apia: Samoa skipped 2011-12-30, going from −10:00 to
    /// +14:00 at 2011-12-30 10:00 UTC. The skipped day is no window, not an empty one.
    #[test]
    fn a_day_the_zone_skips_is_no_window() {
        let path = "/usr/share/zoneinfo/Pacific/Apia";
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e} (install tzdata)"));
        let apia = Zone::from_tzif("Pacific/Apia", &bytes).unwrap();
        check_in(
            &apia,
            datetime!(2011-12-29 10:00 UTC),
            datetime!(2011-12-31 10:00 UTC),
            DAY,
            &[
                "2011-12-29T10:00:00.000Z/2011-12-30T10:00:00.000Z",
                "2011-12-30T10:00:00.000Z/2011-12-31T10:00:00.000Z",
            ],
        );
    }

    #[test]
    fn prop_a_window_owns_what_comparing_instants_says_it_owns() {
        crate::prop::run(|rng| {
            let mut instant = || {
                let seconds = rng.below(4_000_000_000) as i64 - 1_000_000_000;
                let at = OffsetDateTime::from_unix_timestamp(seconds).unwrap()
                    + time::Duration::nanoseconds(rng.below(1_000_000_000) as i64);
                match rng.below(4) {
                    0 => at.to_offset(time::UtcOffset::from_hms(-3, -30, 0).unwrap()),
                    _ => at,
                }
            };
            let (start, end, at) = (instant(), instant(), instant());
            let w = Window { start, end };
            for t in [at, start, end] {
                assert_eq!(w.owns(t), start <= t && t < end, "{w:?} {t}");
            }
        });
    }

    #[test]
    fn prop_zone_windows_tile_the_range_and_utc_ones_are_the_plain_ones() {
        let zones = [
            paris(),
            Zone::from_posix("Lord_Howe", "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0").unwrap(),
            Zone::from_posix("Santiago", "<-04>4<-03>,M9.1.6/24,M4.1.6/24").unwrap(),
            Zone::fixed(time::macros::offset!(-03:00)),
            tz::UTC.clone(),
        ];
        prop::run(|rng| {
            let zone = rng.pick(&zones);
            let from = datetime!(2026-01-01 00:00 UTC)
                + time::Duration::seconds(rng.below(2 * 366 * 86_400) as i64);
            let to = from + time::Duration::seconds(rng.below(40 * 86_400) as i64);
            let step = *rng.pick(&[DAY, HOUR, 7 * DAY, DAY + Duration::from_secs(1)]);
            let windows: Vec<Window> = split_in(from, to, step, zone).collect();
            assert_eq!(windows.len() as u64, count_in(from, to, step, zone));
            if from < to {
                assert_eq!((windows[0].start, windows.last().unwrap().end), (from, to));
            }
            for pair in windows.windows(2) {
                assert_eq!(pair[0].end, pair[1].start);
            }
            for w in &windows {
                let hours = (w.end - w.start).whole_minutes();
                assert!(
                    w.start < w.end && (step != DAY || hours <= 25 * 60),
                    "{}: {w:?}",
                    zone.name()
                );
            }
            if zone.fixed_offset().is_some() {
                assert_eq!(windows, split(from, to, step).collect::<Vec<_>>());
            }
        });
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
