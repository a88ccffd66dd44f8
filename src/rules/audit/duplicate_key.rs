//! CH636 duplicate-key: a mapping repeats a key (Kubernetes reads the last value).

use crate::finding::{Applicability, Severity};
use crate::rules::{Context, Rule, RuleMeta, Sink};

pub(crate) static META: RuleMeta = RuleMeta {
    code: "CH636",
    name: "duplicate-key",
    group: "audit",
    summary: "A mapping in a document repeats a key; Kubernetes reads the last value and ignores the others.",
    why: "The API server's YAML reader keeps the last of repeated keys without a word, so a \
value the chart author wrote (often a label or an annotation set twice by two template \
helpers) silently does not apply, and other YAML readers may keep the first one instead. \
chart-harden reads the document as Kubernetes does and says which key repeats.",
    example: "metadata:\n  annotations:\n    prometheus.io/port: \"8080\"\n    prometheus.io/port: \"9090\"   # this one wins",
    fix: Applicability::ReportOnly,
    fix_also_safe: false,
    fix_notes: "Report only: which of the values was meant is the chart author's decision.",
    options: "none",
    severity: Severity::Warning,
    default_enabled: true,
};

/// CH636.
pub struct DuplicateKey;

impl Rule for DuplicateKey {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context<'_>, out: &mut Sink) {
        for d in cx.docs {
            let (Some(key), Some(o)) = (&d.duplicate_key, d.objects.first()) else {
                continue;
            };
            if crate::rules::skipped_object(cx.value(o), &META) {
                continue;
            }
            let whole = if d.objects.len() > 1 {
                format!("document {}", d.index + 1)
            } else {
                o.resource.display()
            };
            out.emit(
                &META,
                o,
                &o.base,
                format!(
                    "{whole} repeats the key {key} in one mapping: Kubernetes reads the last \
                     value and ignores the earlier one"
                ),
                None,
            );
        }
    }
}
