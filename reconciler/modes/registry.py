"""Pure: the deploy-mode registry (template type -> mode) and the modes that need no adapter.

A registry is passed in, never global: the reconciler process builds the full one once
(`reconciler.modes.install.deploy_modes`, where every template type is registered), hands it to
its `Reconciler`, which puts it on every `Observed`; the planner looks a type up with `mode_for`.
`pure_modes` (docker, prebuilt) is the default of an `Observed` built without one (unit tests).
"""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.modes import DeployMode
from reconciler.modes.docker import DockerMode
from reconciler.modes.prebuilt import PrebuiltMode

ModeRegistry = Mapping[str, DeployMode]


class UnknownMode(LookupError):
    """No deploy mode is registered for a template type."""


def pure_modes() -> dict[str, DeployMode]:
    """The modes that read no source and run no helm: docker and prebuilt."""
    return {"docker": DockerMode(), "prebuilt": PrebuiltMode()}


def mode_for(template_type: str, modes: ModeRegistry) -> DeployMode:
    """The mode registered for `template_type`; raises UnknownMode when there is none."""
    try:
        return modes[template_type]
    except KeyError:
        raise UnknownMode(f"template type {template_type!r} has no deploy mode yet") from None
