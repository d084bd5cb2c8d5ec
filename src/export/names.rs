//! The name caches: names of queues, users and wrap-up codes, looked up in bulk once per id
//! through the `Source` and kept for the run. A lookup the API refuses leaves names empty:
//! it never ends an export.

use std::collections::HashMap;

use anyhow::Result;

use super::Source;
use crate::api::{self, Lookup};
use crate::report::Log;

/// Names of queues, users and wrap-up codes, looked up in bulk once per id and cached for the
/// run.
#[derive(Default)]
pub(super) struct Names {
    queues: NameCache,
    users: NameCache,
    wrap_up_codes: NameCache,
}

/// The names of one lookup.
#[derive(Default)]
struct NameCache {
    /// `None` for an id the lookup did not return (deleted, or in a division out of reach).
    names: HashMap<String, Option<String>>,
    forbidden: bool,
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

    /// Looks up the names of the ids not known yet, at most 100 a request. A lookup the API
    /// refuses with 403 leaves this kind of name empty for the rest of the run, with one
    /// warning naming the permission.
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
        if cache.forbidden {
            return Ok(());
        }
        let mut unknown: Vec<String> = Vec::new();
        for id in ids {
            if !cache.names.contains_key(id) && !unknown.contains(id) {
                unknown.push(id.clone());
            }
        }
        let noun = lookup.noun();
        for chunk in unknown.chunks(api::MAX_QUEUE_IDS_PER_LOOKUP) {
            let listing = match lookup {
                Lookup::Queues => source.queues(chunk)?,
                Lookup::Users => source.users(chunk)?,
                Lookup::WrapUpCodes => source.wrap_up_codes(chunk)?,
            };
            let Some(listing) = listing else {
                cache.forbidden = true;
                log.warn(&format!(
                    "{noun} names are left empty: the OAuth client's role lacks {}",
                    lookup.permission()
                ));
                return Ok(());
            };
            for entity in listing.entities {
                cache.names.insert(entity.id, entity.name);
            }
            let missing: Vec<&str> = chunk
                .iter()
                .filter(|id| !cache.names.contains_key(id.as_str()))
                .map(String::as_str)
                .collect();
            if !missing.is_empty() {
                log.warn(&format!(
                    "{noun} names are left empty for {} {noun}(s) not found (deleted, or in a division the OAuth client cannot see): {}",
                    missing.len(),
                    missing.join(", ")
                ));
            }
            for id in missing {
                cache.names.insert(id.to_string(), None);
            }
        }
        Ok(())
    }
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
}
