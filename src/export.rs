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
use crate::exit::{code_of, failure, Code};
use crate::http::{Client, Refused};
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

/// Where an export stands: enough to continue it after a crash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Position {
    /// Index of the top-level window in progress, or next to start when `stack` is empty.
    pub top_index: u64,
    /// Windows left within the top-level one (its halves after a split); the last is current.
    pub stack: Vec<Window>,
    /// The next page of the current window.
    pub next_page: u32,
    /// Output offset where the top-level window's rows begin.
    pub window_offset: u64,
}

/// A resumed export: where to go on from, and the ids its top-level window already wrote.
pub struct Resume {
    pub position: Position,
    pub written: Vec<String>,
}

/// The hooks through which the loop reports progress and learns it must stop.
pub struct Control<'a> {
    /// Called after every commit with the position and the output length it covers.
    pub checkpoint: &'a mut dyn FnMut(&Position, u64) -> Result<()>,
    /// `Some(reason)` once the run must stop at the next safe point.
    pub stop: &'a dyn Fn() -> Option<String>,
}

/// Runs the whole export into `sink`, from the start or from `resume`.
pub fn run<S: Source, W: Target>(
    source: &mut S,
    sink: &mut Sink<W>,
    plan: &Plan,
    resume: Option<Resume>,
    control: Control,
    log: &Log,
) -> Result<ExportStats> {
    let (position, seen) = match resume {
        Some(resume) => (resume.position, resume.written.into_iter().collect()),
        None => {
            sink.header()?;
            sink.commit()?;
            let position = Position {
                top_index: 0,
                stack: Vec::new(),
                next_page: 1,
                window_offset: sink.position(),
            };
            (position, HashSet::new())
        }
    };
    let mut x = Exporter {
        source,
        sink,
        plan,
        log,
        control,
        pos: position,
        seen,
        names: QueueNames::default(),
        stats: ExportStats::default(),
    };
    x.save()?;
    let total = window::count(plan.from, plan.to, plan.window);
    let start = x.pos.top_index as usize;
    for (index, top) in window::split(plan.from, plan.to, plan.window)
        .enumerate()
        .skip(start)
    {
        x.pos.top_index = index as u64;
        if x.pos.stack.is_empty() {
            x.pos.stack.push(top);
            x.pos.next_page = 1;
            x.pos.window_offset = x.sink.position();
            x.seen.clear();
        }
        while let Some(w) = x.pos.stack.last().copied() {
            let retries_before = x.source.retries();
            let outcome = x.window(&w)?;
            x.pos.stack.pop();
            x.pos.next_page = 1;
            match outcome {
                Outcome::Done(counts) => {
                    x.stats.windows += 1;
                    log.info(&format!(
                        "window {} [{}/{total}]: {} conversations, {} pages, {} retries",
                        w.interval(),
                        index + 1,
                        counts.conversations,
                        counts.pages,
                        x.source.retries() - retries_before
                    ));
                }
                Outcome::Split(reason) => {
                    log.info(&format!(
                        "window {}: {reason}; splitting it in two",
                        w.interval()
                    ));
                    let (first, second) = halves(&w);
                    x.pos.stack.push(second);
                    x.pos.stack.push(first);
                }
            }
            if x.pos.stack.is_empty() {
                x.pos.top_index = index as u64 + 1;
            }
            x.save()?;
        }
    }
    Ok(x.stats)
}

struct WindowCounts {
    conversations: u64,
    pages: u64,
}

enum Outcome {
    Done(WindowCounts),
    /// The window holds more than the API pages through: export its halves instead.
    Split(String),
}

struct Exporter<'a, 'c, S: Source, W: Target> {
    source: &'a mut S,
    sink: &'a mut Sink<W>,
    plan: &'a Plan,
    log: &'a Log,
    control: Control<'c>,
    pos: Position,
    /// Ids written by the current top-level window (all its sub-windows included).
    seen: HashSet<String>,
    names: QueueNames,
    stats: ExportStats,
}

impl<S: Source, W: Target> Exporter<'_, '_, S, W> {
    /// Reports the position after a commit, then stops if asked to.
    fn save(&mut self) -> Result<()> {
        (self.control.checkpoint)(&self.pos, self.sink.position())?;
        if let Some(reason) = (self.control.stop)() {
            return Err(failure(Code::Interrupted, reason));
        }
        Ok(())
    }

    /// Exports window `w` from page `pos.next_page` on.
    fn window(&mut self, w: &Window) -> Result<Outcome> {
        let splittable = w.end - w.start >= MIN_SPLIT * 2;
        let mut counts = WindowCounts {
            conversations: 0,
            pages: 0,
        };
        loop {
            let page_number = self.pos.next_page;
            let size = self.plan.page_size;
            if u64::from(page_number) * u64::from(size) > RESULT_CAP {
                return too_big(
                    w,
                    splittable,
                    format!("more than {RESULT_CAP} conversations"),
                );
            }
            let query = DetailsQuery::page(w.interval(), size, page_number, self.plan.ended_only);
            let page = match self.source.details_page(&query) {
                Ok(page) => page,
                Err(e) if is_pagination_limit(&e) => {
                    return too_big(w, splittable, "the API refuses to page further".into())
                }
                Err(e) => return Err(e),
            };
            counts.pages += 1;
            self.stats.pages += 1;
            let hits = page.total_hits.unwrap_or(0);
            if page_number == 1 && hits > SPLIT_THRESHOLD && splittable {
                return Ok(Outcome::Split(format!("{hits} conversations reported")));
            }
            let raws = page.conversations.unwrap_or_default();
            let returned = raws.len();
            let written = self.write_page(w, raws)?;
            counts.conversations += written;
            crate::state::crash_point::reach("page-written", || {});
            if returned < size as usize {
                return Ok(Outcome::Done(counts));
            }
            self.pos.next_page += 1;
            self.save()?;
        }
    }

    /// Writes the conversations of a page that this window owns and has not written yet, then
    /// commits them. Returns how many were written.
    fn write_page(&mut self, w: &Window, raws: Vec<Box<RawValue>>) -> Result<u64> {
        let mut kept: Vec<(Box<RawValue>, Conversation)> = Vec::with_capacity(raws.len());
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
                self.stats.outside_window += 1;
                continue;
            }
            if !self.seen.insert(conversation.conversation_id.clone()) {
                self.stats.repeats += 1;
                continue;
            }
            kept.push((raw, conversation));
        }
        if self.plan.format == Format::Csv {
            let ids = kept.iter().flat_map(|(_, c)| rows::queue_ids(c));
            self.names.resolve(self.source, ids, self.log)?;
        }
        for (raw, conversation) in &kept {
            let row = match self.plan.format {
                Format::Csv => Some(rows::flatten(conversation, |id| self.names.get(id))),
                Format::Jsonl => None,
            };
            self.sink.write(raw, row.as_ref())?;
        }
        self.sink.commit()?;
        self.stats.conversations += kept.len() as u64;
        Ok(kept.len() as u64)
    }
}

/// A window over the paging cap: split it, or fail if it is already as small as allowed.
fn too_big(w: &Window, splittable: bool, why: String) -> Result<Outcome> {
    if splittable {
        return Ok(Outcome::Split(why));
    }
    Err(anyhow!(
        "window {} holds {why} even at {}s, the smallest window: narrow the export with --ended-only or contact Genesys about the volume",
        w.interval(),
        (w.end - w.start).whole_seconds()
    ))
}

/// Whether the API refused a page because it lies past the paging cap.
fn is_pagination_limit(e: &anyhow::Error) -> bool {
    e.downcast_ref::<Refused>()
        .is_some_and(|r| r.status == 400 && r.detail.contains("Pagination may not exceed"))
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

    const QUIET: Log = Log { quiet: true };

    fn export(fake: &mut Fake, plan: &Plan) -> (String, ExportStats) {
        let mut sink = Sink::new(Vec::new(), plan.format, "memory");
        let control = Control {
            checkpoint: &mut |_, _| Ok(()),
            stop: &|| None,
        };
        let stats = run(fake, &mut sink, plan, None, control, &QUIET).unwrap();
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

    /// Runs the export, "crashing" at the `crash_at`-th checkpoint, and returns the output
    /// cut back to what that checkpoint covered, with its position.
    fn crash(
        plan: &Plan,
        resume: Option<(Vec<u8>, Position)>,
        crash_at: usize,
    ) -> Result<Vec<u8>, (Vec<u8>, Position)> {
        let mut fake = sample();
        let (bytes, resume) = match resume {
            Some((bytes, position)) => {
                let written = crate::sink::tests::ids_in(
                    &bytes[position.window_offset as usize..],
                    plan.format,
                );
                (bytes, Some(Resume { position, written }))
            }
            None => (Vec::new(), None),
        };
        let offset = bytes.len() as u64;
        let mut sink = Sink::at(bytes, offset, plan.format, "memory");
        let mut n = 0;
        let mut last: Option<(Position, u64)> = None;
        let mut checkpoint = |p: &Position, len: u64| {
            n += 1;
            last = Some((p.clone(), len));
            if n == crash_at {
                anyhow::bail!("crash");
            }
            Ok(())
        };
        let control = Control {
            checkpoint: &mut checkpoint,
            stop: &|| None,
        };
        let result = run(&mut fake, &mut sink, plan, resume, control, &QUIET);
        let mut bytes = sink.finish().unwrap();
        match result {
            Ok(_) => Ok(bytes),
            Err(_) => {
                let (position, len) = last.unwrap();
                bytes.truncate(len as usize);
                Err((bytes, position))
            }
        }
    }

    #[test]
    fn resuming_from_any_checkpoint_gives_the_same_bytes() {
        for format in [Format::Csv, Format::Jsonl] {
            let p = plan(format, 3600, 1);
            let whole = crash(&p, None, usize::MAX).unwrap();
            let mut crashes = 0;
            for crash_at in 1..200 {
                let mut attempt = crash(&p, None, crash_at);
                // Crash again, two checkpoints after each resume, until it completes.
                while let Err(saved) = attempt {
                    crashes += 1;
                    attempt = crash(&p, Some(saved), 2);
                }
                assert_eq!(
                    attempt.unwrap(),
                    whole,
                    "{format:?}, first crash at {crash_at}"
                );
            }
            assert!(crashes > 150);
        }
    }

    #[test]
    fn a_stop_request_ends_the_run_after_a_checkpoint() {
        let mut fake = sample();
        let mut sink = Sink::new(Vec::new(), Format::Csv, "memory");
        let mut saves = 0;
        let mut checkpoint = |_: &Position, _| {
            saves += 1;
            Ok(())
        };
        let control = Control {
            checkpoint: &mut checkpoint,
            stop: &|| Some("interrupted by SIGTERM".to_string()),
        };
        let err = run(
            &mut fake,
            &mut sink,
            &plan(Format::Csv, 3600, 1),
            None,
            control,
            &QUIET,
        )
        .unwrap_err();
        assert_eq!(code_of(&err), Code::Interrupted);
        assert_eq!(saves, 1);
    }
}
