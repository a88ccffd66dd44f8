//! Report stage: the one place that prints. Two views over one finding list — the harden/diff
//! report (an [`Outcome`]: findings and document changes) and the `check` report (a
//! [`CheckReport`]: the findings plus the Pod Security violations that remain) — each printed
//! as text, Markdown, JSON or SARIF by one printer module per format ([`text`], [`markdown`],
//! [`json`], [`sarif`]). [`render`]/[`render_for_cli`] print the first view,
//! [`render_check`] the second.

use serde::Serialize;

use crate::finding::{Finding, FixState, Severity};
use crate::pipeline::Outcome;

pub mod check;
pub mod diff;
pub mod json;
pub mod markdown;
pub mod sarif;
pub mod text;

pub use check::CheckReport;

/// Version of the JSON report schema (`docs/report-schema.md`).
pub const JSON_SCHEMA_VERSION: &str = "chart-harden.report/v1";

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Plain text for terminals.
    #[default]
    Text,
    /// Markdown for a pull-request comment.
    Markdown,
    /// JSON (versioned schema).
    Json,
    /// SARIF 2.1.0 (GitHub code scanning).
    Sarif,
}

impl Format {
    /// The format a report file's extension names: `.md`/`.markdown`, `.json`, `.sarif`
    /// (also `.sarif.json`), `.txt`/`.text`; `None` for any other extension.
    pub fn from_path(path: &std::path::Path) -> Option<Format> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        if name.ends_with(".sarif") || name.ends_with(".sarif.json") {
            return Some(Format::Sarif);
        }
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "md" | "markdown" => Some(Format::Markdown),
            "json" => Some(Format::Json),
            "txt" | "text" => Some(Format::Text),
            _ => None,
        }
    }
}

/// Counts for the summary line.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Summary {
    /// Documents changed.
    pub changed_documents: usize,
    /// Documents added.
    pub added_documents: usize,
    /// Findings whose fix was applied.
    pub fixed: usize,
    /// Of those, fixes that are unsafe (may stop a workload from starting: review them).
    pub unsafe_fixed: usize,
    /// Findings with a fix that was not applied.
    pub fix_skipped: usize,
    /// Findings nothing can fix.
    pub unfixable: usize,
    /// Of the findings without a fix, the notes: informational findings with no
    /// suggestion, which only explain (an inferred NetworkPolicy edge, why no object was
    /// generated); nothing is wrong and nothing is to be done.
    pub notes: usize,
    /// Images whose digest could not be resolved, left unpinned (`--on-resolve-error warn`).
    pub unpinned_images: usize,
}

/// True for a note: an informational finding without a fix or a suggestion ([`Summary::notes`]).
pub fn is_note(f: &Finding) -> bool {
    f.severity == Severity::Info && f.fix == FixState::Unfixable && f.suggestion.is_none()
}

/// Computes the summary of an outcome.
pub fn summary(o: &Outcome) -> Summary {
    let mut s = Summary {
        changed_documents: o.changes.iter().filter(|c| !c.added).count(),
        added_documents: o.changes.iter().filter(|c| c.added).count(),
        unpinned_images: o.unpinned_images.len(),
        ..Summary::default()
    };
    for f in &o.findings {
        match f.fix {
            FixState::Applied { applicability } => {
                s.fixed += 1;
                if applicability == crate::finding::Applicability::Unsafe {
                    s.unsafe_fixed += 1;
                }
            }
            FixState::Skipped { .. } => s.fix_skipped += 1,
            FixState::Unfixable => {
                s.unfixable += 1;
                if is_note(f) {
                    s.notes += 1;
                }
            }
        }
    }
    s
}

/// Findings that remain in the output (not fixed), at warning or above.
pub fn remaining(o: &Outcome) -> impl Iterator<Item = &Finding> {
    o.findings
        .iter()
        .filter(|f| !matches!(f.fix, FixState::Applied { .. }) && f.severity >= Severity::Warning)
}

/// Renders the report in a format.
pub fn render(o: &Outcome, format: Format, color: bool) -> String {
    render_with_input(o, format, color, None)
}

/// [`render`], knowing the input stream: SARIF results then carry regions (the line and
/// column of each finding's field in that stream, [`sarif::render_with_input`]).
pub fn render_with_input(
    o: &Outcome,
    format: Format,
    color: bool,
    input: Option<sarif::Input<'_>>,
) -> String {
    match format {
        Format::Text => text::render(o, color),
        Format::Markdown => markdown::render(o),
        Format::Sarif => sarif::render_with_input(o, input),
        Format::Json => json::render(o),
    }
}

/// The report as the command line writes it: like [`render_with_input`], with text
/// findings wrapped at [`text::WRAP_COLUMNS`] columns for people reading a terminal or a
/// report file, and summary lines on the unsafe fixes applied and the notes.
pub fn render_for_cli(
    o: &Outcome,
    format: Format,
    color: bool,
    input: Option<sarif::Input<'_>>,
) -> String {
    match format {
        Format::Text => {
            let mut out = text::render_wrapped(o, color, Some(text::WRAP_COLUMNS));
            let s = summary(o);
            if s.unsafe_fixed > 0 {
                out.push_str(&format!(
                    "chart-harden: {} of the {} applied fixes are unsafe (they may stop a workload \
                     from starting): review them\n",
                    s.unsafe_fixed, s.fixed
                ));
            }
            if s.notes > 0 {
                out.push_str(&format!(
                    "chart-harden: {} of the {} findings without automatic fix are notes that only \
                     explain (nothing to fix)\n",
                    s.notes, s.unfixable
                ));
            }
            out
        }
        _ => render_with_input(o, format, color, input),
    }
}

/// Prints a `check` report in a format. With `input` (the input stream's text and URI), SARIF
/// results carry regions ([`sarif::render_check_with_input`]); the other formats ignore it.
pub fn render_check(r: &CheckReport, format: Format, input: Option<sarif::Input<'_>>) -> String {
    match format {
        Format::Text => text::render_check(r),
        Format::Markdown => markdown::render_check(r),
        Format::Json => json::render_check(r),
        Format::Sarif => sarif::render_check_with_input(r, input),
    }
}
