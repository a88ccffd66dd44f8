//! CH634 duplicate-object: the same kind/namespace/name rendered twice.

use std::collections::HashMap;

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

impl Rule for DuplicateObjects {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context<'_>, out: &mut Sink) {
        // Hashed, not ordered, while collecting (nearly every object is unique); the
        // duplicates are then reported in key order.
        #[allow(clippy::type_complexity)]
        let mut seen: HashMap<(&str, &str, &str, &str, bool), Vec<usize>> = HashMap::new();
        let mut objs = Vec::new();
        for d in cx.docs {
            for o in &d.objects {
                let r = &o.resource;
                if r.kind.is_empty() || r.name.is_empty() {
                    continue;
                }
                let v = cx.value(o);
                let hook = v
                    .ptr("/metadata/annotations")
                    .and_then(|a| a.key("helm.sh/hook"))
                    .is_some();
                let group = r.api_version.rsplit_once('/').map_or("", |(g, _)| g);
                let ns = if CLUSTER_SCOPED.contains(&r.kind.as_str()) {
                    ""
                } else {
                    cx.inv.namespace_str(r)
                };
                let key = (group, r.kind.as_str(), ns, r.name.as_str(), hook);
                seen.entry(key).or_default().push(objs.len());
                objs.push(o);
            }
        }
        let mut dups: Vec<_> = seen.into_iter().filter(|(_, idx)| idx.len() >= 2).collect();
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
                    &o.resource,
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
