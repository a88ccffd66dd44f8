//! Integration tests against a real registry (CNCF distribution,
//! `docker-registry`) started on 127.0.0.1 by the test itself.

mod common;

use std::collections::BTreeMap;

use chart_harden_registry::{Resolution, ResolveError, Resolver, ResolverConfig, Source};
use common::push::{build, ImageSpec, Pusher};
use common::{tempdir, test_config, Registry};

fn refs(v: &[String]) -> Vec<String> {
    v.to_vec()
}

fn ok<'a>(m: &'a BTreeMap<String, Result<Resolution, ResolveError>>, k: &str) -> &'a Resolution {
    match m.get(k) {
        Some(Ok(r)) => r,
        Some(Err(e)) => panic!("{k}: {e}"),
        None => panic!("{k}: no result; have {:?}", m.keys().collect::<Vec<_>>()),
    }
}

fn err<'a>(m: &'a BTreeMap<String, Result<Resolution, ResolveError>>, k: &str) -> &'a ResolveError {
    match m.get(k) {
        Some(Err(e)) => {
            eprintln!("ERR {k}: {e}");
            e
        }
        Some(Ok(r)) => panic!("{k}: expected an error, got {r:?}"),
        None => panic!("{k}: no result"),
    }
}

fn resolver(cfg: ResolverConfig) -> Resolver {
    Resolver::new(cfg).unwrap_or_else(|e| panic!("resolver: {e}"))
}

struct Seeded {
    user_digest: String,
    root_digest: String,
    docker_digest: String,
    index_digest: String,
    amd64_user: &'static str,
}

/// Pushes: app:1 (User 1000, Volumes /data /cache), root:1 (no User),
/// dock:1 (Docker schema 2 types), multi:1 (index: amd64 + arm64/v8).
async fn seed(p: &Pusher) -> Seeded {
    let user = build(
        &ImageSpec::new("app")
            .user("1000")
            .volume("/data")
            .volume("/cache"),
    );
    p.push("app", Some("1"), &user)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let root = build(&ImageSpec::new("root"));
    p.push("root", Some("1"), &root)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let dock = build(&ImageSpec::new("dock").user("nobody").docker());
    p.push("dock", Some("1"), &dock)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let amd = build(&ImageSpec::new("multi-amd64").user("65532"));
    let arm = build(
        &ImageSpec::new("multi-arm64")
            .user("1")
            .platform("arm64", Some("v8")),
    );
    let index_digest = p
        .push_index("multi", "1", &[&amd, &arm])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    Seeded {
        user_digest: user.digest,
        root_digest: root.digest,
        docker_digest: dock.digest,
        index_digest,
        amd64_user: "65532",
    }
}

/// Without the registry binary the tests fail (never skip) and say how to
/// install it.
#[test]
#[should_panic(expected = "run `sudo scripts/install-registry.sh`")]
fn missing_registry_binary_fails_with_install_hint() {
    let _ = Registry::start_using(std::path::Path::new("/nonexistent/docker-registry"), None);
}

#[tokio::test]
async fn resolves_tags_to_locally_computed_digests() {
    let reg = Registry::start();
    let h = reg.host();
    let s = seed(&Pusher::new(&h, None)).await;
    let work = tempdir();
    let r = resolver(test_config(work.path()));
    let app = format!("{h}/app:1");
    let input = refs(&[
        app.clone(),
        app.clone(),
        format!("{h}/root:1"),
        format!("{h}/dock:1"),
        format!("{h}/multi:1"),
        format!("{h}/missing:1"),
        "Not/Valid".to_string(),
    ]);
    let out = r.resolve_all(&input).await;
    assert_eq!(
        out.len(),
        6,
        "duplicates are resolved once: {:?}",
        out.keys()
    );

    let a = ok(&out, &app);
    assert_eq!(a.digest, s.user_digest);
    assert_eq!(a.user.as_deref(), Some("1000"));
    assert_eq!(a.volumes, vec!["/cache".to_string(), "/data".to_string()]);
    assert_eq!(a.media_type, "application/vnd.oci.image.manifest.v1+json");
    assert!(a.platforms.is_empty());
    assert_eq!(a.source, Source::Registry);
    assert_eq!(a.canonical, format!("{h}/app:1"));
    assert_eq!(a.pinned_reference(), format!("{app}@{}", s.user_digest));

    let root = ok(&out, &format!("{h}/root:1"));
    assert_eq!(root.digest, s.root_digest);
    assert_eq!(root.user, None);
    assert!(root.volumes.is_empty());

    let d = ok(&out, &format!("{h}/dock:1"));
    assert_eq!(d.digest, s.docker_digest);
    assert_eq!(
        d.media_type,
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(d.user.as_deref(), Some("nobody"));

    let m = ok(&out, &format!("{h}/multi:1"));
    assert_eq!(m.digest, s.index_digest, "the index digest is pinned");
    assert_eq!(m.media_type, "application/vnd.oci.image.index.v1+json");
    assert_eq!(
        m.platforms,
        vec!["linux/amd64".to_string(), "linux/arm64/v8".to_string()]
    );
    assert_eq!(
        m.user.as_deref(),
        Some(s.amd64_user),
        "config of linux/amd64 is read"
    );

    let e = err(&out, &format!("{h}/missing:1"));
    assert!(matches!(e, ResolveError::Http { status: 404, .. }), "{e:?}");
    assert!(e.to_string().ends_with("(HTTP 404)"), "{e}");
    assert!(e
        .to_string()
        .starts_with(&format!("image \"{h}/missing:1\" (registry {h}): ")));
    let e = err(&out, "Not/Valid");
    assert!(matches!(e, ResolveError::InvalidReference(_)));
    assert!(e.to_string().contains("\"Not/Valid\""), "{e}");

    let st = r.stats();
    assert_eq!(st.registry_lookups, 5, "{st:?}");
    assert!(st.network_requests >= 6, "{st:?}");
}

#[tokio::test]
async fn missing_tag_error_names_image_registry_and_cause() {
    let reg = Registry::start();
    let h = reg.host();
    let p = Pusher::new(&h, None);
    p.push("foo", Some("2"), &build(&ImageSpec::new("foo")))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let work = tempdir();
    let r = resolver(test_config(work.path()));
    let img = format!("{h}/foo:1");
    let out = r.resolve_all(std::slice::from_ref(&img)).await;
    let e = err(&out, &img);
    assert_eq!(
        e.to_string(),
        format!("image \"{img}\" (registry {h}): manifest unknown (HTTP 404)")
    );
}

#[tokio::test]
async fn lockfile_makes_second_run_network_free() {
    let mut reg = Registry::start();
    let h = reg.host();
    let s = seed(&Pusher::new(&h, None)).await;
    let work = tempdir();
    let lock = work.path().join("images.lock.json");
    let input = refs(&[
        format!("{h}/app:1"),
        format!("{h}/multi:1"),
        format!("{h}/root:1"),
    ]);

    let cfg = ResolverConfig {
        lockfile: Some(lock.clone()),
        ..test_config(work.path())
    };
    let r1 = resolver(cfg.clone());
    let out = r1.resolve_all(&input).await;
    assert!(out.values().all(Result::is_ok), "{out:?}");
    r1.write_lockfile().unwrap_or_else(|e| panic!("{e}"));
    let text = std::fs::read_to_string(&lock).unwrap_or_else(|e| panic!("{e}"));
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(v["version"], 1);
    let images = v["images"].as_array().cloned().unwrap_or_default();
    let names: Vec<&str> = images
        .iter()
        .filter_map(|e| e["reference"].as_str())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "entries sorted");
    assert_eq!(names.len(), 3);
    let multi = images
        .iter()
        .find(|e| e["reference"] == format!("{h}/multi:1"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(multi["digest"], s.index_digest.as_str());
    assert_eq!(
        multi["platforms"],
        serde_json::json!(["linux/amd64", "linux/arm64/v8"])
    );
    assert_eq!(
        multi["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let app = images
        .iter()
        .find(|e| e["reference"] == format!("{h}/app:1"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(app["user"], "1000");
    assert_eq!(app["volumes"], serde_json::json!(["/cache", "/data"]));
    assert!(
        app["resolvedAt"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z') && t.len() == 20),
        "{app}"
    );
    // Writing again without changes leaves the file alone.
    let mtime = std::fs::metadata(&lock).and_then(|m| m.modified()).ok();
    r1.write_lockfile().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        std::fs::metadata(&lock).and_then(|m| m.modified()).ok(),
        mtime
    );

    // Registry gone: a locked run must not need it.
    reg.stop();
    let r2 = resolver(cfg.clone());
    let out = r2.resolve_all(&input).await;
    for k in &input {
        let res = ok(&out, k);
        assert_eq!(res.source, Source::Lockfile);
    }
    assert_eq!(
        ok(&out, &format!("{h}/app:1")).user.as_deref(),
        Some("1000")
    );
    assert_eq!(ok(&out, &format!("{h}/multi:1")).digest, s.index_digest);
    let st = r2.stats();
    assert_eq!(st.network_requests, 0, "{st:?}");
    assert_eq!(st.lock_hits, 3);

    // A failed run (new image, registry down) leaves the lockfile intact.
    let before = std::fs::read(&lock).unwrap_or_default();
    let extra = format!("{h}/new:1");
    let mut more = input.clone();
    more.push(extra.clone());
    let r3 = resolver(ResolverConfig {
        timeout: std::time::Duration::from_millis(500),
        max_attempts: 1,
        ..cfg.clone()
    });
    let out = r3.resolve_all(&more).await;
    assert!(
        matches!(err(&out, &extra), ResolveError::Connection { .. }),
        "{:?}",
        out.get(&extra)
    );
    r3.write_lockfile().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(std::fs::read(&lock).unwrap_or_default(), before);

    // Offline: lock only; a miss is an error naming the image.
    let r4 = resolver(ResolverConfig {
        offline: true,
        ..cfg.clone()
    });
    let out = r4.resolve_all(&more).await;
    assert_eq!(ok(&out, &format!("{h}/root:1")).digest, s.root_digest);
    let e = err(&out, &extra);
    assert!(matches!(e, ResolveError::OfflineMiss { .. }), "{e:?}");
    assert!(e.to_string().contains(&format!("\"{extra}\"")), "{e}");
    assert_eq!(r4.stats().network_requests, 0);
    r4.write_lockfile().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(std::fs::read(&lock).unwrap_or_default(), before);
}

#[tokio::test]
async fn update_lock_re_resolves_and_prunes() {
    let reg = Registry::start();
    let h = reg.host();
    let p = Pusher::new(&h, None);
    let v1 = build(&ImageSpec::new("v1"));
    p.push("moving", Some("t"), &v1)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    p.push("other", Some("t"), &build(&ImageSpec::new("o")))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let work = tempdir();
    let lock = work.path().join("lock.json");
    let cfg = ResolverConfig {
        lockfile: Some(lock.clone()),
        ..test_config(work.path())
    };
    let moving = format!("{h}/moving:t");
    let other = format!("{h}/other:t");
    let r = resolver(cfg.clone());
    let out = r.resolve_all(&[moving.clone(), other.clone()]).await;
    assert_eq!(ok(&out, &moving).digest, v1.digest);
    r.write_lockfile().unwrap_or_else(|e| panic!("{e}"));

    // The tag moves; the lock keeps the old pin.
    let v2 = build(&ImageSpec::new("v2").user("7"));
    p.push("moving", Some("t"), &v2)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let r = resolver(cfg.clone());
    let out = r.resolve_all(std::slice::from_ref(&moving)).await;
    assert_eq!(ok(&out, &moving).digest, v1.digest);
    assert_eq!(ok(&out, &moving).source, Source::Lockfile);

    // update_lock: re-resolved, and `other` (not asked for) is dropped.
    let r = resolver(ResolverConfig {
        update_lock: true,
        ..cfg.clone()
    });
    let out = r.resolve_all(std::slice::from_ref(&moving)).await;
    assert_eq!(ok(&out, &moving).digest, v2.digest);
    assert_eq!(ok(&out, &moving).source, Source::Registry);
    r.write_lockfile().unwrap_or_else(|e| panic!("{e}"));
    let l = chart_harden_registry::Lockfile::load(&lock).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(l.len(), 1);
    assert_eq!(
        l.get(&moving).map(|e| e.digest.clone()),
        Some(v2.digest.clone())
    );
    assert_eq!(
        l.get(&moving).and_then(|e| e.user.clone()).as_deref(),
        Some("7")
    );
}

#[tokio::test]
async fn cache_avoids_repeat_lookups_between_runs() {
    let mut reg = Registry::start();
    let h = reg.host();
    let s = seed(&Pusher::new(&h, None)).await;
    let work = tempdir();
    let cfg = ResolverConfig {
        use_cache: true,
        cache_dir: Some(work.path().join("cache")),
        ..test_config(work.path())
    };
    let input = refs(&[format!("{h}/app:1"), format!("{h}/multi:1")]);
    let r = resolver(cfg.clone());
    let out = r.resolve_all(&input).await;
    assert_eq!(ok(&out, &input[0]).source, Source::Registry);
    // Another spelling of the same canonical reference hits the same entry.
    reg.stop();
    let r = resolver(cfg.clone());
    let mut again = input.clone();
    again.push(format!("{h}/app:1"));
    let out = r.resolve_all(&again).await;
    assert_eq!(ok(&out, &input[0]).source, Source::Cache);
    assert_eq!(ok(&out, &input[0]).digest, s.user_digest);
    assert_eq!(ok(&out, &input[0]).user.as_deref(), Some("1000"));
    assert_eq!(ok(&out, &input[1]).platforms.len(), 2);
    assert_eq!(r.stats().network_requests, 0);
    assert_eq!(r.stats().cache_hits, 2);

    // Disabled cache or expired entries go to the (now stopped) registry.
    for cfg in [
        ResolverConfig {
            use_cache: false,
            max_attempts: 1,
            ..cfg.clone()
        },
        ResolverConfig {
            cache_ttl: std::time::Duration::ZERO,
            max_attempts: 1,
            ..cfg.clone()
        },
    ] {
        // A zero TTL still accepts entries from this very second: age them.
        if cfg.cache_ttl.is_zero() {
            std::thread::sleep(std::time::Duration::from_millis(1100));
        }
        let r = resolver(cfg);
        let out = r.resolve_all(&input[..1]).await;
        assert!(out.values().all(Result::is_err), "{out:?}");
        assert!(r.stats().network_requests > 0);
    }
}

#[tokio::test]
async fn pinned_references_left_alone_unless_verified() {
    let reg = Registry::start();
    let h = reg.host();
    let s = seed(&Pusher::new(&h, None)).await;
    let work = tempdir();
    let pinned = format!("{h}/app:1@{}", s.user_digest);
    let wrong = format!("{h}/app@sha256:{}", "0".repeat(64));
    let r = resolver(test_config(work.path()));
    let out = r.resolve_all(&[pinned.clone(), wrong.clone()]).await;
    assert_eq!(ok(&out, &pinned).source, Source::Pinned);
    assert_eq!(ok(&out, &pinned).digest, s.user_digest);
    assert_eq!(ok(&out, &wrong).source, Source::Pinned);
    assert_eq!(r.stats().network_requests, 0);

    let r = resolver(ResolverConfig {
        verify_pinned: true,
        ..test_config(work.path())
    });
    let out = r.resolve_all(&[pinned.clone(), wrong.clone()]).await;
    let v = ok(&out, &pinned);
    assert_eq!(
        (v.source, v.digest.as_str()),
        (Source::Registry, s.user_digest.as_str())
    );
    assert_eq!(v.user.as_deref(), Some("1000"));
    let e = err(&out, &wrong);
    assert!(matches!(e, ResolveError::Http { status: 404, .. }), "{e:?}");
}

const PASSWORD: &str = "Corr3ct-Horse-Battery";
const WRONG: &str = "wr0ng-Pa55w0rd-xyz";

fn docker_config(dir: &std::path::Path, host: &str, user: &str, pass: &str) -> std::path::PathBuf {
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    let p = dir.join(if pass == PASSWORD {
        "good.json"
    } else {
        "bad.json"
    });
    std::fs::write(
        &p,
        format!(r#"{{"auths":{{"http://{host}/v2/":{{"auth":"{auth}"}}}}}}"#),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    p
}

#[tokio::test]
async fn basic_auth_registry_via_docker_config() {
    let reg = Registry::start_with(Some(("alice", PASSWORD)));
    let h = reg.host();
    let img = build(&ImageSpec::new("secret").user("1000"));
    Pusher::new(&h, Some(("alice", PASSWORD)))
        .push("private/app", Some("1"), &img)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let work = tempdir();
    let reference = format!("{h}/private/app:1");
    let lock = work.path().join("lock.json");

    let good = docker_config(work.path(), &h, "alice", PASSWORD);
    let cfg = ResolverConfig {
        auth_file: Some(good.clone()),
        lockfile: Some(lock.clone()),
        ..test_config(work.path())
    };
    let r = resolver(cfg.clone());
    assert!(!format!("{r:?}").contains(PASSWORD));
    let out = r.resolve_all(std::slice::from_ref(&reference)).await;
    assert_eq!(ok(&out, &reference).digest, img.digest);
    assert_eq!(ok(&out, &reference).user.as_deref(), Some("1000"));
    r.write_lockfile().unwrap_or_else(|e| panic!("{e}"));
    let lock_text = std::fs::read_to_string(&lock).unwrap_or_default();
    assert!(!lock_text.contains(PASSWORD) && !lock_text.contains("alice"));

    // Wrong password: clear error, password nowhere.
    let bad = docker_config(work.path(), &h, "alice", WRONG);
    let r = resolver(ResolverConfig {
        auth_file: Some(bad.clone()),
        lockfile: None,
        ..cfg.clone()
    });
    let out = r.resolve_all(std::slice::from_ref(&reference)).await;
    let e = err(&out, &reference);
    let shown = format!("{e} | {e:?} | {r:?}");
    assert!(matches!(e, ResolveError::Unauthorized { .. }), "{e:?}");
    assert!(!shown.contains(WRONG), "{shown}");
    assert!(!shown.contains(PASSWORD), "{shown}");
    assert!(e.to_string().contains("HTTP 401"), "{e}");
    assert!(e.to_string().contains("\"alice\""), "{e}");
    assert!(e.to_string().contains(&bad.display().to_string()), "{e}");
    assert!(
        e.to_string()
            .starts_with(&format!("image \"{reference}\" (registry {h}): ")),
        "{e}"
    );

    // No credentials at all.
    let r = resolver(ResolverConfig {
        lockfile: None,
        ..test_config(work.path())
    });
    let out = r.resolve_all(std::slice::from_ref(&reference)).await;
    let e = err(&out, &reference);
    assert!(matches!(e, ResolveError::Unauthorized { .. }), "{e:?}");
    assert!(e.to_string().contains("no credentials"), "{e}");

    // Debug of the loaded auth config never shows the password.
    let a = chart_harden_registry::auth::AuthConfig::from_files(&[good, bad])
        .unwrap_or_else(|e| panic!("{e}"));
    let d = format!("{a:?}");
    assert!(!d.contains(PASSWORD) && !d.contains(WRONG), "{d}");
    let c = a.credentials_for(&h).ok().flatten();
    let d = format!("{c:?}");
    assert!(d.contains("alice") && !d.contains(PASSWORD), "{d}");
}
