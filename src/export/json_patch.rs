//! RFC 6902 JSON Patch: the operations that turn one JSON value into another.
//!
//! Used by `chart-harden export flux` to express each changed object as a kustomize
//! JSON6902 patch. The diff is structural: objects key by key, arrays index by index
//! (common prefix of indexes recursed into, then removals from the end, highest index
//! first, then appends), anything else replaced whole. Applying the ops in order to `a`
//! gives `b` exactly (see the tests, which apply them with an independent applier).

use serde_json::{json, Map, Value};

/// Escapes one reference token (RFC 6901): `~` → `~0`, `/` → `~1`.
pub fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// The JSON Patch operations turning `a` into `b` (empty when equal).
pub fn diff(a: &Value, b: &Value) -> Vec<Value> {
    let mut ops = Vec::new();
    diff_at(a, b, "", &mut ops);
    ops
}

fn diff_at(a: &Value, b: &Value, path: &str, ops: &mut Vec<Value>) {
    if a == b {
        return;
    }
    match (a, b) {
        (Value::Object(ma), Value::Object(mb)) => diff_objects(ma, mb, path, ops),
        (Value::Array(va), Value::Array(vb)) => {
            let common = va.len().min(vb.len());
            for i in 0..common {
                diff_at(&va[i], &vb[i], &format!("{path}/{i}"), ops);
            }
            for i in (common..va.len()).rev() {
                ops.push(json!({"op": "remove", "path": format!("{path}/{i}")}));
            }
            for (i, v) in vb.iter().enumerate().skip(common) {
                ops.push(json!({"op": "add", "path": format!("{path}/{i}"), "value": v}));
            }
        }
        _ => ops.push(json!({"op": "replace", "path": path, "value": b})),
    }
}

fn diff_objects(
    ma: &Map<String, Value>,
    mb: &Map<String, Value>,
    path: &str,
    ops: &mut Vec<Value>,
) {
    for k in ma.keys() {
        if !mb.contains_key(k) {
            ops.push(json!({"op": "remove", "path": format!("{path}/{}", escape(k))}));
        }
    }
    for (k, vb) in mb {
        let p = format!("{path}/{}", escape(k));
        match ma.get(k) {
            Some(va) => diff_at(va, vb, &p, ops),
            None => ops.push(json!({"op": "add", "path": p, "value": vb})),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unescape(t: &str) -> String {
        t.replace("~1", "/").replace("~0", "~")
    }

    /// An independent RFC 6902 applier (add/remove/replace only).
    fn apply(doc: &mut Value, ops: &[Value]) {
        for op in ops {
            let kind = op["op"].as_str().unwrap();
            let path = op["path"].as_str().unwrap();
            if path.is_empty() {
                assert_eq!(kind, "replace");
                *doc = op["value"].clone();
                continue;
            }
            let (parent, last) = path.rsplit_once('/').unwrap();
            let last = unescape(last);
            let target = doc.pointer_mut(parent).expect("parent exists");
            match (kind, target) {
                ("add", Value::Object(m)) | ("replace", Value::Object(m)) => {
                    if kind == "replace" {
                        assert!(m.contains_key(&last), "replace of a missing key {path}");
                    }
                    m.insert(last, op["value"].clone());
                }
                ("remove", Value::Object(m)) => {
                    assert!(m.remove(&last).is_some(), "remove of a missing key {path}");
                }
                ("add", Value::Array(v)) => {
                    let i: usize = last.parse().unwrap();
                    assert!(i <= v.len(), "add past the end at {path}");
                    v.insert(i, op["value"].clone());
                }
                ("replace", Value::Array(v)) => {
                    let i: usize = last.parse().unwrap();
                    v[i] = op["value"].clone();
                }
                ("remove", Value::Array(v)) => {
                    let i: usize = last.parse().unwrap();
                    assert!(i < v.len(), "remove past the end at {path}");
                    v.remove(i);
                }
                (k, t) => panic!("cannot {k} at {path} in {t}"),
            }
        }
    }

    fn roundtrip(a: Value, b: Value) -> Vec<Value> {
        let ops = diff(&a, &b);
        let mut x = a.clone();
        apply(&mut x, &ops);
        assert_eq!(x, b, "ops {ops:?}");
        ops
    }

    #[test]
    fn equal_values_give_no_ops() {
        assert!(roundtrip(json!({"a": [1, {"b": 2}]}), json!({"a": [1, {"b": 2}]})).is_empty());
    }

    #[test]
    fn keys_with_slash_and_tilde_are_escaped() {
        let ops = roundtrip(
            json!({"metadata": {"annotations": {"x": "1"}}}),
            json!({"metadata": {"annotations": {"x": "1", "a/b~c": "2"}}}),
        );
        assert_eq!(ops[0]["path"], "/metadata/annotations/a~1b~0c");
    }

    #[test]
    fn arrays_grow_shrink_and_change() {
        roundtrip(json!({"l": [1, 2, 3, 4]}), json!({"l": [1, 5]}));
        roundtrip(json!({"l": [1]}), json!({"l": [0, 1, 2]}));
        roundtrip(
            json!({"c": [{"name": "a"}, {"name": "b"}]}),
            json!({"c": [{"name": "a", "sc": {"x": true}}, {"name": "b", "sc": {}}]}),
        );
    }

    #[test]
    fn type_changes_replace() {
        let ops = roundtrip(json!({"a": {"b": 1}}), json!({"a": [1]}));
        assert_eq!(
            ops,
            vec![json!({"op": "replace", "path": "/a", "value": [1]})]
        );
        roundtrip(json!({"a": null}), json!({"a": {"b": "c"}}));
    }

    fn arb_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (0i64..5).prop_map(|n| json!(n)),
            "[a-c/~]{0,2}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map("[a-c/~]{1,2}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #[test]
        fn diff_then_apply_gives_target(a in arb_json(), b in arb_json()) {
            roundtrip(json!({"root": a}), json!({"root": b}));
        }
    }
}
