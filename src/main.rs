//! The `chart-harden` binary: the commands ([`cmd`]) over the library's one call. stdout
//! carries data and is written once, only when the whole run succeeded; people read stderr
//! (and --report-file).

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use chart_harden::{atomic, helm_plugin};

mod cmd;

use cmd::cli::{Cli, Command, ExportTarget};

/// The allocator: mimalloc. A run allocates and frees a few hundred thousand small blocks
/// (typed views, paths, findings) on every core; with glibc's malloc that was a quarter of all
/// instructions (`valgrind --tool=callgrind`, 2.5 MB corpus: 269 M instructions, 230 M with
/// mimalloc). Built with `no_thp`: mimalloc's transparent huge pages doubled peak RSS (40 MiB
/// instead of 20) for no gain in a process that lives for milliseconds.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `purge_delay` option (v3's `mi_option_e`; libmimalloc-sys names no constant for
/// it): how long freed memory stays with the process before it is returned to the OS.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Freed memory goes back to the OS after 20 ms instead of mimalloc's default 1 s: a run lasts
/// milliseconds to seconds, so nothing was returned and peak RSS was the sum of every phase.
/// Same run, release build, medians of 7 (x16) and 3: corpus x16 prod 155 -> 145 MiB at
/// 0.79 -> 0.82 s, x32 prod 304 -> 287 MiB, a List of 800 Deployments 43.7 -> 34.5 MiB. (0 ms
/// saved 2 MiB more at x16 for 11 % more time; 20 ms costs 4 %.)
fn return_freed_memory_soon() {
    // SAFETY: called first thing in `main`, before any other thread exists (mimalloc's option
    // setters are not thread-safe); it stores an integer in mimalloc's option table.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 20) };
}

/// Inputs smaller than this return freed memory at once ([`fit_purge_delay_to`]).
const PURGE_AT_ONCE_BELOW: usize = 8 << 20;

/// Freed memory goes back to the OS at once for an input under [`PURGE_AT_ONCE_BELOW`]: there
/// the fixed 20 MiB of the memory bound (3x input + 20 MiB) is most of it, and a run takes
/// under a tenth of a second. Same run, release build, medians of 7, 20 ms -> 0 ms: a pod with
/// 2,000 containers 21.0 -> 19.4 MiB, a List of 800 Deployments 27.8 -> 25.2 MiB, 1,000
/// releases in one namespace 36.0 -> 34.6 MiB; the corpus (3 MB) 17.2 -> 16.7 MiB for 2-3 ms
/// more (44 -> 46 ms). Larger inputs keep 20 ms: at once costs 7-9 % of the time at x4 and x16.
///
/// Call it only while this is the process's only thread (the commands call it right after
/// reading the input, before the rule, patch and registry threads start).
fn fit_purge_delay_to(input_len: usize) {
    if input_len < PURGE_AT_ONCE_BELOW {
        // SAFETY: no other thread exists yet (the caller's contract above), so nothing reads
        // mimalloc's option table while this stores an integer in it.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
    }
}

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
        if cmd::write_stdout(|out| out.write_all(doc.as_bytes())).is_ok() {
            return ExitCode::SUCCESS;
        }
    }
    ExitCode::from(code)
}

fn main() -> ExitCode {
    return_freed_memory_soon();
    // `--post-renderer-args="--profile prod"` arrives as one argument: split it as meant.
    let (args, notes) = cmd::cli::split_spaced_args(std::env::args_os().collect());
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
            let report_file = cmd::cli::scan_report_file(&args);
            return fail(report_file.as_deref(), &message, 2);
        }
    };
    for n in &notes {
        eprintln!("chart-harden: {n}");
    }
    let opts = &cli.opts;
    let result = match &cli.command {
        None => cmd::harden::run(opts),
        Some(Command::Diff { file }) => cmd::diff::run(opts, file.as_deref()),
        Some(Command::Check {
            level,
            pss_version,
            no_fix,
            file,
        }) => cmd::check::run(opts, file.as_deref(), *level, *pss_version, *no_fix),
        Some(Command::Rules { id, markdown }) => match cmd::rules::text(id.as_deref(), *markdown) {
            Ok(text) => cmd::rules::print(&text),
            Err(message) => return fail(opts.report_file.as_deref(), &message, 2),
        },
        Some(Command::Export {
            target: ExportTarget::Flux { file, out },
        }) => cmd::export::flux(opts, file.as_deref(), out.as_deref()),
        Some(Command::Krm) => cmd::krm::run(opts),
        Some(Command::Completions { shell }) => cmd::completions::run(*shell),
    };
    match result {
        Ok(c) => c,
        Err(e) => fail(
            opts.report_file.as_deref(),
            &format!("chart-harden: error: {e}"),
            e.exit_code(),
        ),
    }
}

#[cfg(test)]
mod allocator_tests {
    /// The option index is mimalloc's purge delay: its default is v3's 1000 ms.
    #[test]
    fn purge_delay_option_is_the_one_set() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            // SAFETY: reads an integer from mimalloc's option table.
            let ms = unsafe { libmimalloc_sys::mi_option_get(super::MI_OPTION_PURGE_DELAY) };
            assert_eq!(ms, 1000);
        }
    }
}
