//! Opt-outs, keyed by rule code and name: chart-harden's own annotation and the exemptions
//! understood from other tools, so users do not annotate twice.
//!
//! A resource (or its pod template) opts out of a rule with [`SKIP_ANNOTATION`]
//! (`"CH101,drop-all-capabilities"` or `"all"`), or when it carries another scanner's
//! exemption for an *equivalent* check:
//!
//! | tool | annotation | value |
//! |---|---|---|
//! | Polaris | `polaris.fairwinds.com/<check>-exempt` | `"true"` |
//! | Polaris | `polaris.fairwinds.com/exempt` (every check) | `"true"` |
//! | kube-linter | `ignore-check.kube-linter.io/<check>` | any (the reason) |
//! | kube-linter | `kube-linter.io/ignore-all` (every check) | any (the reason) |
//! | checkov | `checkov.io/skip<N>` | `CKV_K8S_<n>=<reason>` |
//!
//! Only checks with a chart-harden equivalent are mapped ([`POLARIS`], [`KUBE_LINTER`],
//! [`CHECKOV`]); "every check" exemptions map to every rule that has an equivalent in that
//! tool (never to rules the tool has no opinion about). Each exemption found is reported as
//! an Info finding by rule CH530 so the user sees why a fix was skipped.

use crate::yaml::Value;

use crate::yaml::view::ValueExt;

/// The annotation that opts a resource out of rules: `"CH101,drop-all-capabilities"` or `"all"`.
pub const SKIP_ANNOTATION: &str = "chart-harden.io/skip";

/// Polaris check → chart-harden rule codes. The Polaris check IDs and the `<check>-exempt`
/// annotation form are from Polaris' documentation ("Exemptions"); `hostPathSet` and
/// `automountServiceAccountToken` are newer checks (unverified here against a release).
pub const POLARIS: &[(&str, &[&str])] = &[
    ("runAsRootAllowed", &["CH101", "CH102"]),
    ("runAsPrivileged", &["CH106"]),
    ("privilegeEscalationAllowed", &["CH103"]),
    ("notReadOnlyRootFilesystem", &["CH107"]),
    ("dangerousCapabilities", &["CH104"]),
    ("insecureCapabilities", &["CH104"]),
    ("hostNetworkSet", &["CH110"]),
    ("hostPIDSet", &["CH110"]),
    ("hostIPCSet", &["CH110"]),
    ("hostPortSet", &["CH110"]),
    ("hostPathSet", &["CH110"]),
    ("automountServiceAccountToken", &["CH109"]),
    ("readinessProbeMissing", &["CH521"]),
    ("livenessProbeMissing", &["CH521"]),
    ("cpuRequestsMissing", &["CH522"]),
    ("cpuLimitsMissing", &["CH522"]),
    ("memoryRequestsMissing", &["CH522"]),
    ("memoryLimitsMissing", &["CH522"]),
];

/// kube-linter check → chart-harden rule codes (names from kube-linter's generated
/// checks list; `ignore-check.kube-linter.io/<check>` from its "Ignoring violations" docs).
pub const KUBE_LINTER: &[(&str, &[&str])] = &[
    ("run-as-non-root", &["CH101", "CH102"]),
    ("privilege-escalation-container", &["CH103"]),
    ("no-read-only-root-fs", &["CH107"]),
    ("drop-net-raw-capability", &["CH104"]),
    ("privileged-container", &["CH106"]),
    ("host-network", &["CH110"]),
    ("host-pid", &["CH110"]),
    ("host-ipc", &["CH110"]),
    ("sensitive-host-mounts", &["CH110"]),
    ("docker-sock", &["CH110"]),
    ("no-liveness-probe", &["CH521"]),
    ("no-readiness-probe", &["CH521"]),
    ("unset-cpu-requirements", &["CH522"]),
    ("unset-memory-requirements", &["CH522"]),
    ("access-to-secrets", &["CH512"]),
    ("wildcard-in-rules", &["CH511"]),
];

/// checkov check → chart-harden rule codes. CKV_K8S_31 (seccomp), CKV_K8S_37
/// (capabilities) and CKV_K8S_43 (image digest) were verified against public checkov
/// output; the others follow checkov's Kubernetes policy index as remembered (unverified
/// here): 8/9 probes, 10–13 requests/limits, 16 privileged, 17/18/19 host PID/IPC/network,
/// 20 allowPrivilegeEscalation, 22 readOnlyRootFilesystem, 23 root containers, 28 NET_RAW,
/// 38 service account token, 49 RBAC wildcards.
pub const CHECKOV: &[(&str, &[&str])] = &[
    ("CKV_K8S_8", &["CH521"]),
    ("CKV_K8S_9", &["CH521"]),
    ("CKV_K8S_10", &["CH522"]),
    ("CKV_K8S_11", &["CH522"]),
    ("CKV_K8S_12", &["CH522"]),
    ("CKV_K8S_13", &["CH522"]),
    ("CKV_K8S_16", &["CH106"]),
    ("CKV_K8S_17", &["CH110"]),
    ("CKV_K8S_18", &["CH110"]),
    ("CKV_K8S_19", &["CH110"]),
    ("CKV_K8S_20", &["CH103"]),
    ("CKV_K8S_22", &["CH107"]),
    ("CKV_K8S_23", &["CH101", "CH102"]),
    ("CKV_K8S_28", &["CH104"]),
    ("CKV_K8S_31", &["CH105"]),
    ("CKV_K8S_37", &["CH104"]),
    ("CKV_K8S_38", &["CH109"]),
    ("CKV_K8S_43", &["CH201"]),
    ("CKV_K8S_49", &["CH511"]),
];

/// One exemption annotation and the chart-harden rules it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exemption {
    /// `polaris`, `kube-linter` or `checkov`.
    pub tool: &'static str,
    /// The annotation key.
    pub annotation: String,
    /// The other tool's check (`*` for an exempt-all annotation).
    pub check: String,
    /// chart-harden rule codes it covers.
    pub rules: Vec<&'static str>,
}

fn lookup(
    table: &'static [(&'static str, &'static [&'static str])],
    check: &str,
) -> Vec<&'static str> {
    table
        .iter()
        .filter(|(c, _)| c.eq_ignore_ascii_case(check))
        .flat_map(|(_, r)| r.iter().copied())
        .collect()
}

fn all_of(table: &'static [(&'static str, &'static [&'static str])]) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = table.iter().flat_map(|(_, r)| r.iter().copied()).collect();
    v.sort_unstable();
    v.dedup();
    v
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::String(s) => s.trim().eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// Every other-tool exemption in one annotations mapping.
pub fn from_annotations(annotations: &Value) -> Vec<Exemption> {
    let mut out = Vec::new();
    let Some(map) = annotations.as_object() else {
        return out;
    };
    for (key, value) in map {
        if key == "polaris.fairwinds.com/exempt" {
            if truthy(value) {
                out.push(Exemption {
                    tool: "polaris",
                    annotation: key.to_string(),
                    check: "*".into(),
                    rules: all_of(POLARIS),
                });
            }
        } else if let Some(check) = key
            .strip_prefix("polaris.fairwinds.com/")
            .and_then(|k| k.strip_suffix("-exempt"))
        {
            let rules = lookup(POLARIS, check);
            if truthy(value) && !rules.is_empty() {
                out.push(Exemption {
                    tool: "polaris",
                    annotation: key.to_string(),
                    check: check.to_string(),
                    rules,
                });
            }
        } else if key == "kube-linter.io/ignore-all" {
            out.push(Exemption {
                tool: "kube-linter",
                annotation: key.to_string(),
                check: "*".into(),
                rules: all_of(KUBE_LINTER),
            });
        } else if let Some(check) = key.strip_prefix("ignore-check.kube-linter.io/") {
            let rules = lookup(KUBE_LINTER, check);
            if !rules.is_empty() {
                out.push(Exemption {
                    tool: "kube-linter",
                    annotation: key.to_string(),
                    check: check.to_string(),
                    rules,
                });
            }
        } else if key.starts_with("checkov.io/skip") {
            let Some(s) = value.as_str() else { continue };
            // `CKV_K8S_20=reason`; tolerate several comma-separated ids.
            let id = s.split('=').next().unwrap_or_default();
            for check in id.split(',').map(str::trim).filter(|c| !c.is_empty()) {
                let rules = lookup(CHECKOV, check);
                if !rules.is_empty() {
                    out.push(Exemption {
                        tool: "checkov",
                        annotation: key.to_string(),
                        check: check.to_string(),
                        rules,
                    });
                }
            }
        }
    }
    out
}

/// Other-tool exemptions on an object and on its pod template (if any).
pub fn of(obj: &Value, template: Option<&Value>) -> Vec<Exemption> {
    [Some(obj), template]
        .into_iter()
        .flatten()
        .filter_map(|v| v.ptr("/metadata/annotations"))
        .flat_map(from_annotations)
        .collect()
}

/// True when another tool's annotation exempts the object from the rule `code`.
pub fn exempts(obj: &Value, template: Option<&Value>, code: &str) -> bool {
    of(obj, template).iter().any(|e| e.rules.contains(&code))
}

/// True when the object or its pod template carries any opt-out at all (chart-harden's skip
/// annotation or another tool's exemption): without one, [`skipped`] is false for every rule.
pub fn has_opt_outs(obj: &Value, template: Option<&Value>) -> bool {
    [Some(obj), template].into_iter().flatten().any(|v| {
        v.ptr("/metadata/annotations")
            .and_then(|a| a.get(SKIP_ANNOTATION))
            .is_some()
    }) || !of(obj, template).is_empty()
}

/// True when the object or its pod template opts out of the rule `code` (named `name`):
/// [`SKIP_ANNOTATION`] names it (by code in any case, or by name) or says `all`, or another
/// tool's exemption covers it.
pub fn skipped(obj: &Value, template: Option<&Value>, code: &str, name: &str) -> bool {
    let mut sets = Vec::new();
    for v in [Some(obj), template].into_iter().flatten() {
        if let Some(s) = v
            .ptr("/metadata/annotations")
            .and_then(|a| a.get(SKIP_ANNOTATION))
            .and_then(Value::as_str)
        {
            sets.push(s.to_string());
        }
    }
    sets.iter().any(|s| {
        s.split(',')
            .map(str::trim)
            .any(|id| id == "all" || id.eq_ignore_ascii_case(code) || id == name)
    }) || exempts(obj, template, code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_each_tool() {
        let a = view!({
            "polaris.fairwinds.com/runAsRootAllowed-exempt": "true",
            "polaris.fairwinds.com/hostNetworkSet-exempt": "false",
            "ignore-check.kube-linter.io/no-read-only-root-fs": "needs /var/cache",
            "ignore-check.kube-linter.io/some-unknown-check": "x",
            "checkov.io/skip1": "CKV_K8S_20=reason",
            "checkov.io/skip2": "CKV_K8S_999=unknown"
        });
        let e = from_annotations(&a);
        let got: Vec<(&str, &str, Vec<&str>)> = e
            .iter()
            .map(|e| (e.tool, e.check.as_str(), e.rules.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("polaris", "runAsRootAllowed", vec!["CH101", "CH102"]),
                ("kube-linter", "no-read-only-root-fs", vec!["CH107"]),
                ("checkov", "CKV_K8S_20", vec!["CH103"]),
            ]
        );
    }

    #[test]
    fn exempt_all_covers_only_mapped_rules() {
        let obj = view!({"metadata": {"annotations": {"polaris.fairwinds.com/exempt": "true"}}});
        assert!(exempts(&obj, None, "CH110"));
        assert!(!exempts(&obj, None, "CH501"));
        let tpl = view!({"metadata": {"annotations": {"kube-linter.io/ignore-all": "vendor"}}});
        assert!(exempts(&view!({}), Some(&tpl), "CH511"));
    }
}
