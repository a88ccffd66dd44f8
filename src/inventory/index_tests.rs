//! The lookups that replaced scans (issue 18: a scan per object was quadratic over a stream
//! of many releases, and within one namespace) find exactly what the scans found: every
//! corpus chart, the corpus as one stream in several namespaces, and a stream of edge cases
//! (objects without a namespace, HPAs and bindings in other namespaces, number and boolean
//! label values, selectors without `matchLabels`, ServiceAccounts of one name in several
//! namespaces, Services in a List).

use super::netpol::{self, policy_selects, Pod};
use super::pass::PassFacts;
use super::{label_selector_matches, Inventory};
use crate::document::{parse_stream, Document};
use crate::yaml::view::ValueExt;
use crate::yaml::Value;

const EDGES: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: a, labels: {app: web}}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web, tier: "1", canary: "true"}}
    spec: {containers: [{name: c, image: x, envFrom: [{configMapRef: {name: cfg}}]}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web, tier: "2"}}
    spec: {containers: [{name: c, image: x}]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: b}
spec:
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db, tier: "1"}}
    spec: {containers: [{name: c, image: x}]}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: h-b, namespace: b}
spec: {scaleTargetRef: {kind: Deployment, name: web}, minReplicas: 3}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: h-none}
spec: {scaleTargetRef: {kind: Deployment, name: web}, minReplicas: 4}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: h-a, namespace: a}
spec: {scaleTargetRef: {kind: StatefulSet, name: db}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: by-number, namespace: a}
spec: {podSelector: {matchLabels: {tier: 1}}, policyTypes: [Ingress]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: by-bool, namespace: a}
spec: {podSelector: {matchLabels: {canary: true}}, policyTypes: [Ingress]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: all}
spec: {podSelector: {}, policyTypes: [Egress]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: exprs, namespace: b}
spec: {podSelector: {matchExpressions: [{key: app, operator: In, values: [db]}]}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: null-first, namespace: b}
spec: {podSelector: {matchLabels: {x: null, app: db}}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: pdb}
spec: {selector: {matchLabels: {app: web}}, minAvailable: 1}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg, namespace: b}
data: {k: v}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {k: w}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: reader}
rules: [{apiGroups: [""], resources: [secrets], verbs: [list]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: rb, namespace: a}
roleRef: {kind: ClusterRole, name: reader}
subjects: [{kind: ServiceAccount, name: default}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: crb}
roleRef: {kind: ClusterRole, name: reader}
subjects: [{kind: ServiceAccount, name: default, namespace: b}]
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: runner}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: runner, namespace: b}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: runner, namespace: a}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: only-b, namespace: b}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: runs-as-runner, namespace: b}
spec:
  selector: {matchLabels: {app: r}}
  template:
    metadata: {labels: {app: r}}
    spec: {serviceAccountName: runner, containers: [{name: c, image: x}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: runs-as-only-b}
spec:
  selector: {matchLabels: {app: o}}
  template:
    metadata: {labels: {app: o}}
    spec: {serviceAccountName: only-b, containers: [{name: c, image: x}]}
---
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Service, metadata: {name: in-list-1}, spec: {selector: {app: r}}}
- {apiVersion: v1, kind: Service, metadata: {name: in-list-2}, spec: {selector: {app: o}}}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec: {group: example.com, scope: Cluster, names: {plural: widgets, kind: Widget}}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec: {group: example.com, scope: Namespaced, names: {plural: widgets, kind: Widget}}
"#;

fn streams() -> Vec<(String, Vec<u8>)> {
    let mut out = vec![("edge cases".to_string(), EDGES.as_bytes().to_vec())];
    let mut all = Vec::new();
    for chart in crate::test_inputs::corpus_charts() {
        if let Ok(text) = std::fs::read(&chart) {
            all.extend_from_slice(b"\n---\n");
            all.extend_from_slice(&text);
            out.push((chart.display().to_string(), text));
        }
    }
    // The corpus as one stream, twice, the second copy in its own namespaces.
    let text = String::from_utf8_lossy(&all).to_string();
    let copy: String = text
        .split_inclusive('\n')
        .map(|line| match line.strip_prefix("  namespace: ") {
            Some(ns) => format!(
                "  namespace: copy-{}\n",
                ns.trim().trim_matches(['"', '\''])
            ),
            None => line.to_string(),
        })
        .collect();
    out.push((
        "corpus twice".into(),
        format!("{text}\n---\n{copy}").into_bytes(),
    ));
    out
}

fn check(name: &str, docs: &[Document], inv: &Inventory) {
    let facts = PassFacts::default();
    let value = |o: &crate::document::Object| docs[o.doc()].object_value(o);
    // Selectors, from every object that has one, in both empty-selector readings.
    for objs in inv.by_kind.values() {
        for o in objs {
            let ns = inv.namespace_str(&o.resource);
            for ptr in ["/spec/selector", "/spec/podSelector"] {
                for esa in [false, true] {
                    let sel = value(o).ptr(ptr);
                    let scan: Vec<usize> = (0..inv.workloads.len())
                        .filter(|&i| {
                            let w = &inv.workloads[i];
                            Inventory::same_namespace(ns, &w.namespace)
                                && match sel {
                                    Some(s) if s.is_object() => {
                                        label_selector_matches(s, &w.labels)
                                    }
                                    _ => esa,
                                }
                        })
                        .collect();
                    assert_eq!(
                        inv.workloads_matching(ns, sel, esa),
                        scan,
                        "{name}: {} {ptr}",
                        o.resource.display()
                    );
                }
            }
        }
    }
    // The workloads of each namespace.
    let mut namespaces: Vec<&str> = vec!["", "no-such-namespace"];
    namespaces.extend(inv.workloads.iter().map(|w| w.namespace.as_str()));
    for ns in namespaces {
        let scan: Vec<String> = inv
            .workloads
            .iter()
            .filter(|w| Inventory::same_namespace(ns, &w.namespace))
            .map(|w| w.object.resource.display())
            .collect();
        let found: Vec<String> = inv
            .workloads_in(ns)
            .map(|w| w.object.resource.display())
            .collect();
        assert_eq!(found, scan, "{name}: workloads of {ns:?}");
    }
    // Each workload's NetworkPolicies.
    let policies = netpol::policies(docs, inv);
    let pods: Vec<Pod<'_>> = inv.workloads.iter().map(|w| Pod::of(docs, w)).collect();
    let scan: Vec<Vec<usize>> = pods
        .iter()
        .map(|p| {
            (0..policies.len())
                .filter(|&i| policy_selects(&policies[i].0, policies[i].1, p))
                .collect()
        })
        .collect();
    assert_eq!(
        netpol::selecting_each(&policies, &pods, inv),
        scan,
        "{name}"
    );
    // Each workload's HPA: the first in stream order naming it in the same namespace.
    let hpas = inv.by_kind.get("HorizontalPodAutoscaler");
    for w in &inv.workloads {
        let r = &w.object.resource;
        let scan = hpas.into_iter().flatten().find(|h| {
            let v = value(h);
            v.ptr("/spec/scaleTargetRef/kind").and_then(Value::as_str) == Some(&r.kind)
                && v.ptr("/spec/scaleTargetRef/name").and_then(Value::as_str) == Some(&r.name)
                && Inventory::same_namespace(inv.namespace_str(&h.resource), &w.namespace)
        });
        let found = facts.hpa_for(docs, inv, &w.namespace, &r.kind, &r.name);
        assert_eq!(
            found.map(|h| h.resource.display()),
            scan.map(|h| h.resource.display()),
            "{name}: HPA of {}",
            r.display()
        );
    }
    // Role bindings, ConfigMaps and Secrets by name, CRD scopes.
    for b in &inv.bindings {
        let scan: Vec<String> = inv
            .bindings
            .iter()
            .filter(|x| x.role_kind == b.role_kind && x.role_name == b.role_name)
            .map(|x| x.object.resource.display())
            .collect();
        let found: Vec<String> = inv
            .bindings_to(&b.role_kind, &b.role_name)
            .map(|x| x.object.resource.display())
            .collect();
        assert_eq!(found, scan, "{name}: bindings of {}", b.role_name);
    }
    for kind in ["ConfigMap", "Secret"] {
        for o in inv.of_kind(kind) {
            let scan: Vec<String> = inv.by_kind[kind]
                .iter()
                .filter(|x| x.resource.name == o.resource.name)
                .map(|x| x.resource.display())
                .collect();
            let found: Vec<String> = inv
                .config_named(kind, &o.resource.name)
                .map(|x| x.resource.display())
                .collect();
            assert_eq!(found, scan, "{name}: {kind} {}", o.resource.name);
        }
    }
    // The Service of each Service object, and the ServiceAccount of each workload.
    for o in inv.of_kind("Service") {
        let scan = inv
            .services
            .iter()
            .find(|s| s.object.doc() == o.doc() && s.object.base == o.base)
            .map(|s| s.object.resource.display());
        let found = inv.service_of(o).map(|s| s.object.resource.display());
        assert!(scan.is_some(), "{name}: {}", o.resource.display());
        assert_eq!(found, scan, "{name}: {}", o.resource.display());
    }
    for w in &inv.workloads {
        let scan = inv
            .service_accounts
            .iter()
            .find(|((ns, n), _)| {
                *n == w.service_account && Inventory::same_namespace(ns, &w.namespace)
            })
            .map(|(_, o)| o.resource.display());
        let found = inv.service_account_of(w).map(|o| o.resource.display());
        assert_eq!(found, scan, "{name}: {}", w.object.resource.display());
    }
    for o in inv.of_kind("CustomResourceDefinition") {
        let v = value(o);
        let s = |p: &str| v.ptr(p).and_then(Value::as_str).unwrap_or_default();
        let (g, p) = (s("/spec/group"), s("/spec/names/plural"));
        let scan = inv.by_kind["CustomResourceDefinition"]
            .iter()
            .find_map(|c| {
                let c = value(c);
                let s = |p: &str| c.ptr(p).and_then(Value::as_str);
                (s("/spec/group") == Some(g) && s("/spec/names/plural") == Some(p))
                    .then(|| s("/spec/scope") == Some("Cluster"))
            });
        assert_eq!(
            facts.crd_cluster_scoped(docs, inv, g, p),
            scan,
            "{name}: {g}/{p}"
        );
    }
}

#[test]
fn indexes_find_what_scans_find() {
    let mut checked = 0;
    for (name, text) in streams() {
        let stream = parse_stream(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        for release_ns in [None, Some("a")] {
            let inv = Inventory::build(&stream.docs, release_ns);
            check(&name, &stream.docs, &inv);
            checked += 1;
        }
    }
    assert!(checked >= 4, "{checked}");
}
