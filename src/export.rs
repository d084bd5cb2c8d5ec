//! The export loop: windows → pages → conversations → sink.
//!
//! Generic over a `Source` of pages and queue names, so it runs in memory in unit tests and
//! against `http::Client` for real. It owns the exactly-once rules:
//! - a window keeps a conversation only if its `conversationStart` lies inside the window
//!   (the API also returns conversations of adjacent windows that overlap it), and
//! - within a window an id is written once, however often shifting pages repeat it.
//!
//! Memory is one page plus the current window's id set; every page is committed (flushed and
//! synced) before the next one is requested.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use serde_json::value::RawValue;
use time::OffsetDateTime;

use crate::api::{self, Conversation, DetailsPage, DetailsQuery, QueueListing};
use crate::exit::{code_of, Code};
use crate::http::Client;
use crate::report::{ExportStats, Log};
use crate::rows;
use crate::sink::{Format, Sink, Target};
use crate::window::{self, Window};

/// The details query refuses to page past this many results.
pub const RESULT_CAP: u64 = 100_000;
/// A window whose first page reports more hits than this is split in two before anything is
/// written. `totalHits` is approximate, so the margin below the cap is wide.
pub const SPLIT_THRESHOLD: u64 = 80_000;
/// Windows are not split below this length.
pub const MIN_SPLIT: Duration = Duration::from_secs(60);

/// Where pages and queue names come from.
pub trait Source {
    fn details_page(&mut self, query: &DetailsQuery) -> Result<DetailsPage>;
    /// The names of these queues (at most 100 ids). `None` when the client may not read queues.
    fn queues(&mut self, ids: &[String]) -> Result<Option<QueueListing>>;
    /// Retries made so far (for the per-window report).
    fn retries(&self) -> u64;
}

impl Source for Client {
    fn details_page(&mut self, query: &DetailsQuery) -> Result<DetailsPage> {
        self.post_json(api::DETAILS_QUERY_PATH, query).map_err(|e| {
            if code_of(&e) == Code::Forbidden {
                e.context("the OAuth client's role needs analytics:conversationDetail:view")
            } else {
                e
            }
        })
    }

    fn queues(&mut self, ids: &[String]) -> Result<Option<QueueListing>> {
        match self.get_json(&api::queue_lookup_path(ids)) {
            Ok(listing) => Ok(Some(listing)),
            Err(e) if code_of(&e) == Code::Forbidden => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn retries(&self) -> u64 {
        self.stats.total_retries()
    }
}

/// What to export.
#[derive(Clone, Debug)]
pub struct Plan {
    pub from: OffsetDateTime,
    pub to: OffsetDateTime,
    pub window: Duration,
    pub page_size: u32,
    pub ended_only: bool,
    pub format: Format,
}

/// Runs the whole export into `sink`.
pub fn run<S: Source, W: Target>(
    source: &mut S,
    sink: &mut Sink<W>,
    plan: &Plan,
    log: &Log,
) -> Result<ExportStats> {
    let mut stats = ExportStats::default();
    let mut names = QueueNames::default();
    let total = window::count(plan.from, plan.to, plan.window);
    sink.header()?;
    sink.commit()?;
    for (index, top) in window::split(plan.from, plan.to, plan.window).enumerate() {
        // Windows too big for the paging cap are replaced by their halves, in order.
        let mut stack = vec![top];
        while let Some(w) = stack.pop() {
            let retries_before = source.retries();
            let done = export_window(source, sink, plan, &w, &mut names, &mut stats, log)?;
            let Some(counts) = done else {
                let (first, second) = halves(&w);
                log.info(&format!(
                    "window {} reports more than {SPLIT_THRESHOLD} conversations; splitting it in two",
                    w.interval()
                ));
                stack.push(second);
                stack.push(first);
                continue;
            };
            stats.windows += 1;
            log.info(&format!(
                "window {} [{}/{total}]: {} conversations, {} pages, {} retries",
                w.interval(),
                index + 1,
                counts.conversations,
                counts.pages,
                source.retries() - retries_before
            ));
        }
    }
    Ok(stats)
}

struct WindowCounts {
    conversations: u64,
    pages: u64,
}

/// Exports one window; `None` means it must be split first (nothing was written).
fn export_window<S: Source, W: Target>(
    source: &mut S,
    sink: &mut Sink<W>,
    plan: &Plan,
    w: &Window,
    names: &mut QueueNames,
    stats: &mut ExportStats,
    log: &Log,
) -> Result<Option<WindowCounts>> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut counts = WindowCounts {
        conversations: 0,
        pages: 0,
    };
    for page_number in 1u32.. {
        let query = DetailsQuery::page(w.interval(), plan.page_size, page_number, plan.ended_only);
        let page = source.details_page(&query)?;
        counts.pages += 1;
        stats.pages += 1;
        let hits = page.total_hits.unwrap_or(0);
        if page_number == 1 && hits > SPLIT_THRESHOLD && w.end - w.start >= MIN_SPLIT * 2 {
            return Ok(None);
        }
        let raws = page.conversations.unwrap_or_default();
        let returned = raws.len();
        let mut kept: Vec<(Box<RawValue>, Conversation)> = Vec::with_capacity(returned);
        for raw in raws {
            let conversation: Conversation = serde_json::from_str(raw.get()).context(
                "a conversation in the details response does not have the expected shape",
            )?;
            let start =
                window::parse_api_timestamp(&conversation.conversation_start).ok_or_else(|| {
                    anyhow!(
                        "conversation {} has an unreadable conversationStart '{}'",
                        conversation.conversation_id,
                        conversation.conversation_start
                    )
                })?;
            if !w.owns(start) {
                stats.outside_window += 1;
                continue;
            }
            if !seen.insert(conversation.conversation_id.clone()) {
                stats.repeats += 1;
                continue;
            }
            kept.push((raw, conversation));
        }
        if plan.format == Format::Csv {
            let ids = kept.iter().flat_map(|(_, c)| rows::queue_ids(c));
            names.resolve(source, ids, log)?;
        }
        for (raw, conversation) in &kept {
            let row = match plan.format {
                Format::Csv => Some(rows::flatten(conversation, |id| names.get(id))),
                Format::Jsonl => None,
            };
            sink.write(raw, row.as_ref())?;
        }
        sink.commit()?;
        counts.conversations += kept.len() as u64;
        stats.conversations += kept.len() as u64;
        if returned < plan.page_size as usize {
            break;
        }
        if u64::from(page_number + 1) * u64::from(plan.page_size) > RESULT_CAP {
            return Err(anyhow!(
                "window {} holds more than {RESULT_CAP} conversations, the most the API pages through: use a smaller --window",
                w.interval()
            ));
        }
    }
    Ok(Some(counts))
}

fn halves(w: &Window) -> (Window, Window) {
    let middle = w.start + (w.end - w.start) / 2;
    (
        Window {
            start: w.start,
            end: middle,
        },
        Window {
            start: middle,
            end: w.end,
        },
    )
}

/// Queue names, looked up in bulk once per queue and cached for the run.
#[derive(Default)]
struct QueueNames {
    /// `None` for a queue the lookup did not return (deleted, or in a division out of reach).
    names: HashMap<String, Option<String>>,
    forbidden: bool,
}

impl QueueNames {
    fn get(&self, id: &str) -> Option<String> {
        self.names.get(id).cloned().flatten()
    }

    fn resolve<'a, S: Source>(
        &mut self,
        source: &mut S,
        ids: impl Iterator<Item = &'a str>,
        log: &Log,
    ) -> Result<()> {
        if self.forbidden {
            return Ok(());
        }
        let mut unknown: Vec<String> = Vec::new();
        for id in ids {
            if !self.names.contains_key(id) && !unknown.iter().any(|u| u == id) {
                unknown.push(id.to_string());
            }
        }
        for chunk in unknown.chunks(api::MAX_QUEUE_IDS_PER_LOOKUP) {
            let Some(listing) = source.queues(chunk)? else {
                self.forbidden = true;
                log.warn(
                    "queue names are left empty: the OAuth client's role lacks routing:queue:view",
                );
                return Ok(());
            };
            for queue in listing.entities {
                self.names.insert(queue.id, queue.name);
            }
            let missing: Vec<&str> = chunk
                .iter()
                .filter(|id| !self.names.contains_key(id.as_str()))
                .map(String::as_str)
                .collect();
            if !missing.is_empty() {
                log.warn(&format!(
                    "queue names are left empty for {} queue(s) not found (deleted, or in a division the OAuth client cannot see): {}",
                    missing.len(),
                    missing.join(", ")
                ));
            }
            for id in missing {
                self.names.insert(id.to_string(), None);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Queue;
    use time::macros::datetime;

    /// An in-memory API: conversations as (id, start, end), paged like the real one, with the
    /// real interval semantics (overlap, within the start days the interval touches).
    struct Fake {
        conversations: Vec<(String, OffsetDateTime, OffsetDateTime)>,
        queue_lookups: Vec<Vec<String>>,
        queues_forbidden: bool,
        /// Reported instead of the true hit count, to force splits.
        inflate_hits: u64,
        queries: Vec<String>,
    }

    impl Fake {
        fn new(conversations: &[(&str, OffsetDateTime, OffsetDateTime)]) -> Fake {
            Fake {
                conversations: conversations
                    .iter()
                    .map(|(id, s, e)| (id.to_string(), *s, *e))
                    .collect(),
                queue_lookups: Vec::new(),
                queues_forbidden: false,
                inflate_hits: 0,
                queries: Vec::new(),
            }
        }
    }

    impl Source for Fake {
        fn details_page(&mut self, query: &DetailsQuery) -> Result<DetailsPage> {
            self.queries.push(query.interval.clone());
            let (a, b) = query.interval.split_once('/').unwrap();
            let (a, b) = (
                window::parse_api_timestamp(a).unwrap(),
                window::parse_api_timestamp(b).unwrap(),
            );
            let first_day = a.date();
            let last_day = (b - time::Duration::nanoseconds(1)).date();
            let matching: Vec<_> = self
                .conversations
                .iter()
                .filter(|(_, s, e)| {
                    *s < b && *e > a && s.date() >= first_day && s.date() <= last_day
                })
                .collect();
            let size = query.paging.page_size as usize;
            let skip = (query.paging.page_number as usize - 1) * size;
            let page: Vec<Box<RawValue>> = matching
                .iter()
                .skip(skip)
                .take(size)
                .map(|(id, s, e)| {
                    let json = serde_json::json!({
                        "conversationId": id,
                        "conversationStart": window::api_timestamp(*s),
                        "conversationEnd": window::api_timestamp(*e),
                        "participants": [{"sessions": [{"segments": [{"queueId": "q1"}, {"queueId": "q-gone"}]}]}],
                    });
                    RawValue::from_string(json.to_string()).unwrap()
                })
                .collect();
            Ok(DetailsPage {
                conversations: if page.is_empty() { None } else { Some(page) },
                total_hits: Some(matching.len() as u64 + self.inflate_hits),
            })
        }

        fn queues(&mut self, ids: &[String]) -> Result<Option<QueueListing>> {
            self.queue_lookups.push(ids.to_vec());
            if self.queues_forbidden {
                return Ok(None);
            }
            let entities = ids
                .iter()
                .filter(|id| *id == "q1")
                .map(|id| Queue {
                    id: id.clone(),
                    name: Some("Sales, \"EU\"".into()),
                })
                .collect();
            Ok(Some(QueueListing { entities }))
        }

        fn retries(&self) -> u64 {
            0
        }
    }

    fn plan(format: Format, window_secs: u64, page_size: u32) -> Plan {
        Plan {
            from: datetime!(2026-11-01 00:00 UTC),
            to: datetime!(2026-11-03 00:00 UTC),
            window: Duration::from_secs(window_secs),
            page_size,
            ended_only: false,
            format,
        }
    }

    fn export(fake: &mut Fake, plan: &Plan) -> (String, ExportStats) {
        let mut sink = Sink::new(Vec::new(), plan.format, "memory");
        let stats = run(fake, &mut sink, plan, &Log { quiet: true }).unwrap();
        (String::from_utf8(sink.finish().unwrap()).unwrap(), stats)
    }

    fn ids_of_csv(csv: &str) -> Vec<String> {
        csv.lines()
            .skip(1)
            .map(|l| l.split(',').next().unwrap().to_string())
            .collect()
    }

    fn sample() -> Fake {
        Fake::new(&[
            (
                "a",
                datetime!(2026-11-01 00:10 UTC),
                datetime!(2026-11-01 00:20 UTC),
            ),
            // Crosses the 01:00 window boundary: both windows see it, the first owns it.
            (
                "b",
                datetime!(2026-11-01 00:55 UTC),
                datetime!(2026-11-01 01:30 UTC),
            ),
            (
                "c",
                datetime!(2026-11-01 01:05 UTC),
                datetime!(2026-11-01 01:06 UTC),
            ),
            // Crosses midnight.
            (
                "d",
                datetime!(2026-11-01 23:50 UTC),
                datetime!(2026-11-02 00:40 UTC),
            ),
            (
                "e",
                datetime!(2026-11-02 12:00 UTC),
                datetime!(2026-11-02 12:01 UTC),
            ),
            // Outside the range.
            (
                "z",
                datetime!(2026-11-03 00:00 UTC),
                datetime!(2026-11-03 00:01 UTC),
            ),
        ])
    }

    #[test]
    fn each_conversation_once_across_windows_and_pages() {
        for (window_secs, page_size) in [(3600, 1), (3600, 2), (86_400, 2), (86_400, 100), (900, 3)]
        {
            let mut fake = sample();
            let (csv, stats) = export(&mut fake, &plan(Format::Csv, window_secs, page_size));
            assert_eq!(
                ids_of_csv(&csv),
                ["a", "b", "c", "d", "e"],
                "{window_secs} {page_size}"
            );
            assert_eq!(stats.conversations, 5);
        }
    }

    #[test]
    fn boundary_crossers_are_counted_outside_their_window() {
        let mut fake = sample();
        let (_, stats) = export(&mut fake, &plan(Format::Csv, 3600, 100));
        // b is seen again by the 01:00 window.
        assert_eq!(stats.outside_window, 1);
        assert_eq!(stats.windows, 48);
    }

    #[test]
    fn queue_names_are_looked_up_once_and_missing_ones_left_empty() {
        let mut fake = sample();
        let (csv, _) = export(&mut fake, &plan(Format::Csv, 3600, 100));
        assert_eq!(
            fake.queue_lookups,
            [vec!["q1".to_string(), "q-gone".to_string()]]
        );
        let first = csv.lines().nth(1).unwrap();
        assert!(first.contains(r#",q1;q-gone,"Sales, ""EU"";","#), "{first}");
    }

    #[test]
    fn forbidden_queue_lookup_leaves_names_empty_and_goes_on() {
        let mut fake = sample();
        fake.queues_forbidden = true;
        let (csv, stats) = export(&mut fake, &plan(Format::Csv, 3600, 100));
        assert_eq!(stats.conversations, 5);
        assert_eq!(fake.queue_lookups.len(), 1);
        assert!(csv.lines().nth(1).unwrap().contains(",q1;q-gone,;,"));
    }

    #[test]
    fn jsonl_writes_the_raw_records_and_skips_queue_lookups() {
        let mut fake = sample();
        let (out, _) = export(&mut fake, &plan(Format::Jsonl, 86_400, 100));
        let ids: Vec<String> = out
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["conversationId"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(ids, ["a", "b", "c", "d", "e"]);
        assert!(fake.queue_lookups.is_empty());
    }

    #[test]
    fn a_window_over_the_threshold_is_split_before_writing() {
        let mut fake = sample();
        fake.inflate_hits = SPLIT_THRESHOLD + 1;
        let mut p = plan(Format::Csv, 86_400, 100);
        p.to = datetime!(2026-11-01 00:04 UTC);
        p.from = datetime!(2026-11-01 00:00 UTC);
        let (csv, stats) = export(&mut fake, &p);
        assert_eq!(ids_of_csv(&csv), Vec::<String>::new());
        // 4 min → 2 min halves → 1 min quarters (not split further).
        assert_eq!(stats.windows, 4);
        let mut fake = sample();
        fake.inflate_hits = SPLIT_THRESHOLD + 1;
        let (csv, _) = export(&mut fake, &plan(Format::Csv, 86_400, 100));
        assert_eq!(ids_of_csv(&csv), ["a", "b", "c", "d", "e"]);
    }
}
