#!/usr/bin/env bash
# Replication cost on shardis-server: redis-benchmark SET throughput on a
# master with 0, 1 and 2 replicas attached, with asynchronous replication
# and with synchronous acknowledgement (repl-ack-replicas 1), at -P 16 and
# -P 1 (-c 50 -r 100000), all in one run; ratios against the master alone.
# While each load runs, the master's INFO replication is sampled every
# 100 ms: lag = master_repl_offset - the lowest replica offset (what the
# replicas acknowledged), in bytes. Master and replicas share this
# machine (AOF off); the load average is printed before and after.
set -euo pipefail
cd "$(dirname "$0")/../.."

BIN=${SHARDIS_SERVER:-./bin/shardis-server}
[ -x "$BIN" ] || { echo "bench: $BIN missing (make build)" >&2; exit 1; }
N=${BENCH_N:-200000}
N1=${BENCH_N1:-50000} # -P 1 is slower: fewer requests
CLIENTS=${BENCH_CLIENTS:-50}
KEYS=${BENCH_KEYSPACE:-100000}

work=$(mktemp -d /tmp/shardis-bench-repl.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
waitport() {
  for _ in $(seq 1 200); do
    redis-cli -p "$1" ping >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "bench: port $1 not ready" >&2; exit 1
}

# start [args...] -> sets PORT and PID
start() {
  local port dir
  port=$(freeport); dir="$work/$port"; mkdir -p "$dir"
  "$BIN" --port "$port" --bind 127.0.0.1 --dir "$dir" --appendonly no --logfile "$dir/log" "$@" &
  PID=$!; PORT=$port; pids+=("$PID")
  waitport "$port"
}
stop() { kill -TERM "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# online PORT N: wait until N replicas are online
online() {
  for _ in $(seq 1 400); do
    [ "$(redis-cli -p "$1" info replication | grep -c 'state=online')" -ge "$2" ] && return 0
    sleep 0.05
  done
  echo "bench: replicas of $1 not online" >&2; exit 1
}

# sample PORT FILE: lag samples (bytes) every 100 ms until killed
sample() {
  while :; do
    redis-cli -p "$1" info replication | tr -d '\r' | awk -F'[:,=]' '
      /^master_repl_offset:/ {m=$2}
      /^slave[0-9]+:/ {for (i=1;i<=NF;i++) if ($i=="offset") {o=$(i+1); if (min=="" || o<min) min=o}}
      END {if (min!="") print m-min}' >>"$2"
    sleep 0.1
  done
}

# bench PORT PIPELINE N -> "rps p50 p99"
bench() {
  redis-benchmark -p "$1" -c "$CLIENTS" -n "$3" -r "$KEYS" -P "$2" -t set --csv -q 2>/dev/null |
    awk -F'"' 'NR==2 {print $4, $10, $14}'
}

echo "redis-benchmark SET -c $CLIENTS -r $KEYS (-n $N at -P 16, $N1 at -P 1); $(nproc) CPUs shared by master and replicas"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-3s %-8s %-6s | %10s %7s %7s %6s | %12s %12s\n' P replicas mode "SET/s" p50 p99 ratio "lag max B" "lag mean B"
declare -A base
for P in 16 1; do
  n=$N; [ "$P" = 1 ] && n=$N1
  for cfg in "0 async" "1 async" "2 async" "1 ack" "2 ack"; do
    read -r nrep mode <<<"$cfg"
    margs=()
    [ "$mode" = ack ] && margs=(--repl-ack-replicas 1 --repl-ack-timeout 1000)
    start "${margs[@]}"; mport=$PORT; mpid=$PID
    rpids=()
    for _ in $(seq 1 "$nrep"); do
      start --replicaof 127.0.0.1 "$mport"; rpids+=("$PID")
    done
    [ "$nrep" -gt 0 ] && online "$mport" "$nrep"
    lagf="$work/lag-$P-$nrep-$mode"; : >"$lagf"
    spid=""
    if [ "$nrep" -gt 0 ]; then sample "$mport" "$lagf" & spid=$!; fi
    read -r rps p50 p99 <<<"$(bench "$mport" "$P" "$n")"
    [ -n "$spid" ] && { kill "$spid" 2>/dev/null || true; wait "$spid" 2>/dev/null || true; }
    [ "$cfg" = "0 async" ] && base[$P]=$rps
    ratio=$(awk -v a="$rps" -v b="${base[$P]}" 'BEGIN{ printf "%.2f", a/b }')
    lagmax=- lagmean=-
    if [ -s "$lagf" ]; then
      lagmax=$(sort -n "$lagf" | tail -1)
      lagmean=$(awk '{s+=$1} END {printf "%.0f", s/NR}' "$lagf")
    fi
    printf '%-3s %-8s %-6s | %10.0f %7s %7s %6s | %12s %12s\n' "$P" "$nrep" "$mode" "$rps" "$p50" "$p99" "$ratio" "$lagmax" "$lagmean"
    if [ -n "${BENCH_SUMMARY:-}" ] && [ "$nrep" -gt 0 ]; then
      echo "replication|SET -P $P, $nrep replica(s) $mode|$rps ops/s|no replica ${base[$P]} ops/s|${ratio}x" >>"$BENCH_SUMMARY"
    fi
    for p in "${rpids[@]}"; do stop "$p"; done
    stop "$mpid"
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "ratio: SET/s over the master without replicas at the same -P; lag: master offset minus the lowest acknowledged replica offset, sampled every 100 ms during the load"
