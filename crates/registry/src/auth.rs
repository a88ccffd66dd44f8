//! Registry credentials from Docker / containers auth files and credential
//! helpers.
//!
//! Secrets are held in [`Secret`], whose `Debug` prints `<redacted>` and which
//! has no `Display`; nothing in this module ever puts a secret into an error.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde::Deserialize;

use crate::reference::DOCKER_HUB;

/// Server URL Docker uses for Docker Hub credentials.
const DOCKER_HUB_AUTH_KEY: &str = "https://index.docker.io/v1/";
/// Longest a credential helper may run.
const HELPER_TIMEOUT: Duration = Duration::from_secs(30);

/// A secret string (password, token). `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret value; only for putting it on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Credentials for one registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// User name and password (HTTP basic, or sent to the token server).
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: Secret,
    },
    /// An identity (refresh) token, exchanged at the token server with the
    /// OAuth2 `refresh_token` grant.
    IdentityToken {
        /// The token.
        token: Secret,
    },
}

impl Credentials {
    /// The secret values, for scrubbing text before it is shown.
    pub(crate) fn secrets(&self) -> Vec<&str> {
        match self {
            Credentials::Basic { password, .. } => vec![password.expose()],
            Credentials::IdentityToken { token } => vec![token.expose()],
        }
    }
    /// A user name safe to show in messages.
    pub(crate) fn username(&self) -> &str {
        match self {
            Credentials::Basic { username, .. } => username,
            Credentials::IdentityToken { .. } => "<identity token>",
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Credentials::IdentityToken { .. } => f
                .debug_struct("IdentityToken")
                .field("token", &"<redacted>")
                .finish(),
        }
    }
}

/// Credentials together with a human description of where they came from
/// (an auth file path or a credential helper), for error messages.
#[derive(Debug, Clone)]
pub struct FoundCredentials {
    /// The credentials.
    pub credentials: Credentials,
    /// Where they came from, e.g. `/root/.docker/config.json` or
    /// `credential helper docker-credential-pass`.
    pub source: String,
}

/// Failure to read auth configuration. Messages never contain secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// An auth file could not be read or parsed.
    #[error("auth file {path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong (no file content is quoted).
        message: String,
    },
    /// A credential helper failed.
    #[error("credential helper docker-credential-{helper} for {registry}: {message}")]
    Helper {
        /// Helper name (suffix after `docker-credential-`).
        helper: String,
        /// Registry asked for.
        registry: String,
        /// What went wrong (never the helper's output).
        message: String,
    },
}

#[derive(Clone, Default)]
struct AuthEntry {
    username: Option<String>,
    password: Option<Secret>,
    identity_token: Option<Secret>,
}

#[derive(Clone)]
struct AuthFile {
    path: PathBuf,
    auths: BTreeMap<String, AuthEntry>,
    cred_helpers: BTreeMap<String, String>,
    creds_store: Option<String>,
}

/// Registry credentials loaded from auth files (Docker `config.json` or
/// containers `auth.json`, same format). `Debug` lists only paths and
/// registry names.
#[derive(Clone, Default)]
pub struct AuthConfig {
    files: Vec<AuthFile>,
    helper_dir: Option<PathBuf>,
}

impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut l = f.debug_list();
        for file in &self.files {
            l.entry(&format_args!(
                "{} (auths: {:?}, credHelpers: {:?}, credsStore: {:?})",
                file.path.display(),
                file.auths.keys().collect::<Vec<_>>(),
                file.cred_helpers,
                file.creds_store
            ));
        }
        l.finish()
    }
}

#[derive(Deserialize)]
struct RawFile {
    #[serde(default)]
    auths: BTreeMap<String, RawEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

/// Normalizes an `auths` / `credHelpers` key (`https://host/v1/`, `host`)
/// to the registry domain used by [`crate::ImageRef`].
pub fn normalize_registry_key(key: &str) -> String {
    let k = key
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = k.split('/').next().unwrap_or(k).to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            DOCKER_HUB.to_string()
        }
        _ => host,
    }
}

/// The auth files consulted when none is configured, in order of
/// precedence: `$REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/auth.json`,
/// `$DOCKER_CONFIG/config.json` (or `~/.docker/config.json`).
pub fn default_auth_files(env: impl Fn(&str) -> Option<String>) -> Vec<PathBuf> {
    let mut v = Vec::new();
    let nonempty = |k: &str| env(k).filter(|s| !s.is_empty());
    if let Some(f) = nonempty("REGISTRY_AUTH_FILE") {
        v.push(PathBuf::from(f));
    }
    if let Some(d) = nonempty("XDG_RUNTIME_DIR") {
        v.push(Path::new(&d).join("containers").join("auth.json"));
    }
    if let Some(d) = nonempty("DOCKER_CONFIG") {
        v.push(Path::new(&d).join("config.json"));
    } else if let Some(h) = nonempty("HOME") {
        v.push(Path::new(&h).join(".docker").join("config.json"));
    }
    v
}

impl AuthConfig {
    /// Loads the files from [`default_auth_files`] that exist.
    pub fn discover() -> Result<Self, AuthError> {
        let files = default_auth_files(|k| std::env::var(k).ok());
        let existing: Vec<PathBuf> = files.into_iter().filter(|p| p.is_file()).collect();
        Self::from_files(&existing)
    }

    /// Loads the given files (all must exist), earlier ones take precedence.
    pub fn from_files(paths: &[PathBuf]) -> Result<Self, AuthError> {
        let mut files = Vec::new();
        for p in paths {
            files.push(load_file(p)?);
        }
        Ok(AuthConfig {
            files,
            helper_dir: None,
        })
    }

    /// Looks credential helpers up in `dir` instead of `$PATH` (tests).
    #[doc(hidden)]
    pub fn with_helper_dir(mut self, dir: PathBuf) -> Self {
        self.helper_dir = Some(dir);
        self
    }

    /// Credentials for `registry` (a domain as in [`crate::ImageRef::registry`]).
    /// Per file: `credHelpers[registry]`, then `credsStore`, then the inline
    /// `auths` entry; the first file with credentials wins. May execute a
    /// credential helper (blocking).
    pub fn credentials_for(&self, registry: &str) -> Result<Option<FoundCredentials>, AuthError> {
        let key = normalize_registry_key(registry);
        for file in &self.files {
            let helper = file
                .cred_helpers
                .get(&key)
                .or(file.creds_store.as_ref())
                .filter(|h| !h.is_empty());
            if let Some(h) = helper {
                if let Some(c) = self.run_helper(h, &key)? {
                    return Ok(Some(FoundCredentials {
                        credentials: c,
                        source: format!("credential helper docker-credential-{h}"),
                    }));
                }
            }
            if let Some(e) = file.auths.get(&key) {
                let credentials = if let Some(t) = &e.identity_token {
                    Some(Credentials::IdentityToken { token: t.clone() })
                } else {
                    match (&e.username, &e.password) {
                        (Some(u), Some(p)) if !u.is_empty() => Some(Credentials::Basic {
                            username: u.clone(),
                            password: p.clone(),
                        }),
                        _ => None,
                    }
                };
                if let Some(credentials) = credentials {
                    return Ok(Some(FoundCredentials {
                        credentials,
                        source: file.path.display().to_string(),
                    }));
                }
            }
        }
        Ok(None)
    }

    fn run_helper(&self, name: &str, registry: &str) -> Result<Option<Credentials>, AuthError> {
        let herr = |message: String| AuthError::Helper {
            helper: name.to_string(),
            registry: registry.to_string(),
            message,
        };
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(herr("invalid helper name".into()));
        }
        let program = format!("docker-credential-{name}");
        let program = match &self.helper_dir {
            Some(d) => d.join(program),
            None => PathBuf::from(program),
        };
        let server = if registry == DOCKER_HUB {
            DOCKER_HUB_AUTH_KEY
        } else {
            registry
        };
        let mut child = Command::new(&program)
            .arg("get")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| herr(format!("cannot execute: {e}")))?;
        if let Some(mut stdin) = child.stdin.take() {
            // A helper that exits without reading stdin is not an error here.
            let _ = stdin.write_all(server.as_bytes());
        }
        let mut stdout = child
            .stdout
            .take()
            .ok_or_else(|| herr("no stdout".into()))?;
        let reader = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = stdout.by_ref().take(1 << 20).read_to_end(&mut buf);
            buf
        });
        let start = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break s,
                Ok(None) if start.elapsed() > HELPER_TIMEOUT => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(herr(format!("timed out after {HELPER_TIMEOUT:?}")));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => return Err(herr(format!("wait failed: {e}"))),
            }
        };
        let out = reader
            .join()
            .map_err(|_| herr("reading output failed".into()))?;
        if !status.success() {
            // Docker's helpers print this exact message when nothing is stored.
            if String::from_utf8_lossy(&out).contains("credentials not found") {
                return Ok(None);
            }
            return Err(herr(format!("exited with {status}")));
        }
        #[derive(Deserialize)]
        struct HelperOut {
            #[serde(rename = "Username", default)]
            username: String,
            #[serde(rename = "Secret", default)]
            secret: String,
        }
        let parsed: HelperOut = serde_json::from_slice(&out).map_err(|e| {
            herr(format!(
                "output is not the expected JSON ({:?})",
                e.classify()
            ))
        })?;
        if parsed.secret.is_empty() {
            return Ok(None);
        }
        Ok(Some(if parsed.username == "<token>" {
            Credentials::IdentityToken {
                token: Secret(parsed.secret),
            }
        } else {
            Credentials::Basic {
                username: parsed.username,
                password: Secret(parsed.secret),
            }
        }))
    }
}

fn load_file(path: &Path) -> Result<AuthFile, AuthError> {
    let ferr = |message: String| AuthError::File {
        path: path.to_path_buf(),
        message,
    };
    let bytes = std::fs::read(path).map_err(|e| ferr(format!("cannot read: {e}")))?;
    // serde_json messages may quote values: report the position only.
    let raw: RawFile = serde_json::from_slice(&bytes).map_err(|e| {
        ferr(format!(
            "not a valid auth file (JSON {:?} error at line {} column {})",
            e.classify(),
            e.line(),
            e.column()
        ))
    })?;
    let mut auths = BTreeMap::new();
    for (key, e) in raw.auths {
        let registry = normalize_registry_key(&key);
        let mut entry = AuthEntry {
            username: e.username.filter(|s| !s.is_empty()),
            password: e.password.filter(|s| !s.is_empty()).map(Secret),
            identity_token: e.identitytoken.filter(|s| !s.is_empty()).map(Secret),
        };
        if let Some(a) = e.auth.filter(|s| !s.is_empty()) {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(a.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    ferr(format!(
                        "\"auth\" for {registry} is not base64 of user:password"
                    ))
                })?;
            let (u, p) = decoded.split_once(':').ok_or_else(|| {
                ferr(format!(
                    "\"auth\" for {registry} is not base64 of user:password"
                ))
            })?;
            entry.username = Some(u.to_string());
            entry.password = Some(Secret(p.to_string()));
        }
        auths.insert(registry, entry);
    }
    let cred_helpers = raw
        .cred_helpers
        .into_iter()
        .map(|(k, v)| (normalize_registry_key(&k), v))
        .collect();
    Ok(AuthFile {
        path: path.to_path_buf(),
        auths,
        cred_helpers,
        creds_store: raw.creds_store.filter(|s| !s.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PW: &str = "s3cr3t-Pa55word";

    fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
        let p = dir.join(name);
        if let Err(e) = std::fs::write(&p, content) {
            panic!("write {}: {e}", p.display());
        }
        p
    }

    fn tmp() -> tempfile::TempDir {
        match tempfile::tempdir() {
            Ok(d) => d,
            Err(e) => panic!("tempdir: {e}"),
        }
    }

    #[test]
    fn inline_auth_and_keys() {
        let d = tmp();
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("alice:{PW}"));
        let f = write(
            d.path(),
            "config.json",
            &format!(
                r#"{{"auths":{{"https://index.docker.io/v1/":{{"auth":"{auth}"}},
                "http://127.0.0.1:5000/v2/":{{"username":"bob","password":"{PW}"}},
                "ghcr.io":{{"identitytoken":"{PW}"}}}}}}"#
            ),
        );
        let cfg = match AuthConfig::from_files(&[f]) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        let dbg = format!("{cfg:?}");
        assert!(!dbg.contains(PW), "{dbg}");
        assert!(dbg.contains("docker.io"));
        let hub = cfg.credentials_for("docker.io").ok().flatten();
        let Some(hub) = hub else {
            panic!("no docker.io creds")
        };
        assert_eq!(hub.credentials.username(), "alice");
        assert!(!format!("{hub:?}").contains(PW));
        let local = cfg.credentials_for("127.0.0.1:5000").ok().flatten();
        assert!(matches!(
            local.map(|c| c.credentials),
            Some(Credentials::Basic { ref username, ref password }) if username == "bob" && password.expose() == PW
        ));
        let gh = cfg.credentials_for("ghcr.io").ok().flatten();
        assert!(matches!(
            gh.map(|c| c.credentials),
            Some(Credentials::IdentityToken { .. })
        ));
        assert!(cfg.credentials_for("quay.io").ok().flatten().is_none());
    }

    #[test]
    fn parse_errors_do_not_quote_secrets() {
        let d = tmp();
        // A structurally wrong file whose serde error would quote the value.
        let f = write(
            d.path(),
            "bad.json",
            &format!(r#"{{"auths":{{"x.io":"{PW}"}}}}"#),
        );
        let Err(e) = AuthConfig::from_files(&[f]) else {
            panic!("parsed")
        };
        let msg = format!("{e} {e:?}");
        assert!(!msg.contains(PW), "{msg}");
        let f = write(
            d.path(),
            "bad2.json",
            &format!(r#"{{"auths":{{"x.io":{{"auth":"{PW}"}}}}}}"#),
        );
        let Err(e) = AuthConfig::from_files(&[f]) else {
            panic!("parsed")
        };
        let msg = format!("{e} {e:?}");
        assert!(!msg.contains(PW), "{msg}");
        assert!(msg.contains("x.io"));
    }

    #[test]
    fn default_files_order() {
        let env = |k: &str| match k {
            "REGISTRY_AUTH_FILE" => Some("/a/auth.json".to_string()),
            "XDG_RUNTIME_DIR" => Some("/run/user/1".to_string()),
            "DOCKER_CONFIG" => Some("/d".to_string()),
            "HOME" => Some("/home/u".to_string()),
            _ => None,
        };
        assert_eq!(
            default_auth_files(env),
            vec![
                PathBuf::from("/a/auth.json"),
                PathBuf::from("/run/user/1/containers/auth.json"),
                PathBuf::from("/d/config.json")
            ]
        );
        let env = |k: &str| (k == "HOME").then(|| "/home/u".to_string());
        assert_eq!(
            default_auth_files(env),
            vec![PathBuf::from("/home/u/.docker/config.json")]
        );
    }

    #[cfg(unix)]
    #[test]
    fn credential_helpers() {
        use std::os::unix::fs::PermissionsExt;
        let d = tmp();
        let script = format!(
            "#!/bin/sh\nread server\ncase \"$server\" in\n  127.0.0.1:5000) echo '{{\"ServerURL\":\"x\",\"Username\":\"carol\",\"Secret\":\"{PW}\"}}' ;;\n  https://index.docker.io/v1/) echo '{{\"Username\":\"<token>\",\"Secret\":\"{PW}\"}}' ;;\n  broken.io) echo 'garbage {PW}'; exit 0 ;;\n  fail.io) echo 'boom {PW}'; exit 3 ;;\n  *) echo 'credentials not found in native keychain'; exit 1 ;;\nesac\n"
        );
        let h = write(d.path(), "docker-credential-test", &script);
        if let Err(e) = std::fs::set_permissions(&h, std::fs::Permissions::from_mode(0o755)) {
            panic!("chmod: {e}");
        }
        let f = write(
            d.path(),
            "config.json",
            r#"{"credsStore":"test","credHelpers":{"other.io":"missing-helper"},
               "auths":{"quay.io":{"username":"u","password":"inline"}}}"#,
        );
        let cfg = match AuthConfig::from_files(&[f]) {
            Ok(c) => c.with_helper_dir(d.path().to_path_buf()),
            Err(e) => panic!("{e}"),
        };
        let c = cfg.credentials_for("127.0.0.1:5000");
        assert!(
            matches!(&c, Ok(Some(FoundCredentials { credentials: Credentials::Basic { username, .. }, .. })) if username == "carol"),
            "{c:?}"
        );
        let c = cfg.credentials_for("docker.io");
        assert!(
            matches!(
                &c,
                Ok(Some(FoundCredentials {
                    credentials: Credentials::IdentityToken { .. },
                    ..
                }))
            ),
            "{c:?}"
        );
        // Not found in the store: fall back to the inline entry.
        let c = cfg.credentials_for("quay.io");
        assert!(
            matches!(&c, Ok(Some(FoundCredentials { credentials: Credentials::Basic { username, .. }, .. })) if username == "u"),
            "{c:?}"
        );
        assert!(matches!(cfg.credentials_for("nothing.io"), Ok(None)));
        for reg in ["broken.io", "fail.io", "other.io"] {
            let e = match cfg.credentials_for(reg) {
                Err(e) => e,
                Ok(c) => panic!("{reg}: {c:?}"),
            };
            let msg = format!("{e} / {e:?}");
            assert!(!msg.contains(PW), "{msg}");
            assert!(msg.contains(reg), "{msg}");
        }
    }
}
