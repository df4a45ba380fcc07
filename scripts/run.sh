#!/usr/bin/env bash
# make run: start one shardis-server on 127.0.0.1:6380 with its data in
# ./data/server (AOF on) in the foreground. Ctrl-C / SIGTERM stops exactly
# the processes this script started, by PID. A second run reuses the data.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${SHARDIS_PORT:-6380}
DATA=./data/server
BIN=./bin/shardis-server
[ -x "$BIN" ] || { echo "run: $BIN missing; run 'make build' first" >&2; exit 1; }
mkdir -p "$DATA"

pids=()
stop() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
}
trap 'stop; exit 130' INT
trap 'stop; exit 143' TERM
trap stop EXIT

"$BIN" --bind 127.0.0.1 --port "$PORT" --dir "$DATA" --appendonly yes &
pids+=($!)

for _ in $(seq 1 100); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then break; fi
  kill -0 "${pids[0]}" 2>/dev/null || { echo "run: shardis-server exited" >&2; exit 1; }
  sleep 0.1
done

echo "shardis-server pid ${pids[0]} on 127.0.0.1:$PORT, data in $DATA (AOF on)"
echo "connect: redis-cli -p $PORT"
echo "Ctrl-C stops it."
wait "${pids[0]}"
