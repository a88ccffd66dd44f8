//! Snapshot tests: one fixture per rule, safe-only and with unsafe fixes.

use std::collections::BTreeMap;

use crate::rules::testing::{config_for_rule, run_fixture};
use crate::rules::ImageFacts;

fn snap(code: &str) {
    let path = format!("testdata/rules/pod_security/{code}.yaml");
    let images = BTreeMap::new();
    let safe = run_fixture(&path, &config_for_rule(code, false), &images);
    insta::assert_snapshot!(format!("{code}_safe"), safe);
    let unsafe_ = run_fixture(&path, &config_for_rule(code, true), &images);
    insta::assert_snapshot!(format!("{code}_unsafe"), unsafe_);
}

#[test]
fn ch101() {
    snap("CH101");
}
#[test]
fn ch102() {
    snap("CH102");
}
#[test]
fn ch103() {
    snap("CH103");
}
#[test]
fn ch104() {
    snap("CH104");
}
#[test]
fn ch105() {
    snap("CH105");
}
#[test]
fn ch106() {
    snap("CH106");
}
#[test]
fn ch107() {
    snap("CH107");
}
#[test]
fn ch108() {
    snap("CH108");
}
#[test]
fn ch109() {
    snap("CH109");
}
#[test]
fn ch110() {
    snap("CH110");
}

/// Image facts from the registry make the non-root fixes safe.
#[test]
fn image_user_makes_nonroot_safe() {
    let mut images = BTreeMap::new();
    images.insert(
        "example.com/app:1".to_string(),
        ImageFacts {
            user: Some("1000:1000".into()),
            source: "lockfile".into(),
            ..ImageFacts::default()
        },
    );
    let out = run_fixture(
        "testdata/rules/pod_security/CH101.yaml",
        &config_for_rule("CH101", false),
        &images,
    );
    insta::assert_snapshot!("CH101_image_user", out);
}
