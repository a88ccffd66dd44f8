//! Registry auth: the `/v2/` challenge, credential lookup and bearer
//! tokens (Docker token protocol and OAuth2 refresh-token grant).

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use serde_json::Value;

use super::http::Failure;
use super::registry::{percent_encode, registry_message, Ctx};
use super::{guard, Inner};
use crate::auth::{AuthConfig, Credentials, FoundCredentials};
use crate::error::ResolveError;
use crate::transport::check_url;

const SMALL_LIMIT: usize = 1 << 20;

#[derive(Debug, Clone)]
pub(super) enum Challenge {
    None,
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

/// Parses `Bearer realm="…",service="…"` / `Basic realm="…"`.
fn parse_challenge(h: &str) -> Option<Challenge> {
    let h = h.trim();
    let (scheme, rest) = h.split_once(char::is_whitespace).unwrap_or((h, ""));
    let mut params = HashMap::new();
    let mut s = rest.trim();
    while !s.is_empty() {
        let (k, after) = s.split_once('=')?;
        let k = k.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (v, remaining) = if let Some(q) = after.strip_prefix('"') {
            let mut val = String::new();
            let mut chars = q.char_indices();
            let mut end = q.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            val.push(n);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => val.push(c),
                }
            }
            (val, &q[end.min(q.len())..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        params.insert(k, v);
        s = remaining.trim_start().trim_start_matches(',').trim_start();
    }
    if scheme.eq_ignore_ascii_case("bearer") {
        Some(Challenge::Bearer {
            realm: params.get("realm")?.clone(),
            service: params.get("service").cloned(),
        })
    } else if scheme.eq_ignore_ascii_case("basic") {
        Some(Challenge::Basic)
    } else {
        None
    }
}

fn form_encode(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

impl Inner {
    async fn credentials(&self, ctx: &Ctx<'_>) -> Result<Option<FoundCredentials>, ResolveError> {
        let reg = ctx.reg;
        let found = reg
            .creds
            .get_or_try_init(|| async {
                let auth = self
                    .auth
                    .get_or_init(|| {
                        match &self.cfg.auth_file {
                            Some(p) => AuthConfig::from_files(std::slice::from_ref(p)),
                            None => AuthConfig::discover(),
                        }
                        .map(Arc::new)
                    })
                    .clone();
                let auth = auth.map_err(|source| ResolveError::Auth {
                    image: ctx.image.to_string(),
                    registry: reg.registry.clone(),
                    source,
                })?;
                let registry = reg.registry.clone();
                let looked_up =
                    tokio::task::spawn_blocking(move || auth.credentials_for(&registry))
                        .await
                        .map_err(|e| ResolveError::Internal(e.to_string()))?;
                looked_up.map_err(|source| ResolveError::Auth {
                    image: ctx.image.to_string(),
                    registry: reg.registry.clone(),
                    source,
                })
            })
            .await?;
        Ok(found.clone())
    }

    async fn challenge(&self, ctx: &Ctx<'_>) -> Result<Challenge, ResolveError> {
        let reg = ctx.reg;
        let res = reg
            .challenge
            .get_or_init(|| async {
                let url = format!("{}/v2/", reg.base);
                let (res, attempts) = self.send(reg, SMALL_LIMIT, |c| c.get(&url)).await;
                match res {
                    Ok(_) => Ok(Challenge::None),
                    Err(Failure::Status {
                        status: 401,
                        headers,
                        body,
                        ..
                    }) => {
                        let h = headers
                            .get(WWW_AUTHENTICATE)
                            .and_then(|h| h.to_str().ok())
                            .unwrap_or("");
                        parse_challenge(h).ok_or_else(|| {
                            ctx.unauthorized(
                                Some(401),
                                &format!(
                                    "unsupported authentication challenge ({})",
                                    registry_message(401, &body)
                                ),
                            )
                        })
                    }
                    // Other client errors: the registry has no usable ping
                    // endpoint; go on without auth.
                    Err(Failure::Status { status, .. })
                        if (400..500).contains(&status) && status != 429 =>
                    {
                        Ok(Challenge::None)
                    }
                    Err(f) => Err(ctx.fail(f, attempts)),
                }
            })
            .await;
        res.clone().map_err(|e| e.for_image(ctx.image))
    }

    /// The Authorization header for `repo`, and whether it was just obtained.
    pub(super) async fn auth_header(
        &self,
        ctx: &Ctx<'_>,
        repo: &str,
    ) -> Result<(Option<String>, bool), ResolveError> {
        match self.challenge(ctx).await? {
            Challenge::None => Ok((None, false)),
            Challenge::Basic => match self.credentials(ctx).await? {
                Some(FoundCredentials {
                    credentials: Credentials::Basic { username, password },
                    ..
                }) => {
                    let raw = format!("{username}:{}", password.expose());
                    Ok((
                        Some(format!(
                            "Basic {}",
                            base64::engine::general_purpose::STANDARD.encode(raw)
                        )),
                        false,
                    ))
                }
                _ => Ok((None, false)),
            },
            Challenge::Bearer { realm, service } => {
                if let Some(t) = guard(&ctx.reg.tokens).get(repo) {
                    return Ok((Some(format!("Bearer {t}")), false));
                }
                let token = self
                    .fetch_token(ctx, repo, &realm, service.as_deref())
                    .await?;
                match token {
                    Some(t) => {
                        guard(&ctx.reg.tokens).insert(repo.to_string(), t.clone());
                        Ok((Some(format!("Bearer {t}")), true))
                    }
                    None => Ok((None, true)),
                }
            }
        }
    }

    async fn fetch_token(
        &self,
        ctx: &Ctx<'_>,
        repo: &str,
        realm: &str,
        service: Option<&str>,
    ) -> Result<Option<String>, ResolveError> {
        // The realm is a URL the registry handed back: HTTPS unless its host
        // is loopback or configured insecure, checked before any credential
        // is looked up or sent.
        let url = reqwest::Url::parse(realm).map_err(|e| {
            ctx.unauthorized(None, &format!("token realm {realm:?} is not a URL: {e}"))
        })?;
        check_url("token realm", &url, &self.cfg.insecure_registries)
            .map_err(|m| ctx.fail(Failure::Refused(m), 0))?;
        let creds = self.credentials(ctx).await?;
        let scope = format!("repository:{repo}:pull");
        let (res, attempts) = match &creds {
            Some(FoundCredentials {
                credentials: Credentials::IdentityToken { token },
                ..
            }) => {
                // OAuth2 refresh-token grant, as Docker does for identity tokens.
                let mut form = vec![
                    ("grant_type", "refresh_token"),
                    ("refresh_token", token.expose()),
                    ("client_id", "chart-harden"),
                    ("scope", scope.as_str()),
                ];
                if let Some(s) = service {
                    form.push(("service", s));
                }
                let body = form_encode(&form);
                self.send(ctx.reg, SMALL_LIMIT, |c| {
                    c.post(url.clone())
                        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                        .body(body.clone())
                })
                .await
            }
            _ => {
                // Docker token protocol: GET realm?service=…&scope=…, with
                // basic auth when there are credentials.
                let mut u = url.clone();
                {
                    let mut q = u.query_pairs_mut();
                    if let Some(s) = service {
                        q.append_pair("service", s);
                    }
                    q.append_pair("scope", &scope);
                }
                let basic = match &creds {
                    Some(FoundCredentials {
                        credentials: Credentials::Basic { username, password },
                        ..
                    }) => Some(format!(
                        "Basic {}",
                        base64::engine::general_purpose::STANDARD
                            .encode(format!("{username}:{}", password.expose()))
                    )),
                    _ => None,
                };
                self.send(ctx.reg, SMALL_LIMIT, |c| {
                    let rb = c.get(u.clone());
                    match &basic {
                        Some(h) => rb.header(AUTHORIZATION, h.as_str()),
                        None => rb,
                    }
                })
                .await
            }
        };
        let reply = match res {
            Ok(r) => r,
            Err(Failure::Status {
                status: s @ (401 | 403),
                body,
                ..
            }) => {
                let reason = registry_message(s, &body);
                return Err(ctx.unauthorized(
                    Some(s),
                    &format!("token server {realm} refused the request: {reason}"),
                ));
            }
            Err(f) => return Err(ctx.fail(f, attempts)),
        };
        let v: Value = serde_json::from_slice(&reply.body)
            .map_err(|_| ctx.unauthorized(None, "token server answer is not JSON"))?;
        let t = v
            .get("access_token")
            .or_else(|| v.get("token"))
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty());
        match t {
            Some(t) => {
                guard(&ctx.reg.seen_tokens).push(t.to_string());
                Ok(Some(t.to_string()))
            }
            // An anonymous token server may answer without a token.
            None if creds.is_none() => Ok(None),
            None => Err(ctx.unauthorized(None, "token server answer has no token")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        match parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="a,b""#,
        ) {
            Some(Challenge::Bearer { realm, service }) => {
                assert_eq!(realm, "https://auth.docker.io/token");
                assert_eq!(service.as_deref(), Some("registry.docker.io"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_challenge(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        ));
        assert!(matches!(
            parse_challenge("bearer realm=http://x/t"),
            Some(Challenge::Bearer { .. })
        ));
        assert!(parse_challenge("Negotiate").is_none());
        assert!(parse_challenge("Bearer service=x").is_none());
    }

    #[test]
    fn form_encoding() {
        assert_eq!(form_encode(&[("a b", "x/y:z")]), "a%20b=x%2Fy%3Az");
    }
}
