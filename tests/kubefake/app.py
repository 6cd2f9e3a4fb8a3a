"""The ASGI application: discovery, fault injection, the request log and dispatch.

``build_app`` returns a Starlette app with a single catch-all route. For each request it
works out the target and verb, consults the fault rules, serves it through
:class:`~.routes.Handlers` and appends a :class:`~.requestlog.Request` record.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from . import discovery
from .api import Api
from .errors import ApiError
from .faults import Fault, Faults, RequestInfo
from .podexec import serve_exec
from .requestlog import Request as LoggedRequest
from .requestlog import RequestLog
from .routes import (
    Handlers,
    Settings,
    Target,
    error_response,
    is_watch,
    json_response,
    parse_target,
    split_group_version,
    verb_of,
)
from .watch import encode_event

Obj = dict[str, Any]
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def discovery_body(api: Api, settings: Settings, parts: list[str]) -> Obj | None:
    """The discovery document at ``parts``, or ``None`` when ``parts`` is not discovery."""
    registry = api.registry
    if parts == ["version"]:
        return discovery.version_info(settings.kube_version)
    if parts == ["api"]:
        return discovery.api_versions(settings.address)
    if parts == ["apis"]:
        return discovery.api_group_list(registry)
    if len(parts) == 2 and parts[0] == "apis":
        return discovery.api_group(registry, parts[1]) or _missing()
    if len(parts) == 2 and parts[0] == "api":
        return discovery.resource_list(registry, "", parts[1]) or _missing()
    if len(parts) == 3 and parts[0] == "apis":
        return discovery.resource_list(registry, parts[1], parts[2]) or _missing()
    return None


def _missing() -> Obj:
    raise ApiError(404, "the server could not find the requested resource")


def request_info(method: str, path: str, target: Target | None, watching: bool) -> RequestInfo:
    """What faults and the log match on."""
    if target is None:
        return RequestInfo(method, path, None, "get")
    verb = verb_of(method, target, watching)
    return RequestInfo(method, path, target.plural, verb, target.namespace, target.name, target.sub)


class KubeApp:
    """Request pipeline of one server: parse, fault, serve, log."""

    def __init__(self, api: Api, settings: Settings, faults: Faults, log: RequestLog) -> None:
        self.api = api
        self.settings = settings
        self.faults = faults
        self.log = log
        self.handlers = Handlers(api, settings)

    async def endpoint(self, request: Request) -> Response:
        started = time.perf_counter()
        parts = [p for p in request.url.path.split("/") if p]
        target = self._target(parts)
        info = request_info(request.method, request.url.path, target, is_watch(request))
        response = await self._respond(request, parts, target, info)
        self._record(request, info, response.status_code, time.perf_counter() - started)
        return response

    def _target(self, parts: list[str]) -> Target | None:
        split = split_group_version(parts)
        return None if split is None else parse_target(self.api, *split)

    async def _respond(
        self, request: Request, parts: list[str], target: Target | None, info: RequestInfo
    ) -> Response:
        try:
            fault = self.faults.pick(info)
            if fault is not None and (answer := await _inject(fault, info)) is not None:
                return answer
            return await self._serve(request, parts, target)
        except ApiError as error:
            return error_response(error)

    async def _serve(self, request: Request, parts: list[str], target: Target | None) -> Response:
        if target is None:
            body = discovery_body(self.api, self.settings, parts)
            if body is None or request.method != "GET":
                raise ApiError(404, "the server could not find the requested resource")
            return json_response(body)
        handler = getattr(self.handlers, request.method.lower())
        response: Response = await handler(request, target)
        return response

    def _record(self, request: Request, info: RequestInfo, status: int, duration: float) -> None:
        self.log.append(
            LoggedRequest(
                method=request.method,
                path=request.url.path,
                query=dict(request.query_params),
                status=status,
                resource=info.resource,
                verb=info.verb,
                namespace=info.namespace,
                name=info.name,
                subresource=info.subresource,
                content_type=request.headers.get("content-type"),
                user=request.headers.get("impersonate-user"),
                duration=duration,
            )
        )


async def _inject(fault: Fault, info: RequestInfo) -> Response | None:
    """Sleep, then answer with the fault's status (``None``: serve normally)."""
    if fault.delay:
        await asyncio.sleep(fault.delay)
    if fault.status is None:
        return None
    if fault.status == 410 and info.verb == "watch":
        return Response(encode_event("ERROR", fault.body()), media_type="application/json")
    response = json_response(fault.body(), fault.status)
    if fault.retry_after is not None:
        response.headers["Retry-After"] = str(fault.retry_after)
    return response


def build_app(app: KubeApp) -> Starlette:
    """The Starlette application serving ``app``."""

    async def exec_endpoint(ws: WebSocket) -> None:
        await serve_exec(ws, app.api)

    return Starlette(
        routes=[
            WebSocketRoute("/api/v1/namespaces/{namespace}/pods/{name}/exec", exec_endpoint),
            Route("/{path:path}", app.endpoint, methods=METHODS),
        ]
    )
