use std::collections::BTreeMap;

use crate::rules::testing::{config_for_rule, run_fixture};

#[test]
fn ch521_missing_probes() {
    let out = run_fixture(
        "testdata/check/hygiene.yaml",
        &config_for_rule("CH521", false),
        &BTreeMap::new(),
    );
    assert!(!out.contains("Job/"), "Jobs need no probes: {out}");
    assert!(!out.contains("hooked"), "hooks need no probes: {out}");
    insta::assert_snapshot!("CH521", out);
}

#[test]
fn ch522_missing_resources() {
    let out = run_fixture(
        "testdata/check/hygiene.yaml",
        &config_for_rule("CH522", false),
        &BTreeMap::new(),
    );
    assert!(
        !out.contains("migrate"),
        "complete init container reported: {out}"
    );
    insta::assert_snapshot!("CH522", out);
}

#[test]
fn ch522_steps_aside_for_a_resources_fixer() {
    let mut cfg = config_for_rule("CH522", false);
    for r in crate::rules::all() {
        let m = r.meta();
        if m.code != "CH522" && m.name.contains("resources") {
            cfg.disabled.remove(m.code);
            cfg.enabled.insert(m.code);
            let out = run_fixture("testdata/check/hygiene.yaml", &cfg, &BTreeMap::new());
            assert!(!out.contains("CH522"), "{out}");
        }
    }
}

#[test]
fn ch530_exempted_by_annotation() {
    let out = run_fixture(
        "testdata/check/exemptions.yaml",
        &config_for_rule("CH530", false),
        &BTreeMap::new(),
    );
    insta::assert_snapshot!("CH530", out);
}

/// Other tools' exemptions stop the equivalent rules.
#[test]
fn other_tool_exemptions_skip_fixes() {
    let mut cfg = crate::config::Config::default();
    cfg.set_profile(crate::config::Profile::Prod);
    cfg.images.pin = false;
    let out = run_fixture("testdata/check/exemptions.yaml", &cfg, &BTreeMap::new());
    for (code, resource) in [
        ("CH101", "Deployment/shop/legacy"),
        ("CH103", "Deployment/shop/legacy"),
        ("CH107", "Deployment/shop/legacy"),
    ] {
        assert!(
            !out.lines()
                .any(|l| l.starts_with(code) && l.contains(resource)),
            "{code} ran on {resource} despite the exemption:\n{out}"
        );
    }
    // Not exempted: seccomp is still fixed.
    assert!(
        out.lines()
            .any(|l| l.starts_with("CH105") && l.contains("Deployment/shop/legacy")),
        "{out}"
    );
}
