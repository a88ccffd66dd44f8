//! Issue 20, items 1 and 2, with the real Helm 4 binary: what a user sees when the
//! post-renderer plugin fails, and how the plugin gets its binary.
//!
//! Helm 4 discards a failing plugin's stdout and stderr and prints only `plugin
//! "chart-harden" exited with error`; the plugin wrapper (`scripts/helm-plugin.sh`) and the
//! binary report a failure as a document Helm rejects with the message as its file name
//! (`src/helm_plugin.rs`). Every failure also reaches `--report-file`.

#[path = "common/helm.rs"]
mod helm;

use std::fs;
use std::path::{Path, PathBuf};

use helm::{assert_success, stderr_str, write_executable, HelmEnv};

fn template(env: &HelmEnv, plugin: &str, args: &[&str]) -> std::process::Output {
    env.template_with_post_renderer("demo", &helm::demo_chart(), plugin, args, &[])
}

fn test_bin() -> PathBuf {
    helm::chart_harden_bin().expect("CARGO_BIN_EXE_chart-harden")
}

#[test]
fn a_typo_flag_is_shown_by_helm_and_written_to_the_report_file() {
    let env = HelmEnv::new();
    env.install_repo_plugin();
    let dir = env.scratch("reports");
    let report = dir.join("harden.md");
    let rf = format!("--report-file={}", report.display());
    let out = template(&env, "chart-harden", &["--no-pin", "--profle", "prod", &rf]);
    assert!(!out.status.success(), "helm accepted a typo'd flag");
    let err = stderr_str(&out);
    assert!(
        err.contains("unexpected argument '--profle'") && err.contains("'--profile'"),
        "Helm does not show chart-harden's error:\n{err}"
    );
    assert!(!out.stdout.starts_with(b"---"), "helm printed manifests");
    let written = fs::read_to_string(&report).expect("report file not written on a usage error");
    assert!(
        written.contains("unexpected argument '--profle'"),
        "{written}"
    );
    assert!(written.contains("'--profile'"), "{written}");

    // A run-time error (config file missing) reaches both too.
    let out = template(
        &env,
        "chart-harden",
        &["--no-pin", "--config=/nonexistent.yaml", &rf],
    );
    assert!(!out.status.success());
    assert!(
        stderr_str(&out).contains("/nonexistent.yaml"),
        "{}",
        stderr_str(&out)
    );
    assert!(fs::read_to_string(&report)
        .unwrap()
        .contains("/nonexistent.yaml"));
}

#[test]
fn an_argument_with_spaces_is_split_as_meant() {
    let env = HelmEnv::new();
    env.install_repo_plugin();
    // One --post-renderer-args holding two words, and one holding two flags.
    let spaced = template(
        &env,
        "chart-harden",
        &[
            "--no-pin",
            "--profile prod",
            "--release=demo --namespace=shop",
        ],
    );
    assert_success(&spaced, "helm template with `--profile prod`");
    let separate = template(
        &env,
        "chart-harden",
        &[
            "--no-pin",
            "--profile=prod",
            "--release=demo",
            "--namespace=shop",
        ],
    );
    assert_success(&separate, "helm template with separate flags");
    assert_eq!(
        String::from_utf8_lossy(&spaced.stdout),
        String::from_utf8_lossy(&separate.stdout)
    );
    let staging = template(&env, "chart-harden", &["--no-pin", "--namespace=shop"]);
    assert_success(&staging, "staging");
    assert_ne!(
        spaced.stdout, staging.stdout,
        "`--profile prod` was not applied"
    );

    // A split that still does not parse says what it did and how to write it.
    let dir = env.scratch("reports");
    let report = dir.join("bad.txt");
    let rf = format!("--report-file={}", report.display());
    let out = template(&env, "chart-harden", &["--no-pin", "--profile prd", &rf]);
    assert!(!out.status.success());
    let err = stderr_str(&out);
    assert!(err.contains("'prd'"), "{err}");
    assert!(
        err.contains("`--profile prd` was split") && err.contains("--post-renderer-args=--profile"),
        "no note on the split:\n{err}"
    );
    assert!(fs::read_to_string(&report).unwrap().contains("was split"));
}

/// A copy of the plugin (plugin.yaml and its wrapper, no binary) in a scratch directory.
fn plugin_copy(env: &HelmEnv, name: &str, with_cargo_toml: bool) -> PathBuf {
    let dir = env.scratch(name).join("chart-harden");
    fs::create_dir_all(dir.join("scripts")).unwrap();
    let root = helm::repo_root();
    fs::copy(root.join("plugin.yaml"), dir.join("plugin.yaml")).unwrap();
    fs::copy(
        root.join("scripts/helm-plugin.sh"),
        dir.join("scripts/helm-plugin.sh"),
    )
    .unwrap();
    if with_cargo_toml {
        fs::write(dir.join("Cargo.toml"), "[package]\nname = \"x\"\n").unwrap();
    }
    dir
}

/// An environment whose PATH has only the system directories (plus `extra`): no cargo, no
/// chart-harden; and no `$CHART_HARDEN_BIN`.
fn bare_env(extra: Option<&Path>) -> HelmEnv {
    let mut env = HelmEnv::new();
    env.set_env("CHART_HARDEN_BIN", "");
    let path = match extra {
        Some(p) => format!("{}:/usr/bin:/bin", p.display()),
        None => "/usr/bin:/bin".to_string(),
    };
    env.set_env("PATH", path);
    env
}

#[test]
fn without_a_binary_helm_shows_the_command_to_run() {
    let env = bare_env(None);
    let dir = plugin_copy(&env, "nobin", true);
    let out = env.run(&["plugin", "install", &dir.to_string_lossy()]);
    assert_success(&out, "helm plugin install (no binary, no cargo)");
    let said = format!("{}{}", helm::stdout_str(&out), stderr_str(&out));
    assert!(said.contains("has no binary yet"), "{said}");
    assert!(
        said.contains("cargo build --release --locked --manifest-path"),
        "{said}"
    );

    let out = template(&env, "chart-harden", &["--no-pin"]);
    assert!(!out.status.success());
    let err = stderr_str(&out);
    assert!(err.contains("has no chart-harden binary"), "{err}");
    assert!(err.contains("cargo install --locked --path"), "{err}");

    // A tarball-like copy (no Cargo.toml) says how else to get one.
    let env = bare_env(None);
    let dir = plugin_copy(&env, "nobin-nocargo", false);
    assert_success(
        &env.run(&["plugin", "install", &dir.to_string_lossy()]),
        "install",
    );
    let err = stderr_str(&template(&env, "chart-harden", &["--no-pin"]));
    assert!(err.contains("release tarball"), "{err}");
}

#[test]
fn the_install_hook_builds_the_binary_with_cargo() {
    // A stand-in for cargo: records its arguments and "builds" by copying the test binary.
    let probe = bare_env(None);
    let fake = probe.scratch("fake-cargo");
    let log = fake.join("cargo.log");
    write_executable(
        &fake.join("cargo"),
        &format!(
            "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\nmkdir -p target/release\ncp '{}' target/release/chart-harden\n",
            log.display(),
            test_bin().display()
        ),
    );
    let env = bare_env(Some(&fake));
    let dir = plugin_copy(&env, "build", true);
    let out = env.run(&["plugin", "install", &dir.to_string_lossy()]);
    assert_success(&out, "helm plugin install (cargo present)");
    assert_eq!(
        fs::read_to_string(&log).unwrap().trim(),
        "build --release --locked --bin chart-harden"
    );
    assert!(dir.join("target/release/chart-harden").is_file());
    let out = template(&env, "chart-harden", &["--no-pin"]);
    assert_success(&out, "helm template through the freshly built plugin");

    // With a binary in place, installing again builds nothing.
    fs::remove_file(&log).unwrap();
    assert_success(
        &env.run(&["plugin", "uninstall", "chart-harden"]),
        "uninstall",
    );
    assert_success(
        &env.run(&["plugin", "install", &dir.to_string_lossy()]),
        "reinstall",
    );
    assert!(!log.exists(), "cargo ran although the binary exists");
}

#[test]
fn a_crashing_binary_still_shows_its_stderr() {
    let mut env = HelmEnv::new();
    let s = env.scratch("crash");
    let crash = s.join("crash.sh");
    write_executable(
        &crash,
        "#!/bin/sh\ncat > /dev/null\necho 'thread main panicked at boom' >&2\nexit 101\n",
    );
    env.set_env("CHART_HARDEN_BIN", &crash);
    env.install_repo_plugin();
    let out = template(&env, "chart-harden", &[]);
    assert!(!out.status.success());
    let err = stderr_str(&out);
    assert!(err.contains("exited with status 101"), "{err}");
    assert!(err.contains("panicked at boom"), "{err}");
}

#[test]
fn env_sh_puts_chart_harden_on_path() {
    // `. scripts/env.sh` adds cargo's release directory; CARGO_TARGET_DIR moves it.
    let tmp = tempfile::tempdir().unwrap();
    let release = tmp.path().join("release");
    fs::create_dir_all(&release).unwrap();
    fs::copy(test_bin(), release.join("chart-harden")).unwrap();
    let script = format!(
        ". '{}' && command -v chart-harden && command -v helm && chart-harden --version",
        helm::repo_root().join("scripts/env.sh").display()
    );
    let out = std::process::Command::new("bash")
        .args(["-c", &script])
        .env("CARGO_TARGET_DIR", tmp.path())
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    assert_success(&out, "bash -c '. scripts/env.sh; chart-harden --version'");
    let s = helm::stdout_str(&out);
    let mut lines = s.lines();
    assert_eq!(
        lines.next().map(PathBuf::from),
        Some(release.join("chart-harden"))
    );
    assert_eq!(
        lines.next().map(PathBuf::from),
        Some(helm::tools_bin().join("helm"))
    );
    assert!(s.contains("chart-harden 0."), "{s}");
}

#[test]
fn the_license_cargo_toml_names_is_there() {
    let root = helm::repo_root();
    let cargo = fs::read_to_string(root.join("Cargo.toml")).unwrap();
    assert!(cargo.contains("license = \"Apache-2.0\""));
    let text = fs::read_to_string(root.join("LICENSE")).expect("LICENSE");
    assert!(text.trim_start().starts_with("Apache License"));
    for needle in [
        "Version 2.0, January 2004",
        "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION",
        "9. Accepting Warranty or Additional Liability.",
        "END OF TERMS AND CONDITIONS",
        "APPENDIX: How to apply the Apache License to your work.",
    ] {
        assert!(text.contains(needle), "LICENSE lacks `{needle}`");
    }
}
