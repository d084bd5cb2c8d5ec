//! The choice of routes: where jobs hand over to the details query (`split_point`), from the
//! data lake's availability date and, under `auto`, an estimate of the volume before it and
//! what each route would cost for it (`RouteCost`). Advice only: it sends estimate queries
//! and reads the availability date, and writes nothing.

use std::time::Duration;

use anyhow::Result;
use time::OffsetDateTime;

use super::jobs::JOB_PAGE_SIZE_START;
use super::plan::{Mode, Plan};
use super::{Refused, Source, Ticket};
use crate::api::DetailsQuery;
use crate::exit::{code_of, Code};
use crate::report::Log;
use crate::window::{self, Window};

/// Estimating the data lake's volume for `auto` asks one details query of one result per
/// piece of the lake part this long.
pub const ESTIMATE_PIECE: Duration = Duration::from_secs(7 * 86_400);
/// What `auto` expects a job to wait between submission and fulfilment. Jobs take tens of
/// seconds to minutes; with several submitted ahead the wait is paid about once.
pub const JOB_FULFIL_ESTIMATE: Duration = Duration::from_secs(30);
/// What `auto` expects one request to take per worker (real details pages take 0.5–1 s).
pub const REQUEST_SECS_ESTIMATE: f64 = 0.5;
/// The request rate `auto` expects the pacing to allow, whatever `--parallel` says.
pub const PACED_REQUESTS_PER_SEC: f64 = 5.0;

/// Where jobs hand over to the query: jobs for windows before it, the query from it on.
pub fn split_point<S: Source>(
    source: &mut S,
    mode: Mode,
    plan: &Plan,
    log: &Log,
) -> Result<OffsetDateTime> {
    if mode == Mode::Query {
        return Ok(plan.from);
    }
    // `auto` needs the volume as well as the availability date: the estimate's requests go
    // out first and are on the wire while the date is asked for.
    let estimate = if mode == Mode::Auto && plan.attributes.is_empty() {
        Some(Estimate::send(source, plan))
    } else {
        None
    };
    let available = match source.availability() {
        Ok(available) => available,
        Err(e) => {
            if let Some(estimate) = estimate {
                estimate.forget(source);
            }
            return Err(e);
        }
    };
    let shown = window::api_timestamp(available);
    if mode == Mode::Jobs {
        if available < plan.to {
            return Err(crate::exit::usage(format!(
                "--mode jobs: the data lake holds conversations only up to {shown}, before --to; end the range at or before {shown}, or use --mode auto (the details query exports the rest)"
            )));
        }
        return Ok(plan.to);
    }
    let split_at = available.clamp(plan.from, plan.to);
    if split_at == plan.from {
        if let Some(estimate) = estimate {
            estimate.forget(source);
        }
        log.info(&format!(
            "data lake available up to {shown}: nothing of the range is in it; the details query for every window"
        ));
        return Ok(plan.from);
    }
    weigh(source, plan, estimate, split_at, &shown, log)
}

/// The split point once part of the range is in the lake (up to `split_at`): jobs for that
/// part when only jobs carry what the plan asks for, or when the estimate says they are
/// faster; else the query for every window.
fn weigh<S: Source>(
    source: &mut S,
    plan: &Plan,
    estimate: Option<Estimate>,
    split_at: OffsetDateTime,
    shown: &str,
    log: &Log,
) -> Result<OffsetDateTime> {
    let newer = if split_at < plan.to {
        ", the details query for the rest"
    } else {
        ""
    };
    let Some(estimate) = estimate else {
        // Only job results carry participant attributes: the query would leave them empty.
        log.info(&format!(
            "data lake available up to {shown}: jobs for that part, as only jobs carry the --attribute columns{newer}"
        ));
        return Ok(split_at);
    };
    let hits = match estimate.collect(source, split_at)? {
        Volume::About(hits) => hits,
        Volume::OverCap => {
            log.info(&format!(
                "data lake available up to {shown}: the details query refuses to count that part, it holds more than the query pages through: jobs for that part{newer}"
            ));
            return Ok(split_at);
        }
        Volume::Unknown(why) => {
            log.warn(&format!(
                "data lake available up to {shown}: cannot estimate how many conversations it holds ({why}): jobs for that part, the default{newer}"
            ));
            return Ok(split_at);
        }
    };
    let cost = RouteCost::of(hits, plan.page_size, source.parallel());
    let lake = format!(
        "data lake available up to {shown}: about {hits} conversations before it, about {}s through the details query, {}s through jobs",
        cost.query_secs.round(),
        cost.jobs_secs.round()
    );
    if cost.jobs_faster() {
        log.info(&format!("{lake}: jobs for that part{newer}"));
        Ok(split_at)
    } else {
        log.info(&format!(
            "{lake}: the details query for every window, as it is faster"
        ));
        Ok(plan.from)
    }
}

/// export should the query get the range: then the estimate costs nothing.
struct Estimate {
    pieces: Vec<(Ticket, DetailsQuery, Window)>,
}

impl Estimate {
    fn send<S: Source>(source: &mut S, plan: &Plan) -> Estimate {
        let few_windows = window::count(plan.from, plan.to, plan.window) <= 2;
        let (piece, size) = if few_windows {
            (plan.window, plan.page_size)
        } else {
            (ESTIMATE_PIECE, 1)
        };
        // Tickets from the top of the range: the export's own count up from 0.
        let pieces: Vec<(Ticket, DetailsQuery, Window)> = window::split(plan.from, plan.to, piece)
            .enumerate()
            .map(|(i, w)| {
                let query =
                    DetailsQuery::page(w.interval(), size, 1, plan.ended_only, &plan.filters);
                (Ticket::MAX - i as u64, query, w)
            })
            .collect();
        for (ticket, query, _) in &pieces {
            source.send_page(*ticket, query.clone());
        }
        Estimate { pieces }
    }

    /// The conversations before `until`: the pieces before it, and the share of the piece
    /// it cuts in proportion to the time before it. Whole first pages are kept for the export.
    /// A piece the query refuses as past its result cap holds more than the cap; any other
    /// failure leaves the volume unknown. Only an interruption is an error.
    fn collect<S: Source>(self, source: &mut S, until: OffsetDateTime) -> Result<Volume> {
        let mut hits: u64 = 0;
        let mut volume = None;
        for (ticket, query, w) in self.pieces {
            if w.start >= until {
                source.forget_page(ticket);
                continue;
            }
            match source.collect_page(ticket) {
                Ok(page) => {
                    let piece = page.total_hits.unwrap_or(0);
                    let share = if w.end <= until {
                        piece
                    } else {
                        let part = (until - w.start).as_seconds_f64();
                        let whole = (w.end - w.start).as_seconds_f64().max(1.0);
                        (piece as f64 * (part / whole)).round() as u64
                    };
                    hits = hits.saturating_add(share);
                    if query.paging.page_size > 1 {
                        source.keep_page(query, page);
                    }
                }
                Err(e) if code_of(&e.error) == Code::Interrupted => return Err(e.into()),
                Err(e) if e.refused == Some(Refused::PagingCap) => volume = Some(Volume::OverCap),
                Err(e) => {
                    volume.get_or_insert(Volume::Unknown(format!("{:#}", e.error)));
                }
            }
        }
        Ok(volume.unwrap_or(Volume::About(hits)))
    }

    fn forget<S: Source>(self, source: &mut S) {
        for (ticket, _, _) in self.pieces {
            source.forget_page(ticket);
        }
    }
}

/// What the estimate found of the lake part's volume.
enum Volume {
    About(u64),
    /// A piece holds more than the details query pages through.
    OverCap,
    /// An estimate query failed: why.
    Unknown(String),
}

/// What `auto` expects each route to take for a part of the range holding `hits`
/// conversations: requests ÷ the expected rate, plus a job's expected wait for fulfilment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RouteCost {
    pub query_secs: f64,
    pub jobs_secs: f64,
}

impl RouteCost {
    /// The cost of `hits` conversations at details pages of `page_size` with `parallel`
    /// requests in flight; the rate is `parallel ÷ REQUEST_SECS_ESTIMATE`, paced to at most
    /// `PACED_REQUESTS_PER_SEC`. A job costs its submission, a few polls, its result pages
    /// of `JOB_PAGE_SIZE_START` and its deletion, after `JOB_FULFIL_ESTIMATE`.
    pub fn of(hits: u64, page_size: u32, parallel: u32) -> RouteCost {
        let rate = (f64::from(parallel.max(1)) / REQUEST_SECS_ESTIMATE).min(PACED_REQUESTS_PER_SEC);
        let query_pages = hits.div_ceil(u64::from(page_size.max(1))).max(1) as f64;
        let job_requests = hits.div_ceil(u64::from(JOB_PAGE_SIZE_START)) as f64 + 5.0;
        RouteCost {
            query_secs: query_pages / rate,
            jobs_secs: JOB_FULFIL_ESTIMATE.as_secs_f64() + job_requests / rate,
        }
    }

    pub fn jobs_faster(&self) -> bool {
        self.jobs_secs < self.query_secs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::fake::*;
    use crate::sink::Format;
    use time::macros::datetime;

    #[test]
    fn route_costs_favour_the_query_for_small_parts_and_jobs_for_large_ones() {
        let check = |hits: u64, page_size: u32, parallel: u32, jobs: bool| {
            let cost = RouteCost::of(hits, page_size, parallel);
            assert_eq!(
                cost.jobs_faster(),
                jobs,
                "{hits} {page_size} {parallel}: {cost:?}"
            );
        };
        check(0, 100, 4, false);
        check(700, 100, 4, false);
        check(5_000, 100, 4, false);
        check(15_000, 100, 4, false);
        check(20_000, 100, 4, true);
        check(1_000_000, 100, 4, true);
        // One request in flight: the query is slower, jobs win sooner.
        check(8_000, 100, 1, true);
        check(5_000, 100, 1, false);
        // Small details pages make the query dearer.
        check(5_000, 10, 4, true);
    }

    #[test]
    fn auto_sends_a_small_lake_part_to_the_query_and_a_large_one_to_jobs() {
        let p = plan(Format::Csv, 3600, 100);
        let mut small = sample();
        let split = split_point(&mut small, Mode::Auto, &p, &QUIET).unwrap();
        assert_eq!(split, p.from, "a small day goes to the query");
        assert!(small.sent_pages.is_empty());
        // A large week in the lake goes to jobs.
        let from = datetime!(2026-10-26 00:00 UTC);
        let rows: Vec<(String, OffsetDateTime)> = (0..25_000)
            .map(|n| (format!("c{n}"), from + time::Duration::seconds(n * 24)))
            .collect();
        let borrowed: Vec<_> = rows
            .iter()
            .map(|(id, s)| (id.as_str(), *s, *s + time::Duration::minutes(1)))
            .collect();
        let mut large = Fake::new(&borrowed);
        let week = Plan { from, ..p.clone() };
        let split = split_point(&mut large, Mode::Auto, &week, &QUIET).unwrap();
        assert_eq!(split, large.available);
        // One query of one result per week of the range (eight days: two), sent before the
        // availability date is known; the second piece lies past the lake and is forgotten.
        assert_eq!(large.queries.len(), 2);
        assert!(large.sent_pages.is_empty());
        // --mode query and --mode jobs stay as they are.
        assert_eq!(
            split_point(&mut large, Mode::Query, &week, &QUIET).unwrap(),
            from
        );
    }

    /// An estimate never ends an export: a piece refused as past the result cap holds more
    /// than the query pages through (jobs for the lake part); any other failure falls back to
    /// jobs for it, the stated default.
    #[test]
    fn a_refused_or_failed_estimate_chooses_a_route_instead_of_ending_the_run() {
        let p = plan(Format::Csv, 3600, 100);
        let mut capped = sample();
        capped.result_cap = Some(0);
        let split = split_point(&mut capped, Mode::Auto, &p, &QUIET).unwrap();
        assert_eq!(split, capped.available);
        assert!(capped.sent_pages.is_empty());
        let mut broken = sample();
        broken.details_broken = true;
        let split = split_point(&mut broken, Mode::Auto, &p, &QUIET).unwrap();
        assert_eq!(split, broken.available);
        assert!(broken.sent_pages.is_empty());
    }
}
