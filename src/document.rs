//! Parse stage: the input stream as documents, each with its bytes and its typed view.

use crate::yaml::view::ValueExt;
use serde_json::Value;

use crate::error::Error;
use crate::finding::ResourceRef;
use crate::yaml::{split, view, Path};

/// The annotation Helm 4 puts on every document it passes to a post-renderer.
pub const HELM4_FILENAME_ANNOTATION: &str = "postrenderer.helm.sh/postrender-filename";

/// One document of the input stream.
#[derive(Debug, Clone)]
pub struct Document {
    /// 0-based position in the stream.
    pub index: usize,
    /// The `---` marker bytes before the document (may be empty).
    pub marker: String,
    /// The document's bytes after the marker.
    pub text: String,
    /// The typed view (`Null` for an empty document).
    pub value: Value,
    /// Kubernetes objects in this document: the document itself, or each item of a `kind: List`.
    pub objects: Vec<Object>,
    /// Template file (Helm 4 annotation or Helm 3 `# Source:` comment).
    pub source: Option<String>,
}

/// One Kubernetes object inside a document.
#[derive(Debug, Clone)]
pub struct Object {
    /// Index of the document that holds it.
    pub doc: usize,
    /// Path of the object inside the document (root, or `items[i]` of a List).
    pub base: Path,
    /// Identity for reports.
    pub resource: ResourceRef,
}

impl Document {
    /// The object's JSON value.
    pub fn object_value<'a>(&'a self, o: &Object) -> &'a Value {
        o.base.lookup(&self.value).unwrap_or(&Value::Null)
    }

    /// A short label for messages: `document 3 (Deployment/web, templates/web.yaml)`.
    pub fn label(&self) -> String {
        let mut s = format!("document {}", self.index + 1);
        let kind = self.value.get("kind").and_then(Value::as_str);
        let name = self.value.ptr("/metadata/name").and_then(Value::as_str);
        let mut inner = Vec::new();
        if let Some(k) = kind {
            inner.push(format!("{k}/{}", name.unwrap_or("?")));
        }
        if let Some(src) = &self.source {
            inner.push(src.clone());
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

fn resource_of(doc: usize, v: &Value, source: &Option<String>) -> ResourceRef {
    ResourceRef {
        doc,
        api_version: str_at(v, "/apiVersion").unwrap_or_default().to_string(),
        kind: str_at(v, "/kind").unwrap_or_default().to_string(),
        namespace: str_at(v, "/metadata/namespace").map(str::to_string),
        name: str_at(v, "/metadata/name").unwrap_or_default().to_string(),
        source: v
            .ptr("/metadata/annotations")
            .and_then(|a| a.get(HELM4_FILENAME_ANNOTATION))
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| source.clone()),
    }
}

fn check_object(label: &str, v: &Value, at: &str) -> Result<(), Error> {
    let Some(m) = v.as_object() else {
        return Err(Error::NotAnObject {
            doc: label.to_string(),
            message: format!("{at}is not a mapping, so it is not a Kubernetes object"),
        });
    };
    for field in ["apiVersion", "kind"] {
        match m.get(field) {
            Some(Value::String(s)) if !s.is_empty() => {}
            Some(_) => {
                return Err(Error::NotAnObject {
                    doc: label.to_string(),
                    message: format!("{at}field `{field}` must be a non-empty string"),
                })
            }
            None => {
                return Err(Error::NotAnObject {
                    doc: label.to_string(),
                    message: format!("{at}has no `{field}`, so it is not a Kubernetes object"),
                })
            }
        }
    }
    if let Some(md) = m.get("metadata") {
        if !md.is_object() && !md.is_null() {
            return Err(Error::NotAnObject {
                doc: label.to_string(),
                message: format!("{at}field `metadata` must be a mapping"),
            });
        }
    }
    Ok(())
}

/// Reads the whole input: UTF-8 check, BOM, split, parse every document.
pub fn parse_stream(input: &[u8]) -> Result<Stream, Error> {
    let text = std::str::from_utf8(input).map_err(|e| utf8_error(input, e.valid_up_to()))?;
    let (bom, text) = match text.strip_prefix('\u{feff}') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let segs = split::split(text);
    let build = |index: usize| {
        let seg = &segs[index];
        build_document(index, &text[seg.marker.clone()], &text[seg.text.clone()])
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(8);
    if threads < 2 || text.len() < PARALLEL_PARSE_BYTES || segs.len() < 2 {
        let docs = (0..segs.len()).map(build).collect::<Result<_, _>>()?;
        return Ok(Stream { bom, docs });
    }
    // Documents parse independently: hand them out largest first to `threads` workers, each
    // taking the next one when done, so one huge CRD does not leave the other cores idle.
    let mut order: Vec<usize> = (0..segs.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(segs[i].text.len()));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut slots: Vec<Option<Result<Document, Error>>> = Vec::new();
    slots.resize_with(segs.len(), || None);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(&i) = order.get(k) else {
                            return done;
                        };
                        done.push((i, build(i)));
                    }
                })
            })
            .collect();
        for w in workers {
            // A worker only panics if parsing panicked: surface that as it is.
            for (i, r) in w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)) {
                slots[i] = Some(r);
            }
        }
    });
    // The first error in stream order is the one reported, as in a sequential parse.
    let docs = slots
        .into_iter()
        .map(|d| d.expect("every document was parsed"))
        .collect::<Result<_, _>>()?;
    Ok(Stream { bom, docs })
}

/// Streams smaller than this parse on one thread (spawning costs more than it saves).
const PARALLEL_PARSE_BYTES: usize = 256 * 1024;

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

/// Parses one document's text (checks it is a Kubernetes object, finds List items).
pub fn build_document(index: usize, marker: &str, body: &str) -> Result<Document, Error> {
    let source = split::helm3_source(body);
    let provisional = Document {
        index,
        marker: marker.to_string(),
        text: body.to_string(),
        value: Value::Null,
        objects: Vec::new(),
        source,
    };
    let value = view::parse(body).map_err(|message| Error::Yaml {
        doc: provisional.label(),
        message,
    })?;
    // The span tree is built only for documents a rule patches (src/yaml/edit.rs): both
    // readers sit on the same granit-parser, so a document the view accepts builds a tree.
    let mut doc = Document {
        value,
        ..provisional
    };
    if doc.value.is_null() {
        return Ok(doc);
    }
    let label = doc.label();
    check_object(&label, &doc.value, "")?;
    let kind = doc
        .value
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let is_list = kind == "List" || (kind.ends_with("List") && doc.value.get("items").is_some());
    if !is_list {
        doc.objects.push(Object {
            doc: index,
            base: Path::root(),
            resource: resource_of(index, &doc.value, &doc.source),
        });
        return Ok(doc);
    }
    match doc.value.get("items") {
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                check_object(&label, item, &format!("items[{i}] "))?;
                doc.objects.push(Object {
                    doc: index,
                    base: Path::root().key("items").index(i),
                    resource: resource_of(index, item, &doc.source),
                });
            }
        }
        None | Some(Value::Null) => {}
        Some(_) => {
            return Err(Error::NotAnObject {
                doc: label,
                message: "field `items` of a List must be a sequence".into(),
            })
        }
    }
    Ok(doc)
}
