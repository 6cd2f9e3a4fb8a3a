"""Adapter: the addresses of the Kubernetes API server, which build pods must never reach.

A build runs the pull request's Dockerfile (Kaniko executes its `RUN` steps), so its egress
NetworkPolicy names the git host and the registry only. The default egress CIDR is broad
(`0.0.0.0/0`), and the API server may well sit inside it: its Service ClusterIP
(`default/kubernetes`) and the endpoints behind it (most CNIs judge egress after the Service's
DNAT, on the endpoint address) are excepted from every allowed block.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from core.errors import CatalystError
from reconciler.cluster import Cluster, Manifest

log = logging.getLogger(__name__)

API_SERVICE_NAMESPACE = "default"
API_SERVICE = "kubernetes"
REFRESH_SECONDS = 300.0  # a control plane's addresses change on upgrades, rarely in between
RETRY_SECONDS = 30.0  # after a read that found nothing (an error was logged)


def service_addresses(service: Manifest | None) -> list[str]:
    """The ClusterIP(s) of the `kubernetes` Service."""
    spec = (service or {}).get("spec") or {}
    found = [*(spec.get("clusterIPs") or []), spec.get("clusterIP")]
    return [str(ip) for ip in found if ip and ip != "None"]


def endpoint_addresses(slices: list[Manifest]) -> list[str]:
    """Every address of the EndpointSlices behind the `kubernetes` Service."""
    return [
        str(address)
        for piece in slices
        for endpoint in piece.get("endpoints") or []
        for address in endpoint.get("addresses") or []
    ]


class ApiServerAddresses:
    """The API server's addresses, read at most every REFRESH_SECONDS (the last known on error)."""

    def __init__(self, cluster: Cluster, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.cluster, self.clock = cluster, clock
        self._known: tuple[str, ...] = ()
        self._next_read: float | None = None

    def __call__(self) -> tuple[str, ...]:
        now = self.clock()
        if self._next_read is None or now >= self._next_read:
            self._refresh(now)
        return self._known

    def _refresh(self, now: float) -> None:
        found = [*self._read(self._service), *self._read(self._endpoints)]
        if found:
            self._known = tuple(dict.fromkeys(found))
        self._next_read = now + (REFRESH_SECONDS if found else RETRY_SECONDS)

    @staticmethod
    def _read(reader: Callable[[], list[str]]) -> list[str]:
        try:
            return reader()
        except CatalystError as exc:
            # Not fatal: the policy keeps the last known addresses and the next pass asks again
            # (the ClusterIP alone still covers CNIs that judge egress before the Service DNAT).
            log.warning("could not read the API server's addresses: %s", exc)
            return []

    def _service(self) -> list[str]:
        return service_addresses(
            self.cluster.get_or_none("Service", API_SERVICE, API_SERVICE_NAMESPACE)
        )

    def _endpoints(self) -> list[str]:
        selector = f"kubernetes.io/service-name={API_SERVICE}"
        return endpoint_addresses(
            self.cluster.list_items("EndpointSlice", API_SERVICE_NAMESPACE, label_selector=selector)
        )
