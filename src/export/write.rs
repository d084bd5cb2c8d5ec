//! Row writing: the conversations of a reply that a window owns and has not written yet (or,
//! for the ledger's follow-up, those that have ended), flattened to CSV rows with their names
//! looked up, or kept as JSON, then committed. Records what it finds in progress for the
//! ledger; decides nothing about pages, jobs or windows.
//!
//! Each conversation of a reply held in memory is parsed once (`record::Conversation::read`)
//! and that one view serves the names, the ownership, the id set and the row; a spooled reply
//! is read one conversation at a time, its names' ids collected by the source's check.

use std::collections::HashSet;

use anyhow::{anyhow, Context, Result};
use serde_json::value::RawValue;

use super::driver::Run;
use super::{Rows, Source};
use crate::api::Lookup;
use crate::columns::IdsOf;
use crate::record::{Conversation, Depth, Nodes, Parsed, Reading, View};
use crate::sink::{Record, Writer};
use crate::window::Window;

/// The ids a reply's CSV rows need named, per lookup, each once, in first-seen order. A
/// source that checks a reply conversation by conversation fills it on that parse
/// (`Source::job_results`), so that the rows need no pass of their own for it.
#[derive(Clone, Debug)]
pub struct Wanted {
    lookups: Vec<(Lookup, IdsOf)>,
    ids: Vec<Vec<String>>,
    known: Vec<HashSet<String>>,
}

impl Wanted {
    pub fn new(lookups: Vec<(Lookup, IdsOf)>) -> Wanted {
        let n = lookups.len();
        Wanted {
            lookups,
            ids: vec![Vec::new(); n],
            known: vec![HashSet::new(); n],
        }
    }

    /// Whether no lookup is wanted at all (JSON Lines).
    pub fn is_empty(&self) -> bool {
        self.lookups.is_empty()
    }

    pub fn add(&mut self, conversation: View) {
        let lists = self.ids.iter_mut().zip(self.known.iter_mut());
        for ((lookup, ids_of), (ids, known)) in self.lookups.iter().zip(lists) {
            for id in ids_of(conversation) {
                if lookup.fixed_name(id).is_none() && !known.contains(id) {
                    known.insert(id.to_string());
                    ids.push(id.to_string());
                }
            }
        }
    }
}

impl<S: Source, W: Writer> Run<'_, '_, S, W> {
    /// Writes the conversations of a page that this window owns and has not written yet; the
    /// next save commits them. Returns how many were written.
    pub(super) fn write_page(&mut self, w: &Window, rows: &mut dyn Rows) -> Result<u64> {
        self.write_rows(Some(w), rows)
    }

    /// The name lookups the writer's rows need (none for JSON Lines).
    pub(super) fn wanted(&self) -> Wanted {
        Wanted::new(self.sink.lookups(&self.plan.columns))
    }

    /// Looks up, in bulk, the names `wanted` collected.
    fn look_up_names(&mut self, wanted: Wanted) -> Result<()> {
        for ((lookup, _), ids) in wanted.lookups.iter().zip(&wanted.ids) {
            self.names.resolve(self.source, *lookup, ids, self.log)?;
        }
        Ok(())
    }

    /// Writes the conversations of a reply, as `write_page` does for window `owner`; without
    /// an owner (the ledger's follow-up), those that have ended and are not written yet, their
    /// ids kept for the ledger. The next save (`Run::save`) commits them: one write and one
    /// sync for all the rows written since the last.
    pub(super) fn write_rows(
        &mut self,
        owner: Option<&Window>,
        rows: &mut dyn Rows,
    ) -> Result<u64> {
        let mut wanted = self.wanted();
        let mut written: u64 = 0;
        if let Some(page) = rows.parsed() {
            page.views().for_each(|c| wanted.add(c));
            self.look_up_names(wanted)?;
            for conversation in page.views() {
                written += u64::from(self.write_one(owner, conversation)?);
            }
        } else {
            // One set of nodes serves every conversation of the reply in turn.
            let mut spare = Nodes::default();
            match rows.wanted() {
                Some(found) => wanted = found,
                None if !wanted.is_empty() => rows.each(&mut |raw| {
                    read_one(raw, Depth::Shape, &mut spare, |c| {
                        wanted.add(c);
                        Ok(())
                    })
                })?,
                None => {}
            }
            self.look_up_names(wanted)?;
            let depth = match self.sink.reading(&self.plan.columns, &self.plan.attributes) {
                Reading::Whole => Depth::Whole,
                Reading::Shape => Depth::Shape,
                Reading::Places => Depth::Place,
            };
            rows.each(&mut |raw| {
                read_one(raw, depth, &mut spare, |c| {
                    written += u64::from(self.write_one(owner, c)?);
                    Ok(())
                })
            })?;
        }
        self.stats.conversations = self.stats.conversations.saturating_add(written);
        Ok(written)
    }

    /// Writes one conversation if it is `owner`'s and not written yet (see `write_rows`); a
    /// conversation in progress found by a window is recorded for the ledger, and written
    /// unless `--ended-only`. Whether it was written.
    fn write_one(&mut self, owner: Option<&Window>, conversation: View) -> Result<bool> {
        let id = conversation.conversation_id.as_ref();
        let start = conversation
            .start()
            .ok_or_else(|| anyhow!("conversation {id} has an unreadable conversationStart"))?;
        let ended = conversation.ended();
        match owner {
            Some(w) if !w.owns(start) => {
                self.stats.outside_window = self.stats.outside_window.saturating_add(1);
                return Ok(false);
            }
            None if !ended => return Ok(false),
            _ => {}
        }
        if self.seen.contains(id) {
            self.stats.repeats = self.stats.repeats.saturating_add(1);
            return Ok(false);
        }
        if owner.is_some() && !ended && self.ledger.kept() {
            self.ledger.found(id, start);
            if self.plan.ended_only {
                return Ok(false);
            }
        }
        self.seen.insert(id);
        if owner.is_none() {
            self.ledger.followed(id);
        }
        self.sink.write(&Record {
            conversation,
            columns: &self.plan.columns,
            attributes: &self.plan.attributes,
            name_of: &|lookup, id| self.names.get(lookup, id),
            zone: &self.plan.zone,
            formulas: self.plan.formulas,
        })?;
        Ok(true)
    }
}

/// The conversations of a reply held in memory, each read once.
pub(super) fn parse_reply(texts: Vec<Box<RawValue>>) -> Result<Parsed> {
    shaped(Parsed::new(texts))
}

/// Reads a conversation of a checked reply to `depth` (what its writer reads) into the nodes
/// `spare` lends, and hands its view to `then`; the nodes go back to `spare`, emptied. What
/// the check read whole is not checked again (`Conversation::read_checked`).
fn read_one(
    raw: &str,
    depth: Depth,
    spare: &mut Nodes<'static>,
    then: impl FnOnce(View) -> Result<()>,
) -> Result<()> {
    let mut nodes = std::mem::take(spare).recycle();
    let head = shaped(Conversation::read_checked(raw, depth, &mut nodes))?;
    then(View::new(&head, &nodes))?;
    *spare = nodes.recycle();
    Ok(())
}

/// A read's refusal as the driver reports it.
fn shaped<T>(read: std::result::Result<T, String>) -> Result<T> {
    read.map_err(|e| anyhow!(e))
        .context("a conversation in the reply does not have the expected shape")
}
