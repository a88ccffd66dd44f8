//! The commands: each a thin layer over the library's one call ([`chart_harden::run`]) that
//! reads the input, writes the report and the data, and picks the exit code. stdout carries
//! data and is written once, through [`write_stdout`], only when the whole run succeeded;
//! people read stderr (and --report-file).

use std::io::Write;
use std::path::Path;

use chart_harden::report::{self, sarif};
use chart_harden::resolve::RegistryDigests;
use chart_harden::{Error, Outcome};

pub mod check;
pub mod cli;
pub mod completions;
pub mod diff;
pub mod export;
pub mod harden;
pub mod krm;
pub mod rules;

use cli::Opts;

/// What the commands write stdout through.
pub type Stdout = std::io::BufWriter<std::io::StdoutLock<'static>>;

/// Reads the input (`file`, or stdin) and fits the allocator's purge delay to its size
/// ([`crate::fit_purge_delay_to`]): every command reads its input before it starts a thread.
pub fn read_input(file: Option<&Path>) -> Result<Vec<u8>, Error> {
    let input = chart_harden::input::read(file)?;
    crate::fit_purge_delay_to(input.len());
    Ok(input)
}

/// Writes to stdout; a closed pipe (`| head`) is not an error.
pub fn write_stdout(write: impl FnOnce(&mut Stdout) -> std::io::Result<()>) -> Result<(), Error> {
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    match write(&mut out).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Error::Io {
            path: "stdout".into(),
            source: e,
        }),
    }
}

/// Colour for a terminal, unless `NO_COLOR` says otherwise.
pub fn color_on(terminal: bool) -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && terminal
}

/// Where digests come from: the registries (lockfile, cache, network), with progress lines
/// and warnings on stderr unless `--quiet`.
pub fn digests(opts: &Opts) -> RegistryDigests {
    if opts.quiet {
        RegistryDigests::new()
    } else {
        RegistryDigests::with_notice(|line| eprintln!("{line}"))
    }
}

/// Writes `bytes` to the file `path` atomically.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    chart_harden::atomic::write(path, bytes).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })
}

/// Writes the hardening report to `--report-file`, if one was asked for.
pub fn write_report_file(
    outcome: &Outcome,
    opts: &Opts,
    sarif_input: Option<sarif::Input<'_>>,
) -> Result<(), Error> {
    if let Some(p) = &opts.report_file {
        let rendered =
            report::render_for_cli(outcome, opts.report_file_format(), false, sarif_input);
        write_file(p, rendered.as_bytes())?;
    }
    Ok(())
}
