//! One step of the fix loop: run the rules, decide which fixes apply (the rule's declared
//! safety, values the chart set explicitly, what the workload facts allow, nodes the patcher
//! does not edit), keep every finding once, and hand the allowed edits to [`super::apply`].

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::report_hash::{report_hash, same_report};
use crate::config::Config;
use crate::document::{Document, Stream};
use crate::error::Error;
use crate::finding::{Applicability, Finding, FixState, ResourceRef};
use crate::inventory::images::ImageFacts;
use crate::inventory::Inventory;
use crate::rules::{self, Context, Rule};
use crate::yaml::edit::{self, Op};

/// One rule step of the fix loop: what it needs, and the findings so far.
pub(super) struct Fixer<'a> {
    pub(super) cfg: &'a Config,
    pub(super) images: &'a BTreeMap<String, ImageFacts>,
    /// Run rules and patch documents on every core (large streams).
    pub(super) parallel: bool,
    /// CRLF stream: generated documents use CRLF too.
    pub(super) crlf: bool,
    pub(super) findings: Vec<Finding>,
    /// The input text of every input document a fix changed (kept only for those).
    pub(super) before: BTreeMap<usize, crate::document::Text>,
    /// The index of each finding reported, by the hash of its (rule, resource, path, message),
    /// so that a later pass does not report it again (see [`same_report`]). Two reports with
    /// one hash take the next free keys (`hash + 1`, …): a lookup walks keys until a free one.
    /// (One index per entry, not a list: a third of the map's memory.)
    pub(super) seen: HashMap<u64, usize>,
    /// The inventory of the stream as it is now (dropped whenever a step changes it).
    pub(super) inventory: Option<Inventory>,
    /// Documents changed since the per-object rules last ran (`None`: they have not run).
    pub(super) dirty: Option<BTreeSet<usize>>,
    /// Run per-object rules on changed documents only (see [`super::run::harden`]).
    pub(super) incremental: bool,
}

impl Fixer<'_> {
    /// True when `f` reports what a kept finding reports.
    fn known(&self, f: &Finding) -> bool {
        self.free_key(f).is_none()
    }

    /// The free key of `seen` for `f`; none when a kept finding reports the same.
    fn free_key(&self, f: &Finding) -> Option<u64> {
        let mut key = report_hash(f);
        while let Some(&i) = self.seen.get(&key) {
            if same_report(&self.findings[i], f) {
                return None;
            }
            key = key.wrapping_add(1);
        }
        Some(key)
    }

    /// Runs `rules` on the stream and applies the fixes allowed; true when anything changed.
    pub(super) fn step(&mut self, stream: &mut Stream, rules: &[&dyn Rule]) -> Result<bool, Error> {
        if rules.is_empty() {
            return Ok(false);
        }
        let inv = match self.inventory.take() {
            Some(inv) => inv,
            None => Inventory::build(&stream.docs, self.cfg.namespace.as_deref()),
        };
        // Per-object rules look again only at what changed since they last ran.
        let only = if self.incremental && rules.iter().any(|r| r.per_object()) {
            self.dirty.replace(BTreeSet::new())
        } else {
            None
        };
        let cx = Context::new(&stream.docs, &inv, self.cfg, self.images);
        let changed_cx = only
            .as_ref()
            .map(|d| Context::new(&stream.docs, &inv, self.cfg, self.images).restricted_to(d));
        // What decides whether a fix is withheld, with its caches, for the sinks and then for
        // this step's fixes.
        let gate = Gate {
            docs: &stream.docs,
            inv: &inv,
            cfg: self.cfg,
            images: self.images,
            index: std::sync::OnceLock::new(),
            users: std::sync::Mutex::new(HashMap::new()),
        };
        // A later pass re-reports what an earlier one reported: the sinks leave those out, and
        // those whose fix would be withheld again (see `Known`).
        let known = |f: &Finding, fix: Option<&rules::Fix>| {
            self.known(f) && fix.is_none_or(|fix| gate.withheld_again(f, fix))
        };
        let sinks = rules::run_all(
            rules,
            &cx,
            changed_cx.as_ref(),
            self.parallel,
            (!self.findings.is_empty()).then_some(&known as rules::Known<'_>),
        );
        drop(changed_cx);
        drop(cx);
        let mut ops: BTreeMap<usize, Vec<Op>> = BTreeMap::new();
        let mut generated: Vec<Result<String, String>> = Vec::new();
        let mut last_meta: Option<&'static rules::RuleMeta> = None;
        // Room for this step's findings, without doubling (a few steps per run; at x16 the
        // doubled list is 9 MB for 5 MB of findings).
        self.findings
            .reserve_exact(sinks.iter().map(Vec::len).sum::<usize>());
        for em in sinks.into_iter().flatten() {
            let mut f = em.finding;
            // A sink's findings are nearly always its rule's: look the rule up once.
            let meta = match last_meta {
                Some(m) if m.code == f.rule => Some(m),
                _ => rules::find(f.rule),
            };
            last_meta = meta;
            if let (Some(mut fix), Some(meta)) = (em.fix, meta) {
                // A rule's declared fix safety is the most its fixes may be: checked here on
                // every fix it emits (tests fail on a rule that emits beyond it; a release
                // build never applies more than the rule declares).
                if !within_declared(meta.fix, fix.applicability) {
                    debug_assert!(
                        false,
                        "{} declares fix safety {} but emitted a {} fix: {}",
                        meta.code,
                        meta.fix.as_str(),
                        fix.applicability.as_str(),
                        f.message
                    );
                    fix.applicability = meta.fix;
                }
                // No safe fix changes a value the chart set explicitly: such a fix is unsafe,
                // and says so.
                // (A digest pin names the same image: not a change of the chart's choice.)
                if fix.applicability == Applicability::Safe && meta.group != "images" {
                    if let Some(what) = changes_explicit_value(&stream.docs, &fix) {
                        fix.applicability = Applicability::Unsafe;
                        f.message = crate::finding::shared(format!(
                            "{} (the fix changes {what}, which the chart set explicitly: unsafe)",
                            f.message
                        ));
                    }
                }
                let allowed = gate.decide(meta, &f.resource, &fix);
                match allowed {
                    Ok(()) => {
                        f.fix = FixState::Applied {
                            applicability: fix.applicability,
                        };
                        for (d, op) in fix.ops {
                            ops.entry(d).or_default().push(op);
                        }
                        generated.extend(fix.generated.into_iter().map(|g| g.text));
                    }
                    Err(reason) => {
                        f.fix = FixState::Skipped {
                            applicability: fix.applicability,
                            reason: crate::finding::shared(reason),
                        };
                    }
                }
            }
            if let Some(key) = self.free_key(&f) {
                self.seen.insert(key, self.findings.len());
                self.findings.push(f);
            }
        }
        // Each document's ops at their length: they live through the patch, the step's peak
        // (a pod with 2,000 containers: 16,000 ops, 0.7 MB less at its peak).
        for o in ops.values_mut() {
            if o.capacity() > o.len() {
                let mut exact = Vec::with_capacity(o.len());
                exact.extend(std::mem::take(o));
                *o = exact;
            }
        }
        if ops.is_empty() && generated.is_empty() {
            // Nothing changed: the next step reads the same stream, and its inventory.
            self.inventory = Some(inv);
            return Ok(false);
        }
        drop(gate);
        drop(inv);
        self.apply(stream, ops, generated)?;
        Ok(true)
    }
}

/// What decides whether a fix is applied or withheld in a step (see [`Gate::decide`]), with
/// the step's caches.
struct Gate<'a> {
    docs: &'a [Document],
    inv: &'a Inventory,
    cfg: &'a Config,
    images: &'a BTreeMap<String, ImageFacts>,
    /// Workloads by resource, built on the first unsafe fix of the step.
    index: std::sync::OnceLock<HashMap<&'a ResourceRef, usize>>,
    /// Who each workload's containers start as, found once a step (a pod of 2,000 containers
    /// has thousands of unsafe fixes).
    users: std::sync::Mutex<HashMap<usize, crate::inventory::facts::StartUsers>>,
}

impl Gate<'_> {
    /// `Ok` when `fix` (of `meta`'s rule, for `resource`, its safety already within what the
    /// rule declares) is applied; otherwise why it is withheld: the workload's facts (unsafe
    /// fixes), the config, or a node the patcher does not edit.
    fn decide(
        &self,
        meta: &rules::RuleMeta,
        resource: &ResourceRef,
        fix: &rules::Fix,
    ) -> Result<(), String> {
        let withheld = (fix.applicability == Applicability::Unsafe)
            .then(|| {
                let ix = self.index.get_or_init(|| {
                    self.inv
                        .workloads
                        .iter()
                        .enumerate()
                        .map(|(i, w)| (&w.object.resource, i))
                        .collect()
                });
                let mut users = self.users.lock().unwrap_or_else(|e| e.into_inner());
                withheld_for_workload(
                    self.inv,
                    ix,
                    meta,
                    resource,
                    self.cfg,
                    RootGate {
                        docs: self.docs,
                        images: self.images,
                        found: &mut users,
                    },
                )
            })
            .flatten();
        if let Some(reason) = withheld {
            return Err(reason);
        }
        self.cfg.fix_allowed(meta, fix.applicability)?;
        // A fix that would edit a node carrying an anchor, alias or tag (shared with other
        // nodes) is withheld, named, instead of failing the whole run.
        match decorated_op(self.docs, fix) {
            Some(path) => Err(format!(
                "cannot patch {path}: the node carries a YAML anchor, alias or tag (shared \
                 with other nodes), which chart-harden does not edit; set the field in the chart"
            )),
            None => Ok(()),
        }
    }

    /// True when the unsafe `fix` of a report emitted again would be withheld again: the step
    /// would keep nothing of it (the report is kept already), so its sink need not keep its
    /// ops either. (Kept, a withheld fix was emitted again, ops and all, in every step until
    /// the loop converged. Same run, medians of 11: the List of 800 Deployments in prod
    /// without pinning 26.3 → 24.5 MiB at its peak, the same time.) A safe fix is left to the
    /// step: it may turn unsafe, under another message, when it changes a value the chart set.
    fn withheld_again(&self, f: &Finding, fix: &rules::Fix) -> bool {
        let Some(meta) = rules::find(f.rule) else {
            return false;
        };
        fix.applicability == Applicability::Unsafe
            && within_declared(meta.fix, fix.applicability)
            && self.decide(meta, &f.resource, fix).is_err()
    }
}

/// The path of the first op of `fix` that edits a node carrying an anchor, alias or tag
/// (see [`edit::decorated_ops`]); only documents the fast paths declined can hold one.
fn decorated_op(docs: &[Document], fix: &rules::Fix) -> Option<String> {
    let mut by_doc: BTreeMap<usize, Vec<&Op>> = BTreeMap::new();
    for (d, op) in &fix.ops {
        if docs.get(*d).is_some_and(|doc| !doc.plain) {
            by_doc.entry(*d).or_default().push(op);
        }
    }
    by_doc.into_iter().find_map(|(d, ops)| {
        edit::decorated_ops(&docs[d].text, &ops)
            .into_iter()
            .next()
            .map(|(_, e)| e.path)
    })
}

/// True when a fix of `emitted` safety stays within a rule's declared `declared` safety (the
/// most its fixes may be: a safe rule emits safe fixes, an unsafe one safe or unsafe ones, a
/// report-only one none).
pub fn within_declared(declared: Applicability, emitted: Applicability) -> bool {
    matches!(
        (declared, emitted),
        (Applicability::Safe, Applicability::Safe)
            | (
                Applicability::Unsafe,
                Applicability::Safe | Applicability::Unsafe
            )
    )
}

/// The first `Set` of a fix that replaces a scalar the document already has with another
/// value (`path: old → new`), if any.
fn changes_explicit_value(docs: &[crate::document::Document], fix: &rules::Fix) -> Option<String> {
    fix.ops.iter().find_map(|(d, op)| {
        let Op::Set(path, new) = op else { return None };
        // The whole view: a fix may set a ConfigMap's or Secret's data, which the view leaves out.
        let view = docs.get(*d)?.full_value().ok()?;
        let old = path.lookup(&view)?;
        (!old.is_null() && !old.is_object() && !old.is_array() && old != new)
            .then(|| format!("{path} from {old} to {new}"))
    })
}

/// What the root-container gate of [`withheld_for_workload`] reads: the documents, the image
/// facts, and its answers so far in the step, by workload.
struct RootGate<'a> {
    docs: &'a [crate::document::Document],
    images: &'a BTreeMap<String, ImageFacts>,
    found: &'a mut HashMap<usize, crate::inventory::facts::StartUsers>,
}

/// Why an unsafe fix of `meta` is withheld for the workload `r`, from the facts:
/// - a pod that can never reach the restricted level (a node agent, a system component) gets
///   no unsafe pod-security fix, whose only purpose is restricted, and no default memory limit
///   (its memory follows the node's load); `podSecurity.hostAccessPods: restrict` applies them;
/// - a pod with a container that starts as root by the chart's choice (`runAsUser: 0`) or
///   by its image's config (or as a user known only by name) gets no unsafe pod-security fix
///   either: a UID chosen for it, or dropping the capabilities its root entrypoint uses, could
///   stop it; `podSecurity.rootContainers: restrict` applies them;
/// - a pod with a container whose user nothing shows (the chart sets no runAsUser and its
///   image config was not read) gets no chosen UID and no dropped capabilities (CH101's and
///   CH104's unsafe fixes): it may be such a container; `podSecurity.unknownUsers: restrict`
///   applies them.
///
/// (CH109's token is not about the process's user.)
fn withheld_for_workload(
    inv: &Inventory,
    index: &HashMap<&ResourceRef, usize>,
    meta: &rules::RuleMeta,
    r: &ResourceRef,
    cfg: &Config,
    root: RootGate<'_>,
) -> Option<String> {
    let pod_security = meta.group == "pod-security";
    if !(pod_security || meta.code == "CH405") {
        return None;
    }
    let wi = *index.get(r)?;
    if !cfg.pod_security.host_access_pods {
        if let Some(why) = inv.facts.workloads.get(wi)?.unrestrictable.as_ref() {
            return Some(format!(
                "withheld: {why}, so the pod can never reach the restricted level and this fix would only risk breaking it (set `podSecurity.hostAccessPods: restrict` to apply it)"
            ));
        }
    }
    let ps = &cfg.pod_security;
    if (ps.root_containers && ps.unknown_users) || !pod_security || meta.code == "CH109" {
        return None;
    }
    let w = inv.workloads.get(wi)?;
    let users = root
        .found
        .entry(wi)
        .or_insert_with(|| crate::inventory::facts::start_users(root.docs, w, root.images));
    if let Some(why) = users.root.as_ref().filter(|_| !ps.root_containers) {
        return Some(format!(
            "withheld: {why}, and nothing shows it can start as another user, so this fix could stop it (set a non-root runAsUser in the chart's values, or `podSecurity.rootContainers: restrict` to apply it)"
        ));
    }
    // Only the fixes that rest on the user: the UID chosen, the capabilities dropped (a read-only
    // root rests on where it writes, a seccomp profile on no user).
    let why = users
        .unknown
        .as_ref()
        .filter(|_| !ps.unknown_users && matches!(meta.code, "CH101" | "CH104"))?;
    Some(format!(
        "withheld: {why}, so nothing shows which user it starts as: it may need root, and this fix could stop it (pin digests so chart-harden reads the image's user, set a non-root runAsUser in the chart's values, or `podSecurity.unknownUsers: restrict` to apply it)"
    ))
}
