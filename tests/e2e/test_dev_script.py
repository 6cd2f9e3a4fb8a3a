"""E2e: `scripts/dev.sh` brings the local stack up, keeps it up, and stops all of it on SIGTERM.

dev.sh runs in its own session on random free ports (PORT, REDIS_PORT, KUBEFAKE_PORT,
FAKE_GITHUB_PORT), with the fake Kubernetes API server and the fake GitHub server (no cluster,
no App configured). Teardown kills the session's process group whatever happens, so a failing
test leaves no orphans either.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]
SIGNATURES = {  # words each process's command line contains
    "web": ("uvicorn", "webhook.app:make_app"),
    "worker": ("workers.celery_app:app", " worker "),
    "reconciler": ("-m reconciler",),
    "beat": ("workers.celery_app:app", " beat "),
    "dashboard": ("uvicorn", "dashboard.app:make_app"),
}


def descendants(pid: int) -> dict[int, str]:
    """Every live descendant of `pid` with its command line (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found: dict[int, str] = {}
    todo = list(children.get(pid, []))
    while todo:
        child = todo.pop()
        found[child] = _cmdline(child)
        todo.extend(children.get(child, []))
    return found


def _cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def dev_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The caller's environment without catalyst/cluster settings, on free ports."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CATALYST_")}
    for key in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "POD_NAMESPACE"):
        env.pop(key, None)
    ports = {n: str(free_port()) for n in ("PORT", "REDIS_PORT", "KUBEFAKE_PORT", "DASHBOARD_PORT")}
    return {
        **env,
        **ports,
        "FAKE_GITHUB_PORT": str(free_port()),
        "CATALYST_DEV_DIR": str(tmp_path),
        "CATALYST_DEV_ENV": str(tmp_path / "catalyst-dev.env"),  # never the repository's
        "CATALYST_DEV_KUBE": "fake",  # what this file checks does not need the real control plane
        **extra,
    }


@pytest.fixture
def dev_script(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], dict[str, str]]]:
    """dev.sh running in its own session; its whole process group is killed afterwards."""
    env = dev_env(tmp_path, CATALYST_WEBHOOK_SECRET="dev-secret")
    with open(tmp_path / "dev.out", "wb") as out:
        proc = subprocess.Popen(
            [str(ROOT / "scripts" / "dev.sh")],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield proc, env
    finally:
        kill_session(proc)


def kill_session(proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """SIGKILL the whole session `proc` leads (dev.sh and everything it started), then reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=timeout)


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).is_success
    except httpx.HTTPError:
        return False


def wait_for(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not answers(url):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"{url} never answered:\n{log.read_text(errors='replace')}")
        time.sleep(0.2)


def test_dev_script_runs_all_four_and_stops_everything_on_sigterm(
    dev_script: tuple[subprocess.Popen[bytes], dict[str, str]], tmp_path: Path
) -> None:
    proc, env = dev_script
    web = f"http://127.0.0.1:{env['PORT']}"
    wait_for(f"{web}/healthz", proc, tmp_path / "dev.out")
    wait_for(f"{web}/readyz", proc, tmp_path / "dev.out")
    wait_for(f"http://127.0.0.1:{env['DASHBOARD_PORT']}/healthz", proc, tmp_path / "dev.out")
    time.sleep(4)  # long enough for a process that cannot run to have died
    running = descendants(proc.pid)
    for name, words in SIGNATURES.items():
        found = [cmd for cmd in running.values() if all(w in cmd for w in words)]
        assert found, f"{name} is not running: {running}"
    assert proc.poll() is None
    assert answers(f"http://127.0.0.1:{env['FAKE_GITHUB_PORT']}/_fake/state")
    shown = (tmp_path / "dev.out").read_text()
    for where in (web, env["REDIS_PORT"], f"{tmp_path}/kubeconfig", env["FAKE_GITHUB_PORT"]):
        assert where in shown, shown  # dev.sh says where everything is
    settings = Path(env["CATALYST_DEV_ENV"]).read_text()
    assert f"CATALYST_REPLAY_URL='{web}/webhook'" in settings
    assert f"KUBECONFIG='{tmp_path}/kubeconfig'" in settings
    web_cmd = next(cmd for cmd in running.values() if all(w in cmd for w in SIGNATURES["web"]))
    assert "--host 127.0.0.1" in web_cmd

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) != 0
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in running) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [cmd for pid, cmd in running.items() if alive(pid)] == []
    assert "dev: stopped" in (tmp_path / "dev.out").read_text()
    assert not Path(env["CATALYST_DEV_ENV"]).exists()  # no stale settings for the next command


def test_dev_script_without_webhook_secret_stops_at_once_with_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(ROOT / "scripts" / "dev.sh")],
        env=dev_env(tmp_path),
        capture_output=True,
        timeout=120,
        start_new_session=True,
    )
    assert result.returncode == 2
    lines = result.stderr.decode().strip().splitlines()
    errors = [line for line in lines if "configuration error" in line]
    assert len(errors) == 1 and "CATALYST_WEBHOOK_SECRET is missing" in errors[0]
    assert not any(line.startswith("dev: ") for line in lines)  # nothing was started


def test_a_port_in_use_stops_dev_sh_at_once_naming_the_port_and_its_process(
    tmp_path: Path,
) -> None:
    env = dev_env(tmp_path, CATALYST_WEBHOOK_SECRET="dev-secret")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP) as taken:
        taken.bind(("127.0.0.1", int(env["FAKE_GITHUB_PORT"])))
        taken.listen()
        result = subprocess.run(
            [str(ROOT / "scripts" / "dev.sh")],
            env=env,
            capture_output=True,
            timeout=300,
            start_new_session=True,
        )
    err = result.stderr.decode()
    assert result.returncode == 3, err
    assert f"port {env['FAKE_GITHUB_PORT']} (fake GitHub, set FAKE_GITHUB_PORT" in err
    assert f"pid {os.getpid()}:" in err  # the process holding it, by pid and command line
    assert not Path(env["CATALYST_DEV_ENV"]).exists() and "dev: redis" not in err
