//! CH634 duplicate-object: the same kind/namespace/name rendered twice.

use std::hash::BuildHasher;

use crate::document::Object;
use crate::finding::{Applicability, Severity};
use crate::rules::{Context, Rule, RuleMeta, Sink};
use crate::yaml::view::ValueExt;

pub(crate) static META: RuleMeta = RuleMeta {
    code: "CH634",
    name: "duplicate-object",
    group: "audit",
    summary: "Two documents render the same object (API group, kind, namespace, name).",
    why: "Helm refuses to install or upgrade a release whose manifest holds the same object \
twice, and with `kubectl apply` the last copy silently wins: either way one of the two \
definitions is not what runs.",
    example: "# templates/a.yaml and templates/b.yaml both render ConfigMap settings",
    fix: Applicability::ReportOnly,
    fix_also_safe: false,
    fix_notes: "Report only: which copy is right is the chart author's decision.",
    options: "none",
    severity: Severity::Error,
    default_enabled: true,
};

const CLUSTER_SCOPED: &[&str] = &[
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PersistentVolume",
    "StorageClass",
    "PriorityClass",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "APIService",
    "IngressClass",
    "RuntimeClass",
    "CSIDriver",
    "Node",
    "ClusterIssuer",
];

/// CH634.
pub struct DuplicateObjects;

/// What makes two objects the same: API group, kind, namespace (none when cluster-scoped),
/// name, and whether it is a Helm hook.
type Key<'a> = (&'a str, &'a str, &'a str, &'a str, bool);

fn key<'a>(cx: &Context<'a>, o: &'a Object) -> Key<'a> {
    let r = &o.resource;
    let hook = cx
        .value(o)
        .ptr("/metadata/annotations")
        .and_then(|a| a.key("helm.sh/hook"))
        .is_some();
    let group = r.api_version.rsplit_once('/').map_or("", |(g, _)| g);
    let ns = if CLUSTER_SCOPED.contains(&r.kind.as_str()) {
        ""
    } else {
        cx.inv.namespace_str(r)
    };
    (group, r.kind.as_str(), ns, r.name.as_str(), hook)
}

impl Rule for DuplicateObjects {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context<'_>, out: &mut Sink) {
        // Every object's key hash and its place (16 bytes an object, not a hash map of keys:
        // a stream of 200,000 small objects held 43 MB in one); equal hashes are then
        // compared by key, and the duplicates reported in key order.
        let objs: Vec<&Object> = cx
            .docs
            .iter()
            .flat_map(|d| d.objects.iter())
            .filter(|o| !o.resource.kind.is_empty() && !o.resource.name.is_empty())
            .collect();
        let hasher = std::hash::RandomState::new();
        let mut hashed: Vec<(u64, usize)> = objs
            .iter()
            .enumerate()
            .map(|(i, o)| (hasher.hash_one(key(cx, o)), i))
            .collect();
        hashed.sort_unstable();
        let mut dups: Vec<(Key<'_>, Vec<usize>)> = Vec::new();
        for run in hashed.chunk_by(|a, b| a.0 == b.0).filter(|r| r.len() >= 2) {
            let mut groups: Vec<(Key<'_>, Vec<usize>)> = Vec::new();
            for &(_, i) in run {
                let k = key(cx, objs[i]);
                match groups.iter_mut().find(|(g, _)| *g == k) {
                    Some((_, idx)) => idx.push(i),
                    None => groups.push((k, vec![i])),
                }
            }
            dups.extend(groups.into_iter().filter(|(_, idx)| idx.len() >= 2));
        }
        for (_, idx) in &mut dups {
            idx.sort_unstable();
        }
        dups.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (_, idx) in dups {
            let docs: Vec<String> = idx
                .iter()
                .map(|i| {
                    let r = &objs[*i].resource;
                    match &r.source {
                        Some(s) => format!("document {} ({s})", r.doc),
                        None => format!("document {}", r.doc),
                    }
                })
                .collect();
            for i in &idx[1..] {
                let o = objs[*i];
                if crate::rules::skipped_object(cx.value(o), &META) {
                    continue;
                }
                out.emit(
                    &META,
                    o,
                    &o.base,
                    format!(
                        "{} is rendered {} times ({}): Helm fails the install, and with kubectl apply the last copy silently wins",
                        o.resource.display(),
                        idx.len(),
                        docs.join(", ")
                    ),
                    None,
                );
            }
        }
    }
}
