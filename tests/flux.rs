//! `chart-harden export flux`: the exported HelmRelease post-renderer block, applied with the
//! real `kubectl kustomize` (from scripts/install-helm.sh) to the rendered chart, must give
//! the same objects as chart-harden's own output (compared per object, as parsed JSON).
//!
//! Images are pinned from a lockfile (`--lockfile --offline`) with made-up digests, so the
//! `images:` entries are exercised without a registry.

#[path = "common/e2e.rs"]
mod e2e;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use serde_json::{json, Value};

fn kubectl() -> PathBuf {
    let p = e2e::repo_root().join(".tools/bin/kubectl");
    assert!(
        p.is_file(),
        "{} missing: run scripts/install-helm.sh",
        p.display()
    );
    p
}

/// Drops map entries whose value is null, `{}` or `[]`, recursively: the API server reads
/// them as unset, and kustomize normalizes them away (a chart's `annotations: {}` or an
/// empty `volumes:` come out of kustomize changed even without any patch).
fn drop_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.values_mut().for_each(drop_nulls);
            m.retain(|_, c| match c {
                Value::Null => false,
                Value::Object(o) => !o.is_empty(),
                Value::Array(a) => !a.is_empty(),
                _ => true,
            });
        }
        Value::Array(a) => a.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

/// Objects keyed by apiVersion/kind/namespace/name (Lists expanded, as kustomize does),
/// null fields dropped.
fn objects(stream: &[u8]) -> BTreeMap<String, Value> {
    let mut m = BTreeMap::new();
    for d in e2e::docs(stream).docs {
        for o in &d.objects {
            let mut v = d.full_object_value(o).to_json();
            drop_nulls(&mut v);
            let key = format!(
                "{}|{}|{}|{}",
                v["apiVersion"].as_str().unwrap_or(""),
                v["kind"].as_str().unwrap_or(""),
                v.pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or(""),
                v.pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
            );
            assert!(m.insert(key.clone(), v).is_none(), "duplicate object {key}");
        }
    }
    m
}

struct Checked {
    patches: usize,
    images: usize,
    generated: usize,
    changed_objects: usize,
}

/// Exports, applies with kubectl kustomize, compares. `extra` are extra chart-harden flags.
fn check(name: &str, rendered: &[u8], extra: &[&str]) -> Checked {
    let tmp = e2e::tempdir();
    let k = tmp.path().join("k");
    std::fs::create_dir_all(&k).unwrap();
    std::fs::write(k.join("rendered.yaml"), rendered).unwrap();
    let lock = tmp.path().join("chart-harden.lock");
    e2e::write_lockfile(&lock, &e2e::container_images(rendered));
    let lock_s = lock.to_string_lossy().into_owned();
    let mut flags = vec![
        "--lockfile",
        lock_s.as_str(),
        "--offline",
        "--on-resolve-error=warn",
        "-q",
    ];
    flags.extend_from_slice(extra);

    // chart-harden's own output.
    let hardened = e2e::run(&flags, rendered);
    e2e::ok(&hardened, &format!("{name}: harden"));

    // The export, into k/flux.
    let out_dir = k.join("flux");
    let out_s = out_dir.to_string_lossy().into_owned();
    let mut args = vec!["export", "flux", "--out", out_s.as_str()];
    args.extend_from_slice(&flags);
    let ex = e2e::run(&args, rendered);
    e2e::ok(&ex, &format!("{name}: export flux"));
    let pr_text = std::fs::read_to_string(out_dir.join("postrenderers.yaml")).unwrap();
    let pr: Value = serde_saphyr::from_str(&pr_text)
        .unwrap_or_else(|e| panic!("{name}: postrenderers.yaml does not parse: {e}\n{pr_text}"));
    let kz = &pr["postRenderers"][0]["kustomize"];
    let patches = kz["patches"].as_array().cloned().unwrap_or_default();
    let imgs = kz["images"].as_array().cloned().unwrap_or_default();
    let generated_dir = out_dir.join("generated");

    // Without --out, stdout carries the same block (then the generated objects).
    let mut args2 = vec!["export", "flux"];
    args2.extend_from_slice(&flags);
    let ex2 = e2e::run(&args2, rendered);
    e2e::ok(&ex2, &format!("{name}: export flux (stdout)"));
    assert!(
        String::from_utf8_lossy(&ex2.stdout).starts_with(&pr_text),
        "{name}: stdout export differs from postrenderers.yaml"
    );

    // A kustomization that is what Flux's helm-controller builds for the post-renderer,
    // plus the generated kustomization.
    let mut resources = vec![json!("rendered.yaml")];
    if generated_dir.join("kustomization.yaml").is_file() {
        resources.push(json!("flux/generated"));
    }
    let kust = json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": resources,
        "patches": patches,
        "images": imgs,
    });
    std::fs::write(k.join("kustomization.yaml"), kust.to_string()).unwrap();
    let built = Command::new(kubectl())
        .arg("kustomize")
        .arg(&k)
        .output()
        .expect("run kubectl kustomize");
    assert!(
        built.status.success(),
        "{name}: kubectl kustomize failed: {}\n{pr_text}",
        String::from_utf8_lossy(&built.stderr)
    );

    let want = objects(&hardened.stdout);
    let got = objects(&built.stdout);
    let want_keys: Vec<&String> = want.keys().collect();
    let got_keys: Vec<&String> = got.keys().collect();
    assert_eq!(got_keys, want_keys, "{name}: different object sets");
    let mut mismatches = Vec::new();
    for (key, w) in &want {
        if got[key] != *w {
            let ops = chart_harden::export::json_patch::diff(&got[key], w);
            mismatches.push(format!("{key}: kustomize→chart-harden needs {ops:?}"));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{name}: kustomize output differs from chart-harden's:\n{}",
        mismatches.join("\n")
    );

    // The export is not vacuous: every changed object has a patch or an image entry.
    let before = objects(rendered);
    let changed_objects = want
        .iter()
        .filter(|(key, v)| before.get(*key).is_some_and(|b| b != *v))
        .count();
    let generated = want.keys().filter(|k| !before.contains_key(*k)).count();
    if changed_objects > 0 {
        assert!(
            !patches.is_empty() || !imgs.is_empty(),
            "{name}: {changed_objects} objects changed but nothing was exported"
        );
    }
    Checked {
        patches: patches.len(),
        images: imgs.len(),
        generated,
        changed_objects,
    }
}

#[test]
fn demo_chart_export_applies_like_chart_harden() {
    let stream = std::fs::read(e2e::repo_root().join("testdata/demo-chart.helm3-stream.yaml"))
        .expect("demo stream");
    for profile in ["staging", "prod"] {
        let c = check(
            &format!("demo-chart ({profile})"),
            &stream,
            &["--profile", profile],
        );
        assert!(c.changed_objects >= 3, "demo chart: too few changes");
        assert!(c.patches >= 3);
        assert!(c.images >= 1, "demo chart: image digests not exported");
        eprintln!(
            "demo-chart {profile}: {} changed objects, {} patches, {} images, {} generated",
            c.changed_objects, c.patches, c.images, c.generated
        );
    }
}

/// kustomize's own verdict on the rendered chart with no patches: `Err` when it rejects
/// the input itself (e.g. duplicate mapping keys, which kyaml refuses and Flux would too).
fn kustomize_accepts(rendered: &[u8]) -> Result<(), String> {
    let tmp = e2e::tempdir();
    std::fs::write(tmp.path().join("rendered.yaml"), rendered).unwrap();
    std::fs::write(
        tmp.path().join("kustomization.yaml"),
        "resources: [rendered.yaml]\n",
    )
    .unwrap();
    let out = Command::new(kubectl())
        .arg("kustomize")
        .arg(tmp.path())
        .output()
        .expect("run kubectl kustomize");
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn corpus_exports_apply_like_chart_harden() {
    let mut verified = 0;
    let mut total_patches = 0;
    let mut rejected = Vec::new();
    let corpus = e2e::corpus();
    for (name, path) in &corpus {
        let rendered = std::fs::read(path).unwrap();
        if let Err(e) = kustomize_accepts(&rendered) {
            eprintln!("{name}: kustomize rejects the rendered chart itself (no patches): {e}");
            rejected.push(name.clone());
            continue;
        }
        for profile in ["staging", "prod"] {
            let c = check(
                &format!("{name} ({profile})"),
                &rendered,
                &["--profile", profile],
            );
            total_patches += c.patches;
            eprintln!(
                "{name} {profile}: {} changed objects, {} patches, {} images, {} generated",
                c.changed_objects, c.patches, c.images, c.generated
            );
        }
        verified += 1;
    }
    eprintln!(
        "verified {verified} of {} charts; kustomize rejects {rejected:?} without any patch",
        corpus.len()
    );
    assert!(verified >= 2 && total_patches > 0);
    assert!(
        rejected.len() * 5 <= corpus.len(),
        "kustomize rejects too many charts: {rejected:?}"
    );
}
