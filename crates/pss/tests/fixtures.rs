//! Runs the evaluator against upstream Pod Security Admission test fixtures:
//! `<shared>/pss-fixtures/testdata/{baseline,restricted}/v1.N/{pass,fail}/*.yaml`.
//!
//! Every `pass/` fixture must evaluate clean at its level and version; every
//! `fail/` fixture must produce at least one violation, and one of them must
//! come from the check its file name names (or from the Restricted check that
//! replaces that Baseline check). Fixtures of the newest version are also
//! evaluated at `latest`, which must give the same result.
//!
//! The fixtures live outside the repository: `$CHART_HARDEN_SHARED/pss-fixtures`
//! if that variable is set, else `<repo>/../shared/pss-fixtures`. A missing
//! directory fails the test.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use chart_harden_pss::{evaluate, Level, Version, Violation};
use serde_json::Value;

fn fixtures_root() -> PathBuf {
    match std::env::var_os("CHART_HARDEN_SHARED") {
        Some(shared) => PathBuf::from(shared).join("pss-fixtures"),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/pss-fixtures"),
    }
}

fn parse_yaml(text: &str) -> Result<Value, serde_saphyr::Error> {
    // `Options` is #[non_exhaustive]; `options!` starts from `Default` and
    // assigns fields, i.e. `Options { legacy_octal_numbers: true, ..Default::default() }`.
    let opts = serde_saphyr::options! { legacy_octal_numbers: true };
    serde_saphyr::from_str_with_options::<Value>(text, opts)
}

/// Sorted entries of a directory, failing the test with context on error.
fn entries(dir: &Path) -> Vec<PathBuf> {
    let read = fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    let mut out: Vec<PathBuf> = read
        .map(|entry| {
            entry
                .unwrap_or_else(|e| panic!("cannot read entry of {}: {e}", dir.display()))
                .path()
        })
        .collect();
    out.sort();
    out
}

/// The check ID a fixture file name refers to (`capabilities_restricted1.yaml`
/// → `capabilities_restricted`), compared case-insensitively.
fn hinted_check(file: &Path) -> Option<String> {
    let stem = file.file_stem()?.to_str()?;
    let hint = stem.trim_end_matches(|c: char| c.is_ascii_digit());
    Some(hint.to_ascii_lowercase())
}

/// Checks that may legitimately report a fixture named after `hint` at `level`:
/// the hinted check itself, or at Restricted the check overriding it.
fn accepted_checks(hint: &str, level: Level) -> Vec<String> {
    let mut out = vec![hint.to_owned()];
    if level == Level::Restricted {
        let overriding = match hint {
            "hostpathvolumes" => Some("restrictedvolumes"),
            "seccompprofile_baseline" => Some("seccompprofile_restricted"),
            "capabilities_baseline" => Some("capabilities_restricted"),
            "procmount" => Some("procmount_restricted"),
            _ => None,
        };
        out.extend(overriding.map(str::to_owned));
    }
    out
}

fn describe(violations: &[Violation]) -> String {
    if violations.is_empty() {
        return "      (no violations)\n".to_owned();
    }
    let mut s = String::new();
    for v in violations {
        let _ = writeln!(
            s,
            "      [{} {}] {}: {}",
            v.level, v.check, v.path, v.message
        );
    }
    s
}

#[derive(Default)]
struct Counts {
    checked: usize,
    pass_clean: usize,
    fail_detected: usize,
    latest_checked: usize,
}

#[test]
fn upstream_pss_fixtures() {
    let root = fixtures_root();
    let testdata = root.join("testdata");
    assert!(
        testdata.is_dir(),
        "PSS fixtures not found at {} — set CHART_HARDEN_SHARED to the directory containing \
         pss-fixtures/ (expected pss-fixtures/testdata/{{baseline,restricted}}/v1.N/{{pass,fail}}/*.yaml)",
        testdata.display()
    );

    let mut counts = Counts::default();
    let mut failures = String::new();
    let mut failure_count = 0usize;
    let mut seen = [[false; 2]; 2]; // [level][pass/fail]

    for (level_idx, level) in [Level::Baseline, Level::Restricted].into_iter().enumerate() {
        let level_dir = testdata.join(level.to_string());
        let mut versions: Vec<(u32, PathBuf)> = entries(&level_dir)
            .into_iter()
            .filter_map(|dir| {
                let name = dir.file_name()?.to_str()?.to_owned();
                match name.parse::<Version>() {
                    Ok(Version::V1(minor)) if dir.is_dir() => Some((minor, dir)),
                    _ => None,
                }
            })
            .collect();
        versions.sort();
        let newest = versions.last().map(|(minor, _)| *minor);
        assert!(
            !versions.is_empty(),
            "no v1.N directories under {}",
            level_dir.display()
        );

        for (minor, version_dir) in &versions {
            for (outcome_idx, outcome) in ["pass", "fail"].into_iter().enumerate() {
                let dir = version_dir.join(outcome);
                if !dir.is_dir() {
                    continue;
                }
                for file in entries(&dir) {
                    if file.extension().and_then(|e| e.to_str()) != Some("yaml") {
                        continue;
                    }
                    seen[level_idx][outcome_idx] = true;
                    counts.checked += 1;
                    let text = fs::read_to_string(&file)
                        .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
                    let object = match parse_yaml(&text) {
                        Ok(v) => v,
                        Err(e) => {
                            failure_count += 1;
                            let _ =
                                writeln!(failures, "  {}: YAML parse error: {e}", file.display());
                            continue;
                        }
                    };

                    let mut versions_to_run = vec![Version::V1(*minor)];
                    if Some(*minor) == newest {
                        versions_to_run.push(Version::Latest);
                        counts.latest_checked += 1;
                    }
                    for version in versions_to_run {
                        let violations = evaluate(&object, level, version);
                        let problem = if outcome == "pass" {
                            (!violations.is_empty()).then(|| "expected no violations".to_owned())
                        } else if violations.is_empty() {
                            Some("expected at least one violation".to_owned())
                        } else {
                            let accepted = hinted_check(&file)
                                .map(|hint| accepted_checks(&hint, level))
                                .unwrap_or_default();
                            let matched = violations
                                .iter()
                                .any(|v| accepted.contains(&v.check.to_ascii_lowercase()));
                            (!matched).then(|| {
                                format!("expected a violation from check {}", accepted.join(" or "))
                            })
                        };
                        match problem {
                            Some(problem) => {
                                failure_count += 1;
                                let _ = write!(
                                    failures,
                                    "  {} [{level} {version}]: {problem}, got:\n{}",
                                    file.display(),
                                    describe(&violations)
                                );
                            }
                            None if version == Version::Latest => {}
                            None if outcome == "pass" => counts.pass_clean += 1,
                            None => counts.fail_detected += 1,
                        }
                    }
                }
            }
        }
    }

    println!(
        "pss fixtures: {} checked, {} pass-clean, {} fail-detected ({} newest-version fixtures re-checked at latest), {} mismatches",
        counts.checked, counts.pass_clean, counts.fail_detected, counts.latest_checked, failure_count
    );
    assert!(
        seen.iter().flatten().all(|&s| s),
        "fixture tree under {} is incomplete: need pass/ and fail/ fixtures for both baseline and restricted",
        testdata.display()
    );
    if failure_count > 0 {
        eprintln!("{failure_count} fixture mismatches:\n{failures}");
        panic!("{failure_count} PSS fixture mismatches (see output above)");
    }
    assert_eq!(
        counts.pass_clean + counts.fail_detected,
        counts.checked,
        "every fixture must be accounted for"
    );
}
