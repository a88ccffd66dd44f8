//! Rules stage: one rule per file, Ruff-style metadata, fixes as data.
//!
//! A rule reads the documents and the inventory and emits findings, each optionally with a
//! [`Fix`]: byte-patch ops on documents and/or generated documents, tagged with an
//! [`Applicability`]. The pipeline decides which fixes apply (profile, `--unsafe-fixes`,
//! per-rule config, opt-out annotations) — rules never do I/O and never decide that.

use std::collections::BTreeMap;

use crate::yaml::Value;

use crate::config::Config;
use crate::document::{Document, Object};
use crate::finding::{Applicability, Finding, FixState, Resource};
use crate::inventory::images::ImageFacts;
use crate::inventory::pass::PassFacts;
use crate::inventory::rbac::RoleRules;
use crate::inventory::traffic::Reference;
use crate::inventory::{Inventory, Workload};
use crate::yaml::edit::Op;
use crate::yaml::Path;

// The old path of the image facts, still used by pipeline, resolve, export and check.
// Rule metadata is a leaf module (the configuration reads it too); rules name it from here.
pub use crate::rule_meta::RuleMeta;

pub mod audit;
mod generated;
pub mod guards;
pub mod hygiene;
pub mod images;
pub mod pod_security;
pub mod rbac;
pub mod secrets;
#[cfg(test)]
pub(crate) mod testing;

/// What rules see.
pub struct Context<'a> {
    /// All documents.
    pub docs: &'a [Document],
    /// The inventory.
    pub inv: &'a Inventory,
    /// The configuration.
    pub cfg: &'a Config,
    /// Image facts by reference as written.
    pub images: &'a BTreeMap<String, ImageFacts>,
    /// Facts derived from this pass's stream on first use (several rules need them).
    derived: PassFacts,
    /// When set, [`workloads`] yields only the workloads of these documents (what a
    /// per-object rule must look at again after a step changed them; see [`Rule::per_object`]).
    pub only: Option<&'a std::collections::BTreeSet<usize>>,
}

impl<'a> Context<'a> {
    /// What rules see in one pass (the per-pass caches start empty).
    pub fn new(
        docs: &'a [Document],
        inv: &'a Inventory,
        cfg: &'a Config,
        images: &'a BTreeMap<String, ImageFacts>,
    ) -> Self {
        Context {
            docs,
            inv,
            cfg,
            images,
            derived: PassFacts::default(),
            only: None,
        }
    }

    /// The same view, with [`workloads`] limited to the workloads of `docs`.
    pub fn restricted_to(mut self, docs: &'a std::collections::BTreeSet<usize>) -> Self {
        self.only = Some(docs);
        self
    }

    /// True when workload `wi` carries an opt-out annotation (see [`skipped`]).
    pub fn has_opt_outs(&self, wi: usize) -> bool {
        self.derived.has_opt_outs(self.docs, self.inv, wi)
    }

    /// The typed view of an object (without a ConfigMap's or Secret's data: see
    /// [`crate::document::PRUNED`]).
    pub fn value(&self, o: &Object) -> &Value {
        self.docs[o.doc()].object_value(o)
    }

    /// The whole typed view of an object, a ConfigMap's or Secret's data included.
    pub fn full_value(&self, o: &Object) -> crate::inventory::pass::Full<'a> {
        self.derived.full_views.get(self.docs, o)
    }

    /// The value at a document path.
    pub fn at(&self, doc: usize, p: &Path) -> Option<&Value> {
        p.lookup(&self.docs[doc].value)
    }

    /// The HorizontalPodAutoscaler that scales workload `w`, if the stream has one.
    pub fn hpa_for(&self, w: &Workload) -> Option<&'a Object> {
        let r = &w.object.resource;
        self.derived
            .hpa_for(self.docs, self.inv, &w.namespace, &r.kind, &r.name)
    }

    /// Whether a CustomResourceDefinition in the stream makes `plural.group` cluster-scoped.
    pub fn crd_cluster_scoped(&self, group: &str, plural: &str) -> Option<bool> {
        self.derived
            .crd_cluster_scoped(self.docs, self.inv, group, plural)
    }

    /// Workload → Service references found in env, args and ConfigMaps (computed once).
    pub fn references(&self) -> &[Reference] {
        self.derived.references(self.docs, self.inv)
    }

    /// Objects of `kind` whose label selector at `selector_ptr` selects the workload's pods
    /// (same namespace; a NetworkPolicy without `podSelector` selects all).
    pub fn selecting(&self, kind: &str, selector_ptr: &str, w: &Workload) -> Vec<&'a Object> {
        self.derived
            .selectors
            .selecting(self.docs, self.inv, kind, selector_ptr, w)
    }

    /// Every Role's and ClusterRole's rules (read from the documents, not cached: they are
    /// borrowed, and finding them costs a look at each role).
    pub fn role_rules(&self) -> RoleRules<'a> {
        crate::inventory::rbac::role_rules(self.docs, self.inv)
    }

    /// True for a Helm 4 stream: its documents carry Helm's filename annotation, and so do
    /// the documents the rules generate.
    pub fn helm4(&self) -> bool {
        self.derived.helm4(self.docs)
    }

    /// Facts for a container image, if known.
    pub fn image(&self, r: &str) -> Option<&ImageFacts> {
        crate::inventory::images::facts_of(self.images, r)
    }
}

/// A document a rule generates (NetworkPolicy, PDB, …), built from `k8s-openapi` types and
/// written as YAML (1.1-safe quoting) when the rule makes it, with the generated-by label and,
/// in a Helm 4 stream, Helm's filename annotation. Written at once, not kept as a view until
/// the step applies it: a List of 800 Deployments holds 800 NetworkPolicies, 3.4 MB as views
/// and 0.8 MB as text, at the step's peak.
#[derive(Debug, Clone)]
pub struct Generated {
    /// The document's text, or why it could not be written (reported if the fix applies).
    pub text: Result<String, String>,
}

impl Generated {
    /// The object `value` (apiVersion, kind, metadata, …), written for the stream `cx` reads.
    pub fn new(cx: &Context<'_>, value: Value) -> Generated {
        Generated {
            text: generated::generated_text(value, cx.helm4()),
        }
    }
}

/// A fix: edits and/or generated documents.
#[derive(Debug, Clone)]
pub struct Fix {
    /// Safety class.
    pub applicability: Applicability,
    /// Byte-patch ops by document index.
    pub ops: Vec<(usize, Op)>,
    /// Generated documents.
    pub generated: Vec<Generated>,
}

impl Fix {
    /// A fix made of edits to one document.
    pub fn edits(applicability: Applicability, doc: usize, ops: Vec<Op>) -> Fix {
        Fix {
            applicability,
            ops: ops.into_iter().map(|o| (doc, o)).collect(),
            generated: Vec::new(),
        }
    }
}

/// A finding plus its fix, before the pipeline decides whether to apply it.
#[derive(Debug, Clone)]
pub struct Emitted {
    /// The finding (its `fix` state is set by the pipeline).
    pub finding: Finding,
    /// The fix, if any (boxed: most findings have none, and every finding of a pass is
    /// held in the sinks together).
    pub fix: Option<Box<Fix>>,
}

/// Whether a report (with its fix, if any) is one an earlier step of the fix loop already
/// kept and whose fix the step would withhold again: the step would drop it (see [`run_all`]).
pub type Known<'a> = &'a (dyn Fn(&Finding, Option<&Fix>) -> bool + Sync);

/// Collects what a rule emits.
#[derive(Default)]
pub struct Sink<'a> {
    /// Emitted findings.
    pub items: Vec<Emitted>,
    /// Reports kept by an earlier step: emitted again without a fix, or with one the step
    /// would withhold again, they are not collected
    /// (a later pass re-reports nearly everything it reported before; at x16 this is the
    /// second copy of every whole-stream rule's findings at the peak).
    known: Option<Known<'a>>,
    /// The last finding left out (what [`Sink::emit`] returns for it).
    dropped: Option<Emitted>,
}

impl std::fmt::Debug for Sink<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sink").field("items", &self.items).finish()
    }
}

impl Sink<'_> {
    /// Emits a finding.
    pub fn emit(
        &mut self,
        meta: &'static RuleMeta,
        resource: impl Into<Resource>,
        path: &Path,
        message: impl Into<String>,
        fix: Option<Fix>,
    ) -> &mut Emitted {
        let e = Emitted {
            finding: Finding {
                rule: meta.code,
                rule_name: meta.name,
                severity: meta.severity,
                resource: resource.into(),
                path: crate::finding::shared(path.to_string()),
                message: crate::finding::shared(message.into()),
                suggestion: None,
                fix: FixState::Unfixable,
            },
            fix: fix.map(Box::new),
        };
        // What a caller changes after `emit` (suggestion, severity) is not part of a report's
        // identity, so the finding can be judged here.
        if self.known.is_some_and(|k| k(&e.finding, e.fix.as_deref())) {
            return self.dropped.insert(e);
        }
        self.items.push(e);
        let last = self.items.len() - 1;
        &mut self.items[last]
    }
}

/// A rule.
pub trait Rule: Send + Sync {
    /// Its metadata.
    fn meta(&self) -> &'static RuleMeta;
    /// Checks the release and emits findings with fixes.
    fn check(&self, cx: &Context<'_>, out: &mut Sink);
    /// True for a rule that judges the result of the other rules' fixes (CH406 picks a
    /// namespace's Pod Security level from its hardened pods): in each pass of the fix loop it
    /// runs after the other rules' fixes are applied, so it never reports on a state that is
    /// about to change.
    fn late(&self) -> bool {
        false
    }
    /// True for a rule whose findings and fixes for a workload follow from that workload's
    /// own document alone (with the configuration and image facts), and which visits
    /// workloads only through [`workloads`]. After the first step of the fix loop such a
    /// rule is run on the documents changed since it last ran: on the others it would find
    /// exactly what it found before (already reported, and any fix already applied).
    fn per_object(&self) -> bool {
        false
    }
}

/// Every rule, in the order they run.
pub fn all() -> Vec<Box<dyn Rule>> {
    let mut v: Vec<Box<dyn Rule>> = Vec::new();
    v.extend(pod_security::rules());
    v.extend(images::rules());
    v.extend(secrets::rules());
    v.extend(rbac::rules());
    v.extend(hygiene::rules());
    v.extend(guards::rules());
    v.extend(audit::rules());
    v
}

/// Finds a rule's metadata by code (case-insensitive) or name.
pub fn find(id: &str) -> Option<&'static RuleMeta> {
    static METAS: std::sync::OnceLock<Vec<&'static RuleMeta>> = std::sync::OnceLock::new();
    let metas = METAS.get_or_init(|| all().iter().map(|r| r.meta()).collect());
    // Findings name their rule by its code as written: an exact match first (once per
    // finding per pass), then codes in any case and names (configuration, annotations).
    metas.iter().copied().find(|m| m.code == id).or_else(|| {
        metas
            .iter()
            .copied()
            .find(|m| m.code.eq_ignore_ascii_case(id) || m.name == id)
    })
}

/// Runs `rules` on one pass's context and returns what each emitted, in rule order. With `parallel`
/// (the pipeline's large-stream decision) the rules run on several threads (they only read the context); the result is the
/// same as running them one after another. Findings that `known` says the step would drop
/// (reported before, and without a fix or with one withheld again) are left out.
pub fn run_all<'k>(
    rules: &[&dyn Rule],
    cx: &Context<'_>,
    changed: Option<&Context<'_>>,
    parallel: bool,
    known: Option<Known<'k>>,
) -> Vec<Vec<Emitted>> {
    // Scheduling only (results stay in rule order): the costliest rules start first so that
    // no thread is left with one of them at the end; CH402 computes the Service references
    // CH603 needs while the other thread takes the next heavy rules, so CH603 finds them
    // ready instead of waiting on them.
    let rank = |i: usize| {
        HEAVY_FIRST
            .iter()
            .position(|c| *c == rules[i].meta().code)
            .unwrap_or(HEAVY_FIRST.len())
    };
    let mut order: Vec<usize> = (0..rules.len()).collect();
    order.sort_by_key(|&i| rank(i));
    crate::par::map(rules.len(), Some(&order), parallel, |i| {
        let mut sink = Sink {
            known,
            ..Sink::default()
        };
        let cx = match changed {
            Some(c) if rules[i].per_object() => c,
            _ => cx,
        };
        rules[i].check(cx, &mut sink);
        // The list without the spare room of its doublings (all sinks of a pass are alive
        // together, with their fixes, at the peak of the first pass).
        exact(sink.items)
    })
}

/// `v` in an allocation of its length (a copy: shrinking in place frees nothing when the
/// allocator keeps a block that stays at least half used).
fn exact<T>(v: Vec<T>) -> Vec<T> {
    if v.capacity() > v.len() {
        let mut out = Vec::with_capacity(v.len());
        out.extend(v);
        out
    } else {
        v
    }
}

/// Rules measured to cost most on large streams (NetworkPolicy generation and audits), in the
/// order a pass starts them; the others follow in rule order. What it buys (release build,
/// same-run A/B against no ordering, 15 alternating pairs each): 4-8 % median wall time on
/// the corpus as one stream; nothing measurable on the corpus x16.
const HEAVY_FIRST: &[&str] = &["CH402", "CH634", "CH602", "CH633", "CH603"];

/// Iterates the workloads a rule should look at (skipping those opted out by annotation).
pub fn workloads<'a>(
    cx: &'a Context<'a>,
    meta: &'static RuleMeta,
) -> impl Iterator<Item = &'a Workload> + 'a {
    workloads_indexed(cx, meta).map(|(_, w)| w)
}

/// Like [`workloads`], with each workload's index in `cx.inv.workloads`.
pub fn workloads_indexed<'a>(
    cx: &'a Context<'a>,
    meta: &'static RuleMeta,
) -> impl Iterator<Item = (usize, &'a Workload)> + 'a {
    cx.inv
        .workloads
        .iter()
        .enumerate()
        .filter(move |(_, w)| cx.only.is_none_or(|d| d.contains(&w.object.doc())))
        .filter(move |(i, w)| !cx.has_opt_outs(*i) || !skipped(cx, meta, w))
}

/// True when the workload opts out of the rule (chart-harden's or another tool's annotation).
pub fn skipped(cx: &Context<'_>, meta: &'static RuleMeta, w: &Workload) -> bool {
    let obj = cx.value(&w.object);
    let tpl = cx.at(w.object.doc(), &w.template);
    crate::exemptions::skipped(obj, tpl, meta.code, meta.name)
}

/// True when an object (not a workload: its own annotations only) opts out of the rule.
pub fn skipped_object(obj: &Value, meta: &'static RuleMeta) -> bool {
    crate::exemptions::skipped(obj, None, meta.code, meta.name)
}
