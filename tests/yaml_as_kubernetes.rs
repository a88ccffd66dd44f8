//! Reading YAML as Kubernetes reads it (issue 17): names the API server would refuse are
//! input errors, no input string reaches a comment unescaped, `--namespace`/`--release`
//! follow Kubernetes' and Helm's rules, numbers read as go-yaml reads them, and Lists
//! inside Lists are hardened like any List item.

#[path = "common/e2e.rs"]
mod e2e;

use std::process::Output;

use serde_json::Value;

const ARGS: &[&str] = &["--no-pin", "--namespace", "ns1"];

fn deployment(name: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  replicas: 2\n  \
selector:\n    matchLabels: {{app: web}}\n  template:\n    metadata:\n      labels: {{app: web}}\n    \
spec:\n      containers:\n      - name: app\n        image: nginx:1.25\n"
    )
}

fn run(args: &[&str], input: &str) -> Output {
    e2e::run(args, input.as_bytes())
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Exit 2, nothing on stdout, and stderr contains every one of `needles`.
fn input_error(out: &Output, needles: &[&str]) {
    assert_eq!(out.status.code(), Some(2), "{}", stderr(out));
    assert!(
        out.stdout.is_empty(),
        "stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = stderr(out);
    for n in needles {
        assert!(err.contains(n), "stderr lacks {n:?}:\n{err}");
    }
}

#[test]
fn names_that_are_not_strings_are_input_errors() {
    for name in ["123", "yes", "~", "1.5", "[a]"] {
        let out = run(ARGS, &deployment(name));
        input_error(&out, &["document 1", "metadata.name", "must be a string"]);
    }
    // Quoted, the same names are strings (and `123` is a valid Deployment name).
    let out = run(ARGS, &deployment("\"123\""));
    e2e::ok(&out, "quoted numeric name");
}

#[test]
fn names_kubernetes_refuses_are_input_errors() {
    for name in ["Web", "-web", "web_1", "\"\"", "\"a/b\""] {
        let out = run(ARGS, &deployment(name));
        input_error(
            &out,
            &["document 1", "metadata.name", "not a valid Deployment name"],
        );
    }
    let long = "a".repeat(254);
    input_error(&run(ARGS, &deployment(&long)), &["metadata.name"]);
    // Services take DNS-1035 labels, Namespaces DNS-1123 labels.
    let svc =
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: 1web\nspec:\n  ports:\n  - port: 80\n";
    input_error(&run(ARGS, svc), &["not a valid Service name"]);
    let ns = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team.a\n";
    input_error(&run(ARGS, ns), &["not a valid Namespace name"]);
    // In a List, the item is named.
    let list = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: ok\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: Bad\n";
    input_error(&run(ARGS, list), &["items[1].metadata.name"]);
}

#[test]
fn names_are_as_lenient_as_kubernetes() {
    // RBAC names are path segments: `:` and upper case are fine.
    let role = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: \"system:Aggregate-To-View\"\nrules: []\n";
    e2e::ok(&run(ARGS, role), "ClusterRole with `:`");
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web.config-1\n";
    e2e::ok(&run(ARGS, cm), "dotted ConfigMap name");
    // No name at all (generateName) is left to Kubernetes.
    let job = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  generateName: web-\n";
    e2e::ok(&run(ARGS, job), "generateName");
}

#[test]
fn names_never_inject_lines_or_documents() {
    for name in [
        "\"web\\n---\\nkind: Injected\"",
        "\"web\\n# Source: evil.yaml\"",
        "\"web\\rkind: Injected\"",
    ] {
        let out = run(ARGS, &deployment(name));
        input_error(&out, &["metadata.name"]);
        let role = format!(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: {name}\nrules: []\n"
        );
        input_error(&run(ARGS, &role), &["not a valid Role name"]);
    }
    // A valid name reaches the generated guard's `# Source:` comment as it is.
    let out = run(ARGS, &deployment("web"));
    e2e::ok(&out, "valid name");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(
            "# Source: chart-harden/generated/poddisruptionbudget-web-chart-harden.yaml\n"
        ),
        "{text}"
    );
}

#[test]
fn namespace_and_release_are_validated() {
    let input = deployment("web");
    for ns in ["Bad", "ns_1", "a.b", "-ns", "ns:1"] {
        let flag = format!("--namespace={ns}");
        let out = run(&["--no-pin", &flag], &input);
        input_error(&out, &["namespace", "DNS-1123 label"]);
    }
    let long = "r".repeat(54);
    for rel in ["Web", "web_1", long.as_str(), "web:x"] {
        let flag = format!("--release={rel}");
        let out = run(&["--no-pin", "--namespace", "ns1", &flag], &input);
        input_error(&out, &["release name", "53"]);
    }
    let ok53 = "r".repeat(53);
    for rel in ["web", "web.v2", ok53.as_str()] {
        let out = run(
            &["--no-pin", "--namespace", "ns1", "--release", rel],
            &input,
        );
        e2e::ok(&out, rel);
    }
}

fn report(args: &[&str], input: &str) -> (Output, Value) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.json");
    let file_s = file.to_str().unwrap().to_string();
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--report-format", "json", "--report-file", &file_s]);
    let out = run(&all, input);
    let r = std::fs::read_to_string(&file)
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap_or(Value::Null);
    (out, r)
}

/// Findings of the JSON report about objects named `name`.
fn findings_for<'a>(r: &'a Value, name: &str) -> Vec<&'a Value> {
    r["findings"]
        .as_array()
        .map(|f| f.iter().filter(|x| x["resource"]["name"] == name).collect())
        .unwrap_or_default()
}

const NESTED_LIST: &str = "apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: List
  items:
  - apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: inner
    spec:
      replicas: 2
      selector:
        matchLabels: {app: web}
      template:
        metadata:
          labels: {app: web}
        spec:
          containers:
          - name: app
            image: nginx:1.25
";

#[test]
fn lists_inside_lists_are_hardened_like_list_items() {
    let stream = e2e::docs(NESTED_LIST.as_bytes());
    assert_eq!(stream.docs[0].objects.len(), 1);
    assert_eq!(stream.docs[0].objects[0].resource.name, "inner");
    let (out, r) = report(
        &["--no-pin", "--namespace", "ns1", "--profile", "prod"],
        NESTED_LIST,
    );
    e2e::ok(&out, "nested List");
    assert!(
        !findings_for(&r, "inner").is_empty(),
        "no finding for the nested item: {r:#}"
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let hardened = e2e::docs(text.as_bytes());
    let v = &hardened.docs[0].value;
    let c = v
        .pointer("/items/0/items/0/spec/template/spec/containers/0")
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(
        c["securityContext"]["allowPrivilegeEscalation"], false,
        "{text}"
    );
    // An object nested in a List is named in errors by its path.
    let bad = NESTED_LIST.replace("name: inner", "name: Inner");
    input_error(&run(ARGS, &bad), &["items[0].items[0].metadata.name"]);
}

#[test]
fn numbers_that_overflow_a_float_are_strings() {
    let input = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: build\n  labels:\n    git-sha: 8e4561\n  annotations:\n    big: -1E999\ndata:\n  git-sha: 8e4561\n  list: \"[1e999]\"\n";
    for profile in ["dev", "staging", "prod"] {
        let out = run(
            &["--no-pin", "--namespace", "ns1", "--profile", profile],
            input,
        );
        e2e::ok(&out, profile);
        // Untouched, the document is written back byte for byte.
        assert_eq!(String::from_utf8(out.stdout).unwrap(), input, "{profile}");
    }
    let v = &e2e::docs(input.as_bytes()).docs[0].value;
    assert_eq!(v["data"]["git-sha"], "8e4561");
    assert_eq!(v["metadata"]["labels"]["git-sha"], "8e4561");
    assert_eq!(v["metadata"]["annotations"]["big"], "-1E999");
    // In a document that is patched, the overflowing scalar stays as it was written.
    let d = deployment("web").replace(
        "  template:\n    metadata:\n",
        "  template:\n    metadata:\n      annotations:\n        git-sha: 8e4561\n",
    );
    let out = run(&["--no-pin", "--namespace", "ns1", "--profile", "prod"], &d);
    e2e::ok(&out, "patched");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("        git-sha: 8e4561\n"), "{text}");
    // `.inf` is a float to go-yaml, which JSON cannot hold: still an error.
    let inf = input.replace("8e4561", ".inf");
    assert_eq!(run(ARGS, &inf).status.code(), Some(2));
}

fn with_pod_run_as_user(uid: &str) -> String {
    deployment("web").replace(
        "    spec:\n      containers:",
        &format!("    spec:\n      securityContext:\n        runAsUser: {uid}\n      containers:"),
    )
}

fn rules_of(r: &Value) -> Vec<String> {
    let mut v: Vec<String> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v.dedup();
    v
}

#[test]
fn integral_floats_read_as_the_integers_kubernetes_reads() {
    let prod = ["--no-pin", "--namespace", "ns1", "--profile", "prod"];
    let (out, int) = report(&prod, &with_pod_run_as_user("0"));
    e2e::ok(&out, "runAsUser: 0");
    assert!(rules_of(&int).contains(&"CH102".to_string()), "{int:#}");
    for uid in ["0.0", "0e0", "-0.0"] {
        let (out, float) = report(&prod, &with_pod_run_as_user(uid));
        e2e::ok(&out, uid);
        assert_eq!(rules_of(&float), rules_of(&int), "runAsUser: {uid} is root");
    }
    // `replicas: 1e3` is 1000 replicas: a disruption budget is generated as for 2 or more.
    let pdb = |replicas: &str| {
        let out = run(ARGS, &deployment("web").replace("replicas: 2", replicas));
        e2e::ok(&out, replicas);
        String::from_utf8(out.stdout)
            .unwrap()
            .contains("kind: PodDisruptionBudget")
    };
    assert!(pdb("replicas: 2"));
    assert!(!pdb("replicas: 1"));
    assert!(pdb("replicas: 1e3"));
    assert!(pdb("replicas: 2.0"));
    assert!(!pdb("replicas: 1.0"));
}

#[test]
fn fields_rules_read_with_the_wrong_shape_are_input_errors() {
    let d = deployment("web");
    for (from, to, field) in [
        (
            "      containers:\n      - name: app\n        image: nginx:1.25\n",
            "      containers:\n        name: app\n        image: nginx:1.25\n",
            "spec.template.spec.containers",
        ),
        (
            "      - name: app\n",
            "      - name: app\n        securityContext: [x]\n",
            "spec.template.spec.containers[0].securityContext",
        ),
        (
            "      - name: app\n",
            "      - name: app\n        ports: {containerPort: 80}\n",
            "spec.template.spec.containers[0].ports",
        ),
        (
            "    spec:\n      containers:",
            "    spec:\n      securityContext: root\n      containers:",
            "spec.template.spec.securityContext",
        ),
        (
            "      containers:\n      - name: app\n        image: nginx:1.25\n",
            "      containers:\n      - app\n",
            "spec.template.spec.containers[0]",
        ),
        ("  template:\n", "  template: []\n  x:\n", "spec.template"),
    ] {
        assert!(d.contains(from), "{from}");
        let bad = d.replacen(from, to, 1);
        let out = run(ARGS, &bad);
        input_error(
            &out,
            &["document 1 (Deployment/web)", &format!("`{field}`")],
        );
    }
    // A bare Pod and a List item are named by their own paths.
    let pod = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers: {name: c}\n";
    input_error(
        &run(ARGS, pod),
        &["`spec.containers`", "must be a sequence"],
    );
    let list = format!(
        "apiVersion: v1\nkind: List\nitems:\n- {}",
        pod.replace('\n', "\n  ")
    );
    input_error(&run(ARGS, &list), &["`items[0].spec.containers`"]);
}

#[test]
fn duplicate_keys_are_read_last_wins_with_a_warning_naming_the_key() {
    let input = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  annotations:\n    owner: first\n    owner: second\ndata:\n  a: b\n";
    let (out, r) = report(ARGS, input);
    e2e::ok(&out, "duplicate key");
    // Untouched, the document is written back as it came.
    assert_eq!(String::from_utf8(out.stdout).unwrap(), input);
    let v = &e2e::docs(input.as_bytes()).docs[0].value;
    assert_eq!(v["metadata"]["annotations"]["owner"], "second");
    let dup: Vec<&Value> = findings_for(&r, "settings")
        .into_iter()
        .filter(|f| f["rule"] == "CH636")
        .collect();
    assert_eq!(dup.len(), 1, "{r:#}");
    assert_eq!(dup[0]["severity"], "warning");
    assert_eq!(dup[0]["fix"]["state"], "unfixable");
    let msg = dup[0]["message"].as_str().unwrap();
    assert!(msg.contains("\"owner\""), "{msg}");
    // A document without repeated keys gets no such warning; nor does a patched one lose it.
    let (_, clean) = report(ARGS, &deployment("web"));
    assert!(
        !clean["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule"] == "CH636"),
        "{clean:#}"
    );
    let patched = deployment("web").replace(
        "        image: nginx:1.25\n",
        "        image: nginx:1.25\n        image: nginx:1.26\n",
    );
    let (out, r) = report(
        &["--no-pin", "--namespace", "ns1", "--profile", "prod"],
        &patched,
    );
    e2e::ok(&out, "patched duplicate");
    let dup: Vec<&Value> = findings_for(&r, "web")
        .into_iter()
        .filter(|f| f["rule"] == "CH636")
        .collect();
    assert_eq!(dup.len(), 1, "{r:#}");
    assert!(dup[0]["message"].as_str().unwrap().contains("\"image\""));
}

#[test]
fn an_anchor_near_a_patch_point_fails_only_that_fix() {
    let input = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n  selector:\n    matchLabels: &labels {app: web}\n  template:\n    metadata:\n      labels: *labels\n    spec:\n      securityContext: &psc\n        fsGroup: 1000\n      containers:\n      - name: app\n        image: nginx:1.25\n";
    let (out, r) = report(
        &["--no-pin", "--namespace", "ns1", "--profile", "prod"],
        input,
    );
    e2e::ok(&out, "anchored pod securityContext");
    let fs = findings_for(&r, "web");
    let seccomp = fs
        .iter()
        .find(|f| f["rule"] == "CH105")
        .unwrap_or_else(|| panic!("{r:#}"));
    assert_eq!(seccomp["fix"]["state"], "skipped", "{seccomp:#}");
    let reason = seccomp["fix"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("spec.template.spec.securityContext.seccompProfile.type")
            && reason.contains("anchor"),
        "{reason}"
    );
    // The other fixes still apply; the anchors stay as written.
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("      securityContext: &psc\n        fsGroup: 1000\n"),
        "{text}"
    );
    assert!(text.contains("labels: *labels"), "{text}");
    let v = &e2e::docs(text.as_bytes()).docs[0].value.to_json();
    assert_eq!(
        v.pointer("/spec/template/spec/containers/0/securityContext/allowPrivilegeEscalation"),
        Some(&Value::Bool(false)),
        "{text}"
    );
}
