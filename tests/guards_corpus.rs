//! End to end over every chart of the shared corpus with `--profile prod --no-pin`:
//! generated guard objects are valid Kubernetes objects, every pod template is covered by
//! exactly one generated policy or by the chart's own, every Service reference the inference
//! finds is allowed by the policies around it, and a second run is byte-identical.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use chart_harden::document::{parse_stream, Document};
use chart_harden::inventory::{label_selector_matches, Inventory, Workload};
use chart_harden::pipeline::GENERATED_LABEL;
use chart_harden::rules::guards::netpol_infer;
use k8s_openapi::api::core::v1::{LimitRange, ResourceQuota};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use serde_json::Value;

fn shared() -> PathBuf {
    let p = std::env::var_os("CHART_HARDEN_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    assert!(
        p.join("corpus").is_dir(),
        "shared corpus not found at {} (set CHART_HARDEN_SHARED)",
        p.display()
    );
    p
}

fn harden(input: &[u8]) -> Vec<u8> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_chart-harden"))
        .args(["--profile", "prod", "--no-pin", "-q"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary runs");
    let mut stdin = child.stdin.take().expect("stdin");
    let data = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().expect("binary finishes");
    writer.join().expect("writer");
    assert!(
        out.status.success(),
        "chart-harden failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn is_generated(v: &Value) -> bool {
    v.pointer("/metadata/labels")
        .and_then(|l| l.get(GENERATED_LABEL))
        .is_some()
}

fn strip_generated_markers(mut v: Value) -> Value {
    if let Some(md) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        if let Some(l) = md.get_mut("labels").and_then(Value::as_object_mut) {
            l.remove(GENERATED_LABEL);
        }
        if let Some(a) = md.get_mut("annotations").and_then(Value::as_object_mut) {
            a.remove("postrenderer.helm.sh/postrender-filename");
            if a.is_empty() {
                md.remove("annotations");
            }
        }
        if md
            .get("labels")
            .and_then(Value::as_object)
            .is_some_and(|l| l.is_empty())
        {
            md.remove("labels");
        }
    }
    v
}

/// Deserializes a generated object into its k8s-openapi type and back: unknown or misspelt
/// fields (which k8s-openapi would drop) make the round trip differ.
fn schema_check(v: &Value) -> Result<(), String> {
    let kind = v.get("kind").and_then(Value::as_str).unwrap_or_default();
    let want = strip_generated_markers(v.clone());
    let back = match kind {
        "NetworkPolicy" => serde_json::from_value::<NetworkPolicy>(want.clone())
            .map(|o| serde_json::to_value(o).unwrap()),
        "PodDisruptionBudget" => serde_json::from_value::<PodDisruptionBudget>(want.clone())
            .map(|o| serde_json::to_value(o).unwrap()),
        "LimitRange" => serde_json::from_value::<LimitRange>(want.clone())
            .map(|o| serde_json::to_value(o).unwrap()),
        "ResourceQuota" => serde_json::from_value::<ResourceQuota>(want.clone())
            .map(|o| serde_json::to_value(o).unwrap()),
        other => return Err(format!("unexpected generated kind {other}")),
    }
    .map_err(|e| format!("{kind}: {e}"))?;
    if back != want {
        return Err(format!(
            "{kind} does not round-trip:\n{want:#}\nvs\n{back:#}"
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// A small NetworkPolicy evaluator (independent of the generator): is traffic from one pod
// template to another on a port allowed by the policies in the stream?
// ---------------------------------------------------------------------------------------

/// A pod as the evaluator sees it.
pub struct Pod<'a> {
    /// Namespace ("" = the release namespace).
    pub ns: &'a str,
    /// Pod labels.
    pub labels: &'a BTreeMap<String, String>,
    /// Container ports: (name, number, protocol).
    pub ports: Vec<(Option<String>, i64, String)>,
}

fn ns_labels(ns: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("kubernetes.io/metadata.name".to_string(), ns.to_string())])
}

fn peer_matches(peer: &Value, policy_ns: &str, pod: &Pod<'_>) -> bool {
    if peer.get("ipBlock").is_some() {
        return false; // pod IPs are unknown: never count an ipBlock as allowing a pod
    }
    let ns_ok = match peer.get("namespaceSelector") {
        None => Inventory::same_namespace(policy_ns, pod.ns),
        Some(sel) => {
            if pod.ns.is_empty() {
                sel.get("matchLabels")
                    .is_none_or(|m| m.as_object().is_none_or(|m| m.is_empty()))
                    && sel.get("matchExpressions").is_none()
            } else {
                label_selector_matches(sel, &ns_labels(pod.ns))
            }
        }
    };
    let pod_ok = match peer.get("podSelector") {
        None => true,
        Some(sel) => label_selector_matches(sel, pod.labels),
    };
    ns_ok && pod_ok
}

fn port_matches(ports: Option<&Value>, dst: &Pod<'_>, port: i64, proto: &str) -> bool {
    let Some(list) = ports.and_then(Value::as_array) else {
        return true;
    };
    if list.is_empty() {
        return true;
    }
    list.iter().any(|p| {
        let pproto = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
        if pproto != proto {
            return false;
        }
        match p.get("port") {
            None => true,
            Some(Value::Number(n)) => {
                let lo = n.as_i64().unwrap_or(-1);
                let hi = p.get("endPort").and_then(Value::as_i64).unwrap_or(lo);
                (lo..=hi).contains(&port)
            }
            Some(Value::String(name)) => dst
                .ports
                .iter()
                .any(|(n, num, pr)| n.as_deref() == Some(name) && *num == port && pr == proto),
            _ => false,
        }
    })
}

fn policy_types(spec: &Value) -> (bool, bool) {
    match spec.get("policyTypes").and_then(Value::as_array) {
        Some(t) => (
            t.iter().any(|x| x.as_str() == Some("Ingress")),
            t.iter().any(|x| x.as_str() == Some("Egress")),
        ),
        None => (true, spec.get("egress").is_some()),
    }
}

/// Is `src` → `dst` on `port/proto` allowed by the NetworkPolicies (JSON, with their
/// effective namespaces)?
pub fn traffic_allowed(
    policies: &[(String, &Value)],
    src: &Pod<'_>,
    dst: &Pod<'_>,
    port: i64,
    proto: &str,
) -> bool {
    let selects = |ns: &str, v: &Value, pod: &Pod<'_>| {
        Inventory::same_namespace(ns, pod.ns)
            && match v.pointer("/spec/podSelector") {
                Some(sel) if sel.is_object() => label_selector_matches(sel, pod.labels),
                _ => true,
            }
    };
    let mut egress_isolated = false;
    let mut egress_ok = false;
    let mut ingress_isolated = false;
    let mut ingress_ok = false;
    for (ns, v) in policies {
        let spec = v.get("spec").cloned().unwrap_or(Value::Null);
        let (ing, eg) = policy_types(&spec);
        if eg && selects(ns, v, src) {
            egress_isolated = true;
            for r in spec
                .get("egress")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let peers_ok = match r.get("to").and_then(Value::as_array) {
                    None => true,
                    Some(a) if a.is_empty() => true,
                    Some(a) => a.iter().any(|p| peer_matches(p, ns, dst)),
                };
                if peers_ok && port_matches(r.get("ports"), dst, port, proto) {
                    egress_ok = true;
                }
            }
        }
        if ing && selects(ns, v, dst) {
            ingress_isolated = true;
            for r in spec
                .get("ingress")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let peers_ok = match r.get("from").and_then(Value::as_array) {
                    None => true,
                    Some(a) if a.is_empty() => true,
                    Some(a) => a.iter().any(|p| peer_matches(p, ns, src)),
                };
                if peers_ok && port_matches(r.get("ports"), dst, port, proto) {
                    ingress_ok = true;
                }
            }
        }
    }
    (!egress_isolated || egress_ok) && (!ingress_isolated || ingress_ok)
}

fn container_ports(docs: &[Document], w: &Workload) -> Vec<(Option<String>, i64, String)> {
    let root = &docs[w.object.doc].value;
    let mut out = Vec::new();
    for c in &w.containers {
        for p in c
            .path
            .lookup(root)
            .and_then(|cv| cv.get("ports"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(n) = p.get("containerPort").and_then(Value::as_i64) {
                out.push((
                    p.get("name").and_then(Value::as_str).map(str::to_string),
                    n,
                    p.get("protocol")
                        .and_then(Value::as_str)
                        .unwrap_or("TCP")
                        .to_string(),
                ));
            }
        }
    }
    out
}

fn is_test_hook(w: &Workload) -> bool {
    w.hook
        .as_deref()
        .is_some_and(|h| h.split(',').any(|h| h.trim().starts_with("test")))
}

fn host_network(docs: &[Document], w: &Workload) -> bool {
    w.pod_spec
        .lookup(&docs[w.object.doc].value)
        .and_then(|s| s.get("hostNetwork"))
        .and_then(Value::as_bool)
        == Some(true)
}

/// Every Service reference the inference finds in a (hardened) stream that the stream's
/// NetworkPolicies do not allow. References touching a pod selected by a chart-shipped
/// policy are returned separately (the chart's own policy decides those: the NetworkPolicy
/// audit's business), as are references to Services that select no pod.
pub fn unallowed_references(docs: &[Document], inv: &Inventory) -> (Vec<String>, usize, usize) {
    let policies: Vec<(String, &Value)> = inv
        .by_kind
        .get("NetworkPolicy")
        .into_iter()
        .flatten()
        .map(|o| (inv.namespace_of(&o.resource), docs[o.doc].object_value(o)))
        .collect();
    let chart_policy_selects = |w: &Workload| {
        policies.iter().any(|(ns, v)| {
            !is_generated(v)
                && Inventory::same_namespace(ns, &w.namespace)
                && match v.pointer("/spec/podSelector") {
                    Some(sel) if sel.is_object() => label_selector_matches(sel, &w.labels),
                    _ => true,
                }
        })
    };
    let mut bad = Vec::new();
    let mut chart_owned = 0;
    let mut checked = 0;
    for r in netpol_infer::references(docs, inv) {
        let src = &inv.workloads[r.from];
        let svc = &inv.services[r.service];
        if is_test_hook(src) || host_network(docs, src) {
            continue;
        }
        for ti in netpol_infer::selected_workloads(inv, svc) {
            let dst = &inv.workloads[ti];
            if is_test_hook(dst) || host_network(docs, dst) {
                continue;
            }
            if chart_policy_selects(src) || chart_policy_selects(dst) {
                chart_owned += 1;
                continue;
            }
            let dports = container_ports(docs, dst);
            // The pod ports behind the named Service port (or all its ports).
            let chosen: Vec<_> = match r.port {
                Some(p) if svc.ports.iter().any(|sp| sp.port == p) => {
                    svc.ports.iter().filter(|sp| sp.port == p).collect()
                }
                _ => svc.ports.iter().collect(),
            };
            for sp in chosen {
                let targets: Vec<(i64, String)> = match &sp.target {
                    Value::Number(n) if n.as_i64() == Some(0) => {
                        vec![(sp.port, sp.protocol.clone())]
                    }
                    Value::String(s) if s.is_empty() => vec![(sp.port, sp.protocol.clone())],
                    Value::Number(n) => vec![(n.as_i64().unwrap_or(0), sp.protocol.clone())],
                    Value::String(name) => dports
                        .iter()
                        .filter(|(n, _, _)| n.as_deref() == Some(name.as_str()))
                        .map(|(_, num, pr)| (*num, pr.clone()))
                        .collect(),
                    _ => Vec::new(),
                };
                for (port, proto) in targets {
                    checked += 1;
                    let s = Pod {
                        ns: &src.namespace,
                        labels: &src.labels,
                        ports: container_ports(docs, src),
                    };
                    let d = Pod {
                        ns: &dst.namespace,
                        labels: &dst.labels,
                        ports: dports.clone(),
                    };
                    if !traffic_allowed(&policies, &s, &d, port, &proto) {
                        bad.push(format!(
                            "{}/{} → {}/{} port {port}/{proto} (Service {}, {} via {})",
                            src.object.resource.kind,
                            src.object.resource.name,
                            dst.object.resource.kind,
                            dst.object.resource.name,
                            svc.name,
                            r.host,
                            r.via
                        ));
                    }
                }
            }
        }
    }
    (bad, chart_owned, checked)
}

#[test]
fn corpus_guards() {
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
    let mut failures: Vec<String> = Vec::new();
    let (mut n_generated, mut n_policies, mut n_refs_checked, mut n_refs_chart) = (0, 0, 0, 0);
    for chart in &charts {
        let name = chart.file_name().unwrap().to_string_lossy().to_string();
        let input = std::fs::read(chart.join("rendered.yaml")).expect("read");
        let out = harden(&input);
        // Idempotence: a second run is byte-identical.
        let again = harden(&out);
        if again != out {
            failures.push(format!("{name}: second run differs"));
        }
        let stream = parse_stream(&out).expect("output parses");
        let inv = Inventory::build(&stream.docs, None);
        for d in &stream.docs {
            for o in &d.objects {
                let v = d.object_value(o);
                if is_generated(v) {
                    n_generated += 1;
                    if let Err(e) = schema_check(v) {
                        failures.push(format!("{name}: {}: {e}", o.resource.display()));
                    }
                }
            }
        }
        // Coverage: every pod template (except test hooks and hostNetwork pods) is selected
        // by exactly one generated policy and no chart policy, or by chart policies only.
        let policies: Vec<(String, &Value, bool)> = inv
            .by_kind
            .get("NetworkPolicy")
            .into_iter()
            .flatten()
            .map(|o| {
                let v = stream.docs[o.doc].object_value(o);
                (inv.namespace_of(&o.resource), v, is_generated(v))
            })
            .collect();
        n_policies += policies.iter().filter(|p| p.2).count();
        for w in &inv.workloads {
            if is_test_hook(w) || host_network(&stream.docs, w) || w.labels.is_empty() {
                continue;
            }
            let sel: Vec<&(String, &Value, bool)> = policies
                .iter()
                .filter(|(ns, v, _)| {
                    Inventory::same_namespace(ns, &w.namespace)
                        && match v.pointer("/spec/podSelector") {
                            Some(s) if s.is_object() => label_selector_matches(s, &w.labels),
                            _ => true,
                        }
                })
                .collect();
            let generated = sel.iter().filter(|p| p.2).count();
            let chart = sel.len() - generated;
            let ok = (generated == 1 && chart == 0) || (generated == 0 && chart >= 1);
            if !ok {
                failures.push(format!(
                    "{name}: {}/{} selected by {generated} generated and {chart} chart policies",
                    w.object.resource.kind, w.object.resource.name
                ));
            }
        }
        let (bad, chart_owned, checked) = unallowed_references(&stream.docs, &inv);
        n_refs_checked += checked;
        n_refs_chart += chart_owned;
        for b in bad {
            failures.push(format!("{name}: reference not allowed: {b}"));
        }
    }
    eprintln!(
        "{} charts: {n_generated} generated objects ({n_policies} NetworkPolicies); {n_refs_checked} service references checked, {n_refs_chart} left to chart-shipped policies",
        charts.len()
    );
    assert!(
        n_policies > 20,
        "expected generated NetworkPolicies across the corpus, got {n_policies}"
    );
    assert!(
        n_refs_checked > 10,
        "expected service references to check, got {n_refs_checked}"
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The evaluator itself must be able to say no.
#[test]
fn evaluator_denies_and_allows() {
    let policy = serde_json::json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "p"},
        "spec": {"podSelector": {"matchLabels": {"app": "a"}}, "policyTypes": ["Ingress", "Egress"],
                 "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "b"}}}], "ports": [{"port": 80, "protocol": "TCP"}]}]}
    });
    let policies = vec![(String::new(), &policy)];
    let a = BTreeMap::from([("app".to_string(), "a".to_string())]);
    let b = BTreeMap::from([("app".to_string(), "b".to_string())]);
    let pa = Pod {
        ns: "",
        labels: &a,
        ports: vec![],
    };
    let pb = Pod {
        ns: "",
        labels: &b,
        ports: vec![(Some("http".into()), 80, "TCP".into())],
    };
    assert!(traffic_allowed(&policies, &pa, &pb, 80, "TCP"));
    assert!(!traffic_allowed(&policies, &pa, &pb, 81, "TCP"));
    assert!(!traffic_allowed(&policies, &pa, &pb, 80, "UDP"));
    // b → a: a's ingress is default-denied
    assert!(!traffic_allowed(&policies, &pb, &pa, 80, "TCP"));
}
