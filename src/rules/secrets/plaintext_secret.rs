//! CH501 plaintext-secret.

use crate::yaml::Value;

use crate::finding::{Applicability, Severity};
use crate::rules::{Context, Rule, RuleMeta, Sink};
use crate::yaml::view::ValueExt;

pub(crate) static META: RuleMeta = RuleMeta {
    code: "CH501",
    name: "plaintext-secret",
    group: "secrets",
    summary: "Report Secrets the chart renders with their values (names and keys only, never values), with an ExternalSecret or SealedSecret to use instead.",
    why: "A Secret rendered by the chart carries its values in the values file, in CI logs of \
`helm template`, and in Helm's release Secret (base64 is not encryption). Anyone who can read \
the release history or the rendered manifest reads the password.",
    example: "kind: Secret\ndata:\n  admin-password: c2VjcmV0   # reported: keys [admin-password], value never shown",
    fix: Applicability::ReportOnly,
    fix_also_safe: false,
    fix_notes: "Report-only: converting needs the value moved into a secret store first, which \
chart-harden cannot do, and a post-renderer cannot delete a document. The suggestion is an \
ExternalSecret (external-secrets.io/v1beta1) with the same name and keys, referencing the store \
named in config, or a SealedSecret made with kubeseal. Secrets of type \
kubernetes.io/service-account-token (filled in by the cluster) and Secrets without data are \
skipped; kubernetes.io/tls Secrets are reported with a cert-manager suggestion instead.",
    options: "generate.plaintext-secret.secretStore.name (default `<secret-store>`), \
generate.plaintext-secret.secretStore.kind (default `ClusterSecretStore`), \
generate.plaintext-secret.remoteKeyPrefix (default empty: the remote key is `<namespace>/<name>`)",
    severity: Severity::Warning,
    default_enabled: true,
};

/// CH501.
pub struct PlaintextSecret;

struct Store {
    name: String,
    kind: String,
    prefix: String,
}

fn store(cx: &Context<'_>) -> Store {
    let c = cx.cfg.generate.get(META.name);
    let s = |p: &str, d: &str| {
        c.and_then(|c| c.pointer(p))
            .and_then(serde_json::Value::as_str)
            .filter(|s| !s.is_empty())
            .unwrap_or(d)
            .to_string()
    };
    Store {
        name: s("/secretStore/name", "<secret-store>"),
        kind: s("/secretStore/kind", "ClusterSecretStore"),
        prefix: s("/remoteKeyPrefix", ""),
    }
}

fn keys(v: &Value, field: &str) -> Vec<String> {
    v.get(field)
        .and_then(Value::as_object)
        .map(|m| m.keys().map(|k| k.to_string()).collect())
        .unwrap_or_default()
}

impl Rule for PlaintextSecret {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &Context<'_>, out: &mut Sink) {
        let st = store(cx);
        for o in cx.inv.of_kind("Secret") {
            if o.resource.api_version != "v1" {
                continue;
            }
            let v = &*cx.full_value(o);
            if crate::rules::skipped_object(v, &META) {
                continue;
            }
            let ty = v.key("type").and_then(Value::as_str).unwrap_or("Opaque");
            if ty == "kubernetes.io/service-account-token" {
                continue;
            }
            let data = keys(v, "data");
            let string_data = keys(v, "stringData");
            if data.is_empty() && string_data.is_empty() {
                continue;
            }
            let mut parts = Vec::new();
            if !data.is_empty() {
                parts.push(format!("data: {}", data.join(", ")));
            }
            if !string_data.is_empty() {
                parts.push(format!("stringData: {}", string_data.join(", ")));
            }
            let path = if data.is_empty() {
                o.base.key("stringData")
            } else {
                o.base.key("data")
            };
            let name = &o.resource.name;
            let ns = cx.inv.namespace_of(&o.resource);
            let e = out.emit(
                &META,
                o,
                &path,
                format!(
                    "Secret {name:?} ({ty}) is rendered with {} value(s) in plaintext ({})",
                    data.len() + string_data.len(),
                    parts.join("; ")
                ),
                None,
            );
            if ty == "kubernetes.io/tls" {
                e.finding.suggestion = crate::finding::suggest(format!(
                    "issue the certificate in the cluster instead: a cert-manager Certificate with spec.secretName: {name} (the private key then never leaves the cluster), or an ExternalSecret as for other Secrets"
                ));
                continue;
            }
            let mut all: Vec<&String> = data.iter().chain(string_data.iter()).collect();
            all.sort();
            all.dedup();
            let remote = if ns.is_empty() {
                format!("{}{name}", st.prefix)
            } else {
                format!("{}{ns}/{name}", st.prefix)
            };
            let data_refs = all
                .iter()
                .map(|k| format!("{{secretKey: {k}, remoteRef: {{key: {remote}, property: {k}}}}}"))
                .collect::<Vec<_>>()
                .join(", ");
            e.finding.suggestion = crate::finding::suggest(format!(
                "move the values to a secret store and render instead: apiVersion: external-secrets.io/v1beta1, kind: ExternalSecret, metadata: {{name: {name}}}, spec: {{secretStoreRef: {{kind: {}, name: {}}}, target: {{name: {name}, creationPolicy: Owner}}, data: [{data_refs}]}} — or seal it (kubeseal) and ship the SealedSecret (bitnami.com/v1alpha1) instead of the Secret",
                st.kind, st.name
            ));
        }
    }
}
