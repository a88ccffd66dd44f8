//! Do no harm, from ground truth: every corpus chart that ships a `flows.yaml` (the traffic
//! its workloads need, the paths they write, the containers that need root; schema in
//! `../shared/corpus/INDEX.md`) is hardened with `--profile prod`, and then
//!
//! - every flow is still allowed by the NetworkPolicies of the output, judged by the
//!   project's NetworkPolicy evaluator; the API server, nodes and external clients are not
//!   pods, so only rules that admit any source (no `from`, or an `ipBlock` covering every
//!   address) let them in, and egress to them needs a rule admitting a representative address;
//! - every listed writable path of a container whose root filesystem the output makes
//!   read-only is on a volume;
//! - no container listed as needing root is forced non-root, loses its privileges or its
//!   added capabilities, unless the chart already said so.

#[path = "common/e2e.rs"]
mod e2e;

use std::collections::BTreeMap;
use std::sync::Arc;

use chart_harden::document::parse_stream;
use chart_harden::inventory::netpol::{policies, Direction, Pod, Side};
use chart_harden::inventory::{Inventory, Workload};
use chart_harden::yaml::Value;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Flows {
    release: String,
    namespace: String,
    #[serde(default)]
    flows: Vec<Flow>,
    #[serde(default)]
    writable_paths: Vec<Writable>,
    #[serde(default)]
    runs_as_root: Vec<Root>,
}

#[derive(Debug, Deserialize)]
struct Flow {
    from: Endpoint,
    to: Endpoint,
    port: Value,
    protocol: String,
    #[serde(default)]
    why: String,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Endpoint {
    #[serde(default)]
    api_server: bool,
    #[serde(default)]
    node: bool,
    #[serde(default)]
    dns: bool,
    #[serde(default)]
    external: bool,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    any_namespace: bool,
    #[serde(default)]
    pod_labels: BTreeMap<String, String>,
    #[serde(default)]
    workload: Option<String>,
    #[serde(default)]
    spawned: bool,
    #[serde(default)]
    service: Option<String>,
    #[serde(default)]
    host: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Writable {
    workload: String,
    #[serde(default)]
    container: Option<String>,
    #[serde(default)]
    containers: Vec<String>,
    paths: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Root {
    workload: String,
    #[serde(default)]
    container: Option<String>,
    #[serde(default)]
    containers: Vec<String>,
}

fn names(one: &Option<String>, many: &[String]) -> Vec<String> {
    let mut v: Vec<String> = many.to_vec();
    v.extend(one.iter().cloned());
    v
}

fn run(input: &[u8], args: &[&str]) -> Vec<u8> {
    let out = e2e::run(args, input);
    e2e::ok(&out, "chart-harden");
    out.stdout
}

/// A representative address for what is not a pod: the API server's endpoint, an external
/// host (documentation ranges; nothing is ever sent there, they are only evaluated).
const API_ADDR: &str = "192.0.2.1/32";
const EXTERNAL_ADDR: &str = "203.0.113.10/32";
const ANY: &str = "0.0.0.0/0";
/// A port chosen at run time (`port: any`): a rule must admit arbitrary ports.
const ANY_PORTS: [i64; 3] = [80, 8080, 31337];

struct Synthetic {
    ns: String,
    labels: chart_harden::inventory::Labels,
    foreign: bool,
}

/// The pods an endpoint names: workloads of the output (by labels and optional `workload`),
/// or a synthetic pod (spawned pods, other namespaces, DNS).
enum Pods<'a> {
    Workloads(Vec<&'a Workload>),
    Synthetic(Synthetic),
    NotAPod(&'static str),
}

fn pods_of<'a>(ep: &Endpoint, inv: &'a Inventory, release_ns: &str) -> Pods<'a> {
    if ep.api_server {
        return Pods::NotAPod(API_ADDR);
    }
    if ep.node {
        return Pods::NotAPod(ANY);
    }
    if ep.external {
        // A named address (the cloud metadata endpoint) is judged as itself.
        if let Some(ip) = ep.host.as_deref().and_then(|h| h.split_whitespace().next()) {
            if let Ok(ip) = ip.parse::<std::net::Ipv4Addr>() {
                return Pods::NotAPod(Box::leak(format!("{ip}/32").into_boxed_str()));
            }
        }
        return Pods::NotAPod(EXTERNAL_ADDR);
    }
    if ep.dns {
        return Pods::Synthetic(Synthetic {
            ns: "kube-system".into(),
            labels: BTreeMap::from([("k8s-app".into(), "kube-dns".into())]).into(),
            foreign: true,
        });
    }
    let ns = if ep.any_namespace {
        "some-other-namespace".to_string()
    } else {
        ep.namespace.clone().unwrap_or_else(|| release_ns.into())
    };
    let foreign = ns != release_ns;
    if ep.spawned || ep.any_namespace || ep.service.is_some() || foreign || ep.pod_labels.is_empty()
    {
        let labels = if ep.service.is_some() {
            BTreeMap::new()
        } else {
            ep.pod_labels.clone()
        };
        return Pods::Synthetic(Synthetic {
            ns,
            labels: labels.into(),
            foreign,
        });
    }
    let ws: Vec<&Workload> = inv
        .workloads
        .iter()
        .filter(|w| {
            ep.pod_labels
                .iter()
                .all(|(k, v)| w.labels.get(k) == Some(v))
                && ep.workload.as_ref().is_none_or(|want| {
                    let (kind, name) = want.split_once('/').unwrap_or(("", want));
                    w.object.resource.name == name
                        && (kind.is_empty() || w.object.resource.kind == kind)
                })
        })
        .collect();
    Pods::Workloads(ws)
}

fn ports_of(f: &Flow) -> Vec<i64> {
    match &f.port {
        Value::Number(n) => vec![n.as_i64().expect("port number")],
        Value::String(s) if &**s == "any" => ANY_PORTS.to_vec(),
        Value::String(s) => vec![s.parse().expect("port")],
        other => panic!("bad port {other}"),
    }
}

/// One endpoint as the evaluator sees it.
enum End<'p> {
    Pod(Pod<'p>),
    Addr(&'static str),
}

fn ends<'p>(
    p: &'p Pods<'_>,
    docs: &[chart_harden::document::Document],
    release_ns: &'p str,
) -> Vec<(String, End<'p>)> {
    match p {
        Pods::Workloads(ws) => ws
            .iter()
            .map(|w| {
                let mut pod = Pod::of(docs, w);
                if pod.ns.is_empty() {
                    pod.ns = release_ns;
                }
                (
                    format!("{}/{}", w.object.resource.kind, w.object.resource.name),
                    End::Pod(pod),
                )
            })
            .collect(),
        Pods::Synthetic(s) => vec![(
            format!("pods {:?} in {}", s.labels.to_btree(), s.ns),
            End::Pod(Pod {
                ns: &s.ns,
                labels: &s.labels,
                ports: Vec::new(),
                foreign: s.foreign,
            }),
        )],
        Pods::NotAPod(a) => vec![(format!("address {a}"), End::Addr(a))],
    }
}

fn check_flows(name: &str, fl: &Flows, out: &[u8], problems: &mut Vec<String>) {
    let stream = parse_stream(out).expect("output parses");
    let inv = Inventory::build(&stream.docs, Some(&fl.namespace));
    let pols: Vec<(Arc<str>, &Value)> = policies(&stream.docs, &inv);
    for f in &fl.flows {
        let src = pods_of(&f.from, &inv, &fl.namespace);
        let dst = pods_of(&f.to, &inv, &fl.namespace);
        for p in [&src, &dst] {
            if let Pods::Workloads(ws) = p {
                assert!(
                    !ws.is_empty(),
                    "{name}: flow endpoint matches no workload of the output: {f:?}"
                );
            }
        }
        let srcs = ends(&src, &stream.docs, &fl.namespace);
        let mut dsts = ends(&dst, &stream.docs, &fl.namespace);
        // Labels shared by several workloads (hook Jobs with the Deployment's labels): the
        // flow is meant for those that declare the port, when some do.
        if let (Value::Number(n), true) = (&f.port, dsts.len() > 1) {
            let p = n.as_i64().unwrap_or(-1);
            let declares = |e: &End<'_>| matches!(e, End::Pod(pod) if pod.ports.iter().any(|(_, n, _)| *n == p));
            if dsts.iter().any(|(_, e)| declares(e)) {
                dsts.retain(|(_, e)| declares(e));
            }
        }
        for port in ports_of(f) {
            let proto = f.protocol.as_str();
            // API server egress: the endpoint behind the `kubernetes` Service is often 6443.
            let dst_ports: Vec<i64> = if f.to.api_server {
                vec![443, 6443]
            } else {
                vec![port]
            };
            for (sname, s) in &srcs {
                for (dname, d) in &dsts {
                    for &dp in &dst_ports {
                        let egress_ok = match (s, d) {
                            (End::Pod(sp), End::Pod(dpod)) => Side::of(
                                &pols,
                                sp,
                                Direction::Egress,
                            )
                            .allows(dpod, &dpod.ports, dp, proto),
                            (End::Pod(sp), End::Addr(a)) => {
                                Side::of(&pols, sp, Direction::Egress).allows_cidr(a, dp, proto)
                            }
                            // Traffic that starts outside the cluster's pods has no egress side.
                            (End::Addr(_), _) => true,
                        };
                        let ingress_ok = match (s, d) {
                            (End::Pod(sp), End::Pod(dpod)) => Side::of(
                                &pols,
                                dpod,
                                Direction::Ingress,
                            )
                            .allows(sp, &dpod.ports, dp, proto),
                            (End::Addr(_), End::Pod(dpod)) => {
                                Side::of(&pols, dpod, Direction::Ingress)
                                    .allows_cidr(ANY, dp, proto)
                            }
                            (_, End::Addr(_)) => true,
                        };
                        if !(egress_ok && ingress_ok) {
                            problems.push(format!(
                                "{name}: {sname} -> {dname} {dp}/{proto} cut ({}{}): {}",
                                if egress_ok { "" } else { "egress" },
                                if ingress_ok { "" } else { " ingress" },
                                f.why.chars().take(100).collect::<String>()
                            ));
                        }
                    }
                }
            }
        }
    }
}

fn workload_value<'a>(values: &'a [Value], want: &str) -> Option<&'a Value> {
    let (kind, name) = want.split_once('/')?;
    values.iter().find(|v| {
        v.get("kind").and_then(Value::as_str) == Some(kind)
            && v.pointer("/metadata/name").and_then(Value::as_str) == Some(name)
            && v.pointer("/metadata/labels/app.kubernetes.io~1managed-by")
                .and_then(Value::as_str)
                != Some("chart-harden")
    })
}

fn pod_spec(v: &Value) -> Option<&Value> {
    match v.get("kind").and_then(Value::as_str)? {
        "Pod" => v.get("spec"),
        "CronJob" => v.pointer("/spec/jobTemplate/spec/template/spec"),
        _ => v.pointer("/spec/template/spec"),
    }
}

fn container<'a>(spec: &'a Value, name: &str) -> Option<&'a Value> {
    ["containers", "initContainers"]
        .iter()
        .filter_map(|l| spec.get(*l).and_then(Value::as_array))
        .flatten()
        .find(|c| c.get("name").and_then(Value::as_str) == Some(name))
}

fn values_of(bytes: &[u8]) -> Vec<Value> {
    let stream = parse_stream(bytes).expect("parses");
    let mut v = Vec::new();
    for d in &stream.docs {
        for o in &d.objects {
            v.push(d.full_object_value(o).into_owned());
        }
    }
    v
}

fn check_paths_and_root(
    name: &str,
    fl: &Flows,
    input: &[u8],
    out: &[u8],
    problems: &mut Vec<String>,
) {
    let before = values_of(input);
    let after = values_of(out);
    for w in &fl.writable_paths {
        let Some(obj) = workload_value(&after, &w.workload) else {
            panic!(
                "{name}: writable_paths names {} which is not in the output",
                w.workload
            );
        };
        let spec = pod_spec(obj).expect("pod spec");
        for c in names(&w.container, &w.containers) {
            let ctr = container(spec, &c)
                .unwrap_or_else(|| panic!("{name}: no container {c} in {}", w.workload));
            let ro = ctr
                .pointer("/securityContext/readOnlyRootFilesystem")
                .and_then(Value::as_bool)
                == Some(true);
            if !ro {
                continue;
            }
            let mounts: Vec<&str> = ctr
                .get("volumeMounts")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|m| m.get("readOnly").and_then(Value::as_bool) != Some(true))
                .filter_map(|m| m.get("mountPath").and_then(Value::as_str))
                .collect();
            for p in &w.paths {
                let on_volume = mounts.iter().any(|m| {
                    let m = m.trim_end_matches('/');
                    p == m || p.starts_with(&format!("{m}/")) || m.is_empty()
                });
                if !on_volume {
                    problems.push(format!(
                        "{name}: {} container {c} has a read-only root filesystem but writes {p} (not on a writable volume)",
                        w.workload
                    ));
                }
            }
        }
    }
    for r in &fl.runs_as_root {
        let (Some(a), Some(b)) = (
            workload_value(&after, &r.workload),
            workload_value(&before, &r.workload),
        ) else {
            panic!(
                "{name}: runs_as_root names {} which is not in the output",
                r.workload
            );
        };
        let (sa, sb) = (pod_spec(a).expect("spec"), pod_spec(b).expect("spec"));
        for c in names(&r.container, &r.containers) {
            let (ca, cb) = (
                container(sa, &c).expect("container"),
                container(sb, &c).expect("container"),
            );
            for (what, pa, pb) in [
                (
                    "runAsNonRoot",
                    "/securityContext/runAsNonRoot",
                    "/securityContext/runAsNonRoot",
                ),
                (
                    "runAsUser",
                    "/securityContext/runAsUser",
                    "/securityContext/runAsUser",
                ),
                (
                    "privileged",
                    "/securityContext/privileged",
                    "/securityContext/privileged",
                ),
                (
                    "capabilities.add",
                    "/securityContext/capabilities/add",
                    "/securityContext/capabilities/add",
                ),
                (
                    "capabilities.drop",
                    "/securityContext/capabilities/drop",
                    "/securityContext/capabilities/drop",
                ),
            ] {
                if ca.pointer(pa) != cb.pointer(pb) {
                    problems.push(format!(
                        "{name}: {} container {c} needs root but its {what} changed from {:?} to {:?}",
                        r.workload,
                        cb.pointer(pb),
                        ca.pointer(pa)
                    ));
                }
            }
            for (what, p) in [
                ("pod runAsNonRoot", "/securityContext/runAsNonRoot"),
                ("pod runAsUser", "/securityContext/runAsUser"),
            ] {
                if sa.pointer(p) != sb.pointer(p) {
                    problems.push(format!(
                        "{name}: {} needs root (container {c}) but its {what} changed from {:?} to {:?}",
                        r.workload,
                        sb.pointer(p),
                        sa.pointer(p)
                    ));
                }
            }
        }
    }
}

#[test]
fn prod_keeps_every_flow_path_and_root_need_of_the_corpus() {
    let mut problems = Vec::new();
    let mut charts = 0;
    let mut flows = 0;
    for (name, rendered) in e2e::corpus() {
        let fpath = rendered.with_file_name("flows.yaml");
        let Ok(text) = std::fs::read_to_string(&fpath) else {
            continue;
        };
        let fl: Flows =
            serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", fpath.display()));
        let input = std::fs::read(&rendered).expect("rendered.yaml");
        let out = run(
            &input,
            &[
                "--profile",
                "prod",
                "--no-pin",
                "--namespace",
                &fl.namespace,
                "--release",
                &fl.release,
            ],
        );
        check_flows(&name, &fl, &out, &mut problems);
        check_paths_and_root(&name, &fl, &input, &out, &mut problems);
        charts += 1;
        flows += fl.flows.len();
    }
    assert!(
        charts >= 10,
        "expected the corpus's flows.yaml files, found {charts}"
    );
    eprintln!("{charts} charts, {flows} flows checked");
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
