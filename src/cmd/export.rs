//! `chart-harden export flux [FILE] [--out DIR]`: the hardening as a Flux HelmRelease
//! post-renderer block ([`chart_harden::export::flux`]); the report on stderr (and
//! --report-file), as the default command writes it.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use chart_harden::document::parse_stream;
use chart_harden::export::flux;
use chart_harden::report;
use chart_harden::Error;

use super::cli::Opts;

/// The `export flux` command.
pub fn flux(opts: &Opts, file: Option<&Path>, out: Option<&Path>) -> Result<ExitCode, Error> {
    let settings = opts.settings()?;
    let input = super::read_input(file.or(opts.file.as_deref()))?;
    // The objects before hardening, to compare with the outcome's.
    let original = parse_stream(&input)?;
    let outcome = chart_harden::run(input, &settings, &super::digests(opts))?;
    let ex = flux::export(&original, &outcome)?;
    super::write_report_file(&outcome, opts, None)?;
    if !opts.quiet {
        let rendered = report::render_for_cli(&outcome, opts.report_format(), false, None);
        let _ = std::io::stderr().write_all(rendered.as_bytes());
    }
    match out {
        Some(dir) => {
            let written = ex.write_dir(dir)?;
            if !opts.quiet {
                for p in written {
                    eprintln!("chart-harden: wrote {}", p.display());
                }
            }
        }
        None => super::write_stdout(|o| o.write_all(ex.stdout_stream().as_bytes()))?,
    }
    Ok(ExitCode::SUCCESS)
}
