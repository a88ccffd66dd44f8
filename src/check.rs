//! `chart-harden check`: is the hardened release Pod-Security compliant, and what is still
//! wrong that no rewrite can fix?
//!
//! The input is hardened exactly as the default mode would (same config, profile and image
//! resolution), then every object of the output (or of the input, with `--no-fix`) is
//! evaluated with the Pod Security Standards evaluator ([`chart_harden_pss`]). Each remaining
//! violation is cross-referenced with the findings that explain it: a rule that reported the
//! same field without an automatic fix (CH110 host access, CH106 on a node agent, …), a fix
//! that was not applied (unsafe and not enabled), or an exemption annotation.
//!
//! The report model and its printers live in [`crate::report`] ([`crate::report::check`],
//! [`crate::report::render_check`]). The report is the command's data, so it goes to **stdout** (and `--report-file`); nothing
//! else is written there. Exit codes: 0 clean at the level, 1 violations remain, 2 input or
//! usage error, 3 registry error.

use crate::yaml::Value;
use chart_harden_pss::{evaluate, Level, Version};

use crate::document::Stream;
use crate::exemptions::SKIP_ANNOTATION;
use crate::finding::{Finding, FixState, ResourceRef};
use crate::inventory::pod_template_path;
use crate::report::check::same_resource;
use crate::rules;
use crate::yaml::view::ValueExt;

/// The check report model (it lives with its printers in `report/`).
pub use crate::report::check::{
    rules_for_check, CheckReport, CheckSummary, CheckViolation, Explanation, CHECK_SCHEMA_VERSION,
};

/// What `check` evaluates.
#[derive(Debug, Clone, Copy)]
pub struct CheckOptions {
    /// Pod Security level.
    pub level: Level,
    /// Policy version.
    pub version: Version,
    /// Evaluate the input instead of the hardened output.
    pub no_fix: bool,
}

/// `…containers[2]` prefix of a path, when it is under a container.
fn container_prefix(p: &str) -> Option<&str> {
    let i = p.find("ontainers[")?;
    let close = p[i..].find(']')?;
    Some(&p[..i + close + 1])
}

fn related(violation: &str, finding: &str) -> bool {
    match (container_prefix(violation), container_prefix(finding)) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    }
}

/// How closely a finding's field matches a violation's: 2 same field (or one inside the
/// other), 1 same container or pod-level, 0 unrelated.
fn closeness(violation: &str, finding: &str) -> u8 {
    let nested = |a: &str, b: &str| {
        a == b || (a.starts_with(b) && matches!(a.as_bytes().get(b.len()), Some(b'.' | b'[')))
    };
    if nested(violation, finding) || nested(finding, violation) {
        2
    } else if related(violation, finding) {
        1
    } else {
        0
    }
}

/// Exemption annotations (own and other tools') on the object or its pod template that
/// cover `code`, as (annotation, description).
fn exemptions_for(obj: &Value, code: &str, name: &str) -> Vec<(String, String)> {
    let tpl = obj
        .key("kind")
        .and_then(Value::as_str)
        .and_then(pod_template_path)
        .and_then(|p| p.lookup(obj));
    let mut out = Vec::new();
    for v in [Some(obj), tpl].into_iter().flatten() {
        let Some(ann) = v.ptr("/metadata/annotations") else {
            continue;
        };
        if let Some(s) = ann.get(SKIP_ANNOTATION).and_then(Value::as_str) {
            if s.split(',')
                .map(str::trim)
                .any(|id| id == "all" || id.eq_ignore_ascii_case(code) || id == name)
            {
                out.push((
                    SKIP_ANNOTATION.to_string(),
                    format!("skipped by {SKIP_ANNOTATION}: {s}"),
                ));
            }
        }
        for e in crate::exemptions::from_annotations(ann) {
            if e.rules.contains(&code) {
                out.push((
                    e.annotation.clone(),
                    format!("{} exemption `{}`", e.tool, e.annotation),
                ));
            }
        }
    }
    out
}

fn explain(
    v: &chart_harden_pss::Violation,
    resource: &ResourceRef,
    obj: &Value,
    findings: &[Finding],
    no_fix: bool,
) -> Vec<Explanation> {
    let mut out = Vec::new();
    let candidates: Vec<&Finding> = findings
        .iter()
        .filter(|f| {
            rules_for_check(v.check).contains(&f.rule)
                && same_resource(&f.resource, resource)
                && closeness(&v.path, &f.path) > 0
                && (no_fix || !matches!(f.fix, FixState::Applied { .. }))
        })
        .collect();
    // Only the closest findings explain (the hostPath finding, not the hostNetwork one).
    let best = candidates
        .iter()
        .map(|f| closeness(&v.path, &f.path))
        .max()
        .unwrap_or(0);
    for code in rules_for_check(v.check) {
        for f in candidates
            .iter()
            .filter(|f| closeness(&v.path, &f.path) == best)
        {
            if f.rule != *code {
                continue;
            }
            let (kind, reason) = match &f.fix {
                FixState::Unfixable => (
                    "unfixable",
                    match &f.suggestion {
                        Some(s) => format!("no automatic fix: {}; {s}", f.message),
                        None => format!("no automatic fix: {}", f.message),
                    },
                ),
                FixState::Skipped { reason, .. } => (
                    "fix-skipped",
                    format!("fix not applied ({reason}): {}", f.message),
                ),
                FixState::Applied { .. } if no_fix => {
                    ("fixable", format!("fixed when hardening: {}", f.message))
                }
                FixState::Applied { .. } => continue,
            };
            let e = Explanation {
                rule: f.rule,
                rule_name: f.rule_name,
                path: f.path.to_string(),
                kind,
                reason,
            };
            if !out.contains(&e) {
                out.push(e);
            }
        }
        if let Some(meta) = rules::find(code) {
            for (annotation, why) in exemptions_for(obj, code, meta.name) {
                let e = Explanation {
                    rule: meta.code,
                    rule_name: meta.name,
                    path: format!("metadata.annotations['{annotation}']"),
                    kind: "exempted",
                    reason: why,
                };
                if !out.contains(&e) {
                    out.push(e);
                }
            }
        }
    }
    out
}

/// Evaluates every object of `stream` and cross-references the violations with `findings`.
pub fn evaluate_stream(stream: &Stream, findings: Vec<Finding>, opts: CheckOptions) -> CheckReport {
    let mut violations = Vec::new();
    let mut summary = CheckSummary::default();
    for d in &stream.docs {
        for o in &d.objects {
            let v = d.object_value(o);
            if pod_template_path(&o.resource.kind).is_none() {
                continue;
            }
            summary.evaluated += 1;
            // Violation paths are relative to the object; make them document paths like
            // finding paths (List items live under `items[i]`).
            let prefix = o.base.to_string();
            let found = evaluate(&v.to_json(), opts.level, opts.version);
            if !found.is_empty() {
                summary.failing += 1;
            }
            for mut pv in found {
                if !prefix.is_empty() {
                    pv.path = if pv.path.is_empty() {
                        prefix.clone()
                    } else {
                        format!("{prefix}.{}", pv.path)
                    };
                }
                let explained_by = explain(&pv, &o.resource, v, &findings, opts.no_fix);
                violations.push(CheckViolation {
                    resource: o.resource.clone(),
                    check: pv.check,
                    level: pv.level,
                    path: pv.path,
                    message: pv.message,
                    explained_by,
                });
            }
        }
    }
    summary.violations = violations.len();
    summary.explained = violations.iter().filter(|v| v.explained()).count();
    summary.fixable = violations
        .iter()
        .filter(|v| !v.explained() && !v.explained_by.is_empty())
        .count();
    summary.unexplained = summary.violations - summary.explained - summary.fixable;
    let mut r = CheckReport {
        level: opts.level,
        version: opts.version,
        evaluated: if opts.no_fix { "input" } else { "hardened" },
        violations,
        findings,
        summary,
    };
    r.summary.remaining_findings = r.remaining().count();
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_prefixes() {
        assert_eq!(
            container_prefix("spec.template.spec.containers[1].securityContext.runAsNonRoot"),
            Some("spec.template.spec.containers[1]")
        );
        assert_eq!(
            container_prefix("spec.template.spec.initContainers[0].image"),
            Some("spec.template.spec.initContainers[0]")
        );
        assert_eq!(container_prefix("spec.template.spec.hostNetwork"), None);
        assert!(related("a.containers[0].x", "a.containers[0].y"));
        assert!(!related("a.containers[0].x", "a.containers[1].x"));
        assert!(!related("a.containers[0].x", "a.initContainers[0].x"));
        assert!(related(
            "a.containers[0].x",
            "a.securityContext.runAsNonRoot"
        ));
    }
}
