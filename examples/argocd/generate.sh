#!/usr/bin/env bash
# Argo CD Config Management Plugin "generate" step for chart-harden.
#
# Runs in the application's source directory (a Helm chart) inside the CMP sidecar:
#   helm template <app> . | chart-harden ...
# stdout must carry nothing but the manifests; Argo CD shows stderr when this fails.
#
# Environment (set by Argo CD):
#   ARGOCD_APP_NAME, ARGOCD_APP_NAMESPACE            release name and namespace
#   KUBE_VERSION, KUBE_API_VERSIONS                  target cluster (if provided)
# Application `spec.source.plugin.env` entries (Argo CD prefixes them with ARGOCD_ENV_):
#   HELM_VALUES     values files relative to the chart dir, separated by commas or spaces
#   PROFILE         dev | staging | prod (default: prod)
#   LOCKFILE        chart-harden lockfile (relative path); enables --offline, so renders are
#                   deterministic and Argo CD does not see drift from digest pinning
#   CONFIG          chart-harden config file (relative path)
#   SKIP_TESTS      "true": leave out the chart's `helm test` hook resources (--skip-tests)
# Sidecar environment:
#   CHART_HARDEN_BIN  path of the chart-harden binary (default: chart-harden on PATH)
#   HELM_BIN          path of helm (default: helm on PATH)
set -euo pipefail

: "${ARGOCD_APP_NAME:?ARGOCD_APP_NAME is not set (not running under Argo CD?)}"
: "${ARGOCD_APP_NAMESPACE:?ARGOCD_APP_NAMESPACE is not set}"

helm_bin="${HELM_BIN:-helm}"
chart_harden_bin="${CHART_HARDEN_BIN:-chart-harden}"

# Only paths inside the application directory may be referenced.
check_rel_path() {
  local what="$1" p="$2"
  case "/${p}/" in
    //*|*/../*) echo "chart-harden CMP: ${what} must be a relative path inside the app: ${p}" >&2; exit 1 ;;
  esac
  if [[ ! -f "${p}" ]]; then
    echo "chart-harden CMP: ${what} not found: ${p}" >&2
    exit 1
  fi
}

helm_args=(template "${ARGOCD_APP_NAME}" . --namespace "${ARGOCD_APP_NAMESPACE}" --include-crds)
if [[ -n "${KUBE_VERSION:-}" ]]; then
  helm_args+=(--kube-version "${KUBE_VERSION}")
fi
if [[ -n "${KUBE_API_VERSIONS:-}" ]]; then
  IFS=',' read -r -a api_versions <<< "${KUBE_API_VERSIONS}"
  for v in "${api_versions[@]}"; do
    [[ -n "${v}" ]] && helm_args+=(--api-versions "${v}")
  done
fi
if [[ "${ARGOCD_ENV_SKIP_TESTS:-false}" == true ]]; then
  helm_args+=(--skip-tests)
fi
if [[ -n "${ARGOCD_ENV_HELM_VALUES:-}" ]]; then
  read -r -a values_files <<< "${ARGOCD_ENV_HELM_VALUES//,/ }"
  for f in "${values_files[@]}"; do
    check_rel_path "values file" "${f}"
    helm_args+=(--values "${f}")
  done
fi

harden_args=(
  --namespace "${ARGOCD_APP_NAMESPACE}"
  --release "${ARGOCD_APP_NAME}"
  --profile "${ARGOCD_ENV_PROFILE:-prod}"
)
if [[ -n "${ARGOCD_ENV_LOCKFILE:-}" ]]; then
  check_rel_path "lockfile" "${ARGOCD_ENV_LOCKFILE}"
  harden_args+=(--lockfile "${ARGOCD_ENV_LOCKFILE}" --offline)
fi
if [[ -n "${ARGOCD_ENV_CONFIG:-}" ]]; then
  check_rel_path "config" "${ARGOCD_ENV_CONFIG}"
  harden_args+=(--config "${ARGOCD_ENV_CONFIG}")
fi

# pipefail: a failing `helm template` fails the whole step instead of feeding
# chart-harden an empty or partial stream.
"${helm_bin}" "${helm_args[@]}" | "${chart_harden_bin}" "${harden_args[@]}"
