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


def test_the_app_and_its_installations_answer_as_github_does() -> None:
    private, public = generate_app_key()
    with FakeGitHubServer(app_public_key=public) as server:
        seed_demo(server.state)
        auth = {"Authorization": f"Bearer {app_jwt(private)}"}
        app = httpx.get(f"{server.url}/app", headers=auth)
        installs = httpx.get(f"{server.url}/app/installations", headers=auth)
        unsigned = httpx.get(f"{server.url}/app", headers={"Authorization": "token nope"})
    assert app.status_code == 200 and app.json()["slug"] == "catalyst-preview"
    assert "pull_request" in app.json()["events"]
    assert [(i["id"], i["account"]["login"]) for i in installs.json()] == [(42, "acme")]
    assert unsigned.status_code == 401


def test_a_seeded_comment_is_stored_as_github_stores_a_person_s_comment() -> None:
    with FakeGitHubServer() as server:
        seed_demo(server.state)
        url = f"{server.url}/_fake/comments/{DEMO_REPO}/1"
        made = httpx.post(url, json={"body": "/catalyst redeploy"})
        bad = httpx.post(url, json={"user": "octocat"})
        shown = httpx.get(f"{server.url}/_fake/state").json()
    comment = made.json()
    assert made.status_code == 201 and bad.status_code == 400
    assert comment["user"] == {"login": "octocat", "type": "User"} and comment["created_at"]
    assert [(c["id"], c["body"]) for c in shown["comments"]] == [
        (comment["id"], "/catalyst redeploy")
    ]
