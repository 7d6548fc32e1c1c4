#!/usr/bin/env bash
# Validates the deployment files without a container engine or a cluster (CI):
#   docker-compose config          accepts docker/docker-compose.yml
#   promtool check config|rules    accept docker/prometheus/
#   the Grafana dashboard and provisioning parse
#   k8s/ renders (kubectl kustomize when kubectl is there, else tests/deploy's own renderer,
#   which also requires every manifest to be listed in a kustomization)
#   every rendered manifest, and the Secrets scripts/deploy-secrets.sh writes, validate
#   against the Kubernetes API schemas, offline (kubernetes-validate, which bundles them, in a
#   venv under ~/.cache/vexfs)
#   tests/deploy/cross_check.py: ports, probes, selectors, environment, peers, Prometheus
#   targets and metric names against what the built daemons read and export; the files each
#   profile names, the boundaries of its rules, the health rollup; the security material
#   (keys, certificates, credentials) made by scripts/deploy-secrets.sh, found where each
#   daemon reads it through the image or its mounts; and every daemon started for real, with
#   that material, with every profile (compose, Kubernetes, config/*.yaml) and its shipped files
# Needs the programs built (make) and, for the real starts, a Kafka broker: the one
# VEXFS_KAFKA_BOOTSTRAP names, else one started here with scripts/kafka.sh (and stopped).
# Installs what it lacks (scripts/install-deps.sh, pip).
#   VX_K8S_VERSION  Kubernetes version of the schemas (default 1.30.0)
#   VX_KUBECTL      kubectl to render with (default kubectl; "none": the script's own renderer)
set -euo pipefail
cd "$(dirname "$0")/.."
K8S_VERSION=${VX_K8S_VERSION:-1.30.0}
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/vexfs
VENV=$CACHE/deploy-venv
say() { printf 'validate-deploy: %s\n' "$*"; }

scripts/install-deps.sh
[ -x build/bin/vexfs-propagation ] || make all

if [ ! -x "$VENV/bin/kubernetes-validate" ]; then
  say "installing kubernetes-validate into $VENV"
  mkdir -p "$CACHE"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q 'kubernetes-validate==1.37.0'
fi
PY=$VENV/bin/python

tmp=$(mktemp -d)
kafka_started=0
cleanup() {
  rm -rf "$tmp"
  if [ "$kafka_started" = 1 ]; then scripts/kafka.sh stop >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

say "docker-compose config"
docker-compose -f docker/docker-compose.yml config -q

say "the material of scripts/deploy-secrets.sh, and its Kubernetes Secrets"
VEXFSCTL=build/bin/vexfsctl scripts/deploy-secrets.sh "$tmp/secrets" \
  --k8s-manifest "$tmp/k8s-secrets.yaml" >/dev/null 2>&1

say "promtool"
mkdir -p "$tmp/prometheus"
cp -r docker/prometheus/rules "$tmp/prometheus/rules"
sed -e "s#/etc/prometheus/rules/#$tmp/prometheus/rules/#" \
  -e "s#/run/secrets/vexfs/#$tmp/secrets/#" docker/prometheus/prometheus.yml \
  > "$tmp/prometheus/prometheus.yml"
promtool check config "$tmp/prometheus/prometheus.yml"
promtool check rules docker/prometheus/rules/*.yml

say "Grafana dashboard and provisioning"
"$PY" - <<'PYEOF'
import glob, json, yaml
for f in glob.glob("docker/grafana/dashboards/*.json"):
    d = json.load(open(f))
    assert d.get("panels") and d.get("uid"), f + ": no panels or uid"
for f in glob.glob("docker/grafana/provisioning/*/*.yml"):
    yaml.safe_load(open(f))
PYEOF

say "rendering k8s/"
KUBECTL=${VX_KUBECTL:-kubectl}
if command -v "$KUBECTL" >/dev/null 2>&1 && "$KUBECTL" kustomize --help >/dev/null 2>&1; then
  "$KUBECTL" kustomize k8s/ > "$tmp/k8s.yaml"
  "$KUBECTL" kustomize k8s/overlays/kernel-module > "$tmp/kernel-module.yaml"
  render=(--k8s-render "$tmp/k8s.yaml" "$tmp/kernel-module.yaml")
else
  say "no kubectl: rendering with tests/deploy/cross_check.py"
  "$PY" tests/deploy/cross_check.py --render-out "$tmp"
  render=()
fi

say "Kubernetes schemas ($K8S_VERSION, strict)"
"$VENV/bin/kubernetes-validate" --strict --quiet -k "$K8S_VERSION" "$tmp/k8s.yaml" \
  "$tmp/kernel-module.yaml" "$tmp/k8s-secrets.yaml"

if [ -z "${VEXFS_KAFKA_BOOTSTRAP:-}" ]; then
  say "starting a Kafka broker for the real starts (scripts/kafka.sh)"
  scripts/kafka.sh status >/dev/null 2>&1 || kafka_started=1
  VEXFS_KAFKA_BOOTSTRAP=$(scripts/kafka.sh start)
  export VEXFS_KAFKA_BOOTSTRAP
fi
# The broker's client settings (SASL_SSL: CA, SCRAM user, password file), unless the caller
# gave those of another broker; the starts use them instead of the profiles' own.
if [ -z "${VEXFS_KAFKA_SECURITY_PROTOCOL:-}" ]; then
  kenv=$(scripts/kafka.sh env)
  eval "$kenv"
fi
say "cross-check against the daemons, and every daemon started with every profile"
"$PY" tests/deploy/cross_check.py --bin build/bin "${render[@]}"
say "ok"
