#!/usr/bin/env bash
# Flake hunt: runs the test command N times in a row (default 3) while Debian's `stress-ng --cpu 1`
# keeps one more core busy, and reports each run's failures. A test that fails even once waits on
# the clock instead of a condition: fix it (poll with a generous deadline), do not retry it.
#
#   scripts/flake-hunt.sh [-n RUNS] [-- TEST COMMAND ...]    (default command: scripts/test.sh)
#
# Installs stress-ng idempotently (apt-get, as scripts/bootstrap.sh does for redis-server). Each
# run's output goes to $FLAKE_DIR (default a new temporary directory)/run-<i>.log; the summary
# lists the failed tests of every run. Exit status: 0 only when every run passed.
# The machine is shared: this takes a long time and a core; run it on purpose, not in CI loops.
set -uo pipefail
cd "$(dirname "$0")/.."

runs=3
while [ $# -gt 0 ]; do
  case "$1" in
    -n) runs="$2"; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "flake-hunt: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ $# -gt 0 ] || set -- scripts/test.sh
case "$runs" in ''|*[!0-9]*) echo "flake-hunt: -n needs a number, got '$runs'" >&2; exit 2 ;; esac

if ! command -v stress-ng >/dev/null 2>&1; then
  echo "flake-hunt: installing stress-ng" >&2
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get install -y -qq stress-ng >/dev/null 2>&1 \
    || { $sudo_cmd apt-get update -qq >/dev/null 2>&1 && $sudo_cmd apt-get install -y -qq stress-ng >/dev/null; } \
    || { echo "flake-hunt: cannot install stress-ng (apt-get install stress-ng)" >&2; exit 1; }
fi

dir="${FLAKE_DIR:-$(mktemp -d -t flake-hunt-XXXX)}"
mkdir -p "$dir"
stress-ng --cpu 1 --timeout 0 --quiet >"$dir/stress-ng.log" 2>&1 &
stress_pid=$!
trap 'kill "$stress_pid" 2>/dev/null; wait "$stress_pid" 2>/dev/null' EXIT
trap 'exit 130' INT TERM
echo "flake-hunt: $runs run(s) of '$*' with stress-ng --cpu 1 (pid $stress_pid); logs in $dir" >&2

failed_runs=0
for i in $(seq "$runs"); do
  log="$dir/run-$i.log"
  start=$(date +%s)
  "$@" >"$log" 2>&1
  rc=$?
  took=$(( $(date +%s) - start ))
  if [ "$rc" -eq 0 ]; then
    echo "flake-hunt: run $i/$runs passed in ${took}s" >&2
  else
    failed_runs=$((failed_runs + 1))
    echo "flake-hunt: run $i/$runs FAILED (exit $rc) in ${took}s; $log:" >&2
    grep -E '^(FAILED|ERROR) |^test: failed steps' "$log" | sed 's/^/flake-hunt:   /' >&2
    tail -n 1 "$log" | sed 's/^/flake-hunt:   /' >&2
  fi
done
echo "flake-hunt: $failed_runs of $runs run(s) failed" >&2
[ "$failed_runs" -eq 0 ]
