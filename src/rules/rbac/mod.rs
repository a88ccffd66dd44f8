//! RBAC breadth rules: report (never change) Roles and ClusterRoles that grant more than a
//! workload is likely to need, each finding with the narrower rule to use instead.

use std::collections::{BTreeMap, BTreeSet};

use crate::yaml::Value;

use crate::document::Object;
use crate::inventory::rbac::PolicyRule;
use crate::rules::{Context, Rule, RuleMeta};
use crate::yaml::view::ValueExt;

mod cluster_scope;
mod escalation_verbs;
mod secrets_read;
mod wildcard;

/// The rules of this group, in run order.
pub fn rules() -> Vec<Box<dyn Rule>> {
    vec![
        Box::new(wildcard::RbacWildcard),
        Box::new(secrets_read::RbacSecretsRead),
        Box::new(escalation_verbs::RbacEscalationVerbs),
        Box::new(cluster_scope::RbacClusterScope),
    ]
}

/// A Role or ClusterRole of the release.
pub(crate) struct RoleObj<'a> {
    pub object: &'a Object,
    pub value: &'a Value,
    pub rules: Vec<PolicyRule<'a>>,
}

impl RoleObj<'_> {
    pub fn is_cluster_role(&self) -> bool {
        self.object.resource.kind == "ClusterRole"
    }
}

/// Roles and ClusterRoles (rbac.authorization.k8s.io), skipping those opted out for `meta`.
pub(crate) fn roles<'a>(cx: &'a Context<'a>, meta: &'static RuleMeta) -> Vec<RoleObj<'a>> {
    cx.role_rules()
        .into_iter()
        .filter_map(|(kind, i, rules)| {
            let o = cx.inv.by_kind.get(kind)?.get(i)?;
            let v = cx.value(o);
            (!crate::rules::skipped_object(v, meta)).then_some(RoleObj {
                object: o,
                value: v,
                rules,
            })
        })
        .collect()
}

/// Bindings that reference this role: a ClusterRole's from anywhere, a Role's only from its
/// own namespace (Kubernetes resolves a RoleBinding's `roleRef` to a Role in the binding's
/// namespace).
fn bindings_to_role<'a>(
    cx: &'a Context<'a>,
    role: &'a RoleObj<'_>,
) -> impl Iterator<Item = &'a crate::inventory::Binding> + 'a {
    let kind = &role.object.resource.kind;
    cx.inv
        .bindings_to(kind, &role.object.resource.name)
        .filter(move |b| {
            kind == "ClusterRole"
                || crate::inventory::Inventory::same_namespace(
                    cx.inv.namespace_str(&b.object.resource),
                    cx.inv.namespace_str(&role.object.resource),
                )
        })
}

/// Bindings (kind, name, namespace) that reference this role.
pub(crate) fn bindings_of<'a>(cx: &'a Context<'a>, role: &'a RoleObj<'_>) -> Vec<&'a Object> {
    bindings_to_role(cx, role).map(|b| &b.object).collect()
}

/// Who gets the role: `ServiceAccount ns/name via ClusterRoleBinding x`, for messages. Each
/// grant once (a role the stream repeats is bound once), and only through bindings that
/// reference this role ([`bindings_of`]: a RoleBinding of another namespace names another
/// Role).
pub(crate) fn grantees(cx: &Context<'_>, role: &RoleObj<'_>) -> String {
    let mut parts: Vec<String> = Vec::new();
    for b in bindings_to_role(cx, role) {
        for (ns, sa) in &b.subjects {
            let ns = ns
                .as_deref()
                .unwrap_or_else(|| cx.inv.namespace_str(&b.object.resource));
            let who = if ns.is_empty() {
                sa.clone()
            } else {
                format!("{ns}/{sa}")
            };
            let part = format!(
                "ServiceAccount {who} via {} {}",
                b.object.resource.kind, b.object.resource.name
            );
            if !parts.contains(&part) {
                parts.push(part);
            }
        }
    }
    if parts.is_empty() {
        "no ServiceAccount of the release".to_string()
    } else {
        parts.join(", ")
    }
}

/// True for a ClusterRole bound by at least one ClusterRoleBinding (a cluster-wide grant).
pub(crate) fn cluster_wide(cx: &Context<'_>, role: &RoleObj<'_>) -> bool {
    role.is_cluster_role()
        && bindings_of(cx, role)
            .iter()
            .any(|b| b.resource.kind == "ClusterRoleBinding")
}

/// Kubernetes' resource name of a kind (lower-case plural), for suggestions.
fn plural(kind: &str) -> String {
    let k = kind.to_ascii_lowercase();
    match k.as_str() {
        "endpoints" => k,
        _ if k.ends_with('s') || k.ends_with('x') || k.ends_with("ch") || k.ends_with("sh") => {
            format!("{k}es")
        }
        _ if k.ends_with('y') && !k.ends_with("ay") && !k.ends_with("ey") && !k.ends_with("oy") => {
            format!("{}ies", &k[..k.len() - 1])
        }
        _ => format!("{k}s"),
    }
}

/// Resources the release itself defines or ships, by API group: the plurals of its
/// CustomResourceDefinitions and of the kinds it renders. What a chart's controller most
/// likely works on, hence the concrete list to put instead of `*`.
pub(crate) fn chart_resources(cx: &Context<'_>) -> BTreeMap<String, BTreeSet<String>> {
    let mut m: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for d in cx.docs {
        for o in &d.objects {
            let v = d.object_value(o);
            if o.resource.kind == "CustomResourceDefinition" {
                if let (Some(g), Some(p)) = (
                    v.ptr("/spec/group").and_then(Value::as_str),
                    v.ptr("/spec/names/plural").and_then(Value::as_str),
                ) {
                    m.entry(g.to_string()).or_default().insert(p.to_string());
                }
                continue;
            }
            if o.resource.kind.is_empty() {
                continue;
            }
            let group = o
                .resource
                .api_version
                .rsplit_once('/')
                .map_or("", |(g, _)| g)
                .to_string();
            m.entry(group).or_default().insert(plural(&o.resource.kind));
        }
    }
    m
}

/// `"" (core)` style display of an API group.
pub(crate) fn group_name(g: &str) -> String {
    if g.is_empty() {
        "\"\" (core)".to_string()
    } else {
        g.to_string()
    }
}

/// Cluster-scoped built-in resources (everything else is treated as namespaced, except
/// custom resources whose CRD in the stream says `scope: Cluster`).
pub(crate) const CLUSTER_SCOPED: &[&str] = &[
    "namespaces",
    "nodes",
    "nodes/status",
    "nodes/proxy",
    "nodes/metrics",
    "nodes/stats",
    "persistentvolumes",
    "componentstatuses",
    "clusterroles",
    "clusterrolebindings",
    "customresourcedefinitions",
    "apiservices",
    "storageclasses",
    "csidrivers",
    "csinodes",
    "volumeattachments",
    "priorityclasses",
    "runtimeclasses",
    "ingressclasses",
    "mutatingwebhookconfigurations",
    "validatingwebhookconfigurations",
    "validatingadmissionpolicies",
    "validatingadmissionpolicybindings",
    "certificatesigningrequests",
    "certificatesigningrequests/approval",
    "certificatesigningrequests/status",
    "tokenreviews",
    "subjectaccessreviews",
    "selfsubjectaccessreviews",
    "selfsubjectrulesreviews",
    "flowschemas",
    "prioritylevelconfigurations",
    "podsecuritypolicies",
];

/// True when the resource is cluster-scoped (built-in list, CRDs in the stream with
/// `scope: Cluster`, or a custom resource named `cluster…`).
pub(crate) fn is_cluster_scoped(cx: &Context<'_>, group: &str, resource: &str) -> bool {
    let base = resource.split('/').next().unwrap_or(resource);
    if CLUSTER_SCOPED.contains(&resource) || CLUSTER_SCOPED.contains(&base) {
        return true;
    }
    if let Some(cluster) = cx.crd_cluster_scoped(group, base) {
        return cluster;
    }
    !group.is_empty() && base.starts_with("cluster")
}

/// Joins for messages.
pub(crate) fn list<'s>(v: impl IntoIterator<Item = &'s str>) -> String {
    v.into_iter().collect::<Vec<_>>().join(", ")
}
