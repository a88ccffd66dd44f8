//! JSON printer (versioned schemas, `docs/report-schema.md`): the harden/diff report and the
//! `check` view.

use chart_harden_pss::{Level, Version};
use serde::Serialize;

use crate::finding::Finding;
use crate::pipeline::{DocChange, Outcome};

use super::check::{CheckReport, CheckSummary, CheckViolation, CHECK_SCHEMA_VERSION};
use super::{diff, summary, Summary, JSON_SCHEMA_VERSION};

#[derive(Serialize)]
struct JsonChange<'a> {
    doc: usize,
    label: &'a str,
    added: bool,
    diff: String,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    schema: &'static str,
    tool: &'static str,
    version: &'static str,
    summary: Summary,
    findings: &'a [Finding],
    changes: Vec<JsonChange<'a>>,
}

/// The JSON harden/diff report (schema [`JSON_SCHEMA_VERSION`]).
pub fn render(o: &Outcome) -> String {
    let r = JsonReport {
        schema: JSON_SCHEMA_VERSION,
        tool: "chart-harden",
        version: env!("CARGO_PKG_VERSION"),
        summary: summary(o),
        findings: &o.findings,
        changes: o
            .changes
            .iter()
            .map(|c: &DocChange| JsonChange {
                doc: c.doc,
                label: &c.label,
                added: c.added,
                diff: diff::unified(c),
            })
            .collect(),
    };
    let mut s = serde_json::to_string_pretty(&r).unwrap_or_default();
    s.push('\n');
    s
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

/// The JSON view of a `check` report (schema [`CHECK_SCHEMA_VERSION`]).
pub fn render_check(r: &CheckReport) -> String {
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
