//! `chart-harden check [FILE]`: harden (the same run as the default command), evaluate the
//! result (or the input, `--no-fix`) against a Pod Security Standard, print the report on
//! stdout; exit 1 when violations remain.

use std::borrow::Cow;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use chart_harden::check::{evaluate_stream, CheckOptions};
use chart_harden::document::parse_stream;
use chart_harden::report::render_check as render_with_input;
use chart_harden::report::sarif;
use chart_harden::Error;
use chart_harden_pss::Version;

use super::cli::{CheckLevel, Opts};

/// The `check` command.
pub fn run(
    opts: &Opts,
    file: Option<&Path>,
    level: CheckLevel,
    version: Version,
    no_fix: bool,
) -> Result<ExitCode, Error> {
    let settings = opts.settings()?;
    let input = super::read_input(file.or(opts.file.as_deref()))?;
    // `--no-fix` evaluates the input as it is.
    let original = if no_fix {
        Some(parse_stream(&input)?)
    } else {
        None
    };
    // SARIF regions are lines of the input stream: keep a copy of it only for SARIF (the run
    // takes the input itself).
    let sarif_text = opts
        .wants_sarif()
        .then(|| String::from_utf8_lossy(&input).into_owned());
    let outcome = chart_harden::run(input, &settings, &super::digests(opts))?;
    let evaluated = original.as_ref().unwrap_or(&outcome.stream);
    let report = evaluate_stream(
        evaluated,
        outcome.findings,
        CheckOptions {
            level: level.into(),
            version,
            no_fix,
        },
    );
    let uri = file
        .or(opts.file.as_deref())
        .map_or_else(|| "rendered.yaml".to_string(), |f| f.display().to_string());
    let sarif_input = sarif_text
        .as_deref()
        .map(|text| sarif::Input { text, uri: &uri });
    let text = render_with_input(&report, opts.report_format(), sarif_input);
    if let Some(p) = &opts.report_file {
        let file_format = opts.report_file_format();
        let in_file = if file_format == opts.report_format() {
            Cow::Borrowed(&text)
        } else {
            Cow::Owned(render_with_input(&report, file_format, sarif_input))
        };
        super::write_file(p, in_file.as_bytes())?;
    }
    if !opts.quiet {
        super::write_stdout(|out| out.write_all(text.as_bytes()))?;
    }
    Ok(ExitCode::from(report.exit_code()))
}
