//! A rule's metadata: its code, name, documentation and defaults. A leaf module: the rules
//! declare it ([`crate::rules`]), the configuration and the pipeline read it.

use crate::finding::{Applicability, Severity};

/// A rule's documentation and defaults. Rule docs (`docs/rules.md`) are generated from this.
#[derive(Debug)]
pub struct RuleMeta {
    /// Stable code, e.g. `CH101`. Never reused.
    pub code: &'static str,
    /// Kebab-case name.
    pub name: &'static str,
    /// Group (pod-security, images, network, availability, tenancy, secrets, rbac, audit).
    pub group: &'static str,
    /// One line: what it does.
    pub summary: &'static str,
    /// Why it matters.
    pub why: &'static str,
    /// Example: input that triggers it and what the fix writes.
    pub example: &'static str,
    /// The most its fixes may be (checked by the pipeline on every fix the rule emits):
    /// `Safe`, `Unsafe`, or `ReportOnly` (no fix).
    pub fix: Applicability,
    /// True when an `Unsafe` rule's fix is safe where the evidence says so (a known non-root
    /// UID, a value the chart left unset): the docs then say "safe or unsafe".
    pub fix_also_safe: bool,
    /// Fix safety explanation: when the fix could change behaviour.
    pub fix_notes: &'static str,
    /// Config options that affect the rule.
    pub options: &'static str,
    /// Severity of its findings.
    pub severity: Severity,
    /// On unless disabled (false: only when enabled in config).
    pub default_enabled: bool,
}
