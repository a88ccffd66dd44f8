//! CH514 rbac-cluster-scope.

use std::collections::BTreeSet;

use crate::yaml::Value;

use super::{bindings_of, cluster_wide, grantees, group_name, is_cluster_scoped, roles};
use crate::finding::{Applicability, Severity};
use crate::rules::{Context, Rule, RuleMeta, Sink};
use crate::yaml::view::ValueExt;

pub(crate) static META: RuleMeta = RuleMeta {
    code: "CH514",
    name: "rbac-cluster-scope",
    group: "rbac",
    summary: "Report ClusterRoles where a namespaced Role would do: bound only by RoleBindings, or granting namespaced resources in every namespace.",
    why: "A ClusterRoleBinding over namespaced resources (pods, configmaps, pods/log, …) grants \
them in every namespace of the cluster, including other teams' and kube-system. A ClusterRole \
that is only ever bound by RoleBindings is a Role in disguise, and one more cluster object that \
others can bind.",
    example: "kind: ClusterRole\nrules:\n- apiGroups: [\"\"]\n  resources: [\"pods\", \"pods/log\"]\n  verbs: [\"get\", \"list\", \"watch\"]\n---\nkind: ClusterRoleBinding   # reported: pods in every namespace",
    fix: Applicability::ReportOnly,
    fix_also_safe: false,
    fix_notes: "Report-only: controllers that watch the whole cluster need the ClusterRole; only \
the chart's users know whether the workload should see one namespace or all.",
    options: "none",
    severity: Severity::Warning,
    default_enabled: true,
};

/// Namespaced resources whose cluster-wide read exposes other tenants' data.
const SENSITIVE: &[&str] = &[
    "secrets",
    "configmaps",
    "pods/log",
    "pods/exec",
    "pods/attach",
    "pods/portforward",
    "serviceaccounts/token",
];

/// CH514.
pub struct RbacClusterScope;

impl Rule for RbacClusterScope {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context<'_>, out: &mut Sink) {
        for role in roles(cx, &META) {
            if !role.is_cluster_role() || role.value.key("aggregationRule").is_some() {
                continue;
            }
            let aggregated = role
                .value
                .ptr("/metadata/labels")
                .and_then(Value::as_object)
                .is_some_and(|l| {
                    l.keys()
                        .any(|k| k.starts_with("rbac.authorization.k8s.io/aggregate-to-"))
                });
            if aggregated {
                continue;
            }
            let bindings = bindings_of(cx, &role);
            if bindings.is_empty() {
                continue;
            }
            let mut namespaced: BTreeSet<String> = BTreeSet::new();
            let mut cluster: BTreeSet<String> = BTreeSet::new();
            let mut writes = false;
            let mut non_resource = false;
            for r in &role.rules {
                if r.non_resource_urls().next().is_some() {
                    non_resource = true;
                }
                for g in r.api_groups() {
                    for res in r.resources() {
                        let label = if g.is_empty() {
                            res.to_string()
                        } else {
                            format!("{res}.{g}")
                        };
                        if is_cluster_scoped(cx, g, res) || res == "*" {
                            cluster.insert(label);
                        } else {
                            namespaced.insert(label);
                            if r.verbs().any(|v| !matches!(v, "get" | "list" | "watch")) {
                                writes = true;
                            }
                        }
                    }
                }
            }
            if namespaced.is_empty() {
                continue;
            }
            let who = grantees(cx, &role);
            if !cluster_wide(cx, &role) {
                if !cluster.is_empty() || non_resource {
                    continue;
                }
                let namespaces: BTreeSet<String> = bindings
                    .iter()
                    .map(|b| {
                        let ns = cx.inv.namespace_of(&b.resource);
                        if ns.is_empty() {
                            "the release namespace".to_string()
                        } else {
                            ns
                        }
                    })
                    .collect();
                let e = out.emit(
                    &META,
                    role.object,
                    &role.object.base.key("kind"),
                    format!(
                        "ClusterRole {:?} is bound only by RoleBindings and grants only namespaced resources ({}); granted to {who}",
                        role.object.resource.name,
                        namespaced.iter().cloned().collect::<Vec<_>>().join(", ")
                    ),
                    None,
                );
                e.finding.suggestion = crate::finding::suggest(format!(
                    "make it a Role (same rules) in {} and point the RoleBindings' roleRef at it: same permissions, no cluster object others can bind",
                    namespaces.into_iter().collect::<Vec<_>>().join(", ")
                ));
                continue;
            }
            let sensitive: Vec<&String> = namespaced
                .iter()
                .filter(|l| SENSITIVE.contains(&l.as_str()))
                .collect();
            let e = out.emit(
                &META,
                role.object,
                &role.object.base.key("rules"),
                format!(
                    "ClusterRole {:?} grants namespaced resources in every namespace through a ClusterRoleBinding ({}){}; granted to {who}",
                    role.object.resource.name,
                    namespaced.iter().cloned().collect::<Vec<_>>().join(", "),
                    if sensitive.is_empty() {
                        String::new()
                    } else {
                        format!(
                            ", including {} of other namespaces",
                            sensitive.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                        )
                    }
                ),
                None,
            );
            if sensitive.is_empty() && !writes {
                e.finding.severity = Severity::Info;
            }
            let keep = if cluster.is_empty() {
                String::new()
            } else {
                format!(
                    "; keep a ClusterRole only for the cluster-scoped resources ({})",
                    cluster.iter().cloned().collect::<Vec<_>>().join(", ")
                )
            };
            e.finding.suggestion = crate::finding::suggest(format!(
                "if the workload only works in its own namespace (or a known list), move the rules on namespaced resources to a Role bound by a RoleBinding in each of those namespaces{keep}; API groups involved: {}",
                role.rules
                    .iter()
                    .flat_map(|r| r.api_groups().map(group_name))
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
}
