//! Test harness: a real `docker-registry` (CNCF distribution) on 127.0.0.1
//! and a fault-injecting HTTP proxy in front of it.
#![allow(dead_code)]

pub mod push;
pub mod server;

use std::collections::HashMap;
use std::path::Path;
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chart_harden_registry::ResolverConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use server::registry_binary;

/// A running registry; killed on drop.
pub struct Registry {
    pub port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl Registry {
    /// `host:port` as used in image references.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn start() -> Registry {
        Self::start_with(None)
    }

    /// Starts a registry; with `basic`, protected by htpasswd (bcrypt).
    pub fn start_with(basic: Option<(&str, &str)>) -> Registry {
        Self::start_using(&registry_binary(), basic)
    }

    /// Starts `bin` as the registry (tests of the harness itself).
    pub fn start_using(bin: &Path, basic: Option<(&str, &str)>) -> Registry {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let auth = match basic {
            Some((user, pass)) => {
                let hash = bcrypt::hash(pass, 4).unwrap_or_else(|e| panic!("bcrypt: {e}"));
                let htp = dir.path().join("htpasswd");
                std::fs::write(&htp, format!("{user}:{hash}\n")).unwrap_or_else(|e| panic!("{e}"));
                format!(
                    "auth:\n  htpasswd:\n    realm: test-realm\n    path: {}\n",
                    htp.display()
                )
            }
            None => String::new(),
        };
        let (child, port) = server::spawn(bin, dir.path(), |port| {
            format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{auth}",
                dir.path().join("data").display()
            )
        });
        Registry {
            port,
            child: Some(child),
            dir,
        }
    }

    /// Stops the registry now.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Test resolver settings: short timeouts, no cache, quiet, and an empty
/// auth file so the machine's own Docker config is never read.
pub fn test_config(dir: &Path) -> ResolverConfig {
    let auth = dir.join("empty-auth.json");
    if !auth.exists() {
        std::fs::write(&auth, "{}").unwrap_or_else(|e| panic!("{e}"));
    }
    ResolverConfig {
        timeout: Duration::from_secs(3),
        max_attempts: 3,
        backoff_base: Duration::from_millis(10),
        use_cache: false,
        quiet: true,
        auth_file: Some(auth),
        ..Default::default()
    }
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"))
}

// ---------------------------------------------------------------------------
// Fault-injecting proxy

/// A request received by the proxy.
#[derive(Clone, Debug)]
pub struct Req {
    pub method: String,
    pub path: String,
    pub headers: HashMap<String, String>,
    /// How many earlier requests had the same method and path.
    pub seen: usize,
    /// The request body.
    pub body: Vec<u8>,
}

/// What the proxy does with a request.
pub enum Action {
    /// Forward to the registry unchanged.
    Forward,
    /// Forward with another path.
    ForwardAs(String),
    /// Answer with this status, extra headers and body.
    Respond(u16, Vec<(String, String)>, Vec<u8>),
    /// Accept, read the request, never answer.
    Hang,
    /// Close the connection with a TCP RST.
    Reset,
    /// Forward, but send only half the body (Content-Length kept).
    Truncate,
    /// Forward, but change one byte of the body (headers kept, so
    /// `Docker-Content-Digest` no longer matches).
    Corrupt,
    /// Wait, then forward.
    Delay(Duration),
}

pub type Rule = Arc<dyn Fn(&Req) -> Action + Send + Sync>;

/// The proxy; stops when dropped.
pub struct Proxy {
    pub port: u16,
    pub log: Arc<Mutex<Vec<Req>>>,
    /// Highest number of requests handled at the same time.
    pub max_in_flight: Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Requests seen whose path contains `part`.
    pub fn count(&self, part: &str) -> usize {
        self.log
            .lock()
            .map(|l| l.iter().filter(|r| r.path.contains(part)).count())
            .unwrap_or(0)
    }

    pub async fn start(upstream: u16, rule: Rule) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("proxy bind: {e}"));
        let port = listener
            .local_addr()
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("{e}"));
        let log: Arc<Mutex<Vec<Req>>> = Arc::default();
        let log2 = Arc::clone(&log);
        let max_in_flight: Arc<std::sync::atomic::AtomicUsize> = Arc::default();
        let max2 = Arc::clone(&max_in_flight);
        let in_flight: Arc<std::sync::atomic::AtomicUsize> = Arc::default();
        let task = tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                let rule = Arc::clone(&rule);
                let log = Arc::clone(&log2);
                let max = Arc::clone(&max2);
                let in_flight = Arc::clone(&in_flight);
                tokio::spawn(async move {
                    let _ = handle(sock, upstream, rule, log, &in_flight, &max).await;
                });
            }
        });
        Proxy {
            port,
            log,
            max_in_flight,
            task,
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn read_head(s: &mut TcpStream) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(i + 4);
            return Ok((buf, rest));
        }
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "eof",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn parse_headers(head: &str) -> (String, HashMap<String, String>) {
    let mut lines = head.split("\r\n");
    let first = lines.next().unwrap_or("").to_string();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (first, headers)
}

async fn handle(
    mut sock: TcpStream,
    upstream: u16,
    rule: Rule,
    log: Arc<Mutex<Vec<Req>>>,
    in_flight: &std::sync::atomic::AtomicUsize,
    max: &std::sync::atomic::AtomicUsize,
) -> std::io::Result<()> {
    use std::sync::atomic::Ordering::SeqCst;
    let (head, mut body) = read_head(&mut sock).await?;
    let now = in_flight.fetch_add(1, SeqCst) + 1;
    max.fetch_max(now, SeqCst);
    let r = serve(&mut sock, head, body.split_off(0), upstream, rule, log).await;
    in_flight.fetch_sub(1, SeqCst);
    r
}

async fn serve(
    sock: &mut TcpStream,
    head: Vec<u8>,
    mut body: Vec<u8>,
    upstream: u16,
    rule: Rule,
    log: Arc<Mutex<Vec<Req>>>,
) -> std::io::Result<()> {
    let head_s = String::from_utf8_lossy(&head).to_string();
    let (first, headers) = parse_headers(&head_s);
    let mut parts = first.split(' ');
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while body.len() < len {
        let mut chunk = vec![0u8; len - body.len()];
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    let req = {
        let mut l = log.lock().map_err(|_| std::io::Error::other("poisoned"))?;
        let seen = l
            .iter()
            .filter(|r| r.method == method && r.path == path)
            .count();
        let req = Req {
            method: method.clone(),
            path: path.clone(),
            headers: headers.clone(),
            seen,
            body: body.clone(),
        };
        l.push(req.clone());
        req
    };
    let action = rule(&req);
    let fwd_path = match &action {
        Action::ForwardAs(p) => p.clone(),
        _ => path.clone(),
    };
    match action {
        Action::Respond(status, extra, resp_body) => {
            let mut out = format!(
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                resp_body.len()
            );
            for (k, v) in extra {
                out.push_str(&format!("{k}: {v}\r\n"));
            }
            out.push_str("\r\n");
            sock.write_all(out.as_bytes()).await?;
            sock.write_all(&resp_body).await?;
            sock.shutdown().await?;
        }
        Action::Hang => {
            tokio::time::sleep(Duration::from_secs(120)).await;
        }
        Action::Reset => {
            sock.set_zero_linger()?;
        }
        Action::Forward
        | Action::ForwardAs(_)
        | Action::Truncate
        | Action::Corrupt
        | Action::Delay(_) => {
            if let Action::Delay(d) = &action {
                tokio::time::sleep(*d).await;
            }
            let mut up = TcpStream::connect(("127.0.0.1", upstream)).await?;
            let mut out = format!("{method} {fwd_path} HTTP/1.1\r\n");
            for (k, v) in &headers {
                if k != "connection" && k != "keep-alive" {
                    out.push_str(&format!("{k}: {v}\r\n"));
                }
            }
            out.push_str("connection: close\r\n\r\n");
            up.write_all(out.as_bytes()).await?;
            up.write_all(&body).await?;
            let mut resp = Vec::new();
            up.read_to_end(&mut resp).await?;
            let split = resp
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map_or(resp.len(), |i| i + 4);
            let (rhead, rbody) = resp.split_at(split);
            let mut rbody = rbody.to_vec();
            match action {
                Action::Truncate => {
                    // Keep the original Content-Length, send half the body, close.
                    sock.write_all(rhead).await?;
                    sock.write_all(&rbody[..rbody.len() / 2]).await?;
                    sock.shutdown().await?;
                }
                Action::Corrupt => {
                    if let Some(i) = rbody.iter().position(|b| *b == b'{') {
                        // Same length, different bytes: a space after '{'.
                        if i + 1 < rbody.len() && rbody[i + 1] == b'\n' {
                            rbody[i + 1] = b' ';
                        } else {
                            rbody.insert(i + 1, b' ');
                            rbody.pop();
                        }
                    }
                    sock.write_all(rhead).await?;
                    sock.write_all(&rbody).await?;
                    sock.shutdown().await?;
                }
                _ => {
                    sock.write_all(rhead).await?;
                    sock.write_all(&rbody).await?;
                    sock.shutdown().await?;
                }
            }
        }
    }
    Ok(())
}
