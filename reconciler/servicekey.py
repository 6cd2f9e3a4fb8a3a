"""Adapter: the key every managed-service password is derived from, generated once per cluster.

The chart generates it (`secret-service-key.yaml`) and passes it as
CATALYST_SERVICE_PASSWORD_KEY. A reconciler started without it (installed some other way, or
`scripts/dev.sh`) keeps its own in a Secret of its namespace: created at random by the first
reconciler that finds none, read by every later one (a standby, a restart), so passwords stay
stable and are never derived from what the Environment shows (its uid) alone.
"""

from __future__ import annotations

import base64
import logging
import secrets
import time
from collections.abc import Callable

from core.backoff import full_jitter
from core.clients.kube import AlreadyExists
from core.errors import ConfigError, TemporaryError
from reconciler.cluster import Cluster, Manifest

log = logging.getLogger(__name__)

SECRET_NAME = "catalyst-preview-service-key"
START_ATTEMPTS = 8  # ~1 min of an unreachable API server at start, then the process gives up
DATA_KEY = "service-password-key"


def stored_key(secret: Manifest | None) -> str | None:
    """The key held by the Secret, None when it holds none."""
    raw = ((secret or {}).get("data") or {}).get(DATA_KEY)
    return base64.b64decode(raw).decode() if raw else None


def key_secret(namespace: str, key: str) -> Manifest:
    """The Secret holding `key`."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": SECRET_NAME,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "catalyst-preview"},
        },
        "type": "Opaque",
        "data": {DATA_KEY: base64.b64encode(key.encode()).decode()},
    }


def ensure_service_key(cluster: Cluster, namespace: str) -> str:
    """The cluster's service-password key, created at random when there is none yet."""
    found = stored_key(cluster.get_or_none("Secret", SECRET_NAME, namespace))
    if found:
        return found
    try:
        cluster.create(key_secret(namespace, secrets.token_urlsafe(36)))
        log.info("generated the managed-service password key in %s/%s", namespace, SECRET_NAME)
    except AlreadyExists:
        pass  # another reconciler (a standby starting beside us) made it first: use that one
    created = stored_key(cluster.get("Secret", SECRET_NAME, namespace))
    if not created:
        raise ConfigError(f"Secret {namespace}/{SECRET_NAME} exists but holds no {DATA_KEY!r}")
    return created


def service_key_at_start(
    cluster: Cluster, namespace: str, *, sleep: Callable[[float], None] = time.sleep
) -> str:
    """`ensure_service_key`, retried while the API server is briefly unreachable at start."""
    for attempt in range(START_ATTEMPTS):
        try:
            return ensure_service_key(cluster, namespace)
        except TemporaryError as exc:
            log.warning("service-password key not readable yet: %s", exc)
            sleep(full_jitter(attempt, base=1.0, cap=15.0, floor=0.5))
    return ensure_service_key(cluster, namespace)
