//! CH107 read-only-root-filesystem.

use crate::yaml::Value;
use serde_json::json;

use super::{containers, csc, is_windows, pod_spec};
use crate::finding::{Applicability, Severity};
use crate::inventory::writable;
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
    fix_also_safe: false,
    fix_notes: "Always unsafe: the process may write anywhere in its filesystem. Applied only with \
evidence of where the container writes: the image config read while pinning (its VOLUMEs), or a \
documented table of well-known images (PostgreSQL's socket directory, nginx's cache); the chart's \
env (`PGDATA`, `HOME`, `TMPDIR`, `XDG_*`) adds paths. The fix mounts an emptyDir at /tmp, \
`podSecurity.writablePaths` and those paths. Without evidence it is withheld; \
`podSecurity.readOnlyRootFilesystem: always` applies it anyway.",
    options: "podSecurity.writablePaths, podSecurity.readOnlyRootFilesystem",
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
                let facts = c.image.as_deref().and_then(|i| cx.image(i));
                // The image config was read (while pinning, or from the lockfile): its
                // VOLUMEs are where the image's authors say it writes.
                let config_read = facts.is_some_and(|f| f.user.is_some());
                if let Some(f) = facts {
                    paths.extend(f.volumes.iter().cloned());
                }
                let known = c.image.as_deref().and_then(writable::well_known);
                if let Some((_, ps, _)) = known {
                    paths.extend(ps.iter().map(|p| (*p).to_string()));
                }
                let from_env = writable::env_paths(cv);
                paths.extend(from_env.iter().map(|(_, p)| p.clone()));
                if !(config_read
                    || known.is_some()
                    || cx.cfg.pod_security.read_only_root_filesystem)
                {
                    let e = out.emit(
                        &META,
                        &w.object,
                        &c.path.key("securityContext").key("readOnlyRootFilesystem"),
                        format!(
                            "container {:?} has a writable root filesystem; fix withheld: where it writes is unknown (no image config was read and its image is not in the table of well-known images){}",
                            c.name,
                            if from_env.is_empty() {
                                String::new()
                            } else {
                                format!(
                                    "; its env names {}",
                                    from_env
                                        .iter()
                                        .map(|(k, p)| format!("{k}={p}"))
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                )
                            }
                        ),
                        None,
                    );
                    e.finding.suggestion = crate::finding::suggest(
                        "pin digests so chart-harden reads the image's VOLUMEs, or set `podSecurity.readOnlyRootFilesystem: always` with `podSecurity.writablePaths` listing where it writes",
                    );
                    continue;
                }
                let mut ops = vec![Op::Set(
                    c.path.key("securityContext").key("readOnlyRootFilesystem"),
                    json!(true),
                )];
                let mut writable = Vec::new();
                for p in paths {
                    let p = p.trim_end_matches('/').to_string();
                    if p.is_empty()
                        || !p.starts_with('/')
                        || mounts.iter().any(|m| {
                            let m = m.trim_end_matches('/');
                            m == p || p.starts_with(&format!("{m}/"))
                        })
                        || writable.contains(&p)
                    {
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
                    &w.object,
                    &c.path.key("securityContext").key("readOnlyRootFilesystem"),
                    if writable.is_empty() {
                        format!("container {:?} has a writable root filesystem", c.name)
                    } else {
                        format!(
                            "container {:?} has a writable root filesystem; the fix mounts emptyDir at {writable:?}",
                            c.name
                        )
                    },
                    Some(Fix::edits(Applicability::Unsafe, w.object.doc(), ops)),
                );
            }
        }
    }
}
