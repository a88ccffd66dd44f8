//! Builds small OCI images in memory and pushes them to a registry with
//! oci-client. Shared by the integration tests and the `seed` example.
#![allow(dead_code)]

use std::io::Write as _;

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};
use serde_json::json;
use sha2::{Digest as _, Sha256};

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

pub fn sha256(b: &[u8]) -> String {
    let h = Sha256::digest(b);
    format!(
        "sha256:{}",
        h.iter().map(|x| format!("{x:02x}")).collect::<String>()
    )
}

/// A one-file tar archive, gzipped; returns (gzip bytes, uncompressed tar).
pub fn layer(file_name: &str, content: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut tar = Vec::new();
    let mut h = [0u8; 512];
    let put = |h: &mut [u8; 512], off: usize, s: &[u8]| h[off..off + s.len()].copy_from_slice(s);
    put(&mut h, 0, file_name.as_bytes());
    put(&mut h, 100, b"0000644\0");
    put(&mut h, 108, b"0000000\0");
    put(&mut h, 116, b"0000000\0");
    put(&mut h, 124, format!("{:011o}\0", content.len()).as_bytes());
    put(&mut h, 136, b"00000000000\0");
    put(&mut h, 148, b"        ");
    h[156] = b'0';
    put(&mut h, 257, b"ustar\0");
    put(&mut h, 263, b"00");
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
    put(&mut h, 148, format!("{sum:06o}\0 ").as_bytes());
    tar.extend_from_slice(&h);
    tar.extend_from_slice(content);
    tar.resize(tar.len().div_ceil(512) * 512, 0);
    tar.extend_from_slice(&[0u8; 1024]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let _ = gz.write_all(&tar);
    (gz.finish().unwrap_or_default(), tar)
}

/// What to put in a test image.
#[derive(Clone, Debug)]
pub struct ImageSpec {
    pub id: String,
    pub user: Option<String>,
    pub volumes: Vec<String>,
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
    /// Docker schema 2 media types instead of OCI ones.
    pub docker: bool,
}

impl ImageSpec {
    pub fn new(id: &str) -> Self {
        ImageSpec {
            id: id.to_string(),
            user: None,
            volumes: Vec::new(),
            os: "linux".into(),
            arch: "amd64".into(),
            variant: None,
            docker: false,
        }
    }
    pub fn user(mut self, u: &str) -> Self {
        self.user = Some(u.to_string());
        self
    }
    pub fn volume(mut self, v: &str) -> Self {
        self.volumes.push(v.to_string());
        self
    }
    pub fn platform(mut self, arch: &str, variant: Option<&str>) -> Self {
        self.arch = arch.to_string();
        self.variant = variant.map(str::to_string);
        self
    }
    pub fn docker(mut self) -> Self {
        self.docker = true;
        self
    }
}

/// A built image: blobs and the exact manifest bytes.
pub struct Built {
    pub manifest: Vec<u8>,
    pub digest: String,
    pub media_type: &'static str,
    pub config: Vec<u8>,
    pub layer: Vec<u8>,
    pub spec: ImageSpec,
}

pub fn build(spec: &ImageSpec) -> Built {
    let (gz, tar) = layer("id.txt", spec.id.as_bytes());
    let mut cfg = serde_json::Map::new();
    if let Some(u) = &spec.user {
        cfg.insert("User".into(), json!(u));
    }
    if !spec.volumes.is_empty() {
        let v: serde_json::Map<String, serde_json::Value> = spec
            .volumes
            .iter()
            .map(|v| (v.clone(), json!({})))
            .collect();
        cfg.insert("Volumes".into(), json!(v));
    }
    cfg.insert("Labels".into(), json!({"test.id": spec.id}));
    let mut config = json!({
        "architecture": spec.arch,
        "os": spec.os,
        "config": cfg,
        "rootfs": {"type": "layers", "diff_ids": [sha256(&tar)]},
    });
    if let Some(v) = &spec.variant {
        config["variant"] = json!(v);
    }
    let config = serde_json::to_vec(&config).unwrap_or_default();
    let (mt, cmt, lmt) = if spec.docker {
        (
            DOCKER_MANIFEST,
            "application/vnd.docker.container.image.v1+json",
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
        )
    } else {
        (
            OCI_MANIFEST,
            "application/vnd.oci.image.config.v1+json",
            "application/vnd.oci.image.layer.v1.tar+gzip",
        )
    };
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": mt,
        "config": {"mediaType": cmt, "digest": sha256(&config), "size": config.len()},
        "layers": [{"mediaType": lmt, "digest": sha256(&gz), "size": gz.len()}],
    });
    let manifest = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
    Built {
        digest: sha256(&manifest),
        manifest,
        media_type: mt,
        config,
        layer: gz,
        spec: spec.clone(),
    }
}

/// An index over built images; returns (bytes, digest).
pub fn index(children: &[&Built]) -> (Vec<u8>, String) {
    let manifests: Vec<serde_json::Value> = children
        .iter()
        .map(|c| {
            let mut p = json!({"architecture": c.spec.arch, "os": c.spec.os});
            if let Some(v) = &c.spec.variant {
                p["variant"] = json!(v);
            }
            json!({"mediaType": c.media_type, "digest": c.digest, "size": c.manifest.len(), "platform": p})
        })
        .collect();
    let idx = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests});
    let bytes = serde_json::to_vec_pretty(&idx).unwrap_or_default();
    let d = sha256(&bytes);
    (bytes, d)
}

/// Pushes with oci-client over plain HTTP.
pub struct Pusher {
    client: Client,
    host: String,
    auth: RegistryAuth,
}

impl Pusher {
    pub fn new(host: &str, basic: Option<(&str, &str)>) -> Self {
        let client = Client::new(ClientConfig {
            protocol: ClientProtocol::Http,
            use_monolithic_push: true,
            ..Default::default()
        });
        let auth = match basic {
            Some((u, p)) => RegistryAuth::Basic(u.to_string(), p.to_string()),
            None => RegistryAuth::Anonymous,
        };
        Pusher {
            client,
            host: host.to_string(),
            auth,
        }
    }

    fn reference(&self, repo: &str, tag: &str) -> Reference {
        Reference::with_tag(self.host.clone(), repo.to_string(), tag.to_string())
    }

    async fn login(&self, r: &Reference) -> Result<(), String> {
        self.client
            .auth(r, &self.auth, RegistryOperation::Push)
            .await
            .map(|_| ())
            .map_err(|e| format!("auth: {e}"))
    }

    /// Pushes the blobs and the manifest of `b` as `repo:tag` (or by digest
    /// when `tag` is None).
    pub async fn push(&self, repo: &str, tag: Option<&str>, b: &Built) -> Result<(), String> {
        let r = self.reference(repo, tag.unwrap_or("latest"));
        self.login(&r).await?;
        for blob in [&b.config, &b.layer] {
            self.client
                .push_blob(&r, blob.clone(), &sha256(blob))
                .await
                .map_err(|e| format!("push blob to {repo}: {e}"))?;
        }
        self.put_manifest(repo, tag.unwrap_or(&b.digest), &b.manifest, b.media_type)
            .await
    }

    /// PUTs raw manifest bytes under `reference` (tag or digest).
    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<(), String> {
        let r = if reference.contains(':') {
            Reference::with_digest(self.host.clone(), repo.to_string(), reference.to_string())
        } else {
            self.reference(repo, reference)
        };
        self.login(&r).await?;
        let ct = reqwest::header::HeaderValue::from_str(media_type).map_err(|e| e.to_string())?;
        self.client
            .push_manifest_raw(&r, bytes.to_vec(), ct)
            .await
            .map(|_| ())
            .map_err(|e| format!("push manifest {repo}:{reference}: {e}"))
    }

    /// Pushes the children by digest, then the index as `repo:tag`.
    pub async fn push_index(
        &self,
        repo: &str,
        tag: &str,
        children: &[&Built],
    ) -> Result<String, String> {
        for c in children {
            self.push(repo, None, c).await?;
        }
        let (bytes, digest) = index(children);
        self.put_manifest(repo, tag, &bytes, OCI_INDEX).await?;
        Ok(digest)
    }
}
