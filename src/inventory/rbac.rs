//! RBAC facts: the rules of every Role and ClusterRole of the stream.

use serde_json::Value;

use crate::document::Document;
use crate::inventory::Inventory;
use crate::yaml::view::ValueExt;
use crate::yaml::Path;

/// One `rules[i]` entry of a Role/ClusterRole.
#[derive(Debug, Clone)]
pub struct PolicyRule {
    /// Index in `rules`.
    pub index: usize,
    /// Path of the entry in the document.
    pub path: Path,
    /// `apiGroups`.
    pub api_groups: Vec<String>,
    /// `resources`.
    pub resources: Vec<String>,
    /// `verbs`.
    pub verbs: Vec<String>,
    /// `resourceNames`.
    pub resource_names: Vec<String>,
    /// `nonResourceURLs`.
    pub non_resource_urls: Vec<String>,
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    v.key(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Every Role's and ClusterRole's (rbac.authorization.k8s.io) rules, with the role's kind and
/// index among the objects of its kind.
pub type RoleRules = Vec<(&'static str, usize, Vec<PolicyRule>)>;

/// Reads the rules of every Role and ClusterRole (rbac.authorization.k8s.io) of the stream.
pub fn role_rules(docs: &[Document], inv: &Inventory) -> RoleRules {
    let mut out = Vec::new();
    for kind in ["Role", "ClusterRole"] {
        for (i, o) in inv.by_kind.get(kind).into_iter().flatten().enumerate() {
            if !o
                .resource
                .api_version
                .starts_with("rbac.authorization.k8s.io/")
            {
                continue;
            }
            let v = docs[o.doc].object_value(o);
            let rules = v
                .key("rules")
                .and_then(Value::as_array)
                .map(|rs| {
                    rs.iter()
                        .enumerate()
                        .filter(|(_, r)| r.is_object())
                        .map(|(i, r)| PolicyRule {
                            index: i,
                            path: o.base.key("rules").index(i),
                            api_groups: strings(r, "apiGroups"),
                            resources: strings(r, "resources"),
                            verbs: strings(r, "verbs"),
                            resource_names: strings(r, "resourceNames"),
                            non_resource_urls: strings(r, "nonResourceURLs"),
                        })
                        .collect()
                })
                .unwrap_or_default();
            out.push((kind, i, rules));
        }
    }
    out
}
