//! `chart-harden krm`: a KRM function. The documented kpt commands run as written when kpt
//! is installed (`documented_kpt_command_hardens_the_example`). kustomize's embedded copy in
//! kubectl cannot run exec functions and no standalone kustomize is available here, so the
//! other tests send exactly
//! the ResourceList kustomize sends to an exec function (KRM Functions Specification:
//! `config.kubernetes.io/v1` ResourceList, items carrying kustomize's index/id annotations,
//! functionConfig carrying the `config.kubernetes.io/function` annotation) and check the
//! ResourceList that comes back.

#[path = "common/e2e.rs"]
mod e2e;

use serde_json::{json, Value};

/// The annotations kustomize (api/krusty, kyaml fn runtime) puts on every item it sends.
fn kustomize_items(rendered: &[u8], path: &str) -> Vec<Value> {
    let mut items = Vec::new();
    for d in e2e::docs(rendered).docs {
        for o in &d.objects {
            let mut v = d.full_object_value(o).to_json();
            let i = items.len().to_string();
            let md = v
                .as_object_mut()
                .unwrap()
                .entry("metadata")
                .or_insert_with(|| json!({}));
            if md.is_null() {
                *md = json!({});
            }
            let ann = md
                .as_object_mut()
                .unwrap()
                .entry("annotations")
                .or_insert_with(|| json!({}));
            if ann.is_null() {
                *ann = json!({});
            }
            let a = ann.as_object_mut().unwrap();
            a.insert("config.kubernetes.io/index".into(), json!(i));
            a.insert("internal.config.kubernetes.io/index".into(), json!(i));
            a.insert("config.kubernetes.io/path".into(), json!(path));
            a.insert("internal.config.kubernetes.io/path".into(), json!(path));
            a.insert(
                "internal.config.kubernetes.io/annotations-migration-resource-id".into(),
                json!(i),
            );
            a.insert(
                "config.k8s.io/id".into(),
                json!((items.len() + 1).to_string()),
            );
            items.push(v);
        }
    }
    items
}

fn function_config(data: Value) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "chart-harden",
            "annotations": {
                "config.kubernetes.io/function": "exec:\n  path: ./chart-harden-krm\n",
                "config.kubernetes.io/local-config": "true",
            },
        },
        "data": data,
    })
}

fn resource_list(items: Vec<Value>, fc: Value) -> String {
    let rl = json!({
        "apiVersion": "config.kubernetes.io/v1",
        "kind": "ResourceList",
        "items": items,
        "functionConfig": fc,
    });
    serde_saphyr::to_string(&rl).unwrap()
}

fn krm(input: &str, args: &[&str]) -> (Value, std::process::Output) {
    let mut a = vec!["krm"];
    a.extend_from_slice(args);
    let out = e2e::run(&a, input.as_bytes());
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let v = chart_harden::yaml::view::parse(&text).unwrap_or_else(|e| {
        panic!(
            "krm output is not YAML: {e}\n{text}\n--- stderr ---\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (v.to_json(), out)
}

fn strip_fn_annotations(v: &Value) -> Value {
    let mut v = v.clone();
    // The test's kustomize emulation turned a chart's `annotations:` (null) into a map.
    if v.pointer("/metadata/annotations")
        .is_some_and(Value::is_null)
    {
        v["metadata"].as_object_mut().unwrap().remove("annotations");
    }
    if let Some(a) = v
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        a.retain(|k, _| !k.contains("config.kubernetes.io/") && k != "config.k8s.io/id");
        if a.is_empty() {
            v["metadata"].as_object_mut().unwrap().remove("annotations");
        }
    }
    v
}

fn check_chart(name: &str, profile: &str) {
    let rendered = std::fs::read(e2e::corpus_chart(name)).unwrap();
    let items = kustomize_items(&rendered, &format!("{name}/rendered.yaml"));
    let n = items.len();
    let fc = function_config(json!({"profile": profile, "pin": "false"}));
    let input = resource_list(items.clone(), fc.clone());
    let (out, proc_out) = krm(&input, &[]);
    e2e::ok(&proc_out, &format!("krm {name}"));
    assert_eq!(out["apiVersion"], "config.kubernetes.io/v1");
    assert_eq!(out["kind"], "ResourceList");
    assert_eq!(
        out["functionConfig"], fc,
        "{name}: functionConfig not echoed"
    );
    let out_items = out["items"].as_array().expect("items");
    assert!(out_items.len() >= n, "{name}: items lost");

    // Items keep kustomize's annotations and order, and equal chart-harden's own output for
    // the same objects (the normal mode on the rendered stream with the same options).
    let plain = e2e::run(&["--profile", profile, "--no-pin", "-q"], &rendered);
    e2e::ok(&plain, "harden");
    let plain_docs = e2e::docs(&plain.stdout);
    let plain_objects: Vec<Value> = plain_docs
        .docs
        .iter()
        .flat_map(|d| d.objects.iter().map(|o| d.full_object_value(o).to_json()))
        .collect();
    assert_eq!(plain_objects.len(), out_items.len(), "{name}: item count");
    let mut changed = 0;
    for (i, (got, want)) in out_items.iter().zip(&plain_objects).enumerate() {
        if i < n {
            let ann = &got["metadata"]["annotations"];
            assert_eq!(ann["config.kubernetes.io/index"], json!(i.to_string()));
            assert_eq!(
                ann["internal.config.kubernetes.io/index"],
                json!(i.to_string())
            );
            assert_eq!(
                ann["internal.config.kubernetes.io/annotations-migration-resource-id"],
                json!(i.to_string())
            );
            assert_eq!(ann["config.k8s.io/id"], json!((i + 1).to_string()));
            if strip_fn_annotations(&items[i]) != strip_fn_annotations(got) {
                changed += 1;
            }
        }
        assert_eq!(
            strip_fn_annotations(got),
            strip_fn_annotations(want),
            "{name}: item {i} differs from chart-harden's output"
        );
    }

    // Results: one per finding, in the spec's shape.
    let report = {
        let tmp = e2e::tempdir();
        let rf = tmp.path().join("r.json");
        let o = e2e::run(
            &[
                "--profile",
                profile,
                "--no-pin",
                "-q",
                "--report-format=json",
                &format!("--report-file={}", rf.display()),
            ],
            &rendered,
        );
        e2e::ok(&o, "report");
        e2e::read_json(&rf)
    };
    let findings = report["findings"].as_array().unwrap();
    let results = out["results"].as_array().expect("results");
    assert_eq!(
        results.len(),
        findings.len(),
        "{name}: one result per finding"
    );
    assert!(!results.is_empty(), "{name}: no results");
    for (r, f) in results.iter().zip(findings) {
        let sev = r["severity"].as_str().unwrap();
        assert!(["error", "warning", "info"].contains(&sev), "{r}");
        assert!(!r["message"].as_str().unwrap().is_empty());
        assert_eq!(r["resourceRef"]["kind"], f["resource"]["kind"]);
        assert_eq!(r["resourceRef"]["name"], f["resource"]["name"]);
        assert_eq!(r["resourceRef"]["apiVersion"], f["resource"]["api_version"]);
        assert_eq!(r["tags"]["rule"], f["rule"]);
        if f["path"].as_str().is_some_and(|p| !p.is_empty()) {
            assert_eq!(r["field"]["path"], f["path"]);
        }
        if (f["resource"]["doc"].as_u64().unwrap() as usize) < n {
            assert_eq!(r["file"]["path"], json!(format!("{name}/rendered.yaml")));
        }
        let applied = f["fix"]["state"] == "applied";
        assert_eq!(r["tags"]["fix"] == "applied", applied);
        if applied {
            assert_eq!(sev, "info");
        } else {
            assert_eq!(sev, f["severity"].as_str().unwrap());
        }
    }
    if profile == "dev" {
        assert_eq!(changed, 0, "{name}: dev profile must not change items");
        assert_eq!(out_items.len(), n);
    } else {
        assert!(changed > 0, "{name}: nothing hardened");
    }
    eprintln!(
        "krm {name} {profile}: {n} items in, {} out, {changed} changed, {} results",
        out_items.len(),
        results.len()
    );
}

#[test]
fn krm_hardens_corpus_resource_lists() {
    for name in ["podinfo", "vault", "floe-platform-demo"] {
        for profile in ["staging", "prod"] {
            check_chart(name, profile);
        }
    }
}

#[test]
fn krm_function_config_is_honoured() {
    // dev profile: report only, nothing changes.
    check_chart("podinfo", "dev");

    let rendered = std::fs::read(e2e::corpus_chart("podinfo")).unwrap();
    let items = kustomize_items(&rendered, "podinfo/rendered.yaml");
    // disable: CH103 gives no results at all.
    let fc = function_config(json!({"pin": "false", "disable": "CH103, drop-all-capabilities"}));
    let (out, p) = krm(&resource_list(items.clone(), fc), &[]);
    e2e::ok(&p, "krm disable");
    let rules: Vec<&str> = out["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["tags"]["rule"].as_str().unwrap())
        .collect();
    assert!(!rules.is_empty());
    assert!(
        !rules.contains(&"CH103") && !rules.contains(&"CH104"),
        "{rules:?}"
    );

    // kind: ChartHarden with the config file schema: unsafe fixes for CH101 only.
    let fc = json!({
        "apiVersion": "chart-harden.io/v1alpha1",
        "kind": "ChartHarden",
        "metadata": {"name": "harden"},
        "spec": {
            "images": {"pin": false},
            "rules": {"CH101": {"unsafeFixes": true}},
            // No pinning: nothing names podinfo's user, and the chosen UID needs this.
            "podSecurity": {"unknownUsers": "restrict"},
        },
    });
    let (out, p) = krm(&resource_list(items.clone(), fc), &[]);
    e2e::ok(&p, "krm ChartHarden");
    let ch101: Vec<&Value> = out["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["tags"]["rule"] == "CH101")
        .collect();
    assert!(!ch101.is_empty());
    assert!(
        ch101.iter().all(|r| r["tags"]["fix"] == "applied"),
        "{ch101:?}"
    );

    // Unknown ConfigMap key: error.
    let fc = function_config(json!({"pin": "false", "profil": "prod"}));
    let (out, p) = krm(&resource_list(items.clone(), fc), &[]);
    assert_eq!(p.status.code(), Some(2));
    assert_eq!(out["results"][0]["severity"], "error");
    assert!(out["results"][0]["message"]
        .as_str()
        .unwrap()
        .contains("profil"));
    // Unknown rule in disable: error.
    let fc = function_config(json!({"pin": "false", "disable": "CH999"}));
    let (out, p) = krm(&resource_list(items, fc), &[]);
    assert_eq!(p.status.code(), Some(2));
    assert!(out["results"][0]["message"]
        .as_str()
        .unwrap()
        .contains("CH999"));
}

#[test]
fn krm_invalid_input_gives_error_result_and_nonzero_exit() {
    // Not YAML.
    let (out, p) = krm("items: [\n", &[]);
    assert_eq!(p.status.code(), Some(2));
    assert_eq!(out["kind"], "ResourceList");
    assert_eq!(out["results"][0]["severity"], "error");
    // YAML, not a ResourceList.
    let (out, p) = krm(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
        &[],
    );
    assert_eq!(p.status.code(), Some(2));
    assert!(out["results"][0]["message"]
        .as_str()
        .unwrap()
        .contains("ResourceList"));
    // An item that is not a Kubernetes object: items come back unchanged, error result.
    let items = vec![
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ok"}}),
        json!({"metadata": {"name": "no-kind"}}),
    ];
    let (out, p) = krm(&resource_list(items.clone(), Value::Null), &["--no-pin"]);
    assert_eq!(
        p.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&p.stderr)
    );
    assert_eq!(out["items"], json!(items));
    let msg = out["results"][0]["message"].as_str().unwrap();
    assert!(msg.contains("not a Kubernetes object"), "{msg}");
    // An empty ResourceList is fine.
    let (out, p) = krm(
        "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: []\n",
        &["--no-pin"],
    );
    e2e::ok(&p, "empty list");
    assert_eq!(out["items"], json!([]));
}

#[test]
fn kustomize_example_runs_through_its_exec_wrapper() {
    let dir = e2e::repo_root().join("examples/kustomize");
    let rendered = std::fs::read(dir.join("rendered.yaml")).unwrap();
    let fc: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(dir.join("harden.yaml")).unwrap()).unwrap();
    let input = resource_list(kustomize_items(&rendered, "rendered.yaml"), fc);
    let mut child = std::process::Command::new(dir.join("chart-harden-krm"))
        .env("CHART_HARDEN_BIN", e2e::bin())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    e2e::ok(&out, "examples/kustomize/chart-harden-krm");
    let v = chart_harden::yaml::view::parse(&String::from_utf8_lossy(&out.stdout))
        .unwrap()
        .to_json();
    // profile prod from the example's ConfigMap: unsafe fixes applied.
    assert!(v["results"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["tags"]["fix"] == "applied" && r["tags"]["rule"] == "CH101"));
}

/// Issue 20 item 4: the documented kpt commands, run as written (README.md, docs/usage.md
/// from the repository root, examples/kustomize/README.md in that directory) on a copy.
#[test]
fn documented_kpt_command_hardens_the_example() {
    let Some(kpt) = ["/usr/bin/kpt", "/usr/local/bin/kpt"]
        .iter()
        .map(std::path::Path::new)
        .find(|p| p.is_file())
    else {
        eprintln!(
            "kpt is not installed (Debian package google-cloud-cli-kpt): the documented kpt \
             command is not run; the ResourceList tests above still run"
        );
        return;
    };
    let src = e2e::repo_root().join("examples/kustomize");
    let bin_dir = e2e::bin().parent().unwrap().to_path_buf();
    for (doc, needle, in_example_dir) in [
        ("README.md", "kpt fn eval examples/kustomize", false),
        ("docs/usage.md", "kpt fn eval examples/kustomize", false),
        ("examples/kustomize/README.md", "kpt fn eval . ", true),
    ] {
        let text = std::fs::read_to_string(e2e::repo_root().join(doc)).unwrap();
        let line = text
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{doc} documents no `{needle}` command"));
        let cmd = line.split("  #").next().unwrap().trim().to_string();
        let tmp = e2e::tempdir();
        let dir = tmp.path().join("examples/kustomize");
        std::fs::create_dir_all(&dir).unwrap();
        for e in std::fs::read_dir(&src).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
        }
        let out = std::process::Command::new("sh")
            .args(["-c", &cmd])
            .current_dir(if in_example_dir {
                dir.clone()
            } else {
                tmp.path().to_path_buf()
            })
            .env(
                "PATH",
                format!(
                    "{}:{}:/usr/bin:/bin",
                    bin_dir.display(),
                    kpt.parent().unwrap().display()
                ),
            )
            .env("HOME", tmp.path())
            .output()
            .unwrap();
        e2e::ok(&out, &format!("{doc}: {cmd}"));
        let (hardened, generated) = if cmd.contains("-o unwrap") {
            let s = String::from_utf8_lossy(&out.stdout).into_owned();
            let n = s.matches("kind: NetworkPolicy").count();
            assert_eq!(
                std::fs::read(dir.join("rendered.yaml")).unwrap(),
                std::fs::read(src.join("rendered.yaml")).unwrap(),
                "`{cmd}` rewrote the example"
            );
            (s, n)
        } else {
            let n = std::fs::read_dir(&dir)
                .unwrap()
                .filter(|e| {
                    e.as_ref()
                        .unwrap()
                        .file_name()
                        .to_string_lossy()
                        .starts_with("networkpolicy_")
                })
                .count();
            (
                std::fs::read_to_string(dir.join("rendered.yaml")).unwrap(),
                n,
            )
        };
        assert!(
            hardened.contains("runAsNonRoot: true"),
            "`{cmd}` hardened nothing"
        );
        // A generated NetworkPolicy is an unsafe fix: applied only by profile prod.
        assert!(
            generated > 0,
            "`{cmd}`: no generated NetworkPolicy (profile prod from harden.yaml not applied)"
        );
        assert_eq!(
            std::fs::read(dir.join("harden.yaml")).unwrap(),
            std::fs::read(src.join("harden.yaml")).unwrap(),
            "kpt rewrote the function config"
        );
    }
}
