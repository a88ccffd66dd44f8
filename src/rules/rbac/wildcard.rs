//! CH511 rbac-wildcard.

use super::{chart_resources, grantees, group_name, roles};
use crate::finding::{Applicability, Severity};
use crate::rules::{Context, Rule, RuleMeta, Sink};

pub(crate) static META: RuleMeta = RuleMeta {
    code: "CH511",
    name: "rbac-wildcard",
    group: "rbac",
    summary: "Report `*` in the verbs, resources or apiGroups of a Role/ClusterRole, with the concrete list to use instead.",
    why: "A wildcard grants every present and future verb, resource or API group, including \
ones installed after the chart (CRDs of other operators, `escalate`, `impersonate`). A \
compromised workload then has far more than it ever used.",
    example: "rules:\n- apiGroups: [\"*\"]\n  resources: [\"*\"]\n  verbs: [\"*\"]    # reported: list what the controller uses",
    fix: Applicability::ReportOnly,
    fix_also_safe: false,
    fix_notes: "Report-only: only the chart's authors know which verbs and resources the \
controller calls; the suggestion lists the resources the chart itself defines (its CRDs and \
kinds) as a starting point.",
    options: "none",
    severity: Severity::Warning,
    default_enabled: true,
};

/// CH511.
pub struct RbacWildcard;

impl Rule for RbacWildcard {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context<'_>, out: &mut Sink) {
        let own = chart_resources(cx);
        for role in roles(cx, &META) {
            // Listed only when a finding names them (a role bound from many releases lists
            // every binding).
            let who_lazy = std::cell::LazyCell::new(|| grantees(cx, &role));
            for r in &role.rules {
                let path = r.path(&role.object.base);
                if r.verbs().any(|x| x == "*") {
                    let who = &*who_lazy;
                    let e = out.emit(
                        &META,
                        role.object,
                        &path.key("verbs"),
                        format!(
                            "rule {} grants every verb (`*`) on {} (granted to {who})",
                            r.index,
                            if r.resources().next().is_none() {
                                "non-resource URLs".to_string()
                            } else {
                                super::list(r.resources())
                            }
                        ),
                        None,
                    );
                    e.finding.suggestion = crate::finding::suggest(
                        "replace `*` verbs with the verbs the workload calls: get, list, watch for a reader; add create, update, patch, delete only where it writes (never escalate, bind, impersonate)",
                    );
                }
                if r.resources().any(|x| x == "*") {
                    let mut concrete = Vec::new();
                    for g in r.api_groups().filter(|g| *g != "*") {
                        if let Some(rs) = own.get(g) {
                            concrete.push(format!(
                                "{}: {}",
                                group_name(g),
                                rs.iter().cloned().collect::<Vec<_>>().join(", ")
                            ));
                        }
                    }
                    let hint = if concrete.is_empty() {
                        "list the resources of these API groups the workload uses".to_string()
                    } else {
                        format!(
                            "the chart itself defines: {}; start from those",
                            concrete.join("; ")
                        )
                    };
                    let who = &*who_lazy;
                    let e = out.emit(
                        &META,
                        role.object,
                        &path.key("resources"),
                        format!(
                            "rule {} grants every resource (`*`) of API group(s) {} (granted to {who})",
                            r.index,
                            r.api_groups().map(group_name).collect::<Vec<_>>().join(", ")
                        ),
                        None,
                    );
                    e.finding.suggestion = crate::finding::suggest(format!(
                        "replace `resources: [\"*\"]` with the concrete resources: {hint}"
                    ));
                }
                if r.api_groups().any(|x| x == "*") {
                    let groups: Vec<String> =
                        own.keys().filter(|g| !g.is_empty()).cloned().collect();
                    let who = &*who_lazy;
                    let e = out.emit(
                        &META,
                        role.object,
                        &path.key("apiGroups"),
                        format!(
                            "rule {} applies to every API group (`*`), including those of CRDs installed later (granted to {who})",
                            r.index
                        ),
                        None,
                    );
                    e.finding.suggestion = crate::finding::suggest(if groups.is_empty() {
                        "replace `apiGroups: [\"*\"]` with the groups the workload uses (\"\" for core)".to_string()
                    } else {
                        format!(
                            "replace `apiGroups: [\"*\"]` with the groups the workload uses; the chart's own kinds are in: \"\" (core), {}",
                            groups.join(", ")
                        )
                    });
                }
            }
        }
    }
}
