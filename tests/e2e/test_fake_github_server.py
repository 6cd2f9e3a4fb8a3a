"""The fake GitHub HTTP server: App JWTs checked against its key, state served and changed."""

from __future__ import annotations

import time

import httpx
import jwt as pyjwt

from tests.support.fake_github_server import (
    DEMO_REPO,
    DEMO_SHA_2,
    FakeGitHubServer,
    seed_demo,
)
from tests.support.github import generate_app_key


def app_jwt(private_key: str) -> str:
    now = int(time.time())
    return pyjwt.encode({"iat": now - 60, "exp": now + 540, "iss": "1"}, private_key, "RS256")


def test_only_jwts_signed_by_the_app_key_mint_tokens() -> None:
    private, public = generate_app_key()
    other, _ = generate_app_key()
    with FakeGitHubServer(app_public_key=public) as server:
        seed_demo(server.state)
        url = f"{server.url}/app/installations/42/access_tokens"
        forged = httpx.post(url, headers={"Authorization": f"Bearer {app_jwt(other)}"})
        minted = httpx.post(url, headers={"Authorization": f"Bearer {app_jwt(private)}"})
        assert forged.status_code == 401 and minted.status_code == 201
        token = minted.json()["token"]
        pull = httpx.get(
            f"{server.url}/repos/{DEMO_REPO}/pulls/1", headers={"Authorization": f"token {token}"}
        )
        assert pull.status_code == 200 and pull.json()["state"] == "open"
        assert server.read(lambda s: s.mints) == {42: 1}


def test_control_endpoints_push_close_and_show_state() -> None:
    with FakeGitHubServer() as server:
        seed_demo(server.state)
        pulls = f"{server.url}/_fake/pulls/{DEMO_REPO}/1"
        assert httpx.post(pulls, json={"sha": DEMO_SHA_2}).json()["head"]["sha"] == DEMO_SHA_2
        assert httpx.post(pulls, json={"state": "closed"}).json()["state"] == "closed"
        assert httpx.post(pulls, content=b"{nope").status_code == 400
        shown = httpx.get(f"{server.url}/_fake/state").json()
        assert [(p["number"], p["state"]) for p in shown["pulls"]] == [(1, "closed")]
