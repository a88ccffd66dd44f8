//! Two releases into one namespace (issue 20, item 5): rendered by the real Helm 4 binary and
//! hardened with `--profile prod`, they never produce the same object (Helm's ownership check
//! would refuse the second release), and no namespace-wide quota is generated for a namespace
//! the release does not own unless the configuration says it does.

#[path = "common/e2e.rs"]
mod e2e;
#[path = "common/helm.rs"]
mod helm;

use std::collections::BTreeSet;

use helm::{assert_success, HelmEnv};

fn harden(input: &[u8], release: &str, extra: &[&str]) -> (Vec<u8>, String) {
    let mut args = vec![
        "--profile",
        "prod",
        "--no-pin",
        "--namespace",
        "shared",
        "--release",
        release,
    ];
    args.extend_from_slice(extra);
    let out = e2e::run(&args, input);
    e2e::ok(&out, "chart-harden");
    (out.stdout, e2e::one_line(&out.stderr))
}

/// (kind, namespace, name) of every object of a stream.
fn keys(bytes: &[u8]) -> BTreeSet<(String, String, String)> {
    let stream = e2e::docs(bytes);
    let mut out = BTreeSet::new();
    for d in &stream.docs {
        for o in &d.objects {
            out.insert((
                o.resource.kind.to_string(),
                o.resource
                    .namespace
                    .as_deref()
                    .unwrap_or("shared")
                    .to_string(),
                o.resource.name.to_string(),
            ));
        }
    }
    out
}

#[test]
fn two_releases_in_one_namespace_share_no_object() {
    let env = HelmEnv::new();
    let chart = helm::demo_chart();
    let mut outs = Vec::new();
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = dir.path().join("owned.yaml");
    std::fs::write(
        &cfg,
        "generate:\n  generate-resource-quota:\n    namespaces: [shared]\n",
    )
    .expect("config");
    for release in ["alpha", "beta"] {
        let rendered = env.template(release, &chart, &["--namespace", "shared"]);
        assert_success(&rendered, "helm template");
        // Not owned: no namespace-wide quota, and the report says why.
        let (out, report) = harden(&rendered.stdout, release, &[]);
        assert!(
            !String::from_utf8_lossy(&out).contains("kind: ResourceQuota"),
            "quota generated for a shared namespace"
        );
        assert!(report.contains("other releases may share it"), "{report}");
        // Owned by configuration: generated, named after the release.
        let (out, _) = harden(
            &rendered.stdout,
            release,
            &["--config", cfg.to_str().expect("path")],
        );
        let text = String::from_utf8_lossy(&out).into_owned();
        assert!(
            text.contains(&format!("name: {release}-chart-harden")),
            "quota not named after the release:\n{text}"
        );
        outs.push(out);
    }
    let (a, b) = (keys(&outs[0]), keys(&outs[1]));
    let both: Vec<_> = a.intersection(&b).collect();
    assert!(
        both.is_empty(),
        "objects both releases would own (Helm refuses the second): {both:?}"
    );
}

/// `helm create`'s own chart with `ingress.enabled=true`: the ingress controller runs in a
/// namespace the chart does not name, so the generated policy must admit the backend's port
/// from any source (it used to allow only the release's namespace).
#[test]
fn helm_create_chart_with_ingress_stays_reachable_from_its_controller() {
    use chart_harden::inventory::netpol::{policies, Direction, Pod, Side};
    use chart_harden::inventory::Inventory;
    let env = HelmEnv::new();
    let dir = env.scratch("create");
    let out = env.run(&["create", dir.join("web").to_str().expect("path")]);
    assert_success(&out, "helm create");
    let rendered = env.template(
        "web",
        &dir.join("web"),
        &["--namespace", "shared", "--set", "ingress.enabled=true"],
    );
    assert_success(&rendered, "helm template");
    let (out, report) = harden(&rendered.stdout, "web", &[]);
    let stream = e2e::docs(&out);
    let inv = Inventory::build(&stream.docs, Some("shared"));
    let pols = policies(&stream.docs, &inv);
    let w = inv
        .workloads
        .iter()
        .find(|w| w.object.resource.kind == "Deployment")
        .expect("the chart's Deployment");
    let pod = Pod::of(&stream.docs, w);
    let side = Side::of(&pols, &pod, Direction::Ingress);
    assert!(side.isolated(), "a policy was generated:\n{report}");
    assert!(
        side.allows_cidr("0.0.0.0/0", 80, "TCP"),
        "the Ingress backend is cut from its controller:\n{}",
        String::from_utf8_lossy(&out)
    );
    assert!(report.contains("is a backend of Ingress web"), "{report}");
}
