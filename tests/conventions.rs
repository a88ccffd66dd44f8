//! CLI conventions: `--help` shows an example for every mode, shell completions, NO_COLOR,
//! stdout for data and stderr for people, documented exit codes (0 ok, 1 changes in
//! diff/check, 2 usage or input error).

#[path = "common/e2e.rs"]
mod e2e;

use std::process::Command;

fn demo() -> Vec<u8> {
    std::fs::read(e2e::repo_root().join("testdata/demo-chart.helm3-stream.yaml")).unwrap()
}

#[test]
fn help_has_examples_for_every_mode_and_exit_codes() {
    let out = e2e::run(&["--help"], b"");
    e2e::ok(&out, "--help");
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "--post-renderer chart-harden",                // Helm 4 plugin
        "--post-renderer /usr/local/bin/chart-harden", // Helm 3
        "--post-renderer-args=--profile=prod",
        "chart-harden diff",
        "--lockfile",
        "chart-harden export flux",
        "examples/argocd",
        "chart-harden krm",
        "Exit codes: 0",
        "2 usage or input error",
        "3 registry error",
    ] {
        assert!(help.contains(needle), "--help lacks `{needle}`:\n{help}");
    }
    for sub in ["diff", "rules", "export", "krm", "completions"] {
        assert!(help.contains(sub), "--help does not list `{sub}`");
        let o = e2e::run(&[sub, "--help"], b"");
        e2e::ok(&o, &format!("{sub} --help"));
    }
    e2e::ok(
        &e2e::run(&["export", "flux", "--help"], b""),
        "export flux --help",
    );
}

#[test]
fn completions_for_bash_zsh_fish() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef chart-harden"),
        ("fish", "complete -c chart-harden"),
    ] {
        let out = e2e::run(&["completions", shell], b"");
        e2e::ok(&out, shell);
        let s = String::from_utf8_lossy(&out.stdout);
        assert!(s.contains(marker), "{shell} completions lack `{marker}`");
        for sub in ["export", "krm", "diff"] {
            assert!(s.contains(sub), "{shell} completions lack `{sub}`");
        }
    }
    let bad = e2e::run(&["completions", "cmd.exe"], b"");
    assert_eq!(bad.status.code(), Some(2));
}

/// Runs chart-harden with stderr on a pseudo-terminal (util-linux `script`), returns what
/// the terminal showed.
fn on_tty(no_color: bool) -> String {
    let file = e2e::repo_root().join("testdata/demo-chart.helm3-stream.yaml");
    let inner = format!(
        "'{}' --no-pin '{}' > /dev/null",
        e2e::bin().display(),
        file.display()
    );
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &inner, "/dev/null"])
        .env_remove("NO_COLOR");
    if no_color {
        cmd.env("NO_COLOR", "1");
    }
    let out = cmd
        .output()
        .expect("util-linux `script` is needed for the TTY test");
    e2e::ok(&out, "script");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn no_color_is_honoured_on_a_terminal() {
    let colored = on_tty(false);
    assert!(
        colored.contains("\u{1b}["),
        "no colors on a TTY without NO_COLOR"
    );
    let plain = on_tty(true);
    assert!(plain.contains("---"), "report missing: {plain}");
    assert!(!plain.contains('\u{1b}'), "escape codes despite NO_COLOR=1");
    // Not a terminal: never colored, even without NO_COLOR.
    let out = e2e::run(&["--no-pin"], &demo());
    assert!(!String::from_utf8_lossy(&out.stderr).contains('\u{1b}'));
}

#[test]
fn stdout_is_data_stderr_is_people_and_exit_codes() {
    // 0: hardened YAML on stdout, report on stderr.
    let out = e2e::run(&["--no-pin"], &demo());
    assert_eq!(out.status.code(), Some(0));
    e2e::docs(&out.stdout);
    assert!(String::from_utf8_lossy(&out.stderr).contains("CH10"));
    // 1: diff with changes; the report (not the manifests) on stdout, nothing on stderr.
    let out = e2e::run(&["--no-pin", "diff"], &demo());
    assert_eq!(out.status.code(), Some(1));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("CH10"), "{report}");
    assert!(
        !report.contains("\napiVersion:"),
        "diff wrote manifests: {report}"
    );
    assert!(out.stderr.is_empty());
    // 0: diff without changes (dev profile changes nothing).
    let out = e2e::run(&["--no-pin", "--profile", "dev", "diff"], &demo());
    assert_eq!(out.status.code(), Some(0));
    // 2: usage error.
    let out = e2e::run(&["--no-such-flag"], b"");
    assert_eq!(out.status.code(), Some(2));
    // 2: input error, nothing on stdout.
    let out = e2e::run(&["--no-pin"], b"apiVersion: v1\nkind: [\n");
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let out = e2e::run(&["--no-pin", "export", "flux"], b"a: 1\n");
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    // 3: registry error with policy fail (offline, image not in the empty lockfile).
    let tmp = e2e::tempdir();
    let lock = tmp.path().join("empty.lock");
    std::fs::write(&lock, "{\"version\": 1, \"images\": []}\n").unwrap();
    let out = e2e::run(
        &[
            "--lockfile",
            &lock.to_string_lossy(),
            "--offline",
            "--on-resolve-error",
            "fail",
        ],
        &demo(),
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
}
