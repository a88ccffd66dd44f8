//! Command-line arguments (clap derive) and their validation into a [`Config`].

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{Config, ConfigFile, OnResolveError, Profile};
use crate::error::Error;
use crate::report::Format;

const EXAMPLES: &str = "\
Examples:
  # Helm 4 (plugin installed with `helm plugin install`):
  helm install web ./chart --post-renderer chart-harden \\
       --post-renderer-args=--profile=prod --post-renderer-args=--report-file=/tmp/harden.md
  # Helm 3:
  helm install web ./chart --post-renderer /usr/local/bin/chart-harden
  # Review in CI: report only, exit 1 when something would change:
  helm template web ./chart | chart-harden diff --report-format markdown
  # Reproducible digests (Argo CD / Flux): resolve once, then render offline:
  helm template web ./chart | chart-harden --lockfile chart-harden.lock > /dev/null
  helm template web ./chart | chart-harden --lockfile chart-harden.lock --offline
  # Is the result restricted-compliant?
  helm template web ./chart | chart-harden check --level restricted
  # Flux: the same hardening as a HelmRelease kustomize post-renderer (+ generated/ objects):
  helm template web ./chart | chart-harden export flux --out flux/
  # Argo CD: examples/argocd/ (a Config Management Plugin running helm template | chart-harden)
  # kustomize / kpt KRM function (ResourceList on stdin and stdout):
  kustomize build --enable-alpha-plugins --enable-exec .   # with an exec function running `chart-harden krm`

Exit codes: 0 ok · 1 findings/changes (check, diff) · 2 usage or input error · 3 registry error";

/// chart-harden: harden rendered Kubernetes manifests (a Helm post-renderer).
///
/// Reads a YAML stream on stdin (or FILE), writes the hardened stream on stdout and a report
/// of every change on stderr (and --report-file, since Helm 4 discards plugin stderr).
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
    /// Report what hardening would change; write nothing on stdout; exit 1 if anything would change.
    Diff {
        /// Input file (default: stdin).
        file: Option<PathBuf>,
    },
    /// Harden, then evaluate the result against a Pod Security Standard; print the remaining
    /// violations (with the findings that explain them) on stdout; exit 1 if any remain.
    Check {
        /// Pod Security level.
        #[arg(long, value_enum, default_value = "restricted")]
        level: crate::check::CheckLevel,
        /// Pod Security policy version: `latest` or `v1.N`.
        #[arg(long, default_value = "latest", value_parser = crate::check::parse_version)]
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

/// Options for hardening.
#[derive(Debug, Args, Default)]
pub struct Opts {
    /// Input file (default: stdin).
    #[arg(global = false)]
    pub file: Option<PathBuf>,
    /// Config file (YAML); see README "Configuration".
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Profile: dev (report only), staging (safe fixes; default), prod (unsafe fixes too).
    #[arg(long, global = true, value_enum)]
    pub profile: Option<Profile>,
    /// Apply unsafe fixes (choosing UIDs, read-only root filesystem, …).
    #[arg(long, global = true)]
    pub unsafe_fixes: bool,
    /// Namespace the release is installed into (Helm does not pass it).
    #[arg(long, short = 'n', global = true)]
    pub namespace: Option<String>,
    /// Release name (Helm does not pass it).
    #[arg(long, global = true)]
    pub release: Option<String>,
    /// Also write the report to this file (atomically).
    #[arg(long, global = true)]
    pub report_file: Option<PathBuf>,
    /// Report format.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub report_format: Format,
    /// Do not print the report on stderr.
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,
    /// Do not pin images to digests.
    #[arg(long, global = true)]
    pub no_pin: bool,
    /// Lockfile of image digests: locked images need no network.
    #[arg(long, global = true)]
    pub lockfile: Option<PathBuf>,
    /// Use only the lockfile; fail on an image it does not have.
    #[arg(long, global = true)]
    pub offline: bool,
    /// Re-resolve every image and rewrite the lockfile.
    #[arg(long, global = true)]
    pub update_lock: bool,
    /// What to do when a digest cannot be resolved (prod: fail).
    #[arg(long, global = true, value_enum)]
    pub on_resolve_error: Option<OnResolveError>,
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
    /// Builds the effective configuration: config file, then flags.
    pub fn config(&self) -> Result<Config, Error> {
        let file = match &self.config {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| Error::Io {
                    path: p.display().to_string(),
                    source,
                })?;
                Some(Config::parse_file(&text, &p.display().to_string())?)
            }
            None => None,
        };
        self.config_with_file(file)
    }

    /// Like [`Opts::config`], with the config file's content given (e.g. a KRM
    /// functionConfig) instead of read from `--config`; flags still apply on top.
    pub fn config_with_file(&self, file: Option<ConfigFile>) -> Result<Config, Error> {
        let mut cfg = Config::from_file(file)?;
        if let Some(p) = self.profile {
            cfg.set_profile(p);
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
            cfg.on_resolve_error = p;
        }
        cfg.images
            .insecure_registries
            .extend(self.insecure_registries.iter().cloned());
        for id in &self.disable {
            let m = crate::rules::find(id)
                .ok_or_else(|| Error::Config(format!("unknown rule id `{id}` in --disable")))?;
            cfg.disabled.insert(m.code);
        }
        for id in &self.enable {
            let m = crate::rules::find(id)
                .ok_or_else(|| Error::Config(format!("unknown rule id `{id}` in --enable")))?;
            cfg.enabled.insert(m.code);
        }
        Ok(cfg)
    }
}
