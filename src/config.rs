//! Configuration: profiles, the config file, per-rule switches and options.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::Deserialize;
use serde_json::Value;

use crate::error::Error;
use crate::finding::Applicability;
use crate::rule_meta::RuleMeta;

// The old path of the skip annotation, still used by `check` (another helper's file); the
// opt-outs live in `exemptions`.

/// Deployment environment profiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Report only: nothing in the output changes.
    Dev,
    /// Safe fixes and generated guard objects; unsafe fixes reported (the default).
    #[default]
    Staging,
    /// Everything enforced: unsafe fixes applied.
    Prod,
}

impl Profile {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Dev => "dev",
            Profile::Staging => "staging",
            Profile::Prod => "prod",
        }
    }
}

/// What to do when a digest cannot be resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnResolveError {
    /// Fail the run: exit 3, nothing on stdout.
    Fail,
    /// Keep the tag, report a warning.
    Warn,
}

/// Per-rule settings from the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RuleSettings {
    /// Enable or disable the rule.
    pub enabled: Option<bool>,
    /// Apply this rule's unsafe fix (overrides the profile / `--unsafe-fixes`).
    pub unsafe_fixes: Option<bool>,
}

/// Pod security options.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct PodSecurityOptions {
    /// UID chosen by the unsafe non-root fixes.
    pub run_as_user: i64,
    /// GID chosen by the unsafe non-root fixes.
    pub run_as_group: i64,
    /// fsGroup chosen by the unsafe fixes.
    pub fs_group: i64,
    /// Extra writable paths (emptyDir) when the root filesystem is made read-only.
    pub writable_paths: Vec<String>,
    /// `restrict`: apply unsafe pod-security fixes even to pods that can never reach the
    /// restricted level (host namespaces, hostPath, privileged, added capabilities, UID 0);
    /// `report` (default): withhold them.
    #[serde(deserialize_with = "host_access_pods")]
    pub host_access_pods: bool,
    /// `always`: make the root filesystem read-only without evidence of where a container
    /// writes (mounting `writablePaths`); `evidence` (default): only with evidence.
    #[serde(deserialize_with = "read_only_root")]
    pub read_only_root_filesystem: bool,
    /// `restrict`: apply unsafe pod-security fixes (a chosen UID, dropped capabilities) to pods
    /// with a container that starts as root by the chart's choice (`runAsUser: 0`) or by its
    /// image config (or as a user known only by name); `report` (default): withhold them.
    #[serde(deserialize_with = "root_containers")]
    pub root_containers: bool,
    /// `restrict`: choose a UID (CH101) and drop capabilities (CH104) in pods with a container
    /// whose user nothing shows (the chart sets no `runAsUser` for it and its image config was
    /// not read: no pinning, or the lookup failed); `report` (default): withhold them.
    #[serde(deserialize_with = "unknown_users")]
    pub unknown_users: bool,
    /// `change`: unsafe fixes replace what a chart chose explicitly to weaken a container's
    /// confinement (capabilities it adds, `allowPrivilegeEscalation: true`, a seccomp profile
    /// `Unconfined`); `keep` (default): they report it (the chart chose it for something that
    /// needs it).
    #[serde(deserialize_with = "explicit_choices")]
    pub explicit_choices: bool,
    /// `fsGroup`: CH108 replaces a root chown init container with fsGroup also when it chowns a
    /// volume whose storage decides whether fsGroup reaches it (a claim, a volumeClaimTemplate,
    /// an ephemeral or CSI volume): the cluster's storage applies fsGroup; `keep` (default):
    /// such an init container is kept.
    #[serde(deserialize_with = "chowned_volumes")]
    pub chowned_volumes: bool,
}

/// A switch written as one of two words: `on` reads as true, `off` as false; anything else is
/// an error naming `key`.
fn switch<'de, D: serde::Deserializer<'de>>(
    d: D,
    key: &str,
    off: &str,
    on: &str,
) -> Result<bool, D::Error> {
    match String::deserialize(d)? {
        w if w == on => Ok(true),
        w if w == off => Ok(false),
        other => Err(serde::de::Error::custom(format!(
            "podSecurity.{key}: expected {off} or {on}, got {other:?}"
        ))),
    }
}

fn explicit_choices<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    switch(d, "explicitChoices", "keep", "change")
}

fn root_containers<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    switch(d, "rootContainers", "report", "restrict")
}

fn unknown_users<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    switch(d, "unknownUsers", "report", "restrict")
}

fn host_access_pods<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    switch(d, "hostAccessPods", "report", "restrict")
}

fn chowned_volumes<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    switch(d, "chownedVolumes", "keep", "fsGroup")
}

fn read_only_root<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    switch(d, "readOnlyRootFilesystem", "evidence", "always")
}

impl Default for PodSecurityOptions {
    fn default() -> Self {
        PodSecurityOptions {
            run_as_user: 65532,
            run_as_group: 65532,
            fs_group: 65532,
            writable_paths: vec!["/tmp".to_string()],
            host_access_pods: false,
            read_only_root_filesystem: false,
            root_containers: false,
            unknown_users: false,
            explicit_choices: false,
            chowned_volumes: false,
        }
    }
}

/// Image pinning options.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ImageOptions {
    /// Pin tags to digests.
    pub pin: bool,
    /// Registries reached over plain HTTP (loopback registries always are).
    pub insecure_registries: Vec<String>,
    /// Extra image fields for CRDs and split images.
    pub extra_paths: Vec<ExtraImagePath>,
    /// Resolve concurrency.
    pub concurrency: usize,
    /// Per-request timeout in seconds.
    pub timeout_seconds: u64,
    /// Longest the whole resolution of a run may take, in seconds (retries included).
    pub deadline_seconds: u64,
}

impl Default for ImageOptions {
    fn default() -> Self {
        ImageOptions {
            pin: true,
            insecure_registries: Vec::new(),
            extra_paths: Vec::new(),
            concurrency: 8,
            timeout_seconds: 20,
            deadline_seconds: 60,
        }
    }
}

/// An extra place where a chart puts an image reference.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExtraImagePath {
    /// Kind the path applies to (`*` for any).
    pub kind: String,
    /// Dotted path to a full image reference (`spec.image`).
    #[serde(default)]
    pub image: Option<String>,
    /// Dotted path to a repository (used with `tag`).
    #[serde(default)]
    pub repository: Option<String>,
    /// Dotted path to a tag (used with `repository`).
    #[serde(default)]
    pub tag: Option<String>,
}

/// The config file (`--config`), every field optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConfigFile {
    /// Profile.
    pub profile: Option<Profile>,
    /// Apply unsafe fixes.
    pub unsafe_fixes: Option<bool>,
    /// Release namespace.
    pub namespace: Option<String>,
    /// Release name.
    pub release: Option<String>,
    /// Rules to disable (ids or names).
    #[serde(default)]
    pub disable: Vec<String>,
    /// Rules to enable (ids or names), for rules off by default.
    #[serde(default)]
    pub enable: Vec<String>,
    /// Per-rule settings keyed by id or name.
    #[serde(default)]
    pub rules: BTreeMap<String, RuleSettings>,
    /// Pod security options.
    pub pod_security: Option<PodSecurityOptions>,
    /// Image options.
    pub images: Option<ImageOptions>,
    /// Options for generators and audits (owned by their rules), free-form.
    #[serde(default)]
    pub generate: BTreeMap<String, Value>,
    /// Digest resolution failure policy.
    pub on_resolve_error: Option<OnResolveError>,
}

/// Where image digests come from and where they are kept: the lockfile, the cache and the
/// network (set on the command line or by a KRM functionConfig, not in the config file).
#[derive(Debug, Clone, Default)]
pub struct ResolveSettings {
    /// Lockfile of image digests: locked images need no network (`--lockfile`).
    pub lockfile: Option<PathBuf>,
    /// Use only the lockfile, no registry requests (`--offline`).
    pub offline: bool,
    /// Re-resolve every image and rewrite the lockfile (`--update-lock`).
    pub update_lock: bool,
    /// Cache directory for digests (`--cache-dir`; default: `$XDG_CACHE_HOME/chart-harden`).
    pub cache_dir: Option<PathBuf>,
    /// Do not use the digest cache (`--no-cache`).
    pub no_cache: bool,
}

/// The effective settings of a run: what [`crate::run`] takes.
pub type Settings = Config;

/// The effective configuration of a run ([`Settings`]): the config file, then the flags.
#[derive(Debug, Clone)]
pub struct Config {
    /// Profile.
    pub profile: Profile,
    /// Apply unsafe fixes globally.
    pub unsafe_fixes: bool,
    /// Release namespace (`--namespace`).
    pub namespace: Option<String>,
    /// Release name (`--release`).
    pub release: Option<String>,
    /// Disabled rule codes.
    pub disabled: BTreeSet<&'static str>,
    /// Rule codes explicitly enabled.
    pub enabled: BTreeSet<&'static str>,
    /// Per-rule unsafe-fix overrides by code.
    pub unsafe_by_rule: BTreeMap<&'static str, bool>,
    /// Pod security options.
    pub pod_security: PodSecurityOptions,
    /// Image options.
    pub images: ImageOptions,
    /// Generator options (free-form, by generator name).
    pub generate: BTreeMap<String, Value>,
    /// Digest failure policy.
    pub on_resolve_error: OnResolveError,
    /// Where digests come from (lockfile, cache, network).
    pub resolve: ResolveSettings,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            profile: Profile::Staging,
            unsafe_fixes: false,
            namespace: None,
            release: None,
            disabled: BTreeSet::new(),
            enabled: BTreeSet::new(),
            unsafe_by_rule: BTreeMap::new(),
            pod_security: PodSecurityOptions::default(),
            images: ImageOptions::default(),
            generate: BTreeMap::new(),
            on_resolve_error: OnResolveError::Warn,
            resolve: ResolveSettings::default(),
        }
    }
}

fn lookup_rule(
    find: &impl Fn(&str) -> Option<&'static RuleMeta>,
    id: &str,
) -> Result<&'static RuleMeta, Error> {
    find(id).ok_or_else(|| {
        Error::Config(format!(
            "unknown rule id `{id}` (see `chart-harden rules` for the list)"
        ))
    })
}

impl Config {
    /// Builds the effective config from the file (command-line overrides are applied on top
    /// by the caller); `find` names the rules the file may mention (`rules::find`).
    pub fn from_file(
        file: Option<ConfigFile>,
        find: impl Fn(&str) -> Option<&'static RuleMeta>,
    ) -> Result<Config, Error> {
        let file = file.unwrap_or_default();
        let profile = file.profile.unwrap_or_default();
        let mut cfg = Config {
            profile,
            unsafe_fixes: file.unsafe_fixes.unwrap_or(profile == Profile::Prod),
            namespace: file.namespace,
            release: file.release,
            pod_security: file.pod_security.unwrap_or_default(),
            images: file.images.unwrap_or_default(),
            generate: file.generate,
            on_resolve_error: file
                .on_resolve_error
                .unwrap_or(if profile == Profile::Prod {
                    OnResolveError::Fail
                } else {
                    OnResolveError::Warn
                }),
            ..Config::default()
        };
        for id in &file.disable {
            cfg.disabled.insert(lookup_rule(&find, id)?.code);
        }
        for id in &file.enable {
            cfg.enabled.insert(lookup_rule(&find, id)?.code);
        }
        for (id, s) in &file.rules {
            let code = lookup_rule(&find, id)?.code;
            match s.enabled {
                Some(true) => {
                    cfg.enabled.insert(code);
                }
                Some(false) => {
                    cfg.disabled.insert(code);
                }
                None => {}
            }
            if let Some(u) = s.unsafe_fixes {
                cfg.unsafe_by_rule.insert(code, u);
            }
        }
        Ok(cfg)
    }

    /// Parses a config file's text.
    pub fn parse_file(text: &str, path: &str) -> Result<ConfigFile, Error> {
        // A repeated key is a mistake in a file someone wrote: say which, do not let the
        // last one win silently.
        let v = crate::yaml::view::parse_unique_keys(text)
            .map_err(|e| Error::Config(format!("{path}: invalid YAML: {e}")))?;
        if v.is_null() {
            return Ok(ConfigFile::default());
        }
        serde_json::from_value(v.to_json()).map_err(|e| Error::Config(format!("{path}: {e}")))
    }

    /// Applies a profile chosen on the command line (overrides the file's).
    pub fn set_profile(&mut self, p: Profile) {
        self.profile = p;
        if p == Profile::Prod {
            self.unsafe_fixes = true;
            self.on_resolve_error = OnResolveError::Fail;
        }
    }

    /// Is the rule on for this run?
    pub fn rule_enabled(&self, meta: &RuleMeta) -> bool {
        if self.disabled.contains(meta.code) {
            return false;
        }
        meta.default_enabled || self.enabled.contains(meta.code)
    }

    /// Would a fix of this applicability from this rule be applied? `Err` carries why not.
    pub fn fix_allowed(&self, meta: &RuleMeta, a: Applicability) -> Result<(), String> {
        if self.profile == Profile::Dev {
            return Err("dev profile reports only".to_string());
        }
        match a {
            Applicability::Safe => Ok(()),
            Applicability::ReportOnly => Err("report-only".to_string()),
            Applicability::Unsafe => {
                let on = self
                    .unsafe_by_rule
                    .get(meta.code)
                    .copied()
                    .unwrap_or(self.unsafe_fixes);
                if on {
                    Ok(())
                } else {
                    Err("unsafe fix: enable with --unsafe-fixes or --profile prod".to_string())
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_key_is_an_error_naming_it() {
        for (text, key) in [
            ("profile: dev\nprofile: prod\n", "profile"),
            (
                "images:\n  pin: true\n  concurrency: 2\n  pin: false\n",
                "pin",
            ),
            (
                "rules:\n  CH101: {enabled: true}\n  CH101: {enabled: false}\n",
                "CH101",
            ),
        ] {
            let e = Config::parse_file(text, "chart-harden.yaml")
                .expect_err(text)
                .to_string();
            assert!(
                e.contains("chart-harden.yaml") && e.contains(&format!("duplicate key `{key}`")),
                "{text:?}: {e}"
            );
        }
        // The same keys in different mappings are fine.
        Config::parse_file(
            "images: {pin: true}\nrules: {pin-image-digest: {enabled: true}}\n",
            "c",
        )
        .unwrap();
    }
}
