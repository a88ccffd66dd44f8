//! Restricted-level checks (upstream `policy/check_*.go`, level Restricted).
//!
//! Restricted evaluation also runs every Baseline check except the ones an
//! active Restricted check overrides (see [`crate::checks`]).

use crate::baseline::{forbid_unmasked_proc_mount, seccomp_type, valid_seccomp_type, volume_label};
use crate::checks::{quote, Emitter};
use crate::path::FieldPath;
use crate::pod::{
    array_field, bool_is, is_explicit_false, is_present, is_zero, obj_field, Obj, Pod,
};

/// Volume sources Restricted allows (besides a source-less volume, which the
/// apiserver defaults to `emptyDir`).
const ALLOWED_VOLUME_SOURCES: &[&str] = &[
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "image",
    "persistentVolumeClaim",
    "projected",
    "secret",
];

/// Volume sources Restricted forbids.
const RESTRICTED_VOLUME_SOURCES: &[&str] = &[
    "hostPath",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "nfs",
    "iscsi",
    "glusterfs",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "fc",
    "azureFile",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "portworxVolume",
    "photonPersistentDisk",
    "scaleIO",
    "storageos",
];

/// Volumes must use one of the allowed (non-host, non-network) sources.
pub(crate) fn volumes(pod: &Pod<'_>, _minor: u32, out: &mut Emitter<'_>) {
    for (i, volume) in array_field(pod.spec(), "volumes")
        .into_iter()
        .flatten()
        .enumerate()
    {
        let Some(volume) = volume.as_object() else {
            continue;
        };
        if ALLOWED_VOLUME_SOURCES
            .iter()
            .any(|source| is_present(volume, source))
        {
            continue;
        }
        if let Some(source) = RESTRICTED_VOLUME_SOURCES
            .iter()
            .find(|source| is_present(volume, source))
        {
            out.emit(
                pod.spec_path(&["volumes"]).index(i).child(source),
                format!(
                    "volume {} must not use restricted volume type {}",
                    quote(&volume_label(volume, i)),
                    quote(source)
                ),
            );
        }
    }
}

/// `securityContext.allowPrivilegeEscalation` must be `false` on every
/// container; Windows pods are exempt from v1.25.
pub(crate) fn allow_privilege_escalation(pod: &Pod<'_>, minor: u32, out: &mut Emitter<'_>) {
    if minor >= 25 && pod.is_windows() {
        return;
    }
    for c in pod.containers() {
        if !bool_is(c.security_context, "allowPrivilegeEscalation", false) {
            out.emit(
                c.sc_path(&["allowPrivilegeEscalation"]),
                format!(
                    "container {} must set securityContext.allowPrivilegeEscalation=false",
                    quote(&c.label)
                ),
            );
        }
    }
}

/// A violation found by a pod-or-container requirement, before reporting.
struct Finding {
    path: FieldPath,
    message: String,
}

/// Reports explicit violations if there are any, else the implicit ones
/// (containers relying on a pod-level value that is not set), like upstream.
fn report(explicit: Vec<Finding>, implicit: Vec<Finding>, out: &mut Emitter<'_>) {
    let findings = if explicit.is_empty() {
        implicit
    } else {
        explicit
    };
    for f in findings {
        out.emit(f.path, f.message);
    }
}

/// `runAsNonRoot` must be true at pod level or on every container, and never
/// false; from v1.35 pods in a user namespace (`hostUsers: false`) are exempt.
pub(crate) fn run_as_non_root(pod: &Pod<'_>, minor: u32, out: &mut Emitter<'_>) {
    if minor >= 35 && pod.in_user_namespace() {
        return;
    }
    let pod_sc = pod.security_context();
    let mut explicit = Vec::new();
    if is_explicit_false(pod_sc, "runAsNonRoot") {
        explicit.push(Finding {
            path: pod.sc_path(&["runAsNonRoot"]),
            message: "pod must not set securityContext.runAsNonRoot=false".to_owned(),
        });
    }
    let pod_ok = bool_is(pod_sc, "runAsNonRoot", true);
    let mut implicit = Vec::new();
    for c in pod.containers() {
        let path = c.sc_path(&["runAsNonRoot"]);
        if is_explicit_false(c.security_context, "runAsNonRoot") {
            explicit.push(Finding {
                path,
                message: format!(
                    "container {} must not set securityContext.runAsNonRoot=false",
                    quote(&c.label)
                ),
            });
        } else if !pod_ok && !bool_is(c.security_context, "runAsNonRoot", true) {
            implicit.push(Finding {
                path,
                message: format!(
                    "pod or container {} must set securityContext.runAsNonRoot=true",
                    quote(&c.label)
                ),
            });
        }
    }
    report(explicit, implicit, out);
}

/// `runAsUser` must not be 0 (pod or container); from v1.35 pods in a user
/// namespace are exempt.
pub(crate) fn run_as_user(pod: &Pod<'_>, minor: u32, out: &mut Emitter<'_>) {
    if minor >= 35 && pod.in_user_namespace() {
        return;
    }
    if is_zero(pod.security_context(), "runAsUser") {
        out.emit(
            pod.sc_path(&["runAsUser"]),
            "pod must not set securityContext.runAsUser=0".to_owned(),
        );
    }
    for c in pod.containers() {
        if is_zero(c.security_context, "runAsUser") {
            out.emit(
                c.sc_path(&["runAsUser"]),
                format!(
                    "container {} must not set securityContext.runAsUser=0",
                    quote(&c.label)
                ),
            );
        }
    }
}

/// `seccompProfile.type` must be `RuntimeDefault` or `Localhost`, set at pod
/// level or on every container; Windows pods are exempt from v1.25.
pub(crate) fn seccomp_profile(pod: &Pod<'_>, minor: u32, out: &mut Emitter<'_>) {
    if minor >= 25 && pod.is_windows() {
        return;
    }
    let mut explicit = Vec::new();
    let mut pod_ok = false;
    if let Some(profile) = obj_field(pod.security_context(), "seccompProfile") {
        let ty = seccomp_type(profile);
        if valid_seccomp_type(ty) {
            pod_ok = true;
        } else {
            explicit.push(Finding {
                path: pod.sc_path(&["seccompProfile", "type"]),
                message: format!(
                    "pod must not set securityContext.seccompProfile.type to {}",
                    quote(ty)
                ),
            });
        }
    }
    let mut implicit = Vec::new();
    for c in pod.containers() {
        let path = c.sc_path(&["seccompProfile", "type"]);
        match obj_field(c.security_context, "seccompProfile") {
            Some(profile) => {
                let ty = seccomp_type(profile);
                if !valid_seccomp_type(ty) {
                    explicit.push(Finding {
                        path,
                        message: format!(
                            "container {} must not set securityContext.seccompProfile.type to {}",
                            quote(&c.label),
                            quote(ty)
                        ),
                    });
                }
            }
            None if !pod_ok => implicit.push(Finding {
                path,
                message: format!(
                    "pod or container {} must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\"",
                    quote(&c.label)
                ),
            }),
            None => {}
        }
    }
    report(explicit, implicit, out);
}

/// Containers must drop `ALL` capabilities and may add only
/// `NET_BIND_SERVICE`; Windows pods are exempt from v1.25.
pub(crate) fn capabilities(pod: &Pod<'_>, minor: u32, out: &mut Emitter<'_>) {
    if minor >= 25 && pod.is_windows() {
        return;
    }
    for c in pod.containers() {
        let caps: Option<&Obj> = obj_field(c.security_context, "capabilities");
        let drops_all = array_field(caps, "drop")
            .into_iter()
            .flatten()
            .any(|cap| cap.as_str() == Some("ALL"));
        if !drops_all {
            out.emit(
                c.sc_path(&["capabilities", "drop"]),
                format!(
                    "container {} must set securityContext.capabilities.drop=[\"ALL\"]",
                    quote(&c.label)
                ),
            );
        }
        for (i, cap) in array_field(caps, "add").into_iter().flatten().enumerate() {
            let Some(cap) = cap.as_str() else { continue };
            if cap != "NET_BIND_SERVICE" {
                out.emit(
                    c.sc_path(&["capabilities", "add"]).index(i),
                    format!(
                        "container {} must not include {} in securityContext.capabilities.add",
                        quote(&c.label),
                        quote(cap)
                    ),
                );
            }
        }
    }
}

/// From v1.35 Restricted forbids any `procMount` but `Default`, even in a
/// user namespace (replaces the relaxed Baseline `procMount`).
pub(crate) fn proc_mount(pod: &Pod<'_>, _minor: u32, out: &mut Emitter<'_>) {
    forbid_unmasked_proc_mount(pod, out);
}
