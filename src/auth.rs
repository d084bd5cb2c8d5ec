//! Credentials and access tokens: values that must never be printed.
//!
//! A `Token` knows the instant it expires; `is_fresh` says whether it can still be used, with a
//! skew margin so that a request never leaves with a token about to die in flight. The exchange
//! itself (client credentials grant) happens in `http.rs`; this module does no I/O and reads no
//! clock: `now` is always passed in.

use std::fmt;
use std::time::{Duration, Instant};

/// The OAuth client id and secret. `Debug` shows the id only.
#[derive(Clone)]
pub struct Credentials {
    pub client_id: String,
    secret: String,
}

impl Credentials {
    pub fn new(client_id: String, secret: String) -> Credentials {
        Credentials { client_id, secret }
    }

    /// The secret itself, for the scrubber that keeps it out of every message.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// The value of the `Authorization: Basic` header for the token endpoint.
    pub fn basic_authorization(&self) -> String {
        let pair = format!("{}:{}", self.client_id, self.secret);
        format!("Basic {}", base64(pair.as_bytes()))
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("client_id", &self.client_id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// An access token and the instant it expires.
pub struct Token {
    value: String,
    lifetime: Duration,
    expires_at: Instant,
}

/// The shortest token lifetime taken as given.
pub const MIN_LIFETIME: Duration = Duration::from_secs(1);
/// The longest token lifetime Genesys Cloud grants, and the longest taken as given.
pub const MAX_LIFETIME: Duration = Duration::from_secs(48 * 3600);
/// The lifetime assumed for a token reply without `expires_in`: the shortest Genesys allows.
pub const ASSUMED_LIFETIME: Duration = Duration::from_secs(300);

/// A token's lifetime from the token endpoint's `expires_in` (seconds), clamped to
/// `[MIN_LIFETIME, MAX_LIFETIME]`; a reply without one is assumed to live `ASSUMED_LIFETIME`.
pub fn lifetime(expires_in: Option<u64>) -> Duration {
    expires_in.map_or(ASSUMED_LIFETIME, |secs| {
        Duration::from_secs(secs).clamp(MIN_LIFETIME, MAX_LIFETIME)
    })
}

impl Token {
    /// A token received at `now` that lives `expires_in` (the token endpoint's `expires_in`, in
    /// whole seconds), clamped by `lifetime`.
    pub fn new(value: String, expires_in: Duration, now: Instant) -> Token {
        let lifetime = lifetime(Some(expires_in.as_secs()));
        Token {
            value,
            lifetime,
            // A clock that cannot represent the expiry (48 h ahead at most) gets a token that
            // counts as expired, so it is fetched again before each use: slow, never a panic.
            expires_at: now.checked_add(lifetime).unwrap_or(now),
        }
    }

    /// How long the token lives from when it was received.
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// The value of the `Authorization: Bearer` header.
    pub fn bearer_authorization(&self) -> String {
        format!("Bearer {}", self.value)
    }

    /// Whether the token can be sent at `now`: it must outlive the skew margin.
    pub fn is_fresh(&self, now: Instant) -> bool {
        now.checked_add(skew(self.lifetime))
            .is_some_and(|deadline| deadline < self.expires_at)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("value", &"<redacted>")
            .field("lifetime", &self.lifetime)
            .finish()
    }
}

/// The margin before expiry at which a token is replaced.
///
/// A tenth of the lifetime, at most 60 s. Lifetimes run from 5 min to 48 h: a 5 min token is
/// replaced 30 s early, anything of 10 min or more 60 s early (what the Go SDK does), which
/// covers a slow request, a retry sleep cut short and clock drift between hosts. A fixed 60 s
/// would waste a fifth of a 5 min token; scaling also keeps very short tokens usable.
pub fn skew(lifetime: Duration) -> Duration {
    (lifetime / 10).min(Duration::from_secs(60))
}

/// Standard base64 with padding (RFC 4648 §4), for the Basic authorization header.
pub fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in cases {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }

    #[test]
    fn basic_header_encodes_id_colon_secret() {
        let c = Credentials::new("Aladdin".into(), "open sesame".into());
        assert_eq!(
            c.basic_authorization(),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
    }

    #[test]
    fn skew_scales_with_lifetime_and_caps_at_a_minute() {
        let s = |secs| skew(Duration::from_secs(secs));
        assert_eq!(s(2), Duration::from_millis(200));
        assert_eq!(s(300), Duration::from_secs(30));
        assert_eq!(s(600), Duration::from_secs(60));
        assert_eq!(s(86_400), Duration::from_secs(60));
        assert_eq!(s(172_800), Duration::from_secs(60));
    }

    #[track_caller]
    fn check_lifetime(expires_in: Option<u64>, want_secs: u64) {
        assert_eq!(
            lifetime(expires_in),
            Duration::from_secs(want_secs),
            "{expires_in:?}"
        );
    }

    #[test]
    fn lifetimes_are_clamped_and_a_missing_one_is_short() {
        check_lifetime(Some(86_400), 86_400);
        check_lifetime(Some(300), 300);
        check_lifetime(Some(1), 1);
        check_lifetime(Some(0), 1);
        check_lifetime(Some(172_800), 172_800);
        check_lifetime(Some(172_801), 172_800);
        check_lifetime(None, 300);
    }

    /// A token reply with `expires_in` 18446744073709551615 overflowed the clock and aborted.
    #[test]
    fn token_with_expires_in_u64_max_does_not_overflow() {
        let t0 = Instant::now();
        let token = Token::new("abc".into(), Duration::from_secs(u64::MAX), t0);
        assert!(token.is_fresh(t0));
        assert!(!token.is_fresh(t0 + MAX_LIFETIME));
        let token = Token::new("abc".into(), Duration::MAX, t0);
        assert!(token.is_fresh(t0 + MAX_LIFETIME - Duration::from_secs(61)));
        assert!(!token.is_fresh(t0 + MAX_LIFETIME - Duration::from_secs(60)));
    }

    #[test]
    fn prop_lifetime_stays_in_range() {
        crate::prop::run(|rng| {
            let expires_in = (rng.below(8) != 0).then(|| rng.huge());
            let got = lifetime(expires_in);
            assert!(
                (MIN_LIFETIME..=MAX_LIFETIME).contains(&got),
                "{expires_in:?}: {got:?}"
            );
            let token = Token::new("t".into(), Duration::from_secs(rng.huge()), Instant::now());
            assert!(token.lifetime <= MAX_LIFETIME);
        });
    }

    #[test]
    fn freshness_with_an_injected_clock() {
        let t0 = Instant::now();
        let token = Token::new("abc".into(), Duration::from_secs(300), t0);
        assert!(token.is_fresh(t0));
        assert!(token.is_fresh(t0 + Duration::from_secs(269)));
        // Inside the 30 s skew margin: replace it before use.
        assert!(!token.is_fresh(t0 + Duration::from_secs(270)));
        assert!(!token.is_fresh(t0 + Duration::from_secs(301)));

        let day = Token::new("abc".into(), Duration::from_secs(86_400), t0);
        assert!(day.is_fresh(t0 + Duration::from_secs(86_339)));
        assert!(!day.is_fresh(t0 + Duration::from_secs(86_340)));
    }

    #[test]
    fn debug_never_shows_secrets() {
        let c = Credentials::new("my-id".into(), "s3cr3t-value".into());
        let t = Token::new(
            "tok-value-xyz".into(),
            Duration::from_secs(60),
            Instant::now(),
        );
        let shown = format!("{c:?} {t:?}");
        assert!(shown.contains("my-id"));
        assert!(!shown.contains("s3cr3t-value"));
        assert!(!shown.contains("tok-value-xyz"));
    }
}
