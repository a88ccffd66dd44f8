//! Which URLs the resolver may talk to: the plain-HTTP decision for a
//! registry, a token realm or a redirect target, and the redirect policy.
//!
//! Plain HTTP is allowed only for loopback hosts (`localhost`,
//! `127.0.0.0/8`, `::1`) and hosts configured as insecure. Every other URL a
//! registry hands back (a `WWW-Authenticate` realm, a redirect `Location`)
//! must be HTTPS. A redirect never goes from HTTPS to HTTP, at most
//! [`MAX_REDIRECTS`] are followed, and `Authorization` is dropped when a
//! redirect changes host, port or scheme (reqwest does this for every
//! redirect it follows).

use reqwest::Url;

use crate::reference::is_loopback_registry;

/// Longest redirect chain followed for one request.
pub(crate) const MAX_REDIRECTS: usize = 5;

/// Whether `registry` (`host` or `host:port`) is listed in `insecure`
/// (entries `host`, `host:port`, optionally with a scheme or a trailing
/// slash; a `host` entry matches every port).
pub(crate) fn listed_insecure(registry: &str, insecure: &[String]) -> bool {
    let host = registry.rsplit_once(':').map_or(registry, |(h, _)| h);
    insecure.iter().any(|i| {
        let i = i
            .trim()
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .trim_end_matches('/');
        i.eq_ignore_ascii_case(registry) || (!i.contains(':') && i.eq_ignore_ascii_case(host))
    })
}

/// Whether `host_port` (`host`, `host:port`, `[v6]:port`) may be reached over
/// plain HTTP: it is a loopback host or listed in `insecure`. A pure function
/// of its arguments: no name is resolved, so `registry.example` is never
/// loopback whatever it resolves to.
pub fn plain_http_allowed(host_port: &str, insecure: &[String]) -> bool {
    is_loopback_registry(host_port) || listed_insecure(host_port, insecure)
}

/// `host[:port]` of a URL as written (port only when explicit).
fn host_port(url: &Url) -> String {
    let host = url.host_str().unwrap_or("");
    match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    }
}

/// Checks a URL the registry handed back (`what`: "token realm",
/// "redirect"): HTTPS, or HTTP to a host [`plain_http_allowed`].
pub(crate) fn check_url(what: &str, url: &Url, insecure: &[String]) -> Result<(), String> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if plain_http_allowed(&host_port(url), insecure) => Ok(()),
        "http" => Err(format!(
            "refusing {what} {}: plain HTTP to {}, which is neither a loopback host nor a configured insecure registry (credentials are never sent over plain HTTP)",
            redact_query(url),
            host_port(url)
        )),
        other => Err(format!(
            "refusing {what} {}: unsupported scheme {other:?}",
            redact_query(url)
        )),
    }
}

/// The redirect decision: `previous` holds the URLs already requested in
/// this chain, the first being the original request.
pub(crate) fn check_redirect(
    next: &Url,
    previous: &[Url],
    insecure: &[String],
) -> Result<(), String> {
    if previous.len() > MAX_REDIRECTS {
        return Err(format!(
            "refusing redirect to {}: more than {MAX_REDIRECTS} redirects",
            redact_query(next)
        ));
    }
    if next.scheme() == "http" && previous.iter().any(|p| p.scheme() == "https") {
        return Err(format!(
            "refusing redirect from HTTPS to plain HTTP ({})",
            redact_query(next)
        ));
    }
    check_url("redirect to", next, insecure)
}

/// The reqwest redirect policy applying [`check_redirect`].
pub(crate) fn redirect_policy(insecure: Vec<String>) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |attempt| {
        match check_redirect(attempt.url(), attempt.previous(), &insecure) {
            Ok(()) => attempt.follow(),
            Err(m) => attempt.error(m),
        }
    })
}

/// A URL without its query (pre-signed blob URLs carry signatures there).
fn redact_query(url: &Url) -> String {
    let q = if url.query().is_some() { "?…" } else { "" };
    format!("{}://{}{}{q}", url.scheme(), host_port(url), url.path())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn plain_http_only_for_loopback_and_insecure() {
        let insecure = vec!["registry.internal:5000".to_string(), "lab.local".into()];
        for ok in [
            "127.0.0.1:5000",
            "127.9.9.9",
            "localhost:80",
            "[::1]:5000",
            "registry.internal:5000",
            "lab.local",
            "lab.local:9999",
            "LAB.local:1",
        ] {
            assert!(plain_http_allowed(ok, &insecure), "{ok}");
        }
        for no in [
            "registry.internal",
            "registry.internal:5001",
            "auth.docker.io",
            "10.0.0.1:5000",
            "192.168.1.1",
            "localhost.evil.example",
            "127.0.0.1.nip.io",
            "[::2]:5000",
        ] {
            assert!(!plain_http_allowed(no, &insecure), "{no}");
        }
    }

    #[test]
    fn realm_and_redirect_targets() {
        let ins = vec!["registry.internal:5000".to_string()];
        assert!(check_url("token realm", &url("https://auth.example/token"), &ins).is_ok());
        assert!(check_url("token realm", &url("http://127.0.0.1:8/token"), &ins).is_ok());
        assert!(check_url("token realm", &url("http://registry.internal:5000/t"), &ins).is_ok());
        let e = check_url("token realm", &url("http://auth.example/token?x=1"), &ins)
            .err()
            .unwrap_or_default();
        assert!(
            e.contains("refusing token realm http://auth.example/token?…"),
            "{e}"
        );
        assert!(e.contains("plain HTTP to auth.example"), "{e}");
        assert!(check_url("token realm", &url("ftp://auth.example/t"), &ins).is_err());

        let https = url("https://registry.example/v2/a/manifests/1");
        // HTTPS → HTTPS on another host (a blob store): followed.
        assert!(check_redirect(
            &url("https://cdn.example/b?sig=1"),
            std::slice::from_ref(&https),
            &ins
        )
        .is_ok());
        // HTTPS → HTTP: never, not even to loopback or an insecure host.
        for target in [
            "http://cdn.example/b",
            "http://127.0.0.1:5000/b",
            "http://registry.internal:5000/b",
        ] {
            let e = check_redirect(&url(target), std::slice::from_ref(&https), &ins)
                .err()
                .unwrap_or_default();
            assert!(e.contains("from HTTPS to plain HTTP"), "{target}: {e}");
        }
        // HTTP (insecure registry) → HTTP on a host that is not allowed.
        let plain = url("http://registry.internal:5000/v2/a/manifests/1");
        assert!(check_redirect(
            &url("http://cdn.example/b"),
            std::slice::from_ref(&plain),
            &ins
        )
        .is_err());
        assert!(check_redirect(
            &url("http://127.0.0.1/b"),
            std::slice::from_ref(&plain),
            &ins
        )
        .is_ok());
        // Bounded.
        let chain: Vec<Url> = (0..=MAX_REDIRECTS).map(|_| https.clone()).collect();
        let e = check_redirect(&https, &chain, &ins)
            .err()
            .unwrap_or_default();
        assert!(e.contains("more than 5 redirects"), "{e}");
        assert!(check_redirect(&https, &chain[..MAX_REDIRECTS], &ins).is_ok());
    }
}
