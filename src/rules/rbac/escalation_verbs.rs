//! CH513 rbac-escalation-verbs.

use super::{grantees, roles};
use crate::finding::{Applicability, Severity};
use crate::rules::{Context, Rule, RuleMeta, Sink};

pub(crate) static META: RuleMeta = RuleMeta {
    code: "CH513",
    name: "rbac-escalation-verbs",
    group: "rbac",
    summary: "Report `escalate`, `bind` and `impersonate`, and `*` verbs on RBAC objects or identities.",
    why: "`escalate` lets a subject write Roles with permissions it does not have, `bind` lets it \
bind any Role to itself, and `impersonate` lets it act as any user, group or ServiceAccount: \
each is a path to cluster-admin.",
    example: "rules:\n- apiGroups: [\"rbac.authorization.k8s.io\"]\n  resources: [\"clusterroles\"]\n  verbs: [\"bind\", \"escalate\"]   # reported",
    fix: Applicability::ReportOnly,
    fix_also_safe: false,
    fix_notes: "Report-only: removing the verb breaks operators that manage RBAC; the suggestion \
is to restrict it with `resourceNames` to the Roles it manages.",
    options: "none",
    severity: Severity::Error,
    default_enabled: true,
};

const RBAC_OR_IDENTITY: &[&str] = &[
    "roles",
    "clusterroles",
    "rolebindings",
    "clusterrolebindings",
    "users",
    "groups",
    "serviceaccounts",
    "*",
];

/// CH513.
pub struct RbacEscalationVerbs;

impl Rule for RbacEscalationVerbs {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context<'_>, out: &mut Sink) {
        for role in roles(cx, &META) {
            // Listed only when a finding names them (a role bound from many releases lists
            // every binding).
            let who_lazy = std::cell::LazyCell::new(|| grantees(cx, &role));
            for r in &role.rules {
                let mut bad: Vec<&str> = r
                    .verbs()
                    .filter(|v| matches!(*v, "escalate" | "bind" | "impersonate"))
                    .collect();
                if r.verbs().any(|v| v == "*")
                    && r.resources().any(|x| RBAC_OR_IDENTITY.contains(&x))
                {
                    bad.push("* (includes escalate, bind, impersonate)");
                }
                if bad.is_empty() {
                    continue;
                }
                let who = &*who_lazy;
                let e = out.emit(
                    &META,
                    role.object,
                    &r.path(&role.object.base).key("verbs"),
                    format!(
                        "rule {} grants {} on {} to {who}",
                        r.index,
                        super::list(bad),
                        super::list(r.resources())
                    ),
                    None,
                );
                e.finding.suggestion = crate::finding::suggest(
                    if r.resource_names().next().is_none() {
                        "remove escalate/bind/impersonate unless the workload manages RBAC; if it must, restrict the rule with `resourceNames` to the Roles (or identities) it manages"
                    } else {
                        "already limited by resourceNames; keep the list to the Roles/identities it manages"
                    },
                );
            }
        }
    }
}
