"""The object store: objects by resource, a global resourceVersion, history and watchers.

All state sits behind one re-entrant lock; the HTTP handlers, the simulated controllers
and tests (through :class:`~tests.kubefake.server.KubeFake` helpers) call into it from
different threads. Stored objects are immutable once committed (see :mod:`.objects`), so
reads hand out references and callers copy before exposing them to tests.
"""

from __future__ import annotations

import asyncio
import collections
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from . import objects as o
from .errors import ApiError, already_exists, expired, not_found
from .resources import NAMESPACE_KEY, GroupKind, ResourceType
from .watch import Event, Subscriber

Obj = dict[str, Any]
Matcher = Callable[[Obj], bool]


@dataclass
class Entry:
    """A stored object and its cached JSON encoding."""

    obj: Obj
    _raw: bytes | None = field(default=None, repr=False)

    @property
    def raw(self) -> bytes:
        """The object as compact JSON (computed once)."""
        if self._raw is None:
            self._raw = json.dumps(self.obj, separators=(",", ":")).encode()
        return self._raw


class Store:
    """Objects keyed by (group, plural) then (namespace, name)."""

    def __init__(self, history_size: int = 5000) -> None:
        self.lock = threading.RLock()
        self.rv = 0
        self._objects: dict[GroupKind, dict[tuple[str, str], Entry]] = {}
        self._history: collections.deque[Event] = collections.deque(maxlen=history_size)
        self._evicted = 0
        self._subscribers: list[Subscriber] = []
        self.listeners: list[Callable[[], None]] = []

    # --- reading -------------------------------------------------------------------

    def bucket(self, key: GroupKind) -> dict[tuple[str, str], Entry]:
        """The live mapping for ``key`` (callers hold :attr:`lock`)."""
        return self._objects.setdefault(key, {})

    def entry(self, key: GroupKind, namespace: str | None, name: str) -> Entry | None:
        """The stored entry, or ``None``."""
        with self.lock:
            return self._objects.get(key, {}).get((namespace or "", name))

    def get(self, rtype: ResourceType, namespace: str | None, name: str) -> Obj:
        """The stored object or 404."""
        found = self.entry(rtype.key, namespace, name)
        if found is None:
            raise not_found(rtype.plural, rtype.group, name)
        return found.obj

    def select(
        self, key: GroupKind, namespace: str | None, matcher: Matcher | None = None
    ) -> tuple[list[Entry], int]:
        """Matching entries sorted by (namespace, name), and the list resourceVersion."""
        with self.lock:
            entries = sorted(self._objects.get(key, {}).items())
            rv = self.rv
        return [e for (ns, _), e in entries if _keep(e.obj, ns, namespace, matcher)], rv

    def keys(self) -> list[GroupKind]:
        """Every storage key that holds objects."""
        with self.lock:
            return [k for k, v in self._objects.items() if v]

    def in_namespace(self, namespace: str) -> Iterator[tuple[GroupKind, Obj]]:
        """Every object stored in ``namespace`` (snapshot)."""
        with self.lock:
            found = [
                (key, entry.obj)
                for key, bucket in self._objects.items()
                for (ns, _), entry in bucket.items()
                if ns == namespace
            ]
        return iter(found)

    # --- committing ----------------------------------------------------------------

    def commit(self, key: GroupKind, obj: Obj, old: Obj | None) -> Obj:
        """Store ``obj`` with the next resourceVersion and tell watchers."""
        with self.lock:
            self.rv += 1
            stored = o.with_rv(obj, self.rv)
            ns = stored["metadata"].get("namespace") or ""
            self.bucket(key)[(ns, o.name_of(stored))] = Entry(stored)
            self._record(Event(self.rv, "ADDED" if old is None else "MODIFIED", key, stored, old))
        self._changed()
        return stored

    def remove(self, key: GroupKind, obj: Obj) -> Obj:
        """Delete ``obj`` for good (a DELETED event with a fresh resourceVersion)."""
        with self.lock:
            ns = obj["metadata"].get("namespace") or ""
            if self._objects.get(key, {}).pop((ns, o.name_of(obj)), None) is None:
                return obj
            self.rv += 1
            final = o.with_rv(obj, self.rv)
            self._record(Event(self.rv, "DELETED", key, final, obj))
        self._changed()
        return final

    def _record(self, event: Event) -> None:
        history = self._history
        if history.maxlen is not None and len(history) == history.maxlen:
            self._evicted = history[0].rv
        history.append(event)
        for subscriber in self._subscribers:
            subscriber.offer(event)

    def _changed(self) -> None:
        for listener in list(self.listeners):
            listener()

    # --- create / update / delete --------------------------------------------------

    def create(self, rtype: ResourceType, obj: Obj) -> Obj:
        """Commit a prepared new object: 409 if it exists, 404/403 for a bad namespace."""
        name, ns = o.name_of(obj), obj["metadata"].get("namespace")
        with self.lock:
            if rtype.namespaced:
                self.check_namespace_open(ns or "")
            if self.entry(rtype.key, ns, name) is not None:
                raise already_exists(rtype.plural, rtype.group, name)
            return self.commit(rtype.key, obj, None)

    def check_namespace_open(self, namespace: str) -> None:
        """404 when ``namespace`` does not exist, 403 while it is terminating."""
        found = self.entry(NAMESPACE_KEY, None, namespace)
        if found is None:
            raise not_found("namespaces", "", namespace)
        if o.is_deleting(found.obj):
            raise ApiError(
                403,
                f"unable to create new content in namespace {namespace} "
                "because it is being terminated",
                details={"name": namespace, "kind": "namespaces"},
            )

    def update(self, rtype: ResourceType, old: Obj, new: Obj) -> Obj:
        """Commit ``new`` over ``old`` (no-op writes keep the resourceVersion).

        A write that leaves a deleting object without finalizers deletes it.
        """
        with self.lock:
            current = self.entry(rtype.key, old["metadata"].get("namespace"), o.name_of(old))
            if current is None or current.obj is not old:
                raise ApiError(409, "the object changed during the request", reason="Conflict")
            if o.unchanged(old, new):
                return old
            if o.is_deleting(new) and not o.finalizers(new):
                return self.remove(
                    rtype.key, o.with_rv(new, int(old["metadata"]["resourceVersion"]))
                )
            return self.commit(rtype.key, new, old)

    def delete(self, rtype: ResourceType, obj: Obj) -> tuple[Obj, bool]:
        """Delete or, with finalizers, mark deleting. Returns (object, deleted now)."""
        with self.lock:
            current = self.entry(rtype.key, obj["metadata"].get("namespace"), o.name_of(obj))
            if current is None:
                return obj, True
            obj = current.obj
            if o.finalizers(obj):
                if o.is_deleting(obj):
                    return obj, False
                return self.commit(rtype.key, o.mark_deleting(obj), obj), False
            return self.remove(rtype.key, obj), True

    def purge_namespace(self, namespace: str) -> None:
        """Remove every object in ``namespace`` at once (finalizers ignored)."""
        for key, obj in self.in_namespace(namespace):
            self.remove(key, obj)

    def drop_key(self, key: GroupKind) -> None:
        """Remove every object of a resource (its CRD was deleted)."""
        with self.lock:
            bucket = list(self._objects.get(key, {}).values())
        for entry in bucket:
            self.remove(key, entry.obj)

    # --- watching ------------------------------------------------------------------

    def subscribe(
        self,
        rtype: ResourceType,
        namespace: str | None,
        matcher: Matcher,
        since: str | None,
        loop: asyncio.AbstractEventLoop,
    ) -> tuple[list[tuple[str, Obj]], Subscriber]:
        """Initial events and a live subscriber, atomically; 410 if ``since`` is too old."""
        subscriber = Subscriber(rtype.key, namespace, matcher, loop)
        with self.lock:
            initial = self._replay(rtype, subscriber, since)
            self._subscribers.append(subscriber)
        return initial, subscriber

    def _replay(
        self, rtype: ResourceType, subscriber: Subscriber, since: str | None
    ) -> list[tuple[str, Obj]]:
        if not since or since == "0":
            entries, _ = self.select(rtype.key, subscriber.namespace, subscriber.matcher)
            return [("ADDED", e.obj) for e in entries]
        start = _parse_rv(since)
        if start < self._evicted:
            raise expired(start, self._evicted + 1)
        events = (subscriber.translate(e) for e in self._history if e.rv > start)
        return [item for item in events if item is not None]

    def unsubscribe(self, subscriber: Subscriber) -> None:
        """Forget a finished watch."""
        with self.lock:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)

    def close_watches(self) -> None:
        """End every open watch stream (server shutdown)."""
        with self.lock:
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            subscriber.close()

    def expire_history(self) -> None:
        """Forget all history: any watch from an older resourceVersion gets 410."""
        with self.lock:
            self._history.clear()
            self._evicted = self.rv


def _keep(obj: Obj, ns: str, namespace: str | None, matcher: Matcher | None) -> bool:
    if namespace is not None and ns != namespace:
        return False
    return matcher is None or matcher(obj)


def _parse_rv(value: str) -> int:
    try:
        return int(value)
    except ValueError as exc:
        raise ApiError(400, f"invalid resource version: {value!r}") from exc
