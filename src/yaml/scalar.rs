//! Writing scalars that Kubernetes reads back as the same type.
//!
//! Kubernetes (sigs.k8s.io/yaml over go-yaml v2) reads YAML 1.1: plain `on`, `yes`, `y`, `no`,
//! `off` are booleans, `0755` is octal, `1_000` is an integer, `1e3` a float, `~` null, and
//! timestamps are special. Every string chart-harden writes goes out plain only when no YAML
//! 1.1 or 1.2 reader could take it for anything but that string; otherwise double-quoted.

use crate::yaml::view::MapExt;
use serde_json::Value;

const BOOL_NULL_WORDS: &[&str] = &[
    "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false",
    "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", "null", "Null", "NULL", "~", "=",
    "<<",
];

/// Characters that cannot start a plain scalar (YAML indicators; `-`, `?`, `:` conservatively
/// even when followed by a non-space).
const INDICATOR_START: &[u8] = b"-?:#&*!|>'\"%@`";

/// True when `s` can be written as a plain scalar and still read back as the same string by
/// YAML 1.1 (Kubernetes) and YAML 1.2 readers, in block and flow context.
pub fn plain_safe(s: &str) -> bool {
    if s.is_empty() || BOOL_NULL_WORDS.contains(&s) {
        return false;
    }
    let first = s.as_bytes()[0];
    // Anything that starts like a number, a timestamp, an indicator or `.inf`/`.nan`.
    if first.is_ascii_digit() || b"+.,[]{} ".contains(&first) || INDICATOR_START.contains(&first) {
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

/// True when `s`, written plain, reads back as exactly the string `s` under Kubernetes' YAML
/// 1.1 rules. Wider than [`plain_safe`] (it accepts `127.0.0.1:5000/app:1`), used to keep an
/// existing plain scalar plain when its value is replaced.
pub fn plain_roundtrips(s: &str) -> bool {
    if plain_safe(s) {
        return true;
    }
    if s.is_empty()
        || s.trim() != s
        || s.contains(": ")
        || s.contains(" #")
        || s.ends_with(':')
        || s.chars()
            .any(|c| c.is_control() || matches!(c, ',' | '[' | ']' | '{' | '}'))
        || looks_like_timestamp(s)
        || INDICATOR_START.contains(&s.as_bytes()[0])
    {
        return false;
    }
    matches!(
        super::view::parse(&format!("k: {s}\n")),
        Ok(serde_json::Value::Object(m)) if m.key("k") == Some(&Value::String(s.to_string()))
    )
}

/// YAML 1.1 timestamps (`2001-12-14`, `2001-12-14t21:59:43.10-05:00`) are not strings in Kubernetes.
fn looks_like_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 8 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && b[5].is_ascii_digit()
}

/// Renders a replacement for an existing scalar in the same style where that is faithful.
pub fn render_like(v: &Value, style: granit_parser::ScalarStyle) -> String {
    use granit_parser::ScalarStyle;
    match (v, style) {
        (Value::String(s), ScalarStyle::DoubleQuoted) => quote(s),
        (Value::String(s), ScalarStyle::SingleQuoted) if !s.contains(['\n', '\r']) => {
            format!("'{}'", s.replace('\'', "''"))
        }
        (Value::String(s), ScalarStyle::Plain) if plain_roundtrips(s) => s.clone(),
        _ => render_scalar(v),
    }
}

#[cfg(test)]
mod roundtrip_tests {
    use super::*;

    #[test]
    fn keeps_plain_when_faithful() {
        assert!(plain_roundtrips("127.0.0.1:5000/app:1@sha256:abc"));
        assert!(plain_roundtrips("nginx"));
        for s in ["on", "0755", "1e3", "2024-01-01", "~", "12", "a: b", "-x"] {
            assert!(!plain_roundtrips(s), "{s}");
        }
        assert_eq!(
            render_like(
                &Value::String("it's".into()),
                granit_parser::ScalarStyle::SingleQuoted
            ),
            "'it''s'"
        );
    }
}
