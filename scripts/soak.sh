#!/usr/bin/env bash
# make soak: 10 minutes (SOAK=10m) of mixed load through 2 proxies while a
# random master is killed every 30-60 s (integration/soak_test.go). Prints
# requests, errors, the longest unavailability window and acknowledged
# writes lost. SOAK_BACKEND=redis-server runs real Redis as the shards.
set -euo pipefail
cd "$(dirname "$0")/.."
SOAK=${SOAK:-10m}
export SHARDIS_SOAK=$SOAK SHARDIS_SOAK_BACKEND=${SOAK_BACKEND:-shardis-server}
go test -count=1 -timeout 0 -run '^TestSoak$' -v ./integration/ 2>&1 |
  grep -E '^(=== RUN|--- |PASS|FAIL|ok|SOAK RESULT)|soak_test.go|^ {8}' | grep -v 'level=' 
