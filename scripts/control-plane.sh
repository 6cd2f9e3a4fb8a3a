#!/usr/bin/env bash
# Builds the test suite's real Kubernetes control plane from the Go module proxy, pinned by the
# modules under tools/control-plane/: kube-apiserver and kube-controller-manager (k8s.io/kubernetes),
# etcd (go.etcd.io/etcd/server/v3) and kwok (simulated nodes and pods). Idempotent: a binary is
# rebuilt only when its module's go.mod/go.sum changed. Binaries land in .tools/control-plane/bin.
# Prints one progress line per binary with its build time. Exits 3 when Go is not installed.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
out="$root/.tools/control-plane/bin"
mkdir -p "$out"
# One build at a time per output folder (dev.sh and test.sh may start together).
exec 9>"$out/.lock"
flock 9

if ! command -v go >/dev/null 2>&1; then
  echo "control-plane: Go is not installed; install Go >= 1.26 to build the real control plane" >&2
  exit 3
fi
export GOFLAGS="${GOFLAGS:-} -mod=readonly -trimpath"
export CGO_ENABLED=0

# Kubernetes binaries built from the module proxy carry no version unless the linker is told;
# helm and clients refuse a server that says v0.0.0-master.
k8s_version=$(grep -oE 'k8s.io/kubernetes v[0-9]+\.[0-9]+\.[0-9]+' tools/control-plane/kubernetes/go.mod \
  | head -n 1 | cut -d' ' -f2)
[ -n "$k8s_version" ] || { echo "control-plane: no k8s.io/kubernetes version in go.mod" >&2; exit 1; }
k8s_ldflags="-X k8s.io/component-base/version.gitVersion=$k8s_version"
k8s_ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"
k8s_ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=$k8s_version"

# build <module dir> <binary name> <package> [ldflags]
build() {
  local dir="tools/control-plane/$1" name="$2" pkg="$3" ldflags="${4:-}"
  local stamp
  stamp="$out/.$name.$( (cat "$dir/go.mod" "$dir/go.sum"; echo "$ldflags") | sha256sum | cut -c1-16)"
  if [ -x "$out/$name" ] && [ -f "$stamp" ]; then
    echo "control-plane: $name up to date" >&2
    return 0
  fi
  echo "control-plane: building $name ($pkg) ..." >&2
  local start=$SECONDS
  if ! (cd "$dir" && go build -ldflags "$ldflags" -o "$out/$name.tmp" "$pkg") \
    >"$out/$name.build.log" 2>&1; then
    echo "control-plane: building $name failed; last lines of $out/$name.build.log:" >&2
    tail -n 20 "$out/$name.build.log" >&2
    return 1
  fi
  mv "$out/$name.tmp" "$out/$name"
  rm -f "$out/.$name".*
  touch "$stamp"
  echo "control-plane: built $name in $((SECONDS - start)) s" >&2
}

build etcd etcd .
build kubernetes kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$k8s_ldflags"
build kubernetes kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager "$k8s_ldflags"
build kwok kwok sigs.k8s.io/kwok/cmd/kwok
