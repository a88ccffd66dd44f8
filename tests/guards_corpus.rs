//! End to end over every chart of the shared corpus with `--profile prod --no-pin`:
//! generated guard objects are valid Kubernetes objects, every pod template is covered by
//! exactly one generated policy or by the chart's own, every Service reference the inference
//! finds is allowed by the policies around it, and a second run is byte-identical.

#[path = "common/e2e.rs"]
mod e2e;

use std::path::PathBuf;

use chart_harden::document::parse_stream;
use chart_harden::inventory::netpol::{host_network, unallowed_references};
use chart_harden::inventory::GENERATED_LABEL;
use chart_harden::inventory::{label_selector_matches, Inventory};
use chart_harden::rules::audit::SUPPLEMENT_SUFFIX;
use chart_harden::yaml::Value;
use k8s_openapi::api::core::v1::{LimitRange, ResourceQuota};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;

fn shared() -> PathBuf {
    e2e::shared_dir()
}

fn harden(input: &[u8]) -> Vec<u8> {
    let out = e2e::run(&["--profile", "prod", "--no-pin", "-q"], input);
    e2e::ok(&out, "chart-harden");
    out.stdout
}

fn is_generated(v: &Value) -> bool {
    v.pointer("/metadata/labels")
        .and_then(|l| l.get(GENERATED_LABEL))
        .is_some()
}

fn strip_generated_markers(mut v: Value) -> Value {
    if let Some(md) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        if let Some(l) = md.get_mut("labels").and_then(Value::as_object_mut) {
            l.remove(GENERATED_LABEL);
        }
        if let Some(a) = md.get_mut("annotations").and_then(Value::as_object_mut) {
            a.remove("postrenderer.helm.sh/postrender-filename");
            if a.is_empty() {
                md.remove("annotations");
            }
        }
        if md
            .get("labels")
            .and_then(Value::as_object)
            .is_some_and(|l| l.is_empty())
        {
            md.remove("labels");
        }
    }
    v
}

/// Deserializes a generated object into its k8s-openapi type and back: unknown or misspelt
/// fields (which k8s-openapi would drop) make the round trip differ.
fn schema_check(v: &Value) -> Result<(), String> {
    let kind = v.get("kind").and_then(Value::as_str).unwrap_or_default();
    let want = strip_generated_markers(v.clone());
    let back = match kind {
        "NetworkPolicy" => serde_json::from_value::<NetworkPolicy>(want.to_json())
            .map(|o| serde_json::to_value(o).unwrap()),
        "PodDisruptionBudget" => serde_json::from_value::<PodDisruptionBudget>(want.to_json())
            .map(|o| serde_json::to_value(o).unwrap()),
        "LimitRange" => serde_json::from_value::<LimitRange>(want.to_json())
            .map(|o| serde_json::to_value(o).unwrap()),
        "ResourceQuota" => serde_json::from_value::<ResourceQuota>(want.to_json())
            .map(|o| serde_json::to_value(o).unwrap()),
        other => return Err(format!("unexpected generated kind {other}")),
    }
    .map(Value::from)
    .map_err(|e| format!("{kind}: {e}"))?;
    if back != want {
        return Err(format!(
            "{kind} does not round-trip:\n{want:#}\nvs\n{back:#}"
        ));
    }
    Ok(())
}

// The NetworkPolicy evaluator lives in the library (`inventory::netpol`, shared with
// the NetworkPolicy audit); its own unit tests are there, plus `evaluator_denies_and_allows`
// below.

/// A supplementing policy (CH603) completes a chart policy: it counts on the chart's side.
fn is_supplement(v: &Value) -> bool {
    v.pointer("/metadata/name")
        .and_then(Value::as_str)
        .is_some_and(|n| n.ends_with(SUPPLEMENT_SUFFIX))
}

#[test]
fn corpus_guards() {
    let corpus = shared().join("corpus");
    let mut charts: Vec<PathBuf> = std::fs::read_dir(&corpus)
        .expect("corpus readable")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("rendered.yaml").is_file())
        .collect();
    charts.sort();
    assert!(
        charts.len() >= 20,
        "expected the full corpus, found {}",
        charts.len()
    );
    let mut failures: Vec<String> = Vec::new();
    let (mut n_generated, mut n_policies, mut n_refs_checked, mut n_refs_chart) = (0, 0, 0, 0);
    for chart in &charts {
        let name = chart.file_name().unwrap().to_string_lossy().to_string();
        let input = std::fs::read(chart.join("rendered.yaml")).expect("read");
        let out = harden(&input);
        // Idempotence: a second run is byte-identical.
        let again = harden(&out);
        if again != out {
            failures.push(format!("{name}: second run differs"));
        }
        let stream = parse_stream(&out).expect("output parses");
        let inv = Inventory::build(&stream.docs, None);
        for d in &stream.docs {
            for o in &d.objects {
                let v = d.object_value(o);
                if is_generated(v) {
                    n_generated += 1;
                    if let Err(e) = schema_check(v) {
                        failures.push(format!("{name}: {}: {e}", o.resource.display()));
                    }
                }
            }
        }
        // Coverage: every pod template (except test hooks and hostNetwork pods) is selected
        // by exactly one generated policy and no chart policy, or by chart policies only
        // (a CH603 supplement completes a chart policy and is not counted as generated).
        let policies: Vec<(String, &Value, bool)> = inv
            .by_kind
            .get("NetworkPolicy")
            .into_iter()
            .flatten()
            .map(|o| {
                let v = stream.docs[o.doc()].object_value(o);
                (inv.namespace_of(&o.resource), v, is_generated(v))
            })
            .filter(|(_, v, _)| !is_supplement(v))
            .collect();
        n_policies += policies.iter().filter(|p| p.2).count();
        for w in &inv.workloads {
            if w.is_test_hook() || host_network(&stream.docs, w) || w.labels.is_empty() {
                continue;
            }
            let sel: Vec<&(String, &Value, bool)> = policies
                .iter()
                .filter(|(ns, v, _)| {
                    Inventory::same_namespace(ns, &w.namespace)
                        && match v.pointer("/spec/podSelector") {
                            Some(s) if s.is_object() => label_selector_matches(s, &w.labels),
                            _ => true,
                        }
                })
                .collect();
            let generated = sel.iter().filter(|p| p.2).count();
            let chart = sel.len() - generated;
            let ok = (generated == 1 && chart == 0) || (generated == 0 && chart >= 1);
            if !ok {
                failures.push(format!(
                    "{name}: {}/{} selected by {generated} generated and {chart} chart policies",
                    w.object.resource.kind, w.object.resource.name
                ));
            }
        }
        // Every reference is judged, including those touching pods of chart-shipped policies
        // (the NetworkPolicy audit, CH603, supplements those).
        let rc = unallowed_references(&stream.docs, &inv, is_generated);
        n_refs_checked += rc.checked;
        n_refs_chart += rc.under_chart_policy;
        for b in rc.bad {
            failures.push(format!("{name}: reference not allowed: {b}"));
        }
    }
    eprintln!(
        "{} charts: {n_generated} generated objects ({n_policies} NetworkPolicies); {n_refs_checked} service references judged, {n_refs_chart} of them under chart-shipped policies",
        charts.len()
    );
    assert!(
        n_policies > 20,
        "expected generated NetworkPolicies across the corpus, got {n_policies}"
    );
    assert!(
        n_refs_checked > 10,
        "expected service references to check, got {n_refs_checked}"
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
