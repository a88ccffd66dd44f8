//! Markdown report, for a pull-request comment.

use std::fmt::Write;

use crate::finding::FixState;
use crate::pipeline::Outcome;

use super::{diff, summary};

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// Renders the Markdown report.
pub fn render(o: &Outcome) -> String {
    let s = summary(o);
    let mut out = String::from("## chart-harden report\n\n");
    let _ = write!(
        out,
        "**{}** document(s) changed, **{}** added · **{}** fixed (**{}** unsafe) · **{}** not fixed (fix available) · **{}** without automatic fix",
        s.changed_documents, s.added_documents, s.fixed, s.unsafe_fixed, s.fix_skipped, s.unfixable
    );
    if s.unpinned_images > 0 {
        let _ = write!(
            out,
            " · **{}** image(s) stayed unpinned (digest not resolved): {}",
            s.unpinned_images,
            o.unpinned_images
                .iter()
                .map(|r| format!("`{}`", r.replace('`', "'")))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    out.push_str("\n\n");
    if !o.findings.is_empty() {
        out.push_str("| Rule | Resource | Field | Finding | Fix |\n|---|---|---|---|---|\n");
        for f in &o.findings {
            let state = match &f.fix {
                FixState::Applied { applicability } => {
                    format!("✅ fixed ({})", applicability.as_str())
                }
                FixState::Skipped { reason, .. } => format!("⚠️ {reason}"),
                FixState::Unfixable => match &f.suggestion {
                    Some(s) => format!("❌ {s}"),
                    None => "❌ no automatic fix".to_string(),
                },
            };
            let _ = writeln!(
                out,
                "| `{}` {} | `{}` | `{}` | {} | {} |",
                f.rule,
                f.rule_name,
                cell(&f.resource.display()),
                cell(&f.path),
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
