//! CH401 generate-pdb: a drain-safe PodDisruptionBudget for replicated workloads.

use crate::yaml::Value;
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Deserialize;

use super::{generated_meta, options, pod_selector, wname};
use crate::finding::{Applicability, Severity};
use crate::inventory::is_generated;
use crate::inventory::Workload;
use crate::rules::{workloads, Context, Fix, Generated, Rule, RuleMeta, Sink};
use crate::yaml::view::ValueExt;
use crate::yaml::Path;

pub(crate) static META: RuleMeta = RuleMeta {
    code: "CH401",
    name: "generate-pdb",
    group: "availability",
    summary: "Deployments and StatefulSets with 2+ replicas get a PodDisruptionBudget with `maxUnavailable: 1`.",
    why: "Without a PodDisruptionBudget a node drain (cluster upgrade, autoscaler scale-down) may \
evict every replica at once. A budget expressed as `maxUnavailable` never blocks a drain, unlike \
`minAvailable: 1` on a single replica, which makes `kubectl drain` hang forever.",
    example: "# Deployment web, replicas: 3 → generated:\napiVersion: policy/v1\nkind: PodDisruptionBudget\n\
metadata:\n  name: web-chart-harden\nspec:\n  maxUnavailable: 1\n  selector:\n    matchLabels:\n      app: web",
    fix: Applicability::Safe,
    fix_also_safe: false,
    fix_notes: "Safe: `maxUnavailable: 1` always allows one eviction, so drains proceed one pod at a \
time. Single-replica workloads get no budget (reported): any budget that protects one replica \
blocks drains. When the chart already ships a PDB selecting the pods nothing is generated (see \
the PDB audit for drain-blocking ones).",
    options: "`generate.generate-pdb.maxUnavailable`: integer or percentage string (default 1). \
`generate.generate-pdb.minReplicas`: smallest replica count that gets a budget (default 2, never below 2).",
    severity: Severity::Warning,
    default_enabled: true,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Options {
    #[serde(default = "default_max_unavailable")]
    max_unavailable: serde_json::Value,
    #[serde(default = "default_min_replicas")]
    min_replicas: i64,
}

fn default_max_unavailable() -> serde_json::Value {
    serde_json::Value::from(1)
}

fn default_min_replicas() -> i64 {
    2
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_unavailable: default_max_unavailable(),
            min_replicas: default_min_replicas(),
        }
    }
}

/// The smallest replica count of a workload: its HPA's `minReplicas` (default 1) when an HPA in
/// the stream targets it, else `spec.replicas`. Returns (count, HPA name).
pub(crate) fn min_replicas(cx: &Context<'_>, w: &Workload) -> (i64, Option<String>) {
    if let Some(h) = cx.hpa_for(w) {
        let min = cx
            .value(h)
            .ptr("/spec/minReplicas")
            .and_then(crate::yaml::view::as_int)
            .unwrap_or(1);
        return (min, Some(h.resource.name.to_string()));
    }
    (w.replicas.unwrap_or(1), None)
}

fn parse_budget(v: &Value) -> Option<IntOrString> {
    match v {
        Value::Number(n) => crate::yaml::view::number_as_int(n)
            .filter(|n| *n >= 1)
            .and_then(|n| i32::try_from(n).ok())
            .map(IntOrString::Int),
        Value::String(s) => {
            let p = s.strip_suffix('%')?.parse::<u32>().ok()?;
            (1..=100)
                .contains(&p)
                .then(|| IntOrString::String(s.to_string()))
        }
        _ => None,
    }
}

/// CH401.
pub struct GeneratePdb;

impl Rule for GeneratePdb {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context<'_>, out: &mut Sink) {
        let Some(opts) = options::<Options>(cx, &META, out) else {
            return;
        };
        let Some(budget) = parse_budget(&Value::from(&opts.max_unavailable)) else {
            let e = out.emit(
                &META,
                crate::finding::ResourceRef::default(),
                &Path::root(),
                format!(
                    "invalid config `generate.generate-pdb.maxUnavailable`: {} (expected an integer ≥ 1 or a percentage like \"25%\"); nothing generated",
                    opts.max_unavailable
                ),
                None,
            );
            e.finding.severity = Severity::Error;
            return;
        };
        let threshold = opts.min_replicas.max(2);
        for w in workloads(cx, &META) {
            let kind = w.object.resource.kind.as_str();
            if !matches!(kind, "Deployment" | "StatefulSet") || w.is_test_hook() || w.hook.is_some()
            {
                continue;
            }
            let existing = cx.selecting("PodDisruptionBudget", "/spec/selector", w);
            if existing.iter().any(|o| is_generated(cx.value(o))) {
                continue;
            }
            if !existing.is_empty() {
                let names: Vec<String> = existing
                    .iter()
                    .map(|o| {
                        let v = cx.value(o);
                        let spec = v.key("spec").unwrap_or(&Value::Null);
                        let budget = match (spec.key("minAvailable"), spec.key("maxUnavailable")) {
                            (Some(m), _) => format!("minAvailable: {m}"),
                            (None, Some(m)) => format!("maxUnavailable: {m}"),
                            _ => "no budget".to_string(),
                        };
                        format!("{} ({budget})", o.resource.name)
                    })
                    .collect();
                let e = out.emit(
                    &META,
                    &w.object,
                    &Path::root(),
                    format!(
                        "{} is already covered by PodDisruptionBudget {}; nothing generated",
                        wname(w),
                        names.join(", ")
                    ),
                    None,
                );
                e.finding.severity = Severity::Info;
                continue;
            }
            let (min, hpa) = min_replicas(cx, w);
            let why_count = match &hpa {
                Some(h) => format!("HorizontalPodAutoscaler {h} minReplicas: {min}"),
                None => format!("replicas: {min}"),
            };
            if min < threshold {
                let e = out.emit(
                    &META,
                    &w.object,
                    &Path::root(),
                    format!(
                        "no PodDisruptionBudget for {} ({why_count}): a budget on a single replica either allows its eviction anyway or (minAvailable: 1) blocks node drains forever",
                        wname(w)
                    ),
                    None,
                );
                e.finding.severity = Severity::Info;
                e.finding.suggestion = crate::finding::suggest(
                    "run 2+ replicas (or an HPA with minReplicas ≥ 2) to get a drain-safe budget",
                );
                continue;
            }
            let Some(selector) = pod_selector(cx, w) else {
                continue;
            };
            let obj = cx.value(&w.object);
            let name = format!("{}{}", w.object.resource.name, super::NAME_SUFFIX);
            let pdb = PodDisruptionBudget {
                metadata: generated_meta(
                    name.clone(),
                    w.object.resource.namespace.as_deref().map(String::from),
                    obj,
                ),
                spec: Some(PodDisruptionBudgetSpec {
                    max_unavailable: Some(budget.clone()),
                    selector: Some(selector),
                    ..Default::default()
                }),
                status: None,
            };
            let shown = match &budget {
                IntOrString::Int(i) => i.to_string(),
                IntOrString::String(s) => s.clone(),
            };
            out.emit(
                &META,
                &w.object,
                &Path::root(),
                format!(
                    "{} ({why_count}) has no PodDisruptionBudget: generate {name} with maxUnavailable: {shown}",
                    wname(w)
                ),
                Some(Fix {
                    applicability: Applicability::Safe,
                    ops: Vec::new(),
                    generated: vec![Generated::new(cx, super::to_value(&pdb))],
                }),
            );
        }
    }
}
