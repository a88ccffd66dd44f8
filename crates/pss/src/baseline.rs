//! Baseline-level checks (upstream `policy/check_*.go`, level Baseline).
//!
//! Each function receives the pod, the resolved policy minor version and an
//! [`Emitter`]; it emits one violation per offending field.

use crate::checks::{quote, Emitter};
use crate::path::FieldPath;
use crate::pod::{
    array_field, is_present, is_true, nonzero_number, obj_field, str_field, Obj, Pod,
};

/// `hostNetwork`, `hostPID`, `hostIPC` must be unset or false.
pub(crate) fn host_namespaces(pod: &Pod<'_>, _minor: u32, out: &mut Emitter<'_>) {
    for field in ["hostNetwork", "hostPID", "hostIPC"] {
        if is_true(pod.spec(), field) {
            out.emit(
                pod.spec_path(&[field]),
                format!("pod must not set {field}=true"),
            );
        }
    }
}

/// `securityContext.privileged` must be unset or false.
pub(crate) fn privileged(pod: &Pod<'_>, _minor: u32, out: &mut Emitter<'_>) {
    for c in pod.containers() {
        if is_true(c.security_context, "privileged") {
            out.emit(
                c.sc_path(&["privileged"]),
                format!(
                    "container {} must not set securityContext.privileged=true",
                    quote(&c.label)
                ),
            );
        }
    }
}

/// Capabilities a Baseline container may add (upstream `capabilities_allowed_1_0`).
const BASELINE_CAPABILITIES: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// `securityContext.capabilities.add` may only hold the default capabilities.
pub(crate) fn capabilities(pod: &Pod<'_>, _minor: u32, out: &mut Emitter<'_>) {
    for c in pod.containers() {
        let caps = obj_field(c.security_context, "capabilities");
        for (i, cap) in array_field(caps, "add").into_iter().flatten().enumerate() {
            let Some(cap) = cap.as_str() else { continue };
            if !BASELINE_CAPABILITIES.contains(&cap) {
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

/// Name of volume `i` for messages.
pub(crate) fn volume_label(volume: &Obj, i: usize) -> String {
    match str_field(Some(volume), "name") {
        Some(name) if !name.is_empty() => name.to_owned(),
        _ => format!("volumes[{i}]"),
    }
}

/// No `hostPath` volumes.
pub(crate) fn host_path_volumes(pod: &Pod<'_>, _minor: u32, out: &mut Emitter<'_>) {
    for (i, volume) in array_field(pod.spec(), "volumes")
        .into_iter()
        .flatten()
        .enumerate()
    {
        let Some(volume) = volume.as_object() else {
            continue;
        };
        if is_present(volume, "hostPath") {
            out.emit(
                pod.spec_path(&["volumes"]).index(i).child("hostPath"),
                format!(
                    "volume {} must not be a hostPath volume",
                    quote(&volume_label(volume, i))
                ),
            );
        }
    }
}

/// `ports[*].hostPort` must be unset or 0.
pub(crate) fn host_ports(pod: &Pod<'_>, _minor: u32, out: &mut Emitter<'_>) {
    for c in pod.containers() {
        for (i, port) in array_field(Some(c.obj), "ports")
            .into_iter()
            .flatten()
            .enumerate()
        {
            if let Some(host_port) = nonzero_number(port.as_object(), "hostPort") {
                out.emit(
                    c.path.child("ports").index(i).child("hostPort"),
                    format!(
                        "container {} must not use hostPort {host_port}",
                        quote(&c.label)
                    ),
                );
            }
        }
    }
}

/// Annotation prefix of the deprecated per-container AppArmor annotations.
const APPARMOR_ANNOTATION_PREFIX: &str = "container.apparmor.security.beta.kubernetes.io/";

/// AppArmor: `appArmorProfile.type` (pod and containers) must be
/// `RuntimeDefault` or `Localhost`; the deprecated annotations must be empty,
/// `runtime/default` or `localhost/*`. Upstream checks the fields at every
/// policy version (single versioned check at v1.0).
pub(crate) fn app_armor_profile(pod: &Pod<'_>, _minor: u32, out: &mut Emitter<'_>) {
    let bad_type = |profile: Option<&Obj>| -> Option<String> {
        let profile = profile?;
        let ty = str_field(Some(profile), "type").unwrap_or("");
        (!matches!(ty, "RuntimeDefault" | "Localhost")).then(|| ty.to_owned())
    };
    if let Some(ty) = bad_type(obj_field(pod.security_context(), "appArmorProfile")) {
        out.emit(
            pod.sc_path(&["appArmorProfile", "type"]),
            format!(
                "pod must not set securityContext.appArmorProfile.type to {}",
                quote(&ty)
            ),
        );
    }
    for c in pod.containers() {
        if let Some(ty) = bad_type(obj_field(c.security_context, "appArmorProfile")) {
            out.emit(
                c.sc_path(&["appArmorProfile", "type"]),
                format!(
                    "container {} must not set securityContext.appArmorProfile.type to {}",
                    quote(&c.label),
                    quote(&ty)
                ),
            );
        }
    }
    for (key, value) in pod.annotations() {
        let allowed =
            value.is_empty() || value == "runtime/default" || value.starts_with("localhost/");
        if key.starts_with(APPARMOR_ANNOTATION_PREFIX) && !allowed {
            out.emit(
                pod.annotation_path(key),
                format!(
                    "annotation {key}={} sets a forbidden AppArmor profile",
                    quote(value)
                ),
            );
        }
    }
}

/// SELinux types allowed, with the policy minor version that allows them.
const SELINUX_TYPES: &[(u32, &str)] = &[
    (0, ""),
    (0, "container_t"),
    (0, "container_init_t"),
    (0, "container_kvm_t"),
    (31, "container_engine_t"),
];

/// `seLinuxOptions.type` must be an allowed type; `user` and `role` unset.
pub(crate) fn se_linux_options(pod: &Pod<'_>, minor: u32, out: &mut Emitter<'_>) {
    let check = |opts: Option<&Obj>, path: FieldPath, setter: &str, out: &mut Emitter<'_>| {
        let Some(opts) = opts else { return };
        let ty = str_field(Some(opts), "type").unwrap_or("");
        if !SELINUX_TYPES.iter().any(|&(v, t)| v <= minor && t == ty) {
            out.emit(
                path.child("type"),
                format!(
                    "{setter} set forbidden securityContext.seLinuxOptions: type {}",
                    quote(ty)
                ),
            );
        }
        for field in ["user", "role"] {
            if str_field(Some(opts), field).is_some_and(|v| !v.is_empty()) {
                out.emit(
                    path.child(field),
                    format!(
                        "{setter} set forbidden securityContext.seLinuxOptions: {field} may not be set"
                    ),
                );
            }
        }
    };
    check(
        obj_field(pod.security_context(), "seLinuxOptions"),
        pod.sc_path(&["seLinuxOptions"]),
        "pod",
        out,
    );
    for c in pod.containers() {
        check(
            obj_field(c.security_context, "seLinuxOptions"),
            c.sc_path(&["seLinuxOptions"]),
            &format!("container {}", quote(&c.label)),
            out,
        );
    }
}

/// Emits a violation for every container whose `securityContext.procMount`
/// is set to anything but `Default` (shared with `procMount_restricted`).
pub(crate) fn forbid_unmasked_proc_mount(pod: &Pod<'_>, out: &mut Emitter<'_>) {
    for c in pod.containers() {
        if let Some(mount) = str_field(c.security_context, "procMount") {
            if mount != "Default" {
                out.emit(
                    c.sc_path(&["procMount"]),
                    format!(
                        "container {} must not set securityContext.procMount to {}",
                        quote(&c.label),
                        quote(mount)
                    ),
                );
            }
        }
    }
}

/// `procMount` must be unset or `Default`; from v1.35 any value is allowed
/// for pods in a user namespace (`hostUsers: false`).
pub(crate) fn proc_mount(pod: &Pod<'_>, minor: u32, out: &mut Emitter<'_>) {
    if minor >= 35 && pod.in_user_namespace() {
        return;
    }
    forbid_unmasked_proc_mount(pod, out);
}

/// Whether a seccomp `type` field value is allowed.
pub(crate) fn valid_seccomp_type(ty: &str) -> bool {
    matches!(ty, "RuntimeDefault" | "Localhost")
}

/// The `type` of a seccomp profile object (`""` when unset).
pub(crate) fn seccomp_type(profile: &Obj) -> &str {
    str_field(Some(profile), "type").unwrap_or("")
}

const SECCOMP_POD_ANNOTATION: &str = "seccomp.security.alpha.kubernetes.io/pod";
const SECCOMP_CONTAINER_ANNOTATION_PREFIX: &str = "container.seccomp.security.alpha.kubernetes.io/";

/// Seccomp, if set, must be `RuntimeDefault` or `Localhost`. Before v1.19 the
/// policy reads the alpha annotations; from v1.19 the `seccompProfile` fields.
pub(crate) fn seccomp_profile(pod: &Pod<'_>, minor: u32, out: &mut Emitter<'_>) {
    if minor < 19 {
        let valid = |v: &str| {
            v == "runtime/default" || v == "docker/default" || v.starts_with("localhost/")
        };
        let mut keys = vec![SECCOMP_POD_ANNOTATION.to_owned()];
        keys.extend(
            pod.containers()
                .iter()
                .filter_map(|c| c.name)
                .map(|name| format!("{SECCOMP_CONTAINER_ANNOTATION_PREFIX}{name}")),
        );
        keys[1..].sort_unstable();
        keys.dedup();
        for key in keys {
            if let Some(value) = pod.annotation(&key) {
                if !valid(value) {
                    out.emit(
                        pod.annotation_path(&key),
                        format!("forbidden annotation {key}={}", quote(value)),
                    );
                }
            }
        }
        return;
    }

    if let Some(profile) = obj_field(pod.security_context(), "seccompProfile") {
        let ty = seccomp_type(profile);
        if !valid_seccomp_type(ty) {
            out.emit(
                pod.sc_path(&["seccompProfile", "type"]),
                format!(
                    "pod must not set securityContext.seccompProfile.type to {}",
                    quote(ty)
                ),
            );
        }
    }
    for c in pod.containers() {
        if let Some(profile) = obj_field(c.security_context, "seccompProfile") {
            let ty = seccomp_type(profile);
            if !valid_seccomp_type(ty) {
                out.emit(
                    c.sc_path(&["seccompProfile", "type"]),
                    format!(
                        "container {} must not set securityContext.seccompProfile.type to {}",
                        quote(&c.label),
                        quote(ty)
                    ),
                );
            }
        }
    }
}

/// Safe sysctls, with the policy minor version that allows them.
const SAFE_SYSCTLS: &[(u32, &str)] = &[
    (0, "kernel.shm_rmid_forced"),
    (0, "net.ipv4.ip_local_port_range"),
    (0, "net.ipv4.tcp_syncookies"),
    (0, "net.ipv4.ping_group_range"),
    (0, "net.ipv4.ip_unprivileged_port_start"),
    (27, "net.ipv4.ip_local_reserved_ports"),
    (29, "net.ipv4.tcp_keepalive_time"),
    (29, "net.ipv4.tcp_fin_timeout"),
    (29, "net.ipv4.tcp_keepalive_intvl"),
    (29, "net.ipv4.tcp_keepalive_probes"),
    (32, "net.ipv4.tcp_rmem"),
    (32, "net.ipv4.tcp_wmem"),
    (37, "net.ipv4.tcp_slow_start_after_idle"),
    (37, "net.ipv4.tcp_notsent_lowat"),
];

/// `spec.securityContext.sysctls[*].name` must be in the safe set.
pub(crate) fn sysctls(pod: &Pod<'_>, minor: u32, out: &mut Emitter<'_>) {
    for (i, sysctl) in array_field(pod.security_context(), "sysctls")
        .into_iter()
        .flatten()
        .enumerate()
    {
        let Some(name) = str_field(sysctl.as_object(), "name") else {
            continue;
        };
        if !SAFE_SYSCTLS.iter().any(|&(v, s)| v <= minor && s == name) {
            out.emit(
                pod.sc_path(&["sysctls"]).index(i).child("name"),
                format!("pod must not set forbidden sysctl {}", quote(name)),
            );
        }
    }
}

/// `windowsOptions.hostProcess` must be unset or false (pod and containers).
pub(crate) fn windows_host_process(pod: &Pod<'_>, _minor: u32, out: &mut Emitter<'_>) {
    if is_true(
        obj_field(pod.security_context(), "windowsOptions"),
        "hostProcess",
    ) {
        out.emit(
            pod.sc_path(&["windowsOptions", "hostProcess"]),
            "pod must not set securityContext.windowsOptions.hostProcess=true".to_owned(),
        );
    }
    for c in pod.containers() {
        if is_true(
            obj_field(c.security_context, "windowsOptions"),
            "hostProcess",
        ) {
            out.emit(
                c.sc_path(&["windowsOptions", "hostProcess"]),
                format!(
                    "container {} must not set securityContext.windowsOptions.hostProcess=true",
                    quote(&c.label)
                ),
            );
        }
    }
}

/// Probe and lifecycle handlers whose `host` is checked (v1.34+).
const PROBE_HANDLERS: &[&[&str]] = &[
    &["livenessProbe"],
    &["readinessProbe"],
    &["startupProbe"],
    &["lifecycle", "postStart"],
    &["lifecycle", "preStop"],
];

/// `host` in `httpGet`/`tcpSocket` of probes and lifecycle hooks must be unset
/// or empty.
pub(crate) fn host_probes_and_host_lifecycle(pod: &Pod<'_>, _minor: u32, out: &mut Emitter<'_>) {
    for c in pod.containers() {
        for handler_path in PROBE_HANDLERS {
            let handler = handler_path
                .iter()
                .try_fold(c.obj, |obj, field| obj_field(Some(obj), field));
            for action in ["httpGet", "tcpSocket"] {
                let Some(host) = str_field(obj_field(handler, action), "host") else {
                    continue;
                };
                if host.is_empty() {
                    continue;
                }
                let field = c.path.children(handler_path).children(&[action, "host"]);
                out.emit(
                    field,
                    format!(
                        "container {} must not set {}.{action}.host (uses host {})",
                        quote(&c.label),
                        handler_path.join("."),
                        quote(host)
                    ),
                );
            }
        }
    }
}
