#!/usr/bin/env bash
# Pod Security figures over the shared corpus: pod templates that pass the restricted level
# as rendered, and after `--profile prod` hardening (digests not pinned: no image config is
# read, so UID evidence comes from the charts alone). With a second binary (BASE=path), both
# are measured in the same run, side by side.
#
#   scripts/pss-figures.sh                      # this checkout's release or debug build
#   BASE=/path/to/old/chart-harden scripts/pss-figures.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BIN:-}
if [ -z "$bin" ]; then
  for b in target/release/chart-harden target/debug/chart-harden; do
    [ -x "$b" ] && bin=$b && break
  done
fi
[ -x "${bin:-}" ] || { echo "pss-figures: build chart-harden first (cargo build)" >&2; exit 2; }
corpus=${CHART_HARDEN_SHARED:-../shared}/corpus
figures() { # binary profile file -> "evaluated passing"
  "$1" check --profile "$2" --no-pin --level restricted --report-format json "$3" 2>/dev/null |
    python3 -c 'import json,sys; s=json.load(sys.stdin)["summary"]; print(s["evaluated"], s["evaluated"]-s["failing"])'
}
printf '%-28s %9s %9s %9s' chart templates rendered prod
[ -n "${BASE:-}" ] && printf ' %9s' "prod(base)"
printf '\n'
tot=0; tin=0; tprod=0; tbase=0
for dir in "$corpus"/*/; do
  f="$dir/rendered.yaml"; [ -f "$f" ] || continue
  read -r n pin < <(figures "$bin" dev "$f")
  read -r _ pprod < <(figures "$bin" prod "$f")
  tot=$((tot + n)); tin=$((tin + pin)); tprod=$((tprod + pprod))
  printf '%-28s %9s %9s %9s' "$(basename "$dir")" "$n" "$pin" "$pprod"
  if [ -n "${BASE:-}" ]; then
    read -r _ pbase < <(figures "$BASE" prod "$f")
    tbase=$((tbase + pbase)); printf ' %9s' "$pbase"
  fi
  printf '\n'
done
printf '%-28s %9s %9s %9s' total "$tot" "$tin" "$tprod"
[ -n "${BASE:-}" ] && printf ' %9s' "$tbase"
printf '\n'
