//! CH402 generate-network-policy: a default-deny NetworkPolicy per workload that allows what
//! the release itself shows it needs.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::yaml::Value;
use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Deserialize;

use super::{generated_meta, options, pod_selector, selector_value, wname};
use crate::finding::{Applicability, Severity};
use crate::inventory::facts::{OpenPort, PortSpec};
use crate::inventory::is_generated;
use crate::inventory::traffic::{self, PortRef, Reference, ResolvedPort};
use crate::inventory::{label_selector_matches, Inventory, Service, Workload};
use crate::rules::{workloads_indexed, Context, Fix, Generated, Rule, RuleMeta, Sink};
use crate::yaml::view::ValueExt;
use crate::yaml::Path;

pub(crate) static META: RuleMeta = RuleMeta {
    code: "CH402",
    name: "generate-network-policy",
    group: "network",
    summary: "Every workload without a NetworkPolicy gets a policy that selects exactly its pods and admits what the release shows it needs: its Services' clients, callers from outside the namespace, DNS, the API server, and (by default) every egress destination but the cloud metadata endpoints.",
    why: "Without a NetworkPolicy every pod can reach every other pod in the cluster and be reached \
by them: one compromised pod can scan and attack the whole cluster. A default deny with explicit \
allows limits the blast radius to what the application really uses.",
    example: "# Deployment api (env DB_URL=postgres://db:5432/app), Service api port 80 → 8080, named by web:\n\
kind: NetworkPolicy\nmetadata:\n  name: api-chart-harden\nspec:\n  podSelector:\n    matchLabels: {app: api}\n\
  policyTypes: [Ingress, Egress]\n  ingress:\n  - from: [{podSelector: {}}]\n    ports: [{port: 8080, protocol: TCP}]\n\
  egress:\n  - to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}, podSelector: {matchLabels: {k8s-app: kube-dns}}}]\n\
    ports: [{port: 53, protocol: UDP}, {port: 53, protocol: TCP}]\n  - to: [{podSelector: {matchLabels: {app: db}}}]\n    ports: [{port: 5432, protocol: TCP}]\n\
  - to: [{namespaceSelector: {}}, {ipBlock: {cidr: 0.0.0.0/0, except: [169.254.169.254/32]}}, {ipBlock: {cidr: '::/0', except: ['fd00:ec2::254/128']}}]",
    fix: Applicability::Unsafe,
    fix_also_safe: false,
    fix_notes: "Unsafe: a default deny cuts every connection the release does not show. What the \
workload facts (`src/inventory/facts.rs`) say is admitted from any source: ports of servers the \
API server calls (webhook configurations, APIServices and CRD conversion webhooks in the stream, \
or RBAC that lets the workload write them at run time; `services/proxy` grants), hostPorts, \
NodePort/LoadBalancer Services, Ingress and Gateway API route backends, and kubelet probe ports; \
metrics ports (names, `prometheus.io/port`, ServiceMonitor/PodMonitor endpoints) from pods of any \
namespace; Service ports from pods of any namespace (a Service's clients may live anywhere, \
and a workload of the release that names it is no evidence that nothing else does), or from the \
`ingressFrom` peers plus the clients the release names when `ingressFrom` is configured; the \
other ports its containers declare likewise (no Service of the release leads to them, so their \
clients, a Service defined elsewhere or pod-IP clients, are out of the chart's sight); the \
pods of a workload that may run several (a StatefulSet, a DaemonSet, 2+ replicas or an HPA) from \
one another on any port, since replicas cluster, gossip and replicate on ports no Service names \
(and to one another under `egress: strict`). Egress \
stays open but for the cloud metadata endpoints (`metadataCidrs`; node agents and GKE \
workload-identity accounts keep them), because a chart cannot name the URLs its pods are \
configured with at run time; `egress: strict` allows only DNS, the API server for RBAC-bound \
ServiceAccounts, the Services it names (env, args, ConfigMaps, Secrets) and `extraEgress`. A \
policy selects exactly its workload's pods (Job pods by `batch.kubernetes.io/job-name`, \
controller pods by the label their controller adds); when no selector is narrow enough nothing is \
generated. Workloads already selected by a chart NetworkPolicy get nothing (the NetworkPolicy \
audit checks those); Helm test hooks and hostNetwork pods are skipped. API-server egress is \
`0.0.0.0/0` on 443 and 6443 unless `apiServer.cidr` names the control plane.",
    options: "`generate.generate-network-policy`: `egress` (`open`, the default, or `strict`), \
`metadataCidrs` (default `[169.254.169.254/32, fd00:ec2::254/128]`; `[]` for workloads that use \
the node's cloud identity), `dns` (list of NetworkPolicyPeer; default namespace kube-system, pods \
`k8s-app: kube-dns`), `ingressFrom` (peers allowed to reach Service ports, with the clients \
the release names, and the declared ports no Service leads to; default: pods of any namespace; `[{podSelector: {}}]` narrows them to the \
same namespace), `apiServer` (`cidr`, `except`, `ports`; default \
`0.0.0.0/0`, 443 and 6443; `enabled: false` to never allow it), `extraEgress` (list of \
`{workloads: [names], cidr, except, to: [peers], ports: [443], protocol: TCP}`), `skipHooks` \
(also skip non-test hook workloads; default false).",
    severity: Severity::Warning,
    default_enabled: true,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ApiServer {
    #[serde(default = "yes")]
    pub(crate) enabled: bool,
    #[serde(default = "any_cidr")]
    pub(crate) cidr: String,
    #[serde(default)]
    pub(crate) except: Vec<String>,
    #[serde(default = "api_ports")]
    pub(crate) ports: Vec<i32>,
}

fn yes() -> bool {
    true
}
fn any_cidr() -> String {
    "0.0.0.0/0".to_string()
}
fn api_ports() -> Vec<i32> {
    vec![443, 6443]
}

impl Default for ApiServer {
    fn default() -> Self {
        ApiServer {
            enabled: true,
            cidr: any_cidr(),
            except: Vec::new(),
            ports: api_ports(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ExtraEgress {
    /// Workload names it applies to (empty: every workload).
    #[serde(default)]
    workloads: Vec<String>,
    #[serde(default)]
    cidr: Option<String>,
    #[serde(default)]
    except: Vec<String>,
    #[serde(default)]
    to: Vec<NetworkPolicyPeer>,
    #[serde(default)]
    ports: Vec<i32>,
    #[serde(default)]
    protocol: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Options {
    #[serde(default = "default_dns")]
    pub(crate) dns: Vec<NetworkPolicyPeer>,
    #[serde(default = "default_ingress_from")]
    pub(crate) ingress_from: Vec<NetworkPolicyPeer>,
    #[serde(default)]
    pub(crate) api_server: ApiServer,
    #[serde(default)]
    extra_egress: Vec<ExtraEgress>,
    #[serde(default)]
    skip_hooks: bool,
    #[serde(default)]
    pub(crate) egress: EgressMode,
    #[serde(default = "default_metadata")]
    metadata_cidrs: Vec<String>,
}

/// How much egress a generated policy allows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum EgressMode {
    /// Every destination but the cloud metadata endpoints (`metadataCidrs`): a chart cannot
    /// name every destination its workloads are configured with at run time.
    #[default]
    Open,
    /// Only what the release shows: DNS, the API server, the Services it names, `extraEgress`.
    Strict,
}

fn default_metadata() -> Vec<String> {
    vec!["169.254.169.254/32".into(), "fd00:ec2::254/128".into()]
}

impl Default for Options {
    fn default() -> Self {
        Options {
            dns: default_dns(),
            ingress_from: default_ingress_from(),
            api_server: ApiServer::default(),
            extra_egress: Vec::new(),
            skip_hooks: false,
            egress: EgressMode::Open,
            metadata_cidrs: default_metadata(),
        }
    }
}

fn match_labels(pairs: &[(&str, &str)]) -> LabelSelector {
    LabelSelector {
        match_labels: Some(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect(),
        ),
        match_expressions: None,
    }
}

fn default_dns() -> Vec<NetworkPolicyPeer> {
    vec![NetworkPolicyPeer {
        namespace_selector: Some(match_labels(&[(
            "kubernetes.io/metadata.name",
            "kube-system",
        )])),
        pod_selector: Some(match_labels(&[("k8s-app", "kube-dns")])),
        ip_block: None,
    }]
}

fn default_ingress_from() -> Vec<NetworkPolicyPeer> {
    vec![same_namespace_peer()]
}

fn same_namespace_peer() -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        pod_selector: Some(LabelSelector::default()),
        ..Default::default()
    }
}

fn is_same_namespace_peer(p: &NetworkPolicyPeer) -> bool {
    p.ip_block.is_none()
        && p.namespace_selector.is_none()
        && p.pod_selector.as_ref().is_some_and(|s| {
            s.match_labels.as_ref().is_none_or(|m| m.is_empty())
                && s.match_expressions.as_ref().is_none_or(|m| m.is_empty())
        })
}

pub(crate) fn np_port(p: &ResolvedPort) -> NetworkPolicyPort {
    NetworkPolicyPort {
        port: Some(match &p.port {
            PortRef::Num(n) => IntOrString::Int(i32::try_from(*n).unwrap_or(0)),
            PortRef::Name(s) => IntOrString::String(s.clone()),
        }),
        protocol: Some(p.protocol.clone()),
        end_port: None,
    }
}

pub(crate) fn show_ports(ps: &BTreeSet<ResolvedPort>) -> String {
    ps.iter()
        .map(|p| match &p.port {
            PortRef::Num(n) => format!("{n}/{}", p.protocol),
            PortRef::Name(s) => format!("{s}/{} (named)", p.protocol),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Services the API server calls (webhooks, aggregated APIs, CRD conversion): (namespace, name).
pub(crate) fn api_called_services(cx: &Context<'_>) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    let mut add = |svc: Option<&Value>| {
        if let Some(s) = svc {
            if let Some(n) = s.key("name").and_then(Value::as_str) {
                let ns = s.key("namespace").and_then(Value::as_str).unwrap_or("");
                out.insert((ns.to_string(), n.to_string()));
            }
        }
    };
    for (kind, objs) in &cx.inv.by_kind {
        for o in objs {
            let v = cx.value(o);
            match kind.as_str() {
                "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration" => {
                    for wh in v
                        .key("webhooks")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        add(wh.ptr("/clientConfig/service"));
                    }
                }
                "APIService" => add(v.ptr("/spec/service")),
                "CustomResourceDefinition" => {
                    add(v.ptr("/spec/conversion/webhook/clientConfig/service"))
                }
                _ => {}
            }
        }
    }
    out
}

pub(crate) fn service_peer(svc: &Service, from_ns: &str) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        pod_selector: Some(LabelSelector {
            match_labels: Some(svc.selector.to_btree()),
            match_expressions: None,
        }),
        namespace_selector: (!svc.namespace.is_empty()
            && !from_ns.is_empty()
            && svc.namespace != from_ns)
            .then(|| match_labels(&[("kubernetes.io/metadata.name", svc.namespace.as_str())])),
        ip_block: None,
    }
}

pub(crate) fn workload_peer(sel: LabelSelector, w_ns: &str, from_ns: &str) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        pod_selector: Some(sel),
        namespace_selector: (!w_ns.is_empty() && !from_ns.is_empty() && w_ns != from_ns)
            .then(|| match_labels(&[("kubernetes.io/metadata.name", w_ns)])),
        ip_block: None,
    }
}

pub(crate) fn peer_key(p: &NetworkPolicyPeer) -> String {
    serde_json::to_string(p).unwrap_or_default()
}

/// Accumulates rules keyed by peer, merging ports.
#[derive(Default)]
struct Rules {
    order: Vec<String>,
    by_peer: BTreeMap<String, (Option<NetworkPolicyPeer>, BTreeSet<ResolvedPort>)>,
}

impl Rules {
    fn add(
        &mut self,
        key: String,
        peer: Option<NetworkPolicyPeer>,
        ports: &BTreeSet<ResolvedPort>,
    ) {
        if !self.by_peer.contains_key(&key) {
            self.order.push(key.clone());
        }
        self.by_peer
            .entry(key)
            .or_insert_with(|| (peer, BTreeSet::new()))
            .1
            .extend(ports.iter().cloned());
    }

    /// True when some rule admits `port`.
    fn admits(&self, port: &ResolvedPort) -> bool {
        self.by_peer.values().any(|(_, ports)| ports.contains(port))
    }

    fn into_parts(self) -> Vec<(Option<NetworkPolicyPeer>, Vec<NetworkPolicyPort>)> {
        let mut by_peer = self.by_peer;
        self.order
            .into_iter()
            .filter_map(|k| by_peer.remove(&k))
            .map(|(p, ports)| (p, ports.iter().map(np_port).collect()))
            .collect()
    }
}

/// CH402.
pub struct GenerateNetworkPolicy;

/// A line of the report explaining one allow rule of a generated policy.
struct Edge {
    message: String,
}

impl Rule for GenerateNetworkPolicy {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context<'_>, out: &mut Sink) {
        let Some(opts) = options::<Options>(cx, &META, out) else {
            return;
        };
        let st = Stream::new(cx, &opts);
        for (wi, w) in workloads_indexed(cx, &META) {
            if w.is_test_hook() || (opts.skip_hooks && w.hook.is_some()) {
                continue;
            }
            if !st.needs_policy(w, out) {
                continue;
            }
            let Some(selector) = narrow_selector(cx, wi, w, out) else {
                continue;
            };
            let mut edges: Vec<Edge> = Vec::new();
            let mut ingress = st.ingress_rules(wi, w, &mut edges);
            let mut egress = st.egress_rules(wi, w, &mut edges);
            // The pods of one workload reach one another on ports no Service names
            // (clustering, gossip, replication: Elasticsearch's transport port, Kafka's
            // inter-broker listener): admit them from each other, on any port (and to each
            // other, where egress is strict; open egress admits them already).
            if let Some(why) = several_pods(cx, w) {
                let peers = Some(vec![NetworkPolicyPeer {
                    pod_selector: Some(selector.clone()),
                    ..Default::default()
                }]);
                if opts.egress != EgressMode::Open {
                    egress.push(NetworkPolicyEgressRule {
                        to: peers.clone(),
                        ports: None,
                    });
                }
                ingress.push(NetworkPolicyIngressRule {
                    from: peers,
                    ports: None,
                });
                edges.push(Edge {
                    message: format!(
                        "ingress between the pods of {} on any port: {why}, and replicas may talk to one another on ports no Service names (clustering, gossip, replication)",
                        wname(w)
                    ),
                });
            }
            st.emit_policy(w, selector, ingress, egress, edges, out);
        }
    }
}

/// Why the workload may run several pods, when it may: a StatefulSet or DaemonSet, an HPA
/// that scales it, or more than one replica.
fn several_pods(cx: &Context<'_>, w: &Workload) -> Option<String> {
    match w.object.resource.kind.as_str() {
        "StatefulSet" => return Some("it is a StatefulSet".into()),
        "DaemonSet" => return Some("it is a DaemonSet (a pod per node)".into()),
        _ => {}
    }
    if let Some(h) = cx.hpa_for(w) {
        return Some(format!(
            "HorizontalPodAutoscaler {} scales it",
            h.resource.name
        ));
    }
    w.replicas
        .filter(|n| *n > 1)
        .map(|n| format!("it runs {n} replicas"))
}

/// What CH402 reads about the whole stream, once per pass.
struct Stream<'a> {
    cx: &'a Context<'a>,
    opts: &'a Options,
    /// References by Service, looked up per workload (not scanned).
    refs_to: HashMap<usize, Vec<&'a Reference>>,
    /// References by client.
    refs_from: HashMap<usize, Vec<&'a Reference>>,
    /// Services the API server calls.
    api_called: BTreeSet<(String, String)>,
    /// The `ingressFrom` peers admit the whole namespace.
    default_covers_same_ns: bool,
    /// `ingressFrom` is set in the config.
    ingress_from_configured: bool,
}

impl<'a> Stream<'a> {
    fn new(cx: &'a Context<'a>, opts: &'a Options) -> Self {
        let mut refs_to: HashMap<usize, Vec<&Reference>> = HashMap::new();
        let mut refs_from: HashMap<usize, Vec<&Reference>> = HashMap::new();
        for r in cx.references() {
            refs_to.entry(r.service).or_default().push(r);
            refs_from.entry(r.from).or_default().push(r);
        }
        Stream {
            cx,
            opts,
            refs_to,
            refs_from,
            api_called: api_called_services(cx),
            default_covers_same_ns: opts.ingress_from.iter().any(is_same_namespace_peer),
            ingress_from_configured: cx
                .cfg
                .generate
                .get(META.name)
                .and_then(|v| v.get("ingressFrom"))
                .is_some(),
        }
    }

    /// False (with an Info finding) when a policy would not apply to the workload's pods
    /// (hostNetwork) or the chart already ships one selecting them; false without a finding
    /// when chart-harden generated one earlier.
    fn needs_policy(&self, w: &Workload, out: &mut Sink) -> bool {
        let cx = self.cx;
        let spec = cx.at(w.object.doc(), &w.pod_spec).unwrap_or(&Value::Null);
        if spec.key("hostNetwork").and_then(Value::as_bool) == Some(true) {
            let e = out.emit(
                &META,
                &w.object,
                &w.pod_spec.key("hostNetwork"),
                format!("{} uses hostNetwork: NetworkPolicies do not apply to its pods; nothing generated", wname(w)),
                None,
            );
            e.finding.severity = Severity::Info;
            return false;
        }
        let existing = cx.selecting("NetworkPolicy", "/spec/podSelector", w);
        if existing.iter().any(|o| is_generated(cx.value(o))) {
            return false;
        }
        if !existing.is_empty() {
            let names: Vec<String> = existing
                .iter()
                .map(|o| o.resource.name.to_string())
                .collect();
            let e = out.emit(
                &META,
                &w.object,
                &Path::root(),
                format!(
                    "{} is already selected by NetworkPolicy {}; nothing generated",
                    wname(w),
                    names.join(", ")
                ),
                None,
            );
            e.finding.severity = Severity::Info;
            return false;
        }
        true
    }

    /// The ingress rules of workload `wi`'s policy: its Services' clients, then the ports the
    /// workload facts open to any source and the metrics ports.
    fn ingress_rules(
        &self,
        wi: usize,
        w: &Workload,
        edges: &mut Vec<Edge>,
    ) -> Vec<NetworkPolicyIngressRule> {
        let mut ingress = Rules::default();
        self.service_ingress(wi, w, &mut ingress, edges);
        self.fact_ingress(wi, w, &mut ingress, edges);
        self.unserved_ingress(w, &mut ingress, edges);
        ingress
            .into_parts()
            .into_iter()
            .map(|(peer, ports)| NetworkPolicyIngressRule {
                from: peer.map(|p| vec![p]),
                ports: Some(ports),
            })
            .collect()
    }

    /// Ingress to the ports of the Services selecting the workload's pods: from any source
    /// (LoadBalancer, NodePort, called by the API server), from any namespace (a Service no
    /// workload names), else from the `ingressFrom` peers plus the named clients.
    fn service_ingress(&self, wi: usize, w: &Workload, ingress: &mut Rules, edges: &mut Vec<Edge>) {
        let (cx, inv, opts) = (self.cx, self.cx.inv, self.opts);
        // Only Services indexed under one of the workload's label pairs can select it.
        let mut svc_ix: Vec<usize> = w
            .labels
            .iter()
            .flat_map(|(k, v)| inv.services_by_pair.get(&w.namespace, k, v))
            .collect();
        svc_ix.sort_unstable();
        svc_ix.dedup();
        for (si, s) in svc_ix.into_iter().map(|si| (si, &inv.services[si])) {
            if s.selector.is_empty()
                || !(Inventory::same_namespace(&s.namespace, &w.namespace)
                    && crate::inventory::selects(&s.selector, &w.labels))
            {
                continue;
            }
            let ports: BTreeSet<ResolvedPort> =
                traffic::service_target_ports(cx.docs, inv, s, None, &[wi])
                    .into_iter()
                    .collect();
            if ports.is_empty() {
                continue;
            }
            let sv = cx.value(&s.object);
            let stype = sv
                .ptr("/spec/type")
                .and_then(Value::as_str)
                .unwrap_or("ClusterIP");
            let api = self
                .api_called
                .iter()
                .any(|(ns, n)| *n == s.name && Inventory::same_namespace(ns, &s.namespace));
            let from_anywhere = stype == "LoadBalancer" || stype == "NodePort" || api;
            // Whether the rule below admits every pod already (then the clients the release
            // names need no rule of their own).
            let every_pod = from_anywhere || !self.ingress_from_configured;
            if from_anywhere {
                let why = if api {
                    "the API server calls it (webhook / aggregated API)".to_string()
                } else {
                    format!("it is type {stype}")
                };
                ingress.add("any".into(), None, &ports);
                edges.push(Edge {
                    message: format!(
                        "ingress from any source to {} on {}: Service {} selects these pods and {why}",
                        wname(w),
                        show_ports(&ports),
                        s.name
                    ),
                });
            } else if !self.ingress_from_configured {
                // A Service's clients may live in any namespace (a database, a broker, an
                // identity server used by other applications): the chart cannot name them,
                // and a workload of the release that names it is no evidence that nothing
                // else does. Only the configuration narrows them (`ingressFrom`).
                let peer = NetworkPolicyPeer {
                    namespace_selector: Some(LabelSelector::default()),
                    ..Default::default()
                };
                ingress.add(peer_key(&peer), Some(peer), &ports);
                let why = if self.refs_to.contains_key(&si) {
                    "workloads of the release name it, but clients in other namespaces may too"
                } else {
                    "no workload of the release names it, so its clients are elsewhere"
                };
                edges.push(Edge {
                    message: format!(
                        "ingress to {} on {} from pods of any namespace: Service {} selects these pods and {why} (name the clients with `generate.generate-network-policy.ingressFrom`)",
                        wname(w),
                        show_ports(&ports),
                        s.name
                    ),
                });
            } else {
                for p in &opts.ingress_from {
                    ingress.add(peer_key(p), Some(p.clone()), &ports);
                }
                edges.push(Edge {
                    message: format!(
                        "ingress to {} on {} from {}: Service {} selects these pods",
                        wname(w),
                        show_ports(&ports),
                        if self.default_covers_same_ns && opts.ingress_from.len() == 1 {
                            "the same namespace".to_string()
                        } else {
                            "the configured ingressFrom peers".to_string()
                        },
                        s.name
                    ),
                });
            }
            // Clients the default peers do not already admit.
            let named = if every_pod {
                None
            } else {
                self.refs_to.get(&si)
            };
            for r in named.into_iter().flatten().copied() {
                let client = &inv.workloads[r.from];
                if self.default_covers_same_ns
                    && Inventory::same_namespace(&client.namespace, &w.namespace)
                {
                    continue;
                }
                let Some(csel) = pod_selector(cx, client) else {
                    continue;
                };
                let ports: BTreeSet<ResolvedPort> =
                    traffic::service_target_ports(cx.docs, inv, s, r.port, &[wi])
                        .into_iter()
                        .collect();
                let peer = workload_peer(csel, &client.namespace, &w.namespace);
                ingress.add(peer_key(&peer), Some(peer), &ports);
                edges.push(Edge {
                    message: format!(
                        "ingress to {} on {} from {}: {} names Service {} ({})",
                        wname(w),
                        show_ports(&ports),
                        wname(client),
                        r.via,
                        s.name,
                        r.host
                    ),
                });
            }
        }
    }

    /// Ingress the workload facts call for: ports reached from outside the namespace (from
    /// any source) and metrics ports (from pods of every namespace: the monitoring system's
    /// namespace is not in the chart).
    fn fact_ingress(&self, wi: usize, w: &Workload, ingress: &mut Rules, edges: &mut Vec<Edge>) {
        let facts = &self.cx.inv.facts.workloads[wi];
        for op in &facts.open_ports {
            let port = resolved(op);
            ingress.add("any".into(), None, &BTreeSet::from([port.clone()]));
            edges.push(Edge {
                message: format!(
                    "ingress from any source to {} on {}: {}",
                    wname(w),
                    show_ports(&BTreeSet::from([port])),
                    op.why
                ),
            });
        }
        for op in &facts.scrape_ports {
            let port = resolved(op);
            let peer = NetworkPolicyPeer {
                namespace_selector: Some(LabelSelector::default()),
                ..Default::default()
            };
            ingress.add(peer_key(&peer), Some(peer), &BTreeSet::from([port.clone()]));
            edges.push(Edge {
                message: format!(
                    "ingress from pods of any namespace to {} on {}: {}",
                    wname(w),
                    show_ports(&BTreeSet::from([port])),
                    op.why
                ),
            });
        }
    }

    /// Ingress to the ports the workload's containers declare that no rule above admits. A
    /// declared port is there to be reached, and no Service of the release leads to it, so
    /// its clients are out of the chart's sight: a Service another release or a GitOps
    /// overlay defines, clients that dial pod IPs. From pods of any namespace, as a Service
    /// port, or from the `ingressFrom` peers when they are configured.
    fn unserved_ingress(&self, w: &Workload, ingress: &mut Rules, edges: &mut Vec<Edge>) {
        let mut ports = BTreeSet::new();
        let declared =
            traffic::container_ports_of(self.cx.docs, w, |c| c.list != "ephemeralContainers");
        for (name, number, protocol) in declared {
            let by_name = name.map(|n| ResolvedPort {
                protocol: protocol.clone(),
                port: PortRef::Name(n),
            });
            let by_number = ResolvedPort {
                protocol,
                port: PortRef::Num(number),
            };
            if !(ingress.admits(&by_number) || by_name.is_some_and(|p| ingress.admits(&p))) {
                ports.insert(by_number);
            }
        }
        if ports.is_empty() {
            return;
        }
        let (peers, from) = if self.ingress_from_configured {
            (
                self.opts.ingress_from.clone(),
                "the configured ingressFrom peers",
            )
        } else {
            (
                vec![NetworkPolicyPeer {
                    namespace_selector: Some(LabelSelector::default()),
                    ..Default::default()
                }],
                "pods of any namespace",
            )
        };
        for p in peers {
            ingress.add(peer_key(&p), Some(p), &ports);
        }
        edges.push(Edge {
            message: format!(
                "ingress to {} on {} from {from}: its containers declare these ports and no Service of the release leads to them, so their clients are out of the chart's sight (a Service defined elsewhere, clients that dial pod IPs; name them with `generate.generate-network-policy.ingressFrom`)",
                wname(w),
                show_ports(&ports)
            ),
        });
    }

    /// The egress rules of workload `wi`'s policy: DNS, the Services it names, the API server,
    /// `extraEgress`, and (egress `open`) everything but the metadata endpoints. The last
    /// edge says which egress mode applies.
    fn egress_rules(
        &self,
        wi: usize,
        w: &Workload,
        edges: &mut Vec<Edge>,
    ) -> Vec<NetworkPolicyEgressRule> {
        let opts = self.opts;
        let mut egress = Rules::default();
        let dns_ports: BTreeSet<ResolvedPort> = ["UDP", "TCP"]
            .iter()
            .map(|p| ResolvedPort {
                protocol: (*p).to_string(),
                port: PortRef::Num(53),
            })
            .collect();
        for p in &opts.dns {
            egress.add(format!("dns:{}", peer_key(p)), Some(p.clone()), &dns_ports);
        }
        self.reference_egress(wi, w, &mut egress, edges);
        if opts.api_server.enabled {
            self.api_server_egress(w, &mut egress, edges);
        }
        self.extra_egress(w, &mut egress, edges);
        let mut egress_rules: Vec<NetworkPolicyEgressRule> = egress
            .into_parts()
            .into_iter()
            .map(|(peer, ports)| NetworkPolicyEgressRule {
                to: peer.map(|p| vec![p]),
                ports: (!ports.is_empty()).then_some(ports),
            })
            .collect();
        let strict_rules = egress_rules.len();
        let egress_evidence = if opts.egress == EgressMode::Open {
            let keep_metadata = metadata_needed(self.cx, wi, w);
            let except: &[String] = if keep_metadata.is_some() {
                &[]
            } else {
                &opts.metadata_cidrs
            };
            // The rules found stay (they document the evidence); one more admits the rest.
            egress_rules.push(open_egress_rule(except));
            match keep_metadata {
                Some(why) => format!(
                    "egress from {} stays open ({why}): the chart cannot name every destination its pods are configured with at run time; set `generate.generate-network-policy.egress: strict` to allow only the {} destination rules found (DNS, the API server, Services it names, extraEgress)",
                    wname(w),
                    strict_rules
                ),
                None => format!(
                    "egress from {} is open except the cloud metadata endpoints {}: the chart cannot name every destination its pods are configured with at run time (auth providers, URLs in values or Secrets); set `generate.generate-network-policy.egress: strict` to allow only the {} destination rules found (DNS, the API server, Services it names, extraEgress); a workload that authenticates with the node's cloud identity (instance metadata) needs `metadataCidrs: []`",
                    wname(w),
                    opts.metadata_cidrs.join(", "),
                    strict_rules
                ),
            }
        } else {
            format!(
                "egress from {} is limited to what the release shows (egress: strict): DNS, {} more destination rule(s); anything configured at run time (URLs in values or Secrets, external APIs) is cut unless listed in `extraEgress`",
                wname(w),
                egress_rules.len().saturating_sub(opts.dns.len())
            )
        };
        edges.push(Edge {
            message: egress_evidence,
        });
        egress_rules
    }

    /// Egress to the pods of the Services workload `wi` names.
    fn reference_egress(&self, wi: usize, w: &Workload, egress: &mut Rules, edges: &mut Vec<Edge>) {
        let (cx, inv) = (self.cx, self.cx.inv);
        for r in self.refs_from.get(&wi).into_iter().flatten().copied() {
            let s = &inv.services[r.service];
            if s.selector.is_empty() {
                edges.push(Edge {
                    message: format!(
                        "{} names Service {} ({}) via {}, but that Service selects no pods: no egress generated for it",
                        wname(&inv.workloads[r.from]),
                        s.name,
                        r.host,
                        r.via
                    ),
                });
                continue;
            }
            let targets = traffic::selected_workloads(inv, s);
            let ports: BTreeSet<ResolvedPort> =
                traffic::service_target_ports(cx.docs, inv, s, r.port, &targets)
                    .into_iter()
                    .collect();
            if ports.is_empty() {
                continue;
            }
            let peer = service_peer(s, &w.namespace);
            egress.add(peer_key(&peer), Some(peer), &ports);
            edges.push(Edge {
                message: format!(
                    "egress from {} to the pods of Service {} on {}: {} names it ({})",
                    wname(&inv.workloads[r.from]),
                    s.name,
                    show_ports(&ports),
                    r.via,
                    r.host
                ),
            });
        }
    }

    /// Egress to the API server when the workload's ServiceAccount is bound to a role.
    fn api_server_egress(&self, w: &Workload, egress: &mut Rules, edges: &mut Vec<Edge>) {
        let api = &self.opts.api_server;
        let Some(b) = self
            .cx
            .inv
            .bindings_for(&w.namespace, &w.service_account)
            .into_iter()
            .next()
        else {
            return;
        };
        let first = format!(
            "ServiceAccount {} is bound to {} {} by {} {}",
            w.service_account,
            b.role_kind,
            b.role_name,
            b.object.resource.kind,
            b.object.resource.name
        );
        let peer = NetworkPolicyPeer {
            ip_block: Some(IPBlock {
                cidr: api.cidr.clone(),
                except: (!api.except.is_empty()).then(|| api.except.clone()),
            }),
            ..Default::default()
        };
        let ports: BTreeSet<ResolvedPort> = api
            .ports
            .iter()
            .map(|p| ResolvedPort {
                protocol: "TCP".into(),
                port: PortRef::Num(i64::from(*p)),
            })
            .collect();
        egress.add(peer_key(&peer), Some(peer), &ports);
        edges.push(Edge {
            message: format!(
                "egress from {} to the Kubernetes API server ({} on {}): {first}",
                wname(w),
                api.cidr,
                show_ports(&ports)
            ),
        });
    }

    /// The configured `extraEgress` entries that apply to the workload.
    fn extra_egress(&self, w: &Workload, egress: &mut Rules, edges: &mut Vec<Edge>) {
        for (xi, x) in self.opts.extra_egress.iter().enumerate() {
            if !x.workloads.is_empty() && !x.workloads.iter().any(|n| *n == w.object.resource.name)
            {
                continue;
            }
            let protocol = x.protocol.clone().unwrap_or_else(|| "TCP".into());
            let ports: BTreeSet<ResolvedPort> = x
                .ports
                .iter()
                .map(|p| ResolvedPort {
                    protocol: protocol.clone(),
                    port: PortRef::Num(i64::from(*p)),
                })
                .collect();
            let mut peers: Vec<NetworkPolicyPeer> = x.to.clone();
            if let Some(c) = &x.cidr {
                peers.push(NetworkPolicyPeer {
                    ip_block: Some(IPBlock {
                        cidr: c.clone(),
                        except: (!x.except.is_empty()).then(|| x.except.clone()),
                    }),
                    ..Default::default()
                });
            }
            let shown = if ports.is_empty() {
                "all ports".to_string()
            } else {
                show_ports(&ports)
            };
            for p in peers {
                let key = format!("extra{xi}:{}", peer_key(&p));
                egress.add(key, Some(p), &ports);
            }
            if x.to.is_empty() && x.cidr.is_none() {
                egress.add(format!("extra{xi}:any"), None, &ports);
            }
            edges.push(Edge {
                message: format!(
                    "egress from {} to {} on {shown}: extraEgress[{xi}] in the config",
                    wname(w),
                    x.cidr
                        .clone()
                        .unwrap_or_else(|| "the configured peers".into())
                ),
            });
        }
    }

    /// Emits the finding with the generated policy as its fix, then the evidence.
    fn emit_policy(
        &self,
        w: &Workload,
        selector: LabelSelector,
        ingress_rules: Vec<NetworkPolicyIngressRule>,
        egress_rules: Vec<NetworkPolicyEgressRule>,
        edges: Vec<Edge>,
        out: &mut Sink,
    ) {
        let name = format!("{}{}", w.object.resource.name, super::NAME_SUFFIX);
        let n_in = ingress_rules.len();
        let n_out = egress_rules.len();
        let np = NetworkPolicy {
            metadata: generated_meta(
                name.clone(),
                w.object.resource.namespace.as_deref().map(String::from),
                self.cx.value(&w.object),
            ),
            spec: Some(NetworkPolicySpec {
                pod_selector: Some(selector),
                policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
                ingress: (!ingress_rules.is_empty()).then_some(ingress_rules),
                egress: (!egress_rules.is_empty()).then_some(egress_rules),
            }),
        };
        let e = out.emit(
            &META,
            &w.object,
            &Path::root(),
            format!(
                "{} has no NetworkPolicy: generate {name} (default deny; {n_in} ingress and {n_out} egress allow rules, {} inferred edges)",
                wname(w),
                edges.len()
            ),
            Some(Fix {
                applicability: Applicability::Unsafe,
                ops: Vec::new(),
                generated: vec![Generated::new(self.cx, super::to_value(&np))],
            }),
        );
        e.finding.suggestion = crate::finding::suggest(
            "review the inferred edges below; allow other clients with `ingressFrom` and external endpoints with `extraEgress`",
        );
        if n_in == 0 {
            let e = out.emit(
                &META,
                &w.object,
                &Path::root(),
                format!(
                    "{}: no Service selects its pods, so the policy allows no ingress",
                    wname(w)
                ),
                None,
            );
            e.finding.severity = Severity::Info;
        }
        for edge in edges {
            let e = out.emit(&META, &w.object, &Path::root(), edge.message, None);
            e.finding.severity = Severity::Info;
        }
    }
}

/// A fact's port as a policy rule's port.
fn resolved(op: &OpenPort) -> ResolvedPort {
    ResolvedPort {
        protocol: op.protocol.clone(),
        port: match &op.port {
            PortSpec::Num(n) => PortRef::Num(*n),
            PortSpec::Name(n) => PortRef::Name(n.clone()),
        },
    }
}

/// An egress rule admitting every destination (pods of every namespace, every address) but
/// the addresses of `except`.
fn open_egress_rule(except: &[String]) -> NetworkPolicyEgressRule {
    let block = |cidr: &str, v6: bool| NetworkPolicyPeer {
        ip_block: Some(IPBlock {
            cidr: cidr.to_string(),
            except: {
                let e: Vec<String> = except
                    .iter()
                    .filter(|c| c.contains(':') == v6)
                    .cloned()
                    .collect();
                (!e.is_empty()).then_some(e)
            },
        }),
        ..Default::default()
    };
    NetworkPolicyEgressRule {
        to: Some(vec![
            NetworkPolicyPeer {
                namespace_selector: Some(LabelSelector::default()),
                ..Default::default()
            },
            block("0.0.0.0/0", false),
            block("::/0", true),
        ]),
        ports: None,
    }
}

/// Why a workload needs the cloud metadata endpoint, when the release says so: node agents
/// (they read instance metadata for host names and tags) and workload identity on GKE (the
/// metadata server hands out the credentials).
fn metadata_needed(cx: &Context<'_>, wi: usize, w: &Workload) -> Option<String> {
    if let Some(why) = &cx.inv.facts.workloads[wi].unrestrictable {
        return Some(format!("a node agent reads instance metadata: {why}"));
    }
    let sa = cx.inv.service_account_of(w)?;
    let ann = cx.value(sa).ptr("/metadata/annotations")?;
    ann.key("iam.gke.io/gcp-service-account").map(|_| {
        format!(
            "ServiceAccount {} uses GKE workload identity (iam.gke.io/gcp-service-account): its credentials come from the metadata server",
            w.service_account
        )
    })
}

/// The selector of the policy generated for workload `wi`: one that selects exactly its pods.
/// A Job's pods carry `batch.kubernetes.io/job-name`; other workloads' selectors are
/// narrowed to their full pod-template labels, and exclude Job pods when only Jobs share
/// them. `None` (with a finding) when no selector is narrow enough: the policy would isolate
/// pods of other workloads, which the report would then say it leaves alone.
fn narrow_selector(
    cx: &Context<'_>,
    wi: usize,
    w: &Workload,
    out: &mut Sink,
) -> Option<LabelSelector> {
    let inv = cx.inv;
    let Some(base) = pod_selector(cx, w) else {
        let e = out.emit(
            &META,
            &w.object,
            &w.template.key("metadata").key("labels"),
            format!(
                "{} has no selector and no pod labels: a policy could only select the whole namespace; nothing generated",
                wname(w)
            ),
            None,
        );
        e.finding.severity = Severity::Info;
        return None;
    };
    let others = |sel: &LabelSelector| -> Vec<usize> {
        let v = selector_value(sel);
        inv.workload_candidates(&w.namespace, sel.match_labels.as_ref())
            .into_iter()
            .filter(|&i| {
                let x = &inv.workloads[i];
                i != wi
                    && Inventory::same_namespace(&x.namespace, &w.namespace)
                    && label_selector_matches(&v, &x.labels)
            })
            .collect()
    };
    let job_name = if w.object.resource.kind == "Job" {
        Some(w.object.resource.name.to_string())
    } else {
        None
    };
    let mut tried: Vec<LabelSelector> = Vec::new();
    let mut full = LabelSelector {
        match_labels: Some(w.template_labels()),
        match_expressions: None,
    };
    let mut first = base;
    if let Some(n) = &job_name {
        for s in [&mut first, &mut full] {
            s.match_labels
                .get_or_insert_with(Default::default)
                .insert(crate::inventory::JOB_NAME_LABEL.to_string(), n.clone());
        }
    }
    tried.push(first);
    if !w.labels.is_empty() {
        tried.push(full);
    }
    let mut last_others = Vec::new();
    for sel in tried {
        let o = others(&sel);
        if o.is_empty() {
            return Some(sel);
        }
        // Pods of a Deployment, StatefulSet or DaemonSet carry a label their controller
        // adds: requiring it leaves out bare Pods, Jobs and other kinds with the same labels.
        if let Some(k) = crate::inventory::controller_label(&w.object.resource.kind) {
            let mut sel = sel;
            sel.match_expressions.get_or_insert_with(Vec::new).push(
                k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement {
                    key: k.to_string(),
                    operator: "Exists".into(),
                    values: None,
                },
            );
            let o2 = others(&sel);
            if o2.is_empty() {
                return Some(sel);
            }
            last_others = o2;
            continue;
        }
        last_others = o;
    }
    let names: Vec<String> = last_others
        .iter()
        .map(|&i| wname(&inv.workloads[i]))
        .collect();
    let e = out.emit(
        &META,
        &w.object,
        &w.template.key("metadata").key("labels"),
        format!(
            "{}: no label selector selects only its pods (its pod labels also match {}); nothing generated, so no other pod is isolated by a policy made for this one",
            wname(w),
            names.join(", ")
        ),
        None,
    );
    e.finding.severity = Severity::Warning;
    e.finding.suggestion = crate::finding::suggest(
        "give the workload's pod template a label no other pod carries (e.g. app.kubernetes.io/component)",
    );
    None
}
