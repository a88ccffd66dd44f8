#!/usr/bin/env bash
# Benchmark: resolve the digests of N distinct images in a local registry
#   1. chart-harden-registry, cold (no lockfile, no cache)
#   2. chart-harden-registry, warm with the lockfile written by run 1
#      (must make 0 network requests)
#   3. a sequential `skopeo inspect` loop over the same images (baseline)
# and print the times and ratios.
#
# Everything runs on 127.0.0.1: the script starts its own registry
# (`docker-registry`, see scripts/install-registry.sh) on a free port in a
# temporary directory and stops it on exit.
#
# Usage: scripts/bench-digests.sh [COUNT]      (default 100)
set -euo pipefail

COUNT="${1:-100}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"

for bin in docker-registry skopeo; do
    if ! command -v "$bin" >/dev/null 2>&1; then
        echo "bench-digests: $bin not found: run scripts/install-registry.sh (as root) first" >&2
        exit 1
    fi
done

echo "== building examples (release)"
(cd "$ROOT" && cargo build --release -q -p chart-harden-registry --example resolve --example seed)
RESOLVE="$TARGET/release/examples/resolve"
SEED="$TARGET/release/examples/seed"

WORK="$(mktemp -d)"
REG_PID=""
cleanup() {
    if [ -n "$REG_PID" ]; then
        kill "$REG_PID" 2>/dev/null || true
        wait "$REG_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

PORT=""
for _ in $(seq 1 50); do
    p=$(( 20000 + RANDOM % 40000 ))
    if ! listening "$p"; then PORT="$p"; break; fi
done
[ -n "$PORT" ] || { echo "bench-digests: no free port" >&2; exit 1; }

cat >"$WORK/config.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: $WORK/data
http:
  addr: 127.0.0.1:$PORT
EOF
docker-registry serve "$WORK/config.yml" >"$WORK/registry.log" 2>&1 &
REG_PID=$!
for _ in $(seq 1 200); do
    listening "$PORT" && break
    sleep 0.05
done
listening "$PORT" || { echo "bench-digests: registry did not start:" >&2; cat "$WORK/registry.log" >&2; exit 1; }
HOST="127.0.0.1:$PORT"
echo "== registry on $HOST (pid $REG_PID)"

echo "== pushing $COUNT distinct images"
"$SEED" "$HOST" "$COUNT" bench >"$WORK/refs.txt"
[ "$(wc -l <"$WORK/refs.txt")" -eq "$COUNT" ] || { echo "bench-digests: seeding failed" >&2; exit 1; }

now_ns() { date +%s%N; }
ms_since() { echo $(( ($(now_ns) - $1) / 1000000 )); }

# Each measurement is the best of $ROUNDS (the machine may be shared).
ROUNDS="${ROUNDS:-3}"
best() { if [ -z "$1" ] || [ "$2" -lt "$1" ]; then echo "$2"; else echo "$1"; fi; }

COLD_MS=""
for i in $(seq 1 "$ROUNDS"); do
    rm -f "$WORK/lock.json"
    t=$(now_ns)
    "$RESOLVE" --quiet --no-cache --lockfile "$WORK/lock.json" --refs-file "$WORK/refs.txt" \
        >"$WORK/cold.out" 2>"$WORK/cold.err" || { cat "$WORK/cold.err" >&2; exit 1; }
    COLD_MS=$(best "$COLD_MS" "$(ms_since "$t")")
done
COLD_STATS=$(grep '^stats:' "$WORK/cold.err")
echo "== chart-harden-registry cold (no lockfile, no cache): $COLD_MS ms"
echo "   $COLD_STATS"

WARM_MS=""
for i in $(seq 1 "$ROUNDS"); do
    t=$(now_ns)
    "$RESOLVE" --quiet --no-cache --lockfile "$WORK/lock.json" --refs-file "$WORK/refs.txt" \
        >"$WORK/warm.out" 2>"$WORK/warm.err" || { cat "$WORK/warm.err" >&2; exit 1; }
    WARM_MS=$(best "$WARM_MS" "$(ms_since "$t")")
    WARM_STATS=$(grep '^stats:' "$WORK/warm.err")
    WARM_REQ=$(sed -n 's/.*network_requests=\([0-9]*\).*/\1/p' <<<"$WARM_STATS")
    if [ "$WARM_REQ" != "0" ]; then
        echo "bench-digests: FAIL: warm run made $WARM_REQ network requests (expected 0)" >&2
        exit 1
    fi
done
echo "== chart-harden-registry warm (lockfile): $WARM_MS ms"
echo "   $WARM_STATS"

SKOPEO_MS=""
for i in $(seq 1 "$ROUNDS"); do
    t=$(now_ns)
    while read -r ref; do
        skopeo inspect --tls-verify=false "docker://$ref" >/dev/null
    done <"$WORK/refs.txt"
    SKOPEO_MS=$(best "$SKOPEO_MS" "$(ms_since "$t")")
done
echo "== skopeo inspect loop (sequential): $SKOPEO_MS ms"

# Same digests?
cut -d' ' -f3 "$WORK/cold.out" | sed 's/.*@//' | sort >"$WORK/ours.txt"
while read -r ref; do
    skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$ref"
done < <(head -n 5 "$WORK/refs.txt") | sort >"$WORK/skopeo5.txt"
if [ ! -s "$WORK/skopeo5.txt" ] || [ -n "$(comm -23 "$WORK/skopeo5.txt" "$WORK/ours.txt")" ]; then
    echo "bench-digests: FAIL: digests differ from skopeo's" >&2
    exit 1
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) b = 1; printf "%.1f", a / b }'; }
echo
echo "images:                      $COUNT (best of $ROUNDS runs each)"
echo "chart-harden cold:           ${COLD_MS} ms   (wall, process start included)"
echo "chart-harden warm (lock):    ${WARM_MS} ms   (0 network requests)"
echo "skopeo inspect loop:         ${SKOPEO_MS} ms"
echo "speed-up cold vs skopeo:     $(ratio "$SKOPEO_MS" "$COLD_MS")x"
echo "speed-up warm vs skopeo:     $(ratio "$SKOPEO_MS" "$WARM_MS")x"
echo "speed-up warm vs cold:       $(ratio "$COLD_MS" "$WARM_MS")x"
