"""What every dashboard handler reaches: settings-derived clients, the session codec, templates."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from starlette.requests import HTTPConnection
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from core.clients.github_user import OAuthApp
from core.clients.workloads import Workloads
from dashboard.permissions import PermissionCache
from dashboard.sessions import Session, SessionCodec

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")


@dataclass
class Deps:
    """The dashboard's collaborators, built once per process by `app.make_app`."""

    workloads: Workloads
    oauth: OAuthApp
    http: httpx.AsyncClient
    sessions: SessionCodec
    permissions: PermissionCache
    public_url: str
    terminal_idle_seconds: float


def deps_of(conn: HTTPConnection) -> Deps:
    """The app's Deps (stored on app state at start)."""
    return conn.app.state.deps  # type: ignore[no-any-return]


def render(
    conn: HTTPConnection,
    template: str,
    *,
    session: Session | None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A server-rendered page (Jinja2 autoescapes everything people or the cluster wrote)."""
    context |= {
        "session": session,
        "csrf": session.csrf if session else "",
        "status_code": status_code,
    }
    return templates.TemplateResponse(conn, template, context, status_code=status_code)  # type: ignore[arg-type]
