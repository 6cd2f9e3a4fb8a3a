"""`/catalyst logs [service] [--lines N]` and the pods in `/catalyst status`, end to end through
the receiver, against pods and logs served by the fake API server."""

from __future__ import annotations

from typing import Any

import pytest

from tests.workers.conftest import Harness, kubefake_of
from tests.workers.test_commands import Receiver, grant, open_pr, replies
from tests.workers.test_commands import receiver as receiver  # the fixture, re-exported
from tests.workers.test_statuses import ENV

PREVIEW_NS = "acme-shop-pr-7"
SECRET_LINE = "password=hunter2-very-secret"


@pytest.fixture
def harness(fake_harness: Harness) -> Harness:
    """These scenarios serve pod logs and inject RBAC faults through ``tests/kubefake``."""
    return fake_harness


def pod(
    name: str, service: str, *, ready: bool, restarts: int = 0, waiting: str = ""
) -> dict[str, Any]:
    state: dict[str, Any] = {"waiting": {"reason": waiting}} if waiting else {"running": {}}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": PREVIEW_NS, "labels": {"app": service}},
        "spec": {"containers": [{"name": "main", "image": "registry.local/app:1"}]},
        "status": {
            "phase": "Running",
            "containerStatuses": [
                {"name": "main", "ready": ready, "restartCount": restarts, "state": state,
                 "image": "registry.local/app:1", "imageID": "", "started": ready}
            ],
        },
    }  # fmt: skip


def preview_with_pods(harness: Harness) -> None:
    open_pr(harness)
    kubefake_of(harness).put_object(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": PREVIEW_NS}}
    )
    kubefake_of(harness).put_object(pod("web-1", "web", ready=True))
    kubefake_of(harness).put_object(
        pod("worker-1", "worker", ready=False, restarts=4, waiting="CrashLoopBackOff")
    )
    lines = "".join(f"web line {n}\n" for n in range(1, 301))
    kubefake_of(harness).api.pod_logs[(PREVIEW_NS, "web-1")] = lines + f"{SECRET_LINE}\n"
    kubefake_of(harness).api.pod_logs[(PREVIEW_NS, "worker-1")] = "worker boom\n"
    harness.set_status(ENV, {"phase": "Ready", "namespace": PREVIEW_NS, "url": "https://p/"})


def test_logs_replies_once_with_each_pods_last_50_lines_redacted(
    receiver: Receiver, harness: Harness
) -> None:
    preview_with_pods(harness)
    grant(harness, "alice", "write")
    receiver.comment("/catalyst logs")
    [reply] = replies(harness)
    assert reply.count("<details>") == 2
    assert "web line 252" in reply and "web line 251\n" not in reply  # 49 lines + the secret line
    assert "worker boom" in reply
    assert "hunter2-very-secret" not in reply


def test_logs_of_one_service_with_a_line_count(receiver: Receiver, harness: Harness) -> None:
    preview_with_pods(harness)
    grant(harness, "alice", "write")
    receiver.comment("/catalyst logs web --lines 200")
    [reply] = replies(harness)
    assert reply.count("<details>") == 1 and "worker boom" not in reply
    assert "web line 102" in reply and "web line 101\n" not in reply


def test_logs_of_an_unknown_service_names_the_known_ones(
    receiver: Receiver, harness: Harness
) -> None:
    preview_with_pods(harness)
    grant(harness, "alice", "write")
    receiver.comment("/catalyst logs api")
    [reply] = replies(harness)
    assert "no service `api`" in reply and "web, worker" in reply


def test_logs_needs_write_access(receiver: Receiver, harness: Harness) -> None:
    preview_with_pods(harness)
    grant(harness, "alice", "read")
    receiver.comment("/catalyst logs")
    [reply] = replies(harness)
    assert "needs **write** access" in reply and "web line" not in reply


def test_status_lists_pods_with_ready_state_and_restarts(
    receiver: Receiver, harness: Harness
) -> None:
    preview_with_pods(harness)
    grant(harness, "alice", "read")
    receiver.comment("/catalyst status")
    [reply] = replies(harness)
    assert "| `web-1` | web | 1/1 | 0 | Running |" in reply
    assert "| `worker-1` | worker | 0/1 | 4 | CrashLoopBackOff |" in reply


def test_pods_the_worker_may_not_read_give_a_clear_reply(
    receiver: Receiver, harness: Harness
) -> None:
    preview_with_pods(harness)
    grant(harness, "alice", "write")
    kubefake_of(harness).faults.add(
        status=403, resource="pods", verb="list", namespace=PREVIEW_NS, times=None
    )
    receiver.comment("/catalyst logs")
    [reply] = replies(harness)
    assert "pods can be read" in reply
