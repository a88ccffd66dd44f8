//! Unified diffs of changed documents (`similar`).

use similar::TextDiff;

use crate::pipeline::DocChange;

/// The unified diff of one document change, with a header naming the document.
pub fn unified(c: &DocChange) -> String {
    let old = if c.added {
        "/dev/null".to_string()
    } else {
        format!("a/{}", c.label)
    };
    let new = format!("b/{}", c.label);
    TextDiff::from_lines(&c.before, &c.after)
        .unified_diff()
        .context_radius(3)
        .header(&old, &new)
        .to_string()
}
