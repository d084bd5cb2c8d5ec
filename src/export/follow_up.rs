//! The follow-up phase and the `--pending` ledger as the driver sees it: before the range,
//! the conversations recorded in progress by earlier runs are asked for by id, those that
//! have ended are written, those no longer returned are dropped; while the range is
//! exported, conversations found in progress are recorded. The ledger's file and format
//! live in the shell (`PendingLedger` is the interface); this module decides what is
//! recorded and settled, and when relative to the saves.

use std::collections::HashSet;

use anyhow::Result;
use serde_json::value::RawValue;
use time::OffsetDateTime;

use super::driver::Run;
use super::write::parse_reply;
use super::Refused;
use super::Source;
use crate::api;
use crate::sink::Writer;

/// The follow-up of the `--pending` ledger in progress: ids are followed up in ascending
/// order, and every id up to `after` (`None`: none yet) is handled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FollowUp {
    pub after: Option<String>,
}

/// The ledger of conversations in progress, as the loop uses it. With a ledger, the range's
/// queries carry no `conversationEnd` filter: conversations in progress must be seen to be
/// recorded (`--ended-only` then leaves them out of the output itself).
pub trait PendingLedger {
    /// The ids due to a follow-up, in ascending order: those recorded, less those already
    /// handed to a run (written into an output not published yet). A resumed run's own
    /// handed follow-ups are in its partial already; a run that starts over gets them due
    /// again.
    fn due(&self) -> Vec<String>;
    /// Records conversations found in progress, as (id, start). Called after the page that
    /// found them is committed and before the state that covers it is saved, so a crash in
    /// between finds them again.
    fn record(&mut self, found: &[(String, OffsetDateTime)]) -> Result<()>;
    /// Settles follow-ups handled: `written` ended and are in the output (handed to this run
    /// until it publishes it), `gone` are no longer returned by the API (removed). Called only
    /// once the state that covers them is saved.
    fn settle(&mut self, written: &[String], gone: &[String]) -> Result<()>;
}

/// The ledger as a run keeps it, with what the run owes it between saves.
pub(super) struct Ledger<'c> {
    file: Option<&'c mut dyn PendingLedger>,
    /// Conversations found in progress since the last save.
    found: Vec<(String, OffsetDateTime)>,
    /// Follow-ups handled since the last save (written, gone), settled in the ledger once
    /// the state covering them is saved.
    settled: Option<(Vec<String>, Vec<String>)>,
    /// Ids the follow-up wrote since it last looked.
    followed: Vec<String>,
}

impl<'c> Ledger<'c> {
    pub(super) fn new(file: Option<&'c mut dyn PendingLedger>) -> Ledger<'c> {
        Ledger {
            file,
            found: Vec::new(),
            settled: None,
            followed: Vec::new(),
        }
    }

    /// Whether the run keeps a ledger.
    pub(super) fn kept(&self) -> bool {
        self.file.is_some()
    }

    /// The follow-up a fresh run starts with: one from the first id, if it keeps a ledger.
    pub(super) fn start(&self) -> Option<FollowUp> {
        self.kept().then_some(FollowUp { after: None })
    }

    /// Notes a conversation found in progress, recorded before the next save.
    pub(super) fn found(&mut self, id: &str, start: OffsetDateTime) {
        self.found.push((id.to_string(), start));
    }

    /// Notes a conversation the follow-up wrote.
    pub(super) fn followed(&mut self, id: &str) {
        self.followed.push(id.to_string());
    }

    /// Before a save: records what was found in progress since the last one.
    pub(super) fn record_found(&mut self) -> Result<()> {
        if let Some(file) = self.file.as_deref_mut() {
            if !self.found.is_empty() {
                file.record(&self.found)?;
            }
        }
        self.found.clear();
        Ok(())
    }

    /// After a save: settles the follow-ups it covers.
    pub(super) fn settle_saved(&mut self) -> Result<()> {
        match (self.settled.take(), self.file.as_deref_mut()) {
            (Some((written, gone)), Some(file)) => file.settle(&written, &gone),
            _ => Ok(()),
        }
    }
}

/// What the follow-up found, for its closing line.
#[derive(Default)]
struct Tally {
    written: u64,
    still: u64,
    gone: u64,
}

impl<S: Source, W: Writer> Run<'_, '_, S, W> {
    /// The follow-up of the ledger, before the range: asks the API for the recorded ids in
    /// ascending order, in batches of `api::MAX_IDS_PER_REQUEST` (halved on each refusal of
    /// too many ids), writes those that have ended, and saves the state after each batch. An
    /// id is dropped as no longer returned only when a reply that returned others, or two
    /// replies in a row, leave it out: one reply without any of the ids asked for (`{}`,
    /// `"conversations": null`, an empty list) is asked again. The
    /// ledger settles a batch's written and gone ids only after that save. A resumed follow-up
    /// first settles the ids its output already holds (a crash may have come between the save
    /// and the ledger's rewrite), then goes on after the last id handled.
    pub(super) fn follow_up(&mut self) -> Result<()> {
        let todo = self.follow_ups_due()?;
        if !todo.is_empty() {
            self.log.info(&format!(
                "following up {} conversations recorded in progress",
                todo.len()
            ));
        }
        let mut tally = Tally::default();
        let mut batch = api::MAX_IDS_PER_REQUEST;
        let mut rest = todo.as_slice();
        let mut confirming = false;
        while !rest.is_empty() {
            let ids = rest.get(..batch.min(rest.len())).unwrap_or(rest);
            let Some(rows) = self.by_id(ids, &mut batch)? else {
                continue;
            };
            if rows.is_empty() && !confirming {
                // A reply with none of the ids asked for: all gone, or a reply that lost its
                // conversations on the way. Ask once more before dropping them.
                self.log.info(&format!(
                    "a reply to {} ids by id returned none of them; asking again before dropping them",
                    ids.len()
                ));
                confirming = true;
                continue;
            }
            confirming = false;
            self.follow_up_batch(ids, rows, &mut tally)?;
            rest = rest.get(ids.len()..).unwrap_or_default();
        }
        if !todo.is_empty() {
            let Tally {
                written,
                still,
                gone,
            } = tally;
            self.log.info(&format!(
                "follow-up: {written} ended and written, {still} still in progress, {gone} no longer returned"
            ));
        }
        self.pos.follow_up = None;
        self.pos.window_offset = self.sink.position();
        self.seen.clear();
        self.save()
    }

    /// The ids due to a follow-up and not handled yet; those a resumed follow-up handled and
    /// wrote already are settled first.
    fn follow_ups_due(&mut self) -> Result<Vec<String>> {
        let after = self.pos.follow_up.as_ref().and_then(|f| f.after.clone());
        let due = match self.ledger.file.as_deref() {
            Some(ledger) => ledger.due(),
            None => Vec::new(),
        };
        let is_done = |id: &String| after.as_ref().is_some_and(|a| id <= a);
        let (done, todo): (Vec<String>, Vec<String>) = due.into_iter().partition(is_done);
        let written_before: Vec<String> = done
            .into_iter()
            .filter(|id| self.seen.contains(id))
            .collect();
        if !written_before.is_empty() {
            if let Some(ledger) = self.ledger.file.as_deref_mut() {
                ledger.settle(&written_before, &[])?;
            }
        }
        Ok(todo)
    }

    /// The conversations `ids` as the API has them now; `None` when the API refused that many
    /// ids at once and `batch` was halved.
    fn by_id(&mut self, ids: &[String], batch: &mut usize) -> Result<Option<Vec<Box<RawValue>>>> {
        match self.source.conversations(ids) {
            Ok(rows) => Ok(Some(rows)),
            Err(e) if e.refused == Some(Refused::TooManyIds) && *batch > 1 => {
                *batch = (ids.len() / 2).max(1);
                self.log.info(&format!(
                    "{} ids per request refused; asking for {} at once from now on",
                    ids.len(),
                    *batch
                ));
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Writes what has ended of one batch's reply, drops what it no longer returns, and saves.
    fn follow_up_batch(
        &mut self,
        ids: &[String],
        rows: Vec<Box<RawValue>>,
        tally: &mut Tally,
    ) -> Result<()> {
        let mut rows = parse_reply(rows)?;
        let mut returned = HashSet::new();
        let mut in_progress = 0u64;
        for conversation in rows.views() {
            if conversation.conversation_end.is_none() {
                in_progress += 1;
            }
            returned.insert(conversation.conversation_id.to_string());
        }
        self.write_rows(None, &mut rows)?;
        crate::crash::reach("follow-up-written", || {});
        let batch_written = std::mem::take(&mut self.ledger.followed);
        let batch_gone: Vec<String> = ids
            .iter()
            .filter(|id| !returned.contains(*id))
            .cloned()
            .collect();
        for id in &batch_gone {
            self.log.warn(&format!(
                "conversation {id} recorded in progress is no longer returned by the API (deleted, or out of the OAuth client's divisions): dropped from the ledger"
            ));
        }
        tally.written = tally.written.saturating_add(batch_written.len() as u64);
        tally.still = tally.still.saturating_add(in_progress);
        tally.gone = tally.gone.saturating_add(batch_gone.len() as u64);
        if let Some(counts) = self.stats.follow_ups.as_mut() {
            counts.written = counts.written.saturating_add(batch_written.len() as u64);
            counts.dropped = counts.dropped.saturating_add(batch_gone.len() as u64);
        }
        self.pos.follow_up = Some(FollowUp {
            after: ids.last().cloned(),
        });
        self.ledger.settled = Some((batch_written, batch_gone));
        self.save()
    }
}

#[cfg(test)]
mod tests {

    use anyhow::Result;
    use time::OffsetDateTime;

    use crate::export::fake::*;
    use crate::export::{run, Control, FollowUp, PendingLedger, Plan, Position, Resume};
    use crate::sink::{Format, Mark, Sink};
    use crate::window;

    /// A ledger in memory that notes what the loop asks of it in `events`, beside the saves.
    struct MemLedger<'e> {
        ids: Vec<String>,
        events: &'e std::cell::RefCell<Vec<String>>,
    }

    impl PendingLedger for MemLedger<'_> {
        fn due(&self) -> Vec<String> {
            let mut ids = self.ids.clone();
            ids.sort();
            ids
        }

        fn record(&mut self, found: &[(String, OffsetDateTime)]) -> Result<()> {
            let ids: Vec<&str> = found.iter().map(|(id, _)| id.as_str()).collect();
            self.events.borrow_mut().push(format!("record {ids:?}"));
            for (id, _) in found {
                if !self.ids.contains(id) {
                    self.ids.push(id.clone());
                }
            }
            Ok(())
        }

        fn settle(&mut self, written: &[String], gone: &[String]) -> Result<()> {
            self.events
                .borrow_mut()
                .push(format!("settle {written:?} {gone:?}"));
            self.ids
                .retain(|id| !written.contains(id) && !gone.contains(id));
            Ok(())
        }
    }

    /// The sample, a conversation still in progress at the API's present (`f`), and two
    /// recorded by an earlier run: `old-1` has ended since, `old-2` has not.
    fn with_pending() -> Fake {
        let at = |s: &str| window::parse_api_timestamp(s).unwrap();
        let mut fake = sample();
        for (id, s, e) in [
            ("f", "2026-11-02T23:50:00Z", "2026-11-03T01:00:00Z"),
            ("old-1", "2026-10-31T23:00:00Z", "2026-10-31T23:30:00Z"),
            ("old-2", "2026-10-31T23:30:00Z", "2026-11-04T00:00:00Z"),
        ] {
            fake.conversations.push((id.to_string(), at(s), at(e)));
        }
        fake.present = Some(at("2026-11-03T00:05:00Z"));
        fake
    }

    /// Runs `plan` over `fake` with a ledger holding `ids`, from `resume`; returns the output,
    /// the ledger's ids at the end and the events (saves, records, settlements) in order.
    fn export_with_ledger(
        fake: &mut Fake,
        plan: &Plan,
        ids: &[&str],
        resume: Option<Resume>,
    ) -> (String, Vec<String>, Vec<String>) {
        let events = std::cell::RefCell::new(Vec::new());
        let mut ledger = MemLedger {
            ids: ids.iter().map(|id| id.to_string()).collect(),
            events: &events,
        };
        let mut sink = Sink::new(Vec::new(), plan.format, "memory");
        let mut checkpoint = |pos: &Position, _: &[Mark]| {
            events.borrow_mut().push(match &pos.follow_up {
                Some(f) => format!("save follow-up after {:?}", f.after),
                None => format!("save window {}", pos.top_index),
            });
            Ok(())
        };
        let control = Control {
            checkpoint: &mut checkpoint,
            stop: &|| None,
            pending: Some(&mut ledger),
        };
        run(fake, &mut sink, plan, resume, control, &QUIET).unwrap();
        let out = String::from_utf8(sink.finish().unwrap()).unwrap();
        (out, ledger.due(), events.into_inner())
    }

    #[test]
    fn a_ledger_is_followed_up_before_the_range_and_gains_what_is_in_progress() {
        for ended_only in [true, false] {
            let mut fake = with_pending();
            let plan = Plan {
                ended_only,
                ..plan(Format::Csv, 86_400, 100)
            };
            let (csv, due, events) =
                export_with_ledger(&mut fake, &plan, &["old-2", "gone", "old-1"], None);
            let mut want = vec!["old-1", "a", "b", "c", "d", "e"];
            if !ended_only {
                want.push("f");
                // Written as it is, without an end.
                assert!(csv
                    .lines()
                    .last()
                    .unwrap()
                    .starts_with("f,2026-11-02T23:50:00.000Z,,"));
            }
            assert_eq!(ids_of_csv(&csv), want, "ended_only {ended_only}");
            assert_eq!(due, ["f", "old-2"]);
            assert_eq!(fake.by_id_calls, [["gone", "old-1", "old-2"]]);
            assert_eq!(
                events[..4],
                [
                    "save follow-up after None",
                    "save follow-up after Some(\"old-2\")",
                    "settle [\"old-1\"] [\"gone\"]",
                    "save window 0",
                ]
            );
            // What was found in progress is recorded before the save that covers its page.
            let at = events.iter().position(|e| e == "record [\"f\"]").unwrap();
            assert_eq!(events[at + 1], "save window 2");
        }
    }

    #[test]
    fn a_resumed_follow_up_settles_what_its_output_holds_and_goes_on_after_it() {
        let mut fake = with_pending();
        let plan = Plan {
            ended_only: true,
            ..plan(Format::Csv, 86_400, 100)
        };
        // Killed after the state recorded `old-1`, before the ledger lost it.
        let resume = Resume {
            position: Position::start(
                Some(FollowUp {
                    after: Some("old-1".into()),
                }),
                0,
            ),
            written: ["old-1"].into_iter().collect(),
        };
        let (csv, due, events) =
            export_with_ledger(&mut fake, &plan, &["old-1", "old-2"], Some(resume));
        assert_eq!(events[1], "settle [\"old-1\"] []");
        assert_eq!(fake.by_id_calls, [["old-2"]]);
        assert_eq!(csv.lines().filter(|l| l.starts_with("old-")).count(), 0);
        assert_eq!(due, ["f", "old-2"]);
    }

    #[test]
    fn follow_up_batches_halve_on_a_refusal_of_too_many_ids() {
        let mut fake = with_pending();
        fake.conversations
            .retain(|(id, _, _)| !id.starts_with("old"));
        let plan = plan(Format::Jsonl, 86_400, 100);
        let ids: Vec<String> = (0..5).map(|i| format!("x-{i}")).collect();
        let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        fake.max_ids = Some(2);
        let (_, due, _) = export_with_ledger(&mut fake, &plan, &id_refs, None);
        let sizes: Vec<usize> = fake.by_id_calls.iter().map(Vec::len).collect();
        // None of the ids exists: each batch's empty reply is confirmed by a second one.
        assert_eq!(sizes, [5, 2, 2, 2, 2, 1, 1]);
        assert_eq!(due, ["f"]);
    }

    /// A reply to the by-id follow-up that returns none of the ids asked for (`{}`, `null`)
    /// drops nothing: the batch is asked again, and only a second reply without them drops
    /// them.
    #[test]
    fn a_reply_without_any_id_asked_for_is_asked_again_before_anything_is_dropped() {
        let plan = plan(Format::Csv, 86_400, 100);
        let mut fake = with_pending();
        fake.by_id_replies.push_back(Vec::new());
        let (csv, due, _) = export_with_ledger(&mut fake, &plan, &["old-2", "old-1"], None);
        assert_eq!(fake.by_id_calls.len(), 2);
        assert!(csv.lines().any(|l| l.starts_with("old-1,")), "{csv}");
        assert_eq!(due, ["f", "old-2"]);
        // Two replies in a row without them: gone.
        let mut fake = with_pending();
        fake.by_id_replies.extend([Vec::new(), Vec::new()]);
        let (csv, due, events) = export_with_ledger(&mut fake, &plan, &["old-2", "old-1"], None);
        assert_eq!(fake.by_id_calls.len(), 2);
        assert!(!csv.contains("old-1"));
        assert_eq!(due, ["f"]);
        assert!(events.contains(&"settle [] [\"old-1\", \"old-2\"]".to_string()));
    }
}
