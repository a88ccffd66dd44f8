//! CH201 pin-image-digest.

use serde_json::json;

use crate::finding::{Applicability, Severity};
use crate::inventory::images::image_fields;
use crate::rules::{Context, Fix, Rule, RuleMeta, Sink};
use crate::yaml::edit::Op;

pub(crate) static META: RuleMeta = RuleMeta {
    code: "CH201",
    name: "pin-image-digest",
    group: "images",
    summary: "Pin every image tag to the digest the registry serves for it (`repo:tag@sha256:…`).",
    why: "Tags are mutable: whoever can push to the repository can change what `:1.25` runs, and \
two nodes can run different bytes under one tag. A digest names exactly one manifest \
(floe-platform gap #6). The tag is kept in front of the digest for humans.",
    example: "image: nginx:1.25                 # before\nimage: nginx:1.25@sha256:6a59…    # after",
    fix: Applicability::Safe,
    fix_also_safe: false,
    fix_notes: "Safe: the digest is the one the tag points to now, verified by hashing the manifest \
bytes, and for multi-arch images it is the index digest, so every platform keeps its image. \
With a lockfile the digest is the locked one and no request is made.",
    options: "images.pin, images.extraPaths, images.insecureRegistries, images.timeoutSeconds, images.deadlineSeconds, --lockfile, --offline, --on-resolve-error",
    severity: Severity::Warning,
    default_enabled: true,
};

/// CH201.
pub struct PinDigest;

impl Rule for PinDigest {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context<'_>, out: &mut Sink) {
        for f in image_fields(cx.docs, cx.inv, cx.cfg) {
            if f.reference.contains('@') {
                continue;
            }
            let doc = &cx.docs[f.doc];
            let skip = doc
                .objects
                .iter()
                .find(|o| o.resource == *f.resource)
                .is_some_and(|o| crate::rules::skipped_object(doc.object_value(o), &META));
            if skip {
                continue;
            }
            let what = match &f.container {
                Some(c) => format!("container {c:?} image {:?}", f.reference),
                None => format!("image {:?}", f.reference),
            };
            let facts = cx.image(&f.reference);
            match facts {
                Some(facts) if facts.pinned.is_some() => {
                    let pinned = facts.pinned.clone().unwrap_or_default();
                    let digest = facts.digest.clone().unwrap_or_default();
                    let new = match &f.split_tag {
                        Some(tag) => format!("{tag}@{digest}"),
                        None => pinned.clone(),
                    };
                    out.emit(
                        &META,
                        &f.resource,
                        &f.path,
                        format!(
                            "{what} is a mutable tag; pinned to {digest} (from {})",
                            facts.source
                        ),
                        Some(Fix::edits(
                            Applicability::Safe,
                            f.doc,
                            vec![Op::Set(f.path.clone(), json!(new))],
                        )),
                    );
                }
                Some(facts) if facts.error.is_some() => {
                    let e = out.emit(
                        &META,
                        &f.resource,
                        &f.path,
                        format!(
                            "{what} is a mutable tag and could not be resolved: {}",
                            facts.error.clone().unwrap_or_default()
                        ),
                        None,
                    );
                    e.finding.suggestion =
                        Some("fix registry access or pin the digest in the chart's values".into());
                }
                _ => {
                    let e = out.emit(
                        &META,
                        &f.resource,
                        &f.path,
                        format!("{what} is a mutable tag, not pinned to a digest (pinning is off)"),
                        None,
                    );
                    e.finding.suggestion =
                        Some("run with digest pinning (the default) or a lockfile".into());
                }
            }
        }
    }
}
