#!/usr/bin/env bash
# The one test command: installs what is missing (idempotent), then runs lint, types, layering and
# the whole pytest suite. Exits non-zero if any step fails; pytest's own exit code is kept.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh || { echo "test: bootstrap failed" >&2; exit 1; }
# The real control plane (kube-apiserver, etcd, kube-controller-manager, kwok), built from the Go
# module proxy and cached in .tools/control-plane. Mandatory with CI=true; elsewhere a machine
# without Go skips that tier with one loud line (the fixture says so again in pytest's output).
scripts/control-plane.sh
cp_rc=$?
if [ "$cp_rc" -ne 0 ]; then
  if [ "${CI:-}" = "true" ]; then
    echo "test: the real control plane could not be built (mandatory with CI=true)" >&2
    exit 1
  fi
  echo "test: *** REAL CONTROL PLANE NOT BUILT: its tests will be skipped; install Go >= 1.26 and rerun ***" >&2
fi
export PATH="$PWD/.tools/bin:$PWD/.venv/bin:$PATH"
export CATALYST_HELM_BIN="${CATALYST_HELM_BIN:-$PWD/.tools/bin/helm}"

failed=()
step() { echo "== $*" >&2; "$@" || failed+=("$1"); }

step ruff check .
step ruff format --check .
step mypy core cli webhook workers reconciler dashboard tests benchmarks
step lint-imports
echo "== pytest" >&2
pytest "$@"
rc=$?

if [ ${#failed[@]} -gt 0 ]; then
  echo "test: failed steps: ${failed[*]}" >&2
  [ "$rc" -eq 0 ] && rc=1
fi
exit "$rc"
