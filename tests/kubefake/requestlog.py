"""The request log: every HTTP request the fake served, for assertions in tests.

Tests count API calls with it, e.g. ``kf.log.writes(resource="environments")`` is every
non-GET request against Environments since the last ``kf.log.clear()``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class Request:
    """One served request."""

    method: str
    path: str
    query: dict[str, str]
    status: int
    resource: str | None
    verb: str
    namespace: str | None
    name: str | None
    subresource: str | None
    content_type: str | None
    duration: float
    user: str | None = None  # the `Impersonate-User` the request acted as (None: the caller)

    @property
    def is_write(self) -> bool:
        """Anything but GET (and HEAD/OPTIONS)."""
        return self.method not in ("GET", "HEAD", "OPTIONS")


class RequestLog:
    """Thread-safe append-only list of :class:`Request` records."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[Request] = []

    def append(self, request: Request) -> None:
        """Record one request."""
        with self._lock:
            self._entries.append(request)

    def clear(self) -> None:
        """Forget everything recorded so far."""
        with self._lock:
            self._entries.clear()

    def all(self) -> list[Request]:
        """Snapshot of all records, oldest first."""
        with self._lock:
            return list(self._entries)

    def filter(
        self,
        resource: str | None = None,
        verb: str | None = None,
        method: str | None = None,
        namespace: str | None = None,
    ) -> list[Request]:
        """Records matching every given criterion."""
        return [
            r
            for r in self.all()
            if (resource is None or r.resource == resource)
            and (verb is None or r.verb == verb)
            and (method is None or r.method == method.upper())
            and (namespace is None or r.namespace == namespace)
        ]

    def writes(self, resource: str | None = None) -> list[Request]:
        """Non-GET requests, optionally for one resource plural."""
        return [r for r in self.filter(resource=resource) if r.is_write]

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
