//! The typed, read-only view of a document: what the Kubernetes API server would read.

use serde_json::Value;

/// Parse options matching Kubernetes' YAML 1.1 reading (octal `0755`, `yes`/`on` booleans),
/// duplicate keys resolved like Kubernetes (the last wins), and bounded alias expansion.
pub fn options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = 200;
    budget.max_documents = 1;
    let mut o = serde_saphyr::Options::default();
    o.budget = Some(budget);
    o.legacy_octal_numbers = true;
    o.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::LastWins;
    o.with_snippet = false;
    o
}

/// Parses one document's text into a JSON value (`Value::Null` for an empty document).
pub fn parse(text: &str) -> Result<Value, String> {
    serde_saphyr::from_str_with_options::<Option<Value>>(text, options())
        .map(|v| v.unwrap_or(Value::Null))
        .map_err(|e| {
            let m = one_line(&e.to_string());
            // The parser's budget (nodes, depth, aliases, merge keys) bounds what a document may
            // expand to: say so plainly instead of only "budget breached: Nodes { .. }".
            if m.contains("budget breached") {
                format!(
                    "document exceeds the parser's safety limits (at most 250000 nodes after \
alias and merge-key expansion, nesting depth 200); refusing to expand it: {m}"
                )
            } else {
                m
            }
        })
}

fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_like_kubernetes() {
        let v = parse("a: on\nb: yes\nc: 0755\nd: \"on\"\ne: 1e3\nf: ~\n").unwrap();
        assert_eq!(v["a"], Value::Bool(true));
        assert_eq!(v["b"], Value::Bool(true));
        assert_eq!(v["c"], serde_json::json!(493));
        assert_eq!(v["d"], Value::String("on".into()));
        assert_eq!(v["f"], Value::Null);
    }

    #[test]
    fn duplicate_keys_last_wins_like_kubernetes() {
        assert_eq!(parse("a: 1\na: 2\n").unwrap()["a"], serde_json::json!(2));
    }

    #[test]
    fn empty_is_null() {
        assert_eq!(parse("# nothing\n").unwrap(), Value::Null);
    }
}
