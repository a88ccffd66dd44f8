//! CH512 rbac-secrets-read.

use super::{cluster_wide, grantees, roles};
use crate::finding::{Applicability, Severity};
use crate::rules::{Context, Rule, RuleMeta, Sink};

pub(crate) static META: RuleMeta = RuleMeta {
    code: "CH512",
    name: "rbac-secrets-read",
    group: "rbac",
    summary: "Report read access (get/list/watch) to Secrets that is not limited by `resourceNames`.",
    why: "`list`/`watch` on Secrets returns their values: whoever holds the ServiceAccount token \
reads every password, key and token in the namespace (or, through a ClusterRoleBinding, in the \
whole cluster).",
    example: "rules:\n- apiGroups: [\"\"]\n  resources: [\"secrets\"]\n  verbs: [\"get\", \"list\", \"watch\"]   # reported",
    fix: Applicability::ReportOnly,
    fix_also_safe: false,
    fix_notes: "Report-only: narrowing breaks controllers that really watch Secrets (cert-manager, \
ingress controllers); the suggestion is `get` with `resourceNames`, in a namespaced Role.",
    options: "none",
    severity: Severity::Warning,
    default_enabled: true,
};

/// CH512.
pub struct RbacSecretsRead;

impl Rule for RbacSecretsRead {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context<'_>, out: &mut Sink) {
        for role in roles(cx, &META) {
            let wide = cluster_wide(cx, &role);
            // Listed only when a finding names them (a role bound from many releases lists
            // every binding).
            let who_lazy = std::cell::LazyCell::new(|| grantees(cx, &role));
            for r in &role.rules {
                let core = r.api_groups().any(|g| g.is_empty() || g == "*");
                let secrets = r.resources().any(|x| x == "secrets" || x == "*");
                let read: Vec<&str> = r
                    .verbs()
                    .filter(|v| matches!(*v, "get" | "list" | "watch" | "*"))
                    .collect();
                if !core || !secrets || read.is_empty() {
                    continue;
                }
                // `get` on named Secrets is the narrow form already.
                let only_get = read.iter().all(|v| *v == "get");
                if only_get && r.resource_names().next().is_some() {
                    continue;
                }
                let scope = if wide {
                    "in every namespace (ClusterRoleBinding)"
                } else if role.is_cluster_role() {
                    "in the namespaces of its RoleBindings"
                } else {
                    "in its namespace"
                };
                let who = &*who_lazy;
                let e = out.emit(
                    &META,
                    role.object,
                    &r.path(&role.object.base).key("verbs"),
                    format!(
                        "rule {} lets {who} read Secrets ({}) {scope}",
                        r.index,
                        super::list(read)
                    ),
                    None,
                );
                e.finding.suggestion = crate::finding::suggest(
                    "grant only `get` with `resourceNames: [<the Secrets it needs>]` in a namespaced Role; if it must watch Secrets, scope it to one namespace and select them by label in the controller",
                );
            }
        }
    }
}
