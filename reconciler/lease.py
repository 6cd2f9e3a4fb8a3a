"""Runtime: leader election with a `coordination.k8s.io/v1` Lease (one active watcher).

Defaults follow controller-runtime: lease 15 s, renew deadline 10 s, retry every 2 s. Expiry is
judged by how long the Lease record stayed unchanged on *our* clock (never by comparing our
clock with the holder's timestamps). Stopping releases the Lease so a standby takes over at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from core.errors import CatalystError, NotFound
from reconciler.cluster import Cluster, Manifest

log = logging.getLogger(__name__)


def micro_time(moment: float | None = None) -> str:
    """A MicroTime string as Leases store it."""
    stamp = datetime.fromtimestamp(moment if moment is not None else time.time(), UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    """Acquires and renews a Lease; `is_leader()` says whether this process may act."""

    def __init__(
        self,
        cluster: Cluster,
        *,
        namespace: str,
        name: str,
        identity: str,
        lease_seconds: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cluster, self.namespace, self.name, self.identity = cluster, namespace, name, identity
        self.lease_seconds, self.renew_deadline = lease_seconds, renew_deadline
        self.retry_period, self.monotonic = retry_period, monotonic
        self._leader = False
        self._last_renew = 0.0
        self._observed: tuple[Any, ...] | None = None
        self._observed_at = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def is_leader(self) -> bool:
        """True while we hold a Lease renewed within the renew deadline."""
        if self._leader and self.monotonic() - self._last_renew > self.renew_deadline:
            log.warning(
                "lease %s not renewed within %ss: stepping down", self.name, self.renew_deadline
            )
            self._leader = False
        return self._leader

    def try_acquire_or_renew(self) -> bool:
        """One election round; True when we hold the Lease afterwards."""
        try:
            lease = self.cluster.get_or_none("Lease", self.name, self.namespace)
            if lease is None:
                self.cluster.create(self._lease(None))
            elif self._may_take(lease):
                self.cluster.replace(self._lease(lease))
            else:
                return self._lost()
        except CatalystError as exc:  # conflicts and outages: somebody else won or we retry
            log.info("lease %s round failed: %s", self.name, exc)
            return self.is_leader()
        self._leader, self._last_renew = True, self.monotonic()
        return True

    def _lost(self) -> bool:
        self._leader = False
        return False

    def _may_take(self, lease: Manifest) -> bool:
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity")
        if holder in (None, "", self.identity):
            return True
        record = (holder, spec.get("renewTime"), spec.get("leaseDurationSeconds"))
        now = self.monotonic()
        if record != self._observed:
            self._observed, self._observed_at = record, now
            return False
        duration = float(spec.get("leaseDurationSeconds") or self.lease_seconds)
        return now - self._observed_at > duration

    def _lease(self, current: Manifest | None) -> Manifest:
        now = micro_time()
        spec = dict((current or {}).get("spec") or {})
        taking = spec.get("holderIdentity") != self.identity
        spec.update(
            holderIdentity=self.identity,
            leaseDurationSeconds=int(self.lease_seconds),
            renewTime=now,
        )
        if taking:
            spec["acquireTime"] = now
            spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + (
                1 if current else 0
            )
        metadata: Manifest = {"name": self.name, "namespace": self.namespace}
        if current is not None:
            metadata["resourceVersion"] = current["metadata"]["resourceVersion"]
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": metadata,
            "spec": spec,
        }

    # --- background loop -------------------------------------------------------------------

    def start(self) -> None:
        """Run election rounds every retry period in a daemon thread."""
        self._thread = threading.Thread(target=self._loop, name="leader-election", daemon=True)
        self._thread.start()

    def campaigning(self) -> bool:
        """True while the election thread runs (health: a dead thread never renews)."""
        return self._thread is not None and self._thread.is_alive()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.try_acquire_or_renew()
            self._stop.wait(self.retry_period)

    def stop(self, *, release: bool = True) -> None:
        """Stop campaigning; release the Lease if we hold it so a standby takes over now."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.retry_period + 5)
        if release and self._leader:
            self.release()
        self._leader = False

    def release(self) -> None:
        """Give the Lease up (empty holder)."""
        try:
            lease = self.cluster.get("Lease", self.name, self.namespace)
            if (lease.get("spec") or {}).get("holderIdentity") == self.identity:
                lease["spec"]["holderIdentity"] = None
                lease["spec"]["leaseDurationSeconds"] = 1
                self.cluster.replace(lease)
        except (NotFound, CatalystError) as exc:
            log.info("lease %s release failed: %s", self.name, exc)
