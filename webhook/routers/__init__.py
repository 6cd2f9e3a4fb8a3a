"""Flow: routing a verified delivery to the handler of its (event, action), bedevere style.

Each event family has its own module with a module-level `router`; `webhook.routers.routing`
combines them. A handler is pure: payload and delivery id in, a typed job (or None: no work) out.
The receiver enqueues the job under the task name the handler was registered with.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from core.jobs import Job
from webhook.payloads import Payload, PayloadError

Handler = Callable[[Payload, str], Job | None]
ANY_ACTION = None


@dataclass(frozen=True, slots=True)
class Route:
    """Where a delivery goes: the task name and the job to send."""

    task: str
    job: Job


class Router:
    """Handlers keyed by (event, action); `None` as action matches deliveries without one."""

    def __init__(self, *routers: Router) -> None:
        self._handlers: dict[tuple[str, str | None], tuple[str, Handler]] = {}
        for other in routers:
            self._handlers.update(other._handlers)

    def register(self, event: str, *actions: str, task: str) -> Callable[[Handler], Handler]:
        """Decorator: send `event` deliveries with one of `actions` (or any, if none) to it."""

        def add(handler: Handler) -> Handler:
            for action in actions or (ANY_ACTION,):
                self._handlers[(event, action)] = (task, handler)
            return handler

        return add

    def tasks(self) -> frozenset[str]:
        """Every task name a delivery can be routed to."""
        return frozenset(task for task, _ in self._handlers.values())

    def needs_action(self, event: str) -> bool:
        """True when `event` is routed by action, so a payload without one is malformed."""
        return any(e == event and a is not None for e, a in self._handlers)

    def route(self, event: str, payload: Payload, delivery_id: str) -> Route | None:
        """The task and job for this delivery, or None when it asks for no work.

        Raises PayloadError when the payload lacks what its event's handler needs.
        """
        action = payload.get("action")
        if not isinstance(action, str):
            if self.needs_action(event):
                raise PayloadError("missing action")
            action = None  # e.g. a list in a `push` payload: not a key, and not ours to judge
        entry = self._handlers.get((event, action)) or self._handlers.get((event, ANY_ACTION))
        if entry is None:
            return None
        task, handler = entry
        job = handler(payload, delivery_id)
        return None if job is None else Route(task, job)
