//! CH603 netpol-cut-traffic: the chart's own NetworkPolicies isolate a workload but do not
//! allow what it needs (its Services' ports, DNS over UDP and TCP, the Services it names, the
//! API server when its ServiceAccount has RBAC). Repaired with one supplementing policy per
//! workload that allows exactly the missing traffic.

use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::yaml::Value;
use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use crate::finding::{Applicability, Severity};
use crate::inventory::netpol::{self, Direction, Pod, Side};
use crate::inventory::traffic::{self, PortRef, Reference, ResolvedPort};
use crate::inventory::{is_generated, label_selector_matches, Inventory, Workload};
use crate::rules::guards::network_policy::{
    self as np, api_called_services, np_port, peer_key, service_peer, show_ports, workload_peer,
};
use crate::rules::guards::{generated_meta, options, pod_selector, selector_value, wname};
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

    /// Every port of every rule (`none` when there is no rule), for the report.
    fn shown_ports(&self) -> String {
        let mut ports: BTreeSet<ResolvedPort> = BTreeSet::new();
        for (_, ps) in self.by_peer.values() {
            ports.extend(ps.iter().cloned());
        }
        if ports.is_empty() {
            "none".to_string()
        } else {
            show_ports(&ports)
        }
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
        if !cx.inv.by_kind.contains_key("NetworkPolicy") {
            return;
        }
        let Some(opts) = options::<np::Options>(cx, &np::META, out) else {
            return;
        };
        let Some(st) = Stream::new(cx, opts) else {
            return;
        };
        for (wi, w) in workloads_indexed(cx, &META) {
            if st.skipped[wi] {
                continue;
            }
            let Some(iso) = st.isolated_by_chart(wi) else {
                continue;
            };
            let selector = st.selector_of(wi).clone();
            let mut gap = Gap::default();
            if iso.ingress {
                st.missing_service_ports(wi, w, &iso, &mut gap);
                st.missing_clients(wi, w, selector.as_ref(), &mut gap);
            }
            if iso.egress {
                st.missing_dns(&iso, &mut gap);
                st.missing_services(wi, w, &iso, &mut gap);
                st.missing_api_server(w, &iso, &mut gap);
            }
            if gap.missing.is_empty() {
                continue;
            }
            st.supplement(w, &iso.isolating, selector, gap, out);
        }
    }
}

/// The stream as CH603 sees it, read once per pass: the policies, the Service references and,
/// per workload, its pods, the policies selecting them and whether it is left out.
struct Stream<'a> {
    cx: &'a Context<'a>,
    inv: &'a Inventory,
    opts: np::Options,
    policies: Vec<(Arc<str>, &'a Value)>,
    refs: &'a [Reference],
    /// Which workloads each Service selects, once (not per workload × reference).
    targets: Vec<Vec<usize>>,
    /// References arriving at each workload (through a Service that selects it).
    incoming: Vec<Vec<usize>>,
    /// References each workload makes (not a scan of every reference per workload).
    outgoing: Vec<Vec<usize>>,
    /// Services the API server calls.
    api_called: BTreeSet<(String, String)>,
    /// Per workload: left out (test hook, hostNetwork, no labels).
    skipped: Vec<bool>,
    /// Per workload: its pods.
    pods: Vec<Pod<'a>>,
    /// Per workload: which policies select its pods (every selector evaluated once).
    selecting: Vec<Vec<usize>>,
    /// Per policy (`policies` order): shipped by the chart (not generated).
    from_chart: Vec<bool>,
    /// Per policy: its name.
    names: Vec<&'a str>,
    /// Whether each workload is isolated (ingress, egress) by any policy: computed once,
    /// when the first supplement is considered, not once per candidate × workload.
    isolation: OnceCell<Vec<(bool, bool)>>,
    /// Each workload's pod selector, read when first needed (clients are met once per
    /// reference).
    selectors: Vec<OnceCell<Option<LabelSelector>>>,
}

/// A workload the chart's own policies isolate.
struct Isolation<'a> {
    /// Isolated for ingress by a chart policy.
    ingress: bool,
    /// Isolated for egress by a chart policy.
    egress: bool,
    /// The names of the chart policies selecting it.
    isolating: Vec<String>,
    /// Its ingress side under every policy.
    pod_in: Side<'a>,
    /// Its egress side under every policy.
    pod_eg: Side<'a>,
}

/// What no policy allows a workload, and the rules of a supplement that would.
#[derive(Default)]
struct Gap {
    missing: Vec<String>,
    ingress: Acc,
    egress: Acc,
}

impl<'a> Stream<'a> {
    /// `None` when every policy was generated by chart-harden (nothing of the chart's to audit).
    fn new(cx: &'a Context<'a>, opts: np::Options) -> Option<Self> {
        let inv = cx.inv;
        let policies = netpol::policies(cx.docs, inv);
        if policies.iter().all(|(_, v)| is_generated(v)) {
            return None;
        }
        let refs = cx.references();
        let targets: Vec<Vec<usize>> = inv
            .services
            .iter()
            .map(|s| traffic::selected_workloads(inv, s))
            .collect();
        let mut incoming: Vec<Vec<usize>> = vec![Vec::new(); inv.workloads.len()];
        let mut outgoing: Vec<Vec<usize>> = vec![Vec::new(); inv.workloads.len()];
        for (ri, r) in refs.iter().enumerate() {
            for &t in &targets[r.service] {
                incoming[t].push(ri);
            }
            if let Some(o) = outgoing.get_mut(r.from) {
                o.push(ri);
            }
        }
        let api_called = api_called_services(cx);
        let skipped: Vec<bool> = inv
            .workloads
            .iter()
            .map(|w| w.is_test_hook() || netpol::host_network(cx.docs, w) || w.labels.is_empty())
            .collect();
        let pods: Vec<Pod<'a>> = inv.workloads.iter().map(|w| Pod::of(cx.docs, w)).collect();
        let selecting = netpol::selecting_each(&policies, &pods, inv);
        let from_chart: Vec<bool> = policies.iter().map(|(_, v)| !is_generated(v)).collect();
        let names: Vec<&str> = inv
            .of_kind("NetworkPolicy")
            .map(|o| o.resource.name.as_str())
            .collect();
        Some(Stream {
            cx,
            inv,
            opts,
            policies,
            refs,
            targets,
            incoming,
            outgoing,
            api_called,
            skipped,
            pods,
            selecting,
            from_chart,
            names,
            isolation: OnceCell::new(),
            selectors: inv.workloads.iter().map(|_| OnceCell::new()).collect(),
        })
    }

    fn selector_of(&self, i: usize) -> &Option<LabelSelector> {
        self.selectors[i].get_or_init(|| pod_selector(self.cx, &self.inv.workloads[i]))
    }

    fn side(&self, sel: &[usize], dir: Direction) -> Side<'a> {
        Side::of_selecting(&self.policies, sel, dir)
    }

    /// How the chart's policies isolate workload `wi`; `None` when they do not.
    fn isolated_by_chart(&self, wi: usize) -> Option<Isolation<'a>> {
        let chart_sel: Vec<usize> = self.selecting[wi]
            .iter()
            .copied()
            .filter(|&i| self.from_chart[i])
            .collect();
        let ingress = self.side(&chart_sel, Direction::Ingress).isolated();
        let egress = self.side(&chart_sel, Direction::Egress).isolated();
        if !ingress && !egress {
            return None;
        }
        Some(Isolation {
            ingress,
            egress,
            isolating: chart_sel
                .iter()
                .filter_map(|&i| self.names.get(i))
                .map(|n| n.to_string())
                .collect(),
            // This pod's sides under every policy, found once for all the questions asked.
            pod_in: self.side(&self.selecting[wi], Direction::Ingress),
            pod_eg: self.side(&self.selecting[wi], Direction::Egress),
        })
    }

    /// Ports of the Services selecting the workload that no ingress rule admits.
    fn missing_service_ports(&self, wi: usize, w: &Workload, iso: &Isolation<'_>, gap: &mut Gap) {
        let pod = &self.pods[wi];
        for s in self.inv.services_for(w) {
            let sv = self.cx.value(&s.object);
            let stype = sv
                .ptr("/spec/type")
                .and_then(Value::as_str)
                .unwrap_or("ClusterIP");
            let any = stype == "LoadBalancer"
                || stype == "NodePort"
                || self
                    .api_called
                    .iter()
                    .any(|(ns, n)| *n == s.name && Inventory::same_namespace(ns, &s.namespace));
            for (port, proto) in netpol::target_ports(s, None, &pod.ports) {
                if iso.pod_in.port_open(&pod.ports, port, &proto) {
                    continue;
                }
                gap.missing.push(format!(
                    "ingress on {port}/{proto} (Service {} port){}",
                    s.name,
                    if any { " from any source" } else { "" }
                ));
                if any {
                    gap.ingress.add(None, rport(port, &proto));
                } else {
                    for p in &self.opts.ingress_from {
                        gap.ingress.add(Some(p.clone()), rport(port, &proto));
                    }
                }
            }
        }
    }

    /// Inferred clients no ingress rule admits, judged with the Service-port rules found so
    /// far (a draft supplement).
    fn missing_clients(
        &self,
        wi: usize,
        w: &Workload,
        selector: Option<&LabelSelector>,
        gap: &mut Gap,
    ) {
        let pod = &self.pods[wi];
        let draft = selector.cloned().map(|sel| {
            crate::rules::guards::to_value(&build(
                Default::default(),
                sel,
                &gap.ingress,
                &Acc::default(),
            ))
        });
        let mut with_draft = self.policies.clone();
        if let Some(d) = &draft {
            if !gap.ingress.is_empty() {
                with_draft.push((w.namespace.as_str().into(), d));
            }
        }
        let mut draft_sel = self.selecting[wi].clone();
        if let Some((ns, d)) = with_draft.get(self.policies.len()) {
            if netpol::policy_selects(ns, d, pod) {
                draft_sel.push(self.policies.len());
            }
        }
        let in_draft = Side::of_selecting(&with_draft, &draft_sel, Direction::Ingress);
        for r in self.incoming[wi].iter().map(|&ri| &self.refs[ri]) {
            let s = &self.inv.services[r.service];
            let client = &self.inv.workloads[r.from];
            if self.skipped[r.from] {
                continue;
            }
            let cpod = &self.pods[r.from];
            let Some(csel) = self.selector_of(r.from) else {
                continue;
            };
            for (port, proto) in netpol::target_ports(s, r.port, &pod.ports) {
                if in_draft.allows(cpod, &pod.ports, port, &proto) {
                    continue;
                }
                gap.missing.push(format!(
                    "ingress on {port}/{proto} from {} ({} names Service {})",
                    wname(client),
                    r.via,
                    s.name
                ));
                gap.ingress.add(
                    Some(workload_peer(csel.clone(), &client.namespace, &w.namespace)),
                    rport(port, &proto),
                );
            }
        }
    }

    /// DNS over UDP and TCP to the configured `dns` peers.
    fn missing_dns(&self, iso: &Isolation<'_>, gap: &mut Gap) {
        for proto in ["UDP", "TCP"] {
            let ok = self
                .opts
                .dns
                .iter()
                .filter_map(dns_target)
                .any(|t| match t {
                    Err(cidr) => iso.pod_eg.allows_cidr(&cidr, 53, proto),
                    Ok((labels, ns)) => {
                        let d = Pod {
                            ns: &ns,
                            labels: &labels.into(),
                            ports: vec![],
                            foreign: true,
                        };
                        iso.pod_eg.allows(&d, &d.ports, 53, proto)
                    }
                });
            if !ok {
                gap.missing.push(format!("DNS egress on 53/{proto}"));
                for p in &self.opts.dns {
                    gap.egress.add(Some(p.clone()), rport(53, proto));
                }
            }
        }
    }

    /// Egress to the pods of the Services the workload names.
    fn missing_services(&self, wi: usize, w: &Workload, iso: &Isolation<'_>, gap: &mut Gap) {
        for r in self.outgoing[wi].iter().map(|&ri| &self.refs[ri]) {
            let s = &self.inv.services[r.service];
            for &ti in &self.targets[r.service] {
                if self.skipped[ti] {
                    continue;
                }
                let tpod = &self.pods[ti];
                for (port, proto) in netpol::target_ports(s, r.port, &tpod.ports) {
                    if iso.pod_eg.allows(tpod, &tpod.ports, port, &proto) {
                        continue;
                    }
                    gap.missing.push(format!(
                        "egress to Service {} on {port}/{proto} ({} names it)",
                        s.name, r.via
                    ));
                    gap.egress
                        .add(Some(service_peer(s, &w.namespace)), rport(port, &proto));
                }
            }
        }
    }

    /// Egress to the API server, when the workload's ServiceAccount is bound to a role.
    fn missing_api_server(&self, w: &Workload, iso: &Isolation<'_>, gap: &mut Gap) {
        let api = &self.opts.api_server;
        if !api.enabled {
            return;
        }
        let Some(b) = self
            .inv
            .bindings_for(&w.namespace, &w.service_account)
            .first()
            .copied()
        else {
            return;
        };
        for p in &api.ports {
            let port = i64::from(*p);
            if iso.pod_eg.allows_cidr(&api.cidr, port, "TCP") {
                continue;
            }
            gap.missing.push(format!(
                "egress to the API server on {port}/TCP (ServiceAccount {} is bound to {} {})",
                w.service_account, b.role_kind, b.role_name
            ));
            gap.egress.add(
                Some(NetworkPolicyPeer {
                    ip_block: Some(IPBlock {
                        cidr: api.cidr.clone(),
                        except: (!api.except.is_empty()).then(|| api.except.clone()),
                    }),
                    ..Default::default()
                }),
                rport(port, "TCP"),
            );
        }
    }

    /// Reports the gap and, when a policy can select the workload's pods without isolating
    /// pods the chart leaves open, generates the supplement allowing exactly what is missing.
    fn supplement(
        &self,
        w: &Workload,
        isolating: &[String],
        selector: Option<LabelSelector>,
        mut gap: Gap,
        out: &mut Sink,
    ) {
        let inv = self.inv;
        let mut seen = BTreeSet::new();
        gap.missing.retain(|m| seen.insert(m.clone()));
        let name = format!("{}{SUPPLEMENT_SUFFIX}", w.object.resource.name);
        let head = format!(
            "{} is isolated by NetworkPolicy {} but no policy allows: {}",
            wname(w),
            isolating.join(", "),
            gap.missing.join("; ")
        );
        let exists = inv.of_kind("NetworkPolicy").any(|o| {
            o.resource.name == name
                && Inventory::same_namespace(&inv.namespace_of(&o.resource), &w.namespace)
        });
        if exists {
            let e = out.emit(
                &META,
                &w.object,
                &Path::root(),
                format!("{head}; NetworkPolicy {name} exists and does not cover it"),
                None,
            );
            e.finding.suggestion =
                crate::finding::suggest("allow the traffic in the chart's policy");
            return;
        }
        let Some(sel) = self.supplement_selector(w, selector, &gap) else {
            let e = out.emit(
                &META,
                &w.object,
                &Path::root(),
                format!("{head}; no supplement generated: a policy selecting these pods would also isolate pods the chart leaves open"),
                None,
            );
            e.finding.suggestion =
                crate::finding::suggest("allow the traffic in the chart's policy");
            return;
        };
        let mut md = generated_meta(
            name.clone(),
            w.object.resource.namespace.as_deref().map(String::from),
            self.cx.value(&w.object),
        );
        md.annotations = Some(BTreeMap::from([(
            SUPPLEMENTS_ANNOTATION.to_string(),
            isolating.join(", "),
        )]));
        let policy = build(md, sel, &gap.ingress, &gap.egress);
        let e = out.emit(
            &META,
            &w.object,
            &Path::root(),
            format!(
                "{head}: the chart cuts its own traffic; generate {name} allowing exactly that (ingress: {}; egress: {})",
                gap.ingress.shown_ports(),
                gap.egress.shown_ports(),
            ),
            Some(Fix {
                applicability: Applicability::Safe,
                ops: Vec::new(),
                generated: vec![Generated::new(self.cx, crate::rules::guards::to_value(&policy))],
            }),
        );
        e.finding.suggestion = crate::finding::suggest(format!(
            "fix NetworkPolicy {} in the chart so that the supplement becomes unnecessary",
            isolating.join(", ")
        ));
    }

    /// The supplement's selector: the workload's own, else its full pod-template labels, as
    /// long as it only selects pods already isolated in the supplement's directions.
    fn supplement_selector(
        &self,
        w: &Workload,
        selector: Option<LabelSelector>,
        gap: &Gap,
    ) -> Option<LabelSelector> {
        let inv = self.inv;
        let iso = self.isolation.get_or_init(|| {
            self.selecting
                .iter()
                .map(|sel| {
                    (
                        self.side(sel, Direction::Ingress).isolated(),
                        self.side(sel, Direction::Egress).isolated(),
                    )
                })
                .collect()
        });
        let safe_for = |sel: &LabelSelector| {
            let sv = selector_value(sel);
            // The workloads carrying its first pair, not every workload.
            inv.workload_candidates(&w.namespace, sel.match_labels.as_ref())
                .into_iter()
                .all(|xi| {
                    let x = &inv.workloads[xi];
                    let (iso_in, iso_eg) = iso[xi];
                    if !Inventory::same_namespace(&x.namespace, &w.namespace)
                        || !label_selector_matches(&sv, &x.labels)
                    {
                        return true;
                    }
                    (gap.ingress.is_empty() || iso_in) && (gap.egress.is_empty() || iso_eg)
                })
        };
        let full = LabelSelector {
            match_labels: Some(w.template_labels()),
            match_expressions: None,
        };
        match selector {
            Some(s) if safe_for(&s) => Some(s),
            _ if safe_for(&full) => Some(full),
            _ => None,
        }
    }
}
