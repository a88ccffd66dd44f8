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
before. Otherwise the fix also has to choose a UID and is unsafe: the image may need root to \
start. The UID is the owner a root init container chowns the pod's volumes to (the user the \
chart means to run as), else `podSecurity.runAsUser` (default 65532). A container whose image config names a non-root \
user keeps it, set on the container (and its group, when numeric), instead of taking the pod's. \
A container taking that UID that declares a port below 1024 could no longer bind it, so the fix \
also sets the pod's `net.ipv4.ip_unprivileged_port_start` sysctl to the lowest such port \
(restricted allows it; not on the host network, nor when the chart sets that sysctl). One that \
writes a persistent volume (a claim, an ephemeral volume, a StatefulSet's claim template) could \
not write what root owns there, so the fix also sets the pod's `fsGroup` to its group, with \
`fsGroupChangePolicy: OnRootMismatch`, unless the chart sets an fsGroup. The unsafe fix is \
withheld for a pod with a container that starts as root by the chart's choice (`runAsUser: 0`, \
other than an init container that only chowns) or, where pinning read its image config and the \
chart sets no runAsUser for it, by its image (no `User`, or root, or a user known only by name; \
not an init container whose script only waits for a peer, `until nslookup db`): \
it was made to start as that user (`podSecurity.rootContainers: restrict` applies it). It is \
withheld too where nothing names a container's user: the chart sets no runAsUser for it and its \
image config was not read (no pinning, or the lookup failed; not when an init container chowns \
the volumes to an owner): an image made to start as root stops as a chosen UID \
(`podSecurity.unknownUsers: restrict` applies it).",
    options: "podSecurity.runAsUser, podSecurity.runAsGroup, podSecurity.rootContainers, \
podSecurity.unknownUsers",
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
            // The UID the fix chooses, and whether a chown init container named it (below).
            let mut chosen = (cx.cfg.pod_security.run_as_user, false);
            // The port the fix lets non-root processes bind from (see below).
            let mut port_start = None;
            // The group given the persistent volumes the chosen UID writes (see below).
            let mut fs_group: Option<(i64, Vec<String>)> = None;
            // Containers that keep their image's user (see below).
            let mut kept: Vec<&str> = Vec::new();
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
                    // A root init container that chowns the volumes to a user names the user
                    // the chart means to run as: that UID, not the configured one.
                    let owner = init_chown::chowned_to(cx, w);
                    let (uid, gid) = match owner {
                        Some((u, g)) => (u, g.unwrap_or(cx.cfg.pod_security.run_as_group)),
                        None => (
                            cx.cfg.pod_security.run_as_user,
                            cx.cfg.pod_security.run_as_group,
                        ),
                    };
                    chosen = (uid, owner.is_some());
                    ops.push(Op::Set(pod_sc.key("runAsUser"), json!(uid)));
                    if psc(spec, "runAsGroup").is_none() {
                        ops.push(Op::Set(pod_sc.key("runAsGroup"), json!(gid)));
                    }
                    // The pod's UID would replace the user a container's image names (its
                    // files are that user's): such a container keeps it, set on itself.
                    for c in containers(w) {
                        let cv = super::container(cx, w, c);
                        let Some((uid, gid)) = image_user(cx, c) else {
                            continue;
                        };
                        let sc = c.path.key("securityContext");
                        if csc(cv, "runAsUser").is_none() {
                            ops.push(Op::Set(sc.key("runAsUser"), json!(uid)));
                            kept.push(c.name.as_str());
                        }
                        if let Some(gid) = gid.filter(|_| {
                            csc(cv, "runAsGroup").is_none() && psc(spec, "runAsGroup").is_none()
                        }) {
                            ops.push(Op::Set(sc.key("runAsGroup"), json!(gid)));
                        }
                    }
                    // A container that now runs as the chosen UID and serves a port below 1024
                    // could no longer bind it (a non-root process lacks CAP_NET_BIND_SERVICE):
                    // the pod's network namespace admits it instead (a safe sysctl that the
                    // restricted level allows).
                    if let Some((op, port)) = unprivileged_port_sysctl(cx, w, spec) {
                        ops.push(op);
                        port_start = Some(port);
                    }
                    // A persistent volume made for a root process is root's: the chosen UID
                    // could not write it. fsGroup makes the kubelet give it to the pod's group
                    // (only when its root does not match: OnRootMismatch). A pod with a chown
                    // init container is CH108's: it sets fsGroup from the chown.
                    let chown_init = containers(w).any(|c| init_chown::is_chown_init(cx, w, c));
                    if psc(spec, "fsGroup").is_none() && !chown_init {
                        let claimed = claimed_volumes_written(cx, w, spec);
                        if !claimed.is_empty() {
                            let group = psc(spec, "runAsGroup")
                                .and_then(crate::yaml::view::as_int)
                                .unwrap_or(cx.cfg.pod_security.run_as_group);
                            ops.push(Op::Set(pod_sc.key("fsGroup"), json!(group)));
                            if psc(spec, "fsGroupChangePolicy").is_none() {
                                ops.push(Op::Set(
                                    pod_sc.key("fsGroupChangePolicy"),
                                    json!("OnRootMismatch"),
                                ));
                            }
                            fs_group = Some((group, claimed));
                        }
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
                    "containers {unknown:?} may run as root: runAsNonRoot is not true and no non-root UID is known (securityContext or image config); the fix sets runAsUser {}{}{}{}{}",
                    chosen.0,
                    if chosen.1 {
                        " (the owner the chart's init container chowns the volumes to)"
                    } else {
                        ""
                    },
                    port_start
                        .map(|p| format!(
                            " and net.ipv4.ip_unprivileged_port_start {p} (a port below 1024 is served)"
                        ))
                        .unwrap_or_default(),
                    fs_group
                        .as_ref()
                        .map(|(g, v)| format!(
                            " and fsGroup {g}, so that it can write the persistent volumes {v:?}"
                        ))
                        .unwrap_or_default(),
                    if kept.is_empty() {
                        String::new()
                    } else {
                        format!("; containers {kept:?} keep their image's user")
                    }
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
        .filter(|c| takes_pod_uid(cx, w, c))
        .filter_map(|c| low_port(super::container(cx, w, c)))
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

/// The non-root user a container's image config names (`1000`, `1000:1000`): its UID, and its
/// GID when numeric. None when the image names no user, root, a user name, or is not known.
fn image_user(cx: &Context<'_>, c: &crate::inventory::Container) -> Option<(i64, Option<i64>)> {
    let facts = cx.image(c.image.as_deref()?)?;
    let uid = facts.numeric_uid().filter(|u| *u > 0)?;
    Some((uid, facts.numeric_gid()))
}

/// The persistent volumes (a `persistentVolumeClaim` or `ephemeral` volume, a StatefulSet's
/// volume claim template) that a container of `w` taking the pod's UID mounts read-write.
fn claimed_volumes_written(
    cx: &Context<'_>,
    w: &crate::inventory::Workload,
    spec: &Value,
) -> Vec<String> {
    let mut claimed: Vec<&str> = spec
        .key("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|v| v.key("persistentVolumeClaim").is_some() || v.key("ephemeral").is_some())
        .filter_map(|v| v.key("name").and_then(Value::as_str))
        .collect();
    if w.object.resource.kind.as_str() == "StatefulSet" {
        claimed.extend(
            cx.value(&w.object)
                .ptr("/spec/volumeClaimTemplates")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|t| t.ptr("/metadata/name").and_then(Value::as_str)),
        );
    }
    let mut written: Vec<String> = Vec::new();
    for c in containers(w).filter(|c| takes_pod_uid(cx, w, c)) {
        let cv = super::container(cx, w, c);
        for m in cv
            .key("volumeMounts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = m.key("name").and_then(Value::as_str).unwrap_or_default();
            let read_only = m.key("readOnly").and_then(Value::as_bool) == Some(true);
            if !read_only && claimed.contains(&name) && !written.iter().any(|n| n == name) {
                written.push(name.to_string());
            }
        }
    }
    written
}

/// True when container `c` runs as the pod's UID once the fix chooses one: it names no UID of
/// its own, and its image names none (such a container keeps its image's user).
fn takes_pod_uid(
    cx: &Context<'_>,
    w: &crate::inventory::Workload,
    c: &crate::inventory::Container,
) -> bool {
    csc(super::container(cx, w, c), "runAsUser").is_none() && image_user(cx, c).is_none()
}
