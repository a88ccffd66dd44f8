//! Transport hostility: token realms and redirects the registry hands back,
//! credentials echoed in error bodies, registries that hang or are gone.
//!
//! Every server is on 127.0.0.1. Loopback hosts may use plain HTTP, so the
//! refusal of a plain-HTTP URL is exercised with host *names* that are not
//! loopback (`registry.test`, `auth.test`, `cdn.test`): the resolver's test
//! hook `dns_overrides` makes them resolve to 127.0.0.1. The decision whether
//! a URL may be plain HTTP is made from the name as written (never from what
//! it resolves to), exactly as for a real remote host; had the resolver not
//! refused, the request would have reached the loopback server and been
//! recorded. The HTTPS cases (an HTTPS registry with a plain-HTTP realm, an HTTPS → HTTP
//! redirect) run through a TLS front signed by the test CA in `tests/tls/`.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use chart_harden_registry::{Resolution, ResolveError, Resolver, ResolverConfig};
use common::push::{build, Built, ImageSpec, Pusher};
use common::{tempdir, test_config, Action, Proxy, Registry, Req};

const PW: &str = "Tr0ub4dor&3-secret";
const TOKEN: &str = "tok-2718281828-bearer";
const IDTOKEN: &str = "identity-Refresh-5a4b3c";

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

async fn setup() -> (Registry, Built) {
    let reg = Registry::start();
    let img = build(&ImageSpec::new("app").user("1000"));
    Pusher::new(&reg.host(), None)
        .push("app", Some("1"), &img)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    (reg, img)
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Resolver settings for the named hosts on the proxy's port: the registry
/// `registry.test:PORT` is configured insecure (plain HTTP), the other names
/// are not.
fn named_config(dir: &std::path::Path, port: u16, auth: Option<&str>) -> ResolverConfig {
    let mut cfg = test_config(dir);
    cfg.insecure_registries = vec![format!("registry.test:{port}")];
    cfg.dns_overrides = ["registry.test", "auth.test", "cdn.test"]
        .iter()
        .map(|n| (n.to_string(), loopback(port)))
        .collect();
    if let Some(json) = auth {
        let p = dir.join("auth.json");
        std::fs::write(&p, json).unwrap_or_else(|e| panic!("{e}"));
        cfg.auth_file = Some(p);
    }
    cfg
}

fn basic_auth_file(host: &str) -> String {
    format!(r#"{{"auths":{{"{host}":{{"username":"bob","password":"{PW}"}}}}}}"#)
}

fn basic_header() -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("bob:{PW}"))
    )
}

fn host_of(r: &Req) -> String {
    r.headers.get("host").cloned().unwrap_or_default()
}

fn log_of(p: &Proxy) -> Vec<Req> {
    p.log.lock().map(|l| l.clone()).unwrap_or_default()
}

/// A registry behind a bearer-token server whose realm is `realm` with `PORT` replaced by the
/// proxy's port (the proxy plays both roles).
async fn realm_proxy(reg: &Registry, realm: Arc<Mutex<String>>) -> Proxy {
    let port = Arc::new(AtomicUsize::new(0));
    let p2 = Arc::clone(&port);
    let proxy = Proxy::start(
        reg.port,
        Arc::new(move |r: &Req| {
            if r.path.starts_with("/token") {
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
            let realm = realm.lock().map(|h| h.clone()).unwrap_or_default();
            let realm = realm.replace("PORT", &p2.load(Ordering::SeqCst).to_string());
            Action::Respond(
                401,
                vec![(
                    "WWW-Authenticate".into(),
                    format!(r#"Bearer realm="{realm}",service="test""#),
                )],
                Vec::new(),
            )
        }),
    )
    .await;
    port.store(usize::from(proxy.port), Ordering::SeqCst);
    proxy
}

#[tokio::test]
async fn plain_http_token_realm_on_another_host_is_refused_before_credentials_are_sent() {
    let (reg, img) = setup().await;
    let realm = Arc::new(Mutex::new("http://auth.test:PORT/token".to_string()));
    let proxy = realm_proxy(&reg, Arc::clone(&realm)).await;
    let work = tempdir();
    let registry = format!("registry.test:{}", proxy.port);
    let cfg = named_config(work.path(), proxy.port, Some(&basic_auth_file(&registry)));
    let name = format!("{registry}/app:1");

    let r = Resolver::new(cfg.clone()).unwrap_or_else(|e| panic!("{e}"));
    let out = r.resolve_all(std::slice::from_ref(&name)).await;
    let e = err(&out, &name);
    assert!(matches!(e, ResolveError::Insecure { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains(&format!(
            "refusing token realm http://auth.test:{}/token",
            proxy.port
        )),
        "{msg}"
    );
    assert!(
        msg.contains("neither a loopback host nor a configured insecure registry"),
        "{msg}"
    );
    // Nothing reached the token server, and the credentials were sent nowhere.
    assert_eq!(proxy.count("/token"), 0);
    for req in log_of(&proxy) {
        assert!(
            !req.headers.contains_key("authorization"),
            "credentials sent: {req:?}"
        );
        assert!(!host_of(&req).starts_with("auth.test"), "{req:?}");
    }

    // Control: a realm on the registry's own (configured insecure) host is used.
    *realm.lock().unwrap_or_else(|e| e.into_inner()) = "http://registry.test:PORT/token".into();
    let r = Resolver::new(cfg).unwrap_or_else(|e| panic!("{e}"));
    let out = r.resolve_all(std::slice::from_ref(&name)).await;
    assert_eq!(ok(&out, &name).digest, img.digest);
    let token_reqs: Vec<Req> = log_of(&proxy)
        .into_iter()
        .filter(|q| q.path.starts_with("/token"))
        .collect();
    assert_eq!(token_reqs.len(), 1, "{token_reqs:?}");
    assert_eq!(
        token_reqs[0].headers.get("authorization"),
        Some(&basic_header())
    );
    assert!(
        token_reqs[0].path.contains("scope=repository%3Aapp%3Apull"),
        "{:?}",
        token_reqs[0].path
    );
}

#[tokio::test]
async fn redirect_to_a_plain_http_host_that_is_not_allowed_is_refused() {
    let (reg, _) = setup().await;
    let port = Arc::new(AtomicUsize::new(0));
    let p2 = Arc::clone(&port);
    let proxy = Proxy::start(
        reg.port,
        Arc::new(move |r: &Req| {
            if r.path == "/v2/app/manifests/1" && host_of(r).starts_with("registry.test") {
                let port = p2.load(Ordering::SeqCst);
                return Action::Respond(
                    307,
                    vec![(
                        "Location".into(),
                        format!("http://cdn.test:{port}/v2/app/manifests/1"),
                    )],
                    Vec::new(),
                );
            }
            Action::Forward
        }),
    )
    .await;
    port.store(usize::from(proxy.port), Ordering::SeqCst);
    let work = tempdir();
    let cfg = named_config(work.path(), proxy.port, None);
    let name = format!("registry.test:{}/app:1", proxy.port);
    let r = Resolver::new(cfg).unwrap_or_else(|e| panic!("{e}"));
    let out = r.resolve_all(std::slice::from_ref(&name)).await;
    let e = err(&out, &name);
    assert!(matches!(e, ResolveError::Insecure { .. }), "{e:?}");
    assert!(
        e.to_string().contains(&format!(
            "refusing redirect to http://cdn.test:{}/v2/app/manifests/1",
            proxy.port
        )),
        "{e}"
    );
    assert!(
        log_of(&proxy)
            .iter()
            .all(|q| !host_of(q).starts_with("cdn.test")),
        "the plain-HTTP redirect target was contacted"
    );
    // Refused once, not retried.
    assert_eq!(proxy.count("/manifests/1"), 1);
}

#[tokio::test]
async fn cross_host_redirect_drops_authorization() {
    let (reg, img) = setup().await;
    let proxy = Proxy::start(
        reg.port,
        Arc::new(move |r: &Req| {
            let named = host_of(r).starts_with("registry.test");
            if named && r.headers.get("authorization") != Some(&basic_header()) {
                return Action::Respond(
                    401,
                    vec![("WWW-Authenticate".into(), r#"Basic realm="t""#.into())],
                    Vec::new(),
                );
            }
            if named && r.path == "/v2/app/manifests/1" {
                // To loopback: plain HTTP allowed, but another host.
                let port = host_of(r).rsplit(':').next().unwrap_or("").to_string();
                return Action::Respond(
                    307,
                    vec![(
                        "Location".into(),
                        format!("http://127.0.0.1:{port}/v2/app/manifests/1"),
                    )],
                    Vec::new(),
                );
            }
            Action::Forward
        }),
    )
    .await;
    let work = tempdir();
    let registry = format!("registry.test:{}", proxy.port);
    let cfg = named_config(work.path(), proxy.port, Some(&basic_auth_file(&registry)));
    let name = format!("{registry}/app:1");
    let r = Resolver::new(cfg).unwrap_or_else(|e| panic!("{e}"));
    let out = r.resolve_all(std::slice::from_ref(&name)).await;
    assert_eq!(ok(&out, &name).digest, img.digest);
    let log = log_of(&proxy);
    let followed: Vec<&Req> = log
        .iter()
        .filter(|q| host_of(q).starts_with("127.0.0.1"))
        .collect();
    assert_eq!(followed.len(), 1, "{log:?}");
    assert!(
        !followed[0].headers.contains_key("authorization"),
        "Authorization forwarded to another host: {:?}",
        followed[0]
    );
    assert!(log
        .iter()
        .any(|q| q.headers.get("authorization") == Some(&basic_header())));
}

#[tokio::test]
async fn redirect_chains_are_bounded_and_not_retried() {
    let (reg, _) = setup().await;
    let proxy = Proxy::start(
        reg.port,
        Arc::new(move |r: &Req| {
            let next = if r.path == "/v2/app/manifests/1" {
                Some(1)
            } else {
                r.path
                    .strip_prefix("/loop/")
                    .and_then(|n| n.parse::<u32>().ok())
                    .map(|n| n + 1)
            };
            match next {
                Some(n) => Action::Respond(
                    302,
                    vec![("Location".into(), format!("/loop/{n}"))],
                    Vec::new(),
                ),
                None => Action::Forward,
            }
        }),
    )
    .await;
    let work = tempdir();
    let name = format!("{}/app:1", proxy.host());
    let r = Resolver::new(test_config(work.path())).unwrap_or_else(|e| panic!("{e}"));
    let out = r.resolve_all(std::slice::from_ref(&name)).await;
    let e = err(&out, &name);
    assert!(matches!(e, ResolveError::Insecure { .. }), "{e:?}");
    assert!(e.to_string().contains("more than 5 redirects"), "{e}");
    assert_eq!(proxy.count("/manifests/1"), 1);
    assert_eq!(proxy.count("/loop/"), 5);
}

/// The `message` of an OCI error envelope quoting `what`.
fn echo(what: &str) -> Vec<u8> {
    serde_json::json!({"errors": [{"code": "DENIED", "message": format!("denied; you sent {what}")}]})
        .to_string()
        .into_bytes()
}

fn forms_absent(text: &str, forms: &[&str]) {
    for f in forms {
        assert!(!text.contains(f), "{f:?} appears in: {text}");
    }
}

#[tokio::test]
async fn every_form_of_a_credential_is_scrubbed_from_errors() {
    let (reg, _) = setup().await;
    let work = tempdir();
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("bob:{PW}"));
    let forms = [PW, b64.as_str(), TOKEN, IDTOKEN, "Tr0ub4dor%263-secret"];

    // Basic challenge; the registry echoes the Authorization header (403,
    // then 500 with retries).
    for status in [403u16, 500] {
        let proxy = Proxy::start(
            reg.port,
            Arc::new(move |r: &Req| match r.headers.get("authorization") {
                None => Action::Respond(
                    401,
                    vec![("WWW-Authenticate".into(), r#"Basic realm="t""#.into())],
                    Vec::new(),
                ),
                Some(a) => Action::Respond(status, vec![], echo(a)),
            }),
        )
        .await;
        let file = work.path().join(format!("basic-{status}.json"));
        std::fs::write(&file, basic_auth_file(&proxy.host())).unwrap_or_else(|e| panic!("{e}"));
        let cfg = ResolverConfig {
            auth_file: Some(file),
            ..test_config(work.path())
        };
        let name = format!("{}/app:1", proxy.host());
        let r = Resolver::new(cfg).unwrap_or_else(|e| panic!("{e}"));
        let out = r.resolve_all(std::slice::from_ref(&name)).await;
        let e = err(&out, &name);
        let shown = format!("{e} {e:?} {r:?}");
        assert!(shown.contains("you sent Basic ***"), "{shown}");
        forms_absent(&shown, &forms);
    }

    // Bearer: the token server echoes the Basic header in its refusal, the
    // registry echoes the bearer token.
    let port = Arc::new(AtomicUsize::new(0));
    let p2 = Arc::clone(&port);
    let refuse_token = Arc::new(AtomicUsize::new(1));
    let rt2 = Arc::clone(&refuse_token);
    let proxy = Proxy::start(
        reg.port,
        Arc::new(move |r: &Req| {
            let auth = r.headers.get("authorization").cloned();
            if r.path.starts_with("/token") {
                if rt2.load(Ordering::SeqCst) == 1 {
                    let sent = auth.unwrap_or_else(|| String::from_utf8_lossy(&r.body).into());
                    return Action::Respond(401, vec![], echo(&sent));
                }
                return Action::Respond(
                    200,
                    vec![],
                    format!(r#"{{"access_token":"{TOKEN}"}}"#).into_bytes(),
                );
            }
            match auth {
                Some(a) => Action::Respond(500, vec![], echo(&a)),
                None => Action::Respond(
                    401,
                    vec![(
                        "WWW-Authenticate".into(),
                        format!(
                            r#"Bearer realm="http://127.0.0.1:{}/token",service="t""#,
                            p2.load(Ordering::SeqCst)
                        ),
                    )],
                    Vec::new(),
                ),
            }
        }),
    )
    .await;
    port.store(usize::from(proxy.port), Ordering::SeqCst);
    let name = format!("{}/app:1", proxy.host());
    let basic = work.path().join("bearer-basic.json");
    std::fs::write(&basic, basic_auth_file(&proxy.host())).unwrap_or_else(|e| panic!("{e}"));
    let ident = work.path().join("bearer-ident.json");
    std::fs::write(
        &ident,
        format!(
            r#"{{"auths":{{"{}":{{"identitytoken":"{IDTOKEN}"}}}}}}"#,
            proxy.host()
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    for (refuse, file) in [(1, &basic), (1, &ident), (0, &basic), (0, &ident)] {
        refuse_token.store(refuse, Ordering::SeqCst);
        let cfg = ResolverConfig {
            auth_file: Some(file.clone()),
            ..test_config(work.path())
        };
        let r = Resolver::new(cfg).unwrap_or_else(|e| panic!("{e}"));
        let out = r.resolve_all(std::slice::from_ref(&name)).await;
        let e = err(&out, &name);
        let shown = format!("{e} {e:?} {r:?}");
        assert!(shown.contains("you sent"), "{shown}");
        forms_absent(&shown, &forms);
    }
}

/// A listener that accepts connections and never answers.
async fn silent_listener() -> (u16, tokio::task::JoinHandle<()>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let port = l
        .local_addr()
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"));
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    (port, task)
}

#[tokio::test]
async fn a_registry_that_never_answers_is_bounded_by_the_run_deadline() {
    let (port, task) = silent_listener().await;
    let work = tempdir();
    let cfg = ResolverConfig {
        timeout: Duration::from_secs(1),
        max_attempts: 4,
        backoff_base: Duration::from_millis(500),
        deadline: Duration::from_secs(2),
        ..test_config(work.path())
    };
    let names: Vec<String> = ["a", "b"]
        .iter()
        .map(|n| format!("127.0.0.1:{port}/{n}:1"))
        .collect();
    let start = Instant::now();
    let r = Resolver::new(cfg).unwrap_or_else(|e| panic!("{e}"));
    let out = r.resolve_all(&names).await;
    let took = start.elapsed();
    eprintln!("hanging registry, 2 images: {took:?}");
    for n in &names {
        let e = err(&out, n);
        assert!(matches!(e, ResolveError::Deadline { .. }), "{e:?}");
        assert!(e.to_string().contains("2s deadline"), "{e}");
    }
    assert!(took >= Duration::from_millis(1900), "{took:?}");
    assert!(took < Duration::from_millis(2900), "{took:?}");
    task.abort();
}

#[tokio::test]
async fn a_closed_port_fails_at_once_for_every_image_on_it() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"));
    let work = tempdir();
    // Default attempts and backoff: 4 attempts, 0.5 s doubling.
    let cfg = ResolverConfig {
        max_attempts: 4,
        backoff_base: Duration::from_millis(500),
        ..test_config(work.path())
    };
    let names: Vec<String> = ["a:1", "b:2", "c:3"]
        .iter()
        .map(|n| format!("127.0.0.1:{port}/{n}"))
        .collect();
    let start = Instant::now();
    let r = Resolver::new(cfg).unwrap_or_else(|e| panic!("{e}"));
    let out = r.resolve_all(&names).await;
    let took = start.elapsed();
    eprintln!("closed port, 3 images: {took:?}");
    for n in &names {
        let e = err(&out, n);
        assert!(matches!(e, ResolveError::Connection { .. }), "{e:?}");
    }
    // One connect attempt for the host; nothing retried.
    assert_eq!(r.stats().network_requests, 1, "{:?}", r.stats());
    assert!(took < Duration::from_millis(400), "{took:?}");
}

// ---------------------------------------------------------------------------
// HTTPS: a TLS front with the test CA (tests/tls/: CA and a leaf for 127.0.0.1, localhost,
// registry.test, auth.test and cdn.test, valid until 2126; no CA key is kept) that forwards the
// plain bytes to a fault proxy.

fn test_ca() -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tls/ca.pem"))
        .unwrap_or_else(|e| panic!("test CA: {e}"))
}

/// An HTTPS listener on 127.0.0.1 forwarding every connection to `upstream` (plain).
async fn tls_front(upstream: u16) -> (u16, tokio::task::JoinHandle<()>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tls");
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(dir.join("server.pem"))
        .and_then(|i| i.collect::<Result<_, _>>())
        .unwrap_or_else(|e| panic!("server.pem: {e}"));
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key"))
        .unwrap_or_else(|e| panic!("server.key: {e}"));
    let cfg = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap_or_else(|e| panic!("tls config: {e}"));
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let port = l
        .local_addr()
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"));
    let task = tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(s).await else {
                    return;
                };
                let Ok(mut up) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await
                else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
            });
        }
    });
    (port, task)
}

/// Resolver settings for an HTTPS registry `registry.test:TLS_PORT`: not insecure, the test
/// CA trusted, the named hosts on loopback.
fn https_config(dir: &Path, auth: Option<&str>) -> ResolverConfig {
    let mut cfg = named_config(dir, 0, auth);
    cfg.insecure_registries.clear();
    cfg.dns_overrides = ["registry.test", "auth.test", "cdn.test"]
        .iter()
        .map(|n| (n.to_string(), loopback(1)))
        .collect();
    cfg.extra_ca_pem = vec![test_ca()];
    cfg
}

#[tokio::test]
async fn https_registry_with_a_plain_http_token_realm_never_gets_the_credentials_sent_there() {
    let (reg, img) = setup().await;
    let realm = Arc::new(Mutex::new("http://auth.test:PORT/token".to_string()));
    let proxy = realm_proxy(&reg, Arc::clone(&realm)).await;
    let (tls, front) = tls_front(proxy.port).await;
    let work = tempdir();
    let registry = format!("registry.test:{tls}");
    let cfg = https_config(work.path(), Some(&basic_auth_file(&registry)));
    let name = format!("{registry}/app:1");

    let r = Resolver::new(cfg.clone()).unwrap_or_else(|e| panic!("{e}"));
    let out = r.resolve_all(std::slice::from_ref(&name)).await;
    let e = err(&out, &name);
    assert!(matches!(e, ResolveError::Insecure { .. }), "{e:?}");
    assert!(
        e.to_string().contains(&format!(
            "refusing token realm http://auth.test:{}/token: plain HTTP",
            proxy.port
        )),
        "{e}"
    );
    // The registry was reached over HTTPS (its 401 came through the front)...
    assert!(proxy.count("/v2/") >= 1);
    // ...and nothing reached the token server; the credentials were sent nowhere.
    assert_eq!(proxy.count("/token"), 0);
    assert!(log_of(&proxy)
        .iter()
        .all(|q| !q.headers.contains_key("authorization")));

    // Control: an HTTPS realm on another host gets the credentials, and the pin is made.
    *realm.lock().unwrap_or_else(|e| e.into_inner()) = format!("https://auth.test:{tls}/token");
    let r = Resolver::new(cfg).unwrap_or_else(|e| panic!("{e}"));
    let out = r.resolve_all(std::slice::from_ref(&name)).await;
    assert_eq!(ok(&out, &name).digest, img.digest);
    let token_reqs: Vec<Req> = log_of(&proxy)
        .into_iter()
        .filter(|q| q.path.starts_with("/token"))
        .collect();
    assert_eq!(token_reqs.len(), 1, "{token_reqs:?}");
    assert_eq!(host_of(&token_reqs[0]), format!("auth.test:{tls}"));
    assert_eq!(
        token_reqs[0].headers.get("authorization"),
        Some(&basic_header())
    );
    front.abort();
}

#[tokio::test]
async fn https_registry_never_redirects_to_plain_http_even_on_loopback() {
    let (reg, img) = setup().await;
    let target = Arc::new(Mutex::new(String::new()));
    let t2 = Arc::clone(&target);
    let proxy = Proxy::start(
        reg.port,
        Arc::new(move |r: &Req| {
            if r.path == "/v2/app/manifests/1" && host_of(r).starts_with("registry.test") {
                let to = t2.lock().map(|t| t.clone()).unwrap_or_default();
                return Action::Respond(307, vec![("Location".into(), to)], Vec::new());
            }
            Action::Forward
        }),
    )
    .await;
    let (tls, front) = tls_front(proxy.port).await;
    let work = tempdir();
    let name = format!("registry.test:{tls}/app:1");

    // HTTPS → HTTP on a loopback address (plain HTTP would be allowed there directly).
    *target.lock().unwrap_or_else(|e| e.into_inner()) =
        format!("http://127.0.0.1:{}/v2/app/manifests/1", proxy.port);
    let r = Resolver::new(https_config(work.path(), None)).unwrap_or_else(|e| panic!("{e}"));
    let out = r.resolve_all(std::slice::from_ref(&name)).await;
    let e = err(&out, &name);
    assert!(matches!(e, ResolveError::Insecure { .. }), "{e:?}");
    assert!(
        e.to_string()
            .contains("refusing redirect from HTTPS to plain HTTP"),
        "{e}"
    );
    assert!(
        log_of(&proxy)
            .iter()
            .all(|q| !host_of(q).starts_with("127.0.0.1")),
        "the plain-HTTP redirect target was contacted"
    );
    assert_eq!(proxy.count("/manifests/1"), 1);

    // HTTPS → HTTPS on another host (a blob store): followed.
    *target.lock().unwrap_or_else(|e| e.into_inner()) =
        format!("https://cdn.test:{tls}/v2/app/manifests/1");
    let r = Resolver::new(https_config(work.path(), None)).unwrap_or_else(|e| panic!("{e}"));
    let out = r.resolve_all(std::slice::from_ref(&name)).await;
    assert_eq!(ok(&out, &name).digest, img.digest);
    assert!(log_of(&proxy)
        .iter()
        .any(|q| host_of(q) == format!("cdn.test:{tls}")));
    front.abort();
}

#[tokio::test]
async fn after_a_connect_failure_the_other_images_of_the_registry_are_not_tried() {
    let (reg, _) = setup().await;
    // The registry answers; its token realm is a closed loopback port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"));
    let proxy = Proxy::start(
        reg.port,
        Arc::new(move |_: &Req| {
            Action::Respond(
                401,
                vec![(
                    "WWW-Authenticate".into(),
                    format!(r#"Bearer realm="http://127.0.0.1:{closed}/token",service="t""#),
                )],
                Vec::new(),
            )
        }),
    )
    .await;
    let work = tempdir();
    let cfg = ResolverConfig {
        concurrency: 1,
        max_attempts: 4,
        backoff_base: Duration::from_millis(500),
        ..test_config(work.path())
    };
    // Three repositories: three token scopes, so three token requests without fail-fast.
    let names: Vec<String> = ["a:1", "b:1", "c:1"]
        .iter()
        .map(|n| format!("{}/{n}", proxy.host()))
        .collect();
    let start = Instant::now();
    let r = Resolver::new(cfg).unwrap_or_else(|e| panic!("{e}"));
    let out = r.resolve_all(&names).await;
    let took = start.elapsed();
    let mut later = 0;
    for n in &names {
        let e = err(&out, n);
        assert!(matches!(e, ResolveError::Connection { .. }), "{e:?}");
        if e.to_string().contains("unreachable earlier in this run") {
            later += 1;
        }
    }
    assert_eq!(later, 2, "{out:?}");
    // The /v2/ ping and one token request; nothing retried, nothing else tried.
    assert_eq!(r.stats().network_requests, 2, "{:?}", r.stats());
    assert!(took < Duration::from_millis(400), "{took:?}");
}
