//! SARIF 2.1.0 report, for GitHub code scanning and other SARIF consumers.
//!
//! One run, `tool.driver` = chart-harden with every rule (plus the Pod Security checks a
//! `check` report refers to, as `PSS/<check>`). Each result carries the rule id, level
//! (`error`/`warning`/`note`; `none` with `kind: pass` for a finding whose fix was applied),
//! the message (with the suggestion), a physical location whose artifact is the chart
//! template the resource came from (Helm 4's `postrenderer.helm.sh/postrender-filename`
//! annotation or Helm 3's `# Source:` line; `rendered/<kind>-<name>.yaml` when neither is
//! there), a logical location `Kind/namespace/name:field.path`, and the fix state in
//! `properties`.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::finding::{Finding, FixState, ResourceRef, Severity};
use crate::pipeline::Outcome;
use crate::rules::{self, RuleMeta};

use super::check::{rules_for_check, CheckReport};

/// The SARIF schema URI written in `$schema`.
pub const SARIF_SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

/// Percent-encodes what may not appear in a URI reference path.
fn uri_path(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/!$&'()*+,;=:@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The artifact URI of a resource: its template file, or a synthetic rendered path.
pub fn artifact_uri(r: &ResourceRef) -> String {
    match r.source.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => uri_path(s.trim_start_matches('/')),
        None => uri_path(&format!(
            "rendered/{}-{}.yaml",
            if r.kind.is_empty() {
                "object".to_string()
            } else {
                r.kind.to_ascii_lowercase()
            },
            if r.name.is_empty() {
                "unnamed"
            } else {
                &r.name
            }
        )),
    }
}

fn fully_qualified(r: &ResourceRef, path: &str) -> String {
    let ns = r.namespace.as_deref().unwrap_or("");
    format!("{}/{}/{}:{}", r.kind, ns, r.name, path)
}

fn fingerprint(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    h.finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn rule_descriptor(m: &RuleMeta) -> Value {
    json!({
        "id": m.code,
        "name": m.name,
        "shortDescription": {"text": m.summary},
        "fullDescription": {"text": m.why},
        "help": {
            "text": format!("{}\n\nFix: {} — {}\n\nExample:\n{}\n\nOptions: {}", m.summary, m.fix.as_str(), m.fix_notes, m.example, m.options),
            "markdown": format!("{}\n\n**Fix ({})**: {}\n\n```yaml\n{}\n```\n\nOptions: {}", m.summary, m.fix.as_str(), m.fix_notes, m.example, m.options),
        },
        "defaultConfiguration": {"level": level(m.severity), "enabled": m.default_enabled},
        "properties": {"group": m.group, "fix": m.fix.as_str(), "tags": ["kubernetes", "helm", m.group]},
    })
}

fn pss_descriptor(check: &str, lvl: chart_harden_pss::Level) -> Value {
    let explained: Vec<&str> = rules_for_check(check).to_vec();
    json!({
        "id": format!("PSS/{check}"),
        "name": check,
        "shortDescription": {"text": format!("Pod Security Standards ({lvl}) check `{check}`")},
        "fullDescription": {"text": format!("The {lvl} Pod Security Standard's `{check}` check, evaluated with the semantics of the Kubernetes Pod Security Admission controller.")},
        "help": {"text": if explained.is_empty() {
            format!("No chart-harden rule fixes `{check}`: change the chart's values or template, or run the workload in a namespace with a lower Pod Security level.")
        } else {
            format!("Fixed by {} when their fixes apply; when a violation remains, the result names the finding that explains why.", explained.join(", "))
        }},
        "defaultConfiguration": {"level": "error"},
        "properties": {"group": "pod-security-standards", "tags": ["kubernetes", "pod-security", lvl.as_str()]},
    })
}

struct Builder {
    rules: Vec<Value>,
    index: BTreeMap<String, usize>,
    results: Vec<Value>,
}

impl Builder {
    fn new() -> Builder {
        let mut b = Builder {
            rules: Vec::new(),
            index: BTreeMap::new(),
            results: Vec::new(),
        };
        for r in rules::all() {
            let m = r.meta();
            b.index.insert(m.code.to_string(), b.rules.len());
            b.rules.push(rule_descriptor(m));
        }
        b
    }

    fn rule_index(&mut self, id: &str, make: impl FnOnce() -> Value) -> usize {
        if let Some(i) = self.index.get(id) {
            return *i;
        }
        let i = self.rules.len();
        self.rules.push(make());
        self.index.insert(id.to_string(), i);
        i
    }

    fn locations(r: &ResourceRef, path: &str) -> Value {
        json!([{
            "physicalLocation": {"artifactLocation": {"uri": artifact_uri(r)}},
            "logicalLocations": [{
                "name": if path.is_empty() { r.name.to_string() } else { path.to_string() },
                "fullyQualifiedName": fully_qualified(r, path),
                "kind": "resource",
            }],
        }])
    }

    fn finding(&mut self, f: &Finding) {
        let idx = match self.index.get(f.rule) {
            Some(i) => *i,
            None => self.rule_index(f.rule, || json!({"id": f.rule, "name": f.rule_name})),
        };
        let mut text = f.message.to_string();
        if let Some(s) = &f.suggestion {
            text.push_str(". Suggestion: ");
            text.push_str(s);
        }
        let mut props = Map::new();
        props.insert("resource".into(), json!(f.resource.display()));
        props.insert("field".into(), json!(f.path));
        props.insert("document".into(), json!(f.resource.doc));
        props.insert(
            "fix".into(),
            serde_json::to_value(&f.fix).unwrap_or(Value::Null),
        );
        let mut result = json!({
            "ruleId": f.rule,
            "ruleIndex": idx,
            "message": {"text": text},
            "locations": Self::locations(&f.resource, &f.path),
            "partialFingerprints": {"chartHardenFinding/v1": fingerprint(&[f.rule, &f.resource.display(), &f.path])},
            "properties": Value::Object(props),
        });
        if matches!(f.fix, FixState::Applied { .. }) {
            result["kind"] = json!("pass");
            result["level"] = json!("none");
        } else {
            result["level"] = json!(level(f.severity));
        }
        self.results.push(result);
    }

    fn finish(self) -> String {
        let doc = json!({
            "$schema": SARIF_SCHEMA,
            "version": "2.1.0",
            "runs": [{
                "tool": {"driver": {
                    "name": "chart-harden",
                    "version": env!("CARGO_PKG_VERSION"),
                    "semanticVersion": env!("CARGO_PKG_VERSION"),
                    "rules": self.rules,
                }},
                "columnKind": "unicodeCodePoints",
                "results": self.results,
            }],
        });
        let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
        s.push('\n');
        s
    }
}

/// SARIF for a hardening run: every finding (applied fixes as `kind: pass`).
pub fn render(o: &Outcome) -> String {
    render_with_input(o, None)
}

/// The input stream a hardening run read, for regions: its text and the URI it goes by
/// in SARIF (the input file, or `rendered.yaml` for stdin).
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// The whole input stream.
    pub text: &'a str,
    /// Its SARIF artifact URI.
    pub uri: &'a str,
}

/// [`render`], with a region on every result: the line and column, in the input stream,
/// of the field the finding is about, or of its nearest ancestor the input has (a field a
/// fix adds is located at the mapping it is added to). The region goes on a
/// `relatedLocations` entry whose artifact is the rendered stream; the result's own
/// location stays the chart template, whose lines Helm's templating shifts.
pub fn render_with_input(o: &Outcome, input: Option<Input<'_>>) -> String {
    let mut b = Builder::new();
    let mut positions = input.map(StreamPositions::new);
    for f in &o.findings {
        b.finding(f);
        if let (Some(p), Some(r)) = (positions.as_mut(), b.results.last_mut()) {
            add_region(r, p, &f.resource, &f.path);
        }
    }
    b.finish()
}

/// Appends the stream location (with its region) of `resource`'s field `path` to a result's
/// `relatedLocations`.
fn add_region(result: &mut Value, p: &mut StreamPositions<'_>, resource: &ResourceRef, path: &str) {
    let Some((line, col)) = p.locate(resource.doc, path) else {
        return;
    };
    if !result["relatedLocations"].is_array() {
        result["relatedLocations"] = json!([]);
    }
    if let Some(related) = result["relatedLocations"].as_array_mut() {
        related.push(json!({
            "id": related.len(),
            "message": {"text": format!("the field in the rendered stream (document {})", resource.doc + 1)},
            "physicalLocation": {
                "artifactLocation": {"uri": uri_path(p.uri)},
                "region": {"startLine": line, "startColumn": col},
            },
        }));
    }
}

/// Finds the line and column of a field in the input stream.
struct StreamPositions<'a> {
    text: &'a str,
    uri: &'a str,
    /// Offset of the text after a BOM.
    skip: usize,
    segs: Vec<crate::yaml::split::Segment>,
    /// Byte offset of every line start.
    line_starts: Vec<usize>,
    trees: BTreeMap<usize, Option<crate::yaml::tree::Node>>,
}

impl<'a> StreamPositions<'a> {
    fn new(input: Input<'a>) -> Self {
        let body = input.text.strip_prefix('\u{feff}').unwrap_or(input.text);
        let skip = input.text.len() - body.len();
        let mut line_starts = vec![0];
        line_starts.extend(memchr::memchr_iter(b'\n', input.text.as_bytes()).map(|i| i + 1));
        StreamPositions {
            text: input.text,
            uri: input.uri,
            skip,
            segs: crate::yaml::split::split(body),
            line_starts,
            trees: BTreeMap::new(),
        }
    }

    /// 1-based (line, column in characters) of the field at `path` of document `doc`, or of
    /// its nearest ancestor; the document's first line when nothing else is found.
    fn locate(&mut self, doc: usize, path: &str) -> Option<(usize, usize)> {
        let seg = self.segs.get(doc)?;
        let start = seg.text.start + self.skip;
        let doc_text = &self.text[start..seg.text.end + self.skip];
        let tree = self
            .trees
            .entry(doc)
            .or_insert_with(|| crate::yaml::tree::build(doc_text).ok().flatten());
        let mut offset = doc_text.len() - doc_text.trim_start().len();
        if let Some(root) = tree.as_ref() {
            offset = root.start();
            let mut cur = root;
            for step in parse_path(path) {
                match (&cur.kind, &step) {
                    (
                        crate::yaml::tree::NodeKind::Map { entries, .. },
                        crate::yaml::path::Seg::Key(k),
                    ) => {
                        match entries
                            .iter()
                            .rev()
                            .find(|(key, _)| key.scalar(doc_text) == Some(&**k))
                        {
                            Some((key, value)) => {
                                offset = key.start();
                                cur = value;
                            }
                            None => break,
                        }
                    }
                    (
                        crate::yaml::tree::NodeKind::Seq { items, .. },
                        crate::yaml::path::Seg::Index(i),
                    ) => match items.get(*i) {
                        Some(item) => {
                            offset = item.start();
                            cur = item;
                        }
                        None => break,
                    },
                    _ => break,
                }
            }
        }
        let at = start + offset;
        let line = self.line_starts.partition_point(|&s| s <= at);
        let line_start = self.line_starts[line - 1];
        let col = self
            .text
            .get(line_start..at)
            .map_or(0, |s| s.chars().count())
            + 1;
        Some((line, col))
    }
}

/// Parses a finding's field path (`a.b[0]['c.d']`, as [`crate::yaml::path::Path`] writes it).
fn parse_path(path: &str) -> Vec<crate::yaml::path::Seg> {
    use crate::yaml::path::Seg;
    let mut out = Vec::new();
    let b = path.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'.' => i += 1,
            b'[' if b.get(i + 1) == Some(&b'\'') => {
                let mut key = String::new();
                let mut j = i + 2;
                while j < b.len() {
                    if b[j] == b'\\' && b.get(j + 1) == Some(&b'\'') {
                        key.push('\'');
                        j += 2;
                    } else if b[j] == b'\'' && b.get(j + 1) == Some(&b']') {
                        break;
                    } else {
                        let ch = path[j..].chars().next().unwrap_or_default();
                        key.push(ch);
                        j += ch.len_utf8();
                    }
                }
                out.push(Seg::Key(key.into()));
                i = j + 2;
            }
            b'[' => {
                let end = path[i..].find(']').map_or(b.len(), |e| i + e);
                match path[i + 1..end].parse() {
                    Ok(n) => out.push(Seg::Index(n)),
                    Err(_) => break,
                }
                i = end + 1;
            }
            _ => {
                let end = path[i..].find(['.', '[']).map_or(b.len(), |e| i + e);
                out.push(Seg::Key(path[i..end].into()));
                i = end;
            }
        }
    }
    out
}

/// SARIF for `check`: every Pod Security violation (with the findings that explain it) and
/// every finding that was not fixed.
pub fn render_check(r: &CheckReport) -> String {
    render_check_with_input(r, None)
}

/// [`render_check`] with regions in the input stream, as [`render_with_input`] (appended to
/// `relatedLocations`, after the explaining findings).
pub fn render_check_with_input(r: &CheckReport, input: Option<Input<'_>>) -> String {
    let mut b = Builder::new();
    let mut positions = input.map(StreamPositions::new);
    for v in &r.violations {
        let id = format!("PSS/{}", v.check);
        let idx = b.rule_index(&id, || pss_descriptor(v.check, v.level));
        let mut text = format!("{} ({} {})", v.message, v.level, v.check);
        if v.explained_by.is_empty() {
            text.push_str(". Not explained by any chart-harden finding.");
        } else {
            for e in &v.explained_by {
                text.push_str(&format!(
                    ". Explained by {} {}: {}",
                    e.rule, e.rule_name, e.reason
                ));
            }
        }
        let related: Vec<Value> = v
            .explained_by
            .iter()
            .enumerate()
            .map(|(i, e)| {
                json!({
                    "id": i,
                    "message": {"text": format!("{} {}: {}", e.rule, e.rule_name, e.reason)},
                    "physicalLocation": {"artifactLocation": {"uri": artifact_uri(&v.resource)}},
                    "logicalLocations": [{"fullyQualifiedName": fully_qualified(&v.resource, &e.path), "kind": "resource"}],
                })
            })
            .collect();
        let mut result = json!({
            "ruleId": id,
            "ruleIndex": idx,
            "level": "error",
            "message": {"text": text},
            "locations": Builder::locations(&v.resource, &v.path),
            "partialFingerprints": {"chartHardenPss/v1": fingerprint(&[v.check, &v.resource.display(), &v.path])},
            "properties": {
                "resource": v.resource.display(),
                "field": v.path,
                "level": v.level.as_str(),
                "pssVersion": r.version.to_string(),
                "explained": v.explained(),
                "explainedBy": v.explained_by,
            },
        });
        if !related.is_empty() {
            result["relatedLocations"] = Value::Array(related);
        }
        if let Some(p) = positions.as_mut() {
            add_region(&mut result, p, &v.resource, &v.path);
        }
        b.results.push(result);
    }
    for f in &r.findings {
        if !matches!(f.fix, FixState::Applied { .. }) {
            b.finding(f);
            if let (Some(p), Some(res)) = (positions.as_mut(), b.results.last_mut()) {
                add_region(res, p, &f.resource, &f.path);
            }
        }
    }
    b.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse_as_they_are_written() {
        use crate::yaml::path::{Path, Seg};
        let p = Path(vec![
            Seg::Key("spec".into()),
            Seg::Key("containers".into()),
            Seg::Index(2),
            Seg::Key("a.b/c'd".into()),
            Seg::Key("x".into()),
        ]);
        assert_eq!(parse_path(&p.to_string()), p.0);
        assert!(parse_path("").is_empty());
    }

    #[test]
    fn positions_point_at_the_key_or_the_nearest_ancestor() {
        let text = "# Source: a.yaml\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n---\nkind: Pod\nspec:\n  containers:\n  - name: c\n    image: x\n";
        let mut p = StreamPositions::new(Input {
            text,
            uri: "rendered.yaml",
        });
        assert_eq!(p.locate(0, "metadata.name"), Some((5, 3)));
        assert_eq!(p.locate(1, "spec.containers[0].image"), Some((11, 5)));
        // Not in the input: the nearest ancestor (the container).
        assert_eq!(
            p.locate(1, "spec.containers[0].securityContext.runAsNonRoot"),
            Some((10, 5))
        );
        assert_eq!(p.locate(1, ""), Some((7, 1)));
        assert_eq!(p.locate(5, "spec"), None);
    }

    #[test]
    fn artifact_uri_falls_back_and_escapes() {
        let mut r = ResourceRef {
            kind: "Deployment".into(),
            name: "web".into(),
            ..ResourceRef::default()
        };
        assert_eq!(artifact_uri(&r), "rendered/deployment-web.yaml");
        r.source = Some("my chart/templates/web deploy.yaml".into());
        assert_eq!(artifact_uri(&r), "my%20chart/templates/web%20deploy.yaml");
    }
}
