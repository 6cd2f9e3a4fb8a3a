"""Adapter: every Kubernetes API call the reconciler makes, over the official `kubernetes` client.

Objects travel as plain dicts (the wire JSON). Every call has a timeout. Third-party errors are
mapped into `core.errors` by the one Kubernetes error map, `core.clients.kube.kube_error` (404
NotFound, 409 Conflict/AlreadyExists, 410 Gone, 400/422 Invalid, 429 RateLimited after
Retry-After, 5xx and connection failures TemporaryError).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes import client as k8s

from core.clients.kube import kube_error
from core.errors import (
    CatalystError,
    NotFound,
    TemporaryError,
)
from core.model import ENVIRONMENT_PLURAL, GROUP_VERSION, PROJECT_PLURAL

Manifest = dict[str, Any]
MERGE_PATCH = "application/merge-patch+json"
CALL_TIMEOUT = 10.0


@dataclass(frozen=True)
class Kind:
    """Where a kind lives in the REST API."""

    prefix: str
    plural: str
    namespaced: bool = True


KINDS: dict[str, Kind] = {
    "Namespace": Kind("/api/v1", "namespaces", namespaced=False),
    "ResourceQuota": Kind("/api/v1", "resourcequotas"),
    "LimitRange": Kind("/api/v1", "limitranges"),
    "Secret": Kind("/api/v1", "secrets"),
    "ServiceAccount": Kind("/api/v1", "serviceaccounts"),
    "Service": Kind("/api/v1", "services"),
    "PersistentVolumeClaim": Kind("/api/v1", "persistentvolumeclaims"),
    "ConfigMap": Kind("/api/v1", "configmaps"),
    "Pod": Kind("/api/v1", "pods"),
    "NetworkPolicy": Kind("/apis/networking.k8s.io/v1", "networkpolicies"),
    "Ingress": Kind("/apis/networking.k8s.io/v1", "ingresses"),
    "Deployment": Kind("/apis/apps/v1", "deployments"),
    "ReplicaSet": Kind("/apis/apps/v1", "replicasets"),
    "StatefulSet": Kind("/apis/apps/v1", "statefulsets"),
    "Job": Kind("/apis/batch/v1", "jobs"),
    "Lease": Kind("/apis/coordination.k8s.io/v1", "leases"),
    "EndpointSlice": Kind("/apis/discovery.k8s.io/v1", "endpointslices"),
    "RoleBinding": Kind("/apis/rbac.authorization.k8s.io/v1", "rolebindings"),
    "Environment": Kind(f"/apis/{GROUP_VERSION}", ENVIRONMENT_PLURAL),
    "Project": Kind(f"/apis/{GROUP_VERSION}", PROJECT_PLURAL),
}


def path_of(kind: str, namespace: str | None = None, name: str | None = None) -> str:
    """REST path of a collection (name None) or one object."""
    spec = KINDS[kind]
    path = spec.prefix
    if spec.namespaced and namespace is not None:
        path += f"/namespaces/{namespace}"
    path += f"/{spec.plural}"
    return path if name is None else f"{path}/{name}"


def error_for(status: int, body: bytes, headers: Any = None) -> CatalystError:
    """The core.errors exception for an HTTP error answer (`core.clients.kube.kube_error`)."""
    try:
        decoded = json.loads(body or b"{}")
    except ValueError:
        decoded = {}
    reason = str(decoded.get("reason", ""))
    message = f"{status} {reason}: {decoded.get('message', '')}".strip()
    retry_after = (headers or {}).get("Retry-After")
    return kube_error(status, message, reason=reason, retry_after=retry_after)


def with_item_kinds(page: Manifest, kind: str) -> Manifest:
    """`page` with `kind` and `apiVersion` set on every item (from the list's own kind)."""
    kind = str(page.get("kind") or "").removesuffix("List") or kind
    api_version = str(page.get("apiVersion") or KINDS[kind].prefix.split("/", 2)[-1])
    items = [{**item, "kind": kind, "apiVersion": api_version} for item in page.get("items") or []]
    return {**page, "items": items}


class Cluster:
    """Dict-in, dict-out Kubernetes API calls with timeouts and mapped errors."""

    def __init__(
        self, api_client: Any, *, timeout: float = CALL_TIMEOUT, as_user: str | None = None
    ) -> None:
        self.api_client = api_client
        self.timeout = timeout
        self.as_user = as_user

    def impersonating(self, user: str) -> Cluster:
        """The same connection acting as `user` (`Impersonate-User`), e.g. a deployer account."""
        return Cluster(self.api_client, timeout=self.timeout, as_user=user)

    # --- transport -------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: float | tuple[float, float] | None = None,
        stream: bool = False,
    ) -> Any:
        """One HTTP call; the decoded JSON answer (or the raw response when `stream`)."""
        headers = {"Accept": "application/json", "Content-Type": content_type}
        if self.as_user is not None:
            headers["Impersonate-User"] = self.as_user
        params = [(k, v) for k, v in (query or {}).items() if v is not None]
        method, url, headers, body, _ = self.api_client.param_serialize(
            method,
            path,
            query_params=params,
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        try:
            response = self.api_client.call_api(
                method,
                url,
                header_params=headers,
                body=body,
                _request_timeout=timeout or self.timeout,
            )
        except (urllib3.exceptions.HTTPError, OSError, k8s.ApiException) as exc:
            raise TemporaryError(f"kubernetes API unreachable: {exc}") from exc
        if stream and 200 <= response.status < 300:
            return response.response
        return self._decode(response)

    @staticmethod
    def _decode(response: Any) -> Any:
        try:
            data = response.read()
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise TemporaryError(f"kubernetes API read failed: {exc}") from exc
        if response.status >= 400:
            raise error_for(response.status, data, response.headers)
        return json.loads(data) if data else {}

    # --- verbs -----------------------------------------------------------------------------

    def get(self, kind: str, name: str, namespace: str | None = None) -> Manifest:
        """GET one object; NotFound when absent."""
        return dict(self.request("GET", path_of(kind, namespace, name)))

    def get_or_none(self, kind: str, name: str, namespace: str | None = None) -> Manifest | None:
        """GET one object, None when absent."""
        try:
            return self.get(kind, name, namespace)
        except NotFound:
            return None

    def list_raw(
        self,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> Manifest:
        """LIST a collection: the List (items, metadata.resourceVersion/continue).

        Every item gets the `kind`/`apiVersion` of the list: a real API server omits them on the
        items of built-in kinds (watch events carry them), and the reconciler keys objects by kind.
        """
        query = {"labelSelector": label_selector, "limit": limit, "continue": continue_token}
        page = dict(self.request("GET", path_of(kind, namespace), query=query))
        return with_item_kinds(page, kind)

    def list_items(
        self, kind: str, namespace: str | None = None, *, label_selector: str | None = None
    ) -> list[Manifest]:
        """Every item of a collection."""
        page = self.list_raw(kind, namespace, label_selector=label_selector)
        return [dict(i) for i in page.get("items") or []]

    def create(self, obj: Manifest) -> Manifest:
        """POST `obj`; AlreadyExists when the name is taken."""
        namespace = (obj.get("metadata") or {}).get("namespace")
        return dict(self.request("POST", path_of(obj["kind"], namespace), body=obj))

    def replace(self, obj: Manifest) -> Manifest:
        """PUT `obj` (carries metadata.resourceVersion: Conflict when stale)."""
        meta = obj["metadata"]
        path = path_of(obj["kind"], meta.get("namespace"), meta["name"])
        return dict(self.request("PUT", path, body=obj))

    def patch(
        self,
        kind: str,
        name: str,
        namespace: str | None,
        patch: Manifest,
        *,
        subresource: str | None = None,
    ) -> Manifest:
        """JSON merge patch (a metadata.resourceVersion in it makes the write conditional)."""
        path = path_of(kind, namespace, name) + (f"/{subresource}" if subresource else "")
        return dict(self.request("PATCH", path, body=patch, content_type=MERGE_PATCH))

    def delete(self, kind: str, name: str, namespace: str | None = None) -> bool:
        """DELETE with background propagation; False when it was already gone."""
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"}
        try:
            self.request("DELETE", path_of(kind, namespace, name), body=body)
        except NotFound:
            return False
        return True

    def pod_log(
        self,
        name: str,
        namespace: str,
        *,
        tail_lines: int,
        container: str | None = None,
        previous: bool = False,
    ) -> str:
        """The last `tail_lines` lines of a pod's log (of `container`, or its only one; of the
        run before the current one when `previous`); NotFound when absent."""
        api: Any = k8s.CoreV1Api(self.api_client)  # typed as returning str; raw here
        extra = {"container": container} if container else {}
        try:
            response = api.read_namespaced_pod_log(
                name,
                namespace,
                tail_lines=tail_lines,
                previous=previous,
                **extra,
                _request_timeout=self.timeout,
                _preload_content=False,  # raw bytes: the client would mangle JSON-looking lines
            )
            data = response.data
        except k8s.ApiException as exc:
            raise error_for(int(exc.status or 0), (exc.body or "").encode(), exc.headers) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise TemporaryError(f"kubernetes API unreachable: {exc}") from exc
        return bytes(data or b"").decode("utf-8", errors="replace")

    def watch(
        self,
        kind: str,
        *,
        resource_version: str,
        label_selector: str | None,
        timeout_seconds: int,
        on_open: Callable[[Any], None] | None = None,
    ) -> Iterator[Manifest]:
        """Watch events (`{type, object}`) from `resource_version`; Gone when it is too old."""
        query = {
            "watch": "true",
            "resourceVersion": resource_version,
            "labelSelector": label_selector,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": timeout_seconds,
        }
        response = self.request(
            "GET", path_of(kind), query=query, timeout=(5.0, timeout_seconds + 10.0), stream=True
        )
        if on_open is not None:
            on_open(response)  # lets the owner shut the stream down from another thread
        try:
            yield from _events(response)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise TemporaryError(f"watch broken: {exc}") from exc
        finally:
            response.release_conn()


def _events(response: Any) -> Iterator[Manifest]:
    buffer = b""
    for chunk in response.stream(65536, decode_content=True):
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            if line.strip():
                yield _event(json.loads(line))


def _event(event: Manifest) -> Manifest:
    if event.get("type") == "ERROR":
        status = event.get("object") or {}
        raise error_for(int(status.get("code") or 500), json.dumps(status).encode())
    return event
