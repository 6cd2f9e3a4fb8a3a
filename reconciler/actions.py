"""Pure: the writes a plan asks for (one frozen type per kind of action) and the `Plan` itself."""

from __future__ import annotations

from dataclasses import dataclass

from core.model import EnvironmentStatus
from reconciler.modes import DeployMode, Manifest, ModeContext


@dataclass(frozen=True)
class AddFinalizer:
    """Put `catalyst.dev/finalizer` on the Environment."""


@dataclass(frozen=True)
class Apply:
    """Create `desired`, or merge-patch it over `live` when its fields drifted."""

    desired: Manifest
    live: Manifest | None


@dataclass(frozen=True)
class Delete:
    """Delete one object (NotFound is success)."""

    kind: str
    name: str
    namespace: str | None = None


@dataclass(frozen=True)
class RevokeBuildToken:
    """Revoke the git token of a build Job with GitHub, then delete its Secret."""

    job_name: str
    namespace: str


@dataclass(frozen=True)
class CreateBuild:
    """Mint a git token, store it in its Secret, then create the Kaniko Job."""

    job: Manifest
    installation_id: int | None
    repository: str | None


@dataclass(frozen=True)
class ModeApply:
    """Run the mode's imperative `apply` (e.g. helm upgrade)."""

    mode: DeployMode
    ctx: ModeContext


@dataclass(frozen=True)
class ModeTeardown:
    """Run the mode's imperative `teardown` (e.g. helm uninstall)."""

    mode: DeployMode
    ctx: ModeContext


Action = AddFinalizer | Apply | Delete | CreateBuild | RevokeBuildToken | ModeApply | ModeTeardown


@dataclass(frozen=True)
class Plan:
    """What to do now, the status to show, and when to look again (None: on the next event)."""

    actions: tuple[Action, ...]
    status: EnvironmentStatus
    requeue_after: float | None = None
    release: bool = False  # teardown finished: drop the finalizer once GitHub's last word is queued
