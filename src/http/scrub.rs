//! Secrets out of every text a server sent: the client secret (plain and inside the Basic
//! header), the proxy's password and every token this run obtained become `<redacted>`, and
//! the text is made one line. It decides nothing and sends nothing.

use crate::api;
use crate::auth::Credentials;

/// Secrets that must never be shown: the client secret (plain and inside the Basic header)
/// and every token this run obtained.
pub(super) struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    pub(super) fn new(credentials: &Credentials) -> Redactor {
        let mut redactor = Redactor {
            secrets: Vec::new(),
        };
        redactor.add(credentials.secret());
        let basic = credentials.basic_authorization();
        redactor.add(basic.trim_start_matches("Basic "));
        redactor
    }

    pub(super) fn add(&mut self, secret: &str) {
        if !secret.is_empty() && !self.secrets.iter().any(|s| s == secret) {
            self.secrets.push(secret.to_string());
        }
    }

    /// `text` without secrets, on one line (a server's newlines and escapes become spaces).
    pub(super) fn scrub(&self, text: &str) -> String {
        let mut out = api::one_line(text);
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), "<redacted>");
            }
        }
        out
    }
}
