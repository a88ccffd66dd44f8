//! CH611 pdb-blocks-drain: a PodDisruptionBudget that can never allow an eviction.

use crate::yaml::Value;
use serde_json::json;

use super::{chart_objects, selected, wn};
use crate::finding::{Applicability, Severity};
use crate::rules::guards::pdb::min_replicas;
use crate::rules::{Context, Fix, Rule, RuleMeta, Sink};
use crate::yaml::edit::Op;
use crate::yaml::view::ValueExt;

pub(crate) static META: RuleMeta = RuleMeta {
    code: "CH611",
    name: "pdb-blocks-drain",
    group: "audit",
    summary: "A PodDisruptionBudget whose `minAvailable` is at least the pods it covers (replicas, or the HPA's `minReplicas`), or whose `maxUnavailable` is 0, is rewritten to `maxUnavailable: 1`.",
    why: "Such a budget never allows a voluntary eviction: `kubectl drain`, cluster upgrades and \
the cluster autoscaler hang on these pods forever (`minAvailable: 1` over one replica is the \
classic case), and operators end up deleting the budget by hand in the middle of an upgrade.",
    example: "spec:\n  minAvailable: 1        # removed: the Deployment runs 1 replica\n  maxUnavailable: 1      # added",
    fix: Applicability::Unsafe,
    fix_also_safe: false,
    fix_notes: "Unsafe: `maxUnavailable: 1` lets a drain evict one pod at a time, so a \
single-replica workload is briefly down during a drain and a multi-replica one may drop below the \
count the chart asked for (e.g. a quorum). Applied with `--profile prod` or `--unsafe-fixes`; \
otherwise reported.",
    options: "none",
    severity: Severity::Error,
    default_enabled: true,
};

/// Pods a budget value admits as "must stay" out of `total`: `n` or `p%` rounded up.
fn scaled(v: &Value, total: i64) -> Option<i64> {
    match v {
        Value::Number(n) => crate::yaml::view::number_as_int(n),
        Value::String(s) => match s.strip_suffix('%') {
            Some(p) => {
                let p: i64 = p.trim().parse().ok()?;
                Some((total * p + 99) / 100)
            }
            None => s.trim().parse().ok(),
        },
        _ => None,
    }
}

/// CH611.
pub struct PdbBlocksDrain;

impl Rule for PdbBlocksDrain {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context<'_>, out: &mut Sink) {
        for o in chart_objects(cx, "PodDisruptionBudget", &META) {
            let ws: Vec<usize> = selected(cx, o, "/spec/selector", false)
                .into_iter()
                .filter(|i| {
                    matches!(
                        cx.inv.workloads[*i].object.resource.kind.as_str(),
                        "Deployment"
                            | "StatefulSet"
                            | "ReplicaSet"
                            | "ReplicationController"
                            | "Pod"
                    )
                })
                .collect();
            if ws.is_empty() {
                continue;
            }
            let mut total = 0;
            let mut counts = Vec::new();
            for i in &ws {
                let (n, hpa) = min_replicas(cx, &cx.inv.workloads[*i]);
                total += n;
                counts.push(match hpa {
                    Some(h) => format!(
                        "{} (HorizontalPodAutoscaler {h} minReplicas: {n})",
                        wn(cx, *i)
                    ),
                    None => format!("{} (replicas: {n})", wn(cx, *i)),
                });
            }
            if total <= 0 {
                continue;
            }
            let v = cx.value(o);
            let spec = o.base.key("spec");
            let min = v.ptr("/spec/minAvailable");
            let max = v.ptr("/spec/maxUnavailable");
            let (_field, why) = if let Some(m) = min.filter(|m| !m.is_null()) {
                match scaled(m, total) {
                    Some(k) if k >= total => (
                        "minAvailable",
                        format!("minAvailable: {} keeps {k} of its {total} pod(s)", show(m)),
                    ),
                    _ => continue,
                }
            } else if let Some(m) = max.filter(|m| !m.is_null()) {
                match scaled(m, total) {
                    Some(0) => (
                        "maxUnavailable",
                        format!("maxUnavailable: {} allows no eviction", show(m)),
                    ),
                    _ => continue,
                }
            } else {
                continue;
            };
            let mut ops = Vec::new();
            if min.is_some() {
                ops.push(Op::Remove(spec.key("minAvailable")));
            }
            ops.push(Op::Set(spec.key("maxUnavailable"), json!(1)));
            let e = out.emit(
                &META,
                o,
                // The fix touches both budget fields: the finding is on `spec`.
                &spec,
                format!(
                    "PodDisruptionBudget {} blocks node drains: {why} over {}; no voluntary eviction is ever allowed, so `kubectl drain` and cluster upgrades hang; rewrite to maxUnavailable: 1",
                    o.resource.name,
                    counts.join(", ")
                ),
                Some(Fix::edits(Applicability::Unsafe, o.doc(), ops)),
            );
            e.finding.suggestion =
                Some("use maxUnavailable: 1 (or run more replicas than minAvailable)".into());
        }
    }
}

fn show(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}
