//! Server-side filters: `--queue`, `--media`, `--division`, `--direction`, `--user` and
//! `--filter-file`, from what the user gave to the predicates the API is sent.
//!
//! Pure: values in, a canonical `Filters` (sorted, de-duplicated, so the same filters in
//! another order are the same export) and the wire form (`api::QueryFilters`) out. Values of
//! one option are OR-ed (one filter of type `or`), options AND-ed (one filter each; the API
//! ANDs the filters of a list). `queueId`, `mediaType`, `direction` and `userId` are segment
//! dimensions, `divisionId` a conversation dimension (the SDK's `SegmentDetailQueryPredicate`
//! and `ConversationDetailQueryPredicate` enums). A queue given by name is resolved by the
//! caller through the queues API; `pick_queue` applies the exact-match rule to what the search
//! returned. `parse_file` checks a filter file's shape before anything is sent.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::api::{Clause, Filter, NumericRange, Predicate, QueryFilters};

/// The session media types the API knows (`AnalyticsSession.mediaType`).
pub const MEDIA_TYPES: [&str; 11] = [
    "callback",
    "chat",
    "cobrowse",
    "email",
    "internalmessage",
    "message",
    "screenmonitoring",
    "screenshare",
    "unknown",
    "video",
    "voice",
];

/// The session directions the API knows.
pub const DIRECTIONS: [&str; 2] = ["inbound", "outbound"];

/// The most values all filter options together may hold, and the most filters, clauses and
/// predicates a filter file may hold: far more than any real query, few enough to bound a body.
pub const MAX_VALUES: usize = 1000;

/// The filters of an export as given, canonical: each list sorted and without repeats.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filters {
    /// Queue ids (lower case) and queue names (as given; compared without case).
    pub queues: Vec<String>,
    pub media: Vec<String>,
    pub divisions: Vec<String>,
    pub directions: Vec<String>,
    pub users: Vec<String>,
    /// The filters of `--filter-file`, each list sorted by its JSON text, without repeats.
    pub file: QueryFilters,
}

/// The filter options' values as given on the command line.
#[derive(Clone, Debug, Default)]
pub struct Given {
    pub queues: Vec<String>,
    pub media: Vec<String>,
    pub divisions: Vec<String>,
    pub directions: Vec<String>,
    pub users: Vec<String>,
}

/// Whether `value` is shaped like a Genesys Cloud id (a UUID: 8-4-4-4-12 hex digits).
pub fn is_id(value: &str) -> bool {
    let groups: Vec<&str> = value.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Sorts `values` by `key` and drops repeats (equal keys).
fn canonical(mut values: Vec<String>, key: impl Fn(&str) -> String) -> Vec<String> {
    values.sort_by_cached_key(|v| (key(v), v.clone()));
    values.dedup_by(|a, b| key(a) == key(b));
    values
}

/// A value as an error message shows it: control characters escaped, at most 60 characters.
pub fn shown(value: &str) -> String {
    const MAX: usize = 60;
    let escaped: String = value.escape_debug().collect();
    match escaped.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &escaped[..cut]),
        None => escaped,
    }
}

/// Checks that every value of `option` is an id.
fn ids(option: &str, values: Vec<String>) -> Result<Vec<String>, String> {
    for value in &values {
        if !is_id(value) {
            return Err(format!(
                "{option} '{}' is not an id: give the id (8-4-4-4-12 hex digits)",
                shown(value)
            ));
        }
    }
    Ok(canonical(values, str::to_ascii_lowercase)
        .into_iter()
        .map(|v| v.to_ascii_lowercase())
        .collect())
}

/// Checks that every value of `option` is one of `known`.
fn one_of(option: &str, values: Vec<String>, known: &[&str]) -> Result<Vec<String>, String> {
    for value in &values {
        if !known.contains(&value.as_str()) {
            return Err(format!(
                "{option} '{}' is not one of {}",
                shown(value),
                known.join(", ")
            ));
        }
    }
    Ok(canonical(values, str::to_string))
}

impl Filters {
    /// Checks and canonicalises the options' values and a filter file's filters.
    pub fn new(given: Given, file: QueryFilters) -> Result<Filters, String> {
        let count = [
            &given.queues,
            &given.media,
            &given.divisions,
            &given.directions,
            &given.users,
        ]
        .iter()
        .map(|v| v.len())
        .sum::<usize>();
        if count > MAX_VALUES {
            return Err(format!(
                "{count} filter values are too many: give at most {MAX_VALUES}, or use --filter-file"
            ));
        }
        for name in &given.queues {
            if name.trim().is_empty() {
                return Err("--queue needs a queue id or name, not an empty value".to_string());
            }
        }
        // The filters of a list are AND-ed: their order does not matter, repeats add nothing.
        let mut file = file;
        for list in [&mut file.segment, &mut file.conversation] {
            list.sort_by_cached_key(|f| serde_json::to_string(f).unwrap_or_default());
            list.dedup();
        }
        let queues = canonical(given.queues, str::to_lowercase)
            .into_iter()
            .map(|q| if is_id(&q) { q.to_ascii_lowercase() } else { q })
            .collect();
        Ok(Filters {
            queues,
            media: one_of("--media", given.media, &MEDIA_TYPES)?,
            divisions: ids("--division", given.divisions)?,
            directions: one_of("--direction", given.directions, &DIRECTIONS)?,
            users: ids("--user", given.users)?,
            file,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.queues.is_empty()
            && self.media.is_empty()
            && self.divisions.is_empty()
            && self.directions.is_empty()
            && self.users.is_empty()
            && self.file.is_empty()
    }

    /// The queues given by name, to resolve through the queues API.
    pub fn queue_names(&self) -> impl Iterator<Item = &str> {
        self.queues.iter().map(String::as_str).filter(|q| !is_id(q))
    }

    /// The filters as one line for the state's fingerprint: empty without filters, and the
    /// same for the same filters in any order or case of queue names.
    pub fn fingerprint(&self) -> String {
        if self.is_empty() {
            return String::new();
        }
        let list = |values: &[String]| values.join(",");
        let queues: Vec<String> = self.queues.iter().map(|q| q.to_lowercase()).collect();
        let file = |filters: &[Filter]| serde_json::to_string(filters).unwrap_or_default();
        format!(
            "queue=[{}] media=[{}] division=[{}] direction=[{}] user=[{}] segment-filters={} conversation-filters={}",
            list(&queues),
            list(&self.media),
            list(&self.divisions),
            list(&self.directions),
            list(&self.users),
            file(&self.file.segment),
            file(&self.file.conversation),
        )
    }

    /// The filters as sent, queue names replaced by the ids `resolved` maps their lower-case
    /// form to. A name missing from `resolved` is an error: never a filter silently dropped.
    pub fn wire(&self, resolved: &BTreeMap<String, String>) -> Result<QueryFilters, String> {
        let mut queue_ids = Vec::with_capacity(self.queues.len());
        for queue in &self.queues {
            if is_id(queue) {
                queue_ids.push(queue.clone());
            } else {
                match resolved.get(&queue.to_lowercase()) {
                    Some(id) => queue_ids.push(id.to_ascii_lowercase()),
                    None => return Err(format!("queue '{}' was not resolved", shown(queue))),
                }
            }
        }
        let queue_ids = canonical(queue_ids, str::to_string);
        let any_of = |dimension: &str, values: &[String]| -> Option<Filter> {
            (!values.is_empty()).then(|| Filter {
                kind: "or".to_string(),
                clauses: Vec::new(),
                predicates: values
                    .iter()
                    .map(|v| Predicate::matches(dimension, v))
                    .collect(),
            })
        };
        let mut segment: Vec<Filter> = [
            any_of("queueId", &queue_ids),
            any_of("mediaType", &self.media),
            any_of("direction", &self.directions),
            any_of("userId", &self.users),
        ]
        .into_iter()
        .flatten()
        .collect();
        segment.extend(self.file.segment.iter().cloned());
        let mut conversation: Vec<Filter> =
            any_of("divisionId", &self.divisions).into_iter().collect();
        conversation.extend(self.file.conversation.iter().cloned());
        Ok(QueryFilters {
            segment,
            conversation,
        })
    }
}

/// The one queue named `name` among `found` (id, name) pairs, the queue search's results:
/// the single case-insensitive exact match. None or several is an error listing candidates.
pub fn pick_queue(name: &str, found: &[(String, String)]) -> Result<String, String> {
    let exact: Vec<&(String, String)> = found
        .iter()
        .filter(|(_, n)| n.to_lowercase() == name.to_lowercase())
        .collect();
    let listed = |queues: &[&(String, String)]| {
        const MAX_LISTED: usize = 10;
        let mut text: Vec<String> = queues
            .iter()
            .take(MAX_LISTED)
            .map(|(id, n)| format!("'{}' ({id})", shown(n)))
            .collect();
        if queues.len() > MAX_LISTED {
            text.push(format!("and {} more", queues.len() - MAX_LISTED));
        }
        text.join(", ")
    };
    match exact.as_slice() {
        [(id, _)] => Ok(id.clone()),
        [] => {
            let all: Vec<&(String, String)> = found.iter().collect();
            let candidates = if all.is_empty() {
                "none has a name containing it".to_string()
            } else {
                format!("candidates: {}", listed(&all))
            };
            Err(format!(
                "--queue '{}': no queue has that name ({candidates}); give the exact name or the queue's id",
                shown(name)
            ))
        }
        several => Err(format!(
            "--queue '{}': {} queues have that name ({}); give the queue's id",
            shown(name),
            several.len(),
            listed(several)
        )),
    }
}

/// Reads a filter file's bytes: a JSON object with optional `segmentFilters` and
/// `conversationFilters` arrays of filters of the API's shape. The error names the defect
/// and where it is (`segmentFilters[0].predicates[1]: …`).
pub fn parse_file(bytes: &[u8]) -> Result<QueryFilters, String> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| format!("is not JSON ({e})"))?;
    let Value::Object(object) = value else {
        return Err(
            "is not a JSON object: write {\"segmentFilters\": [...], \"conversationFilters\": [...]}"
                .to_string(),
        );
    };
    let mut filters = QueryFilters::default();
    let mut count = 0usize;
    for (key, value) in &object {
        let segment = match key.as_str() {
            "segmentFilters" => true,
            "conversationFilters" => false,
            other => {
                return Err(format!(
                    "has an unknown key '{}': only segmentFilters and conversationFilters are read",
                    shown(other)
                ))
            }
        };
        let Value::Array(items) = value else {
            return Err(format!("{key} is not an array of filters"));
        };
        let mut list = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            list.push(filter(&format!("{key}[{i}]"), item, segment, &mut count)?);
        }
        if segment {
            filters.segment = list;
        } else {
            filters.conversation = list;
        }
    }
    if filters.is_empty() {
        return Err("holds no filter: add segmentFilters or conversationFilters".to_string());
    }
    Ok(filters)
}

/// Counts one more filter, clause or predicate against `MAX_VALUES`.
fn counted(count: &mut usize) -> Result<(), String> {
    *count = count.saturating_add(1);
    if *count > MAX_VALUES {
        return Err(format!(
            "holds more than {MAX_VALUES} filters, clauses and predicates"
        ));
    }
    Ok(())
}

fn object<'a>(at: &str, value: &'a Value, what: &str) -> Result<&'a Map<String, Value>, String> {
    value
        .as_object()
        .ok_or_else(|| format!("{at} is not a JSON object ({what})"))
}

fn text<'a>(
    at: &str,
    object: &'a Map<String, Value>,
    key: &str,
) -> Result<Option<&'a str>, String> {
    match object.get(key) {
        None => Ok(None),
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(s)),
        Some(_) => Err(format!("{at}.{key} is not a non-empty string")),
    }
}

fn only_keys(at: &str, object: &Map<String, Value>, known: &[&str]) -> Result<(), String> {
    match object.keys().find(|k| !known.contains(&k.as_str())) {
        Some(key) => Err(format!(
            "{at} has an unknown key '{}' (known: {})",
            shown(key),
            known.join(", ")
        )),
        None => Ok(()),
    }
}

/// `and` or `or`.
fn join_type(at: &str, object: &Map<String, Value>) -> Result<String, String> {
    match text(at, object, "type")? {
        Some(t @ ("and" | "or")) => Ok(t.to_string()),
        Some(other) => Err(format!("{at}.type is '{}': use and or or", shown(other))),
        None => Err(format!(
            "{at} has no type: give \"type\": \"and\" or \"or\""
        )),
    }
}

fn predicates(
    at: &str,
    object: &Map<String, Value>,
    segment: bool,
    count: &mut usize,
) -> Result<Vec<Predicate>, String> {
    match object.get("predicates") {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, p)| predicate(&format!("{at}.predicates[{i}]"), p, segment, count))
            .collect(),
        Some(_) => Err(format!("{at}.predicates is not an array")),
    }
}

fn filter(at: &str, value: &Value, segment: bool, count: &mut usize) -> Result<Filter, String> {
    counted(count)?;
    let object = object(at, value, "a filter")?;
    only_keys(at, object, &["type", "clauses", "predicates"])?;
    let kind = join_type(at, object)?;
    let clauses = match object.get("clauses") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, c)| clause(&format!("{at}.clauses[{i}]"), c, segment, count))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(format!("{at}.clauses is not an array")),
    };
    let predicates = predicates(at, object, segment, count)?;
    if clauses.is_empty() && predicates.is_empty() {
        return Err(format!("{at} has neither predicates nor clauses"));
    }
    Ok(Filter {
        kind,
        clauses,
        predicates,
    })
}

fn clause(at: &str, value: &Value, segment: bool, count: &mut usize) -> Result<Clause, String> {
    counted(count)?;
    let object = object(at, value, "a clause")?;
    only_keys(at, object, &["type", "predicates"])?;
    let kind = join_type(at, object)?;
    let predicates = predicates(at, object, segment, count)?;
    if predicates.is_empty() {
        return Err(format!("{at} has no predicates"));
    }
    Ok(Clause { kind, predicates })
}

fn predicate(
    at: &str,
    value: &Value,
    segment: bool,
    count: &mut usize,
) -> Result<Predicate, String> {
    counted(count)?;
    let object = object(at, value, "a predicate")?;
    const SEGMENT_KEYS: &[&str] = &[
        "type",
        "dimension",
        "propertyType",
        "property",
        "metric",
        "operator",
        "value",
        "range",
    ];
    const CONVERSATION_KEYS: &[&str] =
        &["type", "dimension", "metric", "operator", "value", "range"];
    only_keys(
        at,
        object,
        if segment {
            SEGMENT_KEYS
        } else {
            CONVERSATION_KEYS
        },
    )?;
    let kind = text(at, object, "type")?;
    let dimension = text(at, object, "dimension")?;
    let property = text(at, object, "property")?;
    let property_type = text(at, object, "propertyType")?;
    let metric = text(at, object, "metric")?;
    check_side(at, kind, dimension, property, metric)?;
    if property.is_some() != property_type.is_some() {
        return Err(format!("{at}: property and propertyType go together"));
    }
    let operator = text(at, object, "operator")?;
    let value = text(at, object, "value")?;
    let range = match object.get("range") {
        None => None,
        Some(r) => Some(range(&format!("{at}.range"), r)?),
    };
    check_operator(at, operator, value.is_some(), range.is_some())?;
    let owned = |s: Option<&str>| s.map(str::to_string);
    Ok(Predicate {
        kind: owned(kind),
        dimension: owned(dimension),
        property_type: owned(property_type),
        property: owned(property),
        metric: owned(metric),
        operator: owned(operator),
        value: owned(value),
        range,
    })
}

/// A predicate names exactly one left-hand side, which its `type` (when given) agrees with.
fn check_side(
    at: &str,
    kind: Option<&str>,
    dimension: Option<&str>,
    property: Option<&str>,
    metric: Option<&str>,
) -> Result<(), String> {
    let sides = [
        ("dimension", dimension.is_some()),
        ("property", property.is_some()),
        ("metric", metric.is_some()),
    ];
    let named: Vec<&str> = sides.iter().filter(|s| s.1).map(|s| s.0).collect();
    let side = match named.as_slice() {
        [one] => *one,
        [] => return Err(format!("{at} names no dimension, property or metric")),
        _ => {
            return Err(format!(
                "{at} names more than one of dimension, property and metric"
            ))
        }
    };
    match kind {
        None => Ok(()),
        Some(k) if k == side => Ok(()),
        Some(k @ ("dimension" | "property" | "metric")) => {
            Err(format!("{at}.type is '{k}' but it names a {side}"))
        }
        Some(other) => Err(format!(
            "{at}.type is '{}': use dimension, property or metric",
            shown(other)
        )),
    }
}

/// `matches` (the default) takes exactly one of a value and a range; `exists` and `notExists`
/// take neither.
fn check_operator(
    at: &str,
    operator: Option<&str>,
    has_value: bool,
    has_range: bool,
) -> Result<(), String> {
    match operator.unwrap_or("matches") {
        "matches" if has_value == has_range => Err(format!(
            "{at} needs exactly one of value and range to match"
        )),
        "exists" | "notExists" if has_value || has_range => {
            Err(format!("{at}: exists and notExists take no value or range"))
        }
        "matches" | "exists" | "notExists" => Ok(()),
        other => Err(format!(
            "{at}.operator is '{}': use matches, exists or notExists",
            shown(other)
        )),
    }
}

fn range(at: &str, value: &Value) -> Result<NumericRange, String> {
    let object = object(at, value, "a range")?;
    only_keys(at, object, &["gt", "gte", "lt", "lte"])?;
    let bound = |key: &str| -> Result<Option<f64>, String> {
        match object.get(key) {
            None => Ok(None),
            Some(v) => match v.as_f64() {
                Some(n) if n.is_finite() => Ok(Some(n)),
                _ => Err(format!("{at}.{key} is not a number")),
            },
        }
    };
    let range = NumericRange {
        gt: bound("gt")?,
        gte: bound("gte")?,
        lt: bound("lt")?,
        lte: bound("lte")?,
    };
    if range == NumericRange::default() {
        return Err(format!("{at} has no bound: give gt, gte, lt or lte"));
    }
    Ok(range)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prop;
    use serde_json::json;

    const Q1: &str = "0b1e6a7c-0000-4000-8000-000000000001";
    const Q2: &str = "0b1e6a7c-0000-4000-8000-000000000002";
    const U1: &str = "6f2d0c1a-0000-4000-8000-0000000000a1";
    const D1: &str = "7f0b3a41-1c9e-4d2a-9b77-2f4e5d6c7a01";

    fn strings(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| v.to_string()).collect()
    }

    fn filters(given: Given) -> Filters {
        Filters::new(given, QueryFilters::default()).unwrap()
    }

    /// The wire form as JSON: `{"segment": [...], "conversation": [...]}`.
    fn wire(f: &Filters, resolved: &[(&str, &str)]) -> Value {
        let resolved = resolved
            .iter()
            .map(|(n, id)| (n.to_string(), id.to_string()))
            .collect();
        let q = f.wire(&resolved).unwrap();
        json!({ "segment": q.segment, "conversation": q.conversation })
    }

    fn or(dimension: &str, values: &[&str]) -> Value {
        let predicates: Vec<Value> = values
            .iter()
            .map(|v| json!({"type": "dimension", "dimension": dimension, "operator": "matches", "value": v}))
            .collect();
        json!({"type": "or", "predicates": predicates})
    }

    #[test]
    fn ids_are_uuids() {
        for (value, want) in [
            (Q1, true),
            ("0B1E6A7C-0000-4000-8000-000000000001", true),
            ("Billing", false),
            ("0b1e6a7c-0000-4000-8000-00000000000", false),
            ("0b1e6a7c-0000-4000-8000-00000000000g", false),
            ("0b1e6a7c000040008000000000000001", false),
            ("", false),
        ] {
            assert_eq!(is_id(value), want, "{value}");
        }
    }

    #[test]
    fn options_become_one_or_filter_each_anded_by_the_list() {
        let f = filters(Given {
            queues: strings(&[Q2, "Billing", Q1]),
            media: strings(&["voice", "chat"]),
            directions: strings(&["inbound"]),
            users: strings(&[U1]),
            divisions: strings(&[D1]),
        });
        assert_eq!(
            wire(&f, &[("billing", Q1)]),
            json!({
                "segment": [or("queueId", &[Q1, Q2]), or("mediaType", &["chat", "voice"]), or("direction", &["inbound"]), or("userId", &[U1])],
                "conversation": [or("divisionId", &[D1])],
            })
        );
        assert_eq!(
            wire(&Filters::default(), &[]),
            json!({"segment": [], "conversation": []})
        );
        // A name left unresolved is an error, never a filter dropped.
        let unresolved = f.wire(&BTreeMap::new()).unwrap_err();
        assert!(
            unresolved.contains("'Billing' was not resolved"),
            "{unresolved}"
        );
    }

    #[test]
    fn bodies_carry_the_filters_with_the_end_filter() {
        let f = filters(Given {
            media: strings(&["voice"]),
            divisions: strings(&[D1]),
            ..Given::default()
        });
        let extra = f.wire(&BTreeMap::new()).unwrap();
        let end = json!({"type": "and", "predicates": [{"type": "dimension", "dimension": "conversationEnd", "operator": "exists"}]});
        let query = crate::api::DetailsQuery::page("a/b".into(), 100, 2, true, &extra);
        let v = serde_json::to_value(&query).unwrap();
        assert_eq!(v["segmentFilters"], json!([or("mediaType", &["voice"])]));
        assert_eq!(
            v["conversationFilters"],
            json!([end, or("divisionId", &[D1])])
        );
        let job = crate::api::JobQuery::new("a/b".into(), false, &extra);
        let v = serde_json::to_value(&job).unwrap();
        assert_eq!(v["segmentFilters"], json!([or("mediaType", &["voice"])]));
        assert_eq!(v["conversationFilters"], json!([or("divisionId", &[D1])]));
    }

    #[test]
    #[rustfmt::skip]
    fn bad_option_values_are_refused_naming_the_fix() {
        fn check(given: Given, want: &str) {
            let err = Filters::new(given, QueryFilters::default()).unwrap_err();
            assert!(err.contains(want), "{err}");
        }
        check(Given { media: strings(&["Voice"]), ..Given::default() }, "--media 'Voice' is not one of callback, chat,");
        check(Given { directions: strings(&["in"]), ..Given::default() }, "--direction 'in' is not one of inbound, outbound");
        check(Given { users: strings(&["jane"]), ..Given::default() }, "--user 'jane' is not an id");
        check(Given { divisions: strings(&["Home"]), ..Given::default() }, "--division 'Home' is not an id");
        check(Given { queues: strings(&[" "]), ..Given::default() }, "--queue needs a queue id or name");
        check(Given { users: vec![U1.to_string(); MAX_VALUES + 1], ..Given::default() }, "too many");
    }

    #[test]
    #[rustfmt::skip]
    fn queue_names_match_one_queue_exactly_ignoring_case() {
        fn found(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
            pairs.iter().map(|(i, n)| (i.to_string(), n.to_string())).collect()
        }
        fn check(name: &str, pairs: &[(&str, &str)], want: Result<&str, &str>) {
            match (pick_queue(name, &found(pairs)), want) {
                (Ok(id), Ok(want)) => assert_eq!(id, want),
                (Err(e), Err(want)) => assert!(e.contains(want), "{e}"),
                (got, want) => panic!("{name}: {got:?}, wanted {want:?}"),
            }
        }
        check("Billing", &[("q1", "Billing Escalations"), ("q2", "Billing")], Ok("q2"));
        check("billing", &[("q2", "Billing")], Ok("q2"));
        check("ÉQUIPE", &[("q3", "équipe")], Ok("q3"));
        check("Sales", &[("q4", "Sales"), ("q5", "SALES")], Err("--queue 'Sales': 2 queues have that name ('Sales' (q4), 'SALES' (q5)); give the queue's id"));
        check("Bill", &[("q1", "Billing Escalations"), ("q2", "Billing")], Err("no queue has that name (candidates: 'Billing Escalations' (q1), 'Billing' (q2)); give the exact name or the queue's id"));
        check("Nope", &[], Err("no queue has that name (none has a name containing it)"));
        let many: Vec<(String, String)> = (0..25).map(|i| (format!("q{i}"), format!("Queue {i}"))).collect();
        let err = pick_queue("Queue", &many).unwrap_err();
        assert!(err.contains(", and 15 more)"), "{err}");
    }

    #[test]
    fn the_fingerprint_is_the_same_for_the_same_filters_in_any_order() {
        let a = filters(Given {
            queues: strings(&["Billing", Q1, "sales"]),
            media: strings(&["voice", "chat", "voice"]),
            ..Given::default()
        });
        let b = filters(Given {
            queues: strings(&["SALES", &Q1.to_uppercase(), "billing", "Billing"]),
            media: strings(&["chat", "voice"]),
            ..Given::default()
        });
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_eq!(
            a.fingerprint(),
            format!("queue=[{Q1},billing,sales] media=[chat,voice] division=[] direction=[] user=[] segment-filters=[] conversation-filters=[]")
        );
        assert_eq!(Filters::default().fingerprint(), "");
        let c = filters(Given {
            media: strings(&["chat"]),
            ..Given::default()
        });
        assert_ne!(a.fingerprint(), c.fingerprint());
        // The file's filters in another order, or repeated, are the same export too.
        let file = parse_file(SAMPLE.as_bytes()).unwrap();
        let mut reordered = file.clone();
        reordered.segment.reverse();
        reordered.segment.push(file.segment[0].clone());
        let with_file = |file: QueryFilters| Filters::new(Given::default(), file).unwrap();
        assert_eq!(
            with_file(file.clone()).fingerprint(),
            with_file(reordered).fingerprint()
        );
        assert_ne!(
            with_file(file).fingerprint(),
            Filters::default().fingerprint()
        );
    }

    /// A filter file as text, in the shape the API documents.
    const SAMPLE: &str = r#"{
        "segmentFilters": [
            {"type": "or", "predicates": [
                {"type": "dimension", "dimension": "wrapUpCode", "operator": "matches", "value": "w1"},
                {"dimension": "disconnectType", "value": "client"},
                {"type": "property", "propertyType": "string", "property": "skill", "value": "fr"}]},
            {"type": "and", "clauses": [
                {"type": "or", "predicates": [{"metric": "tSegmentDuration", "range": {"gte": 1000.0, "lt": 2e3}}]}]}
        ],
        "conversationFilters": [
            {"type": "and", "predicates": [{"dimension": "externalTag", "operator": "exists"}]}
        ]
    }"#;

    #[test]
    fn a_filter_file_of_the_api_shape_is_read_as_sent() {
        let f = parse_file(SAMPLE.as_bytes()).unwrap();
        let sent = json!({"segmentFilters": f.segment, "conversationFilters": f.conversation});
        let want: Value = serde_json::from_str(SAMPLE).unwrap();
        assert_eq!(sent, want);
    }

    #[test]
    #[rustfmt::skip]
    fn filter_file_defects_are_named_with_where_they_are() {
        fn check(text: &str, want: &str) {
            let err = parse_file(text.as_bytes()).unwrap_err();
            assert!(err.contains(want), "{text}: {err}");
            assert!(!err.contains('\n'), "{err}");
        }
        check("", "is not JSON");
        check("{", "is not JSON");
        check("null", "is not a JSON object");
        check("{}", "holds no filter");
        check(r#"{"segmentFilters": [], "conversationFilters": []}"#, "holds no filter");
        check(r#"{"evaluationFilters": []}"#, "unknown key 'evaluationFilters'");
        check(r#"{"segmentFilters": null}"#, "segmentFilters is not an array");
        check(r#"{"segmentFilters": [3]}"#, "segmentFilters[0] is not a JSON object (a filter)");
        check(r#"{"segmentFilters": [{"predicates": [{"dimension": "queueId", "value": "q"}]}]}"#, "segmentFilters[0] has no type");
        check(r#"{"segmentFilters": [{"type": "AND", "predicates": [{"dimension": "queueId", "value": "q"}]}]}"#, "segmentFilters[0].type is 'AND': use and or or");
        check(r#"{"segmentFilters": [{"type": "and", "predicates": []}]}"#, "segmentFilters[0] has neither predicates nor clauses");
        check(r#"{"segmentFilters": [{"type": "and", "predicate": []}]}"#, "segmentFilters[0] has an unknown key 'predicate'");
        check(r#"{"segmentFilters": [{"type": "and", "clauses": [{"type": "or"}]}]}"#, "segmentFilters[0].clauses[0] has no predicates");
        check(r#"{"segmentFilters": [{"type": "and", "clauses": [{"type": "or", "clauses": []}]}]}"#, "segmentFilters[0].clauses[0] has an unknown key 'clauses'");
        check(r#"{"segmentFilters": [{"type": "and", "predicates": [{"value": "q"}]}]}"#, "segmentFilters[0].predicates[0] names no dimension, property or metric");
        check(r#"{"segmentFilters": [{"type": "and", "predicates": [{"dimension": "queueId", "metric": "tTalk", "value": "q"}]}]}"#, "names more than one of dimension, property and metric");
        check(r#"{"segmentFilters": [{"type": "and", "predicates": [{"type": "metric", "dimension": "queueId", "value": "q"}]}]}"#, "segmentFilters[0].predicates[0].type is 'metric' but it names a dimension");
        check(r#"{"segmentFilters": [{"type": "and", "predicates": [{"type": "field", "dimension": "queueId", "value": "q"}]}]}"#, "use dimension, property or metric");
        check(r#"{"segmentFilters": [{"type": "and", "predicates": [{"property": "skill", "value": "q"}]}]}"#, "property and propertyType go together");
        check(r#"{"segmentFilters": [{"type": "and", "predicates": [{"dimension": "queueId", "value": 7}]}]}"#, "segmentFilters[0].predicates[0].value is not a non-empty string");
        check(r#"{"segmentFilters": [{"type": "and", "predicates": [{"dimension": "queueId", "value": ""}]}]}"#, "value is not a non-empty string");
        check(r#"{"segmentFilters": [{"type": "and", "predicates": [{"dimension": "queueId", "operator": "equals", "value": "q"}]}]}"#, "operator is 'equals': use matches, exists or notExists");
        check(r#"{"segmentFilters": [{"type": "and", "predicates": [{"dimension": "queueId"}]}]}"#, "needs exactly one of value and range");
        check(r#"{"segmentFilters": [{"type": "and", "predicates": [{"metric": "tTalk", "value": "1", "range": {"gt": 1}}]}]}"#, "needs exactly one of value and range");
        check(r#"{"segmentFilters": [{"type": "and", "predicates": [{"dimension": "queueId", "operator": "notExists", "value": "q"}]}]}"#, "exists and notExists take no value or range");
        check(r#"{"segmentFilters": [{"type": "and", "predicates": [{"metric": "tTalk", "range": {}}]}]}"#, "range has no bound");
        check(r#"{"segmentFilters": [{"type": "and", "predicates": [{"metric": "tTalk", "range": {"gt": "1"}}]}]}"#, "range.gt is not a number");
        check(r#"{"segmentFilters": [{"type": "and", "predicates": [{"metric": "tTalk", "range": {"above": 1}}]}]}"#, "range has an unknown key 'above'");
        check(r#"{"conversationFilters": [{"type": "and", "predicates": [{"propertyType": "string", "property": "x", "value": "y"}]}]}"#, "conversationFilters[0].predicates[0] has an unknown key");
        let many: Vec<Value> = (0..MAX_VALUES).map(|_| json!({"dimension": "queueId", "value": "q"})).collect();
        check(&json!({"segmentFilters": [{"type": "or", "predicates": many}]}).to_string(), "holds more than 1000");
    }

    /// What `parse_file` read, written back as a file.
    fn written(f: &QueryFilters) -> Vec<u8> {
        serde_json::to_vec(
            &json!({"segmentFilters": f.segment, "conversationFilters": f.conversation}),
        )
        .unwrap()
    }

    #[test]
    fn prop_any_filter_file_is_read_or_refused_in_one_line_and_what_is_read_reads_back() {
        prop::run(|rng| {
            let text = match rng.below(3) {
                0 => rng.mutated_json(SAMPLE),
                1 => rng.json_value(4).to_string(),
                _ => {
                    let mut value: Value = serde_json::from_str(SAMPLE).unwrap();
                    value["segmentFilters"][0]["predicates"][0] = rng.json_value(2);
                    value.to_string()
                }
            };
            match parse_file(text.as_bytes()) {
                Ok(f) => assert_eq!(parse_file(&written(&f)).unwrap(), f, "{text}"),
                Err(e) => assert!(!e.contains('\n') && !e.is_empty(), "{e}"),
            }
        });
    }

    #[test]
    fn prop_the_same_values_in_any_order_give_the_same_export() {
        const NAMES: [&str; 4] = ["Billing", "billing", "Sales", Q2];
        prop::run(|rng| {
            let draw = |rng: &mut prop::Rng, from: &[&str]| -> Vec<String> {
                (0..rng.below(5))
                    .map(|_| rng.pick(from).to_string())
                    .collect()
            };
            let given = Given {
                queues: draw(rng, &NAMES),
                media: draw(rng, &MEDIA_TYPES),
                directions: draw(rng, &DIRECTIONS),
                users: draw(rng, &[U1, Q1]),
                divisions: draw(rng, &[D1]),
            };
            let mut shuffled = given.clone();
            for list in [
                &mut shuffled.queues,
                &mut shuffled.media,
                &mut shuffled.directions,
                &mut shuffled.users,
                &mut shuffled.divisions,
            ] {
                list.reverse();
                if let Some(first) = list.first().cloned() {
                    list.push(first);
                }
            }
            let (a, b) = (filters(given), filters(shuffled));
            assert_eq!(a.fingerprint(), b.fingerprint());
            let resolved = [("billing", Q1), ("sales", Q2)];
            assert_eq!(wire(&a, &resolved), wire(&b, &resolved));
        });
    }
}
