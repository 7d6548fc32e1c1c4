#!/bin/sh
# Starts the broker of the vexfs-kafka image: writes server.properties from the KAFKA_*
# variables (KAFKA_NODE_ID=1 -> node.id=1, KAFKA_LOG_DIRS -> log.dirs, ...), adds the SASL
# settings that hold the SCRAM password (read from the secrets folder, see below), formats the
# log folder the first time (cluster id from CLUSTER_ID, else random; the SCRAM user is created
# then), then runs kafka.Kafka in the foreground so it receives the container's SIGTERM.
# The secrets folder (SECRETS_DIR, default /run/secrets/kafka: scripts/deploy-secrets.sh's
# DIR/kafka-broker) holds server.pem (key and certificate chain: ssl.keystore.type=PEM),
# ca.crt and sasl.password, the password of the SCRAM-SHA-512 user SCRAM_USER (default vexfs).
# Without sasl.password the broker gets no SASL settings from here (plain KAFKA_* only).
# kcat.conf next to server.properties lets the health check talk SASL_SSL as that user.
set -eu
umask 077 # server.properties and kcat.conf hold the SCRAM password
CONF=/opt/kafka/config/server.properties
KCAT=/opt/kafka/config/kcat.conf
SECRETS=${SECRETS_DIR:-/run/secrets/kafka}
USER_NAME=${SCRAM_USER:-vexfs}
: "${KAFKA_LOG_DIRS:=/var/lib/kafka/data}"
export KAFKA_LOG_DIRS
# A restart after a crash: the controller keeps the dead incarnation's registration for one
# broker session, so a short session lets the restarted broker register within seconds.
: "${KAFKA_BROKER_SESSION_TIMEOUT_MS:=3000}"
: "${KAFKA_BROKER_HEARTBEAT_INTERVAL_MS:=500}"
export KAFKA_BROKER_SESSION_TIMEOUT_MS KAFKA_BROKER_HEARTBEAT_INTERVAL_MS
env | sort | while IFS='=' read -r name value; do
  case $name in
    KAFKA_HEAP_OPTS|KAFKA_VERSION) ;;
    KAFKA_*) echo "$(echo "${name#KAFKA_}" | tr 'A-Z_' 'a-z.')=$value" ;;
  esac
done >"$CONF"
SCRAM=
if [ -f "$SECRETS/sasl.password" ]; then
  pass=$(head -n1 "$SECRETS/sasl.password")
  case $pass in
    ''|*[!0-9A-Za-z._~-]*)
      echo "kafka-entrypoint: $SECRETS/sasl.password: the first line must be a non-empty password of letters, digits and ._~- (scripts/deploy-secrets.sh makes one)" >&2
      exit 1 ;;
  esac
  [ -r "$SECRETS/server.pem" ] || { echo "kafka-entrypoint: $SECRETS/server.pem: not readable" >&2; exit 1; }
  # The broker's own client side (inter-broker traffic on SASL_SSL) logs in as the same user.
  echo "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"$USER_NAME\" password=\"$pass\";" >>"$CONF"
  printf 'security.protocol=SASL_SSL\nsasl.mechanisms=SCRAM-SHA-512\nsasl.username=%s\nsasl.password=%s\nssl.ca.location=%s\n' \
    "$USER_NAME" "$pass" "$SECRETS/ca.crt" >"$KCAT"
  SCRAM="SCRAM-SHA-512=[name=$USER_NAME,password=$pass]"
fi
HEAP=${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}
# shellcheck disable=SC2086 # HEAP holds several options
set -- java $HEAP -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
  -Dlog4j.configuration=file:/opt/kafka/log4j.properties -cp '/opt/kafka/libs/*'
if [ ! -f "$KAFKA_LOG_DIRS/meta.properties" ]; then
  cid=${CLUSTER_ID:-A$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=' | cut -c2-)}
  echo "kafka-entrypoint: formatting $KAFKA_LOG_DIRS (cluster id $cid${SCRAM:+, SCRAM user $USER_NAME})" >&2
  if [ -n "$SCRAM" ]; then
    "$@" kafka.tools.StorageTool format -t "$cid" -c "$CONF" --add-scram "$SCRAM" >&2
  else
    "$@" kafka.tools.StorageTool format -t "$cid" -c "$CONF" >&2
  fi
fi
exec "$@" kafka.Kafka "$CONF"
