//! The digest resolver: registry protocol, retries, auth, lockfile and cache.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use reqwest::header::{
    HeaderMap, ACCEPT, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE,
};
use serde_json::Value;
use sha2::Digest as _;
use tokio::sync::{OnceCell, Semaphore};

use crate::auth::{AuthConfig, AuthError, Credentials, FoundCredentials};
use crate::cache::{default_cache_dir, Cache};
use crate::error::ResolveError;
use crate::lockfile::{rfc3339, LockEntry, Lockfile};
use crate::reference::{endpoint_for, is_loopback_registry, is_valid_digest, ImageRef};
use crate::transport::{check_url, listed_insecure, redirect_policy};
use crate::{Resolution, ResolverConfig, Source, Stats};

const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";
const MANIFEST_LIMIT: usize = 4 << 20;
const CONFIG_LIMIT: usize = 16 << 20;
const SMALL_LIMIT: usize = 1 << 20;
const MAX_BACKOFF: Duration = Duration::from_secs(10);
const USER_AGENT: &str = concat!("chart-harden-registry/", env!("CARGO_PKG_VERSION"));

/// What a lookup learned about one image (independent of the spelling).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resolved {
    pub(crate) digest: String,
    pub(crate) media_type: String,
    pub(crate) platforms: Vec<String>,
    pub(crate) user: Option<String>,
    pub(crate) volumes: Vec<String>,
    pub(crate) config_read: bool,
    pub(crate) resolved_at: String,
}

/// Resolves image references to digests. Cheap to share: all methods take
/// `&self`; state (tokens, lockfile, per-run results) lives inside.
///
/// Within one `Resolver` each canonical reference is looked up at most once,
/// so every spelling of an image gets the same pin for the whole run.
pub struct Resolver {
    inner: Arc<Inner>,
}

/// Where a [`Resolver`] sends its progress lines and warnings ([`Resolver::set_notice`]):
/// one line each, without a line break.
pub type Notice = Arc<dyn Fn(&str) + Send + Sync>;

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver")
            .field("config", &self.inner.cfg)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// `config.User` and sorted `config.Volumes` keys.
type Facts = (Option<String>, Vec<String>);

type Memo = Arc<OnceCell<Result<(Resolved, Source), ResolveError>>>;

struct Inner {
    cfg: ResolverConfig,
    /// Client for remote registries (honours proxy environment variables).
    http: reqwest::Client,
    /// Client for loopback registries (never proxied).
    http_direct: reqwest::Client,
    lock: Mutex<LockState>,
    cache: Option<Cache>,
    auth: OnceLock<Result<Arc<AuthConfig>, AuthError>>,
    registries: Mutex<HashMap<String, Arc<RegistryState>>>,
    memo: Mutex<HashMap<String, Memo>>,
    /// Image-config facts by manifest digest (content-addressed, so shared
    /// by every tag and repository pointing at the same manifest).
    facts: Mutex<HashMap<String, Facts>>,
    sem: Semaphore,
    requests: AtomicU64,
    lock_hits: AtomicU64,
    cache_hits: AtomicU64,
    registry_lookups: AtomicU64,
    pinned: AtomicU64,
    /// Receives progress lines and warnings (none are shown without it).
    notice: OnceLock<Notice>,
}

impl Inner {
    /// Passes `line` to the notice, if one is set and the resolver is not quiet.
    fn notify(&self, line: &str) {
        if let (false, Some(notice)) = (self.cfg.quiet, self.notice.get()) {
            notice(line);
        }
    }
}

struct LockState {
    lock: Lockfile,
    /// The lockfile as this run loaded it (merged with the file on disk when written).
    loaded: Lockfile,
    /// References asked for in this run (for `update_lock` pruning).
    requested: BTreeSet<String>,
}

#[derive(Debug, Clone)]
enum Challenge {
    None,
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

struct RegistryState {
    registry: String,
    base: String,
    plain_http: bool,
    creds: OnceCell<Option<FoundCredentials>>,
    challenge: OnceCell<Result<Challenge, ResolveError>>,
    tokens: Mutex<HashMap<String, String>>,
    /// Every bearer token obtained for this registry in this run (renewed
    /// ones too), for scrubbing.
    seen_tokens: Mutex<Vec<String>>,
    /// Set after a DNS / connect failure: the registry is not tried again in
    /// this run.
    down: OnceLock<String>,
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

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn guard<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Outcome of one HTTP exchange that did not succeed.
enum Failure {
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

struct Reply {
    headers: HeaderMap,
    body: Vec<u8>,
}

enum BodyError {
    Req(reqwest::Error),
    TooLarge,
}

/// Per-image error context.
struct Ctx<'a> {
    image: &'a str,
    reg: &'a RegistryState,
    timeout: Duration,
}

impl Ctx<'_> {
    fn scrub(&self, s: &str) -> String {
        let mut out = s.to_string();
        for secret in self.reg.secrets() {
            out = out.replace(&secret, "***");
        }
        out
    }

    fn invalid(&self, message: impl Into<String>) -> ResolveError {
        ResolveError::InvalidManifest {
            image: self.image.to_string(),
            registry: self.reg.registry.clone(),
            message: self.scrub(&message.into()),
        }
    }

    fn unauthorized(&self, status: Option<u16>, detail: &str) -> ResolveError {
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

    fn fail(&self, f: Failure, attempts: u32) -> ResolveError {
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
fn registry_message(status: u16, body: &[u8]) -> String {
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

fn error_chain(e: &dyn std::error::Error) -> String {
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

fn retryable_status(s: u16) -> bool {
    s == 408 || s == 429 || (500..=599).contains(&s)
}

/// `Retry-After` in its delta-seconds form.
fn retry_after(h: &HeaderMap) -> Option<Duration> {
    let v = h.get(RETRY_AFTER)?.to_str().ok()?.trim();
    v.parse::<u64>().ok().map(Duration::from_secs)
}

fn digest_of(algorithm: &str, bytes: &[u8]) -> Option<String> {
    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }
    match algorithm {
        "sha256" => Some(format!("sha256:{}", hex(&sha2::Sha256::digest(bytes)))),
        "sha384" => Some(format!("sha384:{}", hex(&sha2::Sha384::digest(bytes)))),
        "sha512" => Some(format!("sha512:{}", hex(&sha2::Sha512::digest(bytes)))),
        _ => None,
    }
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

fn now_rfc3339() -> String {
    rfc3339(SystemTime::now())
}

fn platform_string(p: &Value) -> Option<String> {
    let os = p.get("os")?.as_str()?;
    let arch = p.get("architecture")?.as_str()?;
    let mut s = format!("{os}/{arch}");
    if let Some(v) = p.get("variant").and_then(Value::as_str) {
        if !v.is_empty() {
            s.push('/');
            s.push_str(v);
        }
    }
    Some(s)
}

enum Kind {
    Index,
    Image,
}

fn classify(v: &Value, content_type: Option<&str>) -> Result<(Kind, String), String> {
    if v.get("schemaVersion").and_then(Value::as_i64) != Some(2) {
        return Err(format!(
            "unsupported schemaVersion {} (only schema 2 / OCI manifests are supported)",
            v.get("schemaVersion")
                .map_or("missing".to_string(), Value::to_string)
        ));
    }
    let declared = v
        .get("mediaType")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| {
            content_type
                .map(|c| c.split(';').next().unwrap_or(c).trim().to_string())
                .filter(|c| {
                    [OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST].contains(&c.as_str())
                })
        });
    let kind = match declared.as_deref() {
        Some(OCI_INDEX | DOCKER_LIST) => Kind::Index,
        Some(OCI_MANIFEST | DOCKER_MANIFEST) => Kind::Image,
        Some(other) => return Err(format!("unsupported media type {other:?}")),
        None if v.get("manifests").is_some() => Kind::Index,
        None if v.get("config").is_some() => Kind::Image,
        None => return Err("neither an image manifest nor an index".to_string()),
    };
    let media_type = declared.unwrap_or_else(|| {
        match kind {
            Kind::Index => OCI_INDEX,
            Kind::Image => OCI_MANIFEST,
        }
        .to_string()
    });
    Ok((kind, media_type))
}

/// `config.User` and sorted `config.Volumes` keys of an image config.
fn image_facts(config: &Value) -> (Option<String>, Vec<String>) {
    let c = config.get("config");
    let user = c
        .and_then(|c| c.get("User"))
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty())
        .map(str::to_string);
    let mut volumes: Vec<String> = c
        .and_then(|c| c.get("Volumes"))
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    volumes.sort();
    (user, volumes)
}

fn resolution(written: &str, r: &ImageRef, x: &Resolved, source: Source) -> Resolution {
    Resolution {
        reference: written.to_string(),
        canonical: r.canonical(),
        digest: x.digest.clone(),
        media_type: x.media_type.clone(),
        platforms: x.platforms.clone(),
        user: x.user.clone(),
        volumes: x.volumes.clone(),
        source,
    }
}

fn from_lock(e: &LockEntry) -> Resolved {
    Resolved {
        digest: e.digest.clone(),
        media_type: e.media_type.clone(),
        platforms: e.platforms.clone(),
        user: e.user.clone(),
        volumes: e.volumes.clone(),
        config_read: true,
        resolved_at: e.resolved_at.clone(),
    }
}

impl Resolver {
    /// Creates a resolver: validates the configuration, builds the HTTP
    /// clients and reads the lockfile (if configured). No request is made.
    pub fn new(cfg: ResolverConfig) -> Result<Self, ResolveError> {
        if cfg.concurrency == 0 {
            return Err(ResolveError::Config(
                "concurrency must be at least 1".into(),
            ));
        }
        if cfg.max_attempts == 0 {
            return Err(ResolveError::Config(
                "max_attempts must be at least 1".into(),
            ));
        }
        if cfg.timeout.is_zero() {
            return Err(ResolveError::Config("timeout must not be zero".into()));
        }
        if cfg.deadline.is_zero() {
            return Err(ResolveError::Config("deadline must not be zero".into()));
        }
        if cfg.offline && cfg.update_lock {
            return Err(ResolveError::Config(
                "--offline and --update-lock exclude each other (updating needs the registry)"
                    .into(),
            ));
        }
        let build = |direct: bool| {
            let mut b = reqwest::Client::builder()
                .timeout(cfg.timeout)
                .connect_timeout(cfg.timeout)
                .user_agent(USER_AGENT)
                .redirect(redirect_policy(cfg.insecure_registries.clone()))
                .pool_max_idle_per_host(cfg.concurrency);
            if direct || !cfg.dns_overrides.is_empty() {
                b = b.no_proxy();
            }
            for pem in &cfg.extra_ca_pem {
                let cert = reqwest::Certificate::from_pem(pem).map_err(|e| {
                    ResolveError::Config(format!("extra CA certificate: {}", error_chain(&e)))
                })?;
                b = b.tls_certs_merge([cert]);
            }
            for (name, addr) in &cfg.dns_overrides {
                if !addr.ip().is_loopback() {
                    return Err(ResolveError::Config(format!(
                        "dns_overrides may only point at loopback addresses ({name} → {addr})"
                    )));
                }
                b = b.resolve(name, *addr);
            }
            b.build().map_err(|e| {
                ResolveError::Config(format!("cannot build HTTP client: {}", error_chain(&e)))
            })
        };
        let http = build(false)?;
        let http_direct = build(true)?;
        let lock = match &cfg.lockfile {
            Some(p) => Lockfile::load(p)?,
            None => Lockfile::new(),
        };
        let cache = if cfg.use_cache {
            cfg.cache_dir
                .clone()
                .or_else(default_cache_dir)
                .map(|d| Cache::new(d, cfg.cache_ttl))
        } else {
            None
        };
        let sem = Semaphore::new(cfg.concurrency);
        Ok(Resolver {
            inner: Arc::new(Inner {
                cfg,
                http,
                http_direct,
                lock: Mutex::new(LockState {
                    loaded: lock.clone(),
                    lock,
                    requested: BTreeSet::new(),
                }),
                cache,
                auth: OnceLock::new(),
                registries: Mutex::new(HashMap::new()),
                memo: Mutex::new(HashMap::new()),
                facts: Mutex::new(HashMap::new()),
                sem,
                requests: AtomicU64::new(0),
                lock_hits: AtomicU64::new(0),
                cache_hits: AtomicU64::new(0),
                registry_lookups: AtomicU64::new(0),
                pinned: AtomicU64::new(0),
                notice: OnceLock::new(),
            }),
        })
    }

    /// Shows progress lines (when resolving takes more than a second) and warnings (a
    /// cache that cannot be written) through `notice`, one line each without a line break;
    /// unless [`ResolverConfig::quiet`] is set. Without a notice the resolver prints nothing.
    /// Only the first notice set counts.
    pub fn set_notice(&self, notice: Notice) {
        let _ = self.inner.notice.set(notice);
    }

    /// Resolves every reference (duplicates once) and returns a result per
    /// distinct reference as written. Locked references make no request;
    /// the rest are looked up concurrently (bounded by `concurrency`).
    pub async fn resolve_all(
        &self,
        refs: &[String],
    ) -> BTreeMap<String, Result<Resolution, ResolveError>> {
        let inner = &self.inner;
        let cfg = &inner.cfg;
        let mut out = BTreeMap::new();
        let unique: BTreeSet<&String> = refs.iter().collect();
        let mut groups: BTreeMap<String, (ImageRef, Vec<String>)> = BTreeMap::new();
        for w in unique {
            let r = match ImageRef::parse(w) {
                Ok(r) => r,
                Err(e) => {
                    out.insert(w.clone(), Err(e.into()));
                    continue;
                }
            };
            let canonical = r.canonical();
            {
                let mut ls = guard(&inner.lock);
                ls.requested.insert(w.clone());
                if r.digest.is_some() && !cfg.verify_pinned {
                    inner.pinned.fetch_add(1, Ordering::Relaxed);
                    let x = Resolved {
                        digest: r.digest.clone().unwrap_or_default(),
                        media_type: String::new(),
                        platforms: Vec::new(),
                        user: None,
                        volumes: Vec::new(),
                        config_read: false,
                        resolved_at: String::new(),
                    };
                    out.insert(w.clone(), Ok(resolution(w, &r, &x, Source::Pinned)));
                    continue;
                }
                if cfg.lockfile.is_some() && !cfg.update_lock {
                    let hit = ls
                        .lock
                        .get(w)
                        .or_else(|| ls.lock.get_by_canonical(&canonical))
                        .cloned();
                    if let Some(e) = hit {
                        inner.lock_hits.fetch_add(1, Ordering::Relaxed);
                        if e.reference != *w && !cfg.offline {
                            // Record this spelling too.
                            let alias = LockEntry {
                                reference: w.clone(),
                                canonical: canonical.clone(),
                                ..e.clone()
                            };
                            ls.lock.insert(alias);
                        }
                        out.insert(
                            w.clone(),
                            Ok(resolution(w, &r, &from_lock(&e), Source::Lockfile)),
                        );
                        continue;
                    }
                }
            }
            if cfg.offline {
                out.insert(
                    w.clone(),
                    Err(ResolveError::OfflineMiss {
                        image: w.clone(),
                        lockfile: cfg
                            .lockfile
                            .as_ref()
                            .map_or("no lockfile configured".to_string(), |p| {
                                p.display().to_string()
                            }),
                    }),
                );
                continue;
            }
            groups
                .entry(canonical)
                .or_insert_with(|| (r, Vec::new()))
                .1
                .push(w.clone());
        }

        if groups.is_empty() {
            return out;
        }
        let notice = (!cfg.quiet).then(|| inner.notice.get().cloned()).flatten();
        let progress = Progress::start(groups.len(), notice);
        // One deadline for the whole call: retries, backoff and waiting for
        // a concurrency slot all count.
        let deadline = tokio::time::Instant::now() + cfg.deadline;
        let mut set = tokio::task::JoinSet::new();
        for (canonical, (r, written)) in &groups {
            let inner = Arc::clone(inner);
            let canonical = canonical.clone();
            let r = r.clone();
            let first = written.first().cloned().unwrap_or_default();
            let done = Arc::clone(&progress.done);
            let resolved = Arc::clone(&progress.resolved);
            set.spawn(async move {
                let res = tokio::time::timeout_at(
                    deadline,
                    inner.resolve_canonical(&canonical, &r, &first),
                )
                .await
                .unwrap_or_else(|_| {
                    Err(ResolveError::Deadline {
                        image: first.clone(),
                        registry: r.registry.clone(),
                        deadline: inner.cfg.deadline,
                    })
                });
                done.fetch_add(1, Ordering::Relaxed);
                if res.is_ok() {
                    resolved.fetch_add(1, Ordering::Relaxed);
                }
                (canonical, res)
            });
        }
        while let Some(joined) = set.join_next().await {
            let Ok((canonical, res)) = joined else {
                continue;
            };
            let Some((r, written)) = groups.get(&canonical) else {
                continue;
            };
            for w in written {
                let item = match &res {
                    Ok((x, source)) => {
                        if cfg.lockfile.is_some() {
                            guard(&inner.lock).lock.insert(LockEntry {
                                reference: w.clone(),
                                canonical: canonical.clone(),
                                digest: x.digest.clone(),
                                media_type: x.media_type.clone(),
                                platforms: x.platforms.clone(),
                                user: x.user.clone(),
                                volumes: x.volumes.clone(),
                                resolved_at: x.resolved_at.clone(),
                            });
                        }
                        Ok(resolution(w, r, x, *source))
                    }
                    Err(e) => Err(e.clone().for_image(w)),
                };
                out.insert(w.clone(), item);
            }
        }
        for (_, written) in groups.values() {
            for w in written {
                out.entry(w.clone()).or_insert_with(|| {
                    Err(ResolveError::Internal(format!(
                        "resolution task for {w:?} did not complete"
                    )))
                });
            }
        }
        progress.finish();
        out
    }

    /// Writes the lockfile atomically (temporary file in the same directory,
    /// fsync, rename) when a lockfile is configured, the run is not offline
    /// and the content changed.
    /// Only successful resolutions are ever added; with `update_lock` the
    /// file holds exactly the references of this run (a reference that failed
    /// to re-resolve keeps its previous entry). Callers wanting
    /// all-or-nothing should not call this after a failed resolution: the
    /// previous lockfile then stays as it was.
    pub fn write_lockfile(&self) -> Result<(), ResolveError> {
        let Some(path) = &self.inner.cfg.lockfile else {
            return Ok(());
        };
        if self.inner.cfg.offline {
            // Offline runs only read the lockfile.
            return Ok(());
        }
        let (loaded, lock) = {
            let ls = guard(&self.inner.lock);
            let mut lock = ls.lock.clone();
            if self.inner.cfg.update_lock {
                lock.retain(|e| ls.requested.contains(&e.reference));
            }
            (ls.loaded.clone(), lock)
        };
        // Merged under a lock with what another run may have written meanwhile.
        crate::lockfile::write_merged(path, &loaded, &lock, self.inner.cfg.update_lock)
            .map(|_| ())
            .map_err(|e| ResolveError::LockfileWrite {
                path: path.display().to_string(),
                message: e.to_string(),
            })
    }

    /// The lockfile as it would be written now.
    pub fn lockfile(&self) -> Lockfile {
        guard(&self.inner.lock).lock.clone()
    }

    /// Counters since creation.
    pub fn stats(&self) -> Stats {
        let i = &self.inner;
        Stats {
            network_requests: i.requests.load(Ordering::Relaxed),
            lock_hits: i.lock_hits.load(Ordering::Relaxed),
            cache_hits: i.cache_hits.load(Ordering::Relaxed),
            registry_lookups: i.registry_lookups.load(Ordering::Relaxed),
            pinned: i.pinned.load(Ordering::Relaxed),
        }
    }
}

/// A progress line (to the notice) when resolution takes more than a second.
struct Progress {
    /// Lookups finished (resolved or failed).
    done: Arc<AtomicUsize>,
    /// Lookups that produced a digest.
    resolved: Arc<AtomicUsize>,
    shown: Arc<AtomicBool>,
    total: usize,
    start: Instant,
    task: Option<tokio::task::JoinHandle<()>>,
    notice: Option<Notice>,
}

impl Progress {
    fn start(total: usize, notice: Option<Notice>) -> Self {
        let done = Arc::new(AtomicUsize::new(0));
        let shown = Arc::new(AtomicBool::new(false));
        let start = Instant::now();
        let task = notice.clone().map(|notice| {
            let done = Arc::clone(&done);
            let shown = Arc::clone(&shown);
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(1)).await;
                loop {
                    notice(&format!(
                        "chart-harden: resolving image digests: {}/{total} done ({:.1}s)",
                        done.load(Ordering::Relaxed),
                        start.elapsed().as_secs_f64()
                    ));
                    shown.store(true, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            })
        });
        Progress {
            done,
            resolved: Arc::new(AtomicUsize::new(0)),
            shown,
            total,
            start,
            task,
            notice,
        }
    }

    fn finish(self) {
        if let Some(t) = &self.task {
            t.abort();
        }
        if let (true, Some(notice)) = (self.shown.load(Ordering::Relaxed), &self.notice) {
            notice(&finish_line(
                self.resolved.load(Ordering::Relaxed),
                self.done.load(Ordering::Relaxed),
                self.total,
                self.start.elapsed(),
            ));
        }
    }
}

/// The last progress line: real counts, failures named as such.
fn finish_line(resolved: usize, done: usize, total: usize, took: Duration) -> String {
    let failed = done.saturating_sub(resolved) + total.saturating_sub(done);
    let mut s = format!(
        "chart-harden: resolved {resolved}/{total} image digests in {:.1}s",
        took.as_secs_f64()
    );
    if failed > 0 {
        s.push_str(&format!(" ({failed} failed)"));
    }
    s
}

impl Drop for Progress {
    /// Also stops the ticker when `resolve_all` is cancelled.
    fn drop(&mut self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

impl Inner {
    fn is_insecure(&self, registry: &str) -> bool {
        is_loopback_registry(registry) || listed_insecure(registry, &self.cfg.insecure_registries)
    }

    fn registry_state(&self, registry: &str) -> Arc<RegistryState> {
        let mut regs = guard(&self.registries);
        if let Some(r) = regs.get(registry) {
            return Arc::clone(r);
        }
        let endpoint = endpoint_for(registry).to_string();
        let plain_http = self.is_insecure(registry);
        let scheme = if plain_http { "http" } else { "https" };
        let st = Arc::new(RegistryState {
            registry: registry.to_string(),
            base: format!("{scheme}://{endpoint}"),
            plain_http,
            creds: OnceCell::new(),
            challenge: OnceCell::new(),
            tokens: Mutex::new(HashMap::new()),
            seen_tokens: Mutex::new(Vec::new()),
            down: OnceLock::new(),
        });
        regs.insert(registry.to_string(), Arc::clone(&st));
        st
    }

    async fn resolve_canonical(
        self: &Arc<Self>,
        canonical: &str,
        r: &ImageRef,
        written: &str,
    ) -> Result<(Resolved, Source), ResolveError> {
        let cell = {
            let mut memo = guard(&self.memo);
            Arc::clone(memo.entry(canonical.to_string()).or_default())
        };
        cell.get_or_init(|| async {
            let _permit = self
                .sem
                .acquire()
                .await
                .map_err(|e| ResolveError::Internal(e.to_string()))?;
            let need_config = self.cfg.read_image_config;
            if let (Some(cache), false) = (&self.cache, self.cfg.update_lock) {
                if let Some(x) = cache.get(canonical, need_config) {
                    self.cache_hits.fetch_add(1, Ordering::Relaxed);
                    return Ok((x, Source::Cache));
                }
            }
            self.registry_lookups.fetch_add(1, Ordering::Relaxed);
            let x = self.resolve_remote(r, written).await?;
            if let Some(cache) = &self.cache {
                if let Err(e) = cache.put(canonical, &x) {
                    self.notify(&format!(
                        "chart-harden: warning: cannot write digest cache: {e}"
                    ));
                }
            }
            Ok((x, Source::Registry))
        })
        .await
        .clone()
    }

    async fn resolve_remote(&self, r: &ImageRef, written: &str) -> Result<Resolved, ResolveError> {
        let reg = self.registry_state(&r.registry);
        let ctx = Ctx {
            image: written,
            reg: &reg,
            timeout: self.cfg.timeout,
        };
        let repo = r.repository.as_str();
        let (top, digest, content_type) = self
            .fetch_manifest(&ctx, repo, r.manifest_reference(), r.digest.as_deref())
            .await?;
        let v: Value =
            serde_json::from_slice(&top).map_err(|e| ctx.invalid(format!("not JSON: {e}")))?;
        let (kind, media_type) =
            classify(&v, content_type.as_deref()).map_err(|m| ctx.invalid(m))?;
        let mut platforms = Vec::new();
        let mut config_desc: Option<Value> = None;
        let known = guard(&self.facts).get(&digest).cloned();
        match kind {
            Kind::Index => {
                let entries = v
                    .get("manifests")
                    .and_then(Value::as_array)
                    .ok_or_else(|| ctx.invalid("index without \"manifests\""))?;
                for e in entries {
                    if let Some(p) = e.get("platform").and_then(platform_string) {
                        // Attestation manifests are tagged unknown/unknown.
                        if !p.starts_with("unknown/") && !platforms.contains(&p) {
                            platforms.push(p);
                        }
                    }
                }
                if self.cfg.read_image_config && known.is_none() {
                    let chosen = entries
                        .iter()
                        .find(|e| {
                            e.get("platform").and_then(platform_string).as_deref()
                                == Some("linux/amd64")
                        })
                        .or_else(|| {
                            entries.iter().find(|e| {
                                e.get("platform")
                                    .and_then(platform_string)
                                    .is_some_and(|p| !p.starts_with("unknown/"))
                            })
                        })
                        .or_else(|| entries.first());
                    if let Some(child) = chosen {
                        let child_digest = child
                            .get("digest")
                            .and_then(Value::as_str)
                            .ok_or_else(|| ctx.invalid("index entry without digest"))?;
                        if !is_valid_digest(child_digest) {
                            return Err(ctx.invalid(format!(
                                "index entry has a malformed digest {child_digest:?}"
                            )));
                        }
                        let (bytes, _, ct) = self
                            .fetch_manifest(&ctx, repo, child_digest, Some(child_digest))
                            .await?;
                        let cv: Value = serde_json::from_slice(&bytes).map_err(|e| {
                            ctx.invalid(format!(
                                "platform manifest {child_digest} is not JSON: {e}"
                            ))
                        })?;
                        if let Ok((Kind::Image, _)) = classify(&cv, ct.as_deref()) {
                            config_desc = cv.get("config").cloned();
                        }
                    }
                }
            }
            Kind::Image => {
                config_desc = Some(
                    v.get("config")
                        .cloned()
                        .ok_or_else(|| ctx.invalid("image manifest without \"config\""))?,
                );
            }
        }
        let (mut user, mut volumes) = (None, Vec::new());
        let mut config_read = false;
        if let (true, Some((u, v))) = (self.cfg.read_image_config, known) {
            (user, volumes, config_read) = (u, v, true);
        } else if self.cfg.read_image_config {
            config_read = true;
            if let Some(desc) = config_desc {
                let mt = desc.get("mediaType").and_then(Value::as_str).unwrap_or("");
                if mt == OCI_CONFIG || mt == DOCKER_CONFIG {
                    let cd = desc
                        .get("digest")
                        .and_then(Value::as_str)
                        .ok_or_else(|| ctx.invalid("config descriptor without digest"))?;
                    if !is_valid_digest(cd) {
                        return Err(
                            ctx.invalid(format!("config descriptor has a malformed digest {cd:?}"))
                        );
                    }
                    let blob = self.fetch_blob(&ctx, repo, cd).await?;
                    let cv: Value = serde_json::from_slice(&blob)
                        .map_err(|e| ctx.invalid(format!("image config {cd} is not JSON: {e}")))?;
                    (user, volumes) = image_facts(&cv);
                }
            }
            guard(&self.facts).insert(digest.clone(), (user.clone(), volumes.clone()));
        }
        Ok(Resolved {
            digest,
            media_type,
            platforms,
            user,
            volumes,
            config_read,
            resolved_at: now_rfc3339(),
        })
    }

    /// GETs a manifest; verifies the bytes against `Docker-Content-Digest`
    /// and against `expected`. Returns (bytes, digest, content type).
    async fn fetch_manifest(
        &self,
        ctx: &Ctx<'_>,
        repo: &str,
        reference: &str,
        expected: Option<&str>,
    ) -> Result<(Vec<u8>, String, Option<String>), ResolveError> {
        let url = format!("{}/v2/{repo}/manifests/{reference}", ctx.reg.base);
        let reply = self
            .get_authed(ctx, repo, &url, Some(ACCEPT_MANIFESTS), MANIFEST_LIMIT)
            .await?;
        let body = reply.body;
        let computed = digest_of("sha256", &body).unwrap_or_default();
        let mismatch = |claimed: &str, actual: String| ResolveError::DigestMismatch {
            image: ctx.image.to_string(),
            registry: ctx.reg.registry.clone(),
            claimed: claimed.to_string(),
            actual,
        };
        let claimed = reply
            .headers
            .get("docker-content-digest")
            .and_then(|h| h.to_str().ok())
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        if let Some(c) = &claimed {
            let alg = c.split_once(':').map_or("", |(a, _)| a);
            match digest_of(alg, &body) {
                Some(actual) if actual == *c => {}
                Some(actual) => return Err(mismatch(c, actual)),
                None => return Err(mismatch(c, computed)),
            }
        }
        let digest = match expected {
            Some(e) => {
                let alg = e.split_once(':').map_or("", |(a, _)| a);
                match digest_of(alg, &body) {
                    Some(actual) if actual == e => e.to_string(),
                    Some(actual) => return Err(mismatch(e, actual)),
                    None => return Err(mismatch(e, computed)),
                }
            }
            None => computed,
        };
        let content_type = reply
            .headers
            .get(CONTENT_TYPE)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string);
        Ok((body, digest, content_type))
    }

    async fn fetch_blob(
        &self,
        ctx: &Ctx<'_>,
        repo: &str,
        digest: &str,
    ) -> Result<Vec<u8>, ResolveError> {
        let url = format!("{}/v2/{repo}/blobs/{digest}", ctx.reg.base);
        let reply = self.get_authed(ctx, repo, &url, None, CONFIG_LIMIT).await?;
        let alg = digest.split_once(':').map_or("", |(a, _)| a);
        match digest_of(alg, &reply.body) {
            Some(actual) if actual == digest => Ok(reply.body),
            Some(actual) => Err(ResolveError::DigestMismatch {
                image: ctx.image.to_string(),
                registry: ctx.reg.registry.clone(),
                claimed: digest.to_string(),
                actual,
            }),
            None => Err(ctx.invalid(format!("unsupported digest algorithm in {digest}"))),
        }
    }

    /// GET with registry auth; a rejected cached bearer token is renewed once.
    async fn get_authed(
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
    async fn send<F>(
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
    async fn auth_header(
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

    /// A notice that keeps the lines it is given.
    fn recording() -> (Notice, Arc<Mutex<Vec<String>>>) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&lines);
        let notice: Notice = Arc::new(move |l: &str| guard(&kept).push(l.to_string()));
        (notice, lines)
    }

    #[test]
    fn progress_lines_go_to_the_notice() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (notice, lines) = recording();
        rt.block_on(async {
            let p = Progress::start(2, Some(notice));
            p.done.fetch_add(1, Ordering::Relaxed);
            p.resolved.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(1300)).await;
            p.finish();
        });
        let lines = guard(&lines).clone();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(
            lines[0].starts_with("chart-harden: resolving image digests: 1/2 done ("),
            "{lines:?}"
        );
        assert!(!lines[1].contains('\n'), "{lines:?}");
        // Without a notice nothing is shown (and nothing is printed).
        rt.block_on(async {
            let p = Progress::start(1, None);
            assert!(p.task.is_none());
            p.finish();
        });
    }

    #[test]
    fn warnings_go_to_the_notice_unless_quiet() {
        for quiet in [false, true] {
            let r = Resolver::new(ResolverConfig {
                quiet,
                use_cache: false,
                ..ResolverConfig::default()
            })
            .unwrap();
            let (notice, lines) = recording();
            r.inner.notify("before any notice");
            r.set_notice(notice);
            r.inner.notify("chart-harden: warning: x");
            let want: &[&str] = if quiet {
                &[]
            } else {
                &["chart-harden: warning: x"]
            };
            assert_eq!(*guard(&lines), want, "quiet: {quiet}");
        }
    }

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
    fn finish_line_states_real_counts() {
        let t = Duration::from_millis(2500);
        assert_eq!(
            finish_line(0, 2, 2, t),
            "chart-harden: resolved 0/2 image digests in 2.5s (2 failed)"
        );
        assert_eq!(
            finish_line(2, 2, 2, t),
            "chart-harden: resolved 2/2 image digests in 2.5s"
        );
        assert_eq!(
            finish_line(1, 1, 3, t),
            "chart-harden: resolved 1/3 image digests in 2.5s (2 failed)"
        );
    }

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

    #[test]
    fn facts_and_helpers() {
        let cfg: Value =
            serde_json::json!({"config": {"User": "1000", "Volumes": {"/b": {}, "/a": {}}}});
        assert_eq!(
            image_facts(&cfg),
            (Some("1000".into()), vec!["/a".into(), "/b".into()])
        );
        assert_eq!(
            image_facts(&serde_json::json!({"config": {"User": ""}})),
            (None, vec![])
        );
        assert_eq!(form_encode(&[("a b", "x/y:z")]), "a%20b=x%2Fy%3Az");
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, reqwest::header::HeaderValue::from_static("3"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        assert_eq!(
            digest_of("sha256", b""),
            Some("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".into())
        );
    }
}
