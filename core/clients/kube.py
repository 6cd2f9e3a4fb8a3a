"""Adapter: Environment and Project custom resources on the official `kubernetes` client.

Workers use this to read Projects and to create, update and delete Environments (never their
status, which belongs to the reconciler). Every call carries `_request_timeout`; `ApiException`
and transport errors are mapped to `core.errors` by HTTP status and go no further. Updates are
full replaces carrying the resourceVersion that was read, so a concurrent writer yields
`Conflict` and the caller retries on fresh state.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any, Protocol

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from core.errors import (
    CatalystError,
    Conflict,
    Invalid,
    NotFound,
    PermanentError,
    RateLimited,
    TemporaryError,
)
from core.model import (
    API_GROUP,
    API_VERSION,
    ENVIRONMENT_PLURAL,
    PROJECT_PLURAL,
    Environment,
    Project,
)

REQUEST_TIMEOUT = (3.0, 10.0)
Obj = dict[str, Any]


class EnvironmentStore(Protocol):
    """What the worker flows need from the cluster (a fake can stand in)."""

    def get_environment(self, namespace: str, name: str) -> Environment | None: ...

    def create_environment(self, env: Environment) -> Environment: ...

    def replace_environment(self, env: Environment) -> Environment: ...

    def delete_environment(self, namespace: str, name: str) -> None: ...

    def list_environments(
        self, namespace: str | None = None, *, label_selector: str | None = None
    ) -> list[Environment]: ...

    def list_projects(self) -> list[Project]: ...


def new_api_client(*, pool_size: int | None = None) -> Any:
    """An ApiClient from the in-cluster service account, else the kubeconfig in KUBECONFIG.

    `kubernetes.config.ConfigException` (or OSError) when neither works. KUBECONFIG is read at
    call time: the client captures its default path when it is imported, before a test or the
    CLI may have set it. `pool_size` sizes the connection pool for threaded callers.
    """
    configuration = k8s.Configuration()
    try:
        k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except k8s_config.ConfigException:
        k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=os.environ.get("KUBECONFIG"), client_configuration=configuration
        )
    if pool_size is not None:
        configuration.connection_pool_maxsize = pool_size
    return k8s.ApiClient(configuration)


class AlreadyExists(Conflict):
    """A create found an object of that name."""


class Gone(TemporaryError):
    """A watch or list resumed from a resourceVersion that is too old (410): relist."""


class Forbidden(PermanentError):
    """RBAC refused the call (403): the identity making it may not do this."""


def kube_error(
    status: int, message: str, *, reason: str = "", retry_after: str | None = None
) -> CatalystError:
    """The one Kubernetes error map: an API status (and its `reason`) as a core.errors exception.

    A 429 waits what the API server's `Retry-After` says (1 s when it says nothing usable).
    """
    if status == 404:
        return NotFound(message)
    if status == 409:
        return AlreadyExists(message) if reason == "AlreadyExists" else Conflict(message)
    if status == 410:
        return Gone(message)
    if status == 403:
        return Forbidden(message)
    if status in (400, 422):
        return Invalid(message)
    if status == 429:
        delay = float(retry_after) if retry_after and retry_after.isdigit() else 1.0
        return RateLimited(message, delay=delay)
    if status >= 500 or status == 0:
        return TemporaryError(message)
    return PermanentError(message)


def map_api_exception(exc: ApiException, what: str) -> CatalystError:
    """A core.errors exception for an ApiException of the typed client (`kube_error`)."""
    status = int(exc.status or 0)
    message = f"{what}: Kubernetes {status} {exc.reason or ''}".strip()
    if status in (400, 422):
        message = f"{message}: {_api_message(exc)}"
    retry_after = (exc.headers or {}).get("Retry-After")
    return kube_error(status, message, reason=_status_reason(exc), retry_after=retry_after)


def _status_reason(exc: ApiException) -> str:
    try:
        decoded = json.loads(exc.body or "{}")
    except ValueError:
        return ""
    return str(decoded.get("reason", "")) if isinstance(decoded, dict) else ""


def _api_message(exc: ApiException) -> str:
    body = str(exc.body or "")
    return body[:500]


def _call(
    what: str, fn: Callable[..., Any], *args: Any, timeout: Any = REQUEST_TIMEOUT, **kwargs: Any
) -> Any:
    try:
        return fn(*args, _request_timeout=timeout, **kwargs)
    except ApiException as exc:
        raise map_api_exception(exc, what) from exc
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise TemporaryError(f"{what}: Kubernetes unreachable: {exc}") from exc


def _parse_environment(obj: Obj) -> Environment:
    try:
        return Environment.model_validate(obj)
    except ValidationError as exc:
        name = (obj.get("metadata") or {}).get("name", "?")
        raise Invalid(f"Environment {name} does not match the model: {exc}") from exc


class KubeEnvironments:
    """Environment/Project CRs through `CustomObjectsApi`."""

    def __init__(self, api_client: Any) -> None:
        self._api = k8s.CustomObjectsApi(api_client)

    def get_environment(self, namespace: str, name: str) -> Environment | None:
        """The Environment, or None when it does not exist."""
        try:
            obj = _call(
                f"get Environment {namespace}/{name}",
                self._api.get_namespaced_custom_object,
                API_GROUP,
                API_VERSION,
                namespace,
                ENVIRONMENT_PLURAL,
                name,
            )
        except NotFound:
            return None
        return _parse_environment(obj)

    def create_environment(self, env: Environment) -> Environment:
        """Create; `Conflict` when it already exists."""
        body = env.to_wire()
        body.pop("status", None)
        namespace = env.metadata.namespace or ""
        obj = _call(
            f"create Environment {namespace}/{env.metadata.name}",
            self._api.create_namespaced_custom_object,
            API_GROUP,
            API_VERSION,
            namespace,
            ENVIRONMENT_PLURAL,
            body,
        )
        return _parse_environment(obj)

    def replace_environment(self, env: Environment) -> Environment:
        """Replace metadata and spec; `Conflict` when the resourceVersion read is stale."""
        body = env.to_wire()
        body.pop("status", None)
        namespace, name = env.metadata.namespace or "", env.metadata.name
        obj = _call(
            f"update Environment {namespace}/{name}",
            self._api.replace_namespaced_custom_object,
            API_GROUP,
            API_VERSION,
            namespace,
            ENVIRONMENT_PLURAL,
            name,
            body,
        )
        return _parse_environment(obj)

    def delete_environment(self, namespace: str, name: str) -> None:
        """Request deletion (the reconciler's finalizer finishes it); gone already is fine."""
        try:
            _call(
                f"delete Environment {namespace}/{name}",
                self._api.delete_namespaced_custom_object,
                API_GROUP,
                API_VERSION,
                namespace,
                ENVIRONMENT_PLURAL,
                name,
            )
        except NotFound:
            return

    def list_environments(
        self, namespace: str | None = None, *, label_selector: str | None = None
    ) -> list[Environment]:
        """Environments in one namespace or all, optionally by label selector."""
        extra = {"label_selector": label_selector} if label_selector else {}
        if namespace:
            data = _call(
                "list Environments",
                self._api.list_namespaced_custom_object,
                API_GROUP,
                API_VERSION,
                namespace,
                ENVIRONMENT_PLURAL,
                **extra,
            )
        else:
            data = _call(
                "list Environments",
                self._api.list_cluster_custom_object,
                API_GROUP,
                API_VERSION,
                ENVIRONMENT_PLURAL,
                **extra,
            )
        return [_parse_environment(item) for item in data.get("items", [])]

    def list_projects(self) -> list[Project]:
        """Every Project in the cluster; one that does not parse is skipped, not fatal."""
        data = _call(
            "list Projects",
            self._api.list_cluster_custom_object,
            API_GROUP,
            API_VERSION,
            PROJECT_PLURAL,
        )
        projects = []
        for item in data.get("items", []):
            try:
                projects.append(Project.model_validate(item))
            except ValidationError:
                continue
        return projects


class PodReader(Protocol):
    """Read access to a preview namespace's pods and their logs."""

    def list_pods(self, namespace: str) -> list[dict[str, Any]]: ...

    def pod_log(self, namespace: str, name: str, *, container: str, tail_lines: int) -> str: ...


class KubePods:
    """Pods and pod logs through `CoreV1Api` (the worker's read-only view of previews)."""

    def __init__(self, api_client: Any) -> None:
        self._client = api_client
        self._api = k8s.CoreV1Api(api_client)

    def list_pods(self, namespace: str) -> list[dict[str, Any]]:
        """Every pod of `namespace` as plain API dicts (camelCase keys)."""
        pods = _call(f"list pods in {namespace}", self._api.list_namespaced_pod, namespace)
        return [self._client.sanitize_for_serialization(p) for p in pods.items]

    def pod_log(self, namespace: str, name: str, *, container: str, tail_lines: int) -> str:
        """The last lines of one container's log; NotFound when the pod is gone."""
        response = _call(
            f"read the log of {namespace}/{name}",
            self._api.read_namespaced_pod_log,
            name,
            namespace,
            container=container,
            tail_lines=tail_lines,
            _preload_content=False,  # raw bytes: the client would mangle JSON-looking lines
        )
        return bytes(response.data or b"").decode("utf-8", errors="replace")
