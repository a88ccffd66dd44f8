//! Inputs the unit tests share.

use std::path::PathBuf;

/// Every chart rendered in `../shared/corpus/` (its `rendered.yaml`), in name order; none when
/// the corpus is not beside the repository.
pub(crate) fn corpus_charts() -> Vec<PathBuf> {
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    let mut charts: Vec<PathBuf> = std::fs::read_dir(corpus)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("rendered.yaml"))
        .filter(|p| p.exists())
        .collect();
    charts.sort();
    charts
}
