//! e2e over every chart of the shared corpus: after hardening with the prod profile,
//! `check --level restricted` reports only violations that a finding explains as unfixable.

#[path = "common/e2e.rs"]
mod e2e;

use std::path::PathBuf;

use chart_harden::yaml::Value;

fn shared() -> PathBuf {
    e2e::shared_dir()
}

fn check(args: &[&str], file: &std::path::Path) -> (i32, Value) {
    let path = file.to_str().expect("UTF-8 path");
    let mut all = vec!["check"];
    all.extend_from_slice(args);
    all.extend(["--report-format", "json", path]);
    let out = e2e::run(&all, b"");
    let code = out.status.code().unwrap_or(-1);
    assert!(
        code == 0 || code == 1,
        "{}: exit {code}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{}: stdout is not the JSON report ({e}): {}",
            file.display(),
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (code, v)
}

#[test]
fn corpus_restricted_after_prod_hardening_is_explained() {
    let corpus = shared().join("corpus");
    let mut charts: Vec<PathBuf> = std::fs::read_dir(&corpus)
        .expect("read corpus")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("rendered.yaml").is_file())
        .collect();
    charts.sort();
    assert!(
        charts.len() >= 20,
        "corpus has only {} charts",
        charts.len()
    );
    let mut table = Vec::new();
    let mut total = 0;
    for chart in &charts {
        let name = chart.file_name().unwrap().to_string_lossy().to_string();
        let (code, v) = check(
            &["--profile", "prod", "--no-pin", "--level", "restricted"],
            &chart.join("rendered.yaml"),
        );
        assert_eq!(v["schema"], "chart-harden.check/v1");
        let violations = v["violations"].as_array().expect("violations");
        assert_eq!(
            code,
            i32::from(!violations.is_empty()),
            "{name}: exit code does not match the violations"
        );
        for viol in violations {
            let explained = viol["explained_by"]
                .as_array()
                .expect("explained_by")
                .iter()
                .any(|e| e["kind"] != "fixable");
            assert!(
                explained,
                "{name}: violation not explained by any finding: {viol:#}"
            );
            // The explaining finding is in the report, on the same resource, not fixed.
            for e in viol["explained_by"].as_array().unwrap() {
                if e["kind"] == "exempted" {
                    continue;
                }
                let found = v["findings"].as_array().unwrap().iter().any(|f| {
                    f["rule"] == e["rule"]
                        && f["path"] == e["path"]
                        && f["resource"] == viol["resource"]
                        && f["fix"]["state"] != "applied"
                });
                assert!(found, "{name}: cross-reference {e} has no finding");
            }
        }
        total += violations.len();
        table.push(format!(
            "{name}: {} evaluated, {} violations, {} explained",
            v["summary"]["evaluated"], v["summary"]["violations"], v["summary"]["explained"]
        ));
    }
    eprintln!("{}\ntotal remaining violations: {total}", table.join("\n"));
}

#[test]
fn zen_watcher_rbac_is_reported() {
    let file = shared().join("corpus/zen-watcher/rendered.yaml");
    let (_, v) = check(&["--profile", "prod", "--no-pin"], &file);
    let rbac: Vec<&Value> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"].as_str().is_some_and(|r| r.starts_with("CH51")))
        .collect();
    assert!(
        !rbac.is_empty(),
        "zen-watcher's cluster-wide reads not reported"
    );
    assert!(rbac
        .iter()
        .any(|f| f["message"].as_str().unwrap().contains("pods/log")));
    assert!(rbac.iter().all(|f| f["suggestion"].is_string()));
}

#[test]
fn no_fix_evaluates_the_input() {
    let file = shared().join("corpus/podinfo/rendered.yaml");
    let (code, v) = check(&["--profile", "prod", "--no-pin", "--no-fix"], &file);
    assert_eq!(code, 1, "podinfo as rendered is not restricted-compliant");
    assert_eq!(v["evaluated"], "input");
    assert!(v["summary"]["fixable"].as_u64().unwrap() > 0);
    // Without pinning nothing names podinfo's user: prod withholds the chosen UID, and says
    // so for every violation left.
    let (code, v) = check(&["--profile", "prod", "--no-pin"], &file);
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(v["summary"]["unexplained"], 0, "{v:#}");
    let restrict = e2e::repo_root().join("testdata/unknown-users-restrict.config.yaml");
    let config = restrict.to_str().expect("UTF-8 path");
    let (code, v) = check(
        &["--profile", "prod", "--no-pin", "--config", config],
        &file,
    );
    assert_eq!(code, 0, "{v:#}");
}
