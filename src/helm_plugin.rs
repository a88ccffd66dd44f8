//! Failing visibly under Helm 4.
//!
//! Helm 4 runs a post-renderer plugin with its stdout and stderr captured into buffers; when
//! the plugin exits non-zero it throws both away and reports only
//! `failed to invoke post-renderer plugin "chart-harden": plugin "chart-harden" exited with
//! error` (Helm 4.1 `internal/plugin/runtime_subprocess.go`: `executeCmd` returns that
//! string; even `--debug` logs an empty `stderr`, and the exit code is not passed on).
//!
//! What Helm 4 does show is the *file name* of a post-rendered document it cannot read:
//! documents are filed by their `postrenderer.helm.sh/postrender-filename` annotation, and a
//! document whose head does not parse fails the whole command with
//! `YAML parse error on <file name>: …` before anything reaches a cluster (`helm template`,
//! `install`, `upgrade`, with or without `--dry-run`). So when the plugin wrapper
//! (`scripts/helm-plugin.sh`, which sets [`PLUGIN_ENV`]) runs chart-harden and the run fails,
//! chart-harden writes [`error_document`] on stdout and exits 0: one document whose file
//! name is the error message and whose `kind` is a mapping, which Helm rejects with the
//! message. Run directly (Helm 3, Argo CD, a pipe), nothing changes: the error goes to
//! stderr and the exit code is 2 or 3.

/// Set (non-empty) by the Helm 4 plugin wrapper: report a failure as [`error_document`].
pub const PLUGIN_ENV: &str = "CHART_HARDEN_HELM_PLUGIN";

/// True when running under the Helm 4 plugin wrapper.
pub fn active() -> bool {
    std::env::var_os(PLUGIN_ENV).is_some_and(|v| !v.is_empty())
}

/// The last line of every message: what the reader is looking at.
const TRAILER: &str = "[chart-harden: Helm 4 hides a post-renderer's output, so this error \
reaches you as the name of an invalid document; Helm's YAML complaint after it is about that \
document]";

/// A one-document YAML stream that Helm 4 rejects with `YAML parse error on <message>`.
/// `message` may span several lines (a clap error with its tip and usage does).
pub fn error_document(message: &str) -> String {
    let mut shown = String::from("\n");
    shown.push_str(message.trim_end());
    shown.push('\n');
    shown.push_str(TRAILER);
    shown.push('\n');
    // A JSON string is a YAML double-quoted scalar.
    let quoted = serde_json::to_string(&shown).unwrap_or_else(|_| "\"chart-harden failed\"".into());
    format!(
        "# chart-harden failed; Helm 4 shows the annotation below as a file name.\n\
         apiVersion: chart-harden.io/v1\n\
         kind: {{error: chart-harden failed, see the postrender-filename annotation}}\n\
         metadata:\n  \
           name: chart-harden-error\n  \
           annotations:\n    \
             postrenderer.helm.sh/postrender-filename: {quoted}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_document_carries_the_message_and_is_not_an_object() {
        let msg =
            "chart-harden: error: unexpected argument '--profle' found\n\n  tip: \"x\" \\ y\n";
        let doc = error_document(msg);
        let v: serde_json::Value = serde_saphyr::from_str(&doc).unwrap();
        let name = v["metadata"]["annotations"]["postrenderer.helm.sh/postrender-filename"]
            .as_str()
            .unwrap();
        assert!(name.starts_with("\nchart-harden: error: unexpected argument '--profle'"));
        assert!(name.contains("tip: \"x\" \\ y"));
        assert!(name.ends_with("document]\n"));
        assert!(v["kind"].is_object(), "Helm must not take it for an object");
    }
}
