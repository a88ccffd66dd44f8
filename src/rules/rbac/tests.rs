use std::collections::BTreeMap;

use crate::rules::testing::{config_for_rule, run_fixture};

fn run(code: &str) -> String {
    run_fixture(
        "testdata/check/rbac.yaml",
        &config_for_rule(code, false),
        &BTreeMap::new(),
    )
}

#[test]
fn ch511_rbac_wildcard() {
    let out = run("CH511");
    // The chart's own CRD is the concrete list suggested for `example.io` resources.
    assert!(out.contains("example.io: widgets"), "{out}");
    insta::assert_snapshot!("CH511", out);
}

#[test]
fn ch512_rbac_secrets_read() {
    let out = run("CH512");
    // `get` limited by resourceNames is already narrow.
    assert!(!out.contains("rules[1]"), "{out}");
    insta::assert_snapshot!("CH512", out);
}

#[test]
fn ch513_rbac_escalation_verbs() {
    let out = run("CH513");
    assert!(out.contains("bind, escalate"), "{out}");
    assert!(out.contains("impersonate"), "{out}");
    insta::assert_snapshot!("CH513", out);
}

#[test]
fn ch514_rbac_cluster_scope() {
    let out = run("CH514");
    assert!(
        out.contains("op-reader"),
        "RoleBinding-only ClusterRole: {out}"
    );
    assert!(
        !out.contains("op-view"),
        "aggregated ClusterRoles are skipped: {out}"
    );
    insta::assert_snapshot!("CH514", out);
}
