"""Resource types the fake serves: the built-in table and types built from CRDs.

A :class:`ResourceType` is one (group, version, plural) the server answers for. Storage is
keyed by (group, plural) so every served version of a CRD shares one set of objects.
:class:`Registry` holds them and resolves the names tests use (``"deployments"``,
``"deployments.apps"``, ``"Deployment"``, ``"environments.catalyst.catalyst.dev"``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

GroupKind = tuple[str, str]  # (group, plural): the storage key of a resource

ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


@dataclass(frozen=True)
class ResourceType:
    """One served resource: where it lives and how the server treats it."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    status_subresource: bool = False
    short_names: tuple[str, ...] = ()
    singular: str = ""
    custom: bool = False
    schema: dict[str, Any] | None = field(default=None, compare=False, hash=False)
    # a CRD's additionalPrinterColumns: the columns of `kubectl get` (see tables.py)
    printer_columns: tuple[dict[str, Any], ...] = field(default=(), compare=False, hash=False)

    @property
    def api_version(self) -> str:
        """``v1`` or ``apps/v1``."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> GroupKind:
        """Storage key shared by all versions."""
        return (self.group, self.plural)

    @property
    def list_kind(self) -> str:
        """Kind of the list object, e.g. ``DeploymentList``."""
        return f"{self.kind}List"


SHORT_NAMES: dict[str, tuple[str, ...]] = {
    "namespaces": ("ns",),
    "configmaps": ("cm",),
    "serviceaccounts": ("sa",),
    "services": ("svc",),
    "endpoints": ("ep",),
    "pods": ("po",),
    "persistentvolumeclaims": ("pvc",),
    "persistentvolumes": ("pv",),
    "resourcequotas": ("quota",),
    "limitranges": ("limits",),
    "nodes": ("no",),
    "deployments": ("deploy",),
    "statefulsets": ("sts",),
    "daemonsets": ("ds",),
    "replicasets": ("rs",),
    "cronjobs": ("cj",),
    "ingresses": ("ing",),
    "networkpolicies": ("netpol",),
    "poddisruptionbudgets": ("pdb",),
    "customresourcedefinitions": ("crd", "crds"),
}


def _core(plural: str, kind: str, namespaced: bool = True, status: bool = False) -> ResourceType:
    short = SHORT_NAMES.get(plural, ())
    return ResourceType("", "v1", plural, kind, namespaced, status, short)


def _grp(
    group: str, plural: str, kind: str, namespaced: bool = True, status: bool = False
) -> ResourceType:
    short = SHORT_NAMES.get(plural, ()) if plural != "events" else ()
    return ResourceType(group, "v1", plural, kind, namespaced, status, short)


BUILTIN: tuple[ResourceType, ...] = (
    _core("namespaces", "Namespace", namespaced=False, status=True),
    _core("secrets", "Secret"),
    _core("configmaps", "ConfigMap"),
    _core("serviceaccounts", "ServiceAccount"),
    _core("services", "Service", status=True),
    _core("endpoints", "Endpoints"),
    _core("pods", "Pod", status=True),
    _core("persistentvolumeclaims", "PersistentVolumeClaim", status=True),
    _core("persistentvolumes", "PersistentVolume", namespaced=False, status=True),
    _core("resourcequotas", "ResourceQuota", status=True),
    _core("limitranges", "LimitRange"),
    _core("events", "Event"),
    _core("nodes", "Node", namespaced=False, status=True),
    _grp("apps", "deployments", "Deployment", status=True),
    _grp("apps", "statefulsets", "StatefulSet", status=True),
    _grp("apps", "daemonsets", "DaemonSet", status=True),
    _grp("apps", "replicasets", "ReplicaSet", status=True),
    _grp("batch", "jobs", "Job", status=True),
    _grp("batch", "cronjobs", "CronJob", status=True),
    _grp("networking.k8s.io", "ingresses", "Ingress", status=True),
    _grp("networking.k8s.io", "networkpolicies", "NetworkPolicy"),
    _grp("networking.k8s.io", "ingressclasses", "IngressClass", namespaced=False),
    _grp("coordination.k8s.io", "leases", "Lease"),
    _grp("policy", "poddisruptionbudgets", "PodDisruptionBudget", status=True),
    _grp("rbac.authorization.k8s.io", "roles", "Role"),
    _grp("rbac.authorization.k8s.io", "rolebindings", "RoleBinding"),
    _grp("rbac.authorization.k8s.io", "clusterroles", "ClusterRole", namespaced=False),
    _grp(
        "rbac.authorization.k8s.io", "clusterrolebindings", "ClusterRoleBinding", namespaced=False
    ),
    _grp(
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        namespaced=False,
        status=True,
    ),
    _grp("events.k8s.io", "events", "Event"),
)

# Built-ins whose immediate DELETE answers the deleted object instead of a Success Status.
RETURNS_DELETED_OBJECT: frozenset[GroupKind] = frozenset(
    ("", plural)
    for plural in (
        "pods",
        "podtemplates",
        "services",
        "serviceaccounts",
        "persistentvolumeclaims",
        "persistentvolumes",
        "resourcequotas",
    )
)
CRD_KEY: GroupKind = ("apiextensions.k8s.io", "customresourcedefinitions")
NAMESPACE_KEY: GroupKind = ("", "namespaces")


def types_from_crd(crd: dict[str, Any]) -> list[ResourceType]:
    """Every served version of an ``apiextensions.k8s.io/v1`` CRD as resource types."""
    spec = crd["spec"]
    names = spec["names"]
    return [
        ResourceType(
            group=spec["group"],
            version=version["name"],
            plural=names["plural"],
            kind=names["kind"],
            namespaced=spec.get("scope", "Namespaced") == "Namespaced",
            status_subresource="status" in (version.get("subresources") or {}),
            short_names=tuple(names.get("shortNames") or ()),
            singular=names.get("singular", ""),
            custom=True,
            schema=(version.get("schema") or {}).get("openAPIV3Schema"),
            printer_columns=tuple(version.get("additionalPrinterColumns") or ()),
        )
        for version in spec["versions"]
        if version.get("served", True)
    ]


class Registry:
    """The resource types currently served, by group/version and by name."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._types: dict[tuple[str, str, str], ResourceType] = {}
        for rtype in BUILTIN:
            self.add(rtype)

    def add(self, rtype: ResourceType) -> None:
        """Serve ``rtype`` (replacing an earlier definition of the same version)."""
        with self._lock:
            self._types[(rtype.group, rtype.version, rtype.plural)] = rtype

    def remove_key(self, key: GroupKind) -> None:
        """Stop serving every version of ``key``."""
        with self._lock:
            for gvp in [gvp for gvp, t in self._types.items() if t.key == key]:
                del self._types[gvp]

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        """The type served at ``/apis/<group>/<version>/<plural>``, if any."""
        return self._types.get((group, version, plural))

    def all(self) -> list[ResourceType]:
        """A snapshot of every served type."""
        with self._lock:
            return list(self._types.values())

    def groups(self) -> dict[str, list[str]]:
        """Served versions per group (core group is ``""``)."""
        out: dict[str, list[str]] = {}
        for rtype in self.all():
            versions = out.setdefault(rtype.group, [])
            if rtype.version not in versions:
                versions.append(rtype.version)
        return out

    def for_key(self, key: GroupKind) -> ResourceType | None:
        """Some served version of storage key ``key`` (the first registered)."""
        return next((t for t in self.all() if t.key == key), None)

    def for_api_version(self, api_version: str, kind: str) -> ResourceType | None:
        """The type for an object's ``apiVersion`` and ``kind``."""
        group, _, version = api_version.rpartition("/")
        return next(
            (t for t in self.all() if (t.group, t.version, t.kind) == (group, version, kind)),
            None,
        )

    def resolve(self, name: str) -> ResourceType:
        """Find a type by plural, ``plural.group``, kind, or short name."""
        for rtype in self.all():
            if name in _names_of(rtype):
                return rtype
        raise KeyError(f"unknown resource {name!r}")


def _names_of(rtype: ResourceType) -> set[str]:
    names = {rtype.plural, rtype.kind, f"{rtype.plural}.{rtype.group}", *rtype.short_names}
    if rtype.singular:
        names.add(rtype.singular)
    return names
