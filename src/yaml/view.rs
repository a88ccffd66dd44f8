//! The typed, read-only view of a document: what the Kubernetes API server would read.

use crate::yaml::{Map, Value};

/// Parse options matching Kubernetes' YAML 1.1 reading (octal `0755`, `yes`/`on` booleans),
/// duplicate keys resolved like Kubernetes (the last wins), and bounded alias expansion.
pub fn options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = 200;
    budget.max_documents = 1;
    let mut o = serde_saphyr::Options::default();
    o.budget = Some(budget);
    o.legacy_octal_numbers = true;
    o.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::LastWins;
    o.with_snippet = false;
    o
}

/// Parses one document's text into a typed view value (`Value::Null` for an empty document).
///
/// Plain documents are read by the fast paths ([`super::fast`], which first tries the line
/// reader of `super::lines`); they agree with serde-saphyr on everything they accept (debug
/// builds check every value they return, see `src/yaml/agree.rs`), and serde-saphyr reads the
/// rest and reports every error.
pub fn parse(text: &str) -> Result<Value, String> {
    if let Some(v) = super::fast::parse(text) {
        super::agree::fast_value(text, &v, &[], false);
        return Ok(v);
    }
    reference(text)
}

/// Like [`parse`], leaving out the nodes at `prune` (see [`super::fast::parse_pruned`]) when
/// the fast path reads the document; returns whether anything was left out. A document the
/// fast path declines is read whole by serde-saphyr.
pub fn parse_pruned(text: &str, prune: &[&str]) -> Result<(Value, bool), String> {
    if let Some(r) = super::fast::parse_pruned(text, prune) {
        super::agree::fast_value(text, &r.0, prune, r.1);
        return Ok(r);
    }
    reference(text).map(|v| (v, false))
}

/// Like [`reference()`], but a key repeated in one mapping is an error naming the key (for
/// files people write, such as the config file, where "the last wins" hides a mistake).
pub fn parse_unique_keys(text: &str) -> Result<Value, String> {
    let mut o = options();
    o.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::Error;
    match serde_saphyr::from_str_with_options::<Option<Value>>(text, o) {
        Ok(v) => Ok(v.unwrap_or(Value::Null)),
        Err(serde_saphyr::Error::DuplicateMappingKey { key, location }) => Err(format!(
            "duplicate key {} at line {}, column {}: a key may appear once in a mapping (keep \
             one; YAML readers disagree on which one wins)",
            key.map(|k| format!("`{k}`"))
                .unwrap_or_else(|| "(not a plain scalar)".into()),
            location.line(),
            location.column()
        )),
        // Any other error: the usual message (and never a silent success).
        Err(e) => Err(reference(text)
            .err()
            .unwrap_or_else(|| one_line(&e.to_string()))),
    }
}

/// The first key repeated in one mapping of `text`, as `` "key" (near line N of the
/// document) `` (the parser reports where it noticed the repetition), or `None`.
/// [`parse`] reads such a document like Kubernetes does (the last value wins); this says
/// which key, for a warning. Only documents the fast paths decline can repeat a key (pruned
/// subtrees included).
pub fn duplicate_key(text: &str) -> Option<String> {
    let mut o = options();
    o.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::Error;
    match serde_saphyr::from_str_with_options::<Option<Value>>(text, o) {
        Err(serde_saphyr::Error::DuplicateMappingKey { key, location }) => Some(format!(
            "{} (near line {} of the document)",
            key.map(|k| super::scalar::quote(&k))
                .unwrap_or_else(|| "(a key that is not a plain scalar)".into()),
            location.line()
        )),
        _ => None,
    }
}

/// How [`parse_noting_duplicates`] read a document.
#[derive(Debug, Clone, Default)]
pub struct Reading {
    /// Pruned paths were left out.
    pub partial: bool,
    /// A key some mapping repeats (see [`duplicate_key`]).
    pub duplicate_key: Option<String>,
    /// The fast paths read it: it holds no anchor, alias, tag or merge key.
    pub plain: bool,
}

/// [`parse`] (or [`parse_pruned`] with `prune`), also saying which key a mapping repeats
/// (see [`duplicate_key`]) and whether the fast paths read it.
pub fn parse_noting_duplicates(
    text: &str,
    prune: Option<&[&str]>,
) -> Result<(Value, Reading), String> {
    let fast = match prune {
        Some(p) => super::fast::parse_pruned(text, p),
        None => super::fast::parse(text).map(|v| (v, false)),
    };
    if let Some((v, partial)) = fast {
        // Also checks that no mapping repeats a key.
        super::agree::fast_value(text, &v, prune.unwrap_or(&[]), partial);
        return Ok((
            v,
            Reading {
                partial,
                duplicate_key: None,
                plain: true,
            },
        ));
    }
    let v = reference(text)?;
    Ok((
        v,
        Reading {
            partial: false,
            duplicate_key: duplicate_key(text),
            plain: false,
        },
    ))
}

/// serde-saphyr's reading of a document, without the fast path.
pub fn reference(text: &str) -> Result<Value, String> {
    read(text, options())
}

/// [`reference`], but a key repeated in one mapping is an error (for the cross-check of the
/// fast paths, which decline such documents).
pub(super) fn reference_unique_keys(text: &str) -> Result<Value, String> {
    let mut o = options();
    o.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::Error;
    read(text, o)
}

/// At most this many overflowing numbers are read as strings in one document (each costs a
/// parse of the document).
const MAX_OVERFLOW_RETRIES: usize = 64;

fn read(text: &str, mut options: serde_saphyr::Options) -> Result<Value, String> {
    // Without aliases a node takes at least a byte of text: a document may have as many nodes
    // as bytes (a ConfigMap of 1 MiB holds up to ~170,000 keys), and the budget still bounds
    // what aliases expand to, in proportion to the input.
    let max_nodes = options.budget.as_mut().map_or(0, |b| {
        b.max_nodes = b.max_nodes.max(text.len());
        b.max_nodes
    });
    let mut result = serde_saphyr::from_str_with_options::<Option<Value>>(text, options.clone());
    // go-yaml (and so Kubernetes and Helm's `fromYaml`) reads a plain number that overflows a
    // float (`8e4561`, `1e999`) as a string; serde-saphyr refuses it as a non-finite float.
    // Such a scalar is quoted in a copy of the text and the copy read again: the same string
    // go-yaml reads, while the document's own bytes stay as they are.
    let mut copy: Option<String> = None;
    for _ in 0..MAX_OVERFLOW_RETRIES {
        let Err(serde_saphyr::Error::NonFiniteFloat { value, location }) = &result else {
            break;
        };
        let current = copy.as_deref().unwrap_or(text);
        let Some(quoted) = quote_overflow(current, value, location.line(), location.column())
        else {
            break;
        };
        result = serde_saphyr::from_str_with_options::<Option<Value>>(&quoted, options.clone());
        copy = Some(quoted);
    }
    let as_go_yaml = |v: Option<Value>| {
        go_yaml_booleans(
            copy.as_deref().unwrap_or(text),
            v.unwrap_or_default(),
            options,
        )
    };
    result.map(as_go_yaml).map_err(|e| {
        let m = one_line(&e.to_string());
        // The parser's budget (nodes, depth, aliases, merge keys) bounds what a document may
        // expand to: say so plainly instead of only "budget breached: Nodes { .. }".
        if m.contains("budget breached") {
            format!(
                "document exceeds the parser's safety limits (at most {max_nodes} nodes after \
alias and merge-key expansion, nesting depth 200); refusing to expand it: {m}"
            )
        } else if let Some(at) = m.strip_prefix(NULL_KEY) {
            // The view's keys are strings; serde's words for a null key name Rust types.
            // Kubernetes (sigs.k8s.io/yaml) refuses a null key too: say that.
            format!(
                "a mapping key is null (`~`, `null` or nothing before the colon){at}; \
Kubernetes accepts only string, number and boolean keys"
            )
        } else {
            m
        }
    })
}

/// `value` (serde-saphyr's reading of `text`) with the booleans go-yaml reads as strings made
/// strings again. serde-saphyr reads the YAML 1.1 words in any letter case (`tRUE`, `oN`);
/// go-yaml, and so Kubernetes, only all-lower, capitalized and all-upper (`Y`, `Yes`, `YES`).
/// A label `canary: oN` is the string `oN` to the API server: read as `true`, a selector
/// written from it would select nothing. When the text holds such a word, it is read again
/// with `strict_booleans` (which keeps every YAML 1.1 word but the `true`/`false` spellings
/// a string); where that reading has a string and the first a boolean, the node is a plain
/// YAML 1.1 word, and go-yaml's table says which it is.
fn go_yaml_booleans(text: &str, value: Value, mut options: serde_saphyr::Options) -> Value {
    if !super::scalar::has_mixed_case_bool_word(text) {
        return value;
    }
    options.strict_booleans = true;
    match serde_saphyr::from_str_with_options::<Option<Value>>(text, options) {
        Ok(Some(strict)) => with_strings_of(value, &strict),
        // (Both readings take the same text with the same budget: a refusal here is not
        // expected, and the first reading stands.)
        _ => value,
    }
}

/// `loose` with the booleans that `strict` reads as a string other than a go-yaml boolean
/// spelling made that string (the two readings have the same shape).
fn with_strings_of(loose: Value, strict: &Value) -> Value {
    match (loose, strict) {
        (Value::Bool(b), Value::String(s)) => match super::scalar::yaml11_bool(s) {
            Some(_) => Value::Bool(b),
            None => Value::String(s.clone()),
        },
        (Value::Array(items), Value::Array(theirs)) if items.len() == theirs.len() => Value::Array(
            items
                .into_vec()
                .into_iter()
                .zip(theirs.iter())
                .map(|(v, t)| with_strings_of(v, t))
                .collect(),
        ),
        (Value::Object(m), Value::Object(theirs)) if m.len() == theirs.len() => Value::Object(
            m.into_iter()
                .zip(theirs.values())
                .map(|((k, v), t)| (k, with_strings_of(v, t)))
                .collect(),
        ),
        (v, _) => v,
    }
}

/// serde's message for a null where the view wants a mapping key (a string).
const NULL_KEY: &str = "cannot deserialize null into string; use Option<String>";

/// `text` with the plain scalar `raw` that starts at `line`:`column` (1-based; the column
/// counted in characters) double-quoted, when `raw` is a float-shaped number (see
/// [`super::scalar::go_yaml_float_shape`]) standing alone there; `None` otherwise.
fn quote_overflow(text: &str, raw: &str, line: u64, column: u64) -> Option<String> {
    if raw.is_empty() || !super::scalar::go_yaml_float_shape(raw) {
        return None;
    }
    let line_start = if line <= 1 {
        0
    } else {
        let mut seen = 1;
        text.match_indices('\n')
            .find(|_| {
                seen += 1;
                seen == line
            })
            .map(|(i, _)| i + 1)?
    };
    let rest = &text[line_start..];
    let line_text = &rest[..rest.find('\n').unwrap_or(rest.len())];
    let col = usize::try_from(column.checked_sub(1)?).ok()?;
    let at = line_text
        .char_indices()
        .nth(col)
        .map(|(i, _)| i)
        .filter(|&i| line_text[i..].starts_with(raw))
        .or_else(|| line_text.find(raw))?;
    let before = line_text[..at].chars().next_back();
    let after = line_text[at + raw.len()..].chars().next();
    let boundary_before =
        before.is_none_or(|c| matches!(c, ' ' | '\t' | '[' | '{' | ',' | '-' | ':' | '?'));
    let boundary_after =
        after.is_none_or(|c| matches!(c, ' ' | '\t' | '\r' | ']' | '}' | ',' | ':' | '#'));
    if !boundary_before || !boundary_after {
        return None;
    }
    let start = line_start + at;
    Some(format!(
        "{}\"{raw}\"{}",
        &text[..start],
        &text[start + raw.len()..]
    ))
}

/// A parse error message about `text`, safe to show when `text` may hold a Secret: parser
/// messages quote the scalar they choke on (``non-finite float `-.inf` ``), which may be a
/// Secret's value. When `text` mentions `Secret` at all (a Secret, a List holding one, a
/// ResourceList), every quoted span (`` `…` ``, `"…"`, `'…'`) is replaced by `<redacted>`;
/// line and column stay.
pub fn redact_parse_message(text: &str, message: String) -> String {
    if !text.contains("Secret") {
        return message;
    }
    let mut out = String::with_capacity(message.len());
    let mut rest = message.as_str();
    while let Some(i) = rest.find(['`', '"', '\'']) {
        let q = rest.as_bytes()[i] as char;
        // An apostrophe inside a word (`can't`) does not open a quote.
        let opens = q != '\''
            || rest[..i]
                .chars()
                .next_back()
                .is_none_or(|c| !c.is_alphanumeric());
        match rest[i + 1..].find(q) {
            Some(j) if opens => {
                out.push_str(&rest[..i]);
                out.push(q);
                out.push_str("<redacted>");
                out.push(q);
                rest = &rest[i + 1 + j + 1..];
            }
            _ => {
                out.push_str(&rest[..=i]);
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// An integer field read the way Kubernetes reads it: sigs.k8s.io/yaml decodes a YAML number
/// with go-yaml (YAML 1.1: `0.0`, `1e3` are floats), writes it as JSON (`0`, `1000`) and
/// the API server decodes that into the field's integer type. So an integral float is that
/// integer (`runAsUser: 0.0` is root, `replicas: 1e3` is 1000); a fraction or a float
/// beyond the 64-bit range is no integer (the API server rejects the object). Every rule
/// that reads an integer field reads it through this.
pub fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => number_as_int(n),
        _ => None,
    }
}

/// [`as_int`] of a number.
pub fn number_as_int(n: &serde_json::Number) -> Option<i64> {
    if let Some(i) = n.as_i64() {
        return Some(i);
    }
    let f = n.as_f64()?;
    // 2^63 is exactly representable; every integral f64 in [-2^63, 2^63) fits an i64.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    (f.is_finite() && f.fract() == 0.0 && (-LIMIT..LIMIT).contains(&f)).then_some(f as i64)
}

/// JSON Pointer lookups without allocating.
///
/// Rules look up fixed paths such as `/metadata/annotations` on every object in every pass;
/// [`ValueExt::ptr`] reads RFC 6901 pointers and only unescapes segments that contain `~`
/// (`serde_json::Value::pointer` allocated two strings per segment, which showed in
/// profiles). [`Value::pointer`] is this lookup.
pub trait ValueExt {
    /// The value at a JSON Pointer (`""` is the value itself), like `Value::pointer`.
    fn ptr(&self, pointer: &str) -> Option<&Value>;

    /// The value of a mapping's key, like `Value::get` with a `&str`.
    fn key(&self, key: &str) -> Option<&Value>;
}

/// Mapping lookups by key.
pub trait MapExt {
    /// The value of `key`, like `Map::get`.
    fn key(&self, key: &str) -> Option<&Value>;
}

impl MapExt for Map {
    fn key(&self, key: &str) -> Option<&Value> {
        self.get(key)
    }
}

impl ValueExt for Value {
    fn ptr(&self, pointer: &str) -> Option<&Value> {
        if pointer.is_empty() {
            return Some(self);
        }
        let rest = pointer.strip_prefix('/')?;
        let mut target = self;
        // One pass over the pointer's bytes: segments end at `/`; only a segment holding `~`
        // is unescaped.
        let b = rest.as_bytes();
        let mut start = 0;
        loop {
            let mut end = start;
            let mut tilde = false;
            while end < b.len() && b[end] != b'/' {
                tilde |= b[end] == b'~';
                end += 1;
            }
            let token = &rest[start..end];
            let unescaped;
            let token = if tilde {
                unescaped = token.replace("~1", "/").replace("~0", "~");
                unescaped.as_str()
            } else {
                token
            };
            target = match target {
                Value::Object(map) => map.get(token)?,
                Value::Array(list) => list.get(super::value::array_index(token)?)?,
                _ => return None,
            };
            if end == b.len() {
                break;
            }
            start = end + 1;
        }
        Some(target)
    }

    fn key(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(map) => map.get(key),
            _ => None,
        }
    }
}

fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::super::scalar::go_yaml_float_shape;
    use super::*;

    #[test]
    fn reads_like_kubernetes() {
        let v = parse("a: on\nb: yes\nc: 0755\nd: \"on\"\ne: 1e3\nf: ~\n").unwrap();
        assert_eq!(v["a"], Value::Bool(true));
        assert_eq!(v["b"], Value::Bool(true));
        assert_eq!(v["c"], view!(493));
        assert_eq!(v["d"], Value::String("on".into()));
        assert_eq!(v["f"], Value::Null);
    }

    /// go-yaml's YAML 1.1 booleans are all-lower, capitalized or all-upper: a mixed-case word
    /// is a string, on the fast paths and in documents only serde-saphyr reads (an anchor
    /// sends this one there), in block and flow collections, as values and list items.
    #[test]
    fn mixed_case_boolean_words_are_strings_like_kubernetes_reads_them() {
        let body =
            "a: oN\nb: [tRUE, yes, Off, nO]\nc: {d: yEs, e: \"x\"}\nf: Y\ng: FALSE\nh: True\n";
        for text in [body.to_string(), format!("anchored: &x 1\n{body}")] {
            let v = parse(&text).unwrap();
            let at = &text;
            assert_eq!(v["a"], "oN", "{at}");
            assert_eq!(v["b"], view!(["tRUE", true, false, "nO"]), "{at}");
            assert_eq!(v["c"]["d"], "yEs", "{at}");
            assert_eq!(v["c"]["e"], "x", "{at}");
            assert_eq!(v["f"], Value::Bool(true), "{at}");
            assert_eq!(v["g"], Value::Bool(false), "{at}");
            assert_eq!(v["h"], Value::Bool(true), "{at}");
        }
        assert!(super::super::fast::parse("anchored: &x 1\n").is_none());
    }

    #[test]
    fn duplicate_keys_last_wins_like_kubernetes() {
        assert_eq!(parse("a: 1\na: 2\n").unwrap()["a"], view!(2));
    }

    #[test]
    fn ptr_reads_like_pointer() {
        let v: Value = view!({
            "a": {"b/c": [1, {"d~e": true}], "": 2, "01": 3},
        });
        for p in [
            "",
            "/a",
            "/a/b~1c",
            "/a/b~1c/0",
            "/a/b~1c/1/d~0e",
            "/a/",
            "/a/01",
            "/a/b~1c/01",
            "/a/b~1c/+1",
            "/a/b~1c/9",
            "/x",
            "a",
            "/a/b~1c/1/d~0e/f",
        ] {
            assert_eq!(v.ptr(p), v.pointer(p), "{p:?}");
        }
    }

    #[test]
    fn integral_floats_are_integers_like_kubernetes_reads_them() {
        let v =
            parse("a: 0.0\nb: 1e3\nc: 1.5\nd: -2.0\ne: 7\nf: \"7\"\ng: 1e19\nh: -0.0\n").unwrap();
        assert_eq!(as_int(&v["a"]), Some(0));
        assert_eq!(as_int(&v["b"]), Some(1000));
        assert_eq!(as_int(&v["c"]), None);
        assert_eq!(as_int(&v["d"]), Some(-2));
        assert_eq!(as_int(&v["e"]), Some(7));
        assert_eq!(as_int(&v["f"]), None);
        assert_eq!(as_int(&v["g"]), None);
        assert_eq!(as_int(&v["h"]), Some(0));
    }

    #[test]
    fn overflowing_numbers_are_strings_like_go_yaml_reads_them() {
        let v = parse(
            "a: 8e4561\nb: [1e999, -2E+400]\nc: {d: 9.5e9999}\ne: 1e3\n8e999: k\nf: \"x\" # 1e999\n",
        )
        .unwrap();
        assert_eq!(v["a"], "8e4561");
        assert_eq!(v["b"], view!(["1e999", "-2E+400"]));
        assert_eq!(v["c"]["d"], "9.5e9999");
        assert_eq!(v["e"], view!(1000.0));
        assert_eq!(v["8e999"], "k");
        assert_eq!(v["f"], "x");
        // Non-finite spellings are still errors (go-yaml reads them as floats JSON cannot hold).
        for bad in ["a: .inf\n", "a: -.Inf\n", "a: .nan\n"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(go_yaml_float_shape("1_0e999"));
        assert!(go_yaml_float_shape(".5e999"));
        assert!(!go_yaml_float_shape(".inf"));
        assert!(!go_yaml_float_shape("1e"));
        assert!(!go_yaml_float_shape("0x1p999"));
    }

    #[test]
    fn duplicate_keys_are_named() {
        let (v, r) = parse_noting_duplicates("a: 1\nb:\n  c: 1\n  c: 2\n", None).unwrap();
        let dup = r.duplicate_key;
        assert_eq!(v["b"]["c"], view!(2));
        assert_eq!(dup.as_deref(), Some("\"c\" (near line 4 of the document)"));
        let (_, r) = parse_noting_duplicates("a: 1\n", None).unwrap();
        assert_eq!(r.duplicate_key, None);
        assert!(r.plain);
        assert!(
            !parse_noting_duplicates("a: &x 1\nb: *x\n", None)
                .unwrap()
                .1
                .plain
        );
    }

    #[test]
    fn duplicate_keys_in_pruned_paths_are_named() {
        let crd = "kind: CustomResourceDefinition\nspec:\n  versions:\n  - name: v1\n    \
                   schema:\n      type: object\n      type: array\n";
        let prune: &[&str] = &["spec", "versions", "*", "schema"];
        let (v, r) = parse_noting_duplicates(crd, Some(prune)).unwrap();
        assert_eq!(
            r.duplicate_key.as_deref(),
            Some("\"type\" (near line 7 of the document)")
        );
        assert!(!r.partial);
        assert_eq!(v["spec"]["versions"][0]["schema"]["type"], "array");
        let (v, r) =
            parse_noting_duplicates(&crd.replace("      type: array\n", ""), Some(prune)).unwrap();
        assert!(r.partial && r.duplicate_key.is_none());
        assert_eq!(v["spec"]["versions"][0].get("schema"), None);
    }

    #[test]
    fn empty_is_null() {
        assert_eq!(parse("# nothing\n").unwrap(), Value::Null);
    }
}
