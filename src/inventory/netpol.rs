//! A small NetworkPolicy evaluator: is traffic from one pod (template) to another pod, or to an
//! address range, on a port allowed by the NetworkPolicies of a stream?
//!
//! It follows the `networking.k8s.io/v1` semantics: a pod is isolated for a direction when a
//! policy of that type selects it; isolated traffic is allowed when any rule of any selecting
//! policy admits the peer and the port (named ports resolve against the destination pod's
//! container ports). Pod IPs are unknown, so an `ipBlock` never admits a pod; the API server
//! and external endpoints are address ranges, which pod or namespace selectors never admit.
//!
//! Used by the NetworkPolicy audit (CH601–CH605) and by the corpus tests.

use std::net::IpAddr;
use std::sync::Arc;

use crate::yaml::Value;

use crate::document::Document;
use crate::inventory::traffic;
use crate::inventory::{label_selector_matches, Inventory, Labels, Workload};
use crate::yaml::view::ValueExt;

/// A pod as the evaluator sees it.
#[derive(Debug, Clone)]
pub struct Pod<'a> {
    /// Namespace (`""` = the release namespace, when unknown).
    pub ns: &'a str,
    /// Pod labels.
    pub labels: &'a Labels,
    /// Container ports: (name, number, protocol).
    pub ports: Vec<(Option<String>, i64, String)>,
    /// True for a pod known to live outside the release namespace (cluster DNS): a peer
    /// without `namespaceSelector` never matches it, even when the release namespace is unknown.
    pub foreign: bool,
}

impl<'a> Pod<'a> {
    /// A workload's pods.
    pub fn of(docs: &[Document], w: &'a Workload) -> Pod<'a> {
        Pod {
            ns: &w.namespace,
            labels: &w.labels,
            ports: traffic::container_ports(docs, w),
            foreign: false,
        }
    }
}

/// The NetworkPolicies of a stream with their effective namespaces.
pub fn policies<'a>(docs: &'a [Document], inv: &Inventory) -> Vec<(Arc<str>, &'a Value)> {
    inv.of_kind("NetworkPolicy")
        .map(|o| {
            (
                inv.namespace_of(&o.resource).into(),
                docs[o.doc()].object_value(o),
            )
        })
        .collect()
}

fn ns_labels(ns: &str) -> Labels {
    [("kubernetes.io/metadata.name".to_string(), ns.to_string())]
        .into_iter()
        .collect()
}

fn same_ns(policy_ns: &str, pod: &Pod<'_>) -> bool {
    if pod.foreign {
        return !policy_ns.is_empty() && policy_ns == pod.ns;
    }
    Inventory::same_namespace(policy_ns, pod.ns)
}

/// True when a selector value is absent or empty (`{}`, null, no labels, no expressions).
pub fn selector_is_empty(sel: Option<&Value>) -> bool {
    match sel {
        None | Some(Value::Null) => true,
        Some(s) => {
            s.key("matchLabels")
                .is_none_or(|m| m.as_object().is_none_or(|m| m.is_empty()))
                && s.key("matchExpressions")
                    .is_none_or(|m| m.as_array().is_none_or(|m| m.is_empty()))
        }
    }
}

/// Does a `NetworkPolicyPeer` (of a policy in `policy_ns`) match the pod?
pub fn peer_matches(peer: &Value, policy_ns: &str, pod: &Pod<'_>) -> bool {
    if peer.key("ipBlock").is_some() {
        return false; // pod IPs are unknown: never count an ipBlock as allowing a pod
    }
    let ns_ok = match peer.key("namespaceSelector") {
        None | Some(Value::Null) => same_ns(policy_ns, pod),
        Some(sel) => {
            // An unknown release namespace is the policy's own (when it names one).
            let ns = if pod.ns.is_empty() { policy_ns } else { pod.ns };
            if ns.is_empty() {
                selector_is_empty(Some(sel))
            } else {
                label_selector_matches(sel, &ns_labels(ns))
            }
        }
    };
    let pod_ok = match peer.key("podSelector") {
        None | Some(Value::Null) => true,
        Some(sel) => label_selector_matches(sel, pod.labels),
    };
    ns_ok && pod_ok
}

/// Does a rule's `ports` list admit `port/proto` on the destination (named ports resolved
/// against `dst_ports`)?
pub fn port_matches(
    ports: Option<&Value>,
    dst_ports: &[(Option<String>, i64, String)],
    port: i64,
    proto: &str,
) -> bool {
    let Some(list) = ports.and_then(Value::as_array) else {
        return true;
    };
    if list.is_empty() {
        return true;
    }
    list.iter().any(|p| {
        let pproto = p.key("protocol").and_then(Value::as_str).unwrap_or("TCP");
        if pproto != proto {
            return false;
        }
        match port_spec(p) {
            Some(PortSpec::Any) => true,
            Some(PortSpec::Range(lo, hi)) => (lo..=hi).contains(&port),
            Some(PortSpec::Named(name)) => dst_ports
                .iter()
                .any(|(n, num, pr)| n.as_deref() == Some(name) && *num == port && pr == proto),
            None => false,
        }
    })
}

/// What the `port` (and `endPort`) of a NetworkPolicy port entry admits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortSpec<'a> {
    /// No port (or `null`): every port.
    Any,
    /// The numbers `lo..=hi` (a number, a numeric string, or a number with `endPort`).
    Range(i64, i64),
    /// A named container port.
    Named(&'a str),
}

/// Reads the `port`/`endPort` of a NetworkPolicy port entry (`None`: neither a number nor a
/// name, which the API server rejects).
pub fn port_spec(p: &Value) -> Option<PortSpec<'_>> {
    match p.key("port") {
        None | Some(Value::Null) => Some(PortSpec::Any),
        Some(Value::Number(n)) => {
            let lo = crate::yaml::view::number_as_int(n).unwrap_or(-1);
            let hi = p
                .key("endPort")
                .and_then(crate::yaml::view::as_int)
                .unwrap_or(lo);
            Some(PortSpec::Range(lo, hi))
        }
        Some(Value::String(name)) => Some(match name.parse::<i64>() {
            Ok(n) => PortSpec::Range(n, n),
            Err(_) => PortSpec::Named(name),
        }),
        _ => None,
    }
}

/// (isolates ingress, isolates egress) of a policy spec.
pub fn policy_types(spec: &Value) -> (bool, bool) {
    match spec.key("policyTypes").and_then(Value::as_array) {
        Some(t) => (
            t.iter().any(|x| x.as_str() == Some("Ingress")),
            t.iter().any(|x| x.as_str() == Some("Egress")),
        ),
        None => (true, spec.key("egress").is_some()),
    }
}

/// Does the policy (in namespace `ns`) select the pod?
pub fn policy_selects(ns: &str, v: &Value, pod: &Pod<'_>) -> bool {
    same_ns(ns, pod)
        && match v.ptr("/spec/podSelector") {
            Some(sel) if sel.is_object() => label_selector_matches(sel, pod.labels),
            _ => true,
        }
}

/// Direction of traffic relative to the selected pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Traffic into the pod.
    Ingress,
    /// Traffic out of the pod.
    Egress,
}

/// The rules of every policy selecting `pod` for `dir` (`None` when the pod is not isolated
/// in that direction), each with its policy's namespace.
fn rules_for<'v>(
    policies: &[(Arc<str>, &'v Value)],
    pod: &Pod<'_>,
    dir: Direction,
) -> Option<Vec<(&'v Value, Arc<str>)>> {
    rules_of(
        policies.iter().filter(|(ns, v)| policy_selects(ns, v, pod)),
        dir,
    )
}

/// Indexes of the policies that select each workload's pods (`pods[i]` is workload `i` of
/// `inv`), ascending. Each policy is evaluated only against the workloads of its namespace that
/// carry the first pair of its `podSelector.matchLabels` ([`Inventory::workload_candidates`]'s
/// index): every pod against every policy was quadratic, over a stream of many releases and
/// within one namespace.
pub fn selecting_each(
    policies: &[(Arc<str>, &Value)],
    pods: &[Pod<'_>],
    inv: &Inventory,
) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new(); pods.len()];
    for (i, (ns, v)) in policies.iter().enumerate() {
        let first = v
            .ptr("/spec/podSelector")
            .filter(|s| s.is_object())
            .and_then(|s| s.key("matchLabels"))
            .and_then(Value::as_object)
            .and_then(|m| m.iter().next())
            .and_then(|(k, v)| crate::inventory::label_text(v).map(|t| (k, t)));
        let candidates = match first {
            Some((k, val)) if pods.len() == inv.workloads.len() => {
                inv.workloads_by_pair.get(ns, k, &val)
            }
            _ => (0..pods.len()).collect(),
        };
        for p in candidates {
            if policy_selects(ns, v, &pods[p]) {
                out[p].push(i);
            }
        }
    }
    out
}

/// The rules for `dir` of the given (selecting) policies; `None` when none of them isolates
/// that direction.
fn rules_of<'a, 'v: 'a>(
    selecting: impl Iterator<Item = &'a (Arc<str>, &'v Value)>,
    dir: Direction,
) -> Option<Vec<(&'v Value, Arc<str>)>> {
    let mut isolated = false;
    let mut out = Vec::new();
    for (ns, v) in selecting {
        let spec = v.key("spec").unwrap_or(&Value::Null);
        let (ing, eg) = policy_types(spec);
        let on = match dir {
            Direction::Ingress => ing,
            Direction::Egress => eg,
        };
        if !on {
            continue;
        }
        isolated = true;
        let key = match dir {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        };
        for r in spec
            .key(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            out.push((r, ns.clone()));
        }
    }
    isolated.then_some(out)
}

/// Is the pod isolated for `dir` by some policy?
pub fn isolated(policies: &[(Arc<str>, &Value)], pod: &Pod<'_>, dir: Direction) -> bool {
    rules_for(policies, pod, dir).is_some()
}

fn peers_of(rule: &Value, dir: Direction) -> Option<&[Value]> {
    let key = match dir {
        Direction::Ingress => "from",
        Direction::Egress => "to",
    };
    rule.key(key)
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
}

/// Does `src`'s egress side allow `src` → `dst` on `port/proto`?
pub fn egress_allowed(
    policies: &[(Arc<str>, &Value)],
    src: &Pod<'_>,
    dst: &Pod<'_>,
    port: i64,
    proto: &str,
) -> bool {
    side_allows(policies, Direction::Egress, src, dst, port, proto)
}

/// Does `dst`'s ingress side allow `src` → `dst` on `port/proto`?
pub fn ingress_allowed(
    policies: &[(Arc<str>, &Value)],
    src: &Pod<'_>,
    dst: &Pod<'_>,
    port: i64,
    proto: &str,
) -> bool {
    side_allows(policies, Direction::Ingress, src, dst, port, proto)
}

/// One side of `src` → `dst`: the policies isolating the pod on that side (src for egress,
/// dst for ingress) must have a rule whose peers match the other pod and whose ports match
/// `port/proto` on `dst`. A pod not isolated on that side allows everything.
fn side_allows(
    policies: &[(Arc<str>, &Value)],
    dir: Direction,
    src: &Pod<'_>,
    dst: &Pod<'_>,
    port: i64,
    proto: &str,
) -> bool {
    let (subject, peer) = match dir {
        Direction::Egress => (src, dst),
        Direction::Ingress => (dst, src),
    };
    Side::of(policies, subject, dir).allows(peer, &dst.ports, port, proto)
}

/// The rules of every policy selecting one pod for one direction, found once and then asked
/// many questions (each peer, port and address range of that pod), instead of scanning every
/// policy again per question.
#[derive(Debug, Clone)]
pub struct Side<'v> {
    dir: Direction,
    rules: Option<Vec<(&'v Value, Arc<str>)>>,
}

impl<'v> Side<'v> {
    /// The `dir` side of `pod` under `policies`.
    pub fn of(policies: &[(Arc<str>, &'v Value)], pod: &Pod<'_>, dir: Direction) -> Self {
        Side {
            dir,
            rules: rules_for(policies, pod, dir),
        }
    }

    /// Like [`Side::of`] when the policies selecting the pod are already known (indexes into
    /// `policies`, as [`selecting_each`] returns them): the pod's side without evaluating any
    /// selector again.
    pub fn of_selecting(
        policies: &[(Arc<str>, &'v Value)],
        selecting: &[usize],
        dir: Direction,
    ) -> Self {
        Side {
            dir,
            rules: rules_of(selecting.iter().filter_map(|&i| policies.get(i)), dir),
        }
    }

    /// True when some policy isolates the pod on this side.
    pub fn isolated(&self) -> bool {
        self.rules.is_some()
    }

    /// Is traffic between the pod and `peer` (the other end) on `port/proto` allowed on this
    /// side? Named ports resolve against `dst_ports`, the destination's container ports.
    pub fn allows(
        &self,
        peer: &Pod<'_>,
        dst_ports: &[(Option<String>, i64, String)],
        port: i64,
        proto: &str,
    ) -> bool {
        let Some(rules) = &self.rules else {
            return true;
        };
        rules.iter().any(|(r, ns)| {
            let peers_ok = match peers_of(r, self.dir) {
                None => true,
                Some(a) => a.iter().any(|p| peer_matches(p, ns, peer)),
            };
            peers_ok && port_matches(r.key("ports"), dst_ports, port, proto)
        })
    }

    /// Is `port/proto` (of the pod, as destination) admitted from at least one peer?
    pub fn port_open(
        &self,
        dst_ports: &[(Option<String>, i64, String)],
        port: i64,
        proto: &str,
    ) -> bool {
        let Some(rules) = &self.rules else {
            return true;
        };
        rules
            .iter()
            .any(|(r, _)| port_matches(r.key("ports"), dst_ports, port, proto))
    }

    /// Is traffic to (egress) or from (ingress) every address of `cidr` on `port/proto`
    /// allowed on this side?
    pub fn allows_cidr(&self, cidr: &str, port: i64, proto: &str) -> bool {
        let Some(rules) = &self.rules else {
            return true;
        };
        rules.iter().any(|(r, _)| {
            let peers_ok = match peers_of(r, self.dir) {
                None => true,
                Some(a) => a.iter().any(|p| ip_peer_covers(p, cidr)),
            };
            peers_ok && port_matches(r.key("ports"), &[], port, proto)
        })
    }
}

/// Is `src` → `dst` on `port/proto` allowed by both sides?
pub fn traffic_allowed(
    policies: &[(Arc<str>, &Value)],
    src: &Pod<'_>,
    dst: &Pod<'_>,
    port: i64,
    proto: &str,
) -> bool {
    egress_allowed(policies, src, dst, port, proto)
        && ingress_allowed(policies, src, dst, port, proto)
}

/// Is `port/proto` of `dst` reachable from at least one peer (any rule of a selecting policy
/// admits the port)? True when the pod is not isolated for ingress.
pub fn ingress_port_open(
    policies: &[(Arc<str>, &Value)],
    dst: &Pod<'_>,
    port: i64,
    proto: &str,
) -> bool {
    Side::of(policies, dst, Direction::Ingress).port_open(&dst.ports, port, proto)
}

/// Parses `a.b.c.d/n` (or an IPv6 CIDR).
fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (ip, len) = s.split_once('/')?;
    let ip: IpAddr = ip.trim().parse().ok()?;
    let len: u8 = len.trim().parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (len <= max).then_some((ip, len))
}

fn bits(ip: IpAddr) -> (u128, u8) {
    match ip {
        IpAddr::V4(a) => (u128::from(u32::from(a)), 32),
        IpAddr::V6(a) => (u128::from(a), 128),
    }
}

fn net(ip: IpAddr, len: u8) -> (u128, u8, u8) {
    let (b, w) = bits(ip);
    let shift = u32::from(w - len);
    let n = if shift >= 128 {
        0
    } else {
        (b >> shift) << shift
    };
    (n, len, w)
}

/// Does CIDR `outer` contain every address of CIDR `inner`?
pub fn cidr_contains(outer: &str, inner: &str) -> bool {
    let (Some((oi, ol)), Some((ii, il))) = (parse_cidr(outer), parse_cidr(inner)) else {
        return false;
    };
    let (on, ol, ow) = net(oi, ol);
    let (_, _, iw) = net(ii, il);
    if ow != iw || il < ol {
        return false;
    }
    net(ii, ol).0 == on
}

/// Do two CIDRs share an address?
pub fn cidr_overlaps(a: &str, b: &str) -> bool {
    cidr_contains(a, b) || cidr_contains(b, a)
}

/// Does the peer admit every address of `cidr`?
fn ip_peer_covers(peer: &Value, cidr: &str) -> bool {
    let Some(block) = peer.key("ipBlock") else {
        return false;
    };
    let Some(c) = block.key("cidr").and_then(Value::as_str) else {
        return false;
    };
    if !cidr_contains(c, cidr) {
        return false;
    }
    !block
        .key("except")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .any(|e| cidr_overlaps(e, cidr))
}

/// Does `src`'s egress side allow traffic to every address of `cidr` on `port/proto`?
pub fn egress_to_cidr_allowed(
    policies: &[(Arc<str>, &Value)],
    src: &Pod<'_>,
    cidr: &str,
    port: i64,
    proto: &str,
) -> bool {
    Side::of(policies, src, Direction::Egress).allows_cidr(cidr, port, proto)
}

/// True for hostNetwork pods (NetworkPolicies do not apply to them).
pub fn host_network(docs: &[Document], w: &Workload) -> bool {
    w.pod_spec
        .lookup(&docs[w.object.doc()].value)
        .and_then(|s| s.key("hostNetwork"))
        .and_then(Value::as_bool)
        == Some(true)
}

/// The pod ports (port, protocol) behind a Service port choice (all ports, or the one the
/// reference names), resolved against `dst`'s container ports.
pub fn target_ports(
    svc: &crate::inventory::Service,
    only: Option<i64>,
    dst_ports: &[(Option<String>, i64, String)],
) -> Vec<(i64, String)> {
    let chosen: Vec<_> = match only {
        Some(p) if svc.ports.iter().any(|sp| sp.port == p) => {
            svc.ports.iter().filter(|sp| sp.port == p).collect()
        }
        _ => svc.ports.iter().collect(),
    };
    let mut out = Vec::new();
    for sp in chosen {
        match &sp.target {
            Value::Number(n) if crate::yaml::view::number_as_int(n) == Some(0) => {
                out.push((sp.port, sp.protocol.clone()))
            }
            Value::Null => out.push((sp.port, sp.protocol.clone())),
            Value::String(s) if s.is_empty() => out.push((sp.port, sp.protocol.clone())),
            Value::Number(n) => out.push((
                crate::yaml::view::number_as_int(n).unwrap_or(0),
                sp.protocol.clone(),
            )),
            Value::String(name) => {
                if let Ok(n) = name.parse::<i64>() {
                    out.push((n, sp.protocol.clone()));
                    continue;
                }
                out.extend(
                    dst_ports
                        .iter()
                        .filter(|(n, _, _)| n.as_deref() == Some(&**name))
                        .map(|(_, num, pr)| (*num, pr.clone())),
                );
            }
            _ => {}
        }
    }
    out.sort();
    out.dedup();
    out
}

/// What [`unallowed_references`] found.
#[derive(Debug, Default)]
pub struct RefCheck {
    /// References the policies do not allow (one line each).
    pub bad: Vec<String>,
    /// Pod-port pairs judged.
    pub checked: usize,
    /// Of those, how many touch a pod selected by a chart-shipped (not generated) policy.
    pub under_chart_policy: usize,
}

/// Every Service reference the inference finds in a stream, judged against every
/// NetworkPolicy of the stream (chart-shipped and generated alike). `is_generated` tells
/// chart-harden's own policies apart (for the figures only).
pub fn unallowed_references(
    docs: &[Document],
    inv: &Inventory,
    is_generated: impl Fn(&Value) -> bool,
) -> RefCheck {
    let policies = policies(docs, inv);
    let chart_policy_selects = |p: &Pod<'_>| {
        policies
            .iter()
            .any(|(ns, v)| !is_generated(v) && policy_selects(ns, v, p))
    };
    let mut out = RefCheck::default();
    let full = crate::inventory::pass::FullViews::default();
    for r in traffic::references(docs, inv, &full) {
        let src = &inv.workloads[r.from];
        let svc = &inv.services[r.service];
        if src.is_test_hook() || host_network(docs, src) {
            continue;
        }
        let s = Pod::of(docs, src);
        for ti in traffic::selected_workloads(inv, svc) {
            let dst = &inv.workloads[ti];
            if dst.is_test_hook() || host_network(docs, dst) {
                continue;
            }
            let d = Pod::of(docs, dst);
            let chart = chart_policy_selects(&s) || chart_policy_selects(&d);
            for (port, proto) in target_ports(svc, r.port, &d.ports) {
                out.checked += 1;
                if chart {
                    out.under_chart_policy += 1;
                }
                if !traffic_allowed(&policies, &s, &d, port, &proto) {
                    out.bad.push(format!(
                        "{}/{} → {}/{} port {port}/{proto} (Service {}, {} via {})",
                        src.object.resource.kind,
                        src.object.resource.name,
                        dst.object.resource.kind,
                        dst.object.resource.name,
                        svc.name,
                        r.host,
                        r.via
                    ));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn cidrs() {
        assert!(cidr_contains("0.0.0.0/0", "10.0.0.1/32"));
        assert!(cidr_contains("10.0.0.0/8", "10.1.0.0/16"));
        assert!(!cidr_contains("10.1.0.0/16", "10.0.0.0/8"));
        assert!(!cidr_contains("10.0.0.0/8", "11.0.0.0/8"));
        assert!(cidr_overlaps("10.0.0.0/8", "0.0.0.0/0"));
        assert!(!cidr_contains("::/0", "10.0.0.0/8"));
        assert!(!cidr_contains("garbage", "10.0.0.0/8"));
    }

    #[test]
    fn evaluator_denies_and_allows() {
        let policy = view!({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "p"},
            "spec": {"podSelector": {"matchLabels": {"app": "a"}}, "policyTypes": ["Ingress", "Egress"],
                     "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "b"}}}], "ports": [{"port": 80, "protocol": "TCP"}]},
                                {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}], "ports": [{"port": 443}]}]}
        });
        let policies = vec![(Arc::from(""), &policy)];
        let a = Labels::from(BTreeMap::from([("app".to_string(), "a".to_string())]));
        let b = Labels::from(BTreeMap::from([("app".to_string(), "b".to_string())]));
        let pa = Pod {
            ns: "",
            labels: &a,
            ports: vec![],
            foreign: false,
        };
        let pb = Pod {
            ns: "",
            labels: &b,
            ports: vec![(Some("http".into()), 80, "TCP".into())],
            foreign: false,
        };
        assert!(traffic_allowed(&policies, &pa, &pb, 80, "TCP"));
        assert!(!traffic_allowed(&policies, &pa, &pb, 81, "TCP"));
        assert!(!traffic_allowed(&policies, &pa, &pb, 80, "UDP"));
        assert!(!traffic_allowed(&policies, &pb, &pa, 80, "TCP"));
        assert!(!ingress_port_open(&policies, &pa, 80, "TCP"));
        assert!(ingress_port_open(&policies, &pb, 80, "TCP"));
        assert!(egress_to_cidr_allowed(
            &policies,
            &pa,
            "203.0.113.0/24",
            443,
            "TCP"
        ));
        assert!(!egress_to_cidr_allowed(
            &policies,
            &pa,
            "0.0.0.0/0",
            443,
            "TCP"
        ));
        assert!(!egress_to_cidr_allowed(
            &policies,
            &pa,
            "10.0.0.1/32",
            443,
            "TCP"
        ));
        // A DNS pod in kube-system is not matched by a same-namespace peer.
        let dns = Labels::from(BTreeMap::from([(
            "k8s-app".to_string(),
            "kube-dns".to_string(),
        )]));
        let pd = Pod {
            ns: "kube-system",
            labels: &dns,
            ports: vec![],
            foreign: true,
        };
        let same_ns = view!({"podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}});
        let any_ns = view!({"namespaceSelector": {}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}});
        assert!(!peer_matches(&same_ns, "", &pd));
        assert!(peer_matches(&any_ns, "", &pd));
    }
}
