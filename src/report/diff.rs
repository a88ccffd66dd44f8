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
    TextDiff::from_lines(c.before.as_str(), c.after.as_str())
        .unified_diff()
        .context_radius(3)
        .header(&old, &new)
        .to_string()
}

/// The values of every Secret in a document's typed view (`data` and `stringData`), Secrets
/// inside `kind: List` items (nested Lists too) included.
pub fn secret_values(v: &crate::yaml::Value) -> Vec<String> {
    fn walk(v: &crate::yaml::Value, depth: usize, out: &mut Vec<String>) {
        if depth > 16 {
            return;
        }
        if v.get("kind").and_then(crate::yaml::Value::as_str) == Some("Secret") {
            for field in ["data", "stringData"] {
                if let Some(m) = v.get(field).and_then(crate::yaml::Value::as_object) {
                    for x in m.values() {
                        match x {
                            crate::yaml::Value::String(s) => out.push(s.to_string()),
                            crate::yaml::Value::Null => {}
                            other => out.push(other.to_string()),
                        }
                    }
                }
            }
        }
        if let Some(items) = v.get("items").and_then(crate::yaml::Value::as_array) {
            for i in items {
                walk(i, depth + 1, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(v, 0, &mut out);
    out.retain(|s| !s.is_empty());
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out.dedup();
    out
}

/// `text` with the Secret `values` replaced by `<redacted>`, for diffs: a line whose whole
/// value (`key: value`, `- value`, or a block-scalar line) is one of the values' lines is
/// redacted, and a value of 6 characters or more is redacted wherever it appears.
pub fn redact_secret_values(text: &str, values: &[String]) -> String {
    if values.is_empty() {
        return text.to_string();
    }
    let lines: std::collections::HashSet<&str> = values
        .iter()
        .flat_map(|v| v.lines())
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let unquote = |s: &str| {
        let s = s.trim();
        s.strip_prefix('"')
            .and_then(|x| x.strip_suffix('"'))
            .or_else(|| s.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')))
            .unwrap_or(s)
            .to_string()
    };
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let (body, eol) = match line.strip_suffix('\n') {
            Some(b) => (b.strip_suffix('\r').unwrap_or(b), &line[b.len()..]),
            None => (line, ""),
        };
        let mut redacted = None;
        if lines.contains(body.trim()) || lines.contains(unquote(body).as_str()) {
            let indent = body.len() - body.trim_start().len();
            redacted = Some(format!("{}<redacted>", &body[..indent]));
        } else if let Some(i) = body.find(": ") {
            let rest = &body[i + 2..];
            let v = unquote(rest.split(" #").next().unwrap_or(rest));
            if lines.contains(v.as_str()) {
                redacted = Some(format!("{}: <redacted>", &body[..i]));
            }
        }
        let mut l = redacted.unwrap_or_else(|| body.to_string());
        for v in values.iter().filter(|v| v.len() >= 6) {
            if l.contains(v.as_str()) {
                l = l.replace(v.as_str(), "<redacted>");
            }
        }
        out.push_str(&l);
        out.push_str(eol);
    }
    out
}
