#!/usr/bin/env bash
# make bench: runs every scripts/bench.d/*.sh in order. Each prints its own
# table of figures measured in this run (ratios against the real thing).
set -euo pipefail
cd "$(dirname "$0")/.."
for s in scripts/bench.d/*.sh; do
  [ -e "$s" ] || continue
  echo "=== $s"
  bash "$s"
done
