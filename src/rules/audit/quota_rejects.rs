//! CH621 quota-rejects-containers: a ResourceQuota constraining cpu/memory, without a
//! LimitRange from the chart giving defaults, rejects containers that set no requests/limits.

use std::collections::BTreeSet;

use crate::yaml::Value;

use super::chart_objects;
use crate::finding::{Applicability, Severity};
use crate::inventory::is_generated;
use crate::inventory::Inventory;
use crate::rules::{Context, Rule, RuleMeta, Sink};
use crate::yaml::view::ValueExt;

pub(crate) static META: RuleMeta = RuleMeta {
    code: "CH621",
    name: "quota-rejects-containers",
    group: "audit",
    summary: "A ResourceQuota that constrains cpu/memory in a namespace where the chart ships no LimitRange defaulting them: lists every container (init containers included) the API server would reject.",
    why: "Once a quota constrains `requests.cpu` (or memory, or limits) every new pod must set that \
value for every container, init containers included; pods that do not are rejected at admission \
and the rollout stalls with a ReplicaSet event nobody reads.",
    example: "# ResourceQuota hard: {requests.cpu: \"4\"}, no LimitRange;\n# Deployment api initContainers[0] \"wait-db\" sets no resources → rejected",
    fix: Applicability::ReportOnly,
    fix_also_safe: false,
    fix_notes: "Report only here: generate-limit-range (CH403) adds the LimitRange with defaults \
(safe fix), and default-resources (CH405) sets explicit values (unsafe fix). This finding names \
the containers that depend on them.",
    options: "none",
    severity: Severity::Warning,
    default_enabled: true,
};

/// Resource fields a quota's `hard` keys constrain: (`requests`|`limits`, `cpu`|`memory`).
fn constrained(hard: &crate::yaml::Map) -> Vec<(&'static str, &'static str)> {
    let mut out = Vec::new();
    for res in ["cpu", "memory"] {
        if hard.contains_key(res) || hard.contains_key(&format!("requests.{res}")) {
            out.push(("requests", res));
        }
        if hard.contains_key(&format!("limits.{res}")) {
            out.push(("limits", res));
        }
    }
    out
}

/// Which (kind, resource) defaults the chart's LimitRanges in `ns` provide.
fn chart_defaults(cx: &Context<'_>, ns: &str) -> BTreeSet<(&'static str, String)> {
    let mut out = BTreeSet::new();
    for o in cx.inv.of_kind("LimitRange") {
        let v = cx.value(o);
        if is_generated(v) || !Inventory::same_namespace(&cx.inv.namespace_of(&o.resource), ns) {
            continue;
        }
        for item in v
            .ptr("/spec/limits")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if item.key("type").and_then(Value::as_str) != Some("Container") {
                continue;
            }
            for (field, kind) in [("defaultRequest", "requests"), ("default", "limits")] {
                for k in item
                    .get(field)
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                    .map(|(k, _)| k)
                {
                    out.insert((kind, k.to_string()));
                    if kind == "limits" {
                        // A default limit also defaults the request.
                        out.insert(("requests", k.to_string()));
                    }
                }
            }
        }
    }
    out
}

/// CH621.
pub struct QuotaRejects;

impl Rule for QuotaRejects {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context<'_>, out: &mut Sink) {
        for q in chart_objects(cx, "ResourceQuota", &META) {
            let v = cx.value(q);
            let Some(hard) = v.ptr("/spec/hard").and_then(Value::as_object) else {
                continue;
            };
            let ns = cx.inv.namespace_of(&q.resource);
            // Once generate-limit-range (CH403) added its LimitRange the containers get
            // defaults: this finding (made on the chart as shipped) is not repeated.
            let generated_lr = cx.inv.of_kind("LimitRange").any(|o| {
                is_generated(cx.value(o))
                    && Inventory::same_namespace(&cx.inv.namespace_of(&o.resource), &ns)
            });
            if generated_lr {
                continue;
            }
            let defaults = chart_defaults(cx, &ns);
            let need: Vec<(&str, &str)> = constrained(hard)
                .into_iter()
                .filter(|(k, r)| !defaults.contains(&(*k, (*r).to_string())))
                .collect();
            if need.is_empty() {
                continue;
            }
            let mut rejected: Vec<String> = Vec::new();
            for w in cx.inv.workloads_in(&ns) {
                if !Inventory::same_namespace(&w.namespace, &ns) {
                    continue;
                }
                for c in w
                    .containers
                    .iter()
                    .filter(|c| c.list != "ephemeralContainers")
                {
                    let Some(cv) = cx.at(w.object.doc(), &c.path) else {
                        continue;
                    };
                    let has = |kind: &str, res: &str| {
                        cv.ptr(&format!("/resources/{kind}/{res}"))
                            .is_some_and(|x| !x.is_null())
                    };
                    let lacks: Vec<String> = need
                        .iter()
                        .filter(|(kind, res)| {
                            !(has(kind, res) || (*kind == "requests" && has("limits", res)))
                        })
                        .map(|(kind, res)| format!("{kind}.{res}"))
                        .collect();
                    if !lacks.is_empty() {
                        rejected.push(format!(
                            "{}/{} {}{:?} (no {})",
                            w.object.resource.kind,
                            w.object.resource.name,
                            if c.list == "initContainers" {
                                "init container "
                            } else {
                                "container "
                            },
                            c.name,
                            lacks.join(", ")
                        ));
                    }
                }
            }
            if rejected.is_empty() {
                continue;
            }
            let e = out.emit(
                &META,
                q,
                &q.base.key("spec").key("hard"),
                format!(
                    "ResourceQuota {} constrains {} and the chart ships no LimitRange defaulting them: the API server would reject pods for {} container(s): {}",
                    q.resource.name,
                    need.iter().map(|(k, r)| format!("{k}.{r}")).collect::<Vec<_>>().join(", "),
                    rejected.len(),
                    rejected.join("; ")
                ),
                None,
            );
            e.finding.suggestion = crate::finding::suggest(
                "keep generate-limit-range (CH403) on (it adds the LimitRange), or set requests/limits on these containers",
            );
        }
    }
}
