#!/usr/bin/env bash
# Online resharding: a pool of 2 shardis-server shards with
# RESHARD_BENCH_KEYS keys (default 200000, 32-byte values) gets a third
# shard and is rebalanced (shardis-admin's migrator, in the test process)
# while 8 clients run GET/SET (3:1) on random keys through a
# shardis-proxy. Same run: keys moved per second, and the clients' p99
# latency and ops/s before the migration vs during it. ZooKeeper, servers
# and proxy are started by the Go test (integration/resharding_bench_test.go)
# and stopped by PID.
set -euo pipefail
cd "$(dirname "$0")/../.."

keys=${RESHARD_BENCH_KEYS:-200000}
out=$(SHARDIS_BENCH_RESHARDING=1 SHARDIS_BENCH_RESHARDING_KEYS=$keys \
  go test -count=1 -run '^TestReshardingBench$' -v ./integration/ 2>&1) || { echo "$out" | tail -40; exit 1; }
line=$(echo "$out" | grep '^RESHARDING ' | tail -1)
[ -n "$line" ] || { echo "40-resharding: no result line"; echo "$out" | tail -40; exit 1; }
get() { echo "$line" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k {print $2}'; }
kps=$(get keys_per_sec); before=$(get p99_before_us); during=$(get p99_during_us)
ob=$(get ops_before); od=$(get ops_during)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b>0) printf "%.2f", a/b; else print "n/a" }'; }
echo "rebalance 2 -> 3 shards, $(get keys) keys ($(get moved) moved by the migrator), 8 clients GET/SET 3:1 through shardis-proxy; $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-28s %12s %12s %8s\n' measure before during ratio
printf '%-28s %12s %12s %8s\n' "client p99 latency (us)" "$before" "$during" "$(ratio "$during" "$before")"
printf '%-28s %12s %12s %8s\n' "client ops/s" "$ob" "$od" "$(ratio "$od" "$ob")"
printf '%-28s %12s\n' "keys moved per second" "$kps"
echo "client errors: $(get client_errors)"
[ -z "${BENCH_SUMMARY:-}" ] || {
  echo "resharding|keys moved/s|$kps|-|-" >> "$BENCH_SUMMARY"
  echo "resharding|client p99 us during migration|$during|$before (before)|$(ratio "$during" "$before")" >> "$BENCH_SUMMARY"
}
