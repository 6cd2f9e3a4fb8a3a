"""Flow: send reconcile work for a key to the `reconcile` queue, de-duplicated while queued."""

from __future__ import annotations

import logging

from core import jobs
from core.clients.queue import Enqueuer
from core.errors import TemporaryError
from reconciler.keys import KeyGate

log = logging.getLogger(__name__)


def env_key(namespace: str, name: str) -> str:
    """`<namespace>/<name>`."""
    return f"{namespace}/{name}"


def split_key(key: str) -> tuple[str, str]:
    """(namespace, name) of a key."""
    namespace, _, name = key.partition("/")
    return namespace, name


class Feeder:
    """Enqueues reconcile tasks by name (Environment or Project), at most once while queued."""

    def __init__(self, gate: KeyGate, enqueue: Enqueuer) -> None:
        self.gate, self.enqueue = gate, enqueue

    def environment(
        self, namespace: str, name: str, delay: float = 0.0, *, force: bool = False
    ) -> bool:
        """Queue a reconcile of an Environment; False when one is already queued as early.

        `force` sends even then: a task that could not run puts itself back.
        """
        return self._feed(jobs.TASK_RECONCILE, env_key(namespace, name), delay, force)

    def project(
        self, namespace: str, name: str, delay: float = 0.0, *, force: bool = False
    ) -> bool:
        """Queue a reconcile of a Project."""
        key = "project:" + env_key(namespace, name)
        return self._feed(jobs.TASK_RECONCILE_PROJECT, key, delay, force)

    def _feed(self, task: str, key: str, delay: float, force: bool = False) -> bool:
        if not self.gate.mark_queued(key, delay, force=force):
            return False
        namespace, name = split_key(key.removeprefix("project:"))
        try:
            self.enqueue(task, {"namespace": namespace, "name": name}, countdown=delay or None)
        except TemporaryError:
            self.gate.unmark_queued(key)
            raise
        return True
