//! The CSV column catalogue: every column `--columns` may pick, with its description and the
//! function that computes its cell from a parsed conversation.
//!
//! Pure and table-driven: `CATALOGUE` is the one list of columns, in the order `--columns
//! list` prints them and the README's schema table documents them; `DEFAULT` names the twelve
//! columns an export without `--columns` writes, in their historical order. A cell is text,
//! a sum of session metrics, or the names of ids resolved through a bulk lookup (the lookup
//! itself is the driver's; here names arrive through a function). Multi-valued cells join the
//! distinct values with `;` in first-seen order: participants, then sessions, then segments,
//! as the API lists them. Name cells are positional: the n-th name is that of the n-th id of
//! the matching id column, empty where the name is unknown.

use time::OffsetDateTime;

use crate::api::Lookup;
use crate::record::{Conversation, Segment, Session};
#[cfg(test)]
use crate::tz;
use crate::tz::Zone;

/// Joins the values of a multi-valued cell.
pub const SEPARATOR: &str = ";";

/// Resolves an id to its name for a lookup, where known.
pub type NameOf<'a> = &'a dyn Fn(Lookup, &str) -> Option<String>;

/// The ids a name column names, in first-seen order.
pub type IdsOf = for<'c, 'a> fn(&'c Conversation<'a>) -> Vec<&'c str>;

/// How a column's cell is computed.
#[derive(Clone, Copy, Debug)]
pub enum Cell {
    /// Text read from the conversation.
    Text(fn(&Conversation) -> String),
    /// The sum of the `value`s of every session metric of this name, over all participants;
    /// empty when no session carries the metric.
    Metric(&'static str),
    /// The names of the ids `IdsOf` lists, resolved through the lookup, position by position.
    Names(Lookup, IdsOf),
    /// Text read from the conversation in the export's zone (`--tz`).
    Local(fn(&Conversation, &Zone) -> String),
}

/// One column of the catalogue.
#[derive(Debug)]
pub struct Column {
    pub name: &'static str,
    /// Where the cell comes from, one line.
    pub description: &'static str,
    pub cell: Cell,
}

impl Column {
    /// The column's cell for a conversation, its local times in UTC.
    #[cfg(test)]
    pub fn cell(&self, conversation: &Conversation, name_of: NameOf) -> String {
        self.cell_in(conversation, name_of, &tz::UTC)
    }

    /// The column's cell for a conversation, its local times in `zone`.
    pub fn cell_in(&self, conversation: &Conversation, name_of: NameOf, zone: &Zone) -> String {
        match self.cell {
            Cell::Text(text) => text(conversation),
            Cell::Local(text) => text(conversation, zone),
            Cell::Metric(metric) => metric_sum(conversation, metric)
                .map(|sum| sum.to_string())
                .unwrap_or_default(),
            Cell::Names(lookup, ids) => ids(conversation)
                .iter()
                .map(|id| match lookup.fixed_name(id) {
                    Some(name) => name.to_string(),
                    None => name_of(lookup, id).unwrap_or_default(),
                })
                .collect::<Vec<_>>()
                .join(SEPARATOR),
        }
    }

    /// The lookup the column needs, and the ids it names.
    pub fn lookup(&self) -> Option<(Lookup, IdsOf)> {
        match self.cell {
            Cell::Names(lookup, ids) => Some((lookup, ids)),
            _ => None,
        }
    }
}

/// The columns an export writes without `--columns`, in this order.
pub const DEFAULT: [&str; 12] = [
    "conversation_id",
    "conversation_start",
    "conversation_end",
    "originating_direction",
    "media_types",
    "queue_ids",
    "queue_names",
    "user_ids",
    "ani",
    "dnis",
    "wrap_up_codes",
    "division_ids",
];

/// The column whose cells a resumed export reads back.
pub const ID_COLUMN: &str = "conversation_id";

const fn text(
    name: &'static str,
    description: &'static str,
    f: fn(&Conversation) -> String,
) -> Column {
    Column {
        name,
        description,
        cell: Cell::Text(f),
    }
}

const fn local(
    name: &'static str,
    description: &'static str,
    f: fn(&Conversation, &Zone) -> String,
) -> Column {
    Column {
        name,
        description,
        cell: Cell::Local(f),
    }
}

const fn metric(name: &'static str, description: &'static str, metric: &'static str) -> Column {
    Column {
        name,
        description,
        cell: Cell::Metric(metric),
    }
}

const fn names(
    name: &'static str,
    description: &'static str,
    lookup: Lookup,
    ids: IdsOf,
) -> Column {
    Column {
        name,
        description,
        cell: Cell::Names(lookup, ids),
    }
}

/// Every column, in the order `--columns list` prints them.
pub const CATALOGUE: [Column; 32] = [
    text("conversation_id", "conversationId", |c| c.conversation_id.to_string()),
    text("conversation_start", "conversationStart, UTC, as the API gives it", |c| {
        c.conversation_start.to_string()
    }),
    text("conversation_end", "conversationEnd; empty while in progress", |c| {
        c.conversation_end.as_deref().unwrap_or_default().to_string()
    }),
    text("originating_direction", "originatingDirection (inbound or outbound)", |c| {
        c.originating_direction.as_deref().unwrap_or_default().to_string()
    }),
    text("media_types", "distinct sessions' mediaType, all participants", |c| {
        join(session_values(c, |s| s.media_type.as_deref()))
    }),
    text("queue_ids", "distinct segments' queueId, all participants", |c| {
        join(queue_ids(c))
    }),
    names(
        "queue_names",
        "names of queue_ids (GET /api/v2/routing/queues), position by position",
        Lookup::Queues,
        queue_ids,
    ),
    text("user_ids", "distinct participants' userId", |c| join(user_ids(c))),
    text("ani", "distinct sessions' ani", |c| {
        join(session_values(c, |s| s.ani.as_deref()))
    }),
    text("dnis", "distinct sessions' dnis", |c| {
        join(session_values(c, |s| s.dnis.as_deref()))
    }),
    text("wrap_up_codes", "distinct segments' wrapUpCode ids", |c| {
        join(wrap_up_codes(c))
    }),
    text("division_ids", "distinct divisionIds", |c| {
        join(distinct(c.division_ids.iter().map(|id| Some(id.as_ref()))))
    }),
    names(
        "user_names",
        "names of user_ids (GET /api/v2/users), position by position",
        Lookup::Users,
        user_ids,
    ),
    names(
        "wrap_up_names",
        "names of wrap_up_codes (GET /api/v2/routing/wrapupcodes), position by position; a system code (ININ-…) names itself",
        Lookup::WrapUpCodes,
        wrap_up_codes,
    ),
    metric("t_talk", "sum of sessions' tTalk metrics, ms (agents talking)", "tTalk"),
    metric("t_held", "sum of sessions' tHeld metrics, ms (customer on hold)", "tHeld"),
    metric("t_acw", "sum of sessions' tAcw metrics, ms (after-call work)", "tAcw"),
    metric("t_handle", "sum of sessions' tHandle metrics, ms (talk + hold + after-call work)", "tHandle"),
    metric("t_acd", "sum of sessions' tAcd metrics, ms (waiting in queue)", "tAcd"),
    metric("t_abandon", "sum of sessions' tAbandon metrics, ms (queue wait before abandoning)", "tAbandon"),
    metric("t_ivr", "sum of sessions' tIvr metrics, ms (in the IVR)", "tIvr"),
    metric("t_alert", "sum of sessions' tAlert metrics, ms (agents alerted)", "tAlert"),
    metric("t_answered", "sum of sessions' tAnswered metrics, ms (queue wait before an answer)", "tAnswered"),
    metric("n_offered", "sum of sessions' nOffered metrics (offers to a queue)", "nOffered"),
    metric("n_transfers", "sum of sessions' nTransferred metrics (transfers)", "nTransferred"),
    text("abandoned", "true when a session carries a tAbandon metric; else false once ended, empty while in progress", abandoned),
    text("customer_disconnect_type", "distinct disconnectType of segments of participants with purpose customer", |c| {
        let customers = c.participants.iter().filter(|p| p.purpose.as_deref() == Some("customer"));
        let segments = customers.flat_map(|p| &p.sessions).flat_map(|s| &s.segments);
        join(distinct(segments.map(|s| s.disconnect_type.as_deref())))
    }),
    text("external_tag", "externalTag", |c| c.external_tag.as_deref().unwrap_or_default().to_string()),
    text("conversation_initiator", "conversationInitiator (the purpose of the participant who started it)", |c| {
        c.conversation_initiator.as_deref().unwrap_or_default().to_string()
    }),
    text("min_mos", "mediaStatsMinConversationMos as the API writes it (voice quality, 1 to 5); empty when absent", |c| {
        c.media_stats_min_conversation_mos.as_deref().unwrap_or_default().to_string()
    }),
    local("conversation_start_local", "conversationStart in the --tz zone, RFC 3339 with its offset and milliseconds", |c, zone| {
        c.start().and_then(|t| local_timestamp(zone, t)).unwrap_or_default()
    }),
    local("conversation_date_local", "the date of conversationStart in the --tz zone (YYYY-MM-DD)", |c, zone| {
        let date = c.start().and_then(|t| zone.to_local(t)).map(|t| t.date());
        date.map(|d| format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day()))
            .unwrap_or_default()
    }),
];

/// An instant in `zone`, RFC 3339 with its offset and milliseconds as the API writes them:
/// `2026-03-29T03:12:03.512+02:00`; `None` past the calendar.
pub fn local_timestamp(zone: &Zone, t: OffsetDateTime) -> Option<String> {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3][offset_hour sign:mandatory]:[offset_minute]"
    );
    zone.to_local(t)?.format(&format).ok()
}

/// The catalogue column of that name.
pub fn find(name: &str) -> Option<&'static Column> {
    CATALOGUE.iter().find(|column| column.name == name)
}

/// The default columns, in their order.
pub fn default_columns() -> Vec<&'static Column> {
    DEFAULT.iter().filter_map(|name| find(name)).collect()
}

/// Parses a `--columns` list: names separated by commas, each in the catalogue, none twice.
/// The error names the offending column.
pub fn parse(list: &str) -> Result<Vec<&'static Column>, String> {
    let mut columns: Vec<&'static Column> = Vec::new();
    for name in list.split(',').map(str::trim) {
        if name.is_empty() {
            return Err(
                "--columns has an empty name: separate column names with single commas".to_string(),
            );
        }
        let Some(column) = find(name) else {
            return Err(format!(
                "--columns: unknown column '{}' (see --columns list)",
                name.chars().take(40).collect::<String>().escape_debug()
            ));
        };
        if columns.iter().any(|c| c.name == name) {
            return Err(format!(
                "--columns names {name} twice: give each column once"
            ));
        }
        columns.push(column);
    }
    Ok(columns)
}

/// What `--columns list` prints: one line per column, its name then its source.
pub fn listing() -> String {
    let width = CATALOGUE.iter().map(|c| c.name.len()).max().unwrap_or(0);
    CATALOGUE
        .iter()
        .map(|c| format!("{:width$}  {}\n", c.name, c.description))
        .collect()
}

/// The distinct non-empty values, in first-seen order. Conversations have a handful of
/// participants, so a linear scan beats hashing.
pub fn distinct<'a>(values: impl IntoIterator<Item = Option<&'a str>>) -> Vec<&'a str> {
    let mut seen = Vec::new();
    for value in values.into_iter().flatten().filter(|v| !v.is_empty()) {
        if !seen.contains(&value) {
            seen.push(value);
        }
    }
    seen
}

fn join(values: Vec<&str>) -> String {
    values.join(SEPARATOR)
}

/// The distinct values a session field takes, over all participants.
fn session_values<'a>(
    c: &'a Conversation,
    field: impl Fn(&'a Session) -> Option<&'a str>,
) -> Vec<&'a str> {
    distinct(c.participants.iter().flat_map(|p| &p.sessions).map(field))
}

/// The distinct values a segment field takes, over all sessions, in first-seen order.
fn segment_values<'a>(
    c: &'a Conversation,
    field: impl Fn(&'a Segment) -> Option<&'a str>,
) -> Vec<&'a str> {
    let sessions = c.participants.iter().flat_map(|p| &p.sessions);
    distinct(sessions.flat_map(|s| &s.segments).map(field))
}

/// The distinct queue ids a conversation touches, in first-seen order.
pub fn queue_ids<'c>(c: &'c Conversation) -> Vec<&'c str> {
    segment_values(c, |s| s.queue_id.as_deref())
}

/// The distinct user ids of the participants.
pub fn user_ids<'c>(c: &'c Conversation) -> Vec<&'c str> {
    distinct(c.participants.iter().map(|p| p.user_id.as_deref()))
}

/// The distinct wrap-up code ids of all segments.
pub fn wrap_up_codes<'c>(c: &'c Conversation) -> Vec<&'c str> {
    segment_values(c, |s| s.wrap_up_code.as_deref())
}

/// The sum of every session metric named `name`; `None` when no session carries it, or when
/// the sum leaves the range of a 64-bit integer.
pub fn metric_sum(c: &Conversation, name: &str) -> Option<i64> {
    let mut values = c
        .participants
        .iter()
        .flat_map(|p| &p.sessions)
        .flat_map(|s| &s.metrics)
        .filter(|m| m.name == name)
        .map(|m| m.value)
        .peekable();
    values.peek()?;
    values.try_fold(0i64, i64::checked_add)
}

fn abandoned(c: &Conversation) -> String {
    let abandoned = c
        .participants
        .iter()
        .flat_map(|p| &p.sessions)
        .flat_map(|s| &s.metrics)
        .any(|m| m.name == "tAbandon");
    if abandoned {
        "true".to_string()
    } else if c.conversation_end.is_some() {
        "false".to_string()
    } else {
        String::new()
    }
}

/// A conversation and a name lookup for the tests of the catalogue and of the rows.
#[cfg(test)]
pub mod sample {
    use super::Lookup;

    /// A conversation with every kind of value: repeats, quotes, commas, an IVR, a transfer,
    /// metrics of the wrong type and a system wrap-up code.
    pub const SAMPLE: &str = r#"{
      "conversationId": "c-1", "conversationStart": "2024-05-01T09:12:03.512Z",
      "conversationEnd": "2024-05-01T09:19:47.020Z", "originatingDirection": "inbound",
      "divisionIds": ["d-1", "d-2", "d-1"], "mediaStatsMinConversationMos": 4.38,
      "externalTag": "crm, \"7\"", "conversationInitiator": "customer",
      "participants": [
        { "purpose": "customer", "sessions": [ { "mediaType": "voice", "ani": "tel:+15551230000",
            "dnis": "tel:+18005550100", "segments": [ { "segmentType": "interact", "disconnectType": "peer" } ] } ] },
        { "purpose": "ivr", "sessions": [ { "mediaType": "voice",
            "metrics": [ { "name": "tIvr", "value": 9000, "emitDate": "x" } ],
            "segments": [ { "segmentType": "ivr" } ] } ] },
        { "purpose": "acd", "sessions": [ { "mediaType": "voice", "ani": "tel:+15551230000",
            "metrics": [ { "name": "nOffered", "value": 1 }, { "name": "tAcd", "value": 14850 } ],
            "segments": [ { "queueId": "q-1", "disconnectType": "transfer" } ] } ] },
        { "purpose": "agent", "userId": "u-1", "sessions": [ { "mediaType": "voice",
            "metrics": [ { "name": "tTalk", "value": 421000 }, { "name": "tHeld", "value": 5000 },
                         { "name": "tAcw", "value": 30500 }, { "name": "tHandle", "value": 456500 },
                         { "name": "nTransferred", "value": 1 } ],
            "segments": [ { "queueId": "q-1" }, { "queueId": "q-2", "wrapUpCode": "w-1" } ] } ] },
        { "purpose": "agent", "userId": "u-2", "sessions": [ { "mediaType": "callback",
            "metrics": [ { "name": "tTalk", "value": 1000 }, { "name": "tTalk", "value": "x" },
                         { "name": "tAcw", "value": 2.5 }, "junk" ],
            "segments": [ { "queueId": "q-2", "wrapUpCode": "ININ-WRAP-UP-TIMEOUT" } ] } ] }
      ] }"#;

    /// Names one queue, one user and one wrap-up code; every other id has no name.
    pub fn name_of(lookup: Lookup, id: &str) -> Option<String> {
        match (lookup, id) {
            (Lookup::Queues, "q-1") => Some("Support, \"Tier 2\"".into()),
            (Lookup::Users, "u-2") => Some("Zoë Groß".into()),
            (Lookup::WrapUpCodes, "w-1") => Some("Sale".into()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::sample::{name_of, SAMPLE};
    use super::*;

    fn check(c: &Conversation, column: &str, want: &str) {
        let got = find(column).unwrap().cell(c, &name_of);
        assert_eq!(got, want, "{column}");
    }

    #[test]
    fn every_column_computes_its_cell_from_its_source() {
        let c: Conversation = serde_json::from_str(SAMPLE).unwrap();
        let c = &c;
        check(c, "conversation_id", "c-1");
        check(c, "conversation_start", "2024-05-01T09:12:03.512Z");
        check(c, "conversation_end", "2024-05-01T09:19:47.020Z");
        check(c, "originating_direction", "inbound");
        check(c, "media_types", "voice;callback");
        check(c, "queue_ids", "q-1;q-2");
        check(c, "queue_names", "Support, \"Tier 2\";");
        check(c, "user_ids", "u-1;u-2");
        check(c, "ani", "tel:+15551230000");
        check(c, "dnis", "tel:+18005550100");
        check(c, "wrap_up_codes", "w-1;ININ-WRAP-UP-TIMEOUT");
        check(c, "division_ids", "d-1;d-2");
        check(c, "user_names", ";Zoë Groß");
        check(c, "wrap_up_names", "Sale;ININ-WRAP-UP-TIMEOUT");
        check(c, "t_talk", "422000");
        check(c, "t_held", "5000");
        check(c, "t_acw", "30500");
        check(c, "t_handle", "456500");
        check(c, "t_acd", "14850");
        check(c, "t_abandon", "");
        check(c, "t_ivr", "9000");
        check(c, "t_alert", "");
        check(c, "t_answered", "");
        check(c, "n_offered", "1");
        check(c, "n_transfers", "1");
        check(c, "abandoned", "false");
        check(c, "customer_disconnect_type", "peer");
        check(c, "external_tag", "crm, \"7\"");
        check(c, "conversation_initiator", "customer");
        check(c, "min_mos", "4.38");
    }

    /// The start in the zone with that moment's offset and the API's milliseconds, and its
    /// local date, which may be another day than the UTC one; in UTC, `+00:00`.
    #[test]
    fn local_columns_read_the_start_in_the_zone() {
        let c: Conversation = serde_json::from_str(SAMPLE).unwrap();
        let in_zone = |column: &str, zone: &Zone| find(column).unwrap().cell_in(&c, &name_of, zone);
        let paris = Zone::from_posix("Europe/Paris", "CET-1CEST,M3.5.0,M10.5.0/3").unwrap();
        let sydney = Zone::from_posix("Australia/Sydney", "AEST-10AEDT,M10.1.0,M4.1.0/3").unwrap();
        let chicago = Zone::from_posix("America/Chicago", "CST6CDT,M3.2.0,M11.1.0").unwrap();
        assert_eq!(
            in_zone("conversation_start_local", &paris),
            "2024-05-01T11:12:03.512+02:00"
        );
        assert_eq!(in_zone("conversation_date_local", &paris), "2024-05-01");
        assert_eq!(
            in_zone("conversation_start_local", &sydney),
            "2024-05-01T19:12:03.512+10:00"
        );
        assert_eq!(
            in_zone("conversation_start_local", &chicago),
            "2024-05-01T04:12:03.512-05:00"
        );
        assert_eq!(
            in_zone("conversation_start_local", &tz::UTC),
            "2024-05-01T09:12:03.512+00:00"
        );
        let late_text = SAMPLE.replace("2024-05-01T09:12:03.512Z", "2024-05-01T23:30:00.000Z");
        let late: Conversation = serde_json::from_str(&late_text).unwrap();
        let cell = find("conversation_date_local")
            .unwrap()
            .cell_in(&late, &name_of, &paris);
        assert_eq!(cell, "2024-05-02");
        let half = Zone::fixed(time::macros::offset!(-03:30));
        assert_eq!(
            find("conversation_start_local")
                .unwrap()
                .cell_in(&late, &name_of, &half),
            "2024-05-01T20:00:00.000-03:30"
        );
    }

    #[test]
    fn abandonment_is_read_from_the_tabandon_metric() {
        let conversation = |end: &str, metrics: &str| -> Conversation<'static> {
            let text = format!(
                r#"{{"conversationId":"x","conversationStart":"s"{end},"participants":[
                    {{"purpose":"acd","sessions":[{{"metrics":[{metrics}]}}]}}]}}"#
            );
            serde_json::from_str(Box::leak(text.into_boxed_str())).unwrap()
        };
        let ended = r#","conversationEnd":"e""#;
        let abandon = r#"{"name":"tAbandon","value":7000}"#;
        check(&conversation(ended, abandon), "abandoned", "true");
        check(&conversation(ended, abandon), "t_abandon", "7000");
        check(&conversation(ended, ""), "abandoned", "false");
        check(&conversation("", ""), "abandoned", "");
        check(&conversation("", abandon), "abandoned", "true");
    }

    #[test]
    fn metric_sums_that_overflow_are_left_empty() {
        let text = format!(
            r#"{{"conversationId":"x","conversationStart":"s","participants":[{{"sessions":[
                {{"metrics":[{{"name":"tTalk","value":{max}}},{{"name":"tTalk","value":1}},
                             {{"name":"tHeld","value":-5}},{{"name":"tHeld","value":{min}}}]}}]}}]}}"#,
            max = i64::MAX,
            min = i64::MIN
        );
        let c: Conversation = serde_json::from_str(&text).unwrap();
        check(&c, "t_talk", "");
        check(&c, "t_held", "");
        assert_eq!(metric_sum(&c, "tAcw"), None);
    }

    #[test]
    fn the_default_is_twelve_catalogue_columns_in_their_historical_order() {
        let names: Vec<&str> = default_columns().iter().map(|c| c.name).collect();
        assert_eq!(names, DEFAULT);
        assert_eq!(
            CATALOGUE[..12].iter().map(|c| c.name).collect::<Vec<_>>(),
            DEFAULT
        );
    }

    #[test]
    fn column_lists_are_checked_name_by_name() {
        let names =
            |list: &str| -> Vec<&str> { parse(list).unwrap().iter().map(|c| c.name).collect() };
        assert_eq!(
            names("t_talk, conversation_id"),
            ["t_talk", "conversation_id"]
        );
        let err = |list: &str| parse(list).unwrap_err();
        assert!(err("conversation_id,nope").contains("unknown column 'nope' (see --columns list)"));
        assert!(err("t_talk,t_talk").contains("t_talk twice"));
        assert!(err("t_talk,,ani").contains("empty name"));
        assert!(err("").contains("empty name"));
    }

    #[test]
    fn the_listing_has_one_line_per_column_in_catalogue_order() {
        let listing = listing();
        let names: Vec<&str> = listing
            .lines()
            .map(|line| line.split_whitespace().next().unwrap())
            .collect();
        let catalogue: Vec<&str> = CATALOGUE.iter().map(|c| c.name).collect();
        assert_eq!(names, catalogue);
        let mut distinct = catalogue.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), CATALOGUE.len());
    }

    #[test]
    fn prop_every_column_of_any_accepted_conversation_yields_a_cell() {
        crate::prop::run(|rng| {
            let text = match rng.below(3) {
                0 => rng.json_value(4).to_string(),
                _ => rng.mutated_json(SAMPLE),
            };
            let Ok(raw) = serde_json::value::RawValue::from_string(text) else {
                return;
            };
            let Ok(c) = Conversation::read(&raw) else {
                return;
            };
            for column in &CATALOGUE {
                let cell = column.cell(&c, &name_of);
                if let Cell::Metric(_) = column.cell {
                    assert!(cell.is_empty() || cell.parse::<i64>().is_ok(), "{cell}");
                }
            }
        });
    }
}
