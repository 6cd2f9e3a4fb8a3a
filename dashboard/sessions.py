"""Signed, encrypted, expiring session cookies and the CSRF token that rides in them.

A session is a Fernet token (AES-CBC plus HMAC-SHA256 with a timestamp) keyed from
`CATALYST_DASHBOARD_SESSION_KEY`: the browser can neither read the GitHub user token inside
nor forge or extend a session, and any replica can check it without shared state. Cookies are
HttpOnly, SameSite=Lax, and Secure unless the dashboard explicitly runs on plain http locally.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import asdict, dataclass
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from starlette.requests import HTTPConnection
from starlette.responses import Response

SESSION_COOKIE = "catalyst_session"
OAUTH_COOKIE = "catalyst_oauth"
OAUTH_SECONDS = 600  # an authorize round trip must finish within ten minutes


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in person: GitHub login, their user token and this session's CSRF token."""

    login: str
    token: str
    csrf: str


def new_session(login: str, token: str) -> Session:
    """A session with a fresh random CSRF token."""
    return Session(login=login, token=token, csrf=secrets.token_urlsafe(32))


class SessionCodec:
    """Seal and open cookies with one key; also sets and clears them on responses."""

    def __init__(self, key: str, *, max_age_seconds: int, secure: bool) -> None:
        digest = hashlib.sha256(b"catalyst-dashboard-session\0" + key.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))
        self.max_age = max_age_seconds
        self.secure = secure

    def seal(self, data: dict[str, Any]) -> str:
        """An encrypted, signed, timestamped cookie value."""
        return self._fernet.encrypt(json.dumps(data).encode()).decode()

    def open(self, value: str | None, *, max_age: int) -> dict[str, Any] | None:
        """The data, or None when the value is missing, forged or older than `max_age`."""
        if not value:
            return None
        try:
            data = json.loads(self._fernet.decrypt(value.encode(), ttl=max_age))
        except (InvalidToken, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def session(self, conn: HTTPConnection) -> Session | None:
        """The request's session, or None (no cookie, forged, or expired)."""
        data = self.open(conn.cookies.get(SESSION_COOKIE), max_age=self.max_age)
        try:
            return Session(**data) if data else None
        except TypeError:
            return None

    def set_session(self, response: Response, session: Session) -> None:
        """Store the session in its cookie."""
        self._set(response, SESSION_COOKIE, self.seal(asdict(session)), self.max_age)

    def set_oauth(self, response: Response, *, state: str, next_path: str) -> None:
        """Remember the authorize round trip's state (login CSRF) and where to go after."""
        self._set(
            response, OAUTH_COOKIE, self.seal({"state": state, "next": next_path}), OAUTH_SECONDS
        )

    def oauth(self, conn: HTTPConnection) -> dict[str, Any] | None:
        """The pending authorize round trip, or None."""
        return self.open(conn.cookies.get(OAUTH_COOKIE), max_age=OAUTH_SECONDS)

    def clear(self, response: Response, name: str) -> None:
        """Remove a cookie."""
        response.delete_cookie(name, path="/", secure=self.secure, httponly=True, samesite="lax")

    def _set(self, response: Response, name: str, value: str, max_age: int) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path="/",
            secure=self.secure,
            httponly=True,
            samesite="lax",
        )


def csrf_ok(session: Session | None, presented: str | None) -> bool:
    """True when `presented` is this session's CSRF token (compared in constant time)."""
    if session is None or not presented:
        return False
    return hmac.compare_digest(session.csrf.encode(), presented.encode())


def safe_next(path: str | None) -> str:
    """A same-site path to return to after sign-in (never another host: no open redirect)."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    return path
