"""Fixtures for the receiver tests: settings, a recording enqueuer, the app on real Redis."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr
from starlette.testclient import TestClient

from core.errors import TemporaryError
from core.settings import Settings
from tests.support.queue import RecordingEnqueuer
from tests.support.redis_server import RedisServer
from webhook.app import create_app
from webhook.receiver import Limits

SECRET = "It's a Secret to Everybody"


def make_settings(redis_url: str, secret: str = SECRET) -> Settings:
    """Settings for a test app (no .env, no environment needed beyond these)."""
    return Settings(webhook_secret=SecretStr(secret), redis_url=redis_url, _env_file=None)


def broker_down() -> TemporaryError:
    """What CeleryEnqueuer raises when the broker does not take a task."""
    return TemporaryError("broker unavailable: connection refused")


@pytest.fixture
def enqueuer() -> RecordingEnqueuer:
    """A fresh recording enqueuer."""
    return RecordingEnqueuer()


@pytest.fixture
def client(redis_server: RedisServer, enqueuer: RecordingEnqueuer) -> Iterator[TestClient]:
    """The receiver on the shared real Redis, with the recording enqueuer."""
    app = create_app(make_settings(redis_server.url), enqueuer=enqueuer, limits=Limits())
    with TestClient(app) as test_client:
        yield test_client
