//! One registry request: retries with backoff, `Retry-After`, size limits,
//! and registry auth (a rejected cached bearer token is renewed once).

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, ACCEPT, AUTHORIZATION, RETRY_AFTER};

use super::registry::{error_chain, Ctx, RegistryState};
use super::{guard, Inner};
use crate::error::ResolveError;
use crate::reference::is_loopback_registry;

const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Outcome of one HTTP exchange that did not succeed.
pub(super) enum Failure {
    Status {
        status: u16,
        headers: HeaderMap,
        body: Vec<u8>,
        note: Option<String>,
    },
    Timeout,
    Transport(String),
    TooLarge(usize),
    /// A URL the registry handed back was refused (plain HTTP, downgrade,
    /// too many redirects): never retried.
    Refused(String),
    /// The registry failed at DNS / connect level earlier in this run.
    Down(String),
}

pub(super) struct Reply {
    pub(super) headers: HeaderMap,
    pub(super) body: Vec<u8>,
}

enum BodyError {
    Req(reqwest::Error),
    TooLarge,
}

fn retryable_status(s: u16) -> bool {
    s == 408 || s == 429 || (500..=599).contains(&s)
}

/// `Retry-After` in its delta-seconds form.
fn retry_after(h: &HeaderMap) -> Option<Duration> {
    let v = h.get(RETRY_AFTER)?.to_str().ok()?.trim();
    v.parse::<u64>().ok().map(Duration::from_secs)
}

impl Inner {
    /// GET with registry auth; a rejected cached bearer token is renewed once.
    pub(super) async fn get_authed(
        &self,
        ctx: &Ctx<'_>,
        repo: &str,
        url: &str,
        accept: Option<&str>,
        limit: usize,
    ) -> Result<Reply, ResolveError> {
        let mut renewed = false;
        loop {
            let (auth, fresh) = self.auth_header(ctx, repo).await?;
            let (res, attempts) = self
                .send(ctx.reg, limit, |c| {
                    let mut rb = c.get(url);
                    if let Some(a) = accept {
                        rb = rb.header(ACCEPT, a);
                    }
                    if let Some(h) = &auth {
                        rb = rb.header(AUTHORIZATION, h.as_str());
                    }
                    rb
                })
                .await;
            match res {
                Ok(r) => return Ok(r),
                Err(Failure::Status { status: 401, .. })
                    if !renewed && !fresh && auth.is_some() =>
                {
                    guard(&ctx.reg.tokens).remove(repo);
                    renewed = true;
                }
                Err(f) => return Err(ctx.fail(f, attempts)),
            }
        }
    }

    /// One request with retries. Returns the reply or the last failure and
    /// the number of attempts made.
    pub(super) async fn send<F>(
        &self,
        reg: &RegistryState,
        limit: usize,
        build: F,
    ) -> (Result<Reply, Failure>, u32)
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    {
        let client = if reg.plain_http && is_loopback_registry(&reg.registry) {
            &self.http_direct
        } else {
            &self.http
        };
        let max = self.cfg.max_attempts;
        let mut attempt = 0;
        loop {
            attempt += 1;
            if let Some(m) = reg.down.get() {
                return (Err(Failure::Down(m.clone())), attempt - 1);
            }
            self.requests.fetch_add(1, Ordering::Relaxed);
            let exchange = async {
                let resp = build(client).send().await.map_err(BodyError::Req)?;
                let status = resp.status().as_u16();
                let headers = resp.headers().clone();
                if resp.content_length().is_some_and(|l| l > limit as u64) {
                    return Err(BodyError::TooLarge);
                }
                let mut resp = resp;
                let mut body = Vec::new();
                while let Some(chunk) = resp.chunk().await.map_err(BodyError::Req)? {
                    if body.len() + chunk.len() > limit {
                        return Err(BodyError::TooLarge);
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok((status, headers, body))
            };
            let (failure, delay) = match tokio::time::timeout(self.cfg.timeout, exchange).await {
                Err(_) => (Failure::Timeout, None),
                Ok(Err(BodyError::TooLarge)) => return (Err(Failure::TooLarge(limit)), attempt),
                Ok(Err(BodyError::Req(e))) if e.is_redirect() => {
                    return (Err(Failure::Refused(error_chain(&e))), attempt);
                }
                Ok(Err(BodyError::Req(e))) if e.is_connect() => {
                    // DNS or connect failure: not retried, and no other image
                    // of this registry is tried in this run.
                    let m = error_chain(&e);
                    let _ = reg.down.set(m.clone());
                    return (Err(Failure::Transport(m)), attempt);
                }
                Ok(Err(BodyError::Req(e))) if e.is_timeout() => (Failure::Timeout, None),
                Ok(Err(BodyError::Req(e))) => (Failure::Transport(error_chain(&e)), None),
                Ok(Ok((status, headers, body))) if (200..300).contains(&status) => {
                    return (Ok(Reply { headers, body }), attempt);
                }
                Ok(Ok((status, headers, body))) if retryable_status(status) => {
                    let ra = retry_after(&headers);
                    if let Some(ra) = ra.filter(|ra| *ra > self.cfg.max_retry_after) {
                        let note = format!(
                            "registry asks to retry after {}s, longer than the {}s allowed",
                            ra.as_secs(),
                            self.cfg.max_retry_after.as_secs()
                        );
                        return (
                            Err(Failure::Status {
                                status,
                                headers,
                                body,
                                note: Some(note),
                            }),
                            attempt,
                        );
                    }
                    (
                        Failure::Status {
                            status,
                            headers,
                            body,
                            note: None,
                        },
                        ra,
                    )
                }
                Ok(Ok((status, headers, body))) => {
                    return (
                        Err(Failure::Status {
                            status,
                            headers,
                            body,
                            note: None,
                        }),
                        attempt,
                    );
                }
            };
            if attempt >= max {
                return (Err(failure), attempt);
            }
            tokio::time::sleep(delay.unwrap_or_else(|| self.backoff(attempt))).await;
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let base = self.cfg.backoff_base;
        let exp = base
            .saturating_mul(1u32 << (attempt - 1).min(16))
            .min(MAX_BACKOFF);
        // Up to 25% jitter, so that concurrent retries spread out.
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let jitter = exp.mul_f64(f64::from(nanos % 1000) / 4000.0);
        exp + jitter
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_delta_seconds() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, reqwest::header::HeaderValue::from_static("3"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
    }
}
