//! Pod security rules: reach the Kubernetes *restricted* Pod Security Standard.
//!
//! Shared helpers decide when a fix is safe: a container whose effective UID is known to be
//! non-zero (from its securityContext, the pod's, or the image config read from the registry)
//! loses nothing by `runAsNonRoot: true` or by dropping all capabilities.

use crate::yaml::Value;

use crate::inventory::{Container, Workload};
use crate::rules::{Context, Rule};
use crate::yaml::view::ValueExt;

mod allow_privilege_escalation;
mod automount_token;
mod capabilities;
mod host_access;
mod init_chown;
mod no_privileged;
mod read_only_root_fs;
mod root_user;
mod run_as_non_root;
mod seccomp;

/// The rules of this group, in run order.
pub fn rules() -> Vec<Box<dyn Rule>> {
    vec![
        Box::new(run_as_non_root::RunAsNonRoot),
        Box::new(root_user::RootUser),
        Box::new(allow_privilege_escalation::AllowPrivilegeEscalation),
        Box::new(capabilities::DropAllCapabilities),
        Box::new(seccomp::SeccompRuntimeDefault),
        Box::new(no_privileged::NoPrivileged),
        Box::new(read_only_root_fs::ReadOnlyRootFilesystem),
        Box::new(init_chown::InitChownToFsGroup),
        Box::new(automount_token::AutomountToken),
        Box::new(host_access::HostAccess),
    ]
}

/// The pod spec value of a workload.
pub(crate) fn pod_spec<'a>(cx: &'a Context<'_>, w: &Workload) -> &'a Value {
    cx.at(w.object.doc(), &w.pod_spec).unwrap_or(&Value::Null)
}

/// The container's value.
pub(crate) fn container<'a>(cx: &'a Context<'_>, w: &Workload, c: &Container) -> &'a Value {
    cx.at(w.object.doc(), &c.path).unwrap_or(&Value::Null)
}

/// `securityContext.<field>` of a container.
pub(crate) fn csc<'a>(c: &'a Value, field: &str) -> Option<&'a Value> {
    c.key("securityContext").and_then(|s| s.get(field))
}

/// `spec.securityContext.<field>` of a pod.
pub(crate) fn psc<'a>(spec: &'a Value, field: &str) -> Option<&'a Value> {
    spec.key("securityContext").and_then(|s| s.get(field))
}

/// The UID the container will run as, when known: its securityContext, the pod's, or the
/// image config's numeric user.
pub(crate) fn effective_uid(cx: &Context<'_>, w: &Workload, c: &Container) -> Option<i64> {
    let cv = container(cx, w, c);
    let spec = pod_spec(cx, w);
    csc(cv, "runAsUser")
        .and_then(crate::yaml::view::as_int)
        .or_else(|| psc(spec, "runAsUser").and_then(crate::yaml::view::as_int))
        .or_else(|| {
            c.image
                .as_deref()
                .and_then(|i| cx.image(i))
                .and_then(|f| f.numeric_uid())
        })
}

/// The lowest port below 1024 the container declares (`ports[].containerPort`), if any: a
/// process binds it only with CAP_NET_BIND_SERVICE in its effective set (root keeps it unless
/// ALL is dropped; a non-root process has it only through a file capability) or when the
/// pod's `net.ipv4.ip_unprivileged_port_start` admits it.
pub(crate) fn low_port(cv: &Value) -> Option<i64> {
    cv.key("ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| p.key("containerPort").and_then(crate::yaml::view::as_int))
        .filter(|p| (1..1024).contains(p))
        .min()
}

/// True when the container explicitly runs as UID 0.
pub(crate) fn explicit_root(cx: &Context<'_>, w: &Workload, c: &Container) -> bool {
    let cv = container(cx, w, c);
    let spec = pod_spec(cx, w);
    csc(cv, "runAsUser")
        .and_then(crate::yaml::view::as_int)
        .or_else(|| psc(spec, "runAsUser").and_then(crate::yaml::view::as_int))
        == Some(0)
}

/// True when the pod declares `spec.os.name: windows` (Linux-only fields do not apply).
pub(crate) fn is_windows(spec: &Value) -> bool {
    spec.ptr("/os/name").and_then(Value::as_str) == Some("windows")
}

/// True when the container is privileged.
pub(crate) fn is_privileged(cv: &Value) -> bool {
    csc(cv, "privileged").and_then(Value::as_bool) == Some(true)
}

/// Containers that a rule should check (containers and init containers; ephemeral
/// containers are never in templates but are checked when present).
pub(crate) fn containers(w: &Workload) -> impl Iterator<Item = &Container> {
    w.containers.iter()
}
