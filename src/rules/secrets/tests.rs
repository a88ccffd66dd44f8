use std::collections::BTreeMap;

use crate::rules::testing::{config_for_rule, run_fixture};

#[test]
fn ch501_plaintext_secret() {
    let out = run_fixture(
        "testdata/check/secrets.yaml",
        &config_for_rule("CH501", false),
        &BTreeMap::new(),
    );
    // Keys are reported; values (base64 or plain) never are.
    for value in [
        "UzNjcjN0LVZhbHVlLURvLU5vdC1MZWFr",
        "S3cr3t-Value-Do-Not-Leak",
        "tok-PLAINTEXT-9f8e7d6c5b4a",
        "skipped-value-never-shown",
        "LS0tLS1CRUdJTi1LRVktVkFMVUU=",
    ] {
        assert!(
            !out.contains(value),
            "report leaks a secret value {value}:\n{out}"
        );
    }
    assert!(out.contains("password, username"), "{out}");
    assert!(
        !out.contains("demo-sa-token"),
        "service-account tokens are skipped:\n{out}"
    );
    assert!(
        !out.contains("demo-skipped"),
        "annotation opt-out ignored:\n{out}"
    );
    insta::assert_snapshot!("CH501", out);
}

#[test]
fn ch501_uses_the_configured_store() {
    let mut cfg = config_for_rule("CH501", false);
    cfg.generate.insert(
        "plaintext-secret".into(),
        serde_json::json!({"secretStore": {"name": "vault-backend", "kind": "SecretStore"}, "remoteKeyPrefix": "prod/"}),
    );
    let out = run_fixture("testdata/check/secrets.yaml", &cfg, &BTreeMap::new());
    assert!(
        out.contains("secretStoreRef: {kind: SecretStore, name: vault-backend}"),
        "{out}"
    );
    assert!(
        out.contains("key: prod/shop/demo-db, property: password"),
        "{out}"
    );
}
