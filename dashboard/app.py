"""The dashboard's Starlette app: settings checked, clients built, routes and error pages.

`make_app()` is the uvicorn factory (`catalyst-preview dashboard`). Errors never reach people as
tracebacks: a cluster or GitHub failure is a page naming what failed, anything else a plain 500.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from core.clients.github_user import OAuthApp, SignInExpired
from core.clients.kube import new_api_client
from core.clients.workloads import Workloads
from core.errors import CatalystError
from core.links import ENVIRONMENT_PATH
from core.logs import configure_logging
from core.settings import Settings, load_settings
from dashboard import auth, pages
from dashboard.deps import HERE, Deps, render
from dashboard.permissions import PermissionCache
from dashboard.sessions import SESSION_COOKIE, SessionCodec
from dashboard.terminal import terminal_socket

log = logging.getLogger("catalyst.dashboard")
ENV = ENVIRONMENT_PATH  # /environments/{namespace}/{name}


def build_deps(settings: Settings, *, workloads: Workloads, http: httpx.AsyncClient) -> Deps:
    """Everything handlers need, from validated settings."""
    settings.require_dashboard()
    assert settings.github_client_secret and settings.dashboard_session_key  # checked above
    oauth = OAuthApp(
        client_id=str(settings.github_client_id),
        client_secret=settings.github_client_secret.get_secret_value(),
        web_url=settings.github_web_base,
        api_url=settings.github_api_url,
    )
    codec = SessionCodec(
        settings.dashboard_session_key.get_secret_value(),
        max_age_seconds=int(settings.dashboard_session_hours * 3600),
        secure=not settings.dashboard_insecure_http,
    )
    cache = PermissionCache(http, oauth, ttl=settings.dashboard_permission_cache_seconds)
    return Deps(
        workloads=workloads,
        oauth=oauth,
        http=http,
        sessions=codec,
        permissions=cache,
        public_url=str(settings.dashboard_url),
        terminal_idle_seconds=settings.dashboard_terminal_idle_seconds,
    )


ROUTES = [
    Route("/", pages.home),
    Route("/healthz", lambda request: PlainTextResponse("ok")),
    Route("/login", auth.login),
    Route(auth.CALLBACK_PATH, auth.callback),
    Route("/logout", auth.logout, methods=["POST"]),
    Route("/signed-out", auth.signed_out),
    Route("/environments/rows", pages.rows_fragment),
    Route("/environments/events", pages.environments_events),
    Route(ENV, pages.environment),
    Route(ENV + "/logs", pages.log_stream),
    Route(ENV + "/terminal", pages.terminal_page),
    WebSocketRoute(ENV + "/exec", terminal_socket),
    Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
]


async def _catalyst_error(request: Request, exc: Exception) -> Response:
    session = request.app.state.deps.sessions.session(request)
    if isinstance(exc, SignInExpired):
        response = auth.login_redirect(request)
        request.app.state.deps.sessions.clear(response, SESSION_COOKIE)
        return response
    log.warning("dashboard request failed: %s", exc)
    return render(request, "error.html", session=session, status_code=503, why=str(exc))


async def _http_error(request: Request, exc: Exception) -> Response:
    code = exc.status_code if isinstance(exc, HTTPException) else 500
    session = request.app.state.deps.sessions.session(request)
    why = "No such page." if code == 404 else "Something went wrong on our side."
    return render(request, "error.html", session=session, status_code=code, why=why)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("dashboard: unexpected error on %s", request.url.path)
    return PlainTextResponse("Something went wrong on our side.", status_code=500)


def make_app(
    settings: Settings | None = None,
    *,
    workloads: Workloads | None = None,
    http: httpx.AsyncClient | None = None,
) -> Starlette:
    """The ASGI app; tests pass fakes for the cluster and GitHub's HTTP client."""
    if settings is None:  # the process: read the environment and log like the others
        settings = load_settings()
        configure_logging(settings.log_level, settings.log_format)
    client = http or httpx.AsyncClient()
    deps = build_deps(settings, workloads=workloads or Workloads(new_api_client()), http=client)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        if http is None:
            await client.aclose()

    handlers: dict[Any, Any] = {
        CatalystError: _catalyst_error,
        HTTPException: _http_error,
        Exception: _unexpected,
    }
    app = Starlette(routes=ROUTES, exception_handlers=handlers, lifespan=lifespan)
    app.state.deps = deps
    return app
