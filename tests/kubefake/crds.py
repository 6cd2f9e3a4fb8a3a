"""CustomResourceDefinitions: loading them from YAML and serving their resources.

A CRD reaches the fake either from a file (:func:`load_crd_documents`, used by
``KubeFake(crds=...)`` and ``KubeFake.register_crd``) or as an object POSTed to
``/apis/apiextensions.k8s.io/v1/customresourcedefinitions``. Both paths end in
:func:`accept_crd`, which checks the name, marks the CRD ``Established`` and returns the
resource types to serve.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from .objects import name_of
from .resources import GroupKind, ResourceType, types_from_crd
from .validation import reject

Obj = dict[str, Any]


def _yaml_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
    return [path] if path.exists() else []


def load_crd_documents(paths: Iterable[str | Path]) -> list[Obj]:
    """Every CRD document in the given files or directories (other kinds are skipped)."""
    found: list[Obj] = []
    for path in paths:
        for file in _yaml_files(Path(path)):
            docs = yaml.safe_load_all(file.read_text())
            found.extend(d for d in docs if isinstance(d, dict) and _is_crd(d))
    return found


def _is_crd(doc: Obj) -> bool:
    return doc.get("kind") == "CustomResourceDefinition" and str(
        doc.get("apiVersion", "")
    ).startswith("apiextensions.k8s.io/")


def check_crd(crd_type: ResourceType, crd: Obj) -> list[ResourceType]:
    """The types a CRD defines; 422 when its name is not ``<plural>.<group>``."""
    spec = crd.get("spec") or {}
    expected = f"{(spec.get('names') or {}).get('plural')}.{spec.get('group')}"
    if name_of(crd) != expected:
        raise reject(
            crd_type, name_of(crd), "metadata.name", 'must be spec.names.plural+"."+spec.group'
        )
    return types_from_crd(crd)


def crd_key(crd: Obj) -> GroupKind:
    """The (group, plural) storage key of the resource a CRD defines."""
    spec = crd.get("spec") or {}
    return str(spec.get("group", "")), str((spec.get("names") or {}).get("plural", ""))


def established_status(crd: Obj) -> Obj:
    """The status the apiextensions controller would write."""
    condition = {"status": "True", "lastTransitionTime": crd["metadata"]["creationTimestamp"]}
    return {
        "acceptedNames": crd["spec"]["names"],
        "storedVersions": [v["name"] for v in crd["spec"]["versions"] if v.get("storage")],
        "conditions": [
            {**condition, "type": "NamesAccepted", "reason": "NoConflicts", "message": ""},
            {**condition, "type": "Established", "reason": "InitialNamesAccepted", "message": ""},
        ],
    }
