//! Manifests, indexes and image configs: fetched, verified against their
//! digests, classified, and the image facts (`User`, `Volumes`) read.

use std::time::SystemTime;

use reqwest::header::CONTENT_TYPE;
use serde_json::Value;
use sha2::Digest as _;

use super::registry::Ctx;
use super::{guard, Inner, Resolved};
use crate::error::ResolveError;
use crate::lockfile::rfc3339;
use crate::reference::{is_valid_digest, ImageRef};

const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";
const MANIFEST_LIMIT: usize = 4 << 20;
const CONFIG_LIMIT: usize = 16 << 20;

fn digest_of(algorithm: &str, bytes: &[u8]) -> Option<String> {
    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }
    match algorithm {
        "sha256" => Some(format!("sha256:{}", hex(&sha2::Sha256::digest(bytes)))),
        "sha384" => Some(format!("sha384:{}", hex(&sha2::Sha384::digest(bytes)))),
        "sha512" => Some(format!("sha512:{}", hex(&sha2::Sha512::digest(bytes)))),
        _ => None,
    }
}

fn now_rfc3339() -> String {
    rfc3339(SystemTime::now())
}

fn platform_string(p: &Value) -> Option<String> {
    let os = p.get("os")?.as_str()?;
    let arch = p.get("architecture")?.as_str()?;
    let mut s = format!("{os}/{arch}");
    if let Some(v) = p.get("variant").and_then(Value::as_str) {
        if !v.is_empty() {
            s.push('/');
            s.push_str(v);
        }
    }
    Some(s)
}

enum Kind {
    Index,
    Image,
}

fn classify(v: &Value, content_type: Option<&str>) -> Result<(Kind, String), String> {
    if v.get("schemaVersion").and_then(Value::as_i64) != Some(2) {
        return Err(format!(
            "unsupported schemaVersion {} (only schema 2 / OCI manifests are supported)",
            v.get("schemaVersion")
                .map_or("missing".to_string(), Value::to_string)
        ));
    }
    let declared = v
        .get("mediaType")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| {
            content_type
                .map(|c| c.split(';').next().unwrap_or(c).trim().to_string())
                .filter(|c| {
                    [OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST].contains(&c.as_str())
                })
        });
    let kind = match declared.as_deref() {
        Some(OCI_INDEX | DOCKER_LIST) => Kind::Index,
        Some(OCI_MANIFEST | DOCKER_MANIFEST) => Kind::Image,
        Some(other) => return Err(format!("unsupported media type {other:?}")),
        None if v.get("manifests").is_some() => Kind::Index,
        None if v.get("config").is_some() => Kind::Image,
        None => return Err("neither an image manifest nor an index".to_string()),
    };
    let media_type = declared.unwrap_or_else(|| {
        match kind {
            Kind::Index => OCI_INDEX,
            Kind::Image => OCI_MANIFEST,
        }
        .to_string()
    });
    Ok((kind, media_type))
}

/// `config.User` and sorted `config.Volumes` keys of an image config.
fn image_facts(config: &Value) -> (Option<String>, Vec<String>) {
    let c = config.get("config");
    let user = c
        .and_then(|c| c.get("User"))
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty())
        .map(str::to_string);
    let mut volumes: Vec<String> = c
        .and_then(|c| c.get("Volumes"))
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    volumes.sort();
    (user, volumes)
}

impl Inner {
    pub(super) async fn resolve_remote(
        &self,
        r: &ImageRef,
        written: &str,
    ) -> Result<Resolved, ResolveError> {
        let reg = self.registry_state(&r.registry);
        let ctx = Ctx {
            image: written,
            reg: &reg,
            timeout: self.cfg.timeout,
        };
        let repo = r.repository.as_str();
        let (top, digest, content_type) = self
            .fetch_manifest(&ctx, repo, r.manifest_reference(), r.digest.as_deref())
            .await?;
        let v: Value =
            serde_json::from_slice(&top).map_err(|e| ctx.invalid(format!("not JSON: {e}")))?;
        let (kind, media_type) =
            classify(&v, content_type.as_deref()).map_err(|m| ctx.invalid(m))?;
        let mut platforms = Vec::new();
        let mut config_desc: Option<Value> = None;
        let known = guard(&self.facts).get(&digest).cloned();
        match kind {
            Kind::Index => {
                let entries = v
                    .get("manifests")
                    .and_then(Value::as_array)
                    .ok_or_else(|| ctx.invalid("index without \"manifests\""))?;
                for e in entries {
                    if let Some(p) = e.get("platform").and_then(platform_string) {
                        // Attestation manifests are tagged unknown/unknown.
                        if !p.starts_with("unknown/") && !platforms.contains(&p) {
                            platforms.push(p);
                        }
                    }
                }
                if self.cfg.read_image_config && known.is_none() {
                    let chosen = entries
                        .iter()
                        .find(|e| {
                            e.get("platform").and_then(platform_string).as_deref()
                                == Some("linux/amd64")
                        })
                        .or_else(|| {
                            entries.iter().find(|e| {
                                e.get("platform")
                                    .and_then(platform_string)
                                    .is_some_and(|p| !p.starts_with("unknown/"))
                            })
                        })
                        .or_else(|| entries.first());
                    if let Some(child) = chosen {
                        let child_digest = child
                            .get("digest")
                            .and_then(Value::as_str)
                            .ok_or_else(|| ctx.invalid("index entry without digest"))?;
                        if !is_valid_digest(child_digest) {
                            return Err(ctx.invalid(format!(
                                "index entry has a malformed digest {child_digest:?}"
                            )));
                        }
                        let (bytes, _, ct) = self
                            .fetch_manifest(&ctx, repo, child_digest, Some(child_digest))
                            .await?;
                        let cv: Value = serde_json::from_slice(&bytes).map_err(|e| {
                            ctx.invalid(format!(
                                "platform manifest {child_digest} is not JSON: {e}"
                            ))
                        })?;
                        if let Ok((Kind::Image, _)) = classify(&cv, ct.as_deref()) {
                            config_desc = cv.get("config").cloned();
                        }
                    }
                }
            }
            Kind::Image => {
                config_desc = Some(
                    v.get("config")
                        .cloned()
                        .ok_or_else(|| ctx.invalid("image manifest without \"config\""))?,
                );
            }
        }
        let (mut user, mut volumes) = (None, Vec::new());
        let mut config_read = false;
        if let (true, Some((u, v))) = (self.cfg.read_image_config, known) {
            (user, volumes, config_read) = (u, v, true);
        } else if self.cfg.read_image_config {
            config_read = true;
            if let Some(desc) = config_desc {
                let mt = desc.get("mediaType").and_then(Value::as_str).unwrap_or("");
                if mt == OCI_CONFIG || mt == DOCKER_CONFIG {
                    let cd = desc
                        .get("digest")
                        .and_then(Value::as_str)
                        .ok_or_else(|| ctx.invalid("config descriptor without digest"))?;
                    if !is_valid_digest(cd) {
                        return Err(
                            ctx.invalid(format!("config descriptor has a malformed digest {cd:?}"))
                        );
                    }
                    let blob = self.fetch_blob(&ctx, repo, cd).await?;
                    let cv: Value = serde_json::from_slice(&blob)
                        .map_err(|e| ctx.invalid(format!("image config {cd} is not JSON: {e}")))?;
                    (user, volumes) = image_facts(&cv);
                }
            }
            guard(&self.facts).insert(digest.clone(), (user.clone(), volumes.clone()));
        }
        Ok(Resolved {
            digest,
            media_type,
            platforms,
            user,
            volumes,
            config_read,
            resolved_at: now_rfc3339(),
        })
    }

    /// GETs a manifest; verifies the bytes against `Docker-Content-Digest`
    /// and against `expected`. Returns (bytes, digest, content type).
    async fn fetch_manifest(
        &self,
        ctx: &Ctx<'_>,
        repo: &str,
        reference: &str,
        expected: Option<&str>,
    ) -> Result<(Vec<u8>, String, Option<String>), ResolveError> {
        let url = format!("{}/v2/{repo}/manifests/{reference}", ctx.reg.base);
        let reply = self
            .get_authed(ctx, repo, &url, Some(ACCEPT_MANIFESTS), MANIFEST_LIMIT)
            .await?;
        let body = reply.body;
        let computed = digest_of("sha256", &body).unwrap_or_default();
        let mismatch = |claimed: &str, actual: String| ResolveError::DigestMismatch {
            image: ctx.image.to_string(),
            registry: ctx.reg.registry.clone(),
            claimed: claimed.to_string(),
            actual,
        };
        let claimed = reply
            .headers
            .get("docker-content-digest")
            .and_then(|h| h.to_str().ok())
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        if let Some(c) = &claimed {
            let alg = c.split_once(':').map_or("", |(a, _)| a);
            match digest_of(alg, &body) {
                Some(actual) if actual == *c => {}
                Some(actual) => return Err(mismatch(c, actual)),
                None => return Err(mismatch(c, computed)),
            }
        }
        let digest = match expected {
            Some(e) => {
                let alg = e.split_once(':').map_or("", |(a, _)| a);
                match digest_of(alg, &body) {
                    Some(actual) if actual == e => e.to_string(),
                    Some(actual) => return Err(mismatch(e, actual)),
                    None => return Err(mismatch(e, computed)),
                }
            }
            None => computed,
        };
        let content_type = reply
            .headers
            .get(CONTENT_TYPE)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string);
        Ok((body, digest, content_type))
    }

    async fn fetch_blob(
        &self,
        ctx: &Ctx<'_>,
        repo: &str,
        digest: &str,
    ) -> Result<Vec<u8>, ResolveError> {
        let url = format!("{}/v2/{repo}/blobs/{digest}", ctx.reg.base);
        let reply = self.get_authed(ctx, repo, &url, None, CONFIG_LIMIT).await?;
        let alg = digest.split_once(':').map_or("", |(a, _)| a);
        match digest_of(alg, &reply.body) {
            Some(actual) if actual == digest => Ok(reply.body),
            Some(actual) => Err(ResolveError::DigestMismatch {
                image: ctx.image.to_string(),
                registry: ctx.reg.registry.clone(),
                claimed: digest.to_string(),
                actual,
            }),
            None => Err(ctx.invalid(format!("unsupported digest algorithm in {digest}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_and_digests() {
        let cfg: Value =
            serde_json::json!({"config": {"User": "1000", "Volumes": {"/b": {}, "/a": {}}}});
        assert_eq!(
            image_facts(&cfg),
            (Some("1000".into()), vec!["/a".into(), "/b".into()])
        );
        assert_eq!(
            image_facts(&serde_json::json!({"config": {"User": ""}})),
            (None, vec![])
        );
        assert_eq!(
            digest_of("sha256", b""),
            Some("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".into())
        );
    }
}
