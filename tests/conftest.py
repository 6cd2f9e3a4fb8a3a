"""Shared pytest wiring: shared fakes and fixtures live in tests/support and tests/kubefake."""

from __future__ import annotations

import os

# A developer's running scripts/dev.sh leaves .catalyst-dev.env in the repository, which every
# catalyst-preview command reads: the suite's commands must not talk to that stack. Tests that
# run dev.sh point CATALYST_DEV_ENV at a file of their own.
os.environ["CATALYST_DEV_ENV"] = ""

pytest_plugins = [
    "tests.support.redis_server",
    "tests.kubefake.fixtures",
    "tests.support.control_plane",
]
