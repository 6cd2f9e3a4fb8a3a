#!/usr/bin/env bash
# Installs what the browser tests need, idempotently: Debian's chromium (never a downloaded
# browser) and the pinned `playwright-core` from npm into .tools/node_modules. Prints nothing
# when both are already there. Without node/npm, it says so and exits 0: the browser tests then
# skip with that reason instead of failing the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
PLAYWRIGHT_CORE="playwright-core@1.65.2"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if [ ! -x /usr/bin/chromium ]; then
  echo "get-playwright: installing chromium (Debian)" >&2
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq chromium >/dev/null
fi

if ! command -v npm >/dev/null 2>&1; then
  echo "get-playwright: npm not found; the browser tests will be skipped" >&2
  exit 0
fi
installed=".tools/node_modules/playwright-core/package.json"
want="${PLAYWRIGHT_CORE#playwright-core@}"
if [ ! -f "$installed" ] || ! grep -q "\"version\": \"$want\"" "$installed"; then
  echo "get-playwright: installing $PLAYWRIGHT_CORE into .tools/node_modules" >&2
  mkdir -p .tools
  # No browser download (we drive Debian's chromium); --no-save keeps no package.json around.
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --silent --no-save --no-audit --no-fund \
    --prefix .tools "$PLAYWRIGHT_CORE" >/dev/null
fi
