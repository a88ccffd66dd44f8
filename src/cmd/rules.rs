//! `chart-harden rules [ID] [--markdown]`: the rule list, one rule explained, or the rule
//! reference as Markdown.

use std::io::Write;
use std::process::ExitCode;

use chart_harden::{docs, Error};

/// What `rules` prints: `Err` carries the usage error for an unknown rule.
pub fn text(id: Option<&str>, markdown: bool) -> Result<String, String> {
    if markdown {
        return Ok(docs::rules_markdown());
    }
    match id {
        Some(id) => docs::explain(id).ok_or_else(|| format!("chart-harden: unknown rule `{id}`")),
        None => Ok(docs::rules_table()),
    }
}

/// Prints `text` on stdout.
pub fn print(text: &str) -> Result<ExitCode, Error> {
    super::write_stdout(|out| out.write_all(text.as_bytes()))?;
    Ok(ExitCode::SUCCESS)
}
