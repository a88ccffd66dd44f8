//! CH101 run-as-non-root.

use crate::yaml::view::ValueExt;
use crate::yaml::Value;
use serde_json::json;

use super::{
    containers, csc, effective_uid, explicit_root, init_chown, is_windows, low_port, pod_spec, psc,
};
use crate::finding::{Applicability, Severity};
use crate::rules::{workloads, Context, Fix, Rule, RuleMeta, Sink};
use crate::yaml::edit::Op;

pub(crate) static META: RuleMeta = RuleMeta {
    code: "CH101",
    name: "run-as-non-root",
    group: "pod-security",
    summary: "Pods must set `runAsNonRoot: true` (restricted Pod Security Standard).",
    why: "A container that runs as root owns every file in its image and is one kernel bug away \
from the node. `runAsNonRoot: true` makes the kubelet refuse to start a container whose user is \
root, so an image change cannot silently bring root back.",
    example: "spec:\n  securityContext: {}          # before\n---\nspec:\n  securityContext:\n    runAsNonRoot: true         # after",
    fix: Applicability::Unsafe,
    fix_also_safe: true,
    fix_notes: "Safe when every container's UID is known to be non-zero (its securityContext, the \
pod's, or the image config read while pinning digests): the kubelet then starts it exactly as \
before. Otherwise the fix also has to choose a UID (`podSecurity.runAsUser`, default 65532) and \
is unsafe: the image may need root to start. A container taking that UID that declares a port \
below 1024 could no longer bind it, so the fix also sets the pod's \
`net.ipv4.ip_unprivileged_port_start` sysctl to the lowest such port (restricted allows it; not \
on the host network, nor when the chart sets that sysctl).",
    options: "podSecurity.runAsUser, podSecurity.runAsGroup",
    severity: Severity::Error,
    default_enabled: true,
};

/// CH101.
pub struct RunAsNonRoot;

impl Rule for RunAsNonRoot {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn per_object(&self) -> bool {
        true
    }

    fn check(&self, cx: &Context<'_>, out: &mut Sink) {
        for w in workloads(cx, &META) {
            let spec = pod_spec(cx, w);
            let pod_nonroot = psc(spec, "runAsNonRoot").and_then(Value::as_bool);
            let mut targets = Vec::new();
            let mut any_root = false;
            let mut any_explicit_false = false;
            for c in containers(w) {
                let cv = super::container(cx, w, c);
                if explicit_root(cx, w, c) || init_chown::is_chown_init(cx, w, c) {
                    // CH102 / CH108 own containers that run as UID 0 on purpose.
                    any_root = true;
                    continue;
                }
                let own = csc(cv, "runAsNonRoot").and_then(Value::as_bool);
                if own == Some(false) {
                    any_explicit_false = true;
                }
                if own.or(pod_nonroot) != Some(true) {
                    targets.push(c);
                }
            }
            if targets.is_empty() {
                continue;
            }
            let safe = targets
                .iter()
                .all(|c| effective_uid(cx, w, c).is_some_and(|u| u > 0));
            let mut ops = Vec::new();
            // The port the fix lets non-root processes bind from (see below).
            let mut port_start = None;
            let pod_sc = w.pod_spec.key("securityContext");
            if !any_root && !any_explicit_false && pod_nonroot != Some(false) {
                ops.push(Op::Set(pod_sc.key("runAsNonRoot"), json!(true)));
            } else {
                if pod_nonroot == Some(false) && !any_root {
                    ops.push(Op::Set(pod_sc.key("runAsNonRoot"), json!(true)));
                }
                for c in &targets {
                    ops.push(Op::Set(
                        c.path.key("securityContext").key("runAsNonRoot"),
                        json!(true),
                    ));
                }
            }
            let applicability = if safe {
                Applicability::Safe
            } else {
                if psc(spec, "runAsUser").is_none() {
                    ops.push(Op::Set(
                        pod_sc.key("runAsUser"),
                        json!(cx.cfg.pod_security.run_as_user),
                    ));
                    if psc(spec, "runAsGroup").is_none() {
                        ops.push(Op::Set(
                            pod_sc.key("runAsGroup"),
                            json!(cx.cfg.pod_security.run_as_group),
                        ));
                    }
                    // A container that now runs as the chosen UID and serves a port below 1024
                    // could no longer bind it (a non-root process lacks CAP_NET_BIND_SERVICE):
                    // the pod's network namespace admits it instead (a safe sysctl that the
                    // restricted level allows).
                    if let Some((op, port)) = unprivileged_port_sysctl(cx, w, spec) {
                        ops.push(op);
                        port_start = Some(port);
                    }
                }
                Applicability::Unsafe
            };
            let names: Vec<&str> = targets.iter().map(|c| c.name.as_str()).collect();
            let msg = if safe {
                format!(
                    "containers {names:?} run as a known non-root UID but do not set runAsNonRoot: true"
                )
            } else {
                let unknown: Vec<&str> = targets
                    .iter()
                    .filter(|c| effective_uid(cx, w, c).is_none_or(|u| u <= 0))
                    .map(|c| c.name.as_str())
                    .collect();
                format!(
                    "containers {unknown:?} may run as root: runAsNonRoot is not true and no non-root UID is known (securityContext or image config); the fix sets runAsUser {}{}",
                    cx.cfg.pod_security.run_as_user,
                    port_start
                        .map(|p| format!(
                            " and net.ipv4.ip_unprivileged_port_start {p} (a port below 1024 is served)"
                        ))
                        .unwrap_or_default()
                )
            };
            let path = if ops.len() == 1 || safe {
                ops[0].path().clone()
            } else {
                pod_sc.key("runAsNonRoot")
            };
            out.emit(
                &META,
                &w.object,
                &path,
                msg,
                Some(Fix::edits(applicability, w.object.doc(), ops)),
            );
        }
    }
}

/// The sysctl that lets the containers of `w` which take the pod's UID (they set none of
/// their own) bind their ports below 1024 as non-root: `net.ipv4.ip_unprivileged_port_start`
/// at the lowest such port. None when no such container declares one, when the pod sets that
/// sysctl itself, or where a pod may not set it (host network, Windows).
fn unprivileged_port_sysctl(
    cx: &Context<'_>,
    w: &crate::inventory::Workload,
    spec: &Value,
) -> Option<(Op, i64)> {
    const NAME: &str = "net.ipv4.ip_unprivileged_port_start";
    if spec.key("hostNetwork").and_then(Value::as_bool) == Some(true) || is_windows(spec) {
        return None;
    }
    let port = containers(w)
        .map(|c| super::container(cx, w, c))
        .filter(|cv| csc(cv, "runAsUser").is_none())
        .filter_map(low_port)
        .min()?;
    let sysctls = psc(spec, "sysctls");
    let named = sysctls
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|s| s.key("name").and_then(Value::as_str) == Some(NAME));
    if named {
        return None;
    }
    let entry = json!({"name": NAME, "value": port.to_string()});
    let path = w.pod_spec.key("securityContext").key("sysctls");
    let op = match sysctls {
        Some(Value::Array(_)) => Op::Append(path, entry),
        _ => Op::Set(path, json!([entry])),
    };
    Some((op, port))
}
