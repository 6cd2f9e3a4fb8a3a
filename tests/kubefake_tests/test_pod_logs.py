"""A failing Job leaves a Failed Pod labelled with the Job's name; its log honours tailLines."""

from __future__ import annotations

import time
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.kubefake import KubeFake

from .helpers import typed
from .test_controllers import _job

LOG = "".join(f"step {n}\n" for n in range(1, 51))


def failed_pods(core: Any, job: str, label: str = "batch.kubernetes.io/job-name") -> list[Any]:
    deadline = time.monotonic() + 30
    while True:
        pods = core.list_namespaced_pod("default", label_selector=f"{label}={job}").items
        if pods and pods[0].status and pods[0].status.phase == "Failed":
            return list(pods)
        assert time.monotonic() < deadline, f"no failed pod for {job}: {pods}"
        time.sleep(0.01)


def test_a_failed_job_leaves_a_failed_pod_whose_log_is_served(kf: KubeFake) -> None:
    kf.controllers.enable("jobs")
    kf.controllers.job_outcome("build-bad-*", log=LOG)
    typed(client.BatchV1Api, kf).create_namespaced_job("default", _job("build-bad-1"))
    core = typed(client.CoreV1Api, kf)
    (pod,) = failed_pods(core, "build-bad-1")
    assert [p.metadata.name for p in failed_pods(core, "build-bad-1", "job-name")] == [
        pod.metadata.name
    ]
    assert pod.metadata.name.startswith("build-bad-1-")
    name = pod.metadata.name
    assert core.read_namespaced_pod_log(name, "default") == LOG
    tail = core.read_namespaced_pod_log(name, "default", tail_lines=3)
    assert tail == "step 48\nstep 49\nstep 50\n"


def test_succeeding_jobs_leave_no_pod_and_missing_pods_have_no_log(kf: KubeFake) -> None:
    kf.controllers.enable("jobs")
    batch, core = typed(client.BatchV1Api, kf), typed(client.CoreV1Api, kf)
    batch.create_namespaced_job("default", _job("build-ok"))
    deadline = time.monotonic() + 30
    # The Job has no status at all until the simulated controller's first pass.
    while (
        getattr(batch.read_namespaced_job_status("build-ok", "default").status, "succeeded", 0) or 0
    ) < 1:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(0.1)
    assert core.list_namespaced_pod("default").items == []
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_pod_log("nope", "default", tail_lines=5)
    assert missing.value.status == 404
