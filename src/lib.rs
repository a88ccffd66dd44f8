//! chart-harden: a Helm post-renderer that hardens rendered Kubernetes manifests.
//!
//! The pipeline, one module per stage: read → [`yaml::split`] → [`document`] (parse) →
//! [`inventory`] → [`rules`] → [`resolve`] (digests, async, batched) → apply
//! ([`yaml::edit`]) → emit ([`pipeline`]) → [`report`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod atomic;
pub mod check;
pub mod cli;
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

pub use error::Error;
