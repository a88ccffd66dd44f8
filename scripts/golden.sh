#!/usr/bin/env bash
# Behaviour check for refactors: runs two chart-harden binaries over the same inputs and
# compares, byte for byte, what a user sees: stdout, stderr, the JSON report file and the
# exit code of `harden`, `diff`, `check` and `export flux`, in the dev, staging and prod
# profiles. Inputs: every corpus chart, the whole corpus as one stream, every YAML under
# testdata/ and tests/. Prints one line per difference and a closing count; exit 1 on any.
#
# Usage: scripts/golden.sh OLD_BIN NEW_BIN     (no network: images are not pinned)
# Env:   CHART_HARDEN_SHARED (default <repo>/../shared), KEEP (folder to keep outputs in)
set -uo pipefail
OLD="$(realpath "$1")"; NEW="$(realpath "$2")"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${CHART_HARDEN_SHARED:-$ROOT/../shared}"
WORK="${KEEP:-$(mktemp -d)}"; mkdir -p "$WORK"
[[ -n "${KEEP:-}" ]] || trap 'rm -rf "$WORK"' EXIT

inputs=()
for f in "$SHARED"/corpus/*/rendered.yaml; do inputs+=("$f"); done
cat "$SHARED"/corpus/*/rendered.yaml > "$WORK/corpus-all.yaml"
inputs+=("$WORK/corpus-all.yaml")
while IFS= read -r f; do inputs+=("$f"); done < <(cd "$ROOT" && find testdata tests -name '*.yaml' -o -name '*.bin' | sort | sed "s|^|$ROOT/|")

runs=0; diffs=0
one() { # name, then the arguments after the binary
    local name="$1"; shift
    local side bin
    for side in old new; do
        bin="$OLD"; [[ $side == new ]] && bin="$NEW"
        local d="$WORK/$side/$name"; mkdir -p "$d"
        (cd "$d" && HOME="$d" XDG_CACHE_HOME="$d/cache" "$bin" "$@" --report-file "$d/report.json" \
            >"$d/stdout" 2>"$d/stderr" </dev/null; echo $? >"$d/rc")
        # export flux writes files when given --out; keep paths relative to the run folder
    done
    runs=$((runs + 1))
    if ! diff -r -q "$WORK/old/$name" "$WORK/new/$name" >/dev/null 2>&1; then
        # Folders differ by their own path inside outputs only if a path is printed: compare
        # with the folder names replaced.
        local differ=0 f
        for f in stdout stderr report.json rc; do
            if ! cmp -s <(sed "s|$WORK/old|W|g" "$WORK/old/$name/$f" 2>/dev/null) \
                         <(sed "s|$WORK/new|W|g" "$WORK/new/$name/$f" 2>/dev/null); then
                differ=1; echo "DIFF $name: $f"
            fi
        done
        ((differ)) && diffs=$((diffs + 1))
    fi
}

i=0
for f in "${inputs[@]}"; do
    i=$((i + 1))
    base="$(basename "$(dirname "$f")")-$(basename "$f")"
    for p in dev staging prod; do
        one "$i-$base-harden-$p" "$f" --profile "$p" --no-pin
        one "$i-$base-diff-$p" diff "$f" --profile "$p" --no-pin --report-format markdown
    done
    one "$i-$base-check" check "$f" --no-pin
    one "$i-$base-check-json" check "$f" --no-pin --report-format json --level baseline
    one "$i-$base-flux" export flux "$f" --no-pin --profile prod
done
echo "golden: $runs runs, $diffs differ"
[[ $diffs -eq 0 ]]
