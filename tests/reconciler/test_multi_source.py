"""Multi-source Projects in the pure planner: every source at the commit the Environment records
for it, and a source it records none for is `SourceMissing`, never another source's commit."""

from __future__ import annotations

import json
from typing import Any

import pytest

from core import conditions, naming
from core.model import BuildSpec, Environment, Project
from reconciler.actions import CreateBuild
from reconciler.builds import build_sha, plan_build, token_scope
from reconciler.context import Observed, build_context
from reconciler.modes import ModeContext
from reconciler.modes.common import SourceMissing, template_source
from reconciler.modes.helm import chart_identity
from reconciler.modes.install import deploy_modes
from tests.reconciler.support import SETTINGS, SHA1, SHA2, environment_obj, project_obj

CHARTS = {"name": "charts", "repositoryUrl": "https://github.com/acme/charts", "branch": "stable"}
WHY = "source 'charts': branch 'stable' of acme/charts was not found (deleted or renamed, ...)"


def context(*, recorded: bool, template: dict[str, Any] | None = None) -> ModeContext:
    """The sample pr-1 (source `main` at SHA1) of a Project with a second source `charts`,
    recorded at SHA2 or, when not, named in the workers' unresolved-sources annotation."""
    project = project_obj()
    project["spec"]["sources"].append(CHARTS)
    project["spec"]["templates"]["development"] = template or {
        "type": "helm",
        "sourceRef": "charts",
        "path": "chart",
        "builds": [{"name": "migrations", "sourceRef": "charts", "path": "db"}],
    }
    env = environment_obj()
    env["metadata"]["finalizers"] = [naming.FINALIZER]
    if recorded:
        env["spec"]["sources"].append({"name": "charts", "commitSha": SHA2, "branch": "stable"})
    else:
        notes = {naming.ANNOTATION_UNRESOLVED_SOURCES: json.dumps({"charts": WHY})}
        env["metadata"]["annotations"] = notes
    obs = Observed(
        environment=Environment.model_validate(env),
        project=Project.model_validate(project),
        settings=SETTINGS,
        modes=deploy_modes(None),
    )
    ctx, _ = build_context(obs)
    return ctx


def test_a_chart_in_another_source_is_read_at_that_sources_commit() -> None:
    ctx = context(recorded=True)
    source, recorded = template_source(ctx)
    assert (source.name, recorded.commit_sha) == ("charts", SHA2)
    assert chart_identity(ctx)["commit"] == SHA2
    assert ctx.commit_sha == SHA1  # the PR's own commit stays the Environment's target


def test_a_chart_source_without_a_commit_is_source_missing_with_the_workers_reason() -> None:
    ctx = context(recorded=False)
    with pytest.raises(SourceMissing) as caught:
        template_source(ctx)
    assert caught.value.reason == conditions.SOURCE_MISSING
    assert "'charts' has no commit" in str(caught.value) and WHY in str(caught.value)
    with pytest.raises(SourceMissing):
        chart_identity(ctx)  # never the PR's commit of another repository


def test_a_build_of_another_source_runs_at_its_commit_with_a_token_for_its_repository() -> None:
    ctx = context(recorded=True)
    build = BuildSpec(name="migrations", source_ref="charts", path="db")
    assert build_sha(ctx, build) == SHA2
    assert token_scope(ctx, build) == (42, "acme/charts")
    [create] = plan_build(ctx, Observed(ctx.environment, ctx.project, SETTINGS), build).actions
    assert isinstance(create, CreateBuild)
    assert (create.installation_id, create.repository) == (42, "acme/charts")
    job: Any = create.job
    assert job["metadata"]["name"] == naming.build_job_name("migrations", SHA2)
    own = BuildSpec(name="app", source_ref="main")
    assert token_scope(ctx, own) == (42, "acme/shop")


def test_a_build_of_a_source_without_a_commit_is_source_missing() -> None:
    ctx = context(recorded=False)
    build = BuildSpec(name="migrations", source_ref="charts", path="db")
    with pytest.raises(SourceMissing, match="branch 'stable' of acme/charts was not found"):
        build_sha(ctx, build)
