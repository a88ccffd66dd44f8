//! CH109 no-unused-service-account-token.

use crate::yaml::Value;
use serde_json::json;

use super::pod_spec;
use crate::finding::{Applicability, Severity};
use crate::rules::{workloads_indexed, Context, Fix, Rule, RuleMeta, Sink};
use crate::yaml::edit::Op;
use crate::yaml::view::ValueExt;

pub(crate) static META: RuleMeta = RuleMeta {
    code: "CH109",
    name: "no-unused-service-account-token",
    group: "pod-security",
    summary:
        "Pods whose ServiceAccount has no Role/ClusterRole binding should not mount its token.",
    why: "A mounted ServiceAccount token is a credential for the API server sitting in every \
container's filesystem. A pod whose account is bound to no role has nothing to use it for, so \
the token only helps an attacker (floe-platform gap #10).",
    example: "spec:\n  automountServiceAccountToken: false   # added",
    fix: Applicability::Unsafe,
    fix_also_safe: true,
    fix_notes: "Safe when the ServiceAccount is rendered by this chart and no binding in the \
stream names it: nothing in the release gives the token any permission. Unsafe when the account \
is `default` or not rendered by the chart (bindings may exist outside the release), or when the \
pod mounts the token path itself. A chart-rendered ServiceAccount that sets \
`automountServiceAccountToken: true` while nothing binds it gets an unsafe fix (the pod's setting \
overrides it; floe-platform gap #10); pods that set it explicitly are reported only. No fix where \
the pod logs in elsewhere with its token, which needs no binding in the release: an injected \
Vault agent or Consul sidecar (`vault.hashicorp.com/agent-inject`, \
`consul.hashicorp.com/connect-inject`) or a container configured for Vault (`VAULT_ADDR`).",
    options: "none",
    severity: Severity::Warning,
    default_enabled: true,
};

/// CH109.
pub struct AutomountToken;

impl Rule for AutomountToken {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context<'_>, out: &mut Sink) {
        for (wi, w) in workloads_indexed(cx, &META) {
            let spec = pod_spec(cx, w);
            let pod_setting = spec
                .key("automountServiceAccountToken")
                .and_then(Value::as_bool);
            if pod_setting == Some(false) {
                continue;
            }
            if !cx
                .inv
                .bindings_for(&w.namespace, &w.service_account)
                .is_empty()
            {
                continue;
            }
            let sa_obj = cx.inv.service_account_of(w);
            let sa_setting = sa_obj
                .map(|o| cx.value(o))
                .and_then(|v| v.key("automountServiceAccountToken"))
                .and_then(Value::as_bool);
            if sa_setting == Some(false) && pod_setting.is_none() {
                continue;
            }
            let p = w.pod_spec.key("automountServiceAccountToken");
            let explicit = pod_setting == Some(true) || sa_setting == Some(true);
            let in_stream = sa_obj.is_some() && w.service_account != "default";
            let msg = format!(
                "ServiceAccount {:?} has no Role/ClusterRole binding in the release, but its token is mounted",
                w.service_account
            );
            // A token that logs in to Vault or Consul needs no binding in the release: it is
            // used, so it stays (no fix, in any profile).
            if let Some(why) = cx
                .inv
                .facts
                .workloads
                .get(wi)
                .and_then(|f| f.token_login.as_deref())
            {
                let e = out.emit(
                    &META,
                    &w.object,
                    &p,
                    format!("{msg}; it stays mounted: {why}"),
                    None,
                );
                e.finding.suggestion = crate::finding::suggest(
                    "if the workload does not log in with its token, set automountServiceAccountToken: false in the chart",
                );
                continue;
            }
            if explicit && pod_setting.is_none() && in_stream {
                // The chart renders `automountServiceAccountToken: true` on its own
                // ServiceAccount (floe-platform renders it whatever the values say) and
                // nothing binds it: the pod setting overrides the account's, as an unsafe
                // fix (the chart chose it; a workload may authenticate elsewhere with it).
                let e = out.emit(
                    &META,
                    &w.object,
                    &p,
                    format!(
                        "{msg}; the chart's ServiceAccount sets automountServiceAccountToken: true, but no Role or ClusterRole binding in the release gives the token a permission: the fix turns it off for the pod (unsafe: the chart chose it, and the workload may use the token to authenticate elsewhere, e.g. Vault's Kubernetes auth)"
                    ),
                    Some(Fix::edits(
                        Applicability::Unsafe,
                        w.object.doc(),
                        vec![Op::Set(p.clone(), json!(false))],
                    )),
                );
                e.finding.suggestion = crate::finding::suggest(
                    "opt out with the annotation chart-harden.io/skip: CH109 when the workload authenticates with its token",
                );
                continue;
            }
            if explicit {
                let e = out.emit(&META, &w.object, &p, msg, None);
                e.finding.suggestion = crate::finding::suggest(
                    "the chart asks for the token explicitly; set automountServiceAccountToken: false unless the workload authenticates with it (e.g. Vault's Kubernetes auth)",
                );
                continue;
            }
            let a = if in_stream {
                Applicability::Safe
            } else {
                Applicability::Unsafe
            };
            out.emit(
                &META,
                &w.object,
                &p,
                msg,
                Some(Fix::edits(
                    a,
                    w.object.doc(),
                    vec![Op::Set(p.clone(), json!(false))],
                )),
            );
        }
    }
}
