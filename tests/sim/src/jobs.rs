//! The bookkeeping of the asynchronous analytics jobs: job records, their state machine, the
//! lifecycle faults and the results cursor.
//!
//! By default a job's state advances only when a client polls its status, so tests that drive
//! jobs run as fast as the client polls; with a fulfilment delay it turns FULFILLED once that
//! long has passed since submission instead. A job past its lifetime is EXPIRED. The results
//! of a job are fixed when it is submitted (dataset slots in result order); `api` renders
//! them page by page. This module builds no HTTP responses and reads no clock: `api` passes
//! instants in and turns states into JSON.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::auth;
use crate::rng::{mix, Rng};

/// Lifecycle faults for jobs, by 1-based job submission number (the first accepted job is 1;
/// a resubmission is a new number).
#[derive(Clone, Debug, Default)]
pub struct JobFaults {
    /// These jobs end FAILED, with `errorMessage` "Simulated failure of job N", instead of
    /// FULFILLED. A number in both `fail` and `cancel` fails.
    pub fail: Vec<u64>,
    /// These jobs end CANCELLED instead of FULFILLED.
    pub cancel: Vec<u64>,
    /// `(job, n)`: that job turns EXPIRED once n results pages have been served (n = 0 expires
    /// it at the poll that would have answered FULFILLED).
    pub expire_after_pages: Vec<(u64, u64)>,
    /// These jobs answer QUEUED, then PENDING, for ever: they never reach a terminal state,
    /// not even EXPIRED past their `expirationDate`.
    pub stuck: Vec<u64>,
}

impl JobFaults {
    /// The terminal state job `number` reaches after its last non-terminal poll.
    fn outcome(&self, number: u64) -> JobState {
        if self.fail.contains(&number) {
            JobState::Failed
        } else if self.cancel.contains(&number) {
            JobState::Cancelled
        } else {
            JobState::Fulfilled
        }
    }

    fn is_stuck(&self, number: u64) -> bool {
        self.stuck.contains(&number)
    }

    fn pages_before_expiry(&self, number: u64) -> Option<u64> {
        self.expire_after_pages
            .iter()
            .find(|(job, _)| *job == number)
            .map(|(_, n)| *n)
    }
}

/// `AsyncQueryStatus.state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobState {
    Queued,
    Pending,
    Fulfilled,
    Failed,
    Cancelled,
    Expired,
}

impl JobState {
    /// The name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            JobState::Queued => "QUEUED",
            JobState::Pending => "PENDING",
            JobState::Fulfilled => "FULFILLED",
            JobState::Failed => "FAILED",
            JobState::Cancelled => "CANCELLED",
            JobState::Expired => "EXPIRED",
        }
    }

    fn is_running(self) -> bool {
        matches!(self, JobState::Queued | JobState::Pending)
    }
}

/// One submitted job.
#[derive(Clone, Debug)]
pub struct Job {
    /// The 1-based submission number that `JobFaults` refers to.
    pub number: u64,
    pub id: String,
    /// Dataset slots of every result, in result order.
    pub slots: Vec<u32>,
    pub submitted_at: Instant,
    /// When the job turned FULFILLED; it keeps this after expiring.
    pub fulfilled_at: Option<Instant>,
    pub state: JobState,
    /// Status polls answered so far.
    pub polls: u64,
    /// Results pages answered with 200 so far.
    pub pages_served: u64,
}

/// When a running job reaches its terminal state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fulfilment {
    /// After this many status polls answered QUEUED (the first) or PENDING (the rest): the
    /// next poll answers the terminal state. 0 ends a job at its first poll.
    Polls(u64),
    /// Once this long has passed since submission, however often it was polled; before that
    /// the first poll answers QUEUED and the others PENDING.
    After(Duration),
}

/// The rules every job follows.
#[derive(Clone, Copy, Debug)]
pub struct Lifecycle<'a> {
    pub fulfilment: Fulfilment,
    /// A job turns EXPIRED this long after submission.
    pub lifetime: Duration,
    pub faults: &'a JobFaults,
}

impl Job {
    /// Advances the job by one status poll at `now`.
    pub fn poll(&mut self, rules: &Lifecycle, now: Instant) {
        self.polls += 1;
        self.expire_if_due(rules, now);
        if !self.state.is_running() {
            return;
        }
        let due = match rules.fulfilment {
            Fulfilment::Polls(n) => self.polls > n,
            Fulfilment::After(delay) => now.saturating_duration_since(self.submitted_at) >= delay,
        };
        if !due || rules.faults.is_stuck(self.number) {
            self.state = if self.polls == 1 {
                JobState::Queued
            } else {
                JobState::Pending
            };
            return;
        }
        self.state = rules.faults.outcome(self.number);
        if self.state == JobState::Fulfilled {
            self.fulfilled_at = Some(now);
            if rules.faults.pages_before_expiry(self.number) == Some(0) {
                self.state = JobState::Expired;
            }
        }
    }

    /// Turns a job that is running or fulfilled EXPIRED once its lifetime has passed; stuck
    /// jobs never expire.
    pub fn expire_if_due(&mut self, rules: &Lifecycle, now: Instant) {
        let live = self.state.is_running() || self.state == JobState::Fulfilled;
        let due = now.saturating_duration_since(self.submitted_at) >= rules.lifetime;
        if live && due && !rules.faults.is_stuck(self.number) {
            self.state = JobState::Expired;
        }
    }

    /// Records one served results page; the job expires when its fault says so.
    pub fn page_served(&mut self, faults: &JobFaults) {
        self.pages_served += 1;
        if faults
            .pages_before_expiry(self.number)
            .is_some_and(|n| self.pages_served >= n)
        {
            self.state = JobState::Expired;
        }
    }
}

/// How a results request with too large a `pageSize` is refused (400 `bad.request` in every
/// case); the real wording is not documented, so clients must not depend on one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PageSizeWording {
    /// "pageSize must be at most N".
    #[default]
    AtMost,
    /// "pageSize must be between 1 and N".
    Between,
    /// "Invalid pageSize", without the ceiling.
    Unnumbered,
}

impl PageSizeWording {
    /// The refusal's message for a ceiling of `max`.
    pub fn message(self, max: u64) -> String {
        match self {
            PageSizeWording::AtMost => format!("pageSize must be at most {max}"),
            PageSizeWording::Between => format!("pageSize must be between 1 and {max}"),
            PageSizeWording::Unnumbered => "Invalid pageSize".to_string(),
        }
    }
}

/// Every live job, by id.
#[derive(Debug)]
pub struct JobStore {
    jobs: HashMap<String, Job>,
    /// Jobs accepted so far, deleted ones included; the next job gets this plus one.
    submitted: u64,
    rng: Rng,
}

impl JobStore {
    pub fn new(rng: Rng) -> JobStore {
        JobStore {
            jobs: HashMap::new(),
            submitted: 0,
            rng,
        }
    }

    /// Accepts a job whose results are `slots`; it starts QUEUED.
    pub fn submit(&mut self, slots: Vec<u32>, now: Instant) -> &Job {
        self.submitted += 1;
        let id = loop {
            let candidate = self.rng.uuid();
            if !self.jobs.contains_key(&candidate) {
                break candidate;
            }
        };
        let job = Job {
            number: self.submitted,
            id: id.clone(),
            slots,
            submitted_at: now,
            fulfilled_at: None,
            state: JobState::Queued,
            polls: 0,
            pages_served: 0,
        };
        self.jobs.entry(id).or_insert(job)
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut Job> {
        self.jobs.get_mut(id)
    }

    /// Forgets a job; false when there was no such job.
    pub fn remove(&mut self, id: &str) -> bool {
        self.jobs.remove(id).is_some()
    }

    /// Jobs submitted and not deleted.
    pub fn live(&self) -> u64 {
        self.jobs.len() as u64
    }
}

/// Length of the raw cursor: job number, offset and a check value.
const CURSOR_BYTES: usize = 8 + 8 + 4;

/// Builds the opaque cursor that resumes job `number` at result `offset`: the two numbers
/// masked with a key derived from the seed and a check value, then the check value, in
/// standard base64 (with `+`, `/` and `=`). A client must percent-encode it in the query
/// string.
pub fn encode_cursor(seed: u64, number: u64, offset: u64) -> String {
    let check = cursor_check(seed, number, offset);
    let (number_key, offset_key) = cursor_keys(seed, check);
    let mut raw = Vec::with_capacity(CURSOR_BYTES);
    raw.extend_from_slice(&(number ^ number_key).to_be_bytes());
    raw.extend_from_slice(&(offset ^ offset_key).to_be_bytes());
    raw.extend_from_slice(&check.to_be_bytes());
    base64_encode(&raw)
}

/// Decodes a cursor into `(job number, offset)`; None when it is not one of ours.
pub fn decode_cursor(seed: u64, text: &str) -> Option<(u64, u64)> {
    let raw = auth::base64_decode(text)?;
    if raw.len() != CURSOR_BYTES {
        return None;
    }
    let check = u32::from_be_bytes(raw[16..20].try_into().ok()?);
    let (number_key, offset_key) = cursor_keys(seed, check);
    let number = u64::from_be_bytes(raw[0..8].try_into().ok()?) ^ number_key;
    let offset = u64::from_be_bytes(raw[8..16].try_into().ok()?) ^ offset_key;
    (check == cursor_check(seed, number, offset)).then_some((number, offset))
}

/// The masks that hide the job number and the offset in a cursor.
fn cursor_keys(seed: u64, check: u32) -> (u64, u64) {
    let number_key = mix(seed ^ mix(u64::from(check)));
    (number_key, mix(number_key))
}

/// A keyed hash that makes cursors tamper-evident and different across seeds.
fn cursor_check(seed: u64, number: u64, offset: u64) -> u32 {
    (mix(seed ^ mix(number) ^ mix(offset).rotate_left(29)) >> 32) as u32
}

/// Standard base64 (RFC 4648 §4) with `=` padding; `auth::base64_decode` reverses it.
fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let mut acc = 0u32;
        for (i, &b) in chunk.iter().enumerate() {
            acc |= u32::from(b) << (16 - 8 * i);
        }
        let n_chars = chunk.len() + 1;
        for i in 0..4 {
            if i < n_chars {
                out.push(ALPHABET[((acc >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(number: u64) -> Job {
        let mut store = JobStore::new(Rng::new(1));
        for _ in 1..number {
            store.submit(Vec::new(), Instant::now());
        }
        store.submit(vec![1, 2, 3], Instant::now()).clone()
    }

    const HOUR: Duration = Duration::from_secs(3600);

    fn rules(polls_to_fulfil: u64, faults: &JobFaults) -> Lifecycle<'_> {
        Lifecycle {
            fulfilment: Fulfilment::Polls(polls_to_fulfil),
            lifetime: HOUR,
            faults,
        }
    }

    /// The states `n` polls right at submission answer.
    fn states(
        job: &mut Job,
        polls_to_fulfil: u64,
        faults: &JobFaults,
        n: usize,
    ) -> Vec<&'static str> {
        polls_at(job, &rules(polls_to_fulfil, faults), &vec![0; n])
    }

    /// The states polls answer at these many milliseconds after submission.
    fn polls_at(job: &mut Job, rules: &Lifecycle, offsets_ms: &[u64]) -> Vec<&'static str> {
        let t0 = job.submitted_at;
        offsets_ms
            .iter()
            .map(|&ms| {
                job.poll(rules, t0 + Duration::from_millis(ms));
                job.state.name()
            })
            .collect()
    }

    #[test]
    fn time_fulfils_a_job_however_often_it_is_polled() {
        let none = JobFaults::default();
        let after = |ms| Lifecycle {
            fulfilment: Fulfilment::After(Duration::from_millis(ms)),
            lifetime: HOUR,
            faults: &none,
        };
        let timed = |row: &str| check(&after(500), row);
        timed("0 100 200 499 500 501 => QUEUED PENDING PENDING PENDING FULFILLED FULFILLED");
        timed("600 => FULFILLED");
        check(&after(0), "0 => FULFILLED");
        let faults = JobFaults {
            fail: vec![1],
            ..JobFaults::default()
        };
        let failing = Lifecycle {
            faults: &faults,
            ..after(500)
        };
        check(&failing, "0 500 => QUEUED FAILED");
    }

    /// One row: polls at these milliseconds after submission (of job 1) answer these states.
    fn check(rules: &Lifecycle, row: &str) {
        let (offsets, want) = row.split_once(" => ").unwrap();
        let offsets: Vec<u64> = offsets.split(' ').map(|ms| ms.parse().unwrap()).collect();
        assert_eq!(
            polls_at(&mut job(1), rules, &offsets).join(" "),
            want,
            "{row}"
        );
    }

    #[test]
    fn stuck_jobs_never_leave_queued_or_pending() {
        let faults = JobFaults {
            stuck: vec![1],
            ..JobFaults::default()
        };
        let rules = rules(0, &faults);
        // Not even a day later, past their expiration date.
        check(&rules, "0 1 86400000 => QUEUED PENDING PENDING");
        let mut j = job(2);
        assert_eq!(polls_at(&mut j, &rules, &[0]), ["FULFILLED"]);
    }

    #[test]
    fn jobs_expire_when_their_lifetime_has_passed() {
        let none = JobFaults::default();
        let short = Lifecycle {
            lifetime: Duration::from_secs(10),
            ..rules(1, &none)
        };
        let expiring = |row: &str| check(&short, row);
        expiring("0 1 9999 10000 => QUEUED FULFILLED FULFILLED EXPIRED");
        expiring("0 10000 => QUEUED EXPIRED");
        // Without a poll, results requests expire the job too.
        let mut j = job(1);
        polls_at(&mut j, &short, &[0, 1]);
        j.expire_if_due(&short, j.submitted_at + Duration::from_secs(10));
        assert_eq!(j.state, JobState::Expired);
        // A job that failed stays failed.
        let faults = JobFaults {
            fail: vec![1],
            ..JobFaults::default()
        };
        let failing = Lifecycle {
            faults: &faults,
            ..short
        };
        check(&failing, "0 1 20000 => QUEUED FAILED FAILED");
    }

    #[test]
    fn page_size_refusals_follow_the_wording() {
        fn check(wording: PageSizeWording, want: &str) {
            assert_eq!(wording.message(1000), want, "{wording:?}");
        }
        use PageSizeWording::{AtMost, Between, Unnumbered};
        check(AtMost, "pageSize must be at most 1000");
        check(Between, "pageSize must be between 1 and 1000");
        check(Unnumbered, "Invalid pageSize");
    }

    #[test]
    fn polls_walk_queued_pending_then_fulfilled() {
        let none = JobFaults::default();
        let mut j = job(1);
        assert_eq!(j.state, JobState::Queued);
        assert_eq!(
            states(&mut j, 2, &none, 4),
            ["QUEUED", "PENDING", "FULFILLED", "FULFILLED"]
        );
        assert!(j.fulfilled_at.is_some());
        let mut j = job(1);
        assert_eq!(states(&mut j, 0, &none, 2), ["FULFILLED", "FULFILLED"]);
        let mut j = job(1);
        assert_eq!(
            states(&mut j, 3, &none, 4),
            ["QUEUED", "PENDING", "PENDING", "FULFILLED"]
        );
    }

    #[test]
    fn fail_cancel_and_expiry_follow_the_job_number() {
        let faults = JobFaults {
            fail: vec![2],
            cancel: vec![2, 3],
            expire_after_pages: vec![(4, 2), (5, 0)],
            stuck: Vec::new(),
        };
        let mut j = job(2);
        assert_eq!(
            states(&mut j, 1, &faults, 3),
            ["QUEUED", "FAILED", "FAILED"]
        );
        assert!(j.fulfilled_at.is_none());
        let mut j = job(3);
        assert_eq!(states(&mut j, 1, &faults, 2), ["QUEUED", "CANCELLED"]);
        let mut j = job(1);
        assert_eq!(states(&mut j, 1, &faults, 2), ["QUEUED", "FULFILLED"]);
        let mut j = job(4);
        assert_eq!(states(&mut j, 0, &faults, 1), ["FULFILLED"]);
        j.page_served(&faults);
        assert_eq!(j.state, JobState::Fulfilled);
        j.page_served(&faults);
        assert_eq!(j.state, JobState::Expired);
        assert_eq!(states(&mut j, 0, &faults, 1), ["EXPIRED"]);
        let mut j = job(5);
        assert_eq!(states(&mut j, 1, &faults, 2), ["QUEUED", "EXPIRED"]);
    }

    #[test]
    fn store_numbers_jobs_and_forgets_deleted_ones() {
        let mut store = JobStore::new(Rng::new(1));
        let first = store.submit(Vec::new(), Instant::now()).id.clone();
        let second = store.submit(Vec::new(), Instant::now()).clone();
        assert_eq!(second.number, 2);
        assert_ne!(first, second.id);
        assert_eq!(store.live(), 2);
        assert!(store.remove(&first));
        assert!(!store.remove(&first));
        assert!(store.get_mut(&first).is_none());
        assert_eq!(store.live(), 1);
        assert_eq!(store.submit(Vec::new(), Instant::now()).number, 3);
    }

    #[test]
    fn cursors_round_trip_and_reject_tampering() {
        for (number, offset) in [(1, 0), (1, 100), (7, 399_000), (u64::MAX, u64::MAX)] {
            let cursor = encode_cursor(5, number, offset);
            assert_eq!(cursor.len(), 28);
            assert_eq!(decode_cursor(5, &cursor), Some((number, offset)));
            assert_eq!(decode_cursor(6, &cursor), None, "other seed");
        }
        assert_eq!(encode_cursor(5, 1, 100), encode_cursor(5, 1, 100));
        let cursor = encode_cursor(5, 1, 100);
        let mut tampered = cursor.clone().into_bytes();
        tampered[3] = if tampered[3] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            decode_cursor(5, &String::from_utf8(tampered).unwrap()),
            None
        );
        assert_eq!(decode_cursor(5, "not a cursor"), None);
        assert_eq!(decode_cursor(5, ""), None);
        // Some cursors need percent-encoding; clients must not paste them raw.
        assert!((0..200).any(|offset| {
            let c = encode_cursor(1, 1, offset);
            c.contains('+') || c.contains('/')
        }));
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        fn check(plain: &[u8], encoded: &str) {
            assert_eq!(base64_encode(plain), encoded, "{plain:?}");
        }
        check(b"", "");
        check(b"f", "Zg==");
        check(b"fo", "Zm8=");
        check(b"foo", "Zm9v");
        check(b"foob", "Zm9vYg==");
        check(b"fooba", "Zm9vYmE=");
        check(b"foobar", "Zm9vYmFy");
        check(&[0xfb, 0xff, 0xbf], "+/+/");
    }
}
