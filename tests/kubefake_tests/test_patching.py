"""Merge patch, JSON patch, strategic merge patch and server-side apply."""

from __future__ import annotations

import pytest
from kubernetes import client
from kubernetes.client import ApiException

from tests.kubefake import KubeFake
from tests.kubefake.patching import merge_patch, strategic_merge

from .helpers import GROUP, PLURAL, VERSION, custom, environment, typed

ARGS = (GROUP, VERSION, "default", PLURAL)


def _deployment() -> client.V1Deployment:
    containers = [
        client.V1Container(name="web", image="web:1", env=[client.V1EnvVar(name="A", value="1")]),
        client.V1Container(name="sidecar", image="side:1"),
    ]
    template = client.V1PodTemplateSpec(
        metadata=client.V1ObjectMeta(labels={"a": "b"}),
        spec=client.V1PodSpec(containers=containers),
    )
    spec = client.V1DeploymentSpec(
        selector=client.V1LabelSelector(match_labels={"a": "b"}), template=template
    )
    return client.V1Deployment(metadata=client.V1ObjectMeta(name="d"), spec=spec)


def test_merge_patch_rfc7386() -> None:
    target = {"a": {"b": 1, "c": 2}, "l": [1, 2]}
    assert merge_patch(target, {"a": {"b": None, "d": 3}, "l": [3]}) == {
        "a": {"c": 2, "d": 3},
        "l": [3],
    }
    assert target == {"a": {"b": 1, "c": 2}, "l": [1, 2]}


def test_strategic_merge_merges_named_lists() -> None:
    target = {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "1"}]}
    patch = {"containers": [{"name": "b", "image": "2"}, {"name": "c", "image": "3"}]}
    out = strategic_merge(target, patch)
    assert [(c["name"], c["image"]) for c in out["containers"]] == [
        ("a", "1"),
        ("b", "2"),
        ("c", "3"),
    ]
    deleted = strategic_merge(out, {"containers": [{"name": "a", "$patch": "delete"}]})
    assert [c["name"] for c in deleted["containers"]] == ["b", "c"]


def test_merge_patch_through_client(kf: KubeFake) -> None:
    api = custom(kf)
    api.create_namespaced_custom_object(*ARGS, environment("e1", values={"x": 1, "y": 2}))
    out = api.patch_namespaced_custom_object(*ARGS, "e1", {"spec": {"values": {"x": None}}})
    assert out["spec"]["values"] == {"y": 2}


def test_json_patch_through_client(kf: KubeFake) -> None:
    api = custom(kf)
    api.create_namespaced_custom_object(*ARGS, environment("e1", hosts=["a"]))
    ops = [
        {"op": "add", "path": "/spec/hosts/-", "value": "b"},
        {"op": "replace", "path": "/spec/pr", "value": 5},
    ]
    jp = "application/json-patch+json"  # the client sends merge-patch for CRs otherwise
    out = api.patch_namespaced_custom_object(*ARGS, "e1", ops, _content_type=jp)
    assert out["spec"]["hosts"] == ["a", "b"] and out["spec"]["pr"] == 5
    with pytest.raises(ApiException) as info:
        api.patch_namespaced_custom_object(
            *ARGS, "e1", [{"op": "test", "path": "/spec/pr", "value": 1}], _content_type=jp
        )
    assert info.value.status == 422


def test_strategic_merge_patch_through_typed_client(kf: KubeFake) -> None:
    apps = typed(client.AppsV1Api, kf)
    apps.create_namespaced_deployment("default", _deployment())
    patch = {
        "spec": {
            "template": {
                "spec": {"containers": [{"name": "web", "env": [{"name": "B", "value": "2"}]}]}
            }
        }
    }
    out = apps.patch_namespaced_deployment("d", "default", patch)
    containers = out.spec.template.spec.containers
    assert [c.name for c in containers] == ["web", "sidecar"]
    assert [e.name for e in containers[0].env] == ["A", "B"]
    assert out.metadata.generation == 2


def test_strategic_merge_on_custom_resource_is_415(kf: KubeFake) -> None:
    api = custom(kf)
    api.create_namespaced_custom_object(*ARGS, environment("e1"))
    with pytest.raises(ApiException) as info:
        api.patch_namespaced_custom_object(
            *ARGS,
            "e1",
            {"spec": {"sha": "x"}},
            _content_type="application/strategic-merge-patch+json",
        )
    assert info.value.status == 415


def test_server_side_apply_creates_then_merges(kf: KubeFake) -> None:
    api = custom(kf)
    apply = "application/apply-patch+yaml"
    first = api.patch_namespaced_custom_object(
        *ARGS, "e1", environment("e1"), field_manager="catalyst", _content_type=apply
    )
    # Like the real server, an apply that creates answers 201, which this client method
    # does not deserialise (it only maps 200): it returns None.
    assert first is None
    created = api.get_namespaced_custom_object(*ARGS, "e1")
    assert created["metadata"]["uid"] and created["spec"]["pr"] == 1
    body = environment("e1", sha="abc")
    out = api.patch_namespaced_custom_object(
        *ARGS, "e1", body, field_manager="catalyst", _content_type=apply
    )
    assert out["spec"]["sha"] == "abc" and out["metadata"]["generation"] == 2


def test_apply_needs_field_manager(kf: KubeFake) -> None:
    with pytest.raises(ApiException) as info:
        custom(kf).patch_namespaced_custom_object(
            *ARGS, "e1", environment("e1"), _content_type="application/apply-patch+yaml"
        )
    assert info.value.status == 422


def test_patch_missing_object_is_404(kf: KubeFake) -> None:
    with pytest.raises(ApiException) as info:
        custom(kf).patch_namespaced_custom_object(*ARGS, "nope", {"spec": {}})
    assert info.value.status == 404
