#!/bin/sh
# Starts the broker of the vexfs-kafka image: writes server.properties from the KAFKA_*
# variables (KAFKA_NODE_ID=1 -> node.id=1, KAFKA_LOG_DIRS -> log.dirs, ...), formats the log
# folder the first time (cluster id from CLUSTER_ID, else random), then runs kafka.Kafka in
# the foreground so it receives the container's SIGTERM.
set -eu
CONF=/opt/kafka/config/server.properties
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
HEAP=${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}
# shellcheck disable=SC2086 # HEAP holds several options
set -- java $HEAP -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
  -Dlog4j.configuration=file:/opt/kafka/log4j.properties -cp '/opt/kafka/libs/*'
if [ ! -f "$KAFKA_LOG_DIRS/meta.properties" ]; then
  cid=${CLUSTER_ID:-A$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=' | cut -c2-)}
  echo "kafka-entrypoint: formatting $KAFKA_LOG_DIRS (cluster id $cid)" >&2
  "$@" kafka.tools.StorageTool format -t "$cid" -c "$CONF" >&2
fi
exec "$@" kafka.Kafka "$CONF"
