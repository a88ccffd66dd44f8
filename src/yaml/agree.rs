//! Debug and test builds: the fast readers and the span trees agree with serde-saphyr.
//!
//! The typed view comes from the fast readers ([`super::fast`], [`super::lines`]) for nearly
//! every document, and the patcher edits span trees ([`super::tree`]); serde-saphyr (with the
//! project's YAML 1.1 reading, [`super::view::reference`]) is the reference both must match.
//! In builds with `debug_assertions` every value a fast reader returns and every span tree
//! built is compared with serde-saphyr's reading of the same text (documents up to
//! [`MAX_CHECKED`]), and a disagreement panics naming the path and both readings (scalars
//! truncated; in a document that mentions `Secret`, only their kind and length). So every
//! document any test reads, in the library and through the debug binary, is an agreement
//! test. Release builds skip it (`cfg!(debug_assertions)` is false there).
//!
//! The comparison resolves scalars with the same table the readers use
//! ([`super::scalar::resolve_plain`]): a pruned reading is compared with serde-saphyr's value
//! with the same paths removed, a repeated key (which the fast readers decline) is an error,
//! and a span tree is only compared where its scalars resolve for sure (trees also hold
//! aliases, tags and documents the typed view refuses, such as `.inf`; those are skipped).

use crate::yaml::Value;
use granit_parser::ScalarStyle;

use super::scalar::{resolve_plain, Plain};
use super::tree::{Node, NodeKind};

/// Longest document the cross-check reads (see [`enabled`]). Comparing costs a serde-saphyr
/// reading per document read or patched: with every document compared the corpus tests took
/// twice the CPU time of the debug build (more than that on the chart holding a 1.4 MB CRD);
/// up to 64 KiB, 1.8 times. That leaves out 2 of the 700 shared-corpus documents (CRDs of
/// 400 KB and 1.4 MB, whose unpruned readings `tests/corpus_e2e.rs` compares).
const MAX_CHECKED: usize = 64 << 10;

/// Whether the cross-check runs for `text`: debug builds, documents up to [`MAX_CHECKED`].
fn enabled(text: &str) -> bool {
    cfg!(debug_assertions) && text.len() <= MAX_CHECKED
}

/// Checks a value a fast reader returned for `text`: serde-saphyr reads `text` without a
/// repeated key, and its value, with the nodes at `prune` removed (see
/// [`super::fast::parse_pruned`]), is `fast`; something was removed exactly when `partial`.
pub(super) fn fast_value(text: &str, fast: &Value, prune: &[&str], partial: bool) {
    if !enabled(text) {
        return;
    }
    let mut reference = match super::view::reference_unique_keys(text) {
        Ok(v) => v,
        Err(e) => fail(
            text,
            "serde-saphyr rejects a document the fast readers read",
            "",
            "a value",
            &super::view::redact_parse_message(text, e),
        ),
    };
    let removed = !prune.is_empty() && remove_at(&mut reference, prune);
    if removed != partial {
        fail(
            text,
            "the pruned paths",
            &prune.join("/"),
            if partial { "left out" } else { "kept" },
            if removed { "present" } else { "absent" },
        );
    }
    let secret = text.contains("Secret");
    let mut path = String::new();
    if let Some((a, b)) = first_difference(fast, &reference, &mut path, secret) {
        fail(text, "the typed view", &path, &a, &b);
    }
}

/// Checks a span tree built from `text` against serde-saphyr's reading (skipped when
/// serde-saphyr refuses the text, and for trees holding aliases, tags, merge keys or keys
/// that are not strings).
pub(super) fn span_tree(text: &str, root: Option<&Node>) {
    if !enabled(text) {
        return;
    }
    // Deeper trees than the fast readers take are left out (serde-saphyr's recursion would
    // need more stack than a test thread has in a debug build).
    if root.is_some_and(|n| too_deep(n, 0)) {
        return;
    }
    let Ok(reference) = super::view::reference(text) else {
        return;
    };
    let secret = text.contains("Secret");
    let mut path = String::new();
    let diff = match root {
        None => (!reference.is_null()).then(|| {
            (
                "no node".to_string(),
                describe(&reference, secret).to_string(),
            )
        }),
        Some(n) => match tree_difference(text, n, &reference, &mut path, secret) {
            Ok(d) => d,
            Err(Skip) => return,
        },
    };
    if let Some((a, b)) = diff {
        fail(text, "the span tree", &path, &a, &b);
    }
}

/// Deepest span tree compared (the fast readers' limit).
const MAX_DEPTH: usize = 100;

/// True when `n` nests deeper than [`MAX_DEPTH`] below `depth`.
fn too_deep(n: &Node, depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return true;
    }
    match &n.kind {
        NodeKind::Map { entries, .. } => entries.iter().any(|(_, v)| too_deep(v, depth + 1)),
        NodeKind::Seq { items, .. } => items.iter().any(|v| too_deep(v, depth + 1)),
        _ => false,
    }
}

/// Removes the nodes at `prune` (mapping keys, `a|b` for either; `*` for every sequence item)
/// from `v`;
/// whether anything was removed.
fn remove_at(v: &mut Value, prune: &[&str]) -> bool {
    let Some((step, rest)) = prune.split_first() else {
        return false;
    };
    match v {
        Value::Object(m) => {
            let mut any = false;
            for key in step.split('|') {
                any |= if rest.is_empty() {
                    m.shift_remove(key).is_some()
                } else {
                    m.get_mut(key).is_some_and(|c| remove_at(c, rest))
                };
            }
            any
        }
        Value::Array(items) if *step == "*" && !rest.is_empty() => {
            let mut any = false;
            for item in items {
                any |= remove_at(item, rest);
            }
            any
        }
        _ => false,
    }
}

/// Appends a mapping key to a JSON Pointer.
fn push_key(path: &mut String, k: &str) {
    path.push('/');
    path.push_str(&k.replace('~', "~0").replace('/', "~1"));
}

/// The first place where `a` and `b` differ (its JSON Pointer left in `path`), described.
fn first_difference(
    a: &Value,
    b: &Value,
    path: &mut String,
    secret: bool,
) -> Option<(String, String)> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                let len = path.len();
                push_key(path, k);
                let d = match y.get(k) {
                    None => Some((describe(v, secret), "no such key".to_string())),
                    Some(w) => first_difference(v, w, path, secret),
                };
                if d.is_some() {
                    return d;
                }
                path.truncate(len);
            }
            y.keys().find(|k| !x.contains_key(k)).map(|k| {
                push_key(path, k);
                ("no such key".to_string(), describe(&y[k], secret))
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            x.iter().zip(y).enumerate().find_map(|(i, (v, w))| {
                let len = path.len();
                path.push_str(&format!("/{i}"));
                let d = first_difference(v, w, path, secret);
                if d.is_none() {
                    path.truncate(len);
                }
                d
            })
        }
        _ if a == b => None,
        _ => Some((describe(a, secret), describe(b, secret))),
    }
}

/// The tree holds something the comparison does not resolve.
struct Skip;

/// Like [`first_difference`], for a span tree node of `text` and serde-saphyr's value.
fn tree_difference(
    text: &str,
    n: &Node,
    v: &Value,
    path: &mut String,
    secret: bool,
) -> Result<Option<(String, String)>, Skip> {
    if n.decorated() {
        return Err(Skip);
    }
    let differs = |ours: String| Ok(Some((ours, describe(v, secret))));
    match &n.kind {
        NodeKind::Alias => Err(Skip),
        NodeKind::Scalar { style, .. } => {
            let value = n.scalar(text).ok_or(Skip)?;
            let ok = match (style, resolve_plain(value)) {
                (ScalarStyle::Plain, Some(Plain::Other(x))) => *v == x,
                // A plain scalar the table is not sure of: serde-saphyr decides; a string
                // reading must still be the scalar's text.
                (ScalarStyle::Plain, None) => v.as_str().is_none_or(|s| s == value),
                _ => v.as_str() == Some(value),
            };
            if ok {
                Ok(None)
            } else {
                differs(describe(&Value::String(value.into()), secret))
            }
        }
        NodeKind::Seq { items, .. } => {
            let Some(list) = v.as_array().filter(|l| l.len() == items.len()) else {
                return differs(format!("a sequence of {} items", items.len()));
            };
            for (i, (item, w)) in items.iter().zip(list).enumerate() {
                let len = path.len();
                path.push_str(&format!("/{i}"));
                if let Some(d) = tree_difference(text, item, w, path, secret)? {
                    return Ok(Some(d));
                }
                path.truncate(len);
            }
            Ok(None)
        }
        NodeKind::Map { entries, .. } => {
            // Repeated keys: the last one wins, as for serde-saphyr and Kubernetes.
            let mut keys: Vec<(&str, &Node)> = Vec::with_capacity(entries.len());
            for (k, val) in entries {
                let (NodeKind::Scalar { style, .. }, Some(key)) = (&k.kind, k.scalar(text)) else {
                    return Err(Skip);
                };
                if k.decorated()
                    || *style == ScalarStyle::Plain
                        && (key == "<<" || resolve_plain(key) != Some(Plain::Str))
                {
                    return Err(Skip);
                }
                match keys.iter_mut().find(|(seen, _)| *seen == key) {
                    Some(slot) => slot.1 = val,
                    None => keys.push((key, val)),
                }
            }
            let Some(m) = v.as_object() else {
                return differs(format!("a mapping of {} keys", keys.len()));
            };
            for (k, val) in &keys {
                let len = path.len();
                push_key(path, k);
                let Some(w) = m.get(k) else {
                    return Ok(Some((describe_node(text, val), "no such key".to_string())));
                };
                if let Some(d) = tree_difference(text, val, w, path, secret)? {
                    return Ok(Some(d));
                }
                path.truncate(len);
            }
            if let Some(k) = m.keys().find(|k| !keys.iter().any(|(ours, _)| ours == k)) {
                push_key(path, k);
                return Ok(Some(("no such key".to_string(), describe(&m[k], secret))));
            }
            Ok(None)
        }
    }
}

/// A node's shape, for a message.
fn describe_node(text: &str, n: &Node) -> String {
    match &n.kind {
        NodeKind::Scalar { .. } => format!(
            "a scalar of {} chars",
            n.scalar(text).unwrap_or_default().chars().count()
        ),
        NodeKind::Map { entries, .. } => format!("a mapping of {} keys", entries.len()),
        NodeKind::Seq { items, .. } => format!("a sequence of {} items", items.len()),
        NodeKind::Alias => "an alias".to_string(),
    }
}

/// Longest scalar shown in a message.
const SHOWN: usize = 40;

/// A value for a message: scalars as JSON, truncated to [`SHOWN`] characters (in a document
/// that mentions `Secret`, only the kind and length); collections by size.
fn describe(v: &Value, secret: bool) -> String {
    match v {
        Value::Object(m) => format!("a mapping of {} keys", m.len()),
        Value::Array(l) => format!("a sequence of {} items", l.len()),
        Value::String(s) if secret => format!("a string of {} chars", s.chars().count()),
        Value::Number(_) | Value::Bool(_) if secret => {
            format!("a {}", if v.is_boolean() { "boolean" } else { "number" })
        }
        other => {
            let s = other.to_string();
            if s.chars().count() > SHOWN {
                format!("{}…", s.chars().take(SHOWN).collect::<String>())
            } else {
                s
            }
        }
    }
}

/// Panics with the disagreement: what, where, both readings (ours: the fast readers' value or
/// the span tree) and the document's first lines
/// (in a document that mentions `Secret`, only up to each line's first `: `).
fn fail(text: &str, what: &str, path: &str, ours: &str, reference: &str) -> ! {
    let secret = text.contains("Secret");
    let head: Vec<String> = text
        .lines()
        .take(4)
        .map(|l| {
            let l = match l.find(": ") {
                Some(i) if secret && !l.starts_with("kind:") && !l.starts_with("apiVersion:") => {
                    &l[..i + 1]
                }
                _ => l,
            };
            l.chars().take(100).collect()
        })
        .collect();
    panic!(
        "YAML readers disagree on {what} at {path:?}: ours reads {ours}, \
         serde-saphyr {reference}. The document begins:\n{}",
        head.join("\n")
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_are_found_and_described() {
        let a = view!({"a": {"b": [1, "x"]}, "c": true});
        let mut b = a.clone();
        let mut path = String::new();
        assert_eq!(first_difference(&a, &b, &mut path, false), None);
        b["a"]["b"][1] = Value::from("y".repeat(60));
        let d = first_difference(&a, &b, &mut path, false).unwrap();
        assert_eq!(path, "/a/b/1");
        assert_eq!(d.0, "\"x\"");
        assert_eq!(d.1.chars().count(), SHOWN + 1);
        path.clear();
        let d = first_difference(&a, &b, &mut path, true).unwrap();
        assert_eq!(
            d,
            ("a string of 1 chars".into(), "a string of 60 chars".into())
        );
        let mut c = a.clone();
        c.as_object_mut().unwrap().insert("d/e", Value::Null);
        path.clear();
        assert_eq!(
            first_difference(&a, &c, &mut path, false),
            Some(("no such key".into(), "null".into()))
        );
        assert_eq!(path, "/d~1e");
    }

    #[test]
    fn pruned_paths_are_removed() {
        let mut v = view!({"spec": {"versions": [{"schema": 1, "n": 1}, {"n": 2}]}});
        assert!(remove_at(&mut v, &["spec", "versions", "*", "schema"]));
        assert_eq!(v, view!({"spec": {"versions": [{"n": 1}, {"n": 2}]}}));
        assert!(!remove_at(&mut v, &["spec", "versions", "*", "schema"]));
    }

    #[test]
    #[should_panic(expected = "YAML readers disagree on the typed view at \"/a\"")]
    fn a_disagreement_panics() {
        fast_value("a: 1\n", &view!({"a": 2}), &[], false);
    }

    #[test]
    #[should_panic(expected = "ours reads a string of 1 chars")]
    fn secret_values_are_not_shown() {
        let text = "kind: Secret\nstringData:\n  password: x\n";
        fast_value(
            text,
            &view!({"kind": "Secret", "stringData": {"password": "y"}}),
            &[],
            false,
        );
    }

    #[test]
    fn span_trees_are_compared() {
        let text = "a: [1, on, '2']\nb: |\n  x\nc: 0755\nd: 1e3\n";
        let tree = super::super::tree::build(text).unwrap();
        span_tree(text, tree.as_ref());
        let mut path = String::new();
        let reference = super::super::view::reference(text).unwrap();
        let mut wrong = reference.clone();
        wrong["b"] = Value::String("x".into());
        assert_eq!(
            tree_difference(text, tree.as_ref().unwrap(), &wrong, &mut path, false)
                .ok()
                .flatten()
                .map(|d| d.0),
            Some("\"x\\n\"".to_string())
        );
        assert_eq!(path, "/b");
        // Aliases are not resolved here.
        let text = "a: &x 1\nb: *x\n";
        let tree = super::super::tree::build(text).unwrap().unwrap();
        let reference = super::super::view::reference(text).unwrap();
        let mut path = String::new();
        assert!(tree_difference(text, &tree, &reference, &mut path, false).is_err());
    }
}
