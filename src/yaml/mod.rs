//! YAML layer: split the stream, build a span tree, read a typed view, and patch bytes in place.
//!
//! chart-harden never re-serializes an input document. Untouched documents are written back
//! verbatim; changed documents are patched with byte-range edits located by exact node spans
//! (see [`tree`]: from the line reader for block-structured documents, from `granit-parser`
//! for the rest, and [`edit`]). The typed view that rules read comes from `serde-saphyr`
//! with YAML 1.1 number rules (see [`view`]), so rules see what the Kubernetes API server sees;
//! most documents are read by the fast readers ([`fast`]) instead, which debug builds check
//! against serde-saphyr on every document (`agree`). One table ([`scalar`]) says how a plain
//! scalar reads and whether a string may be written plain.

mod agree;
pub mod edit;
pub mod fast;
mod lines;
pub mod path;
pub mod scalar;
pub mod split;
pub mod tree;
pub mod value;
pub mod view;

pub use path::{Path, Seg};
pub use value::{Map, Value};
