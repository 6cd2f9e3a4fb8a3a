#!/usr/bin/env bash
# Runs every benchmark in benchmarks/ (by hand; never part of the test command). Each prints its
# numbers and ratios against a baseline measured in the same run. Pass names to run only some:
#   scripts/bench.sh receiver github_costs reconciler_resync latency
# `latency` runs the four processes on the real control plane (scripts/control-plane.sh builds it;
# without it the benchmark falls back to the fake API server and says so).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
# The receiver benchmark drives load with wrk (its own process) when present.
if ! command -v wrk >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then apt-get install -y -qq wrk >/dev/null || true; fi
fi
export PATH="$PWD/.tools/bin:$PWD/.venv/bin:$PATH"
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(receiver github_costs reconciler_resync kubefake_requests latency)
for name in "${names[@]}"; do
  echo "== benchmarks.$name" >&2
  python -m "benchmarks.$name"
done
