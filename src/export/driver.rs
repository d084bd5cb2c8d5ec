//! The driver: the top-level windows in order, each through its route (`query.rs` or
//! `jobs.rs`), split in halves when the API will not page through one, and the commit order:
//! after every page (or up to `query::MAX_GROUP` details pages per file that came within
//! `query::SAVE_EVERY`) the rows are committed, the position reported to
//! `Control::checkpoint` and the progress line, and a stop request obeyed. It owns what every
//! route shares (the sink, the position, the id set of the top-level window, the counts);
//! each route and the follow-up keep their own state. It sends no request of its own but
//! through `Source`.

use anyhow::{anyhow, Result};

use super::follow_up::Ledger;
use super::jobs::Jobs;
use super::names::Names;
use super::plan::{Plan, Position, Resume, Route};
use super::query::Query;
use super::{PendingLedger, Source};
use crate::exit::{failure, Code};
use crate::ids::IdSet;
use crate::report::{Event, ExportStats, FollowUpCounts, Log, Progress};
use crate::sink::{Mark, Writer};
use crate::window::Window;

/// The hooks through which the loop reports progress and learns it must stop.
pub struct Control<'a> {
    /// Called after every commit with the position and the output it covers.
    pub checkpoint: &'a mut dyn FnMut(&Position, &[Mark]) -> Result<()>,
    /// `Some(reason)` once the run must stop at the next safe point.
    pub stop: &'a dyn Fn() -> Option<String>,
    /// The ledger of conversations in progress (`--pending`), if the run keeps one.
    pub pending: Option<&'a mut dyn PendingLedger>,
}

/// Runs the whole export into `sink`, from the start or from `resume`.
pub fn run<S: Source, W: Writer>(
    source: &mut S,
    sink: &mut W,
    plan: &Plan,
    resume: Option<Resume>,
    control: Control,
    log: &Log,
) -> Result<ExportStats> {
    let ledger = Ledger::new(control.pending);
    let (pos, seen) = match resume {
        Some(resume) => (resume.position, resume.written),
        None => {
            sink.begin(&plan.columns, &plan.attributes)?;
            sink.commit()?;
            let position = Position::start(ledger.start(), sink.position());
            (position, IdSet::new())
        }
    };
    let mut stats = ExportStats::default();
    if ledger.kept() {
        stats.follow_ups = Some(FollowUpCounts::default());
    }
    let mut run = Run {
        source,
        sink,
        plan,
        log,
        checkpoint: control.checkpoint,
        stop: control.stop,
        pos,
        seen,
        names: Names::default(),
        stats,
        ledger,
    };
    run.save()?;
    if run.pos.follow_up.is_some() {
        run.follow_up()?;
    }
    let mut driver = Driver {
        run,
        query: Query::default(),
        jobs: Jobs::default(),
    };
    let total = plan.window_count();
    let start = usize::try_from(driver.run.pos.top_index).unwrap_or(usize::MAX);
    let mut windows = plan.windows().enumerate().skip(start).peekable();
    while let Some((index, (route, top))) = windows.next() {
        driver.query.next_top = match windows.peek() {
            Some((_, (Route::Query, next))) => Some(*next),
            _ => None,
        };
        driver.export_top_window(index as u64, total, route, top)?;
    }
    // Jobs ahead are released as the jobs part ends; none is left but by a damaged state.
    driver.jobs.release_ahead(&mut driver.run, &[]);
    Ok(driver.run.stats)
}

/// What every route shares: where the rows go, where the export stands, the counts.
pub(super) struct Run<'a, 'c, S: Source, W: Writer> {
    pub(super) source: &'a mut S,
    pub(super) sink: &'a mut W,
    pub(super) plan: &'a Plan,
    pub(super) log: &'a Log,
    checkpoint: &'c mut dyn FnMut(&Position, &[Mark]) -> Result<()>,
    stop: &'c dyn Fn() -> Option<String>,
    pub(super) pos: Position,
    /// Ids written by the current top-level window (all its sub-windows included).
    pub(super) seen: IdSet,
    pub(super) names: Names,
    pub(super) stats: ExportStats,
    /// The `--pending` ledger and what the run owes it.
    pub(super) ledger: Ledger<'c>,
}

impl<S: Source, W: Writer> Run<'_, '_, S, W> {
    /// Commits the rows written since the last save (one write and one sync), reports the
    /// position (to the checkpoint, then to the log's progress line), then stops if asked
    /// to. Conversations found in progress are recorded in the ledger before the state moves
    /// past them, and follow-ups handled are removed from it only after.
    pub(super) fn save(&mut self) -> Result<()> {
        self.sink.commit()?;
        self.ledger.record_found()?;
        (self.checkpoint)(&self.pos, &self.sink.marks())?;
        self.ledger.settle_saved()?;
        self.log.progress(Progress {
            conversations: self.stats.conversations,
            windows_done: self.pos.top_index,
            windows_total: self.plan.window_count(),
        });
        if let Some(reason) = (self.stop)() {
            return Err(failure(Code::Interrupted, reason));
        }
        Ok(())
    }

    /// Whether the API filters out conversations in progress: with `--ended-only`, unless a
    /// ledger must see them to record them.
    pub(super) fn end_filter(&self) -> bool {
        super::end_filter(self.plan.ended_only, self.ledger.kept())
    }
}

#[derive(Default)]
pub(super) struct WindowCounts {
    pub(super) conversations: u64,
    pub(super) pages: u64,
}

/// How a window's export ended.
pub(super) enum WindowEnd {
    Done(WindowCounts),
    /// The window holds more than the API pages through: export its halves instead. The
    /// counts are of what was written before that became clear.
    Split(WindowCounts, String),
}

/// The run and its two routes, each with its own state.
struct Driver<'a, 'c, S: Source, W: Writer> {
    run: Run<'a, 'c, S, W>,
    query: Query,
    jobs: Jobs,
}

impl<S: Source, W: Writer> Driver<'_, '_, S, W> {
    /// Exports top-level window `index` (of `total`), and the halves it splits into.
    fn export_top_window(
        &mut self,
        index: u64,
        total: u64,
        route: Route,
        top: Window,
    ) -> Result<()> {
        let run = &mut self.run;
        run.pos.top_index = index;
        if run.pos.stack.is_empty() {
            run.pos.stack.push(top);
            run.pos.next_page = 1;
            run.pos.job = None;
            run.pos.window_offset = run.sink.position();
            run.seen.clear();
        }
        while let Some(w) = self.run.pos.stack.last().copied() {
            let retries_before = self.run.source.retries();
            let requests_before = self.run.source.requests();
            let end = match route {
                Route::Query => self.query.window(&mut self.run, &w)?,
                Route::Jobs => self.jobs.window(&mut self.run, &w)?,
            };
            let run = &mut self.run;
            run.pos.stack.pop();
            run.pos.next_page = 1;
            run.pos.job = None;
            let requests = run.source.requests().saturating_sub(requests_before);
            let retries = run.source.retries().saturating_sub(retries_before);
            let at = (index.saturating_add(1), total);
            run.window_ended(&w, at, route, requests, retries, end);
            if run.pos.stack.is_empty() {
                run.pos.top_index = index.saturating_add(1);
            }
            if route == Route::Jobs {
                self.jobs.release_passed(&mut self.run);
            }
            self.run.save()?;
        }
        Ok(())
    }
}

impl<S: Source, W: Writer> Run<'_, '_, S, W> {
    /// Counts and logs how window `w` (number `at.0` of `at.1`) ended; a split one leaves its
    /// halves on the stack, the first on top.
    fn window_ended(
        &mut self,
        w: &Window,
        at: (u64, u64),
        route: Route,
        requests: u64,
        retries: u64,
        end: WindowEnd,
    ) {
        let cost = match route {
            Route::Query => &mut self.stats.query,
            Route::Jobs => &mut self.stats.jobs,
        };
        cost.requests = cost.requests.saturating_add(requests);
        match end {
            WindowEnd::Done(counts) => {
                cost.conversations = cost.conversations.saturating_add(counts.conversations);
                self.stats.windows = self.stats.windows.saturating_add(1);
                let (number, total) = at;
                let message = format!(
                    "window {} [{number}/{total}, {}]: {} conversations, {} pages, {retries} retries",
                    w.interval(),
                    route.name(),
                    counts.conversations,
                    counts.pages,
                );
                self.log.emit(
                    Event::info(message)
                        .window(w.start, w.end)
                        .with("window", number)
                        .with("windows", total)
                        .with("route", route.name())
                        .with("conversations", counts.conversations)
                        .with("pages", counts.pages)
                        .with("retries", retries),
                );
            }
            WindowEnd::Split(counts, reason) => {
                cost.conversations = cost.conversations.saturating_add(counts.conversations);
                let message = format!("window {}: {reason}; splitting it in two", w.interval());
                self.log.emit(
                    Event::info(message)
                        .window(w.start, w.end)
                        .with("conversations", counts.conversations)
                        .with("pages", counts.pages),
                );
                let (first, second) = halves(w);
                self.pos.stack.push(second);
                self.pos.stack.push(first);
            }
        }
    }
}

/// A window over the paging cap: split it, or fail if it is already as small as allowed.
pub(super) fn too_big(
    w: &Window,
    splittable: bool,
    counts: WindowCounts,
    why: String,
) -> Result<WindowEnd> {
    if splittable {
        return Ok(WindowEnd::Split(counts, why));
    }
    Err(anyhow!(
        "window {} holds {why} even at {}s, the smallest window: narrow the export with --ended-only or contact Genesys about the volume",
        w.interval(),
        (w.end - w.start).whole_seconds()
    ))
}

/// The two halves of a window too big to page through.
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

#[cfg(test)]
mod tests {
    use crate::api::Lookup;
    use crate::columns::{Column, IdsOf};
    use crate::exit::{code_of, Code};
    use crate::export::fake::*;
    use crate::export::query::MAX_GROUP;
    use crate::export::Plan;
    use crate::export::{run, Control, Position};
    use crate::sink::{Format, Mark, Sink, Writer};
    use anyhow::Result;
    use time::OffsetDateTime;

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
    fn jsonl_writes_the_raw_records_and_skips_queue_lookups() {
        let mut fake = sample();
        let (out, _) = export(&mut fake, &plan(Format::Jsonl, 86_400, 100));
        let ids = crate::sink::tests::ids_in(out.as_bytes(), Format::Jsonl);
        assert_eq!(ids, ["a", "b", "c", "d", "e"]);
        assert!(fake.queue_lookups.is_empty());
    }

    #[test]
    fn resuming_from_any_checkpoint_gives_the_same_bytes() {
        for format in [Format::Csv, Format::Jsonl] {
            let p = plan(format, 3600, 1);
            let whole = crash(&mut jobs_fake(), &p, None, usize::MAX).unwrap();
            let mut crashes = 0;
            for crash_at in 1..200 {
                let mut fake = jobs_fake();
                let mut attempt = crash(&mut fake, &p, None, crash_at);
                // Crash again, two checkpoints after each resume, until it completes.
                while let Err(saved) = attempt {
                    crashes += 1;
                    attempt = crash(&mut fake, &p, Some(saved), 2);
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

    /// Forty conversations in one hour, fetched four pages at a time, each page taking
    /// `latency` (on the fake clock) unless `pages_ready`.
    fn busy_hour(pages_ready: bool, latency: u64) -> Fake {
        let start = time::macros::datetime!(2026-11-01 02:00 UTC);
        let rows: Vec<(String, OffsetDateTime, OffsetDateTime)> = (0..40)
            .map(|n| {
                let s = start + time::Duration::minutes(n);
                (format!("g{n:02}"), s, s + time::Duration::seconds(30))
            })
            .collect();
        let borrowed: Vec<_> = rows.iter().map(|(i, s, e)| (i.as_str(), *s, *e)).collect();
        let mut fake = Fake::new(&borrowed);
        fake.parallel = 4;
        fake.pages_ready = pages_ready;
        fake.latency = std::time::Duration::from_millis(latency);
        fake
    }

    /// The pages each save covers in turn: how far `next_page` moved within a window.
    fn saves_of(fake: &mut Fake, plan: &Plan) -> (String, Vec<u32>) {
        let mut sink = Sink::new(Vec::new(), plan.format, "memory");
        let steps = saves_with(fake, plan, &mut sink);
        let out = String::from_utf8(sink.finish().unwrap()).unwrap();
        (out, steps)
    }

    /// `saves_of`, writing with `sink`.
    fn saves_with(fake: &mut Fake, plan: &Plan, sink: &mut impl Writer) -> Vec<u32> {
        let (mut steps, mut last) = (Vec::new(), (0, 1));
        let mut checkpoint = |p: &Position, _: &[Mark]| {
            if p.top_index == last.0 && p.next_page > last.1 {
                steps.push(p.next_page - last.1);
            }
            last = (p.top_index, p.next_page);
            Ok(())
        };
        let control = Control {
            checkpoint: &mut checkpoint,
            stop: &|| None,
            pending: None,
        };
        run(fake, sink, plan, None, control, &QUIET).unwrap();
        steps
    }

    /// A sink that says its commits sync `files` files, as the tables' writer does.
    struct Files {
        sink: Sink<Vec<u8>>,
        files: usize,
    }

    impl Writer for Files {
        fn begin(&mut self, columns: &[&'static Column], attributes: &[String]) -> Result<()> {
            self.sink.begin(columns, attributes)
        }
        fn lookups(&self, columns: &[&'static Column]) -> Vec<(Lookup, IdsOf)> {
            self.sink.lookups(columns)
        }
        fn write(&mut self, record: &crate::sink::Record) -> Result<()> {
            Writer::write(&mut self.sink, record)
        }
        fn commit(&mut self) -> Result<()> {
            Writer::commit(&mut self.sink)
        }
        fn position(&self) -> u64 {
            Writer::position(&self.sink)
        }
        fn held(&self) -> usize {
            self.sink.held()
        }
        fn marks(&self) -> Vec<Mark> {
            self.sink.marks()
        }
        fn files(&self) -> usize {
            self.files
        }
    }

    #[test]
    fn a_writer_of_several_files_groups_as_many_times_more_pages() {
        let p = plan(Format::Csv, 86_400, 2);
        let (one, steps) = saves_of(&mut busy_hour(true, 1500), &p);
        assert_eq!(steps, [1, MAX_GROUP, MAX_GROUP]);
        let mut two = Files {
            sink: Sink::new(Vec::new(), p.format, "memory"),
            files: 2,
        };
        let steps = saves_with(&mut busy_hour(true, 1500), &p, &mut two);
        assert_eq!(steps, [1, 2 * MAX_GROUP]);
        assert_eq!(two.sink.finish().unwrap(), one.as_bytes());
    }

    #[test]
    fn pages_that_arrived_together_or_within_a_second_are_saved_together_and_resume_the_same() {
        let p = plan(Format::Csv, 86_400, 2);
        // The fake clock moves as pages are sent; once all twenty are sent it stands still,
        // and the pages still to write are saved with the window's end (the empty page 21).
        // Pages a second and a half apart, each awaited: each page is saved on its own.
        let (alone, steps) = saves_of(&mut busy_hour(false, 1500), &p);
        assert_eq!(steps, [1; 14]);
        // As slow, but each there when the one before it is written: the first page is
        // fetched alone (its count says how many follow), then eight and eight together.
        let (together, steps) = saves_of(&mut busy_hour(true, 1500), &p);
        assert_eq!(together, alone);
        assert_eq!(ids_of_csv(&together).len(), 40);
        assert_eq!(steps, [1, MAX_GROUP, MAX_GROUP]);
        // Awaited but quick, 100 ms apart: saved once the last save is a second old (pages 2
        // to 5, sent with 6 and 7), then eight at most.
        let (quick, steps) = saves_of(&mut busy_hour(false, 100), &p);
        assert_eq!(quick, alone);
        assert_eq!(steps, [1, 4, MAX_GROUP]);
        for crash_at in 1..8 {
            let mut fake = busy_hour(true, 0);
            let mut attempt = crash(&mut fake, &p, None, crash_at);
            while let Err(saved) = attempt {
                attempt = crash(&mut fake, &p, Some(saved), 2);
            }
            assert_eq!(attempt.unwrap(), alone.as_bytes(), "crash at {crash_at}");
        }
    }

    #[test]
    fn a_stop_request_ends_the_run_after_a_checkpoint() {
        let mut fake = sample();
        let mut sink = Sink::new(Vec::new(), Format::Csv, "memory");
        let mut saves = 0;
        let mut checkpoint = |_: &Position, _: &[Mark]| {
            saves += 1;
            Ok(())
        };
        let control = Control {
            checkpoint: &mut checkpoint,
            stop: &|| Some("interrupted by SIGTERM".to_string()),
            pending: None,
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
