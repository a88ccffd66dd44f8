//! Every chart of the shared corpus (`rendered.yaml`, Helm 4 `helm template` output; the
//! chart sources are not there, so Helm cannot re-render them) fed to the binary directly:
//!
//! * documents the report does not name are byte-identical (and the report names exactly
//!   the documents that differ);
//! * changed documents re-parse to the same values outside the paths of applied findings,
//!   and keep every capability the chart adds;
//! * idempotence: hardening the output changes nothing;
//! * with `--profile prod`, every remaining restricted Pod Security violation is explained
//!   by a finding whose fix was skipped or that cannot be fixed.

#[path = "common/e2e.rs"]
mod e2e;

use std::collections::BTreeSet;

use serde_json::Value;

fn harden(input: &[u8], profile: &str) -> (Vec<u8>, Value) {
    let tmp = e2e::tempdir();
    let rf = tmp.path().join("report.json");
    let out = e2e::run(
        &[
            "--no-pin",
            "-q",
            "--profile",
            profile,
            "--report-format=json",
            &format!("--report-file={}", rf.display()),
        ],
        input,
    );
    e2e::ok(&out, "harden");
    (out.stdout, e2e::read_json(&rf))
}

/// Is `op_path` at, under or above one of the `allowed` pointers?
fn covered(op_path: &str, allowed: &[String]) -> bool {
    allowed.iter().any(|a| {
        let under = |x: &str, y: &str| x == y || x.starts_with(&format!("{y}/"));
        under(op_path, a) || under(a, op_path)
    })
}

fn check_chart(name: &str, input: &[u8], profile: &str) -> (usize, usize, usize) {
    let (output, report) = harden(input, profile);
    let before = e2e::docs(input);
    let after = e2e::docs(&output);
    let changes = report["changes"].as_array().unwrap();
    let changed: BTreeSet<usize> = changes
        .iter()
        .filter(|c| c["added"] == false)
        .map(|c| c["doc"].as_u64().unwrap() as usize)
        .collect();
    let added = changes.iter().filter(|c| c["added"] == true).count();
    assert_eq!(
        after.docs.len(),
        before.docs.len() + added,
        "{name}: document count"
    );
    let findings = report["findings"].as_array().unwrap();
    for (b, a) in before.docs.iter().zip(&after.docs) {
        assert_eq!(a.marker, b.marker, "{name}: marker of {}", b.label());
        if !changed.contains(&b.index) {
            assert!(
                a.text == b.text,
                "{name} ({profile}): {} changed but not reported",
                b.label()
            );
            continue;
        }
        assert!(
            a.text != b.text,
            "{name}: {} reported but unchanged",
            b.label()
        );
        // Values outside the changed paths are the same.
        let allowed: Vec<String> = findings
            .iter()
            .filter(|f| {
                f["resource"]["doc"].as_u64() == Some(b.index as u64)
                    && f["fix"]["state"] == "applied"
            })
            .flat_map(|f| {
                let p = e2e::report_path_to_pointer(f["path"].as_str().unwrap_or(""));
                let mut v = vec![p.clone()];
                // CH107 (read-only root filesystem) documents that it also mounts emptyDir
                // volumes where the container writes: its finding names the container's
                // readOnlyRootFilesystem, the mounts and volumes come with it.
                if f["rule"] == "CH107" {
                    for key in ["/containers/", "/initContainers/"] {
                        if let Some(i) = p.find(key) {
                            let rest = &p[i + key.len()..];
                            let n = rest.split('/').next().unwrap_or("");
                            v.push(format!("{}{key}{n}/volumeMounts", &p[..i]));
                            v.push(format!("{}/volumes", &p[..i]));
                        }
                    }
                }
                v
            })
            .collect();
        assert!(
            !allowed.is_empty(),
            "{name}: {} changed without an applied finding",
            b.label()
        );
        for op in chart_harden::export::json_patch::diff(
            &b.full_value().unwrap().to_json(),
            &a.full_value().unwrap().to_json(),
        ) {
            let p = op["path"].as_str().unwrap();
            // chart-harden's own bookkeeping annotations (`chart-harden.io/…`).
            let bookkeeping = p.starts_with("/metadata/annotations/chart-harden.io~1")
                || (p == "/metadata/annotations"
                    && op["value"]
                        .as_object()
                        .is_some_and(|m| m.keys().all(|k| k.starts_with("chart-harden.io/"))));
            if bookkeeping {
                continue;
            }
            // A capability the chart adds is for something that needs it (a chown init
            // container's CHOWN): no profile removes one.
            assert!(
                !(p.contains("/capabilities/add") && op["op"] != "add"),
                "{name} ({profile}): {} lost a capability the chart adds ({op})",
                b.label()
            );
            assert!(
                covered(p, &allowed),
                "{name} ({profile}): {} changed at {p} ({op}), outside every applied finding's path {allowed:?}",
                b.label()
            );
        }
    }
    // Idempotence.
    let (again, report2) = harden(&output, profile);
    assert!(again == output, "{name} ({profile}): not idempotent");
    assert_eq!(report2["changes"].as_array().unwrap().len(), 0);

    let (bad, seen) = e2e::unexplained_violations(&output, &report);
    if profile == "prod" {
        assert!(
            bad.is_empty(),
            "{name} (prod): unexplained restricted violations:\n{}",
            bad.join("\n")
        );
    }
    (changed.len(), added, seen)
}

#[test]
fn corpus_untouched_documents_identical_values_kept_idempotent_pss_explained() {
    let mut total = (0, 0, 0);
    for (name, path) in e2e::corpus() {
        let input = std::fs::read(&path).unwrap();
        for profile in ["staging", "prod"] {
            let (c, a, v) = check_chart(&name, &input, profile);
            eprintln!(
                "{name} {profile}: {c} changed, {a} added, {v} remaining restricted violations"
            );
            total.0 += c;
            total.1 += a;
            total.2 += v;
        }
    }
    eprintln!(
        "total: {} changed, {} added, {} remaining violations",
        total.0, total.1, total.2
    );
    assert!(total.0 > 0 && total.1 > 0);
}

/// The typed view's fast path (`src/yaml/fast.rs`) reads every corpus document it accepts
/// exactly as serde-saphyr does, and it accepts nearly all of them.
#[test]
fn fast_view_reads_corpus_documents_like_serde_saphyr() {
    let (mut fast, mut total) = (0, 0);
    for (name, path) in e2e::corpus() {
        let text = std::fs::read_to_string(&path).unwrap();
        for seg in chart_harden::yaml::split::split(&text) {
            let doc = &text[seg.text.clone()];
            total += 1;
            let Some(v) = chart_harden::yaml::fast::parse(doc) else {
                continue;
            };
            fast += 1;
            let reference = chart_harden::yaml::view::reference(doc).unwrap_or_else(|e| {
                panic!("{name}: serde-saphyr rejects a document the fast path read: {e}")
            });
            assert_eq!(v, reference, "{name}: document {total} reads differently");
        }
    }
    assert!(
        fast * 10 >= total * 9,
        "fast path read only {fast} of {total} documents"
    );
}

/// The patcher's span trees: the line reader's (`src/yaml/tree.rs`) is granit-parser's for
/// every corpus document it takes, before and after hardening (patched documents are what
/// later trees are built on), and it takes nearly all of them.
#[test]
fn line_reader_span_trees_are_granit_parsers() {
    use chart_harden::yaml::tree;
    let (mut taken, mut total) = (0, 0);
    for (name, path) in e2e::corpus() {
        let input = std::fs::read(&path).unwrap();
        let (hardened, _) = harden(&input, "prod");
        for bytes in [&input, &hardened] {
            let text = std::str::from_utf8(bytes).unwrap();
            for seg in chart_harden::yaml::split::split(text) {
                let doc = &text[seg.text.clone()];
                total += 1;
                let Some(ours) = tree::build_from_lines(doc) else {
                    continue;
                };
                taken += 1;
                let reference = tree::build_from_events(doc)
                    .unwrap_or_else(|e| panic!("{name}: granit-parser rejects it: {e:?}"));
                assert!(
                    ours == reference,
                    "{name}: document {total}: span trees differ"
                );
            }
        }
    }
    assert!(
        taken * 10 >= total * 9,
        "line reader built only {taken} of {total} trees"
    );
    eprintln!("span trees: {taken} of {total} from the line reader");
}
