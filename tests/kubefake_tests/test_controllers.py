"""Simulated controllers: Jobs finish, Deployments/StatefulSets become available."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from kubernetes import client

from tests.kubefake import KubeFake

from .helpers import typed

M = client.V1ObjectMeta


def wait_for(read: Callable[[], Any], ok: Callable[[Any], bool], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while not ok(value := read()):
        assert time.monotonic() < deadline, f"not reached: {value}"
        time.sleep(0.01)
    return value


def _job(name: str) -> client.V1Job:
    template = client.V1PodTemplateSpec(
        spec=client.V1PodSpec(
            restart_policy="Never", containers=[client.V1Container(name="c", image="i")]
        )
    )
    return client.V1Job(metadata=M(name=name), spec=client.V1JobSpec(template=template))


def _conditions(job: Any) -> dict[str, Any]:
    return {c.type: c for c in (job.status.conditions or [])} if job.status else {}


def test_jobs_stay_pending_while_controller_is_off(kf: KubeFake) -> None:
    batch = typed(client.BatchV1Api, kf)
    batch.create_namespaced_job("default", _job("build-1"))
    time.sleep(0.1)
    assert _conditions(batch.read_namespaced_job("build-1", "default")) == {}


def test_jobs_complete(kf: KubeFake) -> None:
    kf.controllers.enable("jobs")
    batch = typed(client.BatchV1Api, kf)
    batch.create_namespaced_job("default", _job("build-1"))
    job = wait_for(
        lambda: batch.read_namespaced_job_status("build-1", "default"),
        lambda j: "Complete" in _conditions(j),
    )
    assert job.status.succeeded == 1 and job.status.completion_time is not None


def test_jobs_fail_by_name_pattern(kf: KubeFake) -> None:
    kf.controllers.enable("jobs")
    kf.controllers.job_outcome("build-bad-*", reason="BackoffLimitExceeded", message="exit 1")
    batch = typed(client.BatchV1Api, kf)
    batch.create_namespaced_job("default", _job("build-bad-1"))
    batch.create_namespaced_job("default", _job("build-good-1"))
    bad = wait_for(
        lambda: batch.read_namespaced_job("build-bad-1", "default"),
        lambda j: "Failed" in _conditions(j),
    )
    assert bad.status.failed == 1 and _conditions(bad)["Failed"].message == "exit 1"
    wait_for(
        lambda: batch.read_namespaced_job("build-good-1", "default"),
        lambda j: "Complete" in _conditions(j),
    )


def test_job_delay_shows_active_first(kf: KubeFake) -> None:
    kf.controllers.job_outcome("slow", succeed=True, delay=0.3)
    kf.controllers.enable("jobs")
    batch = typed(client.BatchV1Api, kf)
    batch.create_namespaced_job("default", _job("slow"))
    active = wait_for(
        lambda: batch.read_namespaced_job("slow", "default"),
        lambda j: bool(j.status and j.status.active),
    )
    assert _conditions(active) == {}
    wait_for(lambda: batch.read_namespaced_job("slow", "default"), lambda j: bool(_conditions(j)))


def _deployment(replicas: int) -> client.V1Deployment:
    template = client.V1PodTemplateSpec(
        metadata=M(labels={"a": "b"}),
        spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="i")]),
    )
    spec = client.V1DeploymentSpec(
        replicas=replicas,
        selector=client.V1LabelSelector(match_labels={"a": "b"}),
        template=template,
    )
    return client.V1Deployment(metadata=M(name="web"), spec=spec)


def test_deployments_become_available_and_follow_generation(kf: KubeFake) -> None:
    kf.controllers.enable("deployments")
    apps = typed(client.AppsV1Api, kf)
    apps.create_namespaced_deployment("default", _deployment(2))
    dep = wait_for(
        lambda: apps.read_namespaced_deployment("web", "default"),
        lambda d: d.status and d.status.available_replicas == 2,
    )
    assert dep.status.ready_replicas == dep.status.updated_replicas == 2
    assert dep.status.observed_generation == dep.metadata.generation == 1
    assert {c.type for c in dep.status.conditions} == {"Available", "Progressing"}
    apps.patch_namespaced_deployment("web", "default", {"spec": {"replicas": 3}})
    wait_for(
        lambda: apps.read_namespaced_deployment("web", "default"),
        lambda d: d.status.observed_generation == 2 and d.status.ready_replicas == 3,
    )


def test_statefulsets_become_ready(kf: KubeFake) -> None:
    kf.controllers.enable("deployments")
    apps = typed(client.AppsV1Api, kf)
    template = client.V1PodTemplateSpec(
        metadata=M(labels={"a": "b"}),
        spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="redis")]),
    )
    spec = client.V1StatefulSetSpec(
        service_name="db",
        selector=client.V1LabelSelector(match_labels={"a": "b"}),
        template=template,
    )
    apps.create_namespaced_stateful_set(
        "default", client.V1StatefulSet(metadata=M(name="db"), spec=spec)
    )
    sts = wait_for(
        lambda: apps.read_namespaced_stateful_set("db", "default"),
        lambda s: s.status and s.status.ready_replicas == 1,
    )
    assert sts.status.observed_generation == 1


def test_controllers_toggle_per_test_and_step_directly(kf: KubeFake) -> None:
    kf.controllers.enable()
    assert kf.controllers.enabled == {"jobs", "deployments", "namespaces"}
    kf.controllers.disable()
    typed(client.BatchV1Api, kf).create_namespaced_job("default", _job("j"))
    kf.controllers.enabled.add("jobs")  # enable without waking the thread, then step by hand
    kf.controllers.step()
    job = kf.get("jobs", "j", "default")
    assert job is not None and job["status"]["succeeded"] == 1


def test_controllers_from_constructor() -> None:
    with KubeFake(controllers=["deployments"]) as fake:
        assert fake.controllers.enabled == {"deployments"}
