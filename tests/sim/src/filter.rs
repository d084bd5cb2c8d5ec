//! The `segmentFilters` and `conversationFilters` of a details query or job, checked and
//! evaluated against a rendered conversation as the API does.
//!
//! A filter joins its predicates and clauses with its `type` (`and`, `or`); the filters of a
//! list are AND-ed. Conversation predicates read the conversation's own fields
//! (`divisionId` matches any of `divisionIds`). Segment predicates read one segment, its
//! session and its participant (`queueId` and `segmentType` on the segment, `mediaType` and
//! `direction` on the session, `userId` and `purpose` on the participant); a conversation
//! passes the segment filters when one of its segments passes all of them. `matches` compares
//! a value as text, or a number against a `range`; `exists` and `notExists` test presence.

use serde_json::{Map, Value};

/// The filters of one query or job, as sent.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filters {
    pub segment: Vec<Value>,
    pub conversation: Vec<Value>,
}

impl Filters {
    /// Reads and checks the two lists of a request body; the error is the API's 400 message.
    pub fn parse(body: &Map<String, Value>) -> Result<Filters, String> {
        let list = |name: &str| -> Result<Vec<Value>, String> {
            match body.get(name) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::Array(items)) => {
                    for (i, item) in items.iter().enumerate() {
                        check_filter(&format!("{name}[{i}]"), item)?;
                    }
                    Ok(items.clone())
                }
                Some(_) => Err(format!("{name} must be an array of filters.")),
            }
        };
        Ok(Filters {
            segment: list("segmentFilters")?,
            conversation: list("conversationFilters")?,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.segment.is_empty() && self.conversation.is_empty()
    }

    /// A key naming these filters, for caches.
    pub fn key(&self) -> String {
        format!(
            "{}|{}",
            Value::Array(self.segment.clone()),
            Value::Array(self.conversation.clone())
        )
    }

    /// Whether the rendered conversation passes every filter.
    pub fn matches(&self, conversation: &Value) -> bool {
        let conversation_ok = self
            .conversation
            .iter()
            .all(|f| filter_holds(f, &|p| conversation_predicate(p, conversation)));
        if !conversation_ok {
            return false;
        }
        if self.segment.is_empty() {
            return true;
        }
        segments(conversation).any(|scope| {
            self.segment
                .iter()
                .all(|f| filter_holds(f, &|p| segment_predicate(p, &scope)))
        })
    }
}

fn check_filter(at: &str, filter: &Value) -> Result<(), String> {
    let join = |v: &Value| matches!(v.get("type").and_then(Value::as_str), Some("and" | "or"));
    if !join(filter) {
        return Err(format!("{at}.type must be and or or."));
    }
    let groups = std::iter::once(filter).chain(
        filter
            .get("clauses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten(),
    );
    for group in groups {
        if !join(group) {
            return Err(format!("{at}: every clause needs a type of and or or."));
        }
        for p in group
            .get("predicates")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            match p.get("operator").and_then(Value::as_str) {
                None | Some("matches" | "exists" | "notExists") => {}
                Some(other) => return Err(format!("{at}: unknown operator {other}.")),
            }
        }
    }
    Ok(())
}

/// A filter's truth with `holds` deciding each predicate.
fn filter_holds(filter: &Value, holds: &dyn Fn(&Value) -> bool) -> bool {
    let all = filter.get("type").and_then(Value::as_str) != Some("or");
    let predicates = filter
        .get("predicates")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(holds);
    let clauses = filter
        .get("clauses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| filter_holds(c, holds));
    let mut results = predicates.chain(clauses);
    if all {
        results.all(|r| r)
    } else {
        results.any(|r| r)
    }
}

/// One predicate against the values its left-hand side has (none when absent).
fn predicate_holds(p: &Value, values: &[&Value]) -> bool {
    match p
        .get("operator")
        .and_then(Value::as_str)
        .unwrap_or("matches")
    {
        "exists" => !values.is_empty(),
        "notExists" => values.is_empty(),
        _ => {
            if let Some(want) = p.get("value").and_then(Value::as_str) {
                values.iter().any(|v| text_of(v).is_some_and(|t| t == want))
            } else if let Some(range) = p.get("range") {
                values
                    .iter()
                    .filter_map(|v| v.as_f64())
                    .any(|n| in_range(n, range))
            } else {
                false
            }
        }
    }
}

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn in_range(n: f64, range: &Value) -> bool {
    let bound = |k: &str| range.get(k).and_then(Value::as_f64);
    bound("gt").is_none_or(|b| n > b)
        && bound("gte").is_none_or(|b| n >= b)
        && bound("lt").is_none_or(|b| n < b)
        && bound("lte").is_none_or(|b| n <= b)
}

/// The left-hand side's name: dimension, property or metric.
fn side(p: &Value) -> Option<&str> {
    ["dimension", "property", "metric"]
        .iter()
        .find_map(|k| p.get(*k).and_then(Value::as_str))
}

fn conversation_predicate(p: &Value, c: &Value) -> bool {
    let Some(name) = side(p) else { return false };
    let mut values: Vec<&Value> = Vec::new();
    if p.get("metric").is_some() {
        for s in sessions(c) {
            values.extend(metric_values(s, name));
        }
    } else if name == "divisionId" {
        values.extend(
            c.get("divisionIds")
                .and_then(Value::as_array)
                .into_iter()
                .flatten(),
        );
    } else if let Some(v) = c.get(name) {
        values.push(v);
    }
    predicate_holds(p, &values)
}

/// One segment with its session and participant.
struct Scope<'a> {
    participant: &'a Value,
    session: &'a Value,
    segment: &'a Value,
}

fn sessions(c: &Value) -> impl Iterator<Item = &Value> {
    c.get("participants")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|p| {
            p.get("sessions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
}

fn segments(c: &Value) -> impl Iterator<Item = Scope<'_>> {
    c.get("participants")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|participant| {
            participant
                .get("sessions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .flat_map(move |session| {
                    session
                        .get("segments")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .map(move |segment| Scope {
                            participant,
                            session,
                            segment,
                        })
                })
        })
}

fn metric_values<'a>(session: &'a Value, name: &'a str) -> impl Iterator<Item = &'a Value> {
    session
        .get("metrics")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(move |m| m.get("name").and_then(Value::as_str) == Some(name))
        .filter_map(|m| m.get("value"))
}

fn segment_predicate(p: &Value, scope: &Scope) -> bool {
    let Some(name) = side(p) else { return false };
    let values: Vec<&Value> = if p.get("metric").is_some() {
        metric_values(scope.session, name).collect()
    } else {
        [scope.segment, scope.session, scope.participant]
            .iter()
            .find_map(|o| o.get(name))
            .into_iter()
            .collect()
    };
    predicate_holds(p, &values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn conversation() -> Value {
        json!({
            "conversationId": "c1",
            "divisionIds": ["d1", "d2"],
            "originatingDirection": "inbound",
            "participants": [
                { "purpose": "customer", "sessions": [{ "mediaType": "voice", "direction": "inbound",
                    "segments": [{ "segmentType": "interact" }] }] },
                { "purpose": "agent", "userId": "u1", "sessions": [{ "mediaType": "voice", "direction": "inbound",
                    "metrics": [{ "name": "tTalk", "value": 5000 }],
                    "segments": [{ "segmentType": "interact", "queueId": "q1" }] }] }
            ]
        })
    }

    fn filters(body: Value) -> Filters {
        Filters::parse(body.as_object().unwrap()).unwrap()
    }

    fn check(body: Value, want: bool) {
        assert_eq!(
            filters(body.clone()).matches(&conversation()),
            want,
            "{body}"
        );
    }

    fn any(dimension: &str, values: &[&str]) -> Value {
        let predicates: Vec<Value> = values
            .iter()
            .map(|v| json!({ "type": "dimension", "dimension": dimension, "operator": "matches", "value": v }))
            .collect();
        json!({ "type": "or", "predicates": predicates })
    }

    #[test]
    fn filters_are_evaluated_per_dimension() {
        check(json!({}), true);
        check(json!({ "segmentFilters": [any("queueId", &["q1"])] }), true);
        check(
            json!({ "segmentFilters": [any("queueId", &["q2", "q1"])] }),
            true,
        );
        check(
            json!({ "segmentFilters": [any("queueId", &["q2"])] }),
            false,
        );
        check(
            json!({ "segmentFilters": [any("mediaType", &["voice"])] }),
            true,
        );
        check(
            json!({ "segmentFilters": [any("mediaType", &["chat"])] }),
            false,
        );
        check(
            json!({ "segmentFilters": [any("direction", &["inbound"])] }),
            true,
        );
        check(json!({ "segmentFilters": [any("userId", &["u1"])] }), true);
        check(
            json!({ "segmentFilters": [any("userId", &["u1"]), any("queueId", &["q1"])] }),
            true,
        );
        // One segment must pass every segment filter: the customer's has no queue.
        check(
            json!({ "segmentFilters": [any("purpose", &["customer"]), any("queueId", &["q1"])] }),
            false,
        );
        check(
            json!({ "conversationFilters": [any("divisionId", &["d2"])] }),
            true,
        );
        check(
            json!({ "conversationFilters": [any("divisionId", &["d3"])] }),
            false,
        );
        check(
            json!({ "conversationFilters": [{ "type": "and", "predicates": [
            { "dimension": "conversationEnd", "operator": "notExists" }] }] }),
            true,
        );
        check(
            json!({ "segmentFilters": [{ "type": "and", "predicates": [
            { "type": "metric", "metric": "tTalk", "range": { "gte": 5000, "lt": 6000 } }] }] }),
            true,
        );
        check(
            json!({ "segmentFilters": [{ "type": "or", "clauses": [
            { "type": "and", "predicates": [{ "dimension": "queueId", "value": "q9" }] },
            { "type": "and", "predicates": [{ "dimension": "queueId", "value": "q1" }] }] }] }),
            true,
        );
    }

    #[test]
    fn malformed_filters_are_refused() {
        let refused =
            |body: Value| assert!(Filters::parse(body.as_object().unwrap()).is_err(), "{body}");
        refused(json!({ "segmentFilters": {} }));
        refused(json!({ "segmentFilters": [{ "type": "xor", "predicates": [] }] }));
        refused(
            json!({ "conversationFilters": [{ "type": "and", "predicates": [{ "dimension": "divisionId", "operator": "is" }] }] }),
        );
    }
}
