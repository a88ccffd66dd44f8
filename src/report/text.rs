//! Plain-text printer (`--report-format text`): the harden/diff report (stderr) and the
//! `check` view (stdout).

use std::fmt::Write;

use crate::finding::{Finding, FixState, ResourceRef};
use crate::pipeline::Outcome;

use super::check::{self, CheckReport};
use super::{diff, summary};

fn paint(s: &str, code: &str, color: bool) -> String {
    if color {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

/// Where the command line wraps finding lines.
pub const WRAP_COLUMNS: usize = 100;

/// Display width of `s`: characters, not counting ANSI color sequences.
fn width(s: &str) -> usize {
    let mut n = 0;
    let mut in_escape = false;
    for c in s.chars() {
        match (in_escape, c) {
            (false, '\x1b') => in_escape = true,
            (true, 'm') => in_escape = false,
            (true, _) => {}
            (false, _) => n += 1,
        }
    }
    n
}

/// Wraps `line` at spaces to at most `max` columns (a longer word stays whole), continuation
/// lines indented by `indent` spaces.
fn wrap(line: &str, max: usize, indent: usize) -> String {
    let mut out = String::with_capacity(line.len() + 16);
    let mut col = 0;
    for word in line.split(' ') {
        let w = width(word);
        if col > indent && col + 1 + w > max {
            out.push('\n');
            out.extend(std::iter::repeat_n(' ', indent));
            col = indent;
        } else if !out.is_empty() {
            out.push(' ');
            col += 1;
        }
        out.push_str(word);
        col += w;
    }
    out
}

/// Renders the text report.
pub fn render(o: &Outcome, color: bool) -> String {
    render_wrapped(o, color, None)
}

/// [`render`], with each finding (and suggestion) wrapped at `wrap` columns when given; the
/// diff and the summary lines are never wrapped. The command line wraps at
/// [`WRAP_COLUMNS`].
pub fn render_wrapped(o: &Outcome, color: bool, wrap_at: Option<usize>) -> String {
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
        let resource = f.resource.label();
        let path = if f.path.is_empty() {
            String::new()
        } else {
            format!(" {}:", f.path)
        };
        let line = format!(
            "{} {} {}{}:{} {} — {}",
            f.rule, f.rule_name, resource, src, path, f.message, state
        );
        let suggestion = f
            .suggestion
            .as_ref()
            .map(|s| format!("    suggestion: {s}"));
        match wrap_at {
            Some(max) => {
                let _ = writeln!(out, "{}", wrap(&line, max, 4));
                if let Some(s) = suggestion {
                    let _ = writeln!(out, "{}", wrap(&s, max, 6));
                }
            }
            None => {
                let _ = writeln!(out, "{line}");
                if let Some(s) = suggestion {
                    let _ = writeln!(out, "{s}");
                }
            }
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

/// The text view of a `check` report: the headline, the violations grouped by resource, the
/// findings not fixed and the exemptions honoured.
pub fn render_check(r: &CheckReport) -> String {
    let mut out = format!("chart-harden check: {}\n", check::headline(r));
    let mut last: Option<&ResourceRef> = None;
    for v in &r.violations {
        if last.is_none_or(|l| !check::same_resource(l, &v.resource)) {
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
            check::explanation_text(v)
        );
    }
    let remaining: Vec<&Finding> = r.remaining().collect();
    if !remaining.is_empty() {
        let _ = writeln!(out, "\nFindings not fixed ({}):", remaining.len());
        for f in remaining {
            let _ = writeln!(out, "  {}", check::finding_line(f));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_breaks_at_spaces_and_keeps_long_words() {
        let w = wrap(
            "CH101 a b spec.template.spec.containers[0].securityContext c d e",
            20,
            4,
        );
        assert_eq!(
            w,
            "CH101 a b\n    spec.template.spec.containers[0].securityContext\n    c d e"
        );
        assert_eq!(wrap("short line", 20, 4), "short line");
        assert_eq!(width("\x1b[32mfixed\x1b[0m"), 5);
    }
}
