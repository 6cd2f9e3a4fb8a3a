"""Fault injection: make chosen requests fail or stall, then go back to normal.

A :class:`Fault` matches requests by HTTP method, path regex, resource plural, verb and/or
namespace; it fires ``times`` times (``None`` = until removed) with ``probability``. When it
fires the request first sleeps ``delay`` seconds, then, if ``status`` is set, answers that
status with a proper ``Status`` body instead of being served. A pure delay (``status=None``)
serves the request normally afterwards, which is how a test simulates a slow API server
or, with a delay longer than the client timeout, a hung one.
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass, field

from .errors import REASONS, status_body


@dataclass(frozen=True)
class RequestInfo:
    """What the router knows about a request before serving it."""

    method: str
    path: str
    resource: str | None
    verb: str
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None


@dataclass
class Fault:
    """One injected failure rule; ``hits`` counts how often it fired."""

    status: int | None = 500
    method: str | None = None
    path: str | None = None
    resource: str | None = None
    verb: str | None = None
    namespace: str | None = None
    name: str | None = None
    times: int | None = 1
    probability: float = 1.0
    delay: float = 0.0
    message: str | None = None
    retry_after: int | None = None
    hits: int = field(default=0, init=False)

    def matches(self, info: RequestInfo) -> bool:
        """Whether this rule applies to ``info`` (ignoring how often it already fired)."""
        wanted = (
            (self.method, info.method),
            (self.resource, info.resource),
            (self.verb, info.verb),
            (self.namespace, info.namespace),
            (self.name, info.name),
        )
        if any(want is not None and want.upper() != (got or "").upper() for want, got in wanted):
            return False
        return self.path is None or re.search(self.path, info.path) is not None

    @property
    def exhausted(self) -> bool:
        """True once it fired ``times`` times."""
        return self.times is not None and self.hits >= self.times

    def body(self) -> dict[str, object]:
        """The ``Status`` body sent when this fault answers."""
        code = self.status or 500
        reason = REASONS.get(code, "InternalError")
        return status_body(code, self.message or f"injected fault: {reason}", reason)


class Faults:
    """The active fault rules of one server (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[Fault] = []

    def add(self, fault: Fault | None = None, /, **kwargs: object) -> Fault:
        """Activate a rule: ``faults.add(status=409, verb="patch", resource="environments")``."""
        rule = fault if fault is not None else Fault(**kwargs)  # type: ignore[arg-type]
        with self._lock:
            self._rules.append(rule)
        return rule

    def remove(self, fault: Fault) -> None:
        """Deactivate one rule."""
        with self._lock:
            if fault in self._rules:
                self._rules.remove(fault)

    def clear(self) -> None:
        """Back to normal: remove every rule."""
        with self._lock:
            self._rules.clear()

    @property
    def rules(self) -> list[Fault]:
        """Snapshot of the active rules."""
        with self._lock:
            return list(self._rules)

    def pick(self, info: RequestInfo) -> Fault | None:
        """The first live rule that fires for ``info`` (its ``hits`` is incremented)."""
        with self._lock:
            for rule in self._rules:
                if rule.exhausted or not rule.matches(info):
                    continue
                if rule.probability < 1.0 and random.random() >= rule.probability:
                    continue
                rule.hits += 1
                return rule
        return None
