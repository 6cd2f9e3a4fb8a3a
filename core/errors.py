"""Pure: the error taxonomy every layer speaks (no I/O).

    CatalystError
    ├── TemporaryError(delay)   retry later: timeouts, 5xx, 409 conflicts, rate limits
    │   ├── Conflict            a write lost an optimistic-concurrency race; refetch and retry
    │   └── RateLimited         the remote asked us to wait `delay` seconds
    └── PermanentError          retrying the same input will fail the same way
        ├── NotFound            the object does not exist (often a normal outcome, not a failure)
        └── Invalid             the remote rejected what we sent (422, bad config)

Adapters map third-party exceptions into these (chained with ``from exc``) and nothing
third-party crosses an adapter boundary.
"""

from __future__ import annotations


class CatalystError(Exception):
    """Base of every error catalyst-preview raises on purpose."""


class TemporaryError(CatalystError):
    """Retry later; `delay` is the suggested wait in seconds (None: caller's backoff)."""

    def __init__(self, message: str, *, delay: float | None = None) -> None:
        super().__init__(message)
        self.delay = delay


class Conflict(TemporaryError):
    """A write carried a stale resourceVersion or lost a create race."""


class RateLimited(TemporaryError):
    """The remote said to wait before the next request."""


class WriteDeferred(RateLimited):
    """A progress write was put off to keep the write budget for first and final statuses.

    Nothing was sent; the caller writes the newest state after `delay` instead.
    """


class PermanentError(CatalystError):
    """The same input will fail the same way; report it, do not retry."""


class NotFound(PermanentError):
    """The object does not exist."""


class Invalid(PermanentError):
    """The remote rejected the object as invalid."""


class ConfigError(PermanentError):
    """A setting or a Project/Environment spec is unusable as written."""
