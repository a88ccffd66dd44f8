//! Digest pinning against hostile or broken inputs, through the real binary: malformed digests
//! in the input and in the lockfile, and a registry on loopback that accepts connections and
//! never answers (the run's deadline bounds it and the progress line states real counts).

#[path = "common/e2e.rs"]
mod e2e;

use std::time::{Duration, Instant};

fn run(args: &[&str], input: &str) -> std::process::Output {
    e2e::run_env(args, input.as_bytes(), &[("NO_COLOR", "1")])
}

fn pod(name: &str, images: &[&str]) -> String {
    let mut s =
        format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  containers:\n");
    for (i, im) in images.iter().enumerate() {
        s.push_str(&format!("  - name: c{i}\n    image: {im}\n"));
    }
    s
}

#[test]
fn malformed_digest_in_the_input_is_an_input_error_naming_the_document() {
    let good = format!("nginx:1.25@sha256:{}", "ab".repeat(32));
    for bad in [
        "nginx:1.25@sha256:abc".to_string(),
        format!("nginx@sha256:{}", "AB".repeat(32)),
        format!("nginx@md5:{}", "ab".repeat(16)),
    ] {
        let input = format!("{}---\n{}", pod("fine", &[&good]), pod("broken", &[&bad]));
        let out = run(&["-q", "--no-cache"], &input);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {err}");
        assert!(out.stdout.is_empty(), "{bad}");
        assert!(err.contains("broken"), "{bad}: {err}");
        assert!(err.contains("malformed digest"), "{bad}: {err}");
        assert!(err.contains(&bad), "{bad}: {err}");
    }
    // A well-formed pin passes through untouched, no request made.
    let input = pod("fine", &[&good]);
    let out = run(&["-q", "--no-cache"], &input);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(&good));
}

#[test]
fn malformed_digest_in_the_lockfile_exits_2_and_is_never_pinned() {
    let dir = tempfile::tempdir().expect("tempdir");
    let image = "127.0.0.1:9/team/app:1";
    for bad in [
        "sha256:00".to_string(),
        format!("md5:{}", "ab".repeat(16)),
        format!("sha256:{}", "AB".repeat(32)),
    ] {
        let lock = dir.path().join("chart-harden.lock");
        std::fs::write(
            &lock,
            format!(
                r#"{{"version":1,"images":[{{"reference":"{image}","canonical":"{image}","digest":"{bad}","mediaType":"application/vnd.oci.image.manifest.v1+json","resolvedAt":"2025-01-01T00:00:00Z"}}]}}"#
            ),
        )
        .expect("write lockfile");
        for policy in [&["--profile", "prod"][..], &["--profile", "staging"][..]] {
            let mut args = vec!["--lockfile", lock.to_str().expect("utf8"), "--offline"];
            args.extend_from_slice(policy);
            let out = run(&args, &pod("p", &[image]));
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{bad} {policy:?}: {err}");
            assert!(out.stdout.is_empty(), "{bad}");
            assert!(err.contains("malformed digest"), "{bad}: {err}");
            assert!(err.contains(lock.to_str().expect("utf8")), "{err}");
        }
    }
}

#[test]
fn a_registry_that_never_answers_is_bounded_and_reported_with_real_counts() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    // Accept and hold every connection, never answer.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("chart-harden.yaml");
    std::fs::write(&cfg, "images:\n  timeoutSeconds: 1\n  deadlineSeconds: 2\n").expect("cfg");
    let a = format!("127.0.0.1:{port}/a:1");
    let b = format!("127.0.0.1:{port}/b:1");
    let start = Instant::now();
    let out = run(
        &[
            "--config",
            cfg.to_str().expect("utf8"),
            "--no-cache",
            "--cache-dir",
            dir.path().to_str().expect("utf8"),
        ],
        &pod("p", &[&a, &b]),
    );
    let took = start.elapsed();
    eprintln!("hanging registry through the binary, 2 images: {took:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    // staging: a digest failure is a warning; the output is written unpinned.
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("resolved 0/2 image digests"),
        "progress line: {err}"
    );
    assert!(err.contains("(2 failed)"), "{err}");
    assert!(err.contains("deadline"), "{err}");
    assert!(took < Duration::from_millis(3500), "{took:?}");
}
