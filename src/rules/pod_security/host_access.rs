//! CH110 host-access.

use crate::yaml::Value;

use super::pod_spec;
use crate::finding::{Applicability, Severity};
use crate::rules::{workloads, Context, Rule, RuleMeta, Sink};
use crate::yaml::view::ValueExt;

pub(crate) static META: RuleMeta = RuleMeta {
    code: "CH110",
    name: "host-access",
    group: "pod-security",
    summary: "Report host namespaces, hostPath volumes and hostPorts (baseline); never changed.",
    why: "hostNetwork/hostPID/hostIPC, hostPath volumes and hostPorts break the isolation between \
the pod and the node. Workloads that have them (node agents, CNI, log collectors) usually need \
them, so chart-harden reports them and leaves them alone.",
    example: "spec:\n  hostNetwork: true    # reported",
    fix: Applicability::ReportOnly,
    fix_also_safe: false,
    fix_notes: "Report-only: removing host access stops the workloads that ask for it.",
    options: "none",
    severity: Severity::Error,
    default_enabled: true,
};

/// CH110.
pub struct HostAccess;

impl Rule for HostAccess {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn per_object(&self) -> bool {
        true
    }

    fn check(&self, cx: &Context<'_>, out: &mut Sink) {
        for w in workloads(cx, &META) {
            let spec = pod_spec(cx, w);
            for f in ["hostNetwork", "hostPID", "hostIPC"] {
                if spec.get(f).and_then(Value::as_bool) == Some(true) {
                    let e = out.emit(
                        &META,
                        &w.object,
                        &w.pod_spec.key(f),
                        format!("the pod uses the node's {} namespace ({f}: true)", &f[4..]),
                        None,
                    );
                    e.finding.suggestion = crate::finding::suggest(format!(
                        "remove {f} unless this is a node agent; such workloads need a namespace labelled pod-security.kubernetes.io/enforce: privileged"
                    ));
                }
            }
            if let Some(vs) = spec.key("volumes").and_then(Value::as_array) {
                for (i, v) in vs.iter().enumerate() {
                    if let Some(hp) = v.key("hostPath") {
                        let path = hp.key("path").and_then(Value::as_str).unwrap_or("?");
                        let e = out.emit(
                            &META,
                            &w.object,
                            &w.pod_spec.key("volumes").index(i).key("hostPath"),
                            format!(
                                "volume {:?} mounts the node's {path:?}",
                                v.key("name").and_then(Value::as_str).unwrap_or("?")
                            ),
                            None,
                        );
                        e.finding.suggestion = crate::finding::suggest("use a PersistentVolumeClaim, emptyDir, ConfigMap or CSI volume instead of hostPath");
                    }
                }
            }
            for c in &w.containers {
                let cv = super::container(cx, w, c);
                if let Some(ports) = cv.key("ports").and_then(Value::as_array) {
                    for (i, p) in ports.iter().enumerate() {
                        let hp = p
                            .key("hostPort")
                            .and_then(crate::yaml::view::as_int)
                            .unwrap_or(0);
                        if hp != 0 {
                            let e = out.emit(
                                &META,
                                &w.object,
                                &c.path.key("ports").index(i).key("hostPort"),
                                format!("container {:?} binds node port {hp} (hostPort)", c.name),
                                None,
                            );
                            e.finding.suggestion = crate::finding::suggest(
                                "expose the port through a Service instead of hostPort",
                            );
                        }
                    }
                }
            }
        }
    }
}
