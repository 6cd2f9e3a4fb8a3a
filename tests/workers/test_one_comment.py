"""One bot comment per PR however many Projects preview it: a section per Project, each edited
in place by its own publishes, the others left as they are."""

from __future__ import annotations

from typing import Any

from core import naming
from tests.support.control_plane import ClusterScope
from tests.support.fake_github import sha_of
from tests.workers.conftest import REPO, Harness, project_object
from tests.workers.test_pull_requests import deliver
from workers.statuses import publish_status

OTHER = "docs"


def other_ns(harness: Harness) -> str:
    return naming.project_namespace(harness.team, OTHER)


def second_project(harness: Harness, cluster: ClusterScope) -> None:
    cluster.track(other_ns(harness))
    harness.kube.put_object(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": other_ns(harness)}}
    )
    other: dict[str, Any] = project_object(harness.team)
    other["metadata"]["name"] = OTHER
    harness.kube.put_object(other)


def bot_comments(harness: Harness) -> list[dict[str, Any]]:
    return [
        c
        for c in harness.github.state.comments_on(REPO, 7)
        if c["user"]["login"] == "catalyst-preview[bot]"
    ]


def test_two_projects_share_one_comment_with_a_section_each(
    harness: Harness, cluster: ClusterScope
) -> None:
    second_project(harness, cluster)
    a = sha_of("A")
    harness.github.state.open_pull(REPO, 7, a)
    deliver(harness, "opened", a)
    [comment] = bot_comments(harness)
    body = comment["body"]
    assert "### Catalyst preview: shop" in body and "### Catalyst preview: docs" in body
    assert body.count("<summary>Commands</summary>") == 1
    docs = harness.kube.get("environments", "pr-7", other_ns(harness))
    assert docs is not None
    docs["status"] = {"phase": "Ready", "targetCommitSha": a, "commitSha": a, "url": "https://d/"}
    harness.kube.put_object(docs)
    harness.run(lambda ctx: publish_status(ctx, other_ns(harness), "pr-7"))
    [comment] = bot_comments(harness)
    docs_part = comment["body"].split("### Catalyst preview: docs")[1]
    shop_part = comment["body"].split("### Catalyst preview: shop")[1].split("<!-- /")[0]
    assert "Ready" in docs_part and "https://d/" in docs_part
    assert "Pending" in shop_part and "https://d/" not in shop_part
    assert harness.github.redundant_writes() == []


def test_closing_marks_each_section_torn_down_in_the_one_comment(
    harness: Harness, cluster: ClusterScope
) -> None:
    second_project(harness, cluster)
    a = sha_of("A")
    harness.github.state.open_pull(REPO, 7, a)
    deliver(harness, "opened", a)
    harness.github.state.close_pull(REPO, 7)
    deliver(harness, "closed", a)
    [comment] = bot_comments(harness)
    assert comment["body"].count("This preview was torn down.") == 2
