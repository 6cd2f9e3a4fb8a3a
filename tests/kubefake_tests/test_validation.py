"""422 Invalid from the official schemas and CRD schemas; defaults; switching it off."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
from kubernetes import client
from kubernetes.client import ApiException
from kubernetes.dynamic.exceptions import DynamicApiError

from tests.kubefake import KubeFake
from tests.kubefake.validation import apply_defaults, root_jsonschema, validate_builtin

from .helpers import (
    GROUP,
    PLURAL,
    VERSION,
    core,
    custom,
    environment,
    environment_crd,
    new_dynamic,
)

ARGS = (GROUP, VERSION, "default", PLURAL)


def _invalid(call: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises((ApiException, DynamicApiError)) as info:
        call(*args, **kwargs)
    assert info.value.status == 422
    body: dict[str, Any] = json.loads(str(info.value.body))
    assert body["kind"] == "Status" and body["reason"] == "Invalid"
    return body


def _dynamic_create(kf: KubeFake, body: dict[str, Any]) -> dict[str, Any]:
    """Create through the dynamic client, which (unlike typed APIs) does not pre-validate."""
    resources = new_dynamic(kf).resources
    resource = resources.get(api_version=body["apiVersion"], kind=body["kind"])
    return _invalid(resource.create, body=body, namespace="default")


def test_builtin_schema_violation_names_the_field(kf: KubeFake) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": 1}}
    status = _dynamic_create(kf, body)
    assert "data.a" in status["message"]
    assert status["details"]["causes"][0]["field"] == "data.a"


def test_unknown_builtin_field_is_rejected(kf: KubeFake) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "bogus": 1}
    assert "bogus" in _dynamic_create(kf, body)["message"]


def test_missing_required_field_in_deployment(kf: KubeFake) -> None:
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {"template": {"spec": {"containers": [{"image": "x"}]}}},
    }
    status = _dynamic_create(kf, body)
    assert "spec.selector" in status["message"] and "containers[0]" in status["message"]


def test_crd_schema_violation(kf: KubeFake) -> None:
    status = _invalid(
        custom(kf).create_namespaced_custom_object, *ARGS, environment("e1", pr="seven")
    )
    assert "spec.pr" in status["message"]


def test_crd_required_and_unknown_fields(kf: KubeFake) -> None:
    body = environment("e1", extra=True)
    del body["spec"]["repo"]
    status = _invalid(custom(kf).create_namespaced_custom_object, *ARGS, body)
    fields = {c["field"] for c in status["details"]["causes"]}
    assert fields == {"spec.extra", "spec.repo"}


def test_crd_extensions_and_defaults(kf: KubeFake) -> None:
    body = environment("e1", port="http", sha=None, values={"anything": {"goes": [1]}})
    created = custom(kf).create_namespaced_custom_object(*ARGS, body)
    assert created["spec"]["replicas"] == 1
    assert created["spec"]["values"] == {"anything": {"goes": [1]}}
    custom(kf).patch_namespaced_custom_object(*ARGS, "e1", {"spec": {"port": 8080}})


def test_status_is_validated_too(kf: KubeFake) -> None:
    custom(kf).create_namespaced_custom_object(*ARGS, environment("e1"))
    _invalid(
        custom(kf).patch_namespaced_custom_object_status, *ARGS, "e1", {"status": {"phase": "Nope"}}
    )


def test_invalid_names_and_labels(kf: KubeFake) -> None:
    api = core(kf)
    bad_name = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="Bad_Name"))
    assert (
        "metadata.name"
        in _invalid(api.create_namespaced_config_map, "default", bad_name)["message"]
    )
    bad_label = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="ok", labels={"a": "x" * 64}))
    assert (
        "metadata.labels"
        in _invalid(api.create_namespaced_config_map, "default", bad_label)["message"]
    )


def test_validation_can_be_switched_off() -> None:
    with KubeFake([environment_crd()], validate=False) as fake:
        created = custom(fake).create_namespaced_custom_object(*ARGS, environment("e", pr="x"))
        assert created["spec"]["pr"] == "x"
        fake.validator.enabled = True
        with pytest.raises(ApiException):
            custom(fake).create_namespaced_custom_object(*ARGS, environment("f", pr="x"))


@pytest.mark.parametrize(
    "obj",
    [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"a": "b"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"a": 1}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "a"}, "extra": 1},
        {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "a"}, "spec": {}},
    ],
)
def test_cached_validator_agrees_with_kubernetes_validate(obj: dict[str, Any]) -> None:
    try:
        kubernetes_validate.validate(obj, "1.29", strict=True)
        expected_ok = True
    except kubernetes_validate.ValidationError:
        expected_ok = False
    assert (validate_builtin(obj, "1.29") == []) is expected_ok


def test_cached_validation_gives_the_same_answer_again() -> None:
    # its speed (under 2 ms) is a goal of benchmarks/kubefake_requests.py, not a timed assertion
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"a": "b"}}
    bad = {**obj, "data": {"a": 1}}
    assert [validate_builtin(obj, "1.29") for _ in range(3)] == [[], [], []]
    assert validate_builtin(bad, "1.29") and validate_builtin(bad, "1.29") == validate_builtin(
        bad, "1.29"
    )


def test_crd_schema_conversion_rules() -> None:
    schema = {
        "type": "object",
        "properties": {
            "mode": {"type": "string", "enum": ["a"], "nullable": True},
            "apps": {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "properties": {"port": {"type": "integer", "default": 80}},
                },
            },
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        },
        "x-kubernetes-validations": [{"rule": "true"}],
    }
    converted = root_jsonschema(schema)
    validator = jsonschema.Draft7Validator(converted)
    assert not list(validator.iter_errors({"mode": None, "free": {"x": 1}, "metadata": {"a": 1}}))
    assert list(validator.iter_errors({"unknown": 1}))
    assert apply_defaults(schema, {"apps": {"web": {}}}) == {"apps": {"web": {"port": 80}}}
