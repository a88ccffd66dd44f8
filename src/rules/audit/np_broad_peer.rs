//! CH604 netpol-broad-peer: a NetworkPolicy peer that matches far more than intended.

use crate::yaml::Value;

use super::chart_objects;
use crate::finding::{Applicability, Severity};
use crate::inventory::netpol::selector_is_empty;
use crate::rules::{Context, Rule, RuleMeta, Sink};
use crate::yaml::view::ValueExt;

pub(crate) static META: RuleMeta = RuleMeta {
    code: "CH604",
    name: "netpol-broad-peer",
    group: "audit",
    summary: "A NetworkPolicy peer `namespaceSelector: {}` with an empty or missing `podSelector` (every pod of every namespace), or `namespaceSelector: {}` used to reach the API server or the internet.",
    why: "`namespaceSelector: {}` selects every namespace; without a pod selector the peer is \
every pod in the cluster, which is rarely what the author meant. And a namespace selector only \
ever matches pods: the API server (host network or outside the cluster) and internet endpoints \
are addresses, reachable only through `ipBlock`, so such a rule allows the whole cluster and \
still cuts the intended traffic.",
    example: "egress:\n- to: [{namespaceSelector: {}}]   # meant: the API server\n  ports: [{port: 443}, {port: 6443}]",
    fix: Applicability::ReportOnly,
    fix_also_safe: false,
    fix_notes: "Report only: narrowing the chart's peer could cut traffic someone relies on. \
Traffic the release needs (API server, DNS) is restored by netpol-cut-traffic (CH603) with an \
`ipBlock` peer.",
    options: "none",
    severity: Severity::Warning,
    default_enabled: true,
};

/// Ports that say "API server or external HTTP(S)".
const OUTSIDE_PORTS: &[i64] = &[80, 443, 6443, 8443];

/// CH604.
pub struct NpBroadPeer;

impl Rule for NpBroadPeer {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context<'_>, out: &mut Sink) {
        for o in chart_objects(cx, "NetworkPolicy", &META) {
            let v = cx.value(o);
            for (dir, peers_key) in [("ingress", "from"), ("egress", "to")] {
                for (i, r) in v
                    .ptr(&format!("/spec/{dir}"))
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    let ports: Vec<i64> = r
                        .key("ports")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(|p| p.key("port").and_then(crate::yaml::view::as_int))
                        .collect();
                    let outside: Vec<i64> = ports
                        .iter()
                        .copied()
                        .filter(|p| OUTSIDE_PORTS.contains(p))
                        .collect();
                    for (j, peer) in r
                        .get(peers_key)
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .enumerate()
                    {
                        let Some(nsel) = peer.key("namespaceSelector") else {
                            continue;
                        };
                        if !nsel.is_object() || !selector_is_empty(Some(nsel)) {
                            continue;
                        }
                        let no_pods = selector_is_empty(peer.key("podSelector"));
                        let path = o
                            .base
                            .key("spec")
                            .key(dir)
                            .index(i)
                            .key(peers_key)
                            .index(j)
                            .key("namespaceSelector");
                        let msg = if dir == "egress" && no_pods && !outside.is_empty() {
                            format!(
                                "NetworkPolicy {} allows egress on {} to `namespaceSelector: {{}}`: that matches every pod of every namespace, never the API server or an internet address (only an ipBlock does), so the intended traffic is still cut while the whole cluster is opened",
                                o.resource.name,
                                outside.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
                            )
                        } else if no_pods {
                            format!(
                                "NetworkPolicy {} {} every pod of every namespace (`namespaceSelector: {{}}` with {} podSelector){}",
                                o.resource.name,
                                if dir == "egress" { "allows egress to" } else { "admits ingress from" },
                                if peer.key("podSelector").is_some() { "an empty" } else { "no" },
                                if ports.is_empty() { " on every port" } else { "" }
                            )
                        } else {
                            continue;
                        };
                        let e = out.emit(&META, o, &path, msg, None);
                        e.finding.suggestion = crate::finding::suggest(
                            "use an ipBlock for the API server / external endpoints, or a namespaceSelector with matchLabels (kubernetes.io/metadata.name) plus a podSelector for pods",
                        );
                    }
                }
            }
        }
    }
}
