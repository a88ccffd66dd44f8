//! CH601 netpol-selects-nothing: a chart NetworkPolicy whose podSelector matches no pod of the
//! release.

use serde_json::Value;

use super::{chart_objects, selected, show_labels};
use crate::finding::{Applicability, Severity};
use crate::rules::{Context, Rule, RuleMeta, Sink};

pub(crate) static META: RuleMeta = RuleMeta {
    code: "CH601",
    name: "netpol-selects-nothing",
    group: "audit",
    summary: "A NetworkPolicy the chart ships whose `podSelector` selects no pod of the release.",
    why: "A policy that selects nothing protects nothing and allows nothing. Typically its \
labels drifted from the pods' (`component: otel-collector` vs `component: standalone-collector`): \
the pods it was meant for are then covered only by a default-deny beside it, which silently cuts \
the traffic the policy was written to allow.",
    example: "kind: NetworkPolicy\nmetadata: {name: otel}\nspec:\n  podSelector:\n    matchLabels: {component: otel-collector}   # pods carry component: standalone-collector",
    fix: Applicability::ReportOnly,
    fix_notes: "Report only: which pods were meant is a guess. The traffic the release needs is \
restored by netpol-cut-traffic (CH603) with a supplementing policy.",
    options: "none",
    severity: Severity::Warning,
    default_enabled: true,
};

/// CH601.
pub struct NpSelectsNothing;

impl Rule for NpSelectsNothing {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context<'_>, out: &mut Sink) {
        if cx.inv.workloads.is_empty() {
            return;
        }
        for o in chart_objects(cx, "NetworkPolicy", &META) {
            if !selected(cx, o, "/spec/podSelector", true).is_empty() {
                continue;
            }
            let v = cx.value(o);
            let sel = v
                .pointer("/spec/podSelector")
                .cloned()
                .unwrap_or(Value::Null);
            let ml = sel
                .get("matchLabels")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            // The closest pods: the most matchLabels in common, and the labels that differ.
            let mut hint = String::new();
            let ns = cx.inv.namespace_of(&o.resource);
            let best = cx
                .inv
                .workloads
                .iter()
                .filter(|w| crate::inventory::Inventory::same_namespace(&ns, &w.namespace))
                .map(|w| {
                    let same = ml
                        .iter()
                        .filter(|(k, val)| w.labels.get(*k).map(String::as_str) == val.as_str())
                        .count();
                    (same, w)
                })
                .filter(|(same, _)| *same > 0)
                .max_by_key(|(same, _)| *same);
            if best.is_none() {
                // No label in common: a pod label with the same key name under another prefix
                // (`app.kubernetes.io/component` vs `component`).
                let short = |k: &str| k.rsplit('/').next().unwrap_or(k).to_string();
                'outer: for (k, val) in &ml {
                    for w in
                        cx.inv.workloads.iter().filter(|w| {
                            crate::inventory::Inventory::same_namespace(&ns, &w.namespace)
                        })
                    {
                        if let Some((pk, pv)) =
                            w.labels.iter().find(|(pk, _)| short(pk) == short(k))
                        {
                            hint = format!(
                                "; closest: {} carries {pk}: {pv}, not {k}: {}",
                                crate::rules::guards::wname(w),
                                val.as_str().unwrap_or_default()
                            );
                            break 'outer;
                        }
                    }
                }
            }
            if let Some((_, w)) = best {
                let diff: Vec<String> = ml
                    .iter()
                    .filter(|(k, val)| w.labels.get(*k).map(String::as_str) != val.as_str())
                    .map(|(k, val)| match w.labels.get(k) {
                        Some(have) => format!(
                            "{k}: {} (pods carry {k}: {have})",
                            val.as_str().unwrap_or_default()
                        ),
                        None => format!("{k} (pods have no such label)"),
                    })
                    .collect();
                if !diff.is_empty() {
                    hint = format!(
                        "; closest: {} differs in {}",
                        crate::rules::guards::wname(w),
                        diff.join(", ")
                    );
                }
            }
            let e = out.emit(
                &META,
                &o.resource,
                &o.base.key("spec").key("podSelector"),
                format!(
                    "NetworkPolicy {} selects no pod of the release (podSelector {{{}}}): it protects and allows nothing, and any default-deny beside it cuts the traffic it was meant to allow{hint}",
                    o.resource.name,
                    show_labels(&ml)
                ),
                None,
            );
            e.finding.suggestion = Some(
                "fix the chart's podSelector to the pods' labels; netpol-cut-traffic (CH603) restores the traffic meanwhile".into(),
            );
        }
    }
}
