//! Digest pinning end to end: a real `docker-registry` on 127.0.0.1, images pushed by the
//! test, the real `chart-harden` binary with a lockfile, then offline with the registry gone.

#[path = "common/e2e.rs"]
mod e2e;
#[path = "common/helm.rs"]
mod helm;
#[path = "../crates/registry/tests/common/push.rs"]
mod push;
#[path = "../crates/registry/tests/common/server.rs"]
mod server;

use std::process::Child;

struct Registry {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A real registry on 127.0.0.1, ready when it answers `/v2/`.
fn start_registry() -> Registry {
    let dir = tempfile::tempdir().expect("tempdir");
    let (child, port) = server::spawn(&server::registry_binary(), dir.path(), |port| {
        format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\nlog:\n  level: error\n",
            dir.path().join("data").display()
        )
    });
    Registry {
        child,
        port,
        _dir: dir,
    }
}

/// A runtime for the async pusher.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn run(args: &[&str], input: &str) -> std::process::Output {
    e2e::run_env(args, input.as_bytes(), &[("NO_COLOR", "1")])
}

/// A Deployment `name` of one container `name` running `image` (`extra`: more container lines).
fn deployment(name: &str, image: &str, extra: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n      containers:\n      - name: {name}\n        image: {image}\n{extra}"
    )
}

/// Hardens `input` in prod, pinning through the registry (no cache): the output's pod specs,
/// one per document, and the report.
fn prod_pod_specs(input: &str) -> (Vec<serde_json::Value>, String) {
    prod_pod_specs_with(input, None)
}

/// [`prod_pod_specs`] with a chart-harden config file holding `config`, when given (a Pod's
/// spec is its pod spec).
fn prod_pod_specs_with(input: &str, config: Option<&str>) -> (Vec<serde_json::Value>, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("c.yaml");
    let mut args = vec![
        "--no-cache",
        "--cache-dir",
        dir.path().to_str().expect("utf8"),
        "--profile",
        "prod",
    ];
    if let Some(config) = config {
        std::fs::write(&cfg, config).expect("config");
        args.extend(["--config", cfg.to_str().expect("utf8")]);
    }
    let out = run(&args, input);
    let report = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{report}");
    let stream = chart_harden::document::parse_stream(&out.stdout).expect("parses");
    let specs = stream
        .docs
        .iter()
        .filter_map(
            |d| match d.value.pointer("/kind").and_then(|k| k.as_str()) {
                Some("Pod") => d.value.pointer("/spec"),
                _ => d.value.pointer("/spec/template/spec"),
            },
        )
        .map(|v| v.to_json())
        .collect();
    (specs, report)
}

fn manifest(host: &str) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
      - name: nonroot
        image: "{host}/team/nonroot:1.0"
      - name: rootimage
        image: {host}/team/rootimage:2
---
apiVersion: v1
kind: Pod
metadata:
  name: multi
spec:
  securityContext: {{runAsUser: 1000}}
  containers:
  - name: app
    image: {host}/team/multi:3
"#
    )
}

#[test]
fn pins_verified_digests_with_lockfile_and_offline() {
    let reg = start_registry();
    let host = format!("127.0.0.1:{}", reg.port);
    let rt = runtime();
    let nonroot = push::build(&push::ImageSpec::new("nonroot").user("1000"));
    let rootimage = push::build(&push::ImageSpec::new("rootimage"));
    let amd = push::build(
        &push::ImageSpec::new("multi-amd")
            .platform("amd64", None)
            .user("1000"),
    );
    let arm = push::build(
        &push::ImageSpec::new("multi-arm")
            .platform("arm64", Some("v8"))
            .user("1000"),
    );
    let index_digest = rt.block_on(async {
        let p = push::Pusher::new(&host, None);
        p.push("team/nonroot", Some("1.0"), &nonroot)
            .await
            .expect("push");
        p.push("team/rootimage", Some("2"), &rootimage)
            .await
            .expect("push");
        p.push("team/multi", None, &amd).await.expect("push");
        p.push("team/multi", None, &arm).await.expect("push");
        let (idx, digest) = push::index(&[&amd, &arm]);
        p.put_manifest(
            "team/multi",
            "3",
            &idx,
            "application/vnd.oci.image.index.v1+json",
        )
        .await
        .expect("push index");
        digest
    });

    let dir = tempfile::tempdir().expect("tempdir");
    let lock = dir.path().join("chart-harden.lock");
    let report = dir.path().join("report.json");
    let cache = dir.path().join("cache");
    let input = manifest(&host);
    let args = [
        "--lockfile",
        lock.to_str().expect("utf8"),
        "--cache-dir",
        cache.to_str().expect("utf8"),
        "--report-format",
        "json",
        "--report-file",
        report.to_str().expect("utf8"),
    ];
    let out = run(&args, &input);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf8");
    // The tag stays for humans, the digest is the one we pushed, quoting style is kept.
    assert!(
        text.contains(&format!(
            "image: \"{host}/team/nonroot:1.0@{}\"",
            nonroot.digest
        )),
        "{text}"
    );
    assert!(text.contains(&format!(
        "image: {host}/team/rootimage:2@{}",
        rootimage.digest
    )));
    // Multi-arch: the index digest, not one platform's.
    assert!(text.contains(&format!("image: {host}/team/multi:3@{index_digest}")));
    assert!(!text.contains(&amd.digest) && !text.contains(&arm.digest));
    // Image-aware security: USER 1000 is known for `nonroot`, unknown (root) for `rootimage`,
    // so runAsNonRoot for the Deployment is an unsafe fix (not applied in staging).
    let rep: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("json");
    let ch101: Vec<&serde_json::Value> = rep["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["rule"] == "CH101" && f["resource"]["name"] == "web")
        .collect();
    assert_eq!(ch101.len(), 1, "{ch101:?}");
    assert_eq!(ch101[0]["fix"]["state"], "skipped");
    let msg = ch101[0]["message"].as_str().unwrap_or("");
    assert!(
        msg.contains("containers [\"rootimage\"] may run as root")
            && msg.contains("containers [\"nonroot\"] keep their image's user"),
        "{msg}"
    );
    // The lockfile exists and names every image.
    let lock_text = std::fs::read_to_string(&lock).expect("lockfile written");
    for d in [&nonroot.digest, &rootimage.digest, &index_digest] {
        assert!(lock_text.contains(d.as_str()), "lockfile lacks {d}");
    }

    // Registry gone: offline from the lockfile gives byte-identical output.
    drop(reg);
    let out2 = run(
        &[
            "--lockfile",
            lock.to_str().expect("utf8"),
            "--offline",
            "-q",
        ],
        &input,
    );
    assert!(
        out2.status.success(),
        "{}",
        String::from_utf8_lossy(&out2.stderr)
    );
    assert_eq!(String::from_utf8(out2.stdout).expect("utf8"), text);

    // Offline with an image the lockfile lacks: exit 3 in prod (fail policy), nothing on stdout.
    let extra = format!("{input}---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: x\nspec:\n  containers:\n  - name: x\n    image: {host}/team/unknown:9\n");
    let out3 = run(
        &[
            "--lockfile",
            lock.to_str().expect("utf8"),
            "--offline",
            "--profile",
            "prod",
        ],
        &extra,
    );
    assert_eq!(
        out3.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out3.stderr)
    );
    assert!(out3.stdout.is_empty());
    let err = String::from_utf8_lossy(&out3.stderr);
    assert!(err.contains("team/unknown"), "{err}");
}

#[test]
fn image_user_from_registry_makes_nonroot_fix_safe() {
    let reg = start_registry();
    let host = format!("127.0.0.1:{}", reg.port);
    let rt = runtime();
    let img = push::build(&push::ImageSpec::new("svc").user("1001:1001"));
    rt.block_on(async {
        push::Pusher::new(&host, None)
            .push("svc", Some("1"), &img)
            .await
            .expect("push")
    });
    let input = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: c\n    image: {host}/svc:1\n"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run(
        &[
            "--no-cache",
            "--cache-dir",
            dir.path().to_str().expect("utf8"),
        ],
        &input,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf8");
    // Safe fixes only (staging), yet runAsNonRoot and drop ALL were applied: the image runs as 1001.
    assert!(text.contains("runAsNonRoot: true"), "{text}");
    assert!(text.contains("- ALL"), "{text}");
    assert!(!text.contains("runAsUser: 65532"), "{text}");
    assert!(text.contains(&format!("{host}/svc:1@{}", img.digest)));
}

/// In prod, a pod whose other container's user is unknown gets a chosen UID; the container
/// whose image (read from the registry) names user 1001:1001 keeps it, set on itself.
#[test]
fn prod_keeps_the_user_an_image_names() {
    let reg = start_registry();
    let host = format!("127.0.0.1:{}", reg.port);
    let rt = runtime();
    let svc = push::build(&push::ImageSpec::new("svc").user("1001:1001"));
    let other = push::build(&push::ImageSpec::new("other"));
    rt.block_on(async {
        let p = push::Pusher::new(&host, None);
        p.push("svc", Some("1"), &svc).await.expect("push");
        p.push("other", Some("1"), &other).await.expect("push");
    });
    let input = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: svc\n    image: {host}/svc:1\n  - name: other\n    image: {host}/other:1\n"
    );
    // `other` starts as root (its config sets no User): prod withholds the chosen UID unless
    // the configuration asks for it (see `prod_withholds_a_uid_from_a_root_image`).
    let (specs, _) = prod_pod_specs_with(&input, Some("podSecurity: {rootContainers: restrict}\n"));
    let spec = specs[0].clone();
    assert_eq!(spec["securityContext"]["runAsUser"], 65532, "{spec}");
    assert_eq!(
        spec["containers"][0]["securityContext"]["runAsUser"], 1001,
        "{spec}"
    );
    assert_eq!(
        spec["containers"][0]["securityContext"]["runAsGroup"], 1001,
        "{spec}"
    );
    assert!(
        spec["containers"][1]["securityContext"]
            .get("runAsUser")
            .is_none(),
        "{spec}"
    );
}

/// An image whose config sets no User starts as root (the official nginx switches its
/// workers' user, which needs SETUID/SETGID): through a real registry, prod leaves its pod's user and
/// capabilities alone and says which key would change them; the container whose image names a
/// non-root user still gets the safe fixes.
#[test]
fn prod_withholds_a_uid_from_a_root_image() {
    let reg = start_registry();
    let host = format!("127.0.0.1:{}", reg.port);
    let rt = runtime();
    let root = push::build(&push::ImageSpec::new("root"));
    let svc = push::build(&push::ImageSpec::new("svc").user("1001"));
    rt.block_on(async {
        let p = push::Pusher::new(&host, None);
        p.push("web", Some("1"), &root).await.expect("push");
        p.push("svc", Some("1"), &svc).await.expect("push");
    });
    let input = format!(
        "{}---\n{}",
        deployment(
            "web",
            &format!("{host}/web:1"),
            "        ports: [{containerPort: 80}]\n"
        ),
        deployment("svc", &format!("{host}/svc:1"), "")
    );
    let (specs, report) = prod_pod_specs(&input);
    let web = &specs[0];
    assert!(
        web.pointer("/securityContext/runAsUser").is_none(),
        "a UID was chosen for a root image: {web}"
    );
    assert!(
        web.pointer("/containers/0/securityContext/capabilities/drop")
            .is_none(),
        "capabilities dropped from a root image: {web}"
    );
    assert!(
        web.pointer("/containers/0/image")
            .and_then(|i| i.as_str())
            .is_some_and(|i| i.contains("@sha256:")),
        "the image is still pinned: {web}"
    );
    assert!(
        report.contains("config sets no User, so it starts as root"),
        "{report}"
    );
    assert!(
        report.contains("podSecurity.rootContainers: restrict"),
        "{report}"
    );
    let svc = &specs[1];
    assert_eq!(svc["securityContext"]["runAsNonRoot"], true, "{svc}");
    assert_eq!(
        svc["containers"][0]["securityContext"]["capabilities"]["drop"][0], "ALL",
        "{svc}"
    );
}

/// A chart that pins its images by digest still gets their configs read (the evidence of which
/// user they start as): the root image's pod is left alone. A digest the registry does not hold
/// is no error (the reference is pinned as written); its user is unknown, as without pinning,
/// so no UID is chosen for it either.
#[test]
fn prod_reads_the_config_of_a_digest_reference() {
    let reg = start_registry();
    let host = format!("127.0.0.1:{}", reg.port);
    let rt = runtime();
    let root = push::build(&push::ImageSpec::new("root"));
    rt.block_on(async {
        push::Pusher::new(&host, None)
            .push("web", Some("1"), &root)
            .await
            .expect("push");
    });
    let gone = format!("sha256:{}", "0".repeat(64));
    let input = format!(
        "{}---\n{}",
        deployment("web", &format!("{host}/web@{}", root.digest), ""),
        deployment("gone", &format!("{host}/gone@{gone}"), "")
    );
    let (specs, report) = prod_pod_specs(&input);
    let web = &specs[0];
    assert!(
        web.pointer("/securityContext/runAsUser").is_none(),
        "a UID was chosen for a root image pinned by digest: {web}"
    );
    assert!(
        report.contains("config sets no User, so it starts as root"),
        "{report}"
    );
    let gone_spec = &specs[1];
    assert_eq!(
        gone_spec["containers"][0]["image"].as_str(),
        Some(format!("{host}/gone@{gone}").as_str()),
        "{gone_spec}"
    );
    // Its config could not be read: nothing names its user, so no UID is chosen either.
    assert!(
        gone_spec.pointer("/securityContext/runAsUser").is_none(),
        "a UID was chosen for an image whose user is unknown: {gone_spec}"
    );
    let words = report.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        words.contains(&format!(
            "the config of image \"{host}/gone@{gone}\" was not read"
        )),
        "{report}"
    );
}

/// Through the real Helm 4 with the plugin installed from the repo: the lockfile path rides
/// in `--post-renderer-args`; the second render runs offline with the registry stopped and
/// must be byte-identical (what keeps Argo CD and Flux from seeing drift).
#[test]
fn helm4_post_renderer_with_lockfile() {
    let reg = start_registry();
    let host = format!("127.0.0.1:{}", reg.port);
    let rt = runtime();
    let web = push::build(&push::ImageSpec::new("demo-web").user("1000"));
    let tool = push::build(&push::ImageSpec::new("demo-tool").user("1001"));
    rt.block_on(async {
        let p = push::Pusher::new(&host, None);
        p.push("demo/web", Some("1"), &web).await.expect("push");
        p.push("demo/tool", Some("1"), &tool).await.expect("push");
    });
    let env = helm::HelmEnv::new();
    env.install_repo_plugin();
    let dir = tempfile::tempdir().expect("tempdir");
    let lock = dir.path().join("chart-harden.lock");
    let report = dir.path().join("report.txt");
    let sets = format!(
        "web.image.repository={host}/demo/web,web.image.tag=1,initImage.repository={host}/demo/tool,initImage.tag=1,worker.image.repository={host}/demo/tool,worker.image.tag=1,cleanup.image.repository={host}/demo/tool,cleanup.image.tag=1"
    );
    let lock_arg = format!("--lockfile={}", lock.display());
    let report_arg = format!("--report-file={}", report.display());
    let render = |extra: &[&str]| {
        let mut pr: Vec<&str> = vec!["--namespace=demo", &lock_arg, &report_arg];
        pr.extend_from_slice(extra);
        env.template_with_post_renderer(
            "demo",
            &helm::demo_chart(),
            "chart-harden",
            &pr,
            &["--namespace", "demo", "--set", &sets],
        )
    };
    let first = render(&[]);
    helm::assert_success(&first, "helm template with chart-harden");
    let out = String::from_utf8(first.stdout).expect("utf8");
    assert!(
        out.contains(&format!("{host}/demo/web:1@{}", web.digest)),
        "{out}"
    );
    assert!(
        out.contains(&format!("{host}/demo/tool:1@{}", tool.digest)),
        "{out}"
    );
    assert!(
        !out.contains(&format!("{host}/demo/web:1\"")),
        "an unpinned image is left: {out}"
    );
    let rep = std::fs::read_to_string(&report).expect("report file written");
    assert!(rep.contains("CH201"), "{rep}");
    let lock_text = std::fs::read_to_string(&lock).expect("lockfile written through Helm");
    assert!(lock_text.contains(&web.digest) && lock_text.contains(&tool.digest));

    drop(reg);
    let second = render(&["--offline"]);
    helm::assert_success(&second, "offline helm template with chart-harden");
    assert_eq!(String::from_utf8(second.stdout).expect("utf8"), out);
}
