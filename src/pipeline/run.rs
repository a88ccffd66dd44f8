//! The front door: one call from the input bytes to the [`Outcome`].

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::fixer::Fixer;
use super::DocChange;
use super::Outcome;
use crate::config::{Config, Settings};
use crate::document::{Document, Stream, Text};
use crate::error::Error;
use crate::inventory::images::{image_fields, ImageFacts};
use crate::inventory::Inventory;
use crate::resolve::DigestSource;
use crate::rules::{self, Rule};

const MAX_ITERATIONS: usize = 6;

/// Hardens a rendered stream: read → split → parse → inventory → rules → resolve digests →
/// apply → emit, the rules running again on their own output until it converges.
///
/// `input` is the whole stream (the documents keep their bytes in it: an untouched document
/// is written out from there); `settings` is the effective configuration (profile, rules,
/// options and where digests come from); `digests` turns the image references pinning needs
/// into facts ([`crate::resolve::RegistryDigests`] asks the registries, with the lockfile and
/// the cache; [`crate::resolve::NoPinning`] asks nobody). The [`Outcome`] keeps the hardened
/// stream, parsed, and every finding; [`Outcome::write_to`] writes the stream out.
pub fn run(
    input: Vec<u8>,
    settings: &Settings,
    digests: &dyn DigestSource,
) -> Result<Outcome, Error> {
    let prepared = prepare(input, settings)?;
    let facts = digests.resolve(&prepared.refs, settings)?;
    harden(
        prepared.stream,
        Some(prepared.inventory),
        settings,
        &facts,
        true,
    )
}

/// A parsed input, ready to harden once its images are resolved.
struct Prepared {
    /// The parsed stream.
    stream: Stream,
    /// Every image reference that pinning would resolve.
    refs: Vec<String>,
    /// The stream's inventory (the fix loop's first step starts from it).
    inventory: Inventory,
}

/// Parses the input (its buffer: the documents keep their bytes in it) and collects every
/// image reference that pinning would resolve.
fn prepare(input: Vec<u8>, cfg: &Config) -> Result<Prepared, Error> {
    let stream = crate::document::parse_stream_owned(input)?;
    let inventory = Inventory::build(&stream.docs, cfg.namespace.as_deref());
    let mut refs: BTreeSet<String> = BTreeSet::new();
    let pin_on = cfg.images.pin && !cfg.disabled.contains("CH201");
    // A reference that carries a digest needs no lookup to stay pinned, but its config says
    // which user it starts as: the evidence CH101's unsafe fix rests on. It is looked up only
    // where that fix may apply (prod, --unsafe-fixes), so no other run reaches a registry
    // for it.
    let read_pinned = crate::rules::find("CH101").is_some_and(|m| {
        cfg.rule_enabled(m)
            && cfg
                .fix_allowed(m, crate::finding::Applicability::Unsafe)
                .is_ok()
    });
    if pin_on {
        for f in image_fields(&stream.docs, &inventory, cfg) {
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
                            "image {} has a malformed digest {} (expected sha256: and 64 lowercase hex digits)",
                            chart_harden_registry::shown(&f.reference),
                            chart_harden_registry::shown(digest)
                        ),
                    });
                }
                Some(_) if read_pinned => {
                    refs.insert(f.reference);
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

/// The label of document `i` (empty when there is none).
fn doc_label(docs: &[Document], i: usize) -> String {
    docs.get(i).map(Document::label).unwrap_or_default()
}

/// The fix loop. With `incremental`, per-object rules look only at the documents changed
/// since they last ran ([`Rule::per_object`]); without, every rule sees every document in
/// every step (the tests compare both).
pub(super) fn harden(
    mut stream: Stream,
    inventory: Option<Inventory>,
    cfg: &Config,
    images: &BTreeMap<String, ImageFacts>,
    incremental: bool,
) -> Result<Outcome, Error> {
    let original_count = stream.docs.len();
    let large =
        stream.docs.iter().map(|d| d.text.len()).sum::<usize>() >= crate::par::PARALLEL_BYTES;
    let crlf = super::emit::uses_crlf(&stream);
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
        return Err(Error::Internal(format!(
            "fixes did not converge after {MAX_ITERATIONS} passes (a rule keeps changing its own output; please report this)"
        )));
    }
    let mut changes = Vec::new();
    for d in &stream.docs {
        if d.index < original_count {
            if let Some(before) = fixer.before.remove(&d.index).filter(|b| *b != d.text) {
                // Diff context must not show a Secret's values (a List holding a Secret and a
                // changed workload).
                let secrets = crate::report::diff::secret_values(&*d.full_value()?);
                let redact = |t: Text| {
                    if secrets.is_empty() {
                        t
                    } else {
                        Text::from(crate::report::diff::redact_secret_values(&t, &secrets))
                    }
                };
                changes.push(DocChange {
                    doc: d.index,
                    label: d.label(),
                    before: redact(before),
                    after: redact(d.text.clone()),
                    added: false,
                });
            }
        } else {
            changes.push(DocChange {
                doc: d.index,
                label: d.label(),
                before: Text::default(),
                after: d.text.clone(),
                added: true,
            });
        }
    }
    Ok(Outcome {
        stream,
        findings: fixer.findings,
        changes,
        unpinned_images: images
            .iter()
            .filter(|(_, f)| f.error.is_some())
            .map(|(r, _)| r.clone())
            .collect(),
    })
}

#[cfg(test)]
mod incremental_tests {
    use super::*;
    use crate::document::parse_stream;

    /// Per-object rules restricted to changed documents find, fix and report exactly what
    /// running every rule on every document does.
    #[test]
    fn incremental_steps_match_full_steps() {
        let mut inputs: Vec<std::path::PathBuf> =
            vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("testdata/demo-chart.helm4-stream.yaml")];
        inputs.extend(crate::test_inputs::corpus_charts());
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
                    harden(stream, None, &cfg, &images, incremental).unwrap()
                };
                let (full, inc) = (run(false), run(true));
                // (compared without printing: a diff of whole streams helps nobody)
                assert!(
                    inc.to_bytes() == full.to_bytes(),
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
mod outcome_tests {
    use crate::document::parse_stream;
    use crate::resolve::NoPinning;

    /// Every YAML input of the tests and the corpus.
    fn inputs() -> Vec<std::path::PathBuf> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut out = Vec::new();
        let mut dirs = vec![root.join("testdata"), root.join("tests")];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.extension().is_some_and(|x| x == "yaml") {
                    out.push(p);
                }
            }
        }
        out.extend(crate::test_inputs::corpus_charts());
        out.sort();
        out
    }

    /// The outcome's stream is what reading its output again gives (what `check`,
    /// `export flux` and `krm` read): the same documents, objects and values, keys in the
    /// same order.
    #[test]
    fn the_outcome_stream_reads_like_the_output() {
        let (mut hardened, mut compared) = (0, 0);
        for profile in [
            crate::config::Profile::Staging,
            crate::config::Profile::Prod,
        ] {
            let mut cfg = crate::config::Config::default();
            cfg.set_profile(profile);
            cfg.images.pin = false;
            for path in inputs() {
                let input = std::fs::read(&path).unwrap();
                // Inputs that are errors by design are not this test's business.
                let Ok(out) = crate::run(input, &cfg, &NoPinning) else {
                    continue;
                };
                hardened += 1;
                let again = parse_stream(&out.to_bytes()).unwrap();
                let at = path.display();
                assert_eq!(out.stream.bom, again.bom, "{at}");
                assert_eq!(out.stream.docs.len(), again.docs.len(), "{at}");
                for (a, b) in out.stream.docs.iter().zip(&again.docs) {
                    let whole = |d: &crate::document::Document| {
                        serde_json::to_string(&*d.full_value().unwrap()).unwrap()
                    };
                    assert_eq!(a.index, b.index, "{at}");
                    assert_eq!(a.label(), b.label(), "{at}");
                    assert_eq!(whole(a), whole(b), "{at}: {}", a.label());
                    let objects = |d: &crate::document::Document| {
                        d.objects
                            .iter()
                            .map(|o| (o.base.to_string(), o.resource.clone()))
                            .collect::<Vec<_>>()
                    };
                    assert_eq!(objects(a), objects(b), "{at}: {}", a.label());
                    if a.partial == b.partial {
                        for (oa, ob) in a.objects.iter().zip(&b.objects) {
                            assert_eq!(a.object_value(oa), b.object_value(ob), "{at}");
                        }
                    }
                    compared += 1;
                }
            }
        }
        assert!(hardened > 20 && compared > 100, "{hardened} {compared}");
    }
}
