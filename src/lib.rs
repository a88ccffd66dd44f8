//! chart-harden: a Helm post-renderer that hardens rendered Kubernetes manifests.
//!
//! One call, [`run`]: the input bytes, the effective [`Settings`] and a [`DigestSource`] in,
//! an [`Outcome`] (the hardened stream, parsed, and every finding) out. The pipeline, one
//! module per stage:
//!
//! ```text
//! read          → split         → parse      → inventory   → rules   → resolve digests
//! input          yaml::split     document     inventory     rules     resolve (+ registry crate)
//!
//!   → apply                  → emit                    → report
//!     pipeline (yaml::edit)    pipeline (Outcome)        report
//! ```
//!
//! [`input`] reads the stream; [`yaml::split`] cuts it into documents (every byte kept);
//! [`document`] parses each into its typed view and objects; [`inventory`] lists workloads,
//! Services, RBAC and their facts; [`rules`] report findings and propose fixes; [`resolve`]
//! turns image tags into digests through a [`DigestSource`]; [`pipeline`] runs the fix loop
//! (rules again on their own output until it converges), applies the fixes with
//! [`yaml::edit`] and keeps the result as an [`Outcome`], which writes the stream
//! ([`Outcome::write_to`]); [`report`] renders the findings and diffs. [`check`], [`krm`] and
//! [`export`] read an outcome for the other commands. The command line (clap) is the
//! binary's, in `src/cmd/`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// A typed-view value written like `serde_json::json!` (tests).
#[cfg(test)]
macro_rules! view {
    ($($t:tt)+) => {
        $crate::yaml::Value::from(serde_json::json!($($t)+))
    };
}

pub mod atomic;
pub mod check;
pub mod config;
pub mod docs;
pub mod document;
pub mod error;
pub mod exemptions;
pub mod export;
pub mod finding;
pub mod helm_plugin;
pub mod input;
pub mod inventory;
pub mod krm;
pub mod names;
pub mod par;
pub mod pipeline;
pub mod report;
pub mod resolve;
pub mod rule_meta;
pub mod rules;
pub mod yaml;

#[cfg(test)]
mod test_inputs;

pub use config::Settings;
pub use error::Error;
pub use pipeline::{run, Outcome};
pub use resolve::DigestSource;
