//! A conversation's JSON read into its view in one pass (`json::Reader`), field by field:
//! each known key is matched once and its value read straight into its place; unknown keys
//! are skipped, checked. The rules, per kind of field:
//!
//! - strict (`conversationId`, `conversationStart`): a string;
//! - text: a string or `null`; texts: an array of strings; a map: an object of strings (a key
//!   given twice keeps its last value);
//! - lenient (read by catalogue columns alone): a value of the expected type, anything else
//!   reads as absent; a lenient field never refuses a well-formed value, so reading it or
//!   skipping it (`Depth::Shape`) accepts the very same texts;
//! - records (participants, sessions, segments): objects, in arrays; a known field given twice
//!   is refused.

use std::borrow::Cow;
use std::collections::BTreeMap;

use super::{Conversation, Extent, Flow, Metric, Nodes, Participant, Segment, Session, Text};
use crate::json::{self, Kind, Reader};

/// `loose` for the field `$field` of the boxed lenient fields `$more`, read as `Slot::$kind`.
macro_rules! lax {
    ($depth:expr, $more:expr, $kind:ident, $field:ident) => {
        loose($depth, $more, |m| Slot::$kind(&mut m.$field))
    };
}

/// How far a conversation is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Depth {
    /// Every field.
    Whole,
    /// Every field but the lenient ones, which are skipped (checked) and left empty.
    Shape,
    /// Only the id, the start and the end; the rest is skipped, checked as JSON alone.
    Place,
}

/// Reads the conversation object at the reader, its records added to `nodes`.
pub fn conversation<'a>(
    r: &mut Reader<'a>,
    depth: Depth,
    nodes: &mut Nodes<'a>,
) -> json::Result<Conversation<'a>> {
    let mut c = Conversation::default();
    let mut seen = 0u64;
    r.object(|r, key| {
        let (bit, slot) = match key.as_ref() {
            "conversationId" => (0, Slot::Strict(&mut c.conversation_id)),
            "conversationStart" => (1, Slot::Strict(&mut c.conversation_start)),
            "conversationEnd" => (2, Slot::Text(&mut c.conversation_end)),
            _ if depth == Depth::Place => return r.skip(),
            "originatingDirection" => (3, Slot::Text(&mut c.originating_direction)),
            "divisionIds" => (4, Slot::Texts(&mut c.division_ids)),
            "mediaStatsMinConversationMos" => {
                (5, Slot::Number(&mut c.media_stats_min_conversation_mos))
            }
            "externalTag" => (6, Slot::Lenient(&mut c.external_tag)),
            "conversationInitiator" => (7, Slot::Lenient(&mut c.conversation_initiator)),
            "participants" => (8, Slot::Participants(&mut c.participants)),
            _ => return r.skip(),
        };
        once(&mut seen, bit, &key)?;
        slot.read(r, depth, nodes)
    })?;
    Ok(c)
}

fn participant<'a>(
    r: &mut Reader<'a>,
    depth: Depth,
    nodes: &mut Nodes<'a>,
) -> json::Result<Participant<'a>> {
    let mut p = Participant::default();
    let mut seen = 0u64;
    r.object(|r, key| {
        let (bit, slot) = match key.as_ref() {
            "purpose" => (0, Slot::Text(&mut p.purpose)),
            "userId" => (1, Slot::Text(&mut p.user_id)),
            "participantId" => (2, lax!(depth, &mut p.lenient, Lenient, participant_id)),
            "participantName" => (3, lax!(depth, &mut p.lenient, Lenient, participant_name)),
            "teamId" => (4, lax!(depth, &mut p.lenient, Lenient, team_id)),
            "externalContactId" => (5, lax!(depth, &mut p.lenient, Lenient, external_contact_id)),
            "externalOrganizationId" => (
                6,
                lax!(depth, &mut p.lenient, Lenient, external_organization_id),
            ),
            "flaggedReason" => (7, lax!(depth, &mut p.lenient, Lenient, flagged_reason)),
            "attributes" => match depth {
                Depth::Whole => (8, Slot::Map(&mut p.attributes)),
                // Checked as the whole read checks them, not kept: only attribute columns
                // and the tables read them, and those read whole.
                Depth::Shape | Depth::Place => (8, Slot::MapChecked),
            },
            "sessions" => (9, Slot::Sessions(&mut p.sessions)),
            _ => return r.skip(),
        };
        once(&mut seen, bit, &key)?;
        slot.read(r, depth, nodes)
    })?;
    settled(&mut p.lenient);
    Ok(p)
}

fn session<'a>(
    r: &mut Reader<'a>,
    depth: Depth,
    nodes: &mut Nodes<'a>,
) -> json::Result<Session<'a>> {
    let mut s = Session::default();
    let mut seen = 0u64;
    r.object(|r, key| {
        let (bit, slot) = match key.as_ref() {
            "mediaType" => (0, Slot::Text(&mut s.media_type)),
            "ani" => (1, Slot::Text(&mut s.ani)),
            "dnis" => (2, Slot::Text(&mut s.dnis)),
            "sessionId" => (3, lax!(depth, &mut s.lenient, Lenient, session_id)),
            "direction" => (4, lax!(depth, &mut s.lenient, Lenient, direction)),
            "sessionDnis" => (5, lax!(depth, &mut s.lenient, Lenient, session_dnis)),
            "addressFrom" => (6, lax!(depth, &mut s.lenient, Lenient, address_from)),
            "addressTo" => (7, lax!(depth, &mut s.lenient, Lenient, address_to)),
            "remote" => (8, lax!(depth, &mut s.lenient, Lenient, remote)),
            "provider" => (9, lax!(depth, &mut s.lenient, Lenient, provider)),
            "messageType" => (10, lax!(depth, &mut s.lenient, Lenient, message_type)),
            "peerId" => (11, lax!(depth, &mut s.lenient, Lenient, peer_id)),
            "edgeId" => (12, lax!(depth, &mut s.lenient, Lenient, edge_id)),
            "protocolCallId" => (13, lax!(depth, &mut s.lenient, Lenient, protocol_call_id)),
            "outboundCampaignId" => (
                14,
                lax!(depth, &mut s.lenient, Lenient, outbound_campaign_id),
            ),
            "selectedAgentId" => (15, lax!(depth, &mut s.lenient, Lenient, selected_agent_id)),
            "usedRouting" => (16, lax!(depth, &mut s.lenient, Lenient, used_routing)),
            "recording" => (17, lax!(depth, &mut s.lenient, Flag, recording)),
            "acwSkipped" => (18, lax!(depth, &mut s.lenient, Flag, acw_skipped)),
            "flowInType" => (19, lax!(depth, &mut s.lenient, Lenient, flow_in_type)),
            "flowOutType" => (20, lax!(depth, &mut s.lenient, Lenient, flow_out_type)),
            "callbackNumbers" => (
                21,
                lax!(depth, &mut s.lenient, LenientTexts, callback_numbers),
            ),
            "callbackUserName" => (22, lax!(depth, &mut s.lenient, Lenient, callback_user_name)),
            "callbackScheduledTime" => (
                23,
                lax!(depth, &mut s.lenient, Lenient, callback_scheduled_time),
            ),
            "flow" => (24, lax!(depth, &mut s.lenient, Flow, flow)),
            "segments" => (25, Slot::Segments(&mut s.segments)),
            "metrics" => (26, Slot::Metrics(&mut s.metrics)),
            _ => return r.skip(),
        };
        once(&mut seen, bit, &key)?;
        slot.read(r, depth, nodes)
    })?;
    settled(&mut s.lenient);
    Ok(s)
}

fn segment<'a>(
    r: &mut Reader<'a>,
    depth: Depth,
    nodes: &mut Nodes<'a>,
) -> json::Result<Segment<'a>> {
    let mut g = Segment::default();
    let mut seen = 0u64;
    r.object(|r, key| {
        let (bit, slot) = match key.as_ref() {
            "queueId" => (0, Slot::Text(&mut g.queue_id)),
            "wrapUpCode" => (1, Slot::Text(&mut g.wrap_up_code)),
            "disconnectType" => (2, lax!(depth, &mut g.lenient, Lenient, disconnect_type)),
            "segmentStart" => (3, lax!(depth, &mut g.lenient, Lenient, segment_start)),
            "segmentEnd" => (4, lax!(depth, &mut g.lenient, Lenient, segment_end)),
            "segmentType" => (5, lax!(depth, &mut g.lenient, Lenient, segment_type)),
            "wrapUpNote" => (6, lax!(depth, &mut g.lenient, Lenient, wrap_up_note)),
            "errorCode" => (7, lax!(depth, &mut g.lenient, Lenient, error_code)),
            "conference" => (8, lax!(depth, &mut g.lenient, Flag, conference)),
            "groupId" => (9, lax!(depth, &mut g.lenient, Lenient, group_id)),
            "subject" => (10, lax!(depth, &mut g.lenient, Lenient, subject)),
            "requestedLanguageId" => (
                11,
                lax!(depth, &mut g.lenient, Lenient, requested_language_id),
            ),
            "sourceConversationId" => (
                12,
                lax!(depth, &mut g.lenient, Lenient, source_conversation_id),
            ),
            "destinationConversationId" => (
                13,
                lax!(depth, &mut g.lenient, Lenient, destination_conversation_id),
            ),
            _ => return r.skip(),
        };
        once(&mut seen, bit, &key)?;
        slot.read(r, depth, nodes)
    })?;
    settled(&mut g.lenient);
    Ok(g)
}

/// A session's flow, every field lenient (a key given twice keeps its last value).
fn flow<'a>(r: &mut Reader<'a>) -> json::Result<Flow<'a>> {
    let mut f = Flow::default();
    r.object(|r, key| {
        let slot = match key.as_ref() {
            "flowId" => Slot::Lenient(&mut f.flow_id),
            "flowName" => Slot::Lenient(&mut f.flow_name),
            "flowType" => Slot::Lenient(&mut f.flow_type),
            "flowVersion" => Slot::Lenient(&mut f.flow_version),
            "entryReason" => Slot::Lenient(&mut f.entry_reason),
            "exitReason" => Slot::Lenient(&mut f.exit_reason),
            "transferType" => Slot::Lenient(&mut f.transfer_type),
            "transferTargetName" => Slot::Lenient(&mut f.transfer_target_name),
            "issuedCallback" => Slot::Flag(&mut f.issued_callback),
            _ => return r.skip(),
        };
        slot.read(r, Depth::Whole, &mut Nodes::default())
    })?;
    Ok(f)
}

/// One metric: an object with a string `name` and a whole-number `value` in range (each key
/// keeps its last value); anything else reads as none.
fn metric<'a>(r: &mut Reader<'a>) -> json::Result<Option<Metric<'a>>> {
    if r.peek()? != Kind::Object {
        return r.skip().map(|()| None);
    }
    let (mut name, mut value, mut emit_date) = (None, None, None);
    r.object(|r, key| match key.as_ref() {
        "name" => lenient(r, true, Kind::String, Reader::string).map(|v| name = v),
        "value" => {
            value = match r.peek()? {
                Kind::Number => json::integer(r.number()?),
                _ => r.skip().map(|()| None)?,
            };
            Ok(())
        }
        "emitDate" => lenient(r, true, Kind::String, Reader::string).map(|v| emit_date = v),
        _ => r.skip(),
    })?;
    Ok(name.zip(value).map(|(name, value)| Metric {
        name,
        value,
        emit_date,
    }))
}

/// Marks field `bit` as read: a known field given twice is refused.
fn once(seen: &mut u64, bit: u32, name: &str) -> json::Result<()> {
    let mask = 1u64.checked_shl(bit).unwrap_or(0);
    if *seen & mask != 0 {
        return Err(json::duplicate(name));
    }
    *seen |= mask;
    Ok(())
}

/// A lenient field's slot, in the record's boxed lenient fields (`more`, made on the first
/// one) when the record is read whole; skipped otherwise.
fn loose<'s, 'a, M: Default>(
    depth: Depth,
    more: &'s mut Option<Box<M>>,
    slot: impl FnOnce(&'s mut M) -> Slot<'s, 'a>,
) -> Slot<'s, 'a> {
    match depth {
        Depth::Whole => slot(more.get_or_insert_with(Box::default)),
        Depth::Shape | Depth::Place => Slot::Skip,
    }
}

/// Boxed lenient fields none of which was given a value read as none: a record is the same
/// whatever lenient keys of unexpected values it carried.
fn settled<M: Default + PartialEq>(more: &mut Option<Box<M>>) {
    if more.as_deref().is_some_and(|m| *m == M::default()) {
        *more = None;
    }
}

/// Where a field's value goes, and how it is read.
enum Slot<'s, 'a> {
    Strict(&'s mut Cow<'a, str>),
    Text(&'s mut Option<Text<'a>>),
    Texts(&'s mut Vec<Text<'a>>),
    Map(&'s mut BTreeMap<Text<'a>, Text<'a>>),
    /// An object of strings, checked and not kept.
    MapChecked,
    Lenient(&'s mut Option<Text<'a>>),
    LenientTexts(&'s mut Option<Vec<Text<'a>>>),
    Flag(&'s mut Option<bool>),
    /// A number's text as written (a float read back would not always print the same).
    Number(&'s mut Option<Text<'a>>),
    Flow(&'s mut Option<Flow<'a>>),
    /// A lenient field not read (`Depth::Shape`): skipped, checked.
    Skip,
    /// Records, added to the reply's nodes: where they lie goes here.
    Metrics(&'s mut Extent),
    Participants(&'s mut Extent),
    Sessions(&'s mut Extent),
    Segments(&'s mut Extent),
}

impl<'a> Slot<'_, 'a> {
    fn read(self, r: &mut Reader<'a>, depth: Depth, nodes: &mut Nodes<'a>) -> json::Result<()> {
        let on = depth == Depth::Whole;
        match self {
            Slot::Strict(to) => *to = r.string()?,
            Slot::Text(to) => *to = text(r)?,
            Slot::Texts(to) => r.array(|r| {
                to.push(r.string()?);
                Ok(())
            })?,
            Slot::Map(to) => r.object(|r, key| {
                to.insert(key, r.string()?);
                Ok(())
            })?,
            Slot::MapChecked => r.object(|r, _| r.string().map(drop))?,
            Slot::Lenient(to) => *to = lenient(r, on, Kind::String, Reader::string)?,
            Slot::LenientTexts(to) => *to = lenient(r, on, Kind::Array, strings_among)?,
            Slot::Flag(to) => *to = lenient(r, on, Kind::Bool, Reader::boolean)?,
            Slot::Number(to) => {
                *to = lenient(r, true, Kind::Number, |r| r.number().map(Cow::Borrowed))?
            }
            Slot::Flow(to) => *to = lenient(r, on, Kind::Object, flow)?,
            Slot::Skip => r.skip()?,
            Slot::Metrics(to) => {
                let start = nodes.metrics.len();
                let each = |r: &mut Reader<'a>| {
                    r.array(|r| {
                        nodes.metrics.extend(metric(r)?);
                        Ok(())
                    })
                };
                lenient(r, on, Kind::Array, each)?;
                *to = Extent::since(&nodes.metrics, start)?;
            }
            Slot::Participants(to) => {
                *to = records(r, depth, nodes, |n| &mut n.participants, participant)?
            }
            Slot::Sessions(to) => *to = records(r, depth, nodes, |n| &mut n.sessions, session)?,
            Slot::Segments(to) => *to = records(r, depth, nodes, |n| &mut n.segments, segment)?,
        }
        Ok(())
    }
}

/// A lenient value: read by `read` when `on` and the next value is of `kind`, else skipped
/// (checked) and absent.
fn lenient<'a, T>(
    r: &mut Reader<'a>,
    on: bool,
    kind: Kind,
    read: impl FnOnce(&mut Reader<'a>) -> json::Result<T>,
) -> json::Result<Option<T>> {
    match on && r.peek()? == kind {
        true => read(r).map(Some),
        false => r.skip().map(|()| None),
    }
}

/// An array of records, each read by `one` (its own records added to `nodes` first) and
/// added to its vector of `nodes` (`all`): where they lie there.
fn records<'a, T>(
    r: &mut Reader<'a>,
    depth: Depth,
    nodes: &mut Nodes<'a>,
    all: for<'n> fn(&'n mut Nodes<'a>) -> &'n mut Vec<T>,
    one: fn(&mut Reader<'a>, Depth, &mut Nodes<'a>) -> json::Result<T>,
) -> json::Result<Extent> {
    let start = all(nodes).len();
    r.array(|r| {
        let record = one(r, depth, nodes)?;
        all(nodes).push(record);
        Ok(())
    })?;
    Extent::since(all(nodes), start)
}

/// A string or `null` (absent).
fn text<'a>(r: &mut Reader<'a>) -> json::Result<Option<Text<'a>>> {
    match r.null()? {
        true => Ok(None),
        false => r.string().map(Some),
    }
}

/// The strings of an array, its other elements skipped.
fn strings_among<'a>(r: &mut Reader<'a>) -> json::Result<Vec<Text<'a>>> {
    let mut out = Vec::new();
    r.array(|r| {
        match r.peek()? {
            Kind::String => out.push(r.string()?),
            _ => r.skip()?,
        }
        Ok(())
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{ParticipantMore, SegmentMore, SessionMore, Tree};
    use serde_json::{Map, Value};

    /// The rules of the module comment, applied to a tree (`serde_json::Value`) instead of
    /// in one pass: the reference the reader is compared with. `Err` is a refused text.
    fn oracle(v: &Value) -> Result<Tree<'static>, ()> {
        let o = v.as_object().ok_or(())?;
        let mut nodes = Nodes::default();
        let strict = |k| match o.get(k) {
            None => Ok(Cow::Borrowed("")),
            Some(Value::String(s)) => Ok(Cow::Owned(s.clone())),
            Some(_) => Err(()),
        };
        let participants = match o.get("participants") {
            None => Extent::default(),
            Some(v) => records(
                v,
                &mut nodes,
                |n| &mut n.participants,
                |p, nodes| {
                    let sessions = match p.get("sessions") {
                        None => Extent::default(),
                        Some(v) => records(v, nodes, |n| &mut n.sessions, session_of)?,
                    };
                    let attributes = match p.get("attributes") {
                        None => BTreeMap::new(),
                        Some(Value::Object(m)) => {
                            let pair =
                                |(k, v): (&String, &Value)| Some((owned(k), owned(v.as_str()?)));
                            m.iter().map(pair).collect::<Option<_>>().ok_or(())?
                        }
                        Some(_) => return Err(()),
                    };
                    Ok(Participant {
                        purpose: text(p, "purpose")?,
                        user_id: text(p, "userId")?,
                        lenient: boxed(ParticipantMore {
                            participant_id: loose(p, "participantId"),
                            participant_name: loose(p, "participantName"),
                            team_id: loose(p, "teamId"),
                            external_contact_id: loose(p, "externalContactId"),
                            external_organization_id: loose(p, "externalOrganizationId"),
                            flagged_reason: loose(p, "flaggedReason"),
                        }),
                        attributes,
                        sessions,
                    })
                },
            )?,
        };
        let division_ids = match o.get("divisionIds") {
            None => Vec::new(),
            Some(Value::Array(ids)) => ids
                .iter()
                .map(|id| id.as_str().map(owned))
                .collect::<Option<_>>()
                .ok_or(())?,
            Some(_) => return Err(()),
        };
        let head = Conversation {
            conversation_id: strict("conversationId")?,
            conversation_start: strict("conversationStart")?,
            conversation_end: text(o, "conversationEnd")?,
            originating_direction: text(o, "originatingDirection")?,
            division_ids,
            media_stats_min_conversation_mos: o
                .get("mediaStatsMinConversationMos")
                .filter(|v| v.is_number())
                .map(|v| owned(&v.to_string())),
            external_tag: loose(o, "externalTag"),
            conversation_initiator: loose(o, "conversationInitiator"),
            participants,
            raw: None,
            started: Default::default(),
        };
        Ok(Tree { head, nodes })
    }

    fn session_of(
        s: &Map<String, Value>,
        nodes: &mut Nodes<'static>,
    ) -> Result<Session<'static>, ()> {
        let segments = match s.get("segments") {
            None => Extent::default(),
            Some(v) => records(
                v,
                nodes,
                |n| &mut n.segments,
                |g, _| {
                    Ok(Segment {
                        queue_id: text(g, "queueId")?,
                        wrap_up_code: text(g, "wrapUpCode")?,
                        lenient: boxed(SegmentMore {
                            disconnect_type: loose(g, "disconnectType"),
                            segment_start: loose(g, "segmentStart"),
                            segment_end: loose(g, "segmentEnd"),
                            segment_type: loose(g, "segmentType"),
                            wrap_up_note: loose(g, "wrapUpNote"),
                            error_code: loose(g, "errorCode"),
                            conference: g.get("conference").and_then(Value::as_bool),
                            group_id: loose(g, "groupId"),
                            subject: loose(g, "subject"),
                            requested_language_id: loose(g, "requestedLanguageId"),
                            source_conversation_id: loose(g, "sourceConversationId"),
                            destination_conversation_id: loose(g, "destinationConversationId"),
                        }),
                    })
                },
            )?,
        };
        let metric = |m: &Value| {
            let m = m.as_object()?;
            Some(Metric {
                name: owned(m.get("name")?.as_str()?),
                value: m.get("value")?.as_i64()?,
                emit_date: loose(m, "emitDate"),
            })
        };
        let flow = s.get("flow").and_then(Value::as_object).map(|f| Flow {
            flow_id: loose(f, "flowId"),
            flow_name: loose(f, "flowName"),
            flow_type: loose(f, "flowType"),
            flow_version: loose(f, "flowVersion"),
            entry_reason: loose(f, "entryReason"),
            exit_reason: loose(f, "exitReason"),
            transfer_type: loose(f, "transferType"),
            transfer_target_name: loose(f, "transferTargetName"),
            issued_callback: f.get("issuedCallback").and_then(Value::as_bool),
        });
        let numbers = s.get("callbackNumbers").and_then(Value::as_array);
        let metrics = match s.get("metrics").and_then(Value::as_array) {
            Some(all) => {
                let start = nodes.metrics.len();
                nodes.metrics.extend(all.iter().filter_map(metric));
                Extent::since(&nodes.metrics, start).map_err(drop)?
            }
            None => Extent::default(),
        };
        Ok(Session {
            media_type: text(s, "mediaType")?,
            ani: text(s, "ani")?,
            dnis: text(s, "dnis")?,
            lenient: boxed(SessionMore {
                session_id: loose(s, "sessionId"),
                direction: loose(s, "direction"),
                session_dnis: loose(s, "sessionDnis"),
                address_from: loose(s, "addressFrom"),
                address_to: loose(s, "addressTo"),
                remote: loose(s, "remote"),
                provider: loose(s, "provider"),
                message_type: loose(s, "messageType"),
                peer_id: loose(s, "peerId"),
                edge_id: loose(s, "edgeId"),
                protocol_call_id: loose(s, "protocolCallId"),
                outbound_campaign_id: loose(s, "outboundCampaignId"),
                selected_agent_id: loose(s, "selectedAgentId"),
                used_routing: loose(s, "usedRouting"),
                recording: s.get("recording").and_then(Value::as_bool),
                acw_skipped: s.get("acwSkipped").and_then(Value::as_bool),
                flow_in_type: loose(s, "flowInType"),
                flow_out_type: loose(s, "flowOutType"),
                callback_numbers: numbers
                    .map(|n| n.iter().filter_map(Value::as_str).map(owned).collect()),
                callback_user_name: loose(s, "callbackUserName"),
                callback_scheduled_time: loose(s, "callbackScheduledTime"),
                flow,
            }),
            segments,
            metrics,
        })
    }

    /// The records of the array `v`, each read by `each` (its own records added to `nodes`
    /// first) and added to its vector of `nodes` (`all`).
    fn records<T>(
        v: &Value,
        nodes: &mut Nodes<'static>,
        all: for<'n> fn(&'n mut Nodes<'static>) -> &'n mut Vec<T>,
        each: impl Fn(&Map<String, Value>, &mut Nodes<'static>) -> Result<T, ()>,
    ) -> Result<Extent, ()> {
        let start = all(nodes).len();
        for record in v.as_array().ok_or(())? {
            let record = each(record.as_object().ok_or(())?, nodes)?;
            all(nodes).push(record);
        }
        Extent::since(all(nodes), start).map_err(drop)
    }

    /// Lenient fields as the reader keeps them: boxed, none where none has a value.
    fn boxed<M: Default + PartialEq>(more: M) -> Option<Box<M>> {
        (more != M::default()).then(|| Box::new(more))
    }

    fn owned(s: &str) -> Text<'static> {
        Cow::Owned(s.to_string())
    }

    fn text(o: &Map<String, Value>, k: &str) -> Result<Option<Text<'static>>, ()> {
        match o.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(owned(s))),
            Some(_) => Err(()),
        }
    }

    fn loose(o: &Map<String, Value>, k: &str) -> Option<Text<'static>> {
        o.get(k).and_then(Value::as_str).map(owned)
    }

    /// A view as text to compare, its records nested as the JSON nests them: a number's
    /// text read as the number it is.
    fn shown(mut tree: Tree) -> String {
        tree.head.raw = None;
        let mos = tree.head.media_stats_min_conversation_mos.take();
        let mos = mos.map(|n| n.parse::<f64>().map_err(drop));
        let c = tree.view();
        let sessions = |p| {
            let session = |s| format!("{s:?} {:?} {:?}", c.segments(s), c.metrics(s));
            c.sessions(p).iter().map(session).collect::<Vec<_>>()
        };
        let participants: Vec<_> = c
            .participants()
            .iter()
            .map(|p| format!("{p:?} {:?}", sessions(p)))
            .collect();
        format!("{:?} {participants:?} {mos:?}", tree.head)
    }

    /// A record with every field the reader reads set, once each.
    const EVERY_FIELD: &str = r#"{"conversationId":"c","conversationStart":"2026-11-01T00:00:00Z",
        "conversationEnd":"2026-11-01T00:09:00Z","originatingDirection":"inbound",
        "divisionIds":["d1","d2"],"mediaStatsMinConversationMos":4.25,"externalTag":"t",
        "conversationInitiator":"customer","participants":[{"purpose":"agent","userId":"u",
        "participantId":"p","participantName":"n","teamId":"tm","externalContactId":"ec",
        "externalOrganizationId":"eo","flaggedReason":"f","attributes":{"k":"v","j":"w"},
        "sessions":[{"mediaType":"voice","ani":"tel:1","dnis":"tel:2","sessionId":"s",
        "direction":"inbound","sessionDnis":"tel:3","addressFrom":"af","addressTo":"at",
        "remote":"r","provider":"pv","messageType":"sms","peerId":"pi","edgeId":"e",
        "protocolCallId":"pc","outboundCampaignId":"oc","selectedAgentId":"sa",
        "usedRouting":"Bullseye","recording":true,"acwSkipped":false,"flowInType":"fi",
        "flowOutType":"fo","callbackNumbers":["1","2"],"callbackUserName":"cu",
        "callbackScheduledTime":"2026-11-01T00:05:00Z","flow":{"flowId":"fl","flowName":"F",
        "flowType":"INBOUNDCALL","flowVersion":"1.0","entryReason":"er","exitReason":"xr",
        "transferType":"tt","transferTargetName":"tn","issuedCallback":true},
        "segments":[{"queueId":"q","wrapUpCode":"w","disconnectType":"peer",
        "segmentStart":"2026-11-01T00:00:00Z","segmentEnd":"2026-11-01T00:01:00Z",
        "segmentType":"interact","wrapUpNote":"note","errorCode":"ec","conference":false,
        "groupId":"g","subject":"sub","requestedLanguageId":"rl","sourceConversationId":"sc",
        "destinationConversationId":"dc"}],
        "metrics":[{"name":"tTalk","value":5,"emitDate":"2026-11-01T00:01:00Z"}]}]}]}"#;

    /// On damaged real records, and on one with every field set, the reader accepts what the
    /// tree's rules accept and reads the same view.
    #[test]
    fn prop_the_reader_reads_what_the_rules_read_from_a_tree() {
        let full = oracle(&serde_json::from_str(EVERY_FIELD).unwrap()).unwrap();
        let full = shown(full)
            .replace("raw: None", "")
            .replace("mos: None", "");
        assert!(
            !full.contains(": None"),
            "a field EVERY_FIELD leaves unset: {full}"
        );
        let mut samples: Vec<&str> = crate::columns::sample::PUBLISHED
            .iter()
            .map(|s| s.1)
            .collect();
        samples.push(EVERY_FIELD);
        crate::prop::run(|rng| {
            let sample = rng.pick(&samples);
            let text = rng.mutated_json(sample);
            let mut reader = Reader::new(&text);
            let mut nodes = Nodes::default();
            let ours = conversation(&mut reader, Depth::Whole, &mut nodes).and_then(|head| {
                reader.end()?;
                Ok(Tree { head, nodes })
            });
            let tree = serde_json::from_str::<Value>(&text).map_err(drop);
            match (ours, tree.and_then(|v| oracle(&v))) {
                (Ok(ours), Ok(theirs)) => assert_eq!(shown(ours), shown(theirs), "{text}"),
                (Err(_), Err(())) => {}
                (ours, theirs) => panic!("{text}: {:?} but {:?}", ours.is_ok(), theirs.is_ok()),
            }
        });
    }
}
