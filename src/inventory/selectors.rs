//! Label-selector lookups: which objects of a kind (PodDisruptionBudgets, NetworkPolicies)
//! select a workload's pods, with an index built once per kind and selector field.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use crate::yaml::Value;

use crate::document::{Document, Object};
use crate::inventory::{label_selector_matches, Inventory, Workload};
use crate::yaml::view::ValueExt;

/// A prefilter for "which objects of a kind select these labels": a selector with
/// `matchLabels` can only select pods carrying its first pair, so objects are indexed by their
/// namespace and that pair; selectors without `matchLabels` are always candidates. Callers
/// still evaluate the full selector and the namespace — the index only skips objects that
/// cannot match (`""`, the unknown release namespace, may be any namespace).
#[derive(Debug, Default)]
pub struct SelectorIndex {
    /// Namespace → label key → label value → objects whose first `matchLabels` pair it is.
    by_pair: HashMap<String, HashMap<String, HashMap<String, Vec<usize>>>>,
    always: Vec<usize>,
}

impl SelectorIndex {
    /// Builds the index over `selectors` (one namespace and optional selector value per object).
    pub fn build<'v>(
        selectors: impl Iterator<Item = (&'v str, Option<&'v Value>)>,
    ) -> SelectorIndex {
        let mut ix = SelectorIndex::default();
        for (i, (ns, sel)) in selectors.enumerate() {
            let first = sel
                .and_then(|s| s.key("matchLabels"))
                .and_then(Value::as_object)
                .and_then(|m| m.iter().next())
                .and_then(|(k, v)| v.as_str().map(|v| (k.to_string(), v.to_string())));
            match first {
                Some((k, v)) => ix
                    .by_pair
                    .entry(ns.to_string())
                    .or_default()
                    .entry(k)
                    .or_default()
                    .entry(v)
                    .or_default()
                    .push(i),
                None => ix.always.push(i),
            }
        }
        ix
    }

    /// Indexes of the objects that may select `labels` of a pod in namespace `ns`, ascending.
    pub fn candidates(&self, ns: &str, labels: &crate::inventory::Labels) -> Vec<usize> {
        let mut out = self.always.clone();
        let mut scan = |by_key: &HashMap<String, HashMap<String, Vec<usize>>>| {
            for (k, v) in labels.iter() {
                if let Some(ix) = by_key.get(k).and_then(|by_value| by_value.get(v)) {
                    out.extend_from_slice(ix);
                }
            }
        };
        if ns.is_empty() {
            self.by_pair.values().for_each(&mut scan);
        } else {
            for n in [ns, ""] {
                if let Some(b) = self.by_pair.get(n) {
                    scan(b);
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// Selector indexes by (kind, selector pointer), each built on first use: shared by the rules
/// of one pass (the stream does not change within a pass).
#[derive(Debug, Default)]
pub struct SelectorIndexes(Mutex<BTreeMap<(String, String), Arc<SelectorIndex>>>);

impl SelectorIndexes {
    /// Objects of `kind` in the stream whose label selector at `selector_ptr` selects the
    /// workload's pods (same namespace). An object without that selector field selects
    /// nothing, except a NetworkPolicy (`podSelector` missing, `null` or `{}` selects all pods).
    pub fn selecting<'a>(
        &self,
        docs: &'a [Document],
        inv: &'a Inventory,
        kind: &str,
        selector_ptr: &str,
        w: &Workload,
    ) -> Vec<&'a Object> {
        let Some(objs) = inv.by_kind.get(kind) else {
            return Vec::new();
        };
        // Plain key walk: `Value::pointer` allocates for `~` unescaping on every token.
        let selector_of = |o: &Object| {
            selector_ptr
                .split('/')
                .filter(|k| !k.is_empty())
                .try_fold(docs[o.doc()].object_value(o), |cur, k| cur.key(k))
        };
        let index = {
            let key = (kind.to_string(), selector_ptr.to_string());
            let mut cache = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(cache.entry(key).or_insert_with(|| {
                Arc::new(SelectorIndex::build(
                    objs.iter()
                        .map(|o| (inv.namespace_str(&o.resource), selector_of(o))),
                ))
            }))
        };
        index
            .candidates(&w.namespace, &w.labels)
            .into_iter()
            .map(|i| &objs[i])
            .filter(|o| {
                let ns = inv.namespace_str(&o.resource);
                if !Inventory::same_namespace(ns, &w.namespace) {
                    return false;
                }
                match selector_of(o) {
                    Some(sel) if sel.is_object() => label_selector_matches(sel, &w.labels),
                    // NetworkPolicy: podSelector is required; `{}`/null selects all pods.
                    Some(Value::Null) if kind == "NetworkPolicy" => true,
                    None if kind == "NetworkPolicy" => true,
                    _ => false,
                }
            })
            .collect()
    }
}
