"""API errors of the fake Kubernetes API server and their ``Status`` bodies.

Every failure the fake reports is an :class:`ApiError`; the HTTP layer turns it into
the ``Status`` object a real kube-apiserver sends, so the official client raises
``ApiException`` with the same ``status``, ``reason`` and body.
"""

from __future__ import annotations

from typing import Any

REASONS: dict[int, str] = {
    400: "BadRequest",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


class ApiError(Exception):
    """A request failed; carries everything needed for a ``Status`` body."""

    def __init__(
        self,
        code: int,
        message: str,
        reason: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or REASONS.get(code, "Unknown")
        self.details = details

    def status(self) -> dict[str, Any]:
        """The ``Status`` object for this error."""
        return status_body(self.code, self.message, self.reason, self.details)


def status_body(
    code: int, message: str, reason: str, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A ``v1 Status`` failure object as the real server writes it."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details is not None:
        body["details"] = details
    return body


def qualified(kind_plural: str, group: str) -> str:
    """``deployments.apps`` or ``configmaps``: how the server names a resource."""
    return f"{kind_plural}.{group}" if group else kind_plural


def not_found(plural: str, group: str, name: str) -> ApiError:
    """404 NotFound for a missing object."""
    details = {"name": name, "group": group, "kind": plural}
    return ApiError(404, f'{qualified(plural, group)} "{name}" not found', details=details)


def already_exists(plural: str, group: str, name: str) -> ApiError:
    """409 AlreadyExists for a duplicate create."""
    details = {"name": name, "group": group, "kind": plural}
    message = f'{qualified(plural, group)} "{name}" already exists'
    return ApiError(409, message, reason="AlreadyExists", details=details)


def conflict(plural: str, group: str, name: str) -> ApiError:
    """409 Conflict for a write carrying a stale resourceVersion."""
    message = (
        f'Operation cannot be fulfilled on {qualified(plural, group)} "{name}": '
        "the object has been modified; please apply your changes to the latest version "
        "and try again"
    )
    details = {"name": name, "group": group, "kind": plural}
    return ApiError(409, message, reason="Conflict", details=details)


def invalid(kind: str, group: str, name: str, causes: list[tuple[str, str]]) -> ApiError:
    """422 Invalid; ``causes`` are ``(field, message)`` pairs."""
    what = f"{kind}.{group}" if group else kind
    summary = ", ".join(f"{field}: {msg}" if field else msg for field, msg in causes)
    details = {
        "name": name,
        "group": group,
        "kind": kind,
        "causes": [
            {"reason": "FieldValueInvalid", "message": msg, "field": field} for field, msg in causes
        ],
    }
    return ApiError(422, f'{what} "{name}" is invalid: {summary}', details=details)


def expired(rv: int, oldest: int) -> ApiError:
    """410 Expired: a watch asked for history the server no longer keeps."""
    return ApiError(410, f"too old resource version: {rv} ({oldest})", reason="Expired")
