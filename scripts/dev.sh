#!/usr/bin/env bash
# The one run command: installs what is missing, starts a local redis-server, and runs the four
# processes (web, worker, reconciler, beat) in the foreground until Ctrl-C / SIGTERM, then stops all;
# with an OAuth client (CATALYST_GITHUB_CLIENT_ID, or the fake GitHub's) also the dashboard.
#
# Kubernetes: uses $KUBECONFIG when set; otherwise a local API server: the real control plane
# (kube-apiserver, etcd, kube-controller-manager, kwok from .tools/control-plane/bin, built by
# scripts/control-plane.sh) when it is built, else the project's fake API server with its simulated
# controllers (CATALYST_DEV_KUBE=fake picks it anyway), so a preview's whole life can be watched
# without a cluster.
# GitHub: uses CATALYST_GITHUB_APP_ID / CATALYST_GITHUB_PRIVATE_KEY(_FILE) when set; otherwise
# starts the fake GitHub server from the tests with a throwaway App key (local mode).
# Ports (all on 127.0.0.1): PORT (web, 8000), REDIS_PORT (6390), KUBEFAKE_PORT (8001),
# FAKE_GITHUB_PORT (8002), DASHBOARD_PORT (8080). A port in use stops it at once, naming the process holding it.
# Settings: the ones the stack uses are written to $CATALYST_DEV_ENV (default .catalyst-dev.env),
# which every `catalyst-preview` command reads (doctor, replay, ...); removed again on exit.
# Walkthrough: docs/local-run.md.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export PATH="$PWD/.tools/bin:$PWD/.venv/bin:$PATH"
export CATALYST_HELM_BIN="${CATALYST_HELM_BIN:-$PWD/.tools/bin/helm}"

# A missing or malformed setting stops here, with the same one line the web process would print.
python -c 'import sys; from cli.main import require_base; require_base("web")' || exit 2

web_port="${PORT:-8000}"
redis_port="${REDIS_PORT:-6390}"
kube_port="${KUBEFAKE_PORT:-8001}"
github_port="${FAKE_GITHUB_PORT:-8002}"
settings_file="${CATALYST_DEV_ENV:-$PWD/.catalyst-dev.env}"
local_kube=$([ -z "${KUBECONFIG:-}" ] && [ -z "${KUBERNETES_SERVICE_HOST:-}" ] && echo 1 || true)
control_plane="${CATALYST_CONTROL_PLANE_BIN:-.tools/control-plane/bin}"
real_control_plane=$(
  for b in kube-apiserver etcd kube-controller-manager kwok; do [ -x "$control_plane/$b" ] || exit; done
  [ -f tests/support/control_plane.py ] && [ "${CATALYST_DEV_KUBE:-auto}" != fake ] && echo 1
) || true

# --- ports: stop before starting anything when one is taken ----------------------------------
port_user() { # "pid N: command line" of the process listening on port $1, when we may see it
  local pid
  pid=$(ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
  if [ -n "$pid" ]; then
    echo "pid $pid: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-160)"
  else
    echo "a process of another user"
  fi
}
check_port() { # name port variable
  if ss -Hltn "sport = :$2" 2>/dev/null | grep -q .; then
    echo "dev: port $2 ($1, set $3 to change it) is already in use by $(port_user "$2")" >&2
    echo "dev: is another scripts/dev.sh running? Nothing was started." >&2
    exit 3
  fi
}
check_port web "$web_port" PORT
[ -n "${CATALYST_REDIS_URL:-}" ] || check_port redis "$redis_port" REDIS_PORT
[ -z "$local_kube" ] || [ -n "$real_control_plane" ] || check_port "fake Kubernetes API" "$kube_port" KUBEFAKE_PORT
[ -n "${CATALYST_GITHUB_APP_ID:-}" ] || check_port "fake GitHub" "$github_port" FAKE_GITHUB_PORT

run_dir="${CATALYST_DEV_DIR:-$(mktemp -d -t catalyst-dev-XXXX)}"
mkdir -p "$run_dir"
export TMPDIR="$run_dir" # beat's schedule file and other scratch files stay in the run dir
pids=()
declare -A names logs
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
  if [ -f "$settings_file" ] && grep -q "^# dev.sh pid $$\$" "$settings_file"; then
    rm -f "$settings_file"
  fi
  echo "dev: stopped" >&2
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start() { # name log command...: run in the background, remembered for reporting
  local name=$1 log=$2
  shift 2
  "$@" >"$log" 2>&1 &
  pids+=($!)
  names[$!]=$name
  logs[$!]=$log
}
report_exit() { # pid status: name the process that ended and show why
  echo "dev: ${names[$1]} (pid $1) exited with status $2; last lines of ${logs[$1]}:" >&2
  tail -n 15 "${logs[$1]}" | sed 's/^/dev:   | /' >&2
  echo "dev: stopping the others" >&2
}
await() { # what command...: poll until the command succeeds; a process that dies stops dev.sh
  local what=$1 pid
  shift
  for _ in $(seq 1200); do # 120 s: generous on a busy machine
    "$@" >/dev/null 2>&1 && return 0
    for pid in "${pids[@]}"; do
      if ! kill -0 "$pid" 2>/dev/null; then
        wait "$pid" && status=0 || status=$?
        report_exit "$pid" "$status"
        exit 1
      fi
    done
    sleep 0.1
  done
  echo "dev: $what did not come up within 120 s; see the logs in $run_dir" >&2
  exit 1
}

if [ -z "${CATALYST_REDIS_URL:-}" ]; then
  start redis "$run_dir/redis.log" redis-server --bind 127.0.0.1 --port "$redis_port" --save '' \
    --appendonly no --maxmemory-policy noeviction --dir "$run_dir"
  export CATALYST_REDIS_URL="redis://127.0.0.1:$redis_port/0"
  await redis redis-cli -p "$redis_port" ping
fi

kube_api=""
if [ -n "$local_kube" ]; then
  if [ -n "$real_control_plane" ]; then
    # etcd, kube-apiserver, kube-controller-manager and a kwok node; it installs crds/ itself
    start "control plane" "$run_dir/control-plane.log" \
      python -m tests.support.control_plane serve "$run_dir"
    await "the control plane" test -s "$run_dir/kubeconfig"
    kube_api="real control plane (logs: $run_dir/control-plane.log, $run_dir/control-plane/)"
  else
    start "fake Kubernetes API server" "$run_dir/kubefake.log" python -m tests.kubefake \
      --host 127.0.0.1 --port "$kube_port" --controllers all --kubeconfig-out "$run_dir/kubeconfig"
    await "the fake Kubernetes API server" test -s "$run_dir/kubeconfig"
    kube_api="fake API server at http://127.0.0.1:$kube_port (.tools/control-plane not built)"
  fi
  export KUBECONFIG="$run_dir/kubeconfig"
  export POD_NAMESPACE="${POD_NAMESPACE:-default}" # the reconciler's Lease lives here
fi

github=""
if [ -z "${CATALYST_GITHUB_APP_ID:-}" ]; then
  start "fake GitHub" "$run_dir/fake-github.log" python -m tests.support.fake_github_server \
    --port "$github_port" --key-out "$run_dir/app-key.pem" --state-dir "$run_dir"
  await "the fake GitHub" test -s "$run_dir/app-key.pem"
  export CATALYST_GITHUB_APP_ID=1
  export CATALYST_GITHUB_PRIVATE_KEY_FILE="$run_dir/app-key.pem"
  export CATALYST_GITHUB_API_URL="http://127.0.0.1:$github_port"
  github="fake at $CATALYST_GITHUB_API_URL (state: $run_dir/github-state.json)"
  # The dashboard signs in through the fake's OAuth pages (as octocat, admin on acme/shop).
  export CATALYST_GITHUB_WEB_URL="$CATALYST_GITHUB_API_URL"
  export CATALYST_GITHUB_CLIENT_ID="${CATALYST_GITHUB_CLIENT_ID:-Iv1.localdev}"
  export CATALYST_GITHUB_CLIENT_SECRET="${CATALYST_GITHUB_CLIENT_SECRET:-localdev-oauth-secret}"
fi

processes=(web worker reconciler beat)
if [ -n "${CATALYST_GITHUB_CLIENT_ID:-}" ]; then
  dashboard_port="${DASHBOARD_PORT:-8080}"
  export DASHBOARD_PORT="$dashboard_port"
  export CATALYST_DASHBOARD_URL="${CATALYST_DASHBOARD_URL:-http://127.0.0.1:$dashboard_port}"
  export CATALYST_DASHBOARD_INSECURE_HTTP="${CATALYST_DASHBOARD_INSECURE_HTTP:-true}"
  if [ -z "${CATALYST_DASHBOARD_SESSION_KEY:-}" ]; then # a fresh key per run: sign in again
    CATALYST_DASHBOARD_SESSION_KEY="$(python -c 'import secrets; print(secrets.token_hex(32))')"
    export CATALYST_DASHBOARD_SESSION_KEY
  fi
  processes+=(dashboard)
fi

for proc in "${processes[@]}"; do
  case "$proc" in
    web) start web "$run_dir/web.log" catalyst-preview web --host 127.0.0.1 --port "$web_port" ;;
    dashboard)
      start dashboard "$run_dir/dashboard.log" \
        catalyst-preview dashboard --host 127.0.0.1 --port "$dashboard_port"
      ;;
    *) start "$proc" "$run_dir/$proc.log" catalyst-preview "$proc" ;;
  esac
done
web_url="http://127.0.0.1:$web_port"
await "web" curl -fsS "$web_url/readyz"

write_settings() { # KEY=value lines, single-quoted so both `.` and the CLI read them
  local key
  echo "# Settings of the local stack, written by scripts/dev.sh; removed when it stops."
  echo "# Every catalyst-preview command reads this file (the environment wins)."
  echo "# dev.sh pid $$"
  for key in CATALYST_WEBHOOK_SECRET CATALYST_REDIS_URL KUBECONFIG POD_NAMESPACE \
    CATALYST_GITHUB_APP_ID CATALYST_GITHUB_PRIVATE_KEY_FILE CATALYST_GITHUB_API_URL \
    CATALYST_HELM_BIN CATALYST_PREVIEW_DOMAIN; do
    [ -n "${!key:-}" ] && printf "%s='%s'\n" "$key" "${!key//\'/\'\\\'\'}"
  done
  printf "CATALYST_REPLAY_URL='%s'\nCATALYST_DEV_DIR='%s'\n" "$web_url/webhook" "$run_dir"
}
(umask 077 && write_settings >"$settings_file")

{
  echo "dev: ready; Ctrl-C stops all"
  echo "dev:   web          $web_url (webhook: $web_url/webhook)"
  if [ -n "${dashboard_port:-}" ]; then echo "dev:   dashboard    $CATALYST_DASHBOARD_URL"; fi
  echo "dev:   kubernetes   ${kube_api:-your cluster}; KUBECONFIG=${KUBECONFIG:-in-cluster}"
  echo "dev:   redis        $CATALYST_REDIS_URL"
  echo "dev:   github       ${github:-your App at ${CATALYST_GITHUB_API_URL:-https://api.github.com}}"
  echo "dev:   logs         $run_dir/{$(IFS=,; echo "${processes[*]}")}.log (and the helpers' logs)"
  echo "dev:   settings     $settings_file (read by catalyst-preview doctor, replay, ...)"
  for pid in "${pids[@]}"; do echo "dev:   pid ${pid}  ${names[$pid]}"; done
} >&2

set +e
wait -n -p exited "${pids[@]}"
status=$?
set -e
if [ -n "${exited:-}" ]; then report_exit "$exited" "$status"; fi
exit 1
