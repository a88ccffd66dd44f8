//! CH613 pdb-overlap: two PodDisruptionBudgets over the same pods.

use super::wn;
use crate::finding::{Applicability, Severity};
use crate::rules::{workloads_indexed, Context, Rule, RuleMeta, Sink};
use crate::yaml::Path;

pub(crate) static META: RuleMeta = RuleMeta {
    code: "CH613",
    name: "pdb-overlap",
    group: "audit",
    summary: "A workload whose pods are selected by more than one PodDisruptionBudget.",
    why: "The eviction API refuses to evict a pod covered by several budgets (\"This pod has more \
than one PodDisruptionBudget, which the eviction subresource does not support\"): drains fail on \
these pods.",
    example: "# PDB web (app: web) and PDB all (app.kubernetes.io/instance: shop) both select the web pods",
    fix: Applicability::ReportOnly,
    fix_also_safe: false,
    fix_notes: "Report only: which budget to keep is the chart author's decision.",
    options: "none",
    severity: Severity::Error,
    default_enabled: true,
};

/// CH613.
pub struct PdbOverlap;

impl Rule for PdbOverlap {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context<'_>, out: &mut Sink) {
        for (i, w) in workloads_indexed(cx, &META) {
            let pdbs = cx.selecting("PodDisruptionBudget", "/spec/selector", w);
            if pdbs.len() < 2 {
                continue;
            }
            let names: Vec<String> = pdbs.iter().map(|o| o.resource.name.to_string()).collect();
            out.emit(
                &META,
                &w.object,
                &Path::root(),
                format!(
                    "the pods of {} are selected by {} PodDisruptionBudgets ({}): the eviction API refuses to evict them, so drains fail",
                    wn(cx, i),
                    pdbs.len(),
                    names.join(", ")
                ),
                None,
            );
        }
    }
}
