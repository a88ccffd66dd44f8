//! `chart-harden diff [FILE]`: a report command. Its report is the data, on stdout
//! (`chart-harden diff --report-format markdown > harden.md`); the exit code says whether
//! anything would change.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use chart_harden::report::{self, Format};
use chart_harden::Error;

use super::cli::Opts;

/// The `diff` command.
pub fn run(opts: &Opts, file: Option<&Path>) -> Result<ExitCode, Error> {
    let hardened = super::harden::harden(opts, file)?;
    if !opts.quiet {
        let format = opts.report_format();
        let color = format == Format::Text && super::color_on(std::io::stdout().is_terminal());
        let shown =
            report::render_for_cli(&hardened.outcome, format, color, hardened.sarif_input());
        super::write_stdout(|out| out.write_all(shown.as_bytes()))?;
    }
    let code = if hardened.outcome.changed() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    };
    // The process ends here: its memory goes back with it (see `harden::run`).
    std::mem::forget(hardened);
    Ok(code)
}
