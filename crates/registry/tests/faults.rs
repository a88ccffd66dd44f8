//! Fault injection: a proxy on 127.0.0.1 in front of a real registry
//! misbehaves in specific ways; the resolver must retry what is transient,
//! fail clearly on the rest, and never produce a wrong pin.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chart_harden_registry::{Resolution, ResolveError, Resolver, ResolverConfig, Source};
use common::push::{build, Built, ImageSpec, Pusher};
use common::{tempdir, test_config, Action, Proxy, Registry, Req};

fn ok<'a>(m: &'a BTreeMap<String, Result<Resolution, ResolveError>>, k: &str) -> &'a Resolution {
    match m.get(k) {
        Some(Ok(r)) => r,
        Some(Err(e)) => panic!("{k}: {e}"),
        None => panic!("{k}: no result"),
    }
}

fn err<'a>(m: &'a BTreeMap<String, Result<Resolution, ResolveError>>, k: &str) -> &'a ResolveError {
    match m.get(k) {
        Some(Err(e)) => {
            eprintln!("ERR {k}: {e}");
            e
        }
        Some(Ok(r)) => panic!("{k}: expected an error, got a pin {r:?}"),
        None => panic!("{k}: no result"),
    }
}

/// A registry with `app:1` (User 1000) pushed.
async fn setup() -> (Registry, Built) {
    let reg = Registry::start();
    let img = build(&ImageSpec::new("app").user("1000"));
    Pusher::new(&reg.host(), None)
        .push("app", Some("1"), &img)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    (reg, img)
}

fn is_tag_manifest(r: &Req) -> bool {
    r.path == "/v2/app/manifests/1"
}

async fn run(
    proxy: &Proxy,
    cfg: ResolverConfig,
) -> (
    BTreeMap<String, Result<Resolution, ResolveError>>,
    String,
    Resolver,
) {
    let r = Resolver::new(cfg).unwrap_or_else(|e| panic!("{e}"));
    let img = format!("{}/app:1", proxy.host());
    let out = r.resolve_all(std::slice::from_ref(&img)).await;
    (out, img, r)
}

#[tokio::test]
async fn rate_limited_with_retry_after_then_success() {
    let (reg, img) = setup().await;
    let proxy = Proxy::start(
        reg.port,
        Arc::new(|r: &Req| {
            if is_tag_manifest(r) && r.seen == 0 {
                Action::Respond(
                    429,
                    vec![("Retry-After".into(), "1".into())],
                    br#"{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}"#.to_vec(),
                )
            } else {
                Action::Forward
            }
        }),
    )
    .await;
    let work = tempdir();
    let start = Instant::now();
    let (out, name, r) = run(&proxy, test_config(work.path())).await;
    assert_eq!(ok(&out, &name).digest, img.digest);
    // backoff_base is 10 ms: only Retry-After explains a 1 s wait.
    assert!(
        start.elapsed() >= Duration::from_millis(950),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(proxy.count("/manifests/1"), 2);
    assert!(r.stats().network_requests >= 3);

    // A Retry-After beyond the allowed maximum fails at once.
    let proxy = Proxy::start(
        reg.port,
        Arc::new(|r: &Req| {
            if is_tag_manifest(r) {
                Action::Respond(429, vec![("Retry-After".into(), "3600".into())], Vec::new())
            } else {
                Action::Forward
            }
        }),
    )
    .await;
    let start = Instant::now();
    let (out, name, _) = run(&proxy, test_config(work.path())).await;
    let e = err(&out, &name);
    assert!(matches!(e, ResolveError::Http { status: 429, .. }), "{e:?}");
    assert!(e.to_string().contains("3600"), "{e}");
    assert!(start.elapsed() < Duration::from_secs(2));
    assert_eq!(proxy.count("/manifests/1"), 1);
}

#[tokio::test]
async fn persistent_500_fails_after_bounded_attempts() {
    let (reg, _) = setup().await;
    let proxy = Proxy::start(
        reg.port,
        Arc::new(|r: &Req| {
            if is_tag_manifest(r) {
                Action::Respond(500, vec![], b"internal kaboom".to_vec())
            } else {
                Action::Forward
            }
        }),
    )
    .await;
    let work = tempdir();
    let cfg = ResolverConfig {
        max_attempts: 4,
        ..test_config(work.path())
    };
    let (out, name, _) = run(&proxy, cfg).await;
    let e = err(&out, &name);
    assert!(
        matches!(
            e,
            ResolveError::Http {
                status: 500,
                attempts: 4,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        format!(
            "image \"{name}\" (registry {}): internal kaboom (HTTP 500, 4 attempts)",
            proxy.host()
        )
    );
    assert_eq!(proxy.count("/manifests/1"), 4);
}

#[tokio::test]
async fn hanging_registry_times_out_within_bound() {
    let (reg, _) = setup().await;
    let proxy = Proxy::start(
        reg.port,
        Arc::new(|r: &Req| {
            if is_tag_manifest(r) {
                Action::Hang
            } else {
                Action::Forward
            }
        }),
    )
    .await;
    let work = tempdir();
    let cfg = ResolverConfig {
        timeout: Duration::from_millis(300),
        max_attempts: 2,
        ..test_config(work.path())
    };
    let start = Instant::now();
    let (out, name, _) = run(&proxy, cfg).await;
    let took = start.elapsed();
    let e = err(&out, &name);
    assert!(
        matches!(e, ResolveError::Timeout { attempts: 2, .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("timed out after 300ms"), "{e}");
    // 2 attempts × 300 ms + backoff, far below the 120 s the proxy would hang.
    assert!(took >= Duration::from_millis(600), "{took:?}");
    assert!(took < Duration::from_millis(2500), "{took:?}");
}

#[tokio::test]
async fn connection_reset_is_retried_then_reported() {
    let (reg, img) = setup().await;
    let proxy = Proxy::start(
        reg.port,
        Arc::new(|r: &Req| {
            if is_tag_manifest(r) && r.seen == 0 {
                Action::Reset
            } else {
                Action::Forward
            }
        }),
    )
    .await;
    let work = tempdir();
    let (out, name, _) = run(&proxy, test_config(work.path())).await;
    assert_eq!(ok(&out, &name).digest, img.digest);
    assert_eq!(proxy.count("/manifests/1"), 2);

    let proxy = Proxy::start(
        reg.port,
        Arc::new(|r: &Req| {
            if is_tag_manifest(r) {
                Action::Reset
            } else {
                Action::Forward
            }
        }),
    )
    .await;
    let (out, name, _) = run(&proxy, test_config(work.path())).await;
    let e = err(&out, &name);
    assert!(
        matches!(e, ResolveError::Connection { attempts: 3, .. }),
        "{e:?}"
    );
    assert!(
        e.to_string().starts_with(&format!(
            "image \"{name}\" (registry {}): connection failed",
            proxy.host()
        )),
        "{e}"
    );
}

#[tokio::test]
async fn truncated_body_is_never_pinned() {
    let (reg, img) = setup().await;
    // Once: retried, then the right digest.
    let proxy = Proxy::start(
        reg.port,
        Arc::new(|r: &Req| {
            if is_tag_manifest(r) && r.seen == 0 {
                Action::Truncate
            } else {
                Action::Forward
            }
        }),
    )
    .await;
    let work = tempdir();
    let (out, name, _) = run(&proxy, test_config(work.path())).await;
    assert_eq!(ok(&out, &name).digest, img.digest);

    // Always: an error, no pin.
    let proxy = Proxy::start(
        reg.port,
        Arc::new(|r: &Req| {
            if is_tag_manifest(r) {
                Action::Truncate
            } else {
                Action::Forward
            }
        }),
    )
    .await;
    let (out, name, _) = run(&proxy, test_config(work.path())).await;
    let e = err(&out, &name);
    assert!(matches!(e, ResolveError::Connection { .. }), "{e:?}");

    // Truncated config blob: also never accepted.
    let proxy = Proxy::start(
        reg.port,
        Arc::new(|r: &Req| {
            if r.path.contains("/blobs/") {
                Action::Truncate
            } else {
                Action::Forward
            }
        }),
    )
    .await;
    let (out, name, _) = run(&proxy, test_config(work.path())).await;
    assert!(err(&out, &name).to_string().contains(&name));
}

#[tokio::test]
async fn digest_mismatch_is_an_error_not_a_pin() {
    let (reg, _) = setup().await;
    let proxy = Proxy::start(
        reg.port,
        Arc::new(|r: &Req| {
            if is_tag_manifest(r) {
                Action::Corrupt
            } else {
                Action::Forward
            }
        }),
    )
    .await;
    let work = tempdir();
    let lock = work.path().join("lock.json");
    let cfg = ResolverConfig {
        lockfile: Some(lock.clone()),
        use_cache: true,
        cache_dir: Some(work.path().join("cache")),
        ..test_config(work.path())
    };
    let (out, name, r) = run(&proxy, cfg.clone()).await;
    let e = err(&out, &name);
    match e {
        ResolveError::DigestMismatch {
            claimed, actual, ..
        } => assert_ne!(claimed, actual),
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().contains("digest mismatch"), "{e}");
    r.write_lockfile().unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !lock.exists()
            || !std::fs::read_to_string(&lock)
                .unwrap_or_default()
                .contains("app:1")
    );
    // Nothing was cached either.
    let (out, name, _) = run(&proxy, cfg).await;
    assert!(matches!(
        err(&out, &name),
        ResolveError::DigestMismatch { .. }
    ));
}

#[tokio::test]
async fn tag_moving_mid_run_gives_one_consistent_pin() {
    let reg = Registry::start();
    let p = Pusher::new(&reg.host(), None);
    let a = build(&ImageSpec::new("a").user("111"));
    let b = build(&ImageSpec::new("b").user("222"));
    p.push("app", Some("a"), &a)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    p.push("app", Some("b"), &b)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // Every request for the tag gets the other image.
    let flip = Arc::new(AtomicUsize::new(0));
    let f = Arc::clone(&flip);
    let proxy = Proxy::start(
        reg.port,
        Arc::new(move |r: &Req| {
            if r.path == "/v2/app/manifests/latest" {
                let n = f.fetch_add(1, Ordering::SeqCst);
                Action::ForwardAs(
                    if n % 2 == 0 {
                        "/v2/app/manifests/a"
                    } else {
                        "/v2/app/manifests/b"
                    }
                    .into(),
                )
            } else {
                Action::Forward
            }
        }),
    )
    .await;
    let work = tempdir();
    let r = Resolver::new(test_config(work.path())).unwrap_or_else(|e| panic!("{e}"));
    let h = proxy.host();
    let spellings = vec![format!("{h}/app"), format!("{h}/app:latest")];
    let out = r.resolve_all(&spellings).await;
    let first = ok(&out, &spellings[0]).clone();
    let second = ok(&out, &spellings[1]).clone();
    assert_eq!(
        first.digest, second.digest,
        "one pin per image for the whole run"
    );
    // The facts belong to the pinned digest.
    let expected_user = if first.digest == a.digest {
        "111"
    } else {
        assert_eq!(first.digest, b.digest);
        "222"
    };
    assert_eq!(first.user.as_deref(), Some(expected_user));
    // Asking again in the same run does not re-resolve.
    let again = r.resolve_all(&spellings).await;
    assert_eq!(ok(&again, &spellings[0]).digest, first.digest);
    assert_eq!(flip.load(Ordering::SeqCst), 1);
}

const TOKEN: &str = "tok-3141592653";
const PW: &str = "Tr0ub4dor&3-secret";

/// A registry behind a bearer-token server (the proxy plays both roles).
async fn token_proxy(reg: &Registry, require_basic: Option<String>) -> Proxy {
    let listener_port = Arc::new(AtomicUsize::new(0));
    let lp = Arc::clone(&listener_port);
    let proxy = Proxy::start(
        reg.port,
        Arc::new(move |r: &Req| {
            let port = lp.load(Ordering::SeqCst);
            if r.path.starts_with("/token") {
                if let Some(expected) = &require_basic {
                    if r.headers.get("authorization") != Some(expected) {
                        return Action::Respond(
                            401,
                            vec![],
                            br#"{"details":"incorrect username or password"}"#.to_vec(),
                        );
                    }
                }
                if !r.path.contains("scope=repository%3Aapp%3Apull")
                    && !r.path.contains("scope=repository:app:pull")
                {
                    return Action::Respond(400, vec![], b"bad scope".to_vec());
                }
                return Action::Respond(
                    200,
                    vec![],
                    format!(r#"{{"token":"{TOKEN}"}}"#).into_bytes(),
                );
            }
            if r.headers.get("authorization").map(String::as_str)
                == Some(&format!("Bearer {TOKEN}"))
            {
                return Action::Forward;
            }
            Action::Respond(
                401,
                vec![(
                    "WWW-Authenticate".into(),
                    format!(
                        r#"Bearer realm="http://127.0.0.1:{port}/token",service="test-registry""#
                    ),
                )],
                br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#
                    .to_vec(),
            )
        }),
    )
    .await;
    listener_port.store(usize::from(proxy.port), Ordering::SeqCst);
    proxy
}

#[tokio::test]
async fn anonymous_bearer_token_flow() {
    let (reg, img) = setup().await;
    let proxy = token_proxy(&reg, None).await;
    let work = tempdir();
    let (out, name, _) = run(&proxy, test_config(work.path())).await;
    let res = ok(&out, &name);
    assert_eq!(res.digest, img.digest);
    assert_eq!(res.user.as_deref(), Some("1000"));
    assert_eq!(res.source, Source::Registry);
    assert!(proxy.count("/token") >= 1);
}

#[tokio::test]
async fn bearer_token_flow_with_credentials() {
    use base64::Engine as _;
    let (reg, img) = setup().await;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("bob:{PW}"))
    );
    let proxy = token_proxy(&reg, Some(basic)).await;
    let work = tempdir();
    let write_cfg = |name: &str, pass: &str| {
        let p = work.path().join(name);
        std::fs::write(
            &p,
            format!(
                r#"{{"auths":{{"{}":{{"username":"bob","password":"{pass}"}}}}}}"#,
                proxy.host()
            ),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        p
    };
    let good = write_cfg("good.json", PW);
    let (out, name, _) = run(
        &proxy,
        ResolverConfig {
            auth_file: Some(good),
            ..test_config(work.path())
        },
    )
    .await;
    assert_eq!(ok(&out, &name).digest, img.digest);

    let bad = write_cfg("bad.json", "nope-wrong-Secret");
    let (out, name, r) = run(
        &proxy,
        ResolverConfig {
            auth_file: Some(bad),
            ..test_config(work.path())
        },
    )
    .await;
    let e = err(&out, &name);
    let shown = format!("{e} {e:?} {r:?}");
    assert!(matches!(e, ResolveError::Unauthorized { .. }), "{e:?}");
    assert!(
        !shown.contains("nope-wrong-Secret") && !shown.contains(PW),
        "{shown}"
    );
    assert!(e.to_string().contains("\"bob\""), "{e}");
}

#[tokio::test]
async fn identity_token_is_exchanged_with_refresh_token_grant() {
    let (reg, img) = setup().await;
    const IDTOKEN: &str = "identity-Refresh-9f8e7d";
    let listener_port = Arc::new(AtomicUsize::new(0));
    let lp = Arc::clone(&listener_port);
    let proxy = Proxy::start(
        reg.port,
        Arc::new(move |r: &Req| {
            let port = lp.load(Ordering::SeqCst);
            if r.path.starts_with("/token") {
                let body = String::from_utf8_lossy(&r.body);
                if r.method == "POST"
                    && body.contains("grant_type=refresh_token")
                    && body.contains(&format!("refresh_token={IDTOKEN}"))
                    && body.contains("scope=repository%3Aapp%3Apull")
                    && body.contains("service=test-registry")
                {
                    return Action::Respond(
                        200,
                        vec![],
                        format!(r#"{{"access_token":"{TOKEN}"}}"#).into_bytes(),
                    );
                }
                return Action::Respond(401, vec![], b"bad grant".to_vec());
            }
            if r.headers.get("authorization").map(String::as_str)
                == Some(&format!("Bearer {TOKEN}"))
            {
                return Action::Forward;
            }
            Action::Respond(
                401,
                vec![(
                    "WWW-Authenticate".into(),
                    format!(
                        r#"Bearer realm="http://127.0.0.1:{port}/token",service="test-registry""#
                    ),
                )],
                Vec::new(),
            )
        }),
    )
    .await;
    listener_port.store(usize::from(proxy.port), Ordering::SeqCst);
    let work = tempdir();
    let p = work.path().join("id.json");
    std::fs::write(
        &p,
        format!(
            r#"{{"auths":{{"{}":{{"identitytoken":"{IDTOKEN}"}}}}}}"#,
            proxy.host()
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let (out, name, r) = run(
        &proxy,
        ResolverConfig {
            auth_file: Some(p),
            ..test_config(work.path())
        },
    )
    .await;
    assert_eq!(ok(&out, &name).digest, img.digest);
    assert!(!format!("{r:?}").contains(IDTOKEN));
}

#[tokio::test]
async fn concurrency_is_bounded() {
    let reg = Registry::start();
    let p = Pusher::new(&reg.host(), None);
    let mut names = Vec::new();
    for i in 0..9 {
        let repo = format!("c{i}");
        p.push(&repo, Some("1"), &build(&ImageSpec::new(&repo)))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        names.push(repo);
    }
    let proxy = Proxy::start(
        reg.port,
        Arc::new(|r: &Req| {
            if r.path.contains("/manifests/") {
                Action::Delay(Duration::from_millis(150))
            } else {
                Action::Forward
            }
        }),
    )
    .await;
    let work = tempdir();
    let r = Resolver::new(ResolverConfig {
        concurrency: 3,
        ..test_config(work.path())
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let refs: Vec<String> = names
        .iter()
        .map(|n| format!("{}/{n}:1", proxy.host()))
        .collect();
    let start = Instant::now();
    let out = r.resolve_all(&refs).await;
    assert!(out.values().all(Result::is_ok), "{out:?}");
    let max = proxy.max_in_flight.load(Ordering::SeqCst);
    assert!((2..=3).contains(&max), "max in flight {max}");
    // 9 images, 3 at a time, 150 ms each: at least 3 rounds.
    assert!(
        start.elapsed() >= Duration::from_millis(450),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn shared_manifest_config_is_fetched_once() {
    let (reg, img) = setup().await;
    let p = Pusher::new(&reg.host(), None);
    p.push("app", Some("same"), &img)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    p.push("copy", Some("1"), &img)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let proxy = Proxy::start(reg.port, Arc::new(|_: &Req| Action::Forward)).await;
    let work = tempdir();
    let r = Resolver::new(test_config(work.path())).unwrap_or_else(|e| panic!("{e}"));
    let h = proxy.host();
    let refs = vec![
        format!("{h}/app:1"),
        format!("{h}/app:same"),
        format!("{h}/copy:1"),
    ];
    let out = r.resolve_all(&refs).await;
    for k in &refs {
        assert_eq!(ok(&out, k).digest, img.digest);
        assert_eq!(ok(&out, k).user.as_deref(), Some("1000"));
    }
    // Concurrent lookups may race to the config; never more than one each.
    assert!(proxy.count("/blobs/") <= 3);
    // Sequentially, the second lookup reuses the facts.
    let r = Resolver::new(ResolverConfig {
        concurrency: 1,
        ..test_config(work.path())
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let before = proxy.count("/blobs/");
    let out = r.resolve_all(&refs).await;
    assert!(out.values().all(Result::is_ok));
    assert_eq!(proxy.count("/blobs/") - before, 1);
    assert_eq!(r.stats().network_requests, 1 + 3 + 1);
}
