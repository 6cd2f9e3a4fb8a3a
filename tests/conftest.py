"""Shared pytest wiring: shared fakes and fixtures live in tests/support and tests/kubefake."""

from __future__ import annotations

pytest_plugins = [
    "tests.support.redis_server",
    "tests.kubefake.fixtures",
    "tests.support.control_plane",
]
