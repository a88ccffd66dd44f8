//! Image reference normalization and registry digest resolution for
//! chart-harden.
//!
//! * [`ImageRef`] parses references the way Docker does (`nginx` →
//!   `docker.io/library/nginx:latest`) and renders the pinned form keeping
//!   what the user wrote ([`ImageRef::pinned`]).
//! * [`Resolver`] turns tags into manifest digests by asking the registry
//!   (OCI distribution API and the Docker token protocol over `reqwest`):
//!   deduplicated, bounded concurrency, per-request timeout and an overall
//!   deadline, retries with exponential backoff on 429 / 408 / 5xx
//!   (honouring `Retry-After`) and on broken connections; a registry that
//!   fails at DNS / connect level is not tried again in the run. Token
//!   realms and redirect targets must be HTTPS unless loopback or
//!   configured insecure; redirects never downgrade to HTTP. The
//!   sha256 of the manifest bytes is computed locally and must equal the
//!   registry's `Docker-Content-Digest`. Multi-arch images are pinned to the
//!   index digest. The image config's `User` and `Volumes` are read.
//! * A [`Lockfile`] makes runs reproducible and offline-capable; a local
//!   cache with a TTL avoids repeated lookups between runs.
//!
//! Credentials come from Docker / containers auth files and credential
//! helpers (see [`auth`]) and never appear in errors, `Debug` output, logs
//! or the lockfile.
#![deny(missing_docs)]

pub mod auth;
mod cache;
mod error;
pub mod lockfile;
mod reference;
mod resolver;
mod transport;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

pub use cache::default_cache_dir;
pub use error::ResolveError;
pub use lockfile::{LockEntry, Lockfile, LockfileError};
pub use reference::{
    endpoint_for, is_loopback_registry, is_valid_digest, pinned, shown, ImageRef, RefError,
    RefErrorKind, DOCKER_HUB, DOCKER_HUB_ENDPOINT,
};
pub use resolver::{Notice, Resolver};
pub use transport::plain_http_allowed;

/// Configuration of a [`Resolver`]. Use `..Default::default()` for the rest.
#[derive(Debug, Clone)]
pub struct ResolverConfig {
    /// Images resolved at the same time (default 8). Must be ≥ 1.
    pub concurrency: usize,
    /// Timeout of each HTTP request, body included (default 20 s).
    pub timeout: Duration,
    /// Requests per step before giving up (default 4). Must be ≥ 1.
    pub max_attempts: u32,
    /// Registries (`host` or `host:port`) reached over plain HTTP in
    /// addition to loopback ones. The same list decides whether a token
    /// realm or a redirect target the registry hands back may be plain HTTP
    /// (see [`plain_http_allowed`]); anything else must be HTTPS.
    pub insecure_registries: Vec<String>,
    /// Longest a [`Resolver::resolve_all`] call may take, retries and
    /// backoff included (default 60 s): images not resolved by then fail
    /// with [`ResolveError::Deadline`].
    pub deadline: Duration,
    /// Auth file (Docker `config.json` / containers `auth.json` format).
    /// `None`: the first of `$REGISTRY_AUTH_FILE`,
    /// `$XDG_RUNTIME_DIR/containers/auth.json`, `$DOCKER_CONFIG/config.json`
    /// (or `~/.docker/config.json`) that has credentials for the registry.
    pub auth_file: Option<PathBuf>,
    /// Lockfile path (see [`lockfile`] for the format). Read by
    /// [`Resolver::new`]; written only by [`Resolver::write_lockfile`].
    pub lockfile: Option<PathBuf>,
    /// Lockfile only: a reference missing from the lockfile is an error.
    pub offline: bool,
    /// Re-resolve every reference, ignoring lockfile and cache; the written
    /// lockfile then holds exactly the references of this run.
    pub update_lock: bool,
    /// Cache directory; `None` = [`default_cache_dir`].
    pub cache_dir: Option<PathBuf>,
    /// Age after which a cache entry is ignored (default 24 h).
    pub cache_ttl: Duration,
    /// Read and write the cache (default true).
    pub use_cache: bool,
    /// Fetch the image config to learn `User` and `Volumes` (default true).
    pub read_image_config: bool,
    /// Also check references that already carry a digest (default false:
    /// they are returned as written, without any request).
    pub verify_pinned: bool,
    /// No progress lines or warnings to the notice ([`Resolver::set_notice`]; default
    /// false: a line is sent when resolution takes more than a second).
    pub quiet: bool,
    /// First retry delay; doubles per attempt, capped at 10 s (default 500 ms).
    pub backoff_base: Duration,
    /// Longest `Retry-After` honoured; a longer one fails at once
    /// (default 60 s).
    pub max_retry_after: Duration,
    /// Tests only: host names resolved to these (loopback) addresses instead
    /// of asking DNS, so that a non-loopback *name* can be served on
    /// loopback. Any non-loopback address is a configuration error.
    #[doc(hidden)]
    pub dns_overrides: Vec<(String, SocketAddr)>,
    /// Tests only: extra trusted CA certificates (PEM), added to the
    /// system's roots.
    #[doc(hidden)]
    pub extra_ca_pem: Vec<Vec<u8>>,
}

impl Default for ResolverConfig {
    fn default() -> Self {
        ResolverConfig {
            concurrency: 8,
            timeout: Duration::from_secs(20),
            max_attempts: 4,
            insecure_registries: Vec::new(),
            auth_file: None,
            lockfile: None,
            offline: false,
            update_lock: false,
            cache_dir: None,
            cache_ttl: Duration::from_secs(24 * 3600),
            use_cache: true,
            read_image_config: true,
            verify_pinned: false,
            quiet: false,
            backoff_base: Duration::from_millis(500),
            max_retry_after: Duration::from_secs(60),
            deadline: Duration::from_secs(60),
            dns_overrides: Vec::new(),
            extra_ca_pem: Vec::new(),
        }
    }
}

/// Where a [`Resolution`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Looked up in the registry during this run.
    Registry,
    /// Taken from the lockfile (no request made).
    Lockfile,
    /// Taken from the local cache (no request made).
    Cache,
    /// The reference already carried a digest and `verify_pinned` is off:
    /// returned as written, nothing looked up (`media_type` is empty).
    Pinned,
}

/// The digest (and image facts) an image reference resolves to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Resolution {
    /// Reference as written.
    pub reference: String,
    /// Fully qualified reference, e.g. `docker.io/library/nginx:1.25`.
    pub canonical: String,
    /// Manifest digest; for a multi-arch image the index digest.
    pub digest: String,
    /// Media type of the pinned manifest / index.
    pub media_type: String,
    /// `os/arch[/variant]` of each platform of an index (empty for a single
    /// manifest).
    pub platforms: Vec<String>,
    /// `config.User` (linux/amd64 or first platform for an index).
    pub user: Option<String>,
    /// Keys of `config.Volumes`, sorted.
    pub volumes: Vec<String>,
    /// Where the answer came from.
    pub source: Source,
}

impl Resolution {
    /// The reference as written, pinned to the digest
    /// (`nginx:1.25` → `nginx:1.25@sha256:…`).
    pub fn pinned_reference(&self) -> String {
        let base = self
            .reference
            .split_once('@')
            .map_or(self.reference.as_str(), |(n, _)| n);
        format!("{base}@{}", self.digest)
    }
}

/// Counters of a [`Resolver`] since it was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// HTTP requests sent (every attempt counts; a bearer-token exchange
    /// counts as two).
    pub network_requests: u64,
    /// References answered from the lockfile.
    pub lock_hits: u64,
    /// Images answered from the local cache.
    pub cache_hits: u64,
    /// Images looked up in a registry.
    pub registry_lookups: u64,
    /// References returned as written because they carry a digest.
    pub pinned: u64,
}
