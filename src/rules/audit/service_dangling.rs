//! CH631 service-selects-nothing: a Service whose selector matches no pod of the release.

use super::chart_objects;
use crate::finding::{Applicability, Severity};
use crate::inventory::Inventory;
use crate::rules::{Context, Rule, RuleMeta, Sink};

pub(crate) static META: RuleMeta = RuleMeta {
    code: "CH631",
    name: "service-selects-nothing",
    group: "audit",
    summary: "A Service with a selector that matches no pod template of the release.",
    why: "A Service without endpoints accepts connections and drops them: clients see timeouts \
or `connection refused`, and the chart is broken before any hardening. Usually the labels \
drifted, or the workload is disabled while its Service is not.",
    example: "kind: Service\nspec:\n  selector: {app: api-server}   # the Deployment's pods carry app: api",
    fix: Applicability::ReportOnly,
    fix_also_safe: false,
    fix_notes: "Report only. Pods from outside the release (another chart, an operator) may carry \
the labels: the finding is a warning.",
    options: "none",
    severity: Severity::Warning,
    default_enabled: true,
};

/// CH631.
pub struct ServiceSelectsNothing;

impl Rule for ServiceSelectsNothing {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context<'_>, out: &mut Sink) {
        for o in chart_objects(cx, "Service", &META) {
            let Some(s) = cx.inv.service_of(o) else {
                continue;
            };
            if s.selector.is_empty() {
                continue; // manual endpoints / ExternalName
            }
            if cx
                .inv
                .workloads_selected_by(&s.namespace, &s.selector)
                .into_iter()
                .any(|i| Inventory::same_namespace(&s.namespace, &cx.inv.workloads[i].namespace))
            {
                continue;
            }
            // A custom resource's pods (an Argo Rollout's) are pods of the release too.
            if super::custom_pod_labels(cx, &o.resource)
                .any(|labels| crate::inventory::selects(&s.selector, &labels))
            {
                continue;
            }
            let sel: Vec<String> = s
                .selector
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect();
            out.emit(
                &META,
                o,
                &o.base.key("spec").key("selector"),
                format!(
                    "Service {} selects no pod of the release (selector {{{}}}): it has no endpoints and its clients fail",
                    s.name,
                    sel.join(", ")
                ),
                None,
            );
        }
    }
}
