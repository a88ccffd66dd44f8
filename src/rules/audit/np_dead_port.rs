//! CH602 netpol-dead-port: a NetworkPolicy rule allows a port that no container of the pods
//! it concerns listens on.

use crate::yaml::Value;

use super::{chart_objects, selected, wn};
use crate::finding::{Applicability, Severity};
use crate::inventory::netpol::{port_spec, PortSpec};
use crate::inventory::traffic;
use crate::inventory::{label_selector_matches, Inventory};
use crate::rules::{Context, Rule, RuleMeta, Sink};
use crate::yaml::view::ValueExt;

pub(crate) static META: RuleMeta = RuleMeta {
    code: "CH602",
    name: "netpol-dead-port",
    group: "audit",
    summary: "A NetworkPolicy ingress (or in-release egress) rule allows a port, by number or name, that no container of the pods concerned listens on.",
    why: "An allow rule for the wrong port is dead, and the real port stays closed: the chart \
believes it opened the webserver (port 3000) while the container listens on 80, so every \
request is dropped by the policy.",
    example: "ingress:\n- ports: [{port: 3000}]   # the selected containers declare containerPort 80",
    fix: Applicability::ReportOnly,
    fix_also_safe: false,
    fix_notes: "Report only: the chart's rule is left as written. The ports the release's own \
Services and clients need are restored by netpol-cut-traffic (CH603).",
    options: "none",
    severity: Severity::Warning,
    default_enabled: true,
};

/// A port a pod listens on: (name, number, protocol).
type Port = (Option<String>, i64, String);

/// The ports one workload's pods listen on: declared container ports (regular containers) and
/// the numeric target ports of Services selecting them (not deduplicated; see [`merged`]).
fn workload_ports(cx: &Context<'_>, wi: usize) -> Vec<Port> {
    let w = &cx.inv.workloads[wi];
    let mut out = traffic::container_ports_of(cx.docs, w, |c| c.list == "containers");
    for s in cx.inv.services_for(w) {
        for rp in traffic::service_target_ports(cx.docs, cx.inv, s, None, &[wi]) {
            if let traffic::PortRef::Num(n) = rp.port {
                out.push((None, n, rp.protocol));
            }
        }
    }
    out
}

/// The ports the pods of some workloads listen on, from [`workload_ports`]: sorted, each
/// once, and a number known by name not also listed without one. Empty = unknown.
fn merged(mut out: Vec<Port>) -> Vec<Port> {
    out.sort();
    out.dedup();
    // A number known by name too needs no anonymous copy.
    let named: Vec<(i64, String)> = out
        .iter()
        .filter(|(n, _, _)| n.is_some())
        .map(|(_, p, pr)| (*p, pr.clone()))
        .collect();
    out.retain(|(n, p, pr)| n.is_some() || !named.contains(&(*p, pr.clone())));
    out
}

fn shows(ports: &[(Option<String>, i64, String)]) -> String {
    let mut v: Vec<String> = ports
        .iter()
        .map(|(n, p, pr)| match n {
            Some(n) => format!("{p}/{pr} ({n})"),
            None => format!("{p}/{pr}"),
        })
        .collect();
    v.dedup();
    v.join(", ")
}

/// The ports of a rule that none of `listening` serves: (index, shown).
fn dead_ports(rule: &Value, listening: &[(Option<String>, i64, String)]) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (j, p) in rule
        .key("ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let proto = p.key("protocol").and_then(Value::as_str).unwrap_or("TCP");
        let ok = match port_spec(p) {
            Some(PortSpec::Any) | None => true,
            Some(PortSpec::Range(lo, hi)) => listening
                .iter()
                .any(|(_, l, pr)| pr == proto && (lo..=hi).contains(l)),
            Some(PortSpec::Named(name)) => listening
                .iter()
                .any(|(ln, _, pr)| pr == proto && ln.as_deref() == Some(name)),
        };
        if !ok {
            let shown = match p.key("port") {
                Some(Value::String(s)) => format!("{s}/{proto} (named)"),
                Some(x) => match p.key("endPort") {
                    Some(e) => format!("{x}-{e}/{proto}"),
                    None => format!("{x}/{proto}"),
                },
                None => String::new(),
            };
            out.push((j, shown));
        }
    }
    out
}

/// CH602.
pub struct NpDeadPort;

impl Rule for NpDeadPort {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context<'_>, out: &mut Sink) {
        // Each workload's ports are read once, however many policies select it.
        let ports: Vec<std::cell::OnceCell<Vec<Port>>> = cx
            .inv
            .workloads
            .iter()
            .map(|_| Default::default())
            .collect();
        let listening = |ws: &[usize]| {
            merged(
                ws.iter()
                    .flat_map(|&wi| ports[wi].get_or_init(|| workload_ports(cx, wi)).iter())
                    .cloned()
                    .collect(),
            )
        };
        for o in chart_objects(cx, "NetworkPolicy", &META) {
            let ws = selected(cx, o, "/spec/podSelector", true);
            if ws.is_empty() {
                continue; // CH601
            }
            let v = cx.value(o);
            let spec = o.base.key("spec");
            let names = || ws.iter().map(|w| wn(cx, *w)).collect::<Vec<String>>();
            let own = listening(&ws);
            if !own.is_empty() {
                for (i, r) in v
                    .ptr("/spec/ingress")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    for (j, shown) in dead_ports(r, &own) {
                        out.emit(
                            &META,
                            o,
                            &spec.key("ingress").index(i).key("ports").index(j).key("port"),
                            format!(
                                "NetworkPolicy {} allows ingress on {shown}, but no container of the pods it selects ({}) listens on it (they serve {}): the rule is dead and clients of the real port are cut",
                                o.resource.name,
                                names().join(", "),
                                shows(&own)
                            ),
                            None,
                        );
                    }
                }
            }
            let ns = cx.inv.namespace_of(&o.resource);
            for (i, r) in v
                .ptr("/spec/egress")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                // Only peers that are pods of the release in the policy's namespace.
                let peers: Vec<&Value> = r
                    .key("to")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .collect();
                if peers.is_empty()
                    || peers.iter().any(|p| {
                        p.key("namespaceSelector").is_some()
                            || p.key("ipBlock").is_some()
                            || !p.key("podSelector").is_some_and(Value::is_object)
                    })
                {
                    continue;
                }
                let targets: Vec<usize> = cx
                    .inv
                    .workloads
                    .iter()
                    .enumerate()
                    .filter(|(_, w)| {
                        Inventory::same_namespace(&ns, &w.namespace)
                            && peers.iter().any(|p| {
                                p.key("podSelector")
                                    .is_some_and(|s| label_selector_matches(s, &w.labels))
                            })
                    })
                    .map(|(k, _)| k)
                    .collect();
                if targets.is_empty() {
                    continue;
                }
                let theirs = listening(&targets);
                if theirs.is_empty() {
                    continue;
                }
                let tnames: Vec<String> = targets.iter().map(|w| wn(cx, *w)).collect();
                for (j, shown) in dead_ports(r, &theirs) {
                    out.emit(
                        &META,
                        o,
                        &spec.key("egress").index(i).key("ports").index(j).key("port"),
                        format!(
                            "NetworkPolicy {} allows egress on {shown} to {}, but none of their containers listens on it (they serve {}): the rule is dead",
                            o.resource.name,
                            tnames.join(", "),
                            shows(&theirs)
                        ),
                        None,
                    );
                }
            }
        }
    }
}
