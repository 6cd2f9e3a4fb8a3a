"""Building a ModeContext for mode tests from the sample CRs (through the real planner)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from core import naming
from core.model import Environment, Project
from reconciler.context import Observed, build_context
from reconciler.modes import ModeContext
from reconciler.modes.install import deploy_modes
from tests.reconciler.support import DEFAULT, SETTINGS, SHA1, Names, environment_obj, project_obj

REPO_ROOT = Path(__file__).resolve().parents[2]
HELM_BIN = str(REPO_ROOT / ".tools" / "bin" / "helm")
CHARTS = REPO_ROOT / "tests" / "charts"


def project_with(template: dict[str, Any], *, names: Names = DEFAULT) -> dict[str, Any]:
    """The sample Project (of team `names`) with `template` as its development template."""
    project = project_obj(names=names)
    project["spec"]["templates"]["development"] = template
    return project


def context(
    template: dict[str, Any],
    *,
    sha: str = SHA1,
    images: dict[str, str] | None = None,
    uid: str | None = "uid-1",
    **env_spec: Any,
) -> ModeContext:
    """The ModeContext the planner builds for the sample Environment and this template."""
    env_raw = environment_obj(sha, **env_spec)
    env_raw["metadata"]["uid"] = uid
    env_raw["metadata"]["finalizers"] = [naming.FINALIZER]
    obs = Observed(
        environment=Environment.model_validate(env_raw),
        project=Project.model_validate(project_with(template)),
        settings=SETTINGS,
        modes=deploy_modes(None),
    )
    ctx, _ = build_context(obs)
    return dataclasses.replace(ctx, images=images or {})
