#!/usr/bin/env bash
# Failover windows with real processes: the seed walkthrough
# (integration/stack_test.go) freezes a master's node (SIGSTOP of the backend
# and its watchdog, as `docker pause`), and the failover scenarios kill -9 a
# master. Printed: time until the replica is master in ZooKeeper and until
# the old node is a replica again, for shardis-server and redis-server.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(go test -count=1 -run '^TestSeedWalkthrough$' -v ./integration/ 2>&1) || { echo "$out" | tail -50; exit 1; }
printf '%-16s %-22s %-22s\n' backend "promoted after pause" "rejoined after resume"
for b in shardis-server redis-server; do
  p=$(grep -o "$b: [0-9.:]* promoted [0-9.a-zµ]* after" <<<"$out" | awk '{print $4}')
  r=$(grep -o "$b: [0-9.:]* rejoined as replica [0-9.a-zµ]* after" <<<"$out" | awk '{print $6}')
  printf '%-16s %-22s %-22s\n' "$b" "$p" "$r"
  [ -z "${BENCH_SUMMARY:-}" ] || echo "failover|$b: SIGSTOP master node -> replica promoted|$p|ZooKeeper session 2 s|-" >>"$BENCH_SUMMARY"
  [ -z "${BENCH_SUMMARY:-}" ] || echo "failover|$b: resume -> old master is replica, link up|$r|-|-" >>"$BENCH_SUMMARY"
done

# kill -9 of a master under load (the soak test, shortened): the longest
# time a client's write kept failing, and acknowledged writes lost.
soak=${FAILOVER_BENCH_SOAK:-75s}
res=$(SHARDIS_SOAK=$soak go test -count=1 -timeout 10m -run '^TestSoak$' -v ./integration/ 2>&1 | grep '^SOAK RESULT' || true)
echo "soak $soak, 1 random master kill -9 per 30-60 s, repl-ack-replicas 1: ${res#SOAK RESULT }"
if [ -n "$res" ] && [ -n "${BENCH_SUMMARY:-}" ]; then
  un=$(grep -o 'longest_unavailability=[^ ]*' <<<"$res" | cut -d= -f2)
  lost=$(grep -o 'acked_writes_lost=[^ ]*' <<<"$res" | cut -d= -f2)
  kills=$(grep -o 'kills=[^ ]*' <<<"$res" | cut -d= -f2)
  echo "failover|shardis-server: kill -9 master under load ($kills kills in $soak) -> longest write unavailability|$un|-|-" >>"$BENCH_SUMMARY"
  echo "failover|shardis-server: acknowledged writes lost (repl-ack-replicas 1)|$lost|-|-" >>"$BENCH_SUMMARY"
fi
