//! CH103 no-privilege-escalation.

use crate::yaml::Value;
use serde_json::json;

use super::{containers, csc, is_privileged, is_windows, pod_spec};
use crate::finding::{Applicability, Severity};
use crate::rules::{workloads, Context, Fix, Rule, RuleMeta, Sink};
use crate::yaml::edit::Op;
use crate::yaml::view::ValueExt;

pub(crate) static META: RuleMeta = RuleMeta {
    code: "CH103",
    name: "no-privilege-escalation",
    group: "pod-security",
    summary: "Containers must set `allowPrivilegeEscalation: false` (restricted Pod Security Standard).",
    why: "Without it a process can gain more privileges than its parent (setuid binaries, file \
capabilities): the `no_new_privs` flag is what stops a compromised process from becoming root.",
    example: "containers:\n- name: app\n  securityContext:\n    allowPrivilegeEscalation: false   # added",
    fix: Applicability::Unsafe,
    fix_also_safe: true,
    fix_notes: "Safe when the chart leaves it unset: it only sets `no_new_privs`, which blocks \
setuid/setcap escalation that containers do not use to start. An explicit `true` is the chart's \
choice, for a setuid or file-capability binary: reported, not changed (with \
`podSecurity.explicitChoices: change` the fix sets it to false, unsafe), and never changed when \
the container adds capabilities (a non-root binary that gets them from file capabilities needs \
escalation). Privileged containers and containers adding CAP_SYS_ADMIN cannot \
take it (the API server rejects the combination): those are reported, not changed.",
    options: "podSecurity.explicitChoices",
    severity: Severity::Error,
    default_enabled: true,
};

/// CH103.
pub struct AllowPrivilegeEscalation;

/// The suggestion for an explicit choice kept (CH103, CH105).
pub(crate) const EXPLICIT: &str = "set it in the chart's values if nothing needs it, or set `podSecurity.explicitChoices: change` to replace what the chart chose";

impl Rule for AllowPrivilegeEscalation {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn per_object(&self) -> bool {
        true
    }

    fn check(&self, cx: &Context<'_>, out: &mut Sink) {
        for w in workloads(cx, &META) {
            if is_windows(pod_spec(cx, w)) {
                continue;
            }
            for c in containers(w) {
                let cv = super::container(cx, w, c);
                if csc(cv, "allowPrivilegeEscalation").and_then(Value::as_bool) == Some(false) {
                    continue;
                }
                let p = c
                    .path
                    .key("securityContext")
                    .key("allowPrivilegeEscalation");
                let sys_admin = csc(cv, "capabilities")
                    .and_then(|c| c.key("add"))
                    .and_then(Value::as_array)
                    .is_some_and(|a| {
                        a.iter().any(|x| {
                            x.as_str() == Some("SYS_ADMIN") || x.as_str() == Some("CAP_SYS_ADMIN")
                        })
                    });
                if is_privileged(cv) || sys_admin {
                    let e = out.emit(
                        &META,
                        &w.object,
                        &p,
                        format!(
                            "container {:?} allows privilege escalation and is {}; allowPrivilegeEscalation cannot be false there",
                            c.name,
                            if sys_admin { "adding CAP_SYS_ADMIN" } else { "privileged" }
                        ),
                        None,
                    );
                    e.finding.suggestion = crate::finding::suggest(
                        "remove privileged / CAP_SYS_ADMIN (see CH106), then set allowPrivilegeEscalation: false",
                    );
                    continue;
                }
                let explicit_true =
                    csc(cv, "allowPrivilegeEscalation").and_then(Value::as_bool) == Some(true);
                let added: Vec<&str> = csc(cv, "capabilities")
                    .and_then(|c| c.key("add"))
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                if explicit_true && !added.is_empty() {
                    // A non-root binary that gets a capability through file capabilities
                    // (nginx binding :80 as UID 101) needs privilege escalation: the chart
                    // set it on purpose.
                    let e = out.emit(
                        &META,
                        &w.object,
                        &p,
                        format!(
                            "container {:?} sets allowPrivilegeEscalation: true and adds capabilities {}: a non-root process gets them through file capabilities, which needs privilege escalation; not changed",
                            c.name,
                            added.join(", ")
                        ),
                        None,
                    );
                    e.finding.severity = Severity::Warning;
                    continue;
                }
                if explicit_true {
                    let change = cx.cfg.pod_security.explicit_choices;
                    let e = out.emit(
                        &META,
                        &w.object,
                        &p,
                        format!(
                            "container {:?} sets allowPrivilegeEscalation: true explicitly; {}",
                            c.name,
                            if change {
                                "the fix sets it to false (unsafe: the chart chose it, and a setuid or file-capability binary would stop working)"
                            } else {
                                "kept: the chart chose it, and a setuid or file-capability binary stops working without it"
                            }
                        ),
                        change.then(|| {
                            Fix::edits(
                                Applicability::Unsafe,
                                w.object.doc(),
                                vec![Op::Set(p.clone(), json!(false))],
                            )
                        }),
                    );
                    if !change {
                        e.finding.suggestion = crate::finding::suggest(EXPLICIT);
                    }
                    continue;
                }
                out.emit(
                    &META,
                    &w.object,
                    &p,
                    format!(
                        "container {:?} does not set allowPrivilegeEscalation: false",
                        c.name
                    ),
                    Some(Fix::edits(
                        Applicability::Safe,
                        w.object.doc(),
                        vec![Op::Set(p.clone(), json!(false))],
                    )),
                );
            }
        }
    }
}
