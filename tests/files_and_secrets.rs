//! Files and Secret hygiene: the report file's temporary file is created exclusively (a planted
//! symlink is never followed), and a Secret value that fails to parse is never quoted in an
//! error, on stderr, in any `--report-file` format or in the KRM `results`.

#[path = "common/e2e.rs"]
mod e2e;

#[cfg(unix)]
#[test]
fn atomic_write_never_follows_a_planted_temporary_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "precious\n").expect("victim");
    let report = dir.path().join("report.txt");
    // The name the writer used to truncate-and-follow: `.NAME.tmp.PID`.
    let planted = dir
        .path()
        .join(format!(".report.txt.tmp.{}", std::process::id()));
    std::os::unix::fs::symlink(&victim, &planted).expect("symlink");
    chart_harden::atomic::write(&report, b"new report\n").expect("write");
    assert_eq!(
        std::fs::read_to_string(&victim).expect("read"),
        "precious\n",
        "the symlink target was overwritten"
    );
    let meta = std::fs::symlink_metadata(&report).expect("report");
    assert!(meta.file_type().is_file(), "{meta:?}");
    assert_eq!(
        std::fs::read_to_string(&report).expect("read"),
        "new report\n"
    );
    // Nothing else left behind but the planted link.
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            format!(".report.txt.tmp.{}", std::process::id()),
            "report.txt".to_string(),
            "victim".to_string()
        ]
    );
}

/// A scalar the parser refuses and quotes in its message (`non-finite float `-.Inf``). An
/// overflowing number such as `59e81234` no longer qualifies: it reads as a string, as
/// go-yaml reads it (tests/yaml_as_kubernetes.rs).
const PLANTED: &str = "-.Inf";

fn run(args: &[&str], input: &str) -> std::process::Output {
    e2e::run_env(args, input.as_bytes(), &[("NO_COLOR", "1")])
}

fn secret(indent: &str) -> String {
    format!(
        "{indent}apiVersion: v1\n{indent}kind: Secret\n{indent}metadata:\n{indent}  name: s\n{indent}stringData:\n{indent}  token: {PLANTED}\n"
    )
}

#[test]
fn a_secret_value_that_fails_to_parse_is_never_quoted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let list = format!(
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: c\n-{}",
        &secret("  ")[1..]
    );
    for input in [secret(""), list] {
        for format in ["text", "markdown", "json"] {
            let report = dir.path().join(format!("report.{format}"));
            let out = run(
                &[
                    "--report-format",
                    format,
                    "--report-file",
                    report.to_str().expect("utf8"),
                    "--no-cache",
                ],
                &input,
            );
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{err}");
            assert!(err.contains("at line"), "{err}");
            assert!(err.contains("<redacted>"), "{err}");
            let text = std::fs::read_to_string(&report).expect("report");
            for (what, s) in [("stderr", err.as_ref()), ("report", text.as_str())] {
                assert!(!s.contains(PLANTED), "{format} {what}: {s}");
            }
        }
    }
    // KRM: the ResourceList holding the Secret does not parse; `results` must not quote it.
    let rl = format!(
        "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n-{}",
        &secret("  ")[1..]
    );
    let out = run(&["krm"], &rl);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains("<redacted>"), "{all}");
    assert!(!all.contains(PLANTED), "{all}");
}

#[test]
fn secret_values_never_appear_in_the_diff_of_a_list() {
    // A List whose Pod is changed; the Secret right after it is diff context.
    let planted = ["hunter2-planted", "4711", "multi-line-planted-value"];
    let input = format!(
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata:\n    name: p\n  spec:\n    containers:\n    - name: c\n      image: nginx@sha256:{}\n- stringData:\n    password: {}\n    pin: \"{}\"\n    cert: |\n      {}\n  apiVersion: v1\n  kind: Secret\n  metadata:\n    name: s\n",
        "ab".repeat(32),
        planted[0],
        planted[1],
        planted[2]
    );
    let dir = tempfile::tempdir().expect("tempdir");
    for format in ["text", "markdown", "json"] {
        let report = dir.path().join(format!("diff.{format}"));
        let out = run(
            &[
                "diff",
                "--report-format",
                format,
                "--report-file",
                report.to_str().expect("utf8"),
                "--no-cache",
            ],
            &input,
        );
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(&report).expect("report");
        let all = format!(
            "{text}{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(all.contains("allowPrivilegeEscalation"), "{format}: {all}");
        assert!(all.contains("password: <redacted>"), "{format}: {all}");
        for p in planted {
            assert!(!all.contains(p), "{format}: {p} in {all}");
        }
    }
    // The hardened output itself keeps the values.
    let out = run(&["-q", "--no-cache"], &input);
    let text = String::from_utf8_lossy(&out.stdout);
    for p in planted {
        assert!(text.contains(p), "{p} missing from the output");
    }
}
