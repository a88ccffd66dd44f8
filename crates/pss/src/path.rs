//! Field paths in the notation used by [`crate::Violation::path`].
//!
//! Paths are rooted at the evaluated object (not at the pod template), use `.`
//! between field names, `[i]` for list indexes and `['key']` for map keys such
//! as annotation names: `spec.template.metadata.annotations['a/b']`,
//! `spec.template.spec.containers[0].securityContext.runAsNonRoot`.

use std::fmt;

/// An owned, immutable field path; every builder method returns a new path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FieldPath(String);

impl FieldPath {
    /// The empty path (the object root).
    pub(crate) fn root() -> Self {
        Self::default()
    }

    /// `self.name`, or just `name` at the root.
    pub(crate) fn child(&self, name: &str) -> Self {
        if self.0.is_empty() {
            Self(name.to_owned())
        } else {
            Self(format!("{}.{}", self.0, name))
        }
    }

    /// `self.a.b.c` for `names = ["a", "b", "c"]`.
    pub(crate) fn children(&self, names: &[&str]) -> Self {
        names
            .iter()
            .fold(self.clone(), |path, name| path.child(name))
    }

    /// `self[index]`.
    pub(crate) fn index(&self, index: usize) -> Self {
        Self(format!("{}[{}]", self.0, index))
    }

    /// `self['key']`, escaping `\` and `'` inside the key.
    pub(crate) fn key(&self, key: &str) -> Self {
        let escaped = key.replace('\\', "\\\\").replace('\'', "\\'");
        Self(format!("{}['{}']", self.0, escaped))
    }

    /// The path as a string.
    pub(crate) fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::FieldPath;

    #[test]
    fn builds_dotted_indexed_and_keyed_paths() {
        let root = FieldPath::root();
        assert_eq!(root.to_string(), "");
        assert_eq!(root.child("spec").to_string(), "spec");
        let containers = root.children(&["spec", "template", "spec", "containers"]);
        assert_eq!(
            containers.index(2).child("securityContext").to_string(),
            "spec.template.spec.containers[2].securityContext"
        );
        assert_eq!(
            root.children(&["metadata", "annotations"])
                .key("container.apparmor.security.beta.kubernetes.io/app")
                .to_string(),
            "metadata.annotations['container.apparmor.security.beta.kubernetes.io/app']"
        );
        assert_eq!(root.key("it's").into_string(), "['it\\'s']");
    }
}
