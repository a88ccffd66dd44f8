//! Starting a real `docker-registry` (CNCF distribution) on 127.0.0.1, shared by the registry
//! crate's harness (`common/mod.rs`) and the binary's end-to-end tests (`tests/pin_e2e.rs`,
//! through `#[path]`): ready means it answers `GET /v2/`, not merely that its port accepts.
#![allow(dead_code)]

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const INSTALL_HINT: &str =
    "the `docker-registry` binary (CNCF distribution) is required by these tests: run `sudo scripts/install-registry.sh` from the repository root";

/// `$DOCKER_REGISTRY_BIN`, else `docker-registry` on `PATH`, else `/usr/bin/docker-registry`.
pub fn registry_binary() -> PathBuf {
    if let Ok(p) = std::env::var("DOCKER_REGISTRY_BIN") {
        return PathBuf::from(p);
    }
    for dir in std::env::var("PATH").unwrap_or_default().split(':') {
        let p = Path::new(dir).join("docker-registry");
        if p.is_file() {
            return p;
        }
    }
    let p = PathBuf::from("/usr/bin/docker-registry");
    if p.is_file() {
        return p;
    }
    panic!("{INSTALL_HINT}");
}

fn free_port() -> u16 {
    match TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
        Ok(a) => a.port(),
        Err(e) => panic!("cannot get a free port: {e}"),
    }
}

/// Answers `GET /v2/` with 200 or 401 (auth on)?
pub fn ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    ) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Ok(n) => {
            let head = String::from_utf8_lossy(&buf[..n]);
            head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.1 401")
        }
        Err(_) => false,
    }
}

/// Starts `bin serve` with the config `config(port)` written into `dir` (logging to
/// `dir/registry.log`) and waits until it answers `/v2/`. A port another process took
/// between choosing and binding it makes the registry exit: another port is tried (5 in all).
pub fn spawn(bin: &Path, dir: &Path, config: impl Fn(u16) -> String) -> (Child, u16) {
    if !bin.is_file() {
        panic!("{} not found: {INSTALL_HINT}", bin.display());
    }
    for _ in 0..5 {
        let port = free_port();
        let cfg_path = dir.join("config.yml");
        std::fs::write(&cfg_path, config(port)).unwrap_or_else(|e| panic!("{e}"));
        let log = std::fs::File::create(dir.join("registry.log")).unwrap_or_else(|e| panic!("{e}"));
        let log2 = log.try_clone().unwrap_or_else(|e| panic!("{e}"));
        let mut child = Command::new(bin)
            .arg("serve")
            .arg(&cfg_path)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}; {INSTALL_HINT}", bin.display()));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if ping(port) {
                return (child, port);
            }
            if let Ok(Some(_)) = child.try_wait() {
                break; // port taken? try another
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                let log = std::fs::read_to_string(dir.join("registry.log")).unwrap_or_default();
                panic!("registry did not answer /v2/ within 20s; log:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
    let log = std::fs::read_to_string(dir.join("registry.log")).unwrap_or_default();
    panic!("registry failed to start; log:\n{log}");
}
