#!/usr/bin/env bash
# make bench: runs every scripts/bench.d/*.sh in order. Each prints its own
# detailed table of figures measured in this run (ratios against the real
# thing: redis-server, nutcracker); then one summary table of all of them,
# which is also written to BENCH.md with the machine and the date.
# BENCH_ONLY=20 runs only the scripts whose name starts with 20.
set -euo pipefail
cd "$(dirname "$0")/.."
export BENCH_SUMMARY
BENCH_SUMMARY=$(mktemp /tmp/shardis-bench-summary.XXXXXX)
trap 'rm -f "$BENCH_SUMMARY"' EXIT
for s in scripts/bench.d/*.sh; do
  [ -e "$s" ] || continue
  case "$(basename "$s")" in "${BENCH_ONLY:-}"*) ;; *) continue ;; esac
  echo "=== $s"
  bash "$s"
done
machine="$(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(. /etc/os-release && echo "$PRETTY_NAME"), $(go version | awk '{print $3}'), redis-server $(redis-server --version | grep -o 'v=[0-9.]*' | cut -d= -f2), nutcracker $(nutcracker -V 2>&1 | grep -o '[0-9][0-9.]*' | head -1)"
table=$( {
  echo "| area | measure | shardis | reference | ratio |"
  echo "|---|---|---|---|---|"
  awk -F'|' '{ printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5 }' "$BENCH_SUMMARY" |
    sed -E 's/([0-9]+)\.[0-9]+ ops\/s/\1 ops\/s/g' # whole requests per second
} )
echo
echo "=== summary (this run)"
echo "$table"
{
  echo "# Benchmarks"
  echo
  echo "The last \`make bench\` run: $(date -u +%F), $machine; load after the run: $(cut -d' ' -f1-3 /proc/loadavg)."
  echo "Every ratio compares figures measured in the same run. Details of each part: \`scripts/bench.d/*.sh\` and their output."
  echo
  echo "$table"
} >BENCH.md
echo
echo "written to BENCH.md"
