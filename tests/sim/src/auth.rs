//! Client credentials and bearer tokens: Basic-header decoding, token issue, expiry and
//! revocation.
//!
//! This module owns the token table. It decides whether a presented token is valid, but it
//! does not build HTTP responses; `api` turns its verdicts into the Genesys error bodies.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::rng::Rng;

/// Length of an issued access token; real ones are long opaque strings.
const TOKEN_LEN_CHARS: usize = 48;

/// What we know about one issued token.
#[derive(Clone, Debug)]
struct TokenRecord {
    issued_at: Instant,
    revoked: bool,
}

/// The verdict on a presented bearer token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenCheck {
    Valid,
    Unknown,
    Revoked,
    Expired,
}

/// Every token handed out, with the order of issue kept for `Sim::issued_tokens`.
#[derive(Debug)]
pub struct TokenStore {
    records: HashMap<String, TokenRecord>,
    issued: Vec<String>,
    rng: Rng,
}

impl TokenStore {
    pub fn new(rng: Rng) -> TokenStore {
        TokenStore {
            records: HashMap::new(),
            issued: Vec::new(),
            rng,
        }
    }

    /// Issues a fresh token valid from `now`.
    pub fn issue(&mut self, now: Instant) -> String {
        let token = loop {
            let candidate = self.rng.token(TOKEN_LEN_CHARS);
            if !self.records.contains_key(&candidate) {
                break candidate;
            }
        };
        let record = TokenRecord {
            issued_at: now,
            revoked: false,
        };
        self.records.insert(token.clone(), record);
        self.issued.push(token.clone());
        token
    }

    /// Checks a token; a token is expired once `lifetime` has fully elapsed since issue.
    pub fn check(&self, token: &str, now: Instant, lifetime: Duration) -> TokenCheck {
        match self.records.get(token) {
            None => TokenCheck::Unknown,
            Some(record) if record.revoked => TokenCheck::Revoked,
            Some(record) if now.saturating_duration_since(record.issued_at) >= lifetime => {
                TokenCheck::Expired
            }
            Some(_) => TokenCheck::Valid,
        }
    }

    /// Revokes one token; returns false when it was never issued.
    pub fn revoke(&mut self, token: &str) -> bool {
        match self.records.get_mut(token) {
            Some(record) => {
                record.revoked = true;
                true
            }
            None => false,
        }
    }

    pub fn issued(&self) -> &[String] {
        &self.issued
    }
}

/// What a token grant announces in `expires_in`. The token's real validity is always
/// `SimConfig::token_lifetime`, whatever is announced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ExpiresIn {
    /// The lifetime in whole seconds, rounded up, at least 1.
    #[default]
    Lifetime,
    /// This number, verbatim (`u64::MAX` included).
    Value(u64),
    /// No `expires_in` field at all.
    Absent,
}

impl ExpiresIn {
    /// The `expires_in` value to send, or None to leave the field out.
    pub fn announce(self, lifetime: Duration) -> Option<u64> {
        match self {
            ExpiresIn::Lifetime => Some(expires_in_secs(lifetime)),
            ExpiresIn::Value(secs) => Some(secs),
            ExpiresIn::Absent => None,
        }
    }
}

/// Whole seconds rounded up, at least 1.
fn expires_in_secs(lifetime: Duration) -> u64 {
    let secs = lifetime
        .as_secs()
        .saturating_add(u64::from(lifetime.subsec_nanos() > 0));
    secs.max(1)
}

/// Extracts the token from `Authorization: Bearer <token>`; the scheme is case-insensitive.
pub fn bearer_token(authorization: Option<&str>) -> Option<&str> {
    let (scheme, token) = authorization?.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Extracts `(client_id, client_secret)` from `Authorization: Basic base64(id:secret)`.
pub fn basic_credentials(authorization: Option<&str>) -> Option<(String, String)> {
    let (scheme, encoded) = authorization?.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64_decode(encoded.trim())?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

/// Decodes standard base64 (RFC 4648 §4) with optional `=` padding; returns None on any
/// character outside the alphabet or an impossible length.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let trimmed = text.trim_end_matches('=');
    if text.len() - trimmed.len() > 2
        || (text.len() != trimmed.len() && !text.len().is_multiple_of(4))
    {
        return None;
    }
    let bytes = trimmed.as_bytes();
    if bytes.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= value(c)? << (18 - 6 * i);
        }
        let n_bytes = chunk.len() * 6 / 8;
        for i in 0..n_bytes {
            out.push((acc >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_rfc4648_vectors() {
        fn check(encoded: &str, plain: Option<&[u8]>) {
            assert_eq!(base64_decode(encoded).as_deref(), plain, "{encoded}");
        }
        check("", Some(b""));
        check("Zg==", Some(b"f"));
        check("Zm8=", Some(b"fo"));
        check("Zm9v", Some(b"foo"));
        check("Zm9vYg==", Some(b"foob"));
        check("Zm9vYmE=", Some(b"fooba"));
        check("Zm9vYmFy", Some(b"foobar"));
        check("Zm9vYg", Some(b"foob"));
        check("+/+/", Some(&[0xfb, 0xff, 0xbf]));
        check("Zm9v!", None);
        check("Z", None);
        check("Zg===", None);
    }

    #[test]
    fn basic_header_round_trip() {
        // "sim-client:sim-secret"
        let header = "Basic c2ltLWNsaWVudDpzaW0tc2VjcmV0";
        let (id, secret) = basic_credentials(Some(header)).unwrap();
        assert_eq!((id.as_str(), secret.as_str()), ("sim-client", "sim-secret"));
        assert!(basic_credentials(Some("Bearer c2ltLWNsaWVudDpzaW0tc2VjcmV0")).is_none());
        assert!(basic_credentials(None).is_none());
        assert_eq!(bearer_token(Some("bearer abc")), Some("abc"));
        assert_eq!(bearer_token(Some("Bearer ")), None);
    }

    #[test]
    fn tokens_expire_and_revoke() {
        let mut store = TokenStore::new(Rng::new(3));
        let t0 = Instant::now();
        let token = store.issue(t0);
        assert!(token.len() >= 40);
        let lifetime = Duration::from_secs(1);
        assert_eq!(store.check(&token, t0, lifetime), TokenCheck::Valid);
        let later = t0 + Duration::from_millis(1000);
        assert_eq!(store.check(&token, later, lifetime), TokenCheck::Expired);
        assert_eq!(store.check("nope", t0, lifetime), TokenCheck::Unknown);
        store.revoke(&token);
        assert_eq!(store.check(&token, t0, lifetime), TokenCheck::Revoked);
        assert_eq!(expires_in_secs(Duration::from_millis(1500)), 2);
        assert_eq!(expires_in_secs(Duration::ZERO), 1);
        assert_eq!(expires_in_secs(Duration::from_secs(3600)), 3600);
        assert_eq!(expires_in_secs(Duration::MAX), u64::MAX);
    }

    #[test]
    fn expires_in_announces_what_it_is_told() {
        fn check(expires_in: ExpiresIn, lifetime_ms: u64, want: Option<u64>) {
            let lifetime = Duration::from_millis(lifetime_ms);
            assert_eq!(expires_in.announce(lifetime), want, "{expires_in:?}");
        }
        check(ExpiresIn::Lifetime, 1500, Some(2));
        check(ExpiresIn::Value(u64::MAX), 1500, Some(u64::MAX));
        check(ExpiresIn::Value(0), 1500, Some(0));
        check(ExpiresIn::Absent, 1500, None);
    }
}
