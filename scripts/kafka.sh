#!/usr/bin/env bash
# Single-node Apache Kafka broker (KRaft, broker+controller in one JVM) for tests.
# The broker jars come from Maven Central (Debian has no Kafka broker package).
#
#   scripts/kafka.sh fetch               install JDK/Maven/kcat if absent, download the broker jars once
#   scripts/kafka.sh start               start (or reuse) the broker; prints 127.0.0.1:PORT on stdout
#   scripts/kafka.sh status              exit 0 and print the address if the broker answers
#   scripts/kafka.sh stop                SIGTERM (SIGKILL after 30 s) and delete the data
#   scripts/kafka.sh kill9               kill -9 the broker, keeping its data (crash tests)
#   scripts/kafka.sh restart-after-kill  start again on the same data, without reformatting
#
# Environment: VEXFS_KAFKA_VERSION (3.9.1), VEXFS_CACHE (~/.cache/vexfs), VEXFS_KAFKA_DIR (/tmp/vexfs-kafka),
# VEXFS_KAFKA_PORT (19092; the controller listens on PORT+1), VEXFS_KAFKA_PARTITIONS (3).
# Only the address goes to stdout, so `BOOTSTRAP=$(scripts/kafka.sh start)` works; progress goes to stderr.
set -euo pipefail

VERSION=${VEXFS_KAFKA_VERSION:-3.9.1}
CACHE=${VEXFS_CACHE:-$HOME/.cache/vexfs}/kafka-$VERSION
LIBS=$CACHE/libs
WORK=${VEXFS_KAFKA_DIR:-/tmp/vexfs-kafka}
PORT=${VEXFS_KAFKA_PORT:-19092}
CPORT=$((PORT + 1))
PARTITIONS=${VEXFS_KAFKA_PARTITIONS:-3}
ADDR=127.0.0.1:$PORT
POM=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/kafka/pom.xml
PIDFILE=$WORK/broker.pid
LOG=$WORK/broker.log
READY_LINE='Kafka Server started' # KafkaBroker.STARTED_MESSAGE, logged by KafkaRaftServer
JAVA=${JAVA_HOME:+$JAVA_HOME/bin/}java
# Kafka 3.x logs through reload4j, 4.x through log4j2; each reads its own configuration file.
case $VERSION in
  3.*) PROFILE=kafka3 LOGOPT=-Dlog4j.configuration=file:$WORK/log4j.properties ;;
  *) PROFILE=kafka4 LOGOPT=-Dlog4j2.configurationFile=$WORK/log4j2.properties ;;
esac
# A test broker needs little heap; SerialGC and C1-only JIT cut start-up time and footprint on 2 cores.
JOPTS=(-Xms256m -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true "$LOGOPT")

log() { printf 'kafka.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# apt-get install, as root or through sudo. Another install holding the dpkg/apt locks is waited for
# (Lock::Timeout covers the dpkg lock, the retries also cover the lists lock of 'apt-get update').
apt_install() {
  local sudo=() try
  [[ $(id -u) == 0 ]] || sudo=(sudo)
  log "installing $* with apt-get"
  for try in 1 2 3 4 5 6; do
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 -qq update >&2 &&
      "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 -qq install -y \
        --no-install-recommends "$@" >&2 && return 0
    log "apt-get failed (try $try), retrying in 20 s"
    sleep 20
  done
  return 1
}

cmd_fetch() {
  local pkgs=()
  command -v "$JAVA" >/dev/null || pkgs+=(default-jdk-headless)
  command -v mvn >/dev/null || pkgs+=(maven)
  command -v kcat >/dev/null || pkgs+=(kcat)
  ((${#pkgs[@]} == 0)) || apt_install "${pkgs[@]}"
  # The stamp holds a copy of the pom the jars came from: a changed pom means a new download.
  if [[ -f $LIBS/.stamp ]] && cmp -s "$POM" "$LIBS/.stamp"; then return 0; fi
  log "resolving org.apache.kafka:kafka_2.13:$VERSION from Maven Central into $LIBS"
  mkdir -p "$CACHE"
  rm -rf "$LIBS.tmp"
  # Fully qualified plugin coordinates: a bare dependency:copy-dependencies needs the plugin prefix resolved.
  mvn -B -q -f "$POM" -Dmaven.repo.local="$CACHE/m2" -P"$PROFILE" -Dkafka.version="$VERSION" \
    org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies \
    -DoutputDirectory="$LIBS.tmp" -DincludeScope=runtime 2>&1 | sed 's/\x1b\[0m//g' >&2 # Debian's Maven 3.8 prints bare colour resets even with -B
  ls "$LIBS.tmp/kafka_2.13-$VERSION.jar" >/dev/null
  cp "$POM" "$LIBS.tmp/.stamp"
  rm -rf "$LIBS"
  mv "$LIBS.tmp" "$LIBS"
}

# Whether process $1 is a live broker (a zombie has an empty cmdline, a reused PID another one).
is_broker() { grep -qaF kafka.Kafka "/proc/$1/cmdline" 2>/dev/null; }

# PID of the broker started from $WORK, if it still runs.
broker_pid() {
  local pid
  pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] && is_broker "$pid" || return 1
  echo "$pid"
}

# The broker has logged that it started and, when kcat exists, serves a metadata request.
answers() {
  grep -q "$READY_LINE" "$LOG" 2>/dev/null || return 1
  if command -v kcat >/dev/null; then kcat -b "$ADDR" -L -m 5 >/dev/null 2>&1 || return 1; fi
}

write_config() {
  mkdir -p "$WORK"
  cat >"$WORK/server.properties" <<EOF
process.roles=broker,controller
node.id=1
# A static voter set lets 'format' run without --standalone (that is only for dynamic quorums).
controller.quorum.voters=1@127.0.0.1:$CPORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CPORT
advertised.listeners=PLAINTEXT://$ADDR
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$WORK/data
num.partitions=$PARTITIONS
# The defaults (50 partitions, 3 s rebalance delay) make each test's first consumer group slow.
offsets.topic.num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
num.network.threads=2
num.io.threads=2
# After a kill -9 the restarted controller keeps the dead incarnation's registration alive for one broker
# session and refuses the new one (DUPLICATE_BROKER_REGISTRATION, retried with backoff 0.1 s, 0.2 s, ...,
# 3.2 s) until then. 9 s by default: restart took 14 s; 3 s here: about 5 s.
broker.session.timeout.ms=3000
broker.heartbeat.interval.ms=500
EOF
  # Warnings only, plus the ready line the start-up wait looks for; everything goes to the JVM's stderr.
  if [[ $PROFILE == kafka3 ]]; then cat >"$WORK/log4j.properties" <<'EOF'
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaRaftServer=INFO
EOF
  else cat >"$WORK/log4j2.properties" <<'EOF'
appender.stderr.type=Console
appender.stderr.name=STDERR
appender.stderr.target=SYSTEM_ERR
appender.stderr.layout.type=PatternLayout
appender.stderr.layout.pattern=[%d] %p %m (%c)%n
rootLogger.level=WARN
rootLogger.appenderRef.stderr.ref=STDERR
logger.raft.name=kafka.server.KafkaRaftServer
logger.raft.level=INFO
EOF
  fi
}

cmd_start() {
  cmd_fetch
  local pid
  if ! pid=$(broker_pid); then
    write_config
    if [[ ! -f $WORK/data/meta.properties ]]; then
      # A cluster id is 16 random bytes in URL-safe base64; the first letter is fixed so it never starts with '-'.
      local cid
      cid=A$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=' | cut -c2-)
      log "formatting $WORK/data (cluster id $cid)"
      "$JAVA" "${JOPTS[@]}" -cp "$LIBS/*" kafka.tools.StorageTool format -t "$cid" \
        -c "$WORK/server.properties" >"$WORK/format.log" 2>&1 || die "format failed: $(tail -20 "$WORK/format.log")"
    fi
    [[ ! -f $LOG ]] || mv "$LOG" "$LOG.1"
    log "starting Kafka $VERSION on $ADDR (controller 127.0.0.1:$CPORT), log $LOG"
    # Detached from the caller's session and its stdout, so command substitution of 'start' returns.
    setsid nohup "$JAVA" "${JOPTS[@]}" -cp "$LIBS/*" kafka.Kafka "$WORK/server.properties" \
      </dev/null >"$LOG" 2>&1 &
    pid=$!
    echo "$pid" >"$PIDFILE"
  fi
  local deadline=$((SECONDS + 90))
  until answers; do
    kill -0 "$pid" 2>/dev/null || die "broker exited during start-up; last log lines:"$'\n'"$(tail -30 "$LOG")"
    ((SECONDS < deadline)) || die "broker not ready after 90 s; last log lines:"$'\n'"$(tail -30 "$LOG")"
    sleep 0.5
  done
  echo "$ADDR"
}

cmd_status() {
  if broker_pid >/dev/null && answers; then echo "$ADDR"; else die "no Kafka broker answering on $ADDR (work dir $WORK)"; fi
}

# Waits up to $1 seconds for broker $2 to disappear.
wait_gone() {
  local i
  for ((i = 0; i < $1 * 10; i++)); do is_broker "$2" || return 0; sleep 0.1; done
  return 1
}

cmd_stop() {
  local pid
  if pid=$(broker_pid); then
    log "stopping broker (pid $pid)"
    kill -TERM "$pid"
    wait_gone 30 "$pid" || { log "no exit after 30 s, sending SIGKILL"; kill -KILL "$pid"; wait_gone 10 "$pid"; }
  fi
  rm -rf "$WORK/data" "$PIDFILE"
}

cmd_kill9() {
  local pid
  pid=$(broker_pid) || die "no Kafka broker running from $WORK"
  kill -KILL "$pid"
  wait_gone 10 "$pid" || die "broker (pid $pid) still alive after SIGKILL"
  log "killed broker (pid $pid); data kept in $WORK/data"
}

case ${1:-} in
  fetch) cmd_fetch ;;
  start) cmd_start ;;
  status) cmd_status ;;
  stop) cmd_stop ;;
  kill9) cmd_kill9 ;;
  restart-after-kill)
    [[ -f $WORK/data/meta.properties ]] || die "no formatted data in $WORK/data to restart on"
    cmd_start ;;
  *) die "usage: $0 fetch|start|status|stop|kill9|restart-after-kill" ;;
esac
