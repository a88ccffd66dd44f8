//! `chart-harden export flux`: the changes chart-harden would make, as a Flux HelmRelease
//! `spec.postRenderers[].kustomize` block.
//!
//! Flux's helm-controller only runs kustomize post-renderers, so the hardening is exported:
//!
//! * every changed object becomes one JSON6902 patch (`patches: [{target, patch}]`), the
//!   exact diff of its JSON view before and after hardening ([`super::json_patch`]);
//! * pinned images become `images:` entries (`name`, `newTag`, `digest`) when kustomize's
//!   image transformer would give exactly chart-harden's result for every container of that
//!   image name in the stream; otherwise the pin stays in the object's patch;
//! * generated objects (NetworkPolicy, PodDisruptionBudget, …) cannot be added by a
//!   post-renderer: they are exported as a separate kustomization (`generated/`) for a Flux
//!   `Kustomization`.
//!
//! Applying the exported patches and images with kustomize to the rendered chart gives the
//! same objects as chart-harden's own output (tests/flux.rs checks that with the real
//! `kubectl kustomize`).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

use crate::yaml::Value;

use super::json_patch;
use crate::document::{Document, Object, Stream};
use crate::error::Error;
use crate::pipeline::Outcome;
use crate::yaml::view::ValueExt;

/// A kustomize patch target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// API group (empty for the core group).
    pub group: String,
    /// API version.
    pub version: String,
    /// Kind.
    pub kind: String,
    /// Name.
    pub name: String,
    /// Namespace, when the object sets one.
    pub namespace: Option<String>,
}

/// One JSON6902 patch.
#[derive(Debug, Clone)]
pub struct Patch {
    /// Which object.
    pub target: Target,
    /// RFC 6902 operations.
    pub ops: Vec<serde_json::Value>,
    /// Template file, for a comment.
    pub source: Option<String>,
}

/// One kustomize `images:` entry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ImageEntry {
    /// Image name as written (no tag, no digest).
    pub name: String,
    /// Tag kept in front of the digest.
    pub new_tag: String,
    /// `sha256:…`.
    pub digest: String,
}

/// Everything `export flux` writes.
#[derive(Debug, Clone, Default)]
pub struct FluxExport {
    /// Patches, in stream order.
    pub patches: Vec<Patch>,
    /// Image digests.
    pub images: Vec<ImageEntry>,
    /// Generated documents, as chart-harden emits them (marker and text).
    pub generated: Vec<String>,
}

/// `(name, tag, digest)` of an image reference as written.
fn split_image(r: &str) -> (String, Option<String>, Option<String>) {
    let (rest, digest) = match r.split_once('@') {
        Some((a, d)) => (a, Some(d.to_string())),
        None => (r, None),
    };
    let slash = rest.rfind('/').map_or(0, |i| i + 1);
    match rest[slash..].rfind(':') {
        Some(c) => (
            rest[..slash + c].to_string(),
            Some(rest[slash + c + 1..].to_string()),
            digest,
        ),
        None => (rest.to_string(), None, digest),
    }
}

/// Every `containers[i].image` / `initContainers[i].image` at any depth (the fields
/// kustomize's image transformer rewrites), as (JSON pointer, image).
fn container_images(v: &Value, path: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let p = format!("{path}/{}", json_patch::escape(k));
                if k == "containers" || k == "initContainers" {
                    if let Value::Array(items) = child {
                        for (i, c) in items.iter().enumerate() {
                            if let Some(img) = c.key("image").and_then(Value::as_str) {
                                out.push((format!("{p}/{i}/image"), img.to_string()));
                            }
                        }
                    }
                }
                container_images(child, &p, out);
            }
        }
        Value::Array(items) => {
            for (i, c) in items.iter().enumerate() {
                container_images(c, &format!("{path}/{i}"), out);
            }
        }
        _ => {}
    }
}

fn target_of(v: &Value) -> Target {
    let s = |p: &str| v.ptr(p).and_then(Value::as_str).unwrap_or_default();
    let (group, version) = match s("/apiVersion").rsplit_once('/') {
        Some((g, ver)) => (g.to_string(), ver.to_string()),
        None => (String::new(), s("/apiVersion").to_string()),
    };
    Target {
        group,
        version,
        kind: s("/kind").to_string(),
        name: s("/metadata/name").to_string(),
        namespace: v
            .ptr("/metadata/namespace")
            .and_then(Value::as_str)
            .map(str::to_string),
    }
}

/// The object `o` of document `d` as a whole value: a document whose typed view leaves out
/// pruned paths ([`Document::partial`]) is read whole when the other side of the comparison
/// is whole (a patched document), so that only real changes differ.
fn object_value<'a>(d: &'a Document, o: &Object, whole: bool) -> Result<Cow<'a, Value>, Error> {
    if !whole || !d.partial {
        return Ok(Cow::Borrowed(d.object_value(o)));
    }
    let v = d.full_value()?;
    Ok(Cow::Owned(
        o.base.lookup(&v).cloned().unwrap_or(Value::Null),
    ))
}

/// Builds the export from the parsed input and the outcome of hardening it.
pub fn export(original: &Stream, outcome: &Outcome) -> Result<FluxExport, Error> {
    let hardened = &outcome.stream;
    // (before, after, source) for every input object.
    let mut pairs: Vec<(Cow<'_, Value>, Cow<'_, Value>, Option<String>)> = Vec::new();
    for d in &original.docs {
        let Some(h) = hardened.docs.get(d.index) else {
            return Err(Error::Config(format!(
                "{}: missing from chart-harden's output (please report this)",
                d.label()
            )));
        };
        if h.objects.len() != d.objects.len() {
            return Err(Error::Config(format!(
                "{}: the number of objects changed while hardening (please report this)",
                d.label()
            )));
        }
        // Both sides pruned alike, or both whole.
        let whole = d.partial != h.partial;
        for (o, ho) in d.objects.iter().zip(&h.objects) {
            pairs.push((
                object_value(d, o, whole)?,
                object_value(h, ho, whole)?,
                o.resource.source.as_deref().map(String::from),
            ));
        }
    }

    // images: one entry per image name whose every container occurrence goes from
    // `name:tag` to `name:tag@digest` with the same tag and digest.
    let mut by_name: BTreeMap<String, Option<ImageEntry>> = BTreeMap::new();
    let mut pin_paths: Vec<(usize, String, String)> = Vec::new();
    for (i, (before, after, _)) in pairs.iter().enumerate() {
        let mut found = Vec::new();
        container_images(before, "", &mut found);
        for (ptr, img) in found {
            let (name, tag, digest) = split_image(&img);
            let after_img = after.ptr(&ptr).and_then(Value::as_str).unwrap_or("");
            let (a_name, a_tag, a_digest) = split_image(after_img);
            let entry = match (tag, digest, a_tag, a_digest) {
                (Some(t), None, Some(at), Some(ad)) if a_name == name && at == t => {
                    Some(ImageEntry {
                        name: name.clone(),
                        new_tag: t,
                        digest: ad,
                    })
                }
                _ => None,
            };
            let slot = by_name.entry(name.clone()).or_insert_with(|| entry.clone());
            if *slot != entry {
                *slot = None;
            }
            pin_paths.push((i, ptr, name));
        }
    }
    let images: Vec<ImageEntry> = by_name.values().flatten().cloned().collect();

    let mut patches = Vec::new();
    for (i, (before, after, source)) in pairs.iter().enumerate() {
        if before == after {
            continue;
        }
        let covered: Vec<&str> = pin_paths
            .iter()
            .filter(|(j, _, name)| *j == i && matches!(by_name.get(name), Some(Some(_))))
            .map(|(_, p, _)| p.as_str())
            .collect();
        let ops: Vec<serde_json::Value> = json_patch::diff(&before.to_json(), &after.to_json())
            .into_iter()
            .filter(|op| {
                !(op["op"] == "replace"
                    && op["path"].as_str().is_some_and(|p| covered.contains(&p)))
            })
            .collect();
        if !ops.is_empty() {
            patches.push(Patch {
                target: target_of(after),
                ops,
                source: source.clone(),
            });
        }
    }
    let generated = hardened.docs[original.docs.len().min(hardened.docs.len())..]
        .iter()
        .map(|d| {
            format!(
                "{}{}",
                if d.marker.is_empty() {
                    "---"
                } else {
                    &d.marker
                },
                d.text
            )
        })
        .collect();
    Ok(FluxExport {
        patches,
        images,
        generated,
    })
}

fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

impl FluxExport {
    /// The `postRenderers:` block (YAML), to paste under a HelmRelease's `spec:`.
    pub fn postrenderers_yaml(&self) -> String {
        let mut s = String::from(
            "# Generated by `chart-harden export flux`: chart-harden's hardening as a Flux\n\
             # HelmRelease post-renderer. Paste under the HelmRelease's `spec:`.\n",
        );
        if !self.generated.is_empty() {
            s.push_str(&format!(
                "# {} generated object(s) cannot be added by a post-renderer: apply them with a\n\
                 # separate Flux Kustomization (see generated/).\n",
                self.generated.len()
            ));
        }
        if self.patches.is_empty() && self.images.is_empty() {
            s.push_str("postRenderers: []\n");
            return s;
        }
        s.push_str("postRenderers:\n  - kustomize:\n");
        if !self.patches.is_empty() {
            s.push_str("      patches:\n");
            for p in &self.patches {
                let t = &p.target;
                s.push_str(&format!(
                    "        # {}/{}{}\n",
                    crate::names::comment_safe(&t.kind),
                    crate::names::comment_safe(&t.name),
                    p.source
                        .as_deref()
                        .map(|f| format!(" ({})", crate::names::comment_safe(f)))
                        .unwrap_or_default()
                ));
                s.push_str("        - target:\n");
                if !t.group.is_empty() {
                    s.push_str(&format!("            group: {}\n", q(&t.group)));
                }
                s.push_str(&format!("            version: {}\n", q(&t.version)));
                s.push_str(&format!("            kind: {}\n", q(&t.kind)));
                s.push_str(&format!("            name: {}\n", q(&t.name)));
                if let Some(ns) = &t.namespace {
                    s.push_str(&format!("            namespace: {}\n", q(ns)));
                }
                s.push_str("          patch: |\n");
                for op in &p.ops {
                    s.push_str(&format!("            - {op}\n"));
                }
            }
        }
        if !self.images.is_empty() {
            s.push_str("      images:\n");
            for i in &self.images {
                s.push_str(&format!(
                    "        - name: {}\n          newTag: {}\n          digest: {}\n",
                    q(&i.name),
                    q(&i.new_tag),
                    q(&i.digest)
                ));
            }
        }
        s
    }

    /// `generated/kustomization.yaml`.
    pub fn generated_kustomization(&self) -> String {
        "# Generated by `chart-harden export flux`: objects chart-harden adds to the release.\n\
         # Point a Flux Kustomization (spec.path) at this directory.\n\
         apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - resources.yaml\n"
            .to_string()
    }

    /// `generated/resources.yaml`: the generated objects, byte for byte as chart-harden emits them.
    pub fn generated_resources(&self) -> String {
        let mut s = String::new();
        for g in &self.generated {
            if !s.is_empty() && !s.ends_with('\n') {
                s.push('\n');
            }
            s.push_str(g);
        }
        s
    }

    /// Writes `postrenderers.yaml` and, when there are generated objects,
    /// `generated/kustomization.yaml` and `generated/resources.yaml` under `dir`.
    /// Returns the files written.
    pub fn write_dir(&self, dir: &Path) -> Result<Vec<std::path::PathBuf>, Error> {
        let io = |p: &Path| {
            let p = p.display().to_string();
            move |source| Error::Io { path: p, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let mut written = Vec::new();
        let pr = dir.join("postrenderers.yaml");
        crate::atomic::write(&pr, self.postrenderers_yaml().as_bytes()).map_err(io(&pr))?;
        written.push(pr);
        let gen_dir = dir.join("generated");
        if self.generated.is_empty() {
            // Do not leave a stale kustomization from an earlier export behind.
            for f in ["kustomization.yaml", "resources.yaml"] {
                let _ = std::fs::remove_file(gen_dir.join(f));
            }
            let _ = std::fs::remove_dir(&gen_dir);
        } else {
            std::fs::create_dir_all(&gen_dir).map_err(io(&gen_dir))?;
            let k = gen_dir.join("kustomization.yaml");
            crate::atomic::write(&k, self.generated_kustomization().as_bytes()).map_err(io(&k))?;
            let r = gen_dir.join("resources.yaml");
            crate::atomic::write(&r, self.generated_resources().as_bytes()).map_err(io(&r))?;
            written.extend([k, r]);
        }
        Ok(written)
    }

    /// What goes to stdout without `--out`: the postRenderers block, then the generated
    /// objects as further YAML documents.
    pub fn stdout_stream(&self) -> String {
        let mut s = self.postrenderers_yaml();
        if !self.generated.is_empty() {
            s.push_str(
                "# Generated objects follow: apply them with a separate Flux Kustomization\n\
                 # (`--out DIR` writes them as DIR/generated/).\n",
            );
            let r = self.generated_resources();
            if !r.starts_with("---") {
                s.push_str("---\n");
            }
            s.push_str(&r);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_image_handles_ports_tags_and_digests() {
        assert_eq!(
            split_image("nginx:1.25"),
            ("nginx".into(), Some("1.25".into()), None)
        );
        assert_eq!(
            split_image("reg:5000/a/b"),
            ("reg:5000/a/b".into(), None, None)
        );
        assert_eq!(
            split_image("reg:5000/a/b:v1@sha256:ab"),
            (
                "reg:5000/a/b".into(),
                Some("v1".into()),
                Some("sha256:ab".into())
            )
        );
    }

    #[test]
    fn container_images_finds_nested_pod_templates() {
        let v = view!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {
            "initContainers": [{"name": "i", "image": "busybox:1"}],
            "containers": [{"name": "c", "image": "nginx:1"}]}}}}}});
        let mut out = Vec::new();
        container_images(&v, "", &mut out);
        let paths: Vec<&str> = out.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/spec/jobTemplate/spec/template/spec/initContainers/0/image",
                "/spec/jobTemplate/spec/template/spec/containers/0/image"
            ]
        );
    }
}
