//! CH406 namespace-pss-labels: Pod Security Admission labels on the release's Namespace.

use crate::yaml::Value;
use chart_harden_pss::{evaluate, Level, Version};

use crate::finding::{Applicability, Severity};
use crate::inventory::Inventory;
use crate::rules::{Context, Fix, Rule, RuleMeta, Sink};
use crate::yaml::edit::Op;
use crate::yaml::view::ValueExt;
use crate::yaml::Path;

pub(crate) static META: RuleMeta = RuleMeta {
    code: "CH406",
    name: "namespace-pss-labels",
    group: "pod-security",
    summary: "A Namespace in the stream gets `pod-security.kubernetes.io/enforce|audit|warn` labels: enforce the strictest level every pod of the release passes.",
    why: "Pod Security Admission only enforces a level on namespaces labelled for it; without the \
labels any pod (privileged, hostPath, root) is admitted, whatever the chart's own pods look like.",
    example: "kind: Namespace\nmetadata:\n  name: shop\n  labels:\n    pod-security.kubernetes.io/enforce: restricted   # added\n\
    pod-security.kubernetes.io/enforce-version: latest\n    pod-security.kubernetes.io/audit: restricted\n\
    pod-security.kubernetes.io/audit-version: latest\n    pod-security.kubernetes.io/warn: restricted\n    pod-security.kubernetes.io/warn-version: latest",
    fix: Applicability::Safe,
    fix_also_safe: false,
    fix_notes: "Safe: no `enforce` label where a controller of the release may create pods at run \
time (their pods are not in the stream: audit and warn only). Elsewhere `enforce` is the strictest level that every pod template of the release in \
that namespace passes (evaluated on the hardened output), so the release's own pods stay \
admitted; `audit` and `warn` are `restricted` so that the remaining gaps are visible. Labels the \
chart already sets are kept: the annotation `chart-harden.io/pss-labels` lists the labels \
chart-harden set (`managed` = all six), and only those change on a later run. When the stream has no Namespace object nothing is invented (it \
would clash with `helm install --create-namespace`): the finding says which labels to set.",
    options: "none",
    severity: Severity::Warning,
    default_enabled: true,
};

/// Annotation marking labels chart-harden chose (so that later passes may raise the level
/// once other fixes have hardened the pods).
/// Annotation listing the label modes chart-harden set (`enforce-version,audit-version`, or
/// `managed` for all six): only those may change on a later run; labels the chart set are
/// never touched.
const MARK: &str = "chart-harden.io/pss-labels";

const MODES: [&str; 6] = [
    "enforce",
    "enforce-version",
    "audit",
    "audit-version",
    "warn",
    "warn-version",
];

fn label_key(mode: &str) -> String {
    format!("pod-security.kubernetes.io/{mode}")
}

/// The strictest level every pod template in namespace `ns` passes, and the pods holding
/// restricted back.
fn level_for(cx: &Context<'_>, ns: &str) -> (Level, Vec<String>) {
    let mut level = Level::Restricted;
    let mut held = Vec::new();
    for w in cx.inv.workloads_in(ns) {
        if !Inventory::same_namespace(&w.namespace, ns) {
            continue;
        }
        let v = cx.value(&w.object);
        if !evaluate(&v.to_json(), Level::Restricted, Version::Latest).is_empty() {
            held.push(format!(
                "{}/{}",
                w.object.resource.kind, w.object.resource.name
            ));
            let l = if evaluate(&v.to_json(), Level::Baseline, Version::Latest).is_empty() {
                Level::Baseline
            } else {
                Level::Privileged
            };
            level = level.min(l);
        }
    }
    (level, held)
}

/// CH406.
pub struct NamespacePssLabels;

impl Rule for NamespacePssLabels {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn late(&self) -> bool {
        true
    }

    fn check(&self, cx: &Context<'_>, out: &mut Sink) {
        let namespaces = cx.inv.by_kind.get("Namespace").cloned().unwrap_or_default();
        if namespaces.is_empty() {
            if cx.inv.workloads.is_empty() {
                return;
            }
            // The level is not named here: other fixes still harden the pods between passes
            // (`chart-harden check` reports the level of the final output).
            let e = out.emit(
                &META,
                crate::finding::ResourceRef::default(),
                &Path::root(),
                "the stream has no Namespace object, so no Pod Security Admission labels were added (inventing one would clash with `helm install --create-namespace`); label the release namespace yourself: pod-security.kubernetes.io/enforce=restricted if `chart-harden check --level restricted` passes on the output, else baseline; audit=restricted, warn=restricted",
                None,
            );
            e.finding.severity = Severity::Info;
            return;
        }
        for n in namespaces {
            let v = cx.value(&n);
            let labels = v.ptr("/metadata/labels").unwrap_or(&Value::Null);
            // The labels chart-harden set on an earlier run (`managed`: all of them, as
            // written by versions before the list).
            let managed: Vec<&str> = match v
                .ptr("/metadata/annotations")
                .and_then(|a| a.get(MARK))
                .and_then(Value::as_str)
            {
                Some("managed") => MODES.to_vec(),
                Some(list) => list.split(',').map(str::trim).collect(),
                None => Vec::new(),
            };
            let (level, held) = level_for(cx, &n.resource.name);
            // Pods a controller of the release creates at run time are not in the stream: no
            // level can be known to admit them, so enforce nothing there (audit and warn only).
            let spawning = cx.inv.facts.spawns_in(&n.resource.name);
            let want = [
                ("enforce", level.as_str()),
                ("enforce-version", "latest"),
                ("audit", "restricted"),
                ("audit-version", "latest"),
                ("warn", "restricted"),
                ("warn-version", "latest"),
            ];
            let base = n.base.key("metadata");
            let mut ops = Vec::new();
            let mut set: Vec<&str> = Vec::new();
            let mut kept: Vec<String> = Vec::new();
            for (mode, val) in want {
                let key = label_key(mode);
                let have = labels.get(&key).and_then(Value::as_str);
                if have == Some(val) {
                    continue;
                }
                if let Some(h) = have {
                    if !managed.contains(&mode) {
                        kept.push(format!("{key}={h}"));
                        continue; // the chart chose it
                    }
                }
                if spawning.is_some() && mode.starts_with("enforce") {
                    continue;
                }
                ops.push(Op::Set(
                    base.key("labels").key(&key),
                    serde_json::Value::String(val.to_string()),
                ));
                set.push(mode);
            }
            if ops.is_empty() {
                continue;
            }
            let now: Vec<&str> = MODES
                .iter()
                .copied()
                .filter(|m| managed.contains(m) || set.contains(m))
                .collect();
            if now != managed {
                let mark = if now.len() == MODES.len() {
                    "managed".to_string()
                } else {
                    now.join(",")
                };
                ops.push(Op::Set(
                    base.key("annotations").key(MARK),
                    serde_json::Value::String(mark),
                ));
            }
            let held_msg = if held.is_empty() {
                String::new()
            } else {
                format!("; restricted is held back by {}", held.join(", "))
            };
            let kept_msg = if kept.is_empty() {
                String::new()
            } else {
                format!("; the chart's own {} kept", kept.join(", "))
            };
            let shown: Vec<String> = set.iter().map(|m| label_key(m)).collect();
            if let Some(why) = spawning {
                out.emit(
                    &META,
                    &n,
                    &base.key("labels"),
                    format!(
                        "Namespace {}: set {} but enforce no level: {why}, and the pods it creates at run time are not in the stream, so no level is known to admit them (every pod of the release passes {}){kept_msg}",
                        n.resource.name,
                        shown.join(", "),
                        level.as_str()
                    ),
                    Some(Fix::edits(Applicability::Safe, n.doc(), ops)),
                );
                continue;
            }
            out.emit(
                &META,
                &n,
                &base.key("labels"),
                if !managed.is_empty() {
                    format!(
                        "Namespace {}: every pod now passes {}, so enforce it{held_msg}",
                        n.resource.name,
                        level.as_str()
                    )
                } else if kept.is_empty() {
                    format!(
                        "Namespace {} has no Pod Security Admission labels: enforce {}, audit and warn restricted{held_msg}",
                        n.resource.name,
                        level.as_str()
                    )
                } else {
                    format!(
                        "Namespace {}: set {} (every pod passes {}){kept_msg}{held_msg}",
                        n.resource.name,
                        shown.join(", "),
                        level.as_str()
                    )
                },
                Some(Fix::edits(Applicability::Safe, n.doc(), ops)),
            );
        }
    }
}
