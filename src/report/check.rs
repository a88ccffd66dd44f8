//! The `check` report model: the Pod Security violations that remain in the evaluated stream,
//! what explains each one, and every finding of the hardening run. `crate::check` evaluates
//! a stream into a [`CheckReport`]; the printers (`text`, `markdown`, `json`, `sarif`) print it
//! through [`super::render_check`].

use std::fmt::Write as _;

use chart_harden_pss::{Level, Version};
use serde::Serialize;

use crate::finding::{Finding, FixState, ResourceRef, Severity};

/// Version of the JSON check report schema (`docs/report-schema.md`).
pub const CHECK_SCHEMA_VERSION: &str = "chart-harden.check/v1";

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

/// Same object (document, kind, name and namespace; the source and API version aside).
pub(crate) fn same_resource(a: &ResourceRef, b: &ResourceRef) -> bool {
    a.doc == b.doc && a.kind == b.kind && a.name == b.name && a.namespace == b.namespace
}

// Wording shared by the text and Markdown printers of the check view.

/// The headline: level, version, stream and counts.
pub(super) fn headline(r: &CheckReport) -> String {
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

/// Why a violation remains, as one sentence list.
pub(super) fn explanation_text(v: &CheckViolation) -> String {
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

/// One finding of the "not fixed" list.
pub(super) fn finding_line(f: &Finding) -> String {
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
