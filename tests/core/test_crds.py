"""The CRDs themselves: API names, structural schema rules, columns, and the official CRD schema."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest
from kubernetes_validate import utils as kv_utils

from core import model
from tests.core.crdschema import CRD_FILES, load_crd, openapi_schema, structural_problems

KINDS = sorted(CRD_FILES)
NAMES = {
    "Project": ("projects", "cproj", model.PROJECT_PLURAL),
    "Environment": ("environments", "cenv", model.ENVIRONMENT_PLURAL),
}
# The oldest version we support and the newest whose schemas the installed package bundles.
K8S_VERSIONS = ["1.29", kv_utils.major_minor(kv_utils.latest_version())]


def _version(kind: str) -> dict[str, Any]:
    (version,) = load_crd(kind)["spec"]["versions"]
    assert isinstance(version, dict)
    return version


def _columns(kind: str) -> dict[str, str]:
    return {c["name"]: c["jsonPath"] for c in _version(kind)["additionalPrinterColumns"]}


@pytest.mark.parametrize("kind", KINDS)
def test_crd_names_group_version_and_scope(kind: str) -> None:
    plural, short, model_plural = NAMES[kind]
    crd = load_crd(kind)
    spec = crd["spec"]
    assert crd["metadata"]["name"] == f"{plural}.{model.API_GROUP}"
    assert (spec["group"], spec["scope"], plural) == (model.API_GROUP, "Namespaced", model_plural)
    assert spec["names"] == {
        "kind": kind,
        "listKind": f"{kind}List",
        "plural": plural,
        "singular": kind.lower(),
        "shortNames": [short],
        "categories": ["catalyst"],
    }
    version = _version(kind)
    assert (version["name"], version["served"], version["storage"]) == (
        model.API_VERSION,
        True,
        True,
    )
    assert version["subresources"] == {"status": {}}


@pytest.mark.parametrize("kind", KINDS)
def test_schema_is_structural(kind: str) -> None:
    assert structural_problems(openapi_schema(load_crd(kind))) == []


def test_structural_check_catches_untyped_nodes_and_bad_defaults() -> None:
    keyed_list = {
        "type": "array",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["k"],
        "items": {"type": "object", "properties": {"k": {"type": "string"}}},
    }
    schema = {
        "type": "object",
        "properties": {
            "a": {"properties": {}},
            "b": {"type": "integer", "default": "x"},
            "c": keyed_list,
        },
    }
    problems = structural_problems(schema)
    assert ".a: every node needs a type" in problems
    assert any(p.startswith(".b: default invalid") for p in problems)
    assert any(p.startswith(".c: list-map key 'k'") for p in problems)


@pytest.mark.parametrize("kind", KINDS)
def test_conditions_are_a_list_map_keyed_by_type(kind: str) -> None:
    status = openapi_schema(load_crd(kind))["properties"]["status"]
    conditions = status["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]


def test_environment_printer_columns() -> None:
    columns = _columns("Environment")
    assert columns["Phase"] == ".status.phase"
    assert columns["URL"] == ".status.url"
    assert columns["Commit"] == ".status.commitSha"
    assert columns["Age"] == ".metadata.creationTimestamp"
    assert list(columns)[:3] == ["Phase", "URL", "Commit"]


def test_project_printer_columns() -> None:
    columns = _columns("Project")
    assert columns["Ready"] == '.status.conditions[?(@.type=="Ready")].status'
    assert columns["Namespace"] == ".status.namespace"
    assert columns["Age"] == ".metadata.creationTimestamp"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("k8s_version", K8S_VERSIONS)
def test_official_crd_schema_accepts_it_strictly(kind: str, k8s_version: str) -> None:
    checked = kubernetes_validate.validate(load_crd(kind), k8s_version, strict=True)
    assert checked == k8s_version  # validated against that version's own schema, no fallback


def test_official_crd_schema_rejects_a_misspelt_field() -> None:
    crd = load_crd("Environment")
    crd["spec"]["versions"][0]["subresource"] = {"status": {}}
    with pytest.raises(kv_utils.ValidationError):
        kubernetes_validate.validate(crd, K8S_VERSIONS[-1], strict=True)
