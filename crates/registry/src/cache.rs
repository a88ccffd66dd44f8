//! Local cache of resolved digests between runs (not a lock: entries expire).
//!
//! One JSON file per canonical reference, named by the SHA-256 of the
//! canonical reference, under `<cache dir>/digests/`.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::lockfile::write_atomic;
use crate::resolver::Resolved;

/// Default cache directory: `$XDG_CACHE_HOME/chart-harden`, else
/// `~/.cache/chart-harden`.
pub fn default_cache_dir() -> Option<PathBuf> {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if let Some(x) = env("XDG_CACHE_HOME") {
        return Some(Path::new(&x).join("chart-harden"));
    }
    env("HOME").map(|h| Path::new(&h).join(".cache").join("chart-harden"))
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CacheEntry {
    canonical: String,
    digest: String,
    media_type: String,
    platforms: Vec<String>,
    user: Option<String>,
    volumes: Vec<String>,
    config_read: bool,
    resolved_at: String,
    resolved_at_unix: u64,
}

/// The on-disk digest cache.
#[derive(Debug, Clone)]
pub(crate) struct Cache {
    dir: PathBuf,
    ttl: Duration,
}

impl Cache {
    pub(crate) fn new(dir: PathBuf, ttl: Duration) -> Self {
        Cache {
            dir: dir.join("digests"),
            ttl,
        }
    }

    fn path_for(&self, canonical: &str) -> PathBuf {
        let h = Sha256::digest(canonical.as_bytes());
        let hex: String = h.iter().map(|b| format!("{b:02x}")).collect();
        self.dir.join(format!("{hex}.json"))
    }

    /// A fresh entry for `canonical`; `need_config` rejects entries made
    /// without reading the image config.
    pub(crate) fn get(&self, canonical: &str, need_config: bool) -> Option<Resolved> {
        let text = std::fs::read_to_string(self.path_for(canonical)).ok()?;
        let e: CacheEntry = serde_json::from_str(&text).ok()?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let age = now.checked_sub(e.resolved_at_unix)?;
        if e.canonical != canonical
            || !crate::reference::is_valid_digest(&e.digest)
            || Duration::from_secs(age) > self.ttl
            || (need_config && !e.config_read)
        {
            return None;
        }
        Some(Resolved {
            digest: e.digest,
            media_type: e.media_type,
            platforms: e.platforms,
            user: e.user,
            volumes: e.volumes,
            config_read: e.config_read,
            resolved_at: e.resolved_at,
        })
    }

    pub(crate) fn put(&self, canonical: &str, r: &Resolved) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let e = CacheEntry {
            canonical: canonical.to_string(),
            digest: r.digest.clone(),
            media_type: r.media_type.clone(),
            platforms: r.platforms.clone(),
            user: r.user.clone(),
            volumes: r.volumes.clone(),
            config_read: r.config_read,
            resolved_at: r.resolved_at.clone(),
            resolved_at_unix: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        };
        let json = serde_json::to_vec_pretty(&e).map_err(std::io::Error::other)?;
        write_atomic(&self.path_for(canonical), &json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_ttl() {
        let d = match tempfile::tempdir() {
            Ok(d) => d,
            Err(e) => panic!("{e}"),
        };
        let r = Resolved {
            digest: format!("sha256:{}", "ab".repeat(32)),
            media_type: "m".into(),
            platforms: vec!["linux/amd64".into()],
            user: Some("1000".into()),
            volumes: vec!["/data".into()],
            config_read: true,
            resolved_at: "2025-01-01T00:00:00Z".into(),
        };
        let c = Cache::new(d.path().to_path_buf(), Duration::from_secs(60));
        assert!(c.get("x/y:1", true).is_none());
        assert!(c.put("x/y:1", &r).is_ok());
        assert_eq!(c.get("x/y:1", true), Some(r.clone()));
        assert!(c.get("x/y:2", false).is_none());
        // A cache entry with a malformed digest is a miss, never a pin.
        let mut bad = r.clone();
        bad.digest = "sha256:00".into();
        assert!(c.put("x/y:4", &bad).is_ok());
        assert!(c.get("x/y:4", false).is_none());
        let c0 = Cache::new(d.path().to_path_buf(), Duration::ZERO);
        // Same second is age 0, which is not older than a zero TTL; an entry
        // from the past is expired.
        let mut old = r.clone();
        old.config_read = false;
        assert!(c0.put("x/y:3", &old).is_ok());
        assert!(c0.get("x/y:3", true).is_none());
        let p = c0.path_for("x/y:3");
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        let mut v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        v["resolvedAtUnix"] = serde_json::json!(1);
        assert!(std::fs::write(&p, v.to_string()).is_ok());
        assert!(c.get("x/y:3", false).is_none());
    }
}
