//! `chart-harden completions SHELL`: shell completions for the command line.

use std::io::Write;
use std::process::ExitCode;

use clap::CommandFactory;

use chart_harden::Error;

use super::cli::Cli;

/// The `completions` command.
pub fn run(shell: clap_complete::Shell) -> Result<ExitCode, Error> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "chart-harden", &mut script);
    super::write_stdout(|out| out.write_all(&script))?;
    Ok(ExitCode::SUCCESS)
}
