#!/usr/bin/env bash
# shardis-server vs redis-server: redis-benchmark SET/GET at -P 1 and -P 16
# (-c 50 -n 200000 -r 100000), interleaved in the same run, with AOF off and
# with AOF everysec; the collection commands HSET, LPUSH, LPOP, SADD, ZADD
# and LRANGE_100 at -P 16 (BENCH_TYPES, BENCH_TYPES_ROUNDS), and EVALSHA (a
# rate-limiter script), PFADD and GEOADD at -P 16; then RSS after
# loading 1M keys of 10-byte values. BENCH_ONLY=types runs the collections
# part alone.
# Both servers are started here on free ports and stopped by PID.
set -euo pipefail
cd "$(dirname "$0")/../.."

BIN=./bin/shardis-server
[ -x "$BIN" ] || { echo "bench: $BIN missing (make build)" >&2; exit 1; }
REDIS=$(command -v redis-server || echo /usr/bin/redis-server)
N=${BENCH_N:-200000}
CLIENTS=${BENCH_CLIENTS:-50}
KEYS=${BENCH_KEYSPACE:-100000}
LOADKEYS=${BENCH_LOADKEYS:-1000000}

work=$(mktemp -d /tmp/shardis-bench.XXXXXX)
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

# start NAME AOF(no|everysec) [GOMAXPROCS] -> sets PORT and PID
start() {
  local name=$1 aof=$2 gmp=${3:-} port dir
  port=$(freeport); dir="$work/$name-$aof-$port"; mkdir -p "$dir"
  local app=no; [ "$aof" != no ] && app=yes
  if [ "$name" = redis ]; then
    "$REDIS" --port "$port" --bind 127.0.0.1 --dir "$dir" --save '' --appendonly "$app" \
      --appendfsync "${aof/no/everysec}" --daemonize no --protected-mode no --logfile "$dir/log" &
  elif [ -n "$gmp" ]; then
    GOMAXPROCS=$gmp "$BIN" --port "$port" --bind 127.0.0.1 --dir "$dir" --appendonly "$app" \
      --appendfsync "${aof/no/everysec}" --logfile "$dir/log" &
  else
    "$BIN" --port "$port" --bind 127.0.0.1 --dir "$dir" --appendonly "$app" \
      --appendfsync "${aof/no/everysec}" --logfile "$dir/log" &
  fi
  PID=$!; PORT=$port; pids+=("$PID")
  waitport "$port"
}
stop() { kill -TERM "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# bench PORT TEST PIPELINE -> "rps p50 p99"
bench() {
  redis-benchmark -p "$1" -c "$CLIENTS" -n "$N" -r "$KEYS" -P "$3" -t "$2" --csv -q 2>/dev/null |
    awk -F'"' 'NR==2 {print $4, $10, $14}'
}

# median of the first fields of lines on stdin, with that line's other fields
median() { sort -n | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}'; }

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

ROUNDS=${BENCH_ROUNDS:-3}
if [ "${BENCH_ONLY:-}" != types ]; then
echo "redis-benchmark -c $CLIENTS -n $N -r $KEYS, median of $ROUNDS interleaved rounds; $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "shardis = default threads (CPUs - 1, at least 1: $(( $(nproc) > 1 ? $(nproc) - 1 : 1 ))); shardis/all = --threads $(nproc) (every CPU, shared with redis-benchmark here)"
printf '%-8s %-4s %-3s | %10s %6s %6s | %10s %6s %6s %5s | %10s %6s %6s %5s\n' aof test P \
  "redis/s" p50 p99 "shardis/s" p50 p99 ratio "shardis/all" p50 p99 ratio
for aof in no everysec; do
  start redis "$aof"; rport=$PORT; rpid=$PID
  start shardis "$aof"; sport=$PORT; spid=$PID
  start shardis "$aof" "$(nproc)"; s1port=$PORT; s1pid=$PID
  declare -A res=()
  for round in $(seq 1 "$ROUNDS"); do
    i=$round
    for P in 1 16; do
      for t in set get; do
        # Interleaved; the order rotates so no server always runs first.
        order=(r s o); (( i % 3 == 1 )) && order=(s o r); (( i % 3 == 2 )) && order=(o r s)
        i=$((i+1))
        for who in "${order[@]}"; do
          case $who in
            r) res[r,$t,$P]+="$(bench "$rport" "$t" "$P")"$'\n' ;;
            s) res[s,$t,$P]+="$(bench "$sport" "$t" "$P")"$'\n' ;;
            o) res[o,$t,$P]+="$(bench "$s1port" "$t" "$P")"$'\n' ;;
          esac
        done
      done
    done
  done
  for P in 1 16; do
    for t in set get; do
      read -r rr rp50 rp99 <<<"$(printf '%s' "${res[r,$t,$P]}" | grep . | median)"
      read -r sr sp50 sp99 <<<"$(printf '%s' "${res[s,$t,$P]}" | grep . | median)"
      read -r or op50 op99 <<<"$(printf '%s' "${res[o,$t,$P]}" | grep . | median)"
      ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b>0) printf "%.2fx", a/b; else print "n/a" }'; }
      printf '%-8s %-4s %-3s | %10.0f %6s %6s | %10.0f %6s %6s %5s | %10.0f %6s %6s %5s\n' "$aof" "$t" "$P" \
        "$rr" "$rp50" "$rp99" "$sr" "$sp50" "$sp99" "$(ratio "$sr" "$rr")" "$or" "$op50" "$op99" "$(ratio "$or" "$rr")"
      [ -z "${BENCH_SUMMARY:-}" ] || echo "backend|${t^^} -P $P, AOF $aof|$sr ops/s|redis-server $rr ops/s|$(ratio "$sr" "$rr")" >>"$BENCH_SUMMARY"
    done
  done
  stop "$s1pid"; stop "$spid"; stop "$rpid"
done
fi

# Collections: redis-benchmark's HSET, LPUSH, LPOP, SADD, ZADD and LRANGE_100
# (all on one key each, as redis-benchmark does them) at -P 16, AOF off, the
# two servers interleaved round by round (the order alternates), data flushed
# before each run. Each figure is the median of the rounds.
TYPES_TESTS=${BENCH_TYPES:-hset,lpush,lpop,sadd,zadd,lrange_100}
TYPES_ROUNDS=${BENCH_TYPES_ROUNDS:-$ROUNDS}
# typesbench PORT -> lines "TEST rps p50 p99"
typesbench() {
  redis-cli -p "$1" flushall >/dev/null
  redis-benchmark -p "$1" -c "$CLIENTS" -n "$N" -r "$KEYS" -P 16 -t "$TYPES_TESTS" --csv -q 2>/dev/null |
    awk -F'"' 'NR>1 && $2 !~ /needed/ { split($2, n, " "); print n[1], $4, $10, $14 }'
}
echo
echo "collections, redis-benchmark -t $TYPES_TESTS -P 16 -c $CLIENTS -n $N -r $KEYS, AOF off;" \
  "median of $TYPES_ROUNDS interleaved rounds; load $(cut -d' ' -f1-3 /proc/loadavg)"
start redis no; rport=$PORT; rpid=$PID
start shardis no; sport=$PORT; spid=$PID
declare -A tres=()
for round in $(seq 1 "$TYPES_ROUNDS"); do
  order=(r s); (( round % 2 == 0 )) && order=(s r)
  for who in "${order[@]}"; do
    port=$rport; [ "$who" = s ] && port=$sport
    while read -r t rps p50 p99; do
      [ -n "$t" ] && tres[$who,$t]+="$rps $p50 $p99"$'\n'
    done < <(typesbench "$port")
  done
done
printf '%-12s | %10s %6s %6s | %10s %6s %6s %5s\n' test "redis/s" p50 p99 "shardis/s" p50 p99 ratio
for t in LPUSH LPOP SADD HSET ZADD LRANGE_100; do
  [ -n "${tres[r,$t]:-}" ] || continue
  read -r rr rp50 rp99 <<<"$(printf '%s' "${tres[r,$t]}" | grep . | median)"
  read -r sr sp50 sp99 <<<"$(printf '%s' "${tres[s,$t]:-0 0 0}" | grep . | median)"
  printf '%-12s | %10.0f %6s %6s | %10.0f %6s %6s %5s\n' "$t" "$rr" "$rp50" "$rp99" "$sr" "$sp50" "$sp99" \
    "$(awk -v a="$sr" -v b="$rr" 'BEGIN{ if (b>0) printf "%.2fx", a/b; else print "n/a" }')"
  [ -z "${BENCH_SUMMARY:-}" ] || echo "backend|${t^^} -P 16|$sr ops/s|redis-server $rr ops/s|$(awk -v a="$sr" -v b="$rr" 'BEGIN{ if (b>0) printf "%.2fx", a/b; else print "n/a" }')" >>"$BENCH_SUMMARY"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

# The other families, as applications use them, at -P 16 on random keys:
# a rate-limiter-like script (EVALSHA of INCR + EXPIRE), PFADD, GEOADD.
# Same servers, interleaved rounds, medians.
script="local n = redis.call('incr', KEYS[1]); redis.call('expire', KEYS[1], 60); return n"
sha=$(redis-cli -p "$rport" script load "$script")
redis-cli -p "$sport" script load "$script" >/dev/null
declare -A extra=(
  [EVALSHA]="evalsha $sha 1 rl:__rand_int__"
  [PFADD]="pfadd hll:__rand_int__ e:__rand_int__"
  [GEOADD]="geoadd geo 13.361389 38.115556 m:__rand_int__"
)
declare -A xres=()
for round in $(seq 1 "$TYPES_ROUNDS"); do
  order=(r s); (( round % 2 == 0 )) && order=(s r)
  for t in EVALSHA PFADD GEOADD; do
    for who in "${order[@]}"; do
      port=$rport; [ "$who" = s ] && port=$sport
      # shellcheck disable=SC2086 # the command's words
      line=$(redis-benchmark -p "$port" -c "$CLIENTS" -n "$N" -r "$KEYS" -P 16 --csv ${extra[$t]} 2>/dev/null | tail -1)
      xres[$who,$t]+="$(awk -F'"' '{print $4, $10, $14}' <<<"$line")"$'\n'
    done
  done
done
for t in EVALSHA PFADD GEOADD; do
  read -r rr rp50 rp99 <<<"$(printf '%s' "${xres[r,$t]}" | grep . | median)"
  read -r sr sp50 sp99 <<<"$(printf '%s' "${xres[s,$t]:-0 0 0}" | grep . | median)"
  r=$(awk -v a="$sr" -v b="$rr" 'BEGIN{ if (b>0) printf "%.2fx", a/b; else print "n/a" }')
  printf '%-12s | %10.0f %6s %6s | %10.0f %6s %6s %5s\n' "$t" "$rr" "$rp50" "$rp99" "$sr" "$sp50" "$sp99" "$r"
  [ -z "${BENCH_SUMMARY:-}" ] || echo "backend|${t} -P 16|$sr ops/s|redis-server $rr ops/s|$r" >>"$BENCH_SUMMARY"
done
stop "$spid"; stop "$rpid"

[ "${BENCH_ONLY:-}" = types ] && exit 0

# Memory: the same LOADKEYS keys "key:<i>" with 10-byte values in each.
gen() {
  awk -v n="$LOADKEYS" 'BEGIN { for (i = 0; i < n; i++) { k = "key:" i; v = sprintf("%010d", i);
    printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$10\r\n%s\r\n", length(k), k, v } }'
}
gen > "$work/load.resp"
echo
printf '%-8s %10s %12s %10s\n' server keys "RSS MB" "MB/1M keys"
declare -A rss
for name in redis shardis; do
  start "$name" no
  redis-cli -p "$PORT" --pipe < "$work/load.resp" >/dev/null
  sleep 2
  keys=$(redis-cli -p "$PORT" dbsize)
  kb=$(rss_kb "$PID")
  rss[$name]=$kb
  printf '%-8s %10s %12.1f %10.1f\n' "$name" "$keys" "$(awk -v k="$kb" 'BEGIN{print k/1024}')" \
    "$(awk -v k="$kb" -v n="$keys" 'BEGIN{print k/1024*1000000/n}')"
  stop "$PID"
done
awk -v a="${rss[shardis]}" -v b="${rss[redis]}" 'BEGIN{ printf "RSS ratio shardis/redis: %.2fx\n", a/b }'
