//! Resolve stage: image tags → verified digests, through the registry crate (async, batched,
//! lockfile first), turned into the [`ImageFacts`] rules read.

use std::collections::BTreeMap;
use std::time::Duration;

use chart_harden_registry::{ResolveError, Resolver, ResolverConfig, Source};

use crate::cli::Opts;
use crate::config::{Config, OnResolveError};
use crate::error::Error;
use crate::rules::ImageFacts;

/// Builds the resolver configuration from the run's config and flags.
pub fn resolver_config(cfg: &Config, opts: &Opts) -> ResolverConfig {
    ResolverConfig {
        concurrency: cfg.images.concurrency.max(1),
        timeout: Duration::from_secs(cfg.images.timeout_seconds.max(1)),
        deadline: Duration::from_secs(cfg.images.deadline_seconds.max(1)),
        insecure_registries: cfg.images.insecure_registries.clone(),
        lockfile: opts.lockfile.clone(),
        offline: opts.offline,
        update_lock: opts.update_lock,
        cache_dir: opts.cache_dir.clone(),
        use_cache: !opts.no_cache && !opts.offline,
        quiet: opts.quiet,
        ..ResolverConfig::default()
    }
}

/// Resolves `refs` and returns facts per reference as written. With policy `fail`, the first
/// error fails the run (exit 3) naming the image, the registry and the cause.
pub fn resolve_images(
    refs: &[String],
    cfg: &Config,
    opts: &Opts,
) -> Result<BTreeMap<String, ImageFacts>, Error> {
    let mut facts = BTreeMap::new();
    if refs.is_empty() || !cfg.images.pin {
        return Ok(facts);
    }
    let resolver = Resolver::new(resolver_config(cfg, opts)).map_err(|e| match e {
        // A lockfile that does not parse (or holds a malformed digest) is an input error.
        ResolveError::Lockfile(e) => Error::Lockfile(e.to_string()),
        e => Error::Resolve(e.to_string()),
    })?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Resolve(format!("cannot start the async runtime: {e}")))?;
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
            Err(e) => {
                let msg = e.to_string();
                if first_error.is_none() {
                    first_error = Some(msg.clone());
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
    if let (Some(e), OnResolveError::Fail) = (&first_error, cfg.on_resolve_error) {
        return Err(Error::Resolve(format!("cannot pin image digests: {e}")));
    }
    if opts.lockfile.is_some() && first_error.is_none() {
        resolver
            .write_lockfile()
            .map_err(|e| Error::Resolve(format!("cannot write the lockfile: {e}")))?;
    }
    Ok(facts)
}
