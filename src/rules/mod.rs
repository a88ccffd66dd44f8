//! Rules stage: one rule per file, Ruff-style metadata, fixes as data.
//!
//! A rule reads the documents and the inventory and emits findings, each optionally with a
//! [`Fix`]: byte-patch ops on documents and/or generated documents, tagged with an
//! [`Applicability`]. The pipeline decides which fixes apply (profile, `--unsafe-fixes`,
//! per-rule config, opt-out annotations) — rules never do I/O and never decide that.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::config::Config;
use crate::document::{Document, Object};
use crate::finding::{Applicability, Finding, FixState, ResourceRef, Severity};
use crate::inventory::{Inventory, Workload};
use crate::yaml::edit::Op;
use crate::yaml::view::ValueExt;
use crate::yaml::Path;

pub mod audit;
pub mod guards;
pub mod hygiene;
pub mod images;
pub mod pod_security;
pub mod rbac;
pub mod secrets;
#[cfg(test)]
pub(crate) mod testing;

/// A rule's documentation and defaults. Rule docs (`docs/rules.md`) are generated from this.
#[derive(Debug)]
pub struct RuleMeta {
    /// Stable code, e.g. `CH101`. Never reused.
    pub code: &'static str,
    /// Kebab-case name.
    pub name: &'static str,
    /// Group (pod-security, images, network, availability, tenancy, secrets, rbac, audit).
    pub group: &'static str,
    /// One line: what it does.
    pub summary: &'static str,
    /// Why it matters.
    pub why: &'static str,
    /// Example: input that triggers it and what the fix writes.
    pub example: &'static str,
    /// The most its fixes may be (checked by the pipeline on every fix the rule emits):
    /// `Safe`, `Unsafe`, or `ReportOnly` (no fix).
    pub fix: Applicability,
    /// True when an `Unsafe` rule's fix is safe where the evidence says so (a known non-root
    /// UID, a value the chart left unset): the docs then say "safe or unsafe".
    pub fix_also_safe: bool,
    /// Fix safety explanation: when the fix could change behaviour.
    pub fix_notes: &'static str,
    /// Config options that affect the rule.
    pub options: &'static str,
    /// Severity of its findings.
    pub severity: Severity,
    /// On unless disabled (false: only when enabled in config).
    pub default_enabled: bool,
}

/// Facts about an image learned from the registry or the lockfile.
#[derive(Debug, Clone, Default)]
pub struct ImageFacts {
    /// The pinned reference to write (`repo:tag@sha256:…`), if resolved.
    pub pinned: Option<String>,
    /// The digest.
    pub digest: Option<String>,
    /// Image config `User`, when read (`Some("")` = unset, i.e. root).
    pub user: Option<String>,
    /// Image config `Volumes`.
    pub volumes: Vec<String>,
    /// `registry`, `lockfile` or `cache`.
    pub source: String,
    /// Resolution error, when it failed (policy `warn`).
    pub error: Option<String>,
}

impl ImageFacts {
    /// The image's user as a numeric UID, when the image config says so (`"1000"`, `"1000:1000"`).
    pub fn numeric_uid(&self) -> Option<i64> {
        let u = self.user.as_deref()?;
        let uid = u.split(':').next()?;
        uid.parse().ok()
    }
}

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
    /// Service references inferred once per pass (several rules need them).
    pub references: std::sync::OnceLock<Vec<guards::netpol_infer::Reference>>,
    /// Label-selector indexes by (kind, selector pointer), built on first use in a pass.
    pub selector_index: std::sync::Mutex<BTreeMap<(String, String), std::sync::Arc<SelectorIndex>>>,
    /// Per workload (inventory order): whether it carries any opt-out annotation (computed
    /// once per pass; most carry none, and then no rule needs to read its annotations).
    pub opt_outs: std::sync::OnceLock<Vec<bool>>,
    /// Every Role's and ClusterRole's rules, read once per pass (four RBAC rules use them).
    pub(crate) rbac_rules: std::sync::OnceLock<rbac::RoleRules>,
    /// When set, [`workloads`] yields only the workloads of these documents (what a
    /// per-object rule must look at again after a step changed them; see [`Rule::per_object`]).
    pub only: Option<&'a std::collections::BTreeSet<usize>>,
}

/// A prefilter for "which objects of a kind select these labels": a selector with
/// `matchLabels` can only select pods carrying its first pair, so objects are indexed by their
/// namespace and that pair; selectors without `matchLabels` are always candidates. Callers
/// still evaluate the full selector and the namespace — the index only skips objects that
/// cannot match (`""`, the unknown release namespace, may be any namespace).
#[derive(Debug, Default)]
pub struct SelectorIndex {
    /// Namespace → label key → label value → objects whose first `matchLabels` pair it is.
    by_pair: std::collections::HashMap<
        String,
        std::collections::HashMap<String, std::collections::HashMap<String, Vec<usize>>>,
    >,
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
                .and_then(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())));
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
    pub fn candidates(&self, ns: &str, labels: &BTreeMap<String, String>) -> Vec<usize> {
        let mut out = self.always.clone();
        let mut scan = |by_key: &std::collections::HashMap<
            String,
            std::collections::HashMap<String, Vec<usize>>,
        >| {
            for (k, v) in labels {
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
            references: Default::default(),
            selector_index: Default::default(),
            opt_outs: Default::default(),
            rbac_rules: Default::default(),
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
        self.opt_outs.get_or_init(|| {
            self.inv
                .workloads
                .iter()
                .map(|w| {
                    crate::config::has_opt_outs(
                        self.value(&w.object),
                        self.at(w.object.doc, &w.template),
                    )
                })
                .collect()
        })[wi]
    }

    /// The JSON value of an object.
    pub fn value(&self, o: &Object) -> &Value {
        self.docs[o.doc].object_value(o)
    }

    /// The value at a document path.
    pub fn at(&self, doc: usize, p: &Path) -> Option<&Value> {
        p.lookup(&self.docs[doc].value)
    }

    /// Workload → Service references found in env, args and ConfigMaps (computed once).
    pub fn references(&self) -> &[guards::netpol_infer::Reference] {
        self.references
            .get_or_init(|| guards::netpol_infer::references(self.docs, self.inv))
    }

    /// Facts for a container image, if known.
    pub fn image(&self, r: &str) -> Option<&ImageFacts> {
        // After a pin (`repo:tag@sha256:…`) the facts are still those of `repo:tag`.
        self.images.get(r).or_else(|| {
            r.split_once('@')
                .and_then(|(base, _)| self.images.get(base))
        })
    }
}

/// A document a rule generates (NetworkPolicy, PDB, …), built from `k8s-openapi` types and
/// serialized to JSON. The pipeline adds the generated-by label and Helm's filename annotation
/// and writes it as YAML with 1.1-safe quoting.
#[derive(Debug, Clone)]
pub struct Generated {
    /// The object (apiVersion, kind, metadata, …).
    pub value: Value,
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
    /// The fix, if any.
    pub fix: Option<Fix>,
}

/// Collects what a rule emits.
#[derive(Debug, Default)]
pub struct Sink {
    /// Emitted findings.
    pub items: Vec<Emitted>,
}

impl Sink {
    /// Emits a finding.
    pub fn emit(
        &mut self,
        meta: &'static RuleMeta,
        resource: &ResourceRef,
        path: &Path,
        message: impl Into<String>,
        fix: Option<Fix>,
    ) -> &mut Emitted {
        self.items.push(Emitted {
            finding: Finding {
                rule: meta.code,
                rule_name: meta.name,
                severity: meta.severity,
                resource: resource.clone(),
                path: path.to_string(),
                message: message.into(),
                suggestion: None,
                fix: FixState::Unfixable,
            },
            fix,
        });
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

/// Runs `rules` on one pass's context and returns their sinks in rule order. With `parallel`
/// (the pipeline's large-stream decision) the rules run on several threads (they only read the context); the result is the
/// same as running them one after another.
pub fn run_all(
    rules: &[&dyn Rule],
    cx: &Context<'_>,
    changed: Option<&Context<'_>>,
    parallel: bool,
) -> Vec<Sink> {
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
        let mut sink = Sink::default();
        let cx = match changed {
            Some(c) if rules[i].per_object() => c,
            _ => cx,
        };
        rules[i].check(cx, &mut sink);
        sink
    })
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
        .filter(move |(_, w)| cx.only.is_none_or(|d| d.contains(&w.object.doc)))
        .filter(move |(i, w)| !cx.has_opt_outs(*i) || !skipped(cx, meta, w))
}

/// True when the workload opts out of the rule (chart-harden's or another tool's annotation).
pub fn skipped(cx: &Context<'_>, meta: &'static RuleMeta, w: &Workload) -> bool {
    let obj = cx.value(&w.object);
    let tpl = cx.at(w.object.doc, &w.template);
    crate::config::skipped_by_annotation(obj, tpl, meta)
}
