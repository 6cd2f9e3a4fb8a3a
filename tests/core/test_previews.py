"""core.previews: the one builder of a new Environment (the workers' and `render --pr`'s)."""

from __future__ import annotations

from core import naming
from core.model import EnvironmentSource, Project
from core.previews import new_environment

PROJECT = Project.model_validate(
    {
        "apiVersion": "catalyst.catalyst.dev/v1alpha1",
        "kind": "Project",
        "metadata": {"name": "shop", "namespace": "acme"},
        "spec": {
            "sources": [
                {"name": "app", "repositoryUrl": "https://github.com/acme/shop"},
                {"name": "api", "repositoryUrl": "https://github.com/acme/api", "branch": "dev"},
            ],
            "templates": {"development": {"type": "docker", "sourceRef": "app"}},
        },
    }
)


def test_a_pull_request_preview_is_labelled_and_placed_in_its_project_namespace() -> None:
    own = EnvironmentSource(name="app", commit_sha="a" * 40, branch="feature/x", pr_number=7)
    other = EnvironmentSource(name="api", commit_sha="b" * 40, branch="dev")
    env = new_environment(
        project=PROJECT,
        name="pr-7",
        type="development",
        source=own,
        repository="acme/shop",
        installation_id=42,
        others=[other],
    )
    assert env.metadata.namespace == naming.project_namespace("acme", "shop") == "acme-shop"
    assert env.metadata.labels == naming.standard_labels("acme", "shop", "pr-7")
    assert env.spec.sources == [own, other] and env.primary_source is own
    assert env.spec.github is not None
    assert (env.spec.github.repository, env.spec.github.installation_id) == ("acme/shop", 42)
    assert env.spec.project_ref.name == "shop" and env.spec.type == "development"


def test_a_tracked_branch_carries_its_branch_label() -> None:
    own = EnvironmentSource(name="app", commit_sha="c" * 40, branch="release/1.2")
    env = new_environment(
        project=PROJECT,
        name="staging",
        type="deployment",
        source=own,
        repository="acme/shop",
        installation_id=42,
    )
    assert (env.metadata.labels or {})[naming.LABEL_BRANCH] == "release-1.2"
