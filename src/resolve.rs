//! Resolve stage: image tags → verified digests, turned into the [`ImageFacts`] rules read.
//!
//! [`crate::run`] asks a [`DigestSource`] for the facts of every image reference pinning
//! needs: [`RegistryDigests`] asks the registries through the registry crate (async, batched,
//! lockfile first, then the cache), [`NoPinning`] asks nobody, and a map of known facts
//! answers with itself.

use std::collections::BTreeMap;
use std::time::Duration;

use chart_harden_registry::{Notice, Resolver, ResolverConfig, Source};

use crate::config::{OnResolveError, Settings};
use crate::error::Error;
use crate::inventory::images::ImageFacts;

/// Turns the image references pinning needs into facts (digest, user, volumes, or why not).
pub trait DigestSource {
    /// Facts per reference as written, for `refs` (references without a digest, each once).
    /// An error fails the run.
    fn resolve(
        &self,
        refs: &[String],
        settings: &Settings,
    ) -> Result<BTreeMap<String, ImageFacts>, Error>;
}

/// No digests: every image stays as written (no facts, nothing reported unpinned).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoPinning;

impl DigestSource for NoPinning {
    fn resolve(&self, _: &[String], _: &Settings) -> Result<BTreeMap<String, ImageFacts>, Error> {
        Ok(BTreeMap::new())
    }
}

/// Facts known beforehand: the map itself, whatever is asked.
impl DigestSource for BTreeMap<String, ImageFacts> {
    fn resolve(&self, _: &[String], _: &Settings) -> Result<BTreeMap<String, ImageFacts>, Error> {
        Ok(self.clone())
    }
}

/// The registries, through the registry crate: lockfile first, then the cache, then the
/// network, as [`Settings::resolve`](crate::config::Config::resolve) and the image options
/// say. With policy `fail`, the first error fails the run (exit 3) naming the image, the
/// registry and the cause; the lockfile is written when every image resolved.
#[derive(Clone, Default)]
pub struct RegistryDigests {
    notice: Option<Notice>,
}

impl std::fmt::Debug for RegistryDigests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryDigests")
            .field("notice", &self.notice.is_some())
            .finish()
    }
}

impl RegistryDigests {
    /// Resolves without showing progress.
    pub fn new() -> RegistryDigests {
        RegistryDigests::default()
    }

    /// Shows the resolver's progress lines and warnings through `notice` (one line each,
    /// without a line break).
    pub fn with_notice(notice: impl Fn(&str) + Send + Sync + 'static) -> RegistryDigests {
        RegistryDigests {
            notice: Some(std::sync::Arc::new(notice)),
        }
    }
}

/// The resolver configuration of a run's settings.
fn resolver_config(settings: &Settings, quiet: bool) -> ResolverConfig {
    let r = &settings.resolve;
    ResolverConfig {
        concurrency: settings.images.concurrency.max(1),
        timeout: Duration::from_secs(settings.images.timeout_seconds.max(1)),
        deadline: Duration::from_secs(settings.images.deadline_seconds.max(1)),
        insecure_registries: settings.images.insecure_registries.clone(),
        lockfile: r.lockfile.clone(),
        offline: r.offline,
        update_lock: r.update_lock,
        cache_dir: r.cache_dir.clone(),
        use_cache: !r.no_cache && !r.offline,
        quiet,
        // A reference that carries a digest is looked up too, for its config's User.
        verify_pinned: true,
        ..ResolverConfig::default()
    }
}

impl DigestSource for RegistryDigests {
    fn resolve(
        &self,
        refs: &[String],
        settings: &Settings,
    ) -> Result<BTreeMap<String, ImageFacts>, Error> {
        let mut facts = BTreeMap::new();
        if refs.is_empty() || !settings.images.pin {
            return Ok(facts);
        }
        let resolver =
            Resolver::new(resolver_config(settings, self.notice.is_none())).map_err(Box::new)?;
        if let Some(notice) = &self.notice {
            resolver.set_notice(notice.clone());
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Error::AsyncRuntime)?;
        let results = rt.block_on(resolver.resolve_all(refs));
        let mut first_error = None;
        for (r, res) in results {
            match res {
                Ok(res) => {
                    facts.insert(
                        r,
                        ImageFacts {
                            pinned: Some(res.pinned_reference()),
                            digest: Some(res.digest.clone()),
                            // `None` from the registry means the config has no User (root);
                            // for references already pinned nothing was read.
                            user: if res.source == Source::Pinned {
                                None
                            } else {
                                res.user.clone().or(Some(String::new()))
                            },
                            volumes: res.volumes.clone(),
                            source: match res.source {
                                Source::Registry => "registry",
                                Source::Lockfile => "lockfile",
                                Source::Cache => "cache",
                                Source::Pinned => "reference",
                            }
                            .to_string(),
                            error: None,
                        },
                    );
                }
                // A reference that carries a digest is pinned whatever the lookup says: when
                // its config cannot be read, nothing is known of its user, as before.
                Err(_) if r.contains('@') => {
                    facts.insert(
                        r.clone(),
                        ImageFacts {
                            digest: r.rsplit_once('@').map(|(_, d)| d.to_string()),
                            pinned: Some(r),
                            source: "reference".into(),
                            ..ImageFacts::default()
                        },
                    );
                }
                Err(e) => {
                    let msg = e.to_string();
                    if first_error.is_none() {
                        first_error = Some(e);
                    }
                    facts.insert(
                        r,
                        ImageFacts {
                            error: Some(msg),
                            ..ImageFacts::default()
                        },
                    );
                }
            }
        }
        if let Some(e) = first_error {
            if settings.on_resolve_error == OnResolveError::Fail {
                return Err(Error::Pin(Box::new(e)));
            }
        } else if settings.resolve.lockfile.is_some() {
            resolver
                .write_lockfile()
                .map_err(|e| Error::LockfileWrite(Box::new(e)))?;
        }
        Ok(facts)
    }
}
