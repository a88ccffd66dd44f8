//! CH105 seccomp-runtime-default.

use crate::yaml::Value;
use serde_json::json;

use super::{containers, csc, is_windows, pod_spec, psc};
use crate::finding::{Applicability, Severity};
use crate::rules::{workloads, Context, Fix, Rule, RuleMeta, Sink};
use crate::yaml::edit::Op;
use crate::yaml::view::ValueExt;

pub(crate) static META: RuleMeta = RuleMeta {
    code: "CH105",
    name: "seccomp-runtime-default",
    group: "pod-security",
    summary: "Pods must use the `RuntimeDefault` (or a Localhost) seccomp profile (restricted).",
    why: "Without a seccomp profile a container can call every syscall, including the rarely \
used ones that most kernel exploits go through. RuntimeDefault is the container runtime's \
curated allow-list.",
    example: "spec:\n  securityContext:\n    seccompProfile:\n      type: RuntimeDefault   # added",
    fix: Applicability::Unsafe,
    fix_also_safe: true,
    fix_notes:
        "Adding RuntimeDefault where no profile is set is safe: it is the profile Docker and \
containerd have applied by default for years. An explicit `Unconfined` is the chart's choice, \
maybe for a syscall RuntimeDefault blocks (io_uring, user namespaces for a browser sandbox, \
ptrace for a profiler): reported, not replaced (with `podSecurity.explicitChoices: change` the \
fix replaces it, unsafe).",
    options: "podSecurity.explicitChoices",
    severity: Severity::Error,
    default_enabled: true,
};

/// CH105.
pub struct SeccompRuntimeDefault;

fn is_ok_type(v: Option<&Value>) -> Option<bool> {
    let t = v.and_then(|p| p.key("type")).and_then(Value::as_str)?;
    Some(matches!(t, "RuntimeDefault" | "Localhost"))
}

impl Rule for SeccompRuntimeDefault {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn per_object(&self) -> bool {
        true
    }

    fn check(&self, cx: &Context<'_>, out: &mut Sink) {
        for w in workloads(cx, &META) {
            let spec = pod_spec(cx, w);
            if is_windows(spec) {
                continue;
            }
            let pod_sp = psc(spec, "seccompProfile");
            let pod_type = w
                .pod_spec
                .key("securityContext")
                .key("seccompProfile")
                .key("type");
            match is_ok_type(pod_sp) {
                Some(true) => {}
                None => {
                    // No pod-level profile: set it unless every container sets its own.
                    let all_own = containers(w).all(|c| {
                        is_ok_type(csc(super::container(cx, w, c), "seccompProfile")).is_some()
                    });
                    if !all_own {
                        out.emit(
                            &META,
                            &w.object,
                            &pod_type,
                            "the pod sets no seccomp profile",
                            Some(Fix::edits(
                                Applicability::Safe,
                                w.object.doc(),
                                vec![Op::Set(pod_type.clone(), json!("RuntimeDefault"))],
                            )),
                        );
                    }
                }
                Some(false) => {
                    unconfined(
                        cx,
                        out,
                        w,
                        &pod_type,
                        "the pod's seccomp profile is Unconfined".into(),
                    );
                }
            }
            for c in containers(w) {
                let cv = super::container(cx, w, c);
                if is_ok_type(csc(cv, "seccompProfile")) == Some(false) {
                    let p = c
                        .path
                        .key("securityContext")
                        .key("seccompProfile")
                        .key("type");
                    unconfined(
                        cx,
                        out,
                        w,
                        &p,
                        format!("container {:?} sets seccomp profile Unconfined", c.name),
                    );
                }
            }
        }
    }
}

/// The finding for a profile the chart set to `Unconfined` at `path`: replaced by
/// RuntimeDefault only with `podSecurity.explicitChoices: change`.
fn unconfined(
    cx: &Context<'_>,
    out: &mut Sink,
    w: &crate::inventory::Workload,
    path: &crate::yaml::Path,
    what: String,
) {
    let change = cx.cfg.pod_security.explicit_choices;
    let e = out.emit(
        &META,
        &w.object,
        path,
        if change {
            what
        } else {
            what + "; kept: the chart chose it, maybe for a syscall RuntimeDefault blocks"
        },
        change.then(|| {
            Fix::edits(
                Applicability::Unsafe,
                w.object.doc(),
                vec![Op::Set(path.clone(), json!("RuntimeDefault"))],
            )
        }),
    );
    if !change {
        e.finding.suggestion = crate::finding::suggest(super::allow_privilege_escalation::EXPLICIT);
    }
}
