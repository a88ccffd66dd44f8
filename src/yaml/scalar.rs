//! Writing scalars that Kubernetes reads back as the same type.
//!
//! Kubernetes (sigs.k8s.io/yaml over go-yaml v2) reads YAML 1.1: plain `on`, `yes`, `y`, `no`,
//! `off` are booleans, `0755` is octal, `1_000` is an integer, `1e3` a float, `~` null, and
//! timestamps are special. Every string chart-harden writes goes out plain only when no YAML
//! 1.1 or 1.2 reader could take it for anything but that string; otherwise double-quoted.

use serde_json::Value;

const BOOL_NULL_WORDS: &[&str] = &[
    "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false",
    "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", "null", "Null", "NULL", "~", "=",
    "<<",
];

/// True when `s` can be written as a plain scalar and still read back as the same string by
/// YAML 1.1 (Kubernetes) and YAML 1.2 readers, in block and flow context.
pub fn plain_safe(s: &str) -> bool {
    if s.is_empty() || BOOL_NULL_WORDS.contains(&s) {
        return false;
    }
    let first = s.as_bytes()[0];
    // Anything that starts like a number, a timestamp, an indicator or `.inf`/`.nan`.
    if first.is_ascii_digit()
        || matches!(
            first,
            b'-' | b'+'
                | b'.'
                | b'?'
                | b':'
                | b','
                | b'['
                | b']'
                | b'{'
                | b'}'
                | b'#'
                | b'&'
                | b'*'
                | b'!'
                | b'|'
                | b'>'
                | b'\''
                | b'"'
                | b'%'
                | b'@'
                | b'`'
                | b' '
        )
    {
        return false;
    }
    if s.ends_with(' ') || s.ends_with(':') {
        return false;
    }
    if s.contains(": ") || s.contains(" #") || s.contains('\t') {
        return false;
    }
    s.chars().all(|c| {
        !c.is_control() && !matches!(c, ',' | '[' | ']' | '{' | '}' | '\n' | '\r' | '\u{feff}')
    })
}

/// Renders a string as a YAML scalar: plain when [`plain_safe`], otherwise double-quoted.
pub fn render_str(s: &str) -> String {
    if plain_safe(s) {
        s.to_string()
    } else {
        quote(s)
    }
}

/// Double-quoted YAML scalar (JSON string escapes are valid YAML double-quoted escapes).
pub fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| String::from("\"\""))
}

/// Renders a JSON scalar (string, number, bool, null) as YAML.
pub fn render_scalar(v: &Value) -> String {
    match v {
        Value::String(s) => render_str(s),
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        // Collections are rendered by the patcher; flow JSON is valid YAML as a fallback.
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn look_alikes_are_quoted() {
        for s in [
            "on",
            "yes",
            "y",
            "NO",
            "0755",
            "1e3",
            "~",
            "null",
            "",
            "1_000",
            "2024-01-01",
            ".inf",
            "-1",
            "+1",
            "1:20",
            "a: b",
            "x #y",
            "[a]",
            "*a",
            "&a",
            "!t",
            "@x",
            "%x",
        ] {
            assert!(!plain_safe(s), "{s:?} must be quoted");
        }
        for s in [
            "nginx",
            "RuntimeDefault",
            "ALL",
            "nginx:1.25@sha256:abc",
            "/tmp",
            "a-b_c.d",
        ] {
            assert!(plain_safe(s), "{s:?} may be plain");
        }
        assert_eq!(render_str("on"), "\"on\"");
        assert_eq!(render_str("a\"b\n"), "\"a\\\"b\\n\"");
    }
}
