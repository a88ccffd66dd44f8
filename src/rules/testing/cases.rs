//! The driver: every case under `testdata/rules/` (one snapshot per run), then the few tests
//! that need more than a case header can say.

use std::collections::BTreeMap;

use super::{cases, cases_dir, config, harden, harden_checked, render, repo, Case, RunOptions};
use crate::rules;

/// Every run of every case: invariants, header expectations and the snapshot. All cases run;
/// the failures are listed at the end.
#[test]
fn every_fixture() {
    let all = cases();
    assert!(all.len() >= 40, "only {} cases found", all.len());
    let mut failed = Vec::new();
    for case in &all {
        for run in &case.runs {
            let name = case.snapshot_name(run);
            let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let text = case.snapshot(run);
                let mut settings = insta::Settings::clone_current();
                settings.set_snapshot_path(cases_dir().join("snapshots"));
                settings.set_prepend_module_to_snapshot(false);
                settings.set_input_file(&case.path);
                settings.set_description(format!(
                    "{} run {}",
                    case.path
                        .strip_prefix(repo())
                        .unwrap_or(&case.path)
                        .display(),
                    run.name
                ));
                settings.set_omit_expression(true);
                settings.bind(|| insta::assert_snapshot!(name.as_str(), text));
            }));
            if ok.is_err() {
                failed.push(name);
            }
        }
    }
    assert!(failed.is_empty(), "failed cases: {failed:?}");
}

/// Every rule with a fix or findings worth showing has a case: the codes the cases cover.
#[test]
fn cases_cover_the_rules() {
    let covered: std::collections::BTreeSet<String> = cases().into_iter().map(|c| c.code).collect();
    for code in [
        "CH101", "CH102", "CH103", "CH104", "CH105", "CH106", "CH107", "CH108", "CH109", "CH110",
        "CH401", "CH402", "CH403", "CH404", "CH405", "CH406", "CH501", "CH511", "CH512", "CH513",
        "CH514", "CH521", "CH522", "CH530", "CH601", "CH602", "CH603", "CH604", "CH605", "CH611",
        "CH612", "CH613", "CH621", "CH631", "CH632", "CH633", "CH634", "CH635",
    ] {
        assert!(covered.contains(code), "no case for {code}");
        assert!(rules::find(code).is_some(), "{code} is not a rule");
    }
}

/// CH522 steps aside for any rule that fixes resources (the fixer reports instead).
#[test]
fn ch522_steps_aside_for_a_resources_fixer() {
    let case = Case::load(&cases_dir().join("hygiene/CH522_workloads.yaml"));
    let dir = case.path.parent().unwrap();
    let mut fixers = 0;
    for r in rules::all() {
        let m = r.meta();
        if m.code != "CH522" && m.name.contains("resources") {
            fixers += 1;
            let o = RunOptions {
                enable: vec![m.code.to_string()],
                ..RunOptions::default()
            };
            let cfg = config("CH522", &o, dir);
            let out = render(&harden_checked(m.code, &case.input, &cfg, &BTreeMap::new()));
            assert!(!out.contains("CH522"), "{}: {out}", m.code);
        }
    }
    assert!(fixers > 0, "no resources fixer");
}

/// Invalid generator options are reported as errors and nothing is generated.
#[test]
fn invalid_generator_options_are_reported() {
    let input = std::fs::read(cases_dir().join("guards/floe-platform.yaml")).unwrap();
    let o = RunOptions {
        unsafe_fixes: true,
        ..RunOptions::default()
    };
    let mut cfg = config("CH401", &o, &cases_dir());
    cfg.generate.insert(
        "generate-pdb".into(),
        serde_json::json!({"maxUnavailable": 0}),
    );
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
    let input = std::fs::read_to_string(cases_dir().join("guards/floe-platform.yaml"))
        .unwrap()
        .replacen(
            "    app.kubernetes.io/part-of: floe\n",
            "    app.kubernetes.io/part-of: floe\n    pod-security.kubernetes.io/enforce: restricted\n",
            1,
        );
    let o = RunOptions {
        unsafe_fixes: true,
        ..RunOptions::default()
    };
    let cfg = config("CH406", &o, &cases_dir());
    let once = harden_checked("CH406 own level", input.as_bytes(), &cfg, &BTreeMap::new());
    let out = String::from_utf8(once.to_bytes()).unwrap();
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

/// The header parser: runs, options and expectations.
#[test]
fn header_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("CH101_header.yaml");
    std::fs::write(
        &p,
        "# snapshot: run safe\n# snapshot: run unsafe unsafe-fixes profile=prod namespace=shop image=example.com/a:1 user=1000\n# snapshot: has@unsafe runAsUser\n# snapshot: count 2 x y\n# a comment\napiVersion: v1\n",
    )
    .unwrap();
    let c = Case::load(&p);
    assert_eq!(c.code, "CH101");
    assert_eq!(c.input, b"# a comment\napiVersion: v1\n");
    assert_eq!(c.runs.len(), 2);
    let u = &c.runs[1].options;
    assert!(u.unsafe_fixes);
    assert_eq!(u.namespace.as_deref(), Some("shop"));
    assert_eq!(u.images["example.com/a:1"].user.as_deref(), Some("1000"));
    assert_eq!(c.snapshot_name(&c.runs[0]), "CH101_header.safe");
    assert_eq!(c.expects.len(), 2);
    assert!(super::is_case_file("CH101_x.yaml"));
    assert!(!super::is_case_file("CH101_x.config.yaml"));
    assert!(!super::is_case_file("floe-platform.yaml"));
}
