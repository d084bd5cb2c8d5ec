//! The jobs pipeline: a window through an asynchronous job (submit, poll, page the results
//! by cursor, delete), with jobs for the windows that follow submitted ahead and polled in
//! the same rounds. It owns what the run knows of its jobs (when each was submitted, its last
//! state, submissions per window, how many may go ahead); the position holds the job in
//! progress, its cursor and the jobs ahead, so a resume picks them up. Rows are committed in
//! window order only, through the driver.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Result;
use time::OffsetDateTime;

use super::driver::{too_big, Run, WindowCounts, WindowEnd};
use super::plan::Route;
use super::Source;
use super::{Refused, Reply, SourceError};
use crate::api::{JobQuery, JobState, JobStatus, ResultsPage};
use crate::exit::{code_of, failure, Code};
use crate::sink::Writer;
use crate::window::{self, Window};

/// The first job results page size tried: the size public bulk clients use and the API is
/// known to accept. A refusal steps down to the size it states (or half).
pub const JOB_PAGE_SIZE_START: u32 = 1000;
/// No job results page size above this is ever asked for or resumed with.
pub const JOB_PAGE_SIZE_MAX: u32 = 10_000;
/// Halving a refused job results page size stops here (a size the API names is used as is).
pub const JOB_PAGE_SIZE_MIN: u32 = 100;
/// Submissions of one window's job before a run gives up on jobs that fail or expire.
pub const MAX_JOB_SUBMISSIONS: u32 = 4;
/// Polling of a job's status backs off from `Plan::job_poll` up to this interval.
pub const MAX_JOB_POLL: Duration = Duration::from_secs(30);
/// The longest interval the jobs API accepts: the part of the range in the data lake is cut
/// into jobs this long (the last one shorter); a piece the API refuses is halved.
pub const JOB_MAX_INTERVAL: Duration = Duration::from_secs(31 * 86_400);
/// Jobs submitted ahead of the one being exported, at most. A submission ahead that is
/// refused, or that needed retries (429s), lowers the number for the rest of the run.
pub const MAX_JOBS_AHEAD: usize = 2;

/// A job in progress: its id and the cursor of the next results page (`None`: the first).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobCursor {
    pub id: String,
    pub cursor: Option<String>,
}

/// A job submitted ahead of its turn, for window `window`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AheadJob {
    pub window: Window,
    pub id: String,
}

/// How waiting for a job ended.
enum JobEnd {
    Fulfilled,
    /// FAILED, CANCELLED, EXPIRED, gone, or too slow: why.
    Lost(String),
}

/// What the run knows of a job: when it was submitted (or first seen, after a resume) and
/// the state its last poll reported.
#[derive(Clone, Copy)]
struct JobSeen {
    since: OffsetDateTime,
    state: Option<JobState>,
}

/// What one status poll found.
enum Polled {
    Fulfilled,
    Waiting,
    /// FAILED, CANCELLED, EXPIRED, gone, or too slow: why.
    Lost(String),
}

/// The jobs route's own state: what the run knows of the jobs it submitted or picked up.
pub(super) struct Jobs {
    /// What this run knows of the jobs it submitted or picked up, by id.
    jobs: HashMap<String, JobSeen>,
    /// Submissions so far per window interval (jobs ahead included), until the window is done.
    submissions: HashMap<String, u32>,
    /// How many jobs may be submitted ahead now (at most `MAX_JOBS_AHEAD`).
    jobs_ahead: usize,
}

impl Default for Jobs {
    fn default() -> Jobs {
        Jobs {
            jobs: HashMap::new(),
            submissions: HashMap::new(),
            jobs_ahead: MAX_JOBS_AHEAD,
        }
    }
}

/// How a refused results page is dealt with.
enum Resumed {
    /// Ask for the page again (at a smaller size).
    Again,
    /// The job was lost and dropped: submit it again.
    Lost,
    /// The results exceed what the API pages through.
    TooBig(&'static str),
}

impl Jobs {
    /// Exports window `w` through an asynchronous job: pick up the saved job or the one
    /// submitted ahead for `w`, or submit one; submit jobs ahead for the windows that follow;
    /// wait for `w`'s job (polling those ahead in the same rounds); page its results by
    /// cursor; delete it. Rows are committed in window order only: a job ahead that is
    /// fulfilled first waits for its turn. A job that fails, is cancelled, expires or takes
    /// longer than `--job-timeout`, even half-way through its results, is submitted again;
    /// rows already written are skipped by the id set. A window whose job the API refuses as
    /// too long, or whose results exceed what it pages through, is split in two.
    pub(super) fn window<S: Source, W: Writer>(
        &mut self,
        run: &mut Run<S, W>,
        w: &Window,
    ) -> Result<WindowEnd> {
        let splittable = w.end - w.start >= super::MIN_SPLIT * 2;
        let interval = w.interval();
        let mut counts = WindowCounts::default();
        loop {
            let (job, picked) = match run.pos.job.clone() {
                Some(job) => (job, false),
                None => {
                    let id = match self.take_ahead(run, w) {
                        Some(id) => id,
                        None => match self.submit(run, w) {
                            Ok(id) => id,
                            Err(e) if e.refused == Some(Refused::IntervalTooLong) => {
                                self.submissions.remove(&interval);
                                let why = "the API refuses a job this long";
                                return too_big(w, splittable, counts, why.into());
                            }
                            Err(e) => return Err(e.into()),
                        },
                    };
                    let job = JobCursor { id, cursor: None };
                    run.pos.job = Some(job.clone());
                    (job, true)
                }
            };
            if self.submit_ahead(run)? || picked {
                run.save()?;
            }
            if let JobEnd::Lost(why) = self.await_job(run, &job.id)? {
                self.drop_job(run, &job.id, &interval, &why)?;
                continue;
            }
            match self.page_results(run, w, job, &mut counts)? {
                None => continue,
                Some(Ok(())) => return Ok(WindowEnd::Done(counts)),
                Some(Err(why)) => return too_big(w, splittable, counts, why.into()),
            }
        }
    }

    /// Pages the results of `job`, a fulfilled job, from its cursor, committing each page;
    /// deletes the job after its last. `None` when the job was lost half-way (dropped, to be
    /// submitted again); `Some(Err(why))` when its results exceed what the API pages through.
    fn page_results<S: Source, W: Writer>(
        &mut self,
        run: &mut Run<S, W>,
        w: &Window,
        job: JobCursor,
        counts: &mut WindowCounts,
    ) -> Result<Option<Result<(), &'static str>>> {
        let interval = w.interval();
        let mut cursor = job.cursor;
        loop {
            let size = run.pos.job_page_size;
            let page = ResultsPage {
                job_id: &job.id,
                page_size: size,
                cursor: cursor.as_deref(),
            };
            let mut results = match run.source.job_results(&page, run.wanted()) {
                Ok(results) => results,
                Err(e) => match self.results_refused(run, &job.id, &interval, size, e)? {
                    Resumed::Again => continue,
                    Resumed::Lost => return Ok(None),
                    Resumed::TooBig(why) => return Ok(Some(Err(why))),
                },
            };
            counts.pages += 1;
            run.stats.pages = run.stats.pages.saturating_add(1);
            counts.conversations += run.write_page(w, results.rows.as_mut())?;
            crate::crash::reach("page-written", || {});
            let Some(next) = results.cursor else {
                self.finish_job(run, &job.id, &interval);
                return Ok(Some(Ok(())));
            };
            cursor = Some(next);
            run.pos.job = Some(JobCursor {
                id: job.id.clone(),
                cursor: cursor.clone(),
            });
            run.save()?;
        }
    }

    /// What a refusal `e` of a results page of size `size` means: a smaller page size, a job
    /// lost (expired or removed: dropped here), or results too many to page through.
    fn results_refused<S: Source, W: Writer>(
        &mut self,
        run: &mut Run<S, W>,
        job_id: &str,
        interval: &str,
        size: u32,
        e: SourceError,
    ) -> Result<Resumed> {
        match e.refused {
            Some(Refused::PagingCap) => {
                self.finish_job(run, job_id, interval);
                Ok(Resumed::TooBig(
                    "the job's results exceed what the API pages through",
                ))
            }
            Some(Refused::PageSize { ceiling }) => {
                let Some(next) = smaller_page_size(ceiling, size) else {
                    return Err(e.into());
                };
                run.log.info(&format!(
                    "job results page size {size} refused; using {next} from now on"
                ));
                run.pos.job_page_size = next;
                Ok(Resumed::Again)
            }
            Some(_) => {
                // The cursor is no longer accepted: the job expired or was removed.
                let why = match run.source.job_status(job_id)? {
                    Some(status) if status.state == JobState::Fulfilled => return Err(e.into()),
                    Some(status) => describe_job(&status),
                    None => "it no longer exists".to_string(),
                };
                self.drop_job(run, job_id, interval, &why)?;
                Ok(Resumed::Lost)
            }
            None => Err(e.into()),
        }
    }

    /// Submits the job of window `w`, counting the submission against the window.
    fn submit<S: Source, W: Writer>(&mut self, run: &mut Run<S, W>, w: &Window) -> Reply<String> {
        let interval = w.interval();
        let count = self.submissions.entry(interval.clone()).or_insert(0);
        *count = count.saturating_add(1);
        let query = JobQuery::new(interval.clone(), run.end_filter(), &run.plan.filters);
        let id = run.source.submit_job(&query)?;
        run.log.info(&format!("job {id} submitted for {interval}"));
        let seen = JobSeen {
            since: run.source.now(),
            state: None,
        };
        self.jobs.insert(id.clone(), seen);
        Ok(id)
    }

    /// The job submitted ahead for window `w`, taken off the list of jobs ahead.
    fn take_ahead<S: Source, W: Writer>(
        &mut self,
        run: &mut Run<S, W>,
        w: &Window,
    ) -> Option<String> {
        let at = run.pos.ahead.iter().position(|a| a.window == *w)?;
        Some(run.pos.ahead.remove(at).id)
    }

    /// The windows still to export on the jobs route, in order, from the one in progress (or
    /// next to start), at most `n`.
    fn windows_to_come<S: Source, W: Writer>(&self, run: &Run<S, W>, n: usize) -> Vec<Window> {
        let (skip, split) = match run.pos.stack.as_slice() {
            [] => (run.pos.top_index, &[][..]),
            stack => (run.pos.top_index.saturating_add(1), stack),
        };
        let tops = run
            .plan
            .windows()
            .skip(usize::try_from(skip).unwrap_or(usize::MAX))
            .take_while(|(route, _)| *route == Route::Jobs)
            .map(|(_, w)| w);
        split.iter().rev().copied().chain(tops).take(n).collect()
    }

    /// Submits jobs for the windows after the one in progress, up to `jobs_ahead` of them. A
    /// window whose job ahead was lost waits for its turn. A refused submission, or one that
    /// needed retries (a 429 among them), lowers the number of jobs ahead. Returns whether a
    /// job was submitted (the position changed).
    fn submit_ahead<S: Source, W: Writer>(&mut self, run: &mut Run<S, W>) -> Result<bool> {
        let mut submitted = false;
        let next: Vec<Window> = self
            .windows_to_come(run, self.jobs_ahead.saturating_add(1))
            .into_iter()
            .skip(1)
            .collect();
        for w in next {
            let interval = w.interval();
            if run.pos.ahead.iter().any(|a| a.window == w)
                || self.submissions.contains_key(&interval)
            {
                continue;
            }
            let retries = run.source.retries();
            match self.submit(run, &w) {
                Ok(id) => {
                    run.pos.ahead.push(AheadJob { window: w, id });
                    submitted = true;
                    if run.source.retries() > retries && self.jobs_ahead > 1 {
                        self.lower_jobs_ahead(
                            run,
                            self.jobs_ahead - 1,
                            "a submission needed retries",
                        );
                        break;
                    }
                }
                Err(e) if code_of(&e.error) == Code::Interrupted => return Err(e.into()),
                Err(e) => {
                    self.submissions.remove(&interval);
                    self.lower_jobs_ahead(
                        run,
                        self.jobs_ahead.saturating_sub(1),
                        &format!("{:#}", e.error),
                    );
                    break;
                }
            }
        }
        Ok(submitted)
    }

    fn lower_jobs_ahead<S: Source, W: Writer>(
        &mut self,
        run: &mut Run<S, W>,
        to: usize,
        why: &str,
    ) {
        self.jobs_ahead = to;
        run.log.info(&format!(
            "jobs submitted ahead: at most {to} from now on ({why})"
        ));
    }

    /// Deletes the jobs ahead whose windows are not in `keep`: the jobs route is over, or a
    /// resumed state named jobs for other windows.
    pub(super) fn release_ahead<S: Source, W: Writer>(
        &mut self,
        run: &mut Run<S, W>,
        keep: &[Window],
    ) {
        let (kept, stale) = std::mem::take(&mut run.pos.ahead)
            .into_iter()
            .partition(|a| keep.contains(&a.window));
        run.pos.ahead = kept;
        for job in stale {
            self.jobs.remove(&job.id);
            self.delete_quietly(run, &job.id);
        }
    }

    /// Waits until job `job_id` is fulfilled or lost, backing off between polling rounds;
    /// each round polls it and every job ahead not yet seen fulfilled, once. A job ahead
    /// found lost is deleted and submitted again when its turn comes.
    fn await_job<S: Source, W: Writer>(
        &mut self,
        run: &mut Run<S, W>,
        job_id: &str,
    ) -> Result<JobEnd> {
        let mut interval = run.plan.job_poll;
        loop {
            match self.poll(run, job_id)? {
                Polled::Fulfilled => return Ok(JobEnd::Fulfilled),
                Polled::Lost(why) => return Ok(JobEnd::Lost(why)),
                Polled::Waiting => {}
            }
            for ahead in run.pos.ahead.clone() {
                if let Polled::Lost(why) = self.poll(run, &ahead.id)? {
                    run.pos.ahead.retain(|a| a.id != ahead.id);
                    self.jobs.remove(&ahead.id);
                    self.delete_quietly(run, &ahead.id);
                    run.log.warn(&format!(
                        "job {} submitted ahead for {} is lost ({why}); it is submitted again when its turn comes",
                        ahead.id,
                        ahead.window.interval()
                    ));
                }
            }
            run.source.wait(interval)?;
            interval = interval.mul_f64(1.5).min(MAX_JOB_POLL);
        }
    }

    /// One status poll of a job, unless it was already seen fulfilled. A job is lost once it
    /// fails, is cancelled or expires, once its `expirationDate` has passed, or once it has
    /// taken longer than `--job-timeout` since it was submitted (or first seen, on resume).
    fn poll<S: Source, W: Writer>(&mut self, run: &mut Run<S, W>, job_id: &str) -> Result<Polled> {
        let now = run.source.now();
        let seen = *self.jobs.entry(job_id.to_string()).or_insert(JobSeen {
            since: now,
            state: None,
        });
        if seen.state == Some(JobState::Fulfilled) {
            return Ok(Polled::Fulfilled);
        }
        let Some(status) = run.source.job_status(job_id)? else {
            return Ok(Polled::Lost("it no longer exists".into()));
        };
        if seen.state != Some(status.state) {
            run.log
                .info(&format!("job {job_id}: {}", status.state.name()));
            if let Some(known) = self.jobs.get_mut(job_id) {
                known.state = Some(status.state);
            }
        }
        let now = run.source.now();
        match status.state {
            JobState::Fulfilled => return Ok(Polled::Fulfilled),
            JobState::Queued | JobState::Pending | JobState::Unknown => {}
            _ => return Ok(Polled::Lost(describe_job(&status))),
        }
        let expires = status
            .expiration_date
            .as_deref()
            .and_then(window::parse_api_timestamp);
        if expires.is_some_and(|at| at <= now) {
            return Ok(Polled::Lost(
                "its results expired before it was fulfilled".into(),
            ));
        }
        let waited = (now - seen.since).unsigned_abs();
        if waited >= run.plan.job_timeout {
            return Ok(Polled::Lost(format!(
                "not fulfilled after {} (--job-timeout)",
                crate::times::format_duration(waited)
            )));
        }
        Ok(Polled::Waiting)
    }

    /// Forgets a lost job so the window's job is submitted again, unless it has been
    /// submitted too often already.
    fn drop_job<S: Source, W: Writer>(
        &mut self,
        run: &mut Run<S, W>,
        job_id: &str,
        interval: &str,
        why: &str,
    ) -> Result<()> {
        self.delete_quietly(run, job_id);
        self.jobs.remove(job_id);
        run.pos.job = None;
        let submissions = self.submissions.get(interval).copied().unwrap_or(0);
        if submissions >= MAX_JOB_SUBMISSIONS {
            return Err(failure(
                Code::GaveUp,
                format!("gave up on job {job_id} after {submissions} submissions: {why}"),
            ));
        }
        run.log.warn(&format!(
            "job {job_id} is lost ({why}); submitting it again, the {} conversations already written are skipped",
            run.seen.len()
        ));
        run.save()
    }

    /// Deletes a window's job once its results are written or no longer wanted.
    fn finish_job<S: Source, W: Writer>(
        &mut self,
        run: &mut Run<S, W>,
        job_id: &str,
        interval: &str,
    ) {
        self.delete_quietly(run, job_id);
        self.jobs.remove(job_id);
        self.submissions.remove(interval);
    }

    /// Deletes a job that is no longer needed; a failure only costs the API some storage.
    fn delete_quietly<S: Source, W: Writer>(&mut self, run: &mut Run<S, W>, job_id: &str) {
        if let Err(e) = run.source.delete_job(job_id) {
            if code_of(&e) == Code::Interrupted {
                return;
            }
            run.log
                .warn(&format!("could not delete job {job_id}: {e:#}"));
        }
    }

    /// Deletes the jobs ahead for windows that are past (a resumed state may name some).
    pub(super) fn release_passed<S: Source, W: Writer>(&mut self, run: &mut Run<S, W>) {
        let keep = self.windows_to_come(run, MAX_JOBS_AHEAD.saturating_add(1));
        self.release_ahead(run, &keep);
    }
}

/// The job results page size to try after `size` was refused: the ceiling the refusal states,
/// or else half (not below `JOB_PAGE_SIZE_MIN`). `None` when there is nothing smaller to try.
fn smaller_page_size(ceiling: Option<u32>, size: u32) -> Option<u32> {
    let next = match ceiling {
        // The API knows its ceiling best.
        Some(n) => n.max(1),
        None => (size / 2).max(JOB_PAGE_SIZE_MIN),
    };
    (next < size).then_some(next)
}

fn describe_job(status: &JobStatus) -> String {
    match &status.error_message {
        Some(message) => format!("{}: {message}", status.state.name()),
        None => status.state.name().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::{code_of, Code};
    use crate::export::fake::*;
    use crate::export::{run, Control, Position};
    use crate::sink::{Format, Mark, Sink};
    use time::macros::datetime;

    #[test]
    fn jobs_and_the_query_together_write_each_conversation_once() {
        let mut p = jobs_plan(Format::Csv, 3600, datetime!(2026-11-02 00:30 UTC));
        p.attributes = vec!["account".into()];
        let mut fake = sample();
        let (csv, stats) = export(&mut fake, &p);
        assert_eq!(ids_of_csv(&csv), ["a", "b", "c", "d", "e"]);
        // One job for the whole part before the split point, whatever --window says, deleted
        // after use.
        assert_eq!(fake.jobs.len(), 1);
        assert_eq!(fake.deleted_jobs, 1);
        assert_eq!(stats.jobs.conversations, 4);
        assert_eq!(stats.query.conversations, 1);
        // The results page size steps down to what the API accepts, once.
        assert!(csv.lines().next().unwrap().ends_with(",account"));
        assert!(csv.lines().nth(1).unwrap().ends_with(",A-a"));
    }

    #[test]
    fn failed_and_expired_jobs_are_resubmitted_without_repeats() {
        let p = jobs_plan(Format::Jsonl, 86_400, datetime!(2026-11-03 00:00 UTC));
        let mut fake = sample();
        fake.job_page_ceiling = 1;
        fake.failing_jobs = vec![1];
        // Job 2 (day one's second submission) expires after two pages.
        fake.expiring_job = Some((2, 2));
        let (out, _) = export(&mut fake, &p);
        let ids = crate::sink::tests::ids_in(out.as_bytes(), Format::Jsonl);
        // Job results come ordered by id; every id exactly once.
        assert_eq!(ids, ["a", "b", "c", "d", "e"]);
        assert_eq!(fake.jobs.len(), 3);
    }

    /// Jobs that keep failing (`stuck`: never leave QUEUED) end the run with exit 5 once a
    /// window's job was submitted `MAX_JOB_SUBMISSIONS` times.
    fn check_gives_up(stuck: bool, why: &str) {
        let p = jobs_plan(Format::Csv, 86_400, datetime!(2026-11-03 00:00 UTC));
        let mut fake = sample();
        if stuck {
            fake.stuck_jobs = (1..=10).collect();
        } else {
            fake.failing_jobs = (1..=10).collect();
        }
        let mut sink = Sink::new(Vec::new(), Format::Csv, "memory");
        let control = Control {
            checkpoint: &mut |_, _| Ok(()),
            stop: &|| None,
            pending: None,
        };
        let err = run(&mut fake, &mut sink, &p, None, control, &QUIET).unwrap_err();
        assert_eq!(code_of(&err), Code::GaveUp);
        assert!(format!("{err}").contains(why), "{err}");
        assert_eq!(fake.jobs.len(), MAX_JOB_SUBMISSIONS as usize);
    }

    #[test]
    fn jobs_that_keep_failing_or_never_leave_queued_give_up_with_exit_5() {
        check_gives_up(false, "FAILED: simulated");
        check_gives_up(true, "--job-timeout");
    }

    #[test]
    fn resuming_a_job_window_from_any_checkpoint_gives_the_same_bytes() {
        let p = jobs_plan(Format::Csv, 43_200, datetime!(2026-11-02 12:00 UTC));
        let whole = crash(&mut jobs_fake(), &p, None, usize::MAX).unwrap();
        for crash_at in 1..60 {
            let mut fake = jobs_fake();
            let mut attempt = crash(&mut fake, &p, None, crash_at);
            while let Err(saved) = attempt {
                attempt = crash(&mut fake, &p, Some(saved), 3);
            }
            assert_eq!(attempt.unwrap(), whole, "first crash at {crash_at}");
        }
    }

    #[test]
    fn a_smaller_page_size_is_the_stated_ceiling_or_half() {
        let check = |ceiling, size, want| assert_eq!(smaller_page_size(ceiling, size), want);
        check(Some(1000), 10_000, Some(1000));
        check(Some(3), 10_000, Some(3));
        check(None, 10_000, Some(5000));
        check(None, 150, Some(100));
        check(None, 100, None);
        check(Some(1000), 1000, None);
    }

    #[test]
    fn a_job_stuck_in_queued_is_submitted_again_after_the_job_timeout() {
        let p = jobs_plan(Format::Csv, 86_400, datetime!(2026-11-03 00:00 UTC));
        let mut fake = sample();
        fake.stuck_jobs = vec![1];
        let (csv, _) = export(&mut fake, &p);
        assert_eq!(ids_of_csv(&csv), ["a", "b", "c", "d", "e"]);
        // The range's one job was stuck: submitted again.
        assert_eq!(fake.jobs.len(), 2);
        assert!(fake.clock >= datetime!(2026-11-10 01:00 UTC));
    }

    #[test]
    fn an_expired_job_halfway_through_does_not_shrink_the_page_size() {
        // Regression: any 400 on a results page was read as "page size too large", because
        // the rendered message holds the URL and the URL holds pageSize=.
        let p = jobs_plan(Format::Jsonl, 86_400, datetime!(2026-11-03 00:00 UTC));
        let mut fake = sample();
        fake.job_page_ceiling = 1000;
        fake.expiring_job = Some((1, 0));
        let mut sizes = Vec::new();
        let mut sink = Sink::new(Vec::new(), Format::Jsonl, "memory");
        let mut checkpoint = |p: &Position, _: &[Mark]| {
            sizes.push(p.job_page_size);
            Ok(())
        };
        let control = Control {
            checkpoint: &mut checkpoint,
            stop: &|| None,
            pending: None,
        };
        run(&mut fake, &mut sink, &p, None, control, &QUIET).unwrap();
        assert!(sizes.iter().all(|s| *s == JOB_PAGE_SIZE_START), "{sizes:?}");
    }

    #[test]
    fn job_windows_span_the_lake_part_in_pieces_of_31_days_whatever_the_window() {
        let mut p = spread_plan(Format::Csv);
        p.split_at = datetime!(2026-11-02 00:00 UTC);
        let windows: Vec<(Route, String)> = p.windows().map(|(r, w)| (r, w.interval())).collect();
        assert_eq!(p.window_count(), 3 + 24);
        assert_eq!(windows.len(), 3 + 24);
        let check = |i: usize, route, interval: &str| {
            assert_eq!(windows[i], (route, interval.to_string()), "{i}")
        };
        check(
            0,
            Route::Jobs,
            "2026-08-01T00:00:00.000Z/2026-09-01T00:00:00.000Z",
        );
        check(
            1,
            Route::Jobs,
            "2026-09-01T00:00:00.000Z/2026-10-02T00:00:00.000Z",
        );
        check(
            2,
            Route::Jobs,
            "2026-10-02T00:00:00.000Z/2026-11-02T00:00:00.000Z",
        );
        check(
            3,
            Route::Query,
            "2026-11-02T00:00:00.000Z/2026-11-02T01:00:00.000Z",
        );
    }

    #[test]
    fn several_jobs_ahead_give_the_bytes_of_one_at_a_time() {
        for format in [Format::Csv, Format::Jsonl] {
            let p = spread_plan(format);
            let mut ahead = spread();
            let (pipelined, _) = export(&mut ahead, &p);
            // Refusing the first two submissions ahead lowers the jobs ahead to none.
            let mut alone = spread();
            alone.refused_submits = vec![2, 4];
            let (one_at_a_time, _) = export(&mut alone, &p);
            assert_eq!(pipelined, one_at_a_time, "{format:?}");
            let mut ids = crate::sink::tests::ids_in(pipelined.as_bytes(), format);
            ids.retain(|id| id != "conversation_id");
            assert_eq!(ids, spread_ids(&ahead, &p));
            assert_eq!(ahead.jobs.len(), 4, "one job per piece");
            assert_eq!(ahead.live_max, 1 + MAX_JOBS_AHEAD);
            assert_eq!(alone.live_max, 1);
            assert_eq!((ahead.live(), alone.live()), (0, 0), "every job deleted");
            // Jobs ahead were fulfilled while the first one was awaited: polled less.
            let polls = |f: &Fake| f.job_polls.iter().sum::<usize>();
            assert!(
                polls(&ahead) <= polls(&alone),
                "{} {}",
                polls(&ahead),
                polls(&alone)
            );
        }
    }

    #[test]
    fn lost_jobs_ahead_are_submitted_again_without_repeats() {
        let p = spread_plan(Format::Jsonl);
        let mut fake = spread();
        fake.job_page_ceiling = 2;
        // Job 2 (the second piece's, submitted ahead) fails while the first is awaited; job 3
        // (the third piece's) never leaves QUEUED; the first piece's job expires after two
        // pages.
        fake.failing_jobs = vec![2];
        fake.stuck_jobs = vec![3];
        fake.expiring_job = Some((1, 2));
        let (out, _) = export(&mut fake, &p);
        let ids = crate::sink::tests::ids_in(out.as_bytes(), Format::Jsonl);
        assert_eq!(ids, spread_ids(&fake, &p));
        assert_eq!(fake.live(), 0, "every job deleted");
        assert!(fake.jobs.len() >= 7, "{}", fake.jobs.len());
    }

    #[test]
    fn resuming_with_jobs_ahead_from_any_checkpoint_gives_the_same_bytes() {
        let p = spread_plan(Format::Csv);
        let mut fresh = spread();
        fresh.job_page_ceiling = 2;
        let whole = crash(&mut fresh, &p, None, usize::MAX).unwrap();
        let mut saw_ahead = false;
        for crash_at in 1..40 {
            let mut fake = spread();
            fake.job_page_ceiling = 2;
            let mut attempt = crash(&mut fake, &p, None, crash_at);
            while let Err(saved) = attempt {
                saw_ahead |= !saved.1.ahead.is_empty();
                attempt = crash(&mut fake, &p, Some(saved), 3);
            }
            assert_eq!(attempt.unwrap(), whole, "first crash at {crash_at}");
            // A resume reuses the saved jobs: at most the one submitted before a crash could
            // save it is left behind.
            assert!(
                fake.live() <= 1 + MAX_JOBS_AHEAD,
                "{crash_at}: {}",
                fake.live()
            );
        }
        assert!(saw_ahead);
    }

    #[test]
    fn a_job_the_api_refuses_as_too_long_is_halved() {
        let p = jobs_plan(Format::Csv, 3600, datetime!(2026-11-03 00:00 UTC));
        let mut fake = sample();
        fake.job_max_interval = Some(Duration::from_secs(12 * 3600));
        let (csv, _) = export(&mut fake, &p);
        assert_eq!(ids_of_csv(&csv), ["a", "b", "c", "d", "e"]);
        for (interval, _, _) in &fake.jobs {
            let (a, b) = bounds(interval);
            assert!(b - a <= time::Duration::hours(12), "{interval}");
        }
        assert_eq!(fake.live(), 0);
    }
}
