//! Applying a step's fixes: every edited document patched (byte-range edits, read back and
//! checked by [`crate::yaml::edit::patch`]), every generated object written and appended.

use std::collections::BTreeMap;

use crate::yaml::Value;

use super::fixer::Fixer;
use crate::document::{build_document_owned, build_document_with_value, Stream};
use crate::error::Error;
use crate::yaml::edit::{self, Op};

impl Fixer<'_> {
    /// Patches the documents `ops` edit and appends the `generated` objects to the stream.
    pub(super) fn apply(
        &mut self,
        stream: &mut Stream,
        ops: BTreeMap<usize, Vec<Op>>,
        generated: Vec<Result<String, String>>,
    ) -> Result<(), Error> {
        // Generated objects arrive as text, written by their rules ([`crate::rules::Generated`]):
        // texts, not views, live through the patches, the step's peak. They are read back
        // after the patches, so a patch error is reported before a generated one.
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
        // Generated documents are read back independently (on every core for a large
        // stream); the first error in stream order is reported.
        let first = stream.docs.len();
        let crlf = self.crlf;
        let texts: Vec<std::sync::Mutex<Option<Result<String, String>>>> = generated
            .into_iter()
            .map(|t| std::sync::Mutex::new(Some(t)))
            .collect();
        let built = crate::par::map(texts.len(), None, self.parallel, |k| {
            let mut text = texts[k]
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
                .unwrap_or_else(|| Ok(String::new()))
                .map_err(Error::Config)?;
            if crlf {
                // A CRLF stream stays CRLF everywhere, generated documents included.
                text = text.replace('\n', "\r\n");
            }
            build_document_owned(first + k, "---", text)
        });
        // Room for exactly these (doubling would leave up to a copy of the stream's documents
        // unused: 1,000 releases in one namespace, 0.9 MB at the peak).
        stream.docs.reserve_exact(built.len());
        for doc in built {
            let doc = doc?;
            if let Some(dirty) = &mut self.dirty {
                dirty.insert(doc.index);
            }
            stream.docs.push(doc);
        }
        Ok(())
    }
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

/// Sets and appends in order; removals last, deepest and highest index first, so that
/// earlier paths stay valid.
fn order_ops(ops: Vec<Op>) -> Vec<Op> {
    // Most steps remove nothing: their ops stay where they are (no copy of thousands of ops).
    if !ops.iter().any(|o| matches!(o, Op::Remove(_))) {
        return ops;
    }
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
