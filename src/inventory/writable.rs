//! What a container writes (a workload fact): evidence of its writable paths: a small table of well-known images and the
//! directories their processes write at run time (each with its source), and the paths a
//! container's env names.

use crate::yaml::Value;

use crate::yaml::view::ValueExt;

/// Well-known images: (repository suffix, writable paths, source). The repository is matched
/// on its last one or two path segments, so mirrors and registries do not matter.
const WELL_KNOWN: &[(&str, &[&str], &str)] = &[
    (
        "postgres",
        &["/var/run/postgresql", "/var/lib/postgresql/data", "/tmp"],
        "docker-library/postgres Dockerfile: VOLUME /var/lib/postgresql/data; unix socket directory /var/run/postgresql",
    ),
    (
        "bitnami/postgresql",
        &["/bitnami/postgresql", "/opt/bitnami/postgresql/conf", "/opt/bitnami/postgresql/tmp", "/opt/bitnami/postgresql/logs", "/tmp"],
        "bitnami/containers postgresql README (read-only root filesystem: emptyDirs the chart mounts)",
    ),
    (
        "nginx",
        &["/var/cache/nginx", "/var/run", "/tmp"],
        "docker-library/nginx docs: running with a read-only filesystem needs /var/cache/nginx and /var/run writable",
    ),
    (
        "nginxinc/nginx-unprivileged",
        &["/var/cache/nginx", "/tmp"],
        "nginxinc/docker-nginx-unprivileged README: pid file and temp paths under /tmp",
    ),
    (
        "redis",
        &["/data", "/tmp"],
        "docker-library/redis Dockerfile: VOLUME /data, WORKDIR /data",
    ),
];

/// The table entry for an image reference, if it is a well-known image.
pub fn well_known(image: &str) -> Option<(&'static str, &'static [&'static str], &'static str)> {
    let repo = image.split('@').next().unwrap_or(image);
    // Strip a tag (a ':' after the last '/').
    let repo = match repo.rfind(':') {
        Some(i) if !repo[i..].contains('/') => &repo[..i],
        _ => repo,
    };
    let segs: Vec<&str> = repo.split('/').collect();
    let last = segs.last().copied().unwrap_or("");
    let last_two = if segs.len() >= 2 {
        format!("{}/{}", segs[segs.len() - 2], last)
    } else {
        last.to_string()
    };
    WELL_KNOWN
        .iter()
        .find(|(name, _, _)| {
            if name.contains('/') {
                last_two == *name
            } else {
                // `library/postgres`, `postgres`, `mirror.io/library/postgres`.
                last == *name
                    && (segs.len() == 1
                        || segs[segs.len() - 2] == "library"
                        || segs.len() == 2 && segs[0].contains('.'))
            }
        })
        .copied()
}

/// Env variables whose value is a directory the process writes.
const PATH_ENV: &[&str] = &[
    "PGDATA",
    "HOME",
    "TMPDIR",
    "TMP",
    "TEMP",
    "XDG_CACHE_HOME",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "XDG_STATE_HOME",
    "XDG_RUNTIME_DIR",
];

/// `(variable, path)` for every env entry of the container that names a writable directory.
pub fn env_paths(container: &Value) -> Vec<(String, String)> {
    container
        .key("env")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let name = e.key("name").and_then(Value::as_str)?;
            let value = e.key("value").and_then(Value::as_str)?;
            (PATH_ENV.contains(&name) && value.starts_with('/') && value.len() > 1)
                .then(|| (name.to_string(), value.trim_end_matches('/').to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_repositories_not_substrings() {
        assert!(well_known("postgres:16").is_some());
        assert!(well_known("docker.io/library/postgres:16@sha256:ab").is_some());
        assert!(well_known("bitnami/postgresql:15").is_some());
        assert!(well_known("myorg/postgres-exporter:1").is_none());
        assert!(well_known("ghcr.io/someone/nginx:1").is_none());
        assert!(well_known("registry.local:5000/nginx:1.25").is_some());
    }

    #[test]
    fn env_paths_are_absolute_directories() {
        let c = view!({"env": [
            {"name": "PGDATA", "value": "/var/lib/pg/data/"},
            {"name": "HOME", "value": "relative"},
            {"name": "OTHER", "value": "/x"},
        ]});
        assert_eq!(
            env_paths(&c),
            vec![("PGDATA".to_string(), "/var/lib/pg/data".to_string())]
        );
    }
}
