#!/usr/bin/env bash
# Scaling table, measured in one run (issue 18): how the cost grows with the stream.
#   * the shared corpus repeated x1/x4/x16/x32 as one stream, each copy in its own namespaces
#     (unique names), in the staging and prod profiles;
#   * a `kind: List` of 800 Deployments (each with a Service and a peer reference) in prod;
#   * one Pod with 2,000 containers in prod;
#   * 200,000 small ConfigMaps;
#   * many releases in one namespace: 250 and 1,000 times a Deployment with its Service,
#     ConfigMap, NetworkPolicy, HPA, ServiceAccount, Role and RoleBinding, in prod.
# Each row: median wall time of RUNS runs, MB/s, peak RSS against the bound 3x input + 20 MiB.
# Targets: 4x more input costs at most 5x the time; throughput at x16 at least half of x1.
#
# Usage: scripts/bench-scale.sh [RUNS]    (default 3; builds the release binary)
# Env:   CHART_HARDEN_SHARED (default <repo>/../shared), BIN (a chart-harden binary to measure),
#        KEEP (a folder to keep the generated inputs in)
set -euo pipefail

RUNS="${1:-3}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${CHART_HARDEN_SHARED:-$ROOT/../shared}"
if [[ -z "${BIN:-}" ]]; then
    (cd "$ROOT" && cargo build --release -q --bin chart-harden)
    BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/chart-harden"
fi
if [[ -n "${KEEP:-}" ]]; then
    WORK="$KEEP"; mkdir -p "$WORK" # keep the generated inputs there
else
    WORK="$(mktemp -d)"; trap 'rm -rf "$WORK"' EXIT
fi

python3 - "$SHARED/corpus" "$WORK" <<'EOF'
import glob, os, re, sys
corpus, work = sys.argv[1], sys.argv[2]
docs = []
for f in sorted(glob.glob(os.path.join(corpus, "*", "rendered.yaml"))):
    text = open(f, encoding="utf-8").read()
    docs += [d for d in re.split(r"(?m)^---[^\n]*\n", text) if d.strip()]
ns_line = re.compile(r"(?m)^  namespace: *([^\s#]+)")
def copy(d, i):
    # Each copy in its own namespaces: names stay unique across copies.
    if ns_line.search(d):
        return ns_line.sub(lambda m: f"  namespace: {m.group(1).strip(chr(34) + chr(39))}-c{i}", d, count=1)
    return re.sub(r"(?m)^metadata:\n", f"metadata:\n  namespace: release-c{i}\n", d, count=1)
for n in (1, 4, 16, 32):
    with open(os.path.join(work, f"corpus-x{n}.yaml"), "w", encoding="utf-8") as out:
        for i in range(n):
            for d in docs:
                out.write("---\n" + copy(d, i) + ("" if d.endswith("\n") else "\n"))
with open(os.path.join(work, "list800.yaml"), "w") as out:
    out.write("apiVersion: v1\nkind: List\nitems:\n")
    for i in range(800):
        out.write(f"""- apiVersion: apps/v1
  kind: Deployment
  metadata: {{name: app{i}, labels: {{app: app{i}}}}}
  spec:
    replicas: 2
    selector: {{matchLabels: {{app: app{i}}}}}
    template:
      metadata: {{labels: {{app: app{i}}}}}
      spec:
        containers:
        - name: main
          image: example.com/app{i}:1
          ports: [{{containerPort: 8080}}]
          env: [{{name: PEER, value: "http://svc{i + 1}:80"}}]
- apiVersion: v1
  kind: Service
  metadata: {{name: svc{i}}}
  spec:
    selector: {{app: app{i}}}
    ports: [{{port: 80, targetPort: 8080}}]
""")
with open(os.path.join(work, "pod2000.yaml"), "w") as out:
    out.write("apiVersion: v1\nkind: Pod\nmetadata:\n  name: big\n  labels: {app: big}\nspec:\n  containers:\n")
    for i in range(2000):
        out.write(f"  - name: c{i}\n    image: example.com/x:1\n")
for n in (250, 1000):
    with open(os.path.join(work, f"ns{n}.yaml"), "w") as out:
        for i in range(n):
            out.write(f"""---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: app{i}, namespace: one, labels: {{app: app{i}}}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: app{i}}}}}
  template:
    metadata: {{labels: {{app: app{i}, tier: web}}}}
    spec:
      serviceAccountName: sa{i}
      containers:
      - name: main
        image: example.com/app{i}:1
        ports: [{{containerPort: 8080, name: http}}]
        env: [{{name: PEER, value: "http://svc{(i + 1) % n}:80"}}, {{name: C, valueFrom: {{configMapKeyRef: {{name: cm{i}, key: k}}}}}}]
---
apiVersion: v1
kind: Service
metadata: {{name: svc{i}, namespace: one}}
spec:
  selector: {{app: app{i}}}
  ports: [{{port: 80, targetPort: http}}]
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: cm{i}, namespace: one}}
data: {{k: "svc{(i + 7) % n}.one.svc.cluster.local:80"}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: np{i}, namespace: one}}
spec:
  podSelector: {{matchLabels: {{app: app{i}}}}}
  policyTypes: [Ingress]
  ingress: [{{from: [{{podSelector: {{matchLabels: {{app: app{(i + n - 1) % n}}}}}}}], ports: [{{port: 8080}}]}}]
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {{name: hpa{i}, namespace: one}}
spec: {{scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: app{i}}}, minReplicas: 2, maxReplicas: 4}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {{name: sa{i}, namespace: one}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: role{i}, namespace: one}}
rules: [{{apiGroups: [""], resources: [configmaps, secrets], verbs: [get, list, watch]}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: rb{i}, namespace: one}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: role{i}}}
subjects: [{{kind: ServiceAccount, name: sa{i}, namespace: one}}]
""")
with open(os.path.join(work, "cm200k.yaml"), "w") as out:
    for i in range(200000):
        out.write(f"---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm{i}\ndata:\n  k: v\n")
EOF

now_ns() { date +%s%N; }
median_ms() { # RUNS INPUT ARGS...
    local runs="$1" input="$2"; shift 2
    local times=() t0 t1 i
    for ((i = 0; i < runs; i++)); do
        t0=$(now_ns); "$BIN" "$@" <"$input" >/dev/null 2>&1; t1=$(now_ns)
        times+=($(((t1 - t0) / 1000)))
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]/1000}'
}
rss_kib() { # INPUT ARGS...
    local input="$1"; shift
    /usr/bin/time -f '%M' -o "$WORK/rss" "$BIN" "$@" <"$input" >/dev/null 2>&1 || true
    tail -n1 "$WORK/rss"
}

printf '%-24s %9s %10s %9s %10s %11s %s\n' input MiB ms MB/s "RSS MiB" "bound MiB" ""
declare -A MS
row() { # NAME FILE ARGS...
    local name="$1" f="$2"; shift 2
    local size ms rss bound
    size=$(stat -c %s "$f")
    if ! "$BIN" "$@" <"$f" >/dev/null 2>"$WORK/err"; then
        echo "bench-scale: $name failed: $(head -c 300 "$WORK/err")" >&2
        exit 1
    fi
    ms=$(median_ms "$RUNS" "$f" "$@")
    rss=$(rss_kib "$f" "$@")
    bound=$(awk -v s="$size" 'BEGIN {printf "%.1f", 3 * s / 1048576 + 20}')
    MS[$name]=$ms
    awk -v n="$name" -v s="$size" -v ms="$ms" -v r="$rss" -v b="$bound" 'BEGIN {
        mib = s / 1048576; rm = r / 1024
        printf "%-24s %9.2f %10.1f %9.1f %10.1f %11s %s\n", n, mib, ms, mib / (ms / 1000), rm, b, (rm <= b) ? "ok" : "OVER"
    }'
}
for p in staging prod; do
    for n in 1 4 16 32; do
        row "corpus x$n $p" "$WORK/corpus-x$n.yaml" --profile "$p" --no-pin -q
    done
done
row "List 800 Deployments prod" "$WORK/list800.yaml" --profile prod --no-pin -q --namespace bench
row "Pod 2000 containers prod" "$WORK/pod2000.yaml" --profile prod --no-pin -q --namespace bench
row "200k ConfigMaps" "$WORK/cm200k.yaml" --no-pin -q
row "one namespace x250 prod" "$WORK/ns250.yaml" --profile prod --no-pin -q
row "one namespace x1000 prod" "$WORK/ns1000.yaml" --profile prod --no-pin -q
for p in staging prod; do
    awk -v a="${MS[corpus x4 $p]}" -v b="${MS[corpus x16 $p]}" -v c="${MS[corpus x1 $p]}" -v p="$p" 'BEGIN {
        r = b / a; t = (c * 16) / b
        printf "%s: x16/x4 time ratio %.2f (target <= 5: %s); throughput x16 / x1 %.2f (target >= 0.5: %s)\n",
            p, r, (r <= 5) ? "ok" : "MISSED", t, (t >= 0.5) ? "ok" : "MISSED"
    }'
done
awk -v a="${MS[one namespace x250 prod]}" -v b="${MS[one namespace x1000 prod]}" 'BEGIN {
    r = b / a
    printf "one namespace: x1000/x250 time ratio %.2f (target <= 5: %s)\n", r, (r <= 5) ? "ok" : "MISSED"
}'
