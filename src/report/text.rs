//! Plain-text report (stderr, `--report-format text`).

use std::fmt::Write;

use crate::finding::FixState;
use crate::pipeline::Outcome;

use super::{diff, summary};

fn paint(s: &str, code: &str, color: bool) -> String {
    if color {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

/// Renders the text report.
pub fn render(o: &Outcome, color: bool) -> String {
    let mut out = String::new();
    for c in &o.changes {
        for line in diff::unified(c).lines() {
            let l = if line.starts_with("+++") || line.starts_with("---") {
                paint(line, "1", color)
            } else if line.starts_with('+') {
                paint(line, "32", color)
            } else if line.starts_with('-') {
                paint(line, "31", color)
            } else if line.starts_with("@@") {
                paint(line, "36", color)
            } else {
                line.to_string()
            };
            let _ = writeln!(out, "{l}");
        }
    }
    if !o.changes.is_empty() {
        out.push('\n');
    }
    for f in &o.findings {
        let state = match &f.fix {
            FixState::Applied { applicability } => {
                paint(&format!("fixed ({})", applicability.as_str()), "32", color)
            }
            FixState::Skipped { reason, .. } => paint(&format!("not fixed: {reason}"), "33", color),
            FixState::Unfixable => paint("no automatic fix", "31", color),
        };
        let src = f
            .resource
            .source
            .as_deref()
            .map(|s| format!(" [{s}]"))
            .unwrap_or_default();
        let resource = if f.resource.kind.is_empty() {
            "release".to_string()
        } else {
            f.resource.display()
        };
        let path = if f.path.is_empty() {
            String::new()
        } else {
            format!(" {}:", f.path)
        };
        let _ = writeln!(
            out,
            "{} {} {}{}:{} {} — {}",
            f.rule, f.rule_name, resource, src, path, f.message, state
        );
        if let Some(s) = &f.suggestion {
            let _ = writeln!(out, "    suggestion: {s}");
        }
    }
    let s = summary(o);
    let _ = writeln!(
        out,
        "chart-harden: {} document(s) changed, {} added; {} finding(s) fixed, {} not fixed (fix available), {} without automatic fix",
        s.changed_documents, s.added_documents, s.fixed, s.fix_skipped, s.unfixable
    );
    if !o.unpinned_images.is_empty() {
        let _ = writeln!(
            out,
            "chart-harden: {} image(s) stayed unpinned (digest not resolved; see CH201): {}",
            o.unpinned_images.len(),
            paint(&o.unpinned_images.join(", "), "33", color)
        );
    }
    out
}
