#!/usr/bin/env bash
# The one run command: installs what is missing, starts a local redis-server, and runs the four
# processes (web, worker, reconciler, beat) in the foreground until Ctrl-C / SIGTERM, then stops all.
#
# Kubernetes: uses $KUBECONFIG when set; otherwise starts the project's fake API server (with its
# simulated controllers) so a preview's whole life can be watched without a cluster.
# GitHub: uses CATALYST_GITHUB_APP_ID / CATALYST_GITHUB_PRIVATE_KEY(_FILE) when set; otherwise
# starts the fake GitHub server from the tests with a throwaway App key (local mode).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export PATH="$PWD/.tools/bin:$PWD/.venv/bin:$PATH"
export CATALYST_HELM_BIN="${CATALYST_HELM_BIN:-$PWD/.tools/bin/helm}"
run_dir="${CATALYST_DEV_DIR:-$(mktemp -d -t catalyst-dev-XXXX)}"
pids=()
cleanup() {
  trap - EXIT INT TERM
  [ ${#pids[@]} -gt 0 ] && kill -TERM "${pids[@]}" 2>/dev/null
  wait 2>/dev/null
  echo "dev: stopped" >&2
}
trap cleanup EXIT INT TERM

redis_port="${REDIS_PORT:-6390}"
if [ -z "${CATALYST_REDIS_URL:-}" ]; then
  redis-server --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no \
    --maxmemory-policy noeviction --dir "$run_dir" >"$run_dir/redis.log" 2>&1 &
  pids+=($!)
  export CATALYST_REDIS_URL="redis://127.0.0.1:$redis_port/0"
  for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
fi

if [ -z "${KUBECONFIG:-}" ] && [ -z "${KUBERNETES_SERVICE_HOST:-}" ]; then
  python -m tests.kubefake --port "${KUBEFAKE_PORT:-8001}" --controllers \
    --kubeconfig-out "$run_dir/kubeconfig" >"$run_dir/kubefake.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do [ -s "$run_dir/kubeconfig" ] && break; sleep 0.1; done
  export KUBECONFIG="$run_dir/kubeconfig"
  echo "dev: fake Kubernetes API server; KUBECONFIG=$KUBECONFIG" >&2
fi

if [ -z "${CATALYST_GITHUB_APP_ID:-}" ]; then
  python -m tests.support.fake_github_server --port "${FAKE_GITHUB_PORT:-8002}" \
    --key-out "$run_dir/app-key.pem" >"$run_dir/fake-github.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do [ -s "$run_dir/app-key.pem" ] && break; sleep 0.1; done
  export CATALYST_GITHUB_APP_ID=1
  export CATALYST_GITHUB_PRIVATE_KEY_FILE="$run_dir/app-key.pem"
  export CATALYST_GITHUB_API_URL="http://127.0.0.1:${FAKE_GITHUB_PORT:-8002}"
  echo "dev: fake GitHub at $CATALYST_GITHUB_API_URL" >&2
fi

for proc in web worker reconciler beat; do
  catalyst-preview "$proc" &
  pids+=($!)
done
echo "dev: web on http://127.0.0.1:${PORT:-8000} (logs and state in $run_dir); Ctrl-C stops all" >&2
wait -n "${pids[@]}"
echo "dev: a process exited; stopping the others" >&2
exit 1
