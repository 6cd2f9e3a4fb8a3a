"""A build holds only what it needs (issue 13): a git token minted for its one repository with
`contents: read`, in a Secret owned by the Job, revoked with GitHub and deleted when the build
ends or is superseded, none for a public repository; a fork build never sees the team's registry
credential, and is refused with a clear reason when the platform configured no fork registry.

The tokens come from the real `GitHubAppTokens` against the fake GitHub, which scopes and
revokes tokens like GitHub does."""

from __future__ import annotations

import base64
import dataclasses
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx

from reconciler import manifests
from reconciler.tokens import GitHubAppTokens
from tests.kubefake import KubeFake
from tests.reconciler.support import (
    ENV_NS,
    SETTINGS,
    SHA1,
    SHA2,
    Rig,
    environment_obj,
    make_rig,
    seed,
)
from tests.support.fake_github import FakeGitHub
from tests.support.github import private_key_pem

FORK = {"name": "main", "commitSha": SHA1, "branch": "x", "prNumber": 1, "fork": True}
FORK_SECRET = "fork-push"
BUILD_SELECTOR = f"{manifests.LABEL_GIT_TOKEN}=true"


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub(time.time)
    with respx.mock(assert_all_called=False) as router:
        fake.mount(router)
        yield fake


def real_tokens() -> GitHubAppTokens:
    return GitHubAppTokens(
        app_id=1,
        private_key=private_key_pem(),
        api_url="https://api.github.com",
        client=httpx.Client(),
    )


def building_rig(kubefake: KubeFake, *, fork: bool, **settings: Any) -> Rig:
    seed(kubefake)
    kubefake.controllers.enable("deployments", "namespaces")  # builds run until "jobs" is on
    kubefake.put_object(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": FORK_SECRET, "namespace": "acme"},
            "type": "kubernetes.io/dockerconfigjson",
            "data": {".dockerconfigjson": "eyJmb3JrIjp0cnVlfQ=="},
        }
    )
    rig = make_rig(
        kubefake, settings=dataclasses.replace(SETTINGS, **settings), tokens=real_tokens()
    )
    kubefake.put_object(
        environment_obj(sources=[FORK] if fork else None) if fork else environment_obj()
    )
    return rig


def build_token(kubefake: KubeFake) -> tuple[dict[str, Any], str]:
    (secret,) = kubefake.list("secrets", ENV_NS, BUILD_SELECTOR)
    return secret, base64.b64decode(secret["data"]["GIT_PASSWORD"]).decode()


def as_token(token: str, method: str, path: str, **kwargs: Any) -> int:
    headers = {"Authorization": f"token {token}"}
    return httpx.request(
        method, f"https://api.github.com{path}", headers=headers, **kwargs
    ).status_code


def test_a_fork_builds_token_is_read_only_for_its_repository_and_revoked_after_the_build(
    kubefake: KubeFake, github: FakeGitHub
) -> None:
    rig = building_rig(kubefake, fork=True, fork_registry_secret=FORK_SECRET)
    rig.run_until(lambda: bool(kubefake.list("secrets", ENV_NS, BUILD_SELECTOR)))
    secret, token = build_token(kubefake)
    (job,) = kubefake.list("jobs", ENV_NS)
    assert secret["metadata"]["ownerReferences"][0]["uid"] == job["metadata"]["uid"]
    comment = {"json": {"body": "pwned"}}
    assert as_token(token, "POST", "/repos/acme/shop/issues/1/comments", **comment) == 403
    assert as_token(token, "GET", "/repos/acme/other/pulls") == 404
    kubefake.controllers.enable("jobs")
    rig.run_until(rig.phase_is("Ready"))
    assert token in github.state.revoked
    assert as_token(token, "GET", "/repos/acme/shop/git/ref/heads/main") == 401
    assert kubefake.list("secrets", ENV_NS, BUILD_SELECTOR) == []


def test_a_superseded_builds_token_is_revoked(kubefake: KubeFake, github: FakeGitHub) -> None:
    rig = building_rig(kubefake, fork=False)
    rig.run_until(lambda: bool(kubefake.list("secrets", ENV_NS, BUILD_SELECTOR)))
    _, first = build_token(kubefake)
    kubefake.put_object(environment_obj(SHA2))
    rig.run_until(lambda: first in github.state.revoked)
    _, second = build_token(kubefake)
    assert second != first and second not in github.state.revoked


def test_a_public_repository_builds_without_any_token(
    kubefake: KubeFake, github: FakeGitHub
) -> None:
    github.state.public_repos.add("acme/shop")
    rig = building_rig(kubefake, fork=False)
    rig.run_until(lambda: bool(kubefake.list("jobs", ENV_NS)))
    assert kubefake.list("secrets", ENV_NS, BUILD_SELECTOR) == []
    assert set(github.state.revoked) == set(github.state.token_scopes)  # minted only to learn


def pod_spec(kubefake: KubeFake) -> dict[str, Any]:
    (job,) = kubefake.list("jobs", ENV_NS)
    return dict(job["spec"]["template"]["spec"])


def test_no_team_registry_credential_is_reachable_from_a_fork_build(
    kubefake: KubeFake, github: FakeGitHub
) -> None:
    rig = building_rig(kubefake, fork=True, fork_registry_secret=FORK_SECRET)
    rig.run_until(lambda: bool(kubefake.list("jobs", ENV_NS)))
    spec = pod_spec(kubefake)
    secrets = {v["secret"]["secretName"] for v in spec.get("volumes") or [] if "secret" in v}
    assert secrets == {manifests.FORK_PUSH_SECRET}
    copied = kubefake.get("secrets", manifests.FORK_PUSH_SECRET, ENV_NS) or {}
    assert copied["data"] == {".dockerconfigjson": "eyJmb3JrIjp0cnVlfQ=="}
    (kaniko,) = spec["containers"]
    assert f"--destination=registry.local:5000/previews/{ENV_NS}/app:{SHA1}" in kaniko["args"]
    assert f"--cache-repo=registry.local:5000/previews/{ENV_NS}/cache" in kaniko["args"]


def test_a_fork_build_with_an_uncredentialed_registry_mounts_no_credential(
    kubefake: KubeFake, github: FakeGitHub
) -> None:
    rig = building_rig(kubefake, fork=True, fork_registry="registry.ci.svc:5000")
    rig.run_until(lambda: bool(kubefake.list("jobs", ENV_NS)))
    spec = pod_spec(kubefake)
    assert "volumes" not in spec and "volumeMounts" not in spec["containers"][0]


def test_a_fork_build_is_refused_when_no_fork_registry_is_configured(
    kubefake: KubeFake, github: FakeGitHub
) -> None:
    rig = building_rig(kubefake, fork=True)
    rig.run_until(rig.phase_is("Failed"))
    (built,) = [c for c in rig.status()["conditions"] if c["type"] == "Built"]
    assert built["reason"] == "ForkBuildNotConfigured"
    assert "CATALYST_FORK_REGISTRY_SECRET" in built["message"]
    assert kubefake.list("jobs", ENV_NS) == []
    assert github.state.token_scopes == {}


def test_a_failing_revocation_never_holds_up_the_preview(
    kubefake: KubeFake, github: FakeGitHub
) -> None:
    github.fail("DELETE", r"^/installation/token$", status=502, times=100)
    rig = building_rig(kubefake, fork=False)
    kubefake.controllers.enable("jobs")
    rig.run_until(rig.phase_is("Ready"))
    assert kubefake.list("secrets", ENV_NS, BUILD_SELECTOR) == []
