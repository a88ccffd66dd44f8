#!/usr/bin/env bash
# Build chart-harden and package it as a Helm 4 plugin tarball:
#
#   dist/chart-harden-<version>-<os>-<arch>.tar.gz      (+ .sha256)
#     chart-harden/plugin.yaml       (version stamped from Cargo.toml)
#     chart-harden/bin/chart-harden
#     chart-harden/scripts/helm-plugin.sh (the wrapper plugin.yaml runs)
#     chart-harden/README.md, chart-harden/LICENSE      (if present)
#
# The top-level directory must be named after the plugin: Helm 4 derives the
# directory it looks for from the tarball's file name (everything before
# "-<digit>."), i.e. "chart-harden".
#
# Install:  helm plugin install dist/chart-harden-<version>-linux-amd64.tar.gz --verify=false
# (Helm 4 verifies tarballs by default and fails without a .prov file next to it.)
#
# Usage: scripts/release-tarball.sh [--target TRIPLE] [--binary PATH] [--out DIR]
#   --target TRIPLE  cargo build --release --target TRIPLE (the Rust target must be
#                    installed, plus a linker for it); default: the host
#   --binary PATH    package this prebuilt binary instead of building
#   --out DIR        output directory (default: <repo>/dist)
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET=""
BINARY=""
OUT_DIR="${REPO_ROOT}/dist"

while [[ $# -gt 0 ]]; do
  case "$1" in
    --target) TARGET="$2"; shift 2 ;;
    --target=*) TARGET="${1#*=}"; shift ;;
    --binary) BINARY="$2"; shift 2 ;;
    --binary=*) BINARY="${1#*=}"; shift ;;
    --out) OUT_DIR="$2"; shift 2 ;;
    --out=*) OUT_DIR="${1#*=}"; shift ;;
    -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "release-tarball.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
done

cd "${REPO_ROOT}"

# Version of the root package (chart-harden) from Cargo.toml.
VERSION="$(cargo metadata --no-deps --format-version 1 --offline 2>/dev/null \
  | python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"]=="chart-harden"))' \
  || true)"
if [[ -z "${VERSION}" ]]; then
  # Fallback: first `version = "..."` after [package] in Cargo.toml.
  VERSION="$(awk '/^\[package\]/{p=1;next} /^\[/{p=0} p && /^version *=/{gsub(/.*= *"|".*/,""); print; exit}' Cargo.toml)"
fi
if [[ ! "${VERSION}" =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+].*)?$ ]]; then
  echo "release-tarball.sh: could not determine a semver version (got '${VERSION}')" >&2
  exit 1
fi

# os/arch names as Helm uses them (GOOS/GOARCH).
triple="${TARGET:-$(rustc -vV | sed -n 's/^host: //p')}"
case "${triple}" in
  x86_64-*)  ARCH=amd64 ;;
  aarch64-*) ARCH=arm64 ;;
  *) echo "release-tarball.sh: unsupported target ${triple}" >&2; exit 1 ;;
esac
case "${triple}" in
  *-linux-*)   OS=linux ;;
  *-apple-*)   OS=darwin ;;
  *-windows-*) OS=windows ;;
  *) echo "release-tarball.sh: unsupported target ${triple}" >&2; exit 1 ;;
esac
EXE=""
[[ "${OS}" == windows ]] && EXE=".exe"

LOCKED=""
[[ -f Cargo.lock ]] && LOCKED="--locked"
if [[ -z "${BINARY}" ]]; then
  if [[ -n "${TARGET}" ]]; then
    if ! rustup target list --installed 2>/dev/null | grep -qx "${TARGET}"; then
      echo "release-tarball.sh: Rust target ${TARGET} is not installed (rustup target add ${TARGET})" >&2
      exit 1
    fi
    cargo build --release ${LOCKED} --bin chart-harden --target "${TARGET}"
    BINARY="${REPO_ROOT}/target/${TARGET}/release/chart-harden${EXE}"
  else
    cargo build --release ${LOCKED} --bin chart-harden
    BINARY="${REPO_ROOT}/target/release/chart-harden${EXE}"
  fi
fi
if [[ ! -x "${BINARY}" ]]; then
  echo "release-tarball.sh: binary not found or not executable: ${BINARY}" >&2
  exit 1
fi

NAME="chart-harden-${VERSION}-${OS}-${ARCH}"
STAGE="$(mktemp -d)"
trap 'rm -rf "${STAGE}"' EXIT
PKG="${STAGE}/chart-harden"
mkdir -p "${PKG}/bin"

plugin_version="$(sed -n 's/^version: *//p' plugin.yaml | tr -d '"'"'"'')"
if [[ "${plugin_version}" != "${VERSION}" ]]; then
  echo "release-tarball.sh: note: plugin.yaml says ${plugin_version}, Cargo.toml ${VERSION}; the tarball gets ${VERSION}" >&2
fi
sed "s/^version: .*/version: ${VERSION}/" plugin.yaml > "${PKG}/plugin.yaml"
install -m 0755 "${BINARY}" "${PKG}/bin/chart-harden${EXE}"
# plugin.yaml runs the binary through this wrapper (and its install hook).
install -D -m 0755 scripts/helm-plugin.sh "${PKG}/scripts/helm-plugin.sh"
for f in README.md LICENSE LICENSE-APACHE LICENSE-MIT NOTICE; do
  if [[ -f "${f}" ]]; then install -m 0644 "${f}" "${PKG}/${f}"; fi
done

mkdir -p "${OUT_DIR}"
TARBALL="${OUT_DIR}/${NAME}.tar.gz"
# Reproducible: fixed order, owner and mtime (SOURCE_DATE_EPOCH or the last commit).
EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@${EPOCH}" \
  --format=gnu -C "${STAGE}" -cf - chart-harden | gzip -n -9 > "${TARBALL}.part"
mv "${TARBALL}.part" "${TARBALL}"
(cd "${OUT_DIR}" && sha256sum "${NAME}.tar.gz" > "${NAME}.tar.gz.sha256")

echo "${TARBALL}"
tar -tzvf "${TARBALL}" >&2
