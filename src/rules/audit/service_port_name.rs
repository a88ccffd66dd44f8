//! CH632 service-port-name: a Service `targetPort` name that no selected container declares.

use crate::yaml::Value;

use super::chart_objects;
use crate::finding::{Applicability, Severity};
use crate::inventory::traffic;
use crate::rules::{Context, Rule, RuleMeta, Sink};
use crate::yaml::view::ValueExt;

pub(crate) static META: RuleMeta = RuleMeta {
    code: "CH632",
    name: "service-port-name",
    group: "audit",
    summary: "A Service port whose `targetPort` is a name that no container of the selected pods declares.",
    why: "A named targetPort is resolved per pod from its containers' `ports[].name`; when no \
container has that name the endpoint is left out, so the Service port has no backends and \
connections fail.",
    example: "ports:\n- port: 80\n  targetPort: http   # the container declares its port as \"web\"",
    fix: Applicability::ReportOnly,
    fix_also_safe: false,
    fix_notes: "Report only: which port was meant is a guess.",
    options: "none",
    severity: Severity::Error,
    default_enabled: true,
};

/// CH632.
pub struct ServicePortName;

impl Rule for ServicePortName {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context<'_>, out: &mut Sink) {
        for o in chart_objects(cx, "Service", &META) {
            let Some(s) = cx.inv.service_of(o) else {
                continue;
            };
            let pods = traffic::selected_workloads(cx.inv, s);
            if pods.is_empty() {
                continue; // CH631
            }
            let names: Vec<String> = pods
                .iter()
                .flat_map(|i| traffic::container_ports(cx.docs, &cx.inv.workloads[*i]))
                .filter_map(|(n, _, _)| n)
                .collect();
            let v = cx.value(o);
            for (i, p) in v
                .ptr("/spec/ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                let Some(name) = p.key("targetPort").and_then(Value::as_str) else {
                    continue;
                };
                if name.is_empty() || name.parse::<i64>().is_ok() || names.iter().any(|n| n == name)
                {
                    continue;
                }
                let wl: Vec<String> = pods.iter().map(|i| super::wn(cx, *i)).collect();
                let mut known = names.clone();
                known.sort();
                known.dedup();
                out.emit(
                    &META,
                    o,
                    &o.base.key("spec").key("ports").index(i).key("targetPort"),
                    format!(
                        "Service {} port {} targets the port name {name:?}, which no container of {} declares ({}): the port has no endpoints",
                        s.name,
                        p.key("port").map(Value::to_string).unwrap_or_default(),
                        wl.join(", "),
                        if known.is_empty() { "they name no ports".to_string() } else { format!("named ports: {}", known.join(", ")) }
                    ),
                    None,
                );
            }
        }
    }
}
