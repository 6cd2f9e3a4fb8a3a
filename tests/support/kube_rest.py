"""Test support: a tiny REST view of a real API server for test assertions and seeding.

Tests read what the product wrote (``get``/``list`` return plain dicts, ``None`` for a 404) and
seed what a platform team would have applied (``apply``: server-side apply, so it creates or
updates). It speaks the same small vocabulary as ``tests.kubefake.KubeFake`` (``get``, ``list``,
``put_object``), so a scenario can run on either tier.
"""

from __future__ import annotations

import copy
import ssl
from pathlib import Path
from typing import Any, Protocol

import httpx
import orjson

CORE = {
    "namespaces": False,
    "pods": True,
    "secrets": True,
    "configmaps": True,
    "services": True,
    "serviceaccounts": True,
    "resourcequotas": True,
    "limitranges": True,
    "events": True,
    "persistentvolumeclaims": True,
    "nodes": False,
}
GROUPED = {
    "jobs": ("batch/v1", True),
    "deployments": ("apps/v1", True),
    "statefulsets": ("apps/v1", True),
    "replicasets": ("apps/v1", True),
    "ingresses": ("networking.k8s.io/v1", True),
    "networkpolicies": ("networking.k8s.io/v1", True),
    "leases": ("coordination.k8s.io/v1", True),
    "endpointslices": ("discovery.k8s.io/v1", True),
    "roles": ("rbac.authorization.k8s.io/v1", True),
    "rolebindings": ("rbac.authorization.k8s.io/v1", True),
    "clusterroles": ("rbac.authorization.k8s.io/v1", False),
    "clusterrolebindings": ("rbac.authorization.k8s.io/v1", False),
    "environments": ("catalyst.catalyst.dev/v1alpha1", True),
    "projects": ("catalyst.catalyst.dev/v1alpha1", True),
    "customresourcedefinitions": ("apiextensions.k8s.io/v1", False),
    "validatingadmissionpolicies": ("admissionregistration.k8s.io/v1", False),
    "validatingadmissionpolicybindings": ("admissionregistration.k8s.io/v1", False),
}
KIND_TO_PLURAL = {
    "Namespace": "namespaces",
    "Pod": "pods",
    "Secret": "secrets",
    "ConfigMap": "configmaps",
    "Service": "services",
    "ServiceAccount": "serviceaccounts",
    "Job": "jobs",
    "Deployment": "deployments",
    "StatefulSet": "statefulsets",
    "Ingress": "ingresses",
    "NetworkPolicy": "networkpolicies",
    "ResourceQuota": "resourcequotas",
    "LimitRange": "limitranges",
    "Lease": "leases",
    "EndpointSlice": "endpointslices",
    "Role": "roles",
    "RoleBinding": "rolebindings",
    "ClusterRole": "clusterroles",
    "ClusterRoleBinding": "clusterrolebindings",
    "Environment": "environments",
    "Project": "projects",
    "PersistentVolumeClaim": "persistentvolumeclaims",
    "ValidatingAdmissionPolicy": "validatingadmissionpolicies",
    "ValidatingAdmissionPolicyBinding": "validatingadmissionpolicybindings",
    "CustomResourceDefinition": "customresourcedefinitions",
    "Node": "nodes",
    "Event": "events",
    "ReplicaSet": "replicasets",
}


# Server-owned metadata a client must not send back when it replaces an object.
_SERVER_META = ("resourceVersion", "managedFields", "uid", "creationTimestamp", "generation")


class KubeView(Protocol):
    """What tests read and seed through, on either tier (``KubeRest`` or ``KubeFake``)."""

    def get(self, resource: str, name: str, namespace: str | None = None) -> Any: ...

    def list(
        self, resource: str, namespace: str | None = None, label_selector: str | None = None
    ) -> Any: ...

    def put_object(self, obj: dict[str, Any]) -> Any: ...

    def delete(self, resource: str, name: str, namespace: str | None = None) -> object: ...

    def remove_finalizers(self, resource: str, name: str, namespace: str | None = None) -> None: ...


class KubeRestError(RuntimeError):
    """The API server refused a request; carries the HTTP status and the server's message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


class KubeRest:
    """get/list/apply/delete against a real API server, with a bearer token and CA file."""

    def __init__(self, server: str, token: str, ca_file: Path) -> None:
        self.http = httpx.Client(
            base_url=server,
            headers={"Authorization": f"Bearer {token}"},
            verify=ssl.create_default_context(cafile=str(ca_file)),
            timeout=30,
        )

    def close(self) -> None:
        self.http.close()

    def path(self, resource: str, namespace: str | None = None, name: str | None = None) -> str:
        if resource in CORE:
            prefix, namespaced = "/api/v1", CORE[resource]
        else:
            group_version, namespaced = GROUPED[resource]
            prefix = f"/apis/{group_version}"
        parts = [prefix]
        if namespaced and namespace:
            parts.append(f"namespaces/{namespace}")
        parts.append(resource)
        if name:
            parts.append(name)
        return "/".join(parts)

    def get(self, resource: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        """The object, or None when the server answers 404."""
        answer = self.http.get(self.path(resource, namespace, name))
        if answer.status_code == 404:
            return None
        return self._json(answer)

    def list(
        self,
        resource: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        **params: str,
    ) -> list[dict[str, Any]]:
        """Items of a LIST (kind/apiVersion filled in, as a watch event would carry them)."""
        if label_selector:
            params["labelSelector"] = label_selector
        body = self._json(self.http.get(self.path(resource, namespace), params=params))
        kind = str(body.get("kind", "")).removesuffix("List")
        for item in body.get("items", []):
            item.setdefault("kind", kind)
            item.setdefault("apiVersion", body.get("apiVersion"))
        return list(body.get("items", []))

    def apply(self, obj: dict[str, Any], *, subresource: str = "") -> dict[str, Any]:
        """Server-side apply `obj` (create or update) as field manager ``catalyst-tests``."""
        meta = obj["metadata"]
        path = self.path(KIND_TO_PLURAL[obj["kind"]], meta.get("namespace"), meta["name"])
        answer = self.http.patch(
            path + (f"/{subresource}" if subresource else ""),
            content=orjson.dumps(obj),
            params={"fieldManager": "catalyst-tests", "force": "true"},
            headers={"Content-Type": "application/apply-patch+yaml"},
        )
        return self._json(answer)

    def put_object(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Create or replace `obj` as written, status included (``KubeFake.put_object``'s job).

        Metadata keys `obj` leaves out keep their stored values; a ``status`` is written through
        the status subresource, the only way a real server accepts it for a CRD.
        """
        meta = obj["metadata"]
        plural = KIND_TO_PLURAL[obj["kind"]]
        current = self.get(plural, meta["name"], meta.get("namespace"))
        body = copy.deepcopy(obj)
        given = {k: v for k, v in meta.items() if k not in _SERVER_META}
        if current is None:
            body["metadata"] = given
            stored = self.create(body)
        else:
            body["metadata"] = {**current["metadata"], **given}
            body["metadata"].pop("managedFields", None)
            path = self.path(plural, meta.get("namespace"), meta["name"])
            stored = self._json(self.http.put(path, content=orjson.dumps(body)))
        if "status" in obj and obj["status"] != stored.get("status"):
            path = self.path(plural, meta.get("namespace"), meta["name"]) + "/status"
            answer = self.http.put(path, content=orjson.dumps({**stored, "status": obj["status"]}))
            stored = self._json(answer)
        return stored

    def remove_finalizers(self, resource: str, name: str, namespace: str | None = None) -> None:
        """Clear ``metadata.finalizers`` (a deleting object then goes away)."""
        self.merge_patch(resource, name, namespace, {"metadata": {"finalizers": None}})

    def create(self, obj: dict[str, Any], *, strict: bool = False) -> dict[str, Any]:
        """POST `obj` (a 409 raises: use ``apply`` to create-or-update).

        `strict` asks for ``fieldValidation=Strict``: unknown fields are a 422 instead of being
        pruned with a warning, the server's default.
        """
        meta = obj["metadata"]
        path = self.path(KIND_TO_PLURAL[obj["kind"]], meta.get("namespace"))
        params = {"fieldValidation": "Strict"} if strict else {}
        return self._json(self.http.post(path, content=orjson.dumps(obj), params=params))

    def merge_patch(
        self,
        resource: str,
        name: str,
        namespace: str | None,
        body: dict[str, Any],
        *,
        subresource: str = "",
    ) -> dict[str, Any]:
        """JSON merge patch of one object (or of its `subresource`, e.g. ``status``)."""
        path = self.path(resource, namespace, name) + (f"/{subresource}" if subresource else "")
        answer = self.http.patch(
            path,
            content=orjson.dumps(body),
            headers={"Content-Type": "application/merge-patch+json"},
        )
        return self._json(answer)

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST `body` to a raw API path (bindings, reviews, token requests)."""
        return self._json(self.http.post(path, content=orjson.dumps(body)))

    def delete(self, resource: str, name: str, namespace: str | None = None) -> bool:
        """Delete; False when it was already gone."""
        answer = self.http.delete(self.path(resource, namespace, name))
        if answer.status_code == 404:
            return False
        self._json(answer)
        return True

    def _json(self, answer: httpx.Response) -> dict[str, Any]:
        if answer.status_code >= 400:
            try:
                message = str(answer.json().get("message", answer.text))
            except ValueError:
                message = answer.text
            raise KubeRestError(answer.status_code, message)
        loaded: dict[str, Any] = answer.json()
        return loaded
