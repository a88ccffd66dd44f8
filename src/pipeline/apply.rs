//! Applying a step's fixes: every edited document patched (byte-range edits, read back and
//! checked by [`crate::yaml::edit::patch`]), every generated object written and appended.

use std::collections::BTreeMap;

use crate::yaml::{Map, Value};

use super::fixer::Fixer;
use crate::document::{
    build_document_owned, build_document_with_value, Stream, HELM4_FILENAME_ANNOTATION,
};
use crate::error::Error;
use crate::inventory::GENERATED_LABEL;
use crate::yaml::edit::{self, Op};

impl Fixer<'_> {
    /// Patches the documents `ops` edit and appends the `generated` objects to the stream.
    pub(super) fn apply(
        &mut self,
        stream: &mut Stream,
        ops: BTreeMap<usize, Vec<Op>>,
        generated: Vec<Value>,
    ) -> Result<(), Error> {
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

/// YAML text of a generated object, with the generated-by label and (for Helm 4 streams)
/// Helm's filename annotation.
fn generated_text(mut v: Value, helm4: bool) -> Result<String, Error> {
    let kind = v
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("Object")
        .to_string();
    let name = v
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("unnamed")
        .to_string();
    if let Some(md) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        if !md.contains_key("labels") {
            md.insert("labels", Value::Object(Map::new()));
        }
        if let Some(l) = md.get_mut("labels").and_then(Value::as_object_mut) {
            l.insert(GENERATED_LABEL, Value::String("true".into()));
        }
        if helm4 {
            if !md.contains_key("annotations") {
                md.insert("annotations", Value::Object(Map::new()));
            }
            if let Some(a) = md.get_mut("annotations").and_then(Value::as_object_mut) {
                a.insert(
                    HELM4_FILENAME_ANNOTATION,
                    Value::from(format!(
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

#[cfg(test)]
mod comment_tests {
    use super::*;

    /// Whatever a generated object is named, its `# Source:` comment stays one line: the
    /// name cannot end the comment and add YAML lines or a document.
    #[test]
    fn generated_source_comments_never_carry_input_lines() {
        let v = view!({
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
        let v = view!({
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "web-chart-harden"},
        });
        assert!(generated_text(v, false).unwrap().starts_with(
            "\n# Source: chart-harden/generated/poddisruptionbudget-web-chart-harden.yaml\n"
        ));
    }
}
