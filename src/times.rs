//! Times and durations as a user writes them and as messages show them.
//!
//! Pure: `now` is passed in. Times come back in UTC. `parse_time` reads `--from`/`--to`
//! (RFC 3339, a date, `today`, `yesterday`, `now`), and `parse_time_in` the same in a zone
//! (`--tz`), where dates are local midnights and a time without an offset is a local time;
//! `parse_duration` reads `30s`, `15m`, `1h30m`, `7d`, `250ms`;
//! `format_duration` writes them back compactly for logs and messages. Errors are short
//! value-free phrases (`is not a duration: …`) that the caller prefixes with the option and the
//! value, so that a hostile value never reaches a message unescaped. Nothing here can overflow:
//! a duration too large to represent saturates at `Duration::MAX`, which every bounded option
//! then refuses.

use std::time::Duration;

use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime, PrimitiveDateTime, UtcOffset};

use crate::tz::{self, Zone};

/// What a malformed time or duration is told; the caller writes `--flag: 'value' {error}`.
pub type Error = &'static str;

/// Parses `--from`/`--to`: RFC 3339 with an offset, a date (midnight UTC), `today`,
/// `yesterday` or `now`.
#[cfg(test)]
pub fn parse_time(s: &str, now: OffsetDateTime) -> Result<OffsetDateTime, Error> {
    parse_time_in(s, now, None)
}

/// Parses `--from`/`--to` as `parse_time` does, but with a zone (`--tz`) dates, `today` and
/// `yesterday` are local midnights (the first instant of that local day) and a time without
/// an offset (`2026-11-01T06:00:00`) is a local time, read as `Zone::local_to_utc` resolves
/// it. Without one, a date is a UTC midnight and a time needs its offset.
pub fn parse_time_in(
    s: &str,
    now: OffsetDateTime,
    zone: Option<&Zone>,
) -> Result<OffsetDateTime, Error> {
    const PAST: Error = "lies past the last day the calendar holds (9999-12-31)";
    let s = s.trim();
    let in_zone = zone.unwrap_or(&tz::UTC);
    let midnight = |date: Date| in_zone.day_start(date).map_err(|_| PAST);
    let today = || in_zone.to_local(now).map(|t| t.date()).ok_or(PAST);
    match s {
        "now" => return Ok(now),
        "today" => return midnight(today()?),
        "yesterday" => return midnight(today()?.previous_day().ok_or("has no day before it")?),
        _ => {}
    }
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        // In UTC from here on; `9999-12-31T23:00:00-05:00` has no UTC form in the calendar.
        return t.checked_to_offset(UtcOffset::UTC).ok_or(PAST);
    }
    let date_format = time::macros::format_description!("[year]-[month]-[day]");
    if let Ok(date) = Date::parse(s, date_format) {
        return midnight(date);
    }
    let local_format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute][optional [:[second][optional [.[subsecond]]]]]"
    );
    if let (Some(zone), Ok(local)) = (zone, PrimitiveDateTime::parse(s, local_format)) {
        return zone.local_to_utc(local).map_err(|_| PAST);
    }
    if s.contains('T') && !s.ends_with('Z') && !s.ends_with('z') && zone.is_none() {
        return Err("has no UTC offset: add Z or one such as +02:00 (2026-11-01T06:00:00Z)");
    }
    Err("is not a time: use RFC 3339 (2026-11-01T06:00:00Z), a date (2026-11-01), today, yesterday or now")
}

/// Parses a duration such as `90s`, `15m`, `1h30m`, `7d`, `250ms` or `0s`. Whether zero, or
/// any other length, is acceptable is the caller's range to check.
pub fn parse_duration(s: &str) -> Result<Duration, Error> {
    const BAD: Error = "is not a duration: use a number and a unit, such as 30s, 15m, 1h or 1d";
    let s = s.trim();
    if s.is_empty() {
        return Err(BAD);
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or(BAD)?;
        if digits == 0 {
            return Err(BAD);
        }
        // Digits only: the one failure left is a number past u64, which saturates.
        let n: u64 = rest[..digits].parse().unwrap_or(u64::MAX);
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let part = match &rest[..unit_len] {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n.saturating_mul(60)),
            "h" => Duration::from_secs(n.saturating_mul(3600)),
            "d" => Duration::from_secs(n.saturating_mul(86_400)),
            _ => return Err(BAD),
        };
        rest = &rest[unit_len..];
        total = total.saturating_add(part);
    }
    Ok(total)
}

/// Renders a duration compactly for messages and logs: `1d`, `1h30m`, `2.5s`, `250ms`.
/// Whole seconds and whole milliseconds under a second read back through `parse_duration`.
pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs == 0 {
        return format!("{}ms", d.as_millis());
    }
    if d.subsec_millis() != 0 && secs < 60 {
        return format!("{:.1}s", d.as_secs_f64());
    }
    let parts = [
        (secs / 86_400, "d"),
        (secs % 86_400 / 3600, "h"),
        (secs % 3600 / 60, "m"),
        (secs % 60, "s"),
    ];
    let mut out = String::new();
    for (n, unit) in parts {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prop::{self, Rng};
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-26 13:45:10 UTC);

    #[track_caller]
    fn check_time(input: &str, want: Result<OffsetDateTime, &str>) {
        let got = parse_time(input, NOW);
        match (got, want) {
            (Ok(got), Ok(want)) => assert_eq!(got, want, "{input}"),
            (Err(got), Err(want)) => assert!(got.contains(want), "{input}: {got}"),
            (got, want) => panic!("{input}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    #[rustfmt::skip]
    fn times() {
        check_time("now", Ok(NOW));
        check_time("today", Ok(datetime!(2026-11-26 00:00 UTC)));
        check_time(" yesterday ", Ok(datetime!(2026-11-25 00:00 UTC)));
        check_time("2026-11-01", Ok(datetime!(2026-11-01 00:00 UTC)));
        check_time("2026-11-01T06:00:00+02:00", Ok(datetime!(2026-11-01 04:00 UTC)));
        check_time("2026-11-01T06:00:00.5Z", Ok(datetime!(2026-11-01 06:00:00.5 UTC)));
        check_time("2026-11-01T06:00:00", Err("no UTC offset"));
        check_time("2026-13-01", Err("is not a time"));
        check_time("last week", Err("RFC 3339"));
        check_time("", Err("is not a time"));
        check_time("9999-12-31T23:00:00-05:00", Err("past the last day"));
        check_time("0000-01-01T00:30:00+01:00", Ok(datetime!(-0001-12-31 23:30 UTC)));
    }

    #[test]
    #[rustfmt::skip]
    fn times_in_a_zone_are_local_days_and_local_times() {
        // The EU rule (Paris): summer time from 2026-03-29 01:00 UTC to 2026-10-25 01:00 UTC.
        let paris = Zone::from_posix("Europe/Paris", "CET-1CEST,M3.5.0,M10.5.0/3").unwrap();
        let at = |s: &str, now: OffsetDateTime| parse_time_in(s, now, Some(&paris));
        let now = datetime!(2026-03-29 12:00 UTC);
        assert_eq!(at("today", now), Ok(datetime!(2026-03-28 23:00 UTC)));
        assert_eq!(at("yesterday", now), Ok(datetime!(2026-03-27 23:00 UTC)));
        assert_eq!(at("today", datetime!(2026-03-28 23:30 UTC)), Ok(datetime!(2026-03-28 23:00 UTC)));
        assert_eq!(at("2026-03-30", now), Ok(datetime!(2026-03-29 22:00 UTC)));
        assert_eq!(at("2026-10-26", now), Ok(datetime!(2026-10-25 23:00 UTC)));
        assert_eq!(at("now", now), Ok(now));
        // In the gap: the change; in the fold: the earlier instant.
        assert_eq!(at("2026-03-29T02:30", now), Ok(datetime!(2026-03-29 01:00 UTC)));
        assert_eq!(at("2026-10-25T02:30:00.25", now), Ok(datetime!(2026-10-25 00:30:00.25 UTC)));
        assert_eq!(at("2026-11-01T06:00:00", now), Ok(datetime!(2026-11-01 05:00 UTC)));
        assert_eq!(at("2026-11-01T06:00:00Z", now), Ok(datetime!(2026-11-01 06:00 UTC)));
        assert_eq!(at("2026-11-01T06:00:00+02:00", now), Ok(datetime!(2026-11-01 04:00 UTC)));
        assert!(at("2026-11-01T25:00", now).unwrap_err().contains("is not a time"));
        // Sydney: daylight saving ends on 2026-04-05, so that day lasts 25 hours.
        let sydney = Zone::from_posix("Australia/Sydney", "AEST-10AEDT,M10.1.0,M4.1.0/3").unwrap();
        let now = datetime!(2026-04-05 00:00 UTC);
        assert_eq!(parse_time_in("today", now, Some(&sydney)), Ok(datetime!(2026-04-04 13:00 UTC)));
        assert_eq!(parse_time_in("2026-04-06", now, Some(&sydney)), Ok(datetime!(2026-04-05 14:00 UTC)));
        // A fixed offset needs no rule.
        let india = Zone::fixed(time::macros::offset!(+05:30));
        assert_eq!(parse_time_in("2026-11-01", now, Some(&india)), Ok(datetime!(2026-10-31 18:30 UTC)));
    }

    /// In UTC, every time the default reads means the same instant, and a time without an
    /// offset is read as UTC instead of refused.
    #[test]
    fn prop_the_utc_zone_reads_times_as_the_default_does() {
        prop::run(|rng| {
            let s = format!(
                "{:04}-{:02}-{:02}{}",
                rng.pick(&[0, 1970, 2026, 9999]),
                rng.below(14),
                rng.below(33),
                rng.pick(&[
                    "",
                    "T06:00:00",
                    "T23:59:59.5",
                    "T06:00",
                    "T06:00:00Z",
                    "T06:00:00+02:00"
                ]),
            );
            let s = match rng.below(3) {
                0 => rng.pick(&["today", "yesterday", "now"]).to_string(),
                1 => rng.any_text(),
                _ => s,
            };
            let now = datetime!(2026-11-26 13:45:10 UTC);
            match parse_time(&s, now) {
                Ok(t) => assert_eq!(parse_time_in(&s, now, Some(&tz::UTC)), Ok(t), "{s}"),
                Err(e) if e.contains("no UTC offset") => {
                    let with_z = parse_time(&format!("{}Z", s.trim()), now);
                    if with_z.is_ok() {
                        assert_eq!(parse_time_in(&s, now, Some(&tz::UTC)), with_z, "{s}");
                    }
                }
                Err(_) => {}
            }
        });
    }

    #[track_caller]
    fn check_duration(input: &str, want: Result<Duration, &str>) {
        match (parse_duration(input), want) {
            (Ok(got), Ok(want)) => assert_eq!(got, want, "{input}"),
            (Err(got), Err(want)) => assert!(got.contains(want), "{input}: {got}"),
            (got, want) => panic!("{input}: got {got:?}, want {want:?}"),
        }
    }

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    #[rustfmt::skip]
    fn durations() {
        check_duration("30s", Ok(S(30)));
        check_duration("15m", Ok(S(900)));
        check_duration("1h30m", Ok(S(5400)));
        check_duration("7d", Ok(S(604_800)));
        check_duration("250ms", Ok(Duration::from_millis(250)));
        check_duration("1s500ms", Ok(Duration::from_millis(1500)));
        check_duration("", Err("is not a duration"));
        check_duration("15", Err("is not a duration"));
        check_duration("m", Err("is not a duration"));
        check_duration("1x", Err("is not a duration"));
        check_duration("1.5h", Err("is not a duration"));
        check_duration("-1h", Err("is not a duration"));
        check_duration("1h 30m", Err("is not a duration"));
        check_duration("1µs", Err("is not a duration"));
        check_duration("0s", Ok(Duration::ZERO));
        check_duration("0d0ms", Ok(Duration::ZERO));
    }

    #[test]
    #[rustfmt::skip]
    fn huge_durations_saturate_instead_of_overflowing() {
        check_duration("18446744073709551615d", Ok(S(u64::MAX)));
        check_duration("99999999999999999999999s", Ok(S(u64::MAX)));
        check_duration("18446744073709551615s1s", Ok(Duration::MAX));
        check_duration("18446744073709551615s999999999999ms", Ok(Duration::MAX));
    }

    #[track_caller]
    fn check_format(d: Duration, want: &str) {
        assert_eq!(format_duration(d), want);
    }

    #[test]
    #[rustfmt::skip]
    fn formats() {
        check_format(S(86_400), "1d");
        check_format(S(5400), "1h30m");
        check_format(Duration::from_millis(2500), "2.5s");
        check_format(Duration::from_millis(250), "250ms");
        check_format(Duration::ZERO, "0ms");
        check_format(S(8 * 86_400 + 61), "8d1m1s");
        check_format(Duration::MAX, "213503982334601d7h15s");
    }

    #[test]
    fn prop_parse_time_never_panics_and_gives_utc() {
        prop::run(|rng| {
            let s = match rng.below(2) {
                0 => rng.any_text(),
                _ => format!(
                    "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{}",
                    rng.pick(&[0, 1, 1970, 2026, 9999, 10000]),
                    rng.below(14),
                    rng.below(33),
                    rng.below(25),
                    rng.below(61),
                    rng.below(62),
                    rng.pick(&[
                        "Z",
                        "+23:59",
                        "-23:59",
                        "+00:00",
                        "",
                        ".999999999Z",
                        "+24:00"
                    ]),
                ),
            };
            if let Ok(t) = parse_time(&s, NOW) {
                assert!(t.offset().is_utc(), "{s}");
            }
        });
    }

    #[test]
    fn prop_parse_duration_never_panics_and_adds_up_its_parts() {
        prop::run(|rng| {
            let _ = parse_duration(&rng.any_text());
            let (a, b) = (rng.duration_text(), rng.duration_text());
            let (a, b) = (a.trim(), b.trim());
            if let (Ok(x), Ok(y)) = (parse_duration(a), parse_duration(b)) {
                let joined = format!("{a}{b}");
                assert_eq!(parse_duration(&joined), Ok(x.saturating_add(y)), "{joined}");
            }
        });
    }

    #[test]
    fn prop_format_duration_round_trips() {
        prop::run(|rng: &mut Rng| {
            // Whole seconds of any size, and whole milliseconds under a second.
            let d = if rng.below(4) == 0 {
                Duration::from_millis(rng.below(1000))
            } else {
                S(rng.huge())
            };
            let shown = format_duration(d);
            assert_eq!(parse_duration(&shown), Ok(d), "{d:?} shown as {shown}");
        });
    }
}
