//! Kubernetes Pod Security Standards evaluator.
//!
//! Evaluates the pod (or pod template) carried by a Kubernetes object against
//! the `baseline` or `restricted` level, with the same semantics as upstream
//! Pod Security Admission (`k8s.io/pod-security-admission/policy`), including
//! per-version behaviour: a policy version `v1.N` applies the checks as they
//! were defined for Kubernetes 1.N, and `latest` the newest definitions.
//!
//! ```
//! use chart_harden_pss::{evaluate, Level, Version};
//! let pod = serde_json::json!({
//!     "apiVersion": "v1",
//!     "kind": "Pod",
//!     "metadata": {"name": "p"},
//!     "spec": {"hostNetwork": true, "containers": [{"name": "app", "image": "x"}]}
//! });
//! let violations = evaluate(&pod, Level::Baseline, Version::Latest);
//! assert_eq!(violations.len(), 1);
//! assert_eq!(violations[0].check, "hostNamespaces");
//! assert_eq!(violations[0].path, "spec.hostNetwork");
//! ```
//!
//! Input is untrusted JSON: evaluation never panics. A field of the wrong type
//! counts as not set, except that obviously forbidden spellings (for example
//! the string `"true"` for `privileged`) are still reported.

mod baseline;
mod checks;
mod path;
mod pod;
mod restricted;

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::path::FieldPath;
use crate::pod::Pod;

/// A Pod Security Standards level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Unrestricted: nothing is checked.
    Privileged,
    /// Prevents known privilege escalations.
    Baseline,
    /// Baseline plus current pod hardening best practices.
    Restricted,
}

impl Level {
    /// The level's name as used in namespace labels: `"baseline"` etc.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Privileged => "privileged",
            Self::Baseline => "baseline",
            Self::Restricted => "restricted",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error returned when parsing a [`Level`] fails.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseLevelError(String);

impl fmt::Display for ParseLevelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid Pod Security level {:?}: expected \"privileged\", \"baseline\" or \"restricted\"",
            self.0
        )
    }
}

impl std::error::Error for ParseLevelError {}

impl FromStr for Level {
    type Err = ParseLevelError;

    /// Parses `"privileged"`, `"baseline"` or `"restricted"` (exact, lowercase).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "privileged" => Ok(Self::Privileged),
            "baseline" => Ok(Self::Baseline),
            "restricted" => Ok(Self::Restricted),
            _ => Err(ParseLevelError(s.to_owned())),
        }
    }
}

/// A policy version, as in the `pod-security.kubernetes.io/*-version` labels.
///
/// Ordering follows upstream: `V1` versions by minor number, and [`Latest`]
/// newer than every `V1` (even future ones). Versions newer than the newest
/// policy change known to this crate (v1.37) evaluate like `Latest`.
///
/// [`Latest`]: Version::Latest
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Version {
    /// The newest policy definitions.
    Latest,
    /// The policy as of Kubernetes `1.N`.
    V1(u32),
}

impl Version {
    /// The policy minor version this evaluates as (`Latest` → `u32::MAX`).
    fn minor(self) -> u32 {
        match self {
            Self::Latest => u32::MAX,
            Self::V1(minor) => minor,
        }
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.minor().cmp(&other.minor()).then_with(|| {
            // V1(u32::MAX) sorts just below Latest.
            matches!(self, Self::Latest).cmp(&matches!(other, Self::Latest))
        })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Latest => f.write_str("latest"),
            Self::V1(minor) => write!(f, "v1.{minor}"),
        }
    }
}

impl Serialize for Version {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Error returned when parsing a [`Version`] fails.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseVersionError(String);

impl fmt::Display for ParseVersionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid Pod Security version {:?}: expected \"latest\" or \"v1.<minor>\" (e.g. \"v1.25\")",
            self.0
        )
    }
}

impl std::error::Error for ParseVersionError {}

impl FromStr for Version {
    type Err = ParseVersionError;

    /// Parses `"latest"` or `"v1.<minor>"` such as `"v1.25"`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "latest" {
            return Ok(Self::Latest);
        }
        s.strip_prefix("v1.")
            .filter(|minor| !minor.is_empty() && minor.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|minor| minor.parse().ok())
            .map(Self::V1)
            .ok_or_else(|| ParseVersionError(s.to_owned()))
    }
}

/// One failed Pod Security check, at one field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// Upstream check ID, e.g. `"runAsNonRoot"`, `"capabilities_restricted"`,
    /// `"hostPathVolumes"`.
    pub check: &'static str,
    /// The level whose check failed ([`Level::Baseline`] or
    /// [`Level::Restricted`]); a Restricted evaluation also reports Baseline
    /// violations, with `level: Baseline`.
    pub level: Level,
    /// Field path from the object root, dotted, with `[i]` indexes and
    /// `['key']` map keys, e.g.
    /// `spec.template.spec.containers[0].securityContext.runAsNonRoot`. When a
    /// required field is missing, the path of the missing field.
    pub path: String,
    /// Human-readable reason, e.g.
    /// `pod or container "app" must set securityContext.runAsNonRoot=true`.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} ({} {})",
            self.path, self.message, self.level, self.check
        )
    }
}

/// Where the pod template lives for a kind: the path of the object holding
/// the pod's `metadata` and `spec`. `[]` for `Pod`, `["template"]` for
/// `PodTemplate`, `["spec", "template"]` for workload controllers and `Job`,
/// `["spec", "jobTemplate", "spec", "template"]` for `CronJob`; `None` for
/// kinds without pods.
pub fn pod_template_path(kind: &str) -> Option<&'static [&'static str]> {
    match kind {
        "Pod" => Some(&[]),
        "PodTemplate" => Some(&["template"]),
        "Deployment"
        | "StatefulSet"
        | "DaemonSet"
        | "ReplicaSet"
        | "ReplicationController"
        | "Job" => Some(&["spec", "template"]),
        "CronJob" => Some(&["spec", "jobTemplate", "spec", "template"]),
        _ => None,
    }
}

/// Whether `api_version` is in an API group that defines `kind` as a pod
/// carrier (so that a custom resource reusing e.g. the kind name `Job` is not
/// mistaken for one).
fn is_pod_api_group(kind: &str, api_version: &str) -> bool {
    let group = api_version.rsplit_once('/').map_or("", |(group, _)| group);
    match kind {
        "Pod" | "PodTemplate" | "ReplicationController" => group.is_empty(),
        "Deployment" | "ReplicaSet" | "DaemonSet" => matches!(group, "apps" | "extensions"),
        "StatefulSet" => group == "apps",
        "Job" | "CronJob" => group == "batch",
        _ => false,
    }
}

/// Evaluates `object` (a whole Kubernetes object as JSON: `apiVersion`,
/// `kind`, `metadata`, `spec`, ...) against `level` at policy `version`.
///
/// Handles every kind that carries a pod: `Pod`, `PodTemplate`, `Deployment`,
/// `StatefulSet`, `DaemonSet`, `ReplicaSet`, `ReplicationController`, `Job`
/// and `CronJob` (see [`pod_template_path`]). Returns an empty `Vec` for other
/// kinds, for objects whose `apiVersion` is not in the kind's API group
/// (custom resources reusing a kind name), for objects without a pod
/// template, and at [`Level::Privileged`]. A missing `apiVersion` is accepted.
///
/// Violations are ordered by check (upstream's Baseline checks, then the
/// Restricted ones), then pod-level fields before containers, and containers
/// in upstream's order: `initContainers`, `containers`, `ephemeralContainers`.
pub fn evaluate(object: &Value, level: Level, version: Version) -> Vec<Violation> {
    if level == Level::Privileged {
        return Vec::new();
    }
    let Some(kind) = object.get("kind").and_then(Value::as_str) else {
        return Vec::new();
    };
    let Some(template_path) = pod_template_path(kind) else {
        return Vec::new();
    };
    if let Some(api_version) = object.get("apiVersion").and_then(Value::as_str) {
        if !is_pod_api_group(kind, api_version) {
            return Vec::new();
        }
    }
    let holder = template_path
        .iter()
        .try_fold(object, |value, field| value.get(field));
    let Some(holder) = holder.and_then(Value::as_object) else {
        return Vec::new();
    };
    let holder_path = FieldPath::root().children(template_path);
    let pod = Pod::new(holder, &holder_path);
    checks::run_all(&pod, level, version.minor())
}
