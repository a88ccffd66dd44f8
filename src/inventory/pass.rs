//! Facts several rules need, derived from one pass's stream on first use and then shared by
//! the rules of that pass (the stream does not change within a pass; a new pass starts empty).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use crate::document::{Document, Object};
use crate::inventory::selectors::SelectorIndexes;
use crate::inventory::traffic::{self, Reference};
use crate::inventory::Inventory;
use crate::yaml::view::ValueExt;
use crate::yaml::Value;

/// The lazily derived facts of one pass.
#[derive(Debug, Default)]
pub struct PassFacts {
    /// Service references (CH402 and CH603 need them).
    references: OnceLock<Vec<Reference>>,
    /// Label-selector indexes by (kind, selector pointer).
    pub selectors: SelectorIndexes,
    /// Per workload (inventory order): whether it carries any opt-out annotation (most carry
    /// none, and then no rule needs to read its annotations).
    opt_outs: OnceLock<Vec<bool>>,
    /// HorizontalPodAutoscalers by the workload they scale.
    hpas: OnceLock<HpaIndex>,
    /// `scope: Cluster` of the CustomResourceDefinitions, by (group, plural).
    crd_scopes: OnceLock<HashMap<(String, String), bool>>,
    /// Whether some document carries Helm 4's filename annotation.
    helm4: OnceLock<bool>,
    /// Whole views of the documents whose view leaves out their data.
    pub full_views: FullViews,
}

/// Whole typed views of ConfigMaps and Secrets, whose views leave out their data
/// ([`crate::document::PRUNED`]), each read again once per pass, on first use. (Read on every
/// use instead, one Secret that many references name was read 326 times in a prod run of the
/// corpus, 842 reads of 1.2 MB in all, and the run took about 13 % longer.)
#[derive(Debug, Default)]
pub struct FullViews(std::sync::Mutex<HashMap<usize, Arc<Value>>>);

/// An object's whole typed view: borrowed from its document, or read again and shared.
pub enum Full<'a> {
    /// The document's view is whole.
    Borrowed(&'a Value),
    /// The document's data, read again.
    Shared(Arc<Value>),
}

impl std::ops::Deref for Full<'_> {
    type Target = Value;
    fn deref(&self) -> &Value {
        match self {
            Full::Borrowed(v) => v,
            Full::Shared(v) => v,
        }
    }
}

impl FullViews {
    /// The whole typed view of object `o` (see [`Document::full_object_value`]).
    pub fn get<'a>(&self, docs: &'a [Document], o: &Object) -> Full<'a> {
        let doc = &docs[o.doc()];
        if !doc.partial {
            return Full::Borrowed(doc.object_value(o));
        }
        // A pruned document is one object, its root (no kind in `PRUNED` is a List).
        debug_assert!(o.base.0.is_empty());
        let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let whole = seen
            .entry(doc.index)
            .or_insert_with(|| Arc::new(doc.full_object_value(o).into_owned()));
        Full::Shared(Arc::clone(whole))
    }
}

/// HorizontalPodAutoscalers (indexes into the inventory's list of them) by the
/// (kind, name) of their `scaleTargetRef`: a lookup per workload instead of a scan of every
/// HPA (quadratic over a stream of many charts).
#[derive(Debug, Default)]
struct HpaIndex {
    /// By (namespace, kind, name): the first HPA of that namespace.
    by_namespace: HashMap<(String, String, String), usize>,
    /// By (kind, name): the first HPA of any namespace, and the first without one.
    any: HashMap<(String, String), usize>,
    unnamespaced: HashMap<(String, String), usize>,
}

impl PassFacts {
    /// Whether the stream came from Helm 4 ([`crate::document::is_helm4_stream`]).
    pub fn helm4(&self, docs: &[Document]) -> bool {
        *self
            .helm4
            .get_or_init(|| crate::document::is_helm4_stream(docs))
    }

    /// Workload → Service references found in env, args and ConfigMaps.
    pub fn references(&self, docs: &[Document], inv: &Inventory) -> &[Reference] {
        self.references
            .get_or_init(|| traffic::references(docs, inv, &self.full_views))
    }

    /// True when workload `wi` (inventory order) carries an opt-out annotation
    /// ([`crate::exemptions::has_opt_outs`]).
    pub fn has_opt_outs(&self, docs: &[Document], inv: &Inventory, wi: usize) -> bool {
        self.opt_outs.get_or_init(|| {
            inv.workloads
                .iter()
                .map(|w| {
                    let doc = &docs[w.object.doc()];
                    crate::exemptions::has_opt_outs(
                        doc.object_value(&w.object),
                        w.template.lookup(&doc.value),
                    )
                })
                .collect()
        })[wi]
    }

    /// The HorizontalPodAutoscaler scaling workload `(namespace, kind, name)`: the first in
    /// stream order whose target is that kind and name in the same namespace (`""`, the release
    /// namespace, matches any).
    pub fn hpa_for<'a>(
        &self,
        docs: &[Document],
        inv: &'a Inventory,
        namespace: &str,
        kind: &str,
        name: &str,
    ) -> Option<&'a Object> {
        let hpas = inv.by_kind.get("HorizontalPodAutoscaler")?;
        let ix = self.hpas.get_or_init(|| {
            let mut ix = HpaIndex::default();
            for (i, h) in hpas.iter().enumerate() {
                let v = docs[h.doc()].object_value(h);
                let target = |p: &str| v.ptr(p).and_then(|x| x.as_str()).map(str::to_string);
                let (Some(kind), Some(name)) = (
                    target("/spec/scaleTargetRef/kind"),
                    target("/spec/scaleTargetRef/name"),
                ) else {
                    continue;
                };
                let ns = inv.namespace_str(&h.resource);
                let key = (kind, name);
                ix.any.entry(key.clone()).or_insert(i);
                if ns.is_empty() {
                    ix.unnamespaced.entry(key).or_insert(i);
                } else {
                    ix.by_namespace
                        .entry((ns.to_string(), key.0, key.1))
                        .or_insert(i);
                }
            }
            ix
        });
        let key = (kind.to_string(), name.to_string());
        let i = if namespace.is_empty() {
            ix.any.get(&key).copied()
        } else {
            let own = ix
                .by_namespace
                .get(&(namespace.to_string(), key.0.clone(), key.1.clone()))
                .copied();
            own.into_iter()
                .chain(ix.unnamespaced.get(&key).copied())
                .min()
        };
        i.map(|i| &hpas[i])
    }

    /// Whether the custom resource `plural` of API group `group` is cluster-scoped, as the
    /// first CustomResourceDefinition in the stream that defines it says (`None`: no CRD does).
    pub fn crd_cluster_scoped(
        &self,
        docs: &[Document],
        inv: &Inventory,
        group: &str,
        plural: &str,
    ) -> Option<bool> {
        let scopes = self.crd_scopes.get_or_init(|| {
            let mut scopes = HashMap::new();
            for o in inv.of_kind("CustomResourceDefinition") {
                let v = docs[o.doc()].object_value(o);
                let s = |p: &str| v.ptr(p).and_then(|x| x.as_str());
                if let (Some(g), Some(p)) = (s("/spec/group"), s("/spec/names/plural")) {
                    scopes
                        .entry((g.to_string(), p.to_string()))
                        .or_insert(s("/spec/scope") == Some("Cluster"));
                }
            }
            scopes
        });
        scopes
            .get(&(group.to_string(), plural.to_string()))
            .copied()
    }
}
