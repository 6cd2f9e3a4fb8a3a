"""Sign-in with GitHub (the App's OAuth user-to-server flow), sign-out and CSRF checks.

`/login` sends the browser to GitHub's authorize page with a random `state` remembered in a
short-lived sealed cookie; `/auth/callback` checks that state (login CSRF), exchanges the code
for a user token and starts a session. Every state-changing request goes through
`require_csrf`: the session's token in the `X-CSRF-Token` header or the `csrf` form field.
"""

from __future__ import annotations

import secrets
from urllib.parse import parse_qs, quote

from starlette.requests import HTTPConnection, Request
from starlette.responses import RedirectResponse, Response

from core.clients.github_user import current_user, exchange_code
from core.errors import CatalystError
from dashboard.deps import deps_of, render
from dashboard.sessions import (
    OAUTH_COOKIE,
    SESSION_COOKIE,
    Session,
    csrf_ok,
    new_session,
    safe_next,
)

CALLBACK_PATH = "/auth/callback"


def callback_url(public_url: str) -> str:
    """The OAuth callback registered with the App (deploy/github-app.yml)."""
    return public_url.rstrip("/") + CALLBACK_PATH


def login_redirect(conn: HTTPConnection) -> RedirectResponse:
    """Back to /login, returning to this page afterwards."""
    target = conn.url.path + (f"?{conn.url.query}" if conn.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


async def login(request: Request) -> Response:
    """Start the authorize round trip."""
    deps = deps_of(request)
    state = secrets.token_urlsafe(24)
    url = deps.oauth.authorize_url(redirect_uri=callback_url(deps.public_url), state=state)
    response = RedirectResponse(url, status_code=303)
    deps.sessions.set_oauth(
        response, state=state, next_path=safe_next(request.query_params.get("next"))
    )
    return response


async def callback(request: Request) -> Response:
    """Finish sign-in: state matches, code exchanged, session cookie set."""
    deps = deps_of(request)
    pending = deps.sessions.oauth(request)
    state, code = request.query_params.get("state", ""), request.query_params.get("code", "")
    if not pending or not code or not secrets.compare_digest(str(pending.get("state")), state):
        return _sign_in_failed(request, "The sign-in link expired or did not start here.")
    try:
        token = await exchange_code(
            deps.http, deps.oauth, code=code, redirect_uri=callback_url(deps.public_url)
        )
        user = await current_user(deps.http, deps.oauth, token)
    except CatalystError as exc:
        return _sign_in_failed(request, str(exc))
    response = RedirectResponse(safe_next(str(pending.get("next"))), status_code=303)
    deps.sessions.set_session(response, new_session(user.login, user.token))
    deps.sessions.clear(response, OAUTH_COOKIE)
    return response


def _sign_in_failed(request: Request, why: str) -> Response:
    return render(request, "signin_failed.html", session=None, status_code=400, why=why)


async def logout(request: Request) -> Response:
    """End the session (POST with the CSRF token; a cross-site form cannot sign people out)."""
    session = await require_csrf(request)
    if isinstance(session, Response):
        return session
    deps = deps_of(request)
    deps.permissions.forget(session.login)
    response = RedirectResponse("/signed-out", status_code=303)
    deps.sessions.clear(response, SESSION_COOKIE)
    return response


async def signed_out(request: Request) -> Response:
    """The page after sign-out."""
    return render(request, "signed_out.html", session=None)


async def require_csrf(request: Request) -> Session | Response:
    """The session when the request carries its CSRF token; else a 403 page (or /login)."""
    session = deps_of(request).sessions.session(request)
    presented = request.headers.get("x-csrf-token") or await _form_token(request)
    if session is None:
        return render(
            request, "forbidden.html", session=None, status_code=403, why="Not signed in."
        )
    if not csrf_ok(session, presented):
        why = "The form's security token is missing or wrong. Reload the page and try again."
        return render(request, "forbidden.html", session=session, status_code=403, why=why)
    return session


async def _form_token(request: Request) -> str | None:
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        values = parse_qs((await request.body()).decode("utf-8", "replace")).get("csrf")
        return values[0] if values else None
    return None
