//! CH104 drop-all-capabilities.

use crate::yaml::Value;
use serde_json::json;

use super::{containers, csc, effective_uid, is_privileged, is_windows, pod_spec};
use crate::finding::{Applicability, Severity};
use crate::rules::{workloads, Context, Fix, Rule, RuleMeta, Sink};
use crate::yaml::edit::Op;
use crate::yaml::view::ValueExt;

pub(crate) static META: RuleMeta = RuleMeta {
    code: "CH104",
    name: "drop-all-capabilities",
    group: "pod-security",
    summary: "Containers must drop ALL capabilities and add back at most NET_BIND_SERVICE (restricted).",
    why: "The default capability set includes CAP_NET_RAW (packet spoofing), CAP_CHOWN, \
CAP_SETUID and others a compromised process can use; the restricted standard allows only \
NET_BIND_SERVICE to be added back.",
    example: "securityContext:\n  capabilities:\n    drop:\n    - ALL        # added\n    add:\n    - NET_BIND_SERVICE   # kept",
    fix: Applicability::Unsafe,
    fix_also_safe: true,
    fix_notes: "Adding `drop: [ALL]` is safe when the container's UID is known to be non-zero (a \
non-root process holds no capabilities to lose). For a container that may run as root it is \
unsafe: root entrypoints often need CHOWN/SETUID/SETGID to start. A container that declares a \
port below 1024 keeps `add: [NET_BIND_SERVICE]`: root binds such a port only with it, and a \
non-root binary with that file capability needs it in the bounding set. Capabilities the chart \
adds (other than NET_BIND_SERVICE) are reported, not removed: the chart added them for something \
that needs them (NET_RAW for ICMP probes, NET_ADMIN for a CNI or VPN, SYS_PTRACE for a \
profiler), so removing them stops it; with `podSecurity.explicitChoices: change` the fix \
removes them (unsafe). The unsafe fix is withheld for a pod with a container known to start as \
root (`podSecurity.rootContainers: restrict` applies it) or whose user nothing names: the chart \
sets no runAsUser for it and its image config was not read (no pinning, or the lookup failed; \
`podSecurity.unknownUsers: restrict` applies it). A root init container that only \
chowns/chmods volumes keeps its capabilities (reported only): its chown needs CAP_CHOWN, and CH108 \
replaces it with fsGroup where the evidence allows.",
    options: "podSecurity.explicitChoices (`keep`, the default, or `change`), \
podSecurity.rootContainers, podSecurity.unknownUsers",
    severity: Severity::Error,
    default_enabled: true,
};

/// CH104.
pub struct DropAllCapabilities;

impl Rule for DropAllCapabilities {
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
                if is_privileged(cv) {
                    continue; // CH106 reports privileged containers
                }
                let caps = csc(cv, "capabilities");
                let caps_path = c.path.key("securityContext").key("capabilities");
                let drop = caps.and_then(|c| c.key("drop"));
                let has_all = drop
                    .and_then(Value::as_array)
                    .is_some_and(|a| a.iter().any(|x| x.as_str() == Some("ALL")));
                if !has_all && super::init_chown::is_chown_init(cx, w, c) {
                    // Its whole job needs CAP_CHOWN (and CAP_FOWNER for chmod): dropping ALL
                    // would stop it, and the pod with it. CH108 replaces it with fsGroup where
                    // it can; where it cannot, it keeps its capabilities.
                    out.emit(
                        &META,
                        &w.object,
                        &caps_path.key("drop"),
                        format!(
                            "container {:?} does not drop ALL capabilities: it runs as root only to chown/chmod volumes, which needs CAP_CHOWN (CH108 replaces such an init container with fsGroup where it can)",
                            c.name
                        ),
                        None,
                    );
                } else if !has_all {
                    let nonroot = effective_uid(cx, w, c).is_some_and(|u| u > 0);
                    let op = match drop {
                        Some(Value::Array(_)) => Op::Append(caps_path.key("drop"), json!("ALL")),
                        _ => Op::Set(caps_path.key("drop"), json!(["ALL"])),
                    };
                    // A process serving a port below 1024 binds it through CAP_NET_BIND_SERVICE:
                    // root holds it unless ALL is dropped, a non-root binary through a file
                    // capability that needs it in the bounding set. Keep it (restricted allows
                    // it).
                    let low_port = super::low_port(cv);
                    let has_bind = caps
                        .and_then(|c| c.key("add"))
                        .and_then(Value::as_array)
                        .is_some_and(|a| {
                            a.iter().any(|x| {
                                matches!(
                                    x.as_str(),
                                    Some("NET_BIND_SERVICE") | Some("CAP_NET_BIND_SERVICE")
                                )
                            })
                        });
                    let mut ops = vec![op];
                    let keep_bind = low_port.filter(|_| !has_bind);
                    if keep_bind.is_some() {
                        ops.push(match caps.and_then(|c| c.key("add")) {
                            Some(Value::Array(_)) => {
                                Op::Append(caps_path.key("add"), json!("NET_BIND_SERVICE"))
                            }
                            _ => Op::Set(caps_path.key("add"), json!(["NET_BIND_SERVICE"])),
                        });
                    }
                    out.emit(
                        &META,
                        &w.object,
                        &caps_path.key("drop"),
                        format!(
                            "container {:?} does not drop ALL capabilities{}{}",
                            c.name,
                            if nonroot {
                                ""
                            } else {
                                " and may run as root (dropping them can stop a root entrypoint)"
                            },
                            keep_bind
                                .map(|p| format!("; NET_BIND_SERVICE is kept for its port {p}"))
                                .unwrap_or_default()
                        ),
                        Some(Fix::edits(
                            if nonroot {
                                Applicability::Safe
                            } else {
                                Applicability::Unsafe
                            },
                            w.object.doc(),
                            ops,
                        )),
                    );
                }
                if let Some(add) = caps.and_then(|c| c.key("add")).and_then(Value::as_array) {
                    let bad: Vec<usize> = add
                        .iter()
                        .enumerate()
                        .filter(|(_, x)| {
                            !matches!(
                                x.as_str(),
                                Some("NET_BIND_SERVICE") | Some("CAP_NET_BIND_SERVICE")
                            )
                        })
                        .map(|(i, _)| i)
                        .collect();
                    if bad.is_empty() {
                        continue;
                    }
                    let names: Vec<String> = bad
                        .iter()
                        .map(|i| add[*i].as_str().unwrap_or("?").to_string())
                        .collect();
                    // Remove from the end so indexes stay valid.
                    let ops = bad
                        .iter()
                        .rev()
                        .map(|i| Op::Remove(caps_path.key("add").index(*i)))
                        .collect();
                    let e = out.emit(
                        &META,
                        &w.object,
                        &caps_path.key("add"),
                        format!(
                            "container {:?} adds capabilities {names:?}; restricted allows only NET_BIND_SERVICE",
                            c.name
                        ),
                        cx.cfg
                            .pod_security
                            .explicit_choices
                            .then(|| Fix::edits(Applicability::Unsafe, w.object.doc(), ops)),
                    );
                    e.finding.suggestion = crate::finding::suggest(
                        if cx.cfg.pod_security.explicit_choices {
                            "remove the added capabilities, or exempt this workload"
                        } else {
                            "the chart adds them for something that needs them, so they are kept: drop them in the chart's values if nothing does, or set `podSecurity.explicitChoices: change` to remove them"
                        },
                    );
                }
            }
        }
    }
}
