//! Real-socket tests of the simulator: a plain `TcpStream` writes raw HTTP/1.1 and reads the
//! raw answer, so resets and truncated bodies are observed exactly as a client sees them.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use genesys_sim::{
    ExpiresIn, Fault, Faults, JobFaults, PageSizeWording, RateLimit, Sim, SimConfig,
};
use serde_json::{json, Value};
use time::macros::datetime;

/// "sim-client:sim-secret" in base64.
const BASIC: &str = "Basic c2ltLWNsaWVudDpzaW0tc2VjcmV0";
const DETAILS: &str = "/api/v2/analytics/conversations/details/query";
const IO_TIMEOUT_SECS: u64 = 5;

/// What came back on the wire for one request.
#[derive(Debug)]
enum Wire {
    /// The server closed the connection without sending a byte.
    Closed,
    Response(RawResponse),
}

#[derive(Debug)]
struct RawResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// The Content-Length the server announced.
    content_length: usize,
}

impl RawResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not json ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    fn is_complete(&self) -> bool {
        self.body.len() == self.content_length
    }
}

impl Wire {
    fn response(self) -> RawResponse {
        match self {
            Wire::Response(r) => r,
            Wire::Closed => panic!("connection closed without a response"),
        }
    }
}

/// A keep-alive connection speaking raw HTTP/1.1.
struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Conn {
    fn open(sim: &Sim) -> Conn {
        let addr = sim.url().trim_start_matches("http://").to_string();
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(IO_TIMEOUT_SECS)))
            .unwrap();
        Conn {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        }
    }

    fn send(&mut self, method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Wire {
        let mut raw = format!("{method} {target} HTTP/1.1\r\nHost: sim\r\n");
        for (name, value) in headers {
            raw.push_str(&format!("{name}: {value}\r\n"));
        }
        if !body.is_empty() || method == "POST" {
            raw.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        raw.push_str("\r\n");
        let mut bytes = raw.into_bytes();
        bytes.extend_from_slice(body);
        self.writer.write_all(&bytes).unwrap();
        self.read_response()
    }

    fn read_response(&mut self) -> Wire {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => return Wire::Closed,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Wire::Closed,
            Err(e) => panic!("read failed: {e}"),
            Ok(_) => {}
        }
        let status: u16 = line.split(' ').nth(1).unwrap().parse().unwrap();
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line).unwrap();
            let trimmed = line.trim_end();
            if trimmed.is_empty() {
                break;
            }
            let (name, value) = trimmed.split_once(':').unwrap();
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
        // Only a 204 comes without a Content-Length, and it has no body.
        let content_length: usize = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| v.parse().unwrap())
            .unwrap_or_else(|| {
                assert_eq!(status, 204, "only a 204 may omit Content-Length");
                0
            });
        let mut body = Vec::new();
        (&mut self.reader)
            .take(content_length as u64)
            .read_to_end(&mut body)
            .unwrap();
        Wire::Response(RawResponse {
            status,
            headers,
            body,
            content_length,
        })
    }

    /// True when the server has closed its side (the next read sees end of stream).
    fn is_closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        matches!(self.reader.read(&mut byte), Ok(0) | Err(_))
    }

    fn token(&mut self) -> String {
        let response = self
            .token_request(BASIC, "grant_type=client_credentials")
            .response();
        assert_eq!(
            response.status,
            200,
            "{}",
            String::from_utf8_lossy(&response.body)
        );
        response.json()["access_token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn token_request(&mut self, authorization: &str, form: &str) -> Wire {
        let headers = [
            ("Authorization", authorization),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ];
        self.send("POST", "/oauth/token", &headers, form.as_bytes())
    }

    fn details(&mut self, token: &str, query: &Value) -> Wire {
        let bearer = format!("Bearer {token}");
        let headers = [
            ("Authorization", bearer.as_str()),
            ("Content-Type", "application/json"),
        ];
        self.send("POST", DETAILS, &headers, query.to_string().as_bytes())
    }

    fn get(&mut self, token: &str, target: &str) -> Wire {
        let bearer = format!("Bearer {token}");
        self.send("GET", target, &[("Authorization", bearer.as_str())], b"")
    }
}

fn small_config() -> SimConfig {
    SimConfig {
        conversations: 300,
        ..SimConfig::default()
    }
}

fn hour_query(page_number: u64) -> Value {
    json!({
        "interval": "2026-11-01T10:00:00.000Z/2026-11-01T16:00:00.000Z",
        "order": "asc",
        "paging": { "pageSize": 10, "pageNumber": page_number },
        "conversationFilters": [{ "type": "and", "predicates": [
            { "type": "dimension", "dimension": "conversationEnd", "operator": "exists" } ] }],
    })
}

#[test]
fn token_endpoint_grants_and_refuses() {
    let sim = Sim::start(small_config());
    let mut conn = Conn::open(&sim);
    let ok = conn
        .token_request(BASIC, "grant_type=client_credentials")
        .response();
    assert_eq!(ok.status, 200);
    let body = ok.json();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 3600);
    assert!(body["access_token"].as_str().unwrap().len() >= 40);
    assert!(ok.header("ININ-Correlation-Id").is_some());
    // The login service has no part in the API's rate limit; API replies carry its numbers.
    assert!(ok.header("inin-ratelimit-allowed").is_none());
    let token = body["access_token"].as_str().unwrap();
    let api = conn.details(token, &hour_query(1)).response();
    assert_eq!(api.header("inin-ratelimit-allowed"), Some("10000"));
    assert_eq!(api.header("inin-ratelimit-count"), Some("1"));
    assert!(api.header("inin-ratelimit-reset").is_some());

    let wrong = conn
        .token_request(
            "Basic c2ltLWNsaWVudDp3cm9uZw==",
            "grant_type=client_credentials",
        )
        .response();
    assert_eq!(wrong.status, 400);
    assert_eq!(wrong.json()["error"], "invalid_client");
    assert_eq!(wrong.json()["error_description"], "authentication failed");
    let grant = conn.token_request(BASIC, "grant_type=password").response();
    assert_eq!(grant.json()["error"], "unsupported_grant_type");
    let method = conn.send("GET", "/oauth/token", &[], b"").response();
    assert_eq!(method.status, 405);

    assert_eq!(
        sim.issued_tokens(),
        vec![body["access_token"].as_str().unwrap().to_string()]
    );
    let stats = sim.stats();
    assert_eq!((stats.token_requests, stats.tokens_issued), (4, 1));
}

#[test]
fn api_requires_a_valid_bearer_token() {
    let sim = Sim::start(small_config());
    let mut conn = Conn::open(&sim);
    let missing = conn.send("POST", DETAILS, &[], b"{}").response();
    assert_eq!(missing.status, 401);
    assert_eq!(missing.json()["code"], "authentication.required");
    let unknown = conn.details("not-a-token", &hour_query(1)).response();
    assert_eq!(unknown.status, 401);
    let body = unknown.json();
    assert_eq!(body["code"], "bad.credentials");
    assert_eq!(body["message"], "Invalid login credentials.");
    assert_eq!(body["status"], 401);
    assert_eq!(body["details"], json!([]));
    assert_eq!(
        body["contextId"].as_str(),
        unknown.header("ININ-Correlation-Id")
    );
    let not_found = conn.get("x", "/api/v2/nothing/here").response();
    assert_eq!(not_found.status, 404);
    assert_eq!(not_found.json()["code"], "not.found");
    let token = conn.token();
    let wrong_method = conn.get(&token, DETAILS).response();
    assert_eq!(wrong_method.status, 405);
}

#[test]
fn expired_tokens_are_rejected() {
    let sim = Sim::start(SimConfig {
        token_lifetime: Duration::from_secs(1),
        ..small_config()
    });
    let mut conn = Conn::open(&sim);
    let response = conn
        .token_request(BASIC, "grant_type=client_credentials")
        .response();
    assert_eq!(response.json()["expires_in"], 1);
    let token = response.json()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(conn.details(&token, &hour_query(1)).response().status, 200);
    sim.advance(Duration::from_secs(1));
    let expired = conn.details(&token, &hour_query(1)).response();
    assert_eq!(expired.status, 401);
    assert_eq!(expired.json()["code"], "bad.credentials");
    assert_eq!(sim.stats().expired_token_rejections, 1);
    let fresh = conn.token();
    assert_eq!(conn.details(&fresh, &hour_query(1)).response().status, 200);
}

#[test]
fn paging_walks_the_interval_and_ends_without_conversations() {
    let sim = Sim::start(small_config());
    let mut conn = Conn::open(&sim);
    let token = conn.token();
    let mut seen = Vec::new();
    let mut total_hits = None;
    for page in 1.. {
        let body = conn.details(&token, &hour_query(page)).response().json();
        total_hits = Some(body["totalHits"].as_u64().unwrap());
        let Some(conversations) = body.get("conversations") else {
            assert_eq!(
                body.as_object().unwrap().len(),
                1,
                "past-end page is just totalHits: {body}"
            );
            break;
        };
        let conversations = conversations.as_array().unwrap();
        assert!(!conversations.is_empty() && conversations.len() <= 10);
        for c in conversations {
            let id = c["conversationId"].as_str().unwrap().to_string();
            assert_eq!(sim.conversation(&id).as_ref(), Some(c));
            assert!(c.get("conversationEnd").is_some());
            seen.push((c["conversationStart"].as_str().unwrap().to_string(), id));
        }
    }
    assert_eq!(total_hits, Some(seen.len() as u64));
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "ascending by (start, id)");
    // Everything that started inside the interval is returned; earlier starts that still
    // overlap it may be returned as well.
    let from = datetime!(2026-11-01 10:00 UTC);
    let to = datetime!(2026-11-01 16:00 UTC);
    let inside: Vec<String> = seen
        .iter()
        .filter(|(start, _)| start.as_str() >= "2026-11-01T10:00:00.000Z")
        .map(|(_, id)| id.clone())
        .collect();
    assert_eq!(inside, sim.ended_ids(from, to));
    assert!(sim.stats().max_page_number as usize >= seen.len() / 10);
}

#[test]
fn descending_order_reverses_the_page_sequence() {
    let sim = Sim::start(small_config());
    let mut conn = Conn::open(&sim);
    let token = conn.token();
    let mut asc = hour_query(1);
    asc["paging"]["pageSize"] = json!(100);
    let mut desc = asc.clone();
    desc["order"] = json!("desc");
    let ids = |body: Value| -> Vec<String> {
        body["conversations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["conversationId"].as_str().unwrap().to_string())
            .collect()
    };
    let up = ids(conn.details(&token, &asc).response().json());
    let mut down = ids(conn.details(&token, &desc).response().json());
    down.reverse();
    assert_eq!(up, down);
}

#[test]
fn validation_errors_are_400_error_bodies() {
    let sim = Sim::start(SimConfig {
        result_cap: 1000,
        ..small_config()
    });
    let mut conn = Conn::open(&sim);
    let token = conn.token();
    let mut capped = hour_query(101);
    let response = conn.details(&token, &capped).response();
    assert_eq!(response.status, 400);
    let body = response.json();
    assert_eq!(body["code"], "bad.request");
    assert!(body["message"]
        .as_str()
        .unwrap()
        .starts_with("Pagination may not exceed 1000 results."));
    capped["paging"]["pageNumber"] = json!(100);
    assert_eq!(conn.details(&token, &capped).response().status, 200);
    let mut refused = |body: Value| {
        let response = conn.details(&token, &body).response();
        assert_error(&response, 400, "bad.request", "");
    };
    refused(json!({ "paging": { "pageSize": 10 } }));
    refused(json!({ "interval": "yesterday/today" }));
    refused(json!({ "interval": "2026-11-01T00:00:00Z/2026-11-09T00:00:00Z" }));
    refused(json!({ "interval": "2026-11-01T00:00:00Z/2026-11-02T00:00:00Z", "order": 5 }));
    let mut too_large = hour_query(1);
    too_large["paging"]["pageSize"] = json!(101);
    refused(too_large);
    let garbage = conn
        .send(
            "POST",
            DETAILS,
            &[("Authorization", &format!("Bearer {token}"))],
            b"{oops",
        )
        .response();
    assert_eq!(garbage.status, 400);
}

#[test]
fn queue_lookup_hides_deleted_queues() {
    let sim = Sim::start(small_config());
    let mut conn = Conn::open(&sim);
    let token = conn.token();
    let all = sim.queue_ids();
    let deleted = sim.deleted_queue_ids();
    assert_eq!((all.len(), deleted.len()), (12, 2));
    let target: String =
        all.iter().map(|id| format!("id={id}&")).collect::<String>() + "pageSize=100&pageNumber=1";
    let body = conn
        .get(&token, &format!("/api/v2/routing/queues?{target}"))
        .response()
        .json();
    let entities = body["entities"].as_array().unwrap();
    assert_eq!(entities.len(), 10);
    assert_eq!(body["total"], 10);
    assert_eq!(body["pageCount"], 1);
    for entity in entities {
        let id = entity["id"].as_str().unwrap();
        assert!(!deleted.contains(&id.to_string()));
        assert_eq!(entity["name"].as_str(), sim.queue_name(id).as_deref());
        assert!(entity["division"]["id"].is_string());
    }
    let names: Vec<&str> = entities
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"Support, \"Tier 2\"") && names.contains(&"サポート"));
    assert_eq!(sim.queue_name(&deleted[0]), None);

    let too_many: String = (0..101).map(|i| format!("id=q{i}&")).collect();
    let response = conn
        .get(
            &token,
            &format!("/api/v2/routing/queues?{too_many}pageSize=100"),
        )
        .response();
    assert_eq!(response.status, 400);
    assert_eq!(sim.stats().queue_requests, 2);
}

#[test]
fn forbidden_switches_answer_403() {
    let sim = Sim::start(SimConfig {
        details_forbidden: true,
        queues_forbidden: true,
        ..small_config()
    });
    let mut conn = Conn::open(&sim);
    let token = conn.token();
    for response in [
        conn.details(&token, &hour_query(1)).response(),
        conn.get(&token, "/api/v2/routing/queues?id=x").response(),
    ] {
        assert_eq!(response.status, 403);
        assert_eq!(response.json()["code"], "missing.permissions");
    }
}

#[test]
fn arrivals_grow_the_ground_truth_while_paging() {
    let sim = Sim::start(SimConfig {
        arrivals_per_page: 5,
        ..small_config()
    });
    let from = datetime!(2026-11-01 10:00 UTC);
    let to = datetime!(2026-11-01 16:00 UTC);
    let before = sim.ground_truth(from, to);
    let mut conn = Conn::open(&sim);
    let token = conn.token();
    conn.details(&token, &hour_query(1)).response();
    conn.details(&token, &hour_query(2)).response();
    assert_eq!(sim.ground_truth(from, to).len(), before.len() + 10);
    assert_eq!(sim.initial_ids(from, to), before);
    assert_eq!(sim.conversation_count(), 310);
}

#[test]
fn scripted_api_faults_reach_the_wire() {
    let faults = Faults {
        script: vec![
            (
                1,
                Fault::RateLimit {
                    retry_after: Some("7".to_string()),
                },
            ),
            (2, Fault::RateLimit { retry_after: None }),
            (3, Fault::Status(503)),
            (4, Fault::Html(502)),
            (5, Fault::BadJson),
            (6, Fault::Forbidden),
            (7, Fault::Truncate),
            (8, Fault::Reset),
            (9, Fault::Revoke),
        ],
        ..Faults::default()
    };
    let sim = Sim::start(SimConfig {
        faults,
        ..small_config()
    });
    let mut conn = Conn::open(&sim);
    let token = conn.token();
    let query = hour_query(1);

    let r = conn.details(&token, &query).response();
    assert_eq!((r.status, r.header("Retry-After")), (429, Some("7")));
    assert_eq!(r.json()["code"], "too.many.requests.retry.after");
    let r = conn.details(&token, &query).response();
    assert_eq!((r.status, r.header("Retry-After")), (429, None));
    let r = conn.details(&token, &query).response();
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["status"], 503);
    let r = conn.details(&token, &query).response();
    assert_eq!(
        (r.status, r.header("Content-Type")),
        (502, Some("text/html"))
    );
    assert!(String::from_utf8_lossy(&r.body).contains("<html>"));
    let r = conn.details(&token, &query).response();
    assert_eq!(
        (r.status, r.header("Content-Type")),
        (200, Some("application/json"))
    );
    assert!(r.is_complete());
    assert!(serde_json::from_slice::<Value>(&r.body).is_err());
    let r = conn.details(&token, &query).response();
    assert_eq!(r.status, 403);

    // Truncate: a 200 whose body stops at half its Content-Length, then the socket closes.
    let r = conn.details(&token, &query).response();
    assert_eq!(r.status, 200);
    assert!(r.content_length > 100);
    assert_eq!(r.body.len(), r.content_length / 2);
    assert!(conn.is_closed());

    // Reset: the request is read, then the connection closes with no response at all.
    let mut conn = Conn::open(&sim);
    assert!(matches!(conn.details(&token, &query), Wire::Closed));

    // Revoke: 401 for the token, and it stays dead; a new token works.
    let mut conn = Conn::open(&sim);
    let r = conn.details(&token, &query).response();
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["code"], "bad.credentials");
    assert_eq!(conn.details(&token, &query).response().status, 401);
    let fresh = conn.token();
    assert_eq!(conn.details(&fresh, &query).response().status, 200);

    assert_eq!(sim.stats().faults_injected, 9);
    assert_eq!(sim.stats().details_requests, 11);
}

#[test]
fn scripted_token_faults_reach_the_wire() {
    let token_faults = Faults {
        script: vec![
            (1, Fault::Reset),
            (2, Fault::Truncate),
            (3, Fault::Status(500)),
            (
                4,
                Fault::RateLimit {
                    retry_after: Some("Wed, 21 Oct 2015 07:28:00 GMT".to_string()),
                },
            ),
        ],
        ..Faults::default()
    };
    let sim = Sim::start(SimConfig {
        token_faults,
        ..small_config()
    });
    let mut conn = Conn::open(&sim);
    assert!(matches!(
        conn.token_request(BASIC, "grant_type=client_credentials"),
        Wire::Closed
    ));
    let mut conn = Conn::open(&sim);
    let r = conn
        .token_request(BASIC, "grant_type=client_credentials")
        .response();
    assert!(r.status == 200 && !r.is_complete());
    let mut conn = Conn::open(&sim);
    assert_eq!(
        conn.token_request(BASIC, "grant_type=client_credentials")
            .response()
            .status,
        500
    );
    let r = conn
        .token_request(BASIC, "grant_type=client_credentials")
        .response();
    assert_eq!(
        r.header("Retry-After"),
        Some("Wed, 21 Oct 2015 07:28:00 GMT")
    );
    let token = conn.token();
    assert_eq!(conn.details(&token, &hour_query(1)).response().status, 200);
    assert_eq!(sim.stats().token_requests, 5);
}

#[test]
fn random_faults_are_injected_at_roughly_the_configured_rate() {
    let faults = Faults {
        p_5xx: 0.3,
        ..Faults::default()
    };
    let sim = Sim::start(SimConfig {
        faults,
        ..small_config()
    });
    let mut conn = Conn::open(&sim);
    let token = conn.token();
    let n_errors = (0..100)
        .filter(|_| conn.details(&token, &hour_query(1)).response().status >= 500)
        .count();
    assert!((15..=45).contains(&n_errors), "{n_errors}");
    assert_eq!(sim.stats().faults_injected, n_errors as u64);
}

#[test]
fn drop_stops_the_server() {
    let sim = Sim::start(small_config());
    let mut conn = Conn::open(&sim);
    conn.token();
    let addr = sim.url().trim_start_matches("http://").to_string();
    drop(sim);
    assert!(conn.is_closed());
    // The listener is gone: connecting fails, or an accepted-by-backlog socket is closed.
    if let Ok(stream) = TcpStream::connect(&addr) {
        stream
            .set_read_timeout(Some(Duration::from_secs(IO_TIMEOUT_SECS)))
            .unwrap();
        let mut byte = [0u8; 1];
        let mut stream = stream;
        let _ = stream.write_all(b"GET / HTTP/1.1\r\n\r\n");
        assert!(matches!(stream.read(&mut byte), Ok(0) | Err(_)));
    }
}

// The asynchronous jobs API.

const JOBS: &str = "/api/v2/analytics/conversations/details/jobs";

impl Conn {
    fn submit_job(&mut self, token: &str, query: &Value) -> Wire {
        let bearer = format!("Bearer {token}");
        let headers = [
            ("Authorization", bearer.as_str()),
            ("Content-Type", "application/json"),
        ];
        self.send("POST", JOBS, &headers, query.to_string().as_bytes())
    }

    /// Submits a job that must be accepted and returns its id.
    fn job(&mut self, token: &str, query: &Value) -> String {
        let response = self.submit_job(token, query).response();
        assert_eq!(
            response.status,
            202,
            "{}",
            String::from_utf8_lossy(&response.body)
        );
        response.json()["jobId"].as_str().unwrap().to_string()
    }

    /// One status poll; returns the whole status body.
    fn poll(&mut self, token: &str, job_id: &str) -> Value {
        let response = self.get(token, &format!("{JOBS}/{job_id}")).response();
        assert_eq!(response.status, 200, "{:?}", response.json());
        response.json()
    }

    fn results(
        &mut self,
        token: &str,
        job_id: &str,
        cursor: Option<&str>,
        page_size: u64,
    ) -> RawResponse {
        let mut target = format!("{JOBS}/{job_id}/results?pageSize={page_size}");
        if let Some(cursor) = cursor {
            target.push_str(&format!("&cursor={}", percent_encode(cursor)));
        }
        self.get(token, &target).response()
    }

    /// Reads every results page and returns the conversations in order and the page count.
    fn all_results(&mut self, token: &str, job_id: &str, page_size: u64) -> (Vec<Value>, usize) {
        let mut conversations = Vec::new();
        let mut cursor: Option<String> = None;
        for n_pages in 1.. {
            let response = self.results(token, job_id, cursor.as_deref(), page_size);
            assert_eq!(response.status, 200, "{:?}", response.json());
            let body = response.json();
            let page = body["conversations"].as_array().unwrap();
            assert!(page.len() as u64 <= page_size);
            conversations.extend(page.iter().cloned());
            match body.get("cursor") {
                Some(next) => {
                    assert_eq!(page.len() as u64, page_size, "only the last page is short");
                    cursor = Some(next.as_str().unwrap().to_string());
                }
                None => return (conversations, n_pages),
            }
        }
        unreachable!()
    }

    fn delete(&mut self, token: &str, target: &str) -> Wire {
        let bearer = format!("Bearer {token}");
        self.send("DELETE", target, &[("Authorization", bearer.as_str())], b"")
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn job_query(interval: &str) -> Value {
    json!({ "interval": interval })
}

fn ids(conversations: &[Value]) -> Vec<String> {
    conversations
        .iter()
        .map(|c| c["conversationId"].as_str().unwrap().to_string())
        .collect()
}

fn assert_error(response: &RawResponse, status: u16, code: &str, message_start: &str) {
    let body = response.json();
    assert_eq!(response.status, status, "{body}");
    assert_eq!(body["code"], code, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.starts_with(message_start), "{message}");
}

#[test]
fn a_job_goes_from_queued_to_its_last_page() {
    let sim = Sim::start(small_config());
    let mut conn = Conn::open(&sim);
    let token = conn.token();
    let interval = "2026-11-01T10:00:00.000Z/2026-11-01T16:00:00.000Z";
    let job_id = conn.job(&token, &job_query(interval));
    assert_eq!(job_id.split('-').count(), 5, "{job_id}");

    // Results before fulfilment are refused, and they do not advance the job.
    let early = conn.results(&token, &job_id, None, 10);
    assert_error(
        &early,
        400,
        "bad.request",
        &format!("Job {job_id} is not fulfilled"),
    );
    let queued = conn.poll(&token, &job_id);
    assert_eq!(queued["state"], "QUEUED");
    for field in ["submissionDate", "expirationDate"] {
        assert!(queued[field].as_str().unwrap().ends_with('Z'), "{queued}");
    }
    assert!(queued.get("completionDate").is_none());
    assert!(queued.get("errorMessage").is_none());
    assert_eq!(conn.poll(&token, &job_id)["state"], "PENDING");
    let fulfilled = conn.poll(&token, &job_id);
    assert_eq!(fulfilled["state"], "FULFILLED");
    assert!(fulfilled["completionDate"].as_str().unwrap().ends_with('Z'));
    assert_eq!(fulfilled["submissionDate"], queued["submissionDate"]);
    assert_eq!(conn.poll(&token, &job_id)["state"], "FULFILLED");

    let (conversations, n_pages) = conn.all_results(&token, &job_id, 7);
    let got = ids(&conversations);
    let from = datetime!(2026-11-01 10:00 UTC);
    let to = datetime!(2026-11-01 16:00 UTC);
    assert_eq!(got, sim.job_ids(from, to));
    assert_eq!(n_pages, got.len().div_ceil(7));
    let mut sorted = got.clone();
    sorted.sort();
    assert_eq!(got, sorted, "results are ordered by conversationId");
    // Lifetime overlap: everything that started inside, plus earlier starts still running.
    for id in sim.ground_truth(from, to) {
        assert!(got.contains(&id), "{id}");
    }
    let mut with_attributes = 0;
    for c in &conversations {
        let id = c["conversationId"].as_str().unwrap();
        assert_eq!(sim.job_conversation(id).as_ref(), Some(c));
        let customer = c["participants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["purpose"] == "customer")
            .unwrap();
        if let Some(attributes) = customer.get("attributes") {
            assert!(attributes
                .as_object()
                .unwrap()
                .values()
                .all(Value::is_string));
            with_attributes += 1;
        }
    }
    assert!(
        with_attributes * 2 > conversations.len(),
        "most have attributes"
    );
    assert!(with_attributes < conversations.len(), "some have none");

    // The last page carries no cursor; a page also reports the data availability.
    let page = conn.results(&token, &job_id, None, 1000).json();
    assert!(page.get("cursor").is_none());
    assert_eq!(page["dataAvailabilityDate"], "2026-11-03T00:00:00.000Z");

    // The query's records never carry attributes.
    let details = conn.details(&token, &hour_query(1)).response();
    assert!(!String::from_utf8_lossy(&details.body).contains("\"attributes\""));

    // A resubmitted job answers the same sequence.
    let again = conn.job(&token, &job_query(interval));
    assert_ne!(again, job_id);
    for _ in 0..3 {
        conn.poll(&token, &again);
    }
    assert_eq!(ids(&conn.all_results(&token, &again, 1000).0), got);

    let stats = sim.stats();
    assert_eq!((stats.job_submits, stats.jobs_live), (2, 2));
    assert_eq!(stats.job_polls, 7);
    assert_eq!(stats.job_result_pages, n_pages as u64 + 2);
    assert_eq!(stats.job_result_requests, n_pages as u64 + 3);
    assert_eq!(stats.max_job_page_size, 1000);

    // Delete: 204 without a body, then the job is gone everywhere.
    let deleted = conn.delete(&token, &format!("{JOBS}/{job_id}")).response();
    assert_eq!((deleted.status, deleted.body.len()), (204, 0));
    let gone = conn.get(&token, &format!("{JOBS}/{job_id}")).response();
    assert_error(&gone, 404, "not.found", &format!("Job {job_id} not found"));
    let gone = conn.results(&token, &job_id, None, 10);
    assert_error(&gone, 404, "not.found", "Job");
    let gone = conn.delete(&token, &format!("{JOBS}/{job_id}")).response();
    assert_error(&gone, 404, "not.found", "Job");
    let stats = sim.stats();
    assert_eq!((stats.job_deletes, stats.jobs_live), (1, 1));
}

#[test]
fn cursors_belong_to_their_job() {
    let sim = Sim::start(SimConfig {
        job_polls_to_fulfil: 0,
        ..small_config()
    });
    let mut conn = Conn::open(&sim);
    let token = conn.token();
    let interval = "2026-11-01T10:00:00.000Z/2026-11-01T16:00:00.000Z";
    let first = conn.job(&token, &job_query(interval));
    let second = conn.job(&token, &job_query(interval));
    assert_eq!(conn.poll(&token, &first)["state"], "FULFILLED");
    assert_eq!(conn.poll(&token, &second)["state"], "FULFILLED");
    let page = conn.results(&token, &first, None, 5).json();
    let cursor = page["cursor"].as_str().unwrap().to_string();
    // Deterministic: the same position of the same job has the same cursor.
    assert_eq!(
        conn.results(&token, &first, None, 5).json()["cursor"].as_str(),
        Some(cursor.as_str())
    );
    let foreign = conn.results(&token, &second, Some(&cursor), 5);
    assert_error(&foreign, 400, "bad.request", "Cursor");
    assert!(foreign.json()["message"]
        .as_str()
        .unwrap()
        .contains("does not belong to job"));
    let garbage = conn.results(&token, &first, Some("bm90LWEtY3Vyc29y"), 5);
    assert_error(&garbage, 400, "bad.request", "Invalid cursor");
    let next = conn.results(&token, &first, Some(&cursor), 5).json();
    assert_ne!(next["conversations"], page["conversations"]);
    // Without pageSize a page holds up to 100 conversations.
    let default = conn
        .get(&token, &format!("{JOBS}/{first}/results"))
        .response()
        .json();
    let n_results = sim
        .job_ids(
            datetime!(2026-11-01 10:00 UTC),
            datetime!(2026-11-01 16:00 UTC),
        )
        .len();
    assert_eq!(
        default["conversations"].as_array().unwrap().len(),
        n_results.min(100)
    );
}

#[test]
fn page_size_ceiling_and_result_cap_are_400s() {
    let sim = Sim::start(SimConfig {
        job_polls_to_fulfil: 0,
        job_max_page_size: 50,
        job_result_cap: 30,
        ..small_config()
    });
    let mut conn = Conn::open(&sim);
    let token = conn.token();
    let interval = "2026-11-01T00:00:00.000Z/2026-11-02T00:00:00.000Z";
    let job_id = conn.job(&token, &job_query(interval));
    conn.poll(&token, &job_id);
    let too_big = conn.results(&token, &job_id, None, 51);
    assert_error(&too_big, 400, "bad.request", "pageSize must be at most 50");
    assert_eq!(too_big.json()["message"], "pageSize must be at most 50");
    let zero = conn.results(&token, &job_id, None, 0);
    assert_error(&zero, 400, "bad.request", "pageSize must be");
    // The default pageSize (100) is lowered to this sim's ceiling, which is past the cap.
    let default = conn
        .get(&token, &format!("{JOBS}/{job_id}/results"))
        .response();
    assert_error(
        &default,
        400,
        "bad.request",
        "Pagination may not exceed 30 results.",
    );

    let first = conn.results(&token, &job_id, None, 20).json();
    let cursor = first["cursor"].as_str().unwrap().to_string();
    let capped = conn.results(&token, &job_id, Some(&cursor), 20);
    assert_error(
        &capped,
        400,
        "bad.request",
        "Pagination may not exceed 30 results.",
    );
    let second = conn.results(&token, &job_id, Some(&cursor), 10).json();
    let cursor = second["cursor"].as_str().unwrap().to_string();
    let capped = conn.results(&token, &job_id, Some(&cursor), 1);
    assert_error(
        &capped,
        400,
        "bad.request",
        "Pagination may not exceed 30 results.",
    );

    // A job with no more results than the cap reads to the end.
    let mut limited = job_query(interval);
    limited["limit"] = json!(25);
    let job_id = conn.job(&token, &limited);
    conn.poll(&token, &job_id);
    let (conversations, n_pages) = conn.all_results(&token, &job_id, 20);
    assert_eq!((conversations.len(), n_pages), (25, 2));

    let stats = sim.stats();
    assert_eq!(stats.max_job_page_size, 20);
    assert_eq!(stats.job_result_requests, 9);
    assert_eq!(stats.job_result_pages, 4);
}

#[test]
fn lifecycle_faults_fail_cancel_and_expire_jobs() {
    let sim = Sim::start(SimConfig {
        job_polls_to_fulfil: 1,
        job_faults: JobFaults {
            fail: vec![1],
            cancel: vec![2],
            expire_after_pages: vec![(3, 1)],
            stuck: Vec::new(),
        },
        ..small_config()
    });
    let mut conn = Conn::open(&sim);
    let token = conn.token();
    let query = job_query("2026-11-01T10:00:00.000Z/2026-11-01T16:00:00.000Z");
    let failed = conn.job(&token, &query);
    let cancelled = conn.job(&token, &query);
    let expiring = conn.job(&token, &query);
    let fine = conn.job(&token, &query);
    for job_id in [&failed, &cancelled, &expiring, &fine] {
        assert_eq!(conn.poll(&token, job_id)["state"], "QUEUED");
    }
    let status = conn.poll(&token, &failed);
    assert_eq!(status["state"], "FAILED");
    assert_eq!(status["errorMessage"], "Simulated failure of job 1");
    let status = conn.poll(&token, &cancelled);
    assert_eq!(status["state"], "CANCELLED");
    assert!(status.get("errorMessage").is_none());
    for job_id in [&failed, &cancelled] {
        let refused = conn.results(&token, job_id, None, 10);
        assert_error(
            &refused,
            400,
            "bad.request",
            &format!("Job {job_id} is not fulfilled"),
        );
    }

    // Job 3 expires after its first page: mid-paging, the cursor stops working.
    assert_eq!(conn.poll(&token, &expiring)["state"], "FULFILLED");
    let page = conn.results(&token, &expiring, None, 10).json();
    let cursor = page["cursor"].as_str().unwrap().to_string();
    let expired = conn.results(&token, &expiring, Some(&cursor), 10);
    assert_error(&expired, 400, "analytics.job.expired", "Job");
    let status = conn.poll(&token, &expiring);
    assert_eq!(status["state"], "EXPIRED");
    assert!(status.get("completionDate").is_some());

    // Unlisted jobs, resubmissions included, succeed.
    assert_eq!(conn.poll(&token, &fine)["state"], "FULFILLED");
    let resubmitted = conn.job(&token, &query);
    conn.poll(&token, &resubmitted);
    assert_eq!(conn.poll(&token, &resubmitted)["state"], "FULFILLED");
    let (all, _) = conn.all_results(&token, &resubmitted, 10);
    assert_eq!(ids(&all), ids(&conn.all_results(&token, &fine, 10).0));

    // Faults can be changed while running; numbers keep counting.
    sim.set_job_faults(JobFaults {
        fail: vec![6],
        ..JobFaults::default()
    });
    let sixth = conn.job(&token, &query);
    conn.poll(&token, &sixth);
    assert_eq!(
        conn.poll(&token, &sixth)["errorMessage"],
        "Simulated failure of job 6"
    );
}

#[test]
fn lifetime_overlap_differs_from_start_of_day_matching() {
    let sim = Sim::start(SimConfig {
        job_polls_to_fulfil: 0,
        ..small_config()
    });
    let mut conn = Conn::open(&sim);
    let token = conn.token();
    // The first hour of 2 November: conversations that crossed midnight overlap it.
    let interval = "2026-11-02T00:00:00.000Z/2026-11-02T01:00:00.000Z";
    let day = "2026-11-02T00:00:00.000Z";
    let mut fetch = |query: &Value| -> Vec<Value> {
        let job_id = conn.job(&token, query);
        conn.poll(&token, &job_id);
        conn.all_results(&token, &job_id, 1000).0
    };
    let overlap = fetch(&job_query(interval));
    let mut start_of_day = job_query(interval);
    start_of_day["startOfDayIntervalMatching"] = json!(true);
    let same_day = fetch(&start_of_day);
    let start = |c: &Value| c["conversationStart"].as_str().unwrap().to_string();
    assert!(overlap.iter().any(|c| start(c).as_str() < day));
    assert!(same_day.iter().all(|c| start(c).as_str() >= day));
    assert!(!same_day.is_empty());
    let overlap_ids = ids(&overlap);
    assert!(ids(&same_day).iter().all(|id| overlap_ids.contains(id)));
    assert_eq!(
        overlap_ids,
        sim.job_ids(
            datetime!(2026-11-02 00:00 UTC),
            datetime!(2026-11-02 01:00 UTC)
        )
    );
    // Every result's lifetime overlaps the interval.
    for c in &overlap {
        assert!(start(c).as_str() < "2026-11-02T01:00:00.000Z");
        if let Some(end) = c.get("conversationEnd") {
            assert!(end.as_str().unwrap() > day);
        }
    }
    // The conversationEnd filter is honoured.
    let mut ended = job_query(interval);
    ended["conversationFilters"] = json!([{ "type": "and", "predicates": [
        { "type": "dimension", "dimension": "conversationEnd", "operator": "exists" } ] }]);
    let ended = fetch(&ended);
    assert!(ended.iter().all(|c| c.get("conversationEnd").is_some()));
    assert!(!ended.is_empty());
}

#[test]
fn data_availability_cuts_jobs_off() {
    let sim = Sim::start(SimConfig {
        job_polls_to_fulfil: 0,
        data_availability: datetime!(2026-11-01 12:00 UTC),
        ..small_config()
    });
    let mut conn = Conn::open(&sim);
    let token = conn.token();
    let availability = conn.get(&token, &format!("{JOBS}/availability")).response();
    assert_eq!(availability.status, 200);
    assert_eq!(
        availability.json(),
        json!({ "dataAvailabilityDate": "2026-11-01T12:00:00.000Z" })
    );
    let interval = "2026-11-01T10:00:00.000Z/2026-11-01T14:00:00.000Z";
    let job_id = conn.job(&token, &job_query(interval));
    conn.poll(&token, &job_id);
    let page = conn.results(&token, &job_id, None, 1000).json();
    assert_eq!(page["dataAvailabilityDate"], "2026-11-01T12:00:00.000Z");
    let got = ids(page["conversations"].as_array().unwrap());
    let from = datetime!(2026-11-01 10:00 UTC);
    let to = datetime!(2026-11-01 14:00 UTC);
    assert_eq!(got, sim.job_ids(from, to));
    let available = sim.available_ids(from, to);
    assert_eq!(
        available,
        sim.ground_truth(from, datetime!(2026-11-01 12:00 UTC))
    );
    assert!(available.iter().all(|id| got.contains(id)));
    let missing = sim.ground_truth(datetime!(2026-11-01 12:00 UTC), to);
    assert!(!missing.is_empty());
    assert!(missing.iter().all(|id| !got.contains(id)));

    // The lake catches up: later jobs see the newer data.
    sim.set_data_availability(datetime!(2026-11-03 00:00 UTC));
    let job_id = conn.job(&token, &job_query(interval));
    conn.poll(&token, &job_id);
    let got = ids(&conn.all_results(&token, &job_id, 1000).0);
    assert!(missing.iter().all(|id| got.contains(id)));
    assert_eq!(sim.stats().availability_requests, 1);
}

#[test]
fn job_endpoints_check_auth_methods_bodies_and_faults() {
    let sim = Sim::start(SimConfig {
        faults: Faults {
            script: vec![(1, Fault::Status(503))],
            ..Faults::default()
        },
        ..small_config()
    });
    let mut conn = Conn::open(&sim);
    let interval = "2026-11-01T10:00:00.000Z/2026-11-01T16:00:00.000Z";
    // API faults apply to the jobs endpoints like to any other.
    let token = conn.token();
    let r = conn.submit_job(&token, &job_query(interval)).response();
    assert_eq!(r.status, 503);
    assert_eq!(sim.stats().job_submits, 0);

    let r = conn
        .send(
            "POST",
            JOBS,
            &[],
            job_query(interval).to_string().as_bytes(),
        )
        .response();
    assert_error(&r, 401, "authentication.required", "No authentication");
    let r = conn.get("nope", &format!("{JOBS}/availability")).response();
    assert_error(&r, 401, "bad.credentials", "Invalid login");

    let mut paging = job_query(interval);
    paging["paging"] = json!({ "pageSize": 100, "pageNumber": 1 });
    let r = conn.submit_job(&token, &paging).response();
    assert_error(&r, 400, "bad.request", "paging is not supported");
    let long = job_query("2026-11-01T00:00:00.000Z/2026-12-02T00:00:01.000Z");
    let r = conn.submit_job(&token, &long).response();
    assert_error(
        &r,
        400,
        "bad.request",
        "The interval may not be longer than 31 days.",
    );
    let r = conn
        .submit_job(&token, &json!({ "order": "asc" }))
        .response();
    assert_error(&r, 400, "bad.request", "interval is required");
    let ok = job_query("2026-11-01T00:00:00.000Z/2026-12-02T00:00:00.000Z");
    let job_id = conn.job(&token, &ok);

    let r = conn
        .send("PUT", &format!("{JOBS}/{job_id}"), &[], b"")
        .response();
    assert_eq!((r.status, r.header("Allow")), (405, Some("GET, DELETE")));
    let r = conn
        .delete(&token, &format!("{JOBS}/availability"))
        .response();
    assert_eq!((r.status, r.header("Allow")), (405, Some("GET")));
    let r = conn.get(&token, JOBS).response();
    assert_eq!((r.status, r.header("Allow")), (405, Some("POST")));
    let r = conn
        .get(&token, &format!("{JOBS}/{job_id}/nothing"))
        .response();
    assert_eq!(r.status, 404);
    let r = conn.get(&token, &format!("{JOBS}/no-such-job")).response();
    assert_error(&r, 404, "not.found", "Job no-such-job not found");
    assert_eq!(sim.stats().job_submits, 1);

    let forbidden = Sim::start(SimConfig {
        details_forbidden: true,
        ..small_config()
    });
    let mut conn = Conn::open(&forbidden);
    let token = conn.token();
    let r = conn.submit_job(&token, &job_query(interval)).response();
    assert_error(&r, 403, "missing.permissions", "You are not authorized");
}

// Malformed replies.

#[test]
fn malformed_reply_faults_reach_the_wire() {
    // The first request is answered for real, for comparison.
    let faults = Faults {
        script: vec![
            (2, Fault::EmptyArray),
            (3, Fault::Blank),
            (4, Fault::HitsWithoutConversations),
            (5, Fault::MissingId),
            (6, Fault::Echo(401)),
            (7, Fault::HitsWithoutConversations),
            (8, Fault::MissingId),
        ],
        ..Faults::default()
    };
    let sim = Sim::start(SimConfig {
        faults,
        ..small_config()
    });
    let mut conn = Conn::open(&sim);
    let token = conn.token();
    let query = hour_query(1);
    let real = conn.details(&token, &query).response().json();
    let real_conversations = real["conversations"].as_array().unwrap();
    assert!(real["totalHits"].as_u64().unwrap() > 0);
    let content_type = |r: &RawResponse| (r.status, r.header("Content-Type").map(str::to_string));
    let json_200 = (200, Some("application/json".to_string()));

    let r = conn.details(&token, &query).response();
    assert_eq!(content_type(&r), json_200);
    assert_eq!(r.body, b"[]");
    let r = conn.details(&token, &query).response();
    assert_eq!(content_type(&r), json_200);
    assert!(!r.body.is_empty() && r.body.iter().all(u8::is_ascii_whitespace));

    let r = conn.details(&token, &query).response().json();
    assert_eq!(r, json!({ "totalHits": real["totalHits"] }));

    let r = conn.details(&token, &query).response().json();
    let conversations = r["conversations"].as_array().unwrap();
    let mut first = real_conversations[0].clone();
    first.as_object_mut().unwrap().remove("conversationId");
    assert_eq!(conversations[0], first);
    assert_eq!(conversations[1..], real_conversations[1..]);

    let r = conn.details(&token, &query).response();
    assert_eq!(r.status, 401);
    let message = r.json()["message"].as_str().unwrap().to_string();
    assert!(message.contains(&token), "{message}");

    // Where the damage makes no sense the real reply goes out and no fault is counted.
    let r = conn
        .get(&token, "/api/v2/routing/queues?pageSize=100")
        .response();
    assert!(r.status == 200 && r.json()["entities"].is_array());
    let r = conn.get(&token, &format!("{JOBS}/availability")).response();
    assert_eq!(r.json()["dataAvailabilityDate"], "2026-11-03T00:00:00.000Z");
    assert_eq!(sim.stats().faults_injected, 5);
}

#[test]
fn missing_id_reaches_job_results() {
    let sim = Sim::start(SimConfig {
        job_polls_to_fulfil: 0,
        faults: Faults {
            script: vec![(3, Fault::MissingId)],
            ..Faults::default()
        },
        ..small_config()
    });
    let mut conn = Conn::open(&sim);
    let token = conn.token();
    let job_id = conn.job(
        &token,
        &job_query("2026-11-01T10:00:00.000Z/2026-11-01T16:00:00.000Z"),
    );
    conn.poll(&token, &job_id);
    let damaged = conn.results(&token, &job_id, None, 10).json();
    let real = conn.results(&token, &job_id, None, 10).json();
    let mut first = real["conversations"][0].clone();
    first.as_object_mut().unwrap().remove("conversationId");
    assert_eq!(damaged["conversations"][0], first);
    assert_eq!(damaged["cursor"], real["cursor"]);
    let rest = |page: &Value| page["conversations"].as_array().unwrap()[1..].to_vec();
    assert_eq!(rest(&damaged), rest(&real));
}

#[test]
fn echo_faults_repeat_the_presented_credential() {
    let sim = Sim::start(SimConfig {
        token_faults: Faults {
            script: vec![
                (1, Fault::Echo(401)),
                (2, Fault::Echo(503)),
                (3, Fault::EmptyArray),
            ],
            ..Faults::default()
        },
        faults: Faults {
            p_echo: 1.0,
            ..Faults::default()
        },
        ..small_config()
    });
    let mut conn = Conn::open(&sim);
    let refused = conn
        .token_request(BASIC, "grant_type=client_credentials")
        .response();
    assert_eq!(refused.status, 401);
    let body = refused.json();
    assert_eq!(body["error"], "invalid_client");
    let description = body["error_description"].as_str().unwrap();
    assert!(description.contains("sim-secret"), "{description}");
    let failed = conn
        .token_request(BASIC, "grant_type=client_credentials")
        .response();
    assert_eq!(failed.status, 503);
    assert_eq!(failed.json()["error"], "server_error");
    assert!(failed.json()["description"]
        .as_str()
        .unwrap()
        .contains("sim-secret"));
    let empty = conn
        .token_request(BASIC, "grant_type=client_credentials")
        .response();
    assert_eq!((empty.status, empty.body.as_slice()), (200, &b"[]"[..]));
    // The damaged grant was still issued: the server did the work.
    let token = conn.token();
    assert_eq!(sim.issued_tokens().len(), 2);
    let r = conn.details(&token, &hour_query(1)).response();
    assert!([500, 502, 503, 504].contains(&r.status), "{}", r.status);
    let message = r.json()["message"].as_str().unwrap().to_string();
    assert!(message.contains(&token), "{message}");
    assert_eq!(r.json()["status"], r.status);
}

#[test]
fn duplicate_hits_give_short_pages_before_the_end() {
    let sim = Sim::start(SimConfig {
        duplicate_hits: 0.25,
        ..small_config()
    });
    let mut conn = Conn::open(&sim);
    let token = conn.token();
    let mut pages: Vec<Vec<String>> = Vec::new();
    let mut total_hits = 0;
    for page in 1.. {
        let body = conn.details(&token, &hour_query(page)).response().json();
        total_hits = body["totalHits"].as_u64().unwrap();
        let Some(conversations) = body.get("conversations") else {
            assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
            break;
        };
        pages.push(ids(conversations.as_array().unwrap()));
    }
    let mut served: Vec<String> = pages.concat();
    served.dedup();
    let from = datetime!(2026-11-01 10:00 UTC);
    let to = datetime!(2026-11-01 16:00 UTC);
    let inside: Vec<String> = sim.ended_ids(from, to);
    assert!(inside.iter().all(|id| served.contains(id)));
    let distinct: std::collections::HashSet<&String> = served.iter().collect();
    assert_eq!(
        distinct.len(),
        served.len(),
        "repeats only on adjacent pages"
    );
    assert!(total_hits > served.len() as u64);
    assert_eq!(pages.len() as u64, total_hits.div_ceil(10));
    let (_, inner) = pages.split_last().unwrap();
    assert!(inner.iter().any(|page| page.len() < 10));
}

// Token and job edge cases.

#[test]
fn token_grants_announce_the_configured_expires_in() {
    fn check(expires_in: ExpiresIn, want: Option<Value>) {
        let sim = Sim::start(SimConfig {
            token_lifetime: Duration::from_secs(60),
            token_expires_in: expires_in,
            ..small_config()
        });
        let mut conn = Conn::open(&sim);
        let grant = conn
            .token_request(BASIC, "grant_type=client_credentials")
            .response()
            .json();
        assert_eq!(grant.get("expires_in").cloned(), want, "{expires_in:?}");
        // The real validity is the lifetime, whatever was announced.
        let token = grant["access_token"].as_str().unwrap().to_string();
        assert_eq!(conn.details(&token, &hour_query(1)).response().status, 200);
        sim.advance(Duration::from_secs(60));
        assert_eq!(conn.details(&token, &hour_query(1)).response().status, 401);
    }
    check(ExpiresIn::Lifetime, Some(json!(60)));
    check(ExpiresIn::Value(u64::MAX), Some(json!(u64::MAX)));
    check(ExpiresIn::Value(0), Some(json!(0)));
    check(ExpiresIn::Absent, None);
}

#[test]
fn jobs_expire_at_their_expiration_date() {
    let sim = Sim::start(SimConfig {
        job_polls_to_fulfil: 0,
        job_lifetime: Duration::from_secs(600),
        ..small_config()
    });
    let mut conn = Conn::open(&sim);
    let token = conn.token();
    let interval = "2026-11-01T10:00:00.000Z/2026-11-01T16:00:00.000Z";
    let job_id = conn.job(&token, &job_query(interval));
    let status = conn.poll(&token, &job_id);
    assert_eq!(status["state"], "FULFILLED");
    let date = |field: &str| {
        let text = status[field].as_str().unwrap();
        assert!(text.ends_with('Z') && text.len() == 24, "{text}");
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).unwrap()
    };
    assert_eq!(
        date("expirationDate") - date("submissionDate"),
        time::Duration::seconds(600)
    );
    let page = conn.results(&token, &job_id, None, 10).json();
    let cursor = page["cursor"].as_str().unwrap().to_string();
    sim.advance(Duration::from_secs(599));
    assert_eq!(conn.results(&token, &job_id, Some(&cursor), 10).status, 200);
    sim.advance(Duration::from_secs(1));
    let expired = conn.results(&token, &job_id, Some(&cursor), 10);
    assert_error(&expired, 400, "analytics.job.expired", "Job");
    let after = conn.poll(&token, &job_id);
    assert_eq!(after["state"], "EXPIRED");
    assert_eq!(after["expirationDate"], status["expirationDate"]);
}

#[test]
fn time_fulfils_jobs_and_stuck_jobs_never_finish() {
    let sim = Sim::start(SimConfig {
        job_fulfil_after: Some(Duration::from_secs(20)),
        job_faults: JobFaults {
            stuck: vec![2],
            ..JobFaults::default()
        },
        job_lifetime: Duration::from_secs(60),
        ..small_config()
    });
    let mut conn = Conn::open(&sim);
    let token = conn.token();
    let query = job_query("2026-11-01T10:00:00.000Z/2026-11-01T16:00:00.000Z");
    let timed = conn.job(&token, &query);
    let stuck = conn.job(&token, &query);
    let states = |conn: &mut Conn, token: &str| {
        [&timed, &stuck].map(|id| conn.poll(token, id)["state"].as_str().unwrap().to_string())
    };
    assert_eq!(states(&mut conn, &token), ["QUEUED", "QUEUED"]);
    for _ in 0..5 {
        assert_eq!(states(&mut conn, &token), ["PENDING", "PENDING"]);
    }
    sim.advance(Duration::from_secs(20));
    assert_eq!(states(&mut conn, &token), ["FULFILLED", "PENDING"]);
    let refused = conn.results(&token, &stuck, None, 10);
    assert_error(
        &refused,
        400,
        "bad.request",
        &format!("Job {stuck} is not fulfilled (state PENDING)"),
    );
    // Past its expiration date a stuck job is still pending; the other one expired.
    sim.advance(Duration::from_secs(3600));
    let token = conn.token();
    assert_eq!(states(&mut conn, &token), ["EXPIRED", "PENDING"]);
}

#[test]
fn page_size_refusals_follow_the_configured_wording() {
    fn check(wording: PageSizeWording, want: &str) {
        let sim = Sim::start(SimConfig {
            job_polls_to_fulfil: 0,
            job_max_page_size: 50,
            job_page_size_wording: wording,
            ..small_config()
        });
        let mut conn = Conn::open(&sim);
        let token = conn.token();
        let job_id = conn.job(
            &token,
            &job_query("2026-11-01T10:00:00.000Z/2026-11-01T16:00:00.000Z"),
        );
        conn.poll(&token, &job_id);
        let refused = conn.results(&token, &job_id, None, 51);
        assert_error(&refused, 400, "bad.request", want);
        assert_eq!(refused.json()["message"], want);
        assert_eq!(conn.results(&token, &job_id, None, 50).status, 200);
    }
    use PageSizeWording::{AtMost, Between, Unnumbered};
    check(AtMost, "pageSize must be at most 50");
    check(Between, "pageSize must be between 1 and 50");
    check(Unnumbered, "Invalid pageSize");
}

// Throughput support.

#[test]
fn rate_limit_answers_429_past_the_sliding_window() {
    let sim = Sim::start(SimConfig {
        rate_limit: Some(RateLimit {
            allowed: 3,
            window: Duration::from_secs(60),
        }),
        ..small_config()
    });
    let mut conn = Conn::open(&sim);
    let token = conn.token();
    let numbers = |r: &RawResponse| {
        ["inin-ratelimit-count", "inin-ratelimit-allowed"].map(|h| r.header(h).unwrap().to_string())
    };
    for n in 1..=3 {
        let r = conn.details(&token, &hour_query(1)).response();
        assert_eq!(r.status, 200);
        assert_eq!(numbers(&r), [n.to_string(), "3".to_string()]);
        let reset: u64 = r.header("inin-ratelimit-reset").unwrap().parse().unwrap();
        assert!((1..=60).contains(&reset), "{reset}");
    }
    let refused = conn
        .get(&token, "/api/v2/routing/queues?pageSize=10")
        .response();
    assert_error(
        &refused,
        429,
        "too.many.requests.retry.after",
        "Rate limit exceeded",
    );
    assert_eq!(numbers(&refused), ["4", "3"]);
    let reset = refused.header("inin-ratelimit-reset").unwrap();
    assert_eq!(refused.header("Retry-After"), Some(reset));
    // The token endpoint is not limited and carries no window numbers.
    let grant = conn
        .token_request(BASIC, "grant_type=client_credentials")
        .response();
    assert_eq!(grant.status, 200);
    assert!(grant.header("inin-ratelimit-count").is_none());
    assert!(grant.header("ININ-Correlation-Id").is_some());
    // Once the window has slid past the first requests, requests are admitted again.
    sim.advance(Duration::from_secs(60));
    let r = conn.details(&token, &hour_query(1)).response();
    assert_eq!(r.status, 200);
    assert_eq!(numbers(&r), ["1", "3"]);
    let stats = sim.stats();
    assert_eq!((stats.rate_limited, stats.faults_injected), (1, 0));
    assert_eq!(stats.details_requests, 4);
}

#[test]
fn requests_in_flight_wait_out_their_latency_side_by_side() {
    // Far longer than the test: the requests are released by dropping the simulator.
    let sim = Sim::start(SimConfig {
        latency: Duration::from_secs(3600),
        ..small_config()
    });
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let mut conn = Conn::open(&sim);
            std::thread::spawn(move || {
                matches!(
                    conn.token_request(BASIC, "grant_type=client_credentials"),
                    Wire::Closed | Wire::Response(_)
                )
            })
        })
        .collect();
    // Stats take the state's lock: answering them while four requests wait proves the lock
    // is not held through the latency. The deadline only guards against a hang.
    let deadline = Instant::now() + Duration::from_secs(60);
    while sim.stats().in_flight < 4 {
        assert!(Instant::now() < deadline, "{:?}", sim.stats());
        std::thread::sleep(Duration::from_millis(5));
    }
    let stats = sim.stats();
    assert_eq!((stats.in_flight, stats.max_in_flight), (4, 4));
    assert_eq!(stats.token_requests, 0, "nothing answered yet");
    drop(sim);
    for client in clients {
        assert!(client.join().unwrap());
    }
}
