//! The simulated organisation: queues, agents, wrap-up codes and conversations.
//!
//! This module owns generation (deterministic from the seed), the in-memory index and the
//! matching rules of the synchronous details query and of the asynchronous jobs.
//! Conversations are stored compactly (id, start, end, a per-conversation seed) and rendered
//! to the API's JSON shape only when a page or `Sim::conversation` needs them; rendering is a
//! pure function of the stored fields, so the same conversation always renders to the same
//! JSON. Jobs render the same JSON plus participant `attributes`, drawn from a stream of their
//! own so that the query's rendering does not change.
//!
//! Times are milliseconds since the Unix epoch (UTC) throughout.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use crate::rng::{mix, Rng};
use crate::samples;

/// The longest conversation we ever generate. Matching relies on it: a conversation that
/// ended cannot overlap an interval if it started more than this long before the interval.
pub const MAX_DURATION_MS: i64 = 3 * 3600 * 1000;
/// The shortest conversation we generate.
pub const MIN_DURATION_MS: i64 = 20 * 1000;
/// Ongoing conversations start within this span before the configured end.
const ONGOING_SPAN_MS: i64 = 60 * 60 * 1000;
pub const DAY_MS: i64 = 86_400_000;
/// 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z, the range `format_ms` shows.
const EARLIEST_DATE_MS: i64 = -62_167_219_200_000;
const LATEST_DATE_MS: i64 = 253_402_300_799_999;

/// Stream names for `Rng::derive`, so each purpose has its own sequence.
const STREAM_ORG: u64 = 1;
const STREAM_CONVERSATIONS: u64 = 2;
pub const STREAM_ARRIVALS: u64 = 3;
const STREAM_ATTRIBUTES: u64 = 4;
/// The fields added after the first renderings (IVR legs, holds, system wrap-up codes,
/// external tags) draw from a stream of their own, so every earlier field renders as before.
const STREAM_EXTRAS: u64 = 5;

/// Queue names, tricky ones first: commas, quotes and non-ASCII letters must survive CSV.
/// A search by name finds several for some names: "Billing" is a prefix of another name,
/// "Sales" and "SALES" differ only in case.
const QUEUE_NAMES: [&str; 12] = [
    "Support, \"Tier 2\"",
    "Kundendienst Düsseldorf",
    "Ventes – Québec",
    "サポート",
    "Billing Escalations",
    "Billing",
    "Sales",
    "Technical Support",
    "Returns & Refunds",
    "SALES",
    "After Hours",
    "Callbacks",
];

/// Divisions are fixed so that ids are recognisable across seeds.
const DIVISIONS: [(&str, &str); 3] = [
    ("7f0b3a41-1c9e-4d2a-9b77-2f4e5d6c7a01", "Home"),
    ("5a2c9e10-8d3b-4f61-a0c4-9e8d7c6b5a02", "Nordics"),
    ("c3e1f7a2-6b4d-4e8f-b1a9-0d2c3e4f5a03", "Americas"),
];

const AGENT_FIRST_NAMES: [&str; 8] = [
    "Jane", "Zoë", "Jürgen", "Pat", "花子", "Amélie", "Omar", "Li",
];
const AGENT_LAST_NAMES: [&str; 6] = ["Agent", "Lefèvre", "Groß", "O'Neil", "佐藤", "Smith"];
const N_AGENTS: usize = 24;
const N_WRAPUP_CODES: usize = 8;
/// Wrap-up code names, awkward ones first.
const WRAPUP_NAMES: [&str; N_WRAPUP_CODES] = [
    "Sale, \"closed\"",
    "Rückruf vereinbart",
    "解決済み",
    "Billing question",
    "Complaint",
    "Wrong number",
    "Escalated; tier 2",
    "No answer",
];
/// The system wrap-up code the API records when an agent leaves after-call work unfinished;
/// it is not in the org's list of codes.
pub const SYSTEM_WRAPUP_CODE: &str = "ININ-WRAP-UP-TIMEOUT";
/// Share of finished agent legs whose wrap-up timed out.
const WRAPUP_TIMEOUT_FRACTION: f64 = 0.05;
/// Share of inbound voice conversations that pass through an IVR before the queue.
const IVR_FRACTION: f64 = 0.6;
/// Share of finished agent legs with the customer put on hold once.
const HOLD_FRACTION: f64 = 0.3;
/// Share of conversations tagged by an external system.
const EXTERNAL_TAG_FRACTION: f64 = 0.1;

const CUSTOMER_NAMES: [&str; 6] = [
    "Mobile",
    "O'Brien, Seán",
    "\"Bobby\" Tables",
    "Ærøskøbing Kunde",
    "Customer",
    "山田 太郎",
];

/// Share of conversations whose customer participant carries no `attributes` in job results.
const NO_ATTRIBUTES_FRACTION: f64 = 0.15;
const ATTRIBUTE_LANGUAGES: [&str; 5] = ["de-DE", "en-US", "fr-CA", "ja-JP", "pt-BR"];
/// Attribute values that are awkward in CSV: commas, quotes, newlines, non-ASCII, blanks.
const ATTRIBUTE_NOTES: [&str; 5] = [
    "comma, \"quote\"",
    "line one\nline two",
    "Grüße – ünïcödé ✓",
    "  padded  ",
    "",
];
/// The API truncates attribute values to this many characters; a few values are this long.
const MAX_ATTRIBUTE_CHARS: usize = 1024;

const WRAPUP_NOTES: [&str; 3] = [
    "Customer said \"thanks\", will call back",
    "Refund issued;\nfollow-up next week",
    "Résolu – aucune action",
];

/// The id of the IVR's Architect flow.
const IVR_FLOW_ID: &str = "5f0c9a8e-1b2d-4c3e-8f70-6a5b4c3d2e1f";

/// A routing queue; deleted queues are referenced by conversations but absent from lookups.
#[derive(Clone, Debug)]
pub struct Queue {
    pub id: String,
    pub name: String,
    pub division: usize,
    pub deleted: bool,
}

#[derive(Clone, Debug)]
pub struct Agent {
    pub id: String,
    pub name: String,
}

/// One stored conversation; everything else is derived from `seed` when rendering.
#[derive(Clone, Debug)]
pub struct Conversation {
    pub id: String,
    pub start_ms: i64,
    pub end_ms: Option<i64>,
    pub seed: u64,
}

/// Which conversations a `conversationEnd` predicate keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndFilter {
    Any,
    /// `conversationEnd exists`: only finished conversations.
    Ended,
    /// `conversationEnd notExists`: only ongoing conversations.
    Ongoing,
}

/// What an asynchronous job matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JobMatch {
    pub from_ms: i64,
    pub to_ms: i64,
    pub filter: EndFilter,
    /// `startOfDayIntervalMatching`: also require a start on or after the UTC midnight
    /// that begins the interval's first day.
    pub start_of_day: bool,
    /// The data lake holds only conversations that started before this.
    pub available_before_ms: i64,
}

/// Generation parameters, a subset of `SimConfig` in the units this module uses.
#[derive(Clone, Debug)]
pub struct GenParams {
    pub seed: u64,
    pub conversations: usize,
    pub start_ms: i64,
    pub end_ms: i64,
    pub ongoing_fraction: f64,
    pub queues: usize,
    pub deleted_queues: usize,
    /// Mix in the sample records shaped like published ones (`samples.rs`) and their org.
    pub samples: bool,
}

/// All simulated data plus the indexes used to answer queries cheaply.
#[derive(Debug)]
pub struct Dataset {
    pub queues: Vec<Queue>,
    pub agents: Vec<Agent>,
    /// Wrap-up code ids; the n-th is named `WRAPUP_NAMES[n]`.
    pub wrapup_codes: Vec<String>,
    /// Append-only storage; a conversation's slot never changes.
    conversations: Vec<Conversation>,
    /// Slots sorted by (start, id).
    order: Vec<u32>,
    by_id: HashMap<String, u32>,
    /// Slots of ongoing conversations, sorted by (start, id).
    ongoing: Vec<u32>,
    /// Slots below this were generated at start; the rest arrived while paging.
    initial_len: usize,
    arrival_rng: Rng,
    /// The data's present (`SimConfig::now`): a conversation that starts at or after it does
    /// not exist yet, and one that ends after it is served in progress. None: every
    /// conversation as generated.
    pub now_ms: Option<i64>,
    /// The sample records mixed in (`GenParams::samples`), by id, as the query serves them
    /// (job results add their attributes).
    samples: HashMap<String, Value>,
    /// How many queues the seed generated (sample queues follow them).
    generated_queues: usize,
    /// The sample org's wrap-up codes, `(id, name)`.
    sample_codes: Vec<(&'static str, &'static str)>,
}

impl Dataset {
    pub fn generate(params: &GenParams) -> Dataset {
        let mut org_rng = Rng::derive(params.seed, STREAM_ORG);
        let n_queues = params.queues.max(1);
        let n_deleted = params.deleted_queues.min(n_queues);
        let queues = (0..n_queues)
            .map(|i| Queue {
                id: org_rng.uuid(),
                name: QUEUE_NAMES
                    .get(i)
                    .map_or_else(|| format!("Queue {}", i + 1), |n| n.to_string()),
                division: i % DIVISIONS.len(),
                deleted: i >= n_queues - n_deleted,
            })
            .collect();
        let agents = (0..N_AGENTS)
            .map(|i| Agent {
                id: org_rng.uuid(),
                name: format!(
                    "{} {}",
                    AGENT_FIRST_NAMES[i % AGENT_FIRST_NAMES.len()],
                    AGENT_LAST_NAMES[(i / 2) % AGENT_LAST_NAMES.len()]
                ),
            })
            .collect();
        let wrapup_codes = (0..N_WRAPUP_CODES).map(|_| org_rng.uuid()).collect();

        let mut rng = Rng::derive(params.seed, STREAM_CONVERSATIONS);
        let n = params.conversations;
        let n_ongoing = ((n as f64) * params.ongoing_fraction.clamp(0.0, 1.0)).round() as usize;
        let midnights = midnights_inside(params.start_ms, params.end_ms);
        let mut conversations: Vec<Conversation> = Vec::with_capacity(n);
        let mut by_id = HashMap::with_capacity(n);
        for i in 0..n {
            let seed = rng.next_u64();
            let id = unique_id(&mut rng, &by_id);
            let (start_ms, end_ms) = if i < n_ongoing {
                let lo = (params.end_ms - ONGOING_SPAN_MS).max(params.start_ms);
                (rng.range(lo, params.end_ms), None)
            } else if i % 97 == 3 && i > n_ongoing {
                // Same start as the previous conversation, so ordering ties break on the id.
                let start = conversations[i - 1].start_ms;
                (start, Some(start + duration_ms(&mut rng)))
            } else if i % 50 == 7 && !midnights.is_empty() {
                // Guaranteed midnight crossers: start before a UTC midnight, end after it.
                let midnight = midnights[rng.index(midnights.len())];
                let start = (midnight - rng.range(60_000, 90 * 60_000)).max(params.start_ms);
                let end = (midnight + rng.range(60_000, 60 * 60_000)).min(start + MAX_DURATION_MS);
                (start, Some(end))
            } else {
                let start = rng.range(params.start_ms, params.end_ms);
                (start, Some(start + duration_ms(&mut rng)))
            };
            by_id.insert(id.clone(), i as u32);
            conversations.push(Conversation {
                id,
                start_ms,
                end_ms,
                seed,
            });
        }
        let mut order: Vec<u32> = (0..n as u32).collect();
        order.sort_by(|&a, &b| {
            sort_key(&conversations[a as usize]).cmp(&sort_key(&conversations[b as usize]))
        });
        let ongoing = order
            .iter()
            .copied()
            .filter(|&s| conversations[s as usize].end_ms.is_none())
            .collect();
        let mut data = Dataset {
            queues,
            agents,
            wrapup_codes,
            conversations,
            order,
            by_id,
            ongoing,
            initial_len: n,
            arrival_rng: Rng::derive(params.seed, STREAM_ARRIVALS),
            now_ms: None,
            samples: HashMap::new(),
            generated_queues: n_queues,
            sample_codes: Vec::new(),
        };
        if params.samples {
            data.add_samples(params.start_ms, params.end_ms);
        }
        data
    }

    /// Adds the sample records that fall inside `[start_ms, end_ms)` (moved there by whole
    /// days) and the queues, users and wrap-up codes they name, after everything the seed
    /// generated, so generated records and ids stay as they are.
    fn add_samples(&mut self, start_ms: i64, end_ms: i64) {
        let division = self.queues.len() % DIVISIONS.len();
        self.queues
            .extend(samples::ORG_QUEUES.iter().map(|(id, name)| Queue {
                id: id.to_string(),
                name: name.to_string(),
                division,
                deleted: false,
            }));
        self.agents
            .extend(samples::ORG_USERS.iter().map(|(id, name)| Agent {
                id: id.to_string(),
                name: name.to_string(),
            }));
        self.sample_codes = samples::ORG_WRAPUP_CODES.to_vec();
        for text in samples::RECORDS {
            let Some(record) = samples::place(text, start_ms, end_ms) else {
                continue;
            };
            let (Some(start), end) = (samples::start_ms(&record), samples::end_ms(&record)) else {
                continue;
            };
            let id = record["conversationId"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            self.insert(Conversation {
                id: id.clone(),
                start_ms: start,
                end_ms: end,
                seed: 0,
            });
            self.samples.insert(id, record);
        }
        self.initial_len = self.conversations.len();
    }

    /// Stores a conversation in a new slot, in its place in the start order (and among the
    /// ongoing ones when it has no end).
    fn insert(&mut self, c: Conversation) {
        let slot = self.conversations.len() as u32;
        let key = sort_key(&c);
        let conversations = &self.conversations;
        let before = |s: &u32| sort_key(&conversations[*s as usize]) < key;
        let at = self.order.partition_point(before);
        self.order.insert(at, slot);
        if c.end_ms.is_none() {
            let at = self.ongoing.partition_point(before);
            self.ongoing.insert(at, slot);
        }
        self.by_id.insert(c.id.clone(), slot);
        self.conversations.push(c);
    }

    /// A sample record as served at the data's present: without its end while that lies in
    /// the future.
    fn render_sample(&self, c: &Conversation) -> Option<Value> {
        let mut record = self.samples.get(&c.id)?.clone();
        if self.seen(c).end_ms.is_none() {
            if let Some(fields) = record.as_object_mut() {
                fields.remove("conversationEnd");
            }
        }
        Some(record)
    }

    /// Whether the conversation exists at the data's present: it has started.
    pub fn exists(&self, c: &Conversation) -> bool {
        self.now_ms.is_none_or(|now| c.start_ms < now)
    }

    /// The conversation as it is served at the data's present: without its end while that
    /// lies in the future.
    pub fn seen(&self, c: &Conversation) -> Conversation {
        let mut seen = c.clone();
        if let (Some(end), Some(now)) = (c.end_ms, self.now_ms) {
            if end > now {
                seen.end_ms = None;
            }
        }
        seen
    }

    /// Whether the conversation is in progress at the data's present.
    pub fn in_progress(&self, c: &Conversation) -> bool {
        self.exists(c) && !self.has_ended(c)
    }

    /// Whether the conversation has ended by the data's present (no copy: matching asks
    /// this of every candidate).
    fn has_ended(&self, c: &Conversation) -> bool {
        match (c.end_ms, self.now_ms) {
            (None, _) => false,
            (Some(end), Some(now)) => end <= now,
            (Some(_), None) => true,
        }
    }

    pub fn len(&self) -> usize {
        self.conversations.len()
    }

    pub fn get(&self, id: &str) -> Option<&Conversation> {
        self.by_id
            .get(id)
            .map(|&slot| &self.conversations[slot as usize])
    }

    /// The agents' user ids, in generation order.
    pub fn user_ids(&self) -> Vec<String> {
        self.agents.iter().map(|a| a.id.clone()).collect()
    }

    pub fn queue(&self, id: &str) -> Option<&Queue> {
        self.queues.iter().find(|q| q.id == id)
    }

    /// The user's name, for a user id of the org.
    pub fn user_name(&self, id: &str) -> Option<&str> {
        self.agents
            .iter()
            .find(|a| a.id == id)
            .map(|a| a.name.as_str())
    }

    /// The wrap-up codes of the org as `(id, name)`, system codes not included.
    pub fn wrapup_code_names(&self) -> impl Iterator<Item = (&str, &'static str)> {
        self.wrapup_codes
            .iter()
            .map(String::as_str)
            .zip(WRAPUP_NAMES)
            .chain(self.sample_codes.iter().copied())
    }

    /// The conversations the synchronous details query returns for `[from_ms, to_ms)`, in
    /// ascending (start, id) order.
    ///
    /// The rule: the conversation's lifetime `[start, end or +inf)` overlaps the interval,
    /// and it started on a UTC day the interval touches. Because the interval is half-open,
    /// "touches" means from the day of `from_ms` to the day of the last millisecond before
    /// `to_ms`; with the overlap condition that reduces to `day(from_ms) <= start < to_ms`.
    pub fn matching(&self, from_ms: i64, to_ms: i64, filter: EndFilter) -> Vec<&Conversation> {
        let day_start = from_ms.div_euclid(DAY_MS) * DAY_MS;
        // Finished conversations that started before this cannot reach into the interval.
        let scan_from = day_start.max(from_ms - MAX_DURATION_MS);
        let mut out: Vec<&Conversation> = self
            .ongoing
            .iter()
            .map(|&s| &self.conversations[s as usize])
            .filter(|c| c.start_ms >= day_start && c.start_ms < scan_from && c.start_ms < to_ms)
            .collect();
        let first = self
            .order
            .partition_point(|&s| self.conversations[s as usize].start_ms < scan_from);
        for &slot in &self.order[first..] {
            let c = &self.conversations[slot as usize];
            if c.start_ms >= to_ms {
                break;
            }
            if c.end_ms.is_none_or(|end| end > from_ms) {
                out.push(c);
            }
        }
        out.retain(|c| {
            let ended = self.has_ended(c);
            self.exists(c)
                && match filter {
                    EndFilter::Any => true,
                    EndFilter::Ended => ended,
                    EndFilter::Ongoing => !ended,
                }
        });
        out
    }

    /// The slots of the conversations an asynchronous job returns, ordered by id.
    ///
    /// The rule: the conversation's lifetime `[start, end or +inf)` overlaps the interval,
    /// it started before the data-availability date and it passes the `conversationEnd`
    /// filter. With `start_of_day` it must also have started on or after the midnight (UTC)
    /// that begins the interval's first day, which is exactly the query's rule.
    pub fn job_matches(&self, m: &JobMatch) -> Vec<u32> {
        let min_start = if m.start_of_day {
            m.from_ms.div_euclid(DAY_MS) * DAY_MS
        } else {
            i64::MIN
        };
        // Finished conversations that started before this cannot reach into the interval.
        let scan_from = min_start.max(m.from_ms.saturating_sub(MAX_DURATION_MS));
        let mut out: Vec<u32> = self
            .ongoing
            .iter()
            .copied()
            .filter(|&s| {
                let start = self.conversations[s as usize].start_ms;
                start >= min_start && start < scan_from && start < m.to_ms
            })
            .collect();
        let first = self
            .order
            .partition_point(|&s| self.conversations[s as usize].start_ms < scan_from);
        for &slot in &self.order[first..] {
            let c = &self.conversations[slot as usize];
            if c.start_ms >= m.to_ms {
                break;
            }
            if c.end_ms.is_none_or(|end| end > m.from_ms) {
                out.push(slot);
            }
        }
        out.retain(|&s| {
            let c = &self.conversations[s as usize];
            let ended = self.has_ended(c);
            let kept = match m.filter {
                EndFilter::Any => true,
                EndFilter::Ended => ended,
                EndFilter::Ongoing => !ended,
            };
            kept && self.exists(c) && c.start_ms < m.available_before_ms
        });
        out.sort_by(|&a, &b| {
            let (a, b) = (
                &self.conversations[a as usize],
                &self.conversations[b as usize],
            );
            a.id.cmp(&b.id)
        });
        out
    }

    /// The conversation stored in `slot`, as returned by [`Dataset::job_matches`].
    pub fn at(&self, slot: u32) -> &Conversation {
        &self.conversations[slot as usize]
    }

    /// Conversations whose start lies in `[from_ms, to_ms)`, in (start, id) order.
    pub fn starting_in(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> impl Iterator<Item = (&Conversation, bool)> {
        let first = self
            .order
            .partition_point(|&s| self.conversations[s as usize].start_ms < from_ms);
        self.order[first..]
            .iter()
            .map(|&s| {
                (
                    &self.conversations[s as usize],
                    (s as usize) < self.initial_len,
                )
            })
            .take_while(move |(c, _)| c.start_ms < to_ms)
    }

    /// Adds `n` finished conversations starting inside `[from_ms, to_ms)`, as if they had
    /// just been indexed while a client pages through that interval.
    pub fn add_arrivals(&mut self, from_ms: i64, to_ms: i64, n: usize) {
        for _ in 0..n {
            let seed = self.arrival_rng.next_u64();
            let id = unique_id(&mut self.arrival_rng, &self.by_id);
            let start_ms = self.arrival_rng.range(from_ms, to_ms);
            let end_ms = Some(start_ms + duration_ms(&mut self.arrival_rng));
            self.insert(Conversation {
                id,
                start_ms,
                end_ms,
                seed,
            });
        }
    }

    /// Renders a conversation exactly as the details query returns it.
    pub fn render(&self, c: &Conversation) -> Value {
        if let Some(record) = self.render_sample(c) {
            return samples::without_attributes(record);
        }
        let seen = self.seen(c);
        Renderer::new(self, &seen).render()
    }

    /// Renders a conversation as a job's results return it: the query's JSON plus
    /// `attributes` on the customer participant of most conversations.
    pub fn render_job(&self, c: &Conversation) -> Value {
        if let Some(record) = self.render_sample(c) {
            return record;
        }
        let mut value = self.render(c);
        let Some(attributes) = attributes(c) else {
            return value;
        };
        let customer = value["participants"]
            .as_array_mut()
            .and_then(|ps| ps.iter_mut().find(|p| p["purpose"] == "customer"))
            .and_then(Value::as_object_mut);
        if let Some(customer) = customer {
            customer.insert("attributes".into(), Value::Object(attributes));
        }
        value
    }
}

/// The participant attributes of a conversation's customer, or None for the conversations
/// without any. The keys vary: some are common, some rare, a few values are awkward.
fn attributes(c: &Conversation) -> Option<Map<String, Value>> {
    let mut rng = Rng::derive(c.seed, STREAM_ATTRIBUTES);
    if rng.chance(NO_ATTRIBUTES_FRACTION) {
        return None;
    }
    let mut out = Map::new();
    if rng.chance(0.9) {
        let account = format!("AC-{:05}", rng.range(0, 100_000));
        out.insert("accountNumber".into(), json!(account));
    }
    if rng.chance(0.6) {
        let order = format!("ORD-{:08}", rng.range(0, 100_000_000));
        out.insert("orderRef".into(), json!(order));
    }
    if rng.chance(0.7) {
        let language = ATTRIBUTE_LANGUAGES[rng.index(ATTRIBUTE_LANGUAGES.len())];
        out.insert("language".into(), json!(language));
    }
    if rng.chance(0.3) {
        let note = ATTRIBUTE_NOTES[rng.index(ATTRIBUTE_NOTES.len())];
        out.insert("note".into(), json!(note));
    }
    if rng.chance(0.1) {
        let case = format!("CASE-{}", rng.range(1000, 10_000));
        out.insert("Case Id".into(), json!(case));
    }
    if rng.chance(0.05) {
        out.insert(
            "ivr.menu:choice".into(),
            json!(rng.range(1, 10).to_string()),
        );
    }
    if rng.chance(0.02) {
        out.insert("transcript".into(), json!("x".repeat(MAX_ATTRIBUTE_CHARS)));
    }
    Some(out)
}

fn sort_key(c: &Conversation) -> (i64, &str) {
    (c.start_ms, c.id.as_str())
}

fn unique_id(rng: &mut Rng, taken: &HashMap<String, u32>) -> String {
    loop {
        let id = rng.uuid();
        if !taken.contains_key(&id) {
            return id;
        }
    }
}

/// A log-uniform duration between the minimum and maximum: mostly minutes, some hours.
fn duration_ms(rng: &mut Rng) -> i64 {
    let lo = (MIN_DURATION_MS as f64).ln();
    let hi = (MAX_DURATION_MS as f64).ln();
    let ms = (lo + rng.next_f64() * (hi - lo)).exp() as i64;
    ms.clamp(MIN_DURATION_MS, MAX_DURATION_MS)
}

/// UTC midnights strictly inside `(start_ms, end_ms)`.
fn midnights_inside(start_ms: i64, end_ms: i64) -> Vec<i64> {
    let mut out = Vec::new();
    let mut m = (start_ms.div_euclid(DAY_MS) + 1) * DAY_MS;
    while m < end_ms {
        out.push(m);
        m += DAY_MS;
    }
    out
}

/// The `(id, name)` of a division by index.
pub fn division(index: usize) -> (&'static str, &'static str) {
    DIVISIONS[index % DIVISIONS.len()]
}

/// Formats milliseconds since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
/// Dates are shown within years 0000 to 9999: earlier or later instants are clamped.
pub fn format_ms(ms: i64) -> String {
    let ms = ms.clamp(EARLIEST_DATE_MS, LATEST_DATE_MS);
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .expect("simulated times are within the supported range");
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// Formats milliseconds since the epoch as an HTTP-date (`Thu, 26 Nov 2026 13:45:10 GMT`),
/// clamped like [`format_ms`].
pub fn http_date(ms: i64) -> String {
    let ms = ms.clamp(EARLIEST_DATE_MS, LATEST_DATE_MS);
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(format).ok())
        .unwrap_or_default()
}

/// Milliseconds since the epoch of an `OffsetDateTime`.
pub fn to_ms(t: time::OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// The media kinds we generate, with the session fields each one carries.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Media {
    Voice,
    Callback,
    Chat,
    Email,
    Message,
}

impl Media {
    fn name(self) -> &'static str {
        match self {
            Media::Voice => "voice",
            Media::Callback => "callback",
            Media::Chat => "chat",
            Media::Email => "email",
            Media::Message => "message",
        }
    }
}

/// Builds one conversation's JSON from its seed. Draw order matters for determinism, so
/// every draw happens in `render` in a fixed sequence.
struct Renderer<'a> {
    data: &'a Dataset,
    c: &'a Conversation,
    rng: Rng,
    /// Draws for the fields added later (`STREAM_EXTRAS`).
    extras: Rng,
}

/// One agent leg: who, from which queue, and when.
struct Leg {
    queue: usize,
    agent: usize,
    acd_start: i64,
    acd_end: i64,
    /// None when the customer hung up in the queue.
    talk: Option<(i64, i64)>,
    alert_start: i64,
    /// False for the leg still in progress on an ongoing conversation.
    finished: bool,
    transferred: bool,
    wrapup_code: usize,
    acw_ms: i64,
    note: Option<&'static str>,
}

impl<'a> Renderer<'a> {
    fn new(data: &'a Dataset, c: &'a Conversation) -> Renderer<'a> {
        Renderer {
            data,
            c,
            rng: Rng::new(mix(c.seed)),
            extras: Rng::derive(c.seed, STREAM_EXTRAS),
        }
    }

    fn uuid(&mut self) -> String {
        self.rng.uuid()
    }

    fn render(mut self) -> Value {
        let c = self.c;
        let inbound = self.rng.chance(0.8);
        let direction = if inbound { "inbound" } else { "outbound" };
        let media = match self.rng.index(20) {
            0..=10 => Media::Voice,
            11 => Media::Callback,
            12..=14 => Media::Chat,
            15..=16 => Media::Email,
            _ => Media::Message,
        };
        // The seed's queues: sample queues, when mixed in, are never drawn.
        let n_queues = self.data.generated_queues;
        let n_agents = N_AGENTS;
        let first_division = self.rng.index(DIVISIONS.len());
        let mut divisions = vec![DIVISIONS[first_division].0];
        if self.rng.chance(0.25) {
            divisions.push(DIVISIONS[(first_division + 1) % DIVISIONS.len()].0);
        }
        let customer_name = CUSTOMER_NAMES[self.rng.index(CUSTOMER_NAMES.len())];
        let customer_number = format!("+1555{:07}", self.rng.range(0, 10_000_000));
        let abandoned = c.end_ms.is_some() && self.rng.chance(0.08);
        // Ongoing conversations have a single agent leg still talking, so no wrap-up at all.
        let transfer = c.end_ms.is_some() && !abandoned && self.rng.chance(0.2);
        // Ongoing conversations are rendered as seen at a notional "now" this long after start.
        let elapsed_ms = match c.end_ms {
            Some(end) => end - c.start_ms,
            None => self.rng.range(MIN_DURATION_MS, 45 * 60_000),
        };
        let now = c.start_ms + elapsed_ms;

        // The timeline: queue wait, then one or two agent legs up to the end.
        let mut legs = Vec::new();
        let first_queue = self.rng.index(n_queues);
        let first_agent = self.rng.index(n_agents);
        let acd_start = c.start_ms + frac(elapsed_ms, self.rng.range(2, 8));
        let acd_end = if abandoned {
            now
        } else {
            acd_start + frac(elapsed_ms, self.rng.range(5, 20))
        };
        let split = if transfer {
            Some(acd_end + frac(now - acd_end, self.rng.range(30, 60)))
        } else {
            None
        };
        legs.push(self.leg(
            first_queue,
            first_agent,
            acd_start,
            acd_end,
            split.unwrap_or(now),
            abandoned,
        ));
        if let Some(split_at) = split {
            legs[0].transferred = true;
            legs[0].finished = true;
            let queue = (first_queue + 1 + self.rng.index(n_queues.max(2) - 1)) % n_queues;
            let agent = (first_agent + 1 + self.rng.index(n_agents - 1)) % n_agents;
            let acd2_end = split_at + frac(now - split_at, self.rng.range(5, 15));
            legs.push(self.leg(queue, agent, split_at, acd2_end, now, false));
        }
        if c.end_ms.is_none() {
            if let Some(last) = legs.last_mut() {
                last.finished = false;
            }
        }

        let mut participants =
            vec![self.customer(media, direction, customer_name, &customer_number, now)];
        if inbound && media == Media::Voice && self.extras.chance(IVR_FRACTION) {
            participants.push(self.ivr(acd_start, media, direction));
        }
        for leg in &legs {
            participants.push(self.acd(leg, media, direction));
            if leg.talk.is_some() {
                participants.push(self.agent(leg, media, direction));
            }
        }

        let mut conversation = Map::new();
        conversation.insert("conversationId".into(), json!(c.id));
        conversation.insert("conversationStart".into(), json!(format_ms(c.start_ms)));
        if let Some(end) = c.end_ms {
            conversation.insert("conversationEnd".into(), json!(format_ms(end)));
        }
        conversation.insert("originatingDirection".into(), json!(direction));
        conversation.insert("divisionIds".into(), json!(divisions));
        let initiator = if inbound { "customer" } else { "agent" };
        conversation.insert("conversationInitiator".into(), json!(initiator));
        conversation.insert("customerParticipation".into(), json!(true));
        if self.extras.chance(EXTERNAL_TAG_FRACTION) {
            let tag = if self.extras.chance(0.3) {
                format!("ticket, \"{}\"", self.extras.range(1, 10_000))
            } else {
                format!("CRM-{:06}", self.extras.range(0, 1_000_000))
            };
            conversation.insert("externalTag".into(), json!(tag));
        }
        let mos = 3.5 + self.rng.range(0, 100) as f64 / 100.0;
        if media == Media::Voice && c.end_ms.is_some() {
            conversation.insert("mediaStatsMinConversationMos".into(), json!(mos));
        }
        conversation.insert("participants".into(), Value::Array(participants));
        Value::Object(conversation)
    }

    /// Lays out one queue-then-agent leg ending at `leg_end`.
    fn leg(
        &mut self,
        queue: usize,
        agent: usize,
        acd_start: i64,
        acd_end: i64,
        leg_end: i64,
        abandoned: bool,
    ) -> Leg {
        let alert_ms = frac(leg_end - acd_end, self.rng.range(1, 5)).min(15_000);
        let acw_ms = self.rng.range(5_000, 120_000);
        let wrapup_code = self.rng.index(self.data.wrapup_codes.len());
        let note = if self.rng.chance(0.15) {
            Some(WRAPUP_NOTES[self.rng.index(WRAPUP_NOTES.len())])
        } else {
            None
        };
        Leg {
            queue,
            agent,
            acd_start,
            acd_end,
            talk: (!abandoned).then_some((acd_end + alert_ms, leg_end)),
            alert_start: acd_end,
            finished: true,
            transferred: false,
            wrapup_code,
            acw_ms,
            note,
        }
    }

    fn customer(
        &mut self,
        media: Media,
        direction: &str,
        name: &str,
        number: &str,
        now: i64,
    ) -> Value {
        let ended = self.c.end_ms.is_some();
        let mut session = Map::new();
        session.insert("sessionId".into(), json!(self.uuid()));
        session.insert("mediaType".into(), json!(media.name()));
        session.insert("direction".into(), json!(direction));
        let contact = "tel:+18005550100";
        let customer = format!("tel:{number}");
        match media {
            Media::Voice | Media::Callback => {
                let (ani, dnis) = if direction == "inbound" {
                    (customer.clone(), contact.to_string())
                } else {
                    (contact.to_string(), customer.clone())
                };
                session.insert("ani".into(), json!(ani));
                session.insert("dnis".into(), json!(dnis));
                if media == Media::Voice {
                    session.insert("provider".into(), json!("Edge"));
                }
            }
            Media::Email => {
                let address = format!("customer{}@example.com", &number[5..]);
                session.insert("addressFrom".into(), json!(address));
                session.insert("addressTo".into(), json!("support@example.com"));
            }
            Media::Chat => {
                session.insert("remote".into(), json!(name));
            }
            Media::Message => {
                if self.rng.chance(0.5) {
                    session.insert("messageType".into(), json!("sms"));
                    session.insert("ani".into(), json!(customer));
                    session.insert("dnis".into(), json!(contact));
                } else {
                    session.insert("messageType".into(), json!("webmessaging"));
                }
            }
        }
        let disconnect = ["peer", "client", "endpoint"][self.rng.index(3)];
        let mut segment = Map::new();
        segment.insert("segmentStart".into(), json!(format_ms(self.c.start_ms)));
        if ended {
            segment.insert("segmentEnd".into(), json!(format_ms(now)));
            segment.insert("disconnectType".into(), json!(disconnect));
        }
        segment.insert("segmentType".into(), json!("interact"));
        session.insert("segments".into(), json!([Value::Object(segment)]));
        json!({
            "participantId": self.uuid(),
            "participantName": name,
            "purpose": "customer",
            "sessions": [Value::Object(session)],
        })
    }

    /// The IVR the customer went through from the start until the queue.
    fn ivr(&mut self, until: i64, media: Media, direction: &str) -> Value {
        let start = self.c.start_ms;
        json!({
            "participantId": self.extras.uuid(),
            "participantName": "Main Menu",
            "purpose": "ivr",
            "sessions": [{
                "sessionId": self.extras.uuid(),
                "mediaType": media.name(),
                "direction": direction,
                // The Architect flow the IVR ran (no draw: the seeds' records stay as they were).
                "flow": {
                    "flowId": IVR_FLOW_ID,
                    "flowName": "Main Menu",
                    "flowType": "INBOUNDCALL",
                    "flowVersion": "4.0",
                    "entryReason": "tel:+18005550100",
                    "exitReason": "TRANSFER",
                    "transferType": "ACD",
                },
                "metrics": [metric("tIvr", until - start, until)],
                "segments": [{
                    "segmentStart": format_ms(start),
                    "segmentEnd": format_ms(until),
                    "segmentType": "ivr",
                    "disconnectType": "transfer",
                }],
            }],
        })
    }

    fn acd(&mut self, leg: &Leg, media: Media, direction: &str) -> Value {
        let queue = &self.data.queues[leg.queue];
        let mut metrics = vec![metric("nOffered", 1, leg.acd_start)];
        let wait_ms = leg.acd_end - leg.acd_start;
        metrics.push(metric("tAcd", wait_ms, leg.acd_end));
        let disconnect = if leg.talk.is_some() {
            metrics.push(metric("tAnswered", wait_ms, leg.acd_end));
            "transfer"
        } else {
            metrics.push(metric("tAbandon", wait_ms, leg.acd_end));
            "peer"
        };
        json!({
            "participantId": self.uuid(),
            "participantName": queue.name,
            "purpose": "acd",
            "sessions": [{
                "sessionId": self.uuid(),
                "mediaType": media.name(),
                "direction": direction,
                "metrics": metrics,
                "segments": [{
                    "segmentStart": format_ms(leg.acd_start),
                    "segmentEnd": format_ms(leg.acd_end),
                    "segmentType": "interact",
                    "queueId": queue.id,
                    "disconnectType": disconnect,
                }],
            }],
        })
    }

    fn agent(&mut self, leg: &Leg, media: Media, direction: &str) -> Value {
        let agent = &self.data.agents[leg.agent];
        let queue_id = &self.data.queues[leg.queue].id;
        let (talk_start, talk_end) = leg.talk.expect("agent legs have talk time");
        let alert_ms = talk_start - leg.alert_start;
        let mut metrics = vec![metric("tAlert", alert_ms, talk_start)];
        let mut segments = vec![json!({
            "segmentStart": format_ms(leg.alert_start),
            "segmentEnd": format_ms(talk_start),
            "segmentType": "alert",
            "queueId": queue_id,
        })];
        // A finished leg may hold the customer once, inside its talk time.
        let hold = (leg.finished && self.extras.chance(HOLD_FRACTION)).then(|| {
            let span = talk_end - talk_start;
            let from = talk_start + frac(span, self.extras.range(10, 50));
            (from, from + frac(span, self.extras.range(5, 30)))
        });
        let mut interact = Map::new();
        interact.insert("segmentStart".into(), json!(format_ms(talk_start)));
        if let Some((hold_start, hold_end)) = hold {
            interact.insert("segmentEnd".into(), json!(format_ms(hold_start)));
            interact.insert("segmentType".into(), json!("interact"));
            interact.insert("queueId".into(), json!(queue_id));
            segments.push(Value::Object(std::mem::take(&mut interact)));
            segments.push(json!({
                "segmentStart": format_ms(hold_start),
                "segmentEnd": format_ms(hold_end),
                "segmentType": "hold",
                "queueId": queue_id,
            }));
            interact.insert("segmentStart".into(), json!(format_ms(hold_end)));
        }
        if leg.finished {
            interact.insert("segmentEnd".into(), json!(format_ms(talk_end)));
        }
        interact.insert("segmentType".into(), json!("interact"));
        interact.insert("queueId".into(), json!(queue_id));
        if leg.finished {
            let disconnect = if leg.transferred { "transfer" } else { "peer" };
            interact.insert("disconnectType".into(), json!(disconnect));
        }
        segments.push(Value::Object(interact));
        if leg.finished {
            let held_ms = hold.map_or(0, |(from, to)| to - from);
            let talk_ms = talk_end - talk_start - held_ms;
            let wrap_end = talk_end + leg.acw_ms;
            if leg.transferred {
                metrics.push(metric("nTransferred", 1, talk_end));
            }
            metrics.push(metric("tTalk", talk_ms, talk_end));
            metrics.push(metric("tTalkComplete", talk_ms, talk_end));
            if let Some((_, hold_end)) = hold {
                metrics.push(metric("tHeld", held_ms, hold_end));
                metrics.push(metric("tHeldComplete", held_ms, hold_end));
            }
            metrics.push(metric("tAcw", leg.acw_ms, wrap_end));
            metrics.push(metric("tHandle", talk_ms + held_ms + leg.acw_ms, wrap_end));
            let code = if self.extras.chance(WRAPUP_TIMEOUT_FRACTION) {
                SYSTEM_WRAPUP_CODE.to_string()
            } else {
                self.data.wrapup_codes[leg.wrapup_code].clone()
            };
            let mut wrapup = Map::new();
            wrapup.insert("segmentStart".into(), json!(format_ms(talk_end)));
            wrapup.insert("segmentEnd".into(), json!(format_ms(wrap_end)));
            wrapup.insert("segmentType".into(), json!("wrapup"));
            wrapup.insert("queueId".into(), json!(queue_id));
            wrapup.insert("wrapUpCode".into(), json!(code));
            if let Some(note) = leg.note {
                wrapup.insert("wrapUpNote".into(), json!(note));
            }
            segments.push(Value::Object(wrapup));
        }
        json!({
            "participantId": self.uuid(),
            "participantName": agent.name,
            "purpose": "agent",
            "userId": agent.id,
            "sessions": [{
                "sessionId": self.uuid(),
                "mediaType": media.name(),
                "direction": direction,
                "metrics": metrics,
                "segments": segments,
            }],
        })
    }
}

/// `percent` percent of `total_ms`.
fn frac(total_ms: i64, percent: i64) -> i64 {
    total_ms * percent / 100
}

fn metric(name: &str, value: i64, emit_ms: i64) -> Value {
    json!({ "name": name, "value": value, "emitDate": format_ms(emit_ms) })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR_MS: i64 = 3_600_000;
    /// 2026-11-01T00:00:00Z.
    const NOV_1_MS: i64 = 1_793_491_200_000;

    fn params(n: usize) -> GenParams {
        GenParams {
            seed: 5,
            conversations: n,
            start_ms: NOV_1_MS,
            end_ms: NOV_1_MS + 2 * DAY_MS,
            ongoing_fraction: 0.02,
            queues: 12,
            deleted_queues: 2,
            samples: false,
        }
    }

    /// The matching rule written as directly as possible, to check the indexed version.
    fn matches_naively(c: &Conversation, from_ms: i64, to_ms: i64) -> bool {
        let overlaps = c.start_ms < to_ms && c.end_ms.is_none_or(|e| e > from_ms);
        let first_day = from_ms.div_euclid(DAY_MS);
        let last_day = (to_ms - 1).div_euclid(DAY_MS);
        let day = c.start_ms.div_euclid(DAY_MS);
        overlaps && (first_day..=last_day).contains(&day)
    }

    #[test]
    fn nov_1_constant_is_right() {
        assert_eq!(format_ms(NOV_1_MS), "2026-11-01T00:00:00.000Z");
        assert_eq!(format_ms(NOV_1_MS + 61_001), "2026-11-01T00:01:01.001Z");
    }

    #[test]
    fn format_ms_clamps_to_four_digit_years() {
        assert_eq!(format_ms(i64::MAX), "9999-12-31T23:59:59.999Z");
        assert_eq!(format_ms(i64::MIN), "0000-01-01T00:00:00.000Z");
        assert_eq!(format_ms(LATEST_DATE_MS + 1), "9999-12-31T23:59:59.999Z");
    }

    #[test]
    fn generation_is_deterministic() {
        let a = Dataset::generate(&params(300));
        let b = Dataset::generate(&params(300));
        let ids_a: Vec<_> = a
            .starting_in(i64::MIN, i64::MAX)
            .map(|(c, _)| c.id.clone())
            .collect();
        let ids_b: Vec<_> = b
            .starting_in(i64::MIN, i64::MAX)
            .map(|(c, _)| c.id.clone())
            .collect();
        assert_eq!(ids_a, ids_b);
        let c = a.get(&ids_a[17]).unwrap();
        assert_eq!(a.render(c), b.render(b.get(&ids_a[17]).unwrap()));
    }

    #[test]
    fn data_has_the_promised_shapes() {
        let data = Dataset::generate(&params(2000));
        let all: Vec<&Conversation> = data
            .starting_in(i64::MIN, i64::MAX)
            .map(|(c, _)| c)
            .collect();
        assert_eq!(all.len(), 2000);
        let midnight = NOV_1_MS + DAY_MS;
        assert!(all
            .iter()
            .any(|c| c.start_ms < midnight && c.end_ms.is_some_and(|e| e > midnight)));
        assert_eq!(all.iter().filter(|c| c.end_ms.is_none()).count(), 40);
        assert!(all.windows(2).any(|w| w[0].start_ms == w[1].start_ms));
        for c in &all {
            if let Some(end) = c.end_ms {
                let d = end - c.start_ms;
                assert!(
                    (MIN_DURATION_MS.min(2 * 60_000)..=MAX_DURATION_MS).contains(&d),
                    "{d}"
                );
            } else {
                assert!(c.start_ms >= NOV_1_MS + 2 * DAY_MS - HOUR_MS);
            }
        }
        let json =
            serde_json::to_string(&all.iter().map(|c| data.render(c)).collect::<Vec<_>>()).unwrap();
        for needle in [
            "wrapUpCode",
            "\"tel:+1555",
            "\"purpose\":\"agent\"",
            "\"nTransferred\"",
            "\"tAbandon\"",
            "\"tHeld\"",
            "\"tIvr\"",
            "\"segmentType\":\"hold\"",
            "\"purpose\":\"ivr\"",
            "\"externalTag\"",
            "\"conversationInitiator\"",
            SYSTEM_WRAPUP_CODE,
        ] {
            assert!(json.contains(needle), "{needle}");
        }
        let deleted: Vec<&Queue> = data.queues.iter().filter(|q| q.deleted).collect();
        assert_eq!(deleted.len(), 2);
        assert!(json.contains(&deleted[0].id));
        assert!(data
            .queues
            .iter()
            .any(|q| q.name == "サポート" && !q.deleted));
    }

    /// The sum of a session's metrics of this name.
    fn session_metric(session: &Value, name: &str) -> Option<i64> {
        let metrics = session["metrics"].as_array()?;
        let values: Vec<i64> = metrics
            .iter()
            .filter(|m| m["name"] == name)
            .filter_map(|m| m["value"].as_i64())
            .collect();
        (!values.is_empty()).then(|| values.iter().sum())
    }

    /// Milliseconds a session spent in segments of this type.
    fn segment_ms(session: &Value, kind: &str) -> i64 {
        let ms = |v: &Value| {
            to_ms(
                time::OffsetDateTime::parse(
                    v.as_str().unwrap(),
                    &time::format_description::well_known::Rfc3339,
                )
                .unwrap(),
            )
        };
        session["segments"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["segmentType"] == kind && s.get("segmentEnd").is_some())
            .map(|s| ms(&s["segmentEnd"]) - ms(&s["segmentStart"]))
            .sum()
    }

    #[test]
    fn metrics_agree_with_the_segments() {
        let data = Dataset::generate(&params(1000));
        let mut held = 0;
        for (c, _) in data.starting_in(i64::MIN, i64::MAX) {
            let json = data.render(c);
            for p in json["participants"].as_array().unwrap() {
                for session in p["sessions"].as_array().unwrap() {
                    let get = |name| session_metric(session, name);
                    match p["purpose"].as_str().unwrap() {
                        "ivr" => assert_eq!(get("tIvr"), Some(segment_ms(session, "ivr"))),
                        "acd" if c.end_ms.is_some() || get("tAbandon").is_none() => {
                            let wait = get("tAcd").unwrap();
                            assert_eq!(wait, segment_ms(session, "interact"));
                            assert_eq!(get("tAnswered").or(get("tAbandon")), Some(wait));
                        }
                        "agent" if get("tTalk").is_some() => {
                            let (talk, acw) = (get("tTalk").unwrap(), get("tAcw").unwrap());
                            let hold = get("tHeld").unwrap_or(0);
                            held += i64::from(hold > 0);
                            assert_eq!(talk, segment_ms(session, "interact"));
                            assert_eq!(hold, segment_ms(session, "hold"));
                            assert_eq!(acw, segment_ms(session, "wrapup"));
                            assert_eq!(get("tHandle"), Some(talk + hold + acw));
                        }
                        _ => {}
                    }
                }
            }
        }
        assert!(held > 100, "{held}");
        assert!(data
            .wrapup_code_names()
            .all(|(id, name)| !id.is_empty() && !name.is_empty()));
        assert!(data
            .agents
            .iter()
            .all(|a| data.user_name(&a.id) == Some(a.name.as_str())));
    }

    #[test]
    fn ongoing_conversations_have_no_end_or_wrapup() {
        let data = Dataset::generate(&params(500));
        let ongoing: Vec<&Conversation> = data
            .starting_in(i64::MIN, i64::MAX)
            .map(|(c, _)| c)
            .filter(|c| c.end_ms.is_none())
            .collect();
        assert_eq!(ongoing.len(), 10);
        for c in ongoing {
            let json = data.render(c);
            assert!(json.get("conversationEnd").is_none());
            assert!(!json.to_string().contains("wrapup"));
        }
    }

    #[test]
    fn matching_agrees_with_the_naive_rule() {
        let mut data = Dataset::generate(&params(3000));
        data.add_arrivals(NOV_1_MS + 5 * HOUR_MS, NOV_1_MS + 6 * HOUR_MS, 50);
        let all: Vec<Conversation> = data
            .starting_in(i64::MIN, i64::MAX)
            .map(|(c, _)| c.clone())
            .collect();
        let windows = [
            (NOV_1_MS, NOV_1_MS + HOUR_MS),
            (NOV_1_MS + 23 * HOUR_MS, NOV_1_MS + DAY_MS),
            (NOV_1_MS + DAY_MS, NOV_1_MS + DAY_MS + HOUR_MS),
            (NOV_1_MS + DAY_MS + 30 * 60_000, NOV_1_MS + 3 * DAY_MS),
            (NOV_1_MS + 47 * HOUR_MS, NOV_1_MS + 2 * DAY_MS),
            (
                NOV_1_MS + 2 * DAY_MS + 4 * HOUR_MS,
                NOV_1_MS + 2 * DAY_MS + 5 * HOUR_MS,
            ),
            (NOV_1_MS - DAY_MS, NOV_1_MS + 7 * DAY_MS),
        ];
        for (from, to) in windows {
            let expected: Vec<&str> = all
                .iter()
                .filter(|c| matches_naively(c, from, to))
                .map(|c| c.id.as_str())
                .collect();
            let got: Vec<&str> = data
                .matching(from, to, EndFilter::Any)
                .iter()
                .map(|c| c.id.as_str())
                .collect();
            assert_eq!(
                got,
                expected,
                "window {} .. {}",
                format_ms(from),
                format_ms(to)
            );
            let ended = data.matching(from, to, EndFilter::Ended);
            assert!(ended.iter().all(|c| c.end_ms.is_some()));
        }
        // A conversation crossing midnight is returned by the windows on both sides.
        let midnight = NOV_1_MS + DAY_MS;
        let crosser = all
            .iter()
            .find(|c| c.start_ms < midnight && c.end_ms.is_some_and(|e| e > midnight + 60_000))
            .unwrap();
        let before = data.matching(midnight - HOUR_MS, midnight, EndFilter::Any);
        let after = data.matching(midnight, midnight + HOUR_MS, EndFilter::Any);
        assert!(before.iter().any(|c| c.id == crosser.id));
        // It started on the previous UTC day, so the next day's window does not return it.
        assert!(!after.iter().any(|c| c.id == crosser.id));
        let within_day = data.matching(crosser.start_ms + 1, crosser.start_ms + 2, EndFilter::Any);
        assert!(within_day.iter().any(|c| c.id == crosser.id));
    }

    #[test]
    fn job_matching_agrees_with_the_naive_rule() {
        let mut data = Dataset::generate(&params(3000));
        data.add_arrivals(NOV_1_MS + 5 * HOUR_MS, NOV_1_MS + 6 * HOUR_MS, 50);
        let all: Vec<Conversation> = data
            .starting_in(i64::MIN, i64::MAX)
            .map(|(c, _)| c.clone())
            .collect();
        let windows = [
            (NOV_1_MS, NOV_1_MS + HOUR_MS),
            (NOV_1_MS + DAY_MS, NOV_1_MS + DAY_MS + HOUR_MS),
            (NOV_1_MS + DAY_MS + 30 * 60_000, NOV_1_MS + 3 * DAY_MS),
            (NOV_1_MS + 47 * HOUR_MS, NOV_1_MS + 2 * DAY_MS),
            (NOV_1_MS + 2 * DAY_MS, NOV_1_MS + 2 * DAY_MS + HOUR_MS),
            (NOV_1_MS - DAY_MS, NOV_1_MS + 7 * DAY_MS),
        ];
        let filters = [EndFilter::Any, EndFilter::Ended, EndFilter::Ongoing];
        for (from, to) in windows {
            for start_of_day in [false, true] {
                for filter in filters {
                    for available in [i64::MAX, NOV_1_MS + 36 * HOUR_MS] {
                        let rule = JobMatch {
                            from_ms: from,
                            to_ms: to,
                            filter,
                            start_of_day,
                            available_before_ms: available,
                        };
                        let mut expected: Vec<&str> = all
                            .iter()
                            .filter(|c| {
                                let overlaps = c.start_ms < to && c.end_ms.is_none_or(|e| e > from);
                                let day_ok =
                                    !start_of_day || c.start_ms >= from.div_euclid(DAY_MS) * DAY_MS;
                                let filter_ok = match filter {
                                    EndFilter::Any => true,
                                    EndFilter::Ended => c.end_ms.is_some(),
                                    EndFilter::Ongoing => c.end_ms.is_none(),
                                };
                                overlaps && day_ok && filter_ok && c.start_ms < available
                            })
                            .map(|c| c.id.as_str())
                            .collect();
                        expected.sort_unstable();
                        let got: Vec<&str> = data
                            .job_matches(&rule)
                            .into_iter()
                            .map(|s| data.at(s).id.as_str())
                            .collect();
                        assert_eq!(got, expected, "{rule:?}");
                    }
                }
            }
            // With start-of-day matching, a job matches exactly what the query matches.
            let rule = JobMatch {
                from_ms: from,
                to_ms: to,
                filter: EndFilter::Any,
                start_of_day: true,
                available_before_ms: i64::MAX,
            };
            let mut query: Vec<&str> = data
                .matching(from, to, EndFilter::Any)
                .iter()
                .map(|c| c.id.as_str())
                .collect();
            query.sort_unstable();
            let job: Vec<&str> = data
                .job_matches(&rule)
                .into_iter()
                .map(|s| data.at(s).id.as_str())
                .collect();
            assert_eq!(job, query);
        }
        // Lifetime overlap returns a midnight crosser in the next day's window; the query and
        // start-of-day matching do not.
        let midnight = NOV_1_MS + DAY_MS;
        let crosser = all
            .iter()
            .find(|c| c.start_ms < midnight && c.end_ms.is_some_and(|e| e > midnight + 60_000))
            .unwrap();
        let mut rule = JobMatch {
            from_ms: midnight,
            to_ms: midnight + HOUR_MS,
            filter: EndFilter::Any,
            start_of_day: false,
            available_before_ms: i64::MAX,
        };
        let ids = |rule: &JobMatch| -> Vec<String> {
            data.job_matches(rule)
                .into_iter()
                .map(|s| data.at(s).id.clone())
                .collect()
        };
        assert!(ids(&rule).contains(&crosser.id));
        rule.start_of_day = true;
        assert!(!ids(&rule).contains(&crosser.id));
    }

    #[test]
    fn jobs_render_attributes_the_query_does_not() {
        let data = Dataset::generate(&params(400));
        let all: Vec<&Conversation> = data
            .starting_in(i64::MIN, i64::MAX)
            .map(|(c, _)| c)
            .collect();
        let mut with_attributes = 0;
        let mut keys = std::collections::BTreeSet::new();
        let mut values = std::collections::BTreeSet::new();
        for c in &all {
            let query = data.render(c);
            let mut job = data.render_job(c);
            assert!(!query.to_string().contains("\"attributes\""));
            let customer = job["participants"]
                .as_array_mut()
                .unwrap()
                .iter_mut()
                .find(|p| p["purpose"] == "customer")
                .unwrap()
                .as_object_mut()
                .unwrap();
            if let Some(attributes) = customer.remove("attributes") {
                with_attributes += 1;
                for (key, value) in attributes.as_object().unwrap() {
                    let value = value.as_str().expect("attribute values are strings");
                    assert!(value.chars().count() <= MAX_ATTRIBUTE_CHARS);
                    keys.insert(key.clone());
                    values.insert(value.to_string());
                }
            }
            // Apart from the attributes, a job renders exactly what the query renders.
            assert_eq!(job, query);
            assert_eq!(data.render_job(c), data.render_job(c));
        }
        assert!((280..=380).contains(&with_attributes), "{with_attributes}");
        for key in ["accountNumber", "orderRef", "language", "note", "Case Id"] {
            assert!(keys.contains(key), "{key}");
        }
        assert!(values.contains(ATTRIBUTE_NOTES[0]));
    }

    #[test]
    fn arrivals_are_sorted_in_and_marked() {
        let mut data = Dataset::generate(&params(100));
        data.add_arrivals(NOV_1_MS, NOV_1_MS + HOUR_MS, 20);
        assert_eq!(data.len(), 120);
        let all: Vec<(&Conversation, bool)> = data.starting_in(i64::MIN, i64::MAX).collect();
        assert!(all.windows(2).all(|w| sort_key(w[0].0) <= sort_key(w[1].0)));
        let arrivals: Vec<_> = all.iter().filter(|(_, initial)| !initial).collect();
        assert_eq!(arrivals.len(), 20);
        assert!(arrivals
            .iter()
            .all(|(c, _)| (NOV_1_MS..NOV_1_MS + HOUR_MS).contains(&c.start_ms)));
    }

    #[test]
    fn a_hundred_thousand_conversations_are_generated_with_distinct_ids() {
        // How fast belongs in `make bench`; here: the large dataset the bench uses is whole.
        let data = Dataset::generate(&GenParams {
            conversations: 100_000,
            ..params(0)
        });
        assert_eq!(data.len(), 100_000);
        let ids: std::collections::HashSet<&str> =
            (0..100_000).map(|slot| data.at(slot).id.as_str()).collect();
        assert_eq!(ids.len(), 100_000);
    }
}
