//! Image facts: where the release writes image references ([`image_fields`]) and what the
//! registry or the lockfile says about each ([`ImageFacts`]).

use crate::yaml::Value;

use crate::config::Config;
use crate::document::Document;
use crate::inventory::Inventory;
use crate::yaml::Path;

/// Facts about an image learned from the registry or the lockfile.
#[derive(Debug, Clone, Default)]
pub struct ImageFacts {
    /// The pinned reference to write (`repo:tag@sha256:…`), if resolved.
    pub pinned: Option<String>,
    /// The digest.
    pub digest: Option<String>,
    /// Image config `User`, when read (`Some("")` = unset, i.e. root).
    pub user: Option<String>,
    /// Image config `Volumes`.
    pub volumes: Vec<String>,
    /// `registry`, `lockfile` or `cache`.
    pub source: String,
    /// Resolution error, when it failed (policy `warn`).
    pub error: Option<String>,
}

impl ImageFacts {
    /// The image's user as a numeric UID, when the image config says so (`"1000"`, `"1000:1000"`).
    pub fn numeric_uid(&self) -> Option<i64> {
        let u = self.user.as_deref()?;
        let uid = u.split(':').next()?;
        uid.parse().ok()
    }

    /// The image's group as a numeric GID, when the image config names one (`"1000:1000"`).
    pub fn numeric_gid(&self) -> Option<i64> {
        let (_, gid) = self.user.as_deref()?.split_once(':')?;
        gid.parse().ok()
    }
}

/// The facts of the image reference `r` as a document writes it: after a pin
/// (`repo:tag@sha256:…`) they are still those of `repo:tag`.
pub fn facts_of<'a>(
    images: &'a std::collections::BTreeMap<String, ImageFacts>,
    r: &str,
) -> Option<&'a ImageFacts> {
    images
        .get(r)
        .or_else(|| r.split_once('@').and_then(|(base, _)| images.get(base)))
}

/// An image field in a document: where it is and what it says.
#[derive(Debug, Clone)]
pub struct ImageField {
    /// Document index.
    pub doc: usize,
    /// Resource.
    pub resource: crate::finding::Resource,
    /// Path of the field to rewrite.
    pub path: Path,
    /// The full reference (for split fields: `repository:tag`).
    pub reference: String,
    /// For split fields: the tag as written (the field at `path` holds only the tag).
    pub split_tag: Option<String>,
    /// Container name, when the image belongs to a container.
    pub container: Option<String>,
}

fn dotted(base: &Path, d: &str) -> Path {
    base.join(&Path::keys(d))
}

/// Every image reference in the release: containers of every pod template plus configured
/// extra paths.
pub fn image_fields(docs: &[Document], inv: &Inventory, cfg: &Config) -> Vec<ImageField> {
    let mut out = Vec::new();
    for w in &inv.workloads {
        for c in &w.containers {
            if let Some(image) = &c.image {
                out.push(ImageField {
                    doc: w.object.doc(),
                    resource: (&w.object).into(),
                    path: c.path.key("image"),
                    reference: image.clone(),
                    split_tag: None,
                    container: Some(c.name.clone()),
                });
            }
        }
    }
    for extra in &cfg.images.extra_paths {
        for doc in docs {
            for o in &doc.objects {
                if extra.kind != "*" && extra.kind != o.resource.kind {
                    continue;
                }
                let v = doc.object_value(o);
                if let Some(ip) = &extra.image {
                    let p = dotted(&Path::root(), ip);
                    if let Some(Value::String(s)) = p.lookup(v) {
                        out.push(ImageField {
                            doc: doc.index,
                            resource: o.into(),
                            path: o.base.join(&p),
                            reference: s.to_string(),
                            split_tag: None,
                            container: None,
                        });
                    }
                }
                if let (Some(rp), Some(tp)) = (&extra.repository, &extra.tag) {
                    let rpath = dotted(&Path::root(), rp);
                    let tpath = dotted(&Path::root(), tp);
                    let repo = rpath.lookup(v).and_then(Value::as_str);
                    let tag = match tpath.lookup(v) {
                        Some(Value::String(s)) => Some(s.to_string()),
                        Some(Value::Number(n)) => Some(n.to_string()),
                        _ => None,
                    };
                    if let (Some(repo), Some(tag)) = (repo, tag) {
                        out.push(ImageField {
                            doc: doc.index,
                            resource: o.into(),
                            path: o.base.join(&tpath),
                            reference: format!("{repo}:{tag}"),
                            split_tag: Some(tag),
                            container: None,
                        });
                    }
                }
            }
        }
    }
    out
}
