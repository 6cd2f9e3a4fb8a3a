"""Wiring: the one registry of deploy modes, every template type with the mode that deploys it.

The helm and compose modes read project sources at exact commits, so they need the process's
`SourceFetcher`; the reconciler process builds the registry once at start and passes it to its
`Reconciler` (`render` builds its own over local files). A new template type is registered here.
"""

from __future__ import annotations

from reconciler.modes import DeployMode
from reconciler.modes.compose import ComposeMode
from reconciler.modes.helm import HelmMode
from reconciler.modes.registry import pure_modes
from reconciler.sourcerefs import SourceFetcher


def deploy_modes(fetcher: SourceFetcher | None) -> dict[str, DeployMode]:
    """Every mode (compose only with a fetcher: it cannot work without one)."""
    modes = {**pure_modes(), "helm": HelmMode(fetcher)}
    if fetcher is not None:
        modes["docker-compose"] = ComposeMode(fetcher)
    return modes
