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
//! The report is the command's data, so it goes to **stdout** (and `--report-file`); nothing
//! else is written there. Exit codes: 0 clean at the level, 1 violations remain, 2 input or
//! usage error, 3 registry error.

use std::fmt::Write as _;

use chart_harden_pss::{evaluate, Level, Version};
use serde::Serialize;
use serde_json::Value;

use crate::config::SKIP_ANNOTATION;
use crate::document::Stream;
use crate::finding::{Finding, FixState, ResourceRef, Severity};
use crate::inventory::pod_template_path;
use crate::report::Format;
use crate::rules;
use crate::yaml::view::ValueExt;

/// Version of the JSON check report schema (`docs/report-schema.md`).
pub const CHECK_SCHEMA_VERSION: &str = "chart-harden.check/v1";

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

/// Rules whose findings can explain a failed Pod Security check.
pub fn rules_for_check(check: &str) -> &'static [&'static str] {
    match check {
        "hostNamespaces" | "hostPathVolumes" | "hostPorts" | "restrictedVolumes" => &["CH110"],
        // No fix touches AppArmor; host access (a node agent) is why it stays.
        "appArmorProfile" => &["CH110", "CH106"],
        "privileged" => &["CH106"],
        "capabilities_baseline" => &["CH104", "CH106"],
        // CH104 leaves privileged containers alone: CH106 explains them.
        "capabilities_restricted" => &["CH104", "CH106"],
        "seccompProfile_baseline" | "seccompProfile_restricted" => &["CH105"],
        "allowPrivilegeEscalation" => &["CH103", "CH106"],
        "runAsNonRoot" => &["CH101", "CH102"],
        "runAsUser" => &["CH102", "CH101"],
        _ => &[],
    }
}

/// Why a violation remains.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explanation {
    /// Rule code.
    pub rule: &'static str,
    /// Rule name.
    pub rule_name: &'static str,
    /// Field path of the explaining finding (or the annotation).
    pub path: String,
    /// `unfixable`, `fix-skipped`, `exempted` or `fixable` (only with `--no-fix`).
    pub kind: &'static str,
    /// One sentence.
    pub reason: String,
}

/// One failed Pod Security check at one field of one resource.
#[derive(Debug, Clone, Serialize)]
pub struct CheckViolation {
    /// The resource.
    pub resource: ResourceRef,
    /// Upstream check id (`runAsNonRoot`).
    pub check: &'static str,
    /// Level whose check failed.
    pub level: Level,
    /// Field path.
    pub path: String,
    /// Upstream-style message.
    pub message: String,
    /// Findings that explain why it remains (empty: nothing explains it).
    pub explained_by: Vec<Explanation>,
}

impl CheckViolation {
    /// True when a finding explains it as unfixable (no fix, fix not applied, or exempted).
    pub fn explained(&self) -> bool {
        self.explained_by.iter().any(|e| e.kind != "fixable")
    }
}

/// Counts.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct CheckSummary {
    /// Objects with a pod template that were evaluated.
    pub evaluated: usize,
    /// Of those, objects with at least one violation.
    pub failing: usize,
    /// Violations.
    pub violations: usize,
    /// Violations a finding explains (unfixable, fix not applied, exempted).
    pub explained: usize,
    /// Violations that hardening fixes (only with `--no-fix`, where the input is evaluated).
    pub fixable: usize,
    /// Violations nothing explains (neither unfixable nor fixable).
    pub unexplained: usize,
    /// Other findings that remain (not fixed), warning or above.
    pub remaining_findings: usize,
}

/// The result of `check`.
#[derive(Debug, Clone)]
pub struct CheckReport {
    /// Level.
    pub level: Level,
    /// Policy version.
    pub version: Version,
    /// `hardened` or `input` (`--no-fix`).
    pub evaluated: &'static str,
    /// Violations, in stream order.
    pub violations: Vec<CheckViolation>,
    /// Every finding of the hardening run (fix states as in that run).
    pub findings: Vec<Finding>,
    /// Counts.
    pub summary: CheckSummary,
}

impl CheckReport {
    /// Exit status: 1 when violations remain, else 0.
    pub fn exit_code(&self) -> u8 {
        u8::from(!self.violations.is_empty())
    }

    /// Exemption annotations found (CH530 findings).
    pub fn exemptions(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.rule == "CH530")
    }

    /// Findings that remain in the evaluated stream (not applied), warning or above.
    pub fn remaining(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| {
            f.severity >= Severity::Warning && !matches!(f.fix, FixState::Applied { .. })
        })
    }
}

fn same_resource(a: &ResourceRef, b: &ResourceRef) -> bool {
    a.doc == b.doc && a.kind == b.kind && a.name == b.name && a.namespace == b.namespace
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
                path: f.path.clone(),
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
            let found = evaluate(v, opts.level, opts.version);
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

/// Renders the check report.
pub fn render(r: &CheckReport, format: Format) -> String {
    render_with_input(r, format, None)
}

/// [`render`], knowing the input stream: SARIF results then carry regions
/// ([`crate::report::sarif::render_check_with_input`]).
pub fn render_with_input(
    r: &CheckReport,
    format: Format,
    input: Option<crate::report::sarif::Input<'_>>,
) -> String {
    match format {
        Format::Text => render_text(r),
        Format::Markdown => render_markdown(r),
        Format::Json => render_json(r),
        Format::Sarif => crate::report::sarif::render_check_with_input(r, input),
    }
}

fn headline(r: &CheckReport) -> String {
    let s = &r.summary;
    if r.violations.is_empty() {
        format!(
            "{} ({}) on the {} stream: {} pod template(s) evaluated, all pass",
            r.level, r.version, r.evaluated, s.evaluated
        )
    } else {
        format!(
            "{} ({}) on the {} stream: {} violation(s) in {} of {} pod template(s); {} explained by a finding{}, {} unexplained",
            r.level,
            r.version,
            r.evaluated,
            s.violations,
            s.failing,
            s.evaluated,
            s.explained,
            if r.evaluated == "input" {
                format!(", {} fixed by hardening", s.fixable)
            } else {
                String::new()
            },
            s.unexplained
        )
    }
}

fn explanation_text(v: &CheckViolation) -> String {
    if v.explained_by.is_empty() {
        return "not explained by any finding".to_string();
    }
    v.explained_by
        .iter()
        .map(|e| {
            let verb = if e.kind == "fixable" {
                "fixable by"
            } else {
                "explained by"
            };
            format!("{verb} {} {} ({})", e.rule, e.rule_name, e.reason)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn finding_line(f: &Finding) -> String {
    let state = match &f.fix {
        FixState::Applied { applicability } => format!("fixed ({})", applicability.as_str()),
        FixState::Skipped { reason, .. } => format!("not fixed: {reason}"),
        FixState::Unfixable => "no automatic fix".to_string(),
    };
    let mut s = format!(
        "{} {} {}: {}: {} — {state}",
        f.rule,
        f.rule_name,
        f.resource.display(),
        f.path,
        f.message
    );
    if let Some(sug) = &f.suggestion {
        let _ = write!(s, " — suggestion: {sug}");
    }
    s
}

fn render_text(r: &CheckReport) -> String {
    let mut out = format!("chart-harden check: {}\n", headline(r));
    let mut last: Option<&ResourceRef> = None;
    for v in &r.violations {
        if last.is_none_or(|l| !same_resource(l, &v.resource)) {
            let src = v
                .resource
                .source
                .as_deref()
                .map(|s| format!(" [{s}]"))
                .unwrap_or_default();
            let _ = writeln!(out, "\n{}{src}", v.resource.display());
            last = Some(&v.resource);
        }
        let _ = writeln!(
            out,
            "  {}: {} ({} {}) — {}",
            v.path,
            v.message,
            v.level,
            v.check,
            explanation_text(v)
        );
    }
    let remaining: Vec<&Finding> = r.remaining().collect();
    if !remaining.is_empty() {
        let _ = writeln!(out, "\nFindings not fixed ({}):", remaining.len());
        for f in remaining {
            let _ = writeln!(out, "  {}", finding_line(f));
        }
    }
    let exemptions: Vec<&Finding> = r.exemptions().collect();
    if !exemptions.is_empty() {
        let _ = writeln!(out, "\nExemptions honoured ({}):", exemptions.len());
        for f in exemptions {
            let _ = writeln!(out, "  {}: {}: {}", f.resource.display(), f.path, f.message);
        }
    }
    out
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn render_markdown(r: &CheckReport) -> String {
    let mut out = format!("## chart-harden check\n\n{}\n\n", headline(r));
    if !r.violations.is_empty() {
        out.push_str(
            "| Resource | Field | Check | Violation | Why it remains |\n|---|---|---|---|---|\n",
        );
        for v in &r.violations {
            let _ = writeln!(
                out,
                "| `{}` | `{}` | {} `{}` | {} | {} |",
                cell(&v.resource.display()),
                cell(&v.path),
                v.level,
                v.check,
                cell(&v.message),
                cell(&explanation_text(v))
            );
        }
        out.push('\n');
    }
    let remaining: Vec<&Finding> = r.remaining().collect();
    if !remaining.is_empty() {
        out.push_str("### Findings not fixed\n\n| Rule | Resource | Field | Finding | Suggestion |\n|---|---|---|---|---|\n");
        for f in remaining {
            let _ = writeln!(
                out,
                "| `{}` {} | `{}` | `{}` | {} | {} |",
                f.rule,
                f.rule_name,
                cell(&f.resource.display()),
                cell(&f.path),
                cell(&f.message),
                cell(f.suggestion.as_deref().unwrap_or(""))
            );
        }
        out.push('\n');
    }
    out
}

#[derive(Serialize)]
struct JsonCheck<'a> {
    schema: &'static str,
    tool: &'static str,
    version: &'static str,
    level: Level,
    pss_version: Version,
    evaluated: &'static str,
    summary: &'a CheckSummary,
    violations: &'a [CheckViolation],
    findings: &'a [Finding],
}

fn render_json(r: &CheckReport) -> String {
    let j = JsonCheck {
        schema: CHECK_SCHEMA_VERSION,
        tool: "chart-harden",
        version: env!("CARGO_PKG_VERSION"),
        level: r.level,
        pss_version: r.version,
        evaluated: r.evaluated,
        summary: &r.summary,
        violations: &r.violations,
        findings: &r.findings,
    };
    let mut s = serde_json::to_string_pretty(&j).unwrap_or_default();
    s.push('\n');
    s
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
