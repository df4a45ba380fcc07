#!/usr/bin/env bash
# shardis-proxy vs nutcracker vs direct redis-server, same run, same two
# redis-server backends, same YAML. redis-benchmark runs interleaved
# (rounds rotate the order of the targets) and the median of the rounds
# is printed: ops/s, p50/p99 latency, CPU microseconds per request of the
# proxy process (utime+stime from /proc/PID/stat around each run), and
# the ratios to nutcracker. Targets: >= 1.0x nutcracker ops/s everywhere,
# >= 1.5x at -P 16, p99 no worse, CPU per request <= nutcracker's at -P 16.
#
# nutcracker runs twice: "nutcracker" at -v 3 (errors only), its fastest,
# the reference of every ratio; "nutcracker/v5" at its default verbosity,
# as most deployments run it (e.g. the write-up this product replaces:
# nutcracker -c ... -o ... -d, no -v). At LOG_NOTICE and above Debian's
# build timestamps every request and formats a request log line, with a
# getpeername(2) each (req_log), which costs it about a third of its
# throughput at -P 16. shardis-proxy runs with its defaults, as shipped.
#
# Environment: PROXY_BENCH_ROUNDS (3), PROXY_BENCH_SCALE (1.0: multiplies
# the request counts), PROXY_BENCH_CLIENTS (50), PROXY_BENCH_KEYS (100000),
# (shardis-proxy runs twice: with its default threads, CPUs - 1, and with
# --threads set to every CPU)
# SHARDIS_PROXY (the binary; default bin/shardis-proxy, built if missing),
# PROXY_BENCH_PROFILE=file writes a CPU profile of shardis-proxy.
set -euo pipefail
cd "$(dirname "$0")/../.."

rounds=${PROXY_BENCH_ROUNDS:-3}
scale=${PROXY_BENCH_SCALE:-1.0}
clients=${PROXY_BENCH_CLIENTS:-50}
keys=${PROXY_BENCH_KEYS:-100000}

for tool in redis-server redis-benchmark redis-cli nutcracker awk; do
  command -v "$tool" >/dev/null || { echo "20-proxy: $tool not found (make deps)"; exit 1; }
done

work=$(mktemp -d /tmp/shardis-bench-proxy.XXXXXX)
pids=()
cleanup() {
  local rc=$?
  if [ "$rc" != 0 ]; then
    echo "20-proxy: failed (exit $rc); the processes' logs:" >&2
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || echo "20-proxy: pid $p is gone" >&2; done
    tail -n 40 "$work"/*.log >&2 2>/dev/null || true
  fi
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

proxy_bin=${SHARDIS_PROXY:-bin/shardis-proxy}
if [ ! -x "$proxy_bin" ]; then
  go build -o "$work/shardis-proxy" ./cmd/shardis-proxy
  proxy_bin=$work/shardis-proxy
fi

# freeport prints a TCP port on 127.0.0.1 nobody listens on.
used_ports=" "
freeport() {
  local p
  while :; do
    # Below Linux's ephemeral range (32768-60999), so no outgoing
    # connection of another process takes it between the check and the bind.
    p=$(( (RANDOM << 15 | RANDOM) % 12000 + 20000 ))
    case "$used_ports" in *" $p "*) continue ;; esac
    if ! ss -Htan "sport = :$p" 2>/dev/null | grep -q .; then
      used_ports="$used_ports$p "
      echo "$p"
      return
    fi
  done
}

wait_port() { # port
  for _ in $(seq 300); do
    redis-cli -p "$1" ping >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "20-proxy: nothing answers PING on port $1 (5 s); logs:" >&2
  tail -n 5 "$work"/*.log >&2 2>/dev/null || true
  return 1
}

r1=$(freeport); r2=$(freeport); pp=$(freeport); p1=$(freeport); np=$(freeport); ns=$(freeport)
n5=$(freeport); n5s=$(freeport)
for p in $r1 $r2; do
  redis-server --port "$p" --bind 127.0.0.1 --save '' --appendonly no \
    --protected-mode no --daemonize no --dir "$work" --logfile "$work/redis-$p.log" &
  pids+=($!)
done
wait_port "$r1"; wait_port "$r2"

pool() { # name listen
  cat <<EOF
$1:
  listen: 127.0.0.1:$2
  hash: fnv1a_64
  distribution: ketama
  redis: true
  timeout: 400
  server_connections: 1
  servers:
   - 127.0.0.1:$r1:1
   - 127.0.0.1:$r2:1
EOF
}
pool bench "$pp" >"$work/proxy.yml"
pool bench "$p1" >"$work/proxy1.yml"
pool bench "$np" >"$work/nutcracker.yml"
pool bench "$n5" >"$work/nutcracker5.yml"

profile=()
[ -n "${PROXY_BENCH_PROFILE:-}" ] && profile=(--cpu-profile "$PROXY_BENCH_PROFILE")
"$proxy_bin" -c "$work/proxy.yml" -s 0 "${profile[@]}" 2>"$work/proxy.log" &
proxy_pid=$!; pids+=($proxy_pid)
# The same proxy with a thread per CPU (--threads N; the default is one
# less): on a machine shared with the load generator and the backends,
# as here, the extra thread costs more than it brings.
"$proxy_bin" -c "$work/proxy1.yml" -s 0 --threads "$(nproc)" 2>"$work/proxy1.log" &
proxy1_pid=$!; pids+=($proxy1_pid)
nutcracker -c "$work/nutcracker.yml" -s "$ns" -a 127.0.0.1 -v 3 -o "$work/nutcracker.log" &
nc_pid=$!; pids+=($nc_pid)
nutcracker -c "$work/nutcracker5.yml" -s "$n5s" -a 127.0.0.1 -o "$work/nutcracker5.log" &
nc5_pid=$!; pids+=($nc5_pid)
wait_port "$pp"; wait_port "$p1"; wait_port "$np"; wait_port "$n5"

tck=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
scaled() { awk -v n="$1" -v s="$scale" 'BEGIN { printf "%d", n * s }'; }

mget=(MGET)
for _ in $(seq 10); do mget+=("key:__rand_int__"); done

# name|requests|redis-benchmark arguments
tests=(
  "SET -P1|$(scaled 100000)|-P 1 -t set"
  "GET -P1|$(scaled 100000)|-P 1 -t get"
  "SET -P16|$(scaled 1000000)|-P 16 -t set"
  "GET -P16|$(scaled 1000000)|-P 16 -t get"
  "MSET(10) -P1|$(scaled 50000)|-P 1 -t mset"
  "MGET(10) -P1|$(scaled 100000)|-P 1 ${mget[*]}"
)

# Preload the keys so GET and MGET find values.
redis-benchmark -h 127.0.0.1 -p "$pp" -c "$clients" -n "$((keys * 2))" -r "$keys" -P 16 -t set -q >/dev/null 2>&1

results=$work/results.txt
: >"$results"
targets=(shardis-proxy shardis-proxy/all nutcracker nutcracker/v5 redis)
port_of() { case $1 in shardis-proxy) echo "$pp" ;; shardis-proxy/all) echo "$p1" ;; nutcracker) echo "$np" ;; nutcracker/v5) echo "$n5" ;; redis) echo "$r1" ;; esac; }
pid_of() { case $1 in shardis-proxy) echo "$proxy_pid" ;; shardis-proxy/all) echo "$proxy1_pid" ;; nutcracker) echo "$nc_pid" ;; nutcracker/v5) echo "$nc5_pid" ;; redis) echo "" ;; esac; }

echo "20-proxy: $rounds rounds x ${#tests[@]} tests x ${#targets[@]} targets, $clients clients, $(nproc) cores"
for round in $(seq "$rounds"); do
  for t in "${tests[@]}"; do
    IFS='|' read -r name n args <<<"$t"
    # rotate the order of the targets every round
    order=("${targets[@]:$((round % ${#targets[@]}))}" "${targets[@]:0:$((round % ${#targets[@]}))}")
    for target in "${order[@]}"; do
      port=$(port_of "$target"); pid=$(pid_of "$target")
      before=0; [ -n "$pid" ] && before=$(cpu_ticks "$pid")
      # shellcheck disable=SC2086
      line=$(redis-benchmark -h 127.0.0.1 -p "$port" -c "$clients" -n "$n" -r "$keys" --csv $args 2>/dev/null | tail -1)
      after=0; [ -n "$pid" ] && after=$(cpu_ticks "$pid")
      # "test","rps","avg","min","p50","p95","p99","max"
      echo "$line" | awk -F'"' -v name="$name" -v target="$target" -v n="$n" \
        -v ticks="$((after - before))" -v tck="$tck" -v pid="$pid" '
        { cpu = (pid == "") ? "-" : sprintf("%.2f", ticks * 1e6 / tck / n)
          printf "%s|%s|%s|%s|%s|%s\n", name, target, $4, $10, $14, cpu }' >>"$results"
    done
  done
  echo "20-proxy: round $round done"
done

# Medians per test and target, then the table with ratios to nutcracker.
awk -F'|' -v rounds="$rounds" '
function median(list,   a, n, i, j, t) {
  n = split(list, a, " ")
  for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
  return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{ k = $1 SUBSEP $2; rps[k] = rps[k] " " $3; p50[k] = p50[k] " " $4; p99[k] = p99[k] " " $5; cpu[k] = cpu[k] " " $6
  if (!($1 in seen)) { seen[$1] = 1; order[++nt] = $1 } }
END {
  printf "\n%-14s %-17s %11s %8s %8s %9s %8s %8s %8s\n", "test", "target", "ops/s", "p50 ms", "p99 ms", "cpu us/op", "x ops", "x p99", "x cpu"
  for (i = 1; i <= nt; i++) {
    name = order[i]
    nk = name SUBSEP "nutcracker"
    nr = median(rps[nk]); n99 = median(p99[nk]); ncpu = median(cpu[nk])
    nt5 = split("shardis-proxy shardis-proxy/all nutcracker nutcracker/v5 redis", tg, " ")
    for (j = 1; j <= nt5; j++) {
      k = name SUBSEP tg[j]
      r = median(rps[k]); q50 = median(p50[k]); q99 = median(p99[k])
      c = (tg[j] == "redis") ? "-" : sprintf("%.2f", median(cpu[k]))
      xr = sprintf("%.2f", r / nr); xp = sprintf("%.2f", q99 / n99)
      xc = (tg[j] == "redis") ? "-" : sprintf("%.2f", median(cpu[k]) / ncpu)
      printf "%-14s %-17s %11.0f %8.3f %8.3f %9s %8s %8s %8s\n", name, tg[j], r, q50, q99, c, xr, xp, xc
    }
  }
  printf "\n(medians of %d rounds; x = ratio to nutcracker (-v 3); cpu = CPU time of the proxy process per request;\n nutcracker/v5 = nutcracker at its default verbosity; shardis-proxy = default threads ('"$(( $(nproc) > 1 ? $(nproc) - 1 : 1 ))"'), shardis-proxy/all = --threads '"$(nproc)"')\n", rounds
  if (summary != "") {
    for (i = 1; i <= nt; i++) {
      name = order[i]; nk = name SUBSEP "nutcracker"; sk = name SUBSEP "shardis-proxy"; rk = name SUBSEP "redis"
      printf "proxy|%s|%.0f ops/s|nutcracker %.0f ops/s|%.2fx\n", name, median(rps[sk]), median(rps[nk]), median(rps[sk]) / median(rps[nk]) >> summary
      printf "proxy|%s p99|%.3f ms|nutcracker %.3f ms|%.2fx\n", name, median(p99[sk]), median(p99[nk]), median(p99[sk]) / median(p99[nk]) >> summary
      printf "proxy|%s vs direct redis|%.0f ops/s|redis-server %.0f ops/s|%.2fx\n", name, median(rps[sk]), median(rps[rk]), median(rps[sk]) / median(rps[rk]) >> summary
      vk = name SUBSEP "nutcracker/v5"
      printf "proxy|%s vs nutcracker at its default -v 5|%.0f ops/s|nutcracker -v 5 %.0f ops/s|%.2fx\n", name, median(rps[sk]), median(rps[vk]), median(rps[sk]) / median(rps[vk]) >> summary
    }
  }
}' summary="${BENCH_SUMMARY:-}" "$results"
