"""A two-repository Project through the worker flows on the real control plane.

octo/shop (source `app`, the primary) and octo/api (source `api`, following `develop`): a PR
of either repository builds its own source at the PR head and the other at the head of that
source's branch as the fake GitHub has it; PR #5 of each gets an Environment of its own; a
missing branch is named on the Environment instead of being built at some other commit.
"""

from __future__ import annotations

import json
from typing import Any

from core import naming
from core.jobs import CommentJob, PullRequestJob
from core.model import Environment, EnvironmentSource, Project
from tests.support.fake_github import sha_of
from tests.workers.conftest import INSTALLATION, PROJECT, REPO, Harness, push_branch
from workers.admission import handle_pull_request
from workers.commands import handle_comment
from workers.resync import resync

API = "octo/api"


def two_repository_project(team: str, **previews: Any) -> dict[str, Any]:
    """The Project: app (REPO, main) is the primary source, api (API) follows `develop`."""
    builds = [
        {"name": "app", "sourceRef": "app", "path": "."},
        {"name": "api", "sourceRef": "api", "path": "."},
    ]
    return {
        "apiVersion": "catalyst.catalyst.dev/v1alpha1",
        "kind": "Project",
        "metadata": {"name": PROJECT, "namespace": team},
        "spec": {
            "sources": [
                {"name": "app", "repositoryUrl": f"https://github.com/{REPO}.git"},
                {"name": "api", "repositoryUrl": f"https://github.com/{API}", "branch": "develop"},
            ],
            "templates": {"development": {"type": "docker", "sourceRef": "app", "builds": builds}},
            "trackedBranches": [{"branch": "main", "environment": "staging"}],
            "previews": previews,
        },
    }


def onboard(harness: Harness, **previews: Any) -> Project:
    """Replace the harness's Project with the two-repository one."""
    raw = two_repository_project(harness.team, **previews)
    harness.kube.put_object(raw)
    harness.projects.refresh()
    return Project.model_validate(raw)


def open_pr(harness: Harness, repository: str, number: int, sha: str) -> None:
    harness.github.state.open_pull(repository, number, sha, branch=f"feat-{number}")
    deliver(harness, repository, number, "opened", sha)


def deliver(harness: Harness, repository: str, number: int, action: str, sha: str) -> None:
    job = PullRequestJob(
        delivery_id=f"d-{repository}-{number}-{action}-{sha[:4]}",
        installation_id=INSTALLATION,
        repository=repository,
        pr_number=number,
        action=action,
        head_sha=sha,
    )
    harness.run(lambda ctx: handle_pull_request(ctx, job))


def sources_of(env: Environment | None) -> list[tuple[str, str, str, int | None]]:
    assert env is not None
    return [(s.name, s.commit_sha, s.branch, s.pr_number) for s in env.spec.sources]


def unresolved(env: Environment | None) -> dict[str, str]:
    assert env is not None
    raw = (env.metadata.annotations or {}).get(naming.ANNOTATION_UNRESOLVED_SOURCES)
    return dict(json.loads(raw)) if raw else {}


def test_a_pr_builds_its_repository_at_the_pr_head_and_the_other_at_its_branch_head(
    harness: Harness,
) -> None:
    onboard(harness)
    head, develop = sha_of("shop-pr-5"), sha_of("api-develop-1")
    harness.github.state.branches[(API, "develop")] = develop
    open_pr(harness, REPO, 5, head)

    env = harness.environment("pr-5")
    assert sources_of(env) == [
        ("app", head, "feat-5", 5),
        ("api", develop, "develop", None),
    ]
    assert env is not None and env.spec.github is not None
    assert env.spec.github.repository == REPO and unresolved(env) == {}
    [deployment] = harness.github.state.deployments_of(REPO)
    assert deployment["sha"] == head  # GitHub hears about the PR's own commit


def test_pr_5_of_both_repositories_get_two_environments_torn_down_independently(
    harness: Harness,
) -> None:
    project = onboard(harness)
    main, develop = sha_of("shop-main"), sha_of("api-develop")
    harness.github.state.branches[(REPO, "main")] = main
    harness.github.state.branches[(API, "develop")] = develop
    shop_head, api_head = sha_of("shop-pr-5"), sha_of("api-pr-5")
    open_pr(harness, REPO, 5, shop_head)
    open_pr(harness, API, 5, api_head)

    api_name = naming.preview_environment_name(project, API, 5)
    assert api_name != "pr-5" and naming.is_dns1123_label(api_name)
    shop_env, api_env = harness.environment("pr-5"), harness.environment(api_name)
    assert sources_of(shop_env) == [
        ("app", shop_head, "feat-5", 5),
        ("api", develop, "develop", None),
    ]
    assert sources_of(api_env) == [
        ("api", api_head, "feat-5", 5),
        ("app", main, "main", None),
    ]
    assert api_env is not None and api_env.spec.github is not None
    assert api_env.spec.github.repository == API
    [api_deployment] = harness.github.state.deployments_of(API)
    assert api_deployment["environment"] == f"{PROJECT}/{api_name}"
    assert api_deployment["sha"] == api_head

    kept: Any = harness.env_obj("pr-5")
    harness.github.state.close_pull(API, 5)
    deliver(harness, API, 5, "closed", api_head)

    assert harness.environment(api_name) is None
    still: Any = harness.env_obj("pr-5")
    assert still["metadata"]["resourceVersion"] == kept["metadata"]["resourceVersion"]
    assert harness.github.state.deployments_of(API) == []
    assert len(harness.github.state.deployments_of(REPO)) == 1
    [api_comment] = harness.github.state.comments_on(API, 5)
    [shop_comment] = harness.github.state.comments_on(REPO, 5)
    assert "torn down" in api_comment["body"] and "torn down" not in shop_comment["body"]


def test_a_missing_branch_is_named_on_the_environment_and_never_built_elsewhere(
    harness: Harness,
) -> None:
    onboard(harness)
    head = sha_of("shop-pr-5")
    open_pr(harness, REPO, 5, head)  # octo/api has no `develop` branch (yet)

    env = harness.environment("pr-5")
    assert sources_of(env) == [("app", head, "feat-5", 5)]
    [(name, why)] = unresolved(env).items()
    assert name == "api" and "branch 'develop' of octo/api was not found" in why

    develop = sha_of("api-develop-1")
    harness.github.state.branches[(API, "develop")] = develop
    push_branch(harness, develop, repository=API, branch="develop")
    env = harness.environment("pr-5")
    assert sources_of(env)[1:] == [("api", develop, "develop", None)]
    assert unresolved(env) == {}


def test_a_push_to_the_followed_branch_moves_that_source_without_a_new_deployment(
    harness: Harness,
) -> None:
    onboard(harness)
    head, first, second = sha_of("shop-pr-5"), sha_of("api-1"), sha_of("api-2")
    harness.github.state.branches[(API, "develop")] = first
    open_pr(harness, REPO, 5, head)
    deployments = harness.github.state.deployments_of(REPO)

    harness.github.state.branches[(API, "develop")] = second
    push_branch(harness, second, repository=API, branch="develop")
    assert sources_of(harness.environment("pr-5")) == [
        ("app", head, "feat-5", 5),
        ("api", second, "develop", None),
    ]
    assert harness.github.state.deployments_of(REPO) == deployments

    del harness.github.state.branches[(API, "develop")]
    push_branch(harness, "0" * 40, repository=API, branch="develop")
    env = harness.environment("pr-5")
    assert sources_of(env) == [("app", head, "feat-5", 5)]
    assert "api" in unresolved(env)


def test_tracked_branches_follow_the_primary_source_and_resolve_the_others(
    harness: Harness,
) -> None:
    onboard(harness)
    main, develop, api_main = sha_of("shop-main"), sha_of("api-develop"), sha_of("api-main")
    harness.github.state.branches[(API, "develop")] = develop
    harness.github.state.branches[(API, "main")] = api_main
    push_branch(
        harness, api_main, repository=API, branch="main"
    )  # octo/api's own `main` is not the tracked branch
    assert harness.environment("staging") is None

    harness.github.state.branches[(REPO, "main")] = main
    push_branch(harness, main, repository=REPO, branch="main")
    staging = harness.environment("staging")
    assert sources_of(staging) == [("app", main, "main", None), ("api", develop, "develop", None)]
    assert staging is not None and staging.spec.type == "deployment"
    assert [d["sha"] for d in harness.github.state.deployments_of(REPO, "staging")] == [main]
    assert harness.github.state.deployments_of(API) == []


def test_resync_catches_up_with_a_push_whose_webhook_was_lost(harness: Harness) -> None:
    onboard(harness)
    head, first, second = sha_of("shop-pr-5"), sha_of("api-1"), sha_of("api-2")
    harness.github.state.repo_installation[REPO] = INSTALLATION
    harness.github.state.repo_installation[API] = INSTALLATION
    harness.github.state.branches[(API, "develop")] = first
    open_pr(harness, REPO, 5, head)

    harness.github.state.branches[(API, "develop")] = second  # no push delivered
    harness.run(resync)
    env = harness.environment("pr-5")
    assert env is not None and env.spec.sources[1] == EnvironmentSource(
        name="api", commit_sha=second, branch="develop"
    )
    assert harness.environment("staging") is None  # octo/shop has no `main` here


def test_the_capacity_queue_tells_pr_5_of_both_repositories_apart(harness: Harness) -> None:
    project = onboard(harness, maxEnvironments=1)
    harness.github.state.repo_installation[API] = INSTALLATION
    harness.github.state.branches[(REPO, "main")] = sha_of("shop-main")
    harness.github.state.branches[(API, "develop")] = sha_of("api-develop")
    shop_head, api_head = sha_of("shop-pr-5"), sha_of("api-pr-5")
    open_pr(harness, REPO, 5, shop_head)
    open_pr(harness, API, 5, api_head)  # the one slot is taken: it waits
    api_name = naming.preview_environment_name(project, API, 5)
    assert harness.environment("pr-5") is not None and harness.environment(api_name) is None
    [waiting] = harness.github.state.comments_on(API, 5)
    assert "Waiting for a free preview slot" in waiting["body"]

    harness.github.state.close_pull(REPO, 5)
    deliver(harness, REPO, 5, "closed", shop_head)  # frees the slot for octo/api's PR #5
    assert harness.environment("pr-5") is None
    admitted = harness.environment(api_name)
    assert sources_of(admitted)[0] == ("api", api_head, "feat-5", 5)


def test_a_command_on_the_other_repositorys_pr_acts_on_its_own_preview(harness: Harness) -> None:
    project = onboard(harness)
    harness.github.state.branches[(REPO, "main")] = sha_of("shop-main")
    harness.github.state.branches[(API, "develop")] = sha_of("api-develop")
    open_pr(harness, REPO, 5, sha_of("shop-pr-5"))
    open_pr(harness, API, 5, sha_of("api-pr-5"))
    harness.github.state.collaborators[(API, "alice")] = "write"
    job = CommentJob(
        delivery_id="c-1",
        installation_id=INSTALLATION,
        repository=API,
        pr_number=5,
        comment_id=4242,
        author="alice",
        author_type="User",
        body="/catalyst teardown",
    )
    harness.run(lambda ctx: handle_comment(ctx, job, app_slug="catalyst-preview"))
    api_env = harness.environment(naming.preview_environment_name(project, API, 5))
    shop_env = harness.environment("pr-5")
    assert api_env is not None and api_env.spec.suspended is True
    assert shop_env is not None and shop_env.spec.suspended is False


def test_a_second_source_of_the_prs_own_repository_builds_at_its_branch_head(
    harness: Harness,
) -> None:
    raw = two_repository_project(harness.team)
    raw["spec"]["sources"][1] = {
        "name": "docs",
        "repositoryUrl": f"https://github.com/{REPO}",
        "branch": "gh-pages",
    }
    raw["spec"]["templates"]["development"]["builds"][1]["sourceRef"] = "docs"
    harness.kube.put_object(raw)
    harness.github.state.repo_installation[REPO] = INSTALLATION
    pages, head = sha_of("gh-pages"), sha_of("shop-pr-5")
    harness.github.state.branches[(REPO, "gh-pages")] = pages
    open_pr(harness, REPO, 5, head)
    harness.run(resync)
    harness.run(resync)
    assert sources_of(harness.environment("pr-5")) == [
        ("app", head, "feat-5", 5),
        ("docs", pages, "gh-pages", None),
    ]
