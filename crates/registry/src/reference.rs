//! Container image reference parsing and normalization, following the rules
//! of Docker's `distribution/reference` package.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

/// The registry an image without a domain belongs to.
pub const DOCKER_HUB: &str = "docker.io";
/// The host actually serving the registry API for [`DOCKER_HUB`].
pub const DOCKER_HUB_ENDPOINT: &str = "registry-1.docker.io";
const MAX_NAME_LEN: usize = 255;
const MAX_TAG_LEN: usize = 128;

/// A parsed and normalized image reference.
///
/// `nginx` normalizes to registry `docker.io`, repository `library/nginx`,
/// tag `latest`; `ghcr.io/a/b:1@sha256:…` keeps all parts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    /// The reference exactly as written by the user.
    pub original: String,
    /// Registry domain (with port when written), e.g. `docker.io`,
    /// `ghcr.io`, `127.0.0.1:5000`, `[::1]:5000`.
    pub registry: String,
    /// Repository path inside the registry, e.g. `library/nginx`.
    pub repository: String,
    /// The tag. `latest` when neither a tag nor a digest was written;
    /// `None` when only a digest was written.
    pub tag: Option<String>,
    /// The digest (`algorithm:hex`) when one was written.
    pub digest: Option<String>,
}

/// Why a string is not a valid image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefErrorKind {
    /// The reference is empty.
    Empty,
    /// The repository path contains upper-case letters.
    Uppercase,
    /// The registry domain (or port) is malformed.
    InvalidDomain,
    /// A repository path component is malformed.
    InvalidPath,
    /// The tag is malformed.
    InvalidTag,
    /// The digest is malformed.
    InvalidDigest,
    /// The repository name is longer than 255 characters.
    NameTooLong,
    /// The name is a 64-character hex string (ambiguous with an image id).
    HexName,
    /// Whitespace or other characters that never appear in a reference.
    InvalidCharacter,
}

impl RefErrorKind {
    fn describe(&self) -> &'static str {
        match self {
            RefErrorKind::Empty => "reference is empty",
            RefErrorKind::Uppercase => "repository name must be lowercase",
            RefErrorKind::InvalidDomain => "invalid registry domain or port",
            RefErrorKind::InvalidPath => {
                "invalid repository path (components are [a-z0-9] separated by '.', '_', '__' or '-')"
            }
            RefErrorKind::InvalidTag => "invalid tag (at most 128 characters of [A-Za-z0-9_.-], not starting with '.' or '-')",
            RefErrorKind::InvalidDigest => "invalid digest (expected sha256:<64 lowercase hex>)",
            RefErrorKind::NameTooLong => "repository name must not be longer than 255 characters",
            RefErrorKind::HexName => {
                "cannot use a 64-character hexadecimal string as a repository name"
            }
            RefErrorKind::InvalidCharacter => "reference contains whitespace or invalid characters",
        }
    }
}

/// Error returned by [`ImageRef::parse`]; its message names the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefError {
    /// The rejected input.
    pub input: String,
    /// What is wrong with it.
    pub kind: RefErrorKind,
}

impl fmt::Display for RefError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid image reference {}: {}",
            shown(&self.input),
            self.kind.describe()
        )
    }
}

/// An image field's text as a message may quote it: quoted when it is made of the characters
/// of a reference (`[A-Za-z0-9._/:@+-]`, `[` `]` of an IPv6 registry; no `://`), else only its
/// length. A template that
/// spills other text into an image field (a Secret's lines, a URL with a password) must not
/// have it repeated in an error or a report.
pub fn shown(input: &str) -> String {
    let reference_like = !input.is_empty()
        && !input.contains("://")
        && input
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._/:@+-[]".contains(c));
    if reference_like {
        format!("{input:?}")
    } else {
        format!(
            "of {} characters that are not a reference's (not shown: what a template spilled into the field may be a credential)",
            input.chars().count()
        )
    }
}

impl std::error::Error for RefError {}

impl ImageRef {
    /// Parses and normalizes `input` the way `docker pull` does.
    pub fn parse(input: &str) -> Result<ImageRef, RefError> {
        let err = |kind| RefError {
            input: input.to_string(),
            kind,
        };
        if input.is_empty() {
            return Err(err(RefErrorKind::Empty));
        }
        if input
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || !c.is_ascii())
        {
            return Err(err(RefErrorKind::InvalidCharacter));
        }

        let (name_tag, digest) = match input.split_once('@') {
            Some((n, d)) => {
                validate_digest(d).map_err(err)?;
                (n, Some(d.to_string()))
            }
            None => (input, None),
        };
        if name_tag.is_empty() {
            return Err(err(RefErrorKind::Empty));
        }

        // A tag is the part after the last ':' that follows the last '/'.
        let last_slash = name_tag.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name_tag[last_slash..].rfind(':') {
            Some(i) => {
                let at = last_slash + i;
                (&name_tag[..at], Some(&name_tag[at + 1..]))
            }
            None => (name_tag, None),
        };
        if let Some(t) = tag {
            validate_tag(t).map_err(err)?;
        }
        if name.is_empty() {
            return Err(err(RefErrorKind::InvalidPath));
        }
        if name.len() > MAX_NAME_LEN {
            return Err(err(RefErrorKind::NameTooLong));
        }

        // Domain detection, as in Docker's splitDockerDomain.
        let (mut domain, mut path) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                validate_domain(first).map_err(err)?;
                (first.to_string(), rest.to_string())
            }
            _ => (DOCKER_HUB.to_string(), name.to_string()),
        };
        if domain == "index.docker.io" {
            domain = DOCKER_HUB.to_string();
        }
        if path.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(err(RefErrorKind::Uppercase));
        }
        for component in path.split('/') {
            validate_path_component(component).map_err(err)?;
        }
        if domain == DOCKER_HUB && !path.contains('/') {
            if path.len() == 64 && path.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(err(RefErrorKind::HexName));
            }
            path = format!("library/{path}");
        }
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_string()),
            (None, None) => Some("latest".to_string()),
            (None, Some(_)) => None,
        };
        Ok(ImageRef {
            original: input.to_string(),
            registry: domain,
            repository: path,
            tag,
            digest,
        })
    }

    /// Fully qualified form: `docker.io/library/nginx:latest`,
    /// `ghcr.io/a/b:1@sha256:…`, `127.0.0.1:5000/x@sha256:…`.
    pub fn canonical(&self) -> String {
        let mut s = format!("{}/{}", self.registry, self.repository);
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d);
        }
        s
    }

    /// Host (and port) serving the registry API: `registry-1.docker.io` for
    /// Docker Hub, the registry domain otherwise.
    pub fn registry_endpoint(&self) -> &str {
        endpoint_for(&self.registry)
    }

    /// The reference as written by the user, pinned to `digest`: the tag is
    /// kept for humans (`nginx:1.25` → `nginx:1.25@sha256:…`), a reference
    /// written without a tag gets none (`nginx` → `nginx@sha256:…`), and a
    /// digest already present is replaced.
    pub fn pinned(&self, digest: &str) -> String {
        let base = self
            .original
            .split_once('@')
            .map_or(self.original.as_str(), |(n, _)| n);
        format!("{base}@{digest}")
    }

    /// Whether the registry is reached over plain HTTP by default: loopback
    /// registries (`localhost`, `127.0.0.0/8`, `[::1]`, with or without port),
    /// as Docker does.
    pub fn is_loopback_registry(&self) -> bool {
        is_loopback_registry(&self.registry)
    }

    /// The reference used to fetch the manifest: the digest when one was
    /// written, the tag otherwise.
    pub fn manifest_reference(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical())
    }
}

/// Pins the reference `reference` (as written) to `digest`, keeping what the
/// user wrote: `pinned("nginx:1.25", d)` → `nginx:1.25@d`.
pub fn pinned(reference: &str, digest: &str) -> Result<String, RefError> {
    ImageRef::parse(reference).map(|r| r.pinned(digest))
}

/// API endpoint host for a registry domain.
pub fn endpoint_for(registry: &str) -> &str {
    if registry == DOCKER_HUB {
        DOCKER_HUB_ENDPOINT
    } else {
        registry
    }
}

/// Splits `host[:port]` / `[v6]:port` into the host part (without brackets).
fn host_part(registry: &str) -> &str {
    if let Some(rest) = registry.strip_prefix('[') {
        return rest.split_once(']').map_or(rest, |(h, _)| h);
    }
    match registry.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()) => h,
        _ => registry,
    }
}

/// True for `localhost`, `127.0.0.0/8` and `::1`, with or without a port.
pub fn is_loopback_registry(registry: &str) -> bool {
    let host = host_part(registry);
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether `d` is a well-formed digest: `sha256:` and 64 lowercase hex digits
/// (or `sha384:` 96, `sha512:` 128). Upper-case hex, other algorithms and
/// other lengths are not.
pub fn is_valid_digest(d: &str) -> bool {
    validate_digest(d).is_ok()
}

fn validate_digest(d: &str) -> Result<(), RefErrorKind> {
    let (alg, hex) = d.split_once(':').ok_or(RefErrorKind::InvalidDigest)?;
    let want = match alg {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return Err(RefErrorKind::InvalidDigest),
    };
    if hex.len() != want
        || !hex
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    {
        return Err(RefErrorKind::InvalidDigest);
    }
    Ok(())
}

fn validate_tag(t: &str) -> Result<(), RefErrorKind> {
    let mut chars = t.chars();
    let first = chars.next().ok_or(RefErrorKind::InvalidTag)?;
    if t.len() > MAX_TAG_LEN || !(first.is_ascii_alphanumeric() || first == '_') {
        return Err(RefErrorKind::InvalidTag);
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) {
        return Err(RefErrorKind::InvalidTag);
    }
    Ok(())
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn validate_path_component(c: &str) -> Result<(), RefErrorKind> {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return Err(RefErrorKind::InvalidPath);
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // separator run
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return Err(RefErrorKind::InvalidPath);
        }
    }
    Ok(())
}

fn validate_domain(d: &str) -> Result<(), RefErrorKind> {
    let bad = RefErrorKind::InvalidDomain;
    let (host, port) = if let Some(rest) = d.strip_prefix('[') {
        let (v6, after) = rest.split_once(']').ok_or(bad.clone())?;
        v6.parse::<Ipv6Addr>().map_err(|_| bad.clone())?;
        match after {
            "" => (None, None),
            p => (None, Some(p.strip_prefix(':').ok_or(bad.clone())?)),
        }
    } else {
        match d.split_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(d), None),
        }
    };
    if let Some(p) = port {
        if p.is_empty() || p.len() > 5 || !p.chars().all(|c| c.is_ascii_digit()) {
            return Err(bad);
        }
    }
    if let Some(h) = host {
        if h.is_empty() {
            return Err(bad);
        }
        for label in h.split('.') {
            let lb = label.as_bytes();
            if lb.is_empty()
                || !lb[0].is_ascii_alphanumeric()
                || !lb[lb.len() - 1].is_ascii_alphanumeric()
                || !lb.iter().all(|x| x.is_ascii_alphanumeric() || *x == b'-')
            {
                return Err(bad);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn p(s: &str) -> ImageRef {
        match ImageRef::parse(s) {
            Ok(r) => r,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn docker_hub_normalization() {
        let r = p("nginx");
        assert_eq!(r.registry, "docker.io");
        assert_eq!(r.repository, "library/nginx");
        assert_eq!(r.tag.as_deref(), Some("latest"));
        assert_eq!(r.digest, None);
        assert_eq!(r.canonical(), "docker.io/library/nginx:latest");
        assert_eq!(r.registry_endpoint(), "registry-1.docker.io");
        assert_eq!(
            p("bitnami/redis:7").canonical(),
            "docker.io/bitnami/redis:7"
        );
        assert_eq!(
            p("docker.io/nginx").canonical(),
            "docker.io/library/nginx:latest"
        );
        assert_eq!(
            p("index.docker.io/library/nginx:1").canonical(),
            "docker.io/library/nginx:1"
        );
    }

    #[test]
    fn domains() {
        let r = p("ghcr.io/a/b:1");
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("ghcr.io", "a/b")
        );
        assert_eq!(r.tag.as_deref(), Some("1"));
        let r = p("localhost:5000/x");
        assert_eq!(r.registry, "localhost:5000");
        assert_eq!(r.canonical(), "localhost:5000/x:latest");
        assert!(r.is_loopback_registry());
        let r = p("localhost/x");
        assert_eq!(r.registry, "localhost");
        let r = p("127.0.0.1:5000/x:t");
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.tag.as_deref(), Some("t"));
        assert!(r.is_loopback_registry());
        let r = p("[::1]:5000/x");
        assert_eq!(r.registry, "[::1]:5000");
        assert_eq!(r.repository, "x");
        assert!(r.is_loopback_registry());
        assert!(p("127.3.2.1/x").is_loopback_registry());
        assert!(!p("ghcr.io/x").is_loopback_registry());
        assert!(!p("nginx").is_loopback_registry());
        // "foo" without '.' or ':' is a Docker Hub namespace, not a domain.
        assert_eq!(p("foo/bar").canonical(), "docker.io/foo/bar:latest");
        assert_eq!(p("Example.com/x").registry, "Example.com");
    }

    #[test]
    fn digests_and_pinning() {
        let r = p(&format!("x@{D}"));
        assert_eq!(r.tag, None);
        assert_eq!(r.digest.as_deref(), Some(D));
        assert_eq!(r.canonical(), format!("docker.io/library/x@{D}"));
        let r = p(&format!("x:t@{D}"));
        assert_eq!(r.tag.as_deref(), Some("t"));
        assert_eq!(r.manifest_reference(), D);
        assert_eq!(
            pinned("nginx:1.25", D).ok(),
            Some(format!("nginx:1.25@{D}"))
        );
        assert_eq!(pinned("nginx", D).ok(), Some(format!("nginx@{D}")));
        assert_eq!(
            pinned(&format!("nginx:1@{D}"), "sha256:ff").ok(),
            Some("nginx:1@sha256:ff".to_string())
        );
        assert_eq!(
            pinned("127.0.0.1:5000/a/b", D).ok(),
            Some(format!("127.0.0.1:5000/a/b@{D}"))
        );
    }

    #[test]
    fn garbage_rejected() {
        for (s, k) in [
            ("", RefErrorKind::Empty),
            ("Nginx", RefErrorKind::Uppercase),
            ("ghcr.io/A/b", RefErrorKind::Uppercase),
            ("nginx:", RefErrorKind::InvalidTag),
            ("nginx:-x", RefErrorKind::InvalidTag),
            ("nginx@sha256:abc", RefErrorKind::InvalidDigest),
            ("nginx@md5:0123", RefErrorKind::InvalidDigest),
            ("a//b", RefErrorKind::InvalidPath),
            ("-a", RefErrorKind::InvalidPath),
            ("a/", RefErrorKind::InvalidPath),
            ("a..b", RefErrorKind::InvalidPath),
            ("a___b", RefErrorKind::InvalidPath),
            ("ngi nx", RefErrorKind::InvalidCharacter),
            ("localhost:port/x", RefErrorKind::InvalidDomain),
            ("[::1/x", RefErrorKind::InvalidDomain),
            ("-bad.io/x", RefErrorKind::InvalidDomain),
            (
                "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                RefErrorKind::HexName,
            ),
        ] {
            match ImageRef::parse(s) {
                Ok(r) => panic!("{s:?} parsed as {r:?}"),
                Err(e) => {
                    assert_eq!(e.kind, k, "{s:?}: {e}");
                    // The input is named unless it holds what no reference does (whitespace).
                    if s.contains(' ') || s.is_empty() {
                        assert!(e.to_string().contains("not shown"), "{e}");
                    } else {
                        assert!(e.to_string().contains(&format!("{s:?}")), "{e}");
                    }
                }
            }
        }
        let long = format!("a/{}", "b".repeat(300));
        assert_eq!(
            ImageRef::parse(&long).map_err(|e| e.kind),
            Err(RefErrorKind::NameTooLong)
        );
        assert!(ImageRef::parse("a__b/c-d/e--f.g_h:v1.2-rc_3").is_ok());
    }
}

#[cfg(test)]
mod shown_tests {
    use super::shown;

    /// A reference is quoted; other text is not repeated, only its length.
    #[test]
    fn only_references_are_quoted() {
        assert_eq!(
            shown("ghcr.io/a/b:1.2@sha256:00"),
            "\"ghcr.io/a/b:1.2@sha256:00\""
        );
        for spilled in ["app:1 password: x", "postgres://u:pw@db/app", "", "a\nb"] {
            assert!(
                !shown(spilled).contains('"') || spilled.is_empty(),
                "{spilled:?}"
            );
            assert!(shown(spilled).contains("not shown"), "{spilled:?}");
        }
    }
}
