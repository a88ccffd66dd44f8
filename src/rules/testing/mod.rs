//! The one snapshot harness for rules (Ruff-style): a fixture in, the changed and added
//! documents plus the findings out, as one reviewable text, with the invariants every rule
//! must keep checked on every run.
//!
//! # Layout
//!
//! A case is a file `testdata/rules/<group>/<CODE>_<case>.yaml` (`CH101_basic.yaml`):
//! the rule under test is `CODE`, the only rule enabled. [`cases::every_fixture`] walks those
//! files, so adding a fixture adds a test. Other files in a group folder are inputs several
//! cases share (`floe-platform.yaml`) and chart-harden config files (`*.config.yaml`); they
//! are never cases themselves. Snapshots live in one folder, `testdata/rules/snapshots/`,
//! named `<CODE>_<case>.snap`, or `<CODE>_<case>.<run>.snap` when the case has several runs.
//!
//! # Header
//!
//! A case's options are a header: the leading lines of the file that start with
//! `# snapshot: ` (the header is removed before the stream is hardened). Each line is one
//! directive:
//!
//! - `input <file>` — harden `<file>` (relative to the case's folder) instead of the rest of
//!   this file: for a stream several rules' cases share.
//! - `run <name> [option…]` — one run, one snapshot. Without any `run` line a case has one
//!   run, `default`, without options. Options:
//!   - `unsafe-fixes` — apply unsafe fixes;
//!   - `profile=<dev|staging|prod>` — the profile (after the config file, before the other
//!     options);
//!   - `namespace=<ns>` — the release namespace (`--namespace`);
//!   - `config=<file>` — a chart-harden config file (relative to the case's folder);
//!   - `enable=<CODE>` — also enable another rule;
//!   - `all-rules` — keep every rule the configuration enables, not only `CODE`;
//!   - `unknown-users` — withhold the unsafe pod-security fixes of pods with a container whose
//!     user nothing names (`podSecurity.unknownUsers: report`, the product's default; without
//!     it a case's runs treat the images they name no facts for as `unknownUsers: restrict`
//!     does, so that a case shows its rule's fix);
//!   - `image=<ref>` — registry facts for an image, followed by `user=<user>` (the image
//!     config's `User`), as read from a lockfile.
//! - `has <text>`, `lacks <text>`, `count <n> <text>` — the snapshot contains `<text>`, does
//!   not, or contains it exactly `<n>` times; `has@<run>`, `lacks@<run>` and `count@<run>` for
//!   one run only. `<text>` is the rest of the line, verbatim.
//!
//! # Invariants, on every run
//!
//! - the fix loop converges (hardening succeeds) and is idempotent: hardening the output again
//!   changes nothing;
//! - documents no fix touched are byte-identical in the output;
//! - every fix stays within its rule's declared safety (`RuleMeta::fix`; a safe rule's fix
//!   that changes a value the chart set explicitly is reported unsafe and says so), and the
//!   configuration's fix policy decides what is applied: no fix is applied that the policy
//!   forbids.
//!
//! # Rendering
//!
//! For each changed document `=== changed <label>` and its unified diff (hunks, 3 lines of
//! context); for each added document `=== added <label>` and its text; then `=== findings`
//! and one line per finding: severity, rule, resource, field path, message and
//! `[applied (safety)]`, `[skipped: reason]` or `[no fix]`, with the suggestion on the next
//! line.
//!
//! Hardening goes through one function, [`harden`]: the only place that names the library's
//! entry point.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::config::{Config, Profile};
use crate::finding::{Applicability, FixState};
use crate::inventory::images::ImageFacts;
use crate::rules;

mod cases;

/// What one hardening run returns.
pub(crate) type Outcome = crate::pipeline::Outcome;

/// Hardens `input` once: the harness's only call into the library's entry point.
pub(crate) fn harden(
    input: &[u8],
    cfg: &Config,
    images: &BTreeMap<String, ImageFacts>,
) -> Result<Outcome, crate::error::Error> {
    crate::run(input.to_vec(), cfg, images)
}

/// The repository root.
pub(crate) fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where the cases live.
pub(crate) fn cases_dir() -> PathBuf {
    repo().join("testdata/rules")
}

/// The options of one run.
#[derive(Debug, Clone, Default)]
pub(crate) struct RunOptions {
    /// Apply unsafe fixes.
    pub unsafe_fixes: bool,
    /// Profile.
    pub profile: Option<Profile>,
    /// Release namespace.
    pub namespace: Option<String>,
    /// Config file (absolute, or relative to the case's folder).
    pub config: Option<PathBuf>,
    /// Further rules to enable.
    pub enable: Vec<String>,
    /// Keep every rule the configuration enables.
    pub all_rules: bool,
    /// Withhold unsafe pod-security fixes from pods whose users the run's image facts do not
    /// name (`podSecurity.unknownUsers: report`, the product's default).
    pub unknown_users_withheld: bool,
    /// Registry facts by image reference.
    pub images: BTreeMap<String, ImageFacts>,
}

/// One run of a case.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    /// Run name (`default` when the case declares none).
    pub name: String,
    /// Options.
    pub options: RunOptions,
}

/// An expectation on a run's snapshot.
#[derive(Debug, Clone)]
enum Expect {
    Has(String),
    Lacks(String),
    Count(usize, String),
}

/// One case: a fixture file and its header.
#[derive(Debug, Clone)]
pub(crate) struct Case {
    /// The fixture file.
    pub path: PathBuf,
    /// `<CODE>_<case>` (the file stem).
    pub name: String,
    /// The rule under test.
    pub code: String,
    /// The stream to harden.
    pub input: Vec<u8>,
    /// Its runs.
    pub runs: Vec<Run>,
    expects: Vec<(Option<String>, Expect)>,
}

/// True for a case file name: `CH` + three digits + `_` + a case name + `.yaml`.
fn is_case_file(name: &str) -> bool {
    let b = name.as_bytes();
    name.ends_with(".yaml")
        && !name.ends_with(".config.yaml")
        && b.len() > 11
        && name.starts_with("CH")
        && b[2..5].iter().all(u8::is_ascii_digit)
        && b[5] == b'_'
}

/// Every case under `testdata/rules/`, sorted by path.
pub(crate) fn cases() -> Vec<Case> {
    let mut paths = Vec::new();
    let root = cases_dir();
    for group in std::fs::read_dir(&root).unwrap_or_else(|e| panic!("{}: {e}", root.display())) {
        let group = group.expect("read_dir entry").path();
        if !group.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&group).unwrap_or_else(|e| panic!("{}: {e}", group.display())) {
            let p = f.expect("read_dir entry").path();
            if p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(is_case_file)
            {
                paths.push(p);
            }
        }
    }
    paths.sort();
    paths.iter().map(|p| Case::load(p)).collect()
}

impl Case {
    /// Reads a case file and its header.
    pub(crate) fn load(path: &Path) -> Case {
        let text = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("case file name")
            .to_string();
        let code = name.split('_').next().unwrap_or_default().to_string();
        let dir = path.parent().expect("case folder");
        let mut rest: &[u8] = &text;
        let mut header = Vec::new();
        while let Some(line) = rest.strip_prefix(b"# snapshot: ") {
            let end = line
                .iter()
                .position(|&c| c == b'\n')
                .map_or(line.len(), |i| i + 1);
            let l = std::str::from_utf8(&line[..end]).expect("header is UTF-8");
            header.push(l.trim_end_matches(['\n', '\r']).to_string());
            rest = &line[end..];
        }
        let mut case = Case {
            path: path.to_path_buf(),
            name,
            code,
            input: rest.to_vec(),
            runs: Vec::new(),
            expects: Vec::new(),
        };
        for line in header {
            let (directive, arg) = line.split_once(' ').unwrap_or((&line, ""));
            let (directive, run) = match directive.split_once('@') {
                Some((d, r)) => (d, Some(r.to_string())),
                None => (directive, None),
            };
            match directive {
                "input" => {
                    let p = dir.join(arg);
                    case.input =
                        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                }
                "run" => case.runs.push(parse_run(arg, path)),
                "has" => case.expects.push((run, Expect::Has(arg.to_string()))),
                "lacks" => case.expects.push((run, Expect::Lacks(arg.to_string()))),
                "count" => {
                    let (n, text) = arg.split_once(' ').unwrap_or((arg, ""));
                    let n = n
                        .parse()
                        .unwrap_or_else(|_| panic!("{}: count needs a number", path.display()));
                    case.expects.push((run, Expect::Count(n, text.to_string())));
                }
                other => panic!("{}: unknown header directive {other:?}", path.display()),
            }
        }
        if case.runs.is_empty() {
            case.runs.push(Run {
                name: "default".into(),
                options: RunOptions::default(),
            });
        }
        for (run, _) in &case.expects {
            if let Some(r) = run {
                assert!(
                    case.runs.iter().any(|x| &x.name == r),
                    "{}: expectation for an unknown run {r}",
                    path.display()
                );
            }
        }
        case
    }

    /// The snapshot name of a run.
    pub(crate) fn snapshot_name(&self, run: &Run) -> String {
        if self.runs.len() == 1 && run.name == "default" {
            self.name.clone()
        } else {
            format!("{}.{}", self.name, run.name)
        }
    }

    /// Runs one run: hardens (checking the invariants), renders, and checks the header's
    /// expectations for it. Returns the snapshot text.
    pub(crate) fn snapshot(&self, run: &Run) -> String {
        let dir = self.path.parent().expect("case folder");
        let cfg = config(&self.code, &run.options, dir);
        let label = self.snapshot_name(run);
        let out = harden_checked(&label, &self.input, &cfg, &run.options.images);
        let text = render(&out);
        for (r, e) in &self.expects {
            if r.as_ref().is_some_and(|r| r != &run.name) {
                continue;
            }
            match e {
                Expect::Has(t) => {
                    assert!(text.contains(t.as_str()), "{label}: lacks {t:?}:\n{text}")
                }
                Expect::Lacks(t) => {
                    assert!(!text.contains(t.as_str()), "{label}: has {t:?}:\n{text}")
                }
                Expect::Count(n, t) => assert_eq!(
                    text.matches(t.as_str()).count(),
                    *n,
                    "{label}: count of {t:?}:\n{text}"
                ),
            }
        }
        text
    }
}

fn parse_run(arg: &str, path: &Path) -> Run {
    let mut words = arg.split_whitespace();
    let name = words
        .next()
        .unwrap_or_else(|| panic!("{}: run needs a name", path.display()))
        .to_string();
    let mut o = RunOptions::default();
    let mut last_image: Option<String> = None;
    for w in words {
        let (k, v) = w.split_once('=').unwrap_or((w, ""));
        match k {
            "unsafe-fixes" => o.unsafe_fixes = true,
            "all-rules" => o.all_rules = true,
            "unknown-users" => o.unknown_users_withheld = true,
            "profile" => {
                o.profile = Some(match v {
                    "dev" => Profile::Dev,
                    "staging" => Profile::Staging,
                    "prod" => Profile::Prod,
                    _ => panic!("{}: unknown profile {v}", path.display()),
                })
            }
            "namespace" => o.namespace = Some(v.to_string()),
            "config" => o.config = Some(PathBuf::from(v)),
            "enable" => o.enable.push(v.to_string()),
            "image" => {
                o.images.insert(
                    v.to_string(),
                    ImageFacts {
                        source: "lockfile".into(),
                        ..ImageFacts::default()
                    },
                );
                last_image = Some(v.to_string());
            }
            "user" => {
                let img = last_image
                    .as_ref()
                    .and_then(|i| o.images.get_mut(i))
                    .unwrap_or_else(|| panic!("{}: user= needs an image= first", path.display()));
                img.user = Some(v.to_string());
            }
            _ => panic!("{}: unknown run option {w}", path.display()),
        }
    }
    Run { name, options: o }
}

/// The configuration of a run: the config file (if any), the profile, then only `code`
/// (and `enable`) enabled unless `all_rules`, unsafe fixes and namespace as asked, and never
/// digest pinning.
pub(crate) fn config(code: &str, o: &RunOptions, dir: &Path) -> Config {
    let file = o.config.as_ref().map(|f| {
        let p = dir.join(f);
        let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        Config::parse_file(&text, &p.display().to_string()).expect("config file parses")
    });
    let mut cfg = Config::from_file(file, rules::find).expect("config builds");
    if let Some(p) = o.profile {
        cfg.set_profile(p);
    }
    if !o.all_rules {
        for r in rules::all() {
            let m = r.meta();
            if m.code == code || o.enable.iter().any(|c| c == m.code) {
                cfg.disabled.remove(m.code);
                cfg.enabled.insert(m.code);
            } else {
                cfg.disabled.insert(m.code);
            }
        }
    }
    if o.unsafe_fixes {
        cfg.unsafe_fixes = true;
    }
    if o.namespace.is_some() {
        cfg.namespace.clone_from(&o.namespace);
    }
    cfg.images.pin = false;
    // A case names the image facts its runs rely on: an image it does not name runs as the
    // user the fixes choose, unless the run is about unknown users.
    cfg.pod_security.unknown_users = !o.unknown_users_withheld;
    cfg
}

use crate::pipeline::within_declared;

/// Hardens `input` with the invariants checked (module doc): converges, is idempotent,
/// leaves untouched documents byte-identical, keeps every fix within its rule's declared
/// safety and applies only what the fix policy allows.
pub(crate) fn harden_checked(
    label: &str,
    input: &[u8],
    cfg: &Config,
    images: &BTreeMap<String, ImageFacts>,
) -> Outcome {
    let out = harden(input, cfg, images).unwrap_or_else(|e| panic!("{label}: {e}"));
    let again =
        harden(&out.to_bytes(), cfg, images).unwrap_or_else(|e| panic!("{label} (2nd run): {e}"));
    assert_eq!(
        String::from_utf8_lossy(&again.to_bytes()),
        String::from_utf8_lossy(&out.to_bytes()),
        "{label}: hardening is not idempotent"
    );
    assert!(
        !again.changed(),
        "{label}: the second run changed something"
    );
    let inp = crate::document::parse_stream(input).expect("fixture parses");
    let outp = crate::document::parse_stream(&out.to_bytes()).expect("output parses");
    for d in &inp.docs {
        if !out.changes.iter().any(|c| c.doc == d.index) {
            assert_eq!(
                d.text, outp.docs[d.index].text,
                "{label}: untouched doc {} changed",
                d.index
            );
        }
    }
    for f in &out.findings {
        let Some(meta) = rules::find(f.rule) else {
            continue;
        };
        let (applied, a) = match &f.fix {
            FixState::Applied { applicability } => (true, *applicability),
            FixState::Skipped { applicability, .. } => (false, *applicability),
            FixState::Unfixable => continue,
        };
        let raised = meta.fix == Applicability::Safe
            && a == Applicability::Unsafe
            && f.message.contains("which the chart set explicitly: unsafe");
        assert!(
            within_declared(meta.fix, a) || raised,
            "{label}: {} declares fix safety {} but a {} fix was emitted: {}",
            f.rule,
            meta.fix.as_str(),
            a.as_str(),
            f.message
        );
        if applied {
            assert!(
                cfg.fix_allowed(meta, a).is_ok(),
                "{label}: {} applied a {} fix the policy forbids: {}",
                f.rule,
                a.as_str(),
                f.message
            );
        }
    }
    out
}

/// Renders an outcome (module doc, "Rendering").
pub(crate) fn render(out: &Outcome) -> String {
    let mut s = String::new();
    for c in &out.changes {
        if c.added {
            let _ = writeln!(s, "=== added {}\n{}", c.label, c.after.trim_end());
        } else {
            let _ = writeln!(s, "=== changed {}", c.label);
            s.push_str(
                &similar::TextDiff::from_lines(c.before.as_str(), c.after.as_str())
                    .unified_diff()
                    .context_radius(3)
                    .to_string(),
            );
        }
    }
    s.push_str("=== findings\n");
    for f in &out.findings {
        let state = match &f.fix {
            FixState::Applied { applicability } => format!("applied ({})", applicability.as_str()),
            FixState::Skipped { reason, .. } => format!("skipped: {reason}"),
            FixState::Unfixable => "no fix".into(),
        };
        let resource = f.resource.label();
        let path = if f.path.is_empty() {
            String::new()
        } else {
            format!(" {}", f.path)
        };
        let _ = writeln!(
            s,
            "{:?} {} {resource}{path}: {} [{state}]",
            f.severity, f.rule, f.message
        );
        if let Some(sug) = &f.suggestion {
            let _ = writeln!(s, "    suggestion: {sug}");
        }
    }
    s
}
