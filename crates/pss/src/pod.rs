//! A tolerant, read-only view of a pod (metadata + spec) inside an arbitrary
//! JSON object, plus the typed accessors the checks use.
//!
//! Input is untrusted: every accessor accepts any JSON shape. A value of the
//! wrong type is treated as "not set", except where a helper documents that a
//! clearly-forbidden spelling (such as the string `"true"` for a forbidden
//! boolean) is also recognised.

use serde_json::{Map, Value};

use crate::path::FieldPath;

/// A JSON object.
pub(crate) type Obj = Map<String, Value>;

/// `value` as an object, if it is one.
pub(crate) fn as_obj(value: Option<&Value>) -> Option<&Obj> {
    value.and_then(Value::as_object)
}

/// The object-valued field `key` of `obj`, if present and an object.
pub(crate) fn obj_field<'a>(obj: Option<&'a Obj>, key: &str) -> Option<&'a Obj> {
    as_obj(obj.and_then(|o| o.get(key)))
}

/// The array-valued field `key` of `obj`, if present and an array.
pub(crate) fn array_field<'a>(obj: Option<&'a Obj>, key: &str) -> Option<&'a Vec<Value>> {
    obj.and_then(|o| o.get(key)).and_then(Value::as_array)
}

/// The string-valued field `key` of `obj`, if present and a string.
pub(crate) fn str_field<'a>(obj: Option<&'a Obj>, key: &str) -> Option<&'a str> {
    obj.and_then(|o| o.get(key)).and_then(Value::as_str)
}

/// Whether field `key` of `obj` is present and not `null` (Go's `!= nil`).
pub(crate) fn is_present(obj: &Obj, key: &str) -> bool {
    obj.get(key).is_some_and(|v| !v.is_null())
}

/// A boolean that is forbidden when true: `true`, or the string `"true"`
/// (any case), which the apiserver would reject anyway.
pub(crate) fn is_true(obj: Option<&Obj>, key: &str) -> bool {
    match obj.and_then(|o| o.get(key)) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// A boolean that is forbidden when explicitly false: `false`, or the string
/// `"false"` (any case).
pub(crate) fn is_explicit_false(obj: Option<&Obj>, key: &str) -> bool {
    match obj.and_then(|o| o.get(key)) {
        Some(Value::Bool(b)) => !*b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("false"),
        _ => false,
    }
}

/// A boolean that must be set to exactly `value`: only a real JSON boolean
/// counts as set.
pub(crate) fn bool_is(obj: Option<&Obj>, key: &str, value: bool) -> bool {
    obj.and_then(|o| o.get(key)).and_then(Value::as_bool) == Some(value)
}

/// An integer field that is forbidden when zero (e.g. `runAsUser`): a JSON
/// number equal to 0, or the string `"0"`.
pub(crate) fn is_zero(obj: Option<&Obj>, key: &str) -> bool {
    match obj.and_then(|o| o.get(key)) {
        Some(Value::Number(n)) => n.as_f64() == Some(0.0),
        Some(Value::String(s)) => s.trim().parse::<i64>().ok() == Some(0),
        _ => false,
    }
}

/// An integer field that is forbidden when non-zero (e.g. `hostPort`):
/// returns the offending value's text. A JSON number other than 0, or a string
/// holding such an integer, counts; anything else is "not set".
pub(crate) fn nonzero_number(obj: Option<&Obj>, key: &str) -> Option<String> {
    match obj.and_then(|o| o.get(key)) {
        Some(Value::Number(n)) if n.as_f64() != Some(0.0) => Some(n.to_string()),
        Some(Value::String(s)) => match s.trim().parse::<i64>() {
            Ok(i) if i != 0 => Some(i.to_string()),
            _ => None,
        },
        _ => None,
    }
}

/// Which list of the pod spec a container comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ContainerKind {
    Init,
    Regular,
    Ephemeral,
}

impl ContainerKind {
    /// The pod spec field holding this kind of container.
    fn field(self) -> &'static str {
        match self {
            Self::Init => "initContainers",
            Self::Regular => "containers",
            Self::Ephemeral => "ephemeralContainers",
        }
    }
}

/// One container of the pod, with its path and a display name.
#[derive(Debug)]
pub(crate) struct Container<'a> {
    /// The container's `name`, if it is a string.
    pub(crate) name: Option<&'a str>,
    /// Name used in messages: the `name`, or the container's list position.
    pub(crate) label: String,
    /// The container object.
    pub(crate) obj: &'a Obj,
    /// The container's `securityContext`, if it is an object.
    pub(crate) security_context: Option<&'a Obj>,
    /// Path of the container object.
    pub(crate) path: FieldPath,
}

impl Container<'_> {
    /// Path of a field under this container's `securityContext`.
    pub(crate) fn sc_path(&self, fields: &[&str]) -> FieldPath {
        self.path.child("securityContext").children(fields)
    }
}

/// A pod to evaluate: its metadata and spec, located somewhere in an object.
#[derive(Debug)]
pub(crate) struct Pod<'a> {
    metadata: Option<&'a Obj>,
    metadata_path: FieldPath,
    spec: Option<&'a Obj>,
    spec_path: FieldPath,
    containers: Vec<Container<'a>>,
}

impl<'a> Pod<'a> {
    /// A view of the pod whose `metadata` and `spec` are fields of `holder`,
    /// which sits at `holder_path` in the evaluated object.
    pub(crate) fn new(holder: &'a Obj, holder_path: &FieldPath) -> Self {
        let metadata = as_obj(holder.get("metadata"));
        let spec = as_obj(holder.get("spec"));
        let spec_path = holder_path.child("spec");
        let mut containers = Vec::new();
        // Same order as upstream's visitContainers.
        for kind in [
            ContainerKind::Init,
            ContainerKind::Regular,
            ContainerKind::Ephemeral,
        ] {
            let list_path = spec_path.child(kind.field());
            for (i, item) in array_field(spec, kind.field())
                .into_iter()
                .flatten()
                .enumerate()
            {
                let Some(obj) = item.as_object() else {
                    continue;
                };
                let name = str_field(Some(obj), "name");
                let label = match name {
                    Some(n) if !n.is_empty() => n.to_owned(),
                    _ => format!("{}[{}]", kind.field(), i),
                };
                containers.push(Container {
                    name,
                    label,
                    obj,
                    security_context: obj_field(Some(obj), "securityContext"),
                    path: list_path.index(i),
                });
            }
        }
        Self {
            metadata,
            metadata_path: holder_path.child("metadata"),
            spec,
            spec_path,
            containers,
        }
    }

    /// The pod spec (`None` if missing or not an object).
    pub(crate) fn spec(&self) -> Option<&'a Obj> {
        self.spec
    }

    /// Path of a field of the pod spec.
    pub(crate) fn spec_path(&self, fields: &[&str]) -> FieldPath {
        self.spec_path.children(fields)
    }

    /// The pod-level `spec.securityContext`, if it is an object.
    pub(crate) fn security_context(&self) -> Option<&'a Obj> {
        obj_field(self.spec, "securityContext")
    }

    /// Path of a field under the pod-level `spec.securityContext`.
    pub(crate) fn sc_path(&self, fields: &[&str]) -> FieldPath {
        self.spec_path.child("securityContext").children(fields)
    }

    /// All init, regular and ephemeral containers that are objects.
    pub(crate) fn containers(&self) -> &[Container<'a>] {
        &self.containers
    }

    /// String-valued pod annotations, sorted by key.
    pub(crate) fn annotations(&self) -> Vec<(&'a str, &'a str)> {
        let mut out: Vec<(&str, &str)> = obj_field(self.metadata, "annotations")
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| v.as_str().map(|v| (k.as_str(), v)))
            .collect();
        out.sort_unstable();
        out
    }

    /// The string value of annotation `key`, if set.
    pub(crate) fn annotation(&self, key: &str) -> Option<&'a str> {
        str_field(obj_field(self.metadata, "annotations"), key)
    }

    /// Path of annotation `key`.
    pub(crate) fn annotation_path(&self, key: &str) -> FieldPath {
        self.metadata_path.child("annotations").key(key)
    }

    /// `spec.os.name == "windows"`.
    pub(crate) fn is_windows(&self) -> bool {
        str_field(obj_field(self.spec, "os"), "name") == Some("windows")
    }

    /// `spec.hostUsers == false`: the pod runs in a user namespace.
    pub(crate) fn in_user_namespace(&self) -> bool {
        bool_is(self.spec, "hostUsers", false)
    }
}
