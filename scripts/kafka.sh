#!/usr/bin/env bash
# Single-node Apache Kafka broker (KRaft, broker+controller in one JVM) for tests, secured as a
# production broker is: clients authenticate with SASL/SCRAM-SHA-512 over TLS, or with a client
# certificate. The broker jars come from Maven Central (Debian has no Kafka broker package).
#
#   scripts/kafka.sh fetch               install JDK/Maven/kcat/openssl if absent, download the broker jars once
#   scripts/kafka.sh start               start (or reuse) the broker; prints 127.0.0.1:PORT (SASL_SSL) on stdout
#   scripts/kafka.sh env                 the client settings as `export` lines: eval "$(scripts/kafka.sh env)"
#   scripts/kafka.sh status              exit 0 and print the address if the broker answers
#   scripts/kafka.sh stop                SIGTERM (SIGKILL after 30 s) and delete the data (the TLS material stays)
#   scripts/kafka.sh kill9               kill -9 the broker, keeping its data (crash tests)
#   scripts/kafka.sh restart-after-kill  start again on the same data, without reformatting
#
# Listeners, all on 127.0.0.1:
#   PORT     SASL_SSL   SCRAM-SHA-512 user "vexfs" over TLS: what the suite and its tests use
#   PORT+1   CONTROLLER the KRaft controller, mutual TLS (only the broker holds a certificate for it)
#   PORT+2   SSL        mutual TLS: a client certificate issued by the script's CA is the credential
#   VEXFS_KAFKA_BENCH_PLAIN_PORT, only when set at start: PLAINTEXT, the benchmark's plaintext peer
# Nothing else listens: without that variable no plaintext listener exists.
#
# On first start the script makes, with the JDK's keytool, a CA, the broker's keystore and truststore
# (PKCS#12), a client certificate (PKCS#12, and as PEM with an encrypted key through openssl) and a
# random SCRAM password; `kafka-storage format --add-scram` creates the user. The broker's material
# stays in VEXFS_KAFKA_DIR/tls, the clients' in VEXFS_KAFKA_DIR/client (mode 0600), across stop/start.
#
# `eval "$(scripts/kafka.sh env)"` exports what the suite's programs and tests read:
#   VEXFS_KAFKA_SECURITY_PROTOCOL=sasl_ssl, ..._SASL_MECHANISM, ..._SASL_USERNAME,
#   ..._SASL_PASSWORD_FILE, ..._SSL_CA_FILE   the kafka_security section, as environment overrides
#   VEXFS_KAFKA_SSL_BOOTSTRAP      the mutual-TLS listener
#   VEXFS_KAFKA_CLIENT_DIR         ca.crt, client.p12 (+ .password), client.crt, client.key (+ .password)
#   VEXFS_KAFKA_PLAIN_BOOTSTRAP    the bench-only plaintext listener, when the broker has one
#
# Environment: VEXFS_KAFKA_VERSION (3.9.1), VEXFS_CACHE (~/.cache/vexfs), VEXFS_KAFKA_DIR (/tmp/vexfs-kafka),
# VEXFS_KAFKA_PORT (19092), VEXFS_KAFKA_PARTITIONS (3), VEXFS_KAFKA_BENCH_PLAIN_PORT (unset).
# Only the address goes to stdout, so `BOOTSTRAP=$(scripts/kafka.sh start)` works; progress goes to stderr.
set -euo pipefail

VERSION=${VEXFS_KAFKA_VERSION:-3.9.1}
CACHE=${VEXFS_CACHE:-$HOME/.cache/vexfs}/kafka-$VERSION
LIBS=$CACHE/libs
WORK=${VEXFS_KAFKA_DIR:-/tmp/vexfs-kafka}
PORT=${VEXFS_KAFKA_PORT:-19092}
CPORT=$((PORT + 1))
SPORT=$((PORT + 2))
PLAIN_PORT=${VEXFS_KAFKA_BENCH_PLAIN_PORT:-}
PARTITIONS=${VEXFS_KAFKA_PARTITIONS:-3}
ADDR=127.0.0.1:$PORT
POM=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/kafka/pom.xml
TLS=$WORK/tls
CLIENT=$WORK/client
SCRAM_USER=vexfs
PIDFILE=$WORK/broker.pid
LOG=$WORK/broker.log
READY_LINE='Kafka Server started' # KafkaBroker.STARTED_MESSAGE, logged by KafkaRaftServer
JAVA=${JAVA_HOME:+$JAVA_HOME/bin/}java
KEYTOOL=${JAVA_HOME:+$JAVA_HOME/bin/}keytool
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
  command -v openssl >/dev/null || pkgs+=(openssl)
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


# The broker has logged that it started and, when kcat exists, serves a metadata request over SASL_SSL.
answers() {
  grep -q "$READY_LINE" "$LOG" 2>/dev/null || return 1
  if command -v kcat >/dev/null; then kcat -F "$CLIENT/kcat.conf" -b "$ADDR" -L -m 5 >/dev/null 2>&1 || return 1; fi
}

# 32 random hex characters: secrets that need no quoting in properties files or SCRAM arguments.
random_secret() { head -c16 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# keytool, with the same start-up savings as the broker's JVM; its chatter goes to the material log.
kt() { "$KEYTOOL" -J-XX:TieredStopAtLevel=1 -J-XX:+UseSerialGC "$@" >>"$WORK/keytool.log" 2>&1; }

# Keystore $1 (password $2) with a key for subject CN=$3 signed by the CA, extensions $4.
signed_pair() {
  local ks=$1 pass=$2 cn=$3 ext=$4 base=${1%.p12} capass
  capass=$(cat "$TLS/ca.password")
  kt -genkeypair -alias key -keyalg EC -groupname secp256r1 -dname "CN=$cn" -validity 825 \
    -keystore "$ks" -storetype PKCS12 -storepass "$pass" &&
    kt -certreq -alias key -keystore "$ks" -storepass "$pass" -file "$base.csr" &&
    kt -gencert -alias ca -keystore "$TLS/ca.p12" -storepass "$capass" -infile "$base.csr" \
      -outfile "$base.crt" -rfc -validity 825 -ext "$ext" &&
    kt -importcert -alias ca -file "$CLIENT/ca.crt" -keystore "$ks" -storepass "$pass" -noprompt &&
    kt -importcert -alias key -file "$base.crt" -keystore "$ks" -storepass "$pass" &&
    rm -f "$base.csr"
}

# Why it is built this way: the tests must meet Kafka as production does (TLS, SCRAM, client
# certificates), and CI has the JDK's keytool and openssl, so the script makes its own small CA once
# per work folder. Each keytool call is a JVM start (~0.5 s), so the broker's chain and the client's
# run in parallel once the CA exists.
make_tls() {
  [[ -f $TLS/.done && -f $CLIENT/.done ]] && return 0
  log "making the broker's TLS material, a client certificate and the SCRAM password in $WORK (keytool)"
  rm -rf "$TLS" "$CLIENT" "$WORK/keytool.log"
  mkdir -p "$TLS" "$CLIENT"
  random_secret >"$TLS/ca.password"
  random_secret >"$TLS/store.password"
  random_secret >"$CLIENT/client.p12.password"
  random_secret >"$CLIENT/client.key.password"
  random_secret >"$CLIENT/sasl.password"
  kt -genkeypair -alias ca -keyalg EC -groupname secp256r1 -dname "CN=VexFS test Kafka CA" -ext bc:c \
    -validity 3650 -keystore "$TLS/ca.p12" -storetype PKCS12 -storepass "$(cat "$TLS/ca.password")" &&
    kt -exportcert -rfc -alias ca -keystore "$TLS/ca.p12" -storepass "$(cat "$TLS/ca.password")" \
      -file "$CLIENT/ca.crt" || die "keytool could not make the CA; see $WORK/keytool.log"
  local sp cp broker
  sp=$(cat "$TLS/store.password")
  cp=$(cat "$CLIENT/client.p12.password")
  (signed_pair "$TLS/broker.p12" "$sp" localhost "SAN=ip:127.0.0.1,dns:localhost" &&
    kt -importcert -alias ca -file "$CLIENT/ca.crt" -keystore "$TLS/truststore.p12" -storetype PKCS12 \
      -storepass "$sp" -noprompt) &
  broker=$!
  signed_pair "$CLIENT/client.p12" "$cp" vexfs-client "EKU=clientAuth" ||
    die "keytool could not make the client certificate; see $WORK/keytool.log"
  wait "$broker" || die "keytool could not make the broker's keystore; see $WORK/keytool.log"
  # The same client key as PEM, encrypted with its own passphrase (librdkafka's ssl.key.password).
  { openssl pkcs12 -in "$CLIENT/client.p12" -passin "file:$CLIENT/client.p12.password" -nocerts \
    -out "$CLIENT/client.key" -passout "file:$CLIENT/client.key.password" &&
    openssl pkcs12 -in "$CLIENT/client.p12" -passin "file:$CLIENT/client.p12.password" -clcerts \
      -nokeys -out "$CLIENT/client.crt"; } >>"$WORK/keytool.log" 2>&1 ||
    die "openssl could not write the client certificate as PEM; see $WORK/keytool.log"
  cat >"$CLIENT/kcat.conf" <<EOF
security.protocol=SASL_SSL
sasl.mechanisms=SCRAM-SHA-512
sasl.username=$SCRAM_USER
sasl.password=$(cat "$CLIENT/sasl.password")
ssl.ca.location=$CLIENT/ca.crt
EOF
  touch "$TLS/.done" "$CLIENT/.done"
}

write_config() {
  local sp listeners advertised map
  sp=$(cat "$TLS/store.password")
  listeners=SASL_SSL://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CPORT,SSL://127.0.0.1:$SPORT
  advertised=SASL_SSL://$ADDR,SSL://127.0.0.1:$SPORT
  map=SASL_SSL:SASL_SSL,CONTROLLER:SSL,SSL:SSL
  if [[ -n $PLAIN_PORT ]]; then
    listeners+=,PLAINTEXT://127.0.0.1:$PLAIN_PORT
    advertised+=,PLAINTEXT://127.0.0.1:$PLAIN_PORT
    map+=,PLAINTEXT:PLAINTEXT
  fi
  cat >"$WORK/server.properties" <<EOF
process.roles=broker,controller
node.id=1
# A static voter set lets 'format' run without --standalone (that is only for dynamic quorums).
controller.quorum.voters=1@127.0.0.1:$CPORT
listeners=$listeners
advertised.listeners=$advertised
controller.listener.names=CONTROLLER
inter.broker.listener.name=SSL
listener.security.protocol.map=$map
# TLS everywhere with the broker's certificate (127.0.0.1, localhost) from the script's CA. A client
# certificate from that CA is required on every listener but SASL_SSL, where SCRAM identifies clients.
ssl.keystore.type=PKCS12
ssl.keystore.location=$TLS/broker.p12
ssl.keystore.password=$sp
ssl.key.password=$sp
ssl.truststore.type=PKCS12
ssl.truststore.location=$TLS/truststore.p12
ssl.truststore.password=$sp
ssl.client.auth=required
listener.name.sasl_ssl.ssl.client.auth=none
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
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

# The client settings of the broker in $WORK, as `export` lines for eval.
cmd_env() {
  [[ -f $CLIENT/.done ]] || die "no client settings in $CLIENT: start the broker with scripts/kafka.sh start"
  local kv q plain
  for kv in "VEXFS_KAFKA_SECURITY_PROTOCOL=sasl_ssl" \
    "VEXFS_KAFKA_SECURITY_SASL_MECHANISM=SCRAM-SHA-512" \
    "VEXFS_KAFKA_SECURITY_SASL_USERNAME=$SCRAM_USER" \
    "VEXFS_KAFKA_SECURITY_SASL_PASSWORD_FILE=$CLIENT/sasl.password" \
    "VEXFS_KAFKA_SECURITY_SSL_CA_FILE=$CLIENT/ca.crt" \
    "VEXFS_KAFKA_SSL_BOOTSTRAP=127.0.0.1:$SPORT" \
    "VEXFS_KAFKA_CLIENT_DIR=$CLIENT"; do
    printf -v q '%q' "${kv#*=}"
    echo "export ${kv%%=*}=$q"
  done
  plain=$(sed -n 's|^advertised\.listeners=.*PLAINTEXT://\([0-9.]*:[0-9]*\).*|\1|p' "$WORK/server.properties" 2>/dev/null || true)
  if [[ -n $plain ]]; then echo "export VEXFS_KAFKA_PLAIN_BOOTSTRAP=$plain"; else echo "unset VEXFS_KAFKA_PLAIN_BOOTSTRAP"; fi
}

cmd_start() {
  cmd_fetch
  local pid
  if pid=$(broker_pid); then
    # A broker started by an earlier version of this script listens in plaintext only.
    { grep -q '^listeners=SASL_SSL:' "$WORK/server.properties" 2>/dev/null && [[ -f $CLIENT/.done ]]; } ||
      die "the broker running from $WORK (pid $pid) has no SASL_SSL listener (started by an older scripts/kafka.sh): stop it with scripts/kafka.sh stop, then start again"
  else
    # Keys, passwords and the broker's configuration (which holds the keystore password) are private.
    umask 077
    mkdir -p "$WORK"
    make_tls
    write_config
    # Data formatted without the SCRAM user (by an older version of this script) cannot serve the suite.
    if [[ -f $WORK/data/meta.properties && ! -f $WORK/data/.vexfs-scram ]]; then
      log "$WORK/data was formatted without the SCRAM user: formatting it again"
      rm -rf "$WORK/data"
    fi
    if [[ ! -f $WORK/data/meta.properties ]]; then
      # A cluster id is 16 random bytes in URL-safe base64; the first letter is fixed so it never starts with '-'.
      local cid
      cid=A$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=' | cut -c2-)
      log "formatting $WORK/data (cluster id $cid) with the SCRAM-SHA-512 user $SCRAM_USER"
      "$JAVA" "${JOPTS[@]}" -cp "$LIBS/*" kafka.tools.StorageTool format -t "$cid" -c "$WORK/server.properties" \
        --add-scram "SCRAM-SHA-512=[name=$SCRAM_USER,password=$(cat "$CLIENT/sasl.password")]" \
        >"$WORK/format.log" 2>&1 || die "format failed: $(tail -20 "$WORK/format.log")"
      touch "$WORK/data/.vexfs-scram"
    fi
    [[ ! -f $LOG ]] || mv "$LOG" "$LOG.1"
    log "starting Kafka $VERSION: SASL_SSL $ADDR, mutual-TLS SSL 127.0.0.1:$SPORT, controller 127.0.0.1:$CPORT${PLAIN_PORT:+, bench-only PLAINTEXT 127.0.0.1:$PLAIN_PORT}; log $LOG"
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
  env) cmd_env ;;
  status) cmd_status ;;
  stop) cmd_stop ;;
  kill9) cmd_kill9 ;;
  restart-after-kill)
    [[ -f $WORK/data/meta.properties ]] || die "no formatted data in $WORK/data to restart on"
    cmd_start ;;
  *) die "usage: $0 fetch|start|env|status|stop|kill9|restart-after-kill" ;;
esac
