//! Genesys Cloud wire types and endpoint paths: what is sent and what comes back.
//!
//! Pure data with serde; no I/O. Only the fields this tool reads are declared: serde ignores the
//! rest, and JSON Lines output keeps each conversation's original text (`RawValue`), so nothing
//! the API adds later is lost. The region table maps `GENESYSCLOUD_REGION` values to hosts.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::json::{self, Reader};
use crate::record::{Conversation, Nodes, Parsed, Reading};

pub use crate::results::{read_results, read_results_in, read_spans, ReadError, Span};

pub use crate::query::{
    Clause, DetailsQuery, Filter, JobQuery, NumericRange, Predicate, QueryFilters,
};

pub const TOKEN_PATH: &str = "/oauth/token";
pub const DETAILS_QUERY_PATH: &str = "/api/v2/analytics/conversations/details/query";
pub const QUEUES_PATH: &str = "/api/v2/routing/queues";
pub const JOBS_PATH: &str = "/api/v2/analytics/conversations/details/jobs";
pub const AVAILABILITY_PATH: &str = "/api/v2/analytics/conversations/details/jobs/availability";
/// Conversations by id: `GET …/details?id=A,B,…`.
pub const BY_ID_PATH: &str = "/api/v2/analytics/conversations/details";
pub const USERS_PATH: &str = "/api/v2/users";
pub const WRAP_UP_CODES_PATH: &str = "/api/v2/routing/wrapupcodes";

/// The largest page the details query is known to accept.
pub const MAX_PAGE_SIZE: u32 = 100;
/// The most queue ids one lookup request carries.
pub const MAX_QUEUE_IDS_PER_LOOKUP: usize = 100;
/// The most conversation ids one by-id request carries at first; a refusal steps down.
pub const MAX_IDS_PER_REQUEST: usize = 100;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobSubmitted {
    pub job_id: String,
}

impl JobSubmitted {
    pub fn check(&self) -> Result<(), String> {
        non_empty("jobId", &self.job_id)
    }
}

/// The states of an analytics job (`AsyncQueryStatus.state`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobState {
    Queued,
    Pending,
    Fulfilled,
    Failed,
    Cancelled,
    Expired,
    /// A state this build does not know; treated as still running, within the job timeout.
    #[serde(other)]
    Unknown,
}

impl JobState {
    pub fn name(self) -> &'static str {
        match self {
            JobState::Queued => "QUEUED",
            JobState::Pending => "PENDING",
            JobState::Fulfilled => "FULFILLED",
            JobState::Failed => "FAILED",
            JobState::Cancelled => "CANCELLED",
            JobState::Expired => "EXPIRED",
            JobState::Unknown => "an unknown state",
        }
    }
}

/// `AsyncQueryStatus`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobStatus {
    pub state: JobState,
    #[serde(default)]
    pub error_message: Option<String>,
    /// When the job's results expire (RFC 3339).
    #[serde(default)]
    pub expiration_date: Option<String>,
}

impl JobStatus {
    pub fn check(&self) -> Result<(), String> {
        match &self.expiration_date {
            Some(date) if crate::window::parse_api_timestamp(date).is_none() => {
                Err("an unreadable expirationDate".to_string())
            }
            _ => Ok(()),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Availability {
    pub data_availability_date: String,
}

impl Availability {
    pub fn check(&self) -> Result<(), String> {
        match crate::window::parse_api_timestamp(&self.data_availability_date) {
            Some(_) => Ok(()),
            None => Err("an unreadable dataAvailabilityDate".to_string()),
        }
    }
}

/// The path of a job's status.
pub fn job_path(job_id: &str) -> String {
    format!("{JOBS_PATH}/{}", percent_encode(job_id))
}

/// One page of a job's results: the job, the page size and the cursor (`None`: the first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResultsPage<'a> {
    pub job_id: &'a str,
    pub page_size: u32,
    pub cursor: Option<&'a str>,
}

impl ResultsPage<'_> {
    /// The path of the page.
    pub fn path(&self) -> String {
        let mut path = format!(
            "{}/results?pageSize={}",
            job_path(self.job_id),
            self.page_size
        );
        if let Some(cursor) = self.cursor {
            path.push_str("&cursor=");
            path.push_str(&percent_encode(cursor));
        }
        path
    }
}

/// A details query response, read and checked (`DetailsPage::read`): its conversations
/// parsed once. Past the last page there are none.
#[derive(Debug)]
pub struct DetailsPage {
    pub conversations: Parsed,
    pub total_hits: Option<u64>,
}

/// A details query response as the wire has it (`conversations`, `totalHits`; each may be
/// `null` or absent, neither given twice), its conversations read to `reading`'s depth in
/// the same pass, each keeping its text.
fn details_reply<'a>(
    text: &'a str,
    reading: Reading,
    nodes: &mut Nodes<'a>,
) -> Result<(Vec<Conversation<'a>>, Option<u64>), String> {
    let mut reader = Reader::new(text);
    let (mut conversations, mut hits) = (None, None);
    let unreadable = |e| format!("unreadable JSON ({e})");
    reader
        .object(|r, key| match key.as_ref() {
            "conversations" if conversations.is_some() => Err(json::duplicate(&key)),
            "conversations" => {
                let mut views = Vec::new();
                if !r.null()? {
                    r.array(|r| {
                        let view = Conversation::read_within(r, reading.depth(), nodes)?;
                        views.push(view.kept_for(reading, nodes));
                        Ok(())
                    })?;
                }
                conversations = Some(views);
                Ok(())
            }
            "totalHits" if hits.is_some() => Err(json::duplicate(&key)),
            "totalHits" => {
                hits = Some(match r.null()? {
                    true => None,
                    false => Some(json::unsigned(r.number()?).ok_or("a totalHits out of range")?),
                });
                Ok(())
            }
            _ => r.skip(),
        })
        .and_then(|()| reader.end())
        .map_err(unreadable)?;
    Ok((conversations.unwrap_or_default(), hits.flatten()))
}

impl DetailsPage {
    /// Reads a reply's body: a JSON object whose conversations each have an id and a start
    /// (`Conversation::read`), and, on the first page of a window that reports hits, some.
    /// With `Reading::Places` (a writer that reads each conversation's text and place alone:
    /// JSON Lines) each conversation's text is kept beside a view trimmed to its place;
    /// otherwise the reply is read in one pass, whole or for its shape (`Reading::depth`).
    pub fn read<B: AsRef<[u8]> + Send + 'static>(
        body: B,
        first_page: bool,
        reading: Reading,
    ) -> Result<DetailsPage, String> {
        let (conversations, hits) = Parsed::from_body(body, |body: &B, nodes| {
            details_reply(object_text(body.as_ref())?, reading, nodes)
        })?;
        let carried = conversations.views().len();
        match hits.unwrap_or(0) {
            hits if first_page && hits > 0 && carried == 0 => Err(format!(
                "a first page that reports {hits} hits but carries no conversations"
            )),
            _ => Ok(DetailsPage {
                conversations,
                total_hits: hits,
            }),
        }
    }
}

fn non_empty(field: &str, value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err(format!("an empty {field}"));
    }
    Ok(())
}

/// The token endpoint's success body. Without `expires_in` a short lifetime is assumed.
#[derive(Debug, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    #[serde(default)]
    pub expires_in: Option<u64>,
}

impl TokenResponse {
    pub fn check(&self) -> Result<(), String> {
        non_empty("access_token", &self.access_token)
    }
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

/// A request the API refused for good, as data: rendered only when shown to the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub method: &'static str,
    pub url: String,
    /// The API's `code` (`bad.request`, `not.found`, …) or the token endpoint's `error`.
    pub code: Option<String>,
    /// The API's `message`, or the token endpoint's `error_description`.
    pub message: Option<String>,
    pub correlation_id: Option<String>,
    /// The body was an HTML page (a load balancer or proxy), not the API's error body.
    pub html: bool,
}

impl Refusal {
    /// `HTTP 400 bad.request: message [ININ-Correlation-Id …]`, for logs and errors.
    pub fn status_line(&self) -> String {
        let mut text = format!("HTTP {}", self.status);
        if self.html {
            text.push_str(" (an HTML error page)");
        }
        if let Some(code) = &self.code {
            text.push(' ');
            text.push_str(&one_line(code));
        }
        if let Some(message) = &self.message {
            text.push_str(": ");
            text.push_str(one_line(message).trim_end_matches('.'));
        }
        if let Some(id) = &self.correlation_id {
            text.push_str(&format!(" [ININ-Correlation-Id {}]", one_line(id)));
        }
        text
    }

    /// What a refusal in an error's chain means, if the error holds one.
    pub fn kind_of(e: &anyhow::Error) -> Option<RefusalKind> {
        e.chain()
            .find_map(|cause| cause.downcast_ref::<Refusal>())
            .map(Refusal::kind)
    }

    /// What the refusal means for the export.
    pub fn kind(&self) -> RefusalKind {
        let code = self.code.as_deref().unwrap_or_default();
        let message = self
            .message
            .as_deref()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if self.status == 404 || code.contains("expired") {
            return RefusalKind::Gone;
        }
        if self.status != 400 {
            return RefusalKind::Other;
        }
        if message.contains("pagination may not exceed") {
            return RefusalKind::PagingCap;
        }
        if message.contains("interval")
            && (message.contains("longer") || message.contains("exceed"))
        {
            return RefusalKind::IntervalTooLong;
        }
        if self.url.contains(BY_ID_PATH)
            && query_param(&self.url, "id").is_some_and(|ids| ids.contains(','))
        {
            // A by-id request of several ids: the API's ceiling is not documented, whatever
            // its words, asking for fewer at once is the way on.
            return RefusalKind::TooManyIds;
        }
        if message.contains("pagesize") || message.contains("page size") {
            let requested = query_param(&self.url, "pageSize").and_then(|v| v.parse().ok());
            return RefusalKind::PageSize {
                ceiling: stated_ceiling(&message, requested),
            };
        }
        RefusalKind::Other
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the API refused {} {}: {}",
            self.method,
            self.url,
            self.status_line()
        )
    }
}

impl std::error::Error for Refusal {}

/// A server's text on one line: control characters (newlines, escapes) become spaces.
pub fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The meaning of a refusal, decided from its status, code and message fields, never from
/// the rendered text (which holds the URL, and the URL holds `pageSize=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefusalKind {
    /// The details query or job results will not page this far.
    PagingCap,
    /// The page size is too large; the largest size the message states, if any.
    PageSize {
        ceiling: Option<u32>,
    },
    /// The interval is longer than the API accepts (a job's interval).
    IntervalTooLong,
    /// The resource (a job) no longer exists, or has expired.
    Gone,
    /// A by-id request of several conversations was refused: ask for fewer at once.
    TooManyIds,
    Other,
}

/// The largest number in a page-size refusal's message that is below the size requested: the
/// ceiling it states ("at most 1000", "between 1 and 1000", "exceeds the maximum of 1000").
fn stated_ceiling(message: &str, requested: Option<u32>) -> Option<u32> {
    message
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse::<u32>().ok())
        .filter(|&n| n >= 1 && requested.is_none_or(|r| n < r))
        .max()
}

/// The first value of `name` in a URL's query string.
fn query_param<'a>(url: &'a str, name: &str) -> Option<&'a str> {
    let query = url.split_once('?')?.1;
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// Parses a 2xx body that must be a JSON object (a derived struct would also accept an array).
pub fn parse_object<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, String> {
    let text = object_text(body)?;
    serde_json::from_str(text).map_err(|e| format!("unreadable JSON ({e})"))
}

/// A 2xx body's text, which must be a JSON object: UTF-8, its first non-blank byte `{`.
fn object_text(body: &[u8]) -> Result<&str, String> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    match first {
        None => return Err("an empty body".to_string()),
        Some(b'{') => {}
        Some(_) => return Err("a body that is not a JSON object".to_string()),
    }
    // UTF-8 checked once for the whole body: serde_json reading a byte slice would check each
    // string it borrows on its own, at a cost per string.
    std::str::from_utf8(body)
        .map_err(|e| format!("unreadable JSON (not UTF-8 at byte {})", e.valid_up_to()))
}

/// A page of named entities: the reply of a bulk lookup of queues (`QueueEntityListing`),
/// users (`UserEntityListing`) or wrap-up codes (`WrapupCodeEntityListing`), of which only
/// `id` and `name` are read.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueListing {
    #[serde(default)]
    pub entities: Vec<Queue>,
    /// The number of pages of a search, when the reply says.
    #[serde(default)]
    pub page_count: Option<u64>,
}

/// The reply of any bulk lookup by id.
pub type NameListing = QueueListing;

impl QueueListing {
    pub fn check(&self) -> Result<(), String> {
        self.entities
            .iter()
            .try_for_each(|queue| non_empty("entity id", &queue.id))
    }
}

/// What a bulk lookup by id resolves to names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    Queues,
    Users,
    WrapUpCodes,
}

impl Lookup {
    /// The path and query of a lookup of `ids` (at most `MAX_QUEUE_IDS_PER_LOOKUP`): every id
    /// repeated as `id=`, one page as large as the ids. Users are asked in any state, so
    /// that agents who have left are named too.
    /// Page `page` (1 unless a server pages the reply) of the lookup of `ids`.
    pub fn page_path(self, ids: &[String], page: u32) -> String {
        let (base, extra) = match self {
            Lookup::Queues => (QUEUES_PATH, ""),
            Lookup::Users => (USERS_PATH, "&state=any"),
            Lookup::WrapUpCodes => (WRAP_UP_CODES_PATH, ""),
        };
        let mut path = format!(
            "{base}?pageSize={}&pageNumber={page}{extra}",
            ids.len().max(1)
        );
        for id in ids {
            path.push_str("&id=");
            path.push_str(&percent_encode(id));
        }
        path
    }

    /// What the looked-up entities are called, plural, in log lines.
    pub fn noun(self) -> &'static str {
        match self {
            Lookup::Queues => "queue",
            Lookup::Users => "user",
            Lookup::WrapUpCodes => "wrap-up code",
        }
    }

    /// The name of an id that is never looked up: a system wrap-up code (`ININ-…`, such as
    /// `ININ-WRAP-UP-TIMEOUT`) is not in the org's list and names itself.
    pub fn fixed_name(self, id: &str) -> Option<&str> {
        (self == Lookup::WrapUpCodes && id.starts_with("ININ-")).then_some(id)
    }

    /// The permission a 403 on this lookup means the OAuth client's role lacks.
    /// `GET /api/v2/users` is documented as needing none; orgs that refuse it to a role
    /// without `directory:user:view` are the ones a 403 comes from.
    pub fn permission(self) -> &'static str {
        match self {
            Lookup::Queues => "routing:queue:view",
            Lookup::Users => "directory:user:view",
            Lookup::WrapUpCodes => "routing:wrapupCode:view",
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct Queue {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
}

/// The path asking for these conversations by id, comma-separated.
pub fn by_id_path(ids: &[String]) -> String {
    let ids: Vec<String> = ids.iter().map(|id| percent_encode(id)).collect();
    format!("{BY_ID_PATH}?id={}", ids.join(","))
}

/// `GET …/details?id=…` response (`AnalyticsConversationWithoutAttributesMultiGetResponse`):
/// the conversations asked for that exist; an unknown id is simply absent.
#[derive(Debug, Deserialize)]
pub struct MultiGet {
    #[serde(default)]
    pub conversations: Option<Vec<Box<RawValue>>>,
}

impl MultiGet {
    /// Every conversation has the shape the export reads and is one of those asked for.
    pub fn check(&self, asked: &[String]) -> Result<(), String> {
        for raw in self.conversations.as_deref().unwrap_or_default() {
            let id = Conversation::read(raw.get())?.head.conversation_id;
            if !asked.iter().any(|a| *a == id) {
                return Err(format!("conversation {} was not asked for", one_line(&id)));
            }
        }
        Ok(())
    }
}

/// Queues per page of a search by name.
pub const QUEUE_SEARCH_PAGE_SIZE: u32 = 100;

/// The path and query of page `page_number` of a queue search by name:
/// `?name=…&pageSize=100&pageNumber=N`.
pub fn queue_search_path(name: &str, page_number: u32) -> String {
    format!(
        "{QUEUES_PATH}?name={}&pageSize={QUEUE_SEARCH_PAGE_SIZE}&pageNumber={page_number}",
        percent_encode(name)
    )
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
        let q = DetailsQuery::page("a/b".into(), 100, 3, false, &QueryFilters::default());
        assert_eq!(
            serde_json::to_string(&q).unwrap(),
            r#"{"interval":"a/b","order":"asc","orderBy":"conversationStart","paging":{"pageSize":100,"pageNumber":3}}"#
        );
        let q = DetailsQuery::page("a/b".into(), 50, 1, true, &QueryFilters::default());
        let v = serde_json::to_value(&q).unwrap();
        assert_eq!(
            v["conversationFilters"][0]["predicates"][0],
            serde_json::json!({"type":"dimension","dimension":"conversationEnd","operator":"exists"})
        );
    }

    #[test]
    fn past_the_last_page_has_no_conversations() {
        let page =
            DetailsPage::read(br#"{"totalHits":250}"#.to_vec(), false, Reading::Whole).unwrap();
        assert!(page.conversations.heads().is_empty());
        assert_eq!(page.total_hits, Some(250));
    }

    #[test]
    fn job_bodies_and_paths() {
        let q = JobQuery::new("a/b".into(), false, &QueryFilters::default());
        assert_eq!(
            serde_json::to_string(&q).unwrap(),
            r#"{"interval":"a/b","orderBy":"conversationStart","startOfDayIntervalMatching":true}"#
        );
        assert_eq!(
            ResultsPage {
                job_id: "j-1",
                page_size: 1000,
                cursor: Some("x/y=")
            }
            .path(),
            "/api/v2/analytics/conversations/details/jobs/j-1/results?pageSize=1000&cursor=x%2Fy%3D"
        );
        let status: JobStatus = serde_json::from_str(
            r#"{"state":"FAILED","errorMessage":"boom","submissionDate":"x"}"#,
        )
        .unwrap();
        assert_eq!(
            (status.state, status.error_message.as_deref()),
            (JobState::Failed, Some("boom"))
        );
    }

    /// The ids `read_results` hands over, and the cursor, or why it stopped.
    #[test]
    fn job_states_outside_the_known_ones_are_kept_apart() {
        let state = |s: &str| {
            serde_json::from_str::<JobStatus>(&format!(r#"{{"state":"{s}"}}"#))
                .unwrap()
                .state
        };
        assert_eq!(state("QUEUED"), JobState::Queued);
        assert_eq!(state("EXPIRED"), JobState::Expired);
        assert_eq!(state("PAUSED"), JobState::Unknown);
    }

    fn check_refusal(status: u16, code: &str, message: &str, url: &str, want: RefusalKind) {
        let refusal = Refusal {
            status,
            method: "GET",
            url: url.to_string(),
            code: Some(code.to_string()).filter(|c| !c.is_empty()),
            message: Some(message.to_string()).filter(|m| !m.is_empty()),
            correlation_id: Some("c-1".into()),
            html: false,
        };
        assert_eq!(refusal.kind(), want, "{status} {code} {message} {url}");
    }

    #[test]
    fn by_id_replies_carry_only_what_was_asked_in_shape() {
        let check = |body: &str, asked: &[&str], ok: bool| {
            let asked: Vec<String> = asked.iter().map(|s| s.to_string()).collect();
            let verdict = parse_object::<MultiGet>(body.as_bytes()).and_then(|m| m.check(&asked));
            assert_eq!(verdict.is_ok(), ok, "{body}: {verdict:?}");
        };
        let c = |id: &str| {
            format!(r#"{{"conversationId":"{id}","conversationStart":"2026-11-01T00:00:00Z"}}"#)
        };
        check(
            &format!(r#"{{"conversations":[{}]}}"#, c("a")),
            &["a", "b"],
            true,
        );
        check(r#"{"conversations":[]}"#, &["a"], true);
        check("{}", &["a"], true);
        check(
            &format!(r#"{{"conversations":[{}]}}"#, c("z")),
            &["a"],
            false,
        );
        check(
            r#"{"conversations":[{"conversationId":"a"}]}"#,
            &["a"],
            false,
        );
        check(r#"{"conversations":{}}"#, &["a"], false);
        check("[]", &["a"], false);
        assert_eq!(
            by_id_path(&["a-1".into(), "b 2".into()]),
            "/api/v2/analytics/conversations/details?id=a-1,b%202"
        );
    }

    #[test]
    fn refusals_are_classified_from_their_fields_not_their_rendering() {
        use RefusalKind::*;
        let results = "https://api.x/api/v2/analytics/conversations/details/jobs/j-1/results?pageSize=10000&cursor=c";
        let query = "https://api.x/api/v2/analytics/conversations/details/query";
        let size = |ceiling| PageSize { ceiling };
        let by_ids = "https://api.x/api/v2/analytics/conversations/details?id=a,b,c";
        let by_id = "https://api.x/api/v2/analytics/conversations/details?id=a";
        check_refusal(400, "bad.request", "Too many ids", by_ids, TooManyIds);
        check_refusal(400, "", "", by_ids, TooManyIds);
        check_refusal(400, "bad.request", "Too many ids", by_id, Other);
        check_refusal(403, "missing.permissions", "", by_ids, Other);
        check_refusal(404, "not.found", "", by_ids, Gone);
        check_refusal(
            400,
            "bad.request",
            "pageSize must be at most 1000",
            results,
            size(Some(1000)),
        );
        check_refusal(
            400,
            "bad.request",
            "pageSize must be between 1 and 1000",
            results,
            size(Some(1000)),
        );
        check_refusal(
            400,
            "bad.request",
            "The pageSize 10000 exceeds the maximum of 1000.",
            results,
            size(Some(1000)),
        );
        check_refusal(400, "bad.request", "Invalid pageSize", results, size(None));
        check_refusal(
            400,
            "bad.request",
            "Page size too large",
            results,
            size(None),
        );
        check_refusal(
            400,
            "analytics.job.expired",
            "The job has expired",
            results,
            Gone,
        );
        let jobs = "https://api.x/api/v2/analytics/conversations/details/jobs";
        check_refusal(
            400,
            "bad.request",
            "The interval may not be longer than 31 days.",
            jobs,
            IntervalTooLong,
        );
        check_refusal(
            400,
            "bad.request",
            "Interval exceeds the maximum of 31 days",
            jobs,
            IntervalTooLong,
        );
        check_refusal(404, "not.found", "Job ID not found", results, Gone);
        check_refusal(400, "bad.request", "Invalid cursor 'c'", results, Other);
        check_refusal(
            400,
            "bad.request",
            "Job ID is not fulfilled (state PENDING)",
            results,
            Other,
        );
        check_refusal(400, "", "", results, Other);
        check_refusal(
            400,
            "bad.request",
            "Pagination may not exceed 100000 results.",
            query,
            PagingCap,
        );
        check_refusal(
            400,
            "bad.request",
            "Pagination may not exceed 400000 results. Narrow the interval",
            results,
            PagingCap,
        );
        check_refusal(
            400,
            "bad.request",
            "The interval may not be longer than 31 days.",
            query,
            IntervalTooLong,
        );
        check_refusal(409, "conflict", "pageSize 5", results, Other);
    }

    /// Real-shaped replies of every type the export reads.
    const SAMPLES: [&str; 7] = [
        r#"{"conversations":[{"conversationId":"c-1","conversationStart":"2026-11-01T00:00:00.000Z","participants":[{"purpose":"agent","userId":"u","sessions":[{"mediaType":"voice","segments":[{"queueId":"q"}]}]}]}],"totalHits":1}"#,
        r#"{"conversations":[{"conversationId":"c-1","conversationStart":"2026-11-01T00:00:00.000Z"}],"cursor":"abc"}"#,
        r#"{"jobId":"j-1"}"#,
        r#"{"state":"FULFILLED","errorMessage":"x","expirationDate":"2026-11-02T00:00:00.000Z"}"#,
        r#"{"access_token":"t","token_type":"bearer","expires_in":86400}"#,
        r#"{"dataAvailabilityDate":"2026-11-01T00:00:00.000Z"}"#,
        r#"{"entities":[{"id":"q","name":"Q"}],"pageSize":1}"#,
    ];

    /// Parses `text` as `T` the way a 2xx is parsed, runs its check, and for conversations
    /// the row flattening: none of it may panic, and whatever passes the check has the
    /// fields the export relies on.
    fn parse_all(text: &str) {
        let body = text.as_bytes();
        // Read with each conversation's text kept, in one pass for its shape, or whole: the
        // same verdict and places.
        let [kept, shape, one_pass] = [Reading::Places, Reading::Shape, Reading::Whole].map(|r| {
            DetailsPage::read(body.to_vec(), true, r).map(|page| {
                let ids = |c: &Conversation| (c.conversation_id.to_string(), c.start());
                let heads = page.conversations.heads();
                (heads.iter().map(ids).collect::<Vec<_>>(), page.total_hits)
            })
        });
        for other in [&kept, &shape] {
            assert_eq!(
                other.is_ok(),
                one_pass.is_ok(),
                "{text}: {other:?} {one_pass:?}"
            );
            if let (Ok(other), Ok(one_pass)) = (other, &one_pass) {
                assert_eq!(other, one_pass, "{text}");
            }
        }
        if let Ok(page) = DetailsPage::read(body.to_vec(), true, Reading::Whole) {
            for c in page.conversations.views() {
                assert!(!c.conversation_id.is_empty());
                assert!(crate::window::parse_api_timestamp(&c.conversation_start).is_some());
                let all: Vec<_> = crate::columns::CATALOGUE.iter().collect();
                let _ = crate::rows::flatten_in(
                    c,
                    &all,
                    &|_, _| None,
                    &["a".to_string()],
                    crate::formula::Formulas::Guarded,
                    &crate::tz::UTC,
                );
            }
        }
        let _ = read_results(body, &mut |raw: &str| crate::record::check(raw));
        if let Ok(r) = parse_object::<JobSubmitted>(body) {
            assert!(r.check().is_err() || !r.job_id.trim().is_empty());
        }
        if let Ok(r) = parse_object::<JobStatus>(body) {
            let _ = r.check();
        }
        if let Ok(r) = parse_object::<TokenResponse>(body) {
            let _ = r.check();
            let _ = crate::auth::lifetime(r.expires_in);
        }
        if let Ok(r) = parse_object::<Availability>(body) {
            let _ = r.check();
        }
        if let Ok(r) = parse_object::<QueueListing>(body) {
            let _ = r.check();
        }
        let _ = serde_json::from_slice::<ErrorBody>(body);
        let _ = serde_json::from_slice::<AuthErrorBody>(body);
    }

    #[test]
    fn prop_every_reply_type_survives_random_truncated_and_type_confused_json() {
        for sample in SAMPLES {
            parse_all(sample);
        }
        crate::prop::run(|rng| {
            let sample = *rng.pick(&SAMPLES);
            let text = match rng.below(4) {
                0 => rng.json_value(3).to_string(),
                1 => rng.unicode(30),
                _ => rng.mutated_json(sample),
            };
            parse_all(&text);
        });
    }

    #[test]
    fn prop_refusals_classify_without_panicking() {
        crate::prop::run(|rng| {
            let refusal = Refusal {
                status: rng.below(1000) as u16,
                method: "GET",
                url: format!(
                    "https://x/y?pageSize={}&cursor={}",
                    rng.number_text(),
                    rng.ascii(5)
                ),
                code: Some(rng.any_text()),
                message: Some(format!("pageSize {} {}", rng.number_text(), rng.any_text())),
                correlation_id: None,
                html: false,
            };
            if let RefusalKind::PageSize { ceiling: Some(c) } = refusal.kind() {
                assert!(c >= 1);
            }
            // Rendered on one line whatever the server sent.
            assert!(!refusal.to_string().chars().any(char::is_control));
        });
    }

    #[test]
    fn queue_lookup_repeats_id() {
        let ids = vec!["a1".to_string(), "b 2&".to_string()];
        assert_eq!(
            Lookup::Queues.page_path(&ids, 1),
            "/api/v2/routing/queues?pageSize=2&pageNumber=1&id=a1&id=b%202%26"
        );
        assert_eq!(
            Lookup::Users.page_path(&ids, 1),
            "/api/v2/users?pageSize=2&pageNumber=1&state=any&id=a1&id=b%202%26"
        );
        assert_eq!(
            Lookup::WrapUpCodes.page_path(&ids[..1], 1),
            "/api/v2/routing/wrapupcodes?pageSize=1&pageNumber=1&id=a1"
        );
        assert_eq!(
            Lookup::WrapUpCodes.fixed_name("ININ-WRAP-UP-TIMEOUT"),
            Some("ININ-WRAP-UP-TIMEOUT")
        );
        assert_eq!(Lookup::Users.fixed_name("ININ-X"), None);
    }
}
