//! Findings: what a rule says about one field of one resource, and whether it was fixed.
//!
//! Every stage that reports (rules, generators, audits, the Pod Security evaluator) produces
//! [`Finding`]s; every report format (text, JSON, Markdown, SARIF) renders the same list.

use serde::Serialize;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Informational: nothing wrong, but worth knowing (e.g. "no PDB for a single replica").
    Info,
    /// Should be fixed.
    Warning,
    /// Breaks a security guarantee or the workload itself.
    Error,
}

/// Fix safety, Ruff's model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Applicability {
    /// Keeps the workload's behaviour: applied by default.
    Safe,
    /// May stop a workload from starting: only with `--unsafe-fixes` or a profile that enables it.
    Unsafe,
    /// Never changes anything; the finding is only reported.
    ReportOnly,
}

impl Applicability {
    /// Lower-case name as used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Applicability::Safe => "safe",
            Applicability::Unsafe => "unsafe",
            Applicability::ReportOnly => "report-only",
        }
    }
}

/// What happened to a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum FixState {
    /// The fix was applied to the output.
    Applied {
        /// The fix's safety class.
        applicability: Applicability,
    },
    /// A fix exists but was not applied (unsafe and not enabled, or dry-run profile).
    Skipped {
        /// The fix's safety class.
        applicability: Applicability,
        /// Why it was not applied (e.g. "unsafe fix: enable with --unsafe-fixes").
        reason: Str,
    },
    /// No automatic fix exists: the finding explains what to do.
    Unfixable,
}

/// The Kubernetes object a finding is about.
///
/// Its strings are [`Str`]s: a `ResourceRef` is copied into every finding and every step of
/// the fix loop, and the parser shares one copy of each apiVersion, kind, namespace and
/// template file among the objects of a stream, so a copy costs reference counts, not five
/// allocations (with the `Document` layout, 200,000 ConfigMaps: peak RSS 382 -> 352 MiB).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Default)]
pub struct ResourceRef {
    /// 0-based index of the document in the input stream (generated documents get indexes after the input).
    pub doc: usize,
    /// `apiVersion` of the object.
    pub api_version: Str,
    /// `kind` of the object.
    pub kind: Str,
    /// `metadata.namespace`, if set.
    pub namespace: Option<Str>,
    /// `metadata.name` (empty if missing).
    pub name: Str,
    /// Template file: Helm 4's `postrenderer.helm.sh/postrender-filename` annotation or Helm 3's `# Source:` line.
    pub source: Option<Str>,
}

/// An immutable string shared by reference count (a clone is a count, not a copy). Reads
/// like a `&str` (it derefs to one) and compares with `str` and `String`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Str(std::sync::Arc<str>);

impl Str {
    /// The string as a `str`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for Str {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Str {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for Str {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Str {
    fn from(s: &str) -> Str {
        Str(s.into())
    }
}

impl From<String> for Str {
    fn from(s: String) -> Str {
        Str(s.into())
    }
}

impl From<&String> for Str {
    fn from(s: &String) -> Str {
        Str(s.as_str().into())
    }
}

impl From<Str> for std::sync::Arc<str> {
    fn from(s: Str) -> std::sync::Arc<str> {
        s.0
    }
}

impl From<Str> for String {
    fn from(s: Str) -> String {
        s.0.to_string()
    }
}

impl PartialEq<str> for Str {
    fn eq(&self, other: &str) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<&str> for Str {
    fn eq(&self, other: &&str) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<String> for Str {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<Str> for str {
    fn eq(&self, other: &Str) -> bool {
        *self == *other.0
    }
}

impl PartialEq<Str> for &str {
    fn eq(&self, other: &Str) -> bool {
        **self == *other.0
    }
}

impl PartialEq<Str> for String {
    fn eq(&self, other: &Str) -> bool {
        **self == *other.0
    }
}

impl std::fmt::Debug for Str {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&*self.0, f)
    }
}

impl std::fmt::Display for Str {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Str {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// One shared copy of a report string that repeats across findings (a rule says the same
/// message, path, suggestion or reason of many resources), per thread: a bounded table of
/// the strings seen last. Findings are kept to the end of the run; 1,000 releases in one
/// namespace report 13,000 findings with 5,000 distinct messages and 11 distinct paths.
pub fn shared(s: impl AsRef<str>) -> Str {
    thread_local! {
        static SEEN: crate::yaml::value::Interned = Default::default();
    }
    SEEN.with(|seen| seen.get(s.as_ref()))
}

/// A suggestion, [`shared`].
pub fn suggest(s: impl AsRef<str>) -> Option<Str> {
    Some(shared(s))
}

impl ResourceRef {
    /// `Kind/namespace/name` (namespace omitted when unset).
    /// (Each part shown as [`crate::names::shown_name`] shows it.)
    pub fn display(&self) -> String {
        let shown = crate::names::shown_name;
        match &self.namespace {
            Some(ns) => format!("{}/{}/{}", shown(&self.kind), shown(ns), shown(&self.name)),
            None => format!("{}/{}", shown(&self.kind), shown(&self.name)),
        }
    }

    /// What a report calls the resource: [`ResourceRef::display`], or `release` for a
    /// finding about the release as a whole (no kind).
    pub fn label(&self) -> String {
        if self.kind.is_empty() {
            "release".to_string()
        } else {
            self.display()
        }
    }
}

/// The resource of a finding: the object's own [`ResourceRef`], shared (a finding holds a
/// reference count, not a copy of five strings and an index: a pass over a List of 800
/// Deployments holds 11,000 findings twice, in the rules' sinks and in the kept list). With
/// the boxed fixes of [`crate::rules::Emitted`], the shared path keys and the exact ops of a
/// step, heaptrack's peak heap: that List 20.4 → 17.8 MB, a pod with 2,000 containers 12.9 →
/// 10.5 MB. Reads, compares, orders and serializes as the [`ResourceRef`].
#[derive(Clone)]
pub struct Resource(crate::document::Object);

impl Resource {
    /// The object this resource was made from (for one made from a bare [`ResourceRef`], an
    /// object at the document's root).
    pub fn object(&self) -> &crate::document::Object {
        &self.0
    }
}

impl AsRef<ResourceRef> for Resource {
    fn as_ref(&self) -> &ResourceRef {
        &self.0.resource
    }
}

impl std::ops::Deref for Resource {
    type Target = ResourceRef;
    fn deref(&self) -> &ResourceRef {
        &self.0.resource
    }
}

impl From<&crate::document::Object> for Resource {
    fn from(o: &crate::document::Object) -> Resource {
        Resource(o.clone())
    }
}

impl From<&Resource> for Resource {
    fn from(r: &Resource) -> Resource {
        r.clone()
    }
}

impl From<ResourceRef> for Resource {
    fn from(r: ResourceRef) -> Resource {
        Resource(crate::document::Object::new(crate::yaml::Path::root(), r))
    }
}

impl From<&ResourceRef> for Resource {
    fn from(r: &ResourceRef) -> Resource {
        Resource::from(r.clone())
    }
}

impl PartialEq for Resource {
    fn eq(&self, other: &Resource) -> bool {
        self.as_ref() == other.as_ref()
    }
}

impl Eq for Resource {}

impl std::hash::Hash for Resource {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.as_ref().hash(h)
    }
}

impl PartialOrd for Resource {
    fn partial_cmp(&self, other: &Resource) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Resource {
    fn cmp(&self, other: &Resource) -> std::cmp::Ordering {
        self.as_ref().cmp(other.as_ref())
    }
}

impl std::fmt::Debug for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_ref(), f)
    }
}

impl Serialize for Resource {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.as_ref().serialize(s)
    }
}

/// One finding of one rule on one field of one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Rule code, e.g. `CH101`.
    pub rule: &'static str,
    /// Rule name, e.g. `run-as-non-root`.
    pub rule_name: &'static str,
    /// Severity.
    pub severity: Severity,
    /// The resource.
    pub resource: Resource,
    /// Field path in the resource, dotted with `[i]` indexes, e.g.
    /// `spec.template.spec.containers[0].securityContext.runAsNonRoot`. Empty for the whole object.
    pub path: Str,
    /// What is wrong (or what was done), one sentence.
    pub message: Str,
    /// What to do instead, when the tool cannot do it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggestion: Option<Str>,
    /// Fix state.
    pub fix: FixState,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(kind: &str, ns: Option<&str>, name: &str) -> ResourceRef {
        ResourceRef {
            doc: 3,
            api_version: "v1".into(),
            kind: kind.into(),
            namespace: ns.map(Str::from),
            name: name.into(),
            source: Some("templates/x.yaml".into()),
        }
    }

    /// A shared resource reads, compares, orders, hashes, prints and serializes as the
    /// `ResourceRef` it holds, whether it came from an object or from a `ResourceRef`.
    #[test]
    fn a_shared_resource_is_its_resource_ref() {
        let hash = |x: &dyn Fn(&mut std::collections::hash_map::DefaultHasher)| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            x(&mut h);
            std::hash::Hasher::finish(&h)
        };
        let refs = [
            resource("Service", Some("a"), "web"),
            resource("Service", None, "web"),
            resource("Deployment", Some("a"), "web"),
        ];
        for r in &refs {
            let object = crate::document::Object::new(crate::yaml::Path::root(), r.clone());
            for shared in [Resource::from(&object), Resource::from(r)] {
                assert_eq!(shared.as_ref(), r);
                assert_eq!(shared.display(), r.display());
                assert_eq!(format!("{shared:?}"), format!("{r:?}"));
                assert_eq!(
                    serde_json::to_string(&shared).unwrap(),
                    serde_json::to_string(r).unwrap()
                );
                assert_eq!(
                    hash(&|h| std::hash::Hash::hash(&shared, h)),
                    hash(&|h| std::hash::Hash::hash(r, h))
                );
                for other in &refs {
                    let o = Resource::from(other);
                    assert_eq!(shared == o, r == other);
                    assert_eq!(shared.cmp(&o), r.cmp(other));
                }
            }
        }
    }
}
