//! The conversation record as the analytics API returns it, read as a borrowed, typed view.
//!
//! Pure data with serde; no I/O. `Conversation::read` parses one conversation's JSON once:
//! its strings borrow from the reply's text (owned only where a string holds an escape), the
//! raw text is kept beside the view for JSON Lines, and the shape check (an id and a readable
//! start) is made on the same parse. Only the fields the export reads are declared; serde
//! skips the rest. The fields the fixed columns read are strict (a wrong type fails the
//! shape check); those read only by catalogue columns are lenient (`lenient`): a value of an
//! unexpected type reads as absent. It must not know the wire envelopes (`api.rs`) or rows.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

/// A string of a record: borrowed from the reply's text, owned where it held an escape.
pub type Text<'a> = Cow<'a, str>;

/// The fields of a conversation that the export reads.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Conversation<'a> {
    // `Cow` spelled out: serde borrows only a field whose type it reads as `Cow<str>`.
    #[serde(borrow)]
    pub conversation_id: Cow<'a, str>,
    #[serde(borrow)]
    pub conversation_start: Cow<'a, str>,
    #[serde(borrow, deserialize_with = "text")]
    pub conversation_end: Option<Text<'a>>,
    #[serde(borrow, deserialize_with = "text")]
    pub originating_direction: Option<Text<'a>>,
    #[serde(borrow, deserialize_with = "texts")]
    pub division_ids: Vec<Text<'a>>,
    /// The number as the reply writes it (a float read back would not always print the same).
    #[serde(borrow, deserialize_with = "lenient_number")]
    pub media_stats_min_conversation_mos: Option<Text<'a>>,
    #[serde(borrow, deserialize_with = "lenient")]
    pub external_tag: Option<Text<'a>>,
    #[serde(borrow, deserialize_with = "lenient")]
    pub conversation_initiator: Option<Text<'a>>,
    #[serde(borrow)]
    /// Boxed, as are sessions and segments: each is hundreds of bytes, mostly empty
    /// options, so a growing vector moves pointers instead of records, and each record is
    /// one small allocation.
    #[allow(clippy::vec_box)]
    pub participants: Vec<Box<Participant<'a>>>,
    /// The conversation's JSON as the reply holds it (set by `Conversation::read`).
    #[serde(skip)]
    pub raw: Option<&'a str>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Participant<'a> {
    #[serde(borrow, deserialize_with = "text")]
    pub purpose: Option<Text<'a>>,
    #[serde(borrow, deserialize_with = "text")]
    pub user_id: Option<Text<'a>>,
    #[serde(borrow, deserialize_with = "lenient")]
    pub participant_id: Option<Text<'a>>,
    #[serde(borrow, deserialize_with = "lenient")]
    pub participant_name: Option<Text<'a>>,
    #[serde(borrow, deserialize_with = "lenient")]
    pub team_id: Option<Text<'a>>,
    #[serde(borrow, deserialize_with = "lenient")]
    pub external_contact_id: Option<Text<'a>>,
    #[serde(borrow, deserialize_with = "lenient")]
    pub external_organization_id: Option<Text<'a>>,
    #[serde(borrow, deserialize_with = "lenient")]
    pub flagged_reason: Option<Text<'a>>,
    /// Custom participant data; only job results carry it.
    #[serde(borrow, deserialize_with = "text_map")]
    pub attributes: BTreeMap<Text<'a>, Text<'a>>,
    #[serde(borrow)]
    #[allow(clippy::vec_box)] // See `Conversation::participants`.
    pub sessions: Vec<Box<Session<'a>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Session<'a> {
    #[serde(borrow, deserialize_with = "text")]
    pub media_type: Option<Text<'a>>,
    #[serde(borrow, deserialize_with = "text")]
    pub ani: Option<Text<'a>>,
    #[serde(borrow, deserialize_with = "text")]
    pub dnis: Option<Text<'a>>,
    #[serde(borrow, deserialize_with = "lenient")]
    pub session_id: Option<Text<'a>>,
    #[serde(borrow, deserialize_with = "lenient")]
    pub direction: Option<Text<'a>>,
    #[serde(borrow, deserialize_with = "lenient")]
    pub session_dnis: Option<Text<'a>>,
    #[serde(borrow, deserialize_with = "lenient")]
    pub address_from: Option<Text<'a>>,
    #[serde(borrow, deserialize_with = "lenient")]
    pub address_to: Option<Text<'a>>,
    #[serde(borrow, deserialize_with = "lenient")]
    pub remote: Option<Text<'a>>,
    #[serde(borrow, deserialize_with = "lenient")]
    pub provider: Option<Text<'a>>,
    #[serde(borrow, deserialize_with = "lenient")]
    pub message_type: Option<Text<'a>>,
    #[serde(borrow, deserialize_with = "lenient")]
    pub peer_id: Option<Text<'a>>,
    #[serde(borrow, deserialize_with = "lenient")]
    pub edge_id: Option<Text<'a>>,
    #[serde(borrow, deserialize_with = "lenient")]
    pub protocol_call_id: Option<Text<'a>>,
    #[serde(borrow, deserialize_with = "lenient")]
    pub outbound_campaign_id: Option<Text<'a>>,
    #[serde(borrow, deserialize_with = "lenient")]
    pub selected_agent_id: Option<Text<'a>>,
    #[serde(borrow, deserialize_with = "lenient")]
    pub used_routing: Option<Text<'a>>,
    #[serde(deserialize_with = "lenient")]
    pub recording: Option<bool>,
    #[serde(deserialize_with = "lenient")]
    pub acw_skipped: Option<bool>,
    #[serde(borrow, deserialize_with = "lenient")]
    pub flow_in_type: Option<Text<'a>>,
    #[serde(borrow, deserialize_with = "lenient")]
    pub flow_out_type: Option<Text<'a>>,
    #[serde(borrow, deserialize_with = "lenient")]
    pub callback_numbers: Option<Vec<Text<'a>>>,
    #[serde(borrow, deserialize_with = "lenient")]
    pub callback_user_name: Option<Text<'a>>,
    #[serde(borrow, deserialize_with = "lenient")]
    pub callback_scheduled_time: Option<Text<'a>>,
    #[serde(borrow, deserialize_with = "lenient")]
    pub flow: Option<Flow<'a>>,
    #[serde(borrow)]
    #[allow(clippy::vec_box)] // See `Conversation::participants`.
    pub segments: Vec<Box<Segment<'a>>>,
    /// `AnalyticsSessionMetric`s; a metric that is not an object with a string `name` and a
    /// whole-number `value` is skipped.
    #[serde(borrow, deserialize_with = "lenient_metrics")]
    pub metrics: Vec<Metric<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Segment<'a> {
    #[serde(borrow, deserialize_with = "text")]
    pub queue_id: Option<Text<'a>>,
    #[serde(borrow, deserialize_with = "text")]
    pub wrap_up_code: Option<Text<'a>>,
    #[serde(borrow, deserialize_with = "lenient")]
    pub disconnect_type: Option<Text<'a>>,
    #[serde(borrow, deserialize_with = "lenient")]
    pub segment_start: Option<Text<'a>>,
    #[serde(borrow, deserialize_with = "lenient")]
    pub segment_end: Option<Text<'a>>,
    #[serde(borrow, deserialize_with = "lenient")]
    pub segment_type: Option<Text<'a>>,
    #[serde(borrow, deserialize_with = "lenient")]
    pub wrap_up_note: Option<Text<'a>>,
    #[serde(borrow, deserialize_with = "lenient")]
    pub error_code: Option<Text<'a>>,
    #[serde(deserialize_with = "lenient")]
    pub conference: Option<bool>,
    #[serde(borrow, deserialize_with = "lenient")]
    pub group_id: Option<Text<'a>>,
    #[serde(borrow, deserialize_with = "lenient")]
    pub subject: Option<Text<'a>>,
    #[serde(borrow, deserialize_with = "lenient")]
    pub requested_language_id: Option<Text<'a>>,
    #[serde(borrow, deserialize_with = "lenient")]
    pub source_conversation_id: Option<Text<'a>>,
    #[serde(borrow, deserialize_with = "lenient")]
    pub destination_conversation_id: Option<Text<'a>>,
}

/// A session's `flow` (`AnalyticsFlow`): the Architect flow it went through. Every field is
/// lenient, and anything but an object reads as no flow.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Flow<'a> {
    #[serde(borrow, deserialize_with = "lenient")]
    pub flow_id: Option<Text<'a>>,
    #[serde(borrow, deserialize_with = "lenient")]
    pub flow_name: Option<Text<'a>>,
    #[serde(borrow, deserialize_with = "lenient")]
    pub flow_type: Option<Text<'a>>,
    #[serde(borrow, deserialize_with = "lenient")]
    pub flow_version: Option<Text<'a>>,
    #[serde(borrow, deserialize_with = "lenient")]
    pub entry_reason: Option<Text<'a>>,
    #[serde(borrow, deserialize_with = "lenient")]
    pub exit_reason: Option<Text<'a>>,
    #[serde(borrow, deserialize_with = "lenient")]
    pub transfer_type: Option<Text<'a>>,
    #[serde(borrow, deserialize_with = "lenient")]
    pub transfer_target_name: Option<Text<'a>>,
    #[serde(deserialize_with = "lenient")]
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

impl<'a> Conversation<'a> {
    /// Parses a conversation's JSON once and checks that it has the shape the export reads:
    /// the declared types, an id and a readable start. The view keeps `raw`.
    pub fn read(raw: &'a str) -> Result<Conversation<'a>, String> {
        let conversation: Conversation = serde_json::from_str(raw)
            .map_err(|e| format!("a conversation is not of the expected shape ({e})"))?;
        conversation.placed(Some(raw))
    }

    /// Reads `raw` as `read` does, accepting and refusing the very same text, with every
    /// lenient field (read by catalogue columns alone) skipped unread and left empty: for a
    /// check whose view gives only places and the ids of strict fields (names to look up).
    pub fn read_shape(raw: &'a str) -> Result<Conversation<'a>, String> {
        shape_only(|| Conversation::read(raw))
    }

    /// Only what places a conversation (its id, start and end), the rest skipped unread: for
    /// JSON Lines, whose lines are the reply's own text, from a reply `read` checked already.
    /// The view keeps `raw`; every other field is empty.
    pub fn read_place(raw: &'a str) -> Result<Conversation<'a>, String> {
        #[derive(Default, Deserialize)]
        #[serde(rename_all = "camelCase", default)]
        struct Place<'a> {
            #[serde(borrow)]
            conversation_id: Cow<'a, str>,
            #[serde(borrow)]
            conversation_start: Cow<'a, str>,
            #[serde(borrow, deserialize_with = "text")]
            conversation_end: Option<Text<'a>>,
        }
        let place: Place = serde_json::from_str(raw)
            .map_err(|e| format!("a conversation is not of the expected shape ({e})"))?;
        Conversation {
            conversation_id: place.conversation_id,
            conversation_start: place.conversation_start,
            conversation_end: place.conversation_end,
            ..Conversation::default()
        }
        .placed(Some(raw))
    }

    /// Keeps only what places the conversation (its id, start and end) and its text, for a
    /// writer that reads nothing else (JSON Lines): the rest of the tree is freed at once.
    pub fn into_place(mut self) -> Conversation<'a> {
        self.participants = Vec::new();
        self.division_ids = Vec::new();
        self
    }

    /// The view (of `raw`, when its text is kept) once it has an id and a readable start.
    fn placed(mut self, raw: Option<&'a str>) -> Result<Conversation<'a>, String> {
        let id = &self.conversation_id;
        if id.is_empty() {
            return Err("a conversation has no conversationId".to_string());
        }
        if self.start().is_none() {
            return Err(format!(
                "conversation {id} has no readable conversationStart"
            ));
        }
        self.raw = raw;
        Ok(self)
    }

    /// When the conversation started; `None` when unreadable (`read` refuses those).
    pub fn start(&self) -> Option<time::OffsetDateTime> {
        crate::window::parse_api_timestamp(&self.conversation_start)
    }

    /// Whether the conversation has ended (it carries a `conversationEnd`).
    pub fn ended(&self) -> bool {
        self.conversation_end.is_some()
    }
}

/// Checks that a conversation has the shape the export reads (see `Conversation::read`).
#[cfg(test)]
pub fn check(raw: &str) -> Result<(), String> {
    Conversation::read(raw).map(drop)
}

/// The conversations of a reply held in memory, each read once (`Conversation::read`, which
/// is also their shape check) and kept with the text its view borrows from, so that the
/// thread that checked a reply hands the driver views it does not parse again.
pub struct Parsed {
    // Declared before the texts, so dropped before the text the views borrow from.
    views: Vec<Conversation<'static>>,
    /// Each conversation's text (`new`), or none (`from_body`): held for the views alone,
    /// which keep their text as `raw`.
    _texts: Vec<Box<RawValue>>,
    /// The whole reply (`from_body`), or nothing: held for the views alone.
    _body: Vec<u8>,
}

impl Parsed {
    /// Reads every conversation of `texts`; the first that has not the expected shape is the
    /// error.
    pub fn new(texts: Vec<Box<RawValue>>) -> Result<Parsed, String> {
        let mut views = Vec::with_capacity(texts.len());
        for raw in &texts {
            let view = Conversation::read(raw.get())?;
            // SAFETY: the view borrows only from `raw`'s heap text (and owns the rest). That
            // text lives as long as `texts`, which is never changed after this loop and never
            // handed out but as a shared borrow of `self`; moving `Parsed` moves the boxes,
            // not their text; and the views are dropped first (field order). The `'static`
            // never leaves this type: `views` lends them for the borrow of `self` alone,
            // which `Conversation` being covariant in its lifetime (`_covariant`) allows.
            let view =
                unsafe { std::mem::transmute::<Conversation<'_>, Conversation<'static>>(view) };
            views.push(view);
        }
        Ok(Parsed {
            views,
            _texts: texts,
            _body: Vec::new(),
        })
    }

    /// The conversations of a whole reply, read in one pass by `read` (which parses the
    /// envelope around them, and hands back what else it reads of it, `E`), each then checked
    /// for an id and a start as `Conversation::read` does. A view keeps the text `read` gave
    /// it (`raw`), borrowed from the body too.
    pub fn from_body<E>(
        body: Vec<u8>,
        read: impl for<'t> FnOnce(&'t [u8]) -> Result<(Vec<Conversation<'t>>, E), String>,
    ) -> Result<(Parsed, E), String> {
        let (read_views, extra) = read(&body)?;
        let mut views = Vec::with_capacity(read_views.len());
        for view in read_views {
            let raw = view.raw;
            let view = view.placed(raw)?;
            // SAFETY: as in `new`, the text borrowed from being `body`'s heap bytes, which
            // are never changed (nor the vector grown) and outlive the views.
            let view =
                unsafe { std::mem::transmute::<Conversation<'_>, Conversation<'static>>(view) };
            views.push(view);
        }
        let parsed = Parsed {
            views,
            _texts: Vec::new(),
            _body: body,
        };
        Ok((parsed, extra))
    }

    /// The conversations, read.
    pub fn views(&self) -> &[Conversation<'_>] {
        &self.views
    }
}

impl std::fmt::Debug for Parsed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids = self.views.iter().map(|v| &v.conversation_id);
        f.debug_list().entries(ids).finish()
    }
}

/// Compiles only while `Conversation` is covariant in its lifetime, which `Parsed::views`
/// relies on to lend its views for a shorter borrow.
#[allow(dead_code)]
fn _covariant<'short>(view: Conversation<'static>) -> Conversation<'short> {
    view
}

/// A strict string, borrowed where it holds no escape (`Cow` spelled out for serde).
#[derive(Deserialize)]
struct Strict<'a>(#[serde(borrow)] Cow<'a, str>);

/// A string or `null` (absent); any other type is an error.
fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Text<'de>>, D::Error> {
    Ok(Option::<Strict<'de>>::deserialize(d)?.map(|s| s.0))
}

/// An array of strings.
fn texts<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Text<'de>>, D::Error> {
    Ok(Vec::<Strict<'de>>::deserialize(d)?
        .into_iter()
        .map(|s| s.0)
        .collect())
}

/// An object of strings; a key given twice keeps its last value.
fn text_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<Text<'de>, Text<'de>>, D::Error> {
    struct Strings;
    impl<'de> Visitor<'de> for Strings {
        type Value = BTreeMap<Text<'de>, Text<'de>>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object of strings")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some((Strict(key), Strict(value))) = map.next_entry()? {
                out.insert(key, value);
            }
            Ok(out)
        }
    }
    d.deserialize_map(Strings)
}

/// Reads a value of type `T`, or `None` when the field holds any other JSON value.
fn lenient<'de, D: Deserializer<'de>, T: Loose<'de>>(d: D) -> Result<Option<T>, D::Error> {
    if SHAPE_ONLY.with(std::cell::Cell::get) {
        // Any value reads as absent here too; a malformed one fails either way.
        d.deserialize_ignored_any(IgnoredAny)?;
        return Ok(None);
    }
    d.deserialize_any(LooseVisitor::<T>(std::marker::PhantomData))
}

/// How much of each conversation a run reads: what its writer needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reading {
    /// Every field (the tables, or a column that reads a lenient field).
    Whole,
    /// The strict fields alone, the lenient ones skipped unread (`shape_only`).
    Shape,
    /// What places a conversation, and its text (JSON Lines).
    Places,
}

thread_local! {
    /// Set while `shape_only` reads on this thread: lenient fields are skipped.
    static SHAPE_ONLY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `read` with every lenient field skipped unread and read as absent: the same text is
/// accepted and refused as by a whole read, and the strict fields are read alike.
pub fn shape_only<T>(read: impl FnOnce() -> T) -> T {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            SHAPE_ONLY.with(|on| on.set(false));
        }
    }
    SHAPE_ONLY.with(|on| on.set(true));
    let _reset = Reset;
    read()
}

/// Reads the metrics that have the expected shape, skipping the others; anything but an
/// array reads as no metrics.
fn lenient_metrics<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Metric<'de>>, D::Error> {
    Ok(lenient::<D, Vec<Metric>>(d)?.unwrap_or_default())
}

/// Reads a JSON number's text as the reply holds it, or `None` for anything else.
fn lenient_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Text<'de>>, D::Error> {
    let raw = <&'de RawValue>::deserialize(d)?;
    let text = raw.get().trim();
    let number = text.starts_with(|c: char| c == '-' || c.is_ascii_digit());
    Ok(number.then_some(Cow::Borrowed(text)))
}

/// A type read leniently, in one pass without an intermediate tree: each method turns one
/// kind of JSON value into `Some`; every other kind reads as `None` (and is skipped).
trait Loose<'de>: Sized {
    fn string(_: Text<'de>) -> Option<Self> {
        None
    }

    fn integer(_: i128) -> Option<Self> {
        None
    }

    fn boolean(_: bool) -> Option<Self> {
        None
    }

    fn map<A: MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn seq<A: SeqAccess<'de>>(mut seq: A) -> Result<Option<Self>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

impl<'de> Loose<'de> for Text<'de> {
    fn string(s: Text<'de>) -> Option<Text<'de>> {
        Some(s)
    }
}

impl Loose<'_> for bool {
    fn boolean(b: bool) -> Option<bool> {
        Some(b)
    }
}

impl<'de> Loose<'de> for Flow<'de> {
    fn map<A: MapAccess<'de>>(map: A) -> Result<Option<Flow<'de>>, A::Error> {
        Flow::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Some)
    }
}

impl Loose<'_> for i64 {
    fn integer(n: i128) -> Option<i64> {
        i64::try_from(n).ok()
    }
}

impl<'de> Loose<'de> for Metric<'de> {
    fn map<A: MapAccess<'de>>(mut map: A) -> Result<Option<Metric<'de>>, A::Error> {
        let (mut name, mut value, mut emit_date) = (None, None, None);
        while let Some(key) = map.next_key::<Strict<'de>>()? {
            match key.0.as_ref() {
                "name" => name = map.next_value::<LooseValue<Text>>()?.0,
                "value" => value = map.next_value::<LooseValue<i64>>()?.0,
                "emitDate" => emit_date = map.next_value::<LooseValue<Text>>()?.0,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(name.zip(value).map(|(name, value)| Metric {
            name,
            value,
            emit_date,
        }))
    }
}

impl<'de, T: Loose<'de>> Loose<'de> for Vec<T> {
    fn seq<A: SeqAccess<'de>>(mut seq: A) -> Result<Option<Vec<T>>, A::Error> {
        let mut items = Vec::new();
        while let Some(LooseValue(item)) = seq.next_element::<LooseValue<T>>()? {
            items.extend(item);
        }
        Ok(Some(items))
    }
}

/// `T` read leniently, as an element or a map value.
struct LooseValue<T>(Option<T>);

impl<'de, T: Loose<'de>> Deserialize<'de> for LooseValue<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<LooseValue<T>, D::Error> {
        lenient(d).map(LooseValue)
    }
}

struct LooseVisitor<T>(std::marker::PhantomData<T>);

impl<'de, T: Loose<'de>> Visitor<'de> for LooseVisitor<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Option<T>, E> {
        Ok(T::string(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Option<T>, E> {
        Ok(T::string(Cow::Owned(v.to_string())))
    }

    fn visit_string<E>(self, v: String) -> Result<Option<T>, E> {
        Ok(T::string(Cow::Owned(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Option<T>, E> {
        Ok(T::integer(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Option<T>, E> {
        Ok(T::integer(v.into()))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Option<T>, E> {
        Ok(T::boolean(v))
    }

    fn visit_unit<E>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_none<E>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Option<T>, A::Error> {
        T::seq(seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Option<T>, A::Error> {
        T::map(map)
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
        let sessions = &c.participants[0].sessions;
        assert!(sessions[0].metrics.is_empty());
        assert_eq!(sessions[0].segments[0].disconnect_type, None);
        let metric = |name: &'static str, value, emit_date: Option<&'static str>| Metric {
            name: name.into(),
            value,
            emit_date: emit_date.map(Cow::Borrowed),
        };
        assert_eq!(
            sessions[1].metrics,
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
        let p = &c.participants[0];
        assert_eq!(p.purpose.as_deref(), Some("custömer"));
        assert_eq!(p.attributes.get("k").map(|v| v.as_ref()), Some("w"));
        assert!(matches!(
            p.sessions[0].metrics[0].name,
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
        for (i, (view, text)) in views.iter().zip(&expected).enumerate() {
            assert_eq!(view.conversation_id, format!("c-{i}"));
            assert_eq!(
                view.external_tag.as_deref(),
                Some(format!("t\"{i}").as_str())
            );
            assert_eq!(view.participants[0].purpose.as_deref(), Some("agent"));
            assert_eq!(view.raw, Some(text.as_str()));
        }
        let bad = vec![raw(r#"{"conversationId":"a","conversationStart":"x"}"#)];
        assert_eq!(
            Parsed::new(bad).unwrap_err(),
            "conversation a has no readable conversationStart"
        );
    }

    /// What a view holds of the strict fields: those the shape-only read must read alike.
    fn strict_fields(c: &Conversation) -> String {
        let participants: Vec<_> = c
            .participants
            .iter()
            .map(|p| {
                let sessions: Vec<_> = p
                    .sessions
                    .iter()
                    .map(|s| {
                        let segments: Vec<_> = s
                            .segments
                            .iter()
                            .map(|g| (&g.queue_id, &g.wrap_up_code))
                            .collect();
                        (&s.media_type, &s.ani, &s.dnis, segments)
                    })
                    .collect();
                (&p.purpose, &p.user_id, &p.attributes, sessions)
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
    /// every strict field alike; it leaves the lenient ones empty.
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
                    assert_eq!(strict_fields(&shape), strict_fields(&whole), "{text}");
                    let mut sessions = shape.participants.iter().flat_map(|p| &p.sessions);
                    assert!(sessions.all(|s| {
                        s.metrics.is_empty() && s.flow.is_none() && s.session_id.is_none()
                    }));
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
                    assert!(place.participants.is_empty());
                }
                (Err(whole), Err(place)) => assert_eq!(place, whole, "{text}"),
                (whole, place) => panic!("{text}: {:?} but {:?}", whole.is_ok(), place.is_ok()),
            }
        }
    }
}
