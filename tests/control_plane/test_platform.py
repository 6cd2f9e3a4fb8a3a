"""The real control plane itself behaves like a cluster where the product can notice.

These tests pin what the rest of the suite relies on: the namespace controller really finishes a
deletion, the garbage collector follows ownerReferences, Deployments become available through the
simulated node, Jobs complete, and the simulated kubelet refuses what a kubelet refuses.
"""

from __future__ import annotations

from typing import Any

from tests.support.control_plane import ClusterScope, ControlPlane
from tests.support.waiting import wait_for


def deployment(
    ns: str, name: str, *, image: str = "nginx:1.27", **container: Any
) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": image, **container}]},
            },
        },
    }


def job(ns: str, name: str, **container: Any) -> dict[str, Any]:
    pod = {
        "restartPolicy": "Never",
        "containers": [{"name": "c", "image": "busybox:1", **container}],
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"backoffLimit": 0, "template": {"spec": pod}},
    }


def pods_of(cluster: ClusterScope, ns: str, app: str) -> list[dict[str, Any]]:
    return cluster.rest.list("pods", ns, labelSelector=f"app={app}")


def waiting(pod: dict[str, Any]) -> dict[str, Any]:
    for status in pod.get("status", {}).get("containerStatuses") or []:
        if "waiting" in (status.get("state") or {}):
            return dict(status["state"]["waiting"])
    return {}


def first_pod_waiting(cluster: ClusterScope, ns: str, reason: str) -> dict[str, Any] | None:
    return next(
        (p for p in pods_of(cluster, ns, "web") if waiting(p).get("reason") == reason), None
    )


def gone(cluster: ClusterScope, resource: str, name: str, ns: str | None = None) -> bool:
    return cluster.rest.get(resource, name, ns) is None


def test_a_deployment_becomes_available_on_the_simulated_node(cluster: ClusterScope) -> None:
    ns = cluster.namespace(cluster.name("avail"))
    cluster.rest.create(deployment(ns, "web"))

    def available() -> int:
        found = cluster.rest.get("deployments", "web", ns) or {}
        return int(found.get("status", {}).get("availableReplicas", 0))

    wait_for("an available Deployment", available)
    (pod,) = pods_of(cluster, ns, "web")
    assert pod["spec"]["nodeName"] and pod["status"]["phase"] == "Running"


def test_a_job_runs_to_completion(cluster: ClusterScope) -> None:
    ns = cluster.namespace(cluster.name("job"))
    cluster.rest.create(job(ns, "once"))
    wait_for(
        "a succeeded Job",
        lambda: (cluster.rest.get("jobs", "once", ns) or {}).get("status", {}).get("succeeded"),
    )


def test_a_failing_job_fails(cluster: ClusterScope, control_plane: ControlPlane) -> None:
    ns = cluster.namespace(cluster.name("jobfail"))
    with control_plane.rules.command_failing("fail-now"):
        cluster.rest.create(job(ns, "boom", args=["fail-now"]))
        wait_for(
            "a failed Job",
            lambda: (cluster.rest.get("jobs", "boom", ns) or {}).get("status", {}).get("failed"),
        )


def test_namespace_deletion_is_completed_by_the_namespace_controller(
    cluster: ClusterScope,
) -> None:
    ns = cluster.namespace(cluster.name("gone"))
    cluster.rest.create(deployment(ns, "web"))
    wait_for("a pod", lambda: pods_of(cluster, ns, "web"))
    cluster.rest.delete("namespaces", ns)
    wait_for("the namespace to be gone", lambda: gone(cluster, "namespaces", ns))


def test_the_garbage_collector_follows_owner_references(cluster: ClusterScope) -> None:
    ns = cluster.namespace(cluster.name("gc"))
    owner = cluster.rest.create(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owner", "namespace": ns}}
    )
    ref = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": "owner",
        "uid": owner["metadata"]["uid"],
    }
    cluster.rest.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "owned", "namespace": ns, "ownerReferences": [ref]},
        }
    )
    cluster.rest.delete("configmaps", "owner", ns)
    wait_for("the owned Secret to be collected", lambda: gone(cluster, "secrets", "owned", ns))


def test_a_pod_referencing_a_missing_secret_never_becomes_ready(cluster: ClusterScope) -> None:
    ns = cluster.namespace(cluster.name("nosecret"))
    env = [{"name": "DB", "valueFrom": {"secretKeyRef": {"name": "db", "key": "url"}}}]
    cluster.rest.create(deployment(ns, "web", env=env))
    pod = wait_for(
        "CreateContainerConfigError",
        lambda: first_pod_waiting(cluster, ns, "CreateContainerConfigError"),
    )
    assert pod["status"]["phase"] == "Pending"
    assert 'secret "db" not found' in waiting(pod)["message"]
    # A kubelet retries: once the Secret (with the key) exists, the container starts.
    cluster.rest.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "db", "namespace": ns},
            "stringData": {"url": "postgres://x"},
        }
    )
    wait_for(
        "the pod to run",
        lambda: any(p["status"]["phase"] == "Running" for p in pods_of(cluster, ns, "web")),
    )


def test_a_missing_key_is_a_config_error_too(cluster: ClusterScope) -> None:
    ns = cluster.namespace(cluster.name("nokey"))
    cluster.rest.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "db", "namespace": ns},
            "stringData": {"user": "x"},
        }
    )
    env = [{"name": "DB", "valueFrom": {"secretKeyRef": {"name": "db", "key": "url"}}}]
    cluster.rest.create(deployment(ns, "web", env=env))
    pod = wait_for(
        "CreateContainerConfigError",
        lambda: first_pod_waiting(cluster, ns, "CreateContainerConfigError"),
    )
    assert "couldn't find key url" in waiting(pod)["message"]


def test_an_image_marked_missing_backs_off(
    cluster: ClusterScope, control_plane: ControlPlane
) -> None:
    ns = cluster.namespace(cluster.name("pull"))
    with control_plane.rules.image_missing("registry.test/missing:1"):
        cluster.rest.create(deployment(ns, "web", image="registry.test/missing:1"))
        wait_for("ImagePullBackOff", lambda: first_pod_waiting(cluster, ns, "ImagePullBackOff"))


def test_a_failing_command_crash_loops_with_rising_restarts(
    cluster: ClusterScope, control_plane: ControlPlane
) -> None:
    ns = cluster.namespace(cluster.name("crash"))
    with control_plane.rules.command_failing("--crash"):
        cluster.rest.create(deployment(ns, "web", args=["--crash"]))

        def restarts() -> int:
            pod = first_pod_waiting(cluster, ns, "CrashLoopBackOff") or {}
            statuses = pod.get("status", {}).get("containerStatuses") or [{}]
            return int(statuses[0].get("restartCount", 0))

        wait_for("two restarts", lambda: restarts() >= 2)
        pod = first_pod_waiting(cluster, ns, "CrashLoopBackOff")
        assert pod is not None
        last = pod["status"]["containerStatuses"][0]["lastState"]["terminated"]
        assert last["exitCode"] == 1


def test_pod_logs_are_served_through_the_api_server(
    cluster: ClusterScope, control_plane: ControlPlane
) -> None:
    ns = cluster.namespace(cluster.name("logs"))
    cluster.rest.create(deployment(ns, "web"))
    pod = wait_for(
        "a running pod",
        lambda: next(
            (p for p in pods_of(cluster, ns, "web") if p["status"].get("phase") == "Running"), None
        ),
    )
    control_plane.append_log("hello from the simulated node")
    path = cluster.rest.path("pods", ns, pod["metadata"]["name"]) + "/log"
    answer = cluster.rest.http.get(path, params={"container": "app"})
    assert answer.status_code == 200, answer.text
    assert "hello from the simulated node" in answer.text
