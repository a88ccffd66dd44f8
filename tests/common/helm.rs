//! Test helpers that drive the real Helm binaries installed by `scripts/install-helm.sh`.
//!
//! Standalone: only `std` and `tempfile`, no dependency on the `chart_harden` crate.
//! Include with `#[path = "common/helm.rs"] mod helm;`.
//!
//! Isolation: every [`HelmEnv`] gets its own temporary `HELM_CONFIG_HOME`,
//! `HELM_CACHE_HOME`, `HELM_DATA_HOME`, `HELM_PLUGINS` (= `$HELM_DATA_HOME/plugins`,
//! because Helm 4.1's local/tarball installer writes there whatever `HELM_PLUGINS` says)
//! and `KUBECONFIG`; every other inherited `HELM_*` variable is removed, so tests never
//! read or write the user's real Helm configuration, plugins or cluster.
//!
//! Helm 4 is required: [`helm4`] panics when it is missing. Helm 3 is optional
//! ([`helm3`] returns `None`).
#![allow(dead_code)]

use std::ffi::{OsStr, OsString};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Name of the plugin in the repository's `plugin.yaml`.
pub const PLUGIN_NAME: &str = "chart-harden";

/// The repository root (the `chart-harden` package directory).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `<repo>/.tools/bin`, where `scripts/install-helm.sh` puts helm, helm3 and kubectl.
pub fn tools_bin() -> PathBuf {
    repo_root().join(".tools").join("bin")
}

/// `<repo>/testdata/demo-chart`.
pub fn demo_chart() -> PathBuf {
    repo_root().join("testdata").join("demo-chart")
}

fn exe(name: &str) -> String {
    format!("{name}{}", std::env::consts::EXE_SUFFIX)
}

fn is_executable(path: &Path) -> bool {
    match fs::metadata(path) {
        Ok(m) if m.is_file() => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                m.permissions().mode() & 0o111 != 0
            }
            #[cfg(not(unix))]
            {
                true
            }
        }
        _ => false,
    }
}

/// Path of the Helm 4 binary (`.tools/bin/helm`). Panics if it is not installed:
/// tests that need Helm fail loudly instead of silently skipping.
pub fn helm4() -> PathBuf {
    let path = tools_bin().join(exe("helm"));
    if !is_executable(&path) {
        panic!(
            "Helm 4 not found at {}: run scripts/install-helm.sh (installs helm, helm3 and kubectl \
             into .tools/bin)",
            path.display()
        );
    }
    path
}

/// Path of the Helm 3 binary (`.tools/bin/helm3`), if installed.
pub fn helm3() -> Option<PathBuf> {
    let path = tools_bin().join(exe("helm3"));
    is_executable(&path).then_some(path)
}

/// The chart-harden binary cargo built for this integration test, if any
/// (`CARGO_BIN_EXE_chart-harden` is only set when compiling integration tests).
pub fn chart_harden_bin() -> Option<PathBuf> {
    option_env!("CARGO_BIN_EXE_chart-harden").map(PathBuf::from)
}

/// Which Helm major version a [`HelmEnv`] drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HelmMajor {
    V3,
    V4,
}

/// An isolated Helm home (config, cache, data, plugins, kubeconfig) in a temp dir.
/// Everything is removed when the value is dropped.
pub struct HelmEnv {
    dir: tempfile::TempDir,
    helm: PathBuf,
    major: HelmMajor,
    extra_env: Vec<(String, OsString)>,
}

impl Default for HelmEnv {
    fn default() -> Self {
        Self::new()
    }
}

impl HelmEnv {
    /// An isolated environment for Helm 4 (panics if Helm 4 is missing).
    pub fn new() -> Self {
        Self::with_binary(helm4(), HelmMajor::V4)
    }

    /// An isolated environment for Helm 3, or `None` if `.tools/bin/helm3` is missing.
    pub fn helm3() -> Option<Self> {
        helm3().map(|h| Self::with_binary(h, HelmMajor::V3))
    }

    /// An isolated environment for a given Helm binary.
    pub fn with_binary(helm: PathBuf, major: HelmMajor) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("chart-harden-helm-")
            .tempdir()
            .expect("create temp HELM home");
        for sub in ["config", "cache", "data/plugins"] {
            fs::create_dir_all(dir.path().join(sub)).expect("create HELM home subdir");
        }
        let mut env = HelmEnv {
            dir,
            helm,
            major,
            extra_env: Vec::new(),
        };
        // The plugin's platformCommand prefers $CHART_HARDEN_BIN, so a plugin installed
        // from the source checkout runs the binary cargo just built for this test.
        if let Some(bin) = chart_harden_bin() {
            env.set_env("CHART_HARDEN_BIN", &bin);
        }
        env
    }

    /// The Helm binary this environment runs.
    pub fn helm_path(&self) -> &Path {
        &self.helm
    }

    pub fn major(&self) -> HelmMajor {
        self.major
    }

    /// Root of the temporary Helm home.
    pub fn home(&self) -> &Path {
        self.dir.path()
    }

    pub fn config_home(&self) -> PathBuf {
        self.home().join("config")
    }

    pub fn cache_home(&self) -> PathBuf {
        self.home().join("cache")
    }

    pub fn data_home(&self) -> PathBuf {
        self.home().join("data")
    }

    /// `$HELM_PLUGINS` (= `$HELM_DATA_HOME/plugins`).
    pub fn plugins_dir(&self) -> PathBuf {
        self.data_home().join("plugins")
    }

    /// A scratch directory inside the temp home, created on demand.
    pub fn scratch(&self, name: &str) -> PathBuf {
        let p = self.home().join("scratch").join(name);
        fs::create_dir_all(&p).expect("create scratch dir");
        p
    }

    /// Set (or override) an environment variable for every command run through this env
    /// (the post-renderer inherits it). `set_env("CHART_HARDEN_BIN", ..)` picks the binary.
    pub fn set_env(&mut self, key: impl Into<String>, value: impl AsRef<OsStr>) {
        let key = key.into();
        let value = value.as_ref().to_os_string();
        self.extra_env.retain(|(k, _)| *k != key);
        self.extra_env.push((key, value));
    }

    /// The environment variables that isolate Helm, as `(name, value)` pairs.
    pub fn env_vars(&self) -> Vec<(String, OsString)> {
        let s = |p: PathBuf| p.into_os_string();
        let mut v: Vec<(String, OsString)> = vec![
            ("HELM_CONFIG_HOME".to_string(), s(self.config_home())),
            ("HELM_CACHE_HOME".to_string(), s(self.cache_home())),
            ("HELM_DATA_HOME".to_string(), s(self.data_home())),
            ("HELM_PLUGINS".to_string(), s(self.plugins_dir())),
            // Never reach a real cluster or read the user's kubeconfig.
            ("KUBECONFIG".to_string(), s(self.home().join("kubeconfig"))),
            ("HELM_NAMESPACE".to_string(), "default".into()),
        ];
        v.extend(self.extra_env.iter().cloned());
        v
    }

    /// A `helm` command with the isolated environment (inherited `HELM_*` variables
    /// removed) and stdin closed.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.helm);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("HELM_") {
                cmd.env_remove(&k);
            }
        }
        cmd.envs(self.env_vars());
        cmd.stdin(Stdio::null());
        cmd
    }

    /// Run `helm <args>` and return its output (never panics on a non-zero exit).
    pub fn run(&self, args: &[&str]) -> Output {
        self.command()
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("failed to run {}: {e}", self.helm.display()))
    }

    /// Run `helm <args>` and panic with stdout/stderr unless it succeeds.
    pub fn run_ok(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        assert_success(&out, &format!("helm {}", args.join(" ")));
        out
    }

    /// `helm plugin install <src>`: a plugin directory (installed as a symlink, Helm 4
    /// "development mode") or a `.tar.gz`/`.tgz` (Helm 4 needs `--verify=false` for an
    /// unsigned tarball; it is added here). Panics on failure. Helm 4 only in practice:
    /// Helm 3 cannot load a `postrenderer/v1` plugin.
    pub fn install_plugin(&self, src: &Path) {
        let src_s = src.to_string_lossy();
        let mut args = vec!["plugin", "install", src_s.as_ref()];
        let is_tarball = src_s.ends_with(".tar.gz") || src_s.ends_with(".tgz");
        if is_tarball && self.major == HelmMajor::V4 {
            args.push("--verify=false");
        }
        self.run_ok(&args);
    }

    /// Install the plugin from the source checkout (`helm plugin install <repo root>`).
    /// Its platformCommand runs `$CHART_HARDEN_BIN` (set to cargo's test binary by
    /// [`HelmEnv::with_binary`]), else `bin/chart-harden`, else `target/release/chart-harden`.
    pub fn install_repo_plugin(&self) {
        self.install_plugin(&repo_root());
    }

    /// Install a capture post-renderer plugin named `name` (Helm 4) that copies its stdin
    /// to the returned file and back to stdout unchanged, and records its argv (one per
    /// line) in `<file>.argv`. Unix only (uses `sh`).
    pub fn install_capture_plugin(&self, name: &str) -> PathBuf {
        let dir = self.scratch(&format!("capture-plugin-{name}"));
        let capture = self.scratch("captures").join(format!("{name}.yaml"));
        let script = capture_script(&dir, &capture);
        fs::write(
            dir.join("plugin.yaml"),
            format!(
                "apiVersion: v1\nname: {name}\nversion: 0.0.1\ntype: postrenderer/v1\n\
                 runtime: subprocess\nruntimeConfig:\n  platformCommand:\n    \
                 - command: ${{HELM_PLUGIN_DIR}}/{}\n",
                script.file_name().unwrap().to_string_lossy()
            ),
        )
        .expect("write capture plugin.yaml");
        self.install_plugin(&dir);
        capture
    }

    /// Write a capture post-renderer script for Helm 3 (`--post-renderer <path>`).
    /// Returns `(script, capture_file)`.
    pub fn capture_script(&self, name: &str) -> (PathBuf, PathBuf) {
        let dir = self.scratch(&format!("capture-script-{name}"));
        let capture = self.scratch("captures").join(format!("{name}.yaml"));
        let script = capture_script(&dir, &capture);
        (script, capture)
    }

    /// `helm template <release> <chart> <args...>` with the isolated environment.
    /// Does not panic: inspect `status`, `stdout`, `stderr`.
    pub fn template(&self, release: &str, chart: &Path, args: &[&str]) -> Output {
        let chart_s = chart.to_string_lossy();
        let mut all = vec!["template", release, chart_s.as_ref()];
        all.extend_from_slice(args);
        self.run(&all)
    }

    /// `helm template` through a post-renderer: a plugin name for Helm 4, an executable
    /// path for Helm 3. Each entry of `post_renderer_args` becomes one
    /// `--post-renderer-args` (and so exactly one argv entry of the post-renderer).
    pub fn template_with_post_renderer(
        &self,
        release: &str,
        chart: &Path,
        post_renderer: &str,
        post_renderer_args: &[&str],
        args: &[&str],
    ) -> Output {
        let mut all: Vec<String> = vec!["--post-renderer".into(), post_renderer.into()];
        for a in post_renderer_args {
            // `--flag=value` so values starting with '-' are not parsed as flags.
            all.push(format!("--post-renderer-args={a}"));
        }
        all.extend(args.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        self.template(release, chart, &refs)
    }
}

fn capture_script(dir: &Path, capture: &Path) -> PathBuf {
    let script = dir.join("capture.sh");
    let q = |p: &Path| format!("'{}'", p.to_string_lossy().replace('\'', r"'\''"));
    let argv = PathBuf::from(format!("{}.argv", capture.to_string_lossy()));
    write_executable(
        &script,
        &format!(
            "#!/bin/sh\nset -e\n: > {argv}\nfor a in \"$@\"; do printf '%s\\n' \"$a\" >> {argv}; done\n\
             tee {cap}\n",
            argv = q(&argv),
            cap = q(capture)
        ),
    );
    script
}

/// Writes an executable script at `path`. Not with `fs::write`: a file this process holds
/// open for writing cannot be executed ("Text file busy"), and a child that another test
/// thread forks in that moment inherits the open file until it execs, so running the script
/// right after writing it failed now and then. A `sh` child writes it: this process never
/// opens it.
pub fn write_executable(path: &Path, text: &str) {
    use std::io::Write;
    let mut child = Command::new("sh")
        .args(["-c", "cat > \"$1\" && chmod 755 \"$1\"", "sh"])
        .arg(path)
        .stdin(Stdio::piped())
        .spawn()
        .expect("start sh to write a script");
    child
        .stdin
        .take()
        .expect("sh's stdin")
        .write_all(text.as_bytes())
        .expect("write the script");
    let status = child.wait().expect("wait for sh");
    assert!(status.success(), "writing {}: {status}", path.display());
}

/// Panic with the command's stdout and stderr unless it exited successfully.
pub fn assert_success(out: &Output, what: &str) {
    if !out.status.success() {
        panic!(
            "{what} failed ({})\n--- stdout ---\n{}\n--- stderr ---\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// stdout as UTF-8 (lossy).
pub fn stdout_str(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// stderr as UTF-8 (lossy).
pub fn stderr_str(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
