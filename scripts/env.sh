# shellcheck shell=bash
# Source me: `. scripts/env.sh` — puts <repo>/.tools/bin (helm 4, helm3, kubectl from
# scripts/install-helm.sh) and cargo's release directory (chart-harden after
# `cargo build --release`) first on PATH, so the README's `helm …` and `chart-harden …`
# commands run as written. Safe to source more than once.
if [ -n "${BASH_SOURCE:-}" ]; then
  _ch_env_src="${BASH_SOURCE[0]}"
elif [ -n "${ZSH_VERSION:-}" ]; then
  # shellcheck disable=SC2296
  _ch_env_src="${(%):-%x}"
else
  _ch_env_src="$0"
fi
CHART_HARDEN_ROOT="$(cd "$(dirname "${_ch_env_src}")/.." && pwd)"
export CHART_HARDEN_ROOT
_ch_release="${CARGO_TARGET_DIR:-${CHART_HARDEN_ROOT}/target}/release"
for _ch_dir in "${_ch_release}" "${CHART_HARDEN_ROOT}/.tools/bin"; do
  case ":${PATH}:" in
    *":${_ch_dir}:"*) ;;
    *) PATH="${_ch_dir}:${PATH}"; export PATH ;;
  esac
done
if [ ! -x "${_ch_release}/chart-harden" ] && [ -t 2 ]; then
  echo "env.sh: ${_ch_release}/chart-harden is not built yet: run cargo build --release (or cargo install --locked --path .)" >&2
fi
unset _ch_env_src _ch_release _ch_dir
