"""The one test double of the queue seam (`core.clients.queue.Enqueuer`): keeps what was sent."""

from __future__ import annotations

import threading
from typing import Any


class RecordingEnqueuer:
    """An Enqueuer that keeps every task it was given, in order (a broker that holds them);
    set `failure` to make it refuse like a broker that is down."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any], float | None]] = []
        self.failure: Exception | None = None
        self._lock = threading.Lock()

    def __call__(
        self, task: str, kwargs: dict[str, Any], *, countdown: float | None = None
    ) -> None:
        if self.failure is not None:
            raise self.failure
        with self._lock:
            self.sent.append((task, kwargs, countdown))

    @property
    def jobs(self) -> list[tuple[str, dict[str, Any]]]:
        """(task, kwargs) of everything sent, without the countdowns."""
        with self._lock:
            return [(task, kwargs) for task, kwargs, _ in self.sent]
