//! Times and durations as a user writes them and as messages show them.
//!
//! Pure: `now` is passed in. Times come back in UTC. `parse_time` reads `--from`/`--to` (RFC 3339, a date, `today`,
//! `yesterday`, `now`); `parse_duration` reads `30s`, `15m`, `1h30m`, `7d`, `250ms`;
//! `format_duration` writes them back compactly for logs and messages. Errors are short
//! value-free phrases (`is not a duration: …`) that the caller prefixes with the option and the
//! value, so that a hostile value never reaches a message unescaped. Nothing here can overflow:
//! a duration too large to represent saturates at `Duration::MAX`, which every bounded option
//! then refuses.

use std::time::Duration;

use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime, Time, UtcOffset};

/// What a malformed time or duration is told; the caller writes `--flag: 'value' {error}`.
pub type Error = &'static str;

/// Parses `--from`/`--to`: RFC 3339 with an offset, a date (midnight UTC), `today`, `yesterday`
/// or `now`.
pub fn parse_time(s: &str, now: OffsetDateTime) -> Result<OffsetDateTime, Error> {
    let s = s.trim();
    let midnight = |date: Date| date.with_time(Time::MIDNIGHT).assume_utc();
    let today = now.to_offset(UtcOffset::UTC).date();
    match s {
        "now" => return Ok(now),
        "today" => return Ok(midnight(today)),
        "yesterday" => {
            return today
                .previous_day()
                .map(midnight)
                .ok_or("has no day before it")
        }
        _ => {}
    }
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        // In UTC from here on; `9999-12-31T23:00:00-05:00` has no UTC form in the calendar.
        return t
            .checked_to_offset(UtcOffset::UTC)
            .ok_or("lies past the last day the calendar holds (9999-12-31)");
    }
    let date_format = time::macros::format_description!("[year]-[month]-[day]");
    if let Ok(date) = Date::parse(s, date_format) {
        return Ok(midnight(date));
    }
    if s.contains('T') && !s.ends_with('Z') && !s.ends_with('z') {
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
