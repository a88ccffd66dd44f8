//! Snapshot tests of the guard-object generators (CH401–CH406), one rule at a time, over the
//! fixtures in testdata/guards/. Each snapshot holds the generated/changed documents and the
//! rule's findings; each run is also checked for idempotence (the second run adds nothing).

#[path = "common/snapshot.rs"]
mod snapshot;

use chart_harden::config::Config;
use std::collections::BTreeMap;

use chart_harden::pipeline::harden;

fn repo() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A config with only `code` enabled, unsafe fixes on, no pinning, plus an optional config file.
fn config(code: &str, file: Option<&str>) -> Config {
    let parsed = file.map(|f| {
        let p = repo().join("testdata/guards").join(f);
        let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        Config::parse_file(&text, f).expect("fixture config parses")
    });
    let mut cfg = snapshot::only_rule(
        Config::from_file(parsed, chart_harden::rules::find).expect("config builds"),
        code,
    );
    cfg.unsafe_fixes = true;
    cfg
}

fn run(fixture: &str, code: &str, cfg_file: Option<&str>) -> String {
    let p = repo().join("testdata/guards").join(fixture);
    let input = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let cfg = config(code, cfg_file);
    snapshot::render(fixture, &input, &cfg, code, false)
}

#[test]
fn pdb_floe() {
    let s = run("floe-platform.yaml", "CH401", None);
    // floe-web (replicas 2) and floe-api (HPA minReplicas 2) get one; the rest do not.
    assert!(s.contains("name: floe-web-chart-harden"), "{s}");
    assert!(s.contains("name: floe-api-chart-harden"), "{s}");
    assert!(!s.contains("floe-worker-chart-harden"), "{s}");
    assert!(
        s.contains("already covered by PodDisruptionBudget floe-postgresql"),
        "{s}"
    );
    insta::assert_snapshot!("pdb_floe", s);
}

#[test]
fn pdb_zen_agent_single_replica() {
    let s = run("zen-agent.yaml", "CH401", None);
    assert!(!s.contains("kind: PodDisruptionBudget"), "{s}");
    assert!(s.contains("blocks node drains forever"), "{s}");
    insta::assert_snapshot!("pdb_zen_agent", s);
}

#[test]
fn network_policy_zen_agent() {
    let s = run("zen-agent.yaml", "CH402", Some("zen-agent.config.yaml"));
    assert!(s.contains("name: zen-agent-chart-harden"), "{s}");
    // zen-agent has no Service: ingress only from the kubelet to its probe ports (any source).
    assert!(
        !s.contains("- from:"),
        "zen-agent has no Service, so no ingress from pods: {s}"
    );
    assert!(s.contains("6443"), "{s}");
    assert!(s.contains("192.168.0.0/16"), "{s}");
    insta::assert_snapshot!("netpol_zen_agent", s);
}

#[test]
fn network_policy_floe() {
    let s = run("floe-platform.yaml", "CH402", None);
    for w in [
        "floe-web",
        "floe-api",
        "floe-worker",
        "floe-otel",
        "floe-postgresql",
    ] {
        assert!(s.contains(&format!("name: {w}-chart-harden")), "{w}: {s}");
    }
    assert!(
        !s.contains("floe-test-connection-chart-harden"),
        "test hooks are skipped: {s}"
    );
    assert!(s.contains("env API_URL of container \"web\""), "{s}");
    assert!(
        s.contains("ConfigMap floe-api-config key DATABASE_HOST"),
        "{s}"
    );
    assert!(
        s.contains("ConfigMap floe-api-config key application.yaml"),
        "{s}"
    );
    assert!(s.contains("command of container \"wait-for-db\""), "{s}");
    assert!(!s.contains("CACHE_DIR"), "file paths are not hosts: {s}");
    insta::assert_snapshot!("netpol_floe", s);
}

#[test]
fn limit_range_beside_quota() {
    let s = run("quota.yaml", "CH403", None);
    assert!(s.contains("kind: LimitRange"), "{s}");
    // the container requesting 1Gi memory without a limit raises the default limit to 1Gi
    assert!(s.contains("memory: 1Gi"), "{s}");
    insta::assert_snapshot!("limit_range_quota", s);
}

#[test]
fn resource_quota_floe() {
    // floe-platform's worker may create Jobs in its namespace: no quota sized from the
    // release's own pods unless asked.
    let s = run("floe-platform.yaml", "CH404", None);
    assert!(!s.contains("name: floe-chart-harden"), "{s}");
    assert!(
        s.contains("lets ServiceAccount floe-worker create jobs"),
        "{s}"
    );
    let s = run(
        "floe-platform.yaml",
        "CH404",
        Some("quota-spawning.config.yaml"),
    );
    assert!(s.contains("name: floe-chart-harden"), "{s}");
    insta::assert_snapshot!("resource_quota_floe", s);
}

#[test]
fn default_resources_floe() {
    let s = run("floe-platform.yaml", "CH405", None);
    insta::assert_snapshot!("default_resources_floe", s);
}

#[test]
fn pss_labels() {
    // floe-platform's worker may create Jobs in its namespace: audit and warn, no enforce
    // (the pods it creates are not in the stream).
    let floe = run("floe-platform.yaml", "CH406", None);
    assert!(
        !floe.contains("pod-security.kubernetes.io/enforce"),
        "{floe}"
    );
    assert!(
        floe.contains("pod-security.kubernetes.io/warn: restricted"),
        "{floe}"
    );
    assert!(floe.contains("enforce no level"), "{floe}");
    insta::assert_snapshot!("pss_labels_floe", floe);
    let zen = run("zen-agent.yaml", "CH406", None);
    assert!(zen.contains("no Namespace object"), "{zen}");
    insta::assert_snapshot!("pss_labels_zen_agent", zen);
}

/// Invalid generator options are reported as errors and nothing is generated.
#[test]
fn invalid_options_are_reported() {
    let mut cfg = config("CH401", None);
    cfg.generate.insert(
        "generate-pdb".into(),
        serde_json::json!({"maxUnavailable": 0}),
    );
    let input = std::fs::read(repo().join("testdata/guards/floe-platform.yaml")).unwrap();
    let out = harden(&input, &cfg, &BTreeMap::new()).expect("hardens");
    assert!(!out.changed(), "nothing generated with invalid options");
    assert!(out
        .findings
        .iter()
        .any(|f| f.rule == "CH401" && f.message.contains("invalid config")));
    cfg.generate.insert(
        "generate-pdb".into(),
        serde_json::json!({"maxUnavailabel": 1}),
    );
    let out = harden(&input, &cfg, &BTreeMap::new()).expect("hardens");
    assert!(out
        .findings
        .iter()
        .any(|f| f.rule == "CH401" && f.message.contains("unknown field")));
}

/// A Pod Security label the chart sets itself is never changed, on any run: chart-harden only
/// adds the missing ones and lists them in its annotation.
#[test]
fn pss_labels_keep_the_charts_own_level() {
    let p = repo().join("testdata/guards/floe-platform.yaml");
    let input = std::fs::read_to_string(&p).unwrap().replacen(
        "    app.kubernetes.io/part-of: floe\n",
        "    app.kubernetes.io/part-of: floe\n    pod-security.kubernetes.io/enforce: restricted\n",
        1,
    );
    let cfg = config("CH406", None);
    let images = BTreeMap::new();
    let once = harden(input.as_bytes(), &cfg, &images).expect("hardens");
    let out = String::from_utf8(once.output.clone()).unwrap();
    assert!(
        out.contains("pod-security.kubernetes.io/enforce: restricted\n"),
        "{out}"
    );
    assert!(!out.contains("enforce: baseline"), "{out}");
    assert!(
        out.contains("chart-harden.io/pss-labels: \"audit,audit-version,warn,warn-version\""),
        "{out}"
    );
    let f: Vec<_> = once.findings.iter().filter(|f| f.rule == "CH406").collect();
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(
        f[0].message
            .contains("the chart's own pod-security.kubernetes.io/enforce=restricted kept"),
        "{}",
        f[0].message
    );
    let twice = harden(&once.output, &cfg, &images).expect("hardens again");
    assert_eq!(twice.output, once.output);
}
