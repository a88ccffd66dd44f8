//! The digest resolver: lookups per canonical reference, lockfile and cache.
//!
//! The work is split by job: [`registry`] holds per-registry state and the
//! per-image error context, [`http`] one request with retries and auth,
//! [`token`] auth challenges, credentials and bearer tokens, [`manifest`]
//! manifest, index and image-config fetching, [`progress`] the progress
//! line.

mod http;
mod manifest;
mod progress;
mod registry;
mod token;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use tokio::sync::{OnceCell, Semaphore};

use crate::auth::{AuthConfig, AuthError};
use crate::cache::{default_cache_dir, Cache};
use crate::error::ResolveError;
use crate::lockfile::{LockEntry, Lockfile};
use crate::reference::{endpoint_for, is_loopback_registry, ImageRef};
use crate::transport::{listed_insecure, redirect_policy};
use crate::{Resolution, ResolverConfig, Source, Stats};

use progress::Progress;
use registry::{error_chain, RegistryState};

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

fn guard<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_go_to_the_notice_unless_quiet() {
        for quiet in [false, true] {
            let r = Resolver::new(ResolverConfig {
                quiet,
                use_cache: false,
                ..ResolverConfig::default()
            })
            .unwrap();
            let (notice, lines) = progress::tests::recording();
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
}
