"""One Kubernetes error map for both clients: the worker's typed client and the reconciler's."""

from __future__ import annotations

import json

import pytest
from kubernetes.client.exceptions import ApiException

from core.clients.kube import AlreadyExists, Gone, kube_error, map_api_exception
from core.errors import (
    CatalystError,
    Conflict,
    Invalid,
    NotFound,
    PermanentError,
    RateLimited,
    TemporaryError,
)
from reconciler.cluster import error_for


@pytest.mark.parametrize(
    ("status", "reason", "kind"),
    [
        (404, "NotFound", NotFound),
        (409, "Conflict", Conflict),
        (409, "AlreadyExists", AlreadyExists),
        (410, "Expired", Gone),
        (422, "Invalid", Invalid),
        (429, "TooManyRequests", RateLimited),
        (503, "ServiceUnavailable", TemporaryError),
        (403, "Forbidden", PermanentError),
    ],
)
def test_both_clients_map_a_status_to_the_same_error(
    status: int, reason: str, kind: type[CatalystError]
) -> None:
    body = json.dumps({"kind": "Status", "reason": reason, "message": "m", "code": status})
    typed = ApiException(status=status, reason=reason)
    typed.body = body
    assert type(map_api_exception(typed, "get")) is kind
    assert type(error_for(status, body.encode())) is kind


def test_a_429_waits_what_retry_after_says_in_both_clients() -> None:
    typed = ApiException(status=429, reason="TooManyRequests")
    typed.headers = {"Retry-After": "7"}
    typed.body = "{}"
    worker = map_api_exception(typed, "replace environment")
    reconciler = error_for(429, b"{}", {"Retry-After": "7"})
    assert isinstance(worker, RateLimited) and worker.delay == 7.0
    assert isinstance(reconciler, RateLimited) and reconciler.delay == 7.0


def test_a_429_without_a_usable_retry_after_waits_a_second() -> None:
    error = kube_error(429, "busy", retry_after="soon")
    assert isinstance(error, RateLimited) and error.delay == 1.0
