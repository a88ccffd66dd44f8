//! Shared harness for the one-rule snapshot tests (guards, audit): harden a fixture with a
//! config that enables only the rule, check the run is idempotent, and render the changed or
//! added documents plus the rule's findings as reviewable text.
//!
//! Include with `#[path = "common/snapshot.rs"] mod snapshot;`.
#![allow(dead_code)]

use std::collections::BTreeMap;

use chart_harden::config::Config;
use chart_harden::finding::FixState;
use chart_harden::rules;

/// Hardens `input` (no digests are known).
fn harden(
    input: &[u8],
    cfg: &Config,
    images: &BTreeMap<String, chart_harden::rules::ImageFacts>,
) -> Result<chart_harden::Outcome, chart_harden::Error> {
    chart_harden::run(input.to_vec(), cfg, images)
}

/// Enables only `code` in `cfg` (and turns digest pinning off).
pub fn only_rule(mut cfg: Config, code: &str) -> Config {
    for r in rules::all() {
        let m = r.meta();
        if m.code == code {
            cfg.enabled.insert(m.code);
        } else {
            cfg.disabled.insert(m.code);
        }
    }
    cfg.images.pin = false;
    cfg
}

/// Hardens `input` twice (asserting the second run changes nothing) and renders the diff of
/// changed documents, added documents, and the findings of `code` (with their field path
/// when `with_path`).
pub fn render(label: &str, input: &[u8], cfg: &Config, code: &str, with_path: bool) -> String {
    let images = BTreeMap::new();
    let out = harden(input, cfg, &images).expect("hardens");
    let again = harden(&out.to_bytes(), cfg, &images).expect("second run");
    assert_eq!(
        String::from_utf8_lossy(&again.to_bytes()),
        String::from_utf8_lossy(&out.to_bytes()),
        "{label}/{code}: not idempotent"
    );
    assert!(
        !again.changed(),
        "{label}/{code}: second run changed something"
    );
    let mut s = String::new();
    for c in &out.changes {
        if c.added {
            s.push_str(&format!("=== added {}\n{}\n", c.label, c.after.trim_end()));
        } else {
            let diff = similar::TextDiff::from_lines(&c.before, &c.after);
            s.push_str(&format!("=== changed {}\n", c.label));
            for ch in diff.iter_all_changes() {
                let sign = match ch.tag() {
                    similar::ChangeTag::Delete => "-",
                    similar::ChangeTag::Insert => "+",
                    similar::ChangeTag::Equal => continue,
                };
                s.push_str(&format!("{sign}{}", ch.value()));
            }
        }
    }
    s.push_str("=== findings\n");
    for f in out.findings.iter().filter(|f| f.rule == code) {
        let state = match &f.fix {
            FixState::Applied { applicability } => format!("applied ({})", applicability.as_str()),
            FixState::Skipped { reason, .. } => format!("skipped: {reason}"),
            FixState::Unfixable => "no fix".into(),
        };
        let path = if with_path {
            format!(" {}", f.path)
        } else {
            String::new()
        };
        s.push_str(&format!(
            "{:?} {} {}{path}: {} [{state}]\n",
            f.severity,
            f.rule,
            f.resource.display(),
            f.message
        ));
    }
    s
}
