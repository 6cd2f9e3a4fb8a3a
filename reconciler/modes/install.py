"""Wiring: register the prebuilt, helm and docker-compose modes in the deploy-mode registry.

The helm and compose modes read project sources at exact commits, so they need the process's
`SourceFetcher`; the reconciler process calls `install_modes` once at start (docker needs none).
"""

from __future__ import annotations

from reconciler.modes import MODES
from reconciler.modes.compose import ComposeMode
from reconciler.modes.helm import HelmMode
from reconciler.modes.prebuilt import PrebuiltMode
from reconciler.sourcerefs import SourceFetcher


def install_modes(fetcher: SourceFetcher | None) -> None:
    """Register every mode (compose only when a fetcher is given: it cannot work without one)."""
    MODES["prebuilt"] = PrebuiltMode()
    MODES["helm"] = HelmMode(fetcher)
    if fetcher is None:
        MODES.pop("docker-compose", None)
    else:
        MODES["docker-compose"] = ComposeMode(fetcher)
