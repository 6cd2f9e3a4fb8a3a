#!/usr/bin/env bash
# The one run command: installs what is missing, starts a local redis-server, and runs the four
# processes (web, worker, reconciler, beat) in the foreground until Ctrl-C / SIGTERM, then stops all.
#
# Kubernetes: uses $KUBECONFIG when set; otherwise starts the project's fake API server (with its
# simulated controllers) so a preview's whole life can be watched without a cluster.
# GitHub: uses CATALYST_GITHUB_APP_ID / CATALYST_GITHUB_PRIVATE_KEY(_FILE) when set; otherwise
# starts the fake GitHub server from the tests with a throwaway App key (local mode).
# Ports: PORT (web, 8000), REDIS_PORT (6390), KUBEFAKE_PORT (8001), FAKE_GITHUB_PORT (8002).
# Walkthrough: docs/local-run.md.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export PATH="$PWD/.tools/bin:$PWD/.venv/bin:$PATH"
export CATALYST_HELM_BIN="${CATALYST_HELM_BIN:-$PWD/.tools/bin/helm}"

# A missing or malformed setting stops here, with the same one line the web process would print.
python -c 'import sys; from cli.main import require_base; require_base("web")' || exit 2

run_dir="${CATALYST_DEV_DIR:-$(mktemp -d -t catalyst-dev-XXXX)}"
export TMPDIR="$run_dir" # beat's schedule file and other scratch files stay in the run dir
pids=()
cleanup() {
  trap - EXIT INT TERM
  if [ ${#pids[@]} -gt 0 ]; then
    kill -TERM "${pids[@]}" 2>/dev/null || true
    for _ in $(seq 100); do
      kill -0 "${pids[@]}" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "${pids[@]}" 2>/dev/null || true
    wait 2>/dev/null || true
  fi
  echo "dev: stopped" >&2
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

redis_port="${REDIS_PORT:-6390}"
if [ -z "${CATALYST_REDIS_URL:-}" ]; then
  redis-server --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no \
    --maxmemory-policy noeviction --dir "$run_dir" >"$run_dir/redis.log" 2>&1 &
  pids+=($!)
  export CATALYST_REDIS_URL="redis://127.0.0.1:$redis_port/0"
  for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
fi

if [ -z "${KUBECONFIG:-}" ] && [ -z "${KUBERNETES_SERVICE_HOST:-}" ]; then
  python -m tests.kubefake --port "${KUBEFAKE_PORT:-8001}" --controllers all \
    --kubeconfig-out "$run_dir/kubeconfig" >"$run_dir/kubefake.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do [ -s "$run_dir/kubeconfig" ] && break; sleep 0.1; done
  export KUBECONFIG="$run_dir/kubeconfig"
  export POD_NAMESPACE="${POD_NAMESPACE:-default}" # the reconciler's Lease lives here
  echo "dev: fake Kubernetes API server; KUBECONFIG=$KUBECONFIG" >&2
fi

if [ -z "${CATALYST_GITHUB_APP_ID:-}" ]; then
  python -m tests.support.fake_github_server --port "${FAKE_GITHUB_PORT:-8002}" \
    --key-out "$run_dir/app-key.pem" --state-dir "$run_dir" >"$run_dir/fake-github.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do [ -s "$run_dir/app-key.pem" ] && break; sleep 0.1; done
  export CATALYST_GITHUB_APP_ID=1
  export CATALYST_GITHUB_PRIVATE_KEY_FILE="$run_dir/app-key.pem"
  export CATALYST_GITHUB_API_URL="http://127.0.0.1:${FAKE_GITHUB_PORT:-8002}"
  echo "dev: fake GitHub at $CATALYST_GITHUB_API_URL (state: $run_dir/github-state.json)" >&2
fi

for proc in web worker reconciler beat; do
  catalyst-preview "$proc" >"$run_dir/$proc.log" 2>&1 &
  pids+=($!)
  echo "dev: $proc pid $! (log $run_dir/$proc.log)" >&2
done
echo "dev: web on http://127.0.0.1:${PORT:-8000} (logs and state in $run_dir); Ctrl-C stops all" >&2
wait -n "${pids[@]}" || true
echo "dev: a process exited; stopping the others" >&2
exit 1
