//! POSIX TZ strings (`CET-1CEST,M3.5.0,M10.5.0/3`) as RFC 8536 extends them: the rule a
//! TZif file's footer gives for instants past its table, and the form `TZ` may take.
//!
//! Pure: a string in, a `Rule` out; `Rule::offset_at` and `Rule::changes` are arithmetic on
//! Unix seconds. The grammar is `std offset [dst [offset] [,start[/time],end[/time]]]`, with a
//! date `Jn` (1–365, February 29 never counted), `n` (0–365, counted) or `Mm.w.d`, and a
//! time of day from −167 to 167 hours (RFC 8536 §3.3.1), so that a change at `/26` or `/-1`
//! is read as written. Nothing here can overflow: instants are clamped to ±10¹³ seconds
//! (about 300 000 years) before any calendar arithmetic.

use time::UtcOffset;

use super::Error;

/// Seconds either side of the epoch past which a rule is not computed (the value is clamped).
const LIMIT: i64 = 10_000_000_000_000;
const DAY: i64 = 86_400;

/// A POSIX TZ rule: standard time, and daylight-saving time with when it starts and ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    std: UtcOffset,
    dst: Option<Dst>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Dst {
    offset: UtcOffset,
    start: Change,
    end: Change,
}

/// When, in a year, a change happens: a day and seconds from that day's local midnight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Change {
    day: Day,
    time: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Day {
    /// `Jn`: 1 to 365, February 29 never counted.
    Julian1(i64),
    /// `n`: 0 to 365, February 29 counted.
    Julian0(i64),
    /// `Mm.w.d`: weekday `d` (0 = Sunday) of week `w` (5 = the last) of month `m`.
    Month { month: u8, week: u8, weekday: u8 },
}

impl Rule {
    /// A rule with one offset all year.
    pub fn fixed(offset: UtcOffset) -> Rule {
        Rule {
            std: offset,
            dst: None,
        }
    }

    /// The offset when the rule has one all year.
    pub fn fixed_offset(&self) -> Option<UtcOffset> {
        match &self.dst {
            None => Some(self.std),
            Some(dst) if dst.offset == self.std => Some(self.std),
            Some(_) => None,
        }
    }

    /// The offset from UTC in force at `t` (Unix seconds).
    pub fn offset_at(&self, t: i64) -> UtcOffset {
        let Some(dst) = &self.dst else {
            return self.std;
        };
        let t = t.clamp(-LIMIT, LIMIT);
        let year = year_of(t);
        // Two years back: with times of up to 167 hours, a year's changes can fall in the next.
        let events = self.events(year - 2, year + 1);
        match events.iter().rev().find(|(at, _)| *at <= t) {
            Some((_, true)) => dst.offset,
            _ => self.std,
        }
    }

    /// The instants in `(from, to]` at which the offset may change (a superset: some may
    /// change nothing).
    pub fn changes(&self, from: i64, to: i64) -> Vec<i64> {
        if self.dst.is_none() {
            return Vec::new();
        }
        let (from, to) = (from.clamp(-LIMIT, LIMIT), to.clamp(-LIMIT, LIMIT));
        let mut out: Vec<i64> = self
            .events(year_of(from) - 2, year_of(to) + 1)
            .into_iter()
            .map(|(at, _)| at)
            .filter(|at| from < *at && *at <= to)
            .collect();
        out.dedup();
        out
    }

    /// The changes of the years `first..=last`, as (instant, daylight-saving after it),
    /// in time order; at one instant the end comes before the start, so that a rule in
    /// daylight-saving time all year (`EST5EDT,0/0,J365/25`) stays in it.
    fn events(&self, first: i64, last: i64) -> Vec<(i64, bool)> {
        let Some(dst) = &self.dst else {
            return Vec::new();
        };
        let std = i64::from(self.std.whole_seconds());
        let daylight = i64::from(dst.offset.whole_seconds());
        let mut events = Vec::new();
        for year in first..=last {
            events.push((dst.end.instant(year) - daylight, false));
            events.push((dst.start.instant(year) - std, true));
        }
        events.sort_unstable();
        events
    }
}

impl Change {
    /// The local seconds (as if UTC) of this change in `year`.
    fn instant(&self, year: i64) -> i64 {
        let jan1 = days_from_civil(year, 1, 1);
        let leap = is_leap(year);
        let days = match self.day {
            Day::Julian1(n) => jan1 + n - 1 + i64::from(leap && n >= 60),
            Day::Julian0(n) => jan1 + n,
            Day::Month {
                month,
                week,
                weekday,
            } => {
                let first = days_from_civil(year, month, 1);
                let to_weekday = (i64::from(weekday) - weekday_of(first)).rem_euclid(7);
                let mut day = to_weekday + 7 * (i64::from(week) - 1);
                while day >= i64::from(month_len(year, month)) {
                    day -= 7;
                }
                first + day
            }
        };
        days * DAY + self.time
    }
}

/// Parses a POSIX TZ string, as a TZif footer or `TZ` holds it.
pub fn parse(s: &str) -> Result<Rule, Error> {
    let mut p = Parser { s: s.as_bytes() };
    p.name()?;
    let std = p.offset()?;
    if p.s.is_empty() {
        return Ok(Rule::fixed(std));
    }
    p.name()?;
    let offset = if p.s.first().is_some_and(|c| *c != b',') {
        p.offset()?
    } else {
        // One hour ahead of standard time; standard offsets stop at 24:59:59, so this fits.
        UtcOffset::from_whole_seconds(std.whole_seconds() + 3600).map_err(|_| BAD_OFFSET)?
    };
    if p.s.is_empty() {
        return Err(
            "names a daylight-saving time without a rule for it: add one, such as ,M3.2.0,M11.1.0",
        );
    }
    p.expect(b',')?;
    let start = p.change()?;
    p.expect(b',')?;
    let end = p.change()?;
    if !p.s.is_empty() {
        return Err("has text after its rule");
    }
    Ok(Rule {
        std,
        dst: Some(Dst { offset, start, end }),
    })
}

const BAD_OFFSET: Error = "has an offset that is not [+-]hh[:mm[:ss]] with hh at most 24";
const BAD_RULE: Error =
    "has a change that is not Jn (1-365), n (0-365) or Mm.w.d, with an optional /time";

struct Parser<'a> {
    s: &'a [u8],
}

impl Parser<'_> {
    /// A zone abbreviation: `<+0530>` or three or more letters.
    fn name(&mut self) -> Result<(), Error> {
        const BAD: Error = "has a zone abbreviation that is not <...> or three or more letters";
        let (len, skip) = if self.s.first() == Some(&b'<') {
            let len = self.s.iter().position(|c| *c == b'>').ok_or(BAD)?;
            let inner = &self.s[1..len];
            if !inner
                .iter()
                .all(|c| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'-')
            {
                return Err(BAD);
            }
            (len - 1, len + 1)
        } else {
            let len = self
                .s
                .iter()
                .take_while(|c| c.is_ascii_alphabetic())
                .count();
            (len, len)
        };
        if len < 3 {
            return Err(BAD);
        }
        self.s = &self.s[skip..];
        Ok(())
    }

    fn expect(&mut self, byte: u8) -> Result<(), Error> {
        match self.s.split_first() {
            Some((c, rest)) if *c == byte => {
                self.s = rest;
                Ok(())
            }
            _ => Err(BAD_RULE),
        }
    }

    /// A number of at most `digits` digits, at most `max`.
    fn number(&mut self, digits: usize, max: i64) -> Option<i64> {
        let len = self.s.iter().take_while(|c| c.is_ascii_digit()).count();
        if len == 0 || len > digits {
            return None;
        }
        let n = self.s[..len]
            .iter()
            .fold(0i64, |n, c| n * 10 + i64::from(c - b'0'));
        self.s = &self.s[len..];
        (n <= max).then_some(n)
    }

    /// `[+-]hh[:mm[:ss]]` in seconds, hours at most `max_hours`.
    fn clock(&mut self, max_hours: i64) -> Option<i64> {
        let sign = match self.s.first() {
            Some(b'-') => -1,
            Some(b'+') => 1,
            _ => 0,
        };
        if sign != 0 {
            self.s = &self.s[1..];
        }
        let digits = if max_hours > 99 { 3 } else { 2 };
        let mut secs = self.number(digits, max_hours)? * 3600;
        for unit in [60, 1] {
            if self.s.first() != Some(&b':') {
                break;
            }
            self.s = &self.s[1..];
            secs += self.number(2, 59)? * unit;
        }
        Some(if sign == -1 { -secs } else { secs })
    }

    /// A POSIX offset (positive west of Greenwich) as an offset from UTC.
    fn offset(&mut self) -> Result<UtcOffset, Error> {
        let west = self.clock(24).ok_or(BAD_OFFSET)?;
        // At most 24:59:59 either way, which `UtcOffset` holds.
        i32::try_from(-west)
            .ok()
            .and_then(|secs| UtcOffset::from_whole_seconds(secs).ok())
            .ok_or(BAD_OFFSET)
    }

    /// `date[/time]`.
    fn change(&mut self) -> Result<Change, Error> {
        let day = match self.s.first() {
            Some(b'J') => {
                self.s = &self.s[1..];
                Day::Julian1(self.number(3, 365).filter(|n| *n >= 1).ok_or(BAD_RULE)?)
            }
            Some(b'M') => {
                self.s = &self.s[1..];
                let month = self.number(2, 12).filter(|m| *m >= 1).ok_or(BAD_RULE)?;
                self.expect(b'.')?;
                let week = self.number(1, 5).filter(|w| *w >= 1).ok_or(BAD_RULE)?;
                self.expect(b'.')?;
                let weekday = self.number(1, 6).ok_or(BAD_RULE)?;
                // Each is at most 12 by now.
                let small = |n: i64| u8::try_from(n).unwrap_or(1);
                Day::Month {
                    month: small(month),
                    week: small(week),
                    weekday: small(weekday),
                }
            }
            _ => Day::Julian0(self.number(3, 365).ok_or(BAD_RULE)?),
        };
        let time = if self.s.first() == Some(&b'/') {
            self.s = &self.s[1..];
            self.clock(167).ok_or(BAD_RULE)?
        } else {
            2 * 3600
        };
        Ok(Change { day, time })
    }
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (H. Hinnant's
/// `days_from_civil`).
pub fn days_from_civil(year: i64, month: u8, day: u8) -> i64 {
    let (month, day) = (i64::from(month), i64::from(day));
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The year that holds Unix second `t` (in UTC).
fn year_of(t: i64) -> i64 {
    let days = t.div_euclid(DAY) + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let march_based_month = (5 * day_of_year + 2) / 153;
    era * 400 + year_of_era + i64::from(march_based_month >= 10)
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn month_len(year: i64, month: u8) -> u8 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// 0 = Sunday; 1970-01-01 was a Thursday.
fn weekday_of(days: i64) -> i64 {
    (days + 4).rem_euclid(7)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{datetime, offset};
    use time::OffsetDateTime;

    fn at(t: OffsetDateTime) -> i64 {
        t.unix_timestamp()
    }

    #[test]
    fn calendar_helpers_agree_with_the_time_crate() {
        for t in [
            datetime!(1970-01-01 00:00 UTC),
            datetime!(2000-02-29 12:00 UTC),
            datetime!(1600-03-01 00:00 UTC),
            datetime!(-0001-12-31 23:59:59 UTC),
            datetime!(2026-03-29 01:00 UTC),
            datetime!(9999-12-31 23:59:59 UTC),
        ] {
            assert_eq!(year_of(at(t)), i64::from(t.year()), "{t}");
            let days = days_from_civil(i64::from(t.year()), t.month().into(), t.day());
            assert_eq!(days, at(t).div_euclid(DAY), "{t}");
            assert_eq!(
                weekday_of(days),
                i64::from(t.weekday().number_days_from_sunday())
            );
        }
    }

    /// Each rule's changes in a year, written from the published dates.
    #[test]
    #[rustfmt::skip]
    fn rules_change_on_their_published_dates() {
        let rows: [(&str, [OffsetDateTime; 2], [UtcOffset; 2]); 8] = [
            // EU: last Sundays of March and October at 01:00 UTC.
            ("CET-1CEST,M3.5.0,M10.5.0/3", [datetime!(2026-03-29 01:00 UTC), datetime!(2026-10-25 01:00 UTC)], [offset!(+1), offset!(+2)]),
            // US: second Sunday of March, first of November, 02:00 local.
            ("EST5EDT,M3.2.0,M11.1.0", [datetime!(2026-03-08 07:00 UTC), datetime!(2026-11-01 06:00 UTC)], [offset!(-5), offset!(-4)]),
            // Lord Howe: first Sundays of October and April, 02:00 local, half an hour.
            ("<+1030>-10:30<+11>-11,M10.1.0,M4.1.0", [datetime!(2026-10-03 15:30 UTC), datetime!(2026-04-04 15:00 UTC)], [offset!(+10:30), offset!(+11)]),
            // Greenland: a change at −01:00, the Saturday before, local time.
            ("<-02>2<-01>,M3.5.0/-1,M10.5.0/0", [datetime!(2026-03-29 01:00 UTC), datetime!(2026-10-25 01:00 UTC)], [offset!(-2), offset!(-1)]),
            // Israel: the Friday before the last Sunday of March, as Thursday at 26:00.
            ("IST-2IDT,M3.4.4/26,M10.5.0", [datetime!(2026-03-27 00:00 UTC), datetime!(2026-10-24 23:00 UTC)], [offset!(+2), offset!(+3)]),
            // J60 is March 1 in every year; 59 is February 29 in a leap year.
            ("AAA3BBB,J60/0,J300/0", [datetime!(2028-03-01 03:00 UTC), datetime!(2028-10-27 02:00 UTC)], [offset!(-3), offset!(-2)]),
            ("AAA3BBB,59/0,299/0", [datetime!(2028-02-29 03:00 UTC), datetime!(2028-10-26 02:00 UTC)], [offset!(-3), offset!(-2)]),
            // Chile: the first Saturday of September at 24:00, that is the Sunday's midnight.
            ("<-04>4<-03>,M9.1.6/24,M4.1.6/24", [datetime!(2026-09-06 04:00 UTC), datetime!(2026-04-05 03:00 UTC)], [offset!(-4), offset!(-3)]),
        ];
        for (text, [start, end], [std, dst]) in rows {
            let rule = parse(text).unwrap();
            let (start, end) = (at(start), at(end));
            assert_eq!(rule.offset_at(start - 1), std, "{text} before its start");
            assert_eq!(rule.offset_at(start), dst, "{text} at its start");
            assert_eq!(rule.offset_at(end - 1), dst, "{text} before its end");
            assert_eq!(rule.offset_at(end), std, "{text} at its end");
            let year = at(datetime!(2026-01-01 00:00 UTC))..at(datetime!(2029-01-01 00:00 UTC));
            let changes = rule.changes(year.start, year.end);
            assert!(changes.contains(&start) && changes.contains(&end), "{text}: {changes:?}");
        }
    }

    #[test]
    fn daylight_saving_all_year_never_changes() {
        let rule = parse("EST5EDT,0/0,J365/25").unwrap();
        for t in [
            datetime!(2026-01-01 05:00 UTC),
            datetime!(2026-12-31 23:00 UTC),
            datetime!(2027-01-01 04:00 UTC),
            datetime!(2028-07-01 00:00 UTC),
        ] {
            assert_eq!(rule.offset_at(at(t)), offset!(-4), "{t}");
        }
    }

    #[test]
    #[rustfmt::skip]
    fn malformed_strings_are_refused() {
        for (text, want) in [
            ("", "abbreviation"), ("CE-1", "abbreviation"), ("<+1>-1", "abbreviation"),
            ("<+0530-5:30", "abbreviation"), ("CET", "offset"), ("CET-25", "offset"),
            ("CET-1:60", "offset"), ("CET-1CEST", "without a rule"),
            ("CET-1CEST,M3.5.0", "change"), ("CET-1CEST,M13.5.0,M10.5.0", "change"),
            ("CET-1CEST,M3.6.0,M10.5.0", "change"), ("CET-1CEST,M3.5.7,M10.5.0", "change"),
            ("CET-1CEST,J0,J365", "change"), ("CET-1CEST,366,J365", "change"),
            ("CET-1CEST,M3.5.0/168,M10.5.0", "change"), ("CET-1CEST,M3.5.0,M10.5.0 ", "after its rule"),
            ("CET-1CEST,M3.5.0,M10.5.0/3,", "after its rule"), ("CET-0001", "offset"),
        ] {
            let got = parse(text).unwrap_err();
            assert!(got.contains(want), "{text:?}: {got}");
        }
        assert_eq!(parse("UTC0").unwrap().fixed_offset(), Some(UtcOffset::UTC));
        assert_eq!(parse("<+0530>-5:30").unwrap().fixed_offset(), Some(offset!(+5:30)));
        assert_eq!(parse("CET-1CEST-1,M3.5.0,M10.5.0").unwrap().fixed_offset(), Some(offset!(+1)));
    }
}
