//! The pipeline: parse → inventory → rules → apply → emit, repeated until no fix applies.
//!
//! Like Ruff's fix loop, rules run again on their own output until it converges (a fix can
//! make another rule's fix possible, e.g. dropping `privileged` lets CH103 set
//! `allowPrivilegeEscalation: false`). Converged output is what makes
//! `harden(harden(x)) == harden(x)` hold byte for byte.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

use crate::config::Config;
use crate::document::{
    build_document_owned, build_document_with_value, parse_stream, Document, Stream,
    HELM4_FILENAME_ANNOTATION,
};
use crate::error::Error;
use crate::finding::{Applicability, Finding, FixState, ResourceRef};
use crate::inventory::Inventory;
use crate::rules::{self, Context, ImageFacts, Rule};
use crate::yaml::edit::{self, Op};
use crate::yaml::view::ValueExt;

// Defined with the other facts (rules read it); the pipeline writes it on generated objects.
pub use crate::inventory::GENERATED_LABEL;

const MAX_ITERATIONS: usize = 6;

/// One changed or added document, for the diff report.
#[derive(Debug, Clone)]
pub struct DocChange {
    /// Document index in the output.
    pub doc: usize,
    /// Label (`document 3 (Deployment/web, templates/web.yaml)`).
    pub label: String,
    /// Text before (empty for added documents).
    pub before: String,
    /// Text after.
    pub after: String,
    /// True for a generated document.
    pub added: bool,
}

/// The result of a run.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The hardened stream.
    pub output: Vec<u8>,
    /// Every finding, with what happened to its fix.
    pub findings: Vec<Finding>,
    /// Changed and added documents.
    pub changes: Vec<DocChange>,
    /// Images whose digest could not be resolved: they stay unpinned (tags as written).
    pub unpinned_images: Vec<String>,
}

impl Outcome {
    /// True when the output differs from the input.
    pub fn changed(&self) -> bool {
        !self.changes.is_empty()
    }
}

/// A parsed input, ready to harden once its images are resolved.
pub struct Prepared {
    /// The parsed stream.
    pub stream: Stream,
    /// Every image reference that pinning would resolve.
    pub refs: Vec<String>,
    /// The stream's inventory (the fix loop's first step starts from it).
    inventory: Inventory,
}

/// Parses the input and returns it with every image reference that pinning would resolve.
pub fn prepare(input: &[u8], cfg: &Config) -> Result<(Stream, Vec<String>), Error> {
    let p = prepare_run(input, cfg)?;
    Ok((p.stream, p.refs))
}

/// Like [`prepare`], keeping the inventory for [`harden_prepared`].
pub fn prepare_run(input: &[u8], cfg: &Config) -> Result<Prepared, Error> {
    prepare_run_owned(input.to_vec(), cfg)
}

/// [`prepare_run`] taking the input buffer: the documents keep their bytes in it.
pub fn prepare_run_owned(input: Vec<u8>, cfg: &Config) -> Result<Prepared, Error> {
    let stream = crate::document::parse_stream_owned(input)?;
    let inventory = Inventory::build(&stream.docs, cfg.namespace.as_deref());
    let mut refs: BTreeSet<String> = BTreeSet::new();
    let pin_on = cfg.images.pin && !cfg.disabled.contains("CH201");
    if pin_on {
        for f in rules::images::image_fields(&stream.docs, &inventory, cfg) {
            match f.reference.rsplit_once('@') {
                None => {
                    refs.insert(f.reference);
                }
                // A reference that carries a digest is trusted as pinned: it must be one.
                Some((_, digest)) if !chart_harden_registry::is_valid_digest(digest) => {
                    return Err(Error::Field {
                        doc: doc_label(&stream.docs, f.doc),
                        path: f.path.to_string(),
                        message: format!(
                            "image {:?} has a malformed digest {digest:?} (expected sha256: and 64 lowercase hex digits)",
                            f.reference
                        ),
                    });
                }
                Some(_) => {}
            }
        }
    }
    Ok(Prepared {
        stream,
        refs: refs.into_iter().collect(),
        inventory,
    })
}

/// Hardens a prepared stream (image facts must already be known).
pub fn harden_prepared(
    p: Prepared,
    cfg: &Config,
    images: &BTreeMap<String, ImageFacts>,
) -> Result<Outcome, Error> {
    harden_with(p.stream, Some(p.inventory), cfg, images, true, false).map(|(o, _)| o)
}

/// Like [`harden_prepared`], with the output as pieces to write ([`Emitted::write_to`]);
/// the outcome's `output` is left empty.
pub fn harden_prepared_pieces(
    p: Prepared,
    cfg: &Config,
    images: &BTreeMap<String, ImageFacts>,
) -> Result<(Outcome, Emitted), Error> {
    harden_with(p.stream, Some(p.inventory), cfg, images, true, true)
}

/// Hardens a parsed stream.
pub fn harden_stream(
    stream: Stream,
    cfg: &Config,
    images: &BTreeMap<String, ImageFacts>,
) -> Result<Outcome, Error> {
    harden_with(stream, None, cfg, images, true, false).map(|(o, _)| o)
}

/// The fix loop. With `incremental`, per-object rules look only at the documents changed
/// since they last ran ([`Rule::per_object`]); without, every rule sees every document in
/// every step (the tests compare both).
fn harden_with(
    mut stream: Stream,
    inventory: Option<Inventory>,
    cfg: &Config,
    images: &BTreeMap<String, ImageFacts>,
    incremental: bool,
    pieces: bool,
) -> Result<(Outcome, Emitted), Error> {
    let original_count = stream.docs.len();
    let large =
        stream.docs.iter().map(|d| d.text.len()).sum::<usize>() >= crate::par::PARALLEL_BYTES;
    let crlf = uses_crlf(&stream);
    let helm4 = stream.docs.iter().any(|d| {
        d.value
            .ptr("/metadata/annotations")
            .and_then(|a| a.get(HELM4_FILENAME_ANNOTATION))
            .is_some()
    });
    let all_rules = rules::all();
    let enabled: Vec<&dyn Rule> = all_rules
        .iter()
        .filter(|r| cfg.rule_enabled(r.meta()))
        .map(|r| r.as_ref())
        .collect();
    // Late rules judge the result of the other rules' fixes (CH406 reads the hardened pods):
    // in each pass they run after the other rules' fixes are applied.
    let (late, early): (Vec<&dyn Rule>, Vec<&dyn Rule>) = enabled.iter().partition(|r| r.late());
    let mut fixer = Fixer {
        cfg,
        images,
        parallel: large,
        before: BTreeMap::new(),
        helm4,
        crlf,
        findings: Vec::new(),
        seen: HashMap::new(),
        inventory,
        dirty: None,
        incremental,
    };
    let mut converged = false;
    for _ in 0..MAX_ITERATIONS {
        let early_changed = fixer.step(&mut stream, &early)?;
        let late_changed = fixer.step(&mut stream, &late)?;
        if !early_changed && !late_changed {
            converged = true;
            break;
        }
    }
    if !converged {
        return Err(Error::Config(format!(
            "fixes did not converge after {MAX_ITERATIONS} passes (a rule keeps changing its own output; please report this)"
        )));
    }
    let mut changes = Vec::new();
    for d in &stream.docs {
        if d.index < original_count {
            if let Some(before) = fixer.before.remove(&d.index).filter(|b| *b != d.text) {
                // Diff context must not show a Secret's values (a List holding a Secret and a
                // changed workload).
                let secrets = crate::report::diff::secret_values(&d.value);
                changes.push(DocChange {
                    doc: d.index,
                    label: d.label(),
                    before: crate::report::diff::redact_secret_values(&before, &secrets),
                    after: crate::report::diff::redact_secret_values(&d.text, &secrets),
                    added: false,
                });
            }
        } else {
            changes.push(DocChange {
                doc: d.index,
                label: d.label(),
                before: String::new(),
                after: d.text.to_string(),
                added: true,
            });
        }
    }
    let emitted = Emitted::take(&mut stream);
    // Freed here: freeing it on a background thread measured no faster (same-run A/B).
    drop(stream);
    let output = if pieces {
        Vec::new()
    } else {
        emitted.to_bytes()
    };
    Ok((
        Outcome {
            output,
            findings: fixer.findings,
            changes,
            unpinned_images: images
                .iter()
                .filter(|(_, f)| f.error.is_some())
                .map(|(r, _)| r.clone())
                .collect(),
        },
        emitted,
    ))
}

/// One rule step of the fix loop: what it needs, and the findings so far.
struct Fixer<'a> {
    cfg: &'a Config,
    images: &'a BTreeMap<String, ImageFacts>,
    /// Run rules and patch documents on every core (large streams).
    parallel: bool,
    /// Helm 4 stream: generated documents get Helm's filename annotation.
    helm4: bool,
    /// CRLF stream: generated documents use CRLF too.
    crlf: bool,
    findings: Vec<Finding>,
    /// The input text of every input document a fix changed (kept only for those).
    before: BTreeMap<usize, crate::document::Text>,
    /// The findings reported, by the hash of their (rule, resource, path, message), so that a
    /// later pass does not report them again (see [`same_report`]).
    seen: HashMap<u64, Vec<usize>>,
    /// The inventory of the stream as it is now (dropped whenever a step changes it).
    inventory: Option<Inventory>,
    /// Documents changed since the per-object rules last ran (`None`: they have not run).
    dirty: Option<BTreeSet<usize>>,
    /// Run per-object rules on changed documents only (see `harden_with`).
    incremental: bool,
}

impl Fixer<'_> {
    /// Runs `rules` on the stream and applies the fixes allowed; true when anything changed.
    fn step(&mut self, stream: &mut Stream, rules: &[&dyn Rule]) -> Result<bool, Error> {
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
        let sinks = rules::run_all(rules, &cx, changed_cx.as_ref(), self.parallel);
        drop(changed_cx);
        drop(cx);
        let mut ops: BTreeMap<usize, Vec<Op>> = BTreeMap::new();
        let mut generated: Vec<Value> = Vec::new();
        let mut last_meta: Option<&'static rules::RuleMeta> = None;
        // Workloads by resource, built on the first unsafe fix of the step.
        let mut workload_index: Option<HashMap<&ResourceRef, usize>> = None;
        for em in sinks.into_iter().flat_map(|s| s.items) {
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
                        f.message.push_str(&format!(
                            " (the fix changes {what}, which the chart set explicitly: unsafe)"
                        ));
                    }
                }
                let gate = (fix.applicability == Applicability::Unsafe)
                    .then(|| {
                        let ix = workload_index.get_or_insert_with(|| {
                            inv.workloads
                                .iter()
                                .enumerate()
                                .map(|(i, w)| (&w.object.resource, i))
                                .collect()
                        });
                        withheld_for_workload(&inv, ix, meta, &f.resource, self.cfg)
                    })
                    .flatten();
                let allowed = match gate {
                    Some(reason) => Err(reason),
                    None => self.cfg.fix_allowed(meta, fix.applicability),
                };
                // A fix that would edit a node carrying an anchor, alias or tag (shared with
                // other nodes) is withheld, named, instead of failing the whole run.
                let allowed = allowed.and_then(|()| match decorated_op(&stream.docs, &fix) {
                    Some(path) => Err(format!(
                        "cannot patch {path}: the node carries a YAML anchor, alias or tag \
                         (shared with other nodes), which chart-harden does not edit; set the \
                         field in the chart"
                    )),
                    None => Ok(()),
                });
                match allowed {
                    Ok(()) => {
                        f.fix = FixState::Applied {
                            applicability: fix.applicability,
                        };
                        for (d, op) in fix.ops {
                            ops.entry(d).or_default().push(op);
                        }
                        generated.extend(fix.generated.into_iter().map(|g| g.value));
                    }
                    Err(reason) => {
                        f.fix = FixState::Skipped {
                            applicability: fix.applicability,
                            reason,
                        };
                    }
                }
            }
            let earlier = self.seen.entry(report_hash(&f)).or_default();
            if !earlier.iter().any(|&i| same_report(&self.findings[i], &f)) {
                earlier.push(self.findings.len());
                self.findings.push(f);
            }
        }
        if ops.is_empty() && generated.is_empty() {
            // Nothing changed: the next step reads the same stream, and its inventory.
            self.inventory = Some(inv);
            return Ok(false);
        }
        drop(inv);
        // Documents are patched independently (on every core for a large stream); the first
        // error in stream order is reported.
        // Each patched document's view is moved out (it is replaced when patched) rather than
        // copied; a pruned view stays (the patcher reads the whole document from its text).
        // Labels are made first: they name the document if patching fails.
        let jobs: Vec<PatchJob> = ops
            .into_iter()
            .map(|(d, o)| {
                let doc = &mut stream.docs[d];
                PatchJob {
                    d,
                    label: doc.label(),
                    view: std::sync::Mutex::new(
                        (!doc.partial).then(|| std::mem::take(&mut doc.value)),
                    ),
                    ops: order_ops(o),
                }
            })
            .collect();
        let patched = crate::par::map(jobs.len(), None, self.parallel, |j| {
            let PatchJob {
                d,
                ops: ordered,
                label,
                view,
            } = &jobs[j];
            let doc = &stream.docs[*d];
            let taken = view.lock().unwrap_or_else(|e| e.into_inner()).take();
            let original = match taken {
                Some(v) => v,
                None => doc.full_value()?.into_owned(),
            };
            let (text, value) =
                edit::patch(&doc.text, original, ordered).map_err(|source| Error::Patch {
                    doc: label.clone(),
                    source,
                })?;
            build_document_with_value(*d, &doc.marker, text, value)
        });
        for (PatchJob { d, .. }, doc) in jobs.iter().zip(patched) {
            let mut doc = doc?;
            // A patch edits values, never keys: a repeated key is still repeated, and it adds
            // no anchor, alias or tag.
            doc.duplicate_key.clone_from(&stream.docs[*d].duplicate_key);
            doc.plain = stream.docs[*d].plain;
            let old = std::mem::replace(&mut stream.docs[*d], doc);
            self.before.entry(*d).or_insert(old.text);
            if let Some(dirty) = &mut self.dirty {
                dirty.insert(*d);
            }
        }
        // Generated documents are written and read back independently (on every core for a
        // large stream); the first error in stream order is reported.
        let first = stream.docs.len();
        let generated: Vec<std::sync::Mutex<Option<Value>>> = generated
            .into_iter()
            .map(|g| std::sync::Mutex::new(Some(g)))
            .collect();
        let (helm4, crlf) = (self.helm4, self.crlf);
        let built = crate::par::map(generated.len(), None, self.parallel, |k| {
            let g = generated[k]
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
                .unwrap_or_default();
            let mut text = generated_text(g, helm4)?;
            if crlf {
                // A CRLF stream stays CRLF everywhere, generated documents included.
                text = text.replace('\n', "\r\n");
            }
            build_document_owned(first + k, "---", text)
        });
        for doc in built {
            let doc = doc?;
            if let Some(dirty) = &mut self.dirty {
                dirty.insert(doc.index);
            }
            stream.docs.push(doc);
        }
        Ok(true)
    }
}

/// The hash of what [`same_report`] compares, without building the strings it compares.
fn report_hash(f: &Finding) -> u64 {
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    // The resource as `ResourceRef::display` writes it (`Kind/namespace/name`), fed in
    // pieces: the hasher reads a byte stream, so this is the hash of the display string.
    let r = &f.resource;
    h.write(r.kind.as_bytes());
    if let Some(ns) = &r.namespace {
        h.write(b"/");
        h.write(ns.as_bytes());
    }
    h.write(b"/");
    h.write(r.name.as_bytes());
    for part in [f.rule, &f.path, &f.message] {
        h.write(&[0xff]); // no UTF-8 text holds this byte: parts cannot run together
        h.write(part.as_bytes());
    }
    h.0
}

/// FNV-1a over a byte stream (pieces hash like their concatenation). Equal hashes are
/// compared in full ([`same_report`]), so the hash only needs to be cheap and spread well.
struct Fnv(u64);

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// Two findings report the same thing: same rule, path, message and resource as displayed.
fn same_report(a: &Finding, b: &Finding) -> bool {
    a.rule == b.rule
        && a.path == b.path
        && a.message == b.message
        && (a.resource.kind == b.resource.kind
            && a.resource.namespace == b.resource.namespace
            && a.resource.name == b.resource.name
            || a.resource.display() == b.resource.display())
}

/// One document to patch in a step.
struct PatchJob {
    /// Its index.
    d: usize,
    /// Its ops, in the order they apply.
    ops: Vec<Op>,
    /// Its label (for an error).
    label: String,
    /// Its view, moved out of the document (`None` for a pruned view).
    view: std::sync::Mutex<Option<Value>>,
}

/// Parses and hardens in one call (image facts must already be known).
pub fn harden(
    input: &[u8],
    cfg: &Config,
    images: &BTreeMap<String, ImageFacts>,
) -> Result<Outcome, Error> {
    let stream = parse_stream(input)?;
    harden_stream(stream, cfg, images)
}

/// Sets and appends in order; removals last, deepest and highest index first, so that
/// earlier paths stay valid.
fn order_ops(ops: Vec<Op>) -> Vec<Op> {
    let (mut removes, mut rest): (Vec<Op>, Vec<Op>) =
        ops.into_iter().partition(|o| matches!(o, Op::Remove(_)));
    // Drop edits under a path that is removed anyway.
    rest.retain(|o| !removes.iter().any(|r| o.path().starts_with(r.path())));
    removes.sort_by(|a, b| b.path().cmp(a.path()));
    removes.dedup();
    // A removal under another removal is redundant.
    let all = removes.clone();
    removes.retain(|r| !all.iter().any(|o| o != r && r.path().starts_with(o.path())));
    rest.extend(removes);
    rest
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

/// YAML text of a generated object, with the generated-by label and (for Helm 4 streams)
/// Helm's filename annotation.
fn generated_text(mut v: Value, helm4: bool) -> Result<String, Error> {
    let kind = v
        .key("kind")
        .and_then(Value::as_str)
        .unwrap_or("Object")
        .to_string();
    let name = v
        .ptr("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("unnamed")
        .to_string();
    if let Some(md) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        let labels = md
            .entry("labels")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Some(l) = labels.as_object_mut() {
            l.insert(GENERATED_LABEL.to_string(), Value::String("true".into()));
        }
        if helm4 {
            let ann = md
                .entry("annotations")
                .or_insert_with(|| Value::Object(Default::default()));
            if let Some(a) = ann.as_object_mut() {
                a.insert(
                    HELM4_FILENAME_ANNOTATION.to_string(),
                    Value::String(format!(
                        "chart-harden/generated/{}-{}.yaml",
                        kind.to_ascii_lowercase(),
                        name
                    )),
                );
            }
        }
    }
    let yaml = serde_saphyr::to_string(&v)
        .map_err(|e| Error::Config(format!("cannot serialize generated {kind}/{name}: {e}")))?;
    if helm4 {
        // Helm 4 prints its own `# Source:` line from the annotation (its input documents
        // carry no comment line): a second one would be printed twice.
        return Ok(format!("\n{yaml}"));
    }
    // Names come from the input (a guard object is named after its workload): never written
    // into the comment unescaped, so no name can end the line or start a document.
    Ok(format!(
        "\n# Source: chart-harden/generated/{}-{}.yaml\n{}",
        crate::names::comment_safe(&kind.to_ascii_lowercase()),
        crate::names::comment_safe(&name),
        yaml
    ))
}

/// Writes the stream: every document's marker and bytes, in order.
pub fn emit(stream: &Stream) -> Vec<u8> {
    Emitted::of(stream).to_bytes()
}

/// The output stream as pieces (markers and document texts), written in order without
/// joining them first: the binary writes them to stdout through a small buffer instead of
/// copying megabytes into fresh memory (a page fault per 4 KiB) at the end of a run.
#[derive(Debug, Default)]
pub struct Emitted {
    bom: bool,
    /// The stream's line break (a CRLF stream stays CRLF).
    nl: &'static str,
    /// (marker, text) of every document, in order.
    docs: Vec<(String, crate::document::Text)>,
}

impl Emitted {
    /// The pieces of `stream` (copied).
    fn of(stream: &Stream) -> Emitted {
        Emitted {
            bom: stream.bom,
            nl: if uses_crlf(stream) { "\r\n" } else { "\n" },
            docs: stream
                .docs
                .iter()
                .map(|d| (d.marker.clone(), d.text.clone()))
                .collect(),
        }
    }

    /// The pieces of `stream`, moved out of it (the documents are left without text).
    fn take(stream: &mut Stream) -> Emitted {
        Emitted {
            bom: stream.bom,
            nl: if uses_crlf(stream) { "\r\n" } else { "\n" },
            docs: stream
                .docs
                .iter_mut()
                .map(|d| (std::mem::take(&mut d.marker), std::mem::take(&mut d.text)))
                .collect(),
        }
    }

    /// Writes the stream: the BOM if the input had one, then every document after its
    /// marker, with a line break before a marker when the text before it did not end in one.
    pub fn write_to(&self, w: &mut impl std::io::Write) -> std::io::Result<()> {
        if self.bom {
            w.write_all("\u{feff}".as_bytes())?;
        }
        // The BOM is not a document: no line break is owed after it.
        let mut ends_in_newline = true;
        for (marker, text) in &self.docs {
            if !marker.is_empty() && !ends_in_newline {
                w.write_all(self.nl.as_bytes())?;
            }
            w.write_all(marker.as_bytes())?;
            w.write_all(text.as_bytes())?;
            let (marker, text): (&str, &str) = (marker, text);
            if let Some(last) = [marker, text].iter().rev().find_map(|s| s.bytes().last()) {
                ends_in_newline = last == b'\n';
            }
        }
        Ok(())
    }

    /// The stream as one buffer.
    pub fn to_bytes(&self) -> Vec<u8> {
        let size: usize = self.docs.iter().map(|(m, t)| m.len() + t.len() + 2).sum();
        let mut out = Vec::with_capacity(size + 3);
        // Writing to a Vec cannot fail.
        let _ = self.write_to(&mut out);
        out
    }
}

/// True when the stream's line ends are CRLF (judged by its first line end).
fn uses_crlf(stream: &Stream) -> bool {
    // Markers hold no line break: the first one is in some document's text.
    stream
        .docs
        .iter()
        .find_map(|d| {
            let t = d.text.as_bytes();
            t.iter()
                .position(|&b| b == b'\n')
                .map(|i| i > 0 && t[i - 1] == b'\r')
        })
        .unwrap_or(false)
}

/// Documents by index (helper for tests and reports).
pub fn doc_label(docs: &[Document], i: usize) -> String {
    docs.get(i).map(Document::label).unwrap_or_default()
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
        let old = path.lookup(&docs.get(*d)?.value)?;
        (!old.is_null() && !old.is_object() && !old.is_array() && old != new)
            .then(|| format!("{path} from {old} to {new}"))
    })
}

/// Why an unsafe fix of `meta` is withheld for the workload `r`, from the facts: a pod that
/// can never reach the restricted level (a node agent, a system component) gets no unsafe
/// pod-security fix, whose only purpose is restricted, and no default memory limit (its
/// memory follows the node's load). `podSecurity.hostAccessPods: restrict` applies them anyway.
fn withheld_for_workload(
    inv: &Inventory,
    index: &HashMap<&ResourceRef, usize>,
    meta: &rules::RuleMeta,
    r: &ResourceRef,
    cfg: &Config,
) -> Option<String> {
    if cfg.pod_security.host_access_pods || !(meta.group == "pod-security" || meta.code == "CH405")
    {
        return None;
    }
    let wi = *index.get(r)?;
    let why = inv.facts.workloads.get(wi)?.unrestrictable.as_ref()?;
    Some(format!(
        "withheld: {why}, so the pod can never reach the restricted level and this fix would only risk breaking it (set `podSecurity.hostAccessPods: restrict` to apply it)"
    ))
}

#[cfg(test)]
mod incremental_tests {
    use super::*;

    /// Per-object rules restricted to changed documents find, fix and report exactly what
    /// running every rule on every document does.
    #[test]
    fn incremental_steps_match_full_steps() {
        let shared = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
        let mut inputs: Vec<std::path::PathBuf> =
            vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("testdata/demo-chart.helm4-stream.yaml")];
        if let Ok(rd) = std::fs::read_dir(&shared) {
            let mut charts: Vec<_> = rd
                .flatten()
                .map(|e| e.path().join("rendered.yaml"))
                .collect();
            charts.sort();
            inputs.extend(charts.into_iter().filter(|p| p.exists()));
        }
        let images = BTreeMap::new();
        for profile in [
            crate::config::Profile::Staging,
            crate::config::Profile::Prod,
        ] {
            let mut cfg = Config::default();
            cfg.set_profile(profile);
            cfg.images.pin = false;
            for path in &inputs {
                let input = std::fs::read(path).unwrap();
                let run = |incremental| {
                    let stream = parse_stream(&input).unwrap();
                    harden_with(stream, None, &cfg, &images, incremental, false)
                        .unwrap()
                        .0
                };
                let (full, inc) = (run(false), run(true));
                // (compared without printing: a diff of whole streams helps nobody)
                assert!(
                    inc.output == full.output,
                    "output differs: {}",
                    path.display()
                );
                assert!(
                    inc.findings == full.findings,
                    "findings differ: {}",
                    path.display()
                );
                assert_eq!(inc.changes.len(), full.changes.len(), "{}", path.display());
            }
        }
    }
}

#[cfg(test)]
mod comment_tests {
    use super::*;

    /// Whatever a generated object is named, its `# Source:` comment stays one line: the
    /// name cannot end the comment and add YAML lines or a document.
    #[test]
    fn generated_source_comments_never_carry_input_lines() {
        let v = serde_json::json!({
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "web\n---\nkind: Injected\r\n# x"},
        });
        let text = generated_text(v, false).unwrap();
        let comment = text.lines().nth(1).unwrap();
        assert!(
            comment.starts_with("# Source: chart-harden/generated/"),
            "{text}"
        );
        assert!(
            comment.contains("web%0A---%0Akind: Injected%0D%0A# x"),
            "{text}"
        );
        assert!(
            !text.lines().any(|l| l == "---" || l == "kind: Injected"),
            "{text}"
        );
        assert_eq!(crate::yaml::split::split(&text).len(), 1, "{text}");
        let back = crate::yaml::view::parse(&text).unwrap();
        assert_eq!(back["metadata"]["name"], "web\n---\nkind: Injected\r\n# x");
        // Read back as input, such a name is refused (and the label names it escaped).
        let e = crate::document::parse_stream(text.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(e.contains("metadata.name"), "{e}");
        assert!(!e.contains('\n') && !e.contains('\r'), "{e}");
        // An ordinary name is written as it is.
        let v = serde_json::json!({
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "web-chart-harden"},
        });
        assert!(generated_text(v, false).unwrap().starts_with(
            "\n# Source: chart-harden/generated/poddisruptionbudget-web-chart-harden.yaml\n"
        ));
    }
}
