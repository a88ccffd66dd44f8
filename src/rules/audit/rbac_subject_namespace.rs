//! CH635 rbac-subject-namespace: a binding grants to a ServiceAccount in a namespace other
//! than the release's.

use crate::yaml::Value;

use super::chart_objects;
use crate::finding::{Applicability, Severity};
use crate::rules::{Context, Rule, RuleMeta, Sink};
use crate::yaml::view::ValueExt;

pub(crate) static META: RuleMeta = RuleMeta {
    code: "CH635",
    name: "rbac-subject-namespace",
    group: "audit",
    summary: "A RoleBinding/ClusterRoleBinding subject names a ServiceAccount in a namespace other than the release's (known from `--namespace`).",
    why: "Charts often hard-code the subject namespace (`default`, or a value that is not the \
install namespace): the grant then goes to an account that does not exist or belongs to someone \
else, while the chart's own pods lack the permissions and fail at run time.",
    example: "# helm install -n shop …\nsubjects:\n- kind: ServiceAccount\n  name: api\n  namespace: default   # the chart's ServiceAccount api lives in shop",
    fix: Applicability::ReportOnly,
    fix_also_safe: false,
    fix_notes: "Report only: cross-namespace grants can be deliberate (a monitoring account).",
    options: "`--namespace` must be given for this rule to run.",
    severity: Severity::Warning,
    default_enabled: true,
};

/// CH635.
pub struct RbacSubjectNamespace;

impl Rule for RbacSubjectNamespace {
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
        for kind in ["RoleBinding", "ClusterRoleBinding"] {
            for o in chart_objects(cx, kind, &META) {
                let v = cx.value(o);
                for (j, s) in v
                    .key("subjects")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    if s.key("kind").and_then(Value::as_str) != Some("ServiceAccount") {
                        continue;
                    }
                    let Some(ns) = s.key("namespace").and_then(Value::as_str) else {
                        continue;
                    };
                    if ns == release {
                        continue;
                    }
                    let name = s.key("name").and_then(Value::as_str).unwrap_or_default();
                    let ours = cx
                        .inv
                        .service_accounts
                        .keys()
                        .any(|(sns, sn)| sn == name && sns == release)
                        || cx
                            .inv
                            .workloads
                            .iter()
                            .any(|w| w.service_account == name && w.namespace == release);
                    let e = out.emit(
                        &META,
                        o,
                        &o.base.key("subjects").index(j).key("namespace"),
                        if ours {
                            format!(
                                "{kind} {} grants {} {} to ServiceAccount {ns}/{name}, but the release's ServiceAccount {name} is in {release}: its pods do not get these permissions",
                                o.resource.name,
                                v.ptr("/roleRef/kind").and_then(Value::as_str).unwrap_or("role"),
                                v.ptr("/roleRef/name").and_then(Value::as_str).unwrap_or_default(),
                            )
                        } else {
                            format!(
                                "{kind} {} grants to ServiceAccount {ns}/{name}, outside the release namespace {release}",
                                o.resource.name
                            )
                        },
                        None,
                    );
                    if !ours {
                        e.finding.severity = Severity::Info;
                    }
                }
            }
        }
    }
}
