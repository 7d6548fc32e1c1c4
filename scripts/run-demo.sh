#!/usr/bin/env bash
# `make run`: starts vexfs-propagation and vexfs-routing on their default ports
# (config/development.yaml with deduplication on, rules from config/demo-rules.yaml), consumers
# on routing's analytics and automation boundaries, and a producer writing filesystem events
# over ZeroMQ and REST; shows events routed by rule, duplicates removed, a secret blocked by a
# filter, bad input refused, and both daemons' statistics.
#   VX_DEMO_SECONDS   how long the producer keeps writing (default 20; 0 = until Ctrl-C)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
BIN=$PWD/$BUILD/bin
SECONDS_TOTAL=${VX_DEMO_SECONDS:-20}
WORK=$(mktemp -d /tmp/vexfs-demo.XXXXXX)
REST=http://127.0.0.1:8080
ROUTING=http://127.0.0.1:8081

head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$WORK/token"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "demo: logs in $WORK"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

echo "demo: starting vexfs-propagation (REST $REST, ingest tcp://127.0.0.1:5550, output :5551, tap :5553)"
VEXFS_ADMIN_TOKEN_FILE=$WORK/token VEXFS_EVENT_PROPAGATION_ENABLE_DEDUPLICATION=true \
VEXFS_LOGGING_LEVEL=info \
  "$BIN/vexfs-propagation" --config config/development.yaml 2>"$WORK/propagation.log" &
pids+=($!)
for _ in $(seq 100); do
  curl -fs "$REST/ready" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fs "$REST/ready" >/dev/null || { echo "demo: propagation did not start:"; cat "$WORK/propagation.log"; exit 1; }
echo "demo: starting vexfs-routing (REST $ROUTING) with config/demo-rules.yaml"
VEXFS_ADMIN_TOKEN_FILE=$WORK/token VEXFS_EVENT_ROUTING_RULES_FILE=$PWD/config/demo-rules.yaml \
VEXFS_LOGGING_LEVEL=info \
  "$BIN/vexfs-routing" --config config/development.yaml 2>"$WORK/routing.log" &
pids+=($!)
for _ in $(seq 100); do
  curl -fs "$ROUTING/ready" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fs "$ROUTING/ready" >/dev/null || { echo "demo: routing did not start:"; cat "$WORK/routing.log"; exit 1; }
"$BIN/vexfsctl" status --only propagation,routing

echo "demo: consumers on routing's boundaries print what each receives:"
for b in analytics:5555 automation:5554; do
  "$BIN/vexfsctl" tail --pull --endpoint "tcp://127.0.0.1:${b#*:}" 2>/dev/null |
    jq -c --unbuffered '{path, type, tags: .metadata}' 2>/dev/null | sed -u "s/^/  ${b%%:*}> /" &
  pids+=($!)
done
sleep 0.5

echo "demo: four writes over ZeroMQ: a report, a duplicate of it, a log line, and a secret"
printf '%s\n' \
  '{"type":"filesystem_create","path":"/demo/report.txt","source":"fuse","metadata":{"user_id":"1001"}}' \
  '{"type":"filesystem_write","path":"/demo/report.txt","content":{"size":"4096"},"source":"fuse"}' \
  '{"type":"filesystem_write","path":"/demo/report.txt","content":{"size":"4096"},"source":"fuse"}' \
  '{"type":"filesystem_write","path":"/demo/app/today.log","content":{"text":"started"}}' \
  '{"type":"filesystem_write","path":"/demo/notes.txt","content":{"text":"the Password is hunter2"}}' |
  "$BIN/vexfsctl" emit
sleep 0.5
echo "demo: one event over REST, then a bad one (unknown type) that is refused:"
"$BIN/vexfsctl" emit --rest "$REST" --token-file "$WORK/token" \
  --type filesystem_rename --path /demo/report-final.txt --content from=/demo/report.txt
curl -s -X POST -H "Authorization: Bearer $(cat "$WORK/token")" "$REST/v1/events" \
  -d '{"type":"filesystem_teleport","path":"/x"}'
echo

start=$(date +%s)
i=0
while [ "$SECONDS_TOTAL" = 0 ] || [ $(( $(date +%s) - start )) -lt "$SECONDS_TOTAL" ]; do
  i=$((i + 1))
  "$BIN/vexfsctl" emit --type filesystem_write --path "/demo/stream/$i.log" --content "tick=$i" \
    --metadata user_id=1001 2>/dev/null
  sleep 2
done

echo "demo: statistics (GET $REST/v1/stats):"
curl -s "$REST/v1/stats"
echo
echo "demo: routing statistics (GET $ROUTING/v1/stats):"
curl -s "$ROUTING/v1/stats"
echo
echo "demo: selected metrics:"
curl -s "$REST/metrics" | grep -E '^vexfs_events_(processed|deduplicated|dropped)_total' | grep -v ' 0$' || true
curl -s "$ROUTING/metrics" | grep -E '^vexfs_events_(filtered|unrouted|routed)' | grep -v ' 0$' || true
