"""Fault tolerance against the fake API server: conflicts, 500s, slow calls, restarts."""

from __future__ import annotations

from typing import Any

import pytest

from core import naming
from core.errors import Conflict, TemporaryError
from reconciler.cluster import Cluster
from tests.kubefake import KubeFake
from tests.reconciler.support import ENV_NS, SHA1, environment_obj, make_rig, seed


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


def test_restarted_reconciler_adopts_the_running_build(kubefake: KubeFake) -> None:
    start(kubefake, succeed=True, delay=0.5)
    first = make_rig(kubefake)
    first.run()
    job_name = naming.build_job_name("app", SHA1)
    assert kubefake.get("jobs", job_name, ENV_NS) is not None
    assert first.status()["phase"] == "Building"
    # The first reconciler dies; a fresh one (new client, no memory) takes over.
    second = make_rig(kubefake)
    second.run_until(second.phase_is("Ready"))
    creates = [r for r in kubefake.requests() if r.method == "POST" and r.resource == "jobs"]
    assert len(creates) == 1
    assert second.tokens.calls == []


def test_two_replicas_reconciling_the_same_environment_converge(kubefake: KubeFake) -> None:
    start(kubefake)
    a, b = make_rig(kubefake), make_rig(kubefake)
    for _ in range(200):
        for rig in (a, b):
            try:
                rig.run()
            except TemporaryError:
                pass
        if a.status().get("phase") == "Ready":
            break
    assert a.status()["phase"] == "Ready"
    creates = [r for r in kubefake.requests() if r.method == "POST" and r.resource == "jobs"]
    assert len(creates) <= 2  # a racing create gets AlreadyExists and adopts
    assert len(kubefake.list("jobs", ENV_NS)) == 1
