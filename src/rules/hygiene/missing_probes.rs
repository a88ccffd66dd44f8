//! CH521 missing-probes.

use crate::yaml::Value;

use crate::finding::{Applicability, Severity};
use crate::rules::{workloads, Context, Rule, RuleMeta, Sink};

pub(crate) static META: RuleMeta = RuleMeta {
    code: "CH521",
    name: "missing-probes",
    group: "availability",
    summary: "Report containers of long-running workloads without a readiness or liveness probe.",
    why: "Without a readiness probe a pod receives traffic before it can serve it and keeps \
receiving it when it hangs; without a liveness probe a deadlocked process is never restarted. \
Rolling updates also cannot tell a broken version from a working one.",
    example: "containers:\n- name: app    # reported: no readinessProbe, no livenessProbe",
    fix: Applicability::ReportOnly,
    fix_also_safe: false,
    fix_notes: "Report-only: a probe needs the application's health endpoint or command, which \
only its authors know; a wrong probe restarts healthy pods.",
    options: "none",
    severity: Severity::Warning,
    default_enabled: true,
};

/// Kinds whose pods are meant to run until replaced.
pub(crate) const LONG_RUNNING: &[&str] = &[
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "ReplicationController",
];

/// CH521.
pub struct MissingProbes;

impl Rule for MissingProbes {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn per_object(&self) -> bool {
        true
    }

    fn check(&self, cx: &Context<'_>, out: &mut Sink) {
        for w in workloads(cx, &META) {
            if !LONG_RUNNING.contains(&w.object.resource.kind.as_str()) || w.hook.is_some() {
                continue;
            }
            for c in w.containers.iter().filter(|c| c.list == "containers") {
                let cv = cx.at(w.object.doc(), &c.path).unwrap_or(&Value::Null);
                let missing: Vec<&str> = ["readinessProbe", "livenessProbe"]
                    .into_iter()
                    .filter(|p| cv.get(*p).is_none_or(Value::is_null))
                    .collect();
                if missing.is_empty() {
                    continue;
                }
                let e = out.emit(
                    &META,
                    &w.object,
                    &c.path.key(missing[0]),
                    format!("container {:?} has no {}", c.name, missing.join(" and no ")),
                    None,
                );
                e.finding.suggestion = crate::finding::suggest(
                    "add a readinessProbe (httpGet on the health endpoint, or tcpSocket on the serving port) and a livenessProbe with a longer period; set them through the chart's values if it exposes them",
                );
            }
        }
    }
}
