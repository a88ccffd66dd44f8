//! Test harness for rule snapshot tests (Ruff-style): fixture in → report + diff out, with
//! the invariants every rule must keep checked on every fixture.

use std::collections::BTreeMap;

use crate::config::Config;
use crate::report::{self, Format};
use crate::rules::{self, ImageFacts};

/// Hardens `input` with known image facts.
fn harden(
    input: &[u8],
    cfg: &Config,
    images: &BTreeMap<String, ImageFacts>,
) -> Result<crate::Outcome, crate::Error> {
    crate::run(input.to_vec(), cfg, images)
}

/// A config with only `code` enabled.
pub fn config_for_rule(code: &str, unsafe_fixes: bool) -> Config {
    let mut cfg = Config::default();
    for r in rules::all() {
        let m = r.meta();
        if m.code != code {
            cfg.disabled.insert(m.code);
        } else {
            cfg.enabled.insert(m.code);
        }
    }
    cfg.unsafe_fixes = unsafe_fixes;
    cfg.images.pin = false;
    cfg
}

/// Runs a fixture and returns the text snapshot (diff + findings). Asserts: the fix loop
/// converged and a second run changes nothing; untouched documents are byte-identical.
pub fn run_fixture(path: &str, cfg: &Config, images: &BTreeMap<String, ImageFacts>) -> String {
    let full = format!("{}/{path}", env!("CARGO_MANIFEST_DIR"));
    let input = std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"));
    let out = harden(&input, cfg, images).unwrap_or_else(|e| panic!("{path}: {e}"));
    let again =
        harden(&out.to_bytes(), cfg, images).unwrap_or_else(|e| panic!("{path} (2nd run): {e}"));
    assert_eq!(
        String::from_utf8_lossy(&again.to_bytes()),
        String::from_utf8_lossy(&out.to_bytes()),
        "{path}: hardening is not idempotent"
    );
    assert!(!again.changed(), "{path}: the second run changed something");
    let inp = crate::document::parse_stream(&input).expect("fixture parses");
    let outp = crate::document::parse_stream(&out.to_bytes()).expect("output parses");
    let changed: Vec<usize> = out.changes.iter().map(|c| c.doc).collect();
    for d in &inp.docs {
        if !changed.contains(&d.index) {
            assert_eq!(
                d.text, outp.docs[d.index].text,
                "{path}: untouched doc {} changed",
                d.index
            );
        }
    }
    report::render(&out, Format::Text, false)
}
