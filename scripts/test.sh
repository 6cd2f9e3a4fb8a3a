#!/usr/bin/env bash
# The one test command: installs what is missing (idempotent), then runs lint, types, layering and
# the whole pytest suite. Exits non-zero if any step fails; pytest's own exit code is kept.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh || { echo "test: bootstrap failed" >&2; exit 1; }
export PATH="$PWD/.tools/bin:$PWD/.venv/bin:$PATH"
export CATALYST_HELM_BIN="${CATALYST_HELM_BIN:-$PWD/.tools/bin/helm}"

failed=()
step() { echo "== $*" >&2; "$@" || failed+=("$1"); }

step ruff check .
step ruff format --check .
step mypy core webhook workers reconciler dashboard tests benchmarks
step lint-imports
echo "== pytest" >&2
pytest "$@"
rc=$?

if [ ${#failed[@]} -gt 0 ]; then
  echo "test: failed steps: ${failed[*]}" >&2
  [ "$rc" -eq 0 ] && rc=1
fi
exit "$rc"
