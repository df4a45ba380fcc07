#!/usr/bin/env bash
# make run: the local shardis stack in the foreground.
#
#   MODE=zk (default): ZooKeeper, pool "demo" of 2 shards x (master + replica)
#     with a shardis-watchdog beside every backend, the topology created with
#     shardis-admin, and shardis-proxy on 127.0.0.1:22121.
#   MODE=static: the same 4 backends (each shard's replica follows its master
#     with --replicaof), the proxy reads the servers from YAML; no ZooKeeper,
#     no failover.
#   BACKEND=shardis-server (default) or BACKEND=redis-server.
#
# Data and logs live under ./data/ (DATA=... to move them); a second run
# reuses them. Ctrl-C / SIGTERM stops exactly the processes this script
# started, by PID, and nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=${MODE:-zk}
BACKEND=${BACKEND:-shardis-server}
DATA=${DATA:-./data}
ZK_PORT=${SHARDIS_ZK_PORT:-2181}
PROXY_PORT=${SHARDIS_PROXY_PORT:-22121}
STATS_PORT=${SHARDIS_STATS_PORT:-22222}
METRICS_PORT=${SHARDIS_METRICS_PORT:-22223}
BASE_PORT=${SHARDIS_BACKEND_PORT:-6380} # backends on BASE_PORT..BASE_PORT+3
POOL=demo
ZK=127.0.0.1:$ZK_PORT
BIN=./bin

case "$MODE" in zk | static) ;; *) echo "run: MODE must be zk or static, not '$MODE'" >&2; exit 2 ;; esac
case "$BACKEND" in
  shardis-server) BACKEND_BIN=$BIN/shardis-server ;;
  redis-server) BACKEND_BIN=$(command -v redis-server || true) ;;
  *) echo "run: BACKEND must be shardis-server or redis-server, not '$BACKEND'" >&2; exit 2 ;;
esac
for b in shardis-server shardis-proxy shardis-watchdog shardis-admin; do
  [ -x "$BIN/$b" ] || { echo "run: $BIN/$b missing; run 'make build' first" >&2; exit 1; }
done
[ -n "$BACKEND_BIN" ] || { echo "run: redis-server not found; apt-get install -y redis-server" >&2; exit 1; }
if [ "$MODE" = zk ]; then
  if ! command -v java >/dev/null 2>&1 || [ ! -f /usr/share/java/zookeeper.jar ]; then
    cat >&2 <<EOF
run: ZooKeeper is not installed (java and /usr/share/java/zookeeper.jar are needed).
  On Debian/Ubuntu:  apt-get install -y zookeeper   (make run does this as root)
  Elsewhere, install ZooKeeper 3.x and Java, or run the demo without failover:
    MODE=static make run
EOF
    exit 1
  fi
fi

mkdir -p "$DATA/logs"
LOGS=$DATA/logs
pids=()
names=()
stopping=0
stop() {
  [ "$stopping" = 1 ] && return
  stopping=1
  trap - INT TERM EXIT
  echo
  echo "stopping ${#pids[@]} processes..."
  # Proxy and watchdogs first (reverse start order), then backends, ZooKeeper last.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[$i]}" 2>/dev/null || true
    wait "${pids[$i]}" 2>/dev/null || true
  done
  echo "stopped; data and logs are in $DATA"
}
trap 'stop; exit 130' INT
trap 'stop; exit 143' TERM
trap stop EXIT

# start NAME CMD ARGS...: runs CMD in the background, logging to $LOGS/NAME.log.
start() {
  local name=$1
  shift
  echo "==== $(date -u +%FT%TZ) $*" >>"$LOGS/$name.log"
  "$@" >>"$LOGS/$name.log" 2>&1 &
  pids+=($!)
  names+=("$name")
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_port NAME PORT: until something listens, or the process died.
wait_port() {
  local name=$1 port=$2 pid=${pids[-1]}
  for _ in $(seq 1 300); do
    port_busy "$port" && return 0
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "run: $name exited; the end of $LOGS/$name.log:" >&2
      tail -n 20 "$LOGS/$name.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo "run: $name did not listen on $port within 30 s; see $LOGS/$name.log" >&2
  exit 1
}

check_free() {
  local p
  for p in "$@"; do
    if port_busy "$p"; then
      echo "run: 127.0.0.1:$p is already in use (another 'make run'?); stop it or set SHARDIS_*_PORT" >&2
      exit 1
    fi
  done
}

ports=("$BASE_PORT" $((BASE_PORT + 1)) $((BASE_PORT + 2)) $((BASE_PORT + 3)))
check_free "$PROXY_PORT" "$STATS_PORT" "$METRICS_PORT" "${ports[@]}"

# ---- ZooKeeper -------------------------------------------------------------
if [ "$MODE" = zk ]; then
  check_free "$ZK_PORT"
  mkdir -p "$DATA/zookeeper/data"
  cat >"$DATA/zookeeper/zoo.cfg" <<EOF
tickTime=500
initLimit=10
syncLimit=5
dataDir=$(cd "$DATA/zookeeper/data" && pwd)
clientPort=$ZK_PORT
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=*
minSessionTimeout=1000
maxSessionTimeout=30000
EOF
  start zookeeper java -Xmx256m -XX:+UseSerialGC -Dzookeeper.jmx.log4j.disable=true \
    -cp /usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar \
    org.apache.zookeeper.server.quorum.QuorumPeerMain "$DATA/zookeeper/zoo.cfg"
  for i in $(seq 1 300); do
    if out=$( (exec 3<>"/dev/tcp/127.0.0.1/$ZK_PORT" && echo srvr >&3 && cat <&3) 2>/dev/null) && [[ $out == *Mode:* ]]; then
      break
    fi
    kill -0 "${pids[-1]}" 2>/dev/null || { echo "run: zookeeper exited; see $LOGS/zookeeper.log" >&2; tail -n 20 "$LOGS/zookeeper.log" >&2; exit 1; }
    [ "$i" = 300 ] && { echo "run: zookeeper not ready within 30 s; see $LOGS/zookeeper.log" >&2; exit 1; }
    sleep 0.1
  done
  echo "zookeeper     127.0.0.1:$ZK_PORT (pid ${pids[-1]})"
  if ! "$BIN/shardis-admin" --zk "$ZK" pool list 2>/dev/null | grep -qw "$POOL"; then
    "$BIN/shardis-admin" --zk "$ZK" pool create "$POOL" --shards 2 --hash fnv1a_64 --hash-tag '{}' | sed 's/^/  /'
  else
    echo "  pool $POOL exists in ZooKeeper (kept from an earlier run)"
  fi
fi

# ---- backends (+ watchdogs) -----------------------------------------------
backend_args() { # port dir [master-port]
  local port=$1 dir=$2 master=${3:-}
  if [ "$BACKEND" = redis-server ]; then
    echo --bind 127.0.0.1 --port "$port" --dir "$dir" --appendonly yes --save "" --protected-mode no
  else
    echo --bind 127.0.0.1 --port "$port" --dir "$dir" --appendonly yes
    # Started fenced: it refuses writes until its watchdog makes it master or
    # replica (a restarted old master never takes writes on its own).
    [ "$MODE" = zk ] && echo --fenced yes
  fi
  [ -n "$master" ] && echo --replicaof 127.0.0.1 "$master"
  return 0
}

declare -A backend_pid
n=0
for shard in 0 1; do
  sname=$(printf 'redis-%04d' "$shard")
  for member in a b; do
    port=${ports[$n]}
    n=$((n + 1))
    dir="$DATA/$BACKEND/$sname-$member"
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    master=""
    [ "$MODE" = static ] && [ "$member" = b ] && master=$((port - 1))
    # shellcheck disable=SC2046
    start "$sname-$member" "$BACKEND_BIN" $(backend_args "$port" "$dir" "$master")
    wait_port "$sname-$member" "$port"
    backend_pid[$port]=${pids[-1]}
    echo "$BACKEND $sname-$member 127.0.0.1:$port (pid ${pids[-1]})"
    if [ "$MODE" = zk ]; then
      wdm=$((METRICS_PORT + n))
      start "watchdog-$sname-$member" "$BIN/shardis-watchdog" --zk "$ZK" \
        --backend "127.0.0.1:$port" --shard "/redis/cluster/$POOL/$sname" \
        --metrics-addr "127.0.0.1:$wdm"
      echo "  watchdog pid ${pids[-1]}, metrics http://127.0.0.1:$wdm/metrics"
    fi
  done
done

# ---- proxy ------------------------------------------------------------------
conf="$DATA/proxy.yml"
if [ "$MODE" = zk ]; then
  cat >"$conf" <<EOF
# generated by scripts/run.sh (MODE=zk)
$POOL:
  listen: 127.0.0.1:$PROXY_PORT
  hash: fnv1a_64
  hash_tag: "{}"
  redis: true
  timeout: 2000
  auto_eject_hosts: false
  zookeeper_host: $ZK
  zookeeper_path: /redis/proxy/$POOL
  zookeeper_redis_path: /redis/cluster/$POOL
  zookeeper_session_timeout: 4000
EOF
else
  cat >"$conf" <<EOF
# generated by scripts/run.sh (MODE=static)
$POOL:
  listen: 127.0.0.1:$PROXY_PORT
  hash: fnv1a_64
  hash_tag: "{}"
  redis: true
  timeout: 2000
  slots: 4096
  servers:
   - 127.0.0.1:${ports[0]}:0-2047
   - 127.0.0.1:${ports[2]}:2048-4095
EOF
fi
proxy_args=(-c "$conf" -a 127.0.0.1 -s "$STATS_PORT")
if "$BIN/shardis-proxy" --help 2>&1 | grep -q -- '--metrics-addr'; then
  proxy_args+=(--metrics-addr "127.0.0.1:$METRICS_PORT")
fi
start shardis-proxy "$BIN/shardis-proxy" "${proxy_args[@]}"
wait_port shardis-proxy "$PROXY_PORT"
proxy_pid=${pids[-1]}

# Wait (up to 15 s) until the proxy routes: a SET/GET round trip through it.
if command -v redis-cli >/dev/null 2>&1; then
  for _ in $(seq 1 150); do
    [ "$(redis-cli -p "$PROXY_PORT" set shardis:run:probe ok 2>/dev/null)" = OK ] && break
    sleep 0.1
  done
fi

echo
echo "shardis-proxy 127.0.0.1:$PROXY_PORT (pid $proxy_pid), stats http://127.0.0.1:$STATS_PORT/ (nutcracker JSON)"
grep -q -- '--metrics-addr' <<<"${proxy_args[*]}" && echo "  metrics http://127.0.0.1:$METRICS_PORT/metrics"
echo "config $conf, data in $DATA/$BACKEND, logs in $LOGS"
echo
if [ "$MODE" = zk ]; then
  # Let the watchdogs elect the masters before printing the table.
  # (shardis-admin check: every shard has a master, every replica's link is up)
  for _ in $(seq 1 40); do
    "$BIN/shardis-admin" --zk "$ZK" check "$POOL" >/dev/null 2>&1 && break
    sleep 0.25
  done
  "$BIN/shardis-admin" --zk "$ZK" status "$POOL" || true
  echo
  master=$("$BIN/shardis-admin" --zk "$ZK" status "$POOL" --no-probe 2>/dev/null | awk '$1 == "redis-0000" && $5 == "master" { print $6 }')
  mport=${master##*:}
  if [ -n "$master" ] && [ -n "${backend_pid[$mport]:-}" ]; then
    echo "try a failover: kill -9 ${backend_pid[$mport]}   (master of redis-0000 at $master)"
    echo "  then: $BIN/shardis-admin --zk $ZK status $POOL   (the replica is master within seconds)"
  fi
  echo "manual failover: $BIN/shardis-admin --zk $ZK failover $POOL redis-0000"
fi
echo
echo "connect: redis-cli -p $PROXY_PORT"
echo "Ctrl-C stops everything this started."
wait "$proxy_pid" || true
echo "run: shardis-proxy exited; see $LOGS/shardis-proxy.log" >&2
