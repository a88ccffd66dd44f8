//! The pipeline: parse → inventory → rules → apply → emit, repeated until no fix applies.
//!
//! Like Ruff's fix loop, rules run again on their own output until it converges (a fix can
//! make another rule's fix possible, e.g. dropping `privileged` lets CH103 set
//! `allowPrivilegeEscalation: false`). Converged output is what makes
//! `harden(harden(x)) == harden(x)` hold byte for byte.
//!
//! * `run.rs`: the front door ([`run`], also [`crate::run`]): parse, collect the image
//!   references, resolve their digests, run the fix loop, keep the result as an [`Outcome`];
//! * `fixer.rs`: one step of the loop (which fixes apply);
//! * `apply.rs`: patching the documents and writing the generated objects;
//! * `emit.rs`: writing the hardened stream ([`Outcome::write_to`]);
//! * `report_hash.rs`: each finding reported once across the passes.

use crate::document::Stream;
use crate::finding::Finding;

mod apply;
mod emit;
mod fixer;
mod report_hash;
mod run;

pub use fixer::within_declared;
pub use run::run;

/// One changed or added document, for the diff report.
#[derive(Debug, Clone)]
pub struct DocChange {
    /// Document index in the output.
    pub doc: usize,
    /// Label (`document 3 (Deployment/web, templates/web.yaml)`).
    pub label: String,
    /// Text before (empty for added documents).
    pub before: crate::document::Text,
    /// Text after (the output document's own text unless a Secret value was redacted).
    pub after: crate::document::Text,
    /// True for a generated document.
    pub added: bool,
}

/// The result of a run.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The hardened stream, parsed: every document's bytes and typed view as written out
    /// ([`Outcome::write_to`]); generated documents follow the input's.
    pub stream: Stream,
    /// Every finding, with what happened to its fix.
    pub findings: Vec<Finding>,
    /// Changed and added documents.
    pub changes: Vec<DocChange>,
    /// Images whose digest could not be resolved: they stay unpinned (tags as written).
    pub unpinned_images: Vec<String>,
}

impl Outcome {
    /// True when the output differs from the input.
    pub fn changed(&self) -> bool {
        !self.changes.is_empty()
    }
}
