//! Issue 20: reports as a user meets them on the command line.
//!
//! * `diff` is a report command: the documented CI review commands of README.md and
//!   docs/usage.md, run as written through `sh` with the real Helm 4, write the report
//!   into `harden.md` (not an empty file);
//! * `--report-file x.md|.json|.sarif|.txt` without `--report-format` takes the format from
//!   the extension; an explicit `--report-format` wins.

#[path = "common/e2e.rs"]
mod e2e;
#[path = "common/helm.rs"]
mod helm;

use std::path::Path;
use std::process::Command;

/// A chart whose only image is pinned by digest (so nothing reaches a registry) and whose
/// Deployment has no securityContext (so hardening changes it).
fn write_chart(dir: &Path) {
    let t = dir.join("templates");
    std::fs::create_dir_all(&t).unwrap();
    std::fs::write(
        dir.join("Chart.yaml"),
        "apiVersion: v2\nname: web\nversion: 0.1.0\n",
    )
    .unwrap();
    std::fs::write(
        t.join("deploy.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n\
         spec:\n  replicas: 2\n  selector:\n    matchLabels: {app: web}\n  template:\n    \
         metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        \
         image: \"registry.invalid/web@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"\n",
    )
    .unwrap();
}

/// The lines of `doc`'s fenced code blocks (a repository file) that contain `needle`,
/// without a trailing `# comment`.
fn documented(doc: &str, needle: &str) -> Vec<String> {
    let text = std::fs::read_to_string(e2e::repo_root().join(doc)).unwrap();
    let mut in_code = false;
    let lines: Vec<String> = text
        .lines()
        .filter(|l| {
            if l.starts_with("```") {
                in_code = !in_code;
            }
            in_code && l.contains(needle)
        })
        .map(|l| match l.find("  #") {
            Some(i) => l[..i].trim().to_string(),
            None => l.trim().to_string(),
        })
        .collect();
    assert!(!lines.is_empty(), "{doc} no longer documents `{needle}`");
    lines
}

/// Runs a documented shell command in a directory holding `./chart`, with helm (isolated
/// Helm home) and the freshly built chart-harden first on PATH.
fn run_documented(cmd: &str) -> (std::process::Output, tempfile::TempDir) {
    let dir = e2e::tempdir();
    write_chart(&dir.path().join("chart"));
    let env = helm::HelmEnv::new();
    let path = format!(
        "{}:{}:{}",
        helm::tools_bin().display(),
        e2e::bin().parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut c = Command::new("sh");
    c.arg("-c").arg(cmd).current_dir(dir.path());
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("HELM_") {
            c.env_remove(&k);
        }
    }
    c.envs(env.env_vars()).env("PATH", path);
    let out = c.output().expect("run sh");
    (out, dir)
}

#[test]
fn documented_ci_review_commands_write_the_report() {
    let mut cmds = documented("README.md", "chart-harden diff --report-format markdown");
    cmds.extend(documented(
        "docs/usage.md",
        "chart-harden diff --report-format markdown",
    ));
    cmds.extend(documented(
        "docs/usage.md",
        "chart-harden diff --report-file",
    ));
    for cmd in cmds {
        assert!(cmd.contains("> harden.md") || cmd.contains("--report-file harden.md"));
        let (out, dir) = run_documented(&cmd);
        // The pipeline's status is chart-harden's: 1, something would change.
        assert_eq!(
            out.status.code(),
            Some(1),
            "`{cmd}`: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let md = std::fs::read_to_string(dir.path().join("harden.md")).unwrap();
        assert!(
            md.contains("| `CH1"),
            "`{cmd}` wrote no markdown table:\n{md}"
        );
        assert!(md.contains("```diff"), "`{cmd}`: no diff in\n{md}");
        assert!(
            !md.contains("\napiVersion: apps/v1"),
            "manifests in the report"
        );
    }
}

#[test]
fn documented_check_sarif_command_writes_sarif() {
    let cmds = documented(
        "README.md",
        "chart-harden check --level restricted --report-format sarif",
    );
    for cmd in cmds {
        let (out, dir) = run_documented(&cmd);
        assert!(
            out.status.code().unwrap_or(9) <= 1,
            "`{cmd}`: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("pss.sarif")).unwrap())
                .unwrap();
        assert_eq!(v["version"], "2.1.0");
        let results = v["runs"][0]["results"].as_array().unwrap();
        assert!(!results.is_empty());
        assert!(results.iter().all(|r| r["relatedLocations"].is_array()));
    }
}

#[test]
fn diff_report_on_stdout_in_every_format_and_quiet() {
    let input =
        std::fs::read(e2e::repo_root().join("testdata/demo-chart.helm3-stream.yaml")).unwrap();
    for (format, marker) in [
        ("text", "CH10"),
        ("markdown", "| `CH10"),
        ("json", "\"schema\": \"chart-harden.report/v1\""),
        ("sarif", "\"version\": \"2.1.0\""),
    ] {
        let out = e2e::run(&["--no-pin", "diff", "--report-format", format], &input);
        assert_eq!(out.status.code(), Some(1), "{format}");
        let s = String::from_utf8_lossy(&out.stdout);
        assert!(s.contains(marker), "{format}: {s}");
        assert!(out.stderr.is_empty(), "{format}: report also on stderr");
    }
    let out = e2e::run(&["--no-pin", "diff", "-q"], &input);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
}

#[test]
fn report_file_format_from_extension() {
    let input =
        std::fs::read(e2e::repo_root().join("testdata/demo-chart.helm3-stream.yaml")).unwrap();
    let dir = e2e::tempdir();
    for (name, check) in [
        (
            "r.md",
            (|s: &str| s.contains("| `CH10")) as fn(&str) -> bool,
        ),
        ("r.json", |s| {
            serde_json::from_str::<serde_json::Value>(s).unwrap()["schema"]
                == "chart-harden.report/v1"
        }),
        ("r.sarif", |s| {
            serde_json::from_str::<serde_json::Value>(s).unwrap()["version"] == "2.1.0"
        }),
        ("r.txt", |s| s.contains("CH10") && !s.contains("| `CH10")),
        ("r.log", |s| s.contains("CH10") && !s.contains("| `CH10")),
    ] {
        let p = dir.path().join(name);
        let rf = p.to_string_lossy().into_owned();
        for mode in [&[][..], &["diff"][..]] {
            let mut args = mode.to_vec();
            args.extend(["--no-pin", "-q", "--report-file", &rf]);
            let out = e2e::run(&args, &input);
            assert!(out.status.code().unwrap() <= 1, "{name} {mode:?}");
            let s = std::fs::read_to_string(&p).unwrap();
            assert!(check(&s), "{name} {mode:?}: wrong format:\n{s}");
        }
    }
    // An explicit --report-format wins over the extension.
    let p = dir.path().join("x.md");
    let rf = p.to_string_lossy().into_owned();
    let out = e2e::run(
        &[
            "--no-pin",
            "-q",
            "--report-file",
            &rf,
            "--report-format",
            "json",
        ],
        &input,
    );
    e2e::ok(&out, "explicit format");
    let s = std::fs::read_to_string(&p).unwrap();
    assert!(serde_json::from_str::<serde_json::Value>(&s).is_ok(), "{s}");
}

/// Item 6: staging (warn on a resolve error) says how many images stayed unpinned, the
/// `--offline` help says what happens, and the hint names the real flag.
#[test]
fn staging_says_which_images_stayed_unpinned() {
    let input =
        std::fs::read(e2e::repo_root().join("testdata/demo-chart.helm3-stream.yaml")).unwrap();
    let dir = e2e::tempdir();
    let lock = dir.path().join("empty.lock");
    std::fs::write(&lock, "{\"version\": 1, \"images\": []}\n").unwrap();
    let lock = lock.to_string_lossy().into_owned();
    let json = dir.path().join("r.json");
    let rf = json.to_string_lossy().into_owned();
    let out = e2e::run(
        &["--lockfile", &lock, "--offline", "--report-file", &rf],
        &input,
    );
    e2e::ok(&out, "staging, offline, empty lockfile");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("chart-harden: 2 image(s) stayed unpinned (digest not resolved; see CH201): docker.io/library/busybox:1.36.1, ghcr.io/stefanprodan/podinfo:6.7.1"),
        "{err}"
    );
    assert!(
        err.contains("--update-lock") && !err.contains("update_lock"),
        "{err}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["summary"]["unpinned_images"], 2, "{:#}", v["summary"]);
    // Pinning off is a choice, not a failure: no unpinned line.
    let out = e2e::run(&["--no-pin"], &input);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("stayed unpinned"));
    // prod fails on the same input (exit 3), as --offline's help says.
    let out = e2e::run(
        &["--lockfile", &lock, "--offline", "--profile", "prod"],
        &input,
    );
    assert_eq!(out.status.code(), Some(3));
    let help = String::from_utf8_lossy(&e2e::run(&["--help"], b"").stdout).into_owned();
    let offline = help
        .split("--offline")
        .nth(1)
        .unwrap_or_default()
        .split("\n      --")
        .next()
        .unwrap_or_default()
        .to_string();
    assert!(
        offline.contains("stays unpinned") && offline.contains("--on-resolve-error"),
        "{offline}"
    );
}

/// Item 7 (part): the summary counts applied unsafe fixes.
#[test]
fn summary_counts_unsafe_fixes() {
    let input =
        std::fs::read(e2e::repo_root().join("testdata/demo-chart.helm3-stream.yaml")).unwrap();
    let out = e2e::run(
        &[
            "--no-pin",
            "--profile",
            "prod",
            "diff",
            "--report-format",
            "json",
        ],
        &input,
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let unsafe_applied = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["fix"]["state"] == "applied" && f["fix"]["applicability"] == "unsafe")
        .count();
    assert!(unsafe_applied > 0);
    assert_eq!(v["summary"]["unsafe_fixed"], unsafe_applied);
    let out = e2e::run(
        &[
            "--no-pin",
            "--profile",
            "prod",
            "diff",
            "--report-format",
            "markdown",
        ],
        &input,
    );
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(
        md.contains(&format!("(**{unsafe_applied}** unsafe)")),
        "{md}"
    );
    let out = e2e::run(&["--no-pin", "--profile", "prod", "diff"], &input);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("chart-harden: {unsafe_applied} of the ")),
        "{text}"
    );
    assert!(text.contains("applied fixes are unsafe"), "{text}");
}

/// Item 8: a key given twice in the config file is an error naming it (exit 2).
#[test]
fn a_duplicate_config_key_is_an_error() {
    let dir = e2e::tempdir();
    let cfg = dir.path().join("chart-harden.yaml");
    std::fs::write(&cfg, "profile: dev\nimages:\n  pin: false\n  pin: true\n").unwrap();
    let out = e2e::run(&["--config", &cfg.to_string_lossy()], b"");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("duplicate key `pin` at line 4, column 3"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

/// Item 7: the Markdown report is grouped by resource, shows no empty code spans, and counts
/// explanation-only findings as notes (JSON `summary.notes`).
#[test]
fn markdown_is_grouped_by_resource_and_notes_are_counted() {
    let input =
        std::fs::read(e2e::repo_root().join("testdata/demo-chart.helm3-stream.yaml")).unwrap();
    let md = e2e::run(&["--no-pin", "diff", "--report-format", "markdown"], &input);
    let md = String::from_utf8_lossy(&md.stdout).into_owned();
    assert!(
        !md.replace("```", "").contains("``"),
        "empty code span:\n{md}"
    );
    let headings: Vec<&str> = md.lines().filter(|l| l.starts_with("### ")).collect();
    assert!(
        headings.contains(&"### `Deployment/demo-demo-web` (`demo/templates/web-deployment.yaml`)"),
        "{headings:?}"
    );
    let unique: std::collections::BTreeSet<&&str> = headings.iter().collect();
    assert_eq!(unique.len(), headings.len(), "a resource has two sections");
    assert!(md.contains("| ℹ️ note |"), "{md}");
    let json = e2e::run(&["--no-pin", "diff", "--report-format", "json"], &input);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let notes = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| {
            f["severity"] == "info"
                && f["fix"]["state"] == "unfixable"
                && f.get("suggestion").is_none()
        })
        .count();
    assert!(notes > 0);
    assert_eq!(v["summary"]["notes"], notes);
    assert!(
        md.contains(&format!("**{notes}** note(s) that only explain")),
        "{md}"
    );
}

/// Item 7: text finding lines are wrapped at 100 columns (they ran to 300–490 characters).
#[test]
fn text_findings_are_wrapped() {
    let input =
        std::fs::read(e2e::repo_root().join("testdata/demo-chart.helm3-stream.yaml")).unwrap();
    let dir = e2e::tempdir();
    let file = dir.path().join("r.txt");
    let rf = file.to_string_lossy().into_owned();
    let out = e2e::run(&["--no-pin", "--report-file", &rf], &input);
    e2e::ok(&out, "harden");
    for report in [
        String::from_utf8_lossy(&out.stderr).into_owned(),
        std::fs::read_to_string(&file).unwrap(),
    ] {
        let first = report
            .lines()
            .position(|l| {
                l.len() > 5 && l.starts_with("CH") && l[2..5].bytes().all(|b| b.is_ascii_digit())
            })
            .expect("findings");
        let findings: Vec<&str> = report
            .lines()
            .skip(first)
            .filter(|l| !l.starts_with("chart-harden:"))
            .collect();
        assert!(findings.len() > 20);
        for l in &findings {
            assert!(
                l.chars().count() <= 100,
                "{} columns: {l}",
                l.chars().count()
            );
        }
        assert!(
            findings.iter().any(|l| l.starts_with("    ")),
            "nothing wrapped"
        );
    }
}
