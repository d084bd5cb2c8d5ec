//! The name caches: names of queues, users and wrap-up codes, looked up in bulk once per id
//! through the `Source` and kept for the run. A lookup the API refuses leaves names empty:
//! it never ends an export.

use std::collections::HashMap;

use anyhow::Result;

use super::{Refused, Source};
use crate::api::{self, Lookup, NameListing};
use crate::report::Log;

/// The most pages of one lookup's reply followed, for a server that pages the listing: one
/// that always reports more pages cannot hold the run.
pub const MAX_NAME_PAGES: u32 = 20;

/// Names of queues, users and wrap-up codes, looked up in bulk once per id and cached for the
/// run.
#[derive(Default)]
pub(super) struct Names {
    queues: NameCache,
    users: NameCache,
    wrap_up_codes: NameCache,
}

/// The names of one lookup.
struct NameCache {
    /// `None` for an id the lookup did not return (deleted, or in a division out of reach).
    names: HashMap<String, Option<String>>,
    /// The lookup was refused (403, or a refusal that asking for fewer does not cure): names
    /// stay empty for the rest of the run.
    off: bool,
    /// Ids asked for at once: `api::MAX_QUEUE_IDS_PER_LOOKUP`, halved on each refusal of
    /// too many.
    batch: usize,
}

impl Default for NameCache {
    fn default() -> NameCache {
        NameCache {
            names: HashMap::new(),
            off: false,
            batch: api::MAX_QUEUE_IDS_PER_LOOKUP,
        }
    }
}

/// How one batch's lookup went.
enum Looked {
    Done,
    /// Refused as too many ids: the batch was halved.
    Smaller,
    /// Refused for good: names of this kind stay empty.
    Off,
}

/// The pages of a lookup's reply read, and how many the server said there were.
#[derive(Default)]
struct Pages {
    read: u32,
    count: Option<u64>,
}

impl Names {
    fn cache(&self, lookup: Lookup) -> &NameCache {
        match lookup {
            Lookup::Queues => &self.queues,
            Lookup::Users => &self.users,
            Lookup::WrapUpCodes => &self.wrap_up_codes,
        }
    }

    pub(super) fn get(&self, lookup: Lookup, id: &str) -> Option<String> {
        self.cache(lookup).names.get(id).cloned().flatten()
    }

    /// Looks up the names of the ids not known yet, in batches of at most 100. A lookup
    /// refused as too many ids (400 or 414 on several) is asked again in halves, as the
    /// by-id follow-up does; a 403 leaves this kind of name empty for the rest of the run
    /// with one warning naming the permission, any other refusal with one warning saying
    /// what it was. A failure that is no refusal (the network, retries or the wait budget
    /// ran out, an interruption) ends the export as anywhere else.
    pub(super) fn resolve<S: Source>(
        &mut self,
        source: &mut S,
        lookup: Lookup,
        ids: &[String],
        log: &Log,
    ) -> Result<()> {
        let cache = match lookup {
            Lookup::Queues => &mut self.queues,
            Lookup::Users => &mut self.users,
            Lookup::WrapUpCodes => &mut self.wrap_up_codes,
        };
        let mut unknown: Vec<String> = Vec::new();
        for id in ids {
            if !cache.names.contains_key(id) && !unknown.contains(id) {
                unknown.push(id.clone());
            }
        }
        let mut rest = unknown.as_slice();
        while !rest.is_empty() && !cache.off {
            let chunk = rest.get(..cache.batch.min(rest.len())).unwrap_or(rest);
            match cache.look_up(source, lookup, chunk, log)? {
                Looked::Done => rest = rest.get(chunk.len()..).unwrap_or_default(),
                Looked::Smaller => {}
                Looked::Off => return Ok(()),
            }
        }
        Ok(())
    }
}

impl NameCache {
    /// Looks up the names of `chunk`, following the pages of the reply (at most
    /// `MAX_NAME_PAGES`) while ids are still missing, then notes those not found.
    fn look_up<S: Source>(
        &mut self,
        source: &mut S,
        lookup: Lookup,
        chunk: &[String],
        log: &Log,
    ) -> Result<Looked> {
        let mut pages = Pages::default();
        loop {
            let page = pages.read.saturating_add(1);
            let listing = match source.names(lookup, chunk, page) {
                Ok(listing) => listing,
                // Not a refusal (the network, retries or the wait budget ran out): the run's
                // problem, not the lookup's.
                Err(e) if e.refused.is_none() => return Err(e.into()),
                Err(e) => return Ok(self.refused(lookup, chunk.len(), e, log)),
            };
            pages.read = page;
            pages.count = listing.page_count;
            let more = more_pages(&listing, page);
            for entity in listing.entities {
                self.names.insert(entity.id, entity.name);
            }
            let all_found = chunk.iter().all(|id| self.names.contains_key(id));
            if all_found || !more || page >= MAX_NAME_PAGES {
                break;
            }
        }
        self.not_found(lookup, chunk, &pages, log);
        Ok(Looked::Done)
    }

    /// A refused lookup of `asked` ids: ask for fewer, or leave the names empty.
    fn refused(
        &mut self,
        lookup: Lookup,
        asked: usize,
        e: super::SourceError,
        log: &Log,
    ) -> Looked {
        let noun = lookup.noun();
        match e.refused {
            Some(Refused::TooManyIds) if asked > 1 => {
                self.batch = (asked / 2).max(1);
                log.info(&format!(
                    "{noun} lookup of {asked} ids refused; asking for {} at once from now on",
                    self.batch
                ));
                return Looked::Smaller;
            }
            Some(Refused::Forbidden) => log.warn(&format!(
                "{noun} names are left empty: the OAuth client's role lacks {}",
                lookup.permission()
            )),
            _ => log.warn(&format!(
                "{noun} names are left empty: the lookup failed: {:#}",
                e.error
            )),
        }
        self.off = true;
        Looked::Off
    }

    /// Notes the ids of `chunk` the lookup did not return, with one warning worded by what
    /// was seen: a listing read to its end, or one cut short after `MAX_NAME_PAGES` pages.
    fn not_found(&mut self, lookup: Lookup, chunk: &[String], pages: &Pages, log: &Log) {
        let missing: Vec<&str> = chunk
            .iter()
            .filter(|id| !self.names.contains_key(id.as_str()))
            .map(String::as_str)
            .collect();
        if missing.is_empty() {
            return;
        }
        let noun = lookup.noun();
        let (n, ids) = (missing.len(), missing.join(", "));
        let count = pages.count.unwrap_or(1);
        let why = if u64::from(pages.read) < count {
            format!(
                "not in the first {} of the {count} pages the API split the reply into",
                pages.read
            )
        } else if count > 1 {
            format!("not in any of the {count} pages of the reply (deleted, or in a division the OAuth client cannot see)")
        } else {
            "not found (deleted, or in a division the OAuth client cannot see)".to_string()
        };
        log.warn(&format!(
            "{noun} names are left empty for {n} {noun}(s) {why}: {ids}"
        ));
        for id in missing {
            self.names.insert(id.to_string(), None);
        }
    }
}

/// Whether a lookup's reply says more pages follow page `page`.
fn more_pages(listing: &NameListing, page: u32) -> bool {
    !listing.entities.is_empty()
        && listing
            .page_count
            .is_some_and(|count| u64::from(page) < count)
}

#[cfg(test)]
mod tests {
    use crate::api::Lookup;
    use crate::export::fake::*;
    use crate::sink::Format;

    #[test]
    fn queue_names_are_looked_up_once_and_missing_ones_left_empty() {
        let mut fake = sample();
        let (csv, _) = export(&mut fake, &plan(Format::Csv, 3600, 100));
        assert_eq!(
            fake.queue_lookups,
            [vec!["q1".to_string(), "q-gone".to_string()]]
        );
        let first = csv.lines().nth(1).unwrap();
        assert!(first.contains(r#",q1;q-gone,"Sales, ""EU"";","#), "{first}");
    }

    #[test]
    fn forbidden_queue_lookup_leaves_names_empty_and_goes_on() {
        let mut fake = sample();
        fake.queues_forbidden = true;
        let (csv, stats) = export(&mut fake, &plan(Format::Csv, 3600, 100));
        assert_eq!(stats.conversations, 5);
        assert_eq!(fake.queue_lookups.len(), 1);
        assert!(csv.lines().nth(1).unwrap().contains(",q1;q-gone,;,"));
    }

    #[test]
    fn name_columns_look_up_each_id_once_and_a_refused_lookup_leaves_names_empty() {
        let mut fake = sample();
        let mut p = plan(Format::Csv, 3600, 100);
        p.columns =
            crate::columns::parse("conversation_id,user_names,wrap_up_names,t_talk").unwrap();
        let (csv, stats) = export(&mut fake, &p);
        assert_eq!(stats.conversations, 5);
        assert!(fake.queue_lookups.is_empty(), "no queue column");
        let users: Vec<Vec<String>> = fake
            .name_lookups
            .iter()
            .filter(|(l, _)| *l == Lookup::Users)
            .map(|(_, ids)| ids.clone())
            .collect();
        // One lookup per page with users not seen yet; every user once.
        let mut looked_up: Vec<String> = users.concat();
        looked_up.sort();
        assert_eq!(looked_up, ["u-a", "u-b", "u-c", "u-d", "u-e"]);
        // The wrap-up lookup is refused once and never asked again; system codes never go.
        let wrap_ups: Vec<&Vec<String>> = fake
            .name_lookups
            .iter()
            .filter(|(l, _)| *l == Lookup::WrapUpCodes)
            .map(|(_, ids)| ids)
            .collect();
        assert_eq!(wrap_ups, [&vec!["w1".to_string()]]);
        let mut lines = csv.lines();
        assert_eq!(
            lines.next(),
            Some("conversation_id,user_names,wrap_up_names,t_talk")
        );
        assert_eq!(lines.next(), Some("a,User u-a,;ININ-WRAP-UP-TIMEOUT,60000"));
    }

    fn user_names_plan() -> crate::export::Plan {
        let mut p = plan(Format::Csv, 86_400, 100);
        p.columns = crate::columns::parse("conversation_id,user_names").unwrap();
        p
    }

    fn user_lookups(fake: &Fake) -> Vec<usize> {
        let users = fake
            .name_lookups
            .iter()
            .filter(|(l, _)| *l == Lookup::Users);
        users.map(|(_, ids)| ids.len()).collect()
    }

    /// A user lookup refused as too long (414) is asked again in halves, as the by-id
    /// follow-up does; any other refusal leaves the names empty and the export goes on.
    #[test]
    fn a_lookup_refused_as_too_long_steps_down_and_any_other_refusal_leaves_names_empty() {
        let mut fake = sample();
        fake.name_max_ids = Some(2);
        let (csv, _) = export(&mut fake, &user_names_plan());
        assert_eq!(user_lookups(&fake), [4, 2, 2, 1]);
        let mut lines = csv.lines().skip(1);
        assert_eq!(lines.next(), Some("a,User u-a"));
        assert!(csv.lines().skip(1).all(|l| l.contains(",User u-")), "{csv}");
        let mut fake = sample();
        fake.users_refused = Some(500);
        let (csv, stats) = export(&mut fake, &user_names_plan());
        assert_eq!(stats.conversations, 5);
        assert_eq!(user_lookups(&fake), [4], "asked once, then left empty");
        assert!(csv.lines().skip(1).all(|l| l.ends_with(',')), "{csv}");
    }

    /// A server that pages the lookup's reply (two users a page) is followed page by page.
    #[test]
    fn a_paged_lookup_reply_is_followed_page_by_page() {
        let mut fake = sample();
        fake.name_page_size = Some(2);
        let (csv, _) = export(&mut fake, &user_names_plan());
        assert_eq!(user_lookups(&fake), [4, 4, 1]);
        assert!(csv.lines().skip(1).all(|l| l.contains(",User u-")), "{csv}");
    }
}
