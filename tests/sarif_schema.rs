//! SARIF output validated against the official SARIF 2.1.0 JSON schema (vendored from the
//! npm package @microsoft/jest-sarif, MIT; see testdata/sarif/NOTICE.md).

#[path = "common/e2e.rs"]
mod e2e;

use serde_json::Value;

fn validator() -> jsonschema::Validator {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/sarif/sarif-2.1.0-rtm.5.json"
    );
    // One `pattern` in the official schema (run.language) has an unescaped `]`, a literal
    // in JavaScript's non-unicode regexes but rejected by the validator's regex engine;
    // escaping it keeps the meaning.
    let text = std::fs::read_to_string(path)
        .expect("schema")
        .replace("{2}]?$", "{2}\\\\]?$");
    let schema: Value = serde_json::from_str(&text).expect("schema JSON");
    jsonschema::validator_for(&schema).expect("schema compiles")
}

fn sarif(args: &[&str]) -> Value {
    let o = e2e::run(args, b"");
    let bytes = if args.first() == Some(&"check") {
        o.stdout
    } else {
        o.stderr
    };
    serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "{args:?}: not JSON ({e}): {}",
            String::from_utf8_lossy(&bytes)
        )
    })
}

fn assert_valid(v: &Value, what: &str) {
    let val = validator();
    let errors: Vec<String> = val
        .iter_errors(v)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what}: invalid SARIF:\n{}",
        errors.join("\n")
    );
}

fn fixture(name: &str) -> String {
    format!("{}/testdata/check/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_validator_rejects_bad_sarif() {
    let bad = serde_json::json!({"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}},
        "results": [{"message": {"text": "m"}, "level": "severe"}]}]});
    assert!(!validator().is_valid(&bad));
}

#[test]
fn check_sarif_is_valid() {
    let v = sarif(&[
        "check",
        "--profile",
        "prod",
        "--no-pin",
        "--report-format",
        "sarif",
        &fixture("exemptions.yaml"),
    ]);
    assert_valid(&v, "check exemptions.yaml");
    let results = v["runs"][0]["results"].as_array().unwrap();
    let pss: Vec<&Value> = results
        .iter()
        .filter(|r| r["ruleId"].as_str().unwrap().starts_with("PSS/"))
        .collect();
    // The node agent's runAsNonRoot fix is withheld (hostNetwork), and nothing names the
    // legacy image's user (no pinning), so its capabilities are kept: 9 remain.
    assert_eq!(pss.len(), 9);
    for r in &pss {
        let loc = &r["locations"][0];
        assert_eq!(
            loc["physicalLocation"]["artifactLocation"]["uri"]
                .as_str()
                .unwrap()
                .split('/')
                .next(),
            Some("legacy"),
            "the template file is the artifact"
        );
        let fq = loc["logicalLocations"][0]["fullyQualifiedName"]
            .as_str()
            .unwrap();
        assert!(
            fq.contains("/shop/") && fq.contains(":spec.template.spec"),
            "{fq}"
        );
        assert_eq!(r["properties"]["explained"], true);
        assert!(r["relatedLocations"].is_array());
    }
    // Every ruleId has a descriptor at ruleIndex.
    let rules = v["runs"][0]["tool"]["driver"]["rules"].as_array().unwrap();
    for r in results {
        let i = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[i]["id"], r["ruleId"]);
    }
}

#[test]
fn harden_sarif_is_valid_for_every_fixture_and_corpus_chart() {
    let mut files: Vec<String> = [
        "testdata/check/secrets.yaml",
        "testdata/rules/rbac/roles.yaml",
        "testdata/rules/hygiene/workloads.yaml",
        "testdata/check/exemptions.yaml",
    ]
    .iter()
    .map(|f| format!("{}/{f}", env!("CARGO_MANIFEST_DIR")))
    .collect();
    let shared = std::env::var("CHART_HARDEN_SHARED")
        .unwrap_or_else(|_| format!("{}/../shared", env!("CARGO_MANIFEST_DIR")));
    for c in [
        "zen-watcher",
        "prometheus-node-exporter",
        "floe-platform-demo",
        "argo-cd",
    ] {
        let p = format!("{shared}/corpus/{c}/rendered.yaml");
        assert!(
            std::path::Path::new(&p).is_file(),
            "missing corpus chart {p}"
        );
        files.push(p);
    }
    let val = validator();
    for f in &files {
        for mode in ["harden", "check"] {
            let mut args = vec!["--profile", "prod", "--no-pin", "--report-format", "sarif"];
            if mode == "check" {
                args.insert(0, "check");
            }
            args.push(f);
            let v = sarif(&args);
            let errors: Vec<String> = val
                .iter_errors(&v)
                .map(|e| format!("{e} at {}", e.instance_path()))
                .collect();
            assert!(
                errors.is_empty(),
                "{mode} {f}: invalid SARIF:\n{}",
                errors.join("\n")
            );
            let n = v["runs"][0]["results"].as_array().unwrap().len();
            assert!(n > 0, "{mode} {f}: no results");
        }
    }
}

/// Issue 20: every hardening result carries a region: the line and column, in the rendered
/// stream, of the field it is about (or of the nearest ancestor the input has).
#[test]
fn harden_sarif_regions_point_at_the_field_in_the_stream() {
    let file = format!(
        "{}/testdata/demo-chart.helm3-stream.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let o = e2e::run(
        &["--no-pin", "diff", "--report-format", "sarif", &file],
        b"",
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_valid(&v, "diff sarif with regions");
    let results = v["runs"][0]["results"].as_array().unwrap();
    let mut exact = 0;
    for r in results {
        let rel = &r["relatedLocations"][0]["physicalLocation"];
        assert_eq!(rel["artifactLocation"]["uri"], file.as_str(), "{r:#}");
        let line = rel["region"]["startLine"].as_u64().expect("startLine") as usize;
        let col = rel["region"]["startColumn"].as_u64().expect("startColumn") as usize;
        let at: String = lines[line - 1].chars().skip(col - 1).collect();
        assert!(
            !at.is_empty() && !at.starts_with(' '),
            "{}: region {line}:{col} is on blank text: {:?}",
            r["ruleId"],
            lines[line - 1]
        );
        let field = r["properties"]["field"].as_str().unwrap();
        let last = field.rsplit(['.', '[']).next().unwrap_or_default();
        if !last.is_empty() && at.starts_with(&format!("{last}:")) {
            exact += 1;
        }
        // Image fields exist in the input: their region is exactly the `image:` key.
        if r["ruleId"] == "CH201" {
            assert!(
                at.starts_with("image:"),
                "CH201 region {line}:{col}: {at:?}"
            );
        }
    }
    assert!(exact >= 4, "only {exact} regions on the field itself");
}

/// `check` SARIF: every violation and finding carries a stream region too.
#[test]
fn check_sarif_results_have_regions() {
    let f = fixture("exemptions.yaml");
    let o = e2e::run(
        &[
            "check",
            "--profile",
            "prod",
            "--no-pin",
            "--report-format",
            "sarif",
            &f,
        ],
        b"",
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_valid(&v, "check sarif with regions");
    let text = std::fs::read_to_string(&f).unwrap();
    let n_lines = text.lines().count() as u64;
    let results = v["runs"][0]["results"].as_array().unwrap();
    assert!(!results.is_empty());
    for r in results {
        let rel = r["relatedLocations"].as_array().expect("relatedLocations");
        let last = rel.last().unwrap();
        assert_eq!(
            last["physicalLocation"]["artifactLocation"]["uri"],
            f.as_str()
        );
        let line = last["physicalLocation"]["region"]["startLine"]
            .as_u64()
            .unwrap();
        assert!(line >= 1 && line <= n_lines, "{line}");
    }
}
