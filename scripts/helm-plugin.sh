#!/bin/sh
# The Helm 4 plugin's entry point (plugin.yaml runs it with sh; POSIX sh, no bash needed).
#
#   helm-plugin.sh run [ARGS...]   the post-renderer: find the chart-harden binary, run it
#   helm-plugin.sh install         the plugin's install/update hook: build the binary with
#                                  cargo when there is none (or say which command to run)
#
# Binary lookup (first hit wins):
#   1. $CHART_HARDEN_BIN, if set and executable (tests point it at cargo's binary)
#   2. <plugin dir>/bin/chart-harden            (release tarball layout)
#   3. <plugin dir>/target/release/chart-harden (source checkout: cargo build --release)
#   4. chart-harden on PATH                     (cargo install --path .)
#
# Failing visibly: Helm 4 discards a post-renderer's stdout and stderr when it exits
# non-zero and prints only `plugin "chart-harden" exited with error`. chart-harden, told
# by CHART_HARDEN_HELM_PLUGIN=1 that it runs here, reports a failure as one invalid
# document whose file name annotation is the error message, which Helm then prints as
# `YAML parse error on <message>` (see src/helm_plugin.rs). This script does the same when
# there is no binary, or when the binary fails without doing it (a crash, an old binary).
#
# Set CHART_HARDEN_NO_BUILD=1 to keep the install hook from running cargo.
set -u

dir="${HELM_PLUGIN_DIR:-$(cd "$(dirname "$0")/.." && pwd)}"

find_bin() {
  for b in "${CHART_HARDEN_BIN:-}" "$dir/bin/chart-harden" "$dir/target/release/chart-harden"; do
    if [ -n "$b" ] && [ -f "$b" ] && [ -x "$b" ]; then
      printf '%s\n' "$b"
      return 0
    fi
  done
  command -v chart-harden 2>/dev/null
}

# The one command that gives this plugin its binary.
build_hint() {
  if [ -f "$dir/Cargo.toml" ]; then
    printf "cargo build --release --locked --manifest-path '%s/Cargo.toml'   (or: cargo install --locked --path '%s')" "$dir" "$dir"
  else
    printf 'install the plugin from a release tarball (it has bin/chart-harden), or set CHART_HARDEN_BIN to a chart-harden binary'
  fi
}

# error_doc MESSAGE...: a document Helm 4 rejects, showing the message (a literal block
# scalar: no escaping; every line indented).
error_doc() {
  printf '# chart-harden failed; Helm 4 shows the annotation below as a file name.\n'
  printf 'apiVersion: chart-harden.io/v1\n'
  printf 'kind: {error: chart-harden failed, see the postrender-filename annotation}\n'
  printf 'metadata:\n  name: chart-harden-error\n  annotations:\n'
  printf '    postrenderer.helm.sh/postrender-filename: |2\n'
  printf '      \n'
  for line in "$@"; do
    printf '%s\n' "$line" | tr -d '\000-\010\013-\037' | sed 's/^/      /'
  done
  printf "      [chart-harden: Helm 4 hides a post-renderer's output, so this error reaches you as the name of an invalid document; Helm's YAML complaint after it is about that document]\n"
}

run() {
  if ! b="$(find_bin)"; then
    cat > /dev/null
    error_doc "chart-harden: the Helm plugin in $dir has no chart-harden binary." \
      "Run: $(build_hint)"
    exit 0
  fi
  err="$(mktemp "${TMPDIR:-/tmp}/chart-harden-stderr.XXXXXX")" || err=/dev/null
  CHART_HARDEN_HELM_PLUGIN=1 "$b" "$@" 2> "$err"
  rc=$?
  if [ "$rc" -ne 0 ]; then
    # The binary did not report its failure itself (it crashed, or is older than this
    # wrapper): pass on the end of its stderr.
    tail_lines="$(tail -n 20 "$err" 2>/dev/null)"
    error_doc "chart-harden ($b) exited with status $rc." "$tail_lines"
  fi
  [ "$err" = /dev/null ] || rm -f "$err"
  exit 0
}

install_hook() {
  if b="$(find_bin)"; then
    echo "chart-harden: plugin uses $b"
    exit 0
  fi
  if [ "${CHART_HARDEN_NO_BUILD:-}" != 1 ] && [ -f "$dir/Cargo.toml" ] && command -v cargo > /dev/null 2>&1; then
    echo "chart-harden: no binary yet; building it: cargo build --release --locked (takes a few minutes)"
    if (cd "$dir" && cargo build --release --locked --bin chart-harden); then
      echo "chart-harden: plugin uses $dir/target/release/chart-harden"
      exit 0
    fi
    echo "chart-harden: the build failed; fix it, then run: $(build_hint)" >&2
    exit 1
  fi
  echo "chart-harden: the plugin has no binary yet. Run: $(build_hint)"
  exit 0
}

cmd="${1:-run}"
[ $# -gt 0 ] && shift
case "$cmd" in
  run) run "$@" ;;
  install) install_hook ;;
  *) echo "helm-plugin.sh: unknown command $cmd (run | install)" >&2; exit 2 ;;
esac
