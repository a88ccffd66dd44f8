//! The check registry: which checks exist, at which level, from which policy
//! version, and which Baseline checks a Restricted check replaces.
//!
//! This mirrors upstream's `policy/registry.go`: a level evaluates every check
//! at or below it whose minimum version is at or below the requested version,
//! and at Restricted a Baseline check is dropped when an active Restricted
//! check lists it in `overrides` (upstream `OverrideCheckIDs`).

use crate::path::FieldPath;
use crate::pod::Pod;
use crate::{baseline, restricted, Level, Violation};

/// The function evaluating one check at a resolved policy minor version.
type CheckFn = fn(&Pod<'_>, u32, &mut Emitter<'_>);

/// One registered check.
struct Check {
    /// Upstream check ID.
    id: &'static str,
    /// The lowest level that enforces the check.
    level: Level,
    /// First policy minor version (v1.N) in which the check exists.
    since: u32,
    /// Baseline check IDs this check replaces when active.
    overrides: &'static [&'static str],
    run: CheckFn,
}

/// All checks, in report order (upstream's Baseline list, then Restricted).
const CHECKS: &[Check] = &[
    Check {
        id: "hostNamespaces",
        level: Level::Baseline,
        since: 0,
        overrides: &[],
        run: baseline::host_namespaces,
    },
    Check {
        id: "privileged",
        level: Level::Baseline,
        since: 0,
        overrides: &[],
        run: baseline::privileged,
    },
    Check {
        id: "capabilities_baseline",
        level: Level::Baseline,
        since: 0,
        overrides: &[],
        run: baseline::capabilities,
    },
    Check {
        id: "hostPathVolumes",
        level: Level::Baseline,
        since: 0,
        overrides: &[],
        run: baseline::host_path_volumes,
    },
    Check {
        id: "hostPorts",
        level: Level::Baseline,
        since: 0,
        overrides: &[],
        run: baseline::host_ports,
    },
    Check {
        id: "appArmorProfile",
        level: Level::Baseline,
        since: 0,
        overrides: &[],
        run: baseline::app_armor_profile,
    },
    Check {
        id: "seLinuxOptions",
        level: Level::Baseline,
        since: 0,
        overrides: &[],
        run: baseline::se_linux_options,
    },
    Check {
        id: "procMount",
        level: Level::Baseline,
        since: 0,
        overrides: &[],
        run: baseline::proc_mount,
    },
    Check {
        id: "seccompProfile_baseline",
        level: Level::Baseline,
        since: 0,
        overrides: &[],
        run: baseline::seccomp_profile,
    },
    Check {
        id: "sysctls",
        level: Level::Baseline,
        since: 0,
        overrides: &[],
        run: baseline::sysctls,
    },
    Check {
        id: "windowsHostProcess",
        level: Level::Baseline,
        since: 0,
        overrides: &[],
        run: baseline::windows_host_process,
    },
    Check {
        id: "hostProbesAndHostLifecycle",
        level: Level::Baseline,
        since: 34,
        overrides: &[],
        run: baseline::host_probes_and_host_lifecycle,
    },
    Check {
        id: "restrictedVolumes",
        level: Level::Restricted,
        since: 0,
        overrides: &["hostPathVolumes"],
        run: restricted::volumes,
    },
    Check {
        id: "allowPrivilegeEscalation",
        level: Level::Restricted,
        since: 8,
        overrides: &[],
        run: restricted::allow_privilege_escalation,
    },
    Check {
        id: "runAsNonRoot",
        level: Level::Restricted,
        since: 0,
        overrides: &[],
        run: restricted::run_as_non_root,
    },
    Check {
        id: "runAsUser",
        level: Level::Restricted,
        since: 23,
        overrides: &[],
        run: restricted::run_as_user,
    },
    Check {
        id: "seccompProfile_restricted",
        level: Level::Restricted,
        since: 19,
        overrides: &["seccompProfile_baseline"],
        run: restricted::seccomp_profile,
    },
    Check {
        id: "capabilities_restricted",
        level: Level::Restricted,
        since: 22,
        overrides: &["capabilities_baseline"],
        run: restricted::capabilities,
    },
    Check {
        id: "procMount_restricted",
        level: Level::Restricted,
        since: 35,
        overrides: &["procMount"],
        run: restricted::proc_mount,
    },
];

/// The newest policy minor version any check distinguishes; `latest` and any
/// newer `v1.N` evaluate like this one (upstream clamps to its `maxVersion`).
pub(crate) const NEWEST_POLICY_MINOR: u32 = 37;

/// Collects the violations of one check.
pub(crate) struct Emitter<'a> {
    check: &'static str,
    level: Level,
    out: &'a mut Vec<Violation>,
}

impl Emitter<'_> {
    /// Records a violation of the current check at `path`.
    pub(crate) fn emit(&mut self, path: FieldPath, message: String) {
        self.out.push(Violation {
            check: self.check,
            level: self.level,
            path: path.into_string(),
            message,
        });
    }
}

/// Runs every check active for `level` at policy minor version `minor`.
pub(crate) fn run_all(pod: &Pod<'_>, level: Level, minor: u32) -> Vec<Violation> {
    let minor = minor.min(NEWEST_POLICY_MINOR);
    let active: Vec<&Check> = CHECKS
        .iter()
        .filter(|c| c.level <= level && c.since <= minor)
        .collect();
    let overridden = |id: &str| active.iter().any(|c| c.overrides.contains(&id));

    let mut out = Vec::new();
    for check in active.iter().filter(|c| !overridden(c.id)) {
        let mut emitter = Emitter {
            check: check.id,
            level: check.level,
            out: &mut out,
        };
        (check.run)(pod, minor, &mut emitter);
    }
    out
}

/// Quotes `item` for a message, like Go's `%q` in upstream's messages.
pub(crate) fn quote(item: &str) -> String {
    format!("{item:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_is_consistent() {
        for (i, check) in CHECKS.iter().enumerate() {
            assert!(check.level != Level::Privileged, "{}", check.id);
            assert!(check.since <= NEWEST_POLICY_MINOR, "{}", check.id);
            assert!(
                CHECKS[..i].iter().all(|other| other.id != check.id),
                "duplicate check {}",
                check.id
            );
            for id in check.overrides {
                assert_eq!(check.level, Level::Restricted, "{}", check.id);
                assert!(
                    CHECKS
                        .iter()
                        .any(|c| c.id == *id && c.level == Level::Baseline),
                    "{} overrides unknown baseline check {id}",
                    check.id
                );
            }
        }
    }
}
