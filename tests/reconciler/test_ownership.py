"""Namespaces are never shared across Environments (issue 13): names join with '-', so
`acme`/`web`/`production` and the project `acme`/`web-production` meet at `acme-web-production`;
a namespace owned by someone else is refused with a clear condition and never torn down."""

from __future__ import annotations

from typing import Any

from reconciler import manifests
from tests.kubefake import KubeFake
from tests.reconciler.support import ENV_NS, PROJECT_NS, Rig, environment_obj, make_rig, seed


def foreign_namespace(
    kubefake: KubeFake, *, owner: str | None = None, kind: str | None = None
) -> None:
    metadata: dict[str, Any] = {"name": ENV_NS, "labels": {}, "annotations": {}}
    if owner:
        metadata["annotations"][manifests.OWNER_ANNOTATION] = owner
    if kind:
        metadata["labels"]["catalyst.dev/namespace-type"] = kind
    kubefake.put_object({"apiVersion": "v1", "kind": "Namespace", "metadata": metadata})


def failed_beside(kubefake: KubeFake, **foreign: str) -> Rig:
    """pr-1 reconciled until Failed, with its namespace already taken as `foreign` says."""
    seed(kubefake)
    foreign_namespace(kubefake, **foreign)
    rig = make_rig(kubefake)
    kubefake.put_object(environment_obj())
    rig.run_until(rig.phase_is("Failed"))
    return rig


def test_a_namespace_owned_by_another_environment_is_refused(kubefake: KubeFake) -> None:
    rig = failed_beside(kubefake, owner="acme-web/production")
    (ready,) = [c for c in rig.status()["conditions"] if c["type"] == "Ready"]
    assert ready["reason"] == "NamespaceCollision"
    assert "belongs to Environment acme-web/production" in ready["message"]
    live: Any = kubefake.get("namespaces", ENV_NS)
    assert live["metadata"]["annotations"][manifests.OWNER_ANNOTATION] == "acme-web/production"
    assert kubefake.list("resourcequotas", ENV_NS) == []


def test_a_project_namespace_of_the_same_name_is_refused(kubefake: KubeFake) -> None:
    rig = failed_beside(kubefake, kind="project")
    assert "belongs to a project namespace" in rig.status()["message"]


def test_teardown_never_deletes_a_namespace_owned_by_another_environment(
    kubefake: KubeFake,
) -> None:
    rig = failed_beside(kubefake, owner="acme-web/production")
    kubefake.delete("environments", "pr-1", PROJECT_NS)
    rig.run_until(lambda: rig.env() is None)
    assert kubefake.get("namespaces", ENV_NS) is not None
