//! CH530 exempted-by-annotation.

use crate::yaml::Value;

use crate::exemptions::SKIP_ANNOTATION;
use crate::finding::{Applicability, Severity};
use crate::inventory::pod_template_path;
use crate::rules::{Context, Rule, RuleMeta, Sink};
use crate::yaml::view::ValueExt;

pub(crate) static META: RuleMeta = RuleMeta {
    code: "CH530",
    name: "exempted-by-annotation",
    group: "audit",
    summary: "Report every exemption annotation (chart-harden's own, Polaris, kube-linter, checkov) and the rules it turns off for the resource.",
    why: "An exemption is a decision someone made; the report says which annotation skipped \
which fix, so a skipped fix is never a silent one.",
    example: "metadata:\n  annotations:\n    polaris.fairwinds.com/runAsRootAllowed-exempt: \"true\"   # reported: skips CH101, CH102",
    fix: Applicability::ReportOnly,
    fix_also_safe: false,
    fix_notes: "Report-only (Info): it only explains.",
    options: "none",
    severity: Severity::Info,
    default_enabled: true,
};

/// CH530.
pub struct ExemptedByAnnotation;

impl Rule for ExemptedByAnnotation {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context<'_>, out: &mut Sink) {
        for d in cx.docs {
            for o in &d.objects {
                let v = d.object_value(o);
                let mut places = vec![(o.base.clone(), v)];
                if let Some(tp) = pod_template_path(&o.resource.kind) {
                    if let Some(t) = tp.lookup(v).filter(|t| !tp.0.is_empty() && t.is_object()) {
                        places.push((o.base.join(&tp), t));
                    }
                }
                for (base, holder) in places {
                    let Some(ann) = holder.ptr("/metadata/annotations") else {
                        continue;
                    };
                    let at = |k: &str| base.key("metadata").key("annotations").key(k);
                    if let Some(s) = ann.get(SKIP_ANNOTATION).and_then(Value::as_str) {
                        out.emit(
                            &META,
                            o,
                            &at(SKIP_ANNOTATION),
                            format!(
                                "chart-harden rules skipped here by annotation: {}",
                                s.trim()
                            ),
                            None,
                        );
                    }
                    for e in crate::exemptions::from_annotations(ann) {
                        let what = if e.check == "*" {
                            format!("every {} check", e.tool)
                        } else {
                            format!("{} check {}", e.tool, e.check)
                        };
                        out.emit(
                            &META,
                            o,
                            &at(&e.annotation),
                            format!(
                                "{what} is exempted here; chart-harden skips the equivalent rule(s) {}",
                                e.rules.join(", ")
                            ),
                            None,
                        );
                    }
                }
            }
        }
    }
}
