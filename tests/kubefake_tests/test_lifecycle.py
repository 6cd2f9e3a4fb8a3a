"""Status subresource, finalizers and deletionTimestamp, namespace cascade and termination."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from kubernetes import client
from kubernetes.client import ApiException

from tests.kubefake import KubeFake

from .helpers import GROUP, PLURAL, VERSION, core, custom, environment, make_namespace, typed

ARGS = (GROUP, VERSION, "default", PLURAL)


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_status_write_changes_only_status(kf: KubeFake) -> None:
    api = custom(kf)
    api.create_namespaced_custom_object(*ARGS, environment("e1"))
    body = {"spec": {"pr": 99}, "status": {"phase": "Ready"}, "metadata": {"labels": {"x": "y"}}}
    out = api.patch_namespaced_custom_object_status(*ARGS, "e1", body)
    assert out["status"] == {"phase": "Ready"}
    assert out["spec"]["pr"] == 1 and "labels" not in out["metadata"]


def test_main_resource_write_ignores_status(kf: KubeFake) -> None:
    api = custom(kf)
    created = api.create_namespaced_custom_object(
        *ARGS, environment("e1") | {"status": {"phase": "Ready"}}
    )
    assert "status" not in created  # status dropped on create
    api.patch_namespaced_custom_object_status(*ARGS, "e1", {"status": {"phase": "Pending"}})
    out = api.patch_namespaced_custom_object(*ARGS, "e1", {"status": {"phase": "Failed"}})
    assert out["status"] == {"phase": "Pending"}


def test_replace_status_with_stale_rv_is_409(kf: KubeFake) -> None:
    api = custom(kf)
    created = api.create_namespaced_custom_object(*ARGS, environment("e1"))
    api.patch_namespaced_custom_object(*ARGS, "e1", {"spec": {"sha": "a"}})
    created["status"] = {"phase": "Ready"}
    with pytest.raises(ApiException) as info:
        api.replace_namespaced_custom_object_status(*ARGS, "e1", created)
    assert info.value.status == 409


def test_typed_status_subresource(kf: KubeFake) -> None:
    apps = typed(client.AppsV1Api, kf)
    template = client.V1PodTemplateSpec(
        metadata=client.V1ObjectMeta(labels={"a": "b"}),
        spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="i")]),
    )
    spec = client.V1DeploymentSpec(
        selector=client.V1LabelSelector(match_labels={"a": "b"}), template=template
    )
    apps.create_namespaced_deployment(
        "default", client.V1Deployment(metadata=client.V1ObjectMeta(name="d"), spec=spec)
    )
    apps.patch_namespaced_deployment_status("d", "default", {"status": {"readyReplicas": 1}})
    assert apps.read_namespaced_deployment_status("d", "default").status.ready_replicas == 1


def test_finalizer_defers_delete_until_removed(kf: KubeFake) -> None:
    api = custom(kf)
    body = environment("e1")
    body["metadata"]["finalizers"] = ["catalyst.dev/cleanup"]
    api.create_namespaced_custom_object(*ARGS, body)
    api.delete_namespaced_custom_object(*ARGS, "e1")
    pending = api.get_namespaced_custom_object(*ARGS, "e1")
    assert pending["metadata"]["deletionTimestamp"]
    api.patch_namespaced_custom_object(*ARGS, "e1", {"metadata": {"finalizers": None}})
    with pytest.raises(ApiException) as info:
        api.get_namespaced_custom_object(*ARGS, "e1")
    assert info.value.status == 404


def test_remove_finalizers_helper(kf: KubeFake) -> None:
    body = environment("e1")
    body["metadata"]["finalizers"] = ["a/b"]
    custom(kf).create_namespaced_custom_object(*ARGS, body)
    kf.delete("environments", "e1", "default")
    assert kf.get("environments", "e1", "default") is not None
    kf.remove_finalizers("environments", "e1", "default")
    assert kf.get("environments", "e1", "default") is None


def test_namespace_delete_cascades_immediately_without_controller(kf: KubeFake) -> None:
    make_namespace(kf, "pr-1")
    api = custom(kf)
    body = environment("e1", namespace="pr-1")
    body["metadata"]["finalizers"] = ["a/b"]
    api.create_namespaced_custom_object(GROUP, VERSION, "pr-1", PLURAL, body)
    core(kf).create_namespaced_config_map(
        "pr-1", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="c"))
    )
    core(kf).delete_namespace("pr-1")
    assert kf.get("namespaces", "pr-1") is None
    assert kf.list("environments", "pr-1") == [] and kf.list("configmaps", "pr-1") == []


def test_namespace_terminates_with_controller(kf: KubeFake) -> None:
    kf.controllers.enable("namespaces")
    make_namespace(kf, "pr-2")
    body = environment("e1", namespace="pr-2")
    body["metadata"]["finalizers"] = ["a/b"]
    custom(kf).create_namespaced_custom_object(GROUP, VERSION, "pr-2", PLURAL, body)
    core(kf).create_namespaced_config_map(
        "pr-2", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="c"))
    )
    core(kf).delete_namespace("pr-2")
    assert core(kf).read_namespace("pr-2").status.phase == "Terminating"
    wait_for(lambda: kf.get("configmaps", "c", "pr-2") is None)
    env = kf.get("environments", "e1", "pr-2")
    assert env is not None and env["metadata"]["deletionTimestamp"]
    time.sleep(0.05)
    assert kf.get("namespaces", "pr-2") is not None  # held by the finalizer
    with pytest.raises(ApiException) as info:
        core(kf).create_namespaced_config_map(
            "pr-2", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="new"))
        )
    assert info.value.status == 403
    kf.remove_finalizers("environments", "e1", "pr-2")
    wait_for(lambda: kf.get("namespaces", "pr-2") is None)
