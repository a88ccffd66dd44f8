//! Exports of chart-harden's changes for deployment tools that cannot run a Helm
//! post-renderer, and the shared run helpers of the non-streaming modes (`export flux`,
//! `krm`).
//!
//! * [`flux`]: a HelmRelease `spec.postRenderers[].kustomize` block (JSON6902 patches and
//!   `images:` digests) plus a separate kustomization for generated objects.
//! * [`json_patch`]: the RFC 6902 diff those patches are made of.

use std::collections::BTreeMap;

use crate::cli::Opts;
use crate::config::Config;
use crate::document::Stream;
use crate::error::Error;
use crate::pipeline::{self, Outcome};
use crate::rules::ImageFacts;

pub mod flux;
pub mod json_patch;

/// Runs the normal pipeline (parse, resolve digests, harden) and returns the parsed input
/// next to the outcome, so that callers can compare objects before and after.
pub fn harden_with_input(
    input: &[u8],
    cfg: &Config,
    opts: &Opts,
) -> Result<(Stream, Outcome), Error> {
    let (stream, refs) = pipeline::prepare(input, cfg)?;
    let facts: BTreeMap<String, ImageFacts> = crate::resolve::resolve_images(&refs, cfg, opts)?;
    let original = stream.clone();
    let outcome = pipeline::harden_stream(stream, cfg, &facts)?;
    Ok((original, outcome))
}

/// Writes the report to `--report-file` (if set) and to stderr (unless `--quiet`), as the
/// default mode does.
pub fn emit_report(outcome: &Outcome, opts: &Opts) -> Result<(), Error> {
    if let Some(p) = &opts.report_file {
        let rendered =
            crate::report::render_for_cli(outcome, opts.report_file_format(), false, None);
        crate::atomic::write(p, rendered.as_bytes()).map_err(|source| Error::Io {
            path: p.display().to_string(),
            source,
        })?;
    }
    if !opts.quiet {
        use std::io::Write;
        let rendered = crate::report::render_for_cli(outcome, opts.report_format(), false, None);
        let _ = std::io::stderr().write_all(rendered.as_bytes());
    }
    Ok(())
}
