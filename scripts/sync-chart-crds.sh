#!/usr/bin/env bash
# Copies the CRDs (crds/*.yaml, the source of truth) into the Helm chart's crds/ directory, which
# Helm installs before the templates. Run it after changing a CRD; tests/deploy/test_chart_crds.py
# fails while the copies differ. `--check` only reports drift (exit 1) without copying.
set -euo pipefail
cd "$(dirname "$0")/.."
src=crds
dest=deploy/chart/crds
mkdir -p "$dest"
if [ "${1:-}" = "--check" ]; then
  diff -r -x examples -x '*.md' -x .gitkeep "$src" "$dest" >/dev/null && exit 0
  echo "sync-chart-crds: $dest differs from $src; run scripts/sync-chart-crds.sh" >&2
  exit 1
fi
find "$dest" -maxdepth 1 -name '*.yaml' -delete
shopt -s nullglob
for crd in "$src"/*.yaml; do
  install -m 0644 "$crd" "$dest/"
done
ls "$dest"
