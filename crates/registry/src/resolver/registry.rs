//! Per-registry state (credentials, challenge, tokens) and the per-image
//! error context that scrubs secrets from every message.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;
use tokio::sync::OnceCell;

use super::guard;
use super::http::Failure;
use super::token::Challenge;
use crate::auth::{Credentials, FoundCredentials};
use crate::error::ResolveError;

pub(super) struct RegistryState {
    pub(super) registry: String,
    pub(super) base: String,
    pub(super) plain_http: bool,
    pub(super) creds: OnceCell<Option<FoundCredentials>>,
    pub(super) challenge: OnceCell<Result<Challenge, ResolveError>>,
    pub(super) tokens: Mutex<HashMap<String, String>>,
    /// Every bearer token obtained for this registry in this run (renewed
    /// ones too), for scrubbing.
    pub(super) seen_tokens: Mutex<Vec<String>>,
    /// Set after a DNS / connect failure: the registry is not tried again in
    /// this run.
    pub(super) down: OnceLock<String>,
}

impl RegistryState {
    /// Every form in which a credential of this registry can appear in a
    /// registry's answer: the password, `base64(user:password)` (the Basic
    /// header), the identity token, bearer tokens, and their URL-encoded
    /// forms. Longest first, so that no shorter secret splits a longer one.
    fn secrets(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        if let Some(Some(c)) = self.creds.get() {
            out.extend(c.credentials.secrets().into_iter().map(str::to_string));
            if let Credentials::Basic { username, password } = &c.credentials {
                let raw = format!("{username}:{}", password.expose());
                out.push(base64::engine::general_purpose::STANDARD.encode(&raw));
                out.push(base64::engine::general_purpose::URL_SAFE.encode(&raw));
                out.push(base64::engine::general_purpose::STANDARD_NO_PAD.encode(&raw));
            }
        }
        out.extend(guard(&self.seen_tokens).iter().cloned());
        let encoded: Vec<String> = out.iter().map(|s| percent_encode(s)).collect();
        out.extend(encoded);
        out.retain(|s| !s.is_empty());
        out.sort_by_key(|s| std::cmp::Reverse(s.len()));
        out.dedup();
        out
    }
}

pub(super) fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Per-image error context.
pub(super) struct Ctx<'a> {
    pub(super) image: &'a str,
    pub(super) reg: &'a RegistryState,
    pub(super) timeout: Duration,
}

impl Ctx<'_> {
    fn scrub(&self, s: &str) -> String {
        let mut out = s.to_string();
        for secret in self.reg.secrets() {
            out = out.replace(&secret, "***");
        }
        out
    }

    pub(super) fn invalid(&self, message: impl Into<String>) -> ResolveError {
        ResolveError::InvalidManifest {
            image: self.image.to_string(),
            registry: self.reg.registry.clone(),
            message: self.scrub(&message.into()),
        }
    }

    pub(super) fn unauthorized(&self, status: Option<u16>, detail: &str) -> ResolveError {
        let creds = self.reg.creds.get().and_then(|c| c.as_ref());
        let code = status.map(|s| format!(" (HTTP {s})")).unwrap_or_default();
        let what = if status == Some(403) {
            "access denied"
        } else {
            "authentication failed"
        };
        let detail = self.scrub(detail);
        let detail = if detail.is_empty() {
            String::new()
        } else {
            format!(": {detail}")
        };
        let message = match creds {
            None => format!(
                "{what}{code}{detail}; no credentials for {} were found (use `docker login {}`, or set DOCKER_CONFIG, REGISTRY_AUTH_FILE or the resolver's auth_file)",
                self.reg.registry, self.reg.registry
            ),
            Some(c) => format!(
                "{what}{code}{detail}; the registry rejected user {:?} (credentials from {}): check the password or token",
                c.credentials.username(),
                c.source
            ),
        };
        ResolveError::Unauthorized {
            image: self.image.to_string(),
            registry: self.reg.registry.clone(),
            message,
        }
    }

    pub(super) fn fail(&self, f: Failure, attempts: u32) -> ResolveError {
        let image = self.image.to_string();
        let registry = self.reg.registry.clone();
        match f {
            Failure::Status {
                status: s @ (401 | 403),
                body,
                ..
            } => self.unauthorized(Some(s), &registry_message(s, &body)),
            Failure::Status {
                status, body, note, ..
            } => {
                let mut message = self.scrub(&registry_message(status, &body));
                if let Some(n) = note {
                    message = format!("{message}; {n}");
                }
                ResolveError::Http {
                    image,
                    registry,
                    status,
                    message,
                    attempts,
                }
            }
            Failure::Timeout => ResolveError::Timeout {
                image,
                registry,
                timeout: self.timeout,
                attempts,
            },
            Failure::Transport(m) => ResolveError::Connection {
                image,
                registry,
                message: self.scrub(&m),
                attempts,
            },
            Failure::TooLarge(limit) => self.invalid(format!("response larger than {limit} bytes")),
            Failure::Refused(m) => ResolveError::Insecure {
                image,
                registry,
                message: self.scrub(&m),
            },
            Failure::Down(m) => ResolveError::Connection {
                image,
                registry,
                message: format!(
                    "{}; the registry was unreachable earlier in this run, not tried again",
                    self.scrub(&m)
                ),
                attempts: 0,
            },
        }
    }
}

/// The registry's own error text: OCI error envelope message, else a short
/// printable body, else the status reason.
pub(super) fn registry_message(status: u16, body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        if let Some(e) = v.get("errors").and_then(|e| e.get(0)) {
            let msg = e.get("message").and_then(Value::as_str).unwrap_or("");
            let code = e.get("code").and_then(Value::as_str).unwrap_or("");
            if !msg.is_empty() {
                return msg.to_string();
            }
            if !code.is_empty() {
                return code.to_ascii_lowercase().replace('_', " ");
            }
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if !text.is_empty()
        && text.len() <= 200
        && !text.starts_with('<')
        && text.chars().all(|c| !c.is_control() || c == '\n')
    {
        return text.replace('\n', " ");
    }
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("error")
        .to_ascii_lowercase()
}

pub(super) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let cs = c.to_string();
        if !s.contains(&cs) {
            s.push_str(": ");
            s.push_str(&cs);
        }
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages() {
        let body =
            br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{}}]}"#;
        assert_eq!(registry_message(404, body), "manifest unknown");
        assert_eq!(
            registry_message(404, br#"{"errors":[{"code":"NAME_UNKNOWN"}]}"#),
            "name unknown"
        );
        assert_eq!(
            registry_message(502, b"<html>bad gateway</html>"),
            "bad gateway"
        );
        assert_eq!(registry_message(500, b"boom"), "boom");
    }
}
