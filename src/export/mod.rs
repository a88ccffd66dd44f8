//! Exports of chart-harden's changes for deployment tools that cannot run a Helm
//! post-renderer (`export flux`).
//!
//! * [`flux`]: a HelmRelease `spec.postRenderers[].kustomize` block (JSON6902 patches and
//!   `images:` digests) plus a separate kustomization for generated objects.
//! * [`json_patch`]: the RFC 6902 diff those patches are made of.

pub mod flux;
pub mod json_patch;
