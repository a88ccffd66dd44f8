//! The `chart-harden` binary: a thin shell over the library. stdout carries data and is
//! written once, only when the whole run succeeded; people read stderr (and --report-file).

use std::io::Write;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use chart_harden::cli::{Cli, Command, ExportTarget, Opts};
use chart_harden::report::{self, Format};
use chart_harden::{atomic, docs, pipeline, resolve};

fn color_stderr() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::io::IsTerminal::is_terminal(&std::io::stderr())
}

/// Runs hardening; returns (outcome, exit code for diff mode).
fn run_harden(
    opts: &Opts,
    file: Option<&std::path::Path>,
    dry_run: bool,
) -> Result<ExitCode, chart_harden::Error> {
    let cfg = opts.config()?;
    let input = chart_harden::input::read(file.or(opts.file.as_deref()))?;
    // The documents keep their bytes in the input buffer (an untouched document is written
    // out from there).
    let prepared = pipeline::prepare_run_owned(input, &cfg)?;
    let facts = resolve::resolve_images(&prepared.refs, &cfg, opts)?;
    let (outcome, emitted) = pipeline::harden_prepared_pieces(prepared, &cfg, &facts)?;
    // The report (diffs included) is rendered only when someone reads it.
    if let Some(p) = &opts.report_file {
        let rendered = report::render(&outcome, opts.report_format, false);
        atomic::write(p, rendered.as_bytes()).map_err(|source| chart_harden::Error::Io {
            path: p.display().to_string(),
            source,
        })?;
    }
    if !opts.quiet {
        let color = opts.report_format == Format::Text && color_stderr();
        let shown = report::render(&outcome, opts.report_format, color);
        let _ = std::io::stderr().write_all(shown.as_bytes());
    }
    if dry_run {
        return Ok(if outcome.changed() {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        });
    }
    // Everything succeeded: only now does stdout get a byte.
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    match emitted.write_to(&mut out).and_then(|()| out.flush()) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(chart_harden::Error::Io {
            path: "stdout".into(),
            source: e,
        }),
    }
}

/// The allocator: mimalloc. A run allocates and frees a few hundred thousand small blocks
/// (typed views, paths, findings) on every core; with glibc's malloc that was a quarter of all
/// instructions (`valgrind --tool=callgrind`, 2.5 MB corpus: 269 M instructions, 230 M with
/// mimalloc). Built with `no_thp`: mimalloc's transparent huge pages doubled peak RSS (40 MiB
/// instead of 20) for no gain in a process that lives for milliseconds.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let result = match &cli.command {
        None => run_harden(&cli.opts, None, false),
        Some(Command::Diff { file }) => run_harden(&cli.opts, file.as_deref(), true),
        Some(Command::Check {
            level,
            pss_version,
            no_fix,
            file,
        }) => {
            chart_harden::check::run_cli(&cli.opts, file.as_deref(), *level, *pss_version, *no_fix)
        }
        Some(Command::Rules { id, markdown }) => {
            let text = if *markdown {
                docs::rules_markdown()
            } else {
                match id {
                    Some(id) => match docs::explain(id) {
                        Some(t) => t,
                        None => {
                            eprintln!("chart-harden: unknown rule `{id}`");
                            return ExitCode::from(2);
                        }
                    },
                    None => docs::rules_table(),
                }
            };
            print!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Export {
            target: ExportTarget::Flux { file, out },
        }) => chart_harden::export::flux::run(&cli.opts, file.as_deref(), out.as_deref()),
        Some(Command::Krm) => chart_harden::krm::run(&cli.opts),
        Some(Command::Completions { shell }) => {
            clap_complete::generate(
                *shell,
                &mut Cli::command(),
                "chart-harden",
                &mut std::io::stdout(),
            );
            Ok(ExitCode::SUCCESS)
        }
    };
    match result {
        Ok(c) => c,
        Err(e) => {
            eprintln!("chart-harden: error: {e}");
            // Helm 4 discards stderr: leave the error in the report file too.
            if let Some(p) = &cli.opts.report_file {
                let _ = atomic::write(p, format!("chart-harden: error: {e}\n").as_bytes());
            }
            ExitCode::from(e.exit_code())
        }
    }
}
