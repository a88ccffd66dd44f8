//! Command-line arguments (clap derive) and their validation into the run's [`Settings`].
//! The clap types live here only: the library's enums get their command-line spelling from
//! the value enums below, which map onto them.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use chart_harden::config::{ConfigFile, OnResolveError, Profile, ResolveSettings, Settings};
use chart_harden::report::Format;
use chart_harden::Error;

const EXAMPLES: &str = "\
Examples:
  # Helm 4 (plugin installed with `helm plugin install`):
  helm install web ./chart --post-renderer chart-harden \\
       --post-renderer-args=--profile=prod --post-renderer-args=--report-file=/tmp/harden.md
  # Helm 3:
  helm install web ./chart --post-renderer /usr/local/bin/chart-harden
  # Review in CI: the report on stdout (no manifests), exit 1 when something would change:
  helm template web ./chart | chart-harden diff --report-format markdown > harden.md
  # Reproducible digests (Argo CD / Flux): resolve once, then render offline:
  helm template web ./chart | chart-harden --lockfile chart-harden.lock > /dev/null
  helm template web ./chart | chart-harden --lockfile chart-harden.lock --offline
  # Is the result restricted-compliant?
  helm template web ./chart | chart-harden check --level restricted
  # Flux: the same hardening as a HelmRelease kustomize post-renderer (+ generated/ objects):
  helm template web ./chart | chart-harden export flux --out flux/
  # Argo CD: examples/argocd/ (a Config Management Plugin running helm template | chart-harden)
  # kustomize / kpt KRM function (ResourceList on stdin and stdout):
  kpt fn eval DIR --exec \"chart-harden krm\" --fn-config DIR/harden.yaml -o unwrap
  kustomize build --enable-alpha-plugins --enable-exec .   # with an exec function running `chart-harden krm`

Exit codes: 0 ok · 1 findings/changes (check, diff) · 2 usage or input error · 3 registry error";

/// chart-harden: harden rendered Kubernetes manifests (a Helm post-renderer).
///
/// Reads a YAML stream on stdin (or FILE), writes the hardened stream on stdout and a report
/// of every change on stderr (and --report-file, since Helm 4 discards plugin stderr);
/// `diff` and `check` write their report on stdout instead.
#[derive(Debug, Parser)]
#[command(name = "chart-harden", version, after_help = EXAMPLES)]
pub struct Cli {
    /// Mode; the default hardens stdin to stdout.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Options shared by every mode.
    #[command(flatten)]
    pub opts: Opts,
}

/// Modes.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Report what hardening would change, on stdout (the report, not the manifests: `diff
    /// --report-format markdown > harden.md`); exit 1 if anything would change.
    Diff {
        /// Input file (default: stdin).
        file: Option<PathBuf>,
    },
    /// Harden, then evaluate the result against a Pod Security Standard; print the remaining
    /// violations (with the findings that explain them) on stdout; exit 1 if any remain.
    Check {
        /// Pod Security level.
        #[arg(long, value_enum, default_value = "restricted")]
        level: CheckLevel,
        /// Pod Security policy version: `latest` or `v1.N`.
        #[arg(long, default_value = "latest", value_parser = parse_version)]
        pss_version: chart_harden_pss::Version,
        /// Evaluate the input as it is (findings still say what hardening would fix).
        #[arg(long)]
        no_fix: bool,
        /// Input file (default: stdin).
        file: Option<PathBuf>,
    },
    /// List rules, or explain one (`chart-harden rules CH101`).
    Rules {
        /// Rule code or name.
        id: Option<String>,
        /// Print the rule reference as Markdown (docs/rules.md).
        #[arg(long)]
        markdown: bool,
    },
    /// Export the changes for tools that cannot run a post-renderer (`export flux`).
    Export {
        /// What to export for.
        #[command(subcommand)]
        target: ExportTarget,
    },
    /// Run as a KRM function (kustomize exec function, kpt): ResourceList on stdin and stdout.
    Krm,
    /// Print shell completions.
    Completions {
        /// Shell.
        shell: clap_complete::Shell,
    },
}

/// Targets of `chart-harden export`.
#[derive(Debug, Subcommand)]
pub enum ExportTarget {
    /// A Flux HelmRelease `spec.postRenderers[].kustomize` block (JSON6902 patches, image
    /// digests); generated objects as a separate kustomization.
    Flux {
        /// Input file (default: stdin).
        file: Option<PathBuf>,
        /// Write DIR/postrenderers.yaml and DIR/generated/{kustomization,resources}.yaml
        /// instead of one YAML stream on stdout.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
}

/// Levels `check` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckLevel {
    /// Baseline Pod Security Standard.
    Baseline,
    /// Restricted Pod Security Standard (baseline included).
    Restricted,
}

impl From<CheckLevel> for chart_harden_pss::Level {
    fn from(l: CheckLevel) -> chart_harden_pss::Level {
        match l {
            CheckLevel::Baseline => chart_harden_pss::Level::Baseline,
            CheckLevel::Restricted => chart_harden_pss::Level::Restricted,
        }
    }
}

/// Parses `latest` / `v1.N`.
fn parse_version(s: &str) -> Result<chart_harden_pss::Version, String> {
    s.parse::<chart_harden_pss::Version>()
        .map_err(|e| e.to_string())
}

/// `--profile` values ([`Profile`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProfileArg {
    /// Report only: nothing in the output changes.
    Dev,
    /// Safe fixes and generated guard objects; unsafe fixes reported (the default).
    Staging,
    /// Everything enforced: unsafe fixes applied.
    Prod,
}

impl From<ProfileArg> for Profile {
    fn from(p: ProfileArg) -> Profile {
        match p {
            ProfileArg::Dev => Profile::Dev,
            ProfileArg::Staging => Profile::Staging,
            ProfileArg::Prod => Profile::Prod,
        }
    }
}

/// `--on-resolve-error` values ([`OnResolveError`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnResolveErrorArg {
    /// Fail the run: exit 3, nothing on stdout.
    Fail,
    /// Keep the tag, report a warning.
    Warn,
}

impl From<OnResolveErrorArg> for OnResolveError {
    fn from(p: OnResolveErrorArg) -> OnResolveError {
        match p {
            OnResolveErrorArg::Fail => OnResolveError::Fail,
            OnResolveErrorArg::Warn => OnResolveError::Warn,
        }
    }
}

/// `--report-format` values ([`Format`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// Plain text for terminals.
    Text,
    /// Markdown for a pull-request comment.
    Markdown,
    /// JSON (versioned schema).
    Json,
    /// SARIF 2.1.0 (GitHub code scanning).
    Sarif,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Format {
        match f {
            FormatArg::Text => Format::Text,
            FormatArg::Markdown => Format::Markdown,
            FormatArg::Json => Format::Json,
            FormatArg::Sarif => Format::Sarif,
        }
    }
}

/// Options for hardening.
#[derive(Debug, Args)]
pub struct Opts {
    /// Input file (default: stdin).
    #[arg(global = false)]
    pub file: Option<PathBuf>,
    /// Config file (YAML); see README "Configuration".
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Profile: dev (report only), staging (safe fixes; default), prod (unsafe fixes too).
    #[arg(long, global = true, value_enum)]
    pub profile: Option<ProfileArg>,
    /// Apply unsafe fixes (choosing UIDs, read-only root filesystem, …).
    #[arg(long, global = true)]
    pub unsafe_fixes: bool,
    /// Namespace the release is installed into (Helm does not pass it).
    #[arg(long, short = 'n', global = true)]
    pub namespace: Option<String>,
    /// Release name (Helm does not pass it).
    #[arg(long, global = true)]
    pub release: Option<String>,
    /// Also write the report to this file (atomically); with no --report-format, the file's
    /// format follows its extension (.md markdown, .json json, .sarif sarif, else text).
    #[arg(long, global = true)]
    pub report_file: Option<PathBuf>,
    /// Report format [default: from --report-file's extension, else text].
    #[arg(long = "report-format", global = true, value_enum)]
    pub report_format_flag: Option<FormatArg>,
    /// Do not print the report on stderr.
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,
    /// Do not pin images to digests.
    #[arg(long, global = true)]
    pub no_pin: bool,
    /// Lockfile of image digests: locked images need no network.
    #[arg(long, global = true)]
    pub lockfile: Option<PathBuf>,
    /// Use only the lockfile, no registry requests. An image it does not have stays unpinned
    /// and is reported (CH201, summary line); the run fails (exit 3) only when
    /// --on-resolve-error is fail, the prod profile's default.
    #[arg(long, global = true)]
    pub offline: bool,
    /// Re-resolve every image and rewrite the lockfile.
    #[arg(long, global = true)]
    pub update_lock: bool,
    /// What to do when a digest cannot be resolved (prod: fail).
    #[arg(long, global = true, value_enum)]
    pub on_resolve_error: Option<OnResolveErrorArg>,
    /// A registry to reach over plain HTTP (loopback registries always are); repeatable.
    #[arg(long = "insecure-registry", global = true)]
    pub insecure_registries: Vec<String>,
    /// Cache directory for digests (default: $XDG_CACHE_HOME/chart-harden).
    #[arg(long, global = true)]
    pub cache_dir: Option<PathBuf>,
    /// Do not use the digest cache.
    #[arg(long, global = true)]
    pub no_cache: bool,
    /// Disable a rule (code or name); repeatable.
    #[arg(long = "disable", global = true)]
    pub disable: Vec<String>,
    /// Enable a rule that is off by default (code or name); repeatable.
    #[arg(long = "enable", global = true)]
    pub enable: Vec<String>,
}

impl Opts {
    /// The format of the report on stderr/stdout: `--report-format`, else text.
    pub fn report_format(&self) -> Format {
        self.report_format_flag
            .map(Format::from)
            .unwrap_or_default()
    }

    /// True when a SARIF report is written (on the terminal or to `--report-file`): its
    /// regions are lines of the input stream, so the command keeps a copy of the input.
    pub fn wants_sarif(&self) -> bool {
        self.report_format() == Format::Sarif
            || (self.report_file.is_some() && self.report_file_format() == Format::Sarif)
    }

    /// The format of `--report-file`: `--report-format`, else the one the file's extension
    /// names ([`Format::from_path`]), else text.
    pub fn report_file_format(&self) -> Format {
        self.report_format_flag
            .map(Format::from)
            .or_else(|| self.report_file.as_deref().and_then(Format::from_path))
            .unwrap_or_default()
    }

    /// Builds the run's settings: config file, then flags.
    pub fn settings(&self) -> Result<Settings, Error> {
        let file = match &self.config {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| Error::Io {
                    path: p.display().to_string(),
                    source,
                })?;
                Some(Settings::parse_file(&text, &p.display().to_string())?)
            }
            None => None,
        };
        self.settings_with_file(file)
    }

    /// Like [`Opts::settings`], with the config file's content given (e.g. a KRM
    /// functionConfig) instead of read from `--config`; flags still apply on top.
    pub fn settings_with_file(&self, file: Option<ConfigFile>) -> Result<Settings, Error> {
        let mut cfg = Settings::from_file(file, chart_harden::rules::find)?;
        if let Some(p) = self.profile {
            cfg.set_profile(p.into());
        }
        if self.unsafe_fixes {
            cfg.unsafe_fixes = true;
        }
        if self.namespace.is_some() {
            cfg.namespace.clone_from(&self.namespace);
        }
        if self.release.is_some() {
            cfg.release.clone_from(&self.release);
        }
        if self.no_pin {
            cfg.images.pin = false;
        }
        if let Some(p) = self.on_resolve_error {
            cfg.on_resolve_error = p.into();
        }
        cfg.images
            .insecure_registries
            .extend(self.insecure_registries.iter().cloned());
        for id in &self.disable {
            let m = chart_harden::rules::find(id)
                .ok_or_else(|| Error::Config(format!("unknown rule id `{id}` in --disable")))?;
            cfg.disabled.insert(m.code);
        }
        for id in &self.enable {
            let m = chart_harden::rules::find(id)
                .ok_or_else(|| Error::Config(format!("unknown rule id `{id}` in --enable")))?;
            cfg.enabled.insert(m.code);
        }
        check_release_names(&cfg)?;
        cfg.resolve = ResolveSettings {
            lockfile: self.lockfile.clone(),
            offline: self.offline,
            update_lock: self.update_lock,
            cache_dir: self.cache_dir.clone(),
            no_cache: self.no_cache,
        };
        Ok(cfg)
    }
}

/// The namespace must be a DNS-1123 label (as Kubernetes requires of a Namespace's name)
/// and the release name follow Helm's rule (a DNS-1123 subdomain of at most 53
/// characters): both end up in generated names, labels and comments.
fn check_release_names(cfg: &Settings) -> Result<(), Error> {
    use chart_harden::names::{is_dns1123_label, is_release_name};
    use chart_harden::yaml::scalar::quote;
    if let Some(ns) = &cfg.namespace {
        if !is_dns1123_label(ns) {
            return Err(Error::Config(format!(
                "namespace {} (--namespace or the config file's `namespace`) is not a valid \
                 Kubernetes namespace: it must be a DNS-1123 label (at most 63 characters of \
                 a-z, 0-9 and `-`, starting and ending alphanumeric)",
                quote(ns)
            )));
        }
    }
    if let Some(r) = &cfg.release {
        if !is_release_name(r) {
            return Err(Error::Config(format!(
                "release name {} (--release or the config file's `release`) is not a valid \
                 Helm release name: it must be a DNS-1123 subdomain (a-z, 0-9, `-` and `.`, \
                 each dot-separated part starting and ending alphanumeric) of at most 53 \
                 characters",
                quote(r)
            )));
        }
    }
    Ok(())
}

/// Flags whose value is a path, which may contain spaces (`--report-file=/my dir/r.md` is
/// kept whole by [`split_spaced_args`]).
const PATH_FLAGS: &[&str] = &["--report-file", "--config", "--lockfile", "--cache-dir"];

/// Splits arguments that hold several words, the way they were meant.
///
/// Helm passes each `--post-renderer-args` value as exactly one argument, so
/// `--post-renderer-args="--profile prod"` arrives as the single argument `--profile prod`,
/// which no flag parser accepts. An argument that starts with `-` and contains whitespace
/// is split into its words (`--profile`, `prod`), unless it is `--<path flag>=<value>`
/// (a path may contain spaces). Arguments after `--` and arguments not starting with `-`
/// (values, file names) are never split. Returns the arguments and one note per split,
/// which the caller shows (and adds to a parse error).
pub fn split_spaced_args(args: Vec<OsString>) -> (Vec<OsString>, Vec<String>) {
    let mut out = Vec::with_capacity(args.len());
    let mut notes = Vec::new();
    let mut iter = args.into_iter();
    out.extend(iter.next()); // argv[0]
    let mut rest_verbatim = false;
    for a in iter {
        let split = match a.to_str() {
            Some(s) if !rest_verbatim && s.starts_with('-') && s.contains(char::is_whitespace) => {
                let path_value = s
                    .split_once('=')
                    .is_some_and(|(name, _)| PATH_FLAGS.contains(&name));
                let first = s.split_whitespace().next().unwrap_or_default();
                if path_value {
                    None
                } else if PATH_FLAGS.contains(&first) {
                    // `--report-file /my dir/r.md`: the flag, then the whole path.
                    let rest = s[first.len()..].trim();
                    Some(vec![first.to_string(), rest.to_string()])
                } else {
                    Some(s.split_whitespace().map(str::to_string).collect::<Vec<_>>())
                }
            }
            _ => None,
        };
        match split {
            Some(words) => {
                notes.push(format!(
                    "note: the single argument `{}` was split at its spaces into {}; Helm passes \
                     each --post-renderer-args as one argument, so give one flag per \
                     --post-renderer-args, as --flag=value (e.g. --post-renderer-args={})",
                    a.to_string_lossy(),
                    words
                        .iter()
                        .map(|w| format!("`{w}`"))
                        .collect::<Vec<_>>()
                        .join(" "),
                    words.first().map(String::as_str).unwrap_or_default(),
                ));
                out.extend(words.into_iter().map(OsString::from));
            }
            None => {
                rest_verbatim |= a == "--";
                out.push(a);
            }
        }
    }
    (out, notes)
}

/// `--report-file`'s value, read leniently from raw arguments (before, or when, the real
/// parser fails), so that even a usage error reaches the report file a user asked for.
/// The last occurrence wins; nothing after `--` counts.
pub fn scan_report_file(args: &[OsString]) -> Option<PathBuf> {
    let mut found = None;
    let mut iter = args.iter().skip(1);
    while let Some(a) = iter.next() {
        if a == "--" {
            break;
        }
        let Some(s) = a.to_str() else { continue };
        if s == "--report-file" {
            match iter.next() {
                Some(v) if !v.is_empty() => found = Some(PathBuf::from(v)),
                _ => break,
            }
        } else if let Some(v) = s.strip_prefix("--report-file=") {
            if !v.is_empty() {
                found = Some(PathBuf::from(v));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<OsString> {
        std::iter::once("chart-harden")
            .chain(v.iter().copied())
            .map(OsString::from)
            .collect()
    }

    #[test]
    fn spaced_flags_are_split_paths_and_values_are_not() {
        let (a, notes) = split_spaced_args(args(&[
            "--profile prod",
            "--profile=prod --release=web",
            "--report-file=/my dir/r.md",
            "--lockfile /my dir/x.lock",
            "my file.yaml",
            "--",
            "--x y",
        ]));
        let a: Vec<String> = a.iter().map(|s| s.to_string_lossy().into()).collect();
        assert_eq!(
            a,
            [
                "chart-harden",
                "--profile",
                "prod",
                "--profile=prod",
                "--release=web",
                "--report-file=/my dir/r.md",
                "--lockfile",
                "/my dir/x.lock",
                "my file.yaml",
                "--",
                "--x y"
            ]
        );
        assert_eq!(notes.len(), 3);
        assert!(notes[0].contains("`--profile prod`"), "{}", notes[0]);
        assert!(
            notes[0].contains("--post-renderer-args=--profile"),
            "{}",
            notes[0]
        );
    }

    #[test]
    fn report_file_is_found_in_args_the_parser_rejects() {
        let f = |v: &[&str]| scan_report_file(&args(v));
        assert_eq!(
            f(&["--profle", "--report-file", "/tmp/r.md"]),
            Some(PathBuf::from("/tmp/r.md"))
        );
        assert_eq!(
            f(&[
                "--report-file=/tmp/a.md",
                "bogus",
                "--report-file=/tmp/b.md"
            ]),
            Some(PathBuf::from("/tmp/b.md"))
        );
        assert_eq!(f(&["--report-file"]), None);
        assert_eq!(f(&["--", "--report-file=/tmp/r.md"]), None);
    }
}
