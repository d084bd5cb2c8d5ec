//! The conversation record as the analytics API returns it, read as a borrowed, typed view.
//!
//! Pure data; no I/O. `Conversation::read` reads one conversation's JSON once, in one pass
//! (`read.rs`, over `json::Reader`): its strings borrow from the reply's text (owned only
//! where a string holds an escape), the raw text is kept beside the view for JSON Lines, and
//! the shape check (an id and a readable start) is made on the same read. Only the fields the
//! export reads are declared; the rest are skipped, checked as JSON. The fields the fixed
//! columns read are strict (a wrong type fails the shape check); those read only by catalogue
//! columns are lenient: a value of an unexpected type reads as absent. It must not know the
//! wire envelopes (`api.rs`) or rows.

mod read;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::value::RawValue;

use crate::json::Reader;
pub use read::Depth;

/// A string of a record: borrowed from the reply's text, owned where it held an escape.
pub type Text<'a> = Cow<'a, str>;

/// The fields of a conversation that the export reads. Its participants, and their sessions,
/// segments and metrics, are held apart in the reply's `Nodes`; a `View` walks them.
#[derive(Debug, Default)]
pub struct Conversation<'a> {
    pub conversation_id: Cow<'a, str>,
    pub conversation_start: Cow<'a, str>,
    pub conversation_end: Option<Text<'a>>,
    pub originating_direction: Option<Text<'a>>,
    pub division_ids: Vec<Text<'a>>,
    /// The number as the reply writes it (a float read back would not always print the same).
    pub media_stats_min_conversation_mos: Option<Text<'a>>,
    pub external_tag: Option<Text<'a>>,
    pub conversation_initiator: Option<Text<'a>>,
    participants: Extent,
    /// The conversation's JSON as the reply holds it (set by `Conversation::read`).
    pub raw: Option<&'a str>,
    /// `conversation_start` read as an instant, once, by the read's check.
    started: Started,
}

/// A conversation's start as its read found it; shown as `..`: it is `conversation_start`
/// read, not a field of its own.
#[derive(Clone, Copy, Default)]
struct Started(Option<time::OffsetDateTime>);

impl std::fmt::Debug for Started {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("..")
    }
}

#[derive(Debug, Default)]
pub struct Participant<'a> {
    pub purpose: Option<Text<'a>>,
    pub user_id: Option<Text<'a>>,
    /// Custom participant data; only job results carry it.
    pub attributes: BTreeMap<Text<'a>, Text<'a>>,
    /// The lenient fields (`more`): boxed, and only where one was read.
    lenient: Option<Box<ParticipantMore<'a>>>,
    sessions: Extent,
}

/// A participant's lenient fields (read by catalogue columns and the tables alone).
#[derive(Debug, Default, PartialEq)]
pub struct ParticipantMore<'a> {
    pub participant_id: Option<Text<'a>>,
    pub participant_name: Option<Text<'a>>,
    pub team_id: Option<Text<'a>>,
    pub external_contact_id: Option<Text<'a>>,
    pub external_organization_id: Option<Text<'a>>,
    pub flagged_reason: Option<Text<'a>>,
}

#[derive(Debug, Default)]
pub struct Session<'a> {
    pub media_type: Option<Text<'a>>,
    pub ani: Option<Text<'a>>,
    pub dnis: Option<Text<'a>>,
    /// The lenient fields (`more`): boxed, and only where one was read.
    lenient: Option<Box<SessionMore<'a>>>,
    segments: Extent,
    /// `AnalyticsSessionMetric`s; a metric that is not an object with a string `name` and a
    /// whole-number `value` is skipped.
    metrics: Extent,
}

/// A session's lenient fields (read by catalogue columns and the tables alone).
#[derive(Debug, Default, PartialEq)]
pub struct SessionMore<'a> {
    pub session_id: Option<Text<'a>>,
    pub direction: Option<Text<'a>>,
    pub session_dnis: Option<Text<'a>>,
    pub address_from: Option<Text<'a>>,
    pub address_to: Option<Text<'a>>,
    pub remote: Option<Text<'a>>,
    pub provider: Option<Text<'a>>,
    pub message_type: Option<Text<'a>>,
    pub peer_id: Option<Text<'a>>,
    pub edge_id: Option<Text<'a>>,
    pub protocol_call_id: Option<Text<'a>>,
    pub outbound_campaign_id: Option<Text<'a>>,
    pub selected_agent_id: Option<Text<'a>>,
    pub used_routing: Option<Text<'a>>,
    pub recording: Option<bool>,
    pub acw_skipped: Option<bool>,
    pub flow_in_type: Option<Text<'a>>,
    pub flow_out_type: Option<Text<'a>>,
    pub callback_numbers: Option<Vec<Text<'a>>>,
    pub callback_user_name: Option<Text<'a>>,
    pub callback_scheduled_time: Option<Text<'a>>,
    pub flow: Option<Flow<'a>>,
}

#[derive(Debug, Default)]
pub struct Segment<'a> {
    pub queue_id: Option<Text<'a>>,
    pub wrap_up_code: Option<Text<'a>>,
    /// The lenient fields (`more`): boxed, and only where one was read.
    lenient: Option<Box<SegmentMore<'a>>>,
}

/// A segment's lenient fields (read by catalogue columns and the tables alone).
#[derive(Debug, Default, PartialEq)]
pub struct SegmentMore<'a> {
    pub disconnect_type: Option<Text<'a>>,
    pub segment_start: Option<Text<'a>>,
    pub segment_end: Option<Text<'a>>,
    pub segment_type: Option<Text<'a>>,
    pub wrap_up_note: Option<Text<'a>>,
    pub error_code: Option<Text<'a>>,
    pub conference: Option<bool>,
    pub group_id: Option<Text<'a>>,
    pub subject: Option<Text<'a>>,
    pub requested_language_id: Option<Text<'a>>,
    pub source_conversation_id: Option<Text<'a>>,
    pub destination_conversation_id: Option<Text<'a>>,
}

/// What a record without lenient fields reads as.
static NO_PARTICIPANT_MORE: ParticipantMore<'static> = ParticipantMore {
    participant_id: None,
    participant_name: None,
    team_id: None,
    external_contact_id: None,
    external_organization_id: None,
    flagged_reason: None,
};
static NO_SESSION_MORE: SessionMore<'static> = SessionMore {
    session_id: None,
    direction: None,
    session_dnis: None,
    address_from: None,
    address_to: None,
    remote: None,
    provider: None,
    message_type: None,
    peer_id: None,
    edge_id: None,
    protocol_call_id: None,
    outbound_campaign_id: None,
    selected_agent_id: None,
    used_routing: None,
    recording: None,
    acw_skipped: None,
    flow_in_type: None,
    flow_out_type: None,
    callback_numbers: None,
    callback_user_name: None,
    callback_scheduled_time: None,
    flow: None,
};
static NO_SEGMENT_MORE: SegmentMore<'static> = SegmentMore {
    disconnect_type: None,
    segment_start: None,
    segment_end: None,
    segment_type: None,
    wrap_up_note: None,
    error_code: None,
    conference: None,
    group_id: None,
    subject: None,
    requested_language_id: None,
    source_conversation_id: None,
    destination_conversation_id: None,
};

impl<'a> Participant<'a> {
    /// The lenient fields, all absent where none was read.
    pub fn more(&self) -> &ParticipantMore<'a> {
        self.lenient.as_deref().unwrap_or(&NO_PARTICIPANT_MORE)
    }
}

impl<'a> Session<'a> {
    /// The lenient fields, all absent where none was read.
    pub fn more(&self) -> &SessionMore<'a> {
        self.lenient.as_deref().unwrap_or(&NO_SESSION_MORE)
    }
}

impl<'a> Segment<'a> {
    /// The lenient fields, all absent where none was read.
    pub fn more(&self) -> &SegmentMore<'a> {
        self.lenient.as_deref().unwrap_or(&NO_SEGMENT_MORE)
    }
}

/// A session's `flow` (`AnalyticsFlow`): the Architect flow it went through. Every field is
/// lenient, and anything but an object reads as no flow.
#[derive(Debug, Default, PartialEq)]
pub struct Flow<'a> {
    pub flow_id: Option<Text<'a>>,
    pub flow_name: Option<Text<'a>>,
    pub flow_type: Option<Text<'a>>,
    pub flow_version: Option<Text<'a>>,
    pub entry_reason: Option<Text<'a>>,
    pub exit_reason: Option<Text<'a>>,
    pub transfer_type: Option<Text<'a>>,
    pub transfer_target_name: Option<Text<'a>>,
    pub issued_callback: Option<bool>,
}

/// One session metric (`AnalyticsSessionMetric`): `t*` values are milliseconds, `n*` counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metric<'a> {
    pub name: Text<'a>,
    pub value: i64,
    /// `emitDate`, when the metric carries a string there.
    pub emit_date: Option<Text<'a>>,
}

/// Where a record's children lie in one vector of its reply's `Nodes`. Shown as `..`: where
/// they lie is not what a record holds (`View` reaches them).
#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct Extent {
    start: u32,
    end: u32,
}

impl std::fmt::Debug for Extent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("..")
    }
}

impl Extent {
    /// The items of `all` from `start` to its end; a vector past `u32` indices is refused.
    fn since<T>(all: &[T], start: usize) -> Result<Extent, String> {
        let index = |i: usize| u32::try_from(i).map_err(|_| "a reply of too many records");
        Ok(Extent {
            start: index(start)?,
            end: index(all.len())?,
        })
    }

    /// The items of `all` this extent covers (none if it lies outside, which a reader's
    /// extents never do).
    fn of<T>(self, all: &[T]) -> &[T] {
        let (start, end) = (self.start as usize, self.end as usize);
        all.get(start..end).unwrap_or_default()
    }
}

/// The participants, sessions, segments and metrics of the conversations read from a reply,
/// one vector each: a conversation's participants are one extent of the first, a
/// participant's sessions one of the second, and so on. A reply's records are a few vectors
/// instead of a small allocation each, freed together, and cleared for reuse.
#[derive(Debug, Default)]
pub struct Nodes<'a> {
    participants: Vec<Participant<'a>>,
    sessions: Vec<Session<'a>>,
    segments: Vec<Segment<'a>>,
    metrics: Vec<Metric<'a>>,
}

impl<'a> Nodes<'a> {
    /// Empties the nodes, keeping their vectors' room, for records of another text (`'b`):
    /// an empty vector is collected in place into one of the other lifetime.
    pub fn recycle<'b>(self) -> Nodes<'b> {
        fn empty<T, U>(items: Vec<T>) -> Vec<U> {
            items.into_iter().filter_map(|_| None).collect()
        }
        Nodes {
            participants: empty(self.participants),
            sessions: empty(self.sessions),
            segments: empty(self.segments),
            metrics: empty(self.metrics),
        }
    }

    /// Nodes to read a reply into: the emptied nodes of a reply written already where there
    /// are (`SPARE`), so that the vectors grow on the first pages alone.
    pub fn spare() -> Nodes<'a> {
        let spare = SPARE.lock().ok().and_then(|mut spare| spare.pop());
        spare.unwrap_or_default().recycle()
    }

    /// Empties the nodes and keeps them for the next reply (`spare`), unless enough are.
    fn give_back(self) {
        let nodes = self.recycle();
        if let Ok(mut spare) = SPARE.lock() {
            if spare.len() < SPARE_NODES {
                spare.push(nodes);
            }
        }
    }

    /// Empties the nodes, keeping their vectors' room.
    pub fn clear(&mut self) {
        self.participants.clear();
        self.sessions.clear();
        self.segments.clear();
        self.metrics.clear();
    }
}

/// The emptied nodes of replies written already, with the room they grew, for the next
/// replies read (`Nodes::spare`): as many as the replies usually in flight at once.
static SPARE: Mutex<Vec<Nodes<'static>>> = Mutex::new(Vec::new());
const SPARE_NODES: usize = 4;

/// A conversation with the nodes of its reply: what the columns and the tables read. Its
/// children are slices of the reply's nodes, borrowed as long as the view.
#[derive(Clone, Copy, Debug)]
pub struct View<'n> {
    head: &'n Conversation<'n>,
    nodes: &'n Nodes<'n>,
}

impl<'n> View<'n> {
    pub fn new(head: &'n Conversation<'n>, nodes: &'n Nodes<'n>) -> View<'n> {
        View { head, nodes }
    }

    pub fn participants(self) -> &'n [Participant<'n>] {
        self.head.participants.of(&self.nodes.participants)
    }

    pub fn sessions(self, participant: &Participant) -> &'n [Session<'n>] {
        participant.sessions.of(&self.nodes.sessions)
    }

    pub fn segments(self, session: &Session) -> &'n [Segment<'n>] {
        session.segments.of(&self.nodes.segments)
    }

    pub fn metrics(self, session: &Session) -> &'n [Metric<'n>] {
        session.metrics.of(&self.nodes.metrics)
    }

    /// Every session of every participant, in order.
    pub fn all_sessions(self) -> impl Iterator<Item = &'n Session<'n>> + Clone {
        self.participants()
            .iter()
            .flat_map(move |p| self.sessions(p))
    }

    /// Every segment of every session, in order.
    pub fn all_segments(self) -> impl Iterator<Item = &'n Segment<'n>> + Clone {
        self.all_sessions().flat_map(move |s| self.segments(s))
    }

    /// Every metric of every session, in order.
    pub fn all_metrics(self) -> impl Iterator<Item = &'n Metric<'n>> + Clone {
        self.all_sessions().flat_map(move |s| self.metrics(s))
    }
}

impl<'n> std::ops::Deref for View<'n> {
    type Target = Conversation<'n>;

    fn deref(&self) -> &Conversation<'n> {
        self.head
    }
}

/// One conversation read on its own, with its nodes.
#[derive(Debug)]
pub struct Tree<'a> {
    pub head: Conversation<'a>,
    nodes: Nodes<'a>,
}

impl Tree<'_> {
    pub fn view(&self) -> View<'_> {
        View::new(&self.head, &self.nodes)
    }
}

impl<'a> std::ops::Deref for Tree<'a> {
    type Target = Conversation<'a>;

    fn deref(&self) -> &Conversation<'a> {
        &self.head
    }
}

impl<'a> Conversation<'a> {
    /// Reads a conversation's JSON once and checks that it has the shape the export reads:
    /// the declared types, an id and a readable start. The view keeps `raw`.
    pub fn read(raw: &'a str) -> Result<Tree<'a>, String> {
        Conversation::read_to(raw, Depth::Whole)
    }

    /// Reads `raw` as `read` does, accepting and refusing the very same text, with every
    /// lenient field (read by catalogue columns alone) skipped and left empty: for a check
    /// whose view gives only places and the ids of strict fields (names to look up).
    pub fn read_shape(raw: &'a str) -> Result<Tree<'a>, String> {
        Conversation::read_to(raw, Depth::Shape)
    }

    /// Only what places a conversation (its id, start and end), the rest skipped as JSON:
    /// for JSON Lines, whose lines are the reply's own text, from a reply `read` checked
    /// already. The view keeps `raw`; every other field is empty.
    #[cfg(test)]
    pub fn read_place(raw: &'a str) -> Result<Tree<'a>, String> {
        Conversation::read_to(raw, Depth::Place)
    }

    fn read_to(raw: &'a str, depth: Depth) -> Result<Tree<'a>, String> {
        let mut nodes = Nodes::default();
        let head = Conversation::read_into(raw, depth, &mut nodes)?;
        Ok(Tree { head, nodes })
    }

    /// Reads `raw` to `depth` and checks it as `read` does, its records added to `nodes`.
    pub fn read_into(
        raw: &'a str,
        depth: Depth,
        nodes: &mut Nodes<'a>,
    ) -> Result<Conversation<'a>, String> {
        Conversation::read_placed(Reader::new(raw), raw, depth, nodes)
    }

    /// `read_into` for a conversation that a check read whole and accepted already (a page
    /// of job results read again to be written): what it skips it passes over unchecked.
    pub fn read_checked(
        raw: &'a str,
        depth: Depth,
        nodes: &mut Nodes<'a>,
    ) -> Result<Conversation<'a>, String> {
        Conversation::read_placed(Reader::checked(raw), raw, depth, nodes)
    }

    /// Reads `raw` at `reader` as `read_into` does.
    fn read_placed(
        reader: Reader<'a>,
        raw: &'a str,
        depth: Depth,
        nodes: &mut Nodes<'a>,
    ) -> Result<Conversation<'a>, String> {
        let view = Conversation::read_alone(reader, depth, nodes);
        view.map_err(not_the_shape)?.placed(Some(raw))
    }

    /// Reads the one conversation at `reader`, and nothing after it, to `depth`, unchecked.
    fn read_alone(
        mut reader: Reader<'a>,
        depth: Depth,
        nodes: &mut Nodes<'a>,
    ) -> Result<Conversation<'a>, String> {
        let view = read::conversation(&mut reader, depth, nodes)?;
        reader.end()?;
        Ok(view)
    }

    /// Reads the conversation at `reader` (within a reply) to `depth` and checks it as
    /// `read` does, its records added to `nodes`; the view keeps its text as `raw`.
    pub fn read_within(
        reader: &mut Reader<'a>,
        depth: Depth,
        nodes: &mut Nodes<'a>,
    ) -> Result<Conversation<'a>, String> {
        let start = reader.start();
        let view = read::conversation(reader, depth, nodes).map_err(not_the_shape)?;
        view.placed(Some(reader.since(start)))
    }

    /// What a writer reading to `reading` keeps of the conversation just read into `nodes`:
    /// for JSON Lines (`Reading::Places`) only what places it (its id, start and end) and its
    /// text, and no records: `nodes` are emptied, as no view kept reaches them.
    pub fn kept_for(mut self, reading: Reading, nodes: &mut Nodes<'a>) -> Conversation<'a> {
        if reading == Reading::Places {
            nodes.clear();
            self.participants = Extent::default();
            self.division_ids = Vec::new();
        }
        self
    }

    /// The view (of `raw`, when its text is kept) once it has an id and a readable start.
    fn placed(mut self, raw: Option<&'a str>) -> Result<Conversation<'a>, String> {
        let id = &self.conversation_id;
        if id.is_empty() {
            return Err("a conversation has no conversationId".to_string());
        }
        let Some(start) = crate::window::parse_api_timestamp(&self.conversation_start) else {
            return Err(format!(
                "conversation {id} has no readable conversationStart"
            ));
        };
        self.started = Started(Some(start));
        self.raw = raw;
        Ok(self)
    }

    /// When the conversation started; `None` when unreadable (`read` refuses those).
    pub fn start(&self) -> Option<time::OffsetDateTime> {
        match self.started {
            Started(Some(start)) => Some(start),
            Started(None) => crate::window::parse_api_timestamp(&self.conversation_start),
        }
    }

    /// Whether the conversation has ended (it carries a `conversationEnd`).
    pub fn ended(&self) -> bool {
        self.conversation_end.is_some()
    }
}

/// A conversation's view, read whole without the place check (an id, a readable start).
#[cfg(test)]
pub fn unchecked(raw: &str) -> Result<Tree<'_>, String> {
    let mut nodes = Nodes::default();
    let head = Conversation::read_alone(Reader::new(raw), Depth::Whole, &mut nodes)?;
    Ok(Tree { head, nodes })
}

/// Checks that a conversation has the shape the export reads (see `Conversation::read`).
#[cfg(test)]
pub fn check(raw: &str) -> Result<(), String> {
    Conversation::read(raw).map(drop)
}

/// The conversations of a reply held in memory, each read once (`Conversation::read`, which
/// is also their shape check) and kept with the text their views borrow from, so that the
/// thread that checked a reply hands the driver views it does not parse again.
pub struct Parsed {
    // Declared before the texts, so dropped before the text the views borrow from.
    heads: Vec<Conversation<'static>>,
    nodes: Nodes<'static>,
    /// Each conversation's text (`new`), or none (`from_body`): held for the views alone,
    /// which keep their text as `raw`.
    _texts: Vec<Box<RawValue>>,
    /// The whole reply (`from_body`), or nothing: held for the views alone.
    _body: Option<Box<dyn Send>>,
}

impl Parsed {
    /// Reads every conversation of `texts`; the first that has not the expected shape is the
    /// error.
    pub fn new(texts: Vec<Box<RawValue>>) -> Result<Parsed, String> {
        let mut heads = Vec::with_capacity(texts.len());
        let mut nodes = Nodes::spare();
        for raw in &texts {
            heads.push(Conversation::read_into(
                raw.get(),
                Depth::Whole,
                &mut nodes,
            )?);
        }
        // SAFETY: the views borrow only from the texts' heap text (and own the rest). That
        // text lives as long as `texts`, which is never changed after this loop and never
        // handed out but as a shared borrow of `self`; moving `Parsed` moves the boxes, not
        // their text; and the views are dropped first (field order). The `'static` never
        // leaves this type: `views` lends them for the borrow of `self` alone, which
        // `Conversation` and `Nodes` being covariant in their lifetime (`_covariant`) allows.
        let (heads, nodes) = unsafe { forever(heads, nodes) };
        Ok(Parsed {
            heads,
            nodes,
            _texts: texts,
            _body: None,
        })
    }

    /// The conversations of a whole reply (`body`, whatever holds its text), read in one
    /// pass by `read` (which parses the envelope around them, and hands back what else it
    /// reads of it, `E`), each read and checked by `Conversation::read_within`. A view keeps
    /// its text (`raw`), borrowed from the body too.
    pub fn from_body<B: Send + 'static, E>(
        body: B,
        read: impl for<'t> FnOnce(&'t B, &mut Nodes<'t>) -> Result<(Vec<Conversation<'t>>, E), String>,
    ) -> Result<(Parsed, E), String> {
        // Boxed first: the views borrow from the box's place, which moving the box keeps.
        let body = Box::new(body);
        let mut nodes = Nodes::spare();
        let (heads, extra) = read(&body, &mut nodes)?;
        // SAFETY: as in `new`, the text borrowed from being in `body`'s box (or on the heap
        // it owns), which is never changed and outlives the views.
        let (heads, nodes) = unsafe { forever(heads, nodes) };
        let parsed = Parsed {
            heads,
            nodes,
            _texts: Vec::new(),
            _body: Some(body),
        };
        Ok((parsed, extra))
    }

    /// The conversations, read.
    pub fn views(&self) -> impl ExactSizeIterator<Item = View<'_>> {
        self.heads.iter().map(|head| View::new(head, &self.nodes))
    }

    /// The conversations' own fields, without their records.
    pub fn heads(&self) -> &[Conversation<'_>] {
        &self.heads
    }
}

/// Views and their nodes as borrowing for ever, for `Parsed` alone (see its `SAFETY`).
unsafe fn forever(
    heads: Vec<Conversation<'_>>,
    nodes: Nodes<'_>,
) -> (Vec<Conversation<'static>>, Nodes<'static>) {
    unsafe {
        (
            std::mem::transmute::<Vec<Conversation<'_>>, Vec<Conversation<'static>>>(heads),
            std::mem::transmute::<Nodes<'_>, Nodes<'static>>(nodes),
        )
    }
}

impl Drop for Parsed {
    /// The nodes, emptied (before the text their records borrow goes), serve another reply.
    fn drop(&mut self) {
        std::mem::take(&mut self.nodes).give_back();
    }
}

impl std::fmt::Debug for Parsed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids = self.heads.iter().map(|v| &v.conversation_id);
        f.debug_list().entries(ids).finish()
    }
}

/// Compiles only while `Conversation` and `Nodes` are covariant in their lifetime, which
/// `Parsed::views` relies on to lend its views for a shorter borrow.
#[allow(dead_code)]
fn _covariant<'short>(
    view: Conversation<'static>,
    nodes: Nodes<'static>,
) -> (Conversation<'short>, Nodes<'short>) {
    (view, nodes)
}

fn not_the_shape(e: String) -> String {
    format!("a conversation is not of the expected shape ({e})")
}

/// How much of each conversation a run reads: what its writer needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reading {
    /// Every field (the tables, or a column that reads a lenient field).
    Whole,
    /// The strict fields alone, the lenient ones skipped (`Depth::Shape`).
    Shape,
    /// What places a conversation, and its text (JSON Lines).
    Places,
}

impl Reading {
    /// How far each conversation of a reply is read: a reply's conversations are checked
    /// for their shape even when only their places are kept.
    pub fn depth(self) -> Depth {
        match self {
            Reading::Whole => Depth::Whole,
            Reading::Shape | Reading::Places => Depth::Shape,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_string()).unwrap()
    }

    #[test]
    fn new_fields_of_an_unexpected_type_read_as_absent_not_malformed() {
        let text = r#"{"conversationId":"c","conversationStart":"2026-11-01T00:00:00Z",
            "externalTag":7,"conversationInitiator":{"a":[1]},"mediaStatsMinConversationMos":"4.1",
            "participants":[{"sessions":[
                {"metrics":{"name":"tTalk","value":1},"segments":[{"disconnectType":["peer"]}]},
                {"metrics":[1,null,{"name":5,"value":1},{"name":"tTalk","value":"x"},
                    {"name":"tTalk","value":2.5},{"name":"tTalk","value":18446744073709551615},
                    {"value":3,"name":"tTalk","emitDate":"x","more":{"a":[{}]}},
                    {"name":"tHeld","value":-4}]}]}]}"#;
        let raw = raw(text);
        let c = Conversation::read(raw.get()).unwrap();
        assert_eq!(c.external_tag, None);
        assert_eq!(c.conversation_initiator, None);
        assert_eq!(c.media_stats_min_conversation_mos, None);
        let v = c.view();
        let sessions = v.sessions(&v.participants()[0]);
        assert!(v.metrics(&sessions[0]).is_empty());
        assert_eq!(v.segments(&sessions[0])[0].more().disconnect_type, None);
        let metric = |name: &'static str, value, emit_date: Option<&'static str>| Metric {
            name: name.into(),
            value,
            emit_date: emit_date.map(Cow::Borrowed),
        };
        assert_eq!(
            v.metrics(&sessions[1]),
            [metric("tTalk", 3, Some("x")), metric("tHeld", -4, None)]
        );
        // The fields the fixed columns read stay strict.
        for strict in [
            r#"{"conversationId":"c","conversationStart":"2026-11-01T00:00:00Z","participants":{}}"#,
            r#"{"conversationId":"c","conversationStart":"2026-11-01T00:00:00Z","conversationEnd":5}"#,
            r#"{"conversationId":"c","conversationStart":"2026-11-01T00:00:00Z","divisionIds":[1]}"#,
            r#"{"conversationId":"c","conversationStart":"2026-11-01T00:00:00Z","participants":[{"attributes":{"a":1}}]}"#,
            r#"{"conversationId":null,"conversationStart":"2026-11-01T00:00:00Z"}"#,
        ] {
            assert!(check(self::raw(strict).get()).is_err(), "{strict}");
        }
    }

    #[test]
    fn strings_borrow_from_the_reply_unless_they_hold_an_escape() {
        let raw = raw(
            r#"{"conversationId":"c-1","conversationStart":"2026-11-01T00:00:00Z",
            "conversationEnd":null,"externalTag":"a\"b","mediaStatsMinConversationMos": 4.10 ,
            "participants":[{"purpose":"cust\u00f6mer","attributes":{"k":"v","k":"w"},
                "sessions":[{"metrics":[{"name":"tTalk","value":3}]}]}]}"#,
        );
        let c = Conversation::read(raw.get()).unwrap();
        assert!(matches!(c.conversation_id, Cow::Borrowed("c-1")));
        assert_eq!(c.conversation_end, None);
        assert!(!c.ended());
        assert!(matches!(c.external_tag.as_ref(), Some(Cow::Owned(t)) if t == "a\"b"));
        assert_eq!(c.media_stats_min_conversation_mos.as_deref(), Some("4.10"));
        let v = c.view();
        let p = &v.participants()[0];
        assert_eq!(p.purpose.as_deref(), Some("custömer"));
        assert_eq!(p.attributes.get("k").map(|v| v.as_ref()), Some("w"));
        assert!(matches!(
            v.metrics(&v.sessions(p)[0])[0].name,
            Cow::Borrowed("tTalk")
        ));
        assert_eq!(c.raw, Some(raw.get()));
        assert_eq!(
            c.start(),
            crate::window::parse_api_timestamp("2026-11-01T00:00:00Z")
        );
    }

    #[test]
    fn a_conversation_needs_an_id_and_a_readable_start() {
        assert_eq!(
            check(r#"{"conversationStart":"2026-11-01T00:00:00Z"}"#),
            Err("a conversation has no conversationId".to_string())
        );
        assert_eq!(
            check(r#"{"conversationId":"x","conversationStart":"yesterday"}"#),
            Err("conversation x has no readable conversationStart".to_string())
        );
        assert!(check("[]").is_err());
    }

    #[test]
    fn parsed_views_stay_with_their_text_wherever_the_reply_goes() {
        let texts: Vec<Box<RawValue>> = (0..50)
            .map(|i| {
                raw(&format!(
                    r#"{{"conversationId":"c-{i}","conversationStart":"2026-11-01T00:00:00Z","externalTag":"t\"{i}","participants":[{{"purpose":"agent"}}]}}"#
                ))
            })
            .collect();
        let expected: Vec<String> = texts.iter().map(|t| t.get().to_string()).collect();
        let parsed = Parsed::new(texts).unwrap();
        // Moved to another thread and into a box, as a reply travels to the driver.
        let parsed = std::thread::spawn(move || Box::new(parsed)).join().unwrap();
        let views = parsed.views();
        assert_eq!(views.len(), 50);
        for (i, (view, text)) in views.zip(&expected).enumerate() {
            assert_eq!(view.conversation_id, format!("c-{i}"));
            assert_eq!(
                view.external_tag.as_deref(),
                Some(format!("t\"{i}").as_str())
            );
            assert_eq!(view.participants()[0].purpose.as_deref(), Some("agent"));
            assert_eq!(view.raw, Some(text.as_str()));
        }
        let bad = vec![raw(r#"{"conversationId":"a","conversationStart":"x"}"#)];
        assert_eq!(
            Parsed::new(bad).unwrap_err(),
            "conversation a has no readable conversationStart"
        );
    }

    /// Nodes emptied and lent again, as the writer reads a job page one conversation at a
    /// time, read each conversation as a fresh read does, and keep the room they grew.
    #[test]
    fn recycled_nodes_read_each_conversation_afresh_and_keep_their_room() {
        let texts: Vec<&str> = crate::columns::sample::PUBLISHED
            .iter()
            .map(|s| s.1)
            .collect();
        let mut spare: Nodes<'static> = Nodes::default();
        for text in texts.iter().chain(&texts) {
            let mut nodes = std::mem::take(&mut spare).recycle();
            let head = Conversation::read_into(text, Depth::Whole, &mut nodes).unwrap();
            let fresh = Conversation::read(text).unwrap();
            let reused = View::new(&head, &nodes);
            assert_eq!(strict_fields(reused), strict_fields(fresh.view()));
            let all = |v: View| {
                format!(
                    "{:?}",
                    (
                        v.all_segments().collect::<Vec<_>>(),
                        v.all_metrics().collect::<Vec<_>>(),
                        v.participants()
                            .iter()
                            .map(|p| &p.attributes)
                            .collect::<Vec<_>>()
                    )
                )
            };
            assert_eq!(all(reused), all(fresh.view()));
            spare = nodes.recycle();
        }
        assert!(spare.sessions.is_empty() && spare.sessions.capacity() > 0);
        assert!(spare.segments.is_empty() && spare.segments.capacity() > 0);
    }

    /// What a view holds of the strict fields: those the shape-only read must read alike.
    fn strict_fields(c: View) -> String {
        let participants: Vec<_> = c
            .participants()
            .iter()
            .map(|p| {
                let sessions: Vec<_> = c
                    .sessions(p)
                    .iter()
                    .map(|s| {
                        let segments: Vec<_> = c
                            .segments(s)
                            .iter()
                            .map(|g| (&g.queue_id, &g.wrap_up_code))
                            .collect();
                        (&s.media_type, &s.ani, &s.dnis, segments)
                    })
                    .collect();
                (&p.purpose, &p.user_id, sessions)
            })
            .collect();
        format!(
            "{:?}",
            (
                &c.conversation_id,
                &c.conversation_start,
                &c.conversation_end,
                &c.originating_direction,
                &c.division_ids,
                &c.media_stats_min_conversation_mos,
                participants,
            )
        )
    }

    /// The shape-only read accepts and refuses exactly what the whole read does, and reads
    /// every strict field alike; it leaves the lenient ones empty, and checks the attributes
    /// without keeping them.
    #[test]
    fn prop_the_shape_only_read_refuses_what_the_whole_read_refuses() {
        let duplicated = r#"{"conversationId":"d","conversationStart":"2026-11-01T00:00:00Z","participants":[{"sessions":[{"sessionId":"a","sessionId":"b"}]}]}"#;
        assert!(Conversation::read(duplicated).is_err());
        assert!(Conversation::read_shape(duplicated).is_err());
        crate::prop::run(|rng| {
            let (_, sample) = *rng.pick(&crate::columns::sample::PUBLISHED);
            let text = rng.mutated_json(sample);
            match (Conversation::read(&text), Conversation::read_shape(&text)) {
                (Ok(whole), Ok(shape)) => {
                    let (whole, shape) = (whole.view(), shape.view());
                    assert_eq!(strict_fields(shape), strict_fields(whole), "{text}");
                    assert!(shape
                        .all_sessions()
                        .all(|s| { shape.metrics(s).is_empty() && s.lenient.is_none() }));
                    assert!(shape.participants().iter().all(|p| p.attributes.is_empty()));
                }
                (Err(_), Err(_)) => {}
                (whole, shape) => panic!("{text}: {:?} but {:?}", whole.is_ok(), shape.is_ok()),
            }
        });
    }

    #[test]
    fn a_place_is_what_the_whole_read_places_and_is_refused_as_it_is() {
        for text in [
            r#"{"participants":[{"sessions":[{"segments":[]}]}],"conversationEnd":"2026-11-01T01:00:00Z","conversationId":"c\u002d1","conversationStart":"2026-11-01T00:00:00Z"}"#,
            r#"{"conversationId":"c-2","conversationStart":"2026-11-01T00:00:00.5Z","conversationEnd":null}"#,
            r#"{"conversationStart":"2026-11-01T00:00:00Z"}"#,
            r#"{"conversationId":"x","conversationStart":"yesterday"}"#,
            r#"{"conversationId":"x","conversationStart":7}"#,
        ] {
            let raw = raw(text);
            let (whole, place) = (
                Conversation::read(raw.get()),
                Conversation::read_place(raw.get()),
            );
            match (whole, place) {
                (Ok(whole), Ok(place)) => {
                    assert_eq!(place.conversation_id, whole.conversation_id);
                    assert_eq!(place.start(), whole.start());
                    assert_eq!(place.conversation_end, whole.conversation_end);
                    assert_eq!(place.raw, Some(text));
                    assert!(place.view().participants().is_empty());
                }
                (Err(whole), Err(place)) => assert_eq!(place, whole, "{text}"),
                (whole, place) => panic!("{text}: {:?} but {:?}", whole.is_ok(), place.is_ok()),
            }
        }
    }
}
