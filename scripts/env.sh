# shellcheck shell=bash
# Source me: `. scripts/env.sh` — puts <repo>/.tools/bin (helm 4, helm3, kubectl from
# scripts/install-helm.sh) first on PATH. Safe to source more than once.
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
case ":${PATH}:" in
  *":${CHART_HARDEN_ROOT}/.tools/bin:"*) ;;
  *) PATH="${CHART_HARDEN_ROOT}/.tools/bin:${PATH}"; export PATH ;;
esac
unset _ch_env_src
