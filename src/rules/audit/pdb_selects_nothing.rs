//! CH612 pdb-selects-nothing: a PodDisruptionBudget that selects no pod of the release.

use super::{chart_objects, selected};
use crate::finding::{Applicability, Severity};
use crate::rules::{Context, Rule, RuleMeta, Sink};
use crate::yaml::view::ValueExt;

pub(crate) static META: RuleMeta = RuleMeta {
    code: "CH612",
    name: "pdb-selects-nothing",
    group: "audit",
    summary: "A PodDisruptionBudget the chart ships whose selector matches no pod of the release.",
    why: "A budget that selects nothing protects nothing: the workload it was written for can \
lose every replica at once in a drain. Usually its labels drifted from the pods'.",
    example: "kind: PodDisruptionBudget\nspec:\n  selector:\n    matchLabels: {app: web-server}   # pods carry app: web",
    fix: Applicability::ReportOnly,
    fix_also_safe: false,
    fix_notes: "Report only: which pods were meant is a guess.",
    options: "none",
    severity: Severity::Warning,
    default_enabled: true,
};

/// CH612.
pub struct PdbSelectsNothing;

impl Rule for PdbSelectsNothing {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context<'_>, out: &mut Sink) {
        if cx.inv.workloads.is_empty() {
            return;
        }
        for o in chart_objects(cx, "PodDisruptionBudget", &META) {
            if !selected(cx, o, "/spec/selector", false).is_empty()
                || super::selects_custom_pods(cx, o, "/spec/selector", false)
            {
                continue;
            }
            let has_selector = cx
                .value(o)
                .ptr("/spec/selector")
                .is_some_and(|s| s.is_object());
            out.emit(
                &META,
                o,
                &o.base.key("spec").key("selector"),
                format!(
                    "PodDisruptionBudget {} selects no pod of the release{}: it protects nothing",
                    o.resource.name,
                    if has_selector {
                        ""
                    } else {
                        " (it has no selector)"
                    }
                ),
                None,
            );
        }
    }
}
