//! The typed, read-only view of a document: what the Kubernetes API server would read.

use serde_json::{Map, Value};

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

/// Parses one document's text into a JSON value (`Value::Null` for an empty document).
///
/// Plain documents are read by the fast paths ([`super::fast`], which first tries the line
/// reader of `super::lines`); they agree with serde-saphyr on everything they accept, and
/// serde-saphyr reads the rest and reports every error.
pub fn parse(text: &str) -> Result<Value, String> {
    if let Some(v) = super::fast::parse(text) {
        return Ok(v);
    }
    reference(text)
}

/// Like [`parse`], leaving out the nodes at `prune` (see [`super::fast::parse_pruned`]) when
/// the fast path reads the document; returns whether anything was left out. A document the
/// fast path declines is read whole by serde-saphyr.
pub fn parse_pruned(text: &str, prune: &[&str]) -> Result<(Value, bool), String> {
    if let Some(r) = super::fast::parse_pruned(text, prune) {
        return Ok(r);
    }
    reference(text).map(|v| (v, false))
}

/// Like [`reference`], but a key repeated in one mapping is an error naming the key (for
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

/// serde-saphyr's reading of a document, without the fast path.
pub fn reference(text: &str) -> Result<Value, String> {
    read(text, options())
}

fn read(text: &str, options: serde_saphyr::Options) -> Result<Value, String> {
    serde_saphyr::from_str_with_options::<Option<Value>>(text, options)
        .map(|v| v.unwrap_or(Value::Null))
        .map_err(|e| {
            let m = one_line(&e.to_string());
            // The parser's budget (nodes, depth, aliases, merge keys) bounds what a document may
            // expand to: say so plainly instead of only "budget breached: Nodes { .. }".
            if m.contains("budget breached") {
                format!(
                    "document exceeds the parser's safety limits (at most 250000 nodes after \
alias and merge-key expansion, nesting depth 200); refusing to expand it: {m}"
                )
            } else {
                m
            }
        })
}

/// A parse error message about `text`, safe to show when `text` may hold a Secret: parser
/// messages quote the scalar they choke on (``non-finite float `59e81234` ``), which may be a
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

/// JSON Pointer lookups without allocating.
///
/// `serde_json::Value::pointer` allocates two strings per path segment (for `~1`/`~0`
/// unescaping); rules look up fixed paths such as `/metadata/annotations` on every object in
/// every pass, so that showed in profiles. [`ValueExt::ptr`] reads the same RFC 6901 pointers
/// and only unescapes segments that contain `~`.
pub trait ValueExt {
    /// The value at a JSON Pointer (`""` is the value itself), like `Value::pointer`.
    fn ptr(&self, pointer: &str) -> Option<&Value>;

    /// The value of a mapping's key, like `Value::get` with a `&str` (see [`get_key`]).
    fn key(&self, key: &str) -> Option<&Value>;
}

/// Mapping lookups without hashing.
pub trait MapExt {
    /// The value of `key`, like `Map::get` (see [`get_key`]).
    fn key(&self, key: &str) -> Option<&Value>;
}

impl MapExt for Map<String, Value> {
    fn key(&self, key: &str) -> Option<&Value> {
        get_key(self, key)
    }
}

/// `map.get(key)`: mappings of up to [`SMALL_MAP`] keys (a manifest's mappings nearly all
/// are) are searched in order, which is cheaper than hashing the key with the map's SipHash;
/// larger ones by hash. Rules look up fixed keys (`metadata`, `spec`, `containers`) on every
/// object in every pass.
pub fn get_key<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    if map.len() <= SMALL_MAP {
        map.iter().find(|(k, _)| k.as_str() == key).map(|(_, v)| v)
    } else {
        map.get(key)
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
                Value::Object(map) => get_key(map, token)?,
                Value::Array(list) => list.get(array_index(token)?)?,
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
            Value::Object(map) => get_key(map, key),
            _ => None,
        }
    }
}

/// Mappings up to this size are searched by comparing keys rather than by hash (a container
/// has about a dozen keys; comparing that many short keys costs less than one SipHash).
const SMALL_MAP: usize = 16;

/// An array index as RFC 6901 (and serde_json) accept it: digits, no sign, no leading zero.
fn array_index(token: &str) -> Option<usize> {
    if token.starts_with('+') || token.len() > 1 && token.starts_with('0') {
        return None;
    }
    token.parse().ok()
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
    use super::*;

    #[test]
    fn reads_like_kubernetes() {
        let v = parse("a: on\nb: yes\nc: 0755\nd: \"on\"\ne: 1e3\nf: ~\n").unwrap();
        assert_eq!(v["a"], Value::Bool(true));
        assert_eq!(v["b"], Value::Bool(true));
        assert_eq!(v["c"], serde_json::json!(493));
        assert_eq!(v["d"], Value::String("on".into()));
        assert_eq!(v["f"], Value::Null);
    }

    #[test]
    fn duplicate_keys_last_wins_like_kubernetes() {
        assert_eq!(parse("a: 1\na: 2\n").unwrap()["a"], serde_json::json!(2));
    }

    #[test]
    fn ptr_reads_like_pointer() {
        let v: Value = serde_json::json!({
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
    fn empty_is_null() {
        assert_eq!(parse("# nothing\n").unwrap(), Value::Null);
    }
}
