//! The `chart-harden` binary: a thin shell over the library. stdout carries data and is
//! written once, only when the whole run succeeded; people read stderr (and --report-file).

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use chart_harden::cli::{Cli, Command, ExportTarget, Opts};
use chart_harden::report::{self, Format};
use chart_harden::{atomic, docs, helm_plugin, pipeline, resolve};

fn color_on(terminal: bool) -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && terminal
}

type Stdout = std::io::BufWriter<std::io::StdoutLock<'static>>;

/// Writes to stdout; a closed pipe (`| head`) is not an error.
fn write_stdout(
    write: impl FnOnce(&mut Stdout) -> std::io::Result<()>,
) -> Result<(), chart_harden::Error> {
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    match write(&mut out).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(chart_harden::Error::Io {
            path: "stdout".into(),
            source: e,
        }),
    }
}

/// Runs hardening; `dry_run` is `diff`: the report (not the manifests) goes to stdout and
/// the exit code says whether anything would change.
fn run_harden(
    opts: &Opts,
    file: Option<&std::path::Path>,
    dry_run: bool,
) -> Result<ExitCode, chart_harden::Error> {
    let cfg = opts.config()?;
    let file = file.or(opts.file.as_deref());
    let input = chart_harden::input::read(file)?;
    let format = opts.report_format();
    let file_format = opts.report_file_format();
    // SARIF regions are lines of the input stream: keep a copy of it only for SARIF.
    let sarif_text = (format == Format::Sarif
        || (opts.report_file.is_some() && file_format == Format::Sarif))
        .then(|| String::from_utf8_lossy(&input).into_owned());
    let sarif_uri = file.map_or_else(|| "rendered.yaml".to_string(), |f| f.display().to_string());
    let sarif_input = sarif_text.as_deref().map(|text| report::sarif::Input {
        text,
        uri: &sarif_uri,
    });
    // The documents keep their bytes in the input buffer (an untouched document is written
    // out from there).
    let prepared = pipeline::prepare_run_owned(input, &cfg)?;
    let facts = resolve::resolve_images(&prepared.refs, &cfg, opts)?;
    let (outcome, emitted) = pipeline::harden_prepared_pieces(prepared, &cfg, &facts)?;
    // The report (diffs included) is rendered only when someone reads it.
    if let Some(p) = &opts.report_file {
        let rendered = report::render_for_cli(&outcome, file_format, false, sarif_input);
        atomic::write(p, rendered.as_bytes()).map_err(|source| chart_harden::Error::Io {
            path: p.display().to_string(),
            source,
        })?;
    }
    if dry_run {
        // `diff` is a report command: its report is the data, on stdout
        // (`chart-harden diff --report-format markdown > harden.md`).
        if !opts.quiet {
            let color = format == Format::Text && color_on(std::io::stdout().is_terminal());
            let shown = report::render_for_cli(&outcome, format, color, sarif_input);
            write_stdout(|out| out.write_all(shown.as_bytes()))?;
        }
        return Ok(if outcome.changed() {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        });
    }
    if !opts.quiet {
        let color = format == Format::Text && color_on(std::io::stderr().is_terminal());
        let shown = report::render_for_cli(&outcome, format, color, sarif_input);
        let _ = std::io::stderr().write_all(shown.as_bytes());
    }
    // Everything succeeded: only now does stdout get a byte.
    write_stdout(|out| emitted.write_to(out))?;
    Ok(ExitCode::SUCCESS)
}

/// The allocator: mimalloc. A run allocates and frees a few hundred thousand small blocks
/// (typed views, paths, findings) on every core; with glibc's malloc that was a quarter of all
/// instructions (`valgrind --tool=callgrind`, 2.5 MB corpus: 269 M instructions, 230 M with
/// mimalloc). Built with `no_thp`: mimalloc's transparent huge pages doubled peak RSS (40 MiB
/// instead of 20) for no gain in a process that lives for milliseconds.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Ends a failed run: the message on stderr, in the report file when one was asked for,
/// and under the Helm 4 plugin wrapper as a document Helm shows ([`helm_plugin`]).
fn fail(report_file: Option<&std::path::Path>, message: &str, code: u8) -> ExitCode {
    let mut message = message.to_string();
    if !message.ends_with('\n') {
        message.push('\n');
    }
    let _ = std::io::stderr().write_all(message.as_bytes());
    // Helm 4 discards stderr: leave the error in the report file too.
    if let Some(p) = report_file {
        if let Err(e) = atomic::write(p, message.as_bytes()) {
            let line = format!(
                "chart-harden: could not write the report file {}: {e}\n",
                p.display()
            );
            let _ = std::io::stderr().write_all(line.as_bytes());
            message.push_str(&line);
        }
    }
    if helm_plugin::active() {
        let doc =
            helm_plugin::error_document(&format!("{message}(exit code {code} when run directly)"));
        if write_stdout(|out| out.write_all(doc.as_bytes())).is_ok() {
            return ExitCode::SUCCESS;
        }
    }
    ExitCode::from(code)
}

fn main() -> ExitCode {
    // `--post-renderer-args="--profile prod"` arrives as one argument: split it as meant.
    let (args, notes) = chart_harden::cli::split_spaced_args(std::env::args_os().collect());
    let cli = match Cli::try_parse_from(&args) {
        Ok(c) => c,
        Err(e) if !e.use_stderr() => {
            // --help, --version
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let mut message = format!("chart-harden: {}", e.render());
            for n in &notes {
                message.push_str(&format!("chart-harden: {n}\n"));
            }
            let report_file = chart_harden::cli::scan_report_file(&args);
            return fail(report_file.as_deref(), &message, 2);
        }
    };
    for n in &notes {
        eprintln!("chart-harden: {n}");
    }
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
                            return fail(
                                cli.opts.report_file.as_deref(),
                                &format!("chart-harden: unknown rule `{id}`"),
                                2,
                            );
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
        Err(e) => fail(
            cli.opts.report_file.as_deref(),
            &format!("chart-harden: error: {e}"),
            e.exit_code(),
        ),
    }
}
