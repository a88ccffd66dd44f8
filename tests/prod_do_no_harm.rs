//! `--profile prod` does no harm, one defect class at a time (issue 16): each case is a small
//! chart shape seen in real charts, hardened by the binary, and checked with the project's
//! NetworkPolicy evaluator or by reading the output. Each failed on the code before the
//! workload facts (`src/inventory/facts.rs`).

#[path = "common/e2e.rs"]
mod e2e;

use std::sync::Arc;

use chart_harden::document::parse_stream;
use chart_harden::inventory::netpol::{policies, Direction, Pod, Side};
use chart_harden::inventory::Inventory;
use chart_harden::yaml::Value;

fn harden(input: &str, extra: &[&str]) -> (String, String) {
    let mut args = vec!["--no-pin", "--namespace", "app"];
    if !extra.contains(&"--profile") {
        args.extend(["--profile", "prod"]);
    }
    args.extend_from_slice(extra);
    let out = e2e::run(&args, input.as_bytes());
    e2e::ok(&out, "chart-harden");
    (
        String::from_utf8(out.stdout).expect("utf-8"),
        e2e::one_line(&out.stderr),
    )
}

/// [`harden`] with a chart-harden config file holding `config`.
fn harden_with(input: &str, config: &str) -> (String, String) {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = dir.path().join("c.yaml");
    std::fs::write(&cfg, config).expect("cfg");
    harden(input, &["--config", cfg.to_str().expect("path")])
}

/// Evaluates the output's NetworkPolicies for the workload `name`.
struct Net {
    out: String,
}

impl Net {
    fn with<R>(
        &self,
        f: impl FnOnce(&Inventory, &[(Arc<str>, &Value)], &[chart_harden::document::Document]) -> R,
    ) -> R {
        let stream = parse_stream(self.out.as_bytes()).expect("output parses");
        let inv = Inventory::build(&stream.docs, Some("app"));
        let pols = policies(&stream.docs, &inv);
        f(&inv, &pols, &stream.docs)
    }

    /// Is `port` of workload `name` reachable from any address (API server, node, outside)?
    fn open_to_all(&self, name: &str, port: i64, proto: &str) -> bool {
        self.with(|inv, pols, docs| {
            let w = inv
                .workloads
                .iter()
                .find(|w| w.object.resource.name == name)
                .expect("workload");
            let pod = Pod::of(docs, w);
            Side::of(pols, &pod, Direction::Ingress).allows_cidr("0.0.0.0/0", port, proto)
        })
    }

    /// Is `port` of workload `name` reachable from a pod of another namespace (`shop`)?
    fn reached_from_elsewhere(&self, name: &str, port: i64) -> bool {
        self.with(|inv, pols, docs| {
            let w = inv
                .workloads
                .iter()
                .find(|w| w.object.resource.name == name)
                .expect("workload");
            let pod = Pod::of(docs, w);
            let labels = chart_harden::inventory::Labels::default();
            let client = Pod {
                ns: "shop",
                labels: &labels,
                ports: Vec::new(),
                foreign: true,
            };
            Side::of(pols, &pod, Direction::Ingress).allows(&client, &pod.ports, port, "TCP")
        })
    }

    fn isolated(&self, name: &str, dir: Direction) -> bool {
        self.with(|inv, pols, docs| {
            let w = inv
                .workloads
                .iter()
                .find(|w| w.object.resource.name == name)
                .expect("workload");
            Side::of(pols, &Pod::of(docs, w), dir).isolated()
        })
    }

    fn egress_to(&self, name: &str, cidr: &str, port: i64) -> bool {
        self.with(|inv, pols, docs| {
            let w = inv
                .workloads
                .iter()
                .find(|w| w.object.resource.name == name)
                .expect("workload");
            Side::of(pols, &Pod::of(docs, w), Direction::Egress).allows_cidr(cidr, port, "TCP")
        })
    }
}

const DEPLOY: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: NAME
spec:
  selector:
    matchLabels: {app: NAME}
  template:
    metadata:
      labels: {app: NAME}
    spec:
      serviceAccountName: NAME
      containers:
      - name: main
        image: example.com/NAME:1
        ports:
        - {name: https, containerPort: 9443}
";

/// The pod template's spec of document `i` (a Deployment, StatefulSet or the like).
fn template_spec(stream: &chart_harden::document::Stream, i: usize) -> Value {
    stream.docs[i]
        .value
        .pointer("/spec/template/spec")
        .expect("pod spec")
        .clone()
}

fn deploy(name: &str) -> String {
    DEPLOY.replace("NAME", name)
}

/// Class 1: a controller whose RBAC may write webhook configurations registers them at run
/// time; the API server (not a pod) must reach its webhook port.
#[test]
fn webhook_server_registered_at_run_time_stays_reachable_from_the_api_server() {
    let input = format!(
        "{}---
apiVersion: v1
kind: ServiceAccount
metadata: {{name: ctrl}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: ctrl}}
rules:
- apiGroups: [admissionregistration.k8s.io]
  resources: [validatingwebhookconfigurations]
  verbs: [get, create, update]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: ctrl}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: ctrl}}
subjects: [{{kind: ServiceAccount, name: ctrl, namespace: app}}]
---
apiVersion: v1
kind: Service
metadata: {{name: ctrl-webhook}}
spec:
  selector: {{app: ctrl}}
  ports: [{{port: 443, targetPort: https}}]
",
        deploy("ctrl")
    );
    let (out, report) = harden(&input, &[]);
    let net = Net { out };
    assert!(
        net.isolated("ctrl", Direction::Ingress),
        "a policy was generated"
    );
    assert!(
        net.open_to_all("ctrl", 9443, "TCP"),
        "webhook port cut from the API server:\n{}",
        net.out
    );
    assert!(
        report.contains("ClusterRole ctrl (bound by ClusterRoleBinding ctrl) may write validatingwebhookconfigurations"),
        "the report names the evidence:\n{report}"
    );
}

/// Class 2: a hook Job whose pods carry only chart-wide labels gets a policy for its own pods
/// (`batch.kubernetes.io/job-name`), and no generated policy isolates a pod the chart's own
/// NetworkPolicy already selects.
#[test]
fn generated_policies_select_exactly_their_workload() {
    let input = "apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector:
    matchLabels: {app.kubernetes.io/instance: r}
  template:
    metadata:
      labels: {app.kubernetes.io/instance: r}
    spec:
      containers: [{name: web, image: example.com/web:1}]
---
apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  annotations: {helm.sh/hook: pre-upgrade}
spec:
  template:
    metadata:
      labels: {app.kubernetes.io/instance: r}
    spec:
      restartPolicy: Never
      containers: [{name: m, image: example.com/m:1}]
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector:
    matchLabels: {app.kubernetes.io/instance: r, component: agent}
  template:
    metadata:
      labels: {app.kubernetes.io/instance: r, component: agent}
    spec:
      containers: [{name: a, image: example.com/a:1}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: agent}
spec:
  podSelector:
    matchLabels: {component: agent}
  policyTypes: [Ingress]
  ingress: [{}]
";
    let (out, report) = harden(input, &[]);
    let net = Net { out: out.clone() };
    // The chart's policy isolates the agent's ingress only: nothing generated adds egress
    // isolation to it.
    assert!(
        !net.isolated("agent", Direction::Egress),
        "agent egress-isolated:\n{out}"
    );
    assert!(
        report.contains("already selected by NetworkPolicy agent"),
        "{report}"
    );
    // The Job's policy selects its own pods by job name.
    assert!(
        out.contains("batch.kubernetes.io/job-name: migrate"),
        "Job policy not narrowed to the Job's pods:\n{out}"
    );
    // web's labels (instance: r) also match the agent's pods and the Job's: its policy
    // requires the label the Deployment controller adds to its own pods.
    assert!(out.contains("key: pod-template-hash"), "{out}");
    // Two Deployments with the same labels: no selector tells them apart, so none is generated
    // rather than one that isolates the other's pods.
    let twin = input.replace("metadata: {name: web}", "metadata: {name: web2}");
    let two = format!("{input}---\n{}", twin.split("---\n").next().expect("web"));
    let (out2, report2) = harden(&two, &[]);
    assert!(!out2.contains("name: web-chart-harden"), "{out2}");
    assert!(
        report2.contains("no label selector selects only its pods"),
        "{report2}"
    );
}

/// Class 3: hostPorts, NodePort/LoadBalancer Services and Ingress backends are reached from
/// outside the namespace.
#[test]
fn external_entry_points_admit_any_source() {
    let input = "apiVersion: apps/v1
kind: DaemonSet
metadata: {name: statsd}
spec:
  selector:
    matchLabels: {app: statsd}
  template:
    metadata:
      labels: {app: statsd}
    spec:
      containers:
      - name: s
        image: example.com/s:1
        ports: [{containerPort: 8125, hostPort: 8125, protocol: UDP}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.25
        ports: [{name: http, containerPort: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web}
spec:
  rules:
  - host: web.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
";
    let (out, report) = harden(input, &[]);
    // A pod publishing a hostPort can never be restricted: no UID is forced on it.
    let stream = parse_stream(out.as_bytes()).expect("parses");
    assert!(
        stream.docs[0]
            .value
            .pointer("/spec/template/spec/securityContext/runAsUser")
            .is_none(),
        "{out}"
    );
    assert!(report.contains("publishes hostPort 8125"), "{report}");
    let net = Net { out };
    assert!(
        net.open_to_all("statsd", 8125, "UDP"),
        "hostPort cut:\n{}",
        net.out
    );
    assert!(
        net.open_to_all("web", 80, "TCP"),
        "Ingress backend cut from its controller:\n{}",
        net.out
    );
}

/// Class 4: egress the chart cannot name stays open except the cloud metadata endpoint;
/// `egress: strict` limits it to what the release shows.
#[test]
fn egress_is_open_except_metadata_unless_strict() {
    let input = "apiVersion: apps/v1
kind: Deployment
metadata: {name: proxy}
spec:
  selector:
    matchLabels: {app: proxy}
  template:
    metadata:
      labels: {app: proxy}
    spec:
      containers:
      - name: p
        image: example.com/oauth2-proxy:1
        args: [--oidc-issuer-url=https://login.example.com]
";
    let (out, report) = harden(input, &[]);
    let net = Net { out };
    assert!(net.isolated("proxy", Direction::Egress));
    assert!(
        net.egress_to("proxy", "203.0.113.7/32", 443),
        "OIDC provider cut"
    );
    assert!(
        !net.egress_to("proxy", "169.254.169.254/32", 80),
        "metadata endpoint open"
    );
    assert!(
        report.contains("egress from Deployment/proxy is open except the cloud metadata endpoints"),
        "{report}"
    );
    let (out, _) = harden_with(
        input,
        "generate:\n  generate-network-policy: {egress: strict}\n",
    );
    let net = Net { out };
    assert!(
        !net.egress_to("proxy", "203.0.113.7/32", 443),
        "strict egress still open"
    );
}

/// Class 5: a privileged hostPath node agent gets no restricted-only unsafe fix, no
/// read-only root and no memory limit.
#[test]
fn node_agents_get_no_restricted_only_fix() {
    let input = "apiVersion: apps/v1
kind: DaemonSet
metadata: {name: csi-node}
spec:
  selector:
    matchLabels: {app: csi-node}
  template:
    metadata:
      labels: {app: csi-node}
    spec:
      containers:
      - name: driver
        image: example.com/csi:1
        securityContext: {privileged: true}
        volumeMounts: [{name: kubelet, mountPath: /var/lib/kubelet}]
      volumes:
      - name: kubelet
        hostPath: {path: /var/lib/kubelet}
";
    let (out, report) = harden(input, &[]);
    let stream = parse_stream(out.as_bytes()).expect("parses");
    let ds = &stream.docs[0].value;
    let c = ds
        .pointer("/spec/template/spec/containers/0")
        .expect("container");
    assert!(
        c.get("resources").is_none(),
        "node agent got resources:\n{out}"
    );
    assert_eq!(
        c["securityContext"],
        serde_json::json!({"privileged": true}),
        "{out}"
    );
    for f in ["runAsUser", "runAsNonRoot", "runAsGroup"] {
        assert!(
            ds.pointer(&format!("/spec/template/spec/securityContext/{f}"))
                .is_none(),
            "node agent got {f}: {out}"
        );
    }
    // Where the release owns the namespace a quota is generated, but it bounds requests
    // only: no default memory limit reaches the agent through a LimitRange either.
    let (owned, owned_report) = harden_with(
        input,
        "generate:\n  generate-resource-quota: {namespaces: [app]}\n",
    );
    assert!(owned.contains("kind: ResourceQuota"), "{owned}");
    assert!(owned.contains("requests.memory"), "{owned}");
    assert!(!owned.contains("limits.memory"), "{owned}");
    assert!(!owned.contains("default:"), "{owned}");
    assert!(
        owned_report.contains("bounds requests only"),
        "{owned_report}"
    );
    assert!(
        report.contains("withheld: it mounts hostPath volume \"kubelet\""),
        "{report}"
    );
}

/// Class 6: explicit choices. `allowPrivilegeEscalation: true` with an added capability on a
/// non-root UID is kept; a chart-rendered ServiceAccount that asks for its token and that
/// nothing binds loses it in prod (unsafe, explained).
#[test]
fn explicit_choices_are_not_changed_by_safe_fixes() {
    let input = "apiVersion: apps/v1
kind: Deployment
metadata: {name: ingress}
spec:
  selector:
    matchLabels: {app: ingress}
  template:
    metadata:
      labels: {app: ingress}
    spec:
      serviceAccountName: ingress
      containers:
      - name: controller
        image: example.com/controller:1
        securityContext:
          runAsUser: 101
          allowPrivilegeEscalation: true
          capabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: ingress}
automountServiceAccountToken: true
";
    let (out, report) = harden(input, &[]);
    assert!(out.contains("allowPrivilegeEscalation: true"), "{out}");
    assert!(out.contains("automountServiceAccountToken: false"), "{out}");
    assert!(report.contains("file capabilities"), "{report}");
    // In staging (safe fixes only) neither changes.
    let (out, _) = harden(input, &["--profile", "staging"]);
    assert!(out.contains("allowPrivilegeEscalation: true"));
    assert!(
        !out.contains("automountServiceAccountToken: false"),
        "{out}"
    );
}

/// Class 7: no quota in a namespace where a controller of the chart creates pods.
#[test]
fn no_quota_where_a_controller_spawns_pods() {
    let input = format!(
        "{}---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: ctrl}}
rules:
- apiGroups: [batch]
  resources: [jobs]
  verbs: [create, delete]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: ctrl}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: ctrl}}
subjects: [{{kind: ServiceAccount, name: ctrl}}]
",
        deploy("ctrl")
    );
    let (out, report) = harden(&input, &[]);
    assert!(!out.contains("kind: ResourceQuota"), "{out}");
    assert!(
        report
            .contains("Role ctrl (bound by RoleBinding ctrl) lets ServiceAccount ctrl create jobs"),
        "{report}"
    );
}

/// Class 8: a read-only root filesystem only with evidence of where the container writes.
#[test]
fn read_only_root_only_with_evidence_of_writable_paths() {
    let input = "apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
    spec:
      containers:
      - name: postgres
        image: postgres:16
        env: [{name: PGDATA, value: /var/lib/postgresql/data/pgdata}]
      - name: unknown
        image: example.com/identity-server:1
";
    let (out, report) = harden(input, &[]);
    let stream = parse_stream(out.as_bytes()).expect("parses");
    let v = &stream.docs[0].value;
    let pg = v.pointer("/spec/template/spec/containers/0").expect("pg");
    assert_eq!(
        pg.pointer("/securityContext/readOnlyRootFilesystem"),
        Some(&Value::Bool(true)),
        "{out}"
    );
    let mounts: Vec<&str> = pg["volumeMounts"]
        .as_array()
        .expect("mounts")
        .iter()
        .filter_map(|m| m["mountPath"].as_str())
        .collect();
    for p in [
        "/var/run/postgresql",
        "/tmp",
        "/var/lib/postgresql/data/pgdata",
    ] {
        assert!(
            mounts.iter().any(|m| p.starts_with(m)),
            "{p} not writable: {mounts:?}"
        );
    }
    let other = v
        .pointer("/spec/template/spec/containers/1")
        .expect("other");
    assert!(
        other
            .pointer("/securityContext/readOnlyRootFilesystem")
            .is_none(),
        "{out}"
    );
    assert!(report.contains("where it writes is unknown"), "{report}");
}

/// Service URLs in Secrets count as evidence for strict egress; the Secret's value never
/// appears in the report.
#[test]
fn service_urls_in_secrets_are_evidence_and_never_printed() {
    // base64 of "postgres://app:hunter2-planted@db:5432/app"
    let input = "apiVersion: v1
kind: Secret
metadata: {name: db-url}
data:
  DATABASE_URL: cG9zdGdyZXM6Ly9hcHA6aHVudGVyMi1wbGFudGVkQGRiOjU0MzIvYXBw
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api}
spec:
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api}
    spec:
      containers:
      - name: api
        image: example.com/api:1
        envFrom: [{secretRef: {name: db-url}}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
    spec:
      containers:
      - name: db
        image: example.com/db:1
        ports: [{containerPort: 5432}]
---
apiVersion: v1
kind: Service
metadata: {name: db}
spec:
  selector: {app: db}
  ports: [{port: 5432}]
";
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = dir.path().join("c.yaml");
    std::fs::write(
        &cfg,
        "generate:\n  generate-network-policy: {egress: strict}\n",
    )
    .expect("cfg");
    let report_file = dir.path().join("r.json");
    let (out, report) = harden(
        input,
        &[
            "--config",
            cfg.to_str().expect("path"),
            "--report-file",
            report_file.to_str().expect("path"),
            "--report-format",
            "json",
        ],
    );
    let json = std::fs::read_to_string(&report_file).expect("report");
    for text in [&out, &report, &json] {
        assert!(!text.contains("hunter2"), "Secret value leaked");
    }
    assert!(
        json.contains("Secret db-url key DATABASE_URL"),
        "the reference names the Secret and key: {json}"
    );
    let net = Net { out };
    let allowed = net.with(|inv, pols, docs| {
        let api = inv
            .workloads
            .iter()
            .find(|w| w.object.resource.name == "api")
            .expect("api");
        let db = inv
            .workloads
            .iter()
            .find(|w| w.object.resource.name == "db")
            .expect("db");
        let (a, d) = (Pod::of(docs, api), Pod::of(docs, db));
        Side::of(pols, &a, Direction::Egress).allows(&d, &d.ports, 5432, "TCP")
            && Side::of(pols, &d, Direction::Ingress).allows(&a, &d.ports, 5432, "TCP")
    });
    assert!(allowed, "api -> db cut under strict egress");
}

/// A data store's chown init container is kept: fsGroup changes only the group, and
/// PostgreSQL refuses a data directory its user does not own. So is one that chowns a claim
/// (unless the config says the cluster's storage applies fsGroup); one that chowns an emptyDir
/// is replaced.
#[test]
fn chown_init_of_a_data_store_is_kept() {
    let input = "apiVersion: apps/v1
kind: StatefulSet
metadata: {name: pg}
spec:
  selector:
    matchLabels: {app: pg}
  template:
    metadata:
      labels: {app: pg}
    spec:
      initContainers:
      - name: perms
        image: busybox:1.36
        command: [sh, -c, 'chown -R 999:999 /var/lib/postgresql/data']
        securityContext: {runAsUser: 0}
        volumeMounts: [{name: data, mountPath: /var/lib/postgresql/data}]
      containers:
      - name: postgres
        image: postgres:16
        volumeMounts: [{name: data, mountPath: /var/lib/postgresql/data}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
";
    let (out, report) = harden(input, &[]);
    assert!(
        out.contains("name: perms"),
        "init container removed:\n{out}"
    );
    assert!(report.contains("owned by its own user"), "{report}");
    // A kept chown init container keeps its capabilities: without CAP_CHOWN, root's chown
    // fails and the pod never starts.
    let init = out
        .split("name: perms")
        .nth(1)
        .and_then(|rest| rest.split("containers:").next())
        .unwrap_or_default();
    assert!(!init.contains("ALL"), "capabilities dropped:\n{out}");
    assert!(report.contains("needs CAP_CHOWN"), "{report}");
    // Without the data store, the volume is a claim: whether fsGroup reaches it depends on its
    // storage (local-path's hostPath volumes on kind and k3s ignore it), so the init container
    // stays too, and the finding names the key that replaces it.
    let plain = input.replace("image: postgres:16", "image: example.com/app:1");
    let (out, report) = harden(&plain, &[]);
    assert!(out.contains("name: perms"), "{out}");
    assert!(!out.contains("fsGroup"), "{out}");
    assert!(
        report.contains("podSecurity.chownedVolumes: fsGroup"),
        "{report}"
    );
    // The config says the cluster's storage applies fsGroup: replaced.
    let (out, _) = harden_with(&plain, "podSecurity:\n  chownedVolumes: fsGroup\n");
    assert!(!out.contains("name: perms"), "{out}");
    assert!(out.contains("fsGroup: 999"), "{out}");
    // An emptyDir gets fsGroup from the kubelet everywhere: replaced without the key.
    let scratch = plain.replace(
        "  volumeClaimTemplates:\n  - metadata: {name: data}\n    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}\n",
        "",
    )
    .replace(
        "      containers:\n",
        "      volumes: [{name: data, emptyDir: {}}]\n      containers:\n",
    );
    assert!(scratch.contains("emptyDir") && !scratch.contains("volumeClaimTemplates"));
    let (out, _) = harden(&scratch, &[]);
    assert!(!out.contains("name: perms"), "{out}");
    assert!(out.contains("fsGroup: 999"), "{out}");
}

/// A non-root container serving a port below 1024 keeps NET_BIND_SERVICE when ALL is dropped
/// (a file capability needs it in the bounding set); a Namespace where a controller of the
/// release creates pods gets audit and warn labels but no enforce.
#[test]
fn low_ports_keep_net_bind_service_and_spawning_namespaces_enforce_nothing() {
    let input = "apiVersion: v1
kind: Namespace
metadata: {name: app}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: app}
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      serviceAccountName: web
      containers:
      - name: web
        image: example.com/web:1
        securityContext: {runAsUser: 101}
        ports: [{containerPort: 80}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: web, namespace: app}
rules: [{apiGroups: [''], resources: [pods], verbs: [create]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: web, namespace: app}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: web}
subjects: [{kind: ServiceAccount, name: web, namespace: app}]
";
    let (out, report) = harden(input, &["--profile", "staging"]);
    let stream = parse_stream(out.as_bytes()).expect("parses");
    let c = stream.docs[1]
        .value
        .pointer("/spec/template/spec/containers/0/securityContext/capabilities")
        .expect("capabilities")
        .clone();
    assert_eq!(c["drop"], serde_json::json!(["ALL"]), "{out}");
    assert_eq!(c["add"], serde_json::json!(["NET_BIND_SERVICE"]), "{out}");
    let labels = stream.docs[0]
        .value
        .pointer("/metadata/labels")
        .expect("labels");
    assert!(
        labels.get("pod-security.kubernetes.io/enforce").is_none(),
        "{out}"
    );
    assert_eq!(
        labels["pod-security.kubernetes.io/warn"], "restricted",
        "{out}"
    );
    assert!(report.contains("enforce no level"), "{report}");
}

/// A root image serving a port below 1024 (the official nginx binds :80 as root) still binds
/// it when prod chooses a non-root UID and drops ALL capabilities: the pod admits unprivileged
/// binds from that port (`net.ipv4.ip_unprivileged_port_start`, which the restricted level
/// allows) and the container keeps NET_BIND_SERVICE. No sysctl where the containers bring their
/// own UID, where the chart names that sysctl, or on the host network.
#[test]
fn a_root_image_on_a_low_port_still_binds_it_as_non_root() {
    let pod = |name: &str, spec_extra: &str, sc: &str| {
        format!(
            "---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: app}}
spec:
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:{spec_extra}
      containers:
      - name: web
        image: nginx:1.25
        ports: [{{containerPort: 8080}}, {{containerPort: 80}}, {{containerPort: 443}}]{sc}
      - name: side
        image: example.com/side:1
        ports: [{{containerPort: 9090}}]
"
        )
    };
    let input = [
        pod("plain", "", ""),
        pod(
            "own-sysctl",
            "\n      securityContext:\n        sysctls: [{name: net.ipv4.ip_unprivileged_port_start, value: '0'}]",
            "",
        ),
        pod("own-uid", "", "\n        securityContext: {runAsUser: 101}"),
        pod("host", "\n      hostNetwork: true", ""),
    ]
    .concat();
    // Without pinning nothing names the images' users: the chosen UID needs the configuration.
    let (out, report) = harden_with(&input, "podSecurity:\n  unknownUsers: restrict\n");
    let stream = parse_stream(out.as_bytes()).expect("parses");
    let spec = |i: usize| template_spec(&stream, i);
    // The plain pod: a chosen UID, the sysctl at its lowest low port, NET_BIND_SERVICE kept.
    let plain = spec(0);
    assert_eq!(plain["securityContext"]["runAsUser"], 65532, "{out}");
    assert_eq!(
        plain["securityContext"]["sysctls"],
        serde_json::json!([{"name": "net.ipv4.ip_unprivileged_port_start", "value": "80"}]),
        "{out}"
    );
    assert_eq!(
        plain["containers"][0]["securityContext"]["capabilities"],
        serde_json::json!({"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}),
        "{out}"
    );
    assert!(
        plain["containers"][1]["securityContext"]["capabilities"]
            .get("add")
            .is_none(),
        "no low port, nothing added: {out}"
    );
    assert!(
        report.contains("net.ipv4.ip_unprivileged_port_start 80"),
        "{report}"
    );
    // The chart's own sysctl stays the only one.
    assert_eq!(
        spec(1)["securityContext"]["sysctls"],
        serde_json::json!([{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}]),
        "{out}"
    );
    // The low-port container keeps its own UID: no sysctl (the side container has no low port).
    let own = spec(2);
    assert_eq!(own["securityContext"]["runAsUser"], 65532, "{out}");
    assert!(own["securityContext"].get("sysctls").is_none(), "{out}");
    // A host-network pod gets no unsafe pod-security fix (no chosen UID), and may not set the
    // sysctl.
    let host = spec(3);
    assert!(host["securityContext"].get("runAsUser").is_none(), "{out}");
    assert!(host["securityContext"].get("sysctls").is_none(), "{out}");
    // Told to restrict host-access pods too, prod chooses its UID but still sets no sysctl:
    // the kubelet refuses a network sysctl on the host network.
    let (out, _) = harden_with(
        &pod("host", "\n      hostNetwork: true", ""),
        "podSecurity: {hostAccessPods: restrict, unknownUsers: restrict}\n",
    );
    let stream = parse_stream(out.as_bytes()).expect("parses");
    let sc = stream.docs[0]
        .value
        .pointer("/spec/template/spec/securityContext")
        .expect("pod securityContext");
    assert_eq!(sc["runAsUser"], 65532, "{out}");
    assert!(sc.get("sysctls").is_none(), "{out}");
}

/// Replicas of one workload reach one another on ports no Service names (Elasticsearch's
/// transport port 9300 here; Kafka's inter-broker listener, gossip): the generated policy
/// admits them from each other on any port, and to each other when egress is strict. A
/// single-replica Deployment gets no such rule.
#[test]
fn replicas_reach_one_another_on_ports_no_service_names() {
    let input = "apiVersion: apps/v1
kind: StatefulSet
metadata: {name: es, namespace: app}
spec:
  serviceName: es-headless
  replicas: 3
  selector:
    matchLabels: {app: es}
  template:
    metadata:
      labels: {app: es}
    spec:
      containers:
      - name: es
        image: example.com/es:8
        securityContext: {runAsUser: 1000}
        ports: [{name: http, containerPort: 9200}, {name: transport, containerPort: 9300}]
---
apiVersion: v1
kind: Service
metadata: {name: es, namespace: app}
spec:
  selector: {app: es}
  ports: [{name: http, port: 9200}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: one, namespace: app}
spec:
  selector:
    matchLabels: {app: one}
  template:
    metadata:
      labels: {app: one}
    spec:
      containers:
      - name: one
        image: example.com/one:1
        securityContext: {runAsUser: 1000}
";
    let dir = tempfile::tempdir().expect("tempdir");
    let strict = dir.path().join("strict.yaml");
    std::fs::write(
        &strict,
        "generate:\n  generate-network-policy:\n    egress: strict\n",
    )
    .expect("config");
    for extra in [vec![], vec!["--config", strict.to_str().expect("utf-8")]] {
        let (out, _) = harden(input, &extra);
        let net = Net { out };
        net.with(|inv, pols, docs| {
            let w = |name: &str| {
                inv.workloads
                    .iter()
                    .find(|w| w.object.resource.name == name)
                    .expect("workload")
            };
            let es = Pod::of(docs, w("es"));
            assert!(
                chart_harden::inventory::netpol::traffic_allowed(pols, &es, &es, 9300, "TCP"),
                "es -> es on 9300 ({extra:?}):\n{}",
                net.out
            );
            let one = Pod::of(docs, w("one"));
            assert!(
                !chart_harden::inventory::netpol::traffic_allowed(pols, &one, &one, 7000, "TCP"),
                "one replica, no peer rule (on a port it does not declare) ({extra:?}):\n{}",
                net.out
            );
        });
    }
}

/// A Service a workload of the release names (a replica that follows its primary) still
/// serves clients in other namespaces: the applications that use a database are rarely in its
/// chart. Checked with the policy evaluator from a pod of another namespace, and
/// `ingressFrom` still narrows it to the namespace when configured.
#[test]
fn a_service_the_release_names_still_serves_other_namespaces() {
    let input = "apiVersion: v1
kind: Service
metadata:
  name: db
spec:
  selector: {app: db}
  ports:
  - {port: 5432, targetPort: 5432}
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  serviceName: db
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
    spec:
      containers:
      - name: pg
        image: example.com/pg:16
        ports: [{containerPort: 5432}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db-replica
spec:
  serviceName: db-replica
  selector:
    matchLabels: {app: db-replica}
  template:
    metadata:
      labels: {app: db-replica}
    spec:
      containers:
      - name: pg
        image: example.com/pg:16
        env: [{name: PRIMARY_HOST, value: db}]
";
    let from_elsewhere = |out: &str| {
        Net {
            out: out.to_string(),
        }
        .reached_from_elsewhere("db", 5432)
    };
    let (out, report) = harden(input, &[]);
    assert!(
        Net { out: out.clone() }.isolated("db", Direction::Ingress),
        "no policy: {out}"
    );
    assert!(
        from_elsewhere(&out),
        "clients in other namespaces are cut:\n{out}"
    );
    assert!(
        report.contains("clients in other namespaces may too"),
        "{report}"
    );
    let (narrow, _) = harden_with(
        input,
        "generate:\n  generate-network-policy: {ingressFrom: [{podSelector: {}}]}\n",
    );
    assert!(
        !from_elsewhere(&narrow),
        "ingressFrom did not narrow:\n{narrow}"
    );
}

/// A port the containers declare that no Service of the release leads to stays reachable:
/// its clients are out of the chart's sight (a Service another release defines, clients that
/// dial pod IPs). Checked with the policy evaluator from a pod of another namespace; a port
/// the containers do not declare stays closed, and `ingressFrom` narrows the declared one.
#[test]
fn a_declared_port_no_service_leads_to_stays_reachable() {
    let input = "apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: app}
spec:
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api}
    spec:
      containers:
      - name: api
        image: example.com/api:1
        securityContext: {runAsUser: 1000}
        ports: [{name: http, containerPort: 8080}]
";
    let from_elsewhere = |out: &str, port: i64| {
        Net {
            out: out.to_string(),
        }
        .reached_from_elsewhere("api", port)
    };
    let (out, report) = harden(input, &[]);
    assert!(
        Net { out: out.clone() }.isolated("api", Direction::Ingress),
        "no policy: {out}"
    );
    assert!(
        from_elsewhere(&out, 8080),
        "the declared port is cut:\n{out}"
    );
    assert!(
        !from_elsewhere(&out, 9999),
        "an undeclared port is open:\n{out}"
    );
    assert!(
        report.contains("no Service of the release leads to them"),
        "{report}"
    );
    let (narrow, _) = harden_with(
        input,
        "generate:\n  generate-network-policy: {ingressFrom: [{podSelector: {}}]}\n",
    );
    assert!(
        !from_elsewhere(&narrow, 8080),
        "ingressFrom does not narrow it:\n{narrow}"
    );
}

/// Without pinning nothing names an image's user: prod chooses no UID and drops no
/// capabilities there (the official `httpd` starts as root, writes its pid file where only
/// root may and hands work to its `daemon` workers). A chown init container names the user the
/// chart means to run as (its owner); `podSecurity.unknownUsers: restrict` chooses a UID anyway.
#[test]
fn an_image_whose_user_is_unknown_gets_no_chosen_uid() {
    let input = "apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: app}
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: httpd
        image: httpd:2.4
        ports: [{containerPort: 80}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: store, namespace: app}
spec:
  serviceName: store
  selector:
    matchLabels: {app: store}
  template:
    metadata:
      labels: {app: store}
    spec:
      initContainers:
      - name: perms
        image: busybox:1.36
        command: [sh, -c, 'chown -R 1000:1000 /data']
        securityContext: {runAsUser: 0}
        volumeMounts: [{name: data, mountPath: /data}]
      containers:
      - name: store
        image: example.com/store:3
        volumeMounts: [{name: data, mountPath: /data}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: named, namespace: app}
spec:
  selector:
    matchLabels: {app: named}
  template:
    metadata:
      labels: {app: named}
    spec:
      initContainers:
      - name: perms
        image: busybox:1.36
        command: [sh, -c, 'chown -R postgres:postgres /data']
        securityContext: {runAsUser: 0}
      containers:
      - name: db
        image: example.com/db:3
";
    let specs = |out: &str| {
        let stream = parse_stream(out.as_bytes()).expect("parses");
        [0, 1, 2].map(|i| template_spec(&stream, i))
    };
    let (out, report) = harden(input, &[]);
    let [web, store, named] = specs(&out);
    assert!(
        web.pointer("/securityContext/runAsUser").is_none(),
        "a UID was chosen for an image whose user is unknown:\n{out}"
    );
    assert!(
        web.pointer("/containers/0/securityContext/capabilities")
            .is_none(),
        "capabilities dropped from an image whose user is unknown:\n{out}"
    );
    let words = report.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        words.contains("the config of image \"httpd:2.4\" was not read")
            && words.contains("podSecurity.unknownUsers: restrict"),
        "{report}"
    );
    // The chown names the user: the pod runs as its owner. A chown to a user named only by
    // name names no UID.
    assert_eq!(store["securityContext"]["runAsUser"], 1000, "{out}");
    assert!(
        named.pointer("/securityContext/runAsUser").is_none(),
        "a UID was chosen beside a chown to a named user:\n{out}"
    );
    let (out, _) = harden_with(input, "podSecurity:\n  unknownUsers: restrict\n");
    let [web, _, _] = specs(&out);
    assert_eq!(web["securityContext"]["runAsUser"], 65532, "{out}");
}

/// A label written with nothing after it (`tier:`, a template value that rendered empty) is
/// the empty string to the API server. The PodDisruptionBudget and NetworkPolicy generated for
/// a workload whose selector holds one select `tier: ""`: read as absent, they selected every
/// `app: web` pod, also another workload's, whose pods then had two PodDisruptionBudgets (the
/// eviction API refuses such pods, so node drains stall) and a policy not meant for them.
#[test]
fn an_empty_label_value_selects_like_the_api_server() {
    let input = "apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web, tier: }}
  template:
    metadata: {labels: {app: web, tier: }}
    spec:
      containers: [{name: c, image: example.com/w:1, ports: [{containerPort: 8080}]}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: db}
spec:
  replicas: 2
  selector: {matchLabels: {app: web, tier: db}}
  template:
    metadata: {labels: {app: web, tier: db}}
    spec:
      containers: [{name: c, image: example.com/d:1, ports: [{containerPort: 5432}]}]
";
    let (out, _) = harden(input, &[]);
    let stream = parse_stream(out.as_bytes()).expect("output parses");
    let generated: Vec<&Value> = stream
        .docs
        .iter()
        .map(|d| &d.value)
        .filter(|v| v.pointer("/metadata/name").and_then(Value::as_str) == Some("web-chart-harden"))
        .collect();
    assert_eq!(generated.len(), 2, "{out}");
    for g in generated {
        let labels =
            e2e::generated_match_labels(g).unwrap_or_else(|| panic!("no selector:\n{out}"));
        assert_eq!(
            labels.get("tier").and_then(Value::as_str),
            Some(""),
            "{out}"
        );
    }
    assert!(out.matches("tier: \"\"").count() >= 2, "{out}");
}
