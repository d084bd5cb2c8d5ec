//! Time zones for `--tz`: the offset from UTC at an instant, the instant a local time names,
//! and where a local day starts.
//!
//! Pure core, thin shell. A `Zone` is built from a fixed offset (`+05:30`, `UTC`), a POSIX TZ
//! string (`posix.rs`) or the bytes of a TZif file (`tzif.rs`, whose footer rule covers the
//! instants past its table), and answers from that alone. `load` turns what a user wrote
//! (`Europe/Paris`, `local`, `+05:30`) into a zone through an environment lookup and a reader
//! of files passed in (`Outside`): it reads no environment and opens no file itself, refuses a
//! name that could leave the zoneinfo directory, and names the zone and every path it tried
//! when it fails. A fixed offset needs no file at all.
//!
//! Local times that a change of offset skips (a gap) or repeats (a fold) resolve by one rule:
//! a time in a gap is the first instant after the gap (the change itself), so a day that
//! starts in a gap starts at the first instant of that local day; a time in a fold is the
//! earlier of its two instants.

mod posix;
mod tzif;

use std::borrow::Cow;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use time::{Date, OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// What a malformed zone file or rule is told; the caller names the zone and the file.
pub type Error = &'static str;

/// The zoneinfo directory when `TZDIR` names none.
pub const ZONEINFO: &str = "/usr/share/zoneinfo";
/// The machine's zone when `TZ` is not set.
pub const LOCALTIME: &str = "/etc/localtime";

/// Past this, no offset can reach: `UtcOffset` holds at most 25:59:59.
const MAX_OFFSET: i64 = 26 * 3600;
const PAST_CALENDAR: Error = "lies outside the calendar (years -9999 to 9999)";

/// A time zone: the offset before its first transition, its transitions (Unix seconds,
/// strictly ascending, each with the offset from then on), and the rule for every instant
/// from the last transition on (or for all of them, without transitions).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Zone {
    name: Cow<'static, str>,
    initial: UtcOffset,
    transitions: Vec<(i64, UtcOffset)>,
    rule: Option<posix::Rule>,
}

/// Coordinated Universal Time: the zone the export uses unless told otherwise.
pub static UTC: Zone = Zone {
    name: Cow::Borrowed("UTC"),
    initial: UtcOffset::UTC,
    transitions: Vec::new(),
    rule: None,
};

impl Zone {
    /// The zone of one offset all year, named as `+05:30`.
    pub fn fixed(offset: UtcOffset) -> Zone {
        let (h, m, s) = offset.as_hms();
        let sign = if offset.is_negative() { '-' } else { '+' };
        let mut name = format!("{sign}{:02}:{:02}", h.unsigned_abs(), m.unsigned_abs());
        if s != 0 {
            name.push_str(&format!(":{:02}", s.unsigned_abs()));
        }
        Zone {
            name: Cow::Owned(name),
            initial: offset,
            transitions: Vec::new(),
            rule: None,
        }
    }

    /// The zone a TZif file describes, named `name`.
    pub fn from_tzif(name: &str, bytes: &[u8]) -> Result<Zone, Error> {
        let parsed = tzif::parse(bytes)?;
        Ok(Zone {
            name: Cow::Owned(name.to_string()),
            initial: parsed.initial,
            transitions: parsed.transitions,
            rule: parsed.rule,
        })
    }

    /// The zone a POSIX TZ string describes (`CET-1CEST,M3.5.0,M10.5.0/3`), named `name`.
    pub fn from_posix(name: &str, rule: &str) -> Result<Zone, Error> {
        let rule = posix::parse(rule)?;
        Ok(Zone {
            name: Cow::Owned(name.to_string()),
            initial: rule.offset_at(0),
            transitions: Vec::new(),
            rule: Some(rule),
        })
    }

    /// The zone as it was named: `Europe/Paris`, `+05:30`, `UTC`, `local:/etc/localtime`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The offset, when the zone has one at every instant.
    pub fn fixed_offset(&self) -> Option<UtcOffset> {
        if !self.transitions.is_empty() {
            return None;
        }
        match &self.rule {
            None => Some(self.initial),
            Some(rule) => rule.fixed_offset(),
        }
    }

    /// The offset from UTC in force at `utc`.
    pub fn offset_at(&self, utc: OffsetDateTime) -> UtcOffset {
        self.offset_secs(utc.unix_timestamp())
    }

    /// `utc` as the zone's clocks show it; `None` when that lies outside the calendar.
    pub fn to_local(&self, utc: OffsetDateTime) -> Option<OffsetDateTime> {
        utc.checked_to_offset(self.offset_at(utc))
    }

    /// The instant (in UTC) at which the zone's clocks show `local`. A time in a gap is the
    /// first instant after the gap; a time in a fold the earlier of its two instants.
    pub fn local_to_utc(&self, local: PrimitiveDateTime) -> Result<OffsetDateTime, Error> {
        let wall = local.assume_utc();
        let (secs, nanos) = (wall.unix_timestamp(), wall.nanosecond());
        let segments = self.segments(secs - MAX_OFFSET, secs + MAX_OFFSET);
        let valid = segments
            .iter()
            .enumerate()
            .filter_map(|(i, (start, offset))| {
                let end = segments.get(i + 1).map_or(i64::MAX, |next| next.0);
                let utc = secs - offset;
                (*start <= utc && utc < end).then_some(utc)
            });
        let (utc, nanos) = match valid.min() {
            Some(utc) => (utc, nanos),
            // In a gap: the first segment whose clocks start past `local` starts at the change.
            None => segments
                .iter()
                .find(|(start, offset)| start + offset > secs)
                .map(|(start, _)| (*start, 0))
                .ok_or(PAST_CALENDAR)?,
        };
        OffsetDateTime::from_unix_timestamp(utc)
            .ok()
            .and_then(|t| t.replace_nanosecond(nanos).ok())
            .ok_or(PAST_CALENDAR)
    }

    /// The first instant (in UTC) of the local day `date`.
    pub fn day_start(&self, date: Date) -> Result<OffsetDateTime, Error> {
        self.local_to_utc(date.midnight())
    }

    /// What decides the local days from `from` to `to`, as text for a resume's fingerprint:
    /// the name and the offsets in force over the range (with a day's margin either side),
    /// each with the Unix second it starts at: `Europe/Paris +3600 1774746000:+7200`. A zone
    /// whose rules change under a saved run (another `TZ`, a new tzdata) changes it exactly
    /// when the run's windows would change.
    pub fn fingerprint(&self, from: OffsetDateTime, to: OffsetDateTime) -> String {
        let (from, to) = (from.unix_timestamp(), to.unix_timestamp());
        let segments = self.segments(from - MAX_OFFSET, to.max(from) + MAX_OFFSET);
        let mut text = self.name.to_string();
        for (i, (start, offset)) in segments.iter().enumerate() {
            text.push_str(&match i {
                0 => format!(" {offset:+}"),
                _ => format!(" {start}:{offset:+}"),
            });
        }
        text
    }

    fn offset_secs(&self, t: i64) -> UtcOffset {
        let n = self.transitions.partition_point(|(at, _)| *at <= t);
        match (&self.rule, n.checked_sub(1)) {
            (Some(rule), _) if n == self.transitions.len() => rule.offset_at(t),
            (_, Some(last)) => self.transitions[last].1,
            (_, None) => self.initial,
        }
    }

    /// The offsets in force from `from` to `to`: (start, offset in seconds), the first
    /// starting at `from`, each next one where the offset changes.
    fn segments(&self, from: i64, to: i64) -> Vec<(i64, i64)> {
        let first = self.transitions.partition_point(|(at, _)| *at <= from);
        let last = self.transitions.partition_point(|(at, _)| *at <= to);
        let mut candidates: Vec<i64> = self.transitions[first..last.max(first)]
            .iter()
            .map(|(at, _)| *at)
            .collect();
        if let Some(rule) = &self.rule {
            let after = self
                .transitions
                .last()
                .map_or(from, |(at, _)| (*at).max(from));
            candidates.extend(rule.changes(after, to));
        }
        candidates.sort_unstable();
        let seconds = |t: i64| i64::from(self.offset_secs(t).whole_seconds());
        let mut out = vec![(from, seconds(from))];
        for at in candidates {
            let offset = seconds(at);
            if out.last().is_some_and(|(_, before)| *before != offset) {
                out.push((at, offset));
            }
        }
        out
    }
}

/// Reads `[+-]HH:MM` (`+05:30`, `-03:00`).
pub fn parse_offset(s: &str) -> Option<UtcOffset> {
    let b = s.as_bytes();
    let sign = match b.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits = |i: usize| -> Option<i8> {
        let pair = b.get(i..i + 2)?;
        pair.iter()
            .all(u8::is_ascii_digit)
            .then(|| ((pair[0] - b'0') * 10 + (pair[1] - b'0')) as i8)
    };
    if b.len() != 6 || b[3] != b':' {
        return None;
    }
    let (h, m) = (digits(1)?, digits(4)?);
    if m > 59 {
        return None;
    }
    UtcOffset::from_hms(sign * h, sign * m, 0).ok()
}

/// What `load` reads through: an environment lookup and a reader of whole files.
pub struct Outside<'a> {
    pub env: &'a dyn Fn(&str) -> Option<String>,
    pub read: &'a dyn Fn(&Path) -> io::Result<Vec<u8>>,
}

/// Why a zone could not be loaded; every one is a usage error.
#[derive(Debug)]
pub enum LoadError {
    /// Not a zone name, an offset, `UTC` or `local`.
    Name { zone: String, why: &'static str },
    /// No file at any of the paths tried.
    NotFound { zone: String, tried: Vec<PathBuf> },
    /// A file that exists but cannot be read.
    Unreadable {
        zone: String,
        path: PathBuf,
        cause: String,
    },
    /// A file (or, without a path, a POSIX TZ string) that is not a valid zone.
    Malformed {
        zone: String,
        path: Option<PathBuf>,
        why: Error,
    },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Name { zone, why } => write!(f, "'{}' {why}", shown(zone)),
            LoadError::NotFound { zone, tried } => {
                let tried: Vec<String> = tried.iter().map(|p| shown_path(p)).collect();
                write!(
                    f,
                    "unknown zone '{}': no file {}; name a zone such as Europe/Paris, set TZDIR \
                     to a zoneinfo directory, or give an offset such as +05:30",
                    shown(zone),
                    tried.join(" or ")
                )
            }
            LoadError::Unreadable { zone, path, cause } => write!(
                f,
                "zone '{}': cannot read {}: {}",
                shown(zone),
                shown_path(path),
                shown(cause)
            ),
            LoadError::Malformed { zone, path, why } => match path {
                Some(path) => write!(f, "zone '{}': {} {why}", shown(zone), shown_path(path)),
                None => write!(f, "zone '{}' {why}", shown(zone)),
            },
        }
    }
}

impl std::error::Error for LoadError {}

/// A value in a message: control characters escaped, at most 80 characters.
fn shown(value: &str) -> String {
    value.escape_debug().take(80).collect()
}

fn shown_path(path: &Path) -> String {
    path.display().to_string().escape_debug().collect()
}

/// The zone a user named: `UTC` or `Z`, an offset (`+05:30`), `local` (`TZ`, else
/// `/etc/localtime`) or an IANA name under `$TZDIR` or `/usr/share/zoneinfo`.
pub fn load(spec: &str, outside: &Outside) -> Result<Zone, LoadError> {
    if spec.eq_ignore_ascii_case("UTC") || spec.eq_ignore_ascii_case("Z") {
        return Ok(UTC.clone());
    }
    if spec.starts_with(['+', '-']) {
        return parse_offset(spec).map(Zone::fixed).ok_or(LoadError::Name {
            zone: spec.to_string(),
            why: "is not an offset: use +HH:MM or -HH:MM, such as +05:30",
        });
    }
    if spec == "local" {
        return local(outside);
    }
    let paths = zone_paths(spec, outside).map_err(|why| LoadError::Name {
        zone: spec.to_string(),
        why,
    })?;
    read_first(spec, spec, &paths, outside)
}

/// The machine's zone: `TZ` (a name, `:name`, a path or a POSIX TZ string; empty or `UTC`
/// is UTC), else `/etc/localtime`.
fn local(outside: &Outside) -> Result<Zone, LoadError> {
    let Some(tz) = (outside.env)("TZ") else {
        let name = format!("local:{LOCALTIME}");
        return read_first("local", &name, &[PathBuf::from(LOCALTIME)], outside);
    };
    let name = format!("local:TZ={tz}");
    let file = tz.strip_prefix(':').unwrap_or(&tz);
    // UTC needs no file: a container without zoneinfo often sets TZ=UTC.
    if file.is_empty() || file.eq_ignore_ascii_case("UTC") {
        return Ok(UTC.clone());
    }
    // A path in TZ is the machine's own setting: it may lie anywhere.
    if file.starts_with('/') {
        return read_first("local", &name, &[PathBuf::from(file)], outside);
    }
    let paths = zone_paths(file, outside);
    let by_file = match &paths {
        Ok(paths) => read_first(&tz, &name, paths, outside),
        Err(why) => Err(LoadError::Name {
            zone: tz.clone(),
            why,
        }),
    };
    let no_file = matches!(
        by_file,
        Err(LoadError::NotFound { .. } | LoadError::Name { .. })
    );
    if !no_file || tz.starts_with(':') {
        return by_file;
    }
    match Zone::from_posix(&name, &tz) {
        Ok(zone) => Ok(zone),
        // Shaped like a name: that there is no such zone is the news.
        Err(_) if paths.is_ok() => by_file,
        Err(why) => Err(LoadError::Malformed {
            zone: tz,
            path: None,
            why,
        }),
    }
}

/// The zoneinfo directories: `TZDIR` when set, then `/usr/share/zoneinfo`.
fn zoneinfo_dirs(outside: &Outside) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = (outside.env)("TZDIR")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .into_iter()
        .collect();
    if !dirs.iter().any(|d| d == Path::new(ZONEINFO)) {
        dirs.push(PathBuf::from(ZONEINFO));
    }
    dirs
}

/// The paths a zone name may be read from: the name under each zoneinfo directory, or, for
/// an absolute path, that path when it lies inside one. A name that is empty, has an empty
/// part, climbs (`..`) or holds a character no zone name holds is refused.
fn zone_paths(name: &str, outside: &Outside) -> Result<Vec<PathBuf>, &'static str> {
    let dirs = zoneinfo_dirs(outside);
    if name.starts_with('/') {
        let inside = dirs.iter().find_map(|dir| {
            let dir = dir.to_str()?.trim_end_matches('/');
            let rest = name.strip_prefix(dir)?.strip_prefix('/')?;
            Some((dir, rest))
        });
        let (dir, rest) = inside
            .ok_or("is a path outside the zoneinfo directory: name a zone such as Europe/Paris")?;
        check_name(rest)?;
        return Ok(vec![Path::new(dir).join(rest)]);
    }
    check_name(name)?;
    Ok(dirs.iter().map(|dir| dir.join(name)).collect())
}

fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.len() > 255 {
        return Err("is not a zone name: name one such as Europe/Paris");
    }
    for part in name.split('/') {
        if part.is_empty() {
            return Err(
                "has an empty part (// or a / at an end): name a zone such as Europe/Paris",
            );
        }
        if part == "." || part == ".." {
            return Err(
                "climbs out of the zoneinfo directory (. or ..): name a zone such as Europe/Paris",
            );
        }
        if !part
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'+' | b'.'))
        {
            return Err("holds a character no zone name holds: name a zone such as Europe/Paris");
        }
    }
    Ok(())
}

/// The zone in the first of `paths` that exists.
fn read_first(
    zone: &str,
    name: &str,
    paths: &[PathBuf],
    outside: &Outside,
) -> Result<Zone, LoadError> {
    for path in paths {
        match (outside.read)(path) {
            Ok(bytes) => {
                return Zone::from_tzif(name, &bytes).map_err(|why| LoadError::Malformed {
                    zone: zone.to_string(),
                    path: Some(path.clone()),
                    why,
                })
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) => {}
            Err(e) => {
                return Err(LoadError::Unreadable {
                    zone: zone.to_string(),
                    path: path.clone(),
                    cause: e.to_string(),
                })
            }
        }
    }
    Err(LoadError::NotFound {
        zone: zone.to_string(),
        tried: paths.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prop;
    use std::collections::HashMap;
    use time::macros::{date, datetime, offset};
    use time::Duration;

    /// A zone from the system's zoneinfo (`/usr/share/zoneinfo/<name>`), which the tzdata
    /// package installs.
    fn system(name: &str) -> Zone {
        let path = Path::new(ZONEINFO).join(name);
        let bytes = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (install the tzdata package)", path.display()));
        Zone::from_tzif(name, &bytes).unwrap()
    }

    /// The offset changes from `before` to `after` at `at`, exactly.
    #[track_caller]
    fn check_change(zone: &Zone, at: OffsetDateTime, before: UtcOffset, after: UtcOffset) {
        let name = zone.name();
        assert_eq!(
            zone.offset_at(at - Duration::SECOND),
            before,
            "{name} before {at}"
        );
        assert_eq!(zone.offset_at(at), after, "{name} at {at}");
    }

    /// The local day `date` runs from `start` to `end` (UTC).
    #[track_caller]
    fn check_day(zone: &Zone, date: Date, start: OffsetDateTime, end: OffsetDateTime) {
        let name = zone.name();
        assert_eq!(zone.day_start(date), Ok(start), "{name} {date} start");
        let next = date.next_day().unwrap();
        assert_eq!(zone.day_start(next), Ok(end), "{name} {date} end");
    }

    /// A zone's published facts: changes (instant, offset before, offset after) and local
    /// days (date, first instant, first instant of the next day).
    type Facts = (
        &'static str,
        &'static [(OffsetDateTime, UtcOffset, UtcOffset)],
        &'static [(Date, OffsetDateTime, OffsetDateTime)],
    );

    /// Reads /usr/share/zoneinfo/ Europe/Paris, Australia/Sydney, America/Chicago,
    /// Australia/Lord_Howe and America/Whitehorse. The dates are the published rules': EU,
    /// last Sundays of March and October at 01:00 UTC; New South Wales (and Lord Howe, whose
    /// daylight saving is half an hour), first Sundays of October and April at 02:00 local; US,
    /// second Sunday of March and first of November at 02:00 local; Yukon, −07:00 for good
    /// from 2020-03-08. 2090 lies past the files' tables (they end by 2037): the footer answers.
    #[test]
    #[rustfmt::skip]
    fn system_zones_change_on_their_published_dates() {
        const FACTS: [Facts; 5] = [
            ("Europe/Paris", &[
                (datetime!(2026-03-29 01:00 UTC), offset!(+1), offset!(+2)),
                (datetime!(2026-10-25 01:00 UTC), offset!(+2), offset!(+1)),
                (datetime!(2090-03-26 01:00 UTC), offset!(+1), offset!(+2)),
                (datetime!(2090-10-29 01:00 UTC), offset!(+2), offset!(+1)),
            ], &[
                (date!(2026-03-29), datetime!(2026-03-28 23:00 UTC), datetime!(2026-03-29 22:00 UTC)),
                (date!(2026-07-14), datetime!(2026-07-13 22:00 UTC), datetime!(2026-07-14 22:00 UTC)),
                (date!(2026-10-25), datetime!(2026-10-24 22:00 UTC), datetime!(2026-10-25 23:00 UTC)),
                (date!(2090-10-29), datetime!(2090-10-28 22:00 UTC), datetime!(2090-10-29 23:00 UTC)),
            ]),
            ("Australia/Sydney", &[
                (datetime!(2026-04-04 16:00 UTC), offset!(+11), offset!(+10)),
                (datetime!(2026-10-03 16:00 UTC), offset!(+10), offset!(+11)),
                (datetime!(2090-04-01 16:00 UTC), offset!(+11), offset!(+10)),
                (datetime!(2090-09-30 16:00 UTC), offset!(+10), offset!(+11)),
            ], &[
                (date!(2026-04-05), datetime!(2026-04-04 13:00 UTC), datetime!(2026-04-05 14:00 UTC)),
                (date!(2026-10-04), datetime!(2026-10-03 14:00 UTC), datetime!(2026-10-04 13:00 UTC)),
            ]),
            ("America/Chicago", &[
                (datetime!(2026-03-08 08:00 UTC), offset!(-6), offset!(-5)),
                (datetime!(2026-11-01 07:00 UTC), offset!(-5), offset!(-6)),
            ], &[
                (date!(2026-03-08), datetime!(2026-03-08 06:00 UTC), datetime!(2026-03-09 05:00 UTC)),
                (date!(2026-11-01), datetime!(2026-11-01 05:00 UTC), datetime!(2026-11-02 06:00 UTC)),
            ]),
            ("Australia/Lord_Howe", &[
                (datetime!(2026-04-04 15:00 UTC), offset!(+11), offset!(+10:30)),
                (datetime!(2026-10-03 15:30 UTC), offset!(+10:30), offset!(+11)),
            ], &[
                // 24.5 and 23.5 hours.
                (date!(2026-04-05), datetime!(2026-04-04 13:00 UTC), datetime!(2026-04-05 13:30 UTC)),
                (date!(2026-10-04), datetime!(2026-10-03 13:30 UTC), datetime!(2026-10-04 13:00 UTC)),
            ]),
            ("America/Whitehorse", &[
                (datetime!(2019-03-10 10:00 UTC), offset!(-8), offset!(-7)),
                (datetime!(2019-11-03 09:00 UTC), offset!(-7), offset!(-8)),
                (datetime!(2020-03-08 10:00 UTC), offset!(-8), offset!(-7)),
                // No change since: November 2020, 2026 and 2090 stay at −07:00.
                (datetime!(2020-11-01 09:00 UTC), offset!(-7), offset!(-7)),
                (datetime!(2026-11-01 09:00 UTC), offset!(-7), offset!(-7)),
                (datetime!(2090-07-01 00:00 UTC), offset!(-7), offset!(-7)),
            ], &[
                (date!(2026-03-08), datetime!(2026-03-08 07:00 UTC), datetime!(2026-03-09 07:00 UTC)),
            ]),
        ];
        for (name, changes, days) in FACTS {
            let zone = system(name);
            for (at, before, after) in changes {
                check_change(&zone, *at, *before, *after);
            }
            for (date, start, end) in days {
                check_day(&zone, *date, *start, *end);
            }
        }
        // The footer answered for 2090: the tables end before it.
        let paris = system("Europe/Paris");
        assert!(paris.transitions.last().unwrap().0 < datetime!(2038-01-01 00:00 UTC).unix_timestamp());
    }

    /// Reads /usr/share/zoneinfo/Europe/Paris. 02:30 on 2026-03-29 does not exist: it is the
    /// change itself. On 2026-10-25 it happens twice: the earlier, in summer time.
    #[test]
    #[rustfmt::skip]
    fn paris_gap_is_its_change_and_fold_its_earlier_instant() {
        let paris = system("Europe/Paris");
        let local = |t: PrimitiveDateTime| paris.local_to_utc(t);
        assert_eq!(local(datetime!(2026-03-29 02:30)), Ok(datetime!(2026-03-29 01:00 UTC)));
        assert_eq!(local(datetime!(2026-03-29 03:00)), Ok(datetime!(2026-03-29 01:00 UTC)));
        assert_eq!(local(datetime!(2026-03-29 01:59:59.5)), Ok(datetime!(2026-03-29 00:59:59.5 UTC)));
        assert_eq!(local(datetime!(2026-10-25 02:30)), Ok(datetime!(2026-10-25 00:30 UTC)));
        assert_eq!(local(datetime!(2026-10-25 03:00)), Ok(datetime!(2026-10-25 02:00 UTC)));
    }

    /// Reads /usr/share/zoneinfo/America/Havana and Pacific/Apia. Cuba moves its clocks at
    /// midnight: March 8, 2026 starts at 01:00 CDT. Samoa skipped December 30, 2011.
    #[test]
    #[rustfmt::skip]
    fn a_day_that_starts_in_a_gap_starts_at_its_first_instant() {
        let havana = system("America/Havana");
        check_day(&havana, date!(2026-03-08), datetime!(2026-03-08 05:00 UTC), datetime!(2026-03-09 04:00 UTC));
        let apia = system("Pacific/Apia");
        check_change(&apia, datetime!(2011-12-30 10:00 UTC), offset!(-10), offset!(+14));
        check_day(&apia, date!(2011-12-29), datetime!(2011-12-29 10:00 UTC), datetime!(2011-12-30 10:00 UTC));
        assert_eq!(apia.day_start(date!(2011-12-30)), apia.day_start(date!(2011-12-31)));
    }

    /// Reads every zone named here from /usr/share/zoneinfo: the footer rule alone agrees
    /// with the file's table on every change from 2030 on.
    #[test]
    fn footer_rules_agree_with_the_tables_they_continue() {
        for name in [
            "Europe/Paris",
            "Australia/Sydney",
            "America/Chicago",
            "Australia/Lord_Howe",
            "America/Nuuk",
            "Asia/Jerusalem",
            "America/Santiago",
        ] {
            let zone = system(name);
            let rule = Zone {
                transitions: Vec::new(),
                ..zone.clone()
            };
            let from = datetime!(2030-01-01 00:00 UTC).unix_timestamp();
            let changes = zone.transitions.iter().filter(|(at, _)| *at >= from);
            assert!(changes.clone().count() >= 8, "{name}");
            for (at, _) in changes {
                for t in [*at - 1, *at] {
                    assert_eq!(zone.offset_secs(t), rule.offset_secs(t), "{name} at {t}");
                }
            }
        }
    }

    #[test]
    fn fingerprints_name_the_offsets_over_the_range() {
        let paris = Zone::from_posix("Europe/Paris", "CET-1CEST,M3.5.0,M10.5.0/3").unwrap();
        let (from, to) = (
            datetime!(2026-03-01 00:00 UTC),
            datetime!(2026-04-01 00:00 UTC),
        );
        // 2026-03-29 01:00 UTC is Unix second 1 774 746 000.
        assert_eq!(
            paris.fingerprint(from, to),
            "Europe/Paris +3600 1774746000:+7200"
        );
        let winter = (
            datetime!(2026-01-01 00:00 UTC),
            datetime!(2026-02-01 00:00 UTC),
        );
        assert_eq!(paris.fingerprint(winter.0, winter.1), "Europe/Paris +3600");
        let other = Zone::from_posix("Europe/Paris", "CET-1CEST,M3.4.0,M10.5.0/3").unwrap();
        assert_ne!(other.fingerprint(from, to), paris.fingerprint(from, to));
        assert_eq!(UTC.fingerprint(from, to), "UTC +0");
    }

    #[test]
    fn fixed_offsets_and_utc_need_no_file() {
        let env = |_: &str| None;
        let read = |p: &Path| -> io::Result<Vec<u8>> { panic!("read {}", p.display()) };
        let outside = Outside {
            env: &env,
            read: &read,
        };
        let load = |s: &str| load(s, &outside);
        let kolkata = load("+05:30").unwrap();
        assert_eq!(
            (kolkata.name(), kolkata.fixed_offset()),
            ("+05:30", Some(offset!(+5:30)))
        );
        assert_eq!(
            kolkata.day_start(date!(2026 - 11 - 01)),
            Ok(datetime!(2026-10-31 18:30 UTC))
        );
        assert_eq!(
            load("-03:00").unwrap().day_start(date!(2026 - 11 - 01)),
            Ok(datetime!(2026-11-01 03:00 UTC))
        );
        assert_eq!(load("UTC").unwrap(), UTC.clone());
        assert_eq!(load("Z").unwrap(), UTC.clone());
        assert_eq!(load("-00:00").unwrap().fixed_offset(), Some(UtcOffset::UTC));
        for bad in [
            "+5:30", "+05:60", "+0530", "+05:30 ", "-26:00", "+", "+05:3x",
        ] {
            let got = load(bad).unwrap_err().to_string();
            assert!(got.contains("is not an offset"), "{bad}: {got}");
        }
        assert_eq!(
            UTC.day_start(date!(-9999 - 01 - 01)),
            Ok(datetime!(-9999-01-01 00:00 UTC))
        );
        assert_eq!(
            load("+01:00").unwrap().day_start(date!(-9999 - 01 - 01)),
            Err(PAST_CALENDAR)
        );
        assert_eq!(
            load("-01:00").unwrap().day_start(date!(9999 - 12 - 31)),
            Ok(datetime!(9999-12-31 01:00 UTC))
        );
    }

    /// `load` with an environment and files held in memory.
    fn load_from(
        spec: &str,
        env: &HashMap<&str, &str>,
        files: &HashMap<PathBuf, Vec<u8>>,
    ) -> Result<Zone, LoadError> {
        let env = |k: &str| env.get(k).map(|v| v.to_string());
        let read = |p: &Path| files.get(p).cloned().ok_or(io::ErrorKind::NotFound.into());
        load(
            spec,
            &Outside {
                env: &env,
                read: &read,
            },
        )
    }

    #[test]
    #[rustfmt::skip]
    fn names_that_could_leave_the_zoneinfo_directory_are_refused_before_any_read() {
        let env = |k: &str| (k == "TZDIR").then(|| "/opt/zones".to_string());
        let read = |p: &Path| -> io::Result<Vec<u8>> { panic!("read {}", p.display()) };
        let outside = Outside { env: &env, read: &read };
        for (name, want) in [
            ("", "not a zone name"), ("../etc/passwd", "climbs out"), ("Europe/../../x", "climbs out"),
            ("./Europe/Paris", "climbs out"), ("Europe//Paris", "empty part"), ("Europe/Paris/", "empty part"),
            ("/etc/passwd", "outside the zoneinfo"), ("/usr/share/zoneinfo/../../etc/passwd", "climbs out"),
            ("/opt/zonesX/Europe/Paris", "outside the zoneinfo"), ("/usr/share/zoneinfo", "outside the zoneinfo"),
            ("Europe/Paris\n", "character"), ("Europe\\Paris", "character"), ("Europe/Pa ris", "character"),
        ] {
            let got = load(name, &outside).unwrap_err();
            assert!(matches!(got, LoadError::Name { .. }), "{name:?}: {got:?}");
            assert!(got.to_string().contains(want), "{name:?}: {got}");
        }
    }

    #[test]
    fn a_missing_zone_names_itself_and_every_path_tried() {
        let paris = tzif::sample(b'2');
        let env = HashMap::from([("TZDIR", "/opt/zones")]);
        let files = HashMap::from([
            (
                PathBuf::from("/usr/share/zoneinfo/Europe/Paris"),
                paris.clone(),
            ),
            (PathBuf::from("/opt/zones/Broken"), b"TZif2".to_vec()),
        ]);
        let got = load_from("Europe/Pariss", &env, &files)
            .unwrap_err()
            .to_string();
        assert_eq!(got, "unknown zone 'Europe/Pariss': no file /opt/zones/Europe/Pariss or /usr/share/zoneinfo/Europe/Pariss; name a zone such as Europe/Paris, set TZDIR to a zoneinfo directory, or give an offset such as +05:30");
        // Found in the second directory; an absolute path inside the default one.
        assert_eq!(
            load_from("Europe/Paris", &env, &files).unwrap().name(),
            "Europe/Paris"
        );
        assert!(load_from("/usr/share/zoneinfo/Europe/Paris", &env, &files).is_ok());
        let got = load_from("Broken", &env, &files).unwrap_err().to_string();
        assert!(
            got.starts_with("zone 'Broken': /opt/zones/Broken is cut short"),
            "{got}"
        );
        let denied =
            |_: &Path| -> io::Result<Vec<u8>> { Err(io::ErrorKind::PermissionDenied.into()) };
        let tzdir = |k: &str| (k == "TZDIR").then(|| "/opt/zones".to_string());
        let outside = Outside {
            env: &tzdir,
            read: &denied,
        };
        let got = load("Europe/Paris", &outside).unwrap_err().to_string();
        assert!(
            got.starts_with(
                "zone 'Europe/Paris': cannot read /opt/zones/Europe/Paris: permission denied"
            ),
            "{got}"
        );
    }

    #[test]
    fn local_reads_tz_then_etc_localtime() {
        let sample = tzif::sample(b'2');
        let files = HashMap::from([
            (PathBuf::from(LOCALTIME), sample.clone()),
            (
                PathBuf::from("/usr/share/zoneinfo/Europe/Paris"),
                sample.clone(),
            ),
            (PathBuf::from("/usr/share/zoneinfo/EST5EDT"), sample.clone()),
            (PathBuf::from("/srv/zone"), sample.clone()),
        ]);
        let cases: [(Option<&'static str>, Result<&str, &str>); 13] = [
            (None, Ok("local:/etc/localtime")),
            (Some(""), Ok("UTC")),
            (Some(":"), Ok("UTC")),
            (Some("UTC"), Ok("UTC")),
            (Some("Europe/Paris"), Ok("local:TZ=Europe/Paris")),
            (Some(":Europe/Paris"), Ok("local:TZ=:Europe/Paris")),
            (Some("/srv/zone"), Ok("local:TZ=/srv/zone")),
            (Some("EST5EDT"), Ok("local:TZ=EST5EDT")),
            (
                Some("CET-1CEST,M3.5.0,M10.5.0/3"),
                Ok("local:TZ=CET-1CEST,M3.5.0,M10.5.0/3"),
            ),
            (Some("JST-9"), Ok("local:TZ=JST-9")),
            (
                Some("Europe/Nowhere"),
                Err("unknown zone 'Europe/Nowhere': no file /usr/share/zoneinfo/Europe/Nowhere"),
            ),
            (Some(":JST-9"), Err("unknown zone ':JST-9'")),
            (
                Some("CET-1CEST,M3.5.0"),
                Err("zone 'CET-1CEST,M3.5.0' has a change"),
            ),
        ];
        for (tz, want) in cases {
            let env = HashMap::from_iter(tz.map(|tz| ("TZ", tz)));
            let got = load_from("local", &env, &files);
            match (got, want) {
                (Ok(zone), Ok(want)) => assert_eq!(zone.name(), want, "{tz:?}"),
                (Err(got), Err(want)) => {
                    assert!(got.to_string().starts_with(want), "{tz:?}: {got}")
                }
                (got, want) => panic!("{tz:?}: got {got:?}, want {want:?}"),
            }
        }
        let paris = Zone::from_posix("p", "CET-1CEST,M3.5.0,M10.5.0/3").unwrap();
        assert_eq!(
            paris.offset_at(datetime!(2026-07-01 00:00 UTC)),
            offset!(+2)
        );
        let (empty, no_files) = (HashMap::new(), HashMap::new());
        let got = load_from("local", &empty, &no_files).unwrap_err();
        assert!(
            got.to_string()
                .starts_with("unknown zone 'local': no file /etc/localtime"),
            "{got}"
        );
    }

    /// Zones to draw from in properties: made from rules and from a TZif file, none read
    /// from the system.
    fn drawn_zones() -> Vec<Zone> {
        let mut zones: Vec<Zone> = [
            "CET-1CEST,M3.5.0,M10.5.0/3",
            "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0",
            "<-02>2<-01>,M3.5.0/-1,M10.5.0/0",
            "IST-2IDT,M3.4.4/26,M10.5.0",
            "<-04>4<-03>,M9.1.6/24,M4.1.6/24",
            "EST5EDT,0/0,J365/25",
            "AAA-14BBB+10,J1/0,J365/167",
            "<+0530>-5:30",
        ]
        .iter()
        .map(|r| Zone::from_posix(r, r).unwrap())
        .collect();
        zones.push(Zone::from_tzif("sample", &tzif::sample(b'3')).unwrap());
        zones.push(UTC.clone());
        zones
    }

    fn drawn_instant(rng: &mut prop::Rng) -> OffsetDateTime {
        let (lo, hi) = match rng.below(3) {
            0 => (-377_705_116_800, 253_402_300_799), // the whole calendar
            1 => (0, 4_102_444_800),                  // 1970 to 2100
            _ => (790_000_000, 830_000_000),          // the sample's table and its end
        };
        let t = lo + rng.below((hi - lo) as u64) as i64;
        OffsetDateTime::from_unix_timestamp(t).unwrap()
    }

    #[test]
    fn prop_a_local_time_shown_maps_back_to_its_earliest_instant() {
        let zones = drawn_zones();
        prop::run(|rng| {
            let zone = rng.pick(&zones);
            let t = drawn_instant(rng);
            let Some(local) = zone.to_local(t) else {
                return;
            };
            let local = PrimitiveDateTime::new(local.date(), local.time());
            let Ok(back) = zone.local_to_utc(local) else {
                return;
            };
            // The earliest instant showing that local time: `t` itself or one of a fold.
            assert!(back <= t, "{} {t}: {back}", zone.name());
            let shown = zone.to_local(back).unwrap();
            assert_eq!(
                PrimitiveDateTime::new(shown.date(), shown.time()),
                local,
                "{}",
                zone.name()
            );
        });
    }

    #[test]
    fn prop_local_days_follow_each_other_and_any_local_time_resolves() {
        let zones = drawn_zones();
        prop::run(|rng| {
            let zone = rng.pick(&zones);
            let Some(local) = zone.to_local(drawn_instant(rng)) else {
                return;
            };
            let date = local.date();
            if let (Ok(start), Some(Ok(end))) = (
                zone.day_start(date),
                date.next_day().map(|d| zone.day_start(d)),
            ) {
                assert!(
                    start < end && end - start <= Duration::hours(50),
                    "{} {date}",
                    zone.name()
                );
                assert!(zone.to_local(start).unwrap().date() >= date);
            }
            // Any wall time at all, gaps and folds included, resolves without a panic.
            let wall = local.date().with_time(
                time::Time::from_hms(rng.below(24) as u8, rng.below(60) as u8, 0).unwrap(),
            );
            let _ = zone.local_to_utc(wall);
        });
    }

    #[test]
    fn prop_posix_strings_are_errors_or_zones_never_panics() {
        let seeds = [
            "CET-1CEST,M3.5.0,M10.5.0/3",
            "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0",
            "EST5EDT,J60/-167,300/167",
        ];
        prop::run(|rng| {
            let text = match rng.below(2) {
                0 => rng.any_text(),
                _ => {
                    let seed = *rng.pick(&seeds);
                    String::from_utf8_lossy(&rng.damaged_bytes(seed.as_bytes())).into_owned()
                }
            };
            if let Ok(zone) = Zone::from_posix("drawn", &text) {
                let t = drawn_instant(rng);
                let _ = zone.offset_at(t);
                if let Some(local) = zone.to_local(t) {
                    let _ = zone.local_to_utc(PrimitiveDateTime::new(local.date(), local.time()));
                    let _ = zone.day_start(local.date());
                }
            }
        });
    }
}
