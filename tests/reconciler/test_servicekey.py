"""The managed-service password key on a real API server: generated once at random, then read by
every reconciler (a restart, a standby), never derived from the Environment's uid alone."""

from __future__ import annotations

import pytest

from core.errors import ConfigError, TemporaryError
from reconciler.cluster import Cluster, Manifest
from reconciler.servicekey import (
    SECRET_NAME,
    ensure_service_key,
    key_secret,
    service_key_at_start,
)
from tests.support.control_plane import ClusterScope


def test_the_first_reconciler_generates_the_key_and_every_later_one_reads_it(
    cluster: ClusterScope,
) -> None:
    namespace = cluster.namespace(cluster.name("catalyst-system"))
    api = Cluster(cluster.plane.api_client())
    first = ensure_service_key(api, namespace)
    assert len(first) >= 32
    assert ensure_service_key(api, namespace) == first  # a restart: the same key
    other = cluster.namespace(cluster.name("elsewhere"))
    assert ensure_service_key(api, other) != first  # random, not derived from anything shared


def test_a_standby_racing_the_creation_uses_the_winners_key(cluster: ClusterScope) -> None:
    namespace = cluster.namespace(cluster.name("catalyst-system"))
    api = Cluster(cluster.plane.api_client())
    winner = key_secret(namespace, "the-winners-key")

    class LateCluster(Cluster):
        """Sees no Secret on its first look; the winner creates it in between."""

        looked = False

        def get_or_none(
            self, kind: str, name: str, namespace: str | None = None
        ) -> Manifest | None:
            if not self.looked:
                self.looked = True
                api.create(winner)
                return None
            return super().get_or_none(kind, name, namespace)

    assert ensure_service_key(LateCluster(api.api_client), namespace) == "the-winners-key"


def test_a_secret_without_the_key_is_a_clear_error(cluster: ClusterScope) -> None:
    namespace = cluster.namespace(cluster.name("catalyst-system"))
    api = Cluster(cluster.plane.api_client())
    empty = key_secret(namespace, "x")
    empty["data"] = {}
    api.create(empty)
    with pytest.raises(ConfigError, match=f"{SECRET_NAME} exists but holds no"):
        ensure_service_key(api, namespace)


def test_an_unreachable_api_server_at_start_is_retried_then_reported() -> None:
    class Down(Cluster):
        calls = 0

        def __init__(self) -> None:
            pass

        def get_or_none(
            self, kind: str, name: str, namespace: str | None = None
        ) -> Manifest | None:
            Down.calls += 1
            raise TemporaryError("connection refused")

    slept: list[float] = []
    with pytest.raises(TemporaryError, match="connection refused"):
        service_key_at_start(Down(), "ns", sleep=slept.append)
    assert Down.calls == len(slept) + 1 and all(0 < s <= 15 for s in slept)
