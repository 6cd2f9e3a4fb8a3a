"""The reconciler's build-token minter reads GitHub's rate limits as the workers' client does."""

from __future__ import annotations

import time

import httpx
import pytest

from core.errors import PermanentError, RateLimited
from reconciler.tokens import GitHubAppTokens
from tests.support.github import private_key_pem


def tokens_answering(response: httpx.Response) -> GitHubAppTokens:
    client = httpx.Client(transport=httpx.MockTransport(lambda request: response))
    return GitHubAppTokens(
        app_id=7, private_key=private_key_pem(), api_url="https://api.test", client=client
    )


def test_primary_rate_limit_waits_until_the_reset() -> None:
    reset = int(time.time()) + 120
    headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)}
    minter = tokens_answering(httpx.Response(403, headers=headers, json={"message": "limit"}))
    with pytest.raises(RateLimited) as caught:
        minter.installation_token(42, "acme/shop")
    assert caught.value.delay is not None and 100.0 < caught.value.delay <= 121.0


def test_secondary_rate_limit_without_retry_after_waits_the_default() -> None:
    body = {"message": "You have exceeded a secondary rate limit"}
    minter = tokens_answering(httpx.Response(403, json=body))
    with pytest.raises(RateLimited) as caught:
        minter.installation_token(42, "acme/shop")
    assert caught.value.delay == 60.0


def test_a_plain_refusal_stays_permanent() -> None:
    minter = tokens_answering(httpx.Response(403, json={"message": "Resource not accessible"}))
    with pytest.raises(PermanentError):
        minter.installation_token(42, "acme/shop")
