//! CH633 missing-config-ref: pods that read a ConfigMap, Secret or key the stream does not have.

use std::collections::BTreeSet;

use crate::yaml::Value;

use crate::finding::{Applicability, Severity};
use crate::inventory::Inventory;
use crate::rules::{workloads, Context, Rule, RuleMeta, Sink};
use crate::yaml::view::ValueExt;
use crate::yaml::Path;

pub(crate) static META: RuleMeta = RuleMeta {
    code: "CH633",
    name: "missing-config-ref",
    group: "audit",
    summary: "`configMapKeyRef`, `secretKeyRef`, `envFrom` or a `configMap`/`secret`/projected volume names an object the chart does not render (warning), or a key the rendered object does not have (error), and is not `optional`.",
    why: "A pod that reads a missing ConfigMap/Secret or key never starts: it sits in \
`CreateContainerConfigError` or `ContainerCreating`. Objects the chart does not render may exist in \
the cluster (an `existingSecret`, another release), so those are warnings; a key missing from an \
object the chart renders itself is certainly broken.",
    example: "env:\n- name: DB_PASSWORD\n  valueFrom:\n    secretKeyRef: {name: db, key: password}   # Secret db in the chart has only key \"pass\"",
    fix: Applicability::ReportOnly,
    fix_also_safe: false,
    fix_notes: "Report only: the fix is to render the object, correct the name/key, or mark the \
reference `optional: true`.",
    options: "none",
    severity: Severity::Warning,
    default_enabled: true,
};

/// Objects every namespace has.
const BUILTIN_CONFIGMAPS: &[&str] = &["kube-root-ca.crt"];

/// The keys of a ConfigMap/Secret in the stream: `Some(None)` when it exists but its keys are
/// unknown (a Secret a cert-manager Certificate in the stream creates), `None` when absent.
fn keys_of(cx: &Context<'_>, kind: &str, name: &str, ns: &str) -> Option<Option<BTreeSet<String>>> {
    if kind == "ConfigMap" && BUILTIN_CONFIGMAPS.contains(&name) {
        return Some(None);
    }
    if let Some(o) = cx
        .inv
        .config_named(kind, name)
        .find(|o| Inventory::same_namespace(cx.inv.namespace_str(&o.resource), ns))
    {
        let v = cx.full_value(o);
        let fields: &[&str] = if kind == "Secret" {
            &["data", "stringData"]
        } else {
            &["data", "binaryData"]
        };
        let keys = fields
            .iter()
            .filter_map(|f| v.get(*f).and_then(Value::as_object))
            .flat_map(|m| m.keys().map(|k| k.to_string()))
            .collect();
        return Some(Some(keys));
    }
    if kind == "Secret" {
        let by_cert = cx.inv.of_kind("Certificate").any(|o| {
            cx.value(o).ptr("/spec/secretName").and_then(Value::as_str) == Some(name)
                && Inventory::same_namespace(&cx.inv.namespace_of(&o.resource), ns)
        });
        if by_cert {
            return Some(None);
        }
    }
    None
}

/// Most keys a message names: a ConfigMap of hundreds of keys would drown the finding.
const KEYS_SHOWN: usize = 8;

/// `a, b, c`, at most [`KEYS_SHOWN`] of them then `and N more`; `none` when empty.
fn key_list<'a>(keys: impl ExactSizeIterator<Item = &'a String>) -> String {
    let n = keys.len();
    if n == 0 {
        return "none".to_string();
    }
    let mut s = keys
        .take(KEYS_SHOWN)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if n > KEYS_SHOWN {
        s.push_str(&format!(" and {} more", n - KEYS_SHOWN));
    }
    s
}

struct Ref {
    kind: &'static str,
    name: String,
    keys: Vec<(String, Path)>,
    path: Path,
    what: String,
}

fn optional(v: &Value) -> bool {
    v.key("optional").and_then(Value::as_bool) == Some(true)
}

fn item_keys(v: &Value, at: &Path) -> Vec<(String, Path)> {
    v.key("items")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, it)| {
            Some((
                it.key("key")?.as_str()?.to_string(),
                at.key("items").index(i).key("key"),
            ))
        })
        .collect()
}

/// CH633.
pub struct DanglingRefs;

impl Rule for DanglingRefs {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context<'_>, out: &mut Sink) {
        for w in workloads(cx, &META) {
            let root = &cx.docs[w.object.doc()].value;
            let mut refs: Vec<Ref> = Vec::new();
            for c in &w.containers {
                let Some(cv) = c.path.lookup(root) else {
                    continue;
                };
                for (i, e) in cv
                    .key("env")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    let ename = e.key("name").and_then(Value::as_str).unwrap_or("?");
                    for (field, kind) in
                        [("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")]
                    {
                        let Some(r) = e.ptr(&format!("/valueFrom/{field}")) else {
                            continue;
                        };
                        if optional(r) {
                            continue;
                        }
                        let at = c.path.key("env").index(i).key("valueFrom").key(field);
                        let Some(name) = r.key("name").and_then(Value::as_str) else {
                            continue;
                        };
                        refs.push(Ref {
                            kind,
                            name: name.to_string(),
                            keys: r
                                .key("key")
                                .and_then(Value::as_str)
                                .map(|k| vec![(k.to_string(), at.key("key"))])
                                .unwrap_or_default(),
                            path: at.key("name"),
                            what: format!("env {ename} of container {:?}", c.name),
                        });
                    }
                }
                for (i, e) in cv
                    .key("envFrom")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    for (field, kind) in [("configMapRef", "ConfigMap"), ("secretRef", "Secret")] {
                        let Some(r) = e.get(field) else { continue };
                        if optional(r) {
                            continue;
                        }
                        let Some(name) = r.key("name").and_then(Value::as_str) else {
                            continue;
                        };
                        refs.push(Ref {
                            kind,
                            name: name.to_string(),
                            keys: Vec::new(),
                            path: c.path.key("envFrom").index(i).key(field).key("name"),
                            what: format!("envFrom of container {:?}", c.name),
                        });
                    }
                }
            }
            let vols = w.pod_spec.key("volumes");
            let spec = w.pod_spec.lookup(root);
            for (i, v) in spec
                .and_then(|s| s.key("volumes"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                let vname = v.key("name").and_then(Value::as_str).unwrap_or("?");
                let at = vols.index(i);
                let mut push = |kind: &'static str, src: &Value, at: Path, name_key: &str| {
                    if optional(src) {
                        return;
                    }
                    if let Some(name) = src.get(name_key).and_then(Value::as_str) {
                        refs.push(Ref {
                            kind,
                            name: name.to_string(),
                            keys: item_keys(src, &at),
                            path: at.key(name_key),
                            what: format!("volume {vname}"),
                        });
                    }
                };
                if let Some(s) = v.key("configMap") {
                    push("ConfigMap", s, at.key("configMap"), "name");
                }
                if let Some(s) = v.key("secret") {
                    push("Secret", s, at.key("secret"), "secretName");
                }
                for (j, s) in v
                    .ptr("/projected/sources")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    let sat = at.key("projected").key("sources").index(j);
                    if let Some(x) = s.key("configMap") {
                        push("ConfigMap", x, sat.key("configMap"), "name");
                    }
                    if let Some(x) = s.key("secret") {
                        push("Secret", x, sat.key("secret"), "name");
                    }
                }
            }
            // Each object's keys read once per workload, not once per reference (a pod of
            // many containers reading one large ConfigMap).
            let mut seen: std::collections::HashMap<
                (&str, String),
                Option<Option<BTreeSet<String>>>,
            > = std::collections::HashMap::new();
            for r in refs {
                let found = seen
                    .entry((r.kind, r.name.clone()))
                    .or_insert_with(|| keys_of(cx, r.kind, &r.name, &w.namespace));
                match found {
                    None => {
                        let e = out.emit(
                            &META,
                            &w.object,
                            &r.path,
                            format!(
                                "{} of {}/{} reads {} {:?}, which the chart does not render: unless it already exists in the cluster the pods never start",
                                r.what, w.object.resource.kind, w.object.resource.name, r.kind, r.name
                            ),
                            None,
                        );
                        e.finding.severity = Severity::Warning;
                        e.finding.suggestion = crate::finding::suggest(format!(
                            "create {} {} before installing, or mark the reference optional: true",
                            r.kind, r.name
                        ));
                    }
                    Some(Some(keys)) => {
                        for (k, p) in r.keys {
                            if keys.contains(&k) {
                                continue;
                            }
                            let e = out.emit(
                                &META,
                                &w.object,
                                &p,
                                format!(
                                    "{} of {}/{} reads key {k:?} of {} {:?}, which the chart renders without that key (keys: {}): the pods never start",
                                    r.what,
                                    w.object.resource.kind,
                                    w.object.resource.name,
                                    r.kind,
                                    r.name,
                                    key_list(keys.iter())
                                ),
                                None,
                            );
                            e.finding.severity = Severity::Error;
                        }
                    }
                    Some(None) => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_key_list_is_cut_and_counted() {
        let keys: Vec<String> = (0..20).map(|i| format!("k{i:02}")).collect();
        assert_eq!(
            key_list(keys.iter()),
            "k00, k01, k02, k03, k04, k05, k06, k07 and 12 more"
        );
        assert_eq!(key_list(keys[..KEYS_SHOWN].iter()), keys[..8].join(", "));
        assert_eq!(key_list([].iter()), "none");
    }
}
