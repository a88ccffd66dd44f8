//! CH403 generate-limit-range: a LimitRange beside every ResourceQuota that constrains
//! cpu/memory, so that containers without requests/limits are not rejected.

use std::collections::BTreeMap;

use crate::yaml::Value;
use k8s_openapi::api::core::v1::{LimitRange, LimitRangeItem, LimitRangeSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use serde::Deserialize;

use super::{generated_meta, options};
use crate::finding::{Applicability, Severity};
use crate::inventory::quantity;
use crate::inventory::Inventory;
use crate::rules::{Context, Fix, Generated, Rule, RuleMeta, Sink};
use crate::yaml::view::ValueExt;
use crate::yaml::Path;

pub(crate) static META: RuleMeta = RuleMeta {
    code: "CH403",
    name: "generate-limit-range",
    group: "tenancy",
    summary: "A ResourceQuota that constrains cpu/memory gets a LimitRange with default requests and limits in its namespace.",
    why: "Once a ResourceQuota constrains `requests.cpu` (or memory, or limits) the API server \
rejects every pod with a container — init containers included — that does not set that value. A \
LimitRange fills in defaults, so such pods are admitted instead of failing at rollout.",
    example: "# ResourceQuota hard: {requests.cpu: \"10\", limits.memory: 40Gi}, no LimitRange → generated:\n\
kind: LimitRange\nmetadata:\n  name: floe-chart-harden\n  namespace: floe\nspec:\n  limits:\n  - type: Container\n\
    defaultRequest: {cpu: 100m}\n    default: {memory: 512Mi}",
    fix: Applicability::Safe,
    fix_also_safe: false,
    fix_notes: "Safe: it only adds defaults for containers that set nothing, which the quota would \
otherwise reject. Default limits are raised to the largest explicit request of a release container \
that has no limit, so no container of the release ends up with a request above its limit.",
    options: "`generate.generate-limit-range.defaultRequest` (default `{cpu: 100m, memory: 128Mi}`), \
`generate.generate-limit-range.default` (default limits, `{cpu: 500m, memory: 512Mi}`).",
    severity: Severity::Warning,
    default_enabled: true,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Options {
    #[serde(default = "default_request")]
    pub(crate) default_request: BTreeMap<String, Value>,
    #[serde(default = "default_limit")]
    pub(crate) default: BTreeMap<String, Value>,
}

fn default_request() -> BTreeMap<String, Value> {
    [("cpu", "100m"), ("memory", "128Mi")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), Value::from(v)))
        .collect()
}

fn default_limit() -> BTreeMap<String, Value> {
    [("cpu", "500m"), ("memory", "512Mi")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), Value::from(v)))
        .collect()
}

impl Default for Options {
    fn default() -> Self {
        Options {
            default_request: default_request(),
            default: default_limit(),
        }
    }
}

/// The largest explicit request for `res` among release containers in the namespace that set
/// no limit for it.
fn max_unlimited_request(cx: &Context<'_>, ns: &str, res: &str) -> f64 {
    let mut max: f64 = 0.0;
    for w in cx.inv.workloads_in(ns) {
        if !Inventory::same_namespace(&w.namespace, ns) {
            continue;
        }
        for c in &w.containers {
            let Some(cv) = cx.at(w.object.doc(), &c.path) else {
                continue;
            };
            let req = cv
                .ptr(&format!("/resources/requests/{res}"))
                .and_then(quantity::parse);
            let lim = cv.ptr(&format!("/resources/limits/{res}"));
            if let (Some(r), None) = (req, lim) {
                max = max.max(r);
            }
        }
    }
    max
}

/// CH403.
pub struct GenerateLimitRange;

impl Rule for GenerateLimitRange {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context<'_>, out: &mut Sink) {
        let Some(opts) = options::<Options>(cx, &META, out) else {
            return;
        };
        let inv = cx.inv;
        let Some(quotas) = inv.by_kind.get("ResourceQuota") else {
            return;
        };
        let mut seen_ns: Vec<String> = Vec::new();
        for q in quotas {
            let v = cx.value(q);
            let ns = inv.namespace_of(&q.resource);
            if seen_ns.contains(&ns) {
                continue;
            }
            let hard = v.ptr("/spec/hard").and_then(Value::as_object);
            let Some(hard) = hard else { continue };
            let mut req: BTreeMap<String, Quantity> = BTreeMap::new();
            let mut lim: BTreeMap<String, Quantity> = BTreeMap::new();
            for res in ["cpu", "memory"] {
                if hard.contains_key(&format!("requests.{res}")) || hard.contains_key(res) {
                    if let Some(d) = opts.default_request.get(res).and_then(quantity::parse) {
                        let s = if res == "cpu" {
                            quantity::cpu(d)
                        } else {
                            quantity::memory(d)
                        };
                        req.insert(res.to_string(), Quantity(s));
                    }
                }
                if hard.contains_key(&format!("limits.{res}")) {
                    if let Some(d) = opts.default.get(res).and_then(quantity::parse) {
                        let d = d.max(max_unlimited_request(cx, &ns, res));
                        let s = if res == "cpu" {
                            quantity::cpu(d)
                        } else {
                            quantity::memory(d)
                        };
                        lim.insert(res.to_string(), Quantity(s));
                    }
                }
            }
            if req.is_empty() && lim.is_empty() {
                continue;
            }
            seen_ns.push(ns.clone());
            let existing = inv
                .of_kind("LimitRange")
                .find(|o| Inventory::same_namespace(&inv.namespace_of(&o.resource), &ns));
            if let Some(lr) = existing {
                if !crate::inventory::is_generated(cx.value(lr)) {
                    let e = out.emit(
                        &META,
                        q,
                        &Path::root(),
                        format!(
                            "ResourceQuota {} has LimitRange {} beside it; nothing generated",
                            q.resource.name, lr.resource.name
                        ),
                        None,
                    );
                    e.finding.severity = Severity::Info;
                }
                continue;
            }
            let base = match (&cx.cfg.release, ns.is_empty()) {
                (Some(r), _) => r.clone(),
                (None, true) => "release".to_string(),
                (None, false) => ns.clone(),
            };
            let name = format!("{base}{}", super::NAME_SUFFIX);
            let lr = LimitRange {
                metadata: generated_meta(
                    name.clone(),
                    q.resource.namespace.as_deref().map(String::from),
                    v,
                ),
                spec: Some(LimitRangeSpec {
                    limits: vec![LimitRangeItem {
                        type_: "Container".into(),
                        default_request: (!req.is_empty()).then_some(req),
                        default: (!lim.is_empty()).then_some(lim),
                        ..Default::default()
                    }],
                }),
            };
            let constrained: Vec<&str> = hard
                .keys()
                .map(|k| k.as_str())
                .filter(|k| k.contains("cpu") || k.contains("memory"))
                .collect();
            out.emit(
                &META,
                q,
                &Path::keys("spec.hard"),
                format!(
                    "ResourceQuota {} constrains {} but no LimitRange gives defaults: pods whose containers set none are rejected; generate {name}",
                    q.resource.name,
                    constrained.join(", ")
                ),
                Some(Fix {
                    applicability: Applicability::Safe,
                    ops: Vec::new(),
                    generated: vec![Generated::new(cx, super::to_value(&lr))],
                }),
            );
        }
    }
}
