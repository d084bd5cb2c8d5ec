//! The query pipeline: a window through the synchronous details query, paged by page number,
//! several pages in flight and committed strictly in page order. It owns the pages sent ahead
//! and their tickets; the position's `next_page` says where the window stands. It splits
//! nothing itself: a window over what the API pages through ends as `WindowEnd::Split`.

use std::collections::VecDeque;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Duration;

use anyhow::Result;

use super::driver::{too_big, Run, WindowCounts, WindowEnd};
use super::Refused;
use super::{Source, Ticket};
use crate::api::{DetailsPage, DetailsQuery};
use crate::exit::{failure, Code};
use crate::record::Conversation;
use crate::sink::Writer;
use crate::window::Window;

/// The details query refuses to page past this many results.
pub const RESULT_CAP: u64 = 100_000;
/// A window whose first page reports more hits than this is split in two before anything is
/// written. `totalHits` is approximate, so the margin below the cap is wide.
pub const SPLIT_THRESHOLD: u64 = 80_000;
/// Windows are not split below this length.
pub const MIN_SPLIT: Duration = Duration::from_secs(60);
/// Pages committed together at most, per file a save syncs: while the page after the one
/// written has arrived already, or the last save is less than `SAVE_EVERY` old, the rows of up
/// to this many pages share one write, one sync and one state save. A writer of several files
/// (the tables) syncs each at every save, so it groups as many times more pages, and syncs
/// no more often per page than a single file does.
pub const MAX_GROUP: u32 = 8;
/// How often the query saves at most while pages keep coming (`MAX_GROUP`).
pub const SAVE_EVERY: Duration = Duration::from_secs(1);
/// The rendered bytes a group of pages may hold in memory before it is saved (JSON Lines
/// and the tables render several hundred kilobytes a page).
pub const GROUP_BYTES: usize = 1024 * 1024;
/// A page that repeats the previous one (a server that ignores `pageNumber`) is a malformed
/// reply, asked again; this many in a row end the run.
pub const MAX_REPEATED_PAGES: u32 = 3;

/// A details page sent ahead of the one being committed.
struct Sent {
    interval: String,
    page: u32,
    ticket: Ticket,
}

/// The query route's own state: the pages in flight.
#[derive(Default)]
pub(super) struct Query {
    /// Details pages in flight or arrived, not yet committed: the current window's next
    /// pages, and the first page of the window after it.
    ahead: VecDeque<Sent>,
    next_ticket: Ticket,
    /// The top-level window after the current one, if the details query fetches it.
    pub(super) next_top: Option<Window>,
    /// When a page of the query was last saved.
    last_save: Option<time::OffsetDateTime>,
}

/// One walk through a window's pages: what is known of the window so far.
struct Walk {
    interval: String,
    splittable: bool,
    size: u32,
    /// The last page the API pages to at this size.
    last_page: u32,
    /// Pages sent ahead of the one awaited: none at `--parallel 1`; else enough that every
    /// worker has a page to fetch while replies wait to be committed in order.
    lookahead: usize,
    counts: WindowCounts,
    /// The page just came back empty short of `totalHits` and is asked for once more.
    confirming: bool,
    /// The window changed while its pages were in flight: no more pages side by side.
    one_at_a_time: bool,
    /// Pages known to exist, from the latest `totalHits`.
    known_last: u32,
    /// The highest page sent.
    sent_up_to: u32,
    /// Where pages began to be fetched side by side, and the count they were planned from.
    side_by_side: Option<(u32, u64)>,
    planned_hits: u64,
    /// The last page committed and a digest of its conversations.
    previous: Option<(u32, u64)>,
    /// Replies in a row that repeated the page before them.
    repeats: u32,
    /// Pages written since the last save.
    unsaved: u32,
}

impl Walk {
    fn new(w: &Window, page_size: u32, parallel: u32, next_page: u32) -> Walk {
        let size = page_size.max(1);
        Walk {
            interval: w.interval(),
            splittable: w.end - w.start >= MIN_SPLIT * 2,
            size,
            last_page: u32::try_from(RESULT_CAP / u64::from(size)).unwrap_or(u32::MAX),
            lookahead: parallel.saturating_sub(1).saturating_mul(2) as usize,
            counts: WindowCounts::default(),
            confirming: false,
            one_at_a_time: false,
            known_last: next_page,
            sent_up_to: 0,
            side_by_side: None,
            planned_hits: 0,
            previous: None,
            repeats: 0,
            unsaved: 0,
        }
    }

    /// Ends the walk as too big to page through: split the window, or fail.
    fn too_big(&mut self, w: &Window, why: String) -> Result<WindowEnd> {
        too_big(w, self.splittable, std::mem::take(&mut self.counts), why)
    }
}

impl Query {
    /// Exports window `w` through the details query, from page `pos.next_page` on. The window
    /// ends on a page without conversations, or on a short page once the rows returned so far
    /// reach `totalHits` (a page can come back short while more follow).
    ///
    /// The first page of a pass is fetched alone; its `totalHits` says how many pages follow,
    /// and those are sent ahead, several in flight, then committed strictly in page order, so
    /// the output is the one a one-at-a-time run writes. Pages fetched side by side may miss a
    /// conversation that moved from one page to the next between them, when the window
    /// changes meanwhile: every page reports `totalHits`, and a page that reports another
    /// count than the one the pages were planned from sends the window back to the first page
    /// fetched side by side, to be walked again one page at a time (the id set skips what was
    /// written).
    pub(super) fn window<S: Source, W: Writer>(
        &mut self,
        run: &mut Run<S, W>,
        w: &Window,
    ) -> Result<WindowEnd> {
        let mut walk = Walk::new(
            w,
            run.plan.page_size,
            run.source.parallel(),
            run.pos.next_page,
        );
        loop {
            let page_number = run.pos.next_page;
            if page_number > walk.last_page {
                self.forget_ahead(run.source, &walk.interval);
                return walk.too_big(w, format!("more than {RESULT_CAP} conversations"));
            }
            let ticket = self.send_pages(run, &mut walk, w, page_number);
            let page = match run.source.collect_page(ticket) {
                Ok(page) => page,
                Err(e) if e.refused == Some(Refused::PagingCap) => {
                    self.forget_ahead(run.source, &walk.interval);
                    return walk.too_big(w, "the API refuses to page further".to_string());
                }
                Err(e) => {
                    // The pages written and not saved yet are whole: saved, they are not
                    // fetched again (a failure to save leaves them to the resume).
                    if walk.unsaved > 0 {
                        let _ = run.save();
                    }
                    return Err(e.into());
                }
            };
            walk.counts.pages += 1;
            run.stats.pages = run.stats.pages.saturating_add(1);
            let hits = page.total_hits.unwrap_or(0);
            if page_number == 1 && hits > SPLIT_THRESHOLD && walk.splittable {
                self.forget_ahead(run.source, &walk.interval);
                let counts = std::mem::take(&mut walk.counts);
                return Ok(WindowEnd::Split(
                    counts,
                    format!("{hits} conversations reported"),
                ));
            }
            if self.walk_again(run, &mut walk, hits) {
                continue;
            }
            if let Some(end) = self.commit(run, &mut walk, w, page_number, page)? {
                return Ok(end);
            }
        }
    }

    /// The ticket of page `page_number`, and the pages after it sent ahead (and the next
    /// window's first page once every page of this one is sent), unless one at a time.
    fn send_pages<S: Source, W: Writer>(
        &mut self,
        run: &mut Run<S, W>,
        walk: &mut Walk,
        w: &Window,
        page_number: u32,
    ) -> Ticket {
        let ticket = self.take_sent(run, w, page_number);
        walk.sent_up_to = walk.sent_up_to.max(page_number);
        if !walk.one_at_a_time {
            while walk.sent_up_to < walk.known_last.min(walk.last_page)
                && self.sent_for(&walk.interval) < walk.lookahead
            {
                walk.sent_up_to += 1;
                self.send(run, w, walk.sent_up_to);
                walk.side_by_side
                    .get_or_insert((page_number, walk.planned_hits));
            }
            let all_sent = walk.sent_up_to >= walk.known_last;
            self.prefetch_next(run, w, all_sent, walk.lookahead);
        }
        ticket
    }

    /// Whether a page reporting `hits` shows the window changed since its pages were sent
    /// side by side: then the walk goes back to the first of them, one page at a time.
    fn walk_again<S: Source, W: Writer>(
        &mut self,
        run: &mut Run<S, W>,
        walk: &mut Walk,
        hits: u64,
    ) -> bool {
        let Some((from, planned)) = walk.side_by_side.filter(|(_, planned)| *planned != hits)
        else {
            return false;
        };
        let interval = &walk.interval;
        run.log.info(&format!(
            "window {interval} changed while its pages were fetched side by side ({planned} then {hits} conversations); walking it again from page {from}, one page at a time"
        ));
        self.forget_ahead(run.source, interval);
        walk.one_at_a_time = true;
        walk.side_by_side = None;
        run.pos.next_page = from;
        true
    }

    /// Writes page `page_number` and saves; the window's end once this page shows it.
    fn commit<S: Source, W: Writer>(
        &mut self,
        run: &mut Run<S, W>,
        walk: &mut Walk,
        w: &Window,
        page_number: u32,
        page: DetailsPage,
    ) -> Result<Option<WindowEnd>> {
        let hits = page.total_hits.unwrap_or(0);
        let size = walk.size;
        walk.planned_hits = hits;
        let pages_for_hits = hits.div_ceil(u64::from(size));
        walk.known_last = walk
            .known_last
            .max(u32::try_from(pages_for_hits).unwrap_or(u32::MAX));
        let mut rows = page.conversations;
        let returned = rows.views().len() as u64;
        if self.repeated(run, walk, page_number, rows.heads())? {
            return Ok(None);
        }
        walk.counts.conversations += run.write_page(w, &mut rows)?;
        crate::crash::reach("page-written", || {});
        let before = u64::from(page_number.saturating_sub(1)) * u64::from(size);
        if returned == 0 && before < hits && !walk.confirming {
            // Fewer rows than totalHits promised: the end, or a reply that lost its
            // conversations on the way. `totalHits` is approximate, so ask once more.
            walk.confirming = true;
            return Ok(None);
        }
        let so_far = before.saturating_add(returned);
        if returned == 0 || (returned < u64::from(size) && so_far >= hits) {
            self.forget_ahead(run.source, &walk.interval);
            return Ok(Some(WindowEnd::Done(std::mem::take(&mut walk.counts))));
        }
        walk.confirming = false;
        // A full last page: `totalHits` may be short of the truth; one more page will tell.
        walk.known_last = walk.known_last.max(page_number.saturating_add(1));
        run.pos.next_page = page_number.saturating_add(1);
        if !self.saves_later(run, walk) {
            run.save()?;
        }
        Ok(None)
    }

    /// Whether the save of the page just written waits for a later page: fewer than
    /// `MAX_GROUP` pages per file wait, holding less than `GROUP_BYTES`, and the next page has arrived
    /// already or the last save is less than `SAVE_EVERY` old. A run killed before the save
    /// resumes from the last, whose rows it covers (the rest of the partial is cut off), and
    /// fetches those pages again.
    fn saves_later<S: Source, W: Writer>(&mut self, run: &mut Run<S, W>, walk: &mut Walk) -> bool {
        walk.unsaved = walk.unsaved.saturating_add(1);
        let next = run.pos.next_page;
        let ticket = self
            .ahead
            .iter()
            .find(|sent| sent.page == next && sent.interval == walk.interval)
            .map(|sent| sent.ticket);
        let now = run.source.now();
        let recent = self.last_save.is_some_and(|at| now - at < SAVE_EVERY);
        let files = u32::try_from(run.sink.files()).unwrap_or(u32::MAX).max(1);
        let later = walk.unsaved < MAX_GROUP.saturating_mul(files)
            && run.sink.held() < GROUP_BYTES
            && (recent || ticket.is_some_and(|t| run.source.page_ready(t)));
        if !later {
            walk.unsaved = 0;
            self.last_save = Some(now);
        }
        later
    }

    /// Whether page `page_number` holds the very conversations of the page before it, as a
    /// server that ignores `pageNumber` serves them: a malformed reply, asked again one page
    /// at a time; `MAX_REPEATED_PAGES` in a row end the run.
    fn repeated<S: Source, W: Writer>(
        &mut self,
        run: &mut Run<S, W>,
        walk: &mut Walk,
        page_number: u32,
        conversations: &[Conversation],
    ) -> Result<bool> {
        let mut hasher = DefaultHasher::new();
        for c in conversations {
            (
                &c.conversation_id,
                &c.conversation_start,
                &c.conversation_end,
            )
                .hash(&mut hasher);
        }
        let digest = hasher.finish();
        let before = page_number.checked_sub(1);
        if conversations.is_empty() || walk.previous != before.map(|p| (p, digest)) {
            walk.previous = Some((page_number, digest));
            walk.repeats = 0;
            return Ok(false);
        }
        walk.repeats = walk.repeats.saturating_add(1);
        let interval = &walk.interval;
        if walk.repeats >= MAX_REPEATED_PAGES {
            return Err(failure(
                Code::GaveUp,
                format!("the API served page {page_number} of window {interval} with the conversations of page {} {} times in a row: it ignores pageNumber, so the export cannot page through the window", page_number - 1, walk.repeats),
            ));
        }
        run.log.warn(&format!(
            "page {page_number} of window {interval} repeats page {}: asking for it again",
            page_number - 1
        ));
        self.forget_ahead(run.source, interval);
        walk.one_at_a_time = true;
        walk.side_by_side = None;
        Ok(true)
    }

    /// Sends page `page` of window `w` ahead.
    fn send<S: Source, W: Writer>(&mut self, run: &mut Run<S, W>, w: &Window, page: u32) {
        let ticket = self.next_ticket;
        self.next_ticket = self.next_ticket.wrapping_add(1);
        let size = run.plan.page_size;
        let query = DetailsQuery::page(
            w.interval(),
            size,
            page,
            run.end_filter(),
            &run.plan.filters,
        );
        run.source.send_page(ticket, query);
        self.ahead.push_back(Sent {
            interval: w.interval(),
            page,
            ticket,
        });
    }

    /// The ticket of page `page` of window `w`: the one sent ahead, or a page sent now.
    fn take_sent<S: Source, W: Writer>(
        &mut self,
        run: &mut Run<S, W>,
        w: &Window,
        page: u32,
    ) -> Ticket {
        let interval = w.interval();
        let found = self
            .ahead
            .iter()
            .position(|s| s.interval == interval && s.page == page);
        if let Some(sent) = found.and_then(|i| self.ahead.remove(i)) {
            return sent.ticket;
        }
        self.send(run, w, page);
        self.ahead.pop_back().map_or(0, |sent| sent.ticket)
    }

    /// How many pages of `interval` are sent ahead.
    fn sent_for(&self, interval: &str) -> usize {
        self.ahead.iter().filter(|s| s.interval == interval).count()
    }

    /// Forgets the pages of `interval` sent ahead: the window ended, split or starts over.
    fn forget_ahead<S: Source>(&mut self, source: &mut S, interval: &str) {
        self.ahead.retain(|s| {
            let keep = s.interval != interval;
            if !keep {
                source.forget_page(s.ticket);
            }
            keep
        });
    }

    /// Once every page of the current window is sent (`all_sent`), sends the first page of
    /// the window that comes next, so that it is there when the current one is done.
    fn prefetch_next<S: Source, W: Writer>(
        &mut self,
        run: &mut Run<S, W>,
        current: &Window,
        all_sent: bool,
        lookahead: usize,
    ) {
        let next = match run.pos.stack.len() {
            0 | 1 => self.next_top,
            n => run.pos.stack.get(n - 2).copied(),
        };
        let Some(next) = next.filter(|n| n != current) else {
            return;
        };
        let interval = next.interval();
        if all_sent && self.ahead.len() < lookahead && self.sent_for(&interval) == 0 {
            self.send(run, &next, 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::SPLIT_THRESHOLD;
    use crate::export::fake::*;
    use crate::sink::Format;
    use time::macros::datetime;

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

    #[test]
    fn pages_in_flight_side_by_side_give_the_bytes_of_one_at_a_time() {
        for format in [Format::Csv, Format::Jsonl] {
            let p = plan(format, 86_400, 1);
            let mut one = sample();
            one.parallel = 1;
            let (alone, _) = export(&mut one, &p);
            let mut many = sample();
            many.parallel = 4;
            let (side_by_side, _) = export(&mut many, &p);
            assert_eq!(alone, side_by_side, "{format:?}");
            assert_eq!(one.in_flight_max, 1);
            // Pages ahead of the one committed, and the next window's first page.
            assert!(many.in_flight_max >= 3, "{}", many.in_flight_max);
        }
    }

    #[test]
    fn a_window_that_changes_while_its_pages_are_in_flight_is_walked_again() {
        // Pages fetched side by side can miss a conversation that moves from one page to the
        // next between them; every page's totalHits gives the change away.
        let mut fake = sample();
        fake.arrivals = 12;
        let p = plan(Format::Csv, 86_400, 1);
        let (csv, _) = export(&mut fake, &p);
        // Every page sent adds one: twelve arrived, and some pages were sent again.
        assert_eq!(fake.arrivals, 0);
        assert!(fake.queries.len() > 9 + 12, "{}", fake.queries.len());
        let ids = ids_of_csv(&csv);
        for id in ["a", "b", "c", "d", "e"] {
            assert_eq!(ids.iter().filter(|i| *i == id).count(), 1, "{id}: {ids:?}");
        }
        let distinct: HashSet<&String> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len(), "{ids:?}");
    }

    #[test]
    fn a_short_page_ends_a_window_only_once_total_hits_are_reached() {
        // Regression: a short details page ended its window even when fewer rows than
        // totalHits had come back.
        let mut fake = sample();
        fake.short_pages = true;
        let (csv, _) = export(&mut fake, &plan(Format::Csv, 86_400, 2));
        assert_eq!(ids_of_csv(&csv), ["a", "b", "c", "d", "e"]);
    }

    /// A server that ignores `pageNumber` serves the same conversations on every page: each
    /// repeat is asked again, and a few in a row end the run with exit 5 naming the cause.
    #[test]
    fn pages_that_repeat_the_page_before_them_end_the_run_after_a_few() {
        let mut fake = sample();
        fake.ignore_page_number = true;
        let mut sink = crate::sink::Sink::new(Vec::new(), Format::Csv, "memory");
        let control = crate::export::Control {
            checkpoint: &mut |_, _| Ok(()),
            stop: &|| None,
            pending: None,
        };
        let p = plan(Format::Csv, 86_400, 2);
        let err = crate::export::run(&mut fake, &mut sink, &p, None, control, &QUIET).unwrap_err();
        assert_eq!(crate::exit::code_of(&err), crate::exit::Code::GaveUp);
        assert!(format!("{err}").contains("ignores pageNumber"), "{err}");
        // Page 1, then page 2 served as page 1, asked for again until the third repeat.
        assert!(fake.queries.len() <= 8, "{}", fake.queries.len());
    }
}
