"""E2e: a PR's whole life through the real web, worker, reconciler and beat processes.

Signed deliveries go to the web process over HTTP; everything asserted is what a user would see:
the fake GitHub's deployments, statuses and PR comment, and the fake cluster's Environment and
namespaces. The Project has a Kaniko build, so the simulated Job controller runs real build Jobs.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import DOMAIN, REPO, Stack
from tests.support.fake_github import sha_of

TIMEOUT = 45.0


def phase(stack: Stack, number: int) -> str | None:
    env = stack.environment(number) or {}
    return (env.get("status") or {}).get("phase")


def live_sha(stack: Stack, number: int) -> str | None:
    env = stack.environment(number) or {}
    return (env.get("status") or {}).get("commitSha")


def deployment_for(stack: Stack, number: int, sha: str) -> dict[str, Any] | None:
    found = [d for d in stack.deployments(number) if d["sha"] == sha]
    return found[-1] if found else None


def shows_success(stack: Stack, number: int, sha: str) -> bool:
    deployment = deployment_for(stack, number, sha)
    return deployment is not None and deployment["states"][-1:] == ["success"]


def superseded_retired(stack: Stack, number: int, sha: str) -> bool:
    """`sha`'s deployment is inactive, or there is none (a status-less one counts as live)."""
    deployment = deployment_for(stack, number, sha)
    return deployment is None or deployment["states"][-1:] == ["inactive"]


def comment_mentions(stack: Stack, number: int, *words: str) -> bool:
    comments = stack.bot_comments(number)
    return len(comments) == 1 and all(w in comments[0] for w in words)


def all_inactive(stack: Stack, ids: list[int]) -> bool:
    """Every deployment in `ids` last set `inactive` (also once deleted with its environment)."""
    states = stack.github.read(lambda s: [s.states_of(i) for i in ids])
    return bool(ids) and all(found[-1:] == ["inactive"] for found in states)


def assert_ready_and_shown(stack: Stack, number: int, sha: str) -> None:
    """Environment Ready at `sha`; a success status with the URL; the one comment says so."""
    stack.eventually(
        lambda: phase(stack, number) == "Ready" and live_sha(stack, number) == sha,
        TIMEOUT,
        f"pr-{number} Ready at {sha[:7]}",
    )
    stack.eventually(lambda: shows_success(stack, number, sha), TIMEOUT, "a success status")
    deployment = deployment_for(stack, number, sha)
    assert deployment is not None
    url = stack.latest_status(deployment["id"])["environment_url"]
    assert url == f"https://{stack.env_namespace(number)}.{DOMAIN}/"
    stack.eventually(
        lambda: comment_mentions(stack, number, url, sha[:7]), TIMEOUT, "the comment edited"
    )


def assert_torn_down(stack: Stack, number: int) -> None:
    """Environment and namespace gone, every deployment inactive, the comment says torn down."""
    ids = [d["id"] for d in stack.deployments(number)]
    stack.eventually(lambda: stack.environment(number) is None, TIMEOUT, "Environment deleted")
    stack.eventually(lambda: not stack.namespace_exists(number), TIMEOUT, "namespace gone")
    stack.eventually(lambda: all_inactive(stack, ids), TIMEOUT, "deployments inactive")
    stack.eventually(
        lambda: comment_mentions(stack, number, "torn down"), TIMEOUT, "torn-down comment"
    )


def assert_no_redundant_writes(stack: Stack) -> None:
    """GitHub was never told what it already showed (a status twice in a row, a same comment)."""
    redundant = stack.github.read(lambda _: stack.github.github.redundant_writes())
    assert [(r.method, r.path, r.body) for r in redundant] == []


def test_opened_push_redeploy_and_closed(stack: Stack) -> None:
    first, second = sha_of("life-1"), sha_of("life-2")
    assert stack.open_pull(1, first).status_code == 202
    assert_ready_and_shown(stack, 1, first)
    builds = stack.kube.list("jobs", stack.env_namespace(1))
    assert [j["metadata"]["name"] for j in builds] == [f"build-web-{first[:7]}"]

    assert stack.push(1, first, second).status_code == 202
    assert_ready_and_shown(stack, 1, second)
    assert deployment_for(stack, 1, first) is not None
    # posted after the second's success: wait for it rather than read once
    stack.eventually(lambda: superseded_retired(stack, 1, first), TIMEOUT, "first inactive")

    nonce_before = (stack.environment(1) or {})["spec"].get("redeployNonce")
    assert stack.command(1, "/catalyst redeploy").status_code == 202
    stack.eventually(
        lambda: (stack.environment(1) or {})["spec"].get("redeployNonce") != nonce_before,
        TIMEOUT,
        "a redeploy request on the Environment",
    )
    stack.eventually(
        lambda: (
            (stack.environment(1) or {}).get("status", {}).get("redeployNonce")
            == (stack.environment(1) or {})["spec"].get("redeployNonce")
        ),
        TIMEOUT,
        "the redeploy rolled out",
    )
    assert_ready_and_shown(stack, 1, second)

    assert stack.close_pull(1, second).status_code == 202
    assert_torn_down(stack, 1)
    assert len(stack.bot_comments(1)) == 1
    # the App may administer the repository, so the inactive deployments went with the env
    assert stack.deployments(1) == []
    assert ("acme/shop", "shop/pr-1") in stack.github.read(lambda s: s.environments_deleted)
    assert_no_redundant_writes(stack)


def test_teardown_command(stack: Stack) -> None:
    sha = sha_of("teardown-1")
    assert stack.open_pull(2, sha).status_code == 202
    assert_ready_and_shown(stack, 2, sha)
    ids = [d["id"] for d in stack.deployments(2)]
    assert stack.command(2, "/catalyst teardown").status_code == 202
    # the preview is suspended until the next push or `/catalyst deploy`: the CR stays
    stack.eventually(lambda: phase(stack, 2) == "Suspended", TIMEOUT, "pr-2 Suspended")
    stack.eventually(lambda: not stack.namespace_exists(2), TIMEOUT, "namespace gone")
    stack.eventually(lambda: all_inactive(stack, ids), TIMEOUT, "deployments inactive")
    stack.eventually(lambda: comment_mentions(stack, 2, "Suspended"), TIMEOUT, "comment")
    assert (stack.environment(2) or {})["spec"]["suspended"] is True
    assert_no_redundant_writes(stack)


def replies_to(stack: Stack, number: int, author: str) -> list[str]:
    """Bodies of the bot's command replies on PR `number` (they start with `@author`)."""
    bodies = stack.github.read(lambda s: [c["body"] for c in s.comments_on(REPO, number)])
    return [b for b in bodies if b.startswith(f"@{author} ")]


def test_logs_command_replies_with_the_preview_pods_log_lines(
    stack: Stack, request: pytest.FixtureRequest
) -> None:
    """The worker reads the pods and logs with its own chart token (issue 16): no 403."""
    if not stack.cluster.real:
        pytest.skip("pod logs come from the real control plane's simulated node")
    plane = request.getfixturevalue("control_plane")
    sha = sha_of("logs-1")
    assert stack.open_pull(5, sha).status_code == 202
    assert_ready_and_shown(stack, 5, sha)
    line = f"GET /checkout 200 served by {stack.env_namespace(5)}"
    plane.append_log(line)
    assert stack.command(5, "/catalyst logs").status_code == 202
    stack.eventually(lambda: bool(replies_to(stack, 5, "octocat")), TIMEOUT, "the logs reply")
    [reply] = replies_to(stack, 5, "octocat")
    assert "pods can be read" not in reply and "may not read" not in reply
    assert "<summary>web-" in reply and line in reply
