//! CH405 default-resources: containers without requests/limits get profile defaults.

use std::collections::BTreeMap;

use crate::yaml::Value;
use serde::Deserialize;

use super::options;
use crate::finding::{Applicability, Severity};
use crate::inventory::quantity;
use crate::rules::{workloads, Context, Fix, Rule, RuleMeta, Sink};
use crate::yaml::edit::Op;
use crate::yaml::view::ValueExt;

pub(crate) static META: RuleMeta = RuleMeta {
    code: "CH405",
    name: "default-resources",
    group: "tenancy",
    summary: "Containers without resource requests (cpu, memory) get defaults; a memory limit where the evidence sizes one.",
    why: "Without requests the scheduler packs pods blindly and they are the first evicted under \
pressure (BestEffort QoS); without a memory limit one leaking container can take a node's memory. \
Under a ResourceQuota, containers without requests are rejected outright.",
    example: "containers:\n- name: app\n  args: [-Xmx1g]\n  resources:\n    requests: {cpu: 100m, memory: 128Mi}   # added\n    limits: {memory: 1536Mi}               # added: 1.5x the JVM heap",
    fix: Applicability::Unsafe,
    fix_also_safe: false,
    fix_notes: "Unsafe: a default memory limit below what the application really uses gets it \
OOM-killed, and requests change scheduling. A default limit is never set below the container's \
own request, and a default request never above its own limit. No CPU limit is added (it only \
throttles). A memory limit is added only from evidence: a JVM's `-Xmx` (in env or args) sizes it \
at 1.5x the heap (at least the configured default). Without such evidence nothing shows what the \
container uses, so none is added and the finding names the key that would add one \
(`generate.default-resources.limits`). Even then none is added for a JVM sized as a share of the \
limit (`MaxRAMPercentage`) or a data store (PostgreSQL, MySQL, Redis, Elasticsearch, Kafka, …), \
whose memory grows with its data. Applied with `--profile prod` or `--unsafe-fixes`.",
    options: "`generate.default-resources.requests` (default `{cpu: 100m, memory: 128Mi}`), \
`generate.default-resources.limits` (default `{memory: 512Mi}`, added only where a JVM's `-Xmx` \
sizes the limit; set the key, even to the default, to add it to every container without one).",
    severity: Severity::Warning,
    default_enabled: true,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Options {
    #[serde(default = "default_requests")]
    requests: BTreeMap<String, Value>,
    /// `None` when the configuration does not set it: the default then sizes only limits
    /// the evidence asks for.
    #[serde(default)]
    limits: Option<BTreeMap<String, Value>>,
}

fn default_requests() -> BTreeMap<String, Value> {
    [("cpu", "100m"), ("memory", "128Mi")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), Value::from(v)))
        .collect()
}

fn default_limits() -> BTreeMap<String, Value> {
    [("memory", "512Mi")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), Value::from(v)))
        .collect()
}

impl Default for Options {
    fn default() -> Self {
        Options {
            requests: default_requests(),
            limits: None,
        }
    }
}

fn fmt(res: &str, x: f64) -> String {
    if res == "cpu" {
        quantity::cpu(x)
    } else {
        quantity::memory(x)
    }
}

/// CH405.
pub struct DefaultResources;

impl Rule for DefaultResources {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context<'_>, out: &mut Sink) {
        let Some(opts) = options::<Options>(cx, &META, out) else {
            return;
        };
        let limits = opts.limits.clone().unwrap_or_else(default_limits);
        let limits_chosen = opts.limits.is_some();
        for w in workloads(cx, &META) {
            for c in &w.containers {
                if c.list == "ephemeralContainers" {
                    continue; // ephemeral containers cannot set resources
                }
                let Some(cv) = cx.at(w.object.doc(), &c.path) else {
                    continue;
                };
                let res_v = cv.key("resources").unwrap_or(&Value::Null);
                let mut ops = Vec::new();
                let mut added = Vec::new();
                let memory = memory_evidence(cv, c.image.as_deref());
                let mut withheld: Option<(String, &str)> = None;
                let mut sized_from = None;
                for (kind, defaults) in [("requests", &opts.requests), ("limits", &limits)] {
                    for (res, dv) in defaults {
                        if res_v.ptr(&format!("/{kind}/{res}")).is_some() {
                            continue;
                        }
                        let Some(mut x) = quantity::parse(dv) else {
                            continue;
                        };
                        if kind == "limits" && res == "memory" {
                            match &memory {
                                Some(Memory::Heap(bytes, why)) => {
                                    // The heap plus room for the JVM's own memory.
                                    let need = bytes * 1.5;
                                    if need > x {
                                        x = need;
                                        sized_from = Some(why.clone());
                                    }
                                }
                                Some(Memory::Unbounded(why)) => {
                                    withheld = Some((why.clone(), REAL_USE));
                                    continue;
                                }
                                None if !limits_chosen => {
                                    withheld = Some((UNKNOWN_USE.into(), CHOOSE_DEFAULT));
                                    continue;
                                }
                                None => {}
                            }
                        }
                        if kind == "limits" {
                            if let Some(r) = res_v
                                .ptr(&format!("/requests/{res}"))
                                .and_then(quantity::parse)
                            {
                                x = x.max(r);
                            }
                        } else if res_v.ptr(&format!("/limits/{res}")).is_some() {
                            // Kubernetes already defaults a missing request to the limit.
                            continue;
                        }
                        let q = fmt(res, x);
                        added.push(format!("{kind}.{res}: {q}"));
                        ops.push(Op::Set(
                            c.path.key("resources").key(kind).key(res),
                            serde_json::Value::String(q),
                        ));
                    }
                }
                // Its own finding, the same in every pass (the requests added in the first
                // pass leave the limit missing in the next).
                if let Some((why, suggestion)) = withheld {
                    let e = out.emit(
                        &META,
                        &w.object,
                        &c.path.key("resources").key("limits").key("memory"),
                        format!(
                            "container {:?} sets no memory limit; none added: {why}, so a default limit could OOM-kill it",
                            c.name
                        ),
                        None,
                    );
                    e.finding.severity = Severity::Info;
                    e.finding.suggestion = crate::finding::suggest(suggestion);
                }
                if ops.is_empty() {
                    continue;
                }
                out.emit(
                    &META,
                    &w.object,
                    &c.path.key("resources"),
                    format!(
                        "container {:?} sets no {}: default {}",
                        c.name,
                        added
                            .iter()
                            .map(|a| a.split(':').next().unwrap_or_default().to_string())
                            .collect::<Vec<_>>()
                            .join(", "),
                        added.join(", ")
                    ) + &sized_from
                        .map(|w| format!(" (memory limit sized from {w})"))
                        .unwrap_or_default(),
                    Some(Fix::edits(Applicability::Unsafe, w.object.doc(), ops)),
                );
            }
        }
    }
}

/// Why no limit is added where nothing shows a container's memory use.
pub(crate) const UNKNOWN_USE: &str =
    "nothing in the chart shows how much memory it uses (no JVM -Xmx)";

const REAL_USE: &str =
    "set resources.limits.memory in the chart's values from the workload's real use";

const CHOOSE_DEFAULT: &str = "set resources.limits.memory in the chart's values from the workload's real use, \
or set `generate.default-resources.limits: {memory: 512Mi}` (a size you choose) to give every such container that default";

/// True when the configuration chooses CH405's default limits (then every container without a
/// memory limit and without contrary evidence gets the default).
pub(crate) fn limits_chosen(cx: &Context<'_>) -> bool {
    cx.cfg
        .generate
        .get(META.name)
        .and_then(|v| v.get("limits"))
        .is_some_and(|l| !l.is_null())
}

/// What the container says about its memory use.
pub(crate) enum Memory {
    /// A JVM heap size (bytes) and where it was found.
    Heap(f64, String),
    /// Memory that grows with its data or with the limit itself (databases, JVMs sized as a
    /// share of the limit): no default limit fits.
    Unbounded(String),
}

pub(crate) fn memory_evidence(cv: &Value, image: Option<&str>) -> Option<Memory> {
    let mut texts: Vec<(String, &str)> = Vec::new();
    for e in cv
        .key("env")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let (Some(n), Some(v)) = (
            e.key("name").and_then(Value::as_str),
            e.key("value").and_then(Value::as_str),
        ) {
            texts.push((format!("env {n}"), v));
        }
    }
    for list in ["command", "args"] {
        for a in cv.key(list).and_then(Value::as_array).into_iter().flatten() {
            if let Some(a) = a.as_str() {
                texts.push((list.to_string(), a));
            }
        }
    }
    for (where_, t) in &texts {
        if let Some(i) = t.find("-Xmx") {
            let rest = &t[i + 4..];
            let end = rest
                .find(|c: char| !c.is_ascii_alphanumeric())
                .unwrap_or(rest.len());
            if let Some(b) = jvm_size(&rest[..end]) {
                return Some(Memory::Heap(b, format!("-Xmx{} in {where_}", &rest[..end])));
            }
        }
        if t.contains("MaxRAMPercentage") || t.contains("MaxRAMFraction") {
            return Some(Memory::Unbounded(format!(
                "the JVM sizes its heap as a share of the limit ({where_})"
            )));
        }
    }
    let store = crate::inventory::facts::data_store(image?)?;
    Some(Memory::Unbounded(format!(
        "image {store} is a data store whose memory grows with its data"
    )))
}

/// A JVM size (`2g`, `512m`, `1024k`, bytes) in bytes.
fn jvm_size(s: &str) -> Option<f64> {
    let (num, mult) = match s.chars().last()? {
        'g' | 'G' => (&s[..s.len() - 1], 1024.0 * 1024.0 * 1024.0),
        'm' | 'M' => (&s[..s.len() - 1], 1024.0 * 1024.0),
        'k' | 'K' => (&s[..s.len() - 1], 1024.0),
        _ => (s, 1.0),
    };
    num.parse::<f64>().ok().map(|n| n * mult)
}
