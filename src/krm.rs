//! `chart-harden krm`: a KRM function (kustomize exec function, kpt) per the
//! [KRM Functions Specification](https://github.com/kubernetes-sigs/kustomize/blob/master/cmd/config/docs/api-conventions/functions-spec.md).
//!
//! Reads a `ResourceList` (`apiVersion: config.kubernetes.io/v1`, `kind: ResourceList`,
//! `items`, optional `functionConfig`) on stdin and writes one back on stdout: the items
//! hardened (generated objects appended) and every finding as a `results` entry.
//!
//! Each item is serialized to YAML and the items are joined into one stream, which goes
//! through the normal pipeline; the output stream is parsed back into items. Annotations
//! kustomize and kpt put on items (`config.kubernetes.io/index`, `config.kubernetes.io/path`,
//! `internal.config.kubernetes.io/*`) are ordinary annotations to the pipeline and come back
//! unchanged.
//!
//! `functionConfig` carries the options, either as a `ConfigMap` whose `data` has the keys
//! of [`CONFIGMAP_KEYS`], or as `kind: ChartHarden` (`apiVersion: chart-harden.io/v1alpha1`)
//! whose `spec` is the `--config` file schema plus `lockfile` and `offline`. It takes the
//! place of `--config`; command-line flags still apply on top (the caller's settings
//! function, [`process`]).
//!
//! On any error (unparsable input, not a ResourceList, an item that is not a Kubernetes
//! object, a config error, a registry error with policy `fail`) the output is a
//! `ResourceList` with the input items unchanged and one `error` result, and the exit code
//! is non-zero (2, or 3 for a registry error), so kustomize and kpt stop.

use std::path::PathBuf;

use serde_json::{json, Map, Value};

use crate::config::{ConfigFile, Settings};
use crate::error::Error;
use crate::finding::{Finding, FixState, Severity};
use crate::resolve::DigestSource;

/// `apiVersion` of the ResourceList this function writes.
pub const RESOURCE_LIST_API_VERSION: &str = "config.kubernetes.io/v1";

/// Keys a `ConfigMap` functionConfig may carry in `data` (all values are strings).
pub const CONFIGMAP_KEYS: &[&str] = &[
    "profile",
    "unsafeFixes",
    "namespace",
    "release",
    "disable",
    "enable",
    "pin",
    "onResolveError",
    "lockfile",
    "offline",
];

/// Options that come from functionConfig besides the config file schema.
#[derive(Debug, Default)]
struct FnOptions {
    file: Option<ConfigFile>,
    lockfile: Option<PathBuf>,
    offline: bool,
}

fn parse_bool(key: &str, v: &str) -> Result<bool, Error> {
    match v.trim() {
        "true" | "True" | "TRUE" | "yes" | "1" => Ok(true),
        "false" | "False" | "FALSE" | "no" | "0" | "" => Ok(false),
        other => Err(Error::Config(format!(
            "functionConfig: `{key}` must be true or false, not `{other}`"
        ))),
    }
}

fn list(v: &str) -> Vec<Value> {
    v.split([',', ' ', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| Value::String(s.to_string()))
        .collect()
}

fn function_options(fc: &Value) -> Result<FnOptions, Error> {
    if fc.is_null() || fc.as_object().is_some_and(Map::is_empty) {
        return Ok(FnOptions::default());
    }
    let kind = fc.get("kind").and_then(Value::as_str).unwrap_or_default();
    match kind {
        "ConfigMap" => {
            let mut file = Map::new();
            let mut out = FnOptions::default();
            let data = match fc.get("data") {
                None | Some(Value::Null) => Map::new(),
                Some(Value::Object(m)) => m.clone(),
                Some(_) => {
                    return Err(Error::Config(
                        "functionConfig: ConfigMap `data` must be a mapping".into(),
                    ))
                }
            };
            for (k, v) in &data {
                let Some(v) = v.as_str() else {
                    return Err(Error::Config(format!(
                        "functionConfig: ConfigMap data `{k}` must be a string"
                    )));
                };
                match k.as_str() {
                    "profile" | "namespace" | "release" | "onResolveError" => {
                        file.insert(k.clone(), Value::String(v.trim().to_string()));
                    }
                    "unsafeFixes" => {
                        file.insert(k.clone(), Value::Bool(parse_bool(k, v)?));
                    }
                    "disable" | "enable" => {
                        file.insert(k.clone(), Value::Array(list(v)));
                    }
                    "pin" => {
                        file.insert("images".into(), json!({ "pin": parse_bool(k, v)? }));
                    }
                    "lockfile" => out.lockfile = Some(PathBuf::from(v.trim())),
                    "offline" => out.offline = parse_bool(k, v)?,
                    other => {
                        return Err(Error::Config(format!(
                            "functionConfig: unknown ConfigMap key `{other}` (known: {})",
                            CONFIGMAP_KEYS.join(", ")
                        )))
                    }
                }
            }
            out.file = Some(
                serde_json::from_value(Value::Object(file))
                    .map_err(|e| Error::Config(format!("functionConfig: {e}")))?,
            );
            Ok(out)
        }
        "ChartHarden" => {
            let mut spec = match fc.get("spec") {
                None | Some(Value::Null) => Map::new(),
                Some(Value::Object(m)) => m.clone(),
                Some(_) => {
                    return Err(Error::Config(
                        "functionConfig: ChartHarden `spec` must be a mapping".into(),
                    ))
                }
            };
            let mut out = FnOptions::default();
            match spec.remove("lockfile") {
                None | Some(Value::Null) => {}
                Some(Value::String(s)) => out.lockfile = Some(PathBuf::from(s)),
                Some(_) => {
                    return Err(Error::Config(
                        "functionConfig: spec.lockfile must be a string".into(),
                    ))
                }
            }
            match spec.remove("offline") {
                None | Some(Value::Null) => {}
                Some(Value::Bool(b)) => out.offline = b,
                Some(_) => {
                    return Err(Error::Config(
                        "functionConfig: spec.offline must be true or false".into(),
                    ))
                }
            }
            out.file = Some(
                serde_json::from_value(Value::Object(spec))
                    .map_err(|e| Error::Config(format!("functionConfig spec: {e}")))?,
            );
            Ok(out)
        }
        other => Err(Error::Config(format!(
            "functionConfig: kind `{other}` is not supported (use a ConfigMap with data keys {}, \
             or kind ChartHarden with the config file schema under spec)",
            CONFIGMAP_KEYS.join(", ")
        ))),
    }
}

fn annotation<'a>(item: &'a Value, keys: &[&str]) -> Option<&'a str> {
    let ann = item.pointer("/metadata/annotations")?;
    keys.iter()
        .find_map(|k| ann.get(*k).and_then(Value::as_str))
}

/// One KRM `results` entry for a finding.
fn result_of(f: &Finding, items: &[Value]) -> Value {
    let (severity, message) = match &f.fix {
        FixState::Applied { .. } => ("info", format!("fixed: {}", f.message)),
        _ => (
            match f.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
                Severity::Info => "info",
            },
            match &f.suggestion {
                Some(s) => format!("{} ({s})", f.message),
                None => f.message.to_string(),
            },
        ),
    };
    let r = &f.resource;
    let mut rref = Map::new();
    rref.insert("apiVersion".into(), json!(r.api_version));
    rref.insert("kind".into(), json!(r.kind));
    rref.insert("name".into(), json!(r.name));
    if let Some(ns) = &r.namespace {
        rref.insert("namespace".into(), json!(ns));
    }
    let fix = match &f.fix {
        FixState::Applied { .. } => "applied",
        FixState::Skipped { .. } => "skipped",
        FixState::Unfixable => "unfixable",
    };
    let mut tags = Map::new();
    tags.insert("rule".into(), json!(f.rule));
    tags.insert("ruleName".into(), json!(f.rule_name));
    tags.insert("fix".into(), json!(fix));
    if let FixState::Skipped { reason, .. } = &f.fix {
        tags.insert("skippedBecause".into(), json!(reason));
    }
    let mut res = Map::new();
    res.insert("message".into(), json!(message));
    res.insert("severity".into(), json!(severity));
    res.insert("resourceRef".into(), Value::Object(rref));
    if !f.path.is_empty() {
        res.insert("field".into(), json!({ "path": f.path }));
    }
    if let Some(item) = items.get(r.doc) {
        let path = annotation(
            item,
            &[
                "internal.config.kubernetes.io/path",
                "config.kubernetes.io/path",
            ],
        );
        if let Some(path) = path {
            let mut file = Map::new();
            file.insert("path".into(), json!(path));
            let index = annotation(
                item,
                &[
                    "internal.config.kubernetes.io/index",
                    "config.kubernetes.io/index",
                ],
            )
            .and_then(|i| i.parse::<u64>().ok());
            if let Some(i) = index {
                file.insert("index".into(), json!(i));
            }
            res.insert("file".into(), Value::Object(file));
        }
    }
    res.insert("tags".into(), Value::Object(tags));
    Value::Object(res)
}

fn resource_list(items: Vec<Value>, function_config: Option<Value>, results: Vec<Value>) -> Value {
    let mut m = Map::new();
    m.insert("apiVersion".into(), json!(RESOURCE_LIST_API_VERSION));
    m.insert("kind".into(), json!("ResourceList"));
    m.insert("items".into(), Value::Array(items));
    if let Some(fc) = function_config {
        if !fc.is_null() {
            m.insert("functionConfig".into(), fc);
        }
    }
    m.insert("results".into(), Value::Array(results));
    Value::Object(m)
}

/// The parts of an input ResourceList.
struct Input {
    items: Vec<Value>,
    function_config: Value,
}

fn parse_input(input: &[u8]) -> Result<Input, Error> {
    let text = std::str::from_utf8(input).map_err(|e| Error::Utf8 {
        offset: e.valid_up_to(),
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let v = crate::yaml::view::parse(text)
        .map_err(|message| Error::Yaml {
            doc: "ResourceList".into(),
            message: crate::yaml::view::redact_parse_message(text, message),
        })?
        .to_json();
    let bad = |m: &str| Error::NotAnObject {
        doc: "ResourceList".into(),
        message: m.to_string(),
    };
    let kind = v.get("kind").and_then(Value::as_str);
    let api = v.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    if kind != Some("ResourceList") || !api.starts_with("config.kubernetes.io/") {
        return Err(bad(&format!(
            "input must be a ResourceList (apiVersion config.kubernetes.io/v1), got apiVersion `{api}` kind `{}`",
            kind.unwrap_or("")
        )));
    }
    let items = match v.get("items") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => return Err(bad("`items` must be a list")),
    };
    Ok(Input {
        items,
        function_config: v.get("functionConfig").cloned().unwrap_or(Value::Null),
    })
}

fn items_stream(items: &[Value]) -> Result<String, Error> {
    let mut s = String::new();
    for (i, item) in items.iter().enumerate() {
        let y = serde_saphyr::to_string(item).map_err(|e| Error::NotAnObject {
            doc: format!("items[{i}]"),
            message: format!("cannot serialize: {e}"),
        })?;
        s.push_str("---\n");
        s.push_str(&y);
        if !s.ends_with('\n') {
            s.push('\n');
        }
    }
    Ok(s)
}

/// What the function answers: the output ResourceList and, when processing failed, the
/// error it reports (the list then holds the input items unchanged and one `error` result).
#[derive(Debug)]
pub struct Answer {
    /// The output ResourceList.
    pub list: Value,
    /// Why processing failed (exit code [`Error::exit_code`]), if it did.
    pub error: Option<Error>,
}

/// Processes a ResourceList: its items hardened (generated objects appended) and every
/// finding as a `results` entry. `settings` builds the run's settings from the config file
/// schema the functionConfig carries (`None`: it carries none), with the caller's own options
/// (command-line flags) on top; the functionConfig's `lockfile` and `offline` then apply.
pub fn process(
    input: &[u8],
    settings: &dyn Fn(Option<ConfigFile>) -> Result<Settings, Error>,
    digests: &dyn DigestSource,
) -> Answer {
    let parsed = match parse_input(input) {
        Ok(p) => p,
        Err(e) => {
            return Answer {
                list: error_list(&e, None),
                error: Some(e),
            }
        }
    };
    let run = || -> Result<Value, Error> {
        let fo = function_options(&parsed.function_config)?;
        let mut settings = settings(fo.file)?;
        if fo.lockfile.is_some() {
            settings.resolve.lockfile = fo.lockfile;
        }
        settings.resolve.offline |= fo.offline;
        let stream = items_stream(&parsed.items)?;
        let outcome = crate::run(stream.into_bytes(), &settings, digests)?;
        let items: Vec<Value> = outcome
            .stream
            .docs
            .iter()
            .filter(|d| !d.value.is_null())
            .map(|d| d.full_value().map(|v| v.to_json()))
            .collect::<Result<_, _>>()?;
        let results = outcome
            .findings
            .iter()
            .map(|f| result_of(f, &parsed.items))
            .collect();
        Ok(resource_list(
            items,
            Some(parsed.function_config.clone()),
            results,
        ))
    };
    match run() {
        Ok(list) => Answer { list, error: None },
        Err(e) => Answer {
            list: error_list(&e, Some(parsed)),
            error: Some(e),
        },
    }
}

/// The ResourceList written when processing failed: items unchanged, one error result.
fn error_list(e: &Error, input: Option<Input>) -> Value {
    let (items, fc) = match input {
        Some(i) => (i.items, Some(i.function_config)),
        None => (Vec::new(), None),
    };
    resource_list(
        items,
        fc,
        vec![json!({
            "message": format!("chart-harden: {e}"),
            "severity": "error",
            "tags": {"exitCode": e.exit_code().to_string()},
        })],
    )
}

/// A ResourceList as YAML, as the function writes it.
pub fn to_yaml(list: &Value) -> Result<String, Error> {
    serde_saphyr::to_string(list)
        .map_err(|e| Error::Config(format!("cannot serialize the ResourceList: {e}")))
}
