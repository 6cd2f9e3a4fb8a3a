"""Fault tolerance: injected conflicts, 500s and slow calls on ``tests/kubefake`` (only the fake
injects them on demand); restarts and racing replicas on the real control plane."""

from __future__ import annotations

import time
from typing import Any

import pytest

from core import naming
from core.errors import Conflict, TemporaryError
from reconciler.cluster import Cluster
from tests.kubefake import KubeFake
from tests.reconciler.support import SETTINGS, SHA1, Live, environment_obj, make_rig, seed
from tests.support.control_plane import ControlPlane
from tests.support.waiting import wait_for


def start(kubefake: KubeFake, **outcome: Any) -> None:
    seed(kubefake)
    kubefake.controllers.enable("jobs", "deployments", "namespaces")
    if outcome:
        kubefake.controllers.job_outcome("build-*", **outcome)
    kubefake.put_object(environment_obj())


def test_conflict_on_status_write_is_retried_to_ready(kubefake: KubeFake) -> None:
    start(kubefake)
    rig = make_rig(kubefake)
    fault = kubefake.fault(status=409, resource="environments", times=3, path=r"/status$")
    errors: list[Exception] = []

    def run_tolerant() -> bool:
        try:
            rig.run()
        except Conflict as exc:
            errors.append(exc)
        return rig.status().get("phase") == "Ready"

    for _ in range(200):
        if run_tolerant():
            break
    assert rig.status()["phase"] == "Ready"
    assert fault.hits == 3 and len(errors) == 3


def test_conflict_on_finalizer_write_is_retried(kubefake: KubeFake) -> None:
    start(kubefake)
    rig = make_rig(kubefake)
    kubefake.fault(status=409, resource="environments", method="PATCH", times=1, path=r"pr-1$")
    with pytest.raises(Conflict):
        rig.run()
    rig.run_until(rig.phase_is("Ready"))
    env: Any = rig.env()
    assert env["metadata"]["finalizers"] == [naming.FINALIZER]


def test_server_errors_and_slow_responses_are_survived(kubefake: KubeFake) -> None:
    start(kubefake)
    rig = make_rig(kubefake)
    rig.reconciler.cluster = Cluster(kubefake.api_client(), timeout=0.5)
    kubefake.fault(status=500, resource="deployments", times=2)
    kubefake.fault(status=None, delay=1.0, resource="ingresses", times=1)
    failures = 0
    for _ in range(300):
        try:
            rig.run()
        except TemporaryError:
            failures += 1
        if rig.status().get("phase") == "Ready":
            break
    assert rig.status()["phase"] == "Ready"
    assert failures >= 2


def test_restarted_reconciler_adopts_the_running_build(
    live: Live, control_plane: ControlPlane
) -> None:
    live.seed()
    ns, job_name = live.env_ns(), naming.build_job_name("app", SHA1)
    with control_plane.rules.image_missing(SETTINGS.builder_image):  # the build keeps running
        live.kube.put_object(live.environment())
        first = live.rig()
        first.run()
        job: Any = wait_for("the build Job", lambda: live.kube.get("jobs", job_name, ns))
        assert first.status()["phase"] == "Building"
        # The first reconciler dies; a fresh one (new client, no memory) takes over.
        second = live.rig()
        second.run()
        assert second.status()["phase"] == "Building"
    second.run_until(second.phase_is("Ready"))
    adopted: Any = live.kube.get("jobs", job_name, ns)
    assert adopted["metadata"]["uid"] == job["metadata"]["uid"]  # not recreated
    assert second.tokens.calls == []


def test_two_replicas_reconciling_the_same_environment_converge(live: Live) -> None:
    live.seed()
    live.kube.put_object(live.environment())
    a, b = live.rig(), live.rig()
    deadline = time.monotonic() + 60
    while a.status().get("phase") != "Ready":
        assert time.monotonic() < deadline, a.status()
        for rig in (a, b):
            try:
                rig.run()
            except TemporaryError:
                pass  # a racing write lost: the next pass adopts what the other made
    assert [j["metadata"]["name"] for j in live.kube.list("jobs", live.env_ns())] == [
        naming.build_job_name("app", SHA1)
    ]
