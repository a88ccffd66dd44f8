//! The audit end to end over every chart of the shared corpus with `--profile prod --no-pin`:
//! after hardening, every workload's Service ports, DNS over UDP and TCP, API-server access
//! (RBAC-bound ServiceAccount) and inferred egress are allowed by the policies selecting its
//! pods (judged with the shared evaluator, `inventory::netpol`), no PDB blocks a
//! drain, no ResourceQuota constraining cpu/memory stands without a LimitRange, and a second
//! run is byte-identical. The broken guard objects the corpus is known to ship are reported.

use std::collections::BTreeMap;
#[path = "common/e2e.rs"]
mod e2e;

use std::path::{Path, PathBuf};

use chart_harden::document::{parse_stream, Document};
use chart_harden::inventory::netpol::{
    self, egress_allowed, egress_to_cidr_allowed, host_network, ingress_port_open, Pod,
};
use chart_harden::inventory::GENERATED_LABEL;
use chart_harden::inventory::{label_selector_matches, Inventory, Workload};
use chart_harden::rules::audit::SUPPLEMENT_SUFFIX;
use chart_harden::yaml::Value as View;
use serde_json::Value;

fn shared() -> PathBuf {
    e2e::shared_dir()
}

/// Runs the binary; returns (output, JSON report).
fn harden(input: &[u8], report: &Path) -> (Vec<u8>, Value) {
    let rf = report.to_str().expect("UTF-8 path");
    let out = e2e::run(
        &[
            "--profile",
            "prod",
            "--no-pin",
            "-q",
            "--report-format",
            "json",
            "--report-file",
            rf,
        ],
        input,
    );
    e2e::ok(&out, "chart-harden");
    let rep: Value = serde_json::from_slice(&std::fs::read(report).expect("report written"))
        .expect("report is JSON");
    (out.stdout, rep)
}

fn is_generated(v: &View) -> bool {
    v.pointer("/metadata/labels")
        .and_then(|l| l.get(GENERATED_LABEL))
        .is_some()
}

fn skip(docs: &[Document], w: &Workload) -> bool {
    w.is_test_hook() || host_network(docs, w) || w.labels.is_empty()
}

/// Replicas a budget protects: the HPA's minReplicas when one targets the workload.
fn min_replicas(docs: &[Document], inv: &Inventory, w: &Workload) -> i64 {
    for h in inv
        .by_kind
        .get("HorizontalPodAutoscaler")
        .into_iter()
        .flatten()
    {
        let v = docs[h.doc()].object_value(h);
        if v.pointer("/spec/scaleTargetRef/kind")
            .and_then(View::as_str)
            == Some(w.object.resource.kind.as_str())
            && v.pointer("/spec/scaleTargetRef/name")
                .and_then(View::as_str)
                == Some(w.object.resource.name.as_str())
        {
            return v
                .pointer("/spec/minReplicas")
                .and_then(View::as_i64)
                .unwrap_or(1);
        }
    }
    w.replicas.unwrap_or(1)
}

/// Does a budget value keep every one of `total` pods?
fn blocks(pdb: &Value, total: i64) -> bool {
    let pct = |s: &str| s.strip_suffix('%').and_then(|p| p.parse::<i64>().ok());
    match (
        pdb.pointer("/spec/minAvailable"),
        pdb.pointer("/spec/maxUnavailable"),
    ) {
        (Some(Value::Number(n)), _) => n.as_i64().unwrap_or(0) >= total,
        (Some(Value::String(s)), _) => pct(s).is_some_and(|p| (total * p + 99) / 100 >= total),
        (_, Some(Value::Number(n))) => n.as_i64() == Some(0),
        (_, Some(Value::String(s))) => pct(s) == Some(0),
        _ => false,
    }
}

#[derive(Default)]
struct Figures {
    workloads: usize,
    isolated: usize,
    ports: usize,
    dns: usize,
    api: usize,
    refs: usize,
    supplements: usize,
    pdbs: usize,
    quotas: usize,
    findings: BTreeMap<String, usize>,
}

#[test]
fn corpus_audit() {
    let corpus = shared().join("corpus");
    let mut charts: Vec<PathBuf> = std::fs::read_dir(&corpus)
        .expect("corpus readable")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("rendered.yaml").is_file())
        .collect();
    charts.sort();
    assert!(
        charts.len() >= 20,
        "expected the full corpus, found {}",
        charts.len()
    );
    let tmp = std::env::temp_dir().join(format!("chart-harden-audit-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("tmp dir");
    let mut failures: Vec<String> = Vec::new();
    let mut total = Figures::default();
    let mut reports: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for chart in &charts {
        let name = chart.file_name().unwrap().to_string_lossy().to_string();
        let input = std::fs::read(chart.join("rendered.yaml")).expect("read");
        let (out, rep) = harden(&input, &tmp.join(format!("{name}.json")));
        let (again, _) = harden(&out, &tmp.join(format!("{name}-2.json")));
        if again != out {
            failures.push(format!("{name}: second run differs"));
        }
        let findings: Vec<Value> = rep
            .get("findings")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut f = Figures::default();
        for x in &findings {
            if let Some(r) = x
                .get("rule")
                .and_then(Value::as_str)
                .filter(|r| r.starts_with("CH6"))
            {
                *f.findings.entry(r.to_string()).or_default() += 1;
            }
        }
        reports.insert(name.clone(), findings);
        let stream = parse_stream(&out).expect("output parses");
        let docs = &stream.docs;
        let inv = Inventory::build(docs, None);
        let policies = netpol::policies(docs, &inv);
        f.supplements = policies
            .iter()
            .filter(|(_, v)| {
                v.pointer("/metadata/name")
                    .and_then(View::as_str)
                    .is_some_and(|n| n.ends_with(SUPPLEMENT_SUFFIX))
            })
            .count();
        let dns_labels = chart_harden::inventory::Labels::from(BTreeMap::from([(
            "k8s-app".to_string(),
            "kube-dns".to_string(),
        )]));
        let dns = Pod {
            ns: "kube-system",
            labels: &dns_labels,
            ports: vec![],
            foreign: true,
        };
        for w in &inv.workloads {
            if skip(docs, w) {
                continue;
            }
            f.workloads += 1;
            let pod = Pod::of(docs, w);
            let wn = format!("{}/{}", w.object.resource.kind, w.object.resource.name);
            if netpol::isolated(&policies, &pod, netpol::Direction::Ingress)
                || netpol::isolated(&policies, &pod, netpol::Direction::Egress)
            {
                f.isolated += 1;
            }
            for s in inv.services_for(w) {
                for (port, proto) in netpol::target_ports(s, None, &pod.ports) {
                    f.ports += 1;
                    if !ingress_port_open(&policies, &pod, port, &proto) {
                        failures.push(format!(
                            "{name}: {wn}: Service {} port {port}/{proto} not allowed in",
                            s.name
                        ));
                    }
                }
            }
            for proto in ["UDP", "TCP"] {
                f.dns += 1;
                if !egress_allowed(&policies, &pod, &dns, 53, proto) {
                    failures.push(format!("{name}: {wn}: DNS 53/{proto} not allowed out"));
                }
            }
            if !inv
                .bindings_for(&w.namespace, &w.service_account)
                .is_empty()
            {
                for port in [443, 6443] {
                    f.api += 1;
                    if !egress_to_cidr_allowed(&policies, &pod, "0.0.0.0/0", port, "TCP") {
                        failures.push(format!(
                            "{name}: {wn}: API server {port}/TCP not allowed out (RBAC-bound ServiceAccount {})",
                            w.service_account
                        ));
                    }
                }
            }
        }
        let rc = netpol::unallowed_references(docs, &inv, is_generated);
        f.refs = rc.checked;
        for b in rc.bad {
            failures.push(format!("{name}: reference not allowed: {b}"));
        }
        // PDBs: none blocks a drain.
        for o in inv.by_kind.get("PodDisruptionBudget").into_iter().flatten() {
            f.pdbs += 1;
            let v = docs[o.doc()].object_value(o);
            let ns = inv.namespace_of(&o.resource);
            let Some(sel) = v.pointer("/spec/selector").filter(|s| s.is_object()) else {
                continue;
            };
            let n: i64 = inv
                .workloads
                .iter()
                .filter(|w| {
                    Inventory::same_namespace(&ns, &w.namespace)
                        && matches!(
                            w.object.resource.kind.as_str(),
                            "Deployment" | "StatefulSet" | "ReplicaSet" | "Pod"
                        )
                        && label_selector_matches(sel, &w.labels)
                })
                .map(|w| min_replicas(docs, &inv, w))
                .sum();
            if n > 0 && blocks(&v.to_json(), n) {
                failures.push(format!(
                    "{name}: PodDisruptionBudget {} blocks drains over {n} pod(s)",
                    o.resource.name
                ));
            }
        }
        // Quotas: none constraining cpu/memory without a LimitRange beside it.
        for q in inv.by_kind.get("ResourceQuota").into_iter().flatten() {
            f.quotas += 1;
            let v = docs[q.doc()].object_value(q);
            let constrains = v
                .pointer("/spec/hard")
                .and_then(View::as_object)
                .is_some_and(|h| h.keys().any(|k| k.contains("cpu") || k.contains("memory")));
            let ns = inv.namespace_of(&q.resource);
            let has_lr = inv
                .by_kind
                .get("LimitRange")
                .into_iter()
                .flatten()
                .any(|l| Inventory::same_namespace(&inv.namespace_of(&l.resource), &ns));
            if constrains && !has_lr {
                failures.push(format!(
                    "{name}: ResourceQuota {} stands without a LimitRange",
                    q.resource.name
                ));
            }
        }
        eprintln!(
            "{name:24} workloads {:3} (isolated {:3})  service ports {:3}  dns {:3}  api {:2}  refs {:3}  supplements {:2}  pdbs {}  quotas {}  audit findings {:?}",
            f.workloads, f.isolated, f.ports, f.dns, f.api, f.refs, f.supplements, f.pdbs, f.quotas, f.findings
        );
        total.workloads += f.workloads;
        total.isolated += f.isolated;
        total.ports += f.ports;
        total.dns += f.dns;
        total.api += f.api;
        total.refs += f.refs;
        total.supplements += f.supplements;
    }
    let _ = std::fs::remove_dir_all(&tmp);
    eprintln!(
        "{} charts: {} workloads ({} isolated), {} Service ports, {} DNS checks, {} API-server checks, {} references judged, {} supplementing policies",
        charts.len(),
        total.workloads,
        total.isolated,
        total.ports,
        total.dns,
        total.api,
        total.refs,
        total.supplements
    );
    // The known-broken guard objects of the corpus are reported.
    let has = |chart: &str, rule: &str, needle: &str| {
        reports.get(chart).is_some_and(|fs| {
            fs.iter().any(|f| {
                f.get("rule").and_then(Value::as_str) == Some(rule)
                    && f.get("message")
                        .and_then(Value::as_str)
                        .is_some_and(|m| m.contains(needle))
            })
        })
    };
    for chart in ["floe-platform-prod", "floe-platform-secure"] {
        for (rule, needle) in [
            ("CH601", "NetworkPolicy floe-platform-otel selects no pod"),
            ("CH602", "allows ingress on 3000/TCP"),
            ("CH603", "Deployment/floe-platform-otel is isolated"),
            ("CH611", "minAvailable: 1 keeps 1 of its 1 pod(s)"),
        ] {
            if !has(chart, rule, needle) {
                failures.push(format!(
                    "{chart}: expected {rule} finding containing {needle:?}"
                ));
            }
        }
    }
    if !has(
        "floe-platform-secure",
        "CH621",
        "init container \"check-db-ready\"",
    ) {
        failures.push("floe-platform-secure: expected CH621 naming the init containers".into());
    }
    for (rule, needle) in [
        ("CH604", "never the API server"),
        ("CH603", "DNS egress on 53/TCP"),
        ("CH603", "egress to the API server on 443/TCP"),
    ] {
        if !has("zen-watcher", rule, needle) {
            failures.push(format!(
                "zen-watcher: expected {rule} finding containing {needle:?}"
            ));
        }
    }
    assert!(
        total.supplements >= 10,
        "expected supplementing policies, got {}",
        total.supplements
    );
    assert!(
        total.refs > 40,
        "expected references to judge, got {}",
        total.refs
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
