//! CH108 init-chown-to-fsgroup.

use crate::yaml::Value;
use serde_json::json;

use super::{csc, pod_spec, psc};
use crate::finding::{Applicability, Severity};
use crate::inventory::facts::{chown_owner, chown_target, only_ownership, shell_script as script};
use crate::inventory::{Container, Workload};
use crate::rules::{workloads, Context, Fix, Rule, RuleMeta, Sink};
use crate::yaml::edit::Op;
use crate::yaml::view::ValueExt;

pub(crate) static META: RuleMeta = RuleMeta {
    code: "CH108",
    name: "init-chown-to-fsgroup",
    group: "pod-security",
    summary: "Replace a root init container that only chowns/chmods volumes with pod `fsGroup`.",
    why: "An init container that runs as root just to `chown -R` a volume breaks the restricted \
standard for the whole pod. The kubelet does the same job with `fsGroup` and \
`fsGroupChangePolicy: OnRootMismatch`, without root.",
    example: "initContainers:\n- name: fix-perms\n  image: busybox\n  command: [sh, -c, \"chown -R 1000:1000 /data\"]\n  securityContext: {runAsUser: 0}\n---\n# removed, and:\nsecurityContext:\n  fsGroup: 1000\n  fsGroupChangePolicy: OnRootMismatch",
    fix: Applicability::Unsafe,
    fix_also_safe: false,
    fix_notes: "Unsafe: fsGroup makes the volume group-owned and group-writable rather than \
user-owned, and does not apply to hostPath volumes; a program that checks ownership or modes \
strictly (databases do) may refuse the volume. Withheld (reported only) for hostPath and NFS \
volumes (fsGroup does not apply), pods running a well-known data store (PostgreSQL, MySQL, \
Redis, …: they require their own user to own the data directory) and owner-only modes \
(`chmod 700`). Also withheld when the init container chowns a volume whose storage decides \
whether fsGroup reaches it (a PersistentVolumeClaim, a volumeClaimTemplate, an ephemeral, CSI \
or other network volume): the hostPath volumes of the local-path provisioner (kind, k3s), \
ReadWriteMany file shares and CSI drivers with `fsGroupPolicy: None` ignore fsGroup, and \
without the init container the volume stays root's. The kubelet applies fsGroup to emptyDir, \
configMap, secret, projected and downwardAPI volumes everywhere; `podSecurity.chownedVolumes: \
fsGroup` says the cluster's storage applies it too.",
    options: "podSecurity.fsGroup (used when the chown names no group); \
podSecurity.chownedVolumes (`keep`, the default, or `fsGroup`)",
    severity: Severity::Error,
    default_enabled: true,
};

/// CH108.
pub struct InitChownToFsGroup;

/// The group a script's chown gives (its user when it names no group): `chown -R 1000:2000 /x`
/// → Some(2000).
fn chown_gid(script: &str) -> Option<i64> {
    let (user, group) = chown_target(script)?;
    group.filter(|g| !g.is_empty()).unwrap_or(user).parse().ok()
}

/// The owner (UID, and GID when numeric) that the pod's root chown init containers give its
/// volumes: the user the chart means its containers to run as.
pub(crate) fn chowned_to(cx: &Context<'_>, w: &Workload) -> Option<(i64, Option<i64>)> {
    w.containers
        .iter()
        .filter(|c| is_chown_init(cx, w, c))
        .find_map(|c| script(super::container(cx, w, c)).and_then(|s| chown_owner(&s)))
}

/// True when `c` is an init container running as root only to chown/chmod volumes.
pub(crate) fn is_chown_init(cx: &Context<'_>, w: &Workload, c: &Container) -> bool {
    if c.list != "initContainers" {
        return false;
    }
    let cv = super::container(cx, w, c);
    let root = csc(cv, "runAsUser")
        .and_then(crate::yaml::view::as_int)
        .or_else(|| psc(pod_spec(cx, w), "runAsUser").and_then(crate::yaml::view::as_int))
        == Some(0);
    root && script(cv).is_some_and(|s| only_ownership(&s))
}

/// Volume sources the kubelet gives the pod's fsGroup on every cluster.
const KUBELET_VOLUMES: &[&str] = &[
    "emptyDir",
    "configMap",
    "secret",
    "projected",
    "downwardAPI",
];

/// The first volume the init container `cv` mounts whose storage decides whether fsGroup
/// reaches it, as its name and what it is: a claim, a volumeClaimTemplate (a mount that names
/// no volume of the pod), an ephemeral, CSI or other volume.
fn storage_volume(spec: &Value, cv: &Value) -> Option<(String, String)> {
    let volumes = spec.key("volumes").and_then(Value::as_array).unwrap_or(&[]);
    let mounts = cv.key("volumeMounts").and_then(Value::as_array)?;
    mounts.iter().find_map(|m| {
        let name = m.key("name").and_then(Value::as_str)?;
        let Some(v) = volumes
            .iter()
            .find(|v| v.key("name").and_then(Value::as_str) == Some(name))
        else {
            return Some((name.to_string(), "a volumeClaimTemplate".to_string()));
        };
        let source = v.as_object()?.keys().find(|k| k.as_ref() != "name")?;
        (!KUBELET_VOLUMES.contains(&source.as_ref()))
            .then(|| (name.to_string(), format!("a {source} volume")))
    })
}

impl Rule for InitChownToFsGroup {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn per_object(&self) -> bool {
        true
    }

    fn check(&self, cx: &Context<'_>, out: &mut Sink) {
        for w in workloads(cx, &META) {
            let spec = pod_spec(cx, w);
            let chowners: Vec<&Container> = w
                .containers
                .iter()
                .filter(|c| is_chown_init(cx, w, c))
                .collect();
            if chowners.is_empty() {
                continue;
            }
            // hostPath and NFS volumes are not affected by fsGroup; a data store checks that
            // its data directory is owned by its own user (fsGroup changes only the group);
            // an owner-only mode (chmod 700) is not one a group can have: report only.
            let untouched = spec
                .key("volumes")
                .and_then(Value::as_array)
                .and_then(|vs| {
                    vs.iter()
                        .find_map(|v| ["hostPath", "nfs"].into_iter().find(|k| v.key(k).is_some()))
                });
            let store = w
                .containers
                .iter()
                .filter(|c| c.list == "containers")
                .find_map(|c| {
                    c.image
                        .as_deref()
                        .and_then(crate::inventory::facts::data_store)
                });
            let owner_only = chowners.iter().any(|c| {
                script(super::container(cx, w, c)).is_some_and(|s| {
                    s.split([';', '&', '|', '\n']).any(|st| {
                        let ws: Vec<&str> = st.split_whitespace().collect();
                        ws.first() == Some(&"chmod")
                            && ws.iter().any(|x| {
                                matches!(
                                    *x,
                                    "700" | "0700" | "600" | "0600" | "go-rwx" | "g-rwx,o-rwx"
                                )
                            })
                    })
                })
            });
            // A volume whose storage decides whether fsGroup reaches it keeps its chown,
            // unless the config says the cluster's storage applies fsGroup.
            let storage = (!cx.cfg.pod_security.chowned_volumes)
                .then(|| {
                    chowners
                        .iter()
                        .find_map(|c| storage_volume(spec, super::container(cx, w, c)))
                })
                .flatten();
            let withheld: Option<String> = match (untouched, store, owner_only, storage) {
                (Some(k), _, _, _) => Some(format!(
                    "the pod uses {k} volumes, which fsGroup does not change: keep the init container or prepare ownership on the node or server"
                )),
                (None, Some(st), _, _) => Some(format!(
                    "the pod runs {st}, which requires its data directory to be owned by its own user; fsGroup changes only the group: keep the init container"
                )),
                (None, None, true, _) => Some(
                    "the init container sets an owner-only mode (chmod 700/600), which a group-owned volume cannot give: keep the init container".to_string(),
                ),
                (None, None, false, Some((name, what))) => Some(format!(
                    "the init container chowns volume {name:?} ({what}), and whether fsGroup reaches it depends on its storage (the hostPath volumes of the local-path provisioner of kind and k3s, ReadWriteMany file shares and CSI drivers with fsGroupPolicy: None ignore it): keep the init container, or set `podSecurity.chownedVolumes: fsGroup` when the cluster's storage applies fsGroup"
                )),
                _ => None,
            };
            let kept = withheld.is_some();
            let gid = chowners
                .iter()
                .find_map(|c| script(super::container(cx, w, c)).and_then(|s| chown_gid(&s)))
                .unwrap_or(cx.cfg.pod_security.fs_group);
            let sc = w.pod_spec.key("securityContext");
            let mut ops = Vec::new();
            if psc(spec, "fsGroup").is_none() {
                ops.push(Op::Set(sc.key("fsGroup"), json!(gid)));
            }
            if psc(spec, "fsGroupChangePolicy").is_none() {
                ops.push(Op::Set(
                    sc.key("fsGroupChangePolicy"),
                    json!("OnRootMismatch"),
                ));
            }
            let mut idx: Vec<usize> = chowners.iter().map(|c| c.index).collect();
            idx.sort_unstable();
            let all_init = spec
                .key("initContainers")
                .and_then(Value::as_array)
                .map_or(0, <[Value]>::len);
            if idx.len() == all_init {
                ops.push(Op::Remove(w.pod_spec.key("initContainers")));
            } else {
                for i in idx.iter().rev() {
                    ops.push(Op::Remove(w.pod_spec.key("initContainers").index(*i)));
                }
            }
            let names: Vec<&str> = chowners.iter().map(|c| c.name.as_str()).collect();
            let e = out.emit(
                &META,
                &w.object,
                &chowners[0].path,
                format!(
                    "init containers {names:?} run as root only to chown/chmod volumes; fsGroup {gid} with fsGroupChangePolicy: OnRootMismatch does this without root"
                ),
                (!kept).then(|| Fix::edits(Applicability::Unsafe, w.object.doc(), ops)),
            );
            if let Some(why) = withheld {
                e.finding.suggestion = crate::finding::suggest(why);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_chown_scripts() {
        assert!(only_ownership(
            "mkdir -p /data/x && chown -R 1000:1000 /data/x"
        ));
        assert!(!only_ownership("chown 1 /x; rm -rf /"));
        assert!(!only_ownership("chmod 755 /x"));
        assert_eq!(chown_gid("chown -R 1000:2000 /data"), Some(2000));
        assert_eq!(chown_gid("chown -R 70 /data"), Some(70));
        assert_eq!(chown_gid("chown -R postgres /data"), None);
    }
}
