#!/usr/bin/env bash
# Mutation-fuzzes the whole hardening pipeline for a fixed time (default 60 s) and prints
# executions, executions/sec and crashes. Failing inputs are saved under target/fuzz-crashes/.
#
#   scripts/fuzz.sh [seconds] [seed]
#
# Exit status: 0 when no crash was found, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
export CHART_HARDEN_FUZZ_SECONDS="$seconds"
if [[ -n "${2:-}" ]]; then export CHART_HARDEN_FUZZ_SEED="$2"; fi
cargo test --release --test fuzz_long --quiet --no-run
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
cargo test --release --test fuzz_long --quiet -- --nocapture >"$log" 2>&1 || status=$?
line="$(grep -E '^fuzz: ' "$log" || true)"
if [[ -z "$line" ]]; then
  cat "$log"
  echo "fuzz.sh: the fuzz test did not report (build or harness failure)" >&2
  exit 1
fi
execs="$(sed -E 's/.*executions ([0-9]+).*/\1/' <<<"$line")"
rate="$(sed -E 's/.*\(([0-9]+) exec\/s\).*/\1/' <<<"$line")"
accepted="$(sed -E 's/.*accepted ([0-9]+).*/\1/' <<<"$line")"
crashes="$(sed -E 's/.*crashes ([0-9]+).*/\1/' <<<"$line")"
seed="$(sed -E 's/.*seed ([0-9]+).*/\1/' <<<"$line")"
grep -E '^crash: ' "$log" || true
printf '%-22s %s\n' "seconds" "$seconds" "seed" "$seed" "executions" "$execs" \
  "executions/sec" "$rate" "accepted inputs" "$accepted" "crashes" "$crashes"
if [[ "$status" -ne 0 || "$crashes" -ne 0 ]]; then
  echo "fuzz.sh: failures found; inputs saved under target/fuzz-crashes/" >&2
  exit 1
fi
