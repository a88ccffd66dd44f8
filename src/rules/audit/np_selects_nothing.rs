//! CH601 netpol-selects-nothing: a chart NetworkPolicy whose podSelector matches no pod of the
//! release.

use crate::yaml::Value;

use super::{chart_objects, selected, show_labels};
use crate::finding::{Applicability, Severity};
use crate::rules::{Context, Rule, RuleMeta, Sink};
use crate::yaml::view::ValueExt;

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
    fix_also_safe: false,
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
            if !selected(cx, o, "/spec/podSelector", true).is_empty()
                || super::selects_custom_pods(cx, o, "/spec/podSelector", true)
            {
                continue;
            }
            let v = cx.value(o);
            let sel = v.ptr("/spec/podSelector").unwrap_or(&Value::Null);
            let ml = sel
                .key("matchLabels")
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
                        .filter(|(k, val)| {
                            w.labels.get(k.as_str()).map(String::as_str) == val.as_str()
                        })
                        .count();
                    (same, w)
                })
                .filter(|(same, _)| *same > 0)
                .max_by_key(|(same, _)| *same);
            if best.is_none() {
                // No label in common: a pod label with the same key name under another prefix
                // (`app.kubernetes.io/component` vs `component`), ranked by the words its value
                // and the workload's name share with the selector value and the policy's name.
                let short = |k: &str| k.rsplit('/').next().unwrap_or(k).to_string();
                let words = |s: &str| -> Vec<String> {
                    s.split(|c: char| !c.is_ascii_alphanumeric())
                        .filter(|w| !w.is_empty())
                        .map(str::to_ascii_lowercase)
                        .collect()
                };
                let shared = |a: &str, b: &str| {
                    let wb = words(b);
                    words(a).iter().filter(|w| wb.contains(w)).count()
                };
                let mut cands: Vec<(usize, String)> = Vec::new();
                for (k, val) in &ml {
                    let val = val.as_str().unwrap_or_default();
                    for w in cx.inv.workloads_in(&ns) {
                        for (pk, pv) in w.labels.iter().filter(|(pk, _)| {
                            short(pk) == short(k) && !crate::inventory::is_controller_label(pk)
                        }) {
                            let score =
                                shared(val, pv) + shared(&o.resource.name, &w.object.resource.name);
                            if score > 0 {
                                cands.push((
                                    score,
                                    format!(
                                        "; closest: {} carries {pk}: {pv}, not {k}: {val}",
                                        crate::rules::guards::wname(w)
                                    ),
                                ));
                            }
                        }
                    }
                }
                if let Some((_, h)) = cands.iter().rev().max_by_key(|(s, _)| *s) {
                    hint = h.clone();
                }
            }
            if let Some((_, w)) = best {
                let diff: Vec<String> = ml
                    .iter()
                    .filter(|(k, val)| w.labels.get(k.as_str()).map(String::as_str) != val.as_str())
                    .map(|(k, val)| match w.labels.get(k.as_str()) {
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
                o,
                &o.base.key("spec").key("podSelector"),
                format!(
                    "NetworkPolicy {} selects no pod of the release (podSelector {{{}}}): it protects and allows nothing, and any default-deny beside it cuts the traffic it was meant to allow{hint}",
                    o.resource.name,
                    show_labels(&ml)
                ),
                None,
            );
            e.finding.suggestion = crate::finding::suggest(
                "fix the chart's podSelector to the pods' labels; netpol-cut-traffic (CH603) restores the traffic meanwhile",
            );
        }
    }
}
