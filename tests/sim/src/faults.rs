//! Fault configuration and the per-request fault draw.
//!
//! This module owns *which* fault a request gets: a scripted fault for the Nth request wins,
//! otherwise one uniform draw walks the probabilities in a fixed order. It also owns the raw
//! material of faulty answers (the load-balancer HTML page, garbled JSON). It does not touch
//! sockets; `api` decides the reply and `http` puts resets and truncations on the wire.

use crate::rng::Rng;

/// Probabilities of each fault kind plus a deterministic script.
///
/// One `Faults` applies to the API endpoints (`/api/v2/...`) and another to the token
/// endpoint (`/oauth/token`); each keeps its own request counter for `script`.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Revoke the presented bearer token and answer 401 `bad.credentials`.
    pub p_revoke: f64,
    /// Answer 429 `too.many.requests.retry.after`, with `Retry-After` when `retry_after_secs`.
    pub p_429: f64,
    /// Answer 500, 502, 503 or 504 (chosen at random) with a JSON ErrorBody.
    pub p_5xx: f64,
    /// Answer 502 with a `text/html` load-balancer page.
    pub p_html: f64,
    /// Read the request, then close the connection without writing anything.
    pub p_reset: f64,
    /// Answer 200 with the full Content-Length but only half of the body, then close.
    pub p_truncate: f64,
    /// Answer 200 `application/json` whose body is not valid JSON.
    pub p_bad_json: f64,
    /// Answer 200 `application/json` whose body is `[]`.
    pub p_empty_array: f64,
    /// Answer 200 `application/json` whose body is only whitespace.
    pub p_blank: f64,
    /// On a details query, answer the real page without its `conversations` key.
    pub p_hits_without_conversations: f64,
    /// On a details query, job results or conversations by id, answer the real page with
    /// `conversationId` removed from its first conversation.
    pub p_missing_id: f64,
    /// Answer 500, 502, 503 or 504 (chosen at random) with an error body that repeats the
    /// presented credential in clear.
    pub p_echo: f64,
    /// The `Retry-After` value (seconds) on random 429s; None sends no header.
    pub retry_after_secs: Option<u64>,
    /// `(n, fault)`: the nth request (1-based) counted over the endpoints these faults apply to
    /// gets `fault`, whatever the probabilities say.
    pub script: Vec<(u64, Fault)>,
    /// The details query ignores `pageNumber`: every page it serves is the first.
    pub ignore_page_number: bool,
    /// A details query matching more conversations than `result_cap` is refused as past the
    /// cap whatever page it asks for, as the API refuses the one-result estimate of a range
    /// over the cap.
    pub cap_whole_result: bool,
    /// The first this many by-id requests answer `{}`.
    pub by_id_empty: u64,
    /// Details pages are indented, as a gateway that reformats JSON would serve them: every
    /// record spans many lines.
    pub indent_pages: bool,
    /// User and wrap-up code lookups are paged this many entities a page, whatever
    /// `pageSize` asks for.
    pub listing_page_size: Option<u64>,
    /// A user or wrap-up code lookup of more ids than this answers 414.
    pub listing_max_ids: Option<usize>,
}

/// One injected failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Revoke the presented token and answer 401 `bad.credentials`.
    Revoke,
    /// 429 with this raw `Retry-After` header value ("1", an HTTP-date, garbage), or none.
    RateLimit { retry_after: Option<String> },
    /// This status with a JSON ErrorBody.
    Status(u16),
    /// This status with a `text/html` body, as a load balancer would send.
    Html(u16),
    /// Close the connection without a response.
    Reset,
    /// Cut the 200 body in half on the wire.
    Truncate,
    /// A 200 whose JSON body is garbled.
    BadJson,
    /// 403 `missing.permissions`.
    Forbidden,
    /// A 200 `application/json` whose body is `[]`.
    EmptyArray,
    /// A 200 `application/json` whose body is only whitespace.
    Blank,
    /// A details query's real 200 page without its `conversations` key, `totalHits` kept.
    /// No effect on other endpoints.
    HitsWithoutConversations,
    /// The real 200 page with `conversationId` removed from its first conversation (details
    /// query and job results). No effect on other endpoints or on a page without
    /// conversations.
    MissingId,
    /// This status with an error body whose message repeats the presented credential in
    /// clear: the bearer token, or on the token endpoint the client secret of the Basic
    /// header (in the token endpoint's error shape).
    Echo(u16),
    /// A 200 `application/json` with `Content-Encoding: gzip` whose body, a few MiB on the
    /// wire, inflates to about this many zero bytes: a compressed bomb.
    Bomb { inflated: u64 },
}

/// The 5xx statuses a random server fault chooses from.
const SERVER_ERROR_STATUSES: [u16; 4] = [500, 502, 503, 504];

/// Picks the fault for the `n`th request (1-based). Always consumes exactly two draws from
/// `rng`, so the stream stays aligned whether or not a script or a fault applies.
pub fn choose(faults: &Faults, n: u64, rng: &mut Rng) -> Option<Fault> {
    let u = rng.next_f64();
    let status_draw = rng.next_u64();
    if let Some((_, fault)) = faults.script.iter().find(|(at, _)| *at == n) {
        return Some(fault.clone());
    }
    let server_status = SERVER_ERROR_STATUSES[(status_draw % 4) as usize];
    let ladder = [
        (faults.p_revoke, Fault::Revoke),
        (
            faults.p_429,
            Fault::RateLimit {
                retry_after: faults.retry_after_secs.map(|s| s.to_string()),
            },
        ),
        (faults.p_5xx, Fault::Status(server_status)),
        (faults.p_html, Fault::Html(502)),
        (faults.p_reset, Fault::Reset),
        (faults.p_truncate, Fault::Truncate),
        (faults.p_bad_json, Fault::BadJson),
        (faults.p_empty_array, Fault::EmptyArray),
        (faults.p_blank, Fault::Blank),
        (
            faults.p_hits_without_conversations,
            Fault::HitsWithoutConversations,
        ),
        (faults.p_missing_id, Fault::MissingId),
        (faults.p_echo, Fault::Echo(server_status)),
    ];
    let mut threshold = 0.0;
    for (p, fault) in ladder {
        threshold += p.max(0.0);
        if u < threshold {
            return Some(fault);
        }
    }
    None
}

/// A gzip stream of about `inflated` zero bytes (one zero, then copies of 258 bytes at
/// distance 1, one fixed-Huffman block: 13 bits per 258 bytes). Its CRC is not computed: a
/// client that honours its cap never reaches the trailer, and one that does fails on it.
pub fn gzip_bomb(inflated: u64) -> Vec<u8> {
    /// Bits written least significant first, as deflate packs them.
    struct Bits {
        out: Vec<u8>,
        acc: u64,
        n: u32,
    }
    impl Bits {
        fn put(&mut self, value: u64, bits: u32) {
            self.acc |= value << self.n;
            self.n += bits;
            while self.n >= 8 {
                self.out.push(self.acc as u8);
                self.acc >>= 8;
                self.n -= 8;
            }
        }
    }
    let copies = inflated.saturating_sub(1) / 258;
    let mut bits = Bits {
        out: vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff],
        acc: 0,
        n: 0,
    };
    // BFINAL, then BTYPE 01 (fixed Huffman).
    bits.put(0b011, 3);
    // The literal 0 (code 00110000), Huffman codes going in most significant bit first.
    bits.put(0b0000_1100, 8);
    for _ in 0..copies {
        // Length 258 (code 11000101, reversed) and distance 1 (code 00000).
        bits.put(0b1010_0011, 13);
    }
    // End of block (code 0000000), then the byte boundary.
    bits.put(0, 7 + 7);
    let size = (copies * 258 + 1) as u32;
    bits.out.extend_from_slice(&[0, 0, 0, 0]);
    bits.out.extend_from_slice(&size.to_le_bytes());
    bits.out
}

/// The body of a `Blank` reply: whitespace only, so it is not a JSON document.
pub const BLANK_BODY: &[u8] = b"  \n";

/// The page a load balancer sends instead of JSON.
pub fn html_page(status: u16) -> Vec<u8> {
    let title = match status {
        502 => "502 Bad Gateway",
        503 => "503 Service Temporarily Unavailable",
        504 => "504 Gateway Time-out",
        _ => "Error",
    };
    format!(
        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n</body>\r\n</html>\r\n"
    )
    .into_bytes()
}

/// Turns a JSON body into something that is not JSON: its first half plus junk. A strict
/// prefix of a JSON object is never a complete document, and the junk keeps even an empty
/// body invalid.
pub fn garble(body: &[u8]) -> Vec<u8> {
    let mut out = body[..body.len() / 2].to_vec();
    out.extend_from_slice(b"\x1b<garbled");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_probabilities_means_no_faults() {
        let mut rng = Rng::new(1);
        let faults = Faults::default();
        assert!((1..1000).all(|n| choose(&faults, n, &mut rng).is_none()));
    }

    #[test]
    fn script_wins_over_probabilities() {
        let mut rng = Rng::new(1);
        let faults = Faults {
            p_5xx: 1.0,
            script: vec![(2, Fault::Reset)],
            ..Faults::default()
        };
        assert!(matches!(
            choose(&faults, 1, &mut rng),
            Some(Fault::Status(_))
        ));
        assert_eq!(choose(&faults, 2, &mut rng), Some(Fault::Reset));
    }

    #[test]
    fn probabilities_are_roughly_honoured() {
        let mut rng = Rng::new(9);
        let faults = Faults {
            p_429: 0.25,
            p_reset: 0.25,
            retry_after_secs: Some(2),
            ..Faults::default()
        };
        let mut n_429 = 0;
        let mut n_reset = 0;
        for n in 1..=4000 {
            match choose(&faults, n, &mut rng) {
                Some(Fault::RateLimit { retry_after }) => {
                    assert_eq!(retry_after.as_deref(), Some("2"));
                    n_429 += 1;
                }
                Some(Fault::Reset) => n_reset += 1,
                None => {}
                other => panic!("unexpected fault {other:?}"),
            }
        }
        assert!((800..1200).contains(&n_429), "{n_429}");
        assert!((800..1200).contains(&n_reset), "{n_reset}");
    }

    #[test]
    fn malformed_reply_faults_are_drawn_by_their_probabilities() {
        /// The fault's own probability at 1 (its script entry for `Echo`) draws it.
        fn check(want: Fault) {
            let mut faults = Faults::default();
            match want {
                Fault::EmptyArray => faults.p_empty_array = 1.0,
                Fault::Blank => faults.p_blank = 1.0,
                Fault::HitsWithoutConversations => faults.p_hits_without_conversations = 1.0,
                Fault::MissingId => faults.p_missing_id = 1.0,
                _ => faults.script = vec![(1, want.clone())],
            }
            let mut rng = Rng::new(4);
            assert_eq!(choose(&faults, 1, &mut rng), Some(want), "{faults:?}");
        }
        check(Fault::EmptyArray);
        check(Fault::Blank);
        check(Fault::HitsWithoutConversations);
        check(Fault::MissingId);
        check(Fault::Echo(401));
        let mut rng = Rng::new(4);
        let echo = Faults {
            p_echo: 1.0,
            ..Faults::default()
        };
        for n in 1..50 {
            match choose(&echo, n, &mut rng) {
                Some(Fault::Echo(status)) => assert!(SERVER_ERROR_STATUSES.contains(&status)),
                other => panic!("unexpected fault {other:?}"),
            }
        }
    }

    /// The bomb inflates, through a real gzip decoder, to the zeros it promises.
    #[test]
    fn the_bomb_is_a_gzip_stream_of_zeros() {
        let bomb = gzip_bomb(1 + 258 * 1000);
        assert!(bomb.len() < 2000, "{}", bomb.len());
        let mut out = Vec::new();
        let mut decoder = inflate_bomb(&bomb);
        decoder(&mut out);
        assert_eq!(out.len(), 1 + 258 * 1000);
        assert!(out.iter().all(|b| *b == 0));
    }

    /// A minimal inflater for the one block shape the bomb uses (fixed Huffman, literal 0,
    /// copies of 258 at distance 1, end of block), decoding bit by bit from the stream.
    fn inflate_bomb(gz: &[u8]) -> impl FnMut(&mut Vec<u8>) + '_ {
        move |out: &mut Vec<u8>| {
            let data = &gz[10..];
            let mut pos = 0usize;
            let mut bit = |n: u32| -> u32 {
                let mut v = 0;
                for i in 0..n {
                    let b = (data[pos / 8] >> (pos % 8)) & 1;
                    v |= u32::from(b) << i;
                    pos += 1;
                }
                v
            };
            assert_eq!(bit(1), 1, "final block");
            assert_eq!(bit(2), 1, "fixed Huffman");
            // Codes read most significant bit first.
            let code = |n: u32, bit: &mut dyn FnMut(u32) -> u32| {
                (0..n).fold(0u32, |acc, _| (acc << 1) | bit(1))
            };
            loop {
                let seven = code(7, &mut bit);
                if seven == 0 {
                    return;
                }
                let eight = (seven << 1) | bit(1);
                match eight {
                    0x30 => out.push(0),
                    0b1100_0101 => {
                        assert_eq!(code(5, &mut bit), 0, "distance 1");
                        for _ in 0..258 {
                            out.push(*out.last().unwrap());
                        }
                    }
                    other => panic!("unexpected code {other:#x}"),
                }
            }
        }
    }

    #[test]
    fn blank_body_is_not_json() {
        assert!(BLANK_BODY.iter().all(u8::is_ascii_whitespace));
        assert!(serde_json::from_slice::<serde_json::Value>(BLANK_BODY).is_err());
    }

    #[test]
    fn garbled_json_does_not_parse() {
        let body = br#"{"conversations":[{"conversationId":"x"}],"totalHits":1}"#;
        assert!(serde_json::from_slice::<serde_json::Value>(&garble(body)).is_err());
        assert!(serde_json::from_slice::<serde_json::Value>(&garble(b"")).is_err());
    }
}
