"""The shared read/exec layer (core.clients.workloads) against the fake API server."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from core.clients.workloads import Workloads
from tests.kubefake import KubeFake
from tests.support import dashboard_world as world


@pytest.fixture
def kf() -> Iterator[KubeFake]:
    with KubeFake() as fake:
        world.seed_cluster(fake)
        yield fake


def test_reads_pods_events_and_log_tail(kf: KubeFake) -> None:
    w = Workloads(kf.api_client())
    assert [p["metadata"]["name"] for p in w.pods(world.ENV_NS)] == [world.POD]
    assert {e["reason"] for e in w.events(world.ENV_NS)} == {"Pulled", "BackOff"}
    tail = w.log_tail(world.ENV_NS, world.POD, container=world.CONTAINER, lines=1)
    assert tail == "GET / 200\n"
    assert w.namespace_exists(world.ENV_NS) and not w.namespace_exists("acme-shop-pr-9")


def test_metrics_not_served_is_none(kf: KubeFake) -> None:
    assert Workloads(kf.api_client()).pod_metrics(world.ENV_NS) is None


def test_follow_log_yields_lines_as_they_are_written(kf: KubeFake) -> None:
    w, stop = Workloads(kf.api_client()), threading.Event()
    lines = w.follow_log(world.ENV_NS, world.POD, container=None, lines=10, stop=stop)
    assert [next(lines), next(lines)] == ["server listening on :8080", "GET / 200"]
    world.append_log(kf, "GET /health 200\n")
    assert next(lines) == "GET /health 200"
    stop.set()
    lines.close()


def test_exec_runs_a_command_and_resizes(kf: KubeFake) -> None:
    shell = Workloads(kf.api_client()).exec(
        world.ENV_NS, world.POD, container=world.CONTAINER, command=["sh"], tty=True
    )
    shell.resize(cols=120, rows=40)
    shell.write("echo hello-from-pod\r")
    seen = ""
    while "hello-from-pod\r\n$ " not in seen:
        seen += shell.read(1.0).stdout
    shell.write("exit 3\r")
    while shell.read(1.0).open:
        pass
    assert shell.exit_code == 3
    record = kf.api.exec_log[-1]
    assert record.resizes == [(120, 40)]
    assert record.lines == ["echo hello-from-pod", "exit 3"]
    assert record.container == world.CONTAINER and record.tty
