//! Generated objects (NetworkPolicy, PodDisruptionBudget, ResourceQuota, LimitRange):
//! written as YAML when a rule makes them.

use crate::document::HELM4_FILENAME_ANNOTATION;
use crate::inventory::GENERATED_LABEL;
use crate::yaml::{Map, Value};

/// YAML text of a generated object, with the generated-by label and (for Helm 4 streams)
/// Helm's filename annotation.
pub(super) fn generated_text(mut v: Value, helm4: bool) -> Result<String, String> {
    let kind = v
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("Object")
        .to_string();
    let name = v
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("unnamed")
        .to_string();
    if let Some(md) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        if !md.contains_key("labels") {
            md.insert("labels", Value::Object(Map::new()));
        }
        if let Some(l) = md.get_mut("labels").and_then(Value::as_object_mut) {
            l.insert(GENERATED_LABEL, Value::String("true".into()));
        }
        if helm4 {
            if !md.contains_key("annotations") {
                md.insert("annotations", Value::Object(Map::new()));
            }
            if let Some(a) = md.get_mut("annotations").and_then(Value::as_object_mut) {
                a.insert(
                    HELM4_FILENAME_ANNOTATION,
                    Value::from(format!(
                        "chart-harden/generated/{}-{}.yaml",
                        kind.to_ascii_lowercase(),
                        name
                    )),
                );
            }
        }
    }
    let yaml = serde_saphyr::to_string(&v)
        .map_err(|e| format!("cannot serialize generated {kind}/{name}: {e}"))?;
    if helm4 {
        // Helm 4 prints its own `# Source:` line from the annotation (its input documents
        // carry no comment line): a second one would be printed twice.
        return Ok(format!("\n{yaml}"));
    }
    // Names come from the input (a guard object is named after its workload): never written
    // into the comment unescaped, so no name can end the line or start a document.
    Ok(format!(
        "\n# Source: chart-harden/generated/{}-{}.yaml\n{}",
        crate::names::comment_safe(&kind.to_ascii_lowercase()),
        crate::names::comment_safe(&name),
        yaml
    ))
}

#[cfg(test)]
mod comment_tests {
    use super::*;

    /// Whatever a generated object is named, its `# Source:` comment stays one line: the
    /// name cannot end the comment and add YAML lines or a document.
    #[test]
    fn generated_source_comments_never_carry_input_lines() {
        let v = view!({
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "web\n---\nkind: Injected\r\n# x"},
        });
        let text = generated_text(v, false).unwrap();
        let comment = text.lines().nth(1).unwrap();
        assert!(
            comment.starts_with("# Source: chart-harden/generated/"),
            "{text}"
        );
        assert!(
            comment.contains("web%0A---%0Akind: Injected%0D%0A# x"),
            "{text}"
        );
        assert!(
            !text.lines().any(|l| l == "---" || l == "kind: Injected"),
            "{text}"
        );
        assert_eq!(crate::yaml::split::split(&text).len(), 1, "{text}");
        let back = crate::yaml::view::parse(&text).unwrap();
        assert_eq!(back["metadata"]["name"], "web\n---\nkind: Injected\r\n# x");
        // Read back as input, such a name is refused (and the label names it escaped).
        let e = crate::document::parse_stream(text.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(e.contains("metadata.name"), "{e}");
        assert!(!e.contains('\n') && !e.contains('\r'), "{e}");
        // An ordinary name is written as it is.
        let v = view!({
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "web-chart-harden"},
        });
        assert!(generated_text(v, false).unwrap().starts_with(
            "\n# Source: chart-harden/generated/poddisruptionbudget-web-chart-harden.yaml\n"
        ));
    }
}
