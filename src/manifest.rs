//! `FILE.manifest.json` (`--manifest`): what a published export file holds and the run that
//! wrote it, for a loader that must not parse logs.
//!
//! Built once `FILE` is published, from the plan, the run's figures and the file itself read
//! back (rows, conversations per window, follow-ups, conversations in progress), so a resumed
//! run describes the whole file, not only its own part. Written atomically through
//! `disk::write_atomically`. Its field names are those of a dataset's `manifest.json`. It never
//! holds a secret, and it writes nothing but the manifest.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::columns;
use crate::exit::output;
use crate::export::{Mode, Plan, Route};
use crate::report::ExportStats;
use crate::sink::Format;
use crate::window::{self, Window};

/// `FILE.manifest.json`, beside the file it describes.
pub fn path(output: &Path) -> PathBuf {
    crate::disk::with_suffix(output, ".manifest.json")
}

/// What the manifest records of the run beyond the plan: the published file, the route
/// choice, the API and when the run started.
#[derive(Clone, Debug)]
pub struct Run {
    pub file: PathBuf,
    pub mode: Mode,
    pub api_base: String,
    pub started: OffsetDateTime,
}

/// One window of the plan: its interval, route and the conversations the file holds from it
/// (`None` when the file's columns carry no start time).
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct WindowEntry {
    pub start: String,
    pub end: String,
    pub route: &'static str,
    pub conversations: Option<u64>,
}

/// The manifest, field by field.
#[derive(Debug, Serialize)]
pub struct Manifest {
    pub tool: &'static str,
    pub version: &'static str,
    pub command: &'static str,
    pub mode: &'static str,
    pub api: String,
    pub format: &'static str,
    pub columns: Vec<String>,
    pub file: String,
    pub from: String,
    pub to: String,
    pub tz: String,
    pub from_local: String,
    pub to_local: String,
    pub ended_only: bool,
    pub split_at: String,
    pub jobs_route_used: bool,
    pub windows: Vec<WindowEntry>,
    pub follow_ups: Option<u64>,
    pub in_progress: Option<u64>,
    pub rows: BTreeMap<String, u64>,
    pub conversations_this_run: u64,
    pub follow_ups_this_run: u64,
    pub started: String,
    pub ended: String,
    pub exit_code: i32,
}

/// What the file says of one conversation: when it started and whether it has ended, where
/// its columns say so.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    pub start: Option<OffsetDateTime>,
    pub ended: Option<bool>,
}

/// The manifest of the run's published file, read back, the run ending at `ended`.
pub fn build(
    plan: &Plan,
    run: &Run,
    stats: &ExportStats,
    ended: OffsetDateTime,
) -> Result<Manifest> {
    let seen = read_back(&run.file, plan.format)?;
    Ok(describe(plan, run, stats, ended, &seen))
}

/// The manifest of an output whose conversations are `seen`, in order: the figures any
/// output's manifest shares (rows hold one table, `conversations`).
pub fn describe(
    plan: &Plan,
    run: &Run,
    stats: &ExportStats,
    ended: OffsetDateTime,
    seen: &[Seen],
) -> Manifest {
    let file = run.file.as_path();
    let windows: Vec<(Route, Window)> = plan.windows().collect();
    let located = seen.iter().any(|s| s.start.is_some()) || seen.is_empty();
    let mut counts = vec![0u64; windows.len()];
    let mut follow_ups = 0u64;
    for start in seen.iter().filter_map(|s| s.start) {
        match windows.iter().position(|(_, w)| w.owns(start)) {
            Some(i) => counts[i] = counts[i].saturating_add(1),
            None => follow_ups = follow_ups.saturating_add(1),
        }
    }
    let ends: Option<Vec<bool>> = seen.iter().map(|s| s.ended).collect();
    let local = |t| columns::local_timestamp(&plan.zone, t).unwrap_or_default();
    let header = crate::rows::header(&plan.columns, &plan.attributes);
    Manifest {
        tool: "genesys-export",
        version: env!("CARGO_PKG_VERSION"),
        command: "conversations",
        mode: run.mode.name(),
        api: run.api_base.to_string(),
        format: plan.format.name(),
        columns: match plan.format {
            Format::Csv => header.iter().map(|c| c.to_string()).collect(),
            Format::Jsonl => Vec::new(),
        },
        file: file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        from: window::api_timestamp(plan.from),
        to: window::api_timestamp(plan.to),
        tz: plan.zone.name().to_string(),
        from_local: local(plan.from),
        to_local: local(plan.to),
        ended_only: plan.ended_only,
        split_at: window::api_timestamp(plan.split_at.clamp(plan.from, plan.to)),
        jobs_route_used: windows.iter().any(|(route, _)| *route == Route::Jobs),
        windows: window_entries(&windows, &counts, located),
        follow_ups: located.then_some(follow_ups),
        in_progress: ends.map(|e| e.iter().filter(|ended| !**ended).count() as u64),
        rows: BTreeMap::from([("conversations".to_string(), seen.len() as u64)]),
        conversations_this_run: stats.conversations,
        follow_ups_this_run: stats.follow_ups.as_ref().map_or(0, |f| f.written),
        started: window::api_timestamp(run.started),
        ended: window::api_timestamp(ended),
        exit_code: 0,
    }
}

/// Each window with its route and, where the file's columns say when conversations
/// started, how many it holds.
fn window_entries(windows: &[(Route, Window)], counts: &[u64], located: bool) -> Vec<WindowEntry> {
    windows
        .iter()
        .zip(counts)
        .map(|((route, w), n)| WindowEntry {
            start: window::api_timestamp(w.start),
            end: window::api_timestamp(w.end),
            route: route.name(),
            conversations: located.then_some(*n),
        })
        .collect()
}

/// Writes `FILE.manifest.json` for the run's published file, atomically.
pub fn write(run: &Run, plan: &Plan, stats: &ExportStats) -> Result<()> {
    let manifest = build(plan, run, stats, OffsetDateTime::now_utc())?;
    let text = serde_json::to_vec_pretty(&manifest)?;
    let path = path(&run.file);
    crate::disk::write_atomically(&path, text, "manifest-write")
        .with_context(|| output(format!("cannot write the manifest {}", path.display())))
}

/// Each conversation of the file, in order.
pub fn read_back(file: &Path, format: Format) -> Result<Vec<Seen>> {
    let cannot = || output(format!("cannot read {} back", file.display()));
    let opened = File::open(file).with_context(cannot)?;
    match format {
        Format::Csv => read_csv(BufReader::with_capacity(64 * 1024, opened)).with_context(cannot),
        Format::Jsonl => read_jsonl(BufReader::new(opened)).with_context(cannot),
    }
}

fn read_csv(reader: impl std::io::Read) -> Result<Vec<Seen>> {
    let mut reader = csv::Reader::from_reader(reader);
    let headers = reader.headers()?.clone();
    let at = |name: &str| headers.iter().position(|h| h == name);
    let start = at("conversation_start").or_else(|| at("conversation_start_local"));
    let end = at("conversation_end");
    let mut seen = Vec::new();
    // Records read as bytes: only the start is read as text (a start that is not UTF-8 is
    // no start), not every field of every row.
    let mut record = csv::ByteRecord::new();
    while reader.read_byte_record(&mut record)? {
        seen.push(Seen {
            start: start
                .and_then(|i| record.get(i))
                .and_then(|s| std::str::from_utf8(s).ok())
                .and_then(window::parse_api_timestamp),
            ended: end.and_then(|i| record.get(i)).map(|e| !e.is_empty()),
        });
    }
    Ok(seen)
}

/// The two fields of a JSON Lines record the manifest reads.
#[derive(Deserialize)]
struct Times {
    #[serde(rename = "conversationStart")]
    start: Option<String>,
    #[serde(rename = "conversationEnd")]
    end: Option<serde::de::IgnoredAny>,
}

fn read_jsonl(reader: impl BufRead) -> Result<Vec<Seen>> {
    let mut seen = Vec::new();
    for line in reader.lines() {
        let times: Times = serde_json::from_str(&line?)?;
        seen.push(Seen {
            start: times.start.as_deref().and_then(window::parse_api_timestamp),
            ended: Some(times.end.is_some()),
        });
    }
    Ok(seen)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tz::Zone;
    use time::macros::datetime;

    /// Two Paris days, the first the autumn change (25 hours), in `1d` windows.
    fn paris_plan() -> Plan {
        let from = datetime!(2026-10-24 22:00 UTC);
        Plan {
            from,
            to: datetime!(2026-10-26 23:00 UTC),
            zone: Zone::from_posix("Europe/Paris", "CET-1CEST,M3.5.0,M10.5.0/3").unwrap(),
            window: window::DAY,
            page_size: 100,
            ended_only: false,
            filters: Default::default(),
            format: Format::Csv,
            columns: columns::default_columns(),
            attributes: Vec::new(),
            formulas: crate::formula::Formulas::Guarded,
            split_at: from,
            job_poll: std::time::Duration::from_secs(2),
            job_timeout: std::time::Duration::from_secs(3600),
        }
    }

    #[test]
    fn the_manifest_counts_each_window_follow_ups_and_conversations_in_progress() {
        let at = |t: OffsetDateTime, ended: bool| Seen {
            start: Some(t),
            ended: Some(ended),
        };
        let seen = [
            at(datetime!(2026-10-24 22:00 UTC), true),
            at(datetime!(2026-10-25 22:59:59.999 UTC), false),
            at(datetime!(2026-10-25 23:00 UTC), true),
            at(datetime!(2026-10-01 08:00 UTC), true),
        ];
        let run = Run {
            file: PathBuf::from("/data/day.csv"),
            mode: Mode::Query,
            api_base: "https://api.example".into(),
            started: datetime!(2026-10-27 02:15 UTC),
        };
        let stats = ExportStats {
            conversations: 3,
            ..Default::default()
        };
        let m = describe(
            &paris_plan(),
            &run,
            &stats,
            datetime!(2026-10-27 02:16 UTC),
            &seen,
        );
        let windows: Vec<(&str, &str, Option<u64>)> = m
            .windows
            .iter()
            .map(|w| (w.start.as_str(), w.end.as_str(), w.conversations))
            .collect();
        assert_eq!(
            windows,
            [
                (
                    "2026-10-24T22:00:00.000Z",
                    "2026-10-25T23:00:00.000Z",
                    Some(2)
                ),
                (
                    "2026-10-25T23:00:00.000Z",
                    "2026-10-26T23:00:00.000Z",
                    Some(1)
                ),
            ]
        );
        assert_eq!((m.follow_ups, m.in_progress), (Some(1), Some(1)));
        assert_eq!(m.rows["conversations"], 4);
        assert_eq!(m.from_local, "2026-10-25T00:00:00.000+02:00");
        assert_eq!(m.to_local, "2026-10-27T00:00:00.000+01:00");
        assert_eq!(
            (m.tz.as_str(), m.file.as_str()),
            ("Europe/Paris", "day.csv")
        );
        assert_eq!(m.columns.len(), 12);
        let unlocated = describe(&paris_plan(), &run, &stats, run.started, &[Seen::default()]);
        assert_eq!((unlocated.follow_ups, unlocated.in_progress), (None, None));
        assert!(unlocated.windows.iter().all(|w| w.conversations.is_none()));
    }

    #[test]
    fn csv_rows_are_read_back_with_their_start_and_end() {
        let csv = "conversation_id,conversation_start,conversation_end\n\
                   a,2026-03-29T01:00:00.000Z,2026-03-29T01:05:00.000Z\n\
                   b,2026-03-29T02:00:00.000Z,\n";
        let seen = read_csv(csv.as_bytes()).unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].ended, Some(true));
        assert_eq!(seen[1].ended, Some(false));
        assert_eq!(
            seen[1].start,
            window::parse_api_timestamp("2026-03-29T02:00:00.000Z")
        );
        let ids_only = read_csv("conversation_id\na\n".as_bytes()).unwrap();
        assert_eq!(ids_only, [Seen::default()]);
    }

    #[test]
    fn json_lines_are_read_back_with_their_start_and_end() {
        let text = "{\"conversationId\":\"a\",\"conversationStart\":\"2026-03-29T01:00:00.000Z\"}\n\
                    {\"conversationId\":\"b\",\"conversationStart\":\"2026-03-29T02:00:00.000Z\",\"conversationEnd\":\"2026-03-29T03:00:00.000Z\"}\n";
        let seen = read_jsonl(text.as_bytes()).unwrap();
        assert_eq!(
            seen.iter().map(|s| s.ended).collect::<Vec<_>>(),
            [Some(false), Some(true)]
        );
        assert!(read_jsonl("not json\n".as_bytes()).is_err());
    }
}
