#!/usr/bin/env bash
# `make run`: the whole suite on one machine, without containers, on the default ports:
# vexfs-propagation (8080), vexfs-routing (8081), three vexfs-coordinator nodes (8082, 8092,
# 8102), vexfs-automation (8083), vexfs-analytics (8084) and a producer watching a demo
# directory (vexfs-forwarder on the kernel module when /dev/vexfs_events exists, vexfs-watch
# otherwise). A scenario then writes, renames and deletes files there; the terminal shows the
# events as routing routes them, the alerts automation raises, the coordinator's state of a
# file, the workflow a pattern starts with its steps, and the analytics windows as they
# close. Ctrl-C (or the end of the scenario) stops
# everything with SIGTERM and reports how each daemon exited.
#
#   scripts/run-demo.sh [BUILD_DIR]
#   VX_DEMO_SECONDS  how long the scenario keeps producing after the first round (default 30;
#                    0: until Ctrl-C)
#   KAFKA=1          start a local Kafka broker (scripts/kafka.sh): propagation journals every
#                    event to it and analytics reads routing's analytics boundary from it
#   VX_DEMO_KEEP=1   keep the run's folder (/tmp/vexfs-demo.*: configuration, security material,
#                    state, logs) after it stops; by default it is removed
#   VX_DEMO_PORT_BASE=N  REST ports N..N+22 and ZeroMQ ports N+30..N+44 instead of the default
#                    8080..8102 and 5549..5563 (REST: propagation N, routing N+1, coordinators
#                    N+2, N+12, N+22, automation N+3, analytics N+4, producer N+5 or N+7), so a
#                    second suite (the README test's) runs beside one on the default ports; the
#                    context file carries the URLs and endpoints
# Rules, patterns and queries of the demo: config/demo/. A daemon that does not become ready
# has its log printed. Every daemon is stopped on Ctrl-C, SIGTERM, SIGHUP, or when whatever
# reads the output goes away.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
case $BUILD in /*) BIN=$BUILD/bin ;; *) BIN=$PWD/$BUILD/bin ;; esac
SECONDS_TOTAL=${VX_DEMO_SECONDS:-30}
KAFKA=${KAFKA:-0}
KEEP=${VX_DEMO_KEEP:-0}

# Ports: REST from R, ZeroMQ from Z (offsets as on the default ports 8080.. and 5549..).
if [ -n "${VX_DEMO_PORT_BASE:-}" ]; then
  case $VX_DEMO_PORT_BASE in
    *[!0-9]*) echo "demo: VX_DEMO_PORT_BASE: expected a port number, got '$VX_DEMO_PORT_BASE'" >&2; exit 2 ;;
  esac
  if [ "$VX_DEMO_PORT_BASE" -lt 1024 ] || [ "$VX_DEMO_PORT_BASE" -gt 65490 ]; then
    echo "demo: VX_DEMO_PORT_BASE: expected 1024..65490, got $VX_DEMO_PORT_BASE" >&2
    exit 2
  fi
  R=$VX_DEMO_PORT_BASE Z=$((VX_DEMO_PORT_BASE + 30))
else
  R=8080 Z=5549
fi
P_PROP=$R P_ROUT=$((R + 1)) P_AUTO=$((R + 3)) P_ANAL=$((R + 4)) P_FWD=$((R + 5)) P_WATCH=$((R + 7))
P_COORD=($((R + 2)) $((R + 12)) $((R + 22)))
Z_ACKED=$Z Z_INGEST=$((Z + 1)) Z_PROP_OUT=$((Z + 2)) Z_COORD=$((Z + 3)) Z_PROP_TAP=$((Z + 4))
Z_AUTO=$((Z + 5)) Z_ANAL=$((Z + 6)) Z_GRAPH=$((Z + 7)) Z_VECTOR=$((Z + 8)) Z_RESULTS=$((Z + 10))
Z_RAFT=($((Z + 11)) $((Z + 12)) $((Z + 13))) Z_RT_TAP=$((Z + 14))

for tool in curl jq; do
  command -v "$tool" >/dev/null || { echo "demo: $tool is needed (apt-get install $tool)" >&2; exit 2; }
done
for b in vexfs-propagation vexfs-routing vexfs-coordinator vexfs-automation vexfs-analytics \
         vexfs-watch vexfsctl; do
  [ -x "$BIN/$b" ] || { echo "demo: $BIN/$b missing: run make first" >&2; exit 2; }
done
for port in "$P_PROP" "$P_ROUT" "${P_COORD[@]}" "$P_AUTO" "$P_ANAL" "$P_FWD" "$P_WATCH" \
            "$Z_ACKED" "$Z_INGEST" "$Z_PROP_OUT" "$Z_COORD" "$Z_PROP_TAP" "$Z_AUTO" "$Z_ANAL" \
            "$Z_GRAPH" "$Z_VECTOR" "$Z_RESULTS" "${Z_RAFT[@]}" "$Z_RT_TAP"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "demo: something already listens on port $port (an earlier demo?); stop it first" >&2
    exit 2
  fi
done

# One state folder per run: security material, configuration, daemon state and logs. Removed
# on exit unless VX_DEMO_KEEP=1.
WORK=$(mktemp -d /tmp/vexfs-demo.XXXXXX)
DEMO=$WORK/demo
LOGS=$WORK/logs
SECRETS=$WORK/secrets
mkdir -p "$DEMO" "$LOGS"
mkdir -m 0700 "$SECRETS"

# The suite is secured in the demo too: CURVE keys for every ZeroMQ link, TLS certificates
# for every REST server with vexfsctl's client certificate as the admin credential, data keys
# sealing what the daemons store, a signing key for the audit logs.
"$BIN/vexfsctl" keys init "$SECRETS/keys" >/dev/null
"$BIN/vexfsctl" certs init "$SECRETS/tls" >/dev/null
"$BIN/vexfsctl" keys rotate-data "$SECRETS/data-keys" >/dev/null
CREDS=$SECRETS/credentials.yaml
"$BIN/vexfsctl" creds add ctl --role admin --cert-cn ctl --file "$CREDS" \
  --token-file "$SECRETS/admin.token" >/dev/null 2>&1
"$BIN/vexfsctl" creds add analytics --role viewer --cert-cn analytics --file "$CREDS" \
  --token-file "$SECRETS/analytics.token" >/dev/null 2>&1
mkdir -m 0700 "$SECRETS/audit"
export VEXFS_SECURITY_KEYS_DIR=$SECRETS/keys VEXFS_SECURITY_TLS_DIR=$SECRETS/tls
export VEXFS_SECURITY_CREDENTIALS_FILE=$CREDS VEXFS_SECURITY_AUDIT_DIR=$SECRETS/audit
export VEXFS_AT_REST_DATA_KEYS_DIR=$SECRETS/data-keys
TLS=(--cacert "$SECRETS/tls/ca.crt" --cert "$SECRETS/tls/ctl.crt" --key "$SECRETS/tls/ctl.key")
api() { curl -fs "${TLS[@]}" "https://127.0.0.1:$1"; }

# vexfsctl's context (see `vexfsctl --help`): the default one points at this run while it
# lasts, unless the user keeps a context of their own there.
CONTEXT=$WORK/context
cat >"$CONTEXT" <<EOF
# written by make run ($WORK); removed when it stops
VEXFS_SECURITY_KEYS_DIR=$SECRETS/keys
VEXFS_SECURITY_TLS_DIR=$SECRETS/tls
VEXFS_TOKEN_FILE=$SECRETS/admin.token
VEXFS_CA_FILE=$SECRETS/tls/ca.crt
VEXFS_PROPAGATION_URL=https://127.0.0.1:$P_PROP
VEXFS_ROUTING_URL=https://127.0.0.1:$P_ROUT
VEXFS_COORDINATOR_URL=https://127.0.0.1:${P_COORD[0]}
VEXFS_AUTOMATION_URL=https://127.0.0.1:$P_AUTO
VEXFS_ANALYTICS_URL=https://127.0.0.1:$P_ANAL
VEXFS_INGEST_ENDPOINT=tcp://127.0.0.1:$Z_INGEST
VEXFS_TAP_ENDPOINT=tcp://127.0.0.1:$Z_PROP_TAP
VEXFS_ROUTING_TAP_ENDPOINT=tcp://127.0.0.1:$Z_RT_TAP
EOF
USER_CONTEXT=${XDG_CONFIG_HOME:-$HOME/.config}/vexfs/context
wrote_context=0
if [ ! -e "$USER_CONTEXT" ] || grep -q '^# written by make run' "$USER_CONTEXT" 2>/dev/null; then
  if mkdir -p "$(dirname "$USER_CONTEXT")" 2>/dev/null && cp "$CONTEXT" "$USER_CONTEXT" 2>/dev/null; then
    wrote_context=1
  fi
fi

names=()
pids=()
kafka_started=0
cleanup() {
  trap - EXIT INT TERM HUP PIPE
  trap '' PIPE  # the terminal or pipe may be gone: writes fail instead of killing us
  set +e
  echo
  echo "demo: stopping (SIGTERM, in reverse order of start)"
  local i
  for (( i=${#pids[@]}-1; i>=0; i-- )); do
    kill -TERM -- "-${pids[$i]}" 2>/dev/null || kill -TERM "${pids[$i]}" 2>/dev/null
    local rc=0
    wait "${pids[$i]}" 2>/dev/null || rc=$?
    case "${names[$i]}" in
      console|alerts|windows|workflows) ;;
      *) echo "  ${names[$i]} exited with status $rc" ;;
    esac
  done
  if [ "$kafka_started" = 1 ]; then
    scripts/kafka.sh stop >/dev/null 2>&1
  fi
  if [ "$wrote_context" = 1 ] && grep -qF "($WORK)" "$USER_CONTEXT" 2>/dev/null; then
    rm -f "$USER_CONTEXT"
  fi
  if [ "$KEEP" = 1 ]; then
    echo "demo: state and logs kept in $WORK"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
# Ctrl-C, SIGTERM, a closed terminal (SIGHUP) or a reader of our output that went away
# (SIGPIPE): every daemon is stopped all the same.
trap 'exit 0' INT TERM HUP PIPE

# start NAME CMD...: runs a command in the background, in a process group of its own (so a
# pipeline stops as a whole), with its stderr in $LOGS/NAME.log.
start() {
  local name=$1
  shift
  setsid "$@" 2>"$LOGS/$name.log" &
  pids+=($!)
  names+=("$name")
}

# ready NAME PORT: waits up to 30 s for GET /ready; shows the log when it never comes.
ready() {
  local name=$1 port=$2
  for _ in $(seq 300); do
    curl -fs -o /dev/null --cacert "$SECRETS/tls/ca.crt" "https://127.0.0.1:$port/ready" && return 0
    sleep 0.1
  done
  echo "demo: $name is not ready on port $port; its log:" >&2
  tail -n 30 "$LOGS/$name.log" >&2
  exit 1
}

BROKERS=""
if [ "$KAFKA" = 1 ]; then
  echo "demo: starting a Kafka broker (scripts/kafka.sh; the first run downloads its jars)"
  scripts/kafka.sh status >/dev/null 2>&1 || kafka_started=1
  BROKERS=$(scripts/kafka.sh start)
  # The broker speaks SASL_SSL: its CA, user and password file reach every daemon as kafka_security overrides.
  kenv=$(scripts/kafka.sh env)
  eval "$kenv"
  echo "demo: Kafka at $BROKERS (SASL_SSL, user $VEXFS_KAFKA_SECURITY_SASL_USERNAME)"
fi

# One configuration for the whole suite; each daemon reads its own section. Per-node values of
# the coordinators come from VEXFS_<SECTION>_<KEY> variables.
CONFIG=$WORK/suite.yaml
cat >"$CONFIG" <<EOF
event_propagation:
  enable_deduplication: true
  dedup_window_ms: 1000
  rest_port: $P_PROP
  ingest_endpoint: tcp://127.0.0.1:$Z_INGEST
  ingest_acked_endpoint: tcp://127.0.0.1:$Z_ACKED
  output_endpoint: tcp://127.0.0.1:$Z_PROP_OUT
  output_acked: true
  tap_endpoint: tcp://127.0.0.1:$Z_PROP_TAP
  kafka_brokers: "$BROKERS"
event_routing:
  rules_file: $PWD/config/demo/rules.yaml
  state_dir: $WORK/routing
  rest_port: $P_ROUT
  input_endpoint: tcp://127.0.0.1:$Z_PROP_OUT
  input_acked: true
  boundary_acked: "automation;analytics;coordinator"
  output_coordinator: tcp://127.0.0.1:$Z_COORD
  output_automation: tcp://127.0.0.1:$Z_AUTO
  output_analytics: tcp://127.0.0.1:$Z_ANAL
  output_graph: tcp://127.0.0.1:$Z_GRAPH
  output_vector: tcp://127.0.0.1:$Z_VECTOR
  outputs: "console=tap"
  tap_endpoint: tcp://127.0.0.1:$Z_RT_TAP
  enable_load_balancing: false
  kafka_brokers: "$BROKERS"
distributed_coordination:
  enable_raft_consensus: true
  cluster_size: 3
  members: "1@127.0.0.1:${Z_RAFT[0]}/${P_COORD[0]},2@127.0.0.1:${Z_RAFT[1]}/${P_COORD[1]},3@127.0.0.1:${Z_RAFT[2]}/${P_COORD[2]}"
  input_endpoint: ">tcp://127.0.0.1:$Z_COORD"
  input_acked: true
reactive_automation:
  patterns_file: $PWD/config/demo/patterns.json
  workflows_path: $PWD/config/demo/workflows.json
  scripts_dir: $PWD/config/demo/scripts
  state_dir: $WORK/automation
  rest_port: $P_AUTO
  input_endpoint: tcp://127.0.0.1:$Z_AUTO
  input_acked: true
  emit_endpoint: tcp://127.0.0.1:$Z_INGEST
  emit_ack_endpoint: tcp://127.0.0.1:$Z_ACKED
stream_analytics:
  queries_file: $PWD/config/demo/queries.json
  rest_port: $P_ANAL
  input_endpoint: ">tcp://127.0.0.1:$Z_ANAL"
  input_acked: true
  results_endpoint: tcp://127.0.0.1:$Z_RESULTS
  kafka_brokers: "$BROKERS"
  group_id: vexfs-analytics-demo-$$
userspace_watcher:
  batch_max_delay_ms: 5
  rest_port: $P_WATCH
  ingest_endpoint: tcp://127.0.0.1:$Z_INGEST
  ack_endpoint: tcp://127.0.0.1:$Z_ACKED
event_forwarder:
  batch_max_delay_ms: 5
  rest_port: $P_FWD
  ingest_endpoint: tcp://127.0.0.1:$Z_INGEST
  ack_endpoint: tcp://127.0.0.1:$Z_ACKED
logging:
  level: info
EOF
export VEXFS_LOGGING_LEVEL=info

echo "demo: starting vexfs-propagation (REST :$P_PROP, ingest tcp://127.0.0.1:$Z_INGEST, acknowledged ingest :$Z_ACKED)"
start propagation "$BIN/vexfs-propagation" --config "$CONFIG"
ready propagation "$P_PROP"
echo "demo: starting vexfs-routing (REST :$P_ROUT) with config/demo/rules.yaml"
start routing "$BIN/vexfs-routing" --config "$CONFIG"
ready routing "$P_ROUT"
echo "demo: starting a 3-node vexfs-coordinator cluster (REST :${P_COORD[0]} :${P_COORD[1]} :${P_COORD[2]}, Raft :${Z_RAFT[0]}-${Z_RAFT[2]})"
for n in 1 2 3; do
  rest=${P_COORD[$((n - 1))]}
  VEXFS_DISTRIBUTED_COORDINATION_NODE_ID=$n VEXFS_DISTRIBUTED_COORDINATION_REST_PORT=$rest \
  VEXFS_DISTRIBUTED_COORDINATION_DATA_DIR=$WORK/coordinator$n \
    start "coordinator$n" "$BIN/vexfs-coordinator" --config "$CONFIG"
done
for n in 1 2 3; do ready "coordinator$n" "${P_COORD[$((n - 1))]}"; done
echo "demo: starting vexfs-automation (REST :$P_AUTO) with config/demo/patterns.json and workflows.json"
start automation "$BIN/vexfs-automation" --config "$CONFIG"
ready automation "$P_AUTO"
echo "demo: starting vexfs-analytics (REST :$P_ANAL) with config/demo/queries.json${BROKERS:+, reading Kafka}"
start analytics "$BIN/vexfs-analytics" --config "$CONFIG"
ready analytics "$P_ANAL"
if [ -c /dev/vexfs_events ] && [ -x "$BIN/vexfs-forwarder" ]; then
  echo "demo: the kernel module is loaded: capturing $DEMO with it through vexfs-forwarder (REST :$P_FWD)"
  echo "$DEMO" >/sys/module/vexfs_events/parameters/prefixes
  start producer "$BIN/vexfs-forwarder" --config "$CONFIG"
  ready producer "$P_FWD"
else
  echo "demo: no kernel module loaded: watching $DEMO with vexfs-watch (REST :$P_WATCH)"
  start producer "$BIN/vexfs-watch" "$DEMO" --config "$CONFIG"
  ready producer "$P_WATCH"
fi
echo
"$BIN/vexfsctl" --context "$CONTEXT" status --interval 0 || true
echo
"$BIN/vexfsctl" --context "$CONTEXT" cluster status 2>/dev/null | head -n 8 || true
echo

# What routing routes: the demo's `console` boundary receives every event under the demo
# directory with the tags the rules added.
start console bash -c "'$BIN/vexfsctl' --context '$CONTEXT' tail --boundary console |
  jq -c --unbuffered '{type, path: (.path // \"\" | sub(\".*/demo/\"; \"demo/\")), tags: (.metadata // {} | with_entries(select(.key == \"class\")))}' |
  sed -u 's/^/  routed> /'"
# Alerts and closed analytics windows, polled every second.
show_alerts() {
  local since=0 doc n
  while sleep 1; do
    doc=$(api "$P_AUTO/v1/alerts?since=$since") || continue
    jq -c '.alerts[]? | {pattern, severity, message, partition: (.partition | sub(".*/demo/"; "demo/"))}' <<<"$doc" |
      sed -u 's/^/  ALERT> /'
    n=$(jq '[.alerts[]?.seq] | max // empty' <<<"$doc")
    [ -n "$n" ] && since=$n
  done
}
show_windows() {
  local seen=" " line
  while sleep 1; do
    while read -r line; do
      case "$seen" in *" $line "*) ;; *) echo "  window> $line"; seen="$seen$line " ;; esac
    done < <(api "$P_ANAL/v1/queries/events-by-type/results" |
      jq -c '.closed[]? | {window: (.start_ns / 1e9 | strftime("%H:%M:%S")), type: .group.type, events, bytes: .values.bytes} | tostring | gsub(" "; "")' -r 2>/dev/null)
  done
}
show_workflows() {
  local seen=" " id
  while sleep 1; do
    for id in $(api "$P_AUTO/v1/executions" |
                jq -r '.executions[]? | select(.status != "queued" and .status != "running") | .id'); do
      case "$seen" in *" $id "*) continue ;; esac
      seen="$seen$id "
      api "$P_AUTO/v1/executions/$id" | jq -r '"  WORKFLOW> \(.workflow) \(.status) in \(.duration_ms * 10 | round / 10) ms: " +
        ([.steps[]? | "\(.id) \(.status) (\(.attempts | length) attempt\(if (.attempts | length) == 1 then "" else "s" end))"] | join(" -> "))' 2>/dev/null
    done
  done
}
show_alerts &
pids+=($!)
names+=(alerts)
show_windows &
pids+=($!)
names+=(windows)
show_workflows &
pids+=($!)
names+=(workflows)
sleep 1 # the console subscribes to routing's tap before anything is sent
ctx="" ctx_file=$USER_CONTEXT
if [ "$wrote_context" != 1 ]; then ctx=" --context $CONTEXT" ctx_file=$CONTEXT; fi
echo "demo: try in another terminal (vexfsctl reaches this run through the context file"
echo "      $ctx_file: client certificate and CURVE key included):"
echo "  $BIN/vexfsctl$ctx status"
echo "  $BIN/vexfsctl$ctx emit --type filesystem_write --path /tmp/hello.txt --content text=hello"
echo "  $BIN/vexfsctl$ctx tail --count 3"
echo "      (the emitted event also shows below as routed>; VX_DEMO_KEEP=1 keeps $WORK)"
echo

round() {
  local r=$1
  echo "demo: round $r: create and write a report, rename it, write logs, delete three files"
  mkdir -p "$DEMO/logs"
  printf 'quarterly figures %s\n' "$r" >"$DEMO/report-$r.txt"
  sleep 0.3
  mv "$DEMO/report-$r.txt" "$DEMO/report-$r-final.txt"
  for i in 1 2 3; do printf 'line %s.%s\n' "$r" "$i" >>"$DEMO/logs/app.log"; done
  for i in 1 2 3; do printf 'scratch %s\n' "$i" >"$DEMO/tmp-$r-$i.dat"; done
  sleep 0.3
  rm -f "$DEMO/tmp-$r-"*.dat "$DEMO/report-$r-final.txt"
}

round 1
sleep 2
echo "demo: the coordinator's replicated state of demo/logs/app.log (GET /v1/state):"
for port in "${P_COORD[@]}"; do
  if api "$port/v1/state?key=$DEMO/logs/app.log" >"$WORK/state.json" 2>/dev/null; then
    jq -c '{key: (.key | sub(".*/demo/"; "demo/")), last_write: .register.value.type, by_node: .register.node, vector_clock, events}' "$WORK/state.json" 2>/dev/null ||
      head -c 300 "$WORK/state.json"
    echo
    break
  fi
done

start_s=$(date +%s)
r=1
while [ "$SECONDS_TOTAL" = 0 ] || [ $(( $(date +%s) - start_s )) -lt "$SECONDS_TOTAL" ]; do
  sleep 5
  r=$((r + 1))
  round "$r"
done
sleep 6 # let the last analytics window close
echo
echo "demo: the suite after the scenario:"
"$BIN/vexfsctl" --context "$CONTEXT" status || true
echo "demo: automation statistics:"
api "$P_AUTO/v1/stats" | jq -c . || true
echo "demo: dropped events by reason (every service):"
drops=$(for port in "$P_PROP" "$P_ROUT" "${P_COORD[@]}" "$P_ANAL"; do
  api "$port/metrics" |
    grep -E '^vexfs_(events|analytics)_dropped_total' | grep -v ' 0$' | sed "s/^/  :$port /"
done || true)
echo "${drops:-  none}"
