//! CH522 missing-resources.

use crate::yaml::Value;

use crate::finding::{Applicability, Severity};
use crate::rules::{workloads, Context, Rule, RuleMeta, Sink};
use crate::yaml::view::ValueExt;

pub(crate) static META: RuleMeta = RuleMeta {
    code: "CH522",
    name: "missing-resources",
    group: "availability",
    summary: "Report containers without cpu/memory requests or a memory limit, when no enabled rule or LimitRange provides them.",
    why: "Without requests the scheduler packs pods blindly and they are the first evicted under \
pressure; without a memory limit one leaking container can push its node out of memory. A \
namespace with a ResourceQuota rejects such pods outright.",
    example: "containers:\n- name: app\n  resources: {}    # reported: no requests.cpu, requests.memory, limits.memory",
    fix: Applicability::ReportOnly,
    fix_also_safe: false,
    fix_notes: "Report-only here: sizes depend on the workload. It stays silent when another \
enabled rule whose name mentions resources covers the same containers (e.g. CH405 \
default-resources, whose finding says whether its fix applied), and for containers in a \
namespace where the stream ships a LimitRange with container defaults.",
    options: "none",
    severity: Severity::Warning,
    default_enabled: true,
};

/// CH522.
pub struct MissingResources;

/// True when another enabled rule reports (and, when its fix is allowed, sets) container
/// resources in this run: its finding already says what is missing.
fn fixed_elsewhere(cx: &Context<'_>) -> bool {
    crate::rules::all()
        .iter()
        .map(|r| r.meta())
        .any(|m| m.code != META.code && m.name.contains("resources") && cx.cfg.rule_enabled(m))
}

/// Namespaces (effective) with a LimitRange that defaults container requests or limits.
fn limit_range_namespaces(cx: &Context<'_>) -> Vec<String> {
    cx.inv
        .of_kind("LimitRange")
        .filter(|o| {
            cx.value(o)
                .ptr("/spec/limits")
                .and_then(Value::as_array)
                .is_some_and(|ls| {
                    ls.iter().any(|l| {
                        l.key("type").and_then(Value::as_str) == Some("Container")
                            && (l.key("default").is_some() || l.key("defaultRequest").is_some())
                    })
                })
        })
        .map(|o| cx.inv.namespace_of(&o.resource))
        .collect()
}

impl Rule for MissingResources {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context<'_>, out: &mut Sink) {
        if fixed_elsewhere(cx) {
            return;
        }
        let lr = limit_range_namespaces(cx);
        for w in workloads(cx, &META) {
            if lr
                .iter()
                .any(|ns| crate::inventory::Inventory::same_namespace(ns, &w.namespace))
            {
                continue;
            }
            for c in w
                .containers
                .iter()
                .filter(|c| c.list != "ephemeralContainers")
            {
                let cv = cx.at(w.object.doc(), &c.path).unwrap_or(&Value::Null);
                let res = cv.key("resources").unwrap_or(&Value::Null);
                let missing: Vec<&str> = [
                    ("/requests/cpu", "requests.cpu"),
                    ("/requests/memory", "requests.memory"),
                    ("/limits/memory", "limits.memory"),
                ]
                .into_iter()
                .filter(|(p, _)| res.ptr(p).is_none_or(Value::is_null))
                .map(|(_, n)| n)
                .collect();
                if missing.is_empty() {
                    continue;
                }
                let e = out.emit(
                    &META,
                    &w.object,
                    &c.path.key("resources"),
                    format!(
                        "{} {:?} sets no {}",
                        if c.list == "initContainers" {
                            "init container"
                        } else {
                            "container"
                        },
                        c.name,
                        missing.join(", ")
                    ),
                    None,
                );
                e.finding.suggestion = crate::finding::suggest(
                    "set resources.requests (cpu, memory) from observed usage and a memory limit, through the chart's values; or ship a LimitRange with container defaults in the namespace",
                );
            }
        }
    }
}
