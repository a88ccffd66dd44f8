//! Property tests of the whole pipeline over generated streams.
//!
//! Streams of Deployments, Pods and ConfigMaps with random subsets of securityContext fields,
//! random key order, comments, quoting styles, block or flow collections, indented or
//! indentless sequences, and YAML 1.1 look-alike strings ("on", "yes", "0755", "~", …) quoted
//! in labels, annotations and env values. Properties:
//!
//! * hardening succeeds and is idempotent: `harden(harden(x)) == harden(x)` byte for byte;
//! * the output parses again;
//! * documents no applied fix names are byte-identical;
//! * nothing changes outside the paths the applied findings name (JSON views compared after
//!   removing those paths);
//! * quoted look-alikes are still the same strings.
//!
//! 64 cases by default; `PROPTEST_CASES=1000 cargo test --release --test proptest_harden`
//! for more.

use std::collections::{BTreeMap, BTreeSet};

use chart_harden::config::{Config, Profile};
use chart_harden::document::parse_stream;
use chart_harden::finding::FixState;
use proptest::prelude::*;
use serde_json::Value;

// ------------------------------------------------------------------------------------------
// A tiny YAML writer with random presentation
// ------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Y {
    /// A scalar token exactly as written (`"on"`, `'0755'`, `true`, `nginx`).
    S(String),
    Map(Vec<(String, Y)>),
    Seq(Vec<Y>),
}

/// Presentation choices, drawn from a seed.
struct Style {
    rng: u64,
    indent: usize,
    indentless: bool,
}

impl Style {
    fn next(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }
    fn chance(&mut self, pct: u64) -> bool {
        self.next() % 100 < pct
    }
}

fn flow(y: &Y) -> String {
    match y {
        Y::S(s) => s.clone(),
        Y::Map(m) if m.is_empty() => "{}".into(),
        Y::Map(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{k}: {}", flow(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Y::Seq(s) => format!("[{}]", s.iter().map(flow).collect::<Vec<_>>().join(", ")),
    }
}

fn shuffle<T>(st: &mut Style, v: &mut [T]) {
    for i in (1..v.len()).rev() {
        let j = (st.next() % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
}

/// Writes a block mapping at `ind` columns.
fn block_map(st: &mut Style, m: &[(String, Y)], ind: usize, out: &mut String, ordered: bool) {
    let mut entries: Vec<&(String, Y)> = m.iter().collect();
    if !ordered {
        shuffle(st, &mut entries);
    }
    for (k, v) in entries {
        if st.chance(8) {
            out.push_str(&format!("{}# about {k}\n", " ".repeat(ind)));
        }
        out.push_str(&" ".repeat(ind));
        out.push_str(k);
        out.push(':');
        let as_flow = match v {
            Y::S(_) => true,
            Y::Map(m) => m.is_empty() || st.chance(20),
            Y::Seq(s) => s.is_empty() || st.chance(20),
        };
        if as_flow {
            out.push(' ');
            out.push_str(&flow(v));
            if st.chance(10) {
                out.push_str(" # trailing");
            }
            out.push('\n');
            continue;
        }
        out.push('\n');
        match v {
            Y::Map(m) => block_map(st, m, ind + st.indent, out, false),
            Y::Seq(s) => {
                let si = if st.indentless { ind } else { ind + st.indent };
                block_seq(st, s, si, out);
            }
            Y::S(_) => unreachable!(),
        }
    }
}

fn block_seq(st: &mut Style, s: &[Y], ind: usize, out: &mut String) {
    for item in s {
        match item {
            Y::Map(m) if !m.is_empty() => {
                let mut inner = String::new();
                block_map(st, m, ind + 2, &mut inner, true);
                // "- " takes the place of the first entry's indentation.
                let first = inner.find(|c| c != ' ').unwrap_or(0);
                let (lead, rest) = inner.split_at(first);
                if rest.starts_with('#') {
                    out.push_str(&" ".repeat(ind));
                    out.push_str("-\n");
                    out.push_str(&inner);
                } else {
                    out.push_str(&" ".repeat(ind));
                    out.push_str("- ");
                    out.push_str(&" ".repeat(lead.len() - (ind + 2)));
                    out.push_str(rest);
                }
            }
            other => {
                out.push_str(&" ".repeat(ind));
                out.push_str("- ");
                out.push_str(&flow(other));
                out.push('\n');
            }
        }
    }
}

// ------------------------------------------------------------------------------------------
// Generated specs
// ------------------------------------------------------------------------------------------

const LOOK_ALIKES: &[&str] = &[
    "on",
    "off",
    "yes",
    "no",
    "y",
    "n",
    "true",
    "False",
    "null",
    "~",
    "0755",
    "0x1F",
    "1e3",
    "1_000",
    "12:30",
    "2024-01-01",
    ".inf",
    "-1",
    "+1",
    "",
    " padded ",
    "a: b",
    "#x",
    "*x",
    "&x",
    "!x",
    "@x",
    "%x",
    "<<",
    "=",
];

fn quote(s: &str, single: bool) -> String {
    if single {
        format!("'{}'", s.replace('\'', "''"))
    } else {
        serde_json::to_string(s).unwrap()
    }
}

#[derive(Debug, Clone)]
struct ContainerSpec {
    ape: Option<bool>,
    run_as_non_root: Option<bool>,
    run_as_user: Option<i64>,
    read_only: Option<bool>,
    privileged: Option<bool>,
    drop_all: bool,
    env: Vec<(usize, bool)>,
    sc_flow: bool,
}

#[derive(Debug, Clone)]
struct WorkloadSpec {
    pod: bool,
    name: String,
    labels: Vec<(usize, bool)>,
    annotation: Option<(usize, bool)>,
    pod_non_root: Option<bool>,
    seccomp: bool,
    containers: Vec<ContainerSpec>,
}

#[derive(Debug, Clone)]
enum DocSpec {
    Workload(WorkloadSpec),
    ConfigMap(String, Vec<(usize, bool)>),
}

fn look_alike() -> impl Strategy<Value = (usize, bool)> {
    (0..LOOK_ALIKES.len(), any::<bool>())
}

fn container() -> impl Strategy<Value = ContainerSpec> {
    (
        (
            proptest::option::of(any::<bool>()),
            proptest::option::of(any::<bool>()),
            proptest::option::of(prop_oneof![Just(0i64), Just(1000), Just(65532)]),
            proptest::option::of(any::<bool>()),
        ),
        proptest::option::of(any::<bool>()),
        any::<bool>(),
        proptest::collection::vec(look_alike(), 0..4),
        any::<bool>(),
    )
        .prop_map(
            |(
                (ape, run_as_non_root, run_as_user, read_only),
                privileged,
                drop_all,
                env,
                sc_flow,
            )| {
                ContainerSpec {
                    ape,
                    run_as_non_root,
                    run_as_user,
                    read_only,
                    privileged,
                    drop_all,
                    env,
                    sc_flow,
                }
            },
        )
}

fn workload() -> impl Strategy<Value = WorkloadSpec> {
    (
        any::<bool>(),
        "[a-z][a-z0-9]{0,6}",
        proptest::collection::vec(look_alike(), 0..3),
        proptest::option::of(look_alike()),
        proptest::option::of(any::<bool>()),
        any::<bool>(),
        proptest::collection::vec(container(), 1..3),
    )
        .prop_map(
            |(pod, name, labels, annotation, pod_non_root, seccomp, containers)| WorkloadSpec {
                pod,
                name,
                labels,
                annotation,
                pod_non_root,
                seccomp,
                containers,
            },
        )
}

fn doc() -> impl Strategy<Value = DocSpec> {
    prop_oneof![
        3 => workload().prop_map(DocSpec::Workload),
        1 => ("[a-z][a-z0-9]{0,6}", proptest::collection::vec(look_alike(), 0..4))
            .prop_map(|(n, d)| DocSpec::ConfigMap(n, d)),
    ]
}

fn q(la: (usize, bool)) -> Y {
    Y::S(quote(LOOK_ALIKES[la.0], la.1))
}

fn workload_yaml(w: &WorkloadSpec, idx: usize) -> Y {
    let name = format!("{}-{idx}", w.name);
    let mut labels = vec![("app".to_string(), Y::S(name.clone()))];
    for (i, la) in w.labels.iter().enumerate() {
        labels.push((format!("l{i}"), q(*la)));
    }
    let mut meta = vec![
        ("name".to_string(), Y::S(name.clone())),
        ("labels".to_string(), Y::Map(labels.clone())),
    ];
    if let Some(a) = w.annotation {
        meta.push((
            "annotations".into(),
            Y::Map(vec![("example.com/note".into(), q(a))]),
        ));
    }
    let containers: Vec<Y> = w
        .containers
        .iter()
        .enumerate()
        .map(|(ci, c)| {
            let mut m = vec![
                ("name".to_string(), Y::S(format!("c{ci}"))),
                ("image".to_string(), Y::S("nginx:1.25".into())),
            ];
            if !c.env.is_empty() {
                m.push((
                    "env".into(),
                    Y::Seq(
                        c.env
                            .iter()
                            .enumerate()
                            .map(|(ei, la)| {
                                Y::Map(vec![
                                    ("name".into(), Y::S(format!("E{ei}"))),
                                    ("value".into(), q(*la)),
                                ])
                            })
                            .collect(),
                    ),
                ));
            }
            let mut sc = Vec::new();
            let b = |v: bool| Y::S(v.to_string());
            if let Some(v) = c.ape {
                sc.push(("allowPrivilegeEscalation".to_string(), b(v)));
            }
            if let Some(v) = c.run_as_non_root {
                sc.push(("runAsNonRoot".to_string(), b(v)));
            }
            if let Some(v) = c.run_as_user {
                sc.push(("runAsUser".to_string(), Y::S(v.to_string())));
            }
            if let Some(v) = c.read_only {
                sc.push(("readOnlyRootFilesystem".to_string(), b(v)));
            }
            if let Some(v) = c.privileged {
                sc.push(("privileged".to_string(), b(v)));
            }
            if c.drop_all {
                sc.push((
                    "capabilities".to_string(),
                    Y::Map(vec![("drop".into(), Y::Seq(vec![Y::S("ALL".into())]))]),
                ));
            }
            if !sc.is_empty() || c.sc_flow {
                let scy = Y::Map(sc);
                let scy = if c.sc_flow { Y::S(flow(&scy)) } else { scy };
                m.push(("securityContext".into(), scy));
            }
            Y::Map(m)
        })
        .collect();
    let mut spec = vec![("containers".to_string(), Y::Seq(containers))];
    let mut psc = Vec::new();
    if let Some(v) = w.pod_non_root {
        psc.push(("runAsNonRoot".to_string(), Y::S(v.to_string())));
    }
    if w.seccomp {
        psc.push((
            "seccompProfile".to_string(),
            Y::Map(vec![("type".into(), Y::S("RuntimeDefault".into()))]),
        ));
    }
    if !psc.is_empty() {
        spec.push(("securityContext".into(), Y::Map(psc)));
    }
    if w.pod {
        Y::Map(vec![
            ("apiVersion".into(), Y::S("v1".into())),
            ("kind".into(), Y::S("Pod".into())),
            ("metadata".into(), Y::Map(meta)),
            ("spec".into(), Y::Map(spec)),
        ])
    } else {
        Y::Map(vec![
            ("apiVersion".into(), Y::S("apps/v1".into())),
            ("kind".into(), Y::S("Deployment".into())),
            ("metadata".into(), Y::Map(meta)),
            (
                "spec".into(),
                Y::Map(vec![
                    ("replicas".into(), Y::S("2".into())),
                    (
                        "selector".into(),
                        Y::Map(vec![(
                            "matchLabels".into(),
                            Y::Map(vec![("app".into(), Y::S(name.clone()))]),
                        )]),
                    ),
                    (
                        "template".into(),
                        Y::Map(vec![
                            (
                                "metadata".into(),
                                Y::Map(vec![("labels".into(), Y::Map(labels))]),
                            ),
                            ("spec".into(), Y::Map(spec)),
                        ]),
                    ),
                ]),
            ),
        ])
    }
}

/// The stream text, and for every document the look-alike strings expected at JSON pointers.
fn render(docs: &[DocSpec], seed: u64) -> (String, Vec<Vec<(String, String)>>) {
    let mut st = Style {
        rng: seed | 1,
        indent: 2,
        indentless: false,
    };
    st.indent = if st.chance(20) { 4 } else { 2 };
    st.indentless = st.chance(50);
    let mut out = String::new();
    let mut expected = Vec::new();
    for (i, d) in docs.iter().enumerate() {
        let (y, exp) = match d {
            DocSpec::Workload(w) => {
                let mut exp = Vec::new();
                let tpl = if w.pod { "" } else { "/spec/template" };
                for (li, la) in w.labels.iter().enumerate() {
                    exp.push((
                        format!("/metadata/labels/l{li}"),
                        LOOK_ALIKES[la.0].to_string(),
                    ));
                    if !w.pod {
                        exp.push((
                            format!("{tpl}/metadata/labels/l{li}"),
                            LOOK_ALIKES[la.0].to_string(),
                        ));
                    }
                }
                if let Some(a) = w.annotation {
                    exp.push((
                        "/metadata/annotations/example.com~1note".into(),
                        LOOK_ALIKES[a.0].to_string(),
                    ));
                }
                for (ci, c) in w.containers.iter().enumerate() {
                    for (ei, la) in c.env.iter().enumerate() {
                        exp.push((
                            format!("{tpl}/spec/containers/{ci}/env/{ei}/value"),
                            LOOK_ALIKES[la.0].to_string(),
                        ));
                    }
                }
                (workload_yaml(w, i), exp)
            }
            DocSpec::ConfigMap(n, data) => {
                let mut exp = Vec::new();
                let mut m = Vec::new();
                for (di, la) in data.iter().enumerate() {
                    m.push((format!("k{di}"), q(*la)));
                    exp.push((format!("/data/k{di}"), LOOK_ALIKES[la.0].to_string()));
                }
                let y = Y::Map(vec![
                    ("apiVersion".into(), Y::S("v1".into())),
                    ("kind".into(), Y::S("ConfigMap".into())),
                    (
                        "metadata".into(),
                        Y::Map(vec![("name".into(), Y::S(format!("{n}-{i}")))]),
                    ),
                    ("data".into(), Y::Map(m)),
                ]);
                (y, exp)
            }
        };
        out.push_str("---\n");
        if st.chance(70) {
            out.push_str(&format!("# Source: gen/templates/doc-{i}.yaml\n"));
        }
        if let Y::Map(m) = &y {
            block_map(&mut st, m, 0, &mut out, false);
        }
        expected.push(exp);
    }
    (out, expected)
}

// ------------------------------------------------------------------------------------------
// Checks
// ------------------------------------------------------------------------------------------

/// Parses a finding path (`a.b[0]['x.y']`) into JSON-pointer segments.
fn path_segments(p: &str) -> Vec<String> {
    let mut segs = Vec::new();
    let b = p.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'.' => i += 1,
            b'[' if b.get(i + 1) == Some(&b'\'') => {
                let mut j = i + 2;
                let mut k = String::new();
                while j < b.len() && !(b[j] == b'\'' && b.get(j + 1) == Some(&b']')) {
                    if b[j] == b'\\' && b.get(j + 1) == Some(&b'\'') {
                        j += 1;
                    }
                    k.push(b[j] as char);
                    j += 1;
                }
                segs.push(k);
                i = j + 2;
            }
            b'[' => {
                let j = p[i..].find(']').map_or(b.len(), |e| i + e);
                segs.push(p[i + 1..j].to_string());
                i = j + 1;
            }
            _ => {
                let j = p[i..].find(['.', '[']).map_or(b.len(), |e| i + e);
                segs.push(p[i..j].to_string());
                i = j;
            }
        }
    }
    segs
}

fn remove_path(v: &mut Value, segs: &[String]) {
    let Some((last, parent)) = segs.split_last() else {
        return;
    };
    let mut cur = v;
    for s in parent {
        cur = match cur {
            Value::Object(m) => match m.get_mut(s) {
                Some(x) => x,
                None => return,
            },
            Value::Array(a) => match s.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
                Some(x) => x,
                None => return,
            },
            _ => return,
        };
    }
    match cur {
        Value::Object(m) => {
            m.shift_remove(last);
        }
        Value::Array(a) => {
            if let Some(i) = last.parse::<usize>().ok().filter(|&i| i < a.len()) {
                a.remove(i);
            }
        }
        _ => {}
    }
}

/// One finding names one path, but a pod-security fix may set the same field at the pod
/// level and in each container (CH101 sets `runAsNonRoot` where containers need it, and its
/// unsafe fix also sets the pod's `runAsUser`/`runAsGroup`, which its message states). Those
/// are the paths the finding stands for: the same `securityContext` field anywhere in the same
/// pod spec, and for CH101/CH102 the whole run-as family (`runAsNonRoot`, `runAsUser`,
/// `runAsGroup`), which their fixes set together while naming one of them.
fn siblings(doc: &Value, rule: &str, segs: &[String]) -> Vec<Vec<String>> {
    let Some(p) = segs.iter().rposition(|s| s == "securityContext") else {
        return Vec::new();
    };
    let Some(field) = segs.get(p + 1) else {
        return Vec::new();
    };
    // `…spec.securityContext.K` or `…spec.containers[n].securityContext.K`.
    let spec: &[String] = if p >= 2 && segs[p - 2].ends_with("ontainers") {
        &segs[..p - 2]
    } else {
        &segs[..p]
    };
    let join = |tail: &[&str]| -> Vec<String> {
        spec.iter()
            .cloned()
            .chain(tail.iter().map(|s| s.to_string()))
            .collect()
    };
    // CH101 (run-as-non-root) and CH102 (no-root-user) fix the run-as fields together.
    let fields: Vec<&str> = if rule == "CH101" || rule == "CH102" {
        vec![field.as_str(), "runAsNonRoot", "runAsUser", "runAsGroup"]
    } else {
        vec![field.as_str()]
    };
    let mut out = Vec::new();
    let ptr: String = spec.iter().map(|s| format!("/{s}")).collect();
    for f in &fields {
        out.push(join(&["securityContext", f]));
        for list in ["containers", "initContainers", "ephemeralContainers"] {
            let n = doc
                .pointer(&format!("{ptr}/{list}"))
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            for j in 0..n {
                out.push(join(&[list, &j.to_string(), "securityContext", f]));
            }
        }
    }
    out
}

/// Drops empty mappings and sequences (a fix may create `securityContext: {}` parents of what
/// it set), and the volumes and mounts chart-harden adds under its own `chart-harden-*` names
/// (CH107's emptyDir for a read-only root filesystem, which its message states).
fn prune(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if k == "volumes" || k == "volumeMounts" {
                    if let Value::Array(a) = x {
                        a.retain(|item| {
                            !item
                                .get("name")
                                .and_then(Value::as_str)
                                .is_some_and(|n| n.starts_with("chart-harden-"))
                        });
                    }
                }
                prune(x);
            }
            m.retain(|_, x| {
                !matches!(x, Value::Object(o) if o.is_empty())
                    && !matches!(x, Value::Array(a) if a.is_empty())
            });
        }
        Value::Array(a) => a.iter_mut().for_each(prune),
        _ => {}
    }
}

fn config(prod: bool) -> Config {
    let mut c = Config::default();
    if prod {
        c.set_profile(Profile::Prod);
    }
    c.images.pin = false;
    c
}

fn check(docs: &[DocSpec], seed: u64, prod: bool) -> Result<(), TestCaseError> {
    let (input, expected) = render(docs, seed);
    let cfg = config(prod);
    let images = BTreeMap::new();
    let before = parse_stream(input.as_bytes())
        .map_err(|e| TestCaseError::fail(format!("generator wrote invalid input: {e}\n{input}")))?;
    let out = chart_harden::run(input.as_bytes().to_vec(), &cfg, &images)
        .map_err(|e| TestCaseError::fail(format!("harden failed: {e}\n{input}")))?;
    let text = String::from_utf8(out.to_bytes()).unwrap();

    // Re-parses; idempotent.
    let after = parse_stream(&out.to_bytes())
        .map_err(|e| TestCaseError::fail(format!("output does not parse: {e}\n{text}")))?;
    let again = chart_harden::run(out.to_bytes(), &cfg, &images)
        .map_err(|e| TestCaseError::fail(format!("own output rejected: {e}\n{text}")))?;
    prop_assert_eq!(
        String::from_utf8(again.to_bytes()).unwrap(),
        text.clone(),
        "not idempotent; input:\n{}",
        input
    );
    prop_assert!(after.docs.len() >= before.docs.len());

    // Fixed paths per document.
    let mut fixed: BTreeMap<usize, Vec<Vec<String>>> = BTreeMap::new();
    for f in &out.findings {
        if matches!(f.fix, FixState::Applied { .. }) && !f.path.is_empty() {
            let segs = path_segments(&f.path);
            let doc = before
                .docs
                .get(f.resource.doc)
                .map(|d| d.full_value().unwrap().to_json());
            let paths = fixed.entry(f.resource.doc).or_default();
            paths.extend(doc.map(|v| siblings(&v, f.rule, &segs)).unwrap_or_default());
            paths.push(segs);
        }
    }
    let changed: BTreeSet<usize> = out
        .changes
        .iter()
        .filter(|c| !c.added)
        .map(|c| c.doc)
        .collect();
    for (i, b) in before.docs.iter().enumerate() {
        let a = &after.docs[i];
        if !fixed.contains_key(&i) {
            prop_assert_eq!(
                &a.text,
                &b.text,
                "document {} changed without a fix naming it",
                i + 1
            );
            prop_assert!(!changed.contains(&i));
        }
        let mut vb = b.full_value().unwrap().to_json();
        let mut va = a.full_value().unwrap().to_json();
        for p in fixed.get(&i).into_iter().flatten() {
            remove_path(&mut vb, p);
            remove_path(&mut va, p);
        }
        prune(&mut vb);
        prune(&mut va);
        prop_assert_eq!(
            &va,
            &vb,
            "document {} changed outside the fixed paths {:?}\ninput:\n{}\noutput:\n{}",
            i + 1,
            fixed.get(&i),
            input,
            text
        );
        // Look-alikes are still strings.
        for (ptr, s) in &expected[i] {
            prop_assert_eq!(
                a.full_value().unwrap().pointer(ptr).map(|v| v.to_json()),
                Some(Value::String(s.clone())),
                "{} in document {}:\n{}",
                ptr,
                i + 1,
                text
            );
        }
    }
    Ok(())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn staging_profile(docs in proptest::collection::vec(doc(), 1..5), seed in any::<u64>()) {
        check(&docs, seed, false)?;
    }

    #[test]
    fn prod_profile(docs in proptest::collection::vec(doc(), 1..5), seed in any::<u64>()) {
        check(&docs, seed, true)?;
    }
}

#[test]
fn path_segments_parse_finding_paths() {
    assert_eq!(
        path_segments("spec.template.spec.containers[1].securityContext.runAsNonRoot"),
        [
            "spec",
            "template",
            "spec",
            "containers",
            "1",
            "securityContext",
            "runAsNonRoot"
        ]
    );
    assert_eq!(
        path_segments("metadata.annotations['a.b/c']"),
        ["metadata", "annotations", "a.b/c"]
    );
    assert_eq!(path_segments("items[0].spec"), ["items", "0", "spec"]);
}
