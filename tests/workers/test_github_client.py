"""The GitHub App client: token cache and mint lock, 401 re-mint, rate limits, 5xx, timeouts;
and the flows' behaviour under those faults."""

from __future__ import annotations

import asyncio
import math

import httpx
import jwt as pyjwt
import pytest
import respx
from cryptography.hazmat.primitives import serialization
from redis.asyncio import Redis

from core.clients import github as github_client
from core.clients.github import GitHubApp
from core.clients.githubauth import AppCredentials, make_app_jwt, rate_limit_delay
from core.errors import RateLimited, TemporaryError
from core.jobs import PullRequestJob
from tests.support.fake_github import FakeGitHub, sha_of
from tests.support.redis_server import RedisServer
from tests.workers.conftest import INSTALLATION, REPO, FakeClock, Harness
from workers.admission import handle_pull_request
from workers.context import Context

HOUR = 3600.0


def test_app_jwt_is_rs256_backdated_and_short_lived(private_key: str) -> None:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    token = make_app_jwt(AppCredentials(7, private_key), now=1_000_000.0)
    public = load_pem_private_key(private_key.encode(), None).public_key()
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    claims = pyjwt.decode(
        token, pem, algorithms=["RS256"], options={"verify_exp": False, "verify_iat": False}
    )
    assert claims["iss"] == "7" and claims["iat"] == 1_000_000 - 60
    assert 0 < claims["exp"] - 1_000_000 <= 600


@pytest.mark.parametrize(
    ("status", "headers", "body", "expected"),
    [
        pytest.param(403, {"retry-after": "30"}, b"secondary rate limit", 30.0, id="retry-after"),
        pytest.param(429, {}, b"", 60.0, id="429-default"),
        pytest.param(403, {}, b"You have exceeded a secondary rate limit", 60.0, id="secondary"),
        pytest.param(
            403,
            {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1120"},
            b"",
            121.0,
            id="primary",
        ),
        pytest.param(403, {}, b"Resource not accessible by integration", None, id="permission"),
        pytest.param(500, {"retry-after": "5"}, b"", None, id="5xx"),
    ],
)
def test_rate_limit_delay(
    status: int, headers: dict[str, str], body: bytes, expected: float | None
) -> None:
    assert rate_limit_delay(status, headers, body, 1000.0) == expected


def _job(sha: str) -> PullRequestJob:
    return PullRequestJob(
        delivery_id="d",
        installation_id=INSTALLATION,
        repository=REPO,
        pr_number=7,
        action="opened",
        head_sha=sha,
    )


def opened(harness: Harness) -> None:
    harness.run(lambda ctx: handle_pull_request(ctx, _job(sha_of("A"))))


def test_token_cache_shared_across_workers_over_three_hours(
    harness: Harness, clock: FakeClock
) -> None:
    """1,000 tasks, 20 installations, 3 simulated hours: one mint per 55 minutes at most."""
    span = 3 * HOUR
    start = clock.now

    async def tasks(ctx: Context) -> None:
        for i in range(1000):
            clock.now = start + span * i / 1000
            # Each task builds its own App client, as separate worker processes do.
            app = GitHubApp(
                harness.credentials, http=ctx.github.api._client, redis=ctx.redis, clock=clock
            )
            await app.installation(100 + i % 20).permissions()

    harness.run(tasks)
    mints = harness.github.state.mints
    assert len(mints) == 20
    # Tokens last 1 h and are refreshed 5 minutes early, so 3 h needs ceil(180/55) = 4 windows.
    assert max(mints.values()) <= math.ceil(span / (HOUR - 300))
    assert sum(mints.values()) <= 20 * 4


def test_concurrent_tasks_mint_one_token_per_installation(harness: Harness) -> None:
    async def burst(ctx: Context) -> None:
        async def one() -> None:
            redis = Redis.from_url(harness.redis_url)
            try:
                app = GitHubApp(
                    harness.credentials,
                    http=ctx.github.api._client,
                    redis=redis,
                    clock=harness.clock,
                )
                await app.installation(5).permissions()
            finally:
                await redis.aclose()

        await asyncio.gather(*(one() for _ in range(30)))

    harness.run(burst)
    assert harness.github.state.mints == {5: 1}


def test_the_bot_login_is_asked_once_per_process_and_never_when_configured(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # every task builds its own App client: each comment update used to ask `GET /app` again
    monkeypatch.setattr(github_client, "_SLUGS", {})
    logins: list[str] = []

    async def tasks(ctx: Context) -> None:
        for slug in (None, None, None):
            app = GitHubApp(
                harness.credentials,
                http=ctx.github.api._client,
                redis=ctx.redis,
                clock=harness.clock,
                slug=slug,
            )
            logins.append(await app.bot_login())
        other = AppCredentials(harness.credentials.app_id + 1, harness.credentials.private_key)
        configured = GitHubApp(other, http=ctx.github.api._client, redis=ctx.redis, slug="given")
        logins.append(await configured.bot_login())

    harness.run(tasks)
    assert logins == ["catalyst-preview[bot]"] * 3 + ["given[bot]"]
    assert [r.path for r in harness.github.log if r.path == "/app"] == ["/app"]


def test_revoked_token_is_reminted_once(harness: Harness) -> None:
    harness.github.state.open_pull(REPO, 7, sha_of("A"))
    opened(harness)
    harness.github.revoke_tokens()
    harness.github.state.push_pull(REPO, 7, sha_of("B"))
    opened(harness)
    assert harness.github.state.mints[INSTALLATION] == 2


def test_secondary_limit_with_retry_after_reschedules_and_blocks_others(
    harness: Harness, clock: FakeClock
) -> None:
    harness.github.state.open_pull(REPO, 7, sha_of("A"))
    harness.github.fail(
        "POST",
        r"/comments$",
        403,
        headers={"retry-after": "30"},
        body={"message": "You have exceeded a secondary rate limit"},
    )
    with pytest.raises(RateLimited) as caught:
        opened(harness)
    assert caught.value.delay == 30.0
    served = len(harness.github.log)
    with pytest.raises(RateLimited):
        opened(harness)  # still blocked: no request reaches GitHub's write endpoints
    assert not [r for r in harness.github.log[served:] if r.method != "GET"]
    clock.advance(31)
    opened(harness)
    assert len(harness.github.state.comments_on(REPO, 7)) == 1


def test_secondary_limit_without_retry_after_waits_a_minute(harness: Harness) -> None:
    harness.github.state.open_pull(REPO, 7, sha_of("A"))
    harness.github.fail(
        "POST", r"/deployments$", 403, body={"message": "You have exceeded a secondary rate limit"}
    )
    with pytest.raises(RateLimited) as caught:
        opened(harness)
    assert caught.value.delay == 60.0


def test_primary_limit_exhausted_waits_until_reset(harness: Harness, clock: FakeClock) -> None:
    harness.github.state.open_pull(REPO, 7, sha_of("A"))
    reset = int(clock.now) + 300
    harness.github.fail(
        "GET",
        r"/pulls/7$",
        403,
        headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)},
    )
    with pytest.raises(RateLimited) as caught:
        opened(harness)
    assert caught.value.delay is not None and 300 <= caught.value.delay <= 302
    assert harness.environment("pr-7") is None


def test_5xx_then_success(harness: Harness) -> None:
    harness.github.state.open_pull(REPO, 7, sha_of("A"))
    harness.github.fail("GET", r"/pulls/7$", 502, times=2)
    for _ in range(2):
        with pytest.raises(TemporaryError):
            opened(harness)
    opened(harness)
    assert harness.environment("pr-7") is not None
    assert len(harness.github.state.deployments_of(REPO)) == 1


def test_create_deployment_timing_out_after_store_yields_one_deployment(
    harness: Harness,
) -> None:
    harness.github.state.open_pull(REPO, 7, sha_of("A"))
    harness.github.fail("POST", r"/deployments$", after_store=True)
    with pytest.raises(TemporaryError):
        opened(harness)
    opened(harness)
    opened(harness)
    [deployment] = harness.github.state.deployments_of(REPO)
    assert harness.github.state.states_of(deployment["id"]) == ["queued"]


def test_every_request_has_a_timeout(harness: Harness) -> None:
    harness.github.state.open_pull(REPO, 7, sha_of("A"))
    opened(harness)
    assert harness.github.log
    for request in harness.github.log:
        assert request.timeout is not None
        assert all(v is not None and v <= 10 for v in request.timeout.values())


def test_enterprise_server_base_url(redis_server: RedisServer, private_key: str) -> None:
    clock = FakeClock()
    fake = FakeGitHub(clock.time, base_url="https://ghe.example.com/api/v3")
    fake.state.open_pull(REPO, 7, sha_of("A"))

    async def fetch() -> str:
        redis = Redis.from_url(redis_server.url)
        try:
            async with httpx.AsyncClient() as http:
                app = GitHubApp(
                    AppCredentials(7, private_key),
                    http=http,
                    redis=redis,
                    base_url="https://ghe.example.com/api/v3/",
                    clock=clock,
                )
                return (await app.installation(INSTALLATION).get_pull(REPO, 7)).head_sha
        finally:
            await redis.aclose()

    with respx.mock(assert_all_called=False) as router:
        fake.mount(router)
        assert asyncio.run(fetch()) == sha_of("A")
    assert [r.path for r in fake.log] == [
        f"/app/installations/{INSTALLATION}/access_tokens",
        f"/repos/{REPO}/pulls/7",
    ]
