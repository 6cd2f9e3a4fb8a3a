"""Test support: the one way tests wait, on a condition and never on the clock alone.

`wait_for(what, check)` polls `check` until it returns something truthy and returns that; after
`timeout` it fails naming `what` and the last answer. Deadlines are generous (a loaded 2-core CI
machine), since only a broken condition ever reaches them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
WAIT_SECONDS = 60.0


def wait_for(
    what: str,
    check: Callable[[], T | None],
    timeout: float = WAIT_SECONDS,
    *,
    interval: float = 0.05,
) -> T:
    """Poll `check` until it returns something truthy; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def eventually(check: Callable[[], object], timeout: float = WAIT_SECONDS) -> None:
    """`wait_for` for a condition with no name worth printing."""
    wait_for("the condition", check, timeout, interval=0.02)
