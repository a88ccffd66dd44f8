//! Parse stage: the input stream as documents, each with its bytes and its typed view.

use std::sync::Arc;

use crate::yaml::Value;

use crate::error::Error;
use crate::finding::{ResourceRef, Str};
use crate::yaml::value::intern;
use crate::yaml::view::MapExt;
use crate::yaml::view::ValueExt;
use crate::yaml::{split, view, Path};

/// The annotation Helm 4 puts on every document it passes to a post-renderer.
pub const HELM4_FILENAME_ANNOTATION: &str = "postrenderer.helm.sh/postrender-filename";

/// True for a stream Helm 4 passed: some document carries [`HELM4_FILENAME_ANNOTATION`].
pub fn is_helm4_stream(docs: &[Document]) -> bool {
    docs.iter().any(|d| {
        d.value
            .ptr("/metadata/annotations")
            .and_then(|a| a.get(HELM4_FILENAME_ANNOTATION))
            .is_some()
    })
}

/// One document of the input stream.
#[derive(Debug, Clone)]
pub struct Document {
    /// 0-based position in the stream.
    pub index: usize,
    /// The `---` marker before the document, or none.
    pub marker: Marker,
    /// The document's bytes after the marker.
    pub text: Text,
    /// The typed view (`Null` for an empty document). For the kinds in [`PRUNED`] it leaves
    /// out the paths listed there (see `partial`).
    pub value: Value,
    /// True when `value` leaves out a pruned path ([`Document::full_value`] has all of it).
    pub partial: bool,
    /// Kubernetes objects in this document: the document itself, or each item of a `kind: List`.
    /// (A boxed slice, not a `Vec`: 16 bytes and one pointer on the heap for the common single
    /// object, not 24 and a capacity of four.)
    pub objects: Box<[Object]>,
    /// Template file (Helm 4 annotation or Helm 3 `# Source:` comment).
    pub source: Option<Str>,
    /// A key some mapping of the document repeats (`` "app" (near line 7 of the document) ``): read like
    /// Kubernetes reads it (the last value wins) and reported as a warning (CH636). Rarely
    /// set: one pointer wide (a `Document` is 104 bytes).
    pub duplicate_key: Option<Box<String>>,
    /// The fast paths read the document: it holds no anchor, alias or tag, so no fix meets a
    /// node the patcher refuses to edit (false when not known).
    pub plain: bool,
}

/// The marker line start before a document: `---`, or nothing (the first document, or one
/// after a `...` end marker). One byte, not a `String` per document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Marker {
    /// No marker.
    #[default]
    None,
    /// `---`.
    Dashes,
}

impl Marker {
    /// The marker written `s`: `""` or `---` (what [`split::split`] finds).
    pub fn of(s: &str) -> Marker {
        debug_assert!(s.is_empty() || s == "---", "{s:?}");
        if s.is_empty() {
            Marker::None
        } else {
            Marker::Dashes
        }
    }

    /// The marker's bytes.
    pub fn as_str(self) -> &'static str {
        match self {
            Marker::None => "",
            Marker::Dashes => "---",
        }
    }
}

impl std::ops::Deref for Marker {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

/// A document's bytes: a range of the input stream it was read from (shared with the other
/// documents, not copied: an input document is written out as it came in) or text of its
/// own (patched and generated documents).
#[derive(Clone, Default)]
pub struct Text(TextRepr);

// `Arc<str>`, not `String`: the text fits beside the shared range (24 bytes, not 32), and a
// copy (a diff's after-text) is a reference count.
#[derive(Clone)]
enum TextRepr {
    Shared(Arc<String>, std::ops::Range<usize>),
    Owned(Arc<str>),
}

impl Default for TextRepr {
    fn default() -> Self {
        TextRepr::Owned(Arc::from(""))
    }
}

impl Text {
    /// The bytes `range` of `input` (a char-boundary range).
    pub fn shared(input: &Arc<String>, range: std::ops::Range<usize>) -> Text {
        debug_assert!(input.get(range.clone()).is_some());
        Text(TextRepr::Shared(Arc::clone(input), range))
    }

    /// The text as a `str`.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            // The range was checked against the input when the text was made.
            TextRepr::Shared(input, r) => input.get(r.clone()).unwrap_or_default(),
            TextRepr::Owned(s) => s,
        }
    }
}

impl std::ops::Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl From<String> for Text {
    fn from(s: String) -> Text {
        Text(TextRepr::Owned(s.into()))
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Text {
        Text(TextRepr::Owned(s.into()))
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Text {}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Text {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl std::fmt::Display for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One Kubernetes object inside a document. Shared: the inventory lists every object under
/// its kind and again as a workload, Service or ServiceAccount, in every step of the fix
/// loop, and every finding about it holds it ([`crate::finding::Resource`]), so a copy is a
/// reference count, not five strings and a path.
#[derive(Debug, Clone)]
pub struct Object(Arc<ObjectData>);

/// What an [`Object`] is.
#[derive(Debug)]
pub struct ObjectData {
    /// Path of the object inside the document (root, or `items[i]` of a List).
    pub base: Path,
    /// Identity for reports.
    pub resource: ResourceRef,
}

impl Object {
    /// The object at `base` of document `resource.doc`.
    pub fn new(base: Path, resource: ResourceRef) -> Object {
        Object(Arc::new(ObjectData { base, resource }))
    }
}

impl ObjectData {
    /// Index of the document that holds it (its resource's: kept once, so that an object
    /// with its reference counts is 128 bytes, the allocator's 128-byte class, not 136 in a
    /// 160-byte block; same run, medians of 7: peak RSS of the List of 800 Deployments 33.3
    /// → 31.8 MiB, of 1,000 releases in one namespace 40.9 → 38.7).
    pub fn doc(&self) -> usize {
        self.resource.doc
    }
}

impl std::ops::Deref for Object {
    type Target = ObjectData;
    fn deref(&self) -> &ObjectData {
        &self.0
    }
}

/// Typed-view paths left out for some kinds (a step `a|b` names either key). They are still
/// parsed and checked like every other byte: invalid YAML there is an error as anywhere else.
/// - The validation schemas of CustomResourceDefinitions. No rule reads them, and they are
///   most of the bytes of charts that ship CRDs (argo-cd's ApplicationSet CRD alone is
///   1.4 MB), so building, keeping and freeing their JSON dominated time and memory.
/// - The data of ConfigMaps and Secrets: a few readers need it (traffic references read
///   through a workload's env and volumes, dangling keys, plaintext Secrets, diff redaction)
///   and read it with [`Document::full_object_value`]. Same run, medians of 5: 200,000 small
///   ConfigMaps 145.6 → 122.8 MiB peak RSS; it also keeps a chart's dashboards and scripts
///   out of memory twice, and a Secret's values out of the view every rule sees.
pub const PRUNED: &[(&str, &[&str])] = &[
    (
        "CustomResourceDefinition",
        &["spec", "versions", "*", "schema"],
    ),
    ("ConfigMap", &["data|binaryData"]),
    ("Secret", &["data|stringData"]),
];

impl Document {
    /// The whole typed view, pruned paths included (parsed again when `partial`).
    pub fn full_value(&self) -> Result<std::borrow::Cow<'_, Value>, Error> {
        if !self.partial {
            return Ok(std::borrow::Cow::Borrowed(&self.value));
        }
        view::parse(&self.text)
            .map(std::borrow::Cow::Owned)
            .map_err(|message| Error::Yaml {
                doc: self.label(),
                message: view::redact_parse_message(&self.text, message),
            })
    }

    /// The object's typed view (without the paths [`PRUNED`] leaves out).
    pub fn object_value<'a>(&'a self, o: &Object) -> &'a Value {
        o.base.lookup(&self.value).unwrap_or(&Value::Null)
    }

    /// The object's whole typed view, pruned paths included (parsed again when `partial`; a
    /// text that no longer parses, which cannot happen to a text that parsed, gives the
    /// pruned view).
    pub fn full_object_value<'a>(&'a self, o: &Object) -> std::borrow::Cow<'a, Value> {
        use std::borrow::Cow;
        match self.full_value() {
            Ok(Cow::Owned(v)) if o.base.0.is_empty() => Cow::Owned(v),
            Ok(Cow::Owned(v)) => Cow::Owned(o.base.lookup(&v).cloned().unwrap_or_default()),
            Ok(Cow::Borrowed(_)) | Err(_) => Cow::Borrowed(self.object_value(o)),
        }
    }

    /// A short label for messages: `document 3 (Deployment/web, templates/web.yaml)`.
    pub fn label(&self) -> String {
        let mut s = format!("document {}", self.index + 1);
        let kind = self.value.key("kind").and_then(Value::as_str);
        let name = self.value.ptr("/metadata/name").and_then(Value::as_str);
        let mut inner = Vec::new();
        // Input strings, escaped: a label is one line of a message or a report.
        let (safe, shown) = (crate::names::comment_safe, crate::names::shown_name);
        if let Some(k) = kind {
            inner.push(format!("{}/{}", shown(k), name.map_or("?".into(), shown)));
        }
        if let Some(src) = &self.source {
            inner.push(safe(src));
        }
        if !inner.is_empty() {
            s.push_str(&format!(" ({})", inner.join(", ")));
        }
        s
    }
}

/// The parsed stream.
#[derive(Debug, Clone)]
pub struct Stream {
    /// A leading byte-order mark, kept for output.
    pub bom: bool,
    /// Documents in order.
    pub docs: Vec<Document>,
}

fn str_at<'a>(v: &'a Value, p: &str) -> Option<&'a str> {
    v.ptr(p).and_then(Value::as_str)
}

fn resource_of(doc: usize, v: &Value, source: &Option<Str>) -> ResourceRef {
    ResourceRef {
        doc,
        api_version: intern(str_at(v, "/apiVersion").unwrap_or_default()),
        kind: intern(str_at(v, "/kind").unwrap_or_default()),
        namespace: str_at(v, "/metadata/namespace").map(intern),
        name: str_at(v, "/metadata/name").unwrap_or_default().into(),
        source: v
            .ptr("/metadata/annotations")
            .and_then(|a| a.get(HELM4_FILENAME_ANNOTATION))
            .and_then(Value::as_str)
            .map(intern)
            .or_else(|| source.clone()),
    }
}

fn check_object(label: &dyn Fn() -> String, v: &Value, at: &str) -> Result<(), Error> {
    let Some(m) = v.as_object() else {
        return Err(Error::NotAnObject {
            doc: label(),
            message: format!("{at}is not a mapping, so it is not a Kubernetes object"),
        });
    };
    for field in ["apiVersion", "kind"] {
        match m.get(field) {
            Some(Value::String(s)) if !s.is_empty() => {}
            Some(_) => {
                return Err(Error::NotAnObject {
                    doc: label(),
                    message: format!("{at}field `{field}` must be a non-empty string"),
                })
            }
            None => {
                return Err(Error::NotAnObject {
                    doc: label(),
                    message: format!("{at}has no `{field}`, so it is not a Kubernetes object"),
                })
            }
        }
    }
    if let Some(md) = m.key("metadata") {
        if !md.is_object() && !md.is_null() {
            return Err(Error::NotAnObject {
                doc: label(),
                message: format!("{at}field `metadata` must be a mapping"),
            });
        }
    }
    Ok(())
}

/// Checks `metadata.name` and `metadata.namespace` of the object `v` (at `at`, `""` or
/// `items[i] `) the way the API server would: strings, a valid name for its kind (see
/// [`crate::names::rule_for`]) and a DNS-1123 label for the namespace. An absent name is left
/// alone (`generateName`, or objects a tool names later), and so is an absent or empty
/// namespace (the release's).
fn check_name(label: &dyn Fn() -> String, v: &Value, at: &str) -> Result<(), Error> {
    let kind = v.key("kind").and_then(Value::as_str).unwrap_or_default();
    if let Some(name) = v.ptr("/metadata/name") {
        let (valid, rule) = crate::names::rule_for(kind);
        let what = format!("{} name", crate::names::shown_name(kind));
        check_identity(
            label,
            name,
            &format!("{}metadata.name", dotted(at)),
            &what,
            valid,
            rule,
        )?;
    }
    match v.ptr("/metadata/namespace") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(ns)) if ns.is_empty() => Ok(()),
        Some(ns) => {
            let (valid, rule) = crate::names::rule_for("Namespace");
            let path = format!("{}metadata.namespace", dotted(at));
            check_identity(label, ns, &path, "namespace", valid, rule)
        }
    }
}

/// Checks one identity field (`path`) holds a string that `valid` accepts; the error says it
/// must be `rule` for a valid `what`.
fn check_identity(
    label: &dyn Fn() -> String,
    name: &Value,
    path: &str,
    what: &str,
    valid: fn(&str) -> bool,
    rule: &str,
) -> Result<(), Error> {
    let field = |message: String| Error::Field {
        doc: label(),
        path: path.to_string(),
        message,
    };
    let Value::String(name) = name else {
        let found = what_yaml_reads(name);
        return Err(field(format!(
            "must be a string, but YAML reads it as {found} (Kubernetes rejects it; quote it)"
        )));
    };
    if !valid(name) {
        return Err(field(format!(
            "{} is not a valid {what}: it must be {rule}",
            if crate::names::name_like(name) {
                crate::yaml::scalar::quote(name)
            } else {
                format!(
                    "a value of {} characters, some that no name holds (not shown),",
                    name.chars().count()
                )
            }
        )));
    }
    Ok(())
}

/// Reads the whole input: UTF-8 check, BOM, split, parse every document.
pub fn parse_stream(input: &[u8]) -> Result<Stream, Error> {
    parse_stream_owned(input.to_vec())
}

/// [`parse_stream`] taking the input buffer, which the documents then share (their texts are
/// ranges of it, not copies).
pub fn parse_stream_owned(input: Vec<u8>) -> Result<Stream, Error> {
    let input = match String::from_utf8(input) {
        Ok(s) => Arc::new(s),
        Err(e) => return Err(utf8_error(e.as_bytes(), e.utf8_error().valid_up_to())),
    };
    let whole: &str = &input;
    let (bom, text) = match whole.strip_prefix('\u{feff}') {
        Some(rest) => (true, rest),
        None => (false, whole),
    };
    // Offsets below are into `text`; the shared input starts `skip` bytes earlier.
    let skip = whole.len() - text.len();
    let segs = split::split(text);
    // Documents parse independently; on a large stream they go to every core, largest
    // first, so that one huge CRD does not leave the other cores idle at the end.
    let mut order: Vec<usize> = (0..segs.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(segs[i].text.len()));
    let docs = crate::par::map(
        segs.len(),
        Some(&order),
        text.len() >= crate::par::PARALLEL_BYTES,
        |i| {
            let seg = &segs[i];
            let body = Text::shared(&input, seg.text.start + skip..seg.text.end + skip);
            build_document_text(i, &text[seg.marker.clone()], body)
        },
    );
    // The first error in stream order is the one reported, as in a sequential parse.
    let docs = docs.into_iter().collect::<Result<_, _>>()?;
    Ok(Stream { bom, docs })
}

/// The error for input that is not UTF-8, naming the document and line of the first bad byte
/// (the bytes before it are valid UTF-8, so they split into documents as usual).
fn utf8_error(input: &[u8], offset: usize) -> Error {
    let before = std::str::from_utf8(&input[..offset]).unwrap_or_default();
    let body = before.strip_prefix('\u{feff}').unwrap_or(before);
    let doc = split::split(body).len();
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    Error::Yaml {
        doc: format!("document {doc}"),
        message: format!(
            "not valid UTF-8: byte 0x{:02x} at line {line} (stream offset {offset}); \
Kubernetes manifests must be UTF-8 text",
            input[offset]
        ),
    }
}

/// The typed view of a document, pruned when its kind is in [`PRUNED`]. The kind is guessed
/// from a top-level `kind:` line and confirmed from the parsed value (a wrong guess parses
/// again, whole).
fn read_view(body: &str) -> Result<(Value, view::Reading), String> {
    let guess = body
        .lines()
        .find_map(|l| l.strip_prefix("kind:"))
        .map(|k| k.trim().trim_matches(['"', '\'']))
        .and_then(|k| PRUNED.iter().find(|(kind, _)| k == *kind));
    let Some((kind, prune)) = guess else {
        return view::parse_noting_duplicates(body, None);
    };
    let (value, reading) = view::parse_noting_duplicates(body, Some(prune))?;
    if reading.partial && value.key("kind").and_then(Value::as_str) != Some(kind) {
        return view::parse_noting_duplicates(body, None);
    }
    Ok((value, reading))
}

/// Parses one document's text (checks it is a Kubernetes object, finds List items).
pub fn build_document(index: usize, marker: &str, body: &str) -> Result<Document, Error> {
    build_document_text(index, marker, body.into())
}

/// [`build_document`] for a text the document keeps (no copy).
pub fn build_document_owned(index: usize, marker: &str, body: String) -> Result<Document, Error> {
    build_document_text(index, marker, body.into())
}

/// [`build_document`] for a [`Text`] the document keeps as it is.
fn build_document_text(index: usize, marker: &str, body: Text) -> Result<Document, Error> {
    let provisional = provisional(index, marker, body);
    let (value, reading) = read_view(&provisional.text).map_err(|message| Error::Yaml {
        doc: provisional.label(),
        message: view::redact_parse_message(&provisional.text, message),
    })?;
    let mut doc = assemble(provisional, value, reading.partial)?;
    doc.duplicate_key = reading.duplicate_key.map(Box::new);
    doc.plain = reading.plain;
    Ok(doc)
}

/// Like [`build_document`] for a text whose whole typed view is already known (a patched
/// document, read back by the patcher's check).
pub fn build_document_with_value(
    index: usize,
    marker: &str,
    body: String,
    value: Value,
) -> Result<Document, Error> {
    assemble(provisional(index, marker, body.into()), value, false)
}

fn provisional(index: usize, marker: &str, body: Text) -> Document {
    Document {
        index,
        marker: Marker::of(marker),
        source: split::helm3_source(&body).map(intern),
        text: body,
        value: Value::Null,
        partial: false,
        objects: Box::default(),
        duplicate_key: None,
        plain: false,
    }
}

/// Checks the view is a Kubernetes object (or a List of them) and records its objects.
fn assemble(provisional: Document, value: Value, partial: bool) -> Result<Document, Error> {
    let index = provisional.index;
    // The span tree is built only for documents a rule patches (src/yaml/edit.rs), by the
    // readers the typed view came from: the line reader for block-structured documents,
    // granit-parser events for the rest (serde-saphyr, which reads what the fast readers
    // decline, sits on granit-parser too), so a document the view accepts builds a tree.
    // Debug builds compare both with serde-saphyr's reading (src/yaml/agree.rs).
    let mut doc = Document {
        value,
        partial,
        ..provisional
    };
    if doc.value.is_null() {
        return Ok(doc);
    }
    // The label names the document in errors only: made when one is reported.
    let label = || doc.label();
    check_object(&label, &doc.value, "")?;
    let mut objects = Vec::new();
    collect_objects(
        &label,
        index,
        &doc.source,
        &doc.value,
        Path::root(),
        "",
        0,
        &mut objects,
    )?;
    doc.objects = objects.into_boxed_slice();
    Ok(doc)
}

/// What a field must be, for [`check_shapes`].
#[derive(Clone, Copy)]
enum Shape {
    Mapping,
    Sequence,
}

/// What YAML read a value as, for an error message: `a number`, `a mapping`, ….
fn what_yaml_reads(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a sequence",
        Value::Object(_) => "a mapping",
    }
}

/// Checks that `v[key]` (at `path`) is absent, null or of `shape`.
fn check_shape(
    label: &dyn Fn() -> String,
    parent: &Value,
    key: &str,
    path: &str,
    shape: Shape,
) -> Result<(), Error> {
    let ok = matches!(
        (parent.key(key), shape),
        (None | Some(Value::Null), _)
            | (Some(Value::Object(_)), Shape::Mapping)
            | (Some(Value::Array(_)), Shape::Sequence)
    );
    if ok {
        return Ok(());
    }
    let found = parent.key(key).map_or("null", what_yaml_reads);
    let want = match shape {
        Shape::Mapping => "a mapping",
        Shape::Sequence => "a sequence",
    };
    Err(Error::Field {
        doc: label(),
        path: path.to_string(),
        message: format!(
            "must be {want}, but it is {found} (Kubernetes rejects the object; the hardening \
             rules cannot read it)"
        ),
    })
}

/// Checks the `labels` and `annotations` of the ObjectMeta `md` (at `path`): a mapping whose
/// values are strings, as the API server reads them (`map[string]string`; a null is an empty
/// string). The rules read labels to decide which pods a Service, a selector or a generated
/// policy selects: a number or boolean there (`version: 1.0`, `canary: true` unquoted) is an
/// input error naming the field, never a label read differently from the API server.
fn check_meta_maps(
    label: &dyn Fn() -> String,
    md: &Value,
    path: &dyn Fn() -> String,
) -> Result<(), Error> {
    if !md.is_object() {
        return Ok(());
    }
    // (The paths are written only for an error: every object of the stream passes here.)
    for key in ["labels", "annotations"] {
        let m = match md.key(key) {
            None | Some(Value::Null) => continue,
            Some(Value::Object(m)) => m,
            Some(_) => {
                return check_shape(label, md, key, &format!("{}.{key}", path()), Shape::Mapping)
            }
        };
        for (k, v) in m.iter() {
            if matches!(v, Value::String(_) | Value::Null) {
                continue;
            }
            let found = what_yaml_reads(v);
            // A key as a label key is written (`prefix/name`), else only its length.
            let shown = match k.split_once('/') {
                Some((prefix, name))
                    if crate::names::name_like(prefix) && crate::names::name_like(name) =>
                {
                    k.to_string()
                }
                _ => crate::names::shown_name(k),
            };
            let seg = Path::root().key(&shown).to_string();
            let at = format!("{}.{key}", path());
            return Err(Error::Field {
                doc: label(),
                path: if seg.starts_with('[') {
                    format!("{at}{seg}")
                } else {
                    format!("{at}.{seg}")
                },
                message: format!(
                    "must be a string, but YAML reads it as {found} (Kubernetes rejects the \
                     object; quote it)"
                ),
            });
        }
    }
    Ok(())
}

/// Checks the shape of the pod-template fields the rules read (containers and their
/// security contexts, ports, env, volume mounts; the pod's security context and volumes):
/// a field of the wrong shape is an input error naming it, never silently skipped.
fn check_shapes(label: &dyn Fn() -> String, v: &Value, at: &str) -> Result<(), Error> {
    let kind = v.key("kind").and_then(Value::as_str).unwrap_or_default();
    let Some(tp) = crate::inventory::pod_template_path(kind) else {
        return Ok(());
    };
    let prefix = dotted(at);
    // Walk to the template, checking each step is a mapping.
    let tp_text = tp.to_string();
    let mut cur = v;
    let mut walked = String::new();
    for seg in tp_text.split('.').filter(|s| !s.is_empty()) {
        let path = format!("{prefix}{walked}{seg}");
        check_shape(label, cur, seg, &path, Shape::Mapping)?;
        let Some(next) = cur.key(seg).filter(|n| n.is_object()) else {
            return Ok(());
        };
        cur = next;
        walked.push_str(seg);
        walked.push('.');
    }
    if let Some(md) = cur.key("metadata") {
        check_meta_maps(label, md, &|| format!("{prefix}{walked}metadata"))?;
    }
    let spec_path = format!("{prefix}{walked}spec");
    check_shape(label, cur, "spec", &spec_path, Shape::Mapping)?;
    let Some(spec) = cur.key("spec").filter(|n| n.is_object()) else {
        return Ok(());
    };
    check_shape(
        label,
        spec,
        "securityContext",
        &format!("{spec_path}.securityContext"),
        Shape::Mapping,
    )?;
    check_shape(
        label,
        spec,
        "volumes",
        &format!("{spec_path}.volumes"),
        Shape::Sequence,
    )?;
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        let list_path = format!("{spec_path}.{list}");
        check_shape(label, spec, list, &list_path, Shape::Sequence)?;
        let Some(Value::Array(cs)) = spec.key(list) else {
            continue;
        };
        for (i, c) in cs.iter().enumerate() {
            let c_path = format!("{list_path}[{i}]");
            if !c.is_object() {
                return Err(Error::Field {
                    doc: label(),
                    path: c_path,
                    message: "must be a mapping (a container), but it is not (Kubernetes \
                              rejects the object; the hardening rules cannot read it)"
                        .into(),
                });
            }
            check_shape(
                label,
                c,
                "securityContext",
                &format!("{c_path}.securityContext"),
                Shape::Mapping,
            )?;
            for field in ["ports", "env", "envFrom", "volumeMounts"] {
                check_shape(
                    label,
                    c,
                    field,
                    &format!("{c_path}.{field}"),
                    Shape::Sequence,
                )?;
            }
            if let Some(sc) = c.key("securityContext").filter(|n| n.is_object()) {
                check_shape(
                    label,
                    sc,
                    "capabilities",
                    &format!("{c_path}.securityContext.capabilities"),
                    Shape::Mapping,
                )?;
            }
        }
    }
    Ok(())
}

/// True for a List kind: `List`, or `…List` with `items` (`ConfigMapList`).
fn is_list(v: &Value) -> bool {
    let kind = v.key("kind").and_then(Value::as_str).unwrap_or_default();
    kind == "List" || (kind.ends_with("List") && v.key("items").is_some())
}

/// Lists nest at most this deep (a List of Lists of objects is 2).
const MAX_LIST_DEPTH: usize = 8;

/// Records the object `v` at `base` (already checked by [`check_object`]), or, for a List,
/// each of its items: a List inside a List is read like kubectl reads it, its items are
/// objects like any other (`items[0].items[1]`).
#[allow(clippy::too_many_arguments)]
fn collect_objects(
    label: &dyn Fn() -> String,
    index: usize,
    source: &Option<Str>,
    v: &Value,
    base: Path,
    at: &str,
    depth: usize,
    objects: &mut Vec<Object>,
) -> Result<(), Error> {
    if !is_list(v) {
        check_name(label, v, at)?;
        if let Some(md) = v.key("metadata") {
            check_meta_maps(label, md, &|| format!("{}metadata", dotted(at)))?;
        }
        check_shapes(label, v, at)?;
        objects.push(Object::new(base, resource_of(index, v, source)));
        return Ok(());
    }
    match v.key("items") {
        Some(Value::Array(items)) => {
            if depth >= MAX_LIST_DEPTH {
                return Err(Error::NotAnObject {
                    doc: label(),
                    message: format!(
                        "{at}Lists nest more than {MAX_LIST_DEPTH} deep; refusing to read them"
                    ),
                });
            }
            for (i, item) in items.iter().enumerate() {
                let item_at = format!("{}items[{i}] ", dotted(at));
                check_object(label, item, &item_at)?;
                collect_objects(
                    label,
                    index,
                    source,
                    item,
                    base.key("items").index(i),
                    &item_at,
                    depth + 1,
                    objects,
                )?;
            }
            Ok(())
        }
        None | Some(Value::Null) => Ok(()),
        Some(_) => Err(Error::NotAnObject {
            doc: label(),
            message: format!("{at}field `items` of a List must be a sequence"),
        }),
    }
}

/// `items[0] ` as the prefix of a field path (`items[0].`); `""` stays `""`.
fn dotted(at: &str) -> String {
    if at.is_empty() {
        String::new()
    } else {
        format!("{}.", at.trim_end())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sizes the memory figures of the README rely on (64-bit targets): an object in the
    /// allocator's 128-byte class with its reference counts, a document in 104 bytes, a
    /// finding's resource one pointer.
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn layout_sizes() {
        use std::mem::size_of;
        assert!(
            size_of::<ObjectData>() + 16 <= 128,
            "{}",
            size_of::<ObjectData>()
        );
        assert_eq!(size_of::<Document>(), 104);
        assert_eq!(size_of::<crate::finding::Resource>(), 8);
        assert_eq!(size_of::<crate::inventory::Labels>(), 24);
    }

    const CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: things.example.com
spec:
  group: example.com
  names:
    plural: things
  versions:
  - name: v1
    schema:
      openAPIV3Schema:
        type: object
"#;

    #[test]
    fn crd_schemas_are_pruned_from_the_view_but_kept_in_full_value() {
        let d = build_document(0, "", CRD).unwrap();
        assert!(d.partial);
        assert!(d.value.ptr("/spec/versions/0/schema").is_none());
        assert_eq!(d.value.ptr("/spec/names/plural").unwrap(), "things");
        let full = d.full_value().unwrap();
        assert_eq!(
            full.ptr("/spec/versions/0/schema/openAPIV3Schema/type")
                .unwrap(),
            "object"
        );
        // Another kind with the same shape is read whole.
        let other = CRD.replace("kind: CustomResourceDefinition", "kind: Thing");
        let d = build_document(0, "", &other).unwrap();
        assert!(!d.partial);
        assert!(d.value.ptr("/spec/versions/0/schema").is_some());
    }

    #[test]
    fn invalid_yaml_inside_a_pruned_schema_is_still_an_error() {
        let bad = CRD.replace("type: object", "type: [object");
        let e = build_document(2, "---", &bad).unwrap_err().to_string();
        assert!(e.contains("document 3"), "{e}");
    }

    #[test]
    fn configmap_and_secret_data_are_pruned_but_read_whole_on_request() {
        let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  labels: {a: b}\n\
data:\n  URL: http://api:80\nbinaryData:\n  b: AAA=\n";
        let d = build_document(0, "", cm).unwrap();
        assert!(d.partial);
        assert_eq!(d.value.key("data"), None);
        assert_eq!(d.value.key("binaryData"), None);
        assert_eq!(d.value.ptr("/metadata/labels/a").unwrap(), "b");
        let full = d.full_object_value(&d.objects[0]);
        assert_eq!(full.ptr("/data/URL").unwrap(), "http://api:80");
        assert_eq!(full.ptr("/binaryData/b").unwrap(), "AAA=");

        let secret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ntype: Opaque\n\
data:\n  k: eA==\nstringData:\n  p: x\n";
        let d = build_document(0, "", secret).unwrap();
        assert!(d.partial);
        assert_eq!(d.value.key("data"), None);
        assert_eq!(d.value.key("stringData"), None);
        assert_eq!(d.value.key("type").unwrap(), "Opaque");
        assert_eq!(d.full_value().unwrap().ptr("/stringData/p").unwrap(), "x");

        // Only the data keys of those kinds: a ConfigMap without data, and another kind's
        // `data`, are read whole.
        let d = build_document(
            0,
            "",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: e}\n",
        )
        .unwrap();
        assert!(!d.partial);
        let other = cm.replace("kind: ConfigMap", "kind: Thing");
        let d = build_document(0, "", &other).unwrap();
        assert!(!d.partial);
        assert_eq!(d.value.ptr("/data/URL").unwrap(), "http://api:80");
        // A repeated key inside pruned data is still found.
        let twice = cm.replace("  URL: http://api:80\n", "  URL: a\n  URL: b\n");
        let d = build_document(0, "", &twice).unwrap();
        assert!(
            d.duplicate_key.is_some_and(|k| k.contains("URL")),
            "{twice}"
        );
    }
}

#[cfg(test)]
mod parallel_tests {
    use super::*;

    /// A stream large enough to parse on several threads reads exactly like its documents
    /// parsed one by one, and its first bad document (in stream order) is the one reported.
    #[test]
    fn large_streams_parse_like_small_ones_and_report_the_first_error() {
        let doc = |i: usize| {
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c{i}\ndata:\n  k: \"{}\"\n",
                "x".repeat(i % 700)
            )
        };
        let mut text = String::new();
        for i in 0..2000 {
            text.push_str("---\n");
            text.push_str(&doc(i));
        }
        assert!(text.len() > crate::par::PARALLEL_BYTES);
        let s = parse_stream(text.as_bytes()).unwrap();
        assert_eq!(s.docs.len(), 2000);
        for (i, d) in s.docs.iter().enumerate() {
            assert_eq!(d.index, i);
            assert!(d.text.ends_with(&doc(i)), "{}", d.text);
            let one = build_document(i, &d.marker, &d.text).unwrap();
            assert_eq!(d.value, one.value);
            assert_eq!(d.objects.len(), 1);
        }
        let bad = text
            .replacen("name: c1500\n", "name: [c1500\n", 1)
            .replacen("name: c700\n", "name: [c700\n", 1);
        let e = parse_stream(bad.as_bytes()).unwrap_err().to_string();
        assert!(e.contains("document 701"), "{e}");
    }
}
