//! CH603 netpol-cut-traffic: the chart's own NetworkPolicies isolate a workload but do not
//! allow what it needs (its Services' ports, DNS over UDP and TCP, the Services it names, the
//! API server when its ServiceAccount has RBAC). Repaired with one supplementing policy per
//! workload that allows exactly the missing traffic.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde_json::Value;

use crate::finding::{Applicability, Severity};
use crate::inventory::netpol::{self, Direction, Pod};
use crate::inventory::traffic::{self, PortRef, ResolvedPort};
use crate::inventory::{label_selector_matches, Inventory};
use crate::rules::guards::network_policy::{
    self as np, api_called_services, np_port, peer_key, service_peer, show_ports, workload_peer,
};
use crate::rules::guards::{
    generated_meta, is_generated, options, pod_selector, selector_value, wname,
};
use crate::rules::{workloads_indexed, Context, Fix, Generated, Rule, RuleMeta, Sink};
use crate::yaml::view::ValueExt;
use crate::yaml::Path;

/// Suffix of a supplementing policy's name (`<workload>-chart-harden-supplement`).
pub const SUPPLEMENT_SUFFIX: &str = "-chart-harden-supplement";

/// Annotation naming the chart policies a supplement completes.
const SUPPLEMENTS_ANNOTATION: &str = "chart-harden.io/supplements";

pub(crate) static META: RuleMeta = RuleMeta {
    code: "CH603",
    name: "netpol-cut-traffic",
    group: "audit",
    summary: "A workload isolated by the chart's NetworkPolicies whose Service ports, DNS (UDP and TCP 53), inferred egress to the release's Services or API-server access are allowed by no policy gets a supplementing policy allowing exactly that.",
    why: "A chart that ships a default deny but allows the wrong ports, only DNS over UDP (large \
answers and some resolvers need TCP), or reaches the API server with a namespace selector (which \
never matches it) cuts its own traffic: the workload starts and then fails or times out at run \
time, far from the cause.",
    example: "# NetworkPolicy app (chart): egress DNS 53/UDP only, no API server rule → generated:\n\
kind: NetworkPolicy\nmetadata:\n  name: app-chart-harden-supplement\nspec:\n  podSelector:\n    matchLabels: {app: app}\n\
  policyTypes: [Egress]\n  egress:\n  - to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}, podSelector: {matchLabels: {k8s-app: kube-dns}}}]\n\
    ports: [{port: 53, protocol: TCP}]\n  - to: [{ipBlock: {cidr: 0.0.0.0/0}}]\n    ports: [{port: 443, protocol: TCP}, {port: 6443, protocol: TCP}]",
    fix: Applicability::Safe,
    fix_also_safe: false,
    fix_notes: "Safe: NetworkPolicies are additive, and the supplement only declares directions \
in which the pods it selects are already isolated, so it can only allow more; the chart's own \
policies are never changed or removed. It allows exactly the traffic found missing: Service ports \
from the `ingressFrom` peers of generate-network-policy (any source for LoadBalancer/NodePort \
Services and Services the API server calls), inferred clients, DNS to the configured `dns` peers, \
inferred Services, and the configured `apiServer` range. When the workload's selector would also \
select pods that are not isolated, nothing is generated (that would cut them) and the gap is \
reported.",
    options: "Uses `generate.generate-network-policy` (`dns`, `ingressFrom`, `apiServer`).",
    severity: Severity::Error,
    default_enabled: true,
};

/// Rules keyed by peer, merging ports.
#[derive(Default)]
struct Acc {
    order: Vec<String>,
    by_peer: BTreeMap<String, (Option<NetworkPolicyPeer>, BTreeSet<ResolvedPort>)>,
}

impl Acc {
    fn add(&mut self, peer: Option<NetworkPolicyPeer>, port: ResolvedPort) {
        let key = peer.as_ref().map_or_else(|| "any".to_string(), peer_key);
        if !self.by_peer.contains_key(&key) {
            self.order.push(key.clone());
        }
        self.by_peer
            .entry(key)
            .or_insert_with(|| (peer, BTreeSet::new()))
            .1
            .insert(port);
    }

    fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    fn parts(
        &self,
    ) -> Vec<(
        Option<Vec<NetworkPolicyPeer>>,
        Vec<k8s_openapi::api::networking::v1::NetworkPolicyPort>,
    )> {
        self.order
            .iter()
            .filter_map(|k| self.by_peer.get(k))
            .map(|(p, ports)| {
                (
                    p.clone().map(|p| vec![p]),
                    ports.iter().map(np_port).collect(),
                )
            })
            .collect()
    }
}

fn rport(port: i64, proto: &str) -> ResolvedPort {
    ResolvedPort {
        protocol: proto.to_string(),
        port: PortRef::Num(port),
    }
}

fn build(
    meta: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    selector: LabelSelector,
    ingress: &Acc,
    egress: &Acc,
) -> NetworkPolicy {
    let mut types = Vec::new();
    if !ingress.is_empty() {
        types.push("Ingress".to_string());
    }
    if !egress.is_empty() {
        types.push("Egress".to_string());
    }
    let ing: Vec<NetworkPolicyIngressRule> = ingress
        .parts()
        .into_iter()
        .map(|(from, ports)| NetworkPolicyIngressRule {
            from,
            ports: Some(ports),
        })
        .collect();
    let eg: Vec<NetworkPolicyEgressRule> = egress
        .parts()
        .into_iter()
        .map(|(to, ports)| NetworkPolicyEgressRule {
            to,
            ports: Some(ports),
        })
        .collect();
    NetworkPolicy {
        metadata: meta,
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(selector),
            policy_types: Some(types),
            ingress: (!ing.is_empty()).then_some(ing),
            egress: (!eg.is_empty()).then_some(eg),
        }),
    }
}

/// A configured DNS peer as the evaluator sees it: `Ok((pod labels, namespace))` for pods,
/// `Err(cidr)` for an address range.
type DnsTarget = Result<(BTreeMap<String, String>, String), String>;

fn dns_target(p: &NetworkPolicyPeer) -> Option<DnsTarget> {
    if let Some(b) = &p.ip_block {
        return Some(Err(b.cidr.clone()));
    }
    let labels = p
        .pod_selector
        .as_ref()
        .and_then(|s| s.match_labels.clone())
        .unwrap_or_default();
    let ns = p
        .namespace_selector
        .as_ref()
        .and_then(|s| s.match_labels.as_ref())
        .and_then(|m| m.get("kubernetes.io/metadata.name").cloned())
        .unwrap_or_else(|| "kube-system".to_string());
    Some(Ok((labels, ns)))
}

/// CH603.
pub struct NpCutTraffic;

impl Rule for NpCutTraffic {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context<'_>, out: &mut Sink) {
        let inv = cx.inv;
        if !inv.by_kind.contains_key("NetworkPolicy") {
            return;
        }
        let Some(opts) = options::<np::Options>(cx, &np::META, out) else {
            return;
        };
        let policies = netpol::policies(cx.docs, inv);
        if policies.iter().all(|(_, v)| is_generated(v)) {
            return;
        }
        let refs = cx.references();
        // Which workloads each Service selects, once (not per workload × reference).
        let targets: Vec<Vec<usize>> = inv
            .services
            .iter()
            .map(|s| traffic::selected_workloads(inv, s))
            .collect();
        // References arriving at each workload (through a Service that selects it).
        let mut incoming: Vec<Vec<usize>> = vec![Vec::new(); inv.workloads.len()];
        for (ri, r) in refs.iter().enumerate() {
            for &t in &targets[r.service] {
                incoming[t].push(ri);
            }
        }
        let api_called = api_called_services(cx);
        // Per workload, once: skipped (test hook, hostNetwork, no labels) and its pods.
        let skipped: Vec<bool> = inv
            .workloads
            .iter()
            .map(|w| w.is_test_hook() || netpol::host_network(cx.docs, w) || w.labels.is_empty())
            .collect();
        let pods: Vec<Pod<'_>> = inv.workloads.iter().map(|w| Pod::of(cx.docs, w)).collect();
        // Every selector evaluated once: which policies select each workload's pods, which
        // policies the chart ships (not generated), and their names (`policies` order).
        let selecting: Vec<Vec<usize>> = pods
            .iter()
            .map(|p| netpol::selecting(&policies, p))
            .collect();
        let from_chart: Vec<bool> = policies.iter().map(|(_, v)| !is_generated(v)).collect();
        let names: Vec<&str> = inv
            .by_kind
            .get("NetworkPolicy")
            .into_iter()
            .flatten()
            .map(|o| o.resource.name.as_str())
            .collect();
        // Whether each workload is isolated (ingress, egress) by any policy: computed once,
        // when the first supplement is considered, not once per candidate × workload.
        let isolation: std::cell::OnceCell<Vec<(bool, bool)>> = std::cell::OnceCell::new();
        // Each workload's pod selector, read when first needed (clients are met once per
        // reference).
        let selectors: Vec<std::cell::OnceCell<Option<LabelSelector>>> =
            inv.workloads.iter().map(|_| Default::default()).collect();
        let selector_of =
            |i: usize| selectors[i].get_or_init(|| pod_selector(cx, &inv.workloads[i]));
        for (wi, w) in workloads_indexed(cx, &META) {
            if skipped[wi] {
                continue;
            }
            let pod = &pods[wi];
            let chart_sel: Vec<usize> = selecting[wi]
                .iter()
                .copied()
                .filter(|&i| from_chart[i])
                .collect();
            let side = |sel: &[usize], dir| netpol::Side::of_selecting(&policies, sel, dir);
            let chart_ing = side(&chart_sel, Direction::Ingress).isolated();
            let chart_eg = side(&chart_sel, Direction::Egress).isolated();
            if !chart_ing && !chart_eg {
                continue;
            }
            let isolating: Vec<String> = chart_sel
                .iter()
                .filter_map(|&i| names.get(i))
                .map(|n| n.to_string())
                .collect();
            // This pod's sides under every policy, found once for all the questions below.
            let pod_in = side(&selecting[wi], Direction::Ingress);
            let pod_eg = side(&selecting[wi], Direction::Egress);
            let mut missing: Vec<String> = Vec::new();
            let mut ingress = Acc::default();
            let mut egress = Acc::default();
            if chart_ing {
                // Service ports.
                for s in inv.services_for(w) {
                    let sv = cx.value(&s.object);
                    let stype = sv
                        .ptr("/spec/type")
                        .and_then(Value::as_str)
                        .unwrap_or("ClusterIP");
                    let any = stype == "LoadBalancer"
                        || stype == "NodePort"
                        || api_called.iter().any(|(ns, n)| {
                            *n == s.name && Inventory::same_namespace(ns, &s.namespace)
                        });
                    for (port, proto) in netpol::target_ports(s, None, &pod.ports) {
                        if pod_in.port_open(&pod.ports, port, &proto) {
                            continue;
                        }
                        missing.push(format!(
                            "ingress on {port}/{proto} (Service {} port){}",
                            s.name,
                            if any { " from any source" } else { "" }
                        ));
                        if any {
                            ingress.add(None, rport(port, &proto));
                        } else {
                            for p in &opts.ingress_from {
                                ingress.add(Some(p.clone()), rport(port, &proto));
                            }
                        }
                    }
                }
            }
            let selector = selector_of(wi).clone();
            let ns_eff = w.namespace.clone();
            if chart_ing {
                // Inferred clients, judged with the Service-port rules found so far.
                let draft = selector.clone().map(|sel| {
                    crate::rules::guards::to_value(&build(
                        Default::default(),
                        sel,
                        &ingress,
                        &Acc::default(),
                    ))
                });
                let mut with_draft = policies.clone();
                if let Some(d) = &draft {
                    if !ingress.is_empty() {
                        with_draft.push((ns_eff.as_str().into(), d));
                    }
                }
                let mut draft_sel = selecting[wi].clone();
                if let Some((ns, d)) = with_draft.get(policies.len()) {
                    if netpol::policy_selects(ns, d, pod) {
                        draft_sel.push(policies.len());
                    }
                }
                let in_draft =
                    netpol::Side::of_selecting(&with_draft, &draft_sel, Direction::Ingress);
                for r in incoming[wi].iter().map(|&ri| &refs[ri]) {
                    let s = &inv.services[r.service];
                    let client = &inv.workloads[r.from];
                    if skipped[r.from] {
                        continue;
                    }
                    let cpod = &pods[r.from];
                    let Some(csel) = selector_of(r.from) else {
                        continue;
                    };
                    for (port, proto) in netpol::target_ports(s, r.port, &pod.ports) {
                        if in_draft.allows(cpod, &pod.ports, port, &proto) {
                            continue;
                        }
                        missing.push(format!(
                            "ingress on {port}/{proto} from {} ({} names Service {})",
                            wname(client),
                            r.via,
                            s.name
                        ));
                        ingress.add(
                            Some(workload_peer(csel.clone(), &client.namespace, &w.namespace)),
                            rport(port, &proto),
                        );
                    }
                }
            }
            if chart_eg {
                // DNS over UDP and TCP.
                for proto in ["UDP", "TCP"] {
                    let ok = opts.dns.iter().filter_map(dns_target).any(|t| match t {
                        Err(cidr) => pod_eg.allows_cidr(&cidr, 53, proto),
                        Ok((labels, ns)) => {
                            let d = Pod {
                                ns: &ns,
                                labels: &labels,
                                ports: vec![],
                                foreign: true,
                            };
                            pod_eg.allows(&d, &d.ports, 53, proto)
                        }
                    });
                    if !ok {
                        missing.push(format!("DNS egress on 53/{proto}"));
                        for p in &opts.dns {
                            egress.add(Some(p.clone()), rport(53, proto));
                        }
                    }
                }
                // Inferred Services.
                for r in refs.iter().filter(|r| r.from == wi) {
                    let s = &inv.services[r.service];
                    for &ti in &targets[r.service] {
                        if skipped[ti] {
                            continue;
                        }
                        let tpod = &pods[ti];
                        for (port, proto) in netpol::target_ports(s, r.port, &tpod.ports) {
                            if pod_eg.allows(tpod, &tpod.ports, port, &proto) {
                                continue;
                            }
                            missing.push(format!(
                                "egress to Service {} on {port}/{proto} ({} names it)",
                                s.name, r.via
                            ));
                            egress.add(Some(service_peer(s, &w.namespace)), rport(port, &proto));
                        }
                    }
                }
                // The API server.
                if opts.api_server.enabled {
                    if let Some(b) = inv.bindings_for(&w.namespace, &w.service_account).first() {
                        for p in &opts.api_server.ports {
                            let port = i64::from(*p);
                            if pod_eg.allows_cidr(&opts.api_server.cidr, port, "TCP") {
                                continue;
                            }
                            missing.push(format!(
                                "egress to the API server on {port}/TCP (ServiceAccount {} is bound to {} {})",
                                w.service_account, b.role_kind, b.role_name
                            ));
                            egress.add(
                                Some(NetworkPolicyPeer {
                                    ip_block: Some(IPBlock {
                                        cidr: opts.api_server.cidr.clone(),
                                        except: (!opts.api_server.except.is_empty())
                                            .then(|| opts.api_server.except.clone()),
                                    }),
                                    ..Default::default()
                                }),
                                rport(port, "TCP"),
                            );
                        }
                    }
                }
            }
            if missing.is_empty() {
                continue;
            }
            let mut seen = BTreeSet::new();
            missing.retain(|m| seen.insert(m.clone()));
            let name = format!("{}{SUPPLEMENT_SUFFIX}", w.object.resource.name);
            let head = format!(
                "{} is isolated by NetworkPolicy {} but no policy allows: {}",
                wname(w),
                isolating.join(", "),
                missing.join("; ")
            );
            let exists = inv
                .by_kind
                .get("NetworkPolicy")
                .into_iter()
                .flatten()
                .any(|o| {
                    o.resource.name == name
                        && Inventory::same_namespace(&inv.namespace_of(&o.resource), &w.namespace)
                });
            if exists {
                let e = out.emit(
                    &META,
                    &w.object.resource,
                    &Path::root(),
                    format!("{head}; NetworkPolicy {name} exists and does not cover it"),
                    None,
                );
                e.finding.suggestion = Some("allow the traffic in the chart's policy".into());
                continue;
            }
            // The supplement may only select pods already isolated in its directions.
            let iso = isolation.get_or_init(|| {
                selecting
                    .iter()
                    .map(|sel| {
                        (
                            netpol::Side::of_selecting(&policies, sel, Direction::Ingress)
                                .isolated(),
                            netpol::Side::of_selecting(&policies, sel, Direction::Egress)
                                .isolated(),
                        )
                    })
                    .collect()
            });
            let safe_for = |sel: &LabelSelector| {
                let sv = selector_value(sel);
                inv.workloads.iter().zip(iso).all(|(x, &(iso_in, iso_eg))| {
                    if !Inventory::same_namespace(&x.namespace, &w.namespace)
                        || !label_selector_matches(&sv, &x.labels)
                    {
                        return true;
                    }
                    (ingress.is_empty() || iso_in) && (egress.is_empty() || iso_eg)
                })
            };
            let full = LabelSelector {
                match_labels: Some(w.template_labels()),
                match_expressions: None,
            };
            let chosen = match selector {
                Some(s) if safe_for(&s) => Some(s),
                _ if safe_for(&full) => Some(full),
                _ => None,
            };
            let Some(sel) = chosen else {
                let e = out.emit(
                    &META,
                    &w.object.resource,
                    &Path::root(),
                    format!("{head}; no supplement generated: a policy selecting these pods would also isolate pods the chart leaves open"),
                    None,
                );
                e.finding.suggestion = Some("allow the traffic in the chart's policy".into());
                continue;
            };
            let mut md = generated_meta(
                name.clone(),
                w.object.resource.namespace.clone(),
                cx.value(&w.object),
            );
            md.annotations = Some(BTreeMap::from([(
                SUPPLEMENTS_ANNOTATION.to_string(),
                isolating.join(", "),
            )]));
            let policy = build(md, sel, &ingress, &egress);
            let mut ports_in: BTreeSet<ResolvedPort> = BTreeSet::new();
            for (_, ps) in ingress.by_peer.values() {
                ports_in.extend(ps.iter().cloned());
            }
            let mut ports_out: BTreeSet<ResolvedPort> = BTreeSet::new();
            for (_, ps) in egress.by_peer.values() {
                ports_out.extend(ps.iter().cloned());
            }
            let e = out.emit(
                &META,
                &w.object.resource,
                &Path::root(),
                format!(
                    "{head}: the chart cuts its own traffic; generate {name} allowing exactly that (ingress: {}; egress: {})",
                    if ports_in.is_empty() { "none".to_string() } else { show_ports(&ports_in) },
                    if ports_out.is_empty() { "none".to_string() } else { show_ports(&ports_out) },
                ),
                Some(Fix {
                    applicability: Applicability::Safe,
                    ops: Vec::new(),
                    generated: vec![Generated {
                        value: crate::rules::guards::to_value(&policy),
                    }],
                }),
            );
            e.finding.suggestion = Some(format!(
                "fix NetworkPolicy {} in the chart so that the supplement becomes unnecessary",
                isolating.join(", ")
            ));
        }
    }
}
