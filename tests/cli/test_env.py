"""`catalyst-preview env list|show|logs|exec` against the fake API server (a kubeconfig)."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli.env import run_env
from cli.main import build_parser
from tests.kubefake import KubeFake
from tests.support import dashboard_world as world

KEY = f"{world.PROJECT_NS}/{world.ENV_NAME}"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[KubeFake, Path]]:
    with KubeFake() as kf:
        world.seed_cluster(kf)
        yield kf, kf.write_kubeconfig(tmp_path_factory.mktemp("env-cli") / "kubeconfig")


@pytest.fixture
def kf(cluster: tuple[KubeFake, Path], monkeypatch: pytest.MonkeyPatch) -> KubeFake:
    monkeypatch.setenv("KUBECONFIG", str(cluster[1]))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    return cluster[0]


def env(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_env(build_parser().parse_args(["env", *args]), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_list_shows_every_environment_and_filters(kf: KubeFake) -> None:
    code, out, _ = env("list")
    assert code == 0
    header, *rows = out.splitlines()
    assert header.split() == ["ENVIRONMENT", "PROJECT", "PR", "PHASE", "URL", "COMMIT", "AGE"]
    assert any(r.startswith(KEY) and "acme/shop#1" in r and "Ready" in r for r in rows)
    assert env("list", "--phase", "Failed")[1].splitlines()[1:] == []


def test_show_prints_conditions_pods_events_and_the_metrics_line(kf: KubeFake) -> None:
    code, out, _ = env("show", KEY)
    assert code == 0
    assert "RolloutComplete" in out and "web: OOMKilled (exit 137)" in out
    assert "back-off restarting" in out
    assert "metrics: not available (this cluster does not serve metrics.k8s.io)" in out


def test_logs_tail_of_the_named_service(kf: KubeFake) -> None:
    code, out, _ = env("logs", KEY, "--service", world.CONTAINER, "--tail", "1")
    assert (code, out) == (0, "GET / 200\n")
    code, _, err = env("logs", KEY, "--service", "db")
    assert code == 1 and "a container or app named 'db'" in err


def test_logs_follow_prints_new_lines(kf: KubeFake, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = threading.Event()

    class Out(io.StringIO):
        def write(self, text: str) -> int:
            if "from-follow" in text:
                seen.set()
                raise KeyboardInterrupt  # the person presses Ctrl-C once they saw it
            return super().write(text)

    out = Out()
    args = build_parser().parse_args(["env", "logs", KEY, "--follow"])
    writer = threading.Thread(target=_append_when_following, args=(kf,))
    writer.start()
    assert run_env(args, out=out, err=io.StringIO()) == 0
    writer.join()
    assert seen.is_set() and "GET / 200" in out.getvalue()


def _append_when_following(kf: KubeFake) -> None:
    # Appended once the CLI's follow request is open (seen in the fake's request log).
    deadline = time.monotonic() + 60
    while not any(r.query.get("follow") == "true" for r in kf.requests()):
        assert time.monotonic() < deadline, "the CLI never opened a followed log"
        threading.Event().wait(0.05)
    world.append_log(kf, "GET /x 200 from-follow\n")


def test_exec_runs_a_command_and_returns_its_exit_code(kf: KubeFake) -> None:
    code, out, _ = env("exec", KEY, "--", "hostname")
    assert (code, out) == (0, world.POD + "\n")
    assert kf.api.exec_log[-1].command == ["hostname"] and not kf.api.exec_log[-1].tty
    assert env("exec", KEY, "--", "false-command")[0] == 127


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("show", "no-slash"), 2, "expected NAMESPACE/NAME"),
        (("show", f"{world.PROJECT_NS}/pr-404"), 1, "not found (likely deleted, torn down"),
    ],
)
def test_clear_errors(kf: KubeFake, args: tuple[str, ...], code: int, message: str) -> None:
    got, _, err = env(*args)
    assert got == code and message in err and "Traceback" not in err


def test_no_cluster_access_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    code, _, err = env("list")
    assert code == 1 and err.startswith("catalyst-preview env list: no cluster access")
    assert len(err.splitlines()) == 1
