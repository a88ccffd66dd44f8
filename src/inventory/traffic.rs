//! Service-reference inference: which workloads of the release talk to which Services.
//!
//! A workload references a Service when one of its containers' env values, args or command,
//! or the data of a ConfigMap its pods read (`envFrom`, `configMapKeyRef`, `configMap` and
//! projected volumes), contains the Service's DNS name as a host token:
//! `svc`, `svc.ns`, `svc.ns.svc`, `svc.ns.svc.cluster.local` (any cluster domain), optionally
//! behind a StatefulSet pod's hostname (`pod-0.svc-headless.ns.svc…`), with or without a URL
//! scheme, credentials or `:port`. A bare name inside a file path (`/var/lib/svc`) is not a
//! host and is ignored. A bare `svc` resolves in the client's own namespace only (the pod's
//! DNS search path). A namespace-qualified name needs the Service's namespace (or, when the
//! namespace is unknown, a name the stream uses as a namespace, or the `.svc` suffix).
//!
//! Used by the NetworkPolicy generator (CH402) and by the checkers in the tests.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use crate::yaml::Value;

use crate::document::Document;
use crate::inventory::pass::{Full, FullViews};
use crate::inventory::{Inventory, Service, Workload};
use crate::yaml::view::ValueExt;

/// One inferred edge: workload `from` names Service `service`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Reference {
    /// Index of the referring workload in `Inventory::workloads`.
    pub from: usize,
    /// Index of the Service in `Inventory::services`.
    pub service: usize,
    /// The port written after the host (`svc:5432`), if any.
    pub port: Option<i64>,
    /// Where it was found (`env WEB_URL of container "app"`).
    pub via: String,
    /// The host token as written (lower-cased).
    pub host: String,
}

/// A port a NetworkPolicy rule must allow: a number, or a container port name that could not
/// be resolved to a number.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PortRef {
    /// A port number.
    Num(i64),
    /// A named port (left to the CNI to resolve).
    Name(String),
}

/// A protocol and port.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResolvedPort {
    /// `TCP`, `UDP` or `SCTP`.
    pub protocol: String,
    /// The port.
    pub port: PortRef,
}

const fn is_host_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-' || c == b'.'
}

/// Spans of a text's host tokens: maximal runs of host bytes with their outer dots trimmed, as
/// `(run start, token start, token end, run end)` byte offsets. Host characters are ASCII, so the text
/// is scanned as bytes (a UTF-8 continuation byte is never one).
fn token_spans(b: &[u8]) -> impl Iterator<Item = (usize, usize, usize, usize)> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < b.len() {
            if !HOST_BYTE[usize::from(b[i])] {
                i += 1;
                continue;
            }
            let start = i;
            while i < b.len() && HOST_BYTE[usize::from(b[i])] {
                i += 1;
            }
            let run = &b[start..i];
            let lead = run.iter().take_while(|&&c| c == b'.').count();
            if lead == run.len() {
                continue;
            }
            let trail = run.iter().rev().take_while(|&&c| c == b'.').count();
            return Some((start, start + lead, i - trail, i));
        }
        None
    })
}

/// True when the run starting at `start` is a path segment (`/x/svc`, not `//svc`): no host.
fn is_path_segment(b: &[u8], start: usize) -> bool {
    start >= 1 && b[start - 1] == b'/' && !(start >= 2 && b[start - 2] == b'/')
}

/// Host tokens of a text (as written, outer dots trimmed) with the port written after each,
/// if any. Tokens that are path segments (`/x/svc`, not `//svc`) are dropped.
pub fn host_tokens(text: &str) -> impl Iterator<Item = (&str, Option<i64>)> {
    let b = text.as_bytes();
    token_spans(b)
        .filter(move |&(start, ..)| !is_path_segment(b, start))
        .map(move |(_, ts, te, end)| (&text[ts..te], port_after(text, end)))
}

/// True when the host token names the Service (see the module docs).
pub fn names_service(
    host: &str,
    svc: &Service,
    known_namespaces: &BTreeSet<String>,
    client_namespace: &str,
) -> bool {
    let labels: Vec<&str> = host.split('.').collect();
    let name = svc.name.to_ascii_lowercase();
    for i in 0..labels.len().min(2) {
        if labels[i] != name {
            continue;
        }
        let rest = &labels[i + 1..];
        if rest.is_empty() {
            if i == 0 {
                // A bare name resolves in the client's own namespace only (the pod's DNS
                // search path), not to a Service of that name elsewhere in the stream.
                return Inventory::same_namespace(&svc.namespace, client_namespace);
            }
            continue;
        }
        let ns = rest[0];
        let svc_suffix = rest.get(1) == Some(&"svc");
        let ns_ok = if svc.namespace.is_empty() {
            svc_suffix || known_namespaces.contains(ns)
        } else {
            ns == svc.namespace
        };
        if ns_ok && (rest.len() == 1 || svc_suffix) {
            return true;
        }
    }
    false
}

/// Namespaces the stream names (objects' namespaces and the release namespace).
pub fn known_namespaces(docs: &[Document], inv: &Inventory) -> BTreeSet<String> {
    let mut s: BTreeSet<String> = BTreeSet::new();
    if let Some(ns) = &inv.release_namespace {
        s.insert(ns.clone());
    }
    for d in docs {
        for o in &d.objects {
            if let Some(ns) = &o.resource.namespace {
                s.insert(ns.to_string());
            }
            if o.resource.kind == "Namespace" {
                s.insert(o.resource.name.to_string());
            }
        }
    }
    s
}

/// The `data` of the ConfigMap `name` of `namespace` (read again: the view leaves it out, see
/// [`crate::document::PRUNED`]).
fn configmap_data<'a>(
    docs: &'a [Document],
    inv: &Inventory,
    full: &FullViews,
    name: &str,
    namespace: &str,
) -> Option<Full<'a>> {
    let o = inv
        .config_named("ConfigMap", name)
        .find(|o| Inventory::same_namespace(inv.namespace_str(&o.resource), namespace))?;
    let v = full.get(docs, o);
    v.key("data")?.as_object()?;
    Some(v)
}

/// A Secret's values by key (`data` decoded from base64, then `stringData`), for reading
/// host names only: the values never leave this module, and a reference found in one is
/// reported by the Secret's name and key and the Service's name, never by the text.
fn secret_data(
    docs: &[Document],
    inv: &Inventory,
    full: &FullViews,
    name: &str,
    namespace: &str,
) -> Vec<(String, String)> {
    let Some(o) = inv
        .config_named("Secret", name)
        .find(|o| Inventory::same_namespace(inv.namespace_str(&o.resource), namespace))
    else {
        return Vec::new();
    };
    let v = full.get(docs, o);
    let mut out = Vec::new();
    if let Some(d) = v.key("data").and_then(Value::as_object) {
        for (k, x) in d {
            if let Some(text) = x
                .as_str()
                .and_then(base64_decode)
                .and_then(|b| String::from_utf8(b).ok())
            {
                out.push((k.to_string(), text));
            }
        }
    }
    if let Some(d) = v.key("stringData").and_then(Value::as_object) {
        for (k, x) in d {
            if let Some(t) = x.as_str() {
                out.push((k.to_string(), t.to_string()));
            }
        }
    }
    out
}

/// Standard base64 (padding and whitespace tolerated); `None` on any other byte.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' | b' ' | b'\n' | b'\r' | b'\t' => continue,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Where a workload text comes from, written out (`env WEB_URL of container "app"`) only for
/// the texts that name a Service: most texts name none.
#[derive(Debug, Clone)]
pub enum Via<'a> {
    /// An env value.
    Env {
        /// The variable.
        env: &'a str,
        /// The container.
        container: &'a str,
    },
    /// A ConfigMap key read through an env `configMapKeyRef`.
    EnvConfigMap {
        /// The ConfigMap.
        configmap: &'a str,
        /// Its key.
        key: &'a str,
        /// The variable.
        env: &'a str,
        /// The container.
        container: &'a str,
    },
    /// A container's `args` or `command`, joined by spaces.
    Field {
        /// `args` or `command`.
        field: &'static str,
        /// The container.
        container: &'a str,
    },
    /// A key of a Secret the pods read (env `secretKeyRef`, `envFrom`, volumes). Its value is
    /// read for host names and never written anywhere.
    Secret {
        /// The Secret.
        secret: &'a str,
        /// Its key.
        key: String,
        /// How the pods read it.
        uses: std::rc::Rc<str>,
    },
    /// A key of a ConfigMap the pods read whole (`envFrom`, volumes).
    ConfigMap {
        /// The ConfigMap.
        configmap: &'a str,
        /// Its key.
        key: crate::finding::Str,
        /// How the pods read it (`envFrom of container "app", volume config`).
        uses: std::rc::Rc<str>,
    },
}

impl std::fmt::Display for Via<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Via::Env { env, container } => write!(f, "env {env} of container {container:?}"),
            Via::EnvConfigMap {
                configmap,
                key,
                env,
                container,
            } => write!(
                f,
                "ConfigMap {configmap} key {key} (env {env} of container {container:?})"
            ),
            Via::Field { field, container } => write!(f, "{field} of container {container:?}"),
            Via::ConfigMap {
                configmap,
                key,
                uses,
            } => write!(f, "ConfigMap {configmap} key {key} ({uses})"),
            Via::Secret { secret, key, uses } => write!(f, "Secret {secret} key {key} ({uses})"),
        }
    }
}

/// Every text a workload's pods read, with where it comes from.
pub fn workload_texts<'a>(
    docs: &'a [Document],
    inv: &Inventory,
    full: &FullViews,
    w: &'a Workload,
) -> Vec<(Via<'a>, Cow<'a, str>)> {
    let mut out: Vec<(Via<'a>, Cow<'a, str>)> = Vec::new();
    let root = &docs[w.object.doc()].value;
    let spec = w.pod_spec.lookup(root).unwrap_or(&Value::Null);
    let mut cms: BTreeMap<&'a str, Vec<String>> = BTreeMap::new();
    // Secrets the pods read: name → (one key or all, how).
    let mut secrets: Vec<(&'a str, Option<&'a str>, String)> = Vec::new();
    for c in &w.containers {
        let Some(cv) = c.path.lookup(root) else {
            continue;
        };
        let container = c.name.as_str();
        if let Some(env) = cv.key("env").and_then(Value::as_array) {
            for e in env {
                let ename = e.key("name").and_then(Value::as_str).unwrap_or("?");
                if let Some(v) = e.key("value").and_then(Value::as_str) {
                    out.push((
                        Via::Env {
                            env: ename,
                            container,
                        },
                        v.into(),
                    ));
                }
                if let Some(r) = e.ptr("/valueFrom/secretKeyRef") {
                    if let (Some(n), Some(k)) = (
                        r.key("name").and_then(Value::as_str),
                        r.key("key").and_then(Value::as_str),
                    ) {
                        secrets.push((
                            n,
                            Some(k),
                            format!("env {ename} of container {container:?}"),
                        ));
                    }
                }
                if let Some(r) = e.ptr("/valueFrom/configMapKeyRef") {
                    let n = r.key("name").and_then(Value::as_str).unwrap_or_default();
                    let k = r.key("key").and_then(Value::as_str).unwrap_or_default();
                    if let Some(v) = configmap_data(docs, inv, full, n, &w.namespace)
                        .and_then(|d| Some(d.key("data")?.key(k)?.as_str()?.to_string()))
                    {
                        out.push((
                            Via::EnvConfigMap {
                                configmap: n,
                                key: k,
                                env: ename,
                                container,
                            },
                            v.into(),
                        ));
                    }
                }
            }
        }
        for field in ["args", "command"] {
            if let Some(a) = cv.get(field).and_then(Value::as_array) {
                let text: Vec<&str> = a.iter().filter_map(Value::as_str).collect();
                if !text.is_empty() {
                    out.push((Via::Field { field, container }, text.join(" ").into()));
                }
            }
        }
        if let Some(ef) = cv.key("envFrom").and_then(Value::as_array) {
            for e in ef {
                if let Some(n) = e.ptr("/secretRef/name").and_then(Value::as_str) {
                    secrets.push((n, None, format!("envFrom of container {container:?}")));
                }
                if let Some(n) = e.ptr("/configMapRef/name").and_then(Value::as_str) {
                    cms.entry(n)
                        .or_default()
                        .push(format!("envFrom of container {container:?}"));
                }
            }
        }
    }
    if let Some(vols) = spec.key("volumes").and_then(Value::as_array) {
        for v in vols {
            let vname = v.key("name").and_then(Value::as_str).unwrap_or("?");
            if let Some(n) = v.ptr("/configMap/name").and_then(Value::as_str) {
                cms.entry(n).or_default().push(format!("volume {vname}"));
            }
            if let Some(n) = v.ptr("/secret/secretName").and_then(Value::as_str) {
                secrets.push((n, None, format!("volume {vname}")));
            }
            if let Some(srcs) = v.ptr("/projected/sources").and_then(Value::as_array) {
                for s in srcs {
                    if let Some(n) = s.ptr("/configMap/name").and_then(Value::as_str) {
                        cms.entry(n).or_default().push(format!("volume {vname}"));
                    }
                    if let Some(n) = s.ptr("/secret/name").and_then(Value::as_str) {
                        secrets.push((n, None, format!("volume {vname}")));
                    }
                }
            }
        }
    }
    for (n, key, uses) in secrets {
        let uses: std::rc::Rc<str> = uses.into();
        for (k, v) in secret_data(docs, inv, full, n, &w.namespace) {
            if key.is_none_or(|want| want == k) {
                out.push((
                    Via::Secret {
                        secret: n,
                        key: k,
                        uses: uses.clone(),
                    },
                    v.into(),
                ));
            }
        }
    }
    for (n, uses) in cms {
        if let Some(cm) = configmap_data(docs, inv, full, n, &w.namespace) {
            let uses: std::rc::Rc<str> = uses.join(", ").into();
            for (k, v) in cm
                .key("data")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                if let Some(s) = v.as_str() {
                    out.push((
                        Via::ConfigMap {
                            configmap: n,
                            key: k.clone(),
                            uses: uses.clone(),
                        },
                        s.to_string().into(),
                    ));
                }
            }
        }
    }
    out
}

/// Bytes a host token is made of (see [`host_tokens`]), as a table.
const HOST_BYTE: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        t[c] = is_host_byte(c as u8);
        c += 1;
    }
    t
};

/// The port written after a host token ending at `i` (`svc:5432`), as [`host_tokens`] reads it.
fn port_after(text: &str, i: usize) -> Option<i64> {
    let b = text.as_bytes();
    if i >= b.len() || b[i] != b':' {
        return None;
    }
    let mut j = i + 1;
    while j < b.len() && b[j].is_ascii_digit() {
        j += 1;
    }
    if j > i + 1 && j - i <= 6 {
        text[i + 1..j]
            .parse::<i64>()
            .ok()
            .filter(|p| (1..=65535).contains(p))
    } else {
        None
    }
}

/// Every Service reference of every workload (deduplicated by workload, Service, port, via).
///
/// Reads the same host tokens as [`host_tokens`] (a test compares them), in an order that
/// rejects most tokens early: a token is looked at further only when its first or second
/// label is as long as some Service name.
pub fn references(docs: &[Document], inv: &Inventory, full: &FullViews) -> Vec<Reference> {
    let known = known_namespaces(docs, inv);
    // Services by lower-case name: a host names a Service only through its first or second
    // label, so each token is checked against a handful of candidates, not every Service.
    let mut by_name: std::collections::HashMap<String, Vec<usize>> = Default::default();
    // And by namespace: a name in a stream of many releases names a Service in each, and
    // only those in the namespaces the token can mean are candidates (`names_service`).
    let mut by_name_ns: std::collections::HashMap<
        String,
        std::collections::HashMap<&str, Vec<usize>>,
    > = Default::default();
    for (si, s) in inv.services.iter().enumerate() {
        let name = s.name.to_ascii_lowercase();
        by_name_ns
            .entry(name.clone())
            .or_default()
            .entry(s.namespace.as_str())
            .or_default()
            .push(si);
        by_name.entry(name).or_default().push(si);
    }
    // Bit n set: some Service name is n bytes long (DNS labels are at most 63).
    let name_lengths: u64 = by_name
        .keys()
        .filter(|n| n.len() < 64)
        .fold(0, |acc, n| acc | 1u64 << n.len());
    let mut out: BTreeSet<Reference> = BTreeSet::new();
    let mut candidates: Vec<usize> = Vec::new();
    for (wi, w) in inv.workloads.iter().enumerate() {
        for (via, text) in workload_texts(docs, inv, full, w) {
            let mut via_text: Option<String> = None;
            let b = text.as_bytes();
            for (start, ts, te, end) in token_spans(b) {
                let token = &text[ts..te];
                // Its first two labels: the only ones that can name a Service.
                // (Tokens are short: a plain loop beats a call to memchr.)
                let tb = token.as_bytes();
                let first_end = tb.iter().position(|&c| c == b'.').unwrap_or(tb.len());
                let second = (first_end < tb.len()).then(|| {
                    let rest = &tb[first_end + 1..];
                    let end = rest.iter().position(|&c| c == b'.').unwrap_or(rest.len());
                    (first_end + 1, first_end + 1 + end)
                });
                candidates.clear();
                let mut labels: Option<Vec<String>> = None;
                for (i, (ls, le)) in std::iter::once((0, first_end)).chain(second).enumerate() {
                    let len = le - ls;
                    // Most tokens are not Service names: a label whose length no Service name
                    // has is skipped without hashing it.
                    if len >= 64 || name_lengths & (1u64 << len) == 0 {
                        continue;
                    }
                    let l = &token[ls..le];
                    let lower;
                    let l = if l.bytes().any(|c| c.is_ascii_uppercase()) {
                        lower = l.to_ascii_lowercase();
                        lower.as_str()
                    } else {
                        l
                    };
                    let Some(all) = by_name.get(l) else {
                        continue;
                    };
                    // The namespaces a Service so named must be in to be named here: its
                    // namespace unknown (`""`), or the client's for a bare name, or the
                    // label after the name.
                    let labels = labels.get_or_insert_with(|| {
                        token
                            .to_ascii_lowercase()
                            .split('.')
                            .take(3)
                            .map(str::to_string)
                            .collect()
                    });
                    let ns = match (i, labels.get(i + 1)) {
                        (_, Some(next)) => next.as_str(),
                        (0, None) if w.namespace.is_empty() => {
                            candidates.extend(all);
                            continue;
                        }
                        (0, None) => w.namespace.as_str(),
                        _ => continue,
                    };
                    if let Some(by_ns) = by_name_ns.get(l) {
                        for n in ["", ns] {
                            candidates.extend(by_ns.get(n).into_iter().flatten());
                        }
                    }
                }
                if candidates.is_empty() {
                    continue;
                }
                // Path segments and ports are looked at only for tokens that may name a
                // Service (the order of `host_tokens`' checks does not change the result).
                if is_path_segment(b, start) {
                    continue;
                }
                let port = port_after(&text, end);
                candidates.sort_unstable();
                candidates.dedup();
                let host = token.to_ascii_lowercase();
                for &si in &candidates {
                    let s = &inv.services[si];
                    if names_service(&host, s, &known, &w.namespace) {
                        let via_s = via_text.get_or_insert_with(|| via.to_string());
                        // A Secret's text is never repeated: the Service's name stands for it.
                        let host = if matches!(via, Via::Secret { .. }) {
                            s.name.to_ascii_lowercase()
                        } else {
                            host.clone()
                        };
                        out.insert(Reference {
                            from: wi,
                            service: si,
                            port,
                            via: via_s.clone(),
                            host,
                        });
                    }
                }
            }
        }
    }
    out.into_iter().collect()
}

/// Indexes of the workloads whose pods a Service selects.
pub fn selected_workloads(inv: &Inventory, svc: &Service) -> Vec<usize> {
    if svc.selector.is_empty() {
        return Vec::new();
    }
    inv.workloads_selected_by(&svc.namespace, &svc.selector)
        .into_iter()
        .filter(|&i| Inventory::same_namespace(&svc.namespace, &inv.workloads[i].namespace))
        .collect()
}

/// Container ports of a workload: (name, number, protocol).
pub fn container_ports(docs: &[Document], w: &Workload) -> Vec<(Option<String>, i64, String)> {
    container_ports_of(docs, w, |_| true)
}

/// [`container_ports`] of the containers `keep` accepts.
pub fn container_ports_of(
    docs: &[Document],
    w: &Workload,
    keep: impl Fn(&crate::inventory::Container) -> bool,
) -> Vec<(Option<String>, i64, String)> {
    let root = &docs[w.object.doc()].value;
    let mut out = Vec::new();
    for c in w.containers.iter().filter(|c| keep(c)) {
        if let Some(ps) = c
            .path
            .lookup(root)
            .and_then(|cv| cv.key("ports"))
            .and_then(Value::as_array)
        {
            for p in ps {
                if let Some(n) = p.key("containerPort").and_then(crate::yaml::view::as_int) {
                    out.push((
                        p.key("name").and_then(Value::as_str).map(str::to_string),
                        n,
                        p.key("protocol")
                            .and_then(Value::as_str)
                            .unwrap_or("TCP")
                            .to_string(),
                    ));
                }
            }
        }
    }
    out
}

/// The (number, protocol) of a workload's container ports named `name`, as
/// [`container_ports`] reads them, without copying the others.
fn named_container_ports<'a>(
    docs: &'a [Document],
    w: &'a Workload,
    name: &'a str,
) -> impl Iterator<Item = (i64, &'a str)> + 'a {
    let root = &docs[w.object.doc()].value;
    w.containers
        .iter()
        .filter_map(move |c| {
            c.path
                .lookup(root)
                .and_then(|cv| cv.key("ports"))
                .and_then(Value::as_array)
        })
        .flatten()
        .filter_map(move |p| {
            let n = p.key("containerPort").and_then(crate::yaml::view::as_int)?;
            (p.key("name").and_then(Value::as_str) == Some(name)).then(|| {
                let proto = p.key("protocol").and_then(Value::as_str).unwrap_or("TCP");
                (n, proto)
            })
        })
}

/// The pod ports behind a Service's ports (all of them, or only the Service port `only` when
/// it is one of them), named target ports resolved against the given workloads' containers.
pub fn service_target_ports(
    docs: &[Document],
    inv: &Inventory,
    svc: &Service,
    only: Option<i64>,
    pods: &[usize],
) -> Vec<ResolvedPort> {
    let chosen: Vec<_> = match only {
        Some(p) if svc.ports.iter().any(|sp| sp.port == p) => {
            svc.ports.iter().filter(|sp| sp.port == p).collect()
        }
        _ => svc.ports.iter().collect(),
    };
    let mut out: BTreeSet<ResolvedPort> = BTreeSet::new();
    for sp in chosen {
        // The API server defaults an unset, 0 or "" targetPort to the port.
        let target = match &sp.target {
            Value::Number(n) if crate::yaml::view::number_as_int(n) == Some(0) => {
                Value::from(sp.port)
            }
            Value::String(s) if s.is_empty() => Value::from(sp.port),
            Value::Null => Value::from(sp.port),
            t => t.clone(),
        };
        match &target {
            Value::Number(n) => {
                if let Some(n) = crate::yaml::view::number_as_int(n) {
                    out.insert(ResolvedPort {
                        protocol: sp.protocol.clone(),
                        port: PortRef::Num(n),
                    });
                }
            }
            Value::String(name) => {
                if let Ok(n) = name.parse::<i64>() {
                    out.insert(ResolvedPort {
                        protocol: sp.protocol.clone(),
                        port: PortRef::Num(n),
                    });
                    continue;
                }
                let mut found = false;
                for wi in pods {
                    for (num, proto) in named_container_ports(docs, &inv.workloads[*wi], name) {
                        found = true;
                        out.insert(ResolvedPort {
                            protocol: proto.to_string(),
                            port: PortRef::Num(num),
                        });
                    }
                }
                if !found {
                    out.insert(ResolvedPort {
                        protocol: sp.protocol.clone(),
                        port: PortRef::Name(name.to_string()),
                    });
                }
            }
            _ => {}
        }
    }
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain reading [`references`] must agree with: every host token of every text
    /// ([`host_tokens`]), every Service whose name is its first or second label.
    fn references_by_tokens(docs: &[Document], inv: &Inventory) -> Vec<Reference> {
        let known = known_namespaces(docs, inv);
        let mut out: BTreeSet<Reference> = BTreeSet::new();
        for (wi, w) in inv.workloads.iter().enumerate() {
            for (via, text) in workload_texts(docs, inv, &FullViews::default(), w) {
                for (token, port) in host_tokens(&text) {
                    let host = token.to_ascii_lowercase();
                    let labels: Vec<&str> = host.splitn(3, '.').take(2).collect();
                    for (si, s) in inv.services.iter().enumerate() {
                        if labels.contains(&s.name.to_ascii_lowercase().as_str())
                            && names_service(&host, s, &known, &w.namespace)
                        {
                            out.insert(Reference {
                                from: wi,
                                service: si,
                                port,
                                via: via.to_string(),
                                host: host.clone(),
                            });
                        }
                    }
                }
            }
        }
        out.into_iter().collect()
    }

    const EDGES: &str = r#"apiVersion: v1
kind: Service
metadata: {name: db, namespace: data}
spec: {selector: {app: db}, ports: [{port: 5432}]}
---
apiVersion: v1
kind: Service
metadata: {name: cache-01}
spec: {selector: {app: cache}, ports: [{port: 6379}]}
---
apiVersion: v1
kind: Service
metadata: {name: x}
spec: {selector: {app: x}, ports: [{port: 80}]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: app}
data:
  a: "postgres://u:p@db.data.svc.cluster.local:5432/x ..db.. .db:99999 db:0 db:65535"
  d: "/var/lib/db"
  b: "//db http://CACHE-01:6379 cache-01.app x.y.z y.x z.y.x x..x db.data:5432"
  c: "DB db.other db.data.svc pod-0.db.data.svc:5432 ./x x/ -x- x.:1 .x.:80 x:123456"
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: app}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      volumes: [{name: cfg, configMap: {name: settings}}]
      containers:
      - name: web
        image: web:1
        args: ["--db=db.data:5432", "--cache", "Cache-01.app.svc", "x"]
        env: [{name: URL, value: "http://x:8080/db"}, {name: K, valueFrom: {configMapKeyRef: {name: settings, key: a}}}]
        envFrom: [{configMapRef: {name: settings}}]
"#;

    #[test]
    fn references_read_the_same_tokens_as_host_tokens() {
        let mut inputs = vec![EDGES.as_bytes().to_vec()];
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        inputs.push(std::fs::read(root.join("testdata/demo-chart.helm4-stream.yaml")).unwrap());
        inputs.extend(
            crate::test_inputs::corpus_charts()
                .iter()
                .filter_map(|p| std::fs::read(p).ok()),
        );
        let mut found = 0;
        for input in &inputs {
            let stream = crate::document::parse_stream(input).unwrap();
            for ns in [None, Some("app")] {
                let inv = Inventory::build(&stream.docs, ns);
                let fast = references(&stream.docs, &inv, &FullViews::default());
                assert_eq!(fast, references_by_tokens(&stream.docs, &inv));
                found += fast.len();
            }
        }
        // The edge cases name Services in many ways; the comparison is not of empty lists.
        let stream = crate::document::parse_stream(EDGES.as_bytes()).unwrap();
        let inv = Inventory::build(&stream.docs, Some("app"));
        let refs = references(&stream.docs, &inv, &FullViews::default());
        let hosts: BTreeSet<&str> = refs.iter().map(|r| r.host.as_str()).collect();
        for h in [
            "db.data.svc.cluster.local",
            "cache-01",
            "x",
            "pod-0.db.data.svc",
            "db.data",
        ] {
            assert!(hosts.contains(h), "{h} not found in {hosts:?}");
        }
        assert!(!hosts.contains("db.other"));
        // A file path names no host.
        assert!(!refs.iter().any(|r| r.via.contains("key d ")), "{refs:?}");
        assert!(found > 20, "{found}");
    }
}
