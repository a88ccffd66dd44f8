//! CH106 no-privileged.

use serde_json::json;

use crate::yaml::Value;

use super::{containers, is_privileged, pod_spec};
use crate::finding::{Applicability, Severity};
use crate::rules::{workloads, Context, Fix, Rule, RuleMeta, Sink};
use crate::yaml::edit::Op;
use crate::yaml::view::ValueExt;

pub(crate) static META: RuleMeta = RuleMeta {
    code: "CH106",
    name: "no-privileged",
    group: "pod-security",
    summary: "Containers must not be privileged (baseline Pod Security Standard).",
    why: "A privileged container has every capability and every device of the node: escaping it \
is trivial.",
    example: "securityContext:\n  privileged: true    # before\n---\nsecurityContext:\n  privileged: false   # after (unsafe)",
    fix: Applicability::Unsafe,
    fix_also_safe: false,
    fix_notes: "Unsafe: privileged workloads usually need it (CNI, storage and node agents). \
Workloads that also use host namespaces or hostPath volumes are node agents: they are reported \
only, never changed.",
    options: "none",
    severity: Severity::Error,
    default_enabled: true,
};

/// CH106.
pub struct NoPrivileged;

impl Rule for NoPrivileged {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn per_object(&self) -> bool {
        true
    }

    fn check(&self, cx: &Context<'_>, out: &mut Sink) {
        for w in workloads(cx, &META) {
            let spec = pod_spec(cx, w);
            let node_agent = ["hostNetwork", "hostPID", "hostIPC"]
                .iter()
                .any(|f| spec.get(*f).and_then(Value::as_bool) == Some(true))
                || spec
                    .key("volumes")
                    .and_then(Value::as_array)
                    .is_some_and(|vs| vs.iter().any(|v| v.key("hostPath").is_some()));
            for c in containers(w) {
                let cv = super::container(cx, w, c);
                if !is_privileged(cv) {
                    continue;
                }
                let p = c.path.key("securityContext").key("privileged");
                let fix = (!node_agent).then(|| {
                    Fix::edits(
                        Applicability::Unsafe,
                        w.object.doc(),
                        vec![Op::Set(p.clone(), json!(false))],
                    )
                });
                let e = out.emit(
                    &META,
                    &w.object,
                    &p,
                    format!("container {:?} is privileged", c.name),
                    fix,
                );
                if node_agent {
                    e.finding.suggestion = crate::finding::suggest(
                        "a node agent (host namespaces/hostPath): run it in a namespace labelled privileged, or replace privileged with the specific capabilities it needs",
                    );
                }
            }
        }
    }
}
