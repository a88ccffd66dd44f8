//! CH605 netpol-namespace: a NetworkPolicy pinned to a namespace other than the release's.

use super::chart_objects;
use crate::finding::{Applicability, Severity};
use crate::rules::{Context, Rule, RuleMeta, Sink};

pub(crate) static META: RuleMeta = RuleMeta {
    code: "CH605",
    name: "netpol-namespace",
    group: "audit",
    summary: "A NetworkPolicy whose `metadata.namespace` differs from the namespace the release is installed into (known from `--namespace`).",
    why: "A NetworkPolicy only selects pods of its own namespace. A policy hard-coded to another \
namespace protects none of the release's pods (and may cut traffic of unrelated pods there).",
    example: "# helm install -n shop …\nkind: NetworkPolicy\nmetadata:\n  name: web\n  namespace: default   # ≠ shop",
    fix: Applicability::ReportOnly,
    fix_also_safe: false,
    fix_notes: "Report only: the namespace may be deliberate (a policy for a shared namespace).",
    options: "`--namespace` must be given for this rule to run.",
    severity: Severity::Warning,
    default_enabled: true,
};

/// CH605.
pub struct NpNamespace;

impl Rule for NpNamespace {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context<'_>, out: &mut Sink) {
        let Some(release) = cx
            .inv
            .release_namespace
            .as_deref()
            .filter(|n| !n.is_empty())
        else {
            return;
        };
        for o in chart_objects(cx, "NetworkPolicy", &META) {
            let Some(ns) = o.resource.namespace.as_deref() else {
                continue;
            };
            if ns == release {
                continue;
            }
            let pods = cx
                .inv
                .workloads
                .iter()
                .filter(|w| w.namespace == ns)
                .count();
            out.emit(
                &META,
                o,
                &o.base.key("metadata").key("namespace"),
                format!(
                    "NetworkPolicy {} lives in namespace {ns} but the release is installed into {release}: it selects none of the release's pods there{}",
                    o.resource.name,
                    if pods == 0 {
                        " (no workload of the release is in that namespace)".to_string()
                    } else {
                        format!(" (only the {pods} workload(s) the chart also pins to {ns})")
                    }
                ),
                None,
            );
        }
    }
}
