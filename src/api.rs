//! Genesys Cloud wire types and endpoint paths: what is sent and what comes back.
//!
//! Pure data with serde; no I/O. Only the fields this tool reads are declared: serde ignores the
//! rest, and JSON Lines output keeps each conversation's original text (`RawValue`), so nothing
//! the API adds later is lost. The region table maps `GENESYSCLOUD_REGION` values to hosts.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

pub const TOKEN_PATH: &str = "/oauth/token";
pub const DETAILS_QUERY_PATH: &str = "/api/v2/analytics/conversations/details/query";
pub const QUEUES_PATH: &str = "/api/v2/routing/queues";
pub const JOBS_PATH: &str = "/api/v2/analytics/conversations/details/jobs";
pub const AVAILABILITY_PATH: &str = "/api/v2/analytics/conversations/details/jobs/availability";

/// The largest page the details query is known to accept.
pub const MAX_PAGE_SIZE: u32 = 100;
/// The most queue ids one lookup request carries.
pub const MAX_QUEUE_IDS_PER_LOOKUP: usize = 100;

/// The body of `POST /api/v2/analytics/conversations/details/query`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DetailsQuery {
    pub interval: String,
    pub order: &'static str,
    pub order_by: &'static str,
    pub paging: Paging,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conversation_filters: Vec<Filter>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Paging {
    pub page_size: u32,
    pub page_number: u32,
}

#[derive(Debug, Serialize)]
pub struct Filter {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub predicates: Vec<Predicate>,
}

#[derive(Debug, Serialize)]
pub struct Predicate {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub dimension: &'static str,
    pub operator: &'static str,
}

impl DetailsQuery {
    /// Page `page_number` (1-based) of `interval`, oldest conversation first.
    pub fn page(interval: String, page_size: u32, page_number: u32, ended_only: bool) -> Self {
        let conversation_filters = if ended_only {
            vec![Filter {
                kind: "and",
                predicates: vec![Predicate {
                    kind: "dimension",
                    dimension: "conversationEnd",
                    operator: "exists",
                }],
            }]
        } else {
            Vec::new()
        };
        DetailsQuery {
            interval,
            order: "asc",
            order_by: "conversationStart",
            paging: Paging {
                page_size,
                page_number,
            },
            conversation_filters,
        }
    }
}

impl DetailsQuery {
    /// The body of a job submission for the same interval and filter (no paging).
    pub fn job(interval: String, ended_only: bool) -> JobQuery {
        let query = DetailsQuery::page(interval, 0, 0, ended_only);
        JobQuery {
            interval: query.interval,
            order_by: query.order_by,
            conversation_filters: query.conversation_filters,
            start_of_day_interval_matching: true,
        }
    }
}

/// The body of `POST …/details/jobs` (`AsyncConversationQuery`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobQuery {
    pub interval: String,
    pub order_by: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conversation_filters: Vec<Filter>,
    /// Only conversations that started on or after the interval's first UTC day: fewer
    /// conversations from before the window that are not ours to write.
    pub start_of_day_interval_matching: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobSubmitted {
    pub job_id: String,
}

/// `AsyncQueryStatus`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobStatus {
    pub state: String,
    #[serde(default)]
    pub error_message: Option<String>,
}

/// A page of job results; the last page has no `cursor`.
#[derive(Debug, Deserialize)]
pub struct JobResults {
    #[serde(default)]
    pub conversations: Option<Vec<Box<RawValue>>>,
    #[serde(default)]
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Availability {
    pub data_availability_date: String,
}

/// The path of a job's status.
pub fn job_path(job_id: &str) -> String {
    format!("{JOBS_PATH}/{}", percent_encode(job_id))
}

/// The path of a page of a job's results.
pub fn job_results_path(job_id: &str, page_size: u32, cursor: Option<&str>) -> String {
    let mut path = format!("{}/results?pageSize={page_size}", job_path(job_id));
    if let Some(cursor) = cursor {
        path.push_str("&cursor=");
        path.push_str(&percent_encode(cursor));
    }
    path
}

/// A details query response. Past the last page `conversations` is absent.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DetailsPage {
    #[serde(default)]
    pub conversations: Option<Vec<Box<RawValue>>>,
    #[serde(default)]
    pub total_hits: Option<u64>,
}

/// The fields of a conversation that the CSV schema uses.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Conversation {
    pub conversation_id: String,
    pub conversation_start: String,
    pub conversation_end: Option<String>,
    pub originating_direction: Option<String>,
    pub division_ids: Vec<String>,
    pub participants: Vec<Participant>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Participant {
    pub purpose: Option<String>,
    pub user_id: Option<String>,
    /// Custom participant data; only job results carry it.
    pub attributes: std::collections::BTreeMap<String, String>,
    pub sessions: Vec<Session>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Session {
    pub media_type: Option<String>,
    pub ani: Option<String>,
    pub dnis: Option<String>,
    pub segments: Vec<Segment>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Segment {
    pub queue_id: Option<String>,
    pub wrap_up_code: Option<String>,
}

/// The token endpoint's success body.
#[derive(Debug, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub expires_in: u64,
}

/// The token endpoint's error body, e.g. `{"error":"invalid_client", ...}`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AuthErrorBody {
    pub error: Option<String>,
    pub error_description: Option<String>,
    pub description: Option<String>,
}

/// The API's error body (`ErrorBody`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ErrorBody {
    pub message: Option<String>,
    pub code: Option<String>,
}

/// `GET /api/v2/routing/queues` response (`QueueEntityListing`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueListing {
    #[serde(default)]
    pub entities: Vec<Queue>,
}

#[derive(Debug, Deserialize)]
pub struct Queue {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
}

/// The path and query of a bulk queue lookup: `?id=A&id=B&pageSize=2&pageNumber=1`.
pub fn queue_lookup_path(ids: &[String]) -> String {
    let mut path = format!("{QUEUES_PATH}?pageSize={}&pageNumber=1", ids.len().max(1));
    for id in ids {
        path.push_str("&id=");
        path.push_str(&percent_encode(id));
    }
    path
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Region names (AWS style) and the domain each one's hosts live under.
pub const REGIONS: [(&str, &str); 18] = [
    ("us-east-1", "mypurecloud.com"),
    ("us-east-2", "use2.us-gov-pure.cloud"),
    ("us-west-2", "usw2.pure.cloud"),
    ("ca-central-1", "cac1.pure.cloud"),
    ("sa-east-1", "sae1.pure.cloud"),
    ("mx-central-1", "mxc1.pure.cloud"),
    ("eu-west-1", "mypurecloud.ie"),
    ("eu-west-2", "euw2.pure.cloud"),
    ("eu-central-1", "mypurecloud.de"),
    ("eu-central-2", "euc2.pure.cloud"),
    ("me-central-1", "mec1.pure.cloud"),
    ("ap-south-1", "aps1.pure.cloud"),
    ("ap-southeast-1", "apse1.pure.cloud"),
    ("ap-southeast-2", "mypurecloud.com.au"),
    ("ap-northeast-1", "mypurecloud.jp"),
    ("ap-northeast-2", "apne2.pure.cloud"),
    ("ap-northeast-3", "apne3.pure.cloud"),
    ("eusc-de-east-1", "edee1.eusc-pure.cloud"),
];

/// Resolves a region to its domain. A value with a dot is a domain already (as the official
/// CLI decides); otherwise it is a region name, with `-` or `_`, in any case.
pub fn region_domain(region: &str) -> Option<String> {
    let region = region.trim().to_ascii_lowercase();
    if region.contains('.') {
        let domain = region
            .trim_start_matches("https://")
            .trim_start_matches("api.")
            .trim_start_matches("login.")
            .trim_end_matches('/');
        return Some(domain.to_string());
    }
    let name = region.replace('_', "-");
    REGIONS
        .iter()
        .find(|(alias, _)| *alias == name)
        .map(|(_, domain)| domain.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_accept_names_underscores_and_domains() {
        let d = |r| region_domain(r);
        assert_eq!(d("eu-west-1").as_deref(), Some("mypurecloud.ie"));
        assert_eq!(d("eu_west_1").as_deref(), Some("mypurecloud.ie"));
        assert_eq!(d("EU-WEST-1").as_deref(), Some("mypurecloud.ie"));
        assert_eq!(d("me_central_1").as_deref(), Some("mec1.pure.cloud"));
        assert_eq!(d("us-east-1").as_deref(), Some("mypurecloud.com"));
        assert_eq!(d("mypurecloud.ie").as_deref(), Some("mypurecloud.ie"));
        assert_eq!(d("api.mypurecloud.de").as_deref(), Some("mypurecloud.de"));
        assert_eq!(
            d("eusc-de-east-1").as_deref(),
            Some("edee1.eusc-pure.cloud")
        );
        assert_eq!(d("eu-west-9"), None);
        assert_eq!(d(""), None);
    }

    #[test]
    fn query_body_matches_the_api_shape() {
        let q = DetailsQuery::page("a/b".into(), 100, 3, false);
        assert_eq!(
            serde_json::to_string(&q).unwrap(),
            r#"{"interval":"a/b","order":"asc","orderBy":"conversationStart","paging":{"pageSize":100,"pageNumber":3}}"#
        );
        let q = DetailsQuery::page("a/b".into(), 50, 1, true);
        let v = serde_json::to_value(&q).unwrap();
        assert_eq!(
            v["conversationFilters"][0]["predicates"][0],
            serde_json::json!({"type":"dimension","dimension":"conversationEnd","operator":"exists"})
        );
    }

    #[test]
    fn past_the_last_page_has_no_conversations() {
        let page: DetailsPage = serde_json::from_str(r#"{"totalHits":250}"#).unwrap();
        assert!(page.conversations.is_none());
        assert_eq!(page.total_hits, Some(250));
    }

    #[test]
    fn job_bodies_and_paths() {
        let q = DetailsQuery::job("a/b".into(), false);
        assert_eq!(
            serde_json::to_string(&q).unwrap(),
            r#"{"interval":"a/b","orderBy":"conversationStart","startOfDayIntervalMatching":true}"#
        );
        assert_eq!(
            job_results_path("j-1", 1000, Some("x/y=")),
            "/api/v2/analytics/conversations/details/jobs/j-1/results?pageSize=1000&cursor=x%2Fy%3D"
        );
        let status: JobStatus = serde_json::from_str(
            r#"{"state":"FAILED","errorMessage":"boom","submissionDate":"x"}"#,
        )
        .unwrap();
        assert_eq!(
            (status.state.as_str(), status.error_message.as_deref()),
            ("FAILED", Some("boom"))
        );
        let last: JobResults =
            serde_json::from_str(r#"{"conversations":[],"dataAvailabilityDate":"x"}"#).unwrap();
        assert!(last.cursor.is_none());
    }

    #[test]
    fn queue_lookup_repeats_id() {
        let ids = vec!["a1".to_string(), "b 2&".to_string()];
        assert_eq!(
            queue_lookup_path(&ids),
            "/api/v2/routing/queues?pageSize=2&pageNumber=1&id=a1&id=b%202%26"
        );
    }
}
