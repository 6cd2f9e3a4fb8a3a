"""Shared pytest wiring: every shared fake and fixture lives under tests/support and tests/kubefake."""

from __future__ import annotations

pytest_plugins = ["tests.support.redis_server", "tests.kubefake.fixtures"]
