//! `chart-harden check` on the fixtures of testdata/check: exit codes, every report format,
//! cross-references, and that no secret value ever reaches a report.

#[path = "common/e2e.rs"]
mod e2e;

use std::process::Output;

fn fixture(name: &str) -> String {
    format!("{}/testdata/check/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn run(args: &[&str]) -> Output {
    e2e::run(args, b"")
}

#[test]
fn exit_codes() {
    let o = run(&[
        "check",
        "--profile",
        "prod",
        "--no-pin",
        &fixture("exemptions.yaml"),
    ]);
    assert_eq!(o.status.code(), Some(1), "violations remain");
    let o = run(&[
        "check",
        "--profile",
        "prod",
        "--no-pin",
        &fixture("secrets.yaml"),
    ]);
    assert_eq!(o.status.code(), Some(0), "no pods: clean");
    let o = run(&["check", &fixture("does-not-exist.yaml")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(o.stdout.is_empty());
    let o = run(&["check", "--pss-version", "v2.0", &fixture("secrets.yaml")]);
    assert_eq!(o.status.code(), Some(2), "bad version is a usage error");
    let o = run(&[
        "check",
        "--level",
        "baseline",
        "--pss-version",
        "v1.25",
        "--profile",
        "prod",
        "--no-pin",
        &fixture("exemptions.yaml"),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("baseline (v1.25)"), "{text}");
    assert!(!text.contains("restricted runAsNonRoot"), "{text}");
}

#[test]
fn text_report_snapshot() {
    let o = run(&[
        "check",
        "--profile",
        "prod",
        "--no-pin",
        &fixture("exemptions.yaml"),
    ]);
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(
        o.stderr.is_empty(),
        "check writes its report on stdout only"
    );
    insta::assert_snapshot!("check_exemptions_text", text);
}

#[test]
fn markdown_and_json_snapshots() {
    let o = run(&[
        "check",
        "--profile",
        "prod",
        "--no-pin",
        "--report-format",
        "markdown",
        &fixture("exemptions.yaml"),
    ]);
    insta::assert_snapshot!(
        "check_exemptions_markdown",
        String::from_utf8(o.stdout).unwrap()
    );
    let o = run(&[
        "check",
        "--profile",
        "prod",
        "--no-pin",
        "--report-format",
        "json",
        &fixture("exemptions.yaml"),
    ]);
    let mut v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v["version"] = "<version>".into();
    insta::assert_snapshot!(
        "check_exemptions_json",
        serde_json::to_string_pretty(&v).unwrap()
    );
    // Every violation names what explains it.
    for viol in v["violations"].as_array().unwrap() {
        assert!(
            !viol["explained_by"].as_array().unwrap().is_empty(),
            "{viol}"
        );
    }
    let kinds: Vec<&str> = v["violations"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|x| x["explained_by"].as_array().unwrap())
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert!(
        kinds.contains(&"exempted") && kinds.contains(&"unfixable"),
        "{kinds:?}"
    );
}

#[test]
fn staging_explains_with_skipped_unsafe_fixes() {
    let o = run(&[
        "check",
        "--no-pin",
        "--report-format",
        "json",
        &fixture("exemptions.yaml"),
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let skipped = v["violations"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|x| x["explained_by"].as_array().unwrap())
        .any(|e| e["kind"] == "fix-skipped");
    assert!(skipped, "{v:#}");
    assert_eq!(v["summary"]["unexplained"], 0, "{v:#}");
}

/// Greps every report format of every mode for the fixture's secret values.
#[test]
fn secret_values_never_reach_a_report() {
    let values = [
        "UzNjcjN0LVZhbHVlLURvLU5vdC1MZWFr",
        "S3cr3t-Value-Do-Not-Leak",
        "YWRtaW4=",
        "tok-PLAINTEXT-9f8e7d6c5b4a",
        "skipped-value-never-shown",
        "LS0tLS1CRUdJTi1DRVJULVZBTFVF",
        "LS0tLS1CRUdJTi1LRVktVkFMVUU=",
    ];
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report");
    let mut seen_key = false;
    let input = fixture("secrets.yaml");
    for format in ["text", "markdown", "json", "sarif"] {
        for mode in [&["check"][..], &["diff"][..], &[][..]] {
            let mut args: Vec<&str> = mode.to_vec();
            let rf = report.to_str().unwrap();
            args.extend([
                "--no-pin",
                "--report-format",
                format,
                "--report-file",
                rf,
                &input,
            ]);
            let o = run(&args);
            let mut all = String::from_utf8_lossy(&o.stderr).to_string();
            if !mode.is_empty() {
                all.push_str(&String::from_utf8_lossy(&o.stdout));
            }
            all.push_str(&std::fs::read_to_string(&report).unwrap_or_default());
            for v in values {
                assert!(!all.contains(v), "{format} {mode:?} report leaks {v}");
            }
            seen_key |= all.contains("api-token") && all.contains("CH501");
        }
    }
    assert!(seen_key, "CH501 never reported the keys");
}
