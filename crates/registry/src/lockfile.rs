//! The digest lockfile and atomic file writes.
//!
//! # Format
//!
//! JSON, UTF-8, two-space indented, trailing newline, entries sorted by the
//! reference as written (then by canonical form), so that the same content
//! always serializes to the same bytes:
//!
//! ```json
//! {
//!   "version": 1,
//!   "images": [
//!     {
//!       "reference": "nginx:1.25",
//!       "canonical": "docker.io/library/nginx:1.25",
//!       "digest": "sha256:…",
//!       "mediaType": "application/vnd.oci.image.index.v1+json",
//!       "platforms": ["linux/amd64", "linux/arm64/v8"],
//!       "user": "101",
//!       "volumes": [],
//!       "resolvedAt": "2025-01-31T12:00:00Z"
//!     }
//!   ]
//! }
//! ```
//!
//! `user` is `null` when the image config sets no user (or was not read);
//! `platforms` is empty for a single-platform manifest.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Current lockfile format version.
pub const LOCKFILE_VERSION: u32 = 1;

/// One pinned image in the lockfile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LockEntry {
    /// Reference as written in the manifests.
    pub reference: String,
    /// Fully qualified reference (`docker.io/library/nginx:1.25`).
    pub canonical: String,
    /// The pinned manifest (or index) digest.
    pub digest: String,
    /// Media type of the pinned manifest.
    pub media_type: String,
    /// `os/arch[/variant]` of each platform of a multi-arch index; empty for
    /// a single manifest.
    #[serde(default)]
    pub platforms: Vec<String>,
    /// `config.User` of the image config, if set.
    #[serde(default)]
    pub user: Option<String>,
    /// Keys of `config.Volumes`, sorted.
    #[serde(default)]
    pub volumes: Vec<String>,
    /// When the digest was looked up, RFC 3339 UTC.
    pub resolved_at: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LockfileRepr {
    version: u32,
    #[serde(default)]
    images: Vec<LockEntry>,
}

/// The set of pinned images, keyed by the reference as written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lockfile {
    entries: BTreeMap<String, LockEntry>,
}

/// Failure to read or parse a lockfile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("lockfile {path}: {message}")]
pub struct LockfileError {
    /// The lockfile path.
    pub path: PathBuf,
    /// What went wrong.
    pub message: String,
}

impl Lockfile {
    /// An empty lockfile.
    pub fn new() -> Self {
        Self::default()
    }

    /// Loads `path`; a missing file is an empty lockfile.
    pub fn load(path: &Path) -> Result<Self, LockfileError> {
        let err = |message: String| LockfileError {
            path: path.to_path_buf(),
            message,
        };
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::new()),
            Err(e) => return Err(err(format!("cannot read: {e}"))),
        };
        Self::from_json(&text).map_err(err)
    }

    /// Parses the JSON form.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let repr: LockfileRepr = serde_json::from_str(text).map_err(|e| format!("invalid: {e}"))?;
        if repr.version != LOCKFILE_VERSION {
            return Err(format!(
                "unsupported version {} (expected {LOCKFILE_VERSION})",
                repr.version
            ));
        }
        let mut entries = BTreeMap::new();
        for e in repr.images {
            // Locked digests are pinned without any request: they must be digests.
            if !crate::reference::is_valid_digest(&e.digest) {
                return Err(format!(
                    "entry for {:?}: malformed digest {:?} (expected sha256: and 64 lowercase hex digits)",
                    e.reference, e.digest
                ));
            }
            if let Some(prev) = entries.insert(e.reference.clone(), e) {
                return Err(format!("duplicate entry for {:?}", prev.reference));
            }
        }
        Ok(Lockfile { entries })
    }

    /// The canonical JSON form (stable, sorted, trailing newline).
    pub fn to_json(&self) -> String {
        let repr = LockfileRepr {
            version: LOCKFILE_VERSION,
            images: self.entries.values().cloned().collect(),
        };
        let mut s = serde_json::to_string_pretty(&repr)
            .unwrap_or_else(|e| format!("{{\"error\": {:?}}}", e.to_string()));
        s.push('\n');
        s
    }

    /// Writes the JSON form to `path` atomically.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        write_atomic(path, self.to_json().as_bytes())
    }

    /// The entry for a reference as written.
    pub fn get(&self, reference: &str) -> Option<&LockEntry> {
        self.entries.get(reference)
    }

    /// The first entry (in sorted order) whose canonical form is `canonical`.
    pub fn get_by_canonical(&self, canonical: &str) -> Option<&LockEntry> {
        self.entries.values().find(|e| e.canonical == canonical)
    }

    /// Adds or replaces the entry for `entry.reference`; returns whether
    /// anything changed.
    pub fn insert(&mut self, entry: LockEntry) -> bool {
        if self.entries.get(&entry.reference) == Some(&entry) {
            return false;
        }
        self.entries.insert(entry.reference.clone(), entry);
        true
    }

    /// Keeps only the entries for which `keep` returns true.
    pub fn retain(&mut self, mut keep: impl FnMut(&LockEntry) -> bool) {
        self.entries.retain(|_, e| keep(e));
    }

    /// All entries, sorted by reference.
    pub fn entries(&self) -> impl Iterator<Item = &LockEntry> {
        self.entries.values()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Writes the lockfile a run ends with to `path`, under an exclusive lock and merged with
/// what is on disk by then, so that two runs updating one lockfile at the same time both
/// keep their entries (each would otherwise write the file it loaded plus its own entries,
/// and the later rename would drop the other's).
///
/// `loaded` is what this run read at its start, `ours` what it ends with. With `replace`
/// (`--update-lock`: the file holds exactly this run's references) `ours` is written as it
/// is. Otherwise the entries on disk now are kept and `ours` is laid over them: an entry
/// this run added or changed replaces the one on disk, an entry it only read does not undo
/// another run's update of it. A file on disk that no longer parses is replaced by `ours`.
/// Returns whether the file was written (not when it already holds those bytes).
pub fn write_merged(
    path: &Path,
    loaded: &Lockfile,
    ours: &Lockfile,
    replace: bool,
) -> std::io::Result<bool> {
    let _lock = FileLock::acquire(path)?;
    let merged = if replace {
        ours.clone()
    } else {
        let mut m = Lockfile::load(path).unwrap_or_default();
        for e in ours.entries() {
            if loaded.get(&e.reference) != Some(e) || m.get(&e.reference).is_none() {
                m.insert(e.clone());
            }
        }
        m
    };
    let json = merged.to_json();
    if std::fs::read_to_string(path).ok().as_deref() == Some(json.as_str()) {
        return Ok(false);
    }
    write_atomic(path, json.as_bytes())?;
    Ok(true)
}

/// An exclusive lock on a file, held as a sibling `.NAME.lock` created exclusively
/// (`O_EXCL`, so it works alike on every platform and file system the lockfile may live
/// on) and removed on drop. A lock file older than [`STALE_LOCK`] is left by a run that
/// died and is taken over.
struct FileLock {
    path: PathBuf,
}

/// How long a run waits for another run's lock.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(30);
/// A lock held longer than this is stale (a write takes milliseconds).
const STALE_LOCK: std::time::Duration = std::time::Duration::from_secs(60);

impl FileLock {
    fn acquire(target: &Path) -> std::io::Result<FileLock> {
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "file".to_string());
        let path = dir.join(format!(".{name}.lock"));
        let start = std::time::Instant::now();
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    let _ = writeln!(f, "{}", std::process::id());
                    return Ok(FileLock { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let stale = std::fs::metadata(&path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| t.elapsed().ok())
                        .is_some_and(|age| age > STALE_LOCK);
                    if stale {
                        let _ = std::fs::remove_file(&path);
                        continue;
                    }
                    if start.elapsed() > LOCK_WAIT {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            format!(
                                "another run holds the lock {} (waited {} s; remove it if no \
                                 run is writing the lockfile)",
                                path.display(),
                                LOCK_WAIT.as_secs()
                            ),
                        ));
                    }
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path` atomically: a temporary file in the same
/// directory is written and fsynced, then renamed over `path`, then the
/// directory is fsynced. On any failure the previous file is untouched and
/// the temporary file is removed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".to_string());
    let tmp = dir.join(format!(
        ".{name}.tmp.{}.{}",
        std::process::id(),
        TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        // Persist the rename; not all platforms allow fsync on a directory.
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Formats a time as RFC 3339 UTC with second precision
/// (`2025-01-31T12:00:00Z`).
pub fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn entry(r: &str) -> LockEntry {
        LockEntry {
            reference: r.to_string(),
            canonical: format!("docker.io/library/{r}"),
            digest: format!("sha256:{}", "0123456789abcdef".repeat(4)),
            media_type: "application/vnd.oci.image.manifest.v1+json".to_string(),
            platforms: vec![],
            user: None,
            volumes: vec![],
            resolved_at: "2025-01-01T00:00:00Z".to_string(),
        }
    }

    #[test]
    fn rfc3339_known_values() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
            "2023-11-14T22:13:20Z"
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
    }

    #[test]
    fn stable_sorted_roundtrip() {
        let mut a = Lockfile::new();
        a.insert(entry("b:1"));
        a.insert(entry("a:1"));
        let mut b = Lockfile::new();
        b.insert(entry("a:1"));
        b.insert(entry("b:1"));
        assert_eq!(a.to_json(), b.to_json());
        let json = a.to_json();
        assert!(json.find("\"a:1\"") < json.find("\"b:1\""));
        assert!(json.contains("\"mediaType\""));
        assert!(json.contains("\"resolvedAt\""));
        assert!(json.ends_with("}\n"));
        let back = match Lockfile::from_json(&json) {
            Ok(l) => l,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(back, a);
        assert!(!a.insert(entry("a:1")));
        assert!(Lockfile::from_json(r#"{"version":2,"images":[]}"#).is_err());
    }

    #[test]
    fn malformed_digests_are_rejected() {
        let good = format!("sha256:{}", "ab".repeat(32));
        let doc = |d: &str| {
            format!(
                r#"{{"version":1,"images":[{{"reference":"a:1","canonical":"docker.io/library/a:1","digest":"{d}","mediaType":"m","resolvedAt":"2025-01-01T00:00:00Z"}}]}}"#
            )
        };
        assert!(Lockfile::from_json(&doc(&good)).is_ok());
        for bad in [
            "sha256:00".to_string(),
            format!("md5:{}", "ab".repeat(16)),
            format!("sha256:{}", "AB".repeat(32)),
            format!("sha256:{}", "ab".repeat(33)),
            "sha256:../../etc".to_string(),
            String::new(),
        ] {
            match Lockfile::from_json(&doc(&bad)) {
                Ok(_) => panic!("{bad:?} accepted"),
                Err(e) => {
                    assert!(e.contains("entry for \"a:1\": malformed digest"), "{e}");
                }
            }
        }
    }

    #[test]
    fn atomic_write_replaces_and_cleans_up() {
        let d = match tempfile::tempdir() {
            Ok(d) => d,
            Err(e) => panic!("{e}"),
        };
        let p = d.path().join("images.lock.json");
        assert!(write_atomic(&p, b"one").is_ok());
        assert!(write_atomic(&p, b"two").is_ok());
        assert_eq!(std::fs::read(&p).ok(), Some(b"two".to_vec()));
        // Renaming onto a directory fails: nothing is left behind.
        let dirp = d.path().join("adir");
        assert!(std::fs::create_dir(&dirp).is_ok());
        assert!(std::fs::write(dirp.join("x"), "x").is_ok());
        assert!(write_atomic(&dirp, b"three").is_err());
        let names: Vec<_> = std::fs::read_dir(d.path())
            .map(|r| r.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn concurrent_runs_merge_their_entries() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("images.lock.json");
        // Two runs load the same (empty) file, each adds its own entry, both write.
        let loaded = Lockfile::load(&p).unwrap();
        let mut a = loaded.clone();
        a.insert(entry("a:1"));
        let mut b = loaded.clone();
        b.insert(entry("b:1"));
        assert!(write_merged(&p, &loaded, &a, false).unwrap());
        assert!(write_merged(&p, &loaded, &b, false).unwrap());
        let got = Lockfile::load(&p).unwrap();
        let refs: Vec<&str> = got.entries().map(|e| e.reference.as_str()).collect();
        assert_eq!(refs, ["a:1", "b:1"]);
        // An entry a run only read does not undo another run's update of it.
        let loaded = got.clone();
        let mut newer = entry("a:1");
        newer.digest = format!("sha256:{}", "c".repeat(64));
        let mut c = loaded.clone();
        c.insert(newer.clone());
        assert!(write_merged(&p, &loaded, &c, false).unwrap());
        assert!(!write_merged(&p, &loaded, &loaded, false).unwrap());
        assert_eq!(Lockfile::load(&p).unwrap().get("a:1"), Some(&newer));
        // `replace` writes exactly this run's entries.
        let mut only = Lockfile::new();
        only.insert(entry("z:1"));
        write_merged(&p, &loaded, &only, true).unwrap();
        assert_eq!(Lockfile::load(&p).unwrap().len(), 1);
        // Many writers at once: every entry survives, and no lock file is left behind.
        let empty = Lockfile::new();
        std::thread::scope(|s| {
            for i in 0..8 {
                let (p, empty) = (&p, &empty);
                s.spawn(move || {
                    let mut mine = empty.clone();
                    mine.insert(entry(&format!("t{i}:1")));
                    write_merged(p, empty, &mine, false).unwrap();
                });
            }
        });
        assert_eq!(Lockfile::load(&p).unwrap().len(), 9);
        assert!(!d.path().join(".images.lock.json.lock").exists());
    }
}
