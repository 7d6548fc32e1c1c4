#!/usr/bin/env bash
# Makes the security material of a deployment in DIR, with vexfsctl:
#   DIR/keys/              CURVE keys (vexfsctl keys init): server.key/.pub, one pair per
#                          identity, authorized/ (the identities' public keys), audit.key/.pub
#   DIR/data-keys/         the data key that seals what the daemons write (vexfsctl keys
#                          rotate-data; at_rest.data_keys_dir)
#   DIR/tls/               TLS (vexfsctl certs init): ca.crt/ca.key, server.crt/server.key
#                          valid for every service name of docker/ and k8s/, client
#                          certificates ctl, analytics, automation, prometheus
#   DIR/credentials.yaml   who may call the REST APIs (vexfsctl creds add): ctl (admin, by its
#                          client certificate), analytics and prometheus (viewer, by theirs),
#                          automation (operator, by its) and admin (admin, bearer token)
#   DIR/admin-token        that token (mode 0600)
#   DIR/kafka/sasl.password   the Kafka SCRAM-SHA-512 password of the user "vexfs" (random,
#                          mode 0600): kafka_security.sasl_password_file of every daemon; the
#                          broker is verified against DIR/tls/ca.crt (kafka_security.ssl_ca_file)
#   DIR/kafka-broker/      the compose broker's own material (docker/kafka/), readable by the
#                          broker's user only: server.pem (key and certificate chain, signed by
#                          DIR/tls/ca.key for the host names kafka, localhost, 127.0.0.1),
#                          ca.crt, and sasl.password (the same password: the broker creates
#                          the SCRAM user from it when it formats its storage)
#   DIR/services/NAME/     what the container of identity NAME is given, and nothing else, in the
#                          same layout (keys/, tls/, credentials.yaml, data-keys/, kafka/):
#                          its own CURVE pair and TLS client certificate, never another
#                          identity's secret key (S_SERVICES below says what each one gets)
# docker/docker-compose.yml mounts DIR/services/NAME (VEXFS_SECRETS_DIR, default
# docker/secrets) at /run/secrets/vexfs in the container of NAME; k8s/ mounts the Secrets made
# from them (README, "Kubernetes"); on a host, DIR=/etc/vexfs is where the daemons look by
# default (config/development.yaml and production.yaml). Never overwrites: a DIR that already
# has keys/ or tls/ is refused.
#   scripts/deploy-secrets.sh DIR [--owner UID[:GID]] [--k8s-manifest FILE]
#     --owner         chown -R DIR, e.g. 10001:10001 (the image's user; needs root), and
#                     DIR/kafka-broker to the Kafka image's user (--kafka-owner)
#     --kafka-owner   owner of DIR/kafka-broker with --owner (default 10002:10002, the user
#                     of docker/kafka/Dockerfile)
#     --k8s-manifest  also write FILE: the Secrets k8s/ mounts (namespace vexfs), for
#                     `kubectl apply -f FILE`: per identity NAME of a pod, vexfs-curve-NAME
#                     (DIR/services/NAME/keys) and vexfs-tls-NAME (DIR/services/NAME/tls);
#                     shared, with no secret key of an identity: vexfs-curve-authorized
#                     (DIR/keys/authorized, public keys), vexfs-credentials (credentials.yaml,
#                     token hashes), vexfs-data-keys and vexfs-kafka (DIR/kafka: the SCRAM
#                     password; the broker is the cluster's own, README "Kubernetes")
# Environment: VEXFSCTL (default build/bin/vexfsctl, else vexfsctl on PATH).
set -euo pipefail
usage() { echo "usage: scripts/deploy-secrets.sh DIR [--owner UID[:GID]] [--kafka-owner UID[:GID]] [--k8s-manifest FILE]" >&2; exit 2; }
[ $# -ge 1 ] || usage
DIR=$1
shift
OWNER=
KAFKA_OWNER=10002:10002
MANIFEST=
while [ $# -gt 0 ]; do
  case $1 in
    --owner) [ $# -ge 2 ] || usage; OWNER=$2; shift 2 ;;
    --kafka-owner) [ $# -ge 2 ] || usage; KAFKA_OWNER=$2; shift 2 ;;
    --k8s-manifest) [ $# -ge 2 ] || usage; MANIFEST=$2; shift 2 ;;
    *) usage ;;
  esac
done
here=$(cd "$(dirname "$0")/.." && pwd)
CTL=${VEXFSCTL:-}
if [ -z "$CTL" ]; then
  if [ -x "$here/build/bin/vexfsctl" ]; then CTL=$here/build/bin/vexfsctl; else CTL=vexfsctl; fi
fi
for d in keys tls data-keys kafka kafka-broker services; do
  if [ -e "$DIR/$d" ]; then
    echo "deploy-secrets: $DIR/$d exists; refusing to overwrite it" >&2
    exit 1
  fi
done
# Every name a client reaches a REST server by: the compose services and the Kubernetes
# Services (short and namespaced), and loopback for the containers' own health checks.
HOSTS=localhost,127.0.0.1,::1
HOSTS+=,propagation,routing,coordinator-1,coordinator-2,coordinator-3,automation,analytics,watch
for s in propagation routing coordinator coordinator-0 coordinator-1 coordinator-2 automation \
         analytics; do
  HOSTS+=,vexfs-$s,vexfs-$s.vexfs,vexfs-$s.vexfs.svc,vexfs-$s.vexfs.svc.cluster.local
done
if [ ! -d "$DIR" ]; then # a folder of its own is private; an existing one (/etc/vexfs) keeps its mode
  mkdir -p "$DIR"
  chmod 0700 "$DIR"
fi
"$CTL" keys init "$DIR/keys" >/dev/null
"$CTL" keys rotate-data "$DIR/data-keys" >/dev/null
"$CTL" certs init "$DIR/tls" --hosts "$HOSTS" --clients ctl,analytics,automation,prometheus >/dev/null
CREDS=$DIR/credentials.yaml
"$CTL" creds add ctl --role admin --cert-cn ctl --file "$CREDS" --token-file "$DIR/.ctl-token" \
  >/dev/null 2>&1
"$CTL" creds add analytics --role viewer --cert-cn analytics --file "$CREDS" \
  --token-file "$DIR/.analytics-token" >/dev/null 2>&1
"$CTL" creds add automation --role operator --cert-cn automation --file "$CREDS" \
  --token-file "$DIR/.automation-token" >/dev/null 2>&1
"$CTL" creds add prometheus --role viewer --cert-cn prometheus --file "$CREDS" \
  --token-file "$DIR/.prometheus-token" >/dev/null 2>&1
rm -f "$DIR/.ctl-token" "$DIR/.analytics-token" "$DIR/.automation-token" "$DIR/.prometheus-token"
# Kafka: a random SCRAM password (hex: no quoting in properties files or --add-scram) and
# the broker's certificate, signed by the suite's CA for the name the compose clients dial.
(
  umask 077
  mkdir -p "$DIR/kafka" "$DIR/kafka-broker"
  od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$DIR/kafka/sasl.password"
  echo >>"$DIR/kafka/sasl.password"
  cp "$DIR/kafka/sasl.password" "$DIR/kafka-broker/sasl.password"
  "$CTL" certs generate kafka --dir "$DIR/tls" --hosts kafka,localhost,127.0.0.1 >/dev/null
  cat "$DIR/tls/kafka.key" "$DIR/tls/kafka.crt" "$DIR/tls/ca.crt" >"$DIR/kafka-broker/server.pem"
  cp "$DIR/tls/ca.crt" "$DIR/kafka-broker/ca.crt"
  rm -f "$DIR/tls/kafka.key" "$DIR/tls/kafka.crt"
)
if [ ! -e "$DIR/admin-token" ]; then
  "$CTL" creds add admin --role admin --file "$CREDS" --token-file "$DIR/admin-token" >/dev/null
fi
# Each container's own folder, DIR/services/NAME: what identity NAME needs, in the layout of
# DIR. Every one gets the CA and the daemons' CURVE server public key; then, by role:
#   own      its CURVE pair keys/NAME.key/.pub
#   server   the daemons' CURVE server pair and authorized/ (it binds ZeroMQ sockets)
#   peers    authorized/ only (the coordinator admits its Raft peers by it)
#   rest     the REST server's certificate and key, credentials.yaml, the audit key
#   client   its TLS client certificate tls/NAME.crt/.key
#   data     data-keys/ (it seals what it writes)
#   kafka    kafka/sasl.password
# ca.key, kafka-broker/ and admin-token go to no container.
S_SERVICES=(
  "propagation own server rest kafka data"
  "routing own server rest kafka data"
  "coordinator own peers rest data"
  "automation own server rest client data"
  "analytics own server rest client kafka data"
  "watch own peers rest"
  "forwarder own peers rest"
  "fuse own peers rest"
  "ctl own client"
  "prometheus client"
)
(
  umask 077
  for line in "${S_SERVICES[@]}"; do
    read -r name roles <<<"$line"
    to=$DIR/services/$name
    mkdir -p "$to/keys" "$to/tls"
    cp "$DIR/keys/server.pub" "$to/keys/"
    cp "$DIR/tls/ca.crt" "$to/tls/"
    for role in $roles; do
      case $role in
        own) cp "$DIR/keys/$name.key" "$DIR/keys/$name.pub" "$to/keys/" ;;
        server) cp "$DIR/keys/server.key" "$to/keys/"; cp -r "$DIR/keys/authorized" "$to/keys/" ;;
        peers) cp -r "$DIR/keys/authorized" "$to/keys/" ;;
        rest)
          cp "$DIR/tls/server.crt" "$DIR/tls/server.key" "$to/tls/"
          cp "$DIR/keys/audit.key" "$DIR/keys/audit.pub" "$to/keys/"
          cp "$CREDS" "$to/credentials.yaml" ;;
        client) cp "$DIR/tls/$name.crt" "$DIR/tls/$name.key" "$to/tls/" ;;
        data) cp -r "$DIR/data-keys" "$to/" ;;
        kafka) mkdir -p "$to/kafka"; cp "$DIR/kafka/sasl.password" "$to/kafka/" ;;
      esac
    done
  done
)
# One Secret of the regular files FILES... (keys: their names).
secret() {
  local name=$1 f
  shift
  printf -- '---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: %s\n  namespace: vexfs\n' "$name"
  printf '  labels: {app.kubernetes.io/part-of: vexfs}\ntype: Opaque\ndata:\n'
  for f in "$@"; do
    printf '  %s: %s\n' "$(basename "$f")" "$(base64 -w0 < "$f")"
  done
}
if [ -n "$MANIFEST" ]; then
  (
    umask 077
    {
      for name in propagation routing coordinator automation analytics watch forwarder; do
        secret "vexfs-curve-$name" $(find "$DIR/services/$name/keys" -maxdepth 1 -type f | sort)
        secret "vexfs-tls-$name" $(find "$DIR/services/$name/tls" -maxdepth 1 -type f | sort)
      done
      secret vexfs-curve-authorized $(find "$DIR/keys/authorized" -maxdepth 1 -type f | sort)
      secret vexfs-credentials "$CREDS"
      secret vexfs-data-keys $(find "$DIR/data-keys" -maxdepth 1 -type f | sort)
      secret vexfs-kafka "$DIR/kafka/sasl.password"
    } > "$MANIFEST"
  )
fi
if [ -n "$OWNER" ]; then
  chown -R "$OWNER" "$DIR"
  chown -R "$KAFKA_OWNER" "$DIR/kafka-broker"
fi
echo "deploy-secrets: keys, TLS certificates, credentials and Kafka secrets in $DIR"
