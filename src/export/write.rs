//! Row writing: the conversations of a reply that a window owns and has not written yet (or,
//! for the ledger's follow-up, those that have ended), flattened to CSV rows with their names
//! looked up, or kept as JSON, then committed. Records what it finds in progress for the
//! ledger; decides nothing about pages, jobs or windows.

use anyhow::{anyhow, Context, Result};
use serde_json::value::RawValue;

use super::driver::Run;
use super::{Rows, Source};
use crate::api::{Conversation, Lookup};
use crate::rows;
use crate::sink::{Format, Target};
use crate::window::{self, Window};

impl<S: Source, W: Target> Run<'_, '_, S, W> {
    /// Writes the conversations of a page that this window owns and has not written yet, then
    /// commits them. Returns how many were written. The page is read one conversation at a
    /// time (twice for CSV with name columns: once to look up the names the rows need, in
    /// bulk).
    pub(super) fn write_page(&mut self, w: &Window, rows: &mut dyn Rows) -> Result<u64> {
        self.write_rows(Some(w), rows)
    }

    /// Looks up, in bulk, the names the CSV columns need for the conversations of `rows`.
    fn look_up_names(&mut self, rows: &mut dyn Rows) -> Result<()> {
        let lookups: Vec<(Lookup, crate::columns::IdsOf)> = match self.plan.format {
            Format::Csv => self
                .plan
                .columns
                .iter()
                .filter_map(|c| c.lookup())
                .collect(),
            Format::Jsonl => Vec::new(),
        };
        if lookups.is_empty() {
            return Ok(());
        }
        let mut ids: Vec<Vec<String>> = vec![Vec::new(); lookups.len()];
        rows.each(&mut |raw| {
            let conversation = parse_conversation(raw)?;
            for ((lookup, ids_of), ids) in lookups.iter().zip(ids.iter_mut()) {
                for id in ids_of(&conversation) {
                    if lookup.fixed_name(id).is_none() && !ids.iter().any(|known| known == id) {
                        ids.push(id.to_string());
                    }
                }
            }
            Ok(())
        })?;
        for ((lookup, _), ids) in lookups.iter().zip(&ids) {
            self.names.resolve(self.source, *lookup, ids, self.log)?;
        }
        Ok(())
    }

    /// Writes the conversations of a reply, as `write_page` does for window `owner`; without
    /// an owner (the ledger's follow-up), those that have ended and are not written yet, their
    /// ids kept for the ledger. A conversation in progress found by a window is recorded for
    /// the ledger, and written unless `--ended-only`.
    pub(super) fn write_rows(
        &mut self,
        owner: Option<&Window>,
        rows: &mut dyn Rows,
    ) -> Result<u64> {
        self.look_up_names(rows)?;
        let mut written: u64 = 0;
        rows.each(&mut |raw| {
            let conversation = parse_conversation(raw)?;
            let start =
                window::parse_api_timestamp(&conversation.conversation_start).ok_or_else(|| {
                    anyhow!(
                        "conversation {} has an unreadable conversationStart",
                        conversation.conversation_id
                    )
                })?;
            let ended = conversation.conversation_end.is_some();
            match owner {
                Some(w) if !w.owns(start) => {
                    self.stats.outside_window = self.stats.outside_window.saturating_add(1);
                    return Ok(());
                }
                None if !ended => return Ok(()),
                _ => {}
            }
            if self.seen.contains(&conversation.conversation_id) {
                self.stats.repeats = self.stats.repeats.saturating_add(1);
                return Ok(());
            }
            if owner.is_some() && !ended && self.ledger.kept() {
                self.ledger.found(&conversation.conversation_id, start);
                if self.plan.ended_only {
                    return Ok(());
                }
            }
            self.seen.insert(conversation.conversation_id.clone());
            if owner.is_none() {
                self.ledger.followed(&conversation.conversation_id);
            }
            match self.plan.format {
                Format::Csv => {
                    let row = rows::flatten(
                        &conversation,
                        &self.plan.columns,
                        &|lookup, id| self.names.get(lookup, id),
                        &self.plan.attributes,
                    );
                    self.sink.write_row(&row)?;
                }
                Format::Jsonl => self.sink.write_json(raw)?,
            }
            written = written.saturating_add(1);
            Ok(())
        })?;
        self.sink.commit()?;
        self.stats.conversations = self.stats.conversations.saturating_add(written);
        Ok(written)
    }
}

/// A conversation of a checked reply (the check parsed it the same way before it counted).
pub(super) fn parse_conversation(raw: &RawValue) -> Result<Conversation> {
    serde_json::from_str(raw.get())
        .context("a conversation in the reply does not have the expected shape")
}
