//! Mutation fuzzing of the whole library pipeline (`chart_harden::run`).
//!
//! Inputs are real documents (the shared chart corpus and `testdata/`), mutated with byte
//! flips, YAML-token insertions, truncation, line shuffles and splices. For each input:
//! `harden` must not panic (checked with `catch_unwind`), and when it succeeds its output must
//! harden to itself byte for byte and parse again. Every document is also read by the typed
//! view's fast path and by serde-saphyr: the fast path must agree or decline. A Secret seed
//! carries planted values: while an input holds one whole, no error and no report (text,
//! markdown, JSON, SARIF) may contain it.
//!
//! By default the test runs a few hundred executions (fast enough for CI). For a long run:
//!
//! ```sh
//! CHART_HARDEN_FUZZ_SECONDS=120 cargo test --release --test fuzz_long -- --nocapture
//! ```
//!
//! or `scripts/fuzz.sh 120`. `CHART_HARDEN_FUZZ_SEED` picks the seed (default: fixed for the
//! short run, time-based for a timed run); `CHART_HARDEN_FUZZ_ITERS` sets the count for the
//! short run. Every failing input is written to `target/fuzz-crashes/` and the test fails.

use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chart_harden::config::Config;

/// xorshift64*: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

fn shared_dir() -> PathBuf {
    let p = std::env::var_os("CHART_HARDEN_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    assert!(
        p.join("corpus").is_dir(),
        "shared corpus not found at {} (set CHART_HARDEN_SHARED)",
        p.display()
    );
    p
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = rd.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            yaml_files(&p, out);
        } else if matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("yaml") | Some("yml")
        ) {
            out.push(p);
        }
    }
}

/// Seed documents: every document of every corpus chart and of testdata (YAML files only;
/// Helm templates in the demo chart are skipped since they are not YAML).
/// Values planted in a Secret seed (in `stringData` and, base64, in `data`): no error or
/// report may show them.
const PLANTED: &[&str] = &["planted-pw-7f3c9", "cGxhbnRlZC1wdy03ZjNjOQ=="];

const SECRET_SEED: &str = "apiVersion: v1
kind: Secret
metadata:
  name: planted
stringData:
  password: planted-pw-7f3c9
  url: postgres://app:planted-pw-7f3c9@db:5432/app
data:
  token: cGxhbnRlZC1wdy03ZjNjOQ==
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: db-client
spec:
  selector:
    matchLabels: {app: db-client}
  template:
    metadata:
      labels: {app: db-client}
    spec:
      containers:
      - name: c
        image: example.com/c:1
        envFrom: [{secretRef: {name: planted}}]
";

fn seeds() -> Vec<Vec<u8>> {
    let shared = shared_dir();
    let mut files = Vec::new();
    yaml_files(&shared.join("corpus"), &mut files);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let mut local = Vec::new();
    yaml_files(&root, &mut local);
    files.extend(
        local
            .into_iter()
            .filter(|p| !p.components().any(|c| c.as_os_str() == "templates")),
    );
    let mut docs = Vec::new();
    for f in files {
        let Ok(bytes) = std::fs::read(&f) else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        for d in text.split("\n---") {
            if d.trim().is_empty() || d.len() > 64 * 1024 {
                continue;
            }
            docs.push(format!("---{d}\n").into_bytes());
        }
    }
    assert!(docs.len() > 100, "too few seed documents: {}", docs.len());
    // The planted Secret, whole and as its two documents (mutations splice them with others).
    docs.push(SECRET_SEED.as_bytes().to_vec());
    for d in SECRET_SEED.split("---\n") {
        docs.push(d.as_bytes().to_vec());
    }
    docs
}

const TOKENS: &[&str] = &[
    "---\n",
    "...\n",
    "\t",
    "\r\n",
    "\r",
    "\u{feff}",
    "&a ",
    "*a",
    "<<: *a\n",
    "!!str ",
    "!!binary ",
    "!custom ",
    "? ",
    ": ",
    "- ",
    "[",
    "]",
    "{",
    "}",
    ",",
    "\"",
    "'",
    "|\n",
    ">-\n",
    "#",
    " #",
    "%YAML 1.2\n",
    "\n  ",
    "\n    ",
    "\n",
    "null",
    "~",
    "on",
    "0755",
    "1e3",
    "é",
    "\u{1F600}",
    "\\u0000",
    "kind: List\nitems:\n- ",
    "securityContext:\n",
    "privileged: true",
    "runAsUser: 0",
    "containers:\n- name: x\n  image: y\n",
    "metadata: {annotations: {chart-harden.io/skip: all}}\n",
];

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>], workloads: &[usize]) -> Vec<u8> {
    // Half the time start from a workload: that is where the rules and the patcher work.
    let first = if rng.chance(50) && !workloads.is_empty() {
        workloads[rng.below(workloads.len())]
    } else {
        rng.below(seeds.len())
    };
    let mut buf = seeds[first].clone();
    // Sometimes a small stream of several documents.
    while rng.chance(25) {
        buf.extend_from_slice(&seeds[rng.below(seeds.len())]);
    }
    // Few mutations keep most inputs valid enough to reach the rules and the patcher.
    let rounds = if rng.chance(30) {
        1 + rng.below(6)
    } else {
        rng.below(3)
    };
    for _ in 0..rounds {
        let len = buf.len();
        match rng.below(11) {
            0 => {
                // byte flip
                if len > 0 {
                    let i = rng.below(len);
                    buf[i] ^= 1 << rng.below(8);
                }
            }
            1 => {
                // random byte
                if len > 0 {
                    let i = rng.below(len);
                    buf[i] = rng.next() as u8;
                }
            }
            2..=4 => {
                // YAML token insertion
                let t = TOKENS[rng.below(TOKENS.len())].as_bytes();
                let i = rng.below(len + 1);
                buf.splice(i..i, t.iter().copied());
            }
            5 => {
                // truncation
                let i = rng.below(len + 1);
                buf.truncate(i);
            }
            6 => {
                // delete a range
                if len > 0 {
                    let a = rng.below(len);
                    let b = (a + 1 + rng.below(64)).min(len);
                    buf.drain(a..b);
                }
            }
            7 => {
                // duplicate a line
                let lines: Vec<&[u8]> = buf.split_inclusive(|&b| b == b'\n').collect();
                if !lines.is_empty() {
                    let i = rng.below(lines.len());
                    let mut out = Vec::with_capacity(len * 2);
                    for (j, l) in lines.iter().enumerate() {
                        out.extend_from_slice(l);
                        if j == i {
                            out.extend_from_slice(l);
                        }
                    }
                    buf = out;
                }
            }
            8 => {
                // change a line's indentation
                let lines: Vec<Vec<u8>> = buf
                    .split_inclusive(|&b| b == b'\n')
                    .map(<[u8]>::to_vec)
                    .collect();
                if !lines.is_empty() {
                    let i = rng.below(lines.len());
                    let mut out = Vec::with_capacity(len + 8);
                    for (j, l) in lines.into_iter().enumerate() {
                        if j == i {
                            if rng.chance(50) {
                                out.extend_from_slice(b"  ");
                                out.extend_from_slice(&l);
                            } else {
                                let skip = l.iter().take(2).take_while(|&&b| b == b' ').count();
                                out.extend_from_slice(&l[skip..]);
                            }
                        } else {
                            out.extend_from_slice(&l);
                        }
                    }
                    buf = out;
                }
            }
            9 => {
                // splice a piece of another seed
                let other = &seeds[rng.below(seeds.len())];
                if !other.is_empty() {
                    let a = rng.below(other.len());
                    let b = (a + 1 + rng.below(256)).min(other.len());
                    let i = rng.below(len + 1);
                    buf.splice(i..i, other[a..b].iter().copied());
                }
            }
            _ => {
                // CRLF everywhere
                let mut out = Vec::with_capacity(len + len / 16);
                for &b in &buf {
                    if b == b'\n' {
                        out.push(b'\r');
                    }
                    out.push(b);
                }
                buf = out;
            }
        }
    }
    buf
}

/// The typed view's fast path (`src/yaml/fast.rs`) must read every document it accepts exactly
/// as serde-saphyr does, and must decline every document serde-saphyr rejects.
fn fast_path_disagrees(input: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(input).ok()?;
    for seg in chart_harden::yaml::split::split(text) {
        let doc = &text[seg.text.clone()];
        let fast = panic::catch_unwind(|| chart_harden::yaml::fast::parse(doc));
        let Ok(fast) = fast else {
            return Some("panic in the fast path".into());
        };
        let trees = panic::catch_unwind(|| {
            chart_harden::yaml::tree::build_from_lines(doc).map(|t| {
                let reference = chart_harden::yaml::tree::build_from_events(doc).ok();
                t == reference.unwrap_or_default()
            })
        });
        match trees {
            Err(_) => return Some("panic in the line reader's span tree".into()),
            Ok(Some(false)) => return Some("line reader's span tree differs".into()),
            Ok(_) => {}
        }
        let Some(v) = fast else { continue };
        match chart_harden::yaml::view::reference(doc) {
            Ok(r) if r == v => {}
            Ok(_) => return Some("fast path reads a document differently".into()),
            Err(e) => return Some(format!("fast path accepts what serde-saphyr rejects: {e}")),
        }
    }
    None
}

/// Runs one input; returns whether the pipeline accepted it, and a failure description.
fn check_one(input: &[u8], cfg: &Config) -> (bool, Option<String>) {
    if let Some(why) = fast_path_disagrees(input) {
        return (false, Some(why));
    }
    let images = BTreeMap::new();
    let first = panic::catch_unwind(AssertUnwindSafe(|| {
        chart_harden::run(input.to_vec(), cfg, &images)
    }));
    // A Secret's planted value, when the input still holds it whole, never reaches an error
    // or a report (the output stream is where it belongs).
    let planted: Vec<&str> = PLANTED
        .iter()
        .copied()
        .filter(|p| input.windows(p.len()).any(|w| w == p.as_bytes()))
        .collect();
    let leaks = |text: &str, what: &str| -> Option<String> {
        planted
            .iter()
            .find(|p| text.contains(**p))
            .map(|p| format!("planted Secret value {p:?} in the {what}"))
    };
    let out = match first {
        Err(_) => return (false, Some("panic on input".into())),
        Ok(Err(e)) => {
            // A clean error is a correct answer to hostile input, if it keeps secrets.
            return (false, leaks(&e.to_string(), "error"));
        }
        Ok(Ok(o)) => o,
    };
    for format in [
        chart_harden::report::Format::Text,
        chart_harden::report::Format::Markdown,
        chart_harden::report::Format::Json,
        chart_harden::report::Format::Sarif,
    ] {
        let r = chart_harden::report::render(&out, format, false);
        if let Some(why) = leaks(&r, &format!("{format:?} report")) {
            return (true, Some(why));
        }
    }
    let second = panic::catch_unwind(AssertUnwindSafe(|| {
        chart_harden::run(out.to_bytes(), cfg, &images)
    }));
    let failure = match second {
        Err(_) => Some("panic on own output".into()),
        Ok(Err(e)) => Some(format!("own output rejected: {e}")),
        Ok(Ok(o2)) if o2.to_bytes() != out.to_bytes() => Some("not idempotent".into()),
        Ok(Ok(_)) => None,
    };
    (true, failure)
}

fn save_crash(input: &[u8], why: &str) -> PathBuf {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    input.hash(&mut h);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-crashes");
    let _ = std::fs::create_dir_all(&dir);
    let p = dir.join(format!("{:016x}.yaml", h.finish()));
    let _ = std::fs::write(&p, input);
    let _ = std::fs::write(p.with_extension("why"), why);
    p
}

#[test]
fn fuzz_pipeline() {
    let seconds: Option<u64> = std::env::var("CHART_HARDEN_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok());
    let iters: u64 = std::env::var("CHART_HARDEN_FUZZ_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let seed: u64 = std::env::var("CHART_HARDEN_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| match seconds {
            Some(_) => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64),
            None => 0x5EED_C0DE,
        })
        | 1;
    let seeds = seeds();
    let workloads: Vec<usize> = (0..seeds.len())
        .filter(|&i| seeds[i].windows(11).any(|w| w == b"containers:"))
        .collect();
    let cfgs = {
        let mut prod = Config::default();
        prod.set_profile(chart_harden::config::Profile::Prod);
        prod.unsafe_fixes = true;
        [Config::default(), prod]
    };

    // Keep panic messages: print the first of each kind, not thousands.
    let messages: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = Arc::clone(&messages);
    let previous = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        if let Ok(mut m) = sink.lock() {
            m.push(info.to_string());
        }
    }));

    let mut rng = Rng(seed);
    let start = Instant::now();
    let deadline = seconds.map(|s| start + Duration::from_secs(s));
    let mut execs: u64 = 0;
    let mut accepted: u64 = 0;
    let mut crashes: Vec<(PathBuf, String)> = Vec::new();
    loop {
        match deadline {
            Some(d) if Instant::now() >= d => break,
            None if execs >= iters => break,
            _ => {}
        }
        let input = mutate(&mut rng, &seeds, &workloads);
        let cfg = &cfgs[(execs % 2) as usize];
        let (ok, failure) = check_one(&input, cfg);
        accepted += u64::from(ok);
        if let Some(why) = failure {
            let detail = messages.lock().map(|m| m.join("\n")).unwrap_or_default();
            let why = format!("{why}\n{detail}");
            let p = save_crash(&input, &why);
            crashes.push((p, why));
        }
        if let Ok(mut m) = messages.lock() {
            m.clear();
        }
        execs += 1;
    }
    panic::set_hook(previous);
    let secs = start.elapsed().as_secs_f64();
    println!(
        "fuzz: seed {seed} executions {execs} in {secs:.1}s ({:.0} exec/s), accepted {accepted}, crashes {}",
        execs as f64 / secs.max(1e-9),
        crashes.len()
    );
    for (p, why) in crashes.iter().take(20) {
        println!(
            "crash: {} — {}",
            p.display(),
            why.lines().take(3).collect::<Vec<_>>().join(" | ")
        );
    }
    assert!(
        crashes.is_empty(),
        "{} failing inputs (saved under target/fuzz-crashes/)",
        crashes.len()
    );
}
