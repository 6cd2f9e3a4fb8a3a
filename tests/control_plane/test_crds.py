"""The CRDs on a real kube-apiserver: samples accepted and stored as the model reads them, bad
objects refused with the server's own 422, and the chart's copy identical to crds/.
"""

from __future__ import annotations

from typing import Any

import pytest

from core import model
from tests.core.crdschema import example_paths, load_yaml
from tests.core.test_examples import BROKEN, _broken
from tests.support.control_plane import ClusterScope
from tests.support.kube_rest import KubeRestError

MODELS: dict[str, type[model.Project] | type[model.Environment]] = {
    "Project": model.Project,
    "Environment": model.Environment,
}
SERVER_FIELDS = {"uid", "resourceVersion", "generation", "creationTimestamp", "managedFields"}


def _into(cluster: ClusterScope, doc: dict[str, Any]) -> dict[str, Any]:
    """`doc` moved into a namespace of this test (created on the way)."""
    namespace = cluster.namespace(cluster.name(doc["metadata"]["namespace"]))
    return {**doc, "metadata": {**doc["metadata"], "namespace": namespace}}


def _without_server_fields(stored: dict[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in stored["metadata"].items() if k not in SERVER_FIELDS}
    return {**stored, "metadata": meta}


@pytest.mark.parametrize("path", example_paths(), ids=lambda p: p.name)
def test_every_sample_is_accepted_and_read_back_by_the_model(
    cluster: ClusterScope, path: Any
) -> None:
    doc = _into(cluster, load_yaml(path))
    stored = _without_server_fields(cluster.plane.rest().apply(doc))
    parsed = MODELS[doc["kind"]].model_validate(stored)
    # What the server stored (its defaults applied) is what the model writes back: nothing lost.
    assert parsed.to_wire()["spec"] == stored["spec"]


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_the_real_server_refuses_what_the_model_refuses(cluster: ClusterScope, case: str) -> None:
    doc = _into(cluster, _broken(case))
    with pytest.raises(KubeRestError) as refused:
        cluster.plane.rest().create(doc, strict=True)
    # An unknown field fails strict decoding (400); a schema violation is Invalid (422).
    assert refused.value.status == (400 if case == "unknown field" else 422)


def test_a_missing_required_field_is_a_422(cluster: ClusterScope) -> None:
    doc = _into(cluster, load_yaml(example_paths()[0].parent / "environment-pr-42.yaml"))
    del doc["spec"]["projectRef"]
    with pytest.raises(KubeRestError) as refused:
        cluster.plane.rest().create(doc)
    assert refused.value.status == 422 and "projectRef" in str(refused.value)


def test_an_unknown_field_is_pruned_unless_validation_is_strict(cluster: ClusterScope) -> None:
    # The server's default (what a client that does not ask for Strict gets): dropped, not refused.
    doc = _into(cluster, _broken("unknown field"))
    stored = cluster.plane.rest().create(doc)
    assert "sourcez" not in stored["spec"]


def test_the_served_crds_have_the_printer_columns(cluster: ClusterScope) -> None:
    crd = cluster.plane.rest().get(
        "customresourcedefinitions", f"{model.ENVIRONMENT_PLURAL}.{model.API_GROUP}"
    )
    assert crd is not None
    (version,) = crd["spec"]["versions"]
    assert {c["name"] for c in version["additionalPrinterColumns"]} >= {"Phase", "URL", "Commit"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda spec: spec["templates"]["development"].update(sourceRef="ap"),
            "sourceRef must name",
        ),
        (
            lambda spec: spec["templates"]["development"]["builds"][0].update(sourceRef="ap"),
            "builds[].sourceRef must name",
        ),
    ],
    ids=["template", "build"],
)
def test_a_source_ref_naming_no_source_is_refused(
    cluster: ClusterScope, change: Any, message: str
) -> None:
    doc = _into(cluster, load_yaml(example_paths()[0].parent / "project-docker.yaml"))
    change(doc["spec"])
    with pytest.raises(KubeRestError) as refused:
        cluster.plane.rest().apply(doc)
    assert refused.value.status == 422 and message in str(refused.value)
