//! The relational dataset's tables: one catalogue of every table, its columns and their
//! sources, from which the rows, the CSV headers, `schema.sql` and the README's schema
//! section all come.
//!
//! Pure: takes a parsed conversation and a name lookup, hands out rows of cells; writes no
//! file and sends nothing (the files are `dataset.rs`'s). Keys: a conversation is keyed by its
//! id; a participant by (conversation, participant key); a session by (conversation, session
//! key); a segment and a metric by their session and their 0-based position in it; an
//! attribute by its participant and its name. The participant key is the `participantId`, the
//! session key the `sessionId`, unless the record has none, has one that another participant
//! (session) of the conversation also has, or one that starts with `#`: then it is a surrogate
//! made of positions, `#P` for the P-th participant and `#P.S` for its S-th session (0-based),
//! which no real id can equal, so keys stay unique and every run derives the same ones.

use std::borrow::Cow;

use crate::api::Lookup;
use crate::columns::{self, NameOf, SEPARATOR};
use crate::formula::Formulas;
use crate::record::{Flow, Metric, Participant, Segment, Session, View};
use crate::sink::CsvRow;

/// A column's SQL type, as `schema.sql` declares it: names both PostgreSQL and SQLite take as
/// they are (timestamps stay ISO-8601 text, as the API writes them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SqlType {
    Text,
    BigInt,
    Boolean,
}

impl SqlType {
    pub fn name(self) -> &'static str {
        match self {
            SqlType::Text => "TEXT",
            SqlType::BigInt => "BIGINT",
            SqlType::Boolean => "BOOLEAN",
        }
    }
}

/// What a column is, whatever its table: its name, type, whether it is part of the table's
/// primary key (key columns are never empty) and where its value comes from.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    pub name: &'static str,
    pub sql: SqlType,
    pub key: bool,
    pub description: &'static str,
    /// Free text a person or a flow wrote (names, notes, addresses): guarded against
    /// spreadsheet formulas unless `--no-formula-guard` (`formula.rs`).
    pub free_text: bool,
}

/// A table's columns: their specs, and `render`, a function `F` that appends a row's cells
/// to its record in the same order, each straight into it.
pub struct Columns<F: 'static> {
    pub specs: &'static [Spec],
    pub render: F,
}

/// A table of the dataset (its file is `NAME.csv`): its columns, and the table its foreign
/// key refers to with the columns of that key (the parent's primary key).
pub struct Table<F: 'static> {
    pub id: Id,
    pub description: &'static str,
    pub columns: Columns<F>,
    pub parent: Option<(Id, &'static [&'static str])>,
}

/// One participant of a conversation, with its key and position.
pub struct ParticipantRow<'c> {
    pub conversation: View<'c>,
    pub participant: &'c Participant<'c>,
    pub key: &'c str,
    pub index: usize,
}

/// One session, with its participant's key, its own key and its position.
pub struct SessionRow<'c> {
    pub conversation: View<'c>,
    pub participant_key: &'c str,
    pub session: &'c Session<'c>,
    pub key: &'c str,
    pub index: usize,
}

/// A segment or a metric of a session, at its position.
pub struct ItemRow<'c, T> {
    pub conversation: View<'c>,
    pub session_key: &'c str,
    pub item: &'c T,
    pub index: usize,
}

/// One participant attribute.
pub struct AttributeRow<'c> {
    pub conversation: View<'c>,
    pub participant_key: &'c str,
    pub name: &'c str,
    pub value: &'c str,
}

pub type ParticipantCells = for<'c> fn(&ParticipantRow<'c>, How, &mut CsvRow);
pub type SessionCells = for<'c> fn(&SessionRow<'c>, How, &mut CsvRow);
pub type SegmentCells = for<'c> fn(&ItemRow<'c, Segment<'c>>, How, &mut CsvRow);
pub type MetricCells = for<'c> fn(&ItemRow<'c, Metric<'c>>, How, &mut CsvRow);
pub type AttributeCells = for<'c> fn(&AttributeRow<'c>, How, &mut CsvRow);

/// How cells are made: names looked up through the first, free text guarded as the second
/// says.
pub type How<'a> = (NameOf<'a>, Formulas);

/// The dataset's tables, in the order their files are written and loaded (parents first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Id {
    Conversations,
    Participants,
    Sessions,
    Segments,
    Metrics,
    Attributes,
}

/// Every table, in load order.
pub const IDS: [Id; 6] = [
    Id::Conversations,
    Id::Participants,
    Id::Sessions,
    Id::Segments,
    Id::Metrics,
    Id::Attributes,
];

impl Id {
    pub fn name(self) -> &'static str {
        match self {
            Id::Conversations => "conversations",
            Id::Participants => "participants",
            Id::Sessions => "sessions",
            Id::Segments => "segments",
            Id::Metrics => "metrics",
            Id::Attributes => "attributes",
        }
    }

    /// The table's file in the dataset directory.
    pub fn file(self) -> String {
        format!("{}.csv", self.name())
    }

    /// The position in `IDS`.
    pub fn index(self) -> usize {
        self as usize
    }
}

fn put(out: &mut Vec<u8>, value: Option<&str>) {
    if let Some(value) = value.filter(|v| !v.is_empty()) {
        out.extend_from_slice(value.as_bytes());
    }
}

fn put_bool(out: &mut Vec<u8>, value: Option<bool>) {
    out.extend_from_slice(match value {
        Some(true) => b"true",
        Some(false) => b"false",
        None => b"",
    });
}

fn put_number(out: &mut Vec<u8>, n: impl std::fmt::Display) {
    use std::io::Write;
    // Writing to a vector cannot fail.
    let _ = write!(out, "{n}");
}

/// The name of `id` for `lookup`, where known (a system wrap-up code names itself).
fn put_name(out: &mut Vec<u8>, name_of: NameOf, lookup: Lookup, id: Option<&str>) {
    let Some(id) = id.filter(|id| !id.is_empty()) else {
        return;
    };
    match lookup.fixed_name(id) {
        Some(name) => out.extend_from_slice(name.as_bytes()),
        None => out.extend_from_slice(name_of(lookup, id).unwrap_or_default().as_bytes()),
    }
}

const fn spec(name: &'static str, sql: SqlType, key: bool, description: &'static str) -> Spec {
    Spec {
        name,
        sql,
        key,
        description,
        free_text: false,
    }
}

/// `spec`, for free text.
const fn free(mut spec: Spec) -> Spec {
    spec.free_text = true;
    spec
}

/// Columns of one table: `key`, `text`, `number`, `boolean` and `name` (of a lookup) cells,
/// each with its name, description and source expression over the row `r`; the specs in an
/// array, the cells in one function that renders them all in that order, a cell guarded
/// against formulas where its spec says it is free text.
macro_rules! columns {
    ($cells:ty; $($kind:ident $name:literal, $description:literal => |$r:ident| $value:expr;)*) => {
        Columns::<$cells> {
            specs: &[$(columns!(@spec $kind, $name, $description),)*],
            render: |row, (name_of, formulas), record| {
                // Not every table has a name or free text.
                let _ = (name_of, formulas);
                $(record.field(|out| {
                    let ($r, start) = (row, out.len());
                    columns!(@cell $kind, out, name_of, $value);
                    if const { columns!(@spec $kind, $name, $description).free_text } {
                        formulas.apply_from(out, start);
                    }
                });)*
            },
        }
    };
    (@spec key, $name:literal, $d:literal) => { spec($name, SqlType::Text, true, $d) };
    (@spec index, $name:literal, $d:literal) => { spec($name, SqlType::BigInt, true, $d) };
    (@spec text, $name:literal, $d:literal) => { spec($name, SqlType::Text, false, $d) };
    (@spec free, $name:literal, $d:literal) => { free(spec($name, SqlType::Text, false, $d)) };
    (@spec number, $name:literal, $d:literal) => { spec($name, SqlType::BigInt, false, $d) };
    (@spec boolean, $name:literal, $d:literal) => { spec($name, SqlType::Boolean, false, $d) };
    (@spec $lookup:ident, $name:literal, $d:literal) => { free(spec($name, SqlType::Text, false, $d)) };
    (@cell key, $out:ident, $n:ident, $value:expr) => { $out.extend_from_slice($value.as_bytes()) };
    (@cell text, $out:ident, $n:ident, $value:expr) => { put($out, $value) };
    (@cell free, $out:ident, $n:ident, $value:expr) => { put($out, $value) };
    (@cell index, $out:ident, $n:ident, $value:expr) => { put_number($out, $value) };
    (@cell number, $out:ident, $n:ident, $value:expr) => { put_number($out, $value) };
    (@cell boolean, $out:ident, $n:ident, $value:expr) => { put_bool($out, $value) };
    (@cell users, $out:ident, $n:ident, $value:expr) => { put_name($out, $n, Lookup::Users, $value) };
    (@cell queues, $out:ident, $n:ident, $value:expr) => { put_name($out, $n, Lookup::Queues, $value) };
    (@cell wrapups, $out:ident, $n:ident, $value:expr) => { put_name($out, $n, Lookup::WrapUpCodes, $value) };
}

#[rustfmt::skip]
pub const PARTICIPANTS: Table<ParticipantCells> = Table {
    id: Id::Participants,
    description: "one row per participant of a conversation",
    parent: Some((Id::Conversations, &["conversation_id"])),
    columns: columns![ParticipantCells;
        key "conversation_id", "conversationId" => |r| &r.conversation.conversation_id;
        key "participant_id", "participantId; `#P` (its position) when it has none, repeats or starts with #" => |r| r.key;
        number "participant_index", "position among the conversation's participants, from 0" => |r| r.index;
        free "participant_name", "participantName" => |r| r.participant.more().participant_name.as_deref();
        text "purpose", "purpose (customer, ivr, acd, agent, …)" => |r| r.participant.purpose.as_deref();
        text "user_id", "userId (agents)" => |r| r.participant.user_id.as_deref();
        users "user_name", "name of user_id (GET /api/v2/users)" => |r| r.participant.user_id.as_deref();
        text "team_id", "teamId" => |r| r.participant.more().team_id.as_deref();
        text "external_contact_id", "externalContactId" => |r| r.participant.more().external_contact_id.as_deref();
        text "external_organization_id", "externalOrganizationId" => |r| r.participant.more().external_organization_id.as_deref();
        text "flagged_reason", "flaggedReason" => |r| r.participant.more().flagged_reason.as_deref();
    ],
};

#[rustfmt::skip]
pub const SESSIONS: Table<SessionCells> = Table {
    id: Id::Sessions,
    description: "one row per session of a participant",
    parent: Some((Id::Participants, &["conversation_id", "participant_id"])),
    columns: columns![SessionCells;
        key "conversation_id", "conversationId" => |r| &r.conversation.conversation_id;
        text "participant_id", "the participant's key (participants)" => |r| Some(r.participant_key);
        key "session_id", "sessionId; `#P.S` (positions) when it has none, repeats or starts with #" => |r| r.key;
        number "session_index", "position among the participant's sessions, from 0" => |r| r.index;
        text "media_type", "mediaType (voice, callback, chat, email, message, …)" => |r| r.session.media_type.as_deref();
        text "direction", "direction (inbound or outbound)" => |r| r.session.more().direction.as_deref();
        text "ani", "ani" => |r| r.session.ani.as_deref();
        text "dnis", "dnis" => |r| r.session.dnis.as_deref();
        text "session_dnis", "sessionDnis" => |r| r.session.more().session_dnis.as_deref();
        free "address_from", "addressFrom" => |r| r.session.more().address_from.as_deref();
        free "address_to", "addressTo" => |r| r.session.more().address_to.as_deref();
        free "remote", "remote" => |r| r.session.more().remote.as_deref();
        text "provider", "provider" => |r| r.session.more().provider.as_deref();
        text "message_type", "messageType" => |r| r.session.more().message_type.as_deref();
        text "peer_id", "peerId" => |r| r.session.more().peer_id.as_deref();
        text "edge_id", "edgeId" => |r| r.session.more().edge_id.as_deref();
        text "protocol_call_id", "protocolCallId" => |r| r.session.more().protocol_call_id.as_deref();
        text "outbound_campaign_id", "outboundCampaignId" => |r| r.session.more().outbound_campaign_id.as_deref();
        text "selected_agent_id", "selectedAgentId" => |r| r.session.more().selected_agent_id.as_deref();
        text "used_routing", "usedRouting" => |r| r.session.more().used_routing.as_deref();
        boolean "recording", "recording" => |r| r.session.more().recording;
        boolean "acw_skipped", "acwSkipped" => |r| r.session.more().acw_skipped;
        text "flow_in_type", "flowInType" => |r| r.session.more().flow_in_type.as_deref();
        text "flow_out_type", "flowOutType" => |r| r.session.more().flow_out_type.as_deref();
        text "flow_id", "flow.flowId" => |r| flow(r, |f| &f.flow_id);
        free "flow_name", "flow.flowName" => |r| flow(r, |f| &f.flow_name);
        text "flow_type", "flow.flowType" => |r| flow(r, |f| &f.flow_type);
        text "flow_version", "flow.flowVersion" => |r| flow(r, |f| &f.flow_version);
        text "flow_entry_reason", "flow.entryReason" => |r| flow(r, |f| &f.entry_reason);
        text "flow_exit_reason", "flow.exitReason" => |r| flow(r, |f| &f.exit_reason);
        text "flow_transfer_type", "flow.transferType" => |r| flow(r, |f| &f.transfer_type);
        free "flow_transfer_target_name", "flow.transferTargetName" => |r| flow(r, |f| &f.transfer_target_name);
        boolean "flow_issued_callback", "flow.issuedCallback" => |r| r.session.more().flow.as_ref().and_then(|f| f.issued_callback);
        text "callback_numbers", "callbackNumbers, joined with ;" => |r| r.session.more().callback_numbers.as_ref().map(|n| n.join(SEPARATOR)).as_deref();
        free "callback_user_name", "callbackUserName" => |r| r.session.more().callback_user_name.as_deref();
        text "callback_scheduled_time", "callbackScheduledTime, UTC" => |r| r.session.more().callback_scheduled_time.as_deref();
    ],
};

#[rustfmt::skip]
pub const SEGMENTS: Table<SegmentCells> = Table {
    id: Id::Segments,
    description: "one row per segment of a session",
    parent: Some((Id::Sessions, &["conversation_id", "session_id"])),
    columns: columns![SegmentCells;
        key "conversation_id", "conversationId" => |r| &r.conversation.conversation_id;
        key "session_id", "the session's key (sessions)" => |r| r.session_key;
        index "segment_index", "position among the session's segments, from 0" => |r| r.index;
        text "segment_type", "segmentType (alert, interact, hold, wrapup, ivr, …)" => |r| r.item.more().segment_type.as_deref();
        text "segment_start", "segmentStart, UTC, as the API gives it" => |r| r.item.more().segment_start.as_deref();
        text "segment_end", "segmentEnd; empty while in progress" => |r| r.item.more().segment_end.as_deref();
        text "queue_id", "queueId" => |r| r.item.queue_id.as_deref();
        queues "queue_name", "name of queue_id (GET /api/v2/routing/queues)" => |r| r.item.queue_id.as_deref();
        text "wrap_up_code", "wrapUpCode (an id)" => |r| r.item.wrap_up_code.as_deref();
        wrapups "wrap_up_name", "name of wrap_up_code (GET /api/v2/routing/wrapupcodes); a system code names itself" => |r| r.item.wrap_up_code.as_deref();
        free "wrap_up_note", "wrapUpNote" => |r| r.item.more().wrap_up_note.as_deref();
        text "disconnect_type", "disconnectType" => |r| r.item.more().disconnect_type.as_deref();
        text "error_code", "errorCode" => |r| r.item.more().error_code.as_deref();
        boolean "conference", "conference" => |r| r.item.more().conference;
        text "group_id", "groupId" => |r| r.item.more().group_id.as_deref();
        free "subject", "subject" => |r| r.item.more().subject.as_deref();
        text "requested_language_id", "requestedLanguageId" => |r| r.item.more().requested_language_id.as_deref();
        text "source_conversation_id", "sourceConversationId" => |r| r.item.more().source_conversation_id.as_deref();
        text "destination_conversation_id", "destinationConversationId" => |r| r.item.more().destination_conversation_id.as_deref();
    ],
};

#[rustfmt::skip]
pub const METRICS: Table<MetricCells> = Table {
    id: Id::Metrics,
    description: "one row per metric of a session",
    parent: Some((Id::Sessions, &["conversation_id", "session_id"])),
    columns: columns![MetricCells;
        key "conversation_id", "conversationId" => |r| &r.conversation.conversation_id;
        key "session_id", "the session's key (sessions)" => |r| r.session_key;
        index "metric_index", "position among the session's metrics, from 0" => |r| r.index;
        text "name", "name (tTalk, tHandle, nOffered, …; t* are milliseconds)" => |r| Some(r.item.name.as_ref());
        number "value", "value" => |r| r.item.value;
        text "emit_date", "emitDate, UTC" => |r| r.item.emit_date.as_deref();
    ],
};

#[rustfmt::skip]
pub const ATTRIBUTES: Table<AttributeCells> = Table {
    id: Id::Attributes,
    description: "one row per participant attribute, from job results; the header only otherwise",
    parent: Some((Id::Participants, &["conversation_id", "participant_id"])),
    columns: columns![AttributeCells;
        key "conversation_id", "conversationId" => |r| &r.conversation.conversation_id;
        key "participant_id", "the participant's key (participants)" => |r| r.participant_key;
        key "name", "the attribute's name" => |r| r.name;
        free "value", "its value" => |r| Some(r.value);
    ],
};

fn flow<'c>(
    r: &SessionRow<'c>,
    field: fn(&'c Flow<'c>) -> &'c Option<Cow<'c, str>>,
) -> Option<&'c str> {
    r.session
        .more()
        .flow
        .as_ref()
        .and_then(|f| field(f).as_deref())
}

/// The columns of `conversations.csv`: `conversation_id` and `conversation_start` (its key and
/// the start that places it in a window), then the other chosen catalogue columns in order.
pub fn conversation_columns(chosen: &[&'static columns::Column]) -> Vec<&'static columns::Column> {
    let fixed = [columns::ID_COLUMN, "conversation_start"];
    let rest = chosen.iter().copied().filter(|c| !fixed.contains(&c.name));
    fixed
        .iter()
        .filter_map(|name| columns::find(name))
        .chain(rest)
        .collect()
}

/// A catalogue column as a column of `conversations`: metric sums are numbers, the rest text.
fn conversation_spec(c: &columns::Column) -> Spec {
    Spec {
        name: c.name,
        sql: match c.cell {
            columns::Cell::Metric(_) => SqlType::BigInt,
            _ => SqlType::Text,
        },
        key: c.name == columns::ID_COLUMN,
        description: c.description,
        free_text: c.free_text,
    }
}

/// Every table's column specs, in load order, `conversations` with `conversation` columns.
pub fn specs(conversation: &[&'static columns::Column]) -> [(Id, Vec<Spec>); 6] {
    fn of<F>(t: &Table<F>) -> (Id, Vec<Spec>) {
        (t.id, t.columns.specs.to_vec())
    }
    let conversations = conversation.iter().map(|c| conversation_spec(c)).collect();
    [
        (Id::Conversations, conversations),
        of(&PARTICIPANTS),
        of(&SESSIONS),
        of(&SEGMENTS),
        of(&METRICS),
        of(&ATTRIBUTES),
    ]
}

/// The foreign key of a table: the parent and the key's columns.
pub fn parent(id: Id) -> Option<(Id, &'static [&'static str])> {
    match id {
        Id::Conversations => None,
        Id::Participants => PARTICIPANTS.parent,
        Id::Sessions => SESSIONS.parent,
        Id::Segments => SEGMENTS.parent,
        Id::Metrics => METRICS.parent,
        Id::Attributes => ATTRIBUTES.parent,
    }
}

/// Each table's CSV header: its columns' names.
pub fn headers(conversation: &[&'static columns::Column]) -> [Vec<&'static str>; 6] {
    specs(conversation).map(|(_, specs)| specs.iter().map(|s| s.name).collect())
}

/// `schema.sql`: one `CREATE TABLE` per table, parents first, with primary and foreign keys,
/// in types PostgreSQL, SQLite and DuckDB take as they are.
pub fn schema_sql(conversation: &[&'static columns::Column]) -> String {
    let mut sql = String::from(
        "-- The tables of a genesys-export dataset (--tables): each NAME.csv loads into NAME.\n\
         -- Timestamps are ISO-8601 UTC text as the API writes them; t* metrics are milliseconds.\n",
    );
    for (id, specs) in specs(conversation) {
        let parent = parent(id);
        let fk = parent.map_or(&[][..], |(_, cols)| cols);
        sql.push_str(&format!("\nCREATE TABLE {} (\n", id.name()));
        for spec in &specs {
            let null = if spec.key || fk.contains(&spec.name) {
                " NOT NULL"
            } else {
                ""
            };
            sql.push_str(&format!("    {} {}{null},\n", spec.name, spec.sql.name()));
        }
        let keys: Vec<&str> = specs.iter().filter(|s| s.key).map(|s| s.name).collect();
        sql.push_str(&format!("    PRIMARY KEY ({})", keys.join(", ")));
        if let Some((parent, cols)) = parent {
            let cols = cols.join(", ");
            sql.push_str(&format!(
                ",\n    FOREIGN KEY ({cols}) REFERENCES {} ({cols})",
                parent.name()
            ));
        }
        sql.push_str("\n);\n");
    }
    sql
}

#[cfg_attr(not(test), allow(dead_code))]
/// The README's schema section for the tables after `conversations` (whose columns are the
/// catalogue's): one table of columns per file.
pub fn markdown() -> String {
    let mut md = String::new();
    for (id, specs) in specs(&[]).into_iter().skip(1) {
        md.push_str(&format!("`{}` ({}):\n\n", id.file(), description(id)));
        md.push_str("| column | type | key | source |\n|---|---|---|---|\n");
        for s in specs {
            let key = if s.key { "key" } else { "" };
            let source = s.description.replace('|', "\\|");
            md.push_str(&format!(
                "| `{}` | {} | {key} | {source} |\n",
                s.name,
                s.sql.name()
            ));
        }
        md.push('\n');
    }
    md
}

#[cfg_attr(not(test), allow(dead_code))]
fn description(id: Id) -> &'static str {
    match id {
        Id::Conversations => "one row per conversation",
        Id::Participants => PARTICIPANTS.description,
        Id::Sessions => SESSIONS.description,
        Id::Segments => SEGMENTS.description,
        Id::Metrics => METRICS.description,
        Id::Attributes => ATTRIBUTES.description,
    }
}

/// A participant's key: its `participantId` unless absent, repeated in the conversation or
/// starting with `#`; then `#P`.
fn participant_key(c: View<'_>, index: usize) -> Cow<'_, str> {
    let ids = c
        .participants()
        .iter()
        .map(|p| p.more().participant_id.as_deref());
    unique_key(ids, index, || format!("#{index}"))
}

/// The `index`-th of `ids` if it is a usable key (present, not empty, not starting with `#`,
/// once only), else the surrogate.
fn unique_key<'c>(
    ids: impl Iterator<Item = Option<&'c str>> + Clone,
    index: usize,
    surrogate: impl FnOnce() -> String,
) -> Cow<'c, str> {
    let own = ids.clone().nth(index).flatten();
    match own.filter(|id| !id.is_empty() && !id.starts_with('#')) {
        Some(id) if ids.filter(|other| *other == Some(id)).count() == 1 => id.into(),
        _ => surrogate().into(),
    }
}

/// A reused record buffer: flattens conversations into the rows of every table.
#[derive(Default)]
pub struct Flattener {
    row: CsvRow,
}

impl Flattener {
    /// Hands every row of `c` to `out` (its table and its CSV record): each table's rows in
    /// the record's order, `conversations` with the columns `conversation`.
    pub fn rows<E>(
        &mut self,
        c: View,
        conversation: &[&'static columns::Column],
        name_of: NameOf,
        formulas: Formulas,
        zone: &crate::tz::Zone,
        out: &mut impl FnMut(Id, &CsvRow) -> Result<(), E>,
    ) -> Result<(), E> {
        let cells = &mut self.row;
        cells.clear();
        for column in conversation {
            let cell = column.csv_cell(c, name_of, formulas, zone);
            cells.field(|out| out.extend_from_slice(cell.as_bytes()));
        }
        cells.end();
        out(Id::Conversations, cells)?;
        let (keys, session_keys) = keys(c);
        let mut session_keys = session_keys.iter();
        let conversation = c;
        for ((index, participant), key) in c.participants().iter().enumerate().zip(&keys) {
            let participant_key = key.as_ref();
            let row = ParticipantRow {
                conversation,
                participant,
                key,
                index,
            };
            emit(cells, &PARTICIPANTS, &row, (name_of, formulas), out)?;
            for (name, value) in &participant.attributes {
                let row = AttributeRow {
                    conversation,
                    participant_key,
                    name,
                    value,
                };
                emit(cells, &ATTRIBUTES, &row, (name_of, formulas), out)?;
            }
            let sessions = c.sessions(participant).iter().enumerate();
            for ((index, session), key) in sessions.zip(&mut session_keys) {
                let row = SessionRow {
                    conversation,
                    participant_key,
                    session,
                    key,
                    index,
                };
                session_rows(cells, &row, (name_of, formulas), out)?;
            }
        }
        Ok(())
    }
}

/// Hands a session's row, then its segments' and its metrics' rows, to `out`.
fn session_rows<E>(
    cells: &mut CsvRow,
    row: &SessionRow,
    how: How,
    out: &mut impl FnMut(Id, &CsvRow) -> Result<(), E>,
) -> Result<(), E> {
    emit(cells, &SESSIONS, row, how, out)?;
    let (conversation, session_key) = (row.conversation, row.key);
    for (index, item) in conversation.segments(row.session).iter().enumerate() {
        let row = ItemRow {
            conversation,
            session_key,
            item,
            index,
        };
        emit(cells, &SEGMENTS, &row, how, out)?;
    }
    for (index, item) in conversation.metrics(row.session).iter().enumerate() {
        let row = ItemRow {
            conversation,
            session_key,
            item,
            index,
        };
        emit(cells, &METRICS, &row, how, out)?;
    }
    Ok(())
}

/// Renders the CSV record of `row` for `table` into `record` and hands it to `out`.
fn emit<R, F: Fn(&R, How, &mut CsvRow), E>(
    record: &mut CsvRow,
    table: &Table<F>,
    row: &R,
    how: How,
    out: &mut impl FnMut(Id, &CsvRow) -> Result<(), E>,
) -> Result<(), E> {
    record.clear();
    (table.columns.render)(row, how, record);
    record.end();
    out(table.id, record)
}

/// The keys of a conversation's participants, and of its sessions in record order.
type Keys<'c> = (Vec<Cow<'c, str>>, Vec<Cow<'c, str>>);

fn keys(c: View<'_>) -> Keys<'_> {
    let session_ids = c.all_sessions().map(|s| s.more().session_id.as_deref());
    let mut keys = Vec::with_capacity(c.participants().len());
    let mut session_keys = Vec::new();
    for (p, participant) in c.participants().iter().enumerate() {
        keys.push(participant_key(c, p));
        for s in 0..c.sessions(participant).len() {
            let flat = session_keys.len();
            session_keys.push(unique_key(session_ids.clone(), flat, || {
                format!("#{p}.{s}")
            }));
        }
    }
    (keys, session_keys)
}

/// Checks `--tables` against the options it excludes; `Ok(true)` when it is given. The
/// dataset is CSV by nature, holds every participant attribute in `attributes.csv`, and
/// replaces `--output`.
pub fn check_options(
    tables: Option<&str>,
    output: Option<&str>,
    format: Option<&str>,
    attributes: &[String],
) -> Result<bool, String> {
    let Some(dir) = tables else {
        return Ok(false);
    };
    if dir.is_empty() || dir == "-" {
        return Err("--tables needs a directory name (a dataset cannot go to stdout)".to_string());
    }
    if output.is_some() {
        return Err("--tables and --output both say where to write: give one".to_string());
    }
    if format.is_some_and(|f| f != "csv") {
        return Err("--tables writes CSV tables: drop --format".to_string());
    }
    if !attributes.is_empty() {
        return Err(
            "--tables writes every participant attribute to attributes.csv: drop --attribute (job results carry them: --mode jobs)"
                .to_string(),
        );
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::columns::sample::{name_of, SAMPLE};
    use crate::record::Tree;

    fn rows(c: &Tree) -> Vec<(Id, Vec<String>)> {
        rows_with(c, Formulas::Guarded)
    }

    fn rows_with(c: &Tree, formulas: Formulas) -> Vec<(Id, Vec<String>)> {
        let mut out = Vec::new();
        let columns = conversation_columns(&columns::default_columns());
        // Each record read back as the csv crate reads it: one record, ended by its line feed.
        let mut keep = |id, record: &CsvRow| {
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(false)
                .from_reader(record.bytes());
            let mut records = reader.records().map(Result::unwrap);
            let cells = records.next().unwrap().iter().map(String::from).collect();
            assert!(records.next().is_none() && record.bytes().ends_with(b"\n"));
            out.push((id, cells));
            Ok(())
        };
        Flattener::default()
            .rows::<()>(
                c.view(),
                &columns,
                &name_of,
                formulas,
                &crate::tz::UTC,
                &mut keep,
            )
            .unwrap();
        out
    }

    #[test]
    fn free_text_cells_are_guarded_against_formulas_and_nothing_else() {
        let text = r#"{"conversationId":"c-1","conversationStart":"2026-11-01T10:00:00.000Z",
            "participants":[{"participantId":"p","participantName":"=HYPERLINK(1)","purpose":"customer",
              "attributes":{"note":"+cmd"},
              "sessions":[{"sessionId":"s","ani":"+3312345","remote":"@x",
                "segments":[{"segmentType":"wrapup","wrapUpNote":"-1+1","segmentStart":"2026-11-01T10:00:00.000Z"}]}]}]}"#;
        let c = crate::record::unchecked(text).unwrap();
        let cell = |rows: &[(Id, Vec<String>)], id: Id, table_columns: Vec<Spec>, name: &str| {
            let at = table_columns.iter().position(|s| s.name == name).unwrap();
            rows.iter().find(|(i, _)| *i == id).unwrap().1[at].clone()
        };
        let specs = |id: Id| {
            let all = specs(&conversation_columns(&columns::default_columns()));
            all.into_iter().find(|(i, _)| *i == id).unwrap().1
        };
        let guarded = rows_with(&c, Formulas::Guarded);
        let raw = rows_with(&c, Formulas::Raw);
        for (id, name, want) in [
            (Id::Participants, "participant_name", "'=HYPERLINK(1)"),
            (Id::Attributes, "value", "'+cmd"),
            (Id::Sessions, "remote", "'@x"),
            (Id::Sessions, "ani", "+3312345"),
            (Id::Segments, "wrap_up_note", "'-1+1"),
        ] {
            assert_eq!(cell(&guarded, id, specs(id), name), want, "{name}");
            let written = want.strip_prefix('\'').unwrap_or(want);
            assert_eq!(cell(&raw, id, specs(id), name), written, "{name}");
        }
    }

    #[test]
    fn every_row_has_its_tables_columns_and_keys_are_unique_and_refer_to_parents() {
        let c = crate::record::unchecked(SAMPLE).unwrap();
        let rows = rows(&c);
        let specs = specs(&conversation_columns(&columns::default_columns()));
        let mut keys: Vec<(Id, Vec<String>)> = Vec::new();
        for (id, cells) in &rows {
            let (_, spec) = &specs[id.index()];
            assert_eq!(cells.len(), spec.len(), "{id:?}");
            let key: Vec<String> = spec
                .iter()
                .zip(cells)
                .filter(|(s, _)| s.key)
                .map(|(_, c)| c.clone())
                .collect();
            assert!(key.iter().all(|k| !k.is_empty()), "{id:?} {cells:?}");
            assert!(!keys.contains(&(*id, key.clone())), "{id:?} {key:?} twice");
            if let Some((parent, columns)) = parent(*id) {
                let (_, parent_spec) = &specs[parent.index()];
                let value = |name: &str| {
                    let at = spec.iter().position(|s| s.name == name).unwrap();
                    cells[at].clone()
                };
                let wanted: Vec<String> = columns.iter().map(|c| value(c)).collect();
                let parent_key: Vec<&str> = parent_spec
                    .iter()
                    .filter(|s| s.key)
                    .map(|s| s.name)
                    .collect();
                assert_eq!(&parent_key, columns, "{id:?} refers to its parent's key");
                assert!(
                    keys.contains(&(parent, wanted.clone())),
                    "{id:?} {wanted:?} has no parent"
                );
            }
            keys.push((*id, key));
        }
        let count = |id: Id| rows.iter().filter(|(i, _)| *i == id).count();
        assert_eq!(count(Id::Conversations), 1);
        assert_eq!(count(Id::Participants), c.view().participants().len());
        let sessions = c.view().all_sessions().count();
        assert_eq!(count(Id::Sessions), sessions);
    }

    #[test]
    fn participants_and_sessions_without_usable_ids_get_position_keys() {
        let c = crate::record::unchecked(
            r##"{"conversationId":"c","conversationStart":"2026-11-01T00:00:00Z","participants":[
                {"participantId":"p","sessions":[{"sessionId":"s"},{"sessionId":"s"}]},
                {"participantId":"p","sessions":[{}]},
                {"participantId":"#0","purpose":"agent","userId":"u-1","attributes":{"k":"v"},
                 "sessions":[{"sessionId":"t","metrics":[{"name":"nTransferred","value":1,"emitDate":"e"}],
                   "segments":[{"segmentType":"interact","queueId":"q-1","conference":true}]}]}]}"##,
        )
        .unwrap();
        let rows = rows(&c);
        let keys = |id: Id, at: usize| -> Vec<String> {
            rows.iter()
                .filter(|(i, _)| *i == id)
                .map(|(_, r)| r[at].clone())
                .collect()
        };
        assert_eq!(keys(Id::Participants, 1), ["#0", "#1", "#2"]);
        assert_eq!(keys(Id::Sessions, 2), ["#0.0", "#0.1", "#1.0", "t"]);
        assert_eq!(keys(Id::Sessions, 1), ["#0", "#0", "#1", "#2"]);
        let segment = &rows.iter().find(|(i, _)| *i == Id::Segments).unwrap().1;
        assert_eq!(segment[..5], ["c", "t", "0", "interact", ""]);
        let conference = SEGMENTS
            .columns
            .specs
            .iter()
            .position(|c| c.name == "conference")
            .unwrap();
        assert_eq!(segment[conference], "true");
        let metric = &rows.iter().find(|(i, _)| *i == Id::Metrics).unwrap().1;
        assert_eq!(metric[..], ["c", "t", "0", "nTransferred", "1", "e"]);
        let attribute = &rows.iter().find(|(i, _)| *i == Id::Attributes).unwrap().1;
        assert_eq!(attribute[..], ["c", "#2", "k", "v"]);
    }

    #[test]
    fn schema_sql_declares_each_header_with_keys() {
        let columns = conversation_columns(&columns::parse("t_talk,conversation_id").unwrap());
        let names: Vec<&str> = columns.iter().map(|c| c.name).collect();
        assert_eq!(names, ["conversation_id", "conversation_start", "t_talk"]);
        let sql = schema_sql(&columns);
        assert!(sql.contains(
            "CREATE TABLE conversations (\n    conversation_id TEXT NOT NULL,\n    conversation_start TEXT,\n    t_talk BIGINT,\n    PRIMARY KEY (conversation_id)\n);"
        ), "{sql}");
        assert!(sql.contains(
            "    PRIMARY KEY (conversation_id, session_id, segment_index),\n    FOREIGN KEY (conversation_id, session_id) REFERENCES sessions (conversation_id, session_id)\n);"
        ), "{sql}");
        for (id, header) in IDS.iter().zip(headers(&columns)) {
            let table = format!("CREATE TABLE {} (\n", id.name());
            let body = sql
                .split(&table)
                .nth(1)
                .unwrap()
                .split("PRIMARY KEY")
                .next()
                .unwrap();
            let declared: Vec<&str> = body
                .lines()
                .filter_map(|l| l.split_whitespace().next())
                .collect();
            assert_eq!(declared, header, "{id:?}");
        }
    }

    #[test]
    fn the_readme_documents_every_table_as_the_catalogue_describes_it() {
        let readme = include_str!("../README.md");
        let section = readme
            .split("<!-- tables:schema -->\n")
            .nth(1)
            .and_then(|rest| rest.split("<!-- tables:schema:end -->").next())
            .expect("README has the tables' schema section");
        assert_eq!(section, markdown());
    }

    #[test]
    fn the_options_it_excludes_are_refused() {
        assert_eq!(check_options(None, Some("x"), None, &[]), Ok(false));
        assert_eq!(check_options(Some("d"), None, Some("csv"), &[]), Ok(true));
        for (tables, output, format, attributes) in [
            (Some(""), None, None, vec![]),
            (Some("-"), None, None, vec![]),
            (Some("d"), Some("f"), None, vec![]),
            (Some("d"), None, Some("jsonl"), vec![]),
            (Some("d"), None, None, vec!["a".to_string()]),
        ] {
            assert!(check_options(tables, output, format, &attributes).is_err());
        }
    }
}
