#!/usr/bin/env bash
# Vendors xterm.js and its fit addon (pinned) from npm into dashboard/static/vendor/.
# The files are committed, so a fresh clone, the image build and scripts/test.sh need no npm;
# run this only to change the versions (edit the pins below), then commit the result.
# `npm pack` checks each tarball against the registry's integrity hash.
set -euo pipefail
cd "$(dirname "$0")/.."
XTERM="@xterm/xterm@6.0.0"
FIT="@xterm/addon-fit@0.11.0"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$XTERM" "$FIT" >/dev/null)
mkdir -p "$work/xterm" "$work/fit"
tar -xzf "$work"/xterm-xterm-*.tgz -C "$work/xterm"
tar -xzf "$work"/xterm-addon-fit-*.tgz -C "$work/fit"

out=dashboard/static/vendor
rm -rf "$out/xterm" "$out/xterm-addon-fit"
mkdir -p "$out/xterm" "$out/xterm-addon-fit"
cp "$work/xterm/package/lib/xterm.js" "$work/xterm/package/css/xterm.css" \
  "$work/xterm/package/LICENSE" "$out/xterm/"
cp "$work/fit/package/lib/addon-fit.js" "$work/fit/package/LICENSE" "$out/xterm-addon-fit/"
printf '%s\n%s\n' "$XTERM" "$FIT" >"$out/VERSIONS"
echo "vendored $XTERM and $FIT into $out" >&2
