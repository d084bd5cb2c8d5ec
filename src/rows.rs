//! The CSV schema: one row per conversation, flattened from the API's nested record.
//!
//! Pure: takes a parsed conversation and a queue-name lookup, returns strings. The column order
//! lives in `COLUMNS` and `Row::fields`, nowhere else. Multi-valued cells join the distinct
//! values with `;` in first-seen order (participants, then sessions, then segments, as the API
//! lists them). `queue_names` is positional: its n-th entry names the n-th queue id, empty where
//! the name is unknown, so the two columns always line up. Columns for participant attributes
//! named with `--attribute` follow the fixed ones, in the order given.

use crate::api::Conversation;

pub const COLUMNS: [&str; 12] = [
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

const SEPARATOR: &str = ";";

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Row {
    pub conversation_id: String,
    pub conversation_start: String,
    pub conversation_end: String,
    pub originating_direction: String,
    pub media_types: String,
    pub queue_ids: String,
    pub queue_names: String,
    pub user_ids: String,
    pub ani: String,
    pub dnis: String,
    pub wrap_up_codes: String,
    pub division_ids: String,
    /// One cell per requested attribute.
    pub attributes: Vec<String>,
}

/// The header: the fixed columns, then one per requested attribute.
pub fn header(attributes: &[String]) -> Vec<&str> {
    COLUMNS
        .iter()
        .copied()
        .chain(attributes.iter().map(String::as_str))
        .collect()
}

impl Row {
    /// The cells in `header` order.
    pub fn fields(&self) -> Vec<&str> {
        let fixed = [
            &self.conversation_id,
            &self.conversation_start,
            &self.conversation_end,
            &self.originating_direction,
            &self.media_types,
            &self.queue_ids,
            &self.queue_names,
            &self.user_ids,
            &self.ani,
            &self.dnis,
            &self.wrap_up_codes,
            &self.division_ids,
        ];
        fixed
            .into_iter()
            .map(String::as_str)
            .chain(self.attributes.iter().map(String::as_str))
            .collect()
    }
}

/// Distinct values in first-seen order. Conversations have a handful of participants, so a
/// linear scan beats hashing.
#[derive(Default)]
struct Distinct<'a>(Vec<&'a str>);

impl<'a> Distinct<'a> {
    fn push(&mut self, value: Option<&'a str>) {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            if !self.0.contains(&v) {
                self.0.push(v);
            }
        }
    }

    fn join(&self) -> String {
        self.0.join(SEPARATOR)
    }
}

/// The distinct queue ids a conversation touches, in first-seen order.
pub fn queue_ids(conversation: &Conversation) -> Vec<&str> {
    let mut ids = Distinct::default();
    for segment in conversation
        .participants
        .iter()
        .flat_map(|p| &p.sessions)
        .flat_map(|s| &s.segments)
    {
        ids.push(segment.queue_id.as_deref());
    }
    ids.0
}

/// Flattens a conversation; `queue_name` resolves a queue id to its name where known, and
/// `attributes` names the participant attributes to add as cells.
pub fn flatten(
    conversation: &Conversation,
    queue_name: impl Fn(&str) -> Option<String>,
    attributes: &[String],
) -> Row {
    let mut media = Distinct::default();
    let mut users = Distinct::default();
    let mut ani = Distinct::default();
    let mut dnis = Distinct::default();
    let mut wrap_ups = Distinct::default();
    for participant in &conversation.participants {
        users.push(participant.user_id.as_deref());
        for session in &participant.sessions {
            media.push(session.media_type.as_deref());
            ani.push(session.ani.as_deref());
            dnis.push(session.dnis.as_deref());
            for segment in &session.segments {
                wrap_ups.push(segment.wrap_up_code.as_deref());
            }
        }
    }
    let mut divisions = Distinct::default();
    for id in &conversation.division_ids {
        divisions.push(Some(id));
    }
    let attributes = attributes
        .iter()
        .map(|name| {
            let mut values = Distinct::default();
            for participant in &conversation.participants {
                values.push(participant.attributes.get(name).map(String::as_str));
            }
            values.join()
        })
        .collect();
    let queues = queue_ids(conversation);
    let names: Vec<String> = queues
        .iter()
        .map(|id| queue_name(id).unwrap_or_default())
        .collect();
    Row {
        conversation_id: conversation.conversation_id.clone(),
        conversation_start: conversation.conversation_start.clone(),
        conversation_end: conversation.conversation_end.clone().unwrap_or_default(),
        originating_direction: conversation
            .originating_direction
            .clone()
            .unwrap_or_default(),
        media_types: media.join(),
        queue_ids: queues.join(SEPARATOR),
        queue_names: names.join(SEPARATOR),
        user_ids: users.join(),
        ani: ani.join(),
        dnis: dnis.join(),
        wrap_up_codes: wrap_ups.join(),
        division_ids: divisions.join(),
        attributes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{
      "conversationId": "c-1", "conversationStart": "2024-05-01T09:12:03.512Z",
      "conversationEnd": "2024-05-01T09:19:47.020Z", "originatingDirection": "inbound",
      "divisionIds": ["d-1", "d-2", "d-1"], "mediaStatsMinConversationMos": 4.38,
      "participants": [
        { "purpose": "customer", "sessions": [ { "mediaType": "voice", "ani": "tel:+15551230000",
            "dnis": "tel:+18005550100", "segments": [ { "segmentType": "interact" } ] } ] },
        { "purpose": "acd", "sessions": [ { "mediaType": "voice", "ani": "tel:+15551230000",
            "segments": [ { "queueId": "q-1" } ] } ] },
        { "purpose": "agent", "userId": "u-1", "sessions": [ { "mediaType": "voice",
            "segments": [ { "queueId": "q-1" }, { "queueId": "q-2", "wrapUpCode": "w-1" } ] } ] },
        { "purpose": "agent", "userId": "u-2", "sessions": [ { "mediaType": "callback",
            "segments": [ { "queueId": "q-2", "wrapUpCode": "w-2" } ] } ] }
      ] }"#;

    fn names(id: &str) -> Option<String> {
        match id {
            "q-1" => Some(r#"Support, "Tier 2""#.to_string()),
            _ => None,
        }
    }

    #[test]
    fn flattening_collects_distinct_values_in_order() {
        let c: Conversation = serde_json::from_str(SAMPLE).unwrap();
        let row = flatten(&c, names, &[]);
        assert_eq!(
            row,
            Row {
                conversation_id: "c-1".into(),
                conversation_start: "2024-05-01T09:12:03.512Z".into(),
                conversation_end: "2024-05-01T09:19:47.020Z".into(),
                originating_direction: "inbound".into(),
                media_types: "voice;callback".into(),
                queue_ids: "q-1;q-2".into(),
                queue_names: r#"Support, "Tier 2";"#.into(),
                user_ids: "u-1;u-2".into(),
                ani: "tel:+15551230000".into(),
                dnis: "tel:+18005550100".into(),
                wrap_up_codes: "w-1;w-2".into(),
                division_ids: "d-1;d-2".into(),
                attributes: vec![],
            }
        );
        assert_eq!(queue_ids(&c), ["q-1", "q-2"]);
    }

    #[test]
    fn an_ongoing_minimal_conversation_has_empty_cells() {
        let c: Conversation =
            serde_json::from_str(r#"{"conversationId":"x","conversationStart":"s"}"#).unwrap();
        let row = flatten(&c, |_| None, &[]);
        assert_eq!(
            row.fields(),
            ["x", "s", "", "", "", "", "", "", "", "", "", ""]
        );
    }

    #[test]
    fn attribute_columns_collect_distinct_values_across_participants() {
        let c: Conversation = serde_json::from_str(
            r#"{"conversationId":"x","conversationStart":"s","participants":[
                {"attributes":{"account":"A-1","lang":"de"}},
                {"attributes":{"account":"A-1","note":"a, \"b\""}},
                {"attributes":{"account":"A-2"}}]}"#,
        )
        .unwrap();
        let names = ["account".to_string(), "note".into(), "missing".into()];
        let row = flatten(&c, |_| None, &names);
        assert_eq!(row.attributes, ["A-1;A-2", r#"a, "b""#, ""]);
        assert_eq!(row.fields().len(), 15);
        assert_eq!(header(&names)[12..], ["account", "note", "missing"]);
    }

    #[test]
    fn csv_quoting_of_commas_quotes_and_unicode() {
        let c: Conversation = serde_json::from_str(SAMPLE).unwrap();
        let row = flatten(
            &c,
            |id| match id {
                "q-1" => Some("Kundendienst Düsseldorf".into()),
                _ => Some(r#"Support, "Tier 2""#.into()),
            },
            &[],
        );
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(COLUMNS).unwrap();
        w.write_record(row.fields()).unwrap();
        let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
        let expected = "conversation_id,conversation_start,conversation_end,originating_direction,\
media_types,queue_ids,queue_names,user_ids,ani,dnis,wrap_up_codes,division_ids\n\
c-1,2024-05-01T09:12:03.512Z,2024-05-01T09:19:47.020Z,inbound,voice;callback,q-1;q-2,\
\"Kundendienst Düsseldorf;Support, \"\"Tier 2\"\"\",u-1;u-2,tel:+15551230000,tel:+18005550100,\
w-1;w-2,d-1;d-2\n";
        assert_eq!(text, expected);
        // And it reads back to the same cells.
        let mut r = csv::Reader::from_reader(text.as_bytes());
        let rec = r.records().next().unwrap().unwrap();
        assert_eq!(&rec[6], r#"Kundendienst Düsseldorf;Support, "Tier 2""#);
    }
}
