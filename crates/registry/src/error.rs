//! Errors of the resolver. Every variant about an image names the image (as
//! written) and the registry; no variant ever carries a credential.

use std::time::Duration;

use crate::auth::AuthError;
use crate::lockfile::LockfileError;
use crate::reference::RefError;

/// Why an image could not be resolved (or the resolver could not be set up).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// The reference does not parse.
    #[error(transparent)]
    InvalidReference(#[from] RefError),
    /// The registry answered with an error status (after retries for 429,
    /// 408 and 5xx).
    #[error("image {image:?} (registry {registry}): {message} (HTTP {status}{})", attempts_note(*attempts))]
    Http {
        /// Reference as written.
        image: String,
        /// Registry domain.
        registry: String,
        /// Last HTTP status.
        status: u16,
        /// The registry's error message (or the status reason).
        message: String,
        /// Requests made for this step.
        attempts: u32,
    },
    /// Authentication was required and failed or no credentials were found.
    #[error("image {image:?} (registry {registry}): {message}")]
    Unauthorized {
        /// Reference as written.
        image: String,
        /// Registry domain.
        registry: String,
        /// What failed and a hint; never a secret.
        message: String,
    },
    /// Every attempt timed out.
    #[error("image {image:?} (registry {registry}): request timed out after {timeout:?}{}", attempts_note(*attempts))]
    Timeout {
        /// Reference as written.
        image: String,
        /// Registry domain.
        registry: String,
        /// The per-request timeout.
        timeout: Duration,
        /// Requests made.
        attempts: u32,
    },
    /// Connecting failed or the connection broke (reset, truncated body) on
    /// every attempt.
    #[error("image {image:?} (registry {registry}): connection failed: {message}{}", attempts_note(*attempts))]
    Connection {
        /// Reference as written.
        image: String,
        /// Registry domain.
        registry: String,
        /// The transport error.
        message: String,
        /// Requests made.
        attempts: u32,
    },
    /// The content served does not hash to the digest the registry claims (or
    /// the digest asked for). Never turned into a pin.
    #[error("image {image:?} (registry {registry}): digest mismatch: registry claims {claimed} but the content it served hashes to {actual}; refusing to pin")]
    DigestMismatch {
        /// Reference as written.
        image: String,
        /// Registry domain.
        registry: String,
        /// Digest claimed (`Docker-Content-Digest`) or requested.
        claimed: String,
        /// Digest of the bytes received.
        actual: String,
    },
    /// The manifest or config could not be understood.
    #[error("image {image:?} (registry {registry}): invalid manifest: {message}")]
    InvalidManifest {
        /// Reference as written.
        image: String,
        /// Registry domain.
        registry: String,
        /// What is wrong.
        message: String,
    },
    /// Credentials could not be obtained (bad auth file, failing helper).
    #[error("image {image:?} (registry {registry}): {source}")]
    Auth {
        /// Reference as written.
        image: String,
        /// Registry domain.
        registry: String,
        /// The auth configuration problem.
        source: AuthError,
    },
    /// The registry handed back a URL the resolver refuses to use: a plain
    /// HTTP token realm or redirect target on a host that is neither
    /// loopback nor configured insecure, an HTTPS → HTTP redirect, or too
    /// many redirects. Nothing was sent there.
    #[error("image {image:?} (registry {registry}): {message}")]
    Insecure {
        /// Reference as written.
        image: String,
        /// Registry domain.
        registry: String,
        /// What was refused and why.
        message: String,
    },
    /// The run's overall resolution deadline passed before this image was
    /// resolved.
    #[error("image {image:?} (registry {registry}): not resolved within the {deadline:?} deadline for resolving all images")]
    Deadline {
        /// Reference as written.
        image: String,
        /// Registry domain.
        registry: String,
        /// The configured deadline.
        deadline: Duration,
    },
    /// Offline mode and the image is not in the lockfile.
    #[error("image {image:?} is not in the lockfile ({lockfile}) and --offline forbids registry lookups; run once with --lockfile and without --offline to add it (--update-lock re-resolves every image)")]
    OfflineMiss {
        /// Reference as written.
        image: String,
        /// The lockfile path, or a note that none is configured.
        lockfile: String,
    },
    /// The lockfile could not be read.
    #[error(transparent)]
    Lockfile(#[from] LockfileError),
    /// The lockfile could not be written (the previous one is intact).
    #[error("writing lockfile {path}: {message} (previous lockfile left intact)")]
    LockfileWrite {
        /// The lockfile path.
        path: String,
        /// The I/O error.
        message: String,
    },
    /// The resolver configuration is invalid.
    #[error("invalid resolver configuration: {0}")]
    Config(String),
    /// An internal failure (a resolution task panicked).
    #[error("internal error: {0}")]
    Internal(String),
}

fn attempts_note(n: u32) -> String {
    if n > 1 {
        format!(", {n} attempts")
    } else {
        String::new()
    }
}

impl ResolveError {
    /// The image (as written) this error is about, if any.
    pub fn image(&self) -> Option<&str> {
        match self {
            ResolveError::InvalidReference(e) => Some(&e.input),
            ResolveError::Http { image, .. }
            | ResolveError::Unauthorized { image, .. }
            | ResolveError::Timeout { image, .. }
            | ResolveError::Connection { image, .. }
            | ResolveError::DigestMismatch { image, .. }
            | ResolveError::InvalidManifest { image, .. }
            | ResolveError::Auth { image, .. }
            | ResolveError::Insecure { image, .. }
            | ResolveError::Deadline { image, .. }
            | ResolveError::OfflineMiss { image, .. } => Some(image),
            _ => None,
        }
    }

    /// The same error about another spelling of the same image.
    pub(crate) fn for_image(mut self, written: &str) -> Self {
        match &mut self {
            ResolveError::Http { image, .. }
            | ResolveError::Unauthorized { image, .. }
            | ResolveError::Timeout { image, .. }
            | ResolveError::Connection { image, .. }
            | ResolveError::DigestMismatch { image, .. }
            | ResolveError::InvalidManifest { image, .. }
            | ResolveError::Auth { image, .. }
            | ResolveError::Insecure { image, .. }
            | ResolveError::Deadline { image, .. }
            | ResolveError::OfflineMiss { image, .. } => *image = written.to_string(),
            _ => {}
        }
        self
    }
}
