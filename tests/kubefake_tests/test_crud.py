"""Create/read/update/delete through the real client: metadata, 404/409, generation."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client import ApiException

from tests.kubefake import KubeFake

from .helpers import GROUP, PLURAL, VERSION, core, custom, environment


def _meta(name: str, **kwargs: Any) -> Any:
    return client.V1ObjectMeta(name=name, **kwargs)


def test_create_sets_server_metadata(kf: KubeFake) -> None:
    cm = core(kf).create_namespaced_config_map(
        "default", client.V1ConfigMap(metadata=_meta("a"), data={"k": "v"})
    )
    assert cm.metadata.uid and cm.metadata.creation_timestamp is not None
    assert int(cm.metadata.resource_version) > 0
    assert cm.metadata.namespace == "default"


def test_resource_version_is_a_global_counter(kf: KubeFake) -> None:
    api = core(kf)
    first = api.create_namespaced_config_map("default", client.V1ConfigMap(metadata=_meta("a")))
    second = api.create_namespaced_secret("default", client.V1Secret(metadata=_meta("b")))
    assert int(second.metadata.resource_version) == int(first.metadata.resource_version) + 1


def test_duplicate_create_is_409_already_exists(kf: KubeFake) -> None:
    api = core(kf)
    api.create_namespaced_config_map("default", client.V1ConfigMap(metadata=_meta("a")))
    with pytest.raises(ApiException) as info:
        api.create_namespaced_config_map("default", client.V1ConfigMap(metadata=_meta("a")))
    assert info.value.status == 409
    assert '"reason":"AlreadyExists"' in str(info.value.body)


def test_missing_object_is_404_with_status_body(kf: KubeFake) -> None:
    with pytest.raises(ApiException) as info:
        custom(kf).get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "nope")
    assert info.value.status == 404
    assert '"kind":"Status"' in str(info.value.body) and '"code":404' in str(info.value.body)
    assert 'environments.catalyst.catalyst.dev \\"nope\\" not found' in str(info.value.body)


def test_put_with_stale_resource_version_is_409(kf: KubeFake) -> None:
    api = core(kf)
    cm = api.create_namespaced_config_map("default", client.V1ConfigMap(metadata=_meta("a")))
    cm.data = {"x": "1"}
    api.replace_namespaced_config_map("a", "default", cm)
    cm.data = {"x": "2"}
    with pytest.raises(ApiException) as info:
        api.replace_namespaced_config_map("a", "default", cm)
    assert info.value.status == 409 and "the object has been modified" in str(info.value.body)


def test_patch_with_stale_resource_version_is_409(kf: KubeFake) -> None:
    api = custom(kf)
    created = api.create_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, environment("e1")
    )
    stale = created["metadata"]["resourceVersion"]
    api.patch_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, "e1", {"spec": {"sha": "a"}}
    )
    body = {"metadata": {"resourceVersion": stale}, "spec": {"sha": "b"}}
    with pytest.raises(ApiException) as info:
        api.patch_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "e1", body)
    assert info.value.status == 409


def test_generation_bumps_on_spec_change_only(kf: KubeFake) -> None:
    api = custom(kf)
    api.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, environment("e1"))
    args = (GROUP, VERSION, "default", PLURAL, "e1")
    labelled = api.patch_namespaced_custom_object(*args, {"metadata": {"labels": {"a": "b"}}})
    assert labelled["metadata"]["generation"] == 1
    status = api.patch_namespaced_custom_object_status(*args, {"status": {"phase": "Ready"}})
    assert status["metadata"]["generation"] == 1
    changed = api.patch_namespaced_custom_object(*args, {"spec": {"sha": "abc"}})
    assert changed["metadata"]["generation"] == 2


def test_noop_update_keeps_resource_version(kf: KubeFake) -> None:
    api = custom(kf)
    created = api.create_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, environment("e1")
    )
    same = api.patch_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, "e1", {"spec": {"pr": 1}}
    )
    assert same["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


def test_custom_resource_replace_needs_resource_version(kf: KubeFake) -> None:
    api = custom(kf)
    api.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, environment("e1"))
    with pytest.raises(ApiException) as info:
        api.replace_namespaced_custom_object(
            GROUP, VERSION, "default", PLURAL, "e1", environment("e1")
        )
    assert info.value.status == 422


def test_replace_missing_object_is_404(kf: KubeFake) -> None:
    with pytest.raises(ApiException) as info:
        core(kf).replace_namespaced_config_map(
            "a", "default", client.V1ConfigMap(metadata=_meta("a"))
        )
    assert info.value.status == 404


def test_generate_name(kf: KubeFake) -> None:
    meta = client.V1ObjectMeta(generate_name="job-")
    cm = core(kf).create_namespaced_config_map("default", client.V1ConfigMap(metadata=meta))
    assert cm.metadata.name.startswith("job-") and len(cm.metadata.name) == 9


def test_delete_returns_status_for_builtins_and_object_for_custom(kf: KubeFake) -> None:
    api = core(kf)
    api.create_namespaced_config_map("default", client.V1ConfigMap(metadata=_meta("a")))
    status = api.delete_namespaced_config_map("a", "default")
    assert status["status"] == "Success"
    api_c = custom(kf)
    api_c.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, environment("e1"))
    gone = api_c.delete_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "e1")
    assert gone["metadata"]["name"] == "e1"
    assert kf.get("environments", "e1", "default") is None


def test_delete_precondition_conflict(kf: KubeFake) -> None:
    api = core(kf)
    api.create_namespaced_config_map("default", client.V1ConfigMap(metadata=_meta("a")))
    options = client.V1DeleteOptions(preconditions=client.V1Preconditions(resource_version="1"))
    with pytest.raises(ApiException) as info:
        api.delete_namespaced_config_map("a", "default", body=options)
    assert info.value.status == 409


def test_delete_collection(kf: KubeFake) -> None:
    api = core(kf)
    for name, app in (("a", "x"), ("b", "x"), ("c", "y")):
        api.create_namespaced_config_map(
            "default", client.V1ConfigMap(metadata=_meta(name, labels={"app": app}))
        )
    api.delete_collection_namespaced_config_map("default", label_selector="app=x")
    names = [c.metadata.name for c in api.list_namespaced_config_map("default").items]
    assert names == ["c"]


def test_list_across_namespaces_and_cluster_scope(kf: KubeFake) -> None:
    api = core(kf)
    api.create_namespace(client.V1Namespace(metadata=_meta("other")))
    for ns in ("default", "other"):
        api.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=_meta("a")))
    listed = api.list_config_map_for_all_namespaces()
    assert [c.metadata.namespace for c in listed.items] == ["default", "other"]
    assert int(listed.metadata.resource_version) >= 4
    names = {n.metadata.name for n in api.list_namespace().items}
    assert names == {"default", "other"}


def test_limit_and_continue_are_accepted(kf: KubeFake) -> None:
    api = core(kf)
    api.create_namespaced_config_map("default", client.V1ConfigMap(metadata=_meta("a")))
    listed = api.list_namespaced_config_map("default", limit=1, _continue="")
    assert len(listed.items) == 1


def test_create_in_missing_namespace_is_404(kf: KubeFake) -> None:
    with pytest.raises(ApiException) as info:
        core(kf).create_namespaced_config_map("nope", client.V1ConfigMap(metadata=_meta("a")))
    assert info.value.status == 404 and 'namespaces \\"nope\\" not found' in str(info.value.body)


def test_namespace_mismatch_is_400(kf: KubeFake) -> None:
    body = client.V1ConfigMap(metadata=_meta("a", namespace="other"))
    with pytest.raises(ApiException) as info:
        core(kf).create_namespaced_config_map("default", body)
    assert info.value.status == 400


def test_unknown_resource_is_404(kf: KubeFake) -> None:
    with pytest.raises(ApiException) as info:
        custom(kf).list_namespaced_custom_object("nope.dev", "v1", "default", "things")
    assert info.value.status == 404


def test_direct_store_helpers(kf: KubeFake) -> None:
    kf.put_object(environment("e1") | {"status": {"phase": "Ready"}})
    got = custom(kf).get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "e1")
    assert got["status"] == {"phase": "Ready"}
    kf.put_object({**got, "spec": {**got["spec"], "sha": "x"}})
    stored = kf.get("environments", "e1", "default")
    assert stored is not None and stored["spec"]["sha"] == "x"
    assert [o["metadata"]["name"] for o in kf.list("Environment")] == ["e1"]
    kf.delete("environments.catalyst.catalyst.dev", "e1", "default")
    assert kf.list("env") == []


def test_list_items_of_built_in_kinds_carry_no_kind_as_on_a_real_api_server(kf: KubeFake) -> None:
    core(kf).create_namespaced_config_map("default", client.V1ConfigMap(metadata=_meta("a")))
    custom(kf).create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, environment("e"))
    listed = core(kf).list_namespaced_config_map("default", _preload_content=False)
    body = json.loads(listed.data)
    assert body["kind"] == "ConfigMapList" and body["apiVersion"] == "v1"
    [item] = body["items"]
    assert "kind" not in item and "apiVersion" not in item
    got = core(kf).read_namespaced_config_map("a", "default", _preload_content=False)
    assert json.loads(got.data)["kind"] == "ConfigMap"  # a GET still names it
    [env] = custom(kf).list_namespaced_custom_object(GROUP, VERSION, "default", PLURAL)["items"]
    assert env["kind"] == "Environment"  # custom resources keep theirs
