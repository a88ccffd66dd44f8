//! Credential discovery from the environment (`DOCKER_CONFIG`,
//! `REGISTRY_AUTH_FILE`, `XDG_RUNTIME_DIR/containers/auth.json`, credential
//! helpers on `PATH`) against a real htpasswd-protected registry.
//!
//! This binary changes process environment variables, so it holds a single
//! test that runs its scenarios one after another.

mod common;

use base64::Engine as _;
use chart_harden_registry::{ResolveError, Resolver, ResolverConfig};
use common::push::{build, ImageSpec, Pusher};
use common::{tempdir, test_config, Registry};

const PASSWORD: &str = "env-Pa55-word-42";

fn auth_json(host: &str, pass: &str) -> String {
    let a = base64::engine::general_purpose::STANDARD.encode(format!("carol:{pass}"));
    format!(r#"{{"auths":{{"{host}":{{"auth":"{a}"}}}}}}"#)
}

fn write(p: &std::path::Path, s: &str) {
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d).unwrap_or_else(|e| panic!("{e}"));
    }
    std::fs::write(p, s).unwrap_or_else(|e| panic!("{e}"));
}

fn clear_env() {
    for k in ["DOCKER_CONFIG", "REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR"] {
        std::env::remove_var(k);
    }
}

async fn attempt(reference: &str, work: &std::path::Path) -> Result<String, ResolveError> {
    let cfg = ResolverConfig {
        auth_file: None, // auto-discover
        ..test_config(work)
    };
    let r = Resolver::new(cfg)?;
    let out = r.resolve_all(&[reference.to_string()]).await;
    match out.into_values().next() {
        Some(res) => res.map(|x| x.digest),
        None => Err(ResolveError::Internal("no result".into())),
    }
}

#[tokio::test]
async fn credentials_are_discovered_from_the_environment() {
    let reg = Registry::start_with(Some(("carol", PASSWORD)));
    let h = reg.host();
    let img = build(&ImageSpec::new("env"));
    Pusher::new(&h, Some(("carol", PASSWORD)))
        .push("team/app", Some("1"), &img)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let reference = format!("{h}/team/app:1");
    let work = tempdir();
    let w = work.path();
    let home = w.join("home");
    std::env::set_var("HOME", &home);

    // DOCKER_CONFIG/config.json
    clear_env();
    write(&w.join("docker/config.json"), &auth_json(&h, PASSWORD));
    std::env::set_var("DOCKER_CONFIG", w.join("docker"));
    assert_eq!(
        attempt(&reference, w).await.ok(),
        Some(img.digest.clone()),
        "DOCKER_CONFIG"
    );

    // A wrong password there: clear error without the password.
    write(
        &w.join("baddocker/config.json"),
        &auth_json(&h, "not-The-pw-77"),
    );
    std::env::set_var("DOCKER_CONFIG", w.join("baddocker"));
    match attempt(&reference, w).await {
        Err(e @ ResolveError::Unauthorized { .. }) => {
            let s = format!("{e} {e:?}");
            assert!(!s.contains("not-The-pw-77") && !s.contains(PASSWORD), "{s}");
            assert!(s.contains("baddocker"), "{s}");
        }
        other => panic!("{other:?}"),
    }

    // REGISTRY_AUTH_FILE takes precedence over DOCKER_CONFIG.
    write(&w.join("containers-auth.json"), &auth_json(&h, PASSWORD));
    std::env::set_var("REGISTRY_AUTH_FILE", w.join("containers-auth.json"));
    assert_eq!(
        attempt(&reference, w).await.ok(),
        Some(img.digest.clone()),
        "REGISTRY_AUTH_FILE"
    );

    // ${XDG_RUNTIME_DIR}/containers/auth.json, also before DOCKER_CONFIG.
    clear_env();
    std::env::set_var("DOCKER_CONFIG", w.join("baddocker"));
    write(
        &w.join("run/containers/auth.json"),
        &auth_json(&h, PASSWORD),
    );
    std::env::set_var("XDG_RUNTIME_DIR", w.join("run"));
    assert_eq!(
        attempt(&reference, w).await.ok(),
        Some(img.digest.clone()),
        "XDG_RUNTIME_DIR"
    );

    // ~/.docker/config.json with a credsStore helper found on PATH.
    clear_env();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let bin = w.join("bin");
        let helper = bin.join("docker-credential-chtest");
        write(
            &helper,
            &format!(
                "#!/bin/sh\n[ \"$1\" = get ] || exit 2\nread server\n[ \"$server\" = \"{h}\" ] || {{ echo 'credentials not found in native keychain'; exit 1; }}\necho '{{\"ServerURL\":\"{h}\",\"Username\":\"carol\",\"Secret\":\"{PASSWORD}\"}}'\n"
            ),
        );
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("{e}"));
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        std::env::set_var("PATH", path);
        write(
            &home.join(".docker/config.json"),
            r#"{"auths":{},"credsStore":"chtest"}"#,
        );
        assert_eq!(
            attempt(&reference, w).await.ok(),
            Some(img.digest.clone()),
            "credsStore helper"
        );
    }
}
