//! CH404 generate-resource-quota: a ResourceQuota per namespace the release uses, sized from
//! the release's own requests and limits with headroom.

use std::collections::BTreeMap;

use crate::yaml::Value;
use k8s_openapi::api::core::v1::{ResourceQuota, ResourceQuotaSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use serde::Deserialize;

use super::{generated_meta, limit_range, options};
use crate::finding::{Applicability, Severity};
use crate::inventory::quantity;
use crate::inventory::{Inventory, Workload};
use crate::rules::{Context, Fix, Generated, Rule, RuleMeta, Sink};
use crate::yaml::view::ValueExt;
use crate::yaml::Path;

pub(crate) static META: RuleMeta = RuleMeta {
    code: "CH404",
    name: "generate-resource-quota",
    group: "tenancy",
    summary: "Each namespace the release uses gets a ResourceQuota sized from the release's own requests and limits, with headroom.",
    why: "Without a quota one release (or one compromised workload creating pods) can exhaust the \
cluster's CPU, memory and pod slots. A quota sized from what the release declares bounds it \
while leaving room for scaling and rolling updates.",
    example: "# namespace shop; the release requests 1.5 CPU, 3Gi in total → generated:\n\
kind: ResourceQuota\nmetadata:\n  name: shop-chart-harden\n  namespace: shop\nspec:\n  hard:\n    requests.cpu: \"3\"\n    requests.memory: 6Gi\n    limits.cpu: …\n    limits.memory: …\n    pods: \"8\"",
    fix: Applicability::Unsafe,
    fix_also_safe: false,
    fix_notes: "Unsafe: the quota covers the whole namespace, including other releases sharing it, \
and workloads that scale beyond what the release declares (HPA maxReplicas is used when present; \
DaemonSets count `daemonSetNodes` pods). Only generated when the namespace is known (`--namespace` \
or metadata.namespace) and owned by the release (it renders the Namespace, or \
`namespaces` lists it); named `<release>-chart-harden` when `--release` is given. Containers without requests/limits are sized with the LimitRange defaults \
(CH403 adds that LimitRange on the next pass). The quota bounds requests only, not limits, when a \
container without a memory limit is one no default limit fits: a node agent, a data store, a JVM \
sized from its limit, or one nothing in the chart sizes (unless \
`generate.default-resources.limits` or `generate.generate-limit-range.default.memory` is set).",
    options: "`generate.generate-resource-quota.headroom` (multiplier, default 2.0), \
`daemonSetNodes` (default 3), `namespaces` (namespaces the release owns, `*` for all it uses; \
default none: a quota is generated only for a namespace whose Namespace object the release \
renders, since a quota caps every pod of the namespace, other releases' too), `spawningNamespaces` (default false: no quota in a namespace where \
the chart's RBAC lets a controller create pods, Deployments, StatefulSets, DaemonSets, \
ReplicaSets, Jobs or CronJobs at run time — those pods are not in the chart).",
    severity: Severity::Warning,
    default_enabled: true,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Options {
    #[serde(default = "default_headroom")]
    headroom: f64,
    #[serde(default = "default_nodes")]
    daemon_set_nodes: i64,
    #[serde(default)]
    spawning_namespaces: bool,
    /// Namespaces the release owns (`*`: every namespace it uses), besides those whose
    /// Namespace object it renders.
    #[serde(default)]
    namespaces: Vec<String>,
}

fn default_headroom() -> f64 {
    2.0
}
fn default_nodes() -> i64 {
    3
}

impl Default for Options {
    fn default() -> Self {
        Options {
            headroom: default_headroom(),
            daemon_set_nodes: default_nodes(),
            spawning_namespaces: false,
            namespaces: Vec::new(),
        }
    }
}

/// Pods a workload may run at most.
fn max_pods(cx: &Context<'_>, w: &Workload, nodes: i64) -> i64 {
    let r = &w.object.resource;
    for h in cx.inv.of_kind("HorizontalPodAutoscaler") {
        let v = cx.value(h);
        if v.ptr("/spec/scaleTargetRef/kind").and_then(Value::as_str) == Some(r.kind.as_str())
            && v.ptr("/spec/scaleTargetRef/name").and_then(Value::as_str) == Some(r.name.as_str())
        {
            if let Some(m) = v
                .ptr("/spec/maxReplicas")
                .and_then(crate::yaml::view::as_int)
            {
                return m.max(1);
            }
        }
    }
    let obj = cx.value(&w.object);
    match r.kind.as_str() {
        "DaemonSet" => nodes.max(1),
        "Job" => obj
            .ptr("/spec/parallelism")
            .and_then(crate::yaml::view::as_int)
            .unwrap_or(1)
            .max(1),
        _ => w.replicas.unwrap_or(1).max(0),
    }
}

/// CH404.
pub struct GenerateResourceQuota;

impl Rule for GenerateResourceQuota {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context<'_>, out: &mut Sink) {
        let Some(opts) = options::<Options>(cx, &META, out) else {
            return;
        };
        let lr_opts: limit_range::Options = cx
            .cfg
            .generate
            .get(limit_range::META.name)
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default();
        let inv = cx.inv;
        if inv.workloads.is_empty() {
            return;
        }
        let mut by_ns: BTreeMap<String, Vec<&Workload>> = BTreeMap::new();
        for w in &inv.workloads {
            by_ns.entry(w.namespace.clone()).or_default().push(w);
        }
        if by_ns.contains_key("") {
            let e = out.emit(
                &META,
                crate::finding::ResourceRef::default(),
                &Path::root(),
                "the release namespace is unknown: no ResourceQuota generated for objects without metadata.namespace (pass --namespace)",
                None,
            );
            e.finding.severity = Severity::Info;
        }
        let headroom = if opts.headroom.is_finite() && opts.headroom >= 1.0 {
            opts.headroom
        } else {
            1.0
        };
        for (ns, ws) in by_ns {
            if ns.is_empty() {
                continue;
            }
            if ns.starts_with("kube-") {
                let e = out.emit(
                    &META,
                    &ws[0].object.resource,
                    &Path::root(),
                    format!("namespace {ns} is a system namespace: no ResourceQuota generated (it could starve cluster components)"),
                    None,
                );
                e.finding.severity = Severity::Info;
                continue;
            }
            if let Some(why) = inv.facts.spawns_in(&ns) {
                if !opts.spawning_namespaces {
                    let e = out.emit(
                        &META,
                        &ws[0].object.resource,
                        &Path::root(),
                        format!(
                            "namespace {ns}: no ResourceQuota generated: {why}, and the pods it creates at run time are not in the chart, so a quota sized from the release's own pods would reject them or cap them"
                        ),
                        None,
                    );
                    e.finding.severity = Severity::Info;
                    e.finding.suggestion = crate::finding::suggest(
                        "set `generate.generate-resource-quota.spawningNamespaces: true` to generate one anyway (size it with `headroom`)",
                    );
                    continue;
                }
            }
            let existing = inv
                .of_kind("ResourceQuota")
                .find(|o| Inventory::same_namespace(&inv.namespace_of(&o.resource), &ns));
            if let Some(q) = existing {
                if !crate::inventory::is_generated(cx.value(q)) {
                    let e = out.emit(
                        &META,
                        q,
                        &Path::root(),
                        format!(
                            "namespace {ns} already has ResourceQuota {}; nothing generated",
                            q.resource.name
                        ),
                        None,
                    );
                    e.finding.severity = Severity::Info;
                }
                continue;
            }
            // A quota caps every pod of its namespace: one sized from this release would cap
            // the pods of other releases sharing the namespace. Generated only where the
            // release owns the namespace.
            let renders_namespace = inv.of_kind("Namespace").any(|o| o.resource.name == ns);
            if !renders_namespace && !opts.namespaces.iter().any(|n| n == "*" || *n == ns) {
                let e = out.emit(
                    &META,
                    &ws[0].object.resource,
                    &Path::root(),
                    format!(
                        "namespace {ns}: no ResourceQuota generated: a quota caps every pod of the namespace, and the release does not render Namespace {ns}, so other releases may share it"
                    ),
                    None,
                );
                e.finding.severity = Severity::Info;
                e.finding.suggestion = crate::finding::suggest(format!(
                    "if the release owns the namespace, set `generate.generate-resource-quota.namespaces: [{ns}]` (or `[\"*\"]`)"
                ));
                continue;
            }
            // Sum per resource: requests.cpu, requests.memory, limits.cpu, limits.memory.
            let mut total: BTreeMap<&str, f64> = BTreeMap::new();
            let mut pods: i64 = 0;
            for w in &ws {
                let n = max_pods(cx, w, opts.daemon_set_nodes);
                pods += n;
                let mut pod_sum: BTreeMap<&str, f64> = BTreeMap::new();
                let mut init_max: BTreeMap<&str, f64> = BTreeMap::new();
                for c in &w.containers {
                    let cv = cx.at(w.object.doc(), &c.path).unwrap_or(&Value::Null);
                    for (key, kind, res) in [
                        ("requests.cpu", "requests", "cpu"),
                        ("requests.memory", "requests", "memory"),
                        ("limits.cpu", "limits", "cpu"),
                        ("limits.memory", "limits", "memory"),
                    ] {
                        let own = cv
                            .ptr(&format!("/resources/{kind}/{res}"))
                            .and_then(quantity::parse);
                        let fallback = if kind == "requests" {
                            // Kubernetes defaults a missing request to the limit.
                            cv.ptr(&format!("/resources/limits/{res}"))
                                .and_then(quantity::parse)
                                .or_else(|| {
                                    lr_opts.default_request.get(res).and_then(quantity::parse)
                                })
                        } else {
                            lr_opts.default.get(res).and_then(quantity::parse)
                        };
                        let x = own.or(fallback).unwrap_or(0.0);
                        if c.list == "initContainers" {
                            let m = init_max.entry(key).or_insert(0.0);
                            *m = m.max(x);
                        } else if c.list == "containers" {
                            *pod_sum.entry(key).or_insert(0.0) += x;
                        }
                    }
                }
                for (k, s) in pod_sum.iter() {
                    let eff = s.max(init_max.get(k).copied().unwrap_or(0.0));
                    *total.entry(k).or_insert(0.0) += eff * n as f64;
                }
            }
            let mut hard: BTreeMap<String, Quantity> = BTreeMap::new();
            for (k, v) in &total {
                let sized = v * headroom;
                let q = if k.ends_with("cpu") {
                    quantity::cpu(sized)
                } else {
                    quantity::memory(sized)
                };
                hard.insert((*k).to_string(), Quantity(q));
            }
            // A container without a memory limit whose memory no default fits (a node agent,
            // a data store, a JVM sized from its limit, an app nothing sizes while no default
            // was chosen) would get the LimitRange's default limit under a `limits.memory`
            // quota: bound only requests then.
            let default_chosen = super::default_resources::limits_chosen(cx)
                || cx
                    .cfg
                    .generate
                    .get(limit_range::META.name)
                    .and_then(|v| v.get("default"))
                    .and_then(|d| d.get("memory"))
                    .is_some_and(|m| !m.is_null());
            let unbounded: Option<String> = inv
                .workloads
                .iter()
                .enumerate()
                .filter(|(_, x)| x.namespace == ns)
                .find_map(|(wi, w)| {
                    w.containers.iter().find_map(|c| {
                        let cv = cx.at(w.object.doc(), &c.path)?;
                        if cv.ptr("/resources/limits/memory").is_some() {
                            return None;
                        }
                        if let Some(why) = &inv.facts.workloads[wi].unrestrictable {
                            return Some(format!("{} is a node agent ({why})", super::wname(w)));
                        }
                        match super::default_resources::memory_evidence(cv, c.image.as_deref()) {
                            Some(super::default_resources::Memory::Unbounded(why)) => {
                                Some(format!(
                                    "container {:?} of {} sets no memory limit and {why}",
                                    c.name,
                                    super::wname(w)
                                ))
                            }
                            // Nothing sizes it and no default was chosen: the LimitRange's
                            // default would be a guess.
                            None if !default_chosen => Some(format!(
                                "container {:?} of {} sets no memory limit and {}",
                                c.name,
                                super::wname(w),
                                super::default_resources::UNKNOWN_USE
                            )),
                            _ => None,
                        }
                    })
                });
            if let Some(why) = &unbounded {
                hard.remove("limits.memory");
                hard.remove("limits.cpu");
                let e = out.emit(
                    &META,
                    &ws[0].object.resource,
                    &Path::root(),
                    format!("namespace {ns}: the generated quota bounds requests only, not limits: {why}, so a default memory limit could OOM-kill it"),
                    None,
                );
                e.finding.severity = Severity::Info;
            }
            let pods_q = ((pods as f64) * headroom).ceil().max(1.0) as i64;
            hard.insert("pods".into(), Quantity(pods_q.to_string()));
            // Named after the release when it is known: two releases that both own a share
            // of a namespace (by configuration) never write the same object.
            let name = format!(
                "{}{}",
                cx.cfg.release.as_deref().unwrap_or(&ns),
                super::NAME_SUFFIX
            );
            let first = ws[0];
            let explicit_ns = ws
                .iter()
                .find_map(|w| w.object.resource.namespace.as_deref().map(String::from))
                .filter(|n| *n == ns);
            let quota = ResourceQuota {
                metadata: generated_meta(name.clone(), explicit_ns, cx.value(&first.object)),
                spec: Some(ResourceQuotaSpec {
                    hard: Some(hard.clone()),
                    ..Default::default()
                }),
                status: None,
            };
            let shown: Vec<String> = hard.iter().map(|(k, v)| format!("{k}={}", v.0)).collect();
            out.emit(
                &META,
                &first.object,
                &Path::root(),
                format!(
                    "namespace {ns} has no ResourceQuota: generate {name} ({}; {} workloads, headroom ×{headroom})",
                    shown.join(", "),
                    ws.len()
                ),
                Some(Fix {
                    applicability: Applicability::Unsafe,
                    ops: Vec::new(),
                    generated: vec![Generated::new(cx, super::to_value(&quota))],
                }),
            );
        }
    }
}
