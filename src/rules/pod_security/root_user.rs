//! CH102 no-root-user.

use crate::yaml::Value;
use serde_json::json;

use super::{containers, csc, init_chown, pod_spec, psc};
use crate::finding::{Applicability, Severity};
use crate::rules::{workloads, Context, Fix, Rule, RuleMeta, Sink};
use crate::yaml::edit::Op;

pub(crate) static META: RuleMeta = RuleMeta {
    code: "CH102",
    name: "no-root-user",
    group: "pod-security",
    summary: "Containers must not set `runAsUser: 0` (restricted Pod Security Standard).",
    why: "An explicit `runAsUser: 0` runs the container as root whatever the image says, and the \
restricted Pod Security Standard rejects the pod.",
    example: "securityContext:\n  runAsUser: 0        # before\n---\nsecurityContext:\n  runAsUser: 65532    # after (unsafe)\n  runAsNonRoot: true",
    fix: Applicability::Unsafe,
    fix_also_safe: false,
    fix_notes: "Always unsafe: the chart asked for root, and the process may need it (binding low \
ports, writing root-owned paths). Init containers that only `chown`/`chmod` volumes are handled \
by CH108 instead. So the fix is withheld, reported only, unless `podSecurity.rootContainers: \
restrict` asks for it: the chart's `runAsUser: 0` is the evidence that the container needs root.",
    options: "podSecurity.runAsUser, podSecurity.rootContainers",
    severity: Severity::Error,
    default_enabled: true,
};

/// CH102.
pub struct RootUser;

impl Rule for RootUser {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn per_object(&self) -> bool {
        true
    }

    fn check(&self, cx: &Context<'_>, out: &mut Sink) {
        let uid = cx.cfg.pod_security.run_as_user;
        for w in workloads(cx, &META) {
            let spec = pod_spec(cx, w);
            let pod_root = psc(spec, "runAsUser").and_then(crate::yaml::view::as_int) == Some(0);
            if pod_root {
                let p = w.pod_spec.key("securityContext").key("runAsUser");
                out.emit(
                    &META,
                    &w.object,
                    &p,
                    "the pod sets runAsUser: 0 (root) for every container",
                    Some(Fix::edits(
                        Applicability::Unsafe,
                        w.object.doc(),
                        vec![Op::Set(p.clone(), json!(uid))],
                    )),
                );
            }
            for c in containers(w) {
                let cv = super::container(cx, w, c);
                if csc(cv, "runAsUser").and_then(crate::yaml::view::as_int) != Some(0) {
                    continue;
                }
                if init_chown::is_chown_init(cx, w, c) {
                    continue;
                }
                let sc = c.path.key("securityContext");
                let mut ops = vec![Op::Set(sc.key("runAsUser"), json!(uid))];
                if csc(cv, "runAsNonRoot").and_then(Value::as_bool) == Some(false) {
                    ops.push(Op::Set(sc.key("runAsNonRoot"), json!(true)));
                }
                out.emit(
                    &META,
                    &w.object,
                    &sc.key("runAsUser"),
                    format!("container {:?} runs as root (runAsUser: 0)", c.name),
                    Some(Fix::edits(Applicability::Unsafe, w.object.doc(), ops)),
                );
            }
        }
    }
}
