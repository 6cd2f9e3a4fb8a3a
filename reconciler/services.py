"""Pure: managed backing services (`config.services[]`) as Kubernetes objects (no I/O).

Each entry becomes a Secret of credentials, a Service and a one-replica StatefulSet with its
storage claim, a readiness probe and resources set. The application gets connection variables
(`DATABASE_URL`, `REDIS_URL`, `<NAME>_URL`, ...) as `secretKeyRef`s, so no password is written
into a Deployment spec.

Passwords are derived, not random: HMAC-SHA256 of the namespace and service name keyed by the
Environment's uid. A pure builder must produce the same Secret every pass (a random one would be
rewritten each time and lock the app out of a database initialised with the old password), and
the uid is assigned by the API server, so it changes when an Environment is recreated.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core import naming
from core.model import EnvVar, ManagedService

Manifest = dict[str, Any]

SERVICE_LABEL = "catalyst.dev/managed-service"
DEFAULT_STORAGE = "1Gi"
DEFAULT_RESOURCES: Manifest = {
    "requests": {"cpu": "100m", "memory": "128Mi"},
    "limits": {"cpu": "500m", "memory": "512Mi"},
}


@dataclass(frozen=True)
class Engine:
    """What differs between database engines."""

    image: str
    port: int
    data_path: str
    user: str
    database: str
    scheme: str
    env_var: str


ENGINES: dict[str, Engine] = {
    "postgres": Engine(
        "postgres", 5432, "/var/lib/postgresql/data", "app", "app", "postgresql", "DATABASE_URL"
    ),
    "mysql": Engine("mysql", 3306, "/var/lib/mysql", "app", "app", "mysql", "DATABASE_URL"),
    "redis": Engine("redis", 6379, "/data", "", "0", "redis", "REDIS_URL"),
}
DEFAULT_VERSIONS = {"postgres": "16", "mysql": "8.4", "redis": "7"}


@dataclass(frozen=True)
class ServiceTarget:
    """Where managed services go and what seeds their credentials."""

    namespace: str
    labels: Mapping[str, str]
    seed: str


def object_name(service: ManagedService) -> str:
    """The Service/StatefulSet name (a DNS-1123 label): also the host the app connects to."""
    return naming.hashed_name(service.name)


def secret_name(service: ManagedService) -> str:
    """Name of the credentials Secret."""
    return naming.hashed_name(service.name, "credentials")


def password(target: ServiceTarget, service: ManagedService) -> str:
    """A stable 32-hex-digit password for one service of one Environment."""
    message = f"{target.namespace}/{object_name(service)}".encode()
    return hmac.new(target.seed.encode(), message, hashlib.sha256).hexdigest()[:32]


def image_of(service: ManagedService) -> str:
    """`image` if given, else the engine's image at `version` (or a pinned default major)."""
    if service.image:
        return service.image
    engine = ENGINES[service.engine]
    return f"{engine.image}:{service.version or DEFAULT_VERSIONS[service.engine]}"


def connection_url(target: ServiceTarget, service: ManagedService) -> str:
    """The URL the application connects with."""
    engine, host = ENGINES[service.engine], object_name(service)
    secret = password(target, service)
    return f"{engine.scheme}://{engine.user}:{secret}@{host}:{engine.port}/{engine.database}"


def credentials(target: ServiceTarget, service: ManagedService) -> dict[str, str]:
    """The Secret's keys: username, password, database, host, port, url."""
    engine = ENGINES[service.engine]
    return {
        "username": engine.user,
        "password": password(target, service),
        "database": engine.database,
        "host": object_name(service),
        "port": str(engine.port),
        "url": connection_url(target, service),
    }


def _meta(target: ServiceTarget, name: str) -> Manifest:
    return {"name": name, "namespace": target.namespace, "labels": dict(target.labels)}


def secret(target: ServiceTarget, service: ManagedService) -> Manifest:
    """The credentials Secret (base64 `data`, exactly as the API server stores it)."""
    data = {
        k: base64.b64encode(v.encode()).decode() for k, v in credentials(target, service).items()
    }
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(target, secret_name(service)),
        "type": "Opaque",
        "data": data,
    }


def service_object(target: ServiceTarget, service: ManagedService) -> Manifest:
    """ClusterIP Service on the engine's port."""
    port = ENGINES[service.engine].port
    name = object_name(service)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(target, name),
        "spec": {
            "selector": {SERVICE_LABEL: name},
            "ports": [
                {"name": service.engine, "port": port, "targetPort": port, "protocol": "TCP"}
            ],
        },
    }


def _from_secret(var: str, secret: str, key: str) -> Manifest:
    return {"name": var, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def _engine_env(service: ManagedService) -> list[Manifest]:
    ref = secret_name(service)
    if service.engine == "postgres":
        return [
            _from_secret("POSTGRES_USER", ref, "username"),
            _from_secret("POSTGRES_PASSWORD", ref, "password"),
            _from_secret("POSTGRES_DB", ref, "database"),
            # A claim's root holds lost+found, which initdb refuses: use a subdirectory.
            {"name": "PGDATA", "value": f"{ENGINES['postgres'].data_path}/pgdata"},
        ]
    if service.engine == "mysql":
        return [
            _from_secret("MYSQL_ROOT_PASSWORD", ref, "password"),
            _from_secret("MYSQL_USER", ref, "username"),
            _from_secret("MYSQL_PASSWORD", ref, "password"),
            _from_secret("MYSQL_DATABASE", ref, "database"),
        ]
    return [_from_secret("REDIS_PASSWORD", ref, "password")]


def _probe(service: ManagedService) -> Manifest:
    commands = {
        "postgres": 'pg_isready -U "$POSTGRES_USER" -d "$POSTGRES_DB" -h 127.0.0.1',
        "mysql": 'mysqladmin ping -h 127.0.0.1 -p"$MYSQL_ROOT_PASSWORD"',
        "redis": 'redis-cli -a "$REDIS_PASSWORD" --no-auth-warning ping | grep -q PONG',
    }
    return {
        "exec": {"command": ["/bin/sh", "-c", commands[service.engine]]},
        "periodSeconds": 5,
        "timeoutSeconds": 3,
        "failureThreshold": 6,
    }


def _container(service: ManagedService) -> Manifest:
    engine = ENGINES[service.engine]
    out: Manifest = {
        "name": service.engine,
        "image": image_of(service),
        "ports": [{"containerPort": engine.port, "name": service.engine, "protocol": "TCP"}],
        "env": _engine_env(service),
        "readinessProbe": _probe(service),
        "resources": (
            service.resources.model_dump(exclude_none=True)
            if service.resources
            else {k: dict(v) for k, v in DEFAULT_RESOURCES.items()}
        ),
        "volumeMounts": [{"name": "data", "mountPath": engine.data_path}],
    }
    if service.engine == "redis":
        out["args"] = ["redis-server", "--appendonly", "yes", "--requirepass", "$(REDIS_PASSWORD)"]
    return out


def _claim(target: ServiceTarget, service: ManagedService) -> Manifest:
    storage = service.storage
    spec: Manifest = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": storage.size if storage else DEFAULT_STORAGE}},
    }
    if storage and storage.storage_class_name:
        spec["storageClassName"] = storage.storage_class_name
    return {"metadata": {"name": "data", "labels": dict(target.labels)}, "spec": spec}


def statefulset(target: ServiceTarget, service: ManagedService) -> Manifest:
    """One-replica StatefulSet with a `data` claim template."""
    name = object_name(service)
    selector = {SERVICE_LABEL: name}
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": _meta(target, name),
        "spec": {
            "serviceName": name,
            "replicas": 1,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": {**target.labels, **selector}},
                "spec": {"containers": [_container(service)]},
            },
            "volumeClaimTemplates": [_claim(target, service)],
        },
    }


def service_objects(target: ServiceTarget, services: list[ManagedService]) -> list[Manifest]:
    """Secret, Service and StatefulSet of every managed service, in order."""
    objects: list[Manifest] = []
    for service in services:
        objects.extend(
            [secret(target, service), service_object(target, service), statefulset(target, service)]
        )
    return objects


def _env_name(service: ManagedService) -> str:
    cleaned = "".join(c if c.isalnum() else "_" for c in service.name.upper()).strip("_")
    return f"{cleaned or 'SERVICE'}_URL"


def connection_env(services: list[ManagedService]) -> list[EnvVar]:
    """`<NAME>_URL` per service plus `DATABASE_URL`/`REDIS_URL` for the first of each kind."""
    refs: dict[str, dict[str, Any]] = {}
    for service in services:
        ref = {"secretKeyRef": {"name": secret_name(service), "key": "url"}}
        refs.setdefault(ENGINES[service.engine].env_var, ref)
        refs.setdefault(_env_name(service), ref)
    return [EnvVar(name=name, value_from=ref) for name, ref in refs.items()]


def with_connection_env(
    app_env: list[EnvVar] | None, services: list[ManagedService]
) -> list[EnvVar] | None:
    """The application's env plus connection variables it does not set itself."""
    if not services:
        return app_env
    own = {var.name for var in app_env or []}
    injected = [var for var in connection_env(services) if var.name not in own]
    return [*(app_env or []), *injected]


def statefulsets_ready(
    services: list[ManagedService], workloads: Mapping[tuple[str, str], Manifest]
) -> str | None:
    """None when every StatefulSet has a ready replica, else why not."""
    for service in services:
        name = object_name(service)
        live = workloads.get(("StatefulSet", name))
        status = (live or {}).get("status") or {}
        if live is None or int(status.get("readyReplicas") or 0) < 1:
            return f"managed service {name} is not ready yet"
    return None
