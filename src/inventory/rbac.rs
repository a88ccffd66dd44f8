//! RBAC facts: the rules of every Role and ClusterRole of the stream.

use crate::yaml::Value;

use crate::document::Document;
use crate::inventory::Inventory;
use crate::yaml::view::ValueExt;
use crate::yaml::Path;

/// One `rules[i]` entry of a Role/ClusterRole, read from the document when asked (a cache of
/// owned strings per verb and resource was 4.5 MB at x16, alive through every pass's rules).
#[derive(Debug, Clone, Copy)]
pub struct PolicyRule<'a> {
    /// Index in `rules`.
    pub index: usize,
    /// The entry.
    value: &'a Value,
}

impl<'a> PolicyRule<'a> {
    /// The strings of the sequence at `key` (other items skipped; none when absent).
    fn list(&self, key: &str) -> impl Iterator<Item = &'a str> + Clone {
        self.value
            .key(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
    }

    /// `apiGroups`.
    pub fn api_groups(&self) -> impl Iterator<Item = &'a str> + Clone {
        self.list("apiGroups")
    }

    /// `resources`.
    pub fn resources(&self) -> impl Iterator<Item = &'a str> + Clone {
        self.list("resources")
    }

    /// `verbs`.
    pub fn verbs(&self) -> impl Iterator<Item = &'a str> + Clone {
        self.list("verbs")
    }

    /// `resourceNames`.
    pub fn resource_names(&self) -> impl Iterator<Item = &'a str> + Clone {
        self.list("resourceNames")
    }

    /// `nonResourceURLs`.
    pub fn non_resource_urls(&self) -> impl Iterator<Item = &'a str> + Clone {
        self.list("nonResourceURLs")
    }

    /// Path of the entry in the document of the role at `base`.
    pub fn path(&self, base: &Path) -> Path {
        base.key("rules").index(self.index)
    }
}

/// The strings of the sequence at `key` (other items skipped; none when absent).
pub(crate) fn strings(v: &Value, key: &str) -> Vec<String> {
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
pub type RoleRules<'a> = Vec<(&'static str, usize, Vec<PolicyRule<'a>>)>;

/// Reads the rules of every Role and ClusterRole (rbac.authorization.k8s.io) of the stream.
pub fn role_rules<'a>(docs: &'a [Document], inv: &Inventory) -> RoleRules<'a> {
    let mut out = Vec::new();
    for kind in ["Role", "ClusterRole"] {
        for (i, o) in inv.of_kind(kind).enumerate() {
            if !o
                .resource
                .api_version
                .starts_with("rbac.authorization.k8s.io/")
            {
                continue;
            }
            let v = docs[o.doc()].object_value(o);
            let rules = v
                .key("rules")
                .and_then(Value::as_array)
                .map(|rs| {
                    rs.iter()
                        .enumerate()
                        .filter(|(_, r)| r.is_object())
                        .map(|(index, value)| PolicyRule { index, value })
                        .collect()
                })
                .unwrap_or_default();
            out.push((kind, i, rules));
        }
    }
    out
}
