//! Helpers for the end-to-end tests (corpus, Helm, Flux, KRM, Argo CD): locate the shared
//! corpus, run the freshly built binary, and check that every remaining restricted Pod
//! Security violation is explained by a finding the report did not fix.
//!
//! Include with `#[path = "common/e2e.rs"] mod e2e;`.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// The `matchLabels` of a generated PodDisruptionBudget (`spec.selector`) or NetworkPolicy
/// (`spec.podSelector`).
pub fn generated_match_labels(v: &chart_harden::yaml::Value) -> Option<&chart_harden::yaml::Value> {
    v.pointer("/spec/selector/matchLabels")
        .or_else(|| v.pointer("/spec/podSelector/matchLabels"))
}

/// The chart-harden binary cargo built for this test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_chart-harden"))
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `$CHART_HARDEN_SHARED` or `<repo>/../shared`; panics when missing.
pub fn shared_dir() -> PathBuf {
    let p = std::env::var_os("CHART_HARDEN_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("..").join("shared"));
    assert!(
        p.join("corpus").is_dir(),
        "shared corpus not found at {} (set CHART_HARDEN_SHARED)",
        p.display()
    );
    p
}

/// Every `corpus/<name>/rendered.yaml`, sorted by name.
pub fn corpus() -> Vec<(String, PathBuf)> {
    let dir = shared_dir().join("corpus");
    let mut v: Vec<(String, PathBuf)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .filter(|e| e.path().join("rendered.yaml").is_file())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                e.path().join("rendered.yaml"),
            )
        })
        .collect();
    v.sort();
    assert!(v.len() >= 2, "expected charts in {}", dir.display());
    v
}

/// One corpus chart's rendered.yaml by name.
pub fn corpus_chart(name: &str) -> PathBuf {
    let p = shared_dir().join("corpus").join(name).join("rendered.yaml");
    assert!(p.is_file(), "{} missing", p.display());
    p
}

/// Runs the binary with `args`, feeding `stdin`.
pub fn run(args: &[&str], stdin: &[u8]) -> Output {
    run_env(args, stdin, &[])
}

/// Runs the binary with extra environment variables.
pub fn run_env(args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> Output {
    run_in(None, args, stdin, env)
}

/// Runs the binary in a working directory (`None`: the test's), with extra environment
/// variables.
pub fn run_in(dir: Option<&Path>, args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(bin());
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("NO_COLOR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn chart-harden");
    let mut sin = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = sin.write_all(&data);
    });
    let out = child.wait_with_output().expect("wait chart-harden");
    writer.join().unwrap();
    out
}

/// A text report as one line: the command line wraps long findings at spaces.
pub fn one_line(stderr: &[u8]) -> String {
    String::from_utf8_lossy(stderr)
        .lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Panics with stderr unless the command succeeded.
pub fn ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: exit {:?}\n--- stderr ---\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Parses a stream with chart-harden's own reader (YAML 1.1 scalars, like the API server).
pub fn docs(bytes: &[u8]) -> chart_harden::document::Stream {
    chart_harden::document::parse_stream(bytes).expect("stream parses")
}

/// Rule codes that can explain a failed Pod Security check (by upstream check id).
fn rules_for_check(check: &str) -> &'static [&'static str] {
    match check {
        "runAsNonRoot" => &["CH101", "CH102"],
        "runAsUser" => &["CH102", "CH101"],
        "allowPrivilegeEscalation" => &["CH103", "CH106"],
        "capabilities_restricted" | "capabilities_baseline" => &["CH104", "CH106"],
        "seccompProfile_restricted" | "seccompProfile_baseline" => &["CH105"],
        "privileged" => &["CH106"],
        "hostNamespaces" | "hostPathVolumes" | "hostPorts" => &["CH110"],
        _ => &[],
    }
}

/// `Kind/name` of an object.
pub fn kind_name(v: &chart_harden::yaml::Value) -> String {
    format!(
        "{}/{}",
        v.get("kind").and_then(|k| k.as_str()).unwrap_or(""),
        v.pointer("/metadata/name")
            .and_then(|n| n.as_str())
            .unwrap_or("")
    )
}

/// Every restricted PSS violation of every object in `output` that no unfixed finding of
/// the JSON `report` explains (same object, a rule that covers the check, fix not
/// applied). Returns descriptions of the unexplained ones (empty = all good) and the number
/// of violations seen.
pub fn unexplained_violations(output: &[u8], report: &Value) -> (Vec<String>, usize) {
    let findings = report["findings"].as_array().expect("findings array");
    let stream = docs(output);
    let mut bad = Vec::new();
    let mut seen = 0;
    for d in &stream.docs {
        for o in &d.objects {
            let kn = kind_name(d.object_value(o));
            let v = &d.object_value(o).to_json();
            for viol in chart_harden_pss::evaluate(
                v,
                chart_harden_pss::Level::Restricted,
                chart_harden_pss::Version::Latest,
            ) {
                seen += 1;
                let codes = rules_for_check(viol.check);
                let explained = findings.iter().any(|f| {
                    let r = &f["resource"];
                    format!(
                        "{}/{}",
                        r["kind"].as_str().unwrap_or(""),
                        r["name"].as_str().unwrap_or("")
                    ) == kn
                        && f["fix"]["state"] != "applied"
                        && (codes.is_empty() || codes.contains(&f["rule"].as_str().unwrap_or("")))
                });
                if !explained {
                    bad.push(format!("{kn}: {viol}"));
                }
            }
        }
    }
    (bad, seen)
}

/// A temp dir.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("chart-harden-e2e-")
        .tempdir()
        .expect("tempdir")
}

/// Reads a JSON file.
pub fn read_json(p: &Path) -> Value {
    let t = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&t).unwrap_or_else(|e| panic!("{}: {e}\n{t}", p.display()))
}

/// Converts a report path (`spec.containers[0].securityContext`, `metadata.annotations['a/b']`)
/// into a JSON pointer.
pub fn report_path_to_pointer(p: &str) -> String {
    let mut out = String::new();
    let mut chars = p.chars().peekable();
    let mut cur = String::new();
    let flush = |cur: &mut String, out: &mut String| {
        if !cur.is_empty() {
            out.push('/');
            out.push_str(&cur.replace('~', "~0").replace('/', "~1"));
            cur.clear();
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '.' => flush(&mut cur, &mut out),
            '[' => {
                flush(&mut cur, &mut out);
                let mut inner = String::new();
                for c2 in chars.by_ref() {
                    if c2 == ']' {
                        break;
                    }
                    inner.push(c2);
                }
                let inner = inner.trim_matches(|c| c == '\'' || c == '"').to_string();
                cur = inner;
                flush(&mut cur, &mut out);
            }
            _ => cur.push(c),
        }
    }
    flush(&mut cur, &mut out);
    out
}

/// Container images (no digest yet) of every object, for a lockfile.
pub fn container_images(stream: &[u8]) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, c) in m {
                    if k == "containers" || k == "initContainers" {
                        for item in c.as_array().into_iter().flatten() {
                            if let Some(i) = item.get("image").and_then(Value::as_str) {
                                out.push(i.to_string());
                            }
                        }
                    }
                    walk(c, out);
                }
            }
            Value::Array(a) => a.iter().for_each(|c| walk(c, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for d in docs(stream).docs {
        walk(&d.value.to_json(), &mut out);
    }
    out.retain(|i| !i.contains('@'));
    out.sort();
    out.dedup();
    out
}

pub fn write_lockfile(path: &Path, refs: &[String]) {
    let mut lock = chart_harden_registry::Lockfile::new();
    for (n, r) in refs.iter().enumerate() {
        let Ok(parsed) = chart_harden_registry::ImageRef::parse(r) else {
            continue;
        };
        lock.insert(chart_harden_registry::LockEntry {
            reference: r.clone(),
            canonical: parsed.canonical(),
            digest: fake_digest(n),
            media_type: "application/vnd.oci.image.index.v1+json".into(),
            platforms: vec![],
            user: None,
            volumes: vec![],
            resolved_at: "2025-01-01T00:00:00Z".into(),
        });
    }
    lock.write(path).expect("write lockfile");
}

/// The digest [`write_lockfile`] gives the n-th (0-based) reference.
pub fn fake_digest(n: usize) -> String {
    format!("sha256:{:064x}", n + 1)
}
