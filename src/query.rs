//! The bodies of the details query and of analytics jobs, as sent: the interval, the paging
//! and the filters.
//!
//! Pure data with serde; no I/O. `api.rs` re-exports these types with the other wire types;
//! what comes back is read there and in `record.rs`.

use serde::Serialize;

/// The body of `POST /api/v2/analytics/conversations/details/query`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DetailsQuery {
    pub interval: String,
    pub order: &'static str,
    pub order_by: &'static str,
    pub paging: Paging,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub segment_filters: Vec<Filter>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conversation_filters: Vec<Filter>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Paging {
    pub page_size: u32,
    pub page_number: u32,
}

/// A `SegmentDetailQueryFilter` or `ConversationDetailQueryFilter`: its predicates and clauses
/// joined by `kind` (`and` or `or`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Filter {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub clauses: Vec<Clause>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub predicates: Vec<Predicate>,
}

/// One nested group of a filter (`…DetailQueryClause`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Clause {
    #[serde(rename = "type")]
    pub kind: String,
    pub predicates: Vec<Predicate>,
}

/// One `…DetailQueryPredicate`: a left-hand side (dimension, property or metric), an operator
/// and a right-hand side (value or range); absent fields are not sent.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Predicate {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dimension: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub property_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub property: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range: Option<NumericRange>,
}

/// A predicate's numeric range (`NumericRange`).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct NumericRange {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gt: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gte: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lt: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lte: Option<f64>,
}

impl Predicate {
    /// `dimension matches value`.
    pub fn matches(dimension: &str, value: &str) -> Predicate {
        Predicate {
            kind: Some("dimension".to_string()),
            dimension: Some(dimension.to_string()),
            operator: Some("matches".to_string()),
            value: Some(value.to_string()),
            ..Predicate::default()
        }
    }
}

/// The filters a query or job carries besides the interval, segment and conversation ones;
/// every filter of a list must hold (the API ANDs them).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QueryFilters {
    pub segment: Vec<Filter>,
    pub conversation: Vec<Filter>,
}

impl QueryFilters {
    pub fn is_empty(&self) -> bool {
        self.segment.is_empty() && self.conversation.is_empty()
    }
}

/// The filters a query or job carries: with `ended_only`, only conversations that have ended,
/// then `extra`.
fn filters(ended_only: bool, extra: &QueryFilters) -> (Vec<Filter>, Vec<Filter>) {
    let mut conversation = Vec::new();
    if ended_only {
        conversation.push(Filter {
            kind: "and".to_string(),
            clauses: Vec::new(),
            predicates: vec![Predicate {
                kind: Some("dimension".to_string()),
                dimension: Some("conversationEnd".to_string()),
                operator: Some("exists".to_string()),
                ..Predicate::default()
            }],
        });
    }
    conversation.extend(extra.conversation.iter().cloned());
    (extra.segment.clone(), conversation)
}

impl DetailsQuery {
    /// Page `page_number` (1-based) of `interval`, oldest conversation first, narrowed by the
    /// `conversationEnd` filter with `ended_only` and by `extra`.
    pub fn page(
        interval: String,
        page_size: u32,
        page_number: u32,
        ended_only: bool,
        extra: &QueryFilters,
    ) -> Self {
        let (segment_filters, conversation_filters) = filters(ended_only, extra);
        DetailsQuery {
            interval,
            order: "asc",
            order_by: "conversationStart",
            paging: Paging {
                page_size,
                page_number,
            },
            segment_filters,
            conversation_filters,
        }
    }
}

/// The body of `POST …/details/jobs` (`AsyncConversationQuery`).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobQuery {
    pub interval: String,
    pub order_by: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub segment_filters: Vec<Filter>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conversation_filters: Vec<Filter>,
    /// Only conversations that started on or after the interval's first UTC day: fewer
    /// conversations from before the window that are not ours to write.
    pub start_of_day_interval_matching: bool,
}

impl JobQuery {
    /// A job over `interval`, with the same filters a details query of it would carry.
    pub fn new(interval: String, ended_only: bool, extra: &QueryFilters) -> JobQuery {
        let (segment_filters, conversation_filters) = filters(ended_only, extra);
        JobQuery {
            interval,
            order_by: "conversationStart",
            segment_filters,
            conversation_filters,
            start_of_day_interval_matching: true,
        }
    }
}
