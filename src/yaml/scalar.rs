//! Plain scalars: how one reads, and whether a string may be written plain.
//!
//! One table for both directions. Reading: [`resolve_plain`] is how the fast readers
//! (`super::fast`, `super::lines`) and the patcher resolve a plain scalar (null, YAML 1.1
//! boolean, integer, legacy octal, float, or the string itself) exactly as the view reads it
//! (serde-saphyr with [`super::view::options`], its mixed-case booleans read back as go-yaml
//! reads them), declining what they cannot be sure of;
//! [`go_yaml_float_shape`] is go-yaml's float form (an overflowing one is a string).
//! Writing: [`plain_safe`] lets a string go out plain only when that table (and any YAML 1.1
//! or 1.2 reader) reads it back as the same string; otherwise it is double-quoted.
//!
//! Kubernetes (sigs.k8s.io/yaml over go-yaml v2) reads YAML 1.1: plain `on`, `yes`, `y`, `no`,
//! `off` are booleans, `0755` is octal, `1_000` is an integer, `1e3` a float, `~` null, and
//! timestamps are special.

use crate::yaml::Value;
use serde_json::Number;

/// A fix's value, as written.
type Json = serde_json::Value;

/// How a plain scalar reads.
#[derive(Debug, Clone, PartialEq)]
pub enum Plain {
    /// As the string it is.
    Str,
    /// As null, a boolean or a number.
    Other(Value),
}

impl Plain {
    /// True when the scalar reads as the string it is.
    pub fn is_string(&self) -> bool {
        matches!(self, Plain::Str)
    }
}

/// The plain null spellings (and the empty scalar).
pub fn is_null(s: &str) -> bool {
    matches!(s, "" | "~" | "null" | "Null" | "NULL")
}

/// The YAML 1.1 words for true and for false (in lower case).
const TRUE_WORDS: [&str; 4] = ["y", "yes", "true", "on"];
const FALSE_WORDS: [&str; 4] = ["n", "no", "false", "off"];

/// YAML 1.1 booleans as Kubernetes reads them (go-yaml v2): `y`, `yes`, `true`, `on` and `n`,
/// `no`, `false`, `off`, each all-lower, capitalized or all-upper (`Y`, `Yes`, `YES`). A
/// mixed-case `tRUE` or `oN` is the string it is (serde-saphyr reads it as a boolean; the
/// view reads it back as go-yaml does, see `super::view`).
pub fn yaml11_bool(s: &str) -> Option<bool> {
    let spelled = |word: &str| {
        s.eq_ignore_ascii_case(word)
            && (s == word
                || s.bytes().all(|b| b.is_ascii_uppercase())
                || s.as_bytes()[0].is_ascii_uppercase() && s[1..] == word[1..])
    };
    if TRUE_WORDS.into_iter().any(spelled) {
        Some(true)
    } else if FALSE_WORDS.into_iter().any(spelled) {
        Some(false)
    } else {
        None
    }
}

/// True when `s` is a YAML 1.1 boolean word in any letter case (`tRUE` included): what some
/// reader takes for a boolean, so a writer quotes it.
pub fn any_case_bool_word(s: &str) -> bool {
    TRUE_WORDS
        .iter()
        .chain(&FALSE_WORDS)
        .any(|w| s.eq_ignore_ascii_case(w))
}

/// True when `text` holds a word that serde-saphyr reads as a boolean and go-yaml as a string
/// (`tRUE`, `oN`, `yEs`): only then does the view read the text a second time.
pub fn has_mixed_case_bool_word(text: &str) -> bool {
    text.split(|c: char| !c.is_ascii_alphabetic())
        .any(|w| (2..=5).contains(&w.len()) && any_case_bool_word(w) && yaml11_bool(w).is_none())
}

/// How the view reads a plain scalar (the readers' table: serde-saphyr's, with go-yaml's
/// booleans, see [`yaml11_bool`]), or `None` when the fast readers cannot be sure and leave
/// the document to serde-saphyr.
pub fn resolve_plain(s: &str) -> Option<Plain> {
    if is_null(s) {
        return Some(Plain::Other(Value::Null));
    }
    if let Some(b) = yaml11_bool(s) {
        return Some(Plain::Other(Value::Bool(b)));
    }
    let first = *s.as_bytes().first()?;
    if s.starts_with(|c: char| c.is_whitespace()) || s.ends_with(|c: char| c.is_whitespace()) {
        return None;
    }
    if !(first.is_ascii_digit() || matches!(first, b'+' | b'-' | b'.' | b'_')) {
        // No integer or float spelling starts like this (and the bare `inf`/`nan` spellings
        // Rust's float parser knows are strings to serde-saphyr).
        return Some(Plain::Str);
    }
    if let Some(n) = number(s).or_else(|| legacy_octal(s)) {
        return Some(Plain::Other(n));
    }
    if !could_be_number(s) || dotted_decimals(s) {
        // `100Mi`, `10s`, `-c`, `0.0.0.0:80`, `1.2.3`, hex digests: no number parser accepts
        // these.
        return Some(Plain::Str);
    }
    None
}

/// YAML 1.1 octal integers as charts write file modes (`0755`, `0644`): a `0` and octal
/// digits only, read as serde-saphyr (`legacy_octal_numbers`) and Kubernetes read them. Signed,
/// underscored or very long spellings are left to serde-saphyr.
fn legacy_octal(s: &str) -> Option<Value> {
    let digits = s.strip_prefix('0')?;
    if digits.is_empty() || digits.len() > 11 || !digits.bytes().all(|b| matches!(b, b'0'..=b'7')) {
        return None;
    }
    i64::from_str_radix(digits, 8).ok().map(Value::from)
}

/// True when some integer or float reading of serde-saphyr might accept the text: a radix
/// prefix, an `inf`/`nan` spelling, or nothing but digits, `.`, `_`, exponent and sign
/// characters.
fn could_be_number(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s).as_bytes();
    let lower = |i: usize| body.get(i).map(u8::to_ascii_lowercase);
    if lower(0) == Some(b'0') && matches!(lower(1), Some(b'x' | b'o' | b'b')) {
        return true;
    }
    let word = body.strip_prefix(b".").unwrap_or(body);
    if word.len() >= 3
        && (word[..3].eq_ignore_ascii_case(b"inf") || word[..3].eq_ignore_ascii_case(b"nan"))
    {
        return true;
    }
    body.iter()
        .all(|&b| b.is_ascii_digit() || b"._eE+-".contains(&b))
}

/// `1.2.3`, `10.0.0.1`: three or more dot-separated groups of digits.
fn dotted_decimals(s: &str) -> bool {
    let mut groups = 0;
    for g in s.split('.') {
        if g.is_empty() || !g.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
        groups += 1;
    }
    groups >= 3
}

/// Canonical decimal integers (`0`, `42`, `-7`) and plain decimal fractions (`0.5`, `-1.25`);
/// `None` for anything else (leading zeros are legacy octal, `-0`, long digit runs, exponents).
fn number(s: &str) -> Option<Value> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s),
    };
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    if int.is_empty() || int.len() > 18 || !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match frac {
        None => {
            if int.len() > 1 && int.starts_with('0') || neg && int == "0" {
                return None;
            }
            let n: u64 = int.parse().ok()?;
            Some(Value::Number(if neg {
                Number::from(-i64::try_from(n).ok()?)
            } else {
                Number::from(n)
            }))
        }
        Some(f) => {
            if f.is_empty() || f.len() > 17 || !f.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let v: f64 = s.parse().ok()?;
            Number::from_f64(v).map(Value::Number)
        }
    }
}

/// True when go-yaml v2 would try `s` as a float (its `yamlStyleFloat` expression after
/// removing `_`): `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`. Such a scalar that
/// does not fit an f64 is a string to go-yaml; `.inf` and `.nan` are not of this shape.
pub fn go_yaml_float_shape(s: &str) -> bool {
    let s: String = s.chars().filter(|&c| c != '_').collect();
    let b = s.strip_prefix(['+', '-']).unwrap_or(&s).as_bytes();
    let digits = |b: &[u8], i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    let mut i = 0;
    if b.first() == Some(&b'.') {
        i = 1;
        if digits(b, &mut i) == 0 {
            return false;
        }
    } else {
        if digits(b, &mut i) == 0 {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(b, &mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(b, &mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// `<<` (the merge key) and `=` (YAML 1.1's value key): never written plain.
fn is_special_key(s: &str) -> bool {
    matches!(s, "<<" | "=")
}

/// Characters that cannot start a plain scalar (YAML indicators; `-`, `?`, `:` conservatively
/// even when followed by a non-space).
const INDICATOR_START: &[u8] = b"-?:#&*!|>'\"%@`";

/// True when `s` can be written as a plain scalar and still read back as the same string by
/// YAML 1.1 (Kubernetes) and YAML 1.2 readers, in block and flow context.
pub fn plain_safe(s: &str) -> bool {
    if is_null(s) || any_case_bool_word(s) || is_special_key(s) {
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
pub fn render_scalar(v: &Json) -> String {
    match v {
        Json::String(s) => render_str(s),
        Json::Null => "null".to_string(),
        Json::Bool(b) => b.to_string(),
        Json::Number(n) => n.to_string(),
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
        Ok(Value::Object(m)) if m.get("k").and_then(Value::as_str) == Some(s)
    )
}

/// YAML 1.1 timestamps (`2001-12-14`, `2001-12-14t21:59:43.10-05:00`) are not strings in Kubernetes.
pub fn looks_like_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 8 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && b[5].is_ascii_digit()
}

/// Renders a replacement for an existing scalar in the same style where that is faithful.
pub fn render_like(v: &Json, style: granit_parser::ScalarStyle) -> String {
    use granit_parser::ScalarStyle;
    match (v, style) {
        (Json::String(s), ScalarStyle::DoubleQuoted) => quote(s),
        (Json::String(s), ScalarStyle::SingleQuoted) if !s.contains(['\n', '\r']) => {
            format!("'{}'", s.replace('\'', "''"))
        }
        (Json::String(s), ScalarStyle::Plain) if plain_roundtrips(s) => s.clone(),
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
                &serde_json::Value::String("it's".into()),
                granit_parser::ScalarStyle::SingleQuoted
            ),
            "'it''s'"
        );
    }
}

#[cfg(test)]
mod table_tests {
    use super::*;
    use proptest::prelude::*;

    /// What the writers put out plain, the readers' table never reads as anything but that
    /// string (and where it leaves the scalar to serde-saphyr, serde-saphyr reads the string).
    fn written_plain_reads_back(s: &str) -> Result<(), TestCaseError> {
        if plain_safe(s) {
            let read = resolve_plain(s);
            prop_assert!(read.is_none() || read == Some(Plain::Str), "{:?}", s);
            let back = super::super::view::reference(&format!("k: {s}\n"));
            prop_assert_eq!(back, Ok(view!({ "k": s })), "{:?}", s);
        }
        Ok(())
    }

    #[test]
    fn one_table_for_reading_and_writing() {
        for s in [
            "tRUE", "yEs", "oFF", "N", "Null", "~", "<<", "=", "nginx", "0755", "1e3", ".5",
        ] {
            written_plain_reads_back(s).unwrap();
        }
        // Mixed-case YAML 1.1 words are strings to Kubernetes (go-yaml) but booleans to
        // YAML 1.1 readers that ignore case: they are written quoted.
        assert!(!plain_safe("tRUE") && !plain_safe("yEs") && !plain_safe("oFF"));
        assert_eq!(resolve_plain("tRUE"), Some(Plain::Str));
        assert_eq!(resolve_plain("oN"), Some(Plain::Str));
        for (s, b) in [
            ("Y", true),
            ("yes", true),
            ("Yes", true),
            ("YES", true),
            ("On", true),
        ] {
            assert_eq!(resolve_plain(s), Some(Plain::Other(Value::Bool(b))), "{s}");
        }
        for (s, b) in [
            ("n", false),
            ("NO", false),
            ("Off", false),
            ("FALSE", false),
        ] {
            assert_eq!(resolve_plain(s), Some(Plain::Other(Value::Bool(b))), "{s}");
        }
        assert!(is_null("~") && !is_null("nULL"));
    }

    proptest! {
        #[test]
        fn plain_safe_strings_read_as_strings(
            s in "[a-zA-Z0-9~=<._:/@+-]{1,8}|(y|n|yes|no|on|off|true|false|null)",
        ) {
            written_plain_reads_back(&s)?;
            let flipped: String = s
                .chars()
                .enumerate()
                .map(|(i, c)| if i % 2 == 0 { c.to_ascii_uppercase() } else { c })
                .collect();
            written_plain_reads_back(&flipped)?;
        }
    }
}
