//! examples/argocd: the Config Management Plugin's generate step (`generate.sh`) run end to
//! end the way argocd-cmp-server runs it: in the application's directory, with
//! `ARGOCD_APP_NAME`, `ARGOCD_APP_NAMESPACE` and the `ARGOCD_ENV_*` parameters set.
//!
//! * The demo chart goes through the real Helm 4 binary (`HELM_BIN=.tools/bin/helm`).
//! * The shared corpus holds only rendered output (no chart sources), so for corpus charts
//!   `HELM_BIN` is a stand-in script that records its arguments and prints the chart's
//!   `rendered.yaml`, i.e. exactly what `helm template` printed for that chart. The test
//!   checks the arguments generate.sh gives helm and everything downstream of helm.
//! * `set -o pipefail`: a failing helm fails the step.

#[path = "common/e2e.rs"]
mod e2e;
#[path = "common/helm.rs"]
mod helm;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn generate_sh() -> PathBuf {
    e2e::repo_root().join("examples/argocd/generate.sh")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), &t).unwrap();
        }
    }
}

/// Runs generate.sh in `app_dir` with Argo CD's environment.
fn generate(app_dir: &Path, helm_bin: &Path, env: &[(&str, &str)], home: &Path) -> Output {
    let mut cmd = Command::new("bash");
    cmd.arg(generate_sh())
        .current_dir(app_dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("HELM_CONFIG_HOME", home.join("helm/config"))
        .env("HELM_CACHE_HOME", home.join("helm/cache"))
        .env("HELM_DATA_HOME", home.join("helm/data"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("HELM_BIN", helm_bin)
        .env("CHART_HARDEN_BIN", e2e::bin());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run generate.sh")
}

fn argo_env<'a>(app: &'a str, ns: &'a str, profile: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("ARGOCD_APP_NAME", app),
        ("ARGOCD_APP_NAMESPACE", ns),
        ("ARGOCD_ENV_PROFILE", profile),
        ("ARGOCD_ENV_LOCKFILE", "chart-harden.lock"),
    ]
}

/// Checks the manifests: the same bytes as chart-harden run by hand with the arguments the
/// CMP documents, every container image pinned to the lockfile's digest.
fn check_output(what: &str, out: &Output, rendered: &[u8], app_dir: &Path, args: &[&str]) {
    e2e::ok(out, what);
    let direct = e2e::run_in(Some(app_dir), args, rendered, &[]);
    e2e::ok(&direct, &format!("{what}: direct"));
    assert!(
        out.stdout == direct.stdout,
        "{what}: CMP output differs from a direct run"
    );
    let refs = e2e::container_images(rendered);
    assert!(!refs.is_empty());
    let text = String::from_utf8_lossy(&out.stdout);
    for (n, r) in refs.iter().enumerate() {
        let pinned = format!("{r}@{}", e2e::fake_digest(n));
        assert!(
            text.contains(&pinned),
            "{what}: {r} not pinned from the lockfile"
        );
    }
    let stream = e2e::docs(&out.stdout);
    assert!(stream.docs.len() >= e2e::docs(rendered).docs.len());
}

#[test]
fn demo_chart_through_real_helm() {
    let tmp = e2e::tempdir();
    let app = tmp.path().join("app");
    copy_dir(&e2e::repo_root().join("testdata/demo-chart"), &app);
    let helm = e2e::repo_root().join(".tools/bin/helm");
    assert!(helm.is_file(), "run scripts/install-helm.sh");
    // What helm renders for the app (to build the lockfile and the expected output).
    let rendered = Command::new(&helm)
        .args([
            "template",
            "shop",
            ".",
            "--namespace",
            "shop-prod",
            "--include-crds",
        ])
        .current_dir(&app)
        .env("HELM_CONFIG_HOME", tmp.path().join("helm/config"))
        .env("HELM_CACHE_HOME", tmp.path().join("helm/cache"))
        .env("HELM_DATA_HOME", tmp.path().join("helm/data"))
        .output()
        .unwrap();
    e2e::ok(&rendered, "helm template");
    e2e::write_lockfile(
        &app.join("chart-harden.lock"),
        &e2e::container_images(&rendered.stdout),
    );
    let out = generate(
        &app,
        &helm,
        &argo_env("shop", "shop-prod", "prod"),
        tmp.path(),
    );
    let args = [
        "--namespace",
        "shop-prod",
        "--release",
        "shop",
        "--profile",
        "prod",
        "--lockfile",
        "chart-harden.lock",
        "--offline",
    ];
    check_output("demo chart", &out, &rendered.stdout, &app, &args);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("helm.sh/hook\": test"),
        "test hook expected without SKIP_TESTS"
    );

    // SKIP_TESTS=true passes helm's own --skip-tests: the test hook Pod is not rendered.
    let mut env = argo_env("shop", "shop-prod", "prod");
    env.push(("ARGOCD_ENV_SKIP_TESTS", "true"));
    let out = generate(&app, &helm, &env, tmp.path());
    e2e::ok(&out, "skip tests");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("helm.sh/hook\": test"));

    // A values file that does not exist fails the step before anything runs.
    let mut env = argo_env("shop", "shop-prod", "prod");
    env.push(("ARGOCD_ENV_HELM_VALUES", "nope.yaml"));
    let out = generate(&app, &helm, &env, tmp.path());
    assert!(!out.status.success() && out.stdout.is_empty());
}

/// A stand-in for `helm` that records its argv and prints a rendered chart (or fails).
fn fake_helm(dir: &Path, rendered: &Path, exit: i32) -> (PathBuf, PathBuf) {
    let argv = dir.join("helm.argv");
    let script = dir.join("fake-helm");
    helm::write_executable(
        &script,
        &format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}'\ncat '{}'\nexit {exit}\n",
            argv.display(),
            rendered.display()
        ),
    );
    (script, argv)
}

#[test]
fn corpus_charts_through_the_cmp() {
    for (name, profile) in [
        ("podinfo", "prod"),
        ("floe-platform-demo", "staging"),
        ("vault", "prod"),
    ] {
        let tmp = e2e::tempdir();
        let app = tmp.path().join("app");
        std::fs::create_dir_all(&app).unwrap();
        let rendered_path = e2e::corpus_chart(name);
        let rendered = std::fs::read(&rendered_path).unwrap();
        e2e::write_lockfile(
            &app.join("chart-harden.lock"),
            &e2e::container_images(&rendered),
        );
        let (helm, argv) = fake_helm(tmp.path(), &rendered_path, 0);
        let out = generate(&app, &helm, &argo_env(name, "apps", profile), tmp.path());
        let args = [
            "--namespace",
            "apps",
            "--release",
            name,
            "--profile",
            profile,
            "--lockfile",
            "chart-harden.lock",
            "--offline",
        ];
        check_output(name, &out, &rendered, &app, &args);
        let got: Vec<String> = std::fs::read_to_string(&argv)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        assert_eq!(
            got,
            [
                "template",
                name,
                ".",
                "--namespace",
                "apps",
                "--include-crds"
            ],
            "{name}: helm arguments"
        );
        eprintln!(
            "argocd {name} ({profile}): {} bytes of manifests",
            out.stdout.len()
        );
    }
}

#[test]
fn pipefail_a_failing_helm_fails_the_step() {
    let tmp = e2e::tempdir();
    let app = tmp.path().join("app");
    std::fs::create_dir_all(&app).unwrap();
    let rendered = e2e::corpus_chart("podinfo");
    // helm prints a valid stream and then fails: chart-harden alone would succeed (offline,
    // from the lockfile: no registry but 127.0.0.1 is ever a target).
    e2e::write_lockfile(
        &app.join("chart-harden.lock"),
        &e2e::container_images(&std::fs::read(&rendered).unwrap()),
    );
    let (helm, _) = fake_helm(tmp.path(), &rendered, 1);
    let env = argo_env("podinfo", "apps", "staging");
    let out = generate(&app, &helm, &env, tmp.path());
    assert!(
        !out.status.success(),
        "a failing helm must fail the generate step"
    );
    // Missing Argo CD variables: refuse to run.
    let out = generate(&app, &helm, &[("ARGOCD_APP_NAME", "x")], tmp.path());
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ARGOCD_APP_NAMESPACE"));
}

#[test]
fn cmp_configmap_embeds_plugin_and_generate_script_verbatim() {
    let dir = e2e::repo_root().join("examples/argocd");
    let cm: serde_json::Value =
        serde_saphyr::from_str(&std::fs::read_to_string(dir.join("cmp-plugin.yaml")).unwrap())
            .unwrap();
    assert_eq!(
        cm["data"]["plugin.yaml"].as_str().unwrap(),
        std::fs::read_to_string(dir.join("plugin.yaml")).unwrap()
    );
    assert_eq!(
        cm["data"]["generate.sh"].as_str().unwrap(),
        std::fs::read_to_string(dir.join("generate.sh")).unwrap()
    );
}
