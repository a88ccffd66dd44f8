//! Hostile input: the real binary never panics, never writes half a stream, and names the
//! document that is wrong. One test per class; fixtures in `testdata/bad/` (see its README),
//! large and deep inputs generated here at run time.
//!
//! For input errors: exit code 2 (never 101, the panic code), a message naming the document
//! ("document 3"), and an **empty stdout**. For valid-but-odd input: correct pass-through (or
//! hardening), checked against the input bytes.

#[path = "common/e2e.rs"]
mod e2e;

use std::path::PathBuf;

use chart_harden::yaml::view;
use chart_harden::yaml::Value;

struct Run {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
}

fn bad(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/bad")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn run_args(input: &[u8], args: &[&str]) -> Run {
    let mut all = vec!["--no-pin", "--no-cache"];
    all.extend_from_slice(args);
    let out = e2e::run_env(&all, input, &[("NO_COLOR", "1")]);
    Run {
        code: out.status.code(),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn run(input: &[u8]) -> Run {
    run_args(input, &["-q"])
}

/// An input error: exit 2, nothing on stdout, a message naming `doc` and containing `needle`.
fn assert_input_error(r: &Run, doc: &str, needle: &str) {
    assert!(
        !r.stderr.contains("panicked"),
        "chart-harden panicked:\n{}",
        r.stderr
    );
    assert_eq!(r.code, Some(2), "exit code (stderr: {})", r.stderr);
    assert!(
        r.stdout.is_empty(),
        "stdout must be empty on error, got {} bytes",
        r.stdout.len()
    );
    assert!(
        r.stderr.contains(&format!("{doc}:")) || r.stderr.contains(&format!("{doc} (")),
        "error must name {doc}: {}",
        r.stderr
    );
    assert!(
        r.stderr.to_lowercase().contains(&needle.to_lowercase()),
        "error must say {needle:?}: {}",
        r.stderr
    );
    assert!(
        r.stderr.starts_with("chart-harden: error: ") && r.stderr.lines().count() == 1,
        "one clear error line: {}",
        r.stderr
    );
}

fn assert_ok(r: &Run) -> String {
    assert!(
        !r.stderr.contains("panicked"),
        "chart-harden panicked:\n{}",
        r.stderr
    );
    assert_eq!(r.code, Some(0), "exit code (stderr: {})", r.stderr);
    String::from_utf8(r.stdout.clone()).expect("output is UTF-8")
}

/// The typed view of each `---`-separated document of a stream (LF or CRLF).
fn views(s: &str) -> Vec<Value> {
    let s = s.strip_prefix('\u{feff}').unwrap_or(s);
    chart_harden::yaml::split::split(s)
        .into_iter()
        .map(|seg| view::parse(&s[seg.text]).expect("output document parses"))
        .filter(|v| !v.is_null())
        .collect()
}

fn container_sc<'a>(v: &'a Value, pod_spec: &str) -> &'a Value {
    v.pointer(&format!("{pod_spec}/containers/0/securityContext"))
        .unwrap_or(&Value::Null)
}

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

#[test]
fn invalid_yaml_names_the_document() {
    let r = run(&bad("invalid-yaml.yaml"));
    assert_input_error(&r, "document 3", "invalid YAML");
    assert!(
        r.stderr.contains("broken.yaml"),
        "names the template: {}",
        r.stderr
    );
    assert!(r.stderr.contains("line "), "gives a line: {}", r.stderr);
}

#[test]
fn alias_bomb_is_bounded() {
    let r = run(&bad("alias-bomb.yaml"));
    assert_input_error(&r, "document 2", "safety limits");
}

/// The node budget bounds what aliases expand to, not what the text holds: a ConfigMap with
/// 150,000 keys (300,000 nodes, more than the fixed budget of 250,000) is read and written
/// out as it came in.
#[test]
fn a_configmap_with_many_keys_is_read() {
    let mut doc = String::from("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\ndata:\n");
    for i in 0..150_000 {
        doc.push_str(&format!("  k{i:x}: v\n"));
    }
    let out = assert_ok(&run(doc.as_bytes()));
    assert!(out == doc, "the ConfigMap changed");
}

#[test]
fn merge_key_bomb_is_bounded() {
    let r = run(&bad("merge-key-bomb.yaml"));
    assert_input_error(&r, "document 3", "safety limits");
}

#[test]
fn a_null_mapping_key_is_named_plainly() {
    // sigs.k8s.io/yaml refuses a null key too ("unsupported map key"); the message says what
    // is wrong in YAML's terms, not in the parser's Rust types.
    for (data, line) in [
        ("data: {~: c}", 5),
        ("data:\n  null: c", 6),
        ("data:\n  : c", 6),
    ] {
        let input = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: a}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: b}}\n{data}\n"
        );
        let r = run(input.as_bytes());
        assert_input_error(&r, "document 2", "a mapping key is null");
        assert!(r.stderr.contains(&format!("line {line}")), "{}", r.stderr);
        assert!(!r.stderr.contains("Option<"), "{}", r.stderr);
    }
}

#[test]
fn tabs_as_indentation_are_rejected() {
    let r = run(&bad("tabs.yaml"));
    assert_input_error(&r, "document 2", "tab");
}

#[test]
fn invalid_utf8_names_the_document_and_line() {
    let input = bad("invalid-utf8.bin");
    assert!(
        std::str::from_utf8(&input).is_err(),
        "fixture must be invalid UTF-8"
    );
    let r = run(&input);
    assert_input_error(&r, "document 3", "not valid UTF-8");
    assert!(r.stderr.contains("line 17"), "{}", r.stderr);
}

#[test]
fn binary_garbage_is_rejected() {
    // Random-looking bytes, including NUL, no newline at all.
    let mut input = Vec::new();
    let mut x: u32 = 0x1234_5678;
    for _ in 0..4096 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        input.push((x >> 24) as u8);
    }
    let r = run(&input);
    assert_input_error(&r, "document 1", "UTF-8");
}

#[test]
fn control_bytes_are_rejected() {
    let r = run(&bad("control-bytes.yaml"));
    assert_input_error(&r, "document 1", "unexpected character");
}

#[test]
fn document_without_kind() {
    let r = run(&bad("no-kind.yaml"));
    assert_input_error(&r, "document 2", "no `kind`");
}

#[test]
fn document_without_api_version() {
    let r = run(&bad("no-apiversion.yaml"));
    assert_input_error(&r, "document 3", "no `apiVersion`");
}

#[test]
fn scalar_at_root_is_not_kubernetes() {
    let r = run(&bad("scalar-root.yaml"));
    assert_input_error(&r, "document 2", "not a Kubernetes object");
}

#[test]
fn list_at_root_is_not_kubernetes() {
    let r = run(&bad("list-root.yaml"));
    assert_input_error(&r, "document 1", "not a Kubernetes object");
}

fn deep_flow(depth: usize) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: deep\ndata:\n  x: {}{}\n",
        "[".repeat(depth),
        "]".repeat(depth)
    )
}

fn deep_block_map(depth: usize) -> String {
    let mut s = String::from("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: deep\ndata:\n");
    for i in 0..depth {
        s.push_str(&" ".repeat(2 + i));
        s.push_str(&format!("k{i}:\n"));
    }
    s.push_str(&" ".repeat(2 + depth));
    s.push_str("leaf\n");
    s
}

fn deep_block_seq(depth: usize) -> String {
    let mut s =
        String::from("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: deep\ndata:\n  x:\n");
    for i in 0..depth {
        s.push_str(&" ".repeat(2 + 2 * i));
        s.push_str("-\n");
    }
    s.push_str(&" ".repeat(2 + 2 * depth));
    s.push_str("leaf\n");
    s
}

#[test]
fn deep_flow_nesting_is_an_error_not_a_stack_overflow() {
    for depth in [10_000, 100_000] {
        let input = format!("---\n{}---\n{}", deep_flow(2), deep_flow(depth));
        let r = run(input.as_bytes());
        assert_input_error(&r, "document 2", "invalid YAML");
    }
}

#[test]
fn deep_block_nesting_is_an_error_not_a_stack_overflow() {
    let r = run(deep_block_map(10_000).as_bytes());
    assert_input_error(&r, "document 1", "nesting depth");
    let r = run(deep_block_seq(10_000).as_bytes());
    assert_input_error(&r, "document 1", "nesting depth");
}

#[test]
fn moderate_nesting_passes_through_untouched() {
    for input in [deep_flow(150), deep_block_map(150), deep_block_seq(150)] {
        let r = run(input.as_bytes());
        assert_eq!(assert_ok(&r), input);
    }
}

#[test]
fn ten_mb_document_with_too_many_nodes_is_a_clear_error() {
    // 10 MB of tiny flow items: far more than the node budget.
    let mut s =
        String::from("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: huge\ndata:\n  x: [");
    while s.len() < 10 * 1024 * 1024 {
        s.push_str("1,");
    }
    s.push_str("1]\n");
    let r = run(s.as_bytes());
    assert_input_error(&r, "document 1", "safety limits");
}

#[test]
fn errors_leave_the_report_file_explaining_and_stdout_empty() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.txt");
    let r = run_args(
        &bad("invalid-yaml.yaml"),
        &["-q", "--report-file", report.to_str().unwrap()],
    );
    assert_input_error(&r, "document 3", "invalid YAML");
    let written = std::fs::read_to_string(&report).expect("report file written on error");
    assert!(written.contains("document 3"), "{written}");
}

// ---------------------------------------------------------------------------------------
// Valid but odd
// ---------------------------------------------------------------------------------------

#[test]
fn empty_stdin_is_empty_output() {
    // Deliberate: chart-harden is a filter. Empty in, empty out, exit 0 — Helm itself reports
    // an empty render; inventing a document or failing here would hide where the problem is.
    let r = run(b"");
    assert_eq!(assert_ok(&r), "");
    for input in [&b"\n\n"[..], b"   \n", b"---\n", b"---\n...\n"] {
        let r = run(input);
        assert_eq!(
            assert_ok(&r).as_bytes(),
            input,
            "blank input passes through"
        );
    }
    let input = bad("comments-only.yaml");
    assert_eq!(assert_ok(&run(&input)).as_bytes(), &input[..]);
}

#[test]
fn duplicate_keys_last_wins_like_kubernetes() {
    let input = bad("duplicate-keys.yaml");
    let text = std::str::from_utf8(&input).unwrap();
    let out = assert_ok(&run(&input));
    // The ConfigMap is not touched: byte-identical, duplicates and all.
    let cm_end = text.find("---\n# Source: demo/templates/web.yaml").unwrap();
    assert!(
        out.starts_with(&text[..cm_end]),
        "ConfigMap bytes kept:\n{out}"
    );
    let docs = views(&out);
    assert_eq!(docs[0]["metadata"]["name"], "dup-wins");
    assert_eq!(docs[0]["data"]["key"], "second");
    // The Deployment is hardened where Kubernetes reads it: the last `securityContext`.
    let sc = container_sc(&docs[1], "/spec/template/spec");
    assert_eq!(sc["runAsUser"], 1000, "{out}");
    assert_eq!(sc["allowPrivilegeEscalation"], false, "{out}");
    // The shadowed first mapping keeps its bytes (Kubernetes ignores it).
    assert!(out.contains("        securityContext:\n          allowPrivilegeEscalation: true\n        securityContext:\n"), "{out}");
}

#[test]
fn unknown_kinds_and_custom_resources_pass_through_byte_identical() {
    let input = bad("unknown-kinds.yaml");
    let out = assert_ok(&run(&input));
    assert_eq!(out.as_bytes(), &input[..]);
}

#[test]
fn kind_list_items_are_hardened_inside() {
    let input = bad("kind-list.yaml");
    let text = std::str::from_utf8(&input).unwrap();
    let out = assert_ok(&run(&input));
    assert_ne!(out, text, "the List's pod templates are hardened");
    let docs = views(&out);
    let list = &docs[0];
    assert_eq!(list["kind"], "List");
    assert_eq!(
        list["items"][0],
        views(text)[0]["items"][0],
        "ConfigMap item unchanged"
    );
    for (i, spec) in [
        (1, "/items/1/spec/template/spec"),
        (2, "/items/2/spec/template/spec"),
    ] {
        let sc = container_sc(list, spec);
        assert_eq!(sc["allowPrivilegeEscalation"], false, "item {i}:\n{out}");
    }
    // Idempotent.
    assert_eq!(assert_ok(&run(out.as_bytes())), out);
}

#[test]
fn crlf_line_ends_are_kept_everywhere() {
    let lf = String::from_utf8(bad("deployment.yaml")).unwrap()
        + &String::from_utf8(bad("kind-list.yaml")).unwrap().replacen(
            "apiVersion",
            "---\napiVersion",
            1,
        );
    let crlf = lf.replace('\n', "\r\n");
    let out = assert_ok(&run(crlf.as_bytes()));
    assert_ne!(out, crlf, "hardened");
    let lone_lf = out
        .as_bytes()
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'\n' && (i == 0 || out.as_bytes()[i - 1] != b'\r'))
        .count();
    assert_eq!(lone_lf, 0, "every line end is CRLF:\n{out:?}");
    // Same result as the LF input, line ends aside.
    let out_lf = assert_ok(&run(lf.as_bytes()));
    assert_eq!(out.replace("\r\n", "\n"), out_lf);
    // No final line break: the separator before generated documents is CRLF too.
    let trimmed = crlf.trim_end_matches("\r\n");
    let out = assert_ok(&run(trimmed.as_bytes()));
    assert!(
        !out.replace("\r\n", "").contains('\n'),
        "every line end is CRLF:\n{out:?}"
    );
    // Idempotent.
    assert_eq!(assert_ok(&run(out.as_bytes())), out);
}

#[test]
fn bom_is_kept() {
    let mut input = "\u{feff}".as_bytes().to_vec();
    input.extend(bad("deployment.yaml"));
    let out = assert_ok(&run(&input));
    assert!(out.starts_with('\u{feff}'), "BOM kept");
    assert_eq!(out.matches('\u{feff}').count(), 1, "exactly one BOM");
    let docs = views(&out);
    assert_eq!(
        container_sc(&docs[0], "/spec/template/spec")["allowPrivilegeEscalation"],
        false
    );
    // Without the BOM, the same bytes.
    let plain = assert_ok(&run(&bad("deployment.yaml")));
    assert_eq!(out.strip_prefix('\u{feff}').unwrap(), plain);
    // Nothing to change: byte-identical, BOM included (a line break used to follow the BOM).
    let mut untouched = "\u{feff}".as_bytes().to_vec();
    untouched.extend(bad("unknown-kinds.yaml"));
    assert_eq!(assert_ok(&run(&untouched)).as_bytes(), &untouched[..]);
    // Idempotent.
    assert_eq!(assert_ok(&run(out.as_bytes())), out);
}

// ---------------------------------------------------------------------------------------
// Size
// ---------------------------------------------------------------------------------------

fn shared_corpus() -> Vec<PathBuf> {
    let shared = std::env::var_os("CHART_HARDEN_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    let dir = shared.join("corpus");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| {
            panic!(
                "shared corpus {}: {e} (set CHART_HARDEN_SHARED)",
                dir.display()
            )
        })
        .flatten()
        .map(|e| e.path().join("rendered.yaml"))
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    assert!(
        v.len() >= 10,
        "expected the shared corpus, found {} charts",
        v.len()
    );
    v
}

/// A ConfigMap of about `size` bytes whose bulk is a literal block (a dashboard, a script).
fn big_config_map(i: usize, size: usize) -> String {
    let mut s = format!(
        "---\n# Source: big/templates/dashboard-{i}.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dashboard-{i}\n  labels:\n    grafana_dashboard: \"1\"\ndata:\n  dashboard.json: |\n"
    );
    let mut n = 0;
    while s.len() < size {
        s.push_str(&format!(
            "    {{\"panel\": {n}, \"title\": \"on\", \"expr\": \"rate(x[5m]) > 0755\", \"yes\": ~}}\n"
        ));
        n += 1;
    }
    s
}

#[test]
fn fifty_mb_stream_succeeds() {
    // 48 MB of big ConfigMaps first, then every corpus chart: the output must start with the
    // ConfigMaps' exact bytes and continue with exactly what the charts harden to on their own.
    let mut head = String::new();
    let mut i = 0;
    while head.len() < 48 * 1024 * 1024 {
        head.push_str(&big_config_map(i, 100 * 1024));
        i += 1;
    }
    let mut charts = String::new();
    for p in shared_corpus() {
        let t = std::fs::read_to_string(&p).unwrap();
        charts.push_str(&t);
        if !t.ends_with('\n') {
            charts.push('\n');
        }
    }
    let input = head.clone() + &charts;
    assert!(input.len() >= 50 * 1024 * 1024, "{} bytes", input.len());
    let out = assert_ok(&run(input.as_bytes()));
    let alone = assert_ok(&run(charts.as_bytes()));
    assert!(
        out.starts_with(&head),
        "big ConfigMaps pass through byte-identical"
    );
    assert_eq!(&out[head.len()..], alone, "charts harden as they do alone");
    assert_ne!(alone, charts, "the corpus has things to harden");
}

#[test]
fn ten_mb_single_document_succeeds() {
    let mut s = String::from(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: big\nspec:\n  selector:\n    matchLabels: {app: big}\n  template:\n    metadata:\n      labels: {app: big}\n    spec:\n      containers:\n      - name: big\n        image: busybox:1.36\n        env:\n",
    );
    for n in 0..2000 {
        s.push_str(&format!(
            "        - name: VAR_{n}\n          value: \"yes\"\n"
        ));
    }
    s.push_str("        - name: SCRIPT\n          value: |\n");
    while s.len() < 10 * 1024 * 1024 {
        s.push_str("            echo \"on\" 0755 ~ # not a comment in a block scalar\n");
    }
    s.push_str("        ports:\n        - containerPort: 8080\n");
    let out = assert_ok(&run(s.as_bytes()));
    assert!(out.len() > s.len(), "hardened");
    let (a, b) = (views(&s).remove(0), views(&out).remove(0));
    let env_in = a.pointer("/spec/template/spec/containers/0/env").unwrap();
    let env_out = b.pointer("/spec/template/spec/containers/0/env").unwrap();
    assert_eq!(
        env_in, env_out,
        "env (2000 vars and a 10 MB script) unchanged"
    );
    assert_eq!(
        container_sc(&b, "/spec/template/spec")["allowPrivilegeEscalation"],
        false
    );
    // The 10 MB literal keeps its bytes.
    let script_start = s.find("          value: |\n").unwrap();
    let script_end = s.find("        ports:").unwrap();
    assert!(out.contains(&s[script_start..script_end]));
}

/// A template that spills other text into an image field or a name (a Secret's lines, a URL
/// with a password: the fuzzer's cases) does not have it repeated: not in the error that
/// pinning or the name check reports, nor in the report of a run without pinning.
#[test]
fn text_spilled_into_an_image_field_is_not_repeated() {
    let name = b"apiVersion: v1
kind: ServiceAccount
metadata:
  name: web postgres://app:hunter2-spilled@db:5432/app
";
    let r = run(name);
    assert_input_error(&r, "document 1", "is not a valid ServiceAccount name");
    assert!(!r.stderr.contains("hunter2"), "{}", r.stderr);
    // The API server rejects a namespace that is not a DNS-1123 label: so does chart-harden.
    let namespace = b"apiVersion: v1
kind: ConfigMap
metadata:
  name: web
  namespace: webtgres://app:hunter2-spilled@db:5432/app
";
    let r = run(namespace);
    assert_input_error(&r, "document 1", "is not a valid namespace");
    assert!(
        r.stderr.contains("metadata.namespace") && !r.stderr.contains("hunter2"),
        "{}",
        r.stderr
    );
    assert_ok(&run(
        b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web, namespace: \"\"}\n",
    ));
    let input = b"apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
  - name: app
    image: \"app:1
      password: hunter2-spilled
      url: postgres://app:hunter2-spilled@db:5432/app\"
";
    let out = e2e::run_env(&["--no-cache"], input, &[("NO_COLOR", "1")]);
    let r = Run {
        code: out.status.code(),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert_input_error(&r, "document 1", "not a reference's");
    assert!(!r.stderr.contains("hunter2"), "{}", r.stderr);
    // (The dev profile changes nothing: the report holds findings, no diff of the document.)
    let r = run_args(input, &["--profile", "dev"]);
    assert_ok(&r);
    assert!(
        r.stderr.contains("not a reference's") && !r.stderr.contains("hunter2"),
        "{}",
        r.stderr
    );
}

/// A mixed-case YAML 1.1 word (`oN`) is a string to Kubernetes (go-yaml takes only `on`,
/// `On` and `ON` for a boolean): the selectors chart-harden writes from such a label say
/// `"oN"`, so the generated PodDisruptionBudget and NetworkPolicy select the pods, whether
/// the fast readers or serde-saphyr (an anchor sends the documents there) read the chart.
#[test]
fn a_mixed_case_boolean_word_in_a_label_is_the_string_kubernetes_reads() {
    let chart = |anchor: &str| {
        [
            "apiVersion: apps/v1",
            "kind: Deployment",
            "metadata:",
            "  name: web",
            "  namespace: demo",
            &format!("  annotations: {{note: {anchor}first}}"),
            "spec:",
            "  replicas: 2",
            "  selector:",
            "    matchLabels: {app: web, canary: oN}",
            "  template:",
            "    metadata:",
            "      labels: {app: web, canary: oN}",
            "    spec:",
            "      containers:",
            "      - name: main",
            "        image: example.com/web:1",
            "        ports: [{containerPort: 8080}]",
            "---",
            "apiVersion: v1",
            "kind: Service",
            "metadata:",
            "  name: web",
            "  namespace: demo",
            &format!("  annotations: {{note: {anchor}second}}"),
            "spec:",
            "  selector: {app: web, canary: oN}",
            "  ports: [{port: 80, targetPort: 8080}]",
            "",
        ]
        .join("\n")
    };
    for anchor in ["", "&a "] {
        let out = assert_ok(&run_args(chart(anchor).as_bytes(), &["--profile", "prod"]));
        let docs = views(&out);
        let generated: Vec<&Value> = docs
            .iter()
            .filter(|v| {
                matches!(
                    v["kind"].as_str(),
                    Some("PodDisruptionBudget" | "NetworkPolicy")
                )
            })
            .collect();
        assert_eq!(generated.len(), 2, "anchor {anchor:?}:\n{out}");
        for g in generated {
            let labels =
                e2e::generated_match_labels(g).unwrap_or_else(|| panic!("no selector:\n{out}"));
            assert_eq!(labels["canary"], "oN", "anchor {anchor:?}:\n{out}");
        }
        // The text too, not only this tool's reading of it.
        assert!(
            !out.contains("canary: true") && !out.contains("canary: \"true\""),
            "{out}"
        );
        assert!(out.matches("canary: \"oN\"").count() >= 2, "{out}");
    }
}

/// Labels and annotations are strings to the API server (`map[string]string`): a value YAML
/// reads as a number or boolean (`version: 1.0`, the "Norway" `country: NO`, `app: n`) makes
/// Kubernetes reject the object, and the rules would read a label the API server never sees.
/// It is an input error naming the field (a label key shown only when it is one); a null is
/// an empty string, as Kubernetes reads it, and passes.
#[test]
fn a_label_or_annotation_that_is_not_a_string_names_the_field() {
    let pod = |meta: &str, template: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: ok}}\n---\n\
             apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web{meta}}}\n\
             spec:\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata:\n      \
             labels: {{app: web{template}}}\n    spec: {{containers: [{{name: c, image: x}}]}}\n"
        )
    };
    for (input, field, found) in [
        (
            pod(", labels: {version: 1.0}", ""),
            "metadata.labels.version",
            "a number",
        ),
        (
            pod("", ", country: NO"),
            "spec.template.metadata.labels.country",
            "a boolean",
        ),
        (
            pod(", annotations: {example.com/enabled: true}", ""),
            "metadata.annotations['example.com/enabled']",
            "a boolean",
        ),
        (
            pod(", annotations: {\"a b\": 7}", ""),
            "metadata.annotations['<3 characters, not shown>']",
            "a number",
        ),
    ] {
        let r = run(input.as_bytes());
        assert_input_error(&r, "document 2", &format!("`{field}`: must be a string"));
        assert!(r.stderr.contains(found), "{}", r.stderr);
    }
    // A null label value is the empty string to Kubernetes: accepted.
    assert_ok(&run(pod(", labels: {tier: }", "").as_bytes()));
}
