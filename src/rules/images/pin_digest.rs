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
            // The field's own object (image fields are made from objects): not a search of
            // the document's objects per field, quadratic over a `kind: List`.
            let doc = &cx.docs[f.doc];
            if crate::rules::skipped_object(doc.object_value(f.resource.object()), &META) {
                continue;
            }
            let what = match &f.container {
                Some(c) => format!(
                    "container {c:?} image {}",
                    chart_harden_registry::shown(&f.reference)
                ),
                None => format!("image {}", chart_harden_registry::shown(&f.reference)),
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::inventory::images::ImageFacts;
    use crate::rules::testing::{config, harden_checked, RunOptions};

    /// In a `kind: List`, each item's own opt-out decides for its images: the opted-out item
    /// keeps its tag, the others are pinned (the object is the field's own, not found again
    /// by identity among the document's objects).
    #[test]
    fn each_list_item_opts_out_for_itself() {
        let deployment = |name: &str, skip: bool| {
            let annotations = if skip {
                r#"annotations: {chart-harden.io/skip: "CH201"}, "#
            } else {
                ""
            };
            format!(
                "- {{apiVersion: apps/v1, kind: Deployment, metadata: {{{annotations}name: {name}}}, spec: {{selector: {{matchLabels: {{app: {name}}}}}, template: {{metadata: {{labels: {{app: {name}}}}}, spec: {{containers: [{{name: c, image: \"reg.example/app:1\"}}]}}}}}}}}\n"
            )
        };
        let input = format!(
            "apiVersion: v1\nkind: List\nitems:\n{}{}{}",
            deployment("first", false),
            deployment("kept", true),
            deployment("last", false)
        );
        let digest = format!("sha256:{}", "a".repeat(64));
        let images = BTreeMap::from([(
            "reg.example/app:1".to_string(),
            ImageFacts {
                pinned: Some(format!("reg.example/app:1@{digest}")),
                digest: Some(digest.clone()),
                source: "lockfile".into(),
                ..ImageFacts::default()
            },
        )]);
        let mut cfg = config("CH201", &RunOptions::default(), std::path::Path::new("."));
        cfg.images.pin = true;
        let out = harden_checked("CH201 list", input.as_bytes(), &cfg, &images);
        let text = String::from_utf8(out.to_bytes()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 6, "{text}");
        assert!(
            lines[3].contains("name: first") && lines[3].contains(&digest),
            "{text}"
        );
        assert!(
            lines[4].contains("name: kept") && !lines[4].contains('@'),
            "{text}"
        );
        assert!(
            lines[5].contains("name: last") && lines[5].contains(&digest),
            "{text}"
        );
    }
}
