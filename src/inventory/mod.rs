//! Inventory stage: what the release contains, indexed for the rules.
//!
//! Workloads with their pod templates and containers, Services, ServiceAccounts, RBAC
//! bindings, and the guard objects a chart may already ship (NetworkPolicies, PDBs, HPAs,
//! ResourceQuotas, LimitRanges, Namespaces). The facts rules read about them live beside it,
//! one module per kind of fact:
//!
//! - [`facts`]: who calls each workload, node agents, controllers that create pods, data stores;
//! - [`traffic`]: which workloads name which Services (host tokens in env, args, ConfigMaps,
//!   Secrets) and the ports behind them;
//! - [`netpol`]: what the NetworkPolicies of the stream allow;
//! - [`selectors`]: which objects of a kind select a workload's pods;
//! - [`rbac`]: the rules of every Role and ClusterRole;
//! - [`images`]: where image references are written and what the registry says of them;
//! - [`quantity`]: resource quantities; [`writable`]: where a container writes;
//! - [`pass`]: the facts above that several rules need, derived once per pass on first use.
//!
//! Opt-outs (the skip annotation and other tools' exemptions) are in [`crate::exemptions`].

use std::collections::BTreeMap;

use serde_json::Value;

use crate::document::{Document, Object};
use crate::finding::ResourceRef;
use crate::yaml::view::ValueExt;
use crate::yaml::Path;

pub mod facts;
pub mod images;
pub mod netpol;
pub mod pass;
pub mod quantity;
pub mod rbac;
pub mod selectors;
pub mod traffic;
pub mod writable;

/// The label the Job controller puts on every pod of a Job (Kubernetes 1.27+; `job-name` too),
/// with the Job's name: the inventory counts it among a Job's pod labels.
pub const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";

/// Labels a controller adds to the pods it creates, whose value the stream cannot know
/// (recorded as `""`): a selector can require them to exist, which tells the pods of a
/// Deployment, a StatefulSet and a DaemonSet apart from bare Pods and Jobs with the same labels.
pub fn controller_label(kind: &str) -> Option<&'static str> {
    match kind {
        "Deployment" => Some("pod-template-hash"),
        "StatefulSet" => Some("statefulset.kubernetes.io/pod-name"),
        "DaemonSet" => Some("pod-template-generation"),
        _ => None,
    }
}

/// True for a label key [`controller_label`] adds.
pub fn is_controller_label(key: &str) -> bool {
    matches!(
        key,
        "pod-template-hash" | "statefulset.kubernetes.io/pod-name" | "pod-template-generation"
    )
}

/// Kinds that carry a pod template, and where (relative to the object) the pod template is.
pub fn pod_template_path(kind: &str) -> Option<Path> {
    Some(match kind {
        "Pod" => Path::root(),
        "Deployment"
        | "StatefulSet"
        | "DaemonSet"
        | "ReplicaSet"
        | "ReplicationController"
        | "Job" => Path::keys("spec.template"),
        "PodTemplate" => Path::keys("template"),
        "CronJob" => Path::keys("spec.jobTemplate.spec.template"),
        _ => return None,
    })
}

/// A container (or init/ephemeral container) of a workload.
#[derive(Debug, Clone)]
pub struct Container {
    /// Path of the container mapping inside the document.
    pub path: Path,
    /// `containers`, `initContainers` or `ephemeralContainers`.
    pub list: &'static str,
    /// Index in its list.
    pub index: usize,
    /// Container name.
    pub name: String,
    /// Image reference as written.
    pub image: Option<String>,
}

/// A workload: an object with a pod template.
#[derive(Debug, Clone)]
pub struct Workload {
    /// The object.
    pub object: Object,
    /// Path of the pod template (object holding `metadata` and `spec`) inside the document.
    pub template: Path,
    /// Path of the pod spec inside the document.
    pub pod_spec: Path,
    /// Effective namespace (`metadata.namespace`, or the release namespace).
    pub namespace: String,
    /// Pod template labels.
    pub labels: BTreeMap<String, String>,
    /// The workload's `spec.selector.matchLabels` (or the pod labels for bare Pods).
    pub selector: BTreeMap<String, String>,
    /// `spec.replicas` where the kind has it (default 1 for Deployments/StatefulSets/RS).
    pub replicas: Option<i64>,
    /// ServiceAccount name (`default` when unset).
    pub service_account: String,
    /// Containers, init containers and ephemeral containers.
    pub containers: Vec<Container>,
    /// Helm hook annotation (`helm.sh/hook`), if any.
    pub hook: Option<String>,
}

impl Workload {
    /// True for Helm test hook pods (`helm.sh/hook: test`, `test-success`, `test-failure`).
    pub fn is_test_hook(&self) -> bool {
        self.hook.as_deref().is_some_and(|h| {
            h.split(',')
                .map(str::trim)
                .any(|h| h == "test" || h == "test-success" || h == "test-failure")
        })
    }

    /// The pod template's labels as written (without the labels controllers add, whose
    /// values are unknown): what a generated selector may name.
    pub fn template_labels(&self) -> BTreeMap<String, String> {
        self.labels
            .iter()
            .filter(|(k, _)| !is_controller_label(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// A Service port.
#[derive(Debug, Clone)]
pub struct ServicePort {
    /// Port name.
    pub name: Option<String>,
    /// Service port.
    pub port: i64,
    /// Target port: number or name.
    pub target: Value,
    /// Protocol (TCP default).
    pub protocol: String,
}

/// A Service.
#[derive(Debug, Clone)]
pub struct Service {
    /// The object.
    pub object: Object,
    /// Name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// Selector (empty = selects nothing by itself).
    pub selector: BTreeMap<String, String>,
    /// Ports.
    pub ports: Vec<ServicePort>,
}

/// A RoleBinding/ClusterRoleBinding subject that is a ServiceAccount.
#[derive(Debug, Clone)]
pub struct Binding {
    /// The binding object.
    pub object: Object,
    /// `Role` or `ClusterRole`.
    pub role_kind: String,
    /// Role name.
    pub role_name: String,
    /// ServiceAccount subjects as (namespace, name).
    pub subjects: Vec<(Option<String>, String)>,
}

/// Everything the rules look up.
#[derive(Debug, Default, Clone)]
pub struct Inventory {
    /// The release namespace (from `--namespace`), if known.
    pub release_namespace: Option<String>,
    /// Workloads.
    pub workloads: Vec<Workload>,
    /// Services.
    pub services: Vec<Service>,
    /// ServiceAccounts: (namespace, name) → object.
    pub service_accounts: BTreeMap<(String, String), Object>,
    /// Role/ClusterRole bindings.
    pub bindings: Vec<Binding>,
    /// Every object by kind.
    pub by_kind: BTreeMap<String, Vec<Object>>,
    /// Services by the first pair of their selector (a prefilter for [`Self::services_for`]).
    pub services_by_pair: PairIndex,
    /// Workloads by each pod label pair (a prefilter for selecting workloads by labels).
    pub workloads_by_pair: PairIndex,
    /// Facts derived from the whole release (who calls each workload, node agents,
    /// controllers that create pods).
    pub facts: facts::Facts,
    /// Bindings by the name of each ServiceAccount subject (a prefilter for
    /// [`Self::bindings_for`]: a release has as many bindings as workloads).
    pub bindings_by_subject: std::collections::HashMap<String, Vec<usize>>,
}

/// Indexes by namespace and label pair: namespace → key → value → indexes (looked up without
/// building a pair). Partitioned by namespace so that one release's objects are never
/// candidates for another namespace's (a stream of many releases, each with the same labels,
/// would otherwise make every lookup scan every copy). `""` is the release namespace when it is
/// unknown, which may be any namespace.
#[derive(Debug, Default, Clone)]
pub struct PairIndex(std::collections::HashMap<String, ByKey>);

/// Label key → value → indexes.
type ByKey = std::collections::HashMap<String, std::collections::HashMap<String, Vec<usize>>>;

impl PairIndex {
    /// The indexes filed under `key=value` of objects that may be in namespace `ns` (`""`:
    /// any), ascending.
    pub fn get(&self, ns: &str, key: &str, value: &str) -> Vec<usize> {
        fn look<'a>(b: &'a ByKey, key: &str, value: &str) -> Option<&'a Vec<usize>> {
            b.get(key).and_then(|m| m.get(value))
        }
        let mut out: Vec<usize> = Vec::new();
        let mut buckets = 0;
        if ns.is_empty() {
            for b in self.0.values() {
                if let Some(v) = look(b, key, value) {
                    out.extend_from_slice(v);
                    buckets += 1;
                }
            }
        } else {
            for n in [ns, ""] {
                if let Some(v) = self.0.get(n).and_then(|b| look(b, key, value)) {
                    out.extend_from_slice(v);
                    buckets += 1;
                }
            }
        }
        if buckets > 1 {
            out.sort_unstable();
        }
        out
    }

    fn push(&mut self, ns: &str, key: &str, value: &str, i: usize) {
        // Keys and values repeat (every pod of a release carries its instance label): the
        // strings are copied only when first filed.
        let by_key = match self.0.get_mut(ns) {
            Some(b) => b,
            None => self.0.entry(ns.to_string()).or_default(),
        };
        let Some(by_value) = by_key.get_mut(key) else {
            let first = std::collections::HashMap::from([(value.to_string(), vec![i])]);
            by_key.insert(key.to_string(), first);
            return;
        };
        match by_value.get_mut(value) {
            Some(ix) => ix.push(i),
            None => {
                by_value.insert(value.to_string(), vec![i]);
            }
        }
    }
}

pub(crate) fn labels_at(v: &Value, p: &str) -> BTreeMap<String, String> {
    v.ptr(p)
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| match v {
                    Value::String(s) => Some((k.clone(), s.clone())),
                    Value::Number(n) => Some((k.clone(), n.to_string())),
                    Value::Bool(b) => Some((k.clone(), b.to_string())),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// True when every selector label is in `labels` (an empty selector selects everything).
pub fn selects(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// Evaluates a `LabelSelector` (matchLabels + matchExpressions) against labels.
pub fn label_selector_matches(sel: &Value, labels: &BTreeMap<String, String>) -> bool {
    if sel.is_null() {
        return true;
    }
    if let Some(ml) = sel.key("matchLabels").and_then(Value::as_object) {
        for (k, v) in ml {
            let have = labels.get(k).map(String::as_str);
            let ok = match v {
                Value::String(s) => have == Some(s.as_str()),
                Value::Number(n) => have == Some(n.to_string().as_str()),
                Value::Bool(b) => have == Some(if *b { "true" } else { "false" }),
                _ => true,
            };
            if !ok {
                return false;
            }
        }
    }
    if let Some(exprs) = sel.key("matchExpressions").and_then(Value::as_array) {
        for e in exprs {
            let key = e.key("key").and_then(Value::as_str).unwrap_or_default();
            let op = e
                .key("operator")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let values: Vec<&str> = e
                .key("values")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let have = labels.get(key).map(String::as_str);
            let ok = match op {
                "In" => have.is_some_and(|h| values.contains(&h)),
                "NotIn" => !have.is_some_and(|h| values.contains(&h)),
                "Exists" => have.is_some(),
                "DoesNotExist" => have.is_none(),
                _ => false,
            };
            if !ok {
                return false;
            }
        }
    }
    true
}

impl Inventory {
    /// Builds the inventory of a parsed stream.
    pub fn build(docs: &[Document], release_namespace: Option<&str>) -> Inventory {
        let mut inv = Inventory {
            release_namespace: release_namespace.map(str::to_string),
            ..Inventory::default()
        };
        for doc in docs {
            for obj in &doc.objects {
                let v = doc.object_value(obj);
                let kind = obj.resource.kind.clone();
                inv.by_kind
                    .entry(kind.clone())
                    .or_default()
                    .push(obj.clone());
                let ns = inv.namespace_of(&obj.resource);
                match kind.as_str() {
                    "Service" => {
                        let ports = v
                            .ptr("/spec/ports")
                            .and_then(Value::as_array)
                            .map(|ps| {
                                ps.iter()
                                    .filter_map(|p| {
                                        let port =
                                            p.key("port").and_then(crate::yaml::view::as_int)?;
                                        Some(ServicePort {
                                            name: p
                                                .key("name")
                                                .and_then(Value::as_str)
                                                .map(str::to_string),
                                            port,
                                            target: p
                                                .key("targetPort")
                                                .cloned()
                                                .unwrap_or(Value::from(port)),
                                            protocol: p
                                                .key("protocol")
                                                .and_then(Value::as_str)
                                                .unwrap_or("TCP")
                                                .to_string(),
                                        })
                                    })
                                    .collect()
                            })
                            .unwrap_or_default();
                        inv.services.push(Service {
                            object: obj.clone(),
                            name: obj.resource.name.clone(),
                            namespace: ns.clone(),
                            selector: labels_at(v, "/spec/selector"),
                            ports,
                        });
                    }
                    "ServiceAccount" => {
                        inv.service_accounts
                            .insert((ns.clone(), obj.resource.name.clone()), obj.clone());
                    }
                    "RoleBinding" | "ClusterRoleBinding" => {
                        let subjects = v
                            .key("subjects")
                            .and_then(Value::as_array)
                            .map(|ss| {
                                ss.iter()
                                    .filter(|s| {
                                        s.key("kind").and_then(Value::as_str)
                                            == Some("ServiceAccount")
                                    })
                                    .filter_map(|s| {
                                        Some((
                                            s.key("namespace")
                                                .and_then(Value::as_str)
                                                .map(str::to_string),
                                            s.key("name").and_then(Value::as_str)?.to_string(),
                                        ))
                                    })
                                    .collect()
                            })
                            .unwrap_or_default();
                        inv.bindings.push(Binding {
                            object: obj.clone(),
                            role_kind: v
                                .ptr("/roleRef/kind")
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_string(),
                            role_name: v
                                .ptr("/roleRef/name")
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_string(),
                            subjects,
                        });
                    }
                    _ => {}
                }
                if let Some(tp) = pod_template_path(&kind) {
                    let Some(tv) = tp.lookup(v) else { continue };
                    if !tv.is_object() {
                        continue;
                    }
                    let template = obj.base.join(&tp);
                    let pod_spec = template.key("spec");
                    let spec = tv.key("spec").unwrap_or(&Value::Null);
                    let mut containers = Vec::new();
                    for list in ["initContainers", "containers", "ephemeralContainers"] {
                        if let Some(cs) = spec.get(list).and_then(Value::as_array) {
                            for (i, c) in cs.iter().enumerate() {
                                if !c.is_object() {
                                    continue;
                                }
                                containers.push(Container {
                                    path: pod_spec.key(list).index(i),
                                    list,
                                    index: i,
                                    name: c
                                        .key("name")
                                        .and_then(Value::as_str)
                                        .unwrap_or_default()
                                        .to_string(),
                                    image: c
                                        .key("image")
                                        .and_then(Value::as_str)
                                        .map(str::to_string),
                                });
                            }
                        }
                    }
                    let mut labels = labels_at(tv, "/metadata/labels");
                    if let Some(k) = controller_label(&kind) {
                        labels.entry(k.to_string()).or_default();
                    }
                    if kind == "Job" && !obj.resource.name.is_empty() {
                        for k in [JOB_NAME_LABEL, "job-name"] {
                            labels
                                .entry(k.to_string())
                                .or_insert_with(|| obj.resource.name.clone());
                        }
                    }
                    let selector = if kind == "Pod" {
                        labels.clone()
                    } else {
                        let s = labels_at(v, "/spec/selector/matchLabels");
                        if s.is_empty() {
                            labels_at(v, "/spec/selector")
                                .into_iter()
                                .filter(|(k, _)| k != "matchLabels")
                                .collect()
                        } else {
                            s
                        }
                    };
                    let replicas = match kind.as_str() {
                        "Deployment" | "StatefulSet" | "ReplicaSet" | "ReplicationController" => {
                            Some(
                                v.ptr("/spec/replicas")
                                    .and_then(crate::yaml::view::as_int)
                                    .unwrap_or(1),
                            )
                        }
                        _ => None,
                    };
                    let service_account = spec
                        .key("serviceAccountName")
                        .or_else(|| spec.key("serviceAccount"))
                        .and_then(Value::as_str)
                        .filter(|s| !s.is_empty())
                        .unwrap_or("default")
                        .to_string();
                    let hook = v
                        .ptr("/metadata/annotations")
                        .and_then(|a| a.key("helm.sh/hook"))
                        .and_then(Value::as_str)
                        .map(str::to_string);
                    inv.workloads.push(Workload {
                        object: obj.clone(),
                        template,
                        pod_spec,
                        namespace: ns,
                        labels,
                        selector,
                        replicas,
                        service_account,
                        containers,
                        hook,
                    });
                }
            }
        }
        for (i, s) in inv.services.iter().enumerate() {
            if let Some((k, v)) = s.selector.iter().next() {
                inv.services_by_pair.push(&s.namespace, k, v, i);
            }
        }
        for (i, w) in inv.workloads.iter().enumerate() {
            for (k, v) in &w.labels {
                inv.workloads_by_pair.push(&w.namespace, k, v, i);
            }
        }
        for (i, b) in inv.bindings.iter().enumerate() {
            for (_, name) in &b.subjects {
                let ix = inv.bindings_by_subject.entry(name.clone()).or_default();
                if ix.last() != Some(&i) {
                    ix.push(i);
                }
            }
        }
        inv.facts = facts::derive(docs, &inv);
        inv
    }

    /// Workloads that may match a selector whose `matchLabels` are `match_labels`: those
    /// carrying its first pair, or every workload when it has none (a prefilter: callers
    /// still evaluate the whole selector). Ascending.
    pub fn workload_candidates(
        &self,
        ns: &str,
        match_labels: Option<&BTreeMap<String, String>>,
    ) -> Vec<usize> {
        match match_labels.and_then(|m| m.iter().next()) {
            Some((k, v)) => self.workloads_by_pair.get(ns, k, v),
            None => (0..self.workloads.len()).collect(),
        }
    }

    /// Indexes of the workloads that may be in namespace `ns` (`""`: any) whose pod labels
    /// include every pair of `selector` (an empty selector selects nothing here), ascending.
    pub fn workloads_selected_by(
        &self,
        ns: &str,
        selector: &BTreeMap<String, String>,
    ) -> Vec<usize> {
        let Some((k, v)) = selector.iter().next() else {
            return Vec::new();
        };
        self.workloads_by_pair
            .get(ns, k, v)
            .into_iter()
            .filter(|&i| selects(selector, &self.workloads[i].labels))
            .collect()
    }

    /// The effective namespace of an object: its own, else the release namespace, else `""`
    /// (meaning "the namespace the release is installed into").
    pub fn namespace_of(&self, r: &ResourceRef) -> String {
        self.namespace_str(r).to_string()
    }

    /// [`Self::namespace_of`] without allocating.
    pub fn namespace_str<'a>(&'a self, r: &'a ResourceRef) -> &'a str {
        r.namespace
            .as_deref()
            .or(self.release_namespace.as_deref())
            .unwrap_or("")
    }

    /// Two namespaces are the same, where `""` (release namespace, unknown) matches any.
    pub fn same_namespace(a: &str, b: &str) -> bool {
        a.is_empty() || b.is_empty() || a == b
    }

    /// Bindings whose subjects include this ServiceAccount.
    pub fn bindings_for(&self, namespace: &str, sa: &str) -> Vec<&Binding> {
        self.bindings_by_subject
            .get(sa)
            .into_iter()
            .flatten()
            .map(|&i| &self.bindings[i])
            .filter(|b| {
                b.subjects.iter().any(|(ns, name)| {
                    name == sa
                        && Self::same_namespace(
                            ns.as_deref().unwrap_or_else(|| {
                                b.object.resource.namespace.as_deref().unwrap_or("")
                            }),
                            namespace,
                        )
                })
            })
            .collect()
    }

    /// The ServiceAccount object of a workload, when the stream has it.
    pub fn service_account_of(&self, w: &Workload) -> Option<&Object> {
        self.service_accounts
            .iter()
            .find(|((ns, name), _)| {
                *name == w.service_account && Self::same_namespace(ns, &w.namespace)
            })
            .map(|(_, o)| o)
    }

    /// Services whose selector selects a workload's pods.
    pub fn services_for(&self, w: &Workload) -> Vec<&Service> {
        self.services_for_ix(w)
            .into_iter()
            .map(|i| &self.services[i])
            .collect()
    }

    /// [`Self::services_for`], as indexes into `services` (ascending).
    pub fn services_for_ix(&self, w: &Workload) -> Vec<usize> {
        let mut ix: Vec<usize> = w
            .labels
            .iter()
            .flat_map(|(k, v)| self.services_by_pair.get(&w.namespace, k, v))
            .collect();
        ix.sort_unstable();
        ix.dedup();
        ix.retain(|&i| {
            let s = &self.services[i];
            !s.selector.is_empty()
                && Self::same_namespace(&s.namespace, &w.namespace)
                && selects(&s.selector, &w.labels)
        });
        ix
    }
}
