//! Guard-object generators: the objects a chart should ship and often does not —
//! PodDisruptionBudgets, NetworkPolicies, LimitRanges, ResourceQuotas, default resources and
//! Pod Security Admission namespace labels.
//!
//! Every generated object is built from `k8s-openapi` types, named `<workload>-chart-harden`
//! (or `<namespace>-chart-harden` for per-namespace objects), carries the workload's
//! namespace when it has one, and copies the release's identifying labels. A generator
//! generates nothing when the stream already holds an object of that kind covering the same
//! pods: a chart-shipped one is reported, one chart-harden generated earlier (label
//! [`crate::inventory::GENERATED_LABEL`]) is silently accepted — that is what keeps the fix loop idempotent.
//!
//! Options live in the config file under `generate.<rule-name>` (e.g.
//! `generate: {generate-pdb: {maxUnavailable: "25%"}}`).

use std::collections::BTreeMap;

use crate::yaml::Value;
use serde::de::DeserializeOwned;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use crate::finding::Severity;
use crate::inventory::Workload;
use crate::rules::{Context, Rule, RuleMeta, Sink};
use crate::yaml::view::ValueExt;
use crate::yaml::Path;

mod default_resources;
mod limit_range;
pub(crate) mod network_policy;
pub(crate) mod pdb;
mod pss_labels;
mod resource_quota;

/// The rules of this group, in run order.
pub fn rules() -> Vec<Box<dyn Rule>> {
    vec![
        Box::new(pdb::GeneratePdb),
        Box::new(network_policy::GenerateNetworkPolicy),
        Box::new(limit_range::GenerateLimitRange),
        Box::new(resource_quota::GenerateResourceQuota),
        Box::new(default_resources::DefaultResources),
        Box::new(pss_labels::NamespacePssLabels),
    ]
}

/// Suffix of every generated object's name.
pub const NAME_SUFFIX: &str = "-chart-harden";

/// Labels copied from a workload (or the release) onto generated objects.
const RELEASE_LABELS: &[&str] = &[
    "app.kubernetes.io/instance",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/name",
    "release",
];

/// The generator's options from `generate.<rule-name>`, or the defaults. An invalid
/// section is reported as an error finding on the rule and `None` is returned (the
/// generator then does nothing rather than guess).
pub(crate) fn options<T: DeserializeOwned + Default>(
    cx: &Context<'_>,
    meta: &'static RuleMeta,
    out: &mut Sink,
) -> Option<T> {
    let Some(v) = cx.cfg.generate.get(meta.name) else {
        return Some(T::default());
    };
    if v.is_null() {
        return Some(T::default());
    }
    match serde_json::from_value::<T>(v.clone()) {
        Ok(t) => Some(t),
        Err(e) => {
            let e = out.emit(
                meta,
                crate::finding::ResourceRef::default(),
                &Path::root(),
                format!(
                    "invalid config `generate.{}`: {e}; nothing generated",
                    meta.name
                ),
                None,
            );
            e.finding.severity = Severity::Error;
            None
        }
    }
}

/// The label selector that picks exactly this workload's pods: the controller's own
/// `spec.selector` (matchLabels and matchExpressions) when it has one, else the pod
/// template's labels. `None` when neither exists (a selector would then match the whole
/// namespace).
pub(crate) fn pod_selector(cx: &Context<'_>, w: &Workload) -> Option<LabelSelector> {
    let obj = cx.value(&w.object);
    if w.object.resource.kind != "Pod" {
        if let Some(sel) = obj.ptr("/spec/selector") {
            if let Ok(ls) = serde_json::from_value::<LabelSelector>(sel.to_json()) {
                let has_labels = ls.match_labels.as_ref().is_some_and(|m| !m.is_empty());
                let has_exprs = ls.match_expressions.as_ref().is_some_and(|m| !m.is_empty());
                if has_labels || has_exprs {
                    return Some(ls);
                }
            }
        }
    }
    let labels = w.template_labels();
    if labels.is_empty() {
        return None;
    }
    Some(LabelSelector {
        match_labels: Some(labels),
        match_expressions: None,
    })
}

/// `selector` as a typed-view value (for [`label_selector_matches`]).
pub(crate) fn selector_value(sel: &LabelSelector) -> Value {
    serde_json::to_value(sel).map_or(Value::Null, Value::from)
}

/// Metadata for a generated object: name, the workload's own namespace (omitted when the
/// workload has none: Helm installs it into the release namespace), release labels.
pub(crate) fn generated_meta(name: String, namespace: Option<String>, from: &Value) -> ObjectMeta {
    let mut labels = BTreeMap::new();
    if let Some(l) = from.ptr("/metadata/labels").and_then(Value::as_object) {
        for k in RELEASE_LABELS {
            if let Some(Value::String(v)) = l.get(k) {
                labels.insert((*k).to_string(), v.to_string());
            }
        }
    }
    ObjectMeta {
        name: Some(name),
        namespace,
        labels: if labels.is_empty() {
            None
        } else {
            Some(labels)
        },
        ..ObjectMeta::default()
    }
}

/// Serializes a k8s-openapi object to a value, with keys in the order people write them
/// (k8s-openapi sorts them alphabetically): `apiVersion, kind, metadata, spec`;
/// `name, namespace, labels` in metadata; `podSelector, policyTypes, ingress, egress` in a
/// NetworkPolicy spec. (A compact value, not JSON: a generated object is held until the
/// step applies it, 800 NetworkPolicies and PDBs at once for a List of 800 Deployments.)
pub(crate) fn to_value<T: serde::Serialize>(o: &T) -> Value {
    let v = serde_json::to_value(o).map_or(Value::Null, Value::from);
    let v = reorder(v, &["apiVersion", "kind", "metadata", "spec"]);
    let Value::Object(mut m) = v else { return v };
    if let Some(md) = m.get_mut("metadata") {
        *md = reorder(md.take(), &["name", "namespace", "labels", "annotations"]);
    }
    if let Some(spec) = m.get_mut("spec") {
        *spec = reorder(
            spec.take(),
            &["podSelector", "policyTypes", "ingress", "egress"],
        );
    }
    Value::Object(m)
}

fn reorder(v: Value, first: &[&str]) -> Value {
    let Value::Object(mut m) = v else { return v };
    let mut out = crate::yaml::Map::with_capacity(m.len());
    for k in first {
        if let Some(x) = m.shift_remove(k) {
            out.insert(crate::yaml::value::intern(k), x);
        }
    }
    for (k, x) in m {
        out.insert(k, x);
    }
    Value::Object(out)
}

/// The workload's display name (`Deployment/web`).
pub(crate) fn wname(w: &Workload) -> String {
    format!("{}/{}", w.object.resource.kind, w.object.resource.name)
}
