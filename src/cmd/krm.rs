//! `chart-harden krm`: a KRM function (kustomize exec function, kpt), ResourceList on stdin
//! and stdout ([`chart_harden::krm`]). The functionConfig takes the place of `--config`;
//! command-line flags apply on top.

use std::io::Write;
use std::process::ExitCode;

use chart_harden::krm;
use chart_harden::Error;

use super::cli::Opts;

/// The `krm` command.
pub fn run(opts: &Opts) -> Result<ExitCode, Error> {
    let input = super::read_input(None)?;
    let settings = |file| match file {
        Some(f) => opts.settings_with_file(Some(f)),
        None => opts.settings(),
    };
    let answer = krm::process(&input, &settings, &super::digests(opts));
    if let Some(e) = &answer.error {
        eprintln!("chart-harden: error: {e}");
    }
    let code = answer.error.as_ref().map_or(0, Error::exit_code);
    let text = krm::to_yaml(&answer.list)?;
    super::write_stdout(|out| out.write_all(text.as_bytes()))?;
    Ok(ExitCode::from(code))
}
