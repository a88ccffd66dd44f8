//! Workload facts, derived once per inventory from the whole release: who calls a pod (the API
//! server, nodes, clients outside the namespace), whether it is a node agent that can never
//! reach the restricted Pod Security level, whether its controller creates pods at run time.
//!
//! Every fact carries its evidence as a sentence ("ClusterRole x (bound by ClusterRoleBinding
//! y) may create validatingwebhookconfigurations"), which rules quote in their findings. Rules
//! that change a workload consult these facts before an unsafe fix and withhold it when the
//! facts say it would break the workload.

use std::collections::BTreeMap;

use crate::yaml::Value;

use super::rbac::strings;
use super::{Inventory, Workload};
use crate::document::Document;
use crate::yaml::view::ValueExt;

/// A port reached from outside the namespace, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenPort {
    /// Container port number, or a name (`None` number) left to the CNI.
    pub port: PortSpec,
    /// `TCP`, `UDP` or `SCTP`.
    pub protocol: String,
    /// Why it must be reachable from any source.
    pub why: String,
}

/// A destination port: number or container port name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum PortSpec {
    /// A number.
    Num(i64),
    /// A container port name.
    Name(String),
}

/// What the release says about one workload (indexed like [`Inventory::workloads`]).
#[derive(Debug, Clone, Default)]
pub struct WorkloadFacts {
    /// Why the pod can never reach the restricted level (host namespaces, hostPath volumes,
    /// hostPorts, privileged containers): a node agent or a system component. Restricted-only unsafe
    /// fixes are withheld for it.
    pub unrestrictable: Option<String>,
    /// Why the API server calls this pod's servers (admission or conversion webhooks,
    /// aggregated APIs, the service proxy), when it does.
    pub api_server_calls: Vec<String>,
    /// Ports reached from outside the namespace (hostPort, NodePort/LoadBalancer Services,
    /// Ingress and Gateway API backends, API-server-called Services, kubelet probes).
    pub open_ports: Vec<OpenPort>,
    /// Why this workload's controller creates pods at run time, when it may.
    pub spawns_pods: Option<String>,
    /// Metrics ports a monitoring system in a namespace the chart does not name scrapes
    /// (port names, `prometheus.io/port`, ServiceMonitor and PodMonitor endpoints).
    pub scrape_ports: Vec<OpenPort>,
    /// Why the pod's ServiceAccount token is a credential outside the API server's RBAC, when
    /// the pod says so: an injected agent or a container logs in to Vault or Consul with it
    /// (their Kubernetes auth needs no binding in the release).
    pub token_login: Option<String>,
}

/// Facts about the whole release.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// Per workload, in inventory order.
    pub workloads: Vec<WorkloadFacts>,
    /// Namespaces (`*` = every namespace) where a controller of the release may create pods
    /// at run time, with the evidence.
    pub spawning_namespaces: BTreeMap<String, String>,
}

impl Facts {
    /// Why a controller of the release may create pods in `ns` at run time, if it may.
    pub fn spawns_in(&self, ns: &str) -> Option<&str> {
        self.spawning_namespaces
            .get(ns)
            .or_else(|| self.spawning_namespaces.get("*"))
            .or_else(|| {
                // An unknown release namespace is any of the namespaces named.
                ns.is_empty()
                    .then(|| self.spawning_namespaces.values().next())
                    .flatten()
            })
            .map(String::as_str)
    }
}

/// One rule of a Role/ClusterRole.
struct Grant {
    groups: Vec<String>,
    resources: Vec<String>,
    verbs: Vec<String>,
    names: Vec<String>,
}

fn grants_of(v: &Value) -> Vec<Grant> {
    v.key("rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|r| Grant {
            groups: strings(r, "apiGroups"),
            resources: strings(r, "resources"),
            verbs: strings(r, "verbs"),
            names: strings(r, "resourceNames"),
        })
        .collect()
}

fn any_of(have: &[String], want: &[&str]) -> bool {
    have.iter().any(|h| h == "*" || want.contains(&h.as_str()))
}

impl Grant {
    fn allows(&self, group: &str, resources: &[&str], verbs: &[&str]) -> bool {
        any_of(&self.groups, &[group])
            && any_of(&self.resources, resources)
            && any_of(&self.verbs, verbs)
    }
}

/// A role a workload's ServiceAccount holds, with the scope it holds it in.
struct Held<'a> {
    role: String,
    binding: String,
    /// Namespace the permission applies to (`*` for a ClusterRoleBinding).
    scope: String,
    grants: &'a [Grant],
}

const WRITE: &[&str] = &["create", "update", "patch"];

/// Resource groups whose write access makes a controller a server the API server calls.
const API_CALLED: &[(&str, &[&str], &str)] = &[
    (
        "admissionregistration.k8s.io",
        &[
            "validatingwebhookconfigurations",
            "mutatingwebhookconfigurations",
        ],
        "registers admission webhooks at run time",
    ),
    (
        "apiregistration.k8s.io",
        &["apiservices"],
        "serves an aggregated API",
    ),
    (
        "apiextensions.k8s.io",
        &["customresourcedefinitions"],
        "may register CRD conversion webhooks",
    ),
];

/// Resources whose creation spawns pods.
const SPAWN: &[(&str, &[&str])] = &[
    ("", &["pods"]),
    (
        "apps",
        &["deployments", "statefulsets", "daemonsets", "replicasets"],
    ),
    ("batch", &["jobs", "cronjobs"]),
];

/// Derives the facts of a release.
pub fn derive(docs: &[Document], inv: &Inventory) -> Facts {
    // Roles by (kind, namespace, name).
    let mut roles: BTreeMap<(&str, String, String), Vec<Grant>> = BTreeMap::new();
    for kind in ["Role", "ClusterRole"] {
        for o in inv.of_kind(kind) {
            if !o
                .resource
                .api_version
                .starts_with("rbac.authorization.k8s.io/")
            {
                continue;
            }
            let ns = if kind == "Role" {
                inv.namespace_of(&o.resource)
            } else {
                String::new()
            };
            roles.insert(
                (kind, ns, o.resource.name.to_string()),
                grants_of(docs[o.doc()].object_value(o)),
            );
        }
    }
    let held = |w: &Workload| -> Vec<Held<'_>> {
        let mut out = Vec::new();
        for b in inv.bindings_for(&w.namespace, &w.service_account) {
            let bns = inv.namespace_of(&b.object.resource);
            let (key, scope) = match (b.object.resource.kind.as_str(), b.role_kind.as_str()) {
                ("ClusterRoleBinding", _) => (
                    ("ClusterRole", String::new(), b.role_name.clone()),
                    "*".to_string(),
                ),
                (_, "ClusterRole") => (
                    ("ClusterRole", String::new(), b.role_name.clone()),
                    bns.clone(),
                ),
                _ => (("Role", bns.clone(), b.role_name.clone()), bns.clone()),
            };
            if let Some(g) = roles.get(&key) {
                out.push(Held {
                    role: format!("{} {}", key.0, key.2),
                    binding: format!("{} {}", b.object.resource.kind, b.object.resource.name),
                    scope,
                    grants: g,
                });
            }
        }
        out
    };
    let proxied = by_name(proxied_services(inv, &roles));
    let api_services = by_name(in_stream_api_services(docs, inv));
    let backends = by_name(backend_services(docs, inv));
    let mut facts = Facts::default();
    let monitored = monitored_ports(docs, inv);
    for (wi, w) in inv.workloads.iter().enumerate() {
        let mut f = WorkloadFacts::default();
        let doc = &docs[w.object.doc()].value;
        let tpl = w.template.lookup(doc).unwrap_or(&Value::Null);
        let spec = w.pod_spec.lookup(doc).unwrap_or(&Value::Null);
        let ports = container_ports(spec);
        f.unrestrictable = unrestrictable(spec);
        f.token_login = token_login(doc, w, tpl);
        let hs = held(w);
        for (group, resources, what) in API_CALLED {
            if let Some(h) = hs
                .iter()
                .find(|h| h.grants.iter().any(|g| g.allows(group, resources, WRITE)))
            {
                f.api_server_calls.push(format!(
                    "it {what}: {} (bound by {}) may write {}",
                    h.role,
                    h.binding,
                    resources.join("/")
                ));
            }
        }
        for (group, resources) in SPAWN {
            if let Some(h) = hs.iter().find(|h| {
                h.grants
                    .iter()
                    .any(|g| g.allows(group, resources, &["create"]))
            }) {
                let why = format!(
                    "{} (bound by {}) lets ServiceAccount {} create {}",
                    h.role,
                    h.binding,
                    w.service_account,
                    resources.join("/")
                );
                facts
                    .spawning_namespaces
                    .entry(h.scope.clone())
                    .or_insert_with(|| format!("{why} in {}", scope_name(&h.scope)));
                f.spawns_pods.get_or_insert(why);
                break;
            }
        }
        // Services selecting the workload that outside callers reach.
        for s in inv.services_for(w) {
            let sv = docs[s.object.doc()].object_value(&s.object);
            let stype = sv
                .ptr("/spec/type")
                .and_then(Value::as_str)
                .unwrap_or("ClusterIP");
            let key = (s.namespace.clone(), s.name.clone());
            let mut why: Vec<String> = Vec::new();
            if stype == "NodePort" || stype == "LoadBalancer" {
                why.push(format!("Service {} is type {stype}", s.name));
            }
            if let Some(w) = find(&api_services, &key) {
                why.push(format!("the API server calls Service {} ({})", s.name, w.1));
            }
            if let Some(w) = find(&proxied, &key) {
                why.push(format!(
                    "Service {} is reached through the API server's service proxy ({})",
                    s.name, w.1
                ));
            }
            if let Some(b) = find(&backends, &key) {
                why.push(format!(
                    "Service {} is a backend of {} (the ingress controller or gateway runs in a namespace the chart does not name)",
                    s.name, b.1
                ));
            }
            if !f.api_server_calls.is_empty() {
                why.push(format!(
                    "Service {} fronts a server the API server calls ({})",
                    s.name, f.api_server_calls[0]
                ));
            }
            if why.is_empty() {
                continue;
            }
            for p in &s.ports {
                if let Some(port) = port_spec(&p.target) {
                    push_port(
                        &mut f.open_ports,
                        resolve(&ports, port),
                        &p.protocol,
                        &why.join("; "),
                    );
                }
            }
        }
        // Metrics ports named by the pod's annotations or by monitors of the stream.
        if let Some(port) = tpl
            .ptr("/metadata/annotations")
            .and_then(|a| a.key("prometheus.io/port"))
            .and_then(|v| match v {
                Value::String(s) => s.parse::<i64>().ok(),
                Value::Number(n) => crate::yaml::view::number_as_int(n),
                _ => None,
            })
        {
            push_port(
                &mut f.scrape_ports,
                PortSpec::Num(port),
                "TCP",
                "its pod template carries prometheus.io/port",
            );
        }
        let monitored = &monitored[wi];
        // Container ports: hostPorts; every port of a server the API server calls but that no
        // Service of the stream fronts (it registers itself at run time).
        let no_service = inv.services_for(w).is_empty();
        for list in ["initContainers", "containers"] {
            for c in spec
                .key(list)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                for p in c
                    .key("ports")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let Some(n) = p.key("containerPort").and_then(crate::yaml::view::as_int) else {
                        continue;
                    };
                    let proto = p.key("protocol").and_then(Value::as_str).unwrap_or("TCP");
                    if let Some(h) = p.key("hostPort").and_then(crate::yaml::view::as_int) {
                        push_port(
                            &mut f.open_ports,
                            PortSpec::Num(n),
                            proto,
                            &format!("container port {n} is published on the node as hostPort {h}"),
                        );
                    }
                    if let Some(name) = p.key("name").and_then(Value::as_str) {
                        let l = name.to_ascii_lowercase();
                        if ["metric", "prom", "exporter", "monitoring", "telemetry"]
                            .iter()
                            .any(|m| l.contains(m))
                            || monitored.iter().any(|m| m == name)
                        {
                            push_port(
                                &mut f.scrape_ports,
                                PortSpec::Num(n),
                                proto,
                                &format!("container port {name:?} serves metrics, which a monitoring system in any namespace may scrape"),
                            );
                        }
                    }
                    if no_service && !f.api_server_calls.is_empty() {
                        push_port(
                            &mut f.open_ports,
                            PortSpec::Num(n),
                            proto,
                            &f.api_server_calls[0].clone(),
                        );
                    }
                }
                // Kubelet probes come from the node, not from a pod.
                for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
                    let Some(pv) = c.key(probe) else { continue };
                    for handler in ["httpGet", "tcpSocket", "grpc"] {
                        let Some(port) = pv.key(handler).and_then(|h| h.key("port")) else {
                            continue;
                        };
                        if let Some(port) = port_spec(port) {
                            push_port(
                                &mut f.open_ports,
                                resolve(&ports, port),
                                "TCP",
                                &format!(
                                    "the kubelet probes it ({probe} of container {:?})",
                                    c.key("name").and_then(Value::as_str).unwrap_or("")
                                ),
                            );
                        }
                    }
                }
            }
        }
        facts.workloads.push(f);
    }
    facts
}

/// A port as a Service's `targetPort` or a probe writes it: a number, a numeric string, or a
/// container port name.
fn port_spec(v: &Value) -> Option<PortSpec> {
    match v {
        Value::Number(n) => crate::yaml::view::number_as_int(n).map(PortSpec::Num),
        Value::String(s) => Some(match s.parse::<i64>() {
            Ok(n) => PortSpec::Num(n),
            Err(_) => PortSpec::Name(s.to_string()),
        }),
        _ => None,
    }
}

/// Every container port of a pod spec: (name, number).
fn container_ports(spec: &Value) -> Vec<(Option<&str>, i64)> {
    ["initContainers", "containers"]
        .iter()
        .filter_map(|l| spec.key(l).and_then(Value::as_array))
        .flatten()
        .filter_map(|c| c.key("ports").and_then(Value::as_array))
        .flatten()
        .filter_map(|p| {
            let n = p.key("containerPort").and_then(crate::yaml::view::as_int)?;
            Some((p.key("name").and_then(Value::as_str), n))
        })
        .collect()
}

/// A named port resolved against the pod's container ports (left named when none declares it).
fn resolve(ports: &[(Option<&str>, i64)], port: PortSpec) -> PortSpec {
    match &port {
        PortSpec::Name(name) => ports
            .iter()
            .find(|(n, _)| *n == Some(name.as_str()))
            .map_or(port.clone(), |(_, num)| PortSpec::Num(*num)),
        PortSpec::Num(_) => port,
    }
}

fn scope_name(scope: &str) -> String {
    if scope == "*" {
        "every namespace".to_string()
    } else if scope.is_empty() {
        "the release namespace".to_string()
    } else {
        format!("namespace {scope}")
    }
}

/// (namespace, Service) → evidence, indexed by the Service's name.
type ByName = std::collections::HashMap<String, Vec<((String, String), String)>>;

fn by_name(v: Vec<((String, String), String)>) -> ByName {
    let mut m = ByName::new();
    for e in v {
        m.entry(e.0 .1.clone()).or_default().push(e);
    }
    m
}

/// The first entry for the Service `key` (namespace, name).
fn find<'a>(m: &'a ByName, key: &(String, String)) -> Option<&'a ((String, String), String)> {
    m.get(&key.1)?
        .iter()
        .find(|(k, _)| Inventory::same_namespace(&k.0, &key.0))
}

fn push_port(ports: &mut Vec<OpenPort>, port: PortSpec, protocol: &str, why: &str) {
    if ports
        .iter()
        .any(|p| p.port == port && p.protocol == protocol)
    {
        return;
    }
    ports.push(OpenPort {
        port,
        protocol: protocol.to_string(),
        why: why.to_string(),
    });
}

/// Pod template annotations of injectors whose agent logs in with the pod's ServiceAccount
/// token (Vault's and Consul's Kubernetes auth methods), with who logs in.
const TOKEN_LOGIN_INJECTORS: &[(&str, &str)] = &[
    (
        "vault.hashicorp.com/agent-inject",
        "the injected Vault agent logs in to Vault",
    ),
    (
        "consul.hashicorp.com/connect-inject",
        "the injected Consul sidecar logs in to Consul",
    ),
];

/// Why the pod template's ServiceAccount token is used to log in outside the API server, if
/// the template says so: an injector annotation set to `true`, or a container configured for
/// Vault (`VAULT_ADDR`; Vault's Kubernetes auth reads the mounted token).
fn token_login(doc: &Value, w: &Workload, tpl: &Value) -> Option<String> {
    let annotations = tpl.ptr("/metadata/annotations");
    for (key, who) in TOKEN_LOGIN_INJECTORS {
        let on = annotations
            .and_then(|a| a.key(key))
            .is_some_and(|v| match v {
                // The injectors read it with Go's strconv.ParseBool.
                Value::String(s) => {
                    matches!(s.as_ref(), "1" | "t" | "T" | "true" | "TRUE" | "True")
                }
                Value::Number(n) => n.as_i64() == Some(1),
                Value::Bool(b) => *b,
                _ => false,
            });
        if on {
            return Some(format!("{who} with it (annotation {key})"));
        }
    }
    w.containers.iter().find_map(|c| {
        let vault = c
            .path
            .lookup(doc)
            .and_then(|cv| cv.key("env"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|e| e.key("name").and_then(Value::as_str) == Some("VAULT_ADDR"));
        vault.then(|| {
            format!(
                "container {:?} talks to Vault (env VAULT_ADDR) and may log in with it (Vault's Kubernetes auth)",
                c.name
            )
        })
    })
}

/// The shell script of a container (`sh -c "<script>"` in command/args), if it is one.
pub fn shell_script(cv: &Value) -> Option<String> {
    let mut words: Vec<String> = Vec::new();
    for f in ["command", "args"] {
        if let Some(a) = cv.get(f).and_then(Value::as_array) {
            for x in a {
                words.push(x.as_str()?.to_string());
            }
        }
    }
    let shells = ["sh", "/bin/sh", "bash", "/bin/bash", "ash", "/bin/ash"];
    let pos = words.iter().position(|w| shells.contains(&w.as_str()))?;
    let rest = &words[pos + 1..];
    let c = rest
        .iter()
        .position(|w| w.starts_with('-') && w.contains('c'))?;
    Some(rest[c + 1..].join(" "))
}

/// True when every statement of the script is chown/chmod/mkdir/echo/true/set/ls.
pub fn only_ownership(script: &str) -> bool {
    let mut saw_chown = false;
    for stmt in script.split([';', '&', '\n', '|']) {
        let Some(cmd) = stmt.split_whitespace().next() else {
            continue;
        };
        match cmd {
            "chown" | "chgrp" => saw_chown = true,
            "chmod" | "mkdir" | "echo" | "true" | "set" | "ls" | "exit" => {}
            _ => return false,
        }
    }
    saw_chown
}

/// True when a script only waits for something over the network (`until nslookup db; do sleep
/// 2; done`, `nc -z`, `wget`/`curl` to a URL): commands any user may run, so an init container
/// running it needs no root even when its image starts as root (busybox, alpine, curl images).
pub fn only_waits(script: &str) -> bool {
    const KEYWORDS: &[&str] = &[
        "until", "while", "do", "done", "then", "else", "fi", "if", "!",
    ];
    const HARMLESS: &[&str] = &[
        "nslookup", "nc", "wget", "curl", "sleep", "echo", "printf", "true", "false", "test", "[",
        "[[", "exit", "set", "getent", "dig", "host", "date",
    ];
    let mut any = false;
    // `2>&1` joins output, it writes no file (and its `&` is no statement separator).
    let script = script
        .replace("2>&1", "")
        .replace("1>&2", "")
        .replace(">&2", "");
    for stmt in script.split([';', '&', '\n', '|']) {
        let Some(cmd) = stmt.split_whitespace().find(|w| !KEYWORDS.contains(w)) else {
            continue;
        };
        // A redirect to a file writes somewhere: not only a wait.
        if stmt.contains('>') && !stmt.contains("/dev/null") {
            return false;
        }
        if !HARMLESS.contains(&cmd) {
            return false;
        }
        // wget saves what it fetches into the working directory (`/`, root's) unless told
        // otherwise; curl writes a file only when told to.
        let words: Vec<&str> = stmt.split_whitespace().collect();
        let nowhere = stmt.contains("/dev/null");
        let saves = match cmd {
            "wget" => {
                !(nowhere
                    || stmt.contains("--spider")
                    || words.iter().any(|w| w.ends_with("O-"))
                    || words
                        .windows(2)
                        .any(|p| p[0].starts_with('-') && p[0].ends_with('O') && p[1] == "-"))
            }
            "curl" => {
                !nowhere
                    && words.iter().any(|w| {
                        matches!(*w, "-o" | "-O" | "--remote-name") || w.starts_with("--output")
                    })
            }
            _ => false,
        };
        if saves {
            return false;
        }
        any = true;
    }
    any
}

/// The owner a script's first `chown` gives, as written: `chown -R 1000:2000 /x` →
/// ("1000", Some("2000")), `chown 1000 /x` → ("1000", None).
pub(crate) fn chown_target(script: &str) -> Option<(&str, Option<&str>)> {
    script.split([';', '&', '\n', '|']).find_map(|stmt| {
        let mut words = stmt.split_whitespace();
        if words.next() != Some("chown") {
            return None;
        }
        let target = words.find(|w| !w.starts_with('-'))?;
        Some(match target.split_once(':') {
            Some((user, group)) => (user, Some(group)),
            None => (target, None),
        })
    })
}

/// The numeric owner a script's chown gives: `chown -R 999:999 /x` → (999, Some(999)),
/// `chown 1000 /x` → (1000, None); none for names (`postgres:postgres`) or root.
pub fn chown_owner(script: &str) -> Option<(i64, Option<i64>)> {
    let (user, group) = chown_target(script)?;
    let uid = user.parse::<i64>().ok().filter(|u| *u > 0)?;
    Some((uid, group.and_then(|g| g.parse().ok())))
}

/// What stands in the way of a UID chosen for a workload's pod, from what is known of the
/// users its containers start as.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StartUsers {
    /// Why a container is known to start as root, or as a user no UID can stand for.
    pub root: Option<String>,
    /// Why nothing says which user a container starts as.
    pub unknown: Option<String>,
}

/// What stands in the way of a UID chosen for `w`'s pod (the first container of each case):
/// - the chart runs one of its containers as root: `runAsUser: 0` on it, or on the pod where
///   it sets none (except an init container that only chowns the volumes: CH108 replaces it
///   with fsGroup, and the UID CH101 chooses is the owner it chowns to);
/// - the chart sets no `runAsUser` for a container (neither on it nor on the pod) and its
///   image config, read while pinning, leaves `User` unset or names root, or names a user
///   only by name (except an init container whose script only waits for a peer, see
///   [`only_waits`]);
/// - unknown: the chart sets no `runAsUser` for a container and its image config was not read
///   (pinning is off, or the lookup failed), unless an init container of the pod chowns the
///   volumes (the owner it chowns to is the user the chart means to run as).
///
/// Such a container was made to start as its image's user: its entrypoint may chown, switch
/// users, bind low ports or write where only that user may, so a UID chosen without evidence,
/// or dropping its capabilities, could stop it.
pub fn start_users(
    docs: &[Document],
    w: &Workload,
    images: &BTreeMap<String, super::images::ImageFacts>,
) -> StartUsers {
    let mut out = StartUsers::default();
    let Some(doc) = docs.get(w.object.doc()).map(|d| &d.value) else {
        return out;
    };
    let pod_uid = w
        .pod_spec
        .lookup(doc)
        .and_then(|s| s.ptr("/securityContext/runAsUser"));
    let chown_init = |c: &super::Container, cv: &Value| {
        c.list == "initContainers" && shell_script(cv).is_some_and(|s| only_ownership(&s))
    };
    // A root init container that chowns the volumes to a numeric owner names the user the
    // chart means to run as (the UID CH101 then chooses).
    let chowns = w.containers.iter().any(|c| {
        c.path.lookup(doc).is_some_and(|cv| {
            let root = cv
                .ptr("/securityContext/runAsUser")
                .or(pod_uid)
                .and_then(crate::yaml::view::as_int)
                == Some(0);
            // (The script read once: it only chowns, to a numeric owner.)
            root && c.list == "initContainers"
                && shell_script(cv).is_some_and(|s| only_ownership(&s) && chown_owner(&s).is_some())
        })
    });
    for c in w
        .containers
        .iter()
        .filter(|c| c.list != "ephemeralContainers")
    {
        let Some(cv) = c.path.lookup(doc) else {
            continue;
        };
        let own = cv.ptr("/securityContext/runAsUser");
        if let Some(uid) = own.or(pod_uid) {
            // A root init container that only chowns the volumes is CH108's.
            if crate::yaml::view::as_int(uid) == Some(0) && !chown_init(c, cv) {
                out.root.get_or_insert_with(|| {
                    format!(
                        "container {:?} runs as root by the chart's choice (runAsUser: 0{})",
                        c.name,
                        if own.is_some() { "" } else { " on the pod" }
                    )
                });
            }
            continue;
        }
        // An init container that only waits for a peer runs as any user.
        if c.list == "initContainers" && shell_script(cv).is_some_and(|s| only_waits(&s)) {
            continue;
        }
        let Some(image) = c.image.as_deref() else {
            continue;
        };
        let Some(user) = super::images::facts_of(images, image).and_then(|f| f.user.as_deref())
        else {
            if !chowns {
                out.unknown.get_or_insert_with(|| {
                    format!(
                        "container {:?}: the config of image {} was not read (pinning is off, or its lookup failed)",
                        c.name,
                        chart_harden_registry::shown(image)
                    )
                });
            }
            continue;
        };
        let name = user.split(':').next().unwrap_or_default();
        let what = match name.parse::<i64>() {
            Ok(0) => format!("names user {user:?} (root)"),
            Ok(_) => continue,
            Err(_) if name.is_empty() || name == "root" => {
                if user.is_empty() {
                    "sets no User, so it starts as root".to_string()
                } else {
                    format!("names user {user:?} (root)")
                }
            }
            Err(_) => {
                format!("names user {user:?} by name (its UID is not in the image config)")
            }
        };
        out.root.get_or_insert_with(|| {
            format!("container {:?}: image {image}'s config {what}", c.name)
        });
    }
    out
}

/// Why a pod spec can never be restricted, if so: it uses what no fix changes (host
/// namespaces, hostPath volumes, hostPorts: report-only) or is privileged (a node agent or system
/// component; removing privileges is never a fix that keeps it working).
pub fn unrestrictable(spec: &Value) -> Option<String> {
    for k in ["hostNetwork", "hostPID", "hostIPC"] {
        if spec.key(k).and_then(Value::as_bool) == Some(true) {
            return Some(format!("it uses {k}"));
        }
    }
    if let Some(v) = spec
        .key("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|v| v.key("hostPath").is_some())
    {
        return Some(format!(
            "it mounts hostPath volume {:?}",
            v.key("name").and_then(Value::as_str).unwrap_or("")
        ));
    }
    if spec
        .ptr("/securityContext/windowsOptions/hostProcess")
        .and_then(Value::as_bool)
        == Some(true)
    {
        return Some("it is a Windows HostProcess pod".to_string());
    }
    for list in ["initContainers", "containers"] {
        for c in spec
            .key(list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = c.key("name").and_then(Value::as_str).unwrap_or("");
            let sc = c.key("securityContext").unwrap_or(&Value::Null);
            if sc.key("privileged").and_then(Value::as_bool) == Some(true) {
                return Some(format!("container {name:?} is privileged"));
            }
            if let Some(p) = c
                .key("ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find_map(|p| p.key("hostPort").and_then(crate::yaml::view::as_int))
                .filter(|p| *p != 0)
            {
                return Some(format!("container {name:?} publishes hostPort {p}"));
            }
            if sc
                .ptr("/windowsOptions/hostProcess")
                .and_then(Value::as_bool)
                == Some(true)
            {
                return Some(format!(
                    "container {name:?} is a Windows HostProcess container"
                ));
            }
        }
    }
    None
}

/// Which namespaces a monitor (ServiceMonitor, PodMonitor) looks in: its own unless its
/// `namespaceSelector` says `any: true` (`None`: every namespace) or names them.
fn monitor_namespaces(
    inv: &Inventory,
    o: &crate::document::Object,
    v: &Value,
) -> Option<Vec<String>> {
    let sel = v.ptr("/spec/namespaceSelector");
    if sel.and_then(|s| s.key("any")).and_then(Value::as_bool) == Some(true) {
        return None;
    }
    if let Some(names) = sel
        .and_then(|s| s.key("matchNames"))
        .and_then(Value::as_array)
    {
        return Some(
            names
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
        );
    }
    Some(vec![inv.namespace_of(&o.resource)])
}

/// Container port names the monitors of the stream scrape, per workload (inventory order):
/// ServiceMonitors through the target port of a Service's named port, PodMonitors directly.
/// Each monitor is matched once against the Services (or workloads) of the namespaces it
/// looks in, not once per workload.
fn monitored_ports(docs: &[Document], inv: &Inventory) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = vec![Vec::new(); inv.workloads.len()];
    let sms = inv.by_kind.get("ServiceMonitor");
    let pms = inv.by_kind.get("PodMonitor");
    if sms.is_none() && pms.is_none() {
        return out;
    }
    let in_scope = |scope: &Option<Vec<String>>, ns: &str| {
        scope
            .as_ref()
            .is_none_or(|names| names.iter().any(|n| Inventory::same_namespace(n, ns)))
    };
    // Service → the port names monitors scrape on it.
    let mut by_service: Vec<Vec<String>> = vec![Vec::new(); inv.services.len()];
    let service_labels: Vec<super::Labels> = inv
        .services
        .iter()
        .map(|s| {
            super::labels_at(
                docs[s.object.doc()].object_value(&s.object),
                "/metadata/labels",
            )
        })
        .collect();
    for o in sms.into_iter().flatten() {
        let v = docs[o.doc()].object_value(o);
        let sel = v.ptr("/spec/selector").unwrap_or(&Value::Null);
        let scope = monitor_namespaces(inv, o, v);
        let ports: Vec<&str> = v
            .ptr("/spec/endpoints")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|ep| ep.key("port").and_then(Value::as_str))
            .collect();
        for (si, s) in inv.services.iter().enumerate() {
            if !in_scope(&scope, &s.namespace)
                || !super::label_selector_matches(sel, &service_labels[si])
            {
                continue;
            }
            for sp in &s.ports {
                if sp.name.as_deref().is_some_and(|n| ports.contains(&n)) {
                    if let Value::String(t) = &sp.target {
                        by_service[si].push(t.to_string());
                    }
                }
            }
        }
    }
    if by_service.iter().any(|p| !p.is_empty()) {
        for (wi, w) in inv.workloads.iter().enumerate() {
            for si in inv.services_for_ix(w) {
                out[wi].extend(by_service[si].iter().cloned());
            }
        }
    }
    for o in pms.into_iter().flatten() {
        let v = docs[o.doc()].object_value(o);
        let sel = v.ptr("/spec/selector").unwrap_or(&Value::Null);
        let scope = monitor_namespaces(inv, o, v);
        let ports: Vec<String> = v
            .ptr("/spec/podMetricsEndpoints")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|ep| ep.key("port").and_then(Value::as_str))
            .map(str::to_string)
            .collect();
        for (wi, w) in inv.workloads.iter().enumerate() {
            if in_scope(&scope, &w.namespace) && super::label_selector_matches(sel, &w.labels) {
                out[wi].extend(ports.iter().cloned());
            }
        }
    }
    out
}

/// Services other roles of the release may reach through the API server's service proxy
/// (`services/proxy`): (namespace, name) → evidence. A rule without `resourceNames` covers
/// every Service of its scope.
fn proxied_services(
    inv: &Inventory,
    roles: &BTreeMap<(&str, String, String), Vec<Grant>>,
) -> Vec<((String, String), String)> {
    let mut out = Vec::new();
    for ((kind, ns, name), grants) in roles {
        for g in grants {
            if !g.allows("", &["services/proxy"], &["get", "create"]) {
                continue;
            }
            for s in &inv.services {
                let in_scope =
                    *kind == "ClusterRole" || Inventory::same_namespace(ns, &s.namespace);
                if in_scope && (g.names.is_empty() || g.names.contains(&s.name)) {
                    out.push((
                        (s.namespace.clone(), s.name.clone()),
                        format!("{kind} {name} grants services/proxy"),
                    ));
                }
            }
        }
    }
    out
}

/// Services the API server calls, named by objects of the stream: webhook configurations,
/// APIServices, CRD conversion webhooks.
fn in_stream_api_services(docs: &[Document], inv: &Inventory) -> Vec<((String, String), String)> {
    let mut out = Vec::new();
    let mut add = |svc: Option<&Value>, what: String| {
        if let Some(s) = svc {
            if let Some(n) = s.key("name").and_then(Value::as_str) {
                let ns = s.key("namespace").and_then(Value::as_str).unwrap_or("");
                out.push(((ns.to_string(), n.to_string()), what));
            }
        }
    };
    for (kind, objs) in &inv.by_kind {
        for o in objs {
            let v = docs[o.doc()].object_value(o);
            let what = format!("{kind} {}", o.resource.name);
            match kind.as_str() {
                "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration" => {
                    for wh in v
                        .key("webhooks")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        add(wh.ptr("/clientConfig/service"), what.clone());
                    }
                }
                "APIService" => add(v.ptr("/spec/service"), what),
                "CustomResourceDefinition" => {
                    add(v.ptr("/spec/conversion/webhook/clientConfig/service"), what)
                }
                _ => {}
            }
        }
    }
    out
}

/// Services that Ingress objects and Gateway API routes name as backends.
fn backend_services(docs: &[Document], inv: &Inventory) -> Vec<((String, String), String)> {
    let mut out = Vec::new();
    for o in inv.of_kind("Ingress") {
        let v = docs[o.doc()].object_value(o);
        let ns = inv.namespace_of(&o.resource);
        let what = format!("Ingress {}", o.resource.name);
        if let Some(n) = v
            .ptr("/spec/defaultBackend/service/name")
            .and_then(Value::as_str)
        {
            out.push(((ns.clone(), n.to_string()), what.clone()));
        }
        for r in v
            .ptr("/spec/rules")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            for p in r
                .ptr("/http/paths")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(n) = p.ptr("/backend/service/name").and_then(Value::as_str) {
                    out.push(((ns.clone(), n.to_string()), what.clone()));
                }
            }
        }
    }
    for kind in ["HTTPRoute", "GRPCRoute", "TCPRoute", "TLSRoute", "UDPRoute"] {
        for o in inv.of_kind(kind) {
            let v = docs[o.doc()].object_value(o);
            let ns = inv.namespace_of(&o.resource);
            let what = format!("{kind} {}", o.resource.name);
            for r in v
                .ptr("/spec/rules")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                for b in r
                    .key("backendRefs")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let k = b.key("kind").and_then(Value::as_str).unwrap_or("Service");
                    if k != "Service" {
                        continue;
                    }
                    if let Some(n) = b.key("name").and_then(Value::as_str) {
                        let bns = b
                            .key("namespace")
                            .and_then(Value::as_str)
                            .map_or_else(|| ns.clone(), str::to_string);
                        out.push(((bns, n.to_string()), what.clone()));
                    }
                }
            }
        }
    }
    out
}

/// Image repositories (last path segment) of servers whose memory grows with their data and
/// whose data directory must be owned by their own user.
const DATA_STORES: &[&str] = &[
    "postgres",
    "postgresql",
    "mysql",
    "mariadb",
    "mongo",
    "mongodb",
    "redis",
    "valkey",
    "elasticsearch",
    "opensearch",
    "cassandra",
    "clickhouse",
    "clickhouse-server",
    "kafka",
    "zookeeper",
    "etcd",
    "memcached",
    "neo4j",
    "couchdb",
    "influxdb",
    "minio",
];

/// The repository name when an image reference names a well-known data store.
pub fn data_store(image: &str) -> Option<&'static str> {
    let repo = image.split('@').next()?;
    let repo = match repo.rfind(':') {
        Some(i) if !repo[i..].contains('/') => &repo[..i],
        _ => repo,
    };
    let last = repo.rsplit('/').next()?;
    DATA_STORES.iter().copied().find(|d| *d == last)
}

#[cfg(test)]
mod wait_tests {
    use super::only_waits;

    #[test]
    fn scripts_that_only_wait_need_no_root() {
        for ok in [
            "until nslookup db; do echo waiting; sleep 2; done",
            "until nc -z db 5432; do sleep 1; done",
            "while ! wget -q --spider http://api:8080/health; do sleep 2; done",
            "until wget -qO- http://api:8080/ > /dev/null 2>&1; do sleep 2; done",
            "until curl -fs http://api:8080/health; do sleep 1; done",
        ] {
            assert!(only_waits(ok), "{ok}");
        }
        for writes in [
            "until wget http://api:8080/; do sleep 2; done",
            "curl -o /data/seed.sql http://seed/",
            "echo ready > /data/flag",
            "cp /src/* /dst/",
            "until nslookup db; do sleep 2; done; chown -R 1000 /data",
            "timeout 60 cp /src/x /dst/",
            "",
        ] {
            assert!(!only_waits(writes), "{writes}");
        }
    }
}
