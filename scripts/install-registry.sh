#!/usr/bin/env bash
# Installs the tools the chart-harden-registry integration tests and
# scripts/bench-digests.sh need: the CNCF distribution registry
# (Debian package `docker-registry`, binary /usr/bin/docker-registry) and
# `skopeo` (used only by the benchmark as the baseline).
#
# Idempotent, non-interactive, meant to run as root on Debian. It does NOT
# start or enable the system service: the tests start their own registry
# on 127.0.0.1 with a throw-away config.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

need=()
command -v docker-registry >/dev/null 2>&1 || [ -x /usr/bin/docker-registry ] || need+=(docker-registry)
command -v skopeo >/dev/null 2>&1 || need+=(skopeo)

if [ "${#need[@]}" -eq 0 ]; then
    echo "install-registry: docker-registry and skopeo already installed"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo -E"; else
        echo "install-registry: must run as root (or with sudo available)" >&2
        exit 1
    fi
fi

# Keep the package's postinst from starting a registry daemon on :5000.
policy_created=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    policy_created=1
fi
cleanup() { if [ "$policy_created" -eq 1 ]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi; }
trap cleanup EXIT

apt_install() {
    $SUDO apt-get install -y --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@"
}

if ! apt_install "${need[@]}"; then
    $SUDO apt-get update
    apt_install "${need[@]}"
fi

# If a service manager started the daemon anyway, stop it: tests run their own.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now docker-registry >/dev/null 2>&1 || true
fi

command -v docker-registry >/dev/null
command -v skopeo >/dev/null
echo "install-registry: installed ${need[*]}"
