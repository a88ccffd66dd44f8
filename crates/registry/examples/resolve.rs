//! Resolve image references to digests from the command line.
//!
//! ```text
//! cargo run --release --example resolve -p chart-harden-registry -- \
//!     [--lockfile PATH] [--offline] [--update-lock] [--no-cache] [--cache-dir DIR] \
//!     [--concurrency N] [--timeout-ms N] [--insecure HOST] [--auth-file PATH] \
//!     [--verify-pinned] [--quiet] [--json] [--refs-file FILE] REF...
//! ```
//!
//! Prints one `REF -> PINNED (source)` line per reference (or JSON with
//! `--json`) and a final `stats:` line on stderr. Exits 1 if any reference
//! failed.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use chart_harden_registry::{Resolver, ResolverConfig};

fn usage(msg: &str) -> ExitCode {
    eprintln!("resolve: {msg}");
    eprintln!("usage: resolve [--lockfile PATH] [--offline] [--update-lock] [--no-cache] [--cache-dir DIR] [--concurrency N] [--timeout-ms N] [--insecure HOST] [--auth-file PATH] [--verify-pinned] [--quiet] [--json] [--refs-file FILE] REF...");
    ExitCode::from(2)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> ExitCode {
    let mut cfg = ResolverConfig::default();
    let mut refs = Vec::new();
    let mut json = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        let r: Result<(), String> = (|| {
            match a.as_str() {
                "--lockfile" => cfg.lockfile = Some(PathBuf::from(val("--lockfile")?)),
                "--offline" => cfg.offline = true,
                "--update-lock" => cfg.update_lock = true,
                "--no-cache" => cfg.use_cache = false,
                "--cache-dir" => cfg.cache_dir = Some(PathBuf::from(val("--cache-dir")?)),
                "--auth-file" => cfg.auth_file = Some(PathBuf::from(val("--auth-file")?)),
                "--insecure" => cfg.insecure_registries.push(val("--insecure")?),
                "--verify-pinned" => cfg.verify_pinned = true,
                "--quiet" => cfg.quiet = true,
                "--json" => json = true,
                "--concurrency" => {
                    cfg.concurrency = val("--concurrency")?
                        .parse()
                        .map_err(|e| format!("--concurrency: {e}"))?
                }
                "--timeout-ms" => {
                    let ms: u64 = val("--timeout-ms")?
                        .parse()
                        .map_err(|e| format!("--timeout-ms: {e}"))?;
                    cfg.timeout = Duration::from_millis(ms);
                }
                "--refs-file" => {
                    let f = val("--refs-file")?;
                    let text = std::fs::read_to_string(&f).map_err(|e| format!("{f}: {e}"))?;
                    refs.extend(
                        text.lines()
                            .map(str::trim)
                            .filter(|l| !l.is_empty())
                            .map(str::to_string),
                    );
                }
                s if s.starts_with("--") => return Err(format!("unknown option {s}")),
                s => refs.push(s.to_string()),
            }
            Ok(())
        })();
        if let Err(m) = r {
            return usage(&m);
        }
    }
    if refs.is_empty() {
        return usage("no references given");
    }
    let resolver = match Resolver::new(cfg) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("resolve: {e}");
            return ExitCode::from(2);
        }
    };
    resolver.set_notice(std::sync::Arc::new(|line: &str| eprintln!("{line}")));
    let start = Instant::now();
    let out = resolver.resolve_all(&refs).await;
    let elapsed = start.elapsed();
    let mut failed = false;
    if json {
        let v: serde_json::Map<String, serde_json::Value> = out
            .iter()
            .map(|(k, r)| {
                let v = match r {
                    Ok(res) => serde_json::to_value(res).unwrap_or_default(),
                    Err(e) => serde_json::json!({"error": e.to_string()}),
                };
                (k.clone(), v)
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    }
    for (k, r) in &out {
        match r {
            Ok(res) if !json => println!("{k} -> {} ({:?})", res.pinned_reference(), res.source),
            Ok(_) => {}
            Err(e) => {
                failed = true;
                eprintln!("error: {e}");
            }
        }
    }
    if let Err(e) = resolver.write_lockfile() {
        eprintln!("error: {e}");
        failed = true;
    }
    let s = resolver.stats();
    eprintln!(
        "stats: refs={} elapsed_ms={} network_requests={} lock_hits={} cache_hits={} registry_lookups={} pinned={}",
        out.len(),
        elapsed.as_millis(),
        s.network_requests,
        s.lock_hits,
        s.cache_hits,
        s.registry_lookups,
        s.pinned
    );
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
