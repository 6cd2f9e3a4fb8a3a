"""Discovery documents: ``/api``, ``/apis``, ``/apis/<group>[/<version>]``, ``/version``.

These let the official client's dynamic client, ``kubectl`` and Helm-like tooling find
the served resources (including CRD-defined ones, which appear as soon as they are
registered).
"""

from __future__ import annotations

from typing import Any

from .resources import ALL_VERBS, Registry, ResourceType

Obj = dict[str, Any]


def version_info(kube_version: str) -> Obj:
    """The ``/version`` body."""
    major, minor = [*kube_version.lstrip("v").split("."), "0"][:2]
    return {
        "major": major,
        "minor": minor,
        "gitVersion": f"v{major}.{minor}.0",
        "gitCommit": "kubefake",
        "gitTreeState": "clean",
        "buildDate": "2024-01-01T00:00:00Z",
        "goVersion": "go1.22.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def api_versions(address: str) -> Obj:
    """The ``/api`` body."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}],
    }


def _group(name: str, versions: list[str]) -> Obj:
    entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": entries, "preferredVersion": entries[0]}


def api_group_list(registry: Registry) -> Obj:
    """The ``/apis`` body."""
    groups = [_group(g, vs) for g, vs in sorted(registry.groups().items()) if g]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(registry: Registry, group: str) -> Obj | None:
    """The ``/apis/<group>`` body, or ``None`` when the group is not served."""
    versions = registry.groups().get(group)
    if not group or not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(group, versions)}


def _resource_entries(rtype: ResourceType) -> list[Obj]:
    main: Obj = {
        "name": rtype.plural,
        "singularName": rtype.singular or rtype.kind.lower(),
        "namespaced": rtype.namespaced,
        "kind": rtype.kind,
        "verbs": ALL_VERBS,
    }
    if rtype.short_names:
        main["shortNames"] = list(rtype.short_names)
    if not rtype.status_subresource:
        return [main]
    status: Obj = {
        "name": f"{rtype.plural}/status",
        "singularName": "",
        "namespaced": rtype.namespaced,
        "kind": rtype.kind,
        "verbs": ["get", "patch", "update"],
    }
    return [main, status]


def resource_list(registry: Registry, group: str, version: str) -> Obj | None:
    """The ``/api/v1`` or ``/apis/<group>/<version>`` body, or ``None`` if not served."""
    types = [t for t in registry.all() if (t.group, t.version) == (group, version)]
    if not types:
        return None
    resources = [entry for t in types for entry in _resource_entries(t)]
    group_version = f"{group}/{version}" if group else version
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }
