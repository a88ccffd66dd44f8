//! Markdown printer, for a pull-request comment: the harden/diff report and the `check` view.

use std::fmt::Write;

use crate::finding::{Finding, FixState};
use crate::pipeline::Outcome;

use super::check::{self, CheckReport};
use super::{diff, summary};

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// An inline code span of `s` (table-safe); an em dash for an empty value, never an empty
/// code span.
fn code(s: &str) -> String {
    if s.is_empty() {
        return "—".to_string();
    }
    let s = cell(s);
    if s.contains('`') {
        format!("`` {s} ``")
    } else {
        format!("`{s}`")
    }
}

/// Renders the Markdown report: the summary, then one table per resource (in the order the
/// findings name them), then the diff.
pub fn render(o: &Outcome) -> String {
    let s = summary(o);
    let mut out = String::from("## chart-harden report\n\n");
    let _ = write!(
        out,
        "**{}** document(s) changed, **{}** added · **{}** fixed (**{}** unsafe) · **{}** not fixed (fix available) · **{}** without automatic fix · **{}** note(s) that only explain",
        s.changed_documents, s.added_documents, s.fixed, s.unsafe_fixed, s.fix_skipped, s.unfixable - s.notes, s.notes
    );
    if s.unpinned_images > 0 {
        let _ = write!(
            out,
            " · **{}** image(s) stayed unpinned (digest not resolved): {}",
            s.unpinned_images,
            o.unpinned_images
                .iter()
                .map(|r| code(r))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    out.push_str("\n\n");
    // Group by resource, keeping the order of first mention.
    let mut groups: Vec<(&crate::finding::Resource, Vec<&crate::finding::Finding>)> = Vec::new();
    for f in &o.findings {
        match groups.iter_mut().find(|(r, _)| **r == f.resource) {
            Some((_, v)) => v.push(f),
            None => groups.push((&f.resource, vec![f])),
        }
    }
    for (r, findings) in groups {
        let name = r.label();
        let _ = write!(out, "### {}", code(&name));
        if let Some(src) = r.source.as_deref().filter(|s| !s.is_empty()) {
            let _ = write!(out, " ({})", code(src));
        }
        out.push_str("\n\n| Rule | Field | Finding | Fix |\n|---|---|---|---|\n");
        for f in findings {
            let state = match &f.fix {
                FixState::Applied { applicability } => {
                    format!("✅ fixed ({})", applicability.as_str())
                }
                FixState::Skipped { reason, .. } => format!("⚠️ {reason}"),
                FixState::Unfixable if super::is_note(f) => "ℹ️ note".to_string(),
                FixState::Unfixable => match &f.suggestion {
                    Some(s) => format!("❌ {s}"),
                    None => "❌ no automatic fix".to_string(),
                },
            };
            let _ = writeln!(
                out,
                "| {} {} | {} | {} | {} |",
                code(f.rule),
                f.rule_name,
                code(&f.path),
                cell(&f.message),
                cell(&state)
            );
        }
        out.push('\n');
    }
    if !o.changes.is_empty() {
        out.push_str("<details><summary>Diff</summary>\n\n```diff\n");
        for c in &o.changes {
            out.push_str(&diff::unified(c));
        }
        out.push_str("```\n\n</details>\n");
    }
    out
}

/// The Markdown view of a `check` report: the headline, a table of the violations with why
/// each remains, and a table of the findings not fixed.
pub fn render_check(r: &CheckReport) -> String {
    let mut out = format!("## chart-harden check\n\n{}\n\n", check::headline(r));
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
                cell(&check::explanation_text(v))
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
