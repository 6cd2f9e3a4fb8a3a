"""The Starlette app: URL parsing, dispatch to :class:`~.api.Api`, faults and request log.

One catch-all route parses Kubernetes REST paths itself
(``/api/v1[/namespaces/<ns>]/<plural>[/<name>[/<sub>]]`` and the same under
``/apis/<group>/<version>``), which is both simpler and faster than a route per resource.
Every request is matched against the fault rules first and recorded in the request log.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from .api import Api
from .errors import ApiError
from .resources import RETURNS_DELETED_OBJECT, ResourceType
from .selectors import Matcher, combine, field_matcher, label_matcher
from .store import Store
from .tables import table, wants_table
from .watch import WatchResponse, encode_event

Obj = dict[str, Any]
JSON = "application/json"
FOLLOW_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class Target:
    """A parsed resource URL."""

    rtype: ResourceType | None
    group: str
    version: str
    plural: str
    namespace: str | None = None
    name: str | None = None
    sub: str | None = None


@dataclass
class Settings:
    """Per-server knobs the routes read."""

    kube_version: str = "1.29"
    address: str = "127.0.0.1"
    watch_timeout: float = 1800.0


def json_response(body: Any, status: int = 200) -> Response:
    """A compact JSON response."""
    return Response(json.dumps(body, separators=(",", ":")), status, media_type=JSON)


def error_response(error: ApiError) -> Response:
    """The ``Status`` body for ``error``."""
    return json_response(error.status(), error.code)


# --- URL parsing ------------------------------------------------------------------------


def split_group_version(parts: list[str]) -> tuple[str, str, list[str]] | None:
    """(group, version, rest) for ``api/v1/...`` or ``apis/<g>/<v>/...``."""
    if len(parts) >= 3 and parts[0] == "api":
        return "", parts[1], parts[2:]
    if len(parts) >= 4 and parts[0] == "apis":
        return parts[1], parts[2], parts[3:]
    return None


def parse_target(api: Api, group: str, version: str, rest: list[str]) -> Target:
    """Resolve the resource part of a URL (404 when nothing is served there)."""
    lookup = api.registry.lookup
    if len(rest) >= 3 and rest[0] == "namespaces":
        rtype = lookup(group, version, rest[2])
        if rtype is not None and rtype.namespaced and len(rest) <= 5:
            return Target(rtype, group, version, rest[2], rest[1], *_name_sub(rest[3:]))
    rtype = lookup(group, version, rest[0])
    if len(rest) > 3 or (rtype is not None and rtype.namespaced and len(rest) > 1):
        rtype = None
    return Target(rtype, group, version, rest[0], None, *_name_sub(rest[1:]))


def _name_sub(tail: list[str]) -> tuple[str | None, str | None]:
    return (tail[0] if tail else None), (tail[1] if len(tail) > 1 else None)


def verb_of(method: str, target: Target, watching: bool) -> str:
    """The Kubernetes verb of a request."""
    if method == "GET":
        return "get" if target.name else ("watch" if watching else "list")
    if method == "DELETE":
        return "delete" if target.name else "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())


def is_watch(request: Request) -> bool:
    """``?watch=true`` / ``watch=1``."""
    return request.query_params.get("watch", "").lower() in ("true", "1")


# --- handlers ---------------------------------------------------------------------------


async def read_json(request: Request, required: bool = True) -> Obj:
    """The request body as a JSON object (400 when malformed)."""
    raw = await request.body()
    if not raw.strip():
        if required:
            raise ApiError(400, "request body is required")
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, f"couldn't decode request body: {exc}") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "request body must be a JSON object")
    return body


def list_body(api: Api, target: Target, request: Request) -> bytes:
    """A ``<Kind>List`` body; served straight from the cached JSON of each object."""
    rtype = _served(target)
    entries, rv = api.store.select(rtype.key, target.namespace, selector_of(request))
    items = b",".join(_raw(rtype, e.obj, e.raw) for e in entries)
    head = {"apiVersion": rtype.api_version, "kind": rtype.list_kind}
    prefix = json.dumps(head, separators=(",", ":"))[:-1]
    return f'{prefix},"metadata":{{"resourceVersion":"{rv}"}},"items":['.encode() + items + b"]}"


def list_table(api: Api, target: Target, request: Request) -> Obj:
    """The list as a ``Table`` (what kubectl asks for)."""
    rtype = _served(target)
    entries, rv = api.store.select(rtype.key, target.namespace, selector_of(request))
    return table(rtype, [e.obj for e in entries], str(rv))


def _raw(rtype: ResourceType, obj: Obj, raw: bytes) -> bytes:
    if not rtype.custom:  # a real API server's LIST leaves kind/apiVersion off built-in items
        bare = {k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}
        return json.dumps(bare, separators=(",", ":")).encode()
    if obj.get("apiVersion") == rtype.api_version:
        return raw
    return json.dumps({**obj, "apiVersion": rtype.api_version}, separators=(",", ":")).encode()


def _served(target: Target) -> ResourceType:
    if target.rtype is None:
        raise ApiError(404, "the server could not find the requested resource")
    return target.rtype


def _render(rtype: ResourceType, obj: Obj) -> Obj:
    if obj.get("apiVersion") == rtype.api_version:
        return obj
    return {**obj, "apiVersion": rtype.api_version}


def deleted_body(rtype: ResourceType, obj: Obj, removed: bool) -> Obj:
    """Most built-ins answer a Success ``Status`` for an immediate delete; CRs the object."""
    if rtype.custom or not removed or rtype.key in RETURNS_DELETED_OBJECT:
        return _render(rtype, obj)
    details = {
        "name": obj["metadata"]["name"],
        "group": rtype.group,
        "kind": rtype.plural,
        "uid": obj["metadata"].get("uid"),
    }
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    }


class Handlers:
    """Per-verb request handlers bound to one server's :class:`Api`."""

    def __init__(self, api: Api, settings: Settings) -> None:
        self.api = api
        self.settings = settings

    async def get(self, request: Request, target: Target) -> Response:
        rtype = _served(target)
        if target.sub == "log" and rtype.key == ("", "pods") and target.name:
            return self.pod_log(request, target)
        as_table = wants_table(request.headers.get("accept", ""))
        if target.name:
            obj = self.api.store.get(rtype, target.namespace, target.name)
            if as_table and target.sub is None:
                return json_response(table(rtype, [obj], str(self.api.store.rv)))
            return json_response(_render(rtype, obj))
        if is_watch(request):
            return self.watch(request, target, as_table=as_table)
        if as_table:
            return json_response(list_table(self.api, target, request))
        return Response(list_body(self.api, target, request), media_type=JSON)

    def pod_log(self, request: Request, target: Target) -> Response:
        """Plain text, like the real server; ``tailLines`` keeps the last lines; ``follow=true``
        keeps the response open and sends what is appended until the pod is deleted."""
        raw = request.query_params.get("tailLines")
        if raw is not None and not raw.lstrip("-").isdigit():
            raise ApiError(400, f"tailLines: invalid value {raw!r}")
        namespace, name = str(target.namespace), str(target.name)
        with self.api.store.lock:  # the tail and the length it covers come from one moment
            text = self.api.pod_log(namespace, name, _int_or_none(raw))
            total = len(self.api.pod_logs.get((namespace, name), ""))
        if request.query_params.get("follow") != "true":
            return Response(text, media_type="text/plain")
        body = self._follow(namespace, name, text, total)
        return StreamingResponse(body, media_type="text/plain")

    async def _follow(
        self, namespace: str, name: str, first: str, sent: int
    ) -> AsyncIterator[bytes]:
        yield first.encode()
        while True:
            # The store has no change feed for logs: look for appended text a few times a second.
            await asyncio.sleep(FOLLOW_POLL_SECONDS)
            try:
                text = self.api.pod_log(namespace, name, None)
            except ApiError:
                return  # the pod is gone: the real server ends the stream too
            if len(text) > sent:
                yield text[sent:].encode()
                sent = len(text)

    async def post(self, request: Request, target: Target) -> Response:
        rtype = _served(target)
        if target.name or (rtype.namespaced and target.namespace is None):
            raise ApiError(405, "the server does not allow this method on the requested resource")
        created = self.api.create(rtype, target.namespace, await read_json(request))
        return json_response(_render(rtype, created), 201)

    async def put(self, request: Request, target: Target) -> Response:
        rtype, name = _served(target), _named(target)
        body = await read_json(request)
        obj = self.api.replace(rtype, target.namespace, name, body, _sub(target))
        return json_response(_render(rtype, obj))

    async def patch(self, request: Request, target: Target) -> Response:
        rtype, name = _served(target), _named(target)
        content = (
            request.headers.get("content-type", ""),
            await request.body(),
            request.query_params.get("fieldManager"),
        )
        obj, created = self.api.patch(rtype, target.namespace, name, content, _sub(target))
        return json_response(_render(rtype, obj), 201 if created else 200)

    async def delete(self, request: Request, target: Target) -> Response:
        rtype = _served(target)
        options = await read_json(request, required=False)
        if not target.name:
            return self.delete_collection(request, target)
        obj, removed = self.api.delete(rtype, target.namespace, target.name, options)
        return json_response(deleted_body(rtype, obj, removed))

    def delete_collection(self, request: Request, target: Target) -> Response:
        rtype = _served(target)
        body = list_body(self.api, target, request)
        for item in json.loads(body)["items"]:
            meta = item["metadata"]
            try:
                self.api.delete(rtype, meta.get("namespace"), meta["name"], {})
            except ApiError:
                continue
        return Response(body, media_type=JSON)

    def watch(self, request: Request, target: Target, *, as_table: bool = False) -> Response:
        rtype, params, store = _served(target), request.query_params, self.api.store
        matcher = selector_of(request)
        since, loop = params.get("resourceVersion"), asyncio.get_running_loop()
        try:
            initial, sub = store.subscribe(rtype, target.namespace, matcher, since, loop)
        except ApiError as error:  # 410 Expired arrives as an ERROR event, like the real server
            return Response(encode_event("ERROR", error.status()), media_type=JSON)
        encoder = EventEncoder(rtype, store, as_table=as_table)
        wants_bookmark = params.get("allowWatchBookmarks", "").lower() in ("true", "1")
        timeout = float(params.get("timeoutSeconds") or self.settings.watch_timeout)
        return WatchResponse(
            [encoder.event(t, o) for t, o in initial],
            sub,
            timeout,
            encoder.event,
            encoder.bookmark if wants_bookmark else None,
            lambda: store.unsubscribe(sub),
        )


class EventEncoder:
    """Watch lines for one resource type."""

    def __init__(self, rtype: ResourceType, store: Store, *, as_table: bool = False) -> None:
        self.rtype = rtype
        self.store = store
        self.as_table = as_table

    def event(self, event_type: str, obj: Obj) -> bytes:
        """An ADDED/MODIFIED/DELETED line (its object a one-row Table when kubectl asked)."""
        if self.as_table:
            rv = str(obj.get("metadata", {}).get("resourceVersion", ""))
            return encode_event(event_type, table(self.rtype, [obj], rv))
        return encode_event(event_type, _render(self.rtype, obj))

    def bookmark(self) -> bytes:
        """A BOOKMARK line carrying the current resourceVersion."""
        meta = {"resourceVersion": str(self.store.rv)}
        rtype = self.rtype
        return encode_event(
            "BOOKMARK", {"kind": rtype.kind, "apiVersion": rtype.api_version, "metadata": meta}
        )


def selector_of(request: Request) -> Matcher:
    """The combined label and field selector of a list or watch request."""
    params = request.query_params
    return combine(
        label_matcher(params.get("labelSelector")), field_matcher(params.get("fieldSelector"))
    )


def _named(target: Target) -> str:
    if not target.name:
        raise ApiError(405, "the server does not allow this method on the requested resource")
    return target.name


def _sub(target: Target) -> str | None:
    if target.sub not in (None, "status", "finalize"):
        raise ApiError(404, "the server could not find the requested resource")
    return "status" if target.sub == "status" else None


def _int_or_none(raw: str | None) -> int | None:
    return None if raw is None else int(raw)
