//! Kubernetes name rules: which names the API server accepts for which kinds.
//!
//! Most kinds take a DNS-1123 subdomain (`ValidateObjectMeta` with `NameIsDNSSubdomain`, also
//! custom resources); Namespaces a DNS-1123 label; Services a DNS-1035 label (a letter
//! first); RBAC roles and bindings only a path segment (`system:aggregate-to-view` is a
//! valid ClusterRole name). Helm release names are DNS-1123 subdomains of at most 53
//! characters.

/// DNS-1123 label: at most 63 of `[a-z0-9-]`, alphanumeric at both ends.
pub fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// DNS-1123 subdomain: at most 253 characters, DNS-1123 labels joined by `.` (each label
/// may be longer than 63 here, as Kubernetes' own regular expression allows).
pub fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|l| {
            let b = l.as_bytes();
            !b.is_empty()
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
        })
}

/// DNS-1035 label: a DNS-1123 label that starts with a letter.
pub fn is_dns1035_label(s: &str) -> bool {
    is_dns1123_label(s) && s.as_bytes()[0].is_ascii_lowercase()
}

/// Path segment (what RBAC names must be): not `.` or `..`, no `/` or `%`. Control
/// characters are refused too: no Kubernetes client can name such an object on a command
/// line, and they are what would break a comment or a report line.
pub fn is_path_segment(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && !s.contains(['/', '%'])
        && !s.chars().any(char::is_control)
}

/// The rule Kubernetes applies to `metadata.name` of `kind`, as (check, description).
pub fn rule_for(kind: &str) -> (fn(&str) -> bool, &'static str) {
    match kind {
        "Namespace" => (is_dns1123_label, "a DNS-1123 label (at most 63 characters of a-z, 0-9 and `-`, starting and ending alphanumeric)"),
        "Service" => (is_dns1035_label, "a DNS-1035 label (at most 63 characters of a-z, 0-9 and `-`, starting with a letter and ending alphanumeric)"),
        "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding" => (
            is_path_segment,
            "a path segment (not `.` or `..`, without `/`, `%` or control characters)",
        ),
        _ => (is_dns1123_subdomain, "a DNS-1123 subdomain (at most 253 characters of a-z, 0-9, `-` and `.`, each dot-separated part starting and ending alphanumeric)"),
    }
}

/// Helm's release-name rule: a DNS-1123 subdomain of at most 53 characters.
pub fn is_release_name(s: &str) -> bool {
    s.len() <= 53 && is_dns1123_subdomain(s)
}

/// A kind or name as a message or a label may show it: as it is when it is made of the
/// characters of one (`[A-Za-z0-9._:-]`, at most 253), else only its length. A template that
/// spills other text into `metadata.name` (a URL with a password, a Secret's lines) must not
/// have it repeated in an error or a report.
pub fn shown_name(s: &str) -> String {
    if name_like(s) {
        s.to_string()
    } else {
        format!("<{} characters, not shown>", s.chars().count())
    }
}

/// True when `s` is made of the characters of a kind or name (see [`shown_name`]).
pub fn name_like(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'))
}

/// `s` made safe for a one-line comment: control characters (line breaks, tabs, NUL), the
/// Unicode line and paragraph separators, byte-order marks and `%` are written `%XX` (their
/// UTF-8 bytes), so no input can end the comment line and add YAML lines or a `---`
/// document. Everything else (names, template paths) is written as it is.
pub fn comment_safe(s: &str) -> String {
    let unsafe_char =
        |c: char| c.is_control() || matches!(c, '%' | '\u{2028}' | '\u{2029}' | '\u{feff}');
    if !s.chars().any(unsafe_char) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if unsafe_char(c) {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_take_the_rule_kubernetes_applies() {
        let ok = |kind: &str, name: &str| rule_for(kind).0(name);
        assert!(ok("ConfigMap", "web.config-1"));
        assert!(!ok("ConfigMap", "Web"));
        assert!(!ok("ConfigMap", "-web"));
        assert!(!ok("ConfigMap", "web\n---"));
        assert!(!ok("ConfigMap", ""));
        assert!(!ok("ConfigMap", &"a".repeat(254)));
        assert!(ok("ConfigMap", &"a".repeat(253)));
        assert!(ok("Namespace", "team-a"));
        assert!(!ok("Namespace", "team.a"));
        assert!(ok("Service", "web"));
        assert!(!ok("Service", "1web"));
        assert!(ok("ClusterRole", "system:aggregate-to-view"));
        assert!(ok("RoleBinding", "Web:Admin"));
        assert!(!ok("ClusterRole", "a/b"));
        assert!(!ok("ClusterRole", ".."));
        assert!(!ok("ClusterRole", "a\nb"));
    }

    #[test]
    fn release_names_follow_helm() {
        assert!(is_release_name("web"));
        assert!(is_release_name("web.v2"));
        assert!(is_release_name(&"a".repeat(53)));
        assert!(!is_release_name(&"a".repeat(54)));
        assert!(!is_release_name("Web"));
        assert!(!is_release_name("web_1"));
        assert!(!is_release_name(""));
    }

    #[test]
    fn comments_never_carry_line_breaks_or_markers() {
        assert_eq!(comment_safe("web-1.x"), "web-1.x");
        assert_eq!(comment_safe("a\n---\nb"), "a%0A---%0Ab");
        assert_eq!(
            comment_safe("chart/templates/a b.yaml"),
            "chart/templates/a b.yaml"
        );
        assert_eq!(comment_safe("100%"), "100%25");
        assert!(!comment_safe("x\r\ny\u{2028}").contains(['\n', '\r', '\u{2028}']));
    }
}
