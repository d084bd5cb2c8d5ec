//! The ledger of conversations still in progress (`--pending FILE`): what it holds, how it is
//! read, checked, merged and aged. Pure: no clock, no file; `file.rs` below reads and writes it
//! and carries its protocol with a run.
//!
//! A nightly export meets conversations that have not ended. Each one is recorded here (its
//! id, its `conversationStart`, and when an export first saw it in progress); a later run
//! that names the same ledger asks the API for the recorded ids first, writes those that have
//! ended and removes them. The file is JSON, sorted by id, and holds no secret: a format
//! version, the fingerprint of the command family that may share it (API, OAuth client id,
//! format, columns) and the entries. Nothing in it is trusted: `parse` checks every field and
//! refuses anything inconsistent, naming what is wrong.
//!
//! A follow-up a run has written is not removed at once but marked as handed to that run
//! ([`Handed`]: its output and state file): until the run publishes its output, a restart of it
//! would discard its `FILE.partial`, and with it the follow-up. Entries handed to a run are not
//! due to any run; they return to due when their run starts over, and leave the ledger once
//! their run has published (its state and its partial both gone).
//!
//! `check_version` is the size and format-version check that the state file shares.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::window;

pub mod file;

/// Bumped whenever the meaning of a saved field changes (2: entries handed to a run).
pub const VERSION: u32 = 2;
/// The older format still read: the same as this one, without handed entries.
pub const VERSION_1: u32 = 1;
/// More entries than this is not a ledger of ours (a month of open digital conversations of
/// a large contact centre is a few thousand).
pub const MAX_ENTRIES: usize = 200_000;
/// A ledger file larger than this is not one of ours.
pub const MAX_BYTES: u64 = 64 * 1024 * 1024;
/// The longest path a handed entry names.
pub const MAX_PATH_LEN: usize = 4096;
/// The longest conversation id accepted (Genesys ids are 36-character UUIDs).
pub const MAX_ID_LEN: usize = 128;
/// How far a conversation's start may lie after the moment it was first seen, for clocks
/// that disagree; beyond it the entry is inconsistent.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(3600);

/// The ledger as saved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ledger {
    pub version: u32,
    /// The command family that may share the ledger; see [`fingerprint`].
    pub fingerprint: String,
    /// Sorted by id, each id once.
    pub entries: Vec<Entry>,
}

/// A conversation seen in progress.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub id: String,
    /// Its `conversationStart` (RFC 3339, milliseconds, UTC).
    pub start: String,
    /// When an export first found it in progress.
    pub first_seen: String,
    /// Written (ended) by the run named here, whose output is not published yet; `None`:
    /// still due.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handed: Option<Handed>,
}

/// The run a follow-up was handed to: the absolute paths of its output `FILE` (its rows wait
/// in `FILE.partial`) and of its state file. The state names the run: it exists while the run
/// can resume, and is removed just before the run publishes `FILE` or when it starts over.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Handed {
    pub output: String,
    pub state: String,
}

/// The command family that may share a ledger: the same API and OAuth client (so the same
/// organisation), the same format and the same columns, as one readable line.
pub fn fingerprint(api_base: &str, client_id: &str, format: &str, columns: &[String]) -> String {
    format!(
        "api={api_base} client={client_id} format={format} columns={}",
        columns.join(",")
    )
}

/// Whether `id` can be a conversation id: 1 to `MAX_ID_LEN` ASCII letters, digits, `-`, `_`
/// or `.` (nothing that would need escaping in a URL's comma-separated list).
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// What every file the export saves (a ledger, a state) checks before it parses the rest:
/// at most `max_bytes`, and a JSON object whose `version` is the `version` of the `format`
/// this build reads. The errors are `too_large`, `not_ours`, or which build wrote the file.
pub fn check_version(
    text: &str,
    max_bytes: u64,
    format: &str,
    version: u32,
    too_large: &str,
    not_ours: &str,
) -> Result<(), String> {
    if text.len() as u64 > max_bytes {
        return Err(too_large.to_string());
    }
    #[derive(Deserialize)]
    struct Versioned {
        version: u32,
    }
    let found = serde_json::from_str::<Versioned>(text)
        .map_err(|_| not_ours.to_string())?
        .version;
    if found != version {
        let age = if found > version {
            "a newer"
        } else {
            "an older"
        };
        return Err(format!(
            "it was written by {age} genesys-export, in {format} format {found}; this one reads format {version}"
        ));
    }
    Ok(())
}

impl Ledger {
    /// An empty ledger for the command family `fingerprint`.
    pub fn new(fingerprint: &str) -> Ledger {
        Ledger {
            version: VERSION,
            fingerprint: fingerprint.to_string(),
            entries: Vec::new(),
        }
    }

    /// Parses and checks a ledger file's text; the error says what is wrong.
    /// A ledger of format 1 reads as one of this format without handed entries.
    pub fn parse(text: &str) -> Result<Ledger, String> {
        let check = |version| {
            check_version(
                text,
                MAX_BYTES,
                "ledger",
                version,
                "it is too large to be a ledger of conversations in progress",
                "it is not a ledger of conversations in progress",
            )
        };
        check(VERSION).or_else(|why| check(VERSION_1).map_err(|_| why))?;
        let mut ledger =
            serde_json::from_str::<Ledger>(text).map_err(|e| format!("it does not parse: {e}"))?;
        if ledger.version == VERSION_1 {
            if ledger.entries.iter().any(|e| e.handed.is_some()) {
                return Err(format!(
                    "it is in ledger format {VERSION_1}, which hands no entry to a run, yet does"
                ));
            }
            ledger.version = VERSION;
        }
        ledger.check()?;
        Ok(ledger)
    }

    /// Checks every field: at most `MAX_ENTRIES`, ids valid and strictly ascending (so each
    /// once), timestamps readable, no start long after its first sighting.
    pub fn check(&self) -> Result<(), String> {
        if self.fingerprint.trim().is_empty() {
            return Err("an empty fingerprint".into());
        }
        if self.entries.len() > MAX_ENTRIES {
            return Err(format!(
                "{} entries, more than the {MAX_ENTRIES} a ledger holds",
                self.entries.len()
            ));
        }
        for entry in &self.entries {
            entry.check()?;
        }
        for pair in self.entries.windows(2) {
            if pair[0].id >= pair[1].id {
                return Err(format!(
                    "the entries are not sorted by id, each once (at {})",
                    pair[1].id
                ));
            }
        }
        Ok(())
    }

    /// The text saved: pretty JSON, one field a line.
    pub fn to_text(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    /// The recorded ids, handed or not, in ascending order.
    #[cfg(test)]
    pub fn ids(&self) -> Vec<String> {
        self.entries.iter().map(|e| e.id.clone()).collect()
    }

    /// The ids due to a follow-up (those not handed to a run), in ascending order.
    pub fn due(&self) -> Vec<String> {
        self.entries
            .iter()
            .filter(|e| e.handed.is_none())
            .map(|e| e.id.clone())
            .collect()
    }

    /// How many entries are still due (the summary's "still pending").
    pub fn pending(&self) -> usize {
        self.entries.iter().filter(|e| e.handed.is_none()).count()
    }

    /// Marks these ids (written by the run `run`) as handed to it; those not recorded are
    /// ignored. Returns how many changed.
    pub fn hand(&mut self, ids: &[String], run: &Handed) -> usize {
        let mut changed = 0;
        for id in ids {
            if let Ok(at) = self.find(id) {
                if let Some(entry) = self.entries.get_mut(at) {
                    if entry.handed.as_ref() != Some(run) {
                        entry.handed = Some(run.clone());
                        changed += 1;
                    }
                }
            }
        }
        changed
    }

    /// Removes the entries handed to the run whose state is `state` (it has published its
    /// output); returns how many.
    pub fn remove_handed(&mut self, state: &str) -> usize {
        let before = self.entries.len();
        self.entries
            .retain(|e| e.handed.as_ref().is_none_or(|h| h.state != state));
        before - self.entries.len()
    }

    /// Settles the entries handed to runs as the run `own` opens the ledger. An entry handed
    /// to a run that has `published` (its output left the partial) is removed, whichever run
    /// it was (an output name is reused night after night when a loader takes the file away).
    /// Those handed to `own` otherwise stay handed if it `resumes` (its partial holds them)
    /// and are due again if it starts over (its partial is written afresh); those handed to
    /// another run are left to it.
    pub fn settle_handed(
        &mut self,
        own: &Handed,
        resumes: bool,
        published: impl Fn(&Handed) -> bool,
    ) -> Settled {
        let mut settled = Settled::default();
        let before = self.entries.len();
        let is_own = |h: &Handed| h.state == own.state;
        self.entries.retain(|e| match &e.handed {
            Some(h) if !(resumes && is_own(h)) => !published(h),
            _ => true,
        });
        settled.published = before - self.entries.len();
        if !resumes {
            for entry in &mut self.entries {
                if entry.handed.as_ref().is_some_and(is_own) {
                    entry.handed = None;
                    settled.released += 1;
                }
            }
        }
        settled
    }

    fn find(&self, id: &str) -> Result<usize, usize> {
        self.entries.binary_search_by(|e| e.id.as_str().cmp(id))
    }

    /// Records conversations found in progress at `now`, each as (id, start). An id already
    /// recorded keeps its entry (and its first sighting). Returns how many were added; an
    /// invalid id, or a ledger that would grow past `MAX_ENTRIES`, is an error.
    pub fn merge(
        &mut self,
        found: &[(String, OffsetDateTime)],
        now: OffsetDateTime,
    ) -> Result<usize, String> {
        let mut added = 0;
        for (id, start) in found {
            if !valid_id(id) {
                return Err(format!(
                    "conversation id {:?} cannot be recorded: it is not of the form ids take",
                    crate::api::one_line(id)
                ));
            }
            let Err(at) = self.find(id) else {
                continue;
            };
            if self.entries.len() >= MAX_ENTRIES {
                return Err(format!(
                    "the ledger would hold more than {MAX_ENTRIES} conversations in progress: lower --pending-max-age"
                ));
            }
            self.entries.insert(
                at,
                Entry {
                    id: id.clone(),
                    start: window::api_timestamp(*start),
                    first_seen: window::api_timestamp(now),
                    handed: None,
                },
            );
            added += 1;
        }
        Ok(added)
    }

    /// Removes these ids (those not recorded are ignored); returns how many were removed.
    pub fn remove(&mut self, ids: &[String]) -> usize {
        let before = self.entries.len();
        let mut ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        ids.sort_unstable();
        self.entries
            .retain(|e| ids.binary_search(&e.id.as_str()).is_err());
        before - self.entries.len()
    }

    /// Removes and returns the entries still due whose conversations started more than
    /// `max_age` before `now` (a handed entry has ended: its run decides its fate).
    pub fn age(&mut self, max_age: Duration, now: OffsetDateTime) -> Vec<Entry> {
        let Some(oldest) =
            now.checked_sub(time::Duration::try_from(max_age).unwrap_or(time::Duration::MAX))
        else {
            return Vec::new();
        };
        let (old, kept) = std::mem::take(&mut self.entries)
            .into_iter()
            .partition(|e| {
                e.handed.is_none() && e.start_time().is_some_and(|start| start < oldest)
            });
        self.entries = kept;
        old
    }
}

/// What [`Ledger::settle_handed`] changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Settled {
    /// Entries removed: their run has published them.
    pub published: usize,
    /// Entries due again: this run starts over.
    pub released: usize,
}

impl Entry {
    /// The entry's start (checked on load).
    pub fn start_time(&self) -> Option<OffsetDateTime> {
        window::parse_api_timestamp(&self.start)
    }

    fn check(&self) -> Result<(), String> {
        if !valid_id(&self.id) {
            return Err(format!(
                "the id {:?} is not of the form conversation ids take",
                crate::api::one_line(&self.id)
            ));
        }
        let start = self
            .start_time()
            .ok_or_else(|| format!("the start of {} does not parse", self.id))?;
        let seen = window::parse_api_timestamp(&self.first_seen)
            .ok_or_else(|| format!("the first_seen of {} does not parse", self.id))?;
        let skew = time::Duration::try_from(MAX_CLOCK_SKEW).unwrap_or(time::Duration::ZERO);
        if seen.checked_add(skew).is_some_and(|latest| start > latest) {
            return Err(format!("{} was first seen before it started", self.id));
        }
        if let Some(handed) = &self.handed {
            for (what, path) in [("output", &handed.output), ("state", &handed.state)] {
                if !valid_path(path) {
                    return Err(format!(
                        "{} is handed to a run whose {what} path is not absolute, is too long or holds control characters",
                        self.id
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Whether a handed entry's path can be one the export wrote: absolute, at most
/// `MAX_PATH_LEN` bytes, no control character (it is named in messages).
fn valid_path(path: &str) -> bool {
    path.len() <= MAX_PATH_LEN
        && std::path::Path::new(path).is_absolute()
        && !path.chars().any(char::is_control)
}

impl Handed {
    /// The run writing `output`, whose state is `state`, as a handed entry names it: both
    /// absolute (the caller makes them so), UTF-8, without control characters.
    pub fn of(output: &std::path::Path, state: &std::path::Path) -> Result<Handed, String> {
        let text = |path: &std::path::Path| -> Result<String, String> {
            match path.to_str() {
                Some(text) if valid_path(text) => Ok(text.to_string()),
                _ => Err(format!(
                    "{} cannot be named in the ledger (not absolute, not UTF-8, too long, or with control characters)",
                    path.display()
                )),
            }
        };
        Ok(Handed {
            output: text(output)?,
            state: text(state)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const FP: &str = "api=https://api.mypurecloud.ie client=c format=csv columns=a,b";

    fn entry(id: &str, start: &str, seen: &str) -> Entry {
        Entry {
            id: id.into(),
            start: start.into(),
            first_seen: seen.into(),
            handed: None,
        }
    }

    fn sample() -> Ledger {
        Ledger {
            version: VERSION,
            fingerprint: FP.into(),
            entries: vec![
                entry(
                    "a-1",
                    "2026-11-01T23:10:00.000Z",
                    "2026-11-02T00:05:00.000Z",
                ),
                entry(
                    "b-2",
                    "2026-11-01T23:40:00.000Z",
                    "2026-11-02T00:05:00.000Z",
                ),
            ],
        }
    }

    fn run(name: &str) -> Handed {
        Handed {
            output: format!("/data/{name}.csv"),
            state: format!("/data/{name}.csv.state"),
        }
    }

    /// The sample with a third entry, handed to the run `night-1`.
    fn with_handed() -> Ledger {
        let mut ledger = sample();
        let mut handed = entry(
            "c-3",
            "2026-11-01T22:00:00.000Z",
            "2026-11-01T00:05:00.000Z",
        );
        handed.start = "2026-10-31T22:00:00.000Z".into();
        handed.handed = Some(run("night-1"));
        ledger.entries.push(handed);
        ledger
    }

    #[test]
    fn fingerprint_names_the_command_family() {
        assert_eq!(
            fingerprint("https://x", "id-1", "jsonl", &["a".into(), "b".into()]),
            "api=https://x client=id-1 format=jsonl columns=a,b"
        );
    }

    #[test]
    fn ledger_round_trips_without_secrets() {
        let ledger = sample();
        let text = ledger.to_text();
        assert!(!text.contains("secret") && !text.contains("token"));
        assert_eq!(Ledger::parse(&text).unwrap(), ledger);
        assert_eq!(ledger.ids(), ["a-1", "b-2"]);
    }

    /// A hand-edited ledger is refused with a reason naming what is wrong.
    fn check_edit(edit: impl Fn(&mut Ledger), why: &str) {
        let mut ledger = sample();
        edit(&mut ledger);
        let err = Ledger::parse(&ledger.to_text()).expect_err(why);
        assert!(err.contains(why), "'{err}' lacks '{why}'");
    }

    #[test]
    fn hand_edited_ledgers_are_refused() {
        check_edit(|l| l.entries[0].id = String::new(), "is not of the form");
        check_edit(|l| l.entries[0].id = "a,b".into(), "is not of the form");
        check_edit(|l| l.entries[0].id = "a b".into(), "is not of the form");
        check_edit(|l| l.entries[0].id = "x".repeat(129), "is not of the form");
        check_edit(|l| l.entries[1].id = "a-1".into(), "not sorted by id");
        check_edit(|l| l.entries.swap(0, 1), "not sorted by id");
        check_edit(|l| l.entries[0].start = "yesterday".into(), "start of a-1");
        check_edit(|l| l.entries[1].first_seen = "".into(), "first_seen of b-2");
        check_edit(
            |l| l.entries[0].start = "2026-11-02T01:05:01.000Z".into(),
            "first seen before it started",
        );
        check_edit(|l| l.fingerprint = " ".into(), "an empty fingerprint");
        check_edit(
            |l| {
                let e = l.entries[0].clone();
                l.entries = (0..=MAX_ENTRIES)
                    .map(|i| Entry {
                        id: format!("{i:08}"),
                        ..e.clone()
                    })
                    .collect();
            },
            "more than the 200000",
        );
        // Within the clock skew: accepted.
        let mut ok = sample();
        ok.entries[0].start = "2026-11-02T01:05:00.000Z".into();
        assert_eq!(Ledger::parse(&ok.to_text()), Ok(ok));
    }

    /// A hand-edited handed entry is refused with a reason naming what is wrong.
    fn check_handed(output: &str, state: &str, why: &str) {
        let mut ledger = with_handed();
        ledger.entries[2].handed = Some(Handed {
            output: output.into(),
            state: state.into(),
        });
        let err = Ledger::parse(&ledger.to_text()).expect_err(why);
        assert!(err.contains(why), "{output} {state}: '{err}' lacks '{why}'");
    }

    #[test]
    fn handed_entries_round_trip_and_bad_ones_are_refused() {
        let ledger = with_handed();
        let text = ledger.to_text();
        assert!(text.contains("\"handed\""), "{text}");
        // Entries still due are saved without the field.
        assert_eq!(text.matches("\"handed\"").count(), 1, "{text}");
        assert_eq!(Ledger::parse(&text).unwrap(), ledger);
        let s = "/data/n.csv.state";
        check_handed(
            "n.csv",
            s,
            "c-3 is handed to a run whose output path is not absolute",
        );
        check_handed("", s, "whose output path is not absolute");
        check_handed("./n.csv", s, "whose output path is not absolute");
        check_handed(
            "/data/n.csv",
            "n.csv.state",
            "whose state path is not absolute",
        );
        check_handed("/data/n\n.csv", s, "holds control characters");
        check_handed(&format!("/{}", "x".repeat(MAX_PATH_LEN)), s, "too long");
        let mut value = serde_json::to_value(&ledger).unwrap();
        value["entries"][2]["handed"]["extra"] = serde_json::json!(1);
        let err = Ledger::parse(&value.to_string()).unwrap_err();
        assert!(err.contains("does not parse"), "{err}");
        value["entries"][2]["handed"] = serde_json::json!("/data/n.csv.state");
        let err = Ledger::parse(&value.to_string()).unwrap_err();
        assert!(err.contains("does not parse"), "{err}");
    }

    #[test]
    fn a_ledger_of_format_1_reads_as_one_without_handed_entries() {
        let mut value = serde_json::to_value(sample()).unwrap();
        value["version"] = serde_json::json!(1);
        assert_eq!(Ledger::parse(&value.to_string()).unwrap(), sample());
        let mut value = serde_json::to_value(with_handed()).unwrap();
        value["version"] = serde_json::json!(1);
        let err = Ledger::parse(&value.to_string()).unwrap_err();
        assert!(
            err.contains("ledger format 1, which hands no entry"),
            "{err}"
        );
    }

    #[test]
    fn written_follow_ups_are_handed_then_published_or_released() {
        let mut ledger = with_handed();
        assert_eq!(ledger.due(), ["a-1", "b-2"]);
        assert_eq!(ledger.pending(), 2);
        let night_2 = run("night-2");
        assert_eq!(ledger.hand(&["a-1".into(), "zz".into()], &night_2), 1);
        assert_eq!(ledger.hand(&["a-1".into()], &night_2), 0);
        assert_eq!(ledger.due(), ["b-2"]);
        let read_back = Ledger::parse(&ledger.to_text()).unwrap();
        assert_eq!(read_back, ledger);
        assert_eq!(read_back.due(), ["b-2"]);
        assert_eq!(ledger.remove_handed(&night_2.state), 1);
        assert_eq!(ledger.ids(), ["b-2", "c-3"]);
        assert_eq!(ledger.due(), ["b-2"]);
    }

    /// With `a-1` handed to `night-2` and `c-3` to `night-1`: the run `own` opens the ledger,
    /// resuming or not, `night-1` having published or not; the ids left, those due, and the
    /// counts (published, released).
    fn check_settle(
        own: &str,
        resumes: bool,
        published: bool,
        ids: &str,
        due: &str,
        n: [usize; 2],
    ) {
        let mut ledger = with_handed();
        ledger.entries[0].handed = Some(run("night-2"));
        let settled = ledger.settle_handed(&run(own), resumes, |h| {
            published && h.state == "/data/night-1.csv.state"
        });
        let what = format!("own {own} resumes {resumes} published {published}");
        assert_eq!(ledger.ids().join(" "), ids, "{what}");
        assert_eq!(ledger.due().join(" "), due, "{what}");
        assert_eq!([settled.published, settled.released], n, "{what}");
    }

    #[test]
    fn handed_entries_are_settled_as_a_run_opens_the_ledger() {
        check_settle("night-1", true, false, "a-1 b-2 c-3", "b-2", [0, 0]);
        check_settle("night-1", false, false, "a-1 b-2 c-3", "b-2 c-3", [0, 1]);
        // A resumed run's partial is there: never taken as published.
        check_settle("night-1", true, true, "a-1 b-2 c-3", "b-2", [0, 0]);
        // The same output name, published by an earlier run that died before the rewrite.
        check_settle("night-1", false, true, "a-1 b-2", "b-2", [1, 0]);
        check_settle("night-3", true, false, "a-1 b-2 c-3", "b-2", [0, 0]);
        check_settle("night-3", false, true, "a-1 b-2", "b-2", [1, 0]);
        check_settle("night-2", false, true, "a-1 b-2", "a-1 b-2", [1, 1]);
        check_settle("night-2", true, true, "a-1 b-2", "b-2", [1, 0]);
    }

    #[test]
    fn ageing_leaves_handed_entries_to_their_run() {
        let mut ledger = with_handed();
        let old = ledger.age(Duration::from_secs(86_400), datetime!(2026-12-31 00:00 UTC));
        assert_eq!(old.len(), 2);
        assert_eq!(ledger.ids(), ["c-3"]);
    }

    #[test]
    fn strangers_and_other_versions_are_refused() {
        let check = |text: &str, why: &str| {
            let err = Ledger::parse(text).unwrap_err();
            assert!(err.contains(why), "{text}: '{err}' lacks '{why}'");
        };
        check("", "not a ledger");
        check("[]", "not a ledger");
        check(
            r#"{"version":0}"#,
            "an older genesys-export, in ledger format 0",
        );
        check(
            r#"{"version":3}"#,
            "a newer genesys-export, in ledger format 3",
        );
        check(r#"{"version":1}"#, "does not parse");
        check(r#"{"version":2}"#, "does not parse");
        let mut value = serde_json::to_value(sample()).unwrap();
        value["extra"] = serde_json::json!(true);
        check(&value.to_string(), "does not parse");
        check(&" ".repeat(65 * 1024 * 1024), "too large");
    }

    #[test]
    fn merge_keeps_the_first_sighting_and_the_order() {
        let mut ledger = sample();
        let now = datetime!(2026-11-03 00:05 UTC);
        let found = [
            ("c-3".to_string(), datetime!(2026-11-02 23:00 UTC)),
            ("a-1".to_string(), datetime!(2026-11-01 23:10 UTC)),
            ("a-0".to_string(), datetime!(2026-11-02 22:00 UTC)),
            ("c-3".to_string(), datetime!(2026-11-02 23:00 UTC)),
        ];
        assert_eq!(ledger.merge(&found, now).unwrap(), 2);
        assert_eq!(ledger.ids(), ["a-0", "a-1", "b-2", "c-3"]);
        assert_eq!(ledger.entries[1].first_seen, "2026-11-02T00:05:00.000Z");
        assert_eq!(ledger.entries[3].first_seen, "2026-11-03T00:05:00.000Z");
        assert_eq!(Ledger::parse(&ledger.to_text()), Ok(ledger.clone()));
        let bad = [("a,b".to_string(), now)];
        assert!(ledger
            .merge(&bad, now)
            .unwrap_err()
            .contains("cannot be recorded"));
        assert_eq!(ledger.remove(&["b-2".into(), "zz".into(), "a-0".into()]), 2);
        assert_eq!(ledger.ids(), ["a-1", "c-3"]);
    }

    #[test]
    fn ageing_drops_what_started_before_the_limit() {
        let check = |now: OffsetDateTime, max_days: u64, dropped: &[&str], kept: &[&str]| {
            let mut ledger = sample();
            let old = ledger.age(Duration::from_secs(max_days * 86_400), now);
            let old: Vec<&str> = old.iter().map(|e| e.id.as_str()).collect();
            assert_eq!(old, dropped, "dropped at {now} with {max_days}d");
            assert_eq!(ledger.ids(), kept, "kept at {now} with {max_days}d");
        };
        check(datetime!(2026-11-02 00:00 UTC), 31, &[], &["a-1", "b-2"]);
        check(datetime!(2026-12-02 23:20 UTC), 31, &["a-1"], &["b-2"]);
        check(datetime!(2026-12-03 00:00 UTC), 31, &["a-1", "b-2"], &[]);
        check(datetime!(2026-11-02 23:30 UTC), 1, &["a-1"], &["b-2"]);
        check(
            datetime!(2026-11-02 00:00 UTC),
            u64::MAX / 86_400,
            &[],
            &["a-1", "b-2"],
        );
    }

    #[test]
    fn prop_corrupted_ledgers_are_refused_or_consistent() {
        let sample = with_handed().to_text();
        crate::prop::run(|rng| {
            let text = rng.damaged_file(&sample);
            let Ok(ledger) = Ledger::parse(&text) else {
                return;
            };
            assert!(ledger.entries.len() <= MAX_ENTRIES);
            for pair in ledger.entries.windows(2) {
                assert!(pair[0].id < pair[1].id);
            }
            for e in &ledger.entries {
                assert!(valid_id(&e.id));
                assert!(e.start_time().is_some());
                if let Some(h) = &e.handed {
                    assert!(valid_path(&h.output) && valid_path(&h.state));
                }
            }
            // What was accepted saves and reads back the same.
            assert_eq!(Ledger::parse(&ledger.to_text()).unwrap(), ledger);
        });
    }
}
