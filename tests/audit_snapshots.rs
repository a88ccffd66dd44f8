//! Snapshot tests of the audit rules (CH601–CH635), one rule at a time, over the fixtures in
//! testdata/audit/. Each snapshot holds the changed/added documents (as a diff) and the rule's
//! findings; every run is checked for idempotence (a second run changes nothing).

#[path = "common/snapshot.rs"]
mod snapshot;

use chart_harden::config::Config;
use chart_harden::rules;

fn repo() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn config(code: &str, namespace: Option<&str>, unsafe_fixes: bool) -> Config {
    let mut cfg = snapshot::only_rule(
        Config::from_file(None, rules::find).expect("config builds"),
        code,
    );
    cfg.unsafe_fixes = unsafe_fixes;
    cfg.namespace = namespace.map(str::to_string);
    cfg
}

fn run_with(fixture: &str, code: &str, namespace: Option<&str>, unsafe_fixes: bool) -> String {
    let p = repo().join("testdata/audit").join(fixture);
    let input = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let cfg = config(code, namespace, unsafe_fixes);
    snapshot::render(fixture, &input, &cfg, code, true)
}

fn run(fixture: &str, code: &str) -> String {
    run_with(fixture, code, Some("shop"), true)
}

#[test]
fn netpol_selects_nothing() {
    let s = run("netpol.yaml", "CH601");
    assert!(
        s.contains("NetworkPolicy shop-collector selects no pod"),
        "{s}"
    );
    assert!(
        s.contains("Deployment/collector carries component: standalone-collector"),
        "{s}"
    );
    assert!(!s.contains("shop-web selects no pod"), "{s}");
    insta::assert_snapshot!("netpol_selects_nothing", s);
}

#[test]
fn netpol_dead_port() {
    let s = run("netpol.yaml", "CH602");
    assert!(s.contains("allows ingress on 3000/TCP"), "{s}");
    assert!(s.contains("8080/TCP (http)"), "{s}");
    insta::assert_snapshot!("netpol_dead_port", s);
}

#[test]
fn netpol_cut_traffic_supplements() {
    let s = run("netpol.yaml", "CH603");
    // web: Service port 8080 closed (the chart opened 3000), DNS over TCP missing, egress to
    // db and collector not allowed, API server not reachable through namespaceSelector: {}.
    assert!(s.contains("name: web-chart-harden-supplement"), "{s}");
    assert!(s.contains("DNS egress on 53/TCP"), "{s}");
    assert!(!s.contains("DNS egress on 53/UDP"), "{s}");
    assert!(s.contains("egress to the API server on 443/TCP"), "{s}");
    assert!(s.contains("egress to Service db on 5432/TCP"), "{s}");
    assert!(s.contains("ingress on 8080/TCP (Service web port)"), "{s}");
    // collector: its own policy selects nothing, the default deny cuts OTLP.
    assert!(s.contains("name: collector-chart-harden-supplement"), "{s}");
    // db: ingress from web is cut by the default deny.
    assert!(s.contains("name: db-chart-harden-supplement"), "{s}");
    // The chart's policies are never touched.
    assert!(!s.contains("=== changed"), "{s}");
    insta::assert_snapshot!("netpol_cut_traffic", s);
}

#[test]
fn netpol_broad_peer() {
    let s = run("netpol.yaml", "CH604");
    assert!(s.contains("never the API server"), "{s}");
    assert!(
        s.contains("shop-legacy admits ingress from every pod"),
        "{s}"
    );
    insta::assert_snapshot!("netpol_broad_peer", s);
}

#[test]
fn netpol_namespace() {
    let s = run("netpol.yaml", "CH605");
    assert!(s.contains("shop-legacy lives in namespace default"), "{s}");
    insta::assert_snapshot!("netpol_namespace", s);
    // Without --namespace the rule has nothing to compare with.
    let s = run_with("netpol.yaml", "CH605", None, true);
    assert!(!s.contains("CH605"), "{s}");
}

#[test]
fn pdb_blocks_drain() {
    let s = run("pdb.yaml", "CH611");
    for name in [
        "PodDisruptionBudget/api",
        "PodDisruptionBudget/worker",
        "PodDisruptionBudget/web",
    ] {
        assert!(s.contains(&format!("{name} spec: ")), "{name}: {s}");
    }
    // minAvailable: 2 of 3 replicas, and a maxUnavailable: 1 budget, are fine.
    assert!(!s.contains("PodDisruptionBudget/cache spec:"), "{s}");
    assert!(!s.contains("PodDisruptionBudget/backend spec:"), "{s}");
    assert!(
        s.contains("-  minAvailable: 1   # the chart default"),
        "{s}"
    );
    assert!(s.contains("+  maxUnavailable: 1"), "{s}");
    insta::assert_snapshot!("pdb_blocks_drain", s);
    // Without unsafe fixes: reported, nothing changed.
    let s = run_with("pdb.yaml", "CH611", None, false);
    assert!(!s.contains("=== changed"), "{s}");
    assert!(s.contains("skipped: "), "{s}");
}

#[test]
fn pdb_selects_nothing() {
    let s = run("pdb.yaml", "CH612");
    assert!(s.contains("old-frontend selects no pod"), "{s}");
    assert_eq!(s.matches("CH612").count(), 1, "{s}");
    insta::assert_snapshot!("pdb_selects_nothing", s);
}

#[test]
fn pdb_overlap() {
    let s = run("pdb.yaml", "CH613");
    assert!(
        s.contains("Deployment/worker are selected by 2 PodDisruptionBudgets (worker, backend)"),
        "{s}"
    );
    assert_eq!(s.matches("CH613").count(), 1, "{s}");
    insta::assert_snapshot!("pdb_overlap", s);
}

#[test]
fn quota_rejects_containers() {
    let s = run("quota.yaml", "CH621");
    assert!(s.contains("init container \"wait-db\""), "{s}");
    assert!(
        s.contains("container \"sidecar\" (no requests.memory, limits.memory)"),
        "{s}"
    );
    assert!(!s.contains("container \"api\""), "{s}");
    assert!(!s.contains("tools-quota"), "{s}");
    insta::assert_snapshot!("quota_rejects_containers", s);
}

#[test]
fn service_selects_nothing() {
    let s = run("dangling.yaml", "CH631");
    assert!(s.contains("Service api-admin selects no pod"), "{s}");
    assert!(!s.contains("upstream"), "{s}");
    insta::assert_snapshot!("service_selects_nothing", s);
}

#[test]
fn service_port_name() {
    let s = run("dangling.yaml", "CH632");
    assert!(s.contains("targets the port name \"http\""), "{s}");
    insta::assert_snapshot!("service_port_name", s);
}

#[test]
fn missing_config_ref() {
    let s = run("dangling.yaml", "CH633");
    assert!(
        s.contains("Warning CH633") && s.contains("Secret \"api-db\""),
        "{s}"
    );
    assert!(
        s.contains("Error CH633") && s.contains("key \"logLevel\""),
        "{s}"
    );
    assert!(!s.contains("feature"), "optional refs are fine: {s}");
    assert!(!s.contains("api-extra"), "optional refs are fine: {s}");
    assert!(!s.contains("kube-root-ca.crt"), "{s}");
    assert!(!s.contains("key \"app.yaml\""), "{s}");
    insta::assert_snapshot!("missing_config_ref", s);
}

#[test]
fn duplicate_object() {
    let s = run("dangling.yaml", "CH634");
    assert!(
        s.contains("ConfigMap/api-config is rendered 2 times"),
        "{s}"
    );
    assert_eq!(s.matches("CH634").count(), 1, "{s}");
    insta::assert_snapshot!("duplicate_object", s);
}

#[test]
fn rbac_subject_namespace() {
    let s = run("dangling.yaml", "CH635");
    assert!(
        s.contains("Warning CH635") && s.contains("ServiceAccount default/api"),
        "{s}"
    );
    assert!(
        s.contains("Info CH635") && s.contains("monitoring/prometheus"),
        "{s}"
    );
    insta::assert_snapshot!("rbac_subject_namespace", s);
}

/// Every audit rule has documentation and a unique code in the CH6xx range.
#[test]
fn audit_rules_documented() {
    let metas: Vec<_> = rules::audit::rules().iter().map(|r| r.meta()).collect();
    assert_eq!(metas.len(), 15);
    for m in &metas {
        assert!(m.code.starts_with("CH6"), "{}", m.code);
        assert!(!m.why.is_empty() && !m.example.is_empty() && !m.fix_notes.is_empty());
        assert_eq!(rules::find(m.code).map(|x| x.name), Some(m.name));
    }
}
