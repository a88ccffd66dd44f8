//! Focused tests of the public API: paths per kind, version gating, parsing,
//! and robustness against malformed input.

use chart_harden_pss::{evaluate, pod_template_path, Level, Version, Violation};
use serde_json::{json, Value};

/// A pod spec that passes `restricted` at every version.
fn restricted_spec() -> Value {
    json!({
        "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{
            "name": "app",
            "image": "example/app",
            "securityContext": {
                "allowPrivilegeEscalation": false,
                "capabilities": {"drop": ["ALL"]}
            }
        }]
    })
}

fn pod(spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec})
}

fn deployment(spec: Value) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {"template": {"metadata": {"labels": {"app": "d"}}, "spec": spec}}
    })
}

fn cronjob(spec: Value) -> Value {
    json!({
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "c"},
        "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": spec}}}}
    })
}

fn checks_and_paths(violations: &[Violation]) -> Vec<(&'static str, &str)> {
    violations
        .iter()
        .map(|v| (v.check, v.path.as_str()))
        .collect()
}

fn checks(object: &Value, level: Level, version: &str) -> Vec<&'static str> {
    let version: Version = version.parse().expect("test version parses");
    evaluate(object, level, version)
        .into_iter()
        .map(|v| v.check)
        .collect()
}

/// Sets `value` at the JSON pointer `pointer` (parents must exist).
fn set(mut object: Value, pointer: &str, value: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').expect("pointer has a parent");
    let parent = object.pointer_mut(parent).expect("parent exists");
    match parent {
        Value::Object(map) => {
            map.insert(key.to_owned(), value);
        }
        Value::Array(items) => {
            let i: usize = key.parse().expect("array index");
            items[i] = value;
        }
        _ => panic!("parent of {pointer} is not a container"),
    }
    object
}

#[test]
fn restricted_baseline_passes_everywhere() {
    for minor in 0..=40 {
        for object in [
            pod(restricted_spec()),
            deployment(restricted_spec()),
            cronjob(restricted_spec()),
        ] {
            let found = evaluate(&object, Level::Restricted, Version::V1(minor));
            assert!(found.is_empty(), "v1.{minor}: {found:?}");
        }
    }
    assert!(evaluate(&pod(restricted_spec()), Level::Restricted, Version::Latest).is_empty());
}

#[test]
fn deployment_paths_are_rooted_at_the_object() {
    let spec = set(
        restricted_spec(),
        "/containers/0/securityContext/allowPrivilegeEscalation",
        json!(true),
    );
    let found = evaluate(&deployment(spec), Level::Restricted, Version::Latest);
    assert_eq!(
        checks_and_paths(&found),
        [(
            "allowPrivilegeEscalation",
            "spec.template.spec.containers[0].securityContext.allowPrivilegeEscalation"
        )]
    );
    assert_eq!(found[0].level, Level::Restricted);
    assert_eq!(
        found[0].message,
        "container \"app\" must set securityContext.allowPrivilegeEscalation=false"
    );

    // Annotations are reported under the template's metadata.
    let mut object = deployment(restricted_spec());
    object["spec"]["template"]["metadata"]["annotations"] =
        json!({"container.apparmor.security.beta.kubernetes.io/app": "unconfined"});
    let found = evaluate(&object, Level::Baseline, Version::Latest);
    assert_eq!(
        checks_and_paths(&found),
        [(
            "appArmorProfile",
            "spec.template.metadata.annotations['container.apparmor.security.beta.kubernetes.io/app']"
        )]
    );
}

#[test]
fn cronjob_paths_go_through_the_job_template() {
    let spec = json!({"hostPID": true, "containers": [{"name": "app", "image": "x"}]});
    let found = evaluate(&cronjob(spec), Level::Baseline, Version::Latest);
    assert_eq!(
        checks_and_paths(&found),
        [(
            "hostNamespaces",
            "spec.jobTemplate.spec.template.spec.hostPID"
        )]
    );
}

#[test]
fn pod_template_paths() {
    assert_eq!(pod_template_path("Pod"), Some(&[][..]));
    assert_eq!(pod_template_path("PodTemplate"), Some(&["template"][..]));
    for kind in [
        "Deployment",
        "StatefulSet",
        "DaemonSet",
        "ReplicaSet",
        "ReplicationController",
        "Job",
    ] {
        assert_eq!(
            pod_template_path(kind),
            Some(&["spec", "template"][..]),
            "{kind}"
        );
    }
    assert_eq!(
        pod_template_path("CronJob"),
        Some(&["spec", "jobTemplate", "spec", "template"][..])
    );
    for kind in ["ConfigMap", "Service", "Namespace", "pod", ""] {
        assert_eq!(pod_template_path(kind), None, "{kind}");
    }
}

#[test]
fn every_pod_kind_is_evaluated_and_others_are_not() {
    let bad = json!({"hostIPC": true, "containers": [{"name": "a"}]});
    let objects = [
        json!({"apiVersion": "v1", "kind": "Pod", "spec": bad}),
        json!({"apiVersion": "v1", "kind": "PodTemplate", "template": {"spec": bad}}),
        json!({"apiVersion": "v1", "kind": "ReplicationController", "spec": {"template": {"spec": bad}}}),
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "spec": {"template": {"spec": bad}}}),
        json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "spec": {"template": {"spec": bad}}}),
        json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "spec": {"template": {"spec": bad}}}),
        json!({"apiVersion": "extensions/v1beta1", "kind": "Deployment", "spec": {"template": {"spec": bad}}}),
        json!({"apiVersion": "batch/v1", "kind": "Job", "spec": {"template": {"spec": bad}}}),
        json!({"kind": "Job", "spec": {"template": {"spec": bad}}}),
    ];
    for object in &objects {
        assert_eq!(
            checks(object, Level::Baseline, "latest"),
            ["hostNamespaces"],
            "{object}"
        );
    }
    let ignored = [
        json!({"apiVersion": "v1", "kind": "ConfigMap", "spec": bad}),
        // A custom resource reusing a built-in kind name.
        json!({"apiVersion": "batch.volcano.sh/v1alpha1", "kind": "Job", "spec": {"template": {"spec": bad}}}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {}}),
        json!({"apiVersion": "v1", "kind": "Pod"}),
        json!("not an object"),
    ];
    for object in &ignored {
        assert!(
            checks(object, Level::Restricted, "latest").is_empty(),
            "{object}"
        );
    }
    assert!(evaluate(&objects[0], Level::Privileged, Version::Latest).is_empty());
}

#[test]
fn restricted_reports_each_missing_field_at_its_path() {
    let object = pod(json!({
        "initContainers": [{"name": "init", "image": "x"}],
        "containers": [{"name": "app", "image": "x"}]
    }));
    let found = evaluate(&object, Level::Restricted, Version::Latest);
    assert_eq!(
        checks_and_paths(&found),
        [
            (
                "allowPrivilegeEscalation",
                "spec.initContainers[0].securityContext.allowPrivilegeEscalation"
            ),
            (
                "allowPrivilegeEscalation",
                "spec.containers[0].securityContext.allowPrivilegeEscalation"
            ),
            (
                "runAsNonRoot",
                "spec.initContainers[0].securityContext.runAsNonRoot"
            ),
            (
                "runAsNonRoot",
                "spec.containers[0].securityContext.runAsNonRoot"
            ),
            (
                "seccompProfile_restricted",
                "spec.initContainers[0].securityContext.seccompProfile.type"
            ),
            (
                "seccompProfile_restricted",
                "spec.containers[0].securityContext.seccompProfile.type"
            ),
            (
                "capabilities_restricted",
                "spec.initContainers[0].securityContext.capabilities.drop"
            ),
            (
                "capabilities_restricted",
                "spec.containers[0].securityContext.capabilities.drop"
            ),
        ]
    );
    let run_as_non_root = found
        .iter()
        .find(|v| v.path == "spec.containers[0].securityContext.runAsNonRoot")
        .expect("runAsNonRoot violation");
    assert_eq!(
        run_as_non_root.message,
        "pod or container \"app\" must set securityContext.runAsNonRoot=true"
    );
}

#[test]
fn pod_level_bad_value_is_reported_once_at_pod_level() {
    let spec = set(
        restricted_spec(),
        "/securityContext/runAsNonRoot",
        json!(false),
    );
    let spec = set(
        spec,
        "/securityContext/seccompProfile/type",
        json!("Unconfined"),
    );
    let found = evaluate(&pod(spec), Level::Restricted, Version::Latest);
    assert_eq!(
        checks_and_paths(&found),
        [
            ("runAsNonRoot", "spec.securityContext.runAsNonRoot"),
            (
                "seccompProfile_restricted",
                "spec.securityContext.seccompProfile.type"
            ),
        ]
    );
}

#[test]
fn restricted_includes_baseline_checks_with_baseline_level() {
    let spec = set(
        restricted_spec(),
        "/containers/0/ports",
        json!([{"containerPort": 80}, {"containerPort": 443, "hostPort": 443}]),
    );
    let found = evaluate(&pod(spec), Level::Restricted, Version::Latest);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].check, "hostPorts");
    assert_eq!(found[0].level, Level::Baseline);
    assert_eq!(found[0].path, "spec.containers[0].ports[1].hostPort");
}

#[test]
fn capabilities_restricted_starts_at_v1_22() {
    // Fixture-like: everything restricted needs except capabilities.drop.
    let spec = set(
        restricted_spec(),
        "/containers/0/securityContext",
        json!({"allowPrivilegeEscalation": false}),
    );
    let object = pod(spec);
    assert!(checks(&object, Level::Restricted, "v1.21").is_empty());
    assert_eq!(
        checks(&object, Level::Restricted, "v1.22"),
        ["capabilities_restricted"]
    );
    assert_eq!(
        checks(&object, Level::Restricted, "latest"),
        ["capabilities_restricted"]
    );
    assert!(checks(&object, Level::Baseline, "latest").is_empty());

    // Before v1.22 Restricted enforces the Baseline capability list instead.
    let adds_net_raw = set(
        object.clone(),
        "/spec/containers/0/securityContext/capabilities",
        json!({"add": ["NET_RAW"]}),
    );
    assert_eq!(
        checks(&adds_net_raw, Level::Restricted, "v1.21"),
        ["capabilities_baseline"]
    );
}

#[test]
fn version_gates() {
    let base = pod(restricted_spec());

    // allowPrivilegeEscalation from v1.8.
    let ape = set(
        base.clone(),
        "/spec/containers/0/securityContext/allowPrivilegeEscalation",
        json!(true),
    );
    assert!(checks(&ape, Level::Restricted, "v1.7").is_empty());
    assert_eq!(
        checks(&ape, Level::Restricted, "v1.8"),
        ["allowPrivilegeEscalation"]
    );

    // Seccomp: annotations before v1.19, fields from v1.19.
    let mut annotated = base.clone();
    annotated["metadata"]["annotations"] =
        json!({"seccomp.security.alpha.kubernetes.io/pod": "unconfined"});
    assert_eq!(
        checks(&annotated, Level::Baseline, "v1.18"),
        ["seccompProfile_baseline"]
    );
    assert!(checks(&annotated, Level::Baseline, "v1.19").is_empty());
    let unconfined = set(
        base.clone(),
        "/spec/securityContext/seccompProfile/type",
        json!("Unconfined"),
    );
    assert!(checks(&unconfined, Level::Baseline, "v1.18").is_empty());
    assert_eq!(
        checks(&unconfined, Level::Baseline, "v1.19"),
        ["seccompProfile_baseline"]
    );
    assert_eq!(
        checks(&unconfined, Level::Restricted, "v1.19"),
        ["seccompProfile_restricted"]
    );

    // runAsUser=0 from v1.23.
    let root = set(base.clone(), "/spec/securityContext/runAsUser", json!(0));
    assert!(checks(&root, Level::Restricted, "v1.22").is_empty());
    assert_eq!(checks(&root, Level::Restricted, "v1.23"), ["runAsUser"]);

    // Sysctls grow by version.
    for (sysctl, since) in [
        ("kernel.shm_rmid_forced", 0),
        ("net.ipv4.ip_local_reserved_ports", 27),
        ("net.ipv4.tcp_keepalive_time", 29),
        ("net.ipv4.tcp_fin_timeout", 29),
        ("net.ipv4.tcp_rmem", 32),
        ("net.ipv4.tcp_notsent_lowat", 37),
    ] {
        let object = set(
            base.clone(),
            "/spec/securityContext/sysctls",
            json!([{"name": sysctl, "value": "1"}]),
        );
        if since > 0 {
            let before = format!("v1.{}", since - 1);
            assert_eq!(
                checks(&object, Level::Baseline, &before),
                ["sysctls"],
                "{sysctl}"
            );
        }
        assert!(
            checks(&object, Level::Baseline, &format!("v1.{since}")).is_empty(),
            "{sysctl}"
        );
        assert!(
            checks(&object, Level::Baseline, "latest").is_empty(),
            "{sysctl}"
        );
    }

    // SELinux container_engine_t from v1.31.
    let engine = set(
        base.clone(),
        "/spec/securityContext/seLinuxOptions",
        json!({"type": "container_engine_t"}),
    );
    assert_eq!(
        checks(&engine, Level::Baseline, "v1.30"),
        ["seLinuxOptions"]
    );
    assert!(checks(&engine, Level::Baseline, "v1.31").is_empty());

    // Probe and lifecycle hosts from v1.34.
    let probe = set(
        base.clone(),
        "/spec/containers/0/livenessProbe",
        json!({"httpGet": {"host": "10.0.0.1", "port": 8080}}),
    );
    assert!(checks(&probe, Level::Baseline, "v1.33").is_empty());
    let found = evaluate(&probe, Level::Baseline, Version::V1(34));
    assert_eq!(
        checks_and_paths(&found),
        [(
            "hostProbesAndHostLifecycle",
            "spec.containers[0].livenessProbe.httpGet.host"
        )]
    );
}

#[test]
fn user_namespaces_relax_from_v1_35() {
    let unmasked = set(
        pod(restricted_spec()),
        "/spec/containers/0/securityContext/procMount",
        json!("Unmasked"),
    );
    let userns = set(unmasked.clone(), "/spec/hostUsers", json!(false));
    assert_eq!(checks(&userns, Level::Baseline, "v1.34"), ["procMount"]);
    assert!(checks(&userns, Level::Baseline, "v1.35").is_empty());
    assert_eq!(checks(&unmasked, Level::Baseline, "v1.35"), ["procMount"]);
    // Restricted keeps forbidding it, through procMount_restricted.
    assert_eq!(checks(&userns, Level::Restricted, "v1.34"), ["procMount"]);
    assert_eq!(
        checks(&userns, Level::Restricted, "v1.35"),
        ["procMount_restricted"]
    );

    // runAsNonRoot / runAsUser are not required in a user namespace from v1.35.
    let root = json!({
        "hostUsers": false,
        "securityContext": {"runAsUser": 0, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{"name": "app", "securityContext": {
            "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}]
    });
    assert_eq!(
        checks(&pod(root.clone()), Level::Restricted, "v1.34"),
        ["runAsNonRoot", "runAsUser"]
    );
    assert!(checks(&pod(root), Level::Restricted, "v1.35").is_empty());
}

#[test]
fn windows_pods_are_exempt_from_linux_only_checks_from_v1_25() {
    let windows = pod(json!({
        "os": {"name": "windows"},
        "securityContext": {"runAsNonRoot": true},
        "containers": [{"name": "app"}]
    }));
    assert_eq!(
        checks(&windows, Level::Restricted, "v1.24"),
        [
            "allowPrivilegeEscalation",
            "seccompProfile_restricted",
            "capabilities_restricted"
        ]
    );
    assert!(checks(&windows, Level::Restricted, "v1.25").is_empty());
    // runAsNonRoot still applies to Windows pods.
    let no_non_root = set(windows, "/spec/securityContext", json!({}));
    assert_eq!(
        checks(&no_non_root, Level::Restricted, "latest"),
        ["runAsNonRoot"]
    );
}

#[test]
fn restricted_volumes() {
    let volumes = json!([
        {"name": "implicit-empty-dir"},
        {"name": "cfg", "configMap": {"name": "c"}},
        {"name": "img", "image": {"reference": "example/data"}},
        {"name": "nfs", "nfs": {"server": "s", "path": "/"}},
        {"name": "host", "hostPath": {"path": "/etc"}},
        "not an object"
    ]);
    let object = set(pod(restricted_spec()), "/spec/volumes", volumes);
    let found = evaluate(&object, Level::Restricted, Version::Latest);
    assert_eq!(
        checks_and_paths(&found),
        [
            ("restrictedVolumes", "spec.volumes[3].nfs"),
            ("restrictedVolumes", "spec.volumes[4].hostPath"),
        ]
    );
    let found = evaluate(&object, Level::Baseline, Version::Latest);
    assert_eq!(
        checks_and_paths(&found),
        [("hostPathVolumes", "spec.volumes[4].hostPath")]
    );
}

#[test]
fn parse_and_display() {
    for (text, level) in [
        ("privileged", Level::Privileged),
        ("baseline", Level::Baseline),
        ("restricted", Level::Restricted),
    ] {
        assert_eq!(text.parse::<Level>(), Ok(level));
        assert_eq!(level.to_string(), text);
    }
    assert!("Restricted".parse::<Level>().is_err());
    assert!("".parse::<Level>().is_err());

    assert_eq!("latest".parse::<Version>(), Ok(Version::Latest));
    assert_eq!("v1.25".parse::<Version>(), Ok(Version::V1(25)));
    assert_eq!("v1.0".parse::<Version>(), Ok(Version::V1(0)));
    for bad in [
        "",
        "v1.",
        "1.25",
        "v2.3",
        "v1.25.1",
        "v1.-1",
        "v1.+3",
        "Latest",
        "v1.99999999999",
    ] {
        assert!(bad.parse::<Version>().is_err(), "{bad}");
    }
    assert_eq!(Version::V1(25).to_string(), "v1.25");
    assert_eq!(Version::Latest.to_string(), "latest");
    assert!(Version::V1(9) < Version::V1(10));
    assert!(Version::V1(u32::MAX) < Version::Latest);
    assert!(Level::Baseline < Level::Restricted);
}

/// Every shape of junk value, to substitute anywhere in a pod.
fn junk_values() -> Vec<Value> {
    vec![
        Value::Null,
        json!(true),
        json!(false),
        json!(0),
        json!(-1),
        json!(1.5),
        json!(u64::MAX),
        json!(""),
        json!("true"),
        json!("0"),
        json!("Unmasked"),
        json!([]),
        json!([null, 1, "x", {}, []]),
        json!({}),
        json!({"name": 5, "type": [], "host": {}}),
    ]
}

/// JSON pointers of every node of `value`.
fn pointers(value: &Value, prefix: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let p = format!("{prefix}/{}", k.replace('~', "~0").replace('/', "~1"));
                out.push(p.clone());
                pointers(v, p, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let p = format!("{prefix}/{i}");
                out.push(p.clone());
                pointers(v, p, out);
            }
        }
        _ => {}
    }
}

#[test]
fn malformed_input_never_panics() {
    // A pod touching every field any check reads.
    let container = json!({
        "name": "app",
        "ports": [{"containerPort": 80, "hostPort": 8080}],
        "livenessProbe": {"httpGet": {"host": "h", "port": 1}, "tcpSocket": {"host": "h"}},
        "readinessProbe": {"tcpSocket": {"host": "h"}},
        "startupProbe": {"httpGet": {"host": ""}},
        "lifecycle": {"postStart": {"httpGet": {"host": "h"}}, "preStop": {"tcpSocket": {"host": "h"}}},
        "securityContext": {
            "privileged": true,
            "allowPrivilegeEscalation": true,
            "runAsNonRoot": false,
            "runAsUser": 0,
            "procMount": "Unmasked",
            "capabilities": {"add": ["NET_RAW"], "drop": ["ALL"]},
            "seccompProfile": {"type": "Unconfined"},
            "appArmorProfile": {"type": "Unconfined"},
            "seLinuxOptions": {"type": "spc_t", "user": "u", "role": "r"},
            "windowsOptions": {"hostProcess": true}
        }
    });
    let full = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"annotations": {
            "container.apparmor.security.beta.kubernetes.io/app": "unconfined",
            "seccomp.security.alpha.kubernetes.io/pod": "unconfined",
            "container.seccomp.security.alpha.kubernetes.io/app": "unconfined"
        }},
        "spec": {
            "hostNetwork": true, "hostPID": true, "hostIPC": true, "hostUsers": false,
            "os": {"name": "windows"},
            "securityContext": {
                "runAsNonRoot": false, "runAsUser": 0,
                "seccompProfile": {"type": "Unconfined"},
                "appArmorProfile": {"type": "Unconfined"},
                "seLinuxOptions": {"type": "spc_t", "user": "u", "role": "r"},
                "windowsOptions": {"hostProcess": true},
                "sysctls": [{"name": "kernel.msgmax", "value": "1"}]
            },
            "volumes": [{"name": "v", "hostPath": {"path": "/"}}, {"name": "n", "nfs": {}}],
            "initContainers": [container.clone()],
            "containers": [container.clone()],
            "ephemeralContainers": [container]
        }
    });
    let versions = [
        Version::V1(0),
        Version::V1(18),
        Version::V1(19),
        Version::V1(25),
        Version::V1(35),
        Version::Latest,
    ];
    let levels = [Level::Baseline, Level::Restricted];

    // The fully-bad pod itself reports something at every version.
    for version in versions {
        assert!(!evaluate(&full, Level::Baseline, version).is_empty());
    }

    let mut paths = Vec::new();
    pointers(&full, String::new(), &mut paths);
    let junk = junk_values();
    let mut evaluations = 0usize;
    for path in &paths {
        for value in &junk {
            let mutated = set(full.clone(), path, value.clone());
            for level in levels {
                for version in versions {
                    // Must not panic; paths must stay well-formed.
                    for v in evaluate(&mutated, level, version) {
                        assert!(!v.path.is_empty() && !v.message.is_empty(), "{v:?}");
                    }
                    evaluations += 1;
                }
            }
        }
    }
    // Whole-document junk.
    for value in &junk {
        for level in levels {
            assert!(evaluate(value, level, Version::Latest).is_empty());
        }
    }
    assert!(evaluations > 10_000, "only {evaluations} evaluations");
}

#[test]
fn wrong_types_count_as_not_set_except_clearly_forbidden_values() {
    let base = pod(restricted_spec());
    // A string where a required boolean is expected does not satisfy it.
    let string_ape = set(
        base.clone(),
        "/spec/containers/0/securityContext/allowPrivilegeEscalation",
        json!("false"),
    );
    assert_eq!(
        checks(&string_ape, Level::Restricted, "latest"),
        ["allowPrivilegeEscalation"]
    );
    // A clearly forbidden spelling of a forbidden value is still reported.
    let string_privileged = set(
        base.clone(),
        "/spec/containers/0/securityContext/privileged",
        json!("true"),
    );
    assert_eq!(
        checks(&string_privileged, Level::Baseline, "latest"),
        ["privileged"]
    );
    // Non-object containers and non-string capabilities are ignored, but
    // indexes of the remaining entries are preserved.
    let mixed = set(
        base,
        "/spec/containers",
        json!([
            "junk",
            {"name": "second", "securityContext": {
                "allowPrivilegeEscalation": false,
                "capabilities": {"drop": ["ALL"], "add": [7, "SYS_ADMIN"]}}}
        ]),
    );
    let found = evaluate(&mixed, Level::Restricted, Version::Latest);
    assert_eq!(
        checks_and_paths(&found),
        [(
            "capabilities_restricted",
            "spec.containers[1].securityContext.capabilities.add[1]"
        )]
    );
}
