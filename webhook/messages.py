"""Adapter: Celery task messages in kombu's Redis envelope, built without a broker round trip.

The receiver publishes a job by pushing one of these onto the task's queue list inside the same
Redis script that claims the delivery (see webhook.intake). The bytes are exactly what
`Celery.send_task` would `LPUSH` through kombu's Redis transport (task protocol 2, JSON body,
base64 body encoding, priority 0), so unchanged Celery workers consume them. The queue of each task
comes from the Celery app's own router (`queues_for`), never from a second routing table here.
"""

from __future__ import annotations

import base64
import os
import socket
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from celery import Celery

# The `embed` part of a protocol-2 body: no callbacks, errbacks, chain or chord.
EMBED: dict[str, None] = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}
REPR_LIMIT = 1024


class UnroutedTask(LookupError):
    """A task name the message factory was not given a queue for (a programming error)."""


def queues_for(app: Celery, tasks: Iterable[str]) -> dict[str, str]:
    """The queue the Celery app routes each task to (its `task_routes` and default queue)."""
    return {task: app.amqp.router.route({}, task)["queue"].name for task in tasks}


def default_origin() -> str:
    """The `origin` header Celery itself writes for a producer: `gen<pid>@<host>`."""
    return f"gen{os.getpid()}@{socket.gethostname()}"


class TaskMessages:
    """Builds the queue name and the kombu message bytes for a task and its keyword arguments."""

    def __init__(self, queues: Mapping[str, str], *, origin: str | None = None) -> None:
        self._queues = dict(queues)
        self._origin = origin or default_origin()
        self._reply_to = str(uuid.uuid4())

    def queue(self, task: str) -> str:
        """The Redis list (kombu queue at priority 0) the task's messages go onto."""
        try:
            return self._queues[task]
        except KeyError:
            raise UnroutedTask(task) from None

    def encode(self, task: str, kwargs: Mapping[str, Any]) -> bytes:
        """The message kombu would push for `send_task(task, kwargs=kwargs)`."""
        task_id = str(uuid.uuid4())
        body = orjson.dumps([[], kwargs, EMBED])
        envelope = {
            "body": base64.b64encode(body).decode("ascii"),
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": self._headers(task, task_id, kwargs),
            "properties": self._properties(task, task_id),
        }
        return orjson.dumps(envelope)

    def _headers(self, task: str, task_id: str, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "lang": "py",
            "task": task,
            "id": task_id,
            "shadow": None,
            "eta": None,
            "expires": None,
            "group": None,
            "group_index": None,
            "retries": 0,
            "timelimit": [None, None],
            "root_id": task_id,
            "parent_id": None,
            "argsrepr": "()",
            "kwargsrepr": repr(dict(kwargs))[:REPR_LIMIT],
            "origin": self._origin,
            "ignore_result": False,
            "replaced_task_nesting": 0,
            "stamped_headers": None,
            "stamps": {},
        }

    def _properties(self, task: str, task_id: str) -> dict[str, Any]:
        return {
            "correlation_id": task_id,
            "reply_to": self._reply_to,
            "delivery_mode": 2,
            "delivery_info": {"exchange": "", "routing_key": self.queue(task)},
            "priority": 0,
            "body_encoding": "base64",
            "delivery_tag": str(uuid.uuid4()),
        }
