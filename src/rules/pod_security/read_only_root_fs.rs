//! CH107 read-only-root-filesystem.

use serde_json::{json, Value};

use super::{containers, csc, is_windows, pod_spec};
use crate::finding::{Applicability, Severity};
use crate::rules::{workloads, Context, Fix, Rule, RuleMeta, Sink};
use crate::yaml::edit::Op;
use crate::yaml::view::ValueExt;

pub(crate) static META: RuleMeta = RuleMeta {
    code: "CH107",
    name: "read-only-root-filesystem",
    group: "pod-security",
    summary: "Containers should run with `readOnlyRootFilesystem: true`, with emptyDir volumes where they write.",
    why: "A writable root filesystem lets an attacker drop tools and persist changes inside the \
container. Read-only roots make the image immutable at run time.",
    example: "securityContext:\n  readOnlyRootFilesystem: true   # added\nvolumeMounts:\n- name: chart-harden-tmp\n  mountPath: /tmp                # added, emptyDir",
    fix: Applicability::Unsafe,
    fix_notes: "Always unsafe: the process may write anywhere in its filesystem. The fix mounts an \
emptyDir at /tmp (and `podSecurity.writablePaths`, and every VOLUME the image config declares), \
which covers most programs, but not all.",
    options: "podSecurity.writablePaths",
    severity: Severity::Warning,
    default_enabled: true,
};

/// CH107.
pub struct ReadOnlyRootFilesystem;

/// A volume name for a writable path: `chart-harden-tmp`, `chart-harden-var-cache`.
fn volume_name(path: &str) -> String {
    let slug: String = path
        .trim_matches('/')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let slug = slug.trim_matches('-');
    let mut n = format!(
        "chart-harden-{}",
        if slug.is_empty() { "root" } else { slug }
    );
    n.truncate(63);
    n.trim_end_matches('-').to_string()
}

impl Rule for ReadOnlyRootFilesystem {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn per_object(&self) -> bool {
        true
    }

    fn check(&self, cx: &Context<'_>, out: &mut Sink) {
        for w in workloads(cx, &META) {
            let spec = pod_spec(cx, w);
            if is_windows(spec) {
                continue;
            }
            let existing_vols: Vec<&str> = spec
                .key("volumes")
                .and_then(Value::as_array)
                .map(|vs| {
                    vs.iter()
                        .filter_map(|v| v.key("name").and_then(Value::as_str))
                        .collect()
                })
                .unwrap_or_default();
            let mut added_vols: Vec<String> = Vec::new();
            for c in containers(w) {
                if c.list == "ephemeralContainers" {
                    continue;
                }
                let cv = super::container(cx, w, c);
                if csc(cv, "readOnlyRootFilesystem").and_then(Value::as_bool) == Some(true) {
                    continue;
                }
                let mounts: Vec<&str> = cv
                    .key("volumeMounts")
                    .and_then(Value::as_array)
                    .map(|ms| {
                        ms.iter()
                            .filter_map(|m| m.key("mountPath").and_then(Value::as_str))
                            .collect()
                    })
                    .unwrap_or_default();
                let mut paths: Vec<String> = cx.cfg.pod_security.writable_paths.clone();
                if let Some(f) = c.image.as_deref().and_then(|i| cx.image(i)) {
                    paths.extend(f.volumes.iter().cloned());
                }
                let mut ops = vec![Op::Set(
                    c.path.key("securityContext").key("readOnlyRootFilesystem"),
                    json!(true),
                )];
                let mut writable = Vec::new();
                for p in paths {
                    let p = p.trim_end_matches('/').to_string();
                    if p.is_empty() || mounts.iter().any(|m| m.trim_end_matches('/') == p) {
                        continue;
                    }
                    let name = volume_name(&p);
                    if !existing_vols.contains(&name.as_str()) && !added_vols.contains(&name) {
                        ops.push(Op::Append(
                            w.pod_spec.key("volumes"),
                            json!({"name": name, "emptyDir": {}}),
                        ));
                        added_vols.push(name.clone());
                    }
                    ops.push(Op::Append(
                        c.path.key("volumeMounts"),
                        json!({"name": name, "mountPath": p}),
                    ));
                    writable.push(p);
                }
                out.emit(
                    &META,
                    &w.object.resource,
                    &c.path.key("securityContext").key("readOnlyRootFilesystem"),
                    if writable.is_empty() {
                        format!("container {:?} has a writable root filesystem", c.name)
                    } else {
                        format!(
                            "container {:?} has a writable root filesystem; the fix mounts emptyDir at {writable:?}",
                            c.name
                        )
                    },
                    Some(Fix::edits(Applicability::Unsafe, w.object.doc, ops)),
                );
            }
        }
    }
}
