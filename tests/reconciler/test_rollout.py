"""reconciler.rollout (pure): which pods are the new revision's, and what the kubelet says."""

from __future__ import annotations

from typing import Any

from reconciler.rollout import container_failure, new_revision_pods, rollout_failure


def deployment(revision: str, generation: int = 2, observed: int = 2) -> dict[str, Any]:
    return {
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "uid": "d1",
            "generation": generation,
            "annotations": {"deployment.kubernetes.io/revision": revision},
        },
        "status": {"observedGeneration": observed},
    }


def replica_set(uid: str, revision: str) -> dict[str, Any]:
    return {
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"web-{uid}",
            "uid": uid,
            "annotations": {"deployment.kubernetes.io/revision": revision},
            "ownerReferences": [{"uid": "d1"}],
        },
    }


def pod(name: str, owner: str, *rows: dict[str, Any], labels: Any = None) -> dict[str, Any]:
    return {
        "kind": "Pod",
        "metadata": {"name": name, "ownerReferences": [{"uid": owner}], "labels": labels or {}},
        "status": {"containerStatuses": list(rows)},
    }


def waiting(reason: str, message: str = "") -> dict[str, Any]:
    return {"name": "web", "state": {"waiting": {"reason": reason, "message": message}}}


def test_only_the_new_replica_sets_pods_count() -> None:
    objects = [
        replica_set("old", "1"),
        replica_set("new", "2"),
        pod("web-old-1", "old", waiting("CrashLoopBackOff")),
        pod("web-new-1", "new", waiting("ErrImagePull", "not found")),
    ]
    [found] = new_revision_pods(deployment("2"), objects)
    assert found["metadata"]["name"] == "web-new-1"
    failure = rollout_failure({("Deployment", "web"): deployment("2")}, objects)
    assert failure is not None
    assert (failure.workload, failure.reason, failure.has_logs) == (
        "Deployment/web",
        "ErrImagePull",
        False,
    )


def test_a_template_not_yet_observed_is_not_judged() -> None:
    objects = [replica_set("old", "1"), pod("web-old-1", "old", waiting("CrashLoopBackOff"))]
    assert rollout_failure({("Deployment", "web"): deployment("1", 3, 2)}, objects) is None


def test_config_errors_and_repeated_oom_kills_fail_a_blip_does_not() -> None:
    config = pod("p", "x", waiting("CreateContainerConfigError", 'secret "db" not found'))
    found = container_failure(config)
    assert found is not None and found.reason == "CreateContainerConfigError"
    assert 'secret "db" not found' in found.describe()
    oom = {"name": "web", "restartCount": 2, "lastState": {"terminated": {"reason": "OOMKilled"}}}
    found = container_failure(pod("p", "x", oom))
    assert found is not None and found.reason == "OOMKilled" and found.has_logs
    assert container_failure(pod("p", "x", {**oom, "restartCount": 1})) is None
    assert container_failure(pod("p", "x", waiting("ContainerCreating"))) is None


def test_a_statefulset_is_judged_by_its_update_revision() -> None:
    sts = {
        "kind": "StatefulSet",
        "metadata": {"name": "db", "uid": "s1", "generation": 1},
        "status": {"observedGeneration": 1, "updateRevision": "db-2"},
    }
    old = pod(
        "db-0", "s1", waiting("CrashLoopBackOff"), labels={"controller-revision-hash": "db-1"}
    )
    assert rollout_failure({("StatefulSet", "db"): sts}, [old]) is None
    new = pod(
        "db-0", "s1", waiting("CrashLoopBackOff"), labels={"controller-revision-hash": "db-2"}
    )
    failure = rollout_failure({("StatefulSet", "db"): sts}, [new])
    assert failure is not None and failure.workload == "StatefulSet/db"
